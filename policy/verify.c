/* Checks what the kernel holds, not what the compiler meant to write.
 *
 * Input: the JSON of `nft -j list table inet kyoten` and the policy (for
 * which interface and address is which segment). The table is read as the
 * kernel will run it: every base chain must drop by default; a rule may
 * only drop, log or count, or be one of the accepting shapes the compiler
 * writes (established replies, loopback, neighbour discovery, the lines'
 * tunnel ports, a lookup in one of the flow maps by the expected key);
 * and every element of the flow maps is classified by its interface and
 * addresses and judged by the same invariants as a flow. Address
 * translation must be the compiler's own (masquerade of the breakout
 * flows, looked up in @brk4 / @brk6): it cannot widen what the filter
 * chains let through, but anything else in the table was not written by
 * the compiler. Other tables
 * cannot widen this one: in nftables a packet dropped by any base chain
 * stays dropped. */
#include "verify.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bfd.h"
#include "nft.h"

struct vctx {
	const struct kt_policy *p;
	json_t *items;			/* the "nftables" array */
	struct kt_pol_finding *f;
	size_t max, n;
};

__attribute__((format(printf, 4, 5)))
static void finding(struct vctx *c, enum kt_pol_inv inv, const char *where,
		    const char *fmt, ...)
{
	if (c->n < c->max) {
		struct kt_pol_finding *f = &c->f[c->n];
		va_list ap;

		f->inv = inv;
		snprintf(f->where, sizeof(f->where), "%s", where);
		va_start(ap, fmt);
		vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
		va_end(ap);
	}
	c->n++;
}

static json_t *object_named(struct vctx *c, const char *kind, const char *name)
{
	size_t i;
	json_t *it;

	json_array_foreach(c->items, i, it) {
		json_t *o = json_object_get(it, kind);
		const char *n = json_string_value(json_object_get(o, "name"));

		if (o && n && !strcmp(n, name))
			return o;
	}
	return NULL;
}

/* --- values of map elements --- */

struct span {
	int family;			/* AF_INET, AF_INET6 */
	uint8_t lo[16], hi[16];
};

static bool parse_addr(const char *s, int *fam, uint8_t *out)
{
	if (inet_pton(AF_INET, s, out) == 1) {
		*fam = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*fam = AF_INET6;
		return true;
	}
	return false;
}

static bool addr_span(json_t *v, struct span *sp)
{
	json_t *pre = json_object_get(v, "prefix"), *rg = json_object_get(v, "range");
	int fam2;

	memset(sp, 0, sizeof(*sp));
	if (json_is_string(v)) {
		if (!parse_addr(json_string_value(v), &sp->family, sp->lo))
			return false;
		memcpy(sp->hi, sp->lo, 16);
		return true;
	}
	if (pre) {
		json_int_t len = json_integer_value(json_object_get(pre, "len"));
		const char *a = json_string_value(json_object_get(pre, "addr"));
		size_t bytes;

		if (!a || !parse_addr(a, &sp->family, sp->lo))
			return false;
		bytes = sp->family == AF_INET ? 4 : 16;
		if (len < 0 || (size_t)len > bytes * 8)
			return false;
		for (size_t i = 0; i < bytes; i++) {
			size_t keep = (size_t)len >= (i + 1) * 8 ? 8
				: (size_t)len > i * 8 ? (size_t)len - i * 8 : 0;
			uint8_t mask = (uint8_t)(0xff00u >> keep);

			sp->lo[i] &= mask;
			sp->hi[i] = (uint8_t)(sp->lo[i] | ~mask);
		}
		return true;
	}
	if (json_array_size(rg) == 2 && json_is_string(json_array_get(rg, 0)) &&
	    json_is_string(json_array_get(rg, 1)))
		return parse_addr(json_string_value(json_array_get(rg, 0)),
				  &sp->family, sp->lo) &&
		       parse_addr(json_string_value(json_array_get(rg, 1)),
				  &fam2, sp->hi) && fam2 == sp->family;
	return false;
}

