/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "tether-error.h"
#include "tether-est.h"
#include "tether-x509.h"

/* RFC 7030 media types */
#define EST_PKCS10_TYPE "application/pkcs10"
/* what an EST server's answer may hold, at most */
#define EST_MAX_BODY (1024 * 1024)
/* the part of a refusal's body quoted in the error */
#define EST_QUOTE_CHARS 200

typedef struct {
	gchar *url; /* without a trailing '/' */
	gchar *host;
	gchar *anchor_names;
	gchar *username;
	gchar *password;
	gboolean reenroll;
	gchar *csr_base64;
	SoupSession *session;
	GTlsCertificate *client_certificate;
	GPtrArray *anchors;   /* gnutls_x509_crt_t, for the trust rule */
	gchar *tls_problem;   /* why the server's certificate was refused */
	GPtrArray *cacerts;   /* what /cacerts returned */
	SoupMessage *message; /* the request under way */
} EnrollData;

/* the request under way goes; its handlers point at @data */
static void
drop_message (EnrollData *data)
{
	if (data->message == NULL)
		return;
	g_signal_handlers_disconnect_by_data (data->message, data);
	g_clear_object (&data->message);
}

static void
enroll_data_free (EnrollData *data)
{
	drop_message (data);
	if (data->password != NULL) {
		memset (data->password, 0, strlen (data->password));
		g_free (data->password);
	}
	g_free (data->url);
	g_free (data->host);
	g_free (data->anchor_names);
	g_free (data->username);
	g_free (data->csr_base64);
	g_free (data->tls_problem);
	g_clear_object (&data->session);
	g_clear_object (&data->client_certificate);
	g_clear_pointer (&data->anchors, g_ptr_array_unref);
	g_clear_pointer (&data->cacerts, g_ptr_array_unref);
	g_free (data);
}

gboolean
tether_est_check_url (const gchar *url, GError **error)
{
	g_autoptr(GUri) uri = NULL;
	g_autoptr(GError) local_error = NULL;

	uri = g_uri_parse (url, G_URI_FLAGS_NONE, &local_error);
	if (uri == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("the EST URL '%s' cannot be read (%s): give "
		               "https://HOST[:PORT]/.well-known/est"),
		                url, local_error->message);
		return FALSE;
	}
	if (g_strcmp0 (g_uri_get_scheme (uri), "https") != 0 || g_uri_get_host (uri) == NULL ||
	    *g_uri_get_host (uri) == '\0' || g_uri_get_query (uri) != NULL ||
	    g_uri_get_userinfo (uri) != NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("the EST URL '%s' is not an https URL with a host and no query or "
		               "user: give https://HOST[:PORT]/.well-known/est"),
		                url);
		return FALSE;
	}
	return TRUE;
}

/* the certificate chain the server presented, as GnuTLS certificates */
static GPtrArray *
peer_chain (GTlsCertificate *peer)
{
	GPtrArray *chain = tether_x509_list_new ();

	for (GTlsCertificate *c = peer; c != NULL; c = g_tls_certificate_get_issuer (c)) {
		g_autoptr(GByteArray) der = NULL;
		gnutls_x509_crt_t crt = NULL;
		gnutls_datum_t datum;

		g_object_get (c, "certificate", &der, NULL);
		if (der == NULL || gnutls_x509_crt_init (&crt) != GNUTLS_E_SUCCESS)
			break;
		datum.data = der->data;
		datum.size = der->len;
		if (gnutls_x509_crt_import (crt, &datum, GNUTLS_X509_FMT_DER) != GNUTLS_E_SUCCESS) {
			gnutls_x509_crt_deinit (crt);
			break;
		}
		g_ptr_array_add (chain, crt);
	}
	return chain;
}

