#define KT_MODULE "config"
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "generated/autoconf.h"
#include "keys.h"
#include "log.h"
#include "suite.h"
#include "text.h"
#include "yamlwalk.h"

/* The walker (firmware/yamlwalk.h) holds the document and reports the
 * errors; this is what the site's fields share besides. */
struct ctx {
	struct kt_yw w;		/* w.user points back here */
	const struct kt_port_map *map;
	struct kt_config *cfg;
	const struct kt_suite *suite;	/* tunnel.suite, once parsed */
	yaml_node_t *tunnel_port;	/* checked again once the hubs are known */
	/* The hub or site entry being parsed: its tunnel fields share one
	 * set of field functions. */
	struct kt_tunnel_peer *peer;
	const char *peer_name;
};

/* The box's own addresses (lines, segments) carry a host part; the
 * example in the error shows one. */
#define PREFIX_LIKE "192.0.2.1/24 or 2001:db8::1/64"

/* Names of one kind are unique: `first` is the name field of the first
 * entry already parsed, `stride` the size of an entry. */
static int unique_name(struct kt_yw *w, yaml_node_t *v, const char *path,
		       char *dst, const char *kind, const char *first, size_t n,
		       size_t stride)
{
	int r = kt_yw_name(w, v, path, dst, KT_NAME_MAX);

	for (size_t i = 0; !r && i < n; i++)
		if (!strcmp(first + i * stride, dst))
			r = kt_yw_fail(w, v, path, "%s '%s' is defined twice",
				       kind, dst);
	return r;
}

/* A key file's path: the daemon reads it later, from whatever directory
 * it runs in, so a relative path would depend on that. */
static int path_field(struct kt_yw *w, yaml_node_t *n, const char *path,
		      char *dst)
{
	int r = kt_yw_copy(w, n, path, dst, KT_PATH_MAX);

	if (!r && dst[0] != '/')
		r = kt_yw_fail(w, n, path, "'%s' is not an absolute path", dst);
	return r;
}

/* --- site --- */

static int f_site_id(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct ctx *c = w->user;

	(void)o;
	return kt_yw_name(w, v, p, c->cfg->site_id, KT_NAME_MAX);
}

static int f_device_number(struct kt_yw *w, yaml_node_t *v, const char *p,
			   void *o)
{
	struct ctx *c = w->user;
	int r = kt_yw_copy(w, v, p, c->cfg->device_number, KT_DEVNUM_MAX);

	(void)o;
	for (const char *s = c->cfg->device_number; !r && *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			r = kt_yw_fail(w, v, p, "'%s' must be printable ASCII "
				       "without spaces (it is the customer's "
				       "device number)", c->cfg->device_number);
	return r;
}

static int f_location(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct ctx *c = w->user;
	int r = kt_yw_copy(w, v, p, c->cfg->location, KT_LOCATION_MAX);

	(void)o;
	if (!r && !kt_text_valid(c->cfg->location))
		r = kt_yw_fail(w, v, p, "is not valid UTF-8 text on one line");
	return r;
}

static int f_role(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct ctx *c = w->user;
	static const char *const roles[] = { "site", "hub", NULL };
	int i, r = kt_yw_choose(w, v, p, roles, &i);

	(void)o;
	if (!r)
		c->cfg->role = (enum kt_role)i;
	return r;
}

static int f_site(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	static const struct kt_yw_field f[] = {
		{ "id", true, f_site_id },
		{ "device-number", true, f_device_number },
		{ "role", true, f_role },
		{ "location", false, f_location },
	};
	return kt_yw_map(w, v, p, f, sizeof(f) / sizeof(f[0]), o);
}

static int f_log_level(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct ctx *c = w->user;
	static const char *const levels[] = {
		"emerg", "alert", "crit", "error", "warning", "notice", "info",
		"debug", NULL,
	};
	(void)o;
	return kt_yw_choose(w, v, p, levels, &c->cfg->log_level);
}

static int f_log(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	static const struct kt_yw_field f[] = { { "level", false, f_log_level } };
	return kt_yw_map(w, v, p, f, 1, o);
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

static int port_field(struct kt_yw *w, yaml_node_t *v, const char *p,
		      char *port, char *ifname)
{
	struct ctx *c = w->user;
	char list[160] = "";
	int r = kt_yw_copy(w, v, p, port, KT_PORT_MAX);

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
				return kt_yw_fail(w, v, p, "this board has no "
						  "port '%s'", port);
			snprintf(ifname, IF_NAMESIZE, "%s", dev);
		}
	}
	if (!ifname[0]) {
		if (!c->map->names_as_is)
			return kt_yw_fail(w, v, p, "unknown port '%s' (this "
					  "board has: %s)", port, list);
		if (!valid_ifname(port))
			return kt_yw_fail(w, v, p, "'%s' is not an interface "
					  "name", port);
		snprintf(ifname, IF_NAMESIZE, "%s", port);
	}
	if (port_in_use(c->cfg, ifname))
		return kt_yw_fail(w, v, p, "port '%s' is already used by "
				  "another line or segment", port);
	return 0;
}

/* No two of the box's own prefixes may overlap: the kernel would route one
 * segment's traffic out of another's port. */
