/* kyotenctl selftest: is this box fit to serve? (docs/field-guide.md)
 *
 *   kyotenctl selftest [--json] [--update-root DIR] [--config FILE]
 *
 * FILE: the site configuration whose identity files are checked; by
 * default the one kyotend runs, or CONFIG_SITE_CONFIG_PATH when it does
 * not run.
 * The check after an install, after a power cut, and before the counters
 * open. Every check gives pass, warn (the box serves, with less than it
 * should: one line down, a policy not yet confirmed, a clock NTP does
 * not keep) or fail (the box does not do its job: no tunnel to a hub, a
 * segment with no path, no policy, a certificate that will not be
 * accepted). Exit status 0 when nothing failed, 1 when something did;
 * the report says which and why, in words a field engineer can act on.
 *
 * What kyotend knows comes from its status; the identity files, the
 * clock and the firmware slots are read here, so a box whose daemon
 * does not run still gets a report. */
#include <errno.h>
#include <getopt.h>
#include <libintl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fileio.h"
#include "generated/autoconf.h"
#include "image.h"
#include "kyotenctl.h"
#include "pki.h"
#include "suite.h"
#include "update.h"

#define _(s) gettext(s)

enum result { PASS, WARN, FAIL };
static const char *const result_name[] = { "pass", "warn", "fail" };

struct report {
	json_t *checks;
	unsigned n[3];
};

