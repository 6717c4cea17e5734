/* The policy module of kyotend's parent (policyd.h; docs/policy.md, "In
 * kyotend"). The only caller of kt_nft_commit in kyotend.
 *
 * What the kernel runs is always one stored generation, tagged in the
 * table's comment with its number and SHA-256, so that a restarted daemon
 * can tell its own table from anything else and adopt it without writing.
 * Every change is one batch (the kernel runs the old ruleset or the new
 * one); a change the parser, the invariants or the kernel refuse leaves
 * both the kernel and the store as they were. */
#define KT_MODULE "policy"
#include "policyd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "generated/autoconf.h"
#include "log.h"
#include "nft.h"
#include "text.h"
#include "yamlwalk.h"

#define RETRY_MS 5000		/* a revert the kernel refused is tried again */

/* --- the kernels --- */

static int nft_apply(void *priv, const struct kt_policy *p, const char *comment,
		     char *err, size_t errlen)
{
	struct kt_nft_opts o;

	(void)priv;
	kt_nft_opts_default(&o);
	o.comment = comment;
	return kt_nft_apply(p, &o, NULL, err, errlen);
}

static int nft_remove(void *priv, char *err, size_t errlen)
{
	(void)priv;
	return kt_nft_remove_table(err, errlen);
}

static int nft_tag(void *priv, char *out, size_t len, char *err, size_t errlen)
{
	(void)priv;
	return kt_nft_get_comment(out, len, err, errlen);
}

const struct policyd_kernel policyd_kernel_nft = {
	.name = "nftables",
	.apply = nft_apply,
	.remove = nft_remove,
	.tag = nft_tag,
};

static int dummy_apply(void *priv, const struct kt_policy *p, const char *comment,
		       char *err, size_t errlen)
{
	struct policyd_dummy *d = priv;
	int r = d->fail;

	(void)p;
	d->fail = 0;
	if (r) {
		snprintf(err, errlen, "the kernel refused the batch: %s",
			 strerror(-r));
		return r;
	}
	d->present = true;
	snprintf(d->tag, sizeof(d->tag), "%s", comment);
	d->applies++;
	return 0;
}

static int dummy_remove(void *priv, char *err, size_t errlen)
{
	struct policyd_dummy *d = priv;

	(void)err;
	(void)errlen;
	d->present = false;
	d->tag[0] = '\0';
	d->removes++;
	return 0;
}

static int dummy_tag(void *priv, char *out, size_t len, char *err, size_t errlen)
{
	struct policyd_dummy *d = priv;

	(void)err;
	(void)errlen;
	if (!d->present)
		return -ENOENT;
	snprintf(out, len, "%s", d->tag);
	return 0;
}

void policyd_kernel_dummy(struct policyd_kernel *k, struct policyd_dummy *d)
{
	*k = (struct policyd_kernel){
		.name = "dummy", .apply = dummy_apply, .remove = dummy_remove,
		.tag = dummy_tag, .priv = d,
	};
}

/* --- helpers --- */

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static void tag_of(const struct kt_polgen *g, char *buf, size_t len)
{
	snprintf(buf, len, "kyoten policy generation %u sha256 %s format %u",
		 g->number, g->sha_hex, KT_NFT_FORMAT);
}

static void set_fault(struct policyd *pd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_fault(struct policyd *pd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pd->fault, sizeof(pd->fault), fmt, ap);
	va_end(ap);
	kt_text_clean(pd->fault);
}

/* What a refused request says: the lines `policy check` would print, and
 * one summary. */
struct refusal {
	json_t *lines;
	char summary[600];
};

static void refuse(struct refusal *rf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void refuse(struct refusal *rf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rf->summary, sizeof(rf->summary), fmt, ap);
	va_end(ap);
	kt_text_clean(rf->summary);
}

static void refusal_line(struct refusal *rf, const char *line)
{
	char buf[800];

	snprintf(buf, sizeof(buf), "%s", line);
	kt_text_clean(buf);
	json_array_append_new(rf->lines, json_string(buf));
}

static json_t *refusal_json(struct refusal *rf)
{
	json_t *j = json_pack("{s:b, s:s, s:O}", "ok", 0, "error", rf->summary,
			      "errors", rf->lines);

	return j;
}

static json_t *error_json(const char *msg)
{
	char buf[600];

	snprintf(buf, sizeof(buf), "%s", msg);
	kt_text_clean(buf);
	return json_pack("{s:b, s:s}", "ok", 0, "error", buf);
}

/* The invariants; violations as `policy check` words them. */
static bool invariants_hold(const struct kt_policy *p, struct refusal *rf)
{
	struct kt_pol_violation v[KT_POL_MAX_VIOLATIONS];
	char msg[700];
	size_t n = kt_pol_check(p, v, KT_POL_MAX_VIOLATIONS);

	if (!n)
		return true;
	for (size_t i = 0; i < n && i < KT_POL_MAX_VIOLATIONS; i++)
		refusal_line(rf, kt_pol_violation_str(p, &v[i], msg, sizeof(msg)));
	refuse(rf, "%s: refused: %zu %s separation", p->files[0], n,
	       n == 1 ? "flow breaks" : "flows break");
	refusal_line(rf, rf->summary);
	return false;
}

