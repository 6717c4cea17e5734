#define KT_MODULE "config"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "generated/autoconf.h"
#include "log.h"
#include "text.h"

struct ctx {
	yaml_document_t doc;
	const struct kt_port_map *map;
	struct kt_config *cfg;
	struct kt_config_error *err;
	uint8_t *seen;		/* per node: visited once already */
};

typedef int (*field_fn)(struct ctx *c, yaml_node_t *v, const char *path,
			void *obj);

struct field {
	const char *key;
	bool required;
	field_fn fn;
};

static int failv(struct ctx *c, const yaml_node_t *n, const char *path,
		 const char *fmt, va_list ap)
{
	if (n) {
		c->err->line = (unsigned)n->start_mark.line + 1;
		c->err->column = (unsigned)n->start_mark.column + 1;
	}
	snprintf(c->err->field, sizeof(c->err->field), "%s", path);
	vsnprintf(c->err->message, sizeof(c->err->message), fmt, ap);
	/* Messages quote the file, which may hold anything. */
	kt_text_clean(c->err->field);
	kt_text_clean(c->err->message);
	return -EINVAL;
}

__attribute__((format(printf, 4, 5)))
static int fail(struct ctx *c, const yaml_node_t *n, const char *path,
		const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = failv(c, n, path, fmt, ap);
	va_end(ap);
	return r;
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

/* Every node is visited once; a second visit can only come from an alias,
 * which a site file has no use for and which would let a small file expand
 * into a large one. */
static int visit(struct ctx *c, yaml_node_t *n, const char *path)
{
	size_t i = (size_t)(n - c->doc.nodes.start);

	if (c->seen[i])
		return fail(c, n, path, "YAML aliases (*name) are not accepted");
	c->seen[i] = 1;
	return 0;
}

static int expect(struct ctx *c, yaml_node_t *n, yaml_node_type_t t,
		  const char *path)
{
	int r = visit(c, n, path);

	if (r)
		return r;
	if (n->type != t)
		return fail(c, n, path, "expected %s, found %s",
			    type_name(t), type_name(n->type));
	return 0;
}

/* A scalar as a C string, with its length and content checked. */
static int scalar(struct ctx *c, yaml_node_t *n, const char *path,
		  const char **out, size_t max)
{
	const char *s;
	size_t len;
	int r = expect(c, n, YAML_SCALAR_NODE, path);

	if (r)
		return r;
	s = (const char *)n->data.scalar.value;
	len = n->data.scalar.length;
	if (strlen(s) != len)
		return fail(c, n, path, "contains a NUL byte");
	if (len == 0 || (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
			 (!strcmp(s, "~") || !strcmp(s, "null"))))
		return fail(c, n, path, "must not be empty");
	if (len >= max)
		return fail(c, n, path, "'%.40s...' is too long (at most %zu bytes)",
			    s, max - 1);
	*out = s;
	return 0;
}

static int copy_scalar(struct ctx *c, yaml_node_t *n, const char *path,
		       char *dst, size_t cap)
{
	const char *s;
	int r = scalar(c, n, path, &s, cap);

	if (!r)
		memcpy(dst, s, strlen(s) + 1);
	return r;
}

static bool is_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '-'))
			return false;
	return true;
}

static int name_field(struct ctx *c, yaml_node_t *n, const char *path,
		      char *dst)
{
	int r = copy_scalar(c, n, path, dst, KT_NAME_MAX);

	if (!r && !is_name(dst))
		r = fail(c, n, path,
			 "'%s' is not a name (lower-case letters, digits and '-', "
			 "starting with a letter or digit)", dst);
	return r;
}

/* Names of one kind are unique: `first` is the name field of the first
 * entry already parsed, `stride` the size of an entry. */
