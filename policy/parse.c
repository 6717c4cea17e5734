/* The policy file format (docs/policy.md) into struct kt_policy.
 *
 * Two passes. The first walks the YAML of the template (when the file
 * names a model) and then of the file, filling and completing entries; it
 * reports what one field alone can tell (a bad prefix, a port out of
 * range, an unknown key). The second, resolve(), looks at the merged
 * whole: names that flows refer to, host addresses inside their segment,
 * prefixes that overlap, template entries the file left incomplete. */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "generated/autoconf.h"
#include "text.h"
#include "yamlwalk.h"

struct pctx {
	struct kt_policy *pol;
	const struct kt_pol_source *src;
	uint8_t file;			/* index into pol->files */
	struct kt_pol_loc model_loc;	/* where the file names its model */
};

static struct pctx *ctx(struct kt_yw *w)
{
	return w->user;
}

static struct kt_pol_loc loc_of(struct kt_yw *w, const yaml_node_t *n)
{
	struct kt_pol_loc l = {
		.file = ctx(w)->file,
		.line = (uint32_t)n->start_mark.line + 1,
		.column = (uint32_t)n->start_mark.column + 1,
	};
	return l;
}

/* An error found after the walk, at a remembered place. */
__attribute__((format(printf, 5, 6)))
static int fail_at(const struct kt_policy *p, struct kt_config_error *err,
		   const struct kt_pol_loc *l, const char *field,
		   const char *fmt, ...)
{
	va_list ap;

	snprintf(err->file, sizeof(err->file), "%s", p->files[l->file]);
	err->line = l->line;
	err->column = l->column;
	snprintf(err->field, sizeof(err->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	kt_text_clean(err->field);
	kt_text_clean(err->message);
	return -EINVAL;
}

static bool reserved(const char *name)
{
	return !strcmp(name, KT_POL_EP_BOX_NAME) ||
	       !strcmp(name, KT_POL_EP_INTERNET_LINE_NAME);
}

static int find_segment(const struct kt_policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_segments; i++)
		if (!strcmp(p->segments[i].name, name))
			return (int)i;
	return -1;
}

static int find_hosts(const struct kt_policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_hosts; i++)
		if (!strcmp(p->hosts[i].name, name))
			return (int)i;
	return -1;
}

/* Resolves a port the way the site configuration does: a logical port of
 * the board, or (boards that allow it, and tunnel interfaces) an
 * interface name as is. */
static int port_name(struct kt_yw *w, yaml_node_t *v, const char *path,
		     char *ifname)
{
	const struct kt_port_map *map = ctx(w)->src->map;
	const char *s;
	int r = kt_yw_scalar(w, v, path, &s, IF_NAMESIZE);

	if (r)
		return r;
	for (size_t i = 0; map && i < map->n; i++) {
		if (strcmp(s, map->ports[i][0]))
			continue;
		if (!map->ports[i][1][0])
			return kt_yw_fail(w, v, path, "this board has no port '%s'", s);
		snprintf(ifname, IF_NAMESIZE, "%s", map->ports[i][1]);
		return 0;
	}
	for (const char *c = s; *c; c++)
		if (*c <= ' ' || *c == '/' || *c == ':' || *c > '~')
			return kt_yw_fail(w, v, path, "'%s' is not a port or "
					  "interface name", s);
	if (!strcmp(s, ".") || !strcmp(s, ".."))
		return kt_yw_fail(w, v, path, "'%s' is not an interface name", s);
	snprintf(ifname, IF_NAMESIZE, "%s", s);
	return 0;
}

/* --- model --- */

static const char *const model_words[] = { "alpha", "beta", "beta-prime", NULL };

static int parse_file(struct pctx *c, const char *name, const uint8_t *buf,
		      size_t len, struct kt_config_error *err);

static int f_model(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	struct pctx *c = ctx(w);
	struct kt_config_error *err = w->err;
	char tpath[256], saved[sizeof(err->file)];
	uint8_t *buf;
	size_t len;
	int m, r;

	(void)o;
	if (c->file != 0)
		return kt_yw_fail(w, v, path, "a template cannot name a model");
	if ((r = kt_yw_choose(w, v, path, model_words, &m)))
		return r;
	c->pol->model = (enum kt_pol_model)(m + 1);
	c->model_loc = loc_of(w, v);
	if (!c->src->template_dir)
		return kt_yw_fail(w, v, path, "no template folder is configured "
				  "to find model '%s' in", model_words[m]);
	if ((size_t)snprintf(tpath, sizeof(tpath), "%s/%s.yaml",
			     c->src->template_dir, model_words[m]) >= sizeof(tpath))
		return kt_yw_fail(w, v, path, "the template folder's name is too long");
	memcpy(saved, err->file, sizeof(saved));
	r = kt_yw_read_file(tpath, CONFIG_POLICY_MAX_BYTES, "a policy file", &buf, &len, err);
	if (r) {
		/* Name the line that asked for the template, and why it
		 * could not be read. */
		char why[sizeof(err->message)];

		snprintf(why, sizeof(why), "%s", err->message);
		snprintf(err->file, sizeof(err->file), "%s", saved);
		return kt_yw_fail(w, v, path, "template %s: %s", tpath, why);
	}
	snprintf(c->pol->files[1], sizeof(c->pol->files[1]), "%s", tpath);
	c->pol->n_files = 2;
	c->file = 1;
	r = parse_file(c, tpath, buf, len, err);
	c->file = 0;
	free(buf);
	if (!r)
		memcpy(err->file, saved, sizeof(saved));
	return r;
}

