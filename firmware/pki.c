/* Certificates for the management channel (pki.h), with wolfSSL. */
#include "pki.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/random.h>

#include "fileio.h"
#include "suite.h"

#define DER_MAX 4096
#define PEM_MAX 8192

static int to_pem(const uint8_t *der, int der_len, int type, char **pem,
		  size_t *len)
{
	char *out = malloc(PEM_MAX);
	int n;

	if (!out)
		return -ENOMEM;
	n = wc_DerToPem(der, (word32)der_len, (byte *)out, PEM_MAX - 1, type);
	if (n <= 0) {
		free(out);
		return -EIO;
	}
	out[n] = '\0';
	*pem = out;
	*len = (size_t)n;
	return 0;
}

int kt_pki_key_new(char **pem, size_t *len, char *err, size_t errlen)
{
	uint8_t der[DER_MAX];
	ecc_key key;
	WC_RNG rng;
	int n = -1, r;

	if (wc_InitRng(&rng))
		return kt_errf(err, errlen, -EIO, "no random numbers");
	if (!wc_ecc_init(&key)) {
		if (!wc_ecc_make_key_ex(&rng, 32, &key, ECC_SECP256R1))
			n = wc_EccKeyToDer(&key, der, sizeof(der));
		wc_ecc_free(&key);
	}
	wc_FreeRng(&rng);
	if (n <= 0)
		return kt_errf(err, errlen, -EIO, "cannot make a P-256 key (%d)", n);
	r = to_pem(der, n, ECC_PRIVATEKEY_TYPE, pem, len);
	kt_wipe(der, sizeof(der));
	return r ? kt_errf(err, errlen, r, "cannot write the key as PEM") : 0;
}

/* key from PEM into an initialised ecc_key. */
static int load_key(const char *pem, size_t len, ecc_key *key)
{
	uint8_t der[DER_MAX];
	word32 idx = 0;
	int n = wc_KeyPemToDer((const byte *)pem, (int)len, der, sizeof(der), NULL);
	int r = n > 0 ? wc_EccPrivateKeyDecode(der, &idx, key, (word32)n) : -1;

	kt_wipe(der, sizeof(der));
	return r ? -EBADMSG : 0;
}

static void set_name(CertName *n, const struct kt_pki_name *s)
{
	snprintf(n->commonName, sizeof(n->commonName), "%s", s->cn);
	n->commonNameEnc = CTC_UTF8;
	if (s->org) {
		snprintf(n->org, sizeof(n->org), "%s", s->org);
		n->orgEnc = CTC_UTF8;
	}
	if (s->serial) {
		snprintf(n->serialDev, sizeof(n->serialDev), "%s", s->serial);
		n->serialDevEnc = CTC_PRINTABLE;
	}
}

