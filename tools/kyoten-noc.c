/* kyoten-noc: the NOC's tool (docs/noc.md).
 *
 *   kyoten-noc [-d DIR] ca init [--name NAME] [--days N]
 *   kyoten-noc [-d DIR] site issue SITE -c SITE.yaml -o BUNDLE
 *              [--serial S] [--root DIR] [--days N] [--passphrase-file F]
 *              [--reissue]
 *   kyoten-noc [-d DIR] site list
 *   kyoten-noc [-d DIR] broker init --host NAME [--port P] [--listen ADDR]
 *   kyoten-noc [-d DIR] spare add SERIAL -o BUNDLE [--port wan2]
 *   kyoten-noc [-d DIR] spare assign SERIAL SITE -c SITE.yaml [--wait S]
 *
 * DIR (default $KYOTEN_NOC_DIR, else /var/lib/kyoten-noc) holds the
 * certificate authority, the policy-signing key and what was issued to
 * each site; keep it on the NOC's own machine, mode 0700. A site's
 * private keys are made here, sealed into its bundle and wiped: the NOC
 * keeps only their public halves.
 *
 * The management channel itself (the broker, status, policy push) is
 * the subject of the management issue; this file has what provisioning
 * needs. Exit status: 0 done, 1 refused or failed, 2 bad command line. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <jansson.h>
#include <libgen.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "annex.h"
#include "bundle.h"
#include "config.h"
#include "generated/autoconf.h"
#include "fileio.h"
#include "httpreq.h"
#include "image.h"
#include "keys.h"
#include "mqttc.h"
#include "pki.h"
#include "polsign.h"
#include "suite.h"
#include "yamlwalk.h"

#define EXIT_USAGE 2
#define PEM_FILE_MAX (64 * 1024)

static const char *noc_dir;

#define die kt_die

static void usage(FILE *f)
{
	fputs("usage: kyoten-noc [-d DIR] ca init [--name NAME] [--days N]\n"
	      "       kyoten-noc [-d DIR] broker init --host NAME [--port P] [--listen ADDR]\n"
	      "       kyoten-noc [-d DIR] site issue SITE -c SITE.yaml -o BUNDLE [--serial S]\n"
	      "                  [--root DIR] [--days N] [--passphrase-file F] [--reissue]\n"
	      "       kyoten-noc [-d DIR] site list\n"
	      "       kyoten-noc [-d DIR] site rollback SITE [--to GENERATION] [--timeout S]\n"
	      "       kyoten-noc [-d DIR] site diagnose SITE [--probe LINE/PEER] [--seconds N]\n"
	      "                  [--log N] [--json] [--timeout S]\n"
	      "       kyoten-noc [-d DIR] site reboot SITE --yes [--timeout S]\n"
	      "       kyoten-noc [-d DIR] policy plan FILE --sites A,B,... [--diff]\n"
	      "       kyoten-noc [-d DIR] policy push FILE --sites A,B,... [--canary S]\n"
	      "                  [--wave N] [--timeout S] [--confirm-timeout S]\n"
	      "       kyoten-noc [-d DIR] status [--json] [--wait MS]\n"
	      "       kyoten-noc [-d DIR] watch [--site S] [--class C] [-n N] [--timeout S]\n"
	      "                  [--json] [--mail ADDR [--sendmail PROG]]\n"
	      "       kyoten-noc [-d DIR] events [--site S] [--class C] [--since TIME]\n"
	      "                  [--json]\n"
	      "       kyoten-noc [-d DIR] metrics [--listen ADDR:PORT] [--timeout S]\n"
	      "       kyoten-noc [-d DIR] spare add SERIAL -o BUNDLE [--port wan2]\n"
	      "                  [--passphrase-file F]\n"
	      "       kyoten-noc [-d DIR] spare assign SERIAL SITE -c SITE.yaml [--root DIR]\n"
	      "                  [--wait S]\n"
	      "\n"
	      "ca init     the NOC's certificate authority (DIR/ca/ca.crt, ca.key) and its\n"
	      "            policy-signing key (DIR/ca/policy.key, policy.pub)\n"
	      "site issue  a site's identity bundle: its configuration SITE.yaml, a new\n"
	      "            tunnel key, a management certificate from the CA, the CA and\n"
	      "            the policy key; sealed with a one-time passphrase that is\n"
	      "            printed once (or written to F, mode 0600)\n"
	      "broker init the broker's certificate for NAME (what the boxes dial), the\n"
	      "            NOC tools' own (DIR/noc/), a Mosquitto configuration with\n"
	      "            TLS 1.3, client certificates only and a per-site ACL\n"
	      "site list   the sites issued so far\n"
	      "site rollback|diagnose|reboot  a signed command to one site, its answer\n"
	      "            awaited (reboot: until the site is back); in DIR/commands.log\n"
	      "policy plan what pushing FILE would change at each site, against what\n"
	      "            it last confirmed (--diff: the lines); nothing is sent\n"
	      "policy push FILE (\"{site}\" in it: one file per site), signed with the\n"
	      "            policy key: the canary first, then waves; stops at the\n"
	      "            first site that does not confirm; recorded in DIR/pushes.log\n"
	      "status      every site as its agent last reported: state, paths up,\n"
	      "            worst RTT, lost probes, policy, active path per segment\n"
	      "watch       events as they arrive (recorded in DIR/events.log); --mail:\n"
	      "            alerts (faults, recoveries, a site offline) mailed to ADDR\n"
	      "            through PROG (default /usr/sbin/sendmail), in DIR/alerts.log\n"
	      "events      the events recorded so far, oldest first\n"
	      "metrics     the fleet for Prometheus at http://ADDR:PORT/metrics\n"
	      "            (default 127.0.0.1:9105)\n"
	      "spare add   a spare box's own identity, for it to fetch a site's bundle\n"
	      "            by itself later; installed when it goes into stock\n"
	      "spare assign  SITE's bundle for the spare SERIAL, left at the broker for\n"
	      "            it (its passphrase sealed for the spare's key); --wait: until\n"
	      "            the spare says it installed it\n"
	      "\n"
	      "DIR defaults to $KYOTEN_NOC_DIR, else /var/lib/kyoten-noc. --root is the\n"
	      "folder the box installs the bundle into (default /etc/kyoten); SITE.yaml's\n"
	      "key and certificate paths must name files in it. --days: how long the\n"
	      "certificate is valid (CA 3650, site 1825).\n", f);
}

static int parse_days(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 36500 || *s < '1' || *s > '9')
		return die("--days '%s' is not a number of days from 1 to 36500", s);
	*out = (int)v;
	return 0;
}

static void path_in(char *out, size_t cap, const char *a, const char *b)
{
	snprintf(out, cap, "%s/%s", a, b);
}

static int read_text(const char *path, char **out, size_t *len)
{
	uint8_t *buf;
	int r = kt_read_file(path, PEM_FILE_MAX, &buf, len);

	if (r)
		return die("%s: %s", path, r == -EFBIG ? "larger than 64 KiB" :
			   r == -EINVAL ? "not a regular file" : strerror(-r));
	*out = (char *)buf;
	return 0;
}

static void wipe_free(char *p, size_t n)
{
	if (p) {
		kt_wipe(p, n);
		free(p);
	}
}

/* --- ca init --- */

static int ca_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "days", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = "Kyoten NOC CA";
	char ca[4096], path[4200], err[512], id[17], *key = NULL, *crt = NULL;
	size_t key_len = 0, crt_len = 0;
	int c, days = 3650, r;

	optind = 0;	/* a fresh scan (glibc) */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n')
			name = optarg;
		else if (c != 'D' || parse_days(optarg, &days))
			return c == 'D' ? 1 : (usage(stderr), EXIT_USAGE);
	}
	if (optind != argc)
		return usage(stderr), EXIT_USAGE;
	if (mkdir(noc_dir, 0700) && errno != EEXIST)
		return die("%s: %s", noc_dir, strerror(errno));
	path_in(ca, sizeof(ca), noc_dir, "ca");
	if (mkdir(ca, 0700))
		return die("%s: %s", ca, errno == EEXIST ? "there is a CA here already "
			   "(it is never replaced; move it away first)" : strerror(errno));
	r = kt_pki_key_new(&key, &key_len, err, sizeof(err));
	if (!r)
		r = kt_pki_cert_new(key, key_len, &(struct kt_pki_name){ .cn = name,
				    .org = "Kyoten NOC" }, days, NULL, 0, NULL, 0,
				    &crt, &crt_len, err, sizeof(err));
	/* The policy key, which also refuses a git work tree. */
	if (!r)
		r = kt_image_keygen(ca, "policy", id, err, sizeof(err));
	if (r) {
		wipe_free(key, key_len);
		free(crt);
		rmdir(ca);
		return die("the CA: %s", err);
	}
	path_in(path, sizeof(path), ca, "ca.key");
	r = kt_write_file_new(path, key, key_len, 0600);
	wipe_free(key, key_len);
	if (!r) {
		path_in(path, sizeof(path), ca, "ca.crt");
		r = kt_write_file_new(path, crt, crt_len, 0644);
	}
	free(crt);
	if (r)
		return die("%s: %s", path, strerror(-r));
	printf("certificate authority \"%s\" in %s (ca.crt, ca.key: valid %d days)\n"
	       "policy-signing key %s/policy.key (key id %s)\n"
	       "keep %s on this machine only, mode 0700, and back it up offline\n",
	       name, ca, days, ca, id, noc_dir);
	return 0;
}

/* --- broker init --- */

/* A key and a certificate from the CA for name, into dir/stem.key and
 * dir/stem.crt. */
static int issue_pair(const char *dir, const char *stem, const char *name,
		      int days)
{
	char ca[4096], path[4200], err[512], *ca_key = NULL, *ca_crt = NULL;
	char *key = NULL, *crt = NULL;
	size_t ca_key_len = 0, ca_crt_len = 0, key_len = 0, crt_len = 0;
	int r;

	path_in(ca, sizeof(ca), noc_dir, "ca");
	path_in(path, sizeof(path), ca, "ca.crt");
	if (read_text(path, &ca_crt, &ca_crt_len))
		return 1;
	path_in(path, sizeof(path), ca, "ca.key");
	if (read_text(path, &ca_key, &ca_key_len)) {
		free(ca_crt);
		return 1;
	}
	r = kt_pki_key_new(&key, &key_len, err, sizeof(err)) ||
	    kt_pki_cert_new(key, key_len, &(struct kt_pki_name){ .cn = name,
			    .org = "Kyoten NOC" }, days, ca_crt, ca_crt_len, ca_key,
			    ca_key_len, &crt, &crt_len, err, sizeof(err));
	wipe_free(ca_key, ca_key_len);
	free(ca_crt);
	if (r) {
		wipe_free(key, key_len);
		return die("%s: %s", name, err);
	}
	snprintf(path, sizeof(path), "%s/%s.key", dir, stem);
	r = kt_write_file_new(path, key, key_len, 0600);
	wipe_free(key, key_len);
	if (!r) {
		snprintf(path, sizeof(path), "%s/%s.crt", dir, stem);
		r = kt_write_file_new(path, crt, crt_len, 0644);
	}
	free(crt);
	return r ? die("%s: %s", path, strerror(-r)) : 0;
}

/* The broker reads the CA certificate from its own folder: the CA's
 * folder stays closed to it. */
static int copy_ca(const char *dir)
{
	char path[4200];
	char *crt;
	size_t len;
	int r;

	snprintf(path, sizeof(path), "%s/ca/ca.crt", noc_dir);
	if (read_text(path, &crt, &len))
		return 1;
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	r = kt_write_file_new(path, crt, len, 0644);
	free(crt);
	return r ? die("%s: %s", path, strerror(-r)) : 0;
}

/* Mosquitto started as root drops to its own user before it reads the
 * ACL (and on reload the certificates): the broker's folder is that
 * user's, still closed to everyone else. */
static int give_to_broker(const char *dir)
{
	static const char *const files[] = { "", "/ca.crt", "/server.crt",
					     "/server.key", "/acl", "/mosquitto.conf" };
	struct passwd *pw = getpwnam("mosquitto");
	char path[4200];

	if (!pw || geteuid())
		return 0;
	/* DIR itself: passable, not listable; its other folders stay 0700. */
	if (chmod(noc_dir, 0711))
		return die("%s: %s", noc_dir, strerror(errno));
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", dir, files[i]);
		if (chown(path, pw->pw_uid, pw->pw_gid))
			return die("%s: %s", path, strerror(errno));
	}
	return 0;
}

/* The broker's TLS identity and a Mosquitto configuration that takes
 * clients with a certificate from the CA only, names each by its
 * certificate's CN, and lets a site read and write its own topics only
 * (docs/noc.md, "The broker"). */
