/* kyotenctl policy: the segment-separation policy (docs/policy.md).
 *
 *   kyotenctl policy check [-T TEMPLATES] FILE
 *   kyotenctl policy verify [-T TEMPLATES] [-r RULESET.json] FILE
 *   kyotenctl policy apply [-t SECONDS] [-m COMMENT] [--confirmed] FILE
 *   kyotenctl policy confirm
 *   kyotenctl policy rollback [GEN]
 *   kyotenctl policy show [--json] [GEN]
 *   kyotenctl policy history [--json]
 *   kyotenctl policy diff [GEN_A] [GEN_B | FILE]
 *
 * The commands from apply on ask kyotend, which keeps the generations
 * (docs/policy.md, "In kyotend"); the file is passed to it open, so the
 * caller must be able to read it.
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
#include <fcntl.h>
#include <getopt.h>
#include <libintl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
			  "       kyotenctl policy apply [-t SECONDS] [-m COMMENT] "
			  "[--confirmed] FILE\n"
			  "       kyotenctl policy confirm\n"
			  "       kyotenctl policy rollback [GEN]\n"
			  "       kyotenctl policy show [--json] [GEN]\n"
			  "       kyotenctl policy history [--json]\n"
			  "       kyotenctl policy diff [GEN_A] [GEN_B | FILE]\n"
			  "  check     parse FILE, check the invariants and explain "
			  "what it allows\n"
			  "  verify    check the invariants on the kernel's ruleset "
			  "(or RULESET.json from nft -j)\n"
			  "  apply     kyotend applies FILE as a new generation; "
			  "unless confirmed within\n"
			  "            -t SECONDS (default: the configuration's), the "
			  "last confirmed one\n"
			  "            comes back. -m says why (kept in the history)\n"
			  "  confirm   keep the generation waiting for confirmation\n"
			  "  rollback  apply the previous confirmed generation (or "
			  "GEN) again\n"
			  "  show      a generation in words, and who applied it "
			  "(default: the running one)\n"
			  "  history   the kept generations\n"
			  "  diff      what changes from GEN_A to GEN_B or FILE "
			  "(default: previous to running)\n"
			  "  -T DIR    model templates (default %s)\n"),
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

/* --- the commands kyotend answers --- */

/* A refusal as `policy check` prints it: the lines, then nothing else. */
static int refused(json_t *j)
{
	json_t *lines = json_object_get(j, "errors"), *l;
	size_t i;

	if (json_array_size(lines))
		json_array_foreach(lines, i, l)
			fprintf(stderr, "%s\n", json_string_value(l));
	else
		fprintf(stderr, _("kyotenctl: kyotend refused: %s\n"),
			json_string_value(json_object_get(j, "error")));
	json_decref(j);
	return KT_EXIT_REFUSED;
}

