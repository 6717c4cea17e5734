/* The policy generations kept on the box (policyd.h says what they are).
 *
 *   <state-dir>/            0700
 *     gen-7/                0700, one per generation
 *       policy.yaml         0600, the site's file as given
 *       beta.yaml           0600, the model template it used (if any)
 *       meta.json           0600, number, SHA-256, who, when, state, why
 *     gen-8.tmp/            being written: not a generation yet
 *
 * Every file is written to a temporary name, synced and renamed, and the
 * folder synced after: a power cut leaves the old version or the new one.
 * A new generation is written whole under gen-N.tmp and renamed to gen-N
 * in one step. Reading never trusts the folder: an entry whose metadata
 * does not parse, whose fields are out of range, or whose policy does not
 * match its recorded SHA-256 is reported and skipped. */
#define KT_MODULE "policy"
#include "policyd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "generated/autoconf.h"
#include "fileio.h"
#include "log.h"
#include "text.h"
#include "yamlwalk.h"

#define META "meta.json"
#define POLICY "policy.yaml"
#define META_MAX 65536

static const char *const state_names[KT_POLGEN_STATE_COUNT] = {
	"pending", "confirmed", "reverted", "rolled-back",
};

const char *kt_polgen_state_name(enum kt_polgen_state st)
{
	return st < KT_POLGEN_STATE_COUNT ? state_names[st] : "?";
}

/* name in the folder dfd, atomically: NAME.tmp, fsync, rename, fsync the
 * folder. */
static int write_atomic(int dfd, const char *name, const void *buf, size_t len)
{
	char tmp[64];
	int fd, r;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return -errno;
	r = kt_write_all(fd, buf, len);
	if (!r && fsync(fd))
		r = -errno;
	if (close(fd) && !r)
		r = -errno;
	if (!r && renameat(dfd, tmp, dfd, name))
		r = -errno;
	if (!r && fsync(dfd))
		r = -errno;
	if (r)
		unlinkat(dfd, tmp, 0);
	return r;
}

/* A whole small file from the folder dfd; NUL-terminated. */
static int read_at(int dfd, const char *name, size_t max, uint8_t **out,
		   size_t *len)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r = 0;

	*out = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (r) {
		free(buf);
		return r;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

/* Removes a generation's folder and what it holds (its files only: the
 * store makes no deeper folders). */
static void remove_dir(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *d;
	struct dirent *e;

	if (fd >= 0 && (d = fdopendir(fd))) {
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				unlinkat(fd, e->d_name, 0);
		closedir(d);
	} else if (fd >= 0) {
		close(fd);
	}
	unlinkat(dfd, name, AT_REMOVEDIR);
}

/* "gen-12" -> 12; 0 when the name is not exactly that (leading zeros,
 * signs and suffixes refused). */
static uint32_t gen_number(const char *name, const char *suffix)
{
	unsigned long long v = 0;
	const char *p = name + 4;

	if (strncmp(name, "gen-", 4) || *p < '1' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > UINT32_MAX)
			return 0;
	}
	return strcmp(p, suffix) ? 0 : (uint32_t)v;
}

/* --- metadata --- */

json_t *kt_polgen_json(const struct kt_polgen *g)
{
	json_t *j;

	if (!g->ok)
		return json_pack("{s:i, s:b, s:s}", "number", (int)g->number,
				 "ok", 0, "error", g->fault);
	j = json_pack("{s:i, s:b, s:s, s:s, s:s, s:s, s:s, s:I, s:i, s:s, s:s,"
		      " s:i, s:s, s:I, s:s, s:I, s:s}",
		      "number", (int)g->number, "ok", 1, "sha256", g->sha_hex,
		      "name", g->name, "template", g->template_path,
		      "template-file", g->model_file, "source", g->source,
		      "applied", (json_int_t)g->applied, "uid", (int)g->uid,
		      "user", g->user, "comment", g->comment,
		      "timeout", (int)g->timeout_s,
		      "state", kt_polgen_state_name(g->state),
		      "changed", (json_int_t)g->changed, "reason", g->reason,
		      "confirmed", (json_int_t)g->confirmed,
		      "confirmed-by", g->confirmed_by);
	if (j && g->rollback_of)
		json_object_set_new(j, "rollback-of", json_integer(g->rollback_of));
	return j;
}