static int broker_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "listen", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	const char *host = NULL, *listen_on = NULL;
	char dir[4096], noc[4096], path[4200];
	unsigned long port = 8883;
	FILE *f;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'H': host = optarg; break;
		case 'l': listen_on = optarg; break;
		case 'p':
			port = strtoul(optarg, &end, 10);
			if (*end || !port || port > 65535)
				return die("--port '%s' is not 1 to 65535", optarg);
			break;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (!host || optind != argc) {
		fprintf(stderr, "kyoten-noc: broker init needs --host NAME (the name "
			"or address the boxes dial; it goes into the broker's "
			"certificate)\n");
		return EXIT_USAGE;
	}
	if (strlen(host) > 63 || strspn(host, "abcdefghijklmnopqrstuvwxyz"
					"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") != strlen(host))
		return die("--host '%s' is not a host name or address", host);
	/* One CA issues every name: the broker's must be no client's. */
	if (!strcmp(host, "noc") || kt_yw_is_name(host))
		return die("--host '%s' could be a client's name (a site ID, or the NOC "
			   "tools' \"noc\"): give the broker's DNS name (with a dot) or "
			   "address", host);
	path_in(dir, sizeof(dir), noc_dir, "broker");
	path_in(noc, sizeof(noc), noc_dir, "noc");
	if (mkdir(dir, 0700))
		return die("%s: %s", dir, errno == EEXIST ? "there is a broker set up "
			   "already (move it away first)" : strerror(errno));
	if (mkdir(noc, 0700) && errno != EEXIST)
		return die("%s: %s", noc, strerror(errno));
	/* The broker's certificate names the host the boxes dial; the
	 * NOC's own tools connect as "noc". */
	if (issue_pair(dir, "server", host, 825) || issue_pair(noc, "noc", "noc", 825))
		return 1;
	path_in(path, sizeof(path), dir, "acl");
	f = fopen(path, "wx");
	if (!f || fprintf(f,
		"# Written by kyoten-noc broker init. Clients are named by their\n"
		"# certificate's CN (use_identity_as_username): a site by its ID.\n"
		"# A site reads and writes under its own topic only.\n"
		"pattern readwrite kyoten/site/%%u/#\n"
		"\n"
		"# The NOC's tools see every site.\n"
		"user noc\n"
		"topic readwrite kyoten/#\n") < 0 || fclose(f))
		return die("%s: %s", path, strerror(errno));
	path_in(path, sizeof(path), dir, "mosquitto.conf");
	f = fopen(path, "wx");
	if (!f || fprintf(f,
		"# Written by kyoten-noc broker init: mosquitto -c %s\n"
		"per_listener_settings false\n"
		"allow_anonymous false\n"
		"persistence true\n"
		"persistence_location %s/\n"
		"autosave_interval 60\n"
		"log_dest stderr\n"
		"log_type error\n"
		"log_type warning\n"
		"log_type notice\n"
		"connection_messages true\n"
		"listener %lu%s%s\n"
		"tls_version tlsv1.3\n"
		"cafile %s/ca.crt\n"
		"certfile %s/server.crt\n"
		"keyfile %s/server.key\n"
		"require_certificate true\n"
		"use_identity_as_username true\n"
		"acl_file %s/acl\n", path, dir, port, listen_on ? " " : "",
		listen_on ? listen_on : "", dir, dir, dir, dir) < 0 || fclose(f))
		return die("%s: %s", path, strerror(errno));
	if (copy_ca(dir) || give_to_broker(dir))
		return 1;
	/* Where the NOC's own tools, and the spares, reach it. */
	path_in(path, sizeof(path), dir, "address");
	f = fopen(path, "wx");
	if (!f || fprintf(f, "%s:%lu\n", host, port) < 0 || fclose(f))
		return die("%s: %s", path, strerror(errno));
	printf("broker for %s:%lu in %s: mosquitto -c %s/mosquitto.conf\n"
	       "the NOC's client identity: %s/noc.crt, noc.key\n", host, port, dir,
	       dir, noc);
	return 0;
}

/* --- site issue --- */

struct issue {
	const char *site, *config, *out, *serial, *root, *pass_file;
	int days;
	bool reissue;
	/* A spare's site bundle: the passphrase goes here (sealed for the
	 * spare next), never printed or written. */
	char *pass_out;
};

static const struct kt_port_map any_port = { .names_as_is = true };

/* The configuration names the files where the bundle puts them. */
static int check_paths(const struct kt_config *cfg, const struct issue *is)
{
	const struct { const char *field, *value, *file; } want[] = {
		{ "tunnel.private-key", cfg->tunnel.private_key, "tunnel.key" },
		{ "management.ca", cfg->management.ca, "ca.crt" },
		{ "management.certificate", cfg->management.certificate, "mgmt.crt" },
		{ "management.key", cfg->management.key, "mgmt.key" },
		{ "management.policy-key", cfg->management.policy_key, "policy.pub" },
	};
	char expect[KT_PATH_MAX + 32];

	if (!cfg->management.enabled)
		return die("%s: no management section: a bundle carries the site's "
			   "management identity, so the site file says where it goes "
			   "(docs/noc.md)", is->config);
	for (size_t i = !cfg->tunnel.enabled; i < sizeof(want) / sizeof(want[0]); i++) {
		path_in(expect, sizeof(expect), is->root, want[i].file);
		if (strcmp(want[i].value, expect))
			return die("%s: %s is %s; the bundle installs it as %s (--root %s)",
				   is->config, want[i].field, want[i].value, expect, is->root);
	}
	return 0;
}

static const char *who(void)
{
	const char *u = getenv("SUDO_USER");
	struct passwd *pw;

	if (u && *u)
		return u;
	pw = getpwuid(getuid());
	return pw ? pw->pw_name : "?";
}

static int record(const struct issue *is, const struct kt_bundle_head *h,
		  const struct kt_pki_info *ci, const char *tunnel_pub,
		  const char *crt, size_t crt_len)
{
	char dir[4096], path[4200];
	json_t *j;
	FILE *f;
	int r;

	path_in(path, sizeof(path), noc_dir, "sites");
	if (mkdir(path, 0700) && errno != EEXIST)
		return die("%s: %s", path, strerror(errno));
	snprintf(dir, sizeof(dir), "%s/sites/%s", noc_dir, is->site);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return die("%s: %s", dir, strerror(errno));
	path_in(path, sizeof(path), dir, "mgmt.crt");
	unlink(path);
	if ((r = kt_write_file_new(path, crt, crt_len, 0644)))
		return die("%s: %s", path, strerror(-r));
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "site", is->site,
		      "issued", h->created, "by", who(), "bundle-id", h->bundle_id,
		      "device-number", h->device_number, "serial", h->serial,
		      "certificate-serial", ci->serial_hex,
		      "tunnel-public-key", tunnel_pub ? tunnel_pub : "",
		      "reissue", is->reissue);
	path_in(path, sizeof(path), dir, "issued.json");
	r = j && json_dump_file(j, path, JSON_INDENT(2)) == 0 ? 0 : -1;
	/* And one line per issue, never rewritten: who issued what, when. */
	path_in(path, sizeof(path), noc_dir, "issued.log");
	f = r ? NULL : fopen(path, "a");
	if (!f || json_dumpf(j, f, JSON_COMPACT) || fputc('\n', f) == EOF || fclose(f))
		r = -1;
	json_decref(j);
	return r ? die("%s: cannot record the issue", dir) : 0;
}

static int make_tunnel_key(const struct kt_config *cfg, struct kt_bundle *b,
			   char pub_text[KT_KEY_B64_MAX], char *err, size_t errlen)
{
	const struct kt_suite *s = kt_suite_find(cfg->tunnel.suite);
	uint8_t priv[KT_SUITE_KEY_LEN], pub[KT_SUITE_MAX_PUB];
	char priv_text[KT_KEY_B64_MAX + 1];
	int r;

	if (!s || s->keygen(priv, pub) || kt_key_encode(pub, s->pub_len, pub_text) ||
	    kt_key_encode(priv, KT_SUITE_KEY_LEN, priv_text)) {
		kt_wipe(priv, sizeof(priv));
		return kt_errf(err, errlen, -EIO, "cannot make a %s tunnel key",
			       cfg->tunnel.suite);
	}
	kt_wipe(priv, sizeof(priv));
	/* The format of kt_key_write: base64 on one line. */
	strcat(priv_text, "\n");
	r = kt_bundle_add(b, "tunnel.key", priv_text, strlen(priv_text), err, errlen);
	kt_wipe(priv_text, sizeof(priv_text));
	return r;
}

static int do_issue(struct issue *is)
{
	static struct kt_config cfg;
	struct kt_config_error ce;
	struct kt_bundle b;
	struct kt_pki_info ci;
	char ca[4096], path[4200], err[512], cerr[768], sitedir[4200];
	char pass[KT_BUNDLE_PASS_TEXT], tpub[KT_KEY_B64_MAX] = "";
	char *ca_key = NULL, *ca_crt = NULL, *pol = NULL, *key = NULL, *crt = NULL;
	size_t ca_key_len = 0, ca_crt_len, pol_len, key_len = 0, crt_len = 0, out_len;
	uint8_t *yaml = NULL, *out = NULL;
	size_t yaml_len;
	struct stat st;
	int r;

	if (!kt_yw_is_name(is->site))
		return die("'%s' is not a site ID (lower-case letters, digits, '-'; "
			   "at most 31)", is->site);
	snprintf(sitedir, sizeof(sitedir), "%s/sites/%s", noc_dir, is->site);
	if (!is->reissue && !stat(sitedir, &st))
		return die("%s was issued before (%s/issued.json); --reissue makes a "
			   "new bundle, and the old one's certificate must then be "
			   "revoked", is->site, sitedir);
	if ((r = kt_read_file(is->config, CONFIG_SITE_CONFIG_MAX_BYTES, &yaml, &yaml_len)))
		return die("%s: %s", is->config, strerror(-r));
	if (kt_config_parse(is->config, yaml, yaml_len, &any_port, &cfg, &ce)) {
		free(yaml);
		return die("%s", kt_config_error_str(&ce, cerr, sizeof(cerr)));
	}
	if (strcmp(cfg.site_id, is->site)) {
		free(yaml);
		return die("%s: site.id is '%s', not '%s'", is->config, cfg.site_id,
			   is->site);
	}
	if (check_paths(&cfg, is)) {
		free(yaml);
		return 1;
	}
	path_in(ca, sizeof(ca), noc_dir, "ca");
	path_in(path, sizeof(path), ca, "ca.crt");
	if (read_text(path, &ca_crt, &ca_crt_len)) {
		free(yaml);
		return 1;
	}
	path_in(path, sizeof(path), ca, "ca.key");
	r = read_text(path, &ca_key, &ca_key_len);
	path_in(path, sizeof(path), ca, "policy.pub");
	if (!r)
		r = read_text(path, &pol, &pol_len);
	memset(&b, 0, sizeof(b));
	snprintf(b.head.site, sizeof(b.head.site), "%s", is->site);
	snprintf(b.head.device_number, sizeof(b.head.device_number), "%s",
		 cfg.device_number);
	if (is->serial)
		snprintf(b.head.serial, sizeof(b.head.serial), "%s", is->serial);
	if (r)
		goto out;
	r = 1;
	if (kt_pki_key_new(&key, &key_len, err, sizeof(err)) ||
	    kt_pki_cert_new(key, key_len, &(struct kt_pki_name){ .cn = is->site,
			    .org = "Kyoten", .serial = is->serial }, is->days,
			    ca_crt, ca_crt_len, ca_key, ca_key_len, &crt, &crt_len,
			    err, sizeof(err)) ||
	    kt_pki_cert_info(crt, crt_len, &ci, err, sizeof(err)) ||
	    kt_bundle_add(&b, "site.yaml", yaml, yaml_len, err, sizeof(err)) ||
	    kt_bundle_add(&b, "mgmt.crt", crt, crt_len, err, sizeof(err)) ||
	    kt_bundle_add(&b, "mgmt.key", key, key_len, err, sizeof(err)) ||
	    kt_bundle_add(&b, "ca.crt", ca_crt, ca_crt_len, err, sizeof(err)) ||
	    kt_bundle_add(&b, "policy.pub", pol, pol_len, err, sizeof(err)) ||
	    (cfg.tunnel.enabled && make_tunnel_key(&cfg, &b, tpub, err, sizeof(err))) ||
	    kt_bundle_passphrase_new(pass) ||
	    kt_bundle_seal(&b, pass, &out, &out_len, err, sizeof(err))) {
		die("%s: %s", is->site, err);
		goto out;
	}
	if ((r = kt_write_file_new(is->out, out, out_len, 0600))) {
		die("%s: %s", is->out, r == -EEXIST ? "exists (a bundle is never "
		    "overwritten)" : strerror(-r));
		r = 1;
		goto out;
	}
	if (is->pass_file && (r = kt_write_file_new(is->pass_file, pass, strlen(pass), 0600))) {
		die("%s: %s", is->pass_file, strerror(-r));
		unlink(is->out);
		r = 1;
		goto out;
	}
	if ((r = record(is, &b.head, &ci, *tpub ? tpub : NULL, crt, crt_len))) {
		unlink(is->out);
		if (is->pass_file)
			unlink(is->pass_file);
		goto out;
	}
	{
		char until[32];
		struct tm tm;

		gmtime_r(&ci.not_after, &tm);
		strftime(until, sizeof(until), "%Y-%m-%d", &tm);
		printf("issued %s (device number %s, %s)\n"
		       "  bundle       %s (%zu bytes, bundle id %s)\n"
		       "  certificate  CN=%s, serial %s, valid until %s\n",
		       is->site, cfg.device_number,
		       is->serial ? is->serial : "any box", is->out, out_len,
		       b.head.bundle_id, is->site, ci.serial_hex, until);
		if (*tpub)
			printf("  tunnel key   %s public key %s\n"
			       "               (the hubs' sites[].public-key for %s)\n",
			       cfg.tunnel.suite, tpub, is->site);
		if (is->pass_out)
			snprintf(is->pass_out, KT_BUNDLE_PASS_TEXT, "%s", pass);
		else if (is->pass_file)
			printf("  passphrase   written to %s (mode 0600)\n", is->pass_file);
		else
			printf("  passphrase   %s\n"
			       "               shown once, kept nowhere: give it to the field "
			       "engineer\n               apart from the bundle\n", pass);
	}
	r = 0;
out:
	kt_wipe(pass, sizeof(pass));
	kt_bundle_free(&b);
	wipe_free(key, key_len);
	wipe_free(ca_key, ca_key_len);
	if (out) {
		kt_wipe(out, out_len);
		free(out);
	}
	free(crt);
	free(ca_crt);
	free(pol);
	free(yaml);
	return r;
}

