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
 *   polnft serve tcp|udp PORT[,PORT...] SECONDS
 *       answer every connection (or datagram) with "ok" until SECONDS pass
 *   polnft connect [-t MS] tcp|udp ADDRESS PORT
 *       exit 0 if the server answered within MS (default 1000), 1 if not
 *   polnft probe [-t MS] < PROBES
 *       many probes at once, for tests/integration/policy-lab.t: stdin has
 *       "ID tcp|udp ADDRESS PORT" or "ID icmp ADDRESS" per line (icmp: an
 *       echo request, raw socket, so root); prints "ID ok|fail" for each
 *   polnft ct-flush
 *       forget every tracked connection of this namespace (conntrack) */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
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

static long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* A timeout in milliseconds, 1 to 60000. */
static int parse_ms(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s < '0' || *s > '9' || *end || v < 1 || v > 60000) {
		fprintf(stderr, "polnft: timeout '%s' is not 1 to 60000 ms\n", s);
		return -1;
	}
	*out = (int)v;
	return 0;
}

#define MAX_SERVE 32

/* Answers a datagram from the address it was sent to: a server with
 * several addresses (the lab's host groups) would otherwise answer from
 * its first, which the client's connected socket ignores. IPV6_PKTINFO
 * carries IPv4 too, as mapped addresses, on this dual-stack socket. */
static void udp_answer(int fd)
{
	struct sockaddr_in6 from;
	char buf[64], cbuf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from),
			     .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct in6_pktinfo to = { 0 };
	struct cmsghdr *c;

	if (recvmsg(fd, &mh, 0) < 0)
		return;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO)
			memcpy(&to, CMSG_DATA(c), sizeof(to));
	to.ipi6_ifindex = 0;	/* let routing pick the way back */
	memcpy(buf, "ok\n", 3);
	iov.iov_len = 3;
	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_controllen = sizeof(cbuf);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = IPPROTO_IPV6;
	c->cmsg_type = IPV6_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(to));
	memcpy(CMSG_DATA(c), &to, sizeof(to));
	if (sendmsg(fd, &mh, 0) < 0)
		perror("polnft serve: sendmsg");
}

