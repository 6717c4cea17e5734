/* The parent's side of the tunnels (tunnels.h). Nothing here reads from
 * the network: the engine does, on the descriptors made here. */
#define KT_MODULE "tunnels"
#include "tunnels.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "bfd.h"
#include "pathsig.h"
#include "device.h"
#include "keys.h"
#include "log.h"
#include "suite.h"

_Static_assert(KT_DROP_COUNT <= KT_MSG_TUN_DROPS, "drop reasons must fit");
_Static_assert(KT_MAX_ROUTES + 1 <= KT_MSG_TUN_ALLOWED, "allowed IPs must fit");
_Static_assert(KT_MAX_HUBS * KT_MAX_LINES <= KT_MSG_TUN_DEVICES,
	       "a site's paths must fit");

void tunnels_ifname(char out[IF_NAMESIZE], int hub, unsigned line)
{
	/* Indexes are below KT_MAX_HUBS and KT_MAX_LINES: one digit. */
	if (hub >= 0)
		snprintf(out, IF_NAMESIZE, KT_TUNNEL_IFNAME_PREFIX "h%u-l%u",
			 (unsigned)(hub + 1) % 10, (line + 1) % 10);
	else
		snprintf(out, IF_NAMESIZE, KT_TUNNEL_IFNAME_PREFIX "l%u",
			 (line + 1) % 10);
}

static void keys_free(struct tun_keys *k);

int tunnels_init(struct tunnels *t, struct sys *sys, struct kt_loop *loop,
		 void (*retry)(struct kt_timer *))
{
	memset(t, 0, sizeof(*t));
	t->sys = sys;
	t->loop = loop;
	t->retry.cb = retry;
	t->cfg = calloc(1, sizeof(*t->cfg));
	return t->cfg ? 0 : -ENOMEM;
}

static void device_free(struct tunnels *t, struct tun_device *dv, bool close_tun)
{
	if (close_tun && dv->tun_fd >= 0)
		sys_tun_close(t->sys, dv->ifname, dv->tun_fd);
	if (dv->udp_fd >= 0)
		close(dv->udp_fd);
	if (dv->bfd_rx_fd >= 0)
		close(dv->bfd_rx_fd);
	if (dv->bfd_tx_fd >= 0)
		close(dv->bfd_tx_fd);
	free(dv->routes);
	free(dv->stats);
	free(dv->stats_ms);
	free(dv->bfd);
	memset(dv, 0, sizeof(*dv));
	dv->tun_fd = dv->udp_fd = dv->bfd_rx_fd = dv->bfd_tx_fd = -1;
}

void tunnels_uninit(struct tunnels *t)
{
	kt_timer_cancel(t->loop, &t->retry);
	for (size_t i = 0; i < t->n_dev; i++)
		device_free(t, &t->dev[i], true);
	t->n_dev = 0;
	free(t->cfg);
	t->cfg = NULL;
	keys_free(&t->keys);
}

/* --- what the configuration asks for --- */

unsigned tunnels_line_metric(const struct kt_config *cfg, unsigned line)
{
	return (cfg->lines[line].kind == KT_LINE_CLOSED ? KT_TUNNELS_METRIC_CLOSED
		: KT_TUNNELS_METRIC_BEST_EFFORT) + line;
}

static const struct kt_tunnel_peer *peer_of(const struct kt_config *cfg,
					     const struct tun_device *dv,
					     size_t i, const char **name)
{
	if (dv->hub >= 0) {
		*name = cfg->hubs[dv->hub].name;
		return &cfg->hubs[dv->hub].peer;
	}
	*name = cfg->sites[i].name;
	return &cfg->sites[i].peer;
}

static void keys_free(struct tun_keys *k)
{
	if (k->psk) {
		kt_wipe(k->psk, k->n * sizeof(*k->psk));
		munlock(k->psk, k->n * sizeof(*k->psk));
	}
	free(k->psk);
	free(k->has_psk);
	kt_wipe(k, sizeof(*k));
}

/* Reads the private key and every peer's PSK. Locked (best effort: a
 * board without the privilege still runs) so they never reach swap. */
static int keys_read(const struct kt_config *cfg, struct tun_keys *k, char *err,
		     size_t errlen)
{
	const struct kt_tunnel_peer *p;
	int r;

	memset(k, 0, sizeof(*k));
	k->n = cfg->role == KT_ROLE_SITE ? cfg->n_hubs : cfg->n_sites;
	k->psk = calloc(k->n ? k->n : 1, sizeof(*k->psk));
	k->has_psk = calloc(k->n ? k->n : 1, sizeof(*k->has_psk));
	if (!k->psk || !k->has_psk) {
		snprintf(err, errlen, "out of memory reading the tunnel keys");
		keys_free(k);
		return -ENOMEM;
	}
	mlock(k->psk, k->n * sizeof(*k->psk));
	if ((r = kt_key_read(cfg->tunnel.private_key, k->priv, err, errlen))) {
		keys_free(k);
		return r;
	}
	for (size_t i = 0; i < k->n; i++) {
		p = cfg->role == KT_ROLE_SITE ? &cfg->hubs[i].peer : &cfg->sites[i].peer;
		if (!p->preshared_key[0])
			continue;
		if ((r = kt_key_read(p->preshared_key, k->psk[i], err, errlen))) {
			keys_free(k);
			return r;
		}
		k->has_psk[i] = true;
	}
	return 0;
}

