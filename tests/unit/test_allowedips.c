#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "allowedips.h"
#include "unit.h"

/* Peers are only compared by address; slot 0 stands for "no peer". */
#define NPEERS 400
static char peers[NPEERS + 1];
#define PEER(i) ((i) ? (void *)&peers[i] : NULL)

enum { END, INSERT, REMOVE, REMOVE_PEER, LOOKUP, COUNT };

struct op {
	int kind;
	const char *s;	/* prefix, or address for LOOKUP */
	int v;		/* peer, expected peer, error or count */
};

static const struct {
	const char *name;
	struct op ops[24];
} cases[] = {
	{ "overlapping", {
		{ INSERT, "10.0.0.0/8", 1 }, { INSERT, "10.1.0.0/16", 2 },
		{ INSERT, "10.1.1.0/24", 3 }, { INSERT, "10.1.1.128/25", 4 },
		{ INSERT, "192.168.0.0/16", 5 },
		{ LOOKUP, "10.2.3.4", 1 }, { LOOKUP, "10.1.2.3", 2 },
		{ LOOKUP, "10.1.1.1", 3 }, { LOOKUP, "10.1.1.127", 3 },
		{ LOOKUP, "10.1.1.128", 4 }, { LOOKUP, "10.1.1.255", 4 },
		{ LOOKUP, "11.0.0.1", 0 }, { LOOKUP, "9.255.255.255", 0 },
		{ LOOKUP, "192.168.255.255", 5 }, { LOOKUP, "192.169.0.0", 0 },
		{ COUNT, NULL, 5 } } },
	{ "inserted longest first", {
		{ INSERT, "10.1.1.128/25", 4 }, { INSERT, "10.1.1.0/24", 3 },
		{ INSERT, "10.1.0.0/16", 2 }, { INSERT, "10.0.0.0/8", 1 },
		{ LOOKUP, "10.2.3.4", 1 }, { LOOKUP, "10.1.2.3", 2 },
		{ LOOKUP, "10.1.1.1", 3 }, { LOOKUP, "10.1.1.200", 4 } } },
	{ "default routes", {
		{ INSERT, "0.0.0.0/0", 1 }, { INSERT, "::/0", 2 },
		{ INSERT, "10.0.0.0/8", 3 }, { INSERT, "2001:db8::/32", 4 },
		{ LOOKUP, "8.8.8.8", 1 }, { LOOKUP, "0.0.0.0", 1 },
		{ LOOKUP, "255.255.255.255", 1 }, { LOOKUP, "10.9.9.9", 3 },
		{ LOOKUP, "2001:db8:ffff::1", 4 }, { LOOKUP, "2001:db9::1", 2 },
		{ LOOKUP, "::", 2 }, { REMOVE, "0.0.0.0/0", 0 },
		{ LOOKUP, "8.8.8.8", 0 }, { LOOKUP, "10.9.9.9", 3 },
		{ COUNT, NULL, 3 } } },
	{ "hosts", {
		{ INSERT, "192.0.2.1/32", 1 }, { INSERT, "192.0.2.0/31", 2 },
		{ INSERT, "2001:db8::1/128", 3 }, { INSERT, "2001:db8::/127", 4 },
		{ INSERT, "0.0.0.0/32", 5 }, { INSERT, "255.255.255.255/32", 6 },
		{ INSERT, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 7 },
		{ LOOKUP, "192.0.2.1", 1 }, { LOOKUP, "192.0.2.0", 2 },
		{ LOOKUP, "192.0.2.2", 0 }, { LOOKUP, "2001:db8::1", 3 },
		{ LOOKUP, "2001:db8::", 4 }, { LOOKUP, "2001:db8::2", 0 },
		{ LOOKUP, "0.0.0.0", 5 }, { LOOKUP, "0.0.0.1", 0 },
		{ LOOKUP, "255.255.255.255", 6 }, { LOOKUP, "255.255.255.254", 0 },
		{ LOOKUP, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 7 },
		{ LOOKUP, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 0 } } },
	{ "host bits masked", {
		{ INSERT, "10.1.2.3/8", 1 }, { INSERT, "2001:db8:aaaa::1/32", 2 },
		{ INSERT, "192.0.2.255/25", 3 },
		{ LOOKUP, "10.200.0.0", 1 }, { LOOKUP, "2001:db8::", 2 },
		{ LOOKUP, "192.0.2.128", 3 }, { LOOKUP, "192.0.2.127", 0 },
		/* The same prefix however its host bits are written. */
		{ INSERT, "10.9.9.9/8", 4 }, { LOOKUP, "10.1.2.3", 4 },
		{ COUNT, NULL, 3 }, { REMOVE, "10.255.0.0/8", 0 },
		{ LOOKUP, "10.1.2.3", 0 }, { COUNT, NULL, 2 } } },
	{ "replace moves to the new peer", {
		{ INSERT, "10.0.0.0/8", 1 }, { INSERT, "10.0.0.0/16", 1 },
		{ INSERT, "10.0.0.0/8", 2 }, { LOOKUP, "10.9.0.1", 2 },
		{ LOOKUP, "10.0.0.1", 1 }, { COUNT, NULL, 2 },
		{ INSERT, "10.0.0.0/8", 2 }, { COUNT, NULL, 2 },
		{ REMOVE_PEER, NULL, 1 }, { LOOKUP, "10.0.0.1", 2 },
		{ COUNT, NULL, 1 } } },
	{ "remove", {
		{ INSERT, "10.0.0.0/24", 1 }, { INSERT, "10.0.1.0/24", 2 },
		{ INSERT, "10.0.0.0/16", 3 },
		/* 10.0.0.0/23 exists only as the branch point of the two /24s. */
		{ REMOVE, "10.0.0.0/23", -ENOENT }, { REMOVE, "10.0.2.0/24", -ENOENT },
		{ REMOVE, "10.0.0.0/25", -ENOENT }, { REMOVE, "10.0.0.0/8", -ENOENT },
		{ COUNT, NULL, 3 },
		{ REMOVE, "10.0.0.0/24", 0 }, { REMOVE, "10.0.0.0/24", -ENOENT },
		{ LOOKUP, "10.0.0.1", 3 }, { LOOKUP, "10.0.1.1", 2 },
		{ REMOVE, "10.0.0.0/16", 0 }, { LOOKUP, "10.0.0.1", 0 },
		{ LOOKUP, "10.0.1.1", 2 }, { REMOVE, "10.0.1.0/24", 0 },
		{ LOOKUP, "10.0.1.1", 0 }, { COUNT, NULL, 0 },
		{ INSERT, "10.0.1.0/24", 4 }, { LOOKUP, "10.0.1.1", 4 } } },
	{ "remove_peer leaves the others", {
		{ INSERT, "10.0.0.0/8", 1 }, { INSERT, "10.1.0.0/16", 2 },
		{ INSERT, "10.1.1.0/24", 1 }, { INSERT, "10.1.1.1/32", 3 },
		{ INSERT, "2001:db8::/32", 1 }, { INSERT, "2001:db8:1::/48", 2 },
		{ INSERT, "172.16.0.0/12", 1 },
		{ REMOVE_PEER, NULL, 1 }, { COUNT, NULL, 3 },
		{ LOOKUP, "10.2.0.0", 0 }, { LOOKUP, "10.1.1.2", 2 },
		{ LOOKUP, "10.1.1.1", 3 }, { LOOKUP, "10.1.2.1", 2 },
		{ LOOKUP, "2001:db8::1", 0 }, { LOOKUP, "2001:db8:1::1", 2 },
		{ LOOKUP, "172.16.0.1", 0 }, { REMOVE_PEER, NULL, 1 },
		{ COUNT, NULL, 3 }, { REMOVE_PEER, NULL, 2 },
		{ REMOVE_PEER, NULL, 3 }, { COUNT, NULL, 0 },
		{ LOOKUP, "10.1.1.1", 0 } } },
	{ "IPv4-mapped is not IPv4", {
		{ INSERT, "10.0.0.0/8", 1 }, { LOOKUP, "::ffff:10.0.0.1", 0 },
		{ INSERT, "::ffff:0:0/96", 2 }, { LOOKUP, "::ffff:10.0.0.1", 2 },
		{ LOOKUP, "10.0.0.1", 1 }, { INSERT, "::/0", 3 },
		{ LOOKUP, "11.0.0.1", 0 }, { LOOKUP, "::a00:1", 3 },
		{ REMOVE, "::ffff:10.0.0.0/104", -ENOENT },
		{ REMOVE, "::ffff:0:0/96", 0 }, { LOOKUP, "10.0.0.1", 1 },
		{ LOOKUP, "::ffff:10.0.0.1", 3 } } },
};

