/* The policy as one nftables batch, built with libnftnl and sent with
 * libmnl (nft.h says what and why).
 *
 * Table "inet kyoten":
 *
 *   chain input   (hook input, policy drop)    lo, IPv6 neighbour and
 *                 multicast listener discovery (@nd), established/related,
 *                 invalid -> drop, the lines' tunnel ports (@underlay),
 *                 BFD inside the box's tunnels (iifname kt-*, udp dport
 *                 3784), vmaps @in4 @in6, log denied, drop
 *   chain forward (hook forward, policy drop)  established/related,
 *                 invalid -> drop, vmaps @fwd4 @fwd6 @brk4 @brk6,
 *                 log denied, drop
 *   chain output  (hook output, policy drop)   lo, ND and MLD (@nd),
 *                 established/related, invalid -> drop, tunnel ports
 *                 (source), BFD into the tunnels (oifname kt-*, udp
 *                 dport 3784), vmaps @out4 @out6, log denied, drop
 *   chain log-accept   counter, nflog, accept: the verdict of flows with
 *                 log: true
 *   chain postrouting (hook postrouting, type nat; only with flows to
 *                 internet-line)  masquerade what @brk4 / @brk6 hold
 *
 * The vmaps are interval maps on concatenations:
 *   fwd: daddr . th dport . saddr . iifname . l4proto
 *   brk: saddr . th dport . iifname . oifname . l4proto  (internet line)
 *   in:  saddr . th dport . iifname . l4proto            (to the box)
 *   out: daddr . th dport . oifname . l4proto            (from the box)
 * The most selective fields come first (map_shapes says why). Every rule
 * carries a counter. */
#include "nft.h"
#include "nft-test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>

#include "bfd.h"
#include "generated/autoconf.h"

/* nft's datatype numbers, which `nft list` uses to print set keys; a
 * concatenation packs them 6 bits each, first field highest. */
enum { DT_IPADDR = 7, DT_IP6ADDR = 8, DT_INET_PROTO = 12, DT_INET_SERVICE = 13,
       DT_ICMP6_TYPE = 29, DT_IFNAME = 41 };

enum field { F_IFNAME, F_IP4, F_IP6, F_PROTO, F_PORT };

/* What a field of a map's key holds, and so which expression loads it. */
enum role { R_IIF, R_OIF, R_SADDR, R_DADDR, R_PROTO, R_DPORT };

static const struct {
	uint8_t len;		/* bytes the packet expression loads */
	uint8_t type;
} fields[] = {
	[F_IFNAME] = { IFNAMSIZ, DT_IFNAME },
	[F_IP4] = { 4, DT_IPADDR },
	[F_IP6] = { 16, DT_IP6ADDR },
	[F_PROTO] = { 1, DT_INET_PROTO },
	[F_PORT] = { 2, DT_INET_SERVICE },
};

#define MAX_FIELDS 5
#define KEY_MAX 64		/* 16 32-bit registers */

/* Registers hold each field at a 32-bit boundary. */
static size_t padded(size_t len)
{
	return (len + 3) & ~(size_t)3;
}

/* A box in key space: one closed interval per field, each field's bytes
 * big-endian so that memcmp orders them. */
struct box {
	uint8_t lo[KEY_MAX], hi[KEY_MAX];	/* fields packed, unpadded */
	bool log;
};

struct vmap {
	const char *name;
	bool v6;
	uint8_t n;
	enum role role[MAX_FIELDS];
	enum field f[MAX_FIELDS];	/* from role and family */
	uint32_t id;
	struct box *in;			/* the flows' boxes, logged flows first */
	size_t n_in, cap_in;
	struct box *boxes;		/* the elements: disjoint */
	size_t n_boxes, cap;
};

enum { M_FWD4, M_FWD6, M_BRK4, M_BRK6, M_IN4, M_IN6, M_OUT4, M_OUT6, M_COUNT };

struct kt_nft_batch {
	struct nftnl_batch *b;
	uint32_t seq, first_seq;
	size_t messages, acks;
	struct kt_nft_stats stats;
	/* What each message did, for naming a refused one. */
	char (*what)[48];
	size_t n_what, cap_what;
	struct vmap maps[M_COUNT];
	uint32_t next_id;
	int err;
};

/* The key of each map, field by field. The order does not change what
 * matches (an element is one interval per field, whatever the order) but
 * it decides what the kernel's work grows with. Its concatenated-range
 * sets (nft_set_pipapo) narrow the candidates field by field in key
 * order, on every lookup and before every insertion; a first field that
 * nearly all elements share (the interfaces, a segment's prefix) leaves
 * nearly all of them to carry through the next. Keyed iifname . saddr
 * first, a 10,000-flow site (31,641 elements) took 16 s to load and 0.5 ms
 * more per new connection than 10 flows; keyed as below, about 0.5 s and
 * nothing measurable (tests/bench/policy, docs/benchmarks.md). So the
 * address that differs most from flow to flow comes first, then the port:
 * the destination for fwd and out (a site's flows go from a few segments
 * to many servers), the source for brk and in (their destination is any
 * address or the box). Destination port first loaded as fast with the
 * benchmark's generated flows, but its ports are artificially varied;
 * a real site's flows share 443 and a few others far more than they
 * share a server. Interfaces and protocol, which nearly all elements
 * share, come last. */
static const struct vmap map_shapes[M_COUNT] = {
	[M_FWD4] = { "fwd4", false, 5, { R_DADDR, R_DPORT, R_SADDR, R_IIF, R_PROTO } },
	[M_FWD6] = { "fwd6", true, 5, { R_DADDR, R_DPORT, R_SADDR, R_IIF, R_PROTO } },
	[M_BRK4] = { "brk4", false, 5, { R_SADDR, R_DPORT, R_IIF, R_OIF, R_PROTO } },
	[M_BRK6] = { "brk6", true, 5, { R_SADDR, R_DPORT, R_IIF, R_OIF, R_PROTO } },
	[M_IN4] = { "in4", false, 4, { R_SADDR, R_DPORT, R_IIF, R_PROTO } },
	[M_IN6] = { "in6", true, 4, { R_SADDR, R_DPORT, R_IIF, R_PROTO } },
	[M_OUT4] = { "out4", false, 4, { R_DADDR, R_DPORT, R_OIF, R_PROTO } },
	[M_OUT6] = { "out6", true, 4, { R_DADDR, R_DPORT, R_OIF, R_PROTO } },
};

static enum field field_of(enum role r, bool v6)
{
	switch (r) {
	case R_IIF:
	case R_OIF:
		return F_IFNAME;
	case R_SADDR:
	case R_DADDR:
		return v6 ? F_IP6 : F_IP4;
	case R_PROTO:
		return F_PROTO;
	case R_DPORT:
		break;
	}
	return F_PORT;
}

/* --- boxes --- */

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

static int push_box(struct box **a, size_t *n, size_t *cap, const struct box *b)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		struct box *g = realloc(*a, c * sizeof(*g));

		if (!g)
			return -ENOMEM;
		*a = g;
		*cap = c;
	}
	(*a)[(*n)++] = *b;
	return 0;
}

/* --- making boxes disjoint ---
 *
 * The kernel's interval maps refuse an element that starts or ends inside
 * another, so elements must be disjoint. Box i of the flows (in m->in,
 * logged flows first) keeps what no earlier box holds: B_i minus the union
 * of B_j, j < i. A packet thus gets the verdict of the first box holding
 * it, which is a logged flow's whenever one holds it, and the pieces of
 * all the boxes are disjoint.
 *
 * Only the earlier boxes that overlap B_i can take anything from it. They
 * are found through an R-tree of all the boxes, bulk-loaded in key order
 * (nodes of RT_FAN neighbours, each with the bounds of what it holds).
 * For the policies sites write, many flows that share interfaces and
 * prefixes and differ in host and port, a box meets a handful of others
 * and the whole costs about n log n; cutting each new box against every
 * element made so far would cost n² (seconds at 10,000 flows).
 * tests/unit/test_policy_nft_split.c checks the result point by point
 * against the flows themselves. */

