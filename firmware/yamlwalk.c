#include "yamlwalk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text.h"

static void append(char *buf, size_t cap, const char *sep, const char *s)
{
	size_t l = strlen(buf);

	snprintf(buf + l, cap - l, "%s%s", l ? sep : "", s);
}

int kt_yw_fail(struct kt_yw *w, const yaml_node_t *n, const char *path,
	       const char *fmt, ...)
{
	va_list ap;

	if (n) {
		w->err->line = (unsigned)n->start_mark.line + 1;
		w->err->column = (unsigned)n->start_mark.column + 1;
	}
	snprintf(w->err->field, sizeof(w->err->field), "%s", path);
	va_start(ap, fmt);
	vsnprintf(w->err->message, sizeof(w->err->message), fmt, ap);
	va_end(ap);
	kt_text_clean(w->err->field);
	kt_text_clean(w->err->message);
	return -EINVAL;
}

static void syntax_error(const yaml_parser_t *p, const uint8_t *buf, size_t len,
			 struct kt_config_error *err)
{
	if (p->error == YAML_READER_ERROR) {
		/* The reader (bad encoding) reports a byte offset only. */
		size_t off = p->problem_offset < len ? p->problem_offset : len;

		err->line = 1;
		err->column = 1;
		for (size_t i = 0; i < off; i++) {
			err->column++;
			if (buf[i] == '\n') {
				err->line++;
				err->column = 1;
			}
		}
	} else {
		err->line = (unsigned)p->problem_mark.line + 1;
		err->column = (unsigned)p->problem_mark.column + 1;
	}
	snprintf(err->field, sizeof(err->field), "(syntax)");
	snprintf(err->message, sizeof(err->message), "%s%s%s",
		 p->problem ? p->problem : "malformed YAML",
		 p->context ? " " : "", p->context ? p->context : "");
	kt_text_clean(err->message);
}

int kt_yw_init(struct kt_yw *w, const uint8_t *buf, size_t len,
	       struct kt_config_error *err)
{
	return kt_yw_init_kind(w, buf, len, "a file", err);
}

int kt_yw_init_kind(struct kt_yw *w, const uint8_t *buf, size_t len,
		    const char *kind, struct kt_config_error *err)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	int r = 0;

	memset(w, 0, sizeof(*w));
	w->err = err;
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, buf, len);
	if (!yaml_parser_load(&parser, &w->doc)) {
		syntax_error(&parser, buf, len, err);
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	if (!yaml_document_get_root_node(&w->doc)) {
		r = kt_yw_fail(w, NULL, "(file)", "the file is empty");
	} else if (!yaml_parser_load(&parser, &extra)) {
		syntax_error(&parser, buf, len, err);
		r = -EINVAL;
	} else {
		if (yaml_document_get_root_node(&extra))
			r = kt_yw_fail(w, NULL, "(file)", "holds more than one "
				       "YAML document ('---'); %s holds one",
				       kind);
		yaml_document_delete(&extra);
	}
	if (!r) {
		w->seen = calloc((size_t)(w->doc.nodes.top - w->doc.nodes.start) + 1, 1);
		if (!w->seen)
			r = -ENOMEM;
	}
	yaml_parser_delete(&parser);
	if (r)
		yaml_document_delete(&w->doc);
	return r;
}

void kt_yw_uninit(struct kt_yw *w)
{
	if (!w->seen)
		return;
	free(w->seen);
	w->seen = NULL;
	yaml_document_delete(&w->doc);
}

yaml_node_t *kt_yw_root(struct kt_yw *w)
{
	return yaml_document_get_root_node(&w->doc);
}

static const char *type_name(yaml_node_type_t t)
{
	switch (t) {
	case YAML_SCALAR_NODE: return "a value";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "nothing";
	}
}

static bool seen(struct kt_yw *w, const yaml_node_t *n)
{
	return w->seen[n - w->doc.nodes.start];
}

int kt_yw_expect(struct kt_yw *w, yaml_node_t *n, yaml_node_type_t t,
		 const char *path)
{
	if (seen(w, n))
		return kt_yw_fail(w, n, path, "YAML aliases (*name) are not accepted");
	w->seen[n - w->doc.nodes.start] = 1;
	if (n->type != t)
		return kt_yw_fail(w, n, path, "expected %s, found %s", type_name(t),
				  type_name(n->type));
	return 0;
}

int kt_yw_scalar(struct kt_yw *w, yaml_node_t *n, const char *path,
		 const char **out, size_t max)
{
	const char *s;
	size_t len;
	int r = kt_yw_expect(w, n, YAML_SCALAR_NODE, path);

	if (r)
		return r;
	s = (const char *)n->data.scalar.value;
	len = n->data.scalar.length;
	if (strlen(s) != len)
		return kt_yw_fail(w, n, path, "contains a NUL byte");
	if (len == 0 || (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
			 (!strcmp(s, "~") || !strcmp(s, "null"))))
		return kt_yw_fail(w, n, path, "must not be empty");
	if (len >= max)
		return kt_yw_fail(w, n, path,
				  "'%.40s...' is too long (at most %zu bytes)",
				  s, max - 1);
	*out = s;
	return 0;
}

