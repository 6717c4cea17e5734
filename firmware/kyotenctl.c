/* kyotenctl: the on-box command line. Talks to kyotend over its control
 * socket (ctl.h); `check-config` runs the daemon's own parser locally.
 *
 * Text for people goes through _() so that a Japanese message catalogue
 * (textdomain "kyoten") can replace it; JSON keys and message ids stay. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libintl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "ctlclient.h"
#include "keys.h"
#include "kyotenctl.h"
#include "suite.h"
#include "generated/autoconf.h"

#define _(s) gettext(s)

#ifndef KYOTEN_VERSION
#define KYOTEN_VERSION "0.0.0-unknown"
#endif

enum { EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_NODAEMON = 3 };

static const char *sock_path = CONFIG_CTL_SOCKET_PATH;

/* Sends one request (with the policy commands' part and a descriptor
 * when given) and returns the daemon's answer; a refusal is returned as
 * it is when keep_refusal, and otherwise printed and the program ends.
 * soft: a failure to reach kyotend or to read its answer returns NULL
 * (with the message printed) instead of ending the program. */
static json_t *do_request(uint16_t cmd, uint32_t arg,
			  const struct kt_ctl_policy *pol, int pass_fd,
			  bool keep_refusal, bool soft)
{
	char err[512];
	json_t *j;
	int r = kt_ctl_call(sock_path, cmd, arg, pol, pass_fd, &j, err, sizeof(err));

	if (r) {
		fprintf(stderr, "kyotenctl: %s\n", err);
		if (soft)
			return NULL;
		exit(r == -EINVAL ? EXIT_USAGE : r == -EBADMSG || r == -ENOMEM ?
		     EXIT_REFUSED : EXIT_NODAEMON);
	}
	if (!keep_refusal && json_is_false(json_object_get(j, "ok"))) {
		fprintf(stderr, _("kyotenctl: kyotend refused: %s\n"),
			json_string_value(json_object_get(j, "error")));
		json_decref(j);
		exit(EXIT_REFUSED);
	}
	return j;
}

const char *kyotenctl_socket_path(void)
{
	return sock_path;
}

json_t *kyotenctl_request(uint16_t cmd, uint32_t arg,
			  const struct kt_ctl_policy *pol, int pass_fd,
			  bool keep_refusal)
{
	return do_request(cmd, arg, pol, pass_fd, keep_refusal, false);
}

json_t *kyotenctl_try_request(uint16_t cmd, uint32_t arg)
{
	return do_request(cmd, arg, NULL, -1, false, true);
}

static json_t *request(uint16_t cmd, uint32_t arg)
{
	return kyotenctl_request(cmd, arg, NULL, -1, false);
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static long long num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static void print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
}

static void print_tunnel_summary(json_t *t)
{
	json_t *p;
	size_t i, up = 0, n = 0;

	if (!json_is_true(json_object_get(t, "enabled"))) {
		if (json_is_string(json_object_get(t, "fault")))
			printf(_("Tunnels    none: %s\n"), str(t, "fault"));
		return;
	}
	json_array_foreach(json_object_get(t, "paths"), i, p) {
		n++;
		up += json_is_true(json_object_get(p, "session"));
	}
	printf(_("Tunnels    %zu of %zu paths with a session, suite %s "
		 "(kyotenctl show tunnels)\n"), up, n, str(t, "suite"));
	if (json_is_string(json_object_get(t, "fault")))
		printf(_("           fault: %s\n"), str(t, "fault"));
}

