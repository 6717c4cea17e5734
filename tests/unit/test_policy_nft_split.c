/* Flows made disjoint for the kernel's interval maps (policy/nft.c),
 * checked against the flows themselves.
 *
 * Random policies (fixed seeds) are built in memory: segments and host
 * groups with overlapping prefixes in a small address space, both
 * families, flows between segments, host groups, the box and the internet
 * line, tcp/udp with port ranges, icmp, any, logged or not. For many
 * points of each map's key space, at the edges of every prefix, port
 * range and produced element and at random, the verdict a brute-force
 * classifier gives from the flows (no match, accept, log-accept: a logged
 * flow wins) must equal what a lookup in the map's elements gives, and no
 * point may lie in two elements. The classifier follows the key table of
 * docs/policy.md, not the compiler's code. The element count is compared
 * with the pairwise cutting the compiler used before (kept here as the
 * reference), so that splitting faster does not mean more elements. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "unit.h"
#include "nft.h"
#include "nft-test.h"
#include "policy.h"

/* --- a small random generator (xorshift64*), fixed seeds --- */

static uint64_t rng;

static uint32_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 2685821657736338717ull) >> 32);
}

static unsigned below(unsigned n)
{
	return rnd() % n;
}

static void seed(uint64_t s)
{
	rng = s * 0x9e3779b97f4a7c15ull + 1;
	for (int i = 0; i < 4; i++)
		rnd();
}

/* A prefix, or an address as a host route. */
static void pfx(const char *s, struct kt_prefix *p)
{
	struct kt_addr a;

	if (strchr(s, '/') ? !kt_prefix_parse(s, p) : !kt_addr_parse(s, &a))
		fail_msg("bad prefix %s", s);
	if (!strchr(s, '/'))
		kt_prefix_host(&a, p);
}

/* --- random policies --- */

static const char *const if_pool[] = { "lan1", "lan2", "lan3", "kt0", "mg0" };
static const char *const line_pool[] = { "wan1", "wan2", "wan3" };

/* In 10.0.0.0/22 or fd00::/118, mostly: prefixes there overlap often. */
static void rand_prefix(int fam, struct kt_prefix *p)
{
	size_t n = fam == AF_INET ? 4 : 16;
	unsigned low = below(1024), wide = below(20);

	memset(p, 0, sizeof(*p));
	p->addr.family = fam;
	if (fam == AF_INET) {
		p->addr.bytes[0] = 10;
		p->len = (uint8_t)(wide == 0 ? 16 : 22 + below(11));
	} else {
		p->addr.bytes[0] = 0xfd;
		p->len = (uint8_t)(wide == 0 ? 64 : 118 + below(11));
	}
	p->addr.bytes[n - 2] = (uint8_t)(low >> 8);
	p->addr.bytes[n - 1] = (uint8_t)low;
	for (size_t i = 0; i < n; i++) {
		unsigned keep = p->len >= (i + 1) * 8 ? 8
			: p->len > i * 8 ? p->len - i * 8 : 0;

		p->addr.bytes[i] &= (uint8_t)(0xff00u >> keep);
	}
}

static void rand_prefixes(struct kt_prefix *out, size_t *n, size_t max)
{
	*n = 1 + below((unsigned)max);
	for (size_t i = 0; i < *n; i++)
		rand_prefix(below(3) ? AF_INET : AF_INET6, &out[i]);
}

static void rand_ports(struct kt_pol_flow *f)
{
	size_t want = 1 + below(3);

	f->n_ports = 0;
	for (size_t t = 0; t < 8 && f->n_ports < want; t++) {
		static const uint16_t special[] = { 1, 22, 80, 443, 65535 };
		struct kt_pol_range r;
		bool clash = false;

		if (below(12) == 0) {
			r.lo = 1;
			r.hi = 65535;
		} else {
			unsigned w = below(10);

			r.lo = below(3) ? (uint16_t)(1 + below(40))
				: special[below(ARRAY_SIZE(special))];
			r.hi = r.lo + w > 65535 ? 65535 : (uint16_t)(r.lo + w);
		}
		/* The parser refuses ranges of one flow that overlap. */
		for (size_t j = 0; j < f->n_ports; j++)
			clash |= r.lo <= f->ports[j].hi && f->ports[j].lo <= r.hi;
		if (!clash)
			f->ports[f->n_ports++] = r;
	}
}

