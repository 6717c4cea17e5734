#include "ratelimiter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#define NONE UINT32_MAX
/* Credit is counted in 1/KT_RL_PER_SECOND ms, so each millisecond earns
 * KT_RL_PER_SECOND units and a packet costs 1000: exact integer refill at
 * any rate. */
#define COST 1000u
#define CREDIT_MAX (COST * KT_RL_BURST)

struct kt_rl_entry {
	uint64_t net;		/* IPv4 address, or the /64 of an IPv6 one */
	uint64_t last_ms;
	uint32_t credit;
	uint32_t next;		/* hash chain, or the free chain */
	uint32_t newer, older;	/* use-order list */
	uint32_t bucket;
	uint8_t family;
};

static inline uint64_t rotl(uint64_t x, unsigned b)
{
	return x << b | x >> (64 - b);
}

#define SIPROUND(v0, v1, v2, v3) do { \
	v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32); \
	v2 += v3; v3 = rotl(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = rotl(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32); \
} while (0)

/* SipHash-2-4 of a 16-byte message given as two little-endian words. */
static uint64_t siphash_2w(const uint64_t k[2], uint64_t m0, uint64_t m1)
{
	uint64_t v0 = k[0] ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k[1] ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k[0] ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k[1] ^ 0x7465646279746573ULL;
	const uint64_t m[3] = { m0, m1, (uint64_t)16 << 56 };

	for (int i = 0; i < 3; i++) {
		v3 ^= m[i];
		SIPROUND(v0, v1, v2, v3);
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m[i];
	}
	v2 ^= 0xff;
	for (int i = 0; i < 4; i++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

static bool source_key(const struct kt_addr *src, uint64_t *net)
{
	uint64_t v = 0;
	int n;

	if (src->family == AF_INET)
		n = 4;
	else if (src->family == AF_INET6)
		n = 8;	/* one subscriber usually holds a whole /64 */
	else
		return false;
	for (int i = 0; i < n; i++)
		v = v << 8 | src->bytes[i];
	*net = v;
	return true;
}

static void list_unlink(struct kt_ratelimiter *rl, uint32_t i)
{
	struct kt_rl_entry *e = &rl->pool[i];

	if (e->newer != NONE)
		rl->pool[e->newer].older = e->older;
	else
		rl->newest = e->older;
	if (e->older != NONE)
		rl->pool[e->older].newer = e->newer;
	else
		rl->oldest = e->newer;
}

static void list_push_newest(struct kt_ratelimiter *rl, uint32_t i)
{
	struct kt_rl_entry *e = &rl->pool[i];

	e->newer = NONE;
	e->older = rl->newest;
	if (rl->newest != NONE)
		rl->pool[rl->newest].newer = i;
	else
		rl->oldest = i;
	rl->newest = i;
}

/* Takes entry i out of its chain and the use order; it is then unused. */
static void entry_drop(struct kt_ratelimiter *rl, uint32_t i)
{
	uint32_t *link = &rl->heads[rl->pool[i].bucket];

	while (*link != i)
		link = &rl->pool[*link].next;
	*link = rl->pool[i].next;
	list_unlink(rl, i);
	rl->live--;
}

int kt_ratelimiter_init(struct kt_ratelimiter *rl, size_t entries)
{
	size_t nheads = 1;
	ssize_t got;

	memset(rl, 0, sizeof(*rl));
	if (!entries || entries > (1u << 24))
		return -EINVAL;
	while (nheads < entries)
		nheads <<= 1;
	do
		got = getrandom(rl->key, sizeof(rl->key), 0);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	if (got != (ssize_t)sizeof(rl->key))
		return -EIO;
	rl->pool = calloc(entries, sizeof(*rl->pool));
	rl->heads = malloc(nheads * sizeof(*rl->heads));
	if (!rl->pool || !rl->heads) {
		kt_ratelimiter_uninit(rl);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nheads; i++)
		rl->heads[i] = NONE;
	for (size_t i = 0; i < entries; i++)
		rl->pool[i].next = i + 1 < entries ? (uint32_t)i + 1 : NONE;
	rl->hmask = (uint32_t)nheads - 1;
	rl->size = (uint32_t)entries;
	rl->free = 0;
	rl->newest = rl->oldest = NONE;
	return 0;
}

void kt_ratelimiter_uninit(struct kt_ratelimiter *rl)
{
	free(rl->pool);
	free(rl->heads);
	/* The key goes too: it is what keeps the chains unpredictable. */
	explicit_bzero(rl, sizeof(*rl));
}

bool kt_ratelimiter_allow(struct kt_ratelimiter *rl, uint64_t now_ms,
			  const struct kt_addr *src)
{
	struct kt_rl_entry *e;
	uint64_t net;
	uint32_t b, i;

	if (!source_key(src, &net))
		return false;
	b = (uint32_t)siphash_2w(rl->key, (uint64_t)src->family, net);
	b &= rl->hmask;
	for (i = rl->heads[b]; i != NONE; i = rl->pool[i].next) {
		e = &rl->pool[i];
		if (e->net == net && e->family == src->family)
			break;
	}

	if (i == NONE) {
		if (rl->free != NONE) {
			i = rl->free;
			rl->free = rl->pool[i].next;
		} else {
			i = rl->oldest;
			entry_drop(rl, i);
		}
		e = &rl->pool[i];
		e->net = net;
		e->family = (uint8_t)src->family;
		e->bucket = b;
		e->next = rl->heads[b];
		rl->heads[b] = i;
		e->last_ms = now_ms;
		e->credit = CREDIT_MAX - COST;	/* this packet's share */
		list_push_newest(rl, i);
		rl->live++;
		return true;
	}

	/* A clock that stepped back earns nothing and keeps last_ms. */
	if (now_ms > e->last_ms) {
		uint64_t earned = now_ms - e->last_ms;

		/* Past this many ms any bucket is full; the cap keeps the
		 * product below from overflowing. */
		if (earned > CREDIT_MAX)
			earned = CREDIT_MAX;
		earned *= KT_RL_PER_SECOND;
		e->credit = earned >= CREDIT_MAX - e->credit ?
			    CREDIT_MAX : e->credit + (uint32_t)earned;
		e->last_ms = now_ms;
	}
	/* Refused packets count as use too, so that a source flooding on an
	 * empty bucket keeps it instead of aging out into a full one. */
	list_unlink(rl, i);
	list_push_newest(rl, i);
	if (e->credit < COST)
		return false;
	e->credit -= COST;
	return true;
}

void kt_ratelimiter_gc(struct kt_ratelimiter *rl, uint64_t now_ms)
{
	uint32_t i;

	while ((i = rl->oldest) != NONE &&
	       now_ms >= rl->pool[i].last_ms &&
	       now_ms - rl->pool[i].last_ms >= KT_RL_IDLE_MS) {
		entry_drop(rl, i);
		rl->pool[i].next = rl->free;
		rl->free = i;
	}
}
