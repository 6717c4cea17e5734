/* Strict reading of the small JSON documents the firmware signs or
 * seals (an image's manifest, a bundle's head): every field a printable
 * ASCII string of bounded length, no field the format does not name.
 * Errors read "DOC: WHEREKEY ...", e.g. "manifest: parts[1].mode ...". */
#ifndef KT_JSONF_H
#define KT_JSONF_H

#include <jansson.h>
#include <stddef.h>

/* Copies string field key of o into out (cap bytes); -EBADMSG if it is
 * missing, not a string, empty, too long or not printable ASCII. */
int kt_json_str(json_t *o, const char *key, char *out, size_t cap,
		const char *doc, const char *where, char *err, size_t errlen);
/* -EBADMSG naming the first field of o that is not in keys (NULL-ended). */
int kt_json_only(json_t *o, const char *const *keys, const char *doc,
		 const char *where, char *err, size_t errlen);

#endif
