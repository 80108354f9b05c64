/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>

#include <glib/gstdio.h>

#include <tether/tether-error.h>

#include "tether-x509.h"

/* the test PKI, compiled in until the tests link tether_test_pki_dep */
#include "../tests/pki/tether-test-pki.c"

#define HOUR 3600

/* one test PKI for every test: making keys is the slow part */
static struct {
	TetherTestCert *root;
	TetherTestCert *other_root;
	TetherTestCert *sub;
	TetherTestCert *leaf;       /* localhost, 127.0.0.1, ::1; issued by sub */
	TetherTestCert *other_leaf; /* other.example, www.other.example; by other_root */
	TetherTestCert *client;     /* CN=dev-1, clientAuth only; by root */
	gint64 now;
} pki;

static TetherTestCert *
make_cert (TetherTestCertKind kind, const gchar *cn, const gchar *const *dns,
           const gchar *const *ips, gint64 not_before, gint64 not_after, TetherTestCert *issuer)
{
	TetherTestCertSpec spec = { kind, cn, NULL, dns, ips, not_before, not_after, NULL };
	g_autoptr (GError) error = NULL;
	TetherTestCert *cert = tether_test_cert_new (&spec, issuer, &error);

	g_assert_no_error (error);
	return cert;
}

static void
pki_setup (void)
{
	const gchar *const localhost[] = { "localhost", NULL };
	const gchar *const loopback[] = { "127.0.0.1", "::1", NULL };
	const gchar *const other[] = { "other.example", "www.other.example", NULL };

	pki.now = g_get_real_time () / G_USEC_PER_SEC;
	pki.root = make_cert (TETHER_TEST_CERT_CA, "Test Root", NULL, NULL, 0, 0, NULL);
	pki.other_root = make_cert (TETHER_TEST_CERT_CA, "Other Root", NULL, NULL, 0, 0, NULL);
	pki.sub = make_cert (TETHER_TEST_CERT_CA, "Test Sub", NULL, NULL, 0, 0, pki.root);
	pki.leaf = make_cert (TETHER_TEST_CERT_SERVER, "localhost", localhost, loopback, 0, 0,
	                      pki.sub);
	pki.other_leaf = make_cert (TETHER_TEST_CERT_SERVER, "other.example", other, NULL, 0, 0,
	                            pki.other_root);
	pki.client = make_cert (TETHER_TEST_CERT_CLIENT, "dev-1", NULL, NULL, 0, 0, pki.root);
}

static void
pki_teardown (void)
{
	g_clear_pointer (&pki.root, tether_test_cert_unref);
	g_clear_pointer (&pki.other_root, tether_test_cert_unref);
	g_clear_pointer (&pki.sub, tether_test_cert_unref);
	g_clear_pointer (&pki.leaf, tether_test_cert_unref);
	g_clear_pointer (&pki.other_leaf, tether_test_cert_unref);
	g_clear_pointer (&pki.client, tether_test_cert_unref);
}

static GBytes *
bytes_take_string (gchar *text)
{
	return g_bytes_new_take (text, strlen (text));
}

static GPtrArray *
parse_ok (const gchar *text)
{
	g_autoptr (GBytes) bytes = g_bytes_new (text, strlen (text));
	g_autoptr (GError) error = NULL;
	GPtrArray *certs = tether_x509_parse_pem (bytes, &error);

	g_assert_no_error (error);
	g_assert_nonnull (certs);
	return certs;
}

/* the parse fails with INVALID_CERTIFICATE; returns the message */
static gchar *
parse_error (const gchar *text)
{
	g_autoptr (GBytes) bytes = g_bytes_new (text, strlen (text));
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) certs = tether_x509_parse_pem (bytes, &error);

	g_assert_null (certs);
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE);
	return g_strdup (error->message);
}

/* leaf, sub, root as one PEM text */
static gchar *
three_cert_pem (void)
{
	g_autofree gchar *leaf = tether_test_cert_get_pem (pki.leaf);
	g_autofree gchar *sub = tether_test_cert_get_pem (pki.sub);
	g_autofree gchar *root = tether_test_cert_get_pem (pki.root);

	return g_strconcat (leaf, sub, root, NULL);
}

static void
test_parse_one (void)
{
	g_autofree gchar *pem = tether_test_cert_get_pem (pki.root);
	g_autoptr (GPtrArray) certs = parse_ok (pem);
	g_autofree gchar *subject = NULL;
	g_autofree gchar *cn = NULL;

	g_assert_cmpuint (certs->len, ==, 1);
	subject = tether_x509_get_subject (g_ptr_array_index (certs, 0));
	cn = tether_x509_get_common_name (g_ptr_array_index (certs, 0));
	g_assert_cmpstr (subject, ==, "CN=Test Root");
	g_assert_cmpstr (cn, ==, "Test Root");
}

static void
test_parse_chain (void)
{
	g_autofree gchar *pem = three_cert_pem ();
	g_autofree gchar *with_comments =
	        g_strconcat ("Bag Attributes\n  friendlyName: x\n", pem, "trailing notes\n", NULL);
	g_autoptr (GPtrArray) certs = parse_ok (with_comments);
	const gchar *expected[] = { "localhost", "Test Sub", "Test Root" };

	g_assert_cmpuint (certs->len, ==, 3);
	for (guint i = 0; i < 3; i++) {
		g_autofree gchar *cn = tether_x509_get_common_name (g_ptr_array_index (certs, i));

		g_assert_cmpstr (cn, ==, expected[i]);
	}
}

