/* The segment-separation policy in kyotend's privileged parent
 * (docs/policy.md, "In kyotend").
 *
 * Two parts:
 *
 *   the store (polstore.c): every policy kyotend applied, kept as a
 *   generation in the state folder: the site's file as given, a copy of
 *   the model template it used (so that it can be applied again after
 *   the templates change), and its metadata (who, when, why, state).
 *   Written atomically; an entry that cannot be read is reported and
 *   skipped, never fatal, and never takes the others with it.
 *
 *   the module (policyd.c): owns the policy the kernel runs. It is the
 *   only caller of kt_nft_commit in kyotend. It applies a generation
 *   in one batch, waits for it to be confirmed and otherwise puts the
 *   last confirmed one back (commit-confirm), rolls back on request,
 *   and at start adopts the table the kernel already holds when it is
 *   the store's current generation. */
#ifndef KT_POLICYD_H
#define KT_POLICYD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "ctl.h"
#include "loop.h"
#include "policy.h"

/* --- the store --- */

enum kt_polgen_state {
	KT_POLGEN_PENDING,		/* applied, waiting for confirmation */
	KT_POLGEN_CONFIRMED,
	KT_POLGEN_REVERTED,		/* not confirmed in time, or the
					 * management channel was lost */
	KT_POLGEN_ROLLED_BACK,		/* replaced by kyotenctl policy rollback */
	KT_POLGEN_STATE_COUNT
};

#define KT_POLGEN_USER_MAX 33
#define KT_POLGEN_REASON_MAX 200
#define KT_POLGEN_FAULT_MAX 200
#define KT_POLGEN_MODEL_FILE_MAX 32

struct kt_polgen {
	uint32_t number;
	bool ok;			/* false: the entry could not be read */
	char fault[KT_POLGEN_FAULT_MAX];	/* why not */
	uint8_t sha256[32];		/* of the site's file */
	char sha_hex[65];
	char name[KT_CTL_POL_NAME_MAX];	/* the file as its applier named it */
	char template_path[256];	/* the template as it was read, for words */
	char model_file[KT_POLGEN_MODEL_FILE_MAX];	/* its copy: "beta.yaml" */
	char source[16];		/* "apply", "config", "rollback" */
	uint32_t rollback_of;		/* rollback: the generation it copies */
	int64_t applied;		/* wall clock, seconds */
	uint32_t uid;
	char user[KT_POLGEN_USER_MAX];
	char comment[KT_CTL_POL_COMMENT_MAX];
	uint32_t timeout_s;		/* to confirm, when it was applied pending */
	enum kt_polgen_state state;
	int64_t changed;		/* when the state last changed */
	char reason[KT_POLGEN_REASON_MAX];	/* why that state */
	int64_t confirmed;		/* 0: never confirmed */
	char confirmed_by[KT_POLGEN_USER_MAX];
};

struct kt_polstore {
	char dir[KT_PATH_MAX];
	int dfd;			/* the folder, O_DIRECTORY */
	struct kt_polgen *gens;		/* by number, oldest first */
	size_t n, cap;
	uint32_t last_number;		/* highest ever seen, corrupt ones too */
	unsigned corrupt;		/* entries the last scan skipped */
};

/* Opens (making it, 0700, if missing) and scans the folder. Leftovers of
 * an interrupted write are removed; unreadable entries are kept on disk,
 * listed with ok false and logged. 0, or a negative errno with err. */
int kt_polstore_open(struct kt_polstore *s, const char *dir, char *err,
		     size_t errlen);
void kt_polstore_close(struct kt_polstore *s);
int kt_polstore_scan(struct kt_polstore *s);

struct kt_polgen *kt_polstore_find(struct kt_polstore *s, uint32_t number);
/* The generation the kernel should run: the newest readable one that is
 * pending or confirmed; NULL if none. */
struct kt_polgen *kt_polstore_current(struct kt_polstore *s);
/* The newest readable generation below `below` that was ever confirmed
 * (0: any); NULL if none. */
struct kt_polgen *kt_polstore_last_confirmed(struct kt_polstore *s,
					     uint32_t below);
/* The newest readable generation with source "config". */
struct kt_polgen *kt_polstore_last_config(struct kt_polstore *s);

/* Writes a new generation, not yet visible (gen-N.tmp): g->number is
 * set to the next number and the SHA-256 of pol. tmpl may be NULL (no
 * model). 0 or a negative errno with err. */
int kt_polstore_stage(struct kt_polstore *s, struct kt_polgen *g,
		      const uint8_t *pol, size_t len, const uint8_t *tmpl,
		      size_t tlen, char *err, size_t errlen);
/* Makes the staged generation part of the store (one rename). */
int kt_polstore_commit(struct kt_polstore *s, const struct kt_polgen *g,
		       char *err, size_t errlen);
