/* The control socket: local administration through kyotenctl.
 *
 * Who may ask: root, the daemon's own user, and members of the
 * PRIVSEP_USER group (checked with SO_PEERCRED and the socket's mode).
 * What they may send: one fixed-size request (ctl.h), nothing to parse;
 * the policy commands add a fixed-size part and at most one descriptor.
 * A client that stalls is dropped after KT_CTL_TIMEOUT_MS. */
#define KT_MODULE "ctl"
#include "kyotend.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "text.h"

static void client_close(struct kyotend *d, struct kt_ctl_client *c)
{
	kt_loop_fd_del(&d->loop, &c->h);
	kt_timer_cancel(&d->loop, &c->timeout);
	close(c->h.fd);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->out);
	c->out = NULL;
	c->used = false;
}

static void client_send(struct kyotend *d, struct kt_ctl_client *c, json_t *j)
{
	if (!j)
		j = json_pack("{s:b, s:s}", "ok", 0, "error",
			      "the answer could not be encoded");
	c->out = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!c->out) {
		client_close(d, c);
		return;
	}
	c->out_len = strlen(c->out);
	c->out_off = 0;
	kt_loop_fd_mod(&d->loop, &c->h, EPOLLOUT);
}

static json_t *error_json(const char *msg)
{
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

static void log_entry_json(const struct kt_log_entry *e, void *arg)
{
	char line[KT_LOG_TEXT_MAX + 256];

	kt_log_format_5424(e, line, sizeof(line));
	json_array_append_new(arg, json_pack(
		"{s:i, s:I, s:s, s:s, s:s, s:s, s:s, s:s}",
		"seq", (int)e->seq, "time-us", (json_int_t)e->time_us,
		"severity", kt_log_severity_name(e->severity), "proc", e->proc,
		"module", e->module, "msgid", e->msgid, "text", e->text,
		"rfc5424", line));
}

/* The policy part of a request: its text fields are short lines of
 * UTF-8, its numbers in range, and a descriptor comes exactly when it
 * says so and the command takes one. NULL if it is well formed. */
static const char *policy_req_bad(const struct kt_ctl_client *c)
{
	const struct kt_ctl_policy *p = &c->pol;
	bool takes_fd = c->req.cmd == KT_CTL_POLICY_APPLY ||
			c->req.cmd == KT_CTL_POLICY_DIFF;

	if (c->req.arg || p->options & ~(uint32_t)KT_CTL_POL_OPTIONS)
		return "unknown policy request options";
	if (!memchr(p->name, '\0', sizeof(p->name)) ||
	    !memchr(p->comment, '\0', sizeof(p->comment)))
		return "the file name or the comment is not terminated";
	if (!kt_text_valid(p->name) || !kt_text_valid(p->comment))
		return "the file name or the comment is not printable UTF-8 on "
		       "one line";
	if (p->timeout_s && (p->timeout_s < 5 || p->timeout_s > 3600))
		return "the confirmation timeout is not 5 to 3600 seconds";
	if (!!(p->options & KT_CTL_POL_FILE) != (c->fd >= 0) ||
	    (c->fd >= 0 && !takes_fd))
		return "a descriptor came where none was expected, or none came";
	if (c->req.cmd == KT_CTL_POLICY_APPLY && c->fd < 0)
		return "policy apply needs the file's descriptor";
	if (c->req.cmd == KT_CTL_POLICY_APPLY && !p->name[0])
		return "the policy file has no name";
	return NULL;
}

static void who(const struct kt_ctl_client *c, struct policyd_who *w)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	w->uid = c->uid;
	if (getpwuid_r((uid_t)c->uid, &pw, buf, sizeof(buf), &res) || !res)
		snprintf(w->user, sizeof(w->user), "uid-%u", c->uid);
	else
		snprintf(w->user, sizeof(w->user), "%s", pw.pw_name);
	kt_text_clean(w->user);
}

