/* kyoten-update: the box's side of firmware updates (firmware/update.h).
 *
 *   kyoten-update [-r ROOT] [-k PUBKEY] install IMAGE [--allow-downgrade]
 *   kyoten-update [-r ROOT] [-k PUBKEY] factory IMAGE
 *   kyoten-update [-r ROOT] [-k PUBKEY] boot
 *   kyoten-update [-r ROOT] [-k PUBKEY] confirm [--health CMD] [--timeout S]
 *   kyoten-update [-r ROOT] [-k PUBKEY] status [--json]
 *
 * Exit status: 0 done, 1 refused or failed (the message says why), 2 bad
 * command line, 3 the health check did not pass (nothing confirmed). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "generated/autoconf.h"
#include "update.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kyoten-update [-r ROOT] [-k PUBKEY] COMMAND\n"
		"\n"
		"  install IMAGE [--allow-downgrade]  check IMAGE completely, then write it\n"
		"                                     into the inactive slot; the next boot\n"
		"                                     tries it (%d times at most)\n"
		"  factory IMAGE                      a new box: IMAGE becomes its good slot\n"
		"  boot                               the boot loader's choice: prints the\n"
		"                                     slot's directory (sim board)\n"
		"  confirm [--health CMD] [--timeout S]\n"
		"                                     keep the running new slot, once CMD\n"
		"                                     succeeds within S seconds (default 120)\n"
		"  status [--json]                    slots, versions and the boot state\n"
		"\n"
		"  -r ROOT     slots and boot state (default %s)\n"
		"  -k PUBKEY   the key images must be signed with (default %s)\n",
		CONFIG_UPDATE_BOOT_TRIES, CONFIG_UPDATE_ROOT, CONFIG_UPDATE_PUBKEY);
}

static int read_pub(const char *path, uint8_t pub[KT_IMAGE_KEY])
{
	char err[512];

	if (!kt_image_read_pub(path, pub, err, sizeof(err)))
		return 0;
	fprintf(stderr, "kyoten-update: %s\n", err);
	return -1;
}

/* --timeout's value: 1 to 3600 seconds; 0 if it is not. */
static unsigned parse_timeout(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*end || !*s || *s == '-' || v < 1 || v > 3600) {
		fprintf(stderr, "kyoten-update: --timeout takes 1 to 3600 seconds, "
			"not '%s'\n", s);
		return 0;
	}
	return (unsigned)v;
}

/* Runs CMD through /bin/sh until it succeeds or `secs` pass. */
static bool healthy(const char *cmd, unsigned secs)
{
	time_t end = time(NULL) + (time_t)secs;

	for (;;) {
		int st = system(cmd);

		if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			return true;
		if (time(NULL) >= end)
			return false;
		sleep(1);
	}
}

static void slot_json(const struct kt_update *u, int s, json_t *out)
{
	struct kt_image im;
	char err[256];

	if (kt_update_slot_check(u, s, &im, err, sizeof(err)))
		json_object_set_new(out, kt_update_slot_name(s),
				    json_pack("{s:b, s:s}", "ok", 0, "problem", err));
	else {
		json_object_set_new(out, kt_update_slot_name(s),
				    json_pack("{s:b, s:s, s:s, s:s, s:i}", "ok", 1,
					      "version", im.version, "build-id",
					      im.build_id, "created", im.created,
					      "parts", (int)im.n_parts));
		kt_image_free(&im);
	}
}