static int get_str(json_t *m, const char *key, char *dst, size_t cap,
		   char *fault)
{
	const char *s = json_string_value(json_object_get(m, key));

	if (!s || strlen(s) >= cap || !kt_text_valid(s)) {
		snprintf(fault, KT_POLGEN_FAULT_MAX, "%s: field '%s' is missing "
			 "or not a short line of text", META, key);
		return -EINVAL;
	}
	snprintf(dst, cap, "%s", s);
	return 0;
}

static int get_int(json_t *m, const char *key, int64_t min, int64_t max,
		   int64_t *out, char *fault)
{
	json_t *v = json_object_get(m, key);

	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		snprintf(fault, KT_POLGEN_FAULT_MAX, "%s: field '%s' is missing "
			 "or out of range", META, key);
		return -EINVAL;
	}
	*out = json_integer_value(v);
	return 0;
}

/* A template copy's name: "<word>.yaml", nothing that leaves the folder. */
static bool model_file_valid(const char *s)
{
	size_t n = strlen(s);

	if (!n)
		return true;
	if (n < 6 || strcmp(s + n - 5, ".yaml") || !strcmp(s, POLICY) ||
	    !strcmp(s, META))
		return false;
	for (size_t i = 0; i < n - 5; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      (s[i] == '-' && i)))
			return false;
	return true;
}

static int meta_parse(const char *text, size_t len, uint32_t number,
		      struct kt_polgen *g)
{
	json_error_t je;
	json_t *m = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	const char *st;
	int64_t v;
	int r = -EINVAL, i;

	if (!m || !json_is_object(m)) {
		snprintf(g->fault, sizeof(g->fault), "%s: not a JSON object%s%s",
			 META, m ? "" : ": ", m ? "" : je.text);
		json_decref(m);
		kt_text_clean(g->fault);
		return -EINVAL;
	}
	if (get_int(m, "number", 1, UINT32_MAX, &v, g->fault))
		goto out;
	if ((uint32_t)v != number) {
		snprintf(g->fault, sizeof(g->fault), "%s: says generation %lld in "
			 "the folder of generation %u", META, (long long)v, number);
		goto out;
	}
	if (get_str(m, "sha256", g->sha_hex, sizeof(g->sha_hex), g->fault) ||
	    get_str(m, "name", g->name, sizeof(g->name), g->fault) ||
	    get_str(m, "template", g->template_path, sizeof(g->template_path),
		    g->fault) ||
	    get_str(m, "template-file", g->model_file, sizeof(g->model_file),
		    g->fault) ||
	    get_str(m, "source", g->source, sizeof(g->source), g->fault) ||
	    get_str(m, "user", g->user, sizeof(g->user), g->fault) ||
	    get_str(m, "comment", g->comment, sizeof(g->comment), g->fault) ||
	    get_str(m, "reason", g->reason, sizeof(g->reason), g->fault) ||
	    get_str(m, "confirmed-by", g->confirmed_by, sizeof(g->confirmed_by),
		    g->fault))
		goto out;
	if (strlen(g->sha_hex) != 64 ||
	    strspn(g->sha_hex, "0123456789abcdef") != 64) {
		snprintf(g->fault, sizeof(g->fault), "%s: sha256 is not 64 "
			 "hexadecimal digits", META);
		goto out;
	}
	for (size_t k = 0; k < 32; k++)
		sscanf(g->sha_hex + 2 * k, "%2hhx", &g->sha256[k]);
	if (!model_file_valid(g->model_file)) {
		snprintf(g->fault, sizeof(g->fault), "%s: template-file '%s' is "
			 "not a template's name", META, g->model_file);
		goto out;
	}
	if (strcmp(g->source, "apply") && strcmp(g->source, "config") &&
	    strcmp(g->source, "rollback")) {
		snprintf(g->fault, sizeof(g->fault), "%s: source '%s' is not "
			 "apply, config or rollback", META, g->source);
		goto out;
	}
	if (get_int(m, "applied", 0, INT64_MAX, &g->applied, g->fault) ||
	    get_int(m, "changed", 0, INT64_MAX, &g->changed, g->fault) ||
	    get_int(m, "confirmed", 0, INT64_MAX, &g->confirmed, g->fault))
		goto out;
	if (get_int(m, "uid", 0, UINT32_MAX, &v, g->fault))
		goto out;
	g->uid = (uint32_t)v;
	if (get_int(m, "timeout", 0, 3600, &v, g->fault))
		goto out;
	g->timeout_s = (uint32_t)v;
	g->rollback_of = 0;
	if (json_object_get(m, "rollback-of")) {
		if (get_int(m, "rollback-of", 1, UINT32_MAX, &v, g->fault))
			goto out;
		g->rollback_of = (uint32_t)v;
	}
	st = json_string_value(json_object_get(m, "state"));
	for (i = 0; st && i < KT_POLGEN_STATE_COUNT; i++)
		if (!strcmp(st, state_names[i]))
			break;
	if (!st || i == KT_POLGEN_STATE_COUNT) {
		snprintf(g->fault, sizeof(g->fault), "%s: state is not pending, "
			 "confirmed, reverted or rolled-back", META);
		goto out;
	}
	g->state = (enum kt_polgen_state)i;
	r = 0;
out:
	json_decref(m);
	return r;
}

