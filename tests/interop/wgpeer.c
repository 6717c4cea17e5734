/* wgpeer: one side of a WireGuard tunnel built from netstack/ (the
 * handshake, cookies, transport), over a plain UDP socket, for testing
 * against another implementation. It exchanges one ICMP echo through the
 * tunnel and exits 0 if the exchange succeeded.
 *
 *   wgpeer initiate|respond KEYFILE PEER_PUB_BASE64 LISTEN_PORT
 *          PEER_IP:PORT INNER_SELF INNER_PEER [PSKFILE]
 *
 * initiate: sends the initiation, then an echo request to INNER_PEER, and
 *           waits for the reply.
 * respond:  waits for the peer's initiation and echo request, answers both.
 *
 * Not part of the firmware: kyotend will carry the real tunnel engine. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cookie.h"
#include "keys.h"
#include "noise.h"

static const struct kt_suite *S = &kt_suite_wireguard;
static struct kt_identity id;
static struct kt_handshake hs;
static struct kt_keypair kp;
static struct kt_cookie_checker cc;
static int sock;
static struct sockaddr_in peer;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
	fprintf(stderr, "wgpeer: %s\n", what);
	exit(1);
}

static void read_key(const char *path, uint8_t out[KT_SUITE_KEY_LEN])
{
	char err[512];

	if (kt_key_read(path, out, err, sizeof(err)))
		die(err);
}

static uint16_t csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An IPv4 ICMP echo (type 8) or reply (type 0) of 64 bytes in all,
 * padded to 16 as WireGuard pads. */
static size_t icmp(uint8_t *pkt, uint8_t type, struct in_addr src,
		   struct in_addr dst, uint16_t ident, uint16_t seq)
{
	uint16_t c;

	memset(pkt, 0, 64);
	pkt[0] = 0x45;
	pkt[3] = 64;
	pkt[8] = 64;
	pkt[9] = 1;
	memcpy(pkt + 12, &src, 4);
	memcpy(pkt + 16, &dst, 4);
	c = csum(pkt, 20);
	pkt[10] = (uint8_t)(c >> 8);
	pkt[11] = (uint8_t)c;
	pkt[20] = type;
	pkt[24] = (uint8_t)(ident >> 8);
	pkt[25] = (uint8_t)ident;
	pkt[26] = (uint8_t)(seq >> 8);
	pkt[27] = (uint8_t)seq;
	memcpy(pkt + 28, "kyoten wgpeer interop test data", 32);
	c = csum(pkt + 20, 44);
	pkt[22] = (uint8_t)(c >> 8);
	pkt[23] = (uint8_t)c;
	return 64;
}

static void send_msg(const uint8_t *msg, size_t len)
{
	if (sendto(sock, msg, len, 0, (struct sockaddr *)&peer, sizeof(peer)) !=
	    (ssize_t)len)
		die("sendto failed");
}

/* Next datagram from anyone, or exit after the deadline. */
static ssize_t receive(uint8_t *buf, size_t cap, struct sockaddr_in *from,
		       uint64_t deadline)
{
	socklen_t fl = sizeof(*from);
	struct pollfd p = { .fd = sock, .events = POLLIN };
	uint64_t t = now_ms();

	if (t >= deadline || poll(&p, 1, (int)(deadline - t)) <= 0)
		die("timed out waiting for the peer");
	return recvfrom(sock, buf, cap, 0, (struct sockaddr *)from, &fl);
}

/* The next handshake message of the given kind from anyone. */
static ssize_t await(uint8_t *buf, size_t cap, struct sockaddr_in *from,
		     uint64_t deadline, enum kt_msg_kind kind, size_t len)
{
	for (;;) {
		ssize_t got = receive(buf, cap, from, deadline);

		if (got == (ssize_t)len && kt_get_le32(buf) == kt_msg_type(S, kind))
			return got;
	}
}

static struct kt_handshake *lookup(void *arg, const uint8_t *pub)
{
	(void)arg;
	return memcmp(pub, hs.remote_static, S->pub_len) ? NULL : &hs;
}

static void src_bytes(const struct sockaddr_in *a, uint8_t out[6])
{
	memcpy(out, &a->sin_addr, 4);
	memcpy(out + 4, &a->sin_port, 2);
}

