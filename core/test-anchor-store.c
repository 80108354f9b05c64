/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * What the anchor store does with an upload, on its pure parts: tether_x509_parse_upload()
 * reads every common wrapping, tether_x509_prepare_anchor() checks and normalises. Every input
 * is made here, at test time.
 */

#include <string.h>

#include <gnutls/pkcs7.h>
#include <tether/tether-error.h>

#include "tether-x509.h"

/* the test PKI, compiled in as test-x509.c does */
#include "../tests/pki/tether-test-pki.c"

#define DAY (24 * 60 * 60)

static struct {
	TetherTestCert *root;
	TetherTestCert *other_root;
	TetherTestCert *sub;
	TetherTestCert *leaf; /* localhost, by sub */
	TetherTestCert *expired_root;
	TetherTestCert *future_root;
	gint64 now;
} pki;

static TetherTestCert *
make_cert (TetherTestCertKind kind, const gchar *cn, gint64 not_before, gint64 not_after,
           TetherTestCert *issuer)
{
	const gchar *const localhost[] = { "localhost", NULL };
	TetherTestCertSpec spec = { kind, cn, NULL, NULL, NULL, not_before, not_after, NULL };
	g_autoptr(GError) error = NULL;
	TetherTestCert *cert;

	if (kind == TETHER_TEST_CERT_SERVER)
		spec.dns_names = localhost;
	cert = tether_test_cert_new (&spec, issuer, &error);
	g_assert_no_error (error);
	return cert;
}

static void
pki_setup (void)
{
	pki.now = g_get_real_time () / G_USEC_PER_SEC;
	pki.root = make_cert (TETHER_TEST_CERT_CA, "Anchor Root", 0, 0, NULL);
	pki.other_root = make_cert (TETHER_TEST_CERT_CA, "Other Root", 0, 0, NULL);
	pki.sub = make_cert (TETHER_TEST_CERT_CA, "Anchor Sub", 0, 0, pki.root);
	pki.leaf = make_cert (TETHER_TEST_CERT_SERVER, "localhost", 0, 0, pki.sub);
	pki.expired_root = make_cert (TETHER_TEST_CERT_CA, "Expired Root", pki.now - 20 * DAY,
	                              pki.now - 10 * DAY, NULL);
	pki.future_root = make_cert (TETHER_TEST_CERT_CA, "Future Root", pki.now + 10 * DAY,
	                             pki.now + 400 * DAY, NULL);
}

static void
pki_teardown (void)
{
	g_clear_pointer (&pki.root, tether_test_cert_unref);
	g_clear_pointer (&pki.other_root, tether_test_cert_unref);
	g_clear_pointer (&pki.sub, tether_test_cert_unref);
	g_clear_pointer (&pki.leaf, tether_test_cert_unref);
	g_clear_pointer (&pki.expired_root, tether_test_cert_unref);
	g_clear_pointer (&pki.future_root, tether_test_cert_unref);
}

/* ---- inputs ---- */

static gchar *
pem_of (TetherTestCert *first, ...)
{
	GString *out = g_string_new (NULL);
	va_list args;

	va_start (args, first);
	for (TetherTestCert *cert = first; cert != NULL; cert = va_arg (args, TetherTestCert *)) {
		g_autofree gchar *pem = tether_test_cert_get_pem (cert);

		g_string_append (out, pem);
	}
	va_end (args);
	return g_string_free (out, FALSE);
}

static GBytes *
der_of_crt (gnutls_x509_crt_t crt)
{
	gnutls_datum_t der = { NULL, 0 };
	GBytes *bytes;

	g_assert_cmpint (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_DER, &der), ==, 0);
	bytes = g_bytes_new (der.data, der.size);
	gnutls_free (der.data);
	return bytes;
}

