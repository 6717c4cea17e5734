/* The cipher suites: known answers from the published test vectors of each
 * primitive, then the properties the handshake relies on (round trips,
 * tampering refused, agreement, separation of the two suites).
 *
 * Vectors are hex copied from their sources; where a value has no
 * published vector (HMAC-BLAKE2s, keyed BLAKE2s-128, the suites' nonce
 * layouts) it was computed independently with Python 3.11 (hashlib, hmac
 * and the 'cryptography' package, i.e. OpenSSL), as each comment says. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/blake2.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>

#include "suite.h"
#include "unit.h"

#define BUF 512

static const struct kt_suite *const suites[] = {
	&kt_suite_wireguard,
	&kt_suite_cryptrec,
};

/* Hex to bytes; blanks are skipped so vectors can keep the sources'
 * grouping. Fails the test on anything else. */
static size_t unhex(uint8_t *out, size_t cap, const char *s)
{
	size_t n = 0;
	int hi = -1;

	for (; *s; s++) {
		int v = 0;

		if (*s == ' ')
			continue;
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else
			fail_msg("bad hex character '%c'", *s);
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n == cap)
			fail_msg("hex vector longer than %zu bytes", cap);
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0)
		fail_msg("odd number of hex digits");
	return n;
}

static void assert_hex(const uint8_t *got, size_t len, const char *want_hex,
		       const char *what)
{
	uint8_t want[BUF];
	size_t n = unhex(want, sizeof(want), want_hex);

	if (n != len || memcmp(got, want, len)) {
		char g[2 * BUF + 1] = "";

		for (size_t i = 0; i < len && i < BUF; i++)
			snprintf(g + 2 * i, 3, "%02x", got[i]);
		fail_msg("%s: got %s", what, g);
	}
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* --- the table --- */

static void test_find(void **state)
{
	const struct kt_suite *w = &kt_suite_wireguard, *c = &kt_suite_cryptrec;

	(void)state;
	assert_ptr_equal(kt_suite_find("wireguard"), w);
	assert_ptr_equal(kt_suite_find("cryptrec"), c);
	assert_null(kt_suite_find("WireGuard"));
	assert_null(kt_suite_find(""));
	assert_null(kt_suite_find(NULL));

	assert_int_equal(w->msg_type_base, 1);
	assert_int_equal(w->pub_len, 32);
	assert_int_equal(w->xnonce_len, 24);
	assert_string_equal(w->construction, "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s");
	assert_string_equal(w->identifier, "WireGuard v1 zx2c4 Jason@zx2c4.com");
	assert_int_equal(c->msg_type_base, 0x41);
	assert_int_equal(c->pub_len, 65);
	assert_int_equal(c->xnonce_len, 12);
	assert_string_equal(c->construction, "Noise_IKpsk2_P256_AESGCM_SHA256");
	assert_string_equal(c->identifier, "Kyoten CRYPTREC v1");
	for (size_t i = 0; i < ARRAY_SIZE(suites); i++) {
		assert_true(suites[i]->pub_len <= KT_SUITE_MAX_PUB);
		assert_true(suites[i]->xnonce_len <= KT_SUITE_MAX_XNONCE);
	}
}

/* --- wireguard: X25519 --- */

/* RFC 7748 §6.1. */
#define RFC7748_A "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
#define RFC7748_PA "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
#define RFC7748_B "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
#define RFC7748_PB "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
#define RFC7748_K "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
/* RFC 7748 §5.2, the iterated test: after 1 and 1,000 iterations. */
#define RFC7748_IT1 "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"
#define RFC7748_IT1000 "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"

static void test_x25519_rfc7748(void **state)
{
	/* RFC 7748 §5.2: scalar, input u-coordinate, output. The second u
	 * has its top bit set, which X25519 must ignore. */
	static const struct {
		const char *k, *u, *out;
	} cases[] = {
		{ "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
		  "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
		  "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552" },
		{ "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
		  "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
		  "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957" },
	};
	const struct kt_suite *s = &kt_suite_wireguard;
	uint8_t k[32], u[32], out[32], a[32], b[32], pa[32], pb[32];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		unhex(k, sizeof(k), cases[i].k);
		unhex(u, sizeof(u), cases[i].u);
		assert_int_equal(s->dh(out, k, u), 0);
		assert_hex(out, 32, cases[i].out, "RFC 7748 5.2");
	}

	/* k = X25519(k, u), u = the old k, starting from k = u = 9. */
	memset(k, 0, sizeof(k));
	k[0] = 9;
	memcpy(u, k, sizeof(u));
	for (int i = 1; i <= 1000; i++) {
		assert_int_equal(s->dh(out, k, u), 0);
		memcpy(u, k, sizeof(u));
		memcpy(k, out, sizeof(k));
		if (i == 1)
			assert_hex(k, 32, RFC7748_IT1, "RFC 7748 5.2, 1 iteration");
	}
	assert_hex(k, 32, RFC7748_IT1000, "RFC 7748 5.2, 1000 iterations");

	unhex(a, sizeof(a), RFC7748_A);
	unhex(b, sizeof(b), RFC7748_B);
	assert_int_equal(s->pubkey(a, pa), 0);
	assert_hex(pa, 32, RFC7748_PA, "RFC 7748 6.1 Alice's public key");
	assert_int_equal(s->pubkey(b, pb), 0);
	assert_hex(pb, 32, RFC7748_PB, "RFC 7748 6.1 Bob's public key");
	assert_int_equal(s->dh(out, a, pb), 0);
	assert_hex(out, 32, RFC7748_K, "RFC 7748 6.1 K (Alice)");
	assert_int_equal(s->dh(out, b, pa), 0);
	assert_hex(out, 32, RFC7748_K, "RFC 7748 6.1 K (Bob)");
}

