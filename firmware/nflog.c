/* nfnetlink_log messages (nflog.h says what and why). */
#include "nflog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <netinet/in.h>

static const struct {
	const char *prefix;		/* as policy/nft.c writes it */
	enum kt_nflog_kind kind;
} prefixes[] = {
	{ "kyoten-deny-input ", KT_NFLOG_DENY_INPUT },
	{ "kyoten-deny-forward ", KT_NFLOG_DENY_FORWARD },
	{ "kyoten-deny-output ", KT_NFLOG_DENY_OUTPUT },
	{ "kyoten-allow ", KT_NFLOG_ALLOW },
};

const char *kt_nflog_kind_name(enum kt_nflog_kind k)
{
	static const char *const names[KT_NFLOG_KIND_COUNT] = {
		[KT_NFLOG_DENY_INPUT] = "denied to the box",
		[KT_NFLOG_DENY_FORWARD] = "denied",
		[KT_NFLOG_DENY_OUTPUT] = "denied from the box",
		[KT_NFLOG_ALLOW] = "allowed and logged",
	};

	return (unsigned)k < KT_NFLOG_KIND_COUNT ? names[k] : "?";
}

const char *kt_nflog_bad_name(enum kt_nflog_bad b)
{
	static const char *const names[KT_NFLOG_BAD_COUNT] = {
		[KT_NFLOG_BAD_LENGTH] = "bad-length",
		[KT_NFLOG_BAD_PREFIX] = "bad-prefix",
		[KT_NFLOG_BAD_PAYLOAD] = "bad-payload",
	};

	return (unsigned)b < KT_NFLOG_BAD_COUNT ? names[b] : "?";
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Ports or ICMP type from the transport header at p (len bytes left). */
static void transport(const uint8_t *p, size_t len, bool first_fragment,
		      struct kt_nflog_rec *r)
{
	if (!first_fragment)
		return;
	switch (r->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
		if (len >= 4) {
			r->has_ports = true;
			r->sport = be16(p);
			r->dport = be16(p + 2);
		}
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (len >= 2) {
			r->has_icmp = true;
			r->icmp_type = p[0];
			r->icmp_code = p[1];
		}
		break;
	}
}

/* Extension headers walked at most: more than this is an attack on the
 * walker, and the ports are then simply not shown. */
#define MAX_EXT 8

static int ipv6(const uint8_t *p, size_t len, struct kt_nflog_rec *r)
{
	size_t off = 40;
	uint8_t next;
	bool first = true;

	if (len < 40)
		return -EBADMSG;
	r->src.family = r->dst.family = AF_INET6;
	memcpy(r->src.bytes, p + 8, 16);
	memcpy(r->dst.bytes, p + 24, 16);
	next = p[6];
	for (int i = 0; i < MAX_EXT; i++) {
		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (len - off < 8)
				goto out;
			next = p[off];
			off += 8 + (size_t)p[off + 1] * 8;
			if (off > len)
				goto out;
			continue;
		case IPPROTO_FRAGMENT:
			if (len - off < 8)
				goto out;
			next = p[off];
			/* Offset in 8-byte units, bits 15..3 of bytes 2-3. */
			first = (be16(p + off + 2) & 0xfff8) == 0;
			off += 8;
			continue;
		default:
			break;
		}
		break;
	}
out:
	r->proto = next;
	if (off <= len)
		transport(p + off, len - off, first, r);
	return 0;
}

int kt_nflog_payload(const uint8_t *p, size_t len, struct kt_nflog_rec *r)
{
	size_t ihl;

	r->has_ports = r->has_icmp = false;
	if (len < 1)
		return -EBADMSG;
	switch (p[0] >> 4) {
	case 4:
		if (len < 20)
			return -EBADMSG;
		ihl = (size_t)(p[0] & 0x0f) * 4;
		if (ihl < 20 || ihl > len)
			return -EBADMSG;
		r->src.family = r->dst.family = AF_INET;
		memset(r->src.bytes, 0, sizeof(r->src.bytes));
		memset(r->dst.bytes, 0, sizeof(r->dst.bytes));
		memcpy(r->src.bytes, p + 12, 4);
		memcpy(r->dst.bytes, p + 16, 4);
		r->proto = p[9];
		transport(p + ihl, len - ihl, (be16(p + 6) & 0x1fff) == 0, r);
		return 0;
	case 6:
		return ipv6(p, len, r);
	default:
		return -EBADMSG;
	}
}

struct walk {
	const struct nlattr *tb[NFULA_MAX + 1];
	bool bad;
};