/* a PKCS#7 bundle of the certificates, as Windows CAs export one */
static GBytes *
pkcs7_of (gnutls_x509_crt_fmt_t format, TetherTestCert *first, ...)
{
	gnutls_pkcs7_t pkcs7 = NULL;
	gnutls_datum_t out = { NULL, 0 };
	GBytes *bytes;
	va_list args;

	g_assert_cmpint (gnutls_pkcs7_init (&pkcs7), ==, 0);
	va_start (args, first);
	for (TetherTestCert *cert = first; cert != NULL; cert = va_arg (args, TetherTestCert *))
		g_assert_cmpint (gnutls_pkcs7_set_crt (pkcs7, tether_test_cert_get_crt (cert)), ==,
		                 0);
	va_end (args);
	g_assert_cmpint (gnutls_pkcs7_export2 (pkcs7, format, &out), ==, 0);
	gnutls_pkcs7_deinit (pkcs7);
	bytes = g_bytes_new (out.data, out.size);
	gnutls_free (out.data);
	return bytes;
}

static GBytes *
bytes_take (gchar *text)
{
	return g_bytes_new_take (text, strlen (text));
}

/* the text with every "\n" written as "\r\n" */
static gchar *
to_crlf (const gchar *text)
{
	g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

	return g_strjoinv ("\r\n", lines);
}

static gnutls_privkey_t
new_key (gnutls_pk_algorithm_t algorithm, unsigned int bits)
{
	gnutls_privkey_t key = NULL;

	g_assert_cmpint (gnutls_privkey_init (&key), ==, 0);
	g_assert_cmpint (gnutls_privkey_generate2 (key, algorithm, bits, 0, NULL, 0), ==, 0);
	return key;
}

/*
 * What the test PKI does not make: a certificate for @key, signed by @issuer_key (or itself)
 * with @digest.
 */
static gnutls_x509_crt_t
build_cert (const gchar *cn, gnutls_privkey_t key, gboolean ca, gnutls_x509_crt_t issuer,
            gnutls_privkey_t issuer_key, gnutls_digest_algorithm_t digest)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_pubkey_t pubkey = NULL;
	guint8 serial[8];
	gnutls_datum_t der = { NULL, 0 };
	gnutls_x509_crt_t result = NULL;
	int rc;

	g_assert_cmpint (gnutls_pubkey_init (&pubkey), ==, 0);
	g_assert_cmpint (gnutls_pubkey_import_privkey (pubkey, key, 0, 0), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_version (crt, 3), ==, 0);
	gnutls_rnd (GNUTLS_RND_NONCE, serial, sizeof (serial));
	serial[0] &= 0x7f;
	g_assert_cmpint (gnutls_x509_crt_set_serial (crt, serial, sizeof (serial)), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_activation_time (crt, pki.now - DAY), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_expiration_time (crt, pki.now + 365 * DAY), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_pubkey (crt, pubkey), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
	                                                strlen (cn)),
	                 ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_basic_constraints (crt, ca, -1), ==, 0);
	rc = gnutls_x509_crt_privkey_sign (crt, issuer != NULL ? issuer : crt,
	                                   issuer_key != NULL ? issuer_key : key, digest, 0);
	g_assert_cmpint (rc, ==, 0);

	/* read back, as a user of it would */
	g_assert_cmpint (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_DER, &der), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_init (&result), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_import (result, &der, GNUTLS_X509_FMT_DER), ==, 0);
	gnutls_free (der.data);
	gnutls_x509_crt_deinit (crt);
	gnutls_pubkey_deinit (pubkey);
	return result;
}

static gchar *
crt_pem (gnutls_x509_crt_t crt)
{
	gnutls_datum_t out = { NULL, 0 };
	gchar *pem;

	g_assert_cmpint (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &out), ==, 0);
	pem = g_strndup ((const gchar *) out.data, out.size);
	gnutls_free (out.data);
	return pem;
}

/* ---- what the store would do ---- */

typedef struct {
	GPtrArray *certs;
	GStrv warnings;
	GError *error;
} Upload;

static void
upload_clear (Upload *upload)
{
	g_clear_pointer (&upload->certs, g_ptr_array_unref);
	g_clear_pointer (&upload->warnings, g_strfreev);
	g_clear_error (&upload->error);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Upload, upload_clear)

