/* kyoten-flash: writes a firmware image (and a site bundle) to a box's
 * boot medium, for a field engineer's laptop (docs/update.md).
 *
 *   kyoten-flash -i IMAGE -p PUBKEY -b BOARD [--bundle FILE] [--site NAME]
 *                [--serial S] [--report FILE] [--size BYTES] [--yes]
 *                [--check-only] TARGET
 *
 * TARGET is a whole disk (/dev/sdX, /dev/mmcblkN, /dev/loopN) or a file
 * (--size makes a new one). Before anything is written: the image is
 * checked completely (signature, board, every part), and the target is
 * refused if it is mounted or in use, holds this laptop's own system,
 * is a partition rather than a disk, is too small, or is not a disk or a
 * file at all. Then: written with a progress bar (when a person
 * watches), read back and compared, and a report the engineer can file.
 * --check-only runs every check and stops before opening the target for
 * writing. Exit status: 0 flashed (or would be), 1 refused or failed,
 * 2 bad command line. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "bundle.h"
#include "disk.h"
#include "fileio.h"
#include "image.h"
#include "keys.h"
#include "suite.h"
#include "update.h"

#define CHUNK (1024 * 1024)

struct target {
	const char *path;
	bool block;
	uint64_t size;
	char sys[PATH_MAX];		/* /sys/class/block/NAME, block devices */
	char name[64], model[128], serial[128];
};

#define die kt_die

static void usage(FILE *f)
{
	fputs("usage: kyoten-flash -i IMAGE -p PUBKEY -b BOARD [--bundle FILE] [--site NAME]\n"
	      "                    [--serial S] [--report FILE] [--size BYTES] [--yes]\n"
	      "                    [--check-only] TARGET\n"
	      "\n"
	      "Writes IMAGE to TARGET (a whole disk, or a file) as a box's boot medium:\n"
	      "slot a holds the image, slot b is empty, the site bundle goes beside them.\n"
	      "Everything is checked before anything is written; what was written is\n"
	      "read back and compared, and a report is printed (and saved with --report).\n"
	      "\n"
	      "  -i, --image FILE     the firmware image (make image)\n"
	      "  -p, --pubkey FILE    the NOC's image key (image.pub)\n"
	      "  -b, --board BOARD    the box's board, as on its label (sim, x86_64-generic, ...)\n"
	      "      --bundle FILE    the site's identity bundle\n"
	      "      --site NAME      the site, for the report\n"
	      "      --serial S       the box's serial number, for the report\n"
	      "      --report FILE    also write the report there (JSON)\n"
	      "      --size BYTES     make TARGET, a new file, this big (K, M, G suffixes)\n"
	      "  -y, --yes            do not ask before erasing TARGET\n"
	      "      --check-only     every check, then stop: nothing is written\n", f);
}

static void read_line(const char *path, char *out, size_t n)
{
	FILE *f = fopen(path, "re");

	out[0] = '\0';
	if (!f)
		return;
	if (fgets(out, (int)n, f))
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
	/* Trailing blanks, as some firmware pads the model. */
	for (size_t l = strlen(out); l && isspace((unsigned char)out[l - 1]); l--)
		out[l - 1] = '\0';
}

/* The sysfs directory of a block device number; its disk's if `disk`. */
static bool sys_of(dev_t dev, bool disk, char out[PATH_MAX])
{
	char link[64], p[PATH_MAX + 16];
	struct stat st;

	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(dev), minor(dev));
	if (!realpath(link, out))
		return false;
	snprintf(p, sizeof(p), "%s/partition", out);
	if (disk && !stat(p, &st)) {
		char *slash = strrchr(out, '/');

		if (slash)
			*slash = '\0';
	}
	return true;
}

