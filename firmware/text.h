/* Text that leaves the daemon (log lines, JSON answers, errors quoting a
 * configuration file) must be valid UTF-8 on one line: jansson refuses
 * anything else, and a newline would forge a second log entry. */
#ifndef KT_TEXT_H
#define KT_TEXT_H

#include <stdbool.h>

/* True if s is valid UTF-8 without control characters. */
bool kt_text_valid(const char *s);
/* Replaces invalid UTF-8 and control characters with '?', and drops a
 * character cut short at the end (as snprintf leaves one). */
void kt_text_clean(char *s);

#endif
