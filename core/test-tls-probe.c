/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <tether/tether-error.h>

#include "tether-tls-probe.h"
#include "tether-x509.h"

/* the test PKI, compiled in until the tests link tether_test_pki_dep */
#include "../tests/pki/tether-test-pki.c"

static struct {
	TetherTestCert *root;
	TetherTestCert *other_root;
	TetherTestCert *sub;
	TetherTestCert *leaf;         /* localhost, 127.0.0.1; by sub */
	TetherTestCert *other_leaf;   /* other.example, www.other.example; by other_root */
	TetherTestCert *expired;      /* localhost, 127.0.0.1, expired yesterday; by root */
	TetherTestCert *device;       /* CN=dev-1; by root */
	TetherTestCert *stray_device; /* CN=dev-1; by other_root */
	gchar *dir;
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
	const gchar *const other[] = { "other.example", "www.other.example", NULL };
	const gchar *const loopback[] = { "127.0.0.1", NULL };
	gint64 now = g_get_real_time () / G_USEC_PER_SEC;
	g_autoptr (GError) error = NULL;

	pki.root = make_cert (TETHER_TEST_CERT_CA, "Test Root", NULL, NULL, 0, 0, NULL);
	pki.other_root = make_cert (TETHER_TEST_CERT_CA, "Other Root", NULL, NULL, 0, 0, NULL);
	pki.sub = make_cert (TETHER_TEST_CERT_CA, "Test Sub", NULL, NULL, 0, 0, pki.root);
	pki.leaf = make_cert (TETHER_TEST_CERT_SERVER, "localhost", localhost, loopback, 0, 0,
	                      pki.sub);
	pki.other_leaf = make_cert (TETHER_TEST_CERT_SERVER, "other.example", other, NULL, 0, 0,
	                            pki.other_root);
	pki.expired = make_cert (TETHER_TEST_CERT_SERVER, "localhost", localhost, loopback,
	                         now - 30 * TETHER_TEST_DAY, now - TETHER_TEST_DAY, pki.root);
	pki.device = make_cert (TETHER_TEST_CERT_CLIENT, "dev-1", NULL, NULL, 0, 0, pki.root);
	pki.stray_device =
	        make_cert (TETHER_TEST_CERT_CLIENT, "dev-1", NULL, NULL, 0, 0, pki.other_root);

	pki.dir = g_dir_make_tmp ("tether-tls-probe-XXXXXX", &error);
	g_assert_no_error (error);
}

static gchar *
pki_path (const gchar *name)
{
	return g_build_filename (pki.dir, name, NULL);
}

static void
pki_teardown (void)
{
	const gchar *files[] = { "device.pem", "device.key", "stray.pem", "stray.key" };

	for (gsize i = 0; i < G_N_ELEMENTS (files); i++) {
		g_autofree gchar *path = pki_path (files[i]);

		g_unlink (path);
	}
	g_rmdir (pki.dir);
	g_clear_pointer (&pki.dir, g_free);
	g_clear_pointer (&pki.root, tether_test_cert_unref);
	g_clear_pointer (&pki.other_root, tether_test_cert_unref);
	g_clear_pointer (&pki.sub, tether_test_cert_unref);
	g_clear_pointer (&pki.leaf, tether_test_cert_unref);
	g_clear_pointer (&pki.other_leaf, tether_test_cert_unref);
	g_clear_pointer (&pki.expired, tether_test_cert_unref);
	g_clear_pointer (&pki.device, tether_test_cert_unref);
	g_clear_pointer (&pki.stray_device, tether_test_cert_unref);
}

/* the device's identity as files, as the daemon hands them over */
static void
write_identity (TetherTestCert *cert, const gchar *name, gchar **cert_file, gchar **key_file)
{
	g_autofree gchar *cert_name = g_strconcat (name, ".pem", NULL);
	g_autofree gchar *key_name = g_strconcat (name, ".key", NULL);
	g_autoptr (GError) error = NULL;

	*cert_file = pki_path (cert_name);
	*key_file = pki_path (key_name);
	tether_test_cert_write (cert, *cert_file, TRUE, *key_file, &error);
	g_assert_no_error (error);
}

