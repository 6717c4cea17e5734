/* kyoten-provision: installs a site identity bundle on the box
 * (docs/field-guide.md, firmware/bundle.h).
 *
 *   kyoten-provision show (BUNDLE | --medium DEV)
 *   kyoten-provision install (BUNDLE | --medium DEV) [--passphrase-file F]
 *                    [--root DIR] [--serial S] [--keep]
 *   kyoten-provision fetch [--root DIR] [--timeout S] [--no-dhcp]
 *
 * install asks for the passphrase on the terminal (or reads it from F),
 * opens the bundle, and checks everything in it before writing anything:
 * the site file parses for this board and is the bundle's site, the
 * tunnel key is a key of the file's suite, the management certificate
 * is the CA's, valid now, for this site, and its key is its own. Then the
 * new folder is built beside the old one (files the bundle does not
 * carry, such as image.pub, are kept) and the two are swapped in one
 * rename: a power cut leaves the old identity or the new, never a mix.
 * A bundle read from a medium is then erased from it (one use), unless
 * --keep. Exit status: 0 installed, 1 refused or failed, 2 bad command
 * line. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "jsonf.h"
#include "mqttc.h"
#include "sys.h"
#include "config.h"
#include "disk.h"
#include "fileio.h"
#include "generated/autoconf.h"
#include "keys.h"
#include "pki.h"
#include "suite.h"

#define EXIT_USAGE 2

struct source {
	const char *file, *medium;
	uint8_t *buf;
	size_t len;
	uint64_t medium_at;		/* the bundle area's offset */
};

#define die kt_die

static void usage(FILE *f)
{
	fputs("usage: kyoten-provision show (BUNDLE | --medium DEV)\n"
	      "       kyoten-provision fetch [--root DIR] [--timeout S] [--no-dhcp]\n"
	      "       kyoten-provision install (BUNDLE | --medium DEV) [--passphrase-file F]\n"
	      "                        [--root DIR] [--serial S] [--keep]\n"
	      "\n"
	      "show     what a bundle is for (site, device number, serial); no passphrase\n"
	      "install  check the bundle and install it into DIR (default the folder of\n"
	      "         " CONFIG_SITE_CONFIG_PATH "); the passphrase is asked for on\n"
	      "         the terminal. A bundle on a medium (--medium, as kyoten-flash\n"
	      "         wrote it) is erased from it afterwards unless --keep.\n"
	      "--serial this box's serial number, for a bundle made for one box\n"
	      "fetch    a spare (its own bundle installed): get its site's bundle from\n"
	      "         the NOC by itself, over the line enrol.json names (DHCP), and\n"
	      "         install it; waits until --timeout S (600)\n", f);
}

/* --- reading the bundle --- */

