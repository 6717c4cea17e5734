/* Structured logging.
 *
 * Every entry carries the fields of an RFC 5424 message (severity, time,
 * process, message id, structured data naming the site, device number and
 * module) and goes to three places: an in-memory ring that `kyotenctl log`
 * reads, syslog (or stderr with -d), and, in child processes, the parent
 * over the privsep channel so that the parent's ring holds the whole story.
 *
 * Message ids are stable keys (PORT_DOWN, CONFIG_BAD) so that the NOC and a
 * future Japanese message catalogue can key on them, not on English text.
 *
 * Each .c file defines KT_MODULE before including this header. */
#ifndef KT_LOG_H
#define KT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#define KT_LOG_PROC_MAX 12
#define KT_LOG_MODULE_MAX 16
#define KT_LOG_MSGID_MAX 24
#define KT_LOG_TEXT_MAX 256

struct kt_log_entry {
	int64_t time_us;	/* CLOCK_REALTIME, microseconds */
	uint32_t seq;		/* assigned by the ring that keeps it */
	uint32_t pid;
	uint8_t severity;	/* LOG_EMERG .. LOG_DEBUG */
	char proc[KT_LOG_PROC_MAX];
	char module[KT_LOG_MODULE_MAX];
	char msgid[KT_LOG_MSGID_MAX];
	char text[KT_LOG_TEXT_MAX];
};

enum kt_log_output {
	KT_LOG_TO_SYSLOG = 1,
	KT_LOG_TO_STDERR = 2,
};

typedef void (*kt_log_sink_fn)(const struct kt_log_entry *e, void *arg);

int kt_log_init(const char *proc, unsigned outputs, size_t ring_entries);
void kt_log_uninit(void);
void kt_log_set_level(int severity);
int kt_log_level(void);
void kt_log_set_site(const char *site_id, const char *device_number);
/* Children forward entries instead of keeping a ring. */
void kt_log_set_sink(kt_log_sink_fn fn, void *arg);

void kt_log(int severity, const char *module, const char *msgid,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Take an entry made elsewhere (a child's) into the ring and outputs. */
void kt_log_ingest(const struct kt_log_entry *e);
/* Check an entry that arrived from another process. */
bool kt_log_entry_valid(const struct kt_log_entry *e);

/* Calls fn for the newest `max` entries, oldest first; returns the count. */
size_t kt_log_walk(size_t max, void (*fn)(const struct kt_log_entry *, void *),
		   void *arg);
/* One RFC 5424 line (no trailing newline). */
int kt_log_format_5424(const struct kt_log_entry *e, char *buf, size_t len);
const char *kt_log_severity_name(int severity);
int kt_log_severity_parse(const char *name);

#define log_debug(id, ...) kt_log(LOG_DEBUG, KT_MODULE, id, __VA_ARGS__)
#define log_info(id, ...) kt_log(LOG_INFO, KT_MODULE, id, __VA_ARGS__)
#define log_notice(id, ...) kt_log(LOG_NOTICE, KT_MODULE, id, __VA_ARGS__)
#define log_warnx(id, ...) kt_log(LOG_WARNING, KT_MODULE, id, __VA_ARGS__)
#define log_errx(id, ...) kt_log(LOG_ERR, KT_MODULE, id, __VA_ARGS__)
#define log_crit(id, ...) kt_log(LOG_CRIT, KT_MODULE, id, __VA_ARGS__)

#endif
