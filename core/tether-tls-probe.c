/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib/gi18n-lib.h>
#include <tether/tether-error.h>

#include "tether-tls-probe.h"
#include "tether-x509.h"

#define TETHER_TLS_PROBE_DEFAULT_TIMEOUT 10 /* seconds */
/* how long to wait, after a handshake, for a TLS 1.3 server to refuse our certificate */
#define TETHER_TLS_PROBE_ALERT_WAIT_MS 1000
/* the most certificates we send from the device's chain file */
#define TETHER_TLS_PROBE_MAX_CHAIN 16

/* what the caller asked for; owned by the task */
typedef struct {
	gchar *host;
	guint16 port;
	gchar *sni;
	GStrv alpn;
	GBytes *anchors_pem;
	gchar *anchor_names;
	gchar *cert_file;
	gchar *key_file;
	guint timeout_seconds;
} ProbeRequest;

static void
probe_request_free (gpointer data)
{
	ProbeRequest *request = data;

	g_free (request->host);
	g_free (request->sni);
	g_strfreev (request->alpn);
	g_clear_pointer (&request->anchors_pem, g_bytes_unref);
	g_free (request->anchor_names);
	g_free (request->cert_file);
	g_free (request->key_file);
	g_free (request);
}

/* one handshake's state, on the worker thread's stack */
typedef struct {
	gnutls_session_t session;
	GSocket *socket;
	GCancellable *cancellable;
	GError *io_error; /* the first transport error */
	gnutls_pcert_st pcerts[TETHER_TLS_PROBE_MAX_CHAIN];
	unsigned int n_pcerts;
	gnutls_privkey_t key;
	gboolean cert_requested;
	gboolean cert_sent;
	gboolean peer_closed; /* a write found the connection closed */
} Probe;

static void
probe_clear (Probe *probe)
{
	for (unsigned int i = 0; i < probe->n_pcerts; i++)
		gnutls_pcert_deinit (&probe->pcerts[i]);
	probe->n_pcerts = 0;
	g_clear_pointer (&probe->key, gnutls_privkey_deinit);
	g_clear_error (&probe->io_error);
}

/* transport on the GSocket, so the timeout and the cancellable apply to every read and write */

static void
probe_take_io_error (Probe *probe, GError *error)
{
	if (probe->io_error == NULL)
		probe->io_error = error;
	else
		g_error_free (error);
	gnutls_transport_set_errno (probe->session, EIO);
}

/*
 * A server that refuses our certificate may close the connection while we are still writing
 * the rest of our handshake; its alert then waits in our receive buffer. Treat the write as
 * done so that GnuTLS goes on to read it.
 */
static ssize_t
probe_push (gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
	Probe *probe = ptr;
	GError *error = NULL;
	gssize n = g_socket_send (probe->socket, data, len, probe->cancellable, &error);

	if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED)) {
		probe->peer_closed = TRUE;
		g_error_free (error);
		return len;
	}
	if (n < 0) {
		probe_take_io_error (probe, error);
		return -1;
	}
	return n;
}

static ssize_t
probe_pull (gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	Probe *probe = ptr;
	GError *error = NULL;
	gssize n = g_socket_receive (probe->socket, data, len, probe->cancellable, &error);

	if (n < 0) {
		probe_take_io_error (probe, error);
		return -1;
	}
	return n;
}

static int
probe_pull_timeout (gnutls_transport_ptr_t ptr, unsigned int ms)
{
	Probe *probe = ptr;
	GError *error = NULL;
	gint64 timeout_us = ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (gint64) ms * 1000;

	if (g_socket_condition_timed_wait (probe->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, timeout_us,
	                                   probe->cancellable, &error))
		return 1;
	if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
		g_error_free (error);
		return 0;
	}
	probe_take_io_error (probe, error);
	return -1;
}

