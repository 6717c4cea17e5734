/* Denied-packet events in the engine (edeny.h says what and why). */
#define KT_MODULE "policy"
#include "edeny.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "text.h"

struct seg {
	char name[32];
	struct kt_prefix prefixes[KT_MSG_DENY_PREFIXES];
	size_t n_prefixes;
};

struct table {
	struct seg segs[KT_MSG_DENY_SEGMENTS];
	size_t n;
	uint32_t generation;
};

struct recent {
	struct kt_addr src, dst;
	uint8_t proto, kind;
	uint16_t dport;
	bool used;
	int64_t last;
};

static struct {
	struct kt_loop *loop;
	int (*send)(uint16_t type, const void *p, size_t len);
	struct kt_fd sock;
	struct kt_timer tick;
	struct table cur, staged;
	size_t staged_next;		/* index the next segment must have */
	bool staging;
	struct kt_msg_deny_stats st;
	bool dirty;
	double tokens;
	int64_t last_refill, last_summary;
	uint64_t summary_base;		/* st.suppressed at the last summary */
	struct recent recent[EDENY_RECENT];
	uint64_t refused_tables;
} ed;

/* Intervals (repeats, the event budget, summaries) run on the monotonic
 * clock, so that an NTP step does not stop events; only the time a pair
 * last had a packet, which people read, is wall-clock time. */
static int64_t seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec;
}

/* --- naming --- */

static uint8_t segment_of(const struct kt_addr *a)
{
	for (size_t i = 0; i < ed.cur.n; i++)
		for (size_t j = 0; j < ed.cur.segs[i].n_prefixes; j++)
			if (kt_prefix_contains(&ed.cur.segs[i].prefixes[j], a))
				return (uint8_t)i;
	return KT_DENY_UNKNOWN;
}

/* Who sent it and who it was for. A packet from the box has no input
 * interface, one to the box no output interface; the chain says so for
 * denied packets, the interfaces for logged allowed ones. */
static void ends(const struct kt_nflog_rec *r, uint8_t *from, uint8_t *to)
{
	*from = r->kind == KT_NFLOG_DENY_OUTPUT ? KT_DENY_BOX : segment_of(&r->src);
	*to = r->kind == KT_NFLOG_DENY_INPUT ? KT_DENY_BOX : segment_of(&r->dst);
	if (r->kind == KT_NFLOG_ALLOW) {
		if (*from == KT_DENY_UNKNOWN && !r->iif)
			*from = KT_DENY_BOX;
		if (*to == KT_DENY_UNKNOWN && !r->oif)
			*to = KT_DENY_BOX;
	}
}

static const char *end_name(uint8_t e)
{
	if (e == KT_DENY_BOX)
		return "the box";
	if (e < ed.cur.n)
		return ed.cur.segs[e].name;
	return "no segment";
}

static const char *proto_name(uint8_t p, char *buf, size_t len)
{
	switch (p) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_ICMPV6: return "icmpv6";
	case IPPROTO_SCTP: return "sctp";
	case IPPROTO_UDPLITE: return "udplite";
	default:
		snprintf(buf, len, "protocol %u", p);
		return buf;
	}
}

static void ifname(uint32_t index, char *buf)
{
	/* The engine shares the box's network namespace: the kernel names
	 * the interface (an ioctl, no file needed inside the chroot). */
	if (!index)
		snprintf(buf, IF_NAMESIZE, "-");
	else if (!if_indextoname(index, buf))
		snprintf(buf, IF_NAMESIZE, "#%u", index);
}

