/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * Integration tests for trust anchors: the real tetherd on a private bus, driven through D-Bus
 * and through tetherctl, with every upload made at test time; the live check and rotation
 * against a real mosquitto with mutual TLS; bundled anchors from a test-only cloud plugin
 * (cloud-anchortest.c).
 */
#include "tether-test-env.h"

#include <glib/gstdio.h>
#include <gnutls/crypto.h>
#include <gnutls/pkcs7.h>
#include <string.h>

#include "tether-test-pki.h"

#define DEVICE_CN  "anchor-device"
#define CONNECTION "c1"
#define DAY        TETHER_TEST_DAY

/* ---- a PKI of the test's own, for uploads ---- */

typedef struct {
	TetherTestCert *root;
	TetherTestCert *other_root;
	TetherTestCert *sub;
	TetherTestCert *leaf;
	TetherTestCert *expired_root;
	gint64 now;
} Pki;

static void
pki_clear (Pki *pki)
{
	g_clear_pointer (&pki->root, tether_test_cert_unref);
	g_clear_pointer (&pki->other_root, tether_test_cert_unref);
	g_clear_pointer (&pki->sub, tether_test_cert_unref);
	g_clear_pointer (&pki->leaf, tether_test_cert_unref);
	g_clear_pointer (&pki->expired_root, tether_test_cert_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Pki, pki_clear)

static TetherTestCert *
make_cert (TetherTestCertKind kind, const char *cn, gint64 not_before, gint64 not_after,
           TetherTestCert *issuer)
{
	const char *const localhost[] = { "localhost", NULL };
	const char *const loopback[] = { "127.0.0.1", NULL };
	TetherTestCertSpec spec = { kind, cn, NULL, NULL, NULL, not_before, not_after, NULL };
	g_autoptr(GError) error = NULL;
	TetherTestCert *cert;

	if (kind == TETHER_TEST_CERT_SERVER) {
		spec.dns_names = localhost;
		spec.ip_addresses = loopback;
	}
	cert = tether_test_cert_new (&spec, issuer, &error);
	g_assert_no_error (error);
	return cert;
}

static void
pki_make (Pki *pki)
{
	pki->now = g_get_real_time () / G_USEC_PER_SEC;
	pki->root = make_cert (TETHER_TEST_CERT_CA, "Upload Root", 0, 0, NULL);
	pki->other_root = make_cert (TETHER_TEST_CERT_CA, "Upload Other Root", 0, 0, NULL);
	pki->sub = make_cert (TETHER_TEST_CERT_CA, "Upload Sub", 0, 0, pki->root);
	pki->leaf = make_cert (TETHER_TEST_CERT_SERVER, "localhost", 0, 0, pki->sub);
	pki->expired_root = make_cert (TETHER_TEST_CERT_CA, "Upload Expired Root",
	                               pki->now - 30 * DAY, pki->now - 2 * DAY, NULL);
}

static char *
pem_of (TetherTestCert *first, ...)
{
	GString *out = g_string_new (NULL);
	va_list args;

	va_start (args, first);
	for (TetherTestCert *cert = first; cert != NULL; cert = va_arg (args, TetherTestCert *)) {
		g_autofree char *pem = tether_test_cert_get_pem (cert);

		g_string_append (out, pem);
	}
	va_end (args);
	return g_string_free (out, FALSE);
}

static char *
crt_pem (gnutls_x509_crt_t crt)
{
	gnutls_datum_t out = { NULL, 0 };
	char *pem;

	g_assert_cmpint (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &out), ==, 0);
	pem = g_strndup ((const char *) out.data, out.size);
	gnutls_free (out.data);
	return pem;
}

static GBytes *
crt_der (gnutls_x509_crt_t crt)
{
	gnutls_datum_t out = { NULL, 0 };
	GBytes *bytes;

	g_assert_cmpint (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_DER, &out), ==, 0);
	bytes = g_bytes_new (out.data, out.size);
	gnutls_free (out.data);
	return bytes;
}

static GBytes *
pkcs7_of (gnutls_x509_crt_fmt_t format, TetherTestCert *first, TetherTestCert *second)
{
	gnutls_pkcs7_t pkcs7 = NULL;
	gnutls_datum_t out = { NULL, 0 };
	GBytes *bytes;

	g_assert_cmpint (gnutls_pkcs7_init (&pkcs7), ==, 0);
	g_assert_cmpint (gnutls_pkcs7_set_crt (pkcs7, tether_test_cert_get_crt (first)), ==, 0);
	g_assert_cmpint (gnutls_pkcs7_set_crt (pkcs7, tether_test_cert_get_crt (second)), ==, 0);
	g_assert_cmpint (gnutls_pkcs7_export2 (pkcs7, format, &out), ==, 0);
	gnutls_pkcs7_deinit (pkcs7);
	bytes = g_bytes_new (out.data, out.size);
	gnutls_free (out.data);
	return bytes;
}

/*
 * What the test PKI does not make: a certificate for @key (a self-signed one when @issuer is
 * NULL) signed with @digest.
 */
static gnutls_x509_crt_t
build_cert (const char *cn, gnutls_privkey_t key, gboolean ca, gnutls_x509_crt_t issuer,
            gnutls_privkey_t issuer_key)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_crt_t result = NULL;
	gnutls_pubkey_t pubkey = NULL;
	gnutls_datum_t der = { NULL, 0 };
	guint8 serial[8];
	gint64 now = g_get_real_time () / G_USEC_PER_SEC;

	g_assert_cmpint (gnutls_pubkey_init (&pubkey), ==, 0);
	g_assert_cmpint (gnutls_pubkey_import_privkey (pubkey, key, 0, 0), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_version (crt, 3), ==, 0);
	gnutls_rnd (GNUTLS_RND_NONCE, serial, sizeof (serial));
	serial[0] &= 0x7f;
	g_assert_cmpint (gnutls_x509_crt_set_serial (crt, serial, sizeof (serial)), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_activation_time (crt, now - DAY), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_expiration_time (crt, now + 365 * DAY), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_pubkey (crt, pubkey), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
	                                                strlen (cn)),
	                 ==, 0);
	g_assert_cmpint (gnutls_x509_crt_set_basic_constraints (crt, ca, -1), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_privkey_sign (crt, issuer != NULL ? issuer : crt,
	                                               issuer_key != NULL ? issuer_key : key,
	                                               GNUTLS_DIG_SHA256, 0),
	                 ==, 0);
	g_assert_cmpint (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_DER, &der), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_init (&result), ==, 0);
	g_assert_cmpint (gnutls_x509_crt_import (result, &der, GNUTLS_X509_FMT_DER), ==, 0);
	gnutls_free (der.data);
	gnutls_x509_crt_deinit (crt);
	gnutls_pubkey_deinit (pubkey);
	return result;
}

static char *
to_crlf (const char *text)
{
	g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

	return g_strjoinv ("\r\n", lines);
}

static GBytes *
bytes_take (char *text)
{
	return g_bytes_new_take (text, strlen (text));
}

/* ---- the daemon's side ---- */

static GVariant *
bytes_variant (GBytes *data)
{
	return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, g_bytes_get_data (data, NULL),
	                                  g_bytes_get_size (data), 1);
}

