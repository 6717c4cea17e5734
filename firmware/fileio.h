/* Whole reads and writes on a descriptor, retried on EINTR and short
 * counts: what every file the firmware writes durably needs. */
#ifndef KT_FILEIO_H
#define KT_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* 0 or -errno. */
int kt_write_all(int fd, const void *buf, size_t n);
/* 0, -ENODATA if the file ends first, or -errno. */
int kt_read_all(int fd, void *buf, size_t n);
/* A whole regular file of at most max bytes into *out (malloc'd, with
 * a NUL after the last byte). 0, -EFBIG, -EINVAL (not a regular file)
 * or -errno. */
int kt_read_file(const char *path, size_t max, uint8_t **out, size_t *len);
/* Creates path (never over an existing file) with mode, writes and
 * syncs it; nothing is left behind on failure. 0 or -errno. */
int kt_write_file_new(const char *path, const void *buf, size_t n, unsigned mode);
/* Replaces path with buf as one step a power cut cannot split: written
 * and synced as PATH.new, renamed over path, the folder synced. 0 or
 * -errno (path as it was). */
int kt_write_file_replace(const char *path, const void *buf, size_t n, unsigned mode);
/* Writes a message into the caller's err buffer (if any) and returns
 * code: for functions that report why they refused something. */
int kt_errf(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The tools' fatal messages: "PROG: MESSAGE" on stderr, then 1 (their
 * exit status for refused or failed). kt_prog is set by each tool. */
extern const char *kt_prog;
int kt_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* t as RFC 3339 in UTC, "2026-12-02T07:40:00Z", into out (at least 21
 * bytes): how every record the firmware and its tools write says when. */
void kt_utc_time(time_t t, char *out, size_t cap);
/* Big-endian 32-bit fields of the firmware's own formats. */
static inline void kt_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t kt_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void kt_hex(const uint8_t *in, size_t n, char *out);

#endif
