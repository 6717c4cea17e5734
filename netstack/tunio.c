#include "tunio.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int kt_tun_open(const char *name)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	/* IFF_NO_PI: bare IP packets, as the tunnel carries them. */
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int kt_udp_open(int family, uint16_t port, const char *ifname)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} a;
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int size = 4 << 20, err;

	if (fd < 0)
		return -errno;
	memset(&a, 0, sizeof(a));
	a.sa.sa_family = (sa_family_t)family;
	if (family == AF_INET6) {
		int only = 1;

		a.in6.sin6_port = htons(port);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof(only));
	} else {
		a.in.sin_port = htons(port);
	}
	/* Bursts at line rate must not overflow the default buffers. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if ((ifname && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
				  (socklen_t)strlen(ifname) + 1)) ||
	    bind(fd, &a.sa, family == AF_INET6 ? sizeof(a.in6) : sizeof(a.in))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void batch_reset(struct kt_tunio_batch *b)
{
	for (unsigned i = 0; i < KT_TUNIO_BATCH; i++) {
		b->iov[i].iov_base = b->buf[i];
		b->iov[i].iov_len = sizeof(b->buf[i]);
		memset(&b->hdr[i].msg_hdr, 0, sizeof(b->hdr[i].msg_hdr));
		b->hdr[i].msg_hdr.msg_iov = &b->iov[i];
		b->hdr[i].msg_hdr.msg_iovlen = 1;
		b->hdr[i].msg_hdr.msg_name = &b->addr[i];
		b->hdr[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
	}
	b->n = 0;
}

void kt_tunio_flush(struct kt_tunio *io)
{
	for (size_t l = 0; l < io->n_udp; l++) {
		struct kt_tunio_batch *b = &io->tx[l];
		unsigned done = 0, sent = 0;

		while (done < b->n) {
			int n = sendmmsg(io->udp[l].h.fd, b->hdr + done, b->n - done, 0);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					/* A full socket buffer drops what is
					 * left, as a congested line would. */
					io->udp_errors += b->n - done;
					break;
				}
				/* This datagram alone failed (its route, a
				 * firewall rule): skip it, send the rest. */
				io->udp_errors++;
				done++;
				continue;
			}
			done += (unsigned)n;
			sent += (unsigned)n;
			io->tx_batches++;
		}
		io->tx_datagrams += sent;
		b->n = 0;
	}
}

static int io_send(void *arg, const struct kt_endpoint_addr *to,
		   const uint8_t *msg, size_t len)
{
	struct kt_tunio *io = arg;
	struct kt_tunio_batch *b;
	unsigned i;

	if (to->line < 0 || (size_t)to->line >= io->n_udp ||
	    len > sizeof(io->tx[0].buf[0]))
		return -EINVAL;
	b = &io->tx[to->line];
	if (b->n == KT_TUNIO_BATCH)
		kt_tunio_flush(io);
	i = b->n++;
	memcpy(b->buf[i], msg, len);
	b->iov[i].iov_len = len;
	b->addr[i] = *to;
	b->hdr[i].msg_hdr.msg_namelen = to->sa.sa_family == AF_INET6
		? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	/* Outside a batch (a timer's keepalive or handshake retry, a
	 * handshake started by the caller) nothing else would send it. */
	if (!io->in_batch)
		kt_tunio_flush(io);
	return 0;
}

static void io_deliver(void *arg, struct kt_peer *p, const uint8_t *pkt,
		       size_t len)
{
	struct kt_tunio *io = arg;

	(void)p;
	if (write(io->tun.fd, pkt, len) != (ssize_t)len)
		io->tun_errors++;
}

static void io_control(void *arg, struct kt_peer *p, const uint8_t *msg,
		       size_t len)
{
	struct kt_tunio *io = arg;

	if (io->control)
		io->control(io->control_arg, p, msg, len);
	else
		p->stats.drops[KT_DROP_MALFORMED]++;
}

const struct kt_device_ops kt_tunio_ops = {
	.send = io_send, .deliver = io_deliver, .control = io_control,
};