static int meta_write(int gfd, const struct kt_polgen *g)
{
	json_t *j = kt_polgen_json(g);
	char *text = j ? json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
	int r;

	json_decref(j);
	if (!text)
		return -ENOMEM;
	r = write_atomic(gfd, META, text, strlen(text));
	free(text);
	return r;
}

/* Reads one entry; a fault leaves g->ok false with the reason. */
static void read_entry(struct kt_polstore *s, const char *name, uint32_t number,
		       struct kt_polgen *g)
{
	uint8_t *buf = NULL, sha[32];
	size_t len;
	int gfd, r;

	memset(g, 0, sizeof(*g));
	g->number = number;
	gfd = openat(s->dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (gfd < 0) {
		snprintf(g->fault, sizeof(g->fault), "cannot open: %s",
			 strerror(errno));
		return;
	}
	if ((r = read_at(gfd, META, META_MAX, &buf, &len))) {
		snprintf(g->fault, sizeof(g->fault), "%s: %s", META,
			 r == -EFBIG ? "too large" : strerror(-r));
		goto out;
	}
	r = meta_parse((char *)buf, len, number, g);
	free(buf);
	buf = NULL;
	if (r)
		goto out;
	if ((r = read_at(gfd, POLICY, CONFIG_POLICY_MAX_BYTES, &buf, &len))) {
		snprintf(g->fault, sizeof(g->fault), "%s: %s", POLICY,
			 r == -EFBIG ? "too large" : strerror(-r));
		goto out;
	}
	wc_Sha256Hash(buf, (word32)len, sha);
	free(buf);
	if (memcmp(sha, g->sha256, sizeof(sha))) {
		snprintf(g->fault, sizeof(g->fault), "%s does not match the "
			 "SHA-256 its metadata records", POLICY);
		goto out;
	}
	if (g->model_file[0] && faccessat(gfd, g->model_file, R_OK, 0)) {
		snprintf(g->fault, sizeof(g->fault), "its template copy %s: %s",
			 g->model_file, strerror(errno));
		goto out;
	}
	g->ok = true;
out:
	close(gfd);
}

static int cmp_gen(const void *a, const void *b)
{
	const struct kt_polgen *x = a, *y = b;

	return x->number < y->number ? -1 : x->number > y->number;
}

int kt_polstore_scan(struct kt_polstore *s)
{
	int fd = dup(s->dfd);
	DIR *d;
	struct dirent *e;
	uint32_t num;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	s->n = 0;
	s->corrupt = 0;
	while ((e = readdir(d))) {
		if ((num = gen_number(e->d_name, ".tmp")) ||
		    (num = gen_number(e->d_name, ".del"))) {
			/* Interrupted: a write that never became a
			 * generation, or a removal half done. */
			remove_dir(s->dfd, e->d_name);
			if (num > s->last_number)
				s->last_number = num;
			continue;
		}
		if (!(num = gen_number(e->d_name, "")))
			continue;
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 16;
			struct kt_polgen *g = realloc(s->gens, cap * sizeof(*g));

			if (!g) {
				closedir(d);
				return -ENOMEM;
			}
			s->gens = g;
			s->cap = cap;
		}
		read_entry(s, e->d_name, num, &s->gens[s->n]);
		if (!s->gens[s->n].ok) {
			s->corrupt++;
			kt_text_clean(s->gens[s->n].fault);
			log_errx("POLICY_STORE_BAD", "%s/%s skipped: %s", s->dir,
				 e->d_name, s->gens[s->n].fault);
		}
		if (num > s->last_number)
			s->last_number = num;
		s->n++;
	}
	closedir(d);
	if (s->n)
		qsort(s->gens, s->n, sizeof(*s->gens), cmp_gen);
	return 0;
}