static void
upload_bytes (Upload *upload, GBytes *data)
{
	g_autoptr(GPtrArray) parsed = tether_x509_parse_upload (data, &upload->error);

	if (parsed == NULL)
		return;
	upload->certs = tether_x509_prepare_anchor (parsed, pki.now, TRUE, &upload->warnings,
	                                            &upload->error);
}

static void
upload_text (Upload *upload, const gchar *text)
{
	g_autoptr(GBytes) data = g_bytes_new (text, strlen (text));

	upload_bytes (upload, data);
}

static void
assert_accepted (Upload *upload, guint n_certs)
{
	g_assert_no_error (upload->error);
	g_assert_nonnull (upload->certs);
	g_assert_cmpuint (upload->certs->len, ==, n_certs);
	g_assert_nonnull (upload->warnings);
}

static void
assert_no_warnings (Upload *upload)
{
	if (upload->warnings != NULL && upload->warnings[0] != NULL)
		g_error ("unexpected warning: %s", upload->warnings[0]);
}

static void
assert_warning (Upload *upload, const gchar *fragment, const gchar *also)
{
	for (guint i = 0; upload->warnings != NULL && upload->warnings[i] != NULL; i++) {
		const gchar *warning = upload->warnings[i];

		if (strstr (warning, fragment) != NULL && (also == NULL || strstr (warning, also)))
			return;
	}
	g_error ("no warning names '%s'%s%s", fragment, also != NULL ? " and " : "",
	         also != NULL ? also : "");
}

static void
assert_refused (Upload *upload, gint code, const gchar *fragment)
{
	g_assert_null (upload->certs);
	g_assert_error (upload->error, TETHER_ERROR, code);
	if (strstr (upload->error->message, fragment) == NULL)
		g_error ("the error does not name '%s': %s", fragment, upload->error->message);
}

/* the stored certificate @index is @cert */
static void
assert_cert (Upload *upload, guint index, TetherTestCert *cert)
{
	g_assert_true (gnutls_x509_crt_equals (g_ptr_array_index (upload->certs, index),
	                                       tether_test_cert_get_crt (cert)));
}

/* stored as a clean export would be: PEM, LF only, no byte-order mark */
static void
assert_normalised (Upload *upload, const gchar *clean_pem)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *pem = tether_x509_export_pem (upload->certs, &error);

	g_assert_no_error (error);
	g_assert_cmpstr (pem, ==, clean_pem);
	g_assert_null (strchr (pem, '\r'));
}

/* ---- accepted wrappings ---- */

static void
test_pem_one (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *pem = pem_of (pki.root, NULL);

	upload_text (&upload, pem);
	assert_accepted (&upload, 1);
	assert_no_warnings (&upload);
	assert_normalised (&upload, pem);
}

static void
test_pem_crlf (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *pem = pem_of (pki.sub, pki.root, NULL);
	g_autofree gchar *crlf = to_crlf (pem);

	upload_text (&upload, crlf);
	assert_accepted (&upload, 2);
	assert_no_warnings (&upload);
	assert_normalised (&upload, pem);
}

static void
test_pem_mixed_endings (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *sub = pem_of (pki.sub, NULL);
	g_autofree gchar *root = pem_of (pki.root, NULL);
	g_autofree gchar *sub_crlf = to_crlf (sub);
	g_autofree gchar *mixed = g_strconcat (sub_crlf, root, NULL);
	g_autofree gchar *clean = g_strconcat (sub, root, NULL);

	upload_text (&upload, mixed);
	assert_accepted (&upload, 2);
	assert_normalised (&upload, clean);
}

static void
test_pem_bom (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *pem = pem_of (pki.root, NULL);
	g_autofree gchar *crlf = to_crlf (pem);
	g_autofree gchar *with_bom = g_strconcat ("\xef\xbb\xbf", crlf, NULL);

	upload_text (&upload, with_bom);
	assert_accepted (&upload, 1);
	assert_no_warnings (&upload);
	assert_normalised (&upload, pem);
}

