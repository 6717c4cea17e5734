/* The suite table and what the suites share: the process's one DRBG and
 * the wipe. The suites themselves are in suite-wireguard.c and
 * suite-cryptrec.c. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/random.h>

#include "suite.h"

static const struct kt_suite *const suites[] = {
	&kt_suite_wireguard,
	&kt_suite_cryptrec,
};

const struct kt_suite *kt_suite_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (!strcmp(suites[i]->name, name))
			return suites[i];
	return NULL;
}

void kt_must(int ret)
{
	if (ret)
		abort();
}

void kt_wipe(void *p, size_t len)
{
	if (len)
		explicit_bzero(p, len);
}

bool kt_equal_ct(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

/*
 * The DRBG. wolfCrypt (as built here, without WOLFSSL_GETRANDOM) seeds it
 * by opening /dev/urandom, at instantiation and again at every reseed
 * (after WC_RESEED_INTERVAL requests). A process that chroots into an
 * empty directory must therefore instantiate it first (kt_random with len
 * 0), and even then a reseed inside the chroot fails: the DRBG is then
 * dropped and instantiation retried on the next call, which fails with
 * -EIO until a seed source is reachable. Nothing falls back to a weaker
 * source.
 */
static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static WC_RNG rng;
static bool rng_ready;		/* instantiated */
static bool rng_stale;		/* inherited through fork(): never draw from it */
static bool rng_atfork;		/* handlers registered */

static void rng_prepare(void)
{
	pthread_mutex_lock(&rng_lock);
}

static void rng_parent(void)
{
	pthread_mutex_unlock(&rng_lock);
}

/* A child that kept drawing from the parent's state would produce the
 * parent's next bytes (ephemeral keys included): it starts over. */
static void rng_child(void)
{
	if (rng_ready)
		rng_stale = true;
	pthread_mutex_unlock(&rng_lock);
}

static void rng_drop(void)
{
	wc_FreeRng(&rng);
	kt_wipe(&rng, sizeof(rng));
	rng_ready = false;
	rng_stale = false;
}

/* With rng_lock held. */
static int rng_get(WC_RNG **out)
{
	if (rng_stale)
		rng_drop();
	if (!rng_ready) {
		if (!rng_atfork) {
			if (pthread_atfork(rng_prepare, rng_parent, rng_child))
				return -ENOMEM;
			rng_atfork = true;
		}
		if (wc_InitRng(&rng)) {
			kt_wipe(&rng, sizeof(rng));
			return -EIO;
		}
		rng_ready = true;
	}
	*out = &rng;
	return 0;
}

int kt_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	WC_RNG *r;
	int err;

	pthread_mutex_lock(&rng_lock);
	err = rng_get(&r);
	while (!err && len) {
		size_t n = len < RNG_MAX_BLOCK_LEN ? len : RNG_MAX_BLOCK_LEN;

		if (wc_RNG_GenerateBlock(r, p, (word32)n)) {
			/* A failed DRBG stays failed: try a new one next time. */
			rng_drop();
			kt_wipe(buf, (size_t)(p - (uint8_t *)buf) + len);
			err = -EIO;
			break;
		}
		p += n;
		len -= n;
	}
	pthread_mutex_unlock(&rng_lock);
	return err;
}

int kt_suite_with_rng(int (*fn)(struct WC_RNG *rng, void *arg), void *arg)
{
	WC_RNG *r;
	int err;

	pthread_mutex_lock(&rng_lock);
	err = rng_get(&r);
	if (!err)
		err = fn(r, arg);
	pthread_mutex_unlock(&rng_lock);
	return err;
}
