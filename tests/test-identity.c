/*
 * Integration tests for device identities: key import in every format, the
 * certificate checks on install and import, removal, and renewal that never
 * strands a device (a pending pair on trial, promoted or rolled back). The
 * real tetherd on a private bus, driven by the real tetherctl, against a real
 * mosquitto with mutual TLS.
 */
#include "tether-test-env.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <gnutls/pkcs12.h>
#include <gnutls/pkcs7.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tether-test-pki.h"

#define DEVICE_CN       "id-device"
#define CONNECTION      "tb"
#define ANCHOR          "server-ca"
#define TELEMETRY_TOPIC "v1/devices/me/telemetry"
#define PASSWORD        "correct horse battery staple"

#define EST_USER     "est-user"
#define EST_PASSWORD "est secret 42"

typedef struct {
	TetherTestEnv *env;
	TetherTestBroker *broker;
	TetherTestObserver *observer;
	GSubprocess *est; /* the EST server, when the test has one */
	guint16 est_port;
	const char *est_anchor; /* the anchor that verifies it: ANCHOR unless the test says */
	const char *est_delay;  /* seconds the EST server waits before it answers an enrollment */
} Id;

static void
est_stop (Id *id)
{
	if (id->est == NULL)
		return;
	g_subprocess_force_exit (id->est);
	g_subprocess_wait (id->est, NULL, NULL);
	g_clear_object (&id->est);
}

static void
id_clear (Id *id)
{
	est_stop (id);
	g_clear_pointer (&id->observer, tether_test_observer_free);
	g_clear_pointer (&id->env, tether_test_env_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Id, id_clear)

/* the PKI, a broker with ThingsBoard's ACL for DEVICE_CN, the observer */
static void
id_prepare (Id *id)
{
	g_autofree char *acl = tether_test_acl_thingsboard (DEVICE_CN);
	TetherTestBrokerOptions options = { .acl = acl };
	g_autoptr(GError) error = NULL;

	id->env = tether_test_env_new ();
	id->broker = tether_test_env_start_broker (id->env, &options);
	id->observer = tether_test_env_observe (id->env, id->broker);
	tether_test_observer_subscribe (id->observer, TELEMETRY_TOPIC, &error);
	g_assert_no_error (error);
}

/* tetherd, and the server CA as the anchor "server-ca" */
static void
id_start_daemon (Id *id)
{
	tether_test_env_start_daemon (id->env);
	tether_test_env_ctl_ok (id->env, "anchor", "add", ANCHOR,
	                        tether_test_env_get_pki (id->env)->server_ca_cert, NULL);
}

static void
id_start (Id *id)
{
	id_prepare (id);
	id_start_daemon (id);
}

static void
add_connection (Id *id, const char *identity)
{
	tether_test_env_ctl_ok (id->env, "connection", "add", CONNECTION, "--cloud", "thingsboard",
	                        "--endpoint", tether_test_broker_get_endpoint (id->broker),
	                        "--anchor", ANCHOR, "--identity", identity, NULL);
}

/* @payload arrives (delivery is at least once: earlier messages may come again first) */
static void
wait_payload (Id *id, const char *payload)
{
	gint64 deadline = g_get_monotonic_time () + TETHER_TEST_TIMEOUT_MS * 1000;

	while (g_get_monotonic_time () < deadline) {
		guint left = (guint) ((deadline - g_get_monotonic_time ()) / 1000) + 1;
		g_autoptr(GBytes) got = tether_test_observer_wait (id->observer, TELEMETRY_TOPIC,
		                                                    left, NULL);
		gsize size = 0;
		const char *data;

		if (got == NULL)
			break;
		data = g_bytes_get_data (got, &size);
		if (size == strlen (payload) && memcmp (data, payload, size) == 0)
			return;
	}
	g_error ("'%s' did not arrive on %s; the broker's log is %s", payload, TELEMETRY_TOPIC,
	         tether_test_broker_get_log_path (id->broker));
}

static void
assert_telemetry (Id *id, const char *payload)
{
	tether_test_env_ctl_ok (id->env, "publish", "--connection", CONNECTION, "--kind",
	                        "telemetry", payload, NULL);
	wait_payload (id, payload);
}

static gboolean
contains_nocase (const char *haystack, const char *needle)
{
	g_autofree char *h = g_utf8_strdown (haystack, -1);
	g_autofree char *n = g_utf8_strdown (needle, -1);

	return strstr (h, n) != NULL;
}

/* a daemon error: exit status 1 and a message on stderr that names @needle */
static void
assert_refused (TetherTestCtlResult *result, const char *needle)
{
	if (result->status != 1)
		g_error ("expected a refusal naming '%s'; exit %d, out '%s', err '%s'", needle,
		         result->status, result->out, result->err);
	if (needle != NULL && !contains_nocase (result->err, needle))
		g_error ("the error does not name '%s': %s", needle, result->err);
}

static void
assert_ok (TetherTestCtlResult *result)
{
	if (result->status != 0)
		g_error ("tetherctl failed (%d): %s", result->status, result->err);
}

/* "--out /dev/null" once replaced the device with a regular file */
static void
assert_dev_null_intact (void)
{
	GStatBuf st;

	g_assert_cmpint (g_lstat ("/dev/null", &st), ==, 0);
	g_assert_true (S_ISCHR (st.st_mode));
}

static TetherDBusIdentity1 *
get_identity (Id *id, const char *name)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	TetherDBusIdentity1 *proxy;

	tether_dbus_tether1_call_get_identity_sync (tether_test_env_get_manager (id->env), name,
	                                            G_DBUS_CALL_FLAGS_NONE, -1, &path, NULL,
	                                            &error);
	g_assert_no_error (error);
	proxy = tether_dbus_identity1_proxy_new_sync (tether_test_env_get_bus (id->env),
	                                              G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
	                                              "org.tether.Tether1", path, NULL, &error);
	g_assert_no_error (error);
	return proxy;
}

static char *
state_file (Id *id, const char *identity, const char *name)
{
	return g_build_filename (tether_test_env_get_state_dir (id->env), "identities", identity,
	                         name, NULL);
}

static void
assert_private_file (const char *path)
{
	GStatBuf st;

	g_assert_cmpint (g_stat (path, &st), ==, 0);
	g_assert_cmpint (st.st_mode & 0777, ==, 0600);
}

/* whether @needle occurs in any file under @dir */
static gboolean
tree_contains (const char *dir, const char *needle)
{
	g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
	const char *name;

	while (handle != NULL && (name = g_dir_read_name (handle)) != NULL) {
		g_autofree char *child = g_build_filename (dir, name, NULL);
		g_autofree char *contents = NULL;
		gsize size = 0;

		if (g_file_test (child, G_FILE_TEST_IS_DIR)) {
			if (tree_contains (child, needle))
				return TRUE;
		} else if (g_file_get_contents (child, &contents, &size, NULL) &&
		           g_strstr_len (contents, (gssize) size, needle) != NULL) {
			return TRUE;
		}
	}
	return FALSE;
}

/* ---- certificates and keys made for the tests ---- */

static TetherTestCert *
device_ca (Id *id)
{
	const TetherTestPki *pki = tether_test_env_get_pki (id->env);
	g_autoptr(GError) error = NULL;
	TetherTestCert *ca =
	        tether_test_cert_load (pki->device_ca_cert, pki->device_ca_key, &error);

	g_assert_no_error (error);
	return ca;
}

static TetherTestCert *
make_cert (TetherTestCertKind kind, const char *cn, TetherTestCert *issuer, gint64 not_before,
           gint64 not_after, const char *key_type)
{
	TetherTestCertSpec spec = {
		.kind = kind,
		.common_name = cn,
		.not_before = not_before,
		.not_after = not_after,
		.key_type = key_type,
	};
	g_autoptr(GError) error = NULL;
	TetherTestCert *cert = tether_test_cert_new (&spec, issuer, &error);

	g_assert_no_error (error);
	return cert;
}

/* a client certificate from the device CA, with its key */
static TetherTestCert *
device_cert (Id *id, const char *key_type)
{
	g_autoptr(TetherTestCert) ca = device_ca (id);

	return make_cert (TETHER_TEST_CERT_CLIENT, DEVICE_CN, ca, 0, 0, key_type);
}

static char *
write_text (Id *id, const char *name, const char *text)
{
	return tether_test_env_write_file (id->env, name, text, -1);
}

static char *
write_datum (Id *id, const char *name, gnutls_datum_t *datum)
{
	char *path =
	        tether_test_env_write_file (id->env, name, (const char *) datum->data, datum->size);

	gnutls_free (datum->data);
	datum->data = NULL;
	return path;
}

static gnutls_x509_privkey_t
x509_key_of (TetherTestCert *cert)
{
	gnutls_x509_privkey_t key = NULL;

	g_assert_cmpint (gnutls_privkey_export_x509 (tether_test_cert_get_key (cert), &key), ==, 0);
	return key;
}

typedef enum {
	KEY_PKCS8,
	KEY_PKCS8_ENCRYPTED,
	KEY_PKCS8_DER,
	KEY_PKCS8_ENCRYPTED_DER,
	KEY_TRADITIONAL, /* SEC1 for EC, PKCS#1 for RSA */
} KeyForm;

/* the certificate's key in @form, written to a file */
static char *
write_key (Id *id, TetherTestCert *cert, KeyForm form, const char *name)
{
	g_auto(gnutls_x509_privkey_t) key = x509_key_of (cert);
	gnutls_datum_t out = { NULL, 0 };
	int rc;

	switch (form) {
	case KEY_PKCS8:
		rc = gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_PEM, NULL,
		                                        GNUTLS_PKCS_PLAIN, &out);
		break;
	case KEY_PKCS8_ENCRYPTED:
		rc = gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_PEM, PASSWORD,
		                                        GNUTLS_PKCS_PBES2_AES_256, &out);
		break;
	case KEY_PKCS8_DER:
		rc = gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_DER, NULL,
		                                        GNUTLS_PKCS_PLAIN, &out);
		break;
	case KEY_PKCS8_ENCRYPTED_DER:
		rc = gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_DER, PASSWORD,
		                                        GNUTLS_PKCS_PBES2_AES_256, &out);
		break;
	case KEY_TRADITIONAL:
	default:
		rc = gnutls_x509_privkey_export2 (key, GNUTLS_X509_FMT_PEM, &out);
		break;
	}
	g_assert_cmpint (rc, ==, GNUTLS_E_SUCCESS);
	return write_datum (id, name, &out);
}

static char *
write_chain (Id *id, TetherTestCert *cert, const char *name)
{
	g_autofree char *pem = tether_test_cert_get_chain_pem (cert);

	return write_text (id, name, pem);
}

