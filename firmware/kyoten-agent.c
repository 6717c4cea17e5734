/* kyoten-agent: the box's management agent (docs/noc.md, "The agent").
 *
 *   kyoten-agent [-c SITE.yaml] [-s SOCKET] [-q QUEUE-DIR] [-i SECONDS]
 *                [-u USER] [-f]
 *
 * One outbound MQTT connection to the NOC's broker over TLS 1.3 with the
 * box's certificate (firmware/mqttc.c), kept up with back-off and jitter;
 * its will marks the site offline the moment it drops. It goes through
 * the management tunnel (from the box's management address, which
 * kyotend routes by that segment's path) or over a line, as
 * management.via says (channel_check). It reads kyotend
 * over the control socket and sends:
 *
 *   kyoten/site/SITE/state      "online" (retained; the will: "offline")
 *   kyoten/site/SITE/telemetry  every -i seconds (10) and at once when a
 *                               path changes state (retained, QoS 1)
 *   kyoten/site/SITE/reply      what became of a policy the NOC pushed
 *   kyoten/site/SITE/event      every event with the annex fields
 *                               (firmware/annex.h), QoS 1, through the
 *                               on-disk queue (firmware/evqueue.h), so
 *                               that none is lost while the NOC is away
 *
 * and takes the NOC's signed commands (firmware/polsign.h) on
 * kyoten/site/SITE/cmd/policy, .../rollback, .../diagnose and .../reboot
 * (handle_cmd).
 *
 * Privilege separation: started as root, it reads its key and
 * certificate and opens its queue, then runs as USER (default the
 * firmware's "kyoten") with nothing kyotend's control socket does not
 * allow that user. It parses the broker's packets; it writes nothing to
 * the kernel. One loop: wait for the broker (at most a second), poll
 * kyotend, send what is due. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "annex.h"
#include "config.h"
#include "ctlclient.h"
#include "evqueue.h"
#include "fileio.h"
#include "generated/autoconf.h"
#include "image.h"
#include "mqttc.h"
#include "pki.h"
#include "polsign.h"
#include "suite.h"

#define die kt_die
#define QUEUE_MAX 2000		/* events kept on disk while the NOC is away */

static volatile sig_atomic_t stopping;

struct agent {
	struct kt_config cfg;
	const char *sock, *qdir;
	unsigned interval_s;
	char *ca, *crt, *key;
	size_t ca_len, crt_len, key_len;
	struct kt_mqttc *m;
	struct kt_evq q;
	char topic_state[96], topic_tele[96], topic_event[96], topic_cmd[96], topic_reply[96];
	uint8_t policy_pub[32];		/* the NOC's policy-signing key */
	struct kt_taken taken;		/* commands taken: replays refused */
	/* Where in kyotend's log we are: its start time and the last entry
	 * queued (kept in the queue folder, so a restart sends no twice). */
	int64_t started;
	uint32_t seq;
	char paths_sig[512];		/* the paths' states at the last telemetry */
	time_t last_tele, next_try;
	unsigned backoff;
	/* The channel: through the management tunnel (from the box's
	 * address in the management segment, which kyotend routes by that
	 * segment's path) or over a line, as management.via says. */
	enum kt_mgmt_via via_now;	/* of a->m */
	bool tunnel_ok;			/* the management segment has a path */
	double tunnel_since_s;		/* and has had it this long */
	char source[64];		/* the box's address there */
	time_t tunnel_retry_at;		/* after a failed try through it, */
	unsigned tunnel_retry_s;	/* 60 s, doubling to an hour */
	char tunnel_path[64];		/* the segment's path at the last look */
	bool said_waiting;
	uint64_t sent, queued, connects;
	unsigned long long cpu_total, cpu_idle;	/* /proc/stat at the last look */
};

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static char *slurp(const char *path, size_t *len)
{
	uint8_t *b;
	int r = kt_read_file(path, 65536, &b, len);

	if (r) {
		die("%s: %s", path, strerror(-r));
		return NULL;
	}
	return (char *)b;
}

static void cursor_save(struct agent *a)
{
	char text[64], path[KT_PATH_MAX + 16];
	int n = snprintf(text, sizeof(text), "%lld %u\n", (long long)a->started, a->seq);

	snprintf(path, sizeof(path), "%s/cursor", a->qdir);
	kt_write_file_replace(path, text, (size_t)n, 0600);
}

static void cursor_load(struct agent *a)
{
	char path[KT_PATH_MAX + 16];
	long long started = 0;
	unsigned seq = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cursor", a->qdir);
	if ((f = fopen(path, "re"))) {
		if (fscanf(f, "%lld %u", &started, &seq) == 2) {
			a->started = started;
			a->seq = seq;
		}
		fclose(f);
	}
}

/* --- from kyotend --- */

/* kyotend logged more since the last look than it still keeps: say so,
 * so that what was missed is not missed silently. */
static void queue_gap(struct agent *a, uint32_t from, uint32_t to)
{
	char detail[160], id[48], when[32];
	time_t now = time(NULL);
	json_t *ev;
	char *text;

	kt_utc_time(now, when, sizeof(when));
	snprintf(detail, sizeof(detail), "log entries %u to %u of kyotend were not read "
		 "in time and may have held events (kyotenctl log on the box has them)",
		 from, to);
	snprintf(id, sizeof(id), "%lld-gap-%u", (long long)a->started, from);
	ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b}",
		       "id", id, "site", a->cfg.site_id, "device-number",
		       a->cfg.device_number, "time", when, "class", "other", "location",
		       "agent", "cause", "event queue", "code", "KT-EVENTS-MISSED",
		       "severity", "warning", "detail", detail, "alert", 0, "recovery", 0);
	text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (text && !kt_evq_push(&a->q, text, strlen(text)))
		a->queued++;
	free(text);
}

