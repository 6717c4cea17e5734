/* kytun: a point-to-point tunnel from netstack/ (device, timers, TUN and
 * batched UDP I/O), for interoperability tests and benchmarks against
 * wireguard-go. kyotend's engine runs the same modules with its own
 * configuration; this program only wires them up from its arguments.
 *
 *   kytun --tun NAME --key FILE --port N --peer PUBKEY --allowed PREFIX...
 *         [--suite wireguard|cryptrec] [--endpoint IP:PORT] [--psk FILE]
 *         [--bind IFNAME] [--rekey-after-ms MS (tests only)]
 *
 * Runs until SIGTERM or SIGINT, then prints its counters. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "keys.h"
#include "tunio.h"

static struct kt_loop loop;
static struct kt_device dev;
static struct kt_tunio io;

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...);

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "kytun: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void on_signal(struct kt_loop *l, int signo)
{
	(void)signo;
	kt_loop_stop(l);
}

static void parse_endpoint(char *text, struct kt_endpoint_addr *e)
{
	char *colon = strrchr(text, ':');

	memset(e, 0, sizeof(*e));
	if (!colon)
		die("'%s' is not IP:PORT", text);
	*colon = '\0';
	if (inet_pton(AF_INET, text, &e->in.sin_addr) == 1) {
		e->in.sin_family = AF_INET;
		e->in.sin_port = htons((uint16_t)atoi(colon + 1));
	} else if (inet_pton(AF_INET6, text, &e->in6.sin6_addr) == 1) {
		e->in6.sin6_family = AF_INET6;
		e->in6.sin6_port = htons((uint16_t)atoi(colon + 1));
	} else {
		die("'%s' is not an IP address", text);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tun", required_argument, NULL, 't' },
		{ "key", required_argument, NULL, 'k' },
		{ "port", required_argument, NULL, 'p' },
		{ "peer", required_argument, NULL, 'P' },
		{ "allowed", required_argument, NULL, 'a' },
		{ "suite", required_argument, NULL, 's' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "psk", required_argument, NULL, 'q' },
		{ "bind", required_argument, NULL, 'b' },
		/* Test-only: a shorter REKEY_AFTER_TIME, to see rekeys. */
		{ "rekey-after-ms", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	static const int sigs[] = { SIGTERM, SIGINT, 0 };
	const struct kt_suite *suite = &kt_suite_wireguard;
	const char *tun = NULL, *keyfile = NULL, *peer_b64 = NULL, *pskfile = NULL;
	const char *bind_if = NULL;
	char *allowed[16], *endpoint = NULL, err[512];
	size_t n_allowed = 0;
	uint8_t priv[KT_SUITE_KEY_LEN], psk[KT_SUITE_KEY_LEN], pub[KT_SUITE_MAX_PUB];
	int port = 0, c, tun_fd, udp_fd;
	long rekey_ms = 0;
	struct kt_peer *peer;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': tun = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'P': peer_b64 = optarg; break;
		case 'a':
			if (n_allowed == 16)
				die("too many --allowed");
			allowed[n_allowed++] = optarg;
			break;
		case 's':
			suite = kt_suite_find(optarg);
			if (!suite)
				die("unknown suite '%s'", optarg);
			break;
		case 'e': endpoint = optarg; break;
		case 'q': pskfile = optarg; break;
		case 'b': bind_if = optarg; break;
		case 'r': rekey_ms = atol(optarg); break;
		default: die("unknown option");
		}
	}
	if (!tun || !keyfile || !peer_b64 || !n_allowed || port <= 0 || port > 65535)
		die("--tun, --key, --port, --peer and --allowed are required");
	if (kt_key_read(keyfile, priv, err, sizeof(err)))
		die("%s", err);
	memset(psk, 0, sizeof(psk));
	if (pskfile && kt_key_read(pskfile, psk, err, sizeof(err)))
		die("%s", err);
	if (kt_key_decode(peer_b64, pub, suite->pub_len))
		die("'%s' is not a public key of this suite", peer_b64);
	if (kt_loop_init(&loop) || kt_loop_signals(&loop, sigs, on_signal))
		die("event loop");
	if (kt_device_init(&dev, &loop, suite, priv, &kt_tunio_ops, &io))
		die("not a valid private key for suite %s", suite->name);
	kt_wipe(priv, sizeof(priv));
	if (rekey_ms > 0)
		dev.timing.rekey_after_ms = (uint32_t)rekey_ms;
	peer = kt_device_add_peer(&dev, "peer", pub, psk);
	kt_wipe(psk, sizeof(psk));
	if (!peer)
		die("cannot add the peer");
	for (size_t i = 0; i < n_allowed; i++) {
		struct kt_prefix p;

		if (!kt_prefix_parse(allowed[i], &p) || kt_peer_allow(peer, &p))
			die("'%s' is not a prefix", allowed[i]);
	}
	if (endpoint) {
		struct kt_endpoint_addr e;

		parse_endpoint(endpoint, &e);
		kt_peer_set_endpoint(peer, &e);
	}
	tun_fd = kt_tun_open(tun);
	if (tun_fd < 0)
		die("cannot create TUN %s", tun);
	udp_fd = kt_udp_open(endpoint && strchr(endpoint, ':') != strrchr(endpoint, ':')
				     ? AF_INET6 : AF_INET, (uint16_t)port, bind_if);
	if (udp_fd < 0)
		die("cannot bind UDP port %d", port);
	if (kt_tunio_init(&io, &dev, &loop, tun_fd, &udp_fd, 1))
		die("I/O set-up failed");
	kt_loop_run(&loop);
	fprintf(stderr, "kytun: rx %llu datagrams in %llu batches, tx %llu in %llu, "
		"handshakes %llu, drops:", (unsigned long long)io.rx_datagrams,
		(unsigned long long)io.rx_batches, (unsigned long long)io.tx_datagrams,
		(unsigned long long)io.tx_batches,
		(unsigned long long)peer->stats.handshakes);
	for (int d = 0; d < KT_DROP_COUNT; d++)
		if (peer->stats.drops[d] + dev.drops[d])
			fprintf(stderr, " %s=%llu", kt_drop_name((enum kt_drop)d),
				(unsigned long long)(peer->stats.drops[d] + dev.drops[d]));
	fputc('\n', stderr);
	kt_tunio_uninit(&io);
	kt_device_uninit(&dev);
	kt_loop_uninit(&loop);
	return 0;
}