/* a PKCS#12 bundle: the certificate, its issuers, its key, all under @password */
static char *
write_pkcs12 (Id *id, TetherTestCert *cert, const char *password, const char *name)
{
	gnutls_pkcs12_t pkcs12 = NULL;
	gnutls_pkcs12_bag_t certs_bag = NULL;
	gnutls_pkcs12_bag_t key_bag = NULL;
	g_auto(gnutls_x509_privkey_t) key = x509_key_of (cert);
	gnutls_datum_t key_der = { NULL, 0 };
	gnutls_datum_t out = { NULL, 0 };
	char *path;

	g_assert_cmpint (gnutls_pkcs12_init (&pkcs12), ==, 0);
	g_assert_cmpint (gnutls_pkcs12_bag_init (&certs_bag), ==, 0);
	g_assert_cmpint (gnutls_pkcs12_bag_init (&key_bag), ==, 0);
	for (TetherTestCert *c = cert; c != NULL; c = tether_test_cert_get_issuer (c))
		g_assert_cmpint (
		        gnutls_pkcs12_bag_set_crt (certs_bag, tether_test_cert_get_crt (c)), >=, 0);
	g_assert_cmpint (gnutls_pkcs12_bag_encrypt (certs_bag, password, GNUTLS_PKCS_PBES2_AES_256),
	                 ==, 0);
	g_assert_cmpint (gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_DER, password,
	                                                    GNUTLS_PKCS_PBES2_AES_256, &key_der),
	                 ==, 0);
	g_assert_cmpint (
	        gnutls_pkcs12_bag_set_data (key_bag, GNUTLS_BAG_PKCS8_ENCRYPTED_KEY, &key_der), >=,
	        0);
	gnutls_free (key_der.data);
	g_assert_cmpint (gnutls_pkcs12_set_bag (pkcs12, certs_bag), ==, 0);
	g_assert_cmpint (gnutls_pkcs12_set_bag (pkcs12, key_bag), ==, 0);
	g_assert_cmpint (gnutls_pkcs12_generate_mac2 (pkcs12, GNUTLS_MAC_SHA256, password), ==, 0);
	g_assert_cmpint (gnutls_pkcs12_export2 (pkcs12, GNUTLS_X509_FMT_DER, &out), ==, 0);
	path = write_datum (id, name, &out);
	gnutls_pkcs12_bag_deinit (certs_bag);
	gnutls_pkcs12_bag_deinit (key_bag);
	gnutls_pkcs12_deinit (pkcs12);
	return path;
}

/* a key and a chain imported into "device", then a connection that delivers with them */
static void
import_and_deliver (Id *id, const char *key_path, const char *chain_path, const char *password_file)
{
	g_autoptr(TetherTestCtlResult) result = NULL;
	g_autofree char *stored_key = state_file (id, "device", "active/key.pem");
	g_autofree char *stored_chain = state_file (id, "device", "active/chain.pem");
	g_autofree char *key_text = NULL;
	g_autofree char *config = tether_test_env_path (id->env, "tether.conf");
	g_autofree char *config_text = NULL;
	g_autofree char *log = NULL;
	g_autoptr(TetherDBusIdentity1) identity = NULL;
	const char *args[8] = { "identity", "import" };
	guint n = 2;

	if (password_file != NULL) {
		args[n++] = "--password-file";
		args[n++] = password_file;
	}
	args[n++] = key_path;
	if (chain_path != NULL)
		args[n++] = chain_path;
	result = tether_test_env_ctlv (id->env, NULL, args);
	assert_ok (result);

	/* decrypted, readable by tetherd alone, and no trace of the password */
	assert_private_file (stored_key);
	assert_private_file (stored_chain);
	g_assert_true (g_file_get_contents (stored_key, &key_text, NULL, NULL));
	g_assert_true (g_str_has_prefix (key_text, "-----BEGIN PRIVATE KEY-----"));
	g_assert_false (tree_contains (tether_test_env_get_state_dir (id->env), PASSWORD));
	g_assert_false (g_file_get_contents (config, &config_text, NULL, NULL) &&
	                strstr (config_text, PASSWORD) != NULL);
	g_assert_true (
	        g_file_get_contents (tether_test_env_get_daemon_log (id->env), &log, NULL, NULL));
	g_assert_null (strstr (log, PASSWORD));
	g_assert_null (strstr (log, "PRIVATE KEY"));

	identity = get_identity (id, "device");
	g_assert_cmpstr (tether_dbus_identity1_get_state (identity), ==, "ready");
	add_connection (id, "device");
	tether_test_env_wait_state (id->env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	assert_telemetry (id, "{\"imported\":1}");
}

/* ---- key import ---- */

static void
test_import_pkcs8_plain (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) cert = NULL;
	g_autofree char *key = NULL;
	g_autofree char *chain = NULL;

	id_start (&id);
	cert = device_cert (&id, NULL);
	key = write_key (&id, cert, KEY_PKCS8, "key.pem");
	chain = write_chain (&id, cert, "chain.pem");
	import_and_deliver (&id, key, chain, NULL);
}

/* the certificate and its issuers as a DER PKCS#7 bundle (.p7b), as CAs hand them out */
static char *
write_pkcs7 (Id *id, TetherTestCert *cert, const char *name)
{
	gnutls_pkcs7_t pkcs7 = NULL;
	gnutls_datum_t out = { NULL, 0 };

	g_assert_cmpint (gnutls_pkcs7_init (&pkcs7), ==, 0);
	for (TetherTestCert *c = cert; c != NULL; c = tether_test_cert_get_issuer (c))
		g_assert_cmpint (gnutls_pkcs7_set_crt (pkcs7, tether_test_cert_get_crt (c)), ==, 0);
	g_assert_cmpint (gnutls_pkcs7_export2 (pkcs7, GNUTLS_X509_FMT_DER, &out), ==, 0);
	gnutls_pkcs7_deinit (pkcs7);
	return write_datum (id, name, &out);
}

/* a DER key, with its chain as a DER PKCS#7 bundle */
static void
test_import_pkcs8_der (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) cert = NULL;
	g_autofree char *key = NULL;
	g_autofree char *chain = NULL;

	id_start (&id);
	cert = device_cert (&id, NULL);
	key = write_key (&id, cert, KEY_PKCS8_DER, "key.der");
	chain = write_pkcs7 (&id, cert, "chain.p7b");
	import_and_deliver (&id, key, chain, NULL);
}

/* the password cases of an encrypted key, each refused with its reason */
static void
check_password_cases (Id *id, const char *key, const char *chain)
{
	g_autofree char *wrong = write_text (id, "wrong.txt", "not the password\n");
	g_autofree char *empty = write_text (id, "empty.txt", "");
	g_autoptr(TetherTestCtlResult) missing_result = NULL;
	g_autoptr(TetherTestCtlResult) wrong_result = NULL;
	g_autoptr(TetherTestCtlResult) empty_result = NULL;
	g_autofree char *stored_key = state_file (id, "device", "active/key.pem");

	missing_result =
	        tether_test_env_ctl (id->env, NULL, "identity", "import", key, chain, NULL);
	assert_refused (missing_result, "none was given");
	wrong_result = tether_test_env_ctl (id->env, NULL, "identity", "import", "--password-file",
	                                    wrong, key, chain, NULL);
	assert_refused (wrong_result, "does not open");
	empty_result = tether_test_env_ctl (id->env, NULL, "identity", "import", "--password-file",
	                                    empty, key, chain, NULL);
	assert_refused (empty_result, "empty");
	g_assert_false (g_file_test (stored_key, G_FILE_TEST_EXISTS));
}

static void
test_import_pkcs8_encrypted (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) cert = NULL;
	g_autofree char *key = NULL;
	g_autofree char *chain = NULL;
	g_autofree char *password = NULL;

	id_start (&id);
	cert = device_cert (&id, NULL);
	key = write_key (&id, cert, KEY_PKCS8_ENCRYPTED, "key.pem");
	chain = write_chain (&id, cert, "chain.pem");
	check_password_cases (&id, key, chain);
	password = write_text (&id, "password.txt", PASSWORD "\n");
	import_and_deliver (&id, key, chain, password);
}

static void
test_import_pkcs8_encrypted_der (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) cert = NULL;
	g_autofree char *key = NULL;
	g_autofree char *chain = NULL;
	g_autofree char *password = NULL;

	id_start (&id);
	cert = device_cert (&id, NULL);
	key = write_key (&id, cert, KEY_PKCS8_ENCRYPTED_DER, "key.der");
	chain = write_chain (&id, cert, "chain.pem");
	check_password_cases (&id, key, chain);
	password = write_text (&id, "password.txt", PASSWORD);
	import_and_deliver (&id, key, chain, password);
}

/* one PEM file with the encrypted key and its chain, as some tools write them */
static void
test_import_combined_pem (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) cert = NULL;
	g_autofree char *key = NULL;
	g_autofree char *key_text = NULL;
	g_autofree char *chain_text = NULL;
	g_autofree char *both = NULL;
	g_autofree char *combined = NULL;
	g_autofree char *password = NULL;
	g_autoptr(TetherDBusIdentity1) identity = NULL;

	id_start (&id);
	cert = device_cert (&id, NULL);
	key = write_key (&id, cert, KEY_PKCS8_ENCRYPTED, "key.pem");
	g_assert_true (g_file_get_contents (key, &key_text, NULL, NULL));
	chain_text = tether_test_cert_get_chain_pem (cert);
	both = g_strconcat (key_text, chain_text, NULL);
	combined = write_text (&id, "combined.pem", both);
	password = write_text (&id, "password.txt", PASSWORD "\n");
	import_and_deliver (&id, combined, NULL, password);
	identity = get_identity (&id, "device");
	g_assert_cmpuint (tether_dbus_identity1_get_chain_length (identity), >=, 1);
}

static void
test_import_sec1 (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) cert = NULL;
	g_autofree char *key = NULL;
	g_autofree char *chain = NULL;
	g_autofree char *text = NULL;

	id_start (&id);
	cert = device_cert (&id, "ec-p384");
	key = write_key (&id, cert, KEY_TRADITIONAL, "key.pem");
	g_assert_true (g_file_get_contents (key, &text, NULL, NULL));
	g_assert_nonnull (strstr (text, "-----BEGIN EC PRIVATE KEY-----"));
	chain = write_chain (&id, cert, "chain.pem");
	import_and_deliver (&id, key, chain, NULL);
}