static bool number(json_t *v, bool proto, long *out)
{
	const char *s = json_string_value(v);

	if (json_is_integer(v)) {
		*out = (long)json_integer_value(v);
		return true;
	}
	if (!s)
		return false;
	if (proto) {
		static const struct { const char *n; long v; } names[] = {
			{ "tcp", 6 }, { "udp", 17 }, { "icmp", 1 }, { "ipv6-icmp", 58 },
		};
		const struct protoent *pe;

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcmp(s, names[i].n)) {
				*out = names[i].v;
				return true;
			}
		pe = getprotobyname(s);
		if (pe)
			*out = pe->p_proto;
		return pe != NULL;
	} else {
		const struct servent *se = getservbyname(s, NULL);

		if (se)
			*out = ntohs((uint16_t)se->s_port);
		return se != NULL;
	}
}

static bool num_range(json_t *v, bool proto, long *lo, long *hi)
{
	json_t *rg = json_object_get(v, "range");

	if (rg)
		return json_array_size(rg) == 2 &&
		       number(json_array_get(rg, 0), proto, lo) &&
		       number(json_array_get(rg, 1), proto, hi);
	if (!number(v, proto, lo))
		return false;
	*hi = *lo;
	return true;
}

/* The policy's view of an address span: the segment that holds all of
 * it and, inside, a host group that holds all of it; -1 when none. */
static void place(const struct kt_policy *p, const struct span *sp, int *seg,
		  int *host)
{
	struct kt_addr lo = { .family = sp->family }, hi = { .family = sp->family };

	memcpy(lo.bytes, sp->lo, 16);
	memcpy(hi.bytes, sp->hi, 16);
	*seg = *host = -1;
	for (size_t i = 0; i < p->n_segments && *seg < 0; i++)
		for (size_t k = 0; k < p->segments[i].n_prefixes; k++)
			if (kt_prefix_contains(&p->segments[i].prefixes[k], &lo) &&
			    kt_prefix_contains(&p->segments[i].prefixes[k], &hi))
				*seg = (int)i;
	for (size_t i = 0; i < p->n_hosts && *seg >= 0 && *host < 0; i++) {
		if (p->hosts[i].segment != (unsigned)*seg)
			continue;
		for (size_t k = 0; k < p->hosts[i].n_addrs; k++)
			if (kt_prefix_contains(&p->hosts[i].addrs[k], &lo) &&
			    kt_prefix_contains(&p->hosts[i].addrs[k], &hi))
				*host = (int)i;
	}
}

static bool seg_has_port(const struct kt_pol_segment *s, const char *ifname)
{
	for (size_t i = 0; i < s->n_ports; i++)
		if (!strcmp(s->ifnames[i], ifname))
			return true;
	return false;
}

static const struct kt_pol_line *line_named(const struct kt_policy *p,
					    const char *ifname)
{
	for (size_t i = 0; i < p->n_lines; i++)
		if (!strcmp(p->lines[i].ifname, ifname))
			return &p->lines[i];
	return NULL;
}

static enum kt_pol_proto proto_of(long lo, long hi)
{
	if (lo != hi)
		return KT_POL_PROTO_ANY;
	switch (lo) {
	case IPPROTO_TCP: return KT_POL_PROTO_TCP;
	case IPPROTO_UDP: return KT_POL_PROTO_UDP;
	case IPPROTO_ICMP: case IPPROTO_ICMPV6: return KT_POL_PROTO_ICMP;
	default: return KT_POL_PROTO_ANY;
	}
}

/* One end of an element as an edge end. */
struct side {
	enum kt_pol_ep_type type;
	enum kt_seg_kind kind;
	enum kt_pol_role role;
	char name[KT_POL_NAME_MAX + 16];
};

