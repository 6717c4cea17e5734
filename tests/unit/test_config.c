#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text.h"
#include "unit.h"

/* A valid site file; each bad case below changes one thing in it. */
static const char good[] =
	"site:\n"					/* 1 */
	"  id: site7\n"
	"  device-number: \"TKY-BR-0007\"\n"
	"  role: site\n"
	"  location: \"本庁舎 2F\"\n"			/* 5 */
	"lines:\n"
	"  - name: closed\n"
	"    kind: closed\n"
	"    port: wan1\n"
	"    address: 100.64.7.2/30\n"			/* 10 */
	"    gateway: 100.64.7.1\n"
	"  - name: internet\n"
	"    kind: best-effort\n"
	"    port: wan2\n"
	"    address: 198.18.7.2/30\n"			/* 15 */
	"    gateway: 198.18.7.1\n"
	"hubs:\n"
	"  - name: hub1\n"
	"    endpoints:\n"
	"      closed: 100.64.0.2\n"			/* 20 */
	"      internet: 198.18.0.2\n"
	"segments:\n"
	"  - name: mynumber\n"
	"    kind: mynumber\n"
	"    port: lan1\n"				/* 25 */
	"    address: 10.7.1.1/24\n"
	"  - name: lgwan\n"
	"    kind: lgwan\n"
	"    port: lan2\n"
	"    address: 10.7.2.1/24\n";			/* 30 */

