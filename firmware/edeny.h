/* The engine's side of denied-packet events: it reads the nflog socket
 * the parent bound (firmware/denials.h), names each packet's segments
 * from the running policy's table, and turns what it sees into events
 * (log entries the parent keeps and the management channel forwards)
 * and counts per segment pair.
 *
 * Events are for people: the first packet of each (source, destination,
 * protocol, port) is an event, repeats within EDENY_REPEAT_S are only
 * counted, and at most EDENY_BURST events go out at once, refilled at
 * EDENY_EVENTS_PER_S; whatever is only counted is summed up every
 * EDENY_SUMMARY_S in one event. The kernel's log rule is rate-limited
 * too (CONFIG_POLICY_DENY_LOG_RATE), so the counts here are of logged
 * packets; the ruleset's own counters have every packet. */
#ifndef KT_EDENY_H
#define KT_EDENY_H

#include <stdbool.h>
#include <stddef.h>

#include "loop.h"
#include "msg.h"
#include "nflog.h"

#define EDENY_EVENTS_PER_S 5
#define EDENY_BURST 20
#define EDENY_REPEAT_S 60
#define EDENY_SUMMARY_S 60
#define EDENY_STATS_MS 1000
#define EDENY_RECENT 256		/* flows remembered for EDENY_REPEAT_S */

int edeny_init(struct kt_loop *loop,
	       int (*send)(uint16_t type, const void *p, size_t len));
void edeny_uninit(void);
/* Takes fd (closing it when refused). */
int edeny_socket(const struct kt_msg_deny_socket *m, int fd);
int edeny_segment(const struct kt_msg_deny_segment *m);

/* For tests and the fuzz target: what the engine does with one datagram
 * from the socket, at now (monotonic seconds). */
void edeny_input(const void *buf, size_t len, int64_t now);
/* The event text for r, as logged (names from the current table). */
size_t edeny_describe(const struct kt_nflog_rec *r, char *buf, size_t len);
/* A copy of what the next stats message would say. */
void edeny_stats(struct kt_msg_deny_stats *out);

#endif
