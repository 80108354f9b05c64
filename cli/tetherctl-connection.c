/* tetherctl connection add|modify|enable|disable|list|show|remove|purge|reprovision
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "tetherctl-commands.h"

static int
compare_connections (gconstpointer a, gconstpointer b)
{
	return g_strcmp0 (tether_dbus_connection1_get_id (*(TetherDBusConnection1 *const *) a),
	                  tether_dbus_connection1_get_id (*(TetherDBusConnection1 *const *) b));
}

/* The connections' proxies, by id. */
GPtrArray *
tetherctl_list_connections (TetherctlContext *ctx, GError **error)
{
	TetherDBusTether1 *manager = tetherctl_manager (ctx, error);
	GPtrArray *connections;

	if (manager == NULL)
		return NULL;
	connections = tetherctl_object_proxies (
	        ctx, TETHER_DBUS_TYPE_CONNECTION1_PROXY, "org.tether.Connection1",
	        tether_dbus_tether1_get_connections (manager), error);
	if (connections != NULL)
		g_ptr_array_sort (connections, compare_connections);
	return connections;
}

void
tetherctl_connections_table (GPtrArray *connections)
{
	g_autoptr(TetherctlTable) table = NULL;

	table = tetherctl_table_new (
	        _("ID"), _("CLOUD"), _("ENABLED"), _("STATE"), _("QUEUED"),
	                                                              _("ENDPOINT"),
	                                                                 _("LAST ERROR"), NULL);
	for (guint i = 0; i < connections->len; i++) {
		TetherDBusConnection1 *c = g_ptr_array_index (connections, i);
		g_autofree char *queued = g_strdup_printf ("%" G_GUINT64_FORMAT,
		                                           tether_dbus_connection1_get_queued (c));

		tetherctl_table_add (table, tether_dbus_connection1_get_id (c),
		                     tether_dbus_connection1_get_cloud (c),
		                     tetherctl_yes_no (tether_dbus_connection1_get_enabled (c)),
		                     tether_dbus_connection1_get_state (c), queued,
		                     tether_dbus_connection1_get_endpoint (c),
		                     tether_dbus_connection1_get_last_error (c), NULL);
	}
	tetherctl_table_print (table);
}

void
tetherctl_connection_json (JsonBuilder *builder, TetherDBusConnection1 *c)
{
	json_builder_begin_object (builder);
	tetherctl_json_string (builder, "id", tether_dbus_connection1_get_id (c));
	tetherctl_json_string (builder, "cloud", tether_dbus_connection1_get_cloud (c));
	tetherctl_json_bool (builder, "enabled", tether_dbus_connection1_get_enabled (c));
	tetherctl_json_string (builder, "state", tether_dbus_connection1_get_state (c));
	tetherctl_json_string (builder, "last-error", tether_dbus_connection1_get_last_error (c));
	tetherctl_json_string (builder, "endpoint", tether_dbus_connection1_get_endpoint (c));
	tetherctl_json_strv (builder, "trust-anchors",
	                     tether_dbus_connection1_get_trust_anchors (c));
	tetherctl_json_string (builder, "identity", tether_dbus_connection1_get_identity (c));
	tetherctl_json_string (builder, "client-id", tether_dbus_connection1_get_client_id (c));
	tetherctl_json_variant (builder, "cloud-options",
	                        tether_dbus_connection1_get_cloud_options (c));
	tetherctl_json_int (builder, "queued", (gint64) tether_dbus_connection1_get_queued (c));
	tetherctl_json_int (builder, "delivered",
	                    (gint64) tether_dbus_connection1_get_delivered (c));
	tetherctl_json_int (builder, "dropped", (gint64) tether_dbus_connection1_get_dropped (c));
	tetherctl_json_string (builder, "path", g_dbus_proxy_get_object_path (G_DBUS_PROXY (c)));
	json_builder_end_object (builder);
}