/* what 'openssl pkcs12 -nokeys' writes around each certificate, and comments */
static void
test_pem_bag_attributes (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *sub = pem_of (pki.sub, NULL);
	g_autofree gchar *root = pem_of (pki.root, NULL);
	g_autofree gchar *clean = g_strconcat (sub, root, NULL);
	g_autofree gchar *text = g_strconcat (
	        "# exported for the device\n", "Bag Attributes\n",
	        "    localKeyID: 01 23 45 67 89 AB CD EF\n", "    friendlyName: anchor sub\n",
	        "subject=CN = Anchor Sub\n", "\n", "issuer=CN = Anchor Root\n", "\n", sub,
	        "Bag Attributes: <No Attributes>\n", "subject=CN = Anchor Root\n",
	        "issuer=CN = Anchor Root\n", root, "\ntrailing words\n", NULL);

	upload_text (&upload, text);
	assert_accepted (&upload, 2);
	assert_no_warnings (&upload);
	assert_normalised (&upload, clean);
}

static void
test_der (void)
{
	g_auto(Upload) upload = { 0 };
	g_autoptr(GBytes) der = der_of_crt (tether_test_cert_get_crt (pki.root));
	g_autofree gchar *pem = pem_of (pki.root, NULL);

	upload_bytes (&upload, der);
	assert_accepted (&upload, 1);
	assert_no_warnings (&upload);
	assert_normalised (&upload, pem);
}

static void
test_pkcs7_der (void)
{
	g_auto(Upload) upload = { 0 };
	g_autoptr(GBytes) p7b = pkcs7_of (GNUTLS_X509_FMT_DER, pki.sub, pki.root, NULL);
	g_autofree gchar *pem = pem_of (pki.sub, pki.root, NULL);

	upload_bytes (&upload, p7b);
	assert_accepted (&upload, 2);
	assert_normalised (&upload, pem);
}

static void
test_pkcs7_pem (void)
{
	g_auto(Upload) upload = { 0 };
	g_autoptr(GBytes) p7b = pkcs7_of (GNUTLS_X509_FMT_PEM, pki.root, NULL);
	g_autofree gchar *pem = pem_of (pki.root, NULL);
	g_autofree gchar *text = g_strndup (g_bytes_get_data (p7b, NULL), g_bytes_get_size (p7b));

	g_assert_nonnull (strstr (text, "-----BEGIN PKCS7-----"));
	upload_bytes (&upload, p7b);
	assert_accepted (&upload, 1);
	assert_normalised (&upload, pem);
}

/* a PKCS#7 bundle holds a set: whatever order it was built in, chain order, no warning */
static void
test_pkcs7_any_order (void)
{
	g_auto(Upload) upload = { 0 };
	g_autoptr(GBytes) p7b = pkcs7_of (GNUTLS_X509_FMT_DER, pki.root, pki.leaf, pki.sub, NULL);
	g_autofree gchar *pem = pem_of (pki.leaf, pki.sub, pki.root, NULL);

	upload_bytes (&upload, p7b);
	assert_accepted (&upload, 3);
	assert_no_warnings (&upload);
	assert_normalised (&upload, pem);
}

/* ---- refused ---- */

static void
test_refuse_empty (void)
{
	g_auto(Upload) upload = { 0 };

	upload_text (&upload, "");
	assert_refused (&upload, TETHER_ERROR_INVALID_ARGUMENT, "empty");
}

static void
test_refuse_too_large (void)
{
	g_auto(Upload) upload = { 0 };
	gsize size = 5 * 1024 * 1024;
	g_autoptr(GBytes) data = g_bytes_new_take (g_malloc0 (size), size);

	upload_bytes (&upload, data);
	assert_refused (&upload, TETHER_ERROR_INVALID_ARGUMENT, "bytes");
}

static void
test_refuse_no_certificate (void)
{
	g_auto(Upload) upload = { 0 };

	upload_text (&upload, "just some words\n");
	assert_refused (&upload, TETHER_ERROR_INVALID_CERTIFICATE, "no certificate");
}

