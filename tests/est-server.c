/*
 * An EST (RFC 7030) server for the identity tests: libsoup over HTTPS, GnuTLS signing through
 * the test PKI, TLS client-certificate and HTTP basic authentication.
 *
 *   est-server --port P --cert SERVER.pem --key SERVER.key --ca-cert CA.pem --ca-key CA.key
 *              [--client-ca CAS.pem] [--user USER:PASSWORD] [--validity SECONDS] [--refuse]
 *              [--delay SECONDS]
 *
 * /.well-known/est/cacerts answers the CA certificate (and what is above it in CA.pem);
 * /simpleenroll signs a request from a client with a certificate from CAS.pem or with the
 * basic credentials; /simplereenroll only for a client with a valid certificate. Certificates
 * are issued for --validity seconds (a day by default), from five seconds ago. With --refuse,
 * every enrollment gets 403; with --delay, enrollments are answered that many seconds late.
 * Each request is logged on standard output, one line, and "listening" is printed once the
 * server takes connections.
 */
#include <gio/gio.h>
#include <gnutls/pkcs7.h>
#include <libsoup/soup.h>
#include <stdio.h>
#include <string.h>

#include "tether-test-pki.h"

#define EST_PATH "/.well-known/est"

typedef struct {
	TetherTestCert *ca;
	gchar *ca_chain_file;
	gchar *user;
	gint64 validity;
	gboolean refuse;
	guint delay; /* seconds before an enrollment is answered */
	guint issued;
} EstServer;

static void log_line (const gchar *format, ...) G_GNUC_PRINTF (1, 2);

static void
log_line (const gchar *format, ...)
{
	va_list args;

	va_start (args, format);
	vprintf (format, args);
	va_end (args);
	putchar ('\n');
	fflush (stdout);
}

/* certificates as an RFC 7030 answer: a certs-only PKCS#7, DER, base64 */
static gchar *
pkcs7_base64 (gnutls_x509_crt_t *certs, guint n_certs)
{
	gnutls_pkcs7_t pkcs7 = NULL;
	gnutls_datum_t der = { NULL, 0 };
	gchar *encoded = NULL;
	int rc;

	rc = gnutls_pkcs7_init (&pkcs7);
	if (rc != GNUTLS_E_SUCCESS)
		return NULL;
	for (guint i = 0; rc == GNUTLS_E_SUCCESS && i < n_certs; i++)
		rc = gnutls_pkcs7_set_crt (pkcs7, certs[i]);
	if (rc == GNUTLS_E_SUCCESS &&
	    gnutls_pkcs7_export2 (pkcs7, GNUTLS_X509_FMT_DER, &der) == GNUTLS_E_SUCCESS)
		encoded = g_base64_encode (der.data, der.size);
	gnutls_free (der.data);
	gnutls_pkcs7_deinit (pkcs7);
	return encoded;
}

static void
answer (SoupServerMessage *message, guint status, const gchar *type, const gchar *body)
{
	soup_server_message_set_status (message, status, NULL);
	soup_server_message_set_response (message, type, SOUP_MEMORY_COPY, body,
	                                  body != NULL ? strlen (body) : 0);
}

static void
answer_certs (SoupServerMessage *message, gnutls_x509_crt_t *certs, guint n_certs)
{
	g_autofree gchar *body = pkcs7_base64 (certs, n_certs);

	if (body == NULL) {
		answer (message, SOUP_STATUS_INTERNAL_SERVER_ERROR, "text/plain", "pkcs7 failed");
		return;
	}
	soup_message_headers_replace (soup_server_message_get_response_headers (message),
	                              "Content-Transfer-Encoding", "base64");
	answer (message, SOUP_STATUS_OK, "application/pkcs7-mime; smime-type=certs-only", body);
}