static void print_status(json_t *j)
{
	json_t *site = json_object_get(j, "site"), *fw = json_object_get(j, "kyoten");
	json_t *cfg = json_object_get(j, "config"), *p;
	long long up = num(j, "uptime");
	size_t i;

	printf(_("Site       %s (device %s), %s role"), str(site, "id"),
	       str(site, "device-number"), str(site, "role"));
	if (*str(site, "location") != '-')
		printf(", %s", str(site, "location"));
	printf(_("\nFirmware   kyoten %s, board %s (%s), wolfSSL %s\n"),
	       str(fw, "version"), str(fw, "board"), str(fw, "arch"),
	       str(fw, "wolfssl"));
	printf(_("Uptime     %lldd %02lld:%02lld:%02lld\n"), up / 86400,
	       up / 3600 % 24, up / 60 % 60, up % 60);
	printf(_("Config     %s, generation %lld, sha256 %.16s\n"), str(cfg, "file"),
	       num(cfg, "generation"), str(cfg, "sha256"));
	if (json_is_string(json_object_get(cfg, "last-error")))
		printf(_("           last reload refused: %s\n"),
		       str(cfg, "last-error"));
	json_array_foreach(json_object_get(j, "processes"), i, p) {
		printf("%s %-8s pid %-7lld uid %-5lld %s", i ? "          "
							     : _("Processes "),
		       str(p, "name"), num(p, "pid"), num(p, "uid"), str(p, "state"));
		if (json_object_get(p, "chrooted"))
			printf(_(", %s, %s, restarts %lld"),
			       json_is_true(json_object_get(p, "chrooted"))
				       ? _("chrooted") : _("NOT chrooted"),
			       json_is_true(json_object_get(p, "no-new-privs"))
				       ? "no_new_privs" : _("may gain privileges"),
			       num(p, "restarts"));
		putchar('\n');
	}
	print_tunnel_summary(json_object_get(j, "tunnels"));
	kyotenctl_policy_summary(json_object_get(j, "policy"));
	printf(_("\n%-6s %-10s %-8s %-11s %-12s %-20s %-8s %s\n"), _("PORT"),
	       _("IFNAME"), _("ROLE"), _("NAME"), _("KIND"), _("ADDRESS"),
	       _("CARRIER"), _("FAULT"));
	json_array_foreach(json_object_get(j, "ports"), i, p) {
		const char *carrier = !json_is_true(json_object_get(p, "present"))
			? _("absent") : json_is_true(json_object_get(p, "carrier"))
			? _("up") : _("down");

		printf("%-6s %-10s %-8s %-11s %-12s %-20s %-8s %s\n", str(p, "port"),
		       str(p, "ifname"), str(p, "role"), str(p, "name"),
		       str(p, "kind"), str(p, "address"), carrier, str(p, "fault"));
	}
}

static int cmd_status(int argc, char **argv)
{
	bool as_json = argc > 1 && !strcmp(argv[1], "--json");
	json_t *j;

	if (argc > (as_json ? 2 : 1)) {
		fprintf(stderr, _("Usage: kyotenctl status [--json]\n"));
		return EXIT_USAGE;
	}
	j = request(KT_CTL_STATUS, 0);
	if (as_json)
		print_json(j);
	else
		print_status(j);
	json_decref(j);
	return 0;
}

static int cmd_log(int argc, char **argv)
{
	bool as_json = false, raw = false;
	unsigned long count = 0;
	json_t *j, *e;
	size_t i;

	for (int a = 1; a < argc; a++) {
		char *end;

		if (!strcmp(argv[a], "--json")) {
			as_json = true;
		} else if (!strcmp(argv[a], "--rfc5424")) {
			raw = true;
		} else if (!strcmp(argv[a], "-n") && a + 1 < argc) {
			errno = 0;
			count = strtoul(argv[++a], &end, 10);
			if (errno || *end || !count || count > 1000000) {
				fprintf(stderr, _("kyotenctl: -n takes a count from 1 "
						  "to 1000000, not '%s'\n"), argv[a]);
				return EXIT_USAGE;
			}
		} else {
			fprintf(stderr, _("Usage: kyotenctl log [-n COUNT] "
					  "[--json | --rfc5424]\n"));
			return EXIT_USAGE;
		}
	}
	j = request(KT_CTL_LOG, (uint32_t)count);
	if (as_json) {
		print_json(json_object_get(j, "entries"));
	} else {
		json_array_foreach(json_object_get(j, "entries"), i, e) {
			time_t t = (time_t)(num(e, "time-us") / 1000000);
			char ts[32];

			if (raw) {
				printf("%s\n", str(e, "rfc5424"));
				continue;
			}
			strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", localtime(&t));
			printf("%s %-7s %-7s %-8s %-16s %s\n", ts, str(e, "severity"),
			       str(e, "proc"), str(e, "module"), str(e, "msgid"),
			       str(e, "text"));
		}
	}
	json_decref(j);
	return 0;
}

static int cmd_reload(int argc, char **argv)
{
	json_t *j;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, _("Usage: kyotenctl reload\n"));
		return EXIT_USAGE;
	}
	j = request(KT_CTL_RELOAD, 0);
	printf(_("reloaded: configuration generation %lld\n"), num(j, "generation"));
	json_decref(j);
	return 0;
}

static int cmd_reboot(int argc, char **argv)
{
	json_t *j;

	if (argc != 2 || strcmp(argv[1], "--yes")) {
		fprintf(stderr, _("Usage: kyotenctl reboot --yes\n"
				  "(the box restarts: its tunnels and segments are down "
				  "until it is back)\n"));
		return EXIT_USAGE;
	}
	j = request(KT_CTL_REBOOT, 0);
	printf(_("rebooting in %lld ms\n"), num(j, "in-ms"));
	json_decref(j);
	return 0;
}

