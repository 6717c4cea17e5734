/* Site identity bundles (firmware/bundle.c): what is sealed opens with
 * its passphrase only, as it was; every changed or missing byte is
 * refused; passphrases read back however they were typed; the body's
 * list of files is strict. And the management certificates
 * (firmware/pki.c) a bundle carries: issued by the CA, for the site,
 * with their own key, or refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "pki.h"
#include "unit.h"

static const char yaml[] = "site:\n  id: site1\n";

/* A sealed bundle with two files, at the minimum iteration count so the
 * hundreds of opens below stay quick. */
static uint8_t *sealed(const char *pass, size_t *len)
{
	struct kt_bundle b;
	uint8_t *out;
	char err[256];

	memset(&b, 0, sizeof(b));
	snprintf(b.head.site, sizeof(b.head.site), "site1");
	snprintf(b.head.device_number, sizeof(b.head.device_number), "TKY-0001");
	snprintf(b.head.serial, sizeof(b.head.serial), "KT0001");
	b.head.iterations = KT_BUNDLE_ITER_MIN;
	assert_int_equal(kt_bundle_add(&b, "site.yaml", yaml, strlen(yaml), err, sizeof(err)), 0);
	assert_int_equal(kt_bundle_add(&b, "tunnel.key", "a2V5\n", 5, err, sizeof(err)), 0);
	assert_int_equal(kt_bundle_seal(&b, pass, &out, len, err, sizeof(err)), 0);
	kt_bundle_free(&b);
	return out;
}

static void test_round_trip(void **state)
{
	char pass[KT_BUNDLE_PASS_TEXT], err[256];
	struct kt_bundle b;
	const struct kt_bundle_file *f;
	size_t len;
	uint8_t *buf;

	(void)state;
	assert_int_equal(kt_bundle_passphrase_new(pass), 0);
	assert_int_equal(strlen(pass), 24);
	assert_int_equal(pass[4], '-');
	buf = sealed(pass, &len);
	assert_int_equal(kt_bundle_open(buf, len, pass, &b, err, sizeof(err)), 0);
	assert_string_equal(b.head.site, "site1");
	assert_string_equal(b.head.serial, "KT0001");
	assert_int_equal(b.head.iterations, KT_BUNDLE_ITER_MIN);
	assert_int_equal(strlen(b.head.bundle_id), 32);
	assert_int_equal(b.n_files, 2);
	f = kt_bundle_find(&b, "site.yaml");
	assert_non_null(f);
	assert_int_equal(f->len, strlen(yaml));
	assert_memory_equal(f->data, yaml, f->len);
	assert_int_equal(kt_bundle_find(&b, "tunnel.key")->kind->mode, 0600);
	kt_bundle_free(&b);
	/* Two seals of the same files differ (salt, nonce, id). */
	{
		size_t len2;
		uint8_t *buf2 = sealed(pass, &len2);

		assert_true(len2 != len || memcmp(buf, buf2, len));
		free(buf2);
	}
	/* The passphrase is nowhere in the bundle. */
	assert_null(memmem(buf, len, pass, strlen(pass)));
	free(buf);
}

