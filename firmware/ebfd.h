/* BFD on the engine's tunnel paths: one netstack/bfd.h session per peer
 * of a device, over the two sockets the parent opened on the device's
 * TUN interface (firmware/tunnels.c): what the session sends is routed
 * by the kernel into that interface and so encrypted on that path alone,
 * and what the peer sends comes back out of it.
 *
 * A site's device has one peer (its hub); a hub's device has a peer per
 * site, told apart by the inner source address (the site's tunnel
 * address), as RFC 5881 says for packets whose Your Discriminator is 0.
 *
 * Once a second each Up path sends a Poll to measure its round trip;
 * the last EBFD_WINDOW of these are kept for the path's quality (RTT,
 * jitter, probes not answered within the second). */
#ifndef KT_EBFD_H
#define KT_EBFD_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "bfd.h"
#include "loop.h"
#include "msg.h"

#define EBFD_WINDOW 30		/* probes, one a second */

struct ebfd_dev;

struct ebfd_path {
	struct kt_bfd_session s;
	struct ebfd_dev *dev;
	uint32_t peer;			/* the parent's peer index */
	struct kt_addr addr;		/* the peer's tunnel address */
	bool probing;			/* a probe waits for its Final */
	uint32_t rtt[EBFD_WINDOW];	/* µs; UINT32_MAX: not answered */
	unsigned head, n;
	/* Path signals over this path (firmware/etun.c). */
	uint32_t sig_tx, sig_rx, sig_bad, sig_ignored;
};

struct ebfd_dev {
	int rx_fd, tx_fd;		/* -1: none */
	struct kt_loop *loop;
	struct kt_fd rx;
	struct ebfd_path *paths;
	uint32_t n_paths;
	uint32_t device;		/* index in the running set */
	uint64_t foreign;		/* from no peer's address */
	uint64_t send_errors;
};

/* report: a path changed state (the message's generation is the
 * caller's to fill in). */
void ebfd_init(void (*report)(struct kt_msg_bfd_state *m));
/* Starts a session per peer; takes neither descriptor (the caller closes
 * them after ebfd_stop). 0 or -errno; nothing runs on failure. */
int ebfd_start(struct ebfd_dev *b, struct kt_loop *loop, uint32_t device,
	       const struct kt_bfd_config *cfg, const struct kt_addr *peers,
	       uint32_t n);
void ebfd_stop(struct ebfd_dev *b);
/* Once a second: the round-trip probes. */
void ebfd_tick(struct ebfd_dev *b);
/* The path's BFD counters and quality into a counters message. */
void ebfd_fill(const struct ebfd_dev *b, uint32_t peer, struct kt_msg_tun_stats *st);
/* What a received datagram does (also the fuzzing entry point). */
void ebfd_input(struct ebfd_dev *b, const uint8_t *buf, size_t len,
		const struct kt_addr *from, unsigned ttl);

#endif