/* always sends the device's chain when asked, whatever CA names the server lists (as OpenSSL) */
static int
probe_retrieve_client_cert (gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                            const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                            gnutls_pcert_st **pcert, unsigned int *pcert_length,
                            gnutls_privkey_t *privkey)
{
	Probe *probe = gnutls_session_get_ptr (session);

	probe->cert_requested = TRUE;
	if (probe->n_pcerts == 0 || probe->key == NULL) {
		*pcert = NULL;
		*pcert_length = 0;
		*privkey = NULL;
		return 0;
	}
	*pcert = probe->pcerts;
	*pcert_length = probe->n_pcerts;
	*privkey = probe->key;
	probe->cert_sent = TRUE;
	return 0;
}

/* the device's chain (leaf first) and key; the key must belong to the leaf */
static gboolean
probe_load_identity (Probe *probe, const gchar *cert_file, const gchar *key_file, GError **error)
{
	g_autofree gchar *key_pem = NULL;
	g_autoptr (GBytes) key_bytes = NULL;
	g_auto (gnutls_x509_crt_t) leaf = NULL;
	gsize key_len = 0;
	unsigned int n = TETHER_TLS_PROBE_MAX_CHAIN;
	int rc;

	rc = gnutls_pcert_list_import_x509_file (probe->pcerts, &n, cert_file, GNUTLS_X509_FMT_PEM,
	                                         NULL, NULL, 0);
	if (rc < 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		             _("the device's certificate chain '%s' could not be read (%s): "
		                "install the identity again"),
		                cert_file, gnutls_strerror (rc));
		return FALSE;
	}
	probe->n_pcerts = n;

	if (!g_file_get_contents (key_file, &key_pem, &key_len, error)) {
		g_prefix_error (error, _("the device's key could not be read: "));
		return FALSE;
	}
	key_bytes = g_bytes_new (key_pem, key_len);
	gnutls_memset (key_pem, 0, key_len);
	probe->key = tether_key_load_pem (key_bytes, error);
	if (probe->key == NULL)
		return FALSE;

	if (gnutls_pcert_export_x509 (&probe->pcerts[0], &leaf) < 0 ||
	    !tether_key_matches_certificate (probe->key, leaf)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
		             _("the key '%s' does not belong to the first certificate in '%s': "
		                "install the identity again"),
		                key_file, cert_file);
		return FALSE;
	}
	return TRUE;
}

/* the result --------------------------------------------------------------------------- */

static GVariant *
result_new (const gchar *reason, const gchar *message, GVariantDict *extra)
{
	GVariantDict *dict = extra;
	GVariantDict local;

	if (dict == NULL) {
		g_variant_dict_init (&local, NULL);
		dict = &local;
	}
	g_variant_dict_insert (dict, "ok", "b", g_str_equal (reason, "ok"));
	g_variant_dict_insert (dict, "reason", "s", reason);
	g_variant_dict_insert (dict, "message", "s", message != NULL ? message : "");
	return g_variant_ref_sink (g_variant_dict_end (dict));
}

/* "bad_certificate", as the TLS specifications name it */
static gchar *
alert_name (gnutls_session_t session)
{
	const gchar *name = gnutls_alert_get_strname (gnutls_alert_get (session));

	if (name == NULL)
		return g_strdup ("unknown");
	if (g_str_has_prefix (name, "GNUTLS_A_"))
		name += strlen ("GNUTLS_A_");
	return g_ascii_strdown (name, -1);
}

static gboolean
alert_refuses_certificate (gnutls_alert_description_t alert)
{
	switch (alert) {
	case GNUTLS_A_BAD_CERTIFICATE:
	case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
	case GNUTLS_A_CERTIFICATE_REVOKED:
	case GNUTLS_A_CERTIFICATE_EXPIRED:
	case GNUTLS_A_CERTIFICATE_UNKNOWN:
	case GNUTLS_A_UNKNOWN_CA:
	case GNUTLS_A_ACCESS_DENIED:
	case GNUTLS_A_CERTIFICATE_REQUIRED:
	case GNUTLS_A_HANDSHAKE_FAILURE:
	case GNUTLS_A_DECRYPT_ERROR:
		return TRUE;
	default:
		return FALSE;
	}
}

