/* The one HTTP request the NOC's Prometheus endpoint takes (kyoten-noc
 * metrics): "GET /metrics" (or HEAD), HTTP/1.0 or 1.1, headers ignored.
 * Written by hand, not with an HTTP library: one request a connection,
 * no body, nothing else to route, and no HTTP library among the
 * dependencies. */
#ifndef KT_HTTPREQ_H
#define KT_HTTPREQ_H

#include <stdbool.h>
#include <stddef.h>

#define KT_HTTP_REQ_MAX 2048u	/* what a request may hold, headers and all */

/* Whether buf holds a whole request head (up to its empty line). */
bool kt_http_complete(const char *buf, size_t len);

/* What to answer to the request in buf (len bytes, not necessarily
 * terminated) for a server of the one resource `path`: 200, 400 (not a
 * request line, or not whole), 404 (another path), 405 (another
 * method). *head: it was HEAD (no body in the answer). why: for the
 * answer's body, a static string. */
int kt_http_route(const char *buf, size_t len, const char *path, bool *head,
		  const char **why);

#endif
