/* libFuzzer target: the checks applied to every privsep message
 * (firmware/msg.c), as the parent applies them to a child's. */
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kt_msg m;
	uint32_t allowed;

	if (size < 1 || size > sizeof(struct kt_msg_hdr) + KT_MSG_MAX_PAYLOAD + 1)
		return 0;
	/* First byte picks the channel's mask and whether an fd came along. */
	allowed = data[0] & 0x80 ? ~0u : KT_MSG_BIT(KT_MSG_HELLO) |
		  KT_MSG_BIT(KT_MSG_LOG) | KT_MSG_BIT(KT_MSG_PONG);
	kt_msg_check(data + 1, size - 1, data[0] & 1, allowed, &m);
	return 0;
}
