/* A tunnel device: one identity, its peers, and the timer state machine
 * of the WireGuard whitepaper (§6) that keeps sessions fresh.
 *
 * OS-independent: packets come in through kt_device_receive (from the
 * network) and kt_device_send (from the TUN side), and leave through the
 * ops the caller provides. Timers run on the caller's kt_loop, so tests
 * drive them with a fake clock.
 *
 * Timer hooks, as the whitepaper's rules (each named after the event that
 * calls it, in device.c):
 *   data_sent          arm new_handshake (keepalive + rekey timeout) unless armed
 *   data_received      arm send_keepalive (keepalive timeout) unless armed
 *   authenticated_sent cancel send_keepalive
 *   authenticated_recv cancel new_handshake
 *   handshake_initiated arm retransmit (rekey timeout + jitter)
 *   handshake_complete cancel retransmit, reset attempts
 *   session_derived    arm zero_key_material (3 × reject-after-time)
 *   traversal          re-arm persistent keepalive, if configured */
#ifndef KT_DEVICE_H
#define KT_DEVICE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "allowedips.h"
#include "cookie.h"
#include "loop.h"
#include "noise.h"
#include "ratelimiter.h"

/* The whitepaper's times (§6.1); a test-only setting may shorten them. */
struct kt_timing {
	uint32_t rekey_after_ms;
	uint32_t reject_after_ms;
	uint32_t rekey_attempt_ms;
	uint32_t rekey_timeout_ms;
	uint32_t keepalive_ms;
	uint64_t rekey_after_messages;
};

extern const struct kt_timing kt_timing_default;

/* Where a peer is: its address and the line (socket) it is reached on. */
struct kt_endpoint_addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	};
	int line;
};

#define KT_PEER_STAGED 16		/* packets held while a handshake runs */
#define KT_MAX_PACKET 1500		/* inner MTU this engine carries */

enum kt_drop {
	KT_DROP_MALFORMED,	/* wrong size or type */
	KT_DROP_BAD_MAC,	/* mac1, or authentication failed */
	KT_DROP_REPLAY,		/* replayed counter or timestamp */
	KT_DROP_NO_SESSION,	/* no keypair or handshake for the index */
	KT_DROP_COOKIE,		/* under load: answered with a cookie */
	KT_DROP_RATELIMIT,	/* under load: too many from one source */
	KT_DROP_UNKNOWN_PEER,	/* initiation from a key not configured */
	KT_DROP_ALLOWED_IPS,	/* inner source not allowed for the peer */
	KT_DROP_NO_ROUTE,	/* no peer for an outgoing destination */
	KT_DROP_STAGED_FULL,	/* oldest staged packet pushed out */
	KT_DROP_COUNT
};

const char *kt_drop_name(enum kt_drop d);

struct kt_peer_stats {
	uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets;
	uint64_t handshakes;		/* completed */
	uint64_t drops[KT_DROP_COUNT];
};

struct kt_device;

struct kt_peer {
	struct kt_device *dev;
	char name[32];
	struct kt_handshake hs;
	/* The keypair in use, the one before it (packets still in flight
	 * under it), and a responder's new one awaiting confirmation. */
	struct kt_keypair prev, cur, next;
	struct kt_endpoint_addr endpoint;
	bool has_endpoint;
	uint16_t persistent_keepalive_s;
	int64_t last_handshake_rt;	/* realtime seconds, for people */
	uint64_t last_sent_handshake_ms;
	bool ever_sent_handshake;
	unsigned handshake_attempts;
	bool need_another_keepalive, sent_lastminute_handshake;
	struct kt_timer t_retransmit, t_keepalive, t_new_handshake, t_zero,
		t_persistent;
	uint8_t (*staged)[KT_MAX_PACKET];
	uint16_t staged_len[KT_PEER_STAGED];
	unsigned staged_head, staged_count;
	struct kt_peer_stats stats;
};

struct kt_device_ops {
	/* Sends a message to the network; negative errno on failure. */
	int (*send)(void *arg, const struct kt_endpoint_addr *to,
		    const uint8_t *msg, size_t len);
	/* A decrypted, authenticated, allowed inner packet. */
	void (*deliver)(void *arg, struct kt_peer *p, const uint8_t *pkt,
			size_t len);
	/* A decrypted, authenticated inner message that is no IP packet
	 * (its first four bits are 0: netstack/pathsig.h). NULL: dropped
	 * as malformed, as any peer that is not Kyoten does. */
	void (*control)(void *arg, struct kt_peer *p, const uint8_t *msg,
			size_t len);
};

struct kt_index_slot {
	uint32_t index;
	struct kt_peer *peer;		/* NULL: empty */
};

struct kt_device {
	struct kt_loop *loop;
	const struct kt_device_ops *ops;
	void *arg;
	struct kt_timing timing;
	struct kt_identity id;
	struct kt_cookie_checker cookies;
	struct kt_ratelimiter limiter;
	struct kt_allowedips routes;
	struct kt_peer **peers;
	size_t n_peers;
	struct kt_index_slot *index;	/* open addressing, power of two */
	size_t index_cap, index_used;
	/* Under load while handshake messages exceed this per second. */
	unsigned load_threshold, load_count;
	uint64_t load_window_ms;
	bool under_load;
	uint64_t drops[KT_DROP_COUNT];	/* not attributable to a peer */
};

int kt_device_init(struct kt_device *dev, struct kt_loop *loop,
		   const struct kt_suite *suite, const uint8_t *priv,
		   const struct kt_device_ops *ops, void *arg)
	__attribute__((warn_unused_result));
void kt_device_uninit(struct kt_device *dev);

struct kt_peer *kt_device_add_peer(struct kt_device *dev, const char *name,
				   const uint8_t *pub, const uint8_t *psk);
int kt_peer_allow(struct kt_peer *p, const struct kt_prefix *prefix)
	__attribute__((warn_unused_result));
void kt_peer_set_endpoint(struct kt_peer *p, const struct kt_endpoint_addr *e);

/* A datagram from the network. */
void kt_device_receive(struct kt_device *dev, const struct kt_endpoint_addr *from,
		       const uint8_t *msg, size_t len);
/* An inner packet to send: routed by its destination (cryptokey routing). */
int kt_device_send(struct kt_device *dev, const uint8_t *pkt, size_t len);
/* The same to a given peer; staged and a handshake started if needed. */
int kt_peer_send(struct kt_peer *p, const uint8_t *pkt, size_t len);
/* A current keypair that may still send. */
bool kt_peer_has_session(const struct kt_peer *p);
/* Starts a handshake now (unless one was sent within the rekey timeout). */
void kt_peer_initiate(struct kt_peer *p);

#endif