int kt_yw_copy(struct kt_yw *w, yaml_node_t *n, const char *path, char *dst,
	       size_t cap)
{
	const char *s;
	int r = kt_yw_scalar(w, n, path, &s, cap);

	if (!r)
		memcpy(dst, s, strlen(s) + 1);
	return r;
}

bool kt_yw_is_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '-'))
			return false;
	return true;
}

int kt_yw_name(struct kt_yw *w, yaml_node_t *n, const char *path, char *dst,
	       size_t cap)
{
	int r = kt_yw_copy(w, n, path, dst, cap);

	if (!r && !kt_yw_is_name(dst))
		r = kt_yw_fail(w, n, path, "'%s' is not a name (lower-case "
			       "letters, digits and '-', starting with a letter "
			       "or digit)", dst);
	return r;
}

int kt_yw_choose(struct kt_yw *w, yaml_node_t *n, const char *path,
		 const char *const *words, int *out)
{
	char list[200] = "";
	const char *s;
	int r = kt_yw_scalar(w, n, path, &s, 64);

	if (r)
		return r;
	for (int i = 0; words[i]; i++) {
		if (!strcmp(s, words[i])) {
			*out = i;
			return 0;
		}
		append(list, sizeof(list), ", ", words[i]);
	}
	return kt_yw_fail(w, n, path, "'%s' is not one of: %s", s, list);
}

int kt_yw_bool(struct kt_yw *w, yaml_node_t *n, const char *path, bool *out)
{
	static const char *const words[] = { "false", "true", NULL };
	int i, r = kt_yw_choose(w, n, path, words, &i);

	if (!r)
		*out = i == 1;
	return r;
}

/* Decimal digits only: YAML itself would read 0x10, 1e3, +5 or 010
 * (octal in YAML 1.1) as numbers too. kt_yw_uint and kt_yw_decimal differ
 * in the longest value read and in their messages (see yamlwalk.h). */
static int read_uint(struct kt_yw *w, yaml_node_t *n, const char *path,
		     unsigned long min, unsigned long max, unsigned long *out,
		     bool strict)
{
	const char *s;
	unsigned long v = 0;
	bool big = false;
	int r = kt_yw_scalar(w, n, path, &s, strict ? 64 : 24);

	if (r)
		return r;
	for (const char *p = s; *p; p++) {
		unsigned d = (unsigned)(*p - '0');

		if ((*p < '0' || *p > '9') && strict)
			return kt_yw_fail(w, n, path, "'%s' is not a decimal "
					  "number (digits only) from %lu to %lu",
					  s, min, max);
		if (*p < '0' || *p > '9')
			return kt_yw_fail(w, n, path, "'%s' is not a number", s);
		/* Past ULONG_MAX it is out of range whatever max is. */
		if (big || v > (ULONG_MAX - d) / 10)
			big = true;
		else
			v = v * 10 + d;
	}
	if (strict && s[0] == '0' && s[1])
		return kt_yw_fail(w, n, path, "'%s' has a leading zero; write a "
				  "decimal number from %lu to %lu", s, min, max);
	if (big || v < min || v > max)
		return kt_yw_fail(w, n, path, "%s is out of range (%lu to %lu)",
				  s, min, max);
	*out = v;
	return 0;
}

int kt_yw_uint(struct kt_yw *w, yaml_node_t *n, const char *path,
	       unsigned long min, unsigned long max, unsigned long *out)
{
	return read_uint(w, n, path, min, max, out, false);
}

int kt_yw_decimal(struct kt_yw *w, yaml_node_t *n, const char *path,
		  unsigned long min, unsigned long max, unsigned long *out)
{
	return read_uint(w, n, path, min, max, out, true);
}

int kt_yw_addr(struct kt_yw *w, yaml_node_t *n, const char *path,
	       struct kt_addr *out)
{
	const char *s;
	int r = kt_yw_scalar(w, n, path, &s, KT_PREFIX_STRLEN);

	if (!r && !kt_addr_parse(s, out))
		r = kt_yw_fail(w, n, path, "'%s' is not an IPv4 or IPv6 address", s);
	return r;
}

int kt_yw_prefix_like(struct kt_yw *w, yaml_node_t *n, const char *path,
		      const char *like, struct kt_prefix *out)
{
	const char *s;
	int r = kt_yw_scalar(w, n, path, &s, KT_PREFIX_STRLEN);

	if (!r && !kt_prefix_parse(s, out))
		r = kt_yw_fail(w, n, path, "'%s' is not an address with prefix "
			       "length (like %s)", s, like);
	return r;
}

