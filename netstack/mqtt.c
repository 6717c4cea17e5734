/* MQTT 3.1.1 packets, the client's side (mqtt.h). Section numbers are
 * the standard's. */
#include "mqtt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fileio.h"

/* kt_errf (firmware/fileio.h): the message into err, the code back. */
#define fail kt_errf

bool kt_mqtt_utf8_ok(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		uint32_t cp;
		size_t k;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;	/* a continuation byte, 0xc0/0xc1, > 0xf4 */
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		/* Overlong forms, surrogates (1.5.3), beyond U+10FFFF. */
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += k + 1;
	}
	return true;
}

const char *kt_mqtt_connack_str(uint8_t code)
{
	static const char *const why[] = {
		"accepted",
		"the broker does not speak MQTT 3.1.1",
		"the broker refused the client identifier",
		"the broker is unavailable",
		"the user name or password is wrong",
		"not authorised",
	};
	return code < sizeof(why) / sizeof(why[0]) ? why[code] : "an unknown return code";
}

/* --- encoding --- */

struct out {
	uint8_t *p;
	size_t cap, n;
	bool full;
};

static void put(struct out *o, const void *b, size_t n)
{
	if (o->full || o->cap - o->n < n) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->n, b, n);
	o->n += n;
}

static void put8(struct out *o, uint8_t v)
{
	put(o, &v, 1);
}

static void put16(struct out *o, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(o, b, 2);
}

static void put_str(struct out *o, const void *s, size_t n)
{
	put16(o, (uint16_t)n);
	put(o, s, n);
}

/* The fixed header (2.2) in front of a body of `len` bytes that the
 * caller writes next. */
static void put_header(struct out *o, uint8_t first, size_t len)
{
	put8(o, first);
	do {
		uint8_t b = len % 128;

		len /= 128;
		put8(o, len ? b | 0x80 : b);
	} while (len);
}

static int done(const struct out *o)
{
	return o->full ? -ENOSPC : (int)o->n;
}

static bool str_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	return n <= max && n <= 65535 && kt_mqtt_utf8_ok((const uint8_t *)s, n);
}

/* A topic name to publish to: no wildcards (4.7.1). */
static bool topic_ok(const char *t)
{
	return *t && str_ok(t, KT_MQTT_TOPIC_MAX) && !strpbrk(t, "+#");
}

int kt_mqtt_connect(uint8_t *buf, size_t cap, const struct kt_mqtt_connect *c)
{
	const struct kt_mqtt_will *w = c->will;
	size_t id_len = strlen(c->client_id), len;
	struct out o = { .p = buf, .cap = cap };
	uint8_t flags = c->clean_session ? 0x02 : 0;

	if (!str_ok(c->client_id, 65535) || (!id_len && !c->clean_session))
		return -EINVAL;	/* 3.1.3-7: an empty id needs a clean session */
	if (w && (!topic_ok(w->topic) || w->qos < 0 || w->qos > 1 || w->len > 65535))
		return -EINVAL;
	len = 10 + 2 + id_len;
	if (w) {
		flags |= 0x04 | (uint8_t)(w->qos << 3) | (w->retain ? 0x20 : 0);
		len += 2 + strlen(w->topic) + 2 + w->len;
	}
	put_header(&o, KT_MQTT_CONNECT << 4, len);
	put_str(&o, "MQTT", 4);		/* 3.1.2.1 */
	put8(&o, 4);			/* protocol level 3.1.1 */
	put8(&o, flags);
	put16(&o, c->keepalive_s);
	put_str(&o, c->client_id, id_len);
	if (w) {
		put_str(&o, w->topic, strlen(w->topic));
		put_str(&o, w->msg, w->len);
	}
	return done(&o);
}

int kt_mqtt_publish(uint8_t *buf, size_t cap, const char *topic,
		    const void *payload, size_t len, int qos, bool retain,
		    bool dup, uint16_t id)
{
	struct out o = { .p = buf, .cap = cap };
	size_t tl = strlen(topic), body;

	if (!topic_ok(topic) || qos < 0 || qos > 1 || (qos && !id) || (!qos && dup))
		return -EINVAL;
	body = 2 + tl + (qos ? 2 : 0) + len;
	if (body > KT_MQTT_REMAINING_MAX)
		return -EINVAL;
	put_header(&o, (uint8_t)(KT_MQTT_PUBLISH << 4 | (dup ? 8 : 0) | qos << 1 |
				 (retain ? 1 : 0)), body);
	put_str(&o, topic, tl);
	if (qos)
		put16(&o, id);
	put(&o, payload, len);
	return done(&o);
}

int kt_mqtt_puback(uint8_t *buf, size_t cap, uint16_t id)
{
	struct out o = { .p = buf, .cap = cap };

	if (!id)
		return -EINVAL;
	put_header(&o, KT_MQTT_PUBACK << 4, 2);
	put16(&o, id);
	return done(&o);
}

int kt_mqtt_subscribe(uint8_t *buf, size_t cap, uint16_t id,
		      const char *const *filters, const uint8_t *qos, size_t n)
{
	struct out o = { .p = buf, .cap = cap };
	size_t len = 2;

	if (!id || !n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!*filters[i] || !str_ok(filters[i], KT_MQTT_TOPIC_MAX) || qos[i] > 1)
			return -EINVAL;
		len += 2 + strlen(filters[i]) + 1;
	}
	put_header(&o, KT_MQTT_SUBSCRIBE << 4 | 0x02, len);	/* 3.8.1-1 */
	put16(&o, id);
	for (size_t i = 0; i < n; i++) {
		put_str(&o, filters[i], strlen(filters[i]));
		put8(&o, qos[i]);
	}
	return done(&o);
}