/* What mounts, swaps or device-mapper use of the disk would be lost. */
static int in_use(const struct target *t, char *why, size_t n)
{
	char line[4096], mine[PATH_MAX];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	struct stat st;
	const char *own[] = { "/", "/boot", "/boot/efi", "/usr", "/home" };

	/* This laptop's own system: the disk under /, /boot, ... */
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (!stat(own[i], &st) && major(st.st_dev) && sys_of(st.st_dev, true, mine) &&
		    !strcmp(mine, t->sys)) {
			snprintf(why, n, "it holds this computer's own %s file system", own[i]);
			if (f)
				fclose(f);
			return -EBUSY;
		}
	while (f && fgets(line, sizeof(line), f)) {
		unsigned ma, mi;
		char mnt[1024];

		if (sscanf(line, "%*u %*u %u:%u %*s %1023s", &ma, &mi, mnt) != 3)
			continue;
		if (sys_of(makedev(ma, mi), true, mine) && !strcmp(mine, t->sys)) {
			snprintf(why, n, "it (or a partition of it) is mounted on %.200s", mnt);
			fclose(f);
			return -EBUSY;
		}
	}
	if (f)
		fclose(f);
	f = fopen("/proc/swaps", "re");
	while (f && fgets(line, sizeof(line), f)) {
		char dev[1024];

		if (sscanf(line, "%1023s", dev) == 1 && dev[0] == '/' && !stat(dev, &st) &&
		    S_ISBLK(st.st_mode) && sys_of(st.st_rdev, true, mine) &&
		    !strcmp(mine, t->sys)) {
			snprintf(why, n, "a partition of it is swap (%.200s)", dev);
			fclose(f);
			return -EBUSY;
		}
	}
	if (f)
		fclose(f);
	return 0;
}

static int check_target(struct target *t, uint64_t new_size, char *why, size_t n)
{
	struct stat st;

	if (stat(t->path, &st)) {
		if (errno != ENOENT)
			return snprintf(why, n, "%s", strerror(errno)), -errno;
		if (!new_size)
			return snprintf(why, n, "no such file or device (give --size to "
					"make a new image file)"), -ENOENT;
		t->size = new_size;
		snprintf(t->name, sizeof(t->name), "file");
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		t->size = new_size ? new_size : (uint64_t)st.st_size;
		snprintf(t->name, sizeof(t->name), "file");
		if (!t->size)
			return snprintf(why, n, "an empty file (give --size)"), -EINVAL;
		return 0;
	}
	if (!S_ISBLK(st.st_mode))
		return snprintf(why, n, "not a disk or a file (a %s)",
				S_ISDIR(st.st_mode) ? "directory" : "special file"), -EINVAL;
	t->block = true;
	if (new_size)
		return snprintf(why, n, "--size is for a new image file, not a disk"), -EINVAL;
	if (!sys_of(st.st_rdev, false, t->sys))
		return snprintf(why, n, "the kernel does not describe it (/sys/dev/block)"), -ENODEV;
	{
		char p[PATH_MAX + 32], holders[PATH_MAX + 16];

		snprintf(p, sizeof(p), "%s/partition", t->sys);
		if (!access(p, F_OK))
			return snprintf(why, n, "it is a partition; give the whole disk"), -EINVAL;
		snprintf(t->name, sizeof(t->name), "%s", basename(t->sys));
		snprintf(p, sizeof(p), "%s/device/model", t->sys);
		read_line(p, t->model, sizeof(t->model));
		snprintf(p, sizeof(p), "%s/device/serial", t->sys);
		read_line(p, t->serial, sizeof(t->serial));
		if (!t->model[0]) {
			snprintf(p, sizeof(p), "%s/loop/backing_file", t->sys);
			read_line(p, t->model, sizeof(t->model));
		}
		snprintf(p, sizeof(p), "%s/size", t->sys);
		read_line(p, holders, sizeof(holders));
		t->size = strtoull(holders, NULL, 10) * 512;
		/* Held by device-mapper, RAID or LVM: someone uses it. */
		snprintf(holders, sizeof(holders), "%s/holders", t->sys);
		{
			DIR *dh = opendir(holders);
			struct dirent *e;
			bool held = false;

			while (dh && (e = readdir(dh)))
				held = held || e->d_name[0] != '.';
			if (dh)
				closedir(dh);
			if (held)
				return snprintf(why, n, "it is held by device-mapper, RAID "
						"or LVM (%.200s)", holders), -EBUSY;
		}
	}
	return in_use(t, why, n);
}

/* --- progress --- */

struct progress {
	bool on;
	const char *what;
	uint64_t done, total;
	struct timespec t0;
	int last;
};

static double since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void progress(struct progress *p, uint64_t add)
{
	int pct, bar = 30;
	double s;

	p->done += add;
	if (!p->on)
		return;
	pct = p->total ? (int)(p->done * 100 / p->total) : 100;
	if (pct == p->last && p->done != p->total)
		return;
	p->last = pct;
	s = since(&p->t0);
	fprintf(stderr, "\r%-9s [", p->what);
	for (int i = 0; i < bar; i++)
		fputc(i < pct * bar / 100 ? '#' : '-', stderr);
	fprintf(stderr, "] %3d%%  %.1f of %.1f MiB  %.1f MiB/s", pct,
		(double)p->done / 1048576, (double)p->total / 1048576,
		s > 0 ? (double)p->done / 1048576 / s : 0.0);
	if (p->done >= p->total)
		fputc('\n', stderr);
	fflush(stderr);
}

