#include <errno.h>
#include <string.h>

#include "log.h"
#include "ports.h"
#include "unit.h"

static const char site[] =
	"site: {id: s1, device-number: D1, role: site}\n"
	"lines:\n"
	"  - {name: closed, kind: closed, port: wan1, address: 100.64.1.2/30,"
	" gateway: 100.64.1.1}\n"
	"  - {name: internet, kind: best-effort, port: wan2, address: 198.18.1.2/30,"
	" gateway: 198.18.1.1}\n"
	"hubs:\n"
	"  - {name: hub1, endpoints: {closed: 100.64.0.2, internet: 198.18.0.2}}\n"
	"segments:\n"
	"  - {name: mn, kind: mynumber, port: lan1, address: 10.1.1.1/24}\n";

struct fixture {
	struct kt_loop loop;
	struct sys sys;
	struct ports ports;
	struct kt_config cfg;
};

static int setup(void **state)
{
	static struct fixture f;
	struct kt_config_error e;

	memset(&f, 0, sizeof(f));
	kt_log_init("test", 0, 0);
	kt_log_set_level(LOG_EMERG);
	if (kt_loop_init(&f.loop))
		return -1;
	f.sys.ops = &sys_dummy_ops;
	if (f.sys.ops->init(&f.sys))
		return -1;
	if (kt_config_parse("s.yaml", (const uint8_t *)site, strlen(site),
			    &unit_map, &f.cfg, &e))
		return -1;
	if (ports_init(&f.ports, &f.sys, &f.loop))
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ports_uninit(&f->ports);
	sys_uninit(&f->sys);
	kt_loop_uninit(&f->loop);
	kt_log_uninit();
	return 0;
}

static struct kt_prefix pfx(const char *s)
{
	struct kt_prefix p;

	assert_true(kt_prefix_parse(s, &p));
	return p;
}

static struct kt_addr addr(const char *s)
{
	struct kt_addr a;

	assert_true(kt_addr_parse(s, &a));
	return a;
}

static void drain(struct fixture *f)
{
	for (int i = 0; i < 3; i++)
		kt_loop_once(&f->loop, 0);
}

static void test_apply(void **state)
{
	struct fixture *f = *state;
	struct kt_prefix p;
	struct kt_addr gw;

	sys_dummy_link_add(&f->sys, "eth0", true);
	sys_dummy_link_add(&f->sys, "eth1", false);
	sys_dummy_link_add(&f->sys, "eth2", true);
	assert_int_equal(ports_apply(&f->ports, &f->cfg), 0);
	p = pfx("100.64.1.2/30");
	assert_true(sys_dummy_has_addr(&f->sys, "eth0", &p));
	p = pfx("10.1.1.1/24");
	assert_true(sys_dummy_has_addr(&f->sys, "eth2", &p));
	p = pfx("100.64.0.2/32");
	gw = addr("100.64.1.1");
	assert_true(sys_dummy_has_route(&f->sys, &p, &gw, "eth0"));
	p = pfx("198.18.0.2/32");
	gw = addr("198.18.1.1");
	assert_true(sys_dummy_has_route(&f->sys, &p, &gw, "eth1"));
	assert_true(ports_find(&f->ports, "eth0")->carrier);
	assert_false(ports_find(&f->ports, "eth1")->carrier);
	assert_string_equal(ports_find(&f->ports, "eth0")->fault, "");

	/* Applying again changes nothing (replace semantics). */
	assert_int_equal(ports_apply(&f->ports, &f->cfg), 0);
	assert_int_equal(sys_dummy_addr_count(&f->sys, "eth0"), 1);
}

static void test_carrier_events(void **state)
{
	struct fixture *f = *state;
	const struct ports_port *pp;

	sys_dummy_link_add(&f->sys, "eth0", true);
	sys_dummy_link_add(&f->sys, "eth1", true);
	sys_dummy_link_add(&f->sys, "eth2", true);
	ports_apply(&f->ports, &f->cfg);
	drain(f);
	pp = ports_find(&f->ports, "eth1");
	assert_int_equal(pp->carrier_changes, 0);
	sys_dummy_set_carrier(&f->sys, "eth1", false);
	drain(f);
	assert_false(pp->carrier);
	assert_int_equal(pp->carrier_changes, 1);
	assert_true(pp->last_change > 0);
	sys_dummy_set_carrier(&f->sys, "eth1", true);
	drain(f);
	assert_true(pp->carrier);
	assert_int_equal(pp->carrier_changes, 2);
}

