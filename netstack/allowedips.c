#include "allowedips.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Keys are held as two host-order words, most significant bit first, so a
 * prefix test is two masked XORs rather than a byte loop. An IPv4 address
 * sits in the top half of key[0]. */
struct kt_aip_node {
	uint64_t key[2];		/* bits past cidr are zero */
	uint64_t mask[2];
	struct kt_aip_node *child[2];	/* by the bit just past cidr */
	void *peer;			/* NULL: only a branch point */
	uint8_t cidr;
};

static int family_index(int family, unsigned *bits)
{
	if (family == AF_INET) {
		*bits = 32;
		return 0;
	}
	if (family == AF_INET6) {
		*bits = 128;
		return 1;
	}
	return -1;
}

static uint64_t load_be64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static void load_key(int fi, const uint8_t *addr, uint64_t key[2])
{
	if (fi == 0) {
		key[0] = (uint64_t)addr[0] << 56 | (uint64_t)addr[1] << 48 |
			 (uint64_t)addr[2] << 40 | (uint64_t)addr[3] << 32;
		key[1] = 0;
	} else {
		key[0] = load_be64(addr);
		key[1] = load_be64(addr + 8);
	}
}

static void store_key(int fi, const uint64_t key[2], struct kt_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = fi ? AF_INET6 : AF_INET;
	for (int i = 0; i < (fi ? 16 : 4); i++)
		out->bytes[i] = (uint8_t)(key[i / 8] >> (56 - 8 * (i % 8)));
}

static void make_mask(unsigned len, uint64_t mask[2])
{
	/* Shifting a 64-bit value by 64 is undefined, hence the cases. */
	if (len == 0) {
		mask[0] = mask[1] = 0;
	} else if (len <= 64) {
		mask[0] = ~0ULL << (64 - len);
		mask[1] = 0;
	} else {
		mask[0] = ~0ULL;
		mask[1] = ~0ULL << (128 - len);
	}
}

static unsigned bit_at(const uint64_t key[2], unsigned i)
{
	if (i < 64)
		return (unsigned)(key[0] >> (63 - i)) & 1;
	if (i < 128)
		return (unsigned)(key[1] >> (127 - i)) & 1;
	return 0;	/* past a host route: such a node has no children */
}

static bool node_matches(const struct kt_aip_node *n, const uint64_t key[2])
{
	return !(((key[0] ^ n->key[0]) & n->mask[0]) |
		 ((key[1] ^ n->key[1]) & n->mask[1]));
}

/* Leading bits a and b share, at most cap. */
static unsigned common_bits(const uint64_t a[2], const uint64_t b[2],
			    unsigned cap)
{
	uint64_t x0 = a[0] ^ b[0], x1 = a[1] ^ b[1];
	unsigned n;

	if (x0)
		n = (unsigned)__builtin_clzll(x0);
	else if (x1)
		n = 64 + (unsigned)__builtin_clzll(x1);
	else
		n = 128;
	return n < cap ? n : cap;
}

static struct kt_aip_node *node_new(const uint64_t key[2], unsigned cidr,
				    void *peer)
{
	struct kt_aip_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	make_mask(cidr, n->mask);
	n->key[0] = key[0] & n->mask[0];
	n->key[1] = key[1] & n->mask[1];
	n->cidr = (uint8_t)cidr;
	n->peer = peer;
	return n;
}

/* A node without a peer only earns its place by joining two subtrees;
 * once it has fewer, its child (or nothing) takes its slot. */
static void collapse(struct kt_aip_node **slot)
{
	struct kt_aip_node *n = *slot;

	if (!n || n->peer || (n->child[0] && n->child[1]))
		return;
	*slot = n->child[0] ? n->child[0] : n->child[1];
	free(n);
}

/* The recursive helpers below go at most one call per trie level, and a
 * level per prefix length at most: 129 deep for IPv6. */
static void free_tree(struct kt_aip_node *n)
{
	if (!n)
		return;
	free_tree(n->child[0]);
	free_tree(n->child[1]);
	free(n);
}

static void prune(struct kt_aip_node **slot, const void *peer, size_t *count)
{
	struct kt_aip_node *n = *slot;

	if (!n)
		return;
	prune(&n->child[0], peer, count);
	prune(&n->child[1], peer, count);
	if (n->peer == peer) {
		n->peer = NULL;
		(*count)--;
	}
	collapse(slot);
}