/* The fields of a map's key in the order the splitting looks at them: the
 * one whose values differ most among the boxes first, so that sorting by
 * it keeps neighbours in the R-tree alike, and comparisons of boxes that
 * do not overlap fail at once. */
struct keyspec {
	size_t n;
	uint8_t off[MAX_FIELDS], len[MAX_FIELDS];
	const struct box *in;
};

static bool overlap(const struct keyspec *k, const struct box *a,
		    const struct box *b)
{
	for (size_t i = 0; i < k->n; i++) {
		size_t o = k->off[i], l = k->len[i];

		if (memcmp(a->hi + o, b->lo + o, l) < 0 ||
		    memcmp(b->hi + o, a->lo + o, l) < 0)
			return false;
	}
	return true;
}

/* a holds all of b. */
static bool contains(const struct keyspec *k, const struct box *a,
		     const struct box *b)
{
	for (size_t i = 0; i < k->n; i++) {
		size_t o = k->off[i], l = k->len[i];

		if (memcmp(b->lo + o, a->lo + o, l) < 0 ||
		    memcmp(b->hi + o, a->hi + o, l) > 0)
			return false;
	}
	return true;
}

/* Grows the bounds b to hold x. */
static void widen(const struct keyspec *k, struct box *b, const struct box *x)
{
	for (size_t i = 0; i < k->n; i++) {
		size_t o = k->off[i], l = k->len[i];

		if (memcmp(x->lo + o, b->lo + o, l) < 0)
			memcpy(b->lo + o, x->lo + o, l);
		if (memcmp(x->hi + o, b->hi + o, l) > 0)
			memcpy(b->hi + o, x->hi + o, l);
	}
}

/* Boxes by their intervals, field by field in the keyspec's order, then
 * by index: qsort is not stable, and the result must not depend on it. */
static int by_key(const void *a, const void *b, void *arg)
{
	const struct keyspec *k = arg;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;

	for (size_t f = 0; f < k->n; f++) {
		size_t o = k->off[f], l = k->len[f];
		int c = memcmp(k->in[i].lo + o, k->in[j].lo + o, l);

		if (!c)
			c = memcmp(k->in[i].hi + o, k->in[j].hi + o, l);
		if (c)
			return c;
	}
	return (i > j) - (i < j);
}

#define SAMPLE 256

struct interval {
	uint8_t lo[16], hi[16];
};

static int by_interval(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct interval));
}

/* Orders the fields by how many different intervals a sample of the boxes
 * has in each, most first. */
static int keyspec_init(const struct vmap *m, struct keyspec *k)
{
	struct interval *v = malloc(SAMPLE * sizeof(*v));
	size_t distinct[MAX_FIELDS], off[MAX_FIELDS], ns, o = 0;
	uint8_t order[MAX_FIELDS];

	if (!v)
		return -ENOMEM;
	ns = m->n_in < SAMPLE ? m->n_in : SAMPLE;
	for (size_t f = 0; f < m->n; f++) {
		size_t l = fields[m->f[f]].len, at;

		memset(v, 0, ns * sizeof(*v));
		for (size_t s = 0; s < ns; s++) {
			const struct box *b = &m->in[s * m->n_in / ns];

			memcpy(v[s].lo, b->lo + o, l);
			memcpy(v[s].hi, b->hi + o, l);
		}
		qsort(v, ns, sizeof(*v), by_interval);
		distinct[f] = ns > 0;
		for (size_t s = 1; s < ns; s++)
			distinct[f] += by_interval(&v[s - 1], &v[s]) != 0;
		off[f] = o;
		o += l;
		/* Insertion: after the fields with as many or more. */
		for (at = f; at > 0 && distinct[order[at - 1]] < distinct[f]; at--)
			order[at] = order[at - 1];
		order[at] = (uint8_t)f;
	}
	free(v);
	k->n = m->n;
	k->in = m->in;
	for (size_t i = 0; i < m->n; i++) {
		k->off[i] = (uint8_t)off[order[i]];
		k->len[i] = fields[m->f[order[i]]].len;
	}
	return 0;
}

#define RT_FAN 8
#define RT_LEVELS 12		/* RT_FAN^11 boxes is more than memory holds */

struct rtree {
	uint32_t *ord;		/* level 0: box indices in key order */
	struct box *node;	/* the bounds of the nodes of levels 1 and up */
	uint32_t *first;	/* per node, the smallest box index below it */
	size_t off[RT_LEVELS], n[RT_LEVELS];	/* level l: node[off[l]...] */
	size_t levels;
};

static void rt_free(struct rtree *t)
{
	free(t->ord);
	free(t->node);
	free(t->first);
}

static int rt_build(const struct vmap *m, struct keyspec *k, struct rtree *t)
{
	size_t total = 0, cnt = m->n_in;

	memset(t, 0, sizeof(*t));
	if (m->n_in > UINT32_MAX)
		return -ENOMEM;
	t->n[0] = cnt;
	t->levels = 1;
	while (cnt > 1) {
		if (t->levels == RT_LEVELS)
			return -ENOMEM;
		cnt = (cnt + RT_FAN - 1) / RT_FAN;
		t->off[t->levels] = total;
		t->n[t->levels++] = cnt;
		total += cnt;
	}
	t->ord = malloc(m->n_in * sizeof(*t->ord));
	t->node = malloc((total ? total : 1) * sizeof(*t->node));
	t->first = malloc((total ? total : 1) * sizeof(*t->first));
	if (!t->ord || !t->node || !t->first) {
		rt_free(t);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->n_in; i++)
		t->ord[i] = (uint32_t)i;
	qsort_r(t->ord, m->n_in, sizeof(*t->ord), by_key, k);
	for (size_t l = 1; l < t->levels; l++)
		for (size_t i = 0; i < t->n[l]; i++) {
			struct box *b = &t->node[t->off[l] + i];
			uint32_t *first = &t->first[t->off[l] + i];
			size_t c = i * RT_FAN, end = c + RT_FAN;

			if (end > t->n[l - 1])
				end = t->n[l - 1];
			for (; c < end; c++) {
				const struct box *x = l == 1 ? &m->in[t->ord[c]]
					: &t->node[t->off[l - 1] + c];
				uint32_t f = l == 1 ? t->ord[c]
					: t->first[t->off[l - 1] + c];

				if (c == i * RT_FAN) {
					*b = *x;
					*first = f;
				} else {
					widen(k, b, x);
					if (f < *first)
						*first = f;
				}
			}
		}
	return 0;
}

/* Scratch space of one map's splitting. */
struct split {
	struct keyspec k;
	uint32_t *idx;		/* lists of overlapping boxes, stacked */
	size_t n_idx, cap_idx;
	struct piece {
		struct box b;
		size_t c_off, c_n;	/* its list in idx */
	} *st;			/* pieces still to cut */
	size_t n_st, cap_st;
	uint32_t *tie;
	size_t cap_tie;
};

static int idx_add(struct split *s, uint32_t j)
{
	if (s->n_idx == s->cap_idx) {
		size_t c = s->cap_idx ? s->cap_idx * 2 : 256;
		uint32_t *g = realloc(s->idx, c * sizeof(*g));

		if (!g)
			return -ENOMEM;
		s->idx = g;
		s->cap_idx = c;
	}
	s->idx[s->n_idx++] = j;
	return 0;
}

/* Puts into s->idx the earlier boxes (index below i) that overlap box i.
 * 1 when one of them holds box i whole (nothing of it is left), 0, or
 * -ENOMEM. */
static int rt_query(const struct vmap *m, const struct rtree *t, size_t i,
		    struct split *s)
{
	struct { uint8_t l; uint32_t k; } st[RT_LEVELS * RT_FAN];
	const struct box *q = &m->in[i];
	size_t sp = 0, top = t->levels - 1;

