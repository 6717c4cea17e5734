/* Path selection per segment (paths.h says what and why). */
#define KT_MODULE "paths"
#include "paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bfd.h"
#include "generated/autoconf.h"
#include "log.h"
#include "policy.h"

static const char *const cause_names[] = {
	[PATHS_CAUSE_START] = "start",
	[PATHS_CAUSE_CARRIER] = "carrier",
	[PATHS_CAUSE_BFD] = "bfd",
	[PATHS_CAUSE_GONE] = "gone",
	[PATHS_CAUSE_FAILBACK] = "failback",
	[PATHS_CAUSE_POLICY] = "policy",
};

static void on_hold(struct kt_timer *t);
static uint64_t hub_evaluate(struct paths *ps, bool all);

int paths_init(struct paths *ps, struct sys *sys, struct kt_loop *loop,
	       const struct tunnels *tun, const struct ports *ports)
{
	memset(ps, 0, sizeof(*ps));
	ps->sys = sys;
	ps->loop = loop;
	ps->tun = tun;
	ps->ports = ports;
	ps->hold.cb = on_hold;
	ps->cfg = calloc(1, sizeof(*ps->cfg));
	return ps->cfg ? 0 : -ENOMEM;
}

void paths_uninit(struct paths *ps)
{
	/* The tables and rules stay: a restart must not cut the site off,
	 * and the next start replaces them. */
	kt_timer_cancel(ps->loop, &ps->hold);
	free(ps->cfg);
	ps->cfg = NULL;
	free(ps->hub);
	ps->hub = NULL;
}

/* --- what a path is --- */

static const struct tun_device *dev_of(const struct paths *ps, int d)
{
	return d >= 0 && (size_t)d < ps->tun->n_dev ? &ps->tun->dev[d] : NULL;
}

static enum kt_line_kind kind_of(const struct paths *ps, int d)
{
	return ps->tun->cfg->lines[dev_of(ps, d)->line].kind;
}

/* Its line has carrier and its BFD session is Up (a path without BFD
 * counts on the carrier alone). */
static bool usable(const struct paths *ps, int d, enum paths_cause *why)
{
	const struct tun_device *dv = dev_of(ps, d);
	const struct ports_port *pp;
	int bfd;

	if (!dv || dv->tun_fd < 0 || dv->ifindex <= 0) {
		*why = PATHS_CAUSE_GONE;
		return false;
	}
	pp = ps->ports ? ports_find(ps->ports, dv->line_ifname) : NULL;
	if (ps->ports && (!pp || !ports_line_up(pp))) {
		*why = PATHS_CAUSE_CARRIER;
		return false;
	}
	bfd = tunnels_path_bfd(ps->tun, (size_t)d, 0);
	if (dv->bfd_rx_fd >= 0 && bfd != KT_BFD_UP) {
		*why = PATHS_CAUSE_BFD;
		return false;
	}
	return true;
}

static unsigned default_kinds(enum kt_seg_kind k)
{
	/* My Number leaves only by closed lines unless a policy says so. */
	return k == KT_SEG_MYNUMBER ? 1u << KT_LINE_CLOSED
				   : 1u << KT_LINE_CLOSED | 1u << KT_LINE_BEST_EFFORT;
}

static unsigned kinds_for(const struct paths *ps, const struct paths_seg *s)
{
	for (size_t i = 0; ps->have_policy && i < ps->n_elig; i++)
		if (!strcmp(ps->elig[i].ifname, s->ifname) && ps->elig[i].kinds)
			return ps->elig[i].kinds;
	return default_kinds(s->kind);
}

/* Closed lines first, then best-effort; within a kind the devices'
 * order (hubs, then lines, as the file lists them). */
static void plan_order(struct paths *ps, struct paths_seg *s)
{
	static const enum kt_line_kind kinds[] = { KT_LINE_CLOSED, KT_LINE_BEST_EFFORT };

	s->kinds = kinds_for(ps, s);
	s->restricted = !(s->kinds & 1u << KT_LINE_BEST_EFFORT);
	s->n_order = 0;
	for (size_t k = 0; k < 2; k++) {
		if (!(s->kinds & 1u << kinds[k]))
			continue;
		for (size_t d = 0; d < ps->tun->n_dev; d++)
			if (ps->tun->dev[d].hub >= 0 && kind_of(ps, (int)d) == kinds[k])
				s->order[s->n_order++] = (int)d;
	}
}