static void walk(const struct kt_aip_node *n, int fi, const void *peer,
		 void (*fn)(void *arg, const struct kt_prefix *p), void *arg)
{
	for (; n; n = n->child[1]) {
		if (n->peer == peer) {
			struct kt_prefix p;

			store_key(fi, n->key, &p.addr);
			p.len = n->cidr;
			fn(arg, &p);
		}
		walk(n->child[0], fi, peer, fn, arg);
	}
}

int kt_allowedips_init(struct kt_allowedips *a)
{
	memset(a, 0, sizeof(*a));
	return 0;
}

void kt_allowedips_uninit(struct kt_allowedips *a)
{
	free_tree(a->root[0]);
	free_tree(a->root[1]);
	memset(a, 0, sizeof(*a));
}

/* The prefix as a trie key: its family's index, host bits cleared. */
static int prefix_key(const struct kt_prefix *p, uint64_t key[2], int *fi)
{
	uint64_t mask[2];
	unsigned bits;

	*fi = family_index(p->addr.family, &bits);
	if (*fi < 0)
		return -EAFNOSUPPORT;
	if (p->len > bits)
		return -EINVAL;
	load_key(*fi, p->addr.bytes, key);
	make_mask(p->len, mask);
	key[0] &= mask[0];
	key[1] &= mask[1];
	return 0;
}

int kt_allowedips_insert(struct kt_allowedips *a, const struct kt_prefix *p,
			 void *peer)
{
	struct kt_aip_node **slot, *n, *leaf, *glue;
	uint64_t key[2];
	unsigned len = p->len, common = 0;
	int fi, err = prefix_key(p, key, &fi);

	if (err)
		return err;
	if (!peer)
		return -EINVAL;

	slot = &a->root[fi];
	while ((n = *slot)) {
		common = common_bits(n->key, key, n->cidr < len ? n->cidr : len);
		if (common < n->cidr)
			break;
		if (n->cidr == len) {
			if (!n->peer)
				a->count++;
			n->peer = peer;
			return 0;
		}
		slot = &n->child[bit_at(key, n->cidr)];
	}

	leaf = node_new(key, len, peer);
	if (!leaf)
		return -ENOMEM;
	if (!n) {
		*slot = leaf;
	} else if (common == len) {
		/* The new prefix covers the node: it goes above it. */
		leaf->child[bit_at(n->key, len)] = n;
		*slot = leaf;
	} else {
		/* They part at bit `common`: a branch point joins them. */
		glue = node_new(key, common, NULL);
		if (!glue) {
			free(leaf);
			return -ENOMEM;
		}
		glue->child[bit_at(key, common)] = leaf;
		glue->child[bit_at(n->key, common)] = n;
		*slot = glue;
	}
	a->count++;
	return 0;
}

int kt_allowedips_remove(struct kt_allowedips *a, const struct kt_prefix *p)
{
	struct kt_aip_node **slot, **parent = NULL, *n;
	uint64_t key[2];
	unsigned len = p->len;
	int fi, err = prefix_key(p, key, &fi);

	if (err)
		return err;

	slot = &a->root[fi];
	while ((n = *slot)) {
		if (n->cidr > len || !node_matches(n, key))
			return -ENOENT;
		if (n->cidr == len)
			break;
		parent = slot;
		slot = &n->child[bit_at(key, n->cidr)];
	}
	if (!n || !n->peer)
		return -ENOENT;
	n->peer = NULL;
	a->count--;
	/* Only the node and its parent can have lost their reason to be. */
	collapse(slot);
	if (parent)
		collapse(parent);
	return 0;
}

void kt_allowedips_remove_peer(struct kt_allowedips *a, const void *peer)
{
	if (!peer)
		return;
	prune(&a->root[0], peer, &a->count);
	prune(&a->root[1], peer, &a->count);
}

void *kt_allowedips_lookup(const struct kt_allowedips *a, int family,
			   const uint8_t *addr)
{
	const struct kt_aip_node *n;
	uint64_t key[2];
	unsigned bits;
	void *best = NULL;
	int fi = family_index(family, &bits);

	if (fi < 0 || !addr)
		return NULL;
	load_key(fi, addr, key);
	for (n = a->root[fi]; n && node_matches(n, key);
	     n = n->child[bit_at(key, n->cidr)]) {
		if (n->peer)
			best = n->peer;
	}
	return best;
}

void kt_allowedips_walk_peer(const struct kt_allowedips *a, const void *peer,
			     void (*fn)(void *arg, const struct kt_prefix *p),
			     void *arg)
{
	if (!peer)
		return;
	walk(a->root[0], 0, peer, fn, arg);
	walk(a->root[1], 1, peer, fn, arg);
}

size_t kt_allowedips_count(const struct kt_allowedips *a)
{
	return a->count;
}
