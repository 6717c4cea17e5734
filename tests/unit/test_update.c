/* A/B slots (firmware/update.c): install, boot counting, confirmation,
 * rollback, refusals that write nothing, and a power cut at every durable
 * step of an install, a boot and a confirmation, after which the box
 * still boots a complete, correctly signed slot. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suite.h"
#include "unit.h"
#include "update.h"

static char dir[64], root[128];
static uint8_t seed[KT_IMAGE_KEY];
static struct kt_update U;
static struct {
	unsigned n, cut_at;		/* cut_at 0: never */
	bool cut;
} power;

static int power_step(void *arg, const char *what)
{
	(void)arg;
	(void)what;
	if (power.cut)
		return 1;		/* dead until "reboot" */
	if (power.cut_at && ++power.n == power.cut_at) {
		power.cut = true;
		return 1;
	}
	return 0;
}

static void reboot(void)
{
	power.cut = false;
	power.cut_at = 0;
	power.n = 0;
}

static void file(const char *name, const char *text)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void image(const char *name, const char *board, const char *version)
{
	struct kt_image im = { .n_parts = 3 };
	char s0[160], s1[160], s2[160], out[160], err[256];
	const char *src[3] = { s0, s1, s2 };
	int fd;

	snprintf(im.board, sizeof(im.board), "%s", board);
	snprintf(im.version, sizeof(im.version), "%s", version);
	snprintf(im.build_id, sizeof(im.build_id), "test");
	snprintf(im.parts[0].name, sizeof(im.parts[0].name), "kyotend");
	snprintf(im.parts[0].path, sizeof(im.parts[0].path), "bin/kyotend");
	im.parts[0].mode = 0755;
	snprintf(im.parts[1].name, sizeof(im.parts[1].name), "config");
	snprintf(im.parts[1].path, sizeof(im.parts[1].path), "etc/kyoten/site.yaml");
	im.parts[1].mode = 0644;
	snprintf(im.parts[2].name, sizeof(im.parts[2].name), "version");
	snprintf(im.parts[2].path, sizeof(im.parts[2].path), "VERSION");
	im.parts[2].mode = 0644;
	snprintf(s0, sizeof(s0), "%s/daemon", dir);
	snprintf(s1, sizeof(s1), "%s/site.yaml", dir);
	snprintf(s2, sizeof(s2), "%s/VERSION", dir);
	file("VERSION", version);
	snprintf(out, sizeof(out), "%s/%s", dir, name);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	if (kt_image_write(fd, &im, src, seed, err, sizeof(err)))
		fail_msg("%s: %s", name, err);
	close(fd);
}

static const char *img(const char *name)
{
	static char path[4][160];
	static int k;

	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s", dir, name);
	return path[k];
}