static char *replace(const char *from, const char *to)
{
	const char *at = strstr(good, from);
	char *out;

	if (!at)
		fail_msg("test bug: '%s' not in the good file", from);
	out = malloc(sizeof(good) + strlen(to));
	sprintf(out, "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
	return out;
}

static int parse(const char *text, struct kt_config *cfg, struct kt_config_error *e)
{
	return kt_config_parse("site.yaml", (const uint8_t *)text, strlen(text),
			       &unit_map, cfg, e);
}

static void test_good(void **state)
{
	struct kt_config cfg;
	struct kt_config_error e;
	char a[KT_PREFIX_STRLEN];

	(void)state;
	assert_int_equal(parse(good, &cfg, &e), 0);
	assert_string_equal(cfg.site_id, "site7");
	assert_string_equal(cfg.device_number, "TKY-BR-0007");
	assert_string_equal(cfg.location, "本庁舎 2F");
	assert_int_equal(cfg.role, KT_ROLE_SITE);
	assert_int_equal(cfg.n_lines, 2);
	assert_string_equal(cfg.lines[0].ifname, "eth0");
	assert_int_equal(cfg.lines[1].kind, KT_LINE_BEST_EFFORT);
	assert_string_equal(kt_prefix_str(&cfg.lines[1].address, a, sizeof(a)),
			    "198.18.7.2/30");
	assert_int_equal(cfg.n_hubs, 1);
	assert_int_equal(cfg.hubs[0].n_endpoints, 2);
	assert_int_equal(cfg.hubs[0].endpoints[1].line, 1);
	assert_int_equal(cfg.n_segments, 2);
	assert_string_equal(cfg.segments[1].ifname, "eth3");
	assert_int_equal(cfg.log_level, -1);
	/* The hash covers the bytes: any change shows. */
	{
		struct kt_config other;
		char *t = replace("2F", "3F");

		assert_int_equal(parse(t, &other, &e), 0);
		assert_memory_not_equal(cfg.sha256, other.sha256, 32);
		free(t);
	}
}

static void test_bad_table(void **state)
{
	static const struct {
		const char *from, *to;
		unsigned line;
		const char *field, *msg;
	} cases[] = {
		/* structure */
		{ "site:\n", "site: [\n", 3, "(syntax)", "flow sequence" },
		{ "  id: site7\n", "  id: site7\n  colour: red\n", 3, "site.colour",
		  "unknown key 'colour'" },
		{ "  role: site\n", "", 2, "site.role", "missing key 'role'" },
		{ "  role: site\n", "  role: site\n  role: hub\n", 5, "site.role",
		  "given twice" },
		{ "      closed: 100.64.0.2\n      internet: 198.18.0.2\n",
		  "      - 100.64.0.2\n", 20, "hubs[0].endpoints",
		  "expected a mapping, found a list" },
		{ "  id: site7\n", "  id: [site7]\n", 2, "site.id", "expected a value" },
		{ "  id: site7\n", "  id: ~\n", 2, "site.id", "must not be empty" },
		{ "  id: site7\n  device-number: \"TKY-BR-0007\"\n",
		  "  id: &x site7\n  device-number: *x\n", 3,
		  "site.device-number", "aliases" },
		/* values */
		{ "id: site7", "id: Site_7", 2, "site.id", "'Site_7' is not a name" },
		{ "\"TKY-BR-0007\"", "\"TKY BR\"", 3, "site.device-number",
		  "printable ASCII" },
		{ "role: site", "role: spoke", 4, "site.role",
		  "'spoke' is not one of: site, hub" },
		{ "\"本庁舎 2F\"", "\"a\\tb\"", 5, "site.location", "UTF-8" },
		{ "kind: closed", "kind: gold", 8, "lines[0].kind", "not one of" },
		{ "port: wan1", "port: wan9", 9, "lines[0].port",
		  "unknown port 'wan9' (this board has: wan1, wan2, lan1, lan2, lan3)" },
		{ "port: lan2", "port: lan4", 29, "segments[1].port",
		  "this board has no port 'lan4'" },
		{ "port: wan2", "port: wan1", 14, "lines[1].port", "already used" },
		{ "100.64.7.2/30", "100.64.7.2/33", 10, "lines[0].address",
		  "not an address with prefix length" },
		{ "100.64.7.2/30", "100.64.7.2", 10, "lines[0].address",
		  "not an address with prefix length" },
		{ "gateway: 100.64.7.1", "gateway: 100.64.8.1", 11,
		  "lines[0].gateway", "not inside the line's address 100.64.7.2/30" },
		{ "gateway: 100.64.7.1", "gateway: 100.64.7.2", 11,
		  "lines[0].gateway", "the line's own address" },
		{ "gateway: 100.64.7.1", "gateway: gw1", 11, "lines[0].gateway",
		  "'gw1' is not an IPv4 or IPv6 address" },
		{ "name: internet\n", "name: closed\n", 12, "lines[1].name",
		  "line 'closed' is defined twice" },
		{ "name: lgwan", "name: mynumber", 27, "segments[1].name",
		  "segment 'mynumber' is defined twice" },
		{ "198.18.7.2/30", "100.64.7.1/30", 15, "lines[1].address",
		  "overlaps line 'closed' (100.64.7.2/30)" },
		{ "10.7.2.1/24", "10.7.1.200/25", 30, "segments[1].address",
		  "overlaps segment 'mynumber'" },
		{ "      internet: 198.18.0.2\n", "      mobile: 198.18.0.2\n", 21,
		  "hubs[0].endpoints.mobile", "no line is named 'mobile'" },
		{ "      internet: 198.18.0.2\n", "      internet: 2001:db8::1\n", 21,
		  "hubs[0].endpoints.internet", "address family differs" },
		{ "      internet: 198.18.0.2\n", "      closed: 198.18.0.2\n", 21,
		  "hubs[0].endpoints.closed", "given twice" },
		{ "    endpoints:\n      closed: 100.64.0.2\n      internet: 198.18.0.2\n",
		  "    endpoints: {}\n", 19, "hubs[0].endpoints", "at least one line" },
		{ "kind: lgwan", "kind: mynumber", 28, "segments[1].kind",
		  "a second 'mynumber' segment" },
		{ "kind: lgwan", "kind: datacenter", 28, "segments[1].kind",
		  "a site cannot have a 'datacenter' segment" },
		{ "kind: lgwan", "kind: guest", 28, "segments[1].kind", "not one of" },
		{ "hubs:\n  - name: hub1\n    endpoints:\n      closed: 100.64.0.2\n"
		  "      internet: 198.18.0.2\n", "", 1, "hubs",
		  "a site needs at least one hub" },
		{ "hubs:\n  - name: hub1\n    endpoints:\n      closed: 100.64.0.2\n"
		  "      internet: 198.18.0.2\n", "hubs: []\n", 17, "hubs",
		  "at least one entry" },
		{ "role: site", "role: hub", 18, "hubs", "a hub has no hubs" },
		{ "segments:\n", "log:\n  level: chatty\nsegments:\n", 23, "log.level",
		  "'chatty' is not one of" },
	};
	unsigned failed = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *text = replace(cases[i].from, cases[i].to);
		struct kt_config cfg;
		struct kt_config_error e;
		char msg[600];
		int r = parse(text, &cfg, &e);

		kt_config_error_str(&e, msg, sizeof(msg));
		if (r != -EINVAL || e.line != cases[i].line ||
		    strcmp(e.field, cases[i].field) || !strstr(e.message, cases[i].msg) ||
		    strncmp(msg, "site.yaml:", 10)) {
			print_error("case %zu: want line %u field '%s' message '%s'; "
				    "got r=%d '%s'\n", i, cases[i].line,
				    cases[i].field, cases[i].msg, r, msg);
			failed++;
		}
		free(text);
	}
	assert_int_equal(failed, 0);
}

