/* Key files (netstack/keys.c): what is accepted, and every way a key file
 * can be wrong. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys.h"
#include "unit.h"

static char dir[] = "/tmp/kt-keys-XXXXXX";

static const char *path(const char *name)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "%s/%s", dir, name);
	return buf;
}

static void put(const char *name, const char *text, mode_t mode)
{
	int fd = open(path(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_round_trip(void **state)
{
	uint8_t key[KT_SUITE_KEY_LEN], back[KT_SUITE_KEY_LEN];
	char err[256];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (int i = 0; i < KT_SUITE_KEY_LEN; i++)
		key[i] = (uint8_t)(i * 7);
	assert_int_equal(kt_key_write(path("new.key"), key), 0);
	assert_int_equal(stat(path("new.key"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(kt_key_read(path("new.key"), back, err, sizeof(err)), 0);
	assert_memory_equal(key, back, sizeof(key));
	/* Never overwritten. */
	assert_int_equal(kt_key_write(path("new.key"), key), -EEXIST);
}

static void test_bad_files(void **state)
{
	/* (file contents, mode, expected error, words of the message) */
	static const struct {
		const char *name, *text;
		mode_t mode;
		int err;
		const char *msg;
	} cases[] = {
		{ "readable", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 0644,
		  -EPERM, "lets others read it" },
		{ "grpwrite", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 0620,
		  -EPERM, "must be 0600" },
		{ "short", "AAAAAAAAAAAAAAAAAAAA\n", 0600, -EINVAL, "base64 32-byte key" },
		{ "long", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", 0600,
		  -EINVAL, "base64 32-byte key" },
		{ "notb64", "this is not base64 at all, not a key!!!!!!!\n", 0600,
		  -EINVAL, "base64 32-byte key" },
		{ "empty", "", 0600, -EINVAL, "base64 32-byte key" },
	};
	uint8_t key[KT_SUITE_KEY_LEN];
	char err[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		put(cases[i].name, cases[i].text, cases[i].mode);
		if (kt_key_read(path(cases[i].name), key, err, sizeof(err)) != cases[i].err ||
		    !strstr(err, cases[i].msg) || !strstr(err, cases[i].name))
			fail_msg("case %zu (%s): got '%s'", i, cases[i].name, err);
	}
	assert_int_equal(kt_key_read(path("missing"), key, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open"));
	assert_int_equal(kt_key_read(dir, key, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	/* A FIFO at the path: refused at once, not waited on. */
	assert_int_equal(mkfifo(path("fifo"), 0600), 0);
	assert_int_equal(kt_key_read(path("fifo"), key, err, sizeof(err)), -EINVAL);
	/* A symbolic link is not followed. */
	assert_int_equal(symlink("short", path("link")), 0);
	assert_int_equal(kt_key_read(path("link"), key, err, sizeof(err)), -ELOOP);
}

static void test_decode(void **state)
{
	uint8_t out[65];

	(void)state;
	assert_int_equal(kt_key_decode("AQID", out, 3), 0);
	assert_int_equal(out[2], 3);
	assert_int_equal(kt_key_decode("AQID", out, 4), -EINVAL);
	assert_int_equal(kt_key_decode("", out, 1), -EINVAL);
	assert_int_equal(kt_key_decode("A", out, 1), -EINVAL);
}

static int cleanup(void **state)
{
	static const char *const names[] = {
		"new.key", "readable", "grpwrite", "short", "long", "notb64",
		"empty", "fifo", "link",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		unlink(path(names[i]));
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_decode),
	};
	return cmocka_run_group_tests_name("keys", tests, NULL, cleanup);
}
