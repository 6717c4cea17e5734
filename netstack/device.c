#include "device.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const struct kt_timing kt_timing_default = {
	.rekey_after_ms = KT_REKEY_AFTER_TIME_MS,
	.reject_after_ms = KT_REJECT_AFTER_TIME_MS,
	.rekey_attempt_ms = KT_REKEY_ATTEMPT_TIME_MS,
	.rekey_timeout_ms = KT_REKEY_TIMEOUT_MS,
	.keepalive_ms = KT_KEEPALIVE_TIMEOUT_MS,
	.rekey_after_messages = KT_REKEY_AFTER_MESSAGES,
};

static const char *const drop_names[KT_DROP_COUNT] = {
	[KT_DROP_MALFORMED] = "malformed",
	[KT_DROP_BAD_MAC] = "bad-mac",
	[KT_DROP_REPLAY] = "replay",
	[KT_DROP_NO_SESSION] = "no-session",
	[KT_DROP_COOKIE] = "cookie",
	[KT_DROP_RATELIMIT] = "ratelimit",
	[KT_DROP_UNKNOWN_PEER] = "unknown-peer",
	[KT_DROP_ALLOWED_IPS] = "allowed-ips",
	[KT_DROP_NO_ROUTE] = "no-route",
	[KT_DROP_STAGED_FULL] = "staged-full",
};

const char *kt_drop_name(enum kt_drop d)
{
	return d < KT_DROP_COUNT ? drop_names[d] : "?";
}

static uint64_t now(const struct kt_device *dev)
{
	return kt_loop_now(dev->loop);
}

static void drop(struct kt_device *dev, struct kt_peer *p, enum kt_drop why)
{
	if (p)
		p->stats.drops[why]++;
	else
		dev->drops[why]++;
}

/* --- index table: local index -> peer (open addressing, linear probing,
 * backward-shift deletion). Indices are random, so they hash themselves. */

static size_t slot_of(const struct kt_device *dev, uint32_t index)
{
	return (index * 2654435761u) & (dev->index_cap - 1);
}

static struct kt_peer *index_find(const struct kt_device *dev, uint32_t index)
{
	for (size_t i = slot_of(dev, index);; i = (i + 1) & (dev->index_cap - 1)) {
		if (!dev->index[i].peer)
			return NULL;
		if (dev->index[i].index == index)
			return dev->index[i].peer;
	}
}

static int index_grow(struct kt_device *dev);

/* A fresh random index for p, not in use. */
static int index_add(struct kt_device *dev, struct kt_peer *p, uint32_t *out)
{
	uint32_t index;
	size_t i;
	int err;

	if ((dev->index_used + 1) * 2 > dev->index_cap && (err = index_grow(dev)))
		return err;
	do {
		if ((err = kt_random(&index, sizeof(index))))
			return err;
	} while (index == 0 || index_find(dev, index));
	for (i = slot_of(dev, index); dev->index[i].peer;
	     i = (i + 1) & (dev->index_cap - 1))
		;
	dev->index[i] = (struct kt_index_slot){ index, p };
	dev->index_used++;
	*out = index;
	return 0;
}

static void index_del(struct kt_device *dev, uint32_t index)
{
	size_t mask = dev->index_cap - 1, i, j;

	if (!index)
		return;
	for (i = slot_of(dev, index); dev->index[i].peer && dev->index[i].index != index;
	     i = (i + 1) & mask)
		;
	if (!dev->index[i].peer)
		return;
	/* Pull later entries of the run back into the hole, so lookups
	 * never stop early at it. */
	for (j = (i + 1) & mask; dev->index[j].peer; j = (j + 1) & mask) {
		size_t home = slot_of(dev, dev->index[j].index);

		if (((j - home) & mask) >= ((j - i) & mask)) {
			dev->index[i] = dev->index[j];
			i = j;
		}
	}
	dev->index[i].peer = NULL;
	dev->index[i].index = 0;
	dev->index_used--;
}

