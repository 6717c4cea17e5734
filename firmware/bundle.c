/* Site identity bundles (bundle.h). */
#include "bundle.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/pwdbased.h>

#include "fileio.h"
#include "jsonf.h"
#include "suite.h"

const struct kt_bundle_kind kt_bundle_kinds[] = {
	{ "site.yaml", 0600, 0 },	/* the site's whole configuration */
	{ "tunnel.key", 0600, 1 },	/* the box's tunnel private key */
	{ "mgmt.crt", 0644, 0 },	/* its management certificate */
	{ "mgmt.key", 0600, 1 },	/* and that certificate's key */
	{ "ca.crt", 0644, 0 },		/* the NOC's certificate authority */
	{ "policy.pub", 0644, 0 },	/* the NOC's policy-signing key */
	{ "enrol.json", 0644, 0 },	/* a spare's: where the broker is */
};
const size_t kt_bundle_n_kinds = sizeof(kt_bundle_kinds) / sizeof(kt_bundle_kinds[0]);

/* Crockford's base32: no I, L, O or U, so nothing reads as another. */
static const char pass_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

const struct kt_bundle_kind *kt_bundle_kind(const char *name)
{
	for (size_t i = 0; i < kt_bundle_n_kinds; i++)
		if (!strcmp(kt_bundle_kinds[i].name, name))
			return &kt_bundle_kinds[i];
	return NULL;
}

static bool unhex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    isupper((unsigned char)s[2 * i]) || isupper((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return false;
		out[i] = (uint8_t)v;
	}
	return true;
}

int kt_bundle_passphrase_new(char out[KT_BUNDLE_PASS_TEXT])
{
	uint8_t r[KT_BUNDLE_PASS_CHARS];
	size_t o = 0;

	if (kt_random(r, sizeof(r)))
		return -EIO;
	for (size_t i = 0; i < KT_BUNDLE_PASS_CHARS; i++) {
		if (i && !(i % 4))
			out[o++] = '-';
		/* 256 is a multiple of 32: the low five bits are uniform. */
		out[o++] = pass_alphabet[r[i] & 31];
	}
	out[o] = '\0';
	kt_wipe(r, sizeof(r));
	return 0;
}

int kt_bundle_passphrase_norm(const char *in, char out[KT_BUNDLE_PASS_CHARS + 1])
{
	size_t n = 0;

	for (const char *p = in; *p; p++) {
		int c = toupper((unsigned char)*p);

		if (c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c == 'O')
			c = '0';
		else if (c == 'I' || c == 'L')
			c = '1';
		if (!c || !strchr(pass_alphabet, c) || n == KT_BUNDLE_PASS_CHARS) {
			kt_wipe(out, KT_BUNDLE_PASS_CHARS + 1);
			return -EINVAL;
		}
		out[n++] = (char)c;
	}
	out[n] = '\0';
	if (n != KT_BUNDLE_PASS_CHARS) {
		kt_wipe(out, KT_BUNDLE_PASS_CHARS + 1);
		return -EINVAL;
	}
	return 0;
}

/* --- the head --- */

static int parse_head_json(const uint8_t *buf, size_t len,
			   struct kt_bundle_head *h, char *err, size_t errlen)
{
	static const char *const keys[] = { "format", "site", "device-number",
		"serial", "bundle-id", "created", "kdf", "iterations", "salt", "kind",
		NULL };
	char kdf[32], salt[2 * KT_BUNDLE_SALT + 1], kind[16] = "site";
	json_error_t je;
	json_t *root, *v;
	int ret;