/* A parsed, checked policy from the store. */
static struct kt_policy *load_gen(struct policyd *pd, const struct kt_polgen *g,
				  bool staged, struct refusal *rf)
{
	struct kt_policy *p = malloc(sizeof(*p));
	struct kt_config_error e;
	char msg[700];

	if (!p) {
		refuse(rf, "out of memory");
		return NULL;
	}
	if (kt_polstore_load(&pd->store, g, staged, pd->map, p, &e)) {
		kt_config_error_str(&e, msg, sizeof(msg));
		refuse(rf, "generation %u cannot be read back: %s", g->number, msg);
		refusal_line(rf, rf->summary);
		free(p);
		return NULL;
	}
	if (!invariants_hold(p, rf)) {
		kt_policy_uninit(p);
		free(p);
		return NULL;
	}
	return p;
}

static void free_policy(struct kt_policy *p)
{
	if (p) {
		kt_policy_uninit(p);
		free(p);
	}
}

/* Puts a stored generation in the kernel. */
static int kernel_apply(struct policyd *pd, const struct kt_polgen *g,
			bool staged, struct refusal *rf)
{
	struct kt_policy *p = load_gen(pd, g, staged, rf);
	char tag[KT_NFT_COMMENT_MAX], err[400];
	int r;

	if (!p)
		return -EINVAL;
	tag_of(g, tag, sizeof(tag));
	r = pd->kernel.apply(pd->kernel.priv, p, tag, err, sizeof(err));
	if (!r && pd->in_force)
		pd->in_force(pd, p, g->number);
	free_policy(p);
	if (r) {
		pd->kernel_errors++;
		refuse(rf, "generation %u: %s", g->number, err);
		refusal_line(rf, rf->summary);
	}
	return r;
}

static void save(struct policyd *pd, struct kt_polgen *g)
{
	char err[400];

	g->changed = now_s();
	if (kt_polstore_update(&pd->store, g, err, sizeof(err))) {
		pd->store_errors++;
		set_fault(pd, "%s", err);
		log_errx("POLICY_STORE", "%s", err);
	}
}

static void prune(struct policyd *pd)
{
	struct kt_polgen *lc = kt_polstore_last_confirmed(&pd->store, pd->running);
	size_t n = kt_polstore_prune(&pd->store, CONFIG_POLICY_KEEP_GENERATIONS,
				     pd->running, lc ? lc->number : 0);

	if (n)
		log_info("POLICY_PRUNED", "%zu old generation%s removed from %s",
			 n, n == 1 ? "" : "s", pd->store.dir);
}

/* The revert of a pending generation: its timer, a lost channel, a
 * restart. The last confirmed generation goes back into the kernel (or,
 * when there is none, Kyoten's table goes, as before the change). */
static int revert_pending(struct policyd *pd, const char *why)
{
	struct kt_polgen *g = kt_polstore_find(&pd->store, pd->pending);
	struct kt_polgen *back;
	struct refusal rf = { .lines = json_array() };
	char err[400];
	int r;

	if (!g) {
		pd->pending = 0;
		json_decref(rf.lines);
		return 0;
	}
	back = kt_polstore_last_confirmed(&pd->store, g->number);
	if (back)
		r = kernel_apply(pd, back, false, &rf);
	else if ((r = pd->kernel.remove(pd->kernel.priv, err, sizeof(err))))
		refuse(&rf, "removing table inet kyoten: %s", err);
	else if (pd->in_force)
		pd->in_force(pd, NULL, 0);
	json_decref(rf.lines);
	if (r) {
		/* The pending generation keeps running; say so and try again. */
		set_fault(pd, "reverting generation %u failed: %s", g->number,
			  rf.summary);
		log_errx("POLICY_REVERT_FAILED", "%s; trying again in %d s",
			 pd->fault, RETRY_MS / 1000);
		kt_timer_set(pd->loop, &pd->confirm, RETRY_MS);
		pd->deadline_ms = kt_loop_now(pd->loop) + RETRY_MS;
		return r;
	}
	kt_timer_cancel(pd->loop, &pd->confirm);
	g->state = KT_POLGEN_REVERTED;
	snprintf(g->reason, sizeof(g->reason), "%s", why);
	kt_text_clean(g->reason);
	save(pd, g);
	if (back && back->state != KT_POLGEN_CONFIRMED) {
		back->state = KT_POLGEN_CONFIRMED;
		snprintf(back->reason, sizeof(back->reason), "put back when "
			 "generation %u was reverted", g->number);
		save(pd, back);
	}
	pd->pending = 0;
	pd->running = back ? back->number : 0;
	pd->n_reverted++;
	if (back)
		log_warnx("POLICY_REVERTED", "policy generation %u reverted (%s); "
			  "generation %u is in force again", g->number, g->reason,
			  back->number);
	else
		log_warnx("POLICY_REVERTED", "policy generation %u reverted (%s); "
			  "no confirmed generation to go back to: table inet "
			  KT_NFT_TABLE " removed, as before it", g->number,
			  g->reason);
	return 1;
}

static void on_confirm_timeout(struct kt_timer *t)
{
	struct policyd *pd = container_of(t, struct policyd, confirm);
	struct kt_polgen *g = kt_polstore_find(&pd->store, pd->pending);
	char why[KT_POLGEN_REASON_MAX];

	snprintf(why, sizeof(why), "not confirmed within %u s",
		 g ? g->timeout_s : 0);
	revert_pending(pd, why);
}

int policyd_channel_lost(struct policyd *pd, const char *why)
{
	char reason[KT_POLGEN_REASON_MAX];

	if (!pd->pending)
		return 0;
	snprintf(reason, sizeof(reason), "the management channel was lost: %s",
		 why && *why ? why : "no reason given");
	return revert_pending(pd, reason);
}

