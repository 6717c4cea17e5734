/* BFD sessions (netstack/bfd.c): the parser against a table of bad
 * packets, build/parse round trips, and two sessions joined by an
 * in-memory wire with a delay, under a fake clock: the three-way
 * handshake, timer negotiation and poll sequences, detection, slow
 * transmit while down, jitter bounds, authentication and its replay
 * window. */
#include <stdbool.h>
#include <string.h>

#include "bfd.h"
#include "loop.h"
#include "unit.h"

static struct kt_loop loop;
static uint64_t clock_ms;

static uint64_t fake_clock(void)
{
	return clock_ms;
}

#define WIRE_MAX 256

struct side;

static struct {
	struct side *to;
	uint64_t due;
	uint8_t pkt[KT_BFD_MAX_LEN];
	size_t len;
} wire[WIRE_MAX];
static size_t wire_len;

struct side {
	struct kt_bfd_session s;
	struct side *peer;
	bool cut;			/* what it sends is lost */
	bool drop_finals;		/* its Finals are lost */
	unsigned ttl;			/* the TTL its packets arrive with */
	uint64_t delay_ms;		/* one way, to the peer */
	unsigned sent, sent_poll, sent_final;
	uint64_t last_sent, min_gap, max_gap;
	unsigned changes;
	uint8_t last_old, last_new, last_diag;
	uint32_t rtt_us;
	unsigned rtts;
	uint8_t last_pkt[KT_BFD_MAX_LEN];
	size_t last_len;
};

static struct side A, B;

static void on_send(void *arg, const uint8_t *pkt, size_t len)
{
	struct side *me = arg;

	assert_true(len <= KT_BFD_MAX_LEN);
	me->sent++;
	if (pkt[1] & KT_BFD_F_POLL)
		me->sent_poll++;
	if (pkt[1] & KT_BFD_F_FINAL)
		me->sent_final++;
	if (me->last_sent) {
		uint64_t gap = clock_ms - me->last_sent;

		if (!me->min_gap || gap < me->min_gap)
			me->min_gap = gap;
		if (gap > me->max_gap)
			me->max_gap = gap;
	}
	me->last_sent = clock_ms;
	memcpy(me->last_pkt, pkt, len);
	me->last_len = len;
	if (me->cut || ((pkt[1] & KT_BFD_F_FINAL) && me->drop_finals))
		return;
	assert_true(wire_len < WIRE_MAX);
	wire[wire_len].to = me->peer;
	wire[wire_len].due = clock_ms + me->delay_ms;
	memcpy(wire[wire_len].pkt, pkt, len);
	wire[wire_len].len = len;
	wire_len++;
}

static void on_state(void *arg, struct kt_bfd_session *s, uint8_t old,
		     uint8_t new, uint8_t diag)
{
	struct side *me = arg;

	assert_ptr_equal(&me->s, s);
	me->changes++;
	me->last_old = old;
	me->last_new = new;
	me->last_diag = diag;
}

static void on_rtt(void *arg, struct kt_bfd_session *s, uint32_t rtt_us)
{
	struct side *me = arg;

	me->rtt_us = rtt_us;
	me->rtts++;
}

static const struct kt_bfd_ops ops = { .send = on_send, .state = on_state, .rtt = on_rtt };

/* Delivers what is due, in order. */
static void pump(void)
{
	size_t i = 0;

	while (i < wire_len) {
		if (wire[i].due > clock_ms) {
			i++;
			continue;
		}
		struct side *to = wire[i].to;
		uint8_t pkt[KT_BFD_MAX_LEN];
		size_t len = wire[i].len;

		memcpy(pkt, wire[i].pkt, len);
		memmove(&wire[i], &wire[i + 1], (wire_len - i - 1) * sizeof(wire[0]));
		wire_len--;
		kt_bfd_receive(&to->s, pkt, len, to->peer->ttl);
	}
}

static void advance(uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t++) {
		clock_ms++;
		kt_loop_run_timers(&loop);
		pump();
	}
}

/* Advances until both are Up, at most ms; the time it took. */
static uint64_t until_up(uint64_t ms)
{
	uint64_t t;

	for (t = 0; t < ms; t++) {
		if (A.s.session_state == KT_BFD_UP && B.s.session_state == KT_BFD_UP)
			return t;
		advance(1);
	}
	return t;
}

