/* A site's policy for the policy tests (model β′); the bad cases change
 * one thing in it. Unit tests run from the top of the tree, where the
 * templates are. */
#ifndef KT_POLICY_FIXTURE_H
#define KT_POLICY_FIXTURE_H

#include "policy.h"

#define TEMPLATES "policy/templates"

static const char good_policy[] =
	"model: beta-prime\n"				/* 1 */
	"lines:\n"
	"  - name: closed\n"
	"    kind: closed\n"
	"    port: wan1\n"				/* 5 */
	"    tunnel-ports: [51820]\n"
	"  - name: internet\n"
	"    kind: best-effort\n"
	"    port: wan2\n"
	"segments:\n"					/* 10 */
	"  - name: mynumber\n"
	"    ports: [lan1]\n"
	"    prefixes: [10.7.1.0/24]\n"
	"  - name: lgwan\n"
	"    ports: [lan2]\n"				/* 15 */
	"    prefixes: [10.7.2.0/24]\n"
	"  - name: internet\n"
	"    ports: [lan3]\n"
	"    vlan: 30\n"
	"    prefixes: [10.7.3.0/24, \"2001:db8:7:3::/64\"]\n"	/* 20 */
	"  - name: dc-mynumber\n"
	"    ports: [kt0]\n"
	"    prefixes: [10.100.0.0/16]\n"
	"  - name: dc-lgwan\n"
	"    ports: [kt0]\n"				/* 25 */
	"    prefixes: [10.101.0.0/16]\n"
	"  - name: dc-internet\n"
	"    ports: [kt0]\n"
	"    prefixes: [10.102.0.0/16, \"2001:db8:102::/48\"]\n"
	"  - name: noc\n"				/* 30 */
	"    ports: [kt-mgmt]\n"
	"    prefixes: [10.250.0.0/24]\n"
	"hosts:\n"
	"  - name: file-transfer\n"
	"    addresses: [10.101.0.10]\n"		/* 35 */
	"  - name: vdi\n"
	"    addresses: [10.101.1.0/28]\n"
	"  - name: sanitiser\n"
	"    addresses: [10.101.2.5, 10.101.2.6]\n"
	"  - name: printers\n"				/* 40 */
	"    role: server\n"
	"    segment: dc-internet\n"
	"    addresses: [10.102.9.0/29]\n"
	"flows:\n"
	"  - from: internet\n"				/* 45 */
	"    to: printers\n"
	"    proto: tcp\n"
	"    ports: [9100, 631]\n"
	"    purpose: \"印刷 from staff PCs\"\n"
	"    log: true\n";				/* 50 */

static const struct kt_pol_source fixture_src = {
	.template_dir = TEMPLATES,
	.map = &unit_map,
};

static inline int parse_policy(const char *text, struct kt_policy *p,
			struct kt_config_error *e)
{
	return kt_policy_parse("site.yaml", (const uint8_t *)text, strlen(text),
			       &fixture_src, p, e);
}

/* The good policy with the first `from` replaced by `to`. */
static inline char *policy_with(const char *from, const char *to)
{
	const char *at = strstr(good_policy, from);
	char *out;

	if (!at)
		fail_msg("test bug: '%s' not in the good policy", from);
	out = malloc(sizeof(good_policy) + strlen(to));
	sprintf(out, "%.*s%s%s", (int)(at - good_policy), good_policy, to,
		at + strlen(from));
	return out;
}

#endif
