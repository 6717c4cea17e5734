/* Annex fields of the NOC's events (annex.h). */
#include "annex.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static const char *const class_names[KT_ANNEX_CLASS_COUNT] = {
	"equipment", "power", "communications", "other",
};

/* Log message ids that are events whatever their severity, and those
 * whose class is not "other". Anything else of warning or worse is an
 * event of class other. */
static const struct {
	const char *msgid;
	enum kt_annex_class class;
	const char *cause;
	bool alert, recovery;
} table[] = {
	{ "PATH_DOWN", KT_ANNEX_COMMUNICATIONS, "tunnel path", true, false },
	{ "PATH_UP", KT_ANNEX_COMMUNICATIONS, "tunnel path", false, true },
	{ "PATH_FAILOVER", KT_ANNEX_COMMUNICATIONS, "path selection", false, false },
	{ "PATH_FAILBACK", KT_ANNEX_COMMUNICATIONS, "path selection", false, true },
	{ "PATH_NONE", KT_ANNEX_COMMUNICATIONS, "path selection", true, false },
	{ "PORT_DOWN", KT_ANNEX_COMMUNICATIONS, "line", true, false },
	{ "PORT_UP", KT_ANNEX_COMMUNICATIONS, "line", false, true },
	{ "SITE_PATH_OFF", KT_ANNEX_COMMUNICATIONS, "tunnel path", true, false },
	{ "ENGINE_EXIT", KT_ANNEX_EQUIPMENT, "process", true, false },
	{ "ENGINE_STUCK", KT_ANNEX_EQUIPMENT, "process", true, false },
	{ "ENGINE_KILL", KT_ANNEX_EQUIPMENT, "process", true, false },
	{ "ENGINE_UP", KT_ANNEX_EQUIPMENT, "process", false, true },
	{ "TUNNEL_DEVICE", KT_ANNEX_EQUIPMENT, "tunnel device", true, false },
	{ "PATHS_KERNEL", KT_ANNEX_EQUIPMENT, "kernel", true, false },
	{ "POLICY_KERNEL", KT_ANNEX_EQUIPMENT, "kernel", true, false },
	{ "POLICY_STORE_BAD", KT_ANNEX_EQUIPMENT, "storage", true, false },
	{ "POLICY_APPLIED", KT_ANNEX_OTHER, "policy", false, false },
	{ "POLICY_CONFIRMED", KT_ANNEX_OTHER, "policy", false, false },
	{ "POLICY_REVERTED", KT_ANNEX_OTHER, "policy", true, false },
	{ "POLICY_ROLLED_BACK", KT_ANNEX_OTHER, "policy", false, false },
	{ "POLICY_REFUSED", KT_ANNEX_OTHER, "policy", true, false },
	{ "CONFIG_BAD", KT_ANNEX_OTHER, "configuration", true, false },
	{ "CONFIG_LOADED", KT_ANNEX_OTHER, "configuration", false, false },
	{ "START", KT_ANNEX_POWER, "start", false, false },
	{ "STOP", KT_ANNEX_OTHER, "stop", false, false },
};

const char *kt_annex_class_name(enum kt_annex_class c)
{
	return c < KT_ANNEX_CLASS_COUNT ? class_names[c] : "?";
}

int kt_annex_class_parse(const char *name)
{
	for (int i = 0; i < KT_ANNEX_CLASS_COUNT; i++)
		if (!strcmp(class_names[i], name))
			return i;
	return -1;
}

bool kt_annex_classify(const struct kt_log_entry *e, struct kt_annex *out)
{
	static char code[8 + KT_LOG_MSGID_MAX];

	snprintf(code, sizeof(code), "KT-%s", e->msgid);
	out->code = code;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strcmp(table[i].msgid, e->msgid))
			continue;
		out->class = table[i].class;
		out->cause = table[i].cause;
		out->alert = table[i].alert;
		out->recovery = table[i].recovery;
		return true;
	}
	if (e->severity > LOG_WARNING)
		return false;
	out->class = KT_ANNEX_OTHER;
	out->cause = e->module[0] ? e->module : "kyotend";
	out->alert = e->severity <= LOG_ERR;
	out->recovery = false;
	return true;
}

/* The path (kt-hH-lL, kt-lL) or port (wanN, lanN) the text names, if
 * any: where in the box it happened. */
static void where(const char *text, char *out, size_t cap)
{
	const char *p;

	out[0] = '\0';
	for (p = text; *p; p++) {
		size_t n;

		if (strncmp(p, "kt-", 3) && strncmp(p, "wan", 3) && strncmp(p, "lan", 3))
			continue;
		if (p != text && (p[-1] != ' ' && p[-1] != '('))
			continue;
		n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789-");
		if (n >= 4 && n < cap) {
			memcpy(out, p, n);
			out[n] = '\0';
			return;
		}
	}
}

json_t *kt_annex_event(const struct kt_log_entry *e, const struct kt_annex *a,
		       const char *site, const char *device_number, const char *id)
{
	char when[96], loc[96], part[48];
	time_t t = (time_t)(e->time_us / 1000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		 tm.tm_sec, (int)(e->time_us / 1000 % 1000));
	where(e->text, part, sizeof(part));
	snprintf(loc, sizeof(loc), "%s/%s%s%s", e->proc, e->module, *part ? "/" : "", part);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b}",
			 "id", id, "site", site, "device-number", device_number,
			 "time", when, "class", kt_annex_class_name(a->class),
			 "location", loc, "cause", a->cause, "code", a->code,
			 "severity", kt_log_severity_name(e->severity), "detail", e->text,
			 "alert", a->alert, "recovery", a->recovery);
}
