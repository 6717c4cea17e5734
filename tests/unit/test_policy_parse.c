/* The policy parser: the good file, then a table of broken ones, each
 * with the file, line, field and message the error must name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "policy_fixture.h"
#include "text.h"
#include "generated/autoconf.h"

static void test_good(void **state)
{
	struct kt_policy p;
	struct kt_config_error e;
	char a[KT_PREFIX_STRLEN], msg[600];
	const struct kt_pol_flow *f;
	int r;

	(void)state;
	r = parse_policy(good_policy, &p, &e);
	if (r)
		fail_msg("%s", kt_config_error_str(&e, msg, sizeof(msg)));
	assert_int_equal(p.model, KT_POL_MODEL_BETA_PRIME);
	assert_int_equal(p.n_files, 2);
	assert_string_equal(p.files[1], TEMPLATES "/beta-prime.yaml");
	assert_int_equal(p.n_lines, 2);
	assert_string_equal(p.lines[0].ifname, "eth0");
	assert_int_equal(p.lines[0].n_tunnel_ports, 1);
	assert_int_equal(p.lines[0].tunnel_ports[0], 51820);
	assert_int_equal(p.lines[1].kind, KT_LINE_BEST_EFFORT);
	/* Template segments keep their place and kind; the file completes. */
	assert_int_equal(p.n_segments, 7);
	assert_string_equal(p.segments[0].name, "mynumber");
	assert_int_equal(p.segments[0].kind, KT_SEG_MYNUMBER);
	assert_int_equal(p.segments[0].paths, 1u << KT_LINE_CLOSED);
	assert_string_equal(p.segments[0].ifnames[0], "eth2");
	assert_int_equal(p.segments[0].loc.file, 1);
	assert_int_equal(p.segments[1].paths,
			 1u << KT_LINE_CLOSED | 1u << KT_LINE_BEST_EFFORT);
	/* VLAN: the 802.1Q interface of the port. */
	assert_string_equal(p.segments[2].ifnames[0], "eth4.30");
	assert_int_equal(p.segments[2].n_prefixes, 2);
	assert_string_equal(kt_prefix_str(&p.segments[2].prefixes[1], a, sizeof(a)),
			    "2001:db8:7:3::/64");
	assert_string_equal(p.segments[3].ifnames[0], "kt0");
	/* Host groups: the template's role, the file's addresses; a bare
	 * address is a host prefix. */
	assert_int_equal(p.n_hosts, 4);
	assert_int_equal(p.hosts[0].role, KT_POL_ROLE_FILE_TRANSFER);
	assert_string_equal(p.segments[p.hosts[0].segment].name, "dc-lgwan");
	assert_string_equal(kt_prefix_str(&p.hosts[0].addrs[0], a, sizeof(a)),
			    "10.101.0.10/32");
	assert_int_equal(p.hosts[3].role, KT_POL_ROLE_SERVER);
	/* Flows: the template's, then the file's. */
	assert_int_equal(p.n_flows, 11);
	f = &p.flows[0];
	assert_int_equal(f->loc.file, 1);
	assert_int_equal(f->from.type, KT_POL_EP_SEGMENT);
	assert_int_equal(kt_pol_ep_kind(&p, &f->to), KT_SEG_MYNUMBER);
	f = &p.flows[9];
	assert_int_equal(f->to.type, KT_POL_EP_INTERNET_LINE);
	f = &p.flows[10];
	assert_int_equal(f->loc.file, 0);
	assert_int_equal(f->loc.line, 45);
	assert_int_equal(f->to.type, KT_POL_EP_HOSTS);
	assert_int_equal(f->n_ports, 2);
	assert_int_equal(f->ports[1].lo, 631);
	assert_true(f->log);
	assert_string_equal(f->purpose, "印刷 from staff PCs");
	for (size_t i = 0; i < p.n_flows; i++)
		if (p.flows[i].to.type == KT_POL_EP_BOX)
			assert_string_equal(p.segments[p.flows[i].from.index].name,
					    "noc");
	kt_policy_uninit(&p);
}

