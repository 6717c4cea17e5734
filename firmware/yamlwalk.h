/* Walking a libyaml document with errors that name the file, line, column
 * and field (docs/configuration.md, docs/policy.md).
 *
 * A walker owns the loaded document and a visited-once mark per node: a
 * second visit can only come from an alias, which Kyoten's files have no
 * use for and which would let a small file expand into a large one.
 * Handlers receive the walker, the value node, the field's path (as
 * "flows[3].ports") and the object being filled.
 *
 * Used by the site configuration (firmware/config.c) and the policy
 * (policy/parse.c); where the two files word or read something
 * differently, the module has a variant for each rather than one of
 * them changing what its users see. */
#ifndef KT_YAMLWALK_H
#define KT_YAMLWALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "addr.h"
#include "config.h"	/* struct kt_config_error and its formatting */

#define KT_YW_PATH_MAX 128

struct kt_yw {
	yaml_document_t doc;
	uint8_t *seen;
	struct kt_config_error *err;
	void *user;		/* the caller's context */
};

typedef int (*kt_yw_field_fn)(struct kt_yw *w, yaml_node_t *v, const char *path,
			      void *obj);

struct kt_yw_field {
	const char *key;
	bool required;
	kt_yw_field_fn fn;
};

/* Loads exactly one document from buf. 0, or -EINVAL with err filled in
 * (syntax errors, an empty file, several documents), or -ENOMEM. The
 * error's file name is left to the caller. */
int kt_yw_init(struct kt_yw *w, const uint8_t *buf, size_t len,
	       struct kt_config_error *err);
/* The same, with the file's kind named in the several-documents error
 * ("... ('---'); <kind> holds one"): kt_yw_init says "a file", the site
 * configuration "a site file". */
int kt_yw_init_kind(struct kt_yw *w, const uint8_t *buf, size_t len,
		    const char *kind, struct kt_config_error *err);
void kt_yw_uninit(struct kt_yw *w);
yaml_node_t *kt_yw_root(struct kt_yw *w);

/* Fills err with the node's position (when n is not NULL), the path and
 * the message; returns -EINVAL. Quoted text is cleaned (text.h). */
__attribute__((format(printf, 4, 5)))
int kt_yw_fail(struct kt_yw *w, const yaml_node_t *n, const char *path,
	       const char *fmt, ...);

/* Marks n visited and checks its type. */
int kt_yw_expect(struct kt_yw *w, yaml_node_t *n, yaml_node_type_t t,
		 const char *path);
/* A non-empty scalar without NUL bytes, shorter than max. */
int kt_yw_scalar(struct kt_yw *w, yaml_node_t *n, const char *path,
		 const char **out, size_t max);
int kt_yw_copy(struct kt_yw *w, yaml_node_t *n, const char *path, char *dst,
	       size_t cap);
/* Lower-case letters, digits and '-', starting with a letter or digit. */
bool kt_yw_is_name(const char *s);
int kt_yw_name(struct kt_yw *w, yaml_node_t *n, const char *path, char *dst,
	       size_t cap);
/* Index of the value in a NULL-terminated word list. */
int kt_yw_choose(struct kt_yw *w, yaml_node_t *n, const char *path,
		 const char *const *words, int *out);
int kt_yw_bool(struct kt_yw *w, yaml_node_t *n, const char *path, bool *out);
/* A decimal integer in [min, max]. */
int kt_yw_uint(struct kt_yw *w, yaml_node_t *n, const char *path,
	       unsigned long min, unsigned long max, unsigned long *out);
/* The same, stricter, for files written by hand (docs/configuration.md):
 * a leading zero is refused too (YAML 1.1 reads 010 as octal; a reader
 * could as well), and the errors name the accepted range. The site
 * configuration has always read numbers this way; the policy reads them
 * with kt_yw_uint, and its messages stay as they are. */
int kt_yw_decimal(struct kt_yw *w, yaml_node_t *n, const char *path,
		  unsigned long min, unsigned long max, unsigned long *out);
int kt_yw_addr(struct kt_yw *w, yaml_node_t *n, const char *path,
	       struct kt_addr *out);
int kt_yw_prefix(struct kt_yw *w, yaml_node_t *n, const char *path,
		 struct kt_prefix *out);
/* The same with the error's example given ("like <like>"): kt_yw_prefix
 * shows networks (the policy's prefixes); the site configuration's are
 * mostly the box's own addresses with their prefix length, and its
 * example shows a host part. */
int kt_yw_prefix_like(struct kt_yw *w, yaml_node_t *n, const char *path,
		      const char *like, struct kt_prefix *out);

/* A mapping with known keys, handled in the table's order (not the
 * file's), so that later fields can depend on earlier ones. Unknown and
 * repeated keys are errors. A table has at most 16 fields
 * (KT_YW_MAX_FIELDS in yamlwalk.c); a longer one is refused as an
 * internal error. */
int kt_yw_map(struct kt_yw *w, yaml_node_t *n, const char *path,
	      const struct kt_yw_field *fields, size_t nf, void *obj);
/* A non-empty list of at most max items, fn called with each index. */
int kt_yw_list(struct kt_yw *w, yaml_node_t *n, const char *path, size_t max,
	       int (*fn)(struct kt_yw *w, yaml_node_t *item, const char *path,
			 size_t i, void *obj),
	       void *obj);
/* The value of key in mapping n without visiting it, or NULL. */
yaml_node_t *kt_yw_peek(struct kt_yw *w, yaml_node_t *n, const char *key);

/* Reads the whole file at path (at most max bytes; `what` names such a
 * file in the error, e.g. "a policy file"). */
int kt_yw_read_file(const char *path, long max, const char *what, uint8_t **out,
		    size_t *out_len, struct kt_config_error *err)
	__attribute__((warn_unused_result));

#endif
