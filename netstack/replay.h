/* Anti-replay window for transport data counters (whitepaper §5.4.6),
 * kept as a ring of bitmap words in the manner of RFC 6479 so that sliding
 * forward clears whole words instead of shifting the map. */
#ifndef KT_REPLAY_H
#define KT_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

/* Window size in bits, including the word being filled. A power of two. */
#define KT_REPLAY_BITS 8192
#define KT_REPLAY_WORD_BITS (8 * sizeof(unsigned long))
/* How far behind the greatest counter a packet may arrive and still be
 * accepted: the whole map less the word being filled, whose low bits may
 * stand for counters above the greatest (8128 with 64-bit words). */
#define KT_REPLAY_WINDOW ((uint64_t)(KT_REPLAY_BITS - KT_REPLAY_WORD_BITS))

struct kt_replay {
	uint64_t greatest;	/* largest counter accepted; valid if any */
	bool any;
	unsigned long bits[KT_REPLAY_BITS / (8 * sizeof(unsigned long))];
};

void kt_replay_init(struct kt_replay *r);
/* Called only after the packet authenticated. True, and the counter is
 * recorded, if it was not seen before and lies inside the window; false
 * for a replay, a counter older than the window, or counter >= limit
 * (REJECT_AFTER_MESSAGES). Not locked: one receiver per keypair. */
bool kt_replay_accept(struct kt_replay *r, uint64_t counter, uint64_t limit);

#endif