static bool eligible(const struct paths_seg *s, int d)
{
	for (size_t i = 0; i < s->n_order; i++)
		if (s->order[i] == d)
			return true;
	return false;
}

static size_t rank(const struct paths_seg *s, int d)
{
	for (size_t i = 0; i < s->n_order; i++)
		if (s->order[i] == d)
			return i;
	return s->n_order;
}

/* --- the kernel --- */

static void kernel_fault(struct paths *ps, struct paths_seg *s, const char *what,
			 int err)
{
	char prev[sizeof(s->fault)];

	ps->kernel_errors++;
	snprintf(prev, sizeof(prev), "%s", s->fault);
	snprintf(s->fault, sizeof(s->fault), "%s: %s", what, strerror(-err));
	if (strcmp(prev, s->fault))
		log_errx("PATHS_KERNEL", "segment %s: %s", s->name, s->fault);
}

static void put_route(struct paths *ps, struct paths_seg *s,
		      const struct kt_prefix *dst, enum sys_rt_type type, int ifindex)
{
	struct sys_troute r = { .table = s->table, .dst = *dst, .type = type,
				.ifindex = ifindex };
	int err = sys_troute_replace(ps->sys, &r);

	if (err)
		kernel_fault(ps, s, "route", err);
}

static void whole(int family, struct kt_prefix *p)
{
	memset(p, 0, sizeof(*p));
	p->addr.family = family;
}

/* The management segment's second rule, "from OWN lookup TABLE", for
 * the family of the box's address in it: rule turned into it, true. */
static bool mgmt_from(const struct paths_seg *s, int family, struct sys_rule *rule)
{
	if (s->kind != KT_SEG_MANAGEMENT || s->own.addr.family != family)
		return false;
	rule->iifname[0] = '\0';
	rule->src = s->own;
	return true;
}

/* The segment's table as its choice says. Each route is replaced in
 * place, so there is no moment without one. */
static void program(struct paths *ps, struct paths_seg *s)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct kt_prefix any;

	s->fault[0] = '\0';
	for (size_t i = 0; i < ps->n_dst; i++) {
		int via = -1;
		enum paths_cause why;

		/* The chosen path if its hub has the prefix, else the first
		 * working eligible one whose hub does. */
		if (s->active >= 0 && ps->dst_hub[i] & 1 << dev_of(ps, s->active)->hub)
			via = s->active;
		for (size_t k = 0; via < 0 && k < s->n_order; k++)
			if (ps->dst_hub[i] & 1 << dev_of(ps, s->order[k])->hub &&
			    usable(ps, s->order[k], &why))
				via = s->order[k];
		if (via >= 0)
			put_route(ps, s, &ps->dst[i], SYS_RT_UNICAST,
				  dev_of(ps, via)->ifindex);
		else
			put_route(ps, s, &ps->dst[i], SYS_RT_BLACKHOLE, 0);
	}
	for (size_t f = 0; f < 2; f++) {
		struct sys_rule rule = { .family = families[f], .table = s->table,
					 .priority = s->priority };
		int err;

		snprintf(rule.iifname, sizeof(rule.iifname), "%s", s->ifname);
		if ((err = sys_rule_add(ps->sys, &rule)))
			kernel_fault(ps, s, "rule", err);
		/* What the box itself sends from its management address (the
		 * agent's channel to the NOC) takes the segment's path too,
		 * not the main table's tunnels by metric, which do not follow
		 * BFD. */
		if (mgmt_from(s, families[f], &rule) && (err = sys_rule_add(ps->sys, &rule)))
			kernel_fault(ps, s, "rule", err);
		whole(families[f], &any);
		if (s->restricted)
			put_route(ps, s, &any, SYS_RT_BLACKHOLE, 0);
		else
			sys_troute_del(ps->sys, &(struct sys_troute){ .table = s->table,
								     .dst = any });
	}
	/* What a restricted segment sends to the box's other segments is for
	 * the policy to judge, not for the blackhole default; so is what the
	 * box sends from its management address to that segment's own hosts. */
	for (size_t j = 0; j < ps->n_seg; j++)
		if (j != (size_t)(s - ps->seg) || s->kind == KT_SEG_MANAGEMENT) {
			if (s->restricted)
				put_route(ps, s, &ps->seg[j].address, SYS_RT_THROW, 0);
			else
				sys_troute_del(ps->sys, &(struct sys_troute){
					.table = s->table, .dst = ps->seg[j].address });
		}
}