/* New log entries that are events, into the queue. */
static void poll_events(struct agent *a, int64_t started)
{
	char err[256], id[48];
	json_t *j, *e;
	size_t i;

	/* The newest 256: a second never brings more. */
	if (kt_ctl_call(a->sock, KT_CTL_LOG, 256, NULL, -1, &j, err, sizeof(err)))
		return;
	int64_t was_started = a->started;
	uint32_t was_seq = a->seq;
	bool first = true;

	if (started != a->started) {
		/* kyotend restarted: its log numbers start again. */
		a->started = started;
		a->seq = 0;
	}
	json_array_foreach(json_object_get(j, "entries"), i, e) {
		struct kt_log_entry le = { 0 };
		struct kt_annex an;
		uint32_t seq = (uint32_t)json_integer_value(json_object_get(e, "seq"));
		json_t *ev;
		char *text;

		if (seq <= a->seq)
			continue;
		if (first && a->seq && seq > a->seq + 1)
			queue_gap(a, a->seq + 1, seq - 1);
		first = false;
		le.seq = seq;
		le.time_us = json_integer_value(json_object_get(e, "time-us"));
		le.severity = (uint8_t)kt_log_severity_parse(
			json_string_value(json_object_get(e, "severity")) ?: "info");
		snprintf(le.proc, sizeof(le.proc), "%s", json_string_value(json_object_get(e, "proc")) ?: "");
		snprintf(le.module, sizeof(le.module), "%s",
			 json_string_value(json_object_get(e, "module")) ?: "");
		snprintf(le.msgid, sizeof(le.msgid), "%s", json_string_value(json_object_get(e, "msgid")) ?: "");
		snprintf(le.text, sizeof(le.text), "%s", json_string_value(json_object_get(e, "text")) ?: "");
		a->seq = seq;
		if (!kt_annex_classify(&le, &an))
			continue;
		snprintf(id, sizeof(id), "%lld-%u", (long long)started, seq);
		ev = kt_annex_event(&le, &an, a->cfg.site_id, a->cfg.device_number, id);
		text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
		json_decref(ev);
		if (text && !kt_evq_push(&a->q, text, strlen(text)))
			a->queued++;
		else
			fprintf(stderr, "kyoten-agent: %s\n", text ? a->q.err : "out of memory");
		free(text);
	}
	json_decref(j);
	/* On the disk only when it moved: a box's flash is not written
	 * every second for nothing. */
	if (a->started != was_started || a->seq != was_seq)
		cursor_save(a);
}

/* CPU busy since the last call (the agent looks every second), in
 * percent of all cores (/proc/stat's
 * first line); -1 the first time or when it cannot be read. */
static double cpu_busy(struct agent *a)
{
	unsigned long long v[8] = { 0 }, total = 0, idle;
	double pct = -1;
	FILE *f = fopen("/proc/stat", "re");

	if (!f)
		return -1;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		   &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (int i = 0; i < 8; i++)
			total += v[i];
		idle = v[3] + v[4];	/* idle and iowait */
		/* Signed: iowait may go back (proc(5)). */
		if (a->cpu_total && total > a->cpu_total) {
			double dt = (double)(total - a->cpu_total);
			double di = (double)idle - (double)a->cpu_idle;

			pct = 100.0 * (dt - di) / dt;
			pct = pct < 0 ? 0 : pct > 100 ? 100 : pct;
		}
		a->cpu_total = total;
		a->cpu_idle = idle;
	}
	fclose(f);
	return pct;
}

/* The hottest thermal zone the board has, in degrees Celsius; NAN when
 * it has none (the sim board, most VMs). */
static double board_temperature(void)
{
	double best = NAN;

	for (int i = 0; i < 16; i++) {
		char path[64];
		long milli;
		FILE *f;

		snprintf(path, sizeof(path), "/sys/class/thermal/thermal_zone%d/temp", i);
		if (!(f = fopen(path, "re")))
			continue;
		if (fscanf(f, "%ld", &milli) == 1 && milli > -60000 && milli < 200000 &&
		    (isnan(best) || milli / 1000.0 > best))
			best = milli / 1000.0;
		fclose(f);
	}
	return best;
}

static void via_addr(const struct agent *a, enum kt_mgmt_via v, const char **host,
		     uint16_t *port);

