/* rtnetlink backend of the sys_* interface, on libmnl.
 *
 * Two sockets: `cmd` for requests, each acknowledged (NLM_F_ACK) and its
 * error returned as -errno; `mon` subscribed to link changes and drained
 * from the event loop. Every attribute read from the kernel is checked
 * against the type it must have before it is used. */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <stdbool.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bfdio.h"
#include "nflog.h"
#include "tunio.h"

/* libmnl's MNL_SOCKET_BUFFER_SIZE is a run-time value (page size); fixed
 * sizes keep the buffers off the VLA path. Replies to our requests are
 * small; notifications come in batches, hence the larger receive buffer. */
#define NL_REQ_SIZE 1024
#define NL_RECV_SIZE 32768

/* glibc's <net/if.h> lacks it and <linux/if.h> clashes with <net/if.h>. */
#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif

struct linux_priv {
	struct mnl_socket *cmd, *mon;
	unsigned cmd_portid;
	uint32_t seq;
	char buf[NL_RECV_SIZE];
};

static int nl_open(struct mnl_socket **out, unsigned groups, int flags)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | flags);

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, groups, MNL_SOCKET_AUTOPID) < 0) {
		int err = -errno;

		mnl_socket_close(nl);
		return err;
	}
	*out = nl;
	return 0;
}

static int linux_init(struct sys *s)
{
	struct linux_priv *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	if ((err = nl_open(&p->cmd, 0, 0)))
		goto err_free;
	/* The kernel answers at once; a request that gets no answer must
	 * not hang the only process that writes routes. */
	{
		struct timeval tv = { .tv_sec = 5 };

		setsockopt(mnl_socket_get_fd(p->cmd), SOL_SOCKET, SO_RCVTIMEO,
			   &tv, sizeof(tv));
	}
	if ((err = nl_open(&p->mon, RTMGRP_LINK, SOCK_NONBLOCK)))
		goto err_cmd;
	p->cmd_portid = mnl_socket_get_portid(p->cmd);
	p->seq = (uint32_t)time(NULL);
	s->priv = p;
	return 0;
err_cmd:
	mnl_socket_close(p->cmd);
err_free:
	free(p);
	return err;
}

static void linux_uninit(struct sys *s)
{
	struct linux_priv *p = s->priv;

	if (!p)
		return;
	mnl_socket_close(p->mon);
	mnl_socket_close(p->cmd);
	free(p);
	s->priv = NULL;
}

struct talk {
	mnl_cb_t cb;
	void *data;
	int err;		/* first reply the caller's callback refused */
};

/* The caller's callback may refuse a reply; the exchange still runs to
 * the kernel's ACK, so that the socket stays in step for the next one. */
static int talk_cb(const struct nlmsghdr *nlh, void *data)
{
	struct talk *t = data;

	if (t->cb && t->cb(nlh, t->data) < MNL_CB_STOP && !t->err)
		t->err = -EBADMSG;
	return MNL_CB_OK;
}

/* Sends one request and runs the replies through cb until the kernel's
 * ACK (or error) for it arrives. Replies to older requests (one that timed
 * out) are skipped. */
static int nl_talk(struct linux_priv *p, struct nlmsghdr *nlh, mnl_cb_t cb,
		   void *data)
{
	struct talk t = { cb, data, 0 };
	uint32_t seq;
	int ret;

	nlh->nlmsg_seq = seq = ++p->seq;
	nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(p->cmd, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(p->cmd, p->buf, sizeof(p->buf));

		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		ret = mnl_cb_run(p->buf, (size_t)n, seq, p->cmd_portid, talk_cb, &t);
		if (ret == MNL_CB_ERROR && errno == EPROTO)
			continue;	/* an older request's reply */
		if (ret == MNL_CB_ERROR)
			return -errno;	/* the kernel's error for ours */
		if (ret == MNL_CB_STOP)
			return t.err;
	}
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, IFLA_MAX) < 0)
		return MNL_CB_OK;	/* newer kernel, unknown attribute */
	switch (type) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
			return MNL_CB_ERROR;
		break;
	case IFLA_MTU:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		break;
	default:
		break;
	}
	tb[type] = a;
	return MNL_CB_OK;
}