	root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return kt_errf(err, errlen, -EBADMSG, "bundle head: not JSON (%s, at "
			       "byte %d)", je.text, je.position);
	ret = kt_errf(err, errlen, -EBADMSG, "bundle head: not an object");
	if (!json_is_object(root) ||
	    (ret = kt_json_only(root, keys, "bundle head", "", err, errlen)))
		goto out;
	v = json_object_get(root, "format");
	ret = kt_errf(err, errlen, -EBADMSG, "bundle head: format must be 1 "
		      "(this firmware reads no other)");
	if (!json_is_integer(v) || json_integer_value(v) != 1)
		goto out;
	if ((ret = kt_json_str(root, "site", h->site, sizeof(h->site),
			       "bundle head", "", err, errlen)) ||
	    (ret = kt_json_str(root, "device-number", h->device_number,
			       sizeof(h->device_number), "bundle head", "", err, errlen)) ||
	    (json_object_get(root, "serial") &&
	     (ret = kt_json_str(root, "serial", h->serial, sizeof(h->serial),
				"bundle head", "", err, errlen))) ||
	    (ret = kt_json_str(root, "bundle-id", h->bundle_id, sizeof(h->bundle_id),
			       "bundle head", "", err, errlen)) ||
	    (ret = kt_json_str(root, "created", h->created, sizeof(h->created),
			       "bundle head", "", err, errlen)) ||
	    (ret = kt_json_str(root, "kdf", kdf, sizeof(kdf), "bundle head", "",
			       err, errlen)) ||
	    (ret = kt_json_str(root, "salt", salt, sizeof(salt), "bundle head", "",
			       err, errlen)) ||
	    (json_object_get(root, "kind") &&
	     (ret = kt_json_str(root, "kind", kind, sizeof(kind), "bundle head", "",
				err, errlen))))
		goto out;
	ret = -EBADMSG;
	if (strcmp(kind, "site") && strcmp(kind, "spare")) {
		kt_errf(err, errlen, ret, "bundle head: kind \"%s\" is neither "
			"\"site\" nor \"spare\"", kind);
		goto out;
	}
	h->type = strcmp(kind, "spare") ? KT_BUNDLE_SITE : KT_BUNDLE_SPARE;
	if (h->type == KT_BUNDLE_SPARE && !*h->serial) {
		kt_errf(err, errlen, ret, "bundle head: a spare's bundle without "
			"its serial number");
		goto out;
	}
	if (strcmp(kdf, "pbkdf2-sha256")) {
		kt_errf(err, errlen, ret, "bundle head: kdf \"%s\" is not "
			"\"pbkdf2-sha256\"", kdf);
		goto out;
	}
	if (!unhex(salt, h->salt, sizeof(h->salt))) {
		kt_errf(err, errlen, ret, "bundle head: salt is not %d lower-case "
			"hex digits", 2 * KT_BUNDLE_SALT);
		goto out;
	}
	v = json_object_get(root, "iterations");
	if (!json_is_integer(v) || json_integer_value(v) < KT_BUNDLE_ITER_MIN ||
	    json_integer_value(v) > KT_BUNDLE_ITER_MAX) {
		kt_errf(err, errlen, ret, "bundle head: iterations must be a number "
			"from %u to %u", KT_BUNDLE_ITER_MIN, KT_BUNDLE_ITER_MAX);
		goto out;
	}
	h->iterations = (uint32_t)json_integer_value(v);
	ret = 0;
out:
	json_decref(root);
	return ret;
}

int kt_bundle_parse_head(const uint8_t *buf, size_t len,
			 struct kt_bundle_head *h, char *err, size_t errlen)
{
	uint32_t hl;

	memset(h, 0, sizeof(*h));
	if (len < 16 || memcmp(buf, KT_BUNDLE_MAGIC, 8))
		return kt_errf(err, errlen, -EBADMSG, "not a Kyoten site bundle (no "
			       "\"%s\" at its start)", KT_BUNDLE_MAGIC);
	hl = kt_get_be32(buf + 8);
	if (!hl || hl > KT_BUNDLE_HEAD_MAX || kt_get_be32(buf + 12))
		return kt_errf(err, errlen, -EBADMSG, "bundle: head length %u is not "
			       "1 to %u, or bytes 12..15 are not zero", hl,
			       KT_BUNDLE_HEAD_MAX);
	if (len > KT_BUNDLE_MAX)
		return kt_errf(err, errlen, -EBADMSG, "bundle: %zu bytes, more than "
			       "the %u a bundle may have", len, KT_BUNDLE_MAX);
	if (len < 16 + (size_t)hl + KT_BUNDLE_NONCE + KT_BUNDLE_TAG + 1)
		return kt_errf(err, errlen, -EBADMSG, "bundle: %zu bytes, too short "
			       "for its %u-byte head and a sealed body (cut off?)",
			       len, hl);
	h->len = 16 + hl;
	return parse_head_json(buf + 16, hl, h, err, errlen);
}

