/* libFuzzer target: site identity bundles as the box reads them
 * (firmware/bundle.c), from a medium or a file.
 *
 * Input: one byte choosing what, then the bytes:
 *   0  a whole bundle, through kt_bundle_parse_head and kt_bundle_open
 *      with a fixed passphrase (the seal must refuse everything the
 *      fuzzer makes: it cannot forge a GCM tag)
 *   1  a body as it is once the seal is open (kt_bundle_parse_body):
 *      whatever it accepts is a list of known files, site.yaml among them
 *   2  a passphrase as typed (kt_bundle_passphrase_norm) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_bundle b;
	struct kt_bundle_head h;
	char err[256], pass[128], norm[KT_BUNDLE_PASS_CHARS + 1];

	if (!size)
		return 0;
	switch (data[0] % 3) {
	case 0:
		if (!kt_bundle_parse_head(data + 1, size - 1, &h, err, sizeof(err)) &&
		    h.len > size - 1)
			abort();
		/* Cheap enough for a fuzzer: the head's iterations are at
		 * least KT_BUNDLE_ITER_MIN, so only heads that parse get here
		 * and each costs one PBKDF2. */
		if (!kt_bundle_open(data + 1, size - 1, "0000-0000-0000-0000-0000", &b,
				    err, sizeof(err)))
			abort();
		break;
	case 1:
		memset(&b, 0, sizeof(b));
		if (!kt_bundle_parse_body(data + 1, size - 1, &b, err, sizeof(err))) {
			if (!kt_bundle_find(&b, "site.yaml") || !b.n_files ||
			    b.n_files > KT_BUNDLE_MAX_FILES)
				abort();
			for (size_t i = 0; i < b.n_files; i++)
				if (!kt_bundle_kind(b.files[i].kind->name))
					abort();
		}
		kt_bundle_free(&b);
		break;
	case 2:
		if (size - 1 >= sizeof(pass))
			return 0;
		memcpy(pass, data + 1, size - 1);
		pass[size - 1] = '\0';
		if (!kt_bundle_passphrase_norm(pass, norm) &&
		    strlen(norm) != KT_BUNDLE_PASS_CHARS)
			abort();
		break;
	}
	return 0;
}
