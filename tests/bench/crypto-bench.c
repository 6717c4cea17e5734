/*
 * crypto-bench: single-thread wolfCrypt throughput, for comparing builds.
 *
 * Built twice by tests/bench/crypto, against Debian's shared libwolfssl and
 * against the firmware's static build, so everything that differs between
 * the two binaries comes from the library.  Prints one line per measurement,
 * tab separated, for the script to turn into a table:
 *
 *   info   <key>  <value>
 *   result <op>   <number>  <unit>
 *   na     <op>   <reason>
 *
 * usage: crypto-bench [seconds-per-trial]   (default 1; best of 3 trials)
 */
#include <wolfssl/options.h> /* must come first: it carries the build's configuration */
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/curve25519.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TRIALS 3
#define SMALL_LEN 1420        /* a full tunnel packet payload at MTU 1500 */
#define LARGE_LEN (16 * 1024) /* a TLS record */

static double trial_seconds = 1.0;
static unsigned char in_buf[LARGE_LEN];
static unsigned char out_buf[LARGE_LEN];

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *what, int ret)
{
    fprintf(stderr, "crypto-bench: %s failed: %d (%s)\n", what, ret,
            wc_GetErrorString(ret));
    exit(1);
}

/* One operation on the object it was set up with; returns a wolfCrypt code. */
typedef int (*op_fn)(void *ctx, word32 len);

/*
 * Runs op for trial_seconds, TRIALS times, and returns the best rate in
 * operations per second: the best trial is the one least disturbed by the
 * rest of the machine.
 */
static double best_rate(const char *name, op_fn op, void *ctx, word32 len)
{
    double best = 0.0;

    for (int t = 0; t < TRIALS; t++) {
        unsigned long n = 0;
        double start = now(), elapsed;

        do {
            int ret = op(ctx, len);

            if (ret != 0)
                fail(name, ret);
            n++;
            elapsed = now() - start;
        } while (elapsed < trial_seconds);
        if (n / elapsed > best)
            best = n / elapsed;
    }
    return best;
}

static void report_mbps(const char *name, double ops_per_s, word32 len)
{
    printf("result\t%s\t%.1f\tMB/s\n", name, ops_per_s * len / 1e6);
}

static void report_ops(const char *name, double ops_per_s)
{
    printf("result\t%s\t%.0f\tops/s\n", name, ops_per_s);
}

static __attribute__((unused)) void not_available(const char *name, const char *why)
{
    printf("na\t%s\t%s\n", name, why);
}

/* ---- ChaCha20-Poly1305 ------------------------------------------------- */
#if defined(HAVE_CHACHA) && defined(HAVE_POLY1305)
static const byte chacha_key[CHACHA20_POLY1305_AEAD_KEYSIZE] = { 1, 2, 3, 4 };
static const byte chacha_iv[CHACHA20_POLY1305_AEAD_IV_SIZE] = { 5, 6, 7 };

static int chacha_op(void *ctx, word32 len)
{
    byte tag[CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE];

    (void)ctx;
    /* One-shot call, as a tunnel encrypts each packet with its own nonce. */
    return wc_ChaCha20Poly1305_Encrypt(chacha_key, chacha_iv, NULL, 0, in_buf,
                                       len, out_buf, tag);
}
#endif

static void bench_chacha(void)
{
#if defined(HAVE_CHACHA) && defined(HAVE_POLY1305)
    report_mbps("chacha20-poly1305-1420",
                best_rate("ChaCha20-Poly1305", chacha_op, NULL, SMALL_LEN), SMALL_LEN);
    report_mbps("chacha20-poly1305-16k",
                best_rate("ChaCha20-Poly1305", chacha_op, NULL, LARGE_LEN), LARGE_LEN);
#else
    not_available("chacha20-poly1305-1420", "built without ChaCha20 or Poly1305");
    not_available("chacha20-poly1305-16k", "built without ChaCha20 or Poly1305");
#endif
}

/* ---- AES-256-GCM ------------------------------------------------------- */
#if !defined(NO_AES) && defined(HAVE_AESGCM)
static int gcm_op(void *ctx, word32 len)
{
    static const byte iv[GCM_NONCE_MID_SZ] = { 9, 8, 7 };
    byte tag[AES_BLOCK_SIZE];

    /* The key schedule is done once, as a TLS session does. */
    return wc_AesGcmEncrypt((Aes *)ctx, out_buf, in_buf, len, iv, sizeof(iv),
                            tag, sizeof(tag), NULL, 0);
}
#endif

static void bench_gcm(void)
{
#if !defined(NO_AES) && defined(HAVE_AESGCM) && defined(WOLFSSL_AES_256)
    static const byte key[AES_256_KEY_SIZE] = { 0x42 };
    Aes aes;
    int ret;

    if ((ret = wc_AesInit(&aes, NULL, INVALID_DEVID)) != 0)
        fail("wc_AesInit", ret);
    if ((ret = wc_AesGcmSetKey(&aes, key, sizeof(key))) != 0)
        fail("wc_AesGcmSetKey", ret);
    report_mbps("aes-256-gcm-1420",
                best_rate("AES-256-GCM", gcm_op, &aes, SMALL_LEN), SMALL_LEN);
    report_mbps("aes-256-gcm-16k",
                best_rate("AES-256-GCM", gcm_op, &aes, LARGE_LEN), LARGE_LEN);
    wc_AesFree(&aes);
#else
    not_available("aes-256-gcm-1420", "built without AES-GCM or 256-bit AES keys");
    not_available("aes-256-gcm-16k", "built without AES-GCM or 256-bit AES keys");
#endif
}