static void
test_parse_crlf (void)
{
	g_autofree gchar *pem = three_cert_pem ();
	g_auto (GStrv) lines = g_strsplit (pem, "\n", -1);
	g_autofree gchar *crlf = g_strjoinv ("\r\n", lines);
	g_autoptr (GPtrArray) lf_certs = parse_ok (pem);
	g_autoptr (GPtrArray) crlf_certs = parse_ok (crlf);

	g_assert_nonnull (strstr (crlf, "-----\r\n"));
	g_assert_cmpuint (crlf_certs->len, ==, 3);
	for (guint i = 0; i < 3; i++) {
		g_autofree gchar *a = tether_x509_get_fingerprint (g_ptr_array_index (lf_certs, i));
		g_autofree gchar *b =
		        tether_x509_get_fingerprint (g_ptr_array_index (crlf_certs, i));

		g_assert_cmpstr (a, ==, b);
	}
}

static void
test_parse_garbage (void)
{
	g_autofree gchar *empty = parse_error ("");
	g_autofree gchar *text = parse_error ("this is not a certificate\n");
	g_autofree gchar *block = parse_error ("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n"
	                                       "-----END CERTIFICATE-----\n");
	g_autofree gchar *request = parse_error ("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
	                                         "-----END CERTIFICATE REQUEST-----\n");

	g_assert_nonnull (strstr (empty, "no PEM certificate"));
	g_assert_nonnull (strstr (text, "no PEM certificate"));
	g_assert_nonnull (strstr (block, "certificate 1 of 1 is damaged"));
	g_assert_nonnull (strstr (request, "'CERTIFICATE REQUEST'"));
}

static void
test_parse_damaged_second (void)
{
	g_autofree gchar *pem = three_cert_pem ();
	g_auto (GStrv) lines = g_strsplit (pem, "\n", -1);
	g_autoptr (GString) damaged = g_string_new (NULL);
	g_autofree gchar *message = NULL;
	guint block = 0;
	guint line_in_block = 0;

	/* drop two lines from the middle of the second block */
	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix (lines[i], "-----BEGIN")) {
			block++;
			line_in_block = 0;
		}
		line_in_block++;
		if (block == 2 && (line_in_block == 3 || line_in_block == 4))
			continue;
		g_string_append_printf (damaged, "%s\n", lines[i]);
	}
	message = parse_error (damaged->str);
	g_assert_nonnull (strstr (message, "certificate 2 of 3 is damaged"));
}

static void
test_parse_truncated (void)
{
	g_autofree gchar *pem = three_cert_pem ();
	g_autofree gchar *message = NULL;

	/* cut in the middle of the last certificate */
	pem[strlen (pem) - 100] = '\0';
	message = parse_error (pem);
	g_assert_nonnull (strstr (message, "certificate 3 of 3"));
	g_assert_nonnull (strstr (message, "END CERTIFICATE"));
}

static void
test_parse_missing_end (void)
{
	g_autofree gchar *pem = three_cert_pem ();
	g_autofree gchar *message = NULL;
	gchar *first_end = strstr (pem, "-----END CERTIFICATE-----\n");

	/* the first certificate loses its END line: still three, and the first is named */
	memset (first_end, ' ', strlen ("-----END CERTIFICATE-----"));
	message = parse_error (pem);
	g_assert_nonnull (strstr (message, "certificate 1 of 3 is damaged"));
}

static void
test_parse_private_key (void)
{
	g_autofree gchar *cert = tether_test_cert_get_pem (pki.leaf);
	g_autofree gchar *key = tether_test_cert_get_key_pem (pki.leaf);
	g_autofree gchar *both = g_strconcat (cert, key, NULL);
	g_autofree gchar *message = parse_error (both);
	g_auto (GStrv) key_lines = g_strsplit (key, "\n", -1);

	g_autofree gchar *cut = g_strndup (both, strlen (both) - 40);
	g_autofree gchar *cut_message = NULL;

	g_assert_nonnull (strstr (message, "private key"));
	g_assert_nonnull (strstr (message, "block 2"));
	/* the error never carries the key */
	g_assert_null (strstr (message, key_lines[1]));

	/* a key whose block is cut short is still a key */
	cut_message = parse_error (cut);
	g_assert_nonnull (strstr (cut_message, "private key"));
	g_assert_null (strstr (cut_message, key_lines[1]));
}

static void
test_export (void)
{
	g_autofree gchar *pem = three_cert_pem ();
	g_autoptr (GPtrArray) certs = parse_ok (pem);
	g_autoptr (GError) error = NULL;
	g_autofree gchar *exported = tether_x509_export_pem (certs, &error);

	g_assert_no_error (error);
	g_assert_cmpstr (exported, ==, pem);
	g_assert_null (strchr (exported, '\r'));
}

/* SHA-256 of the DER computed with GLib, not GnuTLS */
static gchar *
independent_fingerprint (TetherTestCert *cert)
{
	gnutls_datum_t der = { NULL, 0 };
	g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
	g_autofree gchar *hex = NULL;
	GString *out = g_string_new (NULL);

	g_assert_cmpint (gnutls_x509_crt_export2 (tether_test_cert_get_crt (cert),
	                                          GNUTLS_X509_FMT_DER, &der),
	                 ==, 0);
	g_checksum_update (sum, der.data, der.size);
	gnutls_free (der.data);
	hex = g_ascii_strup (g_checksum_get_string (sum), -1);
	for (gsize i = 0; hex[i] != '\0'; i += 2)
		g_string_append_printf (out, "%s%c%c", i > 0 ? ":" : "", hex[i], hex[i + 1]);
	return g_string_free (out, FALSE);
}

