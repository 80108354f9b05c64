/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The DPS emulator: see dps-emulator.h. */
#include "dps-emulator.h"

#include <gnutls/x509.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#define API_VERSION "2021-06-01"

typedef struct {
	char *registration_id;
	DpsEmulatorMode mode;
} Operation;

struct _DpsEmulator {
	SoupServer *server;
	guint16 port;
	char *endpoint;
	GHashTable *modes;      /* id scope -> DpsEmulatorMode */
	GHashTable *operations; /* operation id -> Operation */
	GPtrArray *held;        /* SoupServerMessage: never answered */
	char *hub;
	char *device_id;
	guint next_operation;

	guint registrations;
	guint polls;
	char *last_client_cn;
	char *last_body;
	gint64 last_assigning; /* monotonic time of the last "assigning" answer, or 0 */
	double last_poll_delay;
};

static void
operation_free (Operation *operation)
{
	g_free (operation->registration_id);
	g_free (operation);
}

static void
respond_json (SoupServerMessage *message, guint status, JsonBuilder *builder)
{
	g_autoptr(JsonGenerator) generator = json_generator_new ();
	g_autoptr(JsonNode) root = json_builder_get_root (builder);
	gsize length = 0;
	g_autofree char *text = NULL;

	json_generator_set_root (generator, root);
	text = json_generator_to_data (generator, &length);
	soup_server_message_set_status (message, status, NULL);
	soup_server_message_set_response (message, "application/json; charset=utf-8",
	                                  SOUP_MEMORY_COPY, text, length);
}

/* an error body as DPS writes them: errorCode, trackingId, message */
static void
respond_error (SoupServerMessage *message, guint status, gint64 code, const char *text)
{
	g_autoptr(JsonBuilder) builder = json_builder_new ();
	g_autofree char *tracking_id = g_uuid_string_random ();

	json_builder_begin_object (builder);
	json_builder_set_member_name (builder, "errorCode");
	json_builder_add_int_value (builder, code);
	json_builder_set_member_name (builder, "trackingId");
	json_builder_add_string_value (builder, tracking_id);
	json_builder_set_member_name (builder, "message");
	json_builder_add_string_value (builder, text);
	json_builder_set_member_name (builder, "timestampUtc");
	json_builder_add_string_value (builder, "2026-01-01T00:00:00.0000000Z");
	json_builder_end_object (builder);
	respond_json (message, status, builder);
}

/* {"operationId", "status", "registrationState": {...}} */
static void
respond_operation (DpsEmulator *emulator, SoupServerMessage *message, const char *operation_id,
                   const Operation *operation, const char *status)
{
	g_autoptr(JsonBuilder) builder = json_builder_new ();
	gboolean assigning = g_str_equal (status, "assigning");

	json_builder_begin_object (builder);
	json_builder_set_member_name (builder, "operationId");
	json_builder_add_string_value (builder, operation_id);
	json_builder_set_member_name (builder, "status");
	json_builder_add_string_value (builder, status);
	if (!assigning) {
		json_builder_set_member_name (builder, "registrationState");
		json_builder_begin_object (builder);
		json_builder_set_member_name (builder, "registrationId");
		json_builder_add_string_value (builder, operation->registration_id);
		json_builder_set_member_name (builder, "status");
		json_builder_add_string_value (builder, status);
		if (g_str_equal (status, "assigned")) {
			json_builder_set_member_name (builder, "assignedHub");
			json_builder_add_string_value (builder, emulator->hub);
			json_builder_set_member_name (builder, "deviceId");
			json_builder_add_string_value (
			        builder, emulator->device_id != NULL ? emulator->device_id
			                                             : operation->registration_id);
		}
		if (g_str_equal (status, "failed")) {
			json_builder_set_member_name (builder, "errorCode");
			json_builder_add_int_value (builder, 400209);
			json_builder_set_member_name (builder, "errorMessage");
			json_builder_add_string_value (builder, "Custom allocation failed");
		}
		json_builder_end_object (builder);
	}
	json_builder_end_object (builder);
	respond_json (message, assigning ? SOUP_STATUS_ACCEPTED : SOUP_STATUS_OK, builder);
	if (assigning) {
		g_autofree char *seconds = g_strdup_printf ("%d", DPS_EMULATOR_RETRY_AFTER_S);

		soup_message_headers_replace (soup_server_message_get_response_headers (message),
		                              "Retry-After", seconds);
		emulator->last_assigning = g_get_monotonic_time ();
	}
}

