/* The narrow interface through which Kyoten touches the kernel's network
 * state. Two backends: sys-linux.c (rtnetlink through libmnl) and
 * sys-dummy.c (in-memory tables, for unit tests and developers' hosts).
 * Only the privileged parent process holds a struct sys.
 *
 * Writes are idempotent ("replace"), so that applying the same
 * configuration twice, or after a restart, converges to the same state. */
#ifndef KT_SYS_H
#define KT_SYS_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* Routes Kyoten installs carry this protocol number, so that they can be
 * told from the administrator's and the kernel's (ip route show proto 201). */
#define KT_RTPROT 201

struct sys_link {
	int ifindex;
	char name[IF_NAMESIZE];
	bool admin_up;
	bool carrier;		/* IFF_LOWER_UP */
	unsigned mtu;
};

typedef void (*sys_link_fn)(void *arg, const struct sys_link *l, bool removed);

/* Policy routing, for the failover's per-segment tables: a route in a
 * table of its own, told apart by table, destination and metric,
 * so that a replace switches it atomically between a path, a blackhole
 * (drop: no eligible path left) and a throw (go on to the next rule). */
enum sys_rt_type { SYS_RT_UNICAST, SYS_RT_BLACKHOLE, SYS_RT_THROW };

struct sys_troute {
	uint32_t table;
	struct kt_prefix dst;
	enum sys_rt_type type;
	int ifindex;			/* SYS_RT_UNICAST only */
	unsigned metric;		/* 0 in the per-segment tables */
};

/* "from SRC iif IFNAME lookup TABLE", at PRIORITY, per family: an
 * interface, a source, or both (src.len 0: from all). */
struct sys_rule {
	int family;
	char iifname[IF_NAMESIZE];
	struct kt_prefix src;
	uint32_t table, priority;
};

struct sys;

struct sys_ops {
	const char *name;
	int (*init)(struct sys *s);
	void (*uninit)(struct sys *s);
	int (*link_get)(struct sys *s, const char *name, struct sys_link *out);
	int (*link_set_up)(struct sys *s, int ifindex);
	int (*addr_replace)(struct sys *s, int ifindex, const struct kt_prefix *p);
	int (*addr_del)(struct sys *s, int ifindex, const struct kt_prefix *p);
	/* Routes are told apart by destination and metric, as the kernel
	 * does: one prefix may leave through several tunnels in order. */
	int (*route_replace)(struct sys *s, const struct kt_prefix *dst,
			     const struct kt_addr *gw, int ifindex,
			     unsigned metric);
	/* Any metric. */
	int (*route_del)(struct sys *s, const struct kt_prefix *dst, int ifindex);
	int (*troute_replace)(struct sys *s, const struct sys_troute *r);
	/* By table and destination, whatever its type. */
	int (*troute_del)(struct sys *s, const struct sys_troute *r);
	/* Rules cannot be replaced: an add of one that exists succeeds. */
	int (*rule_add)(struct sys *s, const struct sys_rule *r);
	int (*rule_del)(struct sys *s, const struct sys_rule *r);
	/* A TUN interface `name` with `mtu`, its descriptor non-blocking (or
	 * -errno); it lives while a descriptor to it is open, so tun_close
	 * (or the process's exit) removes it with its addresses and routes. */
	int (*tun_open)(struct sys *s, const char *name, unsigned mtu);
	void (*tun_close)(struct sys *s, const char *name, int fd);
	/* A non-blocking UDP socket on `port`, bound to interface `ifname`
	 * so that what it sends leaves through that line only. */
	int (*udp_open)(struct sys *s, int family, uint16_t port,
			const char *ifname);
	/* A path's BFD socket on tunnel interface `ifname`, from `local`
	 * (netstack/bfdio.h): rx listens on port 3784, tx sends from RFC
	 * 5881's source ports with TTL 255. */
	int (*bfd_open)(struct sys *s, const struct kt_addr *local,
			const char *ifname, bool rx);
	/* A non-blocking NETLINK_NETFILTER socket bound to nflog `group`,
	 * copying the start of each packet (firmware/nflog.h); -EBUSY when
	 * another listener holds the group. */
	int (*nflog_open)(struct sys *s, uint16_t group);
	/* A descriptor that becomes readable when links change, and the call
	 * that drains it into fn. */
	int (*events_fd)(struct sys *s);
	int (*events_read)(struct sys *s, sys_link_fn fn, void *arg);
};

struct sys {
	const struct sys_ops *ops;
	void *priv;
};