static struct kt_prefix prefix(const char *s)
{
	struct kt_prefix p;

	if (!kt_prefix_parse(s, &p))
		fail_msg("bad prefix in the test: %s", s);
	return p;
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kt_allowedips a;

		assert_int_equal(kt_allowedips_init(&a), 0);
		for (const struct op *o = cases[i].ops; o->kind != END; o++) {
			struct kt_prefix p;
			struct kt_addr addr;
			int r;

			switch (o->kind) {
			case INSERT:
				p = prefix(o->s);
				r = kt_allowedips_insert(&a, &p, PEER(o->v));
				if (r)
					fail_msg("%s: insert %s: %d",
						 cases[i].name, o->s, r);
				break;
			case REMOVE:
				p = prefix(o->s);
				r = kt_allowedips_remove(&a, &p);
				if (r != o->v)
					fail_msg("%s: remove %s: %d",
						 cases[i].name, o->s, r);
				break;
			case REMOVE_PEER:
				kt_allowedips_remove_peer(&a, PEER(o->v));
				break;
			case LOOKUP:
				assert_true(kt_addr_parse(o->s, &addr));
				if (kt_allowedips_lookup(&a, addr.family,
							 addr.bytes) != PEER(o->v))
					fail_msg("%s: lookup %s: not peer %d",
						 cases[i].name, o->s, o->v);
				break;
			case COUNT:
				if (kt_allowedips_count(&a) != (size_t)o->v)
					fail_msg("%s: count %zu, not %d",
						 cases[i].name,
						 kt_allowedips_count(&a), o->v);
				break;
			}
		}
		kt_allowedips_uninit(&a);
	}
}