static int check_overlap(struct kt_yw *w, yaml_node_t *v, const char *p,
			 const struct kt_prefix *pf)
{
	struct ctx *c = w->user;
	char a[KT_PREFIX_STRLEN];

	for (size_t i = 0; i < c->cfg->n_lines; i++)
		if (kt_prefix_overlap(pf, &c->cfg->lines[i].address))
			return kt_yw_fail(w, v, p, "overlaps line '%s' (%s)",
					  c->cfg->lines[i].name,
					  kt_prefix_str(&c->cfg->lines[i].address,
							a, sizeof(a)));
	for (size_t i = 0; i < c->cfg->n_segments; i++)
		if (kt_prefix_overlap(pf, &c->cfg->segments[i].address))
			return kt_yw_fail(w, v, p, "overlaps segment '%s' (%s)",
					  c->cfg->segments[i].name,
					  kt_prefix_str(&c->cfg->segments[i].address,
							a, sizeof(a)));
	/* The tunnel address is the box's too; it is parsed before the
	 * segments, which must leave it alone. */
	if (c->cfg->tunnel.enabled &&
	    kt_prefix_contains(pf, &c->cfg->tunnel.address))
		return kt_yw_fail(w, v, p, "contains the tunnel address %s",
				  kt_addr_str(&c->cfg->tunnel.address, a,
					      sizeof(a)));
	return 0;
}

/* --- lines --- */

static int f_line_name(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct ctx *c = w->user;

	return unique_name(w, v, p, ((struct kt_line *)o)->name, "line",
			   c->cfg->lines[0].name, c->cfg->n_lines,
			   sizeof(struct kt_line));
}

static int f_line_kind(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	static const char *const kinds[] = { "closed", "best-effort", NULL };
	int i, r = kt_yw_choose(w, v, p, kinds, &i);

	if (!r)
		((struct kt_line *)o)->kind = (enum kt_line_kind)i;
	return r;
}

static int f_line_port(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct kt_line *l = o;

	return port_field(w, v, p, l->port, l->ifname);
}

static int f_line_address(struct kt_yw *w, yaml_node_t *v, const char *p,
			  void *o)
{
	struct kt_line *l = o;
	int r = kt_yw_prefix_like(w, v, p, PREFIX_LIKE, &l->address);

	return r ? r : check_overlap(w, v, p, &l->address);
}

static int f_line_gateway(struct kt_yw *w, yaml_node_t *v, const char *p,
			  void *o)
{
	struct kt_line *l = o;
	char a[KT_PREFIX_STRLEN], g[KT_PREFIX_STRLEN];
	int r = kt_yw_addr(w, v, p, &l->gateway);

	if (r)
		return r;
	if (!kt_prefix_contains(&l->address, &l->gateway))
		return kt_yw_fail(w, v, p, "gateway %s is not inside the "
				  "line's address %s",
				  kt_addr_str(&l->gateway, g, sizeof(g)),
				  kt_prefix_str(&l->address, a, sizeof(a)));
	if (kt_addr_equal(&l->address.addr, &l->gateway))
		return kt_yw_fail(w, v, p, "gateway %s is the line's own "
				  "address",
				  kt_addr_str(&l->gateway, g, sizeof(g)));
	return 0;
}

static int f_line_bfd_interval(struct kt_yw *w, yaml_node_t *v, const char *p,
			       void *o)
{
	unsigned long u;
	int r = kt_yw_decimal(w, v, p, 10, 10000, &u);

	if (!r)
		((struct kt_line *)o)->bfd_interval_ms = (uint16_t)u;
	return r;
}

static int f_line_bfd_mult(struct kt_yw *w, yaml_node_t *v, const char *p,
			   void *o)
{
	unsigned long u;
	int r = kt_yw_decimal(w, v, p, 1, 50, &u);

	if (!r)
		((struct kt_line *)o)->bfd_multiplier = (uint8_t)u;
	return r;
}

static int f_line(struct kt_yw *w, yaml_node_t *v, const char *p,
		  size_t i, void *o)
{
	struct ctx *c = w->user;
	struct kt_line *l = &c->cfg->lines[i];
	/* address before gateway: the gateway is checked against it. */
	static const struct kt_yw_field f[] = {
		{ "name", true, f_line_name },
		{ "kind", true, f_line_kind },
		{ "port", true, f_line_port },
		{ "address", true, f_line_address },
		{ "gateway", true, f_line_gateway },
		{ "bfd-interval-ms", false, f_line_bfd_interval },
		{ "bfd-multiplier", false, f_line_bfd_mult },
	};
	int r;

	(void)o;
	r = kt_yw_map(w, v, p, f, sizeof(f) / sizeof(f[0]), l);
	if (r)
		return r;
	/* A closed line is detected fast; a best-effort line, whose loss
	 * and delay vary, is given more slack before a path counts as down. */
	if (!l->bfd_interval_ms)
		l->bfd_interval_ms = l->kind == KT_LINE_CLOSED ?
			CONFIG_BFD_CLOSED_INTERVAL_MS : CONFIG_BFD_BEST_EFFORT_INTERVAL_MS;
	if (!l->bfd_multiplier)
		l->bfd_multiplier = l->kind == KT_LINE_CLOSED ?
			CONFIG_BFD_CLOSED_MULTIPLIER : CONFIG_BFD_BEST_EFFORT_MULTIPLIER;
	c->cfg->n_lines = i + 1;
	return 0;
}

static int f_lines(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	(void)o;
	return kt_yw_list(w, v, p, KT_MAX_LINES, f_line, NULL);
}

/* --- tunnel --- */