static GBytes *
anchors_of (TetherTestCert *cert)
{
	gchar *pem = tether_test_cert_get_pem (cert);

	return g_bytes_new_take (pem, strlen (pem));
}

/* a TLS server in a thread, for one connection ------------------------------------------------- */

typedef enum {
	SERVE_TLS,
	SERVE_GARBAGE, /* answers the ClientHello with text */
	SERVE_SILENCE, /* accepts and says nothing */
} ServeMode;

typedef struct {
	ServeMode mode;
	TetherTestCert *cert;      /* the server's, sent with its chain */
	TetherTestCert *client_ca; /* non-NULL: require a client certificate it issued */
	const gchar *priority;     /* NULL: GnuTLS's default */
	const gchar *alpn;         /* a protocol to accept, or NULL */

	GSocketListener *listener;
	GCancellable *stop;
	guint16 port;
	GThread *thread;

	/* what the server saw */
	int handshake_rc;
	gchar server_name[256]; /* SNI, "" for none */
} TestServer;

static void
serve_tls (TestServer *server, int fd)
{
	g_auto (gnutls_certificate_credentials_t) credentials = NULL;
	g_auto (gnutls_session_t) session = NULL;
	g_autofree gchar *chain = tether_test_cert_get_chain_pem (server->cert);
	g_autofree gchar *key = tether_test_cert_get_key_pem (server->cert);
	gnutls_datum_t chain_datum = { (unsigned char *) chain, strlen (chain) };
	gnutls_datum_t key_datum = { (unsigned char *) key, strlen (key) };
	size_t name_size = sizeof (server->server_name) - 1;
	unsigned int name_type = 0;
	int rc;

	g_assert_cmpint (gnutls_certificate_allocate_credentials (&credentials), ==, 0);
	g_assert_cmpint (gnutls_certificate_set_x509_key_mem2 (credentials, &chain_datum,
	                                                       &key_datum, GNUTLS_X509_FMT_PEM,
	                                                       NULL, 0),
	                 >=, 0);
	g_assert_cmpint (gnutls_init (&session, GNUTLS_SERVER), ==, 0);
	if (server->priority != NULL)
		g_assert_cmpint (gnutls_priority_set_direct (session, server->priority, NULL), ==,
		                 0);
	else
		g_assert_cmpint (gnutls_set_default_priority (session), ==, 0);
	g_assert_cmpint (gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, credentials), ==,
	                 0);
	if (server->client_ca != NULL) {
		g_autofree gchar *ca = tether_test_cert_get_pem (server->client_ca);
		gnutls_datum_t ca_datum = { (unsigned char *) ca, strlen (ca) };

		g_assert_cmpint (gnutls_certificate_set_x509_trust_mem (credentials, &ca_datum,
		                                                        GNUTLS_X509_FMT_PEM),
		                 ==, 1);
		gnutls_certificate_server_set_request (session, GNUTLS_CERT_REQUIRE);
		gnutls_session_set_verify_cert (session, NULL, 0);
	}
	if (server->alpn != NULL) {
		gnutls_datum_t protocol = { (unsigned char *) server->alpn, strlen (server->alpn) };

		g_assert_cmpint (gnutls_alpn_set_protocols (session, &protocol, 1, 0), ==, 0);
	}
	gnutls_transport_set_int (session, fd);
	gnutls_handshake_set_timeout (session, 10000);

	do {
		rc = gnutls_handshake (session);
	} while (rc < 0 && gnutls_error_is_fatal (rc) == 0);
	server->handshake_rc = rc;
	memset (server->server_name, 0, sizeof (server->server_name));
	gnutls_server_name_get (session, server->server_name, &name_size, &name_type, 0);
	if (rc < 0) {
		gnutls_alert_send_appropriate (session, rc);
		return;
	}

	/* serve until the client goes */
	gnutls_record_set_timeout (session, 10000);
	for (;;) {
		guint8 buffer[256];

		rc = gnutls_record_recv (session, buffer, sizeof (buffer));
		if (rc <= 0 && rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED)
			break;
	}
}

