#define KT_MODULE "ports"
#include "ports.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "log.h"

static struct ports_port *find(struct ports *ps, const char *ifname)
{
	for (size_t i = 0; i < ps->n; i++)
		if (!strcmp(ps->p[i].ifname, ifname))
			return &ps->p[i];
	return NULL;
}

bool ports_line_up(const struct ports_port *pp)
{
	return pp->present && pp->admin_up && pp->carrier;
}

const struct ports_port *ports_find(const struct ports *ps, const char *ifname)
{
	return find((struct ports *)ps, ifname);
}

static void set_fault(struct ports_port *pp, const char *what, int err)
{
	char prev[sizeof(pp->fault)];

	memcpy(prev, pp->fault, sizeof(prev));
	snprintf(pp->fault, sizeof(pp->fault), "%s: %s", what, strerror(-err));
	if (strcmp(prev, pp->fault))
		log_errx("PORT_FAULT", "port %s (%s, %s %s): %s", pp->port,
			 pp->ifname, pp->is_line ? "line" : "segment", pp->owner,
			 pp->fault);
}

static void update_link_state(struct ports *ps, struct ports_port *pp,
			      const struct sys_link *l);

/* A line's link came or went (present, up and with carrier): the
 * failover acts at once, not after BFD's detection time. */
static void line_changed(struct ports *ps, const struct ports_port *pp, bool was)
{
	bool now = ports_line_up(pp);

	if (pp->is_line && now != was && ps->on_line)
		ps->on_line(ps, pp);
}

static void update_link(struct ports *ps, struct ports_port *pp,
			const struct sys_link *l)
{
	bool was_line = ports_line_up(pp);

	update_link_state(ps, pp, l);
	line_changed(ps, pp, was_line);
}

static void update_link_state(struct ports *ps, struct ports_port *pp,
			      const struct sys_link *l)
{
	bool was = pp->carrier, was_up = pp->present && pp->admin_up;

	pp->present = true;
	pp->ifindex = l->ifindex;
	pp->admin_up = l->admin_up;
	pp->carrier = l->carrier;
	if (was_up && !l->admin_up) {
		/* Someone set it down by hand: say so, and put it back. */
		set_fault(pp, "set down outside kyotend", -ENETDOWN);
		kt_timer_set(ps->loop, &ps->retry, PORTS_RETRY_MS);
		return;
	}
	/* Before the port is up its carrier says nothing about the line. */
	if (!l->admin_up || (was_up && was == l->carrier))
		return;
	if (was_up) {
		pp->carrier_changes++;
		pp->last_change = (int64_t)time(NULL);
	}
	kt_log(l->carrier ? LOG_NOTICE : LOG_WARNING, KT_MODULE,
	       l->carrier ? "PORT_UP" : "PORT_DOWN", "port %s (%s, %s %s) carrier %s",
	       pp->port, pp->ifname, pp->is_line ? "line" : "segment", pp->owner,
	       l->carrier ? "up" : "down");
}

static int configure(struct ports *ps, struct ports_port *pp)
{
	struct sys_link l;
	int err;

	if ((err = sys_link_get(ps->sys, pp->ifname, &l))) {
		pp->present = false;
		set_fault(pp, err == -ENODEV ? "interface not found"
					     : "reading the interface failed", err);
		return err;
	}
	update_link(ps, pp, &l);
	if ((err = sys_link_set_up(ps->sys, l.ifindex))) {
		set_fault(pp, "setting the link up failed", err);
		return err;
	}
	if ((err = sys_addr_replace(ps->sys, l.ifindex, &pp->address))) {
		set_fault(pp, "setting the address failed", err);
		return err;
	}
	if (pp->fault[0])
		log_notice("PORT_OK", "port %s (%s): fault cleared", pp->port,
			   pp->ifname);
	pp->fault[0] = '\0';
	return 0;
}

static bool has_endpoint(const struct kt_config *cfg, const struct kt_addr *a,
			 const char *ifname)
{
	for (size_t h = 0; h < cfg->n_hubs; h++)
		for (size_t e = 0; e < cfg->hubs[h].n_endpoints; e++) {
			const struct kt_endpoint *ep = &cfg->hubs[h].endpoints[e];

			if (kt_addr_equal(&ep->addr, a) &&
			    !strcmp(cfg->lines[ep->line].ifname, ifname))
				return true;
		}
	return false;
}