/* the common name of the client's certificate, or NULL */
static char *
client_common_name (SoupServerMessage *message)
{
	GTlsCertificate *peer = soup_server_message_get_tls_peer_certificate (message);
	g_autofree char *pem = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t datum;
	char cn[256];
	size_t size = sizeof cn;
	char *result = NULL;

	if (peer == NULL)
		return NULL;
	g_object_get (peer, "certificate-pem", &pem, NULL);
	datum.data = (unsigned char *) pem;
	datum.size = (unsigned int) strlen (pem);
	if (gnutls_x509_crt_init (&crt) == 0 &&
	    gnutls_x509_crt_import (crt, &datum, GNUTLS_X509_FMT_PEM) == 0 &&
	    gnutls_x509_crt_get_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &size) == 0)
		result = g_strndup (cn, size);
	gnutls_x509_crt_deinit (crt);
	return result;
}

static DpsEmulatorMode
mode_for (DpsEmulator *emulator, const char *id_scope)
{
	gpointer mode = NULL;

	if (g_hash_table_lookup_extended (emulator->modes, id_scope, NULL, &mode))
		return (DpsEmulatorMode) GPOINTER_TO_INT (mode);
	return DPS_EMULATOR_ASSIGN;
}

static const char *
final_status (DpsEmulatorMode mode)
{
	switch (mode) {
	case DPS_EMULATOR_FAILED:
		return "failed";
	case DPS_EMULATOR_DISABLED:
		return "disabled";
	case DPS_EMULATOR_UNASSIGNED:
		return "unassigned";
	case DPS_EMULATOR_ALWAYS_ASSIGNING:
		return "assigning";
	default:
		return "assigned";
	}
}

static void
handle_register (DpsEmulator *emulator, SoupServerMessage *message, const char *id_scope,
                 const char *registration_id)
{
	g_autoptr(GBytes) body = soup_message_body_flatten (
	        soup_server_message_get_request_body (message));
	g_autoptr(JsonParser) parser = json_parser_new ();
	DpsEmulatorMode mode = mode_for (emulator, id_scope);
	JsonNode *root;
	const char *body_id = NULL;
	Operation *operation;
	g_autofree char *operation_id = NULL;

	emulator->registrations++;
	g_free (emulator->last_body);
	emulator->last_body = g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));

	if (mode == DPS_EMULATOR_SILENT) {
		g_ptr_array_add (emulator->held, g_object_ref (message));
		soup_server_message_pause (message);
		return;
	}
	if (mode == DPS_EMULATOR_UNAUTHORIZED) {
		respond_error (message, SOUP_STATUS_UNAUTHORIZED, 401002, "Unauthorized");
		return;
	}
	if (mode == DPS_EMULATOR_NOT_FOUND) {
		respond_error (message, SOUP_STATUS_NOT_FOUND, 404001,
		               "Device Provisioning Service instance not found.");
		return;
	}

	/* as DPS: the body names the registration, which is the certificate's CN */
	if (!json_parser_load_from_data (parser, emulator->last_body, -1, NULL) ||
	    (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root) ||
	    (body_id = json_object_get_string_member_with_default (
	             json_node_get_object (root), "registrationId", NULL)) == NULL ||
	    g_ascii_strcasecmp (body_id, registration_id) != 0) {
		respond_error (message, SOUP_STATUS_BAD_REQUEST, 400004,
		               "Registration id in the body does not match the path.");
		return;
	}
	/* a certificate from the enrolled CA, for this registration id */
	if (emulator->last_client_cn == NULL ||
	    g_object_get_data (G_OBJECT (message), "dps-emulator-untrusted") != NULL ||
	    g_ascii_strcasecmp (emulator->last_client_cn, registration_id) != 0) {
		respond_error (message, SOUP_STATUS_UNAUTHORIZED, 401002, "Unauthorized");
		return;
	}

	operation = g_new0 (Operation, 1);
	operation->registration_id = g_strdup (registration_id);
	operation->mode = mode;
	operation_id = g_strdup_printf ("4.%08x.%u", g_random_int (), emulator->next_operation++);
	g_hash_table_insert (emulator->operations, g_strdup (operation_id), operation);
	respond_operation (emulator, message, operation_id, operation, "assigning");
}

