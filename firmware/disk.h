/* The boot medium of a board that boots from a disk (eMMC, SSD, USB
 * stick): where the boot state, the site bundle and the two slots are.
 * kyoten-flash writes it; a board's boot loader and kyoten-update read
 * it. Raw regions, no partition table: the boot loader reads fixed
 * offsets and needs no file system to choose a slot.
 *
 *   0       4 KiB   header (below)
 *   4 KiB   4 KiB   boot state, copy 0 (firmware/update.h's 64 bytes)
 *   8 KiB   4 KiB   boot state, copy 1
 *   64 KiB  960 KiB the site bundle: its length (8 bytes, big-endian),
 *                   then its bytes (0: none)
 *   1 MiB   S       slot a: a firmware image, byte for byte (image.h),
 *                   so the slot checks itself by its signature and hashes
 *   1 MiB+S S       slot b
 *
 * S = half of what is left after the first MiB, rounded down to a MiB.
 * Header: "KYTNDISK", format (4 bytes, 1), 4 zero, board (32, NUL
 * padded), the medium's size, the slot size, slot a, slot b, bundle and
 * state offsets (8 bytes each, big-endian), zero to byte 128, then the
 * SHA-256 of bytes 0..127. */
#ifndef KT_DISK_H
#define KT_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KT_DISK_MAGIC "KYTNDISK"
#define KT_DISK_HEADER 4096
#define KT_DISK_STATE 4096ull
#define KT_DISK_BUNDLE (64ull * 1024)
#define KT_DISK_BUNDLE_MAX (960ull * 1024 - 8)
#define KT_DISK_SLOTS (1024ull * 1024)
#define KT_DISK_ALIGN (1024ull * 1024)

struct kt_disk {
	char board[32];
	uint64_t size, slot_size, slot[2], bundle, state;
};

/* The layout for a medium of `size` bytes; -ENOSPC if a slot would be
 * smaller than `need` (the image). */
int kt_disk_layout(uint64_t size, uint64_t need, const char *board, struct kt_disk *d);
void kt_disk_encode(const struct kt_disk *d, uint8_t out[KT_DISK_HEADER]);
/* 0, or -EBADMSG (not a Kyoten medium, or damaged). */
int kt_disk_decode(const uint8_t *buf, size_t len, struct kt_disk *d);

#endif
