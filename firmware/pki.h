/* The management channel's certificates (wolfSSL, ECDSA P-256 with
 * SHA-256): the NOC's certificate authority makes them, the box checks
 * the ones it is given. PEM in and out, the format Mosquitto and every
 * TLS tool reads. */
#ifndef KT_PKI_H
#define KT_PKI_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A P-256 private key as PEM ("EC PRIVATE KEY"); *pem malloc'd, the
 * caller wipes and frees it. 0 or -errno. */
int kt_pki_key_new(char **pem, size_t *len, char *err, size_t errlen);

struct kt_pki_name {
	const char *cn;			/* the site ID, or the CA's name */
	const char *org;		/* may be NULL */
	const char *serial;		/* the box's serial; may be NULL */
};

/* A certificate for key_pem, valid from now for `days`: self-signed as
 * a CA when ca_cert_pem is NULL, else issued by that CA with its key.
 * *pem malloc'd. 0 or -errno with err saying what failed. */
int kt_pki_cert_new(const char *key_pem, size_t key_len,
		    const struct kt_pki_name *subject, int days,
		    const char *ca_cert_pem, size_t ca_cert_len,
		    const char *ca_key_pem, size_t ca_key_len,
		    char **pem, size_t *len, char *err, size_t errlen);

struct kt_pki_info {
	char cn[65];
	char serial_hex[41];		/* the certificate's serial number */
	time_t not_before, not_after;
};

/* Reads a certificate's subject CN, serial and dates (no checks). */
int kt_pki_cert_info(const char *cert_pem, size_t len, struct kt_pki_info *out,
		     char *err, size_t errlen);

/* What the box needs of its identity before it may use it: the
 * certificate is issued by the CA and valid now, the key is the
 * certificate's, the CN is expect_cn (NULL: any). 0, or -EKEYREJECTED /
 * -EBADMSG with err naming which of these failed. */
int kt_pki_check_identity(const char *ca_pem, size_t ca_len,
			  const char *cert_pem, size_t cert_len,
			  const char *key_pem, size_t key_len,
			  const char *expect_cn, char *err, size_t errlen);

/* A short secret (a bundle's passphrase) sealed for the holder of a
 * certificate's key: an ephemeral P-256 key agreed with the
 * certificate's (ECDH), HKDF-SHA256, AES-256-GCM. Written here because
 * this wolfSSL is built without its ECIES; the construction is the
 * standard one (SEC 1 5.1 with an AEAD). out holds KT_PKI_WRAP_OVERHEAD
 * + len bytes. */
#define KT_PKI_WRAP_OVERHEAD (65 + 12 + 16)
#define KT_PKI_WRAP_MAX 256		/* bytes of secret */
int kt_pki_wrap(const char *cert_pem, size_t cert_len, const uint8_t *msg,
		size_t len, uint8_t *out, char *err, size_t errlen);
/* The secret back with the key; -EKEYREJECTED if it was not sealed for
 * this key or was changed. *len gets its length. */
int kt_pki_unwrap(const char *key_pem, size_t key_len, const uint8_t *in,
		  size_t in_len, uint8_t *out, size_t *len, char *err, size_t errlen);

#endif