/* Changing the model is one line: the same file under β. */
static void test_model_switch(void **state)
{
	char *beta = policy_with("model: beta-prime", "model: beta");
	struct kt_policy p;
	struct kt_config_error e;
	char msg[600];

	(void)state;
	if (parse_policy(beta, &p, &e))
		fail_msg("%s", kt_config_error_str(&e, msg, sizeof(msg)));
	assert_int_equal(p.model, KT_POL_MODEL_BETA);
	assert_string_equal(p.files[1], TEMPLATES "/beta.yaml");
	assert_int_equal(p.n_flows, 10);	/* no local breakout */
	for (size_t i = 0; i < p.n_flows; i++)
		assert_int_not_equal(p.flows[i].to.type, KT_POL_EP_INTERNET_LINE);
	kt_policy_uninit(&p);
	free(beta);
}

static void test_bad_table(void **state)
{
	static const struct {
		const char *from, *to;
		const char *file;	/* NULL: site.yaml */
		unsigned line;
		const char *field, *msg;
	} cases[] = {
		/* syntax and structure */
		{ "lines:\n", "lines: [\n", NULL, 3, "(syntax)", "flow node" },
		{ "  - name: closed\n", "  - name: closed\n    colour: red\n", NULL, 4,
		  "lines[0].colour", "unknown key 'colour'" },
		{ "    kind: closed\n", "", NULL, 3, "lines[0].kind",
		  "missing key 'kind'" },
		{ "    proto: tcp\n", "", NULL, 45, "flows[0].proto",
		  "missing key 'proto'" },
		{ "    purpose: \"印刷 from staff PCs\"\n", "", NULL, 45,
		  "flows[0].purpose", "missing key 'purpose'" },
		{ "    log: true\n", "    log: true\n    log: false\n", NULL, 51,
		  "flows[0].log", "given twice" },
		{ "    log: true\n", "    log: yes-please\n", NULL, 50,
		  "flows[0].log", "'yes-please' is not one of: false, true" },
		{ "  - name: printers\n", "  - name: &p printers\n", NULL, 40,
		  "hosts[3].name", "" },	/* an anchor alone is harmless */
		/* models and templates */
		{ "model: beta-prime", "model: gamma", NULL, 1, "model",
		  "'gamma' is not one of: alpha, beta, beta-prime" },
		{ "  - name: noc\n    ports: [kt-mgmt]\n    prefixes: [10.250.0.0/24]\n",
		  "", NULL, 1, "model", "segment 'noc' needs 'ports' and 'prefixes'" },
		{ "  - name: vdi\n    addresses: [10.101.1.0/28]\n", "", NULL, 1,
		  "model", "host group 'vdi' needs 'addresses'" },
		{ "  - name: lgwan\n", "  - name: lgwan\n    kind: internet\n", NULL, 15,
		  "segments[1].kind", "segment 'lgwan' is a lgwan segment in the "
		  "template; its kind cannot change" },
		{ "  - name: sanitiser\n", "  - name: sanitiser\n    role: server\n",
		  NULL, 39, "hosts[2].role", "its role cannot change" },
		{ "  - name: sanitiser\n", "  - name: sanitiser\n    segment: dc-internet\n",
		  NULL, 39, "hosts[2].segment", "its segment cannot change" },
		/* names */
		{ "  - name: printers\n", "  - name: Printers\n", NULL, 40,
		  "hosts[3].name", "'Printers' is not a name" },
		{ "  - name: printers\n", "  - name: box\n", NULL, 40, "hosts[3]",
		  "'box' is a reserved name" },
		{ "  - name: printers\n", "  - name: lgwan\n", NULL, 40, "hosts[3]",
		  "already the name of a segment" },
		{ "  - name: printers\n", "  - name: vdi\n", NULL, 40, "hosts[3]",
		  "host group 'vdi' is defined twice (first at line 36)" },
		{ "  - name: internet\n    kind: best-effort\n",
		  "  - name: closed\n    kind: best-effort\n", NULL, 7,
		  "lines[1].name", "line 'closed' is defined twice" },
		{ "  - name: printers\n    role: server\n",
		  "  - name: printers\n", NULL, 40, "hosts[3]",
		  "missing key 'role' (host group 'printers' is not in the template)" },
		{ "  - name: noc\n", "  - name: guests\n", NULL, 30, "segments[6]",
		  "missing key 'kind' (segment 'guests' is not in the template)" },
		/* references */
		{ "    to: printers\n", "    to: printer\n", NULL, 46, "flows[0].to",
		  "no segment or host group is named 'printer'" },
		{ "    segment: dc-internet\n", "    segment: dmz\n", NULL, 42,
		  "hosts[3].segment", "no segment is named 'dmz'" },
		{ "  - from: internet\n    to: printers\n",
		  "  - from: internet-line\n    to: printers\n", NULL, 45,
		  "flows[0].from", "only a destination" },
		{ "    to: printers\n", "    to: internet\n", NULL, 46, "flows[0].to",
		  "to itself" },
		/* prefixes and addresses */
		{ "[10.7.2.0/24]", "[10.7.1.128/25]", NULL, 16,
		  "segments[1].prefixes[0]",
		  "10.7.1.128/25 overlaps 10.7.1.0/24 of segment 'mynumber'" },
		{ "[10.7.2.0/24]", "[10.7.2.0/24, 10.7.2.0/25]", NULL, 16,
		  "segments[1].prefixes[1]", "overlaps 10.7.2.0/24 of segment 'lgwan'" },
		{ "[10.7.2.0/24]", "[10.7.2.1/24]", NULL, 16, "segments[1].prefixes[0]",
		  "'10.7.2.1/24' has host bits set (the network is 10.7.2.0/24)" },
		{ "[10.7.2.0/24]", "[10.7.2.0/33]", NULL, 16, "segments[1].prefixes[0]",
		  "not an address with prefix length" },
		{ "[10.7.2.0/24]", "[10.7.2.0]", NULL, 16, "segments[1].prefixes[0]",
		  "not an address with prefix length" },
		{ "[10.102.9.0/29]", "[10.103.9.0/29]", NULL, 43,
		  "hosts[3].addresses[0]", "10.103.9.0/29 is not inside segment "
		  "'dc-internet'" },
		{ "[10.102.9.0/29]", "[10.102.9.0/29, nine]", NULL, 43,
		  "hosts[3].addresses[1]", "'nine' is not an IPv4 or IPv6 address" },
		/* ports */
		{ "[9100, 631]", "[9100, 65536]", NULL, 48, "flows[0].ports[1]",
		  "port 65536 is out of range (1 to 65535)" },
		{ "[9100, 631]", "[0]", NULL, 48, "flows[0].ports[0]",
		  "port 0 is out of range" },
		{ "[9100, 631]", "[9100-9000]", NULL, 48, "flows[0].ports[0]",
		  "range '9100-9000' ends before it starts" },
		{ "[9100, 631]", "[9000-9200, 9100]", NULL, 48, "flows[0].ports[1]",
		  "'9100' overlaps ports[0]" },
		{ "[9100, 631]", "[http]", NULL, 48, "flows[0].ports[0]",
		  "'http' is not a port or range of ports" },
		{ "[9100, 631]", "[-5]", NULL, 48, "flows[0].ports[0]",
		  "not a port or range" },
		{ "    proto: tcp\n    ports: [9100, 631]\n", "    proto: tcp\n", NULL, 45,
		  "flows[0]", "missing key 'ports' (a tcp flow names its ports" },
		{ "    proto: tcp\n", "    proto: icmp\n", NULL, 48, "flows[0].ports",
		  "ports need proto tcp or udp (this flow is icmp)" },
		{ "    proto: tcp\n", "    proto: sctp\n", NULL, 47, "flows[0].proto",
		  "'sctp' is not one of: tcp, udp, icmp, any" },
		{ "tunnel-ports: [51820]", "tunnel-ports: [70000]", NULL, 6,
		  "lines[0].tunnel-ports[0]", "70000 is out of range (1 to 65535)" },
		/* segments */
		{ "    vlan: 30\n", "    vlan: 4095\n", NULL, 19, "segments[2].vlan",
		  "4095 is out of range (1 to 4094)" },
		{ "    ports: [lan2]\n", "    ports: [lan4]\n", NULL, 15,
		  "segments[1].ports[0]", "this board has no port 'lan4'" },
		{ "    ports: [lan2]\n", "    ports: [wan2]\n", NULL, 15,
		  "segments[1].ports[0]", "port 'eth1' is line 'internet'" },
		{ "    ports: [lan2]\n", "    ports: [lan2, lan2]\n", NULL, 15,
		  "segments[1].ports[1]", "listed twice" },
		{ "    ports: [lan1]\n", "    ports: [lan1]\n    paths: [closed, best-effort]\n",
		  NULL, 13, "segments[0].paths", "uses closed lines only; add "
		  "'allow-best-effort: true'" },
		{ "    ports: [lan2]\n", "    ports: [lan2]\n    allow-best-effort: true\n",
		  NULL, 16, "segments[1].allow-best-effort", "for My Number segments only" },
		{ "    ports: [lan2]\n", "    ports: [lan2]\n    paths: [closed, closed]\n",
		  NULL, 16, "segments[1].paths[1]", "'closed' is listed twice" },
		{ "    ports: [lan2]\n", "    ports: [lan2]\n    paths: [gold]\n",
		  NULL, 16, "segments[1].paths[0]", "not one of: closed, best-effort" },
		{ "    purpose: \"印刷 from staff PCs\"\n", "    purpose: \"a\\tb\"\n",
		  NULL, 49, "flows[0].purpose", "UTF-8 text on one line" },
	};
	unsigned failed = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *text = policy_with(cases[i].from, cases[i].to);
		struct kt_policy p;
		struct kt_config_error e;
		char msg[600];
		int r = parse_policy(text, &p, &e);

		if (!*cases[i].msg) {	/* a case that must parse */
			if (r) {
				print_error("case %zu: refused: %s\n", i,
					    kt_config_error_str(&e, msg, sizeof(msg)));
				failed++;
			} else {
				kt_policy_uninit(&p);
			}
			free(text);
			continue;
		}
		kt_config_error_str(&e, msg, sizeof(msg));
		if (r != -EINVAL || e.line != cases[i].line || !e.column ||
		    strcmp(e.field, cases[i].field) ||
		    strcmp(e.file, cases[i].file ? cases[i].file : "site.yaml") ||
		    !strstr(e.message, cases[i].msg)) {
			print_error("case %zu: want line %u field '%s' message '%s'; "
				    "got r=%d '%s'\n", i, cases[i].line,
				    cases[i].field, cases[i].msg, r, msg);
			failed++;
		}
		/* A refused policy leaves nothing behind. */
		assert_null(p.flows);
		free(text);
	}
	assert_int_equal(failed, 0);
}