static void test_x25519_low_order(void **state)
{
	/* Points of small order: u = 0 (order 2), u = 1 (order 4) and
	 * u = p + 1, a non-canonical encoding of 1. With a clamped key each
	 * gives an all-zero output, whoever computes it. */
	static const char *const bad[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	};
	const struct kt_suite *s = &kt_suite_wireguard;
	uint8_t priv[32], pub[32], peer[32], out[32];

	(void)state;
	assert_int_equal(s->keygen(priv, pub), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		unhex(peer, sizeof(peer), bad[i]);
		memset(out, 0xa5, sizeof(out));
		if (s->dh(out, priv, peer) != -EINVAL)
			fail_msg("low-order point %zu accepted", i);
		/* Nothing was written. */
		for (size_t j = 0; j < sizeof(out); j++)
			assert_int_equal(out[j], 0xa5);
	}
}

/* --- wireguard: AEADs --- */

/* RFC 8439 §2.8.2; the XChaCha vector shares its plaintext, AAD and key. */
#define SUNSCREEN_PT \
	"4c616469657320616e642047656e746c 656d656e206f662074686520636c6173" \
	"73206f66202739393a20496620492063 6f756c64206f6666657220796f75206f" \
	"6e6c79206f6e652074697020666f7220 74686520667574757265 2c2073756e73" \
	"637265656e20776f756c642062652069 742e"
#define SUNSCREEN_AAD "50515253c0c1c2c3c4c5c6c7"
#define SUNSCREEN_KEY \
	"808182838485868788898a8b8c8d8e8f 909192939495969798999a9b9c9d9e9f"
#define RFC8439_CT \
	"d31a8d34648e60db7b86afbc53ef7ec2 a4aded51296e08fea9e2b5a736ee62d6" \
	"3dbea45e8ca9671282fafb69da92728b 1a71de0a9e060b2905d6a5b67ecd3b36" \
	"92ddbd7f2d778b8c9803aee328091b58 fab324e4fad675945585808b4831d7bc" \
	"3ff4def08e4b7a9de576d26586cec64b 6116"
#define RFC8439_TAG "1ae10b594f09e26a7e902ecbd0600691"
/* draft-irtf-cfrg-xchacha-03 Appendix A.3.1 (A.1 in the -03 text). */
#define XCHACHA_NONCE "404142434445464748494a4b4c4d4e4f 5051525354555657"
#define XCHACHA_SEALED \
	"bd6d179d3e83d43b9576579493c0e939 572a1700252bfaccbed2902c21396cbb" \
	"731c7f1b0b4aa6440bf3a82f4eda7e39 ae64c6708c54c216cb96b72e1213b452" \
	"2f8c9ba40db5d945b11b69b982c1bb9e 3f3fac2bc369488f76b2383565d3fff9" \
	"21f9664c97637da9768812f615c68b13 b52e" \
	"c0875924c1c7987947deafd8780acf49"

static void test_chacha20poly1305_rfc8439(void **state)
{
	/* Through wolfCrypt directly: the RFC's nonce (constant 07000000)
	 * is not one the suite's counter layout can produce. */
	uint8_t pt[BUF], ad[16], key[32], nonce[12], ct[BUF], tag[16], back[BUF];
	size_t ptlen, adlen;

	(void)state;
	ptlen = unhex(pt, sizeof(pt), SUNSCREEN_PT);
	assert_int_equal(ptlen, 114);
	adlen = unhex(ad, sizeof(ad), SUNSCREEN_AAD);
	unhex(key, sizeof(key), SUNSCREEN_KEY);
	unhex(nonce, sizeof(nonce), "07000000 4041424344454647");
	assert_int_equal(wc_ChaCha20Poly1305_Encrypt(key, nonce, ad, (word32)adlen,
						     pt, (word32)ptlen, ct, tag), 0);
	assert_hex(ct, ptlen, RFC8439_CT, "RFC 8439 2.8.2 ciphertext");
	assert_hex(tag, 16, RFC8439_TAG, "RFC 8439 2.8.2 tag");
	assert_int_equal(wc_ChaCha20Poly1305_Decrypt(key, nonce, ad, (word32)adlen,
						     ct, (word32)ptlen, tag, back), 0);
	assert_memory_equal(back, pt, ptlen);
}

/* The suites' transport nonces, checked against ciphertexts computed with
 * Python's 'cryptography' (ChaCha20Poly1305 and AESGCM) under key 40..5f,
 * plaintext "keepalive? no: a packet" and ad "wg-ad":
 *   wireguard  nonce 00000000 || counter little-endian
 *   cryptrec   nonce 00000000 || counter big-endian
 * then with no plaintext and no ad at counter 0, the bare tags. */
