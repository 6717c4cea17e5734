/* kyotenctl <-> kyotend over a UNIX stream socket.
 *
 * The client sends one fixed-size request; the daemon answers with one
 * JSON document and closes. The daemon never parses text from the socket:
 * the request is a magic, a command number and an argument. */
#ifndef KT_CTL_H
#define KT_CTL_H

#include <stdint.h>

#define KT_CTL_MAGIC 0x4b595431u	/* "KYT1" */
#define KT_CTL_TIMEOUT_MS 2000

enum kt_ctl_cmd {
	KT_CTL_STATUS = 1,
	KT_CTL_LOG,		/* arg: newest N entries, 0 for all kept */
	KT_CTL_RELOAD,
	KT_CTL_CMD_COUNT
};

struct kt_ctl_req {
	uint32_t magic;
	uint16_t cmd;
	uint16_t flags;		/* none defined yet; must be 0 */
	uint32_t arg;
};

#endif
