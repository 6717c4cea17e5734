/* libFuzzer target: rtnetlink link notifications as the port driver's
 * monitor socket receives them (drivers/sys-linux.c). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sys.h"

static void on_link(void *arg, const struct sys_link *l, bool removed)
{
	/* Touch every field, so a half-filled result shows under ASan. */
	size_t *sum = arg;

	*sum += (size_t)l->ifindex + l->admin_up + l->carrier + l->mtu + removed +
		strlen(l->name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Netlink messages are 4-byte aligned in the kernel's buffers. */
	static uint32_t buf[32768 / 4];
	size_t sum = 0;

	if (size > sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	sys_linux_parse_events(buf, size, on_link, &sum);
	return 0;
}
