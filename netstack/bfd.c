/* BFD asynchronous mode (bfd.h says what, by RFC 5880 section). */
#include "bfd.h"

#include <errno.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "suite.h"

static const char *const state_names[] = { "admin-down", "down", "init", "up" };

static const char *const diag_names[KT_BFD_DIAG_COUNT] = {
	"none", "control-detection-time-expired", "echo-function-failed",
	"neighbor-signaled-session-down", "forwarding-plane-reset",
	"path-down", "concatenated-path-down", "administratively-down",
	"reverse-concatenated-path-down",
};

static const char *const bad_names[KT_BFD_BAD_COUNT] = {
	[KT_BFD_BAD_VERSION] = "version",
	[KT_BFD_BAD_LENGTH] = "length",
	[KT_BFD_BAD_DETECT_MULT] = "detect-mult",
	[KT_BFD_BAD_MULTIPOINT] = "multipoint",
	[KT_BFD_BAD_MY_DISCR] = "my-discriminator",
	[KT_BFD_BAD_YOUR_DISCR] = "your-discriminator",
	[KT_BFD_BAD_AUTH_SECTION] = "auth-section",
	[KT_BFD_BAD_AUTH_MISMATCH] = "auth-mismatch",
	[KT_BFD_BAD_AUTH] = "auth",
	[KT_BFD_BAD_AUTH_SEQ] = "auth-sequence",
	[KT_BFD_BAD_TTL] = "ttl",
	[KT_BFD_BAD_FLAGS] = "poll-and-final",
};

const char *kt_bfd_state_name(unsigned state)
{
	return state < 4 ? state_names[state] : "?";
}

const char *kt_bfd_diag_name(unsigned diag)
{
	return diag < KT_BFD_DIAG_COUNT ? diag_names[diag] : "unknown";
}

const char *kt_bfd_bad_name(unsigned bad)
{
	return bad < KT_BFD_BAD_COUNT ? bad_names[bad] : "?";
}

static const struct {
	const char *name;
	uint8_t type;
} auth_types[] = {
	{ "none", KT_BFD_AUTH_NONE },
	{ "simple", KT_BFD_AUTH_SIMPLE },
	{ "keyed-sha1", KT_BFD_AUTH_KEYED_SHA1 },
	{ "meticulous-sha1", KT_BFD_AUTH_METICULOUS_SHA1 },
};

const char *kt_bfd_auth_name(unsigned type)
{
	for (size_t i = 0; i < sizeof(auth_types) / sizeof(auth_types[0]); i++)
		if (auth_types[i].type == type)
			return auth_types[i].name;
	return NULL;
}

int kt_bfd_auth_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(auth_types) / sizeof(auth_types[0]); i++)
		if (!strcmp(auth_types[i].name, name))
			return auth_types[i].type;
	return -1;
}

static bool is_sha1(uint8_t type)
{
	return type == KT_BFD_AUTH_KEYED_SHA1 || type == KT_BFD_AUTH_METICULOUS_SHA1;
}

/* --- wire format --- */

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int bad(enum kt_bfd_bad why)
{
	return -(1 + (int)why);
}

/* The authentication section's own layout (RFC 5880 4.2-4.4): what each
 * type's Auth Len must be. MD5 types parse, so that a peer configured for
 * them is reported as an authentication mismatch, not as garbage. */
static int parse_auth(const uint8_t *a, size_t room, struct kt_bfd_packet *p)
{
	if (room < 3)
		return bad(KT_BFD_BAD_AUTH_SECTION);
	p->auth_type = a[0];
	p->auth_len = a[1];
	/* The section ends the packet: Length counts it and nothing else. */
	if (p->auth_len < 3 || p->auth_len != room)
		return bad(KT_BFD_BAD_AUTH_SECTION);
	p->auth_key_id = a[2];
	switch (p->auth_type) {
	case KT_BFD_AUTH_SIMPLE:
		if (p->auth_len > 3 + KT_BFD_PASSWORD_MAX)
			return bad(KT_BFD_BAD_AUTH_SECTION);
		p->auth_data = a + 3;
		p->auth_data_len = p->auth_len - 3u;
		return 0;
	case KT_BFD_AUTH_KEYED_MD5:
	case KT_BFD_AUTH_METICULOUS_MD5:
		if (p->auth_len != 24)
			return bad(KT_BFD_BAD_AUTH_SECTION);
		break;
	case KT_BFD_AUTH_KEYED_SHA1:
	case KT_BFD_AUTH_METICULOUS_SHA1:
		if (p->auth_len != 8 + KT_BFD_SHA1_LEN)
			return bad(KT_BFD_BAD_AUTH_SECTION);
		break;
	default:
		return 0;	/* unknown type: the session refuses it */
	}
	p->auth_seq = get32(a + 4);
	p->auth_data = a + 8;
	p->auth_data_len = p->auth_len - 8u;
	return 0;
}

