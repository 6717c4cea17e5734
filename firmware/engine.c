/* The network engine: the unprivileged child in which everything that
 * parses input from the network will run (tunnels, BFD, the management
 * agent's protocol). This file holds both sides: the parent's supervision
 * of it (a module of the daemon) and the child's own main loop.
 *
 * The child is a fresh exec of the daemon's binary (no memory of the
 * parent's, secrets included, survives into it), confined before it reads
 * anything: chroot into an empty directory, no supplementary groups, the
 * unprivileged user, no_new_privs. */
#define KT_MODULE "engine"
#include "kyotend.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "edeny.h"
#include "etun.h"
#include "log.h"
#include "suite.h"

/* The descriptor the child finds its channel on after exec. */
#define ENGINE_FD 3

#define ENGINE_ALLOWED (KT_MSG_BIT(KT_MSG_HELLO) | KT_MSG_BIT(KT_MSG_LOG) | \
			KT_MSG_BIT(KT_MSG_PONG) | KT_MSG_BIT(KT_MSG_TUN_STATS) | \
			KT_MSG_BIT(KT_MSG_DENY_STATS) | KT_MSG_BIT(KT_MSG_BFD_STATE))
#define PARENT_ALLOWED (KT_MSG_BIT(KT_MSG_PING) | \
			KT_MSG_BIT(KT_MSG_CONFIG_BEGIN) | \
			KT_MSG_BIT(KT_MSG_CONFIG_DONE) | KT_MSG_BIT(KT_MSG_SHUTDOWN) | \
			KT_MSG_BIT(KT_MSG_TUN_DEVICE) | KT_MSG_BIT(KT_MSG_TUN_SOCKET) | \
			KT_MSG_BIT(KT_MSG_TUN_PEER) | KT_MSG_BIT(KT_MSG_BFD_SOCKET) | \
			KT_MSG_BIT(KT_MSG_DENY_SOCKET) | \
			KT_MSG_BIT(KT_MSG_DENY_SEGMENT) | KT_MSG_BIT(KT_MSG_PATH_DOWN))

/* A child may have this many messages refused per ping interval before
 * the parent stops listening to it and replaces it. */
#define ENGINE_MAX_REFUSED 64

/* --- parent side --- */

static void kill_child(struct kyotend *d, const char *why)
{
	struct kt_child *c = &d->engine;

	if (c->pid <= 0)
		return;
	log_errx("ENGINE_KILL", "killing %s (pid %d): %s", c->role, (int)c->pid,
		 why);
	kill(c->pid, SIGKILL);	/* SIGCHLD restarts it */
}

static void out_free(struct kt_child_out *o)
{
	if (o->fd >= 0)
		close(o->fd);
	/* Tunnel messages carry private keys. */
	explicit_bzero(o->data, o->len);
	free(o);
}

static void queue_clear(struct kt_child *c)
{
	while (c->out_head) {
		struct kt_child_out *o = c->out_head;

		c->out_head = o->next;
		out_free(o);
	}
	c->out_tail = &c->out_head;
	c->out_len = 0;
}

static void want_out(struct kyotend *d, bool on)
{
	struct kt_child *c = &d->engine;
	uint32_t ev = EPOLLIN | (on ? EPOLLOUT : 0);

	if (c->ch.fd >= 0 && c->ch.events != ev)
		kt_loop_fd_mod(&d->loop, &c->ch, ev);
}

/* Sends what waits, in order, until the channel is full again. */
static int queue_flush(struct kyotend *d)
{
	struct kt_child *c = &d->engine;

	while (c->out_head) {
		struct kt_child_out *o = c->out_head;
		int err = kt_msg_send(c->ch.fd, o->type, 0, o->data, o->len, o->fd);

		if (err == -EAGAIN) {
			want_out(d, true);
			return 0;
		}
		if (err)
			return err;
		if (!(c->out_head = o->next))
			c->out_tail = &c->out_head;
		c->out_len--;
		out_free(o);
	}
	want_out(d, false);
	return 0;
}

/* The parent's end is non-blocking: a child that stops reading must not
 * stop the parent, which alone keeps the box's routes and rules. What
 * does not fit in the channel is queued (bounded); pass_fd is not taken:
 * the queue keeps a duplicate of it. */