static void rand_ep(struct kt_policy *p, struct kt_pol_ep *e, bool may_box,
		    bool may_line)
{
	unsigned k = below(10);

	memset(e, 0, sizeof(*e));
	if (may_line && k == 0) {
		e->type = KT_POL_EP_INTERNET_LINE;
	} else if (may_box && k <= 2) {
		e->type = KT_POL_EP_BOX;
	} else if (p->n_hosts && k <= 6) {
		e->type = KT_POL_EP_HOSTS;
		e->index = below((unsigned)p->n_hosts);
	} else {
		e->type = KT_POL_EP_SEGMENT;
		e->index = below((unsigned)p->n_segments);
	}
}

/* The parser would refuse some of this (segments that overlap, hosts
 * outside their segment); the compiler must still keep to the flows. */
static void rand_policy(struct kt_policy *p, size_t n_flows)
{
	memset(p, 0, sizeof(*p));
	p->n_lines = 2 + below(2);
	for (size_t i = 0; i < p->n_lines; i++) {
		struct kt_pol_line *l = &p->lines[i];

		snprintf(l->name, sizeof(l->name), "line%zu", i);
		snprintf(l->ifname, sizeof(l->ifname), "%s", line_pool[i]);
		l->kind = i ? KT_LINE_BEST_EFFORT : KT_LINE_CLOSED;
		l->tunnel_ports[0] = 51820;
		l->n_tunnel_ports = 1;
	}
	p->n_segments = 2 + below(5);
	for (size_t i = 0; i < p->n_segments; i++) {
		struct kt_pol_segment *s = &p->segments[i];

		snprintf(s->name, sizeof(s->name), "seg%zu", i);
		s->n_ports = 1 + below(2);
		for (size_t j = 0; j < s->n_ports; j++)
			snprintf(s->ifnames[j], sizeof(s->ifnames[j]), "%s",
				 if_pool[below(ARRAY_SIZE(if_pool))]);
		rand_prefixes(s->prefixes, &s->n_prefixes, 3);
	}
	p->n_hosts = below(7);
	for (size_t i = 0; i < p->n_hosts; i++) {
		struct kt_pol_hosts *h = &p->hosts[i];

		snprintf(h->name, sizeof(h->name), "hosts%zu", i);
		h->segment = below((unsigned)p->n_segments);
		rand_prefixes(h->addrs, &h->n_addrs, 3);
	}
	p->flows = calloc(n_flows ? n_flows : 1, sizeof(*p->flows));
	assert_non_null(p->flows);
	p->n_flows = p->cap_flows = n_flows;
	for (size_t i = 0; i < n_flows; i++) {
		struct kt_pol_flow *f = &p->flows[i];
		unsigned k = below(20);

		rand_ep(p, &f->from, true, false);
		rand_ep(p, &f->to, f->from.type != KT_POL_EP_BOX, true);
		f->proto = k < 7 ? KT_POL_PROTO_TCP : k < 12 ? KT_POL_PROTO_UDP
			: k < 16 ? KT_POL_PROTO_ICMP : KT_POL_PROTO_ANY;
		if (f->proto == KT_POL_PROTO_TCP || f->proto == KT_POL_PROTO_UDP)
			rand_ports(f);
		f->log = below(10) < 3;
	}
}

/* --- the maps' keys (docs/policy.md, "In the kernel") --- */

enum kind { FWD, BRK, IN, OUT };
enum fk { K_IF, K_ADDR, K_PROTO, K_PORT };
/* What each field holds. */
enum role { R_IIF, R_OIF, R_SADDR, R_DADDR, R_PROTO, R_DPORT };

static const struct mapdef {
	const char *name;
	enum kind kind;
	int fam;
	size_t n;
	enum role r[5];
} maps[] = {
	{ "fwd4", FWD, AF_INET, 5, { R_DADDR, R_DPORT, R_SADDR, R_IIF, R_PROTO } },
	{ "fwd6", FWD, AF_INET6, 5, { R_DADDR, R_DPORT, R_SADDR, R_IIF, R_PROTO } },
	{ "brk4", BRK, AF_INET, 5, { R_SADDR, R_DPORT, R_IIF, R_OIF, R_PROTO } },
	{ "brk6", BRK, AF_INET6, 5, { R_SADDR, R_DPORT, R_IIF, R_OIF, R_PROTO } },
	{ "in4", IN, AF_INET, 4, { R_SADDR, R_DPORT, R_IIF, R_PROTO } },
	{ "in6", IN, AF_INET6, 4, { R_SADDR, R_DPORT, R_IIF, R_PROTO } },
	{ "out4", OUT, AF_INET, 4, { R_DADDR, R_DPORT, R_OIF, R_PROTO } },
	{ "out6", OUT, AF_INET6, 4, { R_DADDR, R_DPORT, R_OIF, R_PROTO } },
};