static int read_medium(struct source *s)
{
	uint8_t hdr[KT_DISK_HEADER], lenbuf[8];
	struct kt_disk d;
	uint64_t n = 0;
	int fd = open(s->medium, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return die("%s: %s", s->medium, strerror(errno));
	r = pread(fd, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) ? 0 : -1;
	if (r || kt_disk_decode(hdr, sizeof(hdr), &d)) {
		close(fd);
		return die("%s: not a Kyoten boot medium (no valid header)", s->medium);
	}
	if (pread(fd, lenbuf, 8, (off_t)d.bundle) != 8) {
		close(fd);
		return die("%s: cannot read the bundle area", s->medium);
	}
	for (int i = 0; i < 8; i++)
		n = n << 8 | lenbuf[i];
	if (!n) {
		close(fd);
		return die("%s: the medium holds no site bundle (none was flashed, "
			   "or it was installed and erased)", s->medium);
	}
	if (n > KT_BUNDLE_MAX || n > KT_DISK_BUNDLE_MAX) {
		close(fd);
		return die("%s: the bundle area says %llu bytes; a bundle is at most %u",
			   s->medium, (unsigned long long)n, KT_BUNDLE_MAX);
	}
	s->len = (size_t)n;
	s->medium_at = d.bundle;
	if (!(s->buf = malloc(s->len)) ||
	    pread(fd, s->buf, s->len, (off_t)(d.bundle + 8)) != (ssize_t)s->len) {
		close(fd);
		return die("%s: cannot read the %zu-byte bundle", s->medium, s->len);
	}
	close(fd);
	return 0;
}

static int read_source(struct source *s)
{
	int r;

	if (s->medium)
		return read_medium(s);
	r = kt_read_file(s->file, KT_BUNDLE_MAX, &s->buf, &s->len);
	if (r)
		return die("%s: %s", s->file, r == -EFBIG ? "too large to be a bundle" :
			   r == -EINVAL ? "not a regular file" : strerror(-r));
	return 0;
}

/* Erases the bundle from the medium: its length first, so a cut leaves
 * "no bundle", then its bytes. */
static int erase_medium(const struct source *s)
{
	static const uint8_t zero8[8];
	uint8_t *z = calloc(1, s->len);
	int fd = open(s->medium, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0 || !z)
		r = -errno;
	else if (pwrite(fd, zero8, 8, (off_t)s->medium_at) != 8 || fdatasync(fd) ||
		 pwrite(fd, z, s->len, (off_t)(s->medium_at + 8)) != (ssize_t)s->len ||
		 fdatasync(fd))
		r = -errno;
	if (fd >= 0)
		close(fd);
	free(z);
	return r;
}

static void print_head(const struct kt_bundle_head *h)
{
	printf("site bundle for %s\n"
	       "  device number %s\n"
	       "  box           %s\n"
	       "  made          %s (bundle id %s)\n", h->site, h->device_number,
	       *h->serial ? h->serial : "any (not bound to a serial number)",
	       h->created, h->bundle_id);
}

/* --- the passphrase --- */

static int read_passphrase(const char *file, char *out, size_t cap)
{
	struct termios old, quiet;
	bool tty = false;
	FILE *f;
	size_t n;

	if (file) {
		f = fopen(file, "re");
		if (!f)
			return die("%s: %s", file, strerror(errno));
	} else {
		f = fopen("/dev/tty", "r+e");
		if (!f)
			return die("no terminal to ask the passphrase on; give "
				   "--passphrase-file");
		fputs("passphrase (from the NOC, XXXX-XXXX-XXXX-XXXX-XXXX): ", f);
		fflush(f);
		if (!tcgetattr(fileno(f), &old)) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tty = !tcsetattr(fileno(f), TCSAFLUSH, &quiet);
		}
	}
	if (!fgets(out, (int)cap, f))
		out[0] = '\0';
	if (tty) {
		tcsetattr(fileno(f), TCSAFLUSH, &old);
		fputc('\n', f);
	}
	fclose(f);
	n = strlen(out);
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	return 0;
}

/* --- checks --- */

struct check {
	const char *root;
	const char *serial;		/* this box's, or NULL */
};

static const char *file_text(const struct kt_bundle *b, const char *name, size_t *len)
{
	const struct kt_bundle_file *f = kt_bundle_find(b, name);

	*len = f ? f->len : 0;
	return f ? (const char *)f->data : NULL;
}

/* The first line of a file from a bundle (which ends with no NUL),
 * into out; false if it does not fit. */
static bool first_line(const char *data, size_t len, char *out, size_t cap)
{
	const char *nl = memchr(data, '\n', len);
	size_t n = nl ? (size_t)(nl - data) : len;

	if (n >= cap)
		return false;
	memcpy(out, data, n);
	out[n] = '\0';
	return true;
}

static int expect_path(const char *field, const char *value, const char *root,
		       const char *file)
{
	char want[KT_PATH_MAX + 32];

	snprintf(want, sizeof(want), "%s/%s", root, file);
	return strcmp(value, want) ? die("the bundle's site.yaml: %s is %s, but the "
					 "bundle installs it as %s", field, value, want) : 0;
}

/* --- a spare's enrolment (zero-touch) --- */

struct enrol {
	char broker[256];
	uint16_t broker_port;
	char port[KT_PORT_MAX];
	bool dhcp;
};