/* A new generation: stored aside, read back from the store, checked,
 * applied, then made part of the store. What the kernel runs is exactly
 * what was stored. The new generation becomes the running one; the
 * caller marks the one it replaced. */
static int new_generation(struct policyd *pd, struct kt_polgen *g,
			  const uint8_t *pol, size_t len, const uint8_t *tmpl,
			  size_t tlen, struct refusal *rf)
{
	char err[400];
	int r;

	if (!pd->store_open) {
		refuse(rf, "the policy store is not available: %s", pd->fault);
		refusal_line(rf, rf->summary);
		return -EIO;
	}
	g->changed = g->applied = now_s();
	if ((r = kt_polstore_stage(&pd->store, g, pol, len, tmpl, tlen, err,
				   sizeof(err)))) {
		pd->store_errors++;
		refuse(rf, "%s", err);
		refusal_line(rf, rf->summary);
		return r;
	}
	if ((r = kernel_apply(pd, g, true, rf))) {
		kt_polstore_discard(&pd->store, g->number);
		return r;
	}
	if ((r = kt_polstore_commit(&pd->store, g, err, sizeof(err)))) {
		struct kt_polgen *prev = kt_polstore_find(&pd->store, pd->running);
		struct refusal again = { .lines = json_array() };

		pd->store_errors++;
		refuse(rf, "%s; the previous policy is put back", err);
		refusal_line(rf, rf->summary);
		kt_polstore_discard(&pd->store, g->number);
		/* The kernel must run a stored generation. */
		if (prev ? kernel_apply(pd, prev, false, &again)
			 : pd->kernel.remove(pd->kernel.priv, err, sizeof(err)))
			log_crit("POLICY_KERNEL", "generation %u runs but could not be "
				 "stored, and the previous one could not be put back",
				 g->number);
		json_decref(again.lines);
		return r;
	}
	pd->running = g->number;
	pd->n_applied++;
	if (g->state == KT_POLGEN_PENDING) {
		pd->pending = g->number;
		kt_timer_set(pd->loop, &pd->confirm, (uint64_t)g->timeout_s * 1000);
		pd->deadline_ms = kt_loop_now(pd->loop) + (uint64_t)g->timeout_s * 1000;
	}
	pd->fault[0] = '\0';
	return 0;
}

static void who_meta(struct kt_polgen *g, const struct policyd_who *who)
{
	g->uid = who->uid;
	snprintf(g->user, sizeof(g->user), "%s", who->user);
	kt_text_clean(g->user);
}

/* The template a parse used, read again for its copy. */
static int read_template(const struct kt_policy *p, struct kt_polgen *g,
			 uint8_t **tmpl, size_t *tlen, struct refusal *rf)
{
	struct kt_config_error e;
	const char *base;
	char msg[700];

	*tmpl = NULL;
	*tlen = 0;
	if (p->n_files < 2)
		return 0;
	base = strrchr(p->files[1], '/');
	base = base ? base + 1 : p->files[1];
	snprintf(g->template_path, sizeof(g->template_path), "%s", p->files[1]);
	if (strlen(base) >= sizeof(g->model_file)) {
		refuse(rf, "template %s: its name is too long", p->files[1]);
		refusal_line(rf, rf->summary);
		return -EINVAL;
	}
	memcpy(g->model_file, base, strlen(base) + 1);
	if (kt_yw_read_file(p->files[1], CONFIG_POLICY_MAX_BYTES, "a policy file",
			    tmpl, tlen, &e)) {
		refuse(rf, "%s", kt_config_error_str(&e, msg, sizeof(msg)));
		refusal_line(rf, rf->summary);
		return -EIO;
	}
	return 0;
}

/* Parse and check a policy from bytes, as `policy check` would. */
static struct kt_policy *parse_checked(struct policyd *pd, const char *name,
				       const uint8_t *buf, size_t len,
				       bool check, struct refusal *rf)
{
	struct kt_pol_source src = { .template_dir = pd->cfg.templates,
				     .map = pd->map };
	struct kt_policy *p = malloc(sizeof(*p));
	struct kt_config_error e;
	char msg[700];

	if (!p) {
		refuse(rf, "out of memory");
		return NULL;
	}
	if (kt_policy_parse(name, buf, len, &src, p, &e)) {
		refuse(rf, "%s", kt_config_error_str(&e, msg, sizeof(msg)));
		refusal_line(rf, rf->summary);
		free(p);
		return NULL;
	}
	if (check && !invariants_hold(p, rf)) {
		free_policy(p);
		return NULL;
	}
	return p;
}

/* Applies a policy file's bytes as a new generation. */
static int apply_bytes(struct policyd *pd, const char *name, const uint8_t *buf,
		       size_t len, struct kt_polgen *g, struct refusal *rf)
{
	struct kt_policy *p = parse_checked(pd, name, buf, len, true, rf);
	uint8_t *tmpl = NULL;
	size_t tlen = 0;
	int r;

	if (!p)
		return -EINVAL;
	snprintf(g->name, sizeof(g->name), "%s", name);
	kt_text_clean(g->name);
	r = read_template(p, g, &tmpl, &tlen, rf);
	free_policy(p);
	if (!r)
		r = new_generation(pd, g, buf, len, tmpl, tlen, rf);
	free(tmpl);
	return r;
}

/* --- the site configuration's policy.file --- */

