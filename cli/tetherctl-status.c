/* tetherctl status, tetherctl clouds
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "tetherctl-commands.h"

static GPtrArray *
cloud_names (TetherctlContext *ctx, const char *const *paths)
{
	GPtrArray *names = g_ptr_array_new_with_free_func (g_free);

	for (guint i = 0; paths != NULL && paths[i] != NULL; i++)
		g_ptr_array_add (
		        names, tetherctl_object_name (ctx, paths[i], "org.tether.Cloud1", "Name"));
	g_ptr_array_add (names, NULL);
	return names;
}

gboolean
tetherctl_status (TetherctlContext *ctx, char **args, GError **error)
{
	/* clang-format off */
	const TetherctlUsage usage = {
		.parameters = "",
		.summary = N_("Show tetherd's version, its clouds, each connection with its "
		              "state, queued messages and last error, and each identity with its "
		              "state and expiry."),
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	TetherDBusTether1 *manager;
	g_autoptr(GPtrArray) clouds = NULL;
	g_autoptr(GPtrArray) connections = NULL;
	g_autoptr(GPtrArray) identities = NULL;
	const char *bus = ctx->session ? "session" : "system";

	if (positional == NULL)
		return FALSE;
	manager = tetherctl_manager (ctx, error);
	if (manager == NULL)
		return FALSE;
	connections = tetherctl_list_connections (ctx, error);
	if (connections == NULL)
		return FALSE;
	identities = tetherctl_list_identities (ctx, error);
	if (identities == NULL)
		return FALSE;
	clouds = cloud_names (ctx, tether_dbus_tether1_get_clouds (manager));

	if (ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();

		json_builder_begin_object (builder);
		tetherctl_json_string (builder, "version",
		                       tether_dbus_tether1_get_version (manager));
		tetherctl_json_string (builder, "bus", bus);
		tetherctl_json_strv (builder, "clouds", (const char *const *) clouds->pdata);
		json_builder_set_member_name (builder, "connections");
		json_builder_begin_array (builder);
		for (guint i = 0; i < connections->len; i++)
			tetherctl_connection_json (builder, g_ptr_array_index (connections, i));
		json_builder_end_array (builder);
		json_builder_set_member_name (builder, "identities");
		json_builder_begin_array (builder);
		for (guint i = 0; i < identities->len; i++)
			tetherctl_identity_json (builder, g_ptr_array_index (identities, i));
		json_builder_end_array (builder);
		json_builder_end_object (builder);
		tetherctl_print_json (builder);
		return TRUE;
	}

	tetherctl_print_field ("version", tether_dbus_tether1_get_version (manager));
	tetherctl_print_field ("bus", bus);
	tetherctl_print_field_strv ("clouds", (const char *const *) clouds->pdata);
	tetherctl_print_field_uint64 ("connections", connections->len);
	tetherctl_print_field_uint64 ("identities", identities->len);
	if (connections->len > 0) {
		tetherctl_print ("\n");
		tetherctl_connections_table (connections);
	}
	if (identities->len > 0) {
		tetherctl_print ("\n");
		tetherctl_identities_table (identities);
	}
	return TRUE;
}

static int
compare_clouds (gconstpointer a, gconstpointer b)
{
	return g_strcmp0 (tether_dbus_cloud1_get_name (*(TetherDBusCloud1 *const *) a),
	                  tether_dbus_cloud1_get_name (*(TetherDBusCloud1 *const *) b));
}

static GPtrArray *
list_clouds (TetherctlContext *ctx, GError **error)
{
	TetherDBusTether1 *manager = tetherctl_manager (ctx, error);
	GPtrArray *clouds;

	if (manager == NULL)
		return NULL;
	clouds = tetherctl_object_proxies (ctx, TETHER_DBUS_TYPE_CLOUD1_PROXY, "org.tether.Cloud1",
	                                   tether_dbus_tether1_get_clouds (manager), error);
	if (clouds != NULL)
		g_ptr_array_sort (clouds, compare_clouds);
	return clouds;
}

/* The names of the cloud's bundled anchors, NULL-terminated. */
static GPtrArray *
bundled_anchor_names (TetherctlContext *ctx, TetherDBusCloud1 *cloud)
{
	GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
	const char *const *paths = tether_dbus_cloud1_get_bundled_anchors (cloud);

	for (guint i = 0; paths != NULL && paths[i] != NULL; i++)
		g_ptr_array_add (names, tetherctl_object_name (ctx, paths[i],
		                                               "org.tether.TrustAnchor1", "Name"));
	g_ptr_array_add (names, NULL);
	return names;
}

