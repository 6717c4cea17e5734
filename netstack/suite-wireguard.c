/* The "wireguard" suite: the WireGuard protocol's own primitives, so that
 * a tunnel of this suite interoperates with any WireGuard peer. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/blake2.h>
#include <wolfssl/wolfcrypt/chacha.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/curve25519.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include "messages.h"

#define X25519_LEN 32
#define BLAKE2S_BLOCK 64
#define BLAKE2S_MAX_KEY 32
#define XNONCE_LEN 24
#define NONCE_LEN 12
/* wolfCrypt takes 32-bit lengths. */
#define AEAD_MAX ((size_t)UINT32_MAX - KT_SUITE_TAG_LEN)
#define UPDATE_CHUNK ((size_t)1 << 30)


/* --- BLAKE2s: HASH, MAC and HMAC --- */

static void b2s_update(Blake2s *st, const uint8_t *p, size_t len)
{
	while (len) {
		size_t n = len < UPDATE_CHUNK ? len : UPDATE_CHUNK;

		kt_must(wc_Blake2sUpdate(st, p, (word32)n));
		p += n;
		len -= n;
	}
}

static void wg_hash(uint8_t out[KT_SUITE_KEY_LEN], const uint8_t *a, size_t alen,
		    const uint8_t *b, size_t blen)
{
	uint8_t h[KT_SUITE_KEY_LEN];
	Blake2s st;

	kt_must(wc_InitBlake2s(&st, KT_SUITE_KEY_LEN));
	b2s_update(&st, a, alen);
	b2s_update(&st, b, blen);
	kt_must(wc_Blake2sFinal(&st, h, KT_SUITE_KEY_LEN));
	memcpy(out, h, sizeof(h));
	kt_wipe(&st, sizeof(st));
	kt_wipe(h, sizeof(h));
}

/* Keyed BLAKE2s with a 16-byte digest: the output length is a parameter
 * of the hash, so this is not BLAKE2s-256 cut short. Keys are at most
 * 32 bytes (the protocol uses 32 and 16). */
static void wg_mac(uint8_t out[KT_SUITE_MAC_LEN], const uint8_t *key, size_t keylen,
		   const uint8_t *in, size_t len)
{
	uint8_t m[KT_SUITE_MAC_LEN];
	Blake2s st;

	if (keylen > BLAKE2S_MAX_KEY)
		abort();
	kt_must(wc_InitBlake2s_WithKey(&st, KT_SUITE_MAC_LEN, keylen ? key : NULL,
				    (word32)keylen));
	b2s_update(&st, in, len);
	kt_must(wc_Blake2sFinal(&st, m, KT_SUITE_MAC_LEN));
	memcpy(out, m, sizeof(m));
	kt_wipe(&st, sizeof(st));
	kt_wipe(m, sizeof(m));
}

/* WireGuard's HMAC is RFC 2104 over BLAKE2s-256 with its 64-byte block,
 * not keyed BLAKE2s. wolfCrypt's HMAC covers only the MD5/SHA families,
 * so the construction is spelled out here on top of wc_Blake2s. */
static void wg_hmac(uint8_t out[KT_SUITE_KEY_LEN], const uint8_t *key, size_t keylen,
		    const uint8_t *in, size_t len)
{
	uint8_t k[BLAKE2S_BLOCK] = { 0 }, pad[BLAKE2S_BLOCK];
	uint8_t inner[KT_SUITE_KEY_LEN], h[KT_SUITE_KEY_LEN];
	Blake2s st;

	if (keylen > sizeof(k))
		wg_hash(k, key, keylen, NULL, 0);
	else if (keylen)
		memcpy(k, key, keylen);

	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x36;
	kt_must(wc_InitBlake2s(&st, KT_SUITE_KEY_LEN));
	b2s_update(&st, pad, sizeof(pad));
	b2s_update(&st, in, len);
	kt_must(wc_Blake2sFinal(&st, inner, KT_SUITE_KEY_LEN));

	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x5c;
	kt_must(wc_InitBlake2s(&st, KT_SUITE_KEY_LEN));
	b2s_update(&st, pad, sizeof(pad));
	b2s_update(&st, inner, sizeof(inner));
	kt_must(wc_Blake2sFinal(&st, h, KT_SUITE_KEY_LEN));

	memcpy(out, h, sizeof(h));
	kt_wipe(k, sizeof(k));
	kt_wipe(pad, sizeof(pad));
	kt_wipe(inner, sizeof(inner));
	kt_wipe(h, sizeof(h));
	kt_wipe(&st, sizeof(st));
}

