/* The tunnel set: what the parent makes in the kernel (on the dummy
 * backend) for a site's and a hub's configuration, what it tells the
 * engine, and the engine building running devices from those messages. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "etun.h"
#include "keys.h"
#include "log.h"
#include "suite.h"
#include "tunnels.h"
#include "unit.h"

struct fixture {
	struct sys sys;
	struct kt_loop loop;
	struct tunnels t;
	struct kt_config cfg;
	char dir[64], key[96];
	uint8_t hub_pub[2][KT_SUITE_MAX_PUB];
};

/* Messages tunnels_send produced, descriptors duplicated. */
struct captured {
	uint16_t type;
	size_t len;
	int fd;
	uint8_t data[sizeof(struct kt_msg_tun_peer)];
};

static struct captured *cap;
static size_t n_cap, cap_size;

static void capture(void *arg, uint16_t type, const void *p, size_t len, int fd)
{
	(void)arg;
	if (n_cap == cap_size) {
		cap_size = cap_size ? 2 * cap_size : 64;
		cap = realloc(cap, cap_size * sizeof(*cap));
		assert_non_null(cap);
	}
	cap[n_cap].type = type;
	cap[n_cap].len = len;
	cap[n_cap].fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	assert_true(len <= sizeof(cap[n_cap].data));
	memcpy(cap[n_cap].data, p, len);
	n_cap++;
}

static void capture_reset(void)
{
	for (size_t i = 0; i < n_cap; i++)
		if (cap[i].fd >= 0)
			close(cap[i].fd);
	n_cap = 0;
}

static void addr(const char *s, struct kt_addr *a)
{
	assert_true(kt_addr_parse(s, a));
}

static void pubkey(uint8_t *pub)
{
	uint8_t priv[KT_SUITE_KEY_LEN];

	assert_int_equal(kt_suite_cryptrec.keygen(priv, pub), 0);
	kt_wipe(priv, sizeof(priv));
}

/* A site with two lines and two hubs; hub2 is reached on the closed
 * line only. */
static void site_config(struct fixture *f)
{
	struct kt_config *c = &f->cfg;

	memset(c, 0, sizeof(*c));
	snprintf(c->site_id, sizeof(c->site_id), "site7");
	c->role = KT_ROLE_SITE;
	c->n_lines = 2;
	snprintf(c->lines[0].name, KT_NAME_MAX, "closed");
	c->lines[0].kind = KT_LINE_CLOSED;
	snprintf(c->lines[0].ifname, IF_NAMESIZE, "eth0");
	unit_prefix("100.64.7.2/30", &c->lines[0].address);
	snprintf(c->lines[1].name, KT_NAME_MAX, "internet");
	c->lines[1].kind = KT_LINE_BEST_EFFORT;
	snprintf(c->lines[1].ifname, IF_NAMESIZE, "eth1");
	unit_prefix("198.18.7.2/30", &c->lines[1].address);
	c->n_hubs = 2;
	for (int h = 0; h < 2; h++) {
		struct kt_hub *hub = &c->hubs[h];
		char a[32];

		snprintf(hub->name, KT_NAME_MAX, "hub%d", h + 1);
		hub->n_endpoints = h == 0 ? 2 : 1;
		hub->endpoints[0].line = 0;
		snprintf(a, sizeof(a), "100.64.0.%d", 4 * h + 2);
		addr(a, &hub->endpoints[0].addr);
		hub->endpoints[1].line = 1;
		addr("198.18.0.2", &hub->endpoints[1].addr);
		memcpy(hub->peer.public_key, f->hub_pub[h], 65);
		hub->peer.public_key_len = 65;
		snprintf(a, sizeof(a), "172.30.0.%d", h + 1);
		addr(a, &hub->peer.address);
		hub->peer.n_routes = 1;
		unit_prefix("172.16.0.0/16", &hub->peer.routes[0]);
	}
	c->tunnel.enabled = true;
	snprintf(c->tunnel.suite, sizeof(c->tunnel.suite), "cryptrec");
	snprintf(c->tunnel.private_key, KT_PATH_MAX, "%s", f->key);
	c->tunnel.port = 51820;
	addr("172.30.1.7", &c->tunnel.address);
	c->tunnel.keepalive_s = 25;
	c->tunnel.mtu = 1420;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint8_t priv[KT_SUITE_KEY_LEN], pub[KT_SUITE_MAX_PUB];

	assert_non_null(f);
	kt_log_init("test", 0, 16);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kt-tunnels-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->key, sizeof(f->key), "%s/tunnel.key", f->dir);
	assert_int_equal(kt_suite_cryptrec.keygen(priv, pub), 0);
	assert_int_equal(kt_key_write(f->key, priv), 0);
	kt_wipe(priv, sizeof(priv));
	pubkey(f->hub_pub[0]);
	pubkey(f->hub_pub[1]);
	/* Directly, not by name: boards without CONFIG_SYS_DUMMY (arm64)
	 * still link the dummy backend for their tests. */
	f->sys.ops = &sys_dummy_ops;
	assert_int_equal(f->sys.ops->init(&f->sys), 0);
	assert_true(sys_dummy_link_add(&f->sys, "eth0", true) > 0);
	assert_true(sys_dummy_link_add(&f->sys, "eth1", true) > 0);
	assert_int_equal(kt_loop_init(&f->loop), 0);
	assert_int_equal(tunnels_init(&f->t, &f->sys, &f->loop, NULL), 0);
	site_config(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	capture_reset();
	tunnels_uninit(&f->t);
	kt_loop_uninit(&f->loop);
	sys_uninit(&f->sys);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	kt_log_uninit();
	free(f);
	return 0;
}