static int site_issue(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "serial", required_argument, NULL, 'S' },
		{ "root", required_argument, NULL, 'r' },
		{ "days", required_argument, NULL, 'D' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		{ "reissue", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct issue is = { .root = "/etc/kyoten", .days = 1825 };
	int c;

	optind = 0;	/* a fresh scan (glibc) */
	while ((c = getopt_long(argc, argv, "c:o:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': is.config = optarg; break;
		case 'o': is.out = optarg; break;
		case 'S': is.serial = optarg; break;
		case 'r': is.root = optarg; break;
		case 'P': is.pass_file = optarg; break;
		case 'R': is.reissue = true; break;
		case 'D':
			if (parse_days(optarg, &is.days))
				return 1;
			break;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || !is.config || !is.out) {
		fprintf(stderr, "kyoten-noc: site issue needs SITE, -c SITE.yaml and "
			"-o BUNDLE\n");
		return EXIT_USAGE;
	}
	is.site = argv[optind];
	if (is.root[0] != '/' || strlen(is.root) > 64)
		return die("--root '%s' is not an absolute path of at most 64 bytes",
			   is.root);
	if (is.serial && (!*is.serial || strlen(is.serial) > 63 ||
			  strspn(is.serial, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(is.serial)))
		return die("--serial '%s' is not 1 to 63 letters, digits and '-'",
			   is.serial);
	return do_issue(&is);
}

/* --- spares (zero-touch) --- */

/* "spare-" and the serial, lower-case: the spare's name at the broker. */
static void spare_id(const char *serial, char out[KT_NAME_MAX])
{
	size_t i = 0;

	snprintf(out, KT_NAME_MAX, "spare-%s", serial);
	for (i = 0; out[i]; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
}

static int serial_ok(const char *serial)
{
	/* A spare's ID is at most 31 characters: "spare-" and 25. */
	if (!*serial || strlen(serial) > 25 ||
	    strspn(serial, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		   "0123456789-") != strlen(serial))
		return die("serial '%s' is not 1 to 25 letters, digits and '-'", serial);
	return 0;
}

static int read_broker(char *host, size_t cap, uint16_t *port)
{
	char path[4200], *text, *colon;
	size_t len;
	unsigned long p;

	snprintf(path, sizeof(path), "%s/broker/address", noc_dir);
	if (read_text(path, &text, &len))
		return die("no broker set up: run kyoten-noc broker init first");
	text[strcspn(text, "\n")] = '\0';
	colon = strrchr(text, ':');
	p = colon ? strtoul(colon + 1, NULL, 10) : 0;
	if (!colon || !p || p > 65535 || (size_t)(colon - text) >= cap) {
		free(text);
		return die("%s: not HOST:PORT", path);
	}
	*colon = '\0';
	snprintf(host, cap, "%s", text);
	*port = (uint16_t)p;
	free(text);
	return 0;
}

/* A spare's own identity and how it reaches the broker, as a bundle
 * the engineer installs when the box goes into stock. */
static int spare_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "port", required_argument, NULL, 'p' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		{ "days", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL, *line = "wan2", *pass_file = NULL, *serial;
	char id[KT_NAME_MAX], host[256], dir[4200], path[4400], err[512];
	char pass[KT_BUNDLE_PASS_TEXT], *ca = NULL, *pol = NULL, *crt = NULL, *key = NULL;
	size_t ca_len = 0, pol_len = 0, crt_len = 0, key_len = 0, blen;
	uint8_t *bundle = NULL;
	struct kt_bundle b;
	uint16_t port;
	int c, days = 3650, r = 1;
	json_t *enrol;
	char *ej = NULL;

	optind = 0;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'p': line = optarg; break;
		case 'P': pass_file = optarg; break;
		case 'D':
			if (parse_days(optarg, &days))
				return 1;
			break;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || !out) {
		fprintf(stderr, "kyoten-noc: spare add needs SERIAL and -o BUNDLE\n");
		return EXIT_USAGE;
	}
	serial = argv[optind];
	if (serial_ok(serial) || read_broker(host, sizeof(host), &port))
		return 1;
	if (strlen(line) >= KT_PORT_MAX || !kt_yw_is_name(line))
		return die("--port '%s' is not a port name", line);
	spare_id(serial, id);
	snprintf(dir, sizeof(dir), "%s/spares", noc_dir);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return die("%s: %s", dir, strerror(errno));
	snprintf(dir, sizeof(dir), "%s/spares/%s", noc_dir, serial);
	if (mkdir(dir, 0700))
		return die("%s: %s", dir, errno == EEXIST ? "this spare was added before" :
			   strerror(errno));
	if (issue_pair(dir, "mgmt", id, days))
		goto out;
	snprintf(path, sizeof(path), "%s/mgmt.crt", dir);
	if (read_text(path, &crt, &crt_len))
		goto out;
	snprintf(path, sizeof(path), "%s/mgmt.key", dir);
	if (read_text(path, &key, &key_len))
		goto out;
	/* The spare's key lives in its bundle only. */
	unlink(path);
	snprintf(path, sizeof(path), "%s/ca/ca.crt", noc_dir);
	if (read_text(path, &ca, &ca_len))
		goto out;
	snprintf(path, sizeof(path), "%s/ca/policy.pub", noc_dir);
	if (read_text(path, &pol, &pol_len))
		goto out;
	enrol = json_pack("{s:i, s:s, s:i, s:s, s:b}", "format", 1, "broker", host,
			  "broker-port", (int)port, "port", line, "dhcp", 1);
	ej = enrol ? json_dumps(enrol, JSON_INDENT(2)) : NULL;
	json_decref(enrol);
	memset(&b, 0, sizeof(b));
	b.head.type = KT_BUNDLE_SPARE;
	snprintf(b.head.site, sizeof(b.head.site), "%s", id);
	snprintf(b.head.device_number, sizeof(b.head.device_number), "spare");
	snprintf(b.head.serial, sizeof(b.head.serial), "%s", serial);
	if (!ej || kt_bundle_add(&b, "enrol.json", ej, strlen(ej), err, sizeof(err)) ||
	    kt_bundle_add(&b, "mgmt.crt", crt, crt_len, err, sizeof(err)) ||
	    kt_bundle_add(&b, "mgmt.key", key, key_len, err, sizeof(err)) ||
	    kt_bundle_add(&b, "ca.crt", ca, ca_len, err, sizeof(err)) ||
	    kt_bundle_add(&b, "policy.pub", pol, pol_len, err, sizeof(err)) ||
	    kt_bundle_passphrase_new(pass) ||
	    kt_bundle_seal(&b, pass, &bundle, &blen, err, sizeof(err))) {
		die("%s: %s", id, ej ? err : "out of memory");
		kt_bundle_free(&b);
		goto out;
	}
	kt_bundle_free(&b);
	if ((r = kt_write_file_new(out, bundle, blen, 0600)) ||
	    (pass_file && (r = kt_write_file_new(pass_file, pass, strlen(pass), 0600)))) {
		die("%s: %s", r == -EEXIST ? out : out, strerror(-r));
		r = 1;
		goto out;
	}
	printf("spare %s (serial %s): bundle %s (bundle id %s)\n"
	       "  it will reach the broker %s:%u over %s (DHCP)\n", id, serial, out,
	       b.head.bundle_id, host, port, line);
	if (pass_file)
		printf("  passphrase   written to %s (mode 0600)\n", pass_file);
	else
		printf("  passphrase   %s (shown once)\n", pass);
	r = 0;
out:
	kt_wipe(pass, sizeof(pass));
	if (bundle) {
		kt_wipe(bundle, blen);
		free(bundle);
	}
	wipe_free(key, key_len);
	free(crt);
	free(ca);
	free(pol);
	free(ej);
	return r;
}

/* Issues SITE's bundle for the spare, seals its passphrase for the
 * spare's key and leaves both at the broker (retained) where the spare
 * looks; --wait: until the spare says it installed it. */
static int spare_assign(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "root", required_argument, NULL, 'r' },
		{ "days", required_argument, NULL, 'D' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct issue is = { .root = "/etc/kyoten", .days = 1825, .reissue = true };
	char id[KT_NAME_MAX], host[256], path[4400], out[4400], topic[128], err[512];
	char pass[KT_BUNDLE_PASS_TEXT] = "", crtp[4400], nocc[4200], nock[4200], cap[4200];
	char *crt = NULL;
	uint8_t *bundle = NULL, *msg = NULL;
	size_t crt_len, blen, mlen;
	struct kt_mqttc *m = NULL;
	unsigned wait_s = 0;
	uint16_t port;
	int c, r = 1;

	optind = 0;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': is.config = optarg; break;
		case 'r': is.root = optarg; break;
		case 'w': wait_s = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'D':
			if (parse_days(optarg, &is.days))
				return 1;
			break;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind + 2 != argc || !is.config) {
		fprintf(stderr, "kyoten-noc: spare assign needs SERIAL SITE -c SITE.yaml\n");
		return EXIT_USAGE;
	}
	is.serial = argv[optind];
	is.site = argv[optind + 1];
	if (!kt_yw_is_name(is.site))
		return die("'%s' is not a site ID", is.site);
	if (serial_ok(is.serial) || read_broker(host, sizeof(host), &port))
		return 1;
	spare_id(is.serial, id);
	snprintf(crtp, sizeof(crtp), "%s/spares/%s/mgmt.crt", noc_dir, is.serial);
	if (read_text(crtp, &crt, &crt_len))
		return die("serial %s is not a spare of this NOC (kyoten-noc spare add)",
			   is.serial);
	snprintf(out, sizeof(out), "%s/spares/%s/%s.kbdl", noc_dir, is.serial, is.site);
	unlink(out);
	is.out = out;
	is.pass_out = pass;
	if (do_issue(&is))
		goto out;
	if ((r = kt_read_file(out, KT_BUNDLE_MAX, &bundle, &blen))) {
		r = die("%s: %s", out, strerror(-r));
		goto out;
	}
	/* The message: "KYTNSPR1", the sealed passphrase's length (2 bytes),
	 * the sealed passphrase, the bundle. */
	mlen = 10 + KT_PKI_WRAP_OVERHEAD + strlen(pass) + blen;
	r = 1;
	if (!(msg = malloc(mlen)))
		goto out;
	memcpy(msg, "KYTNSPR1", 8);
	msg[8] = 0;
	msg[9] = (uint8_t)(KT_PKI_WRAP_OVERHEAD + strlen(pass));
	if (kt_pki_wrap(crt, crt_len, (const uint8_t *)pass, strlen(pass), msg + 10, err,
			sizeof(err))) {
		die("sealing the passphrase for %s: %s", id, err);
		goto out;
	}
	memcpy(msg + 10 + KT_PKI_WRAP_OVERHEAD + strlen(pass), bundle, blen);
	snprintf(nocc, sizeof(nocc), "%s/noc/noc.crt", noc_dir);
	snprintf(nock, sizeof(nock), "%s/noc/noc.key", noc_dir);
	snprintf(cap, sizeof(cap), "%s/ca/ca.crt", noc_dir);
	{
		struct kt_mqttc_opts o = { .host = host, .port = port, .ca = cap,
			.cert = nocc, .key = nock, .client_id = "kyoten-noc-assign",
			.keepalive_s = 60, .clean_session = true, .timeout_ms = 10000 };
		uint8_t granted;

		if (kt_mqttc_open(&m, &o, err, sizeof(err))) {
			die("the broker %s:%u: %s", host, port, err);
			goto out;
		}
		snprintf(topic, sizeof(topic), "kyoten/site/%s/state", id);
		if (wait_s && kt_mqttc_subscribe(m, topic, 1, &granted, err, sizeof(err))) {
			die("%s: %s", topic, err);
			goto out;
		}
		snprintf(topic, sizeof(topic), "kyoten/site/%s/bundle", id);
		if (kt_mqttc_publish(m, topic, msg, mlen, 1, true, err, sizeof(err))) {
			die("publishing to %s: %s", topic, err);
			goto out;
		}
	}
	printf("  for spare    %s: waiting for it at the broker (%s)\n", id, topic);
	if (wait_s) {
		struct kt_mqttc_msg sm;
		time_t end = time(NULL) + wait_s;

		for (;;) {
			int left = (int)(end - time(NULL));

			if (left <= 0 || kt_mqttc_next(m, &sm, (unsigned)left * 1000, err,
						       sizeof(err))) {
				die("spare %s did not install its bundle within %u s", id, wait_s);
				goto out;
			}
			if (sm.len >= 9 && !memcmp(sm.payload, "installed", 9))
				break;
		}
		printf("  installed    by %s: %.*s\n", id, (int)sm.len, sm.payload);
	}
	r = 0;
out:
	kt_mqttc_close(m, false);
	kt_wipe(pass, sizeof(pass));
	if (msg) {
		kt_wipe(msg, mlen);
		free(msg);
	}
	if (bundle) {
		kt_wipe(bundle, blen);
		free(bundle);
	}
	free(crt);
	(void)path;
	return r;
}

/* --- the fleet: status, watch, events --- */

static int noc_connect(struct kt_mqttc **m, const char *client, char *err, size_t errlen)
{
	char host[256], crt[4200], key[4200], ca[4200];
	uint16_t port;
	struct kt_mqttc_opts o = { .client_id = client, .keepalive_s = 60,
				   .clean_session = true, .timeout_ms = 10000 };

	if (read_broker(host, sizeof(host), &port))
		return -ENOENT;
	snprintf(crt, sizeof(crt), "%s/noc/noc.crt", noc_dir);
	snprintf(key, sizeof(key), "%s/noc/noc.key", noc_dir);
	snprintf(ca, sizeof(ca), "%s/ca/ca.crt", noc_dir);
	o.host = host;
	o.port = port;
	o.cert = crt;
	o.key = key;
	o.ca = ca;
	if (kt_mqttc_open(m, &o, err, errlen))
		return die("the broker %s:%u: %s", host, port, err), -EIO;
	return 0;
}

/* "kyoten/site/SITE/LEAF": SITE into site, LEAF returned; NULL if not. */
static const char *topic_site(const char *topic, char site[KT_NAME_MAX])
{
	const char *p = topic + strlen("kyoten/site/"), *slash;

	if (strncmp(topic, "kyoten/site/", 12) || !(slash = strchr(p, '/')) ||
	    (size_t)(slash - p) >= KT_NAME_MAX)
		return NULL;
	memcpy(site, p, (size_t)(slash - p));
	site[slash - p] = '\0';
	return slash + 1;
}

/* A site's state or telemetry from the broker into fleet (by site ID):
 * "state", "telemetry" and when it came ("received", Unix time).
 * Telemetry that is not a JSON object is named and the last good one
 * kept. */
static void fleet_take(json_t *fleet, const struct kt_mqttc_msg *msg)
{
	char site[KT_NAME_MAX];
	const char *leaf = topic_site(msg->topic, site);
	json_t *s;

	if (!leaf)
		return;
	if (!(s = json_object_get(fleet, site))) {
		s = json_pack("{s:s}", "site", site);
		json_object_set_new(fleet, site, s);
	}
	if (!strcmp(leaf, "state"))
		json_object_set_new(s, "state", json_stringn((const char *)msg->payload, msg->len));
	else if (!strcmp(leaf, "telemetry")) {
		json_t *t = json_loadb((const char *)msg->payload, msg->len, 0, NULL);

		if (json_is_object(t)) {
			struct tm tm = { 0 };
			const char *when = json_string_value(json_object_get(t, "time"));
			time_t at = time(NULL);

			/* What the broker retained may be old: its own time then
			 * (the box's clock), else when it came. */
			if (msg->retain && when && strptime(when, "%Y-%m-%dT%H:%M:%S", &tm))
				at = timegm(&tm);
			json_object_set_new(s, "telemetry", t);
			json_object_set_new(s, "received", json_integer(at));
		} else {
			json_decref(t);
			fprintf(stderr, "kyoten-noc: %s: telemetry that is not a JSON object; the "
				"last good one kept\n", site);
		}
	}
}

static int fleet_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *fleet = json_object(), *list;
	unsigned wait_ms = 1500;
	bool as_json = false;
	struct kt_mqttc *m;
	char err[512], client[64];
	uint8_t g;
	const char *k;
	json_t *v;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'j')
			as_json = true;
		else if (c == 'w')
			wait_ms = (unsigned)strtoul(optarg, NULL, 10);
		else
			return usage(stderr), EXIT_USAGE;
	}
	snprintf(client, sizeof(client), "kyoten-noc-status-%d", (int)getpid());
	if (noc_connect(&m, client, err, sizeof(err)))
		return 1;
	if (kt_mqttc_subscribe(m, "kyoten/site/+/state", 1, &g, err, sizeof(err)) ||
	    kt_mqttc_subscribe(m, "kyoten/site/+/telemetry", 1, &g, err, sizeof(err))) {
		kt_mqttc_close(m, false);
		return die("subscribing: %s", err);
	}
	/* What the broker retains arrives at once; then a quiet wait. */
	for (;;) {
		struct kt_mqttc_msg msg;

		if (kt_mqttc_next(m, &msg, wait_ms, err, sizeof(err)))
			break;
		fleet_take(fleet, &msg);
	}
	kt_mqttc_close(m, false);
	list = json_array();
	json_object_foreach(fleet, k, v)
		json_array_append(list, v);
	if (as_json) {
		char *text = json_dumps(json_pack("{s:o}", "sites", list), JSON_INDENT(2));

		puts(text ? text : "{}");
		free(text);
		json_decref(fleet);
		return 0;
	}
	printf("%-16s %-8s %-7s %-9s %-6s %-8s %-34s %s\n", "SITE", "STATE", "PATHS",
	       "WORST RTT", "LOST", "POLICY", "ACTIVE PATH PER SEGMENT", "LAST SEEN");
	{
		size_t i;

		json_array_foreach(list, i, v) {
			json_t *t = json_object_get(v, "telemetry"), *p, *sg;
			size_t j, up = 0, n = 0;
			long worst = -1, lost = 0;
			char segs[256] = "", rtt[16] = "-";

			json_array_foreach(json_object_get(t, "paths"), j, p) {
				n++;
				if (!strcmp(json_string_value(json_object_get(p, "state")) ?: "", "up"))
					up++;
				if (json_integer_value(json_object_get(p, "rtt-us")) > worst)
					worst = (long)json_integer_value(json_object_get(p, "rtt-us"));
				lost += (long)json_integer_value(json_object_get(p, "lost"));
			}
			json_array_foreach(json_object_get(t, "segments"), j, sg) {
				size_t l = strlen(segs);

				snprintf(segs + l, sizeof(segs) - l, "%s%s:%s", l ? " " : "",
					 json_string_value(json_object_get(sg, "segment")) ?: "?",
					 json_string_value(json_object_get(sg, "active")) ?: "none");
			}
			if (worst >= 0)
				snprintf(rtt, sizeof(rtt), "%.1f ms", worst / 1000.0);
			printf("%-16s %-8s %zu/%-5zu %-9s %-6ld %-8s %-34s %s\n",
			       json_string_value(json_object_get(v, "site")),
			       json_string_value(json_object_get(v, "state")) ?: "?", up, n, rtt,
			       lost, json_string_value(json_object_get(json_object_get(t, "policy"),
								       "state")) ?: "-",
			       *segs ? segs : "-",
			       json_string_value(json_object_get(t, "time")) ?: "never");
		}
	}
	json_decref(list);
	json_decref(fleet);
	return 0;
}