/* PORTS: one port or several separated by commas. */
static int serve(char **argv)
{
	int type = sock_type(argv[2]), one = 1, fds[MAX_SERVE];
	struct pollfd pf[MAX_SERVE];
	time_t end = time(NULL) + atoi(argv[4]);
	size_t n = 0;
	char *ports = strdup(argv[3]), *save = NULL;

	for (char *t = strtok_r(ports, ",", &save); t && n < MAX_SERVE;
	     t = strtok_r(NULL, ",", &save)) {
		struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
					   .sin6_port = htons((uint16_t)atoi(t)) };
		int fd = socket(AF_INET6, type, 0);

		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
					 sizeof(one)) ||
		    (type == SOCK_DGRAM &&
		     setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one))) ||
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
		    (type == SOCK_STREAM && listen(fd, SOMAXCONN))) {
			fprintf(stderr, "polnft serve %s %s: %s\n", argv[2], t,
				strerror(errno));
			free(ports);
			return 1;
		}
		fds[n] = fd;
		pf[n].fd = fd;
		pf[n++].events = POLLIN;
	}
	free(ports);
	while (time(NULL) < end) {
		if (poll(pf, (nfds_t)n, 200) <= 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (!(pf[i].revents & POLLIN))
				continue;
			if (type == SOCK_DGRAM) {
				udp_answer(fds[i]);
			} else {
				int c = accept(fds[i], NULL, NULL);

				if (c >= 0) {
					if (write(c, "ok\n", 3) != 3)
						perror("polnft serve: write");
					close(c);
				}
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	return 0;
}

/* --- probes --- */

enum pproto { P_TCP, P_UDP, P_ICMP };

struct probe {
	char id[64];
	enum pproto proto;
	struct sockaddr_storage to;
	socklen_t tolen;
	uint16_t icmp_id, seq;
	int fd;
	long start, last_send;
	int result;			/* -1 running or not started, 0 fail, 1 ok */
};

static uint16_t csum(const void *data, size_t len)
{
	const uint8_t *b = data;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)(b[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* Sends the probe's datagram (udp) or echo request (icmp); tcp sends
 * nothing after connect. A local refusal (the box's own output chain
 * drops with EPERM) ends the probe. */
static void probe_send(struct probe *p, long now)
{
	p->last_send = now;
	if (p->proto == P_UDP) {
		if (send(p->fd, "hi\n", 3, 0) < 0 && errno != EAGAIN)
			p->result = 0;
	} else if (p->proto == P_ICMP) {
		uint8_t pkt[16] = { 0 };
		bool v6 = p->to.ss_family == AF_INET6;

		pkt[0] = v6 ? 128 : 8;	/* echo request */
		pkt[4] = (uint8_t)(p->icmp_id >> 8);
		pkt[5] = (uint8_t)p->icmp_id;
		p->seq++;
		pkt[6] = (uint8_t)(p->seq >> 8);
		pkt[7] = (uint8_t)p->seq;
		memcpy(pkt + 8, "kyotenpb", 8);
		if (!v6) {	/* the kernel sums ICMPv6 for raw sockets */
			uint16_t c = csum(pkt, sizeof(pkt));

			memcpy(pkt + 2, &c, 2);
		}
		if (send(p->fd, pkt, sizeof(pkt), 0) < 0 && errno != EAGAIN)
			p->result = 0;
	}
}

static void probe_start(struct probe *p, long now)
{
	static const int types[] = { [P_TCP] = SOCK_STREAM, [P_UDP] = SOCK_DGRAM,
				     [P_ICMP] = SOCK_RAW };
	int fam = p->to.ss_family;
	int proto = p->proto != P_ICMP ? 0 : fam == AF_INET6 ? IPPROTO_ICMPV6
							    : IPPROTO_ICMP;

	p->start = now;
	p->fd = socket(fam, types[p->proto] | SOCK_NONBLOCK, proto);
	if (p->fd < 0) {
		perror("polnft probe: socket");
		p->result = 0;
		return;
	}
	/* A raw socket connected to the target hears only its packets. */
	if (connect(p->fd, (struct sockaddr *)&p->to, p->tolen) &&
	    errno != EINPROGRESS) {
		p->result = 0;
		return;
	}
	probe_send(p, now);
}

/* Reads what arrived: "ok\n" from the server, or our echo reply. */
static void probe_read(struct probe *p)
{
	uint8_t buf[1500];
	ssize_t n = recv(p->fd, buf, sizeof(buf), 0);

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			p->result = 0;	/* refused, unreachable */
		return;
	}
	if (p->proto != P_ICMP) {
		p->result = n == 3 && !memcmp(buf, "ok\n", 3);
		return;
	}
	if (p->to.ss_family == AF_INET) {
		size_t ihl = (size_t)(buf[0] & 0xf) * 4;

		if ((size_t)n >= ihl + 8 && buf[ihl] == 0 &&
		    (buf[ihl + 4] << 8 | buf[ihl + 5]) == p->icmp_id)
			p->result = 1;
	} else if (n >= 8 && buf[0] == 129 && (buf[4] << 8 | buf[5]) == p->icmp_id) {
		p->result = 1;
	}
}

static int parse_probe(char *line, struct probe *p, unsigned no)
{
	char id[64], proto[8], addr[64], port[8] = "0";
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	int n = sscanf(line, "%63s %7s %63s %7s", id, proto, addr, port);

	memset(p, 0, sizeof(*p));
	if (n < 3 || (strcmp(proto, "icmp") && n < 4)) {
		fprintf(stderr, "polnft probe: line %u: want 'ID tcp|udp ADDRESS "
			"PORT' or 'ID icmp ADDRESS'\n", no);
		return -1;
	}
	if (!strcmp(proto, "tcp"))
		p->proto = P_TCP;
	else if (!strcmp(proto, "udp"))
		p->proto = P_UDP;
	else if (!strcmp(proto, "icmp"))
		p->proto = P_ICMP;
	else {
		fprintf(stderr, "polnft probe: line %u: unknown protocol '%s'\n",
			no, proto);
		return -1;
	}
	hints.ai_socktype = p->proto == P_TCP ? SOCK_STREAM : SOCK_DGRAM;
	if (getaddrinfo(addr, port, &hints, &ai)) {
		fprintf(stderr, "polnft probe: line %u: bad address '%s' or port '%s'\n",
			no, addr, port);
		return -1;
	}
	memcpy(&p->to, ai->ai_addr, ai->ai_addrlen);
	p->tolen = ai->ai_addrlen;
	freeaddrinfo(ai);
	if (p->proto == P_ICMP)	/* the raw socket's address has no port */
		((struct sockaddr_in *)&p->to)->sin_port = 0;
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->icmp_id = (uint16_t)(getpid() * 131u + no);
	p->fd = -1;
	p->result = -1;
	return 0;
}

#define MAX_PROBES 4096
#define PROBE_GAP_MS 5		/* between two probes' starts: no burst */
#define PROBE_RESEND_MS 400	/* udp and icmp, which have no retransmission */

/* Runs every probe read from stdin at once (starts spread PROBE_GAP_MS
 * apart), each for at most timeout ms, and prints "ID ok" or "ID fail"
 * per probe in the order given. Exit 0 when all ran, whatever they
 * found; 2 on bad input. */
static int probe(int timeout)
{
	struct probe *p = calloc(MAX_PROBES, sizeof(*p));
	struct pollfd *pf = calloc(MAX_PROBES, sizeof(*pf));
	size_t *which = calloc(MAX_PROBES, sizeof(*which));
	char line[256];
	size_t n = 0, next = 0, done = 0;
	long t0;

	if (!p || !pf || !which)
		return 2;
	while (fgets(line, sizeof(line), stdin)) {
		if (line[0] == '\n' || line[0] == '#')
			continue;
		if (n == MAX_PROBES) {
			fprintf(stderr, "polnft probe: more than %d probes\n", MAX_PROBES);
			return 2;
		}
		if (parse_probe(line, &p[n], (unsigned)n + 1))
			return 2;
		n++;
	}
	t0 = mono_ms();
	while (done < n) {
		long now = mono_ms();
		size_t k = 0;

		while (next < n && now >= t0 + (long)next * PROBE_GAP_MS)
			probe_start(&p[next++], now);
		done = 0;
		for (size_t i = 0; i < next; i++) {
			if (p[i].result < 0 && now - p[i].start >= timeout)
				p[i].result = 0;
			if (p[i].result >= 0) {
				if (p[i].fd >= 0) {
					close(p[i].fd);
					p[i].fd = -1;
				}
				done++;
				continue;
			}
			if (p[i].proto != P_TCP && now - p[i].last_send >= PROBE_RESEND_MS)
				probe_send(&p[i], now);
			pf[k].fd = p[i].fd;
			pf[k].events = POLLIN;
			which[k++] = i;
		}
		if (done == n)
			break;
		if (poll(pf, (nfds_t)k, next < n ? PROBE_GAP_MS : 20) <= 0)
			continue;
		for (size_t j = 0; j < k; j++)
			if (pf[j].revents & (POLLIN | POLLERR | POLLHUP))
				probe_read(&p[which[j]]);
	}
	for (size_t i = 0; i < n; i++)
		printf("%s %s\n", p[i].id, p[i].result == 1 ? "ok" : "fail");
	free(p);
	free(pf);
	free(which);
	return 0;
}

static int connect_to(char **argv, int timeout)
{
	char line[200];
	struct probe p;

	snprintf(line, sizeof(line), "c %s %s %s", argv[0], argv[1], argv[2]);
	if (parse_probe(line, &p, 1) || p.proto == P_ICMP) {
		fprintf(stderr, "polnft connect: bad address %s %s\n", argv[1], argv[2]);
		return 2;
	}
	/* The server speaks first (tcp) or answers (udp): a reply within the
	 * timeout means the packets passed both ways. */
	probe_start(&p, mono_ms());
	while (p.result < 0) {
		struct pollfd pf = { .fd = p.fd, .events = POLLIN };
		long left = timeout - (mono_ms() - p.start);

		if (left <= 0)
			break;
		if (poll(&pf, 1, (int)(left < PROBE_RESEND_MS ? left : PROBE_RESEND_MS)) > 0)
			probe_read(&p);
		else if (p.proto == P_UDP)
			probe_send(&p, mono_ms());
	}
	if (p.fd >= 0)
		close(p.fd);
	return p.result == 1 ? 0 : 1;
}

/* Forgets every connection conntrack tracks in this namespace, so that
 * the next packets are judged as new by the ruleset (not let through as
 * replies of what passed before). */
static int ct_flush(void)
{
	char buf[8192];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfh;
	uint32_t seq = (uint32_t)time(NULL);
	ssize_t n;
	int r;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("polnft ct-flush: netlink");
		return 1;
	}
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	nfh = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfh));
	nfh->nfgen_family = AF_UNSPEC;	/* both families */
	nfh->version = NFNETLINK_V0;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0 ||
	    (n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) < 0 ||
	    (r = mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(nl),
			    NULL, NULL)) < 0) {
		perror("polnft ct-flush");
		mnl_socket_close(nl);
		return 1;
	}
	mnl_socket_close(nl);
	return 0;
}