static void
test_import_pkcs1 (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) cert = NULL;
	g_autofree char *key = NULL;
	g_autofree char *chain = NULL;
	g_autofree char *text = NULL;
	g_autoptr(TetherDBusIdentity1) identity = NULL;

	id_start (&id);
	cert = device_cert (&id, "rsa-2048");
	key = write_key (&id, cert, KEY_TRADITIONAL, "key.pem");
	g_assert_true (g_file_get_contents (key, &text, NULL, NULL));
	g_assert_nonnull (strstr (text, "-----BEGIN RSA PRIVATE KEY-----"));
	chain = write_chain (&id, cert, "chain.pem");
	import_and_deliver (&id, key, chain, NULL);
	identity = get_identity (&id, "device");
	g_assert_cmpstr (tether_dbus_identity1_get_key_type (identity), ==, "rsa-2048");
}

static void
test_import_pkcs12 (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) ca = NULL;
	g_autoptr(TetherTestCert) sub = NULL;
	g_autoptr(TetherTestCert) cert = NULL;
	g_autofree char *bundle = NULL;
	g_autofree char *wrong = NULL;
	g_autofree char *empty = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;
	g_autoptr(GBytes) password = g_bytes_new_static (PASSWORD "\n", strlen (PASSWORD) + 1);
	g_autoptr(TetherDBusIdentity1) identity = NULL;
	g_autofree char *stored_key = NULL;
	g_autofree char *stored_chain = NULL;

	id_start (&id);

	/* a leaf from an intermediate: the bundle brings the whole chain */
	ca = device_ca (&id);
	sub = make_cert (TETHER_TEST_CERT_CA, "Tether Test Device Sub CA", ca, 0, 0, NULL);
	cert = make_cert (TETHER_TEST_CERT_CLIENT, DEVICE_CN, sub, 0, 0, NULL);
	bundle = write_pkcs12 (&id, cert, PASSWORD, "device.p12");
	wrong = write_text (&id, "wrong.txt", "guess\n");
	empty = write_text (&id, "empty.txt", "\n");

	result = tether_test_env_ctl (id.env, NULL, "identity", "import", bundle, NULL);
	assert_refused (result, "none was given");
	g_clear_pointer (&result, tether_test_ctl_result_free);
	result = tether_test_env_ctl (id.env, NULL, "identity", "import", "--password-file", wrong,
	                              bundle, NULL);
	assert_refused (result, "does not open");
	g_clear_pointer (&result, tether_test_ctl_result_free);
	result = tether_test_env_ctl (id.env, NULL, "identity", "import", "--password-file", empty,
	                              bundle, NULL);
	assert_refused (result, "empty");
	g_clear_pointer (&result, tether_test_ctl_result_free);

	/* the password from standard input */
	result = tether_test_env_ctl (id.env, password, "identity", "import", "--password-file",
	                              "-", bundle, NULL);
	assert_ok (result);
	stored_key = state_file (&id, "device", "active/key.pem");
	stored_chain = state_file (&id, "device", "active/chain.pem");
	assert_private_file (stored_key);
	assert_private_file (stored_chain);
	g_assert_false (tree_contains (tether_test_env_get_state_dir (id.env), PASSWORD));
	identity = get_identity (&id, "device");
	g_assert_cmpuint (tether_dbus_identity1_get_chain_length (identity), ==, 2);
	add_connection (&id, "device");
	tether_test_env_wait_state (id.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	assert_telemetry (&id, "{\"p12\":1}");
}

/* a chain for another key, and a password on the command line, are refused */
static void
test_import_foreign_key (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) cert = NULL;
	g_autoptr(TetherTestCert) other = NULL;
	g_autofree char *key = NULL;
	g_autofree char *chain = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;
	g_autoptr(TetherTestCtlResult) on_line = NULL;
	g_autoptr(TetherTestCtlResult) list = NULL;

	id_start (&id);
	cert = device_cert (&id, NULL);
	other = device_cert (&id, NULL);
	key = write_key (&id, cert, KEY_PKCS8, "key.pem");
	chain = write_chain (&id, other, "chain.pem");
	result = tether_test_env_ctl (id.env, NULL, "identity", "import", "--identity", "spare",
	                              key, chain, NULL);
	assert_refused (result, "no certificate in the chain is for the imported key");

	/* nothing was made for the refused import */
	list = tether_test_env_ctl (id.env, NULL, "identity", "list", NULL);
	assert_ok (list);
	g_assert_null (strstr (list->out, "spare"));

	on_line = tether_test_env_ctl (id.env, NULL, "identity", "import", "--password", PASSWORD,
	                               key, chain, NULL);
	g_assert_cmpint (on_line->status, ==, 2);
}

/* ---- certificate checks on install ---- */

/* a request from the device identity, signed by @issuer as the test asks */
static char *
request (Id *id)
{
	g_autofree char *csr = tether_test_env_path (id->env, "device.csr");

	if (!g_file_test (csr, G_FILE_TEST_EXISTS))
		tether_test_env_ctl_ok (id->env, "identity", "request", "--common-name", DEVICE_CN,
		                        "--out", csr, NULL);
	return g_steal_pointer (&csr);
}

static TetherTestCert *
sign_request (Id *id, TetherTestCert *issuer, gint64 not_before, gint64 not_after)
{
	g_autofree char *csr_path = request (id);
	g_autofree char *csr = NULL;
	g_autoptr(GError) error = NULL;
	TetherTestCert *cert;

	g_assert_true (g_file_get_contents (csr_path, &csr, NULL, NULL));
	cert = tether_test_cert_sign_csr (issuer, csr, not_before, not_after, &error);
	g_assert_no_error (error);
	return cert;
}

static TetherTestCtlResult *
install_text (Id *id, const char *pem)
{
	g_autofree char *path = write_text (id, "install.pem", pem);

	return tether_test_env_ctl (id->env, NULL, "identity", "install", path, NULL);
}

static void
test_install_foreign_key (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) other = NULL;
	g_autofree char *pem = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;

	id_start (&id);
	g_free (request (&id));
	other = device_cert (&id, NULL);
	pem = tether_test_cert_get_chain_pem (other);
	result = install_text (&id, pem);
	assert_refused (result, "public key differs");
}

static void
test_install_expired (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) ca = NULL;
	g_autoptr(TetherTestCert) cert = NULL;
	g_autofree char *pem = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;
	gint64 now = g_get_real_time () / G_USEC_PER_SEC;

	id_start (&id);
	ca = device_ca (&id);
	cert = sign_request (&id, ca, now - 10 * TETHER_TEST_DAY, now - TETHER_TEST_DAY);
	pem = tether_test_cert_get_chain_pem (cert);
	result = install_text (&id, pem);
	assert_refused (result, "expired on");
}

/* a CA certificate for the device key, issued by the device CA */
static void
test_install_ca_leaf (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) ca = NULL;
	g_autoptr(TetherTestCert) cert = NULL;
	g_autofree char *stored = NULL;
	g_autofree char *pem = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;

	id_start (&id);

	/* an identity imported with a CA certificate for its key */
	ca = device_ca (&id);
	cert = make_cert (TETHER_TEST_CERT_CA, DEVICE_CN, ca, 0, 0, NULL);
	stored = write_key (&id, cert, KEY_PKCS8, "key.pem");
	pem = write_chain (&id, cert, "chain.pem");
	result = tether_test_env_ctl (id.env, NULL, "identity", "import", stored, pem, NULL);
	assert_refused (result, "CA certificate");
}

static void
test_install_server_eku (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) ca = NULL;
	g_autoptr(TetherTestCert) cert = NULL;
	g_autofree char *key = NULL;
	g_autofree char *chain = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;

	id_start (&id);
	ca = device_ca (&id);
	cert = make_cert (TETHER_TEST_CERT_SERVER, DEVICE_CN, ca, 0, 0, NULL);
	key = write_key (&id, cert, KEY_PKCS8, "key.pem");
	chain = write_chain (&id, cert, "chain.pem");
	result = tether_test_env_ctl (id.env, NULL, "identity", "import", key, chain, NULL);
	assert_refused (result, "TLS server authentication");
	g_assert_nonnull (strstr (result->err, "not for TLS client authentication"));
}

/* intermediate first, leaf last: put in order, reported, and the broker accepts the chain */
static void
test_install_reversed_chain (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) ca = NULL;
	g_autoptr(TetherTestCert) sub = NULL;
	g_autoptr(TetherTestCert) cert = NULL;
	g_autofree char *leaf_pem = NULL;
	g_autofree char *sub_pem = NULL;
	g_autofree char *reversed = NULL;
	g_autofree char *stored = NULL;
	g_autofree char *stored_path = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;

	id_start (&id);
	ca = device_ca (&id);
	sub = make_cert (TETHER_TEST_CERT_CA, "Tether Test Device Sub CA", ca, 0, 0, NULL);
	cert = sign_request (&id, sub, 0, 0);
	leaf_pem = tether_test_cert_get_pem (cert);
	sub_pem = tether_test_cert_get_pem (sub);
	reversed = g_strconcat (sub_pem, leaf_pem, NULL);
	result = install_text (&id, reversed);
	assert_ok (result);
	g_assert_nonnull (strstr (result->err, "not in order"));

	stored_path = state_file (&id, "device", "active/chain.pem");
	g_assert_true (g_file_get_contents (stored_path, &stored, NULL, NULL));
	g_assert_true (g_str_has_prefix (stored, leaf_pem));
	add_connection (&id, "device");
	tether_test_env_wait_state (id.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	assert_telemetry (&id, "{\"reordered\":1}");
}

/* a leaf from an intermediate without the intermediate: warned */
static void
test_install_leaf_only (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) ca = NULL;
	g_autoptr(TetherTestCert) sub = NULL;
	g_autoptr(TetherTestCert) cert = NULL;
	g_autofree char *leaf_pem = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;
	g_autoptr(TetherTestCtlResult) direct = NULL;
	g_autoptr(TetherTestCert) from_root = NULL;
	g_autofree char *root_leaf_pem = NULL;
	const char *root_path = NULL;

	id_start (&id);
	ca = device_ca (&id);
	sub = make_cert (TETHER_TEST_CERT_CA, "Tether Test Device Sub CA", ca, 0, 0, NULL);
	cert = sign_request (&id, sub, 0, 0);
	leaf_pem = tether_test_cert_get_pem (cert);
	result = install_text (&id, leaf_pem);
	assert_ok (result);
	g_assert_nonnull (strstr (result->err, "holds only the device certificate"));
	g_assert_nonnull (strstr (result->err, "Tether Test Device Sub CA"));

	/* issued by a root the daemon knows (an anchor): no warning */
	root_path = tether_test_env_get_pki (id.env)->device_ca_cert;
	tether_test_env_ctl_ok (id.env, "anchor", "add", "device-ca", root_path, NULL);
	from_root = sign_request (&id, ca, 0, 0);
	root_leaf_pem = tether_test_cert_get_pem (from_root);
	direct = install_text (&id, root_leaf_pem);
	assert_ok (direct);
	g_assert_null (strstr (direct->err, "holds only the device certificate"));
}

