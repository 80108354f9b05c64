/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <tether/tether.h>

#include "azure-dps.h"
#include "azure-roots.h"
#include "azure-rules.h"

/*
 * Azure IoT Central: the device registers with the Device Provisioning
 * Service (DPS) over HTTPS with its X.509 certificate, DPS assigns it an IoT
 * Hub, and the device talks MQTT to that hub: telemetry and reported
 * properties up; cloud-to-device messages, desired properties and direct
 * methods down. The assignment is cached in the connection's state directory
 * and DPS is asked again only when the hub refuses the device or the operator
 * asks. The rules live in azure-rules.c, the DPS client in azure-dps.c.
 */

#define TETHER_TYPE_AZURE_IOT_CENTRAL (tether_azure_iot_central_get_type ())
G_DECLARE_FINAL_TYPE (TetherAzureIotCentral, tether_azure_iot_central, TETHER, AZURE_IOT_CENTRAL,
                      TetherCloud)

struct _TetherAzureIotCentral {
	TetherCloud parent_instance;
};

G_DEFINE_FINAL_TYPE (TetherAzureIotCentral, tether_azure_iot_central, TETHER_TYPE_CLOUD)

/* the file in the connection's state directory that holds the assignment */
#define ASSIGNMENT_FILE "azure-assignment.json"
/* where each connection keeps what the plugin learnt about it */
#define CONNECTION_STATE_KEY "tether-azure-iot-central"
/* the request ids of the plugin's own twin GETs start with this; message ids are digits */
#define TWIN_GET_PREFIX "get"

/* the bundled roots: resource name, slug, whether a connection trusts it by default */
static const struct {
	const gchar *file;
	const gchar *slug;
	gboolean in_default_set;
} bundled_roots[] = {
	{ "DigiCert_Global_Root_G2.pem", "digicert-global-root-g2", TRUE },
	{ "Microsoft_RSA_Root_Certificate_Authority_2017.pem", "microsoft-rsa-root-ca-2017", TRUE },
	/* retired by Azure; for hubs that still present a chain to it */
	{ "Baltimore_CyberTrust_Root.pem", "baltimore-cybertrust-root", FALSE },
};

#define ROOTS_RESOURCE_PATH "/org/tether/azure-iot-central/roots/"

/* what the plugin knows of one connection */
typedef struct {
	gchar *device_id;   /* the assignment's, once prepared */
	gchar *twin_get_id; /* the request id of the twin GET in flight, or NULL */
	guint64 next_get;
} ConnectionState;

static void
connection_state_free (ConnectionState *state)
{
	g_free (state->device_id);
	g_free (state->twin_get_id);
	g_free (state);
}

static ConnectionState *
connection_state (TetherConnection *connection)
{
	ConnectionState *state = g_object_get_data (G_OBJECT (connection), CONNECTION_STATE_KEY);

	if (state == NULL) {
		state = g_new0 (ConnectionState, 1);
		g_object_set_data_full (G_OBJECT (connection), CONNECTION_STATE_KEY, state,
		                        (GDestroyNotify) connection_state_free);
	}
	return state;
}

/* structured, so that journalctl TETHER_CONNECTION=... finds it */
#define connection_log(level, connection, ...)                                           \
	G_STMT_START                                                                     \
	{                                                                                \
		g_autofree gchar *text_ = g_strdup_printf (__VA_ARGS__);                 \
		g_log_structured (G_LOG_DOMAIN, level, "TETHER_CONNECTION",              \
		                  tether_connection_get_id (connection), "TETHER_CLOUD", \
		                  AZURE_CLOUD_NAME, "MESSAGE", "connection %s: %s",      \
		                  tether_connection_get_id (connection), text_);         \
	}                                                                                \
	G_STMT_END

/* ---- options ---- */

/* a copy: a built variant's strings do not outlive its next serialisation */
static gchar *
dup_string_option (GVariant *options, const gchar *name)
{
	g_autofree gchar *value = NULL;

	if (options == NULL || !g_variant_lookup (options, name, "s", &value) || value[0] == '\0')
		return NULL;
	return g_steal_pointer (&value);
}