/* --- writing and reading back --- */

static int pwrite_full(int fd, const void *buf, size_t n, uint64_t off)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Copies len bytes of src from 0 to dst at off, hashing them; with dst
 * -1, only hashes len bytes of src from off. */
static int copy(int src, int dst, uint64_t off, uint64_t len, uint8_t sha[32],
		struct progress *pr)
{
	uint8_t *buf = malloc(CHUNK);
	wc_Sha256 h;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	wc_InitSha256(&h);
	for (uint64_t at = 0; at < len && !ret;) {
		size_t n = len - at < CHUNK ? (size_t)(len - at) : CHUNK;
		ssize_t r = pread(src, buf, n, (off_t)(dst < 0 ? off + at : at));

		if (r != (ssize_t)n) {
			ret = -EIO;
			break;
		}
		wc_Sha256Update(&h, buf, (word32)n);
		if (dst >= 0)
			ret = pwrite_full(dst, buf, n, off + at);
		at += n;
		progress(pr, n);
	}
	wc_Sha256Final(&h, sha);
	wc_Sha256Free(&h);
	free(buf);
	return ret;
}

/* What is at off .. off+len of fd, hashed (the read-back). */
static int hash_region(int fd, uint64_t off, uint64_t len, uint8_t sha[32],
		       struct progress *pr)
{
	return copy(fd, -1, off, len, sha, pr);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'K': v <<= 10; end++; break;
	case 'M': v <<= 20; end++; break;
	case 'G': v <<= 30; end++; break;
	default: break;
	}
	return *end ? 0 : v;
}