static int f_tun_suite(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct ctx *c = w->user;
	const char *s;
	int r = kt_yw_scalar(w, v, p, &s, 64);

	(void)o;
	if (r)
		return r;
	c->suite = kt_suite_find(s);
	if (!c->suite)
		return kt_yw_fail(w, v, p, "'%s' is not one of: %s, %s", s,
				  kt_suite_wireguard.name,
				  kt_suite_cryptrec.name);
	snprintf(c->cfg->tunnel.suite, sizeof(c->cfg->tunnel.suite), "%s",
		 c->suite->name);
	return 0;
}

static int f_tun_private_key(struct kt_yw *w, yaml_node_t *v, const char *p,
			     void *o)
{
	struct ctx *c = w->user;

	(void)o;
	return path_field(w, v, p, c->cfg->tunnel.private_key);
}

static int f_tun_port(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct ctx *c = w->user;
	unsigned long u;
	int r = kt_yw_decimal(w, v, p, 1, 65535, &u);

	(void)o;
	if (!r) {
		c->cfg->tunnel.port = (uint16_t)u;
		c->tunnel_port = v;
	}
	return r;
}

/* Inside a line's or a segment's prefix, the tunnel address would be
 * routed out of that port instead of into the tunnels. */
static int f_tun_address(struct kt_yw *w, yaml_node_t *v, const char *p,
			 void *o)
{
	struct ctx *c = w->user;
	struct kt_prefix host;
	int r = kt_yw_addr(w, v, p, &c->cfg->tunnel.address);

	(void)o;
	if (r)
		return r;
	kt_prefix_host(&c->cfg->tunnel.address, &host);
	return check_overlap(w, v, p, &host);
}

static int f_tun_keepalive(struct kt_yw *w, yaml_node_t *v, const char *p,
			   void *o)
{
	struct ctx *c = w->user;
	unsigned long u;
	int r = kt_yw_decimal(w, v, p, 0, 3600, &u);

	(void)o;
	if (!r)
		c->cfg->tunnel.keepalive_s = (uint16_t)u;
	return r;
}

/* At least IPv6's minimum link MTU; at most what fits in an Ethernet
 * frame's payload. */
static int f_tun_mtu(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct ctx *c = w->user;
	unsigned long u;
	int r = kt_yw_decimal(w, v, p, 1280, 1500, &u);

	(void)o;
	if (!r)
		c->cfg->tunnel.mtu = (uint16_t)u;
	return r;
}

static int f_tunnel(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct ctx *c = w->user;
	/* suite first: the hubs' and sites' public keys are decoded with
	 * it. */
	static const struct kt_yw_field f[] = {
		{ "suite", true, f_tun_suite },
		{ "private-key", true, f_tun_private_key },
		{ "port", true, f_tun_port },
		{ "address", true, f_tun_address },
		{ "keepalive", false, f_tun_keepalive },
		{ "mtu", false, f_tun_mtu },
	};
	struct kt_tunnel *t = &c->cfg->tunnel;
	int r;

	/* A site keeps the paths through NAT on the carriers open; a hub
	 * only answers. */
	t->keepalive_s = c->cfg->role == KT_ROLE_SITE ?
			 KT_KEEPALIVE_SITE_DEFAULT : 0;
	t->mtu = KT_TUNNEL_MTU_DEFAULT;
	r = kt_yw_map(w, v, p, f, sizeof(f) / sizeof(f[0]), o);
	/* Set once the section is whole: from here on check_overlap holds
	 * the segments, parsed later, against the address (and not the
	 * address against itself, in f_tun_address). */
	if (!r)
		t->enabled = true;
	return r;
}

/* --- tunnel peers: a site's hubs, a hub's sites --- */

/* A box has one list or the other, by role: the peers parsed before the
 * current one, for the checks across them. */
static size_t peers_before(const struct ctx *c)
{
	return c->cfg->role == KT_ROLE_HUB ? c->cfg->n_sites : c->cfg->n_hubs;
}

static const struct kt_tunnel_peer *peer_at(const struct ctx *c, size_t i,
					    const char **name)
{
	if (c->cfg->role == KT_ROLE_HUB) {
		*name = c->cfg->sites[i].name;
		return &c->cfg->sites[i].peer;
	}
	*name = c->cfg->hubs[i].name;
	return &c->cfg->hubs[i].peer;
}

static const char *peer_kind(const struct ctx *c)
{
	return c->cfg->role == KT_ROLE_HUB ? "site" : "hub";
}

/* A hub picks the site whose tunnel carries a packet by the destination:
 * the site whose address or routes hold it (cryptokey routing). Two sites
 * claiming the same addresses would make that choice ambiguous. A site's
 * hubs may carry the same routes: each hub has tunnels of its own. */
static int check_site_overlap(struct kt_yw *w, yaml_node_t *v, const char *p,
			      const struct kt_prefix *pf, const char *what)
{
	struct ctx *c = w->user;
	char b[KT_PREFIX_STRLEN];

	if (c->cfg->role != KT_ROLE_HUB)
		return 0;
	for (size_t i = 0; i < c->cfg->n_sites; i++) {
		const struct kt_remote_site *s = &c->cfg->sites[i];
		struct kt_prefix host;

		kt_prefix_host(&s->peer.address, &host);
		if (kt_prefix_overlap(pf, &host))
			return kt_yw_fail(w, v, p, "%s of site '%s' overlaps "
					  "the address %s of site '%s' (which "
					  "site's tunnel would carry it?)",
					  what, c->peer_name,
					  kt_addr_str(&s->peer.address, b,
						      sizeof(b)), s->name);
		for (size_t j = 0; j < s->peer.n_routes; j++)
			if (kt_prefix_overlap(pf, &s->peer.routes[j]))
				return kt_yw_fail(w, v, p, "%s of site '%s' "
						  "overlaps route %s of site "
						  "'%s' (which site's tunnel "
						  "would carry it?)", what,
						  c->peer_name,
						  kt_prefix_str(&s->peer.routes[j],
								b, sizeof(b)),
						  s->name);
	}
	return 0;
}