static gboolean
tether_azure_iot_central_check_options (TetherCloud *cloud, GVariant *options, GError **error)
{
	const gchar *value = NULL;
	guint16 hub_port = 0;
	guint32 timeout_s = 0;

	if (!g_variant_lookup (options, "id-scope", "&s", &value))
		value = NULL;
	if (!azure_rules_check_id_scope (value, error))
		return FALSE;
	if (g_variant_lookup (options, "model-id", "&s", &value) && value[0] != '\0' &&
	    !azure_rules_check_model_id (value, error))
		return FALSE;
	if (g_variant_lookup (options, "registration-id", "&s", &value) && value[0] != '\0' &&
	    !azure_rules_check_registration_id (value, error))
		return FALSE;
	if (g_variant_lookup (options, "hub-port", "q", &hub_port) && hub_port == 0) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		                     _("azure-iot-central: hub-port 0 is no port: leave the "
		                       "option out for IoT Hub's 8883"));
		return FALSE;
	}
	if (g_variant_lookup (options, "provisioning-timeout", "u", &timeout_s) &&
	    (timeout_s < AZURE_DPS_MIN_TIMEOUT_S || timeout_s > AZURE_DPS_MAX_TIMEOUT_S)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("azure-iot-central: provisioning-timeout %u is out of range: use "
		               "%u to %u seconds"),
		                timeout_s, (guint) AZURE_DPS_MIN_TIMEOUT_S,
		                (guint) AZURE_DPS_MAX_TIMEOUT_S);
		return FALSE;
	}
	return TRUE;
}

/* ---- the cached assignment ---- */

static gchar *
assignment_path (TetherConnection *connection, GError **error)
{
	g_autofree gchar *dir = tether_connection_dup_state_dir (connection, error);

	if (dir == NULL)
		return NULL;
	return g_build_filename (dir, ASSIGNMENT_FILE, NULL);
}

/* the cached assignment, when there is one for this DPS, scope and registration id */
static AzureAssignment *
load_assignment (TetherConnection *connection, const gchar *path, const gchar *dps_endpoint,
                 const gchar *id_scope, const gchar *registration_id)
{
	g_autofree gchar *data = NULL;
	gsize length = 0;
	g_autoptr(GError) error = NULL;
	g_autoptr(AzureAssignment) assignment = NULL;

	if (!g_file_get_contents (path, &data, &length, &error)) {
		if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			connection_log (G_LOG_LEVEL_WARNING, connection,
			                "cannot read the cached assignment: %s", error->message);
		return NULL;
	}
	assignment = azure_assignment_from_json (data, length, &error);
	if (assignment == NULL) {
		/* damaged: set aside, never in the way */
		g_autofree gchar *aside = g_strconcat (path, ".damaged", NULL);
		connection_log (G_LOG_LEVEL_WARNING, connection,
		                "the cached assignment %s is damaged (%s): set aside as %s, "
		                "provisioning again",
		                path, error->message, aside);
		if (g_rename (path, aside) != 0)
			g_unlink (path);
		return NULL;
	}
	if (!azure_assignment_matches (assignment, dps_endpoint, id_scope, registration_id)) {
		connection_log (G_LOG_LEVEL_INFO, connection,
		                "the cached assignment was made for another DPS endpoint, ID scope "
		                "or registration id: provisioning again");
		return NULL;
	}
	return g_steal_pointer (&assignment);
}

static void
save_assignment (TetherConnection *connection, const gchar *path, const AzureAssignment *assignment)
{
	g_autofree gchar *json = azure_assignment_to_json (assignment);
	g_autoptr(GError) error = NULL;

	if (!g_file_set_contents_full (path, json, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
	                               &error))
		connection_log (G_LOG_LEVEL_WARNING, connection,
		                "cannot cache the assignment (DPS will be asked again next "
		                "time): %s",
		                error->message);
}

static gboolean
forget_assignment (TetherConnection *connection, GError **error)
{
	g_autofree gchar *path = assignment_path (connection, error);

	if (path == NULL)
		return FALSE;
	if (g_unlink (path) != 0 && errno != ENOENT) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("azure-iot-central: cannot remove the cached assignment %s: %s"),
		                path, g_strerror (errno));
		return FALSE;
	}
	return TRUE;
}