void kt_engine_send(struct kyotend *d, uint16_t type, const void *p, size_t len,
		    int pass_fd)
{
	struct kt_child *c = &d->engine;
	struct kt_child_out *o;
	int err;

	if (c->ch.fd < 0)
		return;
	if (!c->out_head) {
		err = kt_msg_send(c->ch.fd, type, 0, p, len, pass_fd);
		if (!err || err == -EPIPE)
			return;	/* a closed channel shows as EOF on read */
		if (err != -EAGAIN) {
			log_errx("MSG_SEND", "sending %s to the %s failed: %s",
				 kt_msg_type_name(type), c->role, strerror(-err));
			return;
		}
	}
	if (c->out_len >= KT_CHILD_QUEUE_MAX) {
		kill_child(d, "its channel is full: it has stopped reading");
		return;
	}
	o = malloc(sizeof(*o) + len);
	if (o)
		o->fd = pass_fd >= 0 ? fcntl(pass_fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (!o || (pass_fd >= 0 && o->fd < 0)) {
		/* The child would miss part of its configuration: start it
		 * again rather than let it run on half of one. */
		free(o);
		kill_child(d, "out of memory or descriptors queueing a message");
		return;
	}
	o->next = NULL;
	o->type = type;
	o->len = (uint16_t)len;
	memcpy(o->data, p, len);
	*c->out_tail = o;
	c->out_tail = &o->next;
	c->out_len++;
	want_out(d, true);
}

static void child_send(struct kyotend *d, uint16_t type, const void *p,
		       size_t len)
{
	kt_engine_send(d, type, p, len, -1);
}

static void child_closed(struct kyotend *d)
{
	struct kt_child *c = &d->engine;

	if (c->ch.fd >= 0) {
		kt_loop_fd_del(&d->loop, &c->ch);
		close(c->ch.fd);
		c->ch.fd = -1;
	}
	queue_clear(c);
	kt_timer_cancel(&d->loop, &c->ping);
	c->hello = false;
}

static void send_config(struct kyotend *d, const struct kt_config *cfg,
			bool everything)
{
	struct kt_msg_config m = { .generation = d->generation };

	if (d->engine.ch.fd < 0 || !d->engine.hello)
		return;
	snprintf(m.site_id, sizeof(m.site_id), "%s", cfg->site_id);
	/* A fresh engine gets the whole tunnel set; a running one only
	 * when it changed. */
	m.tunnels = d->tunnels.changed || everything;
	m.tun_generation = d->tunnels.generation;
	child_send(d, KT_MSG_CONFIG_BEGIN, &m, sizeof(m));
	if (m.tunnels)
		kt_tunnels_send(d);
	child_send(d, KT_MSG_CONFIG_DONE, &m, sizeof(m));
	kt_denials_send(d, everything);
}

static void on_child_msg(struct kt_fd *h, uint32_t events)
{
	struct kt_child *c = container_of(h, struct kt_child, ch);
	struct kyotend *d = container_of(c, struct kyotend, engine);
	struct kt_msg m;
	int err;

	if ((events & EPOLLOUT) && (err = queue_flush(d)) && err != -EPIPE) {
		child_closed(d);
		kill_child(d, "its channel failed");
		return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	err = kt_msg_recv(h->fd, c->allowed, &m);
	if (err == -EAGAIN)
		return;
	if (err && err != -EBADMSG && err != -EPROTO && err != -EMSGSIZE) {
		/* A child without its channel is no use, even if alive. */
		child_closed(d);
		kill_child(d, err == -EPIPE ? "it closed its channel"
					    : "its channel failed");
		return;
	}
	if (err) {
		c->bad_msgs++;
		if (++c->refused_window > ENGINE_MAX_REFUSED) {
			child_closed(d);
			kill_child(d, "too many malformed messages");
			return;
		}
		log_warnx("MSG_REFUSED", "refused a message from the %s "
			  "(type %u, %s): %s", c->role, m.hdr.type,
			  kt_msg_type_name(m.hdr.type), strerror(-err));
		return;
	}
	switch (m.hdr.type) {
	case KT_MSG_HELLO:
		memcpy(&c->info, m.data, sizeof(c->info));
		c->info.role[sizeof(c->info.role) - 1] = '\0';
		c->hello = true;
		c->last_pong_ms = kt_loop_now(&d->loop);
		log_info("ENGINE_UP", "%s running as uid %u gid %u, %s, %s",
			 c->role, c->info.uid, c->info.gid,
			 c->info.chrooted ? "chrooted" : "not chrooted",
			 c->info.no_new_privs ? "no_new_privs" : "may gain privileges");
		send_config(d, &d->cfg, true);
		break;
	case KT_MSG_LOG: {
		struct kt_log_entry e;

		/* Who said it is the parent's to state, not the child's; and
		 * no child can raise an alarm above "error". */
		memcpy(&e, m.data, sizeof(e));
		e.pid = (uint32_t)c->pid;
		snprintf(e.proc, sizeof(e.proc), "%s", c->role);
		if (e.severity < LOG_ERR)
			e.severity = LOG_ERR;
		kt_log_ingest(&e);
		break;
	}
	case KT_MSG_TUN_STATS:
		kt_tunnels_stats(d, (const struct kt_msg_tun_stats_batch *)(void *)m.data);
		break;
	case KT_MSG_DENY_STATS:
		kt_denials_stats(d, (const struct kt_msg_deny_stats *)(void *)m.data);
		break;
	case KT_MSG_BFD_STATE:
		/* Checked against the set like counters; a refusal is the
		 * child's fault, counted as a malformed message. */
		if (kt_tunnels_bfd_state(d, (const struct kt_msg_bfd_state *)(void *)m.data)) {
			c->bad_msgs++;
			log_warnx("MSG_REFUSED", "refused a path state from the %s: "
				  "not a path of the running set", c->role);
		}
		break;
	case KT_MSG_PONG: {
		uint64_t cookie;

		memcpy(&cookie, m.data, sizeof(cookie));
		if (cookie == c->ping_cookie) {
			c->last_pong_ms = kt_loop_now(&d->loop);
			c->backoff = 0;
		}
		break;
	}
	}
}

static void on_ping(struct kt_timer *t)
{
	struct kt_child *c = container_of(t, struct kt_child, ping);
	struct kyotend *d = container_of(c, struct kyotend, engine);

	if (kt_loop_now(&d->loop) - c->last_pong_ms > KT_PING_DEADLINE_MS) {
		log_errx("ENGINE_STUCK", "%s (pid %d) has not answered for %d ms; "
			 "killing it", c->role, (int)c->pid, KT_PING_DEADLINE_MS);
		kill(c->pid, SIGKILL);
		return;
	}
	/* Unpredictable, so a child cannot answer pings it never read. */
	if (getrandom(&c->ping_cookie, sizeof(c->ping_cookie), 0) !=
	    sizeof(c->ping_cookie))
		c->ping_cookie = c->ping_cookie * 6364136223846793005ull + 1;
	c->refused_window = 0;
	child_send(d, KT_MSG_PING, &c->ping_cookie, sizeof(c->ping_cookie));
	kt_timer_set(&d->loop, &c->ping, KT_PING_INTERVAL_MS);
}

static int spawn(struct kyotend *d)
{
	struct kt_child *c = &d->engine;
	int sv[2], err;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK)) {
		err = -errno;
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	if (pid == 0) {
		static char name[] = "kyotend: engine", flag[] = "--engine";
		char *argv[] = { name, flag, NULL };
		extern char **environ;
		sigset_t none;
		int null = open("/dev/null", O_RDWR);

		/* The child keeps its channel and nothing else: no terminal
		 * or journal stream to write to, no descriptor a launcher
		 * leaked; its own session; signals unblocked. */
		/* Lift both descriptors clear of the slots they go to, so
		 * neither overwrites the other on the way. */
		int ch = fcntl(sv[1], F_DUPFD_CLOEXEC, ENGINE_FD + 2);
		int exe = fcntl(d->exe_fd, F_DUPFD_CLOEXEC, ENGINE_FD + 2);

		if (null < 0 || ch < 0 || exe < 0 || dup2(null, 0) < 0 ||
		    dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
		    dup2(ch, ENGINE_FD) < 0 || dup2(exe, ENGINE_FD + 1) < 0 ||
		    fcntl(ENGINE_FD + 1, F_SETFD, FD_CLOEXEC))
			_exit(127);
		close_range(ENGINE_FD + 2, ~0U, 0);
		setsid();
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* The binary this daemon started from, even if an upgrade
		 * has replaced the file since: parent and child must agree
		 * on the message layout. */
		fexecve(ENGINE_FD + 1, argv, environ);
		_exit(127);
	}
	close(sv[1]);
	c->pid = pid;
	c->ch.fd = sv[0];
	c->ch.events = EPOLLIN;
	c->ch.cb = on_child_msg;
	c->hello = false;
	c->last_pong_ms = kt_loop_now(&d->loop);
	if ((err = kt_loop_fd_add(&d->loop, &c->ch))) {
		kill(pid, SIGKILL);
		child_closed(d);
		return err;
	}
	kt_timer_set(&d->loop, &c->ping, KT_PING_INTERVAL_MS);
	log_debug("ENGINE_START", "started %s, pid %d", c->role, (int)pid);
	return 0;
}

static void on_restart(struct kt_timer *t)
{
	struct kt_child *c = container_of(t, struct kt_child, restart);
	struct kyotend *d = container_of(c, struct kyotend, engine);
	int err = spawn(d);

	if (err) {
		log_errx("ENGINE_SPAWN", "cannot start %s: %s", c->role,
			 strerror(-err));
		kt_timer_set(&d->loop, &c->restart, KT_RESTART_MAX_MS);
	}
}

/* Called from the SIGCHLD handler path with each reaped child. */
static void engine_reaped(struct kyotend *d, pid_t pid, int status)
{
	struct kt_child *c = &d->engine;
	unsigned delay;

	if (pid != c->pid)
		return;
	child_closed(d);
	c->pid = 0;
	c->restarts++;
	/* 1 s, 2 s, 4 s ... up to 30 s while it keeps dying young; a
	 * child that answered a ping has its backoff reset. */
	delay = c->backoff ? c->backoff * 2 : 1000;
	if (delay > KT_RESTART_MAX_MS)
		delay = KT_RESTART_MAX_MS;
	c->backoff = delay;
	if (WIFSIGNALED(status))
		log_errx("ENGINE_EXIT", "%s (pid %d) killed by signal %d; "
			 "restarting in %u ms", c->role, (int)pid,
			 WTERMSIG(status), delay);
	else
		log_errx("ENGINE_EXIT", "%s (pid %d) exited with status %d; "
			 "restarting in %u ms", c->role, (int)pid,
			 WEXITSTATUS(status), delay);
	kt_timer_set(&d->loop, &c->restart, delay);
}

void kyotend_reap(struct kyotend *d)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		engine_reaped(d, pid, status);
}