size_t edeny_describe(const struct kt_nflog_rec *r, char *buf, size_t len)
{
	char src[KT_PREFIX_STRLEN], dst[KT_PREFIX_STRLEN], pbuf[16];
	char in[IF_NAMESIZE], out[IF_NAMESIZE], what[64];
	uint8_t from, to;
	int n;

	ends(r, &from, &to);
	kt_addr_str(&r->src, src, sizeof(src));
	kt_addr_str(&r->dst, dst, sizeof(dst));
	ifname(r->iif, in);
	ifname(r->oif, out);
	if (r->has_ports)
		snprintf(what, sizeof(what), "%s port %u",
			 proto_name(r->proto, pbuf, sizeof(pbuf)), r->dport);
	else if (r->has_icmp)
		snprintf(what, sizeof(what), "%s type %u code %u",
			 proto_name(r->proto, pbuf, sizeof(pbuf)), r->icmp_type,
			 r->icmp_code);
	else
		snprintf(what, sizeof(what), "%s",
			 proto_name(r->proto, pbuf, sizeof(pbuf)));
	n = snprintf(buf, len, "%s: %s -> %s by %s, from %s to %s "
		     "(in %s, out %s)", kt_nflog_kind_name(r->kind), src, dst,
		     what, end_name(from), end_name(to), in, out);
	if (n < 0 || !len)
		return 0;
	/* A cut must not leave half a UTF-8 character (segment names may
	 * be Japanese). */
	kt_text_clean(buf);
	return strlen(buf);
}

/* --- counting --- */

static void count_pair(uint8_t from, uint8_t to, uint8_t kind)
{
	struct kt_msg_deny_stats *s = &ed.st;
	uint32_t i;

	for (i = 0; i < s->n; i++)
		if (s->pairs[i].from == from && s->pairs[i].to == to &&
		    s->pairs[i].kind == kind)
			break;
	if (i == s->n) {
		if (s->n == KT_MSG_DENY_PAIRS) {
			s->overflow++;
			return;
		}
		s->n++;
		memset(&s->pairs[i], 0, sizeof(s->pairs[i]));
		s->pairs[i].from = from;
		s->pairs[i].to = to;
		s->pairs[i].kind = kind;
	}
	s->pairs[i].packets++;
	s->pairs[i].last = (uint32_t)seconds(CLOCK_REALTIME);
}

/* True when this flow was not seen within EDENY_REPEAT_S. */
static bool fresh(const struct kt_nflog_rec *r, int64_t now)
{
	struct recent *oldest = &ed.recent[0];

	for (size_t i = 0; i < EDENY_RECENT; i++) {
		struct recent *e = &ed.recent[i];

		if (e->used && e->kind == r->kind && e->proto == r->proto &&
		    e->dport == (r->has_ports ? r->dport : r->icmp_type) &&
		    kt_addr_equal(&e->src, &r->src) &&
		    kt_addr_equal(&e->dst, &r->dst)) {
			bool seen = now - e->last < EDENY_REPEAT_S;

			e->last = now;
			return !seen;
		}
		if (!e->used || (oldest->used && e->last < oldest->last))
			oldest = e;
	}
	oldest->src = r->src;
	oldest->dst = r->dst;
	oldest->proto = r->proto;
	oldest->kind = (uint8_t)r->kind;
	oldest->dport = r->has_ports ? r->dport : r->icmp_type;
	oldest->last = now;
	oldest->used = true;
	return true;
}

static bool take_token(int64_t now)
{
	/* The clock stepped back (NTP at boot): start again from now
	 * rather than starving events until it catches up. */
	if (now < ed.last_refill)
		ed.last_refill = now;
	if (now > ed.last_refill) {
		ed.tokens += (double)(now - ed.last_refill) * EDENY_EVENTS_PER_S;
		if (ed.tokens > EDENY_BURST)
			ed.tokens = EDENY_BURST;
		ed.last_refill = now;
	}
	if (ed.tokens < 1)
		return false;
	ed.tokens -= 1;
	return true;
}

struct input_ctx {
	int64_t now;
};

static void on_record(void *arg, const struct kt_nflog_rec *r)
{
	const struct input_ctx *c = arg;
	char text[200];
	uint8_t from, to;

	ends(r, &from, &to);
	count_pair(from, to, (uint8_t)r->kind);
	ed.dirty = true;
	if (!fresh(r, c->now) || !take_token(c->now)) {
		ed.st.suppressed++;
		return;
	}
	ed.st.events++;
	edeny_describe(r, text, sizeof(text));
	if (r->kind == KT_NFLOG_ALLOW)
		log_info("POLICY_LOGGED", "%s", text);
	else
		log_notice("POLICY_DENIED", "%s", text);
}