static void
handle_cacerts (EstServer *server, SoupServerMessage *message)
{
	gnutls_x509_crt_t certs[8];
	guint n = 0;

	for (TetherTestCert *c = server->ca; c != NULL && n < G_N_ELEMENTS (certs);
	     c = tether_test_cert_get_issuer (c))
		certs[n++] = tether_test_cert_get_crt (c);
	answer_certs (message, certs, n);
}

/*
 * libsoup asks about every client certificate, in the handshake, and gives it with the first
 * request of a connection only: the verdict of the client CAs is kept on the connection's
 * socket for its later requests.
 */
#define VERDICT_KEY "est-server-client-verdict"
enum { VERDICT_NONE, VERDICT_TRUSTED, VERDICT_UNTRUSTED };

static gboolean
accept_certificate_cb (SoupServerMessage *message, GTlsCertificate *certificate,
                       GTlsCertificateFlags errors, gpointer user_data)
{
	GSocket *socket = soup_server_message_get_socket (message);

	if (socket != NULL)
		g_object_set_data (
		        G_OBJECT (socket), VERDICT_KEY,
		        GINT_TO_POINTER (errors == 0 ? VERDICT_TRUSTED : VERDICT_UNTRUSTED));
	return TRUE;
}

static void
request_started_cb (SoupServer *soup_server, SoupServerMessage *message, gpointer user_data)
{
	g_signal_connect (message, "accept-certificate", G_CALLBACK (accept_certificate_cb), NULL);
}

/* who asks: a client certificate the client CAs vouch for, or the basic credentials */
static gboolean
authenticated (EstServer *server, SoupServerMessage *message, gboolean certificate_only,
               const gchar **how)
{
	GSocket *socket = soup_server_message_get_socket (message);
	gint verdict =
	        socket != NULL
	                ? GPOINTER_TO_INT (g_object_get_data (G_OBJECT (socket), VERDICT_KEY))
	                : VERDICT_NONE;
	const gchar *authorization = soup_message_headers_get_one (
	        soup_server_message_get_request_headers (message), "Authorization");

	if (verdict == VERDICT_TRUSTED) {
		*how = "certificate";
		return TRUE;
	}
	if (!certificate_only && server->user != NULL && authorization != NULL &&
	    g_str_has_prefix (authorization, "Basic ")) {
		gsize len = 0;
		g_autofree guchar *decoded =
		        g_base64_decode (authorization + strlen ("Basic "), &len);
		g_autofree gchar *pair = g_strndup ((const gchar *) decoded, len);

		if (g_strcmp0 (pair, server->user) == 0) {
			*how = "basic";
			return TRUE;
		}
	}
	*how = verdict == VERDICT_UNTRUSTED ? "untrusted certificate" : "none";
	return FALSE;
}