static int cmd_check_config(int argc, char **argv)
{
	struct kt_config cfg;
	struct kt_config_error e;
	char msg[600];

	if (argc != 2) {
		fprintf(stderr, _("Usage: kyotenctl check-config FILE\n"));
		return EXIT_USAGE;
	}
	if (kt_config_load(argv[1], &kt_board_ports, &cfg, &e)) {
		fprintf(stderr, "%s\n", kt_config_error_str(&e, msg, sizeof(msg)));
		return EXIT_REFUSED;
	}
	printf(_("%s: valid: site %s, %s role, %zu lines, %zu hubs, %zu segments"),
	       argv[1], cfg.site_id, kt_role_name(cfg.role), cfg.n_lines,
	       cfg.n_hubs, cfg.n_segments);
	if (cfg.tunnel.enabled)
		printf(_("; tunnels: suite %s, %zu paths\n"), cfg.tunnel.suite,
		       kt_config_paths(&cfg));
	else
		printf(_("; no tunnels\n"));
	return 0;
}

/* [--suite NAME] FILE; the suite defaults to wireguard. */
static const struct kt_suite *key_args(int argc, char **argv, const char **file)
{
	const struct kt_suite *s = &kt_suite_wireguard;
	int a = 1;

	if (argc == 4 && !strcmp(argv[1], "--suite")) {
		s = kt_suite_find(argv[2]);
		if (!s) {
			fprintf(stderr, _("kyotenctl: unknown suite '%s' (wireguard, "
					  "cryptrec)\n"), argv[2]);
			return NULL;
		}
		a = 3;
	} else if (argc != 2) {
		fprintf(stderr, _("Usage: kyotenctl %s [--suite wireguard|cryptrec] "
				  "FILE\n"), argv[0]);
		return NULL;
	}
	*file = argv[a];
	return s;
}

static int print_pub(const struct kt_suite *s, const uint8_t *priv)
{
	uint8_t pub[KT_SUITE_MAX_PUB];
	char text[KT_KEY_B64_MAX];

	if (s->pubkey(priv, pub) || kt_key_encode(pub, s->pub_len, text)) {
		fprintf(stderr, _("kyotenctl: not a valid %s private key\n"), s->name);
		return EXIT_REFUSED;
	}
	printf("%s\n", text);
	return 0;
}

static int cmd_keygen(int argc, char **argv)
{
	uint8_t priv[KT_SUITE_KEY_LEN], pub[KT_SUITE_MAX_PUB];
	const char *file;
	const struct kt_suite *s = key_args(argc, argv, &file);
	int r;

	if (!s)
		return EXIT_USAGE;
	if (s->keygen(priv, pub)) {
		fprintf(stderr, _("kyotenctl: key generation failed\n"));
		return EXIT_REFUSED;
	}
	r = kt_key_write(file, priv);
	if (r) {
		kt_wipe(priv, sizeof(priv));
		fprintf(stderr, _("kyotenctl: cannot write %s: %s\n"), file,
			r == -EEXIST ? _("it exists (keys are never overwritten)")
				     : strerror(-r));
		return EXIT_REFUSED;
	}
	/* The private key goes to the file only; the public one is shown. */
	r = print_pub(s, priv);
	kt_wipe(priv, sizeof(priv));
	return r;
}

static int cmd_pubkey(int argc, char **argv)
{
	uint8_t priv[KT_SUITE_KEY_LEN];
	const char *file;
	char err[512];
	const struct kt_suite *s = key_args(argc, argv, &file);
	int r;

	if (!s)
		return EXIT_USAGE;
	if (kt_key_read(file, priv, err, sizeof(err))) {
		fprintf(stderr, "kyotenctl: %s\n", err);
		return EXIT_REFUSED;
	}
	r = print_pub(s, priv);
	kt_wipe(priv, sizeof(priv));
	return r;
}

/* 1536 -> "1.5K": counters in a column people can read. */
static const char *human(long long v, char *buf, size_t len)
{
	static const char units[] = "KMGTP";
	double d = (double)v;
	int u = -1;

	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%lld", v);
	else
		snprintf(buf, len, "%.1f%c", d, units[u]);
	return buf;
}