/* --- alerts by mail --- */

/* What the box sent, safe for a mail: control characters (a CR or LF
 * would start a header of the sender's choosing) become spaces, and in
 * a header anything not ASCII becomes '?' (the body is UTF-8). */
static void mail_clean(char *out, size_t cap, const char *in, bool header)
{
	size_t n = 0;

	for (; in && *in && n + 1 < cap; in++) {
		unsigned char ch = (unsigned char)*in;

		out[n++] = ch < 0x20 || ch == 0x7f ? ' ' : header && ch >= 0x80 ? '?' : (char)ch;
	}
	out[n] = '\0';
}

struct alerter {
	const char *to, *sendmail;
	unsigned sent, failed;
};

/* One mail through the machine's MTA: `sendmail -oi -t`, the message on
 * its standard input; 0, or -EIO with why (in err). Any MTA gives this
 * interface (Postfix, Exim, dma, OpenSMTPD), so the NOC needs no SMTP
 * client of its own and mail waits in the MTA's queue if the relay is
 * away. */
static int send_mail(const struct alerter *al, const char *subject, const char *body,
		     char *err, size_t errlen)
{
	int fds[2], st = 0;
	pid_t pid;
	FILE *f;
	char to[256], subj[256], date[64];
	time_t now = time(NULL);
	struct tm tm;

	mail_clean(to, sizeof(to), al->to, true);
	mail_clean(subj, sizeof(subj), subject, true);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", gmtime_r(&now, &tm));
	if (pipe2(fds, O_CLOEXEC))
		return kt_errf(err, errlen, -EIO, "pipe: %s", strerror(errno));
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return kt_errf(err, errlen, -EIO, "fork: %s", strerror(errno));
	}
	if (!pid) {
		dup2(fds[0], 0);
		execl(al->sendmail, "sendmail", "-oi", "-t", (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	if ((f = fdopen(fds[1], "w"))) {
		fprintf(f, "To: %s\nSubject: %s\nDate: %s\nMIME-Version: 1.0\n"
			"Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n"
			"X-Kyoten: alert\n\n%s", to, subj, date, body);
		fclose(f);
	} else
		close(fds[1]);
	/* An MTA that hangs must not hold the watch: 30 s, then it is
	 * killed and the alert recorded as not sent. */
	for (int i = 0;; i++) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return kt_errf(err, errlen, -EIO, "waiting for %s: %s", al->sendmail,
				       strerror(errno));
		if (i == 600) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return kt_errf(err, errlen, -EIO, "%s did not finish in 30 s",
				       al->sendmail);
		}
		usleep(50000);
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		return kt_errf(err, errlen, -EIO, "%s could not be run", al->sendmail);
	return kt_errf(err, errlen, -EIO, "%s %s %d", al->sendmail,
		       WIFEXITED(st) ? "exited with" : "was killed by signal",
		       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* Every alert tried, in DIR/alerts.log: when, what, to whom, and
 * whether the MTA took it. */
static void alert_record(struct alerter *al, const char *site, const char *what,
			 const char *subject, int r, const char *err)
{
	char path[4200], when[32], *line;
	json_t *j;
	FILE *f;

	if (r)
		al->failed++;
	else
		al->sent++;
	kt_utc_time(time(NULL), when, sizeof(when));
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "time", when, "site", site, "what",
		      what, "subject", subject, "to", al->to, "result", r ? err : "sent");
	line = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	snprintf(path, sizeof(path), "%s/alerts.log", noc_dir);
	if (!line || !(f = fopen(path, "ae")) || fprintf(f, "%s\n", line) < 0 || fclose(f))
		fprintf(stderr, "kyoten-noc: %s: the alert could not be recorded\n", path);
	if (r)
		fprintf(stderr, "kyoten-noc: alert for %s not sent: %s\n", site, err);
	free(line);
}

/* An event the box marked alert or recovery (firmware/annex.c): one
 * mail with the fields the notification annexes ask for. */
static void alert_event(struct alerter *al, json_t *ev)
{
	static const char *const fields[][2] = {
		{ "Site", "site" }, { "Device number", "device-number" },
		{ "Date and time (UTC)", "time" }, { "Event class", "class" },
		{ "Location in the device", "location" }, { "Cause", "cause" },
		{ "Error code", "code" }, { "Severity", "severity" },
		{ "Detail", "detail" }, { "Event ID", "id" },
	};
	bool recovery = json_is_true(json_object_get(ev, "recovery"));
	char subject[256], body[4096], err[256], v[1024];
	const char *site = json_string_value(json_object_get(ev, "site")) ?: "?";
	size_t n = 0;

	snprintf(subject, sizeof(subject), "[Kyoten] %s %s: %s %s (%s)", recovery ?
		 "RECOVERED" : "ALERT", site,
		 json_string_value(json_object_get(ev, "class")) ?: "?",
		 json_string_value(json_object_get(ev, "code")) ?: "?",
		 json_string_value(json_object_get(ev, "location")) ?: "?");
	n += (size_t)snprintf(body + n, sizeof(body) - n, "%s\n\n", recovery ?
			      "A fault reported earlier has ended." :
			      "A Kyoten box reported a fault.");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]) && n < sizeof(body); i++) {
		mail_clean(v, sizeof(v), json_string_value(json_object_get(ev, fields[i][1])) ?:
			   "-", false);
		n += (size_t)snprintf(body + n, sizeof(body) - n, "%-24s %s\n", fields[i][0], v);
	}
	if (n < sizeof(body))
		snprintf(body + n, sizeof(body) - n, "\nkyoten-noc status and kyoten-noc events "
			 "--site %s show more.\n", site);
	alert_record(al, site, recovery ? "recovery" : "alert", subject,
		     send_mail(al, subject, body, err, sizeof(err)), err);
}

/* A site's state as the broker retains it ("online", "stopped", and the
 * will's "offline"), kept in DIR/site-states.json so that a change is
 * mailed once, also when it happened while nothing watched. */