static void test_site_paths_in_the_kernel(void **state)
{
	struct fixture *f = *state;
	struct kt_prefix own;

	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	assert_int_equal(f->t.n_dev, 3);
	assert_string_equal(f->t.dev[0].ifname, "kt-h1-l1");
	assert_string_equal(f->t.dev[1].ifname, "kt-h1-l2");
	assert_string_equal(f->t.dev[2].ifname, "kt-h2-l1");
	/* Each path its own source port; each socket on its line. */
	assert_int_equal(f->t.dev[0].port, 51820);
	assert_int_equal(f->t.dev[2].port, 51822);
	assert_string_equal(f->t.dev[1].line_ifname, "eth1");
	unit_prefix("172.30.1.7/32", &own);
	for (int i = 0; i < 3; i++)
		assert_true(sys_dummy_has_addr(&f->sys, f->t.dev[i].ifname, &own));
	/* Closed line first, then hubs in order, best-effort last. */
	assert_int_equal(unit_route_metric(&f->sys, "172.16.0.0/16", "kt-h1-l1"), 100);
	assert_int_equal(unit_route_metric(&f->sys, "172.16.0.0/16", "kt-h2-l1"), 110);
	assert_int_equal(unit_route_metric(&f->sys, "172.16.0.0/16", "kt-h1-l2"), 201);
	assert_int_equal(unit_route_metric(&f->sys, "172.30.0.2/32", "kt-h2-l1"), 110);
	assert_int_equal(unit_route_metric(&f->sys, "172.30.0.2/32", "kt-h1-l1"), -1);
	assert_true(f->t.changed);
	assert_non_null(strstr(f->t.public_key, ""));
	assert_true(strlen(f->t.public_key) > 80);	/* 65 bytes in base64 */
}