/* --- lines --- */

static int f_line_name(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	struct kt_policy *p = ctx(w)->pol;
	struct kt_pol_line *l = o;
	int r = kt_yw_name(w, v, path, l->name, sizeof(l->name));

	for (size_t i = 0; !r && i < p->n_lines; i++)
		if (&p->lines[i] != l && !strcmp(p->lines[i].name, l->name))
			r = kt_yw_fail(w, v, path, "line '%s' is defined twice",
				       l->name);
	return r;
}

static int f_line_kind(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	static const char *const kinds[] = { "closed", "best-effort", NULL };
	int k, r = kt_yw_choose(w, v, path, kinds, &k);

	if (!r)
		((struct kt_pol_line *)o)->kind = (enum kt_line_kind)k;
	return r;
}

static int f_line_port(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	return port_name(w, v, path, ((struct kt_pol_line *)o)->ifname);
}

static int one_tunnel_port(struct kt_yw *w, yaml_node_t *v, const char *path,
			   size_t i, void *o)
{
	struct kt_pol_line *l = o;
	unsigned long port;
	int r = kt_yw_uint(w, v, path, 1, 65535, &port);

	if (!r) {
		l->tunnel_ports[i] = (uint16_t)port;
		l->n_tunnel_ports = i + 1;
	}
	return r;
}

static int f_line_tunnel_ports(struct kt_yw *w, yaml_node_t *v, const char *path,
			       void *o)
{
	return kt_yw_list(w, v, path, KT_POL_MAX_TUNNEL_PORTS, one_tunnel_port, o);
}

static int one_line(struct kt_yw *w, yaml_node_t *v, const char *path, size_t i,
		    void *o)
{
	static const struct kt_yw_field f[] = {
		{ "name", true, f_line_name },
		{ "kind", true, f_line_kind },
		{ "port", true, f_line_port },
		{ "tunnel-ports", false, f_line_tunnel_ports },
	};
	struct kt_policy *p = ctx(w)->pol;
	struct kt_pol_line *l = &p->lines[i];
	int r;

	(void)o;
	memset(l, 0, sizeof(*l));
	l->loc = loc_of(w, v);
	r = kt_yw_map(w, v, path, f, sizeof(f) / sizeof(f[0]), l);
	if (!r)
		p->n_lines = i + 1;
	return r;
}

static int f_lines(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	(void)o;
	if (ctx(w)->file != 0)
		return kt_yw_fail(w, v, path, "lines belong to the site's policy "
				  "file, not to a template");
	return kt_yw_list(w, v, path, KT_POL_MAX_LINES, one_line, NULL);
}

/* --- segments --- */

static int f_seg_name(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	struct kt_pol_segment *s = o;

	return kt_yw_name(w, v, path, s->name, sizeof(s->name));
}

static int f_seg_kind(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	static const char *const kinds[] = {
		"mynumber", "lgwan", "internet", "management", NULL,
	};
	struct kt_pol_segment *s = o;
	int k, r = kt_yw_choose(w, v, path, kinds, &k);

	if (r)
		return r;
	if (s->has_kind && s->kind != (enum kt_seg_kind)k)
		return kt_yw_fail(w, v, path, "segment '%s' is a %s segment in "
				  "the template; its kind cannot change", s->name,
				  kt_seg_kind_name(s->kind));
	s->kind = (enum kt_seg_kind)k;
	s->has_kind = true;
	return 0;
}

static int one_seg_port(struct kt_yw *w, yaml_node_t *v, const char *path,
			size_t i, void *o)
{
	struct kt_pol_segment *s = o;
	int r = port_name(w, v, path, s->ifnames[i]);

	for (size_t j = 0; !r && j < i; j++)
		if (!strcmp(s->ifnames[j], s->ifnames[i]))
			r = kt_yw_fail(w, v, path, "port '%s' is listed twice",
				       s->ifnames[i]);
	if (!r)
		s->n_ports = i + 1;
	return r;
}