static void
assert_wide_refused (const gchar *encoding, const gchar *mark, gsize mark_len, const gchar *named)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *pem = pem_of (pki.root, NULL);
	gsize wide_len = 0;
	g_autofree gchar *wide = g_convert (pem, -1, encoding, "UTF-8", NULL, &wide_len, NULL);
	g_autoptr(GByteArray) data = g_byte_array_new ();
	g_autoptr(GBytes) bytes = NULL;

	g_assert_nonnull (wide);
	g_byte_array_append (data, (const guint8 *) mark, mark_len);
	g_byte_array_append (data, (const guint8 *) wide, wide_len);
	bytes = g_byte_array_free_to_bytes (g_steal_pointer (&data));
	upload_bytes (&upload, bytes);
	assert_refused (&upload, TETHER_ERROR_INVALID_CERTIFICATE, "re-save it as UTF-8");
	assert_refused (&upload, TETHER_ERROR_INVALID_CERTIFICATE, named);
}

static void
test_refuse_utf16 (void)
{
	assert_wide_refused ("UTF-16LE", "\xff\xfe", 2, "UTF-16LE");
	/* without a byte-order mark too */
	assert_wide_refused ("UTF-16BE", "", 0, "UTF-16BE");
	assert_wide_refused ("UTF-16LE", "", 0, "UTF-16LE");
}

static void
test_refuse_utf32 (void)
{
	assert_wide_refused ("UTF-32LE", "\xff\xfe\x00\x00", 4, "UTF-32LE");
	assert_wide_refused ("UTF-32BE", "", 0, "UTF-32BE");
}

/* the key is refused, and not a line of it is repeated in the error */
static void
test_refuse_key_pem (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *cert = pem_of (pki.root, NULL);
	g_autofree gchar *key = tether_test_cert_get_key_pem (pki.root);
	g_autofree gchar *text =
	        g_strconcat ("Bag Attributes\n", cert, "Key Attributes\n", key, NULL);
	g_auto(GStrv) key_lines = g_strsplit (key, "\n", -1);

	upload_text (&upload, text);
	assert_refused (&upload, TETHER_ERROR_INVALID_CERTIFICATE, "private key");
	for (guint i = 1; key_lines[i] != NULL && !g_str_has_prefix (key_lines[i], "-----"); i++)
		g_assert_null (strstr (upload.error->message, key_lines[i]));
}

static void
test_refuse_key_der (void)
{
	g_auto(Upload) upload = { 0 };
	gnutls_x509_privkey_t x509_key = NULL;
	gnutls_datum_t out = { NULL, 0 };
	g_autoptr(GBytes) der = NULL;

	g_assert_cmpint (
	        gnutls_privkey_export_x509 (tether_test_cert_get_key (pki.root), &x509_key), ==, 0);
	g_assert_cmpint (gnutls_x509_privkey_export2_pkcs8 (x509_key, GNUTLS_X509_FMT_DER, NULL,
	                                                    GNUTLS_PKCS_PLAIN, &out),
	                 ==, 0);
	der = g_bytes_new (out.data, out.size);
	gnutls_memset (out.data, 0, out.size);
	gnutls_free (out.data);
	gnutls_x509_privkey_deinit (x509_key);

	upload_bytes (&upload, der);
	assert_refused (&upload, TETHER_ERROR_INVALID_CERTIFICATE, "private key");
}

/* one character of the second certificate's base64 damaged: nothing of the upload is kept */
static void
test_refuse_damaged_second (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *text = pem_of (pki.leaf, pki.sub, pki.root, NULL);
	gchar *second = strstr (strstr (text, "-----END CERTIFICATE-----"), "-----BEGIN");
	gchar *body = strchr (second, '\n') + 1;

	body[10] = '!';
	upload_text (&upload, text);
	assert_refused (&upload, TETHER_ERROR_INVALID_CERTIFICATE, "certificate 2 of 3");
	assert_refused (&upload, TETHER_ERROR_INVALID_CERTIFICATE, "'!'");
}