static int index_grow(struct kt_device *dev)
{
	struct kt_index_slot *old = dev->index;
	size_t old_cap = dev->index_cap, cap = old_cap ? old_cap * 2 : 64;
	struct kt_index_slot *fresh = calloc(cap, sizeof(*fresh));

	if (!fresh)
		return -ENOMEM;
	dev->index = fresh;
	dev->index_cap = cap;
	dev->index_used = 0;
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i].peer) {
			size_t j = slot_of(dev, old[i].index);

			while (dev->index[j].peer)
				j = (j + 1) & (cap - 1);
			dev->index[j] = old[i];
			dev->index_used++;
		}
	}
	free(old);
	return 0;
}

/* --- keypairs --- */

static void keypair_drop(struct kt_device *dev, struct kt_keypair *kp)
{
	if (kp->valid)
		index_del(dev, kp->local_index);
	kt_keypair_clear(kp);
}

static bool keypair_usable(const struct kt_device *dev, const struct kt_keypair *kp)
{
	return kp->valid && now(dev) - kp->birth_ms < dev->timing.reject_after_ms &&
	       kp->send_counter < KT_REJECT_AFTER_MESSAGES;
}

/* The whitepaper's rotation: the new keypair becomes current, the current
 * one previous (still accepted for packets in flight); an unconfirmed
 * responder keypair waits in next. */
static void keypairs_install(struct kt_peer *p, struct kt_keypair *kp)
{
	struct kt_device *dev = p->dev;

	if (kp->initiator) {
		if (p->next.valid) {
			/* Our own handshake won over theirs: theirs was never
			 * confirmed, ours is; it becomes previous (packets under
			 * it may still arrive) and the old current goes. */
			keypair_drop(dev, &p->prev);
			keypair_drop(dev, &p->cur);
			p->prev = p->next;
			memset(&p->next, 0, sizeof(p->next));
		} else {
			keypair_drop(dev, &p->prev);
			p->prev = p->cur;
		}
		p->cur = *kp;
	} else {
		keypair_drop(dev, &p->next);
		p->next = *kp;
	}
	kt_wipe(kp, sizeof(*kp));
}

/* First packet under next: the initiator has confirmed it. */
static void keypair_confirm(struct kt_peer *p)
{
	keypair_drop(p->dev, &p->prev);
	p->prev = p->cur;
	p->cur = p->next;
	memset(&p->next, 0, sizeof(p->next));
}

/* --- timers (the hooks named in device.h) --- */

static uint32_t jitter(const struct kt_device *dev)
{
	uint32_t r = 0;

	/* Spreads retries of peers that lost their line together. */
	if (kt_random(&r, sizeof(r)))
		return 0;
	return r % (dev->timing.rekey_timeout_ms / 3 + 1);
}

static void timers_data_sent(struct kt_peer *p)
{
	struct kt_device *dev = p->dev;

	if (!p->t_new_handshake.pending)
		kt_timer_set(dev->loop, &p->t_new_handshake,
			     dev->timing.keepalive_ms + dev->timing.rekey_timeout_ms +
				     jitter(dev));
}

static void timers_data_received(struct kt_peer *p)
{
	if (!p->t_keepalive.pending)
		kt_timer_set(p->dev->loop, &p->t_keepalive, p->dev->timing.keepalive_ms);
	else
		p->need_another_keepalive = true;
}

static void timers_authenticated_sent(struct kt_peer *p)
{
	kt_timer_cancel(p->dev->loop, &p->t_keepalive);
}

static void timers_authenticated_received(struct kt_peer *p)
{
	kt_timer_cancel(p->dev->loop, &p->t_new_handshake);
}

static void timers_traversal(struct kt_peer *p)
{
	if (p->persistent_keepalive_s)
		kt_timer_set(p->dev->loop, &p->t_persistent,
			     (uint64_t)p->persistent_keepalive_s * 1000);
}

