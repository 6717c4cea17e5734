/* Addresses and prefixes as the configuration and the kernel backends share
 * them: fixed-size, no allocation, family-tagged. */
#ifndef KT_ADDR_H
#define KT_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kt_addr {
	int family;		/* AF_INET or AF_INET6; 0 when unset */
	uint8_t bytes[16];
};

struct kt_prefix {
	struct kt_addr addr;
	uint8_t len;
};

/* Longest text form: an IPv6 address, '/', three digits, NUL. */
#define KT_PREFIX_STRLEN 50

bool kt_addr_parse(const char *s, struct kt_addr *out);
bool kt_prefix_parse(const char *s, struct kt_prefix *out);
size_t kt_addr_size(const struct kt_addr *a);
bool kt_addr_equal(const struct kt_addr *a, const struct kt_addr *b);
bool kt_prefix_equal(const struct kt_prefix *a, const struct kt_prefix *b);
bool kt_prefix_contains(const struct kt_prefix *p, const struct kt_addr *a);
bool kt_prefix_overlap(const struct kt_prefix *a, const struct kt_prefix *b);
/* The prefix with its host bits cleared (10.1.1.1/24 -> 10.1.1.0/24), as
 * the kernel wants a route's destination. */
void kt_prefix_network(const struct kt_prefix *p, struct kt_prefix *out);
/* The prefix as a host route: address with the full length. */
void kt_prefix_host(const struct kt_addr *a, struct kt_prefix *out);
const char *kt_addr_str(const struct kt_addr *a, char *buf, size_t len);
const char *kt_prefix_str(const struct kt_prefix *p, char *buf, size_t len);

#endif