static void add(struct report *r, const char *check, enum result res,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void add(struct report *r, const char *check, enum result res,
		const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	r->n[res]++;
	json_array_append_new(r->checks, json_pack("{s:s, s:s, s:s}", "check", check,
						   "result", result_name[res],
						   "detail", detail));
}

/* Appends "; " and text to a list being built in buf. */
static void list_add(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void list_add(char *buf, size_t cap, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	if (n && n + 2 < cap) {
		strcpy(buf + n, "; ");
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(buf + n, cap - n, fmt, ap);
	va_end(ap);
}

static const char *s_of(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "?";
}

static void check_daemon(struct report *r, json_t *st)
{
	char bad[512] = "";
	size_t i;
	json_t *p, *cfg = json_object_get(st, "config");

	json_array_foreach(json_object_get(st, "processes"), i, p)
		if (strcmp(s_of(p, "state"), "up"))
			list_add(bad, sizeof(bad), "%s is %s", s_of(p, "name"),
				 s_of(p, "state"));
	if (*bad)
		add(r, "daemon", FAIL, "%s", bad);
	else
		add(r, "daemon", PASS, "kyotend %s up %llds", s_of(json_object_get(st, "kyoten"),
		    "version"), (long long)json_integer_value(json_object_get(st, "uptime")));
	if (json_is_string(json_object_get(cfg, "last-error")))
		add(r, "config", WARN, "the last reload was refused, the previous file "
		    "runs: %s", s_of(cfg, "last-error"));
	else
		add(r, "config", PASS, "%s, generation %lld", s_of(cfg, "file"),
		    (long long)json_integer_value(json_object_get(cfg, "generation")));
}

static void check_ports(struct report *r, json_t *st)
{
	char lines[1024] = "", bad[1024] = "", segs[1024] = "";
	unsigned n_lines = 0, n_bad = 0;
	size_t i;
	json_t *p;

	json_array_foreach(json_object_get(st, "ports"), i, p) {
		bool line = !strcmp(s_of(p, "role"), "line");
		const char *why = !json_is_true(json_object_get(p, "present")) ? "missing" :
				  !json_is_true(json_object_get(p, "up")) ? "down" :
				  !json_is_true(json_object_get(p, "carrier")) ? "no carrier (cable?)" :
				  NULL;

		if (line) {
			n_lines++;
			if (why) {
				n_bad++;
				list_add(bad, sizeof(bad), "line %s (%s): %s", s_of(p, "name"),
					 s_of(p, "port"), why);
			} else {
				list_add(lines, sizeof(lines), "%s (%s) %s", s_of(p, "name"),
					 s_of(p, "port"), s_of(p, "address"));
			}
		} else if (why) {
			list_add(segs, sizeof(segs), "segment %s (%s): %s", s_of(p, "name"),
				 s_of(p, "port"), why);
		}
	}
	if (!n_bad)
		add(r, "lines", PASS, "%s", *lines ? lines : "none configured");
	else
		add(r, "lines", n_bad == n_lines ? FAIL : WARN, "%s", bad);
	if (*segs)
		add(r, "segment ports", WARN, "%s", segs);
	else
		add(r, "segment ports", PASS, "every segment port has carrier");
}

static void check_paths(struct report *r, json_t *st)
{
	json_t *t = json_object_get(st, "tunnels"), *p, *seg;
	char down[1024] = "", hubs_up[512] = "", blackholed[512] = "";
	unsigned n = 0, n_up = 0;
	size_t i;

	json_array_foreach(json_object_get(t, "paths"), i, p) {
		json_t *bfd = json_object_get(p, "bfd");
		bool session = json_is_true(json_object_get(p, "session"));
		bool up = bfd ? !strcmp(s_of(bfd, "state"), "up") : session;

		n++;
		if (up && session) {
			n_up++;
			if (!strstr(hubs_up, s_of(p, "peer")))
				list_add(hubs_up, sizeof(hubs_up), "%s", s_of(p, "peer"));
		} else {
			list_add(down, sizeof(down), "%s (%s, %s line): %s", s_of(p, "interface"),
				 s_of(p, "peer"), s_of(p, "line"),
				 !session ? "no session (no handshake with the hub)" :
				 "BFD not up");
		}
	}
	if (!n)
		add(r, "tunnels", WARN, "no tunnel paths configured");
	else if (!n_up)
		add(r, "tunnels", FAIL, "no path works: %s", down);
	else if (*down)
		add(r, "tunnels", WARN, "%u of %u paths up (hubs reached: %s); down: %s",
		    n_up, n, hubs_up, down);
	else
		add(r, "tunnels", PASS, "all %u paths up, hubs %s", n, hubs_up);
	json_array_foreach(json_object_get(json_object_get(st, "paths"), "segments"), i, seg)
		if (!json_is_string(json_object_get(seg, "active")))
			list_add(blackholed, sizeof(blackholed), "%s", s_of(seg, "segment"));
	if (*blackholed)
		add(r, "segment paths", FAIL, "no eligible path, traffic dropped: %s",
		    blackholed);
	else if (json_array_size(json_object_get(json_object_get(st, "paths"), "segments")))
		add(r, "segment paths", PASS, "every segment has a path to the data centre");
}

static void check_policy(struct report *r, json_t *st)
{
	json_t *p = json_object_get(st, "policy");
	const char *state = s_of(p, "state");

	if (json_is_string(json_object_get(p, "fault")))
		add(r, "policy", FAIL, "%s", s_of(p, "fault"));
	else if (!strcmp(state, "confirmed"))
		add(r, "policy", PASS, "generation %lld confirmed, in the kernel (%s)",
		    (long long)json_integer_value(json_object_get(p, "generation")),
		    s_of(p, "kernel"));
	else if (!strcmp(state, "pending"))
		add(r, "policy", WARN, "generation %lld applied, not yet confirmed (%lld s "
		    "left before it is rolled back)",
		    (long long)json_integer_value(json_object_get(p, "generation")),
		    (long long)json_integer_value(json_object_get(p, "confirm-left")));
	else
		add(r, "policy", FAIL, "no segment policy runs (%s): the segments are not "
		    "separated", state);
}

static void check_clock(struct report *r)
{
	struct timex tx = { 0 };
	time_t now = time(NULL), built = KYOTEN_BUILD_TIME;
	int s = adjtimex(&tx);
	char at[32];
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(at, sizeof(at), "%Y-%m-%d %H:%M:%S UTC", &tm);
	if (now < built)
		add(r, "clock", FAIL, "%s is before this firmware was built: the clock "
		    "is wrong (certificates and logs need it)", at);
	else if (s == TIME_ERROR || (tx.status & STA_UNSYNC))
		add(r, "clock", WARN, "%s, not synchronised (no NTP server reached)", at);
	else
		add(r, "clock", PASS, "%s, synchronised (estimated error %ld us)", at,
		    (long)tx.esterror);
}

static char *slurp(const char *path, size_t *len)
{
	uint8_t *b;

	return kt_read_file(path, 64 * 1024, &b, len) ? NULL : (char *)b;
}

static struct kt_config cfg;

static void check_identity(struct report *r, const char *cfg_file)
{
	struct kt_config_error ce;
	struct kt_pki_info info;
	char msg[768], *ca, *crt, *key;
	size_t cal = 0, cl = 0, kl = 0;

	if (kt_config_load(cfg_file, &kt_board_ports, &cfg, &ce)) {
		add(r, "identity", FAIL, "%s", kt_config_error_str(&ce, msg, sizeof(msg)));
		return;
	}
	if (!cfg.management.enabled) {
		add(r, "identity", WARN, "site %s has no management section: the box "
		    "is not provisioned for the NOC", cfg.site_id);
		return;
	}
	ca = slurp(cfg.management.ca, &cal);
	crt = slurp(cfg.management.certificate, &cl);
	key = slurp(cfg.management.key, &kl);
	if (!ca || !crt || !key)
		add(r, "identity", FAIL, "cannot read %s", !ca ? cfg.management.ca :
		    !crt ? cfg.management.certificate : cfg.management.key);
	else if (kt_pki_check_identity(ca, cal, crt, cl, key, kl, cfg.site_id, msg,
				       sizeof(msg)))
		add(r, "identity", FAIL, "the management certificate: %s", msg);
	else if (!kt_pki_cert_info(crt, cl, &info, msg, sizeof(msg))) {
		long days = (long)((info.not_after - time(NULL)) / 86400);

		add(r, "identity", days < 30 ? WARN : PASS, "certificate CN=%s (serial "
		    "%s) from the NOC's CA, %ld days left%s; NOC %s:%u", info.cn,
		    info.serial_hex, days, days < 30 ? ": ask the NOC for a new bundle" : "",
		    cfg.management.broker_host, cfg.management.broker_port);
	}
	if (key)
		kt_wipe(key, kl);
	free(ca);
	free(crt);
	free(key);
}

static void check_firmware(struct report *r, const char *root)
{
	struct kt_update u = { 0 };
	struct kt_bootstate bs;

	snprintf(u.root, sizeof(u.root), "%s", root);
	if (access(root, F_OK)) {
		add(r, "firmware", WARN, "no slots at %s: this firmware was not "
		    "installed from an image", root);
		return;
	}
	if (kt_update_state_read(&u, &bs) || !bs.seq) {
		add(r, "firmware", FAIL, "the boot state at %s cannot be read", root);
		return;
	}
	if (bs.rolled_back != KT_SLOT_NONE)
		add(r, "firmware", WARN, "slot %s runs; an update in slot %s never became "
		    "healthy and was rolled back", kt_update_slot_name(bs.booted),
		    kt_update_slot_name(bs.rolled_back));
	else if (bs.pending != KT_SLOT_NONE)
		add(r, "firmware", WARN, "slot %s is new and not yet confirmed (%u boots "
		    "left)", kt_update_slot_name(bs.pending), bs.tries_left);
	else
		add(r, "firmware", PASS, "slot %s, confirmed", kt_update_slot_name(bs.good));
}

int kyotenctl_selftest(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "update-root", required_argument, NULL, 'u' },
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct report r = { .checks = json_array() };
	const char *update_root = CONFIG_UPDATE_ROOT, *cfg_file = CONFIG_SITE_CONFIG_PATH;
	const char *site = "?", *devnum = "?", *cfg_arg = NULL;
	bool as_json = false;
	json_t *st = NULL, *out;
	time_t now = time(NULL);
	char at[32];
	size_t i;
	json_t *c;
	int o;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'j')
			as_json = true;
		else if (o == 'u')
			update_root = optarg;
		else if (o == 'c')
			cfg_arg = optarg;
		else {
			fprintf(stderr, _("Usage: kyotenctl selftest [--json] "
					  "[--update-root DIR] [--config FILE]\n"));
			return KT_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, _("Usage: kyotenctl selftest [--json] [--update-root DIR] "
				  "[--config FILE]\n"));
		return KT_EXIT_USAGE;
	}
	st = kyotenctl_try_request(KT_CTL_STATUS, 0);
	if (st) {
		json_t *s = json_object_get(st, "site");

		site = s_of(s, "id");
		devnum = s_of(s, "device-number");
		cfg_file = s_of(json_object_get(st, "config"), "file");
		check_daemon(&r, st);
		check_ports(&r, st);
		check_paths(&r, st);
		check_policy(&r, st);
	} else {
		add(&r, "daemon", FAIL, "kyotend does not answer at %s: it is not running",
		    kyotenctl_socket_path());
	}
	if (cfg_arg)
		cfg_file = cfg_arg;
	check_identity(&r, cfg_file);
	if (!st && *cfg.site_id) {
		site = cfg.site_id;
		devnum = cfg.device_number;
	}
	check_clock(&r);
	check_firmware(&r, update_root);

	kt_utc_time(now, at, sizeof(at));
	out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:{s:i, s:i, s:i}}",
			"site", site, "device-number", devnum, "time", at,
			"firmware", KYOTEN_VERSION, "result",
			result_name[r.n[FAIL] ? FAIL : r.n[WARN] ? WARN : PASS],
			"checks", r.checks, "counts", "pass", r.n[PASS], "warn", r.n[WARN],
			"fail", r.n[FAIL]);
	if (as_json) {
		char *text = json_dumps(out, JSON_INDENT(2));

		if (text)
			puts(text);
		free(text);
	} else {
		printf(_("Self-test of %s (device number %s) at %s, firmware %s\n"), site,
		       devnum, at, KYOTEN_VERSION);
		json_array_foreach(r.checks, i, c) {
			const char *res = s_of(c, "result");

			printf("  %-4s  %-14s %s\n", !strcmp(res, "pass") ? "PASS" :
			       !strcmp(res, "warn") ? "WARN" : "FAIL", s_of(c, "check"),
			       s_of(c, "detail"));
		}
		printf(_("Result: %s (%u passed, %u warnings, %u failed)\n"),
		       r.n[FAIL] ? "FAIL" : r.n[WARN] ? "PASS with warnings" : "PASS",
		       r.n[PASS], r.n[WARN], r.n[FAIL]);
	}
	json_decref(out);
	json_decref(r.checks);
	json_decref(st);
	return r.n[FAIL] ? KT_EXIT_REFUSED : 0;
}
