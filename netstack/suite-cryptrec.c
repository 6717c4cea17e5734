/* The "cryptrec" suite: the same protocol built only from algorithms on
 * the CRYPTREC e-Government Recommended Ciphers List (ECDH over P-256,
 * AES-256-GCM, SHA-256 and HMAC-SHA256). Its own message types and Noise
 * identifier keep it from ever agreeing on a key with the wireguard
 * suite. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "suite.h"

#define P256_SCALAR_LEN 32
#define P256_PUB_LEN 65		/* 0x04, x, y (X9.63 uncompressed) */
#define GCM_NONCE_LEN 12
#define AES256_KEY_LEN 32
/* wolfCrypt takes 32-bit lengths. */
#define AEAD_MAX ((size_t)UINT32_MAX - KT_SUITE_TAG_LEN)
#define UPDATE_CHUNK ((size_t)1 << 30)

static bool all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

/* --- SHA-256 and HMAC-SHA256 --- */

static void cr_hash(uint8_t out[KT_SUITE_KEY_LEN], const uint8_t *a, size_t alen,
		    const uint8_t *b, size_t blen)
{
	const uint8_t *part[2] = { a, b };
	size_t plen[2] = { alen, blen };
	uint8_t h[WC_SHA256_DIGEST_SIZE];
	wc_Sha256 st;

	kt_must(wc_InitSha256(&st));
	for (int i = 0; i < 2; i++) {
		const uint8_t *p = part[i];
		size_t len = plen[i];

		while (len) {
			size_t n = len < UPDATE_CHUNK ? len : UPDATE_CHUNK;

			kt_must(wc_Sha256Update(&st, p, (word32)n));
			p += n;
			len -= n;
		}
	}
	kt_must(wc_Sha256Final(&st, h));
	wc_Sha256Free(&st);
	memcpy(out, h, sizeof(h));
	kt_wipe(&st, sizeof(st));
	kt_wipe(h, sizeof(h));
}

static void hmac_sha256(uint8_t out[WC_SHA256_DIGEST_SIZE], const uint8_t *key,
			size_t keylen, const uint8_t *in, size_t len)
{
	static const uint8_t none[1];
	uint8_t m[WC_SHA256_DIGEST_SIZE];
	Hmac st;

	if (keylen > UINT32_MAX)
		abort();
	kt_must(wc_HmacInit(&st, NULL, INVALID_DEVID));
	kt_must(wc_HmacSetKey(&st, WC_SHA256, keylen ? key : none, (word32)keylen));
	while (len) {
		size_t n = len < UPDATE_CHUNK ? len : UPDATE_CHUNK;

		kt_must(wc_HmacUpdate(&st, in, (word32)n));
		in += n;
		len -= n;
	}
	kt_must(wc_HmacFinal(&st, m));
	wc_HmacFree(&st);
	memcpy(out, m, sizeof(m));
	kt_wipe(&st, sizeof(st));
	kt_wipe(m, sizeof(m));
}

static void cr_hmac(uint8_t out[KT_SUITE_KEY_LEN], const uint8_t *key, size_t keylen,
		    const uint8_t *in, size_t len)
{
	hmac_sha256(out, key, keylen, in, len);
}

/* HMAC-SHA256 truncated to its first 16 bytes (RFC 2104 §5). */
static void cr_mac(uint8_t out[KT_SUITE_MAC_LEN], const uint8_t *key, size_t keylen,
		   const uint8_t *in, size_t len)
{
	uint8_t m[WC_SHA256_DIGEST_SIZE];

	hmac_sha256(m, key, keylen, in, len);
	memcpy(out, m, KT_SUITE_MAC_LEN);
	kt_wipe(m, sizeof(m));
}

/* --- ECDH over P-256 --- */

/* The order n of the P-256 group, big-endian. */
static const uint8_t p256_order[P256_SCALAR_LEN] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
	0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

/* Private keys are big-endian scalars in [1, n-1]. Checked without
 * branching on the key: the borrow out of k - n says k < n. */
static bool p256_scalar_ok(const uint8_t k[P256_SCALAR_LEN])
{
	unsigned int borrow = 0;
	uint8_t acc = 0;

	for (int i = P256_SCALAR_LEN - 1; i >= 0; i--) {
		unsigned int d = (unsigned int)k[i] - p256_order[i] - borrow;

		borrow = (d >> 8) & 1;
		acc |= k[i];
	}
	return borrow & (acc != 0);
}

