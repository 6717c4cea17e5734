#include <errno.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"
#include "text.h"
#include "unit.h"
#include "generated/autoconf.h"

/* A valid site file; each bad case below changes one thing in it. */
static const char good[] =
	"site:\n"					/* 1 */
	"  id: site7\n"
	"  device-number: \"TKY-BR-0007\"\n"
	"  role: site\n"
	"  location: \"本庁舎 2F\"\n"			/* 5 */
	"lines:\n"
	"  - name: closed\n"
	"    kind: closed\n"
	"    port: wan1\n"
	"    address: 100.64.7.2/30\n"			/* 10 */
	"    gateway: 100.64.7.1\n"
	"  - name: internet\n"
	"    kind: best-effort\n"
	"    port: wan2\n"
	"    address: 198.18.7.2/30\n"			/* 15 */
	"    gateway: 198.18.7.1\n"
	"hubs:\n"
	"  - name: hub1\n"
	"    endpoints:\n"
	"      closed: 100.64.0.2\n"			/* 20 */
	"      internet: 198.18.0.2\n"
	"segments:\n"
	"  - name: mynumber\n"
	"    kind: mynumber\n"
	"    port: lan1\n"				/* 25 */
	"    address: 10.7.1.1/24\n"
	"  - name: lgwan\n"
	"    kind: lgwan\n"
	"    port: lan2\n"
	"    address: 10.7.2.1/24\n";			/* 30 */

/* Public keys made once with `kyotenctl keygen [--suite cryptrec]`. */
#define CR1 "BKrRcpM/w5ahrFCuZIKWMNInw7wIh2h19QpOD4O4aDUJKke5CxxlC8Zbfc9Hw6tMIRbnJmRLnuPjCTk2PgbmGTI="
#define CR2 "BCrHkRQmZ9Pmo1NQnKibT9wu6MTfhnJePsOiHxbmNW+FRf7tMq53mQU9Zkspshh+6CJvZ1r5Yc5LxGvBglp31ks="
#define CR3 "BO3FeFbXwVKTNt9WVxNgdlzrfmK8q1EniCVizofyIv+O6ORutH8lJCJ+mlp0plcE5DFYTC7CX9+3ns05MCmn5Ow="
#define WG1 "tJvjRnvWuOiWC0Oow/g+4+iF8PzZ8VWjcMhe4sP5VAI="
#define WG2 "efP24L2zLfCyvL28Fxrz/Th8bvvGCraEDPfcGsfb600="

/* A valid site file with tunnels to two hubs. */
static const char good_tunnel[] =
	"site:\n"					/* 1 */
	"  id: site7\n"
	"  device-number: \"TKY-BR-0007\"\n"
	"  role: site\n"
	"lines:\n"					/* 5 */
	"  - name: closed\n"
	"    kind: closed\n"
	"    port: wan1\n"
	"    address: 100.64.7.2/30\n"
	"    gateway: 100.64.7.1\n"			/* 10 */
	"  - name: internet\n"
	"    kind: best-effort\n"
	"    port: wan2\n"
	"    address: 198.18.7.2/30\n"
	"    gateway: 198.18.7.1\n"			/* 15 */
	"tunnel:\n"
	"  suite: cryptrec\n"
	"  private-key: /etc/kyoten/tunnel.key\n"
	"  port: 51820\n"
	"  address: 172.30.1.7\n"			/* 20 */
	"hubs:\n"
	"  - name: hub1\n"
	"    endpoints: {closed: 100.64.0.2, internet: 198.18.0.2}\n"
	"    public-key: " CR1 "\n"
	"    address: 172.30.0.1\n"			/* 25 */
	"    routes: [172.16.0.0/16, 172.17.0.0/16]\n"
	"    preshared-key: /etc/kyoten/psk-hub1\n"
	"  - name: hub2\n"
	"    endpoints: {closed: 100.64.0.6}\n"
	"    public-key: " CR2 "\n"			/* 30 */
	"    address: 172.30.0.2\n"
	"    routes: [172.16.0.0/16]\n"
	"segments:\n"
	"  - name: mynumber\n"
	"    kind: mynumber\n"				/* 35 */
	"    port: lan1\n"
	"    address: 10.7.1.1/24\n";

/* A valid hub file with two sites. */
static const char good_hub[] =
	"site: {id: hub1, device-number: DC-HUB1, role: hub}\n"	/* 1 */
	"lines:\n"
	"  - {name: closed, kind: closed, port: wan1, address: 100.64.0.2/30,"
	" gateway: 100.64.0.1}\n"
	"tunnel:\n"
	"  suite: wireguard\n"				/* 5 */
	"  private-key: /etc/kyoten/tunnel.key\n"
	"  port: 51820\n"
	"  address: 172.30.0.1\n"
	"sites:\n"
	"  - name: site1\n"				/* 10 */
	"    public-key: " WG1 "\n"
	"    address: 172.30.1.1\n"
	"    routes: [10.1.0.0/16]\n"
	"    preshared-key: /etc/kyoten/psk/site1\n"
	"  - name: site2\n"				/* 15 */
	"    public-key: " WG2 "\n"
	"    address: 172.30.1.2\n"
	"    routes: [10.2.0.0/16, 10.102.0.0/16]\n"
	"segments:\n"
	"  - {name: dc, kind: datacenter, port: lan1, address: 172.31.1.2/30}\n";

