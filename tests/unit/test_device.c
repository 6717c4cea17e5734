/* Two tunnel devices joined by an in-memory wire, under a fake clock:
 * the whitepaper's timer rules (§6) as observable behaviour. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "device.h"
#include "unit.h"

#define WIRE_MAX 64

struct side {
	struct kt_device dev;
	struct kt_peer *peer;
	struct kt_endpoint_addr addr;
	unsigned delivered, controls;
	size_t last_control_len;
	uint16_t last_seq;
	bool cut;			/* drop everything it sends */
};

static struct side A, B;
static struct kt_loop loop;
static uint64_t clock_ms;
static struct {
	struct side *to;
	struct kt_endpoint_addr from;
	uint8_t msg[KT_MAX_PACKET + 64];
	size_t len;
} wire[WIRE_MAX];
static size_t wire_len;
static unsigned sent_init[2], sent_data[2], sent_cookie[2];

static uint64_t fake_clock(void)
{
	return clock_ms;
}

static void fake_realtime(struct timespec *ts)
{
	ts->tv_sec = (time_t)(1700000000 + clock_ms / 1000);
	ts->tv_nsec = (long)(clock_ms % 1000) * 1000000;
}

static int wire_send(void *arg, const struct kt_endpoint_addr *to,
		     const uint8_t *msg, size_t len)
{
	struct side *s = arg, *dst = s == &A ? &B : &A;
	uint8_t type = msg[0] - s->dev.id.suite->msg_type_base;

	(void)to;
	if (type == KT_MSG_INITIATION)
		sent_init[s == &B]++;
	else if (type == KT_MSG_DATA)
		sent_data[s == &B]++;
	else if (type == KT_MSG_COOKIE)
		sent_cookie[s == &B]++;
	if (s->cut || wire_len == WIRE_MAX)
		return 0;
	wire[wire_len].to = dst;
	wire[wire_len].from = s->addr;
	memcpy(wire[wire_len].msg, msg, len);
	wire[wire_len].len = len;
	wire_len++;
	return 0;
}

static void deliver(void *arg, struct kt_peer *p, const uint8_t *pkt, size_t len)
{
	struct side *s = arg;

	(void)p;
	assert_true(len >= 28);
	s->delivered++;
	s->last_seq = (uint16_t)(pkt[26] << 8 | pkt[27]);
}

static void control(void *arg, struct kt_peer *p, const uint8_t *msg, size_t len)
{
	struct side *s = arg;

	assert_ptr_equal(p, s->peer);
	assert_true(len > 0 && msg[0] >> 4 == 0);
	s->controls++;
	s->last_control_len = len;
}

static const struct kt_device_ops ops = {
	.send = wire_send, .deliver = deliver, .control = control,
};
/* A device that knows no control messages (as a peer that is not Kyoten). */
static const struct kt_device_ops ops_plain = { .send = wire_send, .deliver = deliver };

/* Delivers what is on the wire, including what that provokes. */
static void pump(void)
{
	for (size_t i = 0; i < wire_len; i++)
		kt_device_receive(&wire[i].to->dev, &wire[i].from, wire[i].msg,
				  wire[i].len);
	wire_len = 0;
}

/* Moves the clock forward step by step, firing timers and pumping. */
static void advance(uint64_t ms, uint64_t step)
{
	for (uint64_t t = 0; t < ms; t += step) {
		clock_ms += step;
		kt_loop_run_timers(&loop);
		pump();
	}
}

/* An IPv4 packet from the side's inner address to the other's. */
static size_t packet(uint8_t *pkt, const struct side *from, uint16_t seq)
{
	memset(pkt, 0, 64);
	pkt[0] = 0x45;
	pkt[3] = 64;
	pkt[9] = 17;
	pkt[12] = 10;
	pkt[15] = from == &A ? 1 : 2;
	pkt[16] = 10;
	pkt[19] = from == &A ? 2 : 1;
	pkt[26] = (uint8_t)(seq >> 8);
	pkt[27] = (uint8_t)seq;
	return 64;
}

static void send_from(struct side *s, uint16_t seq)
{
	uint8_t pkt[64];

	assert_int_equal(kt_device_send(&s->dev, pkt, packet(pkt, s, seq)), 0);
	pump();
}