static void print_tunnels(json_t *t)
{
	json_t *p, *v;
	size_t i;
	const char *k;

	if (!json_is_true(json_object_get(t, "enabled"))) {
		printf(_("No tunnels configured%s%s\n"),
		       json_is_string(json_object_get(t, "fault")) ? ": " : ".",
		       json_is_string(json_object_get(t, "fault")) ? str(t, "fault") : "");
		return;
	}
	printf(_("Suite %s, public key %s, tunnel set %lld\n"), str(t, "suite"),
	       str(t, "public-key"), num(t, "generation"));
	if (json_is_string(json_object_get(t, "fault")))
		printf(_("Fault: %s\n"), str(t, "fault"));
	json_array_foreach(json_object_get(t, "devices"), i, p)
		if (json_is_string(json_object_get(p, "fault")))
			printf(_("%s (line %s): %s\n"), str(p, "interface"),
			       str(p, "line"), str(p, "fault"));
	printf(_("\n%-9s %-12s %-10s %-8s %-10s %-24s %-16s %-16s %s\n"),
	       _("PATH"), _("PEER"), _("LINE"), _("SESSION"), _("HANDSHAKE"),
	       _("ENDPOINT"), _("RX BYTES/PKTS"), _("TX BYTES/PKTS"), _("DROPS"));
	json_array_foreach(json_object_get(t, "paths"), i, p) {
		char hs[32], rx[40], tx[40], b1[16], b2[16], drops[200] = "";

		if (json_is_integer(json_object_get(p, "handshake-age")))
			snprintf(hs, sizeof(hs), _("%llds ago"), num(p, "handshake-age"));
		else
			snprintf(hs, sizeof(hs), _("never"));
		snprintf(rx, sizeof(rx), "%s/%lld",
			 human(num(p, "rx-bytes"), b1, sizeof(b1)), num(p, "rx-packets"));
		snprintf(tx, sizeof(tx), "%s/%lld",
			 human(num(p, "tx-bytes"), b2, sizeof(b2)), num(p, "tx-packets"));
		json_object_foreach(json_object_get(p, "drops"), k, v)
			if (json_integer_value(v))
				snprintf(drops + strlen(drops), sizeof(drops) - strlen(drops),
					 "%s%s=%lld", drops[0] ? " " : "", k,
					 (long long)json_integer_value(v));
		printf("%-9s %-12s %-10s %-8s %-10s %-24s %-16s %-16s %s\n",
		       str(p, "interface"), str(p, "peer"), str(p, "line"),
		       json_is_true(json_object_get(p, "session")) ? _("up") : _("none"),
		       hs, str(p, "endpoint"), rx, tx, drops[0] ? drops : "-");
	}
}

/* "1.2" ms from a JSON number of µs; "-" when there is none. */
static const char *ms(json_t *v, char *buf, size_t len)
{
	if (!json_is_integer(v))
		return "-";
	snprintf(buf, len, "%.1f", (double)json_integer_value(v) / 1000);
	return buf;
}

static void print_paths(json_t *t)
{
	json_t *p;
	size_t i;

	if (!json_is_true(json_object_get(t, "enabled"))) {
		printf(_("No tunnels configured.\n"));
		return;
	}
	printf(_("%-9s %-12s %-10s %-11s %-10s %-9s %-8s %-20s %-8s %-6s %s\n"),
	       _("PATH"), _("PEER"), _("LINE"), _("KIND"), _("BFD"), _("SINCE"),
	       _("DETECT"), _("RTT AVG/MIN/MAX"), _("JITTER"), _("LOST"), _("CAUSE"));
	json_array_foreach(json_object_get(t, "paths"), i, p) {
		json_t *b = json_object_get(p, "bfd"), *r = json_object_get(b, "rtt");
		char since[24] = "-", det[16] = "-", rtt[48], jit[16], b1[16], b2[16],
		     b3[16];
		const char *diag = str(b, "diag");

		if (json_is_number(json_object_get(b, "since-s")))
			snprintf(since, sizeof(since), _("%.0fs ago"),
				 json_number_value(json_object_get(b, "since-s")));
		if (json_is_number(json_object_get(b, "detect-ms")))
			snprintf(det, sizeof(det), "%.0fms",
				 json_number_value(json_object_get(b, "detect-ms")));
		snprintf(rtt, sizeof(rtt), "%s/%s/%s", ms(json_object_get(r, "avg-us"), b1, sizeof(b1)),
			 ms(json_object_get(r, "min-us"), b2, sizeof(b2)),
			 ms(json_object_get(r, "max-us"), b3, sizeof(b3)));
		snprintf(jit, sizeof(jit), "%s", ms(json_object_get(r, "jitter-us"), b1, sizeof(b1)));
		printf("%-9s %-12s %-10s %-11s %-10s %-9s %-8s %-20s %-8s %-6lld %s\n",
		       str(p, "interface"), str(p, "peer"), str(p, "line"),
		       str(p, "line-kind"), str(b, "state"), since, det, rtt, jit,
		       num(r, "lost"), !strcmp(diag, "none") ? "-" : diag);
	}
}