int main(int argc, char **argv)
{
	int timeout = 1000, a = 2;

	if (argc >= 3 && !strcmp(argv[1], "apply"))
		return apply(argc, argv);
	if (argc == 5 && !strcmp(argv[1], "serve"))
		return serve(argv);
	if (argc == 2 && !strcmp(argv[1], "ct-flush"))
		return ct_flush();
	if (argc >= 2 && (!strcmp(argv[1], "connect") || !strcmp(argv[1], "probe"))) {
		if (argc >= 4 && !strcmp(argv[2], "-t")) {
			if (parse_ms(argv[3], &timeout))
				return 2;
			a = 4;
		}
		if (!strcmp(argv[1], "probe") && argc == a)
			return probe(timeout);
		if (!strcmp(argv[1], "connect") && argc == a + 3)
			return connect_to(argv + a, timeout);
	}
	if (argc >= 3 && !strcmp(argv[1], "time"))
		return time_cmd(argc, argv);
	if (argc == 5 && !strcmp(argv[1], "connrate"))
		return connrate(argv);
	fprintf(stderr, "usage: polnft apply [-T DIR] [--fail-last] FILE | "
		"serve tcp|udp PORT[,PORT...] SECONDS | "
		"connect [-t MS] tcp|udp ADDRESS PORT | probe [-t MS] < PROBES | "
		"ct-flush |\n"
		"  time [-T DIR] [-n REPS] [--fresh | --no-commit] FILE | "
		"connrate ADDRESS PORT SECONDS\n");
	return 2;
}
