/* Bidirectional Forwarding Detection, asynchronous mode (RFC 5880), one
 * session per tunnel path.
 *
 * OS-independent, as the tunnel device is: a received control packet
 * comes in through kt_bfd_receive (the caller has already demultiplexed
 * it to the session, by path, and passes the TTL it arrived with for
 * RFC 5881's check); packets leave through ops->send; timers run on the
 * caller's kt_loop, so tests drive the session with a fake clock.
 *
 * What it does, by RFC 5880 section:
 *   6.2   the state machine: AdminDown, Down, Init, Up (three-way)
 *   6.5   poll sequences: any change of the advertised intervals polls,
 *         and the old values stay in force until the Final comes back
 *   6.7   authentication: simple password, keyed and meticulous keyed
 *         SHA1 (no MD5: it is not on the CRYPTREC list and nothing here
 *         needs it)
 *   6.8.1 the state variables, named as the RFC names them
 *   6.8.3 timer negotiation; at least one second between packets while
 *         the session is not Up (slow transmit while down)
 *   6.8.4 the detection time: remote multiplier x max(our required RX,
 *         the remote's desired TX)
 *   6.8.6 every reception check, each counted by its own reason
 *   6.8.7 transmission with 75-100 % jitter (75-90 % at multiplier 1),
 *         a Final at once for every Poll, no periodic packets to a
 *         remote that asks for none (RequiredMinRx 0, or demand mode)
 * Not implemented: the echo function (we advertise a required echo RX of
 * zero, which tells the peer not to send echoes) and our own demand mode.
 *
 * Round-trip time: a Poll must be answered with a Final "as soon as
 * practicable" (6.8.7), so the time from our Poll to its Final is the
 * path's RTT plus the peer's reaction time. kt_bfd_probe starts such a
 * poll; path quality (jitter, loss) is built on these samples and on
 * the received packets' spacing by the caller. */
#ifndef KT_BFD_H
#define KT_BFD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

/* --- wire format (RFC 5880 section 4) --- */

#define KT_BFD_VERSION 1
#define KT_BFD_HDR_LEN 24
#define KT_BFD_MAX_LEN (KT_BFD_HDR_LEN + 28)	/* with a SHA1 section */
/* RFC 5881: destination port, and the range the source port comes from. */
#define KT_BFD_PORT 3784
#define KT_BFD_SRC_PORT_MIN 49152
#define KT_BFD_SRC_PORT_MAX 65535
#define KT_BFD_TTL 255

/* Flags of the second byte, after the two state bits. */
#define KT_BFD_F_POLL 0x20
#define KT_BFD_F_FINAL 0x10
#define KT_BFD_F_CPI 0x08		/* control plane independent */
#define KT_BFD_F_AUTH 0x04
#define KT_BFD_F_DEMAND 0x02
#define KT_BFD_F_MULTIPOINT 0x01

enum kt_bfd_state {
	KT_BFD_ADMIN_DOWN = 0,
	KT_BFD_DOWN = 1,
	KT_BFD_INIT = 2,
	KT_BFD_UP = 3,
};

enum kt_bfd_diag {
	KT_BFD_DIAG_NONE = 0,
	KT_BFD_DIAG_TIME_EXPIRED = 1,
	KT_BFD_DIAG_ECHO_FAILED = 2,
	KT_BFD_DIAG_NEIGHBOR_DOWN = 3,
	KT_BFD_DIAG_FORWARDING_RESET = 4,
	KT_BFD_DIAG_PATH_DOWN = 5,
	KT_BFD_DIAG_CONCAT_PATH_DOWN = 6,
	KT_BFD_DIAG_ADMIN_DOWN = 7,
	KT_BFD_DIAG_REVERSE_CONCAT_PATH_DOWN = 8,
	KT_BFD_DIAG_COUNT
};

enum kt_bfd_auth_type {
	KT_BFD_AUTH_NONE = 0,
	KT_BFD_AUTH_SIMPLE = 1,
	KT_BFD_AUTH_KEYED_MD5 = 2,		/* refused */
	KT_BFD_AUTH_METICULOUS_MD5 = 3,		/* refused */
	KT_BFD_AUTH_KEYED_SHA1 = 4,
	KT_BFD_AUTH_METICULOUS_SHA1 = 5,
};