static bool side_of(struct vctx *c, const struct span *sp, struct side *out)
{
	int seg, host;

	place(c->p, sp, &seg, &host);
	if (seg < 0)
		return false;
	out->kind = c->p->segments[seg].kind;
	if (host >= 0) {
		out->type = KT_POL_EP_HOSTS;
		out->role = c->p->hosts[host].role;
		snprintf(out->name, sizeof(out->name), "%s", c->p->hosts[host].name);
	} else {
		out->type = KT_POL_EP_SEGMENT;
		snprintf(out->name, sizeof(out->name), "%s", c->p->segments[seg].name);
	}
	return true;
}

enum map_kind { MK_FWD, MK_BRK, MK_IN, MK_OUT };

/* Where each field sits in an element's key, by kind of map: the order of
 * nft.c's map_shapes, which key_is below checks the rules load. a is the
 * address the element is placed by (the source, but the destination of
 * out), b the destination of fwd; ifa the interface on a's side, ifb
 * brk's line; -1 where the map has none. */
static const struct {
	size_t n;
	int a, b, ifa, ifb, proto, port;
} key_pos[] = {
	/* daddr . dport . saddr . iifname . l4proto */
	[MK_FWD] = { 5, 2, 0, 3, -1, 4, 1 },
	/* saddr . dport . iifname . oifname . l4proto */
	[MK_BRK] = { 5, 0, -1, 2, 3, 4, 1 },
	/* saddr . dport . iifname . l4proto */
	[MK_IN] = { 4, 0, -1, 2, -1, 3, 1 },
	/* daddr . dport . oifname . l4proto */
	[MK_OUT] = { 4, 0, -1, 2, -1, 3, 1 },
};

static bool accepting(json_t *verdict)
{
	return json_object_get(verdict, "accept") || json_object_get(verdict, "jump") ||
	       json_object_get(verdict, "goto");
}