static int parse_link(const struct nlmsghdr *nlh, struct sys_link *out)
{
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	const struct ifinfomsg *ifi;

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(*ifi))
		return -EBADMSG;
	ifi = mnl_nlmsg_get_payload(nlh);
	if (mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, tb) < 0 ||
	    !tb[IFLA_IFNAME])
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->ifindex = ifi->ifi_index;
	strncpy(out->name, mnl_attr_get_str(tb[IFLA_IFNAME]), sizeof(out->name) - 1);
	out->admin_up = ifi->ifi_flags & IFF_UP;
	out->carrier = ifi->ifi_flags & IFF_LOWER_UP;
	if (tb[IFLA_MTU])
		out->mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
	return 0;
}

static int link_reply_cb(const struct nlmsghdr *nlh, void *data)
{
	return parse_link(nlh, data) ? MNL_CB_ERROR : MNL_CB_OK;
}

static int linux_link_get(struct sys *s, const char *name, struct sys_link *out)
{
	struct linux_priv *p = s->priv;
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	if (strlen(name) >= IF_NAMESIZE)
		return -EINVAL;
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	memset(out, 0, sizeof(*out));
	return nl_talk(p, nlh, link_reply_cb, out);
}

static int linux_link_set_up(struct sys *s, int ifindex)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return nl_talk(s->priv, nlh, NULL, NULL);
}

static int addr_msg(struct sys *s, uint16_t type, uint16_t flags, int ifindex,
		    const struct kt_prefix *pf)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifaddrmsg *ifa;
	size_t len = kt_addr_size(&pf->addr);

	if (!len)
		return -EAFNOSUPPORT;
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)pf->addr.family;
	ifa->ifa_prefixlen = pf->len;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned)ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, len, pf->addr.bytes);
	mnl_attr_put(nlh, IFA_ADDRESS, len, pf->addr.bytes);
	return nl_talk(s->priv, nlh, NULL, NULL);
}

static int linux_addr_replace(struct sys *s, int ifindex, const struct kt_prefix *p)
{
	return addr_msg(s, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, ifindex, p);
}

static int linux_addr_del(struct sys *s, int ifindex, const struct kt_prefix *p)
{
	return addr_msg(s, RTM_DELADDR, 0, ifindex, p);
}

static int route_msg(struct sys *s, uint16_t type, uint16_t flags,
		     const struct kt_prefix *dst, const struct kt_addr *gw,
		     int ifindex, unsigned metric)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;
	size_t len = kt_addr_size(&dst->addr);

	if (!len || (gw && gw->family != dst->addr.family))
		return -EAFNOSUPPORT;
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)dst->addr.family;
	rtm->rtm_dst_len = dst->len;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = KT_RTPROT;
	/* A delete must match the route's scope; NOWHERE matches any. */
	rtm->rtm_scope = type == RTM_DELROUTE ? RT_SCOPE_NOWHERE
		       : gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put(nlh, RTA_DST, len, dst->addr.bytes);
	if (gw)
		mnl_attr_put(nlh, RTA_GATEWAY, len, gw->bytes);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	if (metric)
		mnl_attr_put_u32(nlh, RTA_PRIORITY, metric);
	return nl_talk(s->priv, nlh, NULL, NULL);
}

static int linux_route_replace(struct sys *s, const struct kt_prefix *dst,
			       const struct kt_addr *gw, int ifindex,
			       unsigned metric)
{
	return route_msg(s, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, dst, gw,
			 ifindex, metric);
}

static int linux_route_del(struct sys *s, const struct kt_prefix *dst, int ifindex)
{
	return route_msg(s, RTM_DELROUTE, 0, dst, NULL, ifindex, 0);
}

static int troute_msg(struct sys *s, uint16_t type, uint16_t flags,
		      const struct sys_troute *r)
{
	static const uint8_t types[] = {
		[SYS_RT_UNICAST] = RTN_UNICAST, [SYS_RT_BLACKHOLE] = RTN_BLACKHOLE,
		[SYS_RT_THROW] = RTN_THROW,
	};
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;
	size_t len = kt_addr_size(&r->dst.addr);

	if (!len || (unsigned)r->type > SYS_RT_THROW)
		return -EINVAL;
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)r->dst.addr.family;
	rtm->rtm_dst_len = r->dst.len;
	/* Tables above 255 travel only in RTA_TABLE. */
	rtm->rtm_table = r->table < 256 ? (uint8_t)r->table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = KT_RTPROT;
	rtm->rtm_scope = type == RTM_DELROUTE ? RT_SCOPE_NOWHERE
		       : r->type == SYS_RT_UNICAST ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
	/* A delete of any type: the kernel matches RTN_UNSPEC to all. */
	rtm->rtm_type = type == RTM_DELROUTE ? RTN_UNSPEC : types[r->type];
	mnl_attr_put_u32(nlh, RTA_TABLE, r->table);
	mnl_attr_put(nlh, RTA_DST, len, r->dst.addr.bytes);
	if (type != RTM_DELROUTE && r->type == SYS_RT_UNICAST)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)r->ifindex);
	if (r->metric)
		mnl_attr_put_u32(nlh, RTA_PRIORITY, r->metric);
	return nl_talk(s->priv, nlh, NULL, NULL);
}

