/* kyotend: the branch-site daemon. This process is the privileged parent:
 * it alone writes to the kernel (through sys_*), owns the control socket
 * and supervises the unprivileged engine child. */
#define KT_MODULE "main"
#include "kyotend.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/reboot.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/version.h>

#include "log.h"

#ifndef KYOTEN_VERSION
#define KYOTEN_VERSION "0.0.0-unknown"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kyotend [options]\n"
		"  -c, --config FILE   site configuration (default %s)\n"
		"  -s, --socket PATH   control socket (default %s)\n"
		"  -p, --pidfile FILE  write the pid here once ready\n"
		"  -n, --check         check the configuration and exit\n"
		"  -d, --debug         log to stderr instead of syslog\n"
		"  -v, --verbose       log debug messages\n"
		"      --sys BACKEND   kernel backend: linux (default)%s\n"
		"  -V, --version       print the version and exit\n"
		"  -h, --help          this text\n",
		CONFIG_SITE_CONFIG_PATH, CONFIG_CTL_SOCKET_PATH,
#ifdef CONFIG_SYS_DUMMY
		", dummy"
#else
		""
#endif
		);
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* Uptime from the boot clock: wall time may jump when NTP first answers
 * on a board without a real-time clock. */
static int64_t boot_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void apply_log_level(const struct kyotend *d, const struct kt_config *cfg)
{
	int level = LOG_INFO;

#ifdef CONFIG_LOG_DEFAULT_DEBUG
	level = LOG_DEBUG;
#endif
	if (cfg->log_level >= 0)
		level = cfg->log_level;
	if (d->verbose)
		level = LOG_DEBUG;
	kt_log_set_level(level);
	kt_log_set_site(cfg->site_id, cfg->device_number);
}

static int apply_modules(struct kyotend *d, const struct kt_config *cfg)
{
	int err = 0;

	for (size_t i = 0; i < kt_n_modules && !err; i++)
		if (kt_modules[i]->apply)
			err = kt_modules[i]->apply(d, cfg);
	return err;
}

int kyotend_reload(struct kyotend *d)
{
	struct kt_config next;
	struct kt_config_error e;
	int err;

	err = kt_config_load(d->config_path, &kt_board_ports, &next, &e);
	if (err) {
		d->reload_failures++;
		kt_config_error_str(&e, d->last_error, sizeof(d->last_error));
		log_errx("CONFIG_BAD", "reload refused, still running generation "
			 "%u: %s", d->generation, d->last_error);
		return err;
	}
	d->generation++;
	if ((err = apply_modules(d, &next))) {
		/* Modules take what they can; the new file is what runs. */
		log_errx("CONFIG_APPLY", "generation %u applied with errors: %s",
			 d->generation, strerror(-err));
	}
	d->cfg = next;
	d->loaded = now_s();
	d->last_error[0] = '\0';
	apply_log_level(d, &d->cfg);
	log_notice("CONFIG_LOADED", "configuration generation %u loaded from %s",
		   d->generation, d->config_path);
	return 0;
}

json_t *kyotend_status(struct kyotend *d)
{
	char sha[65];
	json_t *procs, *mods, *root;

	hex(d->cfg.sha256, sizeof(d->cfg.sha256), sha);
	procs = json_pack("[{s:s, s:s, s:i, s:i}]", "name", "parent",
			  "state", "up", "pid", (int)getpid(), "uid", (int)geteuid());
	mods = json_object();
	for (size_t i = 0; i < kt_n_modules; i++) {
		if (!kt_modules[i]->status)
			continue;
		if (kt_modules[i] == &kt_engine_module)
			json_array_append_new(procs, kt_modules[i]->status(d));
		else
			json_object_set_new(mods, kt_modules[i]->name,
					    kt_modules[i]->status(d));
	}
	root = json_pack(
		"{s:{s:s, s:s, s:s, s:s},"
		" s:{s:s, s:s, s:s, s:s},"
		" s:I, s:I,"
		" s:{s:s, s:i, s:s, s:I, s:i, s:s?},"
		" s:o,"
		" s:{s:i, s:i, s:i}}",
		"kyoten", "version", KYOTEN_VERSION, "board", CONFIG_BOARD_NAME,
		"arch", CONFIG_ARCH, "wolfssl", LIBWOLFSSL_VERSION_STRING,
		"site", "id", d->cfg.site_id, "device-number", d->cfg.device_number,
		"role", kt_role_name(d->cfg.role), "location", d->cfg.location,
		"started", (json_int_t)d->started,
		"uptime", (json_int_t)(boot_s() - d->started_boot),
		"config", "file", d->config_path, "generation", (int)d->generation,
		"sha256", sha, "loaded", (json_int_t)d->loaded,
		"reload-failures", (int)d->reload_failures,
		"last-error", d->last_error[0] ? d->last_error : NULL,
		"processes", procs,
		"control", "denied", (int)d->ctl_denied,
		"refused-busy", (int)d->ctl_refused, "malformed", (int)d->ctl_bad);
	if (root) {
		/* Modules' sections at the top level: "ports": [...]. */
		json_object_update(root, mods);
		json_object_set_new(root, "log-level", json_string(
			kt_log_severity_name(kt_log_level())));
	}
	json_decref(mods);
	return root;
}

