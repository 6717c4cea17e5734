/* Firmware images (image.h says what and why). */
#include "image.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "fileio.h"
#include "jsonf.h"
#include "keys.h"
#include "suite.h"

void kt_image_free(struct kt_image *im)
{
	free(im->head);
	im->head = NULL;
	im->head_len = 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool unhex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int v = 0;

		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + (size_t)k];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else
				return false;	/* lower case only: one spelling */
		}
		out[i] = (uint8_t)v;
	}
	return true;
}

int kt_image_public(const uint8_t seed[KT_IMAGE_KEY], uint8_t pub[KT_IMAGE_KEY])
{
	ed25519_key k;
	int ret;

	if (wc_ed25519_init(&k))
		return -ENOMEM;
	ret = wc_ed25519_import_private_only(seed, KT_IMAGE_KEY, &k);
	if (!ret)
		ret = wc_ed25519_make_public(&k, pub, KT_IMAGE_KEY);
	wc_ed25519_free(&k);
	kt_wipe(&k, sizeof(k));
	return ret ? -EINVAL : 0;
}

int kt_image_read_pub(const char *path, uint8_t pub[KT_IMAGE_KEY], char *err,
		      size_t errlen)
{
	char line[KT_KEY_B64_MAX + 2] = "";
	FILE *f = fopen(path, "re");

	if (!f)
		return kt_errf(err, errlen, -errno, "the image key %s: %s", path,
			    strerror(errno));
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if (kt_key_decode(line, pub, KT_IMAGE_KEY))
		return kt_errf(err, errlen, -EINVAL, "the image key %s is not base64 of "
			    "a 32-byte Ed25519 public key", path);
	return 0;
}

void kt_image_key_id(const uint8_t pub[KT_IMAGE_KEY], char out[17])
{
	uint8_t h[32];

	wc_Sha256Hash(pub, KT_IMAGE_KEY, h);
	kt_hex(h, 8, out);
}

bool kt_image_path_ok(const char *path)
{
	const char *seg = path;

	if (!*path || strlen(path) >= KT_IMAGE_PATH_MAX || *path == '/')
		return false;
	for (const char *p = path;; p++) {
		if (*p == '/' || !*p) {
			size_t n = (size_t)(p - seg);

			/* No empty, "." or ".." segment, no trailing slash. */
			if (!n || (n == 1 && seg[0] == '.') ||
			    (n == 2 && seg[0] == '.' && seg[1] == '.'))
				return false;
			if (!*p)
				return true;
			seg = p + 1;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			return false;
	}
}

int kt_image_version_cmp(const char *a, const char *b, int *cmp)
{
	unsigned long va[3], vb[3];
	const char *s[2] = { a, b };
	unsigned long *v[2] = { va, vb };

	for (int k = 0; k < 2; k++) {
		const char *p = s[k];

		for (int i = 0; i < 3; i++) {
			char *end;

			if (!isdigit((unsigned char)*p))
				return -EINVAL;
			errno = 0;
			v[k][i] = strtoul(p, &end, 10);
			if (errno || end - p > 9 || (end - p > 1 && *p == '0'))
				return -EINVAL;
			p = end;
			if (i < 2 && *p++ != '.')
				return -EINVAL;
		}
		if (*p && *p != '+' && *p != '-')
			return -EINVAL;
	}
	*cmp = 0;
	for (int i = 0; i < 3 && !*cmp; i++)
		*cmp = va[i] < vb[i] ? -1 : va[i] > vb[i];
	return 0;
}

int kt_image_hash_file(int fd, uint8_t out[32], uint64_t *size)
{
	uint8_t buf[65536];
	wc_Sha256 h;
	uint64_t n = 0;
	ssize_t r;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	wc_InitSha256(&h);
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		wc_Sha256Update(&h, buf, (word32)r);
		n += (uint64_t)r;
	}
	if (r < 0) {
		int e = -errno;

		wc_Sha256Free(&h);
		return e;
	}
	wc_Sha256Final(&h, out);
	wc_Sha256Free(&h);
	*size = n;
	return 0;
}

/* --- the manifest --- */

