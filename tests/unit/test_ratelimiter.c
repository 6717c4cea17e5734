#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "ratelimiter.h"
#include "unit.h"

static struct kt_addr addr(const char *s)
{
	struct kt_addr a;

	if (!kt_addr_parse(s, &a))
		fail_msg("bad address in the test: %s", s);
	return a;
}

/* Sends n initiations from src, step_ms apart from start_ms; returns how
 * many were allowed. */
static unsigned burst(struct kt_ratelimiter *rl, const char *src,
		      uint64_t start_ms, uint64_t step_ms, unsigned n)
{
	struct kt_addr a = addr(src);
	unsigned ok = 0;

	for (unsigned i = 0; i < n; i++)
		ok += kt_ratelimiter_allow(rl, start_ms + i * step_ms, &a);
	return ok;
}

static void test_burst_then_rate(void **state)
{
	/* One source through successive phases: 5 back to back, then one
	 * per 50 ms (20 a second), never more than 5 saved up. */
	static const struct {
		uint64_t start_ms, step_ms;
		unsigned n, allowed;
	} phases[] = {
		{ 0, 0, 10, 5 },	/* the burst */
		{ 1, 1, 48, 0 },	/* 48 ms earn 0.96 of one */
		{ 49, 0, 1, 0 },
		{ 50, 0, 2, 1 },	/* 50 ms earn exactly one */
		{ 100, 50, 20, 20 },	/* at the rate: all pass */
		{ 1060, 10, 100, 20 },	/* 5x the rate for a second */
		{ 5000, 0, 10, 5 },	/* idle long: still a burst of 5 */
		{ 100000, 1, 1000, 24 },	/* 5 + 999 ms at 20/s */
	};
	struct kt_ratelimiter rl;

	(void)state;
	assert_int_equal(kt_ratelimiter_init(&rl, 16), 0);
	for (size_t i = 0; i < ARRAY_SIZE(phases); i++) {
		unsigned ok = burst(&rl, "192.0.2.1", phases[i].start_ms,
				   phases[i].step_ms, phases[i].n);

		if (ok != phases[i].allowed)
			fail_msg("phase %zu: %u allowed, not %u", i, ok,
				 phases[i].allowed);
	}
	kt_ratelimiter_uninit(&rl);
}

static void test_sources(void **state)
{
	/* Each (source, time, packets, allowed) in order on one table. */
	static const struct {
		const char *src;
		uint64_t t;
		unsigned n, allowed;
	} steps[] = {
		{ "192.0.2.1", 0, 10, 5 },
		{ "192.0.2.2", 0, 10, 5 },	/* IPv4: one bucket per /32 */
		{ "192.0.2.1", 10, 1, 0 },
		{ "198.51.100.1", 10, 6, 5 },
		/* IPv6: one bucket per /64 */
		{ "2001:db8:1:2::1", 20, 3, 3 },
		{ "2001:db8:1:2:ffff:ffff:ffff:ffff", 20, 3, 2 },
		{ "2001:db8:1:2:1234::", 20, 1, 0 },
		{ "2001:db8:1:3::1", 20, 6, 5 },
		{ "2001:db8:1:2::", 20, 1, 0 },
		{ "2001:db9:1:2::1", 20, 6, 5 },
		/* Same leading bytes as 192.0.2.1, other family. */
		{ "c000:201::", 20, 6, 5 },
		{ "::ffff:192.0.2.1", 20, 6, 5 },
		{ "192.0.2.1", 20, 1, 0 },
		{ "192.0.2.1", 60, 1, 1 },
		{ "2001:db8:1:2::99", 70, 2, 1 },
	};
	struct kt_ratelimiter rl;

	(void)state;
	assert_int_equal(kt_ratelimiter_init(&rl, 64), 0);
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		unsigned ok = burst(&rl, steps[i].src, steps[i].t, 0, steps[i].n);

		if (ok != steps[i].allowed)
			fail_msg("step %zu (%s): %u allowed, not %u", i,
				 steps[i].src, ok, steps[i].allowed);
	}
	kt_ratelimiter_uninit(&rl);
}

static void test_many_sources(void **state)
{
	struct kt_ratelimiter rl;
	char buf[64];

	(void)state;
	/* As many sources as entries: however the chains collide, each
	 * source keeps a bucket of its own. */
	assert_int_equal(kt_ratelimiter_init(&rl, 3000), 0);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 1500; i++) {
			snprintf(buf, sizeof(buf), "10.0.%d.%d", i / 256, i % 256);
			assert_int_equal(burst(&rl, buf, 0, 0, 6), round ? 0 : 5);
			snprintf(buf, sizeof(buf), "2001:db8:0:%x::1", i);
			assert_int_equal(burst(&rl, buf, 0, 0, 6), round ? 0 : 5);
		}
	}
	assert_int_equal(rl.live, 3000);
	kt_ratelimiter_uninit(&rl);
}

static void test_families_apart(void **state)
{
	struct kt_ratelimiter rl;

	(void)state;
	/* One entry, so one chain: the IPv6 /64 whose 64 bits equal the
	 * IPv4 address's value must still not find the IPv4 bucket. */
	assert_int_equal(kt_ratelimiter_init(&rl, 1), 0);
	assert_int_equal(burst(&rl, "192.0.2.1", 0, 0, 6), 5);
	assert_int_equal(burst(&rl, "0:0:c000:201::1", 0, 0, 6), 5);
	assert_int_equal(burst(&rl, "0:0:c000:201::2", 0, 0, 1), 0);
	kt_ratelimiter_uninit(&rl);
}