static int f_seg_ports(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	struct kt_pol_segment *s = o;

	s->n_ports = 0;
	s->loc_ports = loc_of(w, v);
	return kt_yw_list(w, v, path, KT_POL_MAX_PORTS, one_seg_port, o);
}

static int f_seg_vlan(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	unsigned long id;
	int r = kt_yw_uint(w, v, path, 1, 4094, &id);

	if (!r)
		((struct kt_pol_segment *)o)->vlan = (uint16_t)id;
	return r;
}

/* Prefixes are written as networks: 10.1.1.1/24 is more likely a slip
 * (an interface address) than a wish to mean 10.1.1.0/24. */
static int network_prefix(struct kt_yw *w, yaml_node_t *v, const char *path,
			  struct kt_prefix *pf, bool host_ok)
{
	char want[KT_PREFIX_STRLEN];
	struct kt_prefix net;
	const char *s;
	size_t bytes;
	int r;

	if (host_ok && v->type == YAML_SCALAR_NODE && !strchr(
		    (const char *)v->data.scalar.value, '/')) {
		struct kt_addr a;

		if ((r = kt_yw_addr(w, v, path, &a)))
			return r;
		kt_prefix_host(&a, pf);
		return 0;
	}
	if ((r = kt_yw_prefix(w, v, path, pf)))
		return r;
	net = *pf;
	bytes = kt_addr_size(&net.addr);
	for (size_t b = 0; b < bytes; b++) {
		unsigned keep = net.len >= (b + 1) * 8 ? 8
			: net.len > b * 8 ? net.len - b * 8 : 0;

		net.addr.bytes[b] &= (uint8_t)(0xff00u >> keep);
	}
	if (!kt_addr_equal(&net.addr, &pf->addr)) {
		s = kt_prefix_str(&net, want, sizeof(want));
		return kt_yw_fail(w, v, path, "'%s' has host bits set (the "
				  "network is %s)",
				  (const char *)v->data.scalar.value, s);
	}
	return 0;
}

static int one_seg_prefix(struct kt_yw *w, yaml_node_t *v, const char *path,
			  size_t i, void *o)
{
	struct kt_pol_segment *s = o;
	int r = network_prefix(w, v, path, &s->prefixes[i], false);

	if (!r)
		s->n_prefixes = i + 1;
	return r;
}

static int f_seg_prefixes(struct kt_yw *w, yaml_node_t *v, const char *path,
			  void *o)
{
	struct kt_pol_segment *s = o;

	s->n_prefixes = 0;
	s->loc_prefixes = loc_of(w, v);
	return kt_yw_list(w, v, path, KT_POL_MAX_PREFIXES, one_seg_prefix, o);
}

static int one_path(struct kt_yw *w, yaml_node_t *v, const char *path, size_t i,
		    void *o)
{
	static const char *const kinds[] = { "closed", "best-effort", NULL };
	struct kt_pol_segment *s = o;
	int k, r = kt_yw_choose(w, v, path, kinds, &k);

	(void)i;
	if (r)
		return r;
	if (s->paths & (1u << k))
		return kt_yw_fail(w, v, path, "'%s' is listed twice", kinds[k]);
	s->paths |= 1u << k;
	return 0;
}

static int f_seg_paths(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	struct kt_pol_segment *s = o;

	s->paths = 0;
	s->loc_paths = loc_of(w, v);
	return kt_yw_list(w, v, path, 2, one_path, o);
}

static int f_seg_allow_be(struct kt_yw *w, yaml_node_t *v, const char *path,
			  void *o)
{
	((struct kt_pol_segment *)o)->loc_allow = loc_of(w, v);
	return kt_yw_bool(w, v, path, &((struct kt_pol_segment *)o)->allow_best_effort);
}

/* A template entry named again in the file is completed by it: the file's
 * fields replace the template's, except the kind (and a host group's role
 * and segment), which say what separation applies and stay. */
static int entry_target(struct kt_yw *w, yaml_node_t *v, const char *path,
			const char *what, int found, const uint32_t *defined_at,
			size_t count, size_t max, size_t *index)
{
	struct pctx *c = ctx(w);
	yaml_node_t *n = kt_yw_peek(w, v, "name");

	if (found >= 0) {
		if (defined_at[c->file])
			return kt_yw_fail(w, n, path, "%s '%s' is defined twice "
					  "(first at line %u)", what,
					  (const char *)n->data.scalar.value,
					  defined_at[c->file]);
		*index = (size_t)found;
		return 0;
	}
	if (count == max)
		return kt_yw_fail(w, v, path, "too many %ss (at most %zu)", what, max);
	*index = count;
	return 0;
}

static const char *peek_name(struct kt_yw *w, yaml_node_t *v)
{
	yaml_node_t *n = kt_yw_peek(w, v, "name");

	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
						: NULL;
}

