/* The policy as one nftables batch, built with libnftnl and sent with
 * libmnl (nft.h says what and why).
 *
 * Table "inet kyoten":
 *
 *   chain input   (hook input, policy drop)    lo, IPv6 neighbour and
 *                 multicast listener discovery (@nd), established/related,
 *                 invalid -> drop, the lines' tunnel ports (@underlay),
 *                 vmaps @in4 @in6, log denied, drop
 *   chain forward (hook forward, policy drop)  established/related,
 *                 invalid -> drop, vmaps @fwd4 @fwd6 @brk4 @brk6,
 *                 log denied, drop
 *   chain output  (hook output, policy drop)   lo, ND and MLD (@nd),
 *                 established/related, invalid -> drop, tunnel ports
 *                 (source), vmaps @out4 @out6, log denied, drop
 *   chain log-accept   counter, nflog, accept: the verdict of flows with
 *                 log: true
 *   chain postrouting (hook postrouting, type nat; only with flows to
 *                 internet-line)  masquerade what @brk4 / @brk6 hold
 *
 * The vmaps are interval maps on concatenations:
 *   fwd: iifname . saddr . daddr . l4proto . th dport
 *   brk: iifname . oifname . saddr . l4proto . th dport  (internet line)
 *   in:  iifname . saddr . l4proto . th dport            (to the box)
 *   out: oifname . daddr . l4proto . th dport            (from the box)
 * Every rule carries a counter. */
#include "nft.h"

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

#include "generated/autoconf.h"

/* nft's datatype numbers, which `nft list` uses to print set keys; a
 * concatenation packs them 6 bits each, first field highest. */
enum { DT_IPADDR = 7, DT_IP6ADDR = 8, DT_INET_PROTO = 12, DT_INET_SERVICE = 13,
       DT_ICMP6_TYPE = 29, DT_IFNAME = 41 };

enum field { F_IFNAME, F_IP4, F_IP6, F_PROTO, F_PORT };

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
	uint8_t n;
	enum field f[MAX_FIELDS];
	uint32_t id;
	struct box *boxes;
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

static const struct vmap map_shapes[M_COUNT] = {
	[M_FWD4] = { "fwd4", 5, { F_IFNAME, F_IP4, F_IP4, F_PROTO, F_PORT } },
	[M_FWD6] = { "fwd6", 5, { F_IFNAME, F_IP6, F_IP6, F_PROTO, F_PORT } },
	[M_BRK4] = { "brk4", 5, { F_IFNAME, F_IFNAME, F_IP4, F_PROTO, F_PORT } },
	[M_BRK6] = { "brk6", 5, { F_IFNAME, F_IFNAME, F_IP6, F_PROTO, F_PORT } },
	[M_IN4] = { "in4", 4, { F_IFNAME, F_IP4, F_PROTO, F_PORT } },
	[M_IN6] = { "in6", 4, { F_IFNAME, F_IP6, F_PROTO, F_PORT } },
	[M_OUT4] = { "out4", 4, { F_IFNAME, F_IP4, F_PROTO, F_PORT } },
	[M_OUT6] = { "out6", 4, { F_IFNAME, F_IP6, F_PROTO, F_PORT } },
};

/* --- boxes --- */

