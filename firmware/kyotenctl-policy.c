/* kyotenctl policy: the segment-separation policy (docs/policy.md).
 *
 *   kyotenctl policy check [-T TEMPLATES] FILE
 *
 * `check` runs locally (no daemon needed): parses the file with its
 * template, checks the invariants, and explains in words what the policy
 * allows. Exit 0 when the policy may be applied, 1 when it is refused. */
#include <getopt.h>
#include <libintl.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "kyotenctl.h"
#include "policy.h"
#include "generated/autoconf.h"

#define _(s) gettext(s)

static void policy_usage(void)
{
	fprintf(stderr, _("Usage: kyotenctl policy check [-T TEMPLATES] FILE\n"
			  "  check   parse FILE, check the invariants and explain "
			  "what it allows\n"
			  "  -T DIR  model templates (default %s)\n"),
		CONFIG_POLICY_TEMPLATE_DIR);
}

static int policy_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "templates", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	struct kt_pol_source src = {
		.template_dir = CONFIG_POLICY_TEMPLATE_DIR,
		.map = &kt_board_ports,
	};
	struct kt_pol_violation v[KT_POL_MAX_VIOLATIONS];
	struct kt_policy p;
	struct kt_config_error e;
	char msg[700];
	size_t n;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+T:", opts, NULL)) != -1) {
		if (c != 'T') {
			policy_usage();
			return KT_EXIT_USAGE;
		}
		src.template_dir = optarg;
	}
	if (optind != argc - 1) {
		policy_usage();
		return KT_EXIT_USAGE;
	}
	if (kt_policy_load(argv[optind], &src, &p, &e)) {
		fprintf(stderr, "%s\n", kt_config_error_str(&e, msg, sizeof(msg)));
		return KT_EXIT_REFUSED;
	}
	n = kt_pol_check(&p, v, KT_POL_MAX_VIOLATIONS);
	if (n) {
		for (size_t i = 0; i < n && i < KT_POL_MAX_VIOLATIONS; i++)
			fprintf(stderr, "%s\n",
				kt_pol_violation_str(&p, &v[i], msg, sizeof(msg)));
		fprintf(stderr, ngettext("%s: refused: %zu flow breaks separation\n",
					 "%s: refused: %zu flows break separation\n",
					 n), argv[optind], n);
		kt_policy_uninit(&p);
		return KT_EXIT_REFUSED;
	}
	kt_pol_explain(&p, stdout);
	kt_policy_uninit(&p);
	return 0;
}

int kyotenctl_policy(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return policy_check(argc - 1, argv + 1);
	policy_usage();
	return KT_EXIT_USAGE;
}