/* Host routes to each hub endpoint through the line it is reached on, so
 * that every path leaves through its own line whatever the default route.
 * With `keep`, only the routes that `keep` lacks are removed: replacing in
 * place never leaves a moment without a route. */
static int hub_routes(struct ports *ps, const struct kt_config *cfg,
		      const struct kt_config *keep)
{
	int faults = 0;

	for (size_t h = 0; h < cfg->n_hubs; h++) {
		for (size_t e = 0; e < cfg->hubs[h].n_endpoints; e++) {
			const struct kt_endpoint *ep = &cfg->hubs[h].endpoints[e];
			const struct kt_line *line = &cfg->lines[ep->line];
			struct ports_port *pp = find(ps, line->ifname);
			struct kt_prefix dst;
			char what[96];
			int err;

			kt_prefix_host(&ep->addr, &dst);
			if (keep) {
				if (!has_endpoint(keep, &ep->addr, line->ifname) &&
				    pp && pp->present &&
				    (err = sys_route_del(ps->sys, &dst, pp->ifindex)) &&
				    err != -ESRCH)
					log_errx("ROUTE_DEL", "removing the route to "
						 "hub %s through %s failed: %s",
						 cfg->hubs[h].name, line->ifname,
						 strerror(-err));
				continue;
			}
			if (!pp || !pp->present)
				continue;
			err = sys_route_replace(ps->sys, &dst, &line->gateway,
						pp->ifindex, 0);
			if (err) {
				snprintf(what, sizeof(what), "route to hub %s failed",
					 cfg->hubs[h].name);
				set_fault(pp, what, err);
				faults++;
			}
		}
	}
	return faults;
}

static void fill(struct ports_port *pp, const char *port, const char *ifname,
		 const char *owner, bool is_line, const char *kind,
		 const struct kt_prefix *addr)
{
	memset(pp, 0, sizeof(*pp));
	snprintf(pp->port, sizeof(pp->port), "%s", port);
	snprintf(pp->ifname, sizeof(pp->ifname), "%s", ifname);
	snprintf(pp->owner, sizeof(pp->owner), "%s", owner);
	pp->is_line = is_line;
	pp->kind = kind;
	pp->address = *addr;
}

/* Addresses the previous configuration set and the new one does not. */
static void remove_stale(struct ports *ps, const struct ports_port *next,
			 size_t n_next)
{
	for (size_t i = 0; i < ps->n; i++) {
		const struct ports_port *old = &ps->p[i];
		bool kept = false;

		for (size_t j = 0; j < n_next; j++)
			kept |= !strcmp(next[j].ifname, old->ifname) &&
				kt_prefix_equal(&next[j].address, &old->address);
		if (!kept && old->present)
			sys_addr_del(ps->sys, old->ifindex, &old->address);
	}
}

int ports_apply(struct ports *ps, const struct kt_config *cfg)
{
	struct ports_port next[PORTS_MAX];
	size_t n = 0;
	int faults = 0;

	for (size_t i = 0; i < cfg->n_lines; i++)
		fill(&next[n++], cfg->lines[i].port, cfg->lines[i].ifname,
		     cfg->lines[i].name, true, kt_line_kind_name(cfg->lines[i].kind),
		     &cfg->lines[i].address);
	for (size_t i = 0; i < cfg->n_segments; i++)
		fill(&next[n++], cfg->segments[i].port, cfg->segments[i].ifname,
		     cfg->segments[i].name, false,
		     kt_seg_kind_name(cfg->segments[i].kind),
		     &cfg->segments[i].address);
	if (ps->applied) {
		hub_routes(ps, &ps->cfg, cfg);
		remove_stale(ps, next, n);
		/* Keep what is known of ports that stay: carrier changes
		 * are counted across reloads, and a retry or reload neither
		 * re-announces a healthy port nor repeats a known fault. */
		for (size_t j = 0; j < n; j++) {
			struct ports_port *old = find(ps, next[j].ifname);

			if (old) {
				next[j].carrier_changes = old->carrier_changes;
				next[j].last_change = old->last_change;
				next[j].present = old->present;
				next[j].carrier = old->carrier;
				next[j].admin_up = old->admin_up;
				next[j].ifindex = old->ifindex;
				memcpy(next[j].fault, old->fault, sizeof(old->fault));
			}
		}
	}
	memcpy(ps->p, next, sizeof(next[0]) * n);
	ps->n = n;
	ps->cfg = *cfg;
	ps->applied = true;
	ps->apply_count++;
	for (size_t i = 0; i < n; i++)
		faults += configure(ps, &ps->p[i]) != 0;
	faults += hub_routes(ps, cfg, NULL);
	if (faults)
		kt_timer_set(ps->loop, &ps->retry, PORTS_RETRY_MS);
	else
		kt_timer_cancel(ps->loop, &ps->retry);
	return faults;
}