static void
connection_print (TetherDBusConnection1 *c)
{
	tetherctl_print_field ("id", tether_dbus_connection1_get_id (c));
	tetherctl_print_field ("cloud", tether_dbus_connection1_get_cloud (c));
	tetherctl_print_field_bool ("enabled", tether_dbus_connection1_get_enabled (c));
	tetherctl_print_field ("state", tether_dbus_connection1_get_state (c));
	tetherctl_print_field ("last-error", tether_dbus_connection1_get_last_error (c));
	tetherctl_print_field ("endpoint", tether_dbus_connection1_get_endpoint (c));
	tetherctl_print_field_strv ("trust-anchors", tether_dbus_connection1_get_trust_anchors (c));
	tetherctl_print_field ("identity", tether_dbus_connection1_get_identity (c));
	tetherctl_print_field ("client-id", tether_dbus_connection1_get_client_id (c));
	tetherctl_print_field_dict ("cloud-options", tether_dbus_connection1_get_cloud_options (c));
	tetherctl_print_field_uint64 ("queued", tether_dbus_connection1_get_queued (c));
	tetherctl_print_field_uint64 ("delivered", tether_dbus_connection1_get_delivered (c));
	tetherctl_print_field_uint64 ("dropped", tether_dbus_connection1_get_dropped (c));
	tetherctl_print_field ("path", g_dbus_proxy_get_object_path (G_DBUS_PROXY (c)));
}

/* The flags of connection add and modify */
typedef struct {
	char *cloud;
	char *endpoint;
	GStrv anchors;
	char *identity;
	char *client_id;
	char *keepalive;
	GStrv options;
	gboolean disabled;
	gboolean test;
} ConnectionFlags;

static void
connection_flags_clear (ConnectionFlags *flags)
{
	g_free (flags->cloud);
	g_free (flags->endpoint);
	g_strfreev (flags->anchors);
	g_free (flags->identity);
	g_free (flags->client_id);
	g_free (flags->keepalive);
	g_strfreev (flags->options);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ConnectionFlags, connection_flags_clear)

#define CONNECTION_DESCRIPTION \
	N_("--option KEY=VALUE sets one of the cloud's options ('tetherctl clouds show CLOUD' "    \
	   "lists them with their types). VALUE is read by the option's type: text as it is, "     \
	   "true/false (yes/no, 1/0) for booleans, whole numbers in range for integers, "          \
	   "a,b,c for a list of strings, k=v,k=v for a dictionary of strings, and the GVariant "   \
	   "text format for anything else.\n\n--test first checks each trust anchor (those "     \
	   "given, else the connection's, else the cloud's default ones) against the endpoint "   \
	   "(the cloud's default endpoint and port unless given) and changes nothing unless one " \
	   "of them vouches for the server.")

/* The entries for add; modify uses them from the second on (all but --cloud), said for a change. */
static void
connection_entries (ConnectionFlags *flags, gboolean modify, GOptionEntry entries[11])
{
	/* clang-format off */
	const GOptionEntry all[11] = {
		{ "cloud", 0, 0, G_OPTION_ARG_STRING, &flags->cloud,
		  N_("The cloud plugin, such as thingsboard (see 'tetherctl clouds')"),
		  N_("CLOUD") },
		{ "endpoint", 0, 0, G_OPTION_ARG_STRING, &flags->endpoint,
		  N_("The broker, as HOST, HOST:PORT or [IPv6]:PORT"), N_("HOST[:PORT]") },
		{ "anchor", 0, 0, G_OPTION_ARG_STRING_ARRAY, &flags->anchors,
		  modify ? N_("A trust anchor that vouches for the broker; repeat for more (the "
		              "anchors given replace the present list)")
		         : N_("A trust anchor that vouches for the broker; repeat for more "
		              "(default: the cloud's bundled anchors)"),
		  N_("NAME") },
		{ "identity", 0, 0, G_OPTION_ARG_STRING, &flags->identity,
		  modify ? N_("The identity to authenticate with")
		         : N_("The identity to authenticate with (default: device)"),
		  N_("NAME") },
		{ "client-id", 0, 0, G_OPTION_ARG_STRING, &flags->client_id,
		  N_("The MQTT client id (empty: the cloud's default)"), N_("ID") },
		{ "keepalive", 0, 0, G_OPTION_ARG_STRING, &flags->keepalive,
		  N_("The MQTT keep-alive in seconds, 5 to 3600 (default 60); a cloud may narrow "
		     "the range"),
		  N_("SECONDS") },
		{ "option", 0, 0, G_OPTION_ARG_STRING_ARRAY, &flags->options,
		  modify ? N_("A cloud option; repeat for more (merged into the present ones)")
		         : N_("A cloud option; repeat for more"),
		  N_("KEY=VALUE") },
		{ "disabled", 0, 0, G_OPTION_ARG_NONE, &flags->disabled,
		  modify ? N_("Disable the connection ('tetherctl connection enable ID' enables it "
		              "again)")
		         : N_("Add the connection disabled: it does not connect until enabled"),
		  NULL },
		{ "test", 0, 0, G_OPTION_ARG_NONE, &flags->test,
		  N_("Check the trust anchors against the endpoint first"), NULL },
		{ NULL },
	};
	/* clang-format on */

	memcpy (entries, all, sizeof all);
}