static void on_reboot(struct kt_timer *t)
{
	struct kyotend *d = container_of(t, struct kyotend, reboot);

	kt_loop_stop(&d->loop);
}

void kyotend_reboot(struct kyotend *d, const char *by)
{
	if (d->rebooting)
		return;
	log_warnx("REBOOT", "reboot asked for by %s: %s in %d ms", by,
#ifdef CONFIG_BOARD_REBOOT_RESTARTS_DAEMON
		  "kyotend restarts (sim board)",
#else
		  "the box restarts",
#endif
		  KYOTEND_REBOOT_DELAY_MS);
	d->rebooting = true;
	d->reboot.cb = on_reboot;
	kt_timer_set(&d->loop, &d->reboot, KYOTEND_REBOOT_DELAY_MS);
}

static void on_signal(struct kt_loop *l, int signo)
{
	struct kyotend *d = container_of(l, struct kyotend, loop);

	switch (signo) {
	case SIGHUP:
		kyotend_reload(d);
		break;
	case SIGCHLD:
		kyotend_reap(d);
		break;
	default:
		log_notice("STOP", "signal %d: shutting down", signo);
		/* A stop asked for while a reboot waits is a stop: the box
		 * (or, on the sim board, the lab) is going down anyway. */
		if (d->rebooting) {
			kt_timer_cancel(l, &d->reboot);
			d->rebooting = false;
		}
		kt_loop_stop(l);
	}
}

static int write_pidfile(const char *path)
{
	char buf[32];
	int fd, n, err = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n)
		err = -EIO;
	close(fd);
	return err;
}

/* Directories for the control socket and the engine's empty chroot. */
static void make_dirs(const char *ctl_path)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", ctl_path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}
	if (geteuid() == 0) {
		snprintf(dir, sizeof(dir), "%s", CONFIG_PRIVSEP_CHROOT);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			mkdir(dir, 0755);
		}
		mkdir(CONFIG_PRIVSEP_CHROOT, 0755);
	}
}

static int run(struct kyotend *d)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD, 0 };
	struct kt_config_error e;
	char msg[600];
	size_t started = 0;
	int err;

	if ((err = kt_config_load(d->config_path, &kt_board_ports, &d->cfg, &e))) {
		fprintf(stderr, "kyotend: %s\n", kt_config_error_str(&e, msg, sizeof(msg)));
		return 1;
	}
	apply_log_level(d, &d->cfg);
	d->generation = 1;
	d->loaded = d->started = now_s();
	d->started_boot = boot_s();
	d->exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (d->exe_fd < 0) {
		fprintf(stderr, "kyotend: cannot open its own binary: %s\n",
			strerror(errno));
		return 1;
	}
	make_dirs(d->ctl_path);
	if ((err = kt_loop_init(&d->loop)))
		goto err_out;
	if ((err = kt_loop_signals(&d->loop, sigs, on_signal)))
		goto err_loop;
	/* Claim the control socket first: a second daemon started by
	 * mistake must stop before it writes anything to the kernel. */
	if ((err = ctl_init(d))) {
		log_crit("CTL_INIT", "control socket %s: %s", d->ctl_path,
			 err == -EADDRINUSE ? "another kyotend is answering on it"
			 : err == -EEXIST ? "the path exists and is not a socket"
			 : strerror(-err));
		goto err_loop;
	}
	if ((err = sys_init(&d->sys, d->sys_backend))) {
		log_crit("SYS_INIT", "kernel backend '%s': %s", d->sys_backend,
			 err == -ENOENT ? "not built in" : strerror(-err));
		goto err_ctl;
	}
	for (; started < kt_n_modules; started++) {
		if ((err = kt_modules[started]->init(d))) {
			log_crit("MODULE_INIT", "module %s failed to start: %s",
				 kt_modules[started]->name, strerror(-err));
			goto err_modules;
		}
	}
	apply_modules(d, &d->cfg);
	if (d->pid_path && (err = write_pidfile(d->pid_path))) {
		log_crit("PIDFILE", "cannot write %s: %s", d->pid_path, strerror(-err));
		goto err_modules;
	}
	log_notice("START", "kyotend %s on board %s: site %s (%s), %s role, "
		   "backend %s", KYOTEN_VERSION, CONFIG_BOARD_NAME, d->cfg.site_id,
		   d->cfg.device_number, kt_role_name(d->cfg.role), d->sys_backend);
	err = kt_loop_run(&d->loop);
	if (d->pid_path)
		unlink(d->pid_path);
