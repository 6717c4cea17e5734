/* MQTT 3.1.1 packets (netstack/mqtt.c): what the box sends, byte for
 * byte as the standard's examples lay them out; what a broker sends,
 * parsed, and a table of malformed packets refused with the reason. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mqtt.h"
#include "unit.h"

static void test_encode(void **state)
{
	static const uint8_t want_connect[] = {
		0x10, 39, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02 | 0x04 | 0x08 | 0x20, 0, 30,
		0, 5, 's', 'i', 't', 'e', '1',
		0, 11, 'k', 'y', '/', 's', '1', '/', 's', 't', 'a', 't', 'e',
		0, 7, 'o', 'f', 'f', 'l', 'i', 'n', 'e',
	};
	struct kt_mqtt_will w = { .topic = "ky/s1/state", .msg = "offline", .len = 7,
				  .qos = 1, .retain = true };
	struct kt_mqtt_connect c = { .client_id = "site1", .keepalive_s = 30,
				     .clean_session = true, .will = &w };
	const char *filter = "ky/s1/cmd/#";
	uint8_t buf[512], q = 1;
	int n;

	(void)state;
	n = kt_mqtt_connect(buf, sizeof(buf), &c);
	assert_int_equal(n, sizeof(want_connect));
	assert_memory_equal(buf, want_connect, sizeof(want_connect));
	assert_int_equal(kt_mqtt_connect(buf, 10, &c), -ENOSPC);
	/* No wildcard in a will topic; no empty id without a clean session. */
	w.topic = "ky/+/state";
	assert_int_equal(kt_mqtt_connect(buf, sizeof(buf), &c), -EINVAL);
	w.topic = "ky/s1/state";
	c.client_id = "";
	c.clean_session = false;
	assert_int_equal(kt_mqtt_connect(buf, sizeof(buf), &c), -EINVAL);

	n = kt_mqtt_publish(buf, sizeof(buf), "a/b", "hi", 2, 1, false, false, 10);
	assert_int_equal(n, 11);
	assert_memory_equal(buf, "\x32\x09\x00\x03" "a/b" "\x00\x0a" "hi", 11);
	assert_int_equal(kt_mqtt_publish(buf, sizeof(buf), "a/#", "", 0, 0, 0, 0, 0), -EINVAL);
	assert_int_equal(kt_mqtt_publish(buf, sizeof(buf), "a", "", 0, 1, 0, 0, 0), -EINVAL);
	assert_int_equal(kt_mqtt_publish(buf, sizeof(buf), "a", "", 0, 2, 0, 0, 1), -EINVAL);
	/* A body of 200 bytes takes two length bytes. */
	{
		static uint8_t big[300];

		n = kt_mqtt_publish(buf, sizeof(buf), "t", big, 195, 0, false, false, 0);
		assert_int_equal(n, 1 + 2 + 3 + 195);
		assert_int_equal(buf[1], (198 % 128) | 0x80);
		assert_int_equal(buf[2], 198 / 128);
	}
	n = kt_mqtt_subscribe(buf, sizeof(buf), 7, &filter, &q, 1);
	assert_int_equal(n, 2 + 2 + 2 + 11 + 1);
	assert_int_equal(buf[0], 0x82);
	assert_int_equal(kt_mqtt_puback(buf, sizeof(buf), 0x1234), 4);
	assert_memory_equal(buf, "\x40\x02\x12\x34", 4);
	assert_int_equal(kt_mqtt_simple(buf, sizeof(buf), KT_MQTT_PINGREQ), 2);
	assert_memory_equal(buf, "\xc0\x00", 2);
	assert_int_equal(kt_mqtt_simple(buf, sizeof(buf), KT_MQTT_PUBACK), -EINVAL);
}

