/* The engine's side of the tunnels: netstack devices on the descriptors
 * the parent passes (firmware/tunnels.h says which devices there are).
 *
 * A new tunnel set arrives between CONFIG_BEGIN and CONFIG_DONE and is
 * staged; at CONFIG_DONE it replaces the running set whole. Everything in
 * the messages is checked here: the engine trusts the parent's intent,
 * but a malformed set must not crash the process that carries traffic. */
#ifndef KT_ETUN_H
#define KT_ETUN_H

#include "loop.h"
#include "msg.h"

/* Counters go to the parent this often. */
#define ETUN_STATS_MS 1000
/* How soon counters try again after the channel said "busy". */
#define ETUN_STATS_BUSY_MS 10

/* send: how counters reach the parent, without waiting (-EAGAIN when
 * the channel is full, -EBUSY when it should be left to others for a
 * moment); send_wait: the same, waiting for room (path state changes);
 * want_write: ask for etun_writable() once it has room again
 * (or stop asking). */
int etun_init(struct kt_loop *loop,
	      int (*send)(uint16_t type, const void *p, size_t len),
	      int (*send_wait)(uint16_t type, const void *p, size_t len),
	      void (*want_write)(bool on));
void etun_uninit(void);
/* The channel to the parent has room: send the rest of the counters. */
void etun_writable(void);

void etun_begin(const struct kt_msg_config *c);
/* Each takes the message's descriptor (closing it when refused). */
int etun_device(const struct kt_msg_tun_device *m, int fd);
int etun_socket(const struct kt_msg_tun_socket *m, int fd);
int etun_peer(const struct kt_msg_tun_peer *m);
int etun_bfd_socket(const struct kt_msg_bfd_socket *m, int fd);
void etun_done(const struct kt_msg_config *c);
/* The paths of a device lost their line: tell each peer over its other
 * paths that are Up (netstack/pathsig.h). */
void etun_path_down(const struct kt_msg_path_down *m);
/* A path signal from peer `peer` of running device `dev` (also the
 * fuzzing entry point, with a running set). */
void etun_signal_input(uint32_t dev, uint32_t peer, const uint8_t *msg, size_t len);

#endif