static int import_file(struct policyd *pd, const uint8_t *buf, size_t len)
{
	struct refusal rf = { .lines = json_array() };
	struct kt_polgen g = {
		.source = "config", .user = "kyotend", .state = KT_POLGEN_CONFIRMED,
		.comment = "policy.file of the site configuration",
		.reason = "from the site configuration",
		.confirmed_by = "kyotend",
	};
	int r;

	g.confirmed = now_s();
	r = apply_bytes(pd, pd->cfg.file, buf, len, &g, &rf);
	if (r) {
		pd->n_refused++;
		set_fault(pd, "policy.file %s refused: %s", pd->cfg.file,
			  rf.summary);
		for (size_t i = 0; i < json_array_size(rf.lines); i++)
			log_errx("POLICY_REFUSED", "%s",
				 json_string_value(json_array_get(rf.lines, i)));
	} else {
		log_notice("POLICY_APPLIED", "policy generation %u applied from %s "
			   "(sha256 %.16s)", g.number, pd->cfg.file, g.sha_hex);
		prune(pd);
	}
	json_decref(rf.lines);
	return r;
}

/* Reads policy.file; -1 with the fault set when it cannot be read. */
static int read_config_file(struct policyd *pd, uint8_t **buf, size_t *len,
			    uint8_t sha[32])
{
	struct kt_config_error e;
	char msg[700];

	if (kt_yw_read_file(pd->cfg.file, CONFIG_POLICY_MAX_BYTES, "a policy file",
			    buf, len, &e)) {
		pd->n_refused++;
		set_fault(pd, "policy.file: %s", kt_config_error_str(&e, msg,
								    sizeof(msg)));
		log_errx("POLICY_REFUSED", "%s", pd->fault);
		return -1;
	}
	wc_Sha256Hash(*buf, (word32)*len, sha);
	return 0;
}

static void start(struct policyd *pd)
{
	struct kt_polgen *cur, *cfg_gen;
	struct refusal rf = { .lines = json_array() };
	char err[400], tag[KT_NFT_COMMENT_MAX], want[KT_NFT_COMMENT_MAX];
	uint8_t *buf = NULL, sha[32];
	size_t len = 0;
	bool have_file, reverted = false;
	int r;

	if (kt_polstore_open(&pd->store, pd->cfg.state_dir, err, sizeof(err))) {
		pd->store_errors++;
		set_fault(pd, "%s", err);
		log_crit("POLICY_STORE", "%s: no policy can be applied; the kernel "
			 "keeps what it holds", err);
		json_decref(rf.lines);
		return;
	}
	pd->store_open = true;
	pd->store_errors += pd->store.corrupt;
	cur = kt_polstore_current(&pd->store);
	if (cur && cur->state == KT_POLGEN_PENDING) {
		/* Its confirmation could only come to this process, and the
		 * timer that bounded it is gone: the one who applied it may
		 * well have lost the box. What was confirmed is the state
		 * known to be safe. */
		pd->pending = pd->running = cur->number;
		reverted = revert_pending(pd, "kyotend restarted before it was "
					  "confirmed") == 1;
		cur = kt_polstore_current(&pd->store);
	}
	have_file = pd->cfg.file[0] && !read_config_file(pd, &buf, &len, sha);
	if (have_file) {
		memcpy(pd->file_sha, sha, sizeof(sha));
		pd->file_read = true;
		cfg_gen = kt_polstore_last_config(&pd->store);
		/* The box's first policy; or content not imported before
		 * (the file is new in the configuration, or changed while
		 * kyotend was not running). */
		if (!cur || !cfg_gen || memcmp(cfg_gen->sha256, sha, 32)) {
			pd->running = cur ? cur->number : 0;
			if (!import_file(pd, buf, len)) {
				cur = kt_polstore_find(&pd->store, pd->running);
				reverted = false;
				free(buf);
				goto done;
			}
		}
	}
	free(buf);
	if (!cur) {
		pd->running = 0;
		r = pd->kernel.tag(pd->kernel.priv, tag, sizeof(tag), err, sizeof(err));
		log_notice("POLICY_NONE", "no policy: no generation in the store "
			   "is in force and no policy.file was applied; the kernel "
			   "keeps what it holds (%s)",
			   r == -ENOENT ? "no table inet " KT_NFT_TABLE
				       : "a table inet " KT_NFT_TABLE " not applied "
					 "from this store");
		json_decref(rf.lines);
		return;
	}
	if (reverted) {
		/* revert_pending put it in the kernel. */
		pd->running = cur->number;
		goto done;
	}
	tag_of(cur, want, sizeof(want));
	r = pd->kernel.tag(pd->kernel.priv, tag, sizeof(tag), err, sizeof(err));
	if (r == 0 && !strcmp(tag, want)) {
		pd->running = cur->number;
		pd->adopted = true;
		if (pd->in_force) {
			/* Nothing is written, but the segments are named
			 * from the generation the kernel runs. */
			struct kt_policy *p = load_gen(pd, cur, false, &rf);

			if (p)
				pd->in_force(pd, p, cur->number);
			free_policy(p);
		}
		log_notice("POLICY_ADOPTED", "policy generation %u adopted: the "
			   "kernel's table inet " KT_NFT_TABLE " is that generation "
			   "(sha256 %.16s); nothing written", cur->number,
			   cur->sha_hex);
	} else if (kernel_apply(pd, cur, false, &rf) == 0) {
		pd->running = cur->number;
		log_notice("POLICY_APPLIED", "policy generation %u applied at start "
			   "(the kernel held %s)", cur->number,
			   r == -ENOENT ? "no table inet " KT_NFT_TABLE
			   : r ? "a table that could not be read"
			   : "another table inet " KT_NFT_TABLE);
	} else {
		set_fault(pd, "%s", rf.summary);
		log_errx("POLICY_APPLY_FAILED", "generation %u could not be "
			 "applied at start: %s; the kernel keeps what it holds",
			 cur->number, rf.summary);
	}
done:
	prune(pd);
	json_decref(rf.lines);
}

