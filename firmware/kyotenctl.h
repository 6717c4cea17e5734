/* Subcommands of kyotenctl that live in files of their own. Each takes
 * its argv from the subcommand's name on and returns the exit status. */
#ifndef KT_KYOTENCTL_H
#define KT_KYOTENCTL_H

enum { KT_EXIT_REFUSED = 1, KT_EXIT_USAGE = 2, KT_EXIT_NODAEMON = 3 };

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl.h"

int kyotenctl_policy(int argc, char **argv);	/* kyotenctl-policy.c */
/* The same, returning NULL (the reason printed) when kyotend cannot be
 * reached or its answer not read, where kyotenctl_request ends the
 * program. A refusal still ends it. */
json_t *kyotenctl_try_request(uint16_t cmd, uint32_t arg);
int kyotenctl_selftest(int argc, char **argv);	/* kyotenctl-selftest.c */
/* The control socket kyotenctl talks to (-s, $KYOTEN_CTL or the default). */
const char *kyotenctl_socket_path(void);
/* The one-line policy summary of kyotenctl status. */
void kyotenctl_policy_summary(json_t *policy);

/* kyotenctl.c: one request to kyotend (pol: the policy commands' part,
 * pass_fd: a descriptor to pass, -1 none). Without keep_refusal, a
 * refusal is printed and the program exits. */
json_t *kyotenctl_request(uint16_t cmd, uint32_t arg,
			  const struct kt_ctl_policy *pol, int pass_fd,
			  bool keep_refusal);

#endif
