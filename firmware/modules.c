/* The daemon's modules, in the order they start (and the reverse of the
 * order they stop). An explicit list: see drivers/sys.c for why. */
#include "kyotend.h"

#include <string.h>

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

static void to_engine(void *arg, uint16_t type, const void *p, size_t len, int fd)
{
	kt_engine_send(arg, type, p, len, fd);
}

/* The set the parent built: the configuration's, unless that one could
 * not be built (then the previous one keeps running). */
void kt_tunnels_send(struct kyotend *d)
{
	tunnels_send(&d->tunnels, to_engine, d);
}

void kt_tunnels_stats(struct kyotend *d, const struct kt_msg_tun_stats_batch *b)
{
	tunnels_stats_batch(&d->tunnels, b, kt_loop_now(&d->loop));
	/* A restarted engine's sessions come Up without a change reported
	 * against the old state; the counters say so. Only then: a hub
	 * gets 34 batches a second. */
	if (d->tunnels.bfd_changed) {
		d->tunnels.bfd_changed = false;
		paths_update(&d->paths, PATHS_CAUSE_BFD);
	}
}

int kt_tunnels_bfd_state(struct kyotend *d, const struct kt_msg_bfd_state *m)
{
	int err = tunnels_bfd_state(&d->tunnels, m, kt_loop_now(&d->loop));

	if (!err)
		paths_update(&d->paths, PATHS_CAUSE_BFD);
	return err;
}

static void tunnels_retry(struct kt_timer *t)
{
	struct kyotend *d = container_of(t, struct kyotend, tunnels.retry);

	tunnels_apply(&d->tunnels, &d->cfg);
	/* The engine gets the rebuilt set with the next generation's
	 * message; send it now instead. */
	if (d->tunnels.changed) {
		paths_apply(&d->paths, &d->cfg);
		kt_engine_module.apply(d, &d->cfg);
	}
}

static int tunnels_mod_init(struct kyotend *d)
{
	return tunnels_init(&d->tunnels, &d->sys, &d->loop, tunnels_retry);
}

static int tunnels_mod_apply(struct kyotend *d, const struct kt_config *cfg)
{
	/* Faults are shown and retried; the rest of the file still runs. */
	tunnels_apply(&d->tunnels, cfg);
	return 0;
}

static void tunnels_mod_uninit(struct kyotend *d)
{
	tunnels_uninit(&d->tunnels);
}

static json_t *tunnels_mod_status(struct kyotend *d)
{
	return tunnels_status(&d->tunnels);
}

static const struct kt_module tunnels_module = {
	.name = "tunnels",
	.init = tunnels_mod_init,
	.apply = tunnels_mod_apply,
	.uninit = tunnels_mod_uninit,
	.status = tunnels_mod_status,
};

/* Path selection per segment (firmware/paths.h): after the tunnels, whose
 * devices it routes into. */
static void paths_on_line(struct ports *ps, const struct ports_port *pp)
{
	struct kyotend *d = container_of(ps, struct kyotend, ports);

	/* The peers first: our own routes move in paths_update, theirs
	 * only once they know. */
	if (!ports_line_up(pp))
		tunnels_line_down(&d->tunnels, pp->ifname, to_engine, d);
	paths_update(&d->paths, PATHS_CAUSE_CARRIER);
}

static int paths_mod_init(struct kyotend *d)
{
#ifdef CONFIG_PORTS
	d->ports.on_line = paths_on_line;
	return paths_init(&d->paths, &d->sys, &d->loop, &d->tunnels, &d->ports);
#else
	return paths_init(&d->paths, &d->sys, &d->loop, &d->tunnels, NULL);
#endif
}

static int paths_mod_apply(struct kyotend *d, const struct kt_config *cfg)
{
	/* Refused routes are faults on their segment, shown and logged. */
	return paths_apply(&d->paths, cfg);
}

static void paths_mod_uninit(struct kyotend *d)
{
	paths_uninit(&d->paths);
}