static void timers_handshake_initiated(struct kt_peer *p)
{
	kt_timer_set(p->dev->loop, &p->t_retransmit,
		     p->dev->timing.rekey_timeout_ms + jitter(p->dev));
}

static void timers_handshake_complete(struct kt_peer *p)
{
	kt_timer_cancel(p->dev->loop, &p->t_retransmit);
	p->handshake_attempts = 0;
	p->sent_lastminute_handshake = false;
	p->last_handshake_rt = (int64_t)time(NULL);
	p->stats.handshakes++;
}

static void timers_session_derived(struct kt_peer *p)
{
	kt_timer_set(p->dev->loop, &p->t_zero, 3ull * p->dev->timing.reject_after_ms);
}

/* --- sending --- */

static int send_raw(struct kt_peer *p, const uint8_t *msg, size_t len)
{
	if (!p->has_endpoint)
		return -EDESTADDRREQ;
	return p->dev->ops->send(p->dev->arg, &p->endpoint, msg, len);
}

static void send_initiation(struct kt_peer *p, bool retry)
{
	struct kt_device *dev = p->dev;
	uint8_t msg[KT_MAX_HANDSHAKE_LEN];
	uint32_t index;

	if (!retry)
		p->handshake_attempts = 0;
	/* At most one initiation per rekey timeout, however many packets
	 * ask for one. */
	if (p->ever_sent_handshake &&
	    now(dev) - p->last_sent_handshake_ms < dev->timing.rekey_timeout_ms)
		return;
	index_del(dev, p->hs.local_index);
	p->hs.local_index = 0;
	if (index_add(dev, p, &index))
		return;
	if (kt_noise_create_initiation(&p->hs, msg, index, now(dev))) {
		index_del(dev, index);
		return;
	}
	p->last_sent_handshake_ms = now(dev);
	p->ever_sent_handshake = true;
	send_raw(p, msg, kt_init_len(dev->id.suite));
	timers_traversal(p);
	timers_authenticated_sent(p);
	timers_handshake_initiated(p);
}

void kt_peer_initiate(struct kt_peer *p)
{
	send_initiation(p, false);
}

/* Seals pkt under the current keypair and sends it; pkt may be empty (a
 * keepalive). Returns -ENOKEY when there is no usable keypair. */
static int send_sealed(struct kt_peer *p, const uint8_t *pkt, size_t len)
{
	struct kt_device *dev = p->dev;
	const struct kt_suite *s = dev->id.suite;
	uint8_t padded[KT_MAX_PACKET + 16], msg[KT_DATA_MIN_LEN + KT_MAX_PACKET + 16];
	size_t plen = (len + 15) & ~(size_t)15;
	int n, err;

	if (!keypair_usable(dev, &p->cur))
		return -ENOKEY;
	/* Padding to 16 hides the exact length (whitepaper §5.4.6), up to
	 * the MTU. */
	if (plen > KT_MAX_PACKET)
		plen = KT_MAX_PACKET;
	if (len)	/* a keepalive has no packet at all */
		memcpy(padded, pkt, len);
	memset(padded + len, 0, plen - len);
	n = kt_keypair_seal(&p->cur, s, msg, padded, plen);
	kt_wipe(padded, plen);
	if (n < 0)
		return n;
	if ((err = send_raw(p, msg, (size_t)n)))
		return err;
	p->stats.tx_bytes += (uint64_t)n;
	if (len)
		p->stats.tx_packets++;
	timers_traversal(p);
	timers_authenticated_sent(p);
	if (len)
		timers_data_sent(p);
	/* Rekey: the initiator after REKEY_AFTER_TIME, either side after
	 * REKEY_AFTER_MESSAGES. */
	if ((p->cur.initiator && now(dev) - p->cur.birth_ms >= dev->timing.rekey_after_ms) ||
	    p->cur.send_counter >= dev->timing.rekey_after_messages)
		send_initiation(p, false);
	return 0;
}