static GPtrArray *
peer_chain (gnutls_session_t session)
{
	const gnutls_datum_t *peers;
	unsigned int n = 0;
	g_autoptr (GPtrArray) chain = tether_x509_list_new ();

	peers = gnutls_certificate_get_peers (session, &n);
	for (unsigned int i = 0; peers != NULL && i < n; i++) {
		gnutls_x509_crt_t crt = NULL;

		if (gnutls_x509_crt_init (&crt) < 0)
			break;
		if (gnutls_x509_crt_import (crt, &peers[i], GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit (crt);
			break;
		}
		g_ptr_array_add (chain, crt);
	}
	if (chain->len == 0)
		return NULL;
	return g_steal_pointer (&chain);
}

/* what the server sent and what was agreed, for `anchor test` */
static void
add_session_details (GVariantDict *dict, gnutls_session_t session, GPtrArray *chain,
                     gboolean handshake_done)
{
	if (chain != NULL) {
		GVariantBuilder certs;

		g_variant_builder_init (&certs, G_VARIANT_TYPE ("aa{sv}"));
		for (guint i = 0; i < chain->len; i++)
			g_variant_builder_add_value (
			        &certs, tether_x509_describe (g_ptr_array_index (chain, i)));
		g_variant_dict_insert_value (dict, "certificates", g_variant_builder_end (&certs));
	}
	if (handshake_done) {
		const gchar *version =
		        gnutls_protocol_get_name (gnutls_protocol_get_version (session));
		gnutls_datum_t alpn = { NULL, 0 };

		if (version != NULL)
			g_variant_dict_insert (dict, "protocol", "s", version);
		if (gnutls_alpn_get_selected_protocol (session, &alpn) == GNUTLS_E_SUCCESS) {
			g_autofree gchar *selected =
			        g_strndup ((const gchar *) alpn.data, alpn.size);

			g_variant_dict_insert (dict, "alpn", "s", selected);
		}
	}
}

/* the server hung up in the middle of the handshake instead of sending an alert */
static gboolean
closed_without_alert (Probe *probe, int rc)
{
	/* GIO reports a reset and a broken pipe alike */
	return probe->peer_closed || rc == GNUTLS_E_PREMATURE_TERMINATION ||
	       g_error_matches (probe->io_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
}

/*
 * A fatal alert after the server asked for a certificate: the server refused ours (or wanted
 * one we did not have). NULL when the alert is about something else.
 */
static GVariant *
classify_alert (Probe *probe, int rc, GPtrArray *chain)
{
	g_autofree gchar *message = NULL;
	g_autofree gchar *alert = NULL;
	GVariantDict dict;

	if (!probe->cert_requested)
		return NULL;
	if (rc != GNUTLS_E_FATAL_ALERT_RECEIVED && closed_without_alert (probe, rc)) {
		const gchar *text;

		if (probe->cert_sent)
			text = _("the server closed the connection after it received the "
				 "device certificate, without saying why: most likely it "
				 "refused the certificate; check that the server trusts the "
				 "device's CA and knows the device");
		else
			text = _("the server closed the connection after it asked for a "
				 "device certificate, and none was offered: give the "
				 "connection an identity");
		g_variant_dict_init (&dict, NULL);
		add_session_details (&dict, probe->session, chain, FALSE);
		return result_new ("client-certificate-refused", text, &dict);
	}
	if (rc != GNUTLS_E_FATAL_ALERT_RECEIVED ||
	    !alert_refuses_certificate (gnutls_alert_get (probe->session)))
		return NULL;
	alert = alert_name (probe->session);
	if (probe->cert_sent)
		message = g_strdup_printf (_("the server refused the device certificate: it "
					     "answered '%s'; check that the server trusts the "
					     "device's CA and knows the device"),
		                              alert);
	else
		message = g_strdup_printf (_("the server requires a device certificate and none "
					     "was offered (it answered '%s'): give the connection "
					     "an identity"),
		                              alert);
	g_variant_dict_init (&dict, NULL);
	add_session_details (&dict, probe->session, chain, FALSE);
	return result_new ("client-certificate-refused", message, &dict);
}

static GVariant *
handshake_failed (Probe *probe, const ProbeRequest *request, int rc, GPtrArray *chain)
{
	g_autofree gchar *message = NULL;
	g_autofree gchar *alert = alert_name (probe->session);
	GVariantDict dict;

	if (rc == GNUTLS_E_TIMEDOUT ||
	    g_error_matches (probe->io_error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
		message = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
		                                        "the TLS handshake with %s port %u did not "
		                                        "finish within %u second: check that the "
		                                        "port speaks TLS",
		                                        "the TLS handshake with %s port %u did not "
		                                        "finish within %u seconds: check that the "
		                                        "port speaks TLS",
		                                        request->timeout_seconds),
		                           request->host, request->port, request->timeout_seconds);
	else if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED)
		message = g_strdup_printf (_("the server %s port %u ended the TLS handshake with "
					     "the alert '%s': check the endpoint, the server name "
					     "and the protocols offered"),
		                              request->host, request->port, alert);
	else if (probe->io_error != NULL)
		message =
		        g_strdup_printf (_("the TLS handshake with %s port %u failed: %s"),
		                            request->host, request->port, probe->io_error->message);
	else
		message =
		        g_strdup_printf (_("the TLS handshake with %s port %u failed (%s): check "
					     "that the endpoint and port speak TLS"),
		                            request->host, request->port, gnutls_strerror (rc));
	g_variant_dict_init (&dict, NULL);
	add_session_details (&dict, probe->session, chain, FALSE);
	return result_new ("handshake-failed", message, &dict);
}

/* the server's chain against the anchors: NULL when it passes */
static GVariant *
classify_chain (const ProbeRequest *request, GPtrArray *anchors, GPtrArray *chain,
                gnutls_session_t session, gboolean handshake_done)
{
	g_autofree gchar *message = NULL;
	g_autofree gchar *top_issuer = NULL;
	g_auto (GStrv) names = NULL;
	const gchar *hostname = request->sni != NULL ? request->sni : request->host;
	TetherTrustResult result;
	GVariantDict dict;

	result = tether_trust_verify (chain, anchors, hostname, g_get_real_time () / G_USEC_PER_SEC,
	                              request->anchor_names, &message, &top_issuer, &names);
	if (result == TETHER_TRUST_OK)
		return NULL;

	g_variant_dict_init (&dict, NULL);
	if (top_issuer != NULL)
		g_variant_dict_insert (&dict, "top-issuer", "s", top_issuer);
	if (names != NULL)
		g_variant_dict_insert (&dict, "names", "^as", names);
	add_session_details (&dict, session, chain, handshake_done);
	return result_new (tether_trust_result_to_string (result), message, &dict);
}

/* the thread --------------------------------------------------------------------------- */

static gboolean
set_alpn (gnutls_session_t session, GStrv protocols)
{
	guint n = protocols != NULL ? g_strv_length (protocols) : 0;
	g_autofree gnutls_datum_t *datums = NULL;

	if (n == 0)
		return TRUE;
	datums = g_new0 (gnutls_datum_t, n);
	for (guint i = 0; i < n; i++) {
		datums[i].data = (unsigned char *) protocols[i];
		datums[i].size = strlen (protocols[i]);
	}
	return gnutls_alpn_set_protocols (session, datums, n, 0) == GNUTLS_E_SUCCESS;
}

static gboolean
probe_setup_session (Probe *probe, const ProbeRequest *request,
                     gnutls_certificate_credentials_t credentials, GError **error)
{
	const gchar *server_name = request->sni;
	int rc;

	if (server_name == NULL && !g_hostname_is_ip_address (request->host))
		server_name = request->host;

	rc = gnutls_init (&probe->session, GNUTLS_CLIENT);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_set_default_priority (probe->session);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_credentials_set (probe->session, GNUTLS_CRD_CERTIFICATE, credentials);
	if (rc == GNUTLS_E_SUCCESS && server_name != NULL && *server_name != '\0')
		rc = gnutls_server_name_set (probe->session, GNUTLS_NAME_DNS, server_name,
		                             strlen (server_name));
	if (rc != GNUTLS_E_SUCCESS || !set_alpn (probe->session, request->alpn)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("the TLS probe could not be set up (%s)"), gnutls_strerror (rc));
		return FALSE;
	}

	/* no automatic verification: the trust rule classifies the chain afterwards */
	gnutls_session_set_ptr (probe->session, probe);
	gnutls_transport_set_ptr (probe->session, probe);
	gnutls_transport_set_push_function (probe->session, probe_push);
	gnutls_transport_set_pull_function (probe->session, probe_pull);
	gnutls_transport_set_pull_timeout_function (probe->session, probe_pull_timeout);
	gnutls_handshake_set_timeout (probe->session, request->timeout_seconds * 1000);
	return TRUE;
}