/* Everything of segment s that a new configuration does not keep. */
static void unprogram(struct paths *ps, const struct paths_seg *s)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct sys_troute r = { .table = s->table };

	for (size_t f = 0; f < 2; f++) {
		struct sys_rule rule = { .family = families[f], .table = s->table,
					 .priority = s->priority };

		snprintf(rule.iifname, sizeof(rule.iifname), "%s", s->ifname);
		sys_rule_del(ps->sys, &rule);
		if (mgmt_from(s, families[f], &rule))
			sys_rule_del(ps->sys, &rule);
		whole(families[f], &r.dst);
		sys_troute_del(ps->sys, &r);
	}
	for (size_t i = 0; i < ps->n_dst; i++) {
		r.dst = ps->dst[i];
		sys_troute_del(ps->sys, &r);
	}
	for (size_t j = 0; j < ps->n_seg; j++) {
		r.dst = ps->seg[j].address;
		sys_troute_del(ps->sys, &r);
	}
}

/* --- choosing --- */

static const char *path_name(const struct paths *ps, int d)
{
	return d >= 0 ? dev_of(ps, d)->ifname : "none";
}

static void announce(const struct paths *ps, const struct paths_seg *s, int old,
		     enum paths_cause why)
{
	if (s->active < 0)
		log_errx("PATH_NONE", "segment %s: no eligible path left (was %s, "
			 "%s); its traffic to the data centre is dropped, never "
			 "sent another way", s->name, path_name(ps, old),
			 cause_names[why]);
	else if (old < 0)
		log_notice("PATH_SELECT", "segment %s: via %s (line %s)%s", s->name,
			   path_name(ps, s->active),
			   ps->tun->cfg->lines[dev_of(ps, s->active)->line].name,
			   why == PATHS_CAUSE_START ? "" : ", a path works again");
	else if (why == PATHS_CAUSE_FAILBACK)
		log_notice("PATH_FAILBACK", "segment %s: back to %s from %s after "
			   "%u ms without a fault", s->name, path_name(ps, s->active),
			   path_name(ps, old), ps->hold_down_ms);
	else
		log_warnx("PATH_FAILOVER", "segment %s: %s -> %s (cause: %s)", s->name,
			  path_name(ps, old), path_name(ps, s->active), cause_names[why]);
}

/* Chooses for s; returns the ms until a better path has held up long
 * enough (0: nothing to wait for). */
static uint64_t choose(struct paths *ps, struct paths_seg *s, enum paths_cause why)
{
	uint64_t now = kt_loop_now(ps->loop), wait = 0;
	int best = -1, old = s->active;
	enum paths_cause lost = why;

	for (size_t k = 0; k < s->n_order && best < 0; k++)
		if (ps->usable[s->order[k]])
			best = s->order[k];
	if (s->active >= 0 && (!eligible(s, s->active) ||
			       !usable(ps, s->active, &lost))) {
		/* The path in use failed: move at once (or to nothing). */
		if (!eligible(s, s->active))
			lost = PATHS_CAUSE_POLICY;
		s->active = best;
		s->failovers += best >= 0;
	} else if (s->active < 0) {
		s->active = best;
	} else if (best >= 0 && rank(s, best) < rank(s, s->active)) {
		uint64_t up = now - ps->usable_since[best];

		if (up >= ps->hold_down_ms) {
			s->active = best;
			s->failbacks++;
			lost = PATHS_CAUSE_FAILBACK;
		} else {
			wait = ps->hold_down_ms - up;
		}
	}
	snprintf(s->active_if, sizeof(s->active_if), "%s",
		 s->active >= 0 ? dev_of(ps, s->active)->ifname : "");
	if (s->active != old) {
		s->changed_ms = now;
		s->last_cause = lost;
		announce(ps, s, old, lost);
	}
	return wait;
}

/* Every path's state, every segment's choice, then every table: a path
 * that is not chosen may still be some prefix's fallback, so the tables
 * follow every change, not only a new choice. */