static int parse_part(json_t *p, size_t i, struct kt_image_part *out,
		      char *err, size_t errlen)
{
	static const char *const keys[] = { "name", "path", "mode", "size", "sha256", NULL };
	char where[32], mode[8], sha[65];
	json_t *size;
	int ret;

	snprintf(where, sizeof(where), "parts[%zu].", i);
	if (!json_is_object(p))
		return kt_errf(err, errlen, -EBADMSG, "manifest: parts[%zu] is not an "
			    "object", i);
	if ((ret = kt_json_only(p, keys,
				       "manifest", where, err, errlen)) ||
	    (ret = kt_json_str(p, "name", out->name, sizeof(out->name),
				       "manifest", where, err, errlen)) ||
	    (ret = kt_json_str(p, "path", out->path, sizeof(out->path),
				       "manifest", where, err, errlen)) ||
	    (ret = kt_json_str(p, "mode", mode, sizeof(mode),
				       "manifest", where, err, errlen)) ||
	    (ret = kt_json_str(p, "sha256", sha, sizeof(sha),
				       "manifest", where, err, errlen)))
		return ret;
	if (!kt_image_path_ok(out->path))
		return kt_errf(err, errlen, -EBADMSG, "manifest: %spath '%s' could "
			    "leave the slot", where, out->path);
	if (!strcmp(mode, "0644"))
		out->mode = 0644;
	else if (!strcmp(mode, "0755"))
		out->mode = 0755;
	else
		return kt_errf(err, errlen, -EBADMSG, "manifest: %smode must be "
			    "\"0644\" or \"0755\", not \"%s\"", where, mode);
	if (!unhex(sha, out->sha256, 32))
		return kt_errf(err, errlen, -EBADMSG, "manifest: %ssha256 is not 64 "
			    "lower-case hex digits", where);
	size = json_object_get(p, "size");
	if (!json_is_integer(size) || json_integer_value(size) < 0 ||
	    (uint64_t)json_integer_value(size) > KT_IMAGE_PART_MAX)
		return kt_errf(err, errlen, -EBADMSG, "manifest: %ssize is missing, "
			    "negative or over %llu bytes", where,
			    (unsigned long long)KT_IMAGE_PART_MAX);
	out->size = (uint64_t)json_integer_value(size);
	return 0;
}

static int parse_manifest(const uint8_t *buf, size_t len, struct kt_image *im,
			  char *err, size_t errlen)
{
	static const char *const keys[] = { "format", "board", "version", "build-id",
					    "created", "key-id", "parts", NULL };
	json_error_t je;
	json_t *root, *parts, *fmt;
	uint64_t offset = KT_IMAGE_HEADER + len + KT_IMAGE_SIG;
	int ret, cmp;

	root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return kt_errf(err, errlen, -EBADMSG, "manifest: not JSON (%s, at "
			    "byte %d)", je.text, je.position);
	ret = kt_errf(err, errlen, -EBADMSG, "manifest: not an object");
	if (!json_is_object(root))
		goto out;
	if ((ret = kt_json_only(root, keys,
				       "manifest", "", err, errlen)))
		goto out;
	fmt = json_object_get(root, "format");
	ret = kt_errf(err, errlen, -EBADMSG, "manifest: format must be 1");
	if (!json_is_integer(fmt) || json_integer_value(fmt) != 1)
		goto out;
	if ((ret = kt_json_str(root, "board", im->board, sizeof(im->board),
				       "manifest", "", err, errlen)) ||
	    (ret = kt_json_str(root, "version", im->version, sizeof(im->version),
				       "manifest", "", err, errlen)) ||
	    (ret = kt_json_str(root, "build-id", im->build_id, sizeof(im->build_id),
				       "manifest", "", err, errlen)) ||
	    (ret = kt_json_str(root, "created", im->created, sizeof(im->created),
				       "manifest", "", err, errlen)) ||
	    (ret = kt_json_str(root, "key-id", im->key_id, sizeof(im->key_id),
				       "manifest", "", err, errlen)))
		goto out;
	ret = kt_errf(err, errlen, -EBADMSG, "manifest: version '%s' is not "
		   "MAJOR.MINOR.PATCH", im->version);
	if (kt_image_version_cmp(im->version, im->version, &cmp))
		goto out;
	parts = json_object_get(root, "parts");
	ret = kt_errf(err, errlen, -EBADMSG, "manifest: parts must be a list of 1 "
		   "to %d", KT_IMAGE_MAX_PARTS);
	if (!json_is_array(parts) || !json_array_size(parts) ||
	    json_array_size(parts) > KT_IMAGE_MAX_PARTS)
		goto out;
	im->n_parts = 0;
	for (size_t i = 0; i < json_array_size(parts); i++) {
		struct kt_image_part *p = &im->parts[i];

		if ((ret = parse_part(json_array_get(parts, i), i, p, err, errlen)))
			goto out;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(im->parts[j].name, p->name) ||
			    !strcmp(im->parts[j].path, p->path)) {
				ret = kt_errf(err, errlen, -EBADMSG, "manifest: parts[%zu] "
					   "repeats the name or path of parts[%zu]", i, j);
				goto out;
			}
		p->offset = offset;
		offset += p->size;
		im->n_parts++;
	}
	im->length = offset;
	ret = 0;