static void on_udp(struct kt_fd *h, uint32_t events)
{
	struct kt_tunio_line *ln = container_of(h, struct kt_tunio_line, h);
	struct kt_tunio *io = ln->io;
	int n;

	(void)events;
	io->in_batch = true;
	for (;;) {
		batch_reset(&io->rx);
		n = recvmmsg(h->fd, io->rx.hdr, KT_TUNIO_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		io->rx_batches++;
		io->rx_datagrams += (unsigned)n;
		for (int i = 0; i < n; i++) {
			io->rx.addr[i].line = ln->line;
			kt_device_receive(io->dev, &io->rx.addr[i], io->rx.buf[i],
					  io->rx.hdr[i].msg_len);
		}
		kt_tunio_flush(io);
		if (n < KT_TUNIO_BATCH)
			break;
	}
	io->in_batch = false;
}

static void on_tun(struct kt_fd *h, uint32_t events)
{
	struct kt_tunio *io = container_of(h, struct kt_tunio, tun);

	(void)events;
	io->in_batch = true;
	/* Up to a batch of packets per wakeup, then send them together. */
	for (int i = 0; i < KT_TUNIO_BATCH; i++) {
		/* Read into the whole buffer, so a packet over the engine's
		 * MTU (a TUN MTU set too high) shows, rather than being cut. */
		ssize_t n = read(h->fd, io->tun_buf, KT_MAX_PACKET + 64);

		if (n <= 0)
			break;
		if (n > KT_MAX_PACKET) {
			io->tun_errors++;
			continue;
		}
		kt_device_send(io->dev, io->tun_buf, (size_t)n);
	}
	io->in_batch = false;
	kt_tunio_flush(io);
}

int kt_tunio_init(struct kt_tunio *io, struct kt_device *dev,
		  struct kt_loop *loop, int tun_fd, const int *udp_fds,
		  size_t n_udp)
{
	int err;

	memset(io, 0, sizeof(*io));
	io->dev = dev;
	io->loop = loop;
	io->tun = (struct kt_fd){ .fd = tun_fd, .events = EPOLLIN, .cb = on_tun };
	if (n_udp == 0 || n_udp > KT_TUNIO_MAX_LINES) {
		close(tun_fd);
		for (size_t l = 0; l < n_udp; l++)
			close(udp_fds[l]);
		return -EINVAL;
	}
	for (size_t l = 0; l < n_udp; l++)
		io->udp[l] = (struct kt_tunio_line){
			.h = { .fd = udp_fds[l], .events = EPOLLIN, .cb = on_udp },
			.io = io, .line = (int)l,
		};
	io->n_udp = n_udp;
	io->rx.buf = calloc(KT_TUNIO_BATCH, sizeof(*io->rx.buf));
	io->tun_buf = malloc(KT_MAX_PACKET + 64);
	if (!io->rx.buf || !io->tun_buf) {
		err = -ENOMEM;
		goto err;
	}
	for (size_t l = 0; l < n_udp; l++) {
		io->tx[l].buf = calloc(KT_TUNIO_BATCH, sizeof(*io->tx[l].buf));
		if (!io->tx[l].buf) {
			err = -ENOMEM;
			goto err;
		}
		batch_reset(&io->tx[l]);
	}
	if ((err = kt_loop_fd_add(loop, &io->tun)))
		goto err;
	for (size_t l = 0; l < n_udp; l++)
		if ((err = kt_loop_fd_add(loop, &io->udp[l].h)))
			goto err;
	return 0;
err:
	kt_tunio_uninit(io);
	return err;
}

void kt_tunio_uninit(struct kt_tunio *io)
{
	for (size_t l = 0; l < io->n_udp; l++) {
		kt_loop_fd_del(io->loop, &io->udp[l].h);
		close(io->udp[l].h.fd);
		free(io->tx[l].buf);
	}
	kt_loop_fd_del(io->loop, &io->tun);
	close(io->tun.fd);
	free(io->rx.buf);
	free(io->tun_buf);
	memset(io, 0, sizeof(*io));
}