static gboolean
dbus_add (TetherTestEnv *env, const char *name, GBytes *data, gboolean replace, GStrv *warnings,
          GError **error)
{
	g_autoptr(GVariantDict) options = g_variant_dict_new (NULL);
	g_autofree char *path = NULL;

	if (replace)
		g_variant_dict_insert (options, "replace", "b", TRUE);
	return tether_dbus_tether1_call_add_trust_anchor_sync (
	        tether_test_env_get_manager (env), name, bytes_variant (data),
	        g_variant_dict_end (options), G_DBUS_CALL_FLAGS_NONE, -1, &path, warnings, NULL,
	        error);
}

static TetherTestCtlResult *
ctl_add (TetherTestEnv *env, const char *name, GBytes *data)
{
	g_autofree char *file_name = g_strdup_printf ("%s.upload", name);
	g_autofree char *path = tether_test_env_write_file (
	        env, file_name, g_bytes_get_data (data, NULL), (gssize) g_bytes_get_size (data));

	return tether_test_env_ctl (env, NULL, "anchor", "add", name, path, NULL);
}

static char *
stored_file (TetherTestEnv *env, const char *name)
{
	g_autofree char *base = g_strdup_printf ("%s.pem", name);
	g_autofree char *path =
	        g_build_filename (tether_test_env_get_state_dir (env), "anchors", base, NULL);
	char *contents = NULL;

	if (!g_file_get_contents (path, &contents, NULL, NULL))
		return NULL;
	return contents;
}

static char *
daemon_log (TetherTestEnv *env)
{
	char *log = NULL;

	g_assert_true (
	        g_file_get_contents (tether_test_env_get_daemon_log (env), &log, NULL, NULL));
	return log;
}

static guint
count_in (const char *haystack, const char *needle)
{
	guint n = 0;

	for (const char *p = strstr (haystack, needle); p != NULL; p = strstr (p + 1, needle))
		n++;
	return n;
}

static gboolean
strv_has_fragment (const char *const *strv, const char *fragment)
{
	for (guint i = 0; strv != NULL && strv[i] != NULL; i++) {
		if (strstr (strv[i], fragment) != NULL)
			return TRUE;
	}
	return FALSE;
}

/* the anchors the daemon lists and the files it keeps: what "nothing stored" means */
static char *
anchors_snapshot (TetherTestEnv *env)
{
	const char *const *paths =
	        tether_dbus_tether1_get_trust_anchors (tether_test_env_get_manager (env));
	g_autofree char *dir =
	        g_build_filename (tether_test_env_get_state_dir (env), "anchors", NULL);
	g_autoptr(GDir) listing = g_dir_open (dir, 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
	GString *out = g_string_new (NULL);
	const char *entry;

	/* what the daemon last changed reaches the proxy as a signal */
	tether_test_iterate (200);
	paths = tether_dbus_tether1_get_trust_anchors (tether_test_env_get_manager (env));
	for (guint i = 0; paths != NULL && paths[i] != NULL; i++)
		g_string_append_printf (out, "object %s\n", paths[i]);
	while (listing != NULL && (entry = g_dir_read_name (listing)) != NULL)
		g_ptr_array_add (names, g_strdup (entry));
	g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
	for (guint i = 0; i < names->len; i++) {
		g_autofree char *path = g_build_filename (dir, names->pdata[i], NULL);
		g_autofree char *contents = NULL;
		gsize len = 0;
		g_autofree char *sum = NULL;

		g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
		sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents,
		                                   len);
		g_string_append_printf (out, "file %s %s\n", (char *) names->pdata[i], sum);
	}
	return g_string_free (out, FALSE);
}

static TetherTestEnv *
start_env (void)
{
	TetherTestEnv *env = tether_test_env_new ();

	tether_test_env_start_daemon (env);
	return env;
}

/*
 * @data accepted through D-Bus (as NAME-dbus) and tetherctl (as NAME-ctl): stored as
 * @clean_pem; with @warning, a warning naming it returned by both (tetherctl prints it on
 * standard error) and logged by the daemon; without, no warning at all.
 */
static void
assert_upload_accepted (GBytes *data, const char *clean_pem, const char *warning)
{
	g_autoptr(TetherTestEnv) env = start_env ();
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) warnings = NULL;
	g_autoptr(TetherTestCtlResult) ctl = NULL;
	g_autofree char *stored_dbus = NULL;
	g_autofree char *stored_ctl = NULL;
	g_autofree char *log = NULL;

	g_assert_true (dbus_add (env, "upload-dbus", data, FALSE, &warnings, &error));
	g_assert_no_error (error);
	stored_dbus = stored_file (env, "upload-dbus");
	g_assert_cmpstr (stored_dbus, ==, clean_pem);

	ctl = ctl_add (env, "upload-ctl", data);
	if (ctl->status != 0)
		g_error ("tetherctl anchor add failed: %s", ctl->err);
	stored_ctl = stored_file (env, "upload-ctl");
	g_assert_cmpstr (stored_ctl, ==, clean_pem);

	if (warning == NULL) {
		if (warnings[0] != NULL)
			g_error ("unexpected warning: %s", warnings[0]);
		g_assert_cmpstr (ctl->err, ==, "");
		return;
	}
	if (!strv_has_fragment ((const char *const *) warnings, warning))
		g_error ("no warning names '%s' (first: %s)", warning,
		         warnings[0] != NULL ? warnings[0] : "none");
	g_assert_nonnull (strstr (ctl->err, warning));
	log = daemon_log (env);
	g_assert_cmpuint (count_in (log, warning), >=, 2);
}

/* refused through D-Bus with @dbus_error and through tetherctl, naming @fragment: nothing stored */
static void
assert_upload_refused (GBytes *data, const char *name, const char *dbus_error, const char *fragment)
{
	g_autoptr(TetherTestEnv) env = start_env ();
	g_autoptr(GError) error = NULL;
	g_autoptr(TetherTestCtlResult) ctl = NULL;
	g_autofree char *before = anchors_snapshot (env);
	g_autofree char *after = NULL;
	g_autofree char *remote = NULL;

	g_assert_false (dbus_add (env, name, data, FALSE, NULL, &error));
	remote = g_dbus_error_get_remote_error (error);
	g_assert_cmpstr (remote, ==, dbus_error);
	if (strstr (error->message, fragment) == NULL)
		g_error ("the error does not name '%s': %s", fragment, error->message);

	ctl = ctl_add (env, name, data);
	g_assert_cmpint (ctl->status, ==, 1);
	if (strstr (ctl->err, fragment) == NULL)
		g_error ("tetherctl's error does not name '%s': %s", fragment, ctl->err);

	after = anchors_snapshot (env);
	g_assert_cmpstr (after, ==, before);
}

/* ---- accepted wrappings ---- */

static void
test_upload_crlf_bom (void)
{
	g_auto(Pki) pki = { 0 };
	g_autofree char *clean = NULL;
	g_autofree char *crlf = NULL;
	g_autoptr(GBytes) data = NULL;

	pki_make (&pki);
	clean = pem_of (pki.sub, pki.root, NULL);
	crlf = to_crlf (clean);
	data = bytes_take (g_strconcat ("\xef\xbb\xbf", crlf, NULL));
	assert_upload_accepted (data, clean, NULL);
}