static void stage(struct kt_peer *p, const uint8_t *pkt, size_t len)
{
	unsigned slot;

	if (p->staged_count == KT_PEER_STAGED) {
		/* Keep the newest: the oldest is most likely stale. */
		p->staged_head = (p->staged_head + 1) % KT_PEER_STAGED;
		p->staged_count--;
		p->stats.drops[KT_DROP_STAGED_FULL]++;
	}
	slot = (p->staged_head + p->staged_count) % KT_PEER_STAGED;
	memcpy(p->staged[slot], pkt, len);
	p->staged_len[slot] = (uint16_t)len;
	p->staged_count++;
}

static void send_staged(struct kt_peer *p)
{
	while (p->staged_count) {
		unsigned slot = p->staged_head;

		if (send_sealed(p, p->staged[slot], p->staged_len[slot]) == -ENOKEY)
			return;
		p->staged_head = (p->staged_head + 1) % KT_PEER_STAGED;
		p->staged_count--;
	}
}

int kt_peer_send(struct kt_peer *p, const uint8_t *pkt, size_t len)
{
	int err;

	if (len > KT_MAX_PACKET)
		return -EMSGSIZE;
	if (p->staged_count) {
		/* Keep order: behind what is already waiting. */
		stage(p, pkt, len);
		send_staged(p);
		if (p->staged_count)
			send_initiation(p, false);
		return 0;
	}
	err = send_sealed(p, pkt, len);
	if (err == -ENOKEY) {
		stage(p, pkt, len);
		send_initiation(p, false);
		return 0;
	}
	return err;
}

static void send_keepalive(struct kt_peer *p)
{
	if (p->staged_count) {
		send_staged(p);
		return;
	}
	send_sealed(p, NULL, 0);
}

/* --- timer expiries --- */

static void on_retransmit(struct kt_timer *t)
{
	struct kt_peer *p = container_of(t, struct kt_peer, t_retransmit);
	struct kt_device *dev = p->dev;

	if (p->handshake_attempts >
	    dev->timing.rekey_attempt_ms / dev->timing.rekey_timeout_ms) {
		/* Give up for now: drop what waits, and let the keys age
		 * out unless a new handshake succeeds. */
		kt_timer_cancel(dev->loop, &p->t_keepalive);
		p->staged_count = 0;
		if (!p->t_zero.pending)
			timers_session_derived(p);
		return;
	}
	p->handshake_attempts++;
	send_initiation(p, true);
}

static void on_keepalive(struct kt_timer *t)
{
	struct kt_peer *p = container_of(t, struct kt_peer, t_keepalive);

	send_keepalive(p);
	if (p->need_another_keepalive) {
		p->need_another_keepalive = false;
		kt_timer_set(p->dev->loop, &p->t_keepalive, p->dev->timing.keepalive_ms);
	}
}

static void on_new_handshake(struct kt_timer *t)
{
	send_initiation(container_of(t, struct kt_peer, t_new_handshake), false);
}

static void on_zero(struct kt_timer *t)
{
	struct kt_peer *p = container_of(t, struct kt_peer, t_zero);

	keypair_drop(p->dev, &p->prev);
	keypair_drop(p->dev, &p->cur);
	keypair_drop(p->dev, &p->next);
	index_del(p->dev, p->hs.local_index);
	p->hs.local_index = 0;
	kt_handshake_reset(&p->hs);
}

static void on_persistent(struct kt_timer *t)
{
	send_keepalive(container_of(t, struct kt_peer, t_persistent));
}

/* --- receiving --- */

static void update_load(struct kt_device *dev)
{
	if (now(dev) - dev->load_window_ms >= 1000) {
		dev->under_load = dev->load_count > dev->load_threshold;
		dev->load_count = 0;
		dev->load_window_ms = now(dev);
	}
	if (++dev->load_count > dev->load_threshold)
		dev->under_load = true;
}

static size_t src_bytes(const struct kt_endpoint_addr *a, uint8_t *out)
{
	if (a->sa.sa_family == AF_INET6) {
		memcpy(out, &a->in6.sin6_addr, 16);
		memcpy(out + 16, &a->in6.sin6_port, 2);
		return 18;
	}
	memcpy(out, &a->in.sin_addr, 4);
	memcpy(out + 4, &a->in.sin_port, 2);
	return 6;
}