#define KT_BFD_SHA1_LEN 20
#define KT_BFD_PASSWORD_MAX 16

/* A control packet, as parsed. */
struct kt_bfd_packet {
	uint8_t diag, state, flags, detect_mult, length;
	uint32_t my_discr, your_discr;
	uint32_t desired_min_tx, required_min_rx, required_min_echo_rx;	/* µs */
	/* The authentication section, when F_AUTH is set: */
	uint8_t auth_type, auth_len, auth_key_id;
	uint32_t auth_seq;
	const uint8_t *auth_data;	/* password, or the received digest */
	size_t auth_data_len;
};

/* Why a received packet was discarded (6.8.6, and RFC 5881 section 5). */
enum kt_bfd_bad {
	KT_BFD_BAD_VERSION,		/* not version 1 */
	KT_BFD_BAD_LENGTH,		/* shorter than its sections, longer than the datagram */
	KT_BFD_BAD_DETECT_MULT,		/* detect multiplier 0 */
	KT_BFD_BAD_MULTIPOINT,		/* M bit set */
	KT_BFD_BAD_MY_DISCR,		/* my discriminator 0 */
	KT_BFD_BAD_YOUR_DISCR,		/* not ours, or 0 in a state other than (Admin)Down */
	KT_BFD_BAD_AUTH_SECTION,	/* malformed authentication section */
	KT_BFD_BAD_AUTH_MISMATCH,	/* A bit or type not what the session uses */
	KT_BFD_BAD_AUTH,		/* wrong key id, password or digest */
	KT_BFD_BAD_AUTH_SEQ,		/* sequence number out of the window (replay) */
	KT_BFD_BAD_TTL,			/* not 255: sent from further than one hop */
	KT_BFD_BAD_FLAGS,		/* Poll and Final together */
	KT_BFD_BAD_COUNT
};

const char *kt_bfd_state_name(unsigned state);
const char *kt_bfd_diag_name(unsigned diag);
const char *kt_bfd_bad_name(unsigned bad);
/* "none", "simple", "keyed-sha1", "meticulous-sha1"; NULL for others. */
const char *kt_bfd_auth_name(unsigned type);
/* The inverse, for configuration files; -1 when unknown or refused. */
int kt_bfd_auth_parse(const char *name);

/* Checks what 6.8.6 checks before a session is chosen (version, lengths,
 * multiplier, multipoint, discriminators, flags, the authentication
 * section's own length). 0, or -(1 + enum kt_bfd_bad). */
int kt_bfd_parse(const uint8_t *buf, size_t len, struct kt_bfd_packet *p);

/* --- a session --- */

struct kt_bfd_auth {
	uint8_t type;			/* enum kt_bfd_auth_type */
	uint8_t key_id;
	uint8_t key_len;		/* 1..16 (simple), 1..20 (SHA1) */
	uint8_t key[KT_BFD_SHA1_LEN];	/* wiped by kt_bfd_uninit */
};

struct kt_bfd_config {
	uint32_t desired_min_tx_us;	/* while Up */
	uint32_t required_min_rx_us;
	uint8_t detect_mult;
	struct kt_bfd_auth auth;
};

/* Lower bounds the session enforces on its configuration: 10 ms, as the
 * engine's loop keeps time in milliseconds. */
#define KT_BFD_MIN_INTERVAL_US 10000
#define KT_BFD_SLOW_TX_US 1000000	/* 6.8.3: while not Up */

/* 0, or -EINVAL with *why saying which field is wrong. */
int kt_bfd_config_check(const struct kt_bfd_config *c, const char **why);

struct kt_bfd_session;

struct kt_bfd_ops {
	/* Sends one control packet; the transport adds UDP/IP with TTL 255. */
	void (*send)(void *arg, const uint8_t *pkt, size_t len);
	/* The session changed state (after the fact). */
	void (*state)(void *arg, struct kt_bfd_session *s, uint8_t old_state,
		      uint8_t new_state, uint8_t diag);
	/* A Poll/Final round trip completed: rtt_us. May be NULL. */
	void (*rtt)(void *arg, struct kt_bfd_session *s, uint32_t rtt_us);
	/* A microsecond clock for round trips; NULL: the loop's
	 * milliseconds (what tests with a fake clock want). */
	uint64_t (*clock_us)(void);
};