/* A hub's tunnel keys on a site without a tunnel would be dropped
 * silently; refuse them like an unknown key. */
static int need_tunnel(struct kt_yw *w, yaml_node_t *v, const char *p)
{
	struct ctx *c = w->user;
	if (!c->cfg->tunnel.enabled)
		return kt_yw_fail(w, v, p, "needs a 'tunnel' section (this "
				  "file has none)");
	return 0;
}

static int f_peer_public_key(struct kt_yw *w, yaml_node_t *v, const char *p,
			     void *o)
{
	struct ctx *c = w->user;
	struct kt_tunnel_peer *pe = c->peer;
	const char *s;
	int r;

	(void)o;
	if ((r = need_tunnel(w, v, p)) || (r = kt_yw_scalar(w, v, p, &s, 256)))
		return r;
	if (kt_key_decode(s, pe->public_key, c->suite->pub_len))
		return kt_yw_fail(w, v, p, "'%.48s' is not a public key of "
				  "suite %s (%zu bytes in base64)", s,
				  c->suite->name, c->suite->pub_len);
	pe->public_key_len = c->suite->pub_len;
	/* One key, one peer: the handshake tells peers apart by key. */
	for (size_t i = 0; i < peers_before(c); i++) {
		const char *name;
		const struct kt_tunnel_peer *q = peer_at(c, i, &name);

		if (!memcmp(q->public_key, pe->public_key, pe->public_key_len))
			return kt_yw_fail(w, v, p, "%s '%s' has the same "
					  "public key as %s '%s'", peer_kind(c),
					  c->peer_name, peer_kind(c), name);
	}
	return 0;
}

static int f_peer_address(struct kt_yw *w, yaml_node_t *v, const char *p,
			  void *o)
{
	struct ctx *c = w->user;
	struct kt_tunnel_peer *pe = c->peer;
	struct kt_prefix host;
	char a[KT_PREFIX_STRLEN], what[KT_PREFIX_STRLEN + 8];
	int r;

	(void)o;
	if ((r = need_tunnel(w, v, p)) ||
	    (r = kt_yw_addr(w, v, p, &pe->address)))
		return r;
	if (pe->address.family != c->cfg->tunnel.address.family)
		return kt_yw_fail(w, v, p, "address family differs from the "
				  "tunnel address %s",
				  kt_addr_str(&c->cfg->tunnel.address, a,
					      sizeof(a)));
	if (kt_addr_equal(&pe->address, &c->cfg->tunnel.address))
		return kt_yw_fail(w, v, p, "%s is this box's own tunnel "
				  "address", kt_addr_str(&pe->address, a,
							 sizeof(a)));
	for (size_t i = 0; i < peers_before(c); i++) {
		const char *name;
		const struct kt_tunnel_peer *q = peer_at(c, i, &name);

		if (kt_addr_equal(&q->address, &pe->address))
			return kt_yw_fail(w, v, p, "%s '%s' has the same "
					  "address as %s '%s' (%s)",
					  peer_kind(c), c->peer_name,
					  peer_kind(c), name,
					  kt_addr_str(&pe->address, a,
						      sizeof(a)));
	}
	kt_prefix_host(&pe->address, &host);
	snprintf(what, sizeof(what), "address %s",
		 kt_addr_str(&pe->address, a, sizeof(a)));
	return check_site_overlap(w, v, p, &host, what);
}

static int f_peer_route(struct kt_yw *w, yaml_node_t *v, const char *p,
			size_t i, void *o)
{
	struct ctx *c = w->user;
	struct kt_tunnel_peer *pe = c->peer;
	char a[KT_PREFIX_STRLEN], what[KT_PREFIX_STRLEN + 8];
	int r = kt_yw_prefix_like(w, v, p, PREFIX_LIKE, &pe->routes[i]);

	(void)o;
	if (r)
		return r;
	pe->n_routes = i + 1;
	snprintf(what, sizeof(what), "route %s",
		 kt_prefix_str(&pe->routes[i], a, sizeof(a)));
	return check_site_overlap(w, v, p, &pe->routes[i], what);
}

static int f_peer_routes(struct kt_yw *w, yaml_node_t *v, const char *p,
			 void *o)
{
	int r;

	(void)o;
	if ((r = need_tunnel(w, v, p)))
		return r;
	return kt_yw_list(w, v, p, KT_MAX_ROUTES, f_peer_route, NULL);
}

static int f_peer_preshared_key(struct kt_yw *w, yaml_node_t *v, const char *p,
				void *o)
{
	struct ctx *c = w->user;
	int r;

	(void)o;
	if ((r = need_tunnel(w, v, p)))
		return r;
	return path_field(w, v, p, c->peer->preshared_key);
}

/* Keys that walk_map cannot require by itself: a hub's are required only
 * when the file has a tunnel section. */