static void
handle_operation (DpsEmulator *emulator, SoupServerMessage *message, const char *registration_id,
                  const char *operation_id)
{
	Operation *operation = g_hash_table_lookup (emulator->operations, operation_id);

	emulator->polls++;
	if (emulator->last_assigning != 0)
		emulator->last_poll_delay =
		        (double) (g_get_monotonic_time () - emulator->last_assigning) /
		        G_USEC_PER_SEC;
	if (operation == NULL ||
	    g_ascii_strcasecmp (operation->registration_id, registration_id) != 0) {
		respond_error (message, SOUP_STATUS_NOT_FOUND, 404201, "Operation not found.");
		return;
	}
	respond_operation (emulator, message, operation_id, operation,
	                   final_status (operation->mode));
}

static void
handler (SoupServer *server, SoupServerMessage *message, const char *path, GHashTable *query,
         gpointer user_data)
{
	DpsEmulator *emulator = user_data;
	g_auto(GStrv) segments = g_strsplit (path, "/", -1);
	const char *method = soup_server_message_get_method (message);
	const char *api_version = query != NULL ? g_hash_table_lookup (query, "api-version") : NULL;
	guint n = g_strv_length (segments);
	g_autofree char *id_scope = NULL;
	g_autofree char *registration_id = NULL;
	g_autofree char *operation_id = NULL;
	g_autofree char *client_cn = NULL;

	/* libsoup gives the certificate with the first request of a connection only */
	client_cn = client_common_name (message);
	if (client_cn != NULL) {
		g_free (emulator->last_client_cn);
		emulator->last_client_cn = g_steal_pointer (&client_cn);
	}

	/* "", scope, "registrations", registration id, "register" | "operations", [id] */
	if (n < 5 || segments[0][0] != '\0' || !g_str_equal (segments[2], "registrations")) {
		respond_error (message, SOUP_STATUS_NOT_FOUND, 404000, "No such resource.");
		return;
	}
	if (g_strcmp0 (api_version, API_VERSION) != 0) {
		respond_error (message, SOUP_STATUS_BAD_REQUEST, 400001, "Unknown api-version.");
		return;
	}
	id_scope = g_uri_unescape_string (segments[1], NULL);
	registration_id = g_uri_unescape_string (segments[3], NULL);
	if (n == 5 && g_str_equal (segments[4], "register") &&
	    g_str_equal (method, SOUP_METHOD_PUT)) {
		handle_register (emulator, message, id_scope, registration_id);
		return;
	}
	if (n == 6 && g_str_equal (segments[4], "operations") &&
	    g_str_equal (method, SOUP_METHOD_GET)) {
		operation_id = g_uri_unescape_string (segments[5], NULL);
		handle_operation (emulator, message, registration_id, operation_id);
		return;
	}
	respond_error (message, SOUP_STATUS_METHOD_NOT_ALLOWED, 405000, "Method not allowed.");
}

/*
 * libsoup asks about every client certificate. As DPS, take the TLS session
 * whatever the certificate, and answer the request 401002 when the device CA
 * does not vouch for it.
 */
static gboolean
accept_certificate_cb (SoupServerMessage *message, GTlsCertificate *certificate,
                       GTlsCertificateFlags errors, gpointer user_data)
{
	if (errors != 0)
		g_printerr ("# DPS emulator: a client certificate the device CA does not vouch for "
		            "(flags 0x%x)\n",
		            errors);
	g_object_set_data (G_OBJECT (message), "dps-emulator-untrusted",
	                   GINT_TO_POINTER (errors != 0));
	return TRUE;
}