static gpointer
server_thread (gpointer data)
{
	TestServer *server = data;
	g_autoptr (GSocketConnection) connection = NULL;
	GSocket *socket;
	int fd;

	connection = g_socket_listener_accept (server->listener, NULL, server->stop, NULL);
	if (connection == NULL)
		return NULL;
	socket = g_socket_connection_get_socket (connection);
	fd = g_socket_get_fd (socket);
	g_assert_true (g_unix_set_fd_nonblocking (fd, FALSE, NULL));

	switch (server->mode) {
	case SERVE_TLS:
		serve_tls (server, fd);
		break;
	case SERVE_GARBAGE:
		g_assert_cmpint (write (fd, "HTTP/1.0 400 Bad Request\r\n\r\n", 28), ==, 28);
		break;
	case SERVE_SILENCE:
		/* read and ignore, until the client goes or the test stops us */
		for (;;) {
			gchar buffer[256];

			if (g_socket_receive (socket, buffer, sizeof (buffer), server->stop,
			                      NULL) <= 0)
				break;
		}
		break;
	default:
		g_assert_not_reached ();
	}
	return NULL;
}

static void
server_start (TestServer *server)
{
	g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
	g_autoptr (GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
	g_autoptr (GSocketAddress) effective = NULL;
	g_autoptr (GError) error = NULL;

	server->listener = g_socket_listener_new ();
	server->stop = g_cancellable_new ();
	g_socket_listener_add_address (server->listener, address, G_SOCKET_TYPE_STREAM,
	                               G_SOCKET_PROTOCOL_TCP, NULL, &effective, &error);
	g_assert_no_error (error);
	server->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
	server->thread = g_thread_new ("test-tls-server", server_thread, server);
}

static void
server_stop (TestServer *server)
{
	g_cancellable_cancel (server->stop);
	g_thread_join (server->thread);
	g_socket_listener_close (server->listener);
	g_clear_object (&server->listener);
	g_clear_object (&server->stop);
}

/* running the probe -------------------------------------------------------------------------- */

typedef struct {
	const gchar *host;
	const gchar *sni;
	const gchar *const *alpn;
	GBytes *anchors;
	const gchar *cert_file;
	const gchar *key_file;
	guint timeout;
	GCancellable *cancellable;
} ProbeArgs;

static void
probe_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GAsyncResult **out = user_data;

	*out = g_object_ref (result);
}

static GVariant *
run_probe (const ProbeArgs *args, guint16 port, GError **error)
{
	g_autoptr (GAsyncResult) result = NULL;
	GVariant *verdict;

	tether_tls_probe_async (args->host != NULL ? args->host : "127.0.0.1", port, args->sni,
	                        args->alpn, args->anchors, "tb-ca", args->cert_file, args->key_file,
	                        args->timeout != 0 ? args->timeout : 10, args->cancellable,
	                        probe_done, &result);
	while (result == NULL)
		g_main_context_iteration (NULL, TRUE);
	verdict = tether_tls_probe_finish (result, error);
	if (verdict != NULL) {
		g_autofree gchar *text = g_variant_print (verdict, TRUE);

		g_test_message ("probe: %s", text);
	}
	return verdict;
}

/* runs the probe against @server and checks the reason; returns the result */
static GVariant *
probe_expecting (TestServer *server, const ProbeArgs *args, const gchar *reason)
{
	g_autoptr (GError) error = NULL;
	GVariant *verdict;
	const gchar *got = NULL;
	gboolean ok = FALSE;

	server_start (server);
	verdict = run_probe (args, server->port, &error);
	server_stop (server);
	g_assert_no_error (error);
	g_assert_true (g_variant_lookup (verdict, "reason", "&s", &got));
	g_assert_cmpstr (got, ==, reason);
	g_assert_true (g_variant_lookup (verdict, "ok", "b", &ok));
	g_assert_true (ok == g_str_equal (reason, "ok"));
	return verdict;
}