static void check_element(struct vctx *c, const char *map, enum map_kind mk,
			  json_t *el)
{
	json_t *key = json_array_get(el, 0), *verdict = json_array_get(el, 1);
	json_t *parts = json_object_get(key, "concat");
	struct side from = { .kind = KT_SEG_KIND_COUNT }, to = { .kind = KT_SEG_KIND_COUNT };
	struct kt_pol_violation v[8];
	struct kt_pol_edge e;
	struct span a, b;
	long plo, phi, qlo, qhi;
	char where[KT_POL_FINDING_WHERE];
	char *text = json_dumps(key, JSON_COMPACT);
	const char *ifa, *ifb = NULL;
	size_t n;

	snprintf(where, sizeof(where), "map %s element %s", map, text ? text : "?");
	free(text);
	if (!accepting(verdict))
		return;
	if (json_array_size(parts) != key_pos[mk].n ||
	    !(ifa = json_string_value(json_array_get(parts, (size_t)key_pos[mk].ifa))) ||
	    !num_range(json_array_get(parts, (size_t)key_pos[mk].proto), true,
		       &plo, &phi) ||
	    !num_range(json_array_get(parts, (size_t)key_pos[mk].port), false,
		       &qlo, &qhi)) {
		finding(c, KT_INV_DEFAULT_DENY, where, "an element the verifier "
			"cannot read accepts traffic");
		return;
	}
	if (mk == MK_BRK) {
		const struct kt_pol_line *l;

		ifb = json_string_value(json_array_get(parts, (size_t)key_pos[mk].ifb));
		l = ifb ? line_named(c->p, ifb) : NULL;
		if (!l || l->kind != KT_LINE_BEST_EFFORT) {
			finding(c, KT_INV_DEFAULT_DENY, where, "'%s' is not a "
				"best-effort line of the policy", ifb ? ifb : "?");
			return;
		}
	}
	if (!addr_span(json_array_get(parts, (size_t)key_pos[mk].a), &a)) {
		finding(c, KT_INV_DEFAULT_DENY, where, "unreadable address");
		return;
	}
	memset(&e, 0, sizeof(e));
	e.proto = proto_of(plo, phi);
	switch (mk) {
	case MK_FWD:
	case MK_BRK:
	case MK_IN:
		if (!side_of(c, &a, &from)) {
			finding(c, KT_INV_DEFAULT_DENY, where, "accepts sources "
				"outside every segment of the policy");
			return;
		}
		break;
	case MK_OUT:
		from.type = KT_POL_EP_BOX;
		snprintf(from.name, sizeof(from.name), "box");
		break;
	}
	if (mk != MK_OUT) {
		int seg, host;

		place(c->p, &a, &seg, &host);
		if (!seg_has_port(&c->p->segments[seg], ifa)) {
			finding(c, KT_INV_DEFAULT_DENY, where, "interface %s is not "
				"a port of segment %s: its addresses could be forged "
				"there", ifa, c->p->segments[seg].name);
			return;
		}
	}
	switch (mk) {
	case MK_FWD:
		if (!addr_span(json_array_get(parts, (size_t)key_pos[mk].b), &b) ||
		    !side_of(c, &b, &to)) {
			finding(c, KT_INV_DEFAULT_DENY, where, "accepts destinations "
				"outside every segment of the policy");
			return;
		}
		break;
	case MK_BRK:
		to.type = KT_POL_EP_INTERNET_LINE;
		snprintf(to.name, sizeof(to.name), "internet-line");
		break;
	case MK_IN:
		to.type = KT_POL_EP_BOX;
		snprintf(to.name, sizeof(to.name), "box");
		break;
	case MK_OUT:
		if (line_named(c->p, ifa)) {
			to.type = KT_POL_EP_INTERNET_LINE;
			snprintf(to.name, sizeof(to.name), "line %s", ifa);
		} else if (!side_of(c, &a, &to)) {
			finding(c, KT_INV_DEFAULT_DENY, where, "accepts destinations "
				"outside every segment of the policy");
			return;
		}
		break;
	}
	e.from_name = from.name;
	e.to_name = to.name;
	e.from_type = from.type;
	e.to_type = to.type;
	e.from_kind = from.kind;
	e.to_kind = to.kind;
	e.to_role = to.role;
	n = kt_pol_judge(&e, v, 8);
	for (size_t i = 0; i < n && i < 8; i++)
		finding(c, v[i].inv, where, "%s", v[i].detail);
}

static void check_map(struct vctx *c, const char *name, enum map_kind mk)
{
	json_t *m = object_named(c, "map", name), *el;
	size_t i;

	if (!m)
		return;		/* a missing map accepts nothing */
	json_array_foreach(json_object_get(m, "elem"), i, el)
		check_element(c, name, mk, el);
}

/* --- rules --- */

static bool is_match(json_t *x, const char *op)
{
	json_t *m = json_object_get(x, "match");
	const char *o = json_string_value(json_object_get(m, "op"));

	return m && o && !strcmp(o, op);
}

static const char *meta_key(json_t *v)
{
	return json_string_value(json_object_get(json_object_get(v, "meta"), "key"));
}

static bool payload_is(json_t *v, const char *proto, const char *field)
{
	json_t *pl = json_object_get(v, "payload");
	const char *p = json_string_value(json_object_get(pl, "protocol"));
	const char *f = json_string_value(json_object_get(pl, "field"));

	return p && f && !strcmp(p, proto) && !strcmp(f, field);
}

