/* In-memory backend of the sys_* interface: what the kernel would hold,
 * kept in small tables, with carrier changes injected by tests and
 * announced through an eventfd exactly as rtnetlink announces them. */
#include "sys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tunio.h"

/* Room for a hub: 2 tunnel devices with 512 sites' routes each. */
#define DUMMY_LINKS 32
#define DUMMY_ADDRS 64
#define DUMMY_ROUTES 4096

struct dummy_addr {
	int ifindex;
	struct kt_prefix p;
};

struct dummy_route {
	int ifindex;
	unsigned metric;
	struct kt_prefix dst;
	struct kt_addr gw;
};

#define DUMMY_RULES 64

struct dummy_priv {
	struct sys_troute troutes[DUMMY_ROUTES];
	size_t n_troutes;
	struct sys_rule rules[DUMMY_RULES];
	size_t n_rules;
	struct sys_link links[DUMMY_LINKS];
	size_t n_links;
	struct dummy_addr addrs[DUMMY_ADDRS];
	size_t n_addrs;
	struct dummy_route routes[DUMMY_ROUTES];
	size_t n_routes;
	bool changed[DUMMY_LINKS];
	int next_ifindex;
	int efd;
	int nflog_peer;
	char fail_op[24];
	int fail_err;
	unsigned fail_skip;		/* calls of fail_op to let through first */
};

static int dummy_init(struct sys *s)
{
	struct dummy_priv *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0) {
		int err = -errno;

		free(p);
		return err;
	}
	s->priv = p;
	return 0;
}

static void dummy_uninit(struct sys *s)
{
	struct dummy_priv *p = s->priv;

	if (!p)
		return;
	close(p->efd);
	if (p->nflog_peer > 0)
		close(p->nflog_peer);
	free(p);
	s->priv = NULL;
}

static int injected(struct dummy_priv *p, const char *op)
{
	int err = p->fail_err;

	if (!err || strcmp(p->fail_op, op))
		return 0;
	if (p->fail_skip) {
		p->fail_skip--;
		return 0;
	}
	p->fail_err = 0;
	return err;
}

static struct sys_link *by_index(struct dummy_priv *p, int ifindex)
{
	for (size_t i = 0; i < p->n_links; i++)
		if (p->links[i].ifindex == ifindex)
			return &p->links[i];
	return NULL;
}

static struct sys_link *by_name(struct dummy_priv *p, const char *name)
{
	for (size_t i = 0; i < p->n_links; i++)
		if (!strcmp(p->links[i].name, name))
			return &p->links[i];
	return NULL;
}

static void announce(struct dummy_priv *p, struct sys_link *l)
{
	uint64_t one = 1;

	p->changed[l - p->links] = true;
	if (write(p->efd, &one, sizeof(one)) < 0) {
		/* Counter overflow only; the flag above is what matters. */
	}
}

static int dummy_link_get(struct sys *s, const char *name, struct sys_link *out)
{
	struct dummy_priv *p = s->priv;
	struct sys_link *l = by_name(p, name);
	int err = injected(p, "link_get");

	if (err)
		return err;
	if (!l)
		return -ENODEV;
	*out = *l;
	return 0;
}

static int dummy_link_set_up(struct sys *s, int ifindex)
{
	struct dummy_priv *p = s->priv;
	struct sys_link *l = by_index(p, ifindex);
	int err = injected(p, "link_set_up");

	if (err)
		return err;
	if (!l)
		return -ENODEV;
	if (!l->admin_up) {
		l->admin_up = true;
		announce(p, l);
	}
	return 0;
}

static int dummy_addr_replace(struct sys *s, int ifindex, const struct kt_prefix *pf)
{
	struct dummy_priv *p = s->priv;
	int err = injected(p, "addr_replace");

	if (err)
		return err;
	if (!by_index(p, ifindex))
		return -ENODEV;
	for (size_t i = 0; i < p->n_addrs; i++) {
		if (p->addrs[i].ifindex == ifindex &&
		    kt_addr_equal(&p->addrs[i].p.addr, &pf->addr)) {
			p->addrs[i].p = *pf;
			return 0;
		}
	}
	if (p->n_addrs == DUMMY_ADDRS)
		return -ENOSPC;
	p->addrs[p->n_addrs++] = (struct dummy_addr){ ifindex, *pf };
	return 0;
}