static int
probe_handshake (Probe *probe)
{
	int rc;

	do {
		rc = gnutls_handshake (probe->session);
	} while (rc < 0 && gnutls_error_is_fatal (rc) == 0 &&
	         !g_cancellable_is_cancelled (probe->cancellable));
	return rc;
}

/*
 * With TLS 1.3 the server checks our certificate after our last handshake message: a refusal
 * comes as the first record. Wait a moment for it.
 */
static int
probe_wait_for_alert (Probe *probe)
{
	guint8 buffer[256];
	int rc;

	gnutls_record_set_timeout (probe->session, TETHER_TLS_PROBE_ALERT_WAIT_MS);
	rc = gnutls_record_recv (probe->session, buffer, sizeof (buffer));
	if (rc == GNUTLS_E_TIMEDOUT || rc >= 0)
		return 0;
	return rc;
}

/*
 * why a TCP connection failed, without GSocketClient's own "Could not connect
 * to HOST:" in front, which the caller's text already says
 */
static const gchar *
connect_failure (const GError *error)
{
	if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
		return _("nothing listens there (connection refused); check the endpoint and port");
	if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
		return _("no answer in time; check the endpoint, the port and the network");
	if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE) ||
	    g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE))
		return _("the host cannot be reached; check the network");
	if (error->domain == G_RESOLVER_ERROR)
		return _("the host name cannot be resolved; check the endpoint and DNS");
	return error->message;
}

