/* RFC 5881 single-hop encapsulation of BFD over the kernel's UDP:
 * control packets to port 3784, from a source port in 49152-65535, with
 * TTL (hop limit) 255, and the TTL of every received packet read from
 * its control message so that kt_bfd_receive can refuse one that came
 * from further than one hop.
 *
 * Inside Kyoten a path's BFD runs over sockets bound to that path's
 * tunnel interface: the kernel routes the packet into the TUN, the
 * engine encrypts it on that path alone, and what the peer sends back
 * arrives on the same interface. Binding to an interface needs
 * CAP_NET_RAW, so the parent opens the sockets (kt_bfdio_open_*) and
 * the engine only reads and writes them (kt_bfdio_recv). */
#ifndef KT_BFDIO_H
#define KT_BFDIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "addr.h"

/* The receiving socket: port 3784 on `local` (any address if NULL) of
 * `family`, bound to `ifname` unless NULL; non-blocking. -errno. */
int kt_bfdio_open_rx(int family, const struct kt_addr *local, const char *ifname);
/* The sending socket of `family`: from `local` (any if NULL) and a free
 * port of RFC 5881's range, TTL 255, bound to `ifname` unless NULL, and
 * connected to `remote` port 3784 unless NULL (a hub's socket sends to
 * every site of its line); non-blocking. -errno. *port gets the source
 * port. */
int kt_bfdio_open_tx(int family, const struct kt_addr *local,
		     const struct kt_addr *remote, const char *ifname,
		     uint16_t *port);
/* To `to` port 3784 from an unconnected sending socket. */
int kt_bfdio_sendto(int fd, const uint8_t *pkt, size_t len,
		    const struct kt_addr *to);
/* One datagram: its length, the sender and the TTL or hop limit it
 * arrived with (0 if the kernel did not say); -errno (-EAGAIN: none). */
ssize_t kt_bfdio_recv(int fd, uint8_t *buf, size_t len, struct kt_addr *from,
		      unsigned *ttl);

#endif
