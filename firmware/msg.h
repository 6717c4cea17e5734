/* The typed message protocol between the privileged parent and its
 * unprivileged children (one SOCK_SEQPACKET socketpair per child, so each
 * message is one record and never split or merged).
 *
 *   header: type (u16), payload length (u16), peer id (u32)
 *   payload: fixed layout per type, length checked against kt_msg_rules
 *   optionally one file descriptor passed with SCM_RIGHTS
 *
 * The receiver treats the sender as untrusted: it checks the type is one
 * the channel may carry, the exact length, and that a descriptor arrives
 * only with types that take one. */
#ifndef KT_MSG_H
#define KT_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define KT_MSG_MAX_PAYLOAD 4096

enum kt_msg_type {
	KT_MSG_NONE = 0,
	KT_MSG_HELLO,		/* child -> parent: who and how confined */
	KT_MSG_LOG,		/* child -> parent: struct kt_log_entry */
	KT_MSG_PING,		/* parent -> child: liveness, u64 cookie */
	KT_MSG_PONG,		/* child -> parent: the same cookie */
	KT_MSG_CONFIG_BEGIN,	/* parent -> child: new generation follows */
	KT_MSG_CONFIG_DONE,	/* parent -> child: generation complete */
	KT_MSG_SHUTDOWN,	/* parent -> child: exit cleanly */
	KT_MSG_TYPE_COUNT
};

struct kt_msg_hdr {
	uint16_t type;
	uint16_t len;
	uint32_t peer;
};

struct kt_msg_hello {
	uint32_t pid, uid, gid;
	uint8_t chrooted;
	uint8_t no_new_privs;
	uint8_t pad[2];
	char role[16];
};

struct kt_msg_config {
	uint32_t generation;
	char site_id[32];
};

struct kt_msg {
	struct kt_msg_hdr hdr;
	uint8_t data[KT_MSG_MAX_PAYLOAD];
	int fd;			/* -1 unless one was passed */
};

/* Bit mask of message types a channel accepts. */
#define KT_MSG_BIT(t) (1u << (t))

const char *kt_msg_type_name(unsigned type);
int kt_msg_send(int sock, uint16_t type, uint32_t peer, const void *payload,
		size_t len, int pass_fd);
/* Receives one message; 0 on success, -EPIPE when the peer closed (or
 * reset), -EAGAIN when nothing is waiting on a non-blocking socket, other
 * negative errno for a refused message (the message is dropped; any passed
 * descriptor is closed). */
int kt_msg_recv(int sock, uint32_t allowed, struct kt_msg *m);
/* The checks kt_msg_recv applies to a record of n bytes (also the fuzzing
 * entry point). */
int kt_msg_check(const uint8_t *buf, size_t n, bool has_fd, uint32_t allowed,
		 struct kt_msg *m);

#endif