static const struct kt_bfd_config fast = {
	.desired_min_tx_us = 50000, .required_min_rx_us = 50000, .detect_mult = 3,
};

static void start(struct side *me, const struct kt_bfd_config *cfg, uint32_t discr)
{
	assert_int_equal(kt_bfd_init(&me->s, &loop, cfg, discr, discr * 2654435761u,
				     &ops, me), 0);
}

static void setup_pair(const struct kt_bfd_config *ca, const struct kt_bfd_config *cb)
{
	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	wire_len = 0;
	A.peer = &B;
	B.peer = &A;
	A.ttl = B.ttl = 255;
	A.delay_ms = B.delay_ms = 2;
	start(&A, ca, 0x11111111);
	start(&B, cb, 0x22222222);
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(kt_loop_init(&loop), 0);
	clock_ms = 1000000;
	loop.clock = fake_clock;
	loop.now_ms = clock_ms;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	kt_bfd_uninit(&A.s);
	kt_bfd_uninit(&B.s);
	kt_loop_uninit(&loop);
	return 0;
}

/* --- the parser --- */

static size_t good(uint8_t *p)
{
	static const uint8_t pkt[24] = {
		0x20, 0xc0, 3, 24,		/* v1, Up, mult 3, length 24 */
		0, 0, 0, 1, 0, 0, 0, 2,		/* my 1, your 2 */
		0, 0, 0xc3, 0x50, 0, 0, 0xc3, 0x50, 0, 0, 0, 0,	/* 50 ms, 50 ms */
	};

	memset(p, 0, 64);
	memcpy(p, pkt, sizeof(pkt));
	return sizeof(pkt);
}

static void test_parse_good(void **state)
{
	uint8_t p[64];
	struct kt_bfd_packet pk;

	(void)state;
	assert_int_equal(kt_bfd_parse(p, good(p), &pk), 0);
	assert_int_equal(pk.state, KT_BFD_UP);
	assert_int_equal(pk.detect_mult, 3);
	assert_int_equal(pk.my_discr, 1);
	assert_int_equal(pk.your_discr, 2);
	assert_int_equal(pk.desired_min_tx, 50000);
	assert_int_equal(pk.required_min_rx, 50000);
	/* Longer datagram than Length: the rest is not BFD's. */
	assert_int_equal(kt_bfd_parse(p, 40, &pk), 0);
}

static void test_parse_bad(void **state)
{
	static const struct {
		const char *what;
		int at, value;		/* byte to change, -1: none */
		size_t len;		/* datagram length, 0: the packet's */
		enum kt_bfd_bad want;
	} cases[] = {
		{ "version 0", 0, 0x00, 0, KT_BFD_BAD_VERSION },
		{ "version 2", 0, 0x40, 0, KT_BFD_BAD_VERSION },
		{ "empty", -1, 0, 0xffff, KT_BFD_BAD_VERSION },
		{ "shorter than a header", -1, 0, 23, KT_BFD_BAD_LENGTH },
		{ "Length below 24", 3, 23, 0, KT_BFD_BAD_LENGTH },
		{ "Length beyond the datagram", 3, 25, 0, KT_BFD_BAD_LENGTH },
		{ "A bit with Length 24", 1, 0xc4, 0, KT_BFD_BAD_LENGTH },
		{ "multiplier 0", 2, 0, 0, KT_BFD_BAD_DETECT_MULT },
		{ "multipoint", 1, 0xc1, 0, KT_BFD_BAD_MULTIPOINT },
		{ "Poll and Final", 1, 0xf0, 0, KT_BFD_BAD_FLAGS },
		{ "my discriminator 0", 7, 0, 0, KT_BFD_BAD_MY_DISCR },
		{ "your 0 while Up", 11, 0, 0, KT_BFD_BAD_YOUR_DISCR },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t p[64];
		struct kt_bfd_packet pk;
		size_t len = good(p);

		if (cases[i].at >= 0)
			p[cases[i].at] = (uint8_t)cases[i].value;
		if (cases[i].len == 0xffff)
			len = 0;
		else if (cases[i].len)
			len = cases[i].len;
		if (kt_bfd_parse(p, len, &pk) != -(1 + (int)cases[i].want))
			fail_msg("%s: got %d, want %s", cases[i].what,
				 kt_bfd_parse(p, len, &pk), kt_bfd_bad_name(cases[i].want));
	}
}