static char *replace_in(const char *base, const char *from, const char *to)
{
	const char *at = strstr(base, from);
	char *out;

	if (!at)
		fail_msg("test bug: '%s' not in the good file", from);
	out = malloc(strlen(base) + strlen(to) + 1);
	sprintf(out, "%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
	return out;
}

static char *replace(const char *from, const char *to)
{
	return replace_in(good, from, to);
}

static int parse(const char *text, struct kt_config *cfg, struct kt_config_error *e)
{
	return kt_config_parse("site.yaml", (const uint8_t *)text, strlen(text),
			       &unit_map, cfg, e);
}

static void test_good(void **state)
{
	struct kt_config cfg;
	struct kt_config_error e;
	char a[KT_PREFIX_STRLEN];

	(void)state;
	assert_int_equal(parse(good, &cfg, &e), 0);
	assert_string_equal(cfg.site_id, "site7");
	assert_string_equal(cfg.device_number, "TKY-BR-0007");
	assert_string_equal(cfg.location, "本庁舎 2F");
	assert_int_equal(cfg.role, KT_ROLE_SITE);
	assert_int_equal(cfg.n_lines, 2);
	assert_string_equal(cfg.lines[0].ifname, "eth0");
	assert_int_equal(cfg.lines[1].kind, KT_LINE_BEST_EFFORT);
	assert_string_equal(kt_prefix_str(&cfg.lines[1].address, a, sizeof(a)),
			    "198.18.7.2/30");
	assert_int_equal(cfg.n_hubs, 1);
	assert_int_equal(cfg.hubs[0].n_endpoints, 2);
	assert_int_equal(cfg.hubs[0].endpoints[1].line, 1);
	assert_int_equal(cfg.n_segments, 2);
	assert_string_equal(cfg.segments[1].ifname, "eth3");
	assert_int_equal(cfg.log_level, -1);
	/* No tunnel section: no tunnel, no keys. */
	assert_false(cfg.tunnel.enabled);
	assert_int_equal(cfg.hubs[0].peer.public_key_len, 0);
	assert_int_equal(cfg.hubs[0].peer.address.family, 0);
	assert_int_equal(cfg.n_sites, 0);
	/* The hash covers the bytes: any change shows. */
	{
		struct kt_config other;
		char *t = replace("2F", "3F");

		assert_int_equal(parse(t, &other, &e), 0);
		assert_memory_not_equal(cfg.sha256, other.sha256, 32);
		free(t);
	}
}

static void test_bad_table(void **state)
{
	static const struct {
		const char *from, *to;
		unsigned line;
		const char *field, *msg;
	} cases[] = {
		/* structure */
		{ "site:\n", "site: [\n", 3, "(syntax)", "flow sequence" },
		{ "  id: site7\n", "  id: site7\n  colour: red\n", 3, "site.colour",
		  "unknown key 'colour'" },
		{ "  role: site\n", "", 2, "site.role", "missing key 'role'" },
		{ "  role: site\n", "  role: site\n  role: hub\n", 5, "site.role",
		  "given twice" },
		{ "      closed: 100.64.0.2\n      internet: 198.18.0.2\n",
		  "      - 100.64.0.2\n", 20, "hubs[0].endpoints",
		  "expected a mapping, found a list" },
		{ "  id: site7\n", "  id: [site7]\n", 2, "site.id", "expected a value" },
		{ "  id: site7\n", "  id: ~\n", 2, "site.id", "must not be empty" },
		{ "  id: site7\n  device-number: \"TKY-BR-0007\"\n",
		  "  id: &x site7\n  device-number: *x\n", 3,
		  "site.device-number", "aliases" },
		/* values */
		{ "id: site7", "id: Site_7", 2, "site.id", "'Site_7' is not a name" },
		{ "\"TKY-BR-0007\"", "\"TKY BR\"", 3, "site.device-number",
		  "printable ASCII" },
		{ "role: site", "role: spoke", 4, "site.role",
		  "'spoke' is not one of: site, hub" },
		{ "\"本庁舎 2F\"", "\"a\\tb\"", 5, "site.location", "UTF-8" },
		{ "kind: closed", "kind: gold", 8, "lines[0].kind", "not one of" },
		{ "port: wan1", "port: wan9", 9, "lines[0].port",
		  "unknown port 'wan9' (this board has: wan1, wan2, lan1, lan2, lan3)" },
		{ "port: lan2", "port: lan4", 29, "segments[1].port",
		  "this board has no port 'lan4'" },
		{ "port: wan2", "port: wan1", 14, "lines[1].port", "already used" },
		{ "100.64.7.2/30", "100.64.7.2/33", 10, "lines[0].address",
		  "not an address with prefix length" },
		{ "100.64.7.2/30", "100.64.7.2", 10, "lines[0].address",
		  "not an address with prefix length" },
		{ "gateway: 100.64.7.1", "gateway: 100.64.8.1", 11,
		  "lines[0].gateway", "not inside the line's address 100.64.7.2/30" },
		{ "gateway: 100.64.7.1", "gateway: 100.64.7.2", 11,
		  "lines[0].gateway", "the line's own address" },
		{ "gateway: 100.64.7.1", "gateway: gw1", 11, "lines[0].gateway",
		  "'gw1' is not an IPv4 or IPv6 address" },
		{ "name: internet\n", "name: closed\n", 12, "lines[1].name",
		  "line 'closed' is defined twice" },
		{ "name: lgwan", "name: mynumber", 27, "segments[1].name",
		  "segment 'mynumber' is defined twice" },
		{ "198.18.7.2/30", "100.64.7.1/30", 15, "lines[1].address",
		  "overlaps line 'closed' (100.64.7.2/30)" },
		{ "10.7.2.1/24", "10.7.1.200/25", 30, "segments[1].address",
		  "overlaps segment 'mynumber'" },
		{ "      internet: 198.18.0.2\n", "      mobile: 198.18.0.2\n", 21,
		  "hubs[0].endpoints.mobile", "no line is named 'mobile'" },
		{ "      internet: 198.18.0.2\n", "      internet: 2001:db8::1\n", 21,
		  "hubs[0].endpoints.internet", "address family differs" },
		{ "      internet: 198.18.0.2\n", "      closed: 198.18.0.2\n", 21,
		  "hubs[0].endpoints.closed", "given twice" },
		{ "    endpoints:\n      closed: 100.64.0.2\n      internet: 198.18.0.2\n",
		  "    endpoints: {}\n", 19, "hubs[0].endpoints", "at least one line" },
		{ "kind: lgwan", "kind: mynumber", 28, "segments[1].kind",
		  "a second 'mynumber' segment" },
		{ "kind: lgwan", "kind: datacenter", 28, "segments[1].kind",
		  "a site cannot have a 'datacenter' segment" },
		{ "kind: lgwan", "kind: guest", 28, "segments[1].kind", "not one of" },
		{ "hubs:\n  - name: hub1\n    endpoints:\n      closed: 100.64.0.2\n"
		  "      internet: 198.18.0.2\n", "", 1, "hubs",
		  "a site needs at least one hub" },
		{ "hubs:\n  - name: hub1\n    endpoints:\n      closed: 100.64.0.2\n"
		  "      internet: 198.18.0.2\n", "hubs: []\n", 17, "hubs",
		  "at least one entry" },
		{ "role: site", "role: hub", 18, "hubs", "a hub has no hubs" },
		{ "segments:\n", "log:\n  level: chatty\nsegments:\n", 23, "log.level",
		  "'chatty' is not one of" },
	};
	unsigned failed = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *text = replace(cases[i].from, cases[i].to);
		struct kt_config cfg;
		struct kt_config_error e;
		char msg[600];
		int r = parse(text, &cfg, &e);

		kt_config_error_str(&e, msg, sizeof(msg));
		if (r != -EINVAL || e.line != cases[i].line ||
		    strcmp(e.field, cases[i].field) || !strstr(e.message, cases[i].msg) ||
		    strncmp(msg, "site.yaml:", 10)) {
			print_error("case %zu: want line %u field '%s' message '%s'; "
				    "got r=%d '%s'\n", i, cases[i].line,
				    cases[i].field, cases[i].msg, r, msg);
			failed++;
		}
		free(text);
	}
	assert_int_equal(failed, 0);
}