static void test_site_messages(void **state)
{
	struct fixture *f = *state;
	uint8_t priv[KT_SUITE_KEY_LEN];
	char err[256];
	size_t devs = 0, socks = 0, peers = 0;

	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	tunnels_send(&f->t, capture, NULL);
	assert_false(f->t.changed);
	assert_int_equal(kt_key_read(f->key, priv, err, sizeof(err)), 0);
	for (size_t i = 0; i < n_cap; i++) {
		if (cap[i].type == KT_MSG_TUN_DEVICE) {
			struct kt_msg_tun_device *m = (void *)cap[i].data;

			devs++;
			assert_true(cap[i].fd >= 0);
			assert_memory_equal(m->private_key, priv, sizeof(priv));
			assert_true(m->initiate);
			assert_int_equal(m->keepalive_s, 25);
			assert_string_equal(m->suite, "cryptrec");
		} else if (cap[i].type == KT_MSG_TUN_SOCKET) {
			socks++;
			assert_true(cap[i].fd >= 0);
		} else if (cap[i].type == KT_MSG_TUN_PEER) {
			struct kt_msg_tun_peer *m = (void *)cap[i].data;

			peers++;
			assert_int_equal(m->n_allowed, 2);
			assert_int_equal(m->allowed[0].len, 32);
			assert_int_equal(m->allowed[1].len, 16);
			assert_int_equal(m->endpoint.port, 51820);
			assert_memory_equal(m->public_key,
					    f->hub_pub[m->device == 2 ? 1 : 0], 65);
		}
	}
	kt_wipe(priv, sizeof(priv));
	assert_int_equal(devs, 3);
	assert_int_equal(socks, 3);
	assert_int_equal(peers, 3);
}

static void test_same_file_keeps_the_set(void **state)
{
	struct fixture *f = *state;
	uint32_t gen;

	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	gen = f->t.generation;
	tunnels_send(&f->t, capture, NULL);
	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	assert_int_equal(f->t.generation, gen);
	assert_false(f->t.changed);
}

static void test_change_replaces_routes_keeps_interfaces(void **state)
{
	struct fixture *f = *state;
	struct sys_link before, after;
	uint32_t gen;

	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	gen = f->t.generation;
	assert_int_equal(sys_link_get(&f->sys, "kt-h1-l1", &before), 0);
	unit_prefix("172.17.0.0/16", &f->cfg.hubs[0].peer.routes[0]);
	f->cfg.n_hubs = 1;		/* and hub2 goes */
	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	assert_int_equal(f->t.generation, gen + 1);
	assert_int_equal(f->t.n_dev, 2);
	assert_int_equal(sys_link_get(&f->sys, "kt-h1-l1", &after), 0);
	assert_int_equal(before.ifindex, after.ifindex);
	assert_int_equal(unit_route_metric(&f->sys, "172.16.0.0/16", "kt-h1-l1"), -1);
	assert_int_equal(unit_route_metric(&f->sys, "172.17.0.0/16", "kt-h1-l1"), 100);
	assert_int_equal(sys_link_get(&f->sys, "kt-h2-l1", &after), -ENODEV);
}

static void test_bad_key_keeps_what_runs(void **state)
{
	struct fixture *f = *state;
	uint32_t gen;

	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	gen = f->t.generation;
	assert_int_equal(chmod(f->key, 0644), 0);
	unit_prefix("172.17.0.0/16", &f->cfg.hubs[0].peer.routes[0]);
	f->cfg.n_hubs = 1;
	assert_int_not_equal(tunnels_apply(&f->t, &f->cfg), 0);
	assert_non_null(strstr(f->t.fault, f->key));
	assert_int_equal(f->t.generation, gen);
	assert_int_equal(f->t.n_dev, 3);
	assert_int_equal(unit_route_metric(&f->sys, "172.16.0.0/16", "kt-h1-l1"), 100);
	/* Status describes the set that runs, hub2's path included, not
	 * the file that could not be applied. */
	{
		json_t *j = tunnels_status(&f->t);

		assert_int_equal(json_array_size(json_object_get(j, "paths")), 3);
		assert_string_equal(json_string_value(json_object_get(
			json_array_get(json_object_get(j, "paths"), 2), "peer")), "hub2");
		json_decref(j);
	}
	f->cfg.n_hubs = 2;
	/* Fixed: applied, fault cleared. */
	assert_int_equal(chmod(f->key, 0600), 0);
	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	assert_string_equal(f->t.fault, "");
	assert_int_equal(unit_route_metric(&f->sys, "172.17.0.0/16", "kt-h1-l1"), 100);
}

static void test_wrong_suite_key_refused(void **state)
{
	struct fixture *f = *state;

	/* A P-256 scalar of all ones is above the group order: not a key. */
	uint8_t bad[KT_SUITE_KEY_LEN];

	memset(bad, 0xff, sizeof(bad));
	assert_int_equal(unlink(f->key), 0);
	assert_int_equal(kt_key_write(f->key, bad), 0);
	assert_int_not_equal(tunnels_apply(&f->t, &f->cfg), 0);
	assert_non_null(strstr(f->t.fault, "not a private key of suite cryptrec"));
	assert_int_equal(f->t.n_dev, 0);
}

