/* Path selection per segment (firmware/paths.c) on the dummy kernel, with
 * a fake clock: a site of two lines and two hubs (four paths), a My Number
 * segment (closed lines only) and an LGWAN one (every line). Path states
 * come as the engine would report them (tunnels_bfd_state) and line
 * carrier as the kernel would (sys_dummy_set_carrier); the tests read the
 * segments' tables and rules back from the dummy kernel. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bfd.h"
#include "keys.h"
#include "log.h"
#include "paths.h"
#include "policy.h"
#include "suite.h"
#include "unit.h"

struct fixture {
	struct sys sys;
	struct kt_loop loop;
	struct tunnels t;
	struct ports ports;
	struct paths p;
	struct kt_config cfg;
	char dir[64], key[96];
};

static uint64_t clock_ms;

static uint64_t fake_clock(void)
{
	return clock_ms;
}

static void advance(struct fixture *f, uint64_t ms)
{
	clock_ms += ms;
	kt_loop_run_timers(&f->loop);
}

static void site_config(struct fixture *f)
{
	struct kt_config *c = &f->cfg;
	uint8_t priv[KT_SUITE_KEY_LEN];

	memset(c, 0, sizeof(*c));
	snprintf(c->site_id, sizeof(c->site_id), "site7");
	c->role = KT_ROLE_SITE;
	c->n_lines = 2;
	snprintf(c->lines[0].name, KT_NAME_MAX, "closed");
	c->lines[0].kind = KT_LINE_CLOSED;
	snprintf(c->lines[0].ifname, IF_NAMESIZE, "eth0");
	snprintf(c->lines[0].port, KT_PORT_MAX, "eth0");
	unit_prefix("100.64.7.2/30", &c->lines[0].address);
	snprintf(c->lines[1].name, KT_NAME_MAX, "internet");
	c->lines[1].kind = KT_LINE_BEST_EFFORT;
	snprintf(c->lines[1].ifname, IF_NAMESIZE, "eth1");
	snprintf(c->lines[1].port, KT_PORT_MAX, "eth1");
	unit_prefix("198.18.7.2/30", &c->lines[1].address);
	for (int l = 0; l < 2; l++) {
		c->lines[l].bfd_interval_ms = 50;
		c->lines[l].bfd_multiplier = 3;
	}
	c->n_hubs = 2;
	for (int h = 0; h < 2; h++) {
		struct kt_hub *hub = &c->hubs[h];
		char a[32];

		snprintf(hub->name, KT_NAME_MAX, "hub%d", h + 1);
		hub->n_endpoints = 2;
		for (int l = 0; l < 2; l++) {
			hub->endpoints[l].line = (unsigned)l;
			snprintf(a, sizeof(a), l ? "198.18.0.%d" : "100.64.0.%d", h + 2);
			assert_true(kt_addr_parse(a, &hub->endpoints[l].addr));
		}
		assert_int_equal(kt_suite_cryptrec.keygen(priv, hub->peer.public_key), 0);
		hub->peer.public_key_len = 65;
		snprintf(a, sizeof(a), "172.30.0.%d", h + 1);
		assert_true(kt_addr_parse(a, &hub->peer.address));
		hub->peer.n_routes = 1;
		unit_prefix("172.16.0.0/16", &hub->peer.routes[0]);
	}
	c->n_segments = 2;
	snprintf(c->segments[0].name, KT_NAME_MAX, "mynumber");
	c->segments[0].kind = KT_SEG_MYNUMBER;
	snprintf(c->segments[0].ifname, IF_NAMESIZE, "eth2");
	snprintf(c->segments[0].port, KT_PORT_MAX, "eth2");
	unit_prefix("10.1.1.1/24", &c->segments[0].address);
	snprintf(c->segments[1].name, KT_NAME_MAX, "lgwan");
	c->segments[1].kind = KT_SEG_LGWAN;
	snprintf(c->segments[1].ifname, IF_NAMESIZE, "eth3");
	snprintf(c->segments[1].port, KT_PORT_MAX, "eth3");
	unit_prefix("10.1.2.1/24", &c->segments[1].address);
	c->tunnel.enabled = true;
	snprintf(c->tunnel.suite, sizeof(c->tunnel.suite), "cryptrec");
	snprintf(c->tunnel.private_key, KT_PATH_MAX, "%s", f->key);
	c->tunnel.port = 51820;
	assert_true(kt_addr_parse("172.30.1.7", &c->tunnel.address));
	c->tunnel.mtu = 1420;
	c->failover.hold_down_ms = 10000;
	kt_wipe(priv, sizeof(priv));
}

static struct fixture *cur;

static void on_line(struct ports *ps, const struct ports_port *pp)
{
	(void)ps;
	(void)pp;
	paths_update(&cur->p, PATHS_CAUSE_CARRIER);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint8_t priv[KT_SUITE_KEY_LEN], pub[KT_SUITE_MAX_PUB];
	const char *links[] = { "eth0", "eth1", "eth2", "eth3" };

	assert_non_null(f);
	kt_log_init("test", 0, 64);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kt-paths-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->key, sizeof(f->key), "%s/tunnel.key", f->dir);
	assert_int_equal(kt_suite_cryptrec.keygen(priv, pub), 0);
	assert_int_equal(kt_key_write(f->key, priv), 0);
	kt_wipe(priv, sizeof(priv));
	f->sys.ops = &sys_dummy_ops;
	assert_int_equal(f->sys.ops->init(&f->sys), 0);
	for (size_t i = 0; i < 4; i++)
		assert_true(sys_dummy_link_add(&f->sys, links[i], true) > 0);
	assert_int_equal(kt_loop_init(&f->loop), 0);
	clock_ms = 1000000;
	f->loop.clock = fake_clock;
	f->loop.now_ms = clock_ms;
	assert_int_equal(ports_init(&f->ports, &f->sys, &f->loop), 0);
	cur = f;
	f->ports.on_line = on_line;
	assert_int_equal(tunnels_init(&f->t, &f->sys, &f->loop, NULL), 0);
	assert_int_equal(paths_init(&f->p, &f->sys, &f->loop, &f->t, &f->ports), 0);
	site_config(f);
	assert_int_equal(ports_apply(&f->ports, &f->cfg), 0);
	/* The kernel's answer: the ports are up (as rtnetlink says). */
	kt_loop_once(&f->loop, 0);
	assert_true(ports_line_up(ports_find(&f->ports, "eth0")));
	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	assert_int_equal(paths_apply(&f->p, &f->cfg), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	paths_uninit(&f->p);
	tunnels_uninit(&f->t);
	ports_uninit(&f->ports);
	kt_loop_uninit(&f->loop);
	sys_uninit(&f->sys);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	kt_log_uninit();
	free(f);
	return 0;
}