void edeny_input(const void *buf, size_t len, int64_t now)
{
	struct kt_nflog_counts c = { 0 };
	struct input_ctx ctx = { now };

	kt_nflog_parse(buf, len, on_record, &ctx, &c);
	ed.st.records += c.records;
	for (int i = 0; i < KT_NFLOG_BAD_COUNT; i++) {
		if (c.bad[i] && !ed.st.malformed[i])
			log_warnx("NFLOG_BAD", "a log message from the kernel was "
				  "malformed (%s); counted and skipped (shown once)",
				  kt_nflog_bad_name((enum kt_nflog_bad)i));
		ed.st.malformed[i] += c.bad[i];
	}
	if (c.records || c.bad[0] || c.bad[1] || c.bad[2])
		ed.dirty = true;
}

void edeny_stats(struct kt_msg_deny_stats *out)
{
	*out = ed.st;
	out->policy_generation = ed.cur.generation;
}

/* --- the socket --- */

static void on_socket(struct kt_fd *h, uint32_t events)
{
	/* Netlink messages are 4-byte aligned in the kernel's buffers. */
	static uint32_t buf[16384 / 4];
	int64_t now = seconds(CLOCK_MONOTONIC);

	(void)events;
	/* A bounded number per wakeup: the data plane shares this loop. */
	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(h->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0) {
			if (errno == ENOBUFS) {
				/* The kernel had more for us than the socket
				 * could hold: say that packets went unseen. */
				if (!ed.st.malformed[3])
					log_warnx("NFLOG_LOST", "the kernel dropped "
						  "denied-packet log messages "
						  "(socket full); counted");
				ed.st.malformed[3]++;
				ed.dirty = true;
				continue;
			}
			return;
		}
		if (n == 0)
			return;
		edeny_input(buf, (size_t)n, now);
	}
}

int edeny_socket(const struct kt_msg_deny_socket *m, int fd)
{
	int err;

	if (ed.sock.fd >= 0) {
		kt_loop_fd_del(ed.loop, &ed.sock);
		close(ed.sock.fd);
		ed.sock.fd = -1;
	}
	ed.sock.fd = fd;
	ed.sock.events = EPOLLIN;
	ed.sock.cb = on_socket;
	if ((err = kt_loop_fd_add(ed.loop, &ed.sock))) {
		close(fd);
		ed.sock.fd = -1;
		log_errx("NFLOG_SOCKET", "cannot watch the log socket: %s",
			 strerror(-err));
		return err;
	}
	log_debug("NFLOG_SOCKET", "reading denied packets from nflog group %u",
		  m->group);
	return 0;
}

/* --- the segment table --- */

static int refuse(const char *why, uint32_t index)
{
	ed.staging = false;
	ed.refused_tables++;
	log_warnx("DENY_TABLE", "refused the policy's segment table at "
		  "segment %u: %s", index, why);
	return -EINVAL;
}

int edeny_segment(const struct kt_msg_deny_segment *m)
{
	struct seg *s;

	if (m->index == 0) {
		memset(&ed.staged, 0, sizeof(ed.staged));
		ed.staged.generation = m->policy_generation;
		ed.staged_next = 0;
		ed.staging = true;
	}
	if (!ed.staging || m->index != ed.staged_next)
		return refuse("out of order", m->index);
	if (m->count > KT_MSG_DENY_SEGMENTS ||
	    m->policy_generation != ed.staged.generation)
		return refuse("count or generation changed", m->index);
	if (m->count == 0) {
		ed.cur = ed.staged;
		ed.staging = false;
		memset(ed.st.pairs, 0, sizeof(ed.st.pairs));
		ed.st.n = 0;
		ed.dirty = true;
		return 0;
	}
	if (m->index >= m->count || m->n_prefixes > KT_MSG_DENY_PREFIXES ||
	    !memchr(m->name, '\0', sizeof(m->name)) || !m->name[0] ||
	    !kt_text_valid(m->name))
		return refuse("bad name or count", m->index);
	s = &ed.staged.segs[m->index];
	snprintf(s->name, sizeof(s->name), "%s", m->name);
	for (size_t i = 0; i < m->n_prefixes; i++) {
		struct kt_prefix *p = &s->prefixes[i];
		unsigned max = m->prefixes[i].family == AF_INET ? 32 :
			       m->prefixes[i].family == AF_INET6 ? 128 : 0;

		if (!max || m->prefixes[i].len > max)
			return refuse("bad prefix", m->index);
		memset(p, 0, sizeof(*p));
		p->addr.family = m->prefixes[i].family;
		memcpy(p->addr.bytes, m->prefixes[i].addr,
		       max == 32 ? 4 : 16);
		p->len = m->prefixes[i].len;
	}
	s->n_prefixes = m->n_prefixes;
	ed.staged_next++;
	ed.staged.n = ed.staged_next;
	if (ed.staged_next == m->count) {
		ed.cur = ed.staged;
		ed.staging = false;
		/* Pairs name segments by index: a new table starts them anew;
		 * and under a new policy a flow seen before is news again. */
		memset(ed.st.pairs, 0, sizeof(ed.st.pairs));
		memset(ed.recent, 0, sizeof(ed.recent));
		ed.st.n = 0;
		ed.dirty = true;
		log_debug("DENY_TABLE", "segment table of policy generation %u: "
			  "%zu segments", ed.cur.generation, ed.cur.n);
	}
	return 0;
}