static void test_hub_role(void **state)
{
	static const char hub[] =
		"site: {id: hub1, device-number: DC-HUB1, role: hub}\n"
		"lines:\n"
		"  - {name: closed, kind: closed, port: wan1, address: 100.64.0.2/30,"
		" gateway: 100.64.0.1}\n"
		"segments:\n"
		"  - {name: dc, kind: datacenter, port: lan1, address: 172.31.1.2/30}\n";
	struct kt_config cfg;
	struct kt_config_error e;

	(void)state;
	assert_int_equal(kt_config_parse("hub.yaml", (const uint8_t *)hub,
					 strlen(hub), &unit_map, &cfg, &e), 0);
	assert_int_equal(cfg.role, KT_ROLE_HUB);
	assert_int_equal(cfg.n_hubs, 0);
	assert_int_equal(cfg.segments[0].kind, KT_SEG_DATACENTER);
}

static void test_documents(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "", "the file is empty" },
		{ "# only a comment\n", "the file is empty" },
		{ "site: {}\n---\nsite: {}\n", "more than one YAML document" },
		{ "- a\n- b\n", "expected a mapping" },
		{ "site: x\0hidden\n", NULL },	/* NUL: cut by length below */
		{ "site: {}\n---\n[ unterminated\n", "flow sequence" },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kt_config cfg;
		struct kt_config_error e;
		size_t len = strlen(cases[i].text);

		if (!cases[i].msg)
			len = 15;
		assert_int_equal(kt_config_parse("f.yaml", (const uint8_t *)cases[i].text,
						 len, &unit_map, &cfg, &e), -EINVAL);
		if (cases[i].msg && !strstr(e.message, cases[i].msg))
			fail_msg("case %zu: got '%s'", i, e.message);
	}
}

static void test_error_positions(void **state)
{
	char *bad_utf8 = replace("  location: \"本庁舎 2F\"\n",
				 "  location: \"\xff\"\n");
	char *long_utf8 = replace("id: site7", "id: 本本本本本本本本本本本本本本本本本本本本");
	struct kt_config cfg;
	struct kt_config_error e;

	(void)state;
	/* The reader reports encoding errors by offset: still a line. */
	assert_int_equal(parse(bad_utf8, &cfg, &e), -EINVAL);
	assert_int_equal(e.line, 5);
	assert_string_equal(e.field, "(syntax)");
	/* A message that quotes a long value cut mid-character stays
	 * valid UTF-8 (JSON answers and log lines depend on it). */
	assert_int_equal(parse(long_utf8, &cfg, &e), -EINVAL);
	assert_true(kt_text_valid(e.message));
	free(bad_utf8);
	free(long_utf8);
}

static void test_load_files(void **state)
{
	char dir[] = "/tmp/kt-unit-XXXXXX", path[64], msg[600];
	struct kt_config cfg;
	struct kt_config_error e;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	assert_int_equal(kt_config_load(path, &unit_map, &cfg, &e), -ENOENT);
	assert_non_null(strstr(kt_config_error_str(&e, msg, sizeof(msg)),
			       "missing.yaml: (file): cannot open"));
	assert_int_equal(kt_config_load(dir, &unit_map, &cfg, &e), -EINVAL);
	assert_non_null(strstr(e.message, "not a regular file"));
	snprintf(path, sizeof(path), "%s/big.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fseek(f, 16 * 1024 * 1024, SEEK_SET), 0);
	fputc('\n', f);
	fclose(f);
	assert_int_equal(kt_config_load(path, &unit_map, &cfg, &e), -EFBIG);
	assert_non_null(strstr(e.message, "bytes; a site configuration is at most"));
	unlink(path);
	snprintf(path, sizeof(path), "%s/good.yaml", dir);
	f = fopen(path, "w");
	fputs(good, f);
	fclose(f);
	assert_int_equal(kt_config_load(path, &unit_map, &cfg, &e), 0);
	assert_string_equal(cfg.site_id, "site7");
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad_table),
		cmocka_unit_test(test_hub_role),
		cmocka_unit_test(test_documents),
		cmocka_unit_test(test_error_positions),
		cmocka_unit_test(test_load_files),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
