#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "unit.h"

static void test_prefix_parse_table(void **state)
{
	static const struct {
		const char *in;
		bool ok;
		int family;
		unsigned len;
	} cases[] = {
		{ "192.0.2.1/24", true, AF_INET, 24 },
		{ "192.0.2.1/32", true, AF_INET, 32 },
		{ "0.0.0.0/0", true, AF_INET, 0 },
		{ "2001:db8::1/64", true, AF_INET6, 64 },
		{ "2001:db8::1/128", true, AF_INET6, 128 },
		{ "192.0.2.1/33", false, 0, 0 },
		{ "2001:db8::1/129", false, 0, 0 },
		{ "192.0.2.1", false, 0, 0 },
		{ "192.0.2.1/", false, 0, 0 },
		{ "192.0.2.1/ 24", false, 0, 0 },
		{ "192.0.2.1/+24", false, 0, 0 },
		{ "192.0.2.1/24x", false, 0, 0 },
		{ "/24", false, 0, 0 },
		{ "300.0.2.1/24", false, 0, 0 },
		{ "host.example/24", false, 0, 0 },
		{ "", false, 0, 0 },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kt_prefix p;
		bool ok = kt_prefix_parse(cases[i].in, &p);

		if (ok != cases[i].ok)
			fail_msg("case %zu '%s': got %d", i, cases[i].in, ok);
		if (ok) {
			assert_int_equal(p.addr.family, cases[i].family);
			assert_int_equal(p.len, cases[i].len);
		}
	}
}

static void test_contains_overlap(void **state)
{
	static const struct {
		const char *a, *b;
		bool overlap;
	} cases[] = {
		{ "10.1.1.0/24", "10.1.1.128/25", true },
		{ "10.1.1.0/24", "10.1.2.0/24", false },
		{ "10.0.0.0/8", "10.255.0.1/32", true },
		{ "10.1.1.0/25", "10.1.1.128/25", false },
		{ "0.0.0.0/0", "192.0.2.0/24", true },
		{ "2001:db8::/32", "2001:db8:1::/48", true },
		{ "2001:db8::/32", "2001:db9::/32", false },
		{ "10.0.0.0/8", "2001:db8::/32", false },
		{ "100.64.1.2/30", "100.64.1.1/30", true },
		{ "100.64.1.2/30", "100.64.1.5/30", false },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kt_prefix a, b;

		assert_true(kt_prefix_parse(cases[i].a, &a));
		assert_true(kt_prefix_parse(cases[i].b, &b));
		if (kt_prefix_overlap(&a, &b) != cases[i].overlap ||
		    kt_prefix_overlap(&b, &a) != cases[i].overlap)
			fail_msg("case %zu: %s vs %s", i, cases[i].a, cases[i].b);
	}
}

static void test_str_round_trip(void **state)
{
	static const char *const in[] = {
		"192.0.2.1/24", "2001:db8::1/64", "0.0.0.0/0", "::/0",
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
		struct kt_prefix p;
		char buf[KT_PREFIX_STRLEN];

		assert_true(kt_prefix_parse(in[i], &p));
		assert_string_equal(kt_prefix_str(&p, buf, sizeof(buf)), in[i]);
	}
}

static void test_host_prefix(void **state)
{
	struct kt_addr a;
	struct kt_prefix p;
	char buf[KT_PREFIX_STRLEN];

	(void)state;
	assert_true(kt_addr_parse("198.18.0.6", &a));
	kt_prefix_host(&a, &p);
	assert_string_equal(kt_prefix_str(&p, buf, sizeof(buf)), "198.18.0.6/32");
	assert_true(kt_prefix_contains(&p, &a));
	assert_true(kt_addr_parse("2001:db8::6", &a));
	kt_prefix_host(&a, &p);
	assert_int_equal(p.len, 128);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_parse_table),
		cmocka_unit_test(test_contains_overlap),
		cmocka_unit_test(test_str_round_trip),
		cmocka_unit_test(test_host_prefix),
	};
	return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