/* The telemetry message from kyotend's status. */
static json_t *telemetry(struct agent *a, json_t *st, char *sig, size_t siglen)
{
	json_t *t = json_object_get(st, "tunnels"), *paths = json_array(), *segs = json_array();
	json_t *p, *s, *pol = json_object_get(st, "policy"), *out;
	size_t i, n = 0;
	long pages = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES);
	double load[3] = { 0 };
	char ts[32];
	time_t now = time(NULL);

	sig[0] = '\0';
	json_array_foreach(json_object_get(t, "paths"), i, p) {
		json_t *bfd = json_object_get(p, "bfd"), *rtt = json_object_get(bfd, "rtt");
		const char *state = json_string_value(json_object_get(bfd, "state")) ?: "none";

		json_array_append_new(paths, json_pack(
			"{s:s, s:s, s:s, s:s, s:b, s:O, s:O, s:O, s:O, s:O, s:O}",
			"path", json_string_value(json_object_get(p, "interface")) ?: "?",
			"peer", json_string_value(json_object_get(p, "peer")) ?: "?",
			"line", json_string_value(json_object_get(p, "line")) ?: "?",
			"state", state, "session", json_is_true(json_object_get(p, "session")),
			"rtt-us", json_object_get(rtt, "avg-us") ?: json_null(),
			"jitter-us", json_object_get(rtt, "jitter-us") ?: json_null(),
			"lost", json_object_get(rtt, "lost") ?: json_null(),
			"handshake-age", json_object_get(p, "handshake-age") ?: json_null(),
			"rx-bytes", json_object_get(p, "rx-bytes") ?: json_null(),
			"tx-bytes", json_object_get(p, "tx-bytes") ?: json_null()));
		n += (size_t)snprintf(sig + n, n < siglen ? siglen - n : 0, "%s=%s,",
				      json_string_value(json_object_get(p, "interface")) ?: "?",
				      state);
	}
	json_array_foreach(json_object_get(json_object_get(st, "paths"), "segments"), i, s)
		json_array_append_new(segs, json_pack("{s:s, s:O}", "segment",
			json_string_value(json_object_get(s, "segment")) ?: "?",
			"active", json_object_get(s, "active") ?: json_null()));
	double cpu = cpu_busy(a), temp = board_temperature();

	getloadavg(load, 3);
	kt_utc_time(now, ts, sizeof(ts));
	out = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:{s:O, s:O, s:O},"
			" s:{s:f, s:o, s:o, s:I, s:I}, s:O, s:I}",
			"site", a->cfg.site_id, "device-number", a->cfg.device_number,
			"time", ts, "firmware", KYOTEN_VERSION,
			"uptime-s", (json_int_t)json_integer_value(json_object_get(st, "uptime")),
			"paths", paths, "segments", segs,
			"policy", "state", json_object_get(pol, "state") ?: json_null(),
			"generation", json_object_get(pol, "generation") ?: json_null(),
			"kernel", json_object_get(pol, "kernel") ?: json_null(),
			"system", "load-1m", load[0],
			"cpu-percent", cpu >= 0 ? json_real(round(cpu * 10) / 10) : json_null(),
			"temperature-c", isnan(temp) ? json_null() : json_real(temp),
			"memory-total-kib", (json_int_t)(pages * (sysconf(_SC_PAGESIZE) / 1024)),
			"memory-free-kib", (json_int_t)(avail * (sysconf(_SC_PAGESIZE) / 1024)),
			"denied", json_object_get(json_object_get(st, "denials"), "pairs") ?: json_null(),
			"events-queued", (json_int_t)kt_evq_count(&a->q));
	if (out && a->m) {
		const char *host;
		uint16_t port;

		via_addr(a, a->via_now, &host, &port);
		json_object_set_new(out, "channel", json_pack("{s:s, s:s, s:i, s:s?}",
			"via", kt_mgmt_via_name(a->via_now), "broker", host, "port", port,
			"source", a->via_now == KT_MGMT_VIA_TUNNEL ? a->source : NULL));
	}
	return out;
}

static void disconnect(struct agent *a, const char *why);

/* --- the channel --- */

/* The broker's options over `via`: the same broker, its name checked
 * against its certificate either way, dialled at its data-centre
 * address from the box's management address through the tunnel. */
static void fill_opts(const struct agent *a, enum kt_mgmt_via via, struct kt_mqttc_opts *o)
{
	*o = (struct kt_mqttc_opts){
		.host = a->cfg.management.broker_host, .port = a->cfg.management.broker_port,
		.ca_pem = a->ca, .ca_len = a->ca_len, .cert_pem = a->crt,
		.cert_len = a->crt_len, .key_pem = a->key, .key_len = a->key_len,
		.client_id = a->cfg.site_id, .keepalive_s = 30, .clean_session = true,
		.timeout_ms = 5000 };
	if (via == KT_MGMT_VIA_TUNNEL) {
		o->dial_host = a->cfg.management.tunnel_host;
		o->dial_port = a->cfg.management.tunnel_port;
		o->bind = a->source;
	}
}

/* Where `via` dials the broker. */
static void via_addr(const struct agent *a, enum kt_mgmt_via v, const char **host,
		     uint16_t *port)
{
	const struct kt_mgmt_cfg *mc = &a->cfg.management;

	*host = v == KT_MGMT_VIA_TUNNEL ? mc->tunnel_host : mc->broker_host;
	*port = v == KT_MGMT_VIA_TUNNEL ? mc->tunnel_port : mc->broker_port;
}

/* From kyotend's status: does the management segment have a path (its
 * "active"), since when, and from which address does the box send. */
static void look_at_paths(struct agent *a, json_t *st)
{
	json_t *paths = json_object_get(st, "paths"), *s;
	char was[sizeof(a->tunnel_path)];
	size_t i;

	snprintf(was, sizeof(was), "%s", a->tunnel_path);
	a->tunnel_path[0] = '\0';
	a->tunnel_ok = false;
	if (!json_is_true(json_object_get(paths, "enabled")))
		return;
	json_array_foreach(json_object_get(paths, "segments"), i, s) {
		const char *src = json_string_value(json_object_get(s, "source"));

		if (strcmp(json_string_value(json_object_get(s, "kind")) ?: "", "management"))
			continue;
		a->tunnel_ok = json_is_string(json_object_get(s, "active")) && src &&
			       strlen(src) < sizeof(a->source);
		if (a->tunnel_ok) {
			snprintf(a->source, sizeof(a->source), "%s", src);
			snprintf(a->tunnel_path, sizeof(a->tunnel_path), "%s",
				 json_string_value(json_object_get(s, "active")));
			a->tunnel_since_s = json_number_value(json_object_get(s, "since-s"));
		}
	}
	/* Another path (or one back) is worth a try at once, after the
	 * hold-down, whatever failed through the tunnel before. */
	if (a->tunnel_ok && strcmp(was, a->tunnel_path)) {
		a->tunnel_retry_at = 0;
		a->tunnel_retry_s = 0;
	}
}

/* The tunnel did not carry a connection to the broker: not again for a
 * while (60 s, doubling to an hour), unless the segment's path changes. */
static void tunnel_failed(struct agent *a)
{
	a->tunnel_retry_s = a->tunnel_retry_s ? a->tunnel_retry_s * 2 : 60;
	if (a->tunnel_retry_s > 3600)
		a->tunnel_retry_s = 3600;
	a->tunnel_retry_at = time(NULL) + a->tunnel_retry_s;
}

/* kyotend's view of the paths now, before a connection is dialled. */
static void refresh_paths(struct agent *a)
{
	json_t *st = NULL;
	char err[256];

	if (!kt_ctl_call(a->sock, KT_CTL_STATUS, 0, NULL, -1, &st, err, sizeof(err)))
		look_at_paths(a, st);
	json_decref(st);
}

