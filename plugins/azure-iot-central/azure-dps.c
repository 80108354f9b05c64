/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <gnutls/x509.h>
#include <libsoup/soup.h>
#include <string.h>
#include <tether/tether.h>

#include "azure-dps.h"

/* one registration, from the register PUT to the assignment */
typedef struct {
	gchar *host;
	guint16 port;
	gchar *id_scope;
	gchar *registration_id;
	gchar *model_id;
	guint timeout_s;
	GTask *task; /* not a reference: the task owns this */

	SoupSession *session;
	GTlsCertificate *certificate;
	SoupMessage *message;              /* the request in flight */
	GTlsCertificate *peer_certificate; /* DPS's, when the handshake refused it */
	GTlsCertificateFlags peer_errors;

	GCancellable *cancellable; /* ours: cancelled by the caller's, or at the deadline */
	GCancellable *caller_cancellable;
	gulong caller_handler;
	guint deadline_id;
	guint poll_id;
	gboolean timed_out;
	gboolean done;
	gchar *operation_id;
	gchar *last_status; /* what DPS said last, NULL before it said anything */
} DpsRun;

static void
dps_run_free (DpsRun *run)
{
	if (run->caller_cancellable != NULL) {
		g_cancellable_disconnect (run->caller_cancellable, run->caller_handler);
		g_object_unref (run->caller_cancellable);
	}
	g_clear_handle_id (&run->deadline_id, g_source_remove);
	g_clear_handle_id (&run->poll_id, g_source_remove);
	g_free (run->host);
	g_free (run->id_scope);
	g_free (run->registration_id);
	g_free (run->model_id);
	g_clear_object (&run->session);
	g_clear_object (&run->certificate);
	g_clear_object (&run->message);
	g_clear_object (&run->peer_certificate);
	g_clear_object (&run->cancellable);
	g_free (run->operation_id);
	g_free (run->last_status);
	g_free (run);
}

static gchar *
run_endpoint (DpsRun *run)
{
	return g_strdup_printf ("%s:%u", run->host, run->port);
}

/* ends the registration with @error (taken) */
static void
run_fail (GTask *task, GError *error)
{
	DpsRun *run = g_task_get_task_data (task);

	if (run->done) {
		g_error_free (error);
		return;
	}
	run->done = TRUE;
	g_clear_handle_id (&run->deadline_id, g_source_remove);
	g_clear_handle_id (&run->poll_id, g_source_remove);
	g_cancellable_cancel (run->cancellable);
	g_task_return_error (task, error);
}

static void
run_succeed (GTask *task, AzureAssignment *assignment)
{
	DpsRun *run = g_task_get_task_data (task);

	run->done = TRUE;
	g_clear_handle_id (&run->deadline_id, g_source_remove);
	g_clear_handle_id (&run->poll_id, g_source_remove);
	g_task_return_pointer (task, assignment, (GDestroyNotify) azure_assignment_free);
}

static GError *
timeout_error (DpsRun *run)
{
	g_autofree gchar *endpoint = run_endpoint (run);

	if (run->last_status == NULL)
		return g_error_new (TETHER_ERROR, TETHER_ERROR_FAILED,
		                    _("DPS at %s did not answer within %u s: check the network "
		                      "and the endpoint, or raise the option "
		                      "provisioning-timeout"),
		                       endpoint, run->timeout_s);
	return g_error_new (TETHER_ERROR, TETHER_ERROR_FAILED,
	                    _("DPS at %s did not assign the device within %u s (its last "
	                      "status: %s): it will be tried again; raise the option "
	                      "provisioning-timeout if DPS needs longer"),
	                       endpoint, run->timeout_s, run->last_status);
}

static gboolean
deadline_cb (gpointer user_data)
{
	GTask *task = user_data;
	DpsRun *run = g_task_get_task_data (task);

	run->deadline_id = 0;
	run->timed_out = TRUE;
	if (run->poll_id != 0) {
		/* between polls: nothing in flight to wait for */
		run_fail (task, timeout_error (run));
		return G_SOURCE_REMOVE;
	}
	/* the request in flight ends with G_IO_ERROR_CANCELLED, reported as a timeout */
	g_cancellable_cancel (run->cancellable);
	return G_SOURCE_REMOVE;
}

static gboolean
cancelled_idle_cb (gpointer user_data)
{
	GTask *task = user_data;

	run_fail (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
	                                     _("provisioning was cancelled")));
	return G_SOURCE_REMOVE;
}

