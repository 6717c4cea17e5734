/* nflog messages (firmware/nflog.c) and what the engine makes of them
 * (firmware/edeny.c): records, names, events, counts, and bad input. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <netinet/in.h>

#include "edeny.h"
#include "log.h"
#include "nflog.h"
#include "unit.h"

static uint32_t buf[8192 / 4];

/* An nflog packet message at p: prefix, interfaces, payload. */
static size_t put_packet(void *p, const char *prefix, uint32_t iif, uint32_t oif,
			 const void *payload, size_t len)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(p);
	struct nfgenmsg *g;

	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_INET;
	g->res_id = htons(2573);
	if (prefix)
		mnl_attr_put_strz(nlh, NFULA_PREFIX, prefix);
	if (iif)
		mnl_attr_put_u32(nlh, NFULA_IFINDEX_INDEV, htonl(iif));
	if (oif)
		mnl_attr_put_u32(nlh, NFULA_IFINDEX_OUTDEV, htonl(oif));
	if (payload)
		mnl_attr_put(nlh, NFULA_PAYLOAD, len, payload);
	return MNL_ALIGN(nlh->nlmsg_len);
}

/* IPv4 + TCP header start: src, dst, ports. */
static size_t ip4(uint8_t *p, const char *src, const char *dst, uint8_t proto,
		  uint16_t sport, uint16_t dport)
{
	memset(p, 0, 28);
	p[0] = 0x45;
	p[9] = proto;
	inet_pton(AF_INET, src, p + 12);
	inet_pton(AF_INET, dst, p + 16);
	p[20] = (uint8_t)(sport >> 8);
	p[21] = (uint8_t)sport;
	p[22] = (uint8_t)(dport >> 8);
	p[23] = (uint8_t)dport;
	return 28;
}

struct got {
	struct kt_nflog_rec r[8];
	size_t n;
};

static void collect(void *arg, const struct kt_nflog_rec *r)
{
	struct got *g = arg;

	if (g->n < 8)
		g->r[g->n++] = *r;
}

static void parses_ipv4_tcp(void **state)
{
	uint8_t pkt[64];
	struct kt_nflog_counts c = { 0 };
	struct got g = { .n = 0 };
	size_t len = put_packet(buf, "kyoten-deny-forward ", 3, 4, pkt,
				ip4(pkt, "10.9.2.10", "10.9.1.10", IPPROTO_TCP, 40000, 8080));

	(void)state;
	kt_nflog_parse(buf, len, collect, &g, &c);
	assert_int_equal(g.n, 1);
	assert_int_equal(c.records, 1);
	assert_int_equal(g.r[0].kind, KT_NFLOG_DENY_FORWARD);
	assert_int_equal(g.r[0].iif, 3);
	assert_int_equal(g.r[0].oif, 4);
	assert_int_equal(g.r[0].group, 2573);
	assert_true(g.r[0].has_ports);
	assert_int_equal(g.r[0].sport, 40000);
	assert_int_equal(g.r[0].dport, 8080);
	assert_int_equal(g.r[0].src.family, AF_INET);
	assert_memory_equal(g.r[0].dst.bytes, "\x0a\x09\x01\x0a", 4);
}

static void parses_ipv6_extension_headers(void **state)
{
	uint8_t pkt[80] = { 0x60 };
	struct kt_nflog_rec r;

	(void)state;
	pkt[6] = IPPROTO_HOPOPTS;
	inet_pton(AF_INET6, "2001:db8::1", pkt + 8);
	inet_pton(AF_INET6, "2001:db8::2", pkt + 24);
	pkt[40] = IPPROTO_UDP;	/* hop-by-hop: next, length 0 (8 bytes) */
	pkt[48] = 0x12;
	pkt[49] = 0x34;
	pkt[50] = 0x00;
	pkt[51] = 53;
	assert_int_equal(kt_nflog_payload(pkt, 56, &r), 0);
	assert_int_equal(r.proto, IPPROTO_UDP);
	assert_true(r.has_ports);
	assert_int_equal(r.dport, 53);
	/* The ports cut off: the packet is still named, without them. */
	assert_int_equal(kt_nflog_payload(pkt, 50, &r), 0);
	assert_false(r.has_ports);
	/* A later fragment has no ports to show. */
	pkt[6] = IPPROTO_FRAGMENT;
	pkt[40] = IPPROTO_UDP;
	pkt[42] = 0x01;		/* offset 32 */
	assert_int_equal(kt_nflog_payload(pkt, 56, &r), 0);
	assert_false(r.has_ports);
	/* Nine extension headers: the walker stops, nothing is read past. */
	memset(pkt + 40, 0, 40);
	pkt[6] = IPPROTO_HOPOPTS;
	assert_int_equal(kt_nflog_payload(pkt, 80, &r), 0);
}

