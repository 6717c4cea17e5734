/* Path signals (netstack/pathsig.c): what is built parses back, and
 * every malformed field is refused with its own reason. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "pathsig.h"
#include "unit.h"

static struct kt_pathsig v4(const char *a)
{
	struct kt_pathsig s = { .type = KT_PATHSIG_DOWN, .reason = KT_PATHSIG_CARRIER,
				.seq = 0x01020304 };

	s.addr.family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, a, s.addr.bytes), 1);
	return s;
}

static void test_round_trip(void **state)
{
	struct kt_pathsig in = v4("100.64.0.2"), out;
	uint8_t pkt[KT_PATHSIG_LEN];
	static const uint8_t want[KT_PATHSIG_LEN] = {
		0x01, 1, 1, 4, 1, 2, 3, 4, 100, 64, 0, 2,
	};

	(void)state;
	assert_int_equal(kt_pathsig_build(&in, pkt), 0);
	assert_memory_equal(pkt, want, sizeof(want));
	assert_true(kt_pathsig_is(pkt, sizeof(pkt)));
	assert_int_equal(kt_pathsig_parse(pkt, sizeof(pkt), &out), 0);
	assert_int_equal(out.type, KT_PATHSIG_DOWN);
	assert_int_equal(out.reason, KT_PATHSIG_CARRIER);
	assert_int_equal(out.seq, 0x01020304);
	assert_true(kt_addr_equal(&out.addr, &in.addr));

	memset(&in, 0, sizeof(in));
	in.type = KT_PATHSIG_DOWN;
	in.reason = KT_PATHSIG_ADMIN;
	in.addr.family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::2", in.addr.bytes), 1);
	assert_int_equal(kt_pathsig_build(&in, pkt), 0);
	assert_int_equal(pkt[3], 6);
	assert_int_equal(kt_pathsig_parse(pkt, sizeof(pkt), &out), 0);
	assert_true(kt_addr_equal(&out.addr, &in.addr));
	assert_string_equal(kt_pathsig_reason_name(out.reason), "administratively down");
}

static void test_not_ip(void **state)
{
	static const uint8_t ip4[1] = { 0x45 }, ip6[1] = { 0x60 };

	(void)state;
	assert_false(kt_pathsig_is(ip4, 1));
	assert_false(kt_pathsig_is(ip6, 1));
	assert_false(kt_pathsig_is(ip4, 0));
}

static void test_build_refuses(void **state)
{
	struct kt_pathsig s;
	uint8_t pkt[KT_PATHSIG_LEN];

	(void)state;
	s = v4("100.64.0.2");
	s.type = 2;
	assert_int_equal(kt_pathsig_build(&s, pkt), -EINVAL);
	s = v4("100.64.0.2");
	s.reason = 0;
	assert_int_equal(kt_pathsig_build(&s, pkt), -EINVAL);
	s = v4("0.0.0.0");
	assert_int_equal(kt_pathsig_build(&s, pkt), -EINVAL);
	s = v4("224.0.0.1");
	assert_int_equal(kt_pathsig_build(&s, pkt), -EINVAL);
	s = v4("100.64.0.2");
	s.addr.family = 0;
	assert_int_equal(kt_pathsig_build(&s, pkt), -EINVAL);
}

static void test_parse_refuses(void **state)
{
	static const struct {
		size_t at;		/* byte changed; SIZE_MAX: length */
		uint8_t value;
		int bad;
	} cases[] = {
		{ 0, 0x02, KT_PATHSIG_BAD_VERSION },
		{ 0, 0x11, KT_PATHSIG_BAD_VERSION },
		{ 1, 0, KT_PATHSIG_BAD_TYPE },
		{ 1, 2, KT_PATHSIG_BAD_TYPE },
		{ 2, 0, KT_PATHSIG_BAD_REASON },
		{ 2, 3, KT_PATHSIG_BAD_REASON },
		{ 3, 5, KT_PATHSIG_BAD_FAMILY },
		{ 3, 0, KT_PATHSIG_BAD_FAMILY },
		{ 12, 1, KT_PATHSIG_BAD_PADDING },
		{ 23, 1, KT_PATHSIG_BAD_PADDING },
		{ 31, 1, KT_PATHSIG_BAD_PADDING },
		{ 8, 0, KT_PATHSIG_BAD_ADDRESS },	/* with the rest: 0.64.0.2 is fine */
		{ 8, 239, KT_PATHSIG_BAD_ADDRESS },
	};
	struct kt_pathsig s = v4("100.64.0.2"), out, keep;
	uint8_t good[KT_PATHSIG_LEN], pkt[KT_PATHSIG_LEN + 1];

	(void)state;
	assert_int_equal(kt_pathsig_build(&s, good), 0);
	memset(&keep, 0xa5, sizeof(keep));
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int err;

		memcpy(pkt, good, sizeof(good));
		pkt[cases[i].at] = cases[i].value;
		out = keep;
		err = kt_pathsig_parse(pkt, KT_PATHSIG_LEN, &out);
		/* 0.64.0.2 is a usable address: only an all-zero one is not. */
		if (cases[i].at == 8 && cases[i].value == 0) {
			assert_int_equal(err, 0);
			continue;
		}
		if (err != -cases[i].bad)
			fail_msg("case %zu: got %d, want -%d (%s)", i, err, cases[i].bad,
				 kt_pathsig_bad_name((unsigned)cases[i].bad));
		/* Refused: nothing written. */
		assert_memory_equal(&out, &keep, sizeof(out));
	}
	/* All-zero address. */
	memcpy(pkt, good, sizeof(good));
	memset(pkt + 8, 0, 4);
	assert_int_equal(kt_pathsig_parse(pkt, KT_PATHSIG_LEN, &out), -KT_PATHSIG_BAD_ADDRESS);
	/* IPv6 multicast. */
	memset(pkt + 8, 0, 16);
	pkt[3] = 6;
	pkt[8] = 0xff;
	pkt[23] = 1;
	assert_int_equal(kt_pathsig_parse(pkt, KT_PATHSIG_LEN, &out), -KT_PATHSIG_BAD_ADDRESS);
	/* Lengths either side. */
	memcpy(pkt, good, sizeof(good));
	pkt[KT_PATHSIG_LEN] = 0;
	assert_int_equal(kt_pathsig_parse(pkt, KT_PATHSIG_LEN - 1, &out), -KT_PATHSIG_BAD_LENGTH);
	assert_int_equal(kt_pathsig_parse(pkt, KT_PATHSIG_LEN + 1, &out), -KT_PATHSIG_BAD_LENGTH);
	assert_int_equal(kt_pathsig_parse(pkt, 0, &out), -KT_PATHSIG_BAD_LENGTH);
	assert_string_equal(kt_pathsig_bad_name(KT_PATHSIG_BAD_PADDING), "padding");
	assert_string_equal(kt_pathsig_bad_name(99), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_not_ip),
		cmocka_unit_test(test_build_refuses),
		cmocka_unit_test(test_parse_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
