/* The agent's on-disk event queue (evqueue.h). Files in the folder:
 * NNNNNNNNNNNNNNNNNNNN.ev (one event each, the number rising), .tmp while
 * one is written, summary.json (the folded ones). */
#include "evqueue.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fileio.h"

#define SUMMARY "summary.json"

static int write_file(struct kt_evq *q, const char *name, const void *buf, size_t len)
{
	int fd = openat(q->dfd, ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), r;

	if (fd < 0)
		return -errno;
	r = kt_write_all(fd, buf, len);
	if (!r && fsync(fd))
		r = -errno;
	close(fd);
	if (!r && renameat(q->dfd, ".tmp", q->dfd, name))
		r = -errno;
	if (!r && fsync(q->dfd))
		r = -errno;
	return r;
}

static char *read_at(struct kt_evq *q, const char *name)
{
	int fd = openat(q->dfd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;

	if (fd < 0)
		return NULL;
	if (!fstat(fd, &st) && st.st_size < (1 << 20) && (buf = malloc((size_t)st.st_size + 1))) {
		if (kt_read_all(fd, buf, (size_t)st.st_size)) {
			free(buf);
			buf = NULL;
		} else {
			buf[st.st_size] = '\0';
		}
	}
	close(fd);
	return buf;
}

static bool parse_name(const char *name, uint64_t *num)
{
	char *end;

	if (strlen(name) != 23 || strcmp(name + 20, ".ev"))
		return false;
	*num = strtoull(name, &end, 10);
	return end == name + 20;
}

int kt_evq_open(struct kt_evq *q, const char *dir, size_t max)
{
	struct dirent *e;
	DIR *d;

	memset(q, 0, sizeof(*q));
	q->max = max ? max : 1;
	q->head = UINT64_MAX;
	q->next = 1;
	if (mkdir(dir, 0700) && errno != EEXIST)
		return kt_errf(q->err, sizeof(q->err), -errno, "%s: %s", dir, strerror(errno));
	q->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (q->dfd < 0 || !(d = fdopendir(dup(q->dfd))))
		return kt_errf(q->err, sizeof(q->err), -errno, "%s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		uint64_t num;

		if (!parse_name(e->d_name, &num))
			continue;
		q->n++;
		if (num < q->head)
			q->head = num;
		if (num >= q->next)
			q->next = num + 1;
	}
	closedir(d);
	if (!q->n)
		q->head = q->next;
	return 0;
}

void kt_evq_close(struct kt_evq *q)
{
	if (q->dfd > 0)
		close(q->dfd);
	q->dfd = -1;
}

/* The oldest event into the summary, then gone. */
static int fold_oldest(struct kt_evq *q)
{
	char name[32], *text = NULL, *sum;
	json_t *ev, *s;
	const char *t, *cls;
	int r;

	for (; q->head < q->next; q->head++) {
		snprintf(name, sizeof(name), "%020" PRIu64 ".ev", q->head);
		if ((text = read_at(q, name)))
			break;
	}
	if (q->head >= q->next)
		return -ENOENT;
	ev = json_loads(text, 0, NULL);
	free(text);
	sum = read_at(q, SUMMARY);
	s = sum ? json_loads(sum, 0, NULL) : NULL;
	free(sum);
	if (!s)
		s = json_pack("{s:i, s:s, s:s, s:{}}", "summarised", 0, "first", "", "last", "",
			      "classes");
	t = json_string_value(json_object_get(ev, "time"));
	cls = json_string_value(json_object_get(ev, "class"));
	json_object_set_new(s, "summarised", json_integer(
		json_integer_value(json_object_get(s, "summarised")) + 1));
	if (t && !*json_string_value(json_object_get(s, "first")))
		json_object_set_new(s, "first", json_string(t));
	if (t)
		json_object_set_new(s, "last", json_string(t));
	if (cls) {
		json_t *c = json_object_get(s, "classes");

		json_object_set_new(c, cls, json_integer(
			json_integer_value(json_object_get(c, cls)) + 1));
	}
	json_decref(ev);
	sum = json_dumps(s, JSON_COMPACT);
	json_decref(s);
	/* The summary on disk first, then the event gone: a cut between the
	 * two counts it twice at worst, never not at all. */
	r = sum ? write_file(q, SUMMARY, sum, strlen(sum)) : -ENOMEM;
	free(sum);
	if (r)
		return r;
	if (unlinkat(q->dfd, name, 0))
		return -errno;
	q->head++;
	q->n--;
	q->summarised++;
	return 0;
}

int kt_evq_push(struct kt_evq *q, const char *json, size_t len)
{
	char name[32];
	int r;

	while (q->n >= q->max)
		if ((r = fold_oldest(q)))
			return kt_errf(q->err, sizeof(q->err), r, "folding the oldest event: %s",
				       strerror(-r));
	snprintf(name, sizeof(name), "%020" PRIu64 ".ev", q->next);
	if ((r = write_file(q, name, json, len)))
		return kt_errf(q->err, sizeof(q->err), r, "queueing an event: %s", strerror(-r));
	if (!q->n)
		q->head = q->next;
	q->next++;
	q->n++;
	return 0;
}

int kt_evq_peek(struct kt_evq *q, char **json, uint64_t *num)
{
	char name[32], *sum = read_at(q, SUMMARY);

	if (sum) {
		/* The summary as an event of its own. */
		json_t *s = json_loads(sum, 0, NULL), *ev;

		free(sum);
		ev = json_pack("{s:s, s:s, s:s, s:s, s:O, s:O, s:O, s:O}", "class", "other",
			       "cause", "event queue", "code", "KT-EVENTS-SUMMARISED",
			       "detail", "events were summarised: the queue on the box was "
			       "full while the NOC could not be reached",
			       "summarised", json_object_get(s, "summarised") ?: json_null(),
			       "first", json_object_get(s, "first") ?: json_null(),
			       "last", json_object_get(s, "last") ?: json_null(),
			       "classes", json_object_get(s, "classes") ?: json_null());
		json_decref(s);
		*json = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
		json_decref(ev);
		*num = 0;
		return *json ? 0 : -ENOMEM;
	}
	for (; q->head < q->next; q->head++) {
		snprintf(name, sizeof(name), "%020" PRIu64 ".ev", q->head);
		if ((*json = read_at(q, name))) {
			*num = q->head;
			return 0;
		}
		/* A file that is gone (or unreadable) is not waited for. */
		if (q->n)
			q->n--;
	}
	return -ENOENT;
}

int kt_evq_pop(struct kt_evq *q, uint64_t num)
{
	char name[32];

	if (!num) {
		q->summarised = 0;
		return unlinkat(q->dfd, SUMMARY, 0) && errno != ENOENT ? -errno : 0;
	}
	snprintf(name, sizeof(name), "%020" PRIu64 ".ev", num);
	if (unlinkat(q->dfd, name, 0) && errno != ENOENT)
		return -errno;
	if (num == q->head)
		q->head++;
	if (q->n)
		q->n--;
	return 0;
}

size_t kt_evq_count(const struct kt_evq *q)
{
	struct stat st;

	return q->n + !fstatat(q->dfd, SUMMARY, &st, 0);
}