static int dummy_addr_del(struct sys *s, int ifindex, const struct kt_prefix *pf)
{
	struct dummy_priv *p = s->priv;
	int err = injected(p, "addr_del");

	if (err)
		return err;
	for (size_t i = 0; i < p->n_addrs; i++) {
		if (p->addrs[i].ifindex == ifindex &&
		    kt_prefix_equal(&p->addrs[i].p, pf)) {
			p->addrs[i] = p->addrs[--p->n_addrs];
			return 0;
		}
	}
	return -EADDRNOTAVAIL;
}

static int dummy_route_replace(struct sys *s, const struct kt_prefix *dst,
			       const struct kt_addr *gw, int ifindex,
			       unsigned metric)
{
	struct dummy_priv *p = s->priv;
	struct dummy_route r = { .ifindex = ifindex, .metric = metric, .dst = *dst };
	int err = injected(p, "route_replace");

	if (err)
		return err;
	if (!by_index(p, ifindex))
		return -ENODEV;
	if (gw)
		r.gw = *gw;
	for (size_t i = 0; i < p->n_routes; i++) {
		if (kt_prefix_equal(&p->routes[i].dst, dst) &&
		    p->routes[i].metric == metric) {
			p->routes[i] = r;
			return 0;
		}
	}
	if (p->n_routes == DUMMY_ROUTES)
		return -ENOSPC;
	p->routes[p->n_routes++] = r;
	return 0;
}

static int dummy_route_del(struct sys *s, const struct kt_prefix *dst, int ifindex)
{
	struct dummy_priv *p = s->priv;
	int err = injected(p, "route_del");

	if (err)
		return err;
	/* Interface 0 matches any, as the kernel's RTM_DELROUTE does. */
	for (size_t i = 0; i < p->n_routes; i++) {
		if (kt_prefix_equal(&p->routes[i].dst, dst) &&
		    (!ifindex || p->routes[i].ifindex == ifindex)) {
			p->routes[i] = p->routes[--p->n_routes];
			return 0;
		}
	}
	return -ESRCH;
}

/* A TUN stand-in: one end of a datagram socketpair (the other end is
 * closed, so writes fail as they would to an interface that is down),
 * and a link of that name that takes addresses and routes. */
static int dummy_tun_open(struct sys *s, const char *name, unsigned mtu)
{
	struct dummy_priv *p = s->priv;
	int sv[2], err = injected(p, "tun_open"), idx;

	if (err)
		return err;
	if (by_name(p, name))
		return -EBUSY;
	if ((idx = sys_dummy_link_add(s, name, true)) < 0)
		return idx;
	by_index(p, idx)->mtu = mtu;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
		return -errno;
	close(sv[1]);
	return sv[0];
}

static void dummy_tun_close(struct sys *s, const char *name, int fd)
{
	struct dummy_priv *p = s->priv;
	struct sys_link *l = by_name(p, name);

	close(fd);
	if (!l)
		return;
	/* As the kernel does: the link's addresses and routes go with it. */
	for (size_t i = 0; i < p->n_addrs;)
		if (p->addrs[i].ifindex == l->ifindex)
			p->addrs[i] = p->addrs[--p->n_addrs];
		else
			i++;
	for (size_t i = 0; i < p->n_routes;)
		if (p->routes[i].ifindex == l->ifindex)
			p->routes[i] = p->routes[--p->n_routes];
		else
			i++;
	for (size_t i = 0; i < p->n_troutes;)
		if (p->troutes[i].type == SYS_RT_UNICAST &&
		    p->troutes[i].ifindex == l->ifindex)
			p->troutes[i] = p->troutes[--p->n_troutes];
		else
			i++;
	p->n_links--;
	p->changed[l - p->links] = p->changed[p->n_links];
	p->changed[p->n_links] = false;
	*l = p->links[p->n_links];
}

/* A real UDP socket on the loopback address (no device to bind to). */
static int dummy_udp_open(struct sys *s, int family, uint16_t port,
			  const char *ifname)
{
	struct dummy_priv *p = s->priv;
	int err = injected(p, "udp_open");

	(void)port;
	(void)ifname;
	if (err)
		return err;
	return kt_udp_open(family, 0, NULL);
}

static struct sys_troute *troute_find(struct dummy_priv *p, uint32_t table,
				       const struct kt_prefix *dst, unsigned metric)
{
	for (size_t i = 0; i < p->n_troutes; i++)
		if (p->troutes[i].table == table && p->troutes[i].metric == metric &&
		    kt_prefix_equal(&p->troutes[i].dst, dst))
			return &p->troutes[i];
	return NULL;
}