int kt_pki_cert_new(const char *key_pem, size_t key_len,
		    const struct kt_pki_name *subject, int days,
		    const char *ca_cert_pem, size_t ca_cert_len,
		    const char *ca_key_pem, size_t ca_key_len,
		    char **pem, size_t *len, char *err, size_t errlen)
{
	uint8_t der[DER_MAX], ca_der[DER_MAX];
	ecc_key key, ca_key;
	bool self = !ca_cert_pem;
	int n, ca_n = 0, r = -EIO;
	Cert cert;
	WC_RNG rng;

	if (strlen(subject->cn) >= CTC_NAME_SIZE ||
	    (subject->serial && strlen(subject->serial) >= CTC_NAME_SIZE))
		return kt_errf(err, errlen, -EINVAL, "a name is longer than %d bytes",
			       CTC_NAME_SIZE - 1);
	if (!self) {
		ca_n = wc_CertPemToDer((const byte *)ca_cert_pem, (int)ca_cert_len,
				       ca_der, sizeof(ca_der), CERT_TYPE);
		if (ca_n <= 0)
			return kt_errf(err, errlen, -EBADMSG, "the CA certificate is "
				       "not a PEM certificate");
	}
	if (wc_InitRng(&rng))
		return kt_errf(err, errlen, -EIO, "no random numbers");
	wc_ecc_init(&key);
	wc_ecc_init(&ca_key);
	if (load_key(key_pem, key_len, &key) ||
	    (!self && load_key(ca_key_pem, ca_key_len, &ca_key))) {
		r = kt_errf(err, errlen, -EBADMSG, "a key is not a PEM P-256 key");
		goto out;
	}
	wc_InitCert(&cert);
	cert.sigType = CTC_SHA256wECDSA;
	cert.daysValid = days;
	cert.isCA = self;
	set_name(&cert.subject, subject);
	if (self) {
		cert.selfSigned = 1;
		memcpy(&cert.issuer, &cert.subject, sizeof(cert.issuer));
	} else if (wc_SetIssuerBuffer(&cert, ca_der, ca_n)) {
		r = kt_errf(err, errlen, -EBADMSG, "cannot read the CA certificate's "
			    "subject");
		goto out;
	}
	n = wc_MakeCert(&cert, der, sizeof(der), NULL, &key, &rng);
	if (n > 0)
		n = wc_SignCert(cert.bodySz, cert.sigType, der, sizeof(der), NULL,
				self ? &key : &ca_key, &rng);
	if (n <= 0) {
		r = kt_errf(err, errlen, -EIO, "cannot make the certificate (%d)", n);
		goto out;
	}
	r = to_pem(der, n, CERT_TYPE, pem, len);
	if (r)
		kt_errf(err, errlen, r, "cannot write the certificate as PEM");
out:
	wc_ecc_free(&key);
	wc_ecc_free(&ca_key);
	wc_FreeRng(&rng);
	return r;
}

static time_t cert_time(const byte *raw, int raw_len)
{
	const byte *date;
	byte format;
	int len;
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!raw || wc_GetDateInfo(raw, raw_len, &date, &format, &len) ||
	    wc_GetDateAsCalendarTime(date, len, format, &tm))
		return 0;
	return timegm(&tm);
}

int kt_pki_cert_info(const char *cert_pem, size_t len, struct kt_pki_info *out,
		     char *err, size_t errlen)
{
	uint8_t der[DER_MAX];
	DecodedCert dc;
	int n, r;

	memset(out, 0, sizeof(*out));
	n = wc_CertPemToDer((const byte *)cert_pem, (int)len, der, sizeof(der), CERT_TYPE);
	if (n <= 0)
		return kt_errf(err, errlen, -EBADMSG, "not a PEM certificate");
	wc_InitDecodedCert(&dc, der, (word32)n, NULL);
	r = wc_ParseCert(&dc, CERT_TYPE, NO_VERIFY, NULL);
	if (!r) {
		int cn = dc.subjectCNLen < (int)sizeof(out->cn) ? dc.subjectCNLen : 0;

		if (dc.subjectCN)
			memcpy(out->cn, dc.subjectCN, (size_t)cn);
		for (int i = 0; i < dc.serialSz && i < 20; i++)
			snprintf(out->serial_hex + 2 * i, 3, "%02x", dc.serial[i]);
		out->not_before = cert_time(dc.beforeDate, dc.beforeDateLen);
		out->not_after = cert_time(dc.afterDate, dc.afterDateLen);
	}
	wc_FreeDecodedCert(&dc);
	return r ? kt_errf(err, errlen, -EBADMSG, "the certificate does not parse "
			   "(%d)", r) : 0;
}