static void evaluate(struct paths *ps, enum paths_cause why)
{
	uint64_t now = kt_loop_now(ps->loop), wait = 0;
	bool changed = false;

	if (ps->hub_mode) {
		wait = hub_evaluate(ps, false);
		if (wait)
			kt_timer_set(ps->loop, &ps->hold, wait);
		return;
	}
	if (!ps->enabled)
		return;
	for (size_t d = 0; d < ps->tun->n_dev; d++) {
		enum paths_cause w;
		bool u = usable(ps, (int)d, &w);

		if (u && !ps->usable[d])
			ps->usable_since[d] = now;
		changed = changed || u != ps->usable[d];
		ps->usable[d] = u;
	}
	/* Counters arrive every second: nothing to do unless a path came or
	 * went (a start, a policy and the hold-down always look again). */
	if (!changed && (why == PATHS_CAUSE_CARRIER || why == PATHS_CAUSE_BFD ||
			 why == PATHS_CAUSE_GONE))
		return;
	for (size_t i = 0; i < ps->n_seg; i++) {
		uint64_t w = choose(ps, &ps->seg[i], why);

		if (w && (!wait || w < wait))
			wait = w;
	}
	for (size_t i = 0; i < ps->n_seg; i++)
		program(ps, &ps->seg[i]);
	if (wait)
		kt_timer_set(ps->loop, &ps->hold, wait);
	else
		kt_timer_cancel(ps->loop, &ps->hold);
}

/* --- a hub --- */

static bool closed_only(const struct kt_remote_site *s, const struct kt_prefix *p)
{
	for (size_t i = 0; i < s->n_closed_only; i++)
		if (kt_prefix_equal(&s->closed_only[i], p))
			return true;
	return false;
}

static bool hub_usable(const struct paths *ps, size_t d, size_t site)
{
	const struct tun_device *dv = &ps->tun->dev[d];
	const struct ports_port *pp;
	int bfd;

	if (dv->tun_fd < 0 || dv->ifindex <= 0 || site >= dv->n_peers)
		return false;
	pp = ps->ports ? ports_find(ps->ports, dv->line_ifname) : NULL;
	if (ps->ports && (!pp || !ports_line_up(pp)))
		return false;
	bfd = tunnels_path_bfd(ps->tun, d, site);
	return dv->bfd_rx_fd < 0 || bfd == KT_BFD_UP;
}

/* The site's routes of one class through device d, or not: class 0 its
 * routes but the closed-only ones, class 1 those (closed lines only). */
static void hub_program(struct paths *ps, size_t d, size_t site, int class, bool on)
{
	const struct tun_device *dv = &ps->tun->dev[d];
	const struct kt_remote_site *s = &ps->cfg->sites[site];
	unsigned metric = tunnels_line_metric(ps->cfg, dv->line);

	for (size_t r = 0; r < s->peer.n_routes; r++) {
		int err;

		if (closed_only(s, &s->peer.routes[r]) != (class == 1))
			continue;
		err = on ? sys_route_replace(ps->sys, &s->peer.routes[r], NULL,
					     dv->ifindex, metric)
			 : sys_route_del(ps->sys, &s->peer.routes[r], dv->ifindex);
		if (err && !(err == -ESRCH && !on)) {
			ps->kernel_errors++;
			log_errx("PATHS_KERNEL", "site %s: route through %s: %s",
				 s->name, dv->ifname, strerror(-err));
		}
	}
}

static bool best_effort_dev(const struct paths *ps, size_t d)
{
	return ps->cfg->lines[ps->tun->dev[d].line].kind == KT_LINE_BEST_EFFORT;
}

/* Whether device d should carry site s's routes of a class now; *wait
 * gets the ms until it may, when only the hold-down keeps it out. */