static void handle(struct kyotend *d, struct kt_ctl_client *c)
{
	struct policyd_who w;
	const char *bad;
	json_t *j;

	/* Refused clients get their answer after their request is read:
	 * closing with the request unread would reset the connection and
	 * the client would never see why. */
	if (c->refusal) {
		client_send(d, c, error_json(c->refusal));
		return;
	}
	if (c->req.magic != KT_CTL_MAGIC || c->req.flags != 0 ||
	    c->req.cmd == 0 || c->req.cmd >= KT_CTL_CMD_COUNT || c->extra_fds) {
		d->ctl_bad++;
		log_warnx("CTL_BAD", "malformed control request (magic %08x, "
			  "command %u)", c->req.magic, c->req.cmd);
		client_send(d, c, error_json("malformed request: kyotenctl and "
					     "kyotend versions differ?"));
		return;
	}
	if (kt_ctl_has_policy_body(c->req.cmd)) {
		if ((bad = policy_req_bad(c))) {
			d->ctl_bad++;
			log_warnx("CTL_BAD", "malformed policy request (command %u): "
				  "%s", c->req.cmd, bad);
			client_send(d, c, error_json(bad));
			return;
		}
		who(c, &w);
		client_send(d, c, policyd_ctl(&d->policy, c->req.cmd, &c->pol,
					      c->fd, &w));
		return;
	}
	if (c->fd >= 0) {
		d->ctl_bad++;
		log_warnx("CTL_BAD", "control request %u came with a descriptor",
			  c->req.cmd);
		client_send(d, c, error_json("malformed request: a descriptor "
					     "came with a command that takes none"));
		return;
	}
	switch (c->req.cmd) {
	case KT_CTL_STATUS:
		client_send(d, c, kyotend_status(d));
		break;
	case KT_CTL_LOG:
		j = json_array();
		kt_log_walk(c->req.arg ? c->req.arg : (uint32_t)-1, log_entry_json, j);
		client_send(d, c, json_pack("{s:b, s:o}", "ok", 1, "entries", j));
		break;
	case KT_CTL_REBOOT:
		if (c->req.arg) {
			d->ctl_bad++;
			client_send(d, c, error_json("reboot takes no argument"));
			break;
		}
		who(c, &w);
		kyotend_reboot(d, w.user);
		client_send(d, c, json_pack("{s:b, s:i}", "ok", 1, "in-ms",
					    KYOTEND_REBOOT_DELAY_MS));
		break;
	case KT_CTL_RELOAD:
		if (kyotend_reload(d))
			client_send(d, c, error_json(d->last_error));
		else
			client_send(d, c, json_pack("{s:b, s:i}", "ok", 1,
						    "generation", (int)d->generation));
		break;
	}
}

/* The header first; the policy commands' part after it once the header
 * says so (a malformed header is answered as it is). */
static size_t request_len(const struct kt_ctl_client *c)
{
	if (c->in_len < sizeof(c->req))
		return sizeof(c->req);
	return sizeof(c->req) + (kt_ctl_has_policy_body(c->req.cmd) &&
				 c->req.magic == KT_CTL_MAGIC
				 ? sizeof(c->pol) : 0);
}

/* recv, keeping one descriptor passed with the bytes (SCM_RIGHTS); any
 * more, or one after the first, are closed and make the request bad. */
static ssize_t recv_some(struct kt_ctl_client *c, char *buf, size_t len)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(4 * sizeof(int))];
	} cm;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cm.b, .msg_controllen = sizeof(cm.b) };
	ssize_t n = recvmsg(c->h.fd, &mh, MSG_CMSG_CLOEXEC);

	if (n < 0)
		return n;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
		size_t nfd;
		int fds[4];

		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (nfd > 4)
			nfd = 4;
		memcpy(fds, CMSG_DATA(h), nfd * sizeof(int));
		for (size_t i = 0; i < nfd; i++) {
			if (c->fd < 0 && !c->extra_fds && i == 0 && nfd == 1) {
				c->fd = fds[i];
				continue;
			}
			close(fds[i]);
			c->extra_fds = true;
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		c->extra_fds = true;
	return n;
}

static void on_client(struct kt_fd *h, uint32_t events)
{
	struct kt_ctl_client *c = container_of(h, struct kt_ctl_client, h);
	struct kyotend *d = c->d;
	ssize_t n;

	if (c->out) {
		n = send(h->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0 || (c->out_off += (size_t)n) == c->out_len)
			client_close(d, c);
		return;
	}
	if (events & (EPOLLHUP | EPOLLERR) && !(events & EPOLLIN)) {
		client_close(d, c);
		return;
	}
	n = recv_some(c, (char *)c->in + c->in_len, request_len(c) - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(d, c);
		return;
	}
	c->in_len += (size_t)n;
	if (c->in_len == sizeof(c->req))
		memcpy(&c->req, c->in, sizeof(c->req));
	if (c->in_len == request_len(c)) {
		if (c->in_len > sizeof(c->req))
			memcpy(&c->pol, c->in + sizeof(c->req), sizeof(c->pol));
		handle(d, c);
		/* Handling may take long (applying a policy of many flows):
		 * the answer gets its own time to leave, counted from now,
		 * not from the loop's last turn. */
		if (c->used)
			kt_timer_set(&d->loop, &c->timeout, KT_CTL_TIMEOUT_MS +
				     (d->loop.clock() - kt_loop_now(&d->loop)));
	}
}

