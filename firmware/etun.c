/* The engine's tunnel devices (etun.h). */
#define KT_MODULE "tunnels"
#include "etun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "config.h"
#include "device.h"
#include "ebfd.h"
#include "log.h"
#include "pathsig.h"
#include "suite.h"
#include "tunio.h"

struct etun_dev {
	char ifname[16];
	const struct kt_suite *suite;
	int tun_fd, udp_fd;
	uint8_t priv[KT_SUITE_KEY_LEN];	/* staged only; wiped once used */
	uint16_t keepalive_s;
	bool initiate;
	uint32_t rekey_after_ms;
	uint8_t bfd_multiplier;		/* 0: no BFD */
	uint32_t bfd_interval_us;
	struct kt_addr local;		/* this box's address on the line */
	uint32_t n_peers, n_got;
	struct kt_msg_tun_peer *staged;	/* per peer; hold PSKs, wiped */
	/* What it was made from (keys included) and on which kernel
	 * objects: a new set's device equal in both keeps running. */
	uint8_t digest[32];
	dev_t tun_dev, udp_dev, bfd_dev[2];
	ino_t tun_ino, udp_ino, bfd_ino[2];
	/* running */
	bool up;
	struct ebfd_dev bfd;		/* its fds: -1 until BFD_SOCKET */
	struct kt_device dev;
	struct kt_tunio io;
	struct kt_peer **peers;		/* by the parent's peer index */
};

static struct {
	struct kt_loop *loop;
	int (*send)(uint16_t type, const void *p, size_t len);
	int (*send_wait)(uint16_t type, const void *p, size_t len);
	void (*want_write)(bool on);
	/* Allocated, never moved: the loop and the device hold pointers
	 * into them. */
	struct etun_dev *cur[KT_MSG_TUN_DEVICES], *next[KT_MSG_TUN_DEVICES];
	uint32_t generation, next_generation;
	uint32_t sig_seq;		/* path signals sent */
	bool staging;
	unsigned refused;		/* messages of this set refused */
	struct kt_timer stats, busy;
	/* A round of counters: where it is, and a batch the channel had no
	 * room for. */
	bool round;
	size_t at_dev;
	uint32_t at_peer;		/* UINT32_MAX: the device's own entry */
	bool pending;
	struct kt_msg_tun_stats_batch batch;
} et;

static void dev_free(struct etun_dev *e)
{
	if (!e)
		return;
	ebfd_stop(&e->bfd);
	if (e->bfd.rx_fd >= 0)
		close(e->bfd.rx_fd);
	if (e->bfd.tx_fd >= 0)
		close(e->bfd.tx_fd);
	if (e->up) {
		kt_tunio_uninit(&e->io);	/* closes both descriptors */
		kt_device_uninit(&e->dev);
	} else {
		if (e->tun_fd >= 0)
			close(e->tun_fd);
		if (e->udp_fd >= 0)
			close(e->udp_fd);
	}
	if (e->staged) {
		kt_wipe(e->staged, e->n_peers * sizeof(*e->staged));
		free(e->staged);
	}
	free(e->peers);
	kt_wipe(e, sizeof(*e));
	free(e);
}

static void set_clear(struct etun_dev **set)
{
	for (size_t i = 0; i < KT_MSG_TUN_DEVICES; i++) {
		dev_free(set[i]);
		set[i] = NULL;
	}
}

static void send_stats(struct kt_timer *t);
static void stats_busy_retry(struct kt_timer *t);

/* A path's state change goes to the parent at once, and waits for room:
 * it is what failover acts on. */
static void bfd_report(struct kt_msg_bfd_state *m)
{
	struct etun_dev *e = m->device < KT_MSG_TUN_DEVICES ? et.cur[m->device] : NULL;

	m->tun_generation = et.generation;
	if (et.send_wait)
		et.send_wait(KT_MSG_BFD_STATE, m, sizeof(*m));
	/* A path that went down may have lost its session with it (a hub
	 * that restarted has no keys for it any more): a site handshakes at
	 * once rather than after the whitepaper's 15 s of silence, and then
	 * every rekey timeout while the path stays down (send_stats). */
	if (e && e->up && e->initiate && m->old_state == KT_BFD_UP &&
	    m->peer < e->n_peers && e->peers[m->peer]->has_endpoint)
		kt_peer_initiate(e->peers[m->peer]);
}

