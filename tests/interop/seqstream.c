/* seqstream: a UDP stream with sequence numbers, for the failover tests
 * and benchmark: the outage of a failover is the packets lost times the
 * interval (at 1,000 packets a second, 1 ms each).
 *
 *   seqstream send ADDR PORT RATE SECONDS     RATE packets a second
 *   seqstream recv PORT SECONDS [STATSFILE]   until SECONDS pass with the
 *                                             stream over (or SIGTERM)
 *
 * The receiver prints one line of JSON: received, the highest sequence
 * number seen, lost (packets never seen below it), duplicates,
 * reordered, the longest gap between two packets in ms, and the first
 * and last sequence numbers of the longest run of lost packets. STATSFILE,
 * if given, is rewritten with the same line every 100 ms, so a test can
 * read the counts while the stream runs. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SEQ (1u << 22)	/* 70 minutes at 1,000 a second */
#define MAGIC 0x6b797373u	/* "kyss" */

struct pkt {
	uint32_t magic, seq;
	uint64_t sent_ns;
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int resolve(const char *addr, const char *port, struct sockaddr_storage *ss,
		   socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	long p = strtol(port, NULL, 10);

	memset(ss, 0, sizeof(*ss));
	if (p < 1 || p > 65535)
		return -1;
	if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)p);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*in6);
		return 0;
	}
	return -1;
}

static int do_send(char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	long rate = strtol(argv[2], NULL, 10), secs = strtol(argv[3], NULL, 10);
	uint64_t start, interval, n;
	int fd;

	if (resolve(argv[0], argv[1], &ss, &len) || rate < 1 || rate > 100000 ||
	    secs < 1 || secs > 3600) {
		fprintf(stderr, "seqstream send: ADDR PORT RATE(1-100000) SECONDS(1-3600)\n");
		return 2;
	}
	if ((fd = socket(ss.ss_family, SOCK_DGRAM, 0)) < 0) {
		perror("seqstream: socket");
		return 1;
	}
	interval = 1000000000u / (uint64_t)rate;
	n = (uint64_t)rate * (uint64_t)secs;
	start = now_ns();
	for (uint64_t i = 0; i < n && !stop; i++) {
		struct pkt p = { MAGIC, (uint32_t)i, 0 };
		uint64_t due = start + i * interval, t;
		struct timespec ts;

		/* Paced against the start, so a late packet does not slow the
		 * ones after it. */
		while ((t = now_ns()) < due) {
			ts.tv_sec = 0;
			ts.tv_nsec = (long)(due - t);
			nanosleep(&ts, NULL);
		}
		p.sent_ns = t;
		/* No route for a moment (a path being replaced) is a loss the
		 * receiver counts, not an error here. */
		sendto(fd, &p, sizeof(p), 0, (struct sockaddr *)&ss, len);
	}
	close(fd);
	printf("{\"sent\":%llu}\n", (unsigned long long)n);
	return 0;
}

struct rx {
	uint8_t *seen;
	uint64_t received, dups, reordered;
	int64_t max_seq;
	uint64_t last_ns, max_gap_ns;
};

static void report(const struct rx *r, FILE *f)
{
	uint64_t lost = 0, run = 0, best = 0;
	int64_t best_end = -1;

	for (int64_t s = 0; s <= r->max_seq; s++) {
		if (r->seen[s]) {
			run = 0;
			continue;
		}
		lost++;
		if (++run > best) {
			best = run;
			best_end = s;
		}
	}
	fprintf(f, "{\"received\":%llu,\"max-seq\":%lld,\"lost\":%llu,\"duplicates\":%llu,"
		"\"reordered\":%llu,\"max-gap-ms\":%.1f,\"longest-loss\":%llu,"
		"\"loss-from\":%lld,\"loss-to\":%lld}\n",
		(unsigned long long)r->received, (long long)r->max_seq,
		(unsigned long long)lost, (unsigned long long)r->dups,
		(unsigned long long)r->reordered, (double)r->max_gap_ns / 1e6,
		(unsigned long long)best, best ? (long long)(best_end - (int64_t)best + 1) : -1LL,
		(long long)best_end);
}

static void write_stats(const struct rx *r, const char *path)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "w")))
		return;
	report(r, f);
	fclose(f);
	rename(tmp, path);
}

static int do_recv(int argc, char **argv)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	long port = strtol(argv[0], NULL, 10), secs = strtol(argv[1], NULL, 10);
	const char *stats = argc > 2 ? argv[2] : NULL;
	struct timeval tv = { 0, 100000 };
	uint64_t end, next_stats = 0;
	struct rx r = { .max_seq = -1 };
	int fd, off = 0;

	if (port < 1 || port > 65535 || secs < 1 || secs > 3600) {
		fprintf(stderr, "seqstream recv: PORT SECONDS [STATSFILE]\n");
		return 2;
	}
	if (!(r.seen = calloc(MAX_SEQ, 1)) ||
	    (fd = socket(AF_INET6, SOCK_DGRAM, 0)) < 0) {
		perror("seqstream: socket");
		return 1;
	}
	a.sin6_port = htons((uint16_t)port);
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		perror("seqstream: bind");
		return 1;
	}
	end = now_ns() + (uint64_t)secs * 1000000000u;
	while (!stop && now_ns() < end) {
		struct pkt p;
		ssize_t n = recv(fd, &p, sizeof(p), 0);
		uint64_t t = now_ns();

		if (stats && t >= next_stats) {
			write_stats(&r, stats);
			next_stats = t + 100000000u;
		}
		if (n != sizeof(p) || p.magic != MAGIC || p.seq >= MAX_SEQ)
			continue;
		if (r.seen[p.seq]) {
			r.dups++;
			continue;
		}
		r.seen[p.seq] = 1;
		r.received++;
		if ((int64_t)p.seq < r.max_seq)
			r.reordered++;
		else
			r.max_seq = p.seq;
		if (r.last_ns && t - r.last_ns > r.max_gap_ns)
			r.max_gap_ns = t - r.last_ns;
		r.last_ns = t;
	}
	if (stats)
		write_stats(&r, stats);
	report(&r, stdout);
	close(fd);
	free(r.seen);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	if (argc >= 6 && !strcmp(argv[1], "send"))
		return do_send(argv + 2);
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "recv"))
		return do_recv(argc - 2, argv + 2);
	fprintf(stderr, "usage: seqstream send ADDR PORT RATE SECONDS | "
		"seqstream recv PORT SECONDS [STATSFILE]\n");
	return 2;
}