/* Cloud options: the present ones (@current, or none) with --option merged in, each value
 * converted by the type the cloud's Options give. */
static GVariant *
cloud_options (TetherctlContext *ctx, const char *cloud_name, GVariant *current,
               const char *const *arguments, GError **error)
{
	g_autoptr(TetherDBusCloud1) cloud = NULL;
	g_autoptr(GVariantDict) dict = g_variant_dict_new (current);
	g_autofree char *owner = NULL;

	if (cloud_name == NULL || *cloud_name == '\0') {
		g_set_error (
		        error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
		        _("tetherd did not say which cloud the connection is for, so --option "
		               "cannot be converted"));
		return NULL;
	}
	cloud = tetherctl_get_cloud (ctx, cloud_name, error);
	if (cloud == NULL)
		return NULL;
	owner = g_strdup_printf (_("Cloud '%s'"), cloud_name);
	if (!tetherctl_options_convert (dict, arguments, tether_dbus_cloud1_get_options (cloud),
	                                owner, error))
		return NULL;
	return g_variant_dict_end (dict);
}

/* The settings a{sv} of AddConnection and UpdateConnection, from the flags given */
static gboolean
build_settings (TetherctlContext *ctx, ConnectionFlags *flags, const char *cloud,
                GVariant *current_options, GVariantDict *settings, GError **error)
{
	if (flags->endpoint != NULL) {
		if (!tetherctl_parse_endpoint (flags->endpoint, TETHERCTL_DEFAULT_PORT, NULL, NULL,
		                               error))
			return FALSE;
		g_variant_dict_insert (settings, "endpoint", "s", flags->endpoint);
	}
	if (flags->anchors != NULL)
		g_variant_dict_insert_value (
		        settings, "trust-anchors",
		        g_variant_new_strv ((const char *const *) flags->anchors, -1));
	if (flags->identity != NULL)
		g_variant_dict_insert (settings, "identity", "s", flags->identity);
	if (flags->client_id != NULL)
		g_variant_dict_insert (settings, "client-id", "s", flags->client_id);
	if (flags->keepalive != NULL) {
		guint64 seconds = 0;

		/* the range is the daemon's (and the cloud's) to check: it says which applies */
		if (!g_ascii_string_to_unsigned (flags->keepalive, 10, 0, G_MAXUINT32, &seconds,
		                                 NULL)) {
			g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
			             _("--keepalive: '%s' is not a number of seconds (5 to 3600)"),
			                flags->keepalive);
			return FALSE;
		}
		g_variant_dict_insert (settings, "keepalive", "u", (guint32) seconds);
	}
	if (flags->disabled)
		g_variant_dict_insert (settings, "enabled", "b", FALSE);
	if (flags->options != NULL) {
		GVariant *options = cloud_options (ctx, cloud, current_options,
		                                   (const char *const *) flags->options, error);

		if (options == NULL)
			return FALSE;
		g_variant_dict_insert_value (settings, "cloud-options", options);
	}
	return TRUE;
}

/*
 * connection add|modify --test: the anchors and endpoint the connection will use (those given,
 * else the present ones, else the cloud's defaults), checked against the server
 */
