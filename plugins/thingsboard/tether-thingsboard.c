/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <tether/tether.h>

#include "tb-rules.h"

/*
 * The ThingsBoard cloud: telemetry and client attributes go up, server-side
 * RPC requests and shared attribute updates come down, over MQTT with the
 * device's X.509 certificate. The rules themselves live in tb-rules.c.
 */

#define TETHER_TYPE_THINGSBOARD (tether_thingsboard_get_type ())
G_DECLARE_FINAL_TYPE (TetherThingsboard, tether_thingsboard, TETHER, THINGSBOARD, TetherCloud)

struct _TetherThingsboard {
	TetherCloud parent_instance;
};

G_DEFINE_FINAL_TYPE (TetherThingsboard, tether_thingsboard, TETHER_TYPE_CLOUD)

#define KIND_COMMAND            "command"
#define KIND_DESIRED_PROPERTIES "desired-properties"

static void
tether_thingsboard_prepare_async (TetherCloud *cloud, TetherConnection *connection,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (cloud, cancellable, callback, user_data);
	g_autoptr(GError) error_local = NULL;

	g_task_set_source_tag (task, tether_thingsboard_prepare_async);

	/* host, port, client id (the certificate's CN by default): nothing ThingsBoard adds */
	if (!tether_cloud_prepare_defaults (cloud, connection, &error_local)) {
		g_task_return_error (task, g_steal_pointer (&error_local));
		return;
	}

	tether_connection_add_subscription (connection, TB_TOPIC_RPC_REQUESTS);
	tether_connection_add_subscription (connection, TB_TOPIC_ATTRIBUTES);
	g_task_return_boolean (task, TRUE);
}

static gboolean
tether_thingsboard_prepare_finish (TetherCloud *cloud, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, cloud), FALSE);
	return g_task_propagate_boolean (G_TASK (result), error);
}

/* the request an answer is for and its status, from the options the core set */
static gboolean
lookup_response (TetherMessage *message, const gchar **request_id, gint32 *status, GError **error)
{
	GVariant *options = tether_message_get_options (message);

	if (options == NULL || !g_variant_lookup (options, "request-id", "&s", request_id)) {
		g_set_error (
		        error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		        _("thingsboard: a response needs the option \"request-id\" (a string)"));
		return FALSE;
	}
	if (!g_variant_lookup (options, "status", "i", status)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("thingsboard: a response needs the option \"status\" (an int32)"));
		return FALSE;
	}
	return TRUE;
}

static gboolean
tether_thingsboard_check_message (TetherCloud *cloud, TetherConnection *connection,
                                  TetherMessage *message, GError **error)
{
	const gchar *kind = tether_message_get_kind (message);
	const gchar *request_id = NULL;
	gint32 status = 0;
	g_autoptr(GBytes) wire_payload = NULL;

	if (g_strcmp0 (kind, TETHER_KIND_RESPONSE) != 0)
		return tb_rules_check_payload (kind, tether_message_get_payload (message), error);

	if (!lookup_response (message, &request_id, &status, error))
		return FALSE;
	wire_payload = tb_rules_response_payload (request_id, status,
	                                          tether_message_get_payload (message), error);
	return wire_payload != NULL;
}

static gboolean
tether_thingsboard_map_message (TetherCloud *cloud, TetherConnection *connection,
                                TetherMessage *message, GError **error)
{
	const gchar *kind = tether_message_get_kind (message);
	const gchar *topic;
	const gchar *request_id = NULL;
	gint32 status = 0;
	g_autofree gchar *response_topic = NULL;
	g_autoptr(GBytes) wire_payload = NULL;

	/* ThingsBoard takes QoS 0 and 1; 1 so that the broker's ack clears the outbox */
	tether_message_set_qos (message, 1);

	if (g_strcmp0 (kind, TETHER_KIND_RESPONSE) != 0) {
		topic = tb_rules_topic_for_kind (kind);
		if (topic == NULL) {
			g_set_error (
			        error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			        _("thingsboard: unknown kind '%s': use telemetry or attributes"),
			           kind);
			return FALSE;
		}
		tether_message_set_topic (message, topic);
		tether_message_set_wire_payload (message, tether_message_get_payload (message));
		return TRUE;
	}

	if (!lookup_response (message, &request_id, &status, error))
		return FALSE;
	response_topic = tb_rules_response_topic (request_id, error);
	if (response_topic == NULL)
		return FALSE;
	wire_payload = tb_rules_response_payload (request_id, status,
	                                          tether_message_get_payload (message), error);
	if (wire_payload == NULL)
		return FALSE;
	tether_message_set_topic (message, response_topic);
	tether_message_set_wire_payload (message, wire_payload);
	return TRUE;
}

static void
tether_thingsboard_handle_incoming (TetherCloud *cloud, TetherConnection *connection,
                                    const gchar *topic, GBytes *payload)
{
	g_autoptr(TbIncoming) incoming = tb_rules_classify_incoming (topic, payload);
	g_autoptr(GVariant) details = NULL;

	switch (incoming->kind) {
	case TB_INCOMING_COMMAND: {
		g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

		g_variant_dict_insert (&dict, "request-id", "s", incoming->request_id);
		g_variant_dict_insert (&dict, "method", "s", incoming->method);
		details = g_variant_ref_sink (g_variant_dict_end (&dict));
		tether_connection_emit_received (connection, KIND_COMMAND, topic, payload, details);
		break;
	}
	case TB_INCOMING_DESIRED_PROPERTIES:
		/* ThingsBoard's shared attributes carry no version */
		details = g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
		tether_connection_emit_received (connection, KIND_DESIRED_PROPERTIES, topic,
		                                 payload, details);
		break;
	case TB_INCOMING_IGNORED:
	default:
		g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_DEBUG, "TETHER_CONNECTION",
		                  tether_connection_get_id (connection), "TETHER_CLOUD",
		                  "thingsboard", "MESSAGE", "ignored a message on %s: %s", topic,
		                  incoming->why_ignored);
		break;
	}
}

static void
tether_thingsboard_init (TetherThingsboard *self)
{
	TetherCloud *cloud = TETHER_CLOUD (self);

	tether_cloud_set_name (cloud, "thingsboard");
	tether_cloud_set_description (
	        cloud, _("ThingsBoard over MQTT with an X.509 client certificate: telemetry and "
	                  "client attributes up, server-side RPC and shared attributes down"));
	tether_cloud_set_default_port (cloud, TB_DEFAULT_PORT);
	tether_cloud_add_kind (cloud, TB_KIND_TELEMETRY);
	tether_cloud_add_kind (cloud, TB_KIND_ATTRIBUTES);

	/* no "topic": a ThingsBoard device may use only its own v1/devices/me topics */
	tether_cloud_add_publish_option (cloud, "expires-in");
}

static void
tether_thingsboard_class_init (TetherThingsboardClass *klass)
{
	TetherCloudClass *cloud_class = TETHER_CLOUD_CLASS (klass);

	cloud_class->prepare_async = tether_thingsboard_prepare_async;
	cloud_class->prepare_finish = tether_thingsboard_prepare_finish;
	cloud_class->check_message = tether_thingsboard_check_message;
	cloud_class->map_message = tether_thingsboard_map_message;
	cloud_class->handle_incoming = tether_thingsboard_handle_incoming;
}

TETHER_PLUGIN_DEFINE (tether_thingsboard_get_type)
