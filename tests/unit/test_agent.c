/* The management agent's parts: the on-disk event queue
 * (firmware/evqueue.c: order, persistence across a restart, the oldest
 * folded into a summary when full and the summary sent first, a torn
 * write ignored) and the annex fields of events (firmware/annex.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <jansson.h>

#include "annex.h"
#include "evqueue.h"
#include "fileio.h"
#include "image.h"
#include "polsign.h"
#include "unit.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/kt-evq.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void push(struct kt_evq *q, int i, const char *cls)
{
	char ev[128];
	int n = snprintf(ev, sizeof(ev), "{\"id\":\"e%d\",\"time\":\"t%03d\",\"class\":\"%s\"}",
			 i, i, cls);

	assert_int_equal(kt_evq_push(q, ev, (size_t)n), 0);
}

static int peek_id(struct kt_evq *q, uint64_t *num)
{
	char *json;
	json_t *j;
	int id = -1;

	if (kt_evq_peek(q, &json, num))
		return -2;
	j = json_loads(json, 0, NULL);
	free(json);
	if (json_string_value(json_object_get(j, "id")))
		id = atoi(json_string_value(json_object_get(j, "id")) + 1);
	json_decref(j);
	return id;		/* -1: the summary */
}

static void test_queue(void **state)
{
	struct kt_evq q;
	uint64_t num;
	char tmp[128];
	int fd;

	(void)state;
	assert_int_equal(kt_evq_open(&q, dir, 5), 0);
	assert_int_equal(peek_id(&q, &num), -2);
	for (int i = 1; i <= 3; i++)
		push(&q, i, "communications");
	assert_int_equal(kt_evq_count(&q), 3);
	/* Oldest first; an event stays until it is popped. */
	assert_int_equal(peek_id(&q, &num), 1);
	assert_int_equal(peek_id(&q, &num), 1);
	assert_int_equal(kt_evq_pop(&q, num), 0);
	assert_int_equal(peek_id(&q, &num), 2);
	kt_evq_close(&q);

	/* A restart (or a power cut) keeps what was queued; a write torn
	 * before its rename is not an event. */
	snprintf(tmp, sizeof(tmp), "%s/.tmp", dir);
	fd = open(tmp, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"id\":", 6), 6);
	close(fd);
	assert_int_equal(kt_evq_open(&q, dir, 5), 0);
	assert_int_equal(kt_evq_count(&q), 2);
	assert_int_equal(peek_id(&q, &num), 2);

	/* Full: the oldest go into the summary, which comes out first. */
	for (int i = 4; i <= 10; i++)
		push(&q, i, i % 2 ? "equipment" : "communications");
	assert_int_equal(kt_evq_count(&q), 5 + 1);
	assert_int_equal(peek_id(&q, &num), -1);
	{
		char *json;
		json_t *j;

		assert_int_equal(kt_evq_peek(&q, &json, &num), 0);
		j = json_loads(json, 0, NULL);
		free(json);
		assert_string_equal(json_string_value(json_object_get(j, "code")),
				    "KT-EVENTS-SUMMARISED");
		/* 2, 3, 4, 5 folded: three communications, one equipment. */
		assert_int_equal(json_integer_value(json_object_get(j, "summarised")), 4);
		assert_string_equal(json_string_value(json_object_get(j, "first")), "t002");
		assert_string_equal(json_string_value(json_object_get(j, "last")), "t005");
		assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "classes"),
								    "equipment")), 1);
		assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "classes"),
								    "communications")), 3);
		json_decref(j);
	}
	assert_int_equal(kt_evq_pop(&q, 0), 0);
	for (int want = 6; want <= 10; want++) {
		assert_int_equal(peek_id(&q, &num), want);
		assert_int_equal(kt_evq_pop(&q, num), 0);
	}
	assert_int_equal(peek_id(&q, &num), -2);
	assert_int_equal(kt_evq_count(&q), 0);
	kt_evq_close(&q);
}