static void
test_upload_mixed_endings (void)
{
	g_auto(Pki) pki = { 0 };
	g_autofree char *clean = NULL;
	g_autofree char *sub = NULL;
	g_autofree char *root = NULL;
	g_autofree char *sub_crlf = NULL;
	g_autoptr(GBytes) data = NULL;

	pki_make (&pki);
	sub = pem_of (pki.sub, NULL);
	root = pem_of (pki.root, NULL);
	clean = g_strconcat (sub, root, NULL);
	sub_crlf = to_crlf (sub);
	data = bytes_take (g_strconcat (sub_crlf, root, NULL));
	assert_upload_accepted (data, clean, NULL);
}

static void
test_upload_bag_attributes (void)
{
	g_auto(Pki) pki = { 0 };
	g_autofree char *sub = NULL;
	g_autofree char *root = NULL;
	g_autofree char *clean = NULL;
	g_autoptr(GBytes) data = NULL;

	pki_make (&pki);
	sub = pem_of (pki.sub, NULL);
	root = pem_of (pki.root, NULL);
	clean = g_strconcat (sub, root, NULL);
	data = bytes_take (g_strconcat (
	        "Bag Attributes\n", "    localKeyID: 01 02 03 04\n",
	        "    friendlyName: upload sub\n", "subject=CN = Upload Sub\n\n",
	        "issuer=CN = Upload Root\n\n", sub, "Bag Attributes: <No Attributes>\n",
	        "subject=CN = Upload Root\n", "issuer=CN = Upload Root\n", root, "\n", NULL));
	assert_upload_accepted (data, clean, NULL);
}

static void
test_upload_der (void)
{
	g_auto(Pki) pki = { 0 };
	g_autofree char *clean = NULL;
	g_autoptr(GBytes) data = NULL;

	pki_make (&pki);
	clean = pem_of (pki.root, NULL);
	data = crt_der (tether_test_cert_get_crt (pki.root));
	assert_upload_accepted (data, clean, NULL);
}

static void
test_upload_pkcs7_der (void)
{
	g_auto(Pki) pki = { 0 };
	g_autofree char *clean = NULL;
	g_autoptr(GBytes) data = NULL;

	pki_make (&pki);
	clean = pem_of (pki.sub, pki.root, NULL);
	data = pkcs7_of (GNUTLS_X509_FMT_DER, pki.sub, pki.root);
	assert_upload_accepted (data, clean, NULL);
}

static void
test_upload_pkcs7_pem (void)
{
	g_auto(Pki) pki = { 0 };
	g_autofree char *clean = NULL;
	g_autoptr(GBytes) data = NULL;

	pki_make (&pki);
	clean = pem_of (pki.sub, pki.root, NULL);
	data = pkcs7_of (GNUTLS_X509_FMT_PEM, pki.sub, pki.root);
	assert_upload_accepted (data, clean, NULL);
}

/* ---- refused: nothing stored ---- */

static void
test_refuse_utf16 (void)
{
	g_auto(Pki) pki = { 0 };
	g_autofree char *pem = NULL;
	g_autofree char *wide = NULL;
	gsize wide_len = 0;
	g_autoptr(GByteArray) bytes = g_byte_array_new ();
	g_autoptr(GBytes) data = NULL;

	pki_make (&pki);
	pem = pem_of (pki.root, NULL);
	wide = g_convert (pem, -1, "UTF-16LE", "UTF-8", NULL, &wide_len, NULL);
	g_byte_array_append (bytes, (const guint8 *) "\xff\xfe", 2);
	g_byte_array_append (bytes, (const guint8 *) wide, wide_len);
	data = g_byte_array_free_to_bytes (g_steal_pointer (&bytes));
	assert_upload_refused (data, "wide", "org.tether.Error.InvalidCertificate",
	                       "re-save it as UTF-8");
}

/* a key in the file: refused, and not a line of it in the error, the log or the state */
static void
test_refuse_key_inside (void)
{
	g_auto(Pki) pki = { 0 };
	g_autoptr(TetherTestEnv) env = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(TetherTestCtlResult) ctl = NULL;
	g_autofree char *cert = NULL;
	g_autofree char *key = NULL;
	g_autofree char *log = NULL;
	g_autofree char *before = NULL;
	g_autofree char *after = NULL;
	g_auto(GStrv) key_lines = NULL;
	g_autoptr(GBytes) data = NULL;

	pki_make (&pki);
	cert = pem_of (pki.root, NULL);
	key = tether_test_cert_get_key_pem (pki.root);
	key_lines = g_strsplit (key, "\n", -1);
	data = bytes_take (g_strconcat ("Bag Attributes\n", cert, "Key Attributes\n", key, NULL));

	env = start_env ();
	before = anchors_snapshot (env);
	g_assert_false (dbus_add (env, "with-key", data, FALSE, NULL, &error));
	g_assert_nonnull (strstr (error->message, "private key"));
	ctl = ctl_add (env, "with-key", data);
	g_assert_cmpint (ctl->status, ==, 1);
	g_assert_nonnull (strstr (ctl->err, "private key"));
	after = anchors_snapshot (env);
	g_assert_cmpstr (after, ==, before);

	log = daemon_log (env);
	for (guint i = 1; key_lines[i] != NULL && !g_str_has_prefix (key_lines[i], "-----"); i++) {
		g_assert_null (strstr (error->message, key_lines[i]));
		g_assert_null (strstr (ctl->err, key_lines[i]));
		g_assert_null (strstr (log, key_lines[i]));
	}
}

/* damage in the second certificate: refused whole; a replace leaves the old anchor as it was */
static void
test_refuse_damaged_second (void)
{
	g_auto(Pki) pki = { 0 };
	g_autoptr(TetherTestEnv) env = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(TetherTestCtlResult) ctl = NULL;
	g_autofree char *text = NULL;
	g_autofree char *good = NULL;
	g_autofree char *stored = NULL;
	g_autofree char *before = NULL;
	g_autofree char *after = NULL;
	g_autofree char *damaged_file = NULL;
	g_autoptr(GBytes) good_data = NULL;
	g_autoptr(GBytes) data = NULL;
	char *second;

	pki_make (&pki);
	text = pem_of (pki.leaf, pki.sub, pki.root, NULL);
	second = strstr (strstr (text, "-----END CERTIFICATE-----"), "-----BEGIN");
	second = strchr (second, '\n') + 1;
	second[20] = '*';
	data = g_bytes_new (text, strlen (text));
	assert_upload_refused (data, "damaged", "org.tether.Error.InvalidCertificate",
	                       "certificate 2 of 3 is damaged");

	/* over an existing anchor, with replace */
	env = start_env ();
	good = pem_of (pki.root, NULL);
	good_data = g_bytes_new (good, strlen (good));
	g_assert_true (dbus_add (env, "kept", good_data, FALSE, NULL, &error));
	g_assert_no_error (error);
	before = anchors_snapshot (env);
	g_assert_false (dbus_add (env, "kept", data, TRUE, NULL, &error));
	g_assert_nonnull (strstr (error->message, "certificate 2 of 3"));
	g_clear_error (&error);
	damaged_file = tether_test_env_write_file (env, "damaged.pem", text, -1);
	ctl = tether_test_env_ctl (env, NULL, "anchor", "add", "--replace", "kept", damaged_file,
	                           NULL);
	g_assert_cmpint (ctl->status, ==, 1);
	after = anchors_snapshot (env);
	g_assert_cmpstr (after, ==, before);
	stored = stored_file (env, "kept");
	g_assert_cmpstr (stored, ==, good);
}