static void test_parse_your_zero_down(void **state)
{
	uint8_t p[64];
	struct kt_bfd_packet pk;

	(void)state;
	good(p);
	p[11] = 0;
	p[1] = 0x40;		/* Down: a first packet, no discriminator yet */
	assert_int_equal(kt_bfd_parse(p, 24, &pk), 0);
	p[1] = 0x00;		/* AdminDown */
	assert_int_equal(kt_bfd_parse(p, 24, &pk), 0);
	p[1] = 0x80;		/* Init needs one */
	assert_int_equal(kt_bfd_parse(p, 24, &pk), -(1 + KT_BFD_BAD_YOUR_DISCR));
}

static void test_parse_auth_sections(void **state)
{
	static const struct {
		const char *what;
		uint8_t type, alen, length;
		int ok;
	} cases[] = {
		{ "simple, 1-byte password", 1, 4, 28, 1 },
		{ "simple, 16 bytes", 1, 19, 43, 1 },
		{ "simple, 17 bytes", 1, 20, 44, 0 },
		{ "simple, none", 1, 3, 27, 1 },	/* the session refuses it */
		{ "auth len 2", 1, 2, 26, 0 },
		{ "auth len past Length", 1, 10, 30, 0 },
		{ "Length past the section", 4, 28, 56, 0 },
		{ "keyed SHA1", 4, 28, 52, 1 },
		{ "meticulous SHA1", 5, 28, 52, 1 },
		{ "SHA1, short", 4, 24, 48, 0 },
		{ "keyed MD5", 2, 24, 48, 1 },		/* refused later */
		{ "MD5, wrong length", 3, 28, 52, 0 },
		{ "unknown type", 9, 8, 32, 1 },	/* refused later */
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t p[64];
		struct kt_bfd_packet pk;
		int r;

		good(p);
		p[1] |= KT_BFD_F_AUTH;
		p[3] = cases[i].length;
		p[24] = cases[i].type;
		p[25] = cases[i].alen;
		p[26] = 7;
		r = kt_bfd_parse(p, 64, &pk);
		if (cases[i].ok ? r != 0 : r != -(1 + KT_BFD_BAD_AUTH_SECTION))
			fail_msg("%s: got %d", cases[i].what, r);
		if (r == 0)
			assert_int_equal(pk.auth_key_id, 7);
	}
}

/* Build, parse back, compare every field. */
static void test_round_trip(void **state)
{
	struct kt_bfd_config c = fast;
	uint8_t pkt[KT_BFD_MAX_LEN];
	struct kt_bfd_packet pk;
	size_t len;

	setup_pair(&fast, &fast);
	assert_true(until_up(5000) < 5000);
	len = kt_bfd_build(&A.s, KT_BFD_F_FINAL, pkt);
	assert_int_equal(len, 24);
	assert_int_equal(kt_bfd_parse(pkt, len, &pk), 0);
	assert_int_equal(pk.state, KT_BFD_UP);
	assert_int_equal(pk.diag, KT_BFD_DIAG_NONE);
	assert_int_equal(pk.flags, KT_BFD_F_FINAL);
	assert_int_equal(pk.detect_mult, 3);
	assert_int_equal(pk.my_discr, 0x11111111);
	assert_int_equal(pk.your_discr, 0x22222222);
	assert_int_equal(pk.desired_min_tx, 50000);
	assert_int_equal(pk.required_min_rx, 50000);
	assert_int_equal(pk.required_min_echo_rx, 0);
	teardown(NULL);
	setup(NULL);

	c.auth.type = KT_BFD_AUTH_METICULOUS_SHA1;
	c.auth.key_id = 9;
	c.auth.key_len = 5;
	memcpy(c.auth.key, "hello", 5);
	setup_pair(&c, &c);
	len = kt_bfd_build(&A.s, 0, pkt);
	assert_int_equal(len, 52);
	assert_int_equal(kt_bfd_parse(pkt, len, &pk), 0);
	assert_int_equal(pk.flags, KT_BFD_F_AUTH);
	assert_int_equal(pk.auth_type, KT_BFD_AUTH_METICULOUS_SHA1);
	assert_int_equal(pk.auth_len, 28);
	assert_int_equal(pk.auth_key_id, 9);
	assert_int_equal(pk.auth_seq, A.s.xmit_auth_seq);
	assert_int_equal(pk.state, KT_BFD_DOWN);
	assert_int_equal(pk.your_discr, 0);
	assert_int_equal(pk.desired_min_tx, KT_BFD_SLOW_TX_US);
}