static void on_retry(struct kt_timer *t)
{
	struct ports *ps = container_of(t, struct ports, retry);
	struct kt_config cfg = ps->cfg;

	ports_apply(ps, &cfg);
}

static void on_link(void *arg, const struct sys_link *l, bool removed)
{
	struct ports *ps = arg;
	struct ports_port *pp = find(ps, l->name);

	if (!pp)
		return;
	if (removed) {
		bool was_line = ports_line_up(pp);

		pp->present = false;
		pp->carrier = false;
		line_changed(ps, pp, was_line);
		set_fault(pp, "interface removed", -ENODEV);
		kt_timer_set(ps->loop, &ps->retry, PORTS_RETRY_MS);
		return;
	}
	if (!pp->present || pp->ifindex != l->ifindex) {
		/* A port that (re)appeared needs its address and routes. */
		update_link(ps, pp, l);
		kt_timer_set(ps->loop, &ps->retry, 0);
		return;
	}
	update_link(ps, pp, l);
}

static void on_events(struct kt_fd *h, uint32_t events)
{
	struct ports *ps = container_of(h, struct ports, ev);
	int err = sys_events_read(ps->sys, on_link, ps);

	(void)events;
	if (err) {
		/* Notifications were lost (overrun, truncated, or the read
		 * failed): read every port again rather than trust old state. */
		ps->resyncs++;
		log_warnx("PORT_RESYNC", "link notifications lost (%s); "
			  "re-reading all ports", strerror(-err));
		kt_timer_set(ps->loop, &ps->retry, 0);
	}
}

int ports_init(struct ports *ps, struct sys *sys, struct kt_loop *loop)
{
	memset(ps, 0, sizeof(*ps));
	ps->sys = sys;
	ps->loop = loop;
	ps->retry.cb = on_retry;
	ps->ev.fd = sys_events_fd(sys);
	ps->ev.events = EPOLLIN;
	ps->ev.cb = on_events;
	return kt_loop_fd_add(loop, &ps->ev);
}

void ports_uninit(struct ports *ps)
{
	/* Addresses and routes stay: a restart of the daemon must not cut
	 * the site off (the kernel keeps forwarding meanwhile). */
	kt_timer_cancel(ps->loop, &ps->retry);
	kt_loop_fd_del(ps->loop, &ps->ev);
}

json_t *ports_status(const struct ports *ps)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < ps->n; i++) {
		const struct ports_port *pp = &ps->p[i];
		char a[KT_PREFIX_STRLEN];

		json_array_append_new(arr, json_pack(
			"{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:i, s:I, s:s?}",
			"port", pp->port, "ifname", pp->ifname,
			"role", pp->is_line ? "line" : "segment",
			"name", pp->owner, "kind", pp->kind,
			"address", kt_prefix_str(&pp->address, a, sizeof(a)),
			"present", pp->present, "up", pp->admin_up,
			"carrier", pp->carrier,
			"carrier-changes", (int)pp->carrier_changes,
			"last-change", (json_int_t)pp->last_change,
			"fault", pp->fault[0] ? pp->fault : NULL));
	}
	return arr;
}