	s->n_idx = 0;
	for (size_t k = 0; k < t->n[top]; k++)	/* one node, or at most one box */
		st[sp].l = (uint8_t)top, st[sp++].k = (uint32_t)k;
	while (sp) {
		size_t l, k, end;

		sp--;
		l = st[sp].l;
		k = st[sp].k;
		if (l == 0) {
			uint32_t j = t->ord[k];

			if (j >= i || !overlap(&s->k, &m->in[j], q))
				continue;
			if (contains(&s->k, &m->in[j], q))
				return 1;
			if (idx_add(s, j))
				return -ENOMEM;
			continue;
		}
		if (t->first[t->off[l] + k] >= i ||
		    !overlap(&s->k, &t->node[t->off[l] + k], q))
			continue;
		end = (k + 1) * RT_FAN;
		if (end > t->n[l - 1])
			end = t->n[l - 1];
		for (size_t c = k * RT_FAN; c < end; c++)
			st[sp].l = (uint8_t)(l - 1), st[sp++].k = (uint32_t)c;
	}
	return 0;
}

/* Bits of hi - lo, roughly log2 of a field's width. */
static unsigned width_bits(const uint8_t *lo, const uint8_t *hi, size_t l)
{
	uint8_t d[16];
	int borrow = 0;

	for (size_t i = l; i-- > 0;) {
		int v = hi[i] - lo[i] - borrow;

		borrow = v < 0;
		d[i] = (uint8_t)(v + (borrow ? 256 : 0));
	}
	for (size_t i = 0; i < l; i++)
		if (d[i]) {
			unsigned b = 0;

			for (unsigned v = d[i]; v; v >>= 1)
				b++;
			return (unsigned)(l - i - 1) * 8 + b;
		}
	return 0;
}

/* Roughly log2 of the volume of box x within piece p. */
static unsigned shared_bits(const struct keyspec *k, const struct box *p,
			    const struct box *x)
{
	unsigned bits = 0;

	for (size_t i = 0; i < k->n; i++) {
		size_t o = k->off[i], l = k->len[i];
		const uint8_t *lo = memcmp(p->lo + o, x->lo + o, l) > 0
			? p->lo + o : x->lo + o;
		const uint8_t *hi = memcmp(p->hi + o, x->hi + o, l) < 0
			? p->hi + o : x->hi + o;

		bits += width_bits(lo, hi, l);
	}
	return bits;
}

/* Which of a piece's overlapping boxes to cut it by first: the one that
 * takes most of it (a small box cut out first would split the piece
 * around it, and then every piece by the large one), and among equals
 * the middle one in key order, so that the rest fall about half on each
 * side and many small boxes cost n log n, not n². */
static int choose(struct split *s, const struct piece *f, uint32_t *out)
{
	unsigned best = 0;
	size_t n = 0;

	if (f->c_n > s->cap_tie) {
		uint32_t *g = realloc(s->tie, f->c_n * sizeof(*g));

		if (!g)
			return -ENOMEM;
		s->tie = g;
		s->cap_tie = f->c_n;
	}
	for (size_t c = 0; c < f->c_n; c++) {
		uint32_t j = s->idx[f->c_off + c];
		unsigned bits = shared_bits(&s->k, &f->b, &s->k.in[j]);

		if (!n || bits > best) {
			best = bits;
			n = 0;
		}
		if (bits == best)
			s->tie[n++] = j;
	}
	if (n > 2)
		qsort_r(s->tie, n, sizeof(*s->tie), by_key, &s->k);
	*out = s->tie[n / 2];
	return 0;
}

/* The pieces of p outside e (which overlaps it): at most two per field,
 * below and above e, each field cut within e's range of the fields
 * before. */
static size_t cut(const struct vmap *m, const struct box *p,
		  const struct box *e, struct box *out)
{
	struct box rest = *p;
	size_t n = 0, off = 0;

	for (size_t i = 0; i < m->n; i++) {
		size_t l = fields[m->f[i]].len;

		if (memcmp(rest.lo + off, e->lo + off, l) < 0) {
			out[n] = rest;
			memcpy(out[n].hi + off, e->lo + off, l);
			sub_one(out[n].hi + off, l);
			n++;
			memcpy(rest.lo + off, e->lo + off, l);
		}
		if (memcmp(rest.hi + off, e->hi + off, l) > 0) {
			out[n] = rest;
			memcpy(out[n].lo + off, e->hi + off, l);
			add_one(out[n].lo + off, l);
			n++;
			memcpy(rest.hi + off, e->hi + off, l);
		}
		off += l;
	}
	return n;	/* what is left of rest lies inside e */
}

/* Pieces of one box side by side in one field and equal in the others
 * become one element: cutting field by field leaves such pairs (the
 * piece below a small box and the piece beside both, once the box next
 * to it is cut out too), and the kernel then holds fewer elements. Only
 * pieces of the same box are joined, so that an element never spans the
 * addresses of two flows: verify (verify.c) places each element in one
 * segment and host group. */
struct mergekey {
	const struct vmap *m;
	size_t f, off;		/* the field to join in, and its offset */
};

/* By every other field, then by where field f starts. */
static int by_others(const void *a, const void *b, void *arg)
{
	const struct mergekey *k = arg;
	const struct box *x = a, *y = b;
	size_t off = 0;
	int c;

	for (size_t f = 0; f < k->m->n; f++) {
		size_t l = fields[k->m->f[f]].len;

		if (f != k->f && ((c = memcmp(x->lo + off, y->lo + off, l)) ||
				  (c = memcmp(x->hi + off, y->hi + off, l))))
			return c;
		off += l;
	}
	return memcmp(x->lo + k->off, y->lo + k->off, fields[k->m->f[k->f]].len);
}

static bool same_but(const struct vmap *m, size_t skip, const struct box *a,
		     const struct box *b)
{
	size_t off = 0;

	for (size_t f = 0; f < m->n; f++) {
		size_t l = fields[m->f[f]].len;

		if (f != skip && (memcmp(a->lo + off, b->lo + off, l) ||
				  memcmp(a->hi + off, b->hi + off, l)))
			return false;
		off += l;
	}
	return true;
}

/* Joins what it can of m->boxes[start...], field after field, until a
 * round over every field joins nothing. */
static void merge(struct vmap *m, size_t start)
{
	struct box *b = m->boxes + start;
	size_t n = m->n_boxes - start;
	bool again = n > 1;

	while (again) {
		again = false;
		for (size_t f = 0, off = 0; f < m->n && n > 1;
		     off += fields[m->f[f]].len, f++) {
			struct mergekey k = { m, f, off };
			size_t l = fields[m->f[f]].len, out = 0;

			qsort_r(b, n, sizeof(*b), by_others, &k);
			for (size_t i = 1; i < n; i++) {
				uint8_t next[16];

				memcpy(next, b[out].hi + off, l);
				add_one(next, l);
				if (memcmp(b[i].lo + off, b[out].hi + off, l) > 0 &&
				    !memcmp(next, b[i].lo + off, l) &&
				    same_but(m, f, &b[out], &b[i])) {
					memcpy(b[out].hi + off, b[i].hi + off, l);
					again = true;
				} else {
					b[++out] = b[i];
				}
			}
			n = out + 1;
		}
	}
	m->n_boxes = start + n;
}

/* Box i minus the boxes listed in s->idx (each overlaps it, none holds it
 * whole), as disjoint pieces into the map's elements. Each piece carries
 * the list of the boxes that still overlap it; the lists are stacked in
 * s->idx above their parents' and dropped when their pieces are done. */
static int subtract(struct vmap *m, size_t i, struct split *s)
{
	size_t first = m->n_boxes;

	if (!s->cap_st) {
		s->st = malloc(64 * sizeof(*s->st));
		if (!s->st)
			return -ENOMEM;
		s->cap_st = 64;
	}
	s->n_st = 0;
	s->st[s->n_st++] = (struct piece){ m->in[i], 0, s->n_idx };
	while (s->n_st) {
		struct piece f = s->st[--s->n_st];
		struct box parts[2 * MAX_FIELDS];
		size_t np;
		uint32_t e;
		int r;

		if (!f.c_n) {
			r = push_box(&m->boxes, &m->n_boxes, &m->cap, &f.b);
			if (r)
				return r;
		} else {
			if ((r = choose(s, &f, &e)))
				return r;
			np = cut(m, &f.b, &m->in[e], parts);
			if (s->n_st + np > s->cap_st) {
				size_t c = (s->n_st + np) * 2;
				struct piece *g = realloc(s->st, c * sizeof(*g));

				if (!g)
					return -ENOMEM;
				s->st = g;
				s->cap_st = c;
			}
			for (size_t p = 0; p < np; p++) {
				size_t start = s->n_idx;
				bool held = false;

				for (size_t c = 0; c < f.c_n && !held; c++) {
					uint32_t j = s->idx[f.c_off + c];

					if (j == e || !overlap(&s->k, &m->in[j], &parts[p]))
						continue;
					held = contains(&s->k, &m->in[j], &parts[p]);
					if (!held && idx_add(s, j))
						return -ENOMEM;
				}
				if (held)
					s->n_idx = start;
				else
					s->st[s->n_st++] = (struct piece){
						parts[p], start, s->n_idx - start };
			}
		}
		/* The lists above the last piece left are no one's now. */
		s->n_idx = s->n_st ? s->st[s->n_st - 1].c_off +
			s->st[s->n_st - 1].c_n : 0;
	}
	merge(m, first);
	return 0;
}

