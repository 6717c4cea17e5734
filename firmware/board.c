/* The selected board's port map, from Kconfig (board/<board>/defconfig). */
#include "config.h"
#include "generated/autoconf.h"

static const char *const board_ports[][2] = {
	{ "wan1", CONFIG_BOARD_PORT_WAN1 },
	{ "wan2", CONFIG_BOARD_PORT_WAN2 },
	{ "lan1", CONFIG_BOARD_PORT_LAN1 },
	{ "lan2", CONFIG_BOARD_PORT_LAN2 },
	{ "lan3", CONFIG_BOARD_PORT_LAN3 },
	{ "lan4", CONFIG_BOARD_PORT_LAN4 },
};

const struct kt_port_map kt_board_ports = {
	.ports = board_ports,
	.n = sizeof(board_ports) / sizeof(board_ports[0]),
#ifdef CONFIG_BOARD_PORT_NAMES_AS_IS
	.names_as_is = true,
#endif
};
