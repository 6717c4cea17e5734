/* Rate limit on handshake initiations while under load (whitepaper §5.3):
 * a token bucket per source, an IPv4 address or an IPv6 /64, in a table
 * sized once at init. When the table is full the entry touched longest
 * ago makes room. Sources are hashed with a random SipHash key so that an
 * attacker cannot choose addresses that share a chain. */
#ifndef KT_RATELIMITER_H
#define KT_RATELIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define KT_RL_PER_SECOND 20	/* steady initiations per second */
#define KT_RL_BURST 5		/* initiations allowed back to back */
#define KT_RL_IDLE_MS 1000	/* an entry this idle is dropped by gc */

struct kt_rl_entry;

struct kt_ratelimiter {
	struct kt_rl_entry *pool;
	uint32_t *heads;	/* hash chains */
	uint32_t hmask;
	uint32_t size;		/* entries in the pool */
	uint32_t live;		/* entries holding a source */
	uint32_t free;		/* chain of unused entries */
	uint32_t newest, oldest;	/* ends of the use-order list */
	uint64_t key[2];
};

/* Allocates the table once: 0, -EINVAL, -ENOMEM, or getrandom's error. */
int kt_ratelimiter_init(struct kt_ratelimiter *rl, size_t entries);
void kt_ratelimiter_uninit(struct kt_ratelimiter *rl);
/* True if src may have one more initiation handled at now_ms (a monotonic
 * clock). No allocation. False for an address of no known family. */
bool kt_ratelimiter_allow(struct kt_ratelimiter *rl, uint64_t now_ms,
			  const struct kt_addr *src);
/* Drops entries idle for KT_RL_IDLE_MS or more; from a timer. */
void kt_ratelimiter_gc(struct kt_ratelimiter *rl, uint64_t now_ms);

#endif