/* --- X25519 (RFC 7748) --- */

static void clamp(uint8_t k[X25519_LEN])
{
	k[0] &= 248;
	k[31] &= 127;
	k[31] |= 64;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

static int wg_pubkey(const uint8_t *priv, uint8_t *pub)
{
	uint8_t k[X25519_LEN], p[X25519_LEN];
	int ret;

	memcpy(k, priv, sizeof(k));
	clamp(k);
	ret = wc_curve25519_make_pub(X25519_LEN, p, X25519_LEN, k);
	if (!ret)
		memcpy(pub, p, sizeof(p));
	kt_wipe(k, sizeof(k));
	return ret ? -EIO : 0;
}

static int wg_keygen(uint8_t *priv, uint8_t *pub)
{
	int err = kt_random(priv, X25519_LEN);

	if (!err) {
		/* Stored clamped, as WireGuard's own keys are. */
		clamp(priv);
		err = wg_pubkey(priv, pub);
	}
	if (err)
		kt_wipe(priv, X25519_LEN);
	return err;
}

static int wg_dh(uint8_t out[KT_SUITE_KEY_LEN], const uint8_t *priv,
		 const uint8_t *peer_pub)
{
	uint8_t k[X25519_LEN], u[X25519_LEN], s[X25519_LEN];
	int err = 0;

	memcpy(k, priv, sizeof(k));
	clamp(k);
	/* RFC 7748 §5: the top bit of the u-coordinate is ignored. wolfCrypt
	 * 5.5.4 (x86_64 and ARMv8 alike) reads it as part of the number,
	 * which gives another result for such a key: mask it here. */
	memcpy(u, peer_pub, sizeof(u));
	u[31] &= 0x7f;
	if (wc_curve25519_generic(X25519_LEN, s, X25519_LEN, k, X25519_LEN, u))
		err = -EIO;
	/* A point of small order gives zero whatever our key: such a
	 * "shared" secret is known to everyone (RFC 7748 §6.1). */
	else if (all_zero(s, sizeof(s)))
		err = -EINVAL;
	else
		memcpy(out, s, sizeof(s));
	kt_wipe(k, sizeof(k));
	kt_wipe(s, sizeof(s));
	return err;
}

/* --- ChaCha20-Poly1305 (RFC 8439) and XChaCha20-Poly1305 --- */

static int chachapoly_seal(uint8_t *dst, const uint8_t *src, size_t len,
			   const uint8_t *ad, size_t adlen,
			   const uint8_t nonce[NONCE_LEN],
			   const uint8_t key[KT_SUITE_KEY_LEN])
{
	static const uint8_t none[1];

	if (len > AEAD_MAX || adlen > AEAD_MAX)
		return -EMSGSIZE;
	/* wolfCrypt wants a plaintext pointer even for no plaintext. */
	if (wc_ChaCha20Poly1305_Encrypt(key, nonce, ad, (word32)adlen,
					len ? src : none, (word32)len, dst,
					dst + len))
		return -EIO;
	return 0;
}

static int chachapoly_open(uint8_t *dst, const uint8_t *src, size_t len,
			   const uint8_t *ad, size_t adlen,
			   const uint8_t nonce[NONCE_LEN],
			   const uint8_t key[KT_SUITE_KEY_LEN])
{
	static const uint8_t none[1];
	uint8_t scratch[1];
	size_t clen;
	int ret;

	if (len < KT_SUITE_TAG_LEN)
		return -EBADMSG;
	clen = len - KT_SUITE_TAG_LEN;
	if (clen > AEAD_MAX || adlen > AEAD_MAX)
		return -EMSGSIZE;
	ret = wc_ChaCha20Poly1305_Decrypt(key, nonce, ad, (word32)adlen,
					  clen ? src : none, (word32)clen,
					  src + clen, clen ? dst : scratch);
	if (ret) {
		/* wolfCrypt decrypts before it compares the tag. */
		kt_wipe(dst, clen);
		return ret == MAC_CMP_FAILED_E ? -EBADMSG : -EIO;
	}
	return 0;
}

/* WireGuard's transport nonce: 32 zero bits, then the counter in little
 * endian. */
static void counter_nonce(uint8_t n[NONCE_LEN], uint64_t counter)
{
	memset(n, 0, 4);
	for (int i = 0; i < 8; i++)
		n[4 + i] = (uint8_t)(counter >> (8 * i));
}

static int wg_seal(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		   size_t adlen, uint64_t counter, const uint8_t key[KT_SUITE_KEY_LEN])
{
	uint8_t n[NONCE_LEN];

	counter_nonce(n, counter);
	return chachapoly_seal(dst, src, len, ad, adlen, n, key);
}

static int wg_open(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		   size_t adlen, uint64_t counter, const uint8_t key[KT_SUITE_KEY_LEN])
{
	uint8_t n[NONCE_LEN];

	counter_nonce(n, counter);
	return chachapoly_open(dst, src, len, ad, adlen, n, key);
}

/*
 * HChaCha20 (draft-irtf-cfrg-xchacha §2.2): the ChaCha20 rounds over key
 * and a 16-byte nonce, keeping state words 0-3 and 12-15, without the
 * final addition of the input. wolfCrypt's ARMv8 port has no XChaCha at
 * all, so it is derived here from its ChaCha20: one keystream block with
 * the nonce's first word as the block counter and the rest as the IV is
 * rounds(state) + state, and the words wanted hold only public input (the
 * constants, the nonce), which subtracts back out.
 */
static int hchacha20(uint8_t out[KT_SUITE_KEY_LEN], const uint8_t key[KT_SUITE_KEY_LEN],
		     const uint8_t nonce[16])
{
	static const uint32_t sigma[4] = {
		0x61707865, 0x3320646e, 0x79622d32, 0x6b206574,	/* "expand 32-byte k" */
	};
	static const uint8_t zero[64];
	uint8_t block[64];
	ChaCha ctx;
	int ret;

	ret = wc_Chacha_SetKey(&ctx, key, KT_SUITE_KEY_LEN);
	if (!ret)
		ret = wc_Chacha_SetIV(&ctx, nonce + 4, kt_get_le32(nonce));
	if (!ret)
		ret = wc_Chacha_Process(&ctx, block, zero, sizeof(block));
	if (!ret) {
		for (int i = 0; i < 4; i++) {
			kt_put_le32(out + 4 * i, kt_get_le32(block + 4 * i) - sigma[i]);
			kt_put_le32(out + 16 + 4 * i,
				 kt_get_le32(block + 48 + 4 * i) - kt_get_le32(nonce + 4 * i));
		}
	}
	kt_wipe(&ctx, sizeof(ctx));
	kt_wipe(block, sizeof(block));
	return ret ? -EIO : 0;
}

/* AEAD_XChaCha20_Poly1305: ChaCha20-Poly1305 under the HChaCha20 subkey,
 * with the nonce's last 8 bytes behind 4 zero bytes. */
static int xchacha_setup(uint8_t subkey[KT_SUITE_KEY_LEN], uint8_t n[NONCE_LEN],
			 const uint8_t *nonce, const uint8_t key[KT_SUITE_KEY_LEN])
{
	memset(n, 0, 4);
	memcpy(n + 4, nonce + 16, 8);
	return hchacha20(subkey, key, nonce);
}

static int wg_xseal(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		    size_t adlen, const uint8_t *nonce,
		    const uint8_t key[KT_SUITE_KEY_LEN])
{
	uint8_t subkey[KT_SUITE_KEY_LEN], n[NONCE_LEN];
	int err = xchacha_setup(subkey, n, nonce, key);

	if (!err)
		err = chachapoly_seal(dst, src, len, ad, adlen, n, subkey);
	kt_wipe(subkey, sizeof(subkey));
	return err;
}

static int wg_xopen(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		    size_t adlen, const uint8_t *nonce,
		    const uint8_t key[KT_SUITE_KEY_LEN])
{
	uint8_t subkey[KT_SUITE_KEY_LEN], n[NONCE_LEN];
	int err = xchacha_setup(subkey, n, nonce, key);

	if (!err)
		err = chachapoly_open(dst, src, len, ad, adlen, n, subkey);
	kt_wipe(subkey, sizeof(subkey));
	return err;
}

const struct kt_suite kt_suite_wireguard = {
	.name = "wireguard",
	.msg_type_base = 1,
	.pub_len = X25519_LEN,
	.xnonce_len = XNONCE_LEN,
	/* The protocol's own constants: a peer hashes exactly these. */
	.construction = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s",
	.identifier = "WireGuard v1 zx2c4 Jason@zx2c4.com",
	.keygen = wg_keygen,
	.pubkey = wg_pubkey,
	.dh = wg_dh,
	.hash = wg_hash,
	.mac = wg_mac,
	.hmac = wg_hmac,
	.seal = wg_seal,
	.open = wg_open,
	.xseal = wg_xseal,
	.xopen = wg_xopen,
};