static void entry(struct kt_log_entry *e, int sev, const char *msgid, const char *text)
{
	memset(e, 0, sizeof(*e));
	e->time_us = 1796215313123456LL;
	e->seq = 42;
	e->severity = (uint8_t)sev;
	snprintf(e->proc, sizeof(e->proc), "parent");
	snprintf(e->module, sizeof(e->module), "tunnels");
	snprintf(e->msgid, sizeof(e->msgid), "%s", msgid);
	snprintf(e->text, sizeof(e->text), "%s", text);
}

static void test_annex(void **state)
{
	struct kt_log_entry e;
	struct kt_annex a;
	json_t *j;

	(void)state;
	entry(&e, LOG_WARNING, "PATH_DOWN", "path kt-h1-l1 to hub1 over line closed is down: "
	      "BFD timeout");
	assert_true(kt_annex_classify(&e, &a));
	assert_int_equal(a.class, KT_ANNEX_COMMUNICATIONS);
	assert_true(a.alert);
	j = kt_annex_event(&e, &a, "site1", "TKY-0001", "1796215313-42");
	assert_string_equal(json_string_value(json_object_get(j, "class")), "communications");
	assert_string_equal(json_string_value(json_object_get(j, "device-number")), "TKY-0001");
	assert_string_equal(json_string_value(json_object_get(j, "time")),
			    "2026-12-02T12:41:53.123Z");
	assert_string_equal(json_string_value(json_object_get(j, "location")),
			    "parent/tunnels/kt-h1-l1");
	assert_string_equal(json_string_value(json_object_get(j, "code")), "KT-PATH_DOWN");
	assert_string_equal(json_string_value(json_object_get(j, "cause")), "tunnel path");
	json_decref(j);

	entry(&e, LOG_NOTICE, "PATH_UP", "path kt-h1-l1 to hub1 is up (BFD)");
	assert_true(kt_annex_classify(&e, &a));
	assert_true(a.recovery);
	assert_false(a.alert);
	entry(&e, LOG_ERR, "ENGINE_EXIT", "the engine exited");
	assert_true(kt_annex_classify(&e, &a));
	assert_int_equal(a.class, KT_ANNEX_EQUIPMENT);
	/* Unknown ids: warnings and worse are events of class other, the
	 * rest not events at all. */
	entry(&e, LOG_WARNING, "SOMETHING_ODD", "odd");
	assert_true(kt_annex_classify(&e, &a));
	assert_int_equal(a.class, KT_ANNEX_OTHER);
	entry(&e, LOG_INFO, "TUNNEL_STATS", "counters");
	assert_false(kt_annex_classify(&e, &a));
	assert_int_equal(kt_annex_class_parse("power"), KT_ANNEX_POWER);
	assert_int_equal(kt_annex_class_parse("fire"), -1);
}

static void test_polsign(void **state)
{
	static const uint8_t seed[32] = { 7, 7, 7 }, other[32] = { 8 };
	static const char policy[] = "segments: []\n";
	struct kt_polsign p = { .site = "site1", .push_id = "0011223344556677",
		.created = "2026-12-02T00:00:00Z", .by = "ops", .name = "beta.yaml",
		.confirm_timeout = 30, .policy = (const uint8_t *)policy,
		.policy_len = sizeof(policy) - 1 };
	struct kt_polsign got;
	uint8_t pub[32], opub[32], *msg;
	size_t len;
	char err[256];

	(void)state;
	assert_int_equal(kt_image_public(seed, pub), 0);
	assert_int_equal(kt_image_public(other, opub), 0);
	assert_int_equal(kt_polsign_make(seed, &p, &msg, &len, err, sizeof(err)), 0);
	assert_int_equal(kt_polsign_open(msg, len, pub, "site1", &got, err, sizeof(err)), 0);
	assert_string_equal(got.push_id, "0011223344556677");
	assert_int_equal(got.confirm_timeout, 30);
	assert_int_equal(got.policy_len, sizeof(policy) - 1);
	assert_memory_equal(got.policy, policy, got.policy_len);
	/* Another site's push, another key's, any changed byte, a cut. */
	assert_int_equal(kt_polsign_open(msg, len, pub, "site2", &got, err, sizeof(err)), -EXDEV);
	assert_non_null(strstr(err, "for site site1, not site2"));
	assert_int_equal(kt_polsign_open(msg, len, opub, "site1", &got, err, sizeof(err)),
			 -EKEYREJECTED);
	for (size_t i = 8; i < len; i++) {
		msg[i] ^= 1;
		if (!kt_polsign_open(msg, len, pub, "site1", &got, err, sizeof(err)))
			fail_msg("a changed byte %zu of %zu was not noticed", i, len);
		msg[i] ^= 1;
	}
	for (size_t n = 0; n < len; n += 9)
		if (!kt_polsign_open(msg, n, pub, "site1", &got, err, sizeof(err)))
			fail_msg("a push cut to %zu bytes opened", n);
	free(msg);
}