/* The policy section: defaults without it, each field, its errors. */
static void test_policy_section(void **state)
{
	static const struct {
		const char *text;
		unsigned line;		/* after the good file's last */
		const char *field, *msg;
	} bad[] = {
		{ "policy:\n  confirm-timeout: 4\n", 2, "policy.confirm-timeout",
		  "5" },
		{ "policy:\n  confirm-timeout: 3601\n", 2, "policy.confirm-timeout",
		  "3600" },
		{ "policy:\n  file: site-policy.yaml\n", 2, "policy.file",
		  "not an absolute path" },
		{ "policy:\n  state-dir: /\n", 2, "policy.state-dir",
		  "'/' cannot be" },
		{ "policy:\n  templates: [a]\n", 2, "policy.templates",
		  "expected a value" },
		{ "policy:\n  confirm: 30\n", 2, "policy.confirm",
		  "unknown key 'confirm'" },
	};
	struct kt_config cfg;
	struct kt_config_error e;
	unsigned lines = 0, failed = 0;
	char text[4096];

	(void)state;
	for (const char *c = good; *c; c++)
		lines += *c == '\n';
	assert_int_equal(parse(good, &cfg, &e), 0);
	assert_string_equal(cfg.policy.file, "");
	assert_string_equal(cfg.policy.templates, CONFIG_POLICY_TEMPLATE_DIR);
	assert_string_equal(cfg.policy.state_dir, CONFIG_POLICY_STATE_DIR);
	assert_int_equal(cfg.policy.confirm_timeout_s, CONFIG_POLICY_CONFIRM_TIMEOUT);
	snprintf(text, sizeof(text), "%spolicy:\n  file: /etc/kyoten/policy.yaml\n"
		 "  templates: /srv/templates\n  state-dir: /var/lib/kyoten/site3\n"
		 "  confirm-timeout: 120\n", good);
	assert_int_equal(parse(text, &cfg, &e), 0);
	assert_string_equal(cfg.policy.file, "/etc/kyoten/policy.yaml");
	assert_string_equal(cfg.policy.templates, "/srv/templates");
	assert_string_equal(cfg.policy.state_dir, "/var/lib/kyoten/site3");
	assert_int_equal(cfg.policy.confirm_timeout_s, 120);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char msg[600];
		int r;

		snprintf(text, sizeof(text), "%s%s", good, bad[i].text);
		r = parse(text, &cfg, &e);
		kt_config_error_str(&e, msg, sizeof(msg));
		if (r != -EINVAL || e.line != lines + bad[i].line ||
		    strcmp(e.field, bad[i].field) || !strstr(e.message, bad[i].msg)) {
			print_error("policy case %zu: want line %u field '%s' "
				    "message '%s'; got r=%d '%s'\n", i,
				    lines + bad[i].line, bad[i].field, bad[i].msg,
				    r, msg);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

static void test_hub_role(void **state)
{
	static const char hub[] =
		"site: {id: hub1, device-number: DC-HUB1, role: hub}\n"
		"lines:\n"
		"  - {name: closed, kind: closed, port: wan1, address: 100.64.0.2/30,"
		" gateway: 100.64.0.1}\n"
		"segments:\n"
		"  - {name: dc, kind: datacenter, port: lan1, address: 172.31.1.2/30}\n";
	struct kt_config cfg;
	struct kt_config_error e;

	(void)state;
	assert_int_equal(kt_config_parse("hub.yaml", (const uint8_t *)hub,
					 strlen(hub), &unit_map, &cfg, &e), 0);
	assert_int_equal(cfg.role, KT_ROLE_HUB);
	assert_int_equal(cfg.n_hubs, 0);
	assert_int_equal(cfg.segments[0].kind, KT_SEG_DATACENTER);
}

static void test_tunnel_site(void **state)
{
	struct kt_config cfg;
	struct kt_config_error e;
	uint8_t key[65];
	char a[KT_PREFIX_STRLEN], msg[600];
	char *t;

	(void)state;
	if (parse(good_tunnel, &cfg, &e))
		fail_msg("%s", kt_config_error_str(&e, msg, sizeof(msg)));
	assert_true(cfg.tunnel.enabled);
	assert_string_equal(cfg.tunnel.suite, "cryptrec");
	assert_string_equal(cfg.tunnel.private_key, "/etc/kyoten/tunnel.key");
	assert_int_equal(cfg.tunnel.port, 51820);
	assert_string_equal(kt_addr_str(&cfg.tunnel.address, a, sizeof(a)),
			    "172.30.1.7");
	assert_int_equal(cfg.tunnel.keepalive_s, KT_KEEPALIVE_SITE_DEFAULT);
	assert_int_equal(cfg.tunnel.mtu, KT_TUNNEL_MTU_DEFAULT);
	assert_int_equal(cfg.n_hubs, 2);
	assert_int_equal(cfg.hubs[0].n_endpoints, 2);
	assert_int_equal(cfg.hubs[0].peer.public_key_len, 65);
	assert_int_equal(kt_key_decode(CR1, key, sizeof(key)), 0);
	assert_memory_equal(cfg.hubs[0].peer.public_key, key, sizeof(key));
	assert_string_equal(kt_addr_str(&cfg.hubs[0].peer.address, a, sizeof(a)),
			    "172.30.0.1");
	assert_int_equal(cfg.hubs[0].peer.n_routes, 2);
	assert_string_equal(kt_prefix_str(&cfg.hubs[0].peer.routes[1], a,
					  sizeof(a)), "172.17.0.0/16");
	assert_string_equal(cfg.hubs[0].peer.preshared_key,
			    "/etc/kyoten/psk-hub1");
	/* Both hubs carry 172.16.0.0/16: a site may, each hub has its own
	 * tunnels. */
	assert_int_equal(cfg.hubs[1].n_endpoints, 1);
	assert_int_equal(kt_key_decode(CR2, key, sizeof(key)), 0);
	assert_memory_equal(cfg.hubs[1].peer.public_key, key, sizeof(key));
	assert_int_equal(cfg.hubs[1].peer.n_routes, 1);
	assert_true(kt_prefix_equal(&cfg.hubs[1].peer.routes[0],
				    &cfg.hubs[0].peer.routes[0]));
	assert_string_equal(cfg.hubs[1].peer.preshared_key, "");
	assert_int_equal(cfg.n_sites, 0);

	/* Explicit values at the ends of their ranges; 2 hubs x 2 lines
	 * from port 65532 end on 65535 exactly. Quoted digits are digits. */
	t = replace_in(good_tunnel, "  port: 51820\n",
		       "  port: \"65532\"\n  keepalive: 0\n  mtu: 1500\n");
	if (parse(t, &cfg, &e))
		fail_msg("%s", kt_config_error_str(&e, msg, sizeof(msg)));
	assert_int_equal(cfg.tunnel.port, 65532);
	assert_int_equal(cfg.tunnel.keepalive_s, 0);
	assert_int_equal(cfg.tunnel.mtu, 1500);
	free(t);
	t = replace_in(good_tunnel, "  port: 51820\n",
		       "  port: 1\n  keepalive: 3600\n  mtu: 1280\n");
	assert_int_equal(parse(t, &cfg, &e), 0);
	assert_int_equal(cfg.tunnel.port, 1);
	assert_int_equal(cfg.tunnel.keepalive_s, 3600);
	assert_int_equal(cfg.tunnel.mtu, 1280);
	free(t);

	/* IPv6 inside the tunnels: the hubs follow the family. */
	t = replace_in(good_tunnel, "  address: 172.30.1.7\n",
		       "  address: fd00:30::7\n");
	{
		char *t2 = replace_in(t, "    address: 172.30.0.1\n",
				      "    address: fd00:30::1\n");
		char *t3 = replace_in(t2, "    address: 172.30.0.2\n",
				      "    address: fd00:30::2\n");

		if (parse(t3, &cfg, &e))
			fail_msg("%s", kt_config_error_str(&e, msg, sizeof(msg)));
		assert_int_equal(cfg.tunnel.address.family, AF_INET6);
		assert_string_equal(kt_addr_str(&cfg.hubs[1].peer.address, a,
						sizeof(a)), "fd00:30::2");
		free(t2);
		free(t3);
	}
	free(t);
}

static void test_tunnel_hub(void **state)
{
	struct kt_config cfg;
	struct kt_config_error e;
	uint8_t key[32];
	char a[KT_PREFIX_STRLEN], msg[600];

	(void)state;
	if (parse(good_hub, &cfg, &e))
		fail_msg("%s", kt_config_error_str(&e, msg, sizeof(msg)));
	assert_int_equal(cfg.role, KT_ROLE_HUB);
	assert_true(cfg.tunnel.enabled);
	assert_string_equal(cfg.tunnel.suite, "wireguard");
	assert_int_equal(cfg.tunnel.keepalive_s, 0);	/* a hub's default */
	assert_int_equal(cfg.tunnel.mtu, KT_TUNNEL_MTU_DEFAULT);
	assert_int_equal(cfg.n_hubs, 0);
	assert_int_equal(cfg.n_sites, 2);
	assert_string_equal(cfg.sites[0].name, "site1");
	assert_int_equal(cfg.sites[0].peer.public_key_len, 32);
	assert_int_equal(kt_key_decode(WG1, key, sizeof(key)), 0);
	assert_memory_equal(cfg.sites[0].peer.public_key, key, sizeof(key));
	assert_string_equal(kt_addr_str(&cfg.sites[0].peer.address, a, sizeof(a)),
			    "172.30.1.1");
	assert_int_equal(cfg.sites[0].peer.n_routes, 1);
	assert_string_equal(cfg.sites[0].peer.preshared_key,
			    "/etc/kyoten/psk/site1");
	assert_string_equal(cfg.sites[1].name, "site2");
	assert_int_equal(kt_key_decode(WG2, key, sizeof(key)), 0);
	assert_memory_equal(cfg.sites[1].peer.public_key, key, sizeof(key));
	assert_int_equal(cfg.sites[1].peer.n_routes, 2);
	assert_string_equal(kt_prefix_str(&cfg.sites[1].peer.routes[1], a,
					  sizeof(a)), "10.102.0.0/16");
	assert_string_equal(cfg.sites[1].peer.preshared_key, "");
	assert_int_equal(cfg.segments[0].kind, KT_SEG_DATACENTER);
}

#define P64 "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ROUTES9 "[10.1.0.0/24, 10.1.1.0/24, 10.1.2.0/24, 10.1.3.0/24, " \
	"10.1.4.0/24, 10.1.5.0/24, 10.1.6.0/24, 10.1.7.0/24, 10.1.8.0/24]"
#define HUB1_LIST "hubs:\n  - name: hub1\n    endpoints:\n"

static void test_tunnel_bad(void **state)
{
	static const struct {
		const char *base, *from, *to;
		unsigned line, column;		/* column 0: not checked */
		const char *field, *msg;
	} cases[] = {
		/* tunnel section */
		{ good_tunnel, "suite: cryptrec", "suite: aes", 17, 10,
		  "tunnel.suite", "'aes' is not one of: wireguard, cryptrec" },
		{ good_tunnel, "  suite: cryptrec\n", "", 17, 3, "tunnel.suite",
		  "missing key 'suite'" },
		/* no field: a variant that parses. A site's hubs may overlap
		 * each other's routes and addresses. */
		{ good_tunnel, "routes: [172.16.0.0/16]\n", "routes: [172.30.0.0/16]\n",
		  0, 0, NULL, NULL },
		{ good_tunnel, "  port: 51820\n", "  port: 51820\n  colour: red\n",
		  20, 3, "tunnel.colour", "unknown key 'colour'" },
		{ good_tunnel, "tunnel.key", "tunnel.key\n  private-key: /x", 19,
		  3, "tunnel.private-key", "given twice" },
		{ good_tunnel, "private-key: /etc/kyoten/tunnel.key",
		  "private-key: tunnel.key", 18, 16, "tunnel.private-key",
		  "'tunnel.key' is not an absolute path" },
		{ good_tunnel, "private-key: /etc/kyoten/tunnel.key",
		  "private-key: \"/etc/\\0x\"", 18, 16, "tunnel.private-key",
		  "contains a NUL byte" },
		{ good_tunnel, "private-key: /etc/kyoten/tunnel.key",
		  "private-key: " P64 P64, 18, 16, "tunnel.private-key",
		  "too long (at most 127 bytes)" },
		{ good_tunnel, "port: 51820", "port: 0", 19, 9, "tunnel.port",
		  "0 is out of range (1 to 65535)" },
		{ good_tunnel, "port: 51820", "port: 65536", 19, 9, "tunnel.port",
		  "65536 is out of range (1 to 65535)" },
		{ good_tunnel, "port: 51820", "port: 99999999999999999999999", 19,
		  9, "tunnel.port", "out of range (1 to 65535)" },
		{ good_tunnel, "port: 51820", "port: 0xcaac", 19, 9, "tunnel.port",
		  "not a decimal number (digits only) from 1 to 65535" },
		{ good_tunnel, "port: 51820", "port: +51820", 19, 9, "tunnel.port",
		  "not a decimal number" },
		{ good_tunnel, "port: 51820", "port: 51820.0", 19, 9, "tunnel.port",
		  "not a decimal number" },
		{ good_tunnel, "port: 51820", "port: 051820", 19, 9, "tunnel.port",
		  "leading zero; write a decimal number from 1 to 65535" },
		{ good_tunnel, "port: 51820", "port: [51820]", 19, 9, "tunnel.port",
		  "expected a value" },
		/* 2 hubs x 2 lines: paths on ports 65533 to 65536 */
		{ good_tunnel, "port: 51820", "port: 65533", 19, 9, "tunnel.port",
		  "2 hubs on 2 lines take ports 65533 to 65536" },
		{ good_tunnel, "port: 51820", "port: 51820\n  keepalive: 3601", 20,
		  14, "tunnel.keepalive", "3601 is out of range (0 to 3600)" },
		{ good_tunnel, "port: 51820", "port: 51820\n  keepalive: -1", 20,
		  14, "tunnel.keepalive", "not a decimal number (digits only) "
		  "from 0 to 3600" },
		{ good_tunnel, "port: 51820", "port: 51820\n  mtu: 1279", 20, 8,
		  "tunnel.mtu", "1279 is out of range (1280 to 1500)" },
		{ good_tunnel, "port: 51820", "port: 51820\n  mtu: 9000", 20, 8,
		  "tunnel.mtu", "(1280 to 1500)" },
		{ good_tunnel, "address: 172.30.1.7", "address: 172.30.1.7/32", 20,
		  12, "tunnel.address", "is not an IPv4 or IPv6 address" },
		{ good_tunnel, "address: 172.30.1.7", "address: 100.64.7.1", 20, 12,
		  "tunnel.address", "overlaps line 'closed' (100.64.7.2/30)" },
		/* a segment parsed after the tunnel may not take its address */
		{ good_tunnel, "10.7.1.1/24", "172.30.1.1/24", 37, 14,
		  "segments[0].address", "contains the tunnel address 172.30.1.7" },
		/* a site's hubs */
		{ good_tunnel, "public-key: " CR1, "public-key: " WG1, 24, 17,
		  "hubs[0].public-key", "is not a public key of suite cryptrec" },
		{ good_tunnel, "public-key: " CR1, "public-key: not/base64!", 24,
		  17, "hubs[0].public-key", "'not/base64!' is not a public key "
		  "of suite cryptrec (65 bytes in base64)" },
		{ good_tunnel, "public-key: " CR2, "public-key: " CR1, 30, 17,
		  "hubs[1].public-key",
		  "hub 'hub2' has the same public key as hub 'hub1'" },
		{ good_tunnel, "    public-key: " CR2 "\n", "", 28, 5,
		  "hubs[1].public-key", "missing key 'public-key'" },
		{ good_tunnel, "    address: 172.30.0.2\n", "", 28, 5,
		  "hubs[1].address", "missing key 'address'" },
		{ good_tunnel, "address: 172.30.0.1", "address: fd00::1", 25, 14,
		  "hubs[0].address", "address family differs from the tunnel "
		  "address 172.30.1.7" },
		{ good_tunnel, "address: 172.30.0.1", "address: 172.30.1.7", 25, 14,
		  "hubs[0].address", "172.30.1.7 is this box's own tunnel address" },
		{ good_tunnel, "address: 172.30.0.2", "address: 172.30.0.1", 31, 14,
		  "hubs[1].address", "hub 'hub2' has the same address as hub "
		  "'hub1' (172.30.0.1)" },
		{ good_tunnel, "address: 172.30.0.1", "address: hub1", 25, 14,
		  "hubs[0].address", "not an IPv4 or IPv6 address" },
		{ good_tunnel, "routes: [172.16.0.0/16]", "routes: " ROUTES9, 32,
		  0, "hubs[1].routes[8]", "too many entries (at most 8)" },
		{ good_tunnel, "routes: [172.16.0.0/16]", "routes: []", 32, 13,
		  "hubs[1].routes", "at least one entry" },
		{ good_tunnel, "routes: [172.16.0.0/16]", "routes: [172.16.0.0]",
		  32, 14, "hubs[1].routes[0]", "not an address with prefix length" },
		{ good_tunnel, "preshared-key: /etc/kyoten/psk-hub1",
		  "preshared-key: psk-hub1", 27, 20, "hubs[0].preshared-key",
		  "not an absolute path" },
		{ good_tunnel, "segments:\n", "sites:\n  - {name: x, public-key: "
		  CR3 ", address: 172.30.9.9}\nsegments:\n", 34, 3, "sites",
		  "only a hub lists sites" },
		/* a hub's tunnel keys on a site without a tunnel */
		{ good, "      internet: 198.18.0.2\n", "      internet: 198.18.0.2\n"
		  "    public-key: " CR1 "\n", 22, 17, "hubs[0].public-key",
		  "needs a 'tunnel' section" },
		{ good, "      internet: 198.18.0.2\n", "      internet: 198.18.0.2\n"
		  "    address: 172.30.0.1\n", 22, 14, "hubs[0].address",
		  "needs a 'tunnel' section" },
		{ good, "      internet: 198.18.0.2\n", "      internet: 198.18.0.2\n"
		  "    routes: [172.16.0.0/16]\n", 22, 13, "hubs[0].routes",
		  "needs a 'tunnel' section" },
		{ good, "      internet: 198.18.0.2\n", "      internet: 198.18.0.2\n"
		  "    preshared-key: /p\n", 22, 20, "hubs[0].preshared-key",
		  "needs a 'tunnel' section" },
		/* a hub's sites */
		{ good_hub, "  suite: wireguard\n  private-key: /etc/kyoten/tunnel.key\n"
		  "  port: 51820\n  address: 172.30.0.1\n", "  {}\n", 5, 3, "tunnel.suite",
		  "missing key 'suite'" },
		{ good_hub, "tunnel:\n  suite: wireguard\n  private-key: "
		  "/etc/kyoten/tunnel.key\n  port: 51820\n  address: 172.30.0.1\n",
		  "", 5, 3, "sites", "needs a 'tunnel' section" },
		{ good_hub, "suite: wireguard", "suite: cryptrec", 11, 17,
		  "sites[0].public-key", "is not a public key of suite cryptrec" },
		{ good_hub, "name: site2", "name: site1", 15, 11, "sites[1].name",
		  "site 'site1' is defined twice" },
		{ good_hub, "name: site2", "name: Site2", 15, 11, "sites[1].name",
		  "is not a name" },
		{ good_hub, "public-key: " WG2, "public-key: " WG1, 16, 17,
		  "sites[1].public-key",
		  "site 'site2' has the same public key as site 'site1'" },
		{ good_hub, "    public-key: " WG2 "\n", "", 15, 5,
		  "sites[1].public-key", "missing key 'public-key'" },
		{ good_hub, "    address: 172.30.1.2\n", "", 15, 5,
		  "sites[1].address", "missing key 'address'" },
		{ good_hub, "address: 172.30.1.2", "address: 172.30.1.1", 17, 14,
		  "sites[1].address", "site 'site2' has the same address as site "
		  "'site1' (172.30.1.1)" },
		{ good_hub, "address: 172.30.1.2", "address: 172.30.0.1", 17, 14,
		  "sites[1].address", "this box's own tunnel address" },
		{ good_hub, "address: 172.30.1.2", "address: fd00::2", 17, 14,
		  "sites[1].address", "address family differs" },
		/* cryptokey routing on a hub: one site per address */
		{ good_hub, "address: 172.30.1.2", "address: 10.1.0.9", 17, 14,
		  "sites[1].address", "address 10.1.0.9 of site 'site2' overlaps "
		  "route 10.1.0.0/16 of site 'site1'" },
		{ good_hub, "[10.2.0.0/16, 10.102.0.0/16]",
		  "[10.2.0.0/16, 10.1.128.0/17]", 18, 27, "sites[1].routes[1]",
		  "route 10.1.128.0/17 of site 'site2' overlaps route 10.1.0.0/16 "
		  "of site 'site1'" },
		{ good_hub, "[10.2.0.0/16, 10.102.0.0/16]", "[172.30.1.0/24]", 18,
		  14, "sites[1].routes[0]", "route 172.30.1.0/24 of site 'site2' "
		  "overlaps the address 172.30.1.1 of site 'site1'" },
		{ good_hub, "[10.2.0.0/16, 10.102.0.0/16]", "[0.0.0.0/0]", 18, 14,
		  "sites[1].routes[0]", "overlaps the address 172.30.1.1" },
		{ good_hub, "preshared-key: /etc/kyoten/psk/site1",
		  "preshared-key: ~", 14, 20, "sites[0].preshared-key",
		  "must not be empty" },
		{ good_hub, "  - name: site2\n", "  - name: site2\n    port: 1\n", 16,
		  5, "sites[1].port", "unknown key 'port'" },
		/* closed-only: some of the site's own routes */
		{ good_hub, "    routes: [10.2.0.0/16, 10.102.0.0/16]\n",
		  "    routes: [10.2.0.0/16, 10.102.0.0/16]\n    closed-only: [10.102.0.0/16]\n",
		  0, 0, NULL, NULL },
		{ good_hub, "    routes: [10.2.0.0/16, 10.102.0.0/16]\n",
		  "    routes: [10.2.0.0/16, 10.102.0.0/16]\n    closed-only: [10.2.1.0/24]\n",
		  19, 19, "sites[1].closed-only[0]", "10.2.1.0/24 is not one of the site's routes" },
		{ good_hub, "    routes: [10.2.0.0/16, 10.102.0.0/16]\n",
		  "    routes: [10.2.0.0/16, 10.102.0.0/16]\n    closed-only: 10.2.0.0/16\n",
		  19, 18, "sites[1].closed-only", "expected a list" },
		/* BFD timers per line, the failover section */
		{ good_tunnel, "    gateway: 100.64.7.1\n", "    gateway: 100.64.7.1\n"
		  "    bfd-interval-ms: 300\n    bfd-multiplier: 5\n", 0, 0, NULL, NULL },
		{ good_tunnel, "    gateway: 100.64.7.1\n", "    gateway: 100.64.7.1\n"
		  "    bfd-interval-ms: 5\n", 11, 22, "lines[0].bfd-interval-ms", "10" },
		{ good_tunnel, "    gateway: 100.64.7.1\n", "    gateway: 100.64.7.1\n"
		  "    bfd-multiplier: 0\n", 11, 21, "lines[0].bfd-multiplier", "1" },
		{ good_tunnel, "hubs:\n", "failover: {hold-down-ms: 0}\nhubs:\n", 0, 0,
		  NULL, NULL },
		{ good_tunnel, "hubs:\n", "failover: {hold-down-ms: 3600001}\nhubs:\n",
		  21, 26, "failover.hold-down-ms", "out of range (0 to 3600000)" },
		{ good_tunnel, "hubs:\n", "failover: {colour: red}\nhubs:\n", 21, 12,
		  "failover.colour", "unknown key 'colour'" },
		/* the management section */
#define MG(broker, ca) "management: {broker: " broker ", ca: " ca ", certificate: " \
	"/etc/kyoten/mgmt.crt, key: /etc/kyoten/mgmt.key, policy-key: " \
	"/etc/kyoten/policy.pub}\nhubs:\n"
		{ good_tunnel, "hubs:\n", MG("noc.example.lg.jp:8883", "/etc/kyoten/ca.crt"),
		  0, 0, NULL, NULL },
		{ good_tunnel, "hubs:\n", MG("'[2001:db8::1]:8883'", "/etc/kyoten/ca.crt"),
		  0, 0, NULL, NULL },
		{ good_tunnel, "hubs:\n", MG("noc:0", "/etc/kyoten/ca.crt"), 21, 0,
		  "management.broker", "port '0' is not 1 to 65535" },
		{ good_tunnel, "hubs:\n", MG("noc", "/etc/kyoten/ca.crt"), 21, 0,
		  "management.broker", "'noc' is not HOST:PORT" },
		{ good_tunnel, "hubs:\n", MG("no_c:1883", "/etc/kyoten/ca.crt"), 21, 0,
		  "management.broker", "'no_c' is not a host name" },
		{ good_tunnel, "hubs:\n", MG("'[noc]:1883'", "/etc/kyoten/ca.crt"), 21, 0,
		  "management.broker", "'noc' is not an IPv6 address" },
		{ good_tunnel, "hubs:\n", MG("noc:1883", "ca.crt"), 21, 0,
		  "management.ca", "not an absolute path" },
		{ good_tunnel, "hubs:\n", "management: {broker: noc:1883}\nhubs:\n", 21, 0,
		  "management.ca", "missing key 'ca'" },
		/* through the management tunnel */
#define MGT(extra) "management: {broker: 203.0.113.10:8883, " extra ", ca: /etc/kyoten/ca.crt, " \
	"certificate: /etc/kyoten/mgmt.crt, key: /etc/kyoten/mgmt.key, policy-key: " \
	"/etc/kyoten/policy.pub}\n"
#define MSEG "    address: 10.7.1.1/24\n  - {name: mg, kind: management, port: lan3, " \
	"address: 10.7.4.1/24}\n"
		{ good_tunnel, "    address: 10.7.1.1/24\n",
		  MSEG MGT("tunnel-broker: 172.16.5.10:8883"), 0, 0, NULL, NULL },
		{ good_tunnel, "    address: 10.7.1.1/24\n",
		  MSEG MGT("tunnel-broker: 172.16.5.10:8883, via: tunnel"), 0, 0, NULL, NULL },
		{ good_tunnel, "    address: 10.7.1.1/24\n",
		  MSEG MGT("tunnel-broker: 172.16.5.10:8883, via: line"), 0, 0, NULL, NULL },
		{ good_tunnel, "hubs:\n", MGT("tunnel-broker: 172.16.5.10:8883") "hubs:\n", 21, 0,
		  "management", "tunnel-broker needs a site with a tunnel section and a segment "
		  "of kind management" },
		{ good_tunnel, "    address: 10.7.1.1/24\n", MSEG MGT("via: tunnel"), 39, 0,
		  "management", "via: tunnel needs tunnel-broker" },
		{ good_tunnel, "    address: 10.7.1.1/24\n", MSEG MGT("via: sideways"), 39, 0,
		  "management.via", "sideways" },
		{ good_tunnel, "    address: 10.7.1.1/24\n",
		  MSEG MGT("tunnel-broker: 172.16.5.10"), 39, 0,
		  "management.tunnel-broker", "'172.16.5.10' is not HOST:PORT" },
		{ good_tunnel, "    address: 10.7.1.1/24\n",
		  MSEG MGT("tunnel-broker: 192.0.2.1:8883"), 39, 0,
		  "management", "tunnel-broker 192.0.2.1 is in no hub's routes" },
		{ good_tunnel, "    address: 10.7.1.1/24\n",
		  MSEG MGT("tunnel-broker: '[2001:db8::1]:8883'"), 39, 0,
		  "management", "not of the management segment's address family" },
		{ good_tunnel, "    address: 10.7.1.1/24\n",
		  MSEG MGT("tunnel-broker: noc.dc.example:8883"), 0, 0, NULL, NULL },
#undef MSEG
#undef MGT
#undef MG
	};
	unsigned failed = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *text = replace_in(cases[i].base, cases[i].from, cases[i].to);
		struct kt_config cfg;
		struct kt_config_error e;
		char msg[600];
		int r = parse(text, &cfg, &e);

		kt_config_error_str(&e, msg, sizeof(msg));
		if (!cases[i].field) {		/* a variant that parses */
			if (r) {
				print_error("case %zu: want success; got '%s'\n",
					    i, msg);
				failed++;
			}
		} else if (r != -EINVAL || e.line != cases[i].line ||
			   (cases[i].column && e.column != cases[i].column) ||
			   strcmp(e.field, cases[i].field) ||
			   !strstr(e.message, cases[i].msg)) {
			print_error("case %zu: want %u:%u field '%s' message '%s'; "
				    "got r=%d '%s'\n", i, cases[i].line,
				    cases[i].column, cases[i].field, cases[i].msg,
				    r, msg);
			failed++;
		}
		free(text);
	}
	assert_int_equal(failed, 0);
}

/* A hub file with n sites, each with its own key, address and route. */
static char *hub_with_sites(size_t n)
{
	static const char head[] =
		"site: {id: hub1, device-number: DC-HUB1, role: hub}\n"
		"lines:\n"
		"  - {name: closed, kind: closed, port: wan1, address: 100.64.0.2/30,"
		" gateway: 100.64.0.1}\n"
		"tunnel: {suite: cryptrec, private-key: /k, port: 51820,"
		" address: 172.30.0.1}\n"
		"segments:\n"
		"  - {name: dc, kind: datacenter, port: lan1, address: 172.31.1.2/30}\n"
		"sites:\n";
	size_t cap = sizeof(head) + n * 256, len;
	char *text = malloc(cap);

	assert_non_null(text);
	len = (size_t)sprintf(text, "%s", head);
	for (size_t i = 0; i < n; i++) {
		/* The parser checks a key's length and encoding only. */
		uint8_t pub[65] = { 4, (uint8_t)(i >> 8), (uint8_t)i };
		char b64[KT_KEY_B64_MAX];

		assert_int_equal(kt_key_encode(pub, sizeof(pub), b64), 0);
		len += (size_t)snprintf(text + len, cap - len,
			"  - name: s%zu\n    public-key: %s\n"
			"    address: 172.30.%zu.%zu\n"
			"    routes: [10.%zu.%zu.0/24]\n",
			i, b64, 1 + i / 200, 1 + i % 200, i >> 8, i & 255);
		assert_true(len < cap);
	}
	return text;
}

static void test_many_sites(void **state)
{
	struct kt_config *cfg = malloc(sizeof(*cfg));
	struct kt_config_error e;
	char a[KT_PREFIX_STRLEN], msg[600];
	char *text = hub_with_sites(200);

	(void)state;
	assert_non_null(cfg);
	if (parse(text, cfg, &e))
		fail_msg("%s", kt_config_error_str(&e, msg, sizeof(msg)));
	assert_int_equal(cfg->n_sites, 200);
	assert_string_equal(cfg->sites[199].name, "s199");
	assert_int_equal(cfg->sites[199].peer.public_key[2], 199);
	assert_string_equal(kt_addr_str(&cfg->sites[199].peer.address, a,
					sizeof(a)), "172.30.1.200");
	free(text);

	text = hub_with_sites(KT_MAX_SITES);
	if (parse(text, cfg, &e))
		fail_msg("%s", kt_config_error_str(&e, msg, sizeof(msg)));
	assert_int_equal(cfg->n_sites, KT_MAX_SITES);
	free(text);

	text = hub_with_sites(KT_MAX_SITES + 1);
	assert_int_equal(parse(text, cfg, &e), -EINVAL);
	snprintf(a, sizeof(a), "sites[%d]", KT_MAX_SITES);
	assert_string_equal(e.field, a);
	assert_non_null(strstr(e.message, "too many entries (at most 512)"));
	free(text);
	free(cfg);
}

static void test_documents(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "", "the file is empty" },
		{ "# only a comment\n", "the file is empty" },
		{ "site: {}\n---\nsite: {}\n", "more than one YAML document" },
		{ "- a\n- b\n", "expected a mapping" },
		{ "site: x\0hidden\n", NULL },	/* NUL: cut by length below */
		{ "site: {}\n---\n[ unterminated\n", "flow sequence" },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kt_config cfg;
		struct kt_config_error e;
		size_t len = strlen(cases[i].text);

		if (!cases[i].msg)
			len = 15;
		assert_int_equal(kt_config_parse("f.yaml", (const uint8_t *)cases[i].text,
						 len, &unit_map, &cfg, &e), -EINVAL);
		if (cases[i].msg && !strstr(e.message, cases[i].msg))
			fail_msg("case %zu: got '%s'", i, e.message);
	}
}