static int unique_name(struct ctx *c, yaml_node_t *v, const char *path,
		       char *dst, const char *kind, const char *first, size_t n,
		       size_t stride)
{
	int r = name_field(c, v, path, dst);

	for (size_t i = 0; !r && i < n; i++)
		if (!strcmp(first + i * stride, dst))
			r = fail(c, v, path, "%s '%s' is defined twice", kind, dst);
	return r;
}

/* Index of s in a NULL-terminated word list, or an error listing them. */
static int choose(struct ctx *c, yaml_node_t *n, const char *path,
		  const char *const *words, int *out)
{
	char list[160] = "";
	const char *s;
	int r = scalar(c, n, path, &s, 64);

	if (r)
		return r;
	for (int i = 0; words[i]; i++) {
		if (!strcmp(s, words[i])) {
			*out = i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
			 "%s%s", i ? ", " : "", words[i]);
	}
	return fail(c, n, path, "'%s' is not one of: %s", s, list);
}

static int prefix_field(struct ctx *c, yaml_node_t *n, const char *path,
			struct kt_prefix *p)
{
	const char *s;
	int r = scalar(c, n, path, &s, KT_PREFIX_STRLEN);

	if (!r && !kt_prefix_parse(s, p))
		r = fail(c, n, path,
			 "'%s' is not an address with prefix length "
			 "(like 192.0.2.1/24 or 2001:db8::1/64)", s);
	return r;
}

static int addr_field(struct ctx *c, yaml_node_t *n, const char *path,
		      struct kt_addr *a)
{
	const char *s;
	int r = scalar(c, n, path, &s, KT_PREFIX_STRLEN);

	if (!r && !kt_addr_parse(s, a))
		r = fail(c, n, path, "'%s' is not an IPv4 or IPv6 address", s);
	return r;
}

/* A mapping with known keys, handled in the table's order (not the
 * file's), so that later sections can refer to earlier ones. */
static int walk_map(struct ctx *c, yaml_node_t *n, const char *path,
		    const struct field *fields, size_t nf, void *obj)
{
	yaml_node_t *vals[16] = { 0 }, *keys[16] = { 0 };
	char sub[128], list[200] = "";
	yaml_node_pair_t *p;
	int r = expect(c, n, YAML_MAPPING_NODE, path);

	if (r)
		return r;
	for (size_t i = 0; i < nf; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 i ? ", " : "", fields[i].key);
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&c->doc, p->value);
		const char *key;
		size_t i;

		if ((r = scalar(c, k, path, &key, 64)))
			return r;
		for (i = 0; i < nf && strcmp(key, fields[i].key); i++)
			;
		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
		if (i == nf)
			return fail(c, k, sub, "unknown key '%s' (expected: %s)",
				    key, list);
		if (vals[i])
			return fail(c, k, sub, "'%s' is given twice", key);
		vals[i] = v;
		keys[i] = k;
	}
	for (size_t i = 0; i < nf; i++) {
		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "",
			 fields[i].key);
		if (!vals[i]) {
			if (fields[i].required)
				return fail(c, n, sub, "missing key '%s'",
					    fields[i].key);
			continue;
		}
		/* An alias shares its anchor's node (and its position): name
		 * the key that uses it instead. */
		if (c->seen[vals[i] - c->doc.nodes.start])
			return fail(c, keys[i], sub,
				    "YAML aliases (*name) are not accepted");
		if ((r = fields[i].fn(c, vals[i], sub, obj)))
			return r;
	}
	return 0;
}

/* A list of at most max items, each handled by fn with its index. */
static int walk_list(struct ctx *c, yaml_node_t *n, const char *path,
		     size_t max, int (*fn)(struct ctx *, yaml_node_t *,
					   const char *, size_t))
{
	char sub[128];
	yaml_node_item_t *it;
	size_t i = 0;
	int r = expect(c, n, YAML_SEQUENCE_NODE, path);

	if (r)
		return r;
	if (n->data.sequence.items.start == n->data.sequence.items.top)
		return fail(c, n, path, "must list at least one entry");
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++, i++) {
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		if (i == max)
			return fail(c, yaml_document_get_node(&c->doc, *it), sub,
				    "too many entries (at most %zu)", max);
		if ((r = fn(c, yaml_document_get_node(&c->doc, *it), sub, i)))
			return r;
	}
	return 0;
}

