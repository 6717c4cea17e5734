/* Linux I/O for a tunnel device: a TUN interface for the inner packets
 * and UDP sockets (one per line, each bound to that line's interface so
 * that every path really leaves through its own line).
 *
 * Opening the TUN and binding sockets to an interface need privileges:
 * kt_tun_open and kt_udp_open run in the parent, which passes the
 * descriptors to the engine; kt_tunio_* runs in the engine. */
#ifndef KT_TUNIO_H
#define KT_TUNIO_H

#include <net/if.h>

#include "device.h"
#include "loop.h"

#define KT_TUNIO_MAX_LINES 4
#define KT_TUNIO_BATCH 32		/* datagrams per recvmmsg/sendmmsg */

/* Creates (or attaches to) TUN interface `name`, non-blocking; returns
 * the descriptor or -errno. */
int kt_tun_open(const char *name);
/* A non-blocking UDP socket on `port` (0: any), bound to interface
 * `ifname` unless NULL; family AF_INET or AF_INET6. */
int kt_udp_open(int family, uint16_t port, const char *ifname);

struct kt_tunio_batch {
	struct mmsghdr hdr[KT_TUNIO_BATCH];
	struct iovec iov[KT_TUNIO_BATCH];
	struct kt_endpoint_addr addr[KT_TUNIO_BATCH];
	uint8_t (*buf)[KT_MAX_PACKET + 64];
	unsigned n;
};

struct kt_tunio;

struct kt_tunio_line {
	struct kt_fd h;
	struct kt_tunio *io;
	int line;
};

struct kt_tunio {
	struct kt_device *dev;
	struct kt_loop *loop;
	struct kt_fd tun;
	struct kt_tunio_line udp[KT_TUNIO_MAX_LINES];
	size_t n_udp;
	struct kt_tunio_batch rx, tx[KT_TUNIO_MAX_LINES];
	uint8_t *tun_buf;
	bool in_batch;			/* inside on_udp/on_tun: they flush */
	uint64_t rx_batches, rx_datagrams, tx_batches, tx_datagrams;
	uint64_t tun_errors, udp_errors;
	/* Inner messages that are no IP packet (netstack/pathsig.h) go
	 * here; NULL: dropped as malformed. Set by the owner after init. */
	void (*control)(void *arg, struct kt_peer *p, const uint8_t *msg,
			size_t len);
	void *control_arg;
};

/* Takes the descriptors (closed by uninit, or at once if init fails)
 * and becomes the device's ops
 * target: the device must have been initialised with kt_tunio_ops and
 * io as its argument. */
int kt_tunio_init(struct kt_tunio *io, struct kt_device *dev,
		  struct kt_loop *loop, int tun_fd, const int *udp_fds,
		  size_t n_udp)
	__attribute__((warn_unused_result));
void kt_tunio_uninit(struct kt_tunio *io);
/* Sends what the device queued in this loop iteration (sendmmsg). */
void kt_tunio_flush(struct kt_tunio *io);

extern const struct kt_device_ops kt_tunio_ops;

#endif