static void
test_refuse_all_expired (void)
{
	g_auto(Pki) pki = { 0 };
	g_autoptr(GBytes) data = NULL;

	pki_make (&pki);
	data = bytes_take (pem_of (pki.expired_root, NULL));
	assert_upload_refused (data, "expired", "org.tether.Error.InvalidCertificate",
	                       "('CN=Upload Expired Root') expired on");
}

static void
test_refuse_empty (void)
{
	g_autoptr(GBytes) data = g_bytes_new ("", 0);

	assert_upload_refused (data, "empty", "org.tether.Error.InvalidArgument", "empty");
}

static void
test_refuse_too_large (void)
{
	gsize size = 2 * 1024 * 1024;
	char *text = g_malloc (size + 1);
	g_autoptr(GBytes) data = NULL;

	memset (text, 'A', size);
	text[size] = '\0';
	data = g_bytes_new_take (text, size);
	assert_upload_refused (data, "large", "org.tether.Error.InvalidArgument", "at most");
}

/* a bad name, a taken name; replace takes the name */
static void
test_refuse_names (void)
{
	g_auto(Pki) pki = { 0 };
	g_autoptr(TetherTestEnv) env = start_env ();
	g_autoptr(GError) error = NULL;
	g_autoptr(TetherTestCtlResult) ctl = NULL;
	g_autofree char *root = NULL;
	g_autofree char *other = NULL;
	g_autofree char *root_file = NULL;
	g_autofree char *stored = NULL;
	g_autoptr(GBytes) root_data = NULL;
	g_autoptr(GBytes) other_data = NULL;
	const char *const bad[] = { "", "a/b", "../x", ".hidden" };

	pki_make (&pki);
	root = pem_of (pki.root, NULL);
	other = pem_of (pki.other_root, NULL);
	root_data = g_bytes_new (root, strlen (root));
	other_data = g_bytes_new (other, strlen (other));
	root_file = tether_test_env_write_file (env, "root.pem", root, -1);

	for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autofree char *remote = NULL;

		g_assert_false (dbus_add (env, bad[i], root_data, FALSE, NULL, &error));
		remote = g_dbus_error_get_remote_error (error);
		g_assert_cmpstr (remote, ==, "org.tether.Error.InvalidArgument");
		g_clear_error (&error);
		ctl = tether_test_env_ctl (env, NULL, "anchor", "add", bad[i], root_file, NULL);
		g_assert_cmpint (ctl->status, ==, 1);
		g_clear_pointer (&ctl, tether_test_ctl_result_free);
	}

	g_assert_true (dbus_add (env, "taken", root_data, FALSE, NULL, &error));
	g_assert_false (dbus_add (env, "taken", other_data, FALSE, NULL, &error));
	g_assert_true (g_dbus_error_is_remote_error (error));
	g_assert_nonnull (strstr (error->message, "exists already"));
	g_clear_error (&error);
	ctl = tether_test_env_ctl (env, NULL, "anchor", "add", "taken", root_file, NULL);
	g_assert_cmpint (ctl->status, ==, 1);
	/* the error says how to replace it */
	g_assert_nonnull (strstr (ctl->err, "'taken' exists already"));
	g_assert_nonnull (strstr (ctl->err, "--replace"));
	stored = stored_file (env, "taken");
	g_assert_cmpstr (stored, ==, root);
	g_clear_pointer (&stored, g_free);

	g_assert_true (dbus_add (env, "taken", other_data, TRUE, NULL, &error));
	g_assert_no_error (error);
	stored = stored_file (env, "taken");
	g_assert_cmpstr (stored, ==, other);
	tether_test_env_ctl_ok (env, "anchor", "add", "--replace", "taken", root_file, NULL);
	g_clear_pointer (&stored, g_free);
	stored = stored_file (env, "taken");
	g_assert_cmpstr (stored, ==, root);
}

/* ---- accepted with warnings ---- */

static void
test_warn_expired_member (void)
{
	g_auto(Pki) pki = { 0 };
	g_autofree char *clean = NULL;
	g_autoptr(GBytes) data = NULL;

	pki_make (&pki);
	clean = pem_of (pki.root, pki.expired_root, NULL);
	data = g_bytes_new (clean, strlen (clean));
	assert_upload_accepted (data, clean,
	                        "certificate 2 of 2 ('CN=Upload Expired Root') expired on");
}

static void
test_warn_duplicate (void)
{
	g_auto(Pki) pki = { 0 };
	g_autofree char *clean = NULL;
	g_autoptr(GBytes) data = NULL;

	pki_make (&pki);
	clean = pem_of (pki.sub, pki.root, NULL);
	data = bytes_take (pem_of (pki.sub, pki.root, pki.root, NULL));
	assert_upload_accepted (
	        data, clean, "certificate 3 of 3 ('CN=Upload Root') is the same as certificate 2");
}

static void
test_warn_reversed_chain (void)
{
	g_auto(Pki) pki = { 0 };
	g_autofree char *clean = NULL;
	g_autoptr(GBytes) data = NULL;

	pki_make (&pki);
	clean = pem_of (pki.leaf, pki.sub, pki.root, NULL);
	data = bytes_take (pem_of (pki.root, pki.sub, pki.leaf, NULL));
	assert_upload_accepted (data, clean, "stored reordered");
}

static void
test_warn_self_signed_not_ca (void)
{
	gnutls_privkey_t key = NULL;
	gnutls_x509_crt_t crt;
	g_autofree char *clean = NULL;
	g_autoptr(GBytes) data = NULL;

	g_assert_cmpint (gnutls_privkey_init (&key), ==, 0);
	g_assert_cmpint (gnutls_privkey_generate2 (
	                         key, GNUTLS_PK_ECDSA,
	                         GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0, NULL, 0),
	                 ==, 0);
	crt = build_cert ("pinned.example", key, FALSE, NULL, NULL);
	clean = crt_pem (crt);
	data = g_bytes_new (clean, strlen (clean));
	assert_upload_accepted (data, clean, "('CN=pinned.example') is self-signed but not a CA");
	gnutls_x509_crt_deinit (crt);
	gnutls_privkey_deinit (key);
}

/* a root cross-signed by another: alone it needs the other root (the trust rule), says so */
static void
test_warn_cross_signed_root (void)
{
	g_auto(Pki) pki = { 0 };
	gnutls_x509_crt_t cross;
	g_autofree char *clean = NULL;
	g_autoptr(GBytes) data = NULL;

	pki_make (&pki);
	cross = build_cert ("Upload Root", tether_test_cert_get_key (pki.root), TRUE,
	                    tether_test_cert_get_crt (pki.other_root),
	                    tether_test_cert_get_key (pki.other_root));
	clean = crt_pem (cross);
	data = g_bytes_new (clean, strlen (clean));
	assert_upload_accepted (data, clean,
	                        "('CN=Upload Root') is the top of its chain but not self-signed "
	                        "(its issuer is 'CN=Upload Other Root')");
	gnutls_x509_crt_deinit (cross);
}

static void
test_warn_top_not_self_signed (void)
{
	g_auto(Pki) pki = { 0 };
	g_autofree char *clean = NULL;
	g_autoptr(GBytes) data = NULL;

	pki_make (&pki);
	clean = pem_of (pki.sub, NULL);
	data = g_bytes_new (clean, strlen (clean));
	assert_upload_accepted (data, clean, "only a self-signed root vouches for a server");
}

/* ---- with a broker: the device, its identity, mosquitto with mutual TLS ---- */

typedef struct {
	TetherTestEnv *env;
	TetherTestBroker *broker;
} Live;

