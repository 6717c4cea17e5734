/* Site identity bundles: what makes a box a given site. The NOC issues
 * one per site (kyoten-noc site issue), the field engineer carries it to
 * the box (kyoten-flash --bundle, or a file), and the box installs it
 * (kyoten-provision install) with a passphrase that the NOC prints once
 * and hands over apart from the bundle (docs/field-guide.md).
 *
 *   0     8 bytes  "KYTNBDL1"
 *   8     4 bytes  head length H, big-endian (1 .. KT_BUNDLE_HEAD_MAX)
 *   12    4 bytes  zero
 *   16    H bytes  the head, JSON, readable without the passphrase:
 *                  { "format": 1, "site": "site1",
 *                    "device-number": "TKY-0001", "serial": "KT0001",
 *                    "bundle-id": "<16 random bytes, hex>",
 *                    "created": "2026-12-02T07:40:00Z",
 *                    "kdf": "pbkdf2-sha256", "iterations": 200000,
 *                    "salt": "<16 bytes, hex>" }   (serial optional)
 *                  and "kind": "spare" for a spare's enrolment bundle
 *                  (below); without it a bundle is a site's
 *   16+H  12       AES-GCM nonce
 *   28+H  C        the sealed body, AES-256-GCM (wolfCrypt)
 *   end   16       GCM tag; the additional data is bytes 0 .. 16+H, so
 *                  the head cannot be changed without the tag failing
 *
 * The key is PBKDF2-HMAC-SHA256 of the normalised passphrase with the
 * head's salt and iterations. A passphrase is 20 characters of
 * Crockford's base32 (100 random bits), shown as five groups of four;
 * case, '-' and spaces do not matter, and O/I/L read as 0/1/1, so what
 * is read out over a telephone works.
 *
 * The body, once opened:
 *
 *   "KYTNBIN1", file count (1 byte), then per file: name length (1),
 *   name, data length (4, big-endian), data
 *
 * Only the names below are accepted, each once: site.yaml always in a
 * site's bundle, enrol.json (and no site.yaml) in a spare's; the
 * installer, not the bundle, decides where each goes and its mode.
 *
 * A spare's bundle gives a box in stock an identity of its own
 * ("spare-" and its serial, lower-case) and says how to reach the
 * broker; with it the spare fetches its site's bundle from the NOC by
 * itself (zero-touch, docs/field-guide.md).
 *
 * Why not PKCS#12, CMS or an age file: the box would need a second
 * parser for a general container (ASN.1 or a new library) to carry six
 * files; this one has one key, one AEAD and a list. */
#ifndef KT_BUNDLE_H
#define KT_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#define KT_BUNDLE_MAGIC "KYTNBDL1"
#define KT_BUNDLE_BODY_MAGIC "KYTNBIN1"
#define KT_BUNDLE_HEAD_MAX 2048u
#define KT_BUNDLE_MAX (900u * 1024)	/* fits a medium's bundle area */
#define KT_BUNDLE_FILE_MAX (128u * 1024)
#define KT_BUNDLE_MAX_FILES 8
#define KT_BUNDLE_NONCE 12
#define KT_BUNDLE_TAG 16
#define KT_BUNDLE_SALT 16
#define KT_BUNDLE_ITER_DEFAULT 200000u
#define KT_BUNDLE_ITER_MIN 10000u
#define KT_BUNDLE_ITER_MAX 5000000u	/* a box spends at most seconds */
#define KT_BUNDLE_PASS_CHARS 20
#define KT_BUNDLE_PASS_TEXT 25		/* "XXXX-XXXX-XXXX-XXXX-XXXX" + NUL */

/* The files a bundle may carry, and what the installer makes of them. */
struct kt_bundle_kind {
	const char *name;
	unsigned mode;
	int secret;			/* wiped after use; never printed */
};
/* NULL if name is not one of them. */
const struct kt_bundle_kind *kt_bundle_kind(const char *name);
/* site.yaml, tunnel.key, mgmt.crt, mgmt.key, ca.crt, policy.pub,
 * enrol.json */
extern const struct kt_bundle_kind kt_bundle_kinds[];
extern const size_t kt_bundle_n_kinds;

enum kt_bundle_type { KT_BUNDLE_SITE, KT_BUNDLE_SPARE };

struct kt_bundle_head {
	enum kt_bundle_type type;
	char site[32];			/* a spare's: "spare-<serial>" */
	char device_number[64];
	char serial[64];		/* "" when the bundle fits any box */
	char bundle_id[33];
	char created[32];
	uint32_t iterations;
	uint8_t salt[KT_BUNDLE_SALT];
	size_t len;			/* 16 + H: where the nonce starts */
};

struct kt_bundle_file {
	const struct kt_bundle_kind *kind;
	uint8_t *data;			/* owned; wiped by kt_bundle_free */
	size_t len;
};

struct kt_bundle {
	struct kt_bundle_head head;
	struct kt_bundle_file files[KT_BUNDLE_MAX_FILES];
	size_t n_files;
};

/* Reads the head alone (no passphrase): 0, or -EBADMSG / -EINVAL with
 * err naming what is wrong. */
int kt_bundle_parse_head(const uint8_t *buf, size_t len,
			 struct kt_bundle_head *h, char *err, size_t errlen);
/* Opens a bundle with a passphrase as typed: -EKEYREJECTED for a wrong
 * passphrase or a changed bundle (GCM cannot tell them apart), -EINVAL
 * for a passphrase that is not one, -EBADMSG for a body that does not
 * parse. Nothing is kept on failure. */
int kt_bundle_open(const uint8_t *buf, size_t len, const char *passphrase,
		   struct kt_bundle *b, char *err, size_t errlen);
/* The body's list of files, once the seal is open (kt_bundle_open
 * calls it; tests and the fuzz target call it directly). Adds to b's
 * files; on failure the caller frees b. */
int kt_bundle_parse_body(const uint8_t *p, size_t len, struct kt_bundle *b,
			 char *err, size_t errlen);
/* Seals b's files under b->head's type, site, device number, serial (the rest
 * of the head is made here): *out is malloc'd, the caller frees it. */
int kt_bundle_seal(struct kt_bundle *b, const char *passphrase,
		   uint8_t **out, size_t *out_len, char *err, size_t errlen);
/* Adds a copy of data as file `name`; -EINVAL for an unknown or
 * repeated name or an empty or oversized file. */
int kt_bundle_add(struct kt_bundle *b, const char *name, const void *data,
		  size_t len, char *err, size_t errlen);
const struct kt_bundle_file *kt_bundle_find(const struct kt_bundle *b,
					    const char *name);
void kt_bundle_free(struct kt_bundle *b);

/* A new random passphrase, "XXXX-XXXX-XXXX-XXXX-XXXX". */
int kt_bundle_passphrase_new(char out[KT_BUNDLE_PASS_TEXT]);
/* The 20 characters the key is made from; -EINVAL if `in` is not a
 * passphrase (wrong length or a character outside the alphabet). */
int kt_bundle_passphrase_norm(const char *in, char out[KT_BUNDLE_PASS_CHARS + 1]);

#endif
