/* nfnetlink_log messages, as the policy's log rules send them
 * (policy/nft.c: "kyoten-deny-<chain> " for denied packets, "kyoten-allow "
 * for flows with log: true).
 *
 * The parser is pure: a buffer in, one record per packet out. It runs in
 * the unprivileged engine (the parent only opens and binds the socket),
 * because what it reads is packets from the network: every length is
 * checked before it is used, and a malformed message is counted and
 * skipped, never the rest of the buffer with it. Hand-written rather than
 * libnetfilter_log, which would pull in a second netlink stack for the
 * dozen attributes read here; libmnl does the attribute walk. */
#ifndef KT_NFLOG_H
#define KT_NFLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* Bytes of each packet the kernel copies: an IPv6 header, a few
 * extension headers and the transport ports. */
#define KT_NFLOG_COPY_RANGE 128

enum kt_nflog_kind {
	KT_NFLOG_DENY_INPUT,		/* to the box */
	KT_NFLOG_DENY_FORWARD,		/* through the box */
	KT_NFLOG_DENY_OUTPUT,		/* from the box */
	KT_NFLOG_ALLOW,			/* an allowed flow with log: true */
	KT_NFLOG_KIND_COUNT
};

struct kt_nflog_rec {
	enum kt_nflog_kind kind;
	uint16_t group;
	uint32_t iif, oif;		/* ifindex; 0: none */
	struct kt_addr src, dst;
	uint8_t proto;			/* IPPROTO_* */
	bool has_ports;			/* TCP, UDP, SCTP, UDP-Lite, first fragment */
	uint16_t sport, dport;		/* host order */
	bool has_icmp;
	uint8_t icmp_type, icmp_code;
};

/* Why a message was skipped. */
enum kt_nflog_bad {
	KT_NFLOG_BAD_LENGTH,		/* netlink or attribute lengths wrong */
	KT_NFLOG_BAD_PREFIX,		/* no prefix, or not one of ours */
	KT_NFLOG_BAD_PAYLOAD,		/* no packet, or not IPv4/IPv6, or cut short */
	KT_NFLOG_BAD_COUNT
};

struct kt_nflog_counts {
	uint64_t records;
	uint64_t bad[KT_NFLOG_BAD_COUNT];
	uint64_t other;			/* netlink messages that are not packets
					 * (errors, acks): not malformed */
};

typedef void (*kt_nflog_fn)(void *arg, const struct kt_nflog_rec *r);

/* Calls fn for each packet in buf (one datagram from the socket, any
 * number of netlink messages) and adds to c. A broken netlink header
 * ends the walk (nothing after it can be framed); a broken packet inside
 * a good header skips that packet only. */
void kt_nflog_parse(const void *buf, size_t len, kt_nflog_fn fn, void *arg,
		    struct kt_nflog_counts *c);

/* The payload alone (an IP packet as the kernel copied it): 0, or
 * -EBADMSG when it is not one. Fills src, dst, proto and the ports or
 * ICMP fields of r. */
int kt_nflog_payload(const uint8_t *p, size_t len, struct kt_nflog_rec *r);

const char *kt_nflog_kind_name(enum kt_nflog_kind k);
const char *kt_nflog_bad_name(enum kt_nflog_bad b);

/* The netlink messages that bind a socket to group and ask for packets
 * copied up to KT_NFLOG_COPY_RANGE bytes, built into buf (at least
 * KT_NFLOG_CONFIG_BUF bytes); returns their total length. The parent
 * sends them on the socket it passes to the engine. */
#define KT_NFLOG_CONFIG_BUF 256
size_t kt_nflog_bind_msgs(void *buf, uint16_t group, uint32_t seq);

#endif