static bool hub_want(const struct paths *ps, size_t d, size_t s, int class,
		     uint64_t now, uint64_t *wait)
{
	const struct paths_hub *h = &ps->hub[d * ps->hub_sites + s];
	unsigned m = tunnels_line_metric(ps->cfg, ps->tun->dev[d].line);
	bool worse = false, better = false;

	if (!h->usable || (class == 1 && best_effort_dev(ps, d)))
		return false;
	if (h->installed[class])
		return true;
	for (size_t e = 0; e < ps->hub_devs; e++) {
		const struct paths_hub *o = &ps->hub[e * ps->hub_sites + s];
		unsigned om = tunnels_line_metric(ps->cfg, ps->tun->dev[e].line);

		if (e == d || !o->installed[class] || !o->usable)
			continue;
		worse = worse || om > m;
		better = better || om < m;
	}
	/* Failover is at once (the other line's routes are there already).
	 * A path that would take the site's traffic from another working
	 * one does so after the hold-down; as the only one, or as a fallback
	 * behind a better one, it is installed at once. */
	if (better || !worse || now - h->usable_since >= ps->hold_down_ms)
		return true;
	*wait = ps->hold_down_ms - (now - h->usable_since);
	return false;
}

static uint64_t hub_evaluate(struct paths *ps, bool all)
{
	uint64_t now = kt_loop_now(ps->loop), wait = 0;

	for (size_t d = 0; d < ps->hub_devs; d++)
		for (size_t s = 0; s < ps->hub_sites; s++) {
			struct paths_hub *h = &ps->hub[d * ps->hub_sites + s];
			bool u = hub_usable(ps, d, s);

			if (u && !h->usable)
				h->usable_since = now;
			h->usable = u;
		}
	for (size_t s = 0; s < ps->hub_sites; s++)
		for (int class = 0; class < 2; class++)
			for (size_t d = 0; d < ps->hub_devs; d++) {
				struct paths_hub *h = &ps->hub[d * ps->hub_sites + s];
				uint64_t left = 0;
				bool want = hub_want(ps, d, s, class, now, &left);

				if (left && (!wait || left < wait))
					wait = left;
				if (want == h->installed[class] && !all)
					continue;
				if (want != h->installed[class] && class == 0) {
					ps->hub_changes++;
					kt_log(want ? LOG_NOTICE : LOG_WARNING, KT_MODULE,
					       want ? "SITE_PATH_ON" : "SITE_PATH_OFF",
					       "site %s: %s through %s (line %s)",
					       ps->cfg->sites[s].name,
					       want ? "routes" : "no routes",
					       ps->tun->dev[d].ifname,
					       ps->cfg->lines[ps->tun->dev[d].line].name);
				}
				h->installed[class] = want;
				hub_program(ps, d, s, class, want);
			}
	return wait;
}

static void hub_blackholes(struct paths *ps, const struct kt_config *cfg, bool on)
{
	for (size_t s = 0; s < cfg->n_sites; s++)
		for (size_t i = 0; i < cfg->sites[s].n_closed_only; i++) {
			struct sys_troute r = {
				.table = 254, .dst = cfg->sites[s].closed_only[i],
				.type = SYS_RT_BLACKHOLE,
				.metric = PATHS_HUB_BLACKHOLE_METRIC,
			};
			int err = on ? sys_troute_replace(ps->sys, &r)
				     : sys_troute_del(ps->sys, &r);

			if (err) {
				ps->kernel_errors++;
				log_errx("PATHS_KERNEL", "site %s: blackhole for a "
					 "closed-only prefix: %s", cfg->sites[s].name,
					 strerror(-err));
			}
		}
}

/* What the previous configuration routed that the new one does not. */
static void hub_forget(struct paths *ps, const struct kt_config *cfg)
{
	const struct kt_config *old = ps->cfg;

	hub_blackholes(ps, old, false);
	for (size_t s = 0; s < old->n_sites && ps->hub; s++) {
		const struct kt_remote_site *os = &old->sites[s];
		const struct kt_remote_site *ns = NULL;

		for (size_t k = 0; k < cfg->n_sites; k++)
			if (!strcmp(cfg->sites[k].name, os->name))
				ns = &cfg->sites[k];
		for (size_t r = 0; r < os->peer.n_routes; r++) {
			bool kept = false;

			for (size_t k = 0; ns && k < ns->peer.n_routes; k++)
				kept = kept || kt_prefix_equal(&ns->peer.routes[k],
							       &os->peer.routes[r]);
			for (size_t d = 0; !kept && d < ps->tun->n_dev; d++)
				sys_route_del(ps->sys, &os->peer.routes[r],
					      ps->tun->dev[d].ifindex);
		}
	}
}