static int one_segment(struct kt_yw *w, yaml_node_t *v, const char *path,
		       size_t i, void *o)
{
	static const struct kt_yw_field f[] = {
		{ "name", true, f_seg_name },
		{ "kind", false, f_seg_kind },
		{ "ports", false, f_seg_ports },
		{ "vlan", false, f_seg_vlan },
		{ "prefixes", false, f_seg_prefixes },
		{ "paths", false, f_seg_paths },
		{ "allow-best-effort", false, f_seg_allow_be },
	};
	struct kt_policy *p = ctx(w)->pol;
	const char *name = peek_name(w, v);
	int found = name ? find_segment(p, name) : -1;
	struct kt_pol_segment *s;
	size_t idx;
	int r;

	(void)i;
	(void)o;
	r = entry_target(w, v, path, "segment", found,
			 found >= 0 ? p->segments[found].defined_at : NULL,
			 p->n_segments, KT_POL_MAX_SEGMENTS, &idx);
	if (r)
		return r;
	s = &p->segments[idx];
	if (found < 0) {
		memset(s, 0, sizeof(*s));
		s->loc = loc_of(w, v);
		snprintf(s->path, sizeof(s->path), "%s", path);
	}
	s->defined_at[ctx(w)->file] = (uint32_t)v->start_mark.line + 1;
	r = kt_yw_map(w, v, path, f, sizeof(f) / sizeof(f[0]), s);
	if (r)
		return r;
	if (reserved(s->name))
		return kt_yw_fail(w, kt_yw_peek(w, v, "name"), path,
				  "'%s' is a reserved name", s->name);
	if (find_hosts(p, s->name) >= 0)
		return kt_yw_fail(w, kt_yw_peek(w, v, "name"), path,
				  "'%s' is already the name of a host group; flows "
				  "name both, so names must differ", s->name);
	if (!s->has_kind)
		return kt_yw_fail(w, v, path, "missing key 'kind' (segment '%s' "
				  "is not in the template)", s->name);
	if (found < 0)
		p->n_segments++;
	return 0;
}

static int f_segments(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	(void)o;
	return kt_yw_list(w, v, path, KT_POL_MAX_SEGMENTS, one_segment, NULL);
}

/* --- host groups --- */

static int f_host_name(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	struct kt_pol_hosts *h = o;

	return kt_yw_name(w, v, path, h->name, sizeof(h->name));
}

static int f_host_role(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	static const char *const roles[] = {
		"server", "relay", "screen-transfer", "file-transfer", NULL,
	};
	struct kt_pol_hosts *h = o;
	int k, r = kt_yw_choose(w, v, path, roles, &k);

	if (r)
		return r;
	if (h->has_role && h->role != (enum kt_pol_role)k)
		return kt_yw_fail(w, v, path, "host group '%s' is a %s in the "
				  "template; its role cannot change", h->name,
				  roles[h->role]);
	h->role = (enum kt_pol_role)k;
	h->has_role = true;
	return 0;
}

static int f_host_segment(struct kt_yw *w, yaml_node_t *v, const char *path,
			  void *o)
{
	struct kt_pol_hosts *h = o;
	char name[KT_POL_NAME_MAX];
	int r = kt_yw_name(w, v, path, name, sizeof(name));

	if (r)
		return r;
	if (h->has_segment && strcmp(name, h->segment_name))
		return kt_yw_fail(w, v, path, "host group '%s' is in segment '%s' "
				  "in the template; its segment cannot change",
				  h->name, h->segment_name);
	memcpy(h->segment_name, name, sizeof(name));
	h->has_segment = true;
	h->loc_segment = loc_of(w, v);
	return 0;
}

static int one_host_addr(struct kt_yw *w, yaml_node_t *v, const char *path,
			 size_t i, void *o)
{
	struct kt_pol_hosts *h = o;
	int r = network_prefix(w, v, path, &h->addrs[i], true);

	if (!r)
		h->n_addrs = i + 1;
	return r;
}

static int f_host_addrs(struct kt_yw *w, yaml_node_t *v, const char *path,
			void *o)
{
	struct kt_pol_hosts *h = o;

	h->n_addrs = 0;
	h->loc_addrs = loc_of(w, v);
	return kt_yw_list(w, v, path, KT_POL_MAX_ADDRS, one_host_addr, o);
}