static void src_addr(const struct kt_endpoint_addr *a, struct kt_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = a->sa.sa_family;
	if (out->family == AF_INET6)
		memcpy(out->bytes, &a->in6.sin6_addr, 16);
	else
		memcpy(out->bytes, &a->in.sin_addr, 4);
}

/* mac1, then under load the cookie and the per-source limit. True if
 * the message may go on to the expensive Diffie-Hellman steps. */
static bool handshake_admitted(struct kt_device *dev,
			       const struct kt_endpoint_addr *from,
			       const uint8_t *msg, size_t len)
{
	uint8_t src[KT_COOKIE_SRC_MAX], reply[KT_MAX_HANDSHAKE_LEN];
	size_t slen = src_bytes(from, src);
	enum kt_macs_state st;
	struct kt_addr a;

	update_load(dev);
	st = kt_macs_check(&dev->cookies, msg, len, src, slen, now(dev));
	if (st == KT_MACS_INVALID) {
		drop(dev, NULL, KT_DROP_BAD_MAC);
		return false;
	}
	if (!dev->under_load)
		return true;
	if (st != KT_MACS_VALID_COOKIE) {
		if (!kt_cookie_reply_create(&dev->cookies, reply, msg, len, src, slen,
					    now(dev)))
			dev->ops->send(dev->arg, from, reply,
				       kt_cookie_len(dev->id.suite));
		drop(dev, NULL, KT_DROP_COOKIE);
		return false;
	}
	src_addr(from, &a);
	if (!kt_ratelimiter_allow(&dev->limiter, now(dev), &a)) {
		drop(dev, NULL, KT_DROP_RATELIMIT);
		return false;
	}
	return true;
}

static struct kt_handshake *lookup_static(void *arg, const uint8_t *pub)
{
	struct kt_device *dev = arg;

	for (size_t i = 0; i < dev->n_peers; i++)
		if (!memcmp(dev->peers[i]->hs.remote_static, pub, dev->id.suite->pub_len))
			return &dev->peers[i]->hs;
	return NULL;
}

static void recv_initiation(struct kt_device *dev, const struct kt_endpoint_addr *from,
			    const uint8_t *msg, size_t len)
{
	uint8_t resp[KT_MAX_HANDSHAKE_LEN];
	struct kt_handshake *hs;
	struct kt_keypair kp;
	struct kt_peer *p;
	uint32_t index;
	int err;

	if (!handshake_admitted(dev, from, msg, len))
		return;
	err = kt_noise_consume_initiation(&dev->id, msg, len, lookup_static, dev,
					  now(dev), &hs);
	if (err) {
		drop(dev, NULL, err == -ENOENT ? KT_DROP_UNKNOWN_PEER
				: err == -EALREADY || err == -EBUSY ? KT_DROP_REPLAY
				: KT_DROP_BAD_MAC);
		return;
	}
	p = container_of(hs, struct kt_peer, hs);
	/* Roaming: the peer is where its authenticated message came from. */
	p->endpoint = *from;
	p->has_endpoint = true;
	index_del(dev, p->hs.local_index);
	p->hs.local_index = 0;
	if (index_add(dev, p, &index))
		return;
	if (kt_noise_create_response(&p->hs, resp, index, now(dev)) ||
	    kt_noise_derive_keypair(&p->hs, &kp, now(dev))) {
		index_del(dev, index);
		return;
	}
	/* The handshake's index now names the keypair. */
	p->hs.local_index = 0;
	keypairs_install(p, &kp);
	timers_authenticated_received(p);
	timers_session_derived(p);
	send_raw(p, resp, kt_resp_len(dev->id.suite));
	timers_traversal(p);
	timers_authenticated_sent(p);
}

