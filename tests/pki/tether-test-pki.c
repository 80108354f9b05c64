/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>

#include <gnutls/crypto.h>

#include "tether-test-pki.h"

struct _TetherTestCert {
	gnutls_x509_crt_t crt;
	gnutls_privkey_t key;   /* or NULL */
	TetherTestCert *issuer; /* or NULL */
};

static void
test_cert_clear (gpointer data)
{
	TetherTestCert *cert = data;

	g_clear_pointer (&cert->crt, gnutls_x509_crt_deinit);
	g_clear_pointer (&cert->key, gnutls_privkey_deinit);
	g_clear_pointer (&cert->issuer, tether_test_cert_unref);
}

TetherTestCert *
tether_test_cert_ref (TetherTestCert *cert)
{
	return g_rc_box_acquire (cert);
}

void
tether_test_cert_unref (TetherTestCert *cert)
{
	g_rc_box_release_full (cert, test_cert_clear);
}

gnutls_x509_crt_t
tether_test_cert_get_crt (TetherTestCert *cert)
{
	return cert->crt;
}

gnutls_privkey_t
tether_test_cert_get_key (TetherTestCert *cert)
{
	return cert->key;
}

TetherTestCert *
tether_test_cert_get_issuer (TetherTestCert *cert)
{
	return cert->issuer;
}

static gboolean
check_gnutls (int rc, const gchar *what, GError **error)
{
	if (rc >= 0)
		return TRUE;
	g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", what, gnutls_strerror (rc));
	return FALSE;
}

static gchar *
datum_steal_string (gnutls_datum_t *datum)
{
	gchar *s = g_strndup ((const gchar *) datum->data, datum->size);

	gnutls_free (datum->data);
	datum->data = NULL;
	datum->size = 0;
	return s;
}

static gboolean
parse_key_type (const gchar *name, gnutls_pk_algorithm_t *algorithm, unsigned int *bits)
{
	if (name == NULL || g_str_equal (name, "ec-p256")) {
		*algorithm = GNUTLS_PK_ECDSA;
		*bits = GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1);
	} else if (g_str_equal (name, "ec-p384")) {
		*algorithm = GNUTLS_PK_ECDSA;
		*bits = GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP384R1);
	} else if (g_str_equal (name, "rsa-2048")) {
		*algorithm = GNUTLS_PK_RSA;
		*bits = 2048;
	} else if (g_str_equal (name, "rsa-3072")) {
		*algorithm = GNUTLS_PK_RSA;
		*bits = 3072;
	} else {
		return FALSE;
	}
	return TRUE;
}

/* a positive 128-bit serial number */
static gboolean
set_random_serial (gnutls_x509_crt_t crt, GError **error)
{
	guint8 serial[16];

	if (!check_gnutls (gnutls_rnd (GNUTLS_RND_NONCE, serial, sizeof (serial)), "serial", error))
		return FALSE;
	serial[0] = (serial[0] & 0x7f) | 0x10;
	return check_gnutls (gnutls_x509_crt_set_serial (crt, serial, sizeof (serial)), "serial",
	                     error);
}

static gboolean
set_validity (gnutls_x509_crt_t crt, gint64 not_before, gint64 not_after, GError **error)
{
	gint64 now = g_get_real_time () / G_USEC_PER_SEC;

	if (not_before == 0)
		not_before = now - 3600;
	if (not_after == 0)
		not_after = now + 365 * TETHER_TEST_DAY;
	return check_gnutls (gnutls_x509_crt_set_activation_time (crt, (time_t) not_before),
	                     "activation time", error) &&
	       check_gnutls (gnutls_x509_crt_set_expiration_time (crt, (time_t) not_after),
	                     "expiration time", error);
}

