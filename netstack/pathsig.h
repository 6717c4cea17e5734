/* Path signals: what one end of the tunnels tells the other about a path
 * that the other cannot see fail yet.
 *
 * A site notices the moment a line loses its carrier (rtnetlink); the
 * hub's own line still has carrier, so without being told it learns only
 * when BFD's detection time runs out (150 ms on a closed line), and its
 * traffic to the site is lost until then. So the site says so at once,
 * over its other paths to the same hub: "the path between us that ends
 * at your address A is down". The hub takes that path's BFD session
 * Down (diagnostic "Neighbor Signaled Session Down") and fails over as
 * it would on a detection timeout.
 *
 * The signal is an inner packet of the tunnel, not a UDP datagram: it is
 * authenticated by the path's keypair like any data (so only the peer
 * itself can say anything about its paths), needs no port of its own in
 * the segment policy, and its first four bits, 0, are no IP version, so
 * a peer that is not Kyoten drops it as a packet it cannot route.
 *
 *   0      format (high 4 bits, 0) and version (low 4 bits, 1)
 *   1      type: 1 path down
 *   2      reason: 1 carrier loss, 2 administratively down
 *   3      address family of A: 4 or 6
 *   4..7   sequence number, big-endian (the sender's, for the logs)
 *   8..23  A: 4 bytes then 12 zero bytes for IPv4, or 16 for IPv6
 *   24..31 zero (reserved; 32 bytes is what the tunnel's padding to a
 *          multiple of 16 would make of it anyway, so the receiver sees
 *          exactly what was sent)
 *
 * Every field is checked: a signal that is not exactly this is refused
 * with the reason, counted, and changes nothing. */
#ifndef KT_PATHSIG_H
#define KT_PATHSIG_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define KT_PATHSIG_LEN 32
#define KT_PATHSIG_FORMAT 0x01		/* format 0, version 1 */

enum kt_pathsig_type {
	KT_PATHSIG_DOWN = 1,
};

enum kt_pathsig_reason {
	KT_PATHSIG_CARRIER = 1,
	KT_PATHSIG_ADMIN = 2,
};

/* Why a signal was refused (kt_pathsig_parse returns the negative). */
enum kt_pathsig_bad {
	KT_PATHSIG_BAD_LENGTH = 1,
	KT_PATHSIG_BAD_VERSION,
	KT_PATHSIG_BAD_TYPE,
	KT_PATHSIG_BAD_REASON,
	KT_PATHSIG_BAD_FAMILY,
	KT_PATHSIG_BAD_PADDING,
	KT_PATHSIG_BAD_ADDRESS,		/* unspecified, multicast */
	KT_PATHSIG_BAD_COUNT
};

struct kt_pathsig {
	uint8_t type, reason;		/* enum kt_pathsig_type, _reason */
	uint32_t seq;
	struct kt_addr addr;		/* the receiver's end of the path */
};

/* Whether an inner packet is one (its first four bits are 0). */
static inline int kt_pathsig_is(const uint8_t *pkt, size_t len)
{
	return len > 0 && pkt[0] >> 4 == 0;
}

/* Writes the signal to out (KT_PATHSIG_LEN bytes); 0, or -EINVAL if a
 * field is out of range. */
int kt_pathsig_build(const struct kt_pathsig *sig, uint8_t out[KT_PATHSIG_LEN]);
/* 0 and *sig filled, or -enum kt_pathsig_bad (*sig untouched). */
int kt_pathsig_parse(const uint8_t *buf, size_t len, struct kt_pathsig *sig);
const char *kt_pathsig_bad_name(unsigned bad);
const char *kt_pathsig_reason_name(unsigned reason);

#endif
