/* See httpreq.h. */
#include <string.h>

#include "httpreq.h"

bool kt_http_complete(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] == '\n' && buf[i + 1] == '\n')
			return true;
		if (i + 3 < len && !memcmp(buf + i, "\r\n\r\n", 4))
			return true;
	}
	return false;
}

/* "tok " at *p, moving past it. */
static bool take(const char **p, const char *end, const char *tok)
{
	size_t n = strlen(tok);

	if ((size_t)(end - *p) < n || memcmp(*p, tok, n))
		return false;
	*p += n;
	return true;
}

int kt_http_route(const char *buf, size_t len, const char *path, bool *head,
		  const char **why)
{
	const char *p = buf, *end, *target, *nl = memchr(buf, '\n', len);
	size_t plen = strlen(path), tlen;

	*head = false;
	if (!kt_http_complete(buf, len) || !nl) {
		*why = "an HTTP request ends with an empty line; this one did not\n";
		return 400;
	}
	end = nl > buf && nl[-1] == '\r' ? nl - 1 : nl;
	if (take(&p, end, "HEAD "))
		*head = true;
	else if (!take(&p, end, "GET ")) {
		const char *sp = memchr(buf, ' ', (size_t)(end - buf));

		*why = sp && sp > buf ? "only GET (or HEAD) /metrics\n" :
		       "the first line is not METHOD TARGET HTTP/1.x\n";
		return sp && sp > buf ? 405 : 400;
	}
	target = p;
	while (p < end && *p != ' ')
		p++;
	tlen = (size_t)(p - target);
	if (!take(&p, end, " HTTP/1.") || end - p != 1 || (*p != '0' && *p != '1')) {
		*why = "the first line is not METHOD TARGET HTTP/1.x\n";
		return 400;
	}
	/* The path, with or without a query (Prometheus adds none). */
	if (tlen < plen || memcmp(target, path, plen) || (tlen > plen && target[plen] != '?')) {
		*why = "the metrics are at /metrics\n";
		return 404;
	}
	*why = "";
	return 200;
}