static void test_device_fault_retried_alone(void **state)
{
	struct fixture *f = *state;
	uint32_t gen;

	sys_dummy_fail_next(&f->sys, "udp_open", -ENODEV);
	assert_int_not_equal(tunnels_apply(&f->t, &f->cfg), 0);
	assert_non_null(strstr(f->t.dev[0].fault, "UDP port 51820 on eth0"));
	assert_string_equal(f->t.dev[1].fault, "");
	gen = f->t.generation;
	/* The retry rebuilds only the broken device. */
	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	assert_string_equal(f->t.dev[0].fault, "");
	assert_int_equal(f->t.generation, gen + 1);
}

/* The set's keys are read when it is built: an engine that restarts
 * while the key file is broken still gets the set that runs. */
static void test_resend_needs_no_key_file(void **state)
{
	struct fixture *f = *state;
	uint8_t priv[KT_SUITE_KEY_LEN];
	char err[256];
	size_t devs = 0;

	assert_int_equal(kt_key_read(f->key, priv, err, sizeof(err)), 0);
	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	assert_int_equal(chmod(f->key, 0644), 0);
	tunnels_send(&f->t, capture, NULL);
	for (size_t i = 0; i < n_cap; i++) {
		if (cap[i].type != KT_MSG_TUN_DEVICE)
			continue;
		devs++;
		assert_memory_equal(((struct kt_msg_tun_device *)(void *)cap[i].data)
				    ->private_key, priv, sizeof(priv));
	}
	kt_wipe(priv, sizeof(priv));
	assert_int_equal(devs, 3);
}

/* A device whose socket could not be made has no interface index; a
 * later change must not delete routes "through any interface". */
static void test_faulty_device_deletes_no_other_route(void **state)
{
	struct fixture *f = *state;

	/* kt-h2-l1, the last path, gets its TUN but no socket: nothing is
	 * programmed through it. */
	sys_dummy_fail_nth(&f->sys, "udp_open", 2, -ENODEV);
	assert_int_not_equal(tunnels_apply(&f->t, &f->cfg), 0);
	assert_non_null(strstr(f->t.dev[2].fault, "UDP"));
	assert_int_equal(unit_route_metric(&f->sys, "172.16.0.0/16", "kt-h1-l1"), 100);
	/* hub2's routes change: its stale 172.16/16 is not deleted through
	 * "any interface", which would take hub1's, already done. */
	unit_prefix("172.17.0.0/16", &f->cfg.hubs[1].peer.routes[0]);
	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	assert_int_equal(unit_route_metric(&f->sys, "172.16.0.0/16", "kt-h1-l1"), 100);
	assert_int_equal(unit_route_metric(&f->sys, "172.16.0.0/16", "kt-h1-l2"), 201);
	assert_int_equal(unit_route_metric(&f->sys, "172.17.0.0/16", "kt-h2-l1"), 110);
}