static void alert_state(struct alerter *al, json_t *states, const char *site,
			const char *state)
{
	const char *had = json_string_value(json_object_get(states, site));
	char subject[256] = "", body[1024], err[256], when[32], path[4200], tmp[4300], was[16];
	int r = 0;

	if (had && !strcmp(had, state))
		return;
	/* A copy: setting the new state frees the old string. */
	snprintf(was, sizeof(was), "%s", had ? had : "");
	json_object_set_new(states, site, json_string(state));
	snprintf(path, sizeof(path), "%s/site-states.json", noc_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	kt_utc_time(time(NULL), when, sizeof(when));
	if (!strcmp(state, "offline")) {
		snprintf(subject, sizeof(subject), "[Kyoten] ALERT %s: offline", site);
		snprintf(body, sizeof(body), "Site %s's connection to the NOC's broker was lost "
			 "(its last will).\n\n%-24s %s\n%-24s %s\n%-24s %s\n\nThe box goes on "
			 "with its last confirmed policy; its events wait on its disk until it "
			 "is back.\n", site, "Site", site, "Noticed at (UTC)", when, "Event class",
			 "communications");
	} else if (!strcmp(state, "online") && !strcmp(was, "offline")) {
		snprintf(subject, sizeof(subject), "[Kyoten] RECOVERED %s: online", site);
		snprintf(body, sizeof(body), "Site %s is connected to the NOC again.\n\n"
			 "%-24s %s\n%-24s %s\n", site, "Site", site, "Noticed at (UTC)", when);
	} else
		r = 0;		/* first seen online, or a clean stop: no alert */
	if (*subject)
		alert_record(al, site, state, subject,
			     r = send_mail(al, subject, body, err, sizeof(err)), err);
	/* On the disk only once mailed: a watch started after an MTA
	 * failure mails it again. */
	if (!r && (json_dump_file(states, tmp, JSON_COMPACT) || rename(tmp, path)))
		fprintf(stderr, "kyoten-noc: %s: cannot be written\n", path);
}

static void print_event(json_t *ev)
{
	printf("%s %s %-14s %-10s %s %s: %s\n",
	       json_string_value(json_object_get(ev, "time")) ?: "?",
	       json_string_value(json_object_get(ev, "site")) ?: "?",
	       json_string_value(json_object_get(ev, "class")) ?: "?",
	       json_string_value(json_object_get(ev, "severity")) ?: "?",
	       json_string_value(json_object_get(ev, "code")) ?: "?",
	       json_string_value(json_object_get(ev, "location")) ?: "?",
	       json_string_value(json_object_get(ev, "detail")) ?: "");
}

/* Past events: DIR/events.log, as watch recorded them, oldest first.
 * A line that is not an event (a torn write when the disk filled) is
 * counted and named, and the rest still shown. */
static int fleet_events(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "site", required_argument, NULL, 's' },
		{ "class", required_argument, NULL, 'C' },
		{ "since", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *site = NULL, *cls = NULL, *since = NULL;
	bool as_json = false;
	char path[4200], *line = NULL, since_buf[64];
	size_t cap = 0, shown = 0, bad = 0, lineno = 0;
	ssize_t len;
	FILE *f;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': site = optarg; break;
		case 'C':
			if (kt_annex_class_parse(optarg) < 0)
				return die("--class '%s' is not equipment, power, communications "
					   "or other", optarg);
			cls = optarg;
			break;
		case 'f': since = optarg; break;
		case 'j': as_json = true; break;
		default: return usage(stderr), EXIT_USAGE;
		}
	}
	if (optind != argc)
		return usage(stderr), EXIT_USAGE;
	if (site && !kt_yw_is_name(site))
		return die("--site '%s' is not a site ID", site);
	/* The events' times are UTC in ISO 8601, so they sort as text. */
	if (since && (strlen(since) < 4 || !isdigit((unsigned char)since[0]) ||
		      strspn(since, "0123456789-T:.Z") != strlen(since)))
		return die("--since '%s' is not a UTC time like 2026-12-02 or "
			   "2026-12-02T07:40:00Z", since);
	/* "…:00Z" would sort after "…:00.123Z" of the same second. */
	if (since) {
		snprintf(since_buf, sizeof(since_buf), "%s", since);
		since_buf[strcspn(since_buf, "Z")] = '\0';
		since = since_buf;
	}
	snprintf(path, sizeof(path), "%s/events.log", noc_dir);
	if (!(f = fopen(path, "re")))
		return errno == ENOENT ? (puts("no events recorded yet (kyoten-noc watch "
					       "records them)"), 0) :
		       die("%s: %s", path, strerror(errno));
	while ((len = getline(&line, &cap, f)) > 0) {
		json_t *ev = json_loadb(line, (size_t)len, JSON_DISABLE_EOF_CHECK, NULL);
		const char *t = json_string_value(json_object_get(ev, "time"));

		lineno++;
		if (!json_is_object(ev) || !t) {
			if (!bad++)
				fprintf(stderr, "kyoten-noc: %s:%zu: not an event; skipped\n", path,
					lineno);
			json_decref(ev);
			continue;
		}
		if ((!site || !strcmp(json_string_value(json_object_get(ev, "site")) ?: "",
				      site)) &&
		    (!cls || !strcmp(json_string_value(json_object_get(ev, "class")) ?: "", cls)) &&
		    (!since || strcmp(t, since) >= 0)) {
			shown++;
			if (as_json)
				fputs(line, stdout);
			else
				print_event(ev);
		}
		json_decref(ev);
	}
	free(line);
	fclose(f);
	if (bad)
		fprintf(stderr, "kyoten-noc: %zu lines of %s were not events\n", bad, path);
	if (!as_json)
		fprintf(stderr, "%zu events\n", shown);
	return 0;
}

/* Live events, recorded in DIR/events.log (one JSON object a line) as
 * they come; an event the broker delivers twice (QoS 1 allows it) is
 * recorded and shown once. */
static int fleet_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "site", required_argument, NULL, 's' },
		{ "class", required_argument, NULL, 'C' },
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "mail", required_argument, NULL, 'm' },
		{ "sendmail", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct alerter al = { .sendmail = "/usr/sbin/sendmail" };
	json_t *states = NULL;
	const char *site = "+", *cls = NULL;
	unsigned count = 0, timeout_s = 0, got = 0, dups = 0, refused = 0;
	bool as_json = false, lost = false;
	char topic[128], err[512], path[4200], client[64];
	json_t *seen = json_object();
	struct kt_mqttc *m;
	time_t end;
	uint8_t g;
	FILE *log;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		switch (c) {
		case 's': site = optarg; break;
		case 'C':
			if (kt_annex_class_parse(optarg) < 0)
				return die("--class '%s' is not equipment, power, communications "
					   "or other", optarg);
			cls = optarg;
			break;
		case 'n': count = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': timeout_s = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'j': as_json = true; break;
		case 'm': al.to = optarg; break;
		case 'S': al.sendmail = optarg; break;
		default: return usage(stderr), EXIT_USAGE;
		}
	}
	if (strcmp(site, "+") && !kt_yw_is_name(site))
		return die("--site '%s' is not a site ID", site);
	if (al.to && (!*al.to || strlen(al.to) > 250 || strpbrk(al.to, "\r\n")))
		return die("--mail '%s' is not a mail address", al.to);
	if (al.to && access(al.sendmail, X_OK))
		return die("--sendmail %s: %s (alerts need the machine's MTA; docs/noc.md, "
			   "\"Alerts\")", al.sendmail, strerror(errno));
	if (al.to) {
		snprintf(path, sizeof(path), "%s/site-states.json", noc_dir);
		if (!(states = json_load_file(path, 0, NULL)) || !json_is_object(states)) {
			json_decref(states);
			states = json_object();
		}
	}
	snprintf(path, sizeof(path), "%s/events.log", noc_dir);
	if (!(log = fopen(path, "ae")))
		return die("%s: %s", path, strerror(errno));
	snprintf(client, sizeof(client), "kyoten-noc-watch-%d", (int)getpid());
	if (noc_connect(&m, client, err, sizeof(err))) {
		fclose(log);
		return 1;
	}
	snprintf(topic, sizeof(topic), "kyoten/site/%s/event", site);
	if (kt_mqttc_subscribe(m, topic, 1, &g, err, sizeof(err))) {
		kt_mqttc_close(m, false);
		fclose(log);
		return die("subscribing to %s: %s", topic, err);
	}
	snprintf(topic, sizeof(topic), "kyoten/site/%s/state", site);
	if (al.to && kt_mqttc_subscribe(m, topic, 1, &g, err, sizeof(err))) {
		kt_mqttc_close(m, false);
		fclose(log);
		return die("subscribing to %s: %s", topic, err);
	}
	end = timeout_s ? time(NULL) + timeout_s : 0;
	while (!count || got < count) {
		struct kt_mqttc_msg msg;
		char from[KT_NAME_MAX], key[KT_NAME_MAX + 64], *line;
		json_t *ev;
		const char *id, *ec;
		unsigned wait = end ? (unsigned)(end > time(NULL) ? end - time(NULL) : 0) * 1000 :
				3600000;

		if (end && !wait)
			break;
		if (kt_mqttc_next(m, &msg, wait, err, sizeof(err))) {
			if (!strncmp(err, "nothing", 7)) {
				if (!end)
					continue;
				break;
			}
			fprintf(stderr, "kyoten-noc: the broker: %s\n", err);
			lost = true;
			break;
		}
		if (topic_site(msg.topic, from) && !strcmp(topic_site(msg.topic, from), "state")) {
			char st[16];

			if (!al.to)
				continue;
			snprintf(st, sizeof(st), "%.*s", msg.len < 15 ? (int)msg.len : 15,
				 msg.payload);
			if (!as_json && strcmp(json_string_value(json_object_get(states, from)) ?:
					       "", st))
				printf("%s is %s\n", from, st);
			alert_state(&al, states, from, st);
			continue;
		}
		ev = json_loadb((const char *)msg.payload, msg.len, 0, NULL);
		id = json_string_value(json_object_get(ev, "id"));
		ec = json_string_value(json_object_get(ev, "class"));
		if (!ev || !topic_site(msg.topic, from) ||
		    strcmp(json_string_value(json_object_get(ev, "site")) ?: "", from)) {
			/* The ACL lets a box publish under its own name only:
			 * an event must say the same site its topic does. */
			fprintf(stderr, "kyoten-noc: %s: refused: %s (%zu bytes)\n", msg.topic,
				ev ? "its site is not the topic's" : "not JSON", msg.len);
			json_decref(ev);
			refused++;
			continue;
		}
		snprintf(key, sizeof(key), "%s/%s", from, id ? id : "");
		if (id && json_object_get(seen, key)) {
			dups++;
			json_decref(ev);
			continue;
		}
		if (id)
			json_object_set_new(seen, key, json_true());
		/* Recorded whatever the filter: the NOC's history is whole. */
		line = json_dumps(ev, JSON_COMPACT);
		fprintf(log, "%s\n", line ? line : "{}");
		free(line);
		fflush(log);
		if (al.to && (json_is_true(json_object_get(ev, "alert")) ||
			      json_is_true(json_object_get(ev, "recovery"))))
			alert_event(&al, ev);
		if (!cls || (ec && !strcmp(ec, cls))) {
			got++;
			if (as_json)
				printf("%.*s\n", (int)msg.len, msg.payload);
			else
				print_event(ev);
			fflush(stdout);
		}
		json_decref(ev);
	}
	kt_mqttc_close(m, false);
	fclose(log);
	json_decref(seen);
	json_decref(states);
	if (al.to)
		fprintf(stderr, "kyoten-noc: %u alerts mailed to %s, %u could not be\n", al.sent,
			al.to, al.failed);
	if (dups)
		fprintf(stderr, "kyoten-noc: %u events delivered twice were shown once\n", dups);
	if (refused)
		fprintf(stderr, "kyoten-noc: %u messages refused\n", refused);
	return lost || (count && got < count) ? 1 : 0;
}

/* --- Prometheus --- */

/* A label value in the exposition format: backslash, quote and line
 * feed escaped (the rest of what a box sent is printable text). */
static void prom_label(FILE *f, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else if ((unsigned char)*v >= 0x20)
			fputc(*v, f);
	}
}

static void prom_num(FILE *f, const char *name, const char *site, const char *path,
		     json_t *v, double scale)
{
	if (!json_is_number(v))
		return;
	fprintf(f, "%s{site=\"", name);
	prom_label(f, site);
	if (path) {
		fputs("\",path=\"", f);
		prom_label(f, path);
	}
	if (json_is_integer(v) && scale >= 1)	/* counters exact, not rounded */
		fprintf(f, "\"} %lld\n", (long long)json_integer_value(v) * (long long)scale);
	else
		fprintf(f, "\"} %.9g\n", json_number_value(v) * scale);
}

/* The fleet as Prometheus reads it: one family at a time, as the
 * format asks, every site in each. */