static const gchar *
lookup_string (GVariant *verdict, const gchar *key)
{
	const gchar *value = NULL;

	if (!g_variant_lookup (verdict, key, "&s", &value))
		return NULL;
	return value;
}

static void
test_ok (void)
{
	g_autoptr (GBytes) anchors = anchors_of (pki.root);
	TestServer server = { SERVE_TLS, pki.leaf };
	ProbeArgs by_ip = { "127.0.0.1", NULL, NULL, anchors };
	ProbeArgs by_name = { "localhost", NULL, NULL, anchors };
	ProbeArgs explicit_sni = { "127.0.0.1", "localhost", NULL, anchors };
	g_autoptr (GVariant) v = NULL;
	g_autoptr (GVariant) named = NULL;
	g_autoptr (GVariant) with_sni = NULL;
	g_autoptr (GVariant) certificates = NULL;
	gboolean sent = TRUE;

	v = probe_expecting (&server, &by_ip, "ok");
	g_assert_cmpstr (lookup_string (v, "message"), ==, "");
	g_assert_cmpint (server.handshake_rc, ==, 0);
	g_assert_true (g_str_has_prefix (lookup_string (v, "protocol"), "TLS1."));
	certificates = g_variant_lookup_value (v, "certificates", G_VARIANT_TYPE ("aa{sv}"));
	g_assert_nonnull (certificates);
	g_assert_cmpuint (g_variant_n_children (certificates), ==, 2);
	g_assert_true (g_variant_lookup (v, "client-certificate-sent", "b", &sent));
	g_assert_false (sent);
	/* an address is not sent as the server name */
	g_assert_cmpstr (server.server_name, ==, "");

	/* a host name is */
	named = probe_expecting (&server, &by_name, "ok");
	g_assert_cmpstr (server.server_name, ==, "localhost");

	/* and a given server name is sent, and checked, instead of the address */
	with_sni = probe_expecting (&server, &explicit_sni, "ok");
	g_assert_cmpstr (server.server_name, ==, "localhost");
}

static void
test_unknown_issuer (void)
{
	g_autoptr (GBytes) anchors = anchors_of (pki.other_root);
	TestServer server = { SERVE_TLS, pki.leaf };
	ProbeArgs args = { "localhost", NULL, NULL, anchors };
	g_autoptr (GVariant) v = probe_expecting (&server, &args, "unknown-issuer");

	g_assert_cmpstr (lookup_string (v, "top-issuer"), ==, "CN=Test Root");
	g_assert_cmpstr (lookup_string (v, "message"), ==,
	                 "the server's certificate chain ends at 'CN=Test Root', which the trust "
	                 "anchors 'tb-ca' do not vouch for: add that root as a trust anchor, or "
	                 "check the endpoint");
}

static void
test_host_mismatch (void)
{
	g_autoptr (GBytes) anchors = anchors_of (pki.other_root);
	TestServer server = { SERVE_TLS, pki.other_leaf };
	ProbeArgs args = { "localhost", NULL, NULL, anchors };
	g_autoptr (GVariant) v = probe_expecting (&server, &args, "host-mismatch");
	g_autofree const gchar **names = NULL;

	g_assert_true (g_str_has_prefix (lookup_string (v, "message"),
	                                 "the server's certificate is for 'other.example', "
	                                 "'www.other.example', not 'localhost'"));
	g_assert_true (g_variant_lookup (v, "names", "^a&s", &names));
	g_assert_cmpuint (g_strv_length ((gchar **) names), ==, 2);
	g_assert_cmpstr (names[0], ==, "other.example");
}

static void
test_expired (void)
{
	g_autoptr (GBytes) anchors = anchors_of (pki.root);
	TestServer server = { SERVE_TLS, pki.expired };
	ProbeArgs args = { "localhost", NULL, NULL, anchors };
	g_autoptr (GVariant) v = probe_expecting (&server, &args, "expired");

	g_assert_nonnull (strstr (lookup_string (v, "message"),
	                          "the server's certificate 'CN=localhost' expired on "));
}