/* the trust rule on the server's chain; NULL when it holds, else why not */
static gchar *
check_peer (EnrollData *data, GTlsCertificate *peer)
{
	g_autoptr(GPtrArray) chain = NULL;
	gchar *message = NULL;

	if (peer == NULL)
		return g_strdup (_("the server presented no certificate"));
	chain = peer_chain (peer);
	if (chain->len == 0)
		return g_strdup (_("the server's certificate cannot be read"));
	if (tether_trust_verify (chain, data->anchors, data->host,
	                         g_get_real_time () / G_USEC_PER_SEC, data->anchor_names, &message,
	                         NULL, NULL) == TETHER_TRUST_OK)
		return NULL;
	return message;
}

/* the TLS layer refused the server's certificate: say why, by the trust rule */
static gboolean
accept_certificate_cb (SoupMessage *message, GTlsCertificate *peer, GTlsCertificateFlags errors,
                       EnrollData *data)
{
	g_free (data->tls_problem);
	data->tls_problem = check_peer (data, peer);
	if (data->tls_problem == NULL)
		data->tls_problem =
		        g_strdup (_("the TLS library refused the server's certificate"));
	return FALSE;
}

static SoupMessage *
new_message (EnrollData *data, const gchar *method, const gchar *operation)
{
	g_autofree gchar *url = g_strdup_printf ("%s/%s", data->url, operation);
	SoupMessage *message = soup_message_new (method, url);

	if (data->client_certificate != NULL)
		soup_message_set_tls_client_certificate (message, data->client_certificate);
	if (data->username != NULL) {
		g_autofree gchar *pair = g_strdup_printf (
		        "%s:%s", data->username, data->password != NULL ? data->password : "");
		g_autofree gchar *encoded = g_base64_encode ((const guchar *) pair, strlen (pair));
		g_autofree gchar *header = g_strdup_printf ("Basic %s", encoded);

		soup_message_headers_replace (soup_message_get_request_headers (message),
		                              "Authorization", header);
		memset (pair, 0, strlen (pair));
		memset (encoded, 0, strlen (encoded));
		memset (header, 0, strlen (header));
	}
	g_signal_connect (message, "accept-certificate", G_CALLBACK (accept_certificate_cb), data);
	return message;
}

/* the request failed before an answer: unreachable, or not trusted */
static void
set_send_error (EnrollData *data, GError *cause, GError **error)
{
	if (data->tls_problem != NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("the EST server %s is not trusted: %s"), data->url,
		                data->tls_problem);
		return;
	}
	g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
	             _("cannot reach the EST server %s: %s"), data->url, cause->message);
}

/* the beginning of a refusal's text, printable */
static gchar *
quote_body (GBytes *body)
{
	gsize size = 0;
	const gchar *text = body != NULL ? g_bytes_get_data (body, &size) : NULL;
	GString *quoted = g_string_new (NULL);

	for (gsize i = 0; text != NULL && i < size && quoted->len < EST_QUOTE_CHARS; i++) {
		guchar c = (guchar) text[i];
		g_string_append_c (quoted, g_ascii_isprint (c) ? (gchar) c : ' ');
	}
	g_strstrip (quoted->str);
	return g_string_free (quoted, FALSE);
}

/* checks the answer: the server trusted and the status 200 */
static gboolean
check_answer (EnrollData *data, SoupMessage *message, GBytes *body, const gchar *operation,
              GError **error)
{
	guint status = soup_message_get_status (message);
	g_autofree gchar *problem =
	        check_peer (data, soup_message_get_tls_peer_certificate (message));
	g_autofree gchar *quoted = NULL;

	if (problem != NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("the EST server %s is not trusted: %s"), data->url, problem);
		return FALSE;
	}
	if (status == SOUP_STATUS_OK)
		return TRUE;
	quoted = quote_body (body);
	if (status == SOUP_STATUS_ACCEPTED) {
		const gchar *retry = soup_message_headers_get_one (
		        soup_message_get_response_headers (message), "Retry-After");
		g_set_error (
		        error, TETHER_ERROR, TETHER_ERROR_FAILED,
		        _("the EST server %s took the request for later (%s, Retry-After %s); "
		               "the daemon asks again"),
		           data->url, operation, retry != NULL ? retry : "-");
		return FALSE;
	}
	g_set_error (error, TETHER_ERROR,
	             status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN ||
	                             (status >= 400 && status < 500)
	                     ? TETHER_ERROR_REFUSED
	                     : TETHER_ERROR_FAILED,
	             _("the EST server %s answered %s with %u %s%s%s"), data->url, operation,
	                status, soup_message_get_reason_phrase (message),
	                quoted[0] != '\0' ? ": " : "", quoted);
	return FALSE;
}