int kt_bfd_parse(const uint8_t *buf, size_t len, struct kt_bfd_packet *p)
{
	memset(p, 0, sizeof(*p));
	if (len < 1 || buf[0] >> 5 != KT_BFD_VERSION)
		return bad(KT_BFD_BAD_VERSION);
	if (len < KT_BFD_HDR_LEN)
		return bad(KT_BFD_BAD_LENGTH);
	p->diag = buf[0] & 0x1f;
	p->state = buf[1] >> 6;
	p->flags = buf[1] & 0x3f;
	p->detect_mult = buf[2];
	p->length = buf[3];
	if (p->length < (p->flags & KT_BFD_F_AUTH ? KT_BFD_HDR_LEN + 2 : KT_BFD_HDR_LEN) ||
	    p->length > len)
		return bad(KT_BFD_BAD_LENGTH);
	if (!p->detect_mult)
		return bad(KT_BFD_BAD_DETECT_MULT);
	if (p->flags & KT_BFD_F_MULTIPOINT)
		return bad(KT_BFD_BAD_MULTIPOINT);
	if ((p->flags & (KT_BFD_F_POLL | KT_BFD_F_FINAL)) ==
	    (KT_BFD_F_POLL | KT_BFD_F_FINAL))
		return bad(KT_BFD_BAD_FLAGS);
	p->my_discr = get32(buf + 4);
	p->your_discr = get32(buf + 8);
	if (!p->my_discr)
		return bad(KT_BFD_BAD_MY_DISCR);
	if (!p->your_discr && p->state != KT_BFD_DOWN && p->state != KT_BFD_ADMIN_DOWN)
		return bad(KT_BFD_BAD_YOUR_DISCR);
	p->desired_min_tx = get32(buf + 12);
	p->required_min_rx = get32(buf + 16);
	p->required_min_echo_rx = get32(buf + 20);
	if (p->flags & KT_BFD_F_AUTH)
		return parse_auth(buf + KT_BFD_HDR_LEN, p->length - KT_BFD_HDR_LEN, p);
	return 0;
}

/* SHA1 over the packet with the key, zero-padded to 20 bytes, where the
 * digest goes (RFC 5880 6.7.4). pkt is the whole packet, length len. */
static void sha1_digest(const struct kt_bfd_auth *a, const uint8_t *pkt,
			size_t len, uint8_t out[KT_BFD_SHA1_LEN])
{
	uint8_t tmp[KT_BFD_MAX_LEN];
	uint8_t *hash = tmp + KT_BFD_HDR_LEN + 8;

	memcpy(tmp, pkt, len);
	memset(hash, 0, KT_BFD_SHA1_LEN);
	memcpy(hash, a->key, a->key_len);
	kt_must(wc_ShaHash(tmp, (word32)len, out));
	kt_wipe(tmp, sizeof(tmp));
}

size_t kt_bfd_build(struct kt_bfd_session *s, uint8_t flags, uint8_t *buf)
{
	const struct kt_bfd_auth *a = &s->cfg.auth;
	size_t len = KT_BFD_HDR_LEN, alen = 0;

	if (a->type == KT_BFD_AUTH_SIMPLE)
		alen = 3u + a->key_len;
	else if (is_sha1(a->type))
		alen = 8 + KT_BFD_SHA1_LEN;
	if (alen)
		flags |= KT_BFD_F_AUTH;
	len += alen;
	memset(buf, 0, len);
	buf[0] = (uint8_t)(KT_BFD_VERSION << 5 | (s->local_diag & 0x1f));
	buf[1] = (uint8_t)(s->session_state << 6 | (flags & 0x3f));
	buf[2] = s->cfg.detect_mult;
	buf[3] = (uint8_t)len;
	put32(buf + 4, s->local_discr);
	put32(buf + 8, s->remote_discr);
	put32(buf + 12, s->desired_min_tx);
	put32(buf + 16, s->required_min_rx);
	put32(buf + 20, 0);		/* no echo function */
	if (!alen)
		return len;
	buf[24] = a->type;
	buf[25] = (uint8_t)alen;
	buf[26] = a->key_id;
	if (a->type == KT_BFD_AUTH_SIMPLE) {
		memcpy(buf + 27, a->key, a->key_len);
		return len;
	}
	/* Both SHA1 types step the sequence on every packet: meticulous must,
	 * keyed may (6.7.4), and one rule is simpler to check. */
	s->xmit_auth_seq++;
	put32(buf + 28, s->xmit_auth_seq);
	sha1_digest(a, buf, len, buf + 32);
	return len;
}