extern const struct sys_ops sys_linux_ops;
extern const struct sys_ops sys_dummy_ops;

/* Picks a backend by name ("linux", "dummy"). */
int sys_init(struct sys *s, const char *backend);
void sys_uninit(struct sys *s);

static inline int sys_link_get(struct sys *s, const char *n, struct sys_link *o)
{ return s->ops->link_get(s, n, o); }
static inline int sys_link_set_up(struct sys *s, int ifindex)
{ return s->ops->link_set_up(s, ifindex); }
static inline int sys_addr_replace(struct sys *s, int i, const struct kt_prefix *p)
{ return s->ops->addr_replace(s, i, p); }
static inline int sys_addr_del(struct sys *s, int i, const struct kt_prefix *p)
{ return s->ops->addr_del(s, i, p); }
static inline int sys_route_replace(struct sys *s, const struct kt_prefix *d,
				    const struct kt_addr *gw, int i, unsigned metric)
{ return s->ops->route_replace(s, d, gw, i, metric); }
static inline int sys_route_del(struct sys *s, const struct kt_prefix *d, int i)
{ return s->ops->route_del(s, d, i); }
static inline int sys_troute_replace(struct sys *s, const struct sys_troute *r)
{ return s->ops->troute_replace(s, r); }
static inline int sys_troute_del(struct sys *s, const struct sys_troute *r)
{ return s->ops->troute_del(s, r); }
static inline int sys_rule_add(struct sys *s, const struct sys_rule *r)
{ return s->ops->rule_add(s, r); }
static inline int sys_rule_del(struct sys *s, const struct sys_rule *r)
{ return s->ops->rule_del(s, r); }
static inline int sys_tun_open(struct sys *s, const char *name, unsigned mtu)
{ return s->ops->tun_open(s, name, mtu); }
static inline void sys_tun_close(struct sys *s, const char *name, int fd)
{ s->ops->tun_close(s, name, fd); }
static inline int sys_udp_open(struct sys *s, int family, uint16_t port,
			       const char *ifname)
{ return s->ops->udp_open(s, family, port, ifname); }
static inline int sys_bfd_open(struct sys *s, const struct kt_addr *local,
			       const char *ifname, bool rx)
{ return s->ops->bfd_open(s, local, ifname, rx); }
static inline int sys_nflog_open(struct sys *s, uint16_t group)
{ return s->ops->nflog_open(s, group); }
static inline int sys_events_fd(struct sys *s)
{ return s->ops->events_fd(s); }
static inline int sys_events_read(struct sys *s, sys_link_fn fn, void *arg)
{ return s->ops->events_read(s, fn, arg); }

/* Linux backend: the parse step of events_read, on a buffer of rtnetlink
 * notifications (also the fuzzing entry point). */
int sys_linux_parse_events(const void *buf, size_t len, sys_link_fn fn,
			   void *arg);

/* Dummy backend only: test hooks. */
int sys_dummy_link_add(struct sys *s, const char *name, bool carrier);
int sys_dummy_set_carrier(struct sys *s, const char *name, bool carrier);
size_t sys_dummy_addr_count(struct sys *s, const char *name);
bool sys_dummy_has_addr(struct sys *s, const char *name, const struct kt_prefix *p);
bool sys_dummy_has_route(struct sys *s, const struct kt_prefix *dst,
			 const struct kt_addr *gw, const char *name);
/* The metric of the route to dst through name, or -1 if there is none. */
int sys_dummy_route_metric(struct sys *s, const struct kt_prefix *dst,
			   const char *name);
/* The route to dst at metric in table: its type and interface name (""
 * for none); false if the table has none. */
bool sys_dummy_troute(struct sys *s, uint32_t table, const struct kt_prefix *dst,
		      unsigned metric, enum sys_rt_type *type, char ifname[IF_NAMESIZE]);
size_t sys_dummy_troute_count(struct sys *s, uint32_t table);
bool sys_dummy_has_rule(struct sys *s, const struct sys_rule *r);
/* Next call of the named operation fails with err (0 clears). */
/* The other end of the last socket nflog_open gave (a datagram
 * socketpair): what a test writes there is what the kernel would send. */
int sys_dummy_nflog_peer(struct sys *s);
void sys_dummy_fail_next(struct sys *s, const char *op, int err);
/* The same, after letting n calls of it through. */
void sys_dummy_fail_nth(struct sys *s, const char *op, unsigned n, int err);

#endif