static void prom_write(FILE *f, json_t *fleet, unsigned long long scrapes)
{
	static const struct { const char *name, *help, *type, *key; double scale; } site_m[] = {
		{ "kyoten_site_uptime_seconds", "kyotend's uptime", "gauge", "uptime-s", 1 },
		{ "kyoten_site_events_queued", "events waiting on the box", "gauge",
		  "events-queued", 1 },
	}, sys_m[] = {
		{ "kyoten_site_cpu_ratio", "CPU busy over the agent's last second", "gauge",
		  "cpu-percent", 0.01 },
		{ "kyoten_site_load1", "load average, 1 minute", "gauge", "load-1m", 1 },
		{ "kyoten_site_memory_total_bytes", "memory", "gauge", "memory-total-kib", 1024 },
		{ "kyoten_site_memory_free_bytes", "memory free", "gauge", "memory-free-kib", 1024 },
		{ "kyoten_site_temperature_celsius", "the board's hottest thermal zone", "gauge",
		  "temperature-c", 1 },
	}, path_m[] = {
		{ "kyoten_path_rtt_seconds", "BFD echo round trip, average", "gauge", "rtt-us", 1e-6 },
		{ "kyoten_path_jitter_seconds", "round-trip jitter", "gauge", "jitter-us", 1e-6 },
		{ "kyoten_path_lost_probes", "probes lost in the window", "gauge", "lost", 1 },
		{ "kyoten_path_handshake_age_seconds", "since the tunnel's last handshake", "gauge",
		  "handshake-age", 1 },
		{ "kyoten_path_receive_bytes_total", "bytes in through the tunnel", "counter",
		  "rx-bytes", 1 },
		{ "kyoten_path_transmit_bytes_total", "bytes out through the tunnel", "counter",
		  "tx-bytes", 1 },
	};
	const char *site;
	json_t *v;
	time_t now = time(NULL);

	fputs("# HELP kyoten_site_up 1 while the site's agent is connected to the broker\n"
	      "# TYPE kyoten_site_up gauge\n", f);
	json_object_foreach(fleet, site, v) {
		fputs("kyoten_site_up{site=\"", f);
		prom_label(f, site);
		fprintf(f, "\"} %d\n", !strcmp(json_string_value(json_object_get(v, "state")) ?: "",
					      "online"));
	}
	fputs("# HELP kyoten_site_telemetry_age_seconds since the site's last telemetry\n"
	      "# TYPE kyoten_site_telemetry_age_seconds gauge\n", f);
	json_object_foreach(fleet, site, v) {
		json_t *t = json_object_get(v, "received");

		if (json_is_integer(t)) {
			json_t *age = json_integer(now - json_integer_value(t));

			prom_num(f, "kyoten_site_telemetry_age_seconds", site, NULL, age, 1);
			json_decref(age);
		}
	}
	for (size_t i = 0; i < sizeof(site_m) / sizeof(site_m[0]); i++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", site_m[i].name, site_m[i].help,
			site_m[i].name, site_m[i].type);
		json_object_foreach(fleet, site, v)
			prom_num(f, site_m[i].name, site, NULL, json_object_get(json_object_get(v,
				 "telemetry"), site_m[i].key), site_m[i].scale);
	}
	for (size_t i = 0; i < sizeof(sys_m) / sizeof(sys_m[0]); i++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", sys_m[i].name, sys_m[i].help,
			sys_m[i].name, sys_m[i].type);
		json_object_foreach(fleet, site, v)
			prom_num(f, sys_m[i].name, site, NULL, json_object_get(json_object_get(
				 json_object_get(v, "telemetry"), "system"), sys_m[i].key),
				 sys_m[i].scale);
	}
	fputs("# HELP kyoten_path_up 1 while the path's BFD session is up\n"
	      "# TYPE kyoten_path_up gauge\n", f);
	json_object_foreach(fleet, site, v) {
		json_t *p;
		size_t j;

		json_array_foreach(json_object_get(json_object_get(v, "telemetry"), "paths"), j, p) {
			fputs("kyoten_path_up{site=\"", f);
			prom_label(f, site);
			fputs("\",path=\"", f);
			prom_label(f, json_string_value(json_object_get(p, "path")) ?: "?");
			fputs("\",line=\"", f);
			prom_label(f, json_string_value(json_object_get(p, "line")) ?: "?");
			fputs("\",peer=\"", f);
			prom_label(f, json_string_value(json_object_get(p, "peer")) ?: "?");
			fprintf(f, "\"} %d\n", !strcmp(json_string_value(json_object_get(p, "state"))
						       ?: "", "up"));
		}
	}
	for (size_t i = 0; i < sizeof(path_m) / sizeof(path_m[0]); i++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", path_m[i].name, path_m[i].help,
			path_m[i].name, path_m[i].type);
		json_object_foreach(fleet, site, v) {
			json_t *p;
			size_t j;

			json_array_foreach(json_object_get(json_object_get(v, "telemetry"), "paths"),
					   j, p)
				prom_num(f, path_m[i].name, site,
					 json_string_value(json_object_get(p, "path")) ?: "?",
					 json_object_get(p, path_m[i].key), path_m[i].scale);
		}
	}
	fprintf(f, "# HELP kyoten_noc_scrapes_total scrapes answered by this kyoten-noc\n"
		"# TYPE kyoten_noc_scrapes_total counter\nkyoten_noc_scrapes_total %llu\n",
		scrapes);
}

/* One HTTP request on a new connection: GET /metrics, answered and
 * closed. A request that is not that gets 400, 404 or 405 saying why;
 * one that does not arrive in 2 s is dropped. */
static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void prom_serve(int lfd, json_t *fleet, unsigned long long *scrapes,
		       unsigned long long *bad)
{
	struct timeval tv = { .tv_sec = 2 };
	char req[KT_HTTP_REQ_MAX], *body = NULL, head[256];
	const char *why = "", *ctype = "text/plain; version=0.0.4; charset=utf-8";
	size_t blen = 0, got = 0;
	bool is_head = false;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), code, n;
	uint64_t deadline = mono_ms() + 2000;
	FILE *f;

	if (fd < 0)
		return;
	/* 2 s for the whole request, however slowly it trickles in. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (got < sizeof(req) && !kt_http_complete(req, got)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = (long)(deadline - mono_ms());
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) != 1 ||
		    (r = recv(fd, req + got, sizeof(req) - got, MSG_DONTWAIT)) <= 0)
			break;
		got += (size_t)r;
	}
	code = kt_http_route(req, got, "/metrics", &is_head, &why);
	if (!(f = open_memstream(&body, &blen))) {
		close(fd);
		return;
	}
	if (code == 200)
		prom_write(f, fleet, ++*scrapes);
	else {
		fputs(why, f);
		(*bad)++;
		ctype = "text/plain; charset=utf-8";
	}
	fclose(f);
	n = snprintf(head, sizeof(head), "HTTP/1.0 %d %s\r\nContent-Type: %s\r\n"
		     "Content-Length: %zu\r\n%sConnection: close\r\n\r\n", code,
		     code == 200 ? "OK" : code == 404 ? "Not Found" : code == 405 ?
		     "Method Not Allowed" : "Bad Request", ctype, blen,
		     code == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!kt_write_all(fd, head, (size_t)n) && !is_head)
		kt_write_all(fd, body, blen);
	free(body);
	close(fd);
}

/* The fleet's metrics for Prometheus (and Grafana or Zabbix through
 * it): state and telemetry as the broker delivers them, served at
 * http://ADDR:PORT/metrics. One loop: the broker is read a tenth of a
 * second at a time and the listening socket looked at in between
 * (firmware/mqttc.c keeps its socket to itself, with TLS records it may
 * hold), so a scrape waits at most that long. The request is read by
 * netstack/httpreq.c (why by hand: there). */
static int fleet_metrics(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_at = "127.0.0.1:9105";
	unsigned timeout_s = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char addr[64], *colon, err[512], client[64];
	unsigned long long scrapes = 0, bad = 0;
	bool lost = false;
	json_t *fleet = json_object();
	struct kt_mqttc *m;
	unsigned long port;
	time_t end;
	int lfd, c, one = 1;
	uint8_t g;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'l')
			listen_at = optarg;
		else if (c == 't')
			timeout_s = (unsigned)strtoul(optarg, NULL, 10);
		else
			return usage(stderr), EXIT_USAGE;
	}
	snprintf(addr, sizeof(addr), "%s", listen_at);
	if (!(colon = strrchr(addr, ':')) || (*colon = '\0', inet_pton(AF_INET, addr,
	    &sa.sin_addr) != 1) || (port = strtoul(colon + 1, &colon, 10)) < 1 || port > 65535 ||
	    *colon)
		return die("--listen '%s' is not an IPv4 ADDRESS:PORT", listen_at);
	sa.sin_port = htons((uint16_t)port);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 16))
		return die("--listen %s: %s", listen_at, strerror(errno));
	snprintf(client, sizeof(client), "kyoten-noc-metrics-%d", (int)getpid());
	if (noc_connect(&m, client, err, sizeof(err))) {
		close(lfd);
		return 1;
	}
	if (kt_mqttc_subscribe(m, "kyoten/site/+/state", 1, &g, err, sizeof(err)) ||
	    kt_mqttc_subscribe(m, "kyoten/site/+/telemetry", 1, &g, err, sizeof(err))) {
		kt_mqttc_close(m, false);
		close(lfd);
		return die("subscribing: %s", err);
	}
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "kyoten-noc: metrics at http://%s/metrics\n", listen_at);
	end = timeout_s ? time(NULL) + timeout_s : 0;
	while (!end || time(NULL) < end) {
		struct kt_mqttc_msg msg;
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		int r = kt_mqttc_next(m, &msg, 100, err, sizeof(err)), accepts = 0;

		/* -ETIMEDOUT is also a broker that stopped answering pings:
		 * only "nothing came" goes on. */
		if (r && (r != -ETIMEDOUT || strncmp(err, "nothing", 7))) {
			fprintf(stderr, "kyoten-noc: the broker: %s\n", err);
			lost = true;
			break;
		}
		if (!r)
			fleet_take(fleet, &msg);
		/* A few a turn: the broker must not wait behind a crowd. */
		while (accepts++ < 8 && poll(&pfd, 1, 0) == 1)
			prom_serve(lfd, fleet, &scrapes, &bad);
	}
	kt_mqttc_close(m, false);
	close(lfd);
	json_decref(fleet);
	fprintf(stderr, "kyoten-noc: %llu scrapes answered, %llu requests refused\n", scrapes,
		bad);
	return lost ? 1 : 0;	/* a service manager restarts it */
}

/* --- pushing a policy --- */

struct target_site {
	char name[KT_NAME_MAX];
	char result[16];		/* "", "applied", "confirmed", "refused", ... */
	char detail[256];
	char sha256[65];
};

/* A push or command begun: the policy key into seed (the caller wipes
 * it), a new id, now as its time, and who. 0, or 1 with the reason said. */
static int sign_begin(uint8_t seed[32], struct kt_polsign *ps, time_t now)
{
	char path[4200], err[512];
	uint8_t rnd[8];

	snprintf(path, sizeof(path), "%s/ca/policy.key", noc_dir);
	if (kt_key_read(path, seed, err, sizeof(err)))
		return die("%s", err), 1;
	if (kt_random(rnd, sizeof(rnd))) {
		kt_wipe(seed, 32);
		return die("no random numbers"), 1;
	}
	kt_hex(rnd, sizeof(rnd), ps->push_id);
	kt_utc_time(now, ps->created, sizeof(ps->created));
	snprintf(ps->by, sizeof(ps->by), "%s", who());
	return 0;
}

/* FILE, with {site} replaced by the site's ID: one file for all, or one each. */
static void site_file(const char *pattern, const char *site, char *out, size_t cap)
{
	const char *at = strstr(pattern, "{site}");

	if (!at)
		snprintf(out, cap, "%s", pattern);
	else
		snprintf(out, cap, "%.*s%s%s", (int)(at - pattern), pattern, site, at + 6);
}

/* DIR/sites/SITE/policies/SHA256.yaml: every policy pushed, kept so that
 * `policy plan` can show what the next one changes. */
static void policy_copy_path(const char *site, const char *sha, char *out, size_t cap)
{
	snprintf(out, cap, "%s/sites/%s/policies/%s.yaml", noc_dir, site, sha);
}

static void keep_policy(const char *site, const char *sha, const uint8_t *p, size_t len)
{
	char path[4200], d[4200];
	int r;

	/* Only for a site this NOC issued: a typo in --sites makes no folder. */
	snprintf(d, sizeof(d), "%s/sites/%s/policies", noc_dir, site);
	if (mkdir(d, 0700) && errno != EEXIST)
		return;
	policy_copy_path(site, sha, path, sizeof(path));
	if ((r = kt_write_file_new(path, p, len, 0600)) && r != -EEXIST)
		fprintf(stderr, "kyoten-noc: %s: %s (policy plan will not have it)\n", path,
			strerror(-r));
}

static int push_one(struct kt_mqttc *m, const uint8_t seed[32], const char *pattern,
		    struct kt_polsign *ps, struct target_site *t, char *err, size_t errlen)
{
	char path[4200], topic[128];
	uint8_t *policy, *msg, sha[32];
	size_t plen, mlen;
	int r;

	site_file(pattern, t->name, path, sizeof(path));
	if ((r = kt_read_file(path, KT_POLSIGN_MAX / 2, &policy, &plen)))
		return kt_errf(err, errlen, r, "%s: %s", path, strerror(-r));
	wc_Sha256Hash(policy, (word32)plen, sha);
	kt_hex(sha, 32, t->sha256);
	keep_policy(t->name, t->sha256, policy, plen);
	snprintf(ps->site, sizeof(ps->site), "%s", t->name);
	snprintf(ps->name, sizeof(ps->name), "%s", path[0] ? basename(path) : "policy");
	/* Signed as it is sent: a site that took a command from this NOC
	 * while it waited for its wave would refuse an older push. */
	kt_utc_time(time(NULL), ps->created, sizeof(ps->created));
	ps->policy = policy;
	ps->policy_len = plen;
	r = kt_polsign_make(seed, ps, &msg, &mlen, err, errlen);
	free(policy);
	if (r)
		return r;
	snprintf(topic, sizeof(topic), "kyoten/site/%s/cmd/policy", t->name);
	r = kt_mqttc_publish(m, topic, msg, mlen, 1, false, err, errlen);
	free(msg);
	return r;
}

/* The next JSON message on kyoten/site/SITE/LEAF before `end` (only
 * `site`'s when it is not NULL), SITE into from; NULL when the time is
 * up or the broker went away. Anything else that comes is skipped. */
static json_t *next_json(struct kt_mqttc *m, const char *site, const char *leaf,
			 char from[KT_NAME_MAX], time_t end)
{
	while (time(NULL) < end) {
		struct kt_mqttc_msg msg;
		char err[256];
		const char *l;
		json_t *j;

		if (kt_mqttc_next(m, &msg, (unsigned)(end - time(NULL)) * 1000, err, sizeof(err)))
			return NULL;
		if (!(l = topic_site(msg.topic, from)) || strcmp(l, leaf) ||
		    (site && strcmp(from, site)) ||
		    !(j = json_loadb((const char *)msg.payload, msg.len, 0, NULL)))
			continue;
		return j;
	}
	return NULL;
}

/* Replies for this push until every site of the wave answered for good
 * or the time is up. */
