/* Firmware images: one signed file per board and version, what the
 * field engineer flashes and what the box installs into its inactive
 * slot (firmware/update.h).
 *
 *   0   8 bytes  "KYTNIMG1"
 *   8   4 bytes  manifest length M, big-endian (1 .. KT_IMAGE_MANIFEST_MAX)
 *   12  4 bytes  zero
 *   16  M bytes  the manifest, JSON (below)
 *   16+M  64     Ed25519 signature (RFC 8032, wolfCrypt) over bytes 0 .. 16+M
 *   80+M  ...    the parts, back to back, in the manifest's order
 *
 * The signature covers the manifest, and the manifest holds every part's
 * size and SHA-256, so one signature covers the whole image; the file
 * must end exactly after the last part. The manifest:
 *
 *   { "format": 1, "board": "sim", "version": "0.2.0",
 *     "build-id": "g1a2b3c4", "created": "2026-12-02T07:40:00Z",
 *     "key-id": "<first 8 bytes of SHA-256 of the public key, hex>",
 *     "parts": [ { "name": "kyotend", "path": "bin/kyotend",
 *                  "mode": "0755", "size": 123, "sha256": "<hex>" }, ... ] }
 *
 * Nothing else is accepted: unknown or repeated fields, a path that could
 * leave the slot (absolute, "..", anything but [A-Za-z0-9._-/]), sizes
 * that do not add up. Checking an image reads the header, the manifest
 * and the signature first, and every part's hash before the caller
 * writes anything anywhere.
 *
 * The format is written here rather than taken from tar or a FIT image:
 * what the box must check is a signed list of hashes, and a container
 * format would add a parser (and its attack surface) on top of it. */
#ifndef KT_IMAGE_H
#define KT_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KT_IMAGE_MAGIC "KYTNIMG1"
#define KT_IMAGE_HEADER 16
#define KT_IMAGE_SIG 64
#define KT_IMAGE_KEY 32			/* Ed25519 seed and public key */
#define KT_IMAGE_MANIFEST_MAX (256u * 1024)
#define KT_IMAGE_MAX_PARTS 32
#define KT_IMAGE_PART_MAX (256ull * 1024 * 1024)
#define KT_IMAGE_NAME_MAX 64
#define KT_IMAGE_PATH_MAX 128

struct kt_image_part {
	char name[KT_IMAGE_NAME_MAX];
	char path[KT_IMAGE_PATH_MAX];	/* relative to the slot */
	unsigned mode;			/* 0644 or 0755 */
	uint64_t size, offset;		/* offset: in the image file */
	uint8_t sha256[32];
};

struct kt_image {
	char board[32];
	char version[48];
	char build_id[64];
	char created[32];
	char key_id[17];
	struct kt_image_part parts[KT_IMAGE_MAX_PARTS];
	size_t n_parts;
	uint64_t length;		/* of the whole file */
	/* The signed head (header, manifest, signature), as it was read:
	 * a slot keeps it to check itself at boot. Owned; kt_image_free. */
	uint8_t *head;
	size_t head_len;
};

void kt_image_free(struct kt_image *im);

/* Reads a public key file: base64 of the 32 bytes on its first line
 * (what kyoten-image keygen writes). 0, or -errno with err naming the
 * file and the problem. */
int kt_image_read_pub(const char *path, uint8_t pub[KT_IMAGE_KEY], char *err,
		      size_t errlen);
/* A new Ed25519 key: DIR/STEM.key (0600, never overwritten) and
 * DIR/STEM.pub; refused inside a git work tree. id gets its key id. */
int kt_image_keygen(const char *dir, const char *stem, char id[17], char *err,
		    size_t errlen);
/* The Ed25519 public key of a seed; 0 or -errno. */
int kt_image_public(const uint8_t seed[KT_IMAGE_KEY], uint8_t pub[KT_IMAGE_KEY]);
/* Hex of the first 8 bytes of the key's SHA-256 (17 bytes with the NUL). */
void kt_image_key_id(const uint8_t pub[KT_IMAGE_KEY], char out[17]);

/* Reads and checks a signed head from a buffer: the header, the
 * signature by `pub`, the manifest's every field. Parts' offsets assume
 * the head starts the file. 0, or -EINVAL / -EBADMSG / -EKEYREJECTED
 * (wrong signature) / -ENOMEM with err naming what is wrong. On success
 * im->head holds a copy of the head. */
int kt_image_parse_head(const uint8_t *buf, size_t len,
			const uint8_t pub[KT_IMAGE_KEY], struct kt_image *im,
			char *err, size_t errlen);
/* The same from the start of an open image file, which must be exactly
 * as long as the manifest says. */
int kt_image_read_head(int fd, const uint8_t pub[KT_IMAGE_KEY],
		       struct kt_image *im, char *err, size_t errlen);
/* Hashes every part of the image file against the manifest. */
int kt_image_check_parts(int fd, const struct kt_image *im, char *err,
			 size_t errlen);

/* Writes an image to out_fd: parts from the files `sources` (one per
 * im->parts, whose name, path and mode the caller set; sizes and hashes
 * are filled in here), signed with `seed`. */
int kt_image_write(int out_fd, struct kt_image *im, const char *const *sources,
		   const uint8_t seed[KT_IMAGE_KEY], char *err, size_t errlen);

/* The Ed25519 signature of msg by seed (what kt_image_write signs the
 * head with; tests and the fuzz target sign heads of their own). */
int kt_image_sign(const uint8_t *msg, size_t len, const uint8_t seed[KT_IMAGE_KEY],
		  uint8_t sig[KT_IMAGE_SIG]);
/* 0 if sig is pub's Ed25519 signature of msg, else -EKEYREJECTED. */
int kt_image_verify(const uint8_t *msg, size_t len, const uint8_t *sig,
		    const uint8_t pub[KT_IMAGE_KEY]);
/* Whether a part path stays inside its slot. */
bool kt_image_path_ok(const char *path);
/* Compares "MAJOR.MINOR.PATCH" versions (anything after '+' or '-' is
 * build metadata and ignored): <0, 0, >0 in *cmp; -EINVAL if either is
 * not such a version. */
int kt_image_version_cmp(const char *a, const char *b, int *cmp);

/* SHA-256 of a whole file, and its size; -errno. */
int kt_image_hash_file(int fd, uint8_t out[32], uint64_t *size);

#endif
