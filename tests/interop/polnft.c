/* polnft: drives the policy compiler against the kernel for
 * tests/integration/policy-nft.t, and gives that test a TCP/UDP client
 * and server (the test machines have no netcat).
 *
 *   polnft apply [-T TEMPLATES] [--fail-last] FILE
 *       parse, check the invariants, replace table inet kyoten in one
 *       batch; prints "elements N messages N bytes N"
 *   polnft time [-T TEMPLATES] [-n REPS] [--fresh | --no-commit] FILE
 *       for tests/bench/policy: the same REPS times (default 5), timing
 *       each step; prints the median milliseconds of parse, check, build,
 *       compile (the three), commit and total. --fresh deletes the table
 *       (untimed, with nft) before each commit, so that each commit
 *       creates it rather than replaces it; --no-commit only compiles
 *   polnft connrate ADDRESS PORT SECONDS
 *       for tests/bench/policy: TCP connections to a `serve` one after
 *       the other for SECONDS; prints "connections N failed N per_s N"
 *   polnft serve tcp|udp PORT SECONDS
 *       answer every connection (or datagram) with "ok" until SECONDS pass
 *   polnft connect tcp|udp ADDRESS PORT
 *       exit 0 if the server answered within a second, 1 if not */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "nft.h"
#include "policy.h"

static int apply(int argc, char **argv)
{
	struct kt_pol_source src = { .template_dir = "policy/templates",
				     .map = &kt_board_ports };
	struct kt_pol_violation v[KT_POL_MAX_VIOLATIONS];
	struct kt_nft_opts o;
	struct kt_nft_stats st;
	struct kt_policy p;
	struct kt_config_error e;
	char msg[700];
	const char *file = NULL;
	size_t n;
	int r;

	kt_nft_opts_default(&o);
	for (int a = 2; a < argc; a++) {
		if (!strcmp(argv[a], "-T") && a + 1 < argc)
			src.template_dir = argv[++a];
		else if (!strcmp(argv[a], "--fail-last"))
			o.fail_last = true;
		else
			file = argv[a];
	}
	if (!file) {
		fprintf(stderr, "polnft apply: no file\n");
		return 2;
	}
	if (kt_policy_load(file, &src, &p, &e)) {
		fprintf(stderr, "%s\n", kt_config_error_str(&e, msg, sizeof(msg)));
		return 1;
	}
	n = kt_pol_check(&p, v, KT_POL_MAX_VIOLATIONS);
	for (size_t i = 0; i < n && i < KT_POL_MAX_VIOLATIONS; i++)
		fprintf(stderr, "%s\n", kt_pol_violation_str(&p, &v[i], msg, sizeof(msg)));
	if (n) {
		kt_policy_uninit(&p);
		return 1;
	}
	r = kt_nft_apply(&p, &o, &st, msg, sizeof(msg));
	kt_policy_uninit(&p);
	if (r) {
		fprintf(stderr, "polnft: %s\n", msg);
		return 1;
	}
	printf("elements %zu messages %zu bytes %zu\n", st.elements, st.messages,
	       st.bytes);
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

enum { T_PARSE, T_CHECK, T_BUILD, T_COMPILE, T_COMMIT, T_TOTAL, T_COUNT };

/* Times each step of `apply`, REPS times, and prints the medians. */
static int time_cmd(int argc, char **argv)
{
	static const char *const names[T_COUNT] = {
		"parse", "check", "build", "compile", "commit", "total" };
	struct kt_pol_source src = { .template_dir = "policy/templates",
				     .map = &kt_board_ports };
	struct kt_pol_violation v[KT_POL_MAX_VIOLATIONS];
	bool fresh = false, commit = true;
	double *t[T_COUNT] = { NULL };
	struct kt_nft_stats st = { 0 };
	const char *file = NULL;
	size_t flows = 0;
	int reps = 5, r = 0;
	struct kt_nft_opts o;
	char msg[700];

	kt_nft_opts_default(&o);
	for (int a = 2; a < argc; a++) {
		if (!strcmp(argv[a], "-T") && a + 1 < argc)
			src.template_dir = argv[++a];
		else if (!strcmp(argv[a], "-n") && a + 1 < argc)
			reps = atoi(argv[++a]);
		else if (!strcmp(argv[a], "--fresh"))
			fresh = true;
		else if (!strcmp(argv[a], "--no-commit"))
			commit = false;
		else
			file = argv[a];
	}
	if (!file || reps < 1 || reps > 1000) {
		fprintf(stderr, "polnft time: no file, or REPS not 1 to 1000\n");
		return 2;
	}
	for (int i = 0; i < T_COUNT; i++)
		if (!(t[i] = calloc((size_t)reps, sizeof(double))))
			return 1;
	for (int rep = 0; rep < reps && !r; rep++) {
		struct kt_nft_batch *nb;
		struct kt_config_error e;
		struct kt_policy p;
		double t0, t1, t2, t3, t4;

		t0 = now_ms();
		if (kt_policy_load(file, &src, &p, &e)) {
			fprintf(stderr, "%s\n", kt_config_error_str(&e, msg, sizeof(msg)));
			r = 1;
			break;
		}
		t1 = now_ms();
		if (kt_pol_check(&p, v, KT_POL_MAX_VIOLATIONS)) {
			fprintf(stderr, "polnft time: %s breaks an invariant "
				"(polnft apply says which)\n", file);
			kt_policy_uninit(&p);
			r = 1;
			break;
		}
		t2 = now_ms();
		if ((r = kt_nft_build(&p, &o, &nb, &st))) {
			fprintf(stderr, "polnft time: building: %s\n", strerror(-r));
			kt_policy_uninit(&p);
			break;
		}
		t3 = now_ms();
		flows = p.n_flows;
		if (commit && fresh &&
		    system("nft delete table inet " KT_NFT_TABLE " 2>/dev/null") == -1)
			perror("polnft time: nft");
		t4 = now_ms();
		if (commit && (r = kt_nft_commit(nb, msg, sizeof(msg))))
			fprintf(stderr, "polnft time: %s\n", msg);
		t[T_COMMIT][rep] = now_ms() - t4;
		t[T_PARSE][rep] = t1 - t0;
		t[T_CHECK][rep] = t2 - t1;
		t[T_BUILD][rep] = t3 - t2;
		t[T_COMPILE][rep] = t3 - t0;
		t[T_TOTAL][rep] = t[T_COMPILE][rep] + t[T_COMMIT][rep];
		kt_nft_free(nb);
		kt_policy_uninit(&p);
	}
	if (!r) {
		printf("flows %zu elements %zu messages %zu bytes %zu reps %d",
		       flows, st.elements, st.messages, st.bytes, reps);
		for (int i = 0; i < T_COUNT; i++)
			if (commit || (i != T_COMMIT && i != T_TOTAL))
				printf(" %s_ms %.2f", names[i], median(t[i], reps));
		printf("\n");
	}
	for (int i = 0; i < T_COUNT; i++)
		free(t[i]);
	return r ? 1 : 0;
}

/* Connections one after the other: each one's first packet goes through
 * the box's flow maps (the rest pass as established). */
static int connrate(char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct timeval tmo = { .tv_sec = 1 };
	struct linger lin = { .l_onoff = 1, .l_linger = 0 };
	unsigned long ok = 0, failed = 0;
	struct addrinfo *ai;
	double start, end;

	if (getaddrinfo(argv[2], argv[3], &hints, &ai)) {
		fprintf(stderr, "polnft connrate: bad address %s %s\n", argv[2], argv[3]);
		return 2;
	}
	start = now_ms();
	end = start + atof(argv[4]) * 1e3;
	while (now_ms() < end) {
		int fd = socket(ai->ai_family, SOCK_STREAM, 0);
		char buf[8];

		if (fd < 0) {
			perror("polnft connrate: socket");
			break;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen) &&
		    read(fd, buf, sizeof(buf)) == 3)
			ok++;
		else
			failed++;
		/* Closed with a reset: thousands of connections a second
		 * would otherwise leave every local port in TIME_WAIT, and
		 * finding a free one would cost more than the connection. */
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
		close(fd);
	}
	freeaddrinfo(ai);
	printf("connections %lu failed %lu per_s %.0f\n", ok, failed,
	       (double)ok * 1e3 / (now_ms() - start));
	return 0;
}