struct layout {
	size_t n, off[5], len[5];
	enum fk f[5];
	enum role r[5];
	size_t bytes;		/* the whole key, padded */
};

static void layout_of(const struct mapdef *md, struct layout *lo)
{
	size_t off = 0;

	lo->n = md->n;
	for (size_t i = 0; i < md->n; i++) {
		enum role r = md->r[i];
		enum fk f = r == R_IIF || r == R_OIF ? K_IF
			: r == R_SADDR || r == R_DADDR ? K_ADDR
			: r == R_PROTO ? K_PROTO : K_PORT;
		size_t l = f == K_IF ? 16 : f == K_ADDR
			? (md->fam == AF_INET ? 4 : 16) : f == K_PROTO ? 1 : 2;

		lo->f[i] = f;
		lo->r[i] = r;
		lo->off[i] = off;
		lo->len[i] = l;
		off += (l + 3) & ~(size_t)3;
	}
	lo->bytes = off;
}

/* Where in key k the field holding r is; NULL when the map has none. */
static const uint8_t *field_at(const struct layout *lo, const uint8_t *k,
			       enum role r)
{
	for (size_t i = 0; i < lo->n; i++)
		if (lo->r[i] == r)
			return k + lo->off[i];
	return NULL;
}


/* --- the brute-force classifier, from the flows --- */

static const struct kt_pol_segment *seg_of(const struct kt_policy *p,
					   const struct kt_pol_ep *e)
{
	if (e->type == KT_POL_EP_SEGMENT)
		return &p->segments[e->index];
	if (e->type == KT_POL_EP_HOSTS)
		return &p->segments[p->hosts[e->index].segment];
	return NULL;
}

static bool if_is(const uint8_t *k, const char *name)
{
	uint8_t want[16] = { 0 };

	memcpy(want, name, strlen(name));
	return !memcmp(k, want, 16);
}

static bool ep_if(const struct kt_policy *p, const struct kt_pol_ep *e,
		  const uint8_t *k)
{
	const struct kt_pol_segment *s = seg_of(p, e);

	for (size_t i = 0; s && i < s->n_ports; i++)
		if (if_is(k, s->ifnames[i]))
			return true;
	return false;
}

static bool line_if(const struct kt_policy *p, const uint8_t *k)
{
	for (size_t i = 0; i < p->n_lines; i++)
		if (p->lines[i].kind == KT_LINE_BEST_EFFORT &&
		    if_is(k, p->lines[i].ifname))
			return true;
	return false;
}

