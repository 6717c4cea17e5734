/* The invariants: one flow added to the good policy per case, and the
 * invariant (and only that one) it must break, with its file and line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "policy_fixture.h"

static char *with_flow(const char *from, const char *to, const char *proto)
{
	char *out = malloc(sizeof(good_policy) + 256);

	sprintf(out, "%s  - from: %s\n    to: %s\n    %s\n    purpose: test\n",
		good_policy, from, to, proto);
	return out;
}

#define TCP443 "proto: tcp\n    ports: [443]"
#define ANY "proto: any"
#define ICMP "proto: icmp"
#define NONE KT_INV_COUNT

static void test_each_invariant(void **state)
{
	static const struct {
		const char *from, *to, *proto;
		enum kt_pol_inv inv, also;
		const char *detail;
	} cases[] = {
		{ "mynumber", "internet", TCP443, KT_INV_MYNUMBER_INTERNET, NONE,
		  "'mynumber' is My Number and 'internet' is internet" },
		{ "internet", "dc-mynumber", TCP443, KT_INV_MYNUMBER_INTERNET, NONE,
		  "'dc-mynumber' is My Number" },
		{ "mynumber", "internet-line", TCP443, KT_INV_MYNUMBER_INTERNET, NONE,
		  "the internet line" },
		{ "mynumber", "printers", TCP443, KT_INV_MYNUMBER_INTERNET, NONE,
		  "'printers' is internet" },
		{ "mynumber", "internet-line", ANY, KT_INV_MYNUMBER_INTERNET,
		  KT_INV_DEFAULT_DENY, "" },
		{ "mynumber", "lgwan", TCP443, KT_INV_MYNUMBER_LGWAN, NONE,
		  "the whole segment 'lgwan', not a file-transfer host" },
		{ "mynumber", "file-transfer", ICMP, KT_INV_MYNUMBER_LGWAN, NONE,
		  "proto icmp has no ports to name" },
		{ "dc-lgwan", "mynumber", "proto: tcp\n    ports: [22]",
		  KT_INV_MYNUMBER_LGWAN, NONE, "whole segment 'mynumber'" },
		{ "mynumber", "vdi", TCP443, KT_INV_MYNUMBER_LGWAN, NONE,
		  "host group 'vdi' is a screen-transfer, not a file-transfer host" },
		{ "lgwan", "internet", TCP443, KT_INV_LGWAN_INTERNET, NONE,
		  "whole segment 'internet', not a relay" },
		{ "lgwan", "internet-line", TCP443, KT_INV_LGWAN_INTERNET, NONE,
		  "the internet line, not a relay" },
		{ "lgwan", "printers", TCP443, KT_INV_LGWAN_INTERNET, NONE,
		  "host group 'printers' is a server" },
		{ "internet", "dc-lgwan", TCP443, KT_INV_LGWAN_INTERNET, NONE,
		  "whole segment 'dc-lgwan'" },
		{ "lgwan", "box", "proto: tcp\n    ports: [22]", KT_INV_MANAGEMENT_PLANE,
		  NONE, "'lgwan' is lgwan, not a management segment" },
		{ "printers", "box", ICMP, KT_INV_MANAGEMENT_PLANE, NONE,
		  "'printers' is internet" },
		{ "lgwan", "dc-lgwan", ANY, KT_INV_DEFAULT_DENY, NONE,
		  "proto any from 'lgwan' to 'dc-lgwan'" },
		{ "noc", "box", ANY, KT_INV_DEFAULT_DENY, NONE, "" },
		{ "internet", "internet-line", ANY, KT_INV_DEFAULT_DENY, NONE, "" },
		/* Allowed crossings: these must pass. */
		{ "lgwan", "vdi", TCP443, NONE, NONE, "" },
		{ "internet", "sanitiser", TCP443, NONE, NONE, "" },
		{ "dc-mynumber", "file-transfer", "proto: udp\n    ports: [69]",
		  NONE, NONE, "" },
		{ "printers", "sanitiser", ANY, NONE, NONE, "" },
		{ "noc", "box", ICMP, NONE, NONE, "" },
		{ "box", "lgwan", "proto: udp\n    ports: [514]", NONE, NONE, "" },
		{ "internet", "internet-line", TCP443, NONE, NONE, "" },
	};
	unsigned failed = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *text = with_flow(cases[i].from, cases[i].to, cases[i].proto);
		struct kt_pol_violation v[4];
		struct kt_policy p;
		struct kt_config_error e;
		char msg[600];
		size_t n, want;

		if (parse_policy(text, &p, &e))
			fail_msg("case %zu: %s", i,
				 kt_config_error_str(&e, msg, sizeof(msg)));
		n = kt_pol_check(&p, v, ARRAY_SIZE(v));
		want = (cases[i].inv != NONE) + (cases[i].also != NONE);
		if (n != want) {
			print_error("case %zu (%s -> %s): %zu violations, want %zu%s%s\n",
				    i, cases[i].from, cases[i].to, n, want,
				    n ? ": " : "",
				    n ? kt_pol_violation_str(&p, v, msg, sizeof(msg)) : "");
			failed++;
		} else if (n) {
			kt_pol_violation_str(&p, &v[0], msg, sizeof(msg));
			/* The added flow is flows[1] of site.yaml, line 51. */
			if (v[0].inv != cases[i].inv || v[0].flow != p.n_flows - 1 ||
			    strncmp(msg, "site.yaml:51:5: flows[1]: breaks invariant ",
				    43) ||
			    !strstr(msg, kt_pol_invariants[cases[i].inv].id) ||
			    !strstr(msg, kt_pol_invariants[cases[i].inv].rule) ||
			    !strstr(v[0].detail, cases[i].detail) ||
			    (n == 2 && v[1].inv != cases[i].also)) {
				print_error("case %zu: got '%s'\n", i, msg);
				failed++;
			}
		}
		kt_policy_uninit(&p);
		free(text);
	}
	assert_int_equal(failed, 0);
}