static int require_peer_keys(struct kt_yw *w, yaml_node_t *v, const char *p)
{
	struct ctx *c = w->user;
	char sub[128];

	if (!c->cfg->tunnel.enabled)
		return 0;
	if (!c->peer->public_key_len) {
		snprintf(sub, sizeof(sub), "%s.public-key", p);
		return kt_yw_fail(w, v, sub, "missing key 'public-key' "
				  "(needed with a 'tunnel' section)");
	}
	if (!c->peer->address.family) {
		snprintf(sub, sizeof(sub), "%s.address", p);
		return kt_yw_fail(w, v, sub, "missing key 'address' (needed "
				  "with a 'tunnel' section)");
	}
	return 0;
}

/* --- hubs --- */

static int f_hub_name(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct ctx *c = w->user;

	return unique_name(w, v, p, ((struct kt_hub *)o)->name, "hub",
			   c->cfg->hubs[0].name, c->cfg->n_hubs,
			   sizeof(struct kt_hub));
}

static int f_hub_endpoints(struct kt_yw *w, yaml_node_t *v, const char *p,
			   void *o)
{
	struct ctx *c = w->user;
	struct kt_hub *h = o;
	char sub[128];
	yaml_node_pair_t *pair;
	int r = kt_yw_expect(w, v, YAML_MAPPING_NODE, p);

	if (r)
		return r;
	if (v->data.mapping.pairs.start == v->data.mapping.pairs.top)
		return kt_yw_fail(w, v, p, "must name at least one line");
	for (pair = v->data.mapping.pairs.start; pair < v->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *k = yaml_document_get_node(&w->doc, pair->key);
		yaml_node_t *a = yaml_document_get_node(&w->doc, pair->value);
		struct kt_endpoint *e = &h->endpoints[h->n_endpoints];
		const char *line;
		size_t li;

		if ((r = kt_yw_scalar(w, k, p, &line, KT_NAME_MAX)))
			return r;
		snprintf(sub, sizeof(sub), "%s.%s", p, line);
		for (li = 0; li < c->cfg->n_lines &&
			     strcmp(c->cfg->lines[li].name, line); li++)
			;
		if (li == c->cfg->n_lines)
			return kt_yw_fail(w, k, sub, "no line is named '%s'",
					  line);
		for (size_t j = 0; j < h->n_endpoints; j++)
			if (h->endpoints[j].line == li)
				return kt_yw_fail(w, k, sub, "line '%s' is "
						  "given twice", line);
		if ((r = kt_yw_addr(w, a, sub, &e->addr)))
			return r;
		if (e->addr.family != c->cfg->lines[li].address.addr.family)
			return kt_yw_fail(w, a, sub, "address family differs "
					  "from line '%s'", line);
		e->line = (unsigned)li;
		h->n_endpoints++;
	}
	return 0;
}

static int f_hub(struct kt_yw *w, yaml_node_t *v, const char *p,
		 size_t i, void *o)
{
	struct ctx *c = w->user;
	/* name first: the tunnel keys' errors name the hub. */
	static const struct kt_yw_field f[] = {
		{ "name", true, f_hub_name },
		{ "endpoints", true, f_hub_endpoints },
		{ "public-key", false, f_peer_public_key },
		{ "address", false, f_peer_address },
		{ "routes", false, f_peer_routes },
		{ "preshared-key", false, f_peer_preshared_key },
	};
	struct kt_hub *h = &c->cfg->hubs[i];
	int r;

	(void)o;
	c->peer = &h->peer;
	c->peer_name = h->name;
	r = kt_yw_map(w, v, p, f, sizeof(f) / sizeof(f[0]), h);
	if (!r)
		r = require_peer_keys(w, v, p);
	if (!r)
		c->cfg->n_hubs = i + 1;
	return r;
}

static int f_hubs(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct ctx *c = w->user;
	const struct kt_tunnel *t = &c->cfg->tunnel;
	unsigned long last;
	int r;

	(void)o;
	if (c->cfg->role == KT_ROLE_HUB)
		return kt_yw_fail(w, v, p, "a hub has no hubs of its own");
	if ((r = kt_yw_list(w, v, p, KT_MAX_HUBS, f_hub, NULL)) || !t->enabled)
		return r;
	/* A site's path i (one per hub and line) uses UDP port port + i. */
	last = t->port + c->cfg->n_hubs * c->cfg->n_lines - 1;
	if (last > 65535)
		return kt_yw_fail(w, c->tunnel_port, "tunnel.port", "%zu hubs "
				  "on %zu lines take ports %u to %lu; the last "
				  "must be at most 65535", c->cfg->n_hubs,
				  c->cfg->n_lines, t->port, last);
	return 0;
}

/* --- sites (a hub's) --- */

static int f_remote_name(struct kt_yw *w, yaml_node_t *v, const char *p,
			 void *o)
{
	struct ctx *c = w->user;

	return unique_name(w, v, p, ((struct kt_remote_site *)o)->name, "site",
			   c->cfg->sites[0].name, c->cfg->n_sites,
			   sizeof(struct kt_remote_site));
}