int kt_pki_check_identity(const char *ca_pem, size_t ca_len,
			  const char *cert_pem, size_t cert_len,
			  const char *key_pem, size_t key_len,
			  const char *expect_cn, char *err, size_t errlen)
{
	WOLFSSL_CERT_MANAGER *cm;
	WOLFSSL_CTX *ctx;
	struct kt_pki_info info;
	int r;

	if ((r = kt_pki_cert_info(cert_pem, cert_len, &info, err, errlen)))
		return r;
	if (expect_cn && strcmp(info.cn, expect_cn))
		return kt_errf(err, errlen, -EKEYREJECTED, "the certificate is for "
			       "'%s', not '%s'", info.cn, expect_cn);
	wolfSSL_Init();
	if (!(cm = wolfSSL_CertManagerNew()))
		return kt_errf(err, errlen, -ENOMEM, "out of memory");
	r = wolfSSL_CertManagerLoadCABuffer(cm, (const unsigned char *)ca_pem,
					    (long)ca_len, WOLFSSL_FILETYPE_PEM);
	if (r != WOLFSSL_SUCCESS)
		r = kt_errf(err, errlen, -EBADMSG, "the CA certificate does not load "
			    "(%s)", wc_GetErrorString(r));
	else if ((r = wolfSSL_CertManagerVerifyBuffer(cm, (const unsigned char *)cert_pem,
						       (long)cert_len, WOLFSSL_FILETYPE_PEM))
		 != WOLFSSL_SUCCESS)
		r = kt_errf(err, errlen, -EKEYREJECTED, "the certificate is not one "
			    "the CA issued, or not valid now (%s)",
			    wc_GetErrorString(r));
	else
		r = 0;
	wolfSSL_CertManagerFree(cm);
	if (r)
		return r;
	if (!(ctx = wolfSSL_CTX_new(wolfTLS_client_method())))
		return kt_errf(err, errlen, -ENOMEM, "out of memory");
	if (wolfSSL_CTX_use_certificate_buffer(ctx, (const unsigned char *)cert_pem,
					       (long)cert_len, WOLFSSL_FILETYPE_PEM)
	    != WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_use_PrivateKey_buffer(ctx, (const unsigned char *)key_pem,
					      (long)key_len, WOLFSSL_FILETYPE_PEM)
	    != WOLFSSL_SUCCESS)
		r = kt_errf(err, errlen, -EBADMSG, "the certificate or its key does "
			    "not load");
	else if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS)
		r = kt_errf(err, errlen, -EKEYREJECTED, "the key is not the "
			    "certificate's");
	wolfSSL_CTX_free(ctx);
	return r;
}

static const uint8_t wrap_info[] = "kyoten passphrase wrap v1";

/* AES-256-GCM key from the shared secret, bound to the ephemeral key. */
static int wrap_key(const uint8_t *secret, word32 slen, const uint8_t eph[65],
		    uint8_t key[32])
{
	return wc_HKDF(WC_SHA256, secret, slen, eph, 65, wrap_info,
		       sizeof(wrap_info) - 1, key, 32) ? -EIO : 0;
}

int kt_pki_wrap(const char *cert_pem, size_t cert_len, const uint8_t *msg,
		size_t len, uint8_t *out, char *err, size_t errlen)
{
	uint8_t der[DER_MAX], spki[512], secret[66], key[32];
	word32 spki_len = sizeof(spki), idx = 0, slen = sizeof(secret), eph_len = 65;
	ecc_key peer, eph;
	DecodedCert dc;
	WC_RNG rng;
	Aes aes;
	int n, r = -EIO;

	if (len > KT_PKI_WRAP_MAX)
		return kt_errf(err, errlen, -EINVAL, "a secret of %zu bytes is too long", len);
	n = wc_CertPemToDer((const byte *)cert_pem, (int)cert_len, der, sizeof(der), CERT_TYPE);
	if (n <= 0)
		return kt_errf(err, errlen, -EBADMSG, "not a PEM certificate");
	wc_InitDecodedCert(&dc, der, (word32)n, NULL);
	n = wc_ParseCert(&dc, CERT_TYPE, NO_VERIFY, NULL) ||
	    wc_GetPubKeyDerFromCert(&dc, spki, &spki_len);
	wc_FreeDecodedCert(&dc);
	if (n)
		return kt_errf(err, errlen, -EBADMSG, "the certificate's public key "
			       "does not read");
	if (wc_InitRng(&rng))
		return kt_errf(err, errlen, -EIO, "no random numbers");
	wc_ecc_init(&peer);
	wc_ecc_init(&eph);
	if (wc_EccPublicKeyDecode(spki, &idx, &peer, spki_len)) {
		r = kt_errf(err, errlen, -EBADMSG, "the certificate's key is not P-256");
		goto out;
	}
	if (wc_ecc_make_key_ex(&rng, 32, &eph, ECC_SECP256R1) ||
	    wc_ecc_set_rng(&eph, &rng) ||
	    wc_ecc_shared_secret(&eph, &peer, secret, &slen) ||
	    wc_ecc_export_x963(&eph, out, &eph_len) || eph_len != 65 ||
	    wrap_key(secret, slen, out, key) || wc_RNG_GenerateBlock(&rng, out + 65, 12)) {
		r = kt_errf(err, errlen, -EIO, "key agreement failed");
		goto out;
	}
	if (!wc_AesInit(&aes, NULL, INVALID_DEVID)) {
		if (!wc_AesGcmSetKey(&aes, key, 32) &&
		    !wc_AesGcmEncrypt(&aes, out + 77, msg, (word32)len, out + 65, 12,
				      out + 77 + len, 16, out, 65))
			r = 0;
		wc_AesFree(&aes);
		kt_wipe(&aes, sizeof(aes));	/* its key schedule */
	}
	if (r)
		kt_errf(err, errlen, r, "sealing failed");
out:
	kt_wipe(secret, sizeof(secret));
	kt_wipe(key, sizeof(key));
	wc_ecc_free(&peer);
	wc_ecc_free(&eph);
	wc_FreeRng(&rng);
	return r;
}