/* ---- prepare: the cached assignment or DPS, then the hub's MQTT session ---- */

typedef struct {
	TetherConnection *connection;
	gchar *path;
	gchar *model_id;
	guint16 hub_port;
} PrepareData;

static void
prepare_data_free (PrepareData *data)
{
	g_clear_object (&data->connection);
	g_free (data->path);
	g_free (data->model_id);
	g_free (data);
}

static void
apply_assignment (TetherConnection *connection, const AzureAssignment *assignment,
                  const gchar *model_id, guint16 hub_port)
{
	ConnectionState *state = connection_state (connection);
	g_autofree gchar *username =
	        azure_rules_hub_username (assignment->hub, assignment->device_id, model_id);
	g_autofree gchar *devicebound = azure_rules_devicebound_filter (assignment->device_id);

	g_free (state->device_id);
	state->device_id = g_strdup (assignment->device_id);

	/* the client id is the device id, whatever the client-id setting says */
	tether_connection_set_mqtt_host (connection, assignment->hub, hub_port);
	tether_connection_set_mqtt_client_id (connection, assignment->device_id);
	tether_connection_set_mqtt_username (connection, username);
	tether_connection_set_mqtt_alpn (connection, NULL);
	tether_connection_set_mqtt_clean_session (connection, TRUE);
	tether_connection_set_session_identity (connection, NULL);
	tether_connection_clear_subscriptions (connection);
	tether_connection_add_subscription (connection, devicebound);
	tether_connection_add_subscription (connection, AZURE_TOPIC_TWIN_RESPONSES);
	tether_connection_add_subscription (connection, AZURE_TOPIC_DESIRED);
	tether_connection_add_subscription (connection, AZURE_TOPIC_METHODS);
}

static void
dps_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	PrepareData *data = g_task_get_task_data (task);
	g_autoptr(GError) error = NULL;
	g_autoptr(AzureAssignment) assignment = azure_dps_register_finish (result, &error);

	if (assignment == NULL) {
		if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_prefix_error (&error, "%s: ", AZURE_CLOUD_NAME);
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	connection_log (G_LOG_LEVEL_INFO, data->connection, "DPS assigned device %s to hub %s",
	                assignment->device_id, assignment->hub);
	save_assignment (data->connection, data->path, assignment);
	apply_assignment (data->connection, assignment, data->model_id, data->hub_port);
	g_task_return_boolean (task, TRUE);
}