static void test_nonce_layout(void **state)
{
	static const struct {
		const struct kt_suite *s;
		uint64_t counter;
		const char *pt, *ad, *sealed;
	} cases[] = {
		{ &kt_suite_wireguard, 0x0102030405060708, "keepalive? no: a packet",
		  "wg-ad", "681eac7afaba0859a1900ac8743fc8230d6f70d42eaac8"
			   "35082fe169ad9c91078784c850b62ed1" },
		{ &kt_suite_wireguard, 0, "", NULL, "f6875690c6312675b993ad05b8843c11" },
		{ &kt_suite_cryptrec, 0x0102030405060708, "keepalive? no: a packet",
		  "wg-ad", "43b75e12ee4950588b8774cabfbc3c8e562ee37446e7a7"
			   "62dbf9b65ea877c1a1c9f68dc1c3c8f9" },
		{ &kt_suite_cryptrec, 0, "", NULL, "27a37479bf975513417be2d3425a7f53" },
	};
	uint8_t key[32], out[BUF], back[BUF];

	(void)state;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0x40 + i);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct kt_suite *s = cases[i].s;
		const uint8_t *pt = (const uint8_t *)cases[i].pt;
		const uint8_t *ad = (const uint8_t *)cases[i].ad;
		size_t len = strlen(cases[i].pt), adlen = ad ? strlen(cases[i].ad) : 0;
		uint64_t ctr = cases[i].counter;

		const uint8_t *src = len ? pt : NULL;

		assert_int_equal(s->seal(out, src, len, ad, adlen, ctr, key), 0);
		assert_hex(out, len + 16, cases[i].sealed, s->name);
		assert_int_equal(s->open(back, out, len + 16, ad, adlen, ctr, key), 0);
		assert_memory_equal(back, pt, len);
	}
}

static void test_xchacha20poly1305_draft(void **state)
{
	/* AEAD_XChaCha20_Poly1305 through the suite's cookie AEAD. */
	const struct kt_suite *s = &kt_suite_wireguard;
	uint8_t pt[BUF], ad[16], key[32], nonce[24], out[BUF], back[BUF];
	size_t ptlen, adlen;

	(void)state;
	ptlen = unhex(pt, sizeof(pt), SUNSCREEN_PT);
	adlen = unhex(ad, sizeof(ad), SUNSCREEN_AAD);
	unhex(key, sizeof(key), SUNSCREEN_KEY);
	unhex(nonce, sizeof(nonce), XCHACHA_NONCE);
	assert_int_equal(s->xseal(out, pt, ptlen, ad, adlen, nonce, key), 0);
	assert_hex(out, ptlen + 16, XCHACHA_SEALED, "XChaCha20-Poly1305 A.3.1");
	assert_int_equal(s->xopen(back, out, ptlen + 16, ad, adlen, nonce, key), 0);
	assert_memory_equal(back, pt, ptlen);
	/* In place, both ways. */
	memcpy(back, pt, ptlen);
	assert_int_equal(s->xseal(back, back, ptlen, ad, adlen, nonce, key), 0);
	assert_memory_equal(back, out, ptlen + 16);
	assert_int_equal(s->xopen(back, back, ptlen + 16, ad, adlen, nonce, key), 0);
	assert_memory_equal(back, pt, ptlen);
}

/* --- wireguard: BLAKE2s --- */

/* RFC 7693 Appendix B: BLAKE2s-256("abc"). */
#define RFC7693_ABC "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982"
/* WireGuard's initial chaining key and hash, HASH(CONSTRUCTION) and
 * HASH(ck || IDENTIFIER), as Cloudflare's boringtun hard-codes them
 * (INITIAL_CHAIN_KEY, INITIAL_CHAIN_HASH in noise/handshake.rs). */
#define WG_CHAIN_KEY "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36"
#define WG_CHAIN_HASH "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3"

static void test_blake2s(void **state)
{
	/* The BLAKE2 reference KAT (blake2s-kat.txt), keyed section: key
	 * 00..1f, input 00 01 .. (len - 1); lengths around the block. */
	static const struct {
		size_t len;
		const char *hash;
	} kat[] = {
		{ 0, "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49" },
		{ 1, "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1" },
		{ 63, "c65382513f07460da39833cb666c5ed8"
		      "2e61b9e998f4b0c4287cee56c3cc9bcd" },
		{ 64, "8975b0577fd35566d750b362b0897a26"
		      "c399136df07bababbde6203ff2954ed4" },
		{ 65, "21fe0ceb0052be7fb0f004187cacd7de"
		      "67fa6eb0938d927677f2398c132317a8" },
	};
	/* The suite's MAC is keyed BLAKE2s with a 16-byte digest: values
	 * from Python's hashlib.blake2s(msg, key=key, digest_size=16). */
	static const struct {
		const char *key, *msg, *mac;
	} macs[] = {
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		  "6d616331206f76657220612068616e647368616b65206d657373616765",
		  "4f50db4f3a7e11e8e13ff8483fced81d" },
		{ "000102030405060708090a0b0c0d0e0f",
		  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		  "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
		  "40",
		  "9018c671bb7e94a6d540a91765bbecad" },
	};
	const struct kt_suite *s = &kt_suite_wireguard;
	const uint8_t *cons = (const uint8_t *)s->construction;
	const uint8_t *id = (const uint8_t *)s->identifier;
	uint8_t key[32], msg[BUF], out[32];

	(void)state;
	s->hash(out, (const uint8_t *)"abc", 3, NULL, 0);
	assert_hex(out, 32, RFC7693_ABC, "RFC 7693 B");
	s->hash(out, (const uint8_t *)"a", 1, (const uint8_t *)"bc", 2);
	assert_hex(out, 32, RFC7693_ABC, "RFC 7693 B, in two parts");

	for (size_t i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	for (size_t i = 0; i < ARRAY_SIZE(kat); i++) {
		Blake2s b;

		assert_int_equal(wc_InitBlake2s_WithKey(&b, 32, key, 32), 0);
		assert_int_equal(wc_Blake2sUpdate(&b, msg, (word32)kat[i].len), 0);
		assert_int_equal(wc_Blake2sFinal(&b, out, 32), 0);
		assert_hex(out, 32, kat[i].hash, "blake2s-kat keyed");
	}

	for (size_t i = 0; i < ARRAY_SIZE(macs); i++) {
		size_t klen = unhex(key, sizeof(key), macs[i].key);
		size_t mlen = unhex(msg, sizeof(msg), macs[i].msg);

		s->mac(out, key, klen, msg, mlen);
		assert_hex(out, 16, macs[i].mac, "keyed BLAKE2s-128");
	}

	s->hash(out, cons, strlen(s->construction), NULL, 0);
	assert_hex(out, 32, WG_CHAIN_KEY, "initial chaining key");
	s->hash(out, out, 32, id, strlen(s->identifier));
	assert_hex(out, 32, WG_CHAIN_HASH, "initial hash");
}