/* Device index of a path by name: kt-h1-l1 0, kt-h1-l2 1, kt-h2-l1 2,
 * kt-h2-l2 3. */
static uint32_t dev(struct fixture *f, const char *ifname)
{
	for (uint32_t i = 0; i < f->t.n_dev; i++)
		if (!strcmp(f->t.dev[i].ifname, ifname))
			return i;
	fail_msg("no device %s", ifname);
	return 0;
}

static void bfd(struct fixture *f, const char *ifname, uint8_t state)
{
	uint32_t d = dev(f, ifname);
	struct kt_msg_bfd_state m = {
		.tun_generation = f->t.generation, .device = d,
		.old_state = (uint8_t)(f->t.dev[d].bfd[0].reported ?
				       f->t.dev[d].bfd[0].state : KT_BFD_DOWN),
		.new_state = state,
		.diag = state == KT_BFD_UP ? 0 : KT_BFD_DIAG_TIME_EXPIRED,
	};

	if (m.old_state == state)
		return;
	assert_int_equal(tunnels_bfd_state(&f->t, &m, kt_loop_now(&f->loop)), 0);
	paths_update(&f->p, PATHS_CAUSE_BFD);
}

static void all_up(struct fixture *f)
{
	bfd(f, "kt-h1-l1", KT_BFD_UP);
	bfd(f, "kt-h1-l2", KT_BFD_UP);
	bfd(f, "kt-h2-l1", KT_BFD_UP);
	bfd(f, "kt-h2-l2", KT_BFD_UP);
}

/* Where table `table` sends dst: an interface name, "blackhole", "throw"
 * or "none". */
static const char *via(struct fixture *f, uint32_t table, const char *dst)
{
	static char name[IF_NAMESIZE];
	struct kt_prefix p;
	enum sys_rt_type type;

	unit_prefix(dst, &p);
	if (!sys_dummy_troute(&f->sys, table, &p, 0, &type, name))
		return "none";
	return type == SYS_RT_BLACKHOLE ? "blackhole" : type == SYS_RT_THROW ? "throw" : name;
}