static void
tether_azure_iot_central_prepare_async (TetherCloud *cloud, TetherConnection *connection,
                                        GCancellable *cancellable, GAsyncReadyCallback callback,
                                        gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (cloud, cancellable, callback, user_data);
	g_autoptr(GError) error = NULL;
	GVariant *options = tether_connection_get_cloud_options (connection);
	g_autofree gchar *id_scope = dup_string_option (options, "id-scope");
	g_autofree gchar *registration_option = dup_string_option (options, "registration-id");
	guint16 dps_port = tether_connection_get_port (connection);
	guint32 timeout_s = AZURE_DPS_DEFAULT_TIMEOUT_S;
	g_autofree gchar *common_name = NULL;
	g_autofree gchar *registration_id = NULL;
	g_autofree gchar *dps_endpoint = NULL;
	g_autofree gchar *chain_file = NULL;
	g_autofree gchar *key_file = NULL;
	g_autofree gchar *trust_file = NULL;
	g_autoptr(AzureAssignment) cached = NULL;
	PrepareData *data = g_new0 (PrepareData, 1);
	AzureDpsRequest request = { 0 };

	g_task_set_source_tag (task, tether_azure_iot_central_prepare_async);
	g_task_set_task_data (task, data, (GDestroyNotify) prepare_data_free);
	data->connection = g_object_ref (connection);
	data->model_id = dup_string_option (options, "model-id");
	data->hub_port = AZURE_HUB_DEFAULT_PORT;
	if (options != NULL) {
		g_variant_lookup (options, "hub-port", "q", &data->hub_port);
		g_variant_lookup (options, "provisioning-timeout", "u", &timeout_s);
	}

	/* what IoT Hub would refuse, said before anything is sent */
	if (tether_connection_get_keepalive (connection) > AZURE_MAX_KEEPALIVE_S) {
		g_task_return_new_error (
		        task, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		        _("azure-iot-central: keep-alive %u s is more than the %u s IoT Hub "
		          "takes: lower it with 'tetherctl connection modify %s --keepalive %u'"),
		           tether_connection_get_keepalive (connection),
		           (guint) AZURE_MAX_KEEPALIVE_S, tether_connection_get_id (connection),
		           (guint) AZURE_MAX_KEEPALIVE_S);
		return;
	}
	if (!azure_rules_check_id_scope (id_scope, &error)) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}

	/* the registration id, checked against DPS's rules and the certificate before DPS */
	common_name = tether_connection_dup_identity_common_name (connection, &error);
	if (common_name == NULL) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	registration_id = azure_rules_registration_id (registration_option, common_name, &error);
	if (registration_id == NULL) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}

	/* the cached assignment, when it was made for this DPS, scope and device */
	if (dps_port == 0)
		dps_port = AZURE_DPS_DEFAULT_PORT;
	dps_endpoint = g_strdup_printf ("%s:%u", tether_connection_get_host (connection), dps_port);
	data->path = assignment_path (connection, &error);
	if (data->path == NULL) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	cached = load_assignment (connection, data->path, dps_endpoint, id_scope, registration_id);
	if (cached != NULL) {
		connection_log (G_LOG_LEVEL_DEBUG, connection,
		                "using the cached assignment: device %s on hub %s",
		                cached->device_id, cached->hub);
		apply_assignment (connection, cached, data->model_id, data->hub_port);
		g_task_return_boolean (task, TRUE);
		return;
	}

	/* DPS, with the identity's chain, trusting only the connection's anchors */
	if (!tether_connection_get_identity_files (connection, NULL, &chain_file, &key_file,
	                                           &error)) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	trust_file = tether_connection_dup_trust_file (connection, &error);
	if (trust_file == NULL) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	tether_connection_set_provisioning (connection, TRUE);
	connection_log (G_LOG_LEVEL_INFO, connection, "registering %s with DPS at %s (scope %s)",
	                registration_id, dps_endpoint, id_scope);
	request.host = tether_connection_get_host (connection);
	request.port = dps_port;
	request.id_scope = id_scope;
	request.registration_id = registration_id;
	request.model_id = data->model_id;
	request.chain_file = chain_file;
	request.key_file = key_file;
	request.trust_file = trust_file;
	request.timeout_s = timeout_s;
	azure_dps_register_async (&request, cancellable, dps_cb, g_steal_pointer (&task));
}

static gboolean
tether_azure_iot_central_prepare_finish (TetherCloud *cloud, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, cloud), FALSE);
	return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
tether_azure_iot_central_reprovision (TetherCloud *cloud, TetherConnection *connection,
                                      GError **error)
{
	connection_log (G_LOG_LEVEL_INFO, connection, "forgetting the assignment, as asked");
	return forget_assignment (connection, error);
}

static gboolean
tether_azure_iot_central_session_refused (TetherCloud *cloud, TetherConnection *connection)
{
	g_autoptr(GError) error = NULL;

	/* the hub no longer takes the device: perhaps it moved; DPS knows */
	connection_log (G_LOG_LEVEL_INFO, connection,
	                "the hub refused the device: asking DPS again on the next attempt");
	if (!forget_assignment (connection, &error)) {
		connection_log (G_LOG_LEVEL_WARNING, connection, "%s", error->message);
		return FALSE;
	}
	return TRUE;
}

static void
tether_azure_iot_central_connected (TetherCloud *cloud, TetherConnection *connection)
{
	ConnectionState *state = connection_state (connection);
	g_autoptr(GBytes) empty = g_bytes_new_static ("", 0);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *topic = NULL;

	/* the whole twin, so the application learns the desired properties it missed */
	g_free (state->twin_get_id);
	state->twin_get_id =
	        g_strdup_printf (TWIN_GET_PREFIX "%" G_GUINT64_FORMAT, ++state->next_get);
	topic = azure_rules_twin_get_topic (state->twin_get_id);
	if (!tether_connection_publish_internal (connection, topic, empty, 0, &error)) {
		connection_log (G_LOG_LEVEL_DEBUG, connection, "no twin GET: %s", error->message);
		g_clear_pointer (&state->twin_get_id, g_free);
	}
}