static int engine_init(struct kyotend *d)
{
	struct kt_child *c = &d->engine;

	memset(c, 0, sizeof(*c));
	c->role = "engine";
	c->allowed = ENGINE_ALLOWED;
	c->ch.fd = -1;
	c->out_tail = &c->out_head;
	c->restart.cb = on_restart;
	c->ping.cb = on_ping;
	return spawn(d);
}

static int engine_apply(struct kyotend *d, const struct kt_config *cfg)
{
	send_config(d, cfg, false);
	return 0;
}

static void engine_uninit(struct kyotend *d)
{
	struct kt_child *c = &d->engine;

	kt_timer_cancel(&d->loop, &c->restart);
	if (c->ch.fd >= 0)
		kt_msg_send(c->ch.fd, KT_MSG_SHUTDOWN, 0, NULL, 0, -1);
	child_closed(d);
	if (c->pid > 0) {
		int status;

		/* It exits on SHUTDOWN or on the closed channel; do not wait
		 * for ever on one that is stuck. */
		for (int i = 0; i < 50; i++) {
			if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
				c->pid = 0;
				break;
			}
			usleep(20000);
		}
		if (c->pid > 0) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, &status, 0);
		}
	}
	c->pid = 0;
}

static json_t *engine_status(struct kyotend *d)
{
	struct kt_child *c = &d->engine;

	return json_pack("{s:s, s:s, s:i, s:i, s:i, s:b, s:b, s:i, s:i}",
			 "name", c->role,
			 "state", c->hello ? "up" : c->pid ? "starting" : "down",
			 "pid", (int)c->pid, "uid", (int)c->info.uid,
			 "gid", (int)c->info.gid, "chrooted", c->info.chrooted,
			 "no-new-privs", c->info.no_new_privs,
			 "restarts", (int)c->restarts,
			 "refused-messages", (int)c->bad_msgs);
}

