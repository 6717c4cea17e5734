/* Whole reads and writes (fileio.h). */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int kt_write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int kt_read_all(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (!r)
			return -ENODATA;
		got += (size_t)r;
	}
	return 0;
}

const char *kt_prog = "kyoten";

int kt_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", kt_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int kt_errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

void kt_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int kt_read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = fstat(fd, &st) ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
	if (r) {
		close(fd);
		return r;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	/* One spare byte: callers may end text with a NUL. */
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return -ENOMEM;
	}
	r = kt_read_all(fd, buf, (size_t)st.st_size);
	close(fd);
	if (r) {
		free(buf);
		return r;
	}
	buf[st.st_size] = 0;
	*out = buf;
	*len = (size_t)st.st_size;
	return 0;
}

int kt_write_file_new(const char *path, const void *buf, size_t n, unsigned mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode), r;

	if (fd < 0)
		return -errno;
	/* The mode as asked, whatever the umask. */
	r = fchmod(fd, mode) ? -errno : kt_write_all(fd, buf, n);
	if (!r && fsync(fd))
		r = -errno;
	if (close(fd) && !r)
		r = -errno;
	if (r)
		unlink(path);
	return r;
}

int kt_write_file_replace(const char *path, const void *buf, size_t n, unsigned mode)
{
	char tmp[4200], dir[4200], *slash;
	int r, dfd;

	if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);
	if ((r = kt_write_file_new(tmp, buf, n, mode)))
		return r;
	if (rename(tmp, path)) {
		r = -errno;
		unlink(tmp);
		return r;
	}
	/* The rename itself must outlive a power cut. */
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	if ((dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

void kt_utc_time(time_t t, char *out, size_t cap)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (!strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) && cap)
		out[0] = '\0';
}