static void test_hmac_blake2s(void **state)
{
	/* No published vectors exist for HMAC-BLAKE2s: each value is
	 * Python's hmac.new(key, msg, hashlib.blake2s).hexdigest(), an
	 * independent RFC 2104 implementation over a 64-byte block. */
	static const struct {
		const char *key, *msg, *mac;
	} cases[] = {
		/* a chaining-key-sized key */
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		  "4b796f74656e20484d41432d424c414b453273",
		  "2384c34ce91ec9dbdee935c13870ab6c885ff83cf4e95ddac92bb720d5d5ff1d" },
		/* a short key (RFC 4231 case 2's inputs) */
		{ "4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
		  "90b6281e2f3038c9056af0b4a7e763cae6fe5d9eb4386a0ec95237890c104ff0" },
		/* 80-byte key: longer than the block, so hashed first */
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  "4b6579206c6f6e676572207468616e2074686520424c414b45327320626c6f636b",
		  "421a59940d4c968857123766c15a0e4c30d8b3ceb18e2c195064dacbc7b69980" },
		/* empty message */
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "",
		  "e2641d24dfa8dd89e8cb77f1cdc77d8c006e5bebdfc4d6a3a3a6f8d5b7586fb0" },
		/* a key of exactly one block, 100-byte message */
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		  "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
		  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		  "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
		  "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
		  "60616263",
		  "647576eb06d7546ce6db9b3c0c1509a64cc7fae9cb732ee3845e7b486ad26edc" },
	};
	const struct kt_suite *s = &kt_suite_wireguard;
	uint8_t key[BUF], msg[BUF], out[32];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t klen = unhex(key, sizeof(key), cases[i].key);
		size_t mlen = unhex(msg, sizeof(msg), cases[i].msg);

		s->hmac(out, key, klen, msg, mlen);
		assert_hex(out, 32, cases[i].mac, "HMAC-BLAKE2s");
	}
}

/* --- cryptrec: SHA-256, HMAC-SHA256, HKDF --- */

