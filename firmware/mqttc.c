/* An MQTT session over TLS 1.3 with wolfSSL (mqttc.h). */
#include "mqttc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>

#include "addr.h"
#include "fileio.h"

/* A PUBLISH that came while we waited for an acknowledgement, kept for
 * kt_mqttc_next. */
struct held {
	struct held *next;
	struct kt_mqttc_msg m;
	uint8_t data[];
};

struct kt_mqttc {
	struct held *held, **held_tail;
	size_t n_held, held_bytes;
	uint8_t *last;			/* the payload kt_mqttc_next handed out */
	WOLFSSL_CTX *ctx;
	WOLFSSL *ssl;
	int fd;
	unsigned timeout_ms;
	uint64_t keepalive_ms;
	uint64_t last_tx;		/* when we last sent anything */
	uint64_t ping_sent;		/* a PINGREQ unanswered since then, or 0 */
	uint16_t next_id;
	uint8_t *rx;
	size_t rx_len, rx_cap, consumed;
	struct kt_mqttc_stats stats;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The socket bound to source address `src` (numeric), when there is
 * one: 0, or errno (EAFNOSUPPORT for another family's). */
static int bind_to(int fd, int family, const char *src)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct kt_addr a;

	if (!src)
		return 0;
	if (!kt_addr_parse(src, &a) || a.family != family)
		return EAFNOSUPPORT;
	if (family == AF_INET) {
		memcpy(&in.sin_addr, a.bytes, 4);
		return bind(fd, (struct sockaddr *)&in, sizeof(in)) ? errno : 0;
	}
	memcpy(&in6.sin6_addr, a.bytes, 16);
	return bind(fd, (struct sockaddr *)&in6, sizeof(in6)) ? errno : 0;
}

/* A nonblocking connect bounded by the timeout, then a blocking socket
 * whose reads and writes time out too; from `src` when it is not NULL. */
static int dial(const char *host, uint16_t port, const char *src, unsigned timeout_ms,
		char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *a;
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
			      .tv_usec = (timeout_ms % 1000) * 1000 };
	char ports[8];
	int fd = -1, r, e = ETIMEDOUT;