static int hub_apply(struct paths *ps, const struct kt_config *cfg)
{
	if (ps->hub_mode)
		hub_forget(ps, cfg);
	free(ps->hub);
	ps->hub = NULL;
	ps->hub_mode = cfg->role == KT_ROLE_HUB && cfg->tunnel.enabled &&
		       ps->tun->built && ps->tun->n_dev > 0;
	*ps->cfg = *cfg;
	if (!ps->hub_mode)
		return 0;
	ps->hub_devs = ps->tun->n_dev;
	ps->hub_sites = cfg->n_sites;
	ps->hub = calloc(ps->hub_devs * ps->hub_sites + 1, sizeof(*ps->hub));
	if (!ps->hub) {
		ps->hub_mode = false;
		return -ENOMEM;
	}
	hub_blackholes(ps, cfg, true);
	/* Routes in the kernel from before (a reload, a restart) are
	 * replaced or removed by the first evaluation: all of them. */
	if (hub_evaluate(ps, true))
		kt_timer_set(ps->loop, &ps->hold, ps->hold_down_ms);
	return 0;
}

static void on_hold(struct kt_timer *t)
{
	struct paths *ps = container_of(t, struct paths, hold);

	evaluate(ps, PATHS_CAUSE_FAILBACK);
}

void paths_update(struct paths *ps, enum paths_cause why)
{
	evaluate(ps, why);
}

/* --- configuration --- */

static void plan_dst(struct paths *ps, const struct kt_config *cfg)
{
	ps->n_dst = 0;
	for (size_t h = 0; h < cfg->n_hubs; h++) {
		const struct kt_tunnel_peer *p = &cfg->hubs[h].peer;
		struct kt_prefix all[KT_MAX_ROUTES + 1];
		size_t n = 0;

		kt_prefix_host(&p->address, &all[n++]);
		for (size_t r = 0; r < p->n_routes; r++)
			all[n++] = p->routes[r];
		for (size_t i = 0; i < n; i++) {
			size_t j;

			for (j = 0; j < ps->n_dst; j++)
				if (kt_prefix_equal(&ps->dst[j], &all[i]))
					break;
			if (j == ps->n_dst) {
				if (ps->n_dst == PATHS_MAX_DST)
					continue;
				ps->dst[ps->n_dst] = all[i];
				ps->dst_hub[ps->n_dst++] = 0;
			}
			ps->dst_hub[j] |= 1 << h;
		}
	}
}

int paths_apply(struct paths *ps, const struct kt_config *cfg)
{
	struct paths_seg old[KT_MAX_SEGMENTS];
	size_t n_old = ps->n_seg;
	bool was = ps->enabled;

	memcpy(old, ps->seg, sizeof(old));
	ps->hold_down_ms = cfg->failover.hold_down_ms;
	if (cfg->role == KT_ROLE_HUB || ps->hub_mode) {
		/* A box that was a site keeps none of a site's tables. */
		for (size_t i = 0; i < n_old; i++)
			unprogram(ps, &old[i]);
		ps->n_seg = 0;
		ps->enabled = false;
		return hub_apply(ps, cfg);
	}
	ps->enabled = cfg->role == KT_ROLE_SITE && cfg->tunnel.enabled &&
		      ps->tun->built && ps->tun->n_dev > 0;
	/* Segments that go (or all, when selection stops) lose their rule
	 * and routes first; the others are replaced in place below. */
	for (size_t i = 0; i < n_old; i++) {
		bool kept = false;

		/* Same port and table; for the management segment also the
		 * same address, or its "from" rule would outlive it. */
		for (size_t j = 0; ps->enabled && j < cfg->n_segments; j++) {
			struct kt_prefix own;

			kt_prefix_host(&cfg->segments[j].address.addr, &own);
			kept = kept || (!strcmp(cfg->segments[j].ifname, old[i].ifname) &&
					CONFIG_PATHS_TABLE_BASE + j == old[i].table &&
					(old[i].kind != KT_SEG_MANAGEMENT ||
					 (cfg->segments[j].kind == old[i].kind &&
					  kt_prefix_equal(&own, &old[i].own))));
		}
		if (!kept)
			unprogram(ps, &old[i]);
	}
	*ps->cfg = *cfg;
	ps->n_seg = 0;
	if (!ps->enabled) {
		kt_timer_cancel(ps->loop, &ps->hold);
		if (was)
			log_notice("PATHS_OFF", "path selection off (%s)",
				   cfg->role != KT_ROLE_SITE ? "not a site" : "no tunnels");
		return 0;
	}
	plan_dst(ps, cfg);
	for (size_t i = 0; i < cfg->n_segments; i++) {
		const struct kt_segment *cs = &cfg->segments[i];
		struct paths_seg *s = &ps->seg[ps->n_seg++];

		memset(s, 0, sizeof(*s));
		snprintf(s->name, sizeof(s->name), "%s", cs->name);
		snprintf(s->ifname, sizeof(s->ifname), "%s", cs->ifname);
		s->kind = cs->kind;
		kt_prefix_network(&cs->address, &s->address);
		kt_prefix_host(&cs->address.addr, &s->own);
		s->table = CONFIG_PATHS_TABLE_BASE + (uint32_t)i;
		s->priority = CONFIG_PATHS_RULE_PRIORITY + (uint32_t)i;
		s->active = -1;
		plan_order(ps, s);
		/* A segment kept keeps its path (a reload is no failover); the
		 * set may have been rebuilt, so by the path's interface. */
		for (size_t j = 0; j < n_old; j++)
			if (!strcmp(old[j].ifname, s->ifname) && old[j].active_if[0])
				for (size_t k = 0; k < s->n_order; k++)
					if (!strcmp(dev_of(ps, s->order[k])->ifname,
						    old[j].active_if)) {
						s->active = s->order[k];
						s->changed_ms = old[j].changed_ms;
						s->failovers = old[j].failovers;
						s->failbacks = old[j].failbacks;
						s->last_cause = old[j].last_cause;
					}
	}
	memset(ps->usable, 0, sizeof(ps->usable));
	evaluate(ps, PATHS_CAUSE_START);
	return 0;
}