/* mkdir -p, the last one 0700. */
static int make_dir(const char *dir)
{
	char buf[KT_PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int kt_polstore_open(struct kt_polstore *s, const char *dir, char *err,
		     size_t errlen)
{
	struct stat st;
	int r;

	memset(s, 0, sizeof(*s));
	s->dfd = -1;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	if ((r = make_dir(dir))) {
		snprintf(err, errlen, "state folder %s: %s", dir, strerror(-r));
		return r;
	}
	s->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0 || fstat(s->dfd, &st)) {
		r = -errno;
		snprintf(err, errlen, "state folder %s: %s", dir, strerror(errno));
		kt_polstore_close(s);
		return r;
	}
	/* One daemon per store: two would remove each other's writes in
	 * progress and run each other's policies (the lab runs several
	 * daemons on one host, each with its own policy.state-dir). */
	if (flock(s->dfd, LOCK_EX | LOCK_NB)) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		snprintf(err, errlen, "state folder %s: %s", dir, r == -EBUSY
			 ? "used by another kyotend (each daemon needs its own "
			   "policy.state-dir)" : strerror(-r));
		kt_polstore_close(s);
		return r;
	}
	/* Who applied what, and the policies themselves, are root's. */
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "state folder %s belongs to uid %u, not to "
			 "kyotend's (%u)", dir, (unsigned)st.st_uid,
			 (unsigned)geteuid());
		kt_polstore_close(s);
		return -EPERM;
	}
	if ((st.st_mode & 077) && fchmod(s->dfd, 0700) == 0)
		log_warnx("POLICY_STORE_MODE", "state folder %s was mode %03o; "
			  "now 0700", dir, (unsigned)(st.st_mode & 0777));
	if ((r = kt_polstore_scan(s))) {
		snprintf(err, errlen, "state folder %s: %s", dir, strerror(-r));
		kt_polstore_close(s);
		return r;
	}
	return 0;
}

void kt_polstore_close(struct kt_polstore *s)
{
	if (s->dfd >= 0)
		close(s->dfd);
	s->dfd = -1;
	free(s->gens);
	s->gens = NULL;
	s->n = s->cap = 0;
}

struct kt_polgen *kt_polstore_find(struct kt_polstore *s, uint32_t number)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->gens[i].number == number)
			return &s->gens[i];
	return NULL;
}