/* a leaf valid only from tomorrow, and one close to its end: installed, with warnings */
static void
test_install_warnings (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) ca = NULL;
	g_autoptr(TetherTestCert) future = NULL;
	g_autoptr(TetherTestCert) ending = NULL;
	g_autofree char *future_pem = NULL;
	g_autofree char *ending_pem = NULL;
	g_autoptr(TetherTestCtlResult) first = NULL;
	g_autoptr(TetherTestCtlResult) second = NULL;
	g_autoptr(TetherTestCert) old_sub = NULL;
	g_autoptr(TetherTestCert) from_old_sub = NULL;
	g_autofree char *from_old_sub_pem = NULL;
	g_autoptr(TetherTestCtlResult) third = NULL;
	gint64 now = g_get_real_time () / G_USEC_PER_SEC;

	id_start (&id);
	ca = device_ca (&id);
	future = sign_request (&id, ca, now + TETHER_TEST_DAY, now + 30 * TETHER_TEST_DAY);
	future_pem = tether_test_cert_get_chain_pem (future);
	first = install_text (&id, future_pem);
	assert_ok (first);
	g_assert_nonnull (strstr (first->err, "check the device's clock"));

	ending = sign_request (&id, ca, now - 29 * TETHER_TEST_DAY, now + TETHER_TEST_DAY);
	ending_pem = tether_test_cert_get_chain_pem (ending);
	second = install_text (&id, ending_pem);
	assert_ok (second);
	g_assert_nonnull (strstr (second->err, "renewal is due"));

	/* an intermediate that has expired, though the device certificate has not */
	old_sub = make_cert (TETHER_TEST_CERT_CA, "Tether Test Old Sub CA", ca,
	                     now - 10 * TETHER_TEST_DAY, now - TETHER_TEST_DAY, NULL);
	from_old_sub = sign_request (&id, old_sub, 0, 0);
	from_old_sub_pem = tether_test_cert_get_chain_pem (from_old_sub);
	third = install_text (&id, from_old_sub_pem);
	assert_ok (third);
	g_assert_nonnull (strstr (third->err, "certificate 2 of"));
	g_assert_nonnull (strstr (third->err, "('Tether Test Old Sub CA') expired on"));
}

/* ---- CSR options ---- */

static void
test_request_options (void)
{
	g_auto(Id) id = { 0 };
	g_autofree char *csr_path = NULL;
	g_autofree char *csr = NULL;
	g_auto(gnutls_x509_crq_t) crq = NULL;
	gnutls_datum_t datum;
	char name[256];
	size_t size;
	unsigned int type = 0;
	unsigned int usage = 0;
	unsigned int bits = 0;
	int rc;

	id_start (&id);
	csr_path = tether_test_env_path (id.env, "sans.csr");
	tether_test_env_ctl_ok (id.env, "identity", "request", "--identity", "sans",
	                        "--common-name", DEVICE_CN, "--organization", "Tether Tests",
	                        "--organizational-unit", "Lab", "--country", "de", "--key-type",
	                        "ec-p384", "--dns-name", "device.example", "--uri",
	                        "urn:example:device:1", "--out", csr_path, NULL);
	g_assert_true (g_file_get_contents (csr_path, &csr, NULL, NULL));
	datum.data = (unsigned char *) csr;
	datum.size = strlen (csr);
	g_assert_cmpint (gnutls_x509_crq_init (&crq), ==, 0);
	g_assert_cmpint (gnutls_x509_crq_import (crq, &datum, GNUTLS_X509_FMT_PEM), ==, 0);

	size = sizeof (name);
	rc = gnutls_x509_crq_get_subject_alt_name (crq, 0, name, &size, &type, NULL);
	g_assert_cmpint (rc, ==, GNUTLS_SAN_DNSNAME);
	g_assert_cmpstr (name, ==, "device.example");
	size = sizeof (name);
	rc = gnutls_x509_crq_get_subject_alt_name (crq, 1, name, &size, &type, NULL);
	g_assert_cmpint (rc, ==, GNUTLS_SAN_URI);
	g_assert_cmpstr (name, ==, "urn:example:device:1");
	size = sizeof (name);
	g_assert_cmpint (gnutls_x509_crq_get_dn_by_oid (crq, GNUTLS_OID_X520_COUNTRY_NAME, 0, 0,
	                                                name, &size),
	                 ==, 0);
	g_assert_cmpstr (name, ==, "DE");
	size = sizeof (name);
	g_assert_cmpint (gnutls_x509_crq_get_dn_by_oid (crq, GNUTLS_OID_X520_ORGANIZATION_NAME, 0,
	                                                0, name, &size),
	                 ==, 0);
	g_assert_cmpstr (name, ==, "Tether Tests");
	size = sizeof (name);
	g_assert_cmpint (gnutls_x509_crq_get_dn_by_oid (
	                         crq, GNUTLS_OID_X520_ORGANIZATIONAL_UNIT_NAME, 0, 0, name, &size),
	                 ==, 0);
	g_assert_cmpstr (name, ==, "Lab");
	size = sizeof (name);
	g_assert_cmpint (
	        gnutls_x509_crq_get_dn_by_oid (crq, GNUTLS_OID_X520_COMMON_NAME, 0, 0, name, &size),
	        ==, 0);
	g_assert_cmpstr (name, ==, DEVICE_CN);
	g_assert_cmpint (gnutls_x509_crq_get_pk_algorithm (crq, &bits), ==, GNUTLS_PK_ECDSA);
	g_assert_cmpuint (bits, ==, 384);
	size = sizeof (name);
	g_assert_cmpint (gnutls_x509_crq_get_key_purpose_oid (crq, 0, name, &size, NULL), ==, 0);
	g_assert_cmpstr (name, ==, GNUTLS_KP_TLS_WWW_CLIENT);
	g_assert_cmpint (gnutls_x509_crq_get_key_usage (crq, &usage, NULL), ==, 0);
	g_assert_true (usage & GNUTLS_KEY_DIGITAL_SIGNATURE);
}

/* each key type made on the device: the type asked for, mode 0600, never in the log */
static void
test_request_key_types (void)
{
	g_auto(Id) id = { 0 };
	const char *types[] = { NULL, "ec-p384", "rsa-2048", "rsa-3072" };
	g_autofree char *log = NULL;

	id_start (&id);
	for (gsize i = 0; i < G_N_ELEMENTS (types); i++) {
		const char *name = types[i] != NULL ? types[i] : "default";
		g_autofree char *key = state_file (&id, name, "active/key.pem");
		g_autofree char *dir = state_file (&id, name, NULL);
		g_autoptr(TetherDBusIdentity1) identity = NULL;
		GStatBuf st;

		if (types[i] != NULL)
			tether_test_env_ctl_ok (id.env, "identity", "request", "--identity", name,
			                        "--common-name", DEVICE_CN, "--key-type", types[i],
			                        "--out", "/dev/null", NULL);
		else
			tether_test_env_ctl_ok (id.env, "identity", "request", "--identity", name,
			                        "--common-name", DEVICE_CN, "--out", "/dev/null",
			                        NULL);
		assert_dev_null_intact ();
		assert_private_file (key);
		g_assert_cmpint (g_stat (dir, &st), ==, 0);
		g_assert_cmpint (st.st_mode & 0777, ==, 0700);
		identity = get_identity (&id, name);
		g_assert_cmpstr (tether_dbus_identity1_get_key_type (identity), ==,
		                 types[i] != NULL ? types[i] : "ec-p256");
		g_assert_cmpstr (tether_dbus_identity1_get_state (identity), ==, "key-only");
	}
	g_assert_true (
	        g_file_get_contents (tether_test_env_get_daemon_log (id.env), &log, NULL, NULL));
	g_assert_null (strstr (log, "PRIVATE KEY"));
}

/* a request refused for a bad option or an output it cannot write changes nothing */
static void
test_request_refused (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) ca = NULL;
	g_autoptr(TetherTestCert) cert = NULL;
	g_autofree char *pem = NULL;
	g_autofree char *pending_key = NULL;
	g_autofree char *before = NULL;
	g_autofree char *after = NULL;
	g_autofree char *unwritable = NULL;
	g_autofree char *spare_dir = NULL;
	g_autoptr(TetherTestCtlResult) country = NULL;
	g_autoptr(TetherTestCtlResult) output = NULL;
	g_autoptr(TetherTestCtlResult) list = NULL;
	g_autoptr(TetherTestCtlResult) installed = NULL;
	g_autoptr(TetherTestCtlResult) renew_uri = NULL;
	g_autoptr(TetherTestCtlResult) renew_output = NULL;

	id_start (&id);

	/* a new identity: neither it nor a key is made */
	country = tether_test_env_ctl (id.env, NULL, "identity", "request", "--identity", "spare",
	                               "--common-name", DEVICE_CN, "--country", "Germany", NULL);
	assert_refused (country, "two-letter");
	unwritable = tether_test_env_path (id.env, "no-such-dir/spare.csr");
	output = tether_test_env_ctl (id.env, NULL, "identity", "request", "--identity", "spare",
	                              "--common-name", DEVICE_CN, "--out", unwritable, NULL);
	assert_refused (output, "no-such-dir");
	assert_refused (output, "does not exist");
	list = tether_test_env_ctl (id.env, NULL, "identity", "list", NULL);
	assert_ok (list);
	g_assert_null (strstr (list->out, "spare"));
	spare_dir = state_file (&id, "spare", NULL);
	g_assert_false (g_file_test (spare_dir, G_FILE_TEST_EXISTS));

	/* a renewal key waiting for its certificate stays as it was */
	ca = device_ca (&id);
	cert = sign_request (&id, ca, 0, 0);
	pem = tether_test_cert_get_chain_pem (cert);
	installed = install_text (&id, pem);
	assert_ok (installed);
	tether_test_env_ctl_ok (id.env, "identity", "request", "--renew", "--out", "/dev/null",
	                        NULL);
	assert_dev_null_intact ();
	pending_key = state_file (&id, "device", "pending/key.pem");
	g_assert_true (g_file_get_contents (pending_key, &before, NULL, NULL));
	renew_uri = tether_test_env_ctl (id.env, NULL, "identity", "request", "--renew", "--uri",
	                                 "not a uri", NULL);
	assert_refused (renew_uri, "is not a URI");
	renew_output = tether_test_env_ctl (id.env, NULL, "identity", "request", "--renew", "--out",
	                                    unwritable, NULL);
	assert_refused (renew_output, "the directory");
	assert_refused (renew_output, "does not exist");
	g_assert_true (g_file_get_contents (pending_key, &after, NULL, NULL));
	g_assert_cmpstr (after, ==, before);
}