/* certificates from an application/pkcs7-mime answer: base64 DER (RFC 7030), or PEM */
static GPtrArray *
parse_certs (GBytes *body, const gchar *operation, GError **error)
{
	gsize size = 0;
	const gchar *text = g_bytes_get_data (body, &size);
	g_autofree gchar *base64 = NULL;
	g_autoptr(GBytes) der = NULL;
	g_autoptr(GError) local_error = NULL;
	GPtrArray *certs;
	guchar *decoded;
	gsize decoded_len = 0;
	gsize n = 0;

	if (size == 0 || size > EST_MAX_BODY) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("the EST server's answer to %s is %zu bytes long: it holds no "
		               "certificates"),
		                operation, size);
		return NULL;
	}
	if (g_strstr_len (text, (gssize) size, "-----BEGIN") != NULL) {
		certs = tether_x509_parse_upload (body, &local_error);
	} else {
		base64 = g_malloc (size + 1);
		for (gsize i = 0; i < size; i++) {
			if (!g_ascii_isspace (text[i]))
				base64[n++] = text[i];
		}
		base64[n] = '\0';
		decoded = g_base64_decode (base64, &decoded_len);
		der = g_bytes_new_take (decoded, decoded_len);
		certs = decoded_len > 0 ? tether_x509_parse_upload (der, &local_error) : NULL;
	}
	if (certs == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("the EST server's answer to %s holds no certificates it can read "
		               "(%s): check that the URL is an EST server's"),
		                operation,
		                local_error != NULL ? local_error->message : _("empty"));
		return NULL;
	}
	return certs;
}

static void
enroll_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	EnrollData *data = g_task_get_task_data (task);
	const gchar *operation = data->reenroll ? "simplereenroll" : "simpleenroll";
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) local_error = NULL;
	g_autoptr(GBytes) body = NULL;
	GPtrArray *issued;

	body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &local_error);
	if (body == NULL) {
		set_send_error (data, local_error, &error);
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	if (!check_answer (data, data->message, body, operation, &error)) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	issued = parse_certs (body, operation, &error);
	if (issued == NULL) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	g_task_return_pointer (task, issued, (GDestroyNotify) g_ptr_array_unref);
}

static void
cacerts_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	EnrollData *data = g_task_get_task_data (task);
	const gchar *operation = data->reenroll ? "simplereenroll" : "simpleenroll";
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) local_error = NULL;
	g_autoptr(GBytes) body = NULL;
	g_autoptr(GBytes) request = NULL;

	body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &local_error);
	if (body == NULL) {
		set_send_error (data, local_error, &error);
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	if (!check_answer (data, data->message, body, "cacerts", &error)) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	data->cacerts = parse_certs (body, "cacerts", &error);
	if (data->cacerts == NULL) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}

	/* the request, as base64 DER */
	drop_message (data);
	data->message = new_message (data, SOUP_METHOD_POST, operation);
	request = g_bytes_new (data->csr_base64, strlen (data->csr_base64));
	soup_message_set_request_body_from_bytes (data->message, EST_PKCS10_TYPE, request);
	soup_session_send_and_read_async (data->session, data->message, G_PRIORITY_DEFAULT,
	                                  g_task_get_cancellable (task), enroll_cb,
	                                  g_steal_pointer (&task));
}