static int dummy_troute_replace(struct sys *s, const struct sys_troute *r)
{
	struct dummy_priv *p = s->priv;
	struct sys_troute *t;
	int err = injected(p, "troute_replace");

	if (err)
		return err;
	if (r->type == SYS_RT_UNICAST && !by_index(p, r->ifindex))
		return -ENODEV;
	if ((t = troute_find(p, r->table, &r->dst, r->metric))) {
		*t = *r;
		return 0;
	}
	if (p->n_troutes == DUMMY_ROUTES)
		return -ENOSPC;
	p->troutes[p->n_troutes++] = *r;
	return 0;
}

static int dummy_troute_del(struct sys *s, const struct sys_troute *r)
{
	struct dummy_priv *p = s->priv;
	struct sys_troute *t;
	int err = injected(p, "troute_del");

	if (err)
		return err;
	if ((t = troute_find(p, r->table, &r->dst, r->metric)))
		*t = p->troutes[--p->n_troutes];
	return 0;
}

static bool rule_same(const struct sys_rule *a, const struct sys_rule *b)
{
	return a->family == b->family && a->table == b->table &&
	       a->priority == b->priority && !strcmp(a->iifname, b->iifname) &&
	       a->src.len == b->src.len &&
	       (!a->src.len || kt_prefix_equal(&a->src, &b->src));
}

static int dummy_rule_add(struct sys *s, const struct sys_rule *r)
{
	struct dummy_priv *p = s->priv;
	int err = injected(p, "rule_add");

	if (err)
		return err;
	if (sys_dummy_has_rule(s, r))
		return 0;
	if (p->n_rules == DUMMY_RULES)
		return -ENOSPC;
	p->rules[p->n_rules++] = *r;
	return 0;
}

static int dummy_rule_del(struct sys *s, const struct sys_rule *r)
{
	struct dummy_priv *p = s->priv;
	int err = injected(p, "rule_del");

	if (err)
		return err;
	for (size_t i = 0; i < p->n_rules; i++)
		if (rule_same(&p->rules[i], r)) {
			p->rules[i] = p->rules[--p->n_rules];
			break;
		}
	return 0;
}

/* One end of a datagram socketpair whose other end is closed: the engine
 * reads it as it would the real socket (nothing arrives), and what it
 * sends fails and is counted, so a host running tests never puts BFD on
 * its own network. */
static int dummy_bfd_open(struct sys *s, const struct kt_addr *local,
			  const char *ifname, bool rx)
{
	struct dummy_priv *p = s->priv;
	int err = injected(p, "bfd_open"), sv[2];

	(void)local;
	(void)ifname;
	(void)rx;
	if (err)
		return err;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		return -errno;
	close(sv[1]);
	return sv[0];
}

static int dummy_nflog_open(struct sys *s, uint16_t group)
{
	struct dummy_priv *p = s->priv;
	int sv[2], err = injected(p, "nflog_open");

	(void)group;
	if (err)
		return err;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
		return -errno;
	if (p->nflog_peer > 0)
		close(p->nflog_peer);
	p->nflog_peer = sv[1];
	return sv[0];
}

int sys_dummy_nflog_peer(struct sys *s)
{
	return ((struct dummy_priv *)s->priv)->nflog_peer;
}

static int dummy_events_fd(struct sys *s)
{
	return ((struct dummy_priv *)s->priv)->efd;
}