/* --- site --- */

static int f_site_id(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	(void)o;
	return name_field(c, v, p, c->cfg->site_id);
}

static int f_device_number(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	int r = copy_scalar(c, v, p, c->cfg->device_number, KT_DEVNUM_MAX);

	(void)o;
	for (const char *s = c->cfg->device_number; !r && *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			r = fail(c, v, p, "'%s' must be printable ASCII without "
				 "spaces (it is the customer's device number)",
				 c->cfg->device_number);
	return r;
}

static int f_location(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	int r = copy_scalar(c, v, p, c->cfg->location, KT_LOCATION_MAX);

	(void)o;
	if (!r && !kt_text_valid(c->cfg->location))
		r = fail(c, v, p, "is not valid UTF-8 text on one line");
	return r;
}

static int f_role(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	static const char *const roles[] = { "site", "hub", NULL };
	int i, r = choose(c, v, p, roles, &i);

	(void)o;
	if (!r)
		c->cfg->role = (enum kt_role)i;
	return r;
}

static int f_site(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	static const struct field f[] = {
		{ "id", true, f_site_id },
		{ "device-number", true, f_device_number },
		{ "role", true, f_role },
		{ "location", false, f_location },
	};
	return walk_map(c, v, p, f, sizeof(f) / sizeof(f[0]), o);
}

static int f_log_level(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	static const char *const levels[] = {
		"emerg", "alert", "crit", "error", "warning", "notice", "info",
		"debug", NULL,
	};
	(void)o;
	return choose(c, v, p, levels, &c->cfg->log_level);
}

static int f_log(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	static const struct field f[] = { { "level", false, f_log_level } };
	return walk_map(c, v, p, f, 1, o);
}

/* --- ports --- */

static bool port_in_use(const struct kt_config *cfg, const char *ifname)
{
	for (size_t i = 0; i < cfg->n_lines; i++)
		if (!strcmp(cfg->lines[i].ifname, ifname))
			return true;
	for (size_t i = 0; i < cfg->n_segments; i++)
		if (!strcmp(cfg->segments[i].ifname, ifname))
			return true;
	return false;
}

static bool valid_ifname(const char *s)
{
	if (!*s || strlen(s) >= IF_NAMESIZE || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s == '/' || *s == ':' || *s > '~')
			return false;
	return true;
}

static int port_field(struct ctx *c, yaml_node_t *v, const char *p,
		      char *port, char *ifname)
{
	char list[160] = "";
	int r = copy_scalar(c, v, p, port, KT_PORT_MAX);

	if (r)
		return r;
	ifname[0] = '\0';
	for (size_t i = 0; i < c->map->n; i++) {
		const char *logical = c->map->ports[i][0], *dev = c->map->ports[i][1];

		if (dev[0])
			snprintf(list + strlen(list), sizeof(list) - strlen(list),
				 "%s%s", list[0] ? ", " : "", logical);
		if (!strcmp(port, logical)) {
			if (!dev[0])
				return fail(c, v, p, "this board has no port '%s'",
					    port);
			snprintf(ifname, IF_NAMESIZE, "%s", dev);
		}
	}
	if (!ifname[0]) {
		if (!c->map->names_as_is)
			return fail(c, v, p, "unknown port '%s' (this board has: %s)",
				    port, list);
		if (!valid_ifname(port))
			return fail(c, v, p, "'%s' is not an interface name", port);
		snprintf(ifname, IF_NAMESIZE, "%s", port);
	}
	if (port_in_use(c->cfg, ifname))
		return fail(c, v, p, "port '%s' is already used by another line "
			    "or segment", port);
	return 0;
}

/* No two of the box's own prefixes may overlap: the kernel would route one
 * segment's traffic out of another's port. */
static int check_overlap(struct ctx *c, yaml_node_t *v, const char *p,
			 const struct kt_prefix *pf)
{
	char a[KT_PREFIX_STRLEN];

	for (size_t i = 0; i < c->cfg->n_lines; i++)
		if (kt_prefix_overlap(pf, &c->cfg->lines[i].address))
			return fail(c, v, p, "overlaps line '%s' (%s)",
				    c->cfg->lines[i].name,
				    kt_prefix_str(&c->cfg->lines[i].address, a,
						  sizeof(a)));
	for (size_t i = 0; i < c->cfg->n_segments; i++)
		if (kt_prefix_overlap(pf, &c->cfg->segments[i].address))
			return fail(c, v, p, "overlaps segment '%s' (%s)",
				    c->cfg->segments[i].name,
				    kt_prefix_str(&c->cfg->segments[i].address, a,
						  sizeof(a)));
	return 0;
}

/* --- lines --- */

static int f_line_name(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	return unique_name(c, v, p, ((struct kt_line *)o)->name, "line",
			   c->cfg->lines[0].name, c->cfg->n_lines,
			   sizeof(struct kt_line));
}

static int f_line_kind(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	static const char *const kinds[] = { "closed", "best-effort", NULL };
	int i, r = choose(c, v, p, kinds, &i);

	if (!r)
		((struct kt_line *)o)->kind = (enum kt_line_kind)i;
	return r;
}

static int f_line_port(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	struct kt_line *l = o;

	return port_field(c, v, p, l->port, l->ifname);
}

static int f_line_address(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	struct kt_line *l = o;
	int r = prefix_field(c, v, p, &l->address);

	return r ? r : check_overlap(c, v, p, &l->address);
}

static int f_line_gateway(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	struct kt_line *l = o;
	char a[KT_PREFIX_STRLEN], g[KT_PREFIX_STRLEN];
	int r = addr_field(c, v, p, &l->gateway);

	if (r)
		return r;
	if (!kt_prefix_contains(&l->address, &l->gateway))
		return fail(c, v, p, "gateway %s is not inside the line's "
			    "address %s", kt_addr_str(&l->gateway, g, sizeof(g)),
			    kt_prefix_str(&l->address, a, sizeof(a)));
	if (kt_addr_equal(&l->address.addr, &l->gateway))
		return fail(c, v, p, "gateway %s is the line's own address",
			    kt_addr_str(&l->gateway, g, sizeof(g)));
	return 0;
}

static int f_line(struct ctx *c, yaml_node_t *v, const char *p, size_t i)
{
	/* address before gateway: the gateway is checked against it. */
	static const struct field f[] = {
		{ "name", true, f_line_name },
		{ "kind", true, f_line_kind },
		{ "port", true, f_line_port },
		{ "address", true, f_line_address },
		{ "gateway", true, f_line_gateway },
	};
	int r = walk_map(c, v, p, f, sizeof(f) / sizeof(f[0]), &c->cfg->lines[i]);

	if (!r)
		c->cfg->n_lines = i + 1;
	return r;
}

static int f_lines(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	(void)o;
	return walk_list(c, v, p, KT_MAX_LINES, f_line);
}

/* --- hubs --- */

static int f_hub_name(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	return unique_name(c, v, p, ((struct kt_hub *)o)->name, "hub",
			   c->cfg->hubs[0].name, c->cfg->n_hubs,
			   sizeof(struct kt_hub));
}

static int f_hub_endpoints(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	struct kt_hub *h = o;
	char sub[128];
	yaml_node_pair_t *pair;
	int r = expect(c, v, YAML_MAPPING_NODE, p);

	if (r)
		return r;
	if (v->data.mapping.pairs.start == v->data.mapping.pairs.top)
		return fail(c, v, p, "must name at least one line");
	for (pair = v->data.mapping.pairs.start; pair < v->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *k = yaml_document_get_node(&c->doc, pair->key);
		yaml_node_t *a = yaml_document_get_node(&c->doc, pair->value);
		struct kt_endpoint *e = &h->endpoints[h->n_endpoints];
		const char *line;
		size_t li;

		if ((r = scalar(c, k, p, &line, KT_NAME_MAX)))
			return r;
		snprintf(sub, sizeof(sub), "%s.%s", p, line);
		for (li = 0; li < c->cfg->n_lines &&
			     strcmp(c->cfg->lines[li].name, line); li++)
			;
		if (li == c->cfg->n_lines)
			return fail(c, k, sub, "no line is named '%s'", line);
		for (size_t j = 0; j < h->n_endpoints; j++)
			if (h->endpoints[j].line == li)
				return fail(c, k, sub, "line '%s' is given twice",
					    line);
		if ((r = addr_field(c, a, sub, &e->addr)))
			return r;
		if (e->addr.family != c->cfg->lines[li].address.addr.family)
			return fail(c, a, sub, "address family differs from "
				    "line '%s'", line);
		e->line = (unsigned)li;
		h->n_endpoints++;
	}
	return 0;
}

static int f_hub(struct ctx *c, yaml_node_t *v, const char *p, size_t i)
{
	static const struct field f[] = {
		{ "name", true, f_hub_name },
		{ "endpoints", true, f_hub_endpoints },
	};
	int r = walk_map(c, v, p, f, sizeof(f) / sizeof(f[0]), &c->cfg->hubs[i]);

	if (!r)
		c->cfg->n_hubs = i + 1;
	return r;
}

static int f_hubs(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	(void)o;
	if (c->cfg->role == KT_ROLE_HUB)
		return fail(c, v, p, "a hub has no hubs of its own");
	return walk_list(c, v, p, KT_MAX_HUBS, f_hub);
}

/* --- segments --- */

static int f_seg_name(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	return unique_name(c, v, p, ((struct kt_segment *)o)->name, "segment",
			   c->cfg->segments[0].name, c->cfg->n_segments,
			   sizeof(struct kt_segment));
}

static int f_seg_kind(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	static const char *const kinds[] = {
		"mynumber", "lgwan", "internet", "management", "datacenter", NULL,
	};
	struct kt_segment *s = o;
	int i, r = choose(c, v, p, kinds, &i);

	if (r)
		return r;
	s->kind = (enum kt_seg_kind)i;
	if ((c->cfg->role == KT_ROLE_HUB) != (s->kind == KT_SEG_DATACENTER))
		return fail(c, v, p, "a %s cannot have a '%s' segment",
			    kt_role_name(c->cfg->role), kinds[i]);
	for (size_t j = 0; j < c->cfg->n_segments; j++)
		if (c->cfg->segments[j].kind == s->kind)
			return fail(c, v, p, "a second '%s' segment (segment '%s' "
				    "is one already)", kinds[i],
				    c->cfg->segments[j].name);
	return 0;
}

static int f_seg_port(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	struct kt_segment *s = o;

	return port_field(c, v, p, s->port, s->ifname);
}

static int f_seg_address(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	struct kt_segment *s = o;
	int r = prefix_field(c, v, p, &s->address);

	return r ? r : check_overlap(c, v, p, &s->address);
}

static int f_segment(struct ctx *c, yaml_node_t *v, const char *p, size_t i)
{
	static const struct field f[] = {
		{ "name", true, f_seg_name },
		{ "kind", true, f_seg_kind },
		{ "port", true, f_seg_port },
		{ "address", true, f_seg_address },
	};
	int r = walk_map(c, v, p, f, sizeof(f) / sizeof(f[0]),
			 &c->cfg->segments[i]);

	if (!r)
		c->cfg->n_segments = i + 1;
	return r;
}

static int f_segments(struct ctx *c, yaml_node_t *v, const char *p, void *o)
{
	(void)o;
	return walk_list(c, v, p, KT_MAX_SEGMENTS, f_segment);
}

static int f_root(struct ctx *c, yaml_node_t *root)
{
	static const struct field f[] = {
		{ "site", true, f_site },
		{ "log", false, f_log },
		{ "lines", true, f_lines },
		{ "hubs", false, f_hubs },
		{ "segments", true, f_segments },
	};
	int r = walk_map(c, root, "", f, sizeof(f) / sizeof(f[0]), NULL);

	if (!r && c->cfg->role == KT_ROLE_SITE && !c->cfg->n_hubs)
		r = fail(c, root, "hubs", "missing key 'hubs' (a site needs at "
			 "least one hub)");
	return r;
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

int kt_config_parse(const char *name, const uint8_t *buf, size_t len,
		    const struct kt_port_map *map, struct kt_config *out,
		    struct kt_config_error *err)
{
	struct ctx c = { .map = map, .cfg = out, .err = err };
	yaml_parser_t parser;
	yaml_document_t extra;
	yaml_node_t *root;
	int r;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	out->log_level = -1;
	snprintf(err->file, sizeof(err->file), "%s", name);
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, buf, len);
	if (!yaml_parser_load(&parser, &c.doc)) {
		syntax_error(&parser, buf, len, err);
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	root = yaml_document_get_root_node(&c.doc);
	if (!root) {
		r = fail(&c, NULL, "(file)", "the file is empty");
		goto out_doc;
	}
	if (!yaml_parser_load(&parser, &extra)) {
		syntax_error(&parser, buf, len, err);
		r = -EINVAL;
		goto out_doc;
	} else {
		bool more = yaml_document_get_root_node(&extra) != NULL;

		yaml_document_delete(&extra);
		if (more) {
			r = fail(&c, NULL, "(file)", "holds more than one YAML "
				 "document ('---'); a site file holds one");
			goto out_doc;
		}
	}
	c.seen = calloc((size_t)(c.doc.nodes.top - c.doc.nodes.start), 1);
	if (!c.seen) {
		r = -ENOMEM;
		goto out_doc;
	}
	r = f_root(&c, root);
	free(c.seen);
	if (!r)
		wc_Sha256Hash(buf, (word32)len, out->sha256);
out_doc:
	yaml_document_delete(&c.doc);
	yaml_parser_delete(&parser);
	return r;
}

int kt_config_load(const char *path, const struct kt_port_map *map,
		   struct kt_config *out, struct kt_config_error *err)
{
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	size_t got = 0;
	int fd, r;

	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", path);
	snprintf(err->field, sizeof(err->field), "(file)");
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
	if (st.st_size > CONFIG_SITE_CONFIG_MAX_BYTES) {
		close(fd);
		snprintf(err->message, sizeof(err->message),
			 "is %lld bytes; a site configuration is at most %d",
			 (long long)st.st_size, CONFIG_SITE_CONFIG_MAX_BYTES);
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
	r = kt_config_parse(path, buf, got, map, out, err);
	free(buf);
	return r;
}

const char *kt_config_error_str(const struct kt_config_error *e, char *buf,
				size_t len)
{
	if (e->line)
		snprintf(buf, len, "%s:%u:%u: %s: %s", e->file, e->line, e->column,
			 e->field, e->message);
	else
		snprintf(buf, len, "%s: %s: %s", e->file, e->field, e->message);
	return buf;
}

const char *kt_role_name(enum kt_role r)
{
	return r == KT_ROLE_HUB ? "hub" : "site";
}

const char *kt_line_kind_name(enum kt_line_kind k)
{
	return k == KT_LINE_CLOSED ? "closed" : "best-effort";
}

const char *kt_seg_kind_name(enum kt_seg_kind k)
{
	static const char *const n[] = {
		"mynumber", "lgwan", "internet", "management", "datacenter",
	};
	return k < KT_SEG_KIND_COUNT ? n[k] : "?";
}