static void test_errors(void **state)
{
	struct kt_allowedips a;
	struct kt_prefix p = prefix("10.0.0.0/8");
	static const uint8_t any[16];

	(void)state;
	assert_int_equal(kt_allowedips_init(&a), 0);
	assert_int_equal(kt_allowedips_insert(&a, &p, NULL), -EINVAL);
	p.len = 33;
	assert_int_equal(kt_allowedips_insert(&a, &p, PEER(1)), -EINVAL);
	assert_int_equal(kt_allowedips_remove(&a, &p), -EINVAL);
	p = prefix("2001:db8::/32");
	p.len = 129;
	assert_int_equal(kt_allowedips_insert(&a, &p, PEER(1)), -EINVAL);
	p.addr.family = AF_UNIX;
	p.len = 8;
	assert_int_equal(kt_allowedips_insert(&a, &p, PEER(1)), -EAFNOSUPPORT);
	assert_int_equal(kt_allowedips_remove(&a, &p), -EAFNOSUPPORT);
	assert_int_equal(kt_allowedips_count(&a), 0);
	p = prefix("0.0.0.0/0");
	assert_int_equal(kt_allowedips_insert(&a, &p, PEER(1)), 0);
	assert_null(kt_allowedips_lookup(&a, AF_UNIX, any));
	assert_null(kt_allowedips_lookup(&a, 0, any));
	assert_null(kt_allowedips_lookup(&a, AF_INET, NULL));
	assert_ptr_equal(kt_allowedips_lookup(&a, AF_INET, any), PEER(1));
	/* Nothing happens for the NULL peer, which no prefix can have. */
	kt_allowedips_remove_peer(&a, NULL);
	assert_int_equal(kt_allowedips_count(&a), 1);
	kt_allowedips_uninit(&a);
	/* And the table is usable again after uninit + init. */
	assert_int_equal(kt_allowedips_init(&a), 0);
	assert_null(kt_allowedips_lookup(&a, AF_INET, any));
	kt_allowedips_uninit(&a);
}

struct collected {
	char s[16][KT_PREFIX_STRLEN];
	size_t n;
};