static int f_closed_only_one(struct kt_yw *w, yaml_node_t *v, const char *p,
			     size_t i, void *o)
{
	struct kt_remote_site *s = o;
	char a[KT_PREFIX_STRLEN];
	int r = kt_yw_prefix_like(w, v, p, PREFIX_LIKE, &s->closed_only[i]);

	if (r)
		return r;
	for (size_t k = 0; k < s->peer.n_routes; k++)
		if (kt_prefix_equal(&s->peer.routes[k], &s->closed_only[i])) {
			s->n_closed_only = i + 1;
			return 0;
		}
	return kt_yw_fail(w, v, p, "%s is not one of the site's routes",
			  kt_prefix_str(&s->closed_only[i], a, sizeof(a)));
}

static int f_remote_closed_only(struct kt_yw *w, yaml_node_t *v, const char *p,
				void *o)
{
	return kt_yw_list(w, v, p, KT_MAX_ROUTES, f_closed_only_one, o);
}

static int f_remote_site(struct kt_yw *w, yaml_node_t *v, const char *p,
			 size_t i, void *o)
{
	struct ctx *c = w->user;
	/* name first: the errors name the site; address before routes,
	 * both checked against the sites before. */
	static const struct kt_yw_field f[] = {
		{ "name", true, f_remote_name },
		{ "public-key", true, f_peer_public_key },
		{ "address", true, f_peer_address },
		{ "routes", false, f_peer_routes },
		/* after routes: each must be one of them */
		{ "closed-only", false, f_remote_closed_only },
		{ "preshared-key", false, f_peer_preshared_key },
	};
	struct kt_remote_site *s = &c->cfg->sites[i];
	int r;

	(void)o;
	c->peer = &s->peer;
	c->peer_name = s->name;
	r = kt_yw_map(w, v, p, f, sizeof(f) / sizeof(f[0]), s);
	if (!r)
		c->cfg->n_sites = i + 1;
	return r;
}

static int f_sites(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct ctx *c = w->user;

	(void)o;
	if (c->cfg->role != KT_ROLE_HUB)
		return kt_yw_fail(w, v, p, "only a hub lists sites (a site's "
				  "tunnels go to its hubs)");
	if (!c->cfg->tunnel.enabled)
		return kt_yw_fail(w, v, p, "needs a 'tunnel' section (this "
				  "file has none)");
	return kt_yw_list(w, v, p, KT_MAX_SITES, f_remote_site, NULL);
}

/* --- segments --- */

static int f_seg_name(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct ctx *c = w->user;

	return unique_name(w, v, p, ((struct kt_segment *)o)->name, "segment",
			   c->cfg->segments[0].name, c->cfg->n_segments,
			   sizeof(struct kt_segment));
}

static int f_seg_kind(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct ctx *c = w->user;
	static const char *const kinds[] = {
		"mynumber", "lgwan", "internet", "management", "datacenter", NULL,
	};
	struct kt_segment *s = o;
	int i, r = kt_yw_choose(w, v, p, kinds, &i);

	if (r)
		return r;
	s->kind = (enum kt_seg_kind)i;
	if ((c->cfg->role == KT_ROLE_HUB) != (s->kind == KT_SEG_DATACENTER))
		return kt_yw_fail(w, v, p, "a %s cannot have a '%s' segment",
				  kt_role_name(c->cfg->role), kinds[i]);
	for (size_t j = 0; j < c->cfg->n_segments; j++)
		if (c->cfg->segments[j].kind == s->kind)
			return kt_yw_fail(w, v, p, "a second '%s' segment "
					  "(segment '%s' is one already)",
					  kinds[i], c->cfg->segments[j].name);
	return 0;
}

static int f_seg_port(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct kt_segment *s = o;

	return port_field(w, v, p, s->port, s->ifname);
}

static int f_seg_address(struct kt_yw *w, yaml_node_t *v, const char *p,
			 void *o)
{
	struct kt_segment *s = o;
	int r = kt_yw_prefix_like(w, v, p, PREFIX_LIKE, &s->address);

	return r ? r : check_overlap(w, v, p, &s->address);
}

static int f_segment(struct kt_yw *w, yaml_node_t *v, const char *p,
		     size_t i, void *o)
{
	struct ctx *c = w->user;
	static const struct kt_yw_field f[] = {
		{ "name", true, f_seg_name },
		{ "kind", true, f_seg_kind },
		{ "port", true, f_seg_port },
		{ "address", true, f_seg_address },
	};
	int r;

	(void)o;
	r = kt_yw_map(w, v, p, f, sizeof(f) / sizeof(f[0]),
		      &c->cfg->segments[i]);
	if (!r)
		c->cfg->n_segments = i + 1;
	return r;
}

static int f_segments(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	(void)o;
	return kt_yw_list(w, v, p, KT_MAX_SEGMENTS, f_segment, NULL);
}

/* --- policy --- */

static int f_pol_file(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct ctx *c = w->user;

	(void)o;
	return path_field(w, v, p, c->cfg->policy.file);
}

static int f_pol_templates(struct kt_yw *w, yaml_node_t *v, const char *p,
			   void *o)
{
	struct ctx *c = w->user;

	(void)o;
	return path_field(w, v, p, c->cfg->policy.templates);
}

/* Not "/": kyotend makes and prunes folders in it. */
static int f_pol_state_dir(struct kt_yw *w, yaml_node_t *v, const char *p,
			   void *o)
{
	struct ctx *c = w->user;
	int r = path_field(w, v, p, c->cfg->policy.state_dir);

	(void)o;
	if (!r && !strcmp(c->cfg->policy.state_dir, "/"))
		r = kt_yw_fail(w, v, p, "'/' cannot be the policy's state folder");
	return r;
}

