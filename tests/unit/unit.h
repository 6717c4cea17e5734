/* Shared by the unit tests: cmocka and a board port map of their own, so
 * the tests do not depend on which board is configured. */
#ifndef KT_UNIT_H
#define KT_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "sys.h"

static const char *const unit_ports[][2] = {
	{ "wan1", "eth0" }, { "wan2", "eth1" }, { "lan1", "eth2" },
	{ "lan2", "eth3" }, { "lan3", "eth4" }, { "lan4", "" },
};

static const struct kt_port_map unit_map = {
	.ports = unit_ports,
	.n = sizeof(unit_ports) / sizeof(unit_ports[0]),
	.names_as_is = false,
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void unit_prefix(const char *s, struct kt_prefix *p)
{
	assert_true(kt_prefix_parse(s, p));
}

/* The metric of the dummy kernel's route to dst through dev, -1: none. */
static inline int unit_route_metric(struct sys *sys, const char *dst, const char *dev)
{
	struct kt_prefix p;

	unit_prefix(dst, &p);
	return sys_dummy_route_metric(sys, &p, dev);
}

#endif