/* m->in into m->boxes. */
static int disjoint(struct vmap *m)
{
	struct split s = { 0 };
	struct rtree t;
	int r;

	m->n_boxes = 0;
	if (!m->n_in)
		return 0;
	if ((r = keyspec_init(m, &s.k)) || (r = rt_build(m, &s.k, &t)))
		return r;
	for (size_t i = 0; i < m->n_in && r >= 0; i++) {
		r = rt_query(m, &t, i, &s);
		if (r == 0)
			r = s.n_idx ? subtract(m, i, &s)
				: push_box(&m->boxes, &m->n_boxes, &m->cap, &m->in[i]);
	}
	rt_free(&t);
	free(s.idx);
	free(s.st);
	free(s.tie);
	return r < 0 ? r : 0;
}

/* For tests (nft-test.h): a map's boxes in the layout of the batch. */
long kt_nft_test_elem(const struct kt_nft_batch *nb, const char *map,
		      bool split, size_t i, struct kt_nft_test_elem *out)
{
	for (int k = 0; k < M_COUNT; k++) {
		const struct vmap *m = &nb->maps[k];
		const struct box *b = split ? m->boxes : m->in;
		size_t n = split ? m->n_boxes : m->n_in, off = 0, poff = 0;

		if (strcmp(m->name, map))
			continue;
		if (!out || i >= n)
			return (long)n;
		memset(out, 0, sizeof(*out));
		for (size_t f = 0; f < m->n; f++) {
			size_t l = fields[m->f[f]].len;

			memcpy(out->key + poff, b[i].lo + off, l);
			memcpy(out->key_end + poff, b[i].hi + off, l);
			off += l;
			poff += padded(l);
		}
		out->log = b[i].log;
		return (long)n;
	}
	return -1;
}

/* --- from flows to boxes --- */

struct range {
	uint8_t lo[16], hi[16];
};

static void prefix_range(const struct kt_prefix *p, struct range *r)
{
	size_t n = kt_addr_size(&p->addr);

	for (size_t i = 0; i < n; i++) {
		unsigned keep = p->len >= (i + 1) * 8 ? 8
			: p->len > i * 8 ? p->len - i * 8 : 0;
		uint8_t mask = (uint8_t)(0xff00u >> keep);

		r->lo[i] = p->addr.bytes[i] & mask;
		r->hi[i] = (uint8_t)(p->addr.bytes[i] | ~mask);
	}
}

static void ifname_range(const char *name, struct range *r)
{
	memset(r, 0, sizeof(*r));
	strncpy((char *)r->lo, name, IFNAMSIZ - 1);
	memcpy(r->hi, r->lo, sizeof(r->hi));
}

/* The addresses, interfaces and kind of one end of a flow. */
struct end {
	const struct kt_prefix *addrs;
	size_t n_addrs;
	const char (*ifnames)[IF_NAMESIZE];
	size_t n_ifnames;
};

static void end_of(const struct kt_policy *p, const struct kt_pol_ep *e,
		   struct end *out)
{
	const struct kt_pol_segment *s = NULL;

	memset(out, 0, sizeof(*out));
	if (e->type == KT_POL_EP_SEGMENT) {
		s = &p->segments[e->index];
		out->addrs = s->prefixes;
		out->n_addrs = s->n_prefixes;
	} else if (e->type == KT_POL_EP_HOSTS) {
		const struct kt_pol_hosts *h = &p->hosts[e->index];

		s = &p->segments[h->segment];
		out->addrs = h->addrs;
		out->n_addrs = h->n_addrs;
	}
	if (s) {
		out->ifnames = s->ifnames;
		out->n_ifnames = s->n_ports;
	}
}

/* One flow's field values, as ranges per field, expanded into boxes. */
struct choice {
	const struct range *r[MAX_FIELDS];
	size_t n[MAX_FIELDS];
};

static int expand(struct vmap *m, const struct choice *c, bool log)
{
	size_t idx[MAX_FIELDS] = { 0 };
	int r;

	for (size_t i = 0; i < m->n; i++)
		if (!c->n[i])
			return 0;
	for (;;) {
		struct box b = { .log = log };
		size_t off = 0, i;

		for (i = 0; i < m->n; i++) {
			size_t l = fields[m->f[i]].len;

			memcpy(b.lo + off, c->r[i][idx[i]].lo, l);
			memcpy(b.hi + off, c->r[i][idx[i]].hi, l);
			off += l;
		}
		if ((r = push_box(&m->in, &m->n_in, &m->cap_in, &b)))
			return r;
		for (i = m->n; i-- > 0;) {
			if (++idx[i] < c->n[i])
				break;
			idx[i] = 0;
		}
		if (i == (size_t)-1)
			return 0;
	}
}

#define MAX_RANGES (KT_POL_MAX_PREFIXES > KT_POL_MAX_ADDRS ? \
		    KT_POL_MAX_PREFIXES : KT_POL_MAX_ADDRS)

struct flow_ranges {
	struct range src_if[KT_POL_MAX_PORTS], dst_if[KT_POL_MAX_PORTS];
	struct range line_if[KT_POL_MAX_LINES];
	struct range src[2][MAX_RANGES], dst[2][MAX_RANGES];	/* [v4, v6] */
	size_t n_src_if, n_dst_if, n_line_if, n_src[2], n_dst[2];
	struct range any_addr[2];
	struct range proto[2];
	struct range ports[KT_POL_MAX_RANGES];
	size_t n_ports;
};

static void addr_ranges(const struct end *e, struct range (*out)[MAX_RANGES],
			size_t *n)
{
	n[0] = n[1] = 0;
	for (size_t i = 0; i < e->n_addrs; i++) {
		int fam = e->addrs[i].addr.family == AF_INET6;

		prefix_range(&e->addrs[i], &out[fam][n[fam]++]);
	}
}

static void flow_ranges(const struct kt_policy *p, const struct kt_pol_flow *f,
			struct flow_ranges *fr)
{
	struct end from, to;

	memset(fr, 0, sizeof(*fr));
	end_of(p, &f->from, &from);
	end_of(p, &f->to, &to);
	for (size_t i = 0; i < from.n_ifnames; i++)
		ifname_range(from.ifnames[i], &fr->src_if[fr->n_src_if++]);
	for (size_t i = 0; i < to.n_ifnames; i++)
		ifname_range(to.ifnames[i], &fr->dst_if[fr->n_dst_if++]);
	for (size_t i = 0; i < p->n_lines; i++)
		if (p->lines[i].kind == KT_LINE_BEST_EFFORT)
			ifname_range(p->lines[i].ifname,
				     &fr->line_if[fr->n_line_if++]);
	addr_ranges(&from, fr->src, fr->n_src);
	addr_ranges(&to, fr->dst, fr->n_dst);
	memset(fr->any_addr[0].hi, 0xff, 4);
	memset(fr->any_addr[1].hi, 0xff, 16);
	for (int fam = 0; fam < 2; fam++) {
		switch (f->proto) {
		case KT_POL_PROTO_TCP:
			fr->proto[fam].lo[0] = fr->proto[fam].hi[0] = IPPROTO_TCP;
			break;
		case KT_POL_PROTO_UDP:
			fr->proto[fam].lo[0] = fr->proto[fam].hi[0] = IPPROTO_UDP;
			break;
		case KT_POL_PROTO_ICMP:
			fr->proto[fam].lo[0] = fr->proto[fam].hi[0] =
				fam ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
			break;
		case KT_POL_PROTO_ANY:
			fr->proto[fam].hi[0] = 0xff;
			break;
		}
	}
	/* Protocols without ports still have bytes where a port would be
	 * (ICMP's checksum): match them all. */
	for (size_t i = 0; i < f->n_ports; i++) {
		struct range *r = &fr->ports[fr->n_ports++];

		r->lo[0] = (uint8_t)(f->ports[i].lo >> 8);
		r->lo[1] = (uint8_t)f->ports[i].lo;
		r->hi[0] = (uint8_t)(f->ports[i].hi >> 8);
		r->hi[1] = (uint8_t)f->ports[i].hi;
	}
	if (!f->n_ports) {
		memset(fr->ports[0].hi, 0xff, 2);
		fr->n_ports = 1;
	}
}