/* The channel to dial now, as management.via says; false when there is
 * none to try (via: tunnel, and no path). */
static bool choose_via(struct agent *a, enum kt_mgmt_via *via)
{
	switch (a->cfg.management.via) {
	case KT_MGMT_VIA_TUNNEL:
		*via = KT_MGMT_VIA_TUNNEL;
		return a->tunnel_ok;
	case KT_MGMT_VIA_AUTO:
		*via = a->tunnel_ok && time(NULL) >= a->tunnel_retry_at ? KT_MGMT_VIA_TUNNEL
									 : KT_MGMT_VIA_LINE;
		return true;
	default:
		*via = KT_MGMT_VIA_LINE;
		return true;
	}
}

static int probe(struct agent *a, enum kt_mgmt_via via, const char *msg, char *err,
		 size_t errlen);

/* Connected, under via: auto: off the tunnel once the management
 * segment has no path left (at once: the line is there); back onto it
 * once a path has held for the failover hold-down, as kyotend's own
 * failback waits (docs/failover.md), with a clean DISCONNECT so that no
 * will says the site is offline. */
static void channel_check(struct agent *a)
{
	if (!a->m || a->cfg.management.via != KT_MGMT_VIA_AUTO)
		return;
	if (a->via_now == KT_MGMT_VIA_TUNNEL && !a->tunnel_ok) {
		disconnect(a, "the management segment has no path left; over the line");
		a->next_try = 0;
		a->backoff = 1;
	} else if (a->via_now == KT_MGMT_VIA_LINE && a->tunnel_ok &&
		   time(NULL) >= a->tunnel_retry_at &&
		   a->tunnel_since_s * 1000 >= (double)a->cfg.failover.hold_down_ms) {
		char err[400];

		/* A connection of its own through the tunnel first: the line's
		 * stays until the tunnel is known to carry one. */
		if (probe(a, KT_MGMT_VIA_TUNNEL, NULL, err, sizeof(err))) {
			tunnel_failed(a);
			fprintf(stderr, "kyoten-agent: the management segment has a path but "
				"the broker does not answer through it (%s); on the line, the "
				"tunnel again in %u s\n", err, a->tunnel_retry_s);
			return;
		}
		fprintf(stderr, "kyoten-agent: the management segment has had a path for "
			"%.0f s; moving to the tunnel\n", a->tunnel_since_s);
		/* The retained state stays "online": reconnecting takes
		 * milliseconds. */
		kt_mqttc_close(a->m, false);
		a->m = NULL;
		a->next_try = 0;
		a->backoff = 1;
	}
}

/* --- commands from the NOC --- */

/* What became of a command, to kyoten/site/SITE/reply; extra (taken):
 * more fields, such as a diagnostic's report. */
static void reply(struct agent *a, const char *push_id, const char *result,
		  const char *detail, long long generation, json_t *extra)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I}", "site", a->cfg.site_id,
			      "push-id", push_id, "result", result, "detail", detail,
			      "generation", (json_int_t)generation);
	char *text, err[256];

	if (j && extra)
		json_object_update(j, extra);
	json_decref(extra);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (text && a->m)
		kt_mqttc_publish(a->m, a->topic_reply, text, strlen(text), 1, false, err,
				 sizeof(err));
	free(text);
	fprintf(stderr, "kyoten-agent: command %s: %s%s%s\n", *push_id ? push_id : "?",
		result, *detail ? ": " : "", detail);
}

/* The commands taken, as QUEUE-DIR/last-push: one line "ID CREATED" for
 * each taken in the newest second (an older file has the ID alone). */
static int taken_save(struct agent *a)
{
	char path[KT_PATH_MAX + 16], text[KT_TAKEN_MAX * 64];
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/last-push", a->qdir);
	for (unsigned i = 0; i < a->taken.n; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s %s\n", a->taken.ids[i],
				      a->taken.newest);
	return kt_write_file_replace(path, text, n, 0600);
}

static void taken_load(struct agent *a)
{
	char path[KT_PATH_MAX + 16], id[17], created[32];
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "%s/last-push", a->qdir);
	if (!(f = fopen(path, "re")))
		return;
	while (a->taken.n < KT_TAKEN_MAX && (n = fscanf(f, "%16s %31s", id, created)) >= 1) {
		if (n == 2 && kt_polsign_time_ok(created))
			snprintf(a->taken.newest, sizeof(a->taken.newest), "%s", created);
		memcpy(a->taken.ids[a->taken.n++], id, 17);
		if (n == 1)
			break;
	}
	fclose(f);
}

/* p marked taken, on disk before anything is done: 0, or -errno (then
 * it is not done at all: after a restart it could be replayed). */
static int taken(struct agent *a, const struct kt_polsign *p)
{
	kt_taken_add(&a->taken, p);
	return taken_save(a);
}

/* A connection of its own to the broker (its own client id, no will),
 * over `via`: msg (when not NULL) published to the reply topic and
 * acknowledged, then closed. */
static int probe(struct agent *a, enum kt_mgmt_via via, const char *msg, char *err,
		 size_t errlen)
{
	char id[KT_NAME_MAX + 8];
	struct kt_mqttc_opts o;
	struct kt_mqttc *m;
	int r = 0;

	fill_opts(a, via, &o);
	o.client_id = id;
	snprintf(id, sizeof(id), "%s-probe", a->cfg.site_id);
	if ((r = kt_mqttc_open(&m, &o, err, errlen)))
		return r;
	if (msg)
		r = kt_mqttc_publish(m, a->topic_reply, msg, strlen(msg), 1, false, err, errlen);
	kt_mqttc_close(m, false);
	return r;
}

/* kyotend's answer to a policy command: NULL when it did it, else why not. */
static const char *refusal(int r, json_t *j, const char *err)
{
	if (r)
		return err;
	if (!json_is_true(json_object_get(j, "ok")))
		return json_string_value(json_object_get(j, "error")) ?: "?";
	return NULL;
}

