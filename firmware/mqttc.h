/* An MQTT session to the NOC's broker over TLS 1.3 with mutual
 * certificate authentication (wolfSSL), for the box's short-lived tools
 * (a spare fetching its bundle, tests): blocking, each call bounded by
 * the session's timeout. netstack/mqtt.c does the packets.
 *
 * The broker's certificate must chain to the NOC's CA and name the host
 * that was dialled; the box's own certificate and key go with it. */
#ifndef KT_MQTTC_H
#define KT_MQTTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt.h"

#define KT_MQTTC_MAX_PACKET (1024u * 1024)	/* what we accept from the broker */
/* Messages kept while waiting for an acknowledgement (retained ones of a
 * whole fleet, for kyoten-noc status): at most this many bytes. */
#define KT_MQTTC_MAX_HELD (64u * 1024 * 1024)

struct kt_mqttc_opts {
	const char *host;		/* DNS name or address: the broker's name in
					 * its certificate, and dialled unless: */
	uint16_t port;
	const char *dial_host;		/* another address of the same broker */
	uint16_t dial_port;		/* (the management tunnel's), and */
	const char *bind;		/* the source address to send from */
	const char *ca, *cert, *key;	/* PEM files, or (when ca is NULL) */
	const char *ca_pem, *cert_pem, *key_pem;	/* the same in memory, */
	size_t ca_len, cert_len, key_len;	/* for a process that read them
						 * before dropping its rights */
	const char *client_id;
	uint16_t keepalive_s;
	bool clean_session;
	const struct kt_mqtt_will *will;
	unsigned timeout_ms;		/* for each step */
};

struct kt_mqttc;

/* Connects, shakes hands and sends CONNECT; 0 once CONNACK accepted,
 * else -errno with err saying which step failed and why (the TLS alert,
 * the CONNACK code). */
int kt_mqttc_open(struct kt_mqttc **out, const struct kt_mqttc_opts *o,
		  char *err, size_t errlen);
/* QoS 1 waits for the PUBACK. */
int kt_mqttc_publish(struct kt_mqttc *c, const char *topic, const void *msg,
		     size_t len, int qos, bool retain, char *err, size_t errlen);
/* Subscribes to one filter; *granted gets the broker's answer (0, 1 or
 * 0x80 refused). Messages that arrive meanwhile wait for kt_mqttc_next. */
int kt_mqttc_subscribe(struct kt_mqttc *c, const char *filter, int qos,
		       uint8_t *granted, char *err, size_t errlen);

struct kt_mqttc_msg {
	char topic[KT_MQTT_TOPIC_MAX + 1];
	uint8_t *payload;		/* valid until the next call */
	size_t len;
	int qos;
	bool retain;
};

/* The next message (PUBACK sent for QoS 1); -ETIMEDOUT after timeout_ms
 * with nothing. Keeps the connection alive meanwhile (PINGREQ after half
 * the keep-alive without sending) and fails when the broker stops
 * answering them. */
int kt_mqttc_next(struct kt_mqttc *c, struct kt_mqttc_msg *m, unsigned timeout_ms,
		  char *err, size_t errlen);
/* DISCONNECT (unless abrupt: then the will is published), close, free. */
void kt_mqttc_close(struct kt_mqttc *c, bool abrupt);

/* Counters of what the broker sent that was refused. */
struct kt_mqttc_stats {
	uint64_t rx_packets, malformed;
};
void kt_mqttc_stats(const struct kt_mqttc *c, struct kt_mqttc_stats *s);

#endif
