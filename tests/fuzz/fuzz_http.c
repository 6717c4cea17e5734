/* libFuzzer target: an HTTP request as kyoten-noc metrics reads it from
 * a socket (netstack/httpreq.c). Every answer must be one of the four,
 * with a reason for each refusal. */
#include <stdint.h>
#include <stdlib.h>

#include "httpreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	bool head;
	int r;

	if (size > KT_HTTP_REQ_MAX)
		return 0;
	(void)kt_http_complete((const char *)data, size);
	r = kt_http_route((const char *)data, size, "/metrics", &head, &why);
	if ((r != 200 && r != 400 && r != 404 && r != 405) || !why || (r != 200 && !*why))
		abort();
	return 0;
}
