/* libFuzzer target: the input is a program of insert, remove, remove_peer
 * and lookup operations on the cryptokey routing table
 * (netstack/allowedips.c). Every lookup and the count are checked against
 * a plain list scanned in full; a disagreement aborts.
 *
 * Each operation: one byte (bits 0-1 the operation, bit 2 IPv6, bits 3-5
 * the peer), then for insert, remove and lookup a byte n and n % (size+1)
 * address bytes, the rest zero (short addresses make nesting prefixes
 * easy to reach), then for insert and remove a prefix length byte. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../../netstack/allowedips.h"

#define MAXREF 4096

struct entry {
	uint8_t bytes[16];
	unsigned len;
	int family;
	int peer;
};

static struct entry ref[MAXREF];
static size_t nref;
static char peers[8];

static bool covers(const uint8_t *p, unsigned len, const uint8_t *a)
{
	for (unsigned i = 0; i < len; i++) {
		unsigned bit = 0x80u >> (i % 8);

		if ((p[i / 8] ^ a[i / 8]) & bit)
			return false;
	}
	return true;
}

static void clear_host_bits(uint8_t *b, unsigned len)
{
	for (unsigned i = len; i < 128; i++)
		b[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
}

static size_t ref_find(int family, const uint8_t *b, unsigned len)
{
	size_t i;

	for (i = 0; i < nref; i++)
		if (ref[i].family == family && ref[i].len == len &&
		    !memcmp(ref[i].bytes, b, 16))
			break;
	return i;
}

static int ref_lookup(int family, const uint8_t *a)
{
	int best = -1, best_len = -1;

	for (size_t i = 0; i < nref; i++)
		if (ref[i].family == family && (int)ref[i].len > best_len &&
		    covers(ref[i].bytes, ref[i].len, a)) {
			best_len = (int)ref[i].len;
			best = ref[i].peer;
		}
	return best;
}

static void walk_count(void *arg, const struct kt_prefix *p)
{
	(void)p;
	++*(size_t *)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *end = data + size;
	struct kt_allowedips a;

	nref = 0;
	kt_allowedips_init(&a);
	while (data < end) {
		uint8_t op = *data++;
		int family = op & 4 ? AF_INET6 : AF_INET;
		unsigned bits = family == AF_INET6 ? 128 : 32, len = 0, n = 0;
		int peer = (op >> 3) & 7, want;
		uint8_t b[16] = { 0 };
		struct kt_prefix p;
		size_t i;

		if ((op & 3) == 3) {
			kt_allowedips_remove_peer(&a, &peers[peer]);
			for (i = 0; i < nref;)
				if (ref[i].peer == peer)
					ref[i] = ref[--nref];
				else
					i++;
			goto check;
		}
		if (data < end)
			n = *data++ % (bits / 8 + 1);
		for (i = 0; i < n && data < end; i++)
			b[i] = *data++;
		if ((op & 3) == 2) {
			void *got = kt_allowedips_lookup(&a, family, b);

			want = ref_lookup(family, b);
			if (got != (want < 0 ? NULL : &peers[want]))
				abort();
			continue;
		}
		if (data < end)
			len = *data++ % (bits + 1);
		memset(&p, 0, sizeof(p));
		p.addr.family = family;
		memcpy(p.addr.bytes, b, 16);
		p.len = (uint8_t)len;
		clear_host_bits(b, len);
		i = ref_find(family, b, len);
		if ((op & 3) == 0) {
			if (i == nref && nref == MAXREF)
				continue;
			if (kt_allowedips_insert(&a, &p, &peers[peer]))
				abort();
			if (i == nref) {
				memcpy(ref[i].bytes, b, 16);
				ref[i].len = len;
				ref[i].family = family;
				nref++;
			}
			ref[i].peer = peer;
		} else {
			int r = kt_allowedips_remove(&a, &p);

			if ((r == 0) != (i < nref))
				abort();
			if (i < nref)
				ref[i] = ref[--nref];
		}
check:
		if (kt_allowedips_count(&a) != nref)
			abort();
	}
	for (int peer = 0; peer < 8; peer++) {
		size_t got = 0, want = 0;

		kt_allowedips_walk_peer(&a, &peers[peer], walk_count, &got);
		for (size_t i = 0; i < nref; i++)
			want += ref[i].peer == peer;
		if (got != want)
			abort();
	}
	kt_allowedips_uninit(&a);
	return 0;
}