/* FIPS 180-2 Appendix B.1: SHA-256("abc"). */
#define FIPS180_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void test_sha256_hmac(void **state)
{
	/* RFC 4231 §4, keys as a fill byte and a length where the RFC
	 * repeats one byte. Case 5 is the truncated one: the suite's MAC. */
	static const struct {
		int tc;
		uint8_t fill;
		size_t fill_len;
		const char *key, *data, *mac;
	} cases[] = {
		{ 1, 0x0b, 20, NULL, "Hi There",
		  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
		{ 2, 0, 0, "4a656665", "what do ya want for nothing?",
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
		{ 5, 0x0c, 20, NULL, "Test With Truncation",
		  "a3b6167473100ee06e0c796c2955552b" },
		{ 6, 0xaa, 131, NULL,
		  "Test Using Larger Than Block-Size Key - Hash Key First",
		  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
	};
	const struct kt_suite *s = &kt_suite_cryptrec;
	uint8_t key[BUF], out[32];

	(void)state;
	s->hash(out, (const uint8_t *)"abc", 3, NULL, 0);
	assert_hex(out, 32, FIPS180_ABC, "SHA-256 abc");
	s->hash(out, (const uint8_t *)"ab", 2, (const uint8_t *)"c", 1);
	assert_hex(out, 32, FIPS180_ABC, "SHA-256 abc, in two parts");

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const uint8_t *data = (const uint8_t *)cases[i].data;
		size_t klen, dlen = strlen(cases[i].data);
		char what[32];

		if (cases[i].key) {
			klen = unhex(key, sizeof(key), cases[i].key);
		} else {
			memset(key, cases[i].fill, cases[i].fill_len);
			klen = cases[i].fill_len;
		}
		snprintf(what, sizeof(what), "RFC 4231 case %d", cases[i].tc);
		if (cases[i].tc == 5) {
			s->mac(out, key, klen, data, dlen);
			assert_hex(out, 16, cases[i].mac, what);
		} else {
			s->hmac(out, key, klen, data, dlen);
			assert_hex(out, 32, cases[i].mac, what);
		}
	}
}

#define RFC5869_PRK "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
#define RFC5869_OKM \
	"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf" \
	"34007208d5b887185865"

static void test_hkdf_rfc5869(void **state)
{
	/* RFC 5869 A.1 with the suite's HMAC: PRK = HMAC(salt, IKM),
	 * T(i) = HMAC(PRK, T(i-1) || info || i), OKM = the first 42 bytes. */
	const struct kt_suite *s = &kt_suite_cryptrec;
	uint8_t ikm[22], salt[13], info[10], prk[32], t[32 + 10 + 1], okm[64];
	size_t tlen = 0, done = 0;

	(void)state;
	memset(ikm, 0x0b, sizeof(ikm));
	unhex(salt, sizeof(salt), "000102030405060708090a0b0c");
	unhex(info, sizeof(info), "f0f1f2f3f4f5f6f7f8f9");
	s->hmac(prk, salt, sizeof(salt), ikm, sizeof(ikm));
	assert_hex(prk, 32, RFC5869_PRK, "RFC 5869 A.1 PRK");
	for (uint8_t i = 1; done < 42; i++) {
		memcpy(t + tlen, info, sizeof(info));
		t[tlen + sizeof(info)] = i;
		s->hmac(okm + done, prk, sizeof(prk), t, tlen + sizeof(info) + 1);
		memcpy(t, okm + done, 32);
		tlen = 32;
		done += 32;
	}
	assert_hex(okm, 42, RFC5869_OKM, "RFC 5869 A.1 OKM");
}

/* --- cryptrec: AES-256-GCM --- */

/* The GCM specification (McGrew and Viega, as in NIST's GCM test
 * vectors), test case 16: AES-256, 96-bit IV, 60-byte plaintext and 20
 * bytes of AAD. */
#define GCM16_KEY "feffe9928665731c6d6a8f9467308308 feffe9928665731c6d6a8f9467308308"
#define GCM16_IV "cafebabefacedbaddecaf888"
#define GCM16_PT \
	"d9313225f88406e5a55909c5aff5269a 86a7a9531534f7da2e4c303d8a318a72" \
	"1c3c0c95956809532fcf0e2449a6b525 b16aedf5aa0de657ba637b39"
#define GCM16_AAD "feedfacedeadbeeffeedfacedeadbeef abaddad2"
#define GCM16_SEALED \
	"522dc1f099567d07f47f37a32a84427d 643a8cdcbfe5c0c97598a2bd2555d1aa" \
	"8cb08e48590dbb3da7b08b1056828838 c5f61e6393ba7a0abcc9f662" \
	"76fc6ece0f4e1768cddf8853bb2d551b"

static void test_aes256gcm(void **state)
{
	/* Through the suite's cookie AEAD, whose nonce is given whole. */
	const struct kt_suite *s = &kt_suite_cryptrec;
	uint8_t key[32], iv[12], pt[64], ad[20], out[BUF], back[BUF];
	size_t ptlen;

	(void)state;
	unhex(key, sizeof(key), GCM16_KEY);
	unhex(iv, sizeof(iv), GCM16_IV);
	ptlen = unhex(pt, sizeof(pt), GCM16_PT);
	unhex(ad, sizeof(ad), GCM16_AAD);
	assert_int_equal(s->xseal(out, pt, ptlen, ad, sizeof(ad), iv, key), 0);
	assert_hex(out, ptlen + 16, GCM16_SEALED, "GCM test case 16");
	assert_int_equal(s->xopen(back, out, ptlen + 16, ad, sizeof(ad), iv, key), 0);
	assert_memory_equal(back, pt, ptlen);
	memcpy(back, out, ptlen + 16);
	assert_int_equal(s->xopen(back, back, ptlen + 16, ad, sizeof(ad), iv, key), 0);
	assert_memory_equal(back, pt, ptlen);
}

/* --- cryptrec: ECDH P-256 --- */

/* NIST CAVS 14.1 ECC CDH primitive test (KAS_ECC_CDH_PrimitiveTest.txt),
 * [P-256] COUNT = 0; the public keys as X9.63 points, 04 || x || y. */
#define CAVS_QCAVS \
	"04 700c48f77f56584c5cc632ca65640db91b6bacce3a4df6b42ce7cc838833d287" \
	"db71e509e3fd9b060ddb20ba5c51dcc5948d46fbf640dfe0441782cab85fa4ac"
#define CAVS_DIUT "7d7dc5f71eb29ddaf80d6214632eeae03d9058af1fb6d22ed80badb62bc1a534"
#define CAVS_QIUT \
	"04 ead218590119e8876b29146ff89ca61770c4edbbf97d38ce385ed281d8a6b230" \
	"28af61281fd35e2fa7002523acc85a429cb06ee6648325389f59edfce1405141"
#define CAVS_ZIUT "46fc62106420ff012e54a434fbdd2d25ccc5852060561e68040dd7778997bd7b"
/* The field prime p and the group order n of P-256. */
#define P256_P "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"
#define P256_N "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"
#define P256_N1 "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632550"

static void test_p256_cavs(void **state)
{
	const struct kt_suite *s = &kt_suite_cryptrec;
	uint8_t d[32], q[65], pub[65], z[32];

	(void)state;
	unhex(d, sizeof(d), CAVS_DIUT);
	unhex(q, sizeof(q), CAVS_QCAVS);
	assert_int_equal(s->pubkey(d, pub), 0);
	assert_hex(pub, 65, CAVS_QIUT, "CAVS QIUT");
	assert_int_equal(s->dh(z, d, q), 0);
	assert_hex(z, 32, CAVS_ZIUT, "CAVS ZIUT");
}

static void test_p256_invalid(void **state)
{
	const struct kt_suite *s = &kt_suite_cryptrec;
	uint8_t d[32], q[65], bad[65], z[32], pub[65];

	(void)state;
	unhex(d, sizeof(d), CAVS_DIUT);
	unhex(q, sizeof(q), CAVS_QCAVS);

	/* Off the curve: y + 1. */
	memcpy(bad, q, sizeof(bad));
	bad[64] ^= 1;
	assert_int_equal(s->dh(z, d, bad), -EINVAL);
	/* x = p, out of range. */
	memcpy(bad, q, sizeof(bad));
	unhex(bad + 1, 32, P256_P);
	assert_int_equal(s->dh(z, d, bad), -EINVAL);
	/* (0, 0), the usual stand-in for the point at infinity. */
	memset(bad, 0, sizeof(bad));
	bad[0] = 0x04;
	assert_int_equal(s->dh(z, d, bad), -EINVAL);
	/* Anything but the uncompressed form. */
	memcpy(bad, q, sizeof(bad));
	bad[0] = 0x02;
	assert_int_equal(s->dh(z, d, bad), -EINVAL);
	bad[0] = 0x00;
	assert_int_equal(s->dh(z, d, bad), -EINVAL);

	/* Private keys outside [1, n-1]. */
	memset(bad, 0, 32);
	assert_int_equal(s->pubkey(bad, pub), -EINVAL);
	assert_int_equal(s->dh(z, bad, q), -EINVAL);
	unhex(bad, 32, P256_N);
	assert_int_equal(s->pubkey(bad, pub), -EINVAL);
	assert_int_equal(s->dh(z, bad, q), -EINVAL);
	memset(bad, 0xff, 32);
	assert_int_equal(s->pubkey(bad, pub), -EINVAL);
	/* n - 1 and 1 are the ends of the range. */
	unhex(bad, 32, P256_N1);
	assert_int_equal(s->pubkey(bad, pub), 0);
	memset(bad, 0, 32);
	bad[31] = 1;
	assert_int_equal(s->pubkey(bad, pub), 0);
}

/* --- properties, for both suites --- */

static void test_aead_round_trip(void **state)
{
	enum { MAX = 1500 };
	static const size_t lens[] = { 0, 1, 15, 16, 17, 63, 64, 65, 1420 };
	uint8_t key[32], pt[MAX], ad[13], ct[MAX + 16], out[MAX + 16], buf[MAX + 16];
	uint8_t nonce[KT_SUITE_MAX_XNONCE];

	(void)state;
	assert_int_equal(kt_random(key, sizeof(key)), 0);
	assert_int_equal(kt_random(pt, sizeof(pt)), 0);
	assert_int_equal(kt_random(ad, sizeof(ad)), 0);
	assert_int_equal(kt_random(nonce, sizeof(nonce)), 0);
	for (size_t i = 0; i < ARRAY_SIZE(suites); i++) {
		const struct kt_suite *s = suites[i];

		for (size_t j = 0; j < ARRAY_SIZE(lens); j++) {
			size_t len = lens[j], adl = sizeof(ad);

			assert_int_equal(s->seal(ct, pt, len, ad, adl, 42, key), 0);
			memset(out, 0, sizeof(out));
			assert_int_equal(s->open(out, ct, len + 16, ad, adl, 42, key), 0);
			assert_memory_equal(out, pt, len);
			/* In place gives the same bytes. */
			memcpy(buf, pt, len);
			assert_int_equal(s->seal(buf, buf, len, ad, adl, 42, key), 0);
			assert_memory_equal(buf, ct, len + 16);
			assert_int_equal(s->open(buf, buf, len + 16, ad, adl, 42, key),
					 0);
			assert_memory_equal(buf, pt, len);
			/* No associated data. */
			assert_int_equal(s->seal(ct, pt, len, NULL, 0, 0, key), 0);
			assert_int_equal(s->open(out, ct, len + 16, NULL, 0, 0, key), 0);
			assert_memory_equal(out, pt, len);
			/* The cookie AEAD. */
			assert_int_equal(s->xseal(ct, pt, len, ad, adl, nonce, key), 0);
			assert_int_equal(s->xopen(out, ct, len + 16, ad, adl, nonce, key),
					 0);
			assert_memory_equal(out, pt, len);
		}
		/* An empty message from no buffer at all (a keepalive). */
		assert_int_equal(s->seal(ct, NULL, 0, NULL, 0, 7, key), 0);
		assert_int_equal(s->open(out, ct, 16, NULL, 0, 7, key), 0);
	}
}

/* open must refuse, and leave no plaintext in dst. */
static void expect_refused(int ret, const uint8_t *out, size_t len, const char *what)
{
	if (ret != -EBADMSG)
		fail_msg("%s: open returned %d", what, ret);
	if (!all_zero(out, len))
		fail_msg("%s: plaintext left in dst", what);
}

static void test_aead_tamper(void **state)
{
	enum { LEN = 100, ADL = 13 };
	static const size_t flips[] = { 0, 57, LEN - 1, LEN, LEN + 15 };
	uint8_t key[32], key2[32], pt[LEN], ad[ADL], ct[LEN + 16], bad[LEN + 16];
	uint8_t out[LEN + 16], nonce[KT_SUITE_MAX_XNONCE];

	(void)state;
	assert_int_equal(kt_random(key, sizeof(key)), 0);
	memcpy(key2, key, sizeof(key2));
	key2[31] ^= 0x80;
	memset(pt, 'p', sizeof(pt));
	memset(ad, 'a', sizeof(ad));
	assert_int_equal(kt_random(nonce, sizeof(nonce)), 0);
	for (size_t i = 0; i < ARRAY_SIZE(suites); i++) {
		const struct kt_suite *s = suites[i];
		uint8_t *xn = nonce + s->xnonce_len - 1;

		assert_int_equal(s->seal(ct, pt, LEN, ad, ADL, 9, key), 0);
		/* A flipped bit in the ciphertext or the tag. */
		for (size_t j = 0; j < ARRAY_SIZE(flips); j++) {
			for (int bit = 0; bit < 8; bit += 7) {
				memcpy(bad, ct, sizeof(bad));
				bad[flips[j]] ^= (uint8_t)(1 << bit);
				memset(out, 0xa5, sizeof(out));
				int r = s->open(out, bad, LEN + 16, ad, ADL, 9, key);

				expect_refused(r, out, LEN, s->name);
				/* In place: the buffer is wiped too. */
				r = s->open(bad, bad, LEN + 16, ad, ADL, 9, key);
				expect_refused(r, bad, LEN, s->name);
			}
		}
		/* A flipped bit in the associated data. */
		ad[5] ^= 0x10;
		memset(out, 0xa5, sizeof(out));
		expect_refused(s->open(out, ct, LEN + 16, ad, ADL, 9, key), out, LEN,
			       "ad");
		ad[5] ^= 0x10;
		/* Missing associated data, another counter or key, cut short. */
		memset(out, 0xa5, sizeof(out));
		expect_refused(s->open(out, ct, LEN + 16, NULL, 0, 9, key), out, LEN,
			       "no ad");
		memset(out, 0xa5, sizeof(out));
		expect_refused(s->open(out, ct, LEN + 16, ad, ADL, 10, key), out, LEN,
			       "counter");
		memset(out, 0xa5, sizeof(out));
		expect_refused(s->open(out, ct, LEN + 16, ad, ADL, 9, key2), out, LEN,
			       "key");
		memset(out, 0xa5, sizeof(out));
		expect_refused(s->open(out, ct, LEN + 15, ad, ADL, 9, key), out, LEN - 1,
			       "truncated");
		assert_int_equal(s->open(out, ct, 15, ad, ADL, 9, key), -EBADMSG);
		assert_int_equal(s->open(out, ct, 0, ad, ADL, 9, key), -EBADMSG);
		assert_int_equal(s->open(out, ct, LEN + 16, ad, ADL, 9, key), 0);

		/* The cookie AEAD: tag, nonce, ad. */
		assert_int_equal(s->xseal(ct, pt, LEN, ad, ADL, nonce, key), 0);
		memcpy(bad, ct, sizeof(bad));
		bad[LEN + 3] ^= 4;
		memset(out, 0xa5, sizeof(out));
		expect_refused(s->xopen(out, bad, LEN + 16, ad, ADL, nonce, key), out,
			       LEN, "xopen tag");
		*xn ^= 1;
		memset(out, 0xa5, sizeof(out));
		expect_refused(s->xopen(out, ct, LEN + 16, ad, ADL, nonce, key), out, LEN,
			       "xopen nonce");
		*xn ^= 1;
		ad[0] ^= 1;
		memset(out, 0xa5, sizeof(out));
		expect_refused(s->xopen(out, ct, LEN + 16, ad, ADL, nonce, key), out, LEN,
			       "xopen ad");
		ad[0] ^= 1;
		assert_int_equal(s->xopen(out, ct, LEN + 16, ad, ADL, nonce, key), 0);
		assert_int_equal(s->xopen(out, ct, 15, ad, ADL, nonce, key), -EBADMSG);
	}
}

static void test_aead_counters(void **state)
{
	static const uint64_t ctr[][2] = {
		{ 0, 1 },
		{ 1, 1ull << 32 },
		{ 0, 1ull << 56 },
		{ 0xfffffffffffffffe, UINT64_MAX },
	};
	uint8_t key[32], pt[64], a[80], b[80];

	(void)state;
	assert_int_equal(kt_random(key, sizeof(key)), 0);
	memset(pt, 0, sizeof(pt));
	for (size_t i = 0; i < ARRAY_SIZE(suites); i++) {
		const struct kt_suite *s = suites[i];

		for (size_t j = 0; j < ARRAY_SIZE(ctr); j++) {
			assert_int_equal(s->seal(a, pt, 64, NULL, 0, ctr[j][0], key), 0);
			assert_int_equal(s->seal(b, pt, 64, NULL, 0, ctr[j][1], key), 0);
			assert_memory_not_equal(a, b, 64);
			assert_memory_not_equal(a + 64, b + 64, 16);
		}
		/* The same counter, the same bytes: sealing is deterministic. */
		assert_int_equal(s->seal(a, pt, 64, NULL, 0, 5, key), 0);
		assert_int_equal(s->seal(b, pt, 64, NULL, 0, 5, key), 0);
		assert_memory_equal(a, b, sizeof(a));
	}
}

static void test_dh_agreement(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(suites); i++) {
		const struct kt_suite *s = suites[i];
		uint8_t a[32], b[32], pa[KT_SUITE_MAX_PUB], pb[KT_SUITE_MAX_PUB];
		uint8_t p[KT_SUITE_MAX_PUB], ab[32], ba[32];

		for (int round = 0; round < 4; round++) {
			assert_int_equal(s->keygen(a, pa), 0);
			assert_int_equal(s->keygen(b, pb), 0);
			assert_memory_not_equal(a, b, 32);
			assert_memory_not_equal(pa, pb, s->pub_len);
			/* The public key follows from the private one. */
			assert_int_equal(s->pubkey(a, p), 0);
			assert_memory_equal(p, pa, s->pub_len);
			assert_int_equal(s->dh(ab, a, pb), 0);
			assert_int_equal(s->dh(ba, b, pa), 0);
			assert_memory_equal(ab, ba, 32);
			assert_false(all_zero(ab, 32));
			/* With our own public key: a valid exchange too. */
			assert_int_equal(s->dh(ab, a, pa), 0);
			assert_memory_not_equal(ab, ba, 32);
		}
		if (s == &kt_suite_wireguard) {
			/* Stored clamped. */
			assert_int_equal(a[0] & 7, 0);
			assert_int_equal(a[31] & 0xc0, 0x40);
		} else {
			assert_int_equal(pa[0], 0x04);
		}
	}
}

static void test_suites_differ(void **state)
{
	const struct kt_suite *w = &kt_suite_wireguard, *c = &kt_suite_cryptrec;
	uint8_t key[32], in[40], x[64], y[64];

	(void)state;
	memset(key, 7, sizeof(key));
	memset(in, 'i', sizeof(in));
	/* Four message types each: the ranges must not meet. */
	assert_true(w->msg_type_base + 3 < c->msg_type_base);
	assert_string_not_equal(w->construction, c->construction);
	assert_string_not_equal(w->identifier, c->identifier);

	w->hash(x, in, sizeof(in), NULL, 0);
	c->hash(y, in, sizeof(in), NULL, 0);
	assert_memory_not_equal(x, y, 32);
	w->hmac(x, key, sizeof(key), in, sizeof(in));
	c->hmac(y, key, sizeof(key), in, sizeof(in));
	assert_memory_not_equal(x, y, 32);
	w->mac(x, key, sizeof(key), in, sizeof(in));
	c->mac(y, key, sizeof(key), in, sizeof(in));
	assert_memory_not_equal(x, y, 16);
	assert_int_equal(w->seal(x, in, sizeof(in), NULL, 0, 1, key), 0);
	assert_int_equal(c->seal(y, in, sizeof(in), NULL, 0, 1, key), 0);
	assert_memory_not_equal(x, y, sizeof(in) + 16);
	/* Neither opens the other's. */
	assert_int_equal(c->open(y, x, sizeof(in) + 16, NULL, 0, 1, key), -EBADMSG);
	/* The handshakes start from different chaining keys. */
	w->hash(x, (const uint8_t *)w->construction, strlen(w->construction), NULL, 0);
	c->hash(y, (const uint8_t *)c->construction, strlen(c->construction), NULL, 0);
	assert_memory_not_equal(x, y, 32);
}

/* The handshake writes HASH(h || x) into h and keys HMAC with the value
 * it replaces: outputs may alias inputs. */
static void test_aliasing(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(suites); i++) {
		const struct kt_suite *s = suites[i];
		uint8_t h[32], want[32], m[16];

		memset(h, 0x11, sizeof(h));
		s->hash(want, h, sizeof(h), (const uint8_t *)"data", 4);
		s->hash(h, h, sizeof(h), (const uint8_t *)"data", 4);
		assert_memory_equal(h, want, 32);

		memset(h, 0x22, sizeof(h));
		s->hmac(want, h, sizeof(h), (const uint8_t *)"in", 2);
		s->hmac(h, h, sizeof(h), (const uint8_t *)"in", 2);
		assert_memory_equal(h, want, 32);

		memset(h, 0x33, sizeof(h));
		s->hmac(want, (const uint8_t *)"key", 3, h, sizeof(h));
		s->hmac(h, (const uint8_t *)"key", 3, h, sizeof(h));
		assert_memory_equal(h, want, 32);

		memset(h, 0x44, sizeof(h));
		s->mac(m, h, 16, h, sizeof(h));
		s->mac(h, h, 16, h, sizeof(h));
		assert_memory_equal(h, m, 16);
	}
}