static int setup(void **state)
{
	char big[20000];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/kt-update-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(root, sizeof(root), "%s/root", dir);
	assert_int_equal(kt_random(seed, sizeof(seed)), 0);
	memset(&U, 0, sizeof(U));
	snprintf(U.root, sizeof(U.root), "%s", root);
	snprintf(U.board, sizeof(U.board), "sim");
	assert_int_equal(kt_image_public(seed, U.pub), 0);
	U.tries = 3;
	U.step = power_step;
	reboot();
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	file("daemon", big);
	file("site.yaml", "site: test\n");
	image("v1.kimg", "sim", "0.1.0");
	image("v2.kimg", "sim", "0.2.0");
	image("v0.kimg", "sim", "0.0.9");
	image("other.kimg", "x86_64-generic", "0.3.0");
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

static void fresh_box(void)
{
	char cmd[200], err[256];
	int slot;

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
	reboot();
	if (kt_update_install(&U, img("v1.kimg"), false, true, &slot, err, sizeof(err)))
		fail_msg("factory: %s", err);
	assert_int_equal(slot, 0);
}

/* Boots; the slot must check; its version. */
static const char *boot(int *slot)
{
	static struct kt_image im;
	char why[256], err[256];

	kt_image_free(&im);
	if (kt_update_boot(&U, slot, why, sizeof(why)))
		fail_msg("boot: %s", why);
	if (kt_update_slot_check(&U, *slot, &im, err, sizeof(err)))
		fail_msg("booted slot %s does not check: %s", kt_update_slot_name(*slot), err);
	return im.version;
}

static void test_install_boot_confirm(void **state)
{
	struct kt_bootstate st;
	char err[256];
	int slot;

	(void)state;
	fresh_box();
	assert_string_equal(boot(&slot), "0.1.0");
	assert_int_equal(slot, 0);
	assert_int_equal(kt_update_install(&U, img("v2.kimg"), false, false, &slot,
					   err, sizeof(err)), 0);
	assert_int_equal(slot, 1);
	assert_int_equal(kt_update_state_read(&U, &st), 0);
	assert_int_equal(st.good, 0);
	assert_int_equal(st.pending, 1);
	assert_int_equal(st.tries_left, 3);
	/* Confirming before the new slot ran confirms nothing. */
	assert_int_equal(kt_update_confirm(&U, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "nothing to confirm"));
	assert_string_equal(boot(&slot), "0.2.0");
	assert_int_equal(slot, 1);
	assert_int_equal(kt_update_confirm(&U, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "confirmed"));
	assert_int_equal(kt_update_state_read(&U, &st), 0);
	assert_int_equal(st.good, 1);
	assert_int_equal(st.pending, KT_SLOT_NONE);
	for (int i = 0; i < 5; i++)
		assert_string_equal(boot(&slot), "0.2.0");
	/* The next install goes to slot a, the inactive one. */
	assert_int_equal(kt_update_install(&U, img("v2.kimg"), false, false, &slot,
					   err, sizeof(err)), 0);
	assert_int_equal(slot, 0);
}

static void test_rollback(void **state)
{
	struct kt_bootstate st;
	char err[256], why[256];
	int slot;

	(void)state;
	fresh_box();
	assert_int_equal(kt_update_install(&U, img("v2.kimg"), false, false, &slot,
					   err, sizeof(err)), 0);
	/* Never healthy: three tries, then the old slot by itself. */
	for (int i = 0; i < 3; i++)
		assert_string_equal(boot(&slot), "0.2.0");
	assert_int_equal(kt_update_boot(&U, &slot, why, sizeof(why)), 0);
	assert_int_equal(slot, 0);
	assert_non_null(strstr(why, "rolled back from slot b"));
	assert_int_equal(kt_update_state_read(&U, &st), 0);
	assert_int_equal(st.good, 0);
	assert_int_equal(st.pending, KT_SLOT_NONE);
	assert_int_equal(st.rolled_back, 1);
	assert_string_equal(boot(&slot), "0.1.0");
	/* Confirming now keeps the old slot. */
	assert_int_equal(kt_update_confirm(&U, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "nothing to confirm"));
}

/* Refusals happen before anything is written: same state, no slot b. */
static void refused(const char *image_name, bool downgrade, int want, const char *msg)
{
	struct kt_bootstate before, after;
	char err[256], b[200];
	struct stat sb;
	int slot;

	assert_int_equal(kt_update_state_read(&U, &before), 0);
	assert_int_equal(kt_update_install(&U, img(image_name), downgrade, false, &slot,
					   err, sizeof(err)), want);
	if (!strstr(err, msg))
		fail_msg("%s: '%s' does not say '%s'", image_name, err, msg);
	assert_int_equal(kt_update_state_read(&U, &after), 0);
	assert_int_equal(after.seq, before.seq);
	snprintf(b, sizeof(b), "%s/slot-b", root);
	assert_int_not_equal(stat(b, &sb), 0);
	snprintf(b, sizeof(b), "%s/slot-b.new", root);
	assert_int_not_equal(stat(b, &sb), 0);
}

static void test_refusals(void **state)
{
	char path[200], err[256];
	FILE *f;
	long len;
	int slot;

	(void)state;
	fresh_box();
	refused("other.kimg", false, -EINVAL, "for board x86_64-generic");
	refused("v0.kimg", false, -EPERM, "older than the running 0.1.0");
	/* A byte of a part changed: the hash says so. */
	snprintf(path, sizeof(path), "%s/v2.kimg", dir);
	f = fopen(path, "r+");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, len - 100, SEEK_SET);
	fputc('Z', f);
	fclose(f);
	refused("v2.kimg", false, -EBADMSG, "part kyotend");
	/* Signed by another key. */
	{
		uint8_t keep[KT_IMAGE_KEY];

		memcpy(keep, U.pub, sizeof(keep));
		U.pub[0] ^= 1;
		refused("v1.kimg", false, -EKEYREJECTED, "signature");
		memcpy(U.pub, keep, sizeof(keep));
	}
	/* A factory install on a box that has a good slot. */
	assert_int_equal(kt_update_install(&U, img("v1.kimg"), false, true, &slot, err,
					   sizeof(err)), -EEXIST);
	/* The explicit override installs the older version. */
	assert_int_equal(kt_update_install(&U, img("v0.kimg"), true, false, &slot, err,
					   sizeof(err)), 0);
	assert_int_equal(slot, 1);
	image("v2.kimg", "sim", "0.2.0");
}

