/* A/B firmware slots (update.h says what and why). */
#include "update.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "fileio.h"
#include "suite.h"

#define STATE_MAGIC "KYBS"
#define STATE_FORMAT 1
#define HEAD_FILE "image.head"

const char *kt_update_slot_name(int slot)
{
	return slot == 0 ? "a" : slot == 1 ? "b" : "none";
}

/* A durable step; non-zero when the (test's) power fails before it. */
static int step(const struct kt_update *u, const char *what)
{
	return u->step && u->step(u->step_arg, what) ? -EINTR : 0;
}

static void slot_dir(char *out, size_t n, const struct kt_update *u, int slot,
		     const char *suffix)
{
	snprintf(out, n, "%s/slot-%s%s", u->root, kt_update_slot_name(slot), suffix);
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

/* --- the boot state --- */

static uint8_t slot_byte(int slot)
{
	return slot == 0 || slot == 1 ? (uint8_t)slot : 0xff;
}

static bool byte_slot(uint8_t b, int *slot)
{
	if (b > 1 && b != 0xff)
		return false;
	*slot = b == 0xff ? KT_SLOT_NONE : b;
	return true;
}

void kt_bootstate_encode(const struct kt_bootstate *st, uint8_t out[KT_UPDATE_STATE_LEN])
{
	uint8_t h[32];

	memset(out, 0, KT_UPDATE_STATE_LEN);
	memcpy(out, STATE_MAGIC, 4);
	out[4] = STATE_FORMAT;
	out[5] = slot_byte(st->good);
	out[6] = slot_byte(st->pending);
	out[7] = (uint8_t)(st->tries_left > 255 ? 255 : st->tries_left);
	out[8] = slot_byte(st->booted);
	out[9] = slot_byte(st->rolled_back);
	for (int i = 0; i < 8; i++)
		out[16 + i] = (uint8_t)(st->seq >> (56 - 8 * i));
	wc_Sha256Hash(out, 56, h);
	memcpy(out + 56, h, 8);
}

int kt_bootstate_decode(const uint8_t *buf, size_t len, struct kt_bootstate *st)
{
	static const uint8_t zero[40];
	struct kt_bootstate s = { 0 };
	uint8_t h[32];

	if (len != KT_UPDATE_STATE_LEN || memcmp(buf, STATE_MAGIC, 4) ||
	    buf[4] != STATE_FORMAT || memcmp(buf + 10, zero, 6) ||
	    memcmp(buf + 24, zero, 32))
		return -EBADMSG;
	wc_Sha256Hash(buf, 56, h);
	if (memcmp(h, buf + 56, 8))
		return -EBADMSG;
	if (!byte_slot(buf[5], &s.good) || !byte_slot(buf[6], &s.pending) ||
	    !byte_slot(buf[8], &s.booted) || !byte_slot(buf[9], &s.rolled_back))
		return -EBADMSG;
	s.tries_left = buf[7];
	for (int i = 0; i < 8; i++)
		s.seq = s.seq << 8 | buf[16 + i];
	if (!s.seq || (s.pending != KT_SLOT_NONE && s.pending == s.good))
		return -EBADMSG;
	*st = s;
	return 0;
}

/* Copy i of the state: 0 and *st, -EBADMSG when it does not check (or is
 * missing), other -errno on I/O errors. */
static int read_copy(const struct kt_update *u, int i, struct kt_bootstate *st)
{
	uint8_t buf[KT_UPDATE_STATE_LEN + 1];
	char path[300];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/state.%d", u->root, i);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -EBADMSG : -errno;
	n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n < 0)
		return -EIO;
	return kt_bootstate_decode(buf, (size_t)n, st);
}

static void state_empty(struct kt_bootstate *st)
{
	memset(st, 0, sizeof(*st));
	st->good = st->pending = st->booted = st->rolled_back = KT_SLOT_NONE;
}

