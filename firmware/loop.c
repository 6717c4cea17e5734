#define KT_MODULE "loop"
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define KT_MAX_SIGNAL 65
#define KT_EVENTS_PER_WAIT 32

/* The only state a signal handler touches. */
static volatile sig_atomic_t sig_pending[KT_MAX_SIGNAL];
static volatile sig_atomic_t sig_any;

static void on_signal(int signo)
{
	if (signo > 0 && signo < KT_MAX_SIGNAL) {
		sig_pending[signo] = 1;
		sig_any = 1;
	}
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int kt_loop_init(struct kt_loop *l)
{
	memset(l, 0, sizeof(*l));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	l->clock = mono_ms;
	l->now_ms = l->clock();
	sigprocmask(SIG_SETMASK, NULL, &l->wait_mask);
	return 0;
}

void kt_loop_uninit(struct kt_loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
	free(l->heap);
	l->heap = NULL;
	l->heap_len = l->heap_cap = 0;
}

int kt_loop_fd_add(struct kt_loop *l, struct kt_fd *h)
{
	struct epoll_event ev = { .events = h->events, .data.ptr = h };

	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, h->fd, &ev))
		return -errno;
	h->registered = true;
	return 0;
}

int kt_loop_fd_mod(struct kt_loop *l, struct kt_fd *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, h->fd, &ev))
		return -errno;
	h->events = events;
	return 0;
}

void kt_loop_fd_del(struct kt_loop *l, struct kt_fd *h)
{
	if (h->registered)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	h->registered = false;
}

/* Binary min-heap on due_ms; each timer knows its index so that cancel and
 * re-arm are O(log n). */
static void heap_swap(struct kt_loop *l, size_t a, size_t b)
{
	struct kt_timer *t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->heap_idx = a;
	l->heap[b]->heap_idx = b;
}

static void heap_up(struct kt_loop *l, size_t i)
{
	while (i > 0 && l->heap[(i - 1) / 2]->due_ms > l->heap[i]->due_ms) {
		heap_swap(l, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct kt_loop *l, size_t i)
{
	for (;;) {
		size_t min = i, c = 2 * i + 1;

		if (c < l->heap_len && l->heap[c]->due_ms < l->heap[min]->due_ms)
			min = c;
		if (c + 1 < l->heap_len &&
		    l->heap[c + 1]->due_ms < l->heap[min]->due_ms)
			min = c + 1;
		if (min == i)
			return;
		heap_swap(l, i, min);
		i = min;
	}
}

void kt_timer_cancel(struct kt_loop *l, struct kt_timer *t)
{
	size_t i = t->heap_idx;
	struct kt_timer *moved;

	if (!t->pending)
		return;
	t->pending = false;
	l->heap_len--;
	if (i == l->heap_len)
		return;
	moved = l->heap[l->heap_len];
	l->heap[i] = moved;
	moved->heap_idx = i;
	heap_up(l, i);
	heap_down(l, moved->heap_idx);
}

int kt_timer_set(struct kt_loop *l, struct kt_timer *t, uint64_t ms)
{
	kt_timer_cancel(l, t);
	if (l->heap_len == l->heap_cap) {
		size_t cap = l->heap_cap ? l->heap_cap * 2 : 16;
		struct kt_timer **h = realloc(l->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		l->heap = h;
		l->heap_cap = cap;
	}
	t->due_ms = l->now_ms + ms;
	t->heap_idx = l->heap_len;
	t->pending = true;
	l->heap[l->heap_len++] = t;
	heap_up(l, t->heap_idx);
	return 0;
}

int kt_loop_signals(struct kt_loop *l, const int *signals, kt_signal_fn fn)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (; *signals; signals++) {
		if (*signals >= KT_MAX_SIGNAL)
			return -EINVAL;
		if (sigaction(*signals, &sa, NULL))
			return -errno;
		sigaddset(&block, *signals);
		sigdelset(&l->wait_mask, *signals);
	}
	if (sigprocmask(SIG_BLOCK, &block, NULL))
		return -errno;
	l->on_signal = fn;
	return 0;
}

uint64_t kt_loop_now(struct kt_loop *l)
{
	return l->now_ms;
}

int kt_loop_run_timers(struct kt_loop *l)
{
	/* At most the timers pending now: one re-armed at 0 ms from its own
	 * callback runs on the next pass, after descriptors had their turn. */
	size_t budget = l->heap_len;

	l->now_ms = l->clock();
	while (budget-- && l->heap_len && l->heap[0]->due_ms <= l->now_ms) {
		struct kt_timer *t = l->heap[0];

		kt_timer_cancel(l, t);
		t->cb(t);
		if (l->stop)
			return 0;
	}
	if (!l->heap_len)
		return -1;
	if (l->heap[0]->due_ms <= l->now_ms)
		return 0;
	return (int)(l->heap[0]->due_ms - l->now_ms);
}

static void dispatch_signals(struct kt_loop *l)
{
	if (!sig_any)
		return;
	sig_any = 0;
	for (int s = 1; s < KT_MAX_SIGNAL; s++) {
		if (sig_pending[s]) {
			sig_pending[s] = 0;
			if (l->on_signal)
				l->on_signal(l, s);
		}
	}
}

int kt_loop_once(struct kt_loop *l, int max_ms)
{
	struct epoll_event ev[KT_EVENTS_PER_WAIT];
	int timeout = kt_loop_run_timers(l);
	int n;

	if (l->stop)
		return 0;
	if (max_ms >= 0 && (timeout < 0 || timeout > max_ms))
		timeout = max_ms;
	n = epoll_pwait(l->epfd, ev, KT_EVENTS_PER_WAIT, timeout, &l->wait_mask);
	if (n < 0 && errno != EINTR)
		return -errno;
	l->now_ms = l->clock();
	dispatch_signals(l);
	for (int i = 0; i < n && !l->stop; i++) {
		struct kt_fd *h = ev[i].data.ptr;

		/* An earlier callback in this batch may have removed it;
		 * owners keep handles in storage that outlives removal. */
		if (h->registered)
			h->cb(h, ev[i].events);
	}
	return 0;
}

int kt_loop_run(struct kt_loop *l)
{
	int err = 0;

	l->stop = false;
	while (!l->stop && !err)
		err = kt_loop_once(l, -1);
	return err;
}

void kt_loop_stop(struct kt_loop *l)
{
	l->stop = true;
}