static void test_passphrase_forms(void **state)
{
	char norm[KT_BUNDLE_PASS_CHARS + 1], err[256];
	struct kt_bundle b;
	size_t len;
	uint8_t *buf;

	(void)state;
	assert_int_equal(kt_bundle_passphrase_norm("pkhv hd9h-vh61 6sxs kr8a\n", norm), 0);
	assert_string_equal(norm, "PKHVHD9HVH616SXSKR8A");
	/* O, I and L read as 0, 1, 1. */
	assert_int_equal(kt_bundle_passphrase_norm("OIL0-1100-0000-0000-0000", norm), 0);
	assert_string_equal(norm, "01101100000000000000");
	assert_int_equal(kt_bundle_passphrase_norm("PKHV-HD9H-VH61-6SXS-KR8", norm), -EINVAL);
	assert_int_equal(kt_bundle_passphrase_norm("PKHV-HD9H-VH61-6SXS-KR8AA", norm), -EINVAL);
	assert_int_equal(kt_bundle_passphrase_norm("PKHV-HD9H-VH61-6SXS-KR8U", norm), -EINVAL);
	assert_int_equal(kt_bundle_passphrase_norm("", norm), -EINVAL);
	buf = sealed("PKHV-HD9H-VH61-6SXS-KR8A", &len);
	assert_int_equal(kt_bundle_open(buf, len, "pkhvhd9hvh616sxskr8a", &b, err, sizeof(err)), 0);
	kt_bundle_free(&b);
	assert_int_equal(kt_bundle_open(buf, len, "PKHV-HD9H-VH61-6SXS-KR8B", &b, err,
					sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "passphrase is wrong"));
	assert_int_equal(b.n_files, 0);
	assert_int_equal(kt_bundle_open(buf, len, "hello", &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a bundle passphrase"));
	free(buf);
}

static void test_every_byte(void **state)
{
	const char *pass = "0000-1111-2222-3333-4444";
	char err[256];
	struct kt_bundle b;
	size_t len;
	uint8_t *buf = sealed(pass, &len);

	(void)state;
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x20;
		if (!kt_bundle_open(buf, len, pass, &b, err, sizeof(err)))
			fail_msg("a changed byte %zu of %zu was not noticed", i, len);
		assert_int_equal(b.n_files, 0);
		buf[i] ^= 0x20;
	}
	for (size_t n = 0; n < len; n++)
		if (!kt_bundle_open(buf, n, pass, &b, err, sizeof(err)))
			fail_msg("a bundle cut to %zu of %zu bytes opened", n, len);
	assert_int_equal(kt_bundle_open(buf, len, pass, &b, err, sizeof(err)), 0);
	kt_bundle_free(&b);
	free(buf);
}

static void test_head(void **state)
{
	static const struct { const char *json, *want; } bad[] = {
		{ "{\"format\":2}", "format must be 1" },
		{ "[]", "not an object" },
		{ "{\"format\":1,\"extra\":1}", "unknown field 'extra'" },
		{ "{\"format\":1,\"site\":\"s\",\"device-number\":\"d\",\"bundle-id\":\"i\","
		  "\"created\":\"c\",\"kdf\":\"scrypt\",\"iterations\":10000,\"salt\":\"00\"}",
		  "kdf \"scrypt\"" },
		{ "{\"format\":1,\"site\":\"s\",\"device-number\":\"d\",\"bundle-id\":\"i\","
		  "\"created\":\"c\",\"kdf\":\"pbkdf2-sha256\",\"iterations\":9,"
		  "\"salt\":\"00000000000000000000000000000000\"}", "iterations must be" },
		{ "{\"format\":1,\"site\":\"s\",\"device-number\":\"d\",\"bundle-id\":\"i\","
		  "\"created\":\"c\",\"kdf\":\"pbkdf2-sha256\",\"iterations\":10000,"
		  "\"salt\":\"0000000000000000000000000000000G\"}", "salt is not" },
		{ "{\"format\":1,\"site\":\"\"}", "site is empty" },
		{ "{\"format\":1,\"format\":1}", "not JSON" },
	};
	uint8_t buf[1024];
	struct kt_bundle_head h;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i].json);

		memset(buf, 0, sizeof(buf));
		memcpy(buf, KT_BUNDLE_MAGIC, 8);
		buf[11] = (uint8_t)n;
		memcpy(buf + 16, bad[i].json, n);
		assert_int_equal(kt_bundle_parse_head(buf, 16 + n + 100, &h, err,
						      sizeof(err)), -EBADMSG);
		if (!strstr(err, bad[i].want))
			fail_msg("case %zu: '%s' does not say '%s'", i, err, bad[i].want);
	}
	assert_int_equal(kt_bundle_parse_head((const uint8_t *)"KYTNIMG1", 8, &h, err,
					      sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "not a Kyoten site bundle"));
}

static void put_file(uint8_t *p, size_t *off, const char *name, const char *data)
{
	size_t nl = strlen(name), dl = strlen(data);

	p[(*off)++] = (uint8_t)nl;
	memcpy(p + *off, name, nl);
	*off += nl;
	p[(*off)++] = 0;
	p[(*off)++] = 0;
	p[(*off)++] = (uint8_t)(dl >> 8);
	p[(*off)++] = (uint8_t)dl;
	memcpy(p + *off, data, dl);
	*off += dl;
}

static void test_body(void **state)
{
	static const struct { const char *names[3]; int extra; const char *want; } cases[] = {
		{ { "site.yaml", "ca.crt", NULL }, 0, NULL },
		{ { "ca.crt", NULL }, 0, "no site.yaml" },
		{ { "site.yaml", "site.yaml", NULL }, 0, "twice" },
		{ { "site.yaml", "../etc/passwd", NULL }, 0, "no file may be called" },
		{ { "site.yaml", "enrol.json", NULL }, 0, "spare's enrol.json" },
		{ { "site.yaml", NULL }, 1, "after the last file" },
	};
	uint8_t p[512];
	struct kt_bundle b;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t off = 9, n = 0;
		int r;

		memcpy(p, KT_BUNDLE_BODY_MAGIC, 8);
		for (; n < 3 && cases[i].names[n]; n++)
			put_file(p, &off, cases[i].names[n], "x");
		p[8] = (uint8_t)n;
		off += (size_t)cases[i].extra;
		memset(&b, 0, sizeof(b));
		r = kt_bundle_parse_body(p, off, &b, err, sizeof(err));
		kt_bundle_free(&b);
		if (!cases[i].want) {
			assert_int_equal(r, 0);
			continue;
		}
		assert_int_equal(r, -EBADMSG);
		if (!strstr(err, cases[i].want))
			fail_msg("case %zu: '%s' does not say '%s'", i, err, cases[i].want);
	}
	/* A length past the end. */
	{
		size_t off = 9;

		memcpy(p, KT_BUNDLE_BODY_MAGIC, 8);
		p[8] = 1;
		put_file(p, &off, "site.yaml", "abc");
		memset(&b, 0, sizeof(b));
		assert_int_equal(kt_bundle_parse_body(p, off - 1, &b, err, sizeof(err)), -EBADMSG);
		assert_non_null(strstr(err, "says 3 bytes"));
		kt_bundle_free(&b);
	}
}

