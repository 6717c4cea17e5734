/* The daemon: the privileged parent's state, its modules and its children.
 * docs/architecture.md describes the process split. */
#ifndef KYOTEND_H
#define KYOTEND_H

#include <jansson.h>
#include <limits.h>
#include <sys/types.h>

#include "config.h"
#include "ctl.h"
#include "denials.h"
#include "generated/autoconf.h"
#include "loop.h"
#include "msg.h"
#include "paths.h"
#include "policyd.h"
#include "ports.h"
#include "sys.h"
#include "tunnels.h"

#define KT_PING_INTERVAL_MS 5000
#define KT_PING_DEADLINE_MS 15000
#define KT_RESTART_MAX_MS 30000

/* A message waiting for room in a child's channel. */
struct kt_child_out {
	struct kt_child_out *next;
	uint16_t type;
	uint16_t len;
	int fd;				/* a dup, closed once sent; -1 none */
	uint8_t data[];
};

/* Most a child's outbound queue may hold: two of the largest tunnel sets
 * (a hub with KT_MAX_LINES devices of KT_MAX_SITES peers, plus device and
 * socket messages), as when a repair and a reload follow each other
 * before the engine has read the first. A child that lets more pile up
 * has stopped reading. */
#define KT_CHILD_QUEUE_MAX (2 * KT_MAX_LINES * (KT_MAX_SITES + 2) + 64)

/* A supervised unprivileged child, reached over one socketpair. */
struct kt_child {
	const char *role;
	uint32_t allowed;		/* message types it may send */
	pid_t pid;
	struct kt_fd ch;
	bool hello;
	struct kt_msg_hello info;
	unsigned restarts, backoff;
	uint64_t ping_cookie, last_pong_ms;
	struct kt_timer restart, ping;
	unsigned bad_msgs, refused_window;
	/* The channel holds only a few records (net.unix.max_dgram_qlen);
	 * what does not fit waits here, in order, until EPOLLOUT. */
	struct kt_child_out *out_head, **out_tail;
	unsigned out_len;
};

struct kyotend;

struct kt_ctl_client {
	struct kyotend *d;
	struct kt_fd h;
	bool used;
	struct kt_ctl_req req;
	struct kt_ctl_policy pol;	/* after req, for the policy commands */
	uint8_t in[sizeof(struct kt_ctl_req) + sizeof(struct kt_ctl_policy)];
	size_t in_len;
	int fd;				/* a descriptor the request passed; -1 */
	bool extra_fds;			/* more than one came: refused */
	uint32_t uid;			/* SO_PEERCRED, for the policy's records */
	const char *refusal;		/* answer this instead of the request */
	char *out;
	size_t out_len, out_off;
	struct kt_timer timeout;
};

struct kyotend {
	struct kt_loop loop;
	struct sys sys;
	const char *config_path, *ctl_path, *pid_path, *sys_backend;
	int exe_fd;			/* our own binary, for the children */
	bool verbose;			/* -v: debug whatever the file says */
	int64_t started, started_boot;

	struct kt_config cfg;
	unsigned generation;
	int64_t loaded;
	unsigned reload_failures;
	char last_error[512];

	struct ports ports;
	struct tunnels tunnels;
	struct paths paths;
	struct denials denials;
	struct policyd policy;
	struct policyd_dummy policy_dummy;	/* --sys dummy */
	struct kt_child engine;

	struct kt_fd ctl_listen;
	struct kt_ctl_client clients[CONFIG_CTL_MAX_CLIENTS + 1];
	unsigned ctl_denied, ctl_refused, ctl_bad;
	struct kt_timer reboot;		/* armed once a reboot was asked for */
	bool rebooting;
};

/* A capability of the daemon. init and uninit mirror each other; apply
 * receives every configuration generation, the first one included. */
struct kt_module {
	const char *name;
	int (*init)(struct kyotend *d);
	int (*apply)(struct kyotend *d, const struct kt_config *cfg);
	void (*uninit)(struct kyotend *d);
	json_t *(*status)(struct kyotend *d);
};

extern const struct kt_module *const kt_modules[];
extern const size_t kt_n_modules;

/* engine.c */
int engine_main(void);
extern const struct kt_module kt_engine_module;
/* Sends to the engine, queueing what does not fit (pass_fd: duplicated,
 * the caller keeps its own). */
void kt_engine_send(struct kyotend *d, uint16_t type, const void *p, size_t len,
		    int pass_fd);
/* Reaps exited children (SIGCHLD). */
void kyotend_reap(struct kyotend *d);

/* modules.c: the tunnels module's links to the engine */
void kt_tunnels_send(struct kyotend *d);
void kt_tunnels_stats(struct kyotend *d, const struct kt_msg_tun_stats_batch *b);
/* 0, or -EINVAL when the message does not fit the running set. */
int kt_tunnels_bfd_state(struct kyotend *d, const struct kt_msg_bfd_state *m);
/* modules.c: denied-packet events. send: what the engine lacks
 * (everything: a fresh engine); policy: the running policy changed
 * (NULL: none), sent to the engine at once. */
void kt_denials_send(struct kyotend *d, bool everything);
void kt_denials_stats(struct kyotend *d, const struct kt_msg_deny_stats *m);
void kt_denials_policy(struct kyotend *d, const struct kt_policy *p,
		       uint32_t generation);

/* ctl.c */
int ctl_init(struct kyotend *d);
void ctl_uninit(struct kyotend *d);

/* main.c */
int kyotend_reload(struct kyotend *d);
/* Stops the loop KYOTEND_REBOOT_DELAY_MS from now (the asker's answer,
 * and the agent's word to the NOC, go out first); main() then reboots
 * or, on a board with BOARD_REBOOT_RESTARTS_DAEMON, restarts kyotend. */
#define KYOTEND_REBOOT_DELAY_MS 1000
void kyotend_reboot(struct kyotend *d, const char *by);
json_t *kyotend_status(struct kyotend *d);

#endif