static void
assert_is_request (const char *text)
{
	g_assert_nonnull (strstr (text, "-----BEGIN "));
	g_assert_nonnull (strstr (text, "CERTIFICATE REQUEST-----"));
}

/* --out writes into a device or a FIFO and through a link, and leaves each what it was;
 * '-' is standard output */
static void
test_request_out_special (void)
{
	g_auto(Id) id = { 0 };
	g_autofree char *file = NULL;
	g_autofree char *link = NULL;
	g_autofree char *fifo = NULL;
	g_autofree char *contents = NULL;
	g_autoptr(GString) from_fifo = g_string_new (NULL);
	g_autoptr(TetherTestCtlResult) to_stdout = NULL;
	char buffer[4096];
	gssize got;
	GStatBuf st;
	int reader;

	id_start (&id);

	/* a device */
	tether_test_env_ctl_ok (id.env, "identity", "request", "--common-name", DEVICE_CN, "--out",
	                        "/dev/null", NULL);
	assert_dev_null_intact ();

	/* a link, by a relative name, to a file: the file holds the request, the link stays */
	file = tether_test_env_write_file (id.env, "request.csr", "old", -1);
	link = tether_test_env_path (id.env, "request-link.csr");
	g_assert_cmpint (symlink ("request.csr", link), ==, 0);
	tether_test_env_ctl_ok (id.env, "identity", "request", "--common-name", DEVICE_CN, "--out",
	                        link, NULL);
	g_assert_cmpint (g_lstat (link, &st), ==, 0);
	g_assert_true (S_ISLNK (st.st_mode));
	g_assert_true (g_file_get_contents (file, &contents, NULL, NULL));
	assert_is_request (contents);

	/* a FIFO with a reader waiting: the request comes out of it, the FIFO stays */
	fifo = tether_test_env_path (id.env, "request.fifo");
	g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
	reader = g_open (fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
	g_assert_cmpint (reader, >=, 0);
	tether_test_env_ctl_ok (id.env, "identity", "request", "--common-name", DEVICE_CN, "--out",
	                        fifo, NULL);
	while ((got = read (reader, buffer, sizeof buffer)) > 0)
		g_string_append_len (from_fifo, buffer, got);
	g_close (reader, NULL);
	assert_is_request (from_fifo->str);
	g_assert_cmpint (g_lstat (fifo, &st), ==, 0);
	g_assert_true (S_ISFIFO (st.st_mode));

	/* standard output */
	to_stdout = tether_test_env_ctl (id.env, NULL, "identity", "request", "--common-name",
	                                 DEVICE_CN, "--out", "-", NULL);
	assert_ok (to_stdout);
	assert_is_request (to_stdout->out);
	/* and no file named '-' in the directory it ran in */
	g_assert_false (g_file_test ("-", G_FILE_TEST_EXISTS));
}

/* ---- removal ---- */

static void
test_remove (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCtlResult) in_use = NULL;
	g_autoptr(TetherTestCtlResult) list = NULL;
	g_autoptr(TetherTestCtlResult) missing = NULL;
	g_autofree char *dir = NULL;

	id_start (&id);
	tether_test_env_ctl_ok (id.env, "identity", "request", "--identity", "spare",
	                        "--common-name", DEVICE_CN, NULL);
	add_connection (&id, "spare");
	dir = g_build_filename (tether_test_env_get_state_dir (id.env), "identities", "spare",
	                        NULL);
	g_assert_true (g_file_test (dir, G_FILE_TEST_IS_DIR));

	in_use = tether_test_env_ctl (id.env, NULL, "identity", "remove", "spare", NULL);
	assert_refused (in_use, "used by connection 'tb'");
	g_assert_true (g_file_test (dir, G_FILE_TEST_IS_DIR));

	tether_test_env_ctl_ok (id.env, "connection", "remove", CONNECTION, NULL);
	tether_test_env_ctl_ok (id.env, "identity", "remove", "spare", NULL);
	g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
	list = tether_test_env_ctl (id.env, NULL, "identity", "list", NULL);
	assert_ok (list);
	g_assert_null (strstr (list->out, "spare"));
	missing = tether_test_env_ctl (id.env, NULL, "identity", "remove", "spare", NULL);
	assert_refused (missing, "there is no identity 'spare'");

	/* still gone after a restart: the settings' list says so */
	tether_test_env_restart_daemon (id.env);
	g_clear_pointer (&list, tether_test_ctl_result_free);
	list = tether_test_env_ctl (id.env, NULL, "identity", "list", NULL);
	g_assert_null (strstr (list->out, "spare"));
}

/* ---- manual renewal ---- */

typedef struct {
	guint started;
	guint finished;
	gboolean ok;
	char *message;
} RenewalSignals;

static void
renewal_started_cb (TetherDBusIdentity1 *identity, RenewalSignals *signals)
{
	signals->started++;
}

static void
renewal_finished_cb (TetherDBusIdentity1 *identity, gboolean ok, const char *message,
                     RenewalSignals *signals)
{
	signals->finished++;
	signals->ok = ok;
	g_free (signals->message);
	signals->message = g_strdup (message);
}

static gboolean
renewal_done (gpointer user_data)
{
	RenewalSignals *signals = user_data;

	return signals->finished > 0;
}

static void
watch_renewal (TetherDBusIdentity1 *identity, RenewalSignals *signals)
{
	g_signal_connect (identity, "renewal-started", G_CALLBACK (renewal_started_cb), signals);
	g_signal_connect (identity, "renewal-finished", G_CALLBACK (renewal_finished_cb), signals);
}

static void
wait_renewal (Id *id, RenewalSignals *signals, guint timeout_ms)
{
	if (!tether_test_wait_until (renewal_done, signals, timeout_ms)) {
		g_autofree char *log = NULL;

		g_file_get_contents (tether_test_env_get_daemon_log (id->env), &log, NULL, NULL);
		g_printerr ("# tetherd log:\n%s\n", log != NULL ? log : "");
		g_error ("no RenewalFinished within %u ms", timeout_ms);
	}
}

