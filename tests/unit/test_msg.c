#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "msg.h"
#include "unit.h"

#define ALL_FROM_CHILD (KT_MSG_BIT(KT_MSG_HELLO) | KT_MSG_BIT(KT_MSG_LOG) | \
			KT_MSG_BIT(KT_MSG_PONG))

static void test_round_trip(void **state)
{
	struct kt_msg_hello h = { .pid = 42, .uid = 999, .gid = 995, .chrooted = 1 };
	struct kt_log_entry e = { .severity = LOG_WARNING };
	struct kt_msg m;
	uint64_t cookie = 0x1122334455667788ull;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	strcpy(h.role, "engine");
	strcpy(e.msgid, "TEST");
	strcpy(e.text, "hello from the child");
	assert_int_equal(kt_msg_send(sv[0], KT_MSG_HELLO, 7, &h, sizeof(h), -1), 0);
	assert_int_equal(kt_msg_send(sv[0], KT_MSG_LOG, 0, &e, sizeof(e), -1), 0);
	assert_int_equal(kt_msg_send(sv[0], KT_MSG_PONG, 0, &cookie, 8, -1), 0);

	assert_int_equal(kt_msg_recv(sv[1], ALL_FROM_CHILD, &m), 0);
	assert_int_equal(m.hdr.type, KT_MSG_HELLO);
	assert_int_equal(m.hdr.peer, 7);
	assert_memory_equal(m.data, &h, sizeof(h));
	assert_int_equal(m.fd, -1);
	assert_int_equal(kt_msg_recv(sv[1], ALL_FROM_CHILD, &m), 0);
	assert_int_equal(m.hdr.type, KT_MSG_LOG);
	assert_string_equal(((struct kt_log_entry *)(void *)m.data)->text,
			    "hello from the child");
	assert_int_equal(kt_msg_recv(sv[1], ALL_FROM_CHILD, &m), 0);
	assert_memory_equal(m.data, &cookie, 8);

	close(sv[0]);
	assert_int_equal(kt_msg_recv(sv[1], ALL_FROM_CHILD, &m), -EPIPE);
	close(sv[1]);
}

static void test_refusals(void **state)
{
	/* (type, payload length, allowed mask, expected error) */
	static const struct {
		uint16_t type, len;
		uint32_t allowed;
		int err;
	} cases[] = {
		{ KT_MSG_PONG, 8, ALL_FROM_CHILD, 0 },
		{ KT_MSG_PONG, 7, ALL_FROM_CHILD, -EBADMSG },
		{ KT_MSG_PONG, 9, ALL_FROM_CHILD, -EBADMSG },
		{ KT_MSG_PING, 8, ALL_FROM_CHILD, -EPROTO },	/* wrong direction */
		{ KT_MSG_NONE, 0, ~0u, -EPROTO },
		{ KT_MSG_TYPE_COUNT, 0, ~0u, -EPROTO },
		{ 0xffff, 0, ~0u, -EPROTO },
		{ KT_MSG_SHUTDOWN, 0, KT_MSG_BIT(KT_MSG_SHUTDOWN), 0 },
		{ KT_MSG_SHUTDOWN, 1, KT_MSG_BIT(KT_MSG_SHUTDOWN), -EBADMSG },
		{ KT_MSG_HELLO, sizeof(struct kt_msg_hello) - 1, ALL_FROM_CHILD, -EBADMSG },
	};
	uint8_t buf[sizeof(struct kt_msg_hdr) + 64] = { 0 };
	struct kt_msg m;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kt_msg_hdr h = { .type = cases[i].type, .len = cases[i].len };

		memcpy(buf, &h, sizeof(h));
		if (kt_msg_check(buf, sizeof(h) + cases[i].len, false,
				 cases[i].allowed, &m) != cases[i].err)
			fail_msg("case %zu", i);
	}
	/* Header claims more than arrived. */
	{
		struct kt_msg_hdr h = { .type = KT_MSG_PONG, .len = 8 };

		memcpy(buf, &h, sizeof(h));
		assert_int_equal(kt_msg_check(buf, sizeof(h) + 4, false,
					      ALL_FROM_CHILD, &m), -EBADMSG);
		assert_int_equal(kt_msg_check(buf, 3, false, ALL_FROM_CHILD, &m),
				 -EBADMSG);
		/* A descriptor with a type that takes none. */
		assert_int_equal(kt_msg_check(buf, sizeof(h) + 8, true,
					      ALL_FROM_CHILD, &m), -EPROTO);
	}
}

static void test_log_entry_checked(void **state)
{
	struct kt_log_entry e;
	struct kt_msg m;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	memset(&e, 'A', sizeof(e));		/* no NUL anywhere */
	e.severity = LOG_INFO;
	assert_int_equal(kt_msg_send(sv[0], KT_MSG_LOG, 0, &e, sizeof(e), -1), 0);
	assert_int_equal(kt_msg_recv(sv[1], ALL_FROM_CHILD, &m), -EBADMSG);
	memset(&e, 0, sizeof(e));
	e.severity = 9;				/* past LOG_DEBUG */
	assert_int_equal(kt_msg_send(sv[0], KT_MSG_LOG, 0, &e, sizeof(e), -1), 0);
	assert_int_equal(kt_msg_recv(sv[1], ALL_FROM_CHILD, &m), -EBADMSG);
	close(sv[0]);
	close(sv[1]);
}

static void test_passed_fd_closed_when_refused(void **state)
{
	struct kt_msg m;
	uint64_t cookie = 1;
	int sv[2], fds[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(kt_msg_send(sv[0], KT_MSG_PONG, 0, &cookie, 8, fds[1]), 0);
	close(fds[1]);
	assert_int_equal(kt_msg_recv(sv[1], ALL_FROM_CHILD, &m), -EPROTO);
	assert_int_equal(m.fd, -1);
	/* The receiver closed its copy: the pipe has no writer left. */
	{
		char c;

		assert_int_equal(read(fds[0], &c, 1), 0);
	}
	close(fds[0]);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_log_entry_checked),
		cmocka_unit_test(test_passed_fd_closed_when_refused),
	};
	return cmocka_run_group_tests_name("msg", tests, NULL, NULL);
}