/* a PEM request as the base64 of its DER */
static gchar *
csr_to_base64 (const gchar *csr_pem, GError **error)
{
	g_auto(gnutls_x509_crq_t) crq = NULL;
	gnutls_datum_t datum = { (unsigned char *) csr_pem, (unsigned int) strlen (csr_pem) };
	gnutls_datum_t der = { NULL, 0 };
	gchar *encoded;
	int rc;

	rc = gnutls_x509_crq_init (&crq);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_crq_import (crq, &datum, GNUTLS_X509_FMT_PEM);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_crq_export2 (crq, GNUTLS_X509_FMT_DER, &der);
	if (rc != GNUTLS_E_SUCCESS) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("the certificate request could not be encoded for EST (%s)"),
		                gnutls_strerror (rc));
		return NULL;
	}
	encoded = g_base64_encode (der.data, der.size);
	gnutls_free (der.data);
	return encoded;
}

static gboolean
enroll_prepare (EnrollData *data, const TetherEstParams *params, const gchar *csr_pem,
                GError **error)
{
	g_autoptr(GUri) uri = NULL;
	g_autoptr(GTlsDatabase) database = NULL;
	g_autoptr(GBytes) anchors_pem = NULL;
	g_autofree gchar *contents = NULL;
	gsize len = 0;

	if (!tether_est_check_url (params->url, error))
		return FALSE;
	uri = g_uri_parse (params->url, G_URI_FLAGS_NONE, NULL);
	data->host = g_strdup (g_uri_get_host (uri));
	data->url = g_strdup (params->url);
	while (g_str_has_suffix (data->url, "/"))
		data->url[strlen (data->url) - 1] = '\0';
	data->anchor_names = g_strdup (params->anchor_names);
	data->username = g_strdup (params->username);
	data->password = g_strdup (params->password);
	data->csr_base64 = csr_to_base64 (csr_pem, error);
	if (data->csr_base64 == NULL)
		return FALSE;

	/* the anchors, for the TLS layer and for the trust rule */
	if (!g_file_get_contents (params->trust_file, &contents, &len, error))
		return FALSE;
	anchors_pem = g_bytes_new_take (g_steal_pointer (&contents), len);
	data->anchors = tether_x509_parse_pem (anchors_pem, error);
	if (data->anchors == NULL)
		return FALSE;
	database = g_tls_file_database_new (params->trust_file, error);
	if (database == NULL)
		return FALSE;

	if (params->cert_file != NULL) {
		data->client_certificate = g_tls_certificate_new_from_files (
		        params->cert_file, params->key_file, error);
		if (data->client_certificate == NULL) {
			g_prefix_error (error,
			                _("the client certificate for EST cannot be loaded: "));
			return FALSE;
		}
	}
	data->session = soup_session_new_with_options (
	        "tls-database", database, "timeout", params->timeout > 0 ? params->timeout : 60,
	        "idle-timeout", 5, "user-agent", "tether/" PACKAGE_VERSION, NULL);
	return TRUE;
}

void
tether_est_enroll_async (const TetherEstParams *params, gboolean reenroll, const gchar *csr_pem,
                         GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
	EnrollData *data = g_new0 (EnrollData, 1);
	g_autoptr(GError) error = NULL;

	g_task_set_source_tag (task, tether_est_enroll_async);
	g_task_set_task_data (task, data, (GDestroyNotify) enroll_data_free);
	data->reenroll = reenroll;
	if (!enroll_prepare (data, params, csr_pem, &error)) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}

	/* the CA certificates first: they complete the chain of what the server issues */
	data->message = new_message (data, SOUP_METHOD_GET, "cacerts");
	soup_session_send_and_read_async (data->session, data->message, G_PRIORITY_DEFAULT,
	                                  cancellable, cacerts_cb, g_steal_pointer (&task));
}

GPtrArray *
tether_est_enroll_finish (GAsyncResult *result, GPtrArray **cacerts, GError **error)
{
	GTask *task = G_TASK (result);
	EnrollData *data = g_task_get_task_data (task);
	GPtrArray *issued = g_task_propagate_pointer (task, error);

	if (issued != NULL && cacerts != NULL)
		*cacerts = data->cacerts != NULL ? g_ptr_array_ref (data->cacerts) : NULL;
	return issued;
}
