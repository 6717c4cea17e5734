/* The boot medium's layout (disk.h says what and why). */
#include "disk.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int kt_disk_layout(uint64_t size, uint64_t need, const char *board, struct kt_disk *d)
{
	memset(d, 0, sizeof(*d));
	if (strlen(board) >= sizeof(d->board) || size < KT_DISK_SLOTS + 2 * KT_DISK_ALIGN)
		return -ENOSPC;
	snprintf(d->board, sizeof(d->board), "%s", board);
	d->size = size;
	d->slot_size = (size - KT_DISK_SLOTS) / 2 / KT_DISK_ALIGN * KT_DISK_ALIGN;
	d->slot[0] = KT_DISK_SLOTS;
	d->slot[1] = KT_DISK_SLOTS + d->slot_size;
	d->bundle = KT_DISK_BUNDLE;
	d->state = KT_DISK_STATE;
	return d->slot_size >= need ? 0 : -ENOSPC;
}

void kt_disk_encode(const struct kt_disk *d, uint8_t out[KT_DISK_HEADER])
{
	uint8_t h[32];

	memset(out, 0, KT_DISK_HEADER);
	memcpy(out, KT_DISK_MAGIC, 8);
	out[11] = 1;			/* format 1, big-endian in bytes 8..11 */
	memcpy(out + 16, d->board, strnlen(d->board, sizeof(d->board) - 1));
	put64(out + 48, d->size);
	put64(out + 56, d->slot_size);
	put64(out + 64, d->slot[0]);
	put64(out + 72, d->slot[1]);
	put64(out + 80, d->bundle);
	put64(out + 88, d->state);
	wc_Sha256Hash(out, 128, h);
	memcpy(out + 128, h, 32);
}

int kt_disk_decode(const uint8_t *buf, size_t len, struct kt_disk *d)
{
	static const uint8_t zero[32];
	struct kt_disk x;
	uint8_t h[32];

	if (len < 160 || memcmp(buf, KT_DISK_MAGIC, 8) || buf[8] || buf[9] || buf[10] ||
	    buf[11] != 1 || memcmp(buf + 12, zero, 4) || memcmp(buf + 96, zero, 32))
		return -EBADMSG;
	wc_Sha256Hash(buf, 128, h);
	if (memcmp(h, buf + 128, 32) || !buf[16] || buf[47])
		return -EBADMSG;
	memset(&x, 0, sizeof(x));
	memcpy(x.board, buf + 16, 31);
	x.size = get64(buf + 48);
	x.slot_size = get64(buf + 56);
	x.slot[0] = get64(buf + 64);
	x.slot[1] = get64(buf + 72);
	x.bundle = get64(buf + 80);
	x.state = get64(buf + 88);
	/* Only the layout kt_disk_layout makes. */
	{
		struct kt_disk want;

		if (kt_disk_layout(x.size, 0, x.board, &want) ||
		    want.slot_size != x.slot_size || want.slot[0] != x.slot[0] ||
		    want.slot[1] != x.slot[1] || want.bundle != x.bundle ||
		    want.state != x.state)
			return -EBADMSG;
	}
	*d = x;
	return 0;
}