out:
	json_decref(root);
	return ret;
}

/* --- reading --- */

int kt_image_verify(const uint8_t *msg, size_t len, const uint8_t *sig,
		    const uint8_t pub[KT_IMAGE_KEY])
{
	ed25519_key k;
	int res = 0, ret;

	if (wc_ed25519_init(&k))
		return -ENOMEM;
	ret = wc_ed25519_import_public(pub, KT_IMAGE_KEY, &k);
	if (!ret)
		ret = wc_ed25519_verify_msg(sig, KT_IMAGE_SIG, msg, (word32)len, &res, &k);
	wc_ed25519_free(&k);
	return !ret && res == 1 ? 0 : -EKEYREJECTED;
}

int kt_image_parse_head(const uint8_t *buf, size_t len,
			const uint8_t pub[KT_IMAGE_KEY], struct kt_image *im,
			char *err, size_t errlen)
{
	uint32_t m;
	char kid[17];
	int ret;

	memset(im, 0, sizeof(*im));
	if (len < KT_IMAGE_HEADER || memcmp(buf, KT_IMAGE_MAGIC, 8))
		return kt_errf(err, errlen, -EINVAL, "not a Kyoten firmware image "
			    "(no \"%s\" at its start)", KT_IMAGE_MAGIC);
	m = get_be32(buf + 8);
	if (!m || m > KT_IMAGE_MANIFEST_MAX || get_be32(buf + 12))
		return kt_errf(err, errlen, -EBADMSG, "header: manifest length %u "
			    "is out of range (1 to %u) or the reserved bytes are "
			    "not zero", m, KT_IMAGE_MANIFEST_MAX);
	if (len < KT_IMAGE_HEADER + (size_t)m + KT_IMAGE_SIG)
		return kt_errf(err, errlen, -EBADMSG, "truncated: the header says "
			    "%u bytes of manifest and a signature follow, %zu do",
			    m, len - KT_IMAGE_HEADER);
	/* The signature first: nothing unsigned reaches the JSON parser. */
	if (kt_image_verify(buf, KT_IMAGE_HEADER + m, buf + KT_IMAGE_HEADER + m, pub)) {
		kt_image_key_id(pub, kid);
		return kt_errf(err, errlen, -EKEYREJECTED, "signature: not valid "
			    "for the trusted key %s (signed by another key, or "
			    "the header or manifest was changed)", kid);
	}
	if ((ret = parse_manifest(buf + KT_IMAGE_HEADER, m, im, err, errlen)))
		return ret;
	kt_image_key_id(pub, kid);
	if (strcmp(kid, im->key_id))
		return kt_errf(err, errlen, -EBADMSG, "manifest: key-id %s is not "
			    "the signing key's %s", im->key_id, kid);
	im->head_len = KT_IMAGE_HEADER + m + KT_IMAGE_SIG;
	im->head = malloc(im->head_len);
	if (!im->head)
		return kt_errf(err, errlen, -ENOMEM, "out of memory");
	memcpy(im->head, buf, im->head_len);
	return 0;
}

