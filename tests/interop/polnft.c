/* polnft: drives the policy compiler against the kernel for
 * tests/integration/policy-nft.t, and gives that test a TCP/UDP client
 * and server (the test machines have no netcat).
 *
 *   polnft apply [-T TEMPLATES] [--fail-last] FILE
 *       parse, check the invariants, replace table inet kyoten in one
 *       batch; prints "elements N messages N bytes N"
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
	fprintf(stderr, "usage: polnft apply [-T DIR] [--fail-last] FILE | "
		"serve tcp|udp PORT SECONDS | connect tcp|udp ADDRESS PORT\n");
	return 2;
}