static int one_host(struct kt_yw *w, yaml_node_t *v, const char *path, size_t i,
		    void *o)
{
	static const struct kt_yw_field f[] = {
		{ "name", true, f_host_name },
		{ "role", false, f_host_role },
		{ "segment", false, f_host_segment },
		{ "addresses", false, f_host_addrs },
	};
	struct kt_policy *p = ctx(w)->pol;
	const char *name = peek_name(w, v);
	int found = name ? find_hosts(p, name) : -1;
	struct kt_pol_hosts *h;
	size_t idx;
	int r;

	(void)i;
	(void)o;
	r = entry_target(w, v, path, "host group", found,
			 found >= 0 ? p->hosts[found].defined_at : NULL, p->n_hosts,
			 KT_POL_MAX_HOSTS, &idx);
	if (r)
		return r;
	h = &p->hosts[idx];
	if (found < 0) {
		memset(h, 0, sizeof(*h));
		h->loc = loc_of(w, v);
		snprintf(h->path, sizeof(h->path), "%s", path);
	}
	h->defined_at[ctx(w)->file] = (uint32_t)v->start_mark.line + 1;
	if ((r = kt_yw_map(w, v, path, f, sizeof(f) / sizeof(f[0]), h)))
		return r;
	if (reserved(h->name))
		return kt_yw_fail(w, kt_yw_peek(w, v, "name"), path,
				  "'%s' is a reserved name", h->name);
	if (find_segment(p, h->name) >= 0)
		return kt_yw_fail(w, kt_yw_peek(w, v, "name"), path,
				  "'%s' is already the name of a segment; flows "
				  "name both, so names must differ", h->name);
	if (!h->has_role)
		return kt_yw_fail(w, v, path, "missing key 'role' (host group "
				  "'%s' is not in the template)", h->name);
	if (!h->has_segment)
		return kt_yw_fail(w, v, path, "missing key 'segment' (host group "
				  "'%s' is not in the template)", h->name);
	if (found < 0)
		p->n_hosts++;
	return 0;
}

static int f_hosts(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	(void)o;
	return kt_yw_list(w, v, path, KT_POL_MAX_HOSTS, one_host, NULL);
}

/* --- flows --- */

static int endpoint(struct kt_yw *w, yaml_node_t *v, const char *path,
		    struct kt_pol_ep *e)
{
	int r = kt_yw_name(w, v, path, e->name, sizeof(e->name));

	e->loc = loc_of(w, v);
	return r;
}

static int f_flow_from(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	return endpoint(w, v, path, &((struct kt_pol_flow *)o)->from);
}

static int f_flow_to(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	return endpoint(w, v, path, &((struct kt_pol_flow *)o)->to);
}

static int f_flow_proto(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	static const char *const protos[] = { "tcp", "udp", "icmp", "any", NULL };
	int k, r = kt_yw_choose(w, v, path, protos, &k);

	if (!r)
		((struct kt_pol_flow *)o)->proto = (enum kt_pol_proto)k;
	return r;
}

static int port_number(struct kt_yw *w, yaml_node_t *v, const char *path,
		       const char *s, size_t len, uint16_t *out)
{
	unsigned long n = 0;

	if (len == 0 || len > 5)
		return kt_yw_fail(w, v, path, "'%s' is not a port or range of "
				  "ports (like 443 or 8000-8100)", s);
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return kt_yw_fail(w, v, path, "'%s' is not a port or range "
					  "of ports (like 443 or 8000-8100)", s);
		n = n * 10 + (unsigned long)(s[i] - '0');
	}
	if (n < 1 || n > 65535)
		return kt_yw_fail(w, v, path, "port %.*s is out of range (1 to "
				  "65535)", (int)len, s);
	*out = (uint16_t)n;
	return 0;
}

static int one_flow_port(struct kt_yw *w, yaml_node_t *v, const char *path,
			 size_t i, void *o)
{
	struct kt_pol_flow *f = o;
	struct kt_pol_range *rg = &f->ports[i];
	const char *s, *dash;
	int r = kt_yw_scalar(w, v, path, &s, 16);

	if (r)
		return r;
	dash = strchr(s, '-');
	if (!dash) {
		r = port_number(w, v, path, s, strlen(s), &rg->lo);
		rg->hi = rg->lo;
	} else if (!(r = port_number(w, v, path, s, (size_t)(dash - s), &rg->lo))) {
		r = port_number(w, v, path, dash + 1, strlen(dash + 1), &rg->hi);
		if (!r && rg->hi < rg->lo)
			r = kt_yw_fail(w, v, path, "range '%s' ends before it "
				       "starts", s);
	}
	for (size_t j = 0; !r && j < i; j++)
		if (rg->lo <= f->ports[j].hi && f->ports[j].lo <= rg->hi)
			r = kt_yw_fail(w, v, path, "'%s' overlaps ports[%zu]", s, j);
	if (!r)
		f->n_ports = i + 1;
	return r;
}