static void test_missing_port_retried(void **state)
{
	struct fixture *f = *state;
	struct kt_prefix p = pfx("198.18.1.2/30");
	const struct ports_port *pp;

	sys_dummy_link_add(&f->sys, "eth0", true);
	sys_dummy_link_add(&f->sys, "eth2", true);
	/* eth1 (wan2) is missing, as a late USB NIC would be. */
	assert_int_equal(ports_apply(&f->ports, &f->cfg), 1);
	pp = ports_find(&f->ports, "eth1");
	assert_false(pp->present);
	assert_non_null(strstr(pp->fault, "interface not found"));
	assert_true(f->ports.retry.pending);
	/* Its appearance is announced; the port is set up from the event. */
	sys_dummy_link_add(&f->sys, "eth1", true);
	drain(f);
	assert_true(pp->present);
	assert_string_equal(pp->fault, "");
	assert_true(sys_dummy_has_addr(&f->sys, "eth1", &p));
}

static size_t n_msgid;
static const char *want_msgid;

static void count_msgid(const struct kt_log_entry *e, void *arg)
{
	(void)arg;
	n_msgid += !strcmp(e->msgid, want_msgid);
}

static size_t logged(const char *msgid)
{
	n_msgid = 0;
	want_msgid = msgid;
	kt_log_walk(1000, count_msgid, NULL);
	return n_msgid;
}

static void test_retries_stay_quiet(void **state)
{
	struct fixture *f = *state;

	/* With one port missing, retries must not re-announce the healthy
	 * ports nor repeat the fault: a box left like this for months
	 * would otherwise flood its log. */
	kt_log_init("test", 0, 256);
	kt_log_set_level(LOG_DEBUG);
	sys_dummy_link_add(&f->sys, "eth0", true);
	sys_dummy_link_add(&f->sys, "eth2", true);
	assert_int_equal(ports_apply(&f->ports, &f->cfg), 1);
	drain(f);
	for (int i = 0; i < 5; i++) {
		struct kt_config cfg = f->cfg;

		assert_int_equal(ports_apply(&f->ports, &cfg), 1);
		drain(f);
	}
	assert_int_equal(logged("PORT_UP"), 2);
	assert_int_equal(logged("PORT_FAULT"), 1);
	kt_log_set_level(LOG_EMERG);
}

static void test_kernel_error_is_a_fault(void **state)
{
	struct fixture *f = *state;
	const struct ports_port *pp;

	sys_dummy_link_add(&f->sys, "eth0", true);
	sys_dummy_link_add(&f->sys, "eth1", true);
	sys_dummy_link_add(&f->sys, "eth2", true);
	sys_dummy_fail_next(&f->sys, "addr_replace", -EPERM);
	assert_int_equal(ports_apply(&f->ports, &f->cfg), 1);
	pp = ports_find(&f->ports, "eth0");
	assert_string_equal(pp->fault,
			    "setting the address failed: Operation not permitted");
	/* The retry timer clears it. */
	kt_timer_set(&f->loop, &f->ports.retry, 0);
	drain(f);
	assert_string_equal(pp->fault, "");
}

static void test_reload_removes_stale(void **state)
{
	struct fixture *f = *state;
	struct kt_config next = f->cfg;
	struct kt_prefix old = pfx("10.1.1.1/24"), new = pfx("10.1.9.1/24");
	struct kt_prefix old_ep = pfx("198.18.0.2/32"), new_ep = pfx("198.18.0.9/32");
	struct kt_prefix kept_ep = pfx("100.64.0.2/32");

	sys_dummy_link_add(&f->sys, "eth0", true);
	sys_dummy_link_add(&f->sys, "eth1", true);
	sys_dummy_link_add(&f->sys, "eth2", true);
	assert_int_equal(ports_apply(&f->ports, &f->cfg), 0);
	next.segments[0].address = new;
	next.hubs[0].endpoints[1].addr = new_ep.addr;
	assert_int_equal(ports_apply(&f->ports, &next), 0);
	assert_false(sys_dummy_has_addr(&f->sys, "eth2", &old));
	assert_true(sys_dummy_has_addr(&f->sys, "eth2", &new));
	assert_false(sys_dummy_has_route(&f->sys, &old_ep, NULL, "eth1"));
	assert_true(sys_dummy_has_route(&f->sys, &new_ep, NULL, "eth1"));
	assert_true(sys_dummy_has_route(&f->sys, &kept_ep, NULL, "eth0"));
}

static void test_status_json(void **state)
{
	struct fixture *f = *state;
	json_t *j, *p;

	sys_dummy_link_add(&f->sys, "eth0", true);
	ports_apply(&f->ports, &f->cfg);
	j = ports_status(&f->ports);
	assert_int_equal(json_array_size(j), 3);
	p = json_array_get(j, 0);
	assert_string_equal(json_string_value(json_object_get(p, "port")), "wan1");
	assert_string_equal(json_string_value(json_object_get(p, "role")), "line");
	assert_true(json_is_true(json_object_get(p, "carrier")));
	assert_true(json_is_null(json_object_get(p, "fault")));
	p = json_array_get(j, 1);
	assert_true(json_is_string(json_object_get(p, "fault")));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_carrier_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_port_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retries_stay_quiet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_error_is_a_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_removes_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_json, setup, teardown),
	};
	return cmocka_run_group_tests_name("ports", tests, NULL, NULL);
}