static GVariant *
probe_run (Probe *probe, const ProbeRequest *request, GError **error)
{
	g_autoptr (GPtrArray) anchors = NULL;
	g_autoptr (GSocketClient) client = NULL;
	g_autoptr (GSocketConnectable) address = NULL;
	g_autoptr (GSocketConnection) connection = NULL;
	g_autoptr (GError) connect_error = NULL;
	g_autoptr (GPtrArray) chain = NULL;
	g_auto (gnutls_certificate_credentials_t) credentials = NULL;
	g_auto (gnutls_session_t) session = NULL;
	GVariant *verdict;
	GVariantDict dict;
	gboolean ok;
	int rc;

	/* what we check against, and what we show: both before touching the network */
	if (request->anchors_pem != NULL && g_bytes_get_size (request->anchors_pem) > 0) {
		anchors = tether_x509_parse_pem (request->anchors_pem, error);
		if (anchors == NULL) {
			g_prefix_error (error, _("the trust anchors cannot be used: "));
			return NULL;
		}
	} else {
		anchors = tether_x509_list_new ();
	}
	if ((request->cert_file == NULL) != (request->key_file == NULL)) {
		g_set_error_literal (
		        error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		        _("a client certificate needs both its chain file and its key "
		           "file"));
		return NULL;
	}
	if (request->cert_file != NULL &&
	    !probe_load_identity (probe, request->cert_file, request->key_file, error))
		return NULL;

	/* the TCP connection */
	client = g_socket_client_new ();
	g_socket_client_set_timeout (client, request->timeout_seconds);
	/* straight to the endpoint, as Paho goes */
	g_socket_client_set_enable_proxy (client, FALSE);
	address = g_network_address_new (request->host, request->port);
	connection = g_socket_client_connect (client, address, probe->cancellable, &connect_error);
	if (connection == NULL) {
		g_autofree gchar *message = NULL;

		if (g_error_matches (connect_error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			g_propagate_error (error, g_steal_pointer (&connect_error));
			return NULL;
		}
		message = g_strdup_printf (_("could not connect to %s port %u: %s"), request->host,
		                              request->port, connect_failure (connect_error));
		return result_new ("connect-failed", message, NULL);
	}
	probe->socket = g_socket_connection_get_socket (connection);
	g_socket_set_timeout (probe->socket, request->timeout_seconds);

	/* the handshake, with our certificate sent only when the server asks */
	rc = gnutls_certificate_allocate_credentials (&credentials);
	if (rc != GNUTLS_E_SUCCESS) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("the TLS probe could not be set up (%s)"), gnutls_strerror (rc));
		return NULL;
	}
	gnutls_certificate_set_retrieve_function2 (credentials, probe_retrieve_client_cert);
	ok = probe_setup_session (probe, request, credentials, error);
	session = probe->session; /* freed before the credentials and the socket */
	if (!ok)
		return NULL;
	rc = probe_handshake (probe);
	if (g_cancellable_set_error_if_cancelled (probe->cancellable, error))
		return NULL;

	/* the server's chain first: OpenSSL would refuse it before anything else */
	chain = peer_chain (probe->session);
	if (chain != NULL) {
		verdict = classify_chain (request, anchors, chain, probe->session, rc == 0);
		if (verdict != NULL)
			return verdict;
	}
	if (rc < 0) {
		verdict = classify_alert (probe, rc, chain);
		return verdict != NULL ? verdict : handshake_failed (probe, request, rc, chain);
	}
	if (chain == NULL)
		return result_new ("invalid",
		                   _("the server sent no certificate: check that the endpoint "
		                      "speaks TLS with certificates"),
		                      NULL);

	/* a TLS 1.3 server refuses a client certificate after the handshake */
	if (probe->cert_requested) {
		rc = probe_wait_for_alert (probe);
		if (g_cancellable_set_error_if_cancelled (probe->cancellable, error))
			return NULL;
		verdict = classify_alert (probe, rc, chain);
		if (verdict != NULL)
			return verdict;
		if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED)
			return handshake_failed (probe, request, rc, chain);
	}

	g_variant_dict_init (&dict, NULL);
	add_session_details (&dict, probe->session, chain, TRUE);
	g_variant_dict_insert (&dict, "client-certificate-sent", "b", probe->cert_sent);
	gnutls_bye (probe->session, GNUTLS_SHUT_WR);
	return result_new ("ok", NULL, &dict);
}