/* --- reporting --- */

static void summary(int64_t now)
{
	uint64_t n = ed.st.suppressed - ed.summary_base;
	char top[300] = "";
	size_t off = 0;
	bool used[KT_MSG_DENY_PAIRS] = { false };

	ed.last_summary = now;
	if (!n)
		return;
	ed.summary_base = ed.st.suppressed;
	/* The three busiest pairs, so the summary says where to look. */
	for (int k = 0; k < 3; k++) {
		int best = -1;

		for (uint32_t i = 0; i < ed.st.n; i++)
			if (!used[i] && ed.st.pairs[i].kind != KT_NFLOG_ALLOW &&
			    (best < 0 || ed.st.pairs[i].packets >
					 ed.st.pairs[best].packets))
				best = (int)i;
		if (best < 0)
			break;
		used[best] = true;
		off += (size_t)snprintf(top + off, sizeof(top) - off, "%s%s -> %s %llu",
					k ? ", " : "", end_name(ed.st.pairs[best].from),
					end_name(ed.st.pairs[best].to),
					(unsigned long long)ed.st.pairs[best].packets);
		if (off >= sizeof(top))
			break;
	}
	log_notice("POLICY_DENIED_SUMMARY", "%llu more logged packets in the last "
		   "%d s were counted but not shown one by one; totals by "
		   "segment pair: %s", (unsigned long long)n, EDENY_SUMMARY_S, top);
}

static void on_tick(struct kt_timer *t)
{
	int64_t now = seconds(CLOCK_MONOTONIC);

	if (now - ed.last_summary >= EDENY_SUMMARY_S)
		summary(now);
	if (ed.dirty) {
		struct kt_msg_deny_stats m;

		edeny_stats(&m);
		/* Never waits: a full channel tries again at the next tick. */
		if (!ed.send(KT_MSG_DENY_STATS, &m, sizeof(m)))
			ed.dirty = false;
	}
	kt_timer_set(ed.loop, t, EDENY_STATS_MS);
}

int edeny_init(struct kt_loop *loop,
	       int (*send)(uint16_t type, const void *p, size_t len))
{
	memset(&ed, 0, sizeof(ed));
	ed.loop = loop;
	ed.send = send;
	ed.sock.fd = -1;
	ed.tokens = EDENY_BURST;
	ed.last_refill = ed.last_summary = seconds(CLOCK_MONOTONIC);
	ed.tick.cb = on_tick;
	return loop ? kt_timer_set(loop, &ed.tick, EDENY_STATS_MS) : 0;
}

void edeny_uninit(void)
{
	if (ed.loop) {
		kt_timer_cancel(ed.loop, &ed.tick);
		if (ed.sock.fd >= 0)
			kt_loop_fd_del(ed.loop, &ed.sock);
	}
	if (ed.sock.fd >= 0)
		close(ed.sock.fd);
	ed.sock.fd = -1;
}