int etun_init(struct kt_loop *loop,
	      int (*send)(uint16_t type, const void *p, size_t len),
	      int (*send_wait)(uint16_t type, const void *p, size_t len),
	      void (*want_write)(bool on))
{
	memset(&et, 0, sizeof(et));
	et.loop = loop;
	et.send = send;
	et.send_wait = send_wait;
	ebfd_init(bfd_report);
	et.want_write = want_write;
	et.stats.cb = send_stats;
	et.busy.cb = stats_busy_retry;
	return kt_timer_set(loop, &et.stats, ETUN_STATS_MS);
}

void etun_uninit(void)
{
	if (!et.loop)
		return;
	kt_timer_cancel(et.loop, &et.stats);
	kt_timer_cancel(et.loop, &et.busy);
	set_clear(et.cur);
	set_clear(et.next);
	et.loop = NULL;
}

void etun_begin(const struct kt_msg_config *c)
{
	set_clear(et.next);
	et.staging = c->tunnels != 0;
	et.next_generation = c->tun_generation;
	et.refused = 0;
}

__attribute__((format(printf, 2, 3)))
static int refuse(int fd, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (fd >= 0)
		close(fd);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	et.refused++;
	log_errx("TUNNEL_MSG", "refused a tunnel message: %s", msg);
	return -EINVAL;
}