/* --- the body --- */

static int derive(const struct kt_bundle_head *h, const char *passphrase,
		  uint8_t key[32], char *err, size_t errlen)
{
	char norm[KT_BUNDLE_PASS_CHARS + 1];
	int r;

	if (kt_bundle_passphrase_norm(passphrase, norm))
		return kt_errf(err, errlen, -EINVAL, "that is not a bundle "
			       "passphrase: it has %d letters and digits, in "
			       "groups of four (XXXX-XXXX-XXXX-XXXX-XXXX)",
			       KT_BUNDLE_PASS_CHARS);
	r = wc_PBKDF2(key, (const byte *)norm, KT_BUNDLE_PASS_CHARS, h->salt,
		      KT_BUNDLE_SALT, (int)h->iterations, 32, WC_SHA256);
	kt_wipe(norm, sizeof(norm));
	return r ? kt_errf(err, errlen, -EIO, "PBKDF2 failed (%d)", r) : 0;
}

void kt_bundle_free(struct kt_bundle *b)
{
	for (size_t i = 0; i < b->n_files; i++) {
		if (b->files[i].data) {
			kt_wipe(b->files[i].data, b->files[i].len);
			free(b->files[i].data);
		}
	}
	memset(b->files, 0, sizeof(b->files));
	b->n_files = 0;
}

const struct kt_bundle_file *kt_bundle_find(const struct kt_bundle *b,
					    const char *name)
{
	for (size_t i = 0; i < b->n_files; i++)
		if (!strcmp(b->files[i].kind->name, name))
			return &b->files[i];
	return NULL;
}

int kt_bundle_add(struct kt_bundle *b, const char *name, const void *data,
		  size_t len, char *err, size_t errlen)
{
	const struct kt_bundle_kind *k = kt_bundle_kind(name);
	uint8_t *copy;

	if (!k)
		return kt_errf(err, errlen, -EINVAL, "bundle: no file may be called "
			       "'%s'", name);
	if (kt_bundle_find(b, name))
		return kt_errf(err, errlen, -EINVAL, "bundle: %s is there twice", name);
	if (!len || len > KT_BUNDLE_FILE_MAX)
		return kt_errf(err, errlen, -EINVAL, "bundle: %s is %zu bytes; a file "
			       "is 1 to %u", name, len, KT_BUNDLE_FILE_MAX);
	if (b->n_files == KT_BUNDLE_MAX_FILES || !(copy = malloc(len)))
		return kt_errf(err, errlen, -ENOMEM, "bundle: no room for %s", name);
	memcpy(copy, data, len);
	b->files[b->n_files].kind = k;
	b->files[b->n_files].data = copy;
	b->files[b->n_files++].len = len;
	return 0;
}