/* the device connected with a certificate from the device CA */
static void
connect_device (Id *id)
{
	g_autoptr(TetherTestCert) ca = device_ca (id);
	g_autoptr(TetherTestCert) cert = sign_request (id, ca, 0, 0);
	g_autofree char *pem = tether_test_cert_get_chain_pem (cert);
	g_autoptr(TetherTestCtlResult) result = install_text (id, pem);

	assert_ok (result);
	add_connection (id, "device");
	tether_test_env_wait_state (id->env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
}

static char *
renew_request (Id *id)
{
	g_autofree char *csr_path = tether_test_env_path (id->env, "renew.csr");
	g_autofree char *csr = NULL;

	tether_test_env_ctl_ok (id->env, "identity", "request", "--renew", "--out", csr_path, NULL);
	g_assert_true (g_file_get_contents (csr_path, &csr, NULL, NULL));
	return g_steal_pointer (&csr);
}

/* renew; the pending pair goes on trial, works, becomes the active one; nothing is lost */
static void
test_renew_manual (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherDBusIdentity1) identity = NULL;
	g_autoptr(TetherTestCert) ca = NULL;
	g_autoptr(TetherTestCert) renewed = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *csr = NULL;
	g_autofree char *old_serial = NULL;
	g_autofree char *pem = NULL;
	g_autofree char *old_key = NULL;
	g_autofree char *new_key = NULL;
	g_autofree char *key_path = NULL;
	g_autofree char *pending_dir = NULL;
	g_autoptr(TetherTestCtlResult) show = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;
	RenewalSignals signals = { 0 };

	id_start (&id);
	connect_device (&id);
	identity = get_identity (&id, "device");
	watch_renewal (identity, &signals);
	old_serial = g_strdup (tether_dbus_identity1_get_serial (identity));
	key_path = state_file (&id, "device", "active/key.pem");
	g_assert_true (g_file_get_contents (key_path, &old_key, NULL, NULL));

	/* a new key beside the active one; the connection stays up on the old pair */
	csr = renew_request (&id);
	pending_dir = state_file (&id, "device", "pending");
	g_assert_true (g_file_test (pending_dir, G_FILE_TEST_IS_DIR));
	g_assert_cmpstr (tether_dbus_connection1_get_state (
	                         tether_test_env_get_connection (id.env, CONNECTION)),
	                 ==, "connected");
	show = tether_test_env_ctl (id.env, NULL, "identity", "show", NULL);
	g_assert_nonnull (strstr (show->out, "pending-key: yes"));

	/* its certificate: on trial, promoted when the connection succeeds with it */
	ca = device_ca (&id);
	renewed = tether_test_cert_sign_csr (ca, csr, 0, 0, &error);
	g_assert_no_error (error);
	pem = tether_test_cert_get_chain_pem (renewed);
	result = install_text (&id, pem);
	assert_ok (result);
	tether_test_env_ctl_ok (id.env, "publish", "--connection", CONNECTION, "--kind",
	                        "telemetry", "{\"during\":\"switch\"}", NULL);
	wait_renewal (&id, &signals, TETHER_TEST_TIMEOUT_MS);
	g_assert_true (signals.ok);
	g_assert_cmpuint (signals.started, ==, 1);
	g_assert_nonnull (strstr (signals.message, "now the active one"));

	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (identity), "Pending",
	                                          g_variant_new_boolean (FALSE),
	                                          TETHER_TEST_TIMEOUT_MS));
	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (identity), "State",
	                                          g_variant_new_string ("ready"),
	                                          TETHER_TEST_TIMEOUT_MS));
	g_assert_cmpstr (tether_dbus_identity1_get_serial (identity), !=, old_serial);
	g_assert_true (g_file_get_contents (key_path, &new_key, NULL, NULL));
	g_assert_cmpstr (new_key, !=, old_key);
	g_assert_false (g_file_test (pending_dir, G_FILE_TEST_EXISTS));

	/* the message sent during the switch arrived; the new pair delivers */
	wait_payload (&id, "{\"during\":\"switch\"}");
	tether_test_env_wait_state (id.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	assert_telemetry (&id, "{\"after\":\"renewal\"}");

	/* and again after a restart, from the files alone */
	tether_test_env_restart_daemon (id.env);
	tether_test_env_wait_state (id.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	assert_telemetry (&id, "{\"after\":\"restart\"}");
	g_free (signals.message);
}

/* a renewed certificate the broker refuses: rolled back, the old pair still connects */
static void
test_renew_rejected (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherDBusIdentity1) identity = NULL;
	g_autoptr(TetherTestCert) rogue = NULL;
	g_autoptr(TetherTestCert) renewed = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *csr = NULL;
	g_autofree char *old_serial = NULL;
	g_autofree char *pem = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;
	g_autoptr(TetherTestCtlResult) show = NULL;
	RenewalSignals signals = { 0 };

	id_start (&id);
	connect_device (&id);
	identity = get_identity (&id, "device");
	watch_renewal (identity, &signals);
	old_serial = g_strdup (tether_dbus_identity1_get_serial (identity));

	/* signed by a CA the broker does not know */
	csr = renew_request (&id);
	rogue = make_cert (TETHER_TEST_CERT_CA, "Rogue CA", NULL, 0, 0, NULL);
	renewed = tether_test_cert_sign_csr (rogue, csr, 0, 0, &error);
	g_assert_no_error (error);
	pem = tether_test_cert_get_chain_pem (renewed);
	result = install_text (&id, pem);
	assert_ok (result);
	tether_test_env_ctl_ok (id.env, "publish", "--connection", CONNECTION, "--kind",
	                        "telemetry", "{\"during\":\"rollback\"}", NULL);
	wait_renewal (&id, &signals, 3 * TETHER_TEST_TIMEOUT_MS);
	g_assert_false (signals.ok);
	g_assert_nonnull (strstr (signals.message, "stays in use"));

	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (identity), "Pending",
	                                          g_variant_new_boolean (FALSE),
	                                          TETHER_TEST_TIMEOUT_MS));
	g_assert_cmpstr (tether_dbus_identity1_get_serial (identity), ==, old_serial);
	tether_test_env_wait_state (id.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	wait_payload (&id, "{\"during\":\"rollback\"}");
	assert_telemetry (&id, "{\"old\":\"pair\"}");
	show = tether_test_env_ctl (id.env, NULL, "identity", "show", NULL);
	g_assert_nonnull (strstr (show->out, "last-result: failed"));

	/* a reconnect later still uses the old pair */
	tether_test_env_restart_daemon (id.env);
	tether_test_env_wait_state (id.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	assert_telemetry (&id, "{\"old\":\"after restart\"}");
	g_free (signals.message);
}

/*
 * tetherd dies between the two renames that promote a renewed pair (active -> old, pending ->
 * active): when it starts again it finishes the promotion, and the device connects with the
 * renewed pair.
 */
static void
test_renew_interrupted (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) ca = NULL;
	g_autoptr(TetherTestCert) renewed = NULL;
	g_autoptr(TetherDBusIdentity1) identity = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *csr = NULL;
	g_autofree char *pem = NULL;
	g_autofree char *old_serial = NULL;
	g_autofree char *pending_key_path = NULL;
	g_autofree char *pending_key = NULL;
	g_autofree char *pending_chain = NULL;
	g_autofree char *active = NULL;
	g_autofree char *old = NULL;
	g_autofree char *pending = NULL;
	g_autofree char *active_key = NULL;
	g_autofree char *key_path = NULL;

	id_start (&id);
	connect_device (&id);
	csr = renew_request (&id);
	ca = device_ca (&id);
	renewed = tether_test_cert_sign_csr (ca, csr, 0, 0, &error);
	g_assert_no_error (error);
	pem = tether_test_cert_get_chain_pem (renewed);
	identity = get_identity (&id, "device");
	old_serial = g_strdup (tether_dbus_identity1_get_serial (identity));
	g_clear_object (&identity);

	/* the state a crash after the first rename leaves: the renewed pair, no active one */
	tether_test_env_kill_daemon (id.env);
	pending_key_path = state_file (&id, "device", "pending/key.pem");
	g_assert_true (g_file_get_contents (pending_key_path, &pending_key, NULL, NULL));
	pending_chain = state_file (&id, "device", "pending/chain.pem");
	g_assert_true (g_file_set_contents_full (pending_chain, pem, -1,
	                                         G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error));
	g_assert_no_error (error);
	active = state_file (&id, "device", "active");
	old = state_file (&id, "device", "old");
	g_assert_cmpint (g_rename (active, old), ==, 0);

	/* the next start finishes the promotion */
	tether_test_env_start_daemon (id.env);
	tether_test_env_wait_state (id.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	identity = get_identity (&id, "device");
	g_assert_cmpstr (tether_dbus_identity1_get_state (identity), ==, "ready");
	g_assert_cmpstr (tether_dbus_identity1_get_serial (identity), !=, old_serial);
	g_assert_false (tether_dbus_identity1_get_pending (identity));
	key_path = state_file (&id, "device", "active/key.pem");
	g_assert_true (g_file_get_contents (key_path, &active_key, NULL, NULL));
	g_assert_cmpstr (active_key, ==, pending_key);
	assert_private_file (key_path);
	pending = state_file (&id, "device", "pending");
	g_assert_false (g_file_test (pending, G_FILE_TEST_EXISTS));
	g_assert_false (g_file_test (old, G_FILE_TEST_EXISTS));
	assert_telemetry (&id, "{\"after\":\"interrupted promotion\"}");
}

/* no connection uses the identity: the renewed pair becomes the active one at once */
static void
test_renew_unused (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherTestCert) ca = NULL;
	g_autoptr(TetherTestCert) first = NULL;
	g_autoptr(TetherTestCert) renewed = NULL;
	g_autoptr(TetherDBusIdentity1) identity = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *pem = NULL;
	g_autofree char *csr = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;
	g_autoptr(TetherTestCtlResult) refused = NULL;
	RenewalSignals signals = { 0 };

	id_start (&id);
	refused = tether_test_env_ctl (id.env, NULL, "identity", "request", "--renew", NULL);
	assert_refused (refused, "no certificate to renew");

	ca = device_ca (&id);
	first = sign_request (&id, ca, 0, 0);
	pem = tether_test_cert_get_chain_pem (first);
	result = install_text (&id, pem);
	assert_ok (result);
	identity = get_identity (&id, "device");
	watch_renewal (identity, &signals);

	csr = renew_request (&id);
	renewed = tether_test_cert_sign_csr (ca, csr, 0, 0, &error);
	g_assert_no_error (error);
	g_clear_pointer (&pem, g_free);
	pem = tether_test_cert_get_chain_pem (renewed);
	g_clear_pointer (&result, tether_test_ctl_result_free);
	result = install_text (&id, pem);
	assert_ok (result);
	wait_renewal (&id, &signals, TETHER_TEST_TIMEOUT_MS);
	g_assert_true (signals.ok);
	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (identity), "Pending",
	                                          g_variant_new_boolean (FALSE),
	                                          TETHER_TEST_TIMEOUT_MS));

	/* the promoted pair connects through the broker */
	add_connection (&id, "device");
	tether_test_env_wait_state (id.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	assert_telemetry (&id, "{\"after\":\"unused renewal\"}");
	g_free (signals.message);
}

/* ---- EST ---- */

static void
est_child_setup (gpointer user_data)
{
	prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/*
 * The EST server, on the test PKI's localhost certificate, signing with the CA in
 * pki/@ca_name.pem (the device CA unless the test says otherwise); it accepts client
 * certificates from the device CA and the basic credentials EST_USER:EST_PASSWORD.
 */
static void
est_start (Id *id, const char *ca_name, const char *validity, gboolean refuse)
{
	const TetherTestPki *pki = tether_test_env_get_pki (id->env);
	g_autoptr(GSubprocessLauncher) launcher =
	                   g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	g_autoptr(GError) error = NULL;
	g_autoptr(GDataInputStream) lines = NULL;
	g_autofree char *ca_pem_name =
	        g_strdup_printf ("%s.pem", ca_name != NULL ? ca_name : "device-ca");
	g_autofree char *ca_key_name =
	        g_strdup_printf ("%s.key", ca_name != NULL ? ca_name : "device-ca");
	g_autofree char *ca_file = tether_test_env_pki_file (id->env, ca_pem_name);
	g_autofree char *ca_key = tether_test_env_pki_file (id->env, ca_key_name);
	g_autofree char *port = NULL;
	g_autofree char *line = NULL;
	const char *argv[24];
	guint n = 0;

	if (id->est_port == 0)
		id->est_port = tether_test_pick_port ();
	port = g_strdup_printf ("%u", id->est_port);

	/* it dies with the test process, even when that aborts */
	g_subprocess_launcher_set_child_setup (launcher, est_child_setup, NULL, NULL);
	argv[n++] = EST_SERVER;
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--cert";
	argv[n++] = pki->server_cert;
	argv[n++] = "--key";
	argv[n++] = pki->server_key;
	argv[n++] = "--ca-cert";
	argv[n++] = ca_file;
	argv[n++] = "--ca-key";
	argv[n++] = ca_key;
	argv[n++] = "--client-ca";
	argv[n++] = pki->device_ca_cert;
	argv[n++] = "--user";
	argv[n++] = EST_USER ":" EST_PASSWORD;
	if (validity != NULL) {
		argv[n++] = "--validity";
		argv[n++] = validity;
	}
	if (refuse)
		argv[n++] = "--refuse";
	if (id->est_delay != NULL) {
		argv[n++] = "--delay";
		argv[n++] = id->est_delay;
	}
	argv[n] = NULL;
	id->est = g_subprocess_launcher_spawnv (launcher, argv, &error);
	g_assert_no_error (error);
	lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (id->est));
	line = g_data_input_stream_read_line (lines, NULL, NULL, &error);
	g_assert_no_error (error);
	if (line == NULL || !g_str_has_prefix (line, "listening"))
		g_error ("the EST server did not start: %s", line != NULL ? line : "(no output)");
	g_printerr ("# EST server: %s\n", line);
}

static char *
est_url (Id *id)
{
	return g_strdup_printf ("https://localhost:%u/.well-known/est", id->est_port);
}

/* the settings file before tetherd starts: EST for "device", fast retries */
static void
write_est_config (Id *id, const char *auth, const char *threshold, const char *extra)
{
	g_autofree char *url = est_url (id);
	g_autofree char *credentials = NULL;
	g_autofree char *config = NULL;
	g_autofree char *path = NULL;

	credentials = tether_test_env_write_file (id->env, "est-credentials",
	                                          EST_USER ":" EST_PASSWORD "\n", -1);
	config = g_strdup_printf ("[identities/device]\n"
	                          "est-url='%s'\n"
	                          "est-trust-anchors=['%s']\n"
	                          "est-auth='%s'\n"
	                          "est-credentials-file='%s'\n"
	                          "est-common-name='" DEVICE_CN "'\n"
	                          "renewal-threshold=%s\n"
	                          "renewal-retry-min=1\n"
	                          "renewal-retry-max=4\n"
	                          "%s",
	                          url, id->est_anchor != NULL ? id->est_anchor : ANCHOR, auth,
	                          credentials, threshold, extra != NULL ? extra : "");
	path = tether_test_env_write_file (id->env, "tether.conf", config, -1);
}

typedef struct {
	RenewalSignals *signals;
	const char *needle;
	gboolean ok;
} FinishedWait;