#define MN 1000u
#define LG 1001u

static void test_tables_and_rules(void **state)
{
	struct fixture *f = *state;
	struct sys_rule r = { .family = AF_INET, .iifname = "eth2", .table = MN,
			      .priority = 1000 };

	/* Nothing works yet: every data-centre prefix is a blackhole. */
	assert_string_equal(via(f, LG, "172.16.0.0/16"), "blackhole");
	assert_string_equal(via(f, MN, "172.30.0.1/32"), "blackhole");
	assert_true(sys_dummy_has_rule(&f->sys, &r));
	r.family = AF_INET6;
	assert_true(sys_dummy_has_rule(&f->sys, &r));
	/* My Number: a blackhole default, and the other segment thrown back
	 * to the main table (the policy judges LAN to LAN). */
	assert_string_equal(via(f, MN, "0.0.0.0/0"), "blackhole");
	assert_string_equal(via(f, MN, "10.1.2.0/24"), "throw");
	assert_string_equal(via(f, LG, "0.0.0.0/0"), "none");
	all_up(f);
	assert_string_equal(via(f, LG, "172.16.0.0/16"), "kt-h1-l1");
	assert_string_equal(via(f, MN, "172.16.0.0/16"), "kt-h1-l1");
	/* Each hub's own address by a path to that hub. */
	assert_string_equal(via(f, LG, "172.30.0.2/32"), "kt-h2-l1");
}

static void test_failover_order_and_my_number(void **state)
{
	struct fixture *f = *state;

	all_up(f);
	bfd(f, "kt-h1-l1", KT_BFD_DOWN);
	assert_string_equal(via(f, LG, "172.16.0.0/16"), "kt-h2-l1");
	assert_string_equal(via(f, MN, "172.16.0.0/16"), "kt-h2-l1");
	bfd(f, "kt-h2-l1", KT_BFD_DOWN);
	/* Closed lines gone: LGWAN takes the internet line, My Number
	 * never does. */
	assert_string_equal(via(f, LG, "172.16.0.0/16"), "kt-h1-l2");
	assert_string_equal(via(f, MN, "172.16.0.0/16"), "blackhole");
	assert_string_equal(via(f, MN, "172.30.0.1/32"), "blackhole");
	assert_int_equal(f->p.seg[0].active, -1);
	assert_int_equal(f->p.seg[1].failovers, 2);
	/* Everything gone: blackholes, never the main table. */
	bfd(f, "kt-h1-l2", KT_BFD_DOWN);
	bfd(f, "kt-h2-l2", KT_BFD_DOWN);
	assert_string_equal(via(f, LG, "172.16.0.0/16"), "blackhole");
}

static void test_carrier_at_once(void **state)
{
	struct fixture *f = *state;

	all_up(f);
	/* The closed line's carrier goes: both its paths at once, before
	 * any BFD session has noticed. */
	assert_int_equal(sys_dummy_set_carrier(&f->sys, "eth0", false), 0);
	kt_loop_once(&f->loop, 0);
	assert_string_equal(via(f, LG, "172.16.0.0/16"), "kt-h1-l2");
	assert_string_equal(via(f, MN, "172.16.0.0/16"), "blackhole");
	assert_int_equal(f->p.seg[1].last_cause, PATHS_CAUSE_CARRIER);
}

static void test_hold_down_failback(void **state)
{
	struct fixture *f = *state;

	all_up(f);
	bfd(f, "kt-h1-l1", KT_BFD_DOWN);
	assert_string_equal(via(f, LG, "172.16.0.0/16"), "kt-h2-l1");
	/* It comes back, and flaps: no failback until it has held up for
	 * the whole hold-down. */
	for (int i = 0; i < 20; i++) {
		advance(f, 200);
		bfd(f, "kt-h1-l1", i % 2 ? KT_BFD_DOWN : KT_BFD_UP);
		assert_string_equal(via(f, LG, "172.16.0.0/16"), "kt-h2-l1");
	}
	bfd(f, "kt-h1-l1", KT_BFD_UP);
	advance(f, 9900);
	assert_string_equal(via(f, LG, "172.16.0.0/16"), "kt-h2-l1");
	advance(f, 200);
	assert_string_equal(via(f, LG, "172.16.0.0/16"), "kt-h1-l1");
	assert_int_equal(f->p.seg[1].failbacks, 1);
	assert_int_equal(f->p.seg[1].last_cause, PATHS_CAUSE_FAILBACK);
}