static int flow_boxes(struct kt_nft_batch *nb, const struct kt_policy *p,
		      const struct kt_pol_flow *f)
{
	struct flow_ranges *fr = malloc(sizeof(*fr));
	int r = 0;

	if (!fr)
		return -ENOMEM;
	flow_ranges(p, f, fr);
	for (int fam = 0; fam < 2 && !r; fam++) {
		/* Each field's ranges by what it holds, then in the map's
		 * order. */
		const struct range *rr[R_DPORT + 1] = { 0 };
		size_t nn[R_DPORT + 1] = { 0 };
		struct choice c = { 0 };
		struct vmap *m;

		rr[R_PROTO] = &fr->proto[fam], nn[R_PROTO] = 1;
		rr[R_DPORT] = fr->ports, nn[R_DPORT] = fr->n_ports;
		if (f->from.type == KT_POL_EP_BOX) {
			bool line = f->to.type == KT_POL_EP_INTERNET_LINE;

			m = &nb->maps[fam ? M_OUT6 : M_OUT4];
			rr[R_OIF] = line ? fr->line_if : fr->dst_if;
			nn[R_OIF] = line ? fr->n_line_if : fr->n_dst_if;
			rr[R_DADDR] = line ? &fr->any_addr[fam] : fr->dst[fam];
			nn[R_DADDR] = line ? 1 : fr->n_dst[fam];
		} else if (f->to.type == KT_POL_EP_BOX) {
			m = &nb->maps[fam ? M_IN6 : M_IN4];
			rr[R_IIF] = fr->src_if, nn[R_IIF] = fr->n_src_if;
			rr[R_SADDR] = fr->src[fam], nn[R_SADDR] = fr->n_src[fam];
		} else if (f->to.type == KT_POL_EP_INTERNET_LINE) {
			m = &nb->maps[fam ? M_BRK6 : M_BRK4];
			rr[R_IIF] = fr->src_if, nn[R_IIF] = fr->n_src_if;
			rr[R_OIF] = fr->line_if, nn[R_OIF] = fr->n_line_if;
			rr[R_SADDR] = fr->src[fam], nn[R_SADDR] = fr->n_src[fam];
		} else {
			m = &nb->maps[fam ? M_FWD6 : M_FWD4];
			rr[R_IIF] = fr->src_if, nn[R_IIF] = fr->n_src_if;
			rr[R_SADDR] = fr->src[fam], nn[R_SADDR] = fr->n_src[fam];
			rr[R_DADDR] = fr->dst[fam], nn[R_DADDR] = fr->n_dst[fam];
		}
		for (size_t i = 0; i < m->n; i++) {
			c.r[i] = rr[m->role[i]];
			c.n[i] = nn[m->role[i]];
		}
		r = expand(m, &c, f->log);
	}
	free(fr);
	return r;
}

/* --- netlink messages --- */

static void note(struct kt_nft_batch *nb, const char *what, const char *name)
{
	if (nb->n_what == nb->cap_what) {
		size_t cap = nb->cap_what ? nb->cap_what * 2 : 64;
		void *n = realloc(nb->what, cap * sizeof(*nb->what));

		if (!n) {
			nb->err = -ENOMEM;
			return;
		}
		nb->what = n;
		nb->cap_what = cap;
	}
	snprintf(nb->what[nb->n_what++], sizeof(nb->what[0]), "%s %s", what, name);
}

static struct nlmsghdr *msg(struct kt_nft_batch *nb, uint16_t type,
			    uint16_t flags, const char *what, const char *name)
{
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(nftnl_batch_buffer(nb->b), type,
						     NFPROTO_INET, flags | NLM_F_ACK,
						     nb->seq++);
	nb->messages++;
	note(nb, what, name);
	return nlh;
}

static void next(struct kt_nft_batch *nb)
{
	if (nftnl_batch_update(nb->b) < 0)
		nb->err = -ENOMEM;
}

static void table_msg(struct kt_nft_batch *nb, uint16_t type, uint16_t flags,
		      const char *comment)
{
	struct nftnl_table *t = nftnl_table_alloc();
	int r;

	if (!t) {
		nb->err = -ENOMEM;
		return;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, KT_NFT_TABLE);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	if (comment && (r = kt_nft_set_comment(t, comment)))
		nb->err = r;
	nftnl_table_nlmsg_build_payload(msg(nb, type, flags, "table",
					    KT_NFT_TABLE), t);
	nftnl_table_free(t);
	next(nb);
}

static void chain_msg(struct kt_nft_batch *nb, const char *name, int hook)
{
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (!c) {
		nb->err = -ENOMEM;
		return;
	}
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, KT_NFT_TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	if (hook >= 0) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, 0);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_DROP);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	}
	nftnl_chain_nlmsg_build_payload(msg(nb, NFT_MSG_NEWCHAIN, NLM_F_CREATE,
					    "chain", name), c);
	nftnl_chain_free(c);
	next(nb);
}

static struct nftnl_set *set_obj(const char *name, uint32_t id)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		return NULL;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, KT_NFT_TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	return s;
}

static void set_msg(struct kt_nft_batch *nb, struct nftnl_set *s, const char *name)
{
	nftnl_set_nlmsg_build_payload(msg(nb, NFT_MSG_NEWSET, NLM_F_CREATE,
					  "set", name), s);
	next(nb);
}

/* Elements go in messages of at most this many, well inside a batch page. */
#define ELEMS_PER_MSG 128

static void elems_msg(struct kt_nft_batch *nb, struct nftnl_set *s, const char *name)
{
	nftnl_set_elems_nlmsg_build_payload(msg(nb, NFT_MSG_NEWSETELEM, NLM_F_CREATE,
						"elements of", name), s);
	next(nb);
}

static void vmap_msgs(struct kt_nft_batch *nb, struct vmap *m)
{
	uint8_t lens[NFT_REG32_COUNT] = { 0 };
	uint32_t type = 0;
	size_t klen = 0;
	struct nftnl_set *s = set_obj(m->name, m->id);

	if (!s) {
		nb->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < m->n; i++) {
		lens[i] = fields[m->f[i]].len;
		klen += padded(lens[i]);
		type = type << 6 | fields[m->f[i]].type;
	}
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP | NFT_SET_INTERVAL |
			  NFT_SET_CONCAT);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, (uint32_t)klen);
	nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, lens, sizeof(lens));
	set_msg(nb, s, m->name);
	nftnl_set_free(s);

	for (size_t i = 0; i < m->n_boxes && !nb->err; i += ELEMS_PER_MSG) {
		s = set_obj(m->name, m->id);
		if (!s) {
			nb->err = -ENOMEM;
			return;
		}
		for (size_t j = i; j < m->n_boxes && j < i + ELEMS_PER_MSG; j++) {
			struct nftnl_set_elem *e = nftnl_set_elem_alloc();
			uint8_t lo[KEY_MAX] = { 0 }, hi[KEY_MAX] = { 0 };
			size_t off = 0, poff = 0;

			if (!e) {
				nb->err = -ENOMEM;
				break;
			}
			for (size_t k = 0; k < m->n; k++) {
				size_t l = fields[m->f[k]].len;

				memcpy(lo + poff, m->boxes[j].lo + off, l);
				memcpy(hi + poff, m->boxes[j].hi + off, l);
				off += l;
				poff += padded(l);
			}
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, lo, (uint32_t)klen);
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY_END, hi, (uint32_t)klen);
			if (m->boxes[j].log) {
				nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT,
						       (uint32_t)NFT_JUMP);
				nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN,
						       "log-accept");
			} else {
				nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT,
						       NF_ACCEPT);
			}
			nftnl_set_elem_add(s, e);
		}
		elems_msg(nb, s, m->name);
		nftnl_set_free(s);
	}
	nb->stats.elements += m->n_boxes;
}