/* The digest of one fixed packet, computed independently (Python's
 * hashlib.sha1 over the packet with the key in the digest's place). */
static void test_sha1_known_answer(void **state)
{
	static const uint8_t want[20] = {
		0x13, 0xb6, 0x75, 0x91, 0xbd, 0x5f, 0x7e, 0xfc, 0x32, 0xcb,
		0xf0, 0x71, 0x37, 0xf4, 0x64, 0x47, 0x8d, 0x71, 0xd3, 0xda,
	};
	struct kt_bfd_config c = fast;
	uint8_t pkt[KT_BFD_MAX_LEN];

	(void)state;
	memset(&A, 0, sizeof(A));
	A.peer = &B;
	c.auth.type = KT_BFD_AUTH_KEYED_SHA1;
	c.auth.key_id = 1;
	c.auth.key_len = 8;
	memcpy(c.auth.key, "kyotenbf", 8);
	assert_int_equal(kt_bfd_init(&A.s, &loop, &c, 0x01020304, 1, &ops, &A), 0);
	A.s.xmit_auth_seq = 0x0a0b0c0c;	/* the next packet says ...0d */
	A.s.remote_discr = 0x05060708;
	assert_int_equal(kt_bfd_build(&A.s, 0, pkt), 52);
	/* 20 40 03 34 | 01020304 | 05060708 | 000f4240 | 0000c350 | 0 |
	 * 04 1c 01 00 | 0a0b0c0d | digest */
	assert_int_equal(pkt[0], 0x20);
	assert_int_equal(pkt[1], 0x44);
	assert_memory_equal(pkt + 32, want, 20);
}

/* --- two sessions --- */

static void test_three_way(void **state)
{
	uint64_t t;

	(void)state;
	setup_pair(&fast, &fast);
	/* Both start Down and send at once; each sees the other's Down and
	 * goes Init, then Up on the other's Init. */
	assert_int_equal(A.s.session_state, KT_BFD_DOWN);
	t = until_up(5000);
	assert_true(t < 100);
	assert_int_equal(A.s.remote_discr, 0x22222222);
	assert_int_equal(B.s.remote_discr, 0x11111111);
	assert_int_equal(A.s.stats.ups, 1);
	assert_int_equal(A.last_new, KT_BFD_UP);
	/* Going Up changed the advertised interval (1 s to 50 ms): a poll,
	 * answered, and then the configured values are in force. */
	advance(500);
	assert_true(A.s.stats.polls >= 1);
	assert_true(A.s.stats.finals_rx >= 1);
	assert_false(A.s.poll);
	assert_int_equal(kt_bfd_tx_interval_us(&A.s), 50000);
	assert_int_equal(kt_bfd_detect_us(&A.s), 150000);
	assert_int_equal(A.s.stats.rx_bad[KT_BFD_BAD_YOUR_DISCR], 0);
}

static void test_one_side_late(void **state)
{
	(void)state;
	setup_pair(&fast, &fast);
	/* B hears nothing from A until later: B sits in Init (it heard
	 * nothing) or Down; A stays Down. Then the path heals. */
	A.cut = true;
	wire_len = 0;		/* A's first packet is lost too */
	advance(3000);
	assert_int_equal(A.s.session_state, KT_BFD_INIT);
	assert_int_equal(B.s.session_state, KT_BFD_DOWN);
	A.cut = false;
	/* Slow transmit while down: up to a second until the next packet. */
	assert_true(until_up(5000) < 2500);
}

static void test_negotiated_intervals(void **state)
{
	struct kt_bfd_config slow = fast;

	(void)state;
	slow.desired_min_tx_us = 300000;
	slow.required_min_rx_us = 200000;
	slow.detect_mult = 5;
	setup_pair(&fast, &slow);
	assert_true(until_up(5000) < 5000);
	advance(2000);
	/* A sends no faster than B may receive; B at its own 300 ms. */
	assert_int_equal(kt_bfd_tx_interval_us(&A.s), 200000);
	assert_int_equal(kt_bfd_tx_interval_us(&B.s), 300000);
	/* A's detection: B's multiplier x max(A's RX, B's TX). */
	assert_int_equal(kt_bfd_detect_us(&A.s), 5 * 300000);
	assert_int_equal(kt_bfd_detect_us(&B.s), 3 * 200000);
}

