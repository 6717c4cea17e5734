/* The port driver: makes the kernel's links match the site configuration
 * (up, addressed, routes to the hubs' endpoints through each line) and
 * keeps each port's carrier as the kernel reports it. A port that cannot
 * be set up carries a fault that status shows, and is retried. */
#ifndef KT_PORTS_H
#define KT_PORTS_H

#include <jansson.h>

#include "config.h"
#include "loop.h"
#include "sys.h"

#define PORTS_MAX (KT_MAX_LINES + KT_MAX_SEGMENTS)
#define PORTS_RETRY_MS 2000

struct ports_port {
	char port[KT_PORT_MAX];
	char ifname[IF_NAMESIZE];
	char owner[KT_NAME_MAX];	/* line or segment name */
	bool is_line;
	const char *kind;
	struct kt_prefix address;
	int ifindex;
	bool present, admin_up, carrier;
	unsigned carrier_changes;
	int64_t last_change;		/* realtime seconds; 0 never */
	char fault[160];		/* empty when healthy */
};

struct ports {
	struct sys *sys;
	struct kt_loop *loop;
	struct kt_config cfg;		/* what was last applied */
	bool applied;
	struct ports_port p[PORTS_MAX];
	size_t n;
	struct kt_fd ev;
	struct kt_timer retry;
	unsigned apply_count;
	unsigned resyncs;		/* event socket overruns recovered */
	/* A line port's link went up or down (ports_line_up changed). */
	void (*on_line)(struct ports *ps, const struct ports_port *pp);
};

int ports_init(struct ports *ps, struct sys *sys, struct kt_loop *loop);
void ports_uninit(struct ports *ps);
/* Returns the number of ports left with a fault (retried later). */
int ports_apply(struct ports *ps, const struct kt_config *cfg);
const struct ports_port *ports_find(const struct ports *ps, const char *ifname);
/* Present, up and with carrier: a line that can carry its paths. */
bool ports_line_up(const struct ports_port *pp);
json_t *ports_status(const struct ports *ps);

#endif
