/* The verifier on what a kernel printed: tests/unit/policy-ruleset.json is
 * `nft -j list table inet kyoten` after applying the policy below (the one
 * of test_policy_nft.c). Each case changes the kernel's side the way a
 * hand edit would, and must be found with the invariant it breaks. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "policy_fixture.h"
#include "verify.h"

static const char policy[] =
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
	"  - {from: lg, to: ft, proto: tcp, ports: [1-65535], purpose: overlapping}\n"
	"  - {from: net, to: internet-line, proto: tcp, ports: [443], purpose: breakout}\n"
	"  - {from: noc, to: box, proto: icmp, purpose: ping the box}\n"
	"  - {from: box, to: noc, proto: udp, ports: [514], purpose: syslog}\n";

/* The kernel saw the sim board's interface names as they are. */
static int parse_as_is(struct kt_policy *p)
{
	static const struct kt_port_map as_is = { .names_as_is = true };
	const struct kt_pol_source src = { .template_dir = TEMPLATES, .map = &as_is };
	struct kt_config_error e;

	return kt_policy_parse("site.yaml", (const uint8_t *)policy,
			       strlen(policy), &src, p, &e);
}

static json_t *kernel(void)
{
	json_error_t e;
	json_t *j = json_load_file("tests/unit/policy-ruleset.json", 0, &e);

	if (!j)
		fail_msg("policy-ruleset.json: %s", e.text);
	return j;
}

static json_t *find(json_t *k, const char *kind, const char *name)
{
	size_t i;
	json_t *it;

	json_array_foreach(json_object_get(k, "nftables"), i, it) {
		json_t *o = json_object_get(it, kind);

		if (o && !strcmp(json_string_value(json_object_get(o, "name")), name))
			return o;
	}
	fail_msg("no %s %s", kind, name);
	return NULL;
}

static void add_element(json_t *k, const char *map, const char *elem)
{
	json_error_t e;
	json_t *el = json_loads(elem, 0, &e);

	if (!el)
		fail_msg("test bug: %s", e.text);
	json_array_append_new(json_object_get(find(k, "map", map), "elem"), el);
}

static void add_rule(json_t *k, const char *chain, const char *expr)
{
	json_error_t e;
	json_t *x = json_loads(expr, 0, &e);

	if (!x)
		fail_msg("test bug: %s", e.text);
	json_array_append_new(json_object_get(k, "nftables"),
			      json_pack("{s:{s:s,s:s,s:s,s:i,s:o}}", "rule", "family",
					"inet", "table", "kyoten", "chain", chain,
					"handle", 999, "expr", x));
}

static int verify(struct kt_policy *p, json_t *k, struct kt_pol_finding *f,
		  size_t max)
{
	char *text = json_dumps(k, 0), err[200];
	int n = kt_pol_verify(p, text, f, max, err, sizeof(err));

	free(text);
	return n;
}

enum change {
	NOTHING, CHAIN_ACCEPT, NO_INPUT, RULE_MY_NET, RULE_DROP, EL_MY_DC,
	EL_MY_FT_ICMP, EL_LG_BOX, EL_MY_BREAKOUT, EL_CLOSED_BREAKOUT, EL_ANY_SRC,
	EL_FORGED, EL_DROP, ND_WIDENED, LOG_ACCEPT_JUMPS, NO_TABLE, NAT_ALL,
	NAT_FWD_MAP, NAT_DNAT, NAT_ACCEPT, BFD, BFD_LAN, BFD_ANY_PORT,
	BFD_FORWARD, BFD_WIDER,
};

/* The compiler's BFD rule (inside the tunnels), as the kernel printed it,
 * with an interface match and a port of the test's choice. */
static void bfd_rule(json_t *k, const char *chain, const char *key,
		     const char *ifname, const char *extra)
{
	char rule[600];

	snprintf(rule, sizeof(rule), "[{\"match\":{\"op\":\"==\",\"left\":{\"meta\":"
		 "{\"key\":\"%s\"}},\"right\":\"%s\"}},%s{\"counter\":{\"packets\":0,"
		 "\"bytes\":0}},{\"accept\":null}]", key, ifname, extra);
	add_rule(k, chain, rule);
}

