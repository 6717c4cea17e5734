/* A/B firmware slots: install into the inactive slot, boot a new slot a
 * counted number of times, keep it only once the box says it is healthy,
 * otherwise go back to the slot that was good, by itself.
 *
 * Under a root directory (CONFIG_UPDATE_ROOT):
 *   slot-a/, slot-b/    a slot: the image's parts at their paths, and
 *                       image.head, the image's signed head, written last
 *   state.0, state.1    the boot state, two copies (below)
 *
 * On the sim board the slots are these directories and "booting" is the
 * simulated box starting from one of them (kt_update_boot says which);
 * a real board keeps the same state machine and maps slots to partitions
 * its boot loader reads. The state machine is this file either way.
 *
 * Why it survives a power cut at any point:
 * - An install writes only the slot that is neither good nor about to be
 *   booted, into slot-X.new, renamed to slot-X once every byte is on disk;
 *   only then does the state name it as pending. Until that last write
 *   the box boots the good slot, untouched.
 * - The state is 64 bytes with a sequence number and a check value, kept
 *   in two copies; a write replaces the older copy, and a read takes the
 *   newest copy that checks. A torn write loses only the write itself.
 * - Booting a pending slot first counts the attempt down (and writes it),
 *   then checks the slot's signature and every part's hash; a slot that
 *   fails is never booted. When the count reaches zero without a
 *   confirmation, the next boot is the good slot again (rolled back).
 * - A good slot that fails its check at boot (corrupt storage) is not
 *   booted either: the other slot is, if it checks. */
#ifndef KT_UPDATE_H
#define KT_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"

#define KT_SLOT_NONE (-1)
#define KT_UPDATE_STATE_LEN 64

struct kt_bootstate {
	uint64_t seq;			/* 0: no valid copy (a new box) */
	int good;			/* the confirmed slot, or KT_SLOT_NONE */
	int pending;			/* installed, not yet confirmed */
	unsigned tries_left;		/* boots the pending slot still gets */
	int booted;			/* the slot the last boot chose */
	int rolled_back;		/* a pending slot given up on, or NONE */
};

struct kt_update {
	char root[256];
	uint8_t pub[KT_IMAGE_KEY];	/* the key images must be signed with */
	char board[32];			/* the board images must be for */
	unsigned tries;			/* boots a new slot gets (>= 1) */
	/* Tests: called before every durable step (a write, an fsync, a
	 * rename). Non-zero: the power fails there: the step is not done (a
	 * file write is left half done) and the operation stops. */
	int (*step)(void *arg, const char *what);
	void *step_arg;
};

const char *kt_update_slot_name(int slot);	/* "a", "b", "none" */

/* The state: the newest copy that checks, or a zeroed one (seq 0, no
 * slot) when neither does. -errno only for I/O errors. */
int kt_update_state_read(const struct kt_update *u, struct kt_bootstate *st);
int kt_update_state_write(const struct kt_update *u, struct kt_bootstate *st);
/* Encoding (also the fuzzing entry point of the decoder): 0 or -EBADMSG. */
void kt_bootstate_encode(const struct kt_bootstate *st, uint8_t out[KT_UPDATE_STATE_LEN]);
int kt_bootstate_decode(const uint8_t *buf, size_t len, struct kt_bootstate *st);

/* Checks a slot: its signed head by the trusted key, the board, every
 * part's size and hash. im gets its manifest (kt_image_free it). */
int kt_update_slot_check(const struct kt_update *u, int slot, struct kt_image *im,
			 char *err, size_t errlen);

/* Verifies the image completely (signature, board, version against the
 * good slot's unless allow_downgrade, every part) before writing
 * anything, then installs it into the inactive slot and makes it the
 * pending one. factory: for a new box, the image becomes the good slot
 * at once. *slot gets the slot. 0 or -errno with err saying why. */
int kt_update_install(const struct kt_update *u, const char *image,
		      bool allow_downgrade, bool factory, int *slot,
		      char *err, size_t errlen);
/* The boot loader's choice (see above); *slot gets it and why a note
 * for people ("pending, 2 tries left", "rolled back from b", ...). */
int kt_update_boot(const struct kt_update *u, int *slot, char *why, size_t whylen);
/* The running (booted) slot is healthy: a pending one becomes good. */
int kt_update_confirm(const struct kt_update *u, char *msg, size_t msglen);

#endif