static int attr_cb(const struct nlattr *a, void *data)
{
	struct walk *w = data;
	uint16_t type = mnl_attr_get_type(a);

	/* Attributes this parser does not read are left unchecked: newer
	 * kernels add some, and they must not make a packet "malformed". */
	switch (type) {
	case NFULA_IFINDEX_INDEV:
	case NFULA_IFINDEX_OUTDEV:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			w->bad = true;
		break;
	case NFULA_PREFIX:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
			w->bad = true;
		break;
	case NFULA_PAYLOAD:
		break;
	default:
		return MNL_CB_OK;
	}
	w->tb[type] = a;
	return MNL_CB_OK;
}

static void one(const struct nlmsghdr *nlh, kt_nflog_fn fn, void *arg,
		struct kt_nflog_counts *c)
{
	const struct nfgenmsg *g;
	struct kt_nflog_rec r;
	struct walk w = { { 0 }, false };
	const char *prefix;
	size_t i;

	if (nlh->nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET)) {
		c->other++;
		return;
	}
	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*g))) {
		c->bad[KT_NFLOG_BAD_LENGTH]++;
		return;
	}
	g = mnl_nlmsg_get_payload(nlh);
	if (mnl_attr_parse(nlh, sizeof(*g), attr_cb, &w) < 0 || w.bad) {
		c->bad[KT_NFLOG_BAD_LENGTH]++;
		return;
	}
	memset(&r, 0, sizeof(r));
	r.group = ntohs(g->res_id);
	if (!w.tb[NFULA_PREFIX]) {
		c->bad[KT_NFLOG_BAD_PREFIX]++;
		return;
	}
	prefix = mnl_attr_get_str(w.tb[NFULA_PREFIX]);
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strcmp(prefix, prefixes[i].prefix))
			break;
	if (i == sizeof(prefixes) / sizeof(prefixes[0])) {
		c->bad[KT_NFLOG_BAD_PREFIX]++;
		return;
	}
	r.kind = prefixes[i].kind;
	if (w.tb[NFULA_IFINDEX_INDEV])
		r.iif = ntohl(mnl_attr_get_u32(w.tb[NFULA_IFINDEX_INDEV]));
	if (w.tb[NFULA_IFINDEX_OUTDEV])
		r.oif = ntohl(mnl_attr_get_u32(w.tb[NFULA_IFINDEX_OUTDEV]));
	if (!w.tb[NFULA_PAYLOAD] ||
	    kt_nflog_payload(mnl_attr_get_payload(w.tb[NFULA_PAYLOAD]),
			     mnl_attr_get_payload_len(w.tb[NFULA_PAYLOAD]), &r)) {
		c->bad[KT_NFLOG_BAD_PAYLOAD]++;
		return;
	}
	c->records++;
	fn(arg, &r);
}

void kt_nflog_parse(const void *buf, size_t len, kt_nflog_fn fn, void *arg,
		    struct kt_nflog_counts *c)
{
	const uint8_t *p = buf;

	/* Framing is checked here, in size_t, before libmnl sees a header:
	 * mnl_nlmsg_ok compares lengths as int. */
	while (len >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *nlh = (const void *)p;
		size_t step;

		if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len) {
			c->bad[KT_NFLOG_BAD_LENGTH]++;
			return;
		}
		one(nlh, fn, arg, c);
		step = MNL_ALIGN(nlh->nlmsg_len);
		if (step >= len)
			return;
		p += step;
		len -= step;
	}
	if (len)
		c->bad[KT_NFLOG_BAD_LENGTH]++;
}

static struct nlmsghdr *config_msg(char *buf, uint16_t group, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;

	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	g->res_id = htons(group);
	return nlh;
}

size_t kt_nflog_bind_msgs(void *out, uint16_t group, uint32_t seq)
{
	char *buf = out;
	struct nlmsghdr *nlh;
	struct nfulnl_msg_config_cmd cmd = { .command = NFULNL_CFG_CMD_BIND };
	struct nfulnl_msg_config_mode mode = {
		.copy_range = htonl(KT_NFLOG_COPY_RANGE),
		.copy_mode = NFULNL_COPY_PACKET,
	};
	size_t off;

	memset(buf, 0, KT_NFLOG_CONFIG_BUF);
	nlh = config_msg(buf, group, seq);
	mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(cmd), &cmd);
	off = MNL_ALIGN(nlh->nlmsg_len);
	nlh = config_msg(buf + off, group, seq + 1);
	mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof(mode), &mode);
	/* Deliver at once rather than batching up to the kernel's default
	 * of 100 ms: an event should say when it happened. */
	mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(1));
	return off + MNL_ALIGN(nlh->nlmsg_len);
}