static void
test_fingerprint (void)
{
	g_autofree gchar *fingerprint =
	        tether_x509_get_fingerprint (tether_test_cert_get_crt (pki.leaf));
	g_autofree gchar *expected = independent_fingerprint (pki.leaf);
	g_autofree gchar *certtool = g_find_program_in_path ("certtool");

	g_assert_cmpuint (strlen (fingerprint), ==, 32 * 3 - 1);
	g_assert_cmpstr (fingerprint, ==, expected);

	/* and what certtool says, where it is installed */
	if (certtool != NULL) {
		g_autofree gchar *dir = g_dir_make_tmp ("tether-x509-XXXXXX", NULL);
		g_autofree gchar *file = g_build_filename (dir, "leaf.pem", NULL);
		g_autofree gchar *pem = tether_test_cert_get_pem (pki.leaf);
		g_autofree gchar *out = NULL;
		g_autofree gchar *joined = NULL;
		g_autofree gchar *without_colons = NULL;
		g_auto (GStrv) pairs = g_strsplit (fingerprint, ":", -1);
		const gchar *argv[] = { certtool, "--fingerprint", "--hash",
			                "sha256", "--infile",      file,
			                NULL };
		gint status = 0;

		g_assert_true (g_file_set_contents (file, pem, -1, NULL));
		g_assert_true (g_spawn_sync (NULL, (gchar **) argv, NULL,
		                             G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
		                             &status, NULL));
		g_assert_true (g_spawn_check_wait_status (status, NULL));
		joined = g_strjoinv ("", pairs);
		without_colons = g_ascii_strdown (joined, -1);
		g_assert_cmpstr (g_strstrip (out), ==, without_colons);
		g_unlink (file);
		g_rmdir (dir);
	}
}

static void
test_attributes (void)
{
	gnutls_x509_crt_t root = tether_test_cert_get_crt (pki.root);
	gnutls_x509_crt_t sub = tether_test_cert_get_crt (pki.sub);
	gnutls_x509_crt_t leaf = tether_test_cert_get_crt (pki.leaf);
	g_autoptr (TetherTestCert) same_name = NULL;
	g_autofree gchar *serial = tether_x509_get_serial (root);
	g_autofree gchar *issuer = tether_x509_get_issuer (leaf);
	guint8 raw[32];
	size_t raw_size = sizeof (raw);
	g_autofree gchar *raw_hex = NULL;

	/* the test PKI makes positive 16-byte serials */
	g_assert_cmpint (gnutls_x509_crt_get_serial (root, raw, &raw_size), ==, 0);
	raw_hex = g_strdup_printf ("%02x%02x", raw[0], raw[1]);
	g_assert_cmpuint (strlen (serial), ==, 32);
	g_assert_true (g_str_has_prefix (serial, raw_hex));
	g_assert_cmpstr (issuer, ==, "CN=Test Sub");

	g_assert_true (tether_x509_is_ca (root));
	g_assert_true (tether_x509_is_ca (sub));
	g_assert_false (tether_x509_is_ca (leaf));
	g_assert_true (tether_x509_is_self_signed (root));
	g_assert_false (tether_x509_is_self_signed (sub));
	g_assert_false (tether_x509_is_self_signed (leaf));

	/* issuer and subject alike, but signed by another key: not self-signed */
	same_name = make_cert (TETHER_TEST_CERT_CA, "Test Root", NULL, NULL, 0, 0, pki.root);
	g_assert_false (tether_x509_is_self_signed (tether_test_cert_get_crt (same_name)));
}

static void
test_host_names (void)
{
	g_auto (GStrv) names = tether_x509_get_host_names (tether_test_cert_get_crt (pki.leaf));
	g_auto (GStrv) client = tether_x509_get_host_names (tether_test_cert_get_crt (pki.client));
	const gchar *const expected[] = { "localhost", "127.0.0.1", "::1", NULL };
	const gchar *const cn_only[] = { "dev-1", NULL };

	g_assert_cmpstrv (names, expected);
	g_assert_cmpstrv (client, cn_only);
}

static void
test_describe (void)
{
	gnutls_x509_crt_t root = tether_test_cert_get_crt (pki.root);
	g_autoptr (GVariant) d = g_variant_ref_sink (tether_x509_describe (root));
	g_autofree gchar *fingerprint = tether_x509_get_fingerprint (root);
	const gchar *s = NULL;
	gint64 t = 0;
	gboolean b = FALSE;

	g_assert_true (g_variant_is_of_type (d, G_VARIANT_TYPE_VARDICT));
	g_assert_true (g_variant_lookup (d, "subject", "&s", &s));
	g_assert_cmpstr (s, ==, "CN=Test Root");
	g_assert_true (g_variant_lookup (d, "issuer", "&s", &s));
	g_assert_cmpstr (s, ==, "CN=Test Root");
	g_assert_true (g_variant_lookup (d, "fingerprint-sha256", "&s", &s));
	g_assert_cmpstr (s, ==, fingerprint);
	g_assert_true (g_variant_lookup (d, "not-before", "x", &t));
	g_assert_cmpint (t, <=, pki.now - HOUR + 5);
	g_assert_cmpint (t, >=, pki.now - HOUR - 60);
	g_assert_true (g_variant_lookup (d, "not-after", "x", &t));
	g_assert_cmpint (t, >, pki.now + 364 * TETHER_TEST_DAY);
	g_assert_true (g_variant_lookup (d, "is-ca", "b", &b));
	g_assert_true (b);
	g_assert_true (g_variant_lookup (d, "self-signed", "b", &b));
	g_assert_true (b);
}

static void
test_key_generate (void)
{
	const gchar *names[] = { "ec-p256", "ec-p384", "rsa-2048", "rsa-3072" };
	TetherKeyType type;

	g_assert_false (tether_key_type_from_string ("dsa-1024", &type));
	g_assert_false (tether_key_type_from_string (NULL, &type));
	for (gsize i = 0; i < G_N_ELEMENTS (names); i++) {
		g_autoptr (GBytes) pem = NULL;
		g_auto (gnutls_privkey_t) key = NULL;
		g_autofree gchar *described = NULL;
		g_autoptr (GError) error = NULL;
		gsize size = 0;
		const gchar *text;

		g_assert_true (tether_key_type_from_string (names[i], &type));
		pem = tether_key_generate (type, &error);
		g_assert_no_error (error);
		text = g_bytes_get_data (pem, &size);
		g_assert_true (g_str_has_prefix (text, "-----BEGIN PRIVATE KEY-----\n"));
		key = tether_key_load_pem (pem, &error);
		g_assert_no_error (error);
		described = tether_key_describe_type (key);
		g_assert_cmpstr (described, ==, names[i]);
	}
}