#define BFD_PORT "{\"match\":{\"op\":\"==\",\"left\":{\"payload\":{\"protocol\":" \
	"\"udp\",\"field\":\"dport\"}},\"right\":3784}},"

/* The compiler's breakout rule, as the kernel printed it. */
static const char nat_key[] =
	"{\"concat\":[{\"payload\":{\"protocol\":\"ip\",\"field\":\"saddr\"}},"
	"{\"payload\":{\"protocol\":\"th\",\"field\":\"dport\"}},"
	"{\"meta\":{\"key\":\"iifname\"}},{\"meta\":{\"key\":\"oifname\"}},"
	"{\"meta\":{\"key\":\"l4proto\"}}]}";

static void change(json_t *k, enum change c)
{
	json_t *arr = json_object_get(k, "nftables");

	switch (c) {
	case NOTHING:
		break;
	case CHAIN_ACCEPT:
		json_object_set_new(find(k, "chain", "forward"), "policy",
				    json_string("accept"));
		break;
	case NO_INPUT:
		json_object_set_new(find(k, "chain", "input"), "hook",
				    json_string("prerouting"));
		break;
	case RULE_MY_NET:
		add_rule(k, "forward", "[{\"match\":{\"op\":\"==\",\"left\":{\"meta\":"
			 "{\"key\":\"iifname\"}},\"right\":\"lan1\"}},{\"match\":{\"op\":"
			 "\"==\",\"left\":{\"meta\":{\"key\":\"oifname\"}},\"right\":"
			 "\"lan3\"}},{\"accept\":null}]");
		break;
	case RULE_DROP:
		add_rule(k, "forward", "[{\"counter\":{\"packets\":0,\"bytes\":0}},"
			 "{\"drop\":null}]");
		break;
	case EL_MY_DC:
		add_element(k, "fwd4", "[{\"concat\":[\"10.101.0.20\",22,{\"prefix\":"
			    "{\"addr\":\"10.7.1.0\",\"len\":24}},\"lan1\",\"tcp\"]},"
			    "{\"accept\":null}]");
		break;
	case EL_MY_FT_ICMP:
		add_element(k, "fwd6", "[{\"concat\":[\"fd00:101::10\",{\"range\":"
			    "[0,65535]},{\"prefix\":{\"addr\":\"fd00:7:1::\",\"len\":64}},"
			    "\"lan1\",\"ipv6-icmp\"]},{\"jump\":{\"target\":\"log-accept\"}}]");
		break;
	case EL_LG_BOX:
		add_element(k, "in4", "[{\"concat\":[{\"prefix\":{\"addr\":"
			    "\"10.7.2.0\",\"len\":24}},22,\"lan2\",\"tcp\"]},{\"accept\":null}]");
		break;
	case EL_MY_BREAKOUT:
		add_element(k, "brk4", "[{\"concat\":[{\"prefix\":{\"addr\":"
			    "\"10.7.1.0\",\"len\":24}},443,\"lan1\",\"wan2\",\"tcp\"]},"
			    "{\"accept\":null}]");
		break;
	case EL_CLOSED_BREAKOUT:
		add_element(k, "brk4", "[{\"concat\":[{\"prefix\":{\"addr\":"
			    "\"10.7.3.0\",\"len\":24}},443,\"lan3\",\"wan1\",\"tcp\"]},"
			    "{\"accept\":null}]");
		break;
	case EL_ANY_SRC:
		add_element(k, "fwd4", "[{\"concat\":[\"10.101.0.20\",23,{\"prefix\":"
			    "{\"addr\":\"0.0.0.0\",\"len\":0}},\"lan2\",\"tcp\"]},"
			    "{\"accept\":null}]");
		break;
	case EL_FORGED:
		add_element(k, "fwd4", "[{\"concat\":[\"10.101.0.10\",8443,"
			    "\"10.7.1.5\",\"lan2\",\"tcp\"]},{\"accept\":null}]");
		break;
	case EL_DROP:
		add_element(k, "fwd4", "[{\"concat\":[\"10.7.3.1\",22,{\"prefix\":"
			    "{\"addr\":\"10.7.1.0\",\"len\":24}},\"lan1\",\"tcp\"]},"
			    "{\"drop\":null}]");
		break;
	case ND_WIDENED:
		json_array_append_new(json_object_get(find(k, "set", "nd"), "elem"),
				      json_string("echo-request"));
		break;
	case LOG_ACCEPT_JUMPS:
		add_rule(k, "log-accept", "[{\"jump\":{\"target\":\"input\"}}]");
		break;
	case NO_TABLE:
		json_array_clear(arr);
		break;
	case NAT_ALL: {	/* everything out of the internet line */
		add_rule(k, "postrouting", "[{\"match\":{\"op\":\"==\",\"left\":"
			 "{\"meta\":{\"key\":\"oifname\"}},\"right\":\"wan2\"}},"
			 "{\"masquerade\":null}]");
		break;
	}
	case NAT_FWD_MAP: {	/* what fwd4 holds, by brk4's key */
		char rule[800];

		snprintf(rule, sizeof(rule), "[{\"match\":{\"op\":\"==\",\"left\":"
			 "%s,\"right\":\"@fwd4\"}},{\"counter\":null},"
			 "{\"masquerade\":null}]", nat_key);
		add_rule(k, "postrouting", rule);
		break;
	}
	case NAT_DNAT:
		add_rule(k, "forward", "[{\"dnat\":{\"addr\":\"10.7.1.5\"}}]");
		break;
	case BFD:		/* as the compiler writes it, both ways */
		bfd_rule(k, "input", "iifname", "kt-*", BFD_PORT);
		bfd_rule(k, "output", "oifname", "kt-*", BFD_PORT);
		break;
	case BFD_LAN:		/* from a LAN port, not a tunnel */
		bfd_rule(k, "input", "iifname", "lan1", BFD_PORT);
		break;
	case BFD_ANY_PORT:	/* every port of the tunnels */
		bfd_rule(k, "input", "iifname", "kt-*", "");
		break;
	case BFD_FORWARD:	/* through the box, not to it */
		bfd_rule(k, "forward", "iifname", "kt-*", BFD_PORT);
		break;
	case BFD_WIDER:		/* any interface starting with k */
		bfd_rule(k, "output", "oifname", "k*", BFD_PORT);
		break;
	case NAT_ACCEPT: {	/* the right lookup, then accept */
		char rule[800];

		snprintf(rule, sizeof(rule), "[{\"match\":{\"op\":\"==\",\"left\":"
			 "%s,\"right\":\"@brk4\"}},{\"accept\":null}]", nat_key);
		add_rule(k, "postrouting", rule);
		break;
	}
	}
}