/* Power fails at step k of an install, for every k; the box reboots and
 * must come up on a complete slot: the old one, or the new one only if
 * the install got as far as naming it. Then the install is retried and
 * must succeed. */
static void test_power_cut_install(void **state)
{
	char err[256];
	unsigned k, completed = 0;
	int slot;

	(void)state;
	for (k = 1; k < 200; k++) {
		const char *v;
		int ret;

		fresh_box();
		power.cut_at = k;
		ret = kt_update_install(&U, img("v2.kimg"), false, false, &slot, err,
					sizeof(err));
		if (!power.cut) {
			assert_int_equal(ret, 0);
			completed = k;
			break;
		}
		assert_int_equal(ret, -EINTR);
		reboot();
		v = boot(&slot);
		/* Only the last step (naming the new slot) can make it boot. */
		if (strcmp(v, "0.1.0"))
			assert_string_equal(v, "0.2.0");
		/* And it goes on: a second install works. */
		assert_int_equal(kt_update_install(&U, img("v2.kimg"), false, false,
						   &slot, err, sizeof(err)), 0);
		assert_string_equal(boot(&slot), "0.2.0");
	}
	/* Every step was cut once; an install has more than a handful. */
	assert_true(completed > 8);
	print_message("power cut at each of %u steps of an install\n", completed - 1);
}

/* The same during the boots of a new slot and its confirmation. */
static void test_power_cut_boot_confirm(void **state)
{
	char err[256];
	int slot;

	(void)state;
	for (unsigned k = 1; k < 40; k++) {
		struct kt_bootstate st;

		fresh_box();
		assert_int_equal(kt_update_install(&U, img("v2.kimg"), false, false, &slot,
						   err, sizeof(err)), 0);
		power.cut_at = k;
		/* Boot, confirm, boot, with the power failing at step k. */
		if (kt_update_boot(&U, &slot, err, sizeof(err)) == 0)
			kt_update_confirm(&U, err, sizeof(err));
		kt_update_boot(&U, &slot, err, sizeof(err));
		bool was_cut = power.cut;

		reboot();
		boot(&slot);	/* checks the slot */
		assert_int_equal(kt_update_state_read(&U, &st), 0);
		/* Whatever was cut, the box is on a good slot or still trying
		 * the new one, never on neither. */
		assert_true(st.good == 0 || st.good == 1);
		if (!was_cut)
			break;
	}
}