static void test_detect_and_slow_down(void **state)
{
	uint64_t cut_at, t;
	unsigned sent;

	(void)state;
	setup_pair(&fast, &fast);
	assert_true(until_up(5000) < 5000);
	advance(1000);
	cut_at = clock_ms;
	B.cut = true;
	for (t = 0; t < 1000 && A.s.session_state == KT_BFD_UP; t++)
		advance(1);
	/* 150 ms detection, from B's last packet (at most 50 ms before). */
	assert_int_equal(A.s.session_state, KT_BFD_DOWN);
	assert_int_equal(A.last_diag, KT_BFD_DIAG_TIME_EXPIRED);
	assert_int_equal(A.s.local_diag, KT_BFD_DIAG_TIME_EXPIRED);
	assert_true(clock_ms - cut_at <= 150 + 2);
	assert_true(clock_ms - cut_at >= 100);
	assert_int_equal(A.s.remote_discr, 0);
	/* B hears A's Down (diag 1) and goes Down too: neighbour down. */
	advance(10);
	assert_int_equal(B.s.session_state, KT_BFD_DOWN);
	assert_int_equal(B.s.local_diag, KT_BFD_DIAG_NEIGHBOR_DOWN);
	/* Down: one packet a second at most, 75-100 % jittered. */
	advance(100);
	sent = A.sent;
	advance(10000);
	assert_true(A.sent - sent >= 10 && A.sent - sent <= 14);
	assert_int_equal(A.s.desired_min_tx, KT_BFD_SLOW_TX_US);
	/* Healed: Up again, the diagnostic cleared. */
	B.cut = false;
	assert_true(until_up(5000) < 2500);
	assert_int_equal(A.s.local_diag, KT_BFD_DIAG_NONE);
	assert_int_equal(A.s.stats.ups, 2);
	assert_int_equal(A.s.stats.downs, 1);
}

/* Up at 100 ms both ways, then 20 s of A's packets: their gaps. */
static void gaps_at_100ms(uint8_t mult)
{
	struct kt_bfd_config one = fast;

	one.desired_min_tx_us = one.required_min_rx_us = 100000;
	one.detect_mult = mult;
	setup_pair(&one, &one);
	assert_true(until_up(5000) < 5000);
	advance(1000);
	A.min_gap = A.max_gap = 0;
	A.last_sent = 0;
	advance(20000);
}

static void test_jitter(void **state)
{
	(void)state;
	gaps_at_100ms(3);
	assert_true(A.min_gap >= 75 && A.max_gap <= 100);
	assert_true(A.max_gap - A.min_gap >= 10);	/* it does vary */
	teardown(NULL);
	setup(NULL);
	/* Multiplier 1: at most 90 %. */
	gaps_at_100ms(1);
	assert_true(A.min_gap >= 75 && A.max_gap <= 90);
}

static void test_admin_down(void **state)
{
	(void)state;
	setup_pair(&fast, &fast);
	assert_true(until_up(5000) < 5000);
	kt_bfd_admin(&B.s, true);
	assert_int_equal(B.s.session_state, KT_BFD_ADMIN_DOWN);
	assert_int_equal(B.s.local_diag, KT_BFD_DIAG_ADMIN_DOWN);
	advance(10);
	assert_int_equal(A.s.session_state, KT_BFD_DOWN);
	assert_int_equal(A.s.local_diag, KT_BFD_DIAG_NEIGHBOR_DOWN);
	/* AdminDown stays down whatever it hears. */
	advance(5000);
	assert_int_equal(B.s.session_state, KT_BFD_ADMIN_DOWN);
	assert_int_not_equal(A.s.session_state, KT_BFD_UP);
	kt_bfd_admin(&B.s, false);
	assert_true(until_up(5000) < 2500);
}

