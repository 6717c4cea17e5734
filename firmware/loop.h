/* One event loop per process: epoll for file descriptors, a binary heap of
 * timers, and signals that are blocked everywhere except inside
 * epoll_pwait(), so that a handler only ever interrupts the wait and sets a
 * flag; the callbacks then run from the loop like any other event.
 *
 * Handles (kt_fd, kt_timer) are embedded in the structure that owns them;
 * callbacks find their owner with container_of. Adding a handle does not
 * allocate, except that the timer heap grows when it is full. */
#ifndef KT_LOOP_H
#define KT_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

struct kt_loop;

struct kt_fd {
	int fd;
	uint32_t events;	/* EPOLLIN, EPOLLOUT ... */
	void (*cb)(struct kt_fd *h, uint32_t events);
	bool registered;
};

struct kt_timer {
	uint64_t due_ms;
	size_t heap_idx;	/* position in the heap while pending */
	bool pending;
	void (*cb)(struct kt_timer *t);
};

typedef void (*kt_signal_fn)(struct kt_loop *l, int signo);

struct kt_loop {
	int epfd;
	bool stop;
	uint64_t now_ms;	/* refreshed once per iteration */
	uint64_t (*clock)(void);	/* tests install a fake clock */
	struct kt_timer **heap;
	size_t heap_len, heap_cap;
	sigset_t wait_mask;	/* mask while waiting: handled signals open */
	kt_signal_fn on_signal;
};

int kt_loop_init(struct kt_loop *l);
void kt_loop_uninit(struct kt_loop *l);

int kt_loop_fd_add(struct kt_loop *l, struct kt_fd *h);
int kt_loop_fd_mod(struct kt_loop *l, struct kt_fd *h, uint32_t events);
void kt_loop_fd_del(struct kt_loop *l, struct kt_fd *h);

/* (Re)arms t to fire `ms` milliseconds after the loop's current time. */
int kt_timer_set(struct kt_loop *l, struct kt_timer *t, uint64_t ms);
void kt_timer_cancel(struct kt_loop *l, struct kt_timer *t);

/* Blocks the given signals (0-terminated list) and delivers them to fn from
 * the loop. */
int kt_loop_signals(struct kt_loop *l, const int *signals, kt_signal_fn fn);

uint64_t kt_loop_now(struct kt_loop *l);
/* Fires every due timer; returns ms until the next one, or -1 if none. */
int kt_loop_run_timers(struct kt_loop *l);
/* One wait of at most max_ms (-1: until something happens) and dispatch. */
int kt_loop_once(struct kt_loop *l, int max_ms);
int kt_loop_run(struct kt_loop *l);
void kt_loop_stop(struct kt_loop *l);

#endif
