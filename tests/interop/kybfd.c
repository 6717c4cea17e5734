/* kybfd: one BFD session from netstack/bfd.c over RFC 5881 UDP
 * (netstack/bfdio.c), for interoperability tests against FRR's bfdd and
 * against itself. kyotend's engine runs the same session code per path.
 *
 *   kybfd --local IP --remote IP [--bind IFNAME] [--tx-ms N] [--rx-ms N]
 *         [--mult N] [--auth simple|keyed-sha1|meticulous-sha1
 *          --key-id N --key-file FILE] [--probe-ms N]
 *
 * Prints one line per state change ("T state OLD -> NEW diag DIAG", T in
 * ms since start) and per round-trip sample with --probe-ms; SIGUSR1
 * toggles AdminDown; SIGTERM or SIGINT stops it, and it prints its
 * counters as one JSON line ("stats {...}"). The key file must be
 * readable by its owner only; its bytes are the key. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bfd.h"
#include "bfdio.h"
#include "loop.h"
#include "suite.h"

static struct kt_loop loop;
static struct kt_bfd_session sess;
static struct kt_fd rx;
static int tx_fd = -1;
static struct kt_addr remote;
static uint64_t t0, foreign, tx_errors;
static struct kt_timer probe;
static uint32_t probe_ms;

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...);

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "kybfd: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void on_send(void *arg, const uint8_t *pkt, size_t len)
{
	(void)arg;
	if (send(tx_fd, pkt, len, 0) < 0)
		tx_errors++;	/* no route while a path is cut: counted */
}

static void on_state(void *arg, struct kt_bfd_session *s, uint8_t old,
		     uint8_t new, uint8_t diag)
{
	(void)arg;
	(void)s;
	printf("%llu state %s -> %s diag %s\n",
	       (unsigned long long)(kt_loop_now(&loop) - t0), kt_bfd_state_name(old),
	       kt_bfd_state_name(new), kt_bfd_diag_name(diag));
	fflush(stdout);
}

static void on_rtt(void *arg, struct kt_bfd_session *s, uint32_t rtt_us)
{
	(void)arg;
	(void)s;
	printf("%llu rtt %u\n", (unsigned long long)(kt_loop_now(&loop) - t0), rtt_us);
	fflush(stdout);
}

static uint64_t clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static const struct kt_bfd_ops ops = {
	.send = on_send, .state = on_state, .rtt = on_rtt, .clock_us = clock_us,
};

static void on_rx(struct kt_fd *h, uint32_t events)
{
	uint8_t buf[KT_BFD_MAX_LEN + 16];
	struct kt_addr from;
	unsigned ttl;
	ssize_t n;

	(void)events;
	for (int i = 0; i < 64; i++) {
		n = kt_bfdio_recv(h->fd, buf, sizeof(buf), &from, &ttl);
		if (n < 0)
			return;
		/* RFC 5881 3: with Your Discriminator 0 the session is chosen
		 * by source address; this one takes only its peer's. */
		if (!kt_addr_equal(&from, &remote)) {
			foreign++;
			continue;
		}
		kt_bfd_receive(&sess, buf, (size_t)n, ttl);
	}
}

static void on_probe(struct kt_timer *t)
{
	kt_bfd_probe(&sess);
	kt_timer_set(&loop, t, probe_ms);
}

static void on_signal(struct kt_loop *l, int signo)
{
	if (signo == SIGUSR1) {
		kt_bfd_admin(&sess, sess.session_state != KT_BFD_ADMIN_DOWN);
		return;
	}
	kt_loop_stop(l);
}

static uint32_t ms_arg(const char *name, const char *v, unsigned long min)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n < min || n > 100000)
		die("--%s: '%s' is not a number from %lu to 100000", name, v, min);
	return (uint32_t)n;
}

static void read_key(const char *path, struct kt_bfd_auth *a)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		die("--key-file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (st.st_mode & 077))
		die("--key-file %s: must be a regular file readable by its owner only",
		    path);
	n = read(fd, a->key, sizeof(a->key));
	close(fd);
	if (n <= 0)
		die("--key-file %s: empty or unreadable", path);
	a->key_len = (uint8_t)n;
}