/* subject key id from the public key; authority key id from the issuer's */
static gboolean
set_key_ids (gnutls_x509_crt_t crt, gnutls_pubkey_t pubkey, gnutls_x509_crt_t issuer_crt,
             GError **error)
{
	guint8 id[64];
	size_t id_size = sizeof (id);

	if (!check_gnutls (gnutls_pubkey_get_key_id (pubkey, GNUTLS_KEYID_USE_SHA1, id, &id_size),
	                   "key id", error) ||
	    !check_gnutls (gnutls_x509_crt_set_subject_key_id (crt, id, id_size), "subject key id",
	                   error))
		return FALSE;
	if (issuer_crt == NULL)
		return TRUE;
	id_size = sizeof (id);
	if (gnutls_x509_crt_get_subject_key_id (issuer_crt, id, &id_size, NULL) < 0)
		return TRUE;
	return check_gnutls (gnutls_x509_crt_set_authority_key_id (crt, id, id_size),
	                     "authority key id", error);
}

static gboolean
add_ip_address (gnutls_x509_crt_t crt, const gchar *text, GError **error)
{
	g_autoptr (GInetAddress) address = g_inet_address_new_from_string (text);

	if (address == NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		             "'%s' is not an IP address", text);
		return FALSE;
	}
	return check_gnutls (gnutls_x509_crt_set_subject_alt_name (
	                             crt, GNUTLS_SAN_IPADDRESS, g_inet_address_to_bytes (address),
	                             g_inet_address_get_native_size (address), GNUTLS_FSAN_APPEND),
	                     "IP address", error);
}

static gboolean
set_purpose (gnutls_x509_crt_t crt, TetherTestCertKind kind, gnutls_pk_algorithm_t algorithm,
             GError **error)
{
	unsigned int usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
	const gchar *purpose = NULL;

	switch (kind) {
	case TETHER_TEST_CERT_CA:
		usage |= GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN;
		break;
	case TETHER_TEST_CERT_SERVER:
		purpose = GNUTLS_KP_TLS_WWW_SERVER;
		if (algorithm == GNUTLS_PK_RSA)
			usage |= GNUTLS_KEY_KEY_ENCIPHERMENT;
		break;
	case TETHER_TEST_CERT_CLIENT:
		purpose = GNUTLS_KP_TLS_WWW_CLIENT;
		break;
	default:
		g_assert_not_reached ();
	}
	if (!check_gnutls (
	            gnutls_x509_crt_set_basic_constraints (crt, kind == TETHER_TEST_CERT_CA, -1),
	            "basic constraints", error) ||
	    !check_gnutls (gnutls_x509_crt_set_key_usage (crt, usage), "key usage", error))
		return FALSE;
	if (purpose == NULL)
		return TRUE;
	return check_gnutls (gnutls_x509_crt_set_key_purpose_oid (crt, purpose, 1),
	                     "extended key usage", error);
}

/*
 * A certificate built in memory, read back from its DER as any user of it would: GnuTLS fills
 * some of its caches (the alternative names) only on import.
 */
static gnutls_x509_crt_t
reimport (gnutls_x509_crt_t built, GError **error)
{
	gnutls_datum_t der = { NULL, 0 };
	gnutls_x509_crt_t crt = NULL;
	int rc;

	rc = gnutls_x509_crt_export2 (built, GNUTLS_X509_FMT_DER, &der);
	if (rc >= 0)
		rc = gnutls_x509_crt_init (&crt);
	if (rc >= 0)
		rc = gnutls_x509_crt_import (crt, &der, GNUTLS_X509_FMT_DER);
	gnutls_free (der.data);
	if (!check_gnutls (rc, "reading the new certificate back", error)) {
		g_clear_pointer (&crt, gnutls_x509_crt_deinit);
		return NULL;
	}
	return crt;
}

static TetherTestCert *
test_cert_new_take (gnutls_x509_crt_t crt, gnutls_privkey_t key, TetherTestCert *issuer)
{
	TetherTestCert *cert = g_rc_box_new0 (TetherTestCert);

	cert->crt = crt;
	cert->key = key;
	cert->issuer = issuer != NULL ? tether_test_cert_ref (issuer) : NULL;
	return cert;
}

