/* BFD on the engine's paths (firmware/ebfd.c): packets are given to the
 * session of the peer they come from, the others are counted; state
 * changes are reported with the device and peer; the once-a-second
 * probes make the path's round-trip window, lost ones included. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ebfd.h"
#include "suite.h"
#include "unit.h"

static struct kt_loop loop;
static uint64_t clock_ms;
static struct kt_msg_bfd_state reports[16];
static unsigned n_reports;

static uint64_t fake_clock(void)
{
	return clock_ms;
}

static void report(struct kt_msg_bfd_state *m)
{
	if (n_reports < ARRAY_SIZE(reports))
		reports[n_reports] = *m;
	n_reports++;
}

static void advance(uint64_t ms)
{
	clock_ms += ms;
	kt_loop_run_timers(&loop);
}

/* A control packet from peer `discr` in `state` to our session. */
static size_t pkt(uint8_t *p, uint32_t discr, uint32_t your, uint8_t state,
		  uint8_t flags)
{
	memset(p, 0, 24);
	p[0] = 0x20;
	p[1] = (uint8_t)(state << 6 | flags);
	p[2] = 3;
	p[3] = 24;
	p[4] = (uint8_t)(discr >> 24);
	p[5] = (uint8_t)(discr >> 16);
	p[6] = (uint8_t)(discr >> 8);
	p[7] = (uint8_t)discr;
	p[8] = (uint8_t)(your >> 24);
	p[9] = (uint8_t)(your >> 16);
	p[10] = (uint8_t)(your >> 8);
	p[11] = (uint8_t)your;
	p[14] = 0xc3;		/* 50 ms */
	p[15] = 0x50;
	p[18] = 0xc3;
	p[19] = 0x50;
	return 24;
}

struct fixture {
	struct ebfd_dev b;
	struct kt_addr peers[3];
	int sv[2];
};

static int setup(void **state)
{
	static struct fixture f;
	static const struct kt_bfd_config cfg = {
		.desired_min_tx_us = 50000, .required_min_rx_us = 50000, .detect_mult = 3,
	};
	const char *addrs[] = { "10.255.0.1", "10.255.0.2", "10.255.0.3" };

	memset(&f, 0, sizeof(f));
	n_reports = 0;
	assert_int_equal(kt_loop_init(&loop), 0);
	clock_ms = 5000000;
	loop.clock = fake_clock;
	loop.now_ms = clock_ms;
	assert_int_equal(kt_random(NULL, 0), 0);
	for (int i = 0; i < 3; i++)
		assert_true(kt_addr_parse(addrs[i], &f.peers[i]));
	/* Sends fail on a datagram socketpair for AF_INET: counted. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, f.sv), 0);
	f.b.rx_fd = f.sv[0];
	f.b.tx_fd = f.sv[0];
	ebfd_init(report);
	assert_int_equal(ebfd_start(&f.b, &loop, 7, &cfg, f.peers, 3), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ebfd_stop(&f->b);
	close(f->sv[0]);
	close(f->sv[1]);
	kt_loop_uninit(&loop);
	return 0;
}

static void test_demux_and_report(void **state)
{
	struct fixture *f = *state;
	struct kt_addr stranger;
	uint8_t p[24];
	uint32_t ours = f->b.paths[1].s.local_discr;

	assert_int_equal(f->b.n_paths, 3);
	/* Every session sent its first packet; the socket refused each. */
	assert_int_equal(f->b.send_errors, 3);
	assert_true(kt_addr_parse("10.255.0.9", &stranger));
	ebfd_input(&f->b, p, pkt(p, 0xabc, 0, KT_BFD_DOWN, 0), &stranger, 255);
	assert_int_equal(f->b.foreign, 1);
	/* Peer 1 says Down: its session (only) goes Init, reported. */
	ebfd_input(&f->b, p, pkt(p, 0xabc, 0, KT_BFD_DOWN, 0), &f->peers[1], 255);
	assert_int_equal(f->b.paths[1].s.session_state, KT_BFD_INIT);
	assert_int_equal(f->b.paths[0].s.session_state, KT_BFD_DOWN);
	assert_int_equal(f->b.paths[2].s.session_state, KT_BFD_DOWN);
	assert_int_equal(n_reports, 1);
	assert_int_equal(reports[0].device, 7);
	assert_int_equal(reports[0].peer, 1);
	assert_int_equal(reports[0].old_state, KT_BFD_DOWN);
	assert_int_equal(reports[0].new_state, KT_BFD_INIT);
	/* Then Up, and a packet for another session of ours is refused. */
	ebfd_input(&f->b, p, pkt(p, 0xabc, ours, KT_BFD_UP, 0), &f->peers[1], 255);
	assert_int_equal(f->b.paths[1].s.session_state, KT_BFD_UP);
	assert_int_equal(n_reports, 2);
	ebfd_input(&f->b, p, pkt(p, 0xabc, ours + 1, KT_BFD_UP, 0), &f->peers[1], 255);
	assert_int_equal(f->b.paths[1].s.stats.rx_bad[KT_BFD_BAD_YOUR_DISCR], 1);
	/* The peer signals down, with its reason: reported with it. */
	pkt(p, 0xabc, ours, KT_BFD_DOWN, 0);
	p[0] |= KT_BFD_DIAG_PATH_DOWN;
	ebfd_input(&f->b, p, 24, &f->peers[1], 255);
	assert_int_equal(n_reports, 3);
	assert_int_equal(reports[2].new_state, KT_BFD_DOWN);
	assert_int_equal(reports[2].diag, KT_BFD_DIAG_NEIGHBOR_DOWN);
	assert_int_equal(reports[2].remote_diag, KT_BFD_DIAG_PATH_DOWN);
}