/* a line missing from the second certificate */
static void
test_refuse_damaged_line (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *text = pem_of (pki.leaf, pki.sub, pki.root, NULL);
	gchar *second = strstr (strstr (text, "-----END CERTIFICATE-----"), "-----BEGIN");
	gchar *line = strchr (second, '\n') + 1;
	gchar *next = strchr (line, '\n') + 1;

	memmove (line, next, strlen (next) + 1);
	upload_text (&upload, text);
	assert_refused (&upload, TETHER_ERROR_INVALID_CERTIFICATE, "certificate 2 of 3");
}

static void
test_refuse_damaged_der (void)
{
	g_auto(Upload) upload = { 0 };
	g_autoptr(GBytes) der = der_of_crt (tether_test_cert_get_crt (pki.root));
	g_autoptr(GBytes) cut = g_bytes_new_from_bytes (der, 0, g_bytes_get_size (der) - 20);

	upload_bytes (&upload, cut);
	assert_refused (&upload, TETHER_ERROR_INVALID_CERTIFICATE, "certificate 1 of 1");
}

static void
test_refuse_other_block (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *cert = pem_of (pki.root, NULL);
	g_autofree gchar *text = g_strconcat (
	        cert,
	        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
	        NULL);

	upload_text (&upload, text);
	assert_refused (&upload, TETHER_ERROR_INVALID_CERTIFICATE, "PEM block 2");
}

static void
test_refuse_all_expired (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *pem = pem_of (pki.expired_root, NULL);
	g_autofree gchar *date = NULL;
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (
	        gnutls_x509_crt_get_expiration_time (tether_test_cert_get_crt (pki.expired_root)));

	date = g_date_time_format (dt, "%Y-%m-%d");
	upload_text (&upload, pem);
	assert_refused (&upload, TETHER_ERROR_INVALID_CERTIFICATE,
	                "certificate 1 of 1 ('CN=Expired Root') expired on");
	assert_refused (&upload, TETHER_ERROR_INVALID_CERTIFICATE, date);
}

/* ---- accepted with warnings ---- */

static void
test_warn_expired_member (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *pem = pem_of (pki.root, pki.expired_root, NULL);

	upload_text (&upload, pem);
	assert_accepted (&upload, 2);
	assert_warning (&upload, "certificate 2 of 2 ('CN=Expired Root') expired on", NULL);
}

static void
test_warn_not_yet_valid (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *pem = pem_of (pki.future_root, NULL);

	upload_text (&upload, pem);
	assert_accepted (&upload, 1);
	assert_warning (&upload, "certificate 1 of 1 ('CN=Future Root') is not valid before",
	                "clock");
}

static void
test_warn_duplicate (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *pem = pem_of (pki.sub, pki.root, pki.sub, NULL);

	upload_text (&upload, pem);
	assert_accepted (&upload, 2);
	assert_warning (&upload,
	                "certificate 3 of 3 ('CN=Anchor Sub') is the same as certificate 1",
	                "dropped");
	assert_cert (&upload, 0, pki.sub);
	assert_cert (&upload, 1, pki.root);
}

static void
test_warn_reversed_chain (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *pem = pem_of (pki.root, pki.sub, pki.leaf, NULL);
	g_autofree gchar *ordered = pem_of (pki.leaf, pki.sub, pki.root, NULL);

	upload_text (&upload, pem);
	assert_accepted (&upload, 3);
	assert_warning (&upload, "not in chain order", "reordered");
	assert_normalised (&upload, ordered);
}

static void
test_chain_in_order (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *pem = pem_of (pki.leaf, pki.sub, pki.root, NULL);

	upload_text (&upload, pem);
	assert_accepted (&upload, 3);
	assert_no_warnings (&upload);
	assert_normalised (&upload, pem);
}

/* several independent roots keep their order */
static void
test_bundle_of_roots (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *pem = pem_of (pki.other_root, pki.root, NULL);

	upload_text (&upload, pem);
	assert_accepted (&upload, 2);
	assert_no_warnings (&upload);
	assert_normalised (&upload, pem);
}