static void test_table_full(void **state)
{
	static const char *const src[] = {
		"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5",
	};
	struct kt_ratelimiter rl;

	(void)state;
	assert_int_equal(kt_ratelimiter_init(&rl, 4), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(burst(&rl, src[i], 0, 0, 6), 5);
	assert_int_equal(rl.live, 4);
	/* .2, .3, .4 are touched again (and refused), so .1 is stalest. */
	for (int i = 1; i < 4; i++)
		assert_int_equal(burst(&rl, src[i], 10, 0, 1), 0);
	/* A fifth source takes the place of .1 ... */
	assert_int_equal(burst(&rl, src[4], 10, 0, 6), 5);
	assert_int_equal(rl.live, 4);
	/* ... which, forgotten, comes back with a full bucket and pushes
	 * out .2, now the stalest; .3 and .4 keep their empty buckets. */
	assert_int_equal(burst(&rl, src[0], 10, 0, 6), 5);
	assert_int_equal(burst(&rl, src[2], 10, 0, 1), 0);
	assert_int_equal(burst(&rl, src[3], 10, 0, 1), 0);
	assert_int_equal(burst(&rl, src[4], 10, 0, 1), 0);
	assert_int_equal(rl.live, 4);
	/* One entry: every new source evicts the last. */
	kt_ratelimiter_uninit(&rl);
	assert_int_equal(kt_ratelimiter_init(&rl, 1), 0);
	assert_int_equal(burst(&rl, src[0], 0, 0, 6), 5);
	assert_int_equal(burst(&rl, src[0], 0, 0, 1), 0);
	assert_int_equal(burst(&rl, src[1], 0, 0, 6), 5);
	assert_int_equal(burst(&rl, src[0], 0, 0, 6), 5);
	assert_int_equal(rl.live, 1);
	kt_ratelimiter_uninit(&rl);
}

static void test_gc(void **state)
{
	struct kt_ratelimiter rl;

	(void)state;
	assert_int_equal(kt_ratelimiter_init(&rl, 8), 0);
	assert_int_equal(burst(&rl, "10.0.0.1", 0, 0, 6), 5);
	assert_int_equal(burst(&rl, "2001:db8::1", 500, 0, 6), 5);
	kt_ratelimiter_gc(&rl, 999);
	assert_int_equal(rl.live, 2);
	kt_ratelimiter_gc(&rl, 1000);		/* 1 s idle: gone */
	assert_int_equal(rl.live, 1);
	kt_ratelimiter_gc(&rl, 1499);
	assert_int_equal(rl.live, 1);
	kt_ratelimiter_gc(&rl, 1500);
	assert_int_equal(rl.live, 0);
	kt_ratelimiter_gc(&rl, 5000);
	assert_int_equal(rl.live, 0);

	/* A source that keeps sending, even refused, is never idle. */
	assert_int_equal(burst(&rl, "10.0.0.9", 10000, 0, 6), 5);
	for (uint64_t t = 10000; t <= 13000; t += 20) {
		burst(&rl, "10.0.0.9", t, 0, 6);
		kt_ratelimiter_gc(&rl, t + 999);
		assert_int_equal(rl.live, 1);
	}
	kt_ratelimiter_gc(&rl, 13000 + 1000);
	assert_int_equal(rl.live, 0);
	/* Freed entries are used again before anything is evicted. */
	for (int i = 0; i < 8; i++) {
		char buf[32];

		snprintf(buf, sizeof(buf), "10.1.0.%d", i);
		assert_int_equal(burst(&rl, buf, 20000, 0, 6), 5);
	}
	for (int i = 0; i < 8; i++) {
		char buf[32];

		snprintf(buf, sizeof(buf), "10.1.0.%d", i);
		assert_int_equal(burst(&rl, buf, 20000, 0, 1), 0);
	}
	assert_int_equal(rl.live, 8);
	kt_ratelimiter_uninit(&rl);
}

static void test_errors(void **state)
{
	struct kt_ratelimiter rl;
	struct kt_addr none = { 0 };

	(void)state;
	assert_int_equal(kt_ratelimiter_init(&rl, 0), -EINVAL);
	kt_ratelimiter_uninit(&rl);
	assert_int_equal(kt_ratelimiter_init(&rl, (size_t)1 << 30), -EINVAL);
	kt_ratelimiter_uninit(&rl);
	assert_int_equal(kt_ratelimiter_init(&rl, 2), 0);
	assert_false(kt_ratelimiter_allow(&rl, 0, &none));
	none.family = AF_UNIX;
	assert_false(kt_ratelimiter_allow(&rl, 0, &none));
	assert_int_equal(rl.live, 0);
	/* A clock that steps back earns nothing and breaks nothing. */
	assert_int_equal(burst(&rl, "10.0.0.1", 1000, 0, 6), 5);
	assert_int_equal(burst(&rl, "10.0.0.1", 500, 0, 1), 0);
	assert_int_equal(burst(&rl, "10.0.0.1", 1049, 0, 1), 0);
	assert_int_equal(burst(&rl, "10.0.0.1", 1050, 0, 2), 1);
	kt_ratelimiter_uninit(&rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_many_sources),
		cmocka_unit_test(test_families_apart),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_gc),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests_name("ratelimiter", tests, NULL, NULL);
}