static void test_policy_eligibility(void **state)
{
	struct fixture *f = *state;
	struct kt_policy *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	all_up(f);
	/* The policy lets My Number use best-effort lines, LGWAN only
	 * closed ones. */
	p->n_segments = 2;
	snprintf(p->segments[0].name, sizeof(p->segments[0].name), "mynumber");
	snprintf(p->segments[0].ifnames[0], IF_NAMESIZE, "eth2");
	p->segments[0].n_ports = 1;
	p->segments[0].paths = 1u << KT_LINE_CLOSED | 1u << KT_LINE_BEST_EFFORT;
	snprintf(p->segments[1].name, sizeof(p->segments[1].name), "lgwan");
	snprintf(p->segments[1].ifnames[0], IF_NAMESIZE, "eth3");
	p->segments[1].n_ports = 1;
	p->segments[1].paths = 1u << KT_LINE_CLOSED;
	paths_set_policy(&f->p, p);
	bfd(f, "kt-h1-l1", KT_BFD_DOWN);
	bfd(f, "kt-h2-l1", KT_BFD_DOWN);
	assert_string_equal(via(f, MN, "172.16.0.0/16"), "kt-h1-l2");
	assert_string_equal(via(f, LG, "172.16.0.0/16"), "blackhole");
	assert_string_equal(via(f, LG, "0.0.0.0/0"), "blackhole");
	assert_string_equal(via(f, MN, "0.0.0.0/0"), "none");
	/* No policy any more: the defaults again. */
	paths_set_policy(&f->p, NULL);
	assert_string_equal(via(f, MN, "172.16.0.0/16"), "blackhole");
	assert_string_equal(via(f, LG, "172.16.0.0/16"), "kt-h1-l2");
	free(p);
}

static void test_reload_keeps_choice_and_removes(void **state)
{
	struct fixture *f = *state;

	all_up(f);
	bfd(f, "kt-h1-l1", KT_BFD_DOWN);
	assert_string_equal(via(f, LG, "172.16.0.0/16"), "kt-h2-l1");
	bfd(f, "kt-h1-l1", KT_BFD_UP);
	/* A reload with the same paths is no failover nor failback. */
	assert_int_equal(paths_apply(&f->p, &f->cfg), 0);
	assert_int_equal(f->p.seg[1].failovers, 1);
	/* A segment removed loses its rule and table. */
	f->cfg.n_segments = 1;
	assert_int_equal(paths_apply(&f->p, &f->cfg), 0);
	assert_false(sys_dummy_has_rule(&f->sys, &(struct sys_rule){
		.family = AF_INET, .iifname = "eth3", .table = LG, .priority = 1001 }));
	assert_int_equal(sys_dummy_troute_count(&f->sys, LG), 0);
	assert_true(sys_dummy_troute_count(&f->sys, MN) > 0);
}

/* The management segment: the box's own address in it gets a "from"
 * rule to the segment's table (the agent's channel follows the
 * segment's path), shown in status, and gone with the address. */
static void test_management_source_rule(void **state)
{
	struct fixture *f = *state;
	struct sys_rule from = { .family = AF_INET, .table = LG, .priority = 1001 };
	json_t *st;

	unit_prefix("10.1.2.1/32", &from.src);
	assert_false(sys_dummy_has_rule(&f->sys, &from));
	f->cfg.segments[1].kind = KT_SEG_MANAGEMENT;
	assert_int_equal(paths_apply(&f->p, &f->cfg), 0);
	assert_true(sys_dummy_has_rule(&f->sys, &from));
	assert_true(sys_dummy_has_rule(&f->sys, &(struct sys_rule){
		.family = AF_INET, .iifname = "eth3", .table = LG, .priority = 1001 }));
	st = paths_status(&f->p);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(st, "segments"), 1), "source")), "10.1.2.1");
	assert_false(json_is_string(json_object_get(json_array_get(json_object_get(st,
		"segments"), 0), "source")));
	json_decref(st);
	all_up(f);
	assert_string_equal(via(f, LG, "172.16.0.0/16"), "kt-h1-l1");
	/* A new address: the old one's rule goes, the new one's comes. */
	unit_prefix("10.1.2.9/24", &f->cfg.segments[1].address);
	assert_int_equal(paths_apply(&f->p, &f->cfg), 0);
	assert_false(sys_dummy_has_rule(&f->sys, &from));
	unit_prefix("10.1.2.9/32", &from.src);
	assert_true(sys_dummy_has_rule(&f->sys, &from));
	/* And with the segment. */
	f->cfg.n_segments = 1;
	assert_int_equal(paths_apply(&f->p, &f->cfg), 0);
	assert_false(sys_dummy_has_rule(&f->sys, &from));
}