TetherTestCert *
tether_test_cert_new (const TetherTestCertSpec *spec, TetherTestCert *issuer, GError **error)
{
	g_auto (gnutls_privkey_t) key = NULL;
	g_auto (gnutls_pubkey_t) pubkey = NULL;
	g_auto (gnutls_x509_crt_t) crt = NULL;
	gnutls_x509_crt_t signed_crt;
	gnutls_pk_algorithm_t algorithm;
	unsigned int bits;

	g_return_val_if_fail (spec != NULL && spec->common_name != NULL, NULL);
	g_return_val_if_fail (issuer == NULL || issuer->key != NULL, NULL);

	if (issuer == NULL && spec->kind != TETHER_TEST_CERT_CA) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		             "only a CA certificate can be self-signed here: give an issuer");
		return NULL;
	}
	if (!parse_key_type (spec->key_type, &algorithm, &bits)) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		             "key type '%s' is not known: use ec-p256, ec-p384, rsa-2048 or "
		             "rsa-3072",
		             spec->key_type);
		return NULL;
	}

	/* the key */
	if (!check_gnutls (gnutls_privkey_init (&key), "key", error) ||
	    !check_gnutls (gnutls_privkey_generate2 (key, algorithm, bits, 0, NULL, 0),
	                   "key generation", error) ||
	    !check_gnutls (gnutls_pubkey_init (&pubkey), "public key", error) ||
	    !check_gnutls (gnutls_pubkey_import_privkey (pubkey, key, 0, 0), "public key", error))
		return NULL;

	/* the certificate's body */
	if (!check_gnutls (gnutls_x509_crt_init (&crt), "certificate", error) ||
	    !check_gnutls (gnutls_x509_crt_set_version (crt, 3), "version", error) ||
	    !set_random_serial (crt, error) ||
	    !set_validity (crt, spec->not_before, spec->not_after, error) ||
	    !check_gnutls (gnutls_x509_crt_set_pubkey (crt, pubkey), "public key", error))
		return NULL;
	if (spec->organization != NULL &&
	    !check_gnutls (gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0,
	                                                  spec->organization,
	                                                  strlen (spec->organization)),
	                   "organization", error))
		return NULL;
	if (!check_gnutls (gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	                                                  spec->common_name,
	                                                  strlen (spec->common_name)),
	                   "common name", error))
		return NULL;
	for (gsize i = 0; spec->dns_names != NULL && spec->dns_names[i] != NULL; i++) {
		if (!check_gnutls (gnutls_x509_crt_set_subject_alt_name (
		                           crt, GNUTLS_SAN_DNSNAME, spec->dns_names[i],
		                           strlen (spec->dns_names[i]), GNUTLS_FSAN_APPEND),
		                   "DNS name", error))
			return NULL;
	}
	for (gsize i = 0; spec->ip_addresses != NULL && spec->ip_addresses[i] != NULL; i++) {
		if (!add_ip_address (crt, spec->ip_addresses[i], error))
			return NULL;
	}
	if (!set_purpose (crt, spec->kind, algorithm, error) ||
	    !set_key_ids (crt, pubkey, issuer != NULL ? issuer->crt : NULL, error))
		return NULL;

	/* the signature: the issuer's, or its own */
	if (!check_gnutls (gnutls_x509_crt_privkey_sign (crt, issuer != NULL ? issuer->crt : crt,
	                                                 issuer != NULL ? issuer->key : key,
	                                                 GNUTLS_DIG_SHA256, 0),
	                   "signing", error))
		return NULL;

	signed_crt = reimport (crt, error);
	if (signed_crt == NULL)
		return NULL;
	return test_cert_new_take (signed_crt, g_steal_pointer (&key), issuer);
}

static gboolean
key_matches (gnutls_privkey_t key, gnutls_x509_crt_t crt)
{
	g_auto (gnutls_pubkey_t) a = NULL;
	g_auto (gnutls_pubkey_t) b = NULL;
	gnutls_datum_t da = { NULL, 0 };
	gnutls_datum_t db = { NULL, 0 };
	gboolean same = FALSE;

	if (gnutls_pubkey_init (&a) >= 0 && gnutls_pubkey_init (&b) >= 0 &&
	    gnutls_pubkey_import_privkey (a, key, 0, 0) >= 0 &&
	    gnutls_pubkey_import_x509 (b, crt, 0) >= 0 &&
	    gnutls_pubkey_export2 (a, GNUTLS_X509_FMT_DER, &da) >= 0 &&
	    gnutls_pubkey_export2 (b, GNUTLS_X509_FMT_DER, &db) >= 0)
		same = da.size == db.size && memcmp (da.data, db.data, da.size) == 0;
	gnutls_free (da.data);
	gnutls_free (db.data);
	return same;
}