/* Generation gen waits for confirmation: confirmed only once a new
 * connection to the broker has carried the word "applied" under it (not
 * only the connection that is open: connection tracking may keep it while
 * new ones are refused). Otherwise kyotend reverts it by itself. */
static void confirm_if_reachable(struct agent *a, const char *id, long long gen,
				 unsigned timeout_s, const char *done, const char *detail)
{
	struct kt_ctl_policy none = { 0 };
	char err[512], *text;
	json_t *j = json_pack("{s:s, s:s, s:s, s:I}", "site", a->cfg.site_id, "push-id", id,
			      "result", "applied", "generation", (json_int_t)gen);
	int r;

	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	r = !text ? -ENOMEM : probe(a, a->via_now, text, err, sizeof(err));
	/* Under via: auto the channel it is not on must work too: a policy
	 * confirmed through the tunnel that shuts the line would lose the
	 * site the day the tunnels go. (The tunnel is tried when it has a
	 * path; one that does not answer later sends the agent to the line.) */
	if (!r && a->cfg.management.via == KT_MGMT_VIA_AUTO &&
	    (a->via_now == KT_MGMT_VIA_TUNNEL || a->tunnel_ok)) {
		enum kt_mgmt_via other = a->via_now == KT_MGMT_VIA_TUNNEL ? KT_MGMT_VIA_LINE
									  : KT_MGMT_VIA_TUNNEL;
		char e2[400];

		if ((r = probe(a, other, NULL, e2, sizeof(e2))))
			snprintf(err, sizeof(err), "over the %s: %s", kt_mgmt_via_name(other), e2);
	}
	free(text);
	if (r) {
		fprintf(stderr, "kyoten-agent: command %s: a new connection to the broker "
			"failed under generation %lld (%s); not confirmed, kyotend reverts it "
			"in %u s\n", id, gen, r == -ENOMEM ? "out of memory" : err, timeout_s);
		return;
	}
	j = NULL;
	r = kt_ctl_call(a->sock, KT_CTL_POLICY_CONFIRM, 0, &none, -1, &j, err, sizeof(err));
	if (refusal(r, j, err))
		reply(a, id, "failed", refusal(r, j, err), gen, NULL);
	else
		reply(a, id, done, detail, gen, NULL);
	json_decref(j);
}

/* A signed policy: applied by kyotend with the push's commit-confirm
 * timeout, confirmed once the management channel is seen to survive it. */
static void cmd_policy(struct agent *a, const struct kt_polsign *p)
{
	struct kt_ctl_policy pol = { 0 };
	char err[512], detail[600];
	json_t *j = NULL;
	long long gen;
	int fd, r;

	fd = memfd_create("kyoten-push", MFD_CLOEXEC);
	if (fd < 0 || kt_write_all(fd, p->policy, p->policy_len) || lseek(fd, 0, SEEK_SET)) {
		if (fd >= 0)
			close(fd);
		reply(a, p->push_id, "refused", "cannot hold the policy in memory", 0, NULL);
		return;
	}
	pol.timeout_s = p->confirm_timeout;
	pol.options = KT_CTL_POL_FILE;
	snprintf(pol.name, sizeof(pol.name), "%s", p->name);
	snprintf(pol.comment, sizeof(pol.comment), "NOC push %s by %.60s", p->push_id, p->by);
	r = kt_ctl_call(a->sock, KT_CTL_POLICY_APPLY, 0, &pol, fd, &j, err, sizeof(err));
	close(fd);
	if (refusal(r, j, err)) {
		snprintf(detail, sizeof(detail), "kyotend refused it: %s", refusal(r, j, err));
		json_decref(j);
		reply(a, p->push_id, "refused", detail, 0, NULL);
		return;
	}
	gen = json_integer_value(json_object_get(json_object_get(j, "generation"), "number"));
	json_decref(j);
	confirm_if_reachable(a, p->push_id, gen, p->confirm_timeout, "confirmed", "");
}

/* Back to generation p->generation (0: the last confirmed one). One that
 * was never confirmed comes back pending, and is confirmed as a push is. */
static void cmd_rollback(struct agent *a, const struct kt_polsign *p)
{
	struct kt_ctl_policy pol = { .gen_a = p->generation };
	char err[512], detail[600];
	json_t *j = NULL, *g;
	long long gen;
	int r;

	r = kt_ctl_call(a->sock, KT_CTL_POLICY_ROLLBACK, 0, &pol, -1, &j, err, sizeof(err));
	if (refusal(r, j, err)) {
		snprintf(detail, sizeof(detail), "kyotend refused it: %s", refusal(r, j, err));
		json_decref(j);
		reply(a, p->push_id, "refused", detail, 0, NULL);
		return;
	}
	g = json_object_get(j, "generation");
	gen = json_integer_value(json_object_get(g, "number"));
	snprintf(detail, sizeof(detail), "generation %lld is generation %lld again", gen,
		 (long long)json_integer_value(json_object_get(g, "rollback-of")));
	if (!strcmp(json_string_value(json_object_get(g, "state")) ?: "", "pending")) {
		/* n (of "generation %lld ...") fits: detail is 600 bytes. */
		size_t n = strlen(detail);

		snprintf(detail + n, sizeof(detail) - n, ", never confirmed before: confirmed "
			 "once the broker was reached under it");
		confirm_if_reachable(a, p->push_id, gen, (unsigned)json_integer_value(
				     json_object_get(g, "timeout")), "rolled-back", detail);
	}
	else
		reply(a, p->push_id, "rolled-back", detail, gen, NULL);
	json_decref(j);
}

/* kyotend's path LINE/PEER in a status answer, or NULL. */
static json_t *find_path(json_t *st, const char *probe)
{
	const char *slash = strchr(probe, '/');
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(st, "tunnels"), "paths"), i, p) {
		const char *line = json_string_value(json_object_get(p, "line")) ?: "";
		const char *peer = json_string_value(json_object_get(p, "peer")) ?: "";

		if (strlen(line) == (size_t)(slash - probe) && !strncmp(line, probe,
		    (size_t)(slash - probe)) && !strcmp(peer, slash + 1))
			return p;
	}
	return NULL;
}

