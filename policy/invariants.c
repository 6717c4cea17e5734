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
		N_("everything not named is denied: a flow for every protocol "
		   "(proto any) needs a host group at both ends"),
	},
};

struct check {
	const struct kt_policy *p;
	struct kt_pol_violation *v;
	size_t max, n;
};

__attribute__((format(printf, 4, 5)))
static void violation(struct check *c, enum kt_pol_inv inv, size_t flow,
		      const char *fmt, ...)
{
	if (c->n < c->max) {
		struct kt_pol_violation *v = &c->v[c->n];
		va_list ap;

		v->inv = inv;
		v->flow = flow;
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

static const struct kt_pol_hosts *hosts_of(const struct kt_policy *p,
					   const struct kt_pol_ep *e)
{
	return e->type == KT_POL_EP_HOSTS ? &p->hosts[e->index] : NULL;
}

/* Why the destination of a crossing flow is not the host it must be. */
static void not_a_host(struct check *c, enum kt_pol_inv inv, size_t i,
		       const struct kt_pol_flow *f, const char *wanted)
{
	const struct kt_pol_hosts *h = hosts_of(c->p, &f->to);

	if (f->to.type == KT_POL_EP_INTERNET_LINE)
		violation(c, inv, i, "its destination is the internet line, not "
			  "%s", wanted);
	else if (!h)
		violation(c, inv, i, "its destination is the whole segment '%s', "
			  "not %s", f->to.name, wanted);
	else
		violation(c, inv, i, "host group '%s' is a %s, not %s", h->name,
			  kt_pol_role_name(h->role), wanted);
}

/* A host group or the box, as opposed to a whole segment or line. */
static bool single(const struct kt_pol_ep *e)
{
	return e->type == KT_POL_EP_HOSTS || e->type == KT_POL_EP_BOX;
}

static void check_flow(struct check *c, size_t i)
{
	const struct kt_policy *p = c->p;
	const struct kt_pol_flow *f = &p->flows[i];
	enum kt_seg_kind a = kt_pol_ep_kind(p, &f->from);
	enum kt_seg_kind b = kt_pol_ep_kind(p, &f->to);
	const struct kt_pol_hosts *to = hosts_of(p, &f->to);
	bool line = f->to.type == KT_POL_EP_INTERNET_LINE;

	if (pair(a, b, KT_SEG_MYNUMBER, KT_SEG_INTERNET) ||
	    (a == KT_SEG_MYNUMBER && line))
		violation(c, KT_INV_MYNUMBER_INTERNET, i, "'%s' is My Number and "
			  "'%s' is %s", a == KT_SEG_MYNUMBER ? f->from.name : f->to.name,
			  a == KT_SEG_MYNUMBER ? f->to.name : f->from.name,
			  line ? "the internet line" : "internet");
	if (pair(a, b, KT_SEG_MYNUMBER, KT_SEG_LGWAN)) {
		if (!to || to->role != KT_POL_ROLE_FILE_TRANSFER)
			not_a_host(c, KT_INV_MYNUMBER_LGWAN, i, f,
				   "a file-transfer host");
		else if (f->proto != KT_POL_PROTO_TCP && f->proto != KT_POL_PROTO_UDP)
			violation(c, KT_INV_MYNUMBER_LGWAN, i, "proto %s has no "
				  "ports to name", kt_pol_proto_name(f->proto));
	}
	if (pair(a, b, KT_SEG_LGWAN, KT_SEG_INTERNET) ||
	    (a == KT_SEG_LGWAN && line)) {
		if (!to || (to->role != KT_POL_ROLE_RELAY &&
			    to->role != KT_POL_ROLE_SCREEN_TRANSFER))
			not_a_host(c, KT_INV_LGWAN_INTERNET, i, f,
				   "a relay or screen-transfer host");
	}
	if (f->to.type == KT_POL_EP_BOX && a != KT_SEG_MANAGEMENT)
		violation(c, KT_INV_MANAGEMENT_PLANE, i, "'%s' is %s, not a "
			  "management segment", f->from.name,
			  a == KT_SEG_KIND_COUNT ? "not a segment"
						 : kt_seg_kind_name(a));
	if (f->proto == KT_POL_PROTO_ANY && (!single(&f->from) || !single(&f->to)))
		violation(c, KT_INV_DEFAULT_DENY, i, "proto any from '%s' to '%s'",
			  f->from.name, f->to.name);
}

size_t kt_pol_check(const struct kt_policy *p, struct kt_pol_violation *v,
		    size_t max)
{
	struct check c = { .p = p, .v = v, .max = max };

	for (size_t i = 0; i < p->n_flows; i++)
		check_flow(&c, i);
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
