#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop.h"
#include "unit.h"

static uint64_t fake_now;
static uint64_t fake_clock(void) { return fake_now; }

struct probe {
	struct kt_timer t;
	int id;
};

static int fired[64], n_fired;

static void on_fire(struct kt_timer *t)
{
	fired[n_fired++] = container_of(t, struct probe, t)->id;
}

static void test_timer_order(void **state)
{
	/* (delay ms, id): fire in due order, ties in any order. */
	static const struct { unsigned ms; int id; } set[] = {
		{ 50, 5 }, { 10, 1 }, { 40, 4 }, { 20, 2 }, { 30, 3 }, { 60, 6 },
	};
	struct probe p[ARRAY_SIZE(set)];
	struct kt_loop l;

	(void)state;
	assert_int_equal(kt_loop_init(&l), 0);
	fake_now = 1000;
	l.clock = fake_clock;
	l.now_ms = fake_now;
	n_fired = 0;
	for (size_t i = 0; i < ARRAY_SIZE(set); i++) {
		memset(&p[i], 0, sizeof(p[i]));
		p[i].t.cb = on_fire;
		p[i].id = set[i].id;
		assert_int_equal(kt_timer_set(&l, &p[i].t, set[i].ms), 0);
	}
	kt_timer_cancel(&l, &p[2].t);		/* id 4 never fires */
	assert_int_equal(kt_loop_run_timers(&l), 10);
	assert_int_equal(n_fired, 0);
	fake_now = 1025;
	assert_int_equal(kt_loop_run_timers(&l), 5);	/* next: id 3 at 1030 */
	assert_int_equal(n_fired, 2);
	assert_int_equal(fired[0], 1);
	assert_int_equal(fired[1], 2);
	kt_timer_set(&l, &p[1].t, 100);		/* re-arm id 1 at 1125 */
	fake_now = 1100;
	assert_int_equal(kt_loop_run_timers(&l), 25);
	assert_int_equal(n_fired, 5);
	assert_int_equal(fired[2], 3);
	assert_int_equal(fired[3], 5);
	assert_int_equal(fired[4], 6);
	fake_now = 2000;
	assert_int_equal(kt_loop_run_timers(&l), -1);
	assert_int_equal(fired[5], 1);
	assert_int_equal(n_fired, 6);
	kt_loop_uninit(&l);
}

static void test_timer_many(void **state)
{
	/* A hub runs thousands of timers; the heap must keep order under
	 * random arming and cancelling. */
	enum { N = 2000 };
	static struct probe p[N];
	struct kt_loop l;
	uint64_t last = 0;
	unsigned seed = 7, alive = 0;

	(void)state;
	assert_int_equal(kt_loop_init(&l), 0);
	fake_now = 0;
	l.clock = fake_clock;
	l.now_ms = 0;
	n_fired = 0;
	for (int i = 0; i < N; i++) {
		p[i].t.cb = on_fire;
		p[i].id = 0;
		seed = seed * 1103515245 + 12345;
		kt_timer_set(&l, &p[i].t, (seed >> 8) % 10000);
	}
	for (int i = 0; i < N; i += 3)
		kt_timer_cancel(&l, &p[i].t);
	for (int i = 0; i < N; i++)
		alive += p[i].t.pending;
	assert_int_equal(l.heap_len, alive);
	while (l.heap_len) {
		struct kt_timer *top = l.heap[0];

		assert_true(top->due_ms >= last);
		last = top->due_ms;
		fake_now = top->due_ms;
		n_fired = 0;
		kt_loop_run_timers(&l);
	}
	kt_loop_uninit(&l);
}

static struct kt_loop *rearm_loop;
static int rearm_count;

static void rearm_now(struct kt_timer *t)
{
	rearm_count++;
	kt_timer_set(rearm_loop, t, 0);
}

static void test_timer_rearm_zero(void **state)
{
	/* A timer that re-arms itself at 0 ms must not keep the loop in
	 * its timer pass: it runs once per pass. */
	struct kt_timer t = { .cb = rearm_now };
	struct kt_loop l;

	(void)state;
	assert_int_equal(kt_loop_init(&l), 0);
	rearm_loop = &l;
	kt_timer_set(&l, &t, 0);
	assert_int_equal(kt_loop_run_timers(&l), 0);
	assert_int_equal(rearm_count, 1);
	assert_int_equal(kt_loop_once(&l, 10), 0);
	assert_int_equal(rearm_count, 2);
	kt_timer_cancel(&l, &t);
	kt_loop_uninit(&l);
}

struct pipe_probe {
	struct kt_fd h;
	int reads;
	struct kt_loop *l;
};

static void on_readable(struct kt_fd *h, uint32_t events)
{
	struct pipe_probe *p = container_of(h, struct pipe_probe, h);
	char c;

	assert_true(events & EPOLLIN);
	assert_int_equal(read(h->fd, &c, 1), 1);
	p->reads++;
	kt_loop_stop(p->l);
}

static int got_signal;

static void on_sig(struct kt_loop *l, int signo)
{
	got_signal = signo;
	kt_loop_stop(l);
}

static void test_fd_and_signal(void **state)
{
	static const int sigs[] = { SIGUSR1, 0 };
	struct pipe_probe p = { 0 };
	struct kt_loop l;
	int fds[2];

	(void)state;
	assert_int_equal(kt_loop_init(&l), 0);
	assert_int_equal(pipe(fds), 0);
	p.h.fd = fds[0];
	p.h.events = EPOLLIN;
	p.h.cb = on_readable;
	p.l = &l;
	assert_int_equal(kt_loop_fd_add(&l, &p.h), 0);
	assert_int_equal(write(fds[1], "x", 1), 1);
	assert_int_equal(kt_loop_run(&l), 0);
	assert_int_equal(p.reads, 1);

	/* A signal raised outside the wait stays pending until the loop
	 * waits, then arrives as a callback. */
	assert_int_equal(kt_loop_signals(&l, sigs, on_sig), 0);
	raise(SIGUSR1);
	assert_int_equal(got_signal, 0);
	assert_int_equal(kt_loop_run(&l), 0);
	assert_int_equal(got_signal, SIGUSR1);

	kt_loop_fd_del(&l, &p.h);
	close(fds[0]);
	close(fds[1]);
	kt_loop_uninit(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer_order),
		cmocka_unit_test(test_timer_many),
		cmocka_unit_test(test_timer_rearm_zero),
		cmocka_unit_test(test_fd_and_signal),
	};
	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