static void
test_warn_top_not_self_signed (void)
{
	g_auto(Upload) upload = { 0 };
	g_autofree gchar *pem = pem_of (pki.sub, NULL);

	upload_text (&upload, pem);
	assert_accepted (&upload, 1);
	assert_warning (&upload, "certificate 1 of 1 ('CN=Anchor Sub') is the top of its chain",
	                "'CN=Anchor Root'");
	assert_warning (&upload, "only a self-signed root vouches", NULL);
}

static void
test_warn_self_signed_not_ca (void)
{
	g_auto(Upload) upload = { 0 };
	gnutls_privkey_t key =
	        new_key (GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1));
	gnutls_x509_crt_t crt =
	        build_cert ("pinned.example", key, FALSE, NULL, NULL, GNUTLS_DIG_SHA256);
	g_autofree gchar *pem = crt_pem (crt);

	upload_text (&upload, pem);
	assert_accepted (&upload, 1);
	assert_warning (&upload, "('CN=pinned.example') is self-signed but not a CA", "pinned");
	gnutls_x509_crt_deinit (crt);
	gnutls_privkey_deinit (key);
}

static void
test_warn_weak_rsa (void)
{
	g_auto(Upload) upload = { 0 };
	gnutls_privkey_t key = new_key (GNUTLS_PK_RSA, 1024);
	gnutls_x509_crt_t crt = build_cert ("Weak Root", key, TRUE, NULL, NULL, GNUTLS_DIG_SHA256);
	g_autofree gchar *pem = crt_pem (crt);

	upload_text (&upload, pem);
	assert_accepted (&upload, 1);
	assert_warning (&upload, "('CN=Weak Root') has an RSA key of 1024 bits", NULL);
	gnutls_x509_crt_deinit (crt);
	gnutls_privkey_deinit (key);
}

/* a root's own SHA-1 signature is no reason to refuse it, nor to warn */
static void
test_sha1_root (void)
{
	g_auto(Upload) upload = { 0 };
	gnutls_privkey_t key = new_key (GNUTLS_PK_RSA, 2048);
	gnutls_x509_crt_t crt = build_cert ("Old Root", key, TRUE, NULL, NULL, GNUTLS_DIG_SHA1);
	g_autofree gchar *pem = crt_pem (crt);

	g_assert_cmpint (gnutls_x509_crt_get_signature_algorithm (crt), ==, GNUTLS_SIGN_RSA_SHA1);
	upload_text (&upload, pem);
	assert_accepted (&upload, 1);
	assert_no_warnings (&upload);
	g_assert_true (tether_x509_is_self_signed (g_ptr_array_index (upload.certs, 0)));
	gnutls_x509_crt_deinit (crt);
	gnutls_privkey_deinit (key);
}

/*
 * A root cross-signed by another (as Amazon's roots are by Starfield): alone it cannot vouch
 * under the trust rule, and the warning names the root it needs; beside its self-signed twin
 * it is fine.
 */
static void
test_cross_signed_root (void)
{
	g_auto(Upload) alone = { 0 };
	g_auto(Upload) pair = { 0 };
	gnutls_x509_crt_t cross =
	        build_cert ("Anchor Root", tether_test_cert_get_key (pki.root), TRUE,
	                    tether_test_cert_get_crt (pki.other_root),
	                    tether_test_cert_get_key (pki.other_root), GNUTLS_DIG_SHA256);
	g_autofree gchar *cross_pem = crt_pem (cross);
	g_autofree gchar *root_pem = pem_of (pki.root, NULL);
	g_autofree gchar *both = g_strconcat (root_pem, cross_pem, NULL);

	g_assert_false (tether_x509_is_self_signed (cross));
	upload_text (&alone, cross_pem);
	assert_accepted (&alone, 1);
	assert_warning (&alone, "('CN=Anchor Root') is the top of its chain but not self-signed",
	                "'CN=Other Root'");

	upload_text (&pair, both);
	assert_accepted (&pair, 2);
	assert_no_warnings (&pair);
	gnutls_x509_crt_deinit (cross);
}