const struct kt_module kt_engine_module = {
	.name = "engine",
	.init = engine_init,
	.apply = engine_apply,
	.uninit = engine_uninit,
	.status = engine_status,
};

/* --- child side --- */

static struct {
	struct kt_loop loop;
	struct kt_fd ch;
	bool chrooted, no_new_privs;
} eng;

static void forward_log(const struct kt_log_entry *e, void *arg)
{
	(void)arg;
	/* Best effort: if the parent is gone, the child is about to exit. */
	kt_msg_send(ENGINE_FD, KT_MSG_LOG, 0, e, sizeof(*e), -1);
}

static int confine(void)
{
	const char *user = CONFIG_PRIVSEP_USER, *dir = CONFIG_PRIVSEP_CHROOT;
	struct passwd *pw;
	struct stat st;

	if (geteuid() != 0) {
		log_notice("ENGINE_NOROOT", "not started as root: keeping uid %u, "
			   "no chroot", (unsigned)geteuid());
	} else {
		pw = getpwnam(user);
		if (!pw) {
			log_crit("ENGINE_NOUSER", "user '%s' does not exist; create "
				 "it (tools/bootstrap does) so the engine can drop "
				 "privileges", user);
			return -ENOENT;
		}
		/* The parent made it; refuse one that others could fill. */
		if (stat(dir, &st) || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
		    (st.st_mode & 022)) {
			log_crit("ENGINE_CHROOT", "'%s' must be a directory owned "
				 "by root and writable only by it", dir);
			return -EPERM;
		}
		if (chroot(dir) || chdir("/")) {
			log_crit("ENGINE_CHROOT", "chroot to '%s' failed: %s", dir,
				 strerror(errno));
			return -errno;
		}
		eng.chrooted = true;
		if (setgroups(0, NULL) || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid)) {
			log_crit("ENGINE_SETUID", "dropping to user '%s' failed: %s",
				 user, strerror(errno));
			return -errno;
		}
		if (setuid(0) == 0) {
			log_crit("ENGINE_SETUID", "could regain root after dropping "
				 "privileges; refusing to run");
			return -EPERM;
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0)
		eng.no_new_privs = true;
	/* Set after the credential change, which clears it. */
	prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	return 0;
}