static int f_flow_ports(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	struct kt_pol_flow *f = o;

	if (f->proto != KT_POL_PROTO_TCP && f->proto != KT_POL_PROTO_UDP)
		return kt_yw_fail(w, v, path, "ports need proto tcp or udp "
				  "(this flow is %s)", kt_pol_proto_name(f->proto));
	if (v->type == YAML_SCALAR_NODE)
		return one_flow_port(w, v, path, 0, o);
	return kt_yw_list(w, v, path, KT_POL_MAX_RANGES, one_flow_port, o);
}

static int f_flow_purpose(struct kt_yw *w, yaml_node_t *v, const char *path,
			  void *o)
{
	struct kt_pol_flow *f = o;
	int r = kt_yw_copy(w, v, path, f->purpose, sizeof(f->purpose));

	if (!r && !kt_text_valid(f->purpose))
		r = kt_yw_fail(w, v, path, "is not valid UTF-8 text on one line");
	return r;
}

static int f_flow_log(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	return kt_yw_bool(w, v, path, &((struct kt_pol_flow *)o)->log);
}

static int one_flow(struct kt_yw *w, yaml_node_t *v, const char *path, size_t i,
		    void *o)
{
	/* proto before ports: which protocols take ports. */
	static const struct kt_yw_field f[] = {
		{ "from", true, f_flow_from },
		{ "to", true, f_flow_to },
		{ "proto", true, f_flow_proto },
		{ "ports", false, f_flow_ports },
		{ "purpose", true, f_flow_purpose },
		{ "log", false, f_flow_log },
	};
	struct kt_policy *p = ctx(w)->pol;
	struct kt_pol_flow *fl;
	int r;

	(void)i;
	(void)o;
	if (p->n_flows == CONFIG_POLICY_MAX_FLOWS)
		return kt_yw_fail(w, v, path, "too many flows (at most %d)",
				  CONFIG_POLICY_MAX_FLOWS);
	if (p->n_flows == p->cap_flows) {
		size_t cap = p->cap_flows ? p->cap_flows * 2 : 64;
		void *n = realloc(p->flows, cap * sizeof(*p->flows));

		if (!n)
			return -ENOMEM;
		p->flows = n;
		p->cap_flows = cap;
	}
	fl = &p->flows[p->n_flows];
	memset(fl, 0, sizeof(*fl));
	fl->loc = loc_of(w, v);
	snprintf(fl->path, sizeof(fl->path), "%s", path);
	if ((r = kt_yw_map(w, v, path, f, sizeof(f) / sizeof(f[0]), fl)))
		return r;
	if ((fl->proto == KT_POL_PROTO_TCP || fl->proto == KT_POL_PROTO_UDP) &&
	    !fl->n_ports)
		return kt_yw_fail(w, v, path, "missing key 'ports' (a %s flow names "
				  "its ports; write 1-65535 to mean all of them)",
				  kt_pol_proto_name(fl->proto));
	p->n_flows++;
	return 0;
}

static int f_flows(struct kt_yw *w, yaml_node_t *v, const char *path, void *o)
{
	(void)o;
	return kt_yw_list(w, v, path, CONFIG_POLICY_MAX_FLOWS + 1, one_flow, NULL);
}

static int parse_file(struct pctx *c, const char *name, const uint8_t *buf,
		      size_t len, struct kt_config_error *err)
{
	static const struct kt_yw_field f[] = {
		{ "model", false, f_model },
		{ "lines", false, f_lines },
		{ "segments", false, f_segments },
		{ "hosts", false, f_hosts },
		{ "flows", false, f_flows },
	};
	struct kt_yw w;
	int r;

	snprintf(err->file, sizeof(err->file), "%s", name);
	if ((r = kt_yw_init(&w, buf, len, err)))
		return r;
	w.user = c;
	r = kt_yw_map(&w, kt_yw_root(&w), "", f, sizeof(f) / sizeof(f[0]), NULL);
	kt_yw_uninit(&w);
	return r;
}

/* --- the second pass --- */

static int resolve_ep(const struct kt_policy *p, struct kt_pol_ep *e,
		      const char *field, struct kt_config_error *err)
{
	int i;

	if (!strcmp(e->name, KT_POL_EP_BOX_NAME)) {
		e->type = KT_POL_EP_BOX;
	} else if (!strcmp(e->name, KT_POL_EP_INTERNET_LINE_NAME)) {
		e->type = KT_POL_EP_INTERNET_LINE;
	} else if ((i = find_segment(p, e->name)) >= 0) {
		e->type = KT_POL_EP_SEGMENT;
		e->index = (unsigned)i;
	} else if ((i = find_hosts(p, e->name)) >= 0) {
		e->type = KT_POL_EP_HOSTS;
		e->index = (unsigned)i;
	} else {
		return fail_at(p, err, &e->loc, field, "no segment or host group "
			       "is named '%s'", e->name);
	}
	return 0;
}

