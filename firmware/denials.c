/* Denied-packet events, the parent's side (denials.h says what and why). */
#define KT_MODULE "policy"
#include "denials.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "generated/autoconf.h"
#include "log.h"
#include "nflog.h"
#include "policy.h"

_Static_assert(KT_MSG_DENY_SEGMENTS >= KT_POL_MAX_SEGMENTS &&
	       KT_MSG_DENY_PREFIXES >= KT_POL_MAX_PREFIXES &&
	       sizeof(((struct kt_msg_deny_segment *)0)->name) >= KT_POL_NAME_MAX,
	       "a policy's segments must fit the engine's table");

static void open_socket(struct denials *dn)
{
	int fd = sys_nflog_open(dn->sys, dn->group);

	if (fd < 0) {
		char fault[sizeof(dn->fault)];

		snprintf(fault, sizeof(fault), "cannot listen to nflog group %u: %s%s",
			 dn->group, strerror(-fd),
			 fd == -EBUSY ? " (another program listens to it)" : "");
		/* Said once per fault, not every retry. */
		if (strcmp(fault, dn->fault))
			log_errx("NFLOG_OPEN", "%s; denied packets are still "
				 "dropped and counted, but not reported one by "
				 "one; retrying every %d s", fault,
				 KT_DENIALS_RETRY_MS / 1000);
		snprintf(dn->fault, sizeof(dn->fault), "%s", fault);
		kt_timer_set(dn->loop, &dn->retry, KT_DENIALS_RETRY_MS);
		return;
	}
	if (dn->fault[0])
		log_notice("NFLOG_OPEN", "listening to nflog group %u again",
			   dn->group);
	dn->fault[0] = '\0';
	dn->fd = fd;
	dn->socket_changed = true;
}

int denials_init(struct denials *dn, struct sys *sys, struct kt_loop *loop,
		 void (*retry)(struct kt_timer *t))
{
	memset(dn, 0, sizeof(*dn));
	dn->sys = sys;
	dn->loop = loop;
	dn->retry.cb = retry;
	dn->fd = -1;
	dn->group = CONFIG_POLICY_NFLOG_GROUP;
	dn->segs = calloc(KT_MSG_DENY_SEGMENTS, sizeof(*dn->segs));
	if (!dn->segs)
		return -ENOMEM;
	/* Not fatal: the ruleset drops what it must without a listener. */
	open_socket(dn);
	return 0;
}

void denials_uninit(struct denials *dn)
{
	kt_timer_cancel(dn->loop, &dn->retry);
	if (dn->fd >= 0)
		close(dn->fd);
	dn->fd = -1;
	free(dn->segs);
	dn->segs = NULL;
}

bool denials_retry(struct denials *dn)
{
	if (dn->fd < 0)
		open_socket(dn);
	return dn->socket_changed;
}

void denials_set_policy(struct denials *dn, const struct kt_policy *p,
			uint32_t generation)
{
	memset(dn->segs, 0, KT_MSG_DENY_SEGMENTS * sizeof(*dn->segs));
	dn->n_segs = p ? p->n_segments : 0;
	dn->has_policy = p != NULL;
	dn->policy_generation = generation;
	for (size_t i = 0; i < dn->n_segs; i++) {
		const struct kt_pol_segment *s = &p->segments[i];
		struct kt_msg_deny_segment *m = &dn->segs[i];

		m->index = (uint32_t)i;
		m->count = (uint32_t)dn->n_segs;
		m->policy_generation = generation;
		snprintf(m->name, sizeof(m->name), "%s", s->name);
		m->kind = (uint8_t)s->kind;
		m->n_prefixes = (uint8_t)s->n_prefixes;
		for (size_t j = 0; j < s->n_prefixes; j++) {
			m->prefixes[j].family = (uint16_t)s->prefixes[j].addr.family;
			m->prefixes[j].len = s->prefixes[j].len;
			memcpy(m->prefixes[j].addr, s->prefixes[j].addr.bytes, 16);
		}
	}
	/* Counts name segments by index: those of the old table are gone. */
	memset(&dn->stats, 0, sizeof(dn->stats));
	dn->have_stats = false;
	dn->segs_changed = true;
}