/* Over everything a set is made of, the keys' bytes included, so that a
 * new key in the same file rebuilds the set on reload. */
static void fingerprint(const struct kt_config *cfg, const struct tun_keys *k,
			uint8_t out[32])
{
	wc_Sha256 h;

	wc_InitSha256(&h);
	/* The parser zeroes the whole structure first: padding is zero. */
	wc_Sha256Update(&h, (const uint8_t *)&cfg->role, sizeof(cfg->role));
	wc_Sha256Update(&h, (const uint8_t *)&cfg->tunnel, sizeof(cfg->tunnel));
	wc_Sha256Update(&h, (const uint8_t *)cfg->lines,
			(word32)(cfg->n_lines * sizeof(cfg->lines[0])));
	wc_Sha256Update(&h, (const uint8_t *)cfg->hubs,
			(word32)(cfg->n_hubs * sizeof(cfg->hubs[0])));
	wc_Sha256Update(&h, (const uint8_t *)cfg->sites,
			(word32)(cfg->n_sites * sizeof(cfg->sites[0])));
	wc_Sha256Update(&h, k->priv, sizeof(k->priv));
	for (size_t i = 0; i < k->n; i++)
		if (k->has_psk[i])
			wc_Sha256Update(&h, k->psk[i], sizeof(k->psk[i]));
	wc_Sha256Final(&h, out);
	wc_Sha256Free(&h);
	/* Its block buffer held key bytes. */
	kt_wipe(&h, sizeof(h));
}