int kt_image_read_head(int fd, const uint8_t pub[KT_IMAGE_KEY],
		       struct kt_image *im, char *err, size_t errlen)
{
	uint8_t hdr[KT_IMAGE_HEADER], *buf;
	struct stat st;
	uint32_t m;
	int ret;

	memset(im, 0, sizeof(*im));
	if (fstat(fd, &st))
		return kt_errf(err, errlen, -errno, "cannot stat: %s", strerror(errno));
	if (lseek(fd, 0, SEEK_SET) < 0 || kt_read_all(fd, hdr, sizeof(hdr)))
		return kt_errf(err, errlen, -EINVAL, "not a Kyoten firmware image "
			    "(shorter than its %d-byte header)", KT_IMAGE_HEADER);
	m = get_be32(hdr + 8);
	if (memcmp(hdr, KT_IMAGE_MAGIC, 8) || !m || m > KT_IMAGE_MANIFEST_MAX)
		return kt_image_parse_head(hdr, sizeof(hdr), pub, im, err, errlen);
	buf = malloc(KT_IMAGE_HEADER + m + KT_IMAGE_SIG);
	if (!buf)
		return kt_errf(err, errlen, -ENOMEM, "out of memory");
	memcpy(buf, hdr, sizeof(hdr));
	ret = kt_read_all(fd, buf + KT_IMAGE_HEADER, m + KT_IMAGE_SIG);
	ret = kt_image_parse_head(buf, ret ? KT_IMAGE_HEADER : KT_IMAGE_HEADER + m +
				  KT_IMAGE_SIG, pub, im, err, errlen);
	free(buf);
	if (ret)
		return ret;
	if ((uint64_t)st.st_size != im->length) {
		ret = kt_errf(err, errlen, -EBADMSG, "length: the manifest's parts "
			   "make %llu bytes, the file has %llu",
			   (unsigned long long)im->length,
			   (unsigned long long)st.st_size);
		kt_image_free(im);
	}
	return ret;
}

int kt_image_check_parts(int fd, const struct kt_image *im, char *err,
			 size_t errlen)
{
	uint8_t buf[65536], got[32];

	for (size_t i = 0; i < im->n_parts; i++) {
		const struct kt_image_part *p = &im->parts[i];
		uint64_t left = p->size;
		wc_Sha256 h;

		if (lseek(fd, (off_t)p->offset, SEEK_SET) < 0)
			return kt_errf(err, errlen, -errno, "part %s: %s", p->name,
				    strerror(errno));
		wc_InitSha256(&h);
		while (left) {
			size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
			int ret = kt_read_all(fd, buf, n);

			if (ret) {
				wc_Sha256Free(&h);
				return kt_errf(err, errlen, -EBADMSG, "part %s: the file "
					    "ends inside it", p->name);
			}
			wc_Sha256Update(&h, buf, (word32)n);
			left -= n;
		}
		wc_Sha256Final(&h, got);
		wc_Sha256Free(&h);
		if (!kt_equal_ct(got, p->sha256, 32))
			return kt_errf(err, errlen, -EBADMSG, "part %s (%s): its "
				    "SHA-256 is not the manifest's: the image is "
				    "corrupt or was changed", p->name, p->path);
	}
	return 0;
}

/* --- writing --- */

int kt_image_sign(const uint8_t *msg, size_t len, const uint8_t seed[KT_IMAGE_KEY],
		  uint8_t sig[KT_IMAGE_SIG])
{
	uint8_t pub[KT_IMAGE_KEY];
	word32 n = KT_IMAGE_SIG;
	ed25519_key k;
	int ret;

	if ((ret = kt_image_public(seed, pub)))
		return ret;
	if (wc_ed25519_init(&k))
		return -ENOMEM;
	ret = wc_ed25519_import_private_key(seed, KT_IMAGE_KEY, pub, KT_IMAGE_KEY, &k);
	if (!ret)
		ret = wc_ed25519_sign_msg(msg, (word32)len, sig, &n, &k);
	wc_ed25519_free(&k);
	kt_wipe(&k, sizeof(k));
	return ret || n != KT_IMAGE_SIG ? -EINVAL : 0;
}

