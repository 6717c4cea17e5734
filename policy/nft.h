/* The policy compiled to nftables (docs/policy.md, "In the kernel").
 *
 * kt_nft_build turns a checked policy into one netlink batch that
 * replaces the table "inet kyoten" whole: the table is created if absent,
 * deleted and created again with every chain, map, element and rule
 * inside the same batch, so the kernel runs the old ruleset or the new
 * one, never a mix, and a batch the kernel refuses changes nothing.
 * Building touches no kernel state; kt_nft_commit is the only kernel
 * write and belongs to the privileged parent.
 *
 * Classification does not grow with the number of flows: each chain
 * looks the packet up once per address family in an interval verdict map
 * keyed on (interface, addresses, protocol, port), whose elements are the
 * flows made disjoint. */
#ifndef KT_NFT_H
#define KT_NFT_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

#define KT_NFT_TABLE "kyoten"

struct kt_nft_opts {
	uint32_t nflog_group;		/* denied and logged packets */
	uint32_t deny_log_rate;		/* denied packets logged per second */
	/* The table's comment (shown by `nft list`): kyotend's tag of the
	 * generation it applied, read back at start to adopt the table.
	 * NULL: none. At most KT_NFT_COMMENT_MAX - 1 bytes. */
	const char *comment;
	/* Tests only: end the batch with a rule the kernel refuses, to show
	 * that a refused batch leaves the running ruleset as it was. */
	bool fail_last;
};

struct kt_nft_stats {
	size_t elements;		/* map elements after making flows disjoint */
	size_t messages;		/* netlink messages in the batch */
	size_t bytes;			/* batch size */
};

struct kt_nft_batch;

/* 0 or -ENOMEM; err says what failed. */
int kt_nft_build(const struct kt_policy *p, const struct kt_nft_opts *o,
		 struct kt_nft_batch **out, struct kt_nft_stats *stats);
/* Sends the batch in one sendmsg and checks every acknowledgement. 0, or
 * the kernel's negative errno with err naming the refused object. */
int kt_nft_commit(struct kt_nft_batch *b, char *err, size_t errlen);
void kt_nft_free(struct kt_nft_batch *b);

/* Build and commit. */
int kt_nft_apply(const struct kt_policy *p, const struct kt_nft_opts *o,
		 struct kt_nft_stats *stats, char *err, size_t errlen);

/* The defaults from Kconfig. */
void kt_nft_opts_default(struct kt_nft_opts *o);

/* --- the table's comment (nfttag.c) --- */

#define KT_NFT_COMMENT_MAX 128
/* The shape of the table this compiler writes (chains, map keys). A
 * change of it changes the tag kyotend puts on the table, so that a box
 * upgraded to a new compiler applies its generation again at start
 * instead of adopting a table the old one wrote. 2: maps keyed address
 * and port first. */
#define KT_NFT_FORMAT 2

struct nftnl_table;
/* Sets the comment as nft writes it (a NFTNL_UDATA_TABLE_COMMENT record
 * in the table's user data). 0 or -ENOMEM / -EINVAL (too long). */
int kt_nft_set_comment(struct nftnl_table *t, const char *comment);
/* Reads the comment of table inet kyoten from the kernel: 0 with the
 * comment ("" when it has none), -ENOENT when there is no such table, or
 * another negative errno with err saying what failed. */
int kt_nft_get_comment(char *out, size_t len, char *err, size_t errlen);
/* Removes table inet kyoten (nothing if there is none). */
int kt_nft_remove_table(char *err, size_t errlen);

#endif