static void test_stats_checked(void **state)
{
	struct fixture *f = *state;
	struct kt_msg_tun_stats st;

	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	memset(&st, 0, sizeof(st));
	st.tun_generation = f->t.generation;
	st.device = 1;
	st.rx_bytes = 1234;
	st.endpoint.family = AF_INET;
	assert_int_equal(tunnels_stats(&f->t, &st, 5), 0);
	assert_int_equal(f->t.dev[1].stats[0].rx_bytes, 1234);
	st.device = 3;
	assert_int_equal(tunnels_stats(&f->t, &st, 5), -EINVAL);
	st.device = 0;
	st.peer = 1;
	assert_int_equal(tunnels_stats(&f->t, &st, 5), -EINVAL);
	st.peer = 0;
	st.endpoint.family = 99;
	assert_int_equal(tunnels_stats(&f->t, &st, 5), -EINVAL);
	/* An old set's counters are dropped quietly. */
	st.endpoint.family = 0;
	st.tun_generation = f->t.generation - 1;
	st.rx_bytes = 99;
	assert_int_equal(tunnels_stats(&f->t, &st, 5), 0);
	assert_int_equal(f->t.dev[0].stats[0].rx_bytes, 0);
	/* Batches: a count out of range is refused whole, bad entries one
	 * by one, and every refusal counted. */
	{
		static struct kt_msg_tun_stats_batch b;
		unsigned before = f->t.stats_refused;

		b.n = 0;
		assert_int_equal(tunnels_stats_batch(&f->t, &b, 5), 1);
		b.n = KT_MSG_TUN_STATS_BATCH + 1;
		assert_int_equal(tunnels_stats_batch(&f->t, &b, 5), 1);
		b.n = 2;
		b.s[0] = st;
		b.s[0].tun_generation = f->t.generation;
		b.s[1] = b.s[0];
		b.s[1].device = 9;
		assert_int_equal(tunnels_stats_batch(&f->t, &b, 5), 1);
		assert_int_equal(f->t.stats_refused, before + 3);
	}
}

/* --- a hub, and the engine's side --- */

static struct kt_msg_tun_stats *stats_seen;
static size_t n_stats, n_batches;
static int room = -1;		/* batches the channel takes; -1: any */
static bool busy_once;		/* answer the next batch "busy" */
static bool writable_wanted;

static int engine_out(uint16_t type, const void *p, size_t len)
{
	const struct kt_msg_tun_stats_batch *b = p;

	assert_int_equal(type, KT_MSG_TUN_STATS);
	assert_int_equal(len, sizeof(*b));
	if (busy_once) {
		busy_once = false;
		return -EBUSY;
	}
	if (room == 0)
		return -EAGAIN;
	if (room > 0)
		room--;
	assert_true(b->n >= 1 && b->n <= KT_MSG_TUN_STATS_BATCH);
	stats_seen = realloc(stats_seen, (n_stats + b->n) * sizeof(*stats_seen));
	memcpy(&stats_seen[n_stats], b->s, b->n * sizeof(b->s[0]));
	n_stats += b->n;
	n_batches++;
	return 0;
}

static unsigned n_path_states;

static int engine_out_wait(uint16_t type, const void *p, size_t len)
{
	assert_int_equal(type, KT_MSG_BFD_STATE);
	assert_int_equal(len, sizeof(struct kt_msg_bfd_state));
	(void)p;
	n_path_states++;
	return 0;
}

static void want_write(bool on)
{
	writable_wanted = on;
}

static uint64_t clock_ms;
static uint64_t fake_clock(void)
{
	return clock_ms;
}

static void hub_config(struct fixture *f, size_t sites)
{
	struct kt_config *c = &f->cfg;

	c->role = KT_ROLE_HUB;
	c->n_hubs = 0;
	c->tunnel.keepalive_s = 0;
	c->n_sites = sites;
	for (size_t s = 0; s < sites; s++) {
		char a[32];

		snprintf(c->sites[s].name, KT_NAME_MAX, "site%zu", s + 1);
		pubkey(c->sites[s].peer.public_key);
		c->sites[s].peer.public_key_len = 65;
		snprintf(a, sizeof(a), "172.30.%zu.%zu", 1 + s / 250, 1 + s % 250);
		addr(a, &c->sites[s].peer.address);
		snprintf(a, sizeof(a), "10.%zu.%zu.0/24", s / 250, s % 250);
		unit_prefix(a, &c->sites[s].peer.routes[0]);
		c->sites[s].peer.n_routes = 1;
	}
}

static void deliver(const struct captured *m)
{
	switch (m->type) {
	case KT_MSG_TUN_DEVICE:
		etun_device((const void *)m->data, m->fd);
		break;
	case KT_MSG_TUN_SOCKET:
		etun_socket((const void *)m->data, m->fd);
		break;
	case KT_MSG_TUN_PEER:
		etun_peer((const void *)m->data);
		break;
	case KT_MSG_BFD_SOCKET:
		etun_bfd_socket((const void *)m->data, m->fd);
		break;
	}
}