static long long bfd_num(json_t *path, const char *key)
{
	return json_integer_value(json_object_get(json_object_get(path, "bfd"), key));
}

/* A path probed for p->seconds: what its own BFD probes (every 50 to 100
 * ms while it is up) did in that time. Nothing new is sent: BFD already
 * probes every path, and the agent may not write to the network. */
static json_t *probe_path(struct agent *a, json_t *before, const struct kt_polsign *p,
			  char *why, size_t whylen)
{
	json_t *b = find_path(before, p->probe), *after = NULL, *e, *out;
	char err[256];
	size_t i;

	if (!b) {
		int n = snprintf(why, whylen, "no path %s on this box; its paths:", p->probe);

		json_array_foreach(json_object_get(json_object_get(before, "tunnels"), "paths"),
				   i, e)
			n += snprintf(why + n, (size_t)n < whylen ? whylen - (size_t)n : 0, " %s/%s",
				      json_string_value(json_object_get(e, "line")) ?: "?",
				      json_string_value(json_object_get(e, "peer")) ?: "?");
		return NULL;
	}
	sleep(p->seconds);
	if (kt_ctl_call(a->sock, KT_CTL_STATUS, 0, NULL, -1, &after, err, sizeof(err))) {
		snprintf(why, whylen, "kyotend did not answer after the probe: %s", err);
		return NULL;
	}
	if (!(e = find_path(after, p->probe))) {
		snprintf(why, whylen, "the path %s went away during the probe (a reload?)",
			 p->probe);
		json_decref(after);
		return NULL;
	}
	json_t *rtt = json_object_get(json_object_get(e, "bfd"), "rtt");

	out = json_pack("{s:s, s:i, s:s, s:I, s:I, s:I, s:O, s:O, s:O, s:O}",
		"path", p->probe, "seconds", (int)p->seconds,
		"state", json_string_value(json_object_get(json_object_get(e, "bfd"), "state"))
			 ?: "?",
		"sent", (json_int_t)(bfd_num(e, "tx") - bfd_num(b, "tx")),
		"received", (json_int_t)(bfd_num(e, "rx") - bfd_num(b, "rx")),
		"lost", (json_int_t)(json_integer_value(json_object_get(rtt, "lost")) -
			json_integer_value(json_object_get(json_object_get(json_object_get(b,
			"bfd"), "rtt"), "lost"))),
		"rtt-last-us", json_object_get(rtt, "last-us") ?: json_null(),
		"rtt-avg-us", json_object_get(rtt, "avg-us") ?: json_null(),
		"jitter-us", json_object_get(rtt, "jitter-us") ?: json_null(),
		"handshake-age", json_object_get(e, "handshake-age") ?: json_null());
	json_decref(after);
	return out;
}

/* kyotend's whole status (every path, tunnel and counter), its newest
 * log entries and, when asked, a probe of one path. */
static void cmd_diagnose(struct agent *a, const struct kt_polsign *p)
{
	json_t *st = NULL, *lg = NULL, *lines = json_array(), *e, *report, *pr = NULL;
	char err[512], why[600];
	size_t i;

	if (kt_ctl_call(a->sock, KT_CTL_STATUS, 0, NULL, -1, &st, err, sizeof(err))) {
		snprintf(why, sizeof(why), "kyotend does not answer: %s", err);
		reply(a, p->push_id, "failed", why, 0, NULL);
		json_decref(lines);
		return;
	}
	if (p->log && !kt_ctl_call(a->sock, KT_CTL_LOG, p->log, NULL, -1, &lg, err,
				   sizeof(err)))
		json_array_foreach(json_object_get(lg, "entries"), i, e)
			json_array_append(lines, json_object_get(e, "rfc5424"));
	json_decref(lg);
	if (p->probe[0] && !(pr = probe_path(a, st, p, why, sizeof(why)))) {
		reply(a, p->push_id, "failed", why, 0, NULL);
		json_decref(st);
		json_decref(lines);
		return;
	}
	report = json_pack("{s:{s:o, s:o, s:o}}", "report", "status", st, "log", lines,
			   "probe", pr ?: json_null());
	reply(a, p->push_id, "done", "", 0, report);
}

/* kyotend reboots the box a second after it answered: long enough for
 * the word to reach the NOC. */
static void cmd_reboot(struct agent *a, const struct kt_polsign *p)
{
	char err[512];
	json_t *j = NULL;
	int r = kt_ctl_call(a->sock, KT_CTL_REBOOT, 0, NULL, -1, &j, err, sizeof(err));

	if (refusal(r, j, err))
		reply(a, p->push_id, "failed", refusal(r, j, err), 0, NULL);
	else
		reply(a, p->push_id, "rebooting", "", 0, NULL);
	json_decref(j);
}

/* A signed command from the NOC on kyoten/site/SITE/cmd/LEAF: checked
 * (the signature first, then this site, the topic it came on, and not
 * taken before), marked taken before it runs (a reboot must not repeat),
 * then done. */
static void handle_cmd(struct agent *a, const char *leaf, const uint8_t *msg, size_t len)
{
	struct kt_polsign p;
	const char *why;
	char err[512];
	int r;

	if (kt_polsign_open(msg, len, a->policy_pub, a->cfg.site_id, &p, err, sizeof(err))) {
		reply(a, p.push_id, "refused", err, 0, NULL);
		return;
	}
	if (strcmp(leaf, kt_polsign_cmd_name(p.command))) {
		snprintf(err, sizeof(err), "a %s command came on the %s topic",
			 kt_polsign_cmd_name(p.command), leaf);
		reply(a, p.push_id, "refused", err, 0, NULL);
		return;
	}
	if ((why = kt_taken_refuses(&a->taken, &p, (int64_t)time(NULL), err, sizeof(err)))) {
		reply(a, p.push_id, "refused", why, 0, NULL);
		return;
	}
	if ((r = taken(a, &p))) {
		snprintf(err, sizeof(err), "cannot record it as taken in %s (%s): not done",
			 a->qdir, strerror(-r));
		reply(a, p.push_id, "failed", err, 0, NULL);
		return;
	}
	fprintf(stderr, "kyoten-agent: command %s: %s by %s (%s)\n", p.push_id,
		kt_polsign_cmd_name(p.command), p.by, p.created);
	switch (p.command) {
	case KT_PSCMD_POLICY: cmd_policy(a, &p); break;
	case KT_PSCMD_ROLLBACK: cmd_rollback(a, &p); break;
	case KT_PSCMD_DIAGNOSE: cmd_diagnose(a, &p); break;
	case KT_PSCMD_REBOOT: cmd_reboot(a, &p); break;
	default: break;
	}
}