static void test_probes_and_quality(void **state)
{
	struct fixture *f = *state;
	struct kt_msg_tun_stats st;
	uint8_t p[24];
	uint32_t ours = f->b.paths[0].s.local_discr;

	ebfd_input(&f->b, p, pkt(p, 0x55, 0, KT_BFD_DOWN, 0), &f->peers[0], 255);
	ebfd_input(&f->b, p, pkt(p, 0x55, ours, KT_BFD_UP, 0), &f->peers[0], 255);
	assert_int_equal(f->b.paths[0].s.session_state, KT_BFD_UP);
	/* The Up transition polled (timers changed); its Final ends it. */
	ebfd_input(&f->b, p, pkt(p, 0x55, ours, KT_BFD_UP, KT_BFD_F_FINAL),
		   &f->peers[0], 255);
	memset(&st, 0, sizeof(st));
	ebfd_fill(&f->b, 0, &st);
	assert_int_equal(st.bfd_state, KT_BFD_UP);
	assert_int_equal(st.rtt_samples, 1);
	assert_int_equal(st.probes_lost, 0);
	/* Two probes go unanswered, the third is answered. */
	ebfd_tick(&f->b);
	assert_true(f->b.paths[0].probing);
	ebfd_tick(&f->b);
	ebfd_tick(&f->b);
	ebfd_input(&f->b, p, pkt(p, 0x55, ours, KT_BFD_UP, KT_BFD_F_FINAL),
		   &f->peers[0], 255);
	memset(&st, 0, sizeof(st));
	ebfd_fill(&f->b, 0, &st);
	assert_int_equal(st.rtt_samples, 2);
	assert_int_equal(st.probes_lost, 2);
	assert_true(st.rtt_min_us <= st.rtt_avg_us && st.rtt_avg_us <= st.rtt_max_us);
	assert_int_equal(st.bfd_detect_us, 150000);
	/* Paths that are not Up are not probed; an unknown peer has no BFD. */
	assert_false(f->b.paths[2].probing);
	memset(&st, 0, sizeof(st));
	ebfd_fill(&f->b, 9, &st);
	assert_int_equal(st.bfd_state, 0xff);
	/* The window keeps the last EBFD_WINDOW probes only. */
	for (int i = 0; i < EBFD_WINDOW + 5; i++)
		ebfd_tick(&f->b);
	memset(&st, 0, sizeof(st));
	ebfd_fill(&f->b, 0, &st);
	assert_int_equal(st.rtt_samples + st.probes_lost, EBFD_WINDOW);
	advance(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_demux_and_report, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probes_and_quality, setup, teardown),
	};

	return cmocka_run_group_tests_name("ebfd", tests, NULL, NULL);
}
