/* BFD on the engine's tunnel paths (ebfd.h says what and why). */
#define KT_MODULE "paths"
#include "ebfd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "bfdio.h"
#include "log.h"
#include "suite.h"

static void (*report_fn)(struct kt_msg_bfd_state *m);

void ebfd_init(void (*report)(struct kt_msg_bfd_state *m))
{
	report_fn = report;
}

static uint64_t clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void on_send(void *arg, const uint8_t *pkt, size_t len)
{
	struct ebfd_path *p = arg;

	/* Fails while the kernel has no route into the interface (it is
	 * being rebuilt): counted, and the session's timers go on. */
	if (kt_bfdio_sendto(p->dev->tx_fd, pkt, len, &p->addr))
		p->dev->send_errors++;
}

static void on_state(void *arg, struct kt_bfd_session *s, uint8_t old,
		     uint8_t new, uint8_t diag)
{
	struct ebfd_path *p = arg;
	struct kt_msg_bfd_state m = {
		.device = p->dev->device, .peer = p->peer,
		.old_state = old, .new_state = new, .diag = diag,
		.remote_diag = s->remote_diag,
	};

	if (new != KT_BFD_UP)
		p->probing = false;
	if (report_fn)
		report_fn(&m);
}

static void sample(struct ebfd_path *p, uint32_t rtt)
{
	p->rtt[p->head] = rtt;
	p->head = (p->head + 1) % EBFD_WINDOW;
	if (p->n < EBFD_WINDOW)
		p->n++;
}

static void on_rtt(void *arg, struct kt_bfd_session *s, uint32_t rtt_us)
{
	struct ebfd_path *p = arg;

	(void)s;
	p->probing = false;
	sample(p, rtt_us == UINT32_MAX ? UINT32_MAX - 1 : rtt_us);
}

static const struct kt_bfd_ops ops = {
	.send = on_send, .state = on_state, .rtt = on_rtt, .clock_us = clock_us,
};

void ebfd_input(struct ebfd_dev *b, const uint8_t *buf, size_t len,
		const struct kt_addr *from, unsigned ttl)
{
	for (uint32_t i = 0; i < b->n_paths; i++) {
		struct ebfd_path *p = &b->paths[i];

		if (!kt_addr_equal(&p->addr, from))
			continue;
		kt_bfd_receive(&p->s, buf, len, ttl);
		return;
	}
	b->foreign++;
}

static void on_rx(struct kt_fd *h, uint32_t events)
{
	struct ebfd_dev *b = container_of(h, struct ebfd_dev, rx);
	uint8_t buf[KT_BFD_MAX_LEN + 16];
	struct kt_addr from;
	unsigned ttl;

	(void)events;
	/* A bounded number per wakeup: the data plane shares this loop. */
	for (int i = 0; i < 64; i++) {
		ssize_t n = kt_bfdio_recv(h->fd, buf, sizeof(buf), &from, &ttl);

		if (n < 0)
			return;
		ebfd_input(b, buf, (size_t)n, &from, ttl);
	}
}

int ebfd_start(struct ebfd_dev *b, struct kt_loop *loop, uint32_t device,
	       const struct kt_bfd_config *cfg, const struct kt_addr *peers,
	       uint32_t n)
{
	int err;

	b->loop = loop;
	b->device = device;
	b->foreign = b->send_errors = 0;
	b->paths = calloc(n ? n : 1, sizeof(*b->paths));
	if (!b->paths)
		return -ENOMEM;
	b->n_paths = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct ebfd_path *p = &b->paths[i];
		uint32_t discr = 0, seed = 0;

		p->dev = b;
		p->peer = i;
		p->addr = peers[i];
		/* Discriminators unique per session with overwhelming odds;
		 * 0 is not one. */
		while (!discr)
			if ((err = kt_random(&discr, sizeof(discr))) ||
			    (err = kt_random(&seed, sizeof(seed))))
				goto fail;
		if ((err = kt_bfd_init(&p->s, loop, cfg, discr, seed, &ops, p)))
			goto fail;
		b->n_paths++;
	}
	b->rx.fd = b->rx_fd;
	b->rx.events = EPOLLIN;
	b->rx.cb = on_rx;
	if ((err = kt_loop_fd_add(loop, &b->rx)))
		goto fail;
	return 0;
fail:
	ebfd_stop(b);
	return err < 0 ? err : -EIO;
}

void ebfd_stop(struct ebfd_dev *b)
{
	if (!b->paths)
		return;
	if (b->rx.registered)
		kt_loop_fd_del(b->loop, &b->rx);
	for (uint32_t i = 0; i < b->n_paths; i++)
		kt_bfd_uninit(&b->paths[i].s);
	free(b->paths);
	b->paths = NULL;
	b->n_paths = 0;
}

void ebfd_tick(struct ebfd_dev *b)
{
	for (uint32_t i = 0; i < b->n_paths; i++) {
		struct ebfd_path *p = &b->paths[i];

		/* Not answered within the second: a lost probe. */
		if (p->probing)
			sample(p, UINT32_MAX);
		p->probing = kt_bfd_probe(&p->s) && p->s.poll;
	}
}

void ebfd_fill(const struct ebfd_dev *b, uint32_t peer, struct kt_msg_tun_stats *st)
{
	const struct ebfd_path *p;
	uint64_t sum = 0, jit = 0, bad = 0;
	uint32_t prev = 0, pairs = 0;
	bool have_prev = false;

	st->bfd_state = 0xff;
	if (!b->paths || peer >= b->n_paths)
		return;
	p = &b->paths[peer];
	st->bfd_state = p->s.session_state;
	st->bfd_diag = p->s.local_diag;
	st->bfd_remote_diag = p->s.remote_diag;
	st->bfd_rx = p->s.stats.rx;
	st->bfd_tx = p->s.stats.tx;
	for (int i = 0; i < KT_BFD_BAD_COUNT; i++)
		bad += p->s.stats.rx_bad[i];
	st->bfd_bad = bad;
	st->bfd_ups = p->s.stats.ups;
	st->bfd_downs = p->s.stats.downs;
	st->bfd_detect_us = kt_bfd_detect_us(&p->s);
	st->signals_tx = p->sig_tx;
	st->signals_rx = p->sig_rx;
	st->signals_bad = p->sig_bad;
	st->signals_ignored = p->sig_ignored;
	st->bfd_tx_us = kt_bfd_tx_interval_us(&p->s);
	st->rtt_min_us = UINT32_MAX;
	/* Oldest to newest, so that jitter is the mean difference between
	 * consecutive answered probes (as RFC 3550's, without smoothing). */
	for (unsigned k = 0; k < p->n; k++) {
		uint32_t r = p->rtt[(p->head + EBFD_WINDOW - p->n + k) % EBFD_WINDOW];

		if (r == UINT32_MAX) {
			st->probes_lost++;
			continue;
		}
		st->rtt_samples++;
		st->rtt_last_us = r;
		sum += r;
		if (r < st->rtt_min_us)
			st->rtt_min_us = r;
		if (r > st->rtt_max_us)
			st->rtt_max_us = r;
		if (have_prev) {
			jit += r > prev ? r - prev : prev - r;
			pairs++;
		}
		prev = r;
		have_prev = true;
	}
	if (!st->rtt_samples)
		st->rtt_min_us = 0;
	else
		st->rtt_avg_us = (uint32_t)(sum / st->rtt_samples);
	st->rtt_jitter_us = pairs ? (uint32_t)(jit / pairs) : 0;
}
