/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

G_BEGIN_DECLS

/*
 * A small certificate authority for tests, on GnuTLS: roots, intermediates, server and client
 * certificates with chosen names and validity, and a signer for device CSRs. Not for
 * production: keys are kept in memory and written unencrypted.
 */

#include "tether-gnutls-auto.h"

#define TETHER_TEST_DAY (24 * 60 * 60)

typedef enum {
	TETHER_TEST_CERT_CA,     /* CA:TRUE; self-signed when it has no issuer */
	TETHER_TEST_CERT_SERVER, /* TLS server authentication, the names in SANs */
	TETHER_TEST_CERT_CLIENT, /* TLS client authentication */
} TetherTestCertKind;

typedef struct {
	TetherTestCertKind kind;
	const gchar *common_name;         /* required */
	const gchar *organization;        /* or NULL */
	const gchar *const *dns_names;    /* or NULL */
	const gchar *const *ip_addresses; /* textual, or NULL */
	gint64 not_before;                /* seconds since the epoch; 0: an hour ago */
	gint64 not_after;                 /* 0: 365 days from now */
	const gchar *key_type;            /* "ec-p256" (NULL), "ec-p384", "rsa-2048", "rsa-3072" */
} TetherTestCertSpec;

/* a certificate, its private key when we have it, and its issuer (a reference) */
typedef struct _TetherTestCert TetherTestCert;

TetherTestCert *tether_test_cert_new (const TetherTestCertSpec *spec, TetherTestCert *issuer,
                                      GError **error);

/*
 * Loads a CA to sign with: @cert_file holds its certificate first, then the certificates above
 * it (which become its issuers, without keys); @key_file its private key (PEM).
 */
TetherTestCert *tether_test_cert_load (const gchar *cert_file, const gchar *key_file,
                                       GError **error);

/*
 * Issues a client certificate (clientAuth, digitalSignature) for a PEM CSR, keeping its subject
 * and subject alternative names. The result has no private key.
 */
TetherTestCert *tether_test_cert_sign_csr (TetherTestCert *ca, const gchar *csr_pem,
                                           gint64 not_before, gint64 not_after, GError **error);

TetherTestCert *tether_test_cert_ref (TetherTestCert *cert);
void tether_test_cert_unref (TetherTestCert *cert);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TetherTestCert, tether_test_cert_unref)

/* borrowed */
gnutls_x509_crt_t tether_test_cert_get_crt (TetherTestCert *cert);
/* borrowed, NULL when the key is not known */
gnutls_privkey_t tether_test_cert_get_key (TetherTestCert *cert);
/* borrowed, NULL for a root */
TetherTestCert *tether_test_cert_get_issuer (TetherTestCert *cert);

gchar *tether_test_cert_get_pem (TetherTestCert *cert);
/* the certificate, then its issuers up to (not including) the self-signed root */
gchar *tether_test_cert_get_chain_pem (TetherTestCert *cert);
/* PKCS#8, unencrypted; NULL without a key */
gchar *tether_test_cert_get_key_pem (TetherTestCert *cert);

/*
 * Writes the certificate (with @chain, its chain as tether_test_cert_get_chain_pem() gives it)
 * to @cert_file, mode 0644, and its key to @key_file, mode 0600, when @key_file is not NULL.
 */
gboolean tether_test_cert_write (TetherTestCert *cert, const gchar *cert_file, gboolean chain,
                                 const gchar *key_file, GError **error);

G_END_DECLS