static void
probe_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
	const ProbeRequest *request = task_data;
	Probe probe = { 0 };
	GError *error = NULL;
	GVariant *result;

	probe.cancellable = cancellable;
	result = probe_run (&probe, request, &error);
	probe_clear (&probe);
	if (result == NULL)
		g_task_return_error (task, error);
	else
		g_task_return_pointer (task, result, (GDestroyNotify) g_variant_unref);
}

void
tether_tls_probe_async (const gchar *host, guint16 port, const gchar *sni, const gchar *const *alpn,
                        GBytes *anchors_pem, const gchar *anchor_names, const gchar *cert_file,
                        const gchar *key_file, guint timeout_seconds, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr (GTask) task = NULL;
	ProbeRequest *request;

	g_return_if_fail (host != NULL && *host != '\0');
	g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

	request = g_new0 (ProbeRequest, 1);
	request->host = g_strdup (host);
	request->port = port;
	request->sni = g_strdup (sni != NULL && *sni != '\0' ? sni : NULL);
	request->alpn = g_strdupv ((gchar **) alpn);
	request->anchors_pem = anchors_pem != NULL ? g_bytes_ref (anchors_pem) : NULL;
	request->anchor_names = g_strdup (anchor_names);
	request->cert_file = g_strdup (cert_file);
	request->key_file = g_strdup (key_file);
	request->timeout_seconds =
	        timeout_seconds > 0 ? timeout_seconds : TETHER_TLS_PROBE_DEFAULT_TIMEOUT;

	task = g_task_new (NULL, cancellable, callback, user_data);
	g_task_set_source_tag (task, tether_tls_probe_async);
	g_task_set_name (task, "tether-tls-probe");
	g_task_set_task_data (task, request, probe_request_free);
	g_task_run_in_thread (task, probe_thread);
}

GVariant *
tether_tls_probe_finish (GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
	g_return_val_if_fail (g_async_result_is_tagged (result, tether_tls_probe_async), NULL);

	return g_task_propagate_pointer (G_TASK (result), error);
}