/* The key expressions of each flow map, as the compiler writes them. */
static bool key_is(json_t *concat, const char *map)
{
	static const struct {
		const char *map;
		const char *k[5][2];	/* {meta key, NULL} or {protocol, field} */
	} shapes[] = {
		{ "fwd4", { { "ip", "daddr" }, { "th", "dport" }, { "ip", "saddr" },
			    { "iifname" }, { "l4proto" } } },
		{ "fwd6", { { "ip6", "daddr" }, { "th", "dport" }, { "ip6", "saddr" },
			    { "iifname" }, { "l4proto" } } },
		{ "brk4", { { "ip", "saddr" }, { "th", "dport" }, { "iifname" },
			    { "oifname" }, { "l4proto" } } },
		{ "brk6", { { "ip6", "saddr" }, { "th", "dport" }, { "iifname" },
			    { "oifname" }, { "l4proto" } } },
		{ "in4", { { "ip", "saddr" }, { "th", "dport" }, { "iifname" },
			   { "l4proto" } } },
		{ "in6", { { "ip6", "saddr" }, { "th", "dport" }, { "iifname" },
			   { "l4proto" } } },
		{ "out4", { { "ip", "daddr" }, { "th", "dport" }, { "oifname" },
			    { "l4proto" } } },
		{ "out6", { { "ip6", "daddr" }, { "th", "dport" }, { "oifname" },
			    { "l4proto" } } },
	};

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		size_t n = strcmp(shapes[s].map, map) ? 0
			: shapes[s].k[4][0] ? 5 : 4;

		if (!n)
			continue;
		if (json_array_size(concat) != n)
			return false;
		for (size_t i = 0; i < n; i++) {
			json_t *x = json_array_get(concat, i);
			const char *mk = meta_key(x);

			if (shapes[s].k[i][1] ? !payload_is(x, shapes[s].k[i][0],
							   shapes[s].k[i][1])
					      : !mk || strcmp(mk, shapes[s].k[i][0]))
				return false;
		}
		return true;
	}
	return false;
}

static const char *const flow_maps[][2] = {
	{ "fwd4", "fwd" }, { "fwd6", "fwd" }, { "brk4", "brk" }, { "brk6", "brk" },
	{ "in4", "in" }, { "in6", "in" }, { "out4", "out" }, { "out6", "out" },
};

/* The set a rule looks up must hold only what its shape may accept. */
static bool set_ok(struct vctx *c, const char *set)
{
	json_t *s = object_named(c, "set", set), *el;
	size_t i;

	if (!s)
		return false;
	json_array_foreach(json_object_get(s, "elem"), i, el) {
		if (!strcmp(set, "nd")) {
			const char *t = json_string_value(el);

			/* neighbour (nd-*) and multicast listener
			 * (mld-*, mld2-*) discovery */
			if (!t || (strncmp(t, "nd-", 3) && strncmp(t, "mld-", 4) &&
				   strncmp(t, "mld2-", 5)))
				return false;
		} else {	/* underlay: line . udp . port */
			json_t *parts = json_object_get(el, "concat");
			const char *ifn = json_string_value(json_array_get(parts, 0));
			long lo, hi;

			if (!ifn || !line_named(c->p, ifn) ||
			    !num_range(json_array_get(parts, 1), true, &lo, &hi) ||
			    lo != IPPROTO_UDP || hi != IPPROTO_UDP)
				return false;
		}
	}
	return true;
}

/* BFD inside the box's tunnels, as the compiler writes it: exactly an
 * interface match on the tunnel prefix (iifname in, oifname out) and udp
 * dport 3784, nothing else that could widen or narrow it. */
static bool bfd_rule(const char *chain, json_t *expr)
{
	char want_if[IFNAMSIZ + 2];
	bool has_if = false, has_port = false;
	size_t i;
	json_t *x;

	snprintf(want_if, sizeof(want_if), "%s*", KT_TUNNEL_IFNAME_PREFIX);
	json_array_foreach(expr, i, x) {
		json_t *m = json_object_get(x, "match");
		json_t *left = json_object_get(m, "left"), *right = json_object_get(m, "right");
		const char *mk = meta_key(left), *rs = json_string_value(right);

		if (!m)
			continue;
		if (!is_match(x, "=="))
			return false;
		if (mk && rs && !strcmp(mk, chain[0] == 'o' ? "oifname" : "iifname") &&
		    !strcmp(rs, want_if) && !has_if)
			has_if = true;
		else if (payload_is(left, "udp", "dport") && json_is_integer(right) &&
			 json_integer_value(right) == KT_BFD_PORT && !has_port)
			has_port = true;
		else
			return false;
	}
	return has_if && has_port;
}