int policyd_apply_config(struct policyd *pd, const struct kt_policy_cfg *cfg)
{
	uint8_t *buf = NULL, sha[32];
	size_t len = 0;
	bool path_changed;

	if (!pd->started || !pd->store_open) {
		/* The first configuration; or the store could not be opened
		 * before (a reload after fixing it tries again). */
		pd->cfg = *cfg;
		pd->started = true;
		start(pd);
		return 0;
	}
	if (strcmp(cfg->state_dir, pd->cfg.state_dir))
		log_warnx("POLICY_STATE_DIR", "policy.state-dir %s takes effect when "
			  "kyotend restarts; still using %s", cfg->state_dir,
			  pd->cfg.state_dir);
	path_changed = strcmp(cfg->file, pd->cfg.file) != 0;
	snprintf(pd->cfg.file, sizeof(pd->cfg.file), "%s", cfg->file);
	snprintf(pd->cfg.templates, sizeof(pd->cfg.templates), "%s", cfg->templates);
	pd->cfg.confirm_timeout_s = cfg->confirm_timeout_s;
	if (!pd->cfg.file[0] || !pd->store_open) {
		pd->file_read = false;
		return 0;
	}
	if (read_config_file(pd, &buf, &len, sha))
		return 0;
	if (!path_changed && pd->file_read && !memcmp(sha, pd->file_sha, 32)) {
		free(buf);
		return 0;
	}
	if (pd->pending) {
		/* Not over a change waiting for its confirmation: the next
		 * reload tries again. */
		log_warnx("POLICY_NOT_IMPORTED", "policy.file %s changed but "
			  "generation %u waits for confirmation; reload again once "
			  "it is confirmed or reverted", pd->cfg.file, pd->pending);
		free(buf);
		return 0;
	}
	if (!import_file(pd, buf, len)) {
		memcpy(pd->file_sha, sha, 32);
		pd->file_read = true;
	}
	free(buf);
	return 0;
}

/* --- control commands --- */

/* The policy file a client passed: a regular file, read from its start,
 * at most the policy size limit. */