static gboolean
finished_with (gpointer user_data)
{
	FinishedWait *wait = user_data;

	return wait->signals->finished > 0 && wait->signals->ok == wait->ok &&
	       wait->signals->message != NULL &&
	       (wait->needle == NULL || contains_nocase (wait->signals->message, wait->needle));
}

/* a RenewalFinished with @ok whose message names @needle */
static void
wait_finished (Id *id, RenewalSignals *signals, gboolean ok, const char *needle, guint timeout_ms)
{
	FinishedWait wait = { signals, needle, ok };

	if (!tether_test_wait_until (finished_with, &wait, timeout_ms)) {
		g_autofree char *log = NULL;

		g_file_get_contents (tether_test_env_get_daemon_log (id->env), &log, NULL, NULL);
		g_printerr ("# tetherd log:\n%s\n", log != NULL ? log : "");
		g_error ("no RenewalFinished (%s) naming '%s' within %u ms; the last: %s",
		         ok ? "true" : "false", needle != NULL ? needle : "-", timeout_ms,
		         signals->message != NULL ? signals->message : "none");
	}
}

static gboolean
renewal_started (gpointer user_data)
{
	RenewalSignals *signals = user_data;

	return signals->started > 0;
}

/* the first enrollment with basic credentials, then a connection through the broker */
static void
test_est_enroll (void)
{
	g_auto(Id) id = { 0 };
	g_autofree char *log = NULL;
	g_autoptr(TetherDBusIdentity1) identity = NULL;
	g_autoptr(TetherTestCtlResult) show = NULL;

	id_prepare (&id);
	est_start (&id, NULL, NULL, FALSE);
	write_est_config (&id, "basic", "80", NULL);
	id_start_daemon (&id);
	identity = get_identity (&id, "device");
	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (identity), "State",
	                                          g_variant_new_string ("ready"),
	                                          2 * TETHER_TEST_TIMEOUT_MS));
	g_assert_cmpstr (tether_dbus_identity1_get_subject (identity), ==, "CN=" DEVICE_CN);
	g_assert_cmpstr (tether_dbus_identity1_get_issuer (identity), ==,
	                 "CN=" TETHER_TEST_DEVICE_CA_CN);
	add_connection (&id, "device");
	tether_test_env_wait_state (id.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	assert_telemetry (&id, "{\"enrolled\":\"est\"}");

	show = tether_test_env_ctl (id.env, NULL, "identity", "show", NULL);
	assert_ok (show);
	g_assert_nonnull (strstr (show->out, "renewal: est"));
	g_assert_nonnull (strstr (show->out, "last-result: ok"));

	/* what an operator needs: the chain, who uses it, where renewals come from */
	g_assert_nonnull (strstr (show->out,
	                          "chain:\n  1. CN=" DEVICE_CN
	                          " (device certificate), issued by CN=" TETHER_TEST_DEVICE_CA_CN));
	g_assert_nonnull (strstr (show->out, "used-by:\n  " CONNECTION ": connected\n"));
	g_assert_nonnull (strstr (show->out, "est-trust-anchors: " ANCHOR "\n"));
	g_assert_nonnull (strstr (show->out, "est-auth: basic\nest-credentials-file: /"));
	g_assert_nonnull (
	        strstr (show->out, "renewal-retry: 1 s after a failure, doubling up to 4 s"));
	g_assert_nonnull (strstr (show->out, "renewal-key-type: ec-p256"));
	g_assert_null (strstr (show->out, EST_PASSWORD));
	g_assert_false (tree_contains (tether_test_env_get_state_dir (id.env), EST_PASSWORD));
	g_assert_true (
	        g_file_get_contents (tether_test_env_get_daemon_log (id.env), &log, NULL, NULL));
	g_assert_null (strstr (log, EST_PASSWORD));
}

/*
 * A bootstrap certificate enrolls the device for 120 seconds; it renews by itself at 15% of
 * that, with no call from outside; a message published during the switch arrives, and the
 * renewed pair connects through the broker.
 */
static void
test_est_auto_renew (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherDBusIdentity1) identity = NULL;
	g_autoptr(TetherTestCert) factory = NULL;
	g_autofree char *factory_key = NULL;
	g_autofree char *factory_chain = NULL;
	g_autofree char *first_serial = NULL;
	gint64 first_not_after;
	RenewalSignals signals = { 0 };
	g_autoptr(GError) error = NULL;
	guint64 message_id = 0;
	GVariantBuilder payload;
	const char during[] = "{\"during\":\"est renewal\"}";

	id_prepare (&id);
	est_start (&id, NULL, "120", FALSE);
	write_est_config (&id, "certificate", "15",
	                  "est-bootstrap-identity='factory'\n"
	                  "[tether]\n"
	                  "identities=['device', 'factory']\n");
	id_start_daemon (&id);

	/* the factory's certificate, from the device CA */
	factory = device_cert (&id, NULL);
	factory_key = write_key (&id, factory, KEY_PKCS8, "factory.key");
	factory_chain = write_chain (&id, factory, "factory.pem");
	tether_test_env_ctl_ok (id.env, "identity", "import", "--identity", "factory", factory_key,
	                        factory_chain, NULL);

	identity = get_identity (&id, "device");
	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (identity), "State",
	                                          g_variant_new_string ("ready"),
	                                          2 * TETHER_TEST_TIMEOUT_MS));
	first_serial = g_strdup (tether_dbus_identity1_get_serial (identity));
	first_not_after = tether_dbus_identity1_get_not_after (identity);
	g_assert_cmpint (first_not_after - g_get_real_time () / G_USEC_PER_SEC, <=, 125);
	add_connection (&id, "device");
	tether_test_env_wait_state (id.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	assert_telemetry (&id, "{\"before\":\"renewal\"}");

	/* nothing from outside now: the renewal starts by itself */
	watch_renewal (identity, &signals);
	if (!tether_test_wait_until (renewal_started, &signals, 60000))
		g_error ("no RenewalStarted within 60 s");
	g_variant_builder_init (&payload, G_VARIANT_TYPE_BYTESTRING);
	for (gsize i = 0; i < strlen (during); i++)
		g_variant_builder_add (&payload, "y", (guchar) during[i]);
	tether_dbus_connection1_call_publish_sync (
	        tether_test_env_get_connection (id.env, CONNECTION), "telemetry",
	        g_variant_builder_end (&payload), g_variant_new ("a{sv}", NULL),
	        G_DBUS_CALL_FLAGS_NONE, -1, &message_id, NULL, &error);
	g_assert_no_error (error);
	wait_finished (&id, &signals, TRUE, "now the active one", 30000);
	g_assert_cmpint (g_get_real_time () / G_USEC_PER_SEC, <, first_not_after);
	wait_payload (&id, during);

	/* the renewed pair: a new certificate, in use through the broker */
	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (identity), "Pending",
	                                          g_variant_new_boolean (FALSE),
	                                          TETHER_TEST_TIMEOUT_MS));
	g_assert_cmpstr (tether_dbus_identity1_get_serial (identity), !=, first_serial);
	g_assert_cmpint (tether_dbus_identity1_get_not_after (identity), >, first_not_after);
	tether_test_env_wait_state (id.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	assert_telemetry (&id, "{\"after\":\"est renewal\"}");
	g_free (signals.message);
}

static gboolean
in_progress (gpointer user_data)
{
	GVariant *renewal = tether_dbus_identity1_get_renewal (user_data);
	gboolean value = FALSE;

	return renewal != NULL && g_variant_lookup (renewal, "in-progress", "b", &value) && value;
}

static gboolean
never (gpointer user_data)
{
	return FALSE;
}

/*
 * An import while the first enrollment waits for the EST server's answer: the import wins,
 * and the answer that comes later does not replace the imported pair.
 */
static void
test_est_import_cancels (void)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherDBusIdentity1) identity = NULL;
	g_autoptr(TetherTestCert) cert = NULL;
	g_autofree char *key = NULL;
	g_autofree char *chain = NULL;
	g_autofree char *imported_serial = NULL;
	RenewalSignals signals = { 0 };

	id_prepare (&id);
	id.est_delay = "2";
	est_start (&id, NULL, NULL, FALSE);
	write_est_config (&id, "basic", "80", NULL);
	id_start_daemon (&id);
	identity = get_identity (&id, "device");
	watch_renewal (identity, &signals);
	g_assert_true (tether_test_wait_until (in_progress, identity, TETHER_TEST_TIMEOUT_MS));

	cert = device_cert (&id, NULL);
	key = write_key (&id, cert, KEY_PKCS8, "key.pem");
	chain = write_chain (&id, cert, "chain.pem");
	tether_test_env_ctl_ok (id.env, "identity", "import", key, chain, NULL);
	wait_finished (&id, &signals, FALSE, "cancelled: a key and its certificate were imported",
	               TETHER_TEST_TIMEOUT_MS);
	imported_serial = g_strdup (tether_dbus_identity1_get_serial (identity));

	/* past the server's answer: the imported pair is still the one in use */
	tether_test_wait_until (never, NULL, 2500);
	g_assert_cmpstr (tether_dbus_identity1_get_serial (identity), ==, imported_serial);
	g_assert_false (tether_dbus_identity1_get_pending (identity));
	add_connection (&id, "device");
	tether_test_env_wait_state (id.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	assert_telemetry (&id, "{\"imported\":\"during EST\"}");
	g_free (signals.message);
}

/* the old pair keeps working after a failed renewal */
static void
assert_old_pair_works (Id *id, TetherDBusIdentity1 *identity, const char *old_serial)
{
	GVariant *renewal;
	guint32 failures = 0;

	/* the properties change after RenewalFinished is sent: wait for them */
	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (identity), "Pending",
	                                          g_variant_new_boolean (FALSE),
	                                          TETHER_TEST_TIMEOUT_MS));
	g_assert_cmpstr (tether_dbus_identity1_get_serial (identity), ==, old_serial);
	tether_test_env_wait_state (id->env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	assert_telemetry (id, "{\"old\":\"pair\"}");
	renewal = tether_dbus_identity1_get_renewal (identity);
	g_assert_nonnull (renewal);
	g_variant_lookup (renewal, "failures", "u", &failures);
	g_assert_cmpuint (failures, >=, 1);
}

typedef struct {
	TetherDBusIdentity1 *identity;
	gint64 after;
} AttemptWait;

static gboolean
attempted_after (gpointer user_data)
{
	AttemptWait *wait = user_data;
	GVariant *renewal = tether_dbus_identity1_get_renewal (wait->identity);
	gint64 last_attempt = 0;
	const char *result = NULL;

	if (renewal == NULL)
		return FALSE;
	g_variant_lookup (renewal, "last-attempt", "x", &last_attempt);
	g_variant_lookup (renewal, "last-result", "&s", &result);
	return last_attempt >= wait->after && g_strcmp0 (result, "failed") == 0;
}

