/* kymqtt: firmware/mqttc.c (netstack/mqtt.c over wolfSSL TLS 1.3) as a
 * command, for the tests against Mosquitto (tests/integration/mqtt.t).
 *
 *   kymqtt -H HOST -p PORT -C CA -c CERT -k KEY -i CLIENT-ID
 *          [-W TOPIC=MESSAGE] [-K KEEPALIVE] [-t TIMEOUT-MS] COMMAND
 *   pub TOPIC MESSAGE [-q QOS] [-r]   publish (QoS 1 waits for PUBACK);
 *                                     MESSAGE "@FILE": the file's bytes
 *   sub FILTER [-q QOS] [-n N] [-x] [-o FILE]
 *                                     print "granted G", then N messages as
 *                                     "TOPIC MESSAGE" (-x: then drop the
 *                                     connection without DISCONNECT; -o: the
 *                                     first one's bytes into FILE)
 *   hold SECONDS                      stay connected, then drop abruptly
 *   idle SECONDS                      wait for messages that do not come,
 *                                     half a second at a time, keeping the
 *                                     connection alive; then disconnect
 * Exit: 0 done, 1 refused or failed (the reason on stderr), 2 usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

#include "fileio.h"
#include "mqttc.h"

static int usage(void)
{
	fputs("usage: kymqtt -H HOST -p PORT -C CA -c CERT -k KEY -i ID [-W T=M] "
	      "[-K S] [-t MS] pub TOPIC MSG [-q Q] [-r] | sub FILTER [-q Q] [-n N] [-x] "
	      "| hold S | idle S\n", stderr);
	return 2;
}

int main(int argc, char **argv)
{
	struct kt_mqttc_opts o = { .port = 8883, .clean_session = true,
				   .keepalive_s = 30, .timeout_ms = 5000 };
	struct kt_mqtt_will will = { .qos = 1, .retain = true };
	int c, qos = 0, n = 1, r;
	bool retain = false, drop = false;
	const char *save_to = NULL;
	struct kt_mqttc *m;
	char err[512], *eq;
	const char *cmd;

	while ((c = getopt(argc, argv, "+H:p:C:c:k:i:W:K:t:")) != -1) {
		switch (c) {
		case 'H': o.host = optarg; break;
		case 'p': o.port = (uint16_t)atoi(optarg); break;
		case 'C': o.ca = optarg; break;
		case 'c': o.cert = optarg; break;
		case 'k': o.key = optarg; break;
		case 'i': o.client_id = optarg; break;
		case 'K': o.keepalive_s = (uint16_t)atoi(optarg); break;
		case 't': o.timeout_ms = (unsigned)atoi(optarg); break;
		case 'W':
			if (!(eq = strchr(optarg, '=')))
				return usage();
			*eq = '\0';
			will.topic = optarg;
			will.msg = eq + 1;
			will.len = strlen(eq + 1);
			o.will = &will;
			break;
		default: return usage();
		}
	}
	if (!o.host || !o.ca || !o.cert || !o.key || !o.client_id || optind >= argc)
		return usage();
	cmd = argv[optind];
	if (!strcmp(cmd, "pub") && argc - optind < 3)
		return usage();
	if (strcmp(cmd, "pub") && argc - optind < 2)
		return usage();
	{
		int first = optind + (!strcmp(cmd, "pub") ? 3 : 2);

		optind = first;
		while ((c = getopt(argc, argv, "q:rn:xo:")) != -1) {
			switch (c) {
			case 'o': save_to = optarg; break;
			case 'q': qos = atoi(optarg); break;
			case 'r': retain = true; break;
			case 'n': n = atoi(optarg); break;
			case 'x': drop = true; break;
			default: return usage();
			}
		}
		optind = first;
	}
	if ((r = kt_mqttc_open(&m, &o, err, sizeof(err)))) {
		fprintf(stderr, "kymqtt: %s\n", err);
		return 1;
	}
	if (!strcmp(cmd, "pub")) {
		const char *msg = argv[optind - 1];
		uint8_t *file = NULL;
		size_t flen = strlen(msg);

		if (msg[0] == '@' && kt_read_file(msg + 1, 4u << 20, &file, &flen)) {
			fprintf(stderr, "kymqtt: cannot read %s\n", msg + 1);
			kt_mqttc_close(m, true);
			return 1;
		}
		r = kt_mqttc_publish(m, argv[optind - 2], file ? (const char *)file : msg, flen,
				     qos, retain, err, sizeof(err));
		free(file);
	} else if (!strcmp(cmd, "sub")) {
		uint8_t granted;

		r = kt_mqttc_subscribe(m, argv[optind - 1], qos, &granted, err, sizeof(err));
		if (!r) {
			printf("granted %u\n", granted);
			fflush(stdout);
		}
		for (int i = 0; !r && i < n; i++) {
			struct kt_mqttc_msg msg;

			r = kt_mqttc_next(m, &msg, o.timeout_ms, err, sizeof(err));
			if (!r) {
				printf("%s %.*s%s\n", msg.topic, (int)msg.len, msg.payload,
				       msg.retain ? " (retained)" : "");
				fflush(stdout);
				if (save_to && !i && kt_write_file_new(save_to, msg.payload,
								       msg.len, 0600))
					fprintf(stderr, "kymqtt: cannot write %s\n", save_to);
			}
		}
	} else if (!strcmp(cmd, "idle")) {
		struct kt_mqttc_msg msg;
		time_t end = time(NULL) + atoi(argv[optind - 1]);

		/* Short waits, as the agent's loop makes them: the keep-alive
		 * must not depend on how long the caller waits. */
		while (!r && time(NULL) < end) {
			r = kt_mqttc_next(m, &msg, 500, err, sizeof(err));
			if (r == -ETIMEDOUT)
				r = 0;
		}
	} else if (!strcmp(cmd, "hold")) {
		sleep((unsigned)atoi(argv[optind - 1]));
		drop = true;
	} else {
		kt_mqttc_close(m, true);
		return usage();
	}
	if (r)
		fprintf(stderr, "kymqtt: %s\n", err);
	kt_mqttc_close(m, drop);
	return r ? 1 : 0;
}