/* --- to the broker --- */

static void disconnect(struct agent *a, const char *why)
{
	if (!a->m)
		return;
	fprintf(stderr, "kyoten-agent: the broker: %s; reconnecting\n", why);
	kt_mqttc_close(a->m, true);
	a->m = NULL;
	a->next_try = time(NULL) + 1;
}

static int connect_via(struct agent *a, enum kt_mgmt_via via, char *err, size_t errlen)
{
	struct kt_mqtt_will will = { .topic = a->topic_state, .msg = "offline", .len = 7,
				     .qos = 1, .retain = true };
	struct kt_mqttc_opts o;
	uint8_t granted = 0x80;
	int r;

	fill_opts(a, via, &o);
	o.will = &will;
	if ((r = kt_mqttc_open(&a->m, &o, err, errlen)) ||
	    (r = kt_mqttc_publish(a->m, a->topic_state, "online", 6, 1, true, err, errlen)))
		goto fail;
	if ((r = kt_mqttc_subscribe(a->m, a->topic_cmd, 1, &granted, err, errlen)) ||
	    granted == 0x80) {
		if (!r)
			snprintf(err, errlen, "subscribing to %s: refused by the broker",
				 a->topic_cmd);
		r = -EACCES;
		goto fail;
	}
	a->via_now = via;
	return 0;
fail:
	kt_mqttc_close(a->m, true);
	a->m = NULL;
	return r ? r : -EIO;
}

static void try_connect(struct agent *a)
{
	const struct kt_mgmt_cfg *mc = &a->cfg.management;
	enum kt_mgmt_via via;
	const char *host;
	uint16_t port;
	char err[512];
	int r;

	if (time(NULL) < a->next_try)
		return;
	if (mc->via != KT_MGMT_VIA_LINE)
		refresh_paths(a);
	if (!choose_via(a, &via)) {
		if (!a->said_waiting)
			fprintf(stderr, "kyoten-agent: via: tunnel, and the management segment "
				"has no path: waiting for one\n");
		a->said_waiting = true;
		a->next_try = time(NULL) + 1;
		return;
	}
	a->said_waiting = false;
	r = connect_via(a, via, err, sizeof(err));
	if (r && via == KT_MGMT_VIA_TUNNEL && mc->via == KT_MGMT_VIA_AUTO) {
		/* The tunnel has a path but the broker does not answer on it
		 * (a policy without the flow, say): the line now, the tunnel
		 * again in a minute. */
		tunnel_failed(a);
		fprintf(stderr, "kyoten-agent: through the tunnel, %s:%u from %s: %s; over the "
			"line instead, the tunnel again in %u s\n", mc->tunnel_host,
			mc->tunnel_port, a->source, err, a->tunnel_retry_s);
		r = connect_via(a, via = KT_MGMT_VIA_LINE, err, sizeof(err));
	}
	if (r) {
		unsigned wait = a->backoff + (unsigned)(random() % (a->backoff + 1));

		via_addr(a, via, &host, &port);
		fprintf(stderr, "kyoten-agent: %s:%u (%s): %s (again in %u s)\n", host, port,
			kt_mgmt_via_name(via), err, wait);
		a->next_try = time(NULL) + wait;
		a->backoff = a->backoff < 32 ? a->backoff * 2 : 60;
		return;
	}
	a->backoff = 1;
	a->connects++;
	a->last_tele = 0;	/* the NOC gets the state at once */
	if (via == KT_MGMT_VIA_TUNNEL)
		fprintf(stderr, "kyoten-agent: connected to %s:%u through the management tunnel "
			"from %s as %s\n", mc->tunnel_host, mc->tunnel_port, a->source,
			a->cfg.site_id);
	else
		fprintf(stderr, "kyoten-agent: connected to %s:%u over the line as %s\n",
			mc->broker_host, mc->broker_port, a->cfg.site_id);
}

/* Everything queued, oldest first, each deleted once the broker has it. */
static void drain(struct agent *a)
{
	char err[512], *json;
	uint64_t num;

	while (a->m && !stopping && !kt_evq_peek(&a->q, &json, &num)) {
		int r = kt_mqttc_publish(a->m, a->topic_event, json, strlen(json), 1, false,
					 err, sizeof(err));

		free(json);
		if (r) {
			disconnect(a, err);
			return;
		}
		a->sent++;
		/* Sent but not removable (a read-only disk): stop here rather
		 * than send it again and again; the next tick tries anew. */
		if ((r = kt_evq_pop(&a->q, num))) {
			fprintf(stderr, "kyoten-agent: the event queue: %s\n", strerror(-r));
			return;
		}
	}
}