/* True if the rule's accepting part is one the compiler writes (and its
 * map was checked element by element). */
static bool known_accept(struct vctx *c, const char *chain, json_t *expr)
{
	size_t i;
	json_t *x;

	if ((!strcmp(chain, "input") || !strcmp(chain, "output")) &&
	    bfd_rule(chain, expr))
		return true;

	json_array_foreach(expr, i, x) {
		json_t *vm = json_object_get(x, "vmap");
		json_t *m = json_object_get(x, "match");
		json_t *left = json_object_get(m, "left"), *right = json_object_get(m, "right");
		const char *data = json_string_value(json_object_get(vm, "data"));
		const char *rs = json_string_value(right);

		if (vm) {
			if (!data || data[0] != '@')
				return false;
			for (size_t k = 0; k < sizeof(flow_maps) / sizeof(flow_maps[0]); k++)
				if (!strcmp(data + 1, flow_maps[k][0]))
					return key_is(json_object_get(json_object_get(vm, "key"),
								      "concat"), data + 1);
			return false;
		}
		if (!m)
			continue;
		/* ct state established,related: replies only */
		if (json_object_get(left, "ct") && json_is_array(right)) {
			size_t j;
			json_t *st;
			bool only = json_array_size(right) > 0;

			json_array_foreach(right, j, st)
				only = only && json_is_string(st) &&
				       (!strcmp(json_string_value(st), "established") ||
					!strcmp(json_string_value(st), "related"));
			if (only)
				return true;
		}
		/* loopback */
		if (is_match(x, "==") && meta_key(left) && rs && !strcmp(rs, "lo") &&
		    (!strcmp(meta_key(left), "iifname") ||
		     !strcmp(meta_key(left), "oifname")))
			return true;
		/* the lookups of the two fixed sets, by the expected key */
		if (is_match(x, "==") && rs && !strcmp(rs, "@nd"))
			return payload_is(left, "icmpv6", "type") &&
			       set_ok(c, "nd");
		if (is_match(x, "==") && rs && !strcmp(rs, "@underlay")) {
			json_t *k = json_object_get(left, "concat");
			const char *ifk = meta_key(json_array_get(k, 0));
			const char *pk = meta_key(json_array_get(k, 1));

			return json_array_size(k) == 3 && ifk && pk &&
			       !strcmp(ifk, chain[0] == 'o' ? "oifname" : "iifname") &&
			       !strcmp(pk, "l4proto") &&
			       payload_is(json_array_get(k, 2), "th",
					  chain[0] == 'o' ? "sport" : "dport") &&
			       set_ok(c, "underlay");
		}
	}
	return false;
}

static bool rule_accepts(json_t *expr)
{
	size_t i;
	json_t *x;

	json_array_foreach(expr, i, x)
		if (accepting(x) || json_object_get(x, "vmap"))
			return true;
	return false;
}