/* Removes a staged generation that will not be kept. */
void kt_polstore_discard(struct kt_polstore *s, uint32_t number);
/* Rewrites a generation's metadata (its state changed). */
int kt_polstore_update(struct kt_polstore *s, const struct kt_polgen *g,
		       char *err, size_t errlen);
/* Parses a stored (or staged) generation; messages name the file as its
 * applier did. */
int kt_polstore_load(struct kt_polstore *s, const struct kt_polgen *g,
		     bool staged, const struct kt_port_map *map,
		     struct kt_policy *out, struct kt_config_error *e);
/* Reads a stored generation's files (policy and template, either may be
 * left NULL); the caller frees them. */
int kt_polstore_read(struct kt_polstore *s, const struct kt_polgen *g,
		     uint8_t **pol, size_t *len, uint8_t **tmpl, size_t *tlen);
/* Removes the oldest generations beyond `keep`, never those numbered
 * keep_a or keep_b (the running one, the one a revert would restore).
 * Returns how many were removed. */
size_t kt_polstore_prune(struct kt_polstore *s, size_t keep, uint32_t keep_a,
			 uint32_t keep_b);

const char *kt_polgen_state_name(enum kt_polgen_state st);
json_t *kt_polgen_json(const struct kt_polgen *g);

/* --- the module --- */

/* What the module does to the kernel: nftables (policy/nft.c) or, with
 * kyotend --sys dummy and in the unit tests, a table in memory. */
struct policyd_kernel {
	const char *name;
	/* Replace table inet kyoten by the policy, tagged with comment. */
	int (*apply)(void *priv, const struct kt_policy *p, const char *comment,
		     char *err, size_t errlen);
	/* Remove the table (a revert with no confirmed policy to go back to). */
	int (*remove)(void *priv, char *err, size_t errlen);
	/* The table's tag: 0, -ENOENT (no table) or an error. */
	int (*tag)(void *priv, char *out, size_t len, char *err, size_t errlen);
	void *priv;
};

extern const struct policyd_kernel policyd_kernel_nft;

/* The dummy kernel: a tag in memory (and a switch to refuse applies). */
struct policyd_dummy {
	bool present;
	char tag[128];
	unsigned applies, removes;
	int fail;			/* next apply returns this, once */
};
void policyd_kernel_dummy(struct policyd_kernel *k, struct policyd_dummy *d);

struct policyd_who {
	uint32_t uid;
	char user[KT_POLGEN_USER_MAX];
};

struct policyd {
	struct kt_loop *loop;
	/* Told of every policy the kernel starts to run (p, its
	 * generation) and of the table going (NULL, 0): denied-packet
	 * events name segments from it. p lives only during the call. */
	void (*in_force)(struct policyd *pd, const struct kt_policy *p,
			 uint32_t generation);
	const struct kt_port_map *map;
	struct policyd_kernel kernel;
	struct kt_polstore store;
	bool started;			/* the first configuration was applied */
	bool store_open;
	struct kt_policy_cfg cfg;	/* the configuration's policy section */
	uint8_t file_sha[32];		/* policy.file as last read */
	bool file_read;
	uint32_t running;		/* generation the kernel runs; 0: none of ours */
	bool adopted;			/* found in the kernel at start */
	uint32_t pending;		/* waiting for confirmation; 0: none */
	uint64_t deadline_ms;		/* loop time it is reverted at */
	struct kt_timer confirm;
	char fault[400];		/* the last thing that went wrong */
	unsigned n_applied, n_refused, n_reverted, n_rolled_back, n_confirmed;
	unsigned kernel_errors, store_errors;
};

int policyd_init(struct policyd *pd, struct kt_loop *loop,
		 const struct kt_port_map *map, const struct policyd_kernel *k);
void policyd_uninit(struct policyd *pd);
/* Every configuration generation: the first one opens the store,
 * reverts a generation left pending, imports policy.file if the store
 * holds none or its content changed, and adopts or applies the current
 * generation. Never fails the configuration: faults are shown. */
int policyd_apply_config(struct policyd *pd, const struct kt_policy_cfg *cfg);
json_t *policyd_status(struct policyd *pd);

/* The control commands (ctl.h); each returns the JSON answer. fd is the
 * policy file's descriptor where the command takes one (-1: none). */
json_t *policyd_ctl(struct policyd *pd, uint16_t cmd,
		    const struct kt_ctl_policy *req, int fd,
		    const struct policyd_who *who);

/* For the management-channel agent (issue 6): the channel to the NOC was
 * lost after a policy change. A generation still waiting for
 * confirmation is reverted now, exactly as when its timer runs out
 * (the last confirmed generation is put back in one batch, the pending
 * one is marked reverted with `why`, POLICY_REVERTED is logged). Returns
 * 1 if a generation was reverted, 0 if none was pending, or a negative
 * errno if putting the confirmed one back failed (the kernel keeps the
 * pending one, which stays marked pending so the timer retries). */
int policyd_channel_lost(struct policyd *pd, const char *why);

#endif