static int parse_enrol(const char *text, size_t len, struct enrol *e)
{
	static const char *const keys[] = { "format", "broker", "broker-port", "port",
					    "dhcp", NULL };
	char err[256];
	json_error_t je;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je), *v;
	int r = -EBADMSG;

	memset(e, 0, sizeof(*e));
	if (!j || !json_is_object(j) ||
	    kt_json_only(j, keys, "enrol.json", "", err, sizeof(err)) ||
	    !json_is_integer(json_object_get(j, "format")) ||
	    json_integer_value(json_object_get(j, "format")) != 1 ||
	    kt_json_str(j, "broker", e->broker, sizeof(e->broker), "enrol.json", "",
			err, sizeof(err)) ||
	    kt_json_str(j, "port", e->port, sizeof(e->port), "enrol.json", "", err,
			sizeof(err)) ||
	    !json_is_boolean(json_object_get(j, "dhcp")) ||
	    !json_is_integer(v = json_object_get(j, "broker-port")) ||
	    json_integer_value(v) < 1 || json_integer_value(v) > 65535) {
		json_decref(j);
		return die("enrol.json: %s", !j ? je.text : "it is not format 1 with broker, "
			   "broker-port (1..65535), port and dhcp, and nothing else");
	}
	e->broker_port = (uint16_t)json_integer_value(v);
	e->dhcp = json_is_true(json_object_get(j, "dhcp"));
	r = 0;
	json_decref(j);
	return r;
}

static int check_spare(const struct kt_bundle *b)
{
	const char *crt, *key, *ca, *ej;
	size_t cl, kl, cal, el;
	struct enrol e;
	char msg[768];

	crt = file_text(b, "mgmt.crt", &cl);
	key = file_text(b, "mgmt.key", &kl);
	ca = file_text(b, "ca.crt", &cal);
	ej = file_text(b, "enrol.json", &el);
	if (!crt || !key || !ca)
		return die("a spare's bundle without its certificate, key or CA");
	if (parse_enrol(ej, el, &e))
		return 1;
	if (kt_pki_check_identity(ca, cal, crt, cl, key, kl, b->head.site, msg, sizeof(msg)))
		return die("the spare's certificate: %s", msg);
	return 0;
}

static int check_bundle(const struct kt_bundle *b, const struct check *c)
{
	static struct kt_config cfg;
	const struct kt_bundle_head *h = &b->head;
	struct kt_config_error ce;
	const char *yaml, *crt, *key, *ca, *tkey, *pol;
	size_t yl, cl, kl, cal, tl, pl;
	char msg[768];

	if (*h->serial && !c->serial)
		return die("the bundle is for the box with serial number %s; give "
			   "this box's with --serial (on its label)", h->serial);
	if (*h->serial && strcmp(h->serial, c->serial))
		return die("the bundle is for the box with serial number %s, not "
			   "%s: this is the wrong bundle or the wrong box", h->serial,
			   c->serial);
	if (h->type == KT_BUNDLE_SPARE)
		return check_spare(b);
	yaml = file_text(b, "site.yaml", &yl);
	if (kt_config_parse("site.yaml (in the bundle)", (const uint8_t *)yaml, yl,
			    &kt_board_ports, &cfg, &ce))
		return die("%s", kt_config_error_str(&ce, msg, sizeof(msg)));
	if (strcmp(cfg.site_id, h->site) || strcmp(cfg.device_number, h->device_number))
		return die("the bundle says site %s (device number %s), its site.yaml "
			   "%s (%s)", h->site, h->device_number, cfg.site_id,
			   cfg.device_number);
	tkey = file_text(b, "tunnel.key", &tl);
	if (cfg.tunnel.enabled) {
		const struct kt_suite *s = kt_suite_find(cfg.tunnel.suite);
		uint8_t priv[KT_SUITE_KEY_LEN], pub[KT_SUITE_MAX_PUB];
		char text[KT_KEY_B64_MAX];
		int bad;

		if (!tkey)
			return die("site.yaml has a tunnel section, the bundle no "
				   "tunnel.key");
		if (expect_path("tunnel.private-key", cfg.tunnel.private_key, c->root,
				"tunnel.key"))
			return 1;
		bad = !first_line(tkey, tl, text, sizeof(text)) || !s ||
		      kt_key_decode(text, priv, sizeof(priv)) || s->pubkey(priv, pub);
		kt_wipe(priv, sizeof(priv));
		kt_wipe(text, sizeof(text));
		if (bad)
			return die("the bundle's tunnel.key is not a %s private key",
				   cfg.tunnel.suite);
	}
	crt = file_text(b, "mgmt.crt", &cl);
	key = file_text(b, "mgmt.key", &kl);
	ca = file_text(b, "ca.crt", &cal);
	pol = file_text(b, "policy.pub", &pl);
	if (cfg.management.enabled) {
		uint8_t pk[32];
		char text[KT_KEY_B64_MAX];

		if (!crt || !key || !ca || !pol)
			return die("site.yaml has a management section; the bundle "
				   "lacks %s", !crt ? "mgmt.crt" : !key ? "mgmt.key" :
				   !ca ? "ca.crt" : "policy.pub");
		if (expect_path("management.ca", cfg.management.ca, c->root, "ca.crt") ||
		    expect_path("management.certificate", cfg.management.certificate,
				c->root, "mgmt.crt") ||
		    expect_path("management.key", cfg.management.key, c->root, "mgmt.key") ||
		    expect_path("management.policy-key", cfg.management.policy_key,
				c->root, "policy.pub"))
			return 1;
		if (kt_pki_check_identity(ca, cal, crt, cl, key, kl, h->site, msg,
					  sizeof(msg)))
			return die("the management certificate: %s", msg);
		if (!first_line(pol, pl, text, sizeof(text)) || kt_key_decode(text, pk, sizeof(pk)))
			return die("the bundle's policy.pub is not an Ed25519 public key");
	}
	return 0;
}