static void await_wave(struct kt_mqttc *m, const char *push_id, struct target_site *w,
		       size_t n, unsigned timeout_s)
{
	time_t end = time(NULL) + timeout_s;
	size_t open = n;

	while (open) {
		char site[KT_NAME_MAX];
		json_t *j = next_json(m, NULL, "reply", site, end);

		if (!j)
			break;
		if (!strcmp(json_string_value(json_object_get(j, "push-id")) ?: "", push_id)) {
			for (size_t i = 0; i < n; i++) {
				const char *res = json_string_value(json_object_get(j, "result")) ?: "?";

				if (strcmp(w[i].name, site) || !strcmp(w[i].result, "confirmed") ||
				    !strcmp(w[i].result, "refused"))
					continue;
				snprintf(w[i].result, sizeof(w[i].result), "%s", res);
				snprintf(w[i].detail, sizeof(w[i].detail), "%s",
					 json_string_value(json_object_get(j, "detail")) ?: "");
				if (strcmp(res, "applied"))
					open--;
			}
		}
		json_decref(j);
	}
	for (size_t i = 0; i < n; i++)
		if (!w[i].result[0] || !strcmp(w[i].result, "applied")) {
			snprintf(w[i].detail, sizeof(w[i].detail), "%s within %u s",
				 w[i].result[0] ? "applied but not confirmed" : "no answer",
				 timeout_s);
			snprintf(w[i].result, sizeof(w[i].result), "no answer");
		}
}

/* The newest push that SITE confirmed, from DIR/pushes.log: its sha256,
 * push ID and time into the arguments; false if none. */
static bool last_confirmed(const char *site, char sha[65], char id[17], char when[32])
{
	char path[4200], *line = NULL;
	size_t cap = 0;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/pushes.log", noc_dir);
	if (!(f = fopen(path, "re")))
		return false;
	while (getline(&line, &cap, f) > 0) {
		json_t *j = json_loads(line, 0, NULL);
		json_t *s = json_object_get(json_object_get(j, "sites"), site);

		if (!strcmp(json_string_value(json_object_get(s, "result")) ?: "", "confirmed") &&
		    strlen(json_string_value(json_object_get(s, "sha256")) ?: "") == 64) {
			snprintf(sha, 65, "%s", json_string_value(json_object_get(s, "sha256")));
			snprintf(id, 17, "%s", json_string_value(json_object_get(j, "push-id")) ?: "?");
			snprintf(when, 32, "%s", json_string_value(json_object_get(j, "time")) ?: "?");
			found = true;
		}
		json_decref(j);
	}
	free(line);
	fclose(f);
	return found;
}

/* `diff -u OLD NEW` (diffutils, on every Debian machine): its output
 * into out (when wanted), its added and removed lines counted. */
static int run_diff(const char *a, const char *b, bool show, unsigned *plus, unsigned *minus)
{
	int fds[2], st = 0;
	char *line = NULL;
	size_t cap = 0;
	bool hunks = false;
	pid_t pid;
	FILE *f;

	*plus = *minus = 0;
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return -EIO;
	}
	if (!pid) {
		dup2(fds[1], 1);
		execlp("diff", "diff", "-u", "--label", "confirmed", "--label", "planned", a, b,
		       (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	while (f && getline(&line, &cap, f) > 0) {
		/* The two file lines come before the first hunk; after it a
		 * "---" is a YAML line removed. */
		if (!strncmp(line, "@@", 2))
			hunks = true;
		else if (hunks && line[0] == '+')
			(*plus)++;
		else if (hunks && line[0] == '-')
			(*minus)++;
		if (show)
			printf("    %s", line);
	}
	free(line);
	if (f)
		fclose(f);
	else
		close(fds[0]);
	waitpid(pid, &st, 0);
	/* diff: 0 the same, 1 different, 2 trouble. */
	return WIFEXITED(st) && WEXITSTATUS(st) <= 1 ? 0 : -EIO;
}

/* What a push of FILE would change at each site: against the policy the
 * site last confirmed from this NOC (kept from the push), nothing sent. */
static int policy_plan(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sites", required_argument, NULL, 's' },
		{ "diff", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sites = NULL, *file;
	bool show = false;
	char *list, *tok, *save;
	unsigned changes = 0, same = 0, fresh = 0, bad = 0;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's')
			sites = optarg;
		else if (c == 'D')
			show = true;
		else
			return usage(stderr), EXIT_USAGE;
	}
	if (optind + 2 != argc || !sites) {
		fprintf(stderr, "kyoten-noc: policy plan FILE --sites A,B,... [--diff]\n");
		return EXIT_USAGE;
	}
	file = argv[optind + 1];
	printf("plan for %s (nothing is sent)\n", file);
	list = strdup(sites);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char path[4200], old[4200], sha[65], id[17], when[32], now_sha[65];
		uint8_t *p, h[32];
		size_t plen;
		unsigned plus, minus;
		int r;

		if (!kt_yw_is_name(tok)) {
			free(list);
			return die("'%s' is not a site ID", tok);
		}
		site_file(file, tok, path, sizeof(path));
		if ((r = kt_read_file(path, KT_POLSIGN_MAX / 2, &p, &plen))) {
			printf("  %-16s %-10s %s: %s\n", tok, "unreadable", path, strerror(-r));
			bad++;
			continue;
		}
		wc_Sha256Hash(p, (word32)plen, h);
		free(p);
		kt_hex(h, 32, now_sha);
		if (!last_confirmed(tok, sha, id, when)) {
			printf("  %-16s %-10s no push confirmed by this site yet: all of %s is new "
			       "to it (the box runs its installed policy)\n", tok, "new", path);
			fresh++;
			continue;
		}
		if (!strcmp(sha, now_sha)) {
			printf("  %-16s %-10s the policy of push %s, confirmed %s\n", tok,
			       "unchanged", id, when);
			same++;
			continue;
		}
		policy_copy_path(tok, sha, old, sizeof(old));
		if (access(old, R_OK)) {
			printf("  %-16s %-10s differs from push %s (confirmed %s), whose copy "
			       "%s is gone\n", tok, "changes", id, when, old);
			changes++;
			continue;
		}
		printf("  %-16s %-10s against push %s, confirmed %s:", tok, "changes", id, when);
		fflush(stdout);
		if (run_diff(old, path, false, &plus, &minus)) {
			printf(" diff failed\n");
			bad++;
			continue;
		}
		printf(" %u lines added, %u removed\n", plus, minus);
		if (show)
			run_diff(old, path, true, &plus, &minus);
		changes++;
	}
	free(list);
	printf("%u sites change, %u unchanged, %u new, %u could not be planned\n", changes,
	       same, fresh, bad);
	return bad ? 1 : 0;
}

/* A policy to sites in stages: the canary alone first, then waves; the
 * first site that does not confirm stops the rollout, and the rest are
 * left as they were. Every push is recorded in DIR/pushes.log. */
static int policy_push(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sites", required_argument, NULL, 's' },
		{ "canary", required_argument, NULL, 'c' },
		{ "wave", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "confirm-timeout", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	static struct target_site t[KT_MAX_SITES];
	const char *sites = NULL, *canary = NULL, *file;
	char started[32];
	unsigned wave = 5, timeout_s = 60, confirm = 30;
	struct kt_polsign ps = { 0 };
	uint8_t seed[32];
	char err[512], path[4200], client[64], *list, *tok, *save;
	struct kt_mqttc *m;
	size_t n = 0, done = 0;
	bool failed = false;
	json_t *rec, *res;
	uint8_t g;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': sites = optarg; break;
		case 'c': canary = optarg; break;
		case 'w': wave = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': timeout_s = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'T': confirm = (unsigned)strtoul(optarg, NULL, 10); break;
		default: return usage(stderr), EXIT_USAGE;
		}
	}
	if (optind + 2 != argc || !sites || !wave || !timeout_s || confirm < 5 || confirm > 3600) {
		fprintf(stderr, "kyoten-noc: policy push FILE --sites A,B,... [--canary S] "
			"[--wave N] [--timeout S] [--confirm-timeout 5..3600]\n");
		return EXIT_USAGE;
	}
	file = argv[optind + 1];
	if (canary && kt_yw_is_name(canary))
		snprintf(t[n++].name, KT_NAME_MAX, "%s", canary);
	else if (canary)
		return die("--canary '%s' is not a site ID", canary);
	list = strdup(sites);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!kt_yw_is_name(tok)) {
			free(list);
			return die("'%s' is not a site ID", tok);
		}
		if (canary && !strcmp(tok, canary))
			continue;
		if (n == KT_MAX_SITES) {
			free(list);
			return die("more than %d sites in one push", KT_MAX_SITES);
		}
		snprintf(t[n++].name, KT_NAME_MAX, "%s", tok);
	}
	free(list);
	if (sign_begin(seed, &ps, time(NULL)))
		return 1;
	snprintf(started, sizeof(started), "%s", ps.created);
	ps.confirm_timeout = confirm;
	snprintf(client, sizeof(client), "kyoten-noc-push-%d", (int)getpid());
	if (noc_connect(&m, client, err, sizeof(err))) {
		kt_wipe(seed, sizeof(seed));
		return 1;
	}
	if (kt_mqttc_subscribe(m, "kyoten/site/+/reply", 1, &g, err, sizeof(err))) {
		kt_wipe(seed, sizeof(seed));
		kt_mqttc_close(m, false);
		return die("subscribing to the replies: %s", err);
	}
	printf("push %s of %s by %s to %zu sites (canary %s, then waves of %u)\n", ps.push_id,
	       file, ps.by, n, t[0].name, wave);
	/* The canary is a wave of one. */
	while (done < n && !failed) {
		size_t w = done ? (n - done < wave ? n - done : wave) : 1;

		for (size_t i = done; i < done + w; i++)
			if (push_one(m, seed, file, &ps, &t[i], err, sizeof(err))) {
				snprintf(t[i].result, sizeof(t[i].result), "not sent");
				snprintf(t[i].detail, sizeof(t[i].detail), "%.255s", err);
			}
		await_wave(m, ps.push_id, t + done, w, timeout_s);
		for (size_t i = done; i < done + w; i++) {
			printf("  %-16s %-10s %s\n", t[i].name, t[i].result, t[i].detail);
			failed = failed || strcmp(t[i].result, "confirmed");
		}
		done += w;
	}
	kt_wipe(seed, sizeof(seed));
	kt_mqttc_close(m, false);
	for (size_t i = done; i < n; i++)
		printf("  %-16s %-10s %s\n", t[i].name, "not pushed", "the rollout stopped");
	res = json_object();
	for (size_t i = 0; i < n; i++)
		json_object_set_new(res, t[i].name, json_pack("{s:s, s:s, s:s}", "result",
				    i < done ? t[i].result : "not pushed", "detail", t[i].detail,
				    "sha256", t[i].sha256));
	rec = json_pack("{s:s, s:s, s:s, s:s, s:i, s:o, s:b}", "push-id", ps.push_id,
			"time", started, "by", ps.by, "file", file, "confirm-timeout",
			(int)confirm, "sites", res, "complete", !failed);
	snprintf(path, sizeof(path), "%s/pushes.log", noc_dir);
	{
		FILE *f = fopen(path, "ae");
		char *line = rec ? json_dumps(rec, JSON_COMPACT) : NULL;

		if (!f || !line || fprintf(f, "%s\n", line) < 0 || fclose(f))
			die("%s: the push could not be recorded", path);
		free(line);
	}
	json_decref(rec);
	if (failed) {
		printf("stopped: not every site confirmed; the sites after it were left as "
		       "they were\n");
		return 1;
	}
	printf("every site confirmed\n");
	return 0;
}

/* --- commands to one site --- */

/* One line in DIR/commands.log: who asked what of which site, and how it
 * ended. */
static int command_record(const struct kt_polsign *ps, const char *result,
			  const char *detail)
{
	char path[4200], *line;
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "push-id", ps->push_id,
			      "time", ps->created, "by", ps->by, "site", ps->site, "command",
			      kt_polsign_cmd_name(ps->command), "result", result, "detail",
			      detail);
	FILE *f = NULL;
	int bad;

	if (j && ps->command == KT_PSCMD_ROLLBACK)
		json_object_set_new(j, "generation", json_integer(ps->generation));
	if (j && ps->command == KT_PSCMD_DIAGNOSE && ps->probe[0])
		json_object_set_new(j, "probe", json_string(ps->probe));
	line = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	snprintf(path, sizeof(path), "%s/commands.log", noc_dir);
	bad = !line || !(f = fopen(path, "ae")) || fprintf(f, "%s\n", line) < 0;
	if (f && fclose(f))
		bad = 1;
	free(line);
	return bad ? die("%s: the command could not be recorded", path) : 0;
}

/* The site's answer to command `id`: the first that is not "applied"
 * (a rollback's step on the way). NULL when none came in time. */
static json_t *await_reply(struct kt_mqttc *m, const char *site, const char *id, time_t end)
{
	char from[KT_NAME_MAX];
	json_t *j;

	while ((j = next_json(m, site, "reply", from, end))) {
		if (!strcmp(json_string_value(json_object_get(j, "push-id")) ?: "", id) &&
		    strcmp(json_string_value(json_object_get(j, "result")) ?: "", "applied"))
			return j;
		json_decref(j);
	}
	return NULL;
}

/* After "rebooting": the site is back once it sends telemetry from a
 * kyotend younger than the time since the command. Seconds, or -1. */
static long await_back(struct kt_mqttc *m, const char *site, time_t asked, time_t end)
{
	char from[KT_NAME_MAX];
	json_t *j;

	while ((j = next_json(m, site, "telemetry", from, end))) {
		long long up = json_is_integer(json_object_get(j, "uptime-s"))
		     ? json_integer_value(json_object_get(j, "uptime-s")) : -1;
		json_decref(j);
		/* A retained message from before the reboot is older than that. */
		if (up >= 0 && up <= (long long)(time(NULL) - asked))
			return (long)(time(NULL) - asked);
	}
	return -1;
}

