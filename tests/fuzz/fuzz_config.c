/* libFuzzer target: the site configuration parser (firmware/config.c). */
#include <stddef.h>
#include <stdint.h>

#include "config.h"

static const char *const ports[][2] = {
	{ "wan1", "eth0" }, { "wan2", "eth1" }, { "lan1", "eth2" },
	{ "lan2", "eth3" }, { "lan3", "eth4" }, { "lan4", "" },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct kt_port_map map = { ports, 6, size & 1 };
	struct kt_config cfg;
	struct kt_config_error err;
	char msg[600];

	if (kt_config_parse("fuzz.yaml", data, size, &map, &cfg, &err))
		kt_config_error_str(&err, msg, sizeof(msg));
	return 0;
}