int kt_update_state_read(const struct kt_update *u, struct kt_bootstate *st)
{
	struct kt_bootstate c[2];
	int r[2];

	state_empty(st);
	for (int i = 0; i < 2; i++) {
		r[i] = read_copy(u, i, &c[i]);
		if (r[i] && r[i] != -EBADMSG)
			return r[i];
	}
	if (!r[0] && (r[1] || c[0].seq > c[1].seq))
		*st = c[0];
	else if (!r[1])
		*st = c[1];
	return 0;
}

int kt_update_state_write(const struct kt_update *u, struct kt_bootstate *st)
{
	struct kt_bootstate c[2];
	uint8_t buf[KT_UPDATE_STATE_LEN];
	char path[300];
	int r[2], target, fd, ret;

	for (int i = 0; i < 2; i++)
		r[i] = read_copy(u, i, &c[i]);
	/* Over the copy that does not check, else the older one: the newest
	 * stays until this one is on disk. */
	target = r[0] ? 0 : r[1] ? 1 : c[0].seq < c[1].seq ? 0 : 1;
	st->seq = 1 + (!r[0] && (r[1] || c[0].seq > c[1].seq) ? c[0].seq
		       : !r[1] ? c[1].seq : 0);
	kt_bootstate_encode(st, buf);
	snprintf(path, sizeof(path), "%s/state.%d", u->root, target);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (step(u, "state")) {
		/* The power fails half way through the write. */
		ret = pwrite(fd, buf, sizeof(buf) / 2, 0) < 0 ? -errno : -EINTR;
		close(fd);
		return ret == -EINTR ? ret : -EINTR;
	}
	ret = pwrite(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf) ? 0 : -EIO;
	if (!ret && fsync(fd))
		ret = -errno;
	close(fd);
	if (!ret && (ret = step(u, "state-dir")) == 0)
		ret = fsync_path(u->root);
	return ret;
}

/* --- slots --- */

static int read_file(const char *path, uint8_t **out, size_t *len, size_t max)
{
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || st.st_size <= 0 || (size_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = pread(fd, buf, (size_t)st.st_size, 0);
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*len = (size_t)n;
	return 0;
}

/* A slot's signed head, checked (signature, manifest, board); its parts
 * are not read. */
static int slot_head(const struct kt_update *u, int slot, struct kt_image *im,
		     char *err, size_t errlen)
{
	char dir[300], path[512];
	uint8_t *head = NULL;
	size_t len = 0;
	int ret;

	memset(im, 0, sizeof(*im));
	if (slot != 0 && slot != 1)
		return kt_errf(err, errlen, -EINVAL, "no such slot");
	slot_dir(dir, sizeof(dir), u, slot, "");
	snprintf(path, sizeof(path), "%s/%s", dir, HEAD_FILE);
	ret = read_file(path, &head, &len, KT_IMAGE_HEADER + KT_IMAGE_MANIFEST_MAX +
			KT_IMAGE_SIG);
	if (ret)
		return kt_errf(err, errlen, -ENOENT, "slot %s: no complete image "
			    "(%s: %s)", kt_update_slot_name(slot), path, strerror(-ret));
	ret = kt_image_parse_head(head, len, u->pub, im, err, errlen);
	free(head);
	if (ret)
		return ret;
	if (strcmp(im->board, u->board) || im->head_len != len) {
		kt_errf(err, errlen, -EBADMSG, "slot %s: its image is for board %s, "
			"not %s", kt_update_slot_name(slot), im->board, u->board);
		kt_image_free(im);
		return -EBADMSG;
	}
	return 0;
}

int kt_update_slot_check(const struct kt_update *u, int slot, struct kt_image *im,
			 char *err, size_t errlen)
{
	char dir[300], path[512];
	int ret;

	if ((ret = slot_head(u, slot, im, err, errlen)))
		return ret;
	slot_dir(dir, sizeof(dir), u, slot, "");
	for (size_t i = 0; i < im->n_parts; i++) {
		const struct kt_image_part *p = &im->parts[i];
		uint8_t h[32];
		uint64_t size;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, p->path);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		ret = fd < 0 ? -errno : kt_image_hash_file(fd, h, &size);
		if (fd >= 0)
			close(fd);
		if (ret || size != p->size || !kt_equal_ct(h, p->sha256, 32)) {
			ret = kt_errf(err, errlen, -EBADMSG, "slot %s: part %s (%s) "
				   "%s", kt_update_slot_name(slot), p->name, p->path,
				   ret ? strerror(-ret) : "does not match its hash");
			goto bad;
		}
	}
	return 0;
bad:
	kt_image_free(im);
	return ret;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) ? -1 : 0;
}

