/* Path selection per segment (docs/failover.md): on a site, each LAN
 * segment's traffic to the data centre leaves by the first of its
 * eligible tunnel paths that works, chosen anew the moment a path's line
 * loses its carrier or its BFD session goes down, and moved back to a
 * better path only after that one has worked for the hold-down time.
 *
 * Each segment has a routing table of its own (CONFIG_PATHS_TABLE_BASE +
 * its index) and an ip rule per family sending what enters by its port
 * there (priority CONFIG_PATHS_RULE_PRIORITY + index). The table holds
 * every data-centre prefix (each hub's tunnel address and routes): a
 * route into the chosen path's TUN interface, or a blackhole when no
 * eligible path is left, so the segment's traffic is dropped rather than
 * looked up in the main table and leaked onto another line. A segment
 * that may not use best-effort lines (My Number, unless its policy says
 * otherwise) also gets a blackhole default, and throw routes for the
 * box's other segments (so LAN-to-LAN traffic is left to the policy).
 * Every change is a route replace: the kernel switches from one path to
 * the other atomically, and what is in flight on the old one still
 * arrives (make before break).
 *
 * On a hub the same module routes each site's prefixes through each line
 * whose path to that site works (carrier and BFD), in the main table
 * with the line's metric, so the data centre's traffic follows the paths
 * the site can use; a path that comes back carries them again after the
 * hold-down (at once if it is the site's only one). A site's closed-only
 * prefixes (its My Number segment) never go over a best-effort line: with
 * no closed path they meet a blackhole.
 *
 * Eligibility: the running segment policy's `paths` for the segment
 * whose ports include the segment's port; without one, My Number uses
 * closed lines only and the others every line. Order: closed lines
 * before best-effort, then hubs and lines in the file's order. */
#ifndef KT_PATHS_H
#define KT_PATHS_H

#include <jansson.h>

#include "config.h"
#include "loop.h"
#include "msg.h"
#include "ports.h"
#include "sys.h"
#include "tunnels.h"

struct kt_policy;

#define PATHS_MAX_DST (KT_MAX_HUBS * (KT_MAX_ROUTES + 1))

enum paths_cause {
	PATHS_CAUSE_START,		/* the first choice */
	PATHS_CAUSE_CARRIER,		/* the line lost its carrier */
	PATHS_CAUSE_BFD,		/* BFD went down (cause in the path's diag) */
	PATHS_CAUSE_GONE,		/* the path left the tunnel set */
	PATHS_CAUSE_FAILBACK,		/* a better path held up for the hold-down */
	PATHS_CAUSE_POLICY,		/* eligibility changed */
};

struct paths_seg {
	char name[KT_NAME_MAX];
	char ifname[IF_NAMESIZE];
	enum kt_seg_kind kind;
	struct kt_prefix address;	/* the segment's own prefix */
	struct kt_prefix own;		/* the box's address in it, as /32 or /128 */
	uint32_t table, priority;
	unsigned kinds;			/* eligible line kinds, bit per kind */
	bool restricted;		/* no best-effort: blackhole default */
	int order[KT_MSG_TUN_DEVICES];	/* eligible devices, best first */
	size_t n_order;
	int active;			/* device, -1: none (blackhole) */
	char active_if[IF_NAMESIZE];	/* its interface, across tunnel sets */
	uint64_t changed_ms;
	unsigned failovers, failbacks;
	enum paths_cause last_cause;
	char fault[160];		/* a route or rule the kernel refused */
};

/* A hub's view of one site over one of its lines. */
struct paths_hub {
	bool usable;
	bool installed[2];		/* routes, closed-only routes */
	uint64_t usable_since;
};

/* Below every route a hub installs (metrics from 100), above none: a
 * closed-only prefix with no closed path left is dropped here rather than
 * looked up any further. */
#define PATHS_HUB_BLACKHOLE_METRIC 4000

struct paths_elig {			/* from the running policy */
	char ifname[IF_NAMESIZE];
	unsigned kinds;
};

struct paths {
	struct sys *sys;
	struct kt_loop *loop;
	const struct tunnels *tun;
	const struct ports *ports;
	bool enabled;			/* a site with tunnels */
	struct kt_config *cfg;		/* what was applied */
	struct paths_seg seg[KT_MAX_SEGMENTS];
	size_t n_seg;
	struct kt_prefix dst[PATHS_MAX_DST];
	int dst_hub[PATHS_MAX_DST];	/* bit per hub that has it */
	size_t n_dst;
	bool usable[KT_MSG_TUN_DEVICES];
	uint64_t usable_since[KT_MSG_TUN_DEVICES];
	uint32_t hold_down_ms;
	struct paths_elig elig[KT_MAX_SEGMENTS];
	size_t n_elig;
	bool have_policy;
	struct kt_timer hold;
	unsigned kernel_errors;
	/* A hub: per device (line) and site, whether the site's routes go
	 * through that line now (hub[dev * n_sites + site]). */
	bool hub_mode;
	struct paths_hub *hub;
	size_t hub_sites, hub_devs;
	unsigned hub_changes;
};

int paths_init(struct paths *ps, struct sys *sys, struct kt_loop *loop,
	       const struct tunnels *tun, const struct ports *ports);
void paths_uninit(struct paths *ps);
/* A configuration (and so a tunnel set) was applied: the segments, their
 * tables and rules, and a choice for each. */
int paths_apply(struct paths *ps, const struct kt_config *cfg);
/* Something a path depends on changed: a line's carrier, a path's BFD
 * state. Chooses again where it must. */
void paths_update(struct paths *ps, enum paths_cause why);
/* The running policy (NULL: none): eligibility per segment. */
void paths_set_policy(struct paths *ps, const struct kt_policy *p);
json_t *paths_status(const struct paths *ps);

#endif