int kt_mqtt_simple(uint8_t *buf, size_t cap, enum kt_mqtt_type type)
{
	struct out o = { .p = buf, .cap = cap };

	if (type != KT_MQTT_PINGREQ && type != KT_MQTT_DISCONNECT)
		return -EINVAL;
	put_header(&o, (uint8_t)(type << 4), 0);
	return done(&o);
}

/* --- parsing --- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int kt_mqtt_parse(const uint8_t *buf, size_t len, size_t max,
		  struct kt_mqtt_packet *p, char *err, size_t errlen)
{
	size_t rem = 0, hdr, total;
	const uint8_t *b;
	unsigned type, flags;

	memset(p, 0, sizeof(*p));
	if (len < 2)
		return 0;
	/* The remaining length: at most four bytes, the last without its
	 * continuation bit, and in its shortest form (1.5.5). */
	for (hdr = 1;; hdr++) {
		if (hdr > 4)
			return fail(err, errlen, -EBADMSG, "the remaining length "
				    "has more than four bytes");
		if (hdr >= len)
			return 0;
		rem |= (size_t)(buf[hdr] & 0x7f) << (7 * (hdr - 1));
		if (!(buf[hdr] & 0x80))
			break;
	}
	if (hdr > 1 && buf[hdr] == 0)
		return fail(err, errlen, -EBADMSG, "the remaining length is not in "
			    "its shortest form");
	hdr++;
	total = hdr + rem;
	if (total > max)
		return fail(err, errlen, -EMSGSIZE, "a packet of %zu bytes, more than "
			    "the %zu this client takes", total, max);
	if (len < total)
		return 0;
	type = buf[0] >> 4;
	flags = buf[0] & 0x0f;
	b = buf + hdr;
	p->type = (enum kt_mqtt_type)type;
	switch (type) {
	case KT_MQTT_CONNACK:
		if (flags || rem != 2)
			return fail(err, errlen, -EBADMSG, "CONNACK: flags %#x, length "
				    "%zu (want 0 and 2)", flags, rem);
		if (b[0] & 0xfe)
			return fail(err, errlen, -EBADMSG, "CONNACK: reserved "
				    "acknowledge flags set (%#x)", b[0]);
		p->session_present = b[0] & 1;
		p->return_code = b[1];
		if (p->return_code && p->session_present)
			return fail(err, errlen, -EBADMSG, "CONNACK: a refusal with "
				    "session present set (3.2.2-4)");
		return (int)total;
	case KT_MQTT_PUBLISH: {
		size_t tl, off;

		p->qos = (int)(flags >> 1 & 3);
		p->retain = flags & 1;
		p->dup = flags & 8;
		if (p->qos > 1)
			return fail(err, errlen, -EBADMSG, "PUBLISH at QoS %d; this "
				    "client subscribes at 0 and 1 only", p->qos);
		if (!p->qos && p->dup)
			return fail(err, errlen, -EBADMSG, "PUBLISH: DUP set at QoS 0 "
				    "(3.3.1-2)");
		if (rem < 2 || (tl = get16(b)) == 0 || rem < 2 + tl + (p->qos ? 2u : 0u))
			return fail(err, errlen, -EBADMSG, "PUBLISH: its topic is "
				    "empty or longer than the packet");
		if (tl > KT_MQTT_TOPIC_MAX)
			return fail(err, errlen, -EBADMSG, "PUBLISH: a topic of %zu "
				    "bytes, more than %d", tl, KT_MQTT_TOPIC_MAX);
		if (!kt_mqtt_utf8_ok(b + 2, tl) || memchr(b + 2, '+', tl) ||
		    memchr(b + 2, '#', tl))
			return fail(err, errlen, -EBADMSG, "PUBLISH: the topic is not "
				    "UTF-8 or holds a wildcard");
		p->topic = b + 2;
		p->topic_len = tl;
		off = 2 + tl;
		if (p->qos) {
			p->id = get16(b + off);
			off += 2;
			if (!p->id)
				return fail(err, errlen, -EBADMSG, "PUBLISH: packet "
					    "identifier 0 at QoS 1");
		}
		p->payload = b + off;
		p->payload_len = rem - off;
		return (int)total;
	}
	case KT_MQTT_PUBACK:
	case KT_MQTT_UNSUBACK:
		if (flags || rem != 2 || !(p->id = get16(b)))
			return fail(err, errlen, -EBADMSG, "%s: flags %#x, length %zu, "
				    "identifier %u (want 0, 2, non-zero)",
				    type == KT_MQTT_PUBACK ? "PUBACK" : "UNSUBACK", flags,
				    rem, rem == 2 ? get16(b) : 0);
		return (int)total;
	case KT_MQTT_SUBACK:
		if (flags || rem < 3 || !(p->id = get16(b)))
			return fail(err, errlen, -EBADMSG, "SUBACK: flags %#x, length "
				    "%zu (want 0 and at least 3), or identifier 0",
				    flags, rem);
		p->codes = b + 2;
		p->n_codes = rem - 2;
		for (size_t i = 0; i < p->n_codes; i++)
			if (p->codes[i] > 2 && p->codes[i] != 0x80)
				return fail(err, errlen, -EBADMSG, "SUBACK: return code "
					    "%#x (3.9.3-2)", p->codes[i]);
		return (int)total;
	case KT_MQTT_PINGRESP:
		if (flags || rem)
			return fail(err, errlen, -EBADMSG, "PINGRESP with flags or a "
				    "body");
		return (int)total;
	case 0:
	case 15:
		return fail(err, errlen, -EBADMSG, "packet type %u is reserved", type);
	default:
		return fail(err, errlen, -EBADMSG, "packet type %u is not one a "
			    "broker sends this client", type);
	}
}