int kt_image_write(int out_fd, struct kt_image *im, const char *const *sources,
		   const uint8_t seed[KT_IMAGE_KEY], char *err, size_t errlen)
{
	static const char *const mode_text[2] = { "0644", "0755" };
	uint8_t pub[KT_IMAGE_KEY], sig[KT_IMAGE_SIG], hdr[KT_IMAGE_HEADER];
	json_t *root = NULL, *parts;
	char *manifest = NULL, sha[65];
	int ret, fds[KT_IMAGE_MAX_PARTS], cmp;
	size_t m;

	if (!im->n_parts || im->n_parts > KT_IMAGE_MAX_PARTS)
		return kt_errf(err, errlen, -EINVAL, "an image has 1 to %d parts",
			    KT_IMAGE_MAX_PARTS);
	if (kt_image_version_cmp(im->version, im->version, &cmp))
		return kt_errf(err, errlen, -EINVAL, "version '%s' is not "
			    "MAJOR.MINOR.PATCH", im->version);
	if ((ret = kt_image_public(seed, pub)))
		return kt_errf(err, errlen, ret, "the signing key is not an Ed25519 seed");
	kt_image_key_id(pub, im->key_id);
	if (!im->created[0]) {
		time_t t = time(NULL);

		kt_utc_time(t, im->created, sizeof(im->created));
	}
	for (size_t i = 0; i < im->n_parts; i++)
		fds[i] = -1;
	parts = json_array();
	root = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:o}", "format", 1,
			 "board", im->board, "version", im->version,
			 "build-id", im->build_id, "created", im->created,
			 "key-id", im->key_id, "parts", parts);
	ret = kt_errf(err, errlen, -ENOMEM, "out of memory");
	if (!root)
		goto out;
	for (size_t i = 0; i < im->n_parts; i++) {
		struct kt_image_part *p = &im->parts[i];

		if (!kt_image_path_ok(p->path) || (p->mode != 0644 && p->mode != 0755)) {
			ret = kt_errf(err, errlen, -EINVAL, "part %s: path '%s' or mode "
				   "%o is not allowed", p->name, p->path, p->mode);
			goto out;
		}
		fds[i] = open(sources[i], O_RDONLY | O_CLOEXEC);
		ret = fds[i] < 0 ? -errno : kt_image_hash_file(fds[i], p->sha256, &p->size);
		if (ret) {
			kt_errf(err, errlen, ret, "part %s: cannot read %s: %s", p->name,
			     sources[i], strerror(-ret));
			goto out;
		}
		if (p->size > KT_IMAGE_PART_MAX) {
			ret = kt_errf(err, errlen, -EFBIG, "part %s: %s is over %llu bytes",
				   p->name, sources[i], (unsigned long long)KT_IMAGE_PART_MAX);
			goto out;
		}
		kt_hex(p->sha256, 32, sha);
		if (json_array_append_new(parts, json_pack("{s:s, s:s, s:s, s:I, s:s}",
				"name", p->name, "path", p->path,
				"mode", mode_text[p->mode == 0755],
				"size", (json_int_t)p->size, "sha256", sha))) {
			ret = kt_errf(err, errlen, -ENOMEM, "out of memory");
			goto out;
		}
	}
	manifest = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	ret = kt_errf(err, errlen, -E2BIG, "the manifest is over %u bytes",
		   KT_IMAGE_MANIFEST_MAX);
	if (!manifest || (m = strlen(manifest)) > KT_IMAGE_MANIFEST_MAX)
		goto out;
	memcpy(hdr, KT_IMAGE_MAGIC, 8);
	put_be32(hdr + 8, (uint32_t)m);
	put_be32(hdr + 12, 0);
	{
		uint8_t *signed_part = malloc(KT_IMAGE_HEADER + m);

		ret = kt_errf(err, errlen, -ENOMEM, "out of memory");
		if (!signed_part)
			goto out;
		memcpy(signed_part, hdr, KT_IMAGE_HEADER);
		memcpy(signed_part + KT_IMAGE_HEADER, manifest, m);
		ret = kt_image_sign(signed_part, KT_IMAGE_HEADER + m, seed, sig);
		free(signed_part);
		if (ret) {
			kt_errf(err, errlen, ret, "signing failed");
			goto out;
		}
	}
	if ((ret = kt_write_all(out_fd, hdr, sizeof(hdr))) ||
	    (ret = kt_write_all(out_fd, manifest, m)) ||
	    (ret = kt_write_all(out_fd, sig, sizeof(sig)))) {
		kt_errf(err, errlen, ret, "writing the image: %s", strerror(-ret));
		goto out;
	}
	for (size_t i = 0; i < im->n_parts; i++) {
		uint8_t buf[65536], again[32];
		uint64_t left = im->parts[i].size;
		wc_Sha256 h;

		/* Hashed again as it is copied: a source that changed between
		 * the two reads must not make an image that fails its check. */
		wc_InitSha256(&h);
		if (lseek(fds[i], 0, SEEK_SET) < 0) {
			ret = kt_errf(err, errlen, -errno, "part %s: %s", im->parts[i].name,
				   strerror(errno));
			wc_Sha256Free(&h);
			goto out;
		}
		while (left) {
			size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);

			if (kt_read_all(fds[i], buf, n) || (ret = kt_write_all(out_fd, buf, n))) {
				ret = kt_errf(err, errlen, -EIO, "part %s: %s changed or "
					   "could not be copied", im->parts[i].name, sources[i]);
				wc_Sha256Free(&h);
				goto out;
			}
			wc_Sha256Update(&h, buf, (word32)n);
			left -= n;
		}
		wc_Sha256Final(&h, again);
		wc_Sha256Free(&h);
		if (memcmp(again, im->parts[i].sha256, 32)) {
			ret = kt_errf(err, errlen, -EIO, "part %s: %s changed while the "
				   "image was written", im->parts[i].name, sources[i]);
			goto out;
		}
	}
	ret = 0;