/* The peer said over another path that this one is down (pathsig.h). */
static void test_signal_down(void **state)
{
	unsigned changes;

	(void)state;
	setup_pair(&fast, &fast);
	assert_true(until_up(5000) < 5000);
	advance(500);
	/* The path is dead: nothing crosses it. A learns at once, not after
	 * the detection time. */
	A.cut = B.cut = true;
	changes = A.changes;
	assert_true(kt_bfd_signal_down(&A.s, KT_BFD_DIAG_NEIGHBOR_DOWN));
	assert_int_equal(A.s.session_state, KT_BFD_DOWN);
	assert_int_equal(A.last_diag, KT_BFD_DIAG_NEIGHBOR_DOWN);
	assert_int_equal(A.s.remote_discr, 0);
	assert_int_equal(A.s.stats.downs, 1);
	/* A second signal changes nothing. */
	assert_false(kt_bfd_signal_down(&A.s, KT_BFD_DIAG_NEIGHBOR_DOWN));
	assert_int_equal(A.changes, changes + 1);
	/* Slow while down, as after a timeout. */
	advance(3000);
	assert_int_equal(A.s.desired_min_tx, KT_BFD_SLOW_TX_US);
	assert_int_equal(A.s.session_state, KT_BFD_DOWN);
	/* The line is back: Up again by the three-way handshake. */
	A.cut = B.cut = false;
	assert_true(until_up(5000) < 2500);
	assert_int_equal(A.s.stats.ups, 2);
	/* A wrong signal about a path that works costs one handshake. */
	advance(500);
	assert_true(kt_bfd_signal_down(&A.s, KT_BFD_DIAG_NEIGHBOR_DOWN));
	assert_true(until_up(5000) < 2500);
	/* An AdminDown session is left as it is. */
	kt_bfd_admin(&A.s, true);
	assert_false(kt_bfd_signal_down(&A.s, KT_BFD_DIAG_NEIGHBOR_DOWN));
	assert_int_equal(A.s.session_state, KT_BFD_ADMIN_DOWN);
}

static void test_poll_sequence(void **state)
{
	struct kt_bfd_config c = fast;

	(void)state;
	setup_pair(&fast, &fast);
	assert_true(until_up(5000) < 5000);
	advance(500);
	/* Slower transmit: advertised at once, in force after the Final;
	 * B's Finals are lost, so A keeps polling at the old rate. */
	B.drop_finals = true;
	c.desired_min_tx_us = 200000;
	assert_int_equal(kt_bfd_reconfigure(&A.s, &c), 0);
	assert_int_equal(A.s.desired_min_tx, 200000);
	assert_true(A.s.poll);
	A.sent_poll = 0;
	advance(1000);
	assert_int_equal(kt_bfd_tx_interval_us(&A.s), 50000);
	assert_true(A.sent_poll >= 10);
	/* B's detection already uses the slower interval A advertises. */
	assert_int_equal(kt_bfd_detect_us(&B.s), 3 * 200000);
	B.drop_finals = false;
	advance(100);
	assert_false(A.s.poll);
	assert_int_equal(kt_bfd_tx_interval_us(&A.s), 200000);

	/* A shorter receive interval: A's detection keeps the old value until
	 * the Final. */
	c = fast;
	c.desired_min_tx_us = 200000;
	c.required_min_rx_us = 20000;
	B.drop_finals = true;
	assert_int_equal(kt_bfd_reconfigure(&A.s, &c), 0);
	advance(500);
	assert_int_equal(A.s.rx_in_force, 50000);
	assert_int_equal(kt_bfd_detect_us(&A.s), 3 * 50000);
	B.drop_finals = false;
	advance(200);
	assert_int_equal(A.s.rx_in_force, 20000);
	assert_int_equal(A.s.session_state, KT_BFD_UP);
	/* A longer receive interval takes effect at once. */
	c.required_min_rx_us = 400000;
	B.drop_finals = true;
	assert_int_equal(kt_bfd_reconfigure(&A.s, &c), 0);
	assert_int_equal(A.s.rx_in_force, 400000);
	B.drop_finals = false;
}

static void test_rtt_probe(void **state)
{
	(void)state;
	setup_pair(&fast, &fast);
	A.delay_ms = 7;
	B.delay_ms = 5;
	assert_false(kt_bfd_probe(&A.s));	/* not Up yet */
	assert_true(until_up(5000) < 5000);
	advance(500);
	A.rtts = 0;
	assert_true(kt_bfd_probe(&A.s));
	advance(100);
	assert_int_equal(A.rtts, 1);
	assert_int_equal(A.rtt_us, 12000);
}