/* The other commands: their fields signed and read back, nothing that
 * is not theirs accepted, no policy carried. */
static void test_polsign_commands(void **state)
{
	static const uint8_t seed[32] = { 7, 7, 7 };
	struct kt_polsign p = { .command = KT_PSCMD_DIAGNOSE, .site = "site1",
		.push_id = "8899aabbccddeeff", .created = "2026-12-03T09:00:00Z", .by = "ops",
		.log = 40, .probe = "closed/hub1", .seconds = 2 };
	struct kt_polsign got;
	uint8_t pub[32], *msg;
	size_t len;
	char err[256];

	(void)state;
	assert_int_equal(kt_image_public(seed, pub), 0);
	assert_int_equal(kt_polsign_make(seed, &p, &msg, &len, err, sizeof(err)), 0);
	assert_int_equal(kt_polsign_open(msg, len, pub, "site1", &got, err, sizeof(err)), 0);
	assert_int_equal(got.command, KT_PSCMD_DIAGNOSE);
	assert_int_equal(got.log, 40);
	assert_string_equal(got.probe, "closed/hub1");
	assert_int_equal(got.seconds, 2);
	assert_int_equal(got.policy_len, 0);
	free(msg);

	p.command = KT_PSCMD_ROLLBACK;
	p.generation = 7;
	assert_int_equal(kt_polsign_make(seed, &p, &msg, &len, err, sizeof(err)), 0);
	assert_int_equal(kt_polsign_open(msg, len, pub, "site1", &got, err, sizeof(err)), 0);
	assert_int_equal(got.command, KT_PSCMD_ROLLBACK);
	assert_int_equal(got.generation, 7);
	assert_string_equal(got.probe, "");
	free(msg);

	p.command = KT_PSCMD_REBOOT;
	assert_int_equal(kt_polsign_make(seed, &p, &msg, &len, err, sizeof(err)), 0);
	assert_int_equal(kt_polsign_open(msg, len, pub, "site2", &got, err, sizeof(err)), -EXDEV);
	assert_int_equal(kt_polsign_open(msg, len, pub, "site1", &got, err, sizeof(err)), 0);
	assert_int_equal(got.command, KT_PSCMD_REBOOT);
	free(msg);

	assert_int_equal(kt_polsign_cmd_parse("reboot"), KT_PSCMD_REBOOT);
	assert_int_equal(kt_polsign_cmd_parse("format"), -1);
	assert_true(kt_polsign_time_ok("2026-12-03T09:00:00Z"));
	assert_false(kt_polsign_time_ok("2026-12-03 09:00:00Z"));
	assert_false(kt_polsign_time_ok("2026-12-03T09:00:00"));
	assert_false(kt_polsign_time_ok("2026-12-03T09:00:00Z1"));
}