static bool ep_addr(const struct kt_policy *p, const struct kt_pol_ep *e,
		    int fam, const uint8_t *k)
{
	struct kt_addr a = { .family = fam };
	const struct kt_prefix *pf;
	size_t n;

	memcpy(a.bytes, k, fam == AF_INET ? 4 : 16);
	if (e->type == KT_POL_EP_SEGMENT) {
		pf = p->segments[e->index].prefixes;
		n = p->segments[e->index].n_prefixes;
	} else if (e->type == KT_POL_EP_HOSTS) {
		pf = p->hosts[e->index].addrs;
		n = p->hosts[e->index].n_addrs;
	} else {
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (pf[i].addr.family == fam && kt_prefix_contains(&pf[i], &a))
			return true;
	return false;
}

static bool proto_port(const struct kt_pol_flow *f, int fam, uint8_t proto,
		       uint16_t port)
{
	bool ok = false;

	switch (f->proto) {
	case KT_POL_PROTO_TCP: ok = proto == IPPROTO_TCP; break;
	case KT_POL_PROTO_UDP: ok = proto == IPPROTO_UDP; break;
	case KT_POL_PROTO_ICMP:
		ok = proto == (fam == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
		break;
	case KT_POL_PROTO_ANY: ok = true; break;
	}
	if (!ok || !f->n_ports)
		return ok;
	for (size_t i = 0; i < f->n_ports; i++)
		if (f->ports[i].lo <= port && port <= f->ports[i].hi)
			return true;
	return false;
}

/* 0 no flow, 1 accept, 2 log-accept. */
static int classify(const struct kt_policy *p, const struct mapdef *md,
		    const struct layout *lo, const uint8_t *k)
{
	const uint8_t *iif = field_at(lo, k, R_IIF), *oif = field_at(lo, k, R_OIF),
		*sa = field_at(lo, k, R_SADDR), *da = field_at(lo, k, R_DADDR),
		*pp = field_at(lo, k, R_DPORT);
	uint8_t proto = *field_at(lo, k, R_PROTO);
	uint16_t port = (uint16_t)(pp[0] << 8 | pp[1]);
	int v = 0;

	for (size_t i = 0; i < p->n_flows; i++) {
		const struct kt_pol_flow *f = &p->flows[i];
		bool to_line = f->to.type == KT_POL_EP_INTERNET_LINE;
		enum kind kind = f->from.type == KT_POL_EP_BOX ? OUT
			: f->to.type == KT_POL_EP_BOX ? IN : to_line ? BRK : FWD;
		bool m = false;

		if (kind != md->kind || !proto_port(f, md->fam, proto, port))
			continue;
		switch (kind) {
		case FWD:	/* iifname, saddr, daddr */
			m = ep_if(p, &f->from, iif) && ep_addr(p, &f->from, md->fam, sa) &&
				ep_addr(p, &f->to, md->fam, da);
			break;
		case BRK:	/* iifname, oifname, saddr */
			m = ep_if(p, &f->from, iif) && line_if(p, oif) &&
				ep_addr(p, &f->from, md->fam, sa);
			break;
		case IN:	/* iifname, saddr */
			m = ep_if(p, &f->from, iif) && ep_addr(p, &f->from, md->fam, sa);
			break;
		case OUT:	/* oifname, daddr; any address out of a line */
			m = to_line ? line_if(p, oif)
				: ep_if(p, &f->to, oif) && ep_addr(p, &f->to, md->fam, da);
			break;
		}
		if (m && v < 1 + f->log)
			v = 1 + f->log;
	}
	return v;
}

/* --- the elements --- */

struct elems {
	struct kt_nft_test_elem *e;
	size_t n;
};

static void get_elems(const struct kt_nft_batch *b, const char *map, bool split,
		      struct elems *out)
{
	long n = kt_nft_test_elem(b, map, split, 0, NULL);

	assert_true(n >= 0);
	out->n = (size_t)n;
	out->e = calloc(out->n ? out->n : 1, sizeof(*out->e));
	assert_non_null(out->e);
	for (size_t i = 0; i < out->n; i++)
		assert_int_equal(kt_nft_test_elem(b, map, split, i, &out->e[i]), n);
}

static bool in_elem(const struct layout *lo, const struct kt_nft_test_elem *e,
		    const uint8_t *k)
{
	for (size_t i = 0; i < lo->n; i++) {
		size_t o = lo->off[i], l = lo->len[i];

		if (memcmp(k + o, e->key + o, l) < 0 ||
		    memcmp(k + o, e->key_end + o, l) > 0)
			return false;
	}
	return true;
}

static bool elems_overlap(const struct layout *lo, const struct kt_nft_test_elem *a,
			  const struct kt_nft_test_elem *b)
{
	for (size_t i = 0; i < lo->n; i++) {
		size_t o = lo->off[i], l = lo->len[i];

		if (memcmp(a->key_end + o, b->key + o, l) < 0 ||
		    memcmp(b->key_end + o, a->key + o, l) < 0)
			return false;
	}
	return true;
}

/* What the kernel would answer: the verdict of the element holding k. */
static int lookup(const struct layout *lo, const struct elems *es,
		  const uint8_t *k, const char *map)
{
	int v = 0, found = 0;

	for (size_t i = 0; i < es->n; i++)
		if (in_elem(lo, &es->e[i], k)) {
			v = 1 + es->e[i].log;
			found++;
		}
	if (found > 1)
		fail_msg("%s: a point lies in %d elements", map, found);
	return v;
}

static void add_one(uint8_t *v, size_t l)
{
	while (l-- && ++v[l] == 0)
		;
}

static void sub_one(uint8_t *v, size_t l)
{
	while (l-- && v[l]-- == 0)
		;
}

/* --- the previous splitting, for element counts: every box cut against
 * every element already made, the earlier winning --- */

static size_t pairwise_count(const struct layout *lo, const struct elems *in)
{
	struct kt_nft_test_elem *out = NULL, *work = NULL;
	size_t n_out = 0, cap_out = 0;

	for (size_t b = 0; b < in->n; b++) {
		size_t n = 1, cap = 16;

		work = realloc(work, cap * sizeof(*work));
		assert_non_null(work);
		work[0] = in->e[b];
		for (size_t e = 0; e < n_out && n; e++)
			for (size_t w = 0; w < n;) {
				struct kt_nft_test_elem rest = work[w];

				if (!elems_overlap(lo, &rest, &out[e])) {
					w++;
					continue;
				}
				work[w] = work[--n];
				for (size_t i = 0; i < lo->n; i++) {
					size_t o = lo->off[i], l = lo->len[i];

					if (n + 2 > cap) {
						cap *= 2;
						work = realloc(work, cap * sizeof(*work));
						assert_non_null(work);
					}
					if (memcmp(rest.key + o, out[e].key + o, l) < 0) {
						work[n] = rest;
						memcpy(work[n].key_end + o, out[e].key + o, l);
						sub_one(work[n++].key_end + o, l);
						memcpy(rest.key + o, out[e].key + o, l);
					}
					if (memcmp(rest.key_end + o, out[e].key_end + o, l) > 0) {
						work[n] = rest;
						memcpy(work[n].key + o, out[e].key_end + o, l);
						add_one(work[n++].key + o, l);
						memcpy(rest.key_end + o, out[e].key_end + o, l);
					}
				}
			}
		if (n_out + n > cap_out) {
			cap_out = (n_out + n) * 2;
			out = realloc(out, cap_out * sizeof(*out));
			assert_non_null(out);
		}
		memcpy(out + n_out, work, n * sizeof(*work));
		n_out += n;
	}
	free(work);
	free(out);
	return n_out;
}

/* --- points --- */

struct pool {
	uint8_t (*v)[16];
	size_t n, cap;
};

static void pool_add(struct pool *p, const uint8_t *v, size_t l)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->v = realloc(p->v, p->cap * sizeof(*p->v));
		assert_non_null(p->v);
	}
	memset(p->v[p->n], 0, 16);
	memcpy(p->v[p->n++], v, l);
}