/* Errors inside a template name the template. */
static void test_template_errors(void **state)
{
	char dir[] = "/tmp/kt-pol-XXXXXX", path[80], msg[600];
	static const char bad_template[] =
		"segments:\n"
		"  - name: lgwan\n"
		"    kind: lgwan\n"
		"flows:\n"
		"  - from: lgwan\n"
		"    to: nowhere\n"
		"    proto: icmp\n"
		"    purpose: a template's mistake\n";
	static const char site[] =
		"model: alpha\n"
		"segments:\n"
		"  - name: lgwan\n"
		"    ports: [lan2]\n"
		"    prefixes: [10.7.2.0/24]\n";
	const struct kt_pol_source src = { .template_dir = dir, .map = &unit_map };
	struct kt_policy p;
	struct kt_config_error e;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* A missing template: the error points at the model line. */
	assert_int_equal(kt_policy_parse("site.yaml", (const uint8_t *)site,
					 strlen(site), &src, &p, &e), -EINVAL);
	assert_string_equal(e.file, "site.yaml");
	assert_int_equal(e.line, 1);
	assert_string_equal(e.field, "model");
	assert_non_null(strstr(e.message, "alpha.yaml: cannot open"));
	snprintf(path, sizeof(path), "%s/alpha.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(bad_template, f);
	fclose(f);
	assert_int_equal(kt_policy_parse("site.yaml", (const uint8_t *)site,
					 strlen(site), &src, &p, &e), -EINVAL);
	kt_config_error_str(&e, msg, sizeof(msg));
	assert_string_equal(e.file, path);
	assert_int_equal(e.line, 6);
	assert_string_equal(e.field, "flows[0].to");
	/* A template may not name a model of its own. */
	f = fopen(path, "w");
	fputs("model: beta\n", f);
	fclose(f);
	assert_int_equal(kt_policy_parse("site.yaml", (const uint8_t *)site,
					 strlen(site), &src, &p, &e), -EINVAL);
	assert_string_equal(e.file, path);
	assert_non_null(strstr(e.message, "a template cannot name a model"));
	/* No template folder at all. */
	assert_int_equal(kt_policy_parse("site.yaml", (const uint8_t *)site,
					 strlen(site),
					 &(struct kt_pol_source){ .map = &unit_map },
					 &p, &e), -EINVAL);
	assert_non_null(strstr(e.message, "no template folder"));
	unlink(path);
	rmdir(dir);
}

static void test_documents(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "", "the file is empty" },
		{ "# nothing\n", "the file is empty" },
		{ "flows: []\n---\nflows: []\n", "more than one YAML document" },
		{ "- a\n", "expected a mapping, found a list" },
		{ "lines: {}\n", "expected a list, found a mapping" },
		{ "segments: []\n", "must list at least one entry" },
		{ "flows:\n  - {from: a, to: b, proto: icmp, purpose: x}\n",
		  "no segment or host group is named 'a'" },
		{ "hosts:\n  - {name: h, role: relay, segment: s, addresses: [10.0.0.1]}\n",
		  "no segment is named 's'" },
		{ "segments:\n  - {name: s, kind: lgwan, ports: [x0], prefixes: [10.0.0.0/8]}\n"
		  "hosts:\n  - {name: h, role: relay, segment: s, addresses: [&a 10.0.0.1, *a]}\n",
		  "aliases" },
		{ "lines: [\xff]\n", "invalid" },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kt_policy p;
		struct kt_config_error e;
		char msg[600];

		assert_int_equal(kt_policy_parse("f.yaml", (const uint8_t *)cases[i].text,
						 strlen(cases[i].text), &fixture_src,
						 &p, &e), -EINVAL);
		kt_config_error_str(&e, msg, sizeof(msg));
		if (!strstr(e.message, cases[i].msg) || !kt_text_valid(msg) ||
		    strncmp(msg, "f.yaml", 6))
			fail_msg("case %zu: got '%s'", i, msg);
	}
}