typedef struct {
	TetherDBusIdentity1 *identity;
	guint failures;
} BackoffWait;

/* the Renewal property after @failures failures in a row: the next attempt, and the gap */
static gboolean
backed_off (gpointer user_data)
{
	BackoffWait *wait = user_data;
	GVariant *renewal = tether_dbus_identity1_get_renewal (wait->identity);
	guint32 failures = 0;
	gint64 last_attempt = 0;
	gint64 next_attempt = 0;

	if (renewal == NULL)
		return FALSE;
	g_variant_lookup (renewal, "failures", "u", &failures);
	g_variant_lookup (renewal, "last-attempt", "x", &last_attempt);
	g_variant_lookup (renewal, "next-attempt", "x", &next_attempt);
	return failures >= wait->failures && next_attempt > 0 && last_attempt > 0;
}

/* the Renewal property tells a failed first enrollment, with nothing to fall back to */
static gboolean
enrollment_failed (gpointer user_data)
{
	GVariant *renewal = tether_dbus_identity1_get_renewal (user_data);
	const char *result = NULL;
	const char *message = NULL;

	if (renewal == NULL)
		return FALSE;
	g_variant_lookup (renewal, "last-result", "&s", &result);
	g_variant_lookup (renewal, "last-message", "&s", &message);
	return g_strcmp0 (result, "failed") == 0 && message != NULL &&
	       strstr (message, "the EST enrollment failed") != NULL &&
	       strstr (message, "has no valid certificate yet") != NULL;
}

typedef enum {
	EST_FAIL_REFUSE,           /* the server answers 403 */
	EST_FAIL_DOWN,             /* nothing listens */
	EST_FAIL_ROGUE_CA,         /* it issues from a CA the broker does not trust */
	EST_FAIL_UNTRUSTED_SERVER, /* the anchors named for it do not vouch for it */
} EstFailure;

/*
 * The device with its own certificate, whose renewal falls due two seconds after it is
 * installed (threshold 50%), and a connection; then the EST server fails the renewal in the
 * way @failure says, named by @needle.
 */
static void
est_failure_case (EstFailure failure, const char *needle)
{
	g_auto(Id) id = { 0 };
	g_autoptr(TetherDBusIdentity1) identity = NULL;
	g_autoptr(TetherTestCert) ca = NULL;
	g_autoptr(TetherTestCert) cert = NULL;
	g_autofree char *pem = NULL;
	g_autofree char *old_serial = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;
	g_autoptr(TetherTestCtlResult) show = NULL;
	g_autoptr(TetherTestCtlResult) list = NULL;
	RenewalSignals signals = { 0 };
	AttemptWait attempt = { 0 };
	gint64 now;

	id_prepare (&id);
	if (failure == EST_FAIL_ROGUE_CA)
		tether_test_env_make_ca (id.env, "rogue-ca", "Rogue EST CA");
	if (failure == EST_FAIL_UNTRUSTED_SERVER)
		id.est_anchor = "device-ca";
	id.est_port = tether_test_pick_port ();
	if (failure == EST_FAIL_REFUSE)
		est_start (&id, NULL, NULL, TRUE);
	write_est_config (&id, "basic", "50", NULL);
	id_start_daemon (&id);
	if (failure == EST_FAIL_UNTRUSTED_SERVER)
		tether_test_env_ctl_ok (id.env, "anchor", "add", "device-ca",
		                        tether_test_env_get_pki (id.env)->device_ca_cert, NULL);
	identity = get_identity (&id, "device");
	watch_renewal (identity, &signals);

	/* the first enrollment fails, again and again, with nothing to fall back to */
	g_assert_true (tether_test_wait_until (enrollment_failed, identity, 20000));

	/* then a manual certificate */
	add_connection (&id, "device");
	ca = device_ca (&id);
	now = g_get_real_time () / G_USEC_PER_SEC;
	cert = sign_request (&id, ca, now - 100, now + 104);
	pem = tether_test_cert_get_chain_pem (cert);
	result = install_text (&id, pem);
	assert_ok (result);
	signals.finished = 0;
	g_clear_pointer (&signals.message, g_free);
	tether_test_env_wait_state (id.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	old_serial = g_strdup (tether_dbus_identity1_get_serial (identity));
	if (failure == EST_FAIL_ROGUE_CA)
		est_start (&id, "rogue-ca", NULL, FALSE);
	else if (failure == EST_FAIL_UNTRUSTED_SERVER)
		est_start (&id, NULL, NULL, FALSE);

	/* the renewal, due at now + 2, fails; the old pair stays */
	wait_finished (&id, &signals, FALSE, needle, 40000);
	attempt.identity = identity;
	attempt.after = now + 1;
	g_assert_true (tether_test_wait_until (attempted_after, &attempt, TETHER_TEST_TIMEOUT_MS));
	assert_old_pair_works (&id, identity, old_serial);

	/* failures in a row wait longer each time: retry-min is 1 s, retry-max 4 s */
	if (failure == EST_FAIL_DOWN) {
		BackoffWait backoff = { identity, 3 };
		GVariant *renewal;
		gint64 last_attempt = 0;
		gint64 next_attempt = 0;
		g_autofree char *pending_key_path = state_file (&id, "device", "pending/key.pem");
		g_autofree char *manual_key = NULL;
		g_autofree char *manual_key_after = NULL;

		/* a renewal key made by hand outlives the EST attempts that fail meanwhile */
		tether_test_env_ctl_ok (id.env, "identity", "request", "--renew", "--out",
		                        "/dev/null", NULL);
		assert_dev_null_intact ();
		g_assert_true (g_file_get_contents (pending_key_path, &manual_key, NULL, NULL));
		attempt.after = g_get_real_time () / G_USEC_PER_SEC + 1;
		g_assert_true (tether_test_wait_until (attempted_after, &attempt,
		                                       3 * TETHER_TEST_TIMEOUT_MS));
		g_assert_true (
		        g_file_get_contents (pending_key_path, &manual_key_after, NULL, NULL));
		g_assert_cmpstr (manual_key_after, ==, manual_key);

		g_assert_true (
		        tether_test_wait_until (backed_off, &backoff, 3 * TETHER_TEST_TIMEOUT_MS));
		renewal = tether_dbus_identity1_get_renewal (identity);
		g_variant_lookup (renewal, "last-attempt", "x", &last_attempt);
		g_variant_lookup (renewal, "next-attempt", "x", &next_attempt);
		g_assert_cmpint (next_attempt - last_attempt, >=, 2);
		g_assert_cmpint (next_attempt - last_attempt, <=, 4);

		/* what the operator reads: the reason, the old certificate's end, what to do */
		list = tether_test_env_ctl (id.env, NULL, "identity", "list", NULL);
		assert_ok (list);
		g_assert_true (
		        g_regex_match_simple ("^device +(ready|renewing) +ec-p256 .* est +failed ",
		                              list->out, G_REGEX_MULTILINE, 0));
		show = tether_test_env_ctl (id.env, NULL, "identity", "show", NULL);
		assert_ok (show);
		g_assert_nonnull (strstr (show->out, "last-result: failed"));
		g_assert_nonnull (strstr (show->out, "stays in use (it expires on "));
		g_assert_nonnull (strstr (show->out, "pending-key: yes"));
		g_assert_nonnull (
		        strstr (show->out, "advice: a renewal key waits for its certificate"));
	}
	g_free (signals.message);
}

static void
test_est_refused (void)
{
	est_failure_case (EST_FAIL_REFUSE, "simplereenroll with 403");
}

static void
test_est_down (void)
{
	est_failure_case (EST_FAIL_DOWN, "cannot reach the EST server");
}

/* the server issues from a CA the broker does not trust: on trial, refused, rolled back */
static void
test_est_broker_rejects (void)
{
	est_failure_case (EST_FAIL_ROGUE_CA, "stays in use");
}

/* the anchors named in est-trust-anchors do not vouch for the server: nothing is sent to it */
static void
test_est_untrusted_server (void)
{
	est_failure_case (EST_FAIL_UNTRUSTED_SERVER, "is not trusted");
}

int
main (int argc, char **argv)
{
	tether_test_init (&argc, &argv);

	tether_test_add ("/identity/import/pkcs8-plain", test_import_pkcs8_plain);
	tether_test_add ("/identity/import/pkcs8-der", test_import_pkcs8_der);
	tether_test_add ("/identity/import/pkcs8-encrypted", test_import_pkcs8_encrypted);
	tether_test_add ("/identity/import/pkcs8-encrypted-der", test_import_pkcs8_encrypted_der);
	tether_test_add ("/identity/import/combined-pem", test_import_combined_pem);
	tether_test_add ("/identity/import/sec1", test_import_sec1);
	tether_test_add ("/identity/import/pkcs1", test_import_pkcs1);
	tether_test_add ("/identity/import/pkcs12", test_import_pkcs12);
	tether_test_add ("/identity/import/foreign-key", test_import_foreign_key);
	tether_test_add ("/identity/install/foreign-key", test_install_foreign_key);
	tether_test_add ("/identity/install/expired", test_install_expired);
	tether_test_add ("/identity/install/ca-leaf", test_install_ca_leaf);
	tether_test_add ("/identity/install/server-eku", test_install_server_eku);
	tether_test_add ("/identity/install/reversed-chain", test_install_reversed_chain);
	tether_test_add ("/identity/install/leaf-only", test_install_leaf_only);
	tether_test_add ("/identity/install/warnings", test_install_warnings);
	tether_test_add ("/identity/request/options", test_request_options);
	tether_test_add ("/identity/request/key-types", test_request_key_types);
	tether_test_add ("/identity/request/refused", test_request_refused);
	tether_test_add ("/identity/request/out-special", test_request_out_special);
	tether_test_add ("/identity/remove", test_remove);
	tether_test_add ("/identity/renew/manual", test_renew_manual);
	tether_test_add ("/identity/renew/rejected", test_renew_rejected);
	tether_test_add ("/identity/renew/unused", test_renew_unused);
	tether_test_add ("/identity/renew/interrupted", test_renew_interrupted);
	tether_test_add ("/identity/est/enroll", test_est_enroll);
	tether_test_add ("/identity/est/auto-renew", test_est_auto_renew);
	tether_test_add ("/identity/est/refused", test_est_refused);
	tether_test_add ("/identity/est/down", test_est_down);
	tether_test_add ("/identity/est/broker-rejects", test_est_broker_rejects);
	tether_test_add ("/identity/est/untrusted-server", test_est_untrusted_server);
	tether_test_add ("/identity/est/import-cancels", test_est_import_cancels);
	return g_test_run ();
}