/* A value, one below it and one above it. */
static void pool_edges(struct pool *p, const uint8_t *v, size_t l)
{
	uint8_t x[16];

	pool_add(p, v, l);
	memcpy(x, v, l);
	add_one(x, l);
	pool_add(p, x, l);
	memcpy(x, v, l);
	sub_one(x, l);
	pool_add(p, x, l);
}

static void prefix_edges(struct pool *p, const struct kt_prefix *pf, int fam)
{
	size_t n = fam == AF_INET ? 4 : 16;
	uint8_t lo[16], hi[16];

	if (pf->addr.family != fam)
		return;
	for (size_t i = 0; i < n; i++) {
		unsigned keep = pf->len >= (i + 1) * 8 ? 8
			: pf->len > i * 8 ? pf->len - i * 8 : 0;
		uint8_t mask = (uint8_t)(0xff00u >> keep);

		lo[i] = pf->addr.bytes[i] & mask;
		hi[i] = (uint8_t)(pf->addr.bytes[i] | ~mask);
	}
	pool_edges(p, lo, n);
	pool_edges(p, hi, n);
}

/* Values for each kind of field, from the policy's own edges. */
static void pools_of(const struct kt_policy *p, int fam, struct pool *pl)
{
	uint8_t v[16] = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(if_pool); i++)
		pool_add(&pl[K_IF], (const uint8_t *)if_pool[i], strlen(if_pool[i]));
	for (size_t i = 0; i < ARRAY_SIZE(line_pool); i++)
		pool_add(&pl[K_IF], (const uint8_t *)line_pool[i], strlen(line_pool[i]));
	pool_add(&pl[K_IF], (const uint8_t *)"lan", 3);
	pool_add(&pl[K_IF], (const uint8_t *)"lan1x", 5);
	for (size_t i = 0; i < p->n_segments; i++)
		for (size_t j = 0; j < p->segments[i].n_prefixes; j++)
			prefix_edges(&pl[K_ADDR], &p->segments[i].prefixes[j], fam);
	for (size_t i = 0; i < p->n_hosts; i++)
		for (size_t j = 0; j < p->hosts[i].n_addrs; j++)
			prefix_edges(&pl[K_ADDR], &p->hosts[i].addrs[j], fam);
	pool_edges(&pl[K_ADDR], v, fam == AF_INET ? 4 : 16);
	for (int proto = 0; proto < 256; proto++)
		if (proto <= 2 || proto == 6 || proto == 17 || proto == 58 ||
		    proto == 255) {
			v[0] = (uint8_t)proto;
			pool_edges(&pl[K_PROTO], v, 1);
		}
	for (size_t i = 0; i < p->n_flows; i++)
		for (size_t j = 0; j < p->flows[i].n_ports; j++) {
			const struct kt_pol_range *r = &p->flows[i].ports[j];

			v[0] = (uint8_t)(r->lo >> 8), v[1] = (uint8_t)r->lo;
			pool_edges(&pl[K_PORT], v, 2);
			v[0] = (uint8_t)(r->hi >> 8), v[1] = (uint8_t)r->hi;
			pool_edges(&pl[K_PORT], v, 2);
		}
	v[0] = v[1] = 0;
	pool_edges(&pl[K_PORT], v, 2);
}

