/* Verification that does not trust the compiler: the invariants checked
 * on what the kernel holds (verify.c). */
#ifndef KT_VERIFY_H
#define KT_VERIFY_H

#include <stddef.h>

#include "policy.h"

#define KT_POL_FINDING_WHERE 320

struct kt_pol_finding {
	enum kt_pol_inv inv;
	char where[KT_POL_FINDING_WHERE];	/* "chain forward rule (handle 9) ..." */
	char detail[200];
};

/* json: the output of `nft -j list table inet kyoten` (or of the whole
 * ruleset). The policy says which interface and address is which segment.
 * Returns the number of findings (all counted, at most max stored), or
 * -EINVAL with err when the JSON cannot be read. */
int kt_pol_verify(const struct kt_policy *p, const char *json,
		  struct kt_pol_finding *f, size_t max, char *err, size_t errlen);
/* "WHERE: breaks invariant ID: RULE (DETAIL)" */
const char *kt_pol_finding_str(const struct kt_pol_finding *f, char *buf,
			       size_t len);

#endif