static void test_parse(void **state)
{
	static const uint8_t stream[] = {
		0x20, 2, 0, 0,				/* CONNACK accepted */
		0x90, 4, 0, 7, 1, 0x80,			/* SUBACK 7: 1, refused */
		0x33, 10, 0, 3, 'a', '/', 'b', 0, 9, 'h', 'i', '!',	/* PUBLISH q1 retain */
		0xd0, 0,				/* PINGRESP */
	};
	struct kt_mqtt_packet p;
	char err[256];
	size_t off = 0;
	int n;

	(void)state;
	/* Every prefix is "not yet". */
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(kt_mqtt_parse(stream, i, 1024, &p, err, sizeof(err)), 0);
	n = kt_mqtt_parse(stream, sizeof(stream), 1024, &p, err, sizeof(err));
	assert_int_equal(n, 4);
	assert_int_equal(p.type, KT_MQTT_CONNACK);
	assert_int_equal(p.return_code, 0);
	off += (size_t)n;
	n = kt_mqtt_parse(stream + off, sizeof(stream) - off, 1024, &p, err, sizeof(err));
	assert_int_equal(n, 6);
	assert_int_equal(p.type, KT_MQTT_SUBACK);
	assert_int_equal(p.id, 7);
	assert_int_equal(p.n_codes, 2);
	assert_int_equal(p.codes[1], 0x80);
	off += (size_t)n;
	n = kt_mqtt_parse(stream + off, sizeof(stream) - off, 1024, &p, err, sizeof(err));
	assert_int_equal(n, 12);
	assert_int_equal(p.type, KT_MQTT_PUBLISH);
	assert_int_equal(p.qos, 1);
	assert_true(p.retain);
	assert_int_equal(p.id, 9);
	assert_int_equal(p.topic_len, 3);
	assert_memory_equal(p.topic, "a/b", 3);
	assert_int_equal(p.payload_len, 3);
	off += (size_t)n;
	n = kt_mqtt_parse(stream + off, sizeof(stream) - off, 1024, &p, err, sizeof(err));
	assert_int_equal(n, 2);
	assert_int_equal(p.type, KT_MQTT_PINGRESP);
	/* Larger than the caller takes. */
	assert_int_equal(kt_mqtt_parse((const uint8_t *)"\x30\xff\x7f", 3, 1024, &p, err,
				       sizeof(err)), -EMSGSIZE);
}

static void test_malformed(void **state)
{
	static const struct { const char *bytes; size_t len; const char *want; } bad[] = {
		{ "\x20\x02\x02\x00", 4, "reserved acknowledge flags" },
		{ "\x20\x02\x01\x05", 4, "session present" },
		{ "\x21\x02\x00\x00", 4, "CONNACK: flags" },
		{ "\x20\x03\x00\x00\x00", 5, "CONNACK: flags" },
		{ "\x34\x05\x00\x01" "a" "\x00\x01", 7, "QoS 2" },
		{ "\x38\x03\x00\x01" "a", 5, "DUP set at QoS 0" },
		{ "\x30\x03\x00\x00" "a", 5, "topic is empty" },
		{ "\x30\x04\x00\x03" "a/", 6, "topic is empty or longer" },
		{ "\x30\x04\x00\x02" "a#", 6, "wildcard" },
		{ "\x30\x04\x00\x02" "\xc0\x80", 6, "not UTF-8" },
		{ "\x30\x05\x00\x03" "\xed\xa0\x80", 7, "not UTF-8" },
		{ "\x30\x04\x00\x02" "a\x00", 6, "not UTF-8" },
		{ "\x32\x05\x00\x01" "a" "\x00\x00", 7, "identifier 0" },
		{ "\x40\x02\x00\x00", 4, "PUBACK" },
		{ "\x90\x03\x00\x01\x03", 5, "return code 0x3" },
		{ "\x90\x02\x00\x01", 4, "SUBACK: flags" },
		{ "\xd0\x01\x00", 3, "PINGRESP with" },
		{ "\x10\x00", 2, "not one a broker sends" },
		{ "\x80\x00", 2, "not one a broker sends" },
		{ "\x00\x00", 2, "reserved" },
		{ "\xf0\x00", 2, "reserved" },
		{ "\x30\x80\x00", 3, "shortest form" },
		{ "\x30\xff\xff\xff\xff\x01", 6, "more than four bytes" },
	};
	struct kt_mqtt_packet p;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = kt_mqtt_parse((const uint8_t *)bad[i].bytes, bad[i].len, 1u << 28,
				      &p, err, sizeof(err));

		if (r != -EBADMSG || !strstr(err, bad[i].want))
			fail_msg("case %zu: got %d '%s', want -EBADMSG '%s'", i, r,
				 r < 0 ? err : "", bad[i].want);
	}
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(kt_mqtt_utf8_ok((const uint8_t *)"拠点/site1", strlen("拠点/site1")));
	assert_true(kt_mqtt_utf8_ok((const uint8_t *)"\xf0\x9f\x98\x80", 4));
	assert_false(kt_mqtt_utf8_ok((const uint8_t *)"\xf4\x90\x80\x80", 4));	/* > U+10FFFF */
	assert_false(kt_mqtt_utf8_ok((const uint8_t *)"\xe0\x80\xaf", 3));	/* overlong */
	assert_false(kt_mqtt_utf8_ok((const uint8_t *)"\xe6\x8b", 2));		/* cut */
	assert_false(kt_mqtt_utf8_ok((const uint8_t *)"\x80", 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_utf8),
	};

	return cmocka_run_group_tests_name("mqtt", tests, NULL, NULL);
}