static void
caller_cancelled_cb (GCancellable *caller, gpointer user_data)
{
	DpsRun *run = user_data;

	/* a request in flight ends at once; a wait between polls ends here, outside the handler */
	g_cancellable_cancel (run->cancellable);
	g_idle_add_full (G_PRIORITY_DEFAULT, cancelled_idle_cb, g_object_ref (run->task),
	                 g_object_unref);
}

/* DPS's certificate, as the handshake saw it when it refused it */
static gboolean
accept_certificate_cb (SoupMessage *message, GTlsCertificate *certificate,
                       GTlsCertificateFlags errors, gpointer user_data)
{
	DpsRun *run = user_data;

	g_set_object (&run->peer_certificate, certificate);
	run->peer_errors = errors;
	/* never accepted: the connection's anchors decide */
	return FALSE;
}

/* what went wrong before DPS answered, in words that say what to do */
static GError *
transport_error (DpsRun *run, GError *error)
{
	g_autofree gchar *endpoint = run_endpoint (run);
	g_autofree gchar *issuer = NULL;

	if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		if (run->timed_out)
			return timeout_error (run);
		return g_error_copy (error);
	}
	if (run->peer_certificate != NULL && run->peer_errors != 0) {
		issuer = g_tls_certificate_get_issuer_name (run->peer_certificate);
		if (run->peer_errors & G_TLS_CERTIFICATE_UNKNOWN_CA)
			return g_error_new (
			        TETHER_ERROR, TETHER_ERROR_FAILED,
			        _("DPS at %s presents a certificate issued by '%s', which the "
			          "connection's trust anchors do not vouch for: add its root CA "
			          "with 'tetherctl anchor add' and name it with --anchor"),
			           endpoint, issuer != NULL ? issuer : _("(unknown)"));
		if (run->peer_errors & G_TLS_CERTIFICATE_BAD_IDENTITY)
			return g_error_new (TETHER_ERROR, TETHER_ERROR_FAILED,
			                    _("DPS at %s presents a certificate for another host "
			                      "name: check the connection's endpoint"),
			                       endpoint);
		if (run->peer_errors & G_TLS_CERTIFICATE_EXPIRED)
			return g_error_new (TETHER_ERROR, TETHER_ERROR_FAILED,
			                    _("DPS at %s presents an expired certificate: is the "
			                      "clock right?"),
			                       endpoint);
		if (run->peer_errors & G_TLS_CERTIFICATE_NOT_ACTIVATED)
			return g_error_new (TETHER_ERROR, TETHER_ERROR_FAILED,
			                    _("DPS at %s presents a certificate that is not valid "
			                      "yet: is the clock right?"),
			                       endpoint);
	}
	if (error->domain == G_TLS_ERROR)
		return g_error_new (TETHER_ERROR, TETHER_ERROR_FAILED,
		                    _("the TLS handshake with DPS at %s failed: %s; if DPS "
		                      "refused the device certificate, check that its CA is "
		                      "enrolled"),
		                       endpoint, error->message);
	return g_error_new (TETHER_ERROR, TETHER_ERROR_FAILED,
	                    _("cannot reach DPS at %s: %s"), endpoint, error->message);
}

static void send_request (GTask *task, const gchar *method, const gchar *path, GBytes *body);

static gboolean
poll_cb (gpointer user_data)
{
	GTask *task = user_data;
	DpsRun *run = g_task_get_task_data (task);
	g_autofree gchar *path = NULL;

	run->poll_id = 0;
	path = azure_rules_dps_operation_path (run->id_scope, run->registration_id,
	                                       run->operation_id);
	send_request (task, SOUP_METHOD_GET, path, NULL);
	return G_SOURCE_REMOVE;
}