/* the import of @data fails with INVALID_KEY, naming @fragment */
static void
assert_key_import_refused (GBytes *data, const gchar *fragment)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GBytes) key = tether_key_import (data, NULL, NULL, &error);

	g_assert_null (key);
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY);
	if (strstr (error->message, fragment) == NULL)
		g_error ("'%s' does not name '%s'", error->message, fragment);
}

/* a file that is not a key says what it is instead */
static void
test_key_import_not_a_key (void)
{
	g_autofree gchar *cert_pem = tether_test_cert_get_pem (pki.client);
	g_autoptr (GBytes) pem = g_bytes_new (cert_pem, strlen (cert_pem));
	g_autoptr (GBytes) text = g_bytes_new_static ("hello\n", 6);
	g_autoptr (GBytes) der = NULL;
	gnutls_datum_t out = { NULL, 0 };

	g_assert_cmpint (gnutls_x509_crt_export2 (tether_test_cert_get_crt (pki.client),
	                                          GNUTLS_X509_FMT_DER, &out),
	                 ==, 0);
	der = g_bytes_new (out.data, out.size);
	gnutls_free (out.data);

	assert_key_import_refused (pem, "holds certificates and no private key");
	assert_key_import_refused (der, "holds a certificate (DER)");
	assert_key_import_refused (text, "neither PEM");
}

/* the certificates that follow a key in one PEM file, without the key */
static void
test_pem_certificate_blocks (void)
{
	g_autofree gchar *key = tether_test_cert_get_key_pem (pki.client);
	g_autofree gchar *leaf = tether_test_cert_get_pem (pki.client);
	g_autofree gchar *root = tether_test_cert_get_pem (pki.root);
	g_autofree gchar *text = g_strconcat (key, "Bag Attributes\r\n", leaf, root, NULL);
	g_autoptr (GBytes) data = g_bytes_new (text, strlen (text));
	g_autoptr (GBytes) key_only = g_bytes_new (key, strlen (key));
	g_autoptr (GBytes) certs_pem = tether_pem_certificate_blocks (data);
	g_autoptr (GPtrArray) certs = NULL;
	g_autoptr (GError) error = NULL;
	const gchar *pem_text;
	gsize size = 0;

	g_assert_nonnull (certs_pem);
	pem_text = g_bytes_get_data (certs_pem, &size);
	g_assert_null (g_strstr_len (pem_text, (gssize) size, "PRIVATE KEY"));
	certs = tether_x509_parse_pem (certs_pem, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (certs->len, ==, 2);
	g_assert_null (tether_pem_certificate_blocks (key_only));
}

static GBytes *
export_legacy_key (gnutls_privkey_t key)
{
	g_auto (gnutls_x509_privkey_t) x509_key = NULL;
	gnutls_datum_t pem = { NULL, 0 };
	GBytes *bytes;

	g_assert_cmpint (gnutls_privkey_export_x509 (key, &x509_key), ==, 0);
	g_assert_cmpint (gnutls_x509_privkey_export2 (x509_key, GNUTLS_X509_FMT_PEM, &pem), ==, 0);
	bytes = g_bytes_new (pem.data, pem.size);
	gnutls_free (pem.data);
	return bytes;
}

static void
test_key_load_formats (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GBytes) rsa_pem = tether_key_generate (TETHER_KEY_TYPE_RSA_2048, &error);
	g_auto (gnutls_privkey_t) rsa = tether_key_load_pem (rsa_pem, &error);
	g_autoptr (GBytes) pkcs1 = export_legacy_key (rsa);
	g_autoptr (GBytes) sec1 = export_legacy_key (tether_test_cert_get_key (pki.leaf));
	g_autoptr (GBytes) encrypted = NULL;
	g_autoptr (GBytes) garbage = g_bytes_new_static ("hello\n", 6);
	g_auto (gnutls_privkey_t) loaded = NULL;
	g_auto (gnutls_x509_privkey_t) x509_key = NULL;
	gnutls_datum_t pem = { NULL, 0 };

	g_assert_no_error (error);
	g_assert_nonnull (strstr (g_bytes_get_data (pkcs1, NULL), "BEGIN RSA PRIVATE KEY"));
	loaded = tether_key_load_pem (pkcs1, &error);
	g_assert_no_error (error);
	g_clear_pointer (&loaded, gnutls_privkey_deinit);

	g_assert_nonnull (strstr (g_bytes_get_data (sec1, NULL), "BEGIN EC PRIVATE KEY"));
	loaded = tether_key_load_pem (sec1, &error);
	g_assert_no_error (error);
	g_assert_true (
	        tether_key_matches_certificate (loaded, tether_test_cert_get_crt (pki.leaf)));
	g_clear_pointer (&loaded, gnutls_privkey_deinit);

	/* an encrypted key needs its password, which this function never takes */
	g_assert_cmpint (gnutls_privkey_export_x509 (rsa, &x509_key), ==, 0);
	g_assert_cmpint (gnutls_x509_privkey_export2_pkcs8 (x509_key, GNUTLS_X509_FMT_PEM, "secret",
	                                                    GNUTLS_PKCS_PBES2_AES_256, &pem),
	                 ==, 0);
	encrypted = g_bytes_new (pem.data, pem.size);
	gnutls_free (pem.data);
	loaded = tether_key_load_pem (encrypted, &error);
	g_assert_null (loaded);
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY);
	g_assert_nonnull (strstr (error->message, "encrypted"));
	g_clear_error (&error);

	loaded = tether_key_load_pem (garbage, &error);
	g_assert_null (loaded);
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY);
}