/* Which path each segment uses (a site), from status' "paths". */
static void print_segments(json_t *ps)
{
	json_t *s, *e;
	size_t i, k;

	if (!json_is_true(json_object_get(ps, "enabled")))
		return;
	printf(_("\n%-12s %-6s %-10s %-9s %-10s %-10s %s\n"), _("SEGMENT"), _("PORT"),
	       _("ACTIVE"), _("SINCE"), _("FAILOVERS"), _("FAILBACKS"),
	       _("ELIGIBLE (usable*)"));
	json_array_foreach(json_object_get(ps, "segments"), i, s) {
		char since[24], elig[160] = "";

		snprintf(since, sizeof(since), _("%.0fs ago"),
			 json_number_value(json_object_get(s, "since-s")));
		json_array_foreach(json_object_get(s, "eligible"), k, e)
			snprintf(elig + strlen(elig), sizeof(elig) - strlen(elig), "%s%s%s",
				 k ? " " : "", str(e, "path"),
				 json_is_true(json_object_get(e, "usable")) ? "*" : "");
		printf("%-12s %-6s %-10s %-9s %-10lld %-10lld %s\n", str(s, "segment"),
		       str(s, "port"), json_is_string(json_object_get(s, "active")) ?
		       str(s, "active") : _("none"), since, num(s, "failovers"),
		       num(s, "failbacks"), elig);
		if (json_is_string(json_object_get(s, "fault")))
			printf(_("  fault: %s\n"), str(s, "fault"));
	}
}

static int cmd_show(int argc, char **argv)
{
	bool as_json = argc > 2 && !strcmp(argv[2], "--json");
	bool paths = argc > 1 && !strcmp(argv[1], "paths");
	json_t *j, *t;

	if (argc < 2 || (strcmp(argv[1], "tunnels") && !paths) ||
	    argc > (as_json ? 3 : 2)) {
		fprintf(stderr, _("Usage: kyotenctl show tunnels|paths [--json]\n"));
		return EXIT_USAGE;
	}
	j = request(KT_CTL_STATUS, 0);
	t = json_object_get(j, "tunnels");
	if (as_json)
		print_json(!t ? json_null() : paths ? json_object_get(t, "paths") : t);
	else if (paths) {
		print_paths(t);
		print_segments(json_object_get(j, "paths"));
	}
	else
		print_tunnels(t);
	json_decref(j);
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("kyotenctl %s (board %s, %s)\n", KYOTEN_VERSION, CONFIG_BOARD_NAME,
	       CONFIG_ARCH);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "status", cmd_status, "show the box: site, processes, ports [--json]" },
	{ "show", cmd_show, "show tunnels: every path's peer, line, session, counters; show paths: BFD state, cause, RTT, jitter, lost probes [--json]" },
	{ "log", cmd_log, "show the newest log entries [-n N] [--json|--rfc5424]" },
	{ "reload", cmd_reload, "re-read the site configuration" },
	{ "reboot", cmd_reboot, "restart the box (--yes; the sim board restarts kyotend)" },
	{ "check-config", cmd_check_config, "check a site configuration FILE" },
	{ "keygen", cmd_keygen, "new private key into FILE (0600); prints the public key" },
	{ "pubkey", cmd_pubkey, "print the public key of private key FILE" },
	{ "policy", kyotenctl_policy, "segment policy: check, verify, apply, confirm, rollback, show, history, diff (kyotenctl policy -h)" },
	{ "selftest", kyotenctl_selftest, "is the box fit to serve: lines, tunnels, segment paths, policy, identity, clock, firmware [--json]" },
	{ "version", cmd_version, "print the version" },
};

static void usage(FILE *f)
{
	fprintf(f, _("Usage: kyotenctl [-s SOCKET] COMMAND [ARGS]\n\nCommands:\n"));
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-14s %s\n", commands[i].name, _(commands[i].help));
	fprintf(f, _("\nThe socket defaults to %s (or $KYOTEN_CTL).\n"),
		CONFIG_CTL_SOCKET_PATH);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv("KYOTEN_CTL");
	int c;

	setlocale(LC_ALL, "");
	bindtextdomain("kyoten", "/usr/share/locale");
	textdomain("kyoten");
	if (env && *env)
		sock_path = env;
	while ((c = getopt_long(argc, argv, "+s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[optind], commands[i].name))
			return commands[i].fn(argc - optind, argv + optind);
	fprintf(stderr, _("kyotenctl: unknown command '%s'\n\n"), argv[optind]);
	usage(stderr);
	return EXIT_USAGE;
}
