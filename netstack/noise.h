/* The Noise_IKpsk2 handshake of the WireGuard protocol (whitepaper §5.4),
 * over a cipher suite (suite.h), and the transport keypairs it yields.
 *
 * This layer knows nothing of sockets, peers tables or timers: the tunnel
 * engine finds the handshake a message belongs to (by index or, for an
 * initiation, by the static key the message reveals) and calls in. */
#ifndef KT_NOISE_H
#define KT_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "messages.h"
#include "replay.h"
#include "suite.h"

struct kt_identity {
	const struct kt_suite *suite;
	bool valid;
	/* Wall clock for initiation timestamps; NULL: CLOCK_REALTIME.
	 * Tests that run a fake clock set it to follow theirs. */
	void (*realtime)(struct timespec *ts);
	uint8_t priv[KT_SUITE_KEY_LEN];
	uint8_t pub[KT_SUITE_MAX_PUB];
	uint8_t mac1_key[KT_SUITE_KEY_LEN];	/* checks mac1 of messages to us */
	uint8_t cookie_key[KT_SUITE_KEY_LEN];	/* seals cookie replies we send */
};

enum kt_hs_state {
	KT_HS_ZEROED,
	KT_HS_CREATED_INITIATION,
	KT_HS_CONSUMED_INITIATION,
	KT_HS_CREATED_RESPONSE,
	KT_HS_CONSUMED_RESPONSE,
};

struct kt_handshake {
	const struct kt_identity *local;
	enum kt_hs_state state;
	uint8_t remote_static[KT_SUITE_MAX_PUB];
	uint8_t remote_ephemeral[KT_SUITE_MAX_PUB];
	uint8_t ephemeral_priv[KT_SUITE_KEY_LEN];
	uint8_t static_static[KT_SUITE_KEY_LEN];	/* DH(our static, theirs) */
	bool static_static_ok;
	uint8_t psk[KT_SUITE_KEY_LEN];
	uint8_t hash[KT_SUITE_KEY_LEN];
	uint8_t chaining_key[KT_SUITE_KEY_LEN];
	uint8_t latest_timestamp[KT_TAI64N_LEN];
	uint64_t last_initiation_ms;		/* flood limit on consumption */
	uint32_t local_index, remote_index;
	uint8_t peer_mac1_key[KT_SUITE_KEY_LEN];	/* mac1 of messages to it */
	uint8_t peer_cookie_key[KT_SUITE_KEY_LEN];	/* opens its cookie replies */
	uint8_t cookie[KT_COOKIE_LEN];			/* its latest cookie */
	uint64_t cookie_birth_ms;
	bool have_cookie;
	uint8_t last_mac1[KT_SUITE_MAC_LEN];		/* of our latest message */
	bool have_last_mac1;
};

struct kt_keypair {
	bool valid, initiator;
	uint8_t send_key[KT_SUITE_KEY_LEN];
	uint8_t recv_key[KT_SUITE_KEY_LEN];
	uint64_t send_counter;
	struct kt_replay replay;
	uint32_t local_index, remote_index;
	uint64_t birth_ms;
};

/* No more than this many initiations per second are consumed from one
 * peer (whitepaper §5.1: a replayed initiation must not cost the
 * responder much); also the rounding of timestamps we send. */
#define KT_INITIATIONS_PER_SECOND 50

int kt_identity_set(struct kt_identity *id, const struct kt_suite *s,
		    const uint8_t priv[KT_SUITE_KEY_LEN])
	__attribute__((warn_unused_result));
void kt_identity_clear(struct kt_identity *id);

/* remote_pub is suite->pub_len bytes; psk may be NULL (all zeros). */
int kt_handshake_init(struct kt_handshake *hs, const struct kt_identity *local,
		      const uint8_t *remote_pub, const uint8_t *psk)
	__attribute__((warn_unused_result));
/* Forgets the session state (ephemeral, hash, chaining key); keeps the
 * peer's identity, psk and latest timestamp. */
void kt_handshake_reset(struct kt_handshake *hs);
void kt_handshake_clear(struct kt_handshake *hs);

/* msg has room for kt_init_len(); macs included. now_ms: a monotonic
 * clock (cookie age); the timestamp inside uses the real-time clock. */
int kt_noise_create_initiation(struct kt_handshake *hs, uint8_t *msg,
			       uint32_t local_index, uint64_t now_ms)
	__attribute__((warn_unused_result));

typedef struct kt_handshake *(*kt_hs_lookup_fn)(void *arg, const uint8_t *remote_pub);

/* mac1 must have been checked by the caller (kt_macs_check). On success
 * *out is the peer's handshake, now in CONSUMED_INITIATION. Errors:
 * -EBADMSG (malformed or failed decryption), -ENOENT (unknown static
 * key), -EALREADY (timestamp not newer: replay), -EBUSY (flood). */
int kt_noise_consume_initiation(const struct kt_identity *local,
				const uint8_t *msg, size_t len,
				kt_hs_lookup_fn lookup, void *arg,
				uint64_t now_ms, struct kt_handshake **out)
	__attribute__((warn_unused_result));

int kt_noise_create_response(struct kt_handshake *hs, uint8_t *msg,
			     uint32_t local_index, uint64_t now_ms)
	__attribute__((warn_unused_result));

/* hs is the handshake the message's receiver index names. */
int kt_noise_consume_response(struct kt_handshake *hs, const uint8_t *msg,
			      size_t len)
	__attribute__((warn_unused_result));

/* After CREATED_RESPONSE (responder) or CONSUMED_RESPONSE (initiator):
 * the transport keys; the handshake is reset. */
int kt_noise_derive_keypair(struct kt_handshake *hs, struct kt_keypair *kp,
			    uint64_t now_ms)
	__attribute__((warn_unused_result));
void kt_keypair_clear(struct kt_keypair *kp);

/* Transport data: msg gets KT_DATA_HDR_LEN + len + tag. Returns the
 * message length, or -ESTALE when the keypair may send no more. */
int kt_keypair_seal(struct kt_keypair *kp, const struct kt_suite *s,
		    uint8_t *msg, const uint8_t *pkt, size_t len)
	__attribute__((warn_unused_result));
/* Returns the plaintext length into pkt, -EBADMSG if it does not
 * authenticate, -EALREADY for a replay or a counter past the window,
 * -ESTALE past REJECT_AFTER_MESSAGES. */
int kt_keypair_open(struct kt_keypair *kp, const struct kt_suite *s,
		    const uint8_t *msg, size_t len, uint8_t *pkt)
	__attribute__((warn_unused_result));

/* mac1 and mac2 (whitepaper §5.4.4) on a handshake message of len bytes
 * to the peer of hs; mac2 is zero unless a fresh cookie is held. */
void kt_macs_add(struct kt_handshake *hs, uint8_t *msg, size_t len,
		 uint64_t now_ms);

#endif