static void recv_response(struct kt_device *dev, const struct kt_endpoint_addr *from,
			  const uint8_t *msg, size_t len)
{
	struct kt_keypair kp;
	struct kt_peer *p;

	if (!handshake_admitted(dev, from, msg, len))
		return;
	p = index_find(dev, kt_get_le32(msg + 8));
	if (!p || p->hs.local_index != kt_get_le32(msg + 8)) {
		drop(dev, NULL, KT_DROP_NO_SESSION);
		return;
	}
	if (kt_noise_consume_response(&p->hs, msg, len) ||
	    kt_noise_derive_keypair(&p->hs, &kp, now(dev))) {
		drop(dev, p, KT_DROP_BAD_MAC);
		return;
	}
	p->hs.local_index = 0;
	p->endpoint = *from;
	p->has_endpoint = true;
	keypairs_install(p, &kp);
	timers_authenticated_received(p);
	timers_handshake_complete(p);
	timers_session_derived(p);
	/* Confirm the session to the responder: staged data or a keepalive. */
	if (p->staged_count)
		send_staged(p);
	else
		send_keepalive(p);
}

static void recv_cookie(struct kt_device *dev, const uint8_t *msg, size_t len)
{
	uint32_t index = kt_get_le32(msg + 4);
	struct kt_peer *p = index_find(dev, index);

	/* It answers our latest handshake message: an initiation (its index
	 * is the handshake's) or a response (its index now names the
	 * keypair that response created). */
	if (!p || (p->hs.local_index != index &&
		   !(p->next.valid && p->next.local_index == index) &&
		   !(p->cur.valid && p->cur.local_index == index))) {
		drop(dev, NULL, KT_DROP_NO_SESSION);
		return;
	}
	if (kt_cookie_reply_consume(&p->hs, msg, len, now(dev)))
		drop(dev, p, KT_DROP_BAD_MAC);
}

/* Source address of an inner IPv4 or IPv6 packet, if it has one. */
static bool inner_source(const uint8_t *pkt, size_t len, struct kt_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (len >= 20 && pkt[0] >> 4 == 4) {
		a->family = AF_INET;
		memcpy(a->bytes, pkt + 12, 4);
		return true;
	}
	if (len >= 40 && pkt[0] >> 4 == 6) {
		a->family = AF_INET6;
		memcpy(a->bytes, pkt + 8, 16);
		return true;
	}
	return false;
}

/* The inner packet's own length, without the padding. */
static size_t inner_length(const uint8_t *pkt, size_t len)
{
	size_t n = len;

	if (len >= 20 && pkt[0] >> 4 == 4) {
		n = (size_t)(pkt[2] << 8 | pkt[3]);
		if (n < 20)
			return 0;
	} else if (len >= 40 && pkt[0] >> 4 == 6)
		n = 40 + (size_t)(pkt[4] << 8 | pkt[5]);
	return n <= len ? n : 0;
}

static void recv_data_open(struct kt_device *dev, struct kt_peer *p,
			   struct kt_keypair *kp, const struct kt_endpoint_addr *from,
			   size_t len, uint8_t *pkt, int n);

static void recv_data(struct kt_device *dev, const struct kt_endpoint_addr *from,
		      const uint8_t *msg, size_t len)
{
	uint32_t index = kt_get_le32(msg + 4);
	struct kt_peer *p = index_find(dev, index);
	uint8_t pkt[KT_MAX_PACKET + 64];
	struct kt_keypair *kp = NULL;
	int n;

	if (p)
		kp = p->cur.valid && p->cur.local_index == index ? &p->cur
		   : p->prev.valid && p->prev.local_index == index ? &p->prev
		   : p->next.valid && p->next.local_index == index ? &p->next : NULL;
	if (!kp || len - KT_DATA_MIN_LEN > sizeof(pkt) ||
	    now(dev) - kp->birth_ms >= dev->timing.reject_after_ms) {
		drop(dev, p, KT_DROP_NO_SESSION);
		return;
	}
	n = kt_keypair_open(kp, dev->id.suite, msg, len, pkt);
	if (n < 0) {
		drop(dev, p, n == -EALREADY ? KT_DROP_REPLAY : KT_DROP_BAD_MAC);
		return;
	}
	recv_data_open(dev, p, kp, from, len, pkt, n);
	kt_wipe(pkt, (size_t)n);
}

