/* The nftables batch, built without a kernel: flows become disjoint map
 * elements (the kernel refuses overlapping intervals), whatever the
 * order and overlap of the flows. tests/integration/policy-nft.t sends
 * the batch to a kernel. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "nft.h"
#include "policy_fixture.h"

static const char base[] =
	"lines:\n"
	"  - {name: closed, kind: closed, port: wan1, tunnel-ports: [51820]}\n"
	"  - {name: inet, kind: best-effort, port: wan2}\n"
	"segments:\n"
	"  - {name: my, kind: mynumber, ports: [lan1], prefixes: [10.7.1.0/24, \"fd00:7:1::/64\"]}\n"
	"  - {name: lg, kind: lgwan, ports: [lan2], prefixes: [10.7.2.0/24, \"fd00:7:2::/64\"]}\n"
	"  - {name: dc, kind: lgwan, ports: [kt0], prefixes: [10.101.0.0/16, \"fd00:101::/48\"]}\n"
	"  - {name: net, kind: internet, ports: [lan3], prefixes: [10.7.3.0/24]}\n"
	"  - {name: noc, kind: management, ports: [mg0], prefixes: [10.250.0.0/24]}\n"
	"hosts:\n"
	"  - {name: ft, role: file-transfer, segment: dc, addresses: [10.101.0.10, \"fd00:101::10\"]}\n"
	"flows:\n"
	"  - {from: my, to: ft, proto: tcp, ports: [8443], purpose: files, log: true}\n"
	"  - {from: lg, to: dc, proto: tcp, ports: [80, 8000-8100], purpose: business}\n"
	"  - {from: lg, to: dc, proto: icmp, purpose: ping}\n"
	"  - {from: net, to: internet-line, proto: tcp, ports: [443], purpose: breakout}\n"
	"  - {from: noc, to: box, proto: icmp, purpose: ping the box}\n"
	"  - {from: box, to: noc, proto: udp, ports: [514], purpose: syslog}\n";

static size_t build(const char *text, struct kt_nft_stats *st)
{
	struct kt_nft_batch *b;
	struct kt_nft_opts o;
	struct kt_policy p;
	struct kt_config_error e;
	char msg[600];

	if (parse_policy(text, &p, &e))
		fail_msg("%s", kt_config_error_str(&e, msg, sizeof(msg)));
	kt_nft_opts_default(&o);
	assert_int_equal(kt_nft_build(&p, &o, &b, st), 0);
	kt_nft_free(b);
	kt_policy_uninit(&p);
	return st->messages;
}

static char *edit(const char *from, const char *to)
{
	const char *at = strstr(base, from);
	char *t = malloc(sizeof(base) + strlen(to));

	assert_non_null(at);
	sprintf(t, "%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
	return t;
}

/* Local breakout: a chain postrouting (nat) with one masquerade rule per
 * family that has flows to internet-line; none without such flows. */
static void test_breakout_nat(void **state)
{
	static const char flow[] = "  - {from: net, to: internet-line, proto: tcp, "
				   "ports: [443], purpose: breakout}\n";
	struct kt_nft_stats st;
	char *none = edit(flow, ""), *both = edit("prefixes: [10.7.3.0/24]",
						  "prefixes: [10.7.3.0/24, \"fd00:7:3::/64\"]");
	size_t with4, without, with46;

	(void)state;
	with4 = build(base, &st);
	without = build(none, &st);
	with46 = build(both, &st);
	/* brk4's elements, the chain, its IPv4 rule */
	assert_int_equal(with4 - without, 3);
	/* brk6's elements and the IPv6 rule */
	assert_int_equal(with46 - with4, 2);
	free(none);
	free(both);
}

static size_t elements(const char *extra)
{
	char *text = malloc(sizeof(base) + strlen(extra));
	struct kt_nft_batch *b;
	struct kt_nft_stats st;
	struct kt_nft_opts o;
	struct kt_policy p;
	struct kt_config_error e;
	char msg[600];

	sprintf(text, "%s%s", base, extra);
	if (parse_policy(text, &p, &e))
		fail_msg("%s", kt_config_error_str(&e, msg, sizeof(msg)));
	kt_nft_opts_default(&o);
	assert_int_equal(kt_nft_build(&p, &o, &b, &st), 0);
	assert_true(st.messages > 20);
	assert_true(st.bytes > 1000);
	kt_nft_free(b);
	kt_policy_uninit(&p);
	free(text);
	return st.elements;
}

static void test_disjoint(void **state)
{
	(void)state;
	/* fwd4 and fwd6: my->ft, lg->dc 80, 8000-8100, icmp; brk4; in4; out4 */
	assert_int_equal(elements(""), 4 + 4 + 1 + 1 + 1);
	/* Inside an existing flow: nothing new. */
	assert_int_equal(elements("  - {from: lg, to: ft, proto: tcp, ports: [80], "
				  "purpose: x}\n"), 11);
	/* Around existing flows: the ports outside them, per family
	 * (1-79, 81-7999, 8101-65535). */
	assert_int_equal(elements("  - {from: lg, to: ft, proto: tcp, ports: "
				  "[1-65535], purpose: x}\n"), 11 + 3 + 3);
	/* A logged flow goes in first and wins where it overlaps: the
	 * unlogged flow around it is cut instead. */
	assert_int_equal(elements("  - {from: lg, to: ft, proto: tcp, ports: [80], "
				  "purpose: x, log: true}\n"), 11 + 2 + 2);
	/* Whole prefixes cut by a host: the addresses around it. */
	assert_int_equal(elements("  - {from: lg, to: ft, proto: icmp, purpose: x, "
				  "log: true}\n"), 11 + 2 + 2);
}

/* The fixture and its templates build too. */
static void test_fixture(void **state)
{
	struct kt_nft_batch *b;
	struct kt_nft_stats st;
	struct kt_nft_opts o;
	struct kt_policy p;
	struct kt_config_error e;

	(void)state;
	assert_int_equal(parse_policy(good_policy, &p, &e), 0);
	kt_nft_opts_default(&o);
	o.fail_last = true;
	assert_int_equal(kt_nft_build(&p, &o, &b, &st), 0);
	assert_true(st.elements > 10);
	kt_nft_free(b);
	kt_policy_uninit(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disjoint),
		cmocka_unit_test(test_fixture),
		cmocka_unit_test(test_breakout_nat),
	};
	return cmocka_run_group_tests_name("policy-nft", tests, NULL, NULL);
}