/* Every model's template passes with a site that completes it. */
static void test_templates_clean(void **state)
{
	static const char alpha_hosts[] =
		"  - name: screen-transfer\n"
		"    addresses: [10.102.0.10]\n"
		"  - name: sanitiser\n"
		"    addresses: [10.102.0.20]\n";
	const char *models[] = { "model: beta-prime", "model: beta", "model: alpha" };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(models); i++) {
		char *text = policy_with("model: beta-prime", models[i]);
		struct kt_pol_violation v[4];
		struct kt_policy p;
		struct kt_config_error e;
		char msg[600];

		if (i == 2) {
			/* α's relays sit on the internet side, and α has no
			 * internet segment of its own: the file says its kind. */
			char *t = text, *at = strstr(t, "  - name: vdi\n");
			char *seg = strstr(t, "  - name: internet\n    ports");

			text = malloc(strlen(t) + sizeof(alpha_hosts) + 32);
			sprintf(text, "%.*s    kind: internet\n%.*s%s%s",
				(int)(seg + 19 - t), t, (int)(at - seg - 19), seg + 19,
				alpha_hosts, strstr(t, "  - name: printers\n"));
			free(t);
		}
		if (parse_policy(text, &p, &e))
			fail_msg("%s: %s", models[i],
				 kt_config_error_str(&e, msg, sizeof(msg)));
		if (kt_pol_check(&p, v, ARRAY_SIZE(v)))
			fail_msg("%s: %s", models[i],
				 kt_pol_violation_str(&p, v, msg, sizeof(msg)));
		kt_policy_uninit(&p);
		free(text);
	}
}

/* Violations beyond the array are counted, not written. */
static void test_many_violations(void **state)
{
	char *text = malloc(sizeof(good_policy) + 10 * 128);
	struct kt_pol_violation v[3];
	struct kt_policy p;
	struct kt_config_error e;
	size_t len = (size_t)sprintf(text, "%s", good_policy);

	(void)state;
	for (int i = 0; i < 10; i++)
		len += (size_t)sprintf(text + len, "  - {from: mynumber, to: internet, "
				       "proto: tcp, ports: [%d], purpose: x}\n",
				       i + 1);
	assert_int_equal(parse_policy(text, &p, &e), 0);
	memset(v, 0xee, sizeof(v));
	assert_int_equal(kt_pol_check(&p, v, 2), 10);
	assert_int_equal(v[1].flow, p.n_flows - 9);
	assert_int_equal(((unsigned char *)&v[2])[0], 0xee);
	kt_policy_uninit(&p);
	free(text);
}

static void test_ids_stable(void **state)
{
	(void)state;
	/* The NOC's tooling keys on these ids: they never change. */
	assert_string_equal(kt_pol_invariants[KT_INV_MYNUMBER_INTERNET].id,
			    "mynumber-internet");
	assert_string_equal(kt_pol_invariants[KT_INV_MYNUMBER_LGWAN].id,
			    "mynumber-lgwan-host-port");
	assert_string_equal(kt_pol_invariants[KT_INV_LGWAN_INTERNET].id,
			    "lgwan-internet-relay");
	assert_string_equal(kt_pol_invariants[KT_INV_MANAGEMENT_PLANE].id,
			    "management-plane");
	assert_string_equal(kt_pol_invariants[KT_INV_DEFAULT_DENY].id,
			    "default-deny");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_invariant),
		cmocka_unit_test(test_templates_clean),
		cmocka_unit_test(test_many_violations),
		cmocka_unit_test(test_ids_stable),
	};
	return cmocka_run_group_tests_name("policy-invariants", tests, NULL, NULL);
}
