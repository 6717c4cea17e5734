/* Firmware images (firmware/image.c): what is written checks, and every
 * kind of tampering is refused with a message that says what is wrong,
 * before anything else is read. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "suite.h"
#include "unit.h"

static char dir[64];
static uint8_t seed[KT_IMAGE_KEY], pub[KT_IMAGE_KEY], other_pub[KT_IMAGE_KEY];

static void write_file(const char *name, const char *text, size_t n)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, n, f), n);
	fclose(f);
}

static int setup(void **state)
{
	uint8_t other[KT_IMAGE_KEY];
	char big[5000];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/kt-image-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(kt_random(seed, sizeof(seed)), 0);
	assert_int_equal(kt_image_public(seed, pub), 0);
	assert_int_equal(kt_random(other, sizeof(other)), 0);
	assert_int_equal(kt_image_public(other, other_pub), 0);
	write_file("daemon", "#!/bin/sh\necho daemon\n", 22);
	memset(big, 'x', sizeof(big));
	write_file("big", big, sizeof(big));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Builds dir/NAME from the two files; returns its length. */
static off_t build(const char *name, const char *version, const uint8_t *key)
{
	struct kt_image im = { .n_parts = 2 };
	char src0[128], src1[128], out[128], err[256];
	const char *sources[2] = { src0, src1 };
	struct stat st;
	int fd;

	snprintf(im.board, sizeof(im.board), "sim");
	snprintf(im.version, sizeof(im.version), "%s", version);
	snprintf(im.build_id, sizeof(im.build_id), "gtest");
	snprintf(im.parts[0].name, sizeof(im.parts[0].name), "kyotend");
	snprintf(im.parts[0].path, sizeof(im.parts[0].path), "bin/kyotend");
	im.parts[0].mode = 0755;
	snprintf(im.parts[1].name, sizeof(im.parts[1].name), "data");
	snprintf(im.parts[1].path, sizeof(im.parts[1].path), "share/data");
	im.parts[1].mode = 0644;
	snprintf(src0, sizeof(src0), "%s/daemon", dir);
	snprintf(src1, sizeof(src1), "%s/big", dir);
	snprintf(out, sizeof(out), "%s/%s", dir, name);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	if (kt_image_write(fd, &im, sources, key, err, sizeof(err)))
		fail_msg("write: %s", err);
	close(fd);
	assert_int_equal(stat(out, &st), 0);
	return st.st_size;
}

/* Opens and checks dir/NAME with `key`: 0 or the error, message in err. */
static int check(const char *name, const uint8_t *key, char *err, size_t n)
{
	struct kt_image im;
	char path[128];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	ret = kt_image_read_head(fd, key, &im, err, n);
	if (!ret)
		ret = kt_image_check_parts(fd, &im, err, n);
	kt_image_free(&im);
	close(fd);
	return ret;
}