static void rand_value(uint8_t *k, size_t l, int fam, enum fk f)
{
	memset(k, 0, l);
	for (size_t i = 0; i < l; i++)
		k[i] = (uint8_t)rnd();
	if (f == K_IF) {
		memset(k, 0, l);
		memcpy(k, below(2) ? if_pool[below(ARRAY_SIZE(if_pool))]
		       : line_pool[below(ARRAY_SIZE(line_pool))], 4);
	} else if (f == K_ADDR) {
		/* Mostly in the small space the prefixes are in. */
		if (below(4)) {
			memset(k, 0, l - 2);
			k[0] = fam == AF_INET ? 10 : 0xfd;
			k[l - 2] &= 3;
		}
	}
}

/* For every map: points from the pools and the elements' corners agree;
 * with full, also every pair of elements is disjoint and there are no
 * more of them than the pairwise cutting made (both quadratic). */
static size_t check_policy(const struct kt_policy *p, size_t points,
			   bool full)
{
	struct kt_nft_batch *b;
	struct kt_nft_stats st;
	struct kt_nft_opts o;
	size_t total = 0;

	kt_nft_opts_default(&o);
	assert_int_equal(kt_nft_build(p, &o, &b, &st), 0);
	for (size_t mi = 0; mi < ARRAY_SIZE(maps); mi++) {
		const struct mapdef *md = &maps[mi];
		struct pool pl[4] = { { 0 } };
		struct elems es, in;
		struct layout lo;

		layout_of(md, &lo);
		get_elems(b, md->name, true, &es);
		get_elems(b, md->name, false, &in);
		total += es.n;
		/* Disjoint, every pair. */
		for (size_t i = 0; full && i < es.n; i++)
			for (size_t j = i + 1; j < es.n; j++)
				if (elems_overlap(&lo, &es.e[i], &es.e[j]))
					fail_msg("%s: elements %zu and %zu overlap",
						 md->name, i, j);
		if (full) {
			size_t before = pairwise_count(&lo, &in);

			if (es.n > before)
				fail_msg("%s: %zu elements where the pairwise "
					 "cutting made %zu", md->name, es.n, before);
		}
		pools_of(p, md->fam, pl);
		for (size_t t = 0; t < points; t++) {
			uint8_t k[KT_NFT_TEST_KEY_MAX] = { 0 };
			int want, got;

			if (es.n && t % 2) {
				/* A corner of an element, one field moved by
				 * one or not. */
				const struct kt_nft_test_elem *e = &es.e[below((unsigned)es.n)];
				size_t f = below((unsigned)lo.n);

				memcpy(k, below(2) ? e->key : e->key_end, sizeof(k));
				if (below(3) == 0)
					add_one(k + lo.off[f], lo.len[f]);
				else if (below(2) == 0)
					sub_one(k + lo.off[f], lo.len[f]);
			} else {
				for (size_t f = 0; f < lo.n; f++) {
					struct pool *q = &pl[lo.f[f]];

					if (q->n && below(5))
						memcpy(k + lo.off[f], q->v[below((unsigned)q->n)],
						       lo.len[f]);
					else
						rand_value(k + lo.off[f], lo.len[f], md->fam,
							   lo.f[f]);
				}
			}
			want = classify(p, md, &lo, k);
			got = lookup(&lo, &es, k, md->name);
			if (want != got) {
				char hex[2 * KT_NFT_TEST_KEY_MAX + 1];

				for (size_t i = 0; i < lo.bytes; i++)
					sprintf(hex + 2 * i, "%02x", k[i]);
				fail_msg("%s: point %s: the flows say %d, the elements %d",
					 md->name, hex, want, got);
			}
		}
		for (int i = 0; i < 4; i++)
			free(pl[i].v);
		free(es.e);
		free(in.e);
	}
	assert_int_equal(st.elements, total);
	kt_nft_free(b);
	return total;
}

static void free_policy(struct kt_policy *p)
{
	free(p->flows);
}

/* Many small policies: few flows, every overlap pattern, all checked. */
static void test_random_small(void **state)
{
	(void)state;
	for (uint64_t s = 1; s <= 300; s++) {
		struct kt_policy p;

		seed(s);
		rand_policy(&p, 1 + below(12));
		check_policy(&p, 300, true);
		free_policy(&p);
	}
}

/* Fewer, larger policies. */
static void test_random_medium(void **state)
{
	(void)state;
	for (uint64_t s = 1001; s <= 1012; s++) {
		struct kt_policy p;

		seed(s);
		rand_policy(&p, 100 + below(200));
		check_policy(&p, 600, true);
		free_policy(&p);
	}
}

