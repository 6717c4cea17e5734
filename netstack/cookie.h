/* Cookies (whitepaper §5.4.4, §5.4.7): a responder under load answers a
 * handshake message with a cookie reply instead of doing Diffie-Hellman,
 * and accepts only messages whose mac2 proves the sender owns its source
 * address. mac1 (keyed with the responder's public key) lets a responder
 * drop, cheaply, anything not meant for it. */
#ifndef KT_COOKIE_H
#define KT_COOKIE_H

#include "noise.h"

struct kt_cookie_checker {
	const struct kt_identity *id;
	uint8_t secret[KT_SUITE_KEY_LEN];	/* changes every two minutes */
	uint64_t secret_birth_ms;
	bool have_secret;
	/* Cookie-reply nonces: a counter from a random start, so none
	 * repeats under the (fixed) cookie key however many replies a flood
	 * provokes; random 96-bit GCM nonces would allow only 2^32. */
	uint8_t nonce[KT_SUITE_MAX_XNONCE];
	bool have_nonce;
};

enum kt_macs_state {
	KT_MACS_INVALID,	/* mac1 wrong: drop silently */
	KT_MACS_VALID_MAC1,	/* genuine, but no (valid) cookie */
	KT_MACS_VALID_COOKIE,	/* genuine, and the source is proven */
};

/* Source identity for cookies: address bytes then the port (big-endian). */
#define KT_COOKIE_SRC_MAX (16 + 2)

void kt_cookie_checker_init(struct kt_cookie_checker *cc,
			    const struct kt_identity *id);
void kt_cookie_checker_clear(struct kt_cookie_checker *cc);
/* msg is a whole initiation or response of len bytes. */
enum kt_macs_state kt_macs_check(struct kt_cookie_checker *cc,
				 const uint8_t *msg, size_t len,
				 const uint8_t *src, size_t srclen, uint64_t now_ms);
/* The reply to msg (whose sender index it carries): out gets
 * kt_cookie_len() bytes. */
int kt_cookie_reply_create(struct kt_cookie_checker *cc, uint8_t *out,
			   const uint8_t *msg, size_t len, const uint8_t *src,
			   size_t srclen, uint64_t now_ms)
	__attribute__((warn_unused_result));
/* A cookie reply for the handshake hs (found by the reply's receiver
 * index): -EBADMSG if it does not open with hs's latest mac1. */
int kt_cookie_reply_consume(struct kt_handshake *hs, const uint8_t *reply,
			    size_t len, uint64_t now_ms)
	__attribute__((warn_unused_result));

#endif
