/* kyoten-image: makes, signs and checks firmware images (firmware/image.h).
 *
 *   kyoten-image keygen DIR
 *   kyoten-image build -k KEY -b BOARD -v VERSION [-i BUILD-ID] -o OUT
 *                      NAME=SOURCE:PATH:MODE...
 *   kyoten-image verify -p PUB [-b BOARD] IMAGE
 *
 * The signing key is made once, kept off the boxes and out of the
 * repository (keygen refuses to write into a git work tree). */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "image.h"
#include "keys.h"
#include "suite.h"

static void usage(FILE *f)
{
	fputs("usage: kyoten-image keygen DIR\n"
	      "       kyoten-image build -k KEY -b BOARD -v VERSION [-i BUILD-ID] -o OUT\n"
	      "                          NAME=SOURCE:PATH:MODE...\n"
	      "       kyoten-image verify -p PUB [-b BOARD] IMAGE\n"
	      "\n"
	      "keygen   a new Ed25519 signing key: DIR/image.key (mode 0600, keep it\n"
	      "         off the boxes and out of any repository) and DIR/image.pub\n"
	      "build    an image of the parts, signed with KEY; MODE is 0644 or 0755,\n"
	      "         PATH where the part goes in the slot (e.g. bin/kyotend)\n"
	      "verify   the signature by PUB, the manifest, every part's hash\n", f);
}

#define die kt_die

static int read_pub(const char *path, uint8_t pub[KT_IMAGE_KEY])
{
	char err[512];

	return kt_image_read_pub(path, pub, err, sizeof(err)) ? die("%s", err) : 0;
}

static int keygen(const char *dir)
{
	char err[512], id[17];

	if (kt_image_keygen(dir, "image", id, err, sizeof(err)))
		return die("%s", err);
	printf("signing key %s/image.key, public key %s/image.pub (key id %s)\n",
	       dir, dir, id);
	return 0;
}

static int build(int argc, char **argv)
{
	static struct kt_image im;
	const char *key = NULL, *out = NULL, *sources[KT_IMAGE_MAX_PARTS];
	char err[512], tmp[4096];
	uint8_t seed[KT_IMAGE_KEY];
	int c, fd, ret;

	memset(&im, 0, sizeof(im));
	optind = 1;
	while ((c = getopt(argc, argv, "k:b:v:i:o:")) != -1) {
		const char *v = optarg;

		switch (c) {
		case 'k':
			key = v;
			break;
		case 'o':
			out = v;
			break;
		case 'b':
		case 'v':
		case 'i': {
			char *dst = c == 'b' ? im.board : c == 'v' ? im.version : im.build_id;
			size_t cap = c == 'b' ? sizeof(im.board) : c == 'v' ?
				     sizeof(im.version) : sizeof(im.build_id);

			if (strlen(v) >= cap || !*v)
				return die("-%c: '%s' is empty or too long", c, v);
			snprintf(dst, cap, "%s", v);
			break;
		}
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!key || !out || !im.board[0] || !im.version[0] || optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!im.build_id[0])
		snprintf(im.build_id, sizeof(im.build_id), "unknown");
	for (int i = optind; i < argc; i++) {
		struct kt_image_part *p = &im.parts[im.n_parts];
		char *spec = argv[i], *eq = strchr(spec, '='), *c1, *c2;

		if (im.n_parts == KT_IMAGE_MAX_PARTS)
			return die("at most %d parts", KT_IMAGE_MAX_PARTS);
		c2 = strrchr(spec, ':');
		if (!eq || !c2 || c2 < eq)
			return die("part '%s': not NAME=SOURCE:PATH:MODE", spec);
		*c2 = '\0';
		c1 = strrchr(spec, ':');
		if (!c1 || c1 < eq || (size_t)(eq - spec) >= sizeof(p->name) || eq == spec)
			return die("part '%s': not NAME=SOURCE:PATH:MODE", spec);
		*eq = *c1 = '\0';
		snprintf(p->name, sizeof(p->name), "%s", spec);
		if (strlen(c1 + 1) >= sizeof(p->path) || !kt_image_path_ok(c1 + 1))
			return die("part %s: path '%s' must be relative, without '..'",
				   spec, c1 + 1);
		snprintf(p->path, sizeof(p->path), "%s", c1 + 1);
		if (!strcmp(c2 + 1, "0644"))
			p->mode = 0644;
		else if (!strcmp(c2 + 1, "0755"))
			p->mode = 0755;
		else
			return die("part %s: mode must be 0644 or 0755, not '%s'", spec, c2 + 1);
		sources[im.n_parts++] = eq + 1;
	}
	if (kt_key_read(key, seed, err, sizeof(err)))
		return die("%s", err);
	/* Written beside OUT and renamed: a half-written image is never
	 * left under the name people flash. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		kt_wipe(seed, sizeof(seed));
		return die("%s: %s", tmp, strerror(errno));
	}
	ret = kt_image_write(fd, &im, sources, seed, err, sizeof(err));
	kt_wipe(seed, sizeof(seed));
	if (!ret && (fsync(fd) || close(fd)))
		ret = -errno;
	else if (ret)
		close(fd);
	if (ret || rename(tmp, out)) {
		unlink(tmp);
		return die("%s: %s", out, ret ? err : strerror(errno));
	}
	printf("%s: board %s, version %s, %zu parts, key %s\n", out, im.board,
	       im.version, im.n_parts, im.key_id);
	return 0;
}

static int verify(int argc, char **argv)
{
	struct kt_image im;
	const char *pubfile = NULL, *board = NULL;
	uint8_t pub[KT_IMAGE_KEY];
	char err[512];
	int c, fd, ret;

	optind = 1;
	while ((c = getopt(argc, argv, "p:b:")) != -1) {
		if (c == 'p')
			pubfile = optarg;
		else if (c == 'b')
			board = optarg;
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!pubfile || optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	if (read_pub(pubfile, pub))
		return 1;
	fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return die("%s: %s", argv[optind], strerror(errno));
	ret = kt_image_read_head(fd, pub, &im, err, sizeof(err));
	if (!ret && board && strcmp(board, im.board)) {
		snprintf(err, sizeof(err), "the image is for board %s, not %s", im.board, board);
		ret = -EINVAL;
	}
	if (!ret)
		ret = kt_image_check_parts(fd, &im, err, sizeof(err));
	close(fd);
	if (ret) {
		kt_image_free(&im);
		return die("%s: refused: %s", argv[optind], err);
	}
	printf("%s: good: board %s, version %s, build %s, created %s, key %s\n",
	       argv[optind], im.board, im.version, im.build_id, im.created, im.key_id);
	for (size_t i = 0; i < im.n_parts; i++)
		printf("  %-18s %-36s %04o %10llu\n", im.parts[i].name, im.parts[i].path,
		       im.parts[i].mode, (unsigned long long)im.parts[i].size);
	kt_image_free(&im);
	return 0;
}

int main(int argc, char **argv)
{
	kt_prog = "kyoten-image";
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "keygen")) {
		if (argc != 3) {
			usage(stderr);
			return 2;
		}
		return keygen(argv[2]);
	}
	if (!strcmp(argv[1], "build"))
		return build(argc - 1, argv + 1);
	if (!strcmp(argv[1], "verify"))
		return verify(argc - 1, argv + 1);
	fprintf(stderr, "kyoten-image: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
