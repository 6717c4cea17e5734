/* kyotenctl policy: the segment-separation policy (docs/policy.md).
 *
 *   kyotenctl policy check [-T TEMPLATES] FILE
 *   kyotenctl policy verify [-T TEMPLATES] [-r RULESET.json] FILE
 *
 * `check` runs locally (no daemon needed): parses the file with its
 * template, checks the invariants, and explains in words what the policy
 * allows. Exit 0 when the policy may be applied, 1 when it is refused.
 *
 * `verify` reads what the kernel holds (`nft -j list table inet kyoten`,
 * or a saved copy with -r) and checks the invariants on it, with FILE
 * saying which interface and address is which segment. Exit 0 when the
 * kernel's ruleset keeps every invariant, 1 when it does not. */
#include <errno.h>
#include <getopt.h>
#include <libintl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "config.h"
#include "kyotenctl.h"
#include "nft.h"
#include "policy.h"
#include "verify.h"
#include "generated/autoconf.h"

#define _(s) gettext(s)

static void policy_usage(void)
{
	fprintf(stderr, _("Usage: kyotenctl policy check [-T TEMPLATES] FILE\n"
			  "       kyotenctl policy verify [-T TEMPLATES] "
			  "[-r RULESET.json] FILE\n"
			  "  check   parse FILE, check the invariants and explain "
			  "what it allows\n"
			  "  verify  check the invariants on the kernel's ruleset "
			  "(or RULESET.json from nft -j)\n"
			  "  -T DIR  model templates (default %s)\n"),
		CONFIG_POLICY_TEMPLATE_DIR);
}

struct args {
	struct kt_pol_source src;
	const char *file, *ruleset;
};

static int parse_args(int argc, char **argv, bool verify, struct args *a)
{
	static const struct option opts[] = {
		{ "templates", required_argument, NULL, 'T' },
		{ "ruleset", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	a->src.template_dir = CONFIG_POLICY_TEMPLATE_DIR;
	a->src.map = &kt_board_ports;
	optind = 1;
	while ((c = getopt_long(argc, argv, verify ? "+T:r:" : "+T:", opts,
				NULL)) != -1) {
		if (c == 'T') {
			a->src.template_dir = optarg;
		} else if (c == 'r' && verify) {
			a->ruleset = optarg;
		} else {
			policy_usage();
			return KT_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		policy_usage();
		return KT_EXIT_USAGE;
	}
	a->file = argv[optind];
	return 0;
}

static int load(const struct args *a, struct kt_policy *p)
{
	struct kt_config_error e;
	char msg[700];

	if (kt_policy_load(a->file, &a->src, p, &e)) {
		fprintf(stderr, "%s\n", kt_config_error_str(&e, msg, sizeof(msg)));
		return KT_EXIT_REFUSED;
	}
	return 0;
}

static int policy_check(int argc, char **argv)
{
	struct kt_pol_violation v[KT_POL_MAX_VIOLATIONS];
	struct kt_policy p;
	struct args a;
	char msg[700];
	size_t n;
	int r;

	if ((r = parse_args(argc, argv, false, &a)) || (r = load(&a, &p)))
		return r;
	n = kt_pol_check(&p, v, KT_POL_MAX_VIOLATIONS);
	if (n) {
		for (size_t i = 0; i < n && i < KT_POL_MAX_VIOLATIONS; i++)
			fprintf(stderr, "%s\n",
				kt_pol_violation_str(&p, &v[i], msg, sizeof(msg)));
		fprintf(stderr, ngettext("%s: refused: %zu flow breaks separation\n",
					 "%s: refused: %zu flows break separation\n",
					 n), a.file, n);
		kt_policy_uninit(&p);
		return KT_EXIT_REFUSED;
	}
	kt_pol_explain(&p, stdout);
	kt_policy_uninit(&p);
	return 0;
}

/* All of a stream, NUL-terminated; NULL when it is over max bytes. */
static char *slurp(FILE *f, size_t max)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);

	while (buf) {
		size_t n = fread(buf + len, 1, cap - len - 1, f);

		len += n;
		if (n == 0)
			break;
		if (cap - len < 2) {
			char *g = cap >= max ? NULL : realloc(buf, cap * 2);

			if (!g) {
				free(buf);
				return NULL;
			}
			buf = g;
			cap *= 2;
		}
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

static int policy_verify(int argc, char **argv)
{
	struct kt_pol_finding f[KT_POL_MAX_VIOLATIONS];
	struct kt_policy p;
	struct args a;
	char msg[900], *json;
	FILE *in;
	int r, n;

	if ((r = parse_args(argc, argv, true, &a)) || (r = load(&a, &p)))
		return r;
	in = a.ruleset ? fopen(a.ruleset, "r")
		       : popen("nft -j list table inet " KT_NFT_TABLE " 2>/dev/null", "r");
	if (!in) {
		fprintf(stderr, _("kyotenctl: cannot read the ruleset: %s\n"),
			strerror(errno));
		kt_policy_uninit(&p);
		return KT_EXIT_REFUSED;
	}
	/* 256 MiB holds the table of the largest policy by far. */
	json = slurp(in, 256u << 20);
	r = a.ruleset ? fclose(in) : pclose(in);
	if (!a.ruleset && WIFEXITED(r) && WEXITSTATUS(r) == 127) {
		fprintf(stderr, _("kyotenctl: nft is not installed: cannot read "
				  "the kernel's ruleset\n"));
		free(json);
		kt_policy_uninit(&p);
		return KT_EXIT_REFUSED;
	}
	if (!a.ruleset && json && r != 0 && !*json) {
		/* nft found no table: verify says what that means. */
		free(json);
		json = strdup("{\"nftables\": []}");
	}
	if (!json) {
		fprintf(stderr, _("kyotenctl: cannot read the ruleset\n"));
		kt_policy_uninit(&p);
		return KT_EXIT_REFUSED;
	}
	n = kt_pol_verify(&p, json, f, KT_POL_MAX_VIOLATIONS, msg, sizeof(msg));
	free(json);
	if (n < 0) {
		fprintf(stderr, "kyotenctl: %s\n", msg);
		kt_policy_uninit(&p);
		return KT_EXIT_REFUSED;
	}
	for (int i = 0; i < n && i < KT_POL_MAX_VIOLATIONS; i++)
		printf("%s\n", kt_pol_finding_str(&f[i], msg, sizeof(msg)));
	if (n)
		printf(ngettext("the kernel's ruleset breaks separation (%d finding)\n",
				"the kernel's ruleset breaks separation (%d findings)\n",
				(unsigned long)n), n);
	else
		printf(_("the kernel's ruleset keeps every invariant (%zu segments, "
			 "%zu flows in the policy)\n"), p.n_segments, p.n_flows);
	kt_policy_uninit(&p);
	return n ? KT_EXIT_REFUSED : 0;
}

int kyotenctl_policy(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return policy_check(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "verify"))
		return policy_verify(argc - 1, argv + 1);
	policy_usage();
	return KT_EXIT_USAGE;
}