/* --- installing --- */

static int remove_tree(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		char p[PATH_MAX + 256];
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (!lstat(p, &st) && S_ISDIR(st.st_mode))
			r = remove_tree(p) ? -1 : r;
		else if (unlink(p))
			r = -errno;
	}
	closedir(d);
	return rmdir(dir) ? -errno : r;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = fsync(fd) ? -errno : 0;
	close(fd);
	return r;
}

/* The old folder's other entries, linked into the new one (same file
 * system): the swap keeps them. */
static int keep_others(const char *old, const char *new)
{
	struct dirent *e;
	DIR *d = opendir(old);
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (!r && (e = readdir(d))) {
		char a[PATH_MAX + 256], b[PATH_MAX + 256];

		if (e->d_name[0] == '.' || kt_bundle_kind(e->d_name) ||
		    !strcmp(e->d_name, "provisioned.json"))
			continue;
		snprintf(a, sizeof(a), "%s/%s", old, e->d_name);
		snprintf(b, sizeof(b), "%s/%s", new, e->d_name);
		/* EPERM: a folder, which is not ours to move. */
		if (link(a, b))
			r = -errno;
	}
	closedir(d);
	return r;
}

/* ROOT.new with the bundle's files, a record of the install and the
 * old folder's other files. */
static int build_new(const struct kt_bundle *b, const char *root, const char *new)
{
	char p[PATH_MAX + 64];
	json_t *j;
	char *rec;
	int r;

	if (mkdir(new, 0755))
		return die("%s: %s", new, strerror(errno));
	for (size_t i = 0; i < b->n_files; i++) {
		const struct kt_bundle_file *f = &b->files[i];

		snprintf(p, sizeof(p), "%s/%s", new, f->kind->name);
		if ((r = kt_write_file_new(p, f->data, f->len, f->kind->mode)))
			return die("%s: %s", p, strerror(-r));
	}
	{
		char at[32];

		kt_utc_time(time(NULL), at, sizeof(at));
		j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "site", b->head.site,
			      "kind", b->head.type == KT_BUNDLE_SPARE ? "spare" : "site",
			      "serial", b->head.serial,
			      "device-number", b->head.device_number,
			      "bundle-id", b->head.bundle_id, "bundle-created",
			      b->head.created, "installed", at);
	}
	rec = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	json_decref(j);
	snprintf(p, sizeof(p), "%s/provisioned.json", new);
	r = rec ? kt_write_file_new(p, rec, strlen(rec), 0644) : -ENOMEM;
	free(rec);
	if (r)
		return die("%s: %s", p, strerror(-r));
	if ((r = keep_others(root, new)))
		return die("%s: cannot keep its other files (%s); nothing was changed",
			   root, r == -EPERM ? "it has a folder inside" : strerror(-r));
	if ((r = sync_dir(new)))
		return die("%s: %s", new, strerror(-r));
	return 0;
}