static void test_remote_wants_none(void **state)
{
	uint8_t p[64];
	unsigned sent;

	(void)state;
	setup_pair(&fast, &fast);
	B.cut = true;
	/* A Down packet from B asking for no periodic packets. */
	good(p);
	p[1] = 0x40;
	p[4] = 0x22;
	p[11] = 0;
	memset(p + 16, 0, 4);
	assert_int_equal(kt_bfd_receive(&A.s, p, 24, 255), 0);
	assert_int_equal(kt_bfd_tx_interval_us(&A.s), 0);
	sent = A.sent;
	advance(140);
	/* It answered with its Init at once, and nothing periodic after. */
	assert_int_equal(A.sent, sent);
	assert_int_equal(A.s.session_state, KT_BFD_INIT);
	/* Nothing more heard for a detection time (3 x 50 ms): the remote's
	 * wish is forgotten with the rest of it; slow packets again. */
	advance(3000);
	assert_int_equal(A.s.session_state, KT_BFD_DOWN);
	assert_int_equal(A.s.local_diag, KT_BFD_DIAG_TIME_EXPIRED);
	assert_true(A.sent - sent >= 3 && A.sent - sent <= 5);
}

static void test_reception_checks(void **state)
{
	uint8_t p[64];

	(void)state;
	setup_pair(&fast, &fast);
	assert_true(until_up(5000) < 5000);
	/* A copy of B's packet from further than one hop. */
	good(p);
	memcpy(p, B.last_pkt, B.last_len);
	assert_int_equal(kt_bfd_receive(&A.s, p, 24, 254), -(1 + KT_BFD_BAD_TTL));
	assert_int_equal(A.s.stats.rx_bad[KT_BFD_BAD_TTL], 1);
	/* For another session. */
	p[11] ^= 1;
	assert_int_equal(kt_bfd_receive(&A.s, p, 24, 255), -(1 + KT_BFD_BAD_YOUR_DISCR));
	/* With an authentication section this session does not use. */
	p[11] ^= 1;
	p[1] |= KT_BFD_F_AUTH;
	p[3] = 28;
	p[24] = 1;
	p[25] = 4;
	assert_int_equal(kt_bfd_receive(&A.s, p, 28, 255), -(1 + KT_BFD_BAD_AUTH_MISMATCH));
	/* Bad packets changed nothing. */
	assert_int_equal(A.s.session_state, KT_BFD_UP);
	assert_int_equal(A.s.remote_discr, 0x22222222);
}

static void auth_pair(uint8_t type, const char *ka, const char *kb,
		      struct kt_bfd_config *ca, struct kt_bfd_config *cb)
{
	*ca = *cb = fast;
	ca->auth.type = cb->auth.type = type;
	ca->auth.key_id = cb->auth.key_id = 3;
	ca->auth.key_len = (uint8_t)strlen(ka);
	memcpy(ca->auth.key, ka, strlen(ka));
	cb->auth.key_len = (uint8_t)strlen(kb);
	memcpy(cb->auth.key, kb, strlen(kb));
}

static void test_auth(void **state)
{
	static const uint8_t types[] = { KT_BFD_AUTH_SIMPLE, KT_BFD_AUTH_KEYED_SHA1,
					 KT_BFD_AUTH_METICULOUS_SHA1 };
	struct kt_bfd_config ca, cb;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		auth_pair(types[i], "s3cret-key", "s3cret-key", &ca, &cb);
		setup_pair(&ca, &cb);
		assert_true(until_up(5000) < 5000);
		advance(1000);
		assert_int_equal(A.s.stats.rx_bad[KT_BFD_BAD_AUTH], 0);
		assert_int_equal(A.s.stats.rx_bad[KT_BFD_BAD_AUTH_SEQ], 0);
		teardown(NULL);
		setup(NULL);

		/* A wrong key never comes up, and every packet is counted. */
		auth_pair(types[i], "s3cret-key", "s3cret-kez", &ca, &cb);
		setup_pair(&ca, &cb);
		advance(5000);
		assert_int_not_equal(A.s.session_state, KT_BFD_UP);
		assert_true(A.s.stats.rx_bad[KT_BFD_BAD_AUTH] >= 4);
		assert_int_equal(A.s.stats.rx, 0);
		teardown(NULL);
		setup(NULL);

		/* One side without authentication. */
		auth_pair(types[i], "s3cret-key", "s3cret-key", &ca, &cb);
		cb.auth.type = KT_BFD_AUTH_NONE;
		setup_pair(&ca, &cb);
		advance(3000);
		assert_int_not_equal(A.s.session_state, KT_BFD_UP);
		assert_true(A.s.stats.rx_bad[KT_BFD_BAD_AUTH_MISMATCH] >= 2);
		assert_true(B.s.stats.rx_bad[KT_BFD_BAD_AUTH_MISMATCH] >= 2);
		teardown(NULL);
		setup(NULL);
	}
}