static gchar *
tether_azure_iot_central_tls_failure_hint (TetherCloud *cloud, TetherConnection *connection,
                                           GVariant *report)
{
	g_autofree gchar *reason = NULL;
	g_autofree gchar *top_issuer = NULL;

	g_variant_lookup (report, "reason", "s", &reason);
	g_variant_lookup (report, "top-issuer", "s", &top_issuer);
	if (g_strcmp0 (reason, "unknown-issuer") == 0 && top_issuer != NULL &&
	    strstr (top_issuer, "Baltimore CyberTrust Root") != NULL)
		return g_strdup_printf (
		        _("this hub still chains to the retired Baltimore CyberTrust Root: name "
		          "the bundled anchor %s.baltimore-cybertrust-root too ('tetherctl "
		          "connection modify %s --anchor ...') until the hub moves to DigiCert "
		          "Global Root G2"),
		           AZURE_CLOUD_NAME, tether_connection_get_id (connection));
	if (g_strcmp0 (reason, "client-certificate-refused") == 0)
		return g_strdup (_("the hub refused the device certificate: check that its CA "
		                   "is enrolled and verified in IoT Central"));
	return NULL;
}

/* ---- messages ---- */

/* the request an answer is for and its status, from the options the core set */
static gboolean
lookup_response (TetherMessage *message, gchar **request_id, gint32 *status, GError **error)
{
	GVariant *options = tether_message_get_options (message);

	if (options == NULL || !g_variant_lookup (options, "request-id", "s", request_id) ||
	    !g_variant_lookup (options, "status", "i", status)) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		                     _("azure-iot-central: a response needs the options "
		                       "\"request-id\" (a string) and \"status\" (an int32)"));
		return FALSE;
	}
	return TRUE;
}

static GVariant *
lookup_properties (TetherMessage *message)
{
	return tether_message_lookup_option (message, "properties", G_VARIANT_TYPE ("a{ss}"));
}

static gboolean
tether_azure_iot_central_check_message (TetherCloud *cloud, TetherConnection *connection,
                                        TetherMessage *message, GError **error)
{
	const gchar *kind = tether_message_get_kind (message);
	g_autofree gchar *component =
	        g_strdup (tether_message_lookup_string (message, "component"));
	GBytes *payload = tether_message_get_payload (message);
	g_autoptr(GVariant) properties = lookup_properties (message);
	g_autofree gchar *placeholder = NULL;
	g_autofree gchar *topic = NULL;
	g_autoptr(GBytes) wire_payload = NULL;
	g_autofree gchar *request_id = NULL;
	gint32 status = 0;

	if (g_strcmp0 (kind, TETHER_KIND_RESPONSE) == 0) {
		if (!lookup_response (message, &request_id, &status, error))
			return FALSE;
		return azure_rules_check_response (request_id, status, payload, error);
	}

	if (component != NULL && !azure_rules_check_component (component, error))
		return FALSE;

	/* the device id comes from DPS later: size the topic with the longest there can be */
	if (g_strcmp0 (kind, AZURE_KIND_TELEMETRY) == 0) {
		if (!azure_rules_check_properties (properties, error) ||
		    !azure_rules_check_payload (kind, payload, error))
			return FALSE;
		placeholder = g_strnfill (AZURE_MAX_DEVICE_ID, 'x');
		topic = azure_rules_telemetry_topic (placeholder, tether_message_get_id (message),
		                                     component, properties);
		return azure_rules_check_size (kind, strlen (topic), g_bytes_get_size (payload),
		                               error);
	}

	if (g_strcmp0 (kind, AZURE_KIND_ATTRIBUTES) == 0) {
		if (properties != NULL) {
			g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
			                     _("azure-iot-central: reported properties carry no "
			                       "application properties: drop --property"));
			return FALSE;
		}
		wire_payload = azure_rules_reported_payload (payload, component, error);
		if (wire_payload == NULL)
			return FALSE;
		topic = azure_rules_reported_topic (tether_message_get_id (message));
		return azure_rules_check_size (kind, strlen (topic),
		                               g_bytes_get_size (wire_payload), error);
	}

	/* the core lets only declared kinds through */
	g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
	             _("azure-iot-central: unknown kind '%s': use telemetry or attributes"), kind);
	return FALSE;
}