static int install(const struct kt_bundle *b, const char *root)
{
	char new[128];
	struct stat st;
	int r;

	snprintf(new, sizeof(new), "%s.new", root);
	/* What a cut left last time. */
	if ((r = remove_tree(new)))
		return die("%s: %s", new, strerror(-r));
	if (build_new(b, root, new)) {
		remove_tree(new);	/* it may hold keys */
		return 1;
	}
	if (!stat(root, &st)) {
		/* One rename swaps the two folders (Linux 3.15). */
		if (renameat2(AT_FDCWD, new, AT_FDCWD, root, RENAME_EXCHANGE)) {
			r = die("cannot swap %s and %s: %s", new, root, strerror(errno));
			remove_tree(new);
			return r;
		}
	} else if (rename(new, root)) {
		r = die("cannot rename %s to %s: %s", new, root, strerror(errno));
		remove_tree(new);
		return r;
	}
	{
		char parent[128];

		snprintf(parent, sizeof(parent), "%s", root);
		sync_dir(dirname(parent));
	}
	/* new is now the previous identity: its keys go. */
	if ((r = remove_tree(new)))
		fprintf(stderr, "kyoten-provision: warning: the previous identity in %s "
			"could not be removed (%s); remove it by hand\n", new, strerror(-r));
	return 0;
}

/* --- zero-touch: a spare fetches its site's bundle --- */

/* udhcpc runs this program as its script (docs/field-guide.md, "A
 * spare"): KYOTEN_DHCP_SCRIPT set, argv[1] the event, the lease in the
 * environment. The address and the default route go in through the
 * kernel interface (drivers/sys.h), the lease into $KYOTEN_DHCP_LEASE
 * for fetch to take away again. */
static int dhcp_script(const char *event)
{
	const char *ifname = getenv("interface"), *ip = getenv("ip"),
		   *mask = getenv("mask"), *router = getenv("router"),
		   *lease = getenv("KYOTEN_DHCP_LEASE");
	char text[128], gw[64];
	struct kt_prefix p, def;
	struct kt_addr g;
	struct sys_link l;
	struct sys s;
	int r;

	if (strcmp(event, "bound") && strcmp(event, "renew"))
		return 0;	/* deconfig, leasefail, nak: nothing to undo yet */
	if (!ifname || !ip || !mask || !router)
		return die("dhcp: the lease lacks interface, ip, mask or router");
	snprintf(text, sizeof(text), "%s/%s", ip, mask);
	snprintf(gw, sizeof(gw), "%.*s", (int)strcspn(router, " "), router);
	if (!kt_prefix_parse(text, &p) || !kt_addr_parse(gw, &g) ||
	    !kt_prefix_parse("0.0.0.0/0", &def))
		return die("dhcp: lease %s router %s does not parse", text, gw);
	if ((r = sys_init(&s, "linux")))
		return die("dhcp: rtnetlink: %s", strerror(-r));
	r = sys_link_get(&s, ifname, &l);
	if (!r)
		r = s.ops->link_set_up(&s, l.ifindex);
	if (!r)
		r = s.ops->addr_replace(&s, l.ifindex, &p);
	if (!r)
		r = s.ops->route_replace(&s, &def, &g, l.ifindex, 0);
	sys_uninit(&s);
	if (r)
		return die("dhcp: %s on %s: %s", text, ifname, strerror(-r));
	if (lease) {
		FILE *f = fopen(lease, "we");

		if (f) {
			fprintf(f, "%s %s %s\n", ifname, text, gw);
			fclose(f);
		}
	}
	printf("kyoten-provision: %s: %s, router %s (DHCP)\n", ifname, text, gw);
	return 0;
}

/* The lease taken away again once the box has its site's own settings. */
static void dhcp_release(const char *lease)
{
	char ifname[IF_NAMESIZE + 1], text[64], gw[64];
	struct kt_prefix p, def;
	struct sys_link l;
	struct sys s;
	FILE *f = fopen(lease, "re");
	int n = f ? fscanf(f, "%16s %63s %63s", ifname, text, gw) : 0;

	if (f)
		fclose(f);
	unlink(lease);
	if (n != 3 || !kt_prefix_parse(text, &p) || !kt_prefix_parse("0.0.0.0/0", &def) ||
	    sys_init(&s, "linux"))
		return;
	if (!sys_link_get(&s, ifname, &l)) {
		s.ops->route_del(&s, &def, l.ifindex);
		s.ops->addr_del(&s, l.ifindex, &p);
	}
	sys_uninit(&s);
}

static const char *port_ifname(const char *port)
{
	for (size_t i = 0; i < kt_board_ports.n; i++)
		if (!strcmp(kt_board_ports.ports[i][0], port))
			return kt_board_ports.ports[i][1];
	return kt_board_ports.names_as_is ? port : NULL;
}