struct p256_job {
	const uint8_t *priv;
	const uint8_t *peer;	/* dh only */
	uint8_t *out;
};

static int p256_pubkey_rng(struct WC_RNG *rng, void *arg)
{
	struct p256_job *j = arg;
	uint8_t pub[P256_PUB_LEN];
	word32 len = sizeof(pub);
	ecc_key key;
	int err = -EIO;

	if (wc_ecc_init(&key))
		return -EIO;
	if (!wc_ecc_import_private_key_ex(j->priv, P256_SCALAR_LEN, NULL, 0, &key,
					  ECC_SECP256R1) &&
	    !wc_ecc_make_pub_ex(&key, NULL, rng) &&
	    !wc_ecc_export_x963(&key, pub, &len) && len == sizeof(pub)) {
		memcpy(j->out, pub, sizeof(pub));
		err = 0;
	}
	wc_ecc_free(&key);
	kt_wipe(&key, sizeof(key));
	return err;
}

static int cr_pubkey(const uint8_t *priv, uint8_t *pub)
{
	struct p256_job j = { .priv = priv, .out = pub };

	if (!p256_scalar_ok(priv))
		return -EINVAL;
	return kt_suite_with_rng(p256_pubkey_rng, &j);
}

static int cr_keygen(uint8_t *priv, uint8_t *pub)
{
	int err = -EIO;

	/* Uniform in [1, n-1] by rejection; n is so close to 2^256 that a
	 * second draw is needed once in 2^32. Bounded for a broken RNG. */
	for (int tries = 0; tries < 8; tries++) {
		err = kt_random(priv, P256_SCALAR_LEN);
		if (err)
			break;
		if (p256_scalar_ok(priv)) {
			err = cr_pubkey(priv, pub);
			break;
		}
		err = -EIO;
	}
	if (err)
		kt_wipe(priv, P256_SCALAR_LEN);
	return err;
}

static int p256_dh_rng(struct WC_RNG *rng, void *arg)
{
	struct p256_job *j = arg;
	uint8_t s[P256_SCALAR_LEN];
	word32 slen = sizeof(s);
	ecc_key key, peer;
	int err = -EIO;

	if (wc_ecc_init(&peer))
		return -EIO;
	if (wc_ecc_init(&key)) {
		wc_ecc_free(&peer);
		return -EIO;
	}
	/* The peer's point must be on the curve, in range and not the point
	 * at infinity: the import alone checks none of that. */
	if (wc_ecc_import_x963_ex(j->peer, P256_PUB_LEN, &peer, ECC_SECP256R1) ||
	    wc_ecc_check_key(&peer)) {
		err = -EINVAL;
		goto out;
	}
	if (wc_ecc_import_private_key_ex(j->priv, P256_SCALAR_LEN, NULL, 0, &key,
					 ECC_SECP256R1))
		goto out;
#ifdef ECC_TIMING_RESISTANT
	/* Blinding: a timing-resistant build refuses the call without it. */
	if (wc_ecc_set_rng(&key, rng))
		goto out;
#else
	(void)rng;
#endif
	if (wc_ecc_shared_secret(&key, &peer, s, &slen) || slen != sizeof(s))
		goto out;
	if (all_zero(s, sizeof(s))) {
		err = -EINVAL;
		goto out;
	}
	memcpy(j->out, s, sizeof(s));
	err = 0;
out:
	wc_ecc_free(&key);
	wc_ecc_free(&peer);
	kt_wipe(&key, sizeof(key));
	kt_wipe(&peer, sizeof(peer));
	kt_wipe(s, sizeof(s));
	return err;
}

/* The shared secret is the x-coordinate of priv * peer (SEC 1 §3.3.1). */
static int cr_dh(uint8_t out[KT_SUITE_KEY_LEN], const uint8_t *priv,
		 const uint8_t *peer_pub)
{
	struct p256_job j = { .priv = priv, .peer = peer_pub, .out = out };

	/* Uncompressed points only: a compressed or hybrid encoding is not
	 * what this suite puts on the wire. */
	if (peer_pub[0] != 0x04 || !p256_scalar_ok(priv))
		return -EINVAL;
	return kt_suite_with_rng(p256_dh_rng, &j);
}

/* --- AES-256-GCM --- */