static void
test_client_cert_refused (gconstpointer data)
{
	const gchar *priority = data;
	g_autoptr (GBytes) anchors = anchors_of (pki.root);
	g_autofree gchar *cert_file = NULL;
	g_autofree gchar *key_file = NULL;
	TestServer server = { SERVE_TLS, pki.leaf, pki.root, priority };
	ProbeArgs args = { "localhost", NULL, NULL, anchors };
	g_autoptr (GVariant) v = NULL;

	/* a device certificate from a CA the server does not trust */
	write_identity (pki.stray_device, "stray", &cert_file, &key_file);
	args.cert_file = cert_file;
	args.key_file = key_file;
	v = probe_expecting (&server, &args, "client-certificate-refused");
	g_assert_cmpint (server.handshake_rc, <, 0);
	g_assert_true (g_str_has_prefix (
	        lookup_string (v, "message"),
	        "the server refused the device certificate: it answered 'bad_certificate'"));
}

static void
test_client_cert_missing (void)
{
	g_autoptr (GBytes) anchors = anchors_of (pki.root);
	TestServer server = { SERVE_TLS, pki.leaf, pki.root };
	ProbeArgs args = { "localhost", NULL, NULL, anchors };
	g_autoptr (GVariant) v = probe_expecting (&server, &args, "client-certificate-refused");

	g_assert_true (g_str_has_prefix (lookup_string (v, "message"),
	                                 "the server requires a device certificate"));
}

static void
test_client_cert_accepted (void)
{
	g_autoptr (GBytes) anchors = anchors_of (pki.root);
	g_autofree gchar *cert_file = NULL;
	g_autofree gchar *key_file = NULL;
	TestServer server = { SERVE_TLS, pki.leaf, pki.root };
	ProbeArgs args = { "localhost", NULL, NULL, anchors };
	g_autoptr (GVariant) v = NULL;
	gboolean sent = FALSE;

	write_identity (pki.device, "device", &cert_file, &key_file);
	args.cert_file = cert_file;
	args.key_file = key_file;
	v = probe_expecting (&server, &args, "ok");
	g_assert_cmpint (server.handshake_rc, ==, 0);
	g_assert_true (g_variant_lookup (v, "client-certificate-sent", "b", &sent));
	g_assert_true (sent);
}

static void
test_alpn (void)
{
	g_autoptr (GBytes) anchors = anchors_of (pki.root);
	const gchar *const protocols[] = { "x-amzn-mqtt-ca", NULL };
	TestServer server = { SERVE_TLS, pki.leaf, NULL, NULL, "x-amzn-mqtt-ca" };
	ProbeArgs args = { "localhost", NULL, protocols, anchors };
	g_autoptr (GVariant) v = probe_expecting (&server, &args, "ok");

	g_assert_cmpstr (lookup_string (v, "alpn"), ==, "x-amzn-mqtt-ca");
}

static void
test_connect_refused (void)
{
	g_autoptr (GBytes) anchors = anchors_of (pki.root);
	ProbeArgs args = { "127.0.0.1", NULL, NULL, anchors };
	TestServer closed = { SERVE_SILENCE };
	g_autoptr (GVariant) v = NULL;
	g_autoptr (GError) error = NULL;
	guint16 port;

	/* a port that was just free: nothing listens there now */
	server_start (&closed);
	port = closed.port;
	server_stop (&closed);
	v = run_probe (&args, port, &error);
	g_assert_no_error (error);
	g_assert_cmpstr (lookup_string (v, "reason"), ==, "connect-failed");
	g_assert_true (g_str_has_prefix (lookup_string (v, "message"),
	                                 "could not connect to 127.0.0.1 port "));
	/* said once, in plain words: not GIO's "Could not connect to ..." again */
	g_assert_nonnull (strstr (lookup_string (v, "message"), "connection refused"));
	g_assert_null (strstr (lookup_string (v, "message"), "Could not connect"));
}