static void test_hub_200_sites_run_in_the_engine(void **state)
{
	struct fixture *f = *state;
	struct kt_msg_config mc = { .tunnels = 1 };
	size_t per_dev[2] = { 0, 0 }, sessions = 0;

	hub_config(f, 200);
	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	assert_int_equal(f->t.n_dev, 2);
	assert_string_equal(f->t.dev[0].ifname, "kt-l1");
	assert_int_equal(f->t.dev[1].n_peers, 200);
	/* Site 200's address through both lines; what is behind it is the
	 * paths module's to route (by the paths that work). */
	assert_int_equal(unit_route_metric(&f->sys, "172.30.1.200/32", "kt-l1"), 100);
	assert_int_equal(unit_route_metric(&f->sys, "172.30.1.200/32", "kt-l2"), 201);
	assert_int_equal(unit_route_metric(&f->sys, "10.0.199.0/24", "kt-l1"), -1);
	tunnels_send(&f->t, capture, NULL);
	/* Per device: itself, its socket, two BFD sockets, 200 peers. */
	assert_int_equal(n_cap, 2 * (4 + 200));

	clock_ms = 1000000;
	f->loop.clock = fake_clock;
	kt_loop_run_timers(&f->loop);	/* the loop takes the fake time */
	room = 3;		/* a full channel after 3 batches */
	assert_int_equal(etun_init(&f->loop, engine_out, engine_out_wait, want_write), 0);
	mc.tun_generation = f->t.generation;
	etun_begin(&mc);
	for (size_t i = 0; i < n_cap; i++) {
		deliver(&cap[i]);
		cap[i].fd = -1;		/* the engine has it now */
	}
	etun_done(&mc);
	clock_ms += ETUN_STATS_MS;
	kt_loop_run_timers(&f->loop);
	/* The channel filled: the engine waits for room, not for the parent. */
	assert_int_equal(n_batches, 3);
	assert_true(writable_wanted);
	/* A second tick while the round is unfinished starts no new one. */
	clock_ms += ETUN_STATS_MS;
	kt_loop_run_timers(&f->loop);
	assert_int_equal(n_batches, 3);
	room = -1;
	busy_once = true;
	etun_writable();
	/* "Busy" (the channel left to logs and pongs): retried shortly by a
	 * timer, not by EPOLLOUT. */
	assert_false(writable_wanted);
	assert_int_equal(n_batches, 3);
	clock_ms += ETUN_STATS_BUSY_MS;
	kt_loop_run_timers(&f->loop);
	/* 402 entries (2 devices + 400 peers) in batches. */
	assert_int_equal(n_stats, 402);
	assert_int_equal(n_batches, (402 + KT_MSG_TUN_STATS_BATCH - 1) /
				    KT_MSG_TUN_STATS_BATCH);
	/* Every peer of both devices reports once, under this set's number. */
	for (size_t i = 0; i < n_stats; i++) {
		assert_int_equal(stats_seen[i].tun_generation, f->t.generation);
		assert_int_equal(tunnels_stats(&f->t, &stats_seen[i], clock_ms), 0);
		if (stats_seen[i].peer != UINT32_MAX)
			per_dev[stats_seen[i].device]++;
		sessions += stats_seen[i].has_session;
	}
	assert_int_equal(per_dev[0], 200);
	assert_int_equal(per_dev[1], 200);
	assert_int_equal(sessions, 0);
	etun_uninit();
	free(stats_seen);
	stats_seen = NULL;
	n_stats = n_batches = 0;
}

static char last_up[256];

static void find_up(const struct kt_log_entry *e, void *arg)
{
	(void)arg;
	if (!strcmp(e->msgid, "TUNNELS_UP"))
		snprintf(last_up, sizeof(last_up), "%s", e->text);
}

static void engine_takes_set(struct fixture *f)
{
	struct kt_msg_config mc = { .tunnels = 1, .tun_generation = f->t.generation };

	capture_reset();
	tunnels_send(&f->t, capture, NULL);
	etun_begin(&mc);
	for (size_t i = 0; i < n_cap; i++) {
		deliver(&cap[i]);
		cap[i].fd = -1;
	}
	etun_done(&mc);
	kt_log_walk(16, find_up, NULL);
}

