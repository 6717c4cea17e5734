/* A command from the NOC (docs/noc.md, "Pushing a policy" and "Commands
 * to a site"): a segment policy for one site, or a rollback, diagnostic
 * or reboot, signed with the NOC's Ed25519 policy key (kyoten-noc ca
 * init), checked by the box's agent before anything else is read.
 *
 *   0    8 bytes  "KYTNPSH1"
 *   8    4 bytes  head length H, big-endian (1 .. 4096)
 *   12   4 bytes  zero
 *   16   H bytes  the head, JSON:
 *                 { "format": 1, "site": "site1", "push-id": "<16 hex>",
 *                   "created": "2026-12-02T07:40:00Z", "by": "operator",
 *                   "name": "beta.yaml", "sha256": "<the policy's>",
 *                   "confirm-timeout": 30 }
 *                 "command" is "policy" when it is absent (the first NOC
 *                 tools sent none). The other commands have no name,
 *                 sha256 or confirm-timeout and no policy (P = 0):
 *                 { ..., "command": "rollback", "generation": 0 }
 *                 { ..., "command": "diagnose", "log": 50,
 *                   "probe": "closed/hub1", "seconds": 3 }
 *                 { ..., "command": "reboot" }
 *   16+H P bytes  the policy file
 *   end  64       Ed25519 signature over everything before it
 *
 * "created" (UTC, 2026-12-02T07:40:00Z exactly) orders commands: the
 * agent takes none older than the newest it took (a replay). */
#ifndef KT_POLSIGN_H
#define KT_POLSIGN_H

#include <stddef.h>
#include <stdint.h>

#define KT_POLSIGN_MAGIC "KYTNPSH1"
#define KT_POLSIGN_HEAD_MAX 4096u
#define KT_POLSIGN_MAX (4u * 1024 * 1024)

enum kt_polsign_cmd {
	KT_PSCMD_POLICY = 0,
	KT_PSCMD_ROLLBACK,
	KT_PSCMD_DIAGNOSE,
	KT_PSCMD_REBOOT,
	KT_PSCMD_COUNT
};

#define KT_POLSIGN_LOG_MAX 500u		/* diagnose: log entries at most */
#define KT_POLSIGN_PROBE_MAX 10u	/* diagnose: seconds of probing at most */

struct kt_polsign {
	enum kt_polsign_cmd command;
	char site[32];
	char push_id[17];
	char created[32];
	char by[64];
	char name[128];
	uint32_t confirm_timeout;	/* policy: seconds, 5 .. 3600 */
	const uint8_t *policy;		/* policy: into the caller's buffer */
	size_t policy_len;
	uint32_t generation;		/* rollback: 0 the last confirmed one */
	uint32_t log;			/* diagnose: newest log entries, 0 .. LOG_MAX */
	char probe[64];			/* diagnose: "LINE/PEER" or "" */
	uint32_t seconds;		/* diagnose: probing, 1 .. PROBE_MAX */
};

/* "policy", "rollback", ...; NULL for none of them. */
const char *kt_polsign_cmd_name(enum kt_polsign_cmd c);
int kt_polsign_cmd_parse(const char *name);	/* -1 for none */
/* A "created" time as the head must have it. */
int kt_polsign_time_ok(const char *t);

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

/* The commands a box took, so that none is taken twice: the newest one's
 * time, the IDs taken in that second, and a floor (the box's
 * certificate's notBefore) below which nothing is taken. */
#define KT_TAKEN_MAX 16			/* IDs of one second kept */
#define KT_COMMAND_FRESH_S 600		/* a command's age, by the box's clock */

struct kt_taken {
	char newest[32];
	char ids[KT_TAKEN_MAX][17];
	unsigned n;
	int64_t floor;
};

/* NULL when p may be taken at `now`, else why not (in why, or a constant
 * string): on another command's topic is the caller's to check. Refused:
 * older than the newest taken; the same second and taken; signed before
 * the floor; a command other than a policy signed more than
 * KT_COMMAND_FRESH_S from now. */
const char *kt_taken_refuses(const struct kt_taken *t, const struct kt_polsign *p,
			     int64_t now, char *why, size_t whylen);
/* p taken (the caller saves t before it acts on p). */
void kt_taken_add(struct kt_taken *t, const struct kt_polsign *p);

#endif
