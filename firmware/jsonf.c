#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fileio.h"
#include "jsonf.h"

int kt_json_str(json_t *o, const char *key, char *out, size_t cap,
		const char *doc, const char *where, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	if (!json_is_string(v))
		return kt_errf(err, errlen, -EBADMSG, "%s: %s%s is missing or "
			       "not a string", doc, where, key);
	s = json_string_value(v);
	if (!*s || strlen(s) >= cap)
		return kt_errf(err, errlen, -EBADMSG, "%s: %s%s is empty or "
			       "longer than %zu bytes", doc, where, key, cap - 1);
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return kt_errf(err, errlen, -EBADMSG, "%s: %s%s has a "
				       "character that is not printable ASCII",
				       doc, where, key);
	snprintf(out, cap, "%s", s);
	return 0;
}

int kt_json_only(json_t *o, const char *const *keys, const char *doc,
		 const char *where, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		bool known = false;

		for (size_t i = 0; keys[i]; i++)
			known = known || !strcmp(k, keys[i]);
		if (!known)
			return kt_errf(err, errlen, -EBADMSG, "%s: %sunknown "
				       "field '%s'", doc, where, k);
	}
	return 0;
}
