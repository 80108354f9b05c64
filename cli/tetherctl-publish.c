/* tetherctl publish, tetherctl respond
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "tetherctl-commands.h"

/* --help's description, with the publish option table */
static char *
publish_description (void)
{
	g_autoptr(GVariant) table = tetherctl_publish_option_table ();
	g_autoptr(GString) text = g_string_new (NULL);
	GVariantIter iter;
	const char *name;
	const char *type;
	const char *description;

	g_string_append (text, _("PAYLOAD is sent as its bytes exactly, with nothing added; '-' "
	                         "reads them from standard input."));
	g_string_append_printf (text, "\n\n%s\n", _("Publish options (--option KEY=VALUE):"));
	g_variant_iter_init (&iter, table);
	while (g_variant_iter_next (&iter, "{&s(&s&s)}", &name, &type, &description))
		g_string_append_printf (text, "  %-10s  %s (%s)\n", name, description, type);
	g_string_append_printf (text, "\n%s",
	                        _("--topic TOPIC is short for --kind raw --option topic=TOPIC. "
	                          "--property KEY=VALUE sets an application property (the "
	                          "\"properties\" option); repeat it for more."));
	return g_string_free (g_steal_pointer (&text), FALSE);
}

/* The publish options a{sv}: --topic, --option by the publish option table, --property. */
static GVariant *
publish_options (const char *topic, const char *const *options, const char *const *properties,
                 GError **error)
{
	g_autoptr(GVariantDict) dict = g_variant_dict_new (NULL);
	g_autoptr(GVariant) table = tetherctl_publish_option_table ();

	if (!tetherctl_options_convert (dict, options, table, "publish", error))
		return NULL;
	if (topic != NULL) {
		if (g_variant_dict_contains (dict, "topic")) {
			tetherctl_usage_error (error, _("Give the topic once: --topic or "
			                                "--option topic=, not both"));
			return NULL;
		}
		g_variant_dict_insert (dict, "topic", "s", topic);
	}
	if (properties != NULL) {
		GVariant *value = tetherctl_properties_from_arguments (properties, error);

		if (value == NULL)
			return NULL;
		g_variant_dict_insert_value (dict, "properties", value);
		g_variant_unref (value);
	}
	return g_variant_ref_sink (g_variant_dict_end (dict));
}

static void
print_message_id (TetherctlContext *ctx, const char *connection, guint64 id)
{
	if (ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();

		json_builder_begin_object (builder);
		tetherctl_json_string (builder, "connection", connection);
		tetherctl_json_int (builder, "id", (gint64) id);
		json_builder_end_object (builder);
		tetherctl_print_json (builder);
		return;
	}
	tetherctl_print ("%" G_GUINT64_FORMAT "\n", id);
}

/* The manager's fan-out: a(ot) as "CONNECTION ID" lines, or a JSON array */
static void
print_message_ids (TetherctlContext *ctx, GVariant *ids)
{
	g_autoptr(JsonBuilder) builder = json_builder_new ();
	GVariantIter iter;
	const char *path;
	guint64 id;

	json_builder_begin_array (builder);
	g_variant_iter_init (&iter, ids);
	while (g_variant_iter_next (&iter, "(&ot)", &path, &id)) {
		g_autofree char *connection =
		        tetherctl_object_name (ctx, path, "org.tether.Connection1", "Id");

		if (!ctx->json) {
			tetherctl_print ("%s %" G_GUINT64_FORMAT "\n", connection, id);
			continue;
		}
		json_builder_begin_object (builder);
		tetherctl_json_string (builder, "connection", connection);
		tetherctl_json_int (builder, "id", (gint64) id);
		tetherctl_json_string (builder, "path", path);
		json_builder_end_object (builder);
	}
	json_builder_end_array (builder);
	if (ctx->json)
		tetherctl_print_json (builder);
}