/* What a hand-written rule's interface matches say about its ends. */
static void judge_unknown(struct vctx *c, const char *where, json_t *expr)
{
	const char *iif = NULL, *oif = NULL;
	size_t i;
	json_t *x;

	json_array_foreach(expr, i, x) {
		json_t *m = json_object_get(x, "match");
		const char *k = meta_key(json_object_get(m, "left"));
		const char *r = json_string_value(json_object_get(m, "right"));

		if (!is_match(x, "==") || !k || !r)
			continue;
		if (!strcmp(k, "iifname"))
			iif = r;
		else if (!strcmp(k, "oifname"))
			oif = r;
	}
	for (size_t a = 0; iif && oif && a < c->p->n_segments; a++) {
		const struct kt_pol_segment *sa = &c->p->segments[a];
		const struct kt_pol_line *l = line_named(c->p, oif);

		if (!seg_has_port(sa, iif))
			continue;
		for (size_t b = 0; b <= c->p->n_segments; b++) {
			const struct kt_pol_segment *sb =
				b < c->p->n_segments ? &c->p->segments[b] : NULL;
			struct kt_pol_violation v[8];
			struct kt_pol_edge e = {
				.from_name = sa->name, .from_type = KT_POL_EP_SEGMENT,
				.from_kind = sa->kind, .proto = KT_POL_PROTO_ANY,
			};
			size_t n;

			if (sb && seg_has_port(sb, oif)) {
				e.to_name = sb->name;
				e.to_type = KT_POL_EP_SEGMENT;
				e.to_kind = sb->kind;
			} else if (!sb && l && l->kind == KT_LINE_BEST_EFFORT) {
				e.to_name = "internet-line";
				e.to_type = KT_POL_EP_INTERNET_LINE;
				e.to_kind = KT_SEG_KIND_COUNT;
			} else {
				continue;
			}
			n = kt_pol_judge(&e, v, 8);
			for (size_t k = 0; k < n && k < 8; k++)
				if (v[k].inv != KT_INV_DEFAULT_DENY)
					finding(c, v[k].inv, where, "%s", v[k].detail);
		}
	}
}

static bool translates(json_t *expr)
{
	static const char *const nat[] = { "masquerade", "snat", "dnat", "redirect" };
	size_t i;
	json_t *x;

	json_array_foreach(expr, i, x)
		for (size_t k = 0; k < sizeof(nat) / sizeof(nat[0]); k++)
			if (json_object_get(x, nat[k]))
				return true;
	return false;
}

/* The only translation the compiler writes: in chain postrouting,
 * masquerade what a brk map holds, looked up by its exact key, so that
 * only flows to internet-line leave with the line's address. */
static bool known_nat(const char *chain, json_t *expr)
{
	bool lookup = false, masq = false;
	size_t i;
	json_t *x;

	if (strcmp(chain, "postrouting"))
		return false;
	json_array_foreach(expr, i, x) {
		json_t *m = json_object_get(x, "match");
		const char *rs = json_string_value(json_object_get(m, "right"));

		if (json_object_get(x, "masquerade")) {
			masq = lookup && json_is_null(json_object_get(x, "masquerade"));
		} else if (m) {
			json_t *k = json_object_get(json_object_get(m, "left"), "concat");

			if (lookup || !is_match(x, "==") || !rs ||
			    (strcmp(rs, "@brk4") && strcmp(rs, "@brk6")) ||
			    !key_is(k, rs + 1))
				return false;
			lookup = true;
		} else if (!json_object_get(x, "counter")) {
			return false;
		}
	}
	return masq;
}

static void check_rules(struct vctx *c)
{
	size_t i;
	json_t *it;

	json_array_foreach(c->items, i, it) {
		json_t *r = json_object_get(it, "rule"), *expr = json_object_get(r, "expr");
		const char *chain = json_string_value(json_object_get(r, "chain"));
		char where[KT_POL_FINDING_WHERE];
		char *text;

		if (!r || !chain)
			continue;
		if (translates(expr) && !known_nat(chain, expr)) {
			text = json_dumps(expr, JSON_COMPACT);
			snprintf(where, sizeof(where), "chain %s rule (handle %lld) %s",
				 chain, (long long)json_integer_value(json_object_get(r, "handle")),
				 text ? text : "?");
			free(text);
			finding(c, KT_INV_DEFAULT_DENY, where, "translates addresses "
				"beyond the flows to internet-line (the compiler only "
				"masquerades what @brk4 and @brk6 hold)");
		}
		if (!rule_accepts(expr))
			continue;
		if (!strcmp(chain, "log-accept") || known_accept(c, chain, expr))
			continue;
		text = json_dumps(expr, JSON_COMPACT);
		snprintf(where, sizeof(where), "chain %s rule (handle %lld) %s", chain,
			 (long long)json_integer_value(json_object_get(r, "handle")),
			 text ? text : "?");
		free(text);
		finding(c, KT_INV_DEFAULT_DENY, where, "accepts traffic that no flow "
			"of the policy describes");
		judge_unknown(c, where, expr);
	}
}

