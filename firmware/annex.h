/* Events as the NOC receives them: the fields that Japanese automatic
 * fault-notification annexes ask of a carrier's or vendor's equipment
 * (event class, the device number the customer assigned, date and time,
 * where in the device, cause category, error code, detail), made from
 * kyotend's log entries by the management agent (docs/noc.md, "Events").
 *
 * Classes, as the annexes name them:
 *   equipment       機器故障又は故障の兆候  equipment failure, or a sign of it
 *   power           電源異常                 power anomaly
 *   communications  通信異常                 communications anomaly
 *   other           その他                   other
 *
 * Which entries become events, and how they are classed, is a table in
 * annex.c: warnings and worse, and the notices an operator acts on
 * (paths up and down, failover, policy changes). */
#ifndef KT_ANNEX_H
#define KT_ANNEX_H

#include <jansson.h>
#include <stdbool.h>

#include "log.h"

enum kt_annex_class {
	KT_ANNEX_EQUIPMENT,
	KT_ANNEX_POWER,
	KT_ANNEX_COMMUNICATIONS,
	KT_ANNEX_OTHER,
	KT_ANNEX_CLASS_COUNT
};

struct kt_annex {
	enum kt_annex_class class;
	const char *cause;		/* a category: "line", "tunnel", "process", ... */
	const char *code;		/* "KT-" and the log message id */
	bool alert;			/* the NOC raises an alert for it */
	bool recovery;			/* it ends an earlier one (PATH_UP, ...) */
};

/* Whether a log entry is an event for the NOC, and its annex fields. */
bool kt_annex_classify(const struct kt_log_entry *e, struct kt_annex *out);
const char *kt_annex_class_name(enum kt_annex_class c);	/* "equipment" ... */
/* -1 for a name that is not a class. */
int kt_annex_class_parse(const char *name);

/* The event as JSON: id (unique per box: its boot and the entry's
 * number), site, device-number, time (RFC 3339, UTC), class, location
 * (the process and module, and the path or port the text names), cause,
 * code, severity, detail (the entry's text). */
json_t *kt_annex_event(const struct kt_log_entry *e, const struct kt_annex *a,
		       const char *site, const char *device_number, const char *id);

#endif
