/* libFuzzer target: what the engine reads from the nflog socket
 * (firmware/nflog.c parses, firmware/edeny.c names, counts and logs). */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edeny.h"
#include "log.h"

static void table(void)
{
	struct kt_msg_deny_segment m;

	for (uint32_t i = 0; i < 2; i++) {
		memset(&m, 0, sizeof(m));
		m.index = i;
		m.count = 2;
		m.policy_generation = 1;
		memcpy(m.name, i ? "dc-lgwan" : "lgwan", i ? 9 : 6);
		m.n_prefixes = 2;
		m.prefixes[0].family = AF_INET;
		m.prefixes[0].len = 24;
		m.prefixes[0].addr[0] = 10;
		m.prefixes[0].addr[2] = (uint8_t)(i + 1);
		m.prefixes[1].family = AF_INET6;
		m.prefixes[1].len = 64;
		m.prefixes[1].addr[0] = 0x20;
		m.prefixes[1].addr[1] = 0x01;
		m.prefixes[1].addr[7] = (uint8_t)i;
		edeny_segment(&m);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Netlink messages are 4-byte aligned in the kernel's buffers. */
	static uint32_t buf[16384 / 4];
	static int64_t now = 1000;
	static bool init;

	if (!init) {
		kt_log_init("fuzz", 0, 16);
		edeny_init(NULL, NULL);
		table();
		init = true;
	}
	if (size > sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	edeny_input(buf, size, now++);
	return 0;
}