static json_t *paths_mod_status(struct kyotend *d)
{
	return paths_status(&d->paths);
}

static const struct kt_module paths_module = {
	.name = "paths",
	.init = paths_mod_init,
	.apply = paths_mod_apply,
	.uninit = paths_mod_uninit,
	.status = paths_mod_status,
};

void kt_denials_send(struct kyotend *d, bool everything)
{
	/* A fresh engine asks for everything when it says hello. */
	if (d->engine.ch.fd < 0 || !d->engine.hello)
		return;
	denials_send(&d->denials, to_engine, d, everything);
}

void kt_denials_stats(struct kyotend *d, const struct kt_msg_deny_stats *m)
{
	denials_stats(&d->denials, m);
}

void kt_denials_policy(struct kyotend *d, const struct kt_policy *p,
		       uint32_t generation)
{
	denials_set_policy(&d->denials, p, generation);
	kt_denials_send(d, false);
}

static void denials_retry_cb(struct kt_timer *t)
{
	struct kyotend *d = container_of(t, struct kyotend, denials.retry);

	if (denials_retry(&d->denials))
		kt_denials_send(d, false);
}

static int denials_mod_init(struct kyotend *d)
{
	return denials_init(&d->denials, &d->sys, &d->loop, denials_retry_cb);
}

static int denials_mod_apply(struct kyotend *d, const struct kt_config *cfg)
{
	(void)d;
	(void)cfg;
	return 0;
}

static void denials_mod_uninit(struct kyotend *d)
{
	denials_uninit(&d->denials);
}

static json_t *denials_mod_status(struct kyotend *d)
{
	return denials_status(&d->denials);
}

static const struct kt_module denials_module = {
	.name = "denials",
	.init = denials_mod_init,
	.apply = denials_mod_apply,
	.uninit = denials_mod_uninit,
	.status = denials_mod_status,
};

static void policy_in_force(struct policyd *pd, const struct kt_policy *p,
			    uint32_t generation)
{
	struct kyotend *d = container_of(pd, struct kyotend, policy);

	kt_denials_policy(d, p, generation);
	paths_set_policy(&d->paths, p);
}

/* The segment-separation policy: nftables on the linux backend, a table
 * in memory on the dummy one. */
static int policy_mod_init(struct kyotend *d)
{
	struct policyd_kernel k = policyd_kernel_nft;

	int err;

	if (!strcmp(d->sys_backend, "dummy"))
		policyd_kernel_dummy(&k, &d->policy_dummy);
	err = policyd_init(&d->policy, &d->loop, &kt_board_ports, &k);
	d->policy.in_force = policy_in_force;
	return err;
}

static int policy_mod_apply(struct kyotend *d, const struct kt_config *cfg)
{
	/* A refused policy is shown and logged; the rest of the file still
	 * runs, and so does the policy the kernel holds. */
	return policyd_apply_config(&d->policy, &cfg->policy);
}

static void policy_mod_uninit(struct kyotend *d)
{
	policyd_uninit(&d->policy);
}

static json_t *policy_mod_status(struct kyotend *d)
{
	return policyd_status(&d->policy);
}

static const struct kt_module policy_module = {
	.name = "policy",
	.init = policy_mod_init,
	.apply = policy_mod_apply,
	.uninit = policy_mod_uninit,
	.status = policy_mod_status,
};

/* The engine comes last: each generation reaches it after the modules
 * before it have made the kernel objects (TUN, sockets) it is given. It
 * stops first, so no engine holds descriptors of a module that is gone. */
const struct kt_module *const kt_modules[] = {
#ifdef CONFIG_PORTS
	&ports_module,
#endif
	&tunnels_module,
	&paths_module,
	&denials_module,
	&policy_module,
	&kt_engine_module,
};

const size_t kt_n_modules = sizeof(kt_modules) / sizeof(kt_modules[0]);