static gboolean
tether_azure_iot_central_map_message (TetherCloud *cloud, TetherConnection *connection,
                                      TetherMessage *message, GError **error)
{
	ConnectionState *state = connection_state (connection);
	const gchar *kind = tether_message_get_kind (message);
	g_autofree gchar *component =
	        g_strdup (tether_message_lookup_string (message, "component"));
	GBytes *payload = tether_message_get_payload (message);
	g_autoptr(GVariant) properties = lookup_properties (message);
	g_autofree gchar *topic = NULL;
	g_autoptr(GBytes) wire_payload = NULL;
	g_autofree gchar *request_id = NULL;
	gint32 status = 0;

	/* QoS 1 so that the hub's PUBACK clears the outbox; IoT Hub closes on QoS 2 */
	tether_message_set_qos (message, 1);

	if (g_strcmp0 (kind, TETHER_KIND_RESPONSE) == 0) {
		if (!lookup_response (message, &request_id, &status, error))
			return FALSE;
		topic = azure_rules_method_response_topic (request_id, status, error);
		if (topic == NULL)
			return FALSE;
		tether_message_set_topic (message, topic);
		tether_message_set_wire_payload (message, payload);
		return TRUE;
	}
	if (state->device_id == NULL) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		                     _("azure-iot-central: the connection has no device id yet"));
		return FALSE;
	}
	if (g_strcmp0 (kind, AZURE_KIND_TELEMETRY) == 0) {
		topic = azure_rules_telemetry_topic (
		        state->device_id, tether_message_get_id (message), component, properties);
		tether_message_set_topic (message, topic);
		tether_message_set_wire_payload (message, payload);
		return TRUE;
	}
	if (g_strcmp0 (kind, AZURE_KIND_ATTRIBUTES) == 0) {
		wire_payload = azure_rules_reported_payload (payload, component, error);
		if (wire_payload == NULL)
			return FALSE;
		topic = azure_rules_reported_topic (tether_message_get_id (message));
		tether_message_set_topic (message, topic);
		tether_message_set_wire_payload (message, wire_payload);
		return TRUE;
	}
	g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
	             _("azure-iot-central: unknown kind '%s': use telemetry or attributes"), kind);
	return FALSE;
}

/* the hub's answer to a twin GET (the whole twin) or PATCH (a reported properties message) */
static void
handle_twin_response (TetherConnection *connection, const gchar *topic, GBytes *payload,
                      AzureIncoming *incoming)
{
	ConnectionState *state = connection_state (connection);
	g_auto(GVariantDict) details = G_VARIANT_DICT_INIT (NULL);
	g_autofree gchar *message = NULL;
	g_autoptr(GBytes) desired = NULL;
	gboolean has_version = FALSE;
	gint64 version = 0;
	guint64 id = 0;

	if (g_str_has_prefix (incoming->request_id, TWIN_GET_PREFIX)) {
		if (g_strcmp0 (incoming->request_id, state->twin_get_id) != 0)
			return;
		g_clear_pointer (&state->twin_get_id, g_free);
		if (incoming->status != 200) {
			connection_log (G_LOG_LEVEL_DEBUG, connection,
			                "the hub answered the twin GET with status %d",
			                incoming->status);
			return;
		}
		desired = azure_rules_twin_desired (payload, &has_version, &version);
		if (desired == NULL) {
			connection_log (G_LOG_LEVEL_DEBUG, connection,
			                "the twin the hub sent has no desired properties");
			return;
		}
		/* all of them, not a patch */
		if (has_version)
			g_variant_dict_insert (&details, "version", "x", version);
		g_variant_dict_insert (&details, "complete", "b", TRUE);
		tether_connection_emit_received (connection, AZURE_KIND_DESIRED_PROPERTIES, topic,
		                                 desired, g_variant_dict_end (&details));
		return;
	}

	if (!g_ascii_string_to_unsigned (incoming->request_id, 10, 0, G_MAXUINT64, &id, NULL)) {
		connection_log (G_LOG_LEVEL_DEBUG, connection,
		                "ignored a twin answer for request %s", incoming->request_id);
		return;
	}
	g_variant_dict_insert (&details, "status-code", "i", incoming->status);
	if (incoming->has_version)
		g_variant_dict_insert (&details, "version", "x", incoming->version);
	if (incoming->status >= 200 && incoming->status < 300) {
		tether_connection_emit_message_result (connection, id, "accepted",
		                                       g_variant_dict_end (&details));
		return;
	}
	message = azure_rules_error_message (payload);
	if (message != NULL)
		g_variant_dict_insert (&details, "message", "s", message);
	tether_connection_emit_message_result (connection, id, "rejected",
	                                       g_variant_dict_end (&details));
}

