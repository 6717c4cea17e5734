/* kyotend's policy: the generation store (firmware/polstore.c) and the
 * module (firmware/policyd.c) on the dummy kernel, with a fake clock for
 * the confirmation timer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "nft.h"
#include "policyd.h"
#include "unit.h"

static const char pol_v1[] =
	"lines:\n"
	"  - {name: closed, kind: closed, port: wan1, tunnel-ports: [51820]}\n"
	"segments:\n"
	"  - {name: my, kind: mynumber, ports: [lan1], prefixes: [10.7.1.0/24]}\n"
	"  - {name: lg, kind: lgwan, ports: [lan2], prefixes: [10.7.2.0/24]}\n"
	"  - {name: dc, kind: lgwan, ports: [lan3], prefixes: [10.101.0.0/16]}\n"
	"hosts:\n"
	"  - {name: ft, role: file-transfer, segment: dc, addresses: [10.101.0.10]}\n"
	"flows:\n"
	"  - {from: my, to: ft, proto: tcp, ports: [8443], purpose: files}\n"
	"  - {from: lg, to: dc, proto: tcp, ports: [80], purpose: business}\n";

struct fixture {
	char dir[64], state[96], file[96];
	struct kt_loop loop;
	struct policyd pd;
	struct policyd_kernel k;
	struct policyd_dummy dummy;
	struct kt_policy_cfg cfg;
};

static uint64_t clock_ms;
static uint64_t fake_clock(void)
{
	return clock_ms;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *pol_v2(void)
{
	static char buf[sizeof(pol_v1) + 8];
	char *p;

	snprintf(buf, sizeof(buf), "%s", pol_v1);
	p = strstr(buf, "ports: [80]");
	p[9] = '1';		/* 81 */
	return buf;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	kt_log_init("test", 0, 64);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kt-policyd-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->state, sizeof(f->state), "%s/a/state", f->dir);
	snprintf(f->file, sizeof(f->file), "%s/site.yaml", f->dir);
	assert_int_equal(kt_loop_init(&f->loop), 0);
	clock_ms = 1000000;
	f->loop.clock = fake_clock;
	f->loop.now_ms = clock_ms;
	policyd_kernel_dummy(&f->k, &f->dummy);
	snprintf(f->cfg.templates, sizeof(f->cfg.templates), "policy/templates");
	snprintf(f->cfg.state_dir, sizeof(f->cfg.state_dir), "%s", f->state);
	f->cfg.confirm_timeout_s = 30;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	if (f->pd.loop)
		policyd_uninit(&f->pd);
	kt_loop_uninit(&f->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	kt_log_uninit();
	return 0;
}

static void start(struct fixture *f)
{
	assert_int_equal(policyd_init(&f->pd, &f->loop, &unit_map, &f->k), 0);
	assert_int_equal(policyd_apply_config(&f->pd, &f->cfg), 0);
}

static void restart(struct fixture *f)
{
	policyd_uninit(&f->pd);
	start(f);
}

static const struct policyd_who root = { .uid = 0, .user = "root" };

/* kyotenctl policy apply, with the text as the file. */
static json_t *apply(struct fixture *f, const char *text, uint32_t options,
		     const char *comment)
{
	struct kt_ctl_policy req = { .options = options | KT_CTL_POL_FILE };
	json_t *j;
	int fd;

	write_file(f->file, text);
	fd = open(f->file, O_RDONLY);
	assert_true(fd >= 0);
	snprintf(req.name, sizeof(req.name), "site.yaml");
	snprintf(req.comment, sizeof(req.comment), "%s", comment ? comment : "");
	j = policyd_ctl(&f->pd, KT_CTL_POLICY_APPLY, &req, fd, &root);
	close(fd);
	return j;
}

static json_t *simple(struct fixture *f, uint16_t cmd, uint32_t gen)
{
	struct kt_ctl_policy req = { .gen_a = gen };

	return policyd_ctl(&f->pd, cmd, &req, -1, &root);
}

