/* A segment policy pushed by the NOC (docs/noc.md, "Pushing a policy"):
 * the policy file for one site, signed with the NOC's Ed25519 policy
 * key (kyoten-noc ca init), checked by the box's agent before anything
 * else is read.
 *
 *   0    8 bytes  "KYTNPSH1"
 *   8    4 bytes  head length H, big-endian (1 .. 4096)
 *   12   4 bytes  zero
 *   16   H bytes  the head, JSON:
 *                 { "format": 1, "site": "site1", "push-id": "<16 hex>",
 *                   "created": "2026-12-02T07:40:00Z", "by": "operator",
 *                   "name": "beta.yaml", "sha256": "<the policy's>",
 *                   "confirm-timeout": 30 }
 *   16+H P bytes  the policy file
 *   end  64       Ed25519 signature over everything before it */
#ifndef KT_POLSIGN_H
#define KT_POLSIGN_H

#include <stddef.h>
#include <stdint.h>

#define KT_POLSIGN_MAGIC "KYTNPSH1"
#define KT_POLSIGN_HEAD_MAX 4096u
#define KT_POLSIGN_MAX (4u * 1024 * 1024)

struct kt_polsign {
	char site[32];
	char push_id[17];
	char created[32];
	char by[64];
	char name[128];
	uint32_t confirm_timeout;	/* seconds, 5 .. 3600 */
	const uint8_t *policy;		/* into the caller's buffer */
	size_t policy_len;
};

/* Signs: *out malloc'd. */
int kt_polsign_make(const uint8_t seed[32], const struct kt_polsign *p,
		    uint8_t **out, size_t *out_len, char *err, size_t errlen);
/* Checks the signature by pub first, then the head, the policy's hash
 * and that it is for `site`: 0, -EKEYREJECTED (signature), -EBADMSG
 * (format), -EXDEV (another site's), err saying which. A refused push's
 * push-id (if it has one that looks like one) is left in p->push_id,
 * unverified, for the refusal to name. */
int kt_polsign_open(const uint8_t *buf, size_t len, const uint8_t pub[32],
		    const char *site, struct kt_polsign *p, char *err, size_t errlen);

#endif
