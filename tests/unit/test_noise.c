/* The handshake and transport of netstack/noise.c between two identities
 * in one process, for both cipher suites. Interoperability with another
 * WireGuard implementation is tested against wireguard-go in
 * tests/integration/. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cookie.h"
#include "noise.h"
#include "unit.h"

struct side {
	struct kt_identity id;
	struct kt_handshake hs;		/* its view of the other side */
	struct kt_keypair kp;
	struct kt_cookie_checker cc;
};

static struct side a, b;
static const struct kt_suite *suite;

static struct kt_handshake *lookup_b_view_of_a(void *arg, const uint8_t *pub)
{
	(void)arg;
	return memcmp(pub, a.id.pub, suite->pub_len) ? NULL : &b.hs;
}

static void setup_pair(const uint8_t *psk_a, const uint8_t *psk_b)
{
	uint8_t priv[KT_SUITE_KEY_LEN], pub[KT_SUITE_MAX_PUB];

	assert_int_equal(suite->keygen(priv, pub), 0);
	assert_int_equal(kt_identity_set(&a.id, suite, priv), 0);
	assert_memory_equal(a.id.pub, pub, suite->pub_len);
	assert_int_equal(suite->keygen(priv, pub), 0);
	assert_int_equal(kt_identity_set(&b.id, suite, priv), 0);
	kt_wipe(priv, sizeof(priv));
	assert_int_equal(kt_handshake_init(&a.hs, &a.id, b.id.pub, psk_a), 0);
	assert_int_equal(kt_handshake_init(&b.hs, &b.id, a.id.pub, psk_b), 0);
	kt_cookie_checker_init(&a.cc, &a.id);
	kt_cookie_checker_init(&b.cc, &b.id);
}

static const uint8_t src[6] = { 192, 0, 2, 1, 0xca, 0x6c };

/* a initiates, b responds; both derive keypairs. Returns b's error for
 * the response consumption step (0 on success). */
static int handshake(uint64_t now)
{
	uint8_t init[KT_MAX_HANDSHAKE_LEN], resp[KT_MAX_HANDSHAKE_LEN];
	struct kt_handshake *found;
	int err;

	assert_int_equal(kt_noise_create_initiation(&a.hs, init, 0x11, now), 0);
	assert_int_equal(kt_macs_check(&b.cc, init, kt_init_len(suite), src,
				       sizeof(src), now), KT_MACS_VALID_MAC1);
	if ((err = kt_noise_consume_initiation(&b.id, init, kt_init_len(suite),
					       lookup_b_view_of_a, NULL, now,
					       &found)))
		return err;
	assert_ptr_equal(found, &b.hs);
	assert_int_equal(kt_noise_create_response(&b.hs, resp, 0x22, now), 0);
	assert_int_equal(kt_macs_check(&a.cc, resp, kt_resp_len(suite), src,
				       sizeof(src), now), KT_MACS_VALID_MAC1);
	if ((err = kt_noise_consume_response(&a.hs, resp, kt_resp_len(suite))))
		return err;
	assert_int_equal(kt_noise_derive_keypair(&a.hs, &a.kp, now), 0);
	assert_int_equal(kt_noise_derive_keypair(&b.hs, &b.kp, now), 0);
	return 0;
}

static void transport_ok(struct side *from, struct side *to, const char *text)
{
	uint8_t msg[256], out[256];
	size_t len = strlen(text);
	int n = kt_keypair_seal(&from->kp, suite, msg, (const uint8_t *)text, len);

	assert_int_equal(n, KT_DATA_HDR_LEN + len + KT_SUITE_TAG_LEN);
	assert_int_equal(kt_get_le32(msg + 4), to->kp.local_index);
	assert_int_equal(kt_keypair_open(&to->kp, suite, msg, (size_t)n, out), (int)len);
	assert_memory_equal(out, text, len);
}

static void test_handshake_and_transport(void **state)
{
	suite = *state;
	setup_pair(NULL, NULL);
	assert_int_equal(handshake(1000), 0);
	assert_true(a.kp.initiator);
	assert_false(b.kp.initiator);
	assert_memory_equal(a.kp.send_key, b.kp.recv_key, KT_SUITE_KEY_LEN);
	assert_memory_equal(a.kp.recv_key, b.kp.send_key, KT_SUITE_KEY_LEN);
	assert_memory_not_equal(a.kp.send_key, a.kp.recv_key, KT_SUITE_KEY_LEN);
	assert_int_equal(a.kp.remote_index, 0x22);
	assert_int_equal(b.kp.remote_index, 0x11);
	transport_ok(&a, &b, "from the site to the hub");
	transport_ok(&b, &a, "and back");
	transport_ok(&a, &b, "");		/* keepalive */
	/* A second handshake gives different keys. */
	{
		uint8_t old[KT_SUITE_KEY_LEN];

		memcpy(old, a.kp.send_key, sizeof(old));
		/* Timestamps are rounded to 2^24 ns: one inside the same
		 * granule is not newer, and would be refused as a replay. */
		usleep(20000);
		assert_int_equal(handshake(2000), 0);
		assert_memory_not_equal(old, a.kp.send_key, sizeof(old));
		transport_ok(&b, &a, "after rekey");
	}
}