static bool ok(json_t *j)
{
	bool r = json_is_true(json_object_get(j, "ok"));

	json_decref(j);
	return r;
}

static void expect_tag(struct fixture *f, uint32_t gen)
{
	struct kt_polgen *g = kt_polstore_find(&f->pd.store, gen);
	char want[160];

	assert_non_null(g);
	snprintf(want, sizeof(want), "kyoten policy generation %u sha256 %s "
		 "format %u", gen, g->sha_hex, KT_NFT_FORMAT);
	assert_true(f->dummy.present);
	assert_string_equal(f->dummy.tag, want);
}

static void advance(struct fixture *f, uint64_t ms)
{
	clock_ms += ms;
	kt_loop_run_timers(&f->loop);
}

/* --- the store --- */

static void stage_commit(struct kt_polstore *s, const char *text,
			 enum kt_polgen_state st, struct kt_polgen *out)
{
	struct kt_polgen g = { .source = "apply", .user = "root", .state = st,
			       .name = "site.yaml" };
	char err[300];

	if (st == KT_POLGEN_CONFIRMED)
		g.confirmed = 1700000000;
	assert_int_equal(kt_polstore_stage(s, &g, (const uint8_t *)text,
					   strlen(text), NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(kt_polstore_commit(s, &g, err, sizeof(err)), 0);
	if (out)
		*out = g;
}

static void test_store_write_and_read_back(void **state)
{
	struct fixture *f = *state;
	struct kt_polstore s;
	struct kt_polgen g;
	struct kt_policy p;
	struct kt_config_error e;
	struct stat st;
	char err[300], path[200];

	assert_int_equal(kt_polstore_open(&s, f->state, err, sizeof(err)), 0);
	assert_int_equal(stat(f->state, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	stage_commit(&s, pol_v1, KT_POLGEN_CONFIRMED, &g);
	assert_int_equal(g.number, 1);
	snprintf(path, sizeof(path), "%s/gen-1/policy.yaml", f->state);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/gen-1", f->state);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	kt_polstore_close(&s);

	assert_int_equal(kt_polstore_open(&s, f->state, err, sizeof(err)), 0);
	assert_int_equal(s.n, 1);
	assert_true(s.gens[0].ok);
	assert_memory_equal(s.gens[0].sha256, g.sha256, 32);
	assert_ptr_equal(kt_polstore_current(&s), &s.gens[0]);
	assert_int_equal(kt_polstore_load(&s, &s.gens[0], false, &unit_map, &p, &e), 0);
	assert_int_equal(p.n_flows, 2);
	assert_string_equal(p.files[0], "site.yaml");
	kt_policy_uninit(&p);
	kt_polstore_close(&s);
}

/* A power cut in the middle of a write leaves a temporary folder or
 * file; it is not a generation, it goes, and its number is not reused. */
static void test_store_interrupted_writes(void **state)
{
	struct fixture *f = *state;
	struct kt_polstore s;
	struct kt_polgen g;
	char err[300], path[200];

	assert_int_equal(kt_polstore_open(&s, f->state, err, sizeof(err)), 0);
	stage_commit(&s, pol_v1, KT_POLGEN_CONFIRMED, NULL);
	kt_polstore_close(&s);
	snprintf(path, sizeof(path), "%s/gen-5.tmp", f->state);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/gen-5.tmp/policy.yaml", f->state);
	write_file(path, "half");
	snprintf(path, sizeof(path), "%s/gen-1/meta.json.tmp", f->state);
	write_file(path, "{\"half\":");
	snprintf(path, sizeof(path), "%s/gen-01", f->state);
	assert_int_equal(mkdir(path, 0700), 0);

	assert_int_equal(kt_polstore_open(&s, f->state, err, sizeof(err)), 0);
	assert_int_equal(s.n, 1);
	assert_true(s.gens[0].ok);
	assert_int_equal(s.corrupt, 0);
	snprintf(path, sizeof(path), "%s/gen-5.tmp", f->state);
	assert_int_equal(access(path, F_OK), -1);
	stage_commit(&s, pol_v1, KT_POLGEN_PENDING, &g);
	assert_int_equal(g.number, 6);
	/* A staged generation that is discarded leaves nothing. */
	{
		struct kt_polgen d = { .source = "apply", .name = "x" };

		assert_int_equal(kt_polstore_stage(&s, &d, (const uint8_t *)"x", 1,
						   NULL, 0, err, sizeof(err)), 0);
		kt_polstore_discard(&s, d.number);
		snprintf(path, sizeof(path), "%s/gen-%u.tmp", f->state, d.number);
		assert_int_equal(access(path, F_OK), -1);
	}
	kt_polstore_close(&s);
}

static void corrupt_one(struct fixture *f, int how)
{
	struct kt_polstore s;
	char err[300], path[200];

	assert_int_equal(kt_polstore_open(&s, f->state, err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++)
		stage_commit(&s, i == 1 ? pol_v2() : pol_v1, KT_POLGEN_CONFIRMED,
			     NULL);
	kt_polstore_close(&s);
	switch (how) {
	case 0:		/* not JSON */
		snprintf(path, sizeof(path), "%s/gen-3/meta.json", f->state);
		write_file(path, "{broken");
		break;
	case 1:		/* the policy changed behind the store's back */
		snprintf(path, sizeof(path), "%s/gen-3/policy.yaml", f->state);
		write_file(path, pol_v2());
		break;
	case 2:		/* no policy */
		snprintf(path, sizeof(path), "%s/gen-3/policy.yaml", f->state);
		assert_int_equal(unlink(path), 0);
		break;
	case 3:		/* a template name leaving the folder */
	case 4:		/* another generation's metadata */
	case 5:		/* an unknown state */
	{
		char *text;
		FILE *fp;
		long n;

		snprintf(path, sizeof(path), "%s/gen-3/meta.json", f->state);
		fp = fopen(path, "r");
		assert_non_null(fp);
		fseek(fp, 0, SEEK_END);
		n = ftell(fp);
		rewind(fp);
		text = calloc(1, (size_t)n + 64);
		assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
		fclose(fp);
		{
			json_t *m = json_loads(text, 0, NULL);

			assert_non_null(m);
			if (how == 3)
				json_object_set_new(m, "template-file",
						    json_string("../../x.yaml"));
			else if (how == 4)
				json_object_set_new(m, "number", json_integer(2));
			else
				json_object_set_new(m, "state", json_string("happy"));
			free(text);
			text = json_dumps(m, 0);
			json_decref(m);
		}
		write_file(path, text);
		free(text);
		break;
	}
	}
}

static void test_store_corrupt_entry_skipped(void **state)
{
	static const char *const why[] = {
		"not a JSON object", "does not match the SHA-256",
		"policy.yaml: No such file", "template-file '../../x.yaml'",
		"says generation 2 in the folder of generation 3",
		"state is not pending",
	};
	struct fixture *f = *state;

	for (int how = 0; how < 6; how++) {
		struct kt_polstore s;
		char err[300], cmd[200];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", f->state);
		assert_int_equal(system(cmd), 0);
		corrupt_one(f, how);
		assert_int_equal(kt_polstore_open(&s, f->state, err, sizeof(err)), 0);
		assert_int_equal(s.n, 3);
		assert_int_equal(s.corrupt, 1);
		assert_true(s.gens[0].ok && s.gens[1].ok);
		assert_false(s.gens[2].ok);
		if (!strstr(s.gens[2].fault, why[how]))
			fail_msg("case %d: '%s' does not say '%s'", how,
				 s.gens[2].fault, why[how]);
		/* The current one is the newest readable. */
		assert_int_equal(kt_polstore_current(&s)->number, 2);
		assert_int_equal(s.last_number, 3);
		kt_polstore_close(&s);
	}
}

static void test_store_prune(void **state)
{
	struct fixture *f = *state;
	struct kt_polstore s;
	char err[300], path[200];

	assert_int_equal(kt_polstore_open(&s, f->state, err, sizeof(err)), 0);
	for (int i = 0; i < 12; i++)
		stage_commit(&s, pol_v1, i == 1 ? KT_POLGEN_CONFIRMED
						: KT_POLGEN_REVERTED, NULL);
	/* Keep 5, and always 2 (the last confirmed) and 12 (running). */
	assert_int_equal(kt_polstore_prune(&s, 5, 12, 2), 7);
	assert_int_equal(s.n, 5);
	assert_int_equal(s.gens[0].number, 2);
	for (size_t i = 1; i < 5; i++)
		assert_int_equal(s.gens[i].number, 8 + i);
	snprintf(path, sizeof(path), "%s/gen-1", f->state);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/gen-8", f->state);
	assert_int_equal(access(path, F_OK), -1);
	kt_polstore_close(&s);
	assert_int_equal(kt_polstore_open(&s, f->state, err, sizeof(err)), 0);
	assert_int_equal(s.n, 5);
	kt_polstore_close(&s);
}

static void test_store_one_daemon(void **state)
{
	struct fixture *f = *state;
	struct kt_polstore a, b;
	char err[300];

	assert_int_equal(kt_polstore_open(&a, f->state, err, sizeof(err)), 0);
	assert_int_equal(kt_polstore_open(&b, f->state, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "used by another kyotend"));
	kt_polstore_close(&a);
	assert_int_equal(kt_polstore_open(&b, f->state, err, sizeof(err)), 0);
	kt_polstore_close(&b);
}

static void test_store_refuses_foreign_folder(void **state)
{
	struct fixture *f = *state;
	struct kt_polstore s;
	char err[300];

	if (geteuid() != 0)
		skip();
	snprintf(f->state, sizeof(f->state), "%s/other", f->dir);
	assert_int_equal(mkdir(f->state, 0700), 0);
	assert_int_equal(chown(f->state, 12345, 12345), 0);
	assert_int_equal(kt_polstore_open(&s, f->state, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "belongs to uid 12345"));
}

/* --- the module --- */

static void test_apply_confirm(void **state)
{
	struct fixture *f = *state;
	json_t *j;

	start(f);
	assert_false(f->dummy.present);
	assert_int_equal(f->pd.running, 0);
	j = apply(f, pol_v1, 0, "first");
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_int_equal(json_integer_value(json_object_get(j, "confirm-left")), 30);
	json_decref(j);
	expect_tag(f, 1);
	assert_int_equal(f->pd.pending, 1);
	assert_string_equal(kt_polstore_find(&f->pd.store, 1)->comment, "first");
	/* Another apply waits. */
	assert_false(ok(apply(f, pol_v2(), 0, NULL)));
	assert_true(ok(simple(f, KT_CTL_POLICY_CONFIRM, 0)));
	assert_int_equal(f->pd.pending, 0);
	advance(f, 60000);
	assert_int_equal(kt_polstore_find(&f->pd.store, 1)->state,
			 KT_POLGEN_CONFIRMED);
	expect_tag(f, 1);
	assert_false(ok(simple(f, KT_CTL_POLICY_CONFIRM, 0)));
}

static void test_unconfirmed_reverted(void **state)
{
	struct fixture *f = *state;
	unsigned applies;

	start(f);
	assert_true(ok(apply(f, pol_v1, KT_CTL_POL_CONFIRMED, NULL)));
	assert_true(ok(apply(f, pol_v2(), 0, NULL)));
	expect_tag(f, 2);
	applies = f->dummy.applies;
	advance(f, 29000);
	expect_tag(f, 2);
	advance(f, 1500);
	expect_tag(f, 1);
	assert_int_equal(f->dummy.applies, applies + 1);
	assert_int_equal(kt_polstore_find(&f->pd.store, 2)->state,
			 KT_POLGEN_REVERTED);
	assert_string_equal(kt_polstore_find(&f->pd.store, 2)->reason,
			    "not confirmed within 30 s");
	assert_int_equal(f->pd.running, 1);
	assert_int_equal(f->pd.n_reverted, 1);
	/* The store says so after a restart too. */
	restart(f);
	assert_int_equal(kt_polstore_find(&f->pd.store, 2)->state,
			 KT_POLGEN_REVERTED);
	assert_int_equal(f->pd.running, 1);
	assert_true(f->pd.adopted);
}

static void test_channel_lost(void **state)
{
	struct fixture *f = *state;

	start(f);
	assert_int_equal(policyd_channel_lost(&f->pd, "x"), 0);
	assert_true(ok(apply(f, pol_v1, KT_CTL_POL_CONFIRMED, NULL)));
	assert_true(ok(apply(f, pol_v2(), 0, NULL)));
	assert_int_equal(policyd_channel_lost(&f->pd, "no answer from the NOC"), 1);
	expect_tag(f, 1);
	assert_string_equal(kt_polstore_find(&f->pd.store, 2)->reason,
			    "the management channel was lost: no answer from the NOC");
	/* The timer is gone with it. */
	advance(f, 60000);
	assert_int_equal(f->pd.n_reverted, 1);
}

/* No confirmed generation to go back to: the table goes, as before. */
static void test_first_unconfirmed_removes_table(void **state)
{
	struct fixture *f = *state;

	start(f);
	assert_true(ok(apply(f, pol_v1, 0, NULL)));
	assert_true(f->dummy.present);
	advance(f, 31000);
	assert_false(f->dummy.present);
	assert_int_equal(f->pd.running, 0);
}

static void test_refused_changes_nothing(void **state)
{
	struct fixture *f = *state;
	char bad[sizeof(pol_v1) + 100];
	json_t *j;

	start(f);
	assert_true(ok(apply(f, pol_v1, KT_CTL_POL_CONFIRMED, NULL)));
	/* The kernel refuses. */
	f->dummy.fail = -EINVAL;
	j = apply(f, pol_v2(), 0, NULL);
	assert_false(json_is_true(json_object_get(j, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(j, "error")),
			       "generation 2: the kernel refused the batch"));
	json_decref(j);
	expect_tag(f, 1);
	assert_int_equal(f->pd.store.n, 1);
	assert_int_equal(f->pd.pending, 0);
	assert_int_equal(f->pd.kernel_errors, 1);
	/* An invariant. */
	snprintf(bad, sizeof(bad), "%s  - {from: my, to: dc, proto: tcp, "
		 "ports: [22], purpose: oops}\n", pol_v1);
	j = apply(f, bad, 0, NULL);
	assert_string_equal(json_string_value(json_array_get(
		json_object_get(j, "errors"), 1)),
		"site.yaml: refused: 1 flow breaks separation");
	assert_non_null(strstr(json_string_value(json_array_get(
		json_object_get(j, "errors"), 0)),
		"site.yaml:12:5: flows[2]: breaks invariant mynumber-lgwan-host-port"));
	json_decref(j);
	expect_tag(f, 1);
	assert_int_equal(f->pd.store.n, 1);
	/* Nothing written: the next generation is 2, the discarded number
	 * is not reused, and no folder is left. */
	assert_true(ok(apply(f, pol_v2(), KT_CTL_POL_CONFIRMED, NULL)));
	assert_int_equal(f->pd.running, 3);
	assert_int_equal(f->pd.n_refused, 2);
}

static void test_rollback(void **state)
{
	struct fixture *f = *state;
	struct kt_polgen *g;
	json_t *j;

	start(f);
	assert_false(ok(simple(f, KT_CTL_POLICY_ROLLBACK, 0)));
	assert_true(ok(apply(f, pol_v1, KT_CTL_POL_CONFIRMED, NULL)));
	assert_true(ok(apply(f, pol_v2(), KT_CTL_POL_CONFIRMED, NULL)));
	j = simple(f, KT_CTL_POLICY_ROLLBACK, 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j,
		"generation"), "rollback-of")), 1);
	json_decref(j);
	expect_tag(f, 3);
	g = kt_polstore_find(&f->pd.store, 3);
	assert_string_equal(g->source, "rollback");
	assert_int_equal(g->state, KT_POLGEN_CONFIRMED);
	assert_memory_equal(g->sha256, kt_polstore_find(&f->pd.store, 1)->sha256, 32);
	assert_int_equal(kt_polstore_find(&f->pd.store, 2)->state,
			 KT_POLGEN_ROLLED_BACK);
	/* The running one cannot be rolled back to; a missing one neither. */
	assert_false(ok(simple(f, KT_CTL_POLICY_ROLLBACK, 3)));
	assert_false(ok(simple(f, KT_CTL_POLICY_ROLLBACK, 99)));
	assert_true(ok(simple(f, KT_CTL_POLICY_ROLLBACK, 2)));
	expect_tag(f, 4);
	/* A pending one is not its own rollback target. */
	assert_true(ok(apply(f, pol_v1, 0, NULL)));
	assert_false(ok(simple(f, KT_CTL_POLICY_ROLLBACK, 5)));
	assert_int_equal(f->pd.pending, 5);
	/* Rolling back over a pending generation replaces it. */
	assert_true(ok(simple(f, KT_CTL_POLICY_ROLLBACK, 0)));
	expect_tag(f, 6);
	assert_int_equal(f->pd.pending, 0);
	assert_int_equal(kt_polstore_find(&f->pd.store, 5)->state,
			 KT_POLGEN_ROLLED_BACK);
	advance(f, 60000);
	expect_tag(f, 6);
}

/* policy.file added to a box whose store holds kyotenctl's generations:
 * imported at start, once. */
static void test_config_file_added(void **state)
{
	struct fixture *f = *state;

	start(f);
	assert_true(ok(apply(f, pol_v1, KT_CTL_POL_CONFIRMED, NULL)));
	snprintf(f->cfg.file, sizeof(f->cfg.file), "%s/cfg-policy.yaml", f->dir);
	write_file(f->cfg.file, pol_v2());
	restart(f);
	expect_tag(f, 2);
	assert_string_equal(kt_polstore_find(&f->pd.store, 2)->source, "config");
	/* A later kyotenctl change stays until the file changes. */
	assert_true(ok(apply(f, pol_v1, KT_CTL_POL_CONFIRMED, NULL)));
	restart(f);
	expect_tag(f, 3);
	assert_true(f->pd.adopted);
}

static void test_start_adopts_or_applies(void **state)
{
	struct fixture *f = *state;
	unsigned applies;

	start(f);
	assert_true(ok(apply(f, pol_v1, KT_CTL_POL_CONFIRMED, NULL)));
	applies = f->dummy.applies;
	restart(f);
	assert_true(f->pd.adopted);
	assert_int_equal(f->dummy.applies, applies);
	assert_int_equal(f->pd.store.n, 1);
	/* Another table in the kernel: the current generation replaces it. */
	snprintf(f->dummy.tag, sizeof(f->dummy.tag), "someone else's");
	restart(f);
	assert_false(f->pd.adopted);
	assert_int_equal(f->dummy.applies, applies + 1);
	expect_tag(f, 1);
	/* The same generation, written by a compiler of another table
	 * format (before a firmware upgrade): applied again, not adopted. */
	snprintf(f->dummy.tag, sizeof(f->dummy.tag),
		 "kyoten policy generation 1 sha256 %s",
		 kt_polstore_find(&f->pd.store, 1)->sha_hex);
	restart(f);
	assert_false(f->pd.adopted);
	assert_int_equal(f->dummy.applies, applies + 2);
	expect_tag(f, 1);
	/* A pending generation at start is reverted. */
	assert_true(ok(apply(f, pol_v2(), 0, NULL)));
	expect_tag(f, 2);
	restart(f);
	expect_tag(f, 1);
	assert_int_equal(kt_polstore_find(&f->pd.store, 2)->state,
			 KT_POLGEN_REVERTED);
	assert_string_equal(kt_polstore_find(&f->pd.store, 2)->reason,
			    "kyotend restarted before it was confirmed");
	assert_int_equal(f->pd.pending, 0);
}

static void test_config_file_imported(void **state)
{
	struct fixture *f = *state;

	snprintf(f->cfg.file, sizeof(f->cfg.file), "%s/cfg-policy.yaml", f->dir);
	write_file(f->cfg.file, pol_v1);
	start(f);
	expect_tag(f, 1);
	assert_string_equal(kt_polstore_find(&f->pd.store, 1)->source, "config");
	assert_int_equal(kt_polstore_find(&f->pd.store, 1)->state,
			 KT_POLGEN_CONFIRMED);
	/* Unchanged: nothing new, on reload or at start. */
	assert_int_equal(policyd_apply_config(&f->pd, &f->cfg), 0);
	restart(f);
	assert_int_equal(f->pd.store.n, 1);
	assert_true(f->pd.adopted);
	/* Changed: imported. */
	write_file(f->cfg.file, pol_v2());
	assert_int_equal(policyd_apply_config(&f->pd, &f->cfg), 0);
	assert_int_equal(f->pd.store.n, 2);
	expect_tag(f, 2);
	/* Broken: refused, the running one stays. */
	write_file(f->cfg.file, "flows: [\n");
	assert_int_equal(policyd_apply_config(&f->pd, &f->cfg), 0);
	assert_int_equal(f->pd.store.n, 2);
	expect_tag(f, 2);
	assert_non_null(strstr(f->pd.fault, "cfg-policy.yaml:2:1"));
}

static void test_show_history_diff(void **state)
{
	struct fixture *f = *state;
	struct kt_ctl_policy req = { 0 };
	json_t *j;

	start(f);
	assert_false(ok(simple(f, KT_CTL_POLICY_SHOW, 0)));
	assert_true(ok(apply(f, pol_v1, KT_CTL_POL_CONFIRMED, "one")));
	assert_true(ok(apply(f, pol_v2(), KT_CTL_POL_CONFIRMED, "two")));
	j = simple(f, KT_CTL_POLICY_SHOW, 1);
	assert_non_null(strstr(json_string_value(json_object_get(j, "explain")),
			       "by tcp port 80: business (site.yaml:11)"));
	assert_false(json_is_true(json_object_get(j, "running")));
	json_decref(j);
	j = simple(f, KT_CTL_POLICY_HISTORY, 0);
	assert_int_equal(json_array_size(json_object_get(j, "generations")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(j, "generations"), 1), "comment")), "two");
	json_decref(j);
	j = policyd_ctl(&f->pd, KT_CTL_POLICY_DIFF, &req, -1, &root);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j,
		"a"), "label")), "generation 1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j,
		"b"), "label")), "generation 2");
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(
		j, "b"), "explain")), "tcp port 81"));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_write_and_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_interrupted_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_corrupt_entry_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_one_daemon, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_refuses_foreign_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_confirm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unconfirmed_reverted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_channel_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_unconfirmed_removes_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_adopts_or_applies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_file_imported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_file_added, setup, teardown),
		cmocka_unit_test_setup_teardown(test_show_history_diff, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