static gboolean
test_before_saving (TetherctlContext *ctx, const char *cloud_name, const char *const *anchors,
                    const char *endpoint, GError **error)
{
	g_autoptr(TetherDBusCloud1) cloud = tetherctl_get_cloud (ctx, cloud_name, error);

	if (cloud == NULL)
		return FALSE;
	if (anchors == NULL || anchors[0] == NULL)
		anchors = tether_dbus_cloud1_get_default_anchors (cloud);
	if (anchors == NULL || anchors[0] == NULL)
		return tetherctl_usage_error (
		        error, _("--test needs a trust anchor: give --anchor NAME (cloud '%s' "
		                 "bundles no default)"),
		                  cloud_name);
	if (endpoint == NULL || *endpoint == '\0')
		endpoint = tether_dbus_cloud1_get_default_endpoint (cloud);
	if (endpoint == NULL || *endpoint == '\0')
		return tetherctl_usage_error (error, _("--test needs --endpoint HOST[:PORT]"));
	return tetherctl_test_anchors (ctx, anchors, endpoint,
	                               tether_dbus_cloud1_get_default_port (cloud), error);
}

static gboolean
connection_add (TetherctlContext *ctx, char **args, GError **error)
{
	g_auto(ConnectionFlags) flags = { 0 };
	GOptionEntry entries[11];
	/* clang-format off */
	const TetherctlUsage usage = {
		.parameters = N_("ID --cloud CLOUD"),
		.summary = N_("Add a connection to a cloud account. It is enabled (it connects at "
		              "once) unless --disabled is given."),
		.description = CONNECTION_DESCRIPTION,
		.entries = entries,
		.min_args = 1,
		.max_args = 1,
	};
	/* clang-format on */
	g_auto(GStrv) positional = NULL;
	g_autoptr(GVariantDict) settings = g_variant_dict_new (NULL);
	g_autoptr(GVariant) settings_value = NULL;
	g_autofree char *path = NULL;
	TetherDBusTether1 *manager;

	connection_entries (&flags, FALSE, entries);
	positional = tetherctl_parse_command (ctx, &usage, args, error);
	if (positional == NULL)
		return FALSE;
	if (flags.cloud == NULL)
		return tetherctl_usage_error (error, _("Give the cloud with --cloud CLOUD (see "
		                                       "'tetherctl clouds')"));

	manager = tetherctl_manager (ctx, error);
	if (manager == NULL)
		return FALSE;
	if (!build_settings (ctx, &flags, flags.cloud, NULL, settings, error))
		return FALSE;
	if (flags.test &&
	    !test_before_saving (ctx, flags.cloud, (const char *const *) flags.anchors,
	                         flags.endpoint, error))
		return FALSE;

	settings_value = g_variant_ref_sink (g_variant_dict_end (settings));
	if (!tether_dbus_tether1_call_add_connection_sync (manager, positional[0], flags.cloud,
	                                                   settings_value, TETHERCTL_CALL_FLAGS,
	                                                   TETHERCTL_TIMEOUT, &path, NULL, error))
		return FALSE;

	if (ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();

		json_builder_begin_object (builder);
		tetherctl_json_string (builder, "connection", path);
		json_builder_end_object (builder);
		tetherctl_print_json (builder);
	}
	return TRUE;
}

static gboolean
update_connection (TetherctlContext *ctx, const char *id, GVariant *settings, GError **error)
{
	TetherDBusTether1 *manager = tetherctl_manager (ctx, error);

	if (manager == NULL)
		return FALSE;
	return tether_dbus_tether1_call_update_connection_sync (
	        manager, id, settings, TETHERCTL_CALL_FLAGS, TETHERCTL_TIMEOUT, NULL, error);
}