int kt_pki_unwrap(const char *key_pem, size_t key_len, const uint8_t *in,
		  size_t in_len, uint8_t *out, size_t *len, char *err, size_t errlen)
{
	uint8_t secret[66], key[32];
	word32 slen = sizeof(secret);
	ecc_key mine, eph;
	WC_RNG rng;
	size_t n;
	Aes aes;
	int r = -EKEYREJECTED;

	if (in_len < KT_PKI_WRAP_OVERHEAD || in_len - KT_PKI_WRAP_OVERHEAD > KT_PKI_WRAP_MAX)
		return kt_errf(err, errlen, -EBADMSG, "a sealed secret of %zu bytes "
			       "cannot be one", in_len);
	n = in_len - KT_PKI_WRAP_OVERHEAD;
	if (wc_InitRng(&rng))
		return kt_errf(err, errlen, -EIO, "no random numbers");
	wc_ecc_init(&mine);
	wc_ecc_init(&eph);
	if (load_key(key_pem, key_len, &mine)) {
		r = kt_errf(err, errlen, -EBADMSG, "this box's key does not load");
		goto out;
	}
	/* The point must be on the curve: a crafted one would otherwise
	 * leak the box's key bit by bit (an invalid-curve attack). */
	if (wc_ecc_import_x963_ex(in, 65, &eph, ECC_SECP256R1) ||
	    wc_ecc_check_key(&eph) ||
	    wc_ecc_set_rng(&mine, &rng) ||
	    wc_ecc_shared_secret(&mine, &eph, secret, &slen) ||
	    wrap_key(secret, slen, in, key)) {
		r = kt_errf(err, errlen, -EKEYREJECTED, "the sealed secret's key is "
			    "not a P-256 point, or the agreement failed");
		goto out;
	}
	if (!wc_AesInit(&aes, NULL, INVALID_DEVID)) {
		if (!wc_AesGcmSetKey(&aes, key, 32) &&
		    !wc_AesGcmDecrypt(&aes, out, in + 77, (word32)n, in + 65, 12,
				      in + 77 + n, 16, in, 65)) {
			*len = n;
			r = 0;
		}
		wc_AesFree(&aes);
		kt_wipe(&aes, sizeof(aes));	/* its key schedule */
	}
	if (r)
		kt_errf(err, errlen, r, "the secret was not sealed for this box, or "
			"was changed");
out:
	kt_wipe(secret, sizeof(secret));
	kt_wipe(key, sizeof(key));
	wc_ecc_free(&mine);
	wc_ecc_free(&eph);
	wc_FreeRng(&rng);
	return r;
}