out:
	for (size_t i = 0; i < im->n_parts; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(manifest);
	json_decref(root);
	kt_wipe(sig, sizeof(sig));
	return ret;
}

/* Whether dir is inside a git work tree (a key must never be committed). */
static bool in_git_tree(const char *dir)
{
	char path[4096], probe[4200];

	if (!realpath(dir, path))
		return false;
	for (;;) {
		struct stat st;
		char *slash;

		snprintf(probe, sizeof(probe), "%s/.git", path);
		if (!stat(probe, &st))
			return true;
		slash = strrchr(path, '/');
		if (!slash || slash == path)
			return false;
		*slash = '\0';
	}
}

int kt_image_keygen(const char *dir, const char *stem, char id[17], char *err,
		    size_t errlen)
{
	uint8_t seed[KT_IMAGE_KEY], pub[KT_IMAGE_KEY];
	char path[4096], b64[KT_KEY_B64_MAX];
	FILE *f;
	int ret;

	if (in_git_tree(dir))
		return kt_errf(err, errlen, -EPERM, "%s is inside a git work tree: a "
			       "signing key must never be committed; choose a "
			       "directory outside", dir);
	if (kt_random(seed, sizeof(seed)) || kt_image_public(seed, pub)) {
		kt_wipe(seed, sizeof(seed));
		return kt_errf(err, errlen, -EIO, "cannot make a key");
	}
	snprintf(path, sizeof(path), "%s/%s.key", dir, stem);
	ret = kt_key_write(path, seed);
	kt_wipe(seed, sizeof(seed));
	if (ret)
		return kt_errf(err, errlen, ret, "%s: %s (it is never overwritten)",
			       path, strerror(-ret));
	snprintf(path, sizeof(path), "%s/%s.pub", dir, stem);
	kt_key_encode(pub, sizeof(pub), b64);
	f = fopen(path, "wx");
	if (!f || fprintf(f, "%s\n", b64) < 0 || fclose(f))
		return kt_errf(err, errlen, -errno, "%s: %s", path, strerror(errno));
	kt_image_key_id(pub, id);
	return 0;
}