static gboolean
connection_modify (TetherctlContext *ctx, char **args, GError **error)
{
	g_auto(ConnectionFlags) flags = { 0 };
	GOptionEntry entries[11];
	/* clang-format off */
	const TetherctlUsage usage = {
		.parameters = N_("ID"),
		.summary = N_("Change a connection: only what the flags give changes. The "
		              "connection reconnects with the new settings."),
		.description = CONNECTION_DESCRIPTION,
		.entries = entries + 1,
		.min_args = 1,
		.max_args = 1,
	};
	/* clang-format on */
	g_auto(GStrv) positional = NULL;
	g_autoptr(TetherDBusConnection1) connection = NULL;
	g_autoptr(GVariantDict) settings = g_variant_dict_new (NULL);
	g_autoptr(GVariant) settings_value = NULL;
	g_autoptr(GVariant) current_options = NULL;

	connection_entries (&flags, TRUE, entries);
	positional = tetherctl_parse_command (ctx, &usage, args, error);
	if (positional == NULL)
		return FALSE;
	if (flags.endpoint == NULL && flags.anchors == NULL && flags.identity == NULL &&
	    flags.client_id == NULL && flags.keepalive == NULL && flags.options == NULL &&
	    !flags.disabled)
		return tetherctl_usage_error (
		        error, _("Nothing to change: give at least one of --endpoint, --anchor, "
		                 "--identity, --client-id, --keepalive, --option or --disabled"));

	connection = tetherctl_get_connection (ctx, positional[0], error);
	if (connection == NULL)
		return FALSE;
	current_options = tether_dbus_connection1_dup_cloud_options (connection);
	if (!build_settings (ctx, &flags, tether_dbus_connection1_get_cloud (connection),
	                     current_options, settings, error))
		return FALSE;

	/* --test checks what the connection will use: the new anchors and endpoint, or the
	 * present ones */
	if (flags.test &&
	    !test_before_saving (
	            ctx, tether_dbus_connection1_get_cloud (connection),
	            flags.anchors != NULL ? (const char *const *) flags.anchors
	                                  : tether_dbus_connection1_get_trust_anchors (connection),
	            flags.endpoint != NULL ? flags.endpoint
	                                   : tether_dbus_connection1_get_endpoint (connection),
	            error))
		return FALSE;

	settings_value = g_variant_ref_sink (g_variant_dict_end (settings));
	return update_connection (ctx, positional[0], settings_value, error);
}

