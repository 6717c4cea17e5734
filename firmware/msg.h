/* The typed message protocol between the privileged parent and its
 * unprivileged children (one SOCK_SEQPACKET socketpair per child, so each
 * message is one record and never split or merged).
 *
 *   header: type (u16), payload length (u16), peer id (u32)
 *   payload: fixed layout per type, length checked against kt_msg_rules
 *   optionally one file descriptor passed with SCM_RIGHTS
 *
 * The receiver treats the sender as untrusted: it checks the type is one
 * the channel may carry, the exact length, and that a descriptor arrives
 * only with types that take one. */
#ifndef KT_MSG_H
#define KT_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define KT_MSG_MAX_PAYLOAD 4096

enum kt_msg_type {
	KT_MSG_NONE = 0,
	KT_MSG_HELLO,		/* child -> parent: who and how confined */
	KT_MSG_LOG,		/* child -> parent: struct kt_log_entry */
	KT_MSG_PING,		/* parent -> child: liveness, u64 cookie */
	KT_MSG_PONG,		/* child -> parent: the same cookie */
	KT_MSG_CONFIG_BEGIN,	/* parent -> child: new generation follows */
	KT_MSG_CONFIG_DONE,	/* parent -> child: generation complete */
	KT_MSG_SHUTDOWN,	/* parent -> child: exit cleanly */
	/* Between CONFIG_BEGIN and CONFIG_DONE when the tunnel set changes
	 * (firmware/tunnels.c): */
	KT_MSG_TUN_DEVICE,	/* parent -> engine: a device, with its TUN fd */
	KT_MSG_TUN_SOCKET,	/* parent -> engine: a line's UDP socket fd */
	KT_MSG_TUN_PEER,	/* parent -> engine: a peer of a device */
	KT_MSG_TUN_STATS,	/* engine -> parent: a path's counters */
	/* Denied packets as the policy's log rules report them
	 * (firmware/denials.c, firmware/edeny.c), any time: */
	KT_MSG_DENY_SOCKET,	/* parent -> engine: the bound nflog socket fd */
	KT_MSG_DENY_SEGMENT,	/* parent -> engine: a segment of the policy */
	KT_MSG_DENY_STATS,	/* engine -> parent: counts per segment pair */
	/* BFD on every tunnel path (netstack/bfd.h), with the tunnel set: */
	KT_MSG_BFD_SOCKET,	/* parent -> engine: a device's BFD socket fd */
	KT_MSG_BFD_STATE,	/* engine -> parent: a path changed state */
	/* Any time: a path's line lost its carrier; the engine tells the
	 * peer over its other paths (netstack/pathsig.h). */
	KT_MSG_PATH_DOWN,	/* parent -> engine: device, reason */
	KT_MSG_TYPE_COUNT
};

struct kt_msg_hdr {
	uint16_t type;
	uint16_t len;
	uint32_t peer;
};

struct kt_msg_hello {
	uint32_t pid, uid, gid;
	uint8_t chrooted;
	uint8_t no_new_privs;
	uint8_t pad[2];
	char role[16];
};

struct kt_msg_config {
	uint32_t generation;
	char site_id[32];
	/* 1: the tunnel set (generation tun_generation) follows and replaces
	 * the engine's; 0: the engine keeps the devices it has. */
	uint8_t tunnels;
	uint8_t pad[3];
	uint32_t tun_generation;
};

/* Tunnel messages. Sizes are fixed so that the receiver checks an exact
 * length; the engine checks every index and string before use, and the
 * parent checks the engine's counters the same way. */
#define KT_MSG_TUN_DEVICES 16		/* a site: 4 hubs x 4 lines */
#define KT_MSG_TUN_ALLOWED 9		/* a peer's address + KT_MAX_ROUTES */
#define KT_MSG_TUN_DROPS 16		/* >= KT_DROP_COUNT */

struct kt_msg_sockaddr {
	uint16_t family;		/* AF_INET, AF_INET6; 0: none */
	uint16_t port;			/* host order */
	uint8_t addr[16];
};

struct kt_msg_tun_device {		/* fd: the TUN interface */
	uint32_t index;			/* < KT_MSG_TUN_DEVICES */
	uint32_t n_peers;		/* TUN_PEER messages that follow */
	char ifname[16];
	char suite[16];
	uint8_t private_key[32];	/* wiped by both sides after use */
	uint16_t keepalive_s;
	uint8_t initiate;		/* start handshakes at once (sites) */
	uint8_t bfd_multiplier;		/* 0: no BFD on this device's paths */
	uint32_t rekey_after_ms;	/* 0: the whitepaper's; tests only */
	uint32_t bfd_interval_us;	/* desired TX = required RX while Up */
	/* This box's address on the device's line: a path signal names
	 * the receiver's end of the path (netstack/pathsig.h). */
	struct kt_msg_sockaddr local;
};

struct kt_msg_tun_socket {		/* fd: UDP, bound to the line */
	uint32_t device;
};

/* fd: UDP, bound to the device's interface: rx on port 3784, or tx from
 * RFC 5881's source range with TTL 255 (netstack/bfdio.h). */
struct kt_msg_bfd_socket {
	uint32_t device;
	uint8_t rx;
	uint8_t pad[3];
};

/* Every path of a device lost its line (enum kt_pathsig_reason). */
struct kt_msg_path_down {
	uint32_t device;
	uint8_t reason;
	uint8_t pad[3];
};

/* A path's BFD session changed state (at once; counters come with
 * TUN_STATS). */
struct kt_msg_bfd_state {
	uint32_t tun_generation, device, peer;
	uint8_t old_state, new_state;	/* enum kt_bfd_state */
	uint8_t diag, remote_diag;	/* enum kt_bfd_diag: ours, the peer's */
};