/* --- configuration --- */

int kt_bfd_config_check(const struct kt_bfd_config *c, const char **why)
{
	const struct kt_bfd_auth *a = &c->auth;

	if (c->desired_min_tx_us < KT_BFD_MIN_INTERVAL_US) {
		*why = "desired minimum transmit interval below 10 ms";
		return -EINVAL;
	}
	if (c->required_min_rx_us < KT_BFD_MIN_INTERVAL_US) {
		*why = "required minimum receive interval below 10 ms";
		return -EINVAL;
	}
	if (!c->detect_mult) {
		*why = "detection multiplier 0";
		return -EINVAL;
	}
	switch (a->type) {
	case KT_BFD_AUTH_NONE:
		return 0;
	case KT_BFD_AUTH_SIMPLE:
		if (a->key_len < 1 || a->key_len > KT_BFD_PASSWORD_MAX) {
			*why = "a simple password has 1 to 16 bytes";
			return -EINVAL;
		}
		return 0;
	case KT_BFD_AUTH_KEYED_SHA1:
	case KT_BFD_AUTH_METICULOUS_SHA1:
		if (a->key_len < 1 || a->key_len > KT_BFD_SHA1_LEN) {
			*why = "a SHA1 key has 1 to 20 bytes";
			return -EINVAL;
		}
		return 0;
	default:
		*why = "authentication type not supported (none, simple, "
		       "keyed-sha1, meticulous-sha1)";
		return -EINVAL;
	}
}

/* --- timers --- */

static uint32_t xorshift(struct kt_bfd_session *s)
{
	uint32_t x = s->rnd;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return s->rnd = x;
}

static uint32_t max32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

static uint32_t wanted_tx(const struct kt_bfd_session *s)
{
	/* 6.8.3: no faster than one a second while the session is not Up. */
	return s->session_state == KT_BFD_UP ? s->cfg.desired_min_tx_us :
	       max32(s->cfg.desired_min_tx_us, KT_BFD_SLOW_TX_US);
}

uint32_t kt_bfd_tx_interval_us(const struct kt_bfd_session *s)
{
	if (!s->remote_min_rx)
		return 0;	/* the remote wants no periodic packets */
	if (s->remote_demand && s->session_state == KT_BFD_UP &&
	    s->remote_session_state == KT_BFD_UP)
		return 0;
	return max32(s->tx_in_force, s->remote_min_rx);
}

uint32_t kt_bfd_detect_us(const struct kt_bfd_session *s)
{
	return s->detect_us;
}

static uint64_t us_to_ms(uint64_t us)
{
	uint64_t ms = (us + 999) / 1000;

	return ms ? ms : 1;
}

/* (Re)arms the periodic transmission: jittered 75-100 % of the interval,
 * 75-90 % at multiplier 1 (6.8.7). */
static void tx_schedule(struct kt_bfd_session *s)
{
	uint64_t iv = kt_bfd_tx_interval_us(s);
	unsigned span = s->cfg.detect_mult == 1 ? 16 : 26;	/* percent points */

	if (!iv) {
		kt_timer_cancel(s->loop, &s->tx_timer);
		return;
	}
	iv = iv * (75 + xorshift(s) % span) / 100;
	kt_timer_set(s->loop, &s->tx_timer, us_to_ms(iv));
}

static uint64_t now_us(const struct kt_bfd_session *s)
{
	return s->ops->clock_us ? s->ops->clock_us() : kt_loop_now(s->loop) * 1000;
}

static void send_now(struct kt_bfd_session *s, uint8_t flags)
{
	uint8_t pkt[KT_BFD_MAX_LEN];
	size_t len;

	if (s->poll && !(flags & KT_BFD_F_FINAL)) {
		flags |= KT_BFD_F_POLL;
		/* The round trip runs from the first Poll that went out (a
		 * Final we owed may have taken the packet before it). */
		if (!s->poll_sent) {
			s->poll_sent = true;
			s->poll_sent_us = now_us(s);
		}
	}
	len = kt_bfd_build(s, flags, pkt);
	s->stats.tx++;
	if (flags & KT_BFD_F_FINAL)
		s->stats.finals_tx++;
	s->ops->send(s->arg, pkt, len);
	kt_wipe(pkt, len);	/* a simple password travels in it */
}