static void
handle_enroll (EstServer *server, SoupServerMessage *message, gboolean reenroll)
{
	SoupMessageBody *body = soup_server_message_get_request_body (message);
	g_autoptr(GBytes) request = soup_message_body_flatten (body);
	g_autoptr(GString) pem = g_string_new ("-----BEGIN CERTIFICATE REQUEST-----\n");
	g_autoptr(TetherTestCert) cert = NULL;
	g_autoptr(GError) error = NULL;
	gnutls_x509_crt_t certs[1];
	gint64 now = g_get_real_time () / G_USEC_PER_SEC;
	const gchar *how = NULL;
	const gchar *text;
	gsize size = 0;

	if (!authenticated (server, message, reenroll, &how)) {
		log_line ("%s refused: authentication %s",
		          reenroll ? "simplereenroll" : "simpleenroll", how);
		soup_message_headers_replace (soup_server_message_get_response_headers (message),
		                              "WWW-Authenticate", "Basic realm=\"est\"");
		answer (message, SOUP_STATUS_UNAUTHORIZED, "text/plain", "authentication required");
		return;
	}
	if (server->refuse) {
		log_line ("%s refused by policy", reenroll ? "simplereenroll" : "simpleenroll");
		answer (message, SOUP_STATUS_FORBIDDEN, "text/plain",
		        "enrollment refused by the test policy");
		return;
	}

	/* base64 DER, with or without line breaks: PEM lines of 64 */
	text = g_bytes_get_data (request, &size);
	for (gsize i = 0, column = 0; i < size; i++) {
		if (g_ascii_isspace (text[i]))
			continue;
		g_string_append_c (pem, text[i]);
		if (++column % 64 == 0)
			g_string_append_c (pem, '\n');
	}
	g_string_append (pem, "\n-----END CERTIFICATE REQUEST-----\n");
	cert = tether_test_cert_sign_csr (server->ca, pem->str, now - 5, now + server->validity,
	                                  &error);
	if (cert == NULL) {
		log_line ("%s: bad request: %s", reenroll ? "simplereenroll" : "simpleenroll",
		          error->message);
		answer (message, SOUP_STATUS_BAD_REQUEST, "text/plain", error->message);
		return;
	}
	server->issued++;
	log_line ("%s issued certificate %u (authentication %s, valid %" G_GINT64_FORMAT " s)",
	          reenroll ? "simplereenroll" : "simpleenroll", server->issued, how,
	          server->validity);
	certs[0] = tether_test_cert_get_crt (cert);
	answer_certs (message, certs, 1);
}

typedef struct {
	EstServer *server;
	SoupServerMessage *message;
	gboolean reenroll;
} Delayed;

static gboolean
delayed_cb (gpointer user_data)
{
	Delayed *delayed = user_data;

	handle_enroll (delayed->server, delayed->message, delayed->reenroll);
	soup_server_message_unpause (delayed->message);
	g_object_unref (delayed->message);
	g_free (delayed);
	return G_SOURCE_REMOVE;
}

/* an enrollment, answered now or --delay seconds later */
static void
enroll (EstServer *server, SoupServerMessage *message, gboolean reenroll)
{
	Delayed *delayed;

	if (server->delay == 0) {
		handle_enroll (server, message, reenroll);
		return;
	}
	log_line ("%s: answering in %u s", reenroll ? "simplereenroll" : "simpleenroll",
	          server->delay);
	delayed = g_new0 (Delayed, 1);
	delayed->server = server;
	delayed->message = g_object_ref (message);
	delayed->reenroll = reenroll;
	soup_server_message_pause (message);
	g_timeout_add_seconds (server->delay, delayed_cb, delayed);
}

static void
handler (SoupServer *soup_server, SoupServerMessage *message, const gchar *path, GHashTable *query,
         gpointer user_data)
{
	EstServer *server = user_data;
	const gchar *method = soup_server_message_get_method (message);
	const gchar *operation = path + strlen (EST_PATH);

	if (g_str_equal (operation, "/cacerts") && g_str_equal (method, "GET")) {
		log_line ("cacerts");
		handle_cacerts (server, message);
	} else if (g_str_equal (operation, "/simpleenroll") && g_str_equal (method, "POST")) {
		enroll (server, message, FALSE);
	} else if (g_str_equal (operation, "/simplereenroll") && g_str_equal (method, "POST")) {
		enroll (server, message, TRUE);
	} else {
		log_line ("not found: %s %s", method, path);
		answer (message, SOUP_STATUS_NOT_FOUND, "text/plain", "no such EST operation");
	}
}