/* A segment with neither name nor kind in a template-less file, the
 * smallest policy that parses. */
static void test_minimal(void **state)
{
	static const char text[] =
		"segments:\n"
		"  - {name: s, kind: lgwan, ports: [x0], prefixes: [\"2001:db8::/32\"]}\n";
	struct kt_policy p;
	struct kt_config_error e;

	(void)state;
	assert_int_equal(kt_policy_parse("f.yaml", (const uint8_t *)text,
					 strlen(text), &fixture_src, &p, &e), 0);
	assert_int_equal(p.model, KT_POL_MODEL_NONE);
	assert_int_equal(p.n_flows, 0);
	assert_null(p.flows);
	kt_policy_uninit(&p);
}

static void test_limits(void **state)
{
	char dir[] = "/tmp/kt-pol-XXXXXX", path[64], msg[600];
	struct kt_policy p;
	struct kt_config_error e;
	size_t cap = (CONFIG_POLICY_MAX_FLOWS + 2) * 80 + 200, len;
	char *text = malloc(cap);
	FILE *f;

	(void)state;
	/* One flow too many. */
	len = (size_t)sprintf(text, "segments:\n  - {name: a, kind: lgwan, "
			      "ports: [x0], prefixes: [10.0.0.0/16]}\n"
			      "  - {name: b, kind: lgwan, ports: [x1], "
			      "prefixes: [10.1.0.0/16]}\nflows:\n");
	for (int i = 0; i <= CONFIG_POLICY_MAX_FLOWS; i++)
		len += (size_t)sprintf(text + len, "  - {from: a, to: b, proto: tcp, "
				       "ports: [%d], purpose: p}\n", i % 60000 + 1);
	assert_true(len < cap);
	assert_int_equal(kt_policy_parse("many.yaml", (const uint8_t *)text, len,
					 &fixture_src, &p, &e), -EINVAL);
	assert_non_null(strstr(e.message, "too many flows"));
	assert_int_equal(e.line, CONFIG_POLICY_MAX_FLOWS + 5);
	free(text);
	/* A huge file is refused unread, naming the limit. */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/huge.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fseek(f, CONFIG_POLICY_MAX_BYTES, SEEK_SET), 0);
	fputc('\n', f);
	fclose(f);
	assert_int_equal(kt_policy_load(path, &fixture_src, &p, &e), -EFBIG);
	kt_config_error_str(&e, msg, sizeof(msg));
	assert_non_null(strstr(msg, "huge.yaml: (file): is "));
	assert_non_null(strstr(msg, "bytes; a policy file is at most"));
	unlink(path);
	assert_int_equal(kt_policy_load(path, &fixture_src, &p, &e), -ENOENT);
	assert_int_equal(kt_policy_load(dir, &fixture_src, &p, &e), -EINVAL);
	/* And a good file from disk. */
	f = fopen(path, "w");
	fputs(good_policy, f);
	fclose(f);
	assert_int_equal(kt_policy_load(path, &fixture_src, &p, &e), 0);
	assert_string_equal(p.files[0], path);
	kt_policy_uninit(&p);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_model_switch),
		cmocka_unit_test(test_bad_table),
		cmocka_unit_test(test_template_errors),
		cmocka_unit_test(test_documents),
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests_name("policy-parse", tests, NULL, NULL);
}