/* Heads signed by the key but wrong: each refused with what was wrong. */
static void test_polsign_bad_heads(void **state)
{
	static const uint8_t seed[32] = { 7, 7, 7 };
	static const struct {
		const char *head, *body, *want;
	} cases[] = {
		{ "{\"format\":1,\"site\":\"site1\",\"push-id\":\"0011223344556677\","
		  "\"created\":\"2026-12-03T09:00:00Z\",\"by\":\"ops\",\"command\":\"reboot\","
		  "\"generation\":3}", "", "generation" },
		{ "{\"format\":1,\"site\":\"site1\",\"push-id\":\"0011223344556677\","
		  "\"created\":\"2026-12-03T09:00:00Z\",\"by\":\"ops\",\"command\":\"reboot\"}",
		  "x", "carries no policy" },
		{ "{\"format\":1,\"site\":\"site1\",\"push-id\":\"0011223344556677\","
		  "\"created\":\"2026-12-03T09:00:00Z\",\"by\":\"ops\",\"command\":\"halt\"}",
		  "", "no such command" },
		{ "{\"format\":1,\"site\":\"site1\",\"push-id\":\"0011223344556677\","
		  "\"created\":\"yesterday\",\"by\":\"ops\",\"command\":\"reboot\"}",
		  "", "not a UTC time" },
		{ "{\"format\":1,\"site\":\"site1\",\"push-id\":\"0011223344556677\","
		  "\"created\":\"2026-12-03T09:00:00Z\",\"by\":\"ops\",\"command\":\"diagnose\","
		  "\"probe\":\"closed\"}", "", "LINE/PEER" },
		{ "{\"format\":1,\"site\":\"site1\",\"push-id\":\"0011223344556677\","
		  "\"created\":\"2026-12-03T09:00:00Z\",\"by\":\"ops\",\"command\":\"diagnose\","
		  "\"probe\":\"closed/hub1\",\"seconds\":60}", "", "seconds must be 1 to 10" },
		{ "{\"format\":1,\"site\":\"site1\",\"push-id\":\"0011223344556677\","
		  "\"created\":\"2026-12-03T09:00:00Z\",\"by\":\"ops\",\"command\":\"diagnose\","
		  "\"log\":-1}", "", "log must be 0 to 500" },
		{ "{\"format\":1,\"site\":\"site1\",\"push-id\":\"0011223344556677\","
		  "\"created\":\"2026-12-03T09:00:00Z\",\"by\":\"ops\",\"command\":\"diagnose\","
		  "\"seconds\":3}", "", "seconds without a probe" },
	};
	uint8_t pub[32], buf[1024];
	struct kt_polsign got;
	char err[256];

	(void)state;
	assert_int_equal(kt_image_public(seed, pub), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t hl = strlen(cases[i].head), bl = strlen(cases[i].body), n = 16 + hl + bl;

		memcpy(buf, KT_POLSIGN_MAGIC, 8);
		kt_put_be32(buf + 8, (uint32_t)hl);
		kt_put_be32(buf + 12, 0);
		memcpy(buf + 16, cases[i].head, hl);
		memcpy(buf + 16 + hl, cases[i].body, bl);
		assert_int_equal(kt_image_sign(buf, n, seed, buf + n), 0);
		assert_int_equal(kt_polsign_open(buf, n + KT_IMAGE_SIG, pub, "site1", &got, err,
						 sizeof(err)), -EBADMSG);
		if (!strstr(err, cases[i].want))
			fail_msg("case %zu: '%s' does not say '%s'", i, err, cases[i].want);
	}
}