/* The devices cfg asks for, without kernel objects yet. */
static size_t plan(const struct kt_config *cfg, struct tun_device *out)
{
	size_t n = 0;

	if (cfg->role == KT_ROLE_SITE) {
		for (size_t h = 0; h < cfg->n_hubs; h++) {
			for (size_t e = 0; e < cfg->hubs[h].n_endpoints; e++) {
				struct tun_device *dv = &out[n];

				memset(dv, 0, sizeof(*dv));
				dv->hub = (int)h;
				dv->line = cfg->hubs[h].endpoints[e].line;
				dv->n_peers = 1;
				/* Path i sends from port + i: the hubs tell the
				 * paths apart by their source port too. */
				dv->port = (uint16_t)(cfg->tunnel.port + n);
				n++;
			}
		}
	} else {
		for (size_t l = 0; l < cfg->n_lines; l++) {
			struct tun_device *dv = &out[n++];

			memset(dv, 0, sizeof(*dv));
			dv->hub = -1;
			dv->line = (unsigned)l;
			dv->n_peers = cfg->n_sites;
			dv->port = cfg->tunnel.port;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct tun_device *dv = &out[i];

		tunnels_ifname(dv->ifname, dv->hub, dv->line);
		snprintf(dv->line_ifname, sizeof(dv->line_ifname), "%s",
			 cfg->lines[dv->line].ifname);
		dv->family = cfg->lines[dv->line].address.addr.family;
		dv->tun_fd = dv->udp_fd = dv->bfd_rx_fd = dv->bfd_tx_fd = -1;
	}
	return n;
}

static int plan_routes(const struct kt_config *cfg, struct tun_device *dv)
{
	size_t cap = dv->n_peers * (KT_MAX_ROUTES + 1), n = 0;
	unsigned metric = tunnels_line_metric(cfg, dv->line) +
			  (dv->hub >= 0 ? 10u * (unsigned)dv->hub : 0);

	dv->routes = calloc(cap ? cap : 1, sizeof(*dv->routes));
	if (!dv->routes)
		return -ENOMEM;
	for (size_t i = 0; i < dv->n_peers; i++) {
		const char *name;
		const struct kt_tunnel_peer *p = peer_of(cfg, dv, i, &name);

		kt_prefix_host(&p->address, &dv->routes[n].dst);
		dv->routes[n++].metric = metric;
		/* A hub routes what is behind each site by the paths that work
		 * (firmware/paths.c); the site's own address stays here. */
		for (size_t r = 0; dv->hub >= 0 && r < p->n_routes; r++) {
			dv->routes[n].dst = p->routes[r];
			dv->routes[n++].metric = metric;
		}
	}
	dv->n_routes = n;
	return 0;
}

/* --- building --- */

static struct tun_device *find_old(struct tunnels *t, const char *ifname)
{
	for (size_t i = 0; i < t->n_dev; i++)
		if (t->dev[i].tun_fd >= 0 && !strcmp(t->dev[i].ifname, ifname))
			return &t->dev[i];
	return NULL;
}

/* An old socket on the same line, port and family is taken over: a new
 * one could not bind while it exists. */
static int take_socket(struct tunnels *t, const struct tun_device *want)
{
	for (size_t i = 0; i < t->n_dev; i++) {
		struct tun_device *o = &t->dev[i];

		if (o->udp_fd >= 0 && o->port == want->port &&
		    o->family == want->family &&
		    !strcmp(o->line_ifname, want->line_ifname)) {
			int fd = o->udp_fd;

			o->udp_fd = -1;
			return fd;
		}
	}
	return -1;
}

static void keep_path_state(const struct tunnels *t, const struct kt_config *cfg,
			    const struct tun_device *old, struct tun_device *dv)
{
	for (size_t i = 0; t->built && old->bfd && old->stats && i < dv->n_peers; i++) {
		const char *name, *old_name;

		peer_of(cfg, dv, i, &name);
		for (size_t j = 0; j < old->n_peers; j++) {
			peer_of(t->cfg, old, j, &old_name);
			if (strcmp(name, old_name))
				continue;
			dv->bfd[i] = old->bfd[j];
			dv->stats[i] = old->stats[j];
			dv->stats_ms[i] = old->stats_ms[j];
			break;
		}
	}
}

static bool route_in(const struct tun_route *r, const struct tun_device *dv)
{
	for (size_t i = 0; i < dv->n_routes; i++)
		if (kt_prefix_equal(&dv->routes[i].dst, &r->dst) &&
		    dv->routes[i].metric == r->metric)
			return true;
	return false;
}

static int device_kernel(struct tunnels *t, const struct kt_config *cfg,
			 struct tun_device *dv)
{
	struct kt_prefix own;
	struct sys_link link;
	char a[KT_PREFIX_STRLEN];
	int err;

	if ((err = sys_link_get(t->sys, dv->ifname, &link))) {
		snprintf(dv->fault, sizeof(dv->fault), "interface: %s",
			 strerror(-err));
		return err;
	}
	dv->ifindex = link.ifindex;
	kt_prefix_host(&cfg->tunnel.address, &own);
	if ((err = sys_link_set_up(t->sys, dv->ifindex)) ||
	    (err = sys_addr_replace(t->sys, dv->ifindex, &own))) {
		snprintf(dv->fault, sizeof(dv->fault), "address %s: %s",
			 kt_prefix_str(&own, a, sizeof(a)), strerror(-err));
		return err;
	}
	for (size_t i = 0; i < dv->n_routes; i++) {
		err = sys_route_replace(t->sys, &dv->routes[i].dst, NULL,
					dv->ifindex, dv->routes[i].metric);
		if (err) {
			snprintf(dv->fault, sizeof(dv->fault), "route to %s: %s",
				 kt_prefix_str(&dv->routes[i].dst, a, sizeof(a)),
				 strerror(-err));
			return err;
		}
	}
	return 0;
}

/* The retry applies the daemon's configuration of the time (see
 * modules.c), which by then is the one that failed. */
static void retry_later(struct tunnels *t)
{
	if (t->retry.cb)
		kt_timer_set(t->loop, &t->retry, KT_TUNNELS_RETRY_MS);
}

/* Opens what a device still lacks and programs the kernel for it;
 * 0 when it is whole. */
static int device_open(struct tunnels *t, const struct kt_config *cfg,
		       struct tun_device *dv)
{
	dv->fault[0] = '\0';
	if (dv->tun_fd < 0)
		dv->tun_fd = sys_tun_open(t->sys, dv->ifname, cfg->tunnel.mtu);
	if (dv->tun_fd < 0) {
		snprintf(dv->fault, sizeof(dv->fault), "TUN interface: %s",
			 strerror(-dv->tun_fd));
		dv->tun_fd = -1;
		return -EIO;
	}
	if (dv->udp_fd < 0)
		dv->udp_fd = take_socket(t, dv);
	if (dv->udp_fd < 0)
		dv->udp_fd = sys_udp_open(t->sys, dv->family, dv->port,
					  dv->line_ifname);
	if (dv->udp_fd < 0) {
		snprintf(dv->fault, sizeof(dv->fault), "UDP port %u on %s: %s",
			 dv->port, dv->line_ifname, strerror(-dv->udp_fd));
		dv->udp_fd = -1;
		return -EIO;
	}
	if (device_kernel(t, cfg, dv))
		return -EIO;
	/* BFD needs the tunnel address on the interface (device_kernel). */
	if (dv->bfd_rx_fd < 0)
		dv->bfd_rx_fd = sys_bfd_open(t->sys, &cfg->tunnel.address,
					     dv->ifname, true);
	if (dv->bfd_tx_fd < 0 && dv->bfd_rx_fd >= 0)
		dv->bfd_tx_fd = sys_bfd_open(t->sys, &cfg->tunnel.address,
					     dv->ifname, false);
	if (dv->bfd_rx_fd < 0 || dv->bfd_tx_fd < 0) {
		int err = dv->bfd_rx_fd < 0 ? dv->bfd_rx_fd : dv->bfd_tx_fd;

		snprintf(dv->fault, sizeof(dv->fault), "BFD socket on %s: %s",
			 dv->ifname, strerror(-err));
		if (dv->bfd_rx_fd >= 0)
			close(dv->bfd_rx_fd);
		dv->bfd_rx_fd = dv->bfd_tx_fd = -1;
		return -EIO;
	}
	return 0;
}

/* Same set, but some devices could not be made last time: try those
 * alone, so that the healthy ones keep their sessions until one heals. */
static int retry_faults(struct tunnels *t)
{
	const struct kt_config *cfg = t->cfg;
	size_t healed = 0, faults = 0;

	for (size_t i = 0; i < t->n_dev; i++) {
		struct tun_device *dv = &t->dev[i];

		if (!dv->fault[0])
			continue;
		if (device_open(t, cfg, dv))
			faults++;
		else
			healed++;
	}
	if (healed) {
		t->generation++;
		t->changed = true;
		log_notice("TUNNELS", "tunnel set %u: %zu device(s) repaired",
			   t->generation, healed);
	}
	if (faults)
		retry_later(t);
	return faults ? -EIO : 0;
}

static void drop_all(struct tunnels *t)
{
	for (size_t i = 0; i < t->n_dev; i++)
		device_free(t, &t->dev[i], true);
	t->n_dev = 0;
}

/* The set that runs keeps running (on the keys it was built with); the
 * fault shows in status, is logged once, and the apply is retried. */
static int key_fault(struct tunnels *t, const struct kt_config *cfg,
		     const char *why)
{
	snprintf(t->fault, sizeof(t->fault), "%s", why);
	if (strcmp(t->logged, t->fault)) {
		snprintf(t->logged, sizeof(t->logged), "%s", t->fault);
		log_errx("TUNNEL_KEY", "%s; %s", why, t->n_dev ?
			 "the tunnels keep running on the previous keys"
			 : "no tunnels until it is fixed");
	}
	retry_later(t);
	return -EINVAL;
}

int tunnels_apply(struct tunnels *t, const struct kt_config *cfg)
{
	static struct tun_device next[KT_MSG_TUN_DEVICES];
	const struct kt_suite *suite;
	struct tun_keys keys;
	uint8_t fp[32], pub[KT_SUITE_MAX_PUB];
	char err_text[256];
	size_t n, faults = 0;

	kt_timer_cancel(t->loop, &t->retry);
	if (!cfg->tunnel.enabled) {
		if (t->n_dev || t->built) {
			drop_all(t);
			t->built = false;
			t->cfg->tunnel.enabled = false;
			t->generation++;
			t->changed = true;
			log_notice("TUNNELS_OFF", "no tunnel section: tunnels removed");
		}
		t->fault[0] = t->public_key[0] = '\0';
		return 0;
	}
	if (keys_read(cfg, &keys, err_text, sizeof(err_text)))
		return key_fault(t, cfg, err_text);
	fingerprint(cfg, &keys, fp);
	if (t->built && !memcmp(fp, t->fingerprint, sizeof(fp))) {
		keys_free(&keys);
		t->fault[0] = t->logged[0] = '\0';
		return t->n_dev ? retry_faults(t) : 0;
	}

	/* The public key, for status and for whoever configures the peers;
	 * and a check that the key is one of the suite's. */
	suite = kt_suite_find(cfg->tunnel.suite);
	if (!suite || suite->pubkey(keys.priv, pub)) {
		keys_free(&keys);
		snprintf(err_text, sizeof(err_text), "%s is not a private key of "
			 "suite %s", cfg->tunnel.private_key, cfg->tunnel.suite);
		return key_fault(t, cfg, err_text);
	}
	kt_key_encode(pub, suite->pub_len, t->public_key);

	n = plan(cfg, next);
	for (size_t i = 0; i < n; i++) {
		struct tun_device *dv = &next[i], *old = find_old(t, dv->ifname);

		dv->stats = calloc(dv->n_peers ? dv->n_peers : 1, sizeof(*dv->stats));
		dv->stats_ms = calloc(dv->n_peers ? dv->n_peers : 1,
				      sizeof(*dv->stats_ms));
		dv->bfd = calloc(dv->n_peers ? dv->n_peers : 1, sizeof(*dv->bfd));
		if (plan_routes(cfg, dv) || !dv->stats || !dv->stats_ms || !dv->bfd) {
			/* Kept as a fault with nothing behind it (no peers,
			 * no descriptors): the next change rebuilds it. */
			free(dv->routes);
			free(dv->stats);
			free(dv->stats_ms);
			free(dv->bfd);
			dv->routes = NULL;
			dv->stats = NULL;
			dv->stats_ms = NULL;
			dv->bfd = NULL;
			dv->n_routes = dv->n_peers = 0;
			snprintf(dv->fault, sizeof(dv->fault), "out of memory");
			faults++;
			continue;
		}
		if (old) {
			/* Keep the interface (and traffic routed into it);
			 * remove only the routes the new set does not have. */
			dv->tun_fd = old->tun_fd;
			old->tun_fd = -1;
			/* Its BFD sockets too: a new one could not take
			 * port 3784 on the interface while they exist. */
			dv->bfd_rx_fd = old->bfd_rx_fd;
			dv->bfd_tx_fd = old->bfd_tx_fd;
			old->bfd_rx_fd = old->bfd_tx_fd = -1;
			/* What is known of each peer's path, by name: the
			 * engine keeps an unchanged device's sessions, and the
			 * failover must not see them as unknown meanwhile. */
			keep_path_state(t, cfg, old, dv);
			/* Only through an interface it has: a delete with
			 * no interface would take any path's route. */
			for (size_t r = 0; old->ifindex > 0 && r < old->n_routes; r++)
				if (!route_in(&old->routes[r], dv))
					sys_route_del(t->sys, &old->routes[r].dst,
						      old->ifindex);
		}
		if (device_open(t, cfg, dv))
			faults++;
	}
	/* What the new set did not take over goes, with its routes. */
	drop_all(t);
	memcpy(t->dev, next, n * sizeof(next[0]));
	t->n_dev = n;
	*t->cfg = *cfg;
	keys_free(&t->keys);
	t->keys = keys;
	memcpy(t->fingerprint, fp, sizeof(fp));
	t->built = true;
	t->generation++;
	t->changed = true;
	t->fault[0] = t->logged[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (t->dev[i].fault[0])
			log_errx("TUNNEL_DEVICE", "%s (line %s): %s", t->dev[i].ifname,
				 cfg->lines[t->dev[i].line].name, t->dev[i].fault);
	log_notice("TUNNELS", "tunnel set %u: %zu devices, suite %s, public key "
		   "%s%s", t->generation, n, suite->name, t->public_key,
		   faults ? "; some devices have faults (retried)" : "");
	if (faults) {
		retry_later(t);
		return -EIO;
	}
	return 0;
}

/* --- the engine's share --- */

static void sockaddr_out(struct kt_msg_sockaddr *o, const struct kt_addr *a,
			 uint16_t port)
{
	memset(o, 0, sizeof(*o));
	o->family = (uint16_t)a->family;
	o->port = port;
	memcpy(o->addr, a->bytes, kt_addr_size(a));
}

static void send_device(const struct kt_config *cfg, const struct tun_keys *k,
			const struct tun_device *dv, size_t index,
			tunnels_send_fn send, void *arg)
{
	struct kt_msg_tun_device md;
	struct kt_msg_tun_socket ms = { .device = (uint32_t)index };
	struct kt_msg_tun_peer mp;

	memset(&md, 0, sizeof(md));
	md.index = (uint32_t)index;
	md.n_peers = (uint32_t)dv->n_peers;
	snprintf(md.ifname, sizeof(md.ifname), "%s", dv->ifname);
	snprintf(md.suite, sizeof(md.suite), "%s", cfg->tunnel.suite);
	memcpy(md.private_key, k->priv, sizeof(md.private_key));
	md.keepalive_s = cfg->tunnel.keepalive_s;
	md.initiate = cfg->role == KT_ROLE_SITE;
	sockaddr_out(&md.local, &cfg->lines[dv->line].address.addr, 0);
	if (dv->bfd_rx_fd >= 0 && dv->bfd_tx_fd >= 0) {
		md.bfd_multiplier = cfg->lines[dv->line].bfd_multiplier;
		md.bfd_interval_us = cfg->lines[dv->line].bfd_interval_ms * 1000u;
	}
	send(arg, KT_MSG_TUN_DEVICE, &md, sizeof(md), dv->tun_fd);
	kt_wipe(&md, sizeof(md));
	send(arg, KT_MSG_TUN_SOCKET, &ms, sizeof(ms), dv->udp_fd);
	if (dv->bfd_rx_fd >= 0 && dv->bfd_tx_fd >= 0) {
		struct kt_msg_bfd_socket mb = { .device = (uint32_t)index, .rx = 1 };

		send(arg, KT_MSG_BFD_SOCKET, &mb, sizeof(mb), dv->bfd_rx_fd);
		mb.rx = 0;
		send(arg, KT_MSG_BFD_SOCKET, &mb, sizeof(mb), dv->bfd_tx_fd);
	}
	for (size_t i = 0; i < dv->n_peers; i++) {
		const char *name;
		const struct kt_tunnel_peer *p = peer_of(cfg, dv, i, &name);

		memset(&mp, 0, sizeof(mp));
		mp.device = (uint32_t)index;
		mp.peer = (uint32_t)i;
		snprintf(mp.name, sizeof(mp.name), "%s", name);
		memcpy(mp.public_key, p->public_key, p->public_key_len);
		if (i < k->n && k->has_psk[i]) {
			memcpy(mp.psk, k->psk[i], sizeof(mp.psk));
			mp.has_psk = 1;
		}
		if (dv->hub >= 0) {
			const struct kt_hub *h = &cfg->hubs[dv->hub];

			for (size_t e = 0; e < h->n_endpoints; e++)
				if (h->endpoints[e].line == dv->line)
					sockaddr_out(&mp.endpoint, &h->endpoints[e].addr,
						     cfg->tunnel.port);
		}
		mp.allowed[0].family = (uint16_t)p->address.family;
		mp.allowed[0].len = (uint8_t)(kt_addr_size(&p->address) * 8);
		memcpy(mp.allowed[0].addr, p->address.bytes, kt_addr_size(&p->address));
		for (size_t r = 0; r < p->n_routes; r++) {
			mp.allowed[r + 1].family = (uint16_t)p->routes[r].addr.family;
			mp.allowed[r + 1].len = p->routes[r].len;
			memcpy(mp.allowed[r + 1].addr, p->routes[r].addr.bytes,
			       kt_addr_size(&p->routes[r].addr));
		}
		mp.n_allowed = (uint32_t)(p->n_routes + 1);
		send(arg, KT_MSG_TUN_PEER, &mp, sizeof(mp), -1);
		kt_wipe(&mp, sizeof(mp));
	}
}

void tunnels_send(struct tunnels *t, tunnels_send_fn send, void *arg)
{
	const struct kt_config *cfg = t->cfg;

	t->changed = false;
	if (!t->built || !t->n_dev)
		return;
	for (size_t i = 0; i < t->n_dev; i++)
		if (t->dev[i].tun_fd >= 0 && t->dev[i].udp_fd >= 0)
			send_device(cfg, &t->keys, &t->dev[i], i, send, arg);
}

size_t tunnels_line_down(const struct tunnels *t, const char *ifname,
			 tunnels_send_fn send, void *arg)
{
	size_t n = 0;

	for (size_t i = 0; t->built && i < t->n_dev; i++) {
		const struct tun_device *dv = &t->dev[i];
		struct kt_msg_path_down m = {
			.device = (uint32_t)i, .reason = KT_PATHSIG_CARRIER,
		};

		if (dv->tun_fd < 0 || dv->bfd_rx_fd < 0 || strcmp(dv->line_ifname, ifname))
			continue;
		send(arg, KT_MSG_PATH_DOWN, &m, sizeof(m), -1);
		n++;
	}
	return n;
}

int tunnels_stats(struct tunnels *t, const struct kt_msg_tun_stats *st,
		  uint64_t now_ms)
{
	struct tun_device *dv;

	/* Counters of a set already replaced are not news. */
	if (st->tun_generation != t->generation)
		return 0;
	if (st->device >= t->n_dev)
		return -EINVAL;
	dv = &t->dev[st->device];
	if (st->endpoint.family != 0 && st->endpoint.family != AF_INET &&
	    st->endpoint.family != AF_INET6)
		return -EINVAL;
	if (st->peer == UINT32_MAX) {
		memcpy(dv->dev_drops, st->drops, sizeof(dv->dev_drops));
		return 0;
	}
	if (st->peer >= dv->n_peers)
		return -EINVAL;
	if (!dv->stats_ms[st->peer] || dv->stats[st->peer].bfd_state != st->bfd_state)
		t->bfd_changed = true;
	dv->stats[st->peer] = *st;
	dv->stats_ms[st->peer] = now_ms ? now_ms : 1;
	return 0;
}

/* What made a path go down, in words for people (the diag's name is in
 * status for tools). */
static const char *down_cause(uint8_t diag, uint8_t remote_diag)
{
	switch (diag) {
	case KT_BFD_DIAG_TIME_EXPIRED:
		return "BFD timeout: nothing heard from the peer for the detection time";
	case KT_BFD_DIAG_NEIGHBOR_DOWN:
		return remote_diag == KT_BFD_DIAG_ADMIN_DOWN ?
		       "the peer took the path down administratively" :
		       "the peer signalled the path down";
	case KT_BFD_DIAG_ADMIN_DOWN:
		return "taken down administratively";
	default:
		return kt_bfd_diag_name(diag);
	}
}

int tunnels_bfd_state(struct tunnels *t, const struct kt_msg_bfd_state *m,
		      uint64_t now_ms)
{
	const struct kt_config *cfg = t->cfg;
	struct tun_device *dv;
	struct tun_bfd *b;
	const char *name;

	if (m->tun_generation != t->generation)
		return 0;	/* about a set already replaced */
	if (m->device >= t->n_dev || m->peer >= t->dev[m->device].n_peers ||
	    m->old_state > KT_BFD_UP || m->new_state > KT_BFD_UP ||
	    m->old_state == m->new_state || m->diag >= KT_BFD_DIAG_COUNT ||
	    m->remote_diag > 31 || !t->dev[m->device].bfd)
		return -EINVAL;
	dv = &t->dev[m->device];
	b = &dv->bfd[m->peer];
	b->state = m->new_state;
	b->diag = m->diag;
	b->remote_diag = m->remote_diag;
	b->reported = true;
	b->since_ms = now_ms;
	b->changes++;
	peer_of(cfg, dv, m->peer, &name);
	if (m->new_state == KT_BFD_UP)
		log_notice("PATH_UP", "path %s to %s over line %s is up (BFD)",
			   dv->ifname, name, cfg->lines[dv->line].name);
	else if (m->old_state == KT_BFD_UP)
		log_warnx("PATH_DOWN", "path %s to %s over line %s is down: %s "
			  "(BFD %s)", dv->ifname, name, cfg->lines[dv->line].name,
			  down_cause(m->diag, m->remote_diag),
			  kt_bfd_diag_name(m->diag));
	else
		log_debug("PATH_STATE", "path %s to %s: BFD %s -> %s", dv->ifname,
			  name, kt_bfd_state_name(m->old_state),
			  kt_bfd_state_name(m->new_state));
	return 0;
}

static void stats_refused(struct tunnels *t, const struct kt_msg_tun_stats *st)
{
	/* The engine is not trusted; a count, not a log per message. */
	if (!t->stats_refused++)
		log_warnx("TUNNEL_STATS", "refused counters from the engine for "
			  "device %u peer %u", st->device, st->peer);
}

unsigned tunnels_stats_batch(struct tunnels *t,
			     const struct kt_msg_tun_stats_batch *b, uint64_t now_ms)
{
	unsigned refused = 0;

	if (b->n == 0 || b->n > KT_MSG_TUN_STATS_BATCH) {
		stats_refused(t, &b->s[0]);
		return 1;
	}
	for (uint32_t i = 0; i < b->n; i++)
		if (tunnels_stats(t, &b->s[i], now_ms)) {
			stats_refused(t, &b->s[i]);
			refused++;
		}
	return refused;
}

/* --- status --- */

static json_t *drops_json(const uint64_t *drops)
{
	json_t *o = json_object();

	for (int i = 0; i < KT_DROP_COUNT; i++)
		json_object_set_new(o, kt_drop_name((enum kt_drop)i),
				    json_integer((json_int_t)drops[i]));
	return o;
}

static json_t *endpoint_json(const struct kt_msg_sockaddr *e)
{
	char a[INET6_ADDRSTRLEN], out[INET6_ADDRSTRLEN + 10];

	if (e->family != AF_INET && e->family != AF_INET6)
		return json_null();
	inet_ntop(e->family, e->addr, a, sizeof(a));
	snprintf(out, sizeof(out), e->family == AF_INET6 ? "[%s]:%u" : "%s:%u",
		 a, e->port);
	return json_string(out);
}

/* The newer of the two: a change as it happened, or the counters (a
 * restarted engine starts its sessions anew without a change). */
static bool bfd_from_change(const struct tun_device *dv, size_t p)
{
	return dv->bfd[p].reported && dv->bfd[p].since_ms >= dv->stats_ms[p];
}

int tunnels_path_bfd(const struct tunnels *t, size_t dev, size_t peer)
{
	const struct tun_device *dv;
	uint8_t state;

	if (dev >= t->n_dev || peer >= t->dev[dev].n_peers || !t->dev[dev].bfd)
		return -1;
	dv = &t->dev[dev];
	if (dv->bfd_rx_fd < 0)
		return -1;
	if (bfd_from_change(dv, peer))
		return dv->bfd[peer].state;
	state = dv->stats[peer].bfd_state;
	return dv->stats_ms[peer] && state <= KT_BFD_UP ? state : -1;
}

static json_t *bfd_json(const struct tunnels *t, size_t d, size_t p, uint64_t now_ms)
{
	const struct tun_device *dv = &t->dev[d];
	const struct kt_msg_tun_stats *st = &dv->stats[p];
	const struct tun_bfd *b = &dv->bfd[p];
	bool from_change = bfd_from_change(dv, p);
	int state = tunnels_path_bfd(t, d, p);

	if (dv->bfd_rx_fd < 0)
		return json_pack("{s:s}", "state", "off");
	if (state < 0)
		return json_pack("{s:s}", "state", "unknown");
	return json_pack("{s:s, s:s, s:s, s:o, s:i, s:I, s:I, s:I, s:I, s:I,"
			 " s:f, s:f, s:{s:o, s:o, s:o, s:o, s:o, s:i, s:i},"
			 " s:{s:I, s:I, s:I, s:I}}",
		"state", kt_bfd_state_name((unsigned)state),
		"diag", kt_bfd_diag_name(from_change ? b->diag : st->bfd_diag),
		"remote-diag", kt_bfd_diag_name(from_change ? b->remote_diag
					     : st->bfd_remote_diag),
		"since-s", b->reported ? json_real((double)(now_ms - b->since_ms) / 1000)
				       : json_null(),
		"changes", (int)b->changes,
		"rx", (json_int_t)st->bfd_rx, "tx", (json_int_t)st->bfd_tx,
		"refused", (json_int_t)st->bfd_bad,
		"ups", (json_int_t)st->bfd_ups, "downs", (json_int_t)st->bfd_downs,
		"detect-ms", st->bfd_detect_us / 1000.0,
		"tx-interval-ms", st->bfd_tx_us / 1000.0,
		"rtt",
		"last-us", st->rtt_samples ? json_integer(st->rtt_last_us) : json_null(),
		"min-us", st->rtt_samples ? json_integer(st->rtt_min_us) : json_null(),
		"avg-us", st->rtt_samples ? json_integer(st->rtt_avg_us) : json_null(),
		"max-us", st->rtt_samples ? json_integer(st->rtt_max_us) : json_null(),
		"jitter-us", st->rtt_samples > 1 ? json_integer(st->rtt_jitter_us)
						 : json_null(),
		"samples", (int)st->rtt_samples,
		"lost", (int)st->probes_lost,
		/* Path signals (netstack/pathsig.h) over this path. */
		"signals",
		"sent", (json_int_t)st->signals_tx,
		"received", (json_int_t)st->signals_rx,
		"refused", (json_int_t)st->signals_bad,
		"ignored", (json_int_t)st->signals_ignored);
}

json_t *tunnels_status(const struct tunnels *t)
{
	const struct kt_config *cfg = t->cfg;
	json_t *paths = json_array(), *devs = json_array();
	int64_t now = (int64_t)time(NULL);
	uint64_t now_ms = kt_loop_now(t->loop);

	for (size_t i = 0; i < t->n_dev; i++) {
		const struct tun_device *dv = &t->dev[i];
		const struct kt_line *line = &cfg->lines[dv->line];

		json_array_append_new(devs, json_pack(
			"{s:s, s:s, s:i, s:i, s:s?, s:o}",
			"interface", dv->ifname, "line", line->name,
			"port", dv->port, "peers", (int)dv->n_peers,
			"fault", dv->fault[0] ? dv->fault : NULL,
			"drops", drops_json(dv->dev_drops)));
		for (size_t p = 0; p < dv->n_peers && cfg->tunnel.enabled; p++) {
			const struct kt_msg_tun_stats *st = &dv->stats[p];
			const char *name;

			peer_of(cfg, dv, p, &name);
			json_array_append_new(paths, json_pack(
				"{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:o,"
				" s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:b}",
				"interface", dv->ifname,
				"peer", name,
				"peer-role", dv->hub >= 0 ? "hub" : "site",
				"line", line->name,
				"line-kind", kt_line_kind_name(line->kind),
				"suite", cfg->tunnel.suite,
				"session", st->has_session,
				"last-handshake", st->last_handshake
					? json_integer(st->last_handshake) : json_null(),
				"handshake-age", st->last_handshake
					? json_integer(now - st->last_handshake) : json_null(),
				"rx-bytes", (json_int_t)st->rx_bytes,
				"tx-bytes", (json_int_t)st->tx_bytes,
				"rx-packets", (json_int_t)st->rx_packets,
				"tx-packets", (json_int_t)st->tx_packets,
				"handshakes", (json_int_t)st->handshakes,
				"drops", drops_json(st->drops),
				"endpoint", endpoint_json(&st->endpoint),
				"reported", dv->stats_ms[p] != 0));
			json_object_set_new(json_array_get(paths, json_array_size(paths) - 1),
					    "bfd", bfd_json(t, i, p, now_ms));
		}
	}
	return json_pack("{s:b, s:s, s:s?, s:i, s:s?, s:o, s:o, s:i}",
			 "enabled", t->built,
			 "suite", cfg->tunnel.enabled ? cfg->tunnel.suite : "",
			 "public-key", t->public_key[0] ? t->public_key : NULL,
			 "generation", (int)t->generation,
			 "fault", t->fault[0] ? t->fault : NULL,
			 "devices", devs, "paths", paths,
			 "refused-stats", (int)t->stats_refused);
}
