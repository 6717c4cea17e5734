#include "cookie.h"

#include <errno.h>
#include <string.h>

void kt_cookie_checker_init(struct kt_cookie_checker *cc,
			    const struct kt_identity *id)
{
	memset(cc, 0, sizeof(*cc));
	cc->id = id;
}

void kt_cookie_checker_clear(struct kt_cookie_checker *cc)
{
	kt_wipe(cc, sizeof(*cc));
}

static bool secret_fresh(const struct kt_cookie_checker *cc, uint64_t now_ms)
{
	return cc->have_secret &&
	       now_ms - cc->secret_birth_ms < KT_COOKIE_SECRET_MAX_AGE_MS;
}

static void make_cookie(struct kt_cookie_checker *cc, uint8_t out[KT_COOKIE_LEN],
			const uint8_t *src, size_t srclen)
{
	cc->id->suite->mac(out, cc->secret, KT_SUITE_KEY_LEN, src, srclen);
}

enum kt_macs_state kt_macs_check(struct kt_cookie_checker *cc,
				 const uint8_t *msg, size_t len,
				 const uint8_t *src, size_t srclen, uint64_t now_ms)
{
	const struct kt_suite *s = cc->id->suite;
	uint8_t want[KT_SUITE_MAC_LEN], cookie[KT_COOKIE_LEN];
	enum kt_macs_state st = KT_MACS_VALID_MAC1;

	if (len < 2 * KT_SUITE_MAC_LEN)
		return KT_MACS_INVALID;
	s->mac(want, cc->id->mac1_key, KT_SUITE_KEY_LEN, msg,
	       len - 2 * KT_SUITE_MAC_LEN);
	if (!kt_equal_ct(want, msg + len - 2 * KT_SUITE_MAC_LEN, KT_SUITE_MAC_LEN))
		return KT_MACS_INVALID;
	if (secret_fresh(cc, now_ms)) {
		make_cookie(cc, cookie, src, srclen);
		s->mac(want, cookie, KT_COOKIE_LEN, msg, len - KT_SUITE_MAC_LEN);
		if (kt_equal_ct(want, msg + len - KT_SUITE_MAC_LEN, KT_SUITE_MAC_LEN))
			st = KT_MACS_VALID_COOKIE;
		kt_wipe(cookie, sizeof(cookie));
	}
	return st;
}

int kt_cookie_reply_create(struct kt_cookie_checker *cc, uint8_t *out,
			   const uint8_t *msg, size_t len, const uint8_t *src,
			   size_t srclen, uint64_t now_ms)
{
	const struct kt_suite *s = cc->id->suite;
	uint8_t cookie[KT_COOKIE_LEN];
	uint8_t *nonce = out + 8;
	int err;

	if (len < 8 + 2 * KT_SUITE_MAC_LEN || srclen > KT_COOKIE_SRC_MAX)
		return -EINVAL;
	if (!secret_fresh(cc, now_ms)) {
		if ((err = kt_random(cc->secret, sizeof(cc->secret))))
			return err;
		cc->secret_birth_ms = now_ms;
		cc->have_secret = true;
	}
	kt_put_le32(out, kt_msg_type(s, KT_MSG_COOKIE));
	/* The receiver is the sender of the message we answer. */
	memcpy(out + 4, msg + KT_MSG_OFF_SENDER, 4);
	if (!cc->have_nonce) {
		if ((err = kt_random(cc->nonce, sizeof(cc->nonce))))
			return err;
		cc->have_nonce = true;
	}
	/* Big-endian increment over the suite's nonce length. */
	for (size_t i = s->xnonce_len; i-- > 0 && ++cc->nonce[i] == 0;)
		;
	memcpy(nonce, cc->nonce, s->xnonce_len);
	make_cookie(cc, cookie, src, srclen);
	/* Bound to the message's mac1, so only its sender can use it. */
	err = s->xseal(nonce + s->xnonce_len, cookie, KT_COOKIE_LEN,
		       msg + len - 2 * KT_SUITE_MAC_LEN, KT_SUITE_MAC_LEN, nonce,
		       cc->id->cookie_key);
	kt_wipe(cookie, sizeof(cookie));
	return err;
}

int kt_cookie_reply_consume(struct kt_handshake *hs, const uint8_t *reply,
			    size_t len, uint64_t now_ms)
{
	const struct kt_suite *s = hs->local->suite;
	const uint8_t *nonce = reply + 8;
	uint8_t cookie[KT_COOKIE_LEN];

	if (len != kt_cookie_len(s) ||
	    kt_get_le32(reply) != kt_msg_type(s, KT_MSG_COOKIE) ||
	    !hs->have_last_mac1)
		return -EBADMSG;
	if (s->xopen(cookie, nonce + s->xnonce_len, KT_COOKIE_LEN + KT_SUITE_TAG_LEN,
		     hs->last_mac1, KT_SUITE_MAC_LEN, nonce, hs->peer_cookie_key))
		return -EBADMSG;
	memcpy(hs->cookie, cookie, KT_COOKIE_LEN);
	hs->cookie_birth_ms = now_ms;
	hs->have_cookie = true;
	/* One cookie per message sent: a second reply to it is refused. */
	hs->have_last_mac1 = false;
	kt_wipe(cookie, sizeof(cookie));
	return 0;
}
