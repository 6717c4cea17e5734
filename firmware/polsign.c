/* Signed policy pushes (polsign.h). */
#include "polsign.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "fileio.h"
#include "image.h"
#include "jsonf.h"

int kt_polsign_make(const uint8_t seed[32], const struct kt_polsign *p,
		    uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
	uint8_t sha[32], *o;
	char hex[65], *hj;
	json_t *h;
	size_t hl, total;
	int r;

	if (wc_Sha256Hash(p->policy, (word32)p->policy_len, sha))
		return kt_errf(err, errlen, -EIO, "SHA-256 failed");
	kt_hex(sha, 32, hex);
	h = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "format", 1, "site",
		      p->site, "push-id", p->push_id, "created", p->created, "by", p->by,
		      "name", p->name, "sha256", hex, "confirm-timeout", (int)p->confirm_timeout);
	hj = h ? json_dumps(h, JSON_COMPACT) : NULL;
	json_decref(h);
	if (!hj || (hl = strlen(hj)) > KT_POLSIGN_HEAD_MAX) {
		free(hj);
		return kt_errf(err, errlen, -ENOMEM, "the push's head does not fit");
	}
	total = 16 + hl + p->policy_len + KT_IMAGE_SIG;
	if (total > KT_POLSIGN_MAX || !(o = malloc(total))) {
		free(hj);
		return kt_errf(err, errlen, -EFBIG, "a policy of %zu bytes is too large",
			       p->policy_len);
	}
	memcpy(o, KT_POLSIGN_MAGIC, 8);
	kt_put_be32(o + 8, (uint32_t)hl);
	kt_put_be32(o + 12, 0);
	memcpy(o + 16, hj, hl);
	memcpy(o + 16 + hl, p->policy, p->policy_len);
	free(hj);
	if ((r = kt_image_sign(o, total - KT_IMAGE_SIG, seed, o + total - KT_IMAGE_SIG))) {
		free(o);
		return kt_errf(err, errlen, r, "signing failed");
	}
	*out = o;
	*out_len = total;
	return 0;
}

int kt_polsign_open(const uint8_t *buf, size_t len, const uint8_t pub[32],
		    const char *site, struct kt_polsign *p, char *err, size_t errlen)
{
	static const char *const keys[] = { "format", "site", "push-id", "created", "by",
		"name", "sha256", "confirm-timeout", NULL };
	uint8_t sha[32];
	char want[65], got[65];
	uint32_t hl;
	json_error_t je;
	json_t *h, *v;
	int r = -EBADMSG;

	memset(p, 0, sizeof(*p));
	if (err && errlen)
		err[0] = '\0';
	if (len < 16 + 1 + KT_IMAGE_SIG || memcmp(buf, KT_POLSIGN_MAGIC, 8))
		return kt_errf(err, errlen, -EBADMSG, "not a signed policy push");
	hl = kt_get_be32(buf + 8);
	/* The signature before anything in the message is believed. */
	if (kt_image_verify(buf, len - KT_IMAGE_SIG, buf + len - KT_IMAGE_SIG, pub)) {
		/* Only its push-id is read, so that the refusal can say which
		 * push it answers; nothing else of it is used. */
		if (hl && hl <= KT_POLSIGN_HEAD_MAX && hl <= len - 16 - KT_IMAGE_SIG) {
			json_t *u = json_loadb((const char *)buf + 16, hl, 0, NULL);
			const char *id = json_string_value(json_object_get(u, "push-id"));

			if (id && strlen(id) == 16 && strspn(id, "0123456789abcdef") == 16)
				memcpy(p->push_id, id, 17);
			json_decref(u);
		}
		return kt_errf(err, errlen, -EKEYREJECTED, "the signature is not the "
			       "NOC's policy key's");
	}
	if (!hl || hl > KT_POLSIGN_HEAD_MAX || hl > len - 16 - KT_IMAGE_SIG)
		return kt_errf(err, errlen, -EBADMSG, "push: a head of %u bytes", hl);
	if (!(h = json_loadb((const char *)buf + 16, hl, JSON_REJECT_DUPLICATES, &je)))
		return kt_errf(err, errlen, -EBADMSG, "push head: not JSON (%s)", je.text);
	if (!json_is_object(h) || kt_json_only(h, keys, "push head", "", err, errlen) ||
	    !json_is_integer(json_object_get(h, "format")) ||
	    json_integer_value(json_object_get(h, "format")) != 1 ||
	    kt_json_str(h, "site", p->site, sizeof(p->site), "push head", "", err, errlen) ||
	    kt_json_str(h, "push-id", p->push_id, sizeof(p->push_id), "push head", "", err,
			errlen) ||
	    kt_json_str(h, "created", p->created, sizeof(p->created), "push head", "", err,
			errlen) ||
	    kt_json_str(h, "by", p->by, sizeof(p->by), "push head", "", err, errlen) ||
	    kt_json_str(h, "name", p->name, sizeof(p->name), "push head", "", err, errlen) ||
	    kt_json_str(h, "sha256", want, sizeof(want), "push head", "", err, errlen) ||
	    !json_is_integer(v = json_object_get(h, "confirm-timeout")) ||
	    json_integer_value(v) < 5 || json_integer_value(v) > 3600) {
		if (!err || !*err)
			kt_errf(err, errlen, -EBADMSG, "push head: format 1 with its fields, "
				"confirm-timeout 5 to 3600");
		json_decref(h);
		return -EBADMSG;
	}
	p->confirm_timeout = (uint32_t)json_integer_value(v);
	json_decref(h);
	p->policy = buf + 16 + hl;
	p->policy_len = len - 16 - hl - KT_IMAGE_SIG;
	if (wc_Sha256Hash(p->policy, (word32)p->policy_len, sha))
		return kt_errf(err, errlen, -EIO, "SHA-256 failed");
	kt_hex(sha, 32, got);
	if (strcmp(got, want))
		return kt_errf(err, errlen, r, "push: the policy's SHA-256 is not the head's");
	if (strcmp(p->site, site))
		return kt_errf(err, errlen, -EXDEV, "the push is for site %s, not %s",
			       p->site, site);
	return 0;
}