static void on_timeout(struct kt_timer *t)
{
	struct kt_ctl_client *c = container_of(t, struct kt_ctl_client, timeout);

	log_debug("CTL_TIMEOUT", "control client too slow; dropped");
	client_close(c->d, c);
}

static gid_t ctl_gid(void)
{
	struct group *g = getgrnam(CONFIG_PRIVSEP_USER);

	return g ? g->gr_gid : (gid_t)-1;
}

/* Root, the daemon's own user, or a process in the group: primary or
 * supplementary, as the kernel recorded it at connect (SO_PEERGROUPS). */
static bool allowed(int fd, const struct ucred *cr)
{
	gid_t gid = ctl_gid(), groups[256];
	socklen_t len = sizeof(groups);

	if (cr->uid == 0 || cr->uid == geteuid())
		return true;
	if (gid == (gid_t)-1)
		return false;
	if (cr->gid == gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

static void on_accept(struct kt_fd *h, uint32_t events)
{
	struct kyotend *d = container_of(h, struct kyotend, ctl_listen);
	struct kt_ctl_client *c = NULL;
	const char *refusal = NULL;
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd;

	(void)events;
	fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) || !allowed(fd, &cr)) {
		d->ctl_denied++;
		log_warnx("CTL_DENIED", "control connection from uid %u gid %u "
			  "refused", (unsigned)cr.uid, (unsigned)cr.gid);
		refusal = "permission denied: root or group " CONFIG_PRIVSEP_USER
			  " only";
	}
	for (size_t i = 0; i < CONFIG_CTL_MAX_CLIENTS && !c; i++)
		if (!d->clients[i].used)
			c = &d->clients[i];
	if (!c) {
		/* One slot more than the limit, kept for saying "busy". */
		d->ctl_refused++;
		refusal = "busy: too many control connections";
		if (!d->clients[CONFIG_CTL_MAX_CLIENTS].used)
			c = &d->clients[CONFIG_CTL_MAX_CLIENTS];
	}
	if (!c) {
		close(fd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->d = d;
	c->fd = -1;
	c->uid = (uint32_t)cr.uid;
	c->used = true;
	c->refusal = refusal;
	c->h.fd = fd;
	c->h.events = EPOLLIN;
	c->h.cb = on_client;
	c->timeout.cb = on_timeout;
	if (kt_loop_fd_add(&d->loop, &c->h)) {
		close(fd);
		c->used = false;
		return;
	}
	kt_timer_set(&d->loop, &c->timeout, KT_CTL_TIMEOUT_MS);
}

/* A socket file left by a daemon that died is removed; one that still
 * answers belongs to a running daemon, which must not be displaced. */
static int claim_path(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, busy;

	/* Never remove anything but a socket: a typo in -s must not delete
	 * the configuration file. */
	if (lstat(sa->sun_path, &st) == 0 && !S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	busy = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	if (busy)
		return -EADDRINUSE;
	if (unlink(sa->sun_path) && errno != ENOENT)
		return -errno;
	return 0;
}

int ctl_init(struct kyotend *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	gid_t gid = ctl_gid();
	mode_t old;
	int fd, err;

	if (strlen(d->ctl_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, d->ctl_path);
	if ((err = claim_path(&sa)))
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(0117);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old);
	if (!err && gid != (gid_t)-1 && geteuid() == 0 &&
	    chown(d->ctl_path, 0, gid))
		err = -errno;
	if (!err && listen(fd, 16))
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	d->ctl_listen.fd = fd;
	d->ctl_listen.events = EPOLLIN;
	d->ctl_listen.cb = on_accept;
	if ((err = kt_loop_fd_add(&d->loop, &d->ctl_listen))) {
		close(fd);
		unlink(d->ctl_path);
	}
	return err;
}

void ctl_uninit(struct kyotend *d)
{
	for (size_t i = 0; i <= CONFIG_CTL_MAX_CLIENTS; i++)
		if (d->clients[i].used)
			client_close(d, &d->clients[i]);
	kt_loop_fd_del(&d->loop, &d->ctl_listen);
	close(d->ctl_listen.fd);
	unlink(d->ctl_path);
}
