#include "addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t kt_addr_size(const struct kt_addr *a)
{
	return a->family == AF_INET6 ? 16 : a->family == AF_INET ? 4 : 0;
}

bool kt_addr_parse(const char *s, struct kt_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->bytes) == 1) {
		out->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, out->bytes) == 1) {
		out->family = AF_INET6;
		return true;
	}
	return false;
}

bool kt_prefix_parse(const char *s, struct kt_prefix *out)
{
	char buf[KT_PREFIX_STRLEN];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	char *end;
	long len;

	memset(out, 0, sizeof(*out));
	if (!slash || n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!kt_addr_parse(buf, &out->addr))
		return false;
	/* strtol would accept " 24" or "+24"; a prefix length is digits only. */
	if (slash[1] < '0' || slash[1] > '9')
		return false;
	len = strtol(slash + 1, &end, 10);
	if (*end || len < 0 || (size_t)len > kt_addr_size(&out->addr) * 8)
		return false;
	out->len = (uint8_t)len;
	return true;
}

bool kt_addr_equal(const struct kt_addr *a, const struct kt_addr *b)
{
	return a->family == b->family &&
	       !memcmp(a->bytes, b->bytes, kt_addr_size(a));
}

bool kt_prefix_equal(const struct kt_prefix *a, const struct kt_prefix *b)
{
	return a->len == b->len && kt_addr_equal(&a->addr, &b->addr);
}

static bool match_bits(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full))
		return false;
	if (!rest)
		return true;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool kt_prefix_contains(const struct kt_prefix *p, const struct kt_addr *a)
{
	return p->addr.family == a->family &&
	       match_bits(p->addr.bytes, a->bytes, p->len);
}

bool kt_prefix_overlap(const struct kt_prefix *a, const struct kt_prefix *b)
{
	if (a->addr.family != b->addr.family)
		return false;
	return match_bits(a->addr.bytes, b->addr.bytes,
			  a->len < b->len ? a->len : b->len);
}

void kt_prefix_network(const struct kt_prefix *p, struct kt_prefix *out)
{
	size_t n = kt_addr_size(&p->addr);

	*out = *p;
	for (size_t i = 0; i < n; i++) {
		unsigned keep = p->len > i * 8 ? p->len - i * 8 : 0;

		if (keep < 8)
			out->addr.bytes[i] &= (uint8_t)(0xff00u >> keep);
	}
}

void kt_prefix_host(const struct kt_addr *a, struct kt_prefix *out)
{
	out->addr = *a;
	out->len = (uint8_t)(kt_addr_size(a) * 8);
}

const char *kt_addr_str(const struct kt_addr *a, char *buf, size_t len)
{
	if (!a->family || !inet_ntop(a->family, a->bytes, buf, (socklen_t)len))
		snprintf(buf, len, "-");
	return buf;
}

const char *kt_prefix_str(const struct kt_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!p->addr.family)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%s/%u", kt_addr_str(&p->addr, a, sizeof(a)),
			 p->len);
	return buf;
}