TetherTestCert *
tether_test_cert_load (const gchar *cert_file, const gchar *key_file, GError **error)
{
	g_autofree gchar *cert_pem = NULL;
	g_autofree gchar *key_pem = NULL;
	gsize cert_len = 0;
	gsize key_len = 0;
	gnutls_x509_crt_t *crts = NULL;
	unsigned int n_crts = 0;
	g_auto (gnutls_privkey_t) key = NULL;
	g_autoptr (TetherTestCert) above = NULL;
	TetherTestCert *cert;
	gnutls_datum_t datum;
	int rc;

	if (!g_file_get_contents (cert_file, &cert_pem, &cert_len, error) ||
	    !g_file_get_contents (key_file, &key_pem, &key_len, error))
		return NULL;

	datum.data = (unsigned char *) key_pem;
	datum.size = key_len;
	if (!check_gnutls (gnutls_privkey_init (&key), key_file, error) ||
	    !check_gnutls (
	            gnutls_privkey_import_x509_raw (key, &datum, GNUTLS_X509_FMT_PEM, NULL, 0),
	            key_file, error))
		return NULL;
	gnutls_memset (key_pem, 0, key_len);

	datum.data = (unsigned char *) cert_pem;
	datum.size = cert_len;
	rc = gnutls_x509_crt_list_import2 (&crts, &n_crts, &datum, GNUTLS_X509_FMT_PEM, 0);
	if (!check_gnutls (rc, cert_file, error))
		return NULL;
	if (n_crts == 0) {
		gnutls_free (crts);
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		             "'%s' holds no certificate", cert_file);
		return NULL;
	}

	/* from the top down, so each certificate can hold its issuer */
	for (unsigned int i = n_crts; i > 1; i--) {
		cert = test_cert_new_take (crts[i - 1], NULL, above);
		g_clear_pointer (&above, tether_test_cert_unref);
		above = cert;
	}
	if (!key_matches (key, crts[0])) {
		gnutls_x509_crt_deinit (crts[0]);
		gnutls_free (crts);
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		             "the key in '%s' does not belong to the first certificate in '%s'",
		             key_file, cert_file);
		return NULL;
	}
	cert = test_cert_new_take (crts[0], g_steal_pointer (&key), above);
	gnutls_free (crts);
	return cert;
}

/* copies the DNS, URI and IP subject alternative names of a request */
static gboolean
copy_alt_names (gnutls_x509_crt_t crt, gnutls_x509_crq_t crq, GError **error)
{
	for (unsigned int seq = 0;; seq++) {
		guint8 value[1024];
		size_t size = sizeof (value);
		unsigned int type = 0;
		unsigned int critical = 0;
		int rc = gnutls_x509_crq_get_subject_alt_name (crq, seq, value, &size, &type,
		                                               &critical);

		if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			return TRUE;
		if (!check_gnutls (rc, "alternative name in the request", error))
			return FALSE;
		if (type != GNUTLS_SAN_DNSNAME && type != GNUTLS_SAN_URI &&
		    type != GNUTLS_SAN_IPADDRESS)
			continue;
		if (!check_gnutls (gnutls_x509_crt_set_subject_alt_name (crt, type, value, size,
		                                                         GNUTLS_FSAN_APPEND),
		                   "alternative name", error))
			return FALSE;
	}
}