static void
test_key_match (void)
{
	gnutls_privkey_t leaf_key = tether_test_cert_get_key (pki.leaf);
	g_autofree gchar *pem = tether_test_cert_get_key_pem (pki.client);
	g_autoptr (GBytes) bytes = bytes_take_string (g_steal_pointer (&pem));
	g_autoptr (GError) error = NULL;
	g_auto (gnutls_privkey_t) client_key = tether_key_load_pem (bytes, &error);

	g_assert_no_error (error);
	g_assert_true (
	        tether_key_matches_certificate (leaf_key, tether_test_cert_get_crt (pki.leaf)));
	g_assert_true (
	        tether_key_matches_certificate (client_key, tether_test_cert_get_crt (pki.client)));
	g_assert_false (
	        tether_key_matches_certificate (client_key, tether_test_cert_get_crt (pki.leaf)));
	g_assert_false (
	        tether_key_matches_certificate (leaf_key, tether_test_cert_get_crt (pki.root)));
}

static gnutls_privkey_t
new_device_key (void)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GBytes) pem = tether_key_generate (TETHER_KEY_TYPE_EC_P256, &error);
	gnutls_privkey_t key;

	g_assert_no_error (error);
	key = tether_key_load_pem (pem, &error);
	g_assert_no_error (error);
	return key;
}

static GVariant *
parse_options (const gchar *text)
{
	g_autoptr (GError) error = NULL;
	GVariant *v = g_variant_parse (G_VARIANT_TYPE_VARDICT, text, NULL, NULL, &error);

	g_assert_no_error (error);
	return v;
}

