/* kyotenctl <-> kyotend over a UNIX stream socket.
 *
 * The client sends one fixed-size request; the daemon answers with one
 * JSON document and closes. The daemon never parses text from the socket:
 * the request is a magic, a command number and an argument; the policy
 * commands add one fixed-size struct kt_ctl_policy, and `policy apply`
 * (and `policy diff` against a file) passes the policy file as an open
 * descriptor (SCM_RIGHTS with the request's first bytes), so that the
 * daemon reads only what the caller could read. */
#ifndef KT_CTL_H
#define KT_CTL_H

#include <stdint.h>

#define KT_CTL_MAGIC 0x4b595431u	/* "KYT1" */
#define KT_CTL_TIMEOUT_MS 2000

enum kt_ctl_cmd {
	KT_CTL_STATUS = 1,
	KT_CTL_LOG,		/* arg: newest N entries, 0 for all kept */
	KT_CTL_RELOAD,
	/* Followed by struct kt_ctl_policy (docs/policy.md, "In kyotend"). */
	KT_CTL_POLICY_APPLY,	/* a descriptor of the file */
	KT_CTL_POLICY_CONFIRM,
	KT_CTL_POLICY_ROLLBACK,	/* gen_a: 0 the previous confirmed one */
	KT_CTL_POLICY_SHOW,	/* gen_a: 0 the running one */
	KT_CTL_POLICY_HISTORY,
	KT_CTL_POLICY_DIFF,	/* gen_a, gen_b (0: defaults) or a descriptor */
	/* Restart the box (the sim board: kyotend restarts itself), after
	 * the answer has gone out. */
	KT_CTL_REBOOT,
	KT_CTL_CMD_COUNT
};

#define KT_CTL_POL_NAME_MAX 256		/* bytes, NUL included */
#define KT_CTL_POL_COMMENT_MAX 128

enum {
	KT_CTL_POL_CONFIRMED = 1u << 0,	/* apply as confirmed at once */
	KT_CTL_POL_FILE = 1u << 1,	/* a descriptor comes with the request */
	KT_CTL_POL_OPTIONS = (1u << 2) - 1
};

/* Text fields are NUL-terminated UTF-8 without control characters; the
 * daemon checks them and refuses the request otherwise. */
struct kt_ctl_policy {
	uint32_t gen_a, gen_b;
	uint32_t timeout_s;		/* apply: seconds to confirm, 0 the default */
	uint32_t options;		/* KT_CTL_POL_* */
	char name[KT_CTL_POL_NAME_MAX];	/* the file's name, for people */
	char comment[KT_CTL_POL_COMMENT_MAX];	/* apply: why (-m) */
};

static inline int kt_ctl_has_policy_body(uint16_t cmd)
{
	return cmd >= KT_CTL_POLICY_APPLY && cmd <= KT_CTL_POLICY_DIFF;
}

struct kt_ctl_req {
	uint32_t magic;
	uint16_t cmd;
	uint16_t flags;		/* none defined yet; must be 0 */
	uint32_t arg;
};

#endif