static void
test_not_tls (void)
{
	g_autoptr (GBytes) anchors = anchors_of (pki.root);
	TestServer server = { SERVE_GARBAGE };
	ProbeArgs args = { "127.0.0.1", NULL, NULL, anchors };
	g_autoptr (GVariant) v = probe_expecting (&server, &args, "handshake-failed");

	g_assert_nonnull (
	        strstr (lookup_string (v, "message"), "the TLS handshake with 127.0.0.1"));
}

static void
test_timeout (void)
{
	g_autoptr (GBytes) anchors = anchors_of (pki.root);
	TestServer server = { SERVE_SILENCE };
	ProbeArgs args = { "127.0.0.1", NULL, NULL, anchors };
	g_autoptr (GVariant) v = NULL;
	gint64 start = g_get_monotonic_time ();

	args.timeout = 1;
	v = probe_expecting (&server, &args, "handshake-failed");
	g_assert_nonnull (strstr (lookup_string (v, "message"), "did not finish within 1 second:"));
	g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
}

static gboolean
cancel_later (gpointer data)
{
	g_cancellable_cancel (data);
	return G_SOURCE_REMOVE;
}

static void
test_cancel (void)
{
	g_autoptr (GBytes) anchors = anchors_of (pki.root);
	g_autoptr (GCancellable) cancellable = g_cancellable_new ();
	TestServer server = { SERVE_SILENCE };
	ProbeArgs args = { "127.0.0.1", NULL, NULL, anchors };
	g_autoptr (GVariant) v = NULL;
	g_autoptr (GError) error = NULL;
	gint64 start = g_get_monotonic_time ();

	args.cancellable = cancellable;
	args.timeout = 30;
	server_start (&server);
	g_timeout_add (200, cancel_later, cancellable);
	v = run_probe (&args, server.port, &error);
	server_stop (&server);
	g_assert_null (v);
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
}

static void
test_bad_input (void)
{
	g_autoptr (GBytes) garbage = g_bytes_new_static ("not pem\n", 8);
	g_autoptr (GBytes) anchors = anchors_of (pki.root);
	ProbeArgs bad_anchors = { "127.0.0.1", NULL, NULL, garbage };
	ProbeArgs half_identity = { "127.0.0.1", NULL, NULL, anchors, "/nonexistent.pem" };
	g_autoptr (GVariant) v = NULL;
	g_autoptr (GError) error = NULL;

	/* refused before any connection: port 9 would not answer anyway */
	v = run_probe (&bad_anchors, 9, &error);
	g_assert_null (v);
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE);
	g_assert_true (g_str_has_prefix (error->message, "the trust anchors cannot be used: "));
	g_clear_error (&error);

	v = run_probe (&half_identity, 9, &error);
	g_assert_null (v);
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
}

int
main (int argc, char **argv)
{
	int rc;

	g_test_init (&argc, &argv, NULL);
	pki_setup ();

	g_test_add_func ("/tls-probe/ok", test_ok);
	g_test_add_func ("/tls-probe/unknown-issuer", test_unknown_issuer);
	g_test_add_func ("/tls-probe/host-mismatch", test_host_mismatch);
	g_test_add_func ("/tls-probe/expired", test_expired);
	g_test_add_data_func ("/tls-probe/client-cert/refused-tls13", NULL,
	                      test_client_cert_refused);
	g_test_add_data_func ("/tls-probe/client-cert/refused-tls12", "NORMAL:-VERS-TLS1.3",
	                      test_client_cert_refused);
	g_test_add_func ("/tls-probe/client-cert/missing", test_client_cert_missing);
	g_test_add_func ("/tls-probe/client-cert/accepted", test_client_cert_accepted);
	g_test_add_func ("/tls-probe/alpn", test_alpn);
	g_test_add_func ("/tls-probe/connect-refused", test_connect_refused);
	g_test_add_func ("/tls-probe/not-tls", test_not_tls);
	g_test_add_func ("/tls-probe/timeout", test_timeout);
	g_test_add_func ("/tls-probe/cancel", test_cancel);
	g_test_add_func ("/tls-probe/bad-input", test_bad_input);

	rc = g_test_run ();
	pki_teardown ();
	return rc;
}