static void test_round_trip(void **state)
{
	struct kt_image im;
	char path[128], err[256];
	off_t len;
	int fd;

	(void)state;
	len = build("good.kimg", "1.2.3+g1a2b", seed);
	assert_int_equal(check("good.kimg", pub, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/good.kimg", dir);
	fd = open(path, O_RDONLY);
	assert_int_equal(kt_image_read_head(fd, pub, &im, err, sizeof(err)), 0);
	close(fd);
	assert_string_equal(im.board, "sim");
	assert_string_equal(im.version, "1.2.3+g1a2b");
	assert_int_equal(im.n_parts, 2);
	assert_int_equal(im.parts[0].size, 22);
	assert_int_equal(im.parts[0].mode, 0755);
	assert_int_equal(im.parts[1].size, 5000);
	assert_int_equal(im.parts[1].offset, im.parts[0].offset + 22);
	assert_int_equal(im.length, (uint64_t)len);
	assert_int_equal(im.head_len, im.parts[0].offset);
	assert_true(im.head && !memcmp(im.head, KT_IMAGE_MAGIC, 8));
	kt_image_free(&im);
}

/* A byte flipped anywhere makes the image fail, and the message names
 * the place: header, signature, manifest or the part. */
static void test_flipped_bytes(void **state)
{
	char path[128], err[256], bad[128];
	uint8_t *buf;
	off_t len;
	FILE *f;

	(void)state;
	len = build("good.kimg", "1.0.0", seed);
	snprintf(path, sizeof(path), "%s/good.kimg", dir);
	buf = malloc((size_t)len);
	f = fopen(path, "r");
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	for (off_t at = 0; at < len; at += at < 400 ? 1 : 97) {
		int ret;

		buf[at] ^= 0x20;
		snprintf(bad, sizeof(bad), "bad.kimg");
		write_file(bad, (const char *)buf, (size_t)len);
		buf[at] ^= 0x20;
		ret = check(bad, pub, err, sizeof(err));
		if (!ret)
			fail_msg("a flipped byte at %lld was not noticed", (long long)at);
		if (!strstr(err, "signature") && !strstr(err, "header") &&
		    !strstr(err, "part ") && !strstr(err, "not a Kyoten"))
			fail_msg("byte %lld: unclear message: %s", (long long)at, err);
	}
	free(buf);
}

static void test_wrong_key_and_truncation(void **state)
{
	char err[256], path[128];
	off_t len;

	(void)state;
	len = build("good.kimg", "1.0.0", seed);
	assert_int_equal(check("good.kimg", other_pub, err, sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "signature"));
	snprintf(path, sizeof(path), "%s/good.kimg", dir);
	/* One byte short, one byte long. */
	assert_int_equal(truncate(path, len - 1), 0);
	assert_int_equal(check("good.kimg", pub, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "length"));
	assert_int_equal(truncate(path, len + 1), 0);
	assert_int_equal(check("good.kimg", pub, err, sizeof(err)), -EBADMSG);
	/* Not an image at all. */
	write_file("junk", "hello", 5);
	assert_int_equal(check("junk", pub, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a Kyoten firmware image"));
}

/* A signed manifest that is wrong in itself (a key holder's mistake,
 * or a tool's): each refused with the field named. */
/* out = in with every `from` replaced by `to`. */
static void subst(char *out, size_t n, const char *in, const char *from, const char *to)
{
	size_t o = 0, fl = strlen(from), tl = strlen(to);

	while (*in && o + 1 < n) {
		if (!strncmp(in, from, fl) && o + tl + 1 < n) {
			memcpy(out + o, to, tl);
			o += tl;
			in += fl;
		} else {
			out[o++] = *in++;
		}
	}
	out[o] = '\0';
}

static void test_manifest_fields(void **state)
{
	static const struct {
		const char *manifest, *want;
	} cases[] = {
		{ "[]", "not an object" },
		{ "{\"format\":1,\"color\":\"red\"}", "unknown field 'color'" },
		{ "{\"format\":2,\"board\":\"sim\",\"version\":\"1.0.0\",\"build-id\":\"x\","
		  "\"created\":\"t\",\"key-id\":\"K\",\"parts\":[]}", "format must be 1" },
		{ "{\"format\":1,\"board\":\"sim\",\"version\":\"1.0\",\"build-id\":\"x\","
		  "\"created\":\"t\",\"key-id\":\"K\",\"parts\":[]}", "not MAJOR.MINOR.PATCH" },
		{ "{\"format\":1,\"board\":\"sim\",\"version\":\"1.0.0\",\"build-id\":\"x\","
		  "\"created\":\"t\",\"key-id\":\"K\",\"parts\":[]}", "parts must be" },
		{ "{\"format\":1,\"board\":\"sim\",\"version\":\"1.0.0\",\"build-id\":\"x\","
		  "\"created\":\"t\",\"key-id\":\"K\",\"parts\":[{\"name\":\"a\",\"path\":"
		  "\"../etc/passwd\",\"mode\":\"0644\",\"size\":1,\"sha256\":\"%s\"}]}",
		  "could leave the slot" },
		{ "{\"format\":1,\"board\":\"sim\",\"version\":\"1.0.0\",\"build-id\":\"x\","
		  "\"created\":\"t\",\"key-id\":\"K\",\"parts\":[{\"name\":\"a\",\"path\":"
		  "\"bin/a\",\"mode\":\"4755\",\"size\":1,\"sha256\":\"%s\"}]}", "mode must be" },
		{ "{\"format\":1,\"board\":\"sim\",\"version\":\"1.0.0\",\"build-id\":\"x\","
		  "\"created\":\"t\",\"key-id\":\"K\",\"parts\":[{\"name\":\"a\",\"path\":"
		  "\"bin/a\",\"mode\":\"0644\",\"size\":-1,\"sha256\":\"%s\"}]}", "size" },
		{ "{\"format\":1,\"board\":\"sim\",\"version\":\"1.0.0\",\"build-id\":\"x\","
		  "\"created\":\"t\",\"key-id\":\"K\",\"parts\":[{\"name\":\"a\",\"path\":"
		  "\"bin/a\",\"mode\":\"0644\",\"size\":1,\"sha256\":\"AB\"}]}", "sha256" },
		{ "{\"format\":1,\"board\":\"sim\",\"version\":\"1.0.0\",\"build-id\":\"x\","
		  "\"created\":\"t\",\"key-id\":\"K\",\"parts\":[{\"name\":\"a\",\"path\":"
		  "\"bin/a\",\"mode\":\"0644\",\"size\":1,\"sha256\":\"%s\"},{\"name\":\"a\","
		  "\"path\":\"bin/b\",\"mode\":\"0644\",\"size\":1,\"sha256\":\"%s\"}]}", "repeats" },
		{ "{\"format\":1,\"board\":\"sim\",\"version\":\"1.0.0\",\"build-id\":\"x\","
		  "\"created\":\"t\",\"key-id\":\"0000000000000000\",\"parts\":[{\"name\":"
		  "\"a\",\"path\":\"bin/a\",\"mode\":\"0644\",\"size\":1,\"sha256\":\"%s\"}]}",
		  "key-id" },
		{ "{\"format\":1,\"format\":1}", "not JSON" },
	};
	char zeros[65], kid[17], err[256];

	(void)state;
	memset(zeros, '0', 64);
	zeros[64] = '\0';
	kt_image_key_id(pub, kid);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char manifest[1024], tmp[1024], *k;
		uint8_t buf[2048], sig_input[2048];
		struct kt_image im;
		size_t m;
		int ret;

		subst(tmp, sizeof(tmp), cases[i].manifest, "%s", zeros);
		/* "K" stands for the real key id. */
		k = strstr(tmp, "\"K\"");
		if (k)
			snprintf(manifest, sizeof(manifest), "%.*s\"%s\"%s", (int)(k - tmp),
				 tmp, kid, k + 3);
		else
			snprintf(manifest, sizeof(manifest), "%s", tmp);
		m = strlen(manifest);
		memcpy(buf, KT_IMAGE_MAGIC, 8);
		buf[8] = (uint8_t)(m >> 24);
		buf[9] = (uint8_t)(m >> 16);
		buf[10] = (uint8_t)(m >> 8);
		buf[11] = (uint8_t)m;
		memset(buf + 12, 0, 4);
		memcpy(buf + 16, manifest, m);
		memcpy(sig_input, buf, 16 + m);
		/* Signed for real: only the manifest is wrong. */
		assert_int_equal(kt_image_sign(sig_input, 16 + m, seed, buf + 16 + m), 0);
		ret = kt_image_parse_head(buf, 16 + m + KT_IMAGE_SIG, pub, &im, err,
					  sizeof(err));
		kt_image_free(&im);
		if (!ret || !strstr(err, cases[i].want))
			fail_msg("case %zu: got %d '%s', want '%s'", i, ret, err, cases[i].want);
	}
}

static void test_paths_and_versions(void **state)
{
	static const char *const good[] = { "bin/kyotend", "a", "etc/kyoten/site.yaml",
					    "x-y_z.1" };
	static const char *const bad[] = { "", "/bin/sh", "..", "a/../b", "a//b", "a/",
					   "./a", "a b", "a/./b", "bin/\xc3\xa9" };
	int c;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		assert_true(kt_image_path_ok(good[i]));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (kt_image_path_ok(bad[i]))
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(kt_image_version_cmp("1.2.3", "1.2.10", &c), 0);
	assert_true(c < 0);
	assert_int_equal(kt_image_version_cmp("2.0.0", "1.99.99", &c), 0);
	assert_true(c > 0);
	assert_int_equal(kt_image_version_cmp("0.1.0+gabc", "0.1.0+gdef-dirty", &c), 0);
	assert_int_equal(c, 0);
	assert_int_equal(kt_image_version_cmp("1.2", "1.2.0", &c), -EINVAL);
	assert_int_equal(kt_image_version_cmp("01.2.3", "1.2.3", &c), -EINVAL);
	assert_int_equal(kt_image_version_cmp("1.2.3x", "1.2.3", &c), -EINVAL);
	assert_int_equal(kt_image_version_cmp("1.2.-3", "1.2.3", &c), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key_and_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_fields, setup, teardown),
		cmocka_unit_test(test_paths_and_versions),
	};

	return cmocka_run_group_tests_name("image", tests, NULL, NULL);
}