int main(int argc, char **argv)
{
	uint8_t priv[KT_SUITE_KEY_LEN], peer_pub[KT_SUITE_MAX_PUB], psk[KT_SUITE_KEY_LEN];
	uint8_t buf[2048], pkt[2048], src[6];
	struct in_addr self_in, peer_in;
	struct sockaddr_in local = { .sin_family = AF_INET }, from;
	const char *limit = getenv("WGPEER_TIMEOUT_MS");
	uint64_t deadline = now_ms() + (limit ? strtoull(limit, NULL, 10) : 10000);
	bool initiator;
	char *colon;
	ssize_t got;
	int len;

	if (argc < 8)
		die("usage: wgpeer initiate|respond KEYFILE PEER_PUB LISTEN_PORT "
		    "PEER_IP:PORT INNER_SELF INNER_PEER [PSKFILE]");
	initiator = !strcmp(argv[1], "initiate");
	read_key(argv[2], priv);
	if (kt_key_decode(argv[3], peer_pub, S->pub_len))
		die("PEER_PUB is not a base64 public key");
	memset(psk, 0, sizeof(psk));
	if (argc > 8)
		read_key(argv[8], psk);
	local.sin_port = htons((uint16_t)atoi(argv[4]));
	colon = strchr(argv[5], ':');
	if (!colon)
		die("PEER_IP:PORT expected");
	*colon = '\0';
	peer.sin_family = AF_INET;
	peer.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, argv[5], &peer.sin_addr) != 1 ||
	    inet_pton(AF_INET, argv[6], &self_in) != 1 ||
	    inet_pton(AF_INET, argv[7], &peer_in) != 1)
		die("bad address");
	if (kt_identity_set(&id, S, priv) ||
	    kt_handshake_init(&hs, &id, peer_pub, psk))
		die("bad keys");
	kt_wipe(priv, sizeof(priv));
	kt_wipe(psk, sizeof(psk));
	kt_cookie_checker_init(&cc, &id);
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || bind(sock, (struct sockaddr *)&local, sizeof(local)))
		die("cannot bind the UDP port");

	if (initiator) {
		if (kt_noise_create_initiation(&hs, buf, 0x1234, now_ms()))
			die("creating the initiation failed");
		send_msg(buf, kt_init_len(S));
		got = await(buf, sizeof(buf), &from, deadline, KT_MSG_RESPONSE,
			    kt_resp_len(S));
		src_bytes(&from, src);
		if (kt_macs_check(&cc, buf, (size_t)got, src, 6, now_ms()) == KT_MACS_INVALID)
			die("response: mac1 invalid");
		if (kt_noise_consume_response(&hs, buf, (size_t)got))
			die("response refused");
		if (kt_noise_derive_keypair(&hs, &kp, now_ms()))
			die("no keypair");
		len = kt_keypair_seal(&kp, S, buf, pkt,
				      icmp(pkt, 8, self_in, peer_in, 0x4b59, 1));
		send_msg(buf, (size_t)len);
	} else {
		struct kt_handshake *found;

		got = await(buf, sizeof(buf), &from, deadline, KT_MSG_INITIATION,
			    kt_init_len(S));
		src_bytes(&from, src);
		if (kt_macs_check(&cc, buf, (size_t)got, src, 6, now_ms()) == KT_MACS_INVALID)
			die("initiation: mac1 invalid");
		if (kt_noise_consume_initiation(&id, buf, (size_t)got, lookup, NULL,
						now_ms(), &found))
			die("initiation refused");
		if (kt_noise_create_response(&hs, buf, 0x5678, now_ms()))
			die("creating the response failed");
		peer = from;	/* roaming: answer where it came from */
		send_msg(buf, kt_resp_len(S));
		if (kt_noise_derive_keypair(&hs, &kp, now_ms()))
			die("no keypair");
	}
	/* Transport: wait for the echo (request or reply) through the tunnel. */
	for (;;) {
		got = receive(buf, sizeof(buf), &from, deadline);
		if (got < (ssize_t)KT_DATA_MIN_LEN ||
		    kt_get_le32(buf) != kt_msg_type(S, KT_MSG_DATA))
			continue;
		len = kt_keypair_open(&kp, S, buf, (size_t)got, pkt);
		if (len < 0)
			die("a transport message did not open");
		if (len == 0)
			continue;	/* keepalive */
		if (len < 28 || pkt[9] != 1)
			continue;
		if (initiator && pkt[20] == 0 && pkt[24] == 0x4b && pkt[25] == 0x59) {
			printf("wgpeer: echo reply from %s through the tunnel\n", argv[7]);
			return 0;
		}
		if (!initiator && pkt[20] == 8) {
			size_t ip_len = (size_t)(pkt[2] << 8 | pkt[3]);
			uint8_t tmp[4];
			uint16_t c;

			if (memcmp(pkt + 12, &peer_in, 4) || ip_len > (size_t)len ||
			    ip_len < 28)
				die("echo request from an address the peer may not use");
			/* The reply mirrors the request: same identifier,
			 * sequence and data, addresses swapped. */
			memcpy(tmp, pkt + 12, 4);
			memcpy(pkt + 12, pkt + 16, 4);
			memcpy(pkt + 16, tmp, 4);
			pkt[20] = 0;
			pkt[22] = pkt[23] = 0;
			c = csum(pkt + 20, ip_len - 20);
			pkt[22] = (uint8_t)(c >> 8);
			pkt[23] = (uint8_t)c;
			pkt[10] = pkt[11] = 0;
			c = csum(pkt, 20);
			pkt[10] = (uint8_t)(c >> 8);
			pkt[11] = (uint8_t)c;
			/* Padded with zeros to 16, as WireGuard pads. */
			memset(pkt + ip_len, 0, ((ip_len + 15) & ~(size_t)15) - ip_len);
			len = kt_keypair_seal(&kp, S, buf, pkt, (ip_len + 15) & ~(size_t)15);
			send_msg(buf, (size_t)len);
			printf("wgpeer: answered an echo request from %s\n", argv[7]);
			return 0;
		}
	}
}
