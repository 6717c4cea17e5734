#include <string.h>

#include "text.h"
#include "unit.h"

static void test_clean_table(void **state)
{
	static const struct {
		const char *in, *out;
		bool valid;
	} cases[] = {
		{ "plain", "plain", true },
		{ "本庁舎 2F", "本庁舎 2F", true },
		{ "line\nbreak", "line?break", false },
		{ "tab\there", "tab?here", false },
		{ "del\x7f", "del?", false },
		{ "cut \xe6\x9c", "cut ", false },		/* 本 cut short */
		{ "bad \xff byte", "bad ? byte", false },
		{ "overlong \xc0\xaf", "overlong ??", false },
		{ "overlong3 \xe0\x80\xaf", "overlong3 ???", false },
		{ "surrogate \xed\xa0\x80", "surrogate ???", false },
		{ "too high \xf4\x90\x80\x80", "too high ????", false },
		{ "emoji \xf0\x9f\x98\x80", "emoji \xf0\x9f\x98\x80", true },
		{ "", "", true },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char buf[64];

		strcpy(buf, cases[i].in);
		if (kt_text_valid(buf) != cases[i].valid)
			fail_msg("case %zu: valid should be %d", i, cases[i].valid);
		kt_text_clean(buf);
		if (strcmp(buf, cases[i].out))
			fail_msg("case %zu: got '%s'", i, buf);
		assert_true(kt_text_valid(buf));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_table),
	};
	return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