static int sock_type(const char *s)
{
	return !strcmp(s, "udp") ? SOCK_DGRAM : SOCK_STREAM;
}

static int serve(char **argv)
{
	int type = sock_type(argv[2]), one = 1;
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
				   .sin6_port = htons((uint16_t)atoi(argv[3])) };
	time_t end = time(NULL) + atoi(argv[4]);
	int fd = socket(AF_INET6, type, 0);

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (type == SOCK_STREAM && listen(fd, 16))) {
		perror("polnft serve");
		return 1;
	}
	while (time(NULL) < end) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		char buf[64];

		if (poll(&pf, 1, 200) <= 0)
			continue;
		if (type == SOCK_DGRAM) {
			ssize_t n = recvfrom(fd, buf, sizeof(buf), 0,
					     (struct sockaddr *)&from, &fl);

			if (n >= 0)
				sendto(fd, "ok\n", 3, 0, (struct sockaddr *)&from, fl);
		} else {
			int c = accept(fd, NULL, NULL);

			if (c >= 0) {
				if (write(c, "ok\n", 3) != 3)
					perror("polnft serve: write");
				close(c);
			}
		}
	}
	close(fd);
	return 0;
}

static int connect_to(char **argv)
{
	struct addrinfo hints = { .ai_socktype = sock_type(argv[2]),
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	struct pollfd pf;
	char buf[8];
	int fd, r;

	if (getaddrinfo(argv[3], argv[4], &hints, &ai)) {
		fprintf(stderr, "polnft connect: bad address %s %s\n", argv[3], argv[4]);
		return 2;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK, 0);
	r = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (r && errno != EINPROGRESS)
		return 1;
	if (hints.ai_socktype == SOCK_DGRAM && send(fd, "hi\n", 3, 0) != 3)
		return 1;
	pf.fd = fd;
	pf.events = POLLIN;
	/* The server speaks first (tcp) or answers (udp): a reply within a
	 * second means the packets passed both ways. */
	if (poll(&pf, 1, 1000) != 1 || read(fd, buf, sizeof(buf)) != 3)
		return 1;
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "apply"))
		return apply(argc, argv);
	if (argc == 5 && !strcmp(argv[1], "serve"))
		return serve(argv);
	if (argc == 5 && !strcmp(argv[1], "connect"))
		return connect_to(argv);
	if (argc >= 3 && !strcmp(argv[1], "time"))
		return time_cmd(argc, argv);
	if (argc == 5 && !strcmp(argv[1], "connrate"))
		return connrate(argv);
	fprintf(stderr, "usage: polnft apply [-T DIR] [--fail-last] FILE | "
		"serve tcp|udp PORT SECONDS | connect tcp|udp ADDRESS PORT |\n"
		"  time [-T DIR] [-n REPS] [--fresh | --no-commit] FILE | "
		"connrate ADDRESS PORT SECONDS\n");
	return 2;
}