void denials_send(struct denials *dn, denials_send_fn send, void *arg,
		  bool everything)
{
	if (dn->fd >= 0 && (everything || dn->socket_changed)) {
		struct kt_msg_deny_socket m = { .group = dn->group };

		send(arg, KT_MSG_DENY_SOCKET, &m, sizeof(m), dn->fd);
	}
	dn->socket_changed = false;
	if (!everything && !dn->segs_changed)
		return;
	dn->segs_changed = false;
	if (!dn->n_segs) {
		struct kt_msg_deny_segment none = {
			.policy_generation = dn->policy_generation,
		};

		send(arg, KT_MSG_DENY_SEGMENT, &none, sizeof(none), -1);
		return;
	}
	for (size_t i = 0; i < dn->n_segs; i++)
		send(arg, KT_MSG_DENY_SEGMENT, &dn->segs[i], sizeof(dn->segs[i]), -1);
}

static bool end_ok(const struct denials *dn, uint8_t e)
{
	return e < dn->n_segs || e == KT_DENY_BOX || e == KT_DENY_UNKNOWN;
}

int denials_stats(struct denials *dn, const struct kt_msg_deny_stats *m)
{
	/* Counts for an older table would be put on the wrong names. */
	if (m->policy_generation != dn->policy_generation)
		return 0;
	if (m->n > KT_MSG_DENY_PAIRS)
		goto refused;
	for (uint32_t i = 0; i < m->n; i++)
		if (!end_ok(dn, m->pairs[i].from) || !end_ok(dn, m->pairs[i].to) ||
		    m->pairs[i].kind >= KT_NFLOG_KIND_COUNT)
			goto refused;
	dn->stats = *m;
	dn->have_stats = true;
	return 0;
refused:
	if (!dn->refused_stats++)
		log_warnx("DENY_STATS", "refused denied-packet counts from the "
			  "engine: a pair names no segment (shown once)");
	return -EINVAL;
}

static const char *end_name(const struct denials *dn, uint8_t e)
{
	if (e == KT_DENY_BOX)
		return "box";
	if (e < dn->n_segs)
		return dn->segs[e].name;
	return "unknown";
}

json_t *denials_status(const struct denials *dn)
{
	static const char *const kinds[KT_NFLOG_KIND_COUNT] = {
		[KT_NFLOG_DENY_INPUT] = "denied-input",
		[KT_NFLOG_DENY_FORWARD] = "denied-forward",
		[KT_NFLOG_DENY_OUTPUT] = "denied-output",
		[KT_NFLOG_ALLOW] = "allowed-logged",
	};
	const struct kt_msg_deny_stats *s = &dn->stats;
	json_t *pairs = json_array(), *bad;

	for (uint32_t i = 0; dn->have_stats && i < s->n; i++)
		json_array_append_new(pairs, json_pack(
			"{s:s, s:s, s:s, s:I, s:I}",
			"from", end_name(dn, s->pairs[i].from),
			"to", end_name(dn, s->pairs[i].to),
			"kind", kinds[s->pairs[i].kind],
			"packets", (json_int_t)s->pairs[i].packets,
			"last", (json_int_t)s->pairs[i].last));
	bad = json_pack("{s:I, s:I, s:I, s:I}",
			"bad-length", (json_int_t)s->malformed[KT_NFLOG_BAD_LENGTH],
			"bad-prefix", (json_int_t)s->malformed[KT_NFLOG_BAD_PREFIX],
			"bad-payload", (json_int_t)s->malformed[KT_NFLOG_BAD_PAYLOAD],
			"lost", (json_int_t)s->malformed[3]);
	return json_pack("{s:i, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:o, s:o, s:i}",
			 "nflog-group", (int)dn->group,
			 "state", dn->fd >= 0 ? "listening" : "unavailable",
			 "fault", dn->fault,
			 "policy-generation", (int)dn->policy_generation,
			 "records", (json_int_t)s->records,
			 "events", (json_int_t)s->events,
			 "suppressed", (json_int_t)s->suppressed,
			 "overflow", (json_int_t)s->overflow,
			 "malformed", bad, "pairs", pairs,
			 "refused-counts", (int)dn->refused_stats);
}