static int linux_troute_replace(struct sys *s, const struct sys_troute *r)
{
	return troute_msg(s, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, r);
}

static int linux_troute_del(struct sys *s, const struct sys_troute *r)
{
	int err = troute_msg(s, RTM_DELROUTE, 0, r);

	return err == -ESRCH ? 0 : err;	/* already gone */
}

static int rule_msg(struct sys *s, uint16_t type, uint16_t flags,
		    const struct sys_rule *r)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct fib_rule_hdr *frh;

	if ((r->family != AF_INET && r->family != AF_INET6) ||
	    (!r->iifname[0] && !r->src.len) ||
	    (r->src.len && (r->src.addr.family != r->family ||
			    r->src.len > kt_addr_size(&r->src.addr) * 8)))
		return -EINVAL;
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = (uint8_t)r->family;
	frh->action = FR_ACT_TO_TBL;
	frh->table = r->table < 256 ? (uint8_t)r->table : RT_TABLE_UNSPEC;
	mnl_attr_put_u32(nlh, FRA_TABLE, r->table);
	mnl_attr_put_u32(nlh, FRA_PRIORITY, r->priority);
	if (r->iifname[0])
		mnl_attr_put_strz(nlh, FRA_IIFNAME, r->iifname);
	if (r->src.len) {
		frh->src_len = r->src.len;
		mnl_attr_put(nlh, FRA_SRC, kt_addr_size(&r->src.addr), r->src.addr.bytes);
	}
	return nl_talk(s->priv, nlh, NULL, NULL);
}

static int linux_rule_add(struct sys *s, const struct sys_rule *r)
{
	int err = rule_msg(s, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, r);

	return err == -EEXIST ? 0 : err;
}

static int linux_rule_del(struct sys *s, const struct sys_rule *r)
{
	int err = rule_msg(s, RTM_DELRULE, 0, r);

	return err == -ENOENT ? 0 : err;
}

/* TUN and UDP come from netstack/tunio.c; they are here so that only the
 * parent, through this interface, creates kernel objects. */
static int linux_tun_open(struct sys *s, const char *name, unsigned mtu)
{
	struct ifreq ifr;
	int fd = kt_tun_open(name), sk, err = 0;

	(void)s;
	if (fd < 0)
		return fd;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_mtu = (int)mtu;
	sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sk < 0 || ioctl(sk, SIOCSIFMTU, &ifr))
		err = -errno;
	if (sk >= 0)
		close(sk);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

static void linux_tun_close(struct sys *s, const char *name, int fd)
{
	(void)s;
	(void)name;
	close(fd);
}

static int linux_udp_open(struct sys *s, int family, uint16_t port,
			  const char *ifname)
{
	(void)s;
	return kt_udp_open(family, port, ifname);
}

/* The socket is opened here, in the parent, because binding an nflog
 * group needs CAP_NET_ADMIN; the engine, which reads and parses what
 * arrives on it, gets a duplicate. */
static int linux_bfd_open(struct sys *s, const struct kt_addr *local,
			  const char *ifname, bool rx)
{
	uint16_t port;

	(void)s;
	return rx ? kt_bfdio_open_rx(local->family, local, ifname) :
		    kt_bfdio_open_tx(local->family, local, NULL, ifname, &port);
}

