/* Cryptokey routing (whitepaper §2): the peer whose allowed IPs hold the
 * longest prefix matching an inner address. One path-compressed binary
 * trie per family, so a lookup visits at most one node per address bit
 * (33 for IPv4, 129 for IPv6) whatever the number of prefixes. */
#ifndef KT_ALLOWEDIPS_H
#define KT_ALLOWEDIPS_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct kt_aip_node;

struct kt_allowedips {
	struct kt_aip_node *root[2];	/* IPv4, IPv6 */
	size_t count;			/* prefixes mapped to a peer */
};

int kt_allowedips_init(struct kt_allowedips *a);
void kt_allowedips_uninit(struct kt_allowedips *a);
/* Inserts or replaces: a prefix maps to exactly one peer, so inserting it
 * again moves it to the new peer. Host bits past len are ignored. Peer
 * must not be NULL. Allocates up to two nodes: 0, -EINVAL, -EAFNOSUPPORT
 * or -ENOMEM (the table is then unchanged). */
int kt_allowedips_insert(struct kt_allowedips *a, const struct kt_prefix *p,
			 void *peer);
/* 0, or -ENOENT if the prefix (after masking) is not in the table. */
int kt_allowedips_remove(struct kt_allowedips *a, const struct kt_prefix *p);
void kt_allowedips_remove_peer(struct kt_allowedips *a, const void *peer);
/* Longest match for an AF_INET (4 bytes) or AF_INET6 (16 bytes) address;
 * NULL if none or for another family. No allocation and no writes, so
 * lookups may run side by side while nothing changes the table. */
void *kt_allowedips_lookup(const struct kt_allowedips *a, int family,
			   const uint8_t *addr);
/* Calls fn for each prefix of peer, shortest first along each branch. fn
 * must not change the table. */
void kt_allowedips_walk_peer(const struct kt_allowedips *a, const void *peer,
			     void (*fn)(void *arg, const struct kt_prefix *p),
			     void *arg);
size_t kt_allowedips_count(const struct kt_allowedips *a);

#endif