/* a stored file whose every certificate has expired is kept (it is the operator's to replace) */
static void
test_stored_expired_kept (void)
{
	g_autofree gchar *pem = pem_of (pki.expired_root, NULL);
	g_autoptr(GBytes) data = bytes_take (g_steal_pointer (&pem));
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) parsed = tether_x509_parse_upload (data, &error);
	g_autoptr(GPtrArray) certs = NULL;

	g_assert_no_error (error);
	certs = tether_x509_prepare_anchor (parsed, pki.now, FALSE, NULL, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (certs->len, ==, 1);
}

int
main (int argc, char **argv)
{
	int status;

	g_test_init (&argc, &argv, NULL);
	pki_setup ();

	g_test_add_func ("/anchor-store/accept/pem-one", test_pem_one);
	g_test_add_func ("/anchor-store/accept/pem-crlf", test_pem_crlf);
	g_test_add_func ("/anchor-store/accept/pem-mixed-endings", test_pem_mixed_endings);
	g_test_add_func ("/anchor-store/accept/pem-bom", test_pem_bom);
	g_test_add_func ("/anchor-store/accept/pem-bag-attributes", test_pem_bag_attributes);
	g_test_add_func ("/anchor-store/accept/der", test_der);
	g_test_add_func ("/anchor-store/accept/pkcs7-der", test_pkcs7_der);
	g_test_add_func ("/anchor-store/accept/pkcs7-pem", test_pkcs7_pem);
	g_test_add_func ("/anchor-store/accept/pkcs7-any-order", test_pkcs7_any_order);
	g_test_add_func ("/anchor-store/accept/chain-in-order", test_chain_in_order);
	g_test_add_func ("/anchor-store/accept/bundle-of-roots", test_bundle_of_roots);
	g_test_add_func ("/anchor-store/accept/sha1-root", test_sha1_root);
	g_test_add_func ("/anchor-store/accept/stored-expired-kept", test_stored_expired_kept);
	g_test_add_func ("/anchor-store/refuse/empty", test_refuse_empty);
	g_test_add_func ("/anchor-store/refuse/too-large", test_refuse_too_large);
	g_test_add_func ("/anchor-store/refuse/no-certificate", test_refuse_no_certificate);
	g_test_add_func ("/anchor-store/refuse/utf16", test_refuse_utf16);
	g_test_add_func ("/anchor-store/refuse/utf32", test_refuse_utf32);
	g_test_add_func ("/anchor-store/refuse/key-pem", test_refuse_key_pem);
	g_test_add_func ("/anchor-store/refuse/key-der", test_refuse_key_der);
	g_test_add_func ("/anchor-store/refuse/damaged-second", test_refuse_damaged_second);
	g_test_add_func ("/anchor-store/refuse/damaged-line", test_refuse_damaged_line);
	g_test_add_func ("/anchor-store/refuse/damaged-der", test_refuse_damaged_der);
	g_test_add_func ("/anchor-store/refuse/other-block", test_refuse_other_block);
	g_test_add_func ("/anchor-store/refuse/all-expired", test_refuse_all_expired);
	g_test_add_func ("/anchor-store/warn/expired-member", test_warn_expired_member);
	g_test_add_func ("/anchor-store/warn/not-yet-valid", test_warn_not_yet_valid);
	g_test_add_func ("/anchor-store/warn/duplicate", test_warn_duplicate);
	g_test_add_func ("/anchor-store/warn/reversed-chain", test_warn_reversed_chain);
	g_test_add_func ("/anchor-store/warn/top-not-self-signed", test_warn_top_not_self_signed);
	g_test_add_func ("/anchor-store/warn/self-signed-not-ca", test_warn_self_signed_not_ca);
	g_test_add_func ("/anchor-store/warn/weak-rsa", test_warn_weak_rsa);
	g_test_add_func ("/anchor-store/warn/cross-signed-root", test_cross_signed_root);

	status = g_test_run ();
	pki_teardown ();
	return status;
}