static void test_state_copies(void **state)
{
	struct kt_bootstate st, a = { .good = 0, .pending = 1, .tries_left = 2,
				      .booted = 0, .rolled_back = KT_SLOT_NONE };
	uint8_t buf[KT_UPDATE_STATE_LEN];
	char path[200];
	FILE *f;

	(void)state;
	fresh_box();
	/* Newest wins; a corrupt newest leaves the older one. */
	assert_int_equal(kt_update_state_write(&U, &a), 0);
	assert_int_equal(kt_update_state_read(&U, &st), 0);
	assert_int_equal(st.pending, 1);
	assert_int_equal(st.seq, a.seq);
	snprintf(path, sizeof(path), "%s/state.%d", root, (int)(a.seq % 2 == 0 ? 1 : 0));
	kt_bootstate_encode(&a, buf);
	/* Find the copy holding the newest and damage it. */
	for (int i = 0; i < 2; i++) {
		struct kt_bootstate c;
		uint8_t raw[KT_UPDATE_STATE_LEN];

		snprintf(path, sizeof(path), "%s/state.%d", root, i);
		f = fopen(path, "r+");
		assert_non_null(f);
		assert_int_equal(fread(raw, 1, sizeof(raw), f), sizeof(raw));
		if (!kt_bootstate_decode(raw, sizeof(raw), &c) && c.seq == a.seq) {
			fseek(f, 20, SEEK_SET);
			fputc(0x55, f);
		}
		fclose(f);
	}
	assert_int_equal(kt_update_state_read(&U, &st), 0);
	assert_int_equal(st.seq, a.seq - 1);
	assert_int_equal(st.pending, KT_SLOT_NONE);
	/* Decoding refuses each malformed field. */
	kt_bootstate_encode(&a, buf);
	assert_int_equal(kt_bootstate_decode(buf, sizeof(buf), &st), 0);
	assert_int_equal(kt_bootstate_decode(buf, sizeof(buf) - 1, &st), -EBADMSG);
	for (size_t i = 0; i < sizeof(buf); i++) {
		uint8_t bad[KT_UPDATE_STATE_LEN];

		memcpy(bad, buf, sizeof(bad));
		bad[i] ^= 0x80;
		if (!kt_bootstate_decode(bad, sizeof(bad), &st))
			fail_msg("a flipped bit in byte %zu was not noticed", i);
	}
	/* Pending and good the same slot cannot be. */
	a.pending = 0;
	kt_bootstate_encode(&a, buf);
	assert_int_equal(kt_bootstate_decode(buf, sizeof(buf), &st), -EBADMSG);
}

/* Storage damaged under the good slot: the other one boots. */
static void test_corrupt_good_slot(void **state)
{
	char path[200], err[256], why[256];
	int slot;
	FILE *f;

	(void)state;
	fresh_box();
	assert_int_equal(kt_update_install(&U, img("v2.kimg"), false, false, &slot,
					   err, sizeof(err)), 0);
	boot(&slot);
	assert_int_equal(kt_update_confirm(&U, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/slot-b/bin/kyotend", root);
	f = fopen(path, "r+");
	assert_non_null(f);
	fputc('!', f);
	fclose(f);
	assert_int_equal(kt_update_boot(&U, &slot, why, sizeof(why)), 0);
	assert_int_equal(slot, 0);
	assert_non_null(strstr(why, "did not check"));
	/* Both damaged: no boot, and it says so. */
	snprintf(path, sizeof(path), "%s/slot-a/image.head", root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(kt_update_boot(&U, &slot, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "no slot holds a complete"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_install_boot_confirm),
		cmocka_unit_test(test_rollback),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_power_cut_install),
		cmocka_unit_test(test_power_cut_boot_confirm),
		cmocka_unit_test(test_state_copies),
		cmocka_unit_test(test_corrupt_good_slot),
	};

	return cmocka_run_group_tests_name("update", tests, setup, teardown);
}
