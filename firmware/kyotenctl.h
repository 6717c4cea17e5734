/* Subcommands of kyotenctl that live in files of their own. Each takes
 * its argv from the subcommand's name on and returns the exit status. */
#ifndef KT_KYOTENCTL_H
#define KT_KYOTENCTL_H

enum { KT_EXIT_REFUSED = 1, KT_EXIT_USAGE = 2, KT_EXIT_NODAEMON = 3 };

int kyotenctl_policy(int argc, char **argv);	/* kyotenctl-policy.c */

#endif