void paths_set_policy(struct paths *ps, const struct kt_policy *p)
{
	ps->n_elig = 0;
	ps->have_policy = p != NULL;
	for (size_t i = 0; p && i < p->n_segments; i++) {
		const struct kt_pol_segment *ps_ = &p->segments[i];

		for (size_t k = 0; k < ps_->n_ports && ps->n_elig < KT_MAX_SEGMENTS; k++) {
			snprintf(ps->elig[ps->n_elig].ifname, IF_NAMESIZE, "%s",
				 ps_->ifnames[k]);
			ps->elig[ps->n_elig++].kinds = ps_->paths;
		}
	}
	for (size_t i = 0; i < ps->n_seg; i++)
		plan_order(ps, &ps->seg[i]);
	evaluate(ps, PATHS_CAUSE_POLICY);
}

/* --- status --- */

json_t *paths_status(const struct paths *ps)
{
	json_t *segs = json_array();
	uint64_t now = kt_loop_now(ps->loop);

	for (size_t i = 0; i < ps->n_seg; i++) {
		const struct paths_seg *s = &ps->seg[i];
		json_t *order = json_array();
		char own[KT_PREFIX_STRLEN];

		for (size_t k = 0; k < s->n_order; k++)
			json_array_append_new(order, json_pack("{s:s, s:b}",
				"path", path_name(ps, s->order[k]),
				"usable", ps->usable[s->order[k]]));
		json_array_append_new(segs, json_pack(
			"{s:s, s:s, s:s, s:i, s:s?, s:o, s:b, s:f, s:i, s:i, s:s, s:s?, s:s?}",
			"segment", s->name, "port", s->ifname,
			"kind", kt_seg_kind_name(s->kind), "table", (int)s->table,
			"active", s->active >= 0 ? path_name(ps, s->active) : NULL,
			"eligible", order, "best-effort", !s->restricted,
			"since-s", (double)(now - s->changed_ms) / 1000,
			"failovers", (int)s->failovers, "failbacks", (int)s->failbacks,
			"last-cause", cause_names[s->last_cause],
			"fault", s->fault[0] ? s->fault : NULL,
			/* The address the box's own traffic takes this
			 * segment's path from (the management segment). */
			"source", s->kind == KT_SEG_MANAGEMENT ?
				  kt_addr_str(&s->own.addr, own, sizeof(own)) : NULL));
	}
	return json_pack("{s:b, s:i, s:o, s:i}", "enabled", ps->enabled,
			 "hold-down-ms", (int)ps->hold_down_ms, "segments", segs,
			 "kernel-errors", (int)ps->kernel_errors);
}