static json_t *ask(uint16_t cmd, const struct kt_ctl_policy *req, int fd)
{
	return kyotenctl_request(cmd, 0, req, fd, true);
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static long long jnum(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static const char *when(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;

	if (!t)
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", localtime(&tt));
	return buf;
}

/* A generation number: 1 to 4294967295, decimal. */
static bool gen_arg(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!*s || *s < '1' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* The file's name as the daemon will show it: as given when it fits,
 * else its last part. */
static int set_name(struct kt_ctl_policy *req, const char *file)
{
	const char *base = strrchr(file, '/');

	if (strlen(file) < sizeof(req->name))
		snprintf(req->name, sizeof(req->name), "%s", file);
	else if (base && strlen(base + 1) < sizeof(req->name))
		snprintf(req->name, sizeof(req->name), "%s", base + 1);
	else
		return -1;
	return 0;
}

static int open_policy(const char *file)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		fprintf(stderr, "%s: (file): cannot open: %s\n", file,
			strerror(errno));
	return fd;
}

static void print_gen_line(json_t *g, const char *what)
{
	printf(_("generation %lld %s from %s (sha256 %.16s)"), jnum(g, "number"),
	       what, jstr(g, "name"), jstr(g, "sha256"));
}

static int policy_apply(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "message", required_argument, NULL, 'm' },
		{ "confirmed", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct kt_ctl_policy req;
	unsigned long t;
	char *end;
	json_t *j, *g;
	int c, fd;

	memset(&req, 0, sizeof(req));
	optind = 1;
	while ((c = getopt_long(argc, argv, "+t:m:", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			errno = 0;
			t = strtoul(optarg, &end, 10);
			if (errno || *end || t < 5 || t > 3600) {
				fprintf(stderr, _("kyotenctl: -t takes 5 to 3600 "
						  "seconds, not '%s'\n"), optarg);
				return KT_EXIT_USAGE;
			}
			req.timeout_s = (uint32_t)t;
			break;
		case 'm':
			if (strlen(optarg) >= sizeof(req.comment)) {
				fprintf(stderr, _("kyotenctl: the comment is %zu bytes; "
						  "at most %zu\n"), strlen(optarg),
					sizeof(req.comment) - 1);
				return KT_EXIT_USAGE;
			}
			snprintf(req.comment, sizeof(req.comment), "%s", optarg);
			break;
		case 'c':
			req.options |= KT_CTL_POL_CONFIRMED;
			break;
		default:
			policy_usage();
			return KT_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		policy_usage();
		return KT_EXIT_USAGE;
	}
	if (set_name(&req, argv[optind])) {
		fprintf(stderr, _("kyotenctl: the file's name is too long\n"));
		return KT_EXIT_USAGE;
	}
	if ((fd = open_policy(argv[optind])) < 0)
		return KT_EXIT_REFUSED;
	req.options |= KT_CTL_POL_FILE;
	j = ask(KT_CTL_POLICY_APPLY, &req, fd);
	close(fd);
	if (!json_is_true(json_object_get(j, "ok")))
		return refused(j);
	g = json_object_get(j, "generation");
	print_gen_line(g, _("applied"));
	if (!strcmp(jstr(g, "state"), "pending"))
		printf(_(", waiting for confirmation:\nit is reverted in %lld s "
			 "unless 'kyotenctl policy confirm' comes first\n"),
		       jnum(j, "confirm-left"));
	else
		printf(_(", confirmed\n"));
	json_decref(j);
	return 0;
}

static int policy_confirm(int argc, char **argv)
{
	struct kt_ctl_policy req;
	json_t *j;

	(void)argv;
	if (argc != 1) {
		policy_usage();
		return KT_EXIT_USAGE;
	}
	memset(&req, 0, sizeof(req));
	j = ask(KT_CTL_POLICY_CONFIRM, &req, -1);
	if (!json_is_true(json_object_get(j, "ok")))
		return refused(j);
	print_gen_line(json_object_get(j, "generation"), _("confirmed, applied"));
	putchar('\n');
	json_decref(j);
	return 0;
}

static int policy_rollback(int argc, char **argv)
{
	struct kt_ctl_policy req;
	json_t *j, *g;

	memset(&req, 0, sizeof(req));
	if (argc > 2 || (argc == 2 && !gen_arg(argv[1], &req.gen_a))) {
		policy_usage();
		return KT_EXIT_USAGE;
	}
	j = ask(KT_CTL_POLICY_ROLLBACK, &req, -1);
	if (!json_is_true(json_object_get(j, "ok")))
		return refused(j);
	g = json_object_get(j, "generation");
	printf(_("rolled back to generation %lld: now generation %lld (%s)\n"),
	       jnum(g, "rollback-of"), jnum(g, "number"), jstr(g, "state"));
	if (!strcmp(jstr(g, "state"), "pending"))
		printf(_("generation %lld was never confirmed: it is reverted in "
			 "%lld s unless 'kyotenctl policy confirm' comes first\n"),
		       jnum(g, "rollback-of"), jnum(j, "confirm-left"));
	json_decref(j);
	return 0;
}

static void print_meta(json_t *g, bool running, long long left)
{
	char t[32];

	printf(_("Generation %lld%s, %s\n"), jnum(g, "number"),
	       running ? _(" (running)") : "", jstr(g, "state"));
	printf(_("  file       %s, sha256 %s\n"), jstr(g, "name"),
	       jstr(g, "sha256"));
	if (*jstr(g, "template"))
		printf(_("  template   %s (a copy is kept)\n"), jstr(g, "template"));
	printf(_("  applied    %s by %s (uid %lld), %s"),
	       when(jnum(g, "applied"), t, sizeof(t)), jstr(g, "user"),
	       jnum(g, "uid"), jstr(g, "source"));
	if (jnum(g, "rollback-of"))
		printf(_(" of generation %lld"), jnum(g, "rollback-of"));
	putchar('\n');
	if (*jstr(g, "comment"))
		printf(_("  comment    %s\n"), jstr(g, "comment"));
	printf(_("  state      %s since %s: %s\n"), jstr(g, "state"),
	       when(jnum(g, "changed"), t, sizeof(t)), jstr(g, "reason"));
	if (jnum(g, "confirmed"))
		printf(_("  confirmed  %s by %s\n"),
		       when(jnum(g, "confirmed"), t, sizeof(t)),
		       jstr(g, "confirmed-by"));
	if (left >= 0)
		printf(_("  reverted in %lld s unless confirmed (kyotenctl policy "
			 "confirm)\n"), left);
}

static int policy_show(int argc, char **argv)
{
	struct kt_ctl_policy req;
	bool as_json = false;
	json_t *j;

	memset(&req, 0, sizeof(req));
	for (int a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--json")) {
			as_json = true;
		} else if (req.gen_a || !gen_arg(argv[a], &req.gen_a)) {
			policy_usage();
			return KT_EXIT_USAGE;
		}
	}
	j = ask(KT_CTL_POLICY_SHOW, &req, -1);
	if (!json_is_true(json_object_get(j, "ok")))
		return refused(j);
	if (as_json) {
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else {
		print_meta(json_object_get(j, "generation"),
			   json_is_true(json_object_get(j, "running")),
			   json_object_get(j, "confirm-left")
			   ? jnum(j, "confirm-left") : -1);
		printf("\n%s", jstr(j, "explain"));
	}
	json_decref(j);
	return 0;
}

static int policy_history(int argc, char **argv)
{
	struct kt_ctl_policy req;
	json_t *j, *gens, *g;
	long long running;
	char t[32];
	size_t i;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--json"))) {
		policy_usage();
		return KT_EXIT_USAGE;
	}
	memset(&req, 0, sizeof(req));
	j = ask(KT_CTL_POLICY_HISTORY, &req, -1);
	if (!json_is_true(json_object_get(j, "ok")))
		return refused(j);
	gens = json_object_get(j, "generations");
	if (argc == 2) {
		json_dumpf(gens, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
		json_decref(j);
		return 0;
	}
	running = jnum(j, "running");
	printf(_("  %-5s %-19s %-12s %-11s %-16s %s\n"), _("GEN"), _("APPLIED"),
	       _("BY"), _("STATE"), _("SHA256"), _("COMMENT"));
	/* Newest first. */
	for (i = json_array_size(gens); i-- > 0;) {
		g = json_array_get(gens, i);
		if (!json_is_true(json_object_get(g, "ok"))) {
			printf("  %-5lld %s: %s\n", jnum(g, "number"),
			       _("unreadable"), jstr(g, "error"));
			continue;
		}
		printf("%c %-5lld %-19s %-12s %-11s %-16.16s %s\n",
		       jnum(g, "number") == running ? '*' : ' ', jnum(g, "number"),
		       when(jnum(g, "applied"), t, sizeof(t)), jstr(g, "user"),
		       jstr(g, "state"), jstr(g, "sha256"), jstr(g, "comment"));
	}
	if (!json_array_size(gens))
		printf(_("(no generations kept)\n"));
	json_decref(j);
	return 0;
}

/* --- diff: the explanations of both, line by line --- */

struct dline {
	const char *header;		/* the line it belongs under; NULL top */
	char *text;			/* as printed */
	char *key;			/* header + text without "(file:line)" */
	bool matched;
};

struct dtext {
	struct dline *l;
	size_t n;
	char *buf;
};

/* "    - to ... (site.yaml:35)" -> without the place it was written:
 * moving a flow in the file changes nothing it allows. */
static void strip_place(char *s)
{
	size_t n = strlen(s);
	char *open;

	if (n < 4 || s[n - 1] != ')' || !(open = strrchr(s, '(')) ||
	    open == s || open[-1] != ' ' || !strchr(open, ':'))
		return;
	open[-1] = '\0';
}

static int split(const char *text, struct dtext *t)
{
	const char *header = NULL;
	size_t cap = 0;
	char *save = NULL, *line;

	memset(t, 0, sizeof(*t));
	t->buf = strdup(text);
	if (!t->buf)
		return -1;
	for (line = strtok_r(t->buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct dline *d;
		bool item = !strncmp(line, "    ", 4);
		size_t klen;

		if (t->n == cap) {
			cap = cap ? cap * 2 : 256;
			d = realloc(t->l, cap * sizeof(*d));
			if (!d)
				return -1;
			t->l = d;
		}
		d = &t->l[t->n++];
		d->text = line;
		d->header = item ? header : NULL;
		d->matched = false;
		klen = strlen(line) + (d->header ? strlen(d->header) : 0) + 2;
		d->key = malloc(klen);
		if (!d->key)
			return -1;
		snprintf(d->key, klen, "%s\n%s", d->header ? d->header : "", line);
		strip_place(d->key);
		if (!item)
			header = line;
	}
	return 0;
}

static void dtext_free(struct dtext *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->l[i].key);
	free(t->l);
	free(t->buf);
}

static int cmp_key(const void *a, const void *b)
{
	const struct dline *x = *(struct dline *const *)a;
	const struct dline *y = *(struct dline *const *)b;

	return strcmp(x->key, y->key);
}

/* Marks the lines both texts have (as many times as both have them). */
static int match(struct dtext *a, struct dtext *b)
{
	struct dline **sa = malloc((a->n + 1) * sizeof(*sa));
	struct dline **sb = malloc((b->n + 1) * sizeof(*sb));
	size_t i = 0, j = 0;

	if (!sa || !sb) {
		free(sa);
		free(sb);
		return -1;
	}
	for (size_t k = 0; k < a->n; k++)
		sa[k] = &a->l[k];
	for (size_t k = 0; k < b->n; k++)
		sb[k] = &b->l[k];
	qsort(sa, a->n, sizeof(*sa), cmp_key);
	qsort(sb, b->n, sizeof(*sb), cmp_key);
	while (i < a->n && j < b->n) {
		int c = strcmp(sa[i]->key, sb[j]->key);

		if (c == 0) {
			sa[i++]->matched = sb[j++]->matched = true;
		} else if (c < 0) {
			i++;
		} else {
			j++;
		}
	}
	free(sa);
	free(sb);
	return 0;
}

/* A line only one side has, once; its header first if not yet shown. */
static size_t show_items(struct dtext *t, char sign, const char *header,
			 bool *header_shown)
{
	size_t n = 0;

	for (size_t k = 0; k < t->n; k++) {
		struct dline *e = &t->l[k];

		if (e->matched || !e->header || strcmp(e->header, header))
			continue;
		if (!*header_shown) {
			printf("  %s\n", header);
			*header_shown = true;
		}
		printf("%c %s\n", sign, e->text);
		e->matched = true;	/* shown */
		n++;
	}
	return n;
}

/* The k-th line that is not an item ("  From segment lg (LGWAN):"). */
static struct dline *nth_header(struct dtext *t, size_t k)
{
	for (size_t i = 0; i < t->n; i++)
		if (!t->l[i].header && k-- == 0)
			return &t->l[i];
	return NULL;
}

/* Under each header, in B's order and then A's: the lines only A has
 * (-), then those only B has (+). A header only one side has is itself
 * such a line. Returns how many lines differ. */
static size_t print_changes(struct dtext *a, struct dtext *b)
{
	size_t changed = 0, k;
	struct dline *d, *o;
	bool shown;

	for (k = 0; (d = nth_header(b, k)); k++) {
		shown = false;
		if (!d->matched) {
			/* Changed in place ("Policy ..., 12 flows."): the
			 * old one first. */
			o = nth_header(a, k);
			if (o && !o->matched) {
				printf("- %s\n", o->text);
				changed += 1 + show_items(a, '-', o->text, &shown);
				o->matched = true;
			}
			printf("+ %s\n", d->text);
			shown = true;
			changed++;
		}
		changed += show_items(a, '-', d->text, &shown);
		changed += show_items(b, '+', d->text, &shown);
		d->matched = true;
	}
	for (k = 0; (d = nth_header(a, k)); k++) {
		if (d->matched)
			continue;
		printf("- %s\n", d->text);
		shown = true;
		changed += 1 + show_items(a, '-', d->text, &shown);
		d->matched = true;
	}
	return changed;
}

static int policy_diff(int argc, char **argv)
{
	struct kt_ctl_policy req;
	struct dtext ta, tb;
	const char *file = NULL;
	json_t *j, *a, *b;
	size_t changed;
	int fd = -1;

	memset(&req, 0, sizeof(req));
	if (argc > 3) {
		policy_usage();
		return KT_EXIT_USAGE;
	}
	for (int i = 1; i < argc; i++) {
		uint32_t *slot = i == 1 ? &req.gen_a : &req.gen_b;

		if (gen_arg(argv[i], slot))
			continue;
		if (i != argc - 1) {
			policy_usage();
			return KT_EXIT_USAGE;
		}
		file = argv[i];
	}
	if (file) {
		if (set_name(&req, file)) {
			fprintf(stderr, _("kyotenctl: the file's name is too long\n"));
			return KT_EXIT_USAGE;
		}
		if ((fd = open_policy(file)) < 0)
			return KT_EXIT_REFUSED;
		req.options |= KT_CTL_POL_FILE;
	}
	j = ask(KT_CTL_POLICY_DIFF, &req, fd);
	if (fd >= 0)
		close(fd);
	if (!json_is_true(json_object_get(j, "ok")))
		return refused(j);
	a = json_object_get(j, "a");
	b = json_object_get(j, "b");
	if (split(jstr(a, "explain"), &ta) || split(jstr(b, "explain"), &tb) ||
	    match(&ta, &tb)) {
		fprintf(stderr, "kyotenctl: out of memory\n");
		exit(KT_EXIT_REFUSED);
	}
	printf("--- %s\n+++ %s\n", jstr(a, "label"), jstr(b, "label"));
	changed = print_changes(&ta, &tb);
	if (!changed)
		printf(_("(the two allow and deny the same)\n"));
	dtext_free(&ta);
	dtext_free(&tb);
	json_decref(j);
	return changed ? 1 : 0;
}

void kyotenctl_policy_summary(json_t *p)
{
	json_t *cur = json_object_get(p, "current");

	if (!p)
		return;
	if (!cur)
		printf(_("Policy     no policy: the kernel's ruleset is left as "
			 "it is\n"));
	else if (!strcmp(jstr(cur, "state"), "pending"))
		printf(_("Policy     generation %lld PENDING: reverted in %lld s "
			 "unless confirmed (kyotenctl policy confirm)\n"),
		       jnum(p, "generation"), jnum(p, "confirm-left"));
	else
		printf(_("Policy     generation %lld, %s%s, sha256 %.16s "
			 "(kyotenctl policy show)\n"), jnum(p, "generation"),
		       jstr(cur, "state"),
		       json_is_true(json_object_get(p, "adopted"))
		       ? _(", adopted at start") : "", jstr(cur, "sha256"));
	if (json_is_string(json_object_get(p, "fault")))
		printf(_("           fault: %s\n"), jstr(p, "fault"));
	if (jnum(p, "store-errors"))
		printf(_("           %lld store errors (kyotenctl status --json)\n"),
		       jnum(p, "store-errors"));
}

int kyotenctl_policy(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} sub[] = {
		{ "check", policy_check }, { "verify", policy_verify },
		{ "apply", policy_apply }, { "confirm", policy_confirm },
		{ "rollback", policy_rollback }, { "show", policy_show },
		{ "history", policy_history }, { "diff", policy_diff },
	};

	for (size_t i = 0; argc >= 2 && i < sizeof(sub) / sizeof(sub[0]); i++)
		if (!strcmp(argv[1], sub[i].name))
			return sub[i].fn(argc - 1, argv + 1);
	policy_usage();
	return KT_EXIT_USAGE;
}