static void
cloud_json (TetherctlContext *ctx, JsonBuilder *builder, TetherDBusCloud1 *cloud)
{
	g_autoptr(GPtrArray) anchors = bundled_anchor_names (ctx, cloud);
	GVariant *options = tether_dbus_cloud1_get_options (cloud);

	json_builder_begin_object (builder);
	tetherctl_json_string (builder, "name", tether_dbus_cloud1_get_name (cloud));
	tetherctl_json_string (builder, "description", tether_dbus_cloud1_get_description (cloud));
	tetherctl_json_strv (builder, "kinds", tether_dbus_cloud1_get_kinds (cloud));

	/* options: {"name": {"type": "s", "description": "..."}} */
	json_builder_set_member_name (builder, "options");
	json_builder_begin_object (builder);
	if (options != NULL) {
		GVariantIter iter;
		const char *name;
		const char *type;
		const char *description;

		g_variant_iter_init (&iter, options);
		while (g_variant_iter_next (&iter, "{&s(&s&s)}", &name, &type, &description)) {
			json_builder_set_member_name (builder, name);
			json_builder_begin_object (builder);
			tetherctl_json_string (builder, "type", type);
			tetherctl_json_string (builder, "description", description);
			json_builder_end_object (builder);
		}
	}
	json_builder_end_object (builder);

	tetherctl_json_strv (builder, "publish-options",
	                     tether_dbus_cloud1_get_publish_options (cloud));
	tetherctl_json_strv (builder, "bundled-anchors", (const char *const *) anchors->pdata);
	tetherctl_json_strv (builder, "default-anchors",
	                     tether_dbus_cloud1_get_default_anchors (cloud));
	tetherctl_json_string (builder, "default-endpoint",
	                       tether_dbus_cloud1_get_default_endpoint (cloud));
	tetherctl_json_int (builder, "default-port", tether_dbus_cloud1_get_default_port (cloud));
	tetherctl_json_string (builder, "path",
	                       g_dbus_proxy_get_object_path (G_DBUS_PROXY (cloud)));
	json_builder_end_object (builder);
}

static gboolean
clouds_list (TetherctlContext *ctx, char **args, GError **error)
{
	/* clang-format off */
	const TetherctlUsage usage = {
		.parameters = "",
		.summary = N_("List the cloud plugins that tetherd has loaded."),
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(GPtrArray) clouds = NULL;
	g_autoptr(TetherctlTable) table = NULL;

	if (positional == NULL)
		return FALSE;
	clouds = list_clouds (ctx, error);
	if (clouds == NULL)
		return FALSE;

	if (ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();

		json_builder_begin_array (builder);
		for (guint i = 0; i < clouds->len; i++)
			cloud_json (ctx, builder, g_ptr_array_index (clouds, i));
		json_builder_end_array (builder);
		tetherctl_print_json (builder);
		return TRUE;
	}

	table = tetherctl_table_new (_("NAME"), _("KINDS"), _("DESCRIPTION"), NULL);
	for (guint i = 0; i < clouds->len; i++) {
		TetherDBusCloud1 *cloud = g_ptr_array_index (clouds, i);
		g_autofree char *kinds = tetherctl_join (tether_dbus_cloud1_get_kinds (cloud));

		tetherctl_table_add (table, tether_dbus_cloud1_get_name (cloud), kinds,
		                     tether_dbus_cloud1_get_description (cloud), NULL);
	}
	tetherctl_table_print (table);
	return TRUE;
}

static gboolean
clouds_show (TetherctlContext *ctx, char **args, GError **error)
{
	/* clang-format off */
	const TetherctlUsage usage = {
		.parameters = N_("NAME"),
		.summary = N_("Show a cloud: the message kinds it accepts, its connection options "
		              "with their types and descriptions (for connection add --option), "
		              "the publish options it accepts, the trust anchors it bundles, and "
		              "what a connection that names no anchor or endpoint uses."),
		.min_args = 1,
		.max_args = 1,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(TetherDBusCloud1) cloud = NULL;
	g_autoptr(GPtrArray) anchors = NULL;
	GVariant *options;

	if (positional == NULL)
		return FALSE;
	cloud = tetherctl_get_cloud (ctx, positional[0], error);
	if (cloud == NULL)
		return FALSE;

	if (ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();

		cloud_json (ctx, builder, cloud);
		tetherctl_print_json (builder);
		return TRUE;
	}

	tetherctl_print_field ("name", tether_dbus_cloud1_get_name (cloud));
	tetherctl_print_field ("description", tether_dbus_cloud1_get_description (cloud));
	tetherctl_print_field_strv ("kinds", tether_dbus_cloud1_get_kinds (cloud));
	tetherctl_print_field_strv ("publish-options",
	                            tether_dbus_cloud1_get_publish_options (cloud));

	anchors = bundled_anchor_names (ctx, cloud);
	tetherctl_print_field_strv ("bundled-anchors", (const char *const *) anchors->pdata);
	tetherctl_print_field_strv ("default-anchors",
	                            tether_dbus_cloud1_get_default_anchors (cloud));
	tetherctl_print_field ("default-endpoint", tether_dbus_cloud1_get_default_endpoint (cloud));
	tetherctl_print_field_uint64 ("default-port", tether_dbus_cloud1_get_default_port (cloud));

	/* "  name (type): description", one option a line */
	options = tether_dbus_cloud1_get_options (cloud);
	if (options == NULL || g_variant_n_children (options) == 0) {
		tetherctl_print_field ("options", NULL);
	} else {
		GVariantIter iter;
		const char *name;
		const char *type;
		const char *description;

		tetherctl_print ("options:\n");
		g_variant_iter_init (&iter, options);
		while (g_variant_iter_next (&iter, "{&s(&s&s)}", &name, &type, &description))
			tetherctl_print ("  %s (%s): %s\n", name, type, description);
	}
	return TRUE;
}

/* clang-format off */
const TetherctlCommand tetherctl_cloud_commands[] = {
	{ "list", N_("List the clouds (the default)"), clouds_list },
	{ "show", N_("Show a cloud's kinds, options, publish options and bundled anchors"),
	  clouds_show },
	{ NULL },
};
/* clang-format on */