/* A policy written to have a flow for every host:port (logged), then one
 * wide flow over all of them: the wide one is cut around every small
 * one, and points land at every edge. */
static void test_holes(void **state)
{
	struct kt_policy p;
	size_t n;

	(void)state;
	seed(7);
	memset(&p, 0, sizeof(p));
	p.n_segments = 2;
	snprintf(p.segments[0].ifnames[0], IF_NAMESIZE, "lan2");
	p.segments[0].n_ports = 1;
	pfx("10.7.2.0/24", &p.segments[0].prefixes[0]);
	p.segments[0].n_prefixes = 1;
	snprintf(p.segments[1].ifnames[0], IF_NAMESIZE, "kt0");
	p.segments[1].n_ports = 1;
	pfx("10.101.0.0/16", &p.segments[1].prefixes[0]);
	p.segments[1].n_prefixes = 1;
	p.n_hosts = KT_POL_MAX_HOSTS;
	for (size_t h = 0; h < p.n_hosts; h++) {
		char a[32];

		p.hosts[h].segment = 1;
		p.hosts[h].n_addrs = 4;
		for (size_t i = 0; i < 4; i++) {
			snprintf(a, sizeof(a), "10.101.%zu.%zu", h, 10 + i * 7);
			pfx(a, &p.hosts[h].addrs[i]);
		}
	}
	n = 1 + p.n_hosts * 16;
	p.flows = calloc(n, sizeof(*p.flows));
	assert_non_null(p.flows);
	p.n_flows = n;
	for (size_t i = 0; i + 1 < n; i++) {
		struct kt_pol_flow *f = &p.flows[i];

		f->from = (struct kt_pol_ep){ .type = KT_POL_EP_SEGMENT, .index = 0 };
		f->to = (struct kt_pol_ep){ .type = KT_POL_EP_HOSTS,
					    .index = (unsigned)(i % p.n_hosts) };
		f->proto = KT_POL_PROTO_TCP;
		f->ports[0].lo = f->ports[0].hi = (uint16_t)(1000 + 3 * (i / p.n_hosts));
		f->n_ports = 1;
		f->log = true;
	}
	p.flows[n - 1] = (struct kt_pol_flow){
		.from = { .type = KT_POL_EP_SEGMENT, .index = 0 },
		.to = { .type = KT_POL_EP_SEGMENT, .index = 1 },
		.proto = KT_POL_PROTO_TCP,
		.ports = { { 1, 65535 } }, .n_ports = 1,
	};
	/* 4,096 logged elements, and the wide flow in pieces: the 257 gaps
	 * around the 256 addresses, and at each address the 17 around its
	 * 16 ports; as many as the pairwise cutting made. (Too many elements
	 * to compare every pair: points only.) */
	assert_int_equal(check_policy(&p, 1000, false),
			 (size_t)(4096 + 257 + 17 * 256));
	free_policy(&p);
}

/* A site's policy at the size the firmware allows, like the benchmark's
 * (tests/bench/policy): 10,000 flows from segments and teams to 56 groups
 * of servers, many ports, some logged, some inside wider flows. Overlaps
 * only take away, so there are no more elements than the flows' boxes. */
