#include <stdbool.h>
#include <string.h>

#include "replay.h"
#include "unit.h"

/* REJECT_AFTER_MESSAGES of the whitepaper (§6.1): 2^64 - 2^13 - 1. */
#define REJECT_AFTER (UINT64_MAX - (1ULL << 13))
#define W KT_REPLAY_WINDOW
#define RING ((uint64_t)KT_REPLAY_BITS)
#define B ((uint64_t)KT_REPLAY_WORD_BITS)

struct step {
	uint64_t counter;
	bool ok;
};

static const struct {
	const char *name;
	uint64_t limit;
	struct step steps[16];
	size_t n;
} cases[] = {
	{ "in order", REJECT_AFTER,
	  { { 0, true }, { 1, true }, { 2, true }, { 3, true }, { 4, true } }, 5 },
	{ "counter 0", REJECT_AFTER,
	  { { 0, true }, { 0, false }, { 1, true }, { 0, false } }, 4 },
	{ "first is not 0", REJECT_AFTER,
	  { { 7, true }, { 0, true }, { 7, false }, { 0, false }, { 6, true } }, 5 },
	{ "reordered", REJECT_AFTER,
	  { { 2, true }, { 1, true }, { 0, true }, { 5, true }, { 3, true },
	    { 4, true }, { 3, false }, { 6, true } }, 8 },
	{ "duplicates", REJECT_AFTER,
	  { { 10, true }, { 10, false }, { 9, true }, { 9, false },
	    { 11, true }, { 10, false }, { 11, false } }, 7 },
	{ "window edge", REJECT_AFTER,
	  { { W + 10, true }, { 10, true }, { 9, false }, { 10, false },
	    { 11, true }, { W + 9, true }, { W + 11, true }, { 10, false },
	    { 11, false } }, 9 },
	{ "jump past the window", REJECT_AFTER,
	  { { 1, true }, { 1 + 5 * W, true }, { 1, false }, { 2, false },
	    { 5 * W, true }, { 5 * W - W + 1, true }, { 5 * W - W, false } }, 7 },
	/* Same ring slot and bit as an earlier counter: the slide must have
	 * cleared it. */
	{ "jump of one ring", REJECT_AFTER,
	  { { 100, true }, { 100 + RING, true }, { 100, false },
	    { 100 + RING, false }, { 101 + RING, true },
	    { 99 + RING, true }, { 100 + 2 * RING, true },
	    { 99 + 2 * RING, true }, { 99 + RING, false } }, 9 },
	/* Lands one word past a ring: the word just above the old top and
	 * the ring's first word are new, the one at 2B still in the window. */
	{ "jump just past a ring", REJECT_AFTER,
	  { { 10, true }, { 2 * B + 5, true }, { RING + B + 3, true },
	    { 2 * B + 5, false }, { 2 * B + 4, true }, { 10, false },
	    { B + 3, false }, { RING + 10, true }, { RING + B + 3, false } },
	  9 },
	/* Many rings ahead, onto the slot and bit of the old counter. */
	{ "huge jump", REJECT_AFTER,
	  { { 3, true }, { (1ULL << 62) + 3, true }, { 3, false },
	    { (1ULL << 62) + 2, true }, { (1ULL << 62) + 3 - W, true },
	    { (1ULL << 62) + 2 - W, false }, { (1ULL << 62) + 3, false } },
	  7 },
	{ "small limit", 100,
	  { { 98, true }, { 99, true }, { 100, false }, { 101, false },
	    { 50, true }, { 99, false } }, 6 },
	{ "limit 0", 0, { { 0, false }, { 1, false } }, 2 },
	{ "limit of the protocol", REJECT_AFTER,
	  { { REJECT_AFTER - 2, true }, { REJECT_AFTER, false },
	    { UINT64_MAX, false }, { REJECT_AFTER - 1, true },
	    { REJECT_AFTER - 1, false }, { REJECT_AFTER - 1 - W, true },
	    { REJECT_AFTER - 2 - W, false } }, 7 },
	{ "top of the counter", UINT64_MAX,
	  { { UINT64_MAX - 1, true }, { UINT64_MAX, false }, { 0, false },
	    { UINT64_MAX - 1 - W, true }, { UINT64_MAX - 2, true } }, 5 },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kt_replay r;

		kt_replay_init(&r);
		for (size_t j = 0; j < cases[i].n; j++) {
			const struct step *s = &cases[i].steps[j];
			bool ok = kt_replay_accept(&r, s->counter, cases[i].limit);

			if (ok != s->ok)
				fail_msg("%s, step %zu: counter %llu gave %d",
					 cases[i].name, j,
					 (unsigned long long)s->counter, ok);
		}
	}
}