static void test_findings(void **state)
{
	static const struct {
		enum change c;
		enum kt_pol_inv inv;	/* of the first finding */
		int n;
		const char *where, *detail;
	} cases[] = {
		{ NOTHING, 0, 0, "", "" },
		{ RULE_DROP, 0, 0, "", "" },
		{ EL_DROP, 0, 0, "", "" },
		{ CHAIN_ACCEPT, KT_INV_DEFAULT_DENY, 1, "chain forward",
		  "policy is accept, not drop" },
		{ NO_INPUT, KT_INV_DEFAULT_DENY, 1, "chain input", "nothing filters" },
		{ RULE_MY_NET, KT_INV_DEFAULT_DENY, 2, "chain forward rule (handle 999)",
		  "no flow of the policy describes" },
		{ EL_MY_DC, KT_INV_MYNUMBER_LGWAN, 1, "map fwd4 element",
		  "the whole segment 'dc', not a file-transfer host" },
		{ EL_MY_FT_ICMP, KT_INV_MYNUMBER_LGWAN, 1, "map fwd6 element",
		  "proto icmp has no ports to name" },
		{ EL_LG_BOX, KT_INV_MANAGEMENT_PLANE, 1, "map in4 element",
		  "'lg' is lgwan, not a management segment" },
		{ EL_MY_BREAKOUT, KT_INV_MYNUMBER_INTERNET, 1, "map brk4 element",
		  "the internet line" },
		{ EL_CLOSED_BREAKOUT, KT_INV_DEFAULT_DENY, 1, "map brk4 element",
		  "'wan1' is not a best-effort line" },
		{ EL_ANY_SRC, KT_INV_DEFAULT_DENY, 1, "map fwd4 element",
		  "sources outside every segment" },
		{ EL_FORGED, KT_INV_DEFAULT_DENY, 1, "map fwd4 element",
		  "interface lan2 is not a port of segment my" },
		{ ND_WIDENED, KT_INV_DEFAULT_DENY, 2, "chain input rule", "no flow" },
		{ LOG_ACCEPT_JUMPS, KT_INV_DEFAULT_DENY, 1, "chain log-accept",
		  "more than count, log and accept" },
		{ NO_TABLE, KT_INV_DEFAULT_DENY, 1, "table inet kyoten",
		  "is not in the kernel" },
		/* The fixture's own masquerade (breakout) passes (NOTHING);
		 * any other translation is reported. */
		{ NAT_ALL, KT_INV_DEFAULT_DENY, 1, "chain postrouting rule (handle 999)",
		  "translates addresses beyond the flows to internet-line" },
		{ NAT_FWD_MAP, KT_INV_DEFAULT_DENY, 1, "chain postrouting rule",
		  "translates addresses" },
		{ NAT_DNAT, KT_INV_DEFAULT_DENY, 1, "chain forward rule", "translates" },
		{ NAT_ACCEPT, KT_INV_DEFAULT_DENY, 1, "chain postrouting rule",
		  "accepts traffic that no flow" },
		/* BFD inside the box's tunnels passes; anything wider not. */
		{ BFD, 0, 0, "", "" },
		{ BFD_LAN, KT_INV_DEFAULT_DENY, 1, "chain input rule", "no flow" },
		{ BFD_ANY_PORT, KT_INV_DEFAULT_DENY, 1, "chain input rule", "no flow" },
		{ BFD_FORWARD, KT_INV_DEFAULT_DENY, 1, "chain forward rule", "no flow" },
		{ BFD_WIDER, KT_INV_DEFAULT_DENY, 1, "chain output rule", "no flow" },
	};
	struct kt_policy p;
	unsigned failed = 0;

	(void)state;
	assert_int_equal(parse_as_is(&p), 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kt_pol_finding f[8];
		json_t *k = kernel();
		char msg[900];
		int n;

		change(k, cases[i].c);
		n = verify(&p, k, f, ARRAY_SIZE(f));
		if (n != cases[i].n ||
		    (n && (f[0].inv != cases[i].inv ||
			   strncmp(f[0].where, cases[i].where, strlen(cases[i].where)) ||
			   !strstr(f[0].detail, cases[i].detail)))) {
			print_error("case %zu: %d findings, want %d; first: %s\n", i, n,
				    cases[i].n,
				    n ? kt_pol_finding_str(&f[0], msg, sizeof(msg)) : "-");
			failed++;
		}
		/* A hand-written rule is also judged by its ends. */
		if (cases[i].c == RULE_MY_NET && n == 2 &&
		    f[1].inv != KT_INV_MYNUMBER_INTERNET) {
			print_error("case %zu: second finding is %s\n", i,
				    kt_pol_invariants[f[1].inv].id);
			failed++;
		}
		json_decref(k);
	}
	assert_int_equal(failed, 0);
	kt_policy_uninit(&p);
}

static void test_unreadable(void **state)
{
	struct kt_pol_finding f[2];
	struct kt_policy p;
	char err[200];

	(void)state;
	assert_int_equal(parse_as_is(&p), 0);
	assert_int_equal(kt_pol_verify(&p, "{nft", f, 2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not JSON"));
	assert_int_equal(kt_pol_verify(&p, "[1]", f, 2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no \"nftables\" array"));
	kt_policy_uninit(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_findings),
		cmocka_unit_test(test_unreadable),
	};
	return cmocka_run_group_tests_name("policy-verify", tests, NULL, NULL);
}