static void test_refused_route_is_a_fault(void **state)
{
	struct fixture *f = *state;

	sys_dummy_fail_next(&f->sys, "troute_replace", -ENOBUFS);
	all_up(f);
	assert_true(f->p.kernel_errors >= 1);
	/* The next change programs the table whole again. */
	bfd(f, "kt-h1-l1", KT_BFD_DOWN);
	assert_string_equal(via(f, LG, "172.16.0.0/16"), "kt-h2-l1");
	assert_string_equal(via(f, LG, "172.30.0.1/32"), "kt-h1-l2");
}

/* --- a hub --- */

static void hub_config(struct fixture *f)
{
	struct kt_config *c = &f->cfg;

	site_config(f);
	c->role = KT_ROLE_HUB;
	c->n_hubs = 0;
	memset(c->hubs, 0, sizeof(c->hubs));
	c->n_segments = 1;
	c->segments[0].kind = KT_SEG_DATACENTER;
	c->n_sites = 2;
	for (int s = 0; s < 2; s++) {
		struct kt_remote_site *rs = &c->sites[s];
		uint8_t priv[KT_SUITE_KEY_LEN];
		char a[32];

		memset(rs, 0, sizeof(*rs));
		snprintf(rs->name, KT_NAME_MAX, "site%d", s + 1);
		assert_int_equal(kt_suite_cryptrec.keygen(priv, rs->peer.public_key), 0);
		kt_wipe(priv, sizeof(priv));
		rs->peer.public_key_len = 65;
		snprintf(a, sizeof(a), "172.30.1.%d", s + 1);
		assert_true(kt_addr_parse(a, &rs->peer.address));
		snprintf(a, sizeof(a), "10.%d.0.0/16", s + 1);
		unit_prefix(a, &rs->peer.routes[0]);
		snprintf(a, sizeof(a), "10.%d.1.0/24", s + 1);
		unit_prefix(a, &rs->peer.routes[1]);
		rs->peer.n_routes = 2;
		rs->closed_only[0] = rs->peer.routes[1];
		rs->n_closed_only = 1;
	}
}

static int setup_hub(void **state)
{
	struct fixture *f;

	assert_int_equal(setup(state), 0);
	f = *state;
	hub_config(f);
	assert_int_equal(ports_apply(&f->ports, &f->cfg), 0);
	kt_loop_once(&f->loop, 0);
	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	assert_int_equal(paths_apply(&f->p, &f->cfg), 0);
	assert_true(f->p.hub_mode);
	return 0;
}

static void hub_bfd(struct fixture *f, const char *ifname, uint32_t site, uint8_t state)
{
	uint32_t d = dev(f, ifname);
	struct kt_msg_bfd_state m = {
		.tun_generation = f->t.generation, .device = d, .peer = site,
		.old_state = (uint8_t)(f->t.dev[d].bfd[site].reported ?
				       f->t.dev[d].bfd[site].state : KT_BFD_DOWN),
		.new_state = state,
	};

	if (m.old_state == state)
		return;
	assert_int_equal(tunnels_bfd_state(&f->t, &m, kt_loop_now(&f->loop)), 0);
	paths_update(&f->p, PATHS_CAUSE_BFD);
}

