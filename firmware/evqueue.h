/* The management agent's events on their way to the NOC: a bounded
 * queue on disk, so that what happens while the NOC is unreachable (or
 * the box loses power before it is sent) is sent when the channel is
 * back. One file per event, written and synced before it counts as
 * queued, deleted only once the broker acknowledged it.
 *
 * When the queue is full the oldest event is folded into a summary
 * (how many, from when to when, of which classes) that goes out first:
 * nothing is dropped silently. */
#ifndef KT_EVQUEUE_H
#define KT_EVQUEUE_H

#include <stddef.h>
#include <stdint.h>

struct kt_evq {
	int dfd;
	size_t max, n;
	uint64_t head, next;		/* oldest file number, the next one */
	uint64_t summarised;		/* events folded since the last send */
	char err[256];
};

/* Opens (and makes, 0700) dir; max events before the oldest is folded. */
int kt_evq_open(struct kt_evq *q, const char *dir, size_t max);
void kt_evq_close(struct kt_evq *q);
/* Queues one event (JSON with "time" and "class"); 0 once it is on disk. */
int kt_evq_push(struct kt_evq *q, const char *json, size_t len);
/* The next event to send, oldest first, the summary before everything:
 * *json malloc'd, *num what to give kt_evq_pop once it is sent (0: the
 * summary). -ENOENT when empty. */
int kt_evq_peek(struct kt_evq *q, char **json, uint64_t *num);
int kt_evq_pop(struct kt_evq *q, uint64_t num);
/* Events waiting, the summary counted as one. */
size_t kt_evq_count(const struct kt_evq *q);

#endif
