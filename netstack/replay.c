#include "replay.h"

#include <string.h>

#define NWORDS (KT_REPLAY_BITS / KT_REPLAY_WORD_BITS)

_Static_assert((KT_REPLAY_BITS & (KT_REPLAY_BITS - 1)) == 0,
	       "the ring index is taken with a mask");
_Static_assert(NWORDS >= 2, "the window needs a word besides the one filling");
_Static_assert(KT_REPLAY_WINDOW >= 2000,
	       "the whitepaper asks for about 2000 packets of reordering");

void kt_replay_init(struct kt_replay *r)
{
	memset(r, 0, sizeof(*r));
}

bool kt_replay_accept(struct kt_replay *r, uint64_t counter, uint64_t limit)
{
	uint64_t word = counter / KT_REPLAY_WORD_BITS;
	unsigned long mask = 1UL << (counter % KT_REPLAY_WORD_BITS);
	unsigned long *slot;

	if (counter >= limit)
		return false;
	if (!r->any || counter > r->greatest) {
		/* The ring words past the old top now stand for counters
		 * above anything seen, and still hold bits from a lap ago:
		 * clear them, never more than the whole ring however far the
		 * jump. Before the first packet init left the map clear. */
		if (r->any) {
			uint64_t top = r->greatest / KT_REPLAY_WORD_BITS;
			uint64_t n = word - top;

			if (n > NWORDS)
				n = NWORDS;
			for (uint64_t i = 1; i <= n; i++)
				r->bits[(top + i) & (NWORDS - 1)] = 0;
		}
		r->greatest = counter;
		r->any = true;
	} else if (r->greatest - counter > KT_REPLAY_WINDOW) {
		return false;
	}
	slot = &r->bits[word & (NWORDS - 1)];
	if (*slot & mask)
		return false;
	*slot |= mask;
	return true;
}