static void test_error_positions(void **state)
{
	char *bad_utf8 = replace("  location: \"本庁舎 2F\"\n",
				 "  location: \"\xff\"\n");
	char *long_utf8 = replace("id: site7", "id: 本本本本本本本本本本本本本本本本本本本本");
	struct kt_config cfg;
	struct kt_config_error e;

	(void)state;
	/* The reader reports encoding errors by offset: still a line. */
	assert_int_equal(parse(bad_utf8, &cfg, &e), -EINVAL);
	assert_int_equal(e.line, 5);
	assert_string_equal(e.field, "(syntax)");
	/* A message that quotes a long value cut mid-character stays
	 * valid UTF-8 (JSON answers and log lines depend on it). */
	assert_int_equal(parse(long_utf8, &cfg, &e), -EINVAL);
	assert_true(kt_text_valid(e.message));
	free(bad_utf8);
	free(long_utf8);
}

static void test_load_files(void **state)
{
	char dir[] = "/tmp/kt-unit-XXXXXX", path[64], msg[600];
	struct kt_config cfg;
	struct kt_config_error e;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	assert_int_equal(kt_config_load(path, &unit_map, &cfg, &e), -ENOENT);
	assert_non_null(strstr(kt_config_error_str(&e, msg, sizeof(msg)),
			       "missing.yaml: (file): cannot open"));
	assert_int_equal(kt_config_load(dir, &unit_map, &cfg, &e), -EINVAL);
	assert_non_null(strstr(e.message, "not a regular file"));
	snprintf(path, sizeof(path), "%s/big.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fseek(f, 16 * 1024 * 1024, SEEK_SET), 0);
	fputc('\n', f);
	fclose(f);
	assert_int_equal(kt_config_load(path, &unit_map, &cfg, &e), -EFBIG);
	assert_non_null(strstr(e.message, "bytes; a site configuration is at most"));
	unlink(path);
	snprintf(path, sizeof(path), "%s/good.yaml", dir);
	f = fopen(path, "w");
	fputs(good, f);
	fclose(f);
	assert_int_equal(kt_config_load(path, &unit_map, &cfg, &e), 0);
	assert_string_equal(cfg.site_id, "site7");
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad_table),
		cmocka_unit_test(test_policy_section),
		cmocka_unit_test(test_hub_role),
		cmocka_unit_test(test_tunnel_site),
		cmocka_unit_test(test_tunnel_hub),
		cmocka_unit_test(test_tunnel_bad),
		cmocka_unit_test(test_many_sites),
		cmocka_unit_test(test_documents),
		cmocka_unit_test(test_error_positions),
		cmocka_unit_test(test_load_files),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