static void test_site_10k(void **state)
{
	struct kt_nft_batch *b;
	struct kt_nft_stats st;
	struct kt_nft_opts o;
	struct kt_policy p;
	size_t boxes = 0, n = 10000;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.n_segments = 3;
	snprintf(p.segments[0].ifnames[0], IF_NAMESIZE, "lan2");
	pfx("10.7.2.0/24", &p.segments[0].prefixes[0]);
	pfx("fd00:7:2::/64", &p.segments[0].prefixes[1]);
	p.segments[0].n_prefixes = 2;
	snprintf(p.segments[1].ifnames[0], IF_NAMESIZE, "kt0");
	pfx("10.101.0.0/16", &p.segments[1].prefixes[0]);
	pfx("fd00:101::/48", &p.segments[1].prefixes[1]);
	p.segments[1].n_prefixes = 2;
	snprintf(p.segments[2].ifnames[0], IF_NAMESIZE, "lan4");
	pfx("10.7.4.0/24", &p.segments[2].prefixes[0]);
	p.segments[2].n_prefixes = 1;
	for (size_t i = 0; i < 3; i++)
		p.segments[i].n_ports = 1;
	p.n_hosts = 60;
	for (size_t h = 0; h < 4; h++) {	/* teams in the LGWAN segment */
		char a[32];

		snprintf(a, sizeof(a), "10.7.2.%zu/26", h * 64);
		pfx(a, &p.hosts[h].addrs[0]);
		p.hosts[h].n_addrs = 1;
	}
	for (size_t h = 4; h < p.n_hosts; h++) {	/* servers */
		struct kt_pol_hosts *g = &p.hosts[h];
		char a[48];

		g->segment = 1;
		snprintf(a, sizeof(a), "10.101.%zu.10", 12 + h);
		pfx(a, &g->addrs[g->n_addrs++]);
		snprintf(a, sizeof(a), "10.101.%zu.11", 12 + h);
		pfx(a, &g->addrs[g->n_addrs++]);
		if (h % 3 == 0) {
			snprintf(a, sizeof(a), "10.101.%zu.32/29", 12 + h);
			pfx(a, &g->addrs[g->n_addrs++]);
		}
		if (h % 4 == 0) {
			snprintf(a, sizeof(a), "fd00:101:0:%zx::10", 12 + h);
			pfx(a, &g->addrs[g->n_addrs++]);
		}
		if (h % 8 == 0) {	/* shared with the next group */
			snprintf(a, sizeof(a), "10.101.%zu.10", 13 + h);
			pfx(a, &g->addrs[g->n_addrs++]);
		}
	}
	p.flows = calloc(n, sizeof(*p.flows));
	assert_non_null(p.flows);
	p.n_flows = n;
	/* Wide flows first: the segment to the data centre, mail and web,
	 * and ping; the NOC to the box. */
	p.flows[0] = (struct kt_pol_flow){
		.from = { .type = KT_POL_EP_SEGMENT, .index = 0 },
		.to = { .type = KT_POL_EP_SEGMENT, .index = 1 },
		.proto = KT_POL_PROTO_TCP,
		.ports = { { 25, 25 }, { 80, 80 }, { 443, 443 }, { 587, 587 } },
		.n_ports = 4,
	};
	p.flows[1] = (struct kt_pol_flow){
		.from = { .type = KT_POL_EP_SEGMENT, .index = 0 },
		.to = { .type = KT_POL_EP_SEGMENT, .index = 1 },
		.proto = KT_POL_PROTO_ICMP,
	};
	p.flows[2] = (struct kt_pol_flow){
		.from = { .type = KT_POL_EP_SEGMENT, .index = 2 },
		.to = { .type = KT_POL_EP_BOX },
		.proto = KT_POL_PROTO_TCP,
		.ports = { { 22, 22 }, { 443, 443 } }, .n_ports = 2,
	};
	for (size_t k = 3; k < n; k++) {
		struct kt_pol_flow *f = &p.flows[k];
		uint16_t port = (uint16_t)(2000 + k / 56);

		f->from = k % 10 < 7
			? (struct kt_pol_ep){ .type = KT_POL_EP_SEGMENT, .index = 0 }
			: (struct kt_pol_ep){ .type = KT_POL_EP_HOSTS,
					      .index = (unsigned)(k % 4) };
		f->to = (struct kt_pol_ep){ .type = KT_POL_EP_HOSTS,
					    .index = (unsigned)(4 + k % 56) };
		f->proto = k % 11 ? KT_POL_PROTO_TCP : KT_POL_PROTO_UDP;
		f->ports[f->n_ports].lo = f->ports[f->n_ports].hi =
			k % 17 ? port : 443;
		f->n_ports++;
		if (k % 5 == 0) {
			f->ports[f->n_ports].lo = f->ports[f->n_ports].hi =
				(uint16_t)(port + 3000);
			f->n_ports++;
		}
		f->log = k % 10 == 3;
	}
	kt_nft_opts_default(&o);
	assert_int_equal(kt_nft_build(&p, &o, &b, &st), 0);
	for (size_t mi = 0; mi < ARRAY_SIZE(maps); mi++)
		boxes += (size_t)kt_nft_test_elem(b, maps[mi].name, false, 0, NULL);
	assert_true(boxes > 25000);
	assert_true(st.elements <= boxes);
	/* Flows inside the wide ones (port 443) or inside others (a team is
	 * in its segment) leave nothing of their own. */
	assert_true(st.elements < boxes - 500);
	kt_nft_free(b);
	/* And it is right: points as above (fewer, the maps are large). */
	seed(10000);
	check_policy(&p, 200, false);
	free_policy(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_small),
		cmocka_unit_test(test_random_medium),
		cmocka_unit_test(test_holes),
		cmocka_unit_test(test_site_10k),
	};
	return cmocka_run_group_tests_name("policy-nft-split", tests, NULL, NULL);
}