int kt_yw_prefix(struct kt_yw *w, yaml_node_t *n, const char *path,
		 struct kt_prefix *out)
{
	return kt_yw_prefix_like(w, n, path, "192.0.2.0/24 or 2001:db8::/64",
				 out);
}

yaml_node_t *kt_yw_peek(struct kt_yw *w, yaml_node_t *n, const char *key)
{
	if (n->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&w->doc, p->key);

		if (k && k->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)k->data.scalar.value, key))
			return yaml_document_get_node(&w->doc, p->value);
	}
	return NULL;
}

#define KT_YW_MAX_FIELDS 16

int kt_yw_map(struct kt_yw *w, yaml_node_t *n, const char *path,
	      const struct kt_yw_field *fields, size_t nf, void *obj)
{
	yaml_node_t *vals[KT_YW_MAX_FIELDS] = { 0 }, *keys[KT_YW_MAX_FIELDS] = { 0 };
	char sub[KT_YW_PATH_MAX], list[240] = "";
	int r = kt_yw_expect(w, n, YAML_MAPPING_NODE, path);

	if (r)
		return r;
	if (nf > KT_YW_MAX_FIELDS)
		return kt_yw_fail(w, n, path, "internal error: too many fields");
	for (size_t i = 0; i < nf; i++)
		append(list, sizeof(list), ", ", fields[i].key);
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&w->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&w->doc, p->value);
		const char *key;
		size_t i;

		if ((r = kt_yw_scalar(w, k, path, &key, 64)))
			return r;
		for (i = 0; i < nf && strcmp(key, fields[i].key); i++)
			;
		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
		if (i == nf)
			return kt_yw_fail(w, k, sub, "unknown key '%s' (expected: %s)",
					  key, list);
		if (vals[i])
			return kt_yw_fail(w, k, sub, "'%s' is given twice", key);
		vals[i] = v;
		keys[i] = k;
	}
	for (size_t i = 0; i < nf; i++) {
		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "",
			 fields[i].key);
		if (!vals[i]) {
			if (fields[i].required)
				return kt_yw_fail(w, n, sub, "missing key '%s'",
						  fields[i].key);
			continue;
		}
		/* An alias shares its anchor's node (and its position): name
		 * the key that uses it instead. */
		if (seen(w, vals[i]))
			return kt_yw_fail(w, keys[i], sub,
					  "YAML aliases (*name) are not accepted");
		if ((r = fields[i].fn(w, vals[i], sub, obj)))
			return r;
	}
	return 0;
}

int kt_yw_list(struct kt_yw *w, yaml_node_t *n, const char *path, size_t max,
	       int (*fn)(struct kt_yw *w, yaml_node_t *item, const char *path,
			 size_t i, void *obj),
	       void *obj)
{
	char sub[KT_YW_PATH_MAX];
	size_t i = 0;
	int r = kt_yw_expect(w, n, YAML_SEQUENCE_NODE, path);

	if (r)
		return r;
	if (n->data.sequence.items.start == n->data.sequence.items.top)
		return kt_yw_fail(w, n, path, "must list at least one entry");
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *item = yaml_document_get_node(&w->doc, *it);

		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		if (i == max)
			return kt_yw_fail(w, item, sub,
					  "too many entries (at most %zu)", max);
		if ((r = fn(w, item, sub, i, obj)))
			return r;
	}
	return 0;
}

/* A whole file, refused unread when it is not a regular file or is
 * larger than max, so a wrong path (an image, a log) cannot make the
 * caller allocate without bound. *out is malloc'd (the caller frees). */
int kt_yw_read_file(const char *path, long max, const char *what, uint8_t **out,
		    size_t *out_len, struct kt_config_error *err)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	ssize_t n;
	int fd, r;

	snprintf(err->file, sizeof(err->file), "%s", path);
	snprintf(err->field, sizeof(err->field), "(file)");
	err->line = err->column = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		snprintf(err->message, sizeof(err->message), "cannot open: %s",
			 strerror(-r));
		return r;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err->message, sizeof(err->message), "is not a regular file");
		return -EINVAL;
	}
	if (st.st_size > max) {
		close(fd);
		snprintf(err->message, sizeof(err->message),
			 "is %lld bytes; %s is at most %ld",
			 (long long)st.st_size, what, max);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size &&
	       (n = read(fd, buf + got, (size_t)st.st_size - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(err->message, sizeof(err->message),
				 "read failed: %s", strerror(-r));
			free(buf);
			close(fd);
			return r;
		}
		got += (size_t)n;
	}
	close(fd);
	*out = buf;
	*out_len = got;
	return 0;
}