/* The rest of recv_data, once the packet authenticated: split out so the
 * plaintext copy is wiped on every path. */
static void recv_data_open(struct kt_device *dev, struct kt_peer *p,
			   struct kt_keypair *kp, const struct kt_endpoint_addr *from,
			   size_t len, uint8_t *pkt, int n)
{
	struct kt_addr src;

	if (kp == &p->next) {
		keypair_confirm(p);
		kp = &p->cur;
		timers_handshake_complete(p);
		send_staged(p);
	}
	p->endpoint = *from;
	p->has_endpoint = true;
	p->stats.rx_bytes += len;
	timers_authenticated_received(p);
	timers_traversal(p);
	/* The initiator rekeys before its keypair would be rejected, if the
	 * traffic is one-way towards it (whitepaper §6.2). */
	if (kp == &p->cur && kp->initiator && !p->sent_lastminute_handshake &&
	    now(dev) - kp->birth_ms >= dev->timing.reject_after_ms -
					       dev->timing.keepalive_ms -
					       dev->timing.rekey_timeout_ms) {
		p->sent_lastminute_handshake = true;
		send_initiation(p, false);
	}
	if (n == 0)
		return;		/* keepalive */
	timers_data_received(p);
	if (pkt[0] >> 4 == 0) {
		/* A message between the two ends, not traffic: what the
		 * keypair authenticated is all that identifies its sender. */
		if (!dev->ops->control) {
			drop(dev, p, KT_DROP_MALFORMED);
			return;
		}
		p->stats.rx_packets++;
		dev->ops->control(dev->arg, p, pkt, (size_t)n);
		return;
	}
	if (!inner_source(pkt, (size_t)n, &src) ||
	    kt_allowedips_lookup(&dev->routes, src.family, src.bytes) != p) {
		drop(dev, p, KT_DROP_ALLOWED_IPS);
		return;
	}
	n = (int)inner_length(pkt, (size_t)n);
	if (!n) {
		drop(dev, p, KT_DROP_MALFORMED);
		return;
	}
	p->stats.rx_packets++;
	dev->ops->deliver(dev->arg, p, pkt, (size_t)n);
}

void kt_device_receive(struct kt_device *dev, const struct kt_endpoint_addr *from,
		       const uint8_t *msg, size_t len)
{
	const struct kt_suite *s = dev->id.suite;
	uint32_t type;

	if (len < 4) {
		drop(dev, NULL, KT_DROP_MALFORMED);
		return;
	}
	type = kt_get_le32(msg);
	if (type == kt_msg_type(s, KT_MSG_INITIATION) && len == kt_init_len(s))
		recv_initiation(dev, from, msg, len);
	else if (type == kt_msg_type(s, KT_MSG_RESPONSE) && len == kt_resp_len(s))
		recv_response(dev, from, msg, len);
	else if (type == kt_msg_type(s, KT_MSG_COOKIE) && len == kt_cookie_len(s))
		recv_cookie(dev, msg, len);
	else if (type == kt_msg_type(s, KT_MSG_DATA) && len >= KT_DATA_MIN_LEN)
		recv_data(dev, from, msg, len);
	else
		drop(dev, NULL, KT_DROP_MALFORMED);
}

int kt_device_send(struct kt_device *dev, const uint8_t *pkt, size_t len)
{
	struct kt_peer *p = NULL;

	if (len >= 20 && pkt[0] >> 4 == 4)
		p = kt_allowedips_lookup(&dev->routes, AF_INET, pkt + 16);
	else if (len >= 40 && pkt[0] >> 4 == 6)
		p = kt_allowedips_lookup(&dev->routes, AF_INET6, pkt + 24);
	if (!p) {
		drop(dev, NULL, KT_DROP_NO_ROUTE);
		return -EHOSTUNREACH;
	}
	return kt_peer_send(p, pkt, len);
}