/* Replays: what a box took, and what it refuses after. */
static void test_taken(void **state)
{
	struct kt_taken t = { .floor = 1796256000 };	/* 2026-12-03T00:00:00Z */
	struct kt_polsign p = { .command = KT_PSCMD_REBOOT, .push_id = "0000000000000001",
				.created = "2026-12-03T09:00:00Z" };
	int64_t now = 1796288400;			/* 2026-12-03T09:00:00Z */
	char why[256];

	(void)state;
	assert_null(kt_taken_refuses(&t, &p, now, why, sizeof(why)));
	kt_taken_add(&t, &p);
	/* The same again; another of the same second is fine. */
	assert_non_null(strstr(kt_taken_refuses(&t, &p, now, why, sizeof(why)), "taken before"));
	snprintf(p.push_id, sizeof(p.push_id), "0000000000000002");
	assert_null(kt_taken_refuses(&t, &p, now, why, sizeof(why)));
	kt_taken_add(&t, &p);
	assert_int_equal(t.n, 2);
	/* A newer one: the older ones, even not taken, are refused. */
	snprintf(p.push_id, sizeof(p.push_id), "0000000000000003");
	snprintf(p.created, sizeof(p.created), "2026-12-03T09:00:05Z");
	kt_taken_add(&t, &p);
	assert_int_equal(t.n, 1);
	snprintf(p.push_id, sizeof(p.push_id), "0000000000000004");
	snprintf(p.created, sizeof(p.created), "2026-12-03T09:00:04Z");
	assert_non_null(strstr(kt_taken_refuses(&t, &p, now, why, sizeof(why)), "older than"));
	/* Before the box's certificate, with nothing taken yet. */
	memset(&t, 0, sizeof(t));
	t.floor = 1796256000;
	snprintf(p.created, sizeof(p.created), "2026-12-02T23:59:59Z");
	assert_non_null(strstr(kt_taken_refuses(&t, &p, now, why, sizeof(why)),
			       "before this box's certificate (2026-12-03T00:00:00Z)"));
	/* A command 11 minutes old or ahead is refused; a policy is not. */
	snprintf(p.created, sizeof(p.created), "2026-12-03T08:49:00Z");
	assert_non_null(strstr(kt_taken_refuses(&t, &p, now, why, sizeof(why)), "too old"));
	snprintf(p.created, sizeof(p.created), "2026-12-03T09:11:00Z");
	assert_non_null(strstr(kt_taken_refuses(&t, &p, now, why, sizeof(why)),
			       "-660 s from this box's clock"));
	p.command = KT_PSCMD_POLICY;
	snprintf(p.created, sizeof(p.created), "2026-12-03T08:49:00Z");
	assert_null(kt_taken_refuses(&t, &p, now, why, sizeof(why)));
	/* Seventeen in one second: the first makes room, the rest stay. */
	memset(&t, 0, sizeof(t));
	for (int i = 0; i < KT_TAKEN_MAX + 1; i++) {
		snprintf(p.push_id, sizeof(p.push_id), "%016x", i + 16);
		kt_taken_add(&t, &p);
	}
	assert_int_equal(t.n, KT_TAKEN_MAX);
	snprintf(p.push_id, sizeof(p.push_id), "%016x", 16 + KT_TAKEN_MAX);
	assert_non_null(kt_taken_refuses(&t, &p, now, why, sizeof(why)));
}

/* The agent's records (cursor, commands taken) are replaced whole: the
 * new bytes, the asked mode, no PATH.new left, and a folder that is not
 * there leaves nothing. */
static void test_write_replace(void **state)
{
	char path[160], tmp[170];
	uint8_t *b;
	size_t len;
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/last-push", dir);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	assert_int_equal(kt_write_file_replace(path, "one\n", 4, 0600), 0);
	assert_int_equal(kt_write_file_replace(path, "two two\n", 8, 0600), 0);
	assert_int_equal(kt_read_file(path, 100, &b, &len), 0);
	assert_int_equal(len, 8);
	assert_memory_equal(b, "two two\n", 8);
	free(b);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_not_equal(stat(tmp, &st), 0);
	snprintf(path, sizeof(path), "%s/no-such-folder/x", dir);
	assert_int_equal(kt_write_file_replace(path, "x", 1, 0600), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queue, setup, teardown),
		cmocka_unit_test(test_annex),
		cmocka_unit_test(test_polsign),
		cmocka_unit_test(test_polsign_commands),
		cmocka_unit_test(test_polsign_bad_heads),
		cmocka_unit_test(test_taken),
		cmocka_unit_test_setup_teardown(test_write_replace, setup, teardown),
	};

	return cmocka_run_group_tests_name("agent", tests, NULL, NULL);
}
