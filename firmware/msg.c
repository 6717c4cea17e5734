#define KT_MODULE "msg"
#include "msg.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct {
	const char *name;
	uint16_t len;		/* exact payload length */
	bool takes_fd;		/* and must: one descriptor, always */
} rules[KT_MSG_TYPE_COUNT] = {
	[KT_MSG_HELLO] = { "hello", sizeof(struct kt_msg_hello), false },
	[KT_MSG_LOG] = { "log", sizeof(struct kt_log_entry), false },
	[KT_MSG_PING] = { "ping", sizeof(uint64_t), false },
	[KT_MSG_PONG] = { "pong", sizeof(uint64_t), false },
	[KT_MSG_CONFIG_BEGIN] = { "config-begin", sizeof(struct kt_msg_config), false },
	[KT_MSG_CONFIG_DONE] = { "config-done", sizeof(struct kt_msg_config), false },
	[KT_MSG_SHUTDOWN] = { "shutdown", 0, false },
	[KT_MSG_TUN_DEVICE] = { "tun-device", sizeof(struct kt_msg_tun_device), true },
	[KT_MSG_TUN_SOCKET] = { "tun-socket", sizeof(struct kt_msg_tun_socket), true },
	[KT_MSG_TUN_PEER] = { "tun-peer", sizeof(struct kt_msg_tun_peer), false },
	[KT_MSG_TUN_STATS] = { "tun-stats", sizeof(struct kt_msg_tun_stats_batch), false },
	[KT_MSG_DENY_SOCKET] = { "deny-socket", sizeof(struct kt_msg_deny_socket), true },
	[KT_MSG_DENY_SEGMENT] = { "deny-segment", sizeof(struct kt_msg_deny_segment), false },
	[KT_MSG_DENY_STATS] = { "deny-stats", sizeof(struct kt_msg_deny_stats), false },
	[KT_MSG_BFD_SOCKET] = { "bfd-socket", sizeof(struct kt_msg_bfd_socket), true },
	[KT_MSG_BFD_STATE] = { "bfd-state", sizeof(struct kt_msg_bfd_state), false },
	[KT_MSG_PATH_DOWN] = { "path-down", sizeof(struct kt_msg_path_down), false },
};

_Static_assert(sizeof(struct kt_log_entry) <= KT_MSG_MAX_PAYLOAD,
	       "log entry must fit one message");
_Static_assert(sizeof(struct kt_msg_tun_stats_batch) <= KT_MSG_MAX_PAYLOAD &&
	       sizeof(struct kt_msg_tun_peer) <= KT_MSG_MAX_PAYLOAD,
	       "tunnel messages must fit one message");
_Static_assert(sizeof(struct kt_msg_deny_stats) <= KT_MSG_MAX_PAYLOAD &&
	       sizeof(struct kt_msg_deny_segment) <= KT_MSG_MAX_PAYLOAD,
	       "denial messages must fit one message");
_Static_assert(KT_MSG_TYPE_COUNT <= 32, "message types are bits of a u32");

const char *kt_msg_type_name(unsigned type)
{
	return type < KT_MSG_TYPE_COUNT && rules[type].name ? rules[type].name
							    : "unknown";
}

static int send_flags(int sock, uint16_t type, uint32_t peer,
		      const void *payload, size_t len, int pass_fd, int flags)
{
	struct kt_msg_hdr hdr = { .type = type, .len = (uint16_t)len, .peer = peer };
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };

	if (len > KT_MSG_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (pass_fd >= 0) {
		struct cmsghdr *c;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | flags);

		if (n >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int kt_msg_send(int sock, uint16_t type, uint32_t peer, const void *payload,
		size_t len, int pass_fd)
{
	return send_flags(sock, type, peer, payload, len, pass_fd, 0);
}

int kt_msg_try_send(int sock, uint16_t type, uint32_t peer, const void *payload,
		    size_t len, int pass_fd)
{
	int r = send_flags(sock, type, peer, payload, len, pass_fd, MSG_DONTWAIT);

	return r == -EWOULDBLOCK ? -EAGAIN : r;
}

int kt_msg_check(const uint8_t *buf, size_t n, bool has_fd, uint32_t allowed,
		 struct kt_msg *m)
{
	if (n < sizeof(m->hdr))
		return -EBADMSG;
	memcpy(&m->hdr, buf, sizeof(m->hdr));
	if (m->hdr.type == KT_MSG_NONE || m->hdr.type >= KT_MSG_TYPE_COUNT ||
	    !(allowed & KT_MSG_BIT(m->hdr.type)))
		return -EPROTO;
	if (m->hdr.len != n - sizeof(m->hdr) || m->hdr.len != rules[m->hdr.type].len)
		return -EBADMSG;
	/* A type that carries a descriptor always does; no other may. */
	if (has_fd != rules[m->hdr.type].takes_fd)
		return -EPROTO;
	memcpy(m->data, buf + sizeof(m->hdr), m->hdr.len);
	if (m->hdr.type == KT_MSG_LOG &&
	    !kt_log_entry_valid((const struct kt_log_entry *)(void *)m->data))
		return -EBADMSG;
	return 0;
}

int kt_msg_recv(int sock, uint32_t allowed, struct kt_msg *m)
{
	uint8_t buf[sizeof(struct kt_msg_hdr) + KT_MSG_MAX_PAYLOAD + 1];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cbuf;
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	struct cmsghdr *c;
	ssize_t n;
	int err;

	memset(&m->hdr, 0, sizeof(m->hdr));
	m->fd = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET ? -EPIPE : -errno;
	if (n == 0)
		return -EPIPE;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < nfd; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
				/* One descriptor per message; extras are closed. */
				if (m->fd < 0)
					m->fd = fd;
				else
					close(fd);
			}
		}
	}
	err = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ? -EMSGSIZE
		: kt_msg_check(buf, (size_t)n, m->fd >= 0, allowed, m);
	if (err && m->fd >= 0) {
		close(m->fd);
		m->fd = -1;
	}
	/* Tunnel messages carry private keys: leave no copy on the stack.
	 * (The caller wipes its struct kt_msg the same way.) */
	explicit_bzero(buf, (size_t)n);
	return err;
}