static int status(const struct kt_update *u, bool as_json)
{
	struct kt_bootstate st;
	json_t *slots = json_object(), *o;
	int ret = kt_update_state_read(u, &st);

	if (ret) {
		fprintf(stderr, "kyoten-update: reading the boot state in %s: %s\n",
			u->root, strerror(-ret));
		json_decref(slots);
		return 1;
	}
	for (int s = 0; s < 2; s++)
		slot_json(u, s, slots);
	o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:o}",
		      "root", u->root, "good", kt_update_slot_name(st.good),
		      "pending", kt_update_slot_name(st.pending),
		      "booted", kt_update_slot_name(st.booted),
		      "tries-left", (int)st.tries_left,
		      "rolled-back", kt_update_slot_name(st.rolled_back),
		      "board", u->board, "sequence", (json_int_t)st.seq, "slots", slots);
	if (as_json) {
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);

		puts(s ? s : "{}");
		free(s);
	} else {
		printf("board %s, slots in %s\n", u->board, u->root);
		printf("good: %s   pending: %s (%u tries left)   booted: %s   rolled back: %s\n",
		       kt_update_slot_name(st.good), kt_update_slot_name(st.pending),
		       st.tries_left, kt_update_slot_name(st.booted),
		       kt_update_slot_name(st.rolled_back));
		for (int s = 0; s < 2; s++) {
			json_t *j = json_object_get(slots, kt_update_slot_name(s));

			if (json_is_true(json_object_get(j, "ok")))
				printf("slot %s: %s (build %s, %s)\n", kt_update_slot_name(s),
				       json_string_value(json_object_get(j, "version")),
				       json_string_value(json_object_get(j, "build-id")),
				       json_string_value(json_object_get(j, "created")));
			else
				printf("slot %s: not bootable: %s\n", kt_update_slot_name(s),
				       json_string_value(json_object_get(j, "problem")));
		}
	}
	json_decref(o);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "allow-downgrade", no_argument, NULL, 'D' },
		{ "health", required_argument, NULL, 'H' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kt_update u = { .tries = CONFIG_UPDATE_BOOT_TRIES };
	const char *root = CONFIG_UPDATE_ROOT, *pubfile = CONFIG_UPDATE_PUBKEY;
	const char *health = NULL, *cmd;
	bool downgrade = false, as_json = false;
	unsigned timeout = 120;
	char msg[512];
	int c, slot, ret;

	while ((c = getopt_long(argc, argv, "+r:k:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			root = optarg;
			break;
		case 'k':
			pubfile = optarg;
			break;
		case 'D':
			downgrade = true;
			break;
		case 'H':
			health = optarg;
			break;
		case 'T':
			if (!(timeout = parse_timeout(optarg)))
				return 2;
			break;
		case 'j':
			as_json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	/* Options may follow the command too. */
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	/* The command's own options, before or after its file: parsed again
	 * from the command on (GNU getopt permutes; optind 0 restarts it). */
	argv[optind - 1] = argv[0];
	argv += optind - 1;
	argc -= optind - 1;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'D')
			downgrade = true;
		else if (c == 'H')
			health = optarg;
		else if (c == 'j')
			as_json = true;
		else if (c == 'T') {
			if (!(timeout = parse_timeout(optarg)))
				return 2;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (strlen(root) >= sizeof(u.root)) {
		fprintf(stderr, "kyoten-update: -r: path too long\n");
		return 2;
	}
	snprintf(u.root, sizeof(u.root), "%s", root);
	snprintf(u.board, sizeof(u.board), "%s", CONFIG_BOARD_NAME);
	if (read_pub(pubfile, u.pub))
		return 1;

	if (!strcmp(cmd, "install") || !strcmp(cmd, "factory")) {
		bool factory = cmd[0] == 'f';

		if (optind + 1 != argc) {
			fprintf(stderr, "kyoten-update: %s takes one image file\n", cmd);
			return 2;
		}
		ret = kt_update_install(&u, argv[optind], downgrade, factory, &slot,
					msg, sizeof(msg));
		if (ret) {
			fprintf(stderr, "kyoten-update: %s: refused: %s\n", argv[optind], msg);
			return 1;
		}
		printf(factory ? "installed into slot %s: the good slot\n"
		       : "installed into slot %s: the next boot tries it\n",
		       kt_update_slot_name(slot));
		return 0;
	}
	if (optind != argc) {
		fprintf(stderr, "kyoten-update: '%s' takes no argument '%s'\n", cmd, argv[optind]);
		return 2;
	}
	if (!strcmp(cmd, "boot")) {
		ret = kt_update_boot(&u, &slot, msg, sizeof(msg));
		if (ret) {
			fprintf(stderr, "kyoten-update: boot: %s\n", msg);
			return 1;
		}
		fprintf(stderr, "kyoten-update: boot %s\n", msg);
		printf("%s/slot-%s\n", u.root, kt_update_slot_name(slot));
		return 0;
	}
	if (!strcmp(cmd, "confirm")) {
		if (health && !healthy(health, timeout)) {
			fprintf(stderr, "kyoten-update: the health check '%s' did not pass "
				"within %u s: not confirmed (the next boots roll back)\n",
				health, timeout);
			return 3;
		}
		ret = kt_update_confirm(&u, msg, sizeof(msg));
		fprintf(ret ? stderr : stdout, "%s%s\n", ret ? "kyoten-update: " : "", msg);
		return ret ? 1 : 0;
	}
	if (!strcmp(cmd, "status"))
		return status(&u, as_json);
	fprintf(stderr, "kyoten-update: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