static void on_tx(struct kt_timer *t)
{
	struct kt_bfd_session *s = container_of(t, struct kt_bfd_session, tx_timer);

	send_now(s, 0);
	tx_schedule(s);
}

static void detect_schedule(struct kt_bfd_session *s)
{
	if (s->detect_us)
		kt_timer_set(s->loop, &s->detect_timer, us_to_ms(s->detect_us));
}

static void start_poll(struct kt_bfd_session *s)
{
	if (s->poll) {
		s->poll_wanted = true;
		return;
	}
	s->poll = true;
	s->poll_wanted = false;
	s->poll_sent = false;
	s->stats.polls++;
}

/* What the session advertises follows its state and configuration; a
 * change polls while Up, and meanwhile only the safe half takes effect:
 * a faster transmit interval and a longer receive interval at once, the
 * others when the Final comes back (6.8.3). Returns true if it polled. */
static bool advertise(struct kt_bfd_session *s)
{
	uint32_t tx = wanted_tx(s), rx = s->cfg.required_min_rx_us;
	bool changed = tx != s->desired_min_tx || rx != s->required_min_rx;

	s->desired_min_tx = tx;
	s->required_min_rx = rx;
	if (s->session_state != KT_BFD_UP) {
		s->tx_in_force = tx;
		s->rx_in_force = rx;
		return false;
	}
	if (!changed)
		return false;
	if (tx < s->tx_in_force)
		s->tx_in_force = tx;
	if (rx > s->rx_in_force)
		s->rx_in_force = rx;
	start_poll(s);
	return true;
}

static void update_detect(struct kt_bfd_session *s)
{
	s->detect_us = (uint32_t)((uint64_t)s->remote_detect_mult *
				  max32(s->rx_in_force, s->remote_desired_min_tx));
	if (s->detect_us < KT_BFD_MIN_INTERVAL_US)
		s->detect_us = KT_BFD_MIN_INTERVAL_US;
}

static void set_state(struct kt_bfd_session *s, uint8_t state, uint8_t diag)
{
	uint8_t old = s->session_state;

	if (old == state)
		return;
	s->session_state = state;
	s->local_diag = state == KT_BFD_UP ? KT_BFD_DIAG_NONE : diag;
	s->stats.changed_ms = kt_loop_now(s->loop);
	if (state == KT_BFD_UP)
		s->stats.ups++;
	else if (old == KT_BFD_UP)
		s->stats.downs++;
	if (state != KT_BFD_UP) {
		/* A poll of an Up session means nothing once it is down. */
		s->poll = false;
		s->poll_wanted = false;
	}
	advertise(s);
	if (state == KT_BFD_ADMIN_DOWN)
		kt_timer_cancel(s->loop, &s->detect_timer);
	if (s->ops->state)
		s->ops->state(s->arg, s, old, state, s->local_diag);
}

/* The remote system is gone: Down (if the session was not already) with
 * diag, and what 6.8.1 says to forget about the remote. */
static void lose_remote(struct kt_bfd_session *s, uint8_t diag)
{
	if (s->session_state == KT_BFD_INIT || s->session_state == KT_BFD_UP) {
		set_state(s, KT_BFD_DOWN, diag);
		send_now(s, 0);
	}
	s->remote_discr = 0;
	s->remote_session_state = KT_BFD_DOWN;
	s->remote_demand = false;
	s->remote_min_rx = 1;	/* as at the start: keep sending, slowly */
	tx_schedule(s);
}

bool kt_bfd_signal_down(struct kt_bfd_session *s, uint8_t diag)
{
	bool was = s->session_state == KT_BFD_INIT || s->session_state == KT_BFD_UP;

	if (s->session_state == KT_BFD_ADMIN_DOWN)
		return false;
	lose_remote(s, diag);
	/* Detection starts again with the next packet the remote sends. */
	kt_timer_cancel(s->loop, &s->detect_timer);
	return was;
}