err_modules:
	while (started-- > 0)
		kt_modules[started]->uninit(d);
	sys_uninit(&d->sys);
err_ctl:
	ctl_uninit(d);
err_loop:
	kt_loop_uninit(&d->loop);
err_out:
	close(d->exe_fd);
	if (err)
		fprintf(stderr, "kyotend: stopped: %s\n", strerror(-err));
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "check", no_argument, NULL, 'n' },
		{ "debug", no_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "sys", required_argument, NULL, 'S' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "engine", no_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};
	static struct kyotend d;
	bool check = false, debug = false;
	int c, r;

	d.config_path = CONFIG_SITE_CONFIG_PATH;
	d.ctl_path = CONFIG_CTL_SOCKET_PATH;
	d.sys_backend = "linux";
	while ((c = getopt_long(argc, argv, "c:s:p:ndvVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': d.config_path = optarg; break;
		case 's': d.ctl_path = optarg; break;
		case 'p': d.pid_path = optarg; break;
		case 'n': check = true; break;
		case 'd': debug = true; break;
		case 'v': d.verbose = true; break;
		case 'S': d.sys_backend = optarg; break;
		case 'E': return engine_main();
		case 'V': printf("kyotend %s (board %s, %s, wolfSSL %s)\n",
				 KYOTEN_VERSION, CONFIG_BOARD_NAME, CONFIG_ARCH,
				 LIBWOLFSSL_VERSION_STRING);
			  return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "kyotend: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (check) {
		struct kt_config cfg;
		struct kt_config_error e;
		char msg[600];

		if (kt_config_load(d.config_path, &kt_board_ports, &cfg, &e)) {
			fprintf(stderr, "kyotend: %s\n",
				kt_config_error_str(&e, msg, sizeof(msg)));
			return 1;
		}
		printf("%s: valid (site %s, %s role, %zu lines, %zu hubs, "
		       "%zu segments, %zu tunnel paths)\n", d.config_path,
		       cfg.site_id, kt_role_name(cfg.role), cfg.n_lines, cfg.n_hubs,
		       cfg.n_segments, kt_config_paths(&cfg));
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	if (kt_log_init("parent", debug ? KT_LOG_TO_STDERR : KT_LOG_TO_SYSLOG,
			CONFIG_LOG_RING_ENTRIES)) {
		fprintf(stderr, "kyotend: out of memory\n");
		return 1;
	}
	r = run(&d);
	kt_log_uninit();
	if (!r && d.rebooting) {
		/* Everything is closed, the routes and the ruleset stay as a
		 * power cut would leave them, and the box starts again. */
#ifdef CONFIG_BOARD_REBOOT_RESTARTS_DAEMON
		sigset_t none;

		/* The loop blocked its signals; the new image must start
		 * with them open, as a fresh process does. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		fprintf(stderr, "kyotend: restarting (reboot on the %s board)\n",
			CONFIG_BOARD_NAME);
		execv("/proc/self/exe", argv);
		fprintf(stderr, "kyotend: cannot restart: %s\n", strerror(errno));
#else
		sync();
		reboot(RB_AUTOBOOT);
		fprintf(stderr, "kyotend: reboot failed: %s\n", strerror(errno));
#endif
		return 1;
	}
	return r;
}
