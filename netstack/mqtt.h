/* MQTT 3.1.1 (OASIS, 2014), the client's side: packets encoded into the
 * caller's buffer and the broker's packets parsed out of a byte stream.
 * No I/O and no allocation here; firmware/mqttc.c runs a session over
 * TLS with it.
 *
 * Written here rather than taken from a library: Debian's MQTT clients
 * (libmosquitto, Paho) link OpenSSL, and wolfSSL is the firmware's only
 * TLS library; a client that publishes, subscribes with QoS 0 and 1 and
 * keeps alive is a few hundred lines, all of them fuzzed
 * (tests/fuzz/fuzz_mqtt.c) and tested against Mosquitto.
 *
 * The parser accepts only what a broker may send a client (CONNACK,
 * PUBLISH at QoS 0 or 1, PUBACK, SUBACK, UNSUBACK, PINGRESP) with the
 * flags, lengths and UTF-8 topics the standard requires; anything else
 * is an error naming what was wrong, after which the connection is
 * closed (the standard's rule for a malformed packet). */
#ifndef KT_MQTT_H
#define KT_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KT_MQTT_PORT_TLS 8883
#define KT_MQTT_TOPIC_MAX 256		/* bytes; Kyoten's topics are short */
#define KT_MQTT_REMAINING_MAX 268435455u	/* four length bytes */

enum kt_mqtt_type {
	KT_MQTT_CONNECT = 1,
	KT_MQTT_CONNACK,
	KT_MQTT_PUBLISH,
	KT_MQTT_PUBACK,
	KT_MQTT_PUBREC,
	KT_MQTT_PUBREL,
	KT_MQTT_PUBCOMP,
	KT_MQTT_SUBSCRIBE,
	KT_MQTT_SUBACK,
	KT_MQTT_UNSUBSCRIBE,
	KT_MQTT_UNSUBACK,
	KT_MQTT_PINGREQ,
	KT_MQTT_PINGRESP,
	KT_MQTT_DISCONNECT,
};

struct kt_mqtt_will {
	const char *topic;
	const void *msg;
	size_t len;
	int qos;			/* 0 or 1 */
	bool retain;
};

struct kt_mqtt_connect {
	const char *client_id;		/* 1 .. 23 of [0-9a-zA-Z-] is what
					 * every broker must accept */
	uint16_t keepalive_s;
	bool clean_session;
	const struct kt_mqtt_will *will;	/* NULL: none */
};

/* Encoders: the packet's length in buf, or -ENOSPC (buf too small) /
 * -EINVAL (a field the standard does not allow). */
int kt_mqtt_connect(uint8_t *buf, size_t cap, const struct kt_mqtt_connect *c);
int kt_mqtt_publish(uint8_t *buf, size_t cap, const char *topic,
		    const void *payload, size_t len, int qos, bool retain,
		    bool dup, uint16_t id);
int kt_mqtt_puback(uint8_t *buf, size_t cap, uint16_t id);
int kt_mqtt_subscribe(uint8_t *buf, size_t cap, uint16_t id,
		      const char *const *filters, const uint8_t *qos, size_t n);
/* PINGREQ or DISCONNECT: two bytes. */
int kt_mqtt_simple(uint8_t *buf, size_t cap, enum kt_mqtt_type type);

struct kt_mqtt_packet {
	enum kt_mqtt_type type;
	/* CONNACK */
	bool session_present;
	uint8_t return_code;		/* 0 accepted, 1 .. 5 refused */
	/* PUBLISH, PUBACK, SUBACK, UNSUBACK */
	uint16_t id;			/* 0 for QoS 0 */
	int qos;
	bool retain, dup;
	const uint8_t *topic;		/* not NUL-terminated; in the buffer */
	size_t topic_len;
	const uint8_t *payload;
	size_t payload_len;
	/* SUBACK: one per filter, 0/1/2 granted or 0x80 refused */
	const uint8_t *codes;
	size_t n_codes;
};

/* One packet from the start of buf: its whole length (> 0) with *p
 * pointing into buf, 0 when buf does not hold all of it yet, or
 * -EBADMSG (malformed, or not one a broker may send) / -EMSGSIZE
 * (longer than max) with err saying what. */
int kt_mqtt_parse(const uint8_t *buf, size_t len, size_t max,
		  struct kt_mqtt_packet *p, char *err, size_t errlen);

/* Whether s (n bytes) is well-formed UTF-8 without U+0000, as MQTT
 * strings must be. */
bool kt_mqtt_utf8_ok(const uint8_t *s, size_t n);
/* Why the broker refused a CONNECT, in words. */
const char *kt_mqtt_connack_str(uint8_t code);

#endif