static int f_pol_timeout(struct kt_yw *w, yaml_node_t *v, const char *p,
			 void *o)
{
	struct ctx *c = w->user;
	unsigned long u;
	int r = kt_yw_decimal(w, v, p, 5, 3600, &u);

	(void)o;
	if (!r)
		c->cfg->policy.confirm_timeout_s = (uint32_t)u;
	return r;
}

static int f_policy(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	static const struct kt_yw_field f[] = {
		{ "file", false, f_pol_file },
		{ "templates", false, f_pol_templates },
		{ "state-dir", false, f_pol_state_dir },
		{ "confirm-timeout", false, f_pol_timeout },
	};
	return kt_yw_map(w, v, p, f, sizeof(f) / sizeof(f[0]), o);
}

static int f_fo_hold_down(struct kt_yw *w, yaml_node_t *v, const char *p,
			  void *o)
{
	struct ctx *c = w->user;
	unsigned long u;
	int r = kt_yw_decimal(w, v, p, 0, 3600000, &u);

	(void)o;
	if (!r)
		c->cfg->failover.hold_down_ms = (uint32_t)u;
	return r;
}

static int f_failover(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	static const struct kt_yw_field f[] = {
		{ "hold-down-ms", false, f_fo_hold_down },
	};
	return kt_yw_map(w, v, p, f, sizeof(f) / sizeof(f[0]), o);
}

/* "host:port" or "[v6]:port"; a host is a DNS name (letters, digits,
 * '-', '.') or an address. Into out (256 bytes) and *out_port. */
static int host_port(struct kt_yw *w, yaml_node_t *v, const char *p, char *out,
		     uint16_t *out_port)
{
	char text[300], *colon, *host = text, *end;
	unsigned long port;
	int r = kt_yw_copy(w, v, p, text, sizeof(text));

	if (r)
		return r;
	colon = strrchr(text, ':');
	if (!colon || !colon[1])
		return kt_yw_fail(w, v, p, "'%s' is not HOST:PORT", text);
	*colon = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (*end || errno || !port || port > 65535 || colon[1] == '0' ||
	    !isdigit((unsigned char)colon[1]))
		return kt_yw_fail(w, v, p, "port '%s' is not 1 to 65535", colon + 1);
	if (*host == '[') {
		struct kt_addr a;
		size_t n = strlen(host);

		if (n < 3 || host[n - 1] != ']')
			return kt_yw_fail(w, v, p, "'%s' is not [IPv6]", host);
		host[n - 1] = '\0';
		host++;
		if (!kt_addr_parse(host, &a) || a.family != AF_INET6)
			return kt_yw_fail(w, v, p, "'%s' is not an IPv6 address", host);
	} else {
		if (!*host || strlen(host) > 253)
			return kt_yw_fail(w, v, p, "the host is empty or longer than "
					  "253 characters");
		for (const char *q = host; *q; q++)
			if (!isalnum((unsigned char)*q) && *q != '-' && *q != '.')
				return kt_yw_fail(w, v, p, "'%s' is not a host name or "
						  "IPv4 address", host);
	}
	/* Both forms are at most 253 bytes here (checked above). */
	memcpy(out, host, strlen(host) + 1);
	*out_port = (uint16_t)port;
	return 0;
}

static int f_mg_broker(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct kt_mgmt_cfg *m = &((struct ctx *)w->user)->cfg->management;

	(void)o;
	return host_port(w, v, p, m->broker_host, &m->broker_port);
}

static int f_mg_tunnel_broker(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	struct kt_mgmt_cfg *m = &((struct ctx *)w->user)->cfg->management;

	(void)o;
	return host_port(w, v, p, m->tunnel_host, &m->tunnel_port);
}

static const char *const via_names[] = { "line", "auto", "tunnel", NULL };

static int f_mg_via(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	int i, r = kt_yw_choose(w, v, p, via_names, &i);

	*(bool *)o = true;	/* given */
	if (!r)
		((struct ctx *)w->user)->cfg->management.via = (enum kt_mgmt_via)i;
	return r;
}

static int f_mg_ca(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	(void)o;
	return path_field(w, v, p, ((struct ctx *)w->user)->cfg->management.ca);
}

static int f_mg_cert(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	(void)o;
	return path_field(w, v, p, ((struct ctx *)w->user)->cfg->management.certificate);
}

static int f_mg_key(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	(void)o;
	return path_field(w, v, p, ((struct ctx *)w->user)->cfg->management.key);
}

static int f_mg_policy_key(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	(void)o;
	return path_field(w, v, p, ((struct ctx *)w->user)->cfg->management.policy_key);
}