static void engine_on_msg(struct kt_fd *h, uint32_t events)
{
	struct kt_msg m;
	int err;

	if (events & EPOLLOUT)
		etun_writable();
	/* The channel blocks: read only what epoll says is there. */
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	err = kt_msg_recv(h->fd, PARENT_ALLOWED, &m);
	if (err == -EPIPE) {
		kt_loop_stop(&eng.loop);
		return;
	}
	if (err) {
		log_warnx("MSG_REFUSED", "refused a message from the parent: %s",
			  strerror(-err));
		return;
	}
	switch (m.hdr.type) {
	case KT_MSG_PING:
		kt_msg_send(h->fd, KT_MSG_PONG, 0, m.data, sizeof(uint64_t), -1);
		break;
	case KT_MSG_CONFIG_BEGIN:
		etun_begin((const struct kt_msg_config *)(void *)m.data);
		break;
	case KT_MSG_TUN_DEVICE:
		etun_device((const struct kt_msg_tun_device *)(void *)m.data, m.fd);
		break;
	case KT_MSG_TUN_SOCKET:
		etun_socket((const struct kt_msg_tun_socket *)(void *)m.data, m.fd);
		break;
	case KT_MSG_TUN_PEER:
		etun_peer((const struct kt_msg_tun_peer *)(void *)m.data);
		break;
	case KT_MSG_BFD_SOCKET:
		etun_bfd_socket((const struct kt_msg_bfd_socket *)(void *)m.data, m.fd);
		break;
	case KT_MSG_PATH_DOWN:
		etun_path_down((const struct kt_msg_path_down *)(void *)m.data);
		break;
	case KT_MSG_DENY_SOCKET:
		edeny_socket((const struct kt_msg_deny_socket *)(void *)m.data, m.fd);
		break;
	case KT_MSG_DENY_SEGMENT:
		edeny_segment((const struct kt_msg_deny_segment *)(void *)m.data);
		break;
	case KT_MSG_CONFIG_DONE: {
		struct kt_msg_config c;

		memcpy(&c, m.data, sizeof(c));
		c.site_id[sizeof(c.site_id) - 1] = '\0';
		etun_done(&c);
		log_debug("ENGINE_CONFIG", "configuration generation %u for %s",
			  c.generation, c.site_id);
		break;
	}
	case KT_MSG_SHUTDOWN:
		kt_loop_stop(&eng.loop);
		break;
	default:
		if (m.fd >= 0)
			close(m.fd);
		break;
	}
	/* Device messages carry private keys and PSKs. */
	kt_wipe(m.data, m.hdr.len);
}