static GVariant *
properties_variant (GHashTable *properties)
{
	GVariantBuilder builder;
	GHashTableIter iter;
	gpointer name;
	gpointer value;

	g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ss}"));
	g_hash_table_iter_init (&iter, properties);
	while (g_hash_table_iter_next (&iter, &name, &value))
		g_variant_builder_add (&builder, "{ss}", name, value);
	return g_variant_builder_end (&builder);
}

static void
tether_azure_iot_central_handle_incoming (TetherCloud *cloud, TetherConnection *connection,
                                          const gchar *topic, GBytes *payload)
{
	ConnectionState *state = connection_state (connection);
	g_autoptr(AzureIncoming) incoming =
	                   azure_rules_classify_incoming (state->device_id, topic);
	g_auto(GVariantDict) details = G_VARIANT_DICT_INIT (NULL);

	switch (incoming->kind) {
	case AZURE_INCOMING_MESSAGE:
		g_variant_dict_insert_value (&details, "properties",
		                             properties_variant (incoming->properties));
		tether_connection_emit_received (connection, AZURE_KIND_MESSAGE, topic, payload,
		                                 g_variant_dict_end (&details));
		break;
	case AZURE_INCOMING_DESIRED:
		if (incoming->has_version)
			g_variant_dict_insert (&details, "version", "x", incoming->version);
		tether_connection_emit_received (connection, AZURE_KIND_DESIRED_PROPERTIES, topic,
		                                 payload, g_variant_dict_end (&details));
		break;
	case AZURE_INCOMING_COMMAND:
		g_variant_dict_insert (&details, "request-id", "s", incoming->request_id);
		g_variant_dict_insert (&details, "method", "s", incoming->method);
		tether_connection_emit_received (connection, AZURE_KIND_COMMAND, topic, payload,
		                                 g_variant_dict_end (&details));
		break;
	case AZURE_INCOMING_TWIN_RESPONSE:
		handle_twin_response (connection, topic, payload, incoming);
		break;
	case AZURE_INCOMING_IGNORED:
	default:
		connection_log (G_LOG_LEVEL_DEBUG, connection, "ignored a message on %s: %s", topic,
		                incoming->why_ignored);
		break;
	}
}

/* ---- the cloud ---- */

static void
add_bundled_roots (TetherCloud *cloud)
{
	GResource *resource = azure_roots_get_resource ();

	for (guint i = 0; i < G_N_ELEMENTS (bundled_roots); i++) {
		g_autofree gchar *path =
		        g_strconcat (ROOTS_RESOURCE_PATH, bundled_roots[i].file, NULL);
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) pem = g_resource_lookup_data (
		        resource, path, G_RESOURCE_LOOKUP_FLAGS_NONE, &error);

		/* built in: missing only when the build is broken */
		if (pem == NULL) {
			g_critical ("bundled root %s is missing: %s", path, error->message);
			continue;
		}
		tether_cloud_add_bundled_anchor (cloud, bundled_roots[i].slug, pem,
		                                 bundled_roots[i].in_default_set);
	}
}