static void on_detect(struct kt_timer *t)
{
	struct kt_bfd_session *s = container_of(t, struct kt_bfd_session, detect_timer);

	/* 6.8.4: nothing valid for a detection time. */
	lose_remote(s, KT_BFD_DIAG_TIME_EXPIRED);
	/* 6.7.1: forget the sequence after twice the detection time. */
	if (++s->idle_detects >= 2)
		s->auth_seq_known = false;
	else
		detect_schedule(s);
}

/* --- sessions --- */

int kt_bfd_init(struct kt_bfd_session *s, struct kt_loop *loop,
		const struct kt_bfd_config *cfg, uint32_t local_discr,
		uint32_t seed, const struct kt_bfd_ops *ops, void *arg)
{
	const char *why;

	memset(s, 0, sizeof(*s));
	if (!local_discr || kt_bfd_config_check(cfg, &why))
		return -EINVAL;
	s->loop = loop;
	s->ops = ops;
	s->arg = arg;
	s->cfg = *cfg;
	s->local_discr = local_discr;
	s->rnd = seed ? seed : 0x9e3779b9u;
	s->xmit_auth_seq = seed ^ local_discr;	/* 6.8.1: random start */
	s->session_state = KT_BFD_DOWN;
	s->remote_session_state = KT_BFD_DOWN;
	s->remote_min_rx = 1;
	s->tx_timer.cb = on_tx;
	s->detect_timer.cb = on_detect;
	advertise(s);
	send_now(s, 0);
	tx_schedule(s);
	return 0;
}

void kt_bfd_uninit(struct kt_bfd_session *s)
{
	if (s->loop) {
		kt_timer_cancel(s->loop, &s->tx_timer);
		kt_timer_cancel(s->loop, &s->detect_timer);
	}
	kt_wipe(&s->cfg.auth, sizeof(s->cfg.auth));
	s->loop = NULL;
}

int kt_bfd_reconfigure(struct kt_bfd_session *s, const struct kt_bfd_config *cfg)
{
	const char *why;

	if (kt_bfd_config_check(cfg, &why))
		return -EINVAL;
	s->cfg.desired_min_tx_us = cfg->desired_min_tx_us;
	s->cfg.required_min_rx_us = cfg->required_min_rx_us;
	s->cfg.detect_mult = cfg->detect_mult;
	if (advertise(s))
		send_now(s, 0);
	if (s->remote_detect_mult)
		update_detect(s);
	tx_schedule(s);
	return 0;
}

void kt_bfd_admin(struct kt_bfd_session *s, bool down)
{
	if (down == (s->session_state == KT_BFD_ADMIN_DOWN))
		return;
	set_state(s, down ? KT_BFD_ADMIN_DOWN : KT_BFD_DOWN,
		  down ? KT_BFD_DIAG_ADMIN_DOWN : KT_BFD_DIAG_NONE);
	send_now(s, 0);
	tx_schedule(s);
}

bool kt_bfd_probe(struct kt_bfd_session *s)
{
	if (s->session_state != KT_BFD_UP)
		return false;
	if (!s->poll) {
		start_poll(s);
		send_now(s, 0);
		tx_schedule(s);
	}
	return true;
}

/* 6.7.2-6.7.4 */
static int check_auth(struct kt_bfd_session *s, const struct kt_bfd_packet *p,
		      const uint8_t *buf)
{
	const struct kt_bfd_auth *a = &s->cfg.auth;
	uint8_t want[KT_BFD_SHA1_LEN];
	uint32_t window, ahead;
	bool ok;

	if (!(p->flags & KT_BFD_F_AUTH) != (a->type == KT_BFD_AUTH_NONE) ||
	    (a->type != KT_BFD_AUTH_NONE && p->auth_type != a->type))
		return bad(KT_BFD_BAD_AUTH_MISMATCH);
	if (a->type == KT_BFD_AUTH_NONE)
		return 0;
	if (p->auth_key_id != a->key_id)
		return bad(KT_BFD_BAD_AUTH);
	if (a->type == KT_BFD_AUTH_SIMPLE)
		return p->auth_data_len == a->key_len &&
		       kt_equal_ct(p->auth_data, a->key, a->key_len) ? 0 :
		       bad(KT_BFD_BAD_AUTH);
	sha1_digest(a, buf, p->length, want);
	ok = kt_equal_ct(want, p->auth_data, KT_BFD_SHA1_LEN);
	kt_wipe(want, sizeof(want));
	if (!ok)
		return bad(KT_BFD_BAD_AUTH);
	if (s->auth_seq_known) {
		/* Modulo 2^32: keyed accepts [seq, seq + 3M], meticulous
		 * (seq, seq + 3M]. */
		window = 3u * s->cfg.detect_mult;
		ahead = p->auth_seq - s->rcv_auth_seq;
		if (a->type == KT_BFD_AUTH_METICULOUS_SHA1 ? ahead < 1 || ahead > window :
		    ahead > window)
			return bad(KT_BFD_BAD_AUTH_SEQ);
	}
	s->rcv_auth_seq = p->auth_seq;
	s->auth_seq_known = true;
	return 0;
}