static int read_fd(int fd, const char *name, uint8_t **out, size_t *len,
		   struct refusal *rf)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;

	*out = NULL;
	if (fd < 0) {
		refuse(rf, "no policy file came with the request");
		return -EINVAL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		refuse(rf, "%s: (file): is not a regular file", name);
		refusal_line(rf, rf->summary);
		return -EINVAL;
	}
	if (st.st_size > CONFIG_POLICY_MAX_BYTES) {
		refuse(rf, "%s: (file): is %lld bytes; a policy file is at most %d",
		       name, (long long)st.st_size, CONFIG_POLICY_MAX_BYTES);
		refusal_line(rf, rf->summary);
		return -EFBIG;
	}
	buf = malloc(CONFIG_POLICY_MAX_BYTES + 1);
	if (!buf) {
		refuse(rf, "out of memory");
		return -ENOMEM;
	}
	/* Never more than the limit, whatever the file grew to since. */
	while (got <= CONFIG_POLICY_MAX_BYTES) {
		ssize_t n = pread(fd, buf + got, CONFIG_POLICY_MAX_BYTES + 1 - got,
				  (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			refuse(rf, "%s: (file): cannot read: %s", name, strerror(errno));
			refusal_line(rf, rf->summary);
			free(buf);
			return -EIO;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > CONFIG_POLICY_MAX_BYTES) {
		refuse(rf, "%s: (file): is over %d bytes; a policy file is at most %d",
		       name, CONFIG_POLICY_MAX_BYTES, CONFIG_POLICY_MAX_BYTES);
		refusal_line(rf, rf->summary);
		free(buf);
		return -EFBIG;
	}
	*out = buf;
	*len = got;
	return 0;
}

static json_t *gen_answer(struct policyd *pd, const struct kt_polgen *g)
{
	json_t *j = json_pack("{s:b, s:o}", "ok", 1, "generation",
			      kt_polgen_json(g));

	if (j && g->state == KT_POLGEN_PENDING && pd->pending == g->number)
		json_object_set_new(j, "confirm-left", json_integer(
			(json_int_t)((pd->deadline_ms - kt_loop_now(pd->loop) + 999) /
				     1000)));
	return j;
}

static json_t *ctl_apply(struct policyd *pd, const struct kt_ctl_policy *req,
			 int fd, const struct policyd_who *who)
{
	struct refusal rf = { .lines = json_array() };
	struct kt_polgen g = { .source = "apply" };
	uint8_t *buf = NULL;
	size_t len = 0;
	json_t *j;
	int r;

	if (pd->pending) {
		refuse(&rf, "generation %u waits for confirmation: kyotenctl policy "
		       "confirm, or kyotenctl policy rollback, first", pd->pending);
		refusal_line(&rf, rf.summary);
		goto refused;
	}
	if ((r = read_fd(fd, req->name, &buf, &len, &rf)))
		goto refused;
	who_meta(&g, who);
	snprintf(g.comment, sizeof(g.comment), "%s", req->comment);
	if (req->options & KT_CTL_POL_CONFIRMED) {
		g.state = KT_POLGEN_CONFIRMED;
		g.confirmed = now_s();
		snprintf(g.confirmed_by, sizeof(g.confirmed_by), "%s", g.user);
		snprintf(g.reason, sizeof(g.reason), "applied as confirmed "
			 "(--confirmed)");
	} else {
		g.state = KT_POLGEN_PENDING;
		g.timeout_s = req->timeout_s ? req->timeout_s
					     : pd->cfg.confirm_timeout_s;
		snprintf(g.reason, sizeof(g.reason), "waiting for kyotenctl policy "
			 "confirm");
	}
	r = apply_bytes(pd, req->name, buf, len, &g, &rf);
	free(buf);
	if (r)
		goto refused;
	if (g.state == KT_POLGEN_PENDING)
		log_notice("POLICY_APPLIED", "policy generation %u applied from %s "
			   "by %s (uid %u): reverted in %u s unless confirmed",
			   g.number, g.name, g.user, g.uid, g.timeout_s);
	else
		log_notice("POLICY_APPLIED", "policy generation %u applied from %s "
			   "by %s (uid %u), confirmed", g.number, g.name, g.user,
			   g.uid);
	prune(pd);
	json_decref(rf.lines);
	return gen_answer(pd, kt_polstore_find(&pd->store, g.number));
refused:
	pd->n_refused++;
	log_warnx("POLICY_REFUSED", "policy apply by %s (uid %u) refused: %s",
		  who->user, who->uid, rf.summary);
	j = refusal_json(&rf);
	json_decref(rf.lines);
	return j;
}

static json_t *ctl_confirm(struct policyd *pd, const struct policyd_who *who)
{
	struct kt_polgen *g = kt_polstore_find(&pd->store, pd->pending);
	json_t *j;

	if (!pd->pending || !g)
		return error_json("no policy generation waits for confirmation");
	kt_timer_cancel(pd->loop, &pd->confirm);
	g->state = KT_POLGEN_CONFIRMED;
	g->confirmed = now_s();
	snprintf(g->confirmed_by, sizeof(g->confirmed_by), "%s", who->user);
	snprintf(g->reason, sizeof(g->reason), "confirmed by %s", who->user);
	kt_text_clean(g->reason);
	save(pd, g);
	pd->pending = 0;
	pd->n_confirmed++;
	log_notice("POLICY_CONFIRMED", "policy generation %u confirmed by %s "
		   "(uid %u)", g->number, who->user, who->uid);
	j = gen_answer(pd, g);
	prune(pd);
	return j;
}

static json_t *ctl_rollback(struct policyd *pd, uint32_t to,
			    const struct policyd_who *who)
{
	struct refusal rf = { .lines = json_array() };
	struct kt_polgen *target, *old, g = { .source = "rollback" };
	uint8_t *pol = NULL, *tmpl = NULL;
	size_t len = 0, tlen = 0;
	uint32_t was = pd->running;
	json_t *j;
	int r;

	if (!pd->store_open) {
		refuse(&rf, "the policy store is not available: %s", pd->fault);
		goto refused;
	}
	target = to ? kt_polstore_find(&pd->store, to)
		    : kt_polstore_last_confirmed(&pd->store, pd->running);
	if (!target) {
		if (to)
			refuse(&rf, "no generation %u in the store", to);
		else
			refuse(&rf, "no confirmed generation before %u to roll back "
			       "to", pd->running);
		goto refused;
	}
	if (!target->ok) {
		refuse(&rf, "generation %u cannot be read: %s", target->number,
		       target->fault);
		goto refused;
	}
	if (target->number == pd->running) {
		refuse(&rf, "generation %u is the one running", target->number);
		goto refused;
	}
	if ((r = kt_polstore_read(&pd->store, target, &pol, &len, &tmpl,
				  &tlen))) {
		refuse(&rf, "generation %u cannot be read: %s", target->number,
		       strerror(-r));
		goto refused;
	}
	who_meta(&g, who);
	g.rollback_of = target->number;
	snprintf(g.name, sizeof(g.name), "%s", target->name);
	snprintf(g.template_path, sizeof(g.template_path), "%s",
		 target->template_path);
	snprintf(g.model_file, sizeof(g.model_file), "%s", target->model_file);
	snprintf(g.comment, sizeof(g.comment), "rollback to generation %u",
		 target->number);
	if (target->confirmed) {
		g.state = KT_POLGEN_CONFIRMED;
		g.confirmed = now_s();
		snprintf(g.confirmed_by, sizeof(g.confirmed_by), "%s", g.user);
		snprintf(g.reason, sizeof(g.reason), "rollback to generation %u, "
			 "which was confirmed", target->number);
	} else {
		/* Never confirmed: it may be the one that cut the NOC off. */
		g.state = KT_POLGEN_PENDING;
		g.timeout_s = pd->cfg.confirm_timeout_s;
		snprintf(g.reason, sizeof(g.reason), "rollback to generation %u, "
			 "never confirmed: waiting for kyotenctl policy confirm",
			 target->number);
	}
	kt_text_clean(g.reason);
	/* A pending generation is replaced, not reverted: stop its timer
	 * first so that it cannot fire in between. */
	if (pd->pending)
		kt_timer_cancel(pd->loop, &pd->confirm);
	if (new_generation(pd, &g, pol, len, tmpl, tlen, &rf)) {
		if (pd->pending) {
			kt_timer_set(pd->loop, &pd->confirm, pd->deadline_ms >
				     kt_loop_now(pd->loop) ? pd->deadline_ms -
				     kt_loop_now(pd->loop) : 0);
		}
		free(pol);
		free(tmpl);
		goto refused;
	}
	free(pol);
	free(tmpl);
	if ((old = kt_polstore_find(&pd->store, was)) && was != g.number) {
		old->state = KT_POLGEN_ROLLED_BACK;
		snprintf(old->reason, sizeof(old->reason), "rolled back to "
			 "generation %u (as generation %u) by %s", g.rollback_of,
			 g.number, who->user);
		kt_text_clean(old->reason);
		save(pd, old);
		if (pd->pending == was)
			pd->pending = 0;
	}
	if (g.state == KT_POLGEN_PENDING)
		pd->pending = g.number;
	pd->n_rolled_back++;
	log_warnx("POLICY_ROLLED_BACK", "policy rolled back to generation %u by "
		  "%s (uid %u): now generation %u%s", g.rollback_of, who->user,
		  who->uid, g.number, g.state == KT_POLGEN_PENDING
		  ? ", waiting for confirmation" : "");
	prune(pd);
	json_decref(rf.lines);
	return gen_answer(pd, kt_polstore_find(&pd->store, g.number));
refused:
	pd->n_refused++;
	if (!json_array_size(rf.lines))
		refusal_line(&rf, rf.summary);
	j = refusal_json(&rf);
	json_decref(rf.lines);
	return j;
}

/* The policy in words, as `policy check` prints it. */
static json_t *explain_json(const struct kt_policy *p)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	json_t *j;

	if (!f)
		return NULL;
	kt_pol_explain(p, f);
	fclose(f);
	j = json_stringn(text, len);
	free(text);
	return j;
}