struct kt_polgen *kt_polstore_current(struct kt_polstore *s)
{
	for (size_t i = s->n; i-- > 0;)
		if (s->gens[i].ok && (s->gens[i].state == KT_POLGEN_PENDING ||
				      s->gens[i].state == KT_POLGEN_CONFIRMED))
			return &s->gens[i];
	return NULL;
}

struct kt_polgen *kt_polstore_last_confirmed(struct kt_polstore *s,
					     uint32_t below)
{
	for (size_t i = s->n; i-- > 0;)
		if (s->gens[i].ok && s->gens[i].confirmed &&
		    (!below || s->gens[i].number < below))
			return &s->gens[i];
	return NULL;
}

struct kt_polgen *kt_polstore_last_config(struct kt_polstore *s)
{
	for (size_t i = s->n; i-- > 0;)
		if (s->gens[i].ok && !strcmp(s->gens[i].source, "config"))
			return &s->gens[i];
	return NULL;
}

static void dir_name(char *buf, size_t len, uint32_t number, bool staged)
{
	snprintf(buf, len, "gen-%u%s", number, staged ? ".tmp" : "");
}

int kt_polstore_stage(struct kt_polstore *s, struct kt_polgen *g,
		      const uint8_t *pol, size_t len, const uint8_t *tmpl,
		      size_t tlen, char *err, size_t errlen)
{
	char name[32];
	int gfd, r;

	if (s->last_number == UINT32_MAX) {
		snprintf(err, errlen, "the store has used every generation number");
		return -EOVERFLOW;
	}
	g->number = s->last_number + 1;
	g->ok = true;
	wc_Sha256Hash(pol, (word32)len, g->sha256);
	kt_hex(g->sha256, sizeof(g->sha256), g->sha_hex);
	if (!model_file_valid(g->model_file) || (!tmpl != !g->model_file[0])) {
		snprintf(err, errlen, "template copy '%s' has no valid name",
			 g->model_file);
		return -EINVAL;
	}
	dir_name(name, sizeof(name), g->number, true);
	remove_dir(s->dfd, name);
	if (mkdirat(s->dfd, name, 0700)) {
		r = -errno;
		snprintf(err, errlen, "%s/%s: %s", s->dir, name, strerror(errno));
		return r;
	}
	gfd = openat(s->dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (gfd < 0) {
		r = -errno;
		goto fail;
	}
	r = write_atomic(gfd, POLICY, pol, len);
	if (!r && tmpl)
		r = write_atomic(gfd, g->model_file, tmpl, tlen);
	if (!r)
		r = meta_write(gfd, g);
	close(gfd);
	if (!r) {
		/* Numbers are never given twice, even to a discarded one. */
		s->last_number = g->number;
		return 0;
	}
fail:
	snprintf(err, errlen, "writing %s/%s: %s", s->dir, name, strerror(-r));
	remove_dir(s->dfd, name);
	return r;
}

int kt_polstore_commit(struct kt_polstore *s, const struct kt_polgen *g,
		       char *err, size_t errlen)
{
	char from[32], to[32];
	int r = 0;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct kt_polgen *n = realloc(s->gens, cap * sizeof(*n));

		if (!n) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		s->gens = n;
		s->cap = cap;
	}
	dir_name(from, sizeof(from), g->number, true);
	dir_name(to, sizeof(to), g->number, false);
	if (renameat(s->dfd, from, s->dfd, to) || fsync(s->dfd)) {
		r = -errno;
		snprintf(err, errlen, "%s/%s: %s", s->dir, to, strerror(errno));
		return r;
	}
	s->gens[s->n++] = *g;
	qsort(s->gens, s->n, sizeof(*s->gens), cmp_gen);
	return 0;
}

void kt_polstore_discard(struct kt_polstore *s, uint32_t number)
{
	char name[32];

	dir_name(name, sizeof(name), number, true);
	remove_dir(s->dfd, name);
}

