#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/coding.h>

int kt_key_encode(const uint8_t *key, size_t len, char out[KT_KEY_B64_MAX])
{
	word32 n = KT_KEY_B64_MAX - 1;

	if (Base64_Encode_NoNl(key, (word32)len, (byte *)out, &n))
		return -EINVAL;
	out[n] = '\0';
	return 0;
}

int kt_key_decode(const char *text, uint8_t *key, size_t len)
{
	/* wolfSSL wants room for the length before padding is removed. */
	uint8_t tmp[KT_KEY_B64_MAX];
	word32 n = sizeof(tmp);
	size_t tl = strlen(text);
	int err = -EINVAL;

	if (tl < KT_KEY_B64_MAX &&
	    !Base64_Decode((const byte *)text, (word32)tl, tmp, &n) && n == len) {
		memcpy(key, tmp, len);
		err = 0;
	}
	kt_wipe(tmp, sizeof(tmp));
	return err;
}

int kt_key_read(const char *path, uint8_t key[KT_SUITE_KEY_LEN], char *err,
		size_t errlen)
{
	char text[KT_KEY_B64_MAX + 2];
	struct stat st;
	ssize_t n;
	int fd, r = 0;

	/* O_NONBLOCK: a FIFO at the path must not hang the daemon. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st)) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen, "%s: owned by uid %u; a private key file must "
			 "belong to root or to this user", path, (unsigned)st.st_uid);
		close(fd);
		return -EPERM;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "%s: mode %03o lets others read it; a private "
			 "key file must be 0600 (chmod 600 %s)", path,
			 (unsigned)(st.st_mode & 0777), path);
		close(fd);
		return -EPERM;
	}
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: read failed: %s", path, strerror(-r));
		return r;
	}
	text[n] = '\0';
	text[strcspn(text, "\r\n")] = '\0';
	if (kt_key_decode(text, key, KT_SUITE_KEY_LEN)) {
		snprintf(err, errlen, "%s: does not hold a base64 32-byte key", path);
		r = -EINVAL;
	}
	kt_wipe(text, sizeof(text));
	return r;
}

int kt_key_write(const char *path, const uint8_t key[KT_SUITE_KEY_LEN])
{
	char text[KT_KEY_B64_MAX + 1];
	size_t len;
	int fd, r = 0;

	if (kt_key_encode(key, KT_SUITE_KEY_LEN, text))
		return -EINVAL;
	len = strlen(text);
	text[len++] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
	} else {
		/* fchmod: the umask must not leave it wider, nor narrower
		 * than the owner's read and write. */
		errno = 0;
		if (fchmod(fd, 0600) || write(fd, text, len) != (ssize_t)len ||
		    fsync(fd))
			r = errno ? -errno : -EIO;	/* a short write sets none */
		close(fd);
		if (r)
			unlink(path);
	}
	kt_wipe(text, sizeof(text));
	return r;
}