static int setup(void **state)
{
	const struct kt_suite *suite = *state ? *state : &kt_suite_wireguard;
	uint8_t ka[KT_SUITE_KEY_LEN], kb[KT_SUITE_KEY_LEN], pub[KT_SUITE_MAX_PUB];
	struct kt_prefix pa, pb;

	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	memset(sent_init, 0, sizeof(sent_init));
	memset(sent_data, 0, sizeof(sent_data));
	memset(sent_cookie, 0, sizeof(sent_cookie));
	wire_len = 0;
	assert_int_equal(kt_loop_init(&loop), 0);
	clock_ms = 1000000;
	loop.clock = fake_clock;
	loop.now_ms = clock_ms;
	assert_int_equal(suite->keygen(ka, pub), 0);
	assert_int_equal(suite->keygen(kb, pub), 0);
	assert_int_equal(kt_device_init(&A.dev, &loop, suite, ka, &ops, &A), 0);
	assert_int_equal(kt_device_init(&B.dev, &loop, suite, kb, &ops, &B), 0);
	A.dev.id.realtime = fake_realtime;
	B.dev.id.realtime = fake_realtime;
	A.peer = kt_device_add_peer(&A.dev, "b", B.dev.id.pub, NULL);
	B.peer = kt_device_add_peer(&B.dev, "a", A.dev.id.pub, NULL);
	assert_non_null(A.peer);
	assert_non_null(B.peer);
	A.addr.in.sin_family = AF_INET;
	A.addr.in.sin_port = htons(51820);
	inet_pton(AF_INET, "192.0.2.1", &A.addr.in.sin_addr);
	B.addr = A.addr;
	inet_pton(AF_INET, "192.0.2.2", &B.addr.in.sin_addr);
	kt_peer_set_endpoint(A.peer, &B.addr);
	kt_peer_set_endpoint(B.peer, &A.addr);
	assert_true(kt_prefix_parse("10.0.0.1/32", &pa));
	assert_true(kt_prefix_parse("10.0.0.2/32", &pb));
	assert_int_equal(kt_peer_allow(B.peer, &pa), 0);
	assert_int_equal(kt_peer_allow(A.peer, &pb), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	kt_device_uninit(&A.dev);
	kt_device_uninit(&B.dev);
	kt_loop_uninit(&loop);
	return 0;
}

static void test_first_packet_waits_for_handshake(void **state)
{
	(void)state;
	send_from(&A, 1);	/* staged; initiation, response, then data */
	assert_int_equal(sent_init[0], 1);
	assert_int_equal(B.delivered, 1);
	assert_int_equal(B.last_seq, 1);
	assert_true(A.peer->cur.valid && A.peer->cur.initiator);
	/* B holds the new keypair as confirmed once data arrived with it. */
	assert_true(B.peer->cur.valid);
	assert_false(B.peer->next.valid);
	send_from(&B, 2);
	assert_int_equal(A.delivered, 1);
	assert_int_equal(A.peer->stats.handshakes, 1);
	assert_int_equal(B.peer->stats.handshakes, 1);
}

static void test_keepalive_after_one_way_data(void **state)
{
	unsigned before;

	(void)state;
	send_from(&A, 1);
	before = sent_data[1];
	/* B received data and sends nothing: 10 s later, a keepalive. */
	advance(9000, 100);
	assert_int_equal(sent_data[1], before);
	advance(1200, 100);
	assert_int_equal(sent_data[1], before + 1);
}

static void test_new_handshake_when_peer_silent(void **state)
{
	(void)state;
	/* B goes silent (its line is cut) once the session is up; A keeps
	 * sending. The first data armed new_handshake: keepalive + rekey
	 * timeout (15 s) plus jitter (up to 1.67 s); later data does not
	 * push it back. */
	send_from(&A, 1);
	B.cut = true;
	advance(1000, 100);
	send_from(&A, 2);
	advance(13900, 100);
	assert_int_equal(sent_init[0], 1);
	advance(1800, 100);
	assert_int_equal(sent_init[0], 2);
}

static void test_retransmit_then_give_up(void **state)
{
	(void)state;
	B.cut = true;
	A.cut = true;
	send_from(&A, 1);
	/* Retries every rekey timeout (5 s + up to 1/3 jitter) until more
	 * than rekey-attempt-time / rekey-timeout (18) retries: the first
	 * initiation and 19 retries, then silence. */
	advance(200000, 100);
	assert_int_equal(sent_init[0], 20);
	{
		unsigned sent = sent_init[0];

		advance(60000, 1000);
		assert_int_equal(sent_init[0], sent);
	}
	assert_int_equal(A.peer->staged_count, 0);
}

static void test_rekey_after_time_loses_nothing(void **state)
{
	uint16_t seq = 0;

	(void)state;
	/* Traffic both ways every 100 ms for 5 minutes: at least two
	 * rekeys, and every packet arrives. */
	for (int i = 0; i < 3000; i++) {
		send_from(&A, ++seq);
		send_from(&B, seq);
		advance(100, 100);
	}
	assert_int_equal(B.delivered, 3000);
	assert_int_equal(A.delivered, 3000);
	assert_true(A.peer->stats.handshakes >= 3);
	assert_int_equal(A.peer->stats.drops[KT_DROP_STAGED_FULL], 0);
}

static void test_rekey_after_messages(void **state)
{
	(void)state;
	A.dev.timing.rekey_after_messages = 50;		/* test-only setting */
	/* 120 packets 100 ms apart: past 50 a rekey is due (once the rekey
	 * timeout since the last initiation has passed). */
	for (uint16_t i = 1; i <= 120; i++) {
		send_from(&A, i);
		advance(100, 100);
	}
	assert_int_equal(B.delivered, 120);
	assert_true(sent_init[0] >= 2);
}

static void test_reject_after_time(void **state)
{
	(void)state;
	send_from(&A, 1);
	/* Nothing for 3 minutes: the keypair may no longer be used, so the
	 * next packet is staged and a handshake starts first. */
	advance(181000, 1000);
	wire_len = 0;
	A.cut = true;
	send_from(&A, 2);
	assert_int_equal(B.delivered, 1);
	assert_int_equal(A.peer->staged_count, 1);
	A.cut = false;
	advance(7000, 100);	/* the retry: 5 s plus up to 1/3 jitter */
	assert_int_equal(B.delivered, 2);
}

static void test_zero_key_material(void **state)
{
	(void)state;
	send_from(&A, 1);
	assert_true(A.peer->cur.valid);
	advance(3 * 180000 + 1000, 1000);
	assert_false(A.peer->cur.valid);
	assert_false(A.peer->prev.valid);
}

static void test_allowed_ips_enforced(void **state)
{
	uint8_t pkt[64];

	(void)state;
	send_from(&A, 1);
	/* A claims an inner source B does not allow for it. */
	packet(pkt, &A, 2);
	pkt[15] = 99;
	assert_int_equal(kt_peer_send(A.peer, pkt, sizeof(pkt)), 0);
	pump();
	assert_int_equal(B.delivered, 1);
	assert_int_equal(B.peer->stats.drops[KT_DROP_ALLOWED_IPS], 1);
	/* No peer for a destination: refused at the sender. */
	packet(pkt, &A, 3);
	pkt[19] = 77;
	assert_int_equal(kt_device_send(&A.dev, pkt, sizeof(pkt)), -EHOSTUNREACH);
	assert_int_equal(A.dev.drops[KT_DROP_NO_ROUTE], 1);
}

/* Inner messages that are no IP packet go to the control hook, from the
 * peer whose keypair opened them, and never to the interface. */
static void test_control_messages(void **state)
{
	uint8_t msg[32] = { 0x01, 1, 1, 4 };	/* a multiple of the padding */

	(void)state;
	send_from(&A, 1);
	assert_int_equal(kt_peer_send(A.peer, msg, sizeof(msg)), 0);
	pump();
	assert_int_equal(B.controls, 1);
	assert_int_equal(B.last_control_len, sizeof(msg));
	assert_int_equal(B.delivered, 1);
	/* Without the hook: dropped as malformed, and counted. */
	B.dev.ops = &ops_plain;
	assert_int_equal(kt_peer_send(A.peer, msg, sizeof(msg)), 0);
	pump();
	assert_int_equal(B.controls, 1);
	assert_int_equal(B.delivered, 1);
	assert_int_equal(B.peer->stats.drops[KT_DROP_MALFORMED], 1);
	/* IP traffic still flows. */
	send_from(&A, 2);
	assert_int_equal(B.delivered, 2);
}

static void test_roaming(void **state)
{
	(void)state;
	send_from(&A, 1);
	/* A moves (its line failed over); B follows the authenticated packet. */
	inet_pton(AF_INET, "198.51.100.7", &A.addr.in.sin_addr);
	send_from(&A, 2);
	assert_int_equal(B.peer->endpoint.in.sin_addr.s_addr, A.addr.in.sin_addr.s_addr);
	/* A forged packet from elsewhere does not move it. */
	{
		struct kt_endpoint_addr evil = A.addr;
		uint8_t junk[64];

		memset(junk, 0, sizeof(junk));
		junk[0] = B.dev.id.suite->msg_type_base + KT_MSG_DATA;
		memcpy(junk + 4, &B.peer->cur.local_index, 4);
		inet_pton(AF_INET, "203.0.113.66", &evil.in.sin_addr);
		kt_device_receive(&B.dev, &evil, junk, sizeof(junk));
		assert_int_equal(B.peer->endpoint.in.sin_addr.s_addr,
				 A.addr.in.sin_addr.s_addr);
		assert_int_equal(B.peer->stats.drops[KT_DROP_BAD_MAC], 1);
	}
}

static void test_cookie_under_load(void **state)
{
	(void)state;
	/* B believes it is under load: A's first initiation gets a cookie
	 * reply; A's retry carries mac2 and gets through. */
	B.dev.load_threshold = 0;
	send_from(&A, 1);
	assert_int_equal(sent_cookie[1], 1);
	assert_int_equal(B.dev.drops[KT_DROP_COOKIE], 1);
	assert_int_equal(B.delivered, 0);
	advance(7000, 100);
	assert_int_equal(B.delivered, 1);
}

static void test_garbage_counted(void **state)
{
	static const size_t lens[] = { 0, 3, 4, 31, 147, 149, 500 };
	uint8_t junk[600];

	(void)state;
	memset(junk, 0, sizeof(junk));
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		junk[0] = (uint8_t)(i + 1);	/* every type, wrong sizes */
		kt_device_receive(&B.dev, &A.addr, junk, lens[i]);
	}
	assert_int_equal(B.dev.drops[KT_DROP_MALFORMED], ARRAY_SIZE(lens));
	/* The right size and type, but not made with B's key: mac1 fails. */
	junk[0] = B.dev.id.suite->msg_type_base + KT_MSG_INITIATION;
	kt_device_receive(&B.dev, &A.addr, junk, kt_init_len(B.dev.id.suite));
	assert_int_equal(B.dev.drops[KT_DROP_BAD_MAC], 1);
	/* Data for an index nobody has. */
	junk[0] = B.dev.id.suite->msg_type_base + KT_MSG_DATA;
	kt_device_receive(&B.dev, &A.addr, junk, 64);
	assert_int_equal(B.dev.drops[KT_DROP_NO_SESSION], 1);
}