static json_t *explain_gen(struct policyd *pd, const struct kt_polgen *g,
			   struct refusal *rf)
{
	struct kt_policy *p;
	struct kt_config_error e;
	char msg[700];
	json_t *j;

	if (!g->ok) {
		refuse(rf, "generation %u cannot be read: %s", g->number, g->fault);
		return NULL;
	}
	p = malloc(sizeof(*p));
	if (!p) {
		refuse(rf, "out of memory");
		return NULL;
	}
	if (kt_polstore_load(&pd->store, g, false, pd->map, p, &e)) {
		refuse(rf, "generation %u cannot be read back: %s", g->number,
		       kt_config_error_str(&e, msg, sizeof(msg)));
		free(p);
		return NULL;
	}
	j = explain_json(p);
	free_policy(p);
	if (!j)
		refuse(rf, "out of memory");
	return j;
}

static struct kt_polgen *gen_or_running(struct policyd *pd, uint32_t n,
					struct refusal *rf)
{
	struct kt_polgen *g;

	if (!n && !pd->running) {
		refuse(rf, "no policy: kyotend runs none");
		return NULL;
	}
	g = kt_polstore_find(&pd->store, n ? n : pd->running);
	if (!g)
		refuse(rf, "no generation %u in the store", n ? n : pd->running);
	return g;
}

static json_t *ctl_show(struct policyd *pd, uint32_t n)
{
	struct refusal rf = { .lines = json_array() };
	struct kt_polgen *g = gen_or_running(pd, n, &rf);
	json_t *ex = g ? explain_gen(pd, g, &rf) : NULL, *j;

	if (!ex) {
		j = error_json(rf.summary);
	} else {
		j = gen_answer(pd, g);
		json_object_set_new(j, "explain", ex);
		json_object_set_new(j, "running", json_boolean(g->number ==
							       pd->running));
	}
	json_decref(rf.lines);
	return j;
}

static json_t *ctl_history(struct policyd *pd)
{
	json_t *a = json_array();

	for (size_t i = 0; i < pd->store.n; i++)
		json_array_append_new(a, kt_polgen_json(&pd->store.gens[i]));
	return json_pack("{s:b, s:o, s:i, s:i}", "ok", 1, "generations", a,
			 "running", (int)pd->running, "pending", (int)pd->pending);
}

static json_t *side(const char *label, json_t *explain)
{
	return json_pack("{s:s, s:o}", "label", label, "explain", explain);
}