static int dummy_events_read(struct sys *s, sys_link_fn fn, void *arg)
{
	struct dummy_priv *p = s->priv;
	uint64_t n;

	if (read(p->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return -errno;
	for (size_t i = 0; i < p->n_links; i++) {
		if (p->changed[i]) {
			p->changed[i] = false;
			fn(arg, &p->links[i], false);
		}
	}
	return 0;
}

const struct sys_ops sys_dummy_ops = {
	.name = "dummy",
	.init = dummy_init,
	.uninit = dummy_uninit,
	.link_get = dummy_link_get,
	.link_set_up = dummy_link_set_up,
	.addr_replace = dummy_addr_replace,
	.addr_del = dummy_addr_del,
	.route_replace = dummy_route_replace,
	.route_del = dummy_route_del,
	.tun_open = dummy_tun_open,
	.tun_close = dummy_tun_close,
	.udp_open = dummy_udp_open,
	.troute_replace = dummy_troute_replace,
	.troute_del = dummy_troute_del,
	.rule_add = dummy_rule_add,
	.rule_del = dummy_rule_del,
	.bfd_open = dummy_bfd_open,
	.nflog_open = dummy_nflog_open,
	.events_fd = dummy_events_fd,
	.events_read = dummy_events_read,
};

int sys_dummy_link_add(struct sys *s, const char *name, bool carrier)
{
	struct dummy_priv *p = s->priv;
	struct sys_link *l;

	if (p->n_links == DUMMY_LINKS || strlen(name) >= IF_NAMESIZE)
		return -ENOSPC;
	l = &p->links[p->n_links++];
	memset(l, 0, sizeof(*l));
	/* Never reused, as the kernel's (1 is lo). */
	l->ifindex = p->next_ifindex++ + 2;
	strcpy(l->name, name);
	l->carrier = carrier;
	l->mtu = 1500;
	announce(p, l);
	return l->ifindex;
}

int sys_dummy_set_carrier(struct sys *s, const char *name, bool carrier)
{
	struct dummy_priv *p = s->priv;
	struct sys_link *l = by_name(p, name);

	if (!l)
		return -ENODEV;
	l->carrier = carrier;
	announce(p, l);
	return 0;
}

size_t sys_dummy_addr_count(struct sys *s, const char *name)
{
	struct dummy_priv *p = s->priv;
	struct sys_link *l = by_name(p, name);
	size_t n = 0;

	for (size_t i = 0; l && i < p->n_addrs; i++)
		n += p->addrs[i].ifindex == l->ifindex;
	return n;
}

bool sys_dummy_has_addr(struct sys *s, const char *name, const struct kt_prefix *pf)
{
	struct dummy_priv *p = s->priv;
	struct sys_link *l = by_name(p, name);

	for (size_t i = 0; l && i < p->n_addrs; i++)
		if (p->addrs[i].ifindex == l->ifindex &&
		    kt_prefix_equal(&p->addrs[i].p, pf))
			return true;
	return false;
}

int sys_dummy_route_metric(struct sys *s, const struct kt_prefix *dst,
			   const char *name)
{
	struct dummy_priv *p = s->priv;
	struct sys_link *l = by_name(p, name);

	for (size_t i = 0; l && i < p->n_routes; i++)
		if (p->routes[i].ifindex == l->ifindex &&
		    kt_prefix_equal(&p->routes[i].dst, dst))
			return (int)p->routes[i].metric;
	return -1;
}

bool sys_dummy_has_route(struct sys *s, const struct kt_prefix *dst,
			 const struct kt_addr *gw, const char *name)
{
	struct dummy_priv *p = s->priv;
	struct sys_link *l = by_name(p, name);

	for (size_t i = 0; l && i < p->n_routes; i++)
		if (p->routes[i].ifindex == l->ifindex &&
		    kt_prefix_equal(&p->routes[i].dst, dst) &&
		    (!gw || kt_addr_equal(&p->routes[i].gw, gw)))
			return true;
	return false;
}

bool sys_dummy_troute(struct sys *s, uint32_t table, const struct kt_prefix *dst,
		      unsigned metric, enum sys_rt_type *type, char ifname[IF_NAMESIZE])
{
	struct dummy_priv *p = s->priv;
	struct sys_troute *t = troute_find(p, table, dst, metric);
	struct sys_link *l;

	if (!t)
		return false;
	*type = t->type;
	l = t->type == SYS_RT_UNICAST ? by_index(p, t->ifindex) : NULL;
	snprintf(ifname, IF_NAMESIZE, "%s", l ? l->name : "");
	return true;
}

size_t sys_dummy_troute_count(struct sys *s, uint32_t table)
{
	struct dummy_priv *p = s->priv;
	size_t n = 0;

	for (size_t i = 0; i < p->n_troutes; i++)
		n += p->troutes[i].table == table;
	return n;
}

bool sys_dummy_has_rule(struct sys *s, const struct sys_rule *r)
{
	struct dummy_priv *p = s->priv;

	for (size_t i = 0; i < p->n_rules; i++)
		if (rule_same(&p->rules[i], r))
			return true;
	return false;
}

void sys_dummy_fail_next(struct sys *s, const char *op, int err)
{
	struct dummy_priv *p = s->priv;

	strncpy(p->fail_op, op, sizeof(p->fail_op) - 1);
	p->fail_err = err;
	p->fail_skip = 0;
}

void sys_dummy_fail_nth(struct sys *s, const char *op, unsigned n, int err)
{
	sys_dummy_fail_next(s, op, err);
	((struct dummy_priv *)s->priv)->fail_skip = n;
}