/*
 * Key agreement: a fixed private key against PEERS different public keys in
 * turn, as a server meets a new ephemeral key in every handshake.  A single
 * repeated peer key would flatter a build with FP_ECC (Debian's): it caches
 * a precomputed table per point and reuses it.  PEERS is well above its
 * default cache size (FP_ENTRIES, 15), so no point stays cached.
 */
#define PEERS 64

/* ---- X25519 ------------------------------------------------------------ */
#ifdef HAVE_CURVE25519
struct x25519_set { curve25519_key priv, peer[PEERS]; unsigned next; };

static int x25519_op(void *ctx, word32 len)
{
    struct x25519_set *k = ctx;
    byte secret[CURVE25519_KEYSIZE];
    word32 secret_len = sizeof(secret);

    (void)len;
    k->next = (k->next + 1) % PEERS;
    return wc_curve25519_shared_secret(&k->priv, &k->peer[k->next], secret,
                                       &secret_len);
}
#endif

static void bench_x25519(WC_RNG *rng)
{
#ifdef HAVE_CURVE25519
    struct x25519_set *k = calloc(1, sizeof(*k));
    int ret;

    if (k == NULL)
        fail("allocating X25519 keys", MEMORY_E);
    wc_curve25519_init(&k->priv);
    if ((ret = wc_curve25519_make_key(rng, CURVE25519_KEYSIZE, &k->priv)) != 0)
        fail("wc_curve25519_make_key", ret);
    for (int i = 0; i < PEERS; i++) {
        wc_curve25519_init(&k->peer[i]);
        if ((ret = wc_curve25519_make_key(rng, CURVE25519_KEYSIZE, &k->peer[i])) != 0)
            fail("wc_curve25519_make_key", ret);
    }
    report_ops("x25519", best_rate("X25519 shared secret", x25519_op, k, 0));
    wc_curve25519_free(&k->priv);
    for (int i = 0; i < PEERS; i++)
        wc_curve25519_free(&k->peer[i]);
    free(k);
#else
    (void)rng;
    not_available("x25519", "built without Curve25519");
#endif
}

/* ---- P-256 ECDH -------------------------------------------------------- */
#if defined(HAVE_ECC) && defined(HAVE_ECC_DHE) && !defined(NO_ECC256)
struct p256_set { ecc_key priv, peer[PEERS]; unsigned next; };

static int p256_op(void *ctx, word32 len)
{
    struct p256_set *k = ctx;
    byte secret[32];
    word32 secret_len = sizeof(secret);

    (void)len;
    k->next = (k->next + 1) % PEERS;
    return wc_ecc_shared_secret(&k->priv, &k->peer[k->next], secret, &secret_len);
}
#endif

static void bench_p256(WC_RNG *rng)
{
#if defined(HAVE_ECC) && defined(HAVE_ECC_DHE) && !defined(NO_ECC256)
    struct p256_set *k = calloc(1, sizeof(*k));
    int ret;

    if (k == NULL)
        fail("allocating P-256 keys", MEMORY_E);
    for (int i = -1; i < PEERS; i++) {
        ecc_key *key = i < 0 ? &k->priv : &k->peer[i];

        if ((ret = wc_ecc_init(key)) != 0)
            fail("wc_ecc_init", ret);
        if ((ret = wc_ecc_make_key_ex(rng, 32, key, ECC_SECP256R1)) != 0)
            fail("wc_ecc_make_key_ex(P-256)", ret);
    }
#if defined(ECC_TIMING_RESISTANT) && !defined(WC_NO_RNG)
    /* Timing-resistant builds blind the scalar and need an RNG for it. */
    if ((ret = wc_ecc_set_rng(&k->priv, rng)) != 0)
        fail("wc_ecc_set_rng", ret);
#endif
    report_ops("p256-ecdh", best_rate("P-256 shared secret", p256_op, k, 0));
    for (int i = -1; i < PEERS; i++)
        wc_ecc_free(i < 0 ? &k->priv : &k->peer[i]);
    free(k);
#else
    (void)rng;
    not_available("p256-ecdh", "built without ECC, ECDH or P-256");
#endif
}

static void print_features(void)
{
    printf("info\tversion\t%s\n", wolfSSL_lib_version());
    printf("info\tfeatures\t"
#ifdef WOLFSSL_AESNI
           "aesni "
#endif
#ifdef USE_INTEL_SPEEDUP
           "intel-speedup(avx/avx2) "
#endif
#ifdef WOLFSSL_ARMASM
           "armasm "
#endif
#ifdef WOLFSSL_SP_X86_64_ASM
           "sp-x86_64-asm "
#endif
#ifdef WOLFSSL_SP_MATH_ALL
           "sp-math-all "
#endif
#ifdef GCM_TABLE_4BIT
           "gcm-table-4bit "
#endif
#ifdef ECC_TIMING_RESISTANT
           "ecc-timing-resistant "
#endif
           "\n");
}

int main(int argc, char **argv)
{
    WC_RNG rng;
    int ret;

    if (argc > 2 || (argc == 2 && (trial_seconds = atof(argv[1])) <= 0.0)) {
        fprintf(stderr, "usage: %s [seconds-per-trial > 0]\n", argv[0]);
        return 2;
    }
    if ((ret = wolfCrypt_Init()) != 0)
        fail("wolfCrypt_Init", ret);
    if ((ret = wc_InitRng(&rng)) != 0)
        fail("wc_InitRng", ret);
    for (size_t i = 0; i < sizeof(in_buf); i++)
        in_buf[i] = (unsigned char)(i * 131u);

    print_features();
    bench_chacha();
    bench_gcm();
    bench_x25519(&rng);
    bench_p256(&rng);

    wc_FreeRng(&rng);
    wolfCrypt_Cleanup();
    return 0;
}