int
main (int argc, char **argv)
{
	gint port = 0;
	g_autofree gchar *cert_file = NULL;
	g_autofree gchar *key_file = NULL;
	g_autofree gchar *ca_cert = NULL;
	g_autofree gchar *ca_key = NULL;
	g_autofree gchar *client_ca = NULL;
	g_autofree gchar *user = NULL;
	gint64 validity = 24 * 60 * 60;
	gboolean refuse = FALSE;
	gint delay = 0;
	GOptionEntry entries[] = {
		{ "port", 0, 0, G_OPTION_ARG_INT, &port, "Port on 127.0.0.1", "PORT" },
		{ "cert", 0, 0, G_OPTION_ARG_FILENAME, &cert_file, "Server certificate", "FILE" },
		{ "key", 0, 0, G_OPTION_ARG_FILENAME, &key_file, "Server key", "FILE" },
		{ "ca-cert", 0, 0, G_OPTION_ARG_FILENAME, &ca_cert, "Signing CA", "FILE" },
		{ "ca-key", 0, 0, G_OPTION_ARG_FILENAME, &ca_key, "Signing CA key", "FILE" },
		{ "client-ca", 0, 0, G_OPTION_ARG_FILENAME, &client_ca, "Client CAs", "FILE" },
		{ "user", 0, 0, G_OPTION_ARG_STRING, &user, "Basic credentials", "USER:PASSWORD" },
		{ "validity", 0, 0, G_OPTION_ARG_INT64, &validity,
		  "Lifetime of issued certificates", "SECONDS" },
		{ "refuse", 0, 0, G_OPTION_ARG_NONE, &refuse, "Refuse every enrollment", NULL },
		{ "delay", 0, 0, G_OPTION_ARG_INT, &delay, "Answer enrollments this late",
		  "SECONDS" },
		{ NULL },
	};
	g_autoptr(GOptionContext) context = g_option_context_new ("- an EST server for tests");
	g_autoptr(GError) error = NULL;
	g_autoptr(GTlsCertificate) certificate = NULL;
	g_autoptr(GTlsDatabase) database = NULL;
	g_autoptr(SoupServer) soup_server = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	EstServer server = { 0 };

	g_option_context_add_main_entries (context, entries, NULL);
	if (!g_option_context_parse (context, &argc, &argv, &error) || port <= 0 ||
	    cert_file == NULL || key_file == NULL || ca_cert == NULL || ca_key == NULL) {
		g_printerr ("est-server: %s\n",
		            error != NULL
		                    ? error->message
		                    : "--port, --cert, --key, --ca-cert and --ca-key are needed");
		return 2;
	}
	server.ca = tether_test_cert_load (ca_cert, ca_key, &error);
	if (server.ca == NULL) {
		g_printerr ("est-server: the CA: %s\n", error->message);
		return 1;
	}
	server.user = g_strdup (user);
	server.validity = validity;
	server.refuse = refuse;
	server.delay = (guint) MAX (delay, 0);

	certificate = g_tls_certificate_new_from_files (cert_file, key_file, &error);
	if (certificate == NULL) {
		g_printerr ("est-server: the server certificate: %s\n", error->message);
		return 1;
	}
	soup_server = soup_server_new ("tls-certificate", certificate, NULL);
	if (client_ca != NULL) {
		database = g_tls_file_database_new (client_ca, &error);
		if (database == NULL) {
			g_printerr ("est-server: the client CAs: %s\n", error->message);
			return 1;
		}
		soup_server_set_tls_database (soup_server, database);
		soup_server_set_tls_auth_mode (soup_server, G_TLS_AUTHENTICATION_REQUESTED);
	}
	soup_server_add_handler (soup_server, EST_PATH, handler, &server, NULL);
	g_signal_connect (soup_server, "request-started", G_CALLBACK (request_started_cb), NULL);
	if (!soup_server_listen_local (soup_server, (guint) port,
	                               SOUP_SERVER_LISTEN_IPV4_ONLY | SOUP_SERVER_LISTEN_HTTPS,
	                               &error)) {
		g_printerr ("est-server: cannot listen on 127.0.0.1:%d: %s\n", port,
		            error->message);
		return 1;
	}
	log_line ("listening on 127.0.0.1:%d", port);
	loop = g_main_loop_new (NULL, FALSE);
	g_main_loop_run (loop);
	tether_test_cert_unref (server.ca);
	g_free (server.user);
	return 0;
}
