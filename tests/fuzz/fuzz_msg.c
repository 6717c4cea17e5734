/* libFuzzer target: the checks applied to every privsep message
 * (firmware/msg.c), as the parent applies them to a child's; and what
 * passes as tunnel counters goes on to the parent's checks of them
 * (tunnels_stats_batch, firmware/tunnels.c) against a small set. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "log.h"
#include "msg.h"
#include "tunnels.h"

/* Two devices: a site path with one peer, a hub line with three. */
static struct tunnels *set(void)
{
	static struct tunnels t;
	static struct kt_msg_tun_stats stats[4];
	static uint64_t ms[4];

	if (!t.n_dev) {
		kt_log_init("fuzz", 0, 0);
		t.generation = 3;
		t.n_dev = 2;
		t.dev[0].n_peers = 1;
		t.dev[0].stats = &stats[0];
		t.dev[0].stats_ms = &ms[0];
		t.dev[1].n_peers = 3;
		t.dev[1].stats = &stats[1];
		t.dev[1].stats_ms = &ms[1];
	}
	return &t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kt_msg m;
	uint32_t allowed;

	if (size < 1 || size > sizeof(struct kt_msg_hdr) + KT_MSG_MAX_PAYLOAD + 1)
		return 0;
	/* First byte picks the channel's mask and whether an fd came along. */
	allowed = data[0] & 0x80 ? ~0u : KT_MSG_BIT(KT_MSG_HELLO) |
		  KT_MSG_BIT(KT_MSG_LOG) | KT_MSG_BIT(KT_MSG_PONG) |
		  KT_MSG_BIT(KT_MSG_TUN_STATS);
	if (kt_msg_check(data + 1, size - 1, data[0] & 1, allowed, &m) == 0 &&
	    m.hdr.type == KT_MSG_TUN_STATS)
		tunnels_stats_batch(set(), (const void *)m.data, 1);
	return 0;
}