static void print_report(json_t *r)
{
	json_t *st = json_object_get(r, "status"), *pol = json_object_get(st, "policy"), *p,
	       *pr = json_object_get(r, "probe"), *e;
	size_t i;

	printf("kyotend %s, up %lld s; policy generation %lld (%s)\n",
	       json_string_value(json_object_get(json_object_get(st, "kyoten"), "version")) ?: "?",
	       (long long)json_integer_value(json_object_get(st, "uptime")),
	       (long long)json_integer_value(json_object_get(pol, "generation")),
	       json_string_value(json_object_get(pol, "state")) ?: "?");
	printf("%-22s %-6s %9s %9s %6s %10s %12s %12s\n", "PATH", "BFD", "RTT-us", "JITTER",
	       "LOST", "HANDSHAKE", "RX-BYTES", "TX-BYTES");
	json_array_foreach(json_object_get(json_object_get(st, "tunnels"), "paths"), i, p) {
		json_t *bfd = json_object_get(p, "bfd"), *rtt = json_object_get(bfd, "rtt");
		char name[96], clean[96], state[16];

		snprintf(name, sizeof(name), "%s/%s",
			 json_string_value(json_object_get(p, "line")) ?: "?",
			 json_string_value(json_object_get(p, "peer")) ?: "?");
		mail_clean(clean, sizeof(clean), name, false);
		mail_clean(state, sizeof(state),
			   json_string_value(json_object_get(bfd, "state")) ?: "?", false);
		printf("%-22s %-6s %9lld %9lld %6lld %9llds %12lld %12lld\n", clean, state,
		       (long long)json_integer_value(json_object_get(rtt, "avg-us")),
		       (long long)json_integer_value(json_object_get(rtt, "jitter-us")),
		       (long long)json_integer_value(json_object_get(rtt, "lost")),
		       (long long)json_integer_value(json_object_get(p, "handshake-age")),
		       (long long)json_integer_value(json_object_get(p, "rx-bytes")),
		       (long long)json_integer_value(json_object_get(p, "tx-bytes")));
	}
	if (json_is_object(pr))
		printf("probe %s for %lld s: %s, %lld BFD packets sent, %lld received, %lld "
		       "lost; RTT %lld us (average %lld us, jitter %lld us)\n",
		       json_string_value(json_object_get(pr, "path")) ?: "?",
		       (long long)json_integer_value(json_object_get(pr, "seconds")),
		       json_string_value(json_object_get(pr, "state")) ?: "?",
		       (long long)json_integer_value(json_object_get(pr, "sent")),
		       (long long)json_integer_value(json_object_get(pr, "received")),
		       (long long)json_integer_value(json_object_get(pr, "lost")),
		       (long long)json_integer_value(json_object_get(pr, "rtt-last-us")),
		       (long long)json_integer_value(json_object_get(pr, "rtt-avg-us")),
		       (long long)json_integer_value(json_object_get(pr, "jitter-us")));
	json_array_foreach(json_object_get(r, "log"), i, e) {
		char line[1200];

		/* The box's text, shown on the operator's terminal. */
		mail_clean(line, sizeof(line), json_string_value(e) ?: "", false);
		printf("  %s\n", line);
	}
}

/* A diagnostic's report, kept as DIR/sites/SITE/diagnostics/ID.json. */
static void keep_report(const char *site, const char *id, json_t *report)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/sites/%s/diagnostics", noc_dir, site);
	if (mkdir(path, 0700) && errno != EEXIST)
		return;
	snprintf(path, sizeof(path), "%s/sites/%s/diagnostics/%s.json", noc_dir, site, id);
	if (json_dump_file(report, path, JSON_INDENT(2)))
		fprintf(stderr, "kyoten-noc: %s: cannot keep the report\n", path);
}

/* kyoten-noc site rollback|diagnose|reboot SITE ...: one signed command,
 * its answer awaited, printed and recorded. */
static int site_command(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 'g' },
		{ "probe", required_argument, NULL, 'p' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "log", required_argument, NULL, 'l' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "yes", no_argument, NULL, 'y' },
		{ NULL, 0, NULL, 0 },
	};
	struct kt_polsign ps = { 0 };
	unsigned timeout_s = 60;
	bool json = false, yes = false;
	char err[512], client[64], topic[128], *end;
	const char *result, *detail;
	uint8_t seed[32], *msg, g;
	size_t mlen;
	struct kt_mqttc *m;
	json_t *ans;
	time_t asked;
	int c, cmd = kt_polsign_cmd_parse(argv[0]), rc;
	unsigned long v;

	ps.command = (enum kt_polsign_cmd)cmd;
	ps.log = cmd == KT_PSCMD_DIAGNOSE ? 20 : 0;
	ps.seconds = 3;
	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		errno = 0;
		v = 0;
		if (c == 'g' || c == 'S' || c == 'l' || c == 't') {
			v = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || *optarg == '-' || v > UINT32_MAX)
				return die("%s: not a number", optarg), EXIT_USAGE;
		}
		switch (c) {
		case 'g': ps.generation = (uint32_t)v; break;
		case 'p': snprintf(ps.probe, sizeof(ps.probe), "%s", optarg); break;
		case 'S': ps.seconds = (uint32_t)v; break;
		case 'l': ps.log = (uint32_t)v; break;
		case 't': timeout_s = (unsigned)v; break;
		case 'j': json = true; break;
		case 'y': yes = true; break;
		default: return usage(stderr), EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || !kt_yw_is_name(argv[optind]) || !timeout_s ||
	    (cmd != KT_PSCMD_REBOOT && yes) || (cmd == KT_PSCMD_REBOOT && !yes) ||
	    (cmd != KT_PSCMD_ROLLBACK && ps.generation) ||
	    (cmd != KT_PSCMD_DIAGNOSE && (ps.probe[0] || ps.log || json)) ||
	    ps.log > KT_POLSIGN_LOG_MAX || ps.seconds < 1 || ps.seconds > KT_POLSIGN_PROBE_MAX) {
		fprintf(stderr, "kyoten-noc: site rollback SITE [--to GENERATION] [--timeout S]\n"
			"            site diagnose SITE [--probe LINE/PEER] [--seconds 1..%u] "
			"[--log 0..%u] [--json] [--timeout S]\n"
			"            site reboot SITE --yes [--timeout S]\n",
			KT_POLSIGN_PROBE_MAX, KT_POLSIGN_LOG_MAX);
		return EXIT_USAGE;
	}
	snprintf(ps.site, sizeof(ps.site), "%s", argv[optind]);
	asked = time(NULL);
	if (sign_begin(seed, &ps, asked))
		return 1;
	rc = kt_polsign_make(seed, &ps, &msg, &mlen, err, sizeof(err));
	kt_wipe(seed, sizeof(seed));
	if (rc)
		return die("%s", err);
	snprintf(client, sizeof(client), "kyoten-noc-cmd-%d", (int)getpid());
	if (noc_connect(&m, client, err, sizeof(err))) {
		free(msg);
		return 1;
	}
	snprintf(topic, sizeof(topic), "kyoten/site/%s/reply", ps.site);
	rc = kt_mqttc_subscribe(m, topic, 1, &g, err, sizeof(err));
	snprintf(topic, sizeof(topic), "kyoten/site/%s/telemetry", ps.site);
	if (!rc && cmd == KT_PSCMD_REBOOT)
		rc = kt_mqttc_subscribe(m, topic, 1, &g, err, sizeof(err));
	snprintf(topic, sizeof(topic), "kyoten/site/%s/cmd/%s", ps.site, argv[0]);
	if (rc || kt_mqttc_publish(m, topic, msg, mlen, 1, false, err, sizeof(err))) {
		free(msg);
		kt_mqttc_close(m, false);
		return die("the broker: %s", err);
	}
	free(msg);
	printf("%s %s sent to %s by %s\n", argv[0], ps.push_id, ps.site, ps.by);
	ans = await_reply(m, ps.site, ps.push_id, asked + (time_t)timeout_s);
	result = ans ? json_string_value(json_object_get(ans, "result")) ?: "?" : "no answer";
	detail = ans ? json_string_value(json_object_get(ans, "detail")) ?: "" : "";
	rc = !ans || (strcmp(result, "rolled-back") && strcmp(result, "done") &&
		      strcmp(result, "rebooting"));
	if (!ans)
		printf("  %-16s no answer within %u s\n", ps.site, timeout_s);
	else if (json && !rc) {
		json_dumpf(json_object_get(ans, "report"), stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		char r[32], d[600];

		/* What the box sent, shown on the operator's terminal. */
		mail_clean(r, sizeof(r), result, false);
		mail_clean(d, sizeof(d), detail, false);
		printf("  %-16s %-12s %s\n", ps.site, r, d);
		if (!rc && cmd == KT_PSCMD_DIAGNOSE)
			print_report(json_object_get(ans, "report"));
	}
	if (!rc && cmd == KT_PSCMD_DIAGNOSE)
		keep_report(ps.site, ps.push_id, json_object_get(ans, "report"));
	if (!rc && cmd == KT_PSCMD_REBOOT) {
		long back = await_back(m, ps.site, asked, asked + (time_t)timeout_s);

		if (back < 0) {
			printf("  %-16s not back within %u s\n", ps.site, timeout_s);
			result = "not back";
			rc = 1;
		} else {
			printf("  %-16s back after %ld s\n", ps.site, back);
		}
	}
	if (command_record(&ps, result, detail))
		rc = 1;
	json_decref(ans);
	kt_mqttc_close(m, false);
	return rc ? 1 : 0;
}

static int site_list(int argc, char **argv)
{
	char path[4200];
	struct dirent *e;
	DIR *d;

	(void)argv;
	if (argc != 1)
		return usage(stderr), EXIT_USAGE;
	path_in(path, sizeof(path), noc_dir, "sites");
	if (!(d = opendir(path)))
		return errno == ENOENT ? (puts("no sites issued yet"), 0) :
		       die("%s: %s", path, strerror(errno));
	printf("%-24s %-20s %-16s %s\n", "SITE", "ISSUED", "SERIAL", "BUNDLE ID");
	while ((e = readdir(d))) {
		json_t *j;
		char f[4500];

		if (e->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s/issued.json", path, e->d_name);
		if (!(j = json_load_file(f, 0, NULL))) {
			printf("%-24s (no readable issued.json)\n", e->d_name);
			continue;
		}
		printf("%-24s %-20s %-16s %s\n", e->d_name,
		       json_string_value(json_object_get(j, "issued")) ?: "?",
		       *(json_string_value(json_object_get(j, "serial")) ?: "") ?
		       json_string_value(json_object_get(j, "serial")) : "any",
		       json_string_value(json_object_get(j, "bundle-id")) ?: "?");
		json_decref(j);
	}
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	const char *env = getenv("KYOTEN_NOC_DIR");
	int c;

	kt_prog = "kyoten-noc";
	noc_dir = env && *env ? env : "/var/lib/kyoten-noc";
	while ((c = getopt(argc, argv, "+d:h")) != -1) {
		switch (c) {
		case 'd': noc_dir = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	umask(077);
	if (argc - optind >= 2 && !strcmp(argv[optind], "ca") &&
	    !strcmp(argv[optind + 1], "init"))
		return ca_init(argc - optind - 1, argv + optind + 1);
	if (argc - optind >= 2 && !strcmp(argv[optind], "policy") &&
	    !strcmp(argv[optind + 1], "plan"))
		return policy_plan(argc - optind, argv + optind);
	if (argc - optind >= 2 && !strcmp(argv[optind], "policy") &&
	    !strcmp(argv[optind + 1], "push"))
		return policy_push(argc - optind, argv + optind);
	if (argc - optind >= 1 && !strcmp(argv[optind], "status"))
		return fleet_status(argc - optind, argv + optind);
	if (argc - optind >= 1 && !strcmp(argv[optind], "metrics"))
		return fleet_metrics(argc - optind, argv + optind);
	if (argc - optind >= 1 && !strcmp(argv[optind], "events"))
		return fleet_events(argc - optind, argv + optind);
	if (argc - optind >= 1 && !strcmp(argv[optind], "watch"))
		return fleet_watch(argc - optind, argv + optind);
	if (argc - optind >= 2 && !strcmp(argv[optind], "spare") &&
	    !strcmp(argv[optind + 1], "add"))
		return spare_add(argc - optind - 1, argv + optind + 1);
	if (argc - optind >= 2 && !strcmp(argv[optind], "spare") &&
	    !strcmp(argv[optind + 1], "assign"))
		return spare_assign(argc - optind - 1, argv + optind + 1);
	if (argc - optind >= 2 && !strcmp(argv[optind], "broker") &&
	    !strcmp(argv[optind + 1], "init"))
		return broker_init(argc - optind - 1, argv + optind + 1);
	if (argc - optind >= 2 && !strcmp(argv[optind], "site") &&
	    !strcmp(argv[optind + 1], "issue"))
		return site_issue(argc - optind - 1, argv + optind + 1);
	if (argc - optind >= 2 && !strcmp(argv[optind], "site") &&
	    (!strcmp(argv[optind + 1], "rollback") || !strcmp(argv[optind + 1], "diagnose") ||
	     !strcmp(argv[optind + 1], "reboot")))
		return site_command(argc - optind - 1, argv + optind + 1);
	if (argc - optind >= 2 && !strcmp(argv[optind], "site") &&
	    !strcmp(argv[optind + 1], "list"))
		return site_list(argc - optind - 1, argv + optind + 1);
	usage(stderr);
	return EXIT_USAGE;
}
