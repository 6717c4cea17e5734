/* libFuzzer target: every message a tunnel endpoint receives from the
 * network, for both suites: mac checks, initiation and response
 * consumption, cookie replies, transport data. The first input byte
 * picks the suite and the message kind; the rest is the message. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cookie.h"
#include "noise.h"

struct world {
	struct kt_identity me, them;
	struct kt_handshake hs;		/* mine, towards them */
	struct kt_cookie_checker cc;
	struct kt_keypair kp;
	bool ready;
};

static struct world worlds[2];

static struct kt_handshake *lookup(void *arg, const uint8_t *pub)
{
	struct world *w = arg;

	return memcmp(pub, w->them.pub, w->me.suite->pub_len) ? NULL : &w->hs;
}

/* Fixed keys, so that inputs found once reproduce. */
static void setup(struct world *w, const struct kt_suite *s)
{
	uint8_t a[KT_SUITE_KEY_LEN], b[KT_SUITE_KEY_LEN];

	memset(a, 0x11, sizeof(a));
	memset(b, 0x22, sizeof(b));
	a[0] &= 0x7f;	/* below the P-256 order either way */
	b[0] &= 0x7f;
	if (kt_identity_set(&w->me, s, a) || kt_identity_set(&w->them, s, b) ||
	    kt_handshake_init(&w->hs, &w->me, w->them.pub, NULL))
		__builtin_trap();
	kt_cookie_checker_init(&w->cc, &w->me);
	memset(&w->kp, 0, sizeof(w->kp));
	w->kp.valid = true;
	kt_replay_init(&w->kp.replay);
	w->ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t src[6] = { 192, 0, 2, 7, 0x12, 0x34 };
	static uint8_t out[4096];
	struct kt_handshake *found;
	struct world *w;
	const uint8_t *msg = data + 1;
	size_t len = size - 1;

	if (size < 1 || len > sizeof(out))
		return 0;
	w = &worlds[data[0] & 1];
	if (!w->ready)
		setup(w, data[0] & 1 ? &kt_suite_cryptrec : &kt_suite_wireguard);
	switch ((data[0] >> 1) % 4) {
	case 0:
		kt_macs_check(&w->cc, msg, len, src, sizeof(src), 1000);
		if (!kt_noise_consume_initiation(&w->me, msg, len, lookup, w, 1000,
						 &found))
			(void)!kt_noise_create_response(found, out, 1, 1000);
		break;
	case 1:
		/* A response needs an initiation outstanding. */
		if (w->hs.state != KT_HS_CREATED_INITIATION &&
		    kt_noise_create_initiation(&w->hs, out, 5, 1000))
			break;
		(void)!kt_noise_consume_response(&w->hs, msg, len);
		break;
	case 2:
		(void)!kt_cookie_reply_consume(&w->hs, msg, len, 1000);
		break;
	case 3:
		(void)!kt_keypair_open(&w->kp, w->me.suite, msg, len, out);
		break;
	}
	return 0;
}