struct kt_bfd_stats {
	uint64_t rx, tx, rx_bad[KT_BFD_BAD_COUNT];
	uint64_t ups, downs;		/* transitions into Up, out of Up */
	uint64_t polls, finals_rx, finals_tx;
	uint64_t last_rx_ms;		/* loop time of the last valid packet */
	uint64_t changed_ms;		/* loop time of the last state change */
};

struct kt_bfd_session {
	struct kt_loop *loop;
	const struct kt_bfd_ops *ops;
	void *arg;
	struct kt_bfd_config cfg;

	/* RFC 5880 6.8.1 */
	uint8_t session_state, remote_session_state;
	uint32_t local_discr, remote_discr;
	uint8_t local_diag;
	uint32_t desired_min_tx;	/* advertised now */
	uint32_t required_min_rx;	/* advertised now */
	uint32_t remote_min_rx;
	uint32_t remote_desired_min_tx;
	uint8_t remote_detect_mult;
	uint8_t remote_diag;		/* of the last valid packet: why the peer
					 * says what it says */
	bool remote_demand;
	bool auth_seq_known;
	uint32_t rcv_auth_seq, xmit_auth_seq;

	/* In force until a poll sequence ends (6.8.3): the interval we send
	 * at and the RX interval the detection time is computed from. */
	uint32_t tx_in_force, rx_in_force;
	bool poll;			/* a poll sequence is running */
	bool poll_wanted;		/* start one when the current ends */
	bool poll_sent;			/* its first Poll has gone out ... */
	uint64_t poll_sent_us;		/* ... then */
	uint32_t detect_us;		/* 0: no packet yet */
	unsigned idle_detects;		/* detection times with nothing received */
	uint32_t rnd;			/* jitter (xorshift; not a secret) */

	struct kt_timer tx_timer, detect_timer;
	struct kt_bfd_stats stats;
};

/* Starts a session in Down, sending slowly at once. local_discr: nonzero,
 * unique among the caller's sessions; seed: jitter. */
int kt_bfd_init(struct kt_bfd_session *s, struct kt_loop *loop,
		const struct kt_bfd_config *cfg, uint32_t local_discr,
		uint32_t seed, const struct kt_bfd_ops *ops, void *arg);
void kt_bfd_uninit(struct kt_bfd_session *s);
/* New intervals or multiplier (the authentication stays): polls if Up. */
int kt_bfd_reconfigure(struct kt_bfd_session *s, const struct kt_bfd_config *cfg);
/* admin: true takes the session to AdminDown (diag AdminDown; the peer
 * sees Down), false back to Down. */
void kt_bfd_admin(struct kt_bfd_session *s, bool down);
/* The path is known to be down by other means (the peer said so over
 * another path, netstack/pathsig.h): the session goes Down with diag, as
 * when the detection time runs out, and comes Up again by the three-way
 * handshake. True if it was Init or Up; an AdminDown session is left. */
bool kt_bfd_signal_down(struct kt_bfd_session *s, uint8_t diag);
/* A control packet received on this session's path, with its IP TTL.
 * 0, or -(1 + enum kt_bfd_bad) when discarded (and counted). */
int kt_bfd_receive(struct kt_bfd_session *s, const uint8_t *buf, size_t len,
		   unsigned ttl);
/* Starts a poll sequence to measure the round trip (ops->rtt) unless one
 * runs; false if the session is not Up. */
bool kt_bfd_probe(struct kt_bfd_session *s);
/* The detection time in force, in µs (0 before the first packet). */
uint32_t kt_bfd_detect_us(const struct kt_bfd_session *s);
/* The interval between our periodic packets before jitter, µs (0: none). */
uint32_t kt_bfd_tx_interval_us(const struct kt_bfd_session *s);

/* Builds the packet the session would send now (tests, fuzzing). */
size_t kt_bfd_build(struct kt_bfd_session *s, uint8_t flags, uint8_t *buf);

#endif