/* an answer from DPS: an assignment, a reason to poll again, or a failure */
static void
handle_answer (GTask *task, guint status, GBytes *body, const gchar *retry_after)
{
	DpsRun *run = g_task_get_task_data (task);
	g_autoptr(AzureDpsReply) reply = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *endpoint = run_endpoint (run);
	g_autofree gchar *why = NULL;
	guint wait_s;

	reply = azure_dps_reply_parse (body, &error_local);
	g_free (run->last_status);
	run->last_status =
	        g_strdup (reply != NULL && reply->status != NULL ? reply->status : _("no status"));

	if (status != SOUP_STATUS_OK && status != SOUP_STATUS_ACCEPTED) {
		why = azure_rules_dps_describe_failure (status, reply);
		run_fail (task, g_error_new (TETHER_ERROR, TETHER_ERROR_FAILED, "%s", why));
		return;
	}
	if (reply == NULL) {
		run_fail (task, g_error_new (TETHER_ERROR, TETHER_ERROR_FAILED,
		                             _("DPS at %s answered HTTP %u: %s"), endpoint, status,
		                                error_local->message));
		return;
	}

	if (g_strcmp0 (reply->status, "assigned") == 0) {
		if (reply->assigned_hub == NULL || reply->assigned_hub[0] == '\0' ||
		    reply->device_id == NULL || reply->device_id[0] == '\0') {
			run_fail (task, g_error_new (TETHER_ERROR, TETHER_ERROR_FAILED,
			                             _("DPS at %s said 'assigned' without naming "
			                               "the hub and the device id"),
			                                endpoint));
			return;
		}
		run_succeed (task,
		             azure_assignment_new (endpoint, run->id_scope, run->registration_id,
		                                   reply->assigned_hub, reply->device_id));
		return;
	}

	if (g_strcmp0 (reply->status, "assigning") == 0) {
		if (reply->operation_id != NULL) {
			g_free (run->operation_id);
			run->operation_id = g_strdup (reply->operation_id);
		}
		if (run->operation_id == NULL) {
			run_fail (task, g_error_new (TETHER_ERROR, TETHER_ERROR_FAILED,
			                             _("DPS at %s said 'assigning' without an "
			                               "operation id to ask after"),
			                                endpoint));
			return;
		}
		wait_s = azure_rules_parse_retry_after (retry_after);
		g_debug ("registration %s: assigning, asking again in %u s", run->registration_id,
		         wait_s);
		run->poll_id = g_timeout_add_full (G_PRIORITY_DEFAULT, wait_s * 1000, poll_cb,
		                                   g_object_ref (task), g_object_unref);
		return;
	}

	/* failed, disabled, unassigned, or something new */
	why = azure_rules_dps_describe_failure (status, reply);
	run_fail (task, g_error_new (TETHER_ERROR, TETHER_ERROR_FAILED, "%s", why));
}

static void
sent_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	DpsRun *run = g_task_get_task_data (task);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) body = NULL;
	g_autoptr(SoupMessage) message = g_steal_pointer (&run->message);
	SoupMessageHeaders *headers;

	body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
	if (run->done)
		return;
	if (body == NULL) {
		run_fail (task, transport_error (run, error));
		return;
	}
	headers = soup_message_get_response_headers (message);
	g_debug ("registration %s: DPS answered HTTP %u", run->registration_id,
	         soup_message_get_status (message));
	handle_answer (task, soup_message_get_status (message), body,
	               soup_message_headers_get_one (headers, "Retry-After"));
}

static void
send_request (GTask *task, const gchar *method, const gchar *path, GBytes *body)
{
	DpsRun *run = g_task_get_task_data (task);
	g_autofree gchar *uri = NULL;
	g_autoptr(SoupMessage) message = NULL;

	uri = g_uri_join (G_URI_FLAGS_ENCODED_PATH | G_URI_FLAGS_ENCODED_QUERY, "https", NULL,
	                  run->host, run->port, path, azure_rules_dps_query (), NULL);
	message = soup_message_new (method, uri);
	if (message == NULL) {
		run_fail (task, g_error_new (TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		                             _("cannot make a DPS address of host '%s': check the "
		                               "connection's endpoint"),
		                                run->host));
		return;
	}
	soup_message_set_tls_client_certificate (message, run->certificate);
	soup_message_headers_replace (soup_message_get_request_headers (message), "Accept",
	                              "application/json");
	if (body != NULL)
		soup_message_set_request_body_from_bytes (message, "application/json", body);
	g_signal_connect (message, "accept-certificate", G_CALLBACK (accept_certificate_cb), run);

	g_set_object (&run->message, message);
	soup_session_send_and_read_async (run->session, message, G_PRIORITY_DEFAULT,
	                                  run->cancellable, sent_cb, g_object_ref (task));
}

/* whether @certificate names itself as its issuer: a root */
static gboolean
is_root (GTlsCertificate *certificate)
{
	g_autofree gchar *pem = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t datum;
	gboolean root = FALSE;

	g_object_get (certificate, "certificate-pem", &pem, NULL);
	if (pem == NULL || gnutls_x509_crt_init (&crt) != GNUTLS_E_SUCCESS)
		return FALSE;
	datum.data = (unsigned char *) pem;
	datum.size = (unsigned int) strlen (pem);
	if (gnutls_x509_crt_import (crt, &datum, GNUTLS_X509_FMT_PEM) == GNUTLS_E_SUCCESS)
		root = gnutls_x509_crt_check_issuer (crt, crt) != 0;
	gnutls_x509_crt_deinit (crt);
	return root;
}