static int refuse(struct kt_bfd_session *s, int err)
{
	s->stats.rx_bad[-err - 1]++;
	return err;
}

int kt_bfd_receive(struct kt_bfd_session *s, const uint8_t *buf, size_t len,
		   unsigned ttl)
{
	struct kt_bfd_packet p;
	uint8_t old = s->session_state, reply = 0;
	uint32_t old_iv = kt_bfd_tx_interval_us(s);
	int err;

	if ((err = kt_bfd_parse(buf, len, &p)))
		return refuse(s, err);
	/* RFC 5881 5: one hop only (we always send 255, so a packet that
	 * crossed a router, or was made further away, is not our peer's). */
	if (ttl != KT_BFD_TTL)
		return refuse(s, bad(KT_BFD_BAD_TTL));
	if (p.your_discr && p.your_discr != s->local_discr)
		return refuse(s, bad(KT_BFD_BAD_YOUR_DISCR));
	if ((err = check_auth(s, &p, buf)))
		return refuse(s, err);

	s->stats.rx++;
	s->stats.last_rx_ms = kt_loop_now(s->loop);
	s->remote_discr = p.my_discr;
	s->remote_session_state = p.state;
	s->remote_demand = p.flags & KT_BFD_F_DEMAND;
	s->remote_min_rx = p.required_min_rx;
	s->remote_desired_min_tx = p.desired_min_tx;
	s->remote_detect_mult = p.detect_mult;
	s->remote_diag = p.diag;

	if ((p.flags & KT_BFD_F_FINAL) && s->poll && s->poll_sent) {
		uint64_t rtt = now_us(s) - s->poll_sent_us;

		s->stats.finals_rx++;
		s->poll = false;
		s->tx_in_force = s->desired_min_tx;
		s->rx_in_force = s->required_min_rx;
		if (s->ops->rtt)
			s->ops->rtt(s->arg, s, rtt > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt);
		if (s->poll_wanted) {
			s->poll_wanted = false;
			start_poll(s);
		}
	}
	update_detect(s);
	s->idle_detects = 0;
	if (s->session_state != KT_BFD_ADMIN_DOWN)
		detect_schedule(s);

	/* 6.8.6, the state machine (6.2). */
	if (s->session_state == KT_BFD_ADMIN_DOWN)
		return 0;
	if (p.state == KT_BFD_ADMIN_DOWN) {
		if (s->session_state != KT_BFD_DOWN)
			set_state(s, KT_BFD_DOWN, KT_BFD_DIAG_NEIGHBOR_DOWN);
	} else if (s->session_state == KT_BFD_DOWN) {
		if (p.state == KT_BFD_DOWN)
			set_state(s, KT_BFD_INIT, KT_BFD_DIAG_NONE);
		else if (p.state == KT_BFD_INIT)
			set_state(s, KT_BFD_UP, KT_BFD_DIAG_NONE);
	} else if (s->session_state == KT_BFD_INIT) {
		if (p.state == KT_BFD_INIT || p.state == KT_BFD_UP)
			set_state(s, KT_BFD_UP, KT_BFD_DIAG_NONE);
	} else if (p.state == KT_BFD_DOWN) {
		set_state(s, KT_BFD_DOWN, KT_BFD_DIAG_NEIGHBOR_DOWN);
	}
	if (s->session_state != KT_BFD_UP && s->session_state != old)
		update_detect(s);	/* advertise() reset what is in force */

	/* A Poll is answered at once with a Final (the Final also carries
	 * a state change); a state change alone is sent at once too, so the
	 * peer does not wait for our next period to learn it. */
	if (p.flags & KT_BFD_F_POLL)
		reply = KT_BFD_F_FINAL;
	if (reply || s->session_state != old) {
		send_now(s, reply);
		tx_schedule(s);
	} else if (kt_bfd_tx_interval_us(s) != old_iv) {
		tx_schedule(s);
	}
	return 0;
}