static int rm_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) ? -errno : 0;
}

/* The directories of rel (not its last component) under base. */
static int make_parents(const char *base, const char *rel)
{
	char path[512];
	size_t b = strlen(base);

	snprintf(path, sizeof(path), "%s/%s", base, rel);
	for (char *p = path + b + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

static int copy_part(const struct kt_update *u, int img, const struct kt_image_part *p,
		     const char *dir)
{
	uint8_t buf[65536];
	char path[512];
	uint64_t left = p->size;
	off_t off = (off_t)p->offset;
	int fd, ret;

	if ((ret = make_parents(dir, p->path)))
		return ret;
	snprintf(path, sizeof(path), "%s/%s", dir, p->path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, p->mode);
	if (fd < 0)
		return -errno;
	while (left) {
		size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		ssize_t r = pread(img, buf, n, off);

		if (r != (ssize_t)n) {
			close(fd);
			return -EIO;
		}
		if (step(u, "part")) {
			ret = kt_write_all(fd, buf, n / 2);
			close(fd);
			return -EINTR;
		}
		if ((ret = kt_write_all(fd, buf, n))) {
			close(fd);
			return ret;
		}
		off += (off_t)n;
		left -= n;
	}
	ret = fchmod(fd, p->mode) || fsync(fd) ? -errno : 0;
	close(fd);
	return ret;
}

/* Every directory under dir (and dir) to disk. */
static int fsync_dirs(const char *dir, const struct kt_image *im)
{
	char path[512];
	int ret;

	for (size_t i = 0; i < im->n_parts; i++) {
		const char *slash = strrchr(im->parts[i].path, '/');

		if (!slash)
			continue;
		snprintf(path, sizeof(path), "%s/%.*s", dir,
			 (int)(slash - im->parts[i].path), im->parts[i].path);
		if ((ret = fsync_path(path)))
			return ret;
	}
	return fsync_path(dir);
}

static int write_head(const struct kt_update *u, const char *dir, const struct kt_image *im)
{
	char path[512];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/%s", dir, HEAD_FILE);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (step(u, "head")) {
		ret = kt_write_all(fd, im->head, im->head_len / 2);
		close(fd);
		return -EINTR;
	}
	ret = kt_write_all(fd, im->head, im->head_len);
	if (!ret && fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

/* Writes the verified image into slot `slot` (never the good one). */
static int write_slot(const struct kt_update *u, int img, const struct kt_image *im,
		      int slot, char *err, size_t errlen)
{
	char dir[300], tmp[300];
	int ret;

	slot_dir(dir, sizeof(dir), u, slot, "");
	slot_dir(tmp, sizeof(tmp), u, slot, ".new");
	if ((ret = step(u, "clear")) || (ret = rm_tree(tmp)))
		goto out;
	if (mkdir(tmp, 0755)) {
		ret = -errno;
		goto out;
	}
	for (size_t i = 0; i < im->n_parts; i++)
		if ((ret = copy_part(u, img, &im->parts[i], tmp)))
			goto out;
	/* The head last: a slot without it is not an image. */
	if ((ret = write_head(u, tmp, im)) || (ret = step(u, "fsync")) ||
	    (ret = fsync_dirs(tmp, im)))
		goto out;
	if ((ret = step(u, "replace")) || (ret = rm_tree(dir)))
		goto out;
	if ((ret = step(u, "rename")))
		goto out;
	if (rename(tmp, dir)) {
		ret = -errno;
		goto out;
	}
	if ((ret = step(u, "root")) || (ret = fsync_path(u->root)))
		goto out;
	return 0;
out:
	if (ret == -EINTR)
		return kt_errf(err, errlen, ret, "power cut (test)");
	return kt_errf(err, errlen, ret, "writing slot %s: %s", kt_update_slot_name(slot),
		    strerror(-ret));
}

int kt_update_install(const struct kt_update *u, const char *image,
		      bool allow_downgrade, bool factory, int *slot,
		      char *err, size_t errlen)
{
	struct kt_image im, good;
	struct kt_bootstate st;
	char why[256];
	int fd, ret, target, cmp;

	fd = open(image, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kt_errf(err, errlen, -errno, "%s: %s", image, strerror(errno));
	/* Everything is checked before anything is written. */
	if ((ret = kt_image_read_head(fd, u->pub, &im, err, errlen)))
		goto out_fd;
	if (strcmp(im.board, u->board)) {
		ret = kt_errf(err, errlen, -EINVAL, "the image is for board %s; this "
			   "box is %s", im.board, u->board);
		goto out_im;
	}
	if ((ret = kt_image_check_parts(fd, &im, err, errlen)))
		goto out_im;
	if (mkdir(u->root, 0755) && errno != EEXIST) {
		ret = kt_errf(err, errlen, -errno, "%s: %s", u->root, strerror(errno));
		goto out_im;
	}
	if ((ret = kt_update_state_read(u, &st))) {
		kt_errf(err, errlen, ret, "reading the boot state: %s", strerror(-ret));
		goto out_im;
	}
	if (factory && st.good != KT_SLOT_NONE) {
		ret = kt_errf(err, errlen, -EEXIST, "this box already has a good slot "
			   "(%s): a factory install is for a new box; install "
			   "without it", kt_update_slot_name(st.good));
		goto out_im;
	}
	if (st.good != KT_SLOT_NONE && !allow_downgrade) {
		/* Its version is in its signed head: no need to hash it. */
		if (slot_head(u, st.good, &good, why, sizeof(why)) == 0) {
			kt_image_version_cmp(im.version, good.version, &cmp);
			if (cmp < 0) {
				ret = kt_errf(err, errlen, -EPERM, "version %s is older "
					   "than the running %s (slot %s): refused "
					   "(a downgrade needs --allow-downgrade)",
					   im.version, good.version,
					   kt_update_slot_name(st.good));
				kt_image_free(&good);
				goto out_im;
			}
			kt_image_free(&good);
		}
	}
	target = st.good == 0 ? 1 : 0;
	/* A slot about to be overwritten must not stay bootable. */
	if (st.pending == target) {
		st.pending = KT_SLOT_NONE;
		st.tries_left = 0;
		if ((ret = kt_update_state_write(u, &st))) {
			kt_errf(err, errlen, ret, "%s", ret == -EINTR ? "power cut (test)"
			     : "writing the boot state");
			goto out_im;
		}
	}
	if ((ret = write_slot(u, fd, &im, target, err, errlen)))
		goto out_im;
	{
		struct kt_image check;

		if ((ret = kt_update_slot_check(u, target, &check, err, errlen)))
			goto out_im;
		kt_image_free(&check);
	}
	if (factory) {
		st.good = target;
		st.pending = KT_SLOT_NONE;
		st.tries_left = 0;
	} else {
		st.pending = target;
		st.tries_left = u->tries ? u->tries : 1;
	}
	st.rolled_back = KT_SLOT_NONE;
	if ((ret = kt_update_state_write(u, &st))) {
		kt_errf(err, errlen, ret, "%s", ret == -EINTR ? "power cut (test)"
		     : "writing the boot state");
		goto out_im;
	}
	*slot = target;
	ret = 0;
out_im:
	kt_image_free(&im);
out_fd:
	close(fd);
	return ret;
}

static bool slot_ok(const struct kt_update *u, int slot, char *why, size_t n)
{
	struct kt_image im;

	if (kt_update_slot_check(u, slot, &im, why, n))
		return false;
	kt_image_free(&im);
	return true;
}

static bool same_state(const struct kt_bootstate *a, const struct kt_bootstate *b)
{
	return a->good == b->good && a->pending == b->pending &&
	       a->tries_left == b->tries_left && a->booted == b->booted &&
	       a->rolled_back == b->rolled_back;
}

int kt_update_boot(const struct kt_update *u, int *slot, char *why, size_t whylen)
{
	struct kt_bootstate st, before;
	char bad[256] = "";
	int ret, choice = KT_SLOT_NONE;

	if ((ret = kt_update_state_read(u, &st)))
		return kt_errf(why, whylen, ret, "reading the boot state: %s", strerror(-ret));
	before = st;
	if (st.pending != KT_SLOT_NONE) {
		int p = st.pending;

		if (st.tries_left > 0 && slot_ok(u, p, bad, sizeof(bad))) {
			/* Counted before it runs: a slot that hangs or resets
			 * the box uses its tries up. */
			st.tries_left--;
			st.booted = p;
			if ((ret = kt_update_state_write(u, &st)))
				return kt_errf(why, whylen, ret, "writing the boot state");
			*slot = p;
			return kt_errf(why, whylen, 0, "slot %s: new, not yet confirmed; "
				    "%u more tries after this one",
				    kt_update_slot_name(p), st.tries_left);
		}
		st.rolled_back = p;
		st.pending = KT_SLOT_NONE;
		st.tries_left = 0;
	}
	if (st.good != KT_SLOT_NONE && slot_ok(u, st.good, bad, sizeof(bad)))
		choice = st.good;
	else if (st.good != KT_SLOT_NONE && slot_ok(u, !st.good, why, whylen)) {
		/* The good slot is damaged; the other one checks. */
		choice = !st.good;
		st.good = choice;
		if (st.rolled_back == choice)
			st.rolled_back = KT_SLOT_NONE;
	} else if (st.good == KT_SLOT_NONE) {
		for (int s = 0; s < 2 && choice == KT_SLOT_NONE; s++)
			if (slot_ok(u, s, why, whylen))
				choice = s;
		st.good = choice;
	}
	if (choice == KT_SLOT_NONE)
		return kt_errf(why, whylen, -ENOENT, "no slot holds a complete, "
			    "correctly signed image%s%s", bad[0] ? ": " : "", bad);
	st.booted = choice;
	if (!same_state(&st, &before) &&
	    (ret = kt_update_state_write(u, &st)))
		return kt_errf(why, whylen, ret, "writing the boot state");
	*slot = choice;
	if (before.pending != KT_SLOT_NONE)
		return kt_errf(why, whylen, 0, "slot %s: rolled back from slot %s "
			    "(%s)", kt_update_slot_name(choice),
			    kt_update_slot_name(before.pending),
			    before.tries_left ? bad : "never confirmed healthy");
	if (before.good != choice)
		return kt_errf(why, whylen, 0, "slot %s: the good slot %s did not "
			    "check (%s)", kt_update_slot_name(choice),
			    kt_update_slot_name(before.good), bad);
	return kt_errf(why, whylen, 0, "slot %s: good", kt_update_slot_name(choice));
}

int kt_update_confirm(const struct kt_update *u, char *msg, size_t msglen)
{
	struct kt_bootstate st;
	int ret;

	if ((ret = kt_update_state_read(u, &st)))
		return kt_errf(msg, msglen, ret, "reading the boot state: %s", strerror(-ret));
	if (st.pending == KT_SLOT_NONE || st.booted != st.pending)
		return kt_errf(msg, msglen, 0, "nothing to confirm: the running slot "
			    "%s is the good one", kt_update_slot_name(st.booted));
	st.good = st.pending;
	st.pending = KT_SLOT_NONE;
	st.tries_left = 0;
	st.rolled_back = KT_SLOT_NONE;
	if ((ret = kt_update_state_write(u, &st)))
		return kt_errf(msg, msglen, ret, "writing the boot state");
	return kt_errf(msg, msglen, 0, "slot %s confirmed: it is the good slot now",
		    kt_update_slot_name(st.good));
}
