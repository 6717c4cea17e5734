/* Key files and key text. A private key lives in a file of its own,
 * base64 on one line (the format `wg genkey` writes, so wireguard-suite
 * keys move between tools), readable by its owner only; public keys are
 * passed as base64 text. Every buffer that held a private key is wiped. */
#ifndef KT_KEYS_H
#define KT_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "suite.h"

/* Longest base64 text of a key of either kind, with its NUL. */
#define KT_KEY_B64_MAX 96

/* Reads a private key. Refuses a file that group or others may read or
 * write; err gets a message that names the file and the problem. */
int kt_key_read(const char *path, uint8_t key[KT_SUITE_KEY_LEN], char *err,
		size_t errlen)
	__attribute__((warn_unused_result));
/* Writes a new private key file, mode 0600; never overwrites. */
int kt_key_write(const char *path, const uint8_t key[KT_SUITE_KEY_LEN])
	__attribute__((warn_unused_result));
int kt_key_encode(const uint8_t *key, size_t len, char out[KT_KEY_B64_MAX]);
/* Decodes exactly `len` bytes of base64; -EINVAL otherwise. */
int kt_key_decode(const char *text, uint8_t *key, size_t len)
	__attribute__((warn_unused_result));

#endif