int kt_bundle_parse_body(const uint8_t *p, size_t len, struct kt_bundle *b,
			 char *err, size_t errlen)
{
	size_t off = 9, n;
	int r;

	if (len < 9 || memcmp(p, KT_BUNDLE_BODY_MAGIC, 8))
		return kt_errf(err, errlen, -EBADMSG, "bundle body: does not start "
			       "with \"%s\"", KT_BUNDLE_BODY_MAGIC);
	n = p[8];
	if (!n || n > KT_BUNDLE_MAX_FILES)
		return kt_errf(err, errlen, -EBADMSG, "bundle body: %zu files; a "
			       "bundle holds 1 to %d", n, KT_BUNDLE_MAX_FILES);
	for (size_t i = 0; i < n; i++) {
		char name[256];
		size_t nl;
		uint32_t dl;

		if (off >= len || (nl = p[off]) == 0 || len - off - 1 < nl + 4)
			return kt_errf(err, errlen, -EBADMSG, "bundle body: file %zu is "
				       "cut off", i + 1);
		memcpy(name, p + off + 1, nl);
		name[nl] = '\0';
		if (strlen(name) != nl)
			return kt_errf(err, errlen, -EBADMSG, "bundle body: file %zu's "
				       "name has a NUL byte", i + 1);
		dl = kt_get_be32(p + off + 1 + nl);
		off += 1 + nl + 4;
		if (dl > len - off)
			return kt_errf(err, errlen, -EBADMSG, "bundle body: %s says %u "
				       "bytes; %zu are left", name, dl, len - off);
		if ((r = kt_bundle_add(b, name, p + off, dl, err, errlen)))
			return r == -ENOMEM ? r : -EBADMSG;
		off += dl;
	}
	if (off != len)
		return kt_errf(err, errlen, -EBADMSG, "bundle body: %zu bytes after "
			       "the last file", len - off);
	if (b->head.type == KT_BUNDLE_SPARE ?
	    !kt_bundle_find(b, "enrol.json") || kt_bundle_find(b, "site.yaml") :
	    !kt_bundle_find(b, "site.yaml") || kt_bundle_find(b, "enrol.json"))
		return kt_errf(err, errlen, -EBADMSG, "bundle body: %s",
			       b->head.type == KT_BUNDLE_SPARE ? "a spare's bundle holds "
			       "enrol.json and no site.yaml" : "it has no site.yaml, or "
			       "has a spare's enrol.json");
	return 0;
}

int kt_bundle_open(const uint8_t *buf, size_t len, const char *passphrase,
		   struct kt_bundle *b, char *err, size_t errlen)
{
	uint8_t key[32], *plain = NULL;
	size_t clen;
	Aes aes;
	int r;

	memset(b, 0, sizeof(*b));
	if ((r = kt_bundle_parse_head(buf, len, &b->head, err, errlen)))
		return r;
	if ((r = derive(&b->head, passphrase, key, err, errlen)))
		return r;
	clen = len - b->head.len - KT_BUNDLE_NONCE - KT_BUNDLE_TAG;
	if (!(plain = malloc(clen))) {
		kt_wipe(key, sizeof(key));
		return kt_errf(err, errlen, -ENOMEM, "bundle: out of memory");
	}
	r = wc_AesInit(&aes, NULL, INVALID_DEVID);
	if (!r)
		r = wc_AesGcmSetKey(&aes, key, sizeof(key));
	kt_wipe(key, sizeof(key));
	if (!r)
		r = wc_AesGcmDecrypt(&aes, plain, buf + b->head.len + KT_BUNDLE_NONCE,
				     (word32)clen, buf + b->head.len, KT_BUNDLE_NONCE,
				     buf + len - KT_BUNDLE_TAG, KT_BUNDLE_TAG, buf,
				     (word32)b->head.len);
	wc_AesFree(&aes);
	kt_wipe(&aes, sizeof(aes));	/* its key schedule holds the key */
	if (r)
		r = kt_errf(err, errlen, -EKEYREJECTED, "the passphrase is wrong, "
			    "or the bundle was changed after it was made (its seal "
			    "does not open)");
	else
		r = kt_bundle_parse_body(plain, clen, b, err, errlen);
	kt_wipe(plain, clen);
	free(plain);
	if (r)
		kt_bundle_free(b);
	return r;
}

/* --- sealing, at the NOC --- */

static json_t *head_json(const struct kt_bundle_head *h)
{
	char salt[2 * KT_BUNDLE_SALT + 1];
	json_t *o;

	kt_hex(h->salt, sizeof(h->salt), salt);
	o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "format", 1,
		      "site", h->site, "device-number", h->device_number,
		      "bundle-id", h->bundle_id, "created", h->created,
		      "kdf", "pbkdf2-sha256", "iterations", (int)h->iterations,
		      "salt", salt);
	if (o && h->type == KT_BUNDLE_SPARE &&
	    json_object_set_new(o, "kind", json_string("spare"))) {
		json_decref(o);
		return NULL;
	}
	if (o && *h->serial && json_object_set_new(o, "serial", json_string(h->serial))) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