TetherTestCert *
tether_test_cert_sign_csr (TetherTestCert *ca, const gchar *csr_pem, gint64 not_before,
                           gint64 not_after, GError **error)
{
	g_auto (gnutls_x509_crq_t) crq = NULL;
	g_auto (gnutls_x509_crt_t) crt = NULL;
	gnutls_x509_crt_t signed_crt;
	g_auto (gnutls_pubkey_t) pubkey = NULL;
	gnutls_datum_t datum;

	g_return_val_if_fail (ca != NULL && ca->key != NULL, NULL);
	g_return_val_if_fail (csr_pem != NULL, NULL);

	/* a request is honoured only when its own key signed it */
	datum.data = (unsigned char *) csr_pem;
	datum.size = strlen (csr_pem);
	if (!check_gnutls (gnutls_x509_crq_init (&crq), "request", error) ||
	    !check_gnutls (gnutls_x509_crq_import (crq, &datum, GNUTLS_X509_FMT_PEM),
	                   "the request is not a PEM CSR", error) ||
	    !check_gnutls (gnutls_x509_crq_verify (crq, 0), "the request's signature", error))
		return NULL;

	/* the subject and key from the request; everything else is the CA's decision */
	if (!check_gnutls (gnutls_x509_crt_init (&crt), "certificate", error) ||
	    !check_gnutls (gnutls_x509_crt_set_crq (crt, crq), "request", error) ||
	    !check_gnutls (gnutls_x509_crt_set_version (crt, 3), "version", error) ||
	    !set_random_serial (crt, error) || !set_validity (crt, not_before, not_after, error) ||
	    !copy_alt_names (crt, crq, error) ||
	    !set_purpose (crt, TETHER_TEST_CERT_CLIENT, GNUTLS_PK_UNKNOWN, error))
		return NULL;
	if (!check_gnutls (gnutls_pubkey_init (&pubkey), "public key", error) ||
	    !check_gnutls (gnutls_pubkey_import_x509 (pubkey, crt, 0), "public key", error) ||
	    !set_key_ids (crt, pubkey, ca->crt, error) ||
	    !check_gnutls (
	            gnutls_x509_crt_privkey_sign (crt, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0),
	            "signing", error))
		return NULL;
	signed_crt = reimport (crt, error);
	if (signed_crt == NULL)
		return NULL;
	return test_cert_new_take (signed_crt, NULL, ca);
}

static gboolean
is_self_issued (gnutls_x509_crt_t crt)
{
	return gnutls_x509_crt_check_issuer (crt, crt) != 0;
}

static void
append_pem (GString *out, gnutls_x509_crt_t crt)
{
	gnutls_datum_t pem = { NULL, 0 };

	if (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &pem) < 0)
		g_error ("a certificate could not be exported");
	g_string_append_len (out, (const gchar *) pem.data, pem.size);
	gnutls_free (pem.data);
}

gchar *
tether_test_cert_get_pem (TetherTestCert *cert)
{
	GString *out = g_string_new (NULL);

	append_pem (out, cert->crt);
	return g_string_free (out, FALSE);
}

gchar *
tether_test_cert_get_chain_pem (TetherTestCert *cert)
{
	GString *out = g_string_new (NULL);

	append_pem (out, cert->crt);
	for (TetherTestCert *up = cert->issuer; up != NULL; up = up->issuer) {
		if (is_self_issued (up->crt))
			break;
		append_pem (out, up->crt);
	}
	return g_string_free (out, FALSE);
}

gchar *
tether_test_cert_get_key_pem (TetherTestCert *cert)
{
	g_auto (gnutls_x509_privkey_t) x509_key = NULL;
	gnutls_datum_t pem = { NULL, 0 };

	if (cert->key == NULL)
		return NULL;
	if (gnutls_privkey_export_x509 (cert->key, &x509_key) < 0 ||
	    gnutls_x509_privkey_export2_pkcs8 (x509_key, GNUTLS_X509_FMT_PEM, NULL,
	                                       GNUTLS_PKCS_PLAIN, &pem) < 0)
		g_error ("a test key could not be exported");
	return datum_steal_string (&pem);
}

gboolean
tether_test_cert_write (TetherTestCert *cert, const gchar *cert_file, gboolean chain,
                        const gchar *key_file, GError **error)
{
	g_autofree gchar *pem =
	        chain ? tether_test_cert_get_chain_pem (cert) : tether_test_cert_get_pem (cert);

	if (!g_file_set_contents_full (cert_file, pem, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644,
	                               error))
		return FALSE;
	if (key_file != NULL) {
		g_autofree gchar *key_pem = tether_test_cert_get_key_pem (cert);

		if (key_pem == NULL) {
			g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			             "this certificate's key is not known, so '%s' cannot be "
			             "written",
			             key_file);
			return FALSE;
		}
		if (!g_file_set_contents_full (key_file, key_pem, -1,
		                               G_FILE_SET_CONTENTS_CONSISTENT, 0600, error))
			return FALSE;
	}
	return TRUE;
}
