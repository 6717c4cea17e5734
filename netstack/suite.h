/* Cipher suites for the WireGuard-protocol handshake and transport: every
 * primitive the Noise_IKpsk2 layer needs, behind one table per suite, all
 * of it on wolfCrypt.
 *
 *   wireguard  X25519, ChaCha20-Poly1305, XChaCha20-Poly1305, BLAKE2s;
 *              byte for byte what WireGuard puts on the wire.
 *   cryptrec   ECDH P-256, AES-256-GCM, SHA-256, HMAC-SHA256: only
 *              algorithms on the CRYPTREC e-Government Recommended
 *              Ciphers List.
 *
 * Outputs may alias inputs (HASH(h || x) into h, HMAC keyed by the value
 * it replaces). The AEADs work in place (dst == src), no other overlap,
 * and refuse more than 4 GiB with -EMSGSIZE. hash, mac and hmac cannot
 * fail on valid arguments: should wolfCrypt report an error anyway, the
 * process aborts rather than hand back an unset output. The only shared
 * state is the DRBG, which has a lock. */
#ifndef KT_SUITE_H
#define KT_SUITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KT_SUITE_MAX_PUB 65	/* largest public key on the wire */
#define KT_SUITE_KEY_LEN 32	/* private keys, symmetric keys, hash and DH outputs */
#define KT_SUITE_MAC_LEN 16
#define KT_SUITE_TAG_LEN 16
#define KT_SUITE_MAX_XNONCE 24

struct kt_suite {
	const char *name;		/* "wireguard" | "cryptrec" */
	/* wire type of the initiation; response +1, cookie +2, data +3.
	 * wireguard: 1; cryptrec: 0x41 */
	uint8_t msg_type_base;
	size_t pub_len;			/* 32 | 65 */
	size_t xnonce_len;		/* cookie AEAD nonce: 24 | 12 */
	/* Noise protocol name, hashed into the chaining key */
	const char *construction;
	/* mixed into the hash after the construction */
	const char *identifier;

	/* keypair from the RNG; priv is KT_SUITE_KEY_LEN bytes (an X25519
	 * scalar, stored clamped | a big-endian P-256 scalar in [1, n-1]),
	 * pub pub_len bytes (X25519 u | X9.63 uncompressed point) */
	int (*keygen)(uint8_t *priv, uint8_t *pub)
		__attribute__((warn_unused_result));
	int (*pubkey)(const uint8_t *priv, uint8_t *pub)
		__attribute__((warn_unused_result));
	/* shared secret (32 bytes); -EINVAL for an invalid or low-order
	 * peer key or a zero result */
	int (*dh)(uint8_t out[KT_SUITE_KEY_LEN], const uint8_t *priv,
		  const uint8_t *peer_pub)
		__attribute__((warn_unused_result));

	/* HASH(a || b); b may be NULL with blen 0 */
	void (*hash)(uint8_t out[KT_SUITE_KEY_LEN], const uint8_t *a, size_t alen,
		     const uint8_t *b, size_t blen);
	/* MAC(key, in) with 16-byte output (keyed BLAKE2s-128, key at most
	 * 32 bytes | HMAC-SHA256 truncated) */
	void (*mac)(uint8_t out[KT_SUITE_MAC_LEN], const uint8_t *key, size_t keylen,
		    const uint8_t *in, size_t len);
	/* HMAC(key, in), 32-byte output (HMAC-BLAKE2s | HMAC-SHA256) */
	void (*hmac)(uint8_t out[KT_SUITE_KEY_LEN], const uint8_t *key, size_t keylen,
		     const uint8_t *in, size_t len);

	/* AEAD with the 64-bit counter as nonce; dst holds len + 16; dst
	 * may equal src */
	int (*seal)(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		    size_t adlen, uint64_t counter, const uint8_t key[KT_SUITE_KEY_LEN])
		__attribute__((warn_unused_result));
	/* len includes the tag; -EBADMSG if it does not authenticate, dst
	 * then wiped */
	int (*open)(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		    size_t adlen, uint64_t counter, const uint8_t key[KT_SUITE_KEY_LEN])
		__attribute__((warn_unused_result));
	/* the cookie AEAD with an explicit xnonce_len-byte nonce; same rules */
	int (*xseal)(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		     size_t adlen, const uint8_t *nonce,
		     const uint8_t key[KT_SUITE_KEY_LEN])
		__attribute__((warn_unused_result));
	int (*xopen)(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		     size_t adlen, const uint8_t *nonce,
		     const uint8_t key[KT_SUITE_KEY_LEN])
		__attribute__((warn_unused_result));
};

extern const struct kt_suite kt_suite_wireguard;
extern const struct kt_suite kt_suite_cryptrec;

const struct kt_suite *kt_suite_find(const char *name);	/* NULL if unknown */
/* wolfCrypt's DRBG (one instance, initialised on first use). wolfCrypt
 * seeds it from /dev/urandom, so a process that chroots calls this once
 * before (len 0 will do): see suite.c. */
/* For the suites' void primitives (hash, mac, hmac), which cannot fail on
 * the protocol's arguments: if wolfCrypt still reports an error, carrying
 * on would key a session with whatever the output held, so stop. */
void kt_must(int ret);
int kt_random(void *buf, size_t len) __attribute__((warn_unused_result));
void kt_wipe(void *p, size_t len);	/* wipe that the compiler cannot elide */
/* Constant time: the comparison must not tell an attacker how many bytes
 * of a forged MAC were right. */
bool kt_equal_ct(const void *a, const void *b, size_t n);

/* For suite-*.c only: fn runs with that DRBG (a WC_RNG), under the lock
 * kt_random takes, for the wolfCrypt calls that want one. fn must not
 * call kt_random. */
struct WC_RNG;
int kt_suite_with_rng(int (*fn)(struct WC_RNG *rng, void *arg), void *arg)
	__attribute__((warn_unused_result));

#endif