static void test_window_depth(void **state)
{
	struct kt_replay r;

	(void)state;
	assert_true(W >= 2000);
	kt_replay_init(&r);
	/* Everything the window covers, newest first, then all again. */
	assert_true(kt_replay_accept(&r, W + 5, REJECT_AFTER));
	for (uint64_t c = W + 4; c >= 5; c--)
		if (!kt_replay_accept(&r, c, REJECT_AFTER))
			fail_msg("counter %llu refused", (unsigned long long)c);
	assert_false(kt_replay_accept(&r, 4, REJECT_AFTER));
	for (uint64_t c = 5; c <= W + 5; c++)
		if (kt_replay_accept(&r, c, REJECT_AFTER))
			fail_msg("counter %llu accepted twice",
				 (unsigned long long)c);
}

/* The reference: a set of every counter accepted, and the window rule. */
#define SET_SLOTS (1u << 18)
#define EMPTY UINT64_MAX	/* never accepted: limit <= UINT64_MAX */

static uint64_t set[SET_SLOTS];

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static void set_add(uint64_t c)
{
	uint32_t i = (uint32_t)mix(c);

	while (set[i & (SET_SLOTS - 1)] != EMPTY)
		i++;
	set[i & (SET_SLOTS - 1)] = c;
}

static bool set_has(uint64_t c)
{
	for (uint32_t i = (uint32_t)mix(c);; i++) {
		uint64_t s = set[i & (SET_SLOTS - 1)];

		if (s == c)
			return true;
		if (s == EMPTY)
			return false;
	}
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64: fixed seed, the same sequence every run */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t sub_floor(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

enum { ACCEPTED, DUPLICATE, TOO_OLD, OVER_LIMIT, OUTCOMES };

static void run_random(uint64_t seed, uint64_t limit, unsigned out[OUTCOMES])
{
	struct kt_replay r;
	uint64_t greatest = 0, recent[64] = { 0 };
	unsigned nrecent = 0;
	bool any = false;

	rng_state = seed;
	for (size_t i = 0; i < SET_SLOTS; i++)
		set[i] = EMPTY;
	memset(out, 0, OUTCOMES * sizeof(out[0]));
	kt_replay_init(&r);
	for (unsigned n = 0; n < 100000; n++) {
		uint64_t x = rnd(), pick = x % 1000, c;
		int want;
		bool got;

		x >>= 10;
		if (pick < 400)		/* ahead, by a little */
			c = greatest + 1 + x % 4;
		else if (pick < 600)	/* late, sometimes beyond the window */
			c = sub_floor(greatest, x % (W + W / 4));
		else if (pick < 800)	/* one of the last accepted again */
			c = recent[(nrecent - 1 - x % 8) % 64];
		else if (pick < 900)	/* about the window's edge */
			c = sub_floor(greatest, W - 2 + x % 5);
		else if (pick < 950)	/* whole rings ahead, give or take */
			c = greatest + RING * (1 + x % 3) - 3 + (x >> 8) % 7;
		else if (pick < 999)	/* far ahead */
			c = greatest + x % 100000;
		else			/* very far ahead */
			c = greatest + (x & ((1ULL << 40) - 1));

		if (c >= limit)
			want = OVER_LIMIT;
		else if (any && c < greatest && greatest - c > W)
			want = TOO_OLD;
		else if (set_has(c))
			want = DUPLICATE;
		else
			want = ACCEPTED;
		got = kt_replay_accept(&r, c, limit);
		if (got != (want == ACCEPTED))
			fail_msg("step %u: counter %llu (greatest %llu): got %d",
				 n, (unsigned long long)c,
				 (unsigned long long)greatest, got);
		out[want]++;
		if (want == ACCEPTED) {
			set_add(c);
			recent[nrecent++ % 64] = c;
			if (!any || c > greatest)
				greatest = c;
			any = true;
		}
	}
}

static void test_random_reference(void **state)
{
	unsigned out[OUTCOMES];

	(void)state;
	for (uint64_t seed = 1; seed <= 2; seed++) {
		run_random(seed, REJECT_AFTER, out);
		/* The mix must exercise every outcome, not only agree. */
		assert_true(out[ACCEPTED] > 10000);
		assert_true(out[DUPLICATE] > 10000);
		assert_true(out[TOO_OLD] > 5000);
	}
}

static void test_random_small_limit(void **state)
{
	unsigned out[OUTCOMES];

	(void)state;
	/* Reached early: above it everything is refused, below it the
	 * window still decides. */
	run_random(3, 40000000, out);
	assert_true(out[ACCEPTED] > 5000);
	assert_true(out[OVER_LIMIT] > 10000);
	assert_true(out[DUPLICATE] + out[TOO_OLD] > 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_window_depth),
		cmocka_unit_test(test_random_reference),
		cmocka_unit_test(test_random_small_limit),
	};
	return cmocka_run_group_tests_name("replay", tests, NULL, NULL);
}