static size_t live_indices(const struct kt_peer *p)
{
	return (size_t)p->cur.valid + p->prev.valid + p->next.valid +
	       (p->hs.local_index != 0);
}

static void test_crossing_handshakes_leak_no_index(void **state)
{
	(void)state;
	/* B initiates and A's response is lost; then A initiates and wins.
	 * Every round must leave only live indices in the table. */
	send_from(&A, 1);
	send_from(&B, 2);
	for (int round = 0; round < 5; round++) {
		advance(6000, 1000);
		A.cut = true;
		kt_peer_initiate(B.peer);
		pump();
		A.cut = false;
		assert_true(A.peer->next.valid);
		kt_peer_initiate(A.peer);
		pump();
		assert_int_equal(A.dev.index_used, live_indices(A.peer));
	}
	send_from(&A, 3);
	assert_int_equal(B.last_seq, 3);
}

static void test_cookie_answers_a_response(void **state)
{
	(void)state;
	/* The initiator is the one under load: it answers B's response with
	 * a cookie reply, B must accept it and send mac2 next time. */
	A.dev.load_threshold = 0;
	send_from(&A, 1);
	assert_true(sent_cookie[0] >= 1);
	advance(30000, 100);
	assert_int_equal(B.dev.drops[KT_DROP_NO_SESSION], 0);
	assert_int_equal(B.delivered, 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define T_BOTH(fn) \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&kt_suite_wireguard), \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&kt_suite_cryptrec)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T_BOTH(test_first_packet_waits_for_handshake),
		T(test_keepalive_after_one_way_data),
		T(test_new_handshake_when_peer_silent),
		T(test_retransmit_then_give_up),
		T_BOTH(test_rekey_after_time_loses_nothing),
		T(test_rekey_after_messages),
		T(test_reject_after_time),
		T(test_zero_key_material),
		T(test_allowed_ips_enforced),
		T(test_roaming),
		T(test_control_messages),
		T(test_cookie_under_load),
		T(test_garbage_counted),
		T(test_crossing_handshakes_leak_no_index),
		T(test_cookie_answers_a_response),
	};
	return cmocka_run_group_tests_name("device", tests, NULL, NULL);
}