static gboolean
set_enabled (TetherctlContext *ctx, char **args, gboolean enabled, GError **error)
{
	/* clang-format off */
	const TetherctlUsage usage = {
		.parameters = N_("ID"),
		.summary = enabled ? N_("Enable a connection: tetherd keeps it connected.")
		                   : N_("Disable a connection: tetherd disconnects it; queued "
		                        "messages stay queued."),
		.min_args = 1,
		.max_args = 1,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(GVariantDict) settings = g_variant_dict_new (NULL);
	g_autoptr(GVariant) settings_value = NULL;

	if (positional == NULL)
		return FALSE;
	g_variant_dict_insert (settings, "enabled", "b", enabled);
	settings_value = g_variant_ref_sink (g_variant_dict_end (settings));
	return update_connection (ctx, positional[0], settings_value, error);
}

static gboolean
connection_enable (TetherctlContext *ctx, char **args, GError **error)
{
	return set_enabled (ctx, args, TRUE, error);
}

static gboolean
connection_disable (TetherctlContext *ctx, char **args, GError **error)
{
	return set_enabled (ctx, args, FALSE, error);
}

static gboolean
connection_list (TetherctlContext *ctx, char **args, GError **error)
{
	/* clang-format off */
	const TetherctlUsage usage = {
		.parameters = "",
		.summary = N_("List the connections."),
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(GPtrArray) connections = NULL;

	if (positional == NULL)
		return FALSE;
	connections = tetherctl_list_connections (ctx, error);
	if (connections == NULL)
		return FALSE;

	if (ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();

		json_builder_begin_array (builder);
		for (guint i = 0; i < connections->len; i++)
			tetherctl_connection_json (builder, g_ptr_array_index (connections, i));
		json_builder_end_array (builder);
		tetherctl_print_json (builder);
		return TRUE;
	}
	tetherctl_connections_table (connections);
	return TRUE;
}

static gboolean
connection_show (TetherctlContext *ctx, char **args, GError **error)
{
	/* clang-format off */
	const TetherctlUsage usage = {
		.parameters = N_("ID"),
		.summary = N_("Show a connection: its settings, state, last error and message "
		              "counts."),
		.min_args = 1,
		.max_args = 1,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(TetherDBusConnection1) connection = NULL;

	if (positional == NULL)
		return FALSE;
	connection = tetherctl_get_connection (ctx, positional[0], error);
	if (connection == NULL)
		return FALSE;

	if (ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();

		tetherctl_connection_json (builder, connection);
		tetherctl_print_json (builder);
		return TRUE;
	}
	connection_print (connection);
	return TRUE;
}

static gboolean
connection_remove (TetherctlContext *ctx, char **args, GError **error)
{
	gboolean discard_queued = FALSE;
	/* clang-format off */
	const GOptionEntry entries[] = {
		{ "discard-queued", 0, 0, G_OPTION_ARG_NONE, &discard_queued,
		  N_("Remove it even when messages wait in its outbox (they are lost)"), NULL },
		{ NULL },
	};
	const TetherctlUsage usage = {
		.parameters = N_("ID"),
		.summary = N_("Remove a connection. tetherd refuses while messages are queued, "
		              "unless --discard-queued is given."),
		.entries = entries,
		.min_args = 1,
		.max_args = 1,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(GVariantDict) options = g_variant_dict_new (NULL);
	g_autoptr(GVariant) options_value = NULL;
	TetherDBusTether1 *manager;

	if (positional == NULL)
		return FALSE;
	manager = tetherctl_manager (ctx, error);
	if (manager == NULL)
		return FALSE;
	if (discard_queued)
		g_variant_dict_insert (options, "discard-queued", "b", TRUE);
	options_value = g_variant_ref_sink (g_variant_dict_end (options));
	return tether_dbus_tether1_call_remove_connection_sync (manager, positional[0],
	                                                        options_value, TETHERCTL_CALL_FLAGS,
	                                                        TETHERCTL_TIMEOUT, NULL, error);
}

static gboolean
connection_purge (TetherctlContext *ctx, char **args, GError **error)
{
	/* clang-format off */
	const TetherctlUsage usage = {
		.parameters = N_("ID"),
		.summary = N_("Drop every message queued on a connection; each is reported "
		              "\"dropped\" to 'tetherctl monitor'."),
		.min_args = 1,
		.max_args = 1,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(TetherDBusConnection1) connection = NULL;

	if (positional == NULL)
		return FALSE;
	connection = tetherctl_get_connection (ctx, positional[0], error);
	if (connection == NULL)
		return FALSE;
	return tether_dbus_connection1_call_purge_sync (connection, TETHERCTL_CALL_FLAGS,
	                                                TETHERCTL_TIMEOUT, NULL, error);
}

static gboolean
connection_reprovision (TetherctlContext *ctx, char **args, GError **error)
{
	/* clang-format off */
	const TetherctlUsage usage = {
		.parameters = N_("ID"),
		.summary = N_("Forget what provisioning learnt for a connection (such as the hub "
		              "that Azure DPS assigned) and provision it again."),
		.min_args = 1,
		.max_args = 1,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(TetherDBusConnection1) connection = NULL;

	if (positional == NULL)
		return FALSE;
	connection = tetherctl_get_connection (ctx, positional[0], error);
	if (connection == NULL)
		return FALSE;
	return tether_dbus_connection1_call_reprovision_sync (connection, TETHERCTL_CALL_FLAGS,
	                                                      TETHERCTL_TIMEOUT, NULL, error);
}

/* clang-format off */
const TetherctlCommand tetherctl_connection_commands[] = {
	{ "add", N_("Add a connection"), connection_add },
	{ "modify", N_("Change a connection's settings"), connection_modify },
	{ "enable", N_("Enable a connection"), connection_enable },
	{ "disable", N_("Disable a connection"), connection_disable },
	{ "list", N_("List the connections"), connection_list },
	{ "show", N_("Show a connection"), connection_show },
	{ "remove", N_("Remove a connection"), connection_remove },
	{ "purge", N_("Drop a connection's queued messages"), connection_purge },
	{ "reprovision", N_("Provision a connection again"), connection_reprovision },
	{ NULL },
};
/* clang-format on */
