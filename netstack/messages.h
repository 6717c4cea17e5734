/* Every protocol constant and wire layout of the tunnels, in one place.
 *
 * The messages are those of the WireGuard whitepaper (§5.4). Their sizes
 * depend on the cipher suite (a P-256 public key is 65 bytes on the wire,
 * an X25519 one 32), so layouts are computed from the suite instead of
 * declared as packed structs. All multi-byte integers are little-endian,
 * as in WireGuard, in both suites. */
#ifndef KT_MESSAGES_H
#define KT_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

#include "suite.h"

/* Timers and limits (whitepaper §6.1). */
#define KT_REKEY_AFTER_MESSAGES (1ull << 60)
#define KT_REJECT_AFTER_MESSAGES (UINT64_MAX - (1ull << 13))
#define KT_REKEY_AFTER_TIME_MS 120000
#define KT_REJECT_AFTER_TIME_MS 180000
#define KT_REKEY_ATTEMPT_TIME_MS 90000
#define KT_REKEY_TIMEOUT_MS 5000
#define KT_KEEPALIVE_TIMEOUT_MS 10000
#define KT_COOKIE_SECRET_MAX_AGE_MS 120000
#define KT_COOKIE_SECRET_LATENCY_MS 5000

#define KT_LABEL_MAC1 "mac1----"
#define KT_LABEL_COOKIE "cookie--"

#define KT_TAI64N_LEN 12
#define KT_COOKIE_LEN 16

/* Offsets within the messages, from the start of the message. */
#define KT_MSG_OFF_TYPE 0
#define KT_MSG_OFF_SENDER 4

enum kt_msg_kind {
	KT_MSG_INITIATION = 0,
	KT_MSG_RESPONSE = 1,
	KT_MSG_COOKIE = 2,
	KT_MSG_DATA = 3,
};

/* initiation: type(4) sender(4) ephemeral(P) static(P+16)
 *             timestamp(12+16) mac1(16) mac2(16) */
static inline size_t kt_init_len(const struct kt_suite *s)
{
	return 8 + s->pub_len + s->pub_len + KT_SUITE_TAG_LEN + KT_TAI64N_LEN +
	       KT_SUITE_TAG_LEN + 2 * KT_SUITE_MAC_LEN;
}

/* response: type(4) sender(4) receiver(4) ephemeral(P) empty(0+16)
 *           mac1(16) mac2(16) */
static inline size_t kt_resp_len(const struct kt_suite *s)
{
	return 12 + s->pub_len + KT_SUITE_TAG_LEN + 2 * KT_SUITE_MAC_LEN;
}

/* cookie reply: type(4) receiver(4) nonce(N) cookie(16+16) */
static inline size_t kt_cookie_len(const struct kt_suite *s)
{
	return 8 + s->xnonce_len + KT_COOKIE_LEN + KT_SUITE_TAG_LEN;
}

/* transport data: type(4) receiver(4) counter(8) packet(len+16) */
#define KT_DATA_HDR_LEN 16
#define KT_DATA_MIN_LEN (KT_DATA_HDR_LEN + KT_SUITE_TAG_LEN)

/* Largest handshake message of any suite: buffers are sized by it. */
#define KT_MAX_HANDSHAKE_LEN (8 + 2 * KT_SUITE_MAX_PUB + 2 * KT_SUITE_TAG_LEN + \
			      KT_TAI64N_LEN + 2 * KT_SUITE_MAC_LEN)

static inline uint8_t kt_msg_type(const struct kt_suite *s, enum kt_msg_kind k)
{
	return (uint8_t)(s->msg_type_base + k);
}

static inline void kt_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t kt_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void kt_put_le64(uint8_t *p, uint64_t v)
{
	kt_put_le32(p, (uint32_t)v);
	kt_put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t kt_get_le64(const uint8_t *p)
{
	return (uint64_t)kt_get_le32(p) | (uint64_t)kt_get_le32(p + 4) << 32;
}

#endif