static int f_management(struct kt_yw *w, yaml_node_t *v, const char *p, void *o)
{
	static const struct kt_yw_field f[] = {
		{ "broker", true, f_mg_broker },
		{ "tunnel-broker", false, f_mg_tunnel_broker },
		{ "via", false, f_mg_via },
		{ "ca", true, f_mg_ca },
		{ "certificate", true, f_mg_cert },
		{ "key", true, f_mg_key },
		{ "policy-key", true, f_mg_policy_key },
	};
	struct kt_config *cfg = ((struct ctx *)w->user)->cfg;
	struct kt_mgmt_cfg *m = &cfg->management;
	const struct kt_segment *ms = NULL;
	bool via_given = false;
	int r;

	(void)o;
	m->enabled = true;
	if ((r = kt_yw_map(w, v, p, f, sizeof(f) / sizeof(f[0]), &via_given)))
		return r;
	if (!via_given)
		m->via = m->tunnel_host[0] ? KT_MGMT_VIA_AUTO : KT_MGMT_VIA_LINE;
	if (m->via == KT_MGMT_VIA_LINE)
		return 0;
	/* Through the tunnel the agent sends from the box's address in the
	 * management segment, which kyotend routes by that segment's path
	 * (docs/failover.md). */
	for (size_t i = 0; i < cfg->n_segments; i++)
		if (cfg->segments[i].kind == KT_SEG_MANAGEMENT)
			ms = &cfg->segments[i];
	if (!m->tunnel_host[0])
		return kt_yw_fail(w, v, p, "via: %s needs tunnel-broker (the broker's "
				  "address inside the data centre)", kt_mgmt_via_name(m->via));
	if (cfg->role != KT_ROLE_SITE || !cfg->tunnel.enabled || !ms)
		return kt_yw_fail(w, v, p, "tunnel-broker needs a site with a tunnel "
				  "section and a segment of kind management (its address "
				  "is what the agent sends from)");
	/* An address the tunnels do not carry would be sent by the main
	 * table, out of a line: say so now. (A DNS name is resolved by the
	 * agent and cannot be checked here.) */
	{
		struct kt_addr a;
		bool carried = false;

		if (!kt_addr_parse(m->tunnel_host, &a))
			return 0;
		for (size_t h = 0; h < cfg->n_hubs; h++) {
			const struct kt_tunnel_peer *pe = &cfg->hubs[h].peer;

			carried = carried || kt_addr_equal(&pe->address, &a);
			for (size_t k = 0; k < pe->n_routes; k++)
				carried = carried || kt_prefix_contains(&pe->routes[k], &a);
		}
		if (ms->address.addr.family != a.family)
			return kt_yw_fail(w, v, p, "tunnel-broker %s is not of the management "
					  "segment's address family", m->tunnel_host);
		if (!carried)
			return kt_yw_fail(w, v, p, "tunnel-broker %s is in no hub's routes: "
					  "the tunnels would not carry it", m->tunnel_host);
	}
	return 0;
}

static int f_root(struct kt_yw *w, yaml_node_t *root)
{
	struct ctx *c = w->user;
	static const struct kt_yw_field f[] = {
		{ "site", true, f_site },
		{ "log", false, f_log },
		{ "lines", true, f_lines },
		/* tunnel after lines and before hubs, sites and segments:
		 * its address is checked against the lines' and segments'
		 * prefixes and the peers' addresses, its suite decodes the
		 * peers' keys, and without it their tunnel keys are
		 * refused. */
		{ "tunnel", false, f_tunnel },
		{ "hubs", false, f_hubs },
		{ "sites", false, f_sites },
		{ "segments", true, f_segments },
		{ "policy", false, f_policy },
		{ "failover", false, f_failover },
		{ "management", false, f_management },
	};
	int r = kt_yw_map(w, root, "", f, sizeof(f) / sizeof(f[0]), NULL);

	if (!r && c->cfg->role == KT_ROLE_SITE && !c->cfg->n_hubs)
		r = kt_yw_fail(w, root, "hubs", "missing key 'hubs' (a site "
			       "needs at least one hub)");
	return r;
}

int kt_config_parse(const char *name, const uint8_t *buf, size_t len,
		    const struct kt_port_map *map, struct kt_config *out,
		    struct kt_config_error *err)
{
	struct ctx c = { .map = map, .cfg = out };
	int r;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	out->log_level = -1;
	snprintf(out->policy.templates, sizeof(out->policy.templates), "%s",
		 CONFIG_POLICY_TEMPLATE_DIR);
	snprintf(out->policy.state_dir, sizeof(out->policy.state_dir), "%s",
		 CONFIG_POLICY_STATE_DIR);
	out->policy.confirm_timeout_s = CONFIG_POLICY_CONFIRM_TIMEOUT;
	out->failover.hold_down_ms = CONFIG_PATHS_HOLD_DOWN_MS;
	snprintf(err->file, sizeof(err->file), "%s", name);
	if ((r = kt_yw_init_kind(&c.w, buf, len, "a site file", err)))
		return r;
	c.w.user = &c;
	r = f_root(&c.w, kt_yw_root(&c.w));
	kt_yw_uninit(&c.w);
	if (!r)
		wc_Sha256Hash(buf, (word32)len, out->sha256);
	return r;
}

int kt_config_load(const char *path, const struct kt_port_map *map,
		   struct kt_config *out, struct kt_config_error *err)
{
	uint8_t *buf;
	size_t got;
	int r;

	memset(err, 0, sizeof(*err));
	if ((r = kt_yw_read_file(path, CONFIG_SITE_CONFIG_MAX_BYTES,
				 "a site configuration", &buf, &got, err)))
		return r;
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

size_t kt_config_paths(const struct kt_config *cfg)
{
	size_t n = 0;

	if (!cfg->tunnel.enabled)
		return 0;
	if (cfg->role == KT_ROLE_HUB)
		return cfg->n_lines * cfg->n_sites;
	for (size_t h = 0; h < cfg->n_hubs; h++)
		n += cfg->hubs[h].n_endpoints;
	return n;
}

const char *kt_mgmt_via_name(enum kt_mgmt_via v)
{
	return (unsigned)v <= KT_MGMT_VIA_TUNNEL ? via_names[v] : "?";
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
