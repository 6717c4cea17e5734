/* libFuzzer target: path signals as the engine receives them inside a
 * tunnel (netstack/pathsig.c). What parses must build back to the same
 * bytes, and what is refused must name a reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pathsig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_pathsig sig;
	uint8_t again[KT_PATHSIG_LEN];
	int err = kt_pathsig_parse(data, size, &sig);

	if (err) {
		if (err >= 0 || -err >= KT_PATHSIG_BAD_COUNT ||
		    !strcmp(kt_pathsig_bad_name((unsigned)-err), "?"))
			abort();
		return 0;
	}
	if (size != KT_PATHSIG_LEN || !kt_pathsig_is(data, size) ||
	    kt_pathsig_build(&sig, again) || memcmp(again, data, size))
		abort();
	return 0;
}