gboolean
tetherctl_publish (TetherctlContext *ctx, char **args, GError **error)
{
	g_autofree char *description = publish_description ();
	g_autofree char *connection_id = NULL;
	g_autofree char *kind = NULL;
	g_autofree char *topic = NULL;
	g_auto(GStrv) options = NULL;
	g_auto(GStrv) properties = NULL;
	/* clang-format off */
	const GOptionEntry entries[] = {
		{ "connection", 0, 0, G_OPTION_ARG_STRING, &connection_id,
		  N_("Publish on this connection only (default: every enabled connection)"),
		  N_("ID") },
		{ "kind", 0, 0, G_OPTION_ARG_STRING, &kind,
		  N_("The kind of message, such as telemetry (see 'tetherctl clouds show')"),
		  N_("KIND") },
		{ "topic", 0, 0, G_OPTION_ARG_STRING, &topic,
		  N_("A raw MQTT topic (kind raw), where the cloud allows one"), N_("TOPIC") },
		{ "option", 0, 0, G_OPTION_ARG_STRING_ARRAY, &options,
		  N_("A publish option; repeat for more"), N_("KEY=VALUE") },
		{ "property", 0, 0, G_OPTION_ARG_STRING_ARRAY, &properties,
		  N_("An application property; repeat for more"), N_("KEY=VALUE") },
		{ NULL },
	};
	const TetherctlUsage usage = {
		.parameters = N_("(--kind KIND | --topic TOPIC) PAYLOAD|-"),
		.summary = N_("Publish a message. With --connection, prints its message id; "
		              "without, tetherd checks it against every enabled connection, "
		              "refuses it whole if one refuses it, and this prints each "
		              "connection with its message id. 'tetherctl monitor' shows what "
		              "becomes of it."),
		.description = description,
		.entries = entries,
		.min_args = 1,
		.max_args = 1,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(GVariant) options_value = NULL;
	g_autoptr(GBytes) payload = NULL;
	g_autoptr(GVariant) payload_value = NULL;
	const char *publish_kind;

	if (positional == NULL)
		return FALSE;
	if ((kind == NULL) == (topic == NULL))
		return tetherctl_usage_error (error,
		                              _("Give either --kind KIND or --topic TOPIC"));
	publish_kind = kind != NULL ? kind : "raw";
	options_value = publish_options (topic, (const char *const *) options,
	                                 (const char *const *) properties, error);
	if (options_value == NULL)
		return FALSE;
	payload = tetherctl_read_payload (positional[0], ctx->input, error);
	if (payload == NULL)
		return FALSE;
	payload_value = tetherctl_bytes_to_variant (payload);

	if (connection_id != NULL) {
		g_autoptr(TetherDBusConnection1) connection = NULL;
		guint64 id = 0;

		connection = tetherctl_get_connection (ctx, connection_id, error);
		if (connection == NULL)
			return FALSE;
		if (!tether_dbus_connection1_call_publish_sync (
		            connection, publish_kind, payload_value, options_value,
		            TETHERCTL_CALL_FLAGS, TETHERCTL_TIMEOUT, &id, NULL, error))
			return FALSE;
		print_message_id (ctx, connection_id, id);
	} else {
		TetherDBusTether1 *manager = tetherctl_manager (ctx, error);
		g_autoptr(GVariant) ids = NULL;

		if (manager == NULL)
			return FALSE;
		if (!tether_dbus_tether1_call_publish_sync (manager, publish_kind, payload_value,
		                                            options_value, TETHERCTL_CALL_FLAGS,
		                                            TETHERCTL_TIMEOUT, &ids, NULL, error))
			return FALSE;
		print_message_ids (ctx, ids);
	}
	return TRUE;
}

gboolean
tetherctl_respond (TetherctlContext *ctx, char **args, GError **error)
{
	g_autofree char *connection_id = NULL;
	/* clang-format off */
	const GOptionEntry entries[] = {
		{ "connection", 0, 0, G_OPTION_ARG_STRING, &connection_id,
		  N_("The connection the command came on (required)"), N_("ID") },
		{ NULL },
	};
	const TetherctlUsage usage = {
		.parameters = N_("--connection ID REQUEST_ID STATUS PAYLOAD|-"),
		.summary = N_("Answer a command a cloud sent: REQUEST_ID is its request-id (see "
		              "'tetherctl monitor'), STATUS the status to report (200 for "
		              "success), PAYLOAD the answer, usually JSON, sent as its bytes "
		              "exactly; '-' reads it from standard input."),
		.entries = entries,
		.min_args = 3,
		.max_args = 3,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(TetherDBusConnection1) connection = NULL;
	g_autoptr(GVariant) status = NULL;
	g_autoptr(GBytes) payload = NULL;
	g_autoptr(GVariant) payload_value = NULL;
	g_autoptr(GError) local_error = NULL;

	if (positional == NULL)
		return FALSE;
	if (connection_id == NULL)
		return tetherctl_usage_error (error,
		                              _("Give the connection with --connection ID"));
	status = tetherctl_variant_from_string ("i", positional[1], &local_error);
	if (status == NULL) {
		g_propagate_prefixed_error (error, g_steal_pointer (&local_error), "STATUS: ");
		return FALSE;
	}
	payload = tetherctl_read_payload (positional[2], ctx->input, error);
	if (payload == NULL)
		return FALSE;
	payload_value = tetherctl_bytes_to_variant (payload);

	connection = tetherctl_get_connection (ctx, connection_id, error);
	if (connection == NULL)
		return FALSE;
	return tether_dbus_connection1_call_respond_sync (
	        connection, positional[0], g_variant_get_int32 (status), payload_value,
	        TETHERCTL_CALL_FLAGS, TETHERCTL_TIMEOUT, NULL, error);
}
