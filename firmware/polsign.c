/* Signed policy pushes (polsign.h). */
#include "polsign.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "fileio.h"
#include "image.h"
#include "jsonf.h"

static const char *const cmd_names[KT_PSCMD_COUNT] = {
	[KT_PSCMD_POLICY] = "policy", [KT_PSCMD_ROLLBACK] = "rollback",
	[KT_PSCMD_DIAGNOSE] = "diagnose", [KT_PSCMD_REBOOT] = "reboot",
};

const char *kt_polsign_cmd_name(enum kt_polsign_cmd c)
{
	return (unsigned)c < KT_PSCMD_COUNT ? cmd_names[c] : NULL;
}

int kt_polsign_cmd_parse(const char *name)
{
	for (int i = 0; i < KT_PSCMD_COUNT; i++)
		if (!strcmp(name, cmd_names[i]))
			return i;
	return -1;
}

int kt_polsign_time_ok(const char *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";

	if (strlen(t) != sizeof(shape) - 1)
		return 0;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? t[i] < '0' || t[i] > '9' : t[i] != shape[i])
			return 0;
	return 1;
}

/* The head's fields for p's command. */
static json_t *head_json(const struct kt_polsign *p, const char *sha_hex)
{
	json_t *h = json_pack("{s:i, s:s, s:s, s:s, s:s}", "format", 1, "site", p->site,
			      "push-id", p->push_id, "created", p->created, "by", p->by);
	int bad = !h;

	switch (p->command) {
	case KT_PSCMD_POLICY:
		/* No "command": an agent from before commands takes it too. */
		bad = bad || json_object_set_new(h, "name", json_string(p->name)) ||
		      json_object_set_new(h, "sha256", json_string(sha_hex)) ||
		      json_object_set_new(h, "confirm-timeout",
					  json_integer(p->confirm_timeout));
		break;
	case KT_PSCMD_ROLLBACK:
		bad = bad || json_object_set_new(h, "generation", json_integer(p->generation));
		break;
	case KT_PSCMD_DIAGNOSE:
		bad = bad || json_object_set_new(h, "log", json_integer(p->log)) ||
		      (p->probe[0] &&
		       (json_object_set_new(h, "probe", json_string(p->probe)) ||
			json_object_set_new(h, "seconds", json_integer(p->seconds))));
		break;
	default:
		break;
	}
	if (!bad && p->command != KT_PSCMD_POLICY)
		bad = json_object_set_new(h, "command",
					  json_string(kt_polsign_cmd_name(p->command)));
	if (bad) {
		json_decref(h);
		return NULL;
	}
	return h;
}

int kt_polsign_make(const uint8_t seed[32], const struct kt_polsign *p,
		    uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
	uint8_t sha[32] = { 0 }, *o;
	char hex[65], *hj;
	json_t *h;
	size_t hl, total, plen = p->command == KT_PSCMD_POLICY ? p->policy_len : 0;
	int r;

	if (!kt_polsign_cmd_name(p->command))
		return kt_errf(err, errlen, -EINVAL, "no such command");
	if (p->command == KT_PSCMD_POLICY && wc_Sha256Hash(p->policy, (word32)plen, sha))
		return kt_errf(err, errlen, -EIO, "SHA-256 failed");
	kt_hex(sha, 32, hex);
	h = head_json(p, hex);
	hj = h ? json_dumps(h, JSON_COMPACT) : NULL;
	json_decref(h);
	if (!hj || (hl = strlen(hj)) > KT_POLSIGN_HEAD_MAX) {
		free(hj);
		return kt_errf(err, errlen, -ENOMEM, "the push's head does not fit");
	}
	total = 16 + hl + plen + KT_IMAGE_SIG;
	if (total > KT_POLSIGN_MAX || !(o = malloc(total))) {
		free(hj);
		return kt_errf(err, errlen, -EFBIG, "a policy of %zu bytes is too large", plen);
	}
	memcpy(o, KT_POLSIGN_MAGIC, 8);
	kt_put_be32(o + 8, (uint32_t)hl);
	kt_put_be32(o + 12, 0);
	memcpy(o + 16, hj, hl);
	if (plen)
		memcpy(o + 16 + hl, p->policy, plen);
	free(hj);
	if ((r = kt_image_sign(o, total - KT_IMAGE_SIG, seed, o + total - KT_IMAGE_SIG))) {
		free(o);
		return kt_errf(err, errlen, r, "signing failed");
	}
	*out = o;
	*out_len = total;
	return 0;
}

