/* The parent's side of denied-packet events (firmware/edeny.h is the
 * engine's): it opens and binds the nflog socket the policy's log rules
 * send to (binding needs CAP_NET_ADMIN; reading what arrives is parsing
 * network input, which is the engine's), passes the engine a duplicate
 * with the running policy's segment table, and keeps the counts per
 * segment pair the engine reports, for `kyotenctl status --json`
 * ("denials") and the management channel. */
#ifndef KT_DENIALS_H
#define KT_DENIALS_H

#include <jansson.h>

#include "loop.h"
#include "msg.h"
#include "sys.h"

struct kt_policy;

#define KT_DENIALS_RETRY_MS 30000

struct denials {
	struct sys *sys;
	struct kt_loop *loop;
	struct kt_timer retry;
	int fd;				/* -1: not open (see fault) */
	uint16_t group;
	char fault[160];
	struct kt_msg_deny_segment *segs;	/* KT_MSG_DENY_SEGMENTS */
	size_t n_segs;
	uint32_t policy_generation;
	bool has_policy, segs_changed, socket_changed;
	struct kt_msg_deny_stats stats;	/* as the engine last said */
	bool have_stats;
	uint64_t refused_stats;
};

typedef void (*denials_send_fn)(void *arg, uint16_t type, const void *p,
				size_t len, int fd);

/* retry: called when a socket that could not be opened may be tried
 * again (denials_retry does it). */
int denials_init(struct denials *dn, struct sys *sys, struct kt_loop *loop,
		 void (*retry)(struct kt_timer *t));
void denials_uninit(struct denials *dn);
/* Tries the socket again; true when it changed (send it). */
bool denials_retry(struct denials *dn);
/* The running policy (NULL: none) and its generation. */
void denials_set_policy(struct denials *dn, const struct kt_policy *p,
			uint32_t generation);
/* What the engine has not had yet (everything: a fresh engine). */
void denials_send(struct denials *dn, denials_send_fn send, void *arg,
		  bool everything);
/* The engine's counts, checked: 0, or -EINVAL when refused. */
int denials_stats(struct denials *dn, const struct kt_msg_deny_stats *m);
json_t *denials_status(const struct denials *dn);

#endif