/* --- set-up --- */

int kt_device_init(struct kt_device *dev, struct kt_loop *loop,
		   const struct kt_suite *suite, const uint8_t *priv,
		   const struct kt_device_ops *ops, void *arg)
{
	int err;

	memset(dev, 0, sizeof(*dev));
	dev->loop = loop;
	dev->ops = ops;
	dev->arg = arg;
	dev->timing = kt_timing_default;
	/* A hub of 400 paths sees a few handshakes a second in normal
	 * operation; far more means someone is flooding it. */
	dev->load_threshold = 256;
	if ((err = kt_identity_set(&dev->id, suite, priv)))
		return err;
	kt_cookie_checker_init(&dev->cookies, &dev->id);
	if ((err = kt_ratelimiter_init(&dev->limiter, 4096)))
		goto err_id;
	if ((err = kt_allowedips_init(&dev->routes)))
		goto err_limiter;
	if ((err = index_grow(dev)))
		goto err_routes;
	return 0;
err_routes:
	kt_allowedips_uninit(&dev->routes);
err_limiter:
	kt_ratelimiter_uninit(&dev->limiter);
err_id:
	kt_cookie_checker_clear(&dev->cookies);
	kt_identity_clear(&dev->id);
	return err;
}

static void peer_free(struct kt_peer *p)
{
	struct kt_loop *l = p->dev->loop;

	kt_timer_cancel(l, &p->t_retransmit);
	kt_timer_cancel(l, &p->t_keepalive);
	kt_timer_cancel(l, &p->t_new_handshake);
	kt_timer_cancel(l, &p->t_zero);
	kt_timer_cancel(l, &p->t_persistent);
	if (p->staged)
		kt_wipe(p->staged, sizeof(*p->staged) * KT_PEER_STAGED);
	free(p->staged);
	kt_wipe(p, sizeof(*p));
	free(p);
}

void kt_device_uninit(struct kt_device *dev)
{
	for (size_t i = 0; i < dev->n_peers; i++)
		peer_free(dev->peers[i]);
	free(dev->peers);
	free(dev->index);
	kt_allowedips_uninit(&dev->routes);
	kt_ratelimiter_uninit(&dev->limiter);
	kt_cookie_checker_clear(&dev->cookies);
	kt_identity_clear(&dev->id);
	memset(dev, 0, sizeof(*dev));
}

struct kt_peer *kt_device_add_peer(struct kt_device *dev, const char *name,
				   const uint8_t *pub, const uint8_t *psk)
{
	struct kt_peer **peers, *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->staged = calloc(KT_PEER_STAGED, sizeof(*p->staged));
	peers = realloc(dev->peers, (dev->n_peers + 1) * sizeof(*peers));
	if (!p->staged || !peers ||
	    kt_handshake_init(&p->hs, &dev->id, pub, psk)) {
		free(p->staged);
		free(p);
		if (peers)
			dev->peers = peers;
		return NULL;
	}
	dev->peers = peers;
	p->dev = dev;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->t_retransmit.cb = on_retransmit;
	p->t_keepalive.cb = on_keepalive;
	p->t_new_handshake.cb = on_new_handshake;
	p->t_zero.cb = on_zero;
	p->t_persistent.cb = on_persistent;
	dev->peers[dev->n_peers++] = p;
	return p;
}

int kt_peer_allow(struct kt_peer *p, const struct kt_prefix *prefix)
{
	return kt_allowedips_insert(&p->dev->routes, prefix, p);
}

bool kt_peer_has_session(const struct kt_peer *p)
{
	return keypair_usable(p->dev, &p->cur);
}

void kt_peer_set_endpoint(struct kt_peer *p, const struct kt_endpoint_addr *e)
{
	p->endpoint = *e;
	p->has_endpoint = true;
}
