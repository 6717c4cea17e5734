/* One request to kyotend over its control socket (ctl.h) and its JSON
 * answer: what kyotenctl and the management agent send. */
#ifndef KT_CTLCLIENT_H
#define KT_CTLCLIENT_H

#include <jansson.h>
#include <stdint.h>

#include "ctl.h"

/* pol: the policy commands' part (NULL: none); pass_fd: a descriptor to
 * pass along (-1: none). 0 with *out (the answer, refusals included), or
 * -EINVAL (socket path too long), -EHOSTDOWN (kyotend not reachable),
 * -EIO (the request or the answer broke off), -EBADMSG (the answer is
 * not JSON), -ENOMEM; err says which. */
int kt_ctl_call(const char *sock, uint16_t cmd, uint32_t arg,
		const struct kt_ctl_policy *pol, int pass_fd, json_t **out,
		char *err, size_t errlen);

#endif