static int linux_nflog_open(struct sys *s, uint16_t group)
{
	char buf[KT_NFLOG_CONFIG_BUF];
	uint32_t ack[8192 / 4];
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 2 };
	int fd, err = 0, bufsz = 1 << 20;
	unsigned acks = 0;
	size_t len;

	(void)s;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (fd < 0)
		return -errno;
	/* Room for a burst of denied packets while the engine is busy;
	 * the kernel reports overruns as ENOBUFS, which the engine counts. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof(bufsz)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto fail_errno;
	len = kt_nflog_bind_msgs(buf, group, 1);
	if (send(fd, buf, len, 0) != (ssize_t)len)
		goto fail_errno;
	/* Two requests, two acknowledgements; a refusal (EBUSY: the group
	 * has another listener) comes as an error in place of one. */
	while (acks < 2 && !err) {
		ssize_t n = recv(fd, ack, sizeof(ack), 0);
		const struct nlmsghdr *nlh = (const void *)ack;
		size_t left;

		if (n < 0)
			goto fail_errno;
		for (left = (size_t)n; left >= sizeof(*nlh) &&
		     nlh->nlmsg_len >= sizeof(*nlh) && nlh->nlmsg_len <= left;) {
			if (nlh->nlmsg_type == NLMSG_ERROR &&
			    nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
				const struct nlmsgerr *e = NLMSG_DATA(nlh);

				acks++;
				if (e->error)
					err = e->error;
			}
			if (NLMSG_ALIGN(nlh->nlmsg_len) >= left)
				break;
			left -= NLMSG_ALIGN(nlh->nlmsg_len);
			nlh = (const void *)((const char *)nlh +
					     NLMSG_ALIGN(nlh->nlmsg_len));
		}
	}
	if (err) {
		close(fd);
		return err;
	}
	tv.tv_sec = 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (fcntl(fd, F_SETFL, O_NONBLOCK))
		goto fail_errno;
	return fd;
fail_errno:
	err = -errno;
	close(fd);
	return err;
}

static int linux_events_fd(struct sys *s)
{
	return mnl_socket_get_fd(((struct linux_priv *)s->priv)->mon);
}

struct ev_ctx {
	sys_link_fn fn;
	void *arg;
};

static int event_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ev_ctx *c = data;
	struct sys_link l;

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return MNL_CB_OK;
	/* A malformed notification is skipped, not fatal: the next one (or
	 * a later link_get) brings the state again. */
	if (!parse_link(nlh, &l))
		c->fn(c->arg, &l, nlh->nlmsg_type == RTM_DELLINK);
	return MNL_CB_OK;
}

/* libmnl compares a message's length with the buffer's as int, so a
 * length past 2^31 passes and the walk leaves the buffer: check every
 * header here before libmnl sees it. */
static bool lengths_ok(const uint8_t *p, size_t len)
{
	while (len) {
		struct nlmsghdr h;

		if (len < sizeof(h))
			return false;
		memcpy(&h, p, sizeof(h));
		if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len)
			return false;
		if (NLMSG_ALIGN(h.nlmsg_len) >= len)
			return true;
		p += NLMSG_ALIGN(h.nlmsg_len);
		len -= NLMSG_ALIGN(h.nlmsg_len);
	}
	return true;
}

int sys_linux_parse_events(const void *buf, size_t len, sys_link_fn fn,
			   void *arg)
{
	struct ev_ctx c = { fn, arg };

	if (!lengths_ok(buf, len))
		return -EBADMSG;

	/* Multicast notifications carry seq 0 and the kernel's port. */
	if (mnl_cb_run(buf, len, 0, 0, event_cb, &c) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int linux_events_read(struct sys *s, sys_link_fn fn, void *arg)
{
	struct linux_priv *p = s->priv;
	int err;

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(p->mon, p->buf, sizeof(p->buf));

		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if ((err = sys_linux_parse_events(p->buf, (size_t)n, fn, arg)))
			return err;
	}
}

const struct sys_ops sys_linux_ops = {
	.name = "linux",
	.init = linux_init,
	.uninit = linux_uninit,
	.link_get = linux_link_get,
	.link_set_up = linux_link_set_up,
	.addr_replace = linux_addr_replace,
	.addr_del = linux_addr_del,
	.route_replace = linux_route_replace,
	.route_del = linux_route_del,
	.tun_open = linux_tun_open,
	.tun_close = linux_tun_close,
	.udp_open = linux_udp_open,
	.troute_replace = linux_troute_replace,
	.troute_del = linux_troute_del,
	.rule_add = linux_rule_add,
	.rule_del = linux_rule_del,
	.bfd_open = linux_bfd_open,
	.nflog_open = linux_nflog_open,
	.events_fd = linux_events_fd,
	.events_read = linux_events_read,
};