struct id {
	char *key, *crt;
	size_t key_len, crt_len;
};

static void make(struct id *out, const char *cn, const struct id *ca)
{
	char err[256];

	assert_int_equal(kt_pki_key_new(&out->key, &out->key_len, err, sizeof(err)), 0);
	if (kt_pki_cert_new(out->key, out->key_len, &(struct kt_pki_name){ .cn = cn },
			    30, ca ? ca->crt : NULL, ca ? ca->crt_len : 0,
			    ca ? ca->key : NULL, ca ? ca->key_len : 0, &out->crt,
			    &out->crt_len, err, sizeof(err)))
		fail_msg("%s", err);
}

static void test_pki(void **state)
{
	struct id ca, other_ca, site, stray, site2;
	struct kt_pki_info info;
	char err[512];

	(void)state;
	make(&ca, "Test CA", NULL);
	make(&other_ca, "Other CA", NULL);
	make(&site, "site1", &ca);
	make(&site2, "site2", &ca);
	make(&stray, "site1", &other_ca);
	assert_int_equal(kt_pki_cert_info(site.crt, site.crt_len, &info, err, sizeof(err)), 0);
	assert_string_equal(info.cn, "site1");
	assert_true(info.not_after - info.not_before >= 30 * 86400 - 1);
	assert_true(info.not_after > time(NULL));
	assert_int_equal(kt_pki_check_identity(ca.crt, ca.crt_len, site.crt, site.crt_len,
					       site.key, site.key_len, "site1", err,
					       sizeof(err)), 0);
	/* Another site's certificate. */
	assert_int_equal(kt_pki_check_identity(ca.crt, ca.crt_len, site2.crt, site2.crt_len,
					       site2.key, site2.key_len, "site1", err,
					       sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "'site2', not 'site1'"));
	/* A certificate from a CA that is not the NOC's. */
	assert_int_equal(kt_pki_check_identity(ca.crt, ca.crt_len, stray.crt, stray.crt_len,
					       stray.key, stray.key_len, "site1", err,
					       sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "not one the CA issued"));
	/* The right certificate with another key. */
	assert_int_equal(kt_pki_check_identity(ca.crt, ca.crt_len, site.crt, site.crt_len,
					       site2.key, site2.key_len, "site1", err,
					       sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "not the certificate's"));
	/* A passphrase sealed for site1's key opens with it only. */
	{
		static const uint8_t secret[] = "PKHV-HD9H-VH61-6SXS-KR8A";
		uint8_t sealed_pass[KT_PKI_WRAP_OVERHEAD + sizeof(secret)], back[64];
		size_t n = 0;

		assert_int_equal(kt_pki_wrap(site.crt, site.crt_len, secret, sizeof(secret),
					     sealed_pass, err, sizeof(err)), 0);
		assert_int_equal(kt_pki_unwrap(site.key, site.key_len, sealed_pass,
					       sizeof(sealed_pass), back, &n, err,
					       sizeof(err)), 0);
		assert_int_equal(n, sizeof(secret));
		assert_memory_equal(back, secret, n);
		assert_int_equal(kt_pki_unwrap(site2.key, site2.key_len, sealed_pass,
					       sizeof(sealed_pass), back, &n, err,
					       sizeof(err)), -EKEYREJECTED);
		for (size_t i = 0; i < sizeof(sealed_pass); i += 7) {
			sealed_pass[i] ^= 1;
			if (!kt_pki_unwrap(site.key, site.key_len, sealed_pass,
					   sizeof(sealed_pass), back, &n, err, sizeof(err)))
				fail_msg("a changed byte %zu of a sealed secret opened", i);
			sealed_pass[i] ^= 1;
		}
	}
	/* Garbage. */
	assert_int_equal(kt_pki_check_identity(ca.crt, ca.crt_len, "nope", 4, site.key,
					       site.key_len, NULL, err, sizeof(err)), -EBADMSG);
	free(ca.key); free(ca.crt); free(other_ca.key); free(other_ca.crt);
	free(site.key); free(site.crt); free(site2.key); free(site2.crt);
	free(stray.key); free(stray.crt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_passphrase_forms),
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_pki),
	};

	return cmocka_run_group_tests_name("bundle", tests, NULL, NULL);
}
