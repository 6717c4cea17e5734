#include <string.h>

#include "log.h"
#include "unit.h"

#define KT_MODULE "test"

static char walked[32][KT_LOG_TEXT_MAX];
static size_t n_walked;

static void collect(const struct kt_log_entry *e, void *arg)
{
	(void)arg;
	strcpy(walked[n_walked++], e->text);
}

static void test_ring_wraps(void **state)
{
	(void)state;
	assert_int_equal(kt_log_init("test", 0, 4), 0);
	kt_log_set_level(LOG_DEBUG);
	for (int i = 1; i <= 6; i++)
		log_info("T", "entry %d", i);
	n_walked = 0;
	assert_int_equal(kt_log_walk(100, collect, NULL), 4);
	assert_string_equal(walked[0], "entry 3");
	assert_string_equal(walked[3], "entry 6");
	n_walked = 0;
	assert_int_equal(kt_log_walk(2, collect, NULL), 2);
	assert_string_equal(walked[0], "entry 5");
	assert_string_equal(walked[1], "entry 6");
	kt_log_uninit();
}

static void test_level_filter(void **state)
{
	(void)state;
	assert_int_equal(kt_log_init("test", 0, 8), 0);
	kt_log_set_level(LOG_WARNING);
	log_info("T", "dropped");
	log_debug("T", "dropped");
	log_warnx("T", "kept");
	log_errx("T", "kept too");
	n_walked = 0;
	assert_int_equal(kt_log_walk(100, collect, NULL), 2);
	kt_log_uninit();
}

static void test_rfc5424(void **state)
{
	struct kt_log_entry e = {
		.time_us = 1700000000123456, .severity = LOG_ERR, .pid = 77,
	};
	char line[512];

	(void)state;
	assert_int_equal(kt_log_init("parent", 0, 1), 0);
	kt_log_set_site("site1", "A\"B]C\\D");
	strcpy(e.proc, "parent");
	strcpy(e.module, "ports");
	strcpy(e.msgid, "PORT_DOWN");
	strcpy(e.text, "port wan1 carrier down");
	kt_log_format_5424(&e, line, sizeof(line));
	/* PRI 27 = daemon(3) * 8 + err(3); SD values escaped per 6.3.3. */
	assert_non_null(strstr(line, "<27>1 2023-11-14T22:13:20.123456Z "));
	assert_non_null(strstr(line, " kyotend 77 PORT_DOWN [kyoten@32473 "
				     "site=\"site1\" device=\"A\\\"B\\]C\\\\D\" "
				     "proc=\"parent\" module=\"ports\"] port wan1"));
	kt_log_uninit();
}

static void test_entry_valid(void **state)
{
	struct kt_log_entry e;

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_true(kt_log_entry_valid(&e));
	e.severity = 8;
	assert_false(kt_log_entry_valid(&e));
	e.severity = 0;
	memset(e.msgid, 'x', sizeof(e.msgid));
	assert_false(kt_log_entry_valid(&e));
}

static void test_severity_names(void **state)
{
	(void)state;
	for (int s = 0; s <= LOG_DEBUG; s++)
		assert_int_equal(kt_log_severity_parse(kt_log_severity_name(s)), s);
	assert_int_equal(kt_log_severity_parse("loud"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_wraps),
		cmocka_unit_test(test_level_filter),
		cmocka_unit_test(test_rfc5424),
		cmocka_unit_test(test_entry_valid),
		cmocka_unit_test(test_severity_names),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