static int gcm_seal(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		    size_t adlen, const uint8_t nonce[GCM_NONCE_LEN],
		    const uint8_t key[KT_SUITE_KEY_LEN])
{
	static const uint8_t none[1];
	Aes aes;
	int ret;

	if (len > AEAD_MAX || adlen > AEAD_MAX)
		return -EMSGSIZE;
	if (wc_AesInit(&aes, NULL, INVALID_DEVID))
		return -EIO;
	ret = wc_AesGcmSetKey(&aes, key, AES256_KEY_LEN);
	if (!ret)
		ret = wc_AesGcmEncrypt(&aes, dst, len ? src : none, (word32)len,
				       nonce, GCM_NONCE_LEN, dst + len,
				       KT_SUITE_TAG_LEN, ad, (word32)adlen);
	wc_AesFree(&aes);
	kt_wipe(&aes, sizeof(aes));
	return ret ? -EIO : 0;
}

static int gcm_open(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		    size_t adlen, const uint8_t nonce[GCM_NONCE_LEN],
		    const uint8_t key[KT_SUITE_KEY_LEN])
{
	static const uint8_t none[1];
	uint8_t scratch[1];
	size_t clen;
	Aes aes;
	int ret;

	if (len < KT_SUITE_TAG_LEN)
		return -EBADMSG;
	clen = len - KT_SUITE_TAG_LEN;
	if (clen > AEAD_MAX || adlen > AEAD_MAX)
		return -EMSGSIZE;
	if (wc_AesInit(&aes, NULL, INVALID_DEVID))
		return -EIO;
	ret = wc_AesGcmSetKey(&aes, key, AES256_KEY_LEN);
	if (!ret)
		ret = wc_AesGcmDecrypt(&aes, clen ? dst : scratch,
				       clen ? src : none, (word32)clen, nonce,
				       GCM_NONCE_LEN, src + clen, KT_SUITE_TAG_LEN,
				       ad, (word32)adlen);
	wc_AesFree(&aes);
	kt_wipe(&aes, sizeof(aes));
	if (ret) {
		/* wolfCrypt's AES-NI path decrypts before it compares. */
		kt_wipe(dst, clen);
		return ret == AES_GCM_AUTH_E ? -EBADMSG : -EIO;
	}
	return 0;
}

/* 4 zero bytes, then the counter big-endian (the byte order of the
 * GCM specification's counter block). */
static void counter_nonce(uint8_t n[GCM_NONCE_LEN], uint64_t counter)
{
	memset(n, 0, 4);
	for (int i = 0; i < 8; i++)
		n[4 + i] = (uint8_t)(counter >> (56 - 8 * i));
}

static int cr_seal(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		   size_t adlen, uint64_t counter, const uint8_t key[KT_SUITE_KEY_LEN])
{
	uint8_t n[GCM_NONCE_LEN];

	counter_nonce(n, counter);
	return gcm_seal(dst, src, len, ad, adlen, n, key);
}

static int cr_open(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		   size_t adlen, uint64_t counter, const uint8_t key[KT_SUITE_KEY_LEN])
{
	uint8_t n[GCM_NONCE_LEN];

	counter_nonce(n, counter);
	return gcm_open(dst, src, len, ad, adlen, n, key);
}

/* Cookies: the same AEAD under a random 12-byte nonce. */
static int cr_xseal(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		    size_t adlen, const uint8_t *nonce,
		    const uint8_t key[KT_SUITE_KEY_LEN])
{
	return gcm_seal(dst, src, len, ad, adlen, nonce, key);
}

static int cr_xopen(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		    size_t adlen, const uint8_t *nonce,
		    const uint8_t key[KT_SUITE_KEY_LEN])
{
	return gcm_open(dst, src, len, ad, adlen, nonce, key);
}

const struct kt_suite kt_suite_cryptrec = {
	.name = "cryptrec",
	.msg_type_base = 0x41,
	.pub_len = P256_PUB_LEN,
	.xnonce_len = GCM_NONCE_LEN,
	.construction = "Noise_IKpsk2_P256_AESGCM_SHA256",
	.identifier = "Kyoten CRYPTREC v1",
	.keygen = cr_keygen,
	.pubkey = cr_pubkey,
	.dh = cr_dh,
	.hash = cr_hash,
	.mac = cr_mac,
	.hmac = cr_hmac,
	.seal = cr_seal,
	.open = cr_open,
	.xseal = cr_xseal,
	.xopen = cr_xopen,
};