/* An integer field in [lo, hi] into *out; absent is `dflt` when dflt >= 0. */
static int head_uint(json_t *h, const char *key, long long lo, long long hi, long long dflt,
		     uint32_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(h, key);

	if (!v && dflt >= 0) {
		*out = (uint32_t)dflt;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return kt_errf(err, errlen, -EBADMSG, "push head: %s must be %lld to %lld", key,
			       lo, hi);
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

/* The fields of the head's command (the common ones are read). */
static int head_command(json_t *h, struct kt_polsign *p, char want[65], char *err,
			size_t errlen)
{
	static const char *const keys[KT_PSCMD_COUNT][12] = {
		[KT_PSCMD_POLICY] = { "format", "site", "push-id", "created", "by", "command",
				      "name", "sha256", "confirm-timeout", NULL },
		[KT_PSCMD_ROLLBACK] = { "format", "site", "push-id", "created", "by",
					"command", "generation", NULL },
		[KT_PSCMD_DIAGNOSE] = { "format", "site", "push-id", "created", "by",
					"command", "log", "probe", "seconds", NULL },
		[KT_PSCMD_REBOOT] = { "format", "site", "push-id", "created", "by", "command",
				      NULL },
	};
	json_t *c = json_object_get(h, "command");
	int cmd = c ? kt_polsign_cmd_parse(json_string_value(c) ?: "") : KT_PSCMD_POLICY;

	if (cmd < 0)
		return kt_errf(err, errlen, -EBADMSG, "push head: no such command");
	p->command = (enum kt_polsign_cmd)cmd;
	if (kt_json_only(h, keys[cmd], "push head", "", err, errlen))
		return -EBADMSG;
	switch (p->command) {
	case KT_PSCMD_POLICY:
		if (kt_json_str(h, "name", p->name, sizeof(p->name), "push head", "", err,
				errlen) ||
		    kt_json_str(h, "sha256", want, 65, "push head", "", err, errlen) ||
		    head_uint(h, "confirm-timeout", 5, 3600, -1, &p->confirm_timeout, err,
			      errlen))
			return -EBADMSG;
		break;
	case KT_PSCMD_ROLLBACK:
		return head_uint(h, "generation", 0, UINT32_MAX, 0, &p->generation, err, errlen);
	case KT_PSCMD_DIAGNOSE:
		if (head_uint(h, "log", 0, KT_POLSIGN_LOG_MAX, 0, &p->log, err, errlen))
			return -EBADMSG;
		if (!json_object_get(h, "probe"))
			return json_object_get(h, "seconds")
			       ? kt_errf(err, errlen, -EBADMSG, "push head: seconds without "
					 "a probe") : 0;
		if (kt_json_str(h, "probe", p->probe, sizeof(p->probe), "push head", "", err,
				errlen))
			return -EBADMSG;
		if (!p->probe[0] || strspn(p->probe, "abcdefghijklmnopqrstuvwxyz"
					   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") !=
		    strlen(p->probe) || !strchr(p->probe, '/'))
			return kt_errf(err, errlen, -EBADMSG, "push head: probe must be "
				       "LINE/PEER");
		return head_uint(h, "seconds", 1, KT_POLSIGN_PROBE_MAX, 3, &p->seconds, err,
				 errlen);
	default:
		break;
	}
	return 0;
}

int kt_polsign_open(const uint8_t *buf, size_t len, const uint8_t pub[32],
		    const char *site, struct kt_polsign *p, char *err, size_t errlen)
{
	uint8_t sha[32];
	char want[65] = "", got[65];
	uint32_t hl;
	json_error_t je;
	json_t *h;
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
	if (!json_is_object(h) || !json_is_integer(json_object_get(h, "format")) ||
	    json_integer_value(json_object_get(h, "format")) != 1 ||
	    kt_json_str(h, "site", p->site, sizeof(p->site), "push head", "", err, errlen) ||
	    kt_json_str(h, "push-id", p->push_id, sizeof(p->push_id), "push head", "", err,
			errlen) ||
	    kt_json_str(h, "created", p->created, sizeof(p->created), "push head", "", err,
			errlen) ||
	    kt_json_str(h, "by", p->by, sizeof(p->by), "push head", "", err, errlen) ||
	    head_command(h, p, want, err, errlen)) {
		if (!err || !*err)
			kt_errf(err, errlen, -EBADMSG, "push head: format 1 with its fields");
		json_decref(h);
		return -EBADMSG;
	}
	json_decref(h);
	if (!kt_polsign_time_ok(p->created))
		return kt_errf(err, errlen, -EBADMSG, "push head: created is not a UTC time "
			       "such as 2026-12-02T07:40:00Z");
	p->policy = buf + 16 + hl;
	p->policy_len = len - 16 - hl - KT_IMAGE_SIG;
	if (p->command != KT_PSCMD_POLICY) {
		if (p->policy_len)
			return kt_errf(err, errlen, -EBADMSG, "push: a %s command carries no "
				       "policy", kt_polsign_cmd_name(p->command));
	} else {
		if (wc_Sha256Hash(p->policy, (word32)p->policy_len, sha))
			return kt_errf(err, errlen, -EIO, "SHA-256 failed");
		kt_hex(sha, 32, got);
		if (strcmp(got, want))
			return kt_errf(err, errlen, r, "push: the policy's SHA-256 is not the "
				       "head's");
	}
	if (strcmp(p->site, site))
		return kt_errf(err, errlen, -EXDEV, "the push is for site %s, not %s",
			       p->site, site);
	return 0;
}

const char *kt_taken_refuses(const struct kt_taken *t, const struct kt_polsign *p,
			     int64_t now, char *why, size_t whylen)
{
	int c = strcmp(p->created, t->newest);
	struct tm tm = { 0 };
	int64_t at;

	if (c < 0)
		return "older than the newest command taken (a replay, or the NOC's clock "
		       "went back)";
	if (!kt_polsign_time_ok(p->created) || !strptime(p->created, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return "its time cannot be read";
	at = (int64_t)timegm(&tm);
	if (at < t->floor) {
		char f[32];

		kt_utc_time((time_t)t->floor, f, sizeof(f));
		snprintf(why, whylen, "signed at %s, before this box's certificate (%s): a "
			 "replay", p->created, f);
		return why;
	}
	if (p->command != KT_PSCMD_POLICY && (at < now - KT_COMMAND_FRESH_S ||
					      at > now + KT_COMMAND_FRESH_S)) {
		snprintf(why, whylen, "signed at %s, %lld s from this box's clock (more than "
			 "%d): too old, or a clock is wrong", p->created, (long long)(now - at),
			 KT_COMMAND_FRESH_S);
		return why;
	}
	for (unsigned i = 0; !c && i < t->n; i++)
		if (!strcmp(t->ids[i], p->push_id))
			return "this command was taken before (a replay?)";
	return NULL;
}

void kt_taken_add(struct kt_taken *t, const struct kt_polsign *p)
{
	if (strcmp(p->created, t->newest) > 0) {
		snprintf(t->newest, sizeof(t->newest), "%s", p->created);
		t->n = 0;
	}
	if (t->n == KT_TAKEN_MAX) {
		/* More than KT_TAKEN_MAX in one second: the oldest make room. */
		memmove(t->ids[0], t->ids[1], sizeof(t->ids[0]) * (KT_TAKEN_MAX - 1));
		t->n--;
	}
	memcpy(t->ids[t->n++], p->push_id, 17);
}
