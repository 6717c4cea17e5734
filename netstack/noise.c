/* Noise_IKpsk2 as the WireGuard whitepaper lays it out (§5.4.2–5.4.5);
 * variable names follow its symbols: C (chaining key), H (hash), E/S
 * (ephemeral/static), k (message key), τ (tau). */
#include "noise.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* KDF_n(key, input) of the whitepaper (§5.4): HKDF with the suite's HMAC,
 * the chaining key as the HKDF key. Up to three outputs. */
static void kdf(const struct kt_suite *s, uint8_t *t1, uint8_t *t2, uint8_t *t3,
		const uint8_t key[KT_SUITE_KEY_LEN], const uint8_t *in, size_t inlen)
{
	uint8_t secret[KT_SUITE_KEY_LEN], prev[KT_SUITE_KEY_LEN + 1];
	uint8_t next[KT_SUITE_KEY_LEN];

	/* τ0 = HMAC(key, input); τ1 = HMAC(τ0, 0x01);
	 * τi = HMAC(τ0, τ(i-1) || i). key may alias t1. */
	s->hmac(secret, key, KT_SUITE_KEY_LEN, in, inlen);
	prev[0] = 1;
	s->hmac(next, secret, KT_SUITE_KEY_LEN, prev, 1);
	memcpy(t1, next, KT_SUITE_KEY_LEN);
	if (t2) {
		memcpy(prev, next, KT_SUITE_KEY_LEN);
		prev[KT_SUITE_KEY_LEN] = 2;
		s->hmac(next, secret, KT_SUITE_KEY_LEN, prev, sizeof(prev));
		memcpy(t2, next, KT_SUITE_KEY_LEN);
	}
	if (t3) {
		memcpy(prev, next, KT_SUITE_KEY_LEN);
		prev[KT_SUITE_KEY_LEN] = 3;
		s->hmac(next, secret, KT_SUITE_KEY_LEN, prev, sizeof(prev));
		memcpy(t3, next, KT_SUITE_KEY_LEN);
	}
	kt_wipe(secret, sizeof(secret));
	kt_wipe(prev, sizeof(prev));
	kt_wipe(next, sizeof(next));
}

static void mix_hash(const struct kt_suite *s, uint8_t h[KT_SUITE_KEY_LEN],
		     const uint8_t *data, size_t len)
{
	s->hash(h, h, KT_SUITE_KEY_LEN, data, len);
}

/* (C, k) := KDF2(C, DH(priv, pub)) */
static int mix_dh(const struct kt_suite *s, uint8_t ck[KT_SUITE_KEY_LEN],
		  uint8_t *k, const uint8_t *priv, const uint8_t *pub)
{
	uint8_t dh[KT_SUITE_KEY_LEN];
	int err = s->dh(dh, priv, pub);

	if (!err)
		kdf(s, ck, k, NULL, ck, dh, sizeof(dh));
	kt_wipe(dh, sizeof(dh));
	return err;
}

/* C, H before any message: HASH(construction), then the identifier and
 * the responder's static key mixed in. */
static void handshake_start(const struct kt_suite *s, uint8_t ck[KT_SUITE_KEY_LEN],
			    uint8_t h[KT_SUITE_KEY_LEN], const uint8_t *responder_pub)
{
	s->hash(ck, (const uint8_t *)s->construction, strlen(s->construction),
		NULL, 0);
	s->hash(h, ck, KT_SUITE_KEY_LEN, (const uint8_t *)s->identifier,
		strlen(s->identifier));
	mix_hash(s, h, responder_pub, s->pub_len);
}

/* TAI64N: seconds past 1970 plus 2^62 + 10, nanoseconds, both big-endian.
 * The nanoseconds are rounded down to about 1/50 s, so the timestamp
 * says nothing finer about the sender's clock than the flood limit needs. */