static void tick(struct agent *a)
{
	char err[256], sig[512];
	json_t *st, *tele;
	time_t now = time(NULL);

	if (kt_ctl_call(a->sock, KT_CTL_STATUS, 0, NULL, -1, &st, err, sizeof(err))) {
		/* kyotend away: its new events wait in its log; what is
		 * queued already still goes. */
		drain(a);
		return;
	}
	poll_events(a, json_integer_value(json_object_get(st, "started")));
	look_at_paths(a, st);
	channel_check(a);
	tele = telemetry(a, st, sig, sizeof(sig));
	json_decref(st);
	if (a->m && tele && (now - a->last_tele >= (time_t)a->interval_s ||
			     strcmp(sig, a->paths_sig))) {
		char *text = json_dumps(tele, JSON_COMPACT);

		if (text && kt_mqttc_publish(a->m, a->topic_tele, text, strlen(text), 1, true,
					     err, sizeof(err)))
			disconnect(a, err);
		else {
			a->last_tele = now;
			snprintf(a->paths_sig, sizeof(a->paths_sig), "%s", sig);
		}
		free(text);
	}
	json_decref(tele);
	drain(a);
}

static int drop_to(const char *user, const char *qdir)
{
	struct passwd *pw;

	if (geteuid())
		return 0;
	if (!(pw = getpwnam(user)))
		return die("no user '%s' to run as (tools/bootstrap makes it)", user);
	if (chown(qdir, pw->pw_uid, pw->pw_gid))
		return die("%s: %s", qdir, strerror(errno));
	if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid) || !setuid(0))
		return die("cannot become %s: %s", user, strerror(errno));
	return 0;
}

int main(int argc, char **argv)
{
	static struct agent a;
	struct kt_config_error ce;
	const char *cfg_path = CONFIG_SITE_CONFIG_PATH, *user = "kyoten";
	char msg[768];
	int c;

	kt_prog = "kyoten-agent";
	a.sock = CONFIG_CTL_SOCKET_PATH;
	a.qdir = "/var/lib/kyoten/agent";
	a.interval_s = 10;
	a.backoff = 1;
	while ((c = getopt(argc, argv, "c:s:q:i:u:h")) != -1) {
		switch (c) {
		case 'c': cfg_path = optarg; break;
		case 's': a.sock = optarg; break;
		case 'q': a.qdir = optarg; break;
		case 'u': user = optarg; break;
		case 'i':
			a.interval_s = (unsigned)strtoul(optarg, NULL, 10);
			if (a.interval_s < 1 || a.interval_s > 3600)
				return die("-i %s: the interval is 1 to 3600 seconds", optarg), 2;
			break;
		default:
			fputs("usage: kyoten-agent [-c SITE.yaml] [-s SOCKET] [-q QUEUE-DIR] "
			      "[-i SECONDS] [-u USER]\n", c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	if (kt_config_load(cfg_path, &kt_board_ports, &a.cfg, &ce))
		return die("%s", kt_config_error_str(&ce, msg, sizeof(msg)));
	if (!a.cfg.management.enabled)
		return die("%s has no management section: nothing to connect to", cfg_path);
	if (!(a.ca = slurp(a.cfg.management.ca, &a.ca_len)) ||
	    !(a.crt = slurp(a.cfg.management.certificate, &a.crt_len)) ||
	    !(a.key = slurp(a.cfg.management.key, &a.key_len)))
		return 1;
	if (kt_image_read_pub(a.cfg.management.policy_key, a.policy_pub, msg, sizeof(msg)))
		return die("%s", msg);
	{
		struct kt_pki_info ci;

		if (kt_pki_cert_info(a.crt, a.crt_len, &ci, msg, sizeof(msg)))
			return die("%s: %s", a.cfg.management.certificate, msg);
		a.taken.floor = (int64_t)ci.not_before;
	}
	if (kt_evq_open(&a.q, a.qdir, QUEUE_MAX))
		return die("%s", a.q.err);
	if (drop_to(user, a.qdir))
		return 1;
	cursor_load(&a);
	taken_load(&a);
	snprintf(a.topic_state, sizeof(a.topic_state), "kyoten/site/%s/state", a.cfg.site_id);
	snprintf(a.topic_tele, sizeof(a.topic_tele), "kyoten/site/%s/telemetry", a.cfg.site_id);
	snprintf(a.topic_event, sizeof(a.topic_event), "kyoten/site/%s/event", a.cfg.site_id);
	snprintf(a.topic_cmd, sizeof(a.topic_cmd), "kyoten/site/%s/cmd/+", a.cfg.site_id);
	snprintf(a.topic_reply, sizeof(a.topic_reply), "kyoten/site/%s/reply", a.cfg.site_id);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	fprintf(stderr, "kyoten-agent: site %s, broker %s:%u%s%s%s, via %s, queue %s (%zu "
		"waiting)\n", a.cfg.site_id, a.cfg.management.broker_host,
		a.cfg.management.broker_port, a.cfg.management.tunnel_host[0] ? " (" : "",
		a.cfg.management.tunnel_host, a.cfg.management.tunnel_host[0] ? " in the data "
		"centre)" : "", kt_mgmt_via_name(a.cfg.management.via), a.qdir,
		kt_evq_count(&a.q));
	while (!stopping) {
		struct kt_mqttc_msg m;
		char err[512];
		int r;

		if (!a.m)
			try_connect(&a);
		tick(&a);
		if (!a.m) {
			sleep(1);
			continue;
		}
		/* Up to a second for the broker (commands, keep-alive). */
		r = kt_mqttc_next(a.m, &m, 1000, err, sizeof(err));
		if (r && r != -ETIMEDOUT)
			disconnect(&a, err);
		else if (!r && !strncmp(m.topic, a.topic_cmd, strlen(a.topic_cmd) - 1))
			handle_cmd(&a, m.topic + strlen(a.topic_cmd) - 1, m.payload, m.len);
	}
	if (a.m) {
		/* A clean stop says so; only a lost connection sends the will. */
		char err[256];

		kt_mqttc_publish(a.m, a.topic_state, "stopped", 7, 1, true, err, sizeof(err));
		kt_mqttc_close(a.m, false);
	}
	kt_evq_close(&a.q);
	kt_wipe(a.key, a.key_len);
	fprintf(stderr, "kyoten-agent: stopped (%llu events sent, %llu queued, %llu "
		"connections)\n", (unsigned long long)a.sent, (unsigned long long)a.queued,
		(unsigned long long)a.connects);
	return 0;
}