	snprintf(ports, sizeof(ports), "%u", port);
	if ((r = getaddrinfo(host, ports, &hints, &ai)))
		return kt_errf(err, errlen, -EHOSTUNREACH, "%s: %s", host, gai_strerror(r));
	for (a = ai; a; a = a->ai_next) {
		struct pollfd pfd;
		socklen_t el = sizeof(e);

		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		if ((r = bind_to(fd, a->ai_family, src))) {
			e = r;
		} else if (connect(fd, a->ai_addr, a->ai_addrlen) && errno != EINPROGRESS) {
			e = errno;
		} else {
			pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
			if (poll(&pfd, 1, (int)timeout_ms) == 1 &&
			    !getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) && !e)
				break;
			if (!e)
				e = ETIMEDOUT;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return kt_errf(err, errlen, -e, "cannot reach %s:%u%s%s: %s", host, port,
			       src ? " from " : "", src ? src : "", strerror(e));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* wolfSSL's own send, but with MSG_NOSIGNAL: a broker that closes the
 * connection must give an error, not SIGPIPE to the whole process. */
static int io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	ssize_t n;

	(void)ctx;
	do
		n = send(wolfSSL_get_fd(ssl), buf, (size_t)sz, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return WOLFSSL_CBIO_ERR_TIMEOUT;	/* SO_SNDTIMEO ran out */
	if (errno == ECONNRESET)
		return WOLFSSL_CBIO_ERR_CONN_RST;
	if (errno == EPIPE)
		return WOLFSSL_CBIO_ERR_CONN_CLOSE;
	return WOLFSSL_CBIO_ERR_GENERAL;
}

/* RFC 8446 6: the alerts a broker sends when it refuses a client.
 * (wolfSSL has such a table only with its OpenSSL layer, not built.) */
static const char *alert_name(int code)
{
	static const struct { int code; const char *name; } a[] = {
		{ 0, "close notify" }, { 10, "unexpected message" },
		{ 20, "bad record MAC" }, { 40, "handshake failure" },
		{ 42, "bad certificate" }, { 43, "unsupported certificate" },
		{ 44, "certificate revoked" }, { 45, "certificate expired" },
		{ 46, "certificate unknown" }, { 47, "illegal parameter" },
		{ 48, "unknown CA" }, { 49, "access denied" }, { 50, "decode error" },
		{ 51, "decrypt error" }, { 70, "protocol version" },
		{ 71, "insufficient security" }, { 80, "internal error" },
		{ 109, "missing extension" }, { 112, "unrecognised name" },
		{ 116, "certificate required" },
	};
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		if (a[i].code == code)
			return a[i].name;
	return "unknown alert";
}

/* What went wrong in a TLS call, with the peer's alert if it sent one. */
static int tls_fail(struct kt_mqttc *c, int ret, const char *what, char *err,
		    size_t errlen)
{
	int e = wolfSSL_get_error(c->ssl, ret);
	WOLFSSL_ALERT_HISTORY h;
	char buf[128];

	wolfSSL_ERR_error_string_n((unsigned long)e, buf, sizeof(buf));
	if (wolfSSL_get_alert_history(c->ssl, &h) == WOLFSSL_SUCCESS && h.last_rx.code > 0)
		return kt_errf(err, errlen, -ECONNREFUSED, "%s: the broker refused: TLS "
			       "alert '%s' (%d; %s)", what, alert_name(h.last_rx.code),
			       h.last_rx.code, buf);
	/* A broker that refuses a client certificate may reset the
	 * connection before its alert is read. */
	if (e == SOCKET_ERROR_E || e == SOCKET_PEER_CLOSED_E || e == WOLFSSL_ERROR_ZERO_RETURN)
		return kt_errf(err, errlen, -ECONNRESET, "%s: the broker closed the "
			       "connection (%s); if it refused this box's "
			       "certificate, its log says why", what, buf);
	return kt_errf(err, errlen, -EPROTO, "%s: %s", what, buf);
}

static int send_all(struct kt_mqttc *c, const uint8_t *b, size_t n, char *err,
		    size_t errlen)
{
	int r = wolfSSL_write(c->ssl, b, (int)n);

	if (r != (int)n)
		return tls_fail(c, r, "sending", err, errlen);
	c->last_tx = now_ms();
	return 0;
}

/* The next whole packet from the broker into *p; -ETIMEDOUT when none
 * came by the deadline. The packet stays valid until the next call. */
static int recv_packet(struct kt_mqttc *c, struct kt_mqtt_packet *p, uint64_t deadline,
		       char *err, size_t errlen)
{
	int r;

	/* Drop what the last call handed out. */
	if (c->consumed) {
		memmove(c->rx, c->rx + c->consumed, c->rx_len - c->consumed);
		c->rx_len -= c->consumed;
		c->consumed = 0;
	}
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		uint64_t now;
		int n;

		r = kt_mqtt_parse(c->rx, c->rx_len, KT_MQTTC_MAX_PACKET, p, err, errlen);
		if (r > 0) {
			c->consumed = (size_t)r;
			c->stats.rx_packets++;
			if (p->type == KT_MQTT_PINGRESP)
				c->ping_sent = 0;
			return 0;
		}
		if (r < 0) {
			c->stats.malformed++;
			return r;
		}
		if (c->rx_cap - c->rx_len < 16384) {
			size_t cap = c->rx_cap ? c->rx_cap * 2 : 65536;
			uint8_t *nb = cap <= 2 * KT_MQTTC_MAX_PACKET ? realloc(c->rx, cap) : NULL;

			if (!nb)
				return kt_errf(err, errlen, -ENOMEM, "out of memory");
			c->rx = nb;
			c->rx_cap = cap;
		}
		now = now_ms();
		if (!wolfSSL_pending(c->ssl)) {
			if (now >= deadline)
				return kt_errf(err, errlen, -ETIMEDOUT, "nothing from the "
					       "broker in time");
			n = poll(&pfd, 1, (int)(deadline - now));
			if (n == 0)
				return kt_errf(err, errlen, -ETIMEDOUT, "nothing from the "
					       "broker in time");
			if (n < 0 && errno != EINTR)
				return kt_errf(err, errlen, -errno, "poll: %s", strerror(errno));
		}
		n = wolfSSL_read(c->ssl, c->rx + c->rx_len, (int)(c->rx_cap - c->rx_len));
		if (n <= 0) {
			int e = wolfSSL_get_error(c->ssl, n);

			if (e == WOLFSSL_ERROR_WANT_READ)
				continue;
			if (e == WOLFSSL_ERROR_ZERO_RETURN || e == SOCKET_PEER_CLOSED_E)
				return kt_errf(err, errlen, -ECONNRESET, "the broker "
					       "closed the connection");
			return tls_fail(c, n, "receiving", err, errlen);
		}
		c->rx_len += (size_t)n;
	}
}

void kt_mqttc_close(struct kt_mqttc *c, bool abrupt)
{
	uint8_t b[2];

	if (!c)
		return;
	if (c->ssl && !abrupt && kt_mqtt_simple(b, sizeof(b), KT_MQTT_DISCONNECT) == 2)
		wolfSSL_write(c->ssl, b, 2);
	if (c->ssl && !abrupt)
		wolfSSL_shutdown(c->ssl);
	wolfSSL_free(c->ssl);
	wolfSSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	while (c->held) {
		struct held *h = c->held;

		c->held = h->next;
		free(h);
	}
	free(c->last);
	free(c->rx);
	free(c);
}

int kt_mqttc_open(struct kt_mqttc **out, const struct kt_mqttc_opts *o,
		  char *err, size_t errlen)
{
	struct kt_mqttc *c = calloc(1, sizeof(*c));
	struct kt_mqtt_connect conn = { .client_id = o->client_id,
		.keepalive_s = o->keepalive_s, .clean_session = o->clean_session,
		.will = o->will };
	struct kt_mqtt_packet p;
	uint8_t buf[4096];
	int r, n;

	*out = NULL;
	if (!c)
		return kt_errf(err, errlen, -ENOMEM, "out of memory");
	c->fd = -1;
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : 10000;
	c->next_id = 1;
	c->held_tail = &c->held;
	c->keepalive_ms = (uint64_t)o->keepalive_s * 1000;
	wolfSSL_Init();
	r = -EINVAL;
	if (!(c->ctx = wolfSSL_CTX_new(wolfTLSv1_3_client_method()))) {
		kt_errf(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	if (!o->ca ? wolfSSL_CTX_load_verify_buffer(c->ctx, (const unsigned char *)o->ca_pem,
						    (long)o->ca_len, WOLFSSL_FILETYPE_PEM)
		   != WOLFSSL_SUCCESS
		 : wolfSSL_CTX_load_verify_locations(c->ctx, o->ca, NULL) != WOLFSSL_SUCCESS) {
		kt_errf(err, errlen, r, "%s: not a CA certificate (PEM)",
			o->ca ? o->ca : "the CA");
		goto fail;
	}
	if (!o->ca ? wolfSSL_CTX_use_certificate_buffer(c->ctx,
			(const unsigned char *)o->cert_pem, (long)o->cert_len,
			WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS ||
		     wolfSSL_CTX_use_PrivateKey_buffer(c->ctx,
			(const unsigned char *)o->key_pem, (long)o->key_len,
			WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS
		   : wolfSSL_CTX_use_certificate_file(c->ctx, o->cert, WOLFSSL_FILETYPE_PEM)
		     != WOLFSSL_SUCCESS ||
		     wolfSSL_CTX_use_PrivateKey_file(c->ctx, o->key, WOLFSSL_FILETYPE_PEM)
		     != WOLFSSL_SUCCESS) {
		kt_errf(err, errlen, r, "%s or %s: not a certificate and its key (PEM)",
			o->cert ? o->cert : "the certificate", o->key ? o->key : "its key");
		goto fail;
	}
	wolfSSL_CTX_set_verify(c->ctx, WOLFSSL_VERIFY_PEER, NULL);
	wolfSSL_CTX_SetIOSend(c->ctx, io_send);
	if ((c->fd = dial(o->dial_host ? o->dial_host : o->host,
			  o->dial_host ? o->dial_port : o->port, o->bind, c->timeout_ms, err,
			  errlen)) < 0) {
		r = c->fd;
		goto fail;
	}
	if (!(c->ssl = wolfSSL_new(c->ctx)) || wolfSSL_set_fd(c->ssl, c->fd) != WOLFSSL_SUCCESS ||
	    wolfSSL_check_domain_name(c->ssl, o->host) != WOLFSSL_SUCCESS) {
		r = kt_errf(err, errlen, -ENOMEM, "cannot set up TLS");
		goto fail;
	}
	if ((n = wolfSSL_connect(c->ssl)) != WOLFSSL_SUCCESS) {
		r = tls_fail(c, n, "TLS handshake with the broker", err, errlen);
		goto fail;
	}
	if ((n = kt_mqtt_connect(buf, sizeof(buf), &conn)) < 0) {
		r = kt_errf(err, errlen, n, "CONNECT: a field the standard does not allow");
		goto fail;
	}
	if ((r = send_all(c, buf, (size_t)n, err, errlen)) ||
	    (r = recv_packet(c, &p, now_ms() + c->timeout_ms, err, errlen)))
		goto fail;
	if (p.type != KT_MQTT_CONNACK) {
		r = kt_errf(err, errlen, -EPROTO, "the broker answered CONNECT with "
			    "packet type %d", p.type);
		goto fail;
	}
	if (p.return_code) {
		r = kt_errf(err, errlen, -ECONNREFUSED, "the broker refused the "
			    "connection: %s (%u)", kt_mqtt_connack_str(p.return_code),
			    p.return_code);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	kt_mqttc_close(c, true);
	return r;
}

static uint16_t new_id(struct kt_mqttc *c)
{
	uint16_t id = c->next_id++;

	if (!c->next_id)
		c->next_id = 1;
	return id;
}

/* Acknowledges a QoS 1 PUBLISH (4.3.2: once it is ours). */
static int ack_publish(struct kt_mqttc *c, const struct kt_mqtt_packet *p, char *err,
		       size_t errlen)
{
	uint8_t ack[4];

	if (!p->qos)
		return 0;
	if (kt_mqtt_puback(ack, sizeof(ack), p->id) != 4)
		return -EIO;
	return send_all(c, ack, 4, err, errlen);
}

/* Keeps a PUBLISH that arrived while we waited for something else; at
 * most 1,000 (a broker that floods is taken as a broken one). */
static int hold(struct kt_mqttc *c, const struct kt_mqtt_packet *p, char *err, size_t errlen)
{
	struct held *h;
	int r;

	if (c->held_bytes + p->payload_len > KT_MQTTC_MAX_HELD)
		return kt_errf(err, errlen, -ENOBUFS, "more than %u bytes of messages "
			       "while waiting for an acknowledgement",
			       (unsigned)KT_MQTTC_MAX_HELD);
	if (!(h = malloc(sizeof(*h) + p->payload_len + 1)))
		return kt_errf(err, errlen, -ENOMEM, "out of memory");
	memset(&h->m, 0, sizeof(h->m));
	memcpy(h->m.topic, p->topic, p->topic_len);
	memcpy(h->data, p->payload, p->payload_len);
	h->m.payload = h->data;
	h->m.len = p->payload_len;
	h->m.qos = p->qos;
	h->m.retain = p->retain;
	h->next = NULL;
	if ((r = ack_publish(c, p, err, errlen))) {
		free(h);
		return r;
	}
	*c->held_tail = h;
	c->held_tail = &h->next;
	c->n_held++;
	c->held_bytes += p->payload_len;
	return 0;
}

/* Waits for the acknowledgement of type `want` for id; a PUBLISH that
 * arrives meanwhile is kept for kt_mqttc_next. */
static int await_ack(struct kt_mqttc *c, enum kt_mqtt_type want, uint16_t id,
		     struct kt_mqtt_packet *p, char *err, size_t errlen)
{
	uint64_t deadline = now_ms() + c->timeout_ms;
	int r;

	for (;;) {
		if ((r = recv_packet(c, p, deadline, err, errlen)))
			return r;
		if (p->type == want && p->id == id)
			return 0;
		if (p->type == KT_MQTT_PUBLISH && (r = hold(c, p, err, errlen)))
			return r;
	}
}

int kt_mqttc_publish(struct kt_mqttc *c, const char *topic, const void *msg,
		     size_t len, int qos, bool retain, char *err, size_t errlen)
{
	size_t cap = len + KT_MQTT_TOPIC_MAX + 16;
	uint8_t *buf = malloc(cap);
	uint16_t id = qos ? new_id(c) : 0;
	struct kt_mqtt_packet p;
	int n, r;

	if (!buf)
		return kt_errf(err, errlen, -ENOMEM, "out of memory");
	n = kt_mqtt_publish(buf, cap, topic, msg, len, qos, retain, false, id);
	r = n < 0 ? kt_errf(err, errlen, n, "PUBLISH to '%s': not allowed", topic)
		  : send_all(c, buf, (size_t)n, err, errlen);
	free(buf);
	if (!r && qos)
		r = await_ack(c, KT_MQTT_PUBACK, id, &p, err, errlen);
	return r;
}

int kt_mqttc_subscribe(struct kt_mqttc *c, const char *filter, int qos,
		       uint8_t *granted, char *err, size_t errlen)
{
	uint8_t buf[KT_MQTT_TOPIC_MAX + 16], q = (uint8_t)qos;
	uint16_t id = new_id(c);
	struct kt_mqtt_packet p;
	int n = kt_mqtt_subscribe(buf, sizeof(buf), id, &filter, &q, 1), r;

	if (n < 0)
		return kt_errf(err, errlen, n, "SUBSCRIBE to '%s': not allowed", filter);
	if ((r = send_all(c, buf, (size_t)n, err, errlen)) ||
	    (r = await_ack(c, KT_MQTT_SUBACK, id, &p, err, errlen)))
		return r;
	if (p.n_codes != 1)
		return kt_errf(err, errlen, -EPROTO, "SUBACK with %zu codes for one "
			       "filter", p.n_codes);
	*granted = p.codes[0];
	return 0;
}

int kt_mqttc_next(struct kt_mqttc *c, struct kt_mqttc_msg *m, unsigned timeout_ms,
		  char *err, size_t errlen)
{
	uint64_t deadline = now_ms() + timeout_ms;
	struct kt_mqtt_packet p;
	uint8_t ack[4];
	int r;

	free(c->last);
	c->last = NULL;
	if (c->held) {
		struct held *h = c->held;

		if (!(c->held = h->next))
			c->held_tail = &c->held;
		c->n_held--;
		c->held_bytes -= h->m.len;
		*m = h->m;
		/* Freed at the next call, as the payload promises. */
		c->last = (uint8_t *)h;
		return 0;
	}
	for (;;) {
		/* A PINGREQ when nothing was sent for half the keep-alive,
		 * however the caller waits, so that the broker never takes us
		 * for dead (3.1.2.10); no PINGRESP within the keep-alive means
		 * the connection is: a half-open one is found this way. */
		uint64_t now = now_ms(), due = deadline;

		if (c->keepalive_ms) {
			if (c->ping_sent && now - c->ping_sent >= c->keepalive_ms)
				return kt_errf(err, errlen, -ETIMEDOUT, "no PINGRESP from "
					       "the broker within the keep-alive");
			if (!c->ping_sent && now - c->last_tx >= c->keepalive_ms / 2) {
				if (kt_mqtt_simple(ack, sizeof(ack), KT_MQTT_PINGREQ) != 2)
					return -EIO;
				if ((r = send_all(c, ack, 2, err, errlen)))
					return r;
				c->ping_sent = c->last_tx;
			}
			due = c->ping_sent ? c->ping_sent + c->keepalive_ms
					   : c->last_tx + c->keepalive_ms / 2;
			if (due > deadline)
				due = deadline;
		}
		r = recv_packet(c, &p, due, err, errlen);
		if (r == -ETIMEDOUT && due < deadline)
			continue;
		if (r)
			return r;
		if (p.type != KT_MQTT_PUBLISH)
			continue;
		if ((r = ack_publish(c, &p, err, errlen)))
			return r;
		memcpy(m->topic, p.topic, p.topic_len);
		m->topic[p.topic_len] = '\0';
		m->payload = (uint8_t *)p.payload;
		m->len = p.payload_len;
		m->qos = p.qos;
		m->retain = p.retain;
		return 0;
	}
}

void kt_mqttc_stats(const struct kt_mqttc *c, struct kt_mqttc_stats *s)
{
	*s = c->stats;
}