/* Counters never wait for the parent (a busy parent must not stall the
 * data plane): a full channel says -EAGAIN, and the rest follows when
 * it has room (EPOLLOUT). */
static int send_to_parent(uint16_t type, const void *p, size_t len)
{
	int queued = 0;

	/* The channel holds about ten records, and log entries and pongs
	 * do wait for room: counters leave it to them, with at most two
	 * batches not yet read by the parent. */
	if (!ioctl(ENGINE_FD, SIOCOUTQ, &queued) && queued > (int)(2 * len + 4096))
		return -EBUSY;
	return kt_msg_try_send(ENGINE_FD, type, 0, p, len, -1);
}

/* The same, waiting for room: for what must not be lost (a path's
 * state change), as log entries do. */
static int send_wait_to_parent(uint16_t type, const void *p, size_t len)
{
	return kt_msg_send(ENGINE_FD, type, 0, p, len, -1);
}

static void want_write(bool on)
{
	uint32_t ev = EPOLLIN | (on ? EPOLLOUT : 0);

	if (eng.ch.events != ev)
		kt_loop_fd_mod(&eng.loop, &eng.ch, ev);
}

static void engine_signal(struct kt_loop *l, int signo)
{
	(void)signo;
	kt_loop_stop(l);
}

int engine_main(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, 0 };
	struct kt_msg_hello hello = { 0 };
	int err;

	kt_log_init("engine", 0, 0);
	/* The parent filters by its own level when it takes entries in. */
	kt_log_set_level(LOG_DEBUG);
	kt_log_set_sink(forward_log, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (confine())
		return 1;
	/* Everything the engine will do with keys needs the DRBG, seeded
	 * from getrandom(2): the chroot has no /dev/urandom. Fail now, where
	 * it shows, not at the first handshake. */
	if (kt_random(NULL, 0)) {
		log_crit("ENGINE_RNG", "the random generator cannot be seeded "
			 "inside the chroot");
		return 1;
	}
	if ((err = kt_loop_init(&eng.loop)) ||
	    (err = kt_loop_signals(&eng.loop, sigs, engine_signal)))
		return 1;
	eng.ch.fd = ENGINE_FD;
	eng.ch.events = EPOLLIN;
	eng.ch.cb = engine_on_msg;
	if (kt_loop_fd_add(&eng.loop, &eng.ch))
		return 1;
	hello.pid = (uint32_t)getpid();
	hello.uid = (uint32_t)getuid();
	hello.gid = (uint32_t)getgid();
	hello.chrooted = eng.chrooted;
	hello.no_new_privs = eng.no_new_privs;
	snprintf(hello.role, sizeof(hello.role), "engine");
	if (etun_init(&eng.loop, send_to_parent, send_wait_to_parent, want_write) ||
	    edeny_init(&eng.loop, send_to_parent))
		return 1;
	kt_msg_send(ENGINE_FD, KT_MSG_HELLO, 0, &hello, sizeof(hello), -1);
	err = kt_loop_run(&eng.loop);
	edeny_uninit();
	etun_uninit();
	kt_loop_uninit(&eng.loop);
	return err ? 1 : 0;
}
