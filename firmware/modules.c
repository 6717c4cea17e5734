/* The daemon's modules, in the order they start (and the reverse of the
 * order they stop). An explicit list: see drivers/sys.c for why. */
#include "kyotend.h"

static int ports_mod_init(struct kyotend *d)
{
	return ports_init(&d->ports, &d->sys, &d->loop);
}

static int ports_mod_apply(struct kyotend *d, const struct kt_config *cfg)
{
	/* Faults stay on their ports and are retried; they do not make the
	 * configuration wrong. */
	ports_apply(&d->ports, cfg);
	return 0;
}

static void ports_mod_uninit(struct kyotend *d)
{
	ports_uninit(&d->ports);
}

static json_t *ports_mod_status(struct kyotend *d)
{
	return ports_status(&d->ports);
}

static const struct kt_module ports_module = {
	.name = "ports",
	.init = ports_mod_init,
	.apply = ports_mod_apply,
	.uninit = ports_mod_uninit,
	.status = ports_mod_status,
};

const struct kt_module *const kt_modules[] = {
	&kt_engine_module,
#ifdef CONFIG_PORTS
	&ports_module,
#endif
};

const size_t kt_n_modules = sizeof(kt_modules) / sizeof(kt_modules[0]);