static void
test_csr_round_trip (void)
{
	g_auto (gnutls_privkey_t) key = new_device_key ();
	g_autoptr (GVariant) options = parse_options (
	        "{'common-name': <'dev-0042'>, 'organization': <'Acme'>, "
	        "'organizational-unit': <'Sensors'>, 'country': <'de'>, "
	        "'dns-names': <['dev-0042.local']>, 'uris': <['urn:acme:device:42']>, "
	        "'key-type': <'ec-p256'>}");
	g_autoptr (GError) error = NULL;
	g_autofree gchar *csr = tether_csr_create (key, options, &error);
	g_auto (gnutls_x509_crq_t) crq = NULL;
	gnutls_datum_t datum;
	gnutls_datum_t dn = { NULL, 0 };
	g_autofree gchar *dn_text = NULL;
	char buf[256];
	size_t size = sizeof (buf);
	unsigned int usage = 0;
	unsigned int critical = 0;
	unsigned int san_type = 0;
	g_autoptr (TetherTestCert) issued = NULL;

	g_assert_no_error (error);
	g_assert_true (g_str_has_prefix (csr, "-----BEGIN NEW CERTIFICATE REQUEST-----\n") ||
	               g_str_has_prefix (csr, "-----BEGIN CERTIFICATE REQUEST-----\n"));

	/* what a CA reads from it */
	datum.data = (unsigned char *) csr;
	datum.size = strlen (csr);
	g_assert_cmpint (gnutls_x509_crq_init (&crq), ==, 0);
	g_assert_cmpint (gnutls_x509_crq_import (crq, &datum, GNUTLS_X509_FMT_PEM), ==, 0);
	g_assert_cmpint (gnutls_x509_crq_verify (crq, 0), ==, 0);
	g_assert_cmpint (gnutls_x509_crq_get_dn3 (crq, &dn, 0), ==, 0);
	dn_text = g_strndup ((const gchar *) dn.data, dn.size);
	gnutls_free (dn.data);
	g_assert_cmpstr (dn_text, ==, "CN=dev-0042,OU=Sensors,O=Acme,C=DE");
	g_assert_cmpint (
	        gnutls_x509_crq_get_dn_by_oid (crq, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size),
	        ==, 0);
	g_assert_cmpstr (buf, ==, "dev-0042");
	size = sizeof (buf);
	g_assert_cmpint (gnutls_x509_crq_get_key_purpose_oid (crq, 0, buf, &size, &critical), ==,
	                 0);
	g_assert_cmpstr (buf, ==, GNUTLS_KP_TLS_WWW_CLIENT);
	size = sizeof (buf);
	g_assert_cmpint (gnutls_x509_crq_get_key_purpose_oid (crq, 1, buf, &size, &critical), ==,
	                 GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
	g_assert_cmpint (gnutls_x509_crq_get_key_usage (crq, &usage, &critical), ==, 0);
	g_assert_cmpuint (usage, ==, GNUTLS_KEY_DIGITAL_SIGNATURE);
	size = sizeof (buf);
	g_assert_cmpint (
	        gnutls_x509_crq_get_subject_alt_name (crq, 0, buf, &size, &san_type, &critical), >=,
	        0);
	g_assert_cmpuint (san_type, ==, GNUTLS_SAN_DNSNAME);
	g_assert_cmpstr (buf, ==, "dev-0042.local");
	size = sizeof (buf);
	g_assert_cmpint (
	        gnutls_x509_crq_get_subject_alt_name (crq, 1, buf, &size, &san_type, &critical), >=,
	        0);
	g_assert_cmpuint (san_type, ==, GNUTLS_SAN_URI);
	g_assert_cmpstr (buf, ==, "urn:acme:device:42");

	/* a CA issues a certificate that goes with the device's key */
	issued = tether_test_cert_sign_csr (pki.root, csr, 0, 0, &error);
	g_assert_no_error (error);
	g_assert_true (tether_key_matches_certificate (key, tether_test_cert_get_crt (issued)));
}

static void
assert_csr_refused (gnutls_privkey_t key, const gchar *options_text, const gchar *fragment)
{
	g_autoptr (GVariant) options = parse_options (options_text);
	g_autoptr (GError) error = NULL;
	g_autofree gchar *csr = tether_csr_create (key, options, &error);
	g_autoptr (GError) check_error = NULL;

	g_assert_null (csr);
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
	if (strstr (error->message, fragment) == NULL)
		g_error ("'%s' does not name '%s'", error->message, fragment);

	/* the same refusal before any key is made for the request */
	g_assert_false (tether_csr_check_options (options, &check_error));
	g_assert_error (check_error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
	g_assert_cmpstr (check_error->message, ==, error->message);
}

static void
test_csr_invalid_options (void)
{
	g_auto (gnutls_privkey_t) key = new_device_key ();
	g_autofree gchar *long_cn = g_strdup_printf ("{'common-name': <'%065d'>}", 0);
	g_autofree gchar *max_cn = g_strdup_printf ("{'common-name': <'%064d'>}", 0);
	g_autoptr (GVariant) max_options = parse_options (max_cn);
	g_autoptr (GError) error = NULL;
	g_autofree gchar *csr = NULL;

	assert_csr_refused (key, "@a{sv} {}", "'common-name'");
	assert_csr_refused (key, "{'common-name': <''>}", "'common-name'");
	assert_csr_refused (key, long_cn, "'common-name'");
	assert_csr_refused (key, "{'common-name': <'d'>, 'country': <'DEU'>}", "'country'");
	assert_csr_refused (key, "{'common-name': <'d'>, 'country': <'D1'>}", "'country'");
	assert_csr_refused (key, "{'common-name': <'d'>, 'country': <int32 49>}", "'country'");
	assert_csr_refused (key, "{'common-name': <'d'>, 'colour': <'blue'>}", "'colour'");
	assert_csr_refused (key, "{'common-name': <'d'>, 'dns-names': <'a.example'>}",
	                    "'dns-names'");
	assert_csr_refused (key, "{'common-name': <'d'>, 'dns-names': <['a b']>}", "'dns-names'");
	assert_csr_refused (key, "{'common-name': <'d'>, 'uris': <['not a uri']>}", "'uris'");

	/* 64 characters is the limit, not beyond it */
	csr = tether_csr_create (key, max_options, &error);
	g_assert_no_error (error);
	g_assert_nonnull (csr);
}

/* the result, its message, and the top issuer and names it reports */
typedef struct {
	TetherTrustResult result;
	gchar *message;
	gchar *top_issuer;
	GStrv names;
} Verdict;

static void
verdict_clear (Verdict *v)
{
	g_free (v->message);
	g_free (v->top_issuer);
	g_strfreev (v->names);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Verdict, verdict_clear)

static GPtrArray *
list_of (TetherTestCert *first, ...)
{
	GPtrArray *list = tether_x509_list_new ();
	va_list args;

	va_start (args, first);
	for (TetherTestCert *c = first; c != NULL; c = va_arg (args, TetherTestCert *)) {
		g_autofree gchar *pem = tether_test_cert_get_pem (c);
		g_autoptr (GPtrArray) parsed = parse_ok (pem);

		g_ptr_array_add (list, g_ptr_array_steal_index (parsed, 0));
	}
	va_end (args);
	return list;
}

static void
verify (Verdict *v, GPtrArray *chain, GPtrArray *anchors, const gchar *host, gint64 now)
{
	v->result = tether_trust_verify (chain, anchors, host, now, "tb-ca", &v->message,
	                                 &v->top_issuer, &v->names);
	g_test_message ("%s: %s", tether_trust_result_to_string (v->result),
	                v->message != NULL ? v->message : "(no message)");
}

static void
test_trust_ok (void)
{
	g_autoptr (GPtrArray) chain = list_of (pki.leaf, pki.sub, NULL);
	g_autoptr (GPtrArray) full_chain = list_of (pki.leaf, pki.sub, pki.root, NULL);
	g_autoptr (GPtrArray) unsorted = list_of (pki.leaf, pki.root, pki.sub, NULL);
	g_autoptr (GPtrArray) anchors = list_of (pki.other_root, pki.root, NULL);
	g_auto (Verdict) v = { 0 };
	g_auto (Verdict) full = { 0 };
	g_auto (Verdict) mixed = { 0 };
	g_auto (Verdict) by_ip = { 0 };
	g_auto (Verdict) no_host = { 0 };
	g_auto (Verdict) stray = { 0 };
	g_auto (Verdict) pinned = { 0 };
	g_autoptr (TetherTestCert) stray_sub = make_cert (TETHER_TEST_CERT_CA, "Stray Sub", NULL,
	                                                  NULL, 0, 0, pki.other_root);
	g_autoptr (GPtrArray) with_stray = list_of (stray_sub, pki.root, NULL);
	g_autoptr (GPtrArray) root_only = list_of (pki.root, NULL);
	const gchar *const names[] = { "localhost", "127.0.0.1", "::1", NULL };

	verify (&v, chain, anchors, "localhost", pki.now);
	g_assert_cmpint (v.result, ==, TETHER_TRUST_OK);
	g_assert_null (v.message);
	g_assert_cmpstr (v.top_issuer, ==, "CN=Test Root");
	g_assert_cmpstrv (v.names, names);

	verify (&full, full_chain, anchors, "localhost", pki.now);
	g_assert_cmpint (full.result, ==, TETHER_TRUST_OK);
	verify (&mixed, unsorted, anchors, "LOCALHOST", pki.now);
	g_assert_cmpint (mixed.result, ==, TETHER_TRUST_OK);
	verify (&by_ip, chain, anchors, "127.0.0.1", pki.now);
	g_assert_cmpint (by_ip.result, ==, TETHER_TRUST_OK);
	verify (&no_host, chain, anchors, NULL, pki.now);
	g_assert_cmpint (no_host.result, ==, TETHER_TRUST_OK);

	/* an unrelated intermediate among the anchors changes nothing */
	verify (&stray, chain, with_stray, "localhost", pki.now);
	g_assert_cmpint (stray.result, ==, TETHER_TRUST_OK);

	/* a self-signed server certificate pinned as the anchor */
	verify (&pinned, root_only, root_only, NULL, pki.now);
	g_assert_cmpint (pinned.result, ==, TETHER_TRUST_OK);
}

static void
test_trust_unknown_issuer (void)
{
	g_autoptr (GPtrArray) chain = list_of (pki.leaf, pki.sub, NULL);
	g_autoptr (GPtrArray) anchors = list_of (pki.other_root, NULL);
	g_autoptr (GPtrArray) self_signed = list_of (pki.root, NULL);
	g_autoptr (GPtrArray) no_anchors = tether_x509_list_new ();
	g_auto (Verdict) v = { 0 };
	g_auto (Verdict) top = { 0 };
	g_auto (Verdict) none = { 0 };

	verify (&v, chain, anchors, "localhost", pki.now);
	g_assert_cmpint (v.result, ==, TETHER_TRUST_UNKNOWN_ISSUER);
	g_assert_cmpstr (v.top_issuer, ==, "CN=Test Root");
	g_assert_cmpstr (v.message, ==,
	                 "the server's certificate chain ends at 'CN=Test Root', which the trust "
	                 "anchors 'tb-ca' do not vouch for: add that root as a trust anchor, or "
	                 "check the endpoint");

	/* a server whose chain is one self-signed certificate */
	verify (&top, self_signed, anchors, NULL, pki.now);
	g_assert_cmpint (top.result, ==, TETHER_TRUST_UNKNOWN_ISSUER);
	g_assert_nonnull (strstr (top.message, "'CN=Test Root' (self-signed)"));

	verify (&none, chain, no_anchors, "localhost", pki.now);
	g_assert_cmpint (none.result, ==, TETHER_TRUST_UNKNOWN_ISSUER);
	g_assert_nonnull (strstr (none.message, "no trust anchor is given"));
}

static void
test_trust_intermediate_anchor (void)
{
	g_autoptr (GPtrArray) chain = list_of (pki.leaf, pki.sub, NULL);
	g_autoptr (GPtrArray) leaf_only = list_of (pki.leaf, NULL);
	g_autoptr (GPtrArray) sub_only = list_of (pki.sub, NULL);
	g_autoptr (GPtrArray) sub_and_root = list_of (pki.sub, pki.root, NULL);
	g_auto (Verdict) v = { 0 };
	g_auto (Verdict) short_chain = { 0 };
	g_auto (Verdict) with_root = { 0 };

	/* an intermediate cannot vouch, as OpenSSL in Paho decides */
	verify (&v, chain, sub_only, "localhost", pki.now);
	g_assert_cmpint (v.result, ==, TETHER_TRUST_UNKNOWN_ISSUER);
	g_assert_nonnull (strstr (v.message, "'CN=Test Sub', which is not a self-signed root"));
	g_assert_nonnull (strstr (v.message, "add its root 'CN=Test Root'"));

	/* the server omits the intermediate the anchors hold: still the root is missing */
	verify (&short_chain, leaf_only, sub_only, "localhost", pki.now);
	g_assert_cmpint (short_chain.result, ==, TETHER_TRUST_UNKNOWN_ISSUER);
	g_assert_cmpstr (short_chain.top_issuer, ==, "CN=Test Root");
	g_assert_nonnull (strstr (short_chain.message, "add its root 'CN=Test Root'"));

	/* with their root the same anchors vouch, and fill the server's gap as OpenSSL does */
	verify (&with_root, leaf_only, sub_and_root, "localhost", pki.now);
	g_assert_cmpint (with_root.result, ==, TETHER_TRUST_OK);
}

static void
test_trust_host_mismatch (void)
{
	g_autoptr (GPtrArray) chain = list_of (pki.other_leaf, NULL);
	g_autoptr (GPtrArray) anchors = list_of (pki.other_root, NULL);
	g_autoptr (GPtrArray) local_chain = list_of (pki.leaf, pki.sub, NULL);
	g_autoptr (GPtrArray) local_anchors = list_of (pki.root, NULL);
	g_auto (Verdict) v = { 0 };
	g_auto (Verdict) ip = { 0 };
	const gchar *const names[] = { "other.example", "www.other.example", NULL };

	verify (&v, chain, anchors, "localhost", pki.now);
	g_assert_cmpint (v.result, ==, TETHER_TRUST_HOST_MISMATCH);
	g_assert_true (g_str_has_prefix (v.message, "the server's certificate is for "
	                                            "'other.example', 'www.other.example', not "
	                                            "'localhost'"));
	g_assert_cmpstrv (v.names, names);

	verify (&ip, local_chain, local_anchors, "127.0.0.2", pki.now);
	g_assert_cmpint (ip.result, ==, TETHER_TRUST_HOST_MISMATCH);
	g_assert_nonnull (strstr (ip.message, "'localhost', '127.0.0.1', '::1', not '127.0.0.2'"));
}

static gchar *
iso_date (gint64 t)
{
	g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (t);

	return g_date_time_format_iso8601 (dt);
}

static void
test_trust_expired (void)
{
	const gchar *const localhost[] = { "localhost", NULL };
	gint64 expired_at = pki.now - TETHER_TEST_DAY;
	gint64 starts_at = pki.now + 10 * TETHER_TEST_DAY;
	g_autoptr (TetherTestCert) expired =
	                   make_cert (TETHER_TEST_CERT_SERVER, "localhost", localhost, NULL,
	                              pki.now - 30 * TETHER_TEST_DAY, expired_at, pki.root);
	g_autoptr (TetherTestCert) future =
	                   make_cert (TETHER_TEST_CERT_SERVER, "localhost", localhost, NULL,
	                              starts_at, starts_at + TETHER_TEST_DAY, pki.root);
	g_autoptr (TetherTestCert) old_root =
	                   make_cert (TETHER_TEST_CERT_CA, "Old Root", NULL, NULL,
	                              pki.now - 30 * TETHER_TEST_DAY, expired_at, NULL);
	g_autoptr (TetherTestCert) under_old = make_cert (TETHER_TEST_CERT_SERVER, "localhost",
	                                                  localhost, NULL, 0, 0, old_root);
	g_autoptr (GPtrArray) anchors = list_of (pki.root, NULL);
	g_autoptr (GPtrArray) old_anchors = list_of (old_root, NULL);
	g_autoptr (GPtrArray) expired_chain = list_of (expired, NULL);
	g_autoptr (GPtrArray) future_chain = list_of (future, NULL);
	g_autoptr (GPtrArray) good_chain = list_of (pki.leaf, pki.sub, NULL);
	g_autoptr (GPtrArray) old_chain = list_of (under_old, NULL);
	g_autofree gchar *expired_date = iso_date (expired_at);
	g_autofree gchar *start_date = iso_date (starts_at);
	g_autofree gchar *leaf_date = iso_date (
	        gnutls_x509_crt_get_expiration_time (tether_test_cert_get_crt (pki.leaf)));
	g_auto (Verdict) v = { 0 };
	g_auto (Verdict) not_yet = { 0 };
	g_auto (Verdict) later = { 0 };
	g_auto (Verdict) anchor = { 0 };

	verify (&v, expired_chain, anchors, "localhost", pki.now);
	g_assert_cmpint (v.result, ==, TETHER_TRUST_EXPIRED);
	g_assert_nonnull (strstr (v.message, "the server's certificate 'CN=localhost'"));
	g_assert_nonnull (strstr (v.message, expired_date));

	verify (&not_yet, future_chain, anchors, "localhost", pki.now);
	g_assert_cmpint (not_yet.result, ==, TETHER_TRUST_NOT_YET_VALID);
	g_assert_nonnull (strstr (not_yet.message, start_date));

	/* @now is the clock: two years on, everything has expired; the leaf is named first */
	verify (&later, good_chain, anchors, "localhost", pki.now + 2 * 365 * TETHER_TEST_DAY);
	g_assert_cmpint (later.result, ==, TETHER_TRUST_EXPIRED);
	g_assert_nonnull (strstr (later.message, "the server's certificate 'CN=localhost'"));
	g_assert_nonnull (strstr (later.message, leaf_date));

	verify (&anchor, old_chain, old_anchors, "localhost", pki.now);
	g_assert_cmpint (anchor.result, ==, TETHER_TRUST_EXPIRED);
	g_assert_nonnull (strstr (anchor.message, "trust anchor certificate 'CN=Old Root'"));
}

static void
test_trust_invalid (void)
{
	/* a client certificate offered as a server's: the wrong purpose */
	g_autoptr (GPtrArray) chain = list_of (pki.client, NULL);
	g_autoptr (GPtrArray) anchors = list_of (pki.root, NULL);
	g_autoptr (GPtrArray) empty = tether_x509_list_new ();
	g_auto (Verdict) v = { 0 };
	g_auto (Verdict) nothing = { 0 };

	verify (&v, chain, anchors, NULL, pki.now);
	g_assert_cmpint (v.result, ==, TETHER_TRUST_INVALID);
	g_assert_nonnull (strstr (v.message, "not meant for a TLS server"));

	verify (&nothing, empty, anchors, NULL, pki.now);
	g_assert_cmpint (nothing.result, ==, TETHER_TRUST_INVALID);
	g_assert_nonnull (strstr (nothing.message, "no certificate"));
}

int
main (int argc, char **argv)
{
	int rc;

	g_test_init (&argc, &argv, NULL);
	pki_setup ();

	g_test_add_func ("/x509/parse/one", test_parse_one);
	g_test_add_func ("/x509/parse/chain", test_parse_chain);
	g_test_add_func ("/x509/parse/crlf", test_parse_crlf);
	g_test_add_func ("/x509/parse/garbage", test_parse_garbage);
	g_test_add_func ("/x509/parse/damaged-second", test_parse_damaged_second);
	g_test_add_func ("/x509/parse/truncated", test_parse_truncated);
	g_test_add_func ("/x509/parse/missing-end", test_parse_missing_end);
	g_test_add_func ("/x509/parse/private-key", test_parse_private_key);
	g_test_add_func ("/x509/export", test_export);
	g_test_add_func ("/x509/fingerprint", test_fingerprint);
	g_test_add_func ("/x509/attributes", test_attributes);
	g_test_add_func ("/x509/host-names", test_host_names);
	g_test_add_func ("/x509/describe", test_describe);
	g_test_add_func ("/x509/key/generate", test_key_generate);
	g_test_add_func ("/x509/key/load-formats", test_key_load_formats);
	g_test_add_func ("/x509/key/import-not-a-key", test_key_import_not_a_key);
	g_test_add_func ("/x509/pem/certificate-blocks", test_pem_certificate_blocks);
	g_test_add_func ("/x509/key/match", test_key_match);
	g_test_add_func ("/x509/csr/round-trip", test_csr_round_trip);
	g_test_add_func ("/x509/csr/invalid-options", test_csr_invalid_options);
	g_test_add_func ("/x509/trust/ok", test_trust_ok);
	g_test_add_func ("/x509/trust/unknown-issuer", test_trust_unknown_issuer);
	g_test_add_func ("/x509/trust/intermediate-anchor", test_trust_intermediate_anchor);
	g_test_add_func ("/x509/trust/host-mismatch", test_trust_host_mismatch);
	g_test_add_func ("/x509/trust/expired", test_trust_expired);
	g_test_add_func ("/x509/trust/invalid", test_trust_invalid);

	rc = g_test_run ();
	pki_teardown ();
	return rc;
}