static void tai64n(const struct kt_identity *id, uint8_t out[KT_TAI64N_LEN])
{
	struct timespec ts;
	uint64_t sec;
	uint32_t ns;

	if (id->realtime)
		id->realtime(&ts);
	else
		clock_gettime(CLOCK_REALTIME, &ts);
	sec = 0x400000000000000aull + (uint64_t)ts.tv_sec;
	ns = (uint32_t)ts.tv_nsec & ~((1u << 24) - 1);
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(sec >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(ns >> (24 - 8 * i));
}

int kt_identity_set(struct kt_identity *id, const struct kt_suite *s,
		    const uint8_t priv[KT_SUITE_KEY_LEN])
{
	int err;

	memset(id, 0, sizeof(*id));
	id->suite = s;
	memcpy(id->priv, priv, KT_SUITE_KEY_LEN);
	if ((err = s->pubkey(id->priv, id->pub))) {
		kt_identity_clear(id);
		return err;
	}
	s->hash(id->mac1_key, (const uint8_t *)KT_LABEL_MAC1,
		strlen(KT_LABEL_MAC1), id->pub, s->pub_len);
	s->hash(id->cookie_key, (const uint8_t *)KT_LABEL_COOKIE,
		strlen(KT_LABEL_COOKIE), id->pub, s->pub_len);
	id->valid = true;
	return 0;
}

void kt_identity_clear(struct kt_identity *id)
{
	kt_wipe(id, sizeof(*id));
}

int kt_handshake_init(struct kt_handshake *hs, const struct kt_identity *local,
		      const uint8_t *remote_pub, const uint8_t *psk)
{
	const struct kt_suite *s = local->suite;

	memset(hs, 0, sizeof(*hs));
	hs->local = local;
	memcpy(hs->remote_static, remote_pub, s->pub_len);
	if (psk)
		memcpy(hs->psk, psk, KT_SUITE_KEY_LEN);
	/* A peer whose key gives no shared secret (low order, not on the
	 * curve) can still be configured; its handshakes will fail. */
	hs->static_static_ok = s->dh(hs->static_static, local->priv, remote_pub) == 0;
	s->hash(hs->peer_mac1_key, (const uint8_t *)KT_LABEL_MAC1,
		strlen(KT_LABEL_MAC1), remote_pub, s->pub_len);
	s->hash(hs->peer_cookie_key, (const uint8_t *)KT_LABEL_COOKIE,
		strlen(KT_LABEL_COOKIE), remote_pub, s->pub_len);
	return 0;
}

void kt_handshake_reset(struct kt_handshake *hs)
{
	kt_wipe(hs->ephemeral_priv, sizeof(hs->ephemeral_priv));
	kt_wipe(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
	kt_wipe(hs->hash, sizeof(hs->hash));
	kt_wipe(hs->chaining_key, sizeof(hs->chaining_key));
	hs->remote_index = 0;
	hs->state = KT_HS_ZEROED;
}

void kt_handshake_clear(struct kt_handshake *hs)
{
	kt_wipe(hs, sizeof(*hs));
}

void kt_macs_add(struct kt_handshake *hs, uint8_t *msg, size_t len,
		 uint64_t now_ms)
{
	const struct kt_suite *s = hs->local->suite;
	uint8_t *mac1 = msg + len - 2 * KT_SUITE_MAC_LEN;
	uint8_t *mac2 = msg + len - KT_SUITE_MAC_LEN;

	s->mac(mac1, hs->peer_mac1_key, KT_SUITE_KEY_LEN, msg,
	       (size_t)(mac1 - msg));
	memcpy(hs->last_mac1, mac1, KT_SUITE_MAC_LEN);
	hs->have_last_mac1 = true;
	/* A cookie is good for two minutes less the time it may have spent
	 * in flight (whitepaper §5.4.7). */
	if (hs->have_cookie &&
	    now_ms - hs->cookie_birth_ms < KT_COOKIE_SECRET_MAX_AGE_MS -
						   KT_COOKIE_SECRET_LATENCY_MS)
		s->mac(mac2, hs->cookie, KT_COOKIE_LEN, msg, (size_t)(mac2 - msg));
	else
		memset(mac2, 0, KT_SUITE_MAC_LEN);
}

int kt_noise_create_initiation(struct kt_handshake *hs, uint8_t *msg,
			       uint32_t local_index, uint64_t now_ms)
{
	const struct kt_suite *s = hs->local->suite;
	uint8_t *ephemeral = msg + 8, *stat = ephemeral + s->pub_len;
	uint8_t *timestamp = stat + s->pub_len + KT_SUITE_TAG_LEN;
	uint8_t k[KT_SUITE_KEY_LEN], ts[KT_TAI64N_LEN];
	int err;

	if (!hs->static_static_ok)
		return -EINVAL;
	kt_handshake_reset(hs);
	memset(msg, 0, kt_init_len(s));
	kt_put_le32(msg, kt_msg_type(s, KT_MSG_INITIATION));
	kt_put_le32(msg + KT_MSG_OFF_SENDER, local_index);
	handshake_start(s, hs->chaining_key, hs->hash, hs->remote_static);

	/* e */
	if ((err = s->keygen(hs->ephemeral_priv, ephemeral)))
		goto out;
	kdf(s, hs->chaining_key, NULL, NULL, hs->chaining_key, ephemeral, s->pub_len);
	mix_hash(s, hs->hash, ephemeral, s->pub_len);
	/* es */
	if ((err = mix_dh(s, hs->chaining_key, k, hs->ephemeral_priv,
			  hs->remote_static)))
		goto out;
	/* s */
	if ((err = s->seal(stat, hs->local->pub, s->pub_len, hs->hash,
			   KT_SUITE_KEY_LEN, 0, k)))
		goto out;
	mix_hash(s, hs->hash, stat, s->pub_len + KT_SUITE_TAG_LEN);
	/* ss, precomputed */
	kdf(s, hs->chaining_key, k, NULL, hs->chaining_key, hs->static_static,
	    KT_SUITE_KEY_LEN);
	/* {t} */
	tai64n(hs->local, ts);
	if ((err = s->seal(timestamp, ts, KT_TAI64N_LEN, hs->hash,
			   KT_SUITE_KEY_LEN, 0, k)))
		goto out;
	mix_hash(s, hs->hash, timestamp, KT_TAI64N_LEN + KT_SUITE_TAG_LEN);
	kt_macs_add(hs, msg, kt_init_len(s), now_ms);
	hs->local_index = local_index;
	hs->state = KT_HS_CREATED_INITIATION;
out:
	kt_wipe(k, sizeof(k));
	if (err)
		kt_handshake_reset(hs);
	return err;
}

int kt_noise_consume_initiation(const struct kt_identity *local,
				const uint8_t *msg, size_t len,
				kt_hs_lookup_fn lookup, void *arg,
				uint64_t now_ms, struct kt_handshake **out)
{
	const struct kt_suite *s = local->suite;
	const uint8_t *ephemeral = msg + 8, *stat = ephemeral + s->pub_len;
	const uint8_t *timestamp = stat + s->pub_len + KT_SUITE_TAG_LEN;
	uint8_t ck[KT_SUITE_KEY_LEN], h[KT_SUITE_KEY_LEN], k[KT_SUITE_KEY_LEN];
	uint8_t remote[KT_SUITE_MAX_PUB], ts[KT_TAI64N_LEN];
	struct kt_handshake *hs = NULL;
	int err = -EBADMSG;

	*out = NULL;
	if (len != kt_init_len(s) ||
	    kt_get_le32(msg) != kt_msg_type(s, KT_MSG_INITIATION))
		return -EBADMSG;
	handshake_start(s, ck, h, local->pub);
	/* e */
	kdf(s, ck, NULL, NULL, ck, ephemeral, s->pub_len);
	mix_hash(s, h, ephemeral, s->pub_len);
	/* es */
	if (mix_dh(s, ck, k, local->priv, ephemeral))
		goto out;
	/* s */
	if (s->open(remote, stat, s->pub_len + KT_SUITE_TAG_LEN, h,
		    KT_SUITE_KEY_LEN, 0, k))
		goto out;
	mix_hash(s, h, stat, s->pub_len + KT_SUITE_TAG_LEN);
	hs = lookup(arg, remote);
	if (!hs || !hs->static_static_ok) {
		err = -ENOENT;
		goto out;
	}
	/* ss */
	kdf(s, ck, k, NULL, ck, hs->static_static, KT_SUITE_KEY_LEN);
	/* {t} */
	if (s->open(ts, timestamp, KT_TAI64N_LEN + KT_SUITE_TAG_LEN, h,
		    KT_SUITE_KEY_LEN, 0, k))
		goto out;
	mix_hash(s, h, timestamp, KT_TAI64N_LEN + KT_SUITE_TAG_LEN);
	/* Replayed initiations carry an old timestamp; a flood of fresh
	 * ones is limited per peer. */
	if (memcmp(ts, hs->latest_timestamp, KT_TAI64N_LEN) <= 0) {
		err = -EALREADY;
		goto out;
	}
	if (hs->last_initiation_ms &&
	    now_ms - hs->last_initiation_ms < 1000 / KT_INITIATIONS_PER_SECOND) {
		err = -EBUSY;
		goto out;
	}
	/* Everything checked: this initiation becomes the peer's state. */
	kt_handshake_reset(hs);
	memcpy(hs->remote_ephemeral, ephemeral, s->pub_len);
	memcpy(hs->latest_timestamp, ts, KT_TAI64N_LEN);
	memcpy(hs->hash, h, sizeof(h));
	memcpy(hs->chaining_key, ck, sizeof(ck));
	hs->remote_index = kt_get_le32(msg + KT_MSG_OFF_SENDER);
	hs->last_initiation_ms = now_ms;
	hs->state = KT_HS_CONSUMED_INITIATION;
	*out = hs;
	err = 0;
out:
	kt_wipe(ck, sizeof(ck));
	kt_wipe(h, sizeof(h));
	kt_wipe(k, sizeof(k));
	kt_wipe(ts, sizeof(ts));
	return err;
}

/* (C, τ, k) := KDF3(C, Q); H := HASH(H || τ) */
static void mix_psk(const struct kt_suite *s, struct kt_handshake *hs,
		    uint8_t *ck, uint8_t *h, uint8_t k[KT_SUITE_KEY_LEN])
{
	uint8_t tau[KT_SUITE_KEY_LEN];

	kdf(s, ck, tau, k, ck, hs->psk, KT_SUITE_KEY_LEN);
	mix_hash(s, h, tau, sizeof(tau));
	kt_wipe(tau, sizeof(tau));
}

int kt_noise_create_response(struct kt_handshake *hs, uint8_t *msg,
			     uint32_t local_index, uint64_t now_ms)
{
	const struct kt_suite *s = hs->local->suite;
	uint8_t *ephemeral = msg + 12, *empty = ephemeral + s->pub_len;
	uint8_t k[KT_SUITE_KEY_LEN], none[1] = { 0 };
	int err;

	if (hs->state != KT_HS_CONSUMED_INITIATION)
		return -EINVAL;
	memset(msg, 0, kt_resp_len(s));
	kt_put_le32(msg, kt_msg_type(s, KT_MSG_RESPONSE));
	kt_put_le32(msg + KT_MSG_OFF_SENDER, local_index);
	kt_put_le32(msg + 8, hs->remote_index);
	/* e */
	if ((err = s->keygen(hs->ephemeral_priv, ephemeral)))
		goto out;
	kdf(s, hs->chaining_key, NULL, NULL, hs->chaining_key, ephemeral, s->pub_len);
	mix_hash(s, hs->hash, ephemeral, s->pub_len);
	/* ee, se */
	if ((err = mix_dh(s, hs->chaining_key, NULL, hs->ephemeral_priv,
			  hs->remote_ephemeral)) ||
	    (err = mix_dh(s, hs->chaining_key, NULL, hs->ephemeral_priv,
			  hs->remote_static)))
		goto out;
	/* psk */
	mix_psk(s, hs, hs->chaining_key, hs->hash, k);
	/* {} */
	/* An empty payload: only the tag authenticates the transcript. */
	if ((err = s->seal(empty, none, 0, hs->hash, KT_SUITE_KEY_LEN, 0, k)))
		goto out;
	mix_hash(s, hs->hash, empty, KT_SUITE_TAG_LEN);
	kt_macs_add(hs, msg, kt_resp_len(s), now_ms);
	hs->local_index = local_index;
	hs->state = KT_HS_CREATED_RESPONSE;
out:
	kt_wipe(k, sizeof(k));
	if (err)
		kt_handshake_reset(hs);
	return err;
}

int kt_noise_consume_response(struct kt_handshake *hs, const uint8_t *msg,
			      size_t len)
{
	const struct kt_suite *s = hs->local->suite;
	const uint8_t *ephemeral = msg + 12, *empty = ephemeral + s->pub_len;
	uint8_t ck[KT_SUITE_KEY_LEN], h[KT_SUITE_KEY_LEN], k[KT_SUITE_KEY_LEN];
	uint8_t none[1];
	int err = -EBADMSG;

	if (len != kt_resp_len(s) ||
	    kt_get_le32(msg) != kt_msg_type(s, KT_MSG_RESPONSE))
		return -EBADMSG;
	if (hs->state != KT_HS_CREATED_INITIATION ||
	    kt_get_le32(msg + 8) != hs->local_index)
		return -EINVAL;
	/* Work on copies: a forged response must not spoil the state that
	 * the genuine one still needs. */
	memcpy(ck, hs->chaining_key, sizeof(ck));
	memcpy(h, hs->hash, sizeof(h));
	/* e */
	kdf(s, ck, NULL, NULL, ck, ephemeral, s->pub_len);
	mix_hash(s, h, ephemeral, s->pub_len);
	/* ee, se */
	if (mix_dh(s, ck, NULL, hs->ephemeral_priv, ephemeral) ||
	    mix_dh(s, ck, NULL, hs->local->priv, ephemeral))
		goto out;
	/* psk */
	mix_psk(s, hs, ck, h, k);
	/* {} */
	if (s->open(none, empty, KT_SUITE_TAG_LEN, h, KT_SUITE_KEY_LEN, 0, k))
		goto out;
	mix_hash(s, h, empty, KT_SUITE_TAG_LEN);
	memcpy(hs->remote_ephemeral, ephemeral, s->pub_len);
	memcpy(hs->chaining_key, ck, sizeof(ck));
	memcpy(hs->hash, h, sizeof(h));
	hs->remote_index = kt_get_le32(msg + KT_MSG_OFF_SENDER);
	hs->state = KT_HS_CONSUMED_RESPONSE;
	err = 0;
out:
	kt_wipe(ck, sizeof(ck));
	kt_wipe(h, sizeof(h));
	kt_wipe(k, sizeof(k));
	return err;
}

int kt_noise_derive_keypair(struct kt_handshake *hs, struct kt_keypair *kp,
			    uint64_t now_ms)
{
	const struct kt_suite *s = hs->local->suite;
	bool initiator = hs->state == KT_HS_CONSUMED_RESPONSE;

	if (!initiator && hs->state != KT_HS_CREATED_RESPONSE)
		return -EINVAL;
	memset(kp, 0, sizeof(*kp));
	/* (T_send, T_recv) for the initiator; mirrored for the responder. */
	if (initiator)
		kdf(s, kp->send_key, kp->recv_key, NULL, hs->chaining_key, NULL, 0);
	else
		kdf(s, kp->recv_key, kp->send_key, NULL, hs->chaining_key, NULL, 0);
	kp->initiator = initiator;
	kp->local_index = hs->local_index;
	kp->remote_index = hs->remote_index;
	kp->birth_ms = now_ms;
	kt_replay_init(&kp->replay);
	kp->valid = true;
	kt_handshake_reset(hs);
	return 0;
}

void kt_keypair_clear(struct kt_keypair *kp)
{
	kt_wipe(kp, sizeof(*kp));
}

int kt_keypair_seal(struct kt_keypair *kp, const struct kt_suite *s,
		    uint8_t *msg, const uint8_t *pkt, size_t len)
{
	uint64_t counter;
	int err;

	if (!kp->valid || kp->send_counter >= KT_REJECT_AFTER_MESSAGES)
		return -ESTALE;
	counter = kp->send_counter++;
	kt_put_le32(msg, kt_msg_type(s, KT_MSG_DATA));
	kt_put_le32(msg + 4, kp->remote_index);
	kt_put_le64(msg + 8, counter);
	err = s->seal(msg + KT_DATA_HDR_LEN, pkt, len, NULL, 0, counter,
		      kp->send_key);
	return err ? err : (int)(KT_DATA_HDR_LEN + len + KT_SUITE_TAG_LEN);
}

int kt_keypair_open(struct kt_keypair *kp, const struct kt_suite *s,
		    const uint8_t *msg, size_t len, uint8_t *pkt)
{
	uint64_t counter;

	if (len < KT_DATA_MIN_LEN ||
	    kt_get_le32(msg) != kt_msg_type(s, KT_MSG_DATA))
		return -EBADMSG;
	if (!kp->valid)
		return -ESTALE;
	counter = kt_get_le64(msg + 8);
	if (counter >= KT_REJECT_AFTER_MESSAGES)
		return -ESTALE;
	if (s->open(pkt, msg + KT_DATA_HDR_LEN, len - KT_DATA_HDR_LEN, NULL, 0,
		    counter, kp->recv_key))
		return -EBADMSG;
	/* Only an authenticated counter may move the window. */
	if (!kt_replay_accept(&kp->replay, counter, KT_REJECT_AFTER_MESSAGES))
		return -EALREADY;
	return (int)(len - KT_DATA_MIN_LEN);
}