static void
request_started_cb (SoupServer *server, SoupServerMessage *message, gpointer user_data)
{
	g_signal_connect (message, "accept-certificate", G_CALLBACK (accept_certificate_cb), NULL);
}

DpsEmulator *
dps_emulator_new (const char *cert_file, const char *key_file, const char *client_ca_file,
                  GError **error)
{
	g_autoptr(GTlsCertificate) certificate = NULL;
	g_autoptr(GTlsDatabase) database = NULL;
	g_autoptr(SoupServer) server = NULL;
	GSList *uris;
	DpsEmulator *emulator;

	certificate = g_tls_certificate_new_from_files (cert_file, key_file, error);
	if (certificate == NULL)
		return NULL;
	database = g_tls_file_database_new (client_ca_file, error);
	if (database == NULL)
		return NULL;

	/* a client certificate from the device CA, or no handshake */
	server = soup_server_new ("server-header", "dps-emulator", NULL);
	soup_server_set_tls_certificate (server, certificate);
	soup_server_set_tls_database (server, database);
	soup_server_set_tls_auth_mode (server, G_TLS_AUTHENTICATION_REQUIRED);
	if (!soup_server_listen_local (
	            server, 0, SOUP_SERVER_LISTEN_HTTPS | SOUP_SERVER_LISTEN_IPV4_ONLY, error))
		return NULL;

	emulator = g_new0 (DpsEmulator, 1);
	emulator->server = g_steal_pointer (&server);
	uris = soup_server_get_uris (emulator->server);
	emulator->port = (guint16) g_uri_get_port (uris->data);
	g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
	emulator->endpoint = g_strdup_printf ("localhost:%u", emulator->port);
	emulator->modes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
	emulator->operations = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
	                                              (GDestroyNotify) operation_free);
	emulator->held = g_ptr_array_new_with_free_func (g_object_unref);
	emulator->hub = g_strdup ("localhost");
	emulator->last_poll_delay = -1;
	soup_server_add_handler (emulator->server, NULL, handler, emulator, NULL);
	g_signal_connect (emulator->server, "request-started", G_CALLBACK (request_started_cb),
	                  NULL);
	return emulator;
}

void
dps_emulator_free (DpsEmulator *emulator)
{
	if (emulator == NULL)
		return;
	soup_server_disconnect (emulator->server);
	g_ptr_array_unref (emulator->held);
	g_object_unref (emulator->server);
	g_hash_table_unref (emulator->modes);
	g_hash_table_unref (emulator->operations);
	g_free (emulator->endpoint);
	g_free (emulator->hub);
	g_free (emulator->device_id);
	g_free (emulator->last_client_cn);
	g_free (emulator->last_body);
	g_free (emulator);
}

guint16
dps_emulator_get_port (DpsEmulator *emulator)
{
	return emulator->port;
}

const char *
dps_emulator_get_endpoint (DpsEmulator *emulator)
{
	return emulator->endpoint;
}

void
dps_emulator_set_mode (DpsEmulator *emulator, const char *id_scope, DpsEmulatorMode mode)
{
	g_hash_table_replace (emulator->modes, g_strdup (id_scope), GINT_TO_POINTER (mode));
}

void
dps_emulator_set_hub (DpsEmulator *emulator, const char *hub)
{
	g_free (emulator->hub);
	emulator->hub = g_strdup (hub);
}

void
dps_emulator_set_device_id (DpsEmulator *emulator, const char *device_id)
{
	g_free (emulator->device_id);
	emulator->device_id = g_strdup (device_id);
}

guint
dps_emulator_get_registrations (DpsEmulator *emulator)
{
	return emulator->registrations;
}

guint
dps_emulator_get_polls (DpsEmulator *emulator)
{
	return emulator->polls;
}

const char *
dps_emulator_get_last_client_cn (DpsEmulator *emulator)
{
	return emulator->last_client_cn;
}

const char *
dps_emulator_get_last_body (DpsEmulator *emulator)
{
	return emulator->last_body;
}

double
dps_emulator_get_last_poll_delay (DpsEmulator *emulator)
{
	return emulator->last_poll_delay;
}
