#define KT_MODULE "log"
#include "log.h"
#include "text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* RFC 5612 reserves 32473 for documentation; Kyoten has no enterprise
 * number of its own yet, and the SD-ID must carry one. */
#define KT_SD_ID "kyoten@32473"

static struct {
	char proc[KT_LOG_PROC_MAX];
	char site[32];
	char device[64];
	char host[64];
	unsigned outputs;
	int level;
	struct kt_log_entry *ring;
	size_t cap, head, count;
	uint32_t seq;
	kt_log_sink_fn sink;
	void *sink_arg;
} lg = { .proc = "kyoten", .outputs = KT_LOG_TO_STDERR, .level = LOG_INFO };

static const char *const sev_names[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
};

const char *kt_log_severity_name(int s)
{
	return s >= 0 && s <= LOG_DEBUG ? sev_names[s] : "?";
}

int kt_log_severity_parse(const char *name)
{
	for (int i = 0; i <= LOG_DEBUG; i++)
		if (!strcmp(name, sev_names[i]))
			return i;
	return -1;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

int kt_log_init(const char *proc, unsigned outputs, size_t ring_entries)
{
	copy_str(lg.proc, sizeof(lg.proc), proc);
	lg.outputs = outputs;
	if (gethostname(lg.host, sizeof(lg.host)) || !lg.host[0])
		copy_str(lg.host, sizeof(lg.host), "-");
	free(lg.ring);
	lg.ring = NULL;
	lg.cap = lg.head = lg.count = 0;
	if (ring_entries) {
		lg.ring = calloc(ring_entries, sizeof(*lg.ring));
		if (!lg.ring)
			return -ENOMEM;
		lg.cap = ring_entries;
	}
	if (outputs & KT_LOG_TO_SYSLOG)
		openlog(lg.proc, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	return 0;
}

void kt_log_uninit(void)
{
	if (lg.outputs & KT_LOG_TO_SYSLOG)
		closelog();
	free(lg.ring);
	lg.ring = NULL;
	lg.cap = lg.head = lg.count = 0;
	lg.sink = NULL;
}

void kt_log_set_level(int s)
{
	lg.level = s;
}

int kt_log_level(void)
{
	return lg.level;
}

void kt_log_set_site(const char *site, const char *device)
{
	copy_str(lg.site, sizeof(lg.site), site);
	copy_str(lg.device, sizeof(lg.device), device);
}

void kt_log_set_sink(kt_log_sink_fn fn, void *arg)
{
	lg.sink = fn;
	lg.sink_arg = arg;
}

/* RFC 5424 section 6.3.3: '"', '\' and ']' are escaped in PARAM-VALUE. */
static size_t sd_escape(char *out, size_t cap, const char *in)
{
	size_t n = 0;

	for (; *in && n + 2 < cap; in++) {
		if (*in == '"' || *in == '\\' || *in == ']')
			out[n++] = '\\';
		out[n++] = *in;
	}
	out[n] = '\0';
	return n;
}

int kt_log_format_5424(const struct kt_log_entry *e, char *buf, size_t len)
{
	char ts[64], site[80], dev[140];
	time_t sec = (time_t)(e->time_us / 1000000);
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%06luZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (unsigned long)(e->time_us % 1000000) % 1000000);
	sd_escape(site, sizeof(site), lg.site[0] ? lg.site : "-");
	sd_escape(dev, sizeof(dev), lg.device[0] ? lg.device : "-");
	/* PRI = facility daemon (3) * 8 + severity. */
	return snprintf(buf, len,
			"<%d>1 %s %s %s %ld %s [" KT_SD_ID
			" site=\"%s\" device=\"%s\" proc=\"%s\" module=\"%s\"] %s",
			3 * 8 + e->severity, ts, lg.host, "kyotend",
			(long)e->pid, e->msgid[0] ? e->msgid : "-", site, dev,
			e->proc, e->module, e->text);
}

static void emit(const struct kt_log_entry *e)
{
	if (lg.ring) {
		struct kt_log_entry *slot = &lg.ring[lg.head];

		*slot = *e;
		slot->seq = ++lg.seq;
		lg.head = (lg.head + 1) % lg.cap;
		if (lg.count < lg.cap)
			lg.count++;
	}
	if (lg.outputs & KT_LOG_TO_STDERR) {
		char line[KT_LOG_TEXT_MAX + 256];

		kt_log_format_5424(e, line, sizeof(line));
		fprintf(stderr, "%s\n", line);
	}
	if (lg.outputs & KT_LOG_TO_SYSLOG)
		/* The local syslog adds time and host; the structured part
		 * travels in the message so that nothing is lost. */
		syslog(e->severity, "%s [%s] %s: %s", e->msgid, e->proc,
		       e->module, e->text);
}

void kt_log(int severity, const char *module, const char *msgid,
	    const char *fmt, ...)
{
	struct kt_log_entry e;
	struct timespec ts;
	va_list ap;
	int saved = errno;

	if (severity > lg.level)
		return;
	memset(&e, 0, sizeof(e));
	clock_gettime(CLOCK_REALTIME, &ts);
	e.time_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	e.severity = (uint8_t)severity;
	e.pid = (uint32_t)getpid();
	copy_str(e.proc, sizeof(e.proc), lg.proc);
	copy_str(e.module, sizeof(e.module), module);
	copy_str(e.msgid, sizeof(e.msgid), msgid);
	va_start(ap, fmt);
	vsnprintf(e.text, sizeof(e.text), fmt, ap);
	va_end(ap);
	kt_text_clean(e.text);
	if (lg.sink)
		lg.sink(&e, lg.sink_arg);
	else
		emit(&e);
	errno = saved;
}

static bool terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

bool kt_log_entry_valid(const struct kt_log_entry *e)
{
	return e->severity <= LOG_DEBUG && terminated(e->proc, sizeof(e->proc)) &&
	       terminated(e->module, sizeof(e->module)) &&
	       terminated(e->msgid, sizeof(e->msgid)) &&
	       terminated(e->text, sizeof(e->text));
}

void kt_log_ingest(const struct kt_log_entry *e)
{
	struct kt_log_entry c = *e;

	/* From another process: nothing in it may break a line or JSON. */
	kt_text_clean(c.proc);
	kt_text_clean(c.module);
	kt_text_clean(c.msgid);
	kt_text_clean(c.text);
	if (c.severity <= lg.level)
		emit(&c);
}

size_t kt_log_walk(size_t max, void (*fn)(const struct kt_log_entry *, void *),
		   void *arg)
{
	size_t n = max < lg.count ? max : lg.count;
	size_t start = (lg.head + lg.cap - n) % (lg.cap ? lg.cap : 1);

	for (size_t i = 0; i < n; i++)
		fn(&lg.ring[(start + i) % lg.cap], arg);
	return n;
}