struct kt_msg_tun_peer {
	uint32_t device, peer;		/* peer < the device's n_peers */
	char name[32];
	uint8_t public_key[65];
	uint8_t has_psk;
	uint8_t pad[2];
	uint8_t psk[32];
	struct kt_msg_sockaddr endpoint;
	uint32_t n_allowed;
	struct {
		uint16_t family;
		uint8_t len;
		uint8_t pad;
		uint8_t addr[16];
	} allowed[KT_MSG_TUN_ALLOWED];
};

struct kt_msg_tun_stats {
	uint32_t tun_generation, device, peer;
	uint8_t has_session;		/* a current keypair to send with */
	uint8_t bfd_state;		/* enum kt_bfd_state; 0xff: no BFD */
	uint8_t bfd_diag, bfd_remote_diag;
	int64_t last_handshake;		/* realtime seconds; 0: never */
	uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets, handshakes;
	uint64_t drops[KT_MSG_TUN_DROPS];
	struct kt_msg_sockaddr endpoint;
	/* BFD: control packets in, out and refused (all reasons), the
	 * detection time and transmit interval in force, and round trips
	 * (Poll/Final, one a second) over the last KT_BFD_RTT_WINDOW. */
	uint64_t bfd_rx, bfd_tx, bfd_bad, bfd_ups, bfd_downs;
	uint32_t bfd_detect_us, bfd_tx_us;
	uint32_t rtt_last_us, rtt_min_us, rtt_avg_us, rtt_max_us, rtt_jitter_us;
	uint32_t rtt_samples, probes_lost;	/* in the window */
	/* Path signals (netstack/pathsig.h) sent over this path and
	 * received on it: acted on, refused as malformed, and well formed
	 * but about no path of ours (ignored). */
	uint32_t signals_tx, signals_rx, signals_bad, signals_ignored;
	uint32_t pad2;
};

/* The engine reports paths in batches: a hub's 400 paths are 34 records
 * a second, not 402. */
#define KT_MSG_TUN_STATS_BATCH 12

struct kt_msg_tun_stats_batch {
	uint32_t n;			/* entries used: 1..KT_MSG_TUN_STATS_BATCH */
	uint32_t pad;
	struct kt_msg_tun_stats s[KT_MSG_TUN_STATS_BATCH];
};

struct kt_msg_deny_socket {		/* fd: NETLINK_NETFILTER, bound to group */
	uint32_t group;
};

/* The running policy's segments, so that the engine can name who tried
 * to reach what. A table is index 0..count-1 in order, sent whole; it
 * replaces the engine's table when its last segment arrives. count 0:
 * no policy (one message, index 0, no segment in it). */
#define KT_MSG_DENY_SEGMENTS 16		/* KT_POL_MAX_SEGMENTS */
#define KT_MSG_DENY_PREFIXES 32		/* KT_POL_MAX_PREFIXES */

struct kt_msg_deny_segment {
	uint32_t index, count;
	uint32_t policy_generation;
	char name[32];
	uint8_t kind;			/* enum kt_seg_kind */
	uint8_t n_prefixes;
	uint8_t pad[2];
	struct {
		uint16_t family;
		uint8_t len;
		uint8_t pad;
		uint8_t addr[16];
	} prefixes[KT_MSG_DENY_PREFIXES];
};

/* Pair endpoints besides a segment's index. */
#define KT_DENY_BOX 0xfd		/* the box itself */
#define KT_DENY_UNKNOWN 0xfe		/* an address in no segment */
/* Every pair a site's policy makes in practice (16 segments, the box,
 * unknown; four kinds), in one message. */
#define KT_MSG_DENY_PAIRS 224

struct kt_msg_deny_pair {
	uint8_t from, to;		/* segment index, KT_DENY_BOX, _UNKNOWN */
	uint8_t kind;			/* enum kt_nflog_kind */
	uint8_t pad;
	uint32_t last;			/* realtime seconds */
	uint64_t packets;
};

struct kt_msg_deny_stats {
	uint32_t policy_generation;	/* of the table the pairs refer to */
	uint32_t n;			/* pairs used: 0..KT_MSG_DENY_PAIRS */
	uint64_t records;		/* packets reported by the kernel */
	uint64_t malformed[4];		/* enum kt_nflog_bad, then lost (ENOBUFS) */
	uint64_t events, suppressed;	/* logged one by one / only counted */
	uint64_t overflow;		/* packets of pairs past the table */
	struct kt_msg_deny_pair pairs[KT_MSG_DENY_PAIRS];
};

struct kt_msg {
	struct kt_msg_hdr hdr;
	uint8_t data[KT_MSG_MAX_PAYLOAD];
	int fd;			/* -1 unless one was passed */
};

/* Bit mask of message types a channel accepts. */
#define KT_MSG_BIT(t) (1u << (t))

const char *kt_msg_type_name(unsigned type);
int kt_msg_send(int sock, uint16_t type, uint32_t peer, const void *payload,
		size_t len, int pass_fd);
/* The same without waiting: -EAGAIN when the channel is full. */
int kt_msg_try_send(int sock, uint16_t type, uint32_t peer, const void *payload,
		    size_t len, int pass_fd);
/* Receives one message; 0 on success, -EPIPE when the peer closed (or
 * reset), -EAGAIN when nothing is waiting on a non-blocking socket, other
 * negative errno for a refused message (the message is dropped; any passed
 * descriptor is closed). */
int kt_msg_recv(int sock, uint32_t allowed, struct kt_msg *m);
/* The checks kt_msg_recv applies to a record of n bytes (also the fuzzing
 * entry point). */
int kt_msg_check(const uint8_t *buf, size_t n, bool has_fd, uint32_t allowed,
		 struct kt_msg *m);

#endif