static void test_auth_replay(void **state)
{
	struct kt_bfd_config ca, cb;
	uint8_t old[KT_BFD_MAX_LEN];
	size_t len;

	(void)state;
	auth_pair(KT_BFD_AUTH_METICULOUS_SHA1, "replay-key", "replay-key", &ca, &cb);
	setup_pair(&ca, &cb);
	assert_true(until_up(5000) < 5000);
	advance(200);
	memcpy(old, B.last_pkt, B.last_len);
	len = B.last_len;
	advance(200);
	/* Meticulous: an old sequence number is a replay. */
	assert_int_equal(kt_bfd_receive(&A.s, old, len, 255), -(1 + KT_BFD_BAD_AUTH_SEQ));
	/* The same packet again, too (meticulous needs a new number). */
	memcpy(old, B.last_pkt, B.last_len);
	assert_int_equal(kt_bfd_receive(&A.s, old, len, 255), -(1 + KT_BFD_BAD_AUTH_SEQ));
	/* A flipped digest bit. */
	old[40] ^= 1;
	assert_int_equal(kt_bfd_receive(&A.s, old, len, 255), -(1 + KT_BFD_BAD_AUTH));
	/* Far ahead of the window (3 x multiplier). */
	B.s.xmit_auth_seq += 100;
	advance(200);
	assert_true(A.s.stats.rx_bad[KT_BFD_BAD_AUTH_SEQ] >= 3);
	teardown(NULL);
	setup(NULL);

	/* Keyed (not meticulous): the same number again is fine. */
	auth_pair(KT_BFD_AUTH_KEYED_SHA1, "replay-key", "replay-key", &ca, &cb);
	setup_pair(&ca, &cb);
	assert_true(until_up(5000) < 5000);
	advance(200);
	memcpy(old, B.last_pkt, B.last_len);
	assert_int_equal(kt_bfd_receive(&A.s, old, B.last_len, 255), 0);
}

static void test_config_check(void **state)
{
	static const struct {
		uint32_t tx, rx;
		uint8_t mult, auth, key_len;
		bool ok;
	} cases[] = {
		{ 50000, 50000, 3, 0, 0, true },
		{ 9999, 50000, 3, 0, 0, false },
		{ 50000, 9999, 3, 0, 0, false },
		{ 50000, 50000, 0, 0, 0, false },
		{ 50000, 50000, 3, KT_BFD_AUTH_SIMPLE, 16, true },
		{ 50000, 50000, 3, KT_BFD_AUTH_SIMPLE, 17, false },
		{ 50000, 50000, 3, KT_BFD_AUTH_SIMPLE, 0, false },
		{ 50000, 50000, 3, KT_BFD_AUTH_KEYED_SHA1, 20, true },
		{ 50000, 50000, 3, KT_BFD_AUTH_METICULOUS_SHA1, 21, false },
		{ 50000, 50000, 3, KT_BFD_AUTH_KEYED_MD5, 16, false },
		{ 50000, 50000, 3, 77, 16, false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kt_bfd_config c = { cases[i].tx, cases[i].rx, cases[i].mult,
					   { cases[i].auth, 1, cases[i].key_len, { 0 } } };
		const char *why = NULL;
		int r = kt_bfd_config_check(&c, &why);

		if (cases[i].ok ? r != 0 : r == 0 || !why)
			fail_msg("case %zu: %d %s", i, r, why ? why : "");
	}
	assert_int_equal(kt_bfd_auth_parse("meticulous-sha1"), KT_BFD_AUTH_METICULOUS_SHA1);
	assert_int_equal(kt_bfd_auth_parse("keyed-md5"), -1);
	assert_string_equal(kt_bfd_auth_name(KT_BFD_AUTH_KEYED_SHA1), "keyed-sha1");
	assert_string_equal(kt_bfd_diag_name(1), "control-detection-time-expired");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_your_zero_down),
		cmocka_unit_test(test_parse_auth_sections),
		cmocka_unit_test(test_config_check),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sha1_known_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_three_way, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_side_late, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negotiated_intervals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detect_and_slow_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jitter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rtt_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remote_wants_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reception_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_replay, setup, teardown),
	};

	return cmocka_run_group_tests_name("bfd", tests, NULL, NULL);
}