static void refuses_bad_payloads(void **state)
{
	uint8_t pkt[64];
	struct kt_nflog_rec r;

	(void)state;
	ip4(pkt, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 1, 2);
	assert_int_equal(kt_nflog_payload(pkt, 19, &r), -EBADMSG);
	pkt[0] = 0x44;		/* IHL 16 bytes */
	assert_int_equal(kt_nflog_payload(pkt, 28, &r), -EBADMSG);
	pkt[0] = 0x4f;		/* IHL 60 bytes, 28 there */
	assert_int_equal(kt_nflog_payload(pkt, 28, &r), -EBADMSG);
	pkt[0] = 0x55;		/* version 5 */
	assert_int_equal(kt_nflog_payload(pkt, 28, &r), -EBADMSG);
	pkt[0] = 0x60;
	assert_int_equal(kt_nflog_payload(pkt, 39, &r), -EBADMSG);
	assert_int_equal(kt_nflog_payload(pkt, 0, &r), -EBADMSG);
}

/* One bad message is counted and skipped; the good ones around it are
 * still read. A broken netlink header ends the walk. */
static void bad_messages_lose_nothing_else(void **state)
{
	uint8_t pkt[64], *p = (uint8_t *)buf;
	struct kt_nflog_counts c = { 0 };
	struct got g = { .n = 0 };
	size_t off = 0, len = ip4(pkt, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 1, 53);

	(void)state;
	off += put_packet(p + off, "kyoten-deny-input ", 1, 0, pkt, len);
	off += put_packet(p + off, "someone-else ", 1, 0, pkt, len);
	off += put_packet(p + off, NULL, 1, 0, pkt, len);
	off += put_packet(p + off, "kyoten-allow ", 1, 2, pkt, 10);
	off += put_packet(p + off, "kyoten-deny-output ", 0, 2, pkt, len);
	kt_nflog_parse(buf, off, collect, &g, &c);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.r[0].kind, KT_NFLOG_DENY_INPUT);
	assert_int_equal(g.r[1].kind, KT_NFLOG_DENY_OUTPUT);
	assert_int_equal(c.bad[KT_NFLOG_BAD_PREFIX], 2);
	assert_int_equal(c.bad[KT_NFLOG_BAD_PAYLOAD], 1);

	/* A header claiming more than the buffer holds. */
	memset(&c, 0, sizeof(c));
	g.n = 0;
	off = put_packet(p, "kyoten-deny-input ", 1, 0, pkt, len);
	((struct nlmsghdr *)(void *)buf)->nlmsg_len = 0x7fffffff;
	kt_nflog_parse(buf, off, collect, &g, &c);
	assert_int_equal(g.n, 0);
	assert_int_equal(c.bad[KT_NFLOG_BAD_LENGTH], 1);

	/* An attribute running past its message. */
	memset(&c, 0, sizeof(c));
	off = put_packet(p, "kyoten-deny-input ", 1, 0, pkt, len);
	((struct nlmsghdr *)(void *)buf)->nlmsg_len -= 8;
	kt_nflog_parse(buf, off, collect, &g, &c);
	assert_int_equal(g.n, 0);
	assert_int_equal(c.records, 0);
	assert_true(c.bad[KT_NFLOG_BAD_LENGTH] + c.bad[KT_NFLOG_BAD_PAYLOAD] >= 1);

	/* An interface attribute of the wrong size. */
	memset(&c, 0, sizeof(c));
	{
		struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
		struct nfgenmsg *gm;

		nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
		gm = mnl_nlmsg_put_extra_header(nlh, sizeof(*gm));
		(void)gm;
		mnl_attr_put_strz(nlh, NFULA_PREFIX, "kyoten-allow ");
		mnl_attr_put_u16(nlh, NFULA_IFINDEX_INDEV, 1);
		mnl_attr_put(nlh, NFULA_PAYLOAD, len, pkt);
		kt_nflog_parse(buf, nlh->nlmsg_len, collect, &g, &c);
	}
	assert_int_equal(c.records, 0);
	assert_int_equal(c.bad[KT_NFLOG_BAD_LENGTH], 1);
}

/* --- the engine's side --- */

static char last_text[512], last_id[32];
static unsigned n_events;

static void sink(const struct kt_log_entry *e, void *arg)
{
	(void)arg;
	if (strncmp(e->msgid, "POLICY_", 7))
		return;
	n_events++;
	snprintf(last_text, sizeof(last_text), "%s", e->text);
	snprintf(last_id, sizeof(last_id), "%s", e->msgid);
}

static void table(uint32_t generation)
{
	struct kt_msg_deny_segment m;
	static const char *const names[] = { "lgwan", "dc-lgwan" };
	static const char *const nets[] = { "10.9.2.0", "10.9.1.0" };

	for (uint32_t i = 0; i < 2; i++) {
		memset(&m, 0, sizeof(m));
		m.index = i;
		m.count = 2;
		m.policy_generation = generation;
		snprintf(m.name, sizeof(m.name), "%s", names[i]);
		m.n_prefixes = 1;
		m.prefixes[0].family = AF_INET;
		m.prefixes[0].len = 24;
		inet_pton(AF_INET, nets[i], m.prefixes[0].addr);
		assert_int_equal(edeny_segment(&m), 0);
	}
}

