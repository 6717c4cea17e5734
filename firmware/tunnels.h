/* The parent's side of the tunnels: the kernel objects they need (a TUN
 * interface per device, a UDP socket bound to its line, the tunnel
 * address and the routes through it), and the devices' configuration as
 * messages for the engine, which runs the protocol on them.
 *
 * Devices (docs/tunnels.md, "In the daemon"):
 *   a site: one per hub and line, kt-hH-lL, one peer (that hub), sending
 *           from port + i, so that every path is probed and chosen alone;
 *   a hub:  one per line, kt-lL, one peer per site, listening on port.
 *
 * The parent holds the descriptors for as long as a device exists, so the
 * interfaces (and the routes on them) outlive an engine that restarts;
 * each engine gets duplicates. */
#ifndef KT_TUNNELS_H
#define KT_TUNNELS_H

#include <jansson.h>
#include <net/if.h>

#include "config.h"
#include "loop.h"
#include "msg.h"
#include "sys.h"

#define KT_TUNNELS_RETRY_MS 5000
/* Route metrics: closed lines before best-effort ones, then hubs in the
 * order the file lists them. The failover issue replaces this order. */
#define KT_TUNNELS_METRIC_CLOSED 100
#define KT_TUNNELS_METRIC_BEST_EFFORT 200

struct tun_route {
	struct kt_prefix dst;
	unsigned metric;
};

/* A path's BFD state as the engine last reported it. */
struct tun_bfd {
	uint8_t state, diag, remote_diag;	/* netstack/bfd.h */
	bool reported;
	uint64_t since_ms;		/* loop time of the last change */
	unsigned changes;
};

struct tun_device {
	char ifname[IF_NAMESIZE];
	int tun_fd, udp_fd;
	int bfd_rx_fd, bfd_tx_fd;	/* on the TUN interface, -1: none */
	int ifindex;
	unsigned line;			/* index into the configuration's lines */
	char line_ifname[IF_NAMESIZE];
	int hub;			/* a site's device: the hub's index */
	uint16_t port;
	int family;
	size_t n_peers;
	struct tun_route *routes;	/* installed through this device */
	size_t n_routes;
	struct kt_msg_tun_stats *stats;	/* per peer, as the engine last said */
	uint64_t *stats_ms;		/* loop time of each; 0: never */
	struct tun_bfd *bfd;		/* per peer */
	uint64_t dev_drops[KT_MSG_TUN_DROPS];	/* not tied to a peer */
	char fault[160];
};

/* The keys of a set, read once when it is built (so a key file that
 * changes or breaks later cannot leave an engine restart without them),
 * locked in memory and wiped when the set is replaced. psk[i] belongs to
 * peer i of every device (a site's hubs, a hub's sites). */
struct tun_keys {
	uint8_t priv[32];
	size_t n;
	uint8_t (*psk)[32];
	bool *has_psk;
};

struct tunnels {
	struct sys *sys;
	struct kt_loop *loop;
	struct tun_device dev[KT_MSG_TUN_DEVICES];
	size_t n_dev;
	/* The configuration the devices were built from: a later file whose
	 * set could not be built (a bad key) must not be read against them. */
	struct kt_config *cfg;
	struct tun_keys keys;
	uint8_t fingerprint[32];	/* of what the devices were built from */
	bool built;
	bool changed;			/* the engine has not had this set yet */
	uint32_t generation;
	char public_key[96];		/* base64, for people and peers */
	char fault[300];		/* why the set could not be (re)built */
	char logged[300];		/* the fault last logged: once, not every retry */
	struct kt_timer retry;
	unsigned stats_refused;
	bool bfd_changed;		/* counters brought a new BFD state */
};

int tunnels_init(struct tunnels *t, struct sys *sys, struct kt_loop *loop,
		 void (*retry)(struct kt_timer *));
void tunnels_uninit(struct tunnels *t);
/* Builds the tunnel set `cfg` asks for; nothing when it is what runs. A
 * failure keeps what ran before and is shown as a fault (and retried). */
int tunnels_apply(struct tunnels *t, const struct kt_config *cfg);
json_t *tunnels_status(const struct tunnels *t);
/* Records counters the engine sent; refuses what does not fit the set. */
int tunnels_stats(struct tunnels *t, const struct kt_msg_tun_stats *st,
		  uint64_t now_ms);

/* A path's BFD session changed state: recorded, and logged as the event
 * PATH_UP or PATH_DOWN with its cause. -EINVAL when it does not fit the
 * set (the engine is not trusted). */
int tunnels_bfd_state(struct tunnels *t, const struct kt_msg_bfd_state *m,
		      uint64_t now_ms);

/* A path's BFD state as last reported (enum kt_bfd_state), or -1 when
 * it has none or it is not known yet. */
int tunnels_path_bfd(const struct tunnels *t, size_t dev, size_t peer);

/* A batch of counters from the engine, each entry through tunnels_stats;
 * what is refused is counted (the first one logged). Returns how many
 * entries were refused (a malformed batch counts as one). */
unsigned tunnels_stats_batch(struct tunnels *t,
			     const struct kt_msg_tun_stats_batch *b, uint64_t now_ms);

/* The set as messages for the engine (with descriptors, which send
 * duplicates); clears `changed`. */
typedef void (*tunnels_send_fn)(void *arg, uint16_t type, const void *p,
				size_t len, int fd);
void tunnels_send(struct tunnels *t, tunnels_send_fn send, void *arg);
/* The line on interface ifname lost its carrier: asks the engine to tell
 * the peers of its paths over their other paths (netstack/pathsig.h).
 * The number of devices it asked about. */
size_t tunnels_line_down(const struct tunnels *t, const char *ifname,
			 tunnels_send_fn send, void *arg);

/* The metric of a route over line `line`: closed lines first. */
unsigned tunnels_line_metric(const struct kt_config *cfg, unsigned line);

/* The interface name of a site's path or a hub's line. */
void tunnels_ifname(char out[IF_NAMESIZE], int hub, unsigned line);

#endif