/* A change to one path (or a repaired one) leaves the other running
 * devices, and their sessions, alone. */
static void test_engine_keeps_unchanged_devices(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(etun_init(&f->loop, engine_out, engine_out_wait, want_write), 0);
	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	engine_takes_set(f);
	assert_non_null(strstr(last_up, "3 of 3 devices running (0 kept, 3 started)"));
	/* The same set again (an engine that asks twice): all kept. */
	engine_takes_set(f);
	assert_non_null(strstr(last_up, "(3 kept, 0 started)"));
	/* hub2's routes change: its one path is rebuilt. */
	unit_prefix("172.17.0.0/16", &f->cfg.hubs[1].peer.routes[0]);
	assert_int_equal(tunnels_apply(&f->t, &f->cfg), 0);
	engine_takes_set(f);
	assert_non_null(strstr(last_up, "(2 kept, 1 started)"));
	etun_uninit();
}

static void test_engine_refuses_malformed_sets(void **state)
{
	struct fixture *f = *state;
	struct kt_msg_config mc = { .tunnels = 1, .tun_generation = 7 };
	struct kt_msg_tun_device d;
	struct kt_msg_tun_socket s = { .device = 3 };
	struct kt_msg_tun_peer p;
	int fds[2];

	clock_ms = 1000000;
	f->loop.clock = fake_clock;
	kt_loop_run_timers(&f->loop);
	assert_int_equal(etun_init(&f->loop, engine_out, engine_out_wait, want_write), 0);
	memset(&d, 0, sizeof(d));
	memset(&p, 0, sizeof(p));
	/* Outside a set. */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(etun_device(&d, fds[0]), -EINVAL);
	assert_int_equal(fcntl(fds[0], F_GETFD), -1);	/* closed */
	close(fds[1]);
	etun_begin(&mc);
	/* Index out of range, unterminated name, unknown suite. */
	d.index = KT_MSG_TUN_DEVICES;
	snprintf(d.ifname, sizeof(d.ifname), "kt-l1");
	snprintf(d.suite, sizeof(d.suite), "cryptrec");
	assert_int_equal(etun_device(&d, -1), -EINVAL);
	d.index = 0;
	memset(d.ifname, 'x', sizeof(d.ifname));
	assert_int_equal(etun_device(&d, -1), -EINVAL);
	snprintf(d.ifname, sizeof(d.ifname), "kt-l1");
	snprintf(d.suite, sizeof(d.suite), "rot13");
	assert_int_equal(etun_device(&d, -1), -EINVAL);
	snprintf(d.suite, sizeof(d.suite), "cryptrec");
	d.n_peers = KT_MAX_SITES + 1;
	assert_int_equal(etun_device(&d, -1), -EINVAL);
	d.n_peers = 1;
	assert_int_equal(pipe(fds), 0);
	close(fds[1]);
	assert_int_equal(etun_device(&d, fds[0]), 0);
	assert_int_equal(etun_device(&d, -1), -EINVAL);		/* repeated */
	/* A socket or a peer for a device that is not there. */
	assert_int_equal(etun_socket(&s, -1), -EINVAL);
	p.device = 5;
	snprintf(p.name, sizeof(p.name), "site1");
	assert_int_equal(etun_peer(&p), -EINVAL);
	p.device = 0;
	p.peer = 1;
	assert_int_equal(etun_peer(&p), -EINVAL);
	p.peer = 0;
	p.n_allowed = KT_MSG_TUN_ALLOWED + 1;
	assert_int_equal(etun_peer(&p), -EINVAL);
	/* Incomplete (no socket, no peer): not started, nothing leaks. */
	etun_done(&mc);
	clock_ms += ETUN_STATS_MS;
	kt_loop_run_timers(&f->loop);
	assert_int_equal(n_stats, 0);
	etun_uninit();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_site_paths_in_the_kernel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_site_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_file_keeps_the_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_replaces_routes_keeps_interfaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_key_keeps_what_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_suite_key_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_fault_retried_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resend_needs_no_key_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_faulty_device_deletes_no_other_route, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hub_200_sites_run_in_the_engine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_keeps_unchanged_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_refuses_malformed_sets, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