int kt_polstore_update(struct kt_polstore *s, const struct kt_polgen *g,
		       char *err, size_t errlen)
{
	struct kt_polgen *mine = kt_polstore_find(s, g->number);
	char name[32];
	int gfd, r;

	dir_name(name, sizeof(name), g->number, false);
	gfd = openat(s->dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (gfd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s/%s: %s", s->dir, name, strerror(errno));
		return r;
	}
	r = meta_write(gfd, g);
	close(gfd);
	if (r) {
		snprintf(err, errlen, "%s/%s/%s: %s", s->dir, name, META,
			 strerror(-r));
		return r;
	}
	if (mine && mine != g)
		*mine = *g;
	return 0;
}

int kt_polstore_read(struct kt_polstore *s, const struct kt_polgen *g,
		     uint8_t **pol, size_t *len, uint8_t **tmpl, size_t *tlen)
{
	char name[32];
	int gfd, r = 0;

	dir_name(name, sizeof(name), g->number, false);
	gfd = openat(s->dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (gfd < 0)
		return -errno;
	if (pol)
		r = read_at(gfd, POLICY, CONFIG_POLICY_MAX_BYTES, pol, len);
	if (tmpl) {
		*tmpl = NULL;
		*tlen = 0;
		if (!r && g->model_file[0])
			r = read_at(gfd, g->model_file, CONFIG_POLICY_MAX_BYTES,
				    tmpl, tlen);
		if (r && pol) {
			free(*pol);
			*pol = NULL;
		}
	}
	close(gfd);
	return r;
}

int kt_polstore_load(struct kt_polstore *s, const struct kt_polgen *g,
		     bool staged, const struct kt_port_map *map,
		     struct kt_policy *out, struct kt_config_error *e)
{
	char name[32], dir[KT_PATH_MAX + 40], path[KT_PATH_MAX + 64];
	struct kt_pol_source src = { .template_dir = dir, .map = map };
	int r;

	dir_name(name, sizeof(name), g->number, staged);
	snprintf(dir, sizeof(dir), "%s/%s", s->dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, POLICY);
	r = kt_policy_load(path, &src, out, e);
	if (r)
		return r;
	/* Its copy of the template must be the one it names: a file that
	 * names another model was not this generation. */
	if (out->n_files > 1) {
		const char *base = strrchr(out->files[1], '/');

		if (!g->model_file[0] || strcmp(base ? base + 1 : out->files[1],
						g->model_file)) {
			snprintf(e->file, sizeof(e->file), "%s", path);
			snprintf(e->field, sizeof(e->field), "model");
			snprintf(e->message, sizeof(e->message), "the stored "
				 "generation's template copy is '%s'",
				 g->model_file);
			e->line = e->column = 0;
			kt_policy_uninit(out);
			return -EINVAL;
		}
		snprintf(out->files[1], sizeof(out->files[1]), "%s",
			 g->template_path);
	}
	/* Messages and explanations name the file as its applier did. */
	snprintf(out->files[0], sizeof(out->files[0]), "%s", g->name);
	return 0;
}

size_t kt_polstore_prune(struct kt_polstore *s, size_t keep, uint32_t keep_a,
			 uint32_t keep_b)
{
	size_t removed = 0, extra = s->n > keep ? s->n - keep : 0;
	char name[32], del[40];

	for (size_t i = 0; i < s->n && extra;) {
		struct kt_polgen *g = &s->gens[i];

		if (g->number == keep_a || g->number == keep_b) {
			i++;
			continue;
		}
		dir_name(name, sizeof(name), g->number, false);
		snprintf(del, sizeof(del), "%s.del", name);
		/* Gone in one step; the files after. */
		if (renameat(s->dfd, name, s->dfd, del)) {
			log_errx("POLICY_STORE_PRUNE", "cannot remove %s/%s: %s",
				 s->dir, name, strerror(errno));
			i++;
			extra--;
			continue;
		}
		remove_dir(s->dfd, del);
		if (i + 1 < s->n)
			memmove(g, g + 1, (s->n - i - 1) * sizeof(*g));
		s->n--;
		extra--;
		removed++;
	}
	if (removed)
		fsync(s->dfd);
	return removed;
}