int kt_bundle_seal(struct kt_bundle *b, const char *passphrase,
		   uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
	struct kt_bundle_head *h = &b->head;
	uint8_t id[16], key[32], *body = NULL, *o = NULL;
	size_t blen = 9, hl, total, off;
	char *hj = NULL;
	json_t *hjson;
	time_t now = time(NULL);
	Aes aes;
	int r;

	if (!kt_bundle_find(b, h->type == KT_BUNDLE_SPARE ? "enrol.json" : "site.yaml"))
		return kt_errf(err, errlen, -EINVAL, "bundle: it needs a %s",
			       h->type == KT_BUNDLE_SPARE ? "enrol.json" : "site.yaml");
	if (kt_random(id, sizeof(id)) || kt_random(h->salt, sizeof(h->salt)))
		return kt_errf(err, errlen, -EIO, "bundle: no random numbers");
	kt_hex(id, sizeof(id), h->bundle_id);
	kt_utc_time(now, h->created, sizeof(h->created));
	if (!h->iterations)
		h->iterations = KT_BUNDLE_ITER_DEFAULT;
	if ((r = derive(h, passphrase, key, err, errlen)))
		return r;
	hjson = head_json(h);
	hj = hjson ? json_dumps(hjson, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(hjson);
	for (size_t i = 0; i < b->n_files; i++)
		blen += 1 + strlen(b->files[i].kind->name) + 4 + b->files[i].len;
	r = kt_errf(err, errlen, -ENOMEM, "bundle: out of memory");
	if (!hj || (hl = strlen(hj)) > KT_BUNDLE_HEAD_MAX || !(body = malloc(blen)))
		goto out;
	total = 16 + hl + KT_BUNDLE_NONCE + blen + KT_BUNDLE_TAG;
	r = kt_errf(err, errlen, -EFBIG, "bundle: %zu bytes, more than the %u a "
		    "bundle may have", total, KT_BUNDLE_MAX);
	if (total > KT_BUNDLE_MAX)
		goto out;
	r = kt_errf(err, errlen, -ENOMEM, "bundle: out of memory");
	if (!(o = malloc(total)))
		goto out;
	memcpy(body, KT_BUNDLE_BODY_MAGIC, 8);
	body[8] = (uint8_t)b->n_files;
	off = 9;
	for (size_t i = 0; i < b->n_files; i++) {
		size_t nl = strlen(b->files[i].kind->name);

		body[off] = (uint8_t)nl;
		memcpy(body + off + 1, b->files[i].kind->name, nl);
		kt_put_be32(body + off + 1 + nl, (uint32_t)b->files[i].len);
		memcpy(body + off + 5 + nl, b->files[i].data, b->files[i].len);
		off += 5 + nl + b->files[i].len;
	}
	memcpy(o, KT_BUNDLE_MAGIC, 8);
	kt_put_be32(o + 8, (uint32_t)hl);
	kt_put_be32(o + 12, 0);
	memcpy(o + 16, hj, hl);
	h->len = 16 + hl;
	r = kt_errf(err, errlen, -EIO, "bundle: sealing failed");
	/* A random nonce under a key that is new with every salt. */
	if (kt_random(o + h->len, KT_BUNDLE_NONCE) || wc_AesInit(&aes, NULL, INVALID_DEVID))
		goto out;
	if (!wc_AesGcmSetKey(&aes, key, sizeof(key)) &&
	    !wc_AesGcmEncrypt(&aes, o + h->len + KT_BUNDLE_NONCE, body, (word32)blen,
			      o + h->len, KT_BUNDLE_NONCE, o + total - KT_BUNDLE_TAG,
			      KT_BUNDLE_TAG, o, (word32)h->len)) {
		*out = o;
		*out_len = total;
		o = NULL;
		r = 0;
	}
	wc_AesFree(&aes);
	kt_wipe(&aes, sizeof(aes));	/* its key schedule holds the key */
out:
	kt_wipe(key, sizeof(key));
	if (body) {
		kt_wipe(body, blen);
		free(body);
	}
	free(o);
	free(hj);
	return r;
}