static int setup(void **state)
{
	(void)state;
	kt_log_init("test", 0, 64);
	kt_log_set_sink(sink, NULL);
	edeny_init(NULL, NULL);
	n_events = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	edeny_uninit();
	kt_log_uninit();
	return 0;
}

static void deny(uint32_t dport, const char *src, int64_t now)
{
	uint8_t pkt[64];
	size_t len = put_packet(buf, "kyoten-deny-forward ", 0, 0, pkt,
				ip4(pkt, src, "10.9.1.10", IPPROTO_TCP, 40000,
				    (uint16_t)dport));

	edeny_input(buf, len, now);
}

static void names_segments_in_events(void **state)
{
	struct kt_msg_deny_stats st;

	(void)state;
	table(7);
	deny(8080, "10.9.2.10", 1000);
	assert_int_equal(n_events, 1);
	assert_string_equal(last_id, "POLICY_DENIED");
	assert_string_equal(last_text, "denied: 10.9.2.10 -> 10.9.1.10 by tcp "
			    "port 8080, from lgwan to dc-lgwan (in -, out -)");
	deny(8080, "192.0.2.1", 1000);
	assert_non_null(strstr(last_text, "from no segment to dc-lgwan"));
	edeny_stats(&st);
	assert_int_equal(st.policy_generation, 7);
	assert_int_equal(st.n, 2);
	assert_int_equal(st.pairs[0].from, 0);
	assert_int_equal(st.pairs[0].to, 1);
	assert_int_equal(st.pairs[0].kind, KT_NFLOG_DENY_FORWARD);
	assert_int_equal(st.pairs[1].from, KT_DENY_UNKNOWN);
	/* A new table starts the pairs anew (they name segments by index). */
	table(8);
	edeny_stats(&st);
	assert_int_equal(st.n, 0);
	assert_int_equal(st.policy_generation, 8);
}

static void repeats_and_floods_are_counted_not_logged(void **state)
{
	struct kt_msg_deny_stats st;
	char src[32];

	(void)state;
	table(1);
	for (int i = 0; i < 10; i++)
		deny(8080, "10.9.2.10", 1000);
	assert_int_equal(n_events, 1);
	/* 200 different sources in one second: a burst's worth of events. */
	for (int i = 0; i < 200; i++) {
		snprintf(src, sizeof(src), "10.9.2.%d", i % 250 + 1);
		deny(22, src, 1001);
	}
	assert_true(n_events <= 1 + EDENY_BURST);
	assert_true(n_events >= EDENY_BURST);
	edeny_stats(&st);
	assert_int_equal(st.pairs[0].packets, 210);
	assert_int_equal(st.events + st.suppressed, 210);
	assert_int_equal(st.events, n_events);
	/* After the repeat window, the first flow is news again. */
	n_events = 0;
	deny(8080, "10.9.2.10", 1000 + EDENY_REPEAT_S + 5);
	assert_int_equal(n_events, 1);
}

static void refuses_bad_tables(void **state)
{
	struct kt_msg_deny_segment m;
	struct kt_msg_deny_stats st;

	(void)state;
	table(3);
	memset(&m, 0, sizeof(m));
	m.index = 1;		/* out of order */
	m.count = 2;
	snprintf(m.name, sizeof(m.name), "x");
	assert_int_equal(edeny_segment(&m), -EINVAL);
	m.index = 0;
	m.count = 99;
	assert_int_equal(edeny_segment(&m), -EINVAL);
	m.count = 1;
	m.n_prefixes = 1;
	m.prefixes[0].family = AF_INET;
	m.prefixes[0].len = 33;
	assert_int_equal(edeny_segment(&m), -EINVAL);
	m.prefixes[0].len = 8;
	memset(m.name, 'a', sizeof(m.name));	/* no terminator */
	assert_int_equal(edeny_segment(&m), -EINVAL);
	/* The table that was good is still the one in use. */
	deny(8080, "10.9.2.10", 5000);
	assert_non_null(strstr(last_text, "from lgwan to dc-lgwan"));
	edeny_stats(&st);
	assert_int_equal(st.policy_generation, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_ipv4_tcp),
		cmocka_unit_test(parses_ipv6_extension_headers),
		cmocka_unit_test(refuses_bad_payloads),
		cmocka_unit_test(bad_messages_lose_nothing_else),
		cmocka_unit_test_setup_teardown(names_segments_in_events, setup, teardown),
		cmocka_unit_test_setup_teardown(repeats_and_floods_are_counted_not_logged,
						setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_bad_tables, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
