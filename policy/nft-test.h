/* For tests only (tests/unit/test_policy_nft_split.c): what kt_nft_build
 * put into the flow maps, read without parsing the netlink batch back.
 * The firmware never calls this. */
#ifndef KT_NFT_TEST_H
#define KT_NFT_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nft.h"

#define KT_NFT_TEST_KEY_MAX 64

struct kt_nft_test_elem {
	/* The interval's two ends as the batch carries them: the key's
	 * fields in order (nft.h), each at a 32-bit boundary, zero-padded. */
	uint8_t key[KT_NFT_TEST_KEY_MAX], key_end[KT_NFT_TEST_KEY_MAX];
	bool log;			/* jump log-accept, else accept */
};

/* Flow map MAP ("fwd4", "fwd6", "brk4", "brk6", "in4", "in6", "out4",
 * "out6"): with split, its elements (the flows made disjoint); without,
 * the flows' boxes before, in the order they were cut (logged flows
 * first). Returns how many there are, copying number i into out when out
 * is not NULL and i is below that; -1 when there is no such map. */
long kt_nft_test_elem(const struct kt_nft_batch *b, const char *map,
		      bool split, size_t i, struct kt_nft_test_elem *out);

#endif