static bool terminated(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

int etun_device(const struct kt_msg_tun_device *m, int fd)
{
	struct etun_dev *e;

	if (!et.staging)
		return refuse(fd, "no tunnel set is being sent");
	if (m->index >= KT_MSG_TUN_DEVICES || et.next[m->index])
		return refuse(fd, "device index %u is out of range or repeated",
			      m->index);
	if (!terminated(m->ifname, sizeof(m->ifname)) || !m->ifname[0] ||
	    !terminated(m->suite, sizeof(m->suite)))
		return refuse(fd, "device %u: unterminated name", m->index);
	if (m->n_peers > KT_MAX_SITES)
		return refuse(fd, "device %u: %u peers (at most %d)", m->index,
			      m->n_peers, KT_MAX_SITES);
	if (!kt_suite_find(m->suite))
		return refuse(fd, "device %u: unknown suite '%s'", m->index,
			      m->suite);
	e = calloc(1, sizeof(*e));
	if (!e || (m->n_peers &&
		   !(e->staged = calloc(m->n_peers, sizeof(*e->staged))))) {
		free(e);
		return refuse(fd, "device %u: out of memory", m->index);
	}
	et.next[m->index] = e;
	e->suite = kt_suite_find(m->suite);
	e->udp_fd = -1;
	e->bfd.rx_fd = e->bfd.tx_fd = -1;
	e->bfd_multiplier = m->bfd_multiplier;
	e->bfd_interval_us = m->bfd_interval_us;
	if (m->local.family == AF_INET || m->local.family == AF_INET6) {
		e->local.family = m->local.family;
		memcpy(e->local.bytes, m->local.addr,
		       m->local.family == AF_INET ? 4 : 16);
	}
	e->tun_fd = fd;
	snprintf(e->ifname, sizeof(e->ifname), "%s", m->ifname);
	memcpy(e->priv, m->private_key, sizeof(e->priv));
	e->keepalive_s = m->keepalive_s;
	e->initiate = m->initiate != 0;
	e->rekey_after_ms = m->rekey_after_ms;
	e->n_peers = m->n_peers;
	return 0;
}

int etun_socket(const struct kt_msg_tun_socket *m, int fd)
{
	if (!et.staging || m->device >= KT_MSG_TUN_DEVICES ||
	    !et.next[m->device] || et.next[m->device]->udp_fd >= 0)
		return refuse(fd, "socket for device %u, which is not staged "
			      "or has one", m->device);
	et.next[m->device]->udp_fd = fd;
	return 0;
}

int etun_bfd_socket(const struct kt_msg_bfd_socket *m, int fd)
{
	struct etun_dev *e;
	int *slot;

	if (!et.staging || m->device >= KT_MSG_TUN_DEVICES || !et.next[m->device] ||
	    m->rx > 1)
		return refuse(fd, "BFD socket for device %u, which is not staged",
			      m->device);
	e = et.next[m->device];
	slot = m->rx ? &e->bfd.rx_fd : &e->bfd.tx_fd;
	if (*slot >= 0)
		return refuse(fd, "%s: a second BFD %s socket", e->ifname,
			      m->rx ? "receive" : "send");
	*slot = fd;
	return 0;
}

int etun_peer(const struct kt_msg_tun_peer *m)
{
	struct etun_dev *e;

	if (!et.staging || m->device >= KT_MSG_TUN_DEVICES || !et.next[m->device])
		return refuse(-1, "peer for device %u, which is not staged",
			      m->device);
	e = et.next[m->device];
	if (m->peer >= e->n_peers || e->staged[m->peer].name[0])
		return refuse(-1, "%s: peer index %u out of range or repeated",
			      e->ifname, m->peer);
	if (!terminated(m->name, sizeof(m->name)) || !m->name[0] ||
	    m->n_allowed > KT_MSG_TUN_ALLOWED)
		return refuse(-1, "%s: peer %u is malformed", e->ifname, m->peer);
	e->staged[m->peer] = *m;
	e->n_got++;
	return 0;
}

static bool prefix_of(const struct kt_msg_tun_peer *m, size_t i,
		      struct kt_prefix *p)
{
	memset(p, 0, sizeof(*p));
	if (m->allowed[i].family == AF_INET && m->allowed[i].len <= 32)
		memcpy(p->addr.bytes, m->allowed[i].addr, 4);
	else if (m->allowed[i].family == AF_INET6 && m->allowed[i].len <= 128)
		memcpy(p->addr.bytes, m->allowed[i].addr, 16);
	else
		return false;
	p->addr.family = m->allowed[i].family;
	p->len = m->allowed[i].len;
	return true;
}

static bool endpoint_of(const struct kt_msg_sockaddr *s,
			struct kt_endpoint_addr *e)
{
	memset(e, 0, sizeof(*e));
	if (s->family == AF_INET) {
		e->in.sin_family = AF_INET;
		e->in.sin_port = htons(s->port);
		memcpy(&e->in.sin_addr, s->addr, 4);
	} else if (s->family == AF_INET6) {
		e->in6.sin6_family = AF_INET6;
		e->in6.sin6_port = htons(s->port);
		memcpy(&e->in6.sin6_addr, s->addr, 16);
	} else {
		return false;
	}
	return s->port != 0;
}

/* BFD on every peer of a running device, to the peer's tunnel address
 * (its first allowed prefix, a host route). Without it the device still
 * carries traffic; the paths show BFD as off. */
static void bfd_start(struct etun_dev *e)
{
	struct kt_bfd_config cfg = {
		.desired_min_tx_us = e->bfd_interval_us,
		.required_min_rx_us = e->bfd_interval_us,
		.detect_mult = e->bfd_multiplier,
	};
	struct kt_addr *peers;
	struct kt_prefix pf;
	const char *why;
	int err;

	if (!e->bfd_multiplier || e->bfd.rx_fd < 0 || e->bfd.tx_fd < 0)
		return;
	if (kt_bfd_config_check(&cfg, &why)) {
		log_errx("BFD_CONFIG", "%s: no BFD: %s", e->ifname, why);
		return;
	}
	peers = calloc(e->n_peers ? e->n_peers : 1, sizeof(*peers));
	if (!peers) {
		log_errx("BFD_CONFIG", "%s: no BFD: out of memory", e->ifname);
		return;
	}
	for (uint32_t i = 0; i < e->n_peers; i++) {
		if (!e->staged[i].n_allowed || !prefix_of(&e->staged[i], 0, &pf)) {
			log_errx("BFD_CONFIG", "%s: no BFD: peer %s has no address",
				 e->ifname, e->staged[i].name);
			free(peers);
			return;
		}
		peers[i] = pf.addr;
	}
	if ((err = ebfd_start(&e->bfd, et.loop, 0, &cfg, peers, e->n_peers)))
		log_errx("BFD_CONFIG", "%s: no BFD: %s", e->ifname, strerror(-err));
	free(peers);
}

/* --- path signals (netstack/pathsig.h) --- */

static size_t dev_index(const struct etun_dev *e)
{
	for (size_t i = 0; i < KT_MSG_TUN_DEVICES; i++)
		if (et.cur[i] == e)
			return i;
	return KT_MSG_TUN_DEVICES;
}

static void on_control(void *arg, struct kt_peer *p, const uint8_t *msg, size_t len)
{
	struct etun_dev *e = arg;
	size_t d = dev_index(e);

	for (uint32_t i = 0; d < KT_MSG_TUN_DEVICES && i < e->n_peers; i++)
		if (e->peers[i] == p) {
			etun_signal_input((uint32_t)d, i, msg, len);
			return;
		}
	p->stats.drops[KT_DROP_MALFORMED]++;
}

static void addr_text(const struct kt_addr *a, char *buf, size_t n)
{
	if (!inet_ntop(a->family, a->bytes, buf, (socklen_t)n))
		snprintf(buf, n, "?");
}

/* The running device with this local address and BFD on it, and there
 * the path to the peer with tunnel address `peer`. */
static struct ebfd_path *path_at(const struct kt_addr *local,
				 const struct kt_addr *peer, struct etun_dev **dev)
{
	for (size_t i = 0; i < KT_MSG_TUN_DEVICES; i++) {
		struct etun_dev *e = et.cur[i];

		if (!e || !e->up || !e->bfd.paths || !kt_addr_equal(&e->local, local))
			continue;
		for (uint32_t j = 0; j < e->bfd.n_paths; j++)
			if (kt_addr_equal(&e->bfd.paths[j].addr, peer)) {
				*dev = e;
				return &e->bfd.paths[j];
			}
	}
	return NULL;
}

void etun_signal_input(uint32_t dev, uint32_t peer, const uint8_t *msg, size_t len)
{
	struct etun_dev *e = dev < KT_MSG_TUN_DEVICES ? et.cur[dev] : NULL, *to = NULL;
	struct ebfd_path *via, *target;
	struct kt_pathsig sig;
	char a[INET6_ADDRSTRLEN];
	int err;

	/* Only a path with BFD can be taken down, and only BFD knows the
	 * peer's tunnel address that ties its paths together. */
	if (!e || !e->up || !e->bfd.paths || peer >= e->bfd.n_paths) {
		if (e && e->up && peer < e->n_peers)
			e->peers[peer]->stats.drops[KT_DROP_MALFORMED]++;
		return;
	}
	via = &e->bfd.paths[peer];
	if ((err = kt_pathsig_parse(msg, len, &sig))) {
		via->sig_bad++;
		log_warnx("PATH_SIGNAL_BAD", "%s: a path signal from %s refused: "
			  "bad %s (%zu bytes)", e->ifname, e->peers[peer]->name,
			  kt_pathsig_bad_name((unsigned)-err), len);
		return;
	}
	addr_text(&sig.addr, a, sizeof(a));
	target = path_at(&sig.addr, &via->addr, &to);
	/* It came over the path it names: that path works. */
	if (!target || target == via) {
		via->sig_ignored++;
		log_warnx("PATH_SIGNAL_IGNORED", "%s: %s says its path to %s is "
			  "down (%s), but %s", e->ifname, e->peers[peer]->name, a,
			  kt_pathsig_reason_name(sig.reason), target ?
			  "the signal came over that path" :
			  "no path of ours to it ends there");
		return;
	}
	via->sig_rx++;
	/* The copies that follow find the path down already. */
	if (kt_bfd_signal_down(&target->s, KT_BFD_DIAG_NEIGHBOR_DOWN))
		log_notice("PATH_SIGNAL", "%s: %s says its path to %s (%s) is "
			   "down: %s; signal %u", e->ifname, e->peers[peer]->name,
			   a, to->ifname, kt_pathsig_reason_name(sig.reason), sig.seq);
}

/* Twice: on a best-effort line one copy may be lost, and if both are,
 * the peer still learns by BFD's detection time. */
#define ETUN_SIGNAL_COPIES 2

/* The signal to the peer with tunnel address `peer`, over each of its
 * other Up paths with a session (every device but `from`). */
static void send_signal(const struct etun_dev *from, const struct kt_addr *peer,
			const uint8_t pkt[KT_PATHSIG_LEN], const struct kt_pathsig *sig)
{
	for (size_t d = 0; d < KT_MSG_TUN_DEVICES; d++) {
		struct etun_dev *o = et.cur[d];

		if (!o || o == from || !o->up || !o->bfd.paths)
			continue;
		for (uint32_t j = 0; j < o->bfd.n_paths && j < o->n_peers; j++) {
			struct ebfd_path *p = &o->bfd.paths[j];

			if (!kt_addr_equal(&p->addr, peer) ||
			    p->s.session_state != KT_BFD_UP ||
			    !kt_peer_has_session(o->peers[j]))
				continue;
			for (int c = 0; c < ETUN_SIGNAL_COPIES; c++)
				if (!kt_peer_send(o->peers[j], pkt, KT_PATHSIG_LEN))
					p->sig_tx++;
			log_info("PATH_SIGNAL_SENT", "%s: told %s over %s that "
				 "the path through %s lost its line (%s); signal %u",
				 from->ifname, o->peers[j]->name, o->ifname, from->ifname,
				 kt_pathsig_reason_name(sig->reason), sig->seq);
		}
	}
}

void etun_path_down(const struct kt_msg_path_down *m)
{
	struct etun_dev *e = m->device < KT_MSG_TUN_DEVICES ? et.cur[m->device] : NULL;

	if (!e || !e->up || !e->bfd.paths ||
	    (m->reason != KT_PATHSIG_CARRIER && m->reason != KT_PATHSIG_ADMIN))
		return;
	for (uint32_t i = 0; i < e->bfd.n_paths && i < e->n_peers; i++) {
		const struct kt_endpoint_addr *ep = &e->peers[i]->endpoint;
		struct kt_pathsig sig = { .type = KT_PATHSIG_DOWN, .reason = m->reason };
		uint8_t pkt[KT_PATHSIG_LEN];

		/* The peer's end of the lost path, as the peer knows it. */
		if (!e->peers[i]->has_endpoint)
			continue;
		if (ep->sa.sa_family == AF_INET) {
			sig.addr.family = AF_INET;
			memcpy(sig.addr.bytes, &ep->in.sin_addr, 4);
		} else {
			sig.addr.family = AF_INET6;
			memcpy(sig.addr.bytes, &ep->in6.sin6_addr, 16);
		}
		sig.seq = ++et.sig_seq;
		if (kt_pathsig_build(&sig, pkt))
			continue;
		send_signal(e, &e->bfd.paths[i].addr, pkt, &sig);
	}
}

/* Turns a staged device into a running one; false (and the reason
 * logged) if it cannot be. The staged secrets are wiped either way. */
static bool dev_start(struct etun_dev *e)
{
	static const uint8_t zero_psk[KT_SUITE_KEY_LEN];

	if (e->udp_fd < 0 || e->n_got != e->n_peers) {
		log_errx("TUNNEL_DEVICE", "%s: incomplete (%s, %u of %u peers)",
			 e->ifname, e->udp_fd < 0 ? "no socket" : "socket",
			 e->n_got, e->n_peers);
		return false;
	}
	if (kt_device_init(&e->dev, et.loop, e->suite, e->priv, &kt_tunio_ops,
			   &e->io)) {
		log_errx("TUNNEL_DEVICE", "%s: not a valid private key for suite "
			 "%s", e->ifname, e->suite->name);
		return false;
	}
	kt_wipe(e->priv, sizeof(e->priv));
	if (e->rekey_after_ms)
		e->dev.timing.rekey_after_ms = e->rekey_after_ms;
	e->peers = calloc(e->n_peers ? e->n_peers : 1, sizeof(*e->peers));
	if (!e->peers)
		goto fail_dev;
	for (uint32_t i = 0; i < e->n_peers; i++) {
		const struct kt_msg_tun_peer *m = &e->staged[i];
		struct kt_endpoint_addr ep;
		struct kt_peer *p;

		p = kt_device_add_peer(&e->dev, m->name, m->public_key,
				       m->has_psk ? m->psk : zero_psk);
		if (!p) {
			log_errx("TUNNEL_DEVICE", "%s: peer %s has a public key "
				 "that is not one of suite %s", e->ifname, m->name,
				 e->suite->name);
			goto fail_dev;
		}
		e->peers[i] = p;
		p->persistent_keepalive_s = e->keepalive_s;
		for (uint32_t a = 0; a < m->n_allowed; a++) {
			struct kt_prefix pf;

			if (!prefix_of(m, a, &pf) || kt_peer_allow(p, &pf)) {
				log_errx("TUNNEL_DEVICE", "%s: peer %s: allowed "
					 "prefix %u is malformed", e->ifname,
					 m->name, a);
				goto fail_dev;
			}
		}
		if (endpoint_of(&m->endpoint, &ep))
			kt_peer_set_endpoint(p, &ep);
	}
	if (kt_tunio_init(&e->io, &e->dev, et.loop, e->tun_fd, &e->udp_fd, 1)) {
		/* kt_tunio_init closed both descriptors. */
		e->tun_fd = e->udp_fd = -1;
		log_errx("TUNNEL_DEVICE", "%s: I/O set-up failed", e->ifname);
		kt_device_uninit(&e->dev);
		return false;
	}
	e->up = true;
	e->io.control = on_control;
	e->io.control_arg = e;
	bfd_start(e);
	kt_wipe(e->staged, e->n_peers * sizeof(*e->staged));
	free(e->staged);
	e->staged = NULL;
	if (e->initiate)
		for (uint32_t i = 0; i < e->n_peers; i++)
			if (e->peers[i]->has_endpoint)
				kt_peer_initiate(e->peers[i]);
	return true;

fail_dev:
	kt_device_uninit(&e->dev);
	return false;
}

/* A staged device's digest and the identity of its descriptors. */
static void dev_identify(struct etun_dev *e)
{
	static const uint32_t zero;
	struct stat st;
	wc_Sha256 h;

	wc_InitSha256(&h);
	wc_Sha256Update(&h, (const uint8_t *)e->ifname, sizeof(e->ifname));
	wc_Sha256Update(&h, (const uint8_t *)e->suite->name,
			(word32)strlen(e->suite->name) + 1);
	wc_Sha256Update(&h, e->priv, sizeof(e->priv));
	wc_Sha256Update(&h, (const uint8_t *)&e->keepalive_s, sizeof(e->keepalive_s));
	wc_Sha256Update(&h, (const uint8_t *)&e->initiate, sizeof(e->initiate));
	wc_Sha256Update(&h, (const uint8_t *)&e->rekey_after_ms,
			sizeof(e->rekey_after_ms));
	wc_Sha256Update(&h, (const uint8_t *)&e->n_peers, sizeof(e->n_peers));
	wc_Sha256Update(&h, (const uint8_t *)&e->bfd_multiplier,
			sizeof(e->bfd_multiplier));
	wc_Sha256Update(&h, (const uint8_t *)&e->bfd_interval_us,
			sizeof(e->bfd_interval_us));
	wc_Sha256Update(&h, (const uint8_t *)&e->local, sizeof(e->local));
	for (uint32_t i = 0; i < e->n_got && e->staged; i++) {
		/* Its device index may differ between sets. */
		wc_Sha256Update(&h, (const uint8_t *)&zero, sizeof(zero));
		wc_Sha256Update(&h, (const uint8_t *)&e->staged[i].peer,
				sizeof(e->staged[i]) - sizeof(e->staged[i].device));
	}
	wc_Sha256Final(&h, e->digest);
	wc_Sha256Free(&h);
	kt_wipe(&h, sizeof(h));		/* it held the keys */
	if (e->tun_fd >= 0 && !fstat(e->tun_fd, &st)) {
		e->tun_dev = st.st_dev;
		e->tun_ino = st.st_ino;
	}
	if (e->udp_fd >= 0 && !fstat(e->udp_fd, &st)) {
		e->udp_dev = st.st_dev;
		e->udp_ino = st.st_ino;
	}
	for (int k = 0; k < 2; k++)
		if ((k ? e->bfd.tx_fd : e->bfd.rx_fd) >= 0 &&
		    !fstat(k ? e->bfd.tx_fd : e->bfd.rx_fd, &st)) {
			e->bfd_dev[k] = st.st_dev;
			e->bfd_ino[k] = st.st_ino;
		}
}

static bool dev_same(const struct etun_dev *a, const struct etun_dev *b)
{
	return !memcmp(a->digest, b->digest, sizeof(a->digest)) &&
	       a->tun_dev == b->tun_dev && a->tun_ino == b->tun_ino &&
	       a->udp_dev == b->udp_dev && a->udp_ino == b->udp_ino &&
	       !memcmp(a->bfd_dev, b->bfd_dev, sizeof(a->bfd_dev)) &&
	       !memcmp(a->bfd_ino, b->bfd_ino, sizeof(a->bfd_ino));
}

void etun_done(const struct kt_msg_config *c)
{
	struct etun_dev *run[KT_MSG_TUN_DEVICES] = { NULL };
	size_t started = 0, kept = 0, staged = 0, peers = 0;

	if (!c->tunnels || !et.staging || c->tun_generation != et.next_generation) {
		et.staging = false;
		set_clear(et.next);
		return;
	}
	et.staging = false;
	/* A round in progress counted the old set. */
	et.round = et.pending = false;
	/* A device the new set has unchanged, on the same interface and
	 * socket, keeps running with its sessions: a reload that touches
	 * one path, or a path repaired, leaves the others alone. */
	for (size_t i = 0; i < KT_MSG_TUN_DEVICES; i++) {
		struct etun_dev *e = et.next[i];

		if (!e)
			continue;
		staged++;
		dev_identify(e);
		for (size_t j = 0; j < KT_MSG_TUN_DEVICES; j++) {
			if (et.cur[j] && dev_same(et.cur[j], e)) {
				run[i] = et.cur[j];
				et.cur[j] = NULL;
				dev_free(e);	/* its duplicates, its key */
				et.next[i] = NULL;
				kept++;
				peers += run[i]->n_peers;
				break;
			}
		}
	}
	/* The rest of the old set goes before the new devices start: they
	 * may share its interfaces and sockets, which must have one reader. */
	set_clear(et.cur);
	for (size_t i = 0; i < KT_MSG_TUN_DEVICES; i++) {
		struct etun_dev *e = et.next[i];

		if (!e)
			continue;
		et.next[i] = NULL;
		if (dev_start(e)) {
			started++;
			peers += e->n_peers;
			run[i] = e;
		} else {
			dev_free(e);
		}
	}
	memcpy(et.cur, run, sizeof(run));
	et.generation = c->tun_generation;
	/* A kept device may have a new index: its paths report under it. */
	for (size_t i = 0; i < KT_MSG_TUN_DEVICES; i++)
		if (et.cur[i])
			et.cur[i]->bfd.device = (uint32_t)i;
	log_notice("TUNNELS_UP", "tunnel set %u: %zu of %zu devices running "
		   "(%zu kept, %zu started), %zu peers%s", et.generation,
		   kept + started, staged, kept, started, peers,
		   et.refused ? "; some messages were refused" : "");
}

static void stats_endpoint(const struct kt_peer *p, struct kt_msg_sockaddr *o)
{
	memset(o, 0, sizeof(*o));
	if (!p->has_endpoint)
		return;
	if (p->endpoint.sa.sa_family == AF_INET) {
		o->family = AF_INET;
		o->port = ntohs(p->endpoint.in.sin_port);
		memcpy(o->addr, &p->endpoint.in.sin_addr, 4);
	} else if (p->endpoint.sa.sa_family == AF_INET6) {
		o->family = AF_INET6;
		o->port = ntohs(p->endpoint.in6.sin6_port);
		memcpy(o->addr, &p->endpoint.in6.sin6_addr, 16);
	}
}

static void stats_fill(struct kt_msg_tun_stats *st, size_t dev, uint32_t peer)
{
	struct etun_dev *e = et.cur[dev];

	memset(st, 0, sizeof(*st));
	st->tun_generation = et.generation;
	st->device = (uint32_t)dev;
	st->peer = peer;
	if (peer == UINT32_MAX) {
		for (int d = 0; d < KT_DROP_COUNT; d++)
			st->drops[d] = e->dev.drops[d];
	} else {
		struct kt_peer *p = e->peers[peer];

		st->has_session = kt_peer_has_session(p);
		st->last_handshake = p->last_handshake_rt;
		st->rx_bytes = p->stats.rx_bytes;
		st->tx_bytes = p->stats.tx_bytes;
		st->rx_packets = p->stats.rx_packets;
		st->tx_packets = p->stats.tx_packets;
		st->handshakes = p->stats.handshakes;
		for (int d = 0; d < KT_DROP_COUNT; d++)
			st->drops[d] = p->stats.drops[d];
		stats_endpoint(p, &st->endpoint);
		ebfd_fill(&e->bfd, peer, st);
	}
}

/* The next batch of this round from the cursor; false when the round is
 * over. */
static bool stats_next_batch(void)
{
	et.batch.n = 0;
	for (; et.at_dev < KT_MSG_TUN_DEVICES; et.at_dev++, et.at_peer = UINT32_MAX) {
		struct etun_dev *e = et.cur[et.at_dev];

		if (!e)
			continue;
		while (et.at_peer == UINT32_MAX || et.at_peer < e->n_peers) {
			if (et.batch.n == KT_MSG_TUN_STATS_BATCH)
				return true;
			stats_fill(&et.batch.s[et.batch.n++], et.at_dev, et.at_peer);
			et.at_peer++;	/* UINT32_MAX wraps to peer 0 */
		}
	}
	return et.batch.n > 0;
}

/* Sends batches until the round is done or the channel is full. */
static void stats_pump(void)
{
	int r;

	while (et.round) {
		if (!et.pending) {
			if (!stats_next_batch()) {
				et.round = false;
				break;
			}
			et.pending = true;
		}
		r = et.send(KT_MSG_TUN_STATS, &et.batch, sizeof(et.batch));
		if (r == -EAGAIN) {
			et.want_write(true);
			return;
		}
		if (r == -EBUSY) {
			et.want_write(false);
			kt_timer_set(et.loop, &et.busy, ETUN_STATS_BUSY_MS);
			return;
		}
		/* Sent, or failed for good (the parent is gone and the
		 * engine is about to stop): on to the next. */
		et.pending = false;
	}
	et.want_write(false);
}

void etun_writable(void)
{
	stats_pump();
}

static void stats_busy_retry(struct kt_timer *t)
{
	(void)t;
	stats_pump();
}

/* Every second: a new handshake on a site's path that has no session or
 * whose BFD is not up (kt_peer_initiate sends one per rekey timeout at
 * most), the paths' round-trip probes, and each path's counters to the
 * parent (which shows them). The whitepaper's initiator gives up after
 * REKEY_ATTEMPT_TIME until traffic asks again; a branch box keeps its
 * paths up whether or not traffic flows, so that failover always has
 * somewhere to go. */
static void send_stats(struct kt_timer *t)
{
	for (size_t i = 0; i < KT_MSG_TUN_DEVICES; i++) {
		struct etun_dev *e = et.cur[i];

		for (uint32_t p = 0; e && e->initiate && p < e->n_peers; p++)
			if (e->peers[p]->has_endpoint &&
			    (!kt_peer_has_session(e->peers[p]) ||
			     (p < e->bfd.n_paths &&
			      e->bfd.paths[p].s.session_state != KT_BFD_UP)))
				kt_peer_initiate(e->peers[p]);
		if (e)
			ebfd_tick(&e->bfd);
	}
	/* A round the parent has not taken in yet is not doubled. */
	if (!et.round) {
		et.round = true;
		et.at_dev = 0;
		et.at_peer = UINT32_MAX;
		stats_pump();
	}
	kt_timer_set(et.loop, t, ETUN_STATS_MS);
}