static void test_random(void **state)
{
	static uint8_t big[200000];
	uint8_t a[32], b[32], child[32];
	int fds[2], status;
	pid_t pid;

	(void)state;
	assert_int_equal(kt_random(NULL, 0), 0);
	assert_int_equal(kt_random(a, sizeof(a)), 0);
	assert_int_equal(kt_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	/* More than one DRBG request's worth, filled to the end. */
	assert_int_equal(kt_random(big, sizeof(big)), 0);
	assert_false(all_zero(big + 65536 - 32, 64));
	assert_false(all_zero(big + sizeof(big) - 64, 64));

	/* After fork, parent and child must not draw the same bytes. */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t c[32];
		ssize_t n;

		if (kt_random(c, sizeof(c)))
			_exit(1);
		n = write(fds[1], c, sizeof(c));
		_exit(n == (ssize_t)sizeof(c) ? 0 : 1);
	}
	close(fds[1]);
	assert_int_equal(kt_random(a, sizeof(a)), 0);
	assert_int_equal(read(fds[0], child, sizeof(child)), sizeof(child));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_memory_not_equal(a, child, sizeof(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_x25519_rfc7748),
		cmocka_unit_test(test_x25519_low_order),
		cmocka_unit_test(test_chacha20poly1305_rfc8439),
		cmocka_unit_test(test_nonce_layout),
		cmocka_unit_test(test_xchacha20poly1305_draft),
		cmocka_unit_test(test_blake2s),
		cmocka_unit_test(test_hmac_blake2s),
		cmocka_unit_test(test_sha256_hmac),
		cmocka_unit_test(test_hkdf_rfc5869),
		cmocka_unit_test(test_aes256gcm),
		cmocka_unit_test(test_p256_cavs),
		cmocka_unit_test(test_p256_invalid),
		cmocka_unit_test(test_aead_round_trip),
		cmocka_unit_test(test_aead_tamper),
		cmocka_unit_test(test_aead_counters),
		cmocka_unit_test(test_dh_agreement),
		cmocka_unit_test(test_suites_differ),
		cmocka_unit_test(test_aliasing),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests_name("suite", tests, NULL, NULL);
}
