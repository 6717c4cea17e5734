/* RFC 5881 over the kernel's UDP (bfdio.h says what and why). */
#include "bfdio.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "bfd.h"

union sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

static socklen_t to_sa(int family, const struct kt_addr *a, uint16_t port,
		       union sa *out)
{
	memset(out, 0, sizeof(*out));
	if (family == AF_INET6) {
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = htons(port);
		if (a)
			memcpy(&out->in6.sin6_addr, a->bytes, 16);
		return sizeof(out->in6);
	}
	out->in.sin_family = AF_INET;
	out->in.sin_port = htons(port);
	if (a)
		memcpy(&out->in.sin_addr, a->bytes, 4);
	return sizeof(out->in);
}

static int new_socket(int family, const char *ifname)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (ifname && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
				 (socklen_t)strlen(ifname) + 1)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int kt_bfdio_open_rx(int family, const struct kt_addr *local, const char *ifname)
{
	union sa a;
	socklen_t alen = to_sa(family, local, KT_BFD_PORT, &a);
	int one = 1, fd = new_socket(family, ifname), err;

	if (fd < 0)
		return fd;
	/* Several paths listen on 3784, each on its own interface. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if ((family == AF_INET6 ?
	     setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one)) ||
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) :
	     setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one))) ||
	    bind(fd, &a.sa, alen)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int kt_bfdio_open_tx(int family, const struct kt_addr *local,
		     const struct kt_addr *remote, const char *ifname,
		     uint16_t *port)
{
	const unsigned span = KT_BFD_SRC_PORT_MAX - KT_BFD_SRC_PORT_MIN + 1;
	int ttl = KT_BFD_TTL, fd, err = -EADDRINUSE;
	uint16_t start;
	union sa a;
	socklen_t alen;

	if ((fd = new_socket(family, ifname)) < 0)
		return fd;
	if (family == AF_INET6 ?
	    setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof(ttl)) :
	    setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)))
		goto fail_errno;
	/* RFC 5881 4: the port should be unique among the box's sessions;
	 * start at a random one so restarts do not reuse the last. */
	if (getrandom(&start, sizeof(start), 0) != sizeof(start))
		start = (uint16_t)getpid();
	for (unsigned i = 0; i < span; i++) {
		uint16_t p = (uint16_t)(KT_BFD_SRC_PORT_MIN + (start + i) % span);

		alen = to_sa(family, local, p, &a);
		if (!bind(fd, &a.sa, alen)) {
			*port = p;
			err = 0;
			break;
		}
		if (errno != EADDRINUSE)
			goto fail_errno;
	}
	if (err)
		goto fail;
	if (remote) {
		alen = to_sa(family, remote, KT_BFD_PORT, &a);
		if (connect(fd, &a.sa, alen))
			goto fail_errno;
	}
	return fd;
fail_errno:
	err = -errno;
fail:
	close(fd);
	return err;
}

int kt_bfdio_sendto(int fd, const uint8_t *pkt, size_t len,
		    const struct kt_addr *to)
{
	union sa a;
	socklen_t alen = to_sa(to->family, to, KT_BFD_PORT, &a);

	return sendto(fd, pkt, len, 0, &a.sa, alen) < 0 ? -errno : 0;
}

ssize_t kt_bfdio_recv(int fd, uint8_t *buf, size_t len, struct kt_addr *from,
		      unsigned *ttl)
{
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(int)) * 2];
	} ctl;
	struct sockaddr_storage ss;
	struct iovec iov = { buf, len };
	struct msghdr m = {
		.msg_name = &ss, .msg_namelen = sizeof(ss),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.b, .msg_controllen = sizeof(ctl.b),
	};
	ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);

	if (n < 0)
		return -errno;
	*ttl = 0;
	memset(from, 0, sizeof(*from));
	if (ss.ss_family == AF_INET) {
		from->family = AF_INET;
		memcpy(from->bytes, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		from->family = AF_INET6;
		memcpy(from->bytes, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		int v;

		if (c->cmsg_len < CMSG_LEN(sizeof(int)))
			continue;
		if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
		    (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) {
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			*ttl = v >= 0 && v <= 255 ? (unsigned)v : 0;
		}
	}
	/* A datagram longer than buf arrives cut to it; the parser refuses
	 * a Length beyond what it was given. */
	return n;
}