static void print_stats(void)
{
	const struct kt_bfd_stats *st = &sess.stats;

	printf("stats {\"state\":\"%s\",\"diag\":\"%s\",\"rx\":%llu,\"tx\":%llu,"
	       "\"ups\":%llu,\"downs\":%llu,\"polls\":%llu,\"finals-rx\":%llu,"
	       "\"finals-tx\":%llu,\"detect-us\":%u,\"tx-interval-us\":%u,"
	       "\"foreign\":%llu,\"tx-errors\":%llu,\"bad\":{",
	       kt_bfd_state_name(sess.session_state), kt_bfd_diag_name(sess.local_diag),
	       (unsigned long long)st->rx, (unsigned long long)st->tx,
	       (unsigned long long)st->ups, (unsigned long long)st->downs,
	       (unsigned long long)st->polls, (unsigned long long)st->finals_rx,
	       (unsigned long long)st->finals_tx, kt_bfd_detect_us(&sess),
	       kt_bfd_tx_interval_us(&sess), (unsigned long long)foreign,
	       (unsigned long long)tx_errors);
	for (unsigned i = 0; i < KT_BFD_BAD_COUNT; i++)
		printf("%s\"%s\":%llu", i ? "," : "", kt_bfd_bad_name(i),
		       (unsigned long long)st->rx_bad[i]);
	printf("}}\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "local", required_argument, NULL, 'l' },
		{ "remote", required_argument, NULL, 'r' },
		{ "bind", required_argument, NULL, 'b' },
		{ "tx-ms", required_argument, NULL, 't' },
		{ "rx-ms", required_argument, NULL, 'x' },
		{ "mult", required_argument, NULL, 'm' },
		{ "auth", required_argument, NULL, 'a' },
		{ "key-id", required_argument, NULL, 'i' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "probe-ms", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	static const int sigs[] = { SIGTERM, SIGINT, SIGUSR1, 0 };
	struct kt_bfd_config cfg = {
		.desired_min_tx_us = 300000, .required_min_rx_us = 300000, .detect_mult = 3,
	};
	struct kt_addr local;
	const char *bind_if = NULL, *keyfile = NULL, *why;
	bool have_local = false, have_remote = false;
	uint32_t discr, seed;
	uint16_t port;
	int c, auth;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (!kt_addr_parse(optarg, &local))
				die("--local: '%s' is not an IP address", optarg);
			have_local = true;
			break;
		case 'r':
			if (!kt_addr_parse(optarg, &remote))
				die("--remote: '%s' is not an IP address", optarg);
			have_remote = true;
			break;
		case 'b': bind_if = optarg; break;
		case 't': cfg.desired_min_tx_us = ms_arg("tx-ms", optarg, 10) * 1000; break;
		case 'x': cfg.required_min_rx_us = ms_arg("rx-ms", optarg, 10) * 1000; break;
		case 'm':
			if (ms_arg("mult", optarg, 1) > 255)
				die("--mult: at most 255");
			cfg.detect_mult = (uint8_t)ms_arg("mult", optarg, 1);
			break;
		case 'a':
			if ((auth = kt_bfd_auth_parse(optarg)) < 0)
				die("--auth: '%s' is not none, simple, keyed-sha1 or "
				    "meticulous-sha1", optarg);
			cfg.auth.type = (uint8_t)auth;
			break;
		case 'i': cfg.auth.key_id = (uint8_t)ms_arg("key-id", optarg, 0); break;
		case 'k': keyfile = optarg; break;
		case 'p': probe_ms = ms_arg("probe-ms", optarg, 10); break;
		default: die("usage: see the comment at the top of tests/interop/kybfd.c");
		}
	}
	if (!have_local || !have_remote || local.family != remote.family)
		die("--local and --remote are required, of one address family");
	if (cfg.auth.type != KT_BFD_AUTH_NONE) {
		if (!keyfile)
			die("--auth needs --key-file");
		read_key(keyfile, &cfg.auth);
	}
	if (kt_bfd_config_check(&cfg, &why))
		die("%s", why);
	if (kt_loop_init(&loop) || kt_loop_signals(&loop, sigs, on_signal))
		die("cannot start the event loop");
	if ((rx.fd = kt_bfdio_open_rx(local.family, &local, bind_if)) < 0)
		die("cannot listen on port %d: %s", KT_BFD_PORT, strerror(-rx.fd));
	if ((tx_fd = kt_bfdio_open_tx(local.family, &local, &remote, bind_if, &port)) < 0)
		die("cannot open the sending socket: %s", strerror(-tx_fd));
	rx.events = EPOLLIN;
	rx.cb = on_rx;
	if (kt_loop_fd_add(&loop, &rx))
		die("cannot watch the socket");
	do {
		if (getrandom(&discr, sizeof(discr), 0) != sizeof(discr) ||
		    getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
			die("getrandom failed");
	} while (!discr);
	t0 = kt_loop_now(&loop);
	printf("0 source-port %u discriminator %u\n", port, discr);
	fflush(stdout);
	if (kt_bfd_init(&sess, &loop, &cfg, discr, seed, &ops, NULL))
		die("cannot start the session");
	kt_wipe(&cfg.auth, sizeof(cfg.auth));
	if (probe_ms) {
		probe.cb = on_probe;
		kt_timer_set(&loop, &probe, probe_ms);
	}
	kt_loop_run(&loop);
	print_stats();
	kt_bfd_uninit(&sess);
	close(rx.fd);
	close(tx_fd);
	kt_loop_uninit(&loop);
	return 0;
}