static void
tether_azure_iot_central_init (TetherAzureIotCentral *self)
{
	TetherCloud *cloud = TETHER_CLOUD (self);

	tether_cloud_set_name (cloud, AZURE_CLOUD_NAME);
	tether_cloud_set_description (
	        cloud, _("Azure IoT Central: provisioning through DPS over HTTPS with an X.509 "
	                 "certificate, then IoT Hub over MQTT: telemetry and reported "
	                 "properties up; cloud-to-device messages, desired properties and "
	                 "direct methods down"));
	/* the endpoint is DPS's; the hub comes from DPS */
	tether_cloud_set_default_endpoint (cloud, AZURE_DPS_DEFAULT_ENDPOINT);
	tether_cloud_set_default_port (cloud, AZURE_DPS_DEFAULT_PORT);
	tether_cloud_add_kind (cloud, AZURE_KIND_TELEMETRY);
	tether_cloud_add_kind (cloud, AZURE_KIND_ATTRIBUTES);

	tether_cloud_add_option (cloud, "id-scope", "s",
	                         _("The DPS ID scope of the IoT Central application "
	                           "(Permissions, Device connection groups); required"));
	tether_cloud_add_option (cloud, "model-id", "s",
	                         _("The DTDL model id of the device template, such as "
	                           "dtmi:com:example:Thermostat;1; optional"));
	tether_cloud_add_option (cloud, "registration-id", "s",
	                         _("The DPS registration id; default and only allowed value: "
	                           "the identity certificate's common name"));
	tether_cloud_add_option (cloud, "hub-port", "q",
	                         _("The MQTT port of the IoT Hub that DPS assigns; default 8883"));
	tether_cloud_add_option (cloud, "provisioning-timeout", "u",
	                         _("Seconds a registration with DPS may take, polls included; "
	                           "default 120"));

	/* no "topic": an IoT Hub device may use only its own topics */
	tether_cloud_add_publish_option (cloud, "expires-in");
	tether_cloud_add_publish_option (cloud, "component");
	tether_cloud_add_publish_option (cloud, "properties");

	add_bundled_roots (cloud);
}

/* the client id is the device id DPS assigns; IoT Hub takes a keep-alive up to 1177 s */
static gboolean
tether_azure_iot_central_check_session (TetherCloud *cloud, const gchar *client_id, guint keepalive,
                                        GError **error)
{
	if (client_id != NULL && client_id[0] != '\0') {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("azure-iot-central: the client id is the device id DPS assigns, so "
		               "client-id '%s' cannot be set: leave it empty"),
		                client_id);
		return FALSE;
	}
	if (keepalive > AZURE_MAX_KEEPALIVE_S) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("azure-iot-central: keep-alive %u s is more than the %u s IoT Hub "
		               "takes: give at most %u"),
		                keepalive, (guint) AZURE_MAX_KEEPALIVE_S,
		                (guint) AZURE_MAX_KEEPALIVE_S);
		return FALSE;
	}
	return TRUE;
}

static void
tether_azure_iot_central_class_init (TetherAzureIotCentralClass *klass)
{
	TetherCloudClass *cloud_class = TETHER_CLOUD_CLASS (klass);

	cloud_class->check_options = tether_azure_iot_central_check_options;
	cloud_class->check_session = tether_azure_iot_central_check_session;
	cloud_class->prepare_async = tether_azure_iot_central_prepare_async;
	cloud_class->prepare_finish = tether_azure_iot_central_prepare_finish;
	cloud_class->check_message = tether_azure_iot_central_check_message;
	cloud_class->map_message = tether_azure_iot_central_map_message;
	cloud_class->handle_incoming = tether_azure_iot_central_handle_incoming;
	cloud_class->connected = tether_azure_iot_central_connected;
	cloud_class->session_refused = tether_azure_iot_central_session_refused;
	cloud_class->reprovision = tether_azure_iot_central_reprovision;
	cloud_class->tls_failure_hint = tether_azure_iot_central_tls_failure_hint;
}

TETHER_PLUGIN_DEFINE (tether_azure_iot_central_get_type)
