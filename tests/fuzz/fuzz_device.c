/* libFuzzer target: a tunnel device's entry point for datagrams from the
 * network (netstack/device.c), which dispatches by type and size and
 * parses the inner packet of what authenticates. First byte: suite and
 * whether the device believes it is under load. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "device.h"

static struct kt_loop loop;
static struct kt_device devs[2];
static bool ready[2];

static int no_send(void *arg, const struct kt_endpoint_addr *to,
		   const uint8_t *msg, size_t len)
{
	(void)arg;
	(void)to;
	(void)msg;
	(void)len;
	return 0;
}

static void no_deliver(void *arg, struct kt_peer *p, const uint8_t *pkt, size_t len)
{
	(void)arg;
	(void)p;
	(void)pkt;
	(void)len;
}

static const struct kt_device_ops ops = { no_send, no_deliver };

static void setup(int i)
{
	const struct kt_suite *s = i ? &kt_suite_cryptrec : &kt_suite_wireguard;
	uint8_t me[KT_SUITE_KEY_LEN], them[KT_SUITE_KEY_LEN], pub[KT_SUITE_MAX_PUB];
	struct kt_prefix any;
	struct kt_peer *p;

	if (!loop.clock && kt_loop_init(&loop))
		__builtin_trap();
	/* The same fixed identities as fuzz_handshake, so its corpus
	 * (valid messages) is meaningful here too. */
	memset(me, 0x11, sizeof(me));
	memset(them, 0x22, sizeof(them));
	me[0] &= 0x7f;
	them[0] &= 0x7f;
	if (kt_device_init(&devs[i], &loop, s, me, &ops, NULL) || s->pubkey(them, pub))
		__builtin_trap();
	p = kt_device_add_peer(&devs[i], "peer", pub, NULL);
	if (!p || !kt_prefix_parse("0.0.0.0/0", &any) || kt_peer_allow(p, &any))
		__builtin_trap();
	ready[i] = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_endpoint_addr from;
	int i;

	if (size < 1)
		return 0;
	i = data[0] & 1;
	if (!ready[i])
		setup(i);
	devs[i].load_threshold = data[0] & 2 ? 0 : 256;
	memset(&from, 0, sizeof(from));
	from.in.sin_family = AF_INET;
	from.in.sin_port = htons(51820);
	from.in.sin_addr.s_addr = htonl(0xc0000207);
	kt_device_receive(&devs[i], &from, data + 1, size - 1);
	return 0;
}