static bool overlap(const struct vmap *m, const struct box *a,
		    const struct box *b)
{
	size_t off = 0;

	for (size_t i = 0; i < m->n; i++) {
		size_t l = fields[m->f[i]].len;

		if (memcmp(a->hi + off, b->lo + off, l) < 0 ||
		    memcmp(b->hi + off, a->lo + off, l) < 0)
			return false;
		off += l;
	}
	return true;
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

static int push(struct vmap *m, const struct box *b)
{
	if (m->n_boxes == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct box *n = realloc(m->boxes, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		m->boxes = n;
		m->cap = cap;
	}
	m->boxes[m->n_boxes++] = *b;
	return 0;
}

/* The kernel's interval maps refuse an element that starts or ends inside
 * another, so elements must be disjoint. A new box is cut against every
 * box already in the map (at most two pieces per field each time); where
 * it overlaps, the earlier box wins, so logged flows go in first. */
static int add_box(struct vmap *m, const struct box *nb)
{
	struct box *work = malloc(sizeof(*work) * 16);
	size_t n = 1, cap = 16;
	int r = 0;

	if (!work)
		return -ENOMEM;
	work[0] = *nb;
	for (size_t e = 0; e < m->n_boxes && n; e++) {
		const struct box *ex = &m->boxes[e];

		for (size_t w = 0; w < n;) {
			struct box rest = work[w];
			size_t off = 0;

			if (!overlap(m, &rest, ex)) {
				w++;
				continue;
			}
			/* Replace work[w] by the pieces of rest outside ex. */
			work[w] = work[--n];
			for (size_t i = 0; i < m->n; i++) {
				size_t l = fields[m->f[i]].len;

				if (n + 2 > cap) {
					struct box *g = realloc(work, sizeof(*g) * cap * 2);

					if (!g) {
						free(work);
						return -ENOMEM;
					}
					work = g;
					cap *= 2;
				}
				if (memcmp(rest.lo + off, ex->lo + off, l) < 0) {
					struct box piece = rest;

					memcpy(piece.hi + off, ex->lo + off, l);
					sub_one(piece.hi + off, l);
					work[n++] = piece;
					memcpy(rest.lo + off, ex->lo + off, l);
				}
				if (memcmp(rest.hi + off, ex->hi + off, l) > 0) {
					struct box piece = rest;

					memcpy(piece.lo + off, ex->hi + off, l);
					add_one(piece.lo + off, l);
					work[n++] = piece;
					memcpy(rest.hi + off, ex->hi + off, l);
				}
				off += l;
			}
			/* The pieces moved in at the end are disjoint from ex;
			 * what is left of rest lies inside ex and is dropped.
			 * The slot w now holds an unchecked box: look again. */
		}
	}
	for (size_t w = 0; w < n && !r; w++)
		r = push(m, &work[w]);
	free(work);
	return r;
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
		if ((r = add_box(m, &b)))
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
		struct choice c = { 0 };
		struct vmap *m;

		if (f->from.type == KT_POL_EP_BOX) {
			bool line = f->to.type == KT_POL_EP_INTERNET_LINE;

			m = &nb->maps[fam ? M_OUT6 : M_OUT4];
			c.r[0] = line ? fr->line_if : fr->dst_if;
			c.n[0] = line ? fr->n_line_if : fr->n_dst_if;
			c.r[1] = line ? &fr->any_addr[fam] : fr->dst[fam];
			c.n[1] = line ? 1 : fr->n_dst[fam];
			c.r[2] = &fr->proto[fam], c.n[2] = 1;
			c.r[3] = fr->ports, c.n[3] = fr->n_ports;
		} else if (f->to.type == KT_POL_EP_BOX) {
			m = &nb->maps[fam ? M_IN6 : M_IN4];
			c.r[0] = fr->src_if, c.n[0] = fr->n_src_if;
			c.r[1] = fr->src[fam], c.n[1] = fr->n_src[fam];
			c.r[2] = &fr->proto[fam], c.n[2] = 1;
			c.r[3] = fr->ports, c.n[3] = fr->n_ports;
		} else if (f->to.type == KT_POL_EP_INTERNET_LINE) {
			m = &nb->maps[fam ? M_BRK6 : M_BRK4];
			c.r[0] = fr->src_if, c.n[0] = fr->n_src_if;
			c.r[1] = fr->line_if, c.n[1] = fr->n_line_if;
			c.r[2] = fr->src[fam], c.n[2] = fr->n_src[fam];
			c.r[3] = &fr->proto[fam], c.n[3] = 1;
			c.r[4] = fr->ports, c.n[4] = fr->n_ports;
		} else {
			m = &nb->maps[fam ? M_FWD6 : M_FWD4];
			c.r[0] = fr->src_if, c.n[0] = fr->n_src_if;
			c.r[1] = fr->src[fam], c.n[1] = fr->n_src[fam];
			c.r[2] = fr->dst[fam], c.n[2] = fr->n_dst[fam];
			c.r[3] = &fr->proto[fam], c.n[3] = 1;
			c.r[4] = fr->ports, c.n[4] = fr->n_ports;
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

/* Loads the key of a vmap into consecutive registers from reg32_00. */
static void load_key(struct kt_nft_batch *nb, struct nftnl_rule *r,
		     const struct vmap *m, const uint32_t *what)
{
	uint32_t reg = NFT_REG32_00;

	for (size_t i = 0; i < m->n; i++) {
		size_t l = fields[m->f[i]].len;

		switch (what[i]) {
		case NFT_META_IIFNAME:
		case NFT_META_OIFNAME:
		case NFT_META_L4PROTO:
			e_meta(nb, r, what[i], reg);
			break;
		default:	/* a payload: (base << 16) | offset */
			e_payload(nb, r, what[i] >> 16, what[i] & 0xffff,
				  (uint32_t)l, reg);
			break;
		}
		reg += (uint32_t)(padded(l) / 4);
	}
}

#define PL(base, off) ((uint32_t)(base) << 16 | (off))
#define NH NFT_PAYLOAD_NETWORK_HEADER
#define TH NFT_PAYLOAD_TRANSPORT_HEADER

static void vmap_rule(struct kt_nft_batch *nb, const char *chain, int mi,
		      const uint32_t *what)
{
	struct vmap *m = &nb->maps[mi];
	struct nftnl_rule *r = rule_new(nb, chain);
	bool v6 = mi == M_FWD6 || mi == M_BRK6 || mi == M_IN6 || mi == M_OUT6;

	if (!r)
		return;
	e_nfproto(nb, r, v6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
	e_counter(nb, r);
	load_key(nb, r, m, what);
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
static void breakout_nat(struct kt_nft_batch *nb, const uint32_t *k4,
			 const uint32_t *k6)
{
	static const char chain[] = "postrouting";
	const int maps[2] = { M_BRK4, M_BRK6 };
	const uint32_t *keys[2] = { k4, k6 };
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
		load_key(nb, r, m, keys[fam]);
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
	static const uint32_t k_fwd4[] = { NFT_META_IIFNAME, PL(NH, 12), PL(NH, 16),
					   NFT_META_L4PROTO, PL(TH, 2) };
	static const uint32_t k_fwd6[] = { NFT_META_IIFNAME, PL(NH, 8), PL(NH, 24),
					   NFT_META_L4PROTO, PL(TH, 2) };
	static const uint32_t k_brk4[] = { NFT_META_IIFNAME, NFT_META_OIFNAME,
					   PL(NH, 12), NFT_META_L4PROTO, PL(TH, 2) };
	static const uint32_t k_brk6[] = { NFT_META_IIFNAME, NFT_META_OIFNAME,
					   PL(NH, 8), NFT_META_L4PROTO, PL(TH, 2) };
	static const uint32_t k_in4[] = { NFT_META_IIFNAME, PL(NH, 12),
					  NFT_META_L4PROTO, PL(TH, 2) };
	static const uint32_t k_in6[] = { NFT_META_IIFNAME, PL(NH, 8),
					  NFT_META_L4PROTO, PL(TH, 2) };
	static const uint32_t k_out4[] = { NFT_META_OIFNAME, PL(NH, 16),
					   NFT_META_L4PROTO, PL(TH, 2) };
	static const uint32_t k_out6[] = { NFT_META_OIFNAME, PL(NH, 24),
					   NFT_META_L4PROTO, PL(TH, 2) };
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
	}
	/* Logged flows first: where flows overlap, the log verdict wins. */
	for (int pass = 1; pass >= 0 && !r; pass--)
		for (size_t i = 0; i < p->n_flows && !r; i++)
			if (p->flows[i].log == (pass == 1))
				r = flow_boxes(nb, p, &p->flows[i]);
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
	vmap_rule(nb, "input", M_IN4, k_in4);
	vmap_rule(nb, "input", M_IN6, k_in6);
	deny_rules(nb, o, "input");

	simple_rule(nb, "forward", 0, 0);
	simple_rule(nb, "forward", 1, 0);
	vmap_rule(nb, "forward", M_FWD4, k_fwd4);
	vmap_rule(nb, "forward", M_FWD6, k_fwd6);
	vmap_rule(nb, "forward", M_BRK4, k_brk4);
	vmap_rule(nb, "forward", M_BRK6, k_brk6);
	deny_rules(nb, o, "forward");

	simple_rule(nb, "output", 2, NFT_META_OIFNAME);
	simple_rule(nb, "output", 3, 0);
	simple_rule(nb, "output", 0, 0);
	simple_rule(nb, "output", 1, 0);
	simple_rule(nb, "output", 4, 0);	/* udp sport */
	vmap_rule(nb, "output", M_OUT4, k_out4);
	vmap_rule(nb, "output", M_OUT6, k_out6);
	deny_rules(nb, o, "output");

	breakout_nat(nb, k_brk4, k_brk6);

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
	for (int i = 0; i < M_COUNT; i++)
		free(nb->maps[i].boxes);
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
	size = (int)(nb->messages * 64 + 65536);
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