static void test_psk(void **state)
{
	uint8_t psk1[KT_SUITE_KEY_LEN], psk2[KT_SUITE_KEY_LEN];

	suite = *state;
	memset(psk1, 0x5a, sizeof(psk1));
	memset(psk2, 0x5b, sizeof(psk2));
	setup_pair(psk1, psk1);
	assert_int_equal(handshake(1000), 0);
	transport_ok(&a, &b, "with a shared psk");
	/* Different psks: the responder cannot tell (the psk only enters at
	 * the response), the initiator refuses the response. */
	setup_pair(psk1, psk2);
	assert_int_equal(handshake(1000), -EBADMSG);
	assert_int_equal(a.hs.state, KT_HS_CREATED_INITIATION);
}

static void test_initiation_tampering(void **state)
{
	uint8_t init[KT_MAX_HANDSHAKE_LEN];
	struct kt_handshake *found;
	size_t len;

	suite = *state;
	setup_pair(NULL, NULL);
	len = kt_init_len(suite);
	assert_int_equal(kt_noise_create_initiation(&a.hs, init, 1, 0), 0);
	/* Every byte but the macs is covered by mac1; every byte of the
	 * encrypted parts also by the AEAD. Flip each in turn. */
	for (size_t i = 0; i < len - 2 * KT_SUITE_MAC_LEN; i++) {
		init[i] ^= 0x01;
		assert_int_equal(kt_macs_check(&b.cc, init, len, src, sizeof(src), 0),
				 KT_MACS_INVALID);
		if (i >= 8)
			assert_int_not_equal(kt_noise_consume_initiation(
				&b.id, init, len, lookup_b_view_of_a, NULL, 0, &found), 0);
		init[i] ^= 0x01;
	}
	assert_int_equal(kt_noise_consume_initiation(&b.id, init, len - 1,
						     lookup_b_view_of_a, NULL, 0,
						     &found), -EBADMSG);
	/* Untouched, it is accepted; the same message again is a replay. */
	assert_int_equal(kt_noise_consume_initiation(&b.id, init, len,
						     lookup_b_view_of_a, NULL, 0,
						     &found), 0);
	assert_int_equal(kt_noise_consume_initiation(&b.id, init, len,
						     lookup_b_view_of_a, NULL, 100,
						     &found), -EALREADY);
}

static void test_unknown_peer(void **state)
{
	uint8_t init[KT_MAX_HANDSHAKE_LEN], priv[KT_SUITE_KEY_LEN], pub[KT_SUITE_MAX_PUB];
	struct kt_identity stranger;
	struct kt_handshake hs, *found;

	suite = *state;
	setup_pair(NULL, NULL);
	assert_int_equal(suite->keygen(priv, pub), 0);
	assert_int_equal(kt_identity_set(&stranger, suite, priv), 0);
	assert_int_equal(kt_handshake_init(&hs, &stranger, b.id.pub, NULL), 0);
	assert_int_equal(kt_noise_create_initiation(&hs, init, 9, 0), 0);
	assert_int_equal(kt_noise_consume_initiation(&b.id, init, kt_init_len(suite),
						     lookup_b_view_of_a, NULL, 0,
						     &found), -ENOENT);
	kt_identity_clear(&stranger);
}

