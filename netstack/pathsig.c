/* Path signals (pathsig.h says what and why). Written by hand: 32 bytes
 * of fixed layout, for which no library would be smaller than the code. */
#include "pathsig.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static const char *const bad_names[KT_PATHSIG_BAD_COUNT] = {
	[KT_PATHSIG_BAD_LENGTH] = "length",
	[KT_PATHSIG_BAD_VERSION] = "version",
	[KT_PATHSIG_BAD_TYPE] = "type",
	[KT_PATHSIG_BAD_REASON] = "reason",
	[KT_PATHSIG_BAD_FAMILY] = "address-family",
	[KT_PATHSIG_BAD_PADDING] = "padding",
	[KT_PATHSIG_BAD_ADDRESS] = "address",
};

const char *kt_pathsig_bad_name(unsigned bad)
{
	return bad < KT_PATHSIG_BAD_COUNT && bad_names[bad] ? bad_names[bad] : "?";
}

const char *kt_pathsig_reason_name(unsigned reason)
{
	switch (reason) {
	case KT_PATHSIG_CARRIER:
		return "carrier loss";
	case KT_PATHSIG_ADMIN:
		return "administratively down";
	default:
		return "?";
	}
}

static int addr_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

/* An address a path can end at: not unspecified, not multicast. */
static int usable(const struct kt_addr *a)
{
	static const uint8_t zero[16];
	int n = addr_len(a->family);

	if (!n || !memcmp(a->bytes, zero, (size_t)n))
		return 0;
	if (a->family == AF_INET)
		return a->bytes[0] < 224;
	return a->bytes[0] != 0xff;
}

int kt_pathsig_build(const struct kt_pathsig *sig, uint8_t out[KT_PATHSIG_LEN])
{
	int n = addr_len(sig->addr.family);

	if (sig->type != KT_PATHSIG_DOWN || !n || !usable(&sig->addr) ||
	    (sig->reason != KT_PATHSIG_CARRIER && sig->reason != KT_PATHSIG_ADMIN))
		return -EINVAL;
	memset(out, 0, KT_PATHSIG_LEN);
	out[0] = KT_PATHSIG_FORMAT;
	out[1] = sig->type;
	out[2] = sig->reason;
	out[3] = n == 4 ? 4 : 6;
	out[4] = (uint8_t)(sig->seq >> 24);
	out[5] = (uint8_t)(sig->seq >> 16);
	out[6] = (uint8_t)(sig->seq >> 8);
	out[7] = (uint8_t)sig->seq;
	memcpy(out + 8, sig->addr.bytes, (size_t)n);
	return 0;
}

int kt_pathsig_parse(const uint8_t *buf, size_t len, struct kt_pathsig *sig)
{
	struct kt_pathsig s = { 0 };
	int n;

	if (len != KT_PATHSIG_LEN)
		return -KT_PATHSIG_BAD_LENGTH;
	if (buf[0] != KT_PATHSIG_FORMAT)
		return -KT_PATHSIG_BAD_VERSION;
	if (buf[1] != KT_PATHSIG_DOWN)
		return -KT_PATHSIG_BAD_TYPE;
	if (buf[2] != KT_PATHSIG_CARRIER && buf[2] != KT_PATHSIG_ADMIN)
		return -KT_PATHSIG_BAD_REASON;
	if (buf[3] != 4 && buf[3] != 6)
		return -KT_PATHSIG_BAD_FAMILY;
	s.addr.family = buf[3] == 4 ? AF_INET : AF_INET6;
	n = addr_len(s.addr.family);
	for (size_t i = 8 + (size_t)n; i < KT_PATHSIG_LEN; i++)
		if (buf[i])
			return -KT_PATHSIG_BAD_PADDING;
	memcpy(s.addr.bytes, buf + 8, (size_t)n);
	if (!usable(&s.addr))
		return -KT_PATHSIG_BAD_ADDRESS;
	s.type = buf[1];
	s.reason = buf[2];
	s.seq = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 |
		(uint32_t)buf[6] << 8 | buf[7];
	*sig = s;
	return 0;
}
