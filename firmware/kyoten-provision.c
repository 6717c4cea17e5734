/* kyoten-provision: installs a site identity bundle on the box
 * (docs/field-guide.md, firmware/bundle.h).
 *
 *   kyoten-provision show (BUNDLE | --medium DEV)
 *   kyoten-provision install (BUNDLE | --medium DEV) [--passphrase-file F]
 *                    [--root DIR] [--serial S] [--keep]
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
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
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

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kyoten-provision: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static void usage(FILE *f)
{
	fputs("usage: kyoten-provision show (BUNDLE | --medium DEV)\n"
	      "       kyoten-provision install (BUNDLE | --medium DEV) [--passphrase-file F]\n"
	      "                        [--root DIR] [--serial S] [--keep]\n"
	      "\n"
	      "show     what a bundle is for (site, device number, serial); no passphrase\n"
	      "install  check the bundle and install it into DIR (default the folder of\n"
	      "         " CONFIG_SITE_CONFIG_PATH "); the passphrase is asked for on\n"
	      "         the terminal. A bundle on a medium (--medium, as kyoten-flash\n"
	      "         wrote it) is erased from it afterwards unless --keep.\n"
	      "--serial this box's serial number, for a bundle made for one box\n", f);
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

static int expect_path(const char *field, const char *value, const char *root,
		       const char *file)
{
	char want[KT_PATH_MAX + 32];

	snprintf(want, sizeof(want), "%s/%s", root, file);
	return strcmp(value, want) ? die("the bundle's site.yaml: %s is %s, but the "
					 "bundle installs it as %s", field, value, want) : 0;
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
		snprintf(text, sizeof(text), "%.*s", (int)strcspn(tkey, "\n"), tkey);
		bad = tl >= sizeof(text) || !s || kt_key_decode(text, priv, sizeof(priv)) ||
		      s->pubkey(priv, pub);
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
		snprintf(text, sizeof(text), "%.*s", (int)strcspn(pol, "\n"), pol);
		if (pl >= sizeof(text) || kt_key_decode(text, pk, sizeof(pk)))
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
		time_t now = time(NULL);
		struct tm tm;
		char at[32];

		gmtime_r(&now, &tm);
		strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
		j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "site", b->head.site,
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "medium", required_argument, NULL, 'm' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		{ "root", required_argument, NULL, 'r' },
		{ "serial", required_argument, NULL, 'S' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char default_root[KT_PATH_MAX], pass[128], err[512];
	struct source src = { 0 };
	struct check chk = { 0 };
	const char *pass_file = NULL, *cmd;
	struct kt_bundle b;
	struct kt_bundle_head h;
	bool keep = false;
	int c, r;

	snprintf(default_root, sizeof(default_root), "%s", CONFIG_SITE_CONFIG_PATH);
	chk.root = dirname(default_root);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': src.medium = optarg; break;
		case 'P': pass_file = optarg; break;
		case 'r': chk.root = optarg; break;
		case 'S': chk.serial = optarg; break;
		case 'k': keep = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
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
