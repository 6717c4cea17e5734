/* netstack/httpreq.c: the request line kyoten-noc metrics answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "httpreq.h"

static void test_route(void **state)
{
	static const struct { const char *req; int code; bool head; const char *why; } cases[] = {
		{ "GET /metrics HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n", 200, false, "" },
		{ "GET /metrics HTTP/1.0\n\n", 200, false, "" },
		{ "HEAD /metrics HTTP/1.1\r\n\r\n", 200, true, "" },
		{ "GET /metrics?name[]=x HTTP/1.1\r\n\r\n", 200, false, "" },
		{ "GET / HTTP/1.1\r\n\r\n", 404, false, "at /metrics" },
		{ "GET /metricsx HTTP/1.1\r\n\r\n", 404, false, "at /metrics" },
		{ "GET /metric HTTP/1.1\r\n\r\n", 404, false, "at /metrics" },
		{ "POST /metrics HTTP/1.1\r\n\r\n", 405, false, "only GET" },
		{ "GET /metrics HTTP/2\r\n\r\n", 400, false, "HTTP/1.x" },
		{ "GET /metrics HTTP/1.1x\r\n\r\n", 400, false, "HTTP/1.x" },
		{ "GET /metrics\r\n\r\n", 400, false, "HTTP/1.x" },
		{ "GET /metrics HTTP/1.1\r\nHost: a\r\n", 400, false, "empty line" },
		{ " \r\n\r\n", 400, false, "METHOD TARGET" },
		{ "", 400, false, "empty line" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL;
		bool head = true;
		int r = kt_http_route(cases[i].req, strlen(cases[i].req), "/metrics", &head, &why);

		if (r != cases[i].code || head != cases[i].head || !why ||
		    !strstr(why, cases[i].why))
			fail_msg("case %zu (%s): got %d head %d '%s'", i, cases[i].req, r, head,
				 why ? why : "(null)");
	}
}

static void test_complete(void **state)
{
	(void)state;
	assert_true(kt_http_complete("GET / HTTP/1.0\r\n\r\n", 18));
	assert_false(kt_http_complete("GET / HTTP/1.0\r\n\r", 17));
	assert_false(kt_http_complete("", 0));
	/* Not terminated: only len bytes are looked at. */
	assert_false(kt_http_complete("\n\n", 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_complete),
	};

	return cmocka_run_group_tests_name("httpreq", tests, NULL, NULL);
}