/* --- rule expressions --- */

static void add(struct kt_nft_batch *nb, struct nftnl_rule *r,
		struct nftnl_expr *e)
{
	if (!e)
		nb->err = -ENOMEM;
	else
		nftnl_rule_add_expr(r, e);
}

static void e_meta(struct kt_nft_batch *nb, struct nftnl_rule *r,
		   uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	}
	add(nb, r, e);
}

static void e_cmp(struct kt_nft_batch *nb, struct nftnl_rule *r, uint32_t reg,
		  uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, reg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	}
	add(nb, r, e);
}

static void e_payload(struct kt_nft_batch *nb, struct nftnl_rule *r,
		      uint32_t base, uint32_t off, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	}
	add(nb, r, e);
}

static void e_lookup(struct kt_nft_batch *nb, struct nftnl_rule *r,
		     const char *set, uint32_t id, bool vmap)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG32_00);
		if (vmap)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, id);
	}
	add(nb, r, e);
}

static void e_counter(struct kt_nft_batch *nb, struct nftnl_rule *r)
{
	add(nb, r, nftnl_expr_alloc("counter"));
}

static void e_verdict(struct kt_nft_batch *nb, struct nftnl_rule *r, int v)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)v);
	}
	add(nb, r, e);
}

static void e_log(struct kt_nft_batch *nb, struct nftnl_rule *r,
		  const char *prefix, uint32_t group)
{
	struct nftnl_expr *e = nftnl_expr_alloc("log");

	if (e) {
		nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, prefix);
		nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, (uint16_t)group);
	}
	add(nb, r, e);
}

static void e_limit(struct kt_nft_batch *nb, struct nftnl_rule *r, uint32_t rate)
{
	struct nftnl_expr *e = nftnl_expr_alloc("limit");

	if (e) {
		nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, rate);
		nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1);	/* second */
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, 5);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
	}
	add(nb, r, e);
}

/* ct state & mask != 0 */
static void e_ct_state(struct kt_nft_batch *nb, struct nftnl_rule *r,
		       uint32_t mask)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");
	uint32_t zero = 0;

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	}
	add(nb, r, e);
	e = nftnl_expr_alloc("bitwise");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, 4);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, 4);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &zero, 4);
	}
	add(nb, r, e);
	e_cmp(nb, r, NFT_REG_1, NFT_CMP_NEQ, &zero, 4);
}

static void e_ifname(struct kt_nft_batch *nb, struct nftnl_rule *r,
		     uint32_t key, const char *name)
{
	char buf[IFNAMSIZ] = { 0 };

	strncpy(buf, name, sizeof(buf) - 1);
	e_meta(nb, r, key, NFT_REG_1);
	e_cmp(nb, r, NFT_REG_1, NFT_CMP_EQ, buf, sizeof(buf));
}

static void e_nfproto(struct kt_nft_batch *nb, struct nftnl_rule *r,
		      uint8_t proto)
{
	e_meta(nb, r, NFT_META_NFPROTO, NFT_REG_1);
	e_cmp(nb, r, NFT_REG_1, NFT_CMP_EQ, &proto, 1);
}

static struct nftnl_rule *rule_new(struct kt_nft_batch *nb, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r) {
		nb->err = -ENOMEM;
		return NULL;
	}
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, KT_NFT_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	return r;
}

static void rule_end(struct kt_nft_batch *nb, struct nftnl_rule *r,
		     const char *chain)
{
	if (!r)
		return;
	nftnl_rule_nlmsg_build_payload(msg(nb, NFT_MSG_NEWRULE,
					   NLM_F_CREATE | NLM_F_APPEND,
					   "a rule in chain", chain), r);
	nftnl_rule_free(r);
	next(nb);
}

#define NH NFT_PAYLOAD_NETWORK_HEADER
#define TH NFT_PAYLOAD_TRANSPORT_HEADER

/* Loads the key of a vmap into consecutive registers from reg32_00, in
 * the order of its fields: the same order as its elements' keys. */
static void load_key(struct kt_nft_batch *nb, struct nftnl_rule *r,
		     const struct vmap *m)
{
	uint32_t reg = NFT_REG32_00;

	for (size_t i = 0; i < m->n; i++) {
		size_t l = fields[m->f[i]].len;

		switch (m->role[i]) {
		case R_IIF:
			e_meta(nb, r, NFT_META_IIFNAME, reg);
			break;
		case R_OIF:
			e_meta(nb, r, NFT_META_OIFNAME, reg);
			break;
		case R_PROTO:
			e_meta(nb, r, NFT_META_L4PROTO, reg);
			break;
		case R_SADDR:
			e_payload(nb, r, NH, m->v6 ? 8 : 12, (uint32_t)l, reg);
			break;
		case R_DADDR:
			e_payload(nb, r, NH, m->v6 ? 24 : 16, (uint32_t)l, reg);
			break;
		case R_DPORT:
			e_payload(nb, r, TH, 2, (uint32_t)l, reg);
			break;
		}
		reg += (uint32_t)(padded(l) / 4);
	}
}

