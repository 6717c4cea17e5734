/* The boot medium's layout (firmware/disk.c): slots from 1 MiB, halves
 * of the rest, a header that decodes only as it was written. */
#include <errno.h>
#include <string.h>

#include "disk.h"
#include "unit.h"

static void test_layout(void **state)
{
	struct kt_disk d, back;
	uint8_t h[KT_DISK_HEADER];

	(void)state;
	assert_int_equal(kt_disk_layout(64ull << 20, 20ull << 20, "sim", &d), 0);
	assert_int_equal(d.slot[0], 1ull << 20);
	assert_int_equal(d.slot_size, 31ull << 20);
	assert_int_equal(d.slot[1], 32ull << 20);
	assert_true(d.slot[1] + d.slot_size <= d.size);
	assert_true(d.bundle + 8 + KT_DISK_BUNDLE_MAX <= d.slot[0]);
	assert_true(d.state + 2 * 4096 <= d.bundle);
	/* Odd sizes round down to a MiB per slot. */
	assert_int_equal(kt_disk_layout((64ull << 20) + 12345, 0, "sim", &d), 0);
	assert_int_equal(d.slot_size, 31ull << 20);
	/* Too small for the image, or at all. */
	assert_int_equal(kt_disk_layout(64ull << 20, 32ull << 20, "sim", &d), -ENOSPC);
	assert_int_equal(kt_disk_layout(2ull << 20, 0, "sim", &d), -ENOSPC);
	assert_int_equal(kt_disk_layout(64ull << 20, 0, "a-board-name-that-is-far-too-long", &d), -ENOSPC);

	assert_int_equal(kt_disk_layout(1ull << 30, 0, "x86_64-generic", &d), 0);
	kt_disk_encode(&d, h);
	assert_memory_equal(h, KT_DISK_MAGIC, 8);
	assert_int_equal(kt_disk_decode(h, sizeof(h), &back), 0);
	assert_string_equal(back.board, "x86_64-generic");
	assert_int_equal(back.slot[1], d.slot[1]);
	assert_int_equal(back.size, d.size);
	/* Every bit of the first 160 bytes matters. */
	for (size_t i = 0; i < 160; i++) {
		uint8_t bad[KT_DISK_HEADER];

		memcpy(bad, h, sizeof(bad));
		bad[i] ^= 0x01;
		if (!kt_disk_decode(bad, sizeof(bad), &back))
			fail_msg("a flipped bit in byte %zu was not noticed", i);
	}
	assert_int_equal(kt_disk_decode(h, 100, &back), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
	};

	return cmocka_run_group_tests_name("disk", tests, NULL, NULL);
}
