/* libFuzzer target: what a broker sends the box (netstack/mqtt.c),
 * parsed as a stream: packet after packet until the bytes run out or one
 * is refused. What parses must hold together: lengths inside the input,
 * a UTF-8 topic without wildcards, QoS 0 or 1, SUBACK codes as allowed;
 * a PUBLISH that parses encodes back to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		struct kt_mqtt_packet p;
		char err[256];
		int r = kt_mqtt_parse(data + off, size - off, 65536, &p, err, sizeof(err));

		if (r <= 0)
			break;
		if ((size_t)r > size - off)
			abort();
		if (p.type == KT_MQTT_PUBLISH) {
			static uint8_t back[65536 + 16];
			char topic[KT_MQTT_TOPIC_MAX + 1];
			int n;

			if (!p.topic_len || p.topic_len > KT_MQTT_TOPIC_MAX || p.qos > 1 ||
			    !kt_mqtt_utf8_ok(p.topic, p.topic_len) ||
			    memchr(p.topic, '+', p.topic_len) || memchr(p.topic, '#', p.topic_len))
				abort();
			memcpy(topic, p.topic, p.topic_len);
			topic[p.topic_len] = '\0';
			n = kt_mqtt_publish(back, sizeof(back), topic, p.payload, p.payload_len,
					    p.qos, p.retain, p.dup, p.id);
			/* The same packet, unless its length was not in the
			 * shortest form (refused) or it had a NUL in its topic. */
			if (n < 0 || (size_t)n != (size_t)r || memcmp(back, data + off, (size_t)r))
				abort();
		}
		if (p.type == KT_MQTT_SUBACK)
			for (size_t i = 0; i < p.n_codes; i++)
				if (p.codes[i] > 2 && p.codes[i] != 0x80)
					abort();
		off += (size_t)r;
	}
	return 0;
}