/*
 * the roots among the connection's anchors, as a database: by the trust rule
 * (DESIGN.md) a chain is vouched for only when it reaches a root in the set,
 * as OpenSSL in the MQTT session has it, where GnuTLS behind GIO would stop
 * at an intermediate as well
 */
static GTlsDatabase *
roots_database (const gchar *trust_file, GError **error)
{
	g_autolist(GTlsCertificate) certificates = NULL;
	g_autoptr(GString) roots = g_string_new (NULL);
	g_autofree gchar *dir = g_path_get_dirname (trust_file);
	g_autofree gchar *roots_file = g_build_filename (dir, "dps-roots.pem", NULL);
	g_autoptr(GError) error_local = NULL;
	GTlsDatabase *database;

	certificates = g_tls_certificate_list_new_from_file (trust_file, &error_local);
	for (GList *l = certificates; l != NULL; l = l->next) {
		g_autofree gchar *pem = NULL;

		if (!is_root (l->data))
			continue;
		g_object_get (l->data, "certificate-pem", &pem, NULL);
		g_string_append (roots, pem);
	}
	if (error_local == NULL && roots->len == 0) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		                     _("the connection's trust anchors hold no root certificate, "
		                       "so they vouch for no server: add the root CA that DPS's "
		                       "chain ends at with 'tetherctl anchor add'"));
		return NULL;
	}
	if (error_local == NULL)
		g_file_set_contents_full (roots_file, roots->str, (gssize) roots->len,
		                          G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error_local);
	database = error_local == NULL ? g_tls_file_database_new (roots_file, &error_local) : NULL;
	if (database == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot read the trust anchors for DPS: %s"), error_local->message);
		return NULL;
	}
	return database;
}

void
azure_dps_register_async (const AzureDpsRequest *request, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (NULL, NULL, callback, user_data);
	g_autoptr(GTlsDatabase) database = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) body = NULL;
	g_autofree gchar *path = NULL;
	DpsRun *run = g_new0 (DpsRun, 1);

	g_task_set_source_tag (task, azure_dps_register_async);
	g_task_set_task_data (task, run, (GDestroyNotify) dps_run_free);
	run->host = g_strdup (request->host);
	run->port = request->port;
	run->id_scope = g_strdup (request->id_scope);
	run->registration_id = g_strdup (request->registration_id);
	run->model_id = g_strdup (request->model_id);
	run->timeout_s = request->timeout_s;
	run->cancellable = g_cancellable_new ();
	run->task = task;

	/* the caller's cancellable stops ours */
	if (cancellable != NULL) {
		run->caller_cancellable = g_object_ref (cancellable);
		run->caller_handler = g_cancellable_connect (
		        cancellable, G_CALLBACK (caller_cancelled_cb), run, NULL);
	}

	/* the device's chain on the TLS session; only the connection's anchors vouch for DPS */
	run->certificate =
	        g_tls_certificate_new_from_files (request->chain_file, request->key_file, &error);
	if (run->certificate == NULL) {
		run_fail (task, g_error_new (TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		                             _("cannot present the identity's certificate to "
		                               "DPS: %s"),
		                                error->message));
		return;
	}
	database = roots_database (request->trust_file, &error);
	if (database == NULL) {
		run_fail (task, g_steal_pointer (&error));
		return;
	}
	run->session = soup_session_new_with_options ("tls-database", database, "timeout",
	                                              request->timeout_s, "user-agent",
	                                              "tether/" PACKAGE_VERSION, NULL);

	/* everything, polls included, within the timeout */
	run->deadline_id = g_timeout_add_full (G_PRIORITY_DEFAULT, request->timeout_s * 1000,
	                                       deadline_cb, g_object_ref (task), g_object_unref);

	path = azure_rules_dps_register_path (run->id_scope, run->registration_id);
	body = azure_rules_dps_register_body (run->registration_id, run->model_id);
	send_request (task, SOUP_METHOD_PUT, path, body);
}

AzureAssignment *
azure_dps_register_finish (GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
	return g_task_propagate_pointer (G_TASK (result), error);
}
