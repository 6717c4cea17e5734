/* libFuzzer target: the policy parser (policy/parse.c, with the templates
 * of policy/templates when the input names a model), and on whatever
 * parses the invariant checker, the explanation and the nftables batch
 * (built, never sent). Run from the top of the tree. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nft.h"
#include "policy.h"

static const char *const ports[][2] = {
	{ "wan1", "eth0" }, { "wan2", "eth1" }, { "lan1", "eth2" },
	{ "lan2", "eth3" }, { "lan3", "eth4" }, { "lan4", "" },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct kt_port_map map = { ports, 6, size & 1 };
	const struct kt_pol_source src = { "policy/templates", &map };
	static FILE *null;
	struct kt_pol_violation v[8];
	struct kt_nft_batch *b;
	struct kt_nft_opts o;
	struct kt_policy p;
	struct kt_config_error err;
	char msg[600];

	if (kt_policy_parse("fuzz.yaml", data, size, &src, &p, &err)) {
		kt_config_error_str(&err, msg, sizeof(msg));
		return 0;
	}
	if (!null)
		null = fopen("/dev/null", "w");
	kt_pol_explain(&p, null);
	for (size_t i = 0, n = kt_pol_check(&p, v, 8); i < n && i < 8; i++)
		kt_pol_violation_str(&p, &v[i], msg, sizeof(msg));
	kt_nft_opts_default(&o);
	if (!kt_nft_build(&p, &o, &b, NULL))
		kt_nft_free(b);
	kt_policy_uninit(&p);
	return 0;
}