static void check_chains(struct vctx *c)
{
	static const char *const base[] = { "input", "forward", "output" };
	size_t i;
	json_t *it;

	for (size_t k = 0; k < 3; k++) {
		json_t *ch = object_named(c, "chain", base[k]);
		const char *hook = json_string_value(json_object_get(ch, "hook"));
		const char *pol = json_string_value(json_object_get(ch, "policy"));
		char where[KT_POL_FINDING_WHERE];

		snprintf(where, sizeof(where), "chain %s", base[k]);
		if (!ch || !hook || strcmp(hook, base[k]))
			finding(c, KT_INV_DEFAULT_DENY, where, "missing, or not on the "
				"%s hook: nothing filters there", base[k]);
		else if (!pol || strcmp(pol, "drop"))
			finding(c, KT_INV_DEFAULT_DENY, where, "policy is %s, not drop",
				pol ? pol : "unset");
	}
	/* log-accept is reached from map elements: it must not turn into
	 * something else (a jump on, a goto). */
	json_array_foreach(c->items, i, it) {
		json_t *r = json_object_get(it, "rule"), *x;
		const char *chain = json_string_value(json_object_get(r, "chain"));
		size_t j;

		if (!r || !chain || strcmp(chain, "log-accept"))
			continue;
		json_array_foreach(json_object_get(r, "expr"), j, x)
			if (!json_object_get(x, "counter") && !json_object_get(x, "log") &&
			    !json_object_get(x, "accept"))
				finding(c, KT_INV_DEFAULT_DENY, "chain log-accept",
					"holds more than count, log and accept");
	}
}

int kt_pol_verify(const struct kt_policy *p, const char *json,
		  struct kt_pol_finding *f, size_t max, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loads(json, 0, &jerr);
	struct vctx c = { .p = p, .f = f, .max = max };
	bool table = false;
	size_t i;
	json_t *it;

	if (!root) {
		snprintf(err, errlen, "the ruleset is not JSON: %s (line %d)",
			 jerr.text, jerr.line);
		return -EINVAL;
	}
	c.items = json_object_get(root, "nftables");
	if (!json_is_array(c.items)) {
		snprintf(err, errlen, "the ruleset has no \"nftables\" array");
		json_decref(root);
		return -EINVAL;
	}
	json_array_foreach(c.items, i, it) {
		json_t *t = json_object_get(it, "table");
		const char *n = json_string_value(json_object_get(t, "name"));
		const char *fam = json_string_value(json_object_get(t, "family"));

		table = table || (n && fam && !strcmp(n, KT_NFT_TABLE) &&
				  !strcmp(fam, "inet"));
	}
	if (!table) {
		finding(&c, KT_INV_DEFAULT_DENY, "table inet " KT_NFT_TABLE,
			"is not in the kernel: nothing is enforced");
	} else {
		check_chains(&c);
		check_rules(&c);
		for (size_t k = 0; k < sizeof(flow_maps) / sizeof(flow_maps[0]); k++) {
			const char *kind = flow_maps[k][1];

			check_map(&c, flow_maps[k][0],
				  !strcmp(kind, "fwd") ? MK_FWD : !strcmp(kind, "brk")
				  ? MK_BRK : !strcmp(kind, "in") ? MK_IN : MK_OUT);
		}
	}
	json_decref(root);
	return (int)(c.n > INT32_MAX ? INT32_MAX : c.n);
}

const char *kt_pol_finding_str(const struct kt_pol_finding *f, char *buf,
			       size_t len)
{
	snprintf(buf, len, "%s: breaks invariant %s: %s (%s)", f->where,
		 kt_pol_invariants[f->inv].id, kt_pol_invariants[f->inv].rule,
		 f->detail);
	return buf;
}
