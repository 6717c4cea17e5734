/* libFuzzer target: firmware images as the box reads them
 * (firmware/image.c, firmware/update.c). The signature is checked before
 * the manifest is parsed, so the input is signed here with a fixed test
 * key to reach the manifest parser.
 *
 * Input: one byte choosing what, then the bytes:
 *   0  a boot-state copy (kt_bootstate_decode): what decodes must encode
 *      back to the same bytes
 *   1  a manifest, signed, through kt_image_parse_head
 *   2  a whole head as it is, unsigned (must be refused: nothing the
 *      fuzzer makes is signed by the key)
 *   3  a boot medium's header (kt_disk_decode): what decodes must
 *      encode back to the same first 160 bytes */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "image.h"
#include "update.h"

static const uint8_t seed[KT_IMAGE_KEY] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pub[KT_IMAGE_KEY], *buf;
	static bool ready;
	struct kt_image im;
	char err[256];

	if (!ready) {
		if (kt_image_public(seed, pub))
			abort();
		buf = malloc(KT_IMAGE_HEADER + KT_IMAGE_MANIFEST_MAX + KT_IMAGE_SIG);
		ready = true;
	}
	if (!size)
		return 0;
	if (data[0] == 0) {
		struct kt_bootstate st;
		uint8_t again[KT_UPDATE_STATE_LEN];

		if (!kt_bootstate_decode(data + 1, size - 1, &st)) {
			kt_bootstate_encode(&st, again);
			if (memcmp(again, data + 1, sizeof(again)))
				abort();
		}
		return 0;
	}
	if (data[0] == 1) {
		size_t m = size - 1;

		if (!m || m > KT_IMAGE_MANIFEST_MAX)
			return 0;
		memcpy(buf, KT_IMAGE_MAGIC, 8);
		buf[8] = (uint8_t)(m >> 24);
		buf[9] = (uint8_t)(m >> 16);
		buf[10] = (uint8_t)(m >> 8);
		buf[11] = (uint8_t)m;
		memset(buf + 12, 0, 4);
		memcpy(buf + KT_IMAGE_HEADER, data + 1, m);
		if (kt_image_sign(buf, KT_IMAGE_HEADER + m, seed, buf + KT_IMAGE_HEADER + m))
			abort();
		if (!kt_image_parse_head(buf, KT_IMAGE_HEADER + m + KT_IMAGE_SIG, pub, &im,
					 err, sizeof(err))) {
			/* What is accepted is sane. */
			if (!im.n_parts || im.n_parts > KT_IMAGE_MAX_PARTS)
				abort();
			for (size_t i = 0; i < im.n_parts; i++)
				if (!kt_image_path_ok(im.parts[i].path))
					abort();
		}
		kt_image_free(&im);
		return 0;
	}
	if (data[0] == 3) {
		struct kt_disk d;
		uint8_t again[KT_DISK_HEADER];

		if (!kt_disk_decode(data + 1, size - 1, &d)) {
			kt_disk_encode(&d, again);
			if (memcmp(again, data + 1, 160))
				abort();
		}
		return 0;
	}
	if (!kt_image_parse_head(data + 1, size - 1, pub, &im, err, sizeof(err)))
		abort();
	kt_image_free(&im);
	return 0;
}
