/* A request to kyotend's control socket (ctlclient.h). */
#include "ctlclient.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fileio.h"

int kt_ctl_call(const char *sock, uint16_t cmd, uint32_t arg,
		const struct kt_ctl_policy *pol, int pass_fd, json_t **out,
		char *err, size_t errlen)
{
	struct kt_ctl_req req = { .magic = KT_CTL_MAGIC, .cmd = cmd, .arg = arg };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	/* Applying a policy of many flows takes the daemon a while. */
	struct timeval tv = { .tv_sec = pol ? 120 : 10 };
	uint8_t msg[sizeof(req) + sizeof(*pol)];
	size_t msg_len = sizeof(req), len = 0, cap = 0;
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = { .iov_base = msg };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	json_error_t jerr;
	char *buf = NULL;
	int fd, r = 0;

	*out = NULL;
	if (strlen(sock) >= sizeof(sa.sun_path))
		return kt_errf(err, errlen, -EINVAL, "socket path too long: %s", sock);
	strcpy(sa.sun_path, sock);
	memcpy(msg, &req, sizeof(req));
	if (pol) {
		memcpy(msg + sizeof(req), pol, sizeof(*pol));
		msg_len += sizeof(*pol);
	}
	iov.iov_len = msg_len;
	if (pass_fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof(cm.b);
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cm.h), &pass_fd, sizeof(int));
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		r = kt_errf(err, errlen, -EHOSTDOWN, "cannot reach kyotend at %s: %s",
			    sock, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)msg_len) {
		r = kt_errf(err, errlen, -EIO, "sending the request failed: %s",
			    strerror(errno));
		close(fd);
		return r;
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *nb = realloc(buf, cap = cap ? cap * 2 : 16384);

			if (!nb) {
				r = kt_errf(err, errlen, -ENOMEM, "out of memory");
				break;
			}
			buf = nb;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = kt_errf(err, errlen, -EIO, "no answer from kyotend: %s",
				    strerror(errno));
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (!r) {
		buf[len] = '\0';
		*out = json_loads(buf, 0, &jerr);
		if (!*out)
			r = kt_errf(err, errlen, -EBADMSG, "kyotend's answer is not JSON "
				    "(%s)", jerr.text);
	}
	free(buf);
	return r;
}