static void test_hub_follows_paths(void **state)
{
	struct fixture *f = *state;
	enum sys_rt_type type;
	char name[IF_NAMESIZE];
	struct kt_prefix p;

	/* Nothing known yet: no route to what is behind the sites; the
	 * closed-only prefix has its blackhole below every route. */
	assert_int_equal(unit_route_metric(&f->sys, "10.1.0.0/16", "kt-l1"), -1);
	unit_prefix("10.1.1.0/24", &p);
	assert_true(sys_dummy_troute(&f->sys, 254, &p, PATHS_HUB_BLACKHOLE_METRIC,
				     &type, name));
	assert_int_equal(type, SYS_RT_BLACKHOLE);
	for (uint32_t s = 0; s < 2; s++) {
		hub_bfd(f, "kt-l1", s, KT_BFD_UP);
		hub_bfd(f, "kt-l2", s, KT_BFD_UP);
	}
	assert_int_equal(unit_route_metric(&f->sys, "10.1.0.0/16", "kt-l1"), 100);
	assert_int_equal(unit_route_metric(&f->sys, "10.1.0.0/16", "kt-l2"), 201);
	/* My Number's prefix: the closed line only. */
	assert_int_equal(unit_route_metric(&f->sys, "10.1.1.0/24", "kt-l1"), 100);
	assert_int_equal(unit_route_metric(&f->sys, "10.1.1.0/24", "kt-l2"), -1);
	/* site1's closed path fails: its routes leave that line at once,
	 * site2's stay. */
	hub_bfd(f, "kt-l1", 0, KT_BFD_DOWN);
	assert_int_equal(unit_route_metric(&f->sys, "10.1.0.0/16", "kt-l1"), -1);
	assert_int_equal(unit_route_metric(&f->sys, "10.1.0.0/16", "kt-l2"), 201);
	assert_int_equal(unit_route_metric(&f->sys, "10.1.1.0/24", "kt-l1"), -1);
	assert_int_equal(unit_route_metric(&f->sys, "10.2.0.0/16", "kt-l1"), 100);
	/* It comes back: after the hold-down, since the other line carries
	 * the site meanwhile. */
	hub_bfd(f, "kt-l1", 0, KT_BFD_UP);
	assert_int_equal(unit_route_metric(&f->sys, "10.1.0.0/16", "kt-l1"), -1);
	/* ... but My Number's prefix, which had no path at all, at once. */
	assert_int_equal(unit_route_metric(&f->sys, "10.1.1.0/24", "kt-l1"), 100);
	advance(f, 9999);
	assert_int_equal(unit_route_metric(&f->sys, "10.1.0.0/16", "kt-l1"), -1);
	advance(f, 2);
	assert_int_equal(unit_route_metric(&f->sys, "10.1.0.0/16", "kt-l1"), 100);
	assert_int_equal(unit_route_metric(&f->sys, "10.1.1.0/24", "kt-l1"), 100);
	/* Both lines of site2 fail, then one returns: at once, it is the
	 * only one. */
	hub_bfd(f, "kt-l1", 1, KT_BFD_DOWN);
	hub_bfd(f, "kt-l2", 1, KT_BFD_DOWN);
	assert_int_equal(unit_route_metric(&f->sys, "10.2.0.0/16", "kt-l2"), -1);
	hub_bfd(f, "kt-l2", 1, KT_BFD_UP);
	assert_int_equal(unit_route_metric(&f->sys, "10.2.0.0/16", "kt-l2"), 201);
	assert_int_equal(unit_route_metric(&f->sys, "10.2.1.0/24", "kt-l2"), -1);
}

static void test_hub_carrier(void **state)
{
	struct fixture *f = *state;

	for (uint32_t s = 0; s < 2; s++) {
		hub_bfd(f, "kt-l1", s, KT_BFD_UP);
		hub_bfd(f, "kt-l2", s, KT_BFD_UP);
	}
	assert_int_equal(sys_dummy_set_carrier(&f->sys, "eth1", false), 0);
	kt_loop_once(&f->loop, 0);
	assert_int_equal(unit_route_metric(&f->sys, "10.1.0.0/16", "kt-l2"), -1);
	assert_int_equal(unit_route_metric(&f->sys, "10.2.0.0/16", "kt-l2"), -1);
	assert_int_equal(unit_route_metric(&f->sys, "10.2.0.0/16", "kt-l1"), 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tables_and_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_management_source_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failover_order_and_my_number, setup, teardown),
		cmocka_unit_test_setup_teardown(test_carrier_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_down_failback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_eligibility, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_keeps_choice_and_removes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_route_is_a_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hub_follows_paths, setup_hub, teardown),
		cmocka_unit_test_setup_teardown(test_hub_carrier, setup_hub, teardown),
	};

	return cmocka_run_group_tests_name("paths", tests, NULL, NULL);
}
