/* What no policy may do, whatever its file says (docs/policy.md).
 *
 * The checks look at the kinds of the two ends of each flow, never at
 * names: calling a segment "office" does not take it out of LGWAN. A host
 * group is judged by the segment it sits in and by its declared role. */
#include "policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Marks the rules for the message catalogue; explain.c translates them. */
#define N_(s) s

const struct kt_pol_invariant kt_pol_invariants[KT_INV_COUNT] = {
	[KT_INV_MYNUMBER_INTERNET] = {
		"mynumber-internet",
		N_("no flow joins My Number with an internet segment or the "
		   "internet line, in either direction"),
	},
	[KT_INV_MYNUMBER_LGWAN] = {
		"mynumber-lgwan-host-port",
		N_("My Number and LGWAN meet only through flows to a named "
		   "file-transfer host, by tcp or udp on named ports"),
	},
	[KT_INV_LGWAN_INTERNET] = {
		"lgwan-internet-relay",
		N_("LGWAN and internet meet only through flows to hosts declared "
		   "as relays or screen-transfer servers"),
	},
	[KT_INV_MANAGEMENT_PLANE] = {
		"management-plane",
		N_("the box itself is reached only from management segments (the "
		   "management segment and the management tunnel)"),
	},
	[KT_INV_DEFAULT_DENY] = {
		"default-deny",
		N_("everything is denied unless a flow names it: every chain "
		   "drops by default, and a flow for every protocol (proto any) "
		   "needs a host group at both ends"),
	},
};

struct check {
	struct kt_pol_violation *v;
	size_t max, n, flow;
};

__attribute__((format(printf, 3, 4)))
static void violation(struct check *c, enum kt_pol_inv inv, const char *fmt, ...)
{
	if (c->n < c->max) {
		struct kt_pol_violation *v = &c->v[c->n];
		va_list ap;

		v->inv = inv;
		v->flow = c->flow;
		va_start(ap, fmt);
		vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
		va_end(ap);
	}
	c->n++;
}

static bool pair(enum kt_seg_kind a, enum kt_seg_kind b, enum kt_seg_kind x,
		 enum kt_seg_kind y)
{
	return (a == x && b == y) || (a == y && b == x);
}

/* Why the destination of a crossing flow is not the host it must be. */
static void not_a_host(struct check *c, enum kt_pol_inv inv,
		       const struct kt_pol_edge *e, const char *wanted)
{
	if (e->to_type == KT_POL_EP_INTERNET_LINE)
		violation(c, inv, "its destination is the internet line, not %s",
			  wanted);
	else if (e->to_type != KT_POL_EP_HOSTS)
		violation(c, inv, "its destination is the whole segment '%s', not %s",
			  e->to_name, wanted);
	else
		violation(c, inv, "host group '%s' is a %s, not %s", e->to_name,
			  kt_pol_role_name(e->to_role), wanted);
}

/* A host group or the box, as opposed to a whole segment or line. */
static bool single(enum kt_pol_ep_type t)
{
	return t == KT_POL_EP_HOSTS || t == KT_POL_EP_BOX;
}

static void judge(struct check *c, const struct kt_pol_edge *e)
{
	enum kt_seg_kind a = e->from_kind, b = e->to_kind;
	bool line = e->to_type == KT_POL_EP_INTERNET_LINE;
	bool relay = e->to_type == KT_POL_EP_HOSTS &&
		     (e->to_role == KT_POL_ROLE_RELAY ||
		      e->to_role == KT_POL_ROLE_SCREEN_TRANSFER);

	if (pair(a, b, KT_SEG_MYNUMBER, KT_SEG_INTERNET) ||
	    (a == KT_SEG_MYNUMBER && line))
		violation(c, KT_INV_MYNUMBER_INTERNET, "'%s' is My Number and "
			  "'%s' is %s", a == KT_SEG_MYNUMBER ? e->from_name : e->to_name,
			  a == KT_SEG_MYNUMBER ? e->to_name : e->from_name,
			  line ? "the internet line" : "internet");
	if (pair(a, b, KT_SEG_MYNUMBER, KT_SEG_LGWAN)) {
		if (e->to_type != KT_POL_EP_HOSTS ||
		    e->to_role != KT_POL_ROLE_FILE_TRANSFER)
			not_a_host(c, KT_INV_MYNUMBER_LGWAN, e, "a file-transfer host");
		else if (e->proto != KT_POL_PROTO_TCP && e->proto != KT_POL_PROTO_UDP)
			violation(c, KT_INV_MYNUMBER_LGWAN, "proto %s has no ports "
				  "to name", kt_pol_proto_name(e->proto));
	}
	if ((pair(a, b, KT_SEG_LGWAN, KT_SEG_INTERNET) ||
	     (a == KT_SEG_LGWAN && line)) && !relay)
		not_a_host(c, KT_INV_LGWAN_INTERNET, e,
			   "a relay or screen-transfer host");
	if (e->to_type == KT_POL_EP_BOX && a != KT_SEG_MANAGEMENT)
		violation(c, KT_INV_MANAGEMENT_PLANE, "'%s' is %s, not a "
			  "management segment", e->from_name,
			  a == KT_SEG_KIND_COUNT ? "not a segment"
						 : kt_seg_kind_name(a));
	if (e->proto == KT_POL_PROTO_ANY &&
	    (!single(e->from_type) || !single(e->to_type)))
		violation(c, KT_INV_DEFAULT_DENY, "proto any from '%s' to '%s'",
			  e->from_name, e->to_name);
}

size_t kt_pol_judge(const struct kt_pol_edge *e, struct kt_pol_violation *v,
		    size_t max)
{
	struct check c = { .v = v, .max = max };

	judge(&c, e);
	return c.n;
}

size_t kt_pol_check(const struct kt_policy *p, struct kt_pol_violation *v,
		    size_t max)
{
	struct check c = { .v = v, .max = max };

	for (size_t i = 0; i < p->n_flows; i++) {
		const struct kt_pol_flow *f = &p->flows[i];
		struct kt_pol_edge e = {
			.from_name = f->from.name, .to_name = f->to.name,
			.from_type = f->from.type, .to_type = f->to.type,
			.from_kind = kt_pol_ep_kind(p, &f->from),
			.to_kind = kt_pol_ep_kind(p, &f->to),
			.proto = f->proto,
		};

		if (f->to.type == KT_POL_EP_HOSTS)
			e.to_role = p->hosts[f->to.index].role;
		c.flow = i;
		judge(&c, &e);
	}
	return c.n;
}

const char *kt_pol_violation_str(const struct kt_policy *p,
				 const struct kt_pol_violation *v, char *buf,
				 size_t len)
{
	const struct kt_pol_flow *f = &p->flows[v->flow];

	snprintf(buf, len, "%s:%u:%u: %s: breaks invariant %s: %s (%s)",
		 p->files[f->loc.file], f->loc.line, f->loc.column, f->path,
		 kt_pol_invariants[v->inv].id, kt_pol_invariants[v->inv].rule,
		 v->detail);
	return buf;
}
