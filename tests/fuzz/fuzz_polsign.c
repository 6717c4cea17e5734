/* libFuzzer target: a signed policy push as the agent reads it from the
 * broker (firmware/polsign.c). The signature is checked before the head
 * is parsed, so the input is signed here with a fixed test key to reach
 * the head parser; one byte chooses:
 *   0  the bytes as they are (must be refused: nothing the fuzzer makes
 *      is signed by the key, yet a push-id may be read for the refusal)
 *   1  the bytes signed: what opens holds together (a policy inside the
 *      input, a confirm timeout in range, this site's; a command other
 *      than a policy carries none, its numbers in range) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "polsign.h"

static const uint8_t seed[KT_IMAGE_KEY] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pub[KT_IMAGE_KEY];
	static int ready;
	struct kt_polsign p;
	char err[256];
	uint8_t *buf;

	if (!ready) {
		if (kt_image_public(seed, pub))
			abort();
		ready = 1;
	}
	if (!size || size > 65536)
		return 0;
	if (data[0] % 2 == 0) {
		if (!kt_polsign_open(data + 1, size - 1, pub, "site1", &p, err, sizeof(err)))
			abort();
		if (p.push_id[0] && strlen(p.push_id) != 16)
			abort();
		return 0;
	}
	if (!(buf = malloc(size - 1 + KT_IMAGE_SIG)))
		return 0;
	memcpy(buf, data + 1, size - 1);
	if (!kt_image_sign(buf, size - 1, seed, buf + size - 1) &&
	    !kt_polsign_open(buf, size - 1 + KT_IMAGE_SIG, pub, "site1", &p, err, sizeof(err)) &&
	    (p.policy < buf || p.policy + p.policy_len > buf + size - 1 ||
	     strcmp(p.site, "site1") || !kt_polsign_cmd_name(p.command) ||
	     !kt_polsign_time_ok(p.created) ||
	     (p.command == KT_PSCMD_POLICY && (p.confirm_timeout < 5 || p.confirm_timeout > 3600)) ||
	     (p.command != KT_PSCMD_POLICY && p.policy_len) || p.log > KT_POLSIGN_LOG_MAX ||
	     (p.probe[0] && (!strchr(p.probe, '/') || p.seconds < 1 ||
			     p.seconds > KT_POLSIGN_PROBE_MAX))))
		abort();
	free(buf);
	return 0;
}