static void
live_clear (Live *live)
{
	g_clear_pointer (&live->env, tether_test_env_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Live, live_clear)

static void
provision_identity (TetherTestEnv *env)
{
	g_autofree char *csr = tether_test_env_path (env, "device.csr");
	g_autofree char *cert = tether_test_env_path (env, "device.pem");

	tether_test_env_ctl_ok (env, "identity", "request", "--common-name", DEVICE_CN, "--out",
	                        csr, NULL);
	tether_test_env_sign_csr (env, csr, cert);
	tether_test_env_ctl_ok (env, "identity", "install", cert, NULL);
}

static void
live_start (Live *live)
{
	g_autofree char *acl = tether_test_acl_thingsboard (DEVICE_CN);
	TetherTestBrokerOptions options = { .acl = acl };

	live->env = tether_test_env_new ();
	tether_test_env_get_pki (live->env);
	live->broker = tether_test_env_start_broker (live->env, &options);
}

static TetherTestBroker *
start_broker_with (Live *live, const char *name, const char *cert, const char *key)
{
	g_autofree char *acl = tether_test_acl_thingsboard (DEVICE_CN);
	TetherTestBrokerOptions options = {
		.name = name, .acl = acl, .server_cert = cert, .server_key = key
	};

	return tether_test_env_start_broker (live->env, &options);
}

static GVariant *
dbus_test (TetherTestEnv *env, const char *anchor, guint16 port)
{
	g_autoptr(GError) error = NULL;
	GVariant *result = NULL;

	tether_dbus_tether1_call_test_trust_anchor_sync (
	        tether_test_env_get_manager (env), anchor, "127.0.0.1", port,
	        g_variant_new ("a{sv}", NULL), G_DBUS_CALL_FLAGS_NONE, -1, &result, NULL, &error);
	g_assert_no_error (error);
	return result;
}

/* TestTrustAnchor through D-Bus and `tetherctl anchor test`: the reason, and @fragment */
static void
assert_test_result (TetherTestEnv *env, const char *anchor, guint16 port, const char *reason,
                    const char *fragment)
{
	g_autoptr(GVariant) result = dbus_test (env, anchor, port);
	g_autoptr(TetherTestCtlResult) ctl = NULL;
	g_autofree char *endpoint = g_strdup_printf ("127.0.0.1:%u", port);
	g_autofree char *printed = g_variant_print (result, FALSE);
	const char *got = NULL;
	const char *message = NULL;
	gboolean ok = FALSE;

	g_printerr ("# TestTrustAnchor %s %s: %s\n", anchor, endpoint, printed);
	g_assert_true (g_variant_lookup (result, "reason", "&s", &got));
	g_assert_cmpstr (got, ==, reason);
	g_assert_true (g_variant_lookup (result, "ok", "b", &ok));
	g_assert_cmpint (ok, ==, g_str_equal (reason, "ok"));
	g_assert_true (g_variant_lookup (result, "message", "&s", &message));
	if (fragment != NULL && strstr (printed, fragment) == NULL)
		g_error ("the result does not name '%s'", fragment);

	ctl = tether_test_env_ctl (env, NULL, "anchor", "test", anchor, endpoint, NULL);
	g_assert_cmpint (ctl->status, ==, g_str_equal (reason, "ok") ? 0 : 1);
	g_assert_nonnull (strstr (ctl->out, reason));
	if (fragment != NULL)
		g_assert_nonnull (strstr (ctl->out, fragment));
}

static void
live_with_anchor (Live *live)
{
	const TetherTestPki *pki;

	live_start (live);
	tether_test_env_start_daemon (live->env);
	provision_identity (live->env);
	pki = tether_test_env_get_pki (live->env);
	tether_test_env_ctl_ok (live->env, "anchor", "add", "server-ca", pki->server_ca_cert, NULL);
}

static void
test_live_ok (void)
{
	g_auto(Live) live = { 0 };

	live_with_anchor (&live);
	assert_test_result (live.env, "server-ca", tether_test_broker_get_port (live.broker), "ok",
	                    NULL);
}

static void
test_live_unknown_issuer (void)
{
	g_auto(Live) live = { 0 };
	g_autofree char *other = NULL;

	live_with_anchor (&live);
	tether_test_env_make_ca (live.env, "other-ca", "Tether Test Other CA");
	other = tether_test_env_pki_file (live.env, "other-ca.pem");
	tether_test_env_ctl_ok (live.env, "anchor", "add", "other-ca", other, NULL);
	assert_test_result (live.env, "other-ca", tether_test_broker_get_port (live.broker),
	                    "unknown-issuer", TETHER_TEST_SERVER_CA_CN);
}

static void
test_live_wrong_host (void)
{
	g_auto(Live) live = { 0 };
	g_autofree char *cert = NULL;
	g_autofree char *key = NULL;
	TetherTestBroker *other;

	live_with_anchor (&live);
	tether_test_env_make_server_cert (live.env, "wrong-host", "wrong.example", NULL);
	cert = tether_test_env_pki_file (live.env, "wrong-host.pem");
	key = tether_test_env_pki_file (live.env, "wrong-host.key");
	other = start_broker_with (&live, "wrong-host", cert, key);
	assert_test_result (live.env, "server-ca", tether_test_broker_get_port (other),
	                    "host-mismatch", "wrong.example");
}

static void
test_live_expired (void)
{
	g_auto(Live) live = { 0 };
	g_autoptr(GError) error = NULL;
	g_autoptr(TetherTestCert) ca = NULL;
	g_autoptr(TetherTestCert) expired = NULL;
	g_autofree char *cert = NULL;
	g_autofree char *key = NULL;
	g_autofree char *date = NULL;
	g_autoptr(GDateTime) dt = NULL;
	const TetherTestPki *pki;
	TetherTestBroker *other;
	gint64 now = g_get_real_time () / G_USEC_PER_SEC;

	live_with_anchor (&live);
	pki = tether_test_env_get_pki (live.env);
	ca = tether_test_cert_load (pki->server_ca_cert, pki->server_ca_key, &error);
	g_assert_no_error (error);
	expired =
	        make_cert (TETHER_TEST_CERT_SERVER, "localhost", now - 40 * DAY, now - 3 * DAY, ca);
	cert = tether_test_env_path (live.env, "expired-server.pem");
	key = tether_test_env_path (live.env, "expired-server.key");
	tether_test_cert_write (expired, cert, TRUE, key, &error);
	g_assert_no_error (error);
	other = start_broker_with (&live, "expired", cert, key);

	dt = g_date_time_new_from_unix_utc (
	        gnutls_x509_crt_get_expiration_time (tether_test_cert_get_crt (expired)));
	date = g_date_time_format (dt, "%Y-%m-%d");
	assert_test_result (live.env, "server-ca", tether_test_broker_get_port (other), "expired",
	                    date);
}

/* connection add --test: a wrong anchor is caught before anything is saved */
static void
test_live_connection_add_test (void)
{
	g_auto(Live) live = { 0 };
	g_autoptr(TetherTestCtlResult) ctl = NULL;
	g_autofree char *other = NULL;
	const char *endpoint;

	live_with_anchor (&live);
	endpoint = tether_test_broker_get_endpoint (live.broker);
	tether_test_env_make_ca (live.env, "other-ca", "Tether Test Other CA");
	other = tether_test_env_pki_file (live.env, "other-ca.pem");
	tether_test_env_ctl_ok (live.env, "anchor", "add", "other-ca", other, NULL);

	ctl = tether_test_env_ctl (live.env, NULL, "connection", "add", CONNECTION, "--cloud",
	                           "thingsboard", "--endpoint", endpoint, "--anchor", "other-ca",
	                           "--test", NULL);
	g_assert_cmpint (ctl->status, ==, 1);
	g_assert_nonnull (strstr (ctl->err, TETHER_TEST_SERVER_CA_CN));
	g_assert_null (
	        tether_dbus_tether1_get_connections (tether_test_env_get_manager (live.env))[0]);

	tether_test_env_ctl_ok (live.env, "connection", "add", CONNECTION, "--cloud", "thingsboard",
	                        "--endpoint", endpoint, "--anchor", "server-ca", "--test", NULL);
	tether_test_env_wait_state (live.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
}

/*
 * --test without --anchor checks the cloud's default anchors (not its other bundled ones),
 * and modify --test the connection's present anchors; nothing changes when none vouches
 */
static void
test_live_connection_test_defaults (void)
{
	g_auto(Live) live = { 0 };
	g_autoptr(TetherTestCtlResult) refused = NULL;
	g_autoptr(TetherTestCtlResult) modify = NULL;
	g_autoptr(TetherTestCtlResult) cloud = NULL;
	g_autofree char *legacy = NULL;
	g_autofree char *config = NULL;
	g_autofree char *before = NULL;
	g_autofree char *after = NULL;
	g_autofree char *port = NULL;
	const TetherTestPki *pki;
	const char *endpoint;

	/* the default set holds a root that does not vouch for the broker; the extra one does */
	live_start (&live);
	pki = tether_test_env_get_pki (live.env);
	tether_test_env_make_ca (live.env, "legacy-ca", "Tether Test Legacy CA");
	legacy = tether_test_env_pki_file (live.env, "legacy-ca.pem");
	g_setenv ("TETHER_TEST_BUNDLED_ANCHOR", legacy, TRUE);
	g_setenv ("TETHER_TEST_BUNDLED_EXTRA", pki->server_ca_cert, TRUE);
	/* and the broker as its default endpoint and port */
	endpoint = tether_test_broker_get_endpoint (live.broker);
	port = g_strdup_printf ("%u", tether_test_broker_get_port (live.broker));
	g_setenv ("TETHER_TEST_DEFAULT_ENDPOINT", endpoint, TRUE);
	g_setenv ("TETHER_TEST_DEFAULT_PORT", port, TRUE);
	tether_test_env_start_daemon (live.env);
	provision_identity (live.env);
	config = tether_test_env_path (live.env, "tether.conf");

	cloud = tether_test_env_ctl (live.env, NULL, "clouds", "show", "anchortest", NULL);
	g_assert_cmpint (cloud->status, ==, 0);
	g_assert_nonnull (strstr (cloud->out, "default-anchors: anchortest.test-root\n"));
	g_assert_nonnull (strstr (cloud->out, port));

	/* no --anchor, no --endpoint: the default anchors against the default endpoint */
	g_file_get_contents (config, &before, NULL, NULL);
	refused = tether_test_env_ctl (live.env, NULL, "connection", "add", CONNECTION, "--cloud",
	                               "anchortest", "--test", NULL);
	g_assert_cmpint (refused->status, ==, 1);
	g_assert_nonnull (strstr (refused->err, "'anchortest.test-root'"));
	g_assert_null (strstr (refused->err, "'anchortest.legacy-root'"));
	g_assert_nonnull (strstr (refused->err, "Tether Test Server CA"));
	g_assert_nonnull (strstr (refused->err, "nothing was changed"));
	g_assert_nonnull (strstr (refused->err, endpoint));
	g_file_get_contents (config, &after, NULL, NULL);
	g_assert_cmpstr (after, ==, before);
	g_assert_null (
	        tether_dbus_tether1_get_connections (tether_test_env_get_manager (live.env))[0]);

	/* the extra bundled root, named, vouches; a host without a port takes the cloud's */
	tether_test_env_ctl_ok (live.env, "connection", "add", CONNECTION, "--cloud", "anchortest",
	                        "--endpoint", "localhost", "--anchor", "anchortest.legacy-root",
	                        "--test", NULL);
	tether_test_env_wait_state (live.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);

	/* modify --test: the present anchors, against the new endpoint */
	modify = tether_test_env_ctl (live.env, NULL, "connection", "modify", CONNECTION,
	                              "--endpoint", "127.0.0.1:1", "--test", NULL);
	g_assert_cmpint (modify->status, ==, 1);
	g_assert_nonnull (strstr (modify->err, "'anchortest.legacy-root'"));
	g_assert_nonnull (strstr (modify->err, "127.0.0.1"));
	tether_test_env_ctl_ok (live.env, "connection", "modify", CONNECTION, "--keepalive", "30",
	                        "--test", NULL);
	tether_test_env_wait_state (live.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
}

/* ---- rotation ---- */

static TetherDBusTrustAnchor1 *
anchor_proxy (TetherTestEnv *env, const char *name)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	TetherDBusTrustAnchor1 *proxy;

	tether_dbus_tether1_call_get_trust_anchor_sync (tether_test_env_get_manager (env), name,
	                                                G_DBUS_CALL_FLAGS_NONE, -1, &path, NULL,
	                                                &error);
	g_assert_no_error (error);
	proxy = tether_dbus_trust_anchor1_proxy_new_sync (tether_test_env_get_bus (env),
	                                                  G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
	                                                  "org.tether.Tether1", path, NULL, &error);
	g_assert_no_error (error);
	return proxy;
}

static void
assert_used_by (TetherTestEnv *env, const char *anchor, const char *expected)
{
	g_autoptr(TetherDBusTrustAnchor1) proxy = anchor_proxy (env, anchor);
	g_autofree char *joined = NULL;
	const char *const *used_by;

	/* the property may still be on its way */
	for (guint i = 0; i < 100; i++) {
		used_by = tether_dbus_trust_anchor1_get_used_by (proxy);
		g_free (joined);
		joined = used_by != NULL ? g_strjoinv (",", (char **) used_by) : g_strdup ("");
		if (g_str_equal (joined, expected))
			return;
		tether_test_iterate (20);
	}
	g_assert_cmpstr (joined, ==, expected);
}

/* several anchors per connection; removal refused while in use, naming the connections */
static void
test_rotation_in_use (void)
{
	g_autoptr(TetherTestEnv) env = start_env ();
	g_autoptr(GError) error = NULL;
	g_autoptr(TetherTestCtlResult) ctl = NULL;
	g_autofree char *remote = NULL;
	g_autofree char *endpoint = g_strdup_printf ("127.0.0.1:%u", tether_test_pick_port ());
	g_autofree char *new_ca = NULL;
	const TetherTestPki *pki = tether_test_env_get_pki (env);
	TetherDBusConnection1 *connection;
	const char *const *anchors;

	tether_test_env_make_ca (env, "new-ca", "Tether Test New CA");
	new_ca = tether_test_env_pki_file (env, "new-ca.pem");
	tether_test_env_ctl_ok (env, "anchor", "add", "old", pki->server_ca_cert, NULL);
	tether_test_env_ctl_ok (env, "anchor", "add", "new", new_ca, NULL);
	tether_test_env_ctl_ok (env, "connection", "add", "c1", "--cloud", "thingsboard",
	                        "--endpoint", endpoint, "--anchor", "old", NULL);
	tether_test_env_ctl_ok (env, "connection", "add", "c2", "--cloud", "thingsboard",
	                        "--endpoint", endpoint, "--anchor", "old", NULL);
	assert_used_by (env, "old", "c1,c2");
	assert_used_by (env, "new", "");

	tether_dbus_tether1_call_remove_trust_anchor_sync (
	        tether_test_env_get_manager (env), "old", G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
	remote = g_dbus_error_get_remote_error (error);
	g_assert_cmpstr (remote, ==, "org.tether.Error.InUse");
	g_assert_nonnull (strstr (error->message, "'c1', 'c2'"));
	ctl = tether_test_env_ctl (env, NULL, "anchor", "remove", "old", NULL);
	g_assert_cmpint (ctl->status, ==, 1);
	g_assert_nonnull (strstr (ctl->err, "c1"));
	g_assert_nonnull (strstr (ctl->err, "c2"));

	/* old and new side by side, then the new one alone */
	tether_test_env_ctl_ok (env, "connection", "modify", "c1", "--anchor", "old", "--anchor",
	                        "new", NULL);
	connection = tether_test_env_get_connection (env, "c1");
	tether_test_iterate (100);
	anchors = tether_dbus_connection1_get_trust_anchors (connection);
	g_assert_cmpuint (g_strv_length ((char **) anchors), ==, 2);
	assert_used_by (env, "new", "c1");
	assert_used_by (env, "old", "c1,c2");
	tether_test_env_ctl_ok (env, "connection", "modify", "c1", "--anchor", "new", NULL);
	tether_test_env_ctl_ok (env, "connection", "modify", "c2", "--anchor", "new", NULL);
	assert_used_by (env, "old", "");
	assert_used_by (env, "new", "c1,c2");
	tether_test_env_ctl_ok (env, "anchor", "remove", "old", NULL);
}

/* a replaced anchor takes effect at the connection's next connect, not before */
static void
test_rotation_replace_next_connect (void)
{
	g_auto(Live) live = { 0 };
	g_autoptr(GError) error = NULL;
	g_autofree char *other = NULL;
	const TetherTestPki *pki;
	TetherDBusConnection1 *connection;
	const char *last_error;

	live_with_anchor (&live);
	pki = tether_test_env_get_pki (live.env);
	tether_test_env_ctl_ok (live.env, "connection", "add", CONNECTION, "--cloud", "thingsboard",
	                        "--endpoint", tether_test_broker_get_endpoint (live.broker),
	                        "--anchor", "server-ca", NULL);
	tether_test_env_wait_state (live.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	connection = tether_test_env_get_connection (live.env, CONNECTION);

	/* a wrong certificate under the same name: the session that runs is not touched */
	tether_test_env_make_ca (live.env, "other-ca", "Tether Test Other CA");
	other = tether_test_env_pki_file (live.env, "other-ca.pem");
	tether_test_env_ctl_ok (live.env, "anchor", "add", "--replace", "server-ca", other, NULL);
	tether_test_iterate (500);
	g_assert_cmpstr (tether_dbus_connection1_get_state (connection), ==, "connected");

	/* the next connect reads it */
	tether_dbus_connection1_call_disconnect_sync (connection, G_DBUS_CALL_FLAGS_NONE, -1, NULL,
	                                              &error);
	g_assert_no_error (error);
	tether_dbus_connection1_call_connect_sync (connection, G_DBUS_CALL_FLAGS_NONE, -1, NULL,
	                                           &error);
	g_assert_no_error (error);
	tether_test_env_wait_state (live.env, CONNECTION, "failed", TETHER_TEST_TIMEOUT_MS);
	last_error = tether_dbus_connection1_get_last_error (connection);
	g_printerr ("# LastError: %s\n", last_error);
	g_assert_nonnull (strstr (last_error, TETHER_TEST_SERVER_CA_CN));

	/* and the right one again */
	tether_test_env_ctl_ok (live.env, "anchor", "add", "--replace", "server-ca",
	                        pki->server_ca_cert, NULL);
	tether_dbus_connection1_call_connect_sync (connection, G_DBUS_CALL_FLAGS_NONE, -1, NULL,
	                                           &error);
	g_assert_no_error (error);
	tether_test_env_wait_state (live.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
}

/* ---- bundled anchors, from the test-only cloud ---- */

static void
test_bundled_default_set (void)
{
	g_auto(Live) live = { 0 };
	g_autoptr(GError) error = NULL;
	g_autoptr(TetherTestCtlResult) list = NULL;
	g_autoptr(TetherTestCtlResult) ctl = NULL;
	g_autoptr(TetherDBusTrustAnchor1) bundled = NULL;
	g_autoptr(GBytes) data = NULL;
	g_autofree char *legacy = NULL;
	g_autofree char *pem = NULL;
	const TetherTestPki *pki;

	live_start (&live);
	pki = tether_test_env_get_pki (live.env);
	tether_test_env_make_ca (live.env, "legacy-ca", "Tether Test Legacy CA");
	legacy = tether_test_env_pki_file (live.env, "legacy-ca.pem");
	g_setenv ("TETHER_TEST_BUNDLED_ANCHOR", pki->server_ca_cert, TRUE);
	g_setenv ("TETHER_TEST_BUNDLED_EXTRA", legacy, TRUE);
	tether_test_env_start_daemon (live.env);
	provision_identity (live.env);

	/* listed and shown */
	list = tether_test_env_ctl (live.env, NULL, "anchor", "list", NULL);
	g_assert_cmpint (list->status, ==, 0);
	g_assert_nonnull (strstr (list->out, "anchortest.test-root"));
	g_assert_nonnull (strstr (list->out, "anchortest.legacy-root"));
	g_assert_nonnull (strstr (list->out, "bundled:anchortest"));
	bundled = anchor_proxy (live.env, "anchortest.test-root");
	g_assert_cmpstr (tether_dbus_trust_anchor1_get_origin (bundled), ==, "bundled:anchortest");
	ctl = tether_test_env_ctl (live.env, NULL, "anchor", "show", "anchortest.test-root", NULL);
	g_assert_cmpint (ctl->status, ==, 0);
	g_assert_nonnull (strstr (ctl->out, TETHER_TEST_SERVER_CA_CN));
	g_clear_pointer (&ctl, tether_test_ctl_result_free);

	/* not removable, not replaceable */
	ctl = tether_test_env_ctl (live.env, NULL, "anchor", "remove", "anchortest.legacy-root",
	                           NULL);
	g_assert_cmpint (ctl->status, ==, 1);
	g_assert_nonnull (strstr (ctl->err, "bundled"));
	g_assert_true (g_file_get_contents (legacy, &pem, NULL, NULL));
	data = g_bytes_new (pem, strlen (pem));
	g_assert_false (dbus_add (live.env, "anchortest.legacy-root", data, TRUE, NULL, &error));
	g_assert_nonnull (strstr (error->message, "bundled"));
	g_clear_error (&error);

	/* a connection that names no anchor uses the default set, and only that */
	tether_test_env_ctl_ok (live.env, "connection", "add", CONNECTION, "--cloud", "anchortest",
	                        "--endpoint", tether_test_broker_get_endpoint (live.broker), NULL);
	tether_test_env_wait_state (live.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	assert_used_by (live.env, "anchortest.test-root", CONNECTION);
	assert_used_by (live.env, "anchortest.legacy-root", "");
	g_clear_pointer (&ctl, tether_test_ctl_result_free);
	ctl = tether_test_env_ctl (live.env, NULL, "anchor", "remove", "anchortest.test-root",
	                           NULL);
	g_assert_cmpint (ctl->status, ==, 1);
	g_unsetenv ("TETHER_TEST_BUNDLED_ANCHOR");
	g_unsetenv ("TETHER_TEST_BUNDLED_EXTRA");
}

/* ---- expiry ---- */

typedef struct {
	guint count;
	gint64 not_after;
} Expiring;

static void
expiring_cb (GDBusConnection *bus, const char *sender, const char *path, const char *interface,
             const char *signal, GVariant *parameters, gpointer user_data)
{
	Expiring *expiring = user_data;

	g_variant_get (parameters, "(x)", &expiring->not_after);
	expiring->count++;
}

static gboolean
expiring_seen (gpointer user_data)
{
	return ((Expiring *) user_data)->count > 0;
}

static void
set_expiry_days (TetherTestEnv *env, guint days)
{
	g_autofree char *config = tether_test_env_path (env, "tether.conf");
	g_autoptr(GKeyFile) keyfile = g_key_file_new ();
	g_autoptr(GError) error = NULL;

	g_key_file_load_from_file (keyfile, config, G_KEY_FILE_KEEP_COMMENTS, NULL);
	g_key_file_set_uint64 (keyfile, "tether", "anchor-expiry-days", days);
	g_key_file_save_to_file (keyfile, config, &error);
	g_assert_no_error (error);
}

static void
test_expiry_signal (void)
{
	g_autoptr(TetherTestEnv) env = tether_test_env_new ();
	g_autoptr(GError) error = NULL;
	g_autoptr(TetherTestCert) soon = NULL;
	g_autoptr(TetherDBusTrustAnchor1) proxy = NULL;
	g_autofree char *soon_file = tether_test_env_path (env, "soon.pem");
	g_autofree char *endpoint = g_strdup_printf ("127.0.0.1:%u", tether_test_pick_port ());
	g_autofree char *log = NULL;
	gint64 now = g_get_real_time () / G_USEC_PER_SEC;
	Expiring expiring = { 0 };
	guint subscription;
	guint lines;

	soon = make_cert (TETHER_TEST_CERT_CA, "Expires Soon", 0, now + 10 * DAY, NULL);
	tether_test_cert_write (soon, soon_file, FALSE, NULL, &error);
	g_assert_no_error (error);
	tether_test_env_start_daemon (env);
	tether_test_env_ctl_ok (env, "anchor", "add", "soon", soon_file, NULL);
	proxy = anchor_proxy (env, "soon");
	g_assert_cmpint (tether_dbus_trust_anchor1_get_not_after (proxy), ==,
	                 gnutls_x509_crt_get_expiration_time (tether_test_cert_get_crt (soon)));

	/* not in use: no warning; in use: the signal and the log line at once */
	subscription = g_dbus_connection_signal_subscribe (
	        tether_test_env_get_bus (env), "org.tether.Tether1", "org.tether.TrustAnchor1",
	        "Expiring", g_dbus_proxy_get_object_path (G_DBUS_PROXY (proxy)), NULL,
	        G_DBUS_SIGNAL_FLAGS_NONE, expiring_cb, &expiring, NULL);
	tether_test_iterate (200);
	g_assert_cmpuint (expiring.count, ==, 0);
	tether_test_env_ctl_ok (env, "connection", "add", CONNECTION, "--cloud", "thingsboard",
	                        "--endpoint", endpoint, "--anchor", "soon", NULL);
	g_assert_true (tether_test_wait_until (expiring_seen, &expiring, TETHER_TEST_TIMEOUT_MS));
	g_assert_cmpint (expiring.not_after, ==, tether_dbus_trust_anchor1_get_not_after (proxy));
	g_dbus_connection_signal_unsubscribe (tether_test_env_get_bus (env), subscription);
	log = daemon_log (env);
	lines = count_in (log, "trust anchor soon expires on");
	g_assert_cmpuint (lines, ==, 1);
	g_clear_pointer (&log, g_free);

	/* at start too */
	tether_test_env_restart_daemon (env);
	log = daemon_log (env);
	g_assert_cmpuint (count_in (log, "trust anchor soon expires on"), ==, lines + 1);
	g_clear_pointer (&log, g_free);

	/* a window shorter than what is left: quiet */
	tether_test_env_stop_daemon (env);
	set_expiry_days (env, 5);
	tether_test_env_start_daemon (env);
	tether_test_iterate (300);
	log = daemon_log (env);
	g_assert_cmpuint (count_in (log, "trust anchor soon expires on"), ==, lines + 1);
}

int
main (int argc, char **argv)
{
	tether_test_init (&argc, &argv);

	tether_test_add ("/anchors/upload/crlf-bom", test_upload_crlf_bom);
	tether_test_add ("/anchors/upload/mixed-endings", test_upload_mixed_endings);
	tether_test_add ("/anchors/upload/bag-attributes", test_upload_bag_attributes);
	tether_test_add ("/anchors/upload/der", test_upload_der);
	tether_test_add ("/anchors/upload/pkcs7-der", test_upload_pkcs7_der);
	tether_test_add ("/anchors/upload/pkcs7-pem", test_upload_pkcs7_pem);
	tether_test_add ("/anchors/refuse/utf16", test_refuse_utf16);
	tether_test_add ("/anchors/refuse/key-inside", test_refuse_key_inside);
	tether_test_add ("/anchors/refuse/damaged-second", test_refuse_damaged_second);
	tether_test_add ("/anchors/refuse/all-expired", test_refuse_all_expired);
	tether_test_add ("/anchors/refuse/empty", test_refuse_empty);
	tether_test_add ("/anchors/refuse/too-large", test_refuse_too_large);
	tether_test_add ("/anchors/refuse/names", test_refuse_names);
	tether_test_add ("/anchors/warn/expired-member", test_warn_expired_member);
	tether_test_add ("/anchors/warn/duplicate", test_warn_duplicate);
	tether_test_add ("/anchors/warn/reversed-chain", test_warn_reversed_chain);
	tether_test_add ("/anchors/warn/self-signed-not-ca", test_warn_self_signed_not_ca);
	tether_test_add ("/anchors/warn/cross-signed-root", test_warn_cross_signed_root);
	tether_test_add ("/anchors/warn/top-not-self-signed", test_warn_top_not_self_signed);
	tether_test_add ("/anchors/live/ok", test_live_ok);
	tether_test_add ("/anchors/live/unknown-issuer", test_live_unknown_issuer);
	tether_test_add ("/anchors/live/wrong-host", test_live_wrong_host);
	tether_test_add ("/anchors/live/expired", test_live_expired);
	tether_test_add ("/anchors/live/connection-add-test", test_live_connection_add_test);
	tether_test_add ("/anchors/live/connection-test-defaults",
	                 test_live_connection_test_defaults);
	tether_test_add ("/anchors/rotation/in-use", test_rotation_in_use);
	tether_test_add ("/anchors/rotation/replace-next-connect",
	                 test_rotation_replace_next_connect);
	tether_test_add ("/anchors/bundled/default-set", test_bundled_default_set);
	tether_test_add ("/anchors/expiry/signal", test_expiry_signal);
	return g_test_run ();
}