static bool confirmed(const struct target *t)
{
	char answer[128], want[128];

	snprintf(want, sizeof(want), "%s", t->block ? t->name : basename((char *)t->path));
	fprintf(stderr, "This ERASES %s %s (%s, %.1f MiB%s%s).\n"
		"Type %s to go on: ", t->block ? "disk" : "file", want, t->path,
		(double)t->size / 1048576, t->model[0] ? ", " : "", t->model, want);
	if (!fgets(answer, sizeof(answer), stdin))
		return false;
	answer[strcspn(answer, "\r\n")] = '\0';
	return !strcmp(answer, want);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "image", required_argument, NULL, 'i' },
		{ "pubkey", required_argument, NULL, 'p' },
		{ "board", required_argument, NULL, 'b' },
		{ "bundle", required_argument, NULL, 'B' },
		{ "site", required_argument, NULL, 'S' },
		{ "serial", required_argument, NULL, 'N' },
		{ "report", required_argument, NULL, 'R' },
		{ "size", required_argument, NULL, 'Z' },
		{ "yes", no_argument, NULL, 'y' },
		{ "check-only", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *image = NULL, *pubfile = NULL, *board = NULL, *bundle = NULL;
	const char *site = "", *serial = NULL, *report = NULL;
	bool yes = false, check_only = false;
	uint64_t new_size = 0, bundle_len = 0, total;
	struct target t = { 0 };
	struct kt_image im;
	struct kt_disk d;
	struct kt_bootstate st;
	struct kt_bundle_head bh = { 0 };
	struct progress pr = { 0 };
	uint8_t pub[KT_IMAGE_KEY], hdr[KT_DISK_HEADER], state[KT_UPDATE_STATE_LEN];
	uint8_t img_sha[32], back[32], bun_sha[32] = { 0 }, zero[4096] = { 0 }, lenbuf[8];
	char err[512], img_hex[65], bun_hex[65] = "", when[32];
	int c, img_fd, bun_fd = -1, fd, ret;
	uint64_t img_size;

	kt_prog = "kyoten-flash";
	while ((c = getopt_long(argc, argv, "i:p:b:yh", opts, NULL)) != -1) {
		switch (c) {
		case 'i': image = optarg; break;
		case 'p': pubfile = optarg; break;
		case 'b': board = optarg; break;
		case 'B': bundle = optarg; break;
		case 'S': site = optarg; break;
		case 'N': serial = optarg; break;
		case 'R': report = optarg; break;
		case 'y': yes = true; break;
		case 'C': check_only = true; break;
		case 'Z':
			if (!(new_size = parse_size(optarg)))
				return die("--size: '%s' is not a size (e.g. 256M)", optarg), 2;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!image || !pubfile || !board || optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	t.path = argv[optind];

	/* 1. The image, completely. */
	if (kt_image_read_pub(pubfile, pub, err, sizeof(err)))
		return die("%s", err);
	img_fd = open(image, O_RDONLY | O_CLOEXEC);
	if (img_fd < 0)
		return die("%s: %s", image, strerror(errno));
	if (kt_image_read_head(img_fd, pub, &im, err, sizeof(err)) ||
	    kt_image_check_parts(img_fd, &im, err, sizeof(err)))
		return die("%s: refused: %s", image, err);
	if (strcmp(im.board, board))
		return die("%s: refused: the image is for board %s, the box is %s", image,
			   im.board, board);
	if (kt_image_hash_file(img_fd, img_sha, &img_size))
		return die("%s: cannot read it again", image);
	kt_hex(img_sha, 32, img_hex);
	if (bundle) {
		uint8_t *bbuf;
		size_t blen;

		/* The head is readable without the passphrase: the bundle must
		 * be one, and for this site and box. */
		if ((ret = kt_read_file(bundle, KT_BUNDLE_MAX, &bbuf, &blen)))
			return die("the bundle %s: %s", bundle, ret == -EFBIG ?
				   "larger than a bundle can be" : strerror(-ret));
		ret = kt_bundle_parse_head(bbuf, blen, &bh, err, sizeof(err));
		kt_wipe(bbuf, blen);
		free(bbuf);
		if (ret)
			return die("the bundle %s: refused: %s", bundle, err);
		if (*site && strcmp(site, bh.site))
			return die("the bundle %s: refused: it is for site %s, not %s",
				   bundle, bh.site, site);
		if (serial && *bh.serial && strcmp(serial, bh.serial))
			return die("the bundle %s: refused: it is for the box with serial "
				   "number %s, not %s", bundle, bh.serial, serial);
		site = bh.site;
		if (!serial && *bh.serial)
			serial = bh.serial;
		bun_fd = open(bundle, O_RDONLY | O_CLOEXEC);
		if (bun_fd < 0)
			return die("the bundle %s: %s", bundle, strerror(errno));
		bundle_len = blen;
	}

	/* 2. The target. */
	if ((ret = check_target(&t, new_size, err, sizeof(err))))
		return die("%s: refused: %s", t.path, err);
	if (kt_disk_layout(t.size, img_size, board, &d))
		return die("%s: refused: too small: %.1f MiB; this image needs at least "
			   "%.1f MiB", t.path, (double)t.size / 1048576,
			   (double)(KT_DISK_SLOTS + 2 * ((img_size + KT_DISK_ALIGN - 1) /
							 KT_DISK_ALIGN * KT_DISK_ALIGN)) / 1048576);
	if (!serial)
		serial = t.serial[0] ? t.serial : "";
	if (check_only) {
		printf("%s: every check passed (nothing written): %s %.1f MiB, image %s %s\n",
		       t.path, t.block ? "disk" : "file", (double)t.size / 1048576,
		       im.board, im.version);
		return 0;
	}
	if (!yes && !(isatty(STDIN_FILENO) && confirmed(&t)))
		return die("%s: not confirmed: nothing written (type the name shown, or "
			   "give --yes)", t.path);

	/* 3. Write: the header zeroed first and written last, so a medium
	 * flashed half way is never taken for a complete one. */
	fd = open(t.path, O_RDWR | O_CLOEXEC | (t.block ? O_EXCL : O_CREAT), 0644);
	if (fd < 0)
		return die("%s: %s%s", t.path, strerror(errno), errno == EBUSY ?
			   " (in use: mounted or held by another program)" : "");
	if (!t.block && ftruncate(fd, (off_t)t.size))
		return die("%s: %s", t.path, strerror(errno));
	total = img_size + bundle_len;
	pr.on = isatty(STDERR_FILENO);
	pr.what = "writing";
	pr.total = total;
	pr.last = -1;
	clock_gettime(CLOCK_MONOTONIC, &pr.t0);
	memset(&st, 0, sizeof(st));
	st.seq = 1;
	st.good = 0;
	st.pending = st.booted = st.rolled_back = KT_SLOT_NONE;
	kt_bootstate_encode(&st, state);
	kt_disk_encode(&d, hdr);
	if ((ret = pwrite_full(fd, zero, sizeof(zero), 0)) ||
	    (ret = copy(img_fd, fd, d.slot[0], img_size, back, &pr)) ||
	    (ret = pwrite_full(fd, zero, sizeof(zero), d.slot[1])))
		return die("%s: writing: %s", t.path, strerror(-ret));
	for (int i = 0; i < 8; i++)
		lenbuf[i] = (uint8_t)(bundle_len >> (56 - 8 * i));
	if ((ret = pwrite_full(fd, lenbuf, 8, d.bundle)) ||
	    (bundle && (ret = copy(bun_fd, fd, d.bundle + 8, bundle_len, bun_sha, &pr))) ||
	    (ret = pwrite_full(fd, state, sizeof(state), d.state)) ||
	    (ret = pwrite_full(fd, zero, sizeof(state), d.state + 4096)))
		return die("%s: writing: %s", t.path, strerror(-ret));
	if (fsync(fd) || (ret = pwrite_full(fd, hdr, sizeof(hdr), 0)) || fsync(fd))
		return die("%s: writing: %s", t.path, strerror(errno));
	if (memcmp(back, img_sha, 32))
		return die("%s: the image changed while it was written", image);
	progress(&pr, 0);

	/* 4. Read back from the medium, not from the cache. */
	if (t.block)
		ioctl(fd, BLKFLSBUF, 0);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	pr.what = "verifying";
	pr.done = 0;
	pr.last = -1;
	clock_gettime(CLOCK_MONOTONIC, &pr.t0);
	{
		uint8_t h2[KT_DISK_HEADER], s2[KT_UPDATE_STATE_LEN];
		struct kt_bootstate st2;
		struct kt_disk d2;

		if (pread(fd, h2, sizeof(h2), 0) != sizeof(h2) || memcmp(h2, hdr, sizeof(h2)) ||
		    kt_disk_decode(h2, sizeof(h2), &d2))
			return die("%s: verify: the header read back differs", t.path);
		if (pread(fd, s2, sizeof(s2), (off_t)d.state) != sizeof(s2) ||
		    kt_bootstate_decode(s2, sizeof(s2), &st2) || st2.good != 0)
			return die("%s: verify: the boot state read back differs", t.path);
		if (hash_region(fd, d.slot[0], img_size, back, &pr) || memcmp(back, img_sha, 32))
			return die("%s: verify: slot a read back differs from the image", t.path);
		if (bundle) {
			if (hash_region(fd, d.bundle + 8, bundle_len, back, &pr) ||
			    memcmp(back, bun_sha, 32))
				return die("%s: verify: the bundle read back differs", t.path);
			kt_hex(bun_sha, 32, bun_hex);
		}
	}
	progress(&pr, 0);
	close(fd);

	/* 5. The report. */
	{
		time_t now = time(NULL);
		json_t *r;
		char *text;

		kt_utc_time(now, when, sizeof(when));
		r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:I, s:s, s:s},"
			      " s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:o, s:b}",
			      "tool", "kyoten-flash " KYOTEN_VERSION, "time", when,
			      "site", site, "serial", serial, "board", board,
			      "target", "path", t.path, "kind", t.block ? "disk" : "file",
			      "bytes", (json_int_t)t.size, "model", t.model,
			      "disk-serial", t.serial,
			      "image", "file", image, "version", im.version,
			      "build-id", im.build_id, "created", im.created,
			      "sha256", img_hex, "key-id", im.key_id,
			      "bundle", bundle ? json_pack("{s:s, s:I, s:s, s:s, s:s}",
							   "file", bundle, "bytes",
							   (json_int_t)bundle_len,
							   "sha256", bun_hex, "bundle-id",
							   bh.bundle_id, "device-number",
							   bh.device_number) : json_null(),
			      "verified", 1);
		printf("flashed and verified %s at %s\n"
		       "  site %s, serial %s, board %s\n"
		       "  image %s, version %s (build %s), sha256 %s\n"
		       "  bundle %s%s%s\n",
		       t.path, when, site[0] ? site : "-", serial[0] ? serial : "-", board,
		       image, im.version, im.build_id, img_hex,
		       bundle ? bundle : "none", bundle ? ", sha256 " : "", bun_hex);
		if (report) {
			text = json_dumps(r, JSON_INDENT(2) | JSON_SORT_KEYS);
			FILE *f = fopen(report, "w");

			if (!text || !f || fprintf(f, "%s\n", text) < 0 || fclose(f)) {
				free(text);
				json_decref(r);
				return die("the report %s: %s", report, strerror(errno));
			}
			free(text);
			printf("  report saved to %s\n", report);
		}
		json_decref(r);
	}
	kt_image_free(&im);
	return 0;
}