static void collect(void *arg, const struct kt_prefix *p)
{
	struct collected *c = arg;

	assert_true(c->n < ARRAY_SIZE(c->s));
	kt_prefix_str(p, c->s[c->n++], KT_PREFIX_STRLEN);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_walk_peer(void **state)
{
	static const struct {
		const char *prefix;
		int peer;
	} ins[] = {
		{ "10.0.0.0/8", 1 }, { "10.1.0.0/16", 2 }, { "10.1.1.7/24", 1 },
		{ "2001:db8::/32", 1 }, { "2001:db8:1::/48", 2 },
		{ "0.0.0.0/0", 1 }, { "::ffff:10.0.0.0/104", 1 },
		{ "192.0.2.9/32", 1 }, { "198.51.100.0/24", 3 },
	};
	static const char *const want[] = {
		"0.0.0.0/0", "10.0.0.0/8", "10.1.1.0/24", "192.0.2.9/32",
		"2001:db8::/32", "::ffff:10.0.0.0/104",
	};
	struct collected c = { 0 };
	struct kt_allowedips a;

	(void)state;
	assert_int_equal(kt_allowedips_init(&a), 0);
	for (size_t i = 0; i < ARRAY_SIZE(ins); i++) {
		struct kt_prefix p = prefix(ins[i].prefix);

		assert_int_equal(kt_allowedips_insert(&a, &p,
						      PEER(ins[i].peer)), 0);
	}
	kt_allowedips_walk_peer(&a, PEER(1), collect, &c);
	qsort(c.s, c.n, sizeof(c.s[0]), cmp_str);
	assert_int_equal(c.n, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		assert_string_equal(c.s[i], want[i]);

	memset(&c, 0, sizeof(c));
	kt_allowedips_walk_peer(&a, PEER(4), collect, &c);
	assert_int_equal(c.n, 0);
	kt_allowedips_remove_peer(&a, PEER(2));
	kt_allowedips_walk_peer(&a, PEER(3), collect, &c);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.s[0], "198.51.100.0/24");
	kt_allowedips_uninit(&a);
}

/* --- randomized, against a list scanned in full for every lookup --- */

#define NPREFIX 10000
#define NLOOKUP 100000

struct ref {
	uint64_t key[NPREFIX][2], mask[NPREFIX][2];
	uint8_t len[NPREFIX];
	int peer[NPREFIX];
	size_t n;
};

static struct ref ref;
static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64, fixed seed: the same run every time */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The reference keeps its own plain copy of the address bits. */
static void to_words(const uint8_t *b, size_t n, uint64_t w[2])
{
	w[0] = w[1] = 0;
	for (size_t i = 0; i < n; i++)
		w[i / 8] |= (uint64_t)b[i] << (56 - 8 * (i % 8));
}

static void len_mask(unsigned len, uint64_t m[2])
{
	for (unsigned i = 0; i < 2; i++) {
		unsigned here = len > 64 * i ? len - 64 * i : 0;

		m[i] = here >= 64 ? ~0ULL : here ? ~0ULL << (64 - here) : 0;
	}
}

static void ref_insert(const struct kt_prefix *p, size_t bytes, int peer)
{
	uint64_t k[2], m[2];
	size_t i;

	to_words(p->addr.bytes, bytes, k);
	len_mask(p->len, m);
	k[0] &= m[0];
	k[1] &= m[1];
	for (i = 0; i < ref.n; i++)
		if (ref.len[i] == p->len && ref.key[i][0] == k[0] &&
		    ref.key[i][1] == k[1])
			break;
	if (i == ref.n) {
		ref.n++;
		ref.key[i][0] = k[0];
		ref.key[i][1] = k[1];
		ref.mask[i][0] = m[0];
		ref.mask[i][1] = m[1];
		ref.len[i] = p->len;
	}
	ref.peer[i] = peer;
}

static void ref_drop(size_t i)
{
	ref.n--;
	ref.key[i][0] = ref.key[ref.n][0];
	ref.key[i][1] = ref.key[ref.n][1];
	ref.mask[i][0] = ref.mask[ref.n][0];
	ref.mask[i][1] = ref.mask[ref.n][1];
	ref.len[i] = ref.len[ref.n];
	ref.peer[i] = ref.peer[ref.n];
}

static int ref_lookup(const uint8_t *addr, size_t bytes, int *len)
{
	uint64_t k[2];
	int best = 0, best_len = -1;

	to_words(addr, bytes, k);
	for (size_t i = 0; i < ref.n; i++) {
		if (((k[0] ^ ref.key[i][0]) & ref.mask[i][0]) |
		    ((k[1] ^ ref.key[i][1]) & ref.mask[i][1]))
			continue;
		if (ref.len[i] > best_len) {
			best_len = ref.len[i];
			best = ref.peer[i];
		}
	}
	*len = best_len;
	return best;
}

static void ref_prefix(size_t i, int family, struct kt_prefix *p)
{
	memset(p, 0, sizeof(*p));
	p->addr.family = family;
	p->len = ref.len[i];
	for (size_t j = 0; j < 16; j++)
		p->addr.bytes[j] =
			(uint8_t)(ref.key[i][j / 8] >> (56 - 8 * (j % 8)));
}

/* Random bits after the first `keep` of base: prefixes that nest and
 * share branches, as real allowed IPs do, and not only disjoint ones. */
static void random_addr(const uint8_t *base, size_t bytes, unsigned keep,
			uint8_t *out)
{
	for (size_t i = 0; i < bytes; i++) {
		unsigned from = 8 * (unsigned)i;
		unsigned k = keep <= from ? 0 : keep >= from + 8 ? 8 : keep - from;
		uint8_t r = (uint8_t)rnd(), fixed = (uint8_t)(0xff00 >> k);

		out[i] = (uint8_t)((base[i] & fixed) | (r & ~fixed));
	}
}

struct tally {
	unsigned miss, hit, deep;	/* deep: matched more than half the bits */
};

static void random_lookups(struct kt_allowedips *a, int family, size_t bytes,
			   const uint8_t bases[][16], size_t nbases, unsigned n,
			   struct tally *t)
{
	for (unsigned j = 0; j < n; j++) {
		uint8_t addr[16];
		uint64_t x = rnd();
		int want, len;
		void *got;

		if (x % 4 == 0 || !ref.n) {
			random_addr(bases[0], bytes, 0, addr);
		} else if (x % 4 == 1) {
			random_addr(bases[(x >> 8) % nbases], bytes,
				    (unsigned)((x >> 16) % (bytes * 8 + 1)), addr);
		} else {
			/* Inside a stored prefix, or one of its neighbours. */
			struct kt_prefix p;
			size_t i = (x >> 8) % ref.n;

			ref_prefix(i, family, &p);
			random_addr(p.addr.bytes, bytes, p.len, addr);
			/* Half the time, flip its last bit: a near miss. */
			if (x & (1ULL << 40) && p.len) {
				unsigned last = p.len - 1u;

				addr[last / 8] ^= (uint8_t)(0x80 >> (last % 8));
			}
		}
		want = ref_lookup(addr, bytes, &len);
		got = kt_allowedips_lookup(a, family, addr);
		if (got != PEER(want)) {
			char buf[KT_PREFIX_STRLEN];
			struct kt_addr ka = { .family = family };

			memcpy(ka.bytes, addr, bytes);
			fail_msg("lookup %s: want peer %d, got %ld",
				 kt_addr_str(&ka, buf, sizeof(buf)), want,
				 got ? (long)((char *)got - peers) : 0L);
		}
		t->miss += len < 0;
		t->hit += len >= 0;
		t->deep += len > (int)bytes * 4;
	}
}

struct walk_check {
	size_t n;
	int peer;
	int family;
};

static void walk_seen(void *arg, const struct kt_prefix *p)
{
	struct walk_check *w = arg;
	size_t bytes = p->addr.family == AF_INET6 ? 16 : 4;
	uint64_t k[2];
	size_t i;

	assert_int_equal(p->addr.family, w->family);
	to_words(p->addr.bytes, bytes, k);
	for (i = 0; i < ref.n; i++)
		if (ref.len[i] == p->len && ref.key[i][0] == k[0] &&
		    ref.key[i][1] == k[1])
			break;
	assert_true(i < ref.n);
	assert_int_equal(ref.peer[i], w->peer);
	w->n++;
}

static void random_family(int family, uint64_t seed, unsigned min_len)
{
	size_t bytes = family == AF_INET6 ? 16 : 4;
	unsigned bits = (unsigned)bytes * 8;
	struct tally t = { 0 };
	uint8_t bases[32][16];
	struct kt_allowedips a;

	rng_state = seed;
	memset(&ref, 0, sizeof(ref));
	for (size_t i = 0; i < ARRAY_SIZE(bases); i++)
		random_addr(bases[0], 16, 0, bases[i]);
	assert_int_equal(kt_allowedips_init(&a), 0);

	for (unsigned j = 0; j < NPREFIX; j++) {
		struct kt_prefix p = { .addr.family = family };
		uint64_t x = rnd();
		unsigned len = min_len + (unsigned)(x % (bits - min_len + 1));
		/* Host bits left in on purpose: the table must ignore them. */
		unsigned keep = (unsigned)((x >> 16) % (len + 1));
		int peer = 1 + (int)((x >> 32) % NPEERS);

		p.len = (uint8_t)len;
		random_addr(bases[(x >> 24) % ARRAY_SIZE(bases)], bytes, keep,
			    p.addr.bytes);
		assert_int_equal(kt_allowedips_insert(&a, &p, PEER(peer)), 0);
		ref_insert(&p, bytes, peer);
	}
	assert_int_equal(kt_allowedips_count(&a), ref.n);
	random_lookups(&a, family, bytes, bases, ARRAY_SIZE(bases),
		       NLOOKUP / 2, &t);

	/* Then take a third away one by one, two peers whole, re-point
	 * some to other peers, and look again. */
	for (unsigned j = 0; j < NPREFIX / 3 && ref.n; j++) {
		struct kt_prefix p;
		size_t i = rnd() % ref.n;

		ref_prefix(i, family, &p);
		assert_int_equal(kt_allowedips_remove(&a, &p), 0);
		assert_int_equal(kt_allowedips_remove(&a, &p), -ENOENT);
		ref_drop(i);
	}
	for (int peer = 1; peer <= 2; peer++) {
		kt_allowedips_remove_peer(&a, PEER(peer));
		for (size_t i = 0; i < ref.n;)
			if (ref.peer[i] == peer)
				ref_drop(i);
			else
				i++;
	}
	for (unsigned j = 0; j < NPREFIX / 10 && ref.n; j++) {
		struct kt_prefix p;
		size_t i = rnd() % ref.n;
		int peer = 3 + (int)(rnd() % (NPEERS - 2));

		ref_prefix(i, family, &p);
		assert_int_equal(kt_allowedips_insert(&a, &p, PEER(peer)), 0);
		ref_insert(&p, bytes, peer);
	}
	assert_int_equal(kt_allowedips_count(&a), ref.n);
	random_lookups(&a, family, bytes, bases, ARRAY_SIZE(bases),
		       NLOOKUP / 2, &t);
	/* Guard against a run that agrees only because nothing matched. */
	assert_true(t.deep > NLOOKUP / 10);
	if (min_len) {
		assert_true(t.miss > NLOOKUP / 20);
		assert_true(t.hit > NLOOKUP / 20);
	}

	for (int peer = 1; peer <= 8; peer++) {
		struct walk_check w = { .peer = peer, .family = family };
		size_t want = 0;

		for (size_t i = 0; i < ref.n; i++)
			want += ref.peer[i] == peer;
		kt_allowedips_walk_peer(&a, PEER(peer), walk_seen, &w);
		assert_int_equal(w.n, want);
	}
	/* Emptied, either way, the trie must not keep branch points that
	 * join nothing. */
	if (min_len) {
		for (int peer = 1; peer <= NPEERS; peer++)
			kt_allowedips_remove_peer(&a, PEER(peer));
	} else {
		while (ref.n) {
			struct kt_prefix p;

			ref_prefix(ref.n - 1, family, &p);
			assert_int_equal(kt_allowedips_remove(&a, &p), 0);
			ref.n--;
		}
	}
	assert_int_equal(kt_allowedips_count(&a), 0);
	assert_null(a.root[0]);
	assert_null(a.root[1]);
	kt_allowedips_uninit(&a);
}

static void test_random_ipv4(void **state)
{
	(void)state;
	/* With short prefixes down to /0, then with no prefix shorter than
	 * a quarter of the address, where many lookups find nothing. */
	random_family(AF_INET, 4, 0);
	random_family(AF_INET, 40, 8);
}

static void test_random_ipv6(void **state)
{
	(void)state;
	random_family(AF_INET6, 6, 0);
	random_family(AF_INET6, 60, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_walk_peer),
		cmocka_unit_test(test_random_ipv4),
		cmocka_unit_test(test_random_ipv6),
	};
	return cmocka_run_group_tests_name("allowedips", tests, NULL, NULL);
}