static void vmap_rule(struct kt_nft_batch *nb, const char *chain, int mi)
{
	struct vmap *m = &nb->maps[mi];
	struct nftnl_rule *r = rule_new(nb, chain);

	if (!r)
		return;
	e_nfproto(nb, r, m->v6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
	e_counter(nb, r);
	load_key(nb, r, m);
	e_lookup(nb, r, m->name, m->id, true);
	rule_end(nb, r, chain);
}

static void simple_rule(struct kt_nft_batch *nb, const char *chain,
			int kind, uint32_t key)
{
	struct nftnl_rule *r = rule_new(nb, chain);

	if (!r)
		return;
	switch (kind) {
	case 0:		/* established or related */
		e_ct_state(nb, r, NF_CT_STATE_BIT(IP_CT_ESTABLISHED) |
			   NF_CT_STATE_BIT(IP_CT_RELATED));
		e_counter(nb, r);
		e_verdict(nb, r, NF_ACCEPT);
		break;
	case 1:		/* invalid */
		e_ct_state(nb, r, NF_CT_STATE_INVALID_BIT);
		e_counter(nb, r);
		e_verdict(nb, r, NF_DROP);
		break;
	case 2:		/* loopback */
		e_ifname(nb, r, key, "lo");
		e_counter(nb, r);
		e_verdict(nb, r, NF_ACCEPT);
		break;
	case 3: {	/* IPv6 neighbour and multicast listener discovery,
			 * which conntrack does not track */
		uint8_t icmp6 = IPPROTO_ICMPV6;

		e_nfproto(nb, r, NFPROTO_IPV6);
		e_meta(nb, r, NFT_META_L4PROTO, NFT_REG_1);
		e_cmp(nb, r, NFT_REG_1, NFT_CMP_EQ, &icmp6, 1);
		e_payload(nb, r, TH, 0, 1, NFT_REG32_00);
		e_lookup(nb, r, "nd", nb->next_id - 1, false);
		e_counter(nb, r);
		e_verdict(nb, r, NF_ACCEPT);
		break;
	}
	case 4:		/* the lines' tunnel ports; key: dport or sport offset */
		e_meta(nb, r, chain[0] == 'i' ? NFT_META_IIFNAME : NFT_META_OIFNAME,
		       NFT_REG32_00);
		e_meta(nb, r, NFT_META_L4PROTO, NFT_REG32_04);
		e_payload(nb, r, TH, key, 2, NFT_REG32_05);
		e_lookup(nb, r, "underlay", nb->next_id - 2, false);
		e_counter(nb, r);
		e_verdict(nb, r, NF_ACCEPT);
		break;
	case 5: {	/* BFD inside the box's own tunnels (every path's
			 * liveness, netstack/bfd.h): only on the interfaces
			 * kyotend makes, whose packets the tunnel has
			 * authenticated; udp dport 3784 both ways */
		uint8_t udp = IPPROTO_UDP;
		uint16_t port = htons(KT_BFD_PORT);

		e_meta(nb, r, chain[0] == 'i' ? NFT_META_IIFNAME : NFT_META_OIFNAME,
		       NFT_REG_1);
		e_cmp(nb, r, NFT_REG_1, NFT_CMP_EQ, KT_TUNNEL_IFNAME_PREFIX,
		      strlen(KT_TUNNEL_IFNAME_PREFIX));
		e_meta(nb, r, NFT_META_L4PROTO, NFT_REG_1);
		e_cmp(nb, r, NFT_REG_1, NFT_CMP_EQ, &udp, 1);
		e_payload(nb, r, TH, 2, 2, NFT_REG_1);
		e_cmp(nb, r, NFT_REG_1, NFT_CMP_EQ, &port, 2);
		e_counter(nb, r);
		e_verdict(nb, r, NF_ACCEPT);
		break;
	}
	}
	rule_end(nb, r, chain);
}

/* --- local breakout: source NAT --- */

/* Flows to internet-line leave by a best-effort line with the segment's
 * own (private) source addresses, which the carrier does not route back:
 * they are masqueraded to the line's address. The rule looks the packet
 * up in the brk map the forward chain accepted it by, for membership
 * only (no verdict), so exactly those flows are translated and no second
 * copy of their elements can drift from the first. The chain exists only
 * when the policy has such flows: a kernel without NAT then still runs
 * every other policy. Conntrack sends only a connection's first packet
 * through it. */
static void breakout_nat(struct kt_nft_batch *nb)
{
	static const char chain[] = "postrouting";
	const int maps[2] = { M_BRK4, M_BRK6 };
	struct nftnl_chain *c;

	if (!nb->maps[M_BRK4].n_boxes && !nb->maps[M_BRK6].n_boxes)
		return;
	c = nftnl_chain_alloc();
	if (!c) {
		nb->err = -ENOMEM;
		return;
	}
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, KT_NFT_TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, chain);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_POST_ROUTING);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, 100);	/* nft's srcnat */
	/* A nat chain only translates; the filter chains decide. */
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "nat");
	nftnl_chain_nlmsg_build_payload(msg(nb, NFT_MSG_NEWCHAIN, NLM_F_CREATE,
					    "chain", chain), c);
	nftnl_chain_free(c);
	next(nb);

	for (int fam = 0; fam < 2; fam++) {
		struct vmap *m = &nb->maps[maps[fam]];
		struct nftnl_rule *r;

		if (!m->n_boxes)
			continue;
		r = rule_new(nb, chain);
		if (!r)
			return;
		e_nfproto(nb, r, fam ? NFPROTO_IPV6 : NFPROTO_IPV4);
		load_key(nb, r, m);
		e_lookup(nb, r, m->name, m->id, false);
		e_counter(nb, r);
		add(nb, r, nftnl_expr_alloc("masq"));
		rule_end(nb, r, chain);
	}
}

static void deny_rules(struct kt_nft_batch *nb, const struct kt_nft_opts *o,
		       const char *chain)
{
	char prefix[32];
	struct nftnl_rule *r = rule_new(nb, chain);

	/* The prefix names the chain: the daemon turns these into events. */
	snprintf(prefix, sizeof(prefix), "kyoten-deny-%s ", chain);
	if (r) {
		e_limit(nb, r, o->deny_log_rate);
		e_counter(nb, r);
		e_log(nb, r, prefix, o->nflog_group);
		rule_end(nb, r, chain);
	}
	r = rule_new(nb, chain);
	if (r) {
		e_counter(nb, r);
		e_verdict(nb, r, NF_DROP);
		rule_end(nb, r, chain);
	}
}

static void fixed_sets(struct kt_nft_batch *nb, const struct kt_policy *p)
{
	/* Neighbour discovery (RS RA NS NA) and multicast listener
	 * discovery (MLD queries, reports, done; MLDv2 reports): without
	 * MLD, a switch that snoops it stops sending the box the
	 * solicited-node multicast that neighbour discovery relies on. */
	static const uint8_t nd[] = { 130, 131, 132, 133, 134, 135, 136, 143 };
	struct nftnl_set *s;
	size_t n = 0;

	/* underlay: ifname . inet_proto . inet_service */
	s = set_obj("underlay", nb->next_id++);
	if (!s) {
		nb->err = -ENOMEM;
		return;
	}
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE,
			  (DT_IFNAME << 12) | (DT_INET_PROTO << 6) | DT_INET_SERVICE);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, IFNAMSIZ + 4 + 4);
	set_msg(nb, s, "underlay");
	for (size_t i = 0; i < p->n_lines; i++)
		for (size_t j = 0; j < p->lines[i].n_tunnel_ports; j++) {
			struct nftnl_set_elem *e = nftnl_set_elem_alloc();
			uint8_t key[IFNAMSIZ + 8] = { 0 };

			if (!e) {
				nb->err = -ENOMEM;
				break;
			}
			strncpy((char *)key, p->lines[i].ifname, IFNAMSIZ - 1);
			key[IFNAMSIZ] = IPPROTO_UDP;
			key[IFNAMSIZ + 4] = (uint8_t)(p->lines[i].tunnel_ports[j] >> 8);
			key[IFNAMSIZ + 5] = (uint8_t)p->lines[i].tunnel_ports[j];
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, sizeof(key));
			nftnl_set_elem_add(s, e);
			n++;
		}
	if (n)
		elems_msg(nb, s, "underlay");
	nftnl_set_free(s);

	s = set_obj("nd", nb->next_id++);
	if (!s) {
		nb->err = -ENOMEM;
		return;
	}
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, DT_ICMP6_TYPE);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 1);
	set_msg(nb, s, "nd");
	for (size_t i = 0; i < sizeof(nd); i++) {
		struct nftnl_set_elem *e = nftnl_set_elem_alloc();

		if (!e) {
			nb->err = -ENOMEM;
			break;
		}
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &nd[i], 1);
		nftnl_set_elem_add(s, e);
	}
	elems_msg(nb, s, "nd");
	nftnl_set_free(s);
}

void kt_nft_opts_default(struct kt_nft_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->nflog_group = CONFIG_POLICY_NFLOG_GROUP;
	o->deny_log_rate = CONFIG_POLICY_DENY_LOG_RATE;
}

int kt_nft_build(const struct kt_policy *p, const struct kt_nft_opts *o,
		 struct kt_nft_batch **out, struct kt_nft_stats *stats)
{
	struct kt_nft_batch *nb = calloc(1, sizeof(*nb));
	int r = 0;

	*out = NULL;
	if (!nb)
		return -ENOMEM;
	/* Pages of 256 KiB; a message never exceeds the 64 KiB beyond. */
	nb->b = nftnl_batch_alloc(256 * 1024, 64 * 1024);
	if (!nb->b) {
		free(nb);
		return -ENOMEM;
	}
	nb->seq = nb->first_seq = (uint32_t)time(NULL);
	nb->next_id = 1;
	for (int i = 0; i < M_COUNT; i++) {
		nb->maps[i] = map_shapes[i];
		nb->maps[i].id = nb->next_id++;
		for (size_t f = 0; f < nb->maps[i].n; f++)
			nb->maps[i].f[f] = field_of(nb->maps[i].role[f],
						    nb->maps[i].v6);
	}
	/* Logged flows first: where flows overlap, the log verdict wins. */
	for (int pass = 1; pass >= 0 && !r; pass--)
		for (size_t i = 0; i < p->n_flows && !r; i++)
			if (p->flows[i].log == (pass == 1))
				r = flow_boxes(nb, p, &p->flows[i]);
	for (int i = 0; i < M_COUNT && !r; i++)
		r = disjoint(&nb->maps[i]);
	if (r)
		goto fail;