static int resolve_flow(const struct kt_policy *p, struct kt_pol_flow *f,
			struct kt_config_error *err)
{
	char field[48];
	int r;

	snprintf(field, sizeof(field), "%s.from", f->path);
	if ((r = resolve_ep(p, &f->from, field, err)))
		return r;
	if (f->from.type == KT_POL_EP_INTERNET_LINE)
		return fail_at(p, err, &f->from.loc, field, "the internet line "
			       "is only a destination: nothing from the internet "
			       "is let in");
	snprintf(field, sizeof(field), "%s.to", f->path);
	if ((r = resolve_ep(p, &f->to, field, err)))
		return r;
	if (!strcmp(f->from.name, f->to.name))
		return fail_at(p, err, &f->to.loc, field, "a flow from '%s' to "
			       "itself never crosses the box", f->to.name);
	if (f->from.type == KT_POL_EP_BOX && f->to.type == KT_POL_EP_INTERNET_LINE)
		return 0;
	if ((f->from.type == KT_POL_EP_BOX || f->to.type == KT_POL_EP_BOX) &&
	    (f->from.type == KT_POL_EP_INTERNET_LINE ||
	     f->to.type == KT_POL_EP_INTERNET_LINE))
		return fail_at(p, err, &f->to.loc, field, "the box and the "
			       "internet line cannot be paired");
	return 0;
}

static int resolve_segments(struct kt_policy *p, const struct pctx *c,
			    struct kt_config_error *err)
{
	char field[48], a[KT_PREFIX_STRLEN], b[KT_PREFIX_STRLEN];

	for (size_t i = 0; i < p->n_segments; i++) {
		struct kt_pol_segment *s = &p->segments[i];

		if (!s->n_ports || !s->n_prefixes) {
			/* A template segment the file did not complete: the
			 * place to fix is the file, where it names its model. */
			const struct kt_pol_loc *l =
				s->loc.file ? &c->model_loc : &s->loc;

			return fail_at(p, err, l, s->loc.file ? "model" : s->path,
				       "segment '%s' needs %s%s%s", s->name,
				       s->n_ports ? "" : "'ports'",
				       !s->n_ports && !s->n_prefixes ? " and " : "",
				       s->n_prefixes ? "" : "'prefixes'");
		}
		if (!s->paths)
			s->paths = s->kind == KT_SEG_MYNUMBER
				? 1u << KT_LINE_CLOSED
				: 1u << KT_LINE_CLOSED | 1u << KT_LINE_BEST_EFFORT;
		snprintf(field, sizeof(field), "%s.paths", s->path);
		if (s->kind == KT_SEG_MYNUMBER &&
		    (s->paths & 1u << KT_LINE_BEST_EFFORT) && !s->allow_best_effort)
			return fail_at(p, err, &s->loc_paths, field,
				       "My Number segment '%s' uses closed lines "
				       "only; add 'allow-best-effort: true' if "
				       "your rules permit best-effort lines", s->name);
		snprintf(field, sizeof(field), "%s.allow-best-effort", s->path);
		if (s->allow_best_effort && s->kind != KT_SEG_MYNUMBER)
			return fail_at(p, err, &s->loc_allow, field, "'allow-best-effort' "
				       "is for My Number segments only");
		for (size_t j = 0; j < s->n_ports; j++)
			for (size_t l = 0; l < p->n_lines; l++)
				if (!strcmp(s->ifnames[j], p->lines[l].ifname)) {
					snprintf(field, sizeof(field), "%s.ports[%zu]",
						 s->path, j);
					return fail_at(p, err, &s->loc_ports, field,
						       "port '%s' is line '%s'; a "
						       "segment cannot sit on a line",
						       s->ifnames[j], p->lines[l].name);
				}
		if (s->vlan) {
			for (size_t j = 0; j < s->n_ports; j++) {
				char vif[IF_NAMESIZE + 8];

				snprintf(vif, sizeof(vif), "%s.%u", s->ifnames[j],
					 s->vlan);
				if (strlen(vif) >= IF_NAMESIZE)
					return fail_at(p, err, &s->loc_ports, s->path,
						       "VLAN interface '%s' is "
						       "longer than the kernel "
						       "allows", vif);
				memcpy(s->ifnames[j], vif, IF_NAMESIZE);
			}
		}
		/* Every address belongs to one segment at most: classification
		 * by address must give one answer. */
		for (size_t k = 0; k < s->n_prefixes; k++)
			for (size_t j = 0; j <= i; j++) {
				const struct kt_pol_segment *o = &p->segments[j];
				size_t end = j == i ? k : o->n_prefixes;

				for (size_t m = 0; m < end; m++)
					if (kt_prefix_overlap(&s->prefixes[k],
							      &o->prefixes[m])) {
						snprintf(field, sizeof(field),
							 "%s.prefixes[%zu]", s->path, k);
						return fail_at(p, err, &s->loc_prefixes, field,
							"%s overlaps %s of segment '%s'",
							kt_prefix_str(&s->prefixes[k], a, sizeof(a)),
							kt_prefix_str(&o->prefixes[m], b, sizeof(b)),
							o->name);
					}
			}
	}
	return 0;
}

