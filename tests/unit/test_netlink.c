/* The rtnetlink notification parser of the Linux backend, on buffers
 * built here: no kernel involved. */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "sys.h"
#include "unit.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif

static struct sys_link seen[4];
static size_t n_seen;

static void on_link(void *arg, const struct sys_link *l, bool removed)
{
	(void)arg;
	(void)removed;
	if (n_seen < ARRAY_SIZE(seen))
		seen[n_seen] = *l;
	n_seen++;
}

/* One RTM_NEWLINK with IFLA_IFNAME (and IFLA_MTU) into buf; its length. */
static size_t newlink(uint8_t *buf, int ifindex, unsigned flags, const char *name,
		      bool with_mtu)
{
	struct nlmsghdr *h = (struct nlmsghdr *)(void *)buf;
	struct ifinfomsg *ifi = (struct ifinfomsg *)(void *)(buf + NLMSG_HDRLEN);
	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*ifi));
	struct rtattr *a = (struct rtattr *)(void *)(buf + off);

	memset(buf, 0, 256);
	h->nlmsg_type = RTM_NEWLINK;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = flags;
	a->rta_type = IFLA_IFNAME;
	a->rta_len = (unsigned short)RTA_LENGTH(strlen(name) + 1);
	strcpy((char *)RTA_DATA(a), name);
	off += RTA_ALIGN(a->rta_len);
	if (with_mtu) {
		a = (struct rtattr *)(void *)(buf + off);
		a->rta_type = IFLA_MTU;
		a->rta_len = RTA_LENGTH(4);
		*(uint32_t *)RTA_DATA(a) = 1400;
		off += RTA_ALIGN(a->rta_len);
	}
	h->nlmsg_len = (uint32_t)off;
	return off;
}

static void test_good(void **state)
{
	static uint32_t words[128];
	uint8_t *buf = (uint8_t *)words;
	size_t len;

	(void)state;
	n_seen = 0;
	len = newlink(buf, 7, IFF_UP | IFF_LOWER_UP, "wan1", true);
	len += newlink(buf + len, 8, IFF_UP, "wan2", false);
	assert_int_equal(sys_linux_parse_events(buf, len, on_link, NULL), 0);
	assert_int_equal(n_seen, 2);
	assert_string_equal(seen[0].name, "wan1");
	assert_int_equal(seen[0].ifindex, 7);
	assert_true(seen[0].carrier);
	assert_int_equal(seen[0].mtu, 1400);
	assert_string_equal(seen[1].name, "wan2");
	assert_false(seen[1].carrier);
}

static void test_bad(void **state)
{
	static uint32_t words[128];
	uint8_t *buf = (uint8_t *)words;
	struct nlmsghdr *h = (struct nlmsghdr *)(void *)buf;
	size_t len;

	(void)state;
	/* Length past 2^31: libmnl alone would walk off the buffer. */
	n_seen = 0;
	len = newlink(buf, 1, 0, "x", false);
	h->nlmsg_len = 0xd4ffffd4;
	assert_int_equal(sys_linux_parse_events(buf, len, on_link, NULL), -EBADMSG);
	/* Longer than the buffer, shorter than a header, truncated header. */
	h->nlmsg_len = (uint32_t)len + 4;
	assert_int_equal(sys_linux_parse_events(buf, len, on_link, NULL), -EBADMSG);
	h->nlmsg_len = 8;
	assert_int_equal(sys_linux_parse_events(buf, len, on_link, NULL), -EBADMSG);
	assert_int_equal(sys_linux_parse_events(buf, 10, on_link, NULL), -EBADMSG);
	assert_int_equal(n_seen, 0);
	/* A notification without a name is skipped, not trusted. */
	len = newlink(buf, 1, 0, "x", false);
	h->nlmsg_len = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ifinfomsg));
	assert_int_equal(sys_linux_parse_events(buf, h->nlmsg_len, on_link, NULL), 0);
	assert_int_equal(n_seen, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests_name("netlink", tests, NULL, NULL);
}
