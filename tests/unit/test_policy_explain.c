/* The plain-words explanation: what it must say about the fixture. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "policy_fixture.h"

static void test_explain(void **state)
{
	static const char *const must[] = {
		"Policy site.yaml, model beta-prime (template policy/templates/"
		"beta-prime.yaml), 11 flows.\n",
		"  mynumber: My Number, on eth2, addresses 10.7.1.0/24; closed "
		"lines only.\n",
		"  internet: internet, on eth4.30, addresses 10.7.3.0/24, "
		"2001:db8:7:3::/64; closed and best-effort lines.\n",
		"  sanitiser: sanitisation relay in dc-lgwan: 10.101.2.5/32, "
		"10.101.2.6/32.\n",
		"  From segment mynumber (My Number):\n"
		"    - to segment dc-mynumber (My Number) by tcp port 443: My Number "
		"business systems in the data centre (policy/templates/"
		"beta-prime.yaml:35)\n"
		"    - to file-transfer (file-transfer host in dc-lgwan, LGWAN) by "
		"tcp port 443, each connection logged: ",
		"    - to printers (server in dc-internet, internet) by tcp ports "
		"9100, 631, each connection logged: 印刷 from staff PCs "
		"(site.yaml:45)\n",
		"    - to the internet, straight out of a best-effort line by tcp "
		"port 443: ",
		"  From segment dc-lgwan (LGWAN): nothing.\n",
		"  From segment noc (management):\n    - to the box itself by tcp "
		"ports 22, 443: ",
		"    - to the box itself by icmp: ",
		"  From the box itself:\n    - to segment noc (management) by udp "
		"ports 123, 514: ",
		"  From line closed (eth0): only the box's tunnels, udp 51820.\n",
		"  From line internet (eth1): nothing.\n",
		"Everything else is denied, in every direction",
	};
	struct kt_policy p;
	struct kt_config_error e;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_int_equal(parse_policy(good_policy, &p, &e), 0);
	kt_pol_explain(&p, f);
	fclose(f);
	for (size_t i = 0; i < ARRAY_SIZE(must); i++)
		if (!strstr(text, must[i]))
			fail_msg("missing: '%s'\nin:\n%s", must[i], text);
	/* Every invariant is stated, with its id. */
	for (size_t i = 0; i < KT_INV_COUNT; i++) {
		char line[300];

		snprintf(line, sizeof(line), "  - %s (%s)\n",
			 kt_pol_invariants[i].rule, kt_pol_invariants[i].id);
		if (!strstr(text, line))
			fail_msg("invariant %s not stated", kt_pol_invariants[i].id);
	}
	kt_policy_uninit(&p);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_explain),
	};
	return cmocka_run_group_tests_name("policy-explain", tests, NULL, NULL);
}