/* udhcpc (busybox, as OpenWrt uses it) once on ifname, with this
 * program as its script. */
static int run_dhcp(const char *ifname, const char *lease)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	pid_t pid;
	int st;

	if (n <= 0)
		return -1;
	self[n] = '\0';
	if ((pid = fork()) < 0)
		return -1;
	if (!pid) {
		setenv("KYOTEN_DHCP_SCRIPT", "1", 1);
		setenv("KYOTEN_DHCP_LEASE", lease, 1);
		execlp("busybox", "busybox", "udhcpc", "-i", ifname, "-f", "-q", "-n",
		       "-t", "4", "-T", "1", "-s", self, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : -1;
}

struct spare {
	char id[KT_NAME_MAX], serial[64];
	struct enrol e;
	char ca[KT_PATH_MAX + 16], crt[KT_PATH_MAX + 16], key[KT_PATH_MAX + 16];
	char *key_pem;
	size_t key_len;
	uint64_t refused;
};

static int read_spare(const char *root, struct spare *sp)
{
	char path[KT_PATH_MAX + 32], *text;
	size_t len;
	json_t *j;
	int r;

	snprintf(path, sizeof(path), "%s/provisioned.json", root);
	j = json_load_file(path, 0, NULL);
	if (!j || strcmp(json_string_value(json_object_get(j, "kind")) ?: "", "spare")) {
		json_decref(j);
		return die("%s: this box is not a spare waiting for its site (install "
			   "the spare's bundle first: kyoten-noc spare add)", path);
	}
	snprintf(sp->id, sizeof(sp->id), "%s", json_string_value(json_object_get(j, "site")) ?: "");
	snprintf(sp->serial, sizeof(sp->serial), "%s",
		 json_string_value(json_object_get(j, "serial")) ?: "");
	json_decref(j);
	snprintf(path, sizeof(path), "%s/enrol.json", root);
	if ((r = kt_read_file(path, 65536, (uint8_t **)&text, &len)))
		return die("%s: %s", path, strerror(-r));
	r = parse_enrol(text, len, &sp->e);
	free(text);
	snprintf(sp->ca, sizeof(sp->ca), "%s/ca.crt", root);
	snprintf(sp->crt, sizeof(sp->crt), "%s/mgmt.crt", root);
	snprintf(sp->key, sizeof(sp->key), "%s/mgmt.key", root);
	if (!r && (r = kt_read_file(sp->key, 65536, (uint8_t **)&sp->key_pem, &sp->key_len)))
		return die("%s: %s", sp->key, strerror(-r));
	return r;
}

/* Whether the bundle's file `name` is byte for byte the one in root. */
static bool same_as_installed(const struct kt_bundle *b, const char *root,
			      const char *name)
{
	const struct kt_bundle_file *f = kt_bundle_find(b, name);
	char path[KT_PATH_MAX + 32];
	uint8_t *mine;
	size_t len;
	bool same;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	if (!f || kt_read_file(path, 65536, &mine, &len))
		return false;
	same = len == f->len && !memcmp(mine, f->data, len);
	free(mine);
	return same;
}

/* One delivery from the NOC: "KYTNSPR1", the sealed passphrase's length
 * (2 bytes), the sealed passphrase, the bundle. Checked all through
 * before anything is installed; a refusal leaves the spare waiting. */
static int take_delivery(struct spare *sp, const uint8_t *m, size_t len,
			 const struct check *chk, struct kt_bundle_head *got)
{
	uint8_t pass[KT_PKI_WRAP_MAX + 1];
	size_t wl, pl = 0;
	struct kt_bundle b;
	char err[512];
	int r;

	if (len < 10 || memcmp(m, "KYTNSPR1", 8) ||
	    (wl = (size_t)m[8] << 8 | m[9]) < KT_PKI_WRAP_OVERHEAD || len - 10 <= wl)
		return die("the NOC's message is not a delivery (%zu bytes)", len);
	if (kt_pki_unwrap(sp->key_pem, sp->key_len, m + 10, wl, pass, &pl, err, sizeof(err)))
		return die("the delivery's passphrase: %s", err);
	pass[pl] = '\0';
	r = kt_bundle_open(m + 10 + wl, len - 10 - wl, (const char *)pass, &b, err,
			   sizeof(err));
	kt_wipe(pass, sizeof(pass));
	if (r)
		return die("the delivered bundle: %s", err);
	if (b.head.type != KT_BUNDLE_SITE)
		r = die("the delivered bundle is not a site's");
	else if (!same_as_installed(&b, chk->root, "ca.crt") ||
		 !same_as_installed(&b, chk->root, "policy.pub"))
		/* Anyone may seal a passphrase for this spare (its certificate
		 * is public): what ties a delivery to the NOC is that it names
		 * the CA and policy key the spare was given in stock. */
		r = die("the delivered bundle's CA or policy key is not the one this "
			"spare was given: not from its NOC");
	else
		r = check_bundle(&b, chk);
	if (!r) {
		print_head(&b.head);
		r = install(&b, chk->root);
	}
	*got = b.head;
	kt_bundle_free(&b);
	return r;
}

static int fetch(const struct check *given, unsigned timeout_s, bool no_dhcp)
{
	struct check chk = *given;
	struct spare sp = { 0 };
	char topic[128], state[128], lease[KT_PATH_MAX + 32], err[512];
	struct kt_bundle_head got;
	time_t end = time(NULL) + timeout_s;
	unsigned backoff = 1;
	bool done = false;
	int r = 1;

	if (read_spare(chk.root, &sp))
		return 1;
	chk.serial = sp.serial;
	snprintf(lease, sizeof(lease), "%s.lease", chk.root);
	snprintf(topic, sizeof(topic), "kyoten/site/%s/bundle", sp.id);
	snprintf(state, sizeof(state), "kyoten/site/%s/state", sp.id);
	printf("spare %s (serial %s): fetching its site's bundle from %s:%u\n", sp.id,
	       sp.serial, sp.e.broker, sp.e.broker_port);
	while (!done && time(NULL) < end) {
		struct kt_mqttc_opts o = { .host = sp.e.broker, .port = sp.e.broker_port,
			.ca = sp.ca, .cert = sp.crt, .key = sp.key, .client_id = sp.id,
			.keepalive_s = 30, .clean_session = true, .timeout_ms = 5000 };
		struct kt_mqttc *m = NULL;
		uint8_t granted;
		const char *ifname = port_ifname(sp.e.port);

		if (sp.e.dhcp && !no_dhcp && (!ifname || run_dhcp(ifname, lease))) {
			fprintf(stderr, "kyoten-provision: no DHCP lease on %s yet\n",
				ifname ? ifname : sp.e.port);
		} else if (kt_mqttc_open(&m, &o, err, sizeof(err)) ||
			   kt_mqttc_subscribe(m, topic, 1, &granted, err, sizeof(err)) ||
			   (granted == 0x80 && snprintf(err, sizeof(err), "the broker refuses "
							 "this spare the topic %s (its ACL)",
							 topic) > 0) ||
			   kt_mqttc_publish(m, state, "waiting", 7, 1, false, err, sizeof(err))) {
			fprintf(stderr, "kyoten-provision: the broker: %s\n", err);
		} else {
			/* Connected: wait for a delivery, and take each one that
			 * comes until one installs. */
			while (!done && time(NULL) < end) {
				struct kt_mqttc_msg msg;
				int left = (int)(end - time(NULL));

				if (kt_mqttc_next(m, &msg, (unsigned)left * 1000, err, sizeof(err)))
					break;
				if (!msg.len)
					continue;	/* a cleared delivery */
				if (!take_delivery(&sp, msg.payload, msg.len, &chk, &got)) {
					char ack[160];
					int n = snprintf(ack, sizeof(ack), "installed %s %s",
							 got.site, got.bundle_id);

					kt_mqttc_publish(m, state, ack, (size_t)n, 1, false, err,
							 sizeof(err));
					/* Taken: the broker need not keep it. */
					kt_mqttc_publish(m, topic, "", 0, 1, true, err, sizeof(err));
					done = true;
				} else {
					sp.refused++;
					kt_mqttc_publish(m, state, "refused", 7, 1, false, err,
							 sizeof(err));
				}
			}
			backoff = 1;
		}
		kt_mqttc_close(m, false);
		if (!done && time(NULL) < end) {
			/* Back off, with jitter, so that a fleet of spares does
			 * not knock at once. */
			unsigned j = backoff * 1000 + (unsigned)(random() % 1000);

			usleep(j * 1000);
			backoff = backoff < 30 ? backoff * 2 : 60;
		}
	}
	if (sp.e.dhcp && !no_dhcp)
		dhcp_release(lease);
	kt_wipe(sp.key_pem, sp.key_len);
	free(sp.key_pem);
	if (!done)
		return die("no site bundle arrived within %u s (%llu refused); is the "
			   "spare assigned (kyoten-noc spare assign)?", timeout_s,
			   (unsigned long long)sp.refused);
	printf("installed into %s: site %s, device number %s\n"
	       "next: start kyotend, then run: kyotenctl selftest\n", chk.root, got.site,
	       got.device_number);
	r = 0;
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "medium", required_argument, NULL, 'm' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		{ "root", required_argument, NULL, 'r' },
		{ "serial", required_argument, NULL, 'S' },
		{ "keep", no_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 't' },
		{ "no-dhcp", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char default_root[KT_PATH_MAX], pass[128], err[512];
	struct source src = { 0 };
	struct check chk = { 0 };
	const char *pass_file = NULL, *cmd;
	struct kt_bundle b;
	struct kt_bundle_head h;
	bool keep = false, no_dhcp = false;
	unsigned timeout_s = 600;
	int c, r;

	kt_prog = "kyoten-provision";
	if (getenv("KYOTEN_DHCP_SCRIPT") && argc == 2)
		return dhcp_script(argv[1]) ? 1 : 0;
	snprintf(default_root, sizeof(default_root), "%s", CONFIG_SITE_CONFIG_PATH);
	chk.root = dirname(default_root);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': src.medium = optarg; break;
		case 'P': pass_file = optarg; break;
		case 'r': chk.root = optarg; break;
		case 'S': chk.serial = optarg; break;
		case 'k': keep = true; break;
		case 't': timeout_s = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'D': no_dhcp = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind + 1 == argc && !strcmp(argv[optind], "fetch")) {
		if (chk.root[0] != '/' || strlen(chk.root) > 64)
			return die("--root '%s' is not an absolute folder path of at most "
				   "64 bytes", chk.root);
		srandom((unsigned)time(NULL) ^ (unsigned)getpid());
		return fetch(&chk, timeout_s, no_dhcp);
	}
	if (optind == argc || (strcmp(argv[optind], "show") && strcmp(argv[optind], "install")) ||
	    argc - optind != (src.medium ? 1 : 2)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	src.file = src.medium ? NULL : argv[optind + 1];
	if (chk.root[0] != '/' || strlen(chk.root) > 64 || !strcmp(chk.root, "/"))
		return die("--root '%s' is not an absolute folder path of at most 64 "
			   "bytes", chk.root);
	if (read_source(&src))
		return 1;
	if (kt_bundle_parse_head(src.buf, src.len, &h, err, sizeof(err))) {
		free(src.buf);
		return die("%s: %s", src.medium ? src.medium : src.file, err);
	}
	if (!strcmp(cmd, "show")) {
		print_head(&h);
		free(src.buf);
		return 0;
	}
	print_head(&h);
	umask(022);
	r = read_passphrase(pass_file, pass, sizeof(pass));
	if (!r && (r = kt_bundle_open(src.buf, src.len, pass, &b, err, sizeof(err))))
		r = die("%s", err);
	kt_wipe(pass, sizeof(pass));
	if (!r) {
		r = check_bundle(&b, &chk);
		if (!r)
			r = install(&b, chk.root);
		kt_bundle_free(&b);
	}
	if (!r) {
		printf("installed into %s: site %s, device number %s\n", chk.root,
		       h.site, h.device_number);
		if (src.medium && !keep) {
			int e = erase_medium(&src);

			if (e)
				fprintf(stderr, "kyoten-provision: warning: the bundle could "
					"not be erased from %s (%s); erase it (kyoten-flash) "
					"before the medium leaves the site\n", src.medium,
					strerror(-e));
			else
				printf("the bundle was erased from %s\n", src.medium);
		} else if (!src.medium) {
			printf("delete %s now: the box no longer needs it\n", src.file);
		}
		printf("next: start kyotend (or restart it), then run: kyotenctl selftest\n");
	}
	kt_wipe(src.buf, src.len);
	free(src.buf);
	return r ? 1 : 0;
}