	nftnl_batch_begin(nftnl_batch_buffer(nb->b), nb->seq++);
	next(nb);
	/* Create (if absent), delete, create: the old table goes and the new
	 * one comes in the same transaction. */
	table_msg(nb, NFT_MSG_NEWTABLE, NLM_F_CREATE, NULL);
	table_msg(nb, NFT_MSG_DELTABLE, 0, NULL);
	table_msg(nb, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, o->comment);
	chain_msg(nb, "log-accept", -1);
	chain_msg(nb, "input", NF_INET_LOCAL_IN);
	chain_msg(nb, "forward", NF_INET_FORWARD);
	chain_msg(nb, "output", NF_INET_LOCAL_OUT);
	for (int i = 0; i < M_COUNT; i++)
		vmap_msgs(nb, &nb->maps[i]);
	fixed_sets(nb, p);

	{
		struct nftnl_rule *la = rule_new(nb, "log-accept");

		if (la) {
			e_counter(nb, la);
			e_log(nb, la, "kyoten-allow ", o->nflog_group);
			e_verdict(nb, la, NF_ACCEPT);
			rule_end(nb, la, "log-accept");
		}
	}
	simple_rule(nb, "input", 2, NFT_META_IIFNAME);
	simple_rule(nb, "input", 3, 0);
	simple_rule(nb, "input", 0, 0);
	simple_rule(nb, "input", 1, 0);
	simple_rule(nb, "input", 4, 2);		/* udp dport */
	simple_rule(nb, "input", 5, 0);
	vmap_rule(nb, "input", M_IN4);
	vmap_rule(nb, "input", M_IN6);
	deny_rules(nb, o, "input");

	simple_rule(nb, "forward", 0, 0);
	simple_rule(nb, "forward", 1, 0);
	vmap_rule(nb, "forward", M_FWD4);
	vmap_rule(nb, "forward", M_FWD6);
	vmap_rule(nb, "forward", M_BRK4);
	vmap_rule(nb, "forward", M_BRK6);
	deny_rules(nb, o, "forward");

	simple_rule(nb, "output", 2, NFT_META_OIFNAME);
	simple_rule(nb, "output", 3, 0);
	simple_rule(nb, "output", 0, 0);
	simple_rule(nb, "output", 1, 0);
	simple_rule(nb, "output", 4, 0);	/* udp sport */
	simple_rule(nb, "output", 5, 0);
	vmap_rule(nb, "output", M_OUT4);
	vmap_rule(nb, "output", M_OUT6);
	deny_rules(nb, o, "output");

	breakout_nat(nb);

	if (o->fail_last) {
		/* A jump to a chain that does not exist. */
		struct nftnl_rule *bad = rule_new(nb, "forward");
		struct nftnl_expr *e = nftnl_expr_alloc("immediate");

		if (bad && e) {
			nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
			nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)NFT_JUMP);
			nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, "no-such-chain");
			nftnl_rule_add_expr(bad, e);
			rule_end(nb, bad, "forward");
		} else {
			nftnl_expr_free(e);
			nftnl_rule_free(bad);
			nb->err = -ENOMEM;
		}
	}
	nftnl_batch_end(nftnl_batch_buffer(nb->b), nb->seq++);
	next(nb);
	if ((r = nb->err))
		goto fail;
	nb->stats.messages = nb->messages;
	nb->stats.bytes = 0;
	{
		int n = nftnl_batch_iovec_len(nb->b);
		struct iovec *iov = calloc((size_t)n + 1, sizeof(*iov));

		if (!iov) {
			r = -ENOMEM;
			goto fail;
		}
		nftnl_batch_iovec(nb->b, iov, (uint32_t)n);
		for (int i = 0; i < n; i++)
			nb->stats.bytes += iov[i].iov_len;
		free(iov);
	}
	if (stats)
		*stats = nb->stats;
	*out = nb;
	return 0;
fail:
	kt_nft_free(nb);
	return r;
}

void kt_nft_free(struct kt_nft_batch *nb)
{
	if (!nb)
		return;
	for (int i = 0; i < M_COUNT; i++) {
		free(nb->maps[i].in);
		free(nb->maps[i].boxes);
	}
	free(nb->what);
	nftnl_batch_free(nb->b);
	free(nb);
}

/* Reads every answer the kernel queued while it ran the batch. */
static int read_acks(struct mnl_socket *nl, struct kt_nft_batch *nb, char *err,
		     size_t errlen)
{
	size_t bufsz = 64 * 1024;
	char *buf = malloc(bufsz);
	int first = 0;

	if (!buf)
		return -ENOMEM;
	while (nb->acks < nb->messages) {
		ssize_t n = recv(mnl_socket_get_fd(nl), buf, bufsz, MSG_DONTWAIT);
		const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
		int left = (int)n;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* Nothing more: after a refusal the kernel answers
			 * only the messages it ran. */
			if (!first) {
				first = -errno;
				snprintf(err, errlen, "reading the kernel's answers: %s",
					 strerror(errno));
			}
			break;
		}
		for (; mnl_nlmsg_ok(h, left); h = mnl_nlmsg_next(h, &left)) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
			size_t i;

			if (h->nlmsg_type != NLMSG_ERROR ||
			    h->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
				continue;
			nb->acks++;
			if (!e->error || first)
				continue;
			first = e->error;
			/* Sequence numbers count from the batch's first
			 * message (the begin marker has none to answer). */
			i = e->msg.nlmsg_seq - nb->first_seq - 1;
			snprintf(err, errlen, "the kernel refused %s: %s",
				 i < nb->n_what ? nb->what[i] : "a message",
				 strerror(-e->error));
		}
	}
	free(buf);
	return first;
}

int kt_nft_commit(struct kt_nft_batch *nb, char *err, size_t errlen)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	int n = nftnl_batch_iovec_len(nb->b), one = 1, r;
	struct iovec *iov;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct msghdr mh = {
		.msg_name = &sa, .msg_namelen = sizeof(sa),
		.msg_iovlen = (size_t)n,
	};
	int size;

	snprintf(err, errlen, "no error");
	if (!nl) {
		r = -errno;
		snprintf(err, errlen, "netfilter netlink socket: %s", strerror(errno));
		return r;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		snprintf(err, errlen, "netfilter netlink bind: %s", strerror(errno));
		mnl_socket_close(nl);
		return r;
	}
	/* Answers carry only the header of what they answer, and the whole
	 * batch must fit the socket in one sendmsg: it is one transaction. */
	mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	size = nb->stats.bytes > (size_t)INT32_MAX / 2 ? INT32_MAX / 2
						       : (int)nb->stats.bytes;
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUFFORCE, &size,
		       sizeof(size)))
		setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUF, &size,
			   sizeof(size));
	/* The kernel charges each answer its buffer's whole size (some
	 * 700 bytes), not the 36 bytes it carries: at 64 bytes each, the
	 * answers to a batch of 10,000 flows (300 messages) overflowed the
	 * socket (ENOBUFS) after the kernel had committed the batch. */
	size = (int)(nb->messages * 1024 + 65536);
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &size,
		       sizeof(size)))
		setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &size,
			   sizeof(size));
	iov = calloc((size_t)n + 1, sizeof(*iov));
	if (!iov) {
		mnl_socket_close(nl);
		return -ENOMEM;
	}
	nftnl_batch_iovec(nb->b, iov, (uint32_t)n);
	mh.msg_iov = iov;
	r = sendmsg(mnl_socket_get_fd(nl), &mh, 0) < 0 ? -errno : 0;
	free(iov);
	if (r) {
		snprintf(err, errlen, "sending the batch (%zu bytes): %s",
			 nb->stats.bytes, strerror(-r));
		mnl_socket_close(nl);
		return r;
	}
	r = read_acks(nl, nb, err, errlen);
	mnl_socket_close(nl);
	return r;
}

int kt_nft_apply(const struct kt_policy *p, const struct kt_nft_opts *o,
		 struct kt_nft_stats *stats, char *err, size_t errlen)
{
	struct kt_nft_batch *nb;
	int r = kt_nft_build(p, o, &nb, stats);

	if (r) {
		snprintf(err, errlen, "building the batch: %s", strerror(-r));
		return r;
	}
	r = kt_nft_commit(nb, err, errlen);
	kt_nft_free(nb);
	return r;
}