static void test_cookie(void **state)
{
	uint8_t init[KT_MAX_HANDSHAKE_LEN], reply[KT_MAX_HANDSHAKE_LEN];
	uint8_t other_src[6] = { 192, 0, 2, 2, 0xca, 0x6c };
	size_t len;

	suite = *state;
	setup_pair(NULL, NULL);
	len = kt_init_len(suite);
	assert_int_equal(kt_noise_create_initiation(&a.hs, init, 7, 1000), 0);
	/* b is under load: answers with a cookie reply. */
	assert_int_equal(kt_cookie_reply_create(&b.cc, reply, init, len, src,
						sizeof(src), 1000), 0);
	assert_int_equal(kt_get_le32(reply + 4), 7);
	/* Successive replies never reuse a nonce. */
	{
		uint8_t again[KT_MAX_HANDSHAKE_LEN];

		assert_int_equal(kt_cookie_reply_create(&b.cc, again, init, len, src,
							sizeof(src), 1000), 0);
		assert_memory_not_equal(again + 8, reply + 8, suite->xnonce_len);
	}
	/* A tampered reply is refused; the genuine one accepted, once. */
	reply[kt_cookie_len(suite) - 1] ^= 1;
	assert_int_equal(kt_cookie_reply_consume(&a.hs, reply, kt_cookie_len(suite),
						 1000), -EBADMSG);
	reply[kt_cookie_len(suite) - 1] ^= 1;
	assert_int_equal(kt_cookie_reply_consume(&a.hs, reply, kt_cookie_len(suite),
						 1000), 0);
	assert_int_equal(kt_cookie_reply_consume(&a.hs, reply, kt_cookie_len(suite),
						 1000), -EBADMSG);
	/* The retried initiation carries mac2: valid from the same source,
	 * not from another one, and not once the cookie has aged out. */
	assert_int_equal(kt_noise_create_initiation(&a.hs, init, 8, 2000), 0);
	assert_int_equal(kt_macs_check(&b.cc, init, len, src, sizeof(src), 2000),
			 KT_MACS_VALID_COOKIE);
	assert_int_equal(kt_macs_check(&b.cc, init, len, other_src,
				       sizeof(other_src), 2000), KT_MACS_VALID_MAC1);
	assert_int_equal(kt_noise_create_initiation(&a.hs, init, 9, 1000 + 120000), 0);
	assert_int_equal(kt_macs_check(&b.cc, init, len, src, sizeof(src), 121000),
			 KT_MACS_VALID_MAC1);
}

static void test_transport_replay_and_forgery(void **state)
{
	uint8_t msg[128], out[128];
	int n;

	suite = *state;
	setup_pair(NULL, NULL);
	assert_int_equal(handshake(0), 0);
	n = kt_keypair_seal(&a.kp, suite, msg, (const uint8_t *)"ping", 4);
	assert_int_equal(kt_keypair_open(&b.kp, suite, msg, (size_t)n, out), 4);
	assert_int_equal(kt_keypair_open(&b.kp, suite, msg, (size_t)n, out), -EALREADY);
	n = kt_keypair_seal(&a.kp, suite, msg, (const uint8_t *)"ping", 4);
	msg[n - 1] ^= 0x80;
	assert_int_equal(kt_keypair_open(&b.kp, suite, msg, (size_t)n, out), -EBADMSG);
	msg[n - 1] ^= 0x80;
	/* A forged counter fails authentication and does not move the
	 * window: the genuine packet still gets through. */
	msg[8] ^= 0x40;
	assert_int_equal(kt_keypair_open(&b.kp, suite, msg, (size_t)n, out), -EBADMSG);
	msg[8] ^= 0x40;
	assert_int_equal(kt_keypair_open(&b.kp, suite, msg, (size_t)n, out), 4);
	assert_int_equal(kt_keypair_open(&b.kp, suite, msg, KT_DATA_MIN_LEN - 1, out),
			 -EBADMSG);
	a.kp.send_counter = KT_REJECT_AFTER_MESSAGES;
	assert_int_equal(kt_keypair_seal(&a.kp, suite, msg, (const uint8_t *)"x", 1),
			 -ESTALE);
}

static void test_suites_never_agree(void **state)
{
	/* The same handshake under the other suite's message type is not
	 * even parsed. */
	uint8_t init[KT_MAX_HANDSHAKE_LEN];
	struct kt_handshake *found;

	(void)state;
	suite = &kt_suite_wireguard;
	setup_pair(NULL, NULL);
	assert_int_equal(kt_noise_create_initiation(&a.hs, init, 1, 0), 0);
	kt_put_le32(init, kt_msg_type(&kt_suite_cryptrec, KT_MSG_INITIATION));
	assert_int_equal(kt_noise_consume_initiation(&b.id, init,
						     kt_init_len(suite),
						     lookup_b_view_of_a, NULL, 0,
						     &found), -EBADMSG);
	assert_int_not_equal(kt_suite_wireguard.msg_type_base,
			     kt_suite_cryptrec.msg_type_base);
}

#define BOTH(fn) \
	cmocka_unit_test_prestate(fn, (void *)&kt_suite_wireguard), \
	cmocka_unit_test_prestate(fn, (void *)&kt_suite_cryptrec)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_handshake_and_transport),
		BOTH(test_psk),
		BOTH(test_initiation_tampering),
		BOTH(test_unknown_peer),
		BOTH(test_cookie),
		BOTH(test_transport_replay_and_forgery),
		cmocka_unit_test(test_suites_never_agree),
	};
	return cmocka_run_group_tests_name("noise", tests, NULL, NULL);
}
