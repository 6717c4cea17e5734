/* libFuzzer target: BFD control packets as a session receives them
 * (netstack/bfd.c: the parser, the authentication checks, the state
 * machine and the timers they arm).
 *
 * Input: one byte choosing the session's authentication (none, simple,
 * keyed or meticulous SHA1), then records of [length byte][TTL byte]
 * [packet], each followed by 0-255 ms of fake time. Every input runs on
 * a fresh session, so a crash reproduces from its input alone. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bfd.h"
#include "loop.h"

static uint64_t clock_ms;

static uint64_t fake_clock(void)
{
	return clock_ms;
}

static void on_send(void *arg, const uint8_t *pkt, size_t len)
{
	struct kt_bfd_packet p;

	/* What the session sends must parse. */
	(void)arg;
	if (len > KT_BFD_MAX_LEN || kt_bfd_parse(pkt, len, &p))
		abort();
}

static void on_state(void *arg, struct kt_bfd_session *s, uint8_t old,
		     uint8_t new, uint8_t diag)
{
	(void)arg;
	(void)s;
	if (old > KT_BFD_UP || new > KT_BFD_UP || old == new ||
	    diag >= KT_BFD_DIAG_COUNT)
		abort();
}

static const struct kt_bfd_ops ops = { .send = on_send, .state = on_state };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t auth[] = { KT_BFD_AUTH_NONE, KT_BFD_AUTH_SIMPLE,
					KT_BFD_AUTH_KEYED_SHA1,
					KT_BFD_AUTH_METICULOUS_SHA1 };
	struct kt_bfd_config cfg = {
		.desired_min_tx_us = 50000, .required_min_rx_us = 50000,
		.detect_mult = 3,
		.auth = { 0, 1, 6, { 'f', 'u', 'z', 'z', 'k', 'y' } },
	};
	struct kt_bfd_session s;
	struct kt_loop loop;
	size_t off = 1;

	if (size < 1)
		return 0;
	cfg.auth.type = auth[data[0] & 3];
	if (kt_loop_init(&loop))
		abort();
	clock_ms = 1000;
	loop.clock = fake_clock;
	loop.now_ms = clock_ms;
	if (kt_bfd_init(&s, &loop, &cfg, 0x01020304, 7, &ops, NULL))
		abort();
	while (off + 2 <= size) {
		size_t len = data[off];
		unsigned ttl = data[off + 1];

		off += 2;
		if (len > size - off)
			len = size - off;
		kt_bfd_receive(&s, data + off, len, ttl);
		off += len;
		if (s.session_state > KT_BFD_UP)
			abort();
		if (off < size) {
			clock_ms += data[off++];
			kt_loop_run_timers(&loop);
		}
	}
	kt_bfd_uninit(&s);
	kt_loop_uninit(&loop);
	return 0;
}