static int resolve_hosts(struct kt_policy *p, const struct pctx *c,
			 struct kt_config_error *err)
{
	char field[48], a[KT_PREFIX_STRLEN];

	for (size_t i = 0; i < p->n_hosts; i++) {
		struct kt_pol_hosts *h = &p->hosts[i];
		const struct kt_pol_segment *s;
		int si = find_segment(p, h->segment_name);

		snprintf(field, sizeof(field), "%s.segment", h->path);
		if (si < 0)
			return fail_at(p, err, &h->loc_segment, field,
				       "no segment is named '%s'", h->segment_name);
		h->segment = (unsigned)si;
		s = &p->segments[si];
		if (!h->n_addrs)
			return fail_at(p, err, h->loc.file ? &c->model_loc : &h->loc,
				       h->loc.file ? "model" : h->path,
				       "host group '%s' needs 'addresses'", h->name);
		for (size_t k = 0; k < h->n_addrs; k++) {
			bool inside = false;

			for (size_t m = 0; m < s->n_prefixes && !inside; m++)
				inside = s->prefixes[m].len <= h->addrs[k].len &&
					 kt_prefix_contains(&s->prefixes[m],
							    &h->addrs[k].addr);
			if (!inside) {
				snprintf(field, sizeof(field), "%s.addresses[%zu]",
					 h->path, k);
				return fail_at(p, err, &h->loc_addrs, field,
					       "%s is not inside segment '%s'",
					       kt_prefix_str(&h->addrs[k], a, sizeof(a)),
					       s->name);
			}
		}
	}
	return 0;
}

static int resolve(struct kt_policy *p, const struct pctx *c,
		   struct kt_config_error *err)
{
	int r;

	if ((r = resolve_segments(p, c, err)) || (r = resolve_hosts(p, c, err)))
		return r;
	for (size_t i = 0; i < p->n_flows; i++)
		if ((r = resolve_flow(p, &p->flows[i], err)))
			return r;
	if (!p->n_segments)
		return fail_at(p, err, &(struct kt_pol_loc){ .line = 1, .column = 1 },
			       "segments", "a policy needs at least one segment");
	return 0;
}

int kt_policy_parse(const char *name, const uint8_t *buf, size_t len,
		    const struct kt_pol_source *src, struct kt_policy *out,
		    struct kt_config_error *err)
{
	struct pctx c = { .pol = out, .src = src };
	int r;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	snprintf(out->files[0], sizeof(out->files[0]), "%s", name);
	out->n_files = 1;
	r = parse_file(&c, name, buf, len, err);
	if (!r)
		r = resolve(out, &c, err);
	if (r) {
		kt_policy_uninit(out);
		return r;
	}
	wc_Sha256Hash(buf, (word32)len, out->sha256);
	return 0;
}

int kt_policy_load(const char *path, const struct kt_pol_source *src,
		   struct kt_policy *out, struct kt_config_error *err)
{
	uint8_t *buf;
	size_t len;
	int r;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	if ((r = kt_yw_read_file(path, CONFIG_POLICY_MAX_BYTES, "a policy file", &buf, &len, err)))
		return r;
	r = kt_policy_parse(path, buf, len, src, out, err);
	free(buf);
	return r;
}

void kt_policy_uninit(struct kt_policy *p)
{
	free(p->flows);
	p->flows = NULL;
	p->n_flows = p->cap_flows = 0;
}

const char *kt_pol_model_name(enum kt_pol_model m)
{
	return m == KT_POL_MODEL_NONE ? "none" : model_words[m - 1];
}

const char *kt_pol_role_name(enum kt_pol_role r)
{
	static const char *const n[] = {
		"server", "relay", "screen-transfer", "file-transfer",
	};
	return (unsigned)r < 4 ? n[r] : "?";
}

const char *kt_pol_proto_name(enum kt_pol_proto pr)
{
	static const char *const n[] = { "tcp", "udp", "icmp", "any" };
	return (unsigned)pr < 4 ? n[pr] : "?";
}

enum kt_seg_kind kt_pol_ep_kind(const struct kt_policy *p,
				const struct kt_pol_ep *e)
{
	switch (e->type) {
	case KT_POL_EP_SEGMENT:
		return p->segments[e->index].kind;
	case KT_POL_EP_HOSTS:
		return p->segments[p->hosts[e->index].segment].kind;
	default:
		return KT_SEG_KIND_COUNT;
	}
}