static json_t *ctl_diff(struct policyd *pd, const struct kt_ctl_policy *req,
			int fd)
{
	struct refusal rf = { .lines = json_array() };
	struct kt_polgen *a = NULL, *b = NULL;
	json_t *ea = NULL, *eb = NULL, *j = NULL;
	char la[300], lb[300];

	if (fd >= 0) {
		uint8_t *buf = NULL;
		size_t len = 0;
		struct kt_policy *p;

		if (!(a = gen_or_running(pd, req->gen_a, &rf)) ||
		    !(ea = explain_gen(pd, a, &rf)) ||
		    read_fd(fd, req->name, &buf, &len, &rf))
			goto out;
		p = parse_checked(pd, req->name, buf, len, false, &rf);
		free(buf);
		if (!p)
			goto out;
		eb = explain_json(p);
		free_policy(p);
		snprintf(lb, sizeof(lb), "file %s", req->name);
	} else {
		if (req->gen_b) {
			b = kt_polstore_find(&pd->store, req->gen_b);
			if (!b)
				refuse(&rf, "no generation %u in the store", req->gen_b);
		} else {
			b = gen_or_running(pd, 0, &rf);
		}
		if (!b)
			goto out;
		if (req->gen_a) {
			if (!(a = kt_polstore_find(&pd->store, req->gen_a)))
				refuse(&rf, "no generation %u in the store",
				       req->gen_a);
		} else {
			/* The generation before it. */
			for (size_t i = pd->store.n; i-- > 0 && !a;)
				if (pd->store.gens[i].number < b->number &&
				    pd->store.gens[i].ok)
					a = &pd->store.gens[i];
			if (!a)
				refuse(&rf, "no generation before %u to compare with",
				       b->number);
		}
		if (!a || !(ea = explain_gen(pd, a, &rf)) ||
		    !(eb = explain_gen(pd, b, &rf)))
			goto out;
		snprintf(lb, sizeof(lb), "generation %u", b->number);
	}
	if (!eb) {
		refuse(&rf, "out of memory");
		goto out;
	}
	snprintf(la, sizeof(la), "generation %u", a->number);
	kt_text_clean(lb);
	j = json_pack("{s:b, s:o, s:o}", "ok", 1, "a", side(la, ea), "b",
		      side(lb, eb));
	ea = eb = NULL;
out:
	json_decref(ea);
	json_decref(eb);
	if (!j) {
		if (!json_array_size(rf.lines))
			refusal_line(&rf, rf.summary);
		j = refusal_json(&rf);
	}
	json_decref(rf.lines);
	return j;
}

json_t *policyd_ctl(struct policyd *pd, uint16_t cmd,
		    const struct kt_ctl_policy *req, int fd,
		    const struct policyd_who *who)
{
	if (!pd->store_open && cmd != KT_CTL_POLICY_HISTORY)
		return error_json(pd->fault[0] ? pd->fault
				  : "the policy store is not available");
	switch (cmd) {
	case KT_CTL_POLICY_APPLY:
		return ctl_apply(pd, req, fd, who);
	case KT_CTL_POLICY_CONFIRM:
		return ctl_confirm(pd, who);
	case KT_CTL_POLICY_ROLLBACK:
		return ctl_rollback(pd, req->gen_a, who);
	case KT_CTL_POLICY_SHOW:
		return ctl_show(pd, req->gen_a);
	case KT_CTL_POLICY_HISTORY:
		return ctl_history(pd);
	case KT_CTL_POLICY_DIFF:
		return ctl_diff(pd, req, fd);
	}
	return error_json("not a policy command");
}

/* --- the module --- */

int policyd_init(struct policyd *pd, struct kt_loop *loop,
		 const struct kt_port_map *map, const struct policyd_kernel *k)
{
	memset(pd, 0, sizeof(*pd));
	pd->loop = loop;
	pd->map = map;
	pd->kernel = *k;
	pd->store.dfd = -1;
	pd->confirm.cb = on_confirm_timeout;
	return 0;
}

/* The table stays: the kernel keeps enforcing the policy without
 * kyotend (fail closed). A pending generation stays pending in the store
 * and is reverted at the next start. */
void policyd_uninit(struct policyd *pd)
{
	kt_timer_cancel(pd->loop, &pd->confirm);
	if (pd->pending)
		log_warnx("POLICY_PENDING", "stopping with generation %u "
			  "unconfirmed: it is reverted when kyotend starts again",
			  pd->pending);
	kt_polstore_close(&pd->store);
	pd->store_open = false;
}

json_t *policyd_status(struct policyd *pd)
{
	struct kt_polgen *g = pd->running ? kt_polstore_find(&pd->store, pd->running)
					  : NULL;
	json_t *j, *bad = json_array();
	const char *state = !g ? "no policy" : kt_polgen_state_name(g->state);

	for (size_t i = 0; i < pd->store.n; i++)
		if (!pd->store.gens[i].ok)
			json_array_append_new(bad, json_pack("{s:i, s:s}", "number",
				(int)pd->store.gens[i].number, "error",
				pd->store.gens[i].fault));
	j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:b, s:i, s:i, s:o,"
		      " s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i}}",
		      "state", state, "kernel", pd->kernel.name,
		      "state-dir", pd->cfg.state_dir, "file", pd->cfg.file,
		      "confirm-timeout", (int)pd->cfg.confirm_timeout_s,
		      "adopted", pd->adopted, "generations", (int)pd->store.n,
		      "store-errors", (int)pd->store_errors, "unreadable", bad,
		      "counters", "applied", (int)pd->n_applied,
		      "confirmed", (int)pd->n_confirmed,
		      "refused", (int)pd->n_refused, "reverted", (int)pd->n_reverted,
		      "rolled-back", (int)pd->n_rolled_back,
		      "kernel-errors", (int)pd->kernel_errors,
		      "store-errors", (int)pd->store_errors);
	if (!j)
		return NULL;
	if (g) {
		json_object_set_new(j, "generation", json_integer(g->number));
		json_object_set_new(j, "current", kt_polgen_json(g));
	}
	if (pd->pending)
		json_object_set_new(j, "confirm-left", json_integer((json_int_t)
			((pd->deadline_ms > kt_loop_now(pd->loop)
			  ? pd->deadline_ms - kt_loop_now(pd->loop) + 999 : 0) / 1000)));
	if (pd->fault[0])
		json_object_set_new(j, "fault", json_string(pd->fault));
	return j;
}
