/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "tether-anchor-store.h"
#include "tether-auth.h"
#include "tether-connection-private.h"
#include "tether-common.h"
#include "tether-dbus.h"
#include "tether-error.h"
#include "tether-identity-store.h"
#include "tether-manager.h"
#include "tether-names.h"
#include "tether-plugin-loader.h"
#include "tether-settings.h"
#include "tether-tls-probe.h"

#define TETHER_MANAGER_PATH "/org/tether/Tether1"
/* seconds TestTrustAnchor may take */
#define TETHER_TEST_TIMEOUT 15

struct _TetherManager {
	GObject parent_instance;
	GDBusConnection *bus;
	TetherAuth *auth;
	gchar *state_dir;
	GSettingsBackend *backend;
	GSettings *settings;
	TetherDBusTether1 *skeleton;
	GHashTable *clouds;         /* name -> TetherCloud */
	GPtrArray *cloud_skeletons; /* of TetherDBusCloud1 */
	GHashTable *connections;    /* id -> TetherConnection */
	TetherAnchorStore *anchors;
	TetherIdentityStore *identities;
};

G_DEFINE_FINAL_TYPE (TetherManager, tether_manager, G_TYPE_OBJECT)

static const TetherOptionSpec connection_settings[] = {
	{ "endpoint", "s" },          { "trust-anchors", "as" }, { "identity", "s" },
	{ "client-id", "s" },         { "enabled", "b" },        { "keepalive", "u" },
	{ "cloud-options", "a{sv}" },
};

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
	return g_strcmp0 (*(const gchar **) a, *(const gchar **) b);
}

static GPtrArray *
sorted_connection_ids (TetherManager *self)
{
	GPtrArray *ids = tether_hash_table_get_keys (self->connections);
	g_ptr_array_sort (ids, compare_strings);
	return ids;
}

/* the manager's lists, and who uses which anchor and identity */
static void
refresh_properties (TetherManager *self)
{
	g_autoptr(GPtrArray) ids = sorted_connection_ids (self);
	g_autoptr(GPtrArray) anchors = tether_anchor_store_list (self->anchors);
	g_autoptr(GPtrArray) identities = tether_identity_store_list (self->identities);
	g_autoptr(GPtrArray) paths = g_ptr_array_new ();

	for (guint i = 0; i < ids->len; i++) {
		TetherConnection *connection =
		        g_hash_table_lookup (self->connections, ids->pdata[i]);
		g_ptr_array_add (paths, (gpointer) tether_connection_get_object_path (connection));
	}
	g_ptr_array_add (paths, NULL);
	tether_dbus_tether1_set_connections (self->skeleton, (const gchar *const *) paths->pdata);

	g_ptr_array_set_size (paths, 0);
	for (guint i = 0; i < anchors->len; i++) {
		TetherAnchor *anchor = g_ptr_array_index (anchors, i);
		g_autoptr(GPtrArray) used_by = g_ptr_array_new ();

		g_ptr_array_add (paths, (gpointer) tether_anchor_get_object_path (anchor));
		for (guint j = 0; j < ids->len; j++) {
			TetherConnection *connection =
			        g_hash_table_lookup (self->connections, ids->pdata[j]);
			g_auto(GStrv) names = tether_connection_dup_anchor_names (connection);
			if (g_strv_contains ((const gchar *const *) names,
			                     tether_anchor_get_name (anchor)))
				g_ptr_array_add (used_by, ids->pdata[j]);
		}
		g_ptr_array_add (used_by, NULL);
		tether_anchor_set_used_by (anchor, (const gchar *const *) used_by->pdata);
	}
	g_ptr_array_add (paths, NULL);
	tether_dbus_tether1_set_trust_anchors (self->skeleton, (const gchar *const *) paths->pdata);

	g_ptr_array_set_size (paths, 0);
	for (guint i = 0; i < identities->len; i++) {
		TetherIdentity *identity = g_ptr_array_index (identities, i);
		g_autoptr(GPtrArray) used_by = g_ptr_array_new ();

		g_ptr_array_add (paths, (gpointer) tether_identity_get_object_path (identity));
		for (guint j = 0; j < ids->len; j++) {
			TetherConnection *connection =
			        g_hash_table_lookup (self->connections, ids->pdata[j]);
			if (g_strcmp0 (tether_connection_get_identity_name (connection),
			               tether_identity_get_name (identity)) == 0)
				g_ptr_array_add (used_by, ids->pdata[j]);
		}
		g_ptr_array_add (used_by, NULL);
		tether_identity_set_used_by (identity, (const gchar *const *) used_by->pdata);
	}
	g_ptr_array_add (paths, NULL);
	tether_dbus_tether1_set_identities (self->skeleton, (const gchar *const *) paths->pdata);
}

static TetherCloud *
lookup_cloud (TetherManager *self, const gchar *name, GError **error)
{
	TetherCloud *cloud = g_hash_table_lookup (self->clouds, name);
	g_autoptr(GPtrArray) names = NULL;
	g_autofree gchar *known = NULL;

	if (cloud != NULL)
		return cloud;
	if (!tether_name_check (name, _("cloud"), error))
		return NULL;
	names = tether_hash_table_get_keys (self->clouds);
	g_ptr_array_sort (names, compare_strings);
	g_ptr_array_add (names, NULL);
	known = g_strjoinv (", ", (gchar **) names->pdata);
	g_set_error (error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
	             _("there is no cloud '%s'; the clouds are: %s"), name,
	                known[0] != '\0' ? known : _("none (no plugin loaded)"));
	return NULL;
}

static TetherConnection *
lookup_connection (TetherManager *self, const gchar *id, GError **error)
{
	TetherConnection *connection = g_hash_table_lookup (self->connections, id);

	/* a name that no connection could have is a malformed argument, not a missing one */
	if (connection == NULL && !tether_name_check (id, _("connection"), error))
		return NULL;
	if (connection == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
		             _("there is no connection '%s'"), id);
	}
	return connection;
}

static TetherConnection *
load_connection (TetherManager *self, const gchar *id, GError **error)
{
	g_autoptr(GSettings) settings = tether_settings_new_connection (self->backend, id);
	g_autofree gchar *cloud_name = g_settings_get_string (settings, "cloud");
	TetherConnectionContext context = {
		.bus = self->bus,
		.auth = self->auth,
		.anchors = self->anchors,
		.identities = self->identities,
		.state_dir = self->state_dir,
	};
	TetherCloud *cloud;
	TetherConnection *connection;

	if (!tether_name_check (id, _("connection"), error))
		return NULL;
	cloud = lookup_cloud (self, cloud_name, error);
	if (cloud == NULL)
		return NULL;
	connection = tether_connection_new (id, cloud, settings, &context, error);
	if (connection == NULL)
		return NULL;
	g_hash_table_insert (self->connections, g_strdup (id), connection);
	/* UsedBy follows its anchors, also when the settings file is edited by hand */
	g_signal_connect_object (tether_connection_get_settings (connection),
	                         "changed::trust-anchors", G_CALLBACK (refresh_properties), self,
	                         G_CONNECT_SWAPPED);
	tether_connection_start (connection);
	return connection;
}

/* makes the loaded connections match the settings' list */
static void
sync_connections (TetherManager *self)
{
	g_auto(GStrv) ids = g_settings_get_strv (self->settings, "connections");
	g_autoptr(GPtrArray) loaded = tether_hash_table_get_keys (self->connections);

	for (guint i = 0; i < loaded->len; i++) {
		const gchar *id = loaded->pdata[i];
		if (!g_strv_contains ((const gchar *const *) ids, id)) {
			TetherConnection *connection = g_hash_table_lookup (self->connections, id);
			g_info ("connection %s removed from the settings", id);
			tether_connection_shutdown (connection);
			g_hash_table_remove (self->connections, id);
		}
	}
	for (guint i = 0; ids[i] != NULL; i++) {
		g_autoptr(GError) error = NULL;
		if (g_hash_table_contains (self->connections, ids[i]))
			continue;
		if (load_connection (self, ids[i], &error) == NULL)
			g_warning ("connection %s not loaded: %s", ids[i], error->message);
	}
	refresh_properties (self);
}

static void
settings_changed_cb (GSettings *settings, const gchar *key, TetherManager *self)
{
	sync_connections (self);
}

/* the schema's default of a connection key, for a connection not written yet */
static GVariant *
connection_key_default (const gchar *key)
{
	GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
	g_autoptr(GSettingsSchema) schema = NULL;
	g_autoptr(GSettingsSchemaKey) schema_key = NULL;

	if (source != NULL)
		schema =
		        g_settings_schema_source_lookup (source, TETHER_CONNECTION_SCHEMA_ID, TRUE);
	if (schema == NULL || !g_settings_schema_has_key (schema, key))
		return NULL;
	schema_key = g_settings_schema_get_key (schema, key);
	return g_settings_schema_key_get_default_value (schema_key);
}

/*
 * the client id and keep-alive given, by the cloud's rules: both when adding
 * (the defaults for those not given), only the given ones when updating
 */
static gboolean
check_connection_session (TetherCloud *cloud, gboolean adding, GVariant *settings, GError **error)
{
	g_autofree gchar *client_id = NULL;
	g_autoptr(GVariant) default_keepalive = NULL;
	guint32 keepalive = 0;

	if (!g_variant_lookup (settings, "client-id", "s", &client_id) && adding)
		client_id = g_strdup ("");
	if (!g_variant_lookup (settings, "keepalive", "u", &keepalive) && adding &&
	    (default_keepalive = connection_key_default ("keepalive")) != NULL)
		keepalive = g_variant_get_uint32 (default_keepalive);
	if (client_id == NULL && keepalive == 0)
		return TRUE;
	return tether_cloud_check_session (cloud, client_id, keepalive, error);
}

/* whether a connection that names no anchor has the cloud's to trust */
static gboolean
cloud_has_default_anchors (TetherCloud *cloud)
{
	GPtrArray *bundled = tether_cloud_get_bundled_anchors (cloud);

	for (guint i = 0; i < bundled->len; i++) {
		TetherBundledAnchor *anchor = g_ptr_array_index (bundled, i);

		if (anchor->in_default_set)
			return TRUE;
	}
	return FALSE;
}

/*
 * what MQTT 3.1.1 allows every broker to take as a client id (section 3.1.3.1): at most
 * 65,535 bytes of UTF-8 (D-Bus has checked the UTF-8), and no control characters, which
 * would also garble the log lines and tetherctl's output that show it; each cloud narrows it
 */
static gboolean
check_client_id (const gchar *client_id, GError **error)
{
	if (strlen (client_id) > G_MAXUINT16) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("the client id is %zu bytes long; MQTT allows at most 65535"),
		                strlen (client_id));
		return FALSE;
	}
	for (const gchar *p = client_id; *p != '\0'; p = g_utf8_next_char (p)) {
		gunichar c = g_utf8_get_char (p);

		if (g_unichar_iscntrl (c)) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			             _("the client id holds a control character (U+%04X) at byte "
			               "%zu"),
			                c, (gsize) (p - client_id) + 1);
			return FALSE;
		}
	}
	return TRUE;
}

/* checks the AddConnection / UpdateConnection settings before anything is written */
static gboolean
check_connection_settings (TetherManager *self, TetherCloud *cloud, GSettings *current,
                           GVariant *settings, GError **error)
{
	gboolean adding = current == NULL;
	const gchar *endpoint = NULL;
	const gchar *identity = NULL;
	const gchar *client_id = NULL;
	g_autofree const gchar **anchors = NULL;
	gboolean given_anchors;
	g_autoptr(GVariant) cloud_options = NULL;
	guint32 keepalive = 0;

	if (!tether_options_check (settings, connection_settings,
	                           G_N_ELEMENTS (connection_settings), "settings", error))
		return FALSE;
	if (g_variant_lookup (settings, "endpoint", "&s", &endpoint)) {
		if (!tether_endpoint_parse (endpoint, NULL, NULL, error))
			return FALSE;
	} else if (adding && tether_cloud_get_default_endpoint (cloud) == NULL) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		                     _("a connection needs an endpoint (host or host:port)"));
		return FALSE;
	}
	if (g_variant_lookup (settings, "client-id", "&s", &client_id) &&
	    !check_client_id (client_id, error))
		return FALSE;
	given_anchors = g_variant_lookup (settings, "trust-anchors", "^a&s", &anchors);
	if ((adding || given_anchors) && (anchors == NULL || anchors[0] == NULL) &&
	    !cloud_has_default_anchors (cloud)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("%s bundles no trust anchor: add the server's CA with 'tetherctl "
		               "anchor add NAME FILE' and name it with --anchor NAME"),
		                tether_cloud_get_name (cloud));
		return FALSE;
	}
	if (anchors != NULL) {
		for (guint i = 0; anchors[i] != NULL; i++) {
			if (g_strv_contains (anchors + i + 1, anchors[i])) {
				g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
				             _("the trust anchor '%s' is named twice"),
				                anchors[i]);
				return FALSE;
			}
			if (tether_anchor_store_lookup (self->anchors, anchors[i]) == NULL) {
				g_set_error (error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
				             _("there is no trust anchor '%s': add it first with "
				                "'tetherctl anchor add %s FILE'"),
				                anchors[i], anchors[i]);
				return FALSE;
			}
		}
	}
	if (g_variant_lookup (settings, "identity", "&s", &identity) &&
	    tether_identity_store_lookup (self->identities, identity, FALSE, error) == NULL)
		return FALSE;
	if (g_variant_lookup (settings, "keepalive", "u", &keepalive) &&
	    (keepalive < 5 || keepalive > 3600)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("keepalive %u is out of range: use 5 to 3600 seconds"), keepalive);
		return FALSE;
	}
	/* a new connection without cloud options gets none: the cloud may require some */
	cloud_options = g_variant_lookup_value (settings, "cloud-options", G_VARIANT_TYPE_VARDICT);
	if (cloud_options == NULL && adding)
		cloud_options = g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
	if (cloud_options != NULL && !tether_cloud_check_options (cloud, cloud_options, error))
		return FALSE;
	if (!check_connection_session (cloud, adding, settings, error))
		return FALSE;
	return TRUE;
}

/* writes the given keys, all at once */
static void
write_connection_settings (GSettings *settings, GVariant *values)
{
	GVariantIter iter;
	const gchar *key;
	GVariant *value;

	g_settings_delay (settings);
	g_variant_iter_init (&iter, values);
	while (g_variant_iter_loop (&iter, "{&sv}", &key, &value))
		g_settings_set_value (settings, key, value);
	g_settings_apply (settings);
}

static gboolean
handle_add_connection (TetherDBusTether1 *skeleton, GDBusMethodInvocation *invocation,
                       const gchar *id, const gchar *cloud_name, GVariant *values,
                       TetherManager *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSettings) settings = NULL;
	g_auto(GStrv) ids = NULL;
	g_autoptr(GStrvBuilder) builder = NULL;
	g_auto(GStrv) updated = NULL;
	TetherConnection *connection;
	TetherCloud *cloud;

	if (!tether_name_check (id, _("connection"), &error)) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	if (g_hash_table_contains (self->connections, id)) {
		g_dbus_method_invocation_return_error (invocation, TETHER_ERROR,
		                                       TETHER_ERROR_EXISTS,
		                                       _("connection '%s' exists already"), id);
		return TRUE;
	}
	/* a settings file that cannot keep the change comes first: nothing can be added then */
	cloud = lookup_cloud (self, cloud_name, &error);
	if (cloud == NULL || !tether_settings_check_can_save (self->settings, &error) ||
	    !check_connection_settings (self, cloud, NULL, values, &error)) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}

	/* a clean slate, in case an earlier one of that id left keys behind */
	settings = tether_settings_new_connection (self->backend, id);
	tether_settings_reset_all (settings);
	g_settings_set_string (settings, "cloud", cloud_name);
	write_connection_settings (settings, values);

	ids = g_settings_get_strv (self->settings, "connections");
	builder = g_strv_builder_new ();
	g_strv_builder_addv (builder, (const gchar **) ids);
	g_strv_builder_add (builder, id);
	updated = g_strv_builder_end (builder);
	g_settings_set_strv (self->settings, "connections", (const gchar *const *) updated);

	connection = g_hash_table_lookup (self->connections, id);
	if (connection == NULL)
		connection = load_connection (self, id, &error);
	if (connection == NULL) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	refresh_properties (self);
	g_info ("connection %s added (cloud %s)", id, cloud_name);
	tether_dbus_tether1_complete_add_connection (
	        skeleton, invocation, tether_connection_get_object_path (connection));
	return TRUE;
}

static gboolean
handle_update_connection (TetherDBusTether1 *skeleton, GDBusMethodInvocation *invocation,
                          const gchar *id, GVariant *values, TetherManager *self)
{
	g_autoptr(GError) error = NULL;
	TetherConnection *connection = lookup_connection (self, id, &error);

	if (connection == NULL || !tether_settings_check_can_save (self->settings, &error) ||
	    !check_connection_settings (self, tether_connection_get_cloud (connection),
	                                tether_connection_get_settings (connection), values,
	                                &error)) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	/* the connection sees the change and reconnects */
	write_connection_settings (tether_connection_get_settings (connection), values);
	refresh_properties (self);
	tether_dbus_tether1_complete_update_connection (skeleton, invocation);
	return TRUE;
}

static gboolean
handle_remove_connection (TetherDBusTether1 *skeleton, GDBusMethodInvocation *invocation,
                          const gchar *id, GVariant *options, TetherManager *self)
{
	static const TetherOptionSpec specs[] = { { "discard-queued", "b" } };
	g_autoptr(GError) error = NULL;
	TetherConnection *connection = lookup_connection (self, id, &error);
	gboolean discard = FALSE;
	const gchar *outbox_error;
	guint64 queued;
	g_auto(GStrv) ids = NULL;
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
	g_auto(GStrv) updated = NULL;
	g_autofree gchar *dir = NULL;

	if (connection == NULL ||
	    !tether_options_check (options, specs, G_N_ELEMENTS (specs), "options", &error)) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	g_variant_lookup (options, "discard-queued", "b", &discard);

	/* an outbox this tetherd cannot read may hold messages: it goes only on purpose too */
	outbox_error = tether_connection_get_outbox_error (connection);
	if (outbox_error != NULL && !discard) {
		g_dbus_method_invocation_return_error (
		        invocation, TETHER_ERROR, TETHER_ERROR_IN_USE,
		        _("connection '%s' has an outbox this tetherd cannot read, which may hold "
		          "queued messages (%s): discard it (--discard-queued) only if they can "
		          "go"),
		           id, outbox_error);
		return TRUE;
	}
	queued = tether_connection_get_queued (connection);
	if (queued > 0 && !discard) {
		g_dbus_method_invocation_return_error (
		        invocation, TETHER_ERROR, TETHER_ERROR_IN_USE,
		        ngettext ("connection '%s' has %llu message queued: wait until it is "
		                  "delivered, or discard it (--discard-queued)",
		                  "connection '%s' has %llu messages queued: wait until they are "
		                  "delivered, or discard them (--discard-queued)",
		                  (unsigned long) MIN (queued, G_MAXULONG)),
		        id, (unsigned long long) queued);
		return TRUE;
	}
	if (!tether_settings_check_can_save (self->settings, &error)) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}

	tether_connection_shutdown (connection);
	if (!tether_connection_discard_outbox (connection, &error))
		g_warning ("connection %s: %s", id, error->message);
	tether_settings_reset_all (tether_connection_get_settings (connection));
	g_hash_table_remove (self->connections, id);
	ids = g_settings_get_strv (self->settings, "connections");
	for (guint i = 0; ids[i] != NULL; i++) {
		if (g_strcmp0 (ids[i], id) != 0)
			g_strv_builder_add (builder, ids[i]);
	}
	updated = g_strv_builder_end (builder);
	g_settings_set_strv (self->settings, "connections", (const gchar *const *) updated);

	/* what the connection kept on disk goes with it */
	dir = g_build_filename (self->state_dir, "connections", id, NULL);
	if (g_file_test (dir, G_FILE_TEST_IS_DIR)) {
		g_autoptr(GFile) file = g_file_new_for_path (dir);
		g_autoptr(GFileEnumerator) children = g_file_enumerate_children (
		        file, G_FILE_ATTRIBUTE_STANDARD_NAME, G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS,
		        NULL, NULL);
		GFileInfo *info;
		while (children != NULL &&
		       (info = g_file_enumerator_next_file (children, NULL, NULL)) != NULL) {
			g_autoptr(GFile) child =
			                   g_file_get_child (file, g_file_info_get_name (info));
			g_file_delete (child, NULL, NULL);
			g_object_unref (info);
		}
		g_file_delete (file, NULL, NULL);
	}
	refresh_properties (self);
	g_info ("connection %s removed", id);
	tether_dbus_tether1_complete_remove_connection (skeleton, invocation);
	return TRUE;
}

/* one Publish to several connections, answered when the last one has it on disk */
typedef struct {
	TetherDBusTether1 *skeleton;
	GDBusMethodInvocation *invocation;
	GPtrArray *paths;
	GArray *ids;
	GError *error; /* the first */
	guint n_pending;
} PublishFanout;

typedef struct {
	PublishFanout *fanout;
	guint index;
} PublishTarget;

static void
publish_queued_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autofree PublishTarget *target = user_data;
	PublishFanout *fanout = target->fanout;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) messages = tether_connection_queue_finish (TETHER_CONNECTION (source),
	                                                                 result, &error);
	GVariantBuilder builder;

	if (messages != NULL)
		g_array_index (fanout->ids, guint64, target->index) =
		        tether_message_get_id (g_ptr_array_index (messages, 0));
	else if (fanout->error == NULL)
		fanout->error = g_steal_pointer (&error);
	if (--fanout->n_pending > 0)
		return;

	if (fanout->error != NULL) {
		g_dbus_method_invocation_return_gerror (fanout->invocation, fanout->error);
	} else {
		g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ot)"));
		for (guint i = 0; i < fanout->paths->len; i++)
			g_variant_builder_add (&builder, "(ot)",
			                       g_ptr_array_index (fanout->paths, i),
			                       g_array_index (fanout->ids, guint64, i));
		tether_dbus_tether1_complete_publish (fanout->skeleton, fanout->invocation,
		                                      g_variant_builder_end (&builder));
	}
	g_object_unref (fanout->skeleton);
	g_object_unref (fanout->invocation);
	g_ptr_array_unref (fanout->paths);
	g_array_unref (fanout->ids);
	g_clear_error (&fanout->error);
	g_free (fanout);
}

static gboolean
handle_publish (TetherDBusTether1 *skeleton, GDBusMethodInvocation *invocation, const gchar *kind,
                GVariant *payload, GVariant *options, TetherManager *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) ids = sorted_connection_ids (self);
	g_autoptr(GPtrArray) targets = g_ptr_array_new ();
	g_autoptr(GPtrArray) batches =
	                   g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
	GVariantBuilder builder;
	g_autoptr(GVariant) batch = NULL;
	PublishFanout *fanout;

	g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(saya{sv})"));
	g_variant_builder_add (&builder, "(s@ay@a{sv})", kind, payload, options);
	batch = g_variant_ref_sink (g_variant_builder_end (&builder));

	/* checked against every target first, refused whole if one refuses */
	for (guint i = 0; i < ids->len; i++) {
		TetherConnection *connection =
		        g_hash_table_lookup (self->connections, ids->pdata[i]);
		GPtrArray *messages;

		if (!tether_connection_get_enabled (connection))
			continue;
		messages = tether_connection_check_publish (connection, batch, NULL, &error);
		if (messages == NULL ||
		    !tether_connection_check_room (connection, messages, &error)) {
			if (messages != NULL)
				g_ptr_array_unref (messages);
			g_prefix_error (&error, _("connection '%s': "), (gchar *) ids->pdata[i]);
			g_dbus_method_invocation_return_gerror (invocation, error);
			return TRUE;
		}
		g_ptr_array_add (targets, connection);
		g_ptr_array_add (batches, messages);
	}
	if (targets->len == 0) {
		g_dbus_method_invocation_return_error_literal (
		        invocation, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
		        _("no connection is enabled: add one with 'tetherctl connection add'"));
		return TRUE;
	}

	/* answered once every target has the message on disk */
	fanout = g_new0 (PublishFanout, 1);
	fanout->skeleton = g_object_ref (skeleton);
	fanout->invocation = g_object_ref (invocation);
	fanout->paths = g_ptr_array_new_with_free_func (g_free);
	fanout->ids = g_array_sized_new (FALSE, TRUE, sizeof (guint64), targets->len);
	g_array_set_size (fanout->ids, targets->len);
	fanout->n_pending = targets->len;
	for (guint i = 0; i < targets->len; i++) {
		TetherConnection *connection = g_ptr_array_index (targets, i);
		PublishTarget *target = g_new0 (PublishTarget, 1);

		g_ptr_array_add (fanout->paths,
		                 g_strdup (tether_connection_get_object_path (connection)));
		target->fanout = fanout;
		target->index = i;
		tether_connection_queue_async (connection, g_ptr_array_index (batches, i),
		                               publish_queued_cb, target);
	}
	return TRUE;
}

static gboolean
handle_add_trust_anchor (TetherDBusTether1 *skeleton, GDBusMethodInvocation *invocation,
                         const gchar *name, GVariant *data, GVariant *options, TetherManager *self)
{
	static const TetherOptionSpec specs[] = { { "replace", "b" } };
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes = g_variant_get_data_as_bytes (data);
	g_auto(GStrv) warnings = NULL;
	gboolean replace = FALSE;
	TetherAnchor *anchor;

	if (!tether_options_check (options, specs, G_N_ELEMENTS (specs), "options", &error)) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	g_variant_lookup (options, "replace", "b", &replace);
	anchor = tether_anchor_store_add (self->anchors, name, bytes, replace, &warnings, &error);
	if (anchor == NULL) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	for (guint i = 0; warnings[i] != NULL; i++)
		g_warning ("trust anchor %s: %s", name, warnings[i]);
	refresh_properties (self);
	tether_dbus_tether1_complete_add_trust_anchor (skeleton, invocation,
	                                               tether_anchor_get_object_path (anchor),
	                                               (const gchar *const *) warnings);
	return TRUE;
}

static gboolean
handle_remove_trust_anchor (TetherDBusTether1 *skeleton, GDBusMethodInvocation *invocation,
                            const gchar *name, TetherManager *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) ids = sorted_connection_ids (self);
	g_autoptr(GPtrArray) users = g_ptr_array_new ();

	if (tether_anchor_store_lookup (self->anchors, name) == NULL &&
	    !tether_name_check (name, _("trust anchor"), &error)) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	for (guint i = 0; i < ids->len; i++) {
		TetherConnection *connection =
		        g_hash_table_lookup (self->connections, ids->pdata[i]);
		g_auto(GStrv) names = tether_connection_dup_anchor_names (connection);
		if (g_strv_contains ((const gchar *const *) names, name))
			g_ptr_array_add (users, ids->pdata[i]);
	}
	if (users->len > 0) {
		g_autofree gchar *list = NULL;
		g_ptr_array_add (users, NULL);
		list = g_strjoinv ("', '", (gchar **) users->pdata);
		g_dbus_method_invocation_return_error (
		        invocation, TETHER_ERROR, TETHER_ERROR_IN_USE,
		        _("trust anchor '%s' is used by connection '%s': change the connection's "
		           "anchors first"),
		           name, list);
		return TRUE;
	}
	if (!tether_anchor_store_remove (self->anchors, name, &error)) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	refresh_properties (self);
	tether_dbus_tether1_complete_remove_trust_anchor (skeleton, invocation);
	return TRUE;
}

static void
test_trust_anchor_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) invocation = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) report = tether_tls_probe_finish (result, &error);

	if (report == NULL) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return;
	}
	g_dbus_method_invocation_return_value (invocation, g_variant_new ("(@a{sv})", report));
}

static gboolean
handle_test_trust_anchor (TetherDBusTether1 *skeleton, GDBusMethodInvocation *invocation,
                          const gchar *name, const gchar *host, guint16 port, GVariant *options,
                          TetherManager *self)
{
	static const TetherOptionSpec specs[] = {
		{ "sni", "s" },
		{ "alpn", "as" },
		{ "identity", "s" },
	};
	g_autoptr(GError) error = NULL;
	TetherAnchor *anchor = tether_anchor_store_lookup (self->anchors, name);
	const gchar *sni = NULL;
	const gchar *identity_name = "device";
	g_autofree const gchar **alpn = NULL;
	TetherIdentity *identity;
	const gchar *cert_file = NULL;
	const gchar *key_file = NULL;

	if (anchor == NULL && !tether_name_check (name, _("trust anchor"), &error)) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	if (!tether_options_check (options, specs, G_N_ELEMENTS (specs), "options", &error)) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	if (anchor == NULL) {
		g_dbus_method_invocation_return_error (invocation, TETHER_ERROR,
		                                       TETHER_ERROR_NOT_FOUND,
		                                       _("there is no trust anchor '%s'"), name);
		return TRUE;
	}
	if (!tether_endpoint_parse (host, NULL, NULL, &error) || port == 0) {
		if (error == NULL)
			g_set_error_literal (&error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			                     _("the port must be from 1 to 65535"));
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	g_variant_lookup (options, "sni", "&s", &sni);
	g_variant_lookup (options, "alpn", "^a&s", &alpn);
	g_variant_lookup (options, "identity", "&s", &identity_name);
	if (sni == NULL && !g_hostname_is_ip_address (host))
		sni = host;

	/* servers that want a client certificate see the identity's, if it has one */
	identity = tether_identity_store_lookup (self->identities, identity_name, FALSE, NULL);
	if (identity != NULL && tether_identity_has_certificate (identity)) {
		cert_file = tether_identity_get_chain_path (identity);
		key_file = tether_identity_get_key_path (identity);
	}
	tether_tls_probe_async (host, port, sni, alpn, tether_anchor_get_pem (anchor), name,
	                        cert_file, key_file, TETHER_TEST_TIMEOUT, NULL,
	                        test_trust_anchor_cb, g_object_ref (invocation));
	return TRUE;
}

/* the enabled connections whose session uses the identity, for its pending pair's verdict */
static GStrv
identity_users_cb (const gchar *identity, gpointer user_data)
{
	TetherManager *self = user_data;
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
	GHashTableIter iter;
	gpointer key;
	gpointer value;

	g_hash_table_iter_init (&iter, self->connections);
	while (g_hash_table_iter_next (&iter, &key, &value)) {
		if (tether_connection_get_enabled (value) &&
		    g_strcmp0 (tether_connection_get_session_identity_name (value), identity) == 0)
			g_strv_builder_add (builder, key);
	}
	return g_strv_builder_end (builder);
}

/* an identity's active or pending pair changed: its users reconnect where they must */
static void
identity_pair_changed_cb (TetherIdentityStore *store, const gchar *identity, TetherManager *self)
{
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init (&iter, self->connections);
	while (g_hash_table_iter_next (&iter, NULL, &value))
		tether_connection_identity_changed (value, identity);
}

static gboolean
handle_import_identity (TetherDBusTether1 *skeleton, GDBusMethodInvocation *invocation,
                        const gchar *identity, GVariant *key, GVariant *chain, GVariant *options,
                        TetherManager *self)
{
	static const TetherOptionSpec specs[] = { { "password", "s" } };
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) key_bytes = g_variant_get_data_as_bytes (key);
	g_autoptr(GBytes) chain_bytes = g_variant_get_data_as_bytes (chain);
	g_auto(GStrv) warnings = NULL;
	const gchar *password = NULL;

	if (!tether_options_check (options, specs, G_N_ELEMENTS (specs), "options", &error)) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	g_variant_lookup (options, "password", "&s", &password);
	warnings = tether_identity_store_import (self->identities, identity, key_bytes, chain_bytes,
	                                         password, &error);
	if (warnings == NULL) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	for (guint i = 0; warnings[i] != NULL; i++)
		g_warning ("identity %s: %s", identity, warnings[i]);
	refresh_properties (self);
	tether_dbus_tether1_complete_import_identity (skeleton, invocation,
	                                              (const gchar *const *) warnings);
	return TRUE;
}

static gboolean
handle_remove_identity (TetherDBusTether1 *skeleton, GDBusMethodInvocation *invocation,
                        const gchar *identity, TetherManager *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) ids = sorted_connection_ids (self);
	g_autoptr(GPtrArray) users = g_ptr_array_new ();

	if (tether_identity_store_lookup (self->identities, identity, FALSE, &error) == NULL) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	for (guint i = 0; i < ids->len; i++) {
		TetherConnection *connection =
		        g_hash_table_lookup (self->connections, ids->pdata[i]);
		if (g_strcmp0 (tether_connection_get_identity_name (connection), identity) == 0 ||
		    g_strcmp0 (tether_connection_get_session_identity_name (connection),
		               identity) == 0)
			g_ptr_array_add (users, ids->pdata[i]);
	}
	if (users->len > 0) {
		g_autofree gchar *list = NULL;
		g_ptr_array_add (users, NULL);
		list = g_strjoinv ("', '", (gchar **) users->pdata);
		g_dbus_method_invocation_return_error (
		        invocation, TETHER_ERROR, TETHER_ERROR_IN_USE,
		        _("identity '%s' is used by connection '%s': give the connection another "
		          "identity or remove it first"),
		           identity, list);
		return TRUE;
	}
	if (!tether_identity_store_remove (self->identities, identity, &error)) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	refresh_properties (self);
	tether_dbus_tether1_complete_remove_identity (skeleton, invocation);
	return TRUE;
}

static gboolean
handle_create_identity_request (TetherDBusTether1 *skeleton, GDBusMethodInvocation *invocation,
                                const gchar *identity, GVariant *options, TetherManager *self)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *csr =
	        tether_identity_store_create_request (self->identities, identity, options, &error);

	if (csr == NULL) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	refresh_properties (self);
	tether_dbus_tether1_complete_create_identity_request (skeleton, invocation, csr);
	return TRUE;
}

static gboolean
handle_install_identity (TetherDBusTether1 *skeleton, GDBusMethodInvocation *invocation,
                         const gchar *identity, GVariant *chain, GVariant *options,
                         TetherManager *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes = g_variant_get_data_as_bytes (chain);
	g_auto(GStrv) warnings = NULL;

	if (!tether_options_check (options, NULL, 0, "options", &error)) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	warnings = tether_identity_store_install (self->identities, identity, bytes, &error);
	if (warnings == NULL) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	for (guint i = 0; warnings[i] != NULL; i++)
		g_warning ("identity %s: %s", identity, warnings[i]);
	refresh_properties (self);
	tether_dbus_tether1_complete_install_identity (skeleton, invocation,
	                                               (const gchar *const *) warnings);
	return TRUE;
}

static gboolean
handle_get_cloud (TetherDBusTether1 *skeleton, GDBusMethodInvocation *invocation, const gchar *name,
                  TetherManager *self)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *escaped = NULL;
	g_autofree gchar *path = NULL;

	if (lookup_cloud (self, name, &error) == NULL) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	escaped = g_dbus_escape_object_path (name);
	path = g_strdup_printf (TETHER_MANAGER_PATH "/clouds/%s", escaped);
	tether_dbus_tether1_complete_get_cloud (skeleton, invocation, path);
	return TRUE;
}

static gboolean
handle_get_connection (TetherDBusTether1 *skeleton, GDBusMethodInvocation *invocation,
                       const gchar *id, TetherManager *self)
{
	g_autoptr(GError) error = NULL;
	TetherConnection *connection = lookup_connection (self, id, &error);

	if (connection == NULL) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	tether_dbus_tether1_complete_get_connection (
	        skeleton, invocation, tether_connection_get_object_path (connection));
	return TRUE;
}

static gboolean
handle_get_trust_anchor (TetherDBusTether1 *skeleton, GDBusMethodInvocation *invocation,
                         const gchar *name, TetherManager *self)
{
	TetherAnchor *anchor = tether_anchor_store_lookup (self->anchors, name);
	g_autoptr(GError) error = NULL;

	if (anchor == NULL && !tether_name_check (name, _("trust anchor"), &error)) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	if (anchor == NULL) {
		g_dbus_method_invocation_return_error (invocation, TETHER_ERROR,
		                                       TETHER_ERROR_NOT_FOUND,
		                                       _("there is no trust anchor '%s'"), name);
		return TRUE;
	}
	tether_dbus_tether1_complete_get_trust_anchor (skeleton, invocation,
	                                               tether_anchor_get_object_path (anchor));
	return TRUE;
}

static gboolean
handle_get_identity (TetherDBusTether1 *skeleton, GDBusMethodInvocation *invocation,
                     const gchar *name, TetherManager *self)
{
	g_autoptr(GError) error = NULL;
	TetherIdentity *identity =
	        tether_identity_store_lookup (self->identities, name, FALSE, &error);

	if (identity == NULL) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	tether_dbus_tether1_complete_get_identity (skeleton, invocation,
	                                           tether_identity_get_object_path (identity));
	return TRUE;
}

static gboolean
export_cloud (TetherManager *self, TetherCloud *cloud, GError **error)
{
	g_autoptr(TetherDBusCloud1) skeleton = tether_dbus_cloud1_skeleton_new ();
	const gchar *name = tether_cloud_get_name (cloud);
	g_autofree gchar *escaped = g_dbus_escape_object_path (name);
	g_autofree gchar *path = g_strdup_printf (TETHER_MANAGER_PATH "/clouds/%s", escaped);
	GPtrArray *bundled = tether_cloud_get_bundled_anchors (cloud);
	GPtrArray *kinds = tether_cloud_get_kinds (cloud);
	GPtrArray *publish_options = tether_cloud_get_publish_options (cloud);
	g_autoptr(GPtrArray) anchor_paths = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GStrvBuilder) default_anchors = g_strv_builder_new ();
	g_auto(GStrv) default_anchors_v = NULL;
	g_autoptr(GPtrArray) kinds_v = g_ptr_array_new ();
	g_autoptr(GPtrArray) publish_v = g_ptr_array_new ();

	/* its bundled anchors join the store, read-only */
	for (guint i = 0; i < bundled->len; i++) {
		TetherBundledAnchor *anchor = g_ptr_array_index (bundled, i);
		g_autoptr(GError) error_local = NULL;
		g_autofree gchar *anchor_name = g_strdup_printf ("%s.%s", name, anchor->slug);
		TetherAnchor *added;

		if (!tether_anchor_store_add_bundled (self->anchors, name, anchor->slug,
		                                      anchor->pem, &error_local)) {
			g_warning ("cloud %s: bundled anchor %s refused: %s", name, anchor->slug,
			           error_local->message);
			continue;
		}
		added = tether_anchor_store_lookup (self->anchors, anchor_name);
		g_ptr_array_add (anchor_paths, g_strdup (tether_anchor_get_object_path (added)));
		if (anchor->in_default_set)
			g_strv_builder_add (default_anchors, anchor_name);
	}
	g_ptr_array_add (anchor_paths, NULL);
	default_anchors_v = g_strv_builder_end (default_anchors);

	/* NULL-terminated views; g_ptr_array_copy() would take the free function too */
	for (guint i = 0; i < kinds->len; i++)
		g_ptr_array_add (kinds_v, g_ptr_array_index (kinds, i));
	g_ptr_array_add (kinds_v, NULL);
	for (guint i = 0; i < publish_options->len; i++)
		g_ptr_array_add (publish_v, g_ptr_array_index (publish_options, i));
	g_ptr_array_add (publish_v, NULL);

	tether_dbus_cloud1_set_name (skeleton, name);
	tether_dbus_cloud1_set_description (skeleton, tether_cloud_get_description (cloud));
	tether_dbus_cloud1_set_kinds (skeleton, (const gchar *const *) kinds_v->pdata);
	tether_dbus_cloud1_set_options (skeleton, tether_cloud_get_options (cloud));
	tether_dbus_cloud1_set_publish_options (skeleton, (const gchar *const *) publish_v->pdata);
	tether_dbus_cloud1_set_bundled_anchors (skeleton,
	                                        (const gchar *const *) anchor_paths->pdata);
	tether_dbus_cloud1_set_default_anchors (skeleton, (const gchar *const *) default_anchors_v);
	tether_dbus_cloud1_set_default_endpoint (skeleton,
	                                         tether_cloud_get_default_endpoint (cloud) != NULL
	                                                 ? tether_cloud_get_default_endpoint (cloud)
	                                                 : "");
	tether_dbus_cloud1_set_default_port (skeleton, tether_cloud_get_default_port (cloud));
	if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (skeleton), self->bus,
	                                       path, error))
		return FALSE;
	g_ptr_array_add (self->cloud_skeletons, g_steal_pointer (&skeleton));
	return TRUE;
}

static gboolean
load_clouds (TetherManager *self, GError **error)
{
	g_auto(GStrv) dirs = tether_plugin_loader_get_dirs ();
	g_autoptr(GPtrArray) clouds = tether_plugin_loader_load ((const gchar *const *) dirs);
	g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);

	for (guint i = 0; i < clouds->len; i++) {
		TetherCloud *cloud = g_ptr_array_index (clouds, i);
		const gchar *name = tether_cloud_get_name (cloud);
		g_autofree gchar *escaped = g_dbus_escape_object_path (name);

		if (!export_cloud (self, cloud, error))
			return FALSE;
		g_hash_table_insert (self->clouds, g_strdup (name), g_object_ref (cloud));
		g_ptr_array_add (paths,
		                 g_strdup_printf (TETHER_MANAGER_PATH "/clouds/%s", escaped));
	}
	if (clouds->len == 0) {
		g_autofree gchar *joined = g_strjoinv (":", dirs);
		g_warning ("no cloud plugin found in %s: connections cannot be made", joined);
	}
	g_ptr_array_add (paths, NULL);
	tether_dbus_tether1_set_clouds (self->skeleton, (const gchar *const *) paths->pdata);
	return TRUE;
}

TetherManager *
tether_manager_new (GDBusConnection *bus, TetherAuth *auth, const gchar *state_dir,
                    const gchar *config_file, GError **error)
{
	g_autoptr(TetherManager) self = g_object_new (TETHER_TYPE_MANAGER, NULL);
	g_autoptr(GError) read_only = NULL;

	self->bus = g_object_ref (bus);
	self->auth = g_object_ref (auth);
	self->state_dir = g_strdup (state_dir);
	self->backend = tether_settings_backend_new (config_file, error);
	if (self->backend == NULL)
		return NULL;
	/* it runs, and each change is refused with the same words */
	if (!tether_settings_check_writable (config_file, &read_only))
		g_warning ("the configuration is read-only: %s; until then every change to "
		           "connections and identities is refused",
		           read_only->message);
	self->settings = tether_settings_new_root (self->backend, error);
	if (self->settings == NULL)
		return NULL;
	self->anchors = tether_anchor_store_new (state_dir, bus, error);
	if (self->anchors == NULL)
		return NULL;
	self->identities =
	        tether_identity_store_new (state_dir, bus, self->settings, self->anchors);
	tether_identity_store_set_users_func (self->identities, identity_users_cb, self);

	tether_dbus_tether1_set_version (self->skeleton, PACKAGE_VERSION);
	if (!load_clouds (self, error))
		return NULL;

	/* the admin methods are authorised before any handler sees them */
	tether_auth_attach (self->auth, G_DBUS_INTERFACE_SKELETON (self->skeleton));
	g_signal_connect (self->skeleton, "handle-add-connection",
	                  G_CALLBACK (handle_add_connection), self);
	g_signal_connect (self->skeleton, "handle-update-connection",
	                  G_CALLBACK (handle_update_connection), self);
	g_signal_connect (self->skeleton, "handle-remove-connection",
	                  G_CALLBACK (handle_remove_connection), self);
	g_signal_connect (self->skeleton, "handle-publish", G_CALLBACK (handle_publish), self);
	g_signal_connect (self->skeleton, "handle-add-trust-anchor",
	                  G_CALLBACK (handle_add_trust_anchor), self);
	g_signal_connect (self->skeleton, "handle-remove-trust-anchor",
	                  G_CALLBACK (handle_remove_trust_anchor), self);
	g_signal_connect (self->skeleton, "handle-test-trust-anchor",
	                  G_CALLBACK (handle_test_trust_anchor), self);
	g_signal_connect (self->skeleton, "handle-create-identity-request",
	                  G_CALLBACK (handle_create_identity_request), self);
	g_signal_connect (self->skeleton, "handle-install-identity",
	                  G_CALLBACK (handle_install_identity), self);
	g_signal_connect (self->skeleton, "handle-import-identity",
	                  G_CALLBACK (handle_import_identity), self);
	g_signal_connect (self->skeleton, "handle-remove-identity",
	                  G_CALLBACK (handle_remove_identity), self);
	g_signal_connect (self->skeleton, "handle-get-cloud", G_CALLBACK (handle_get_cloud), self);
	g_signal_connect (self->skeleton, "handle-get-connection",
	                  G_CALLBACK (handle_get_connection), self);
	g_signal_connect (self->skeleton, "handle-get-trust-anchor",
	                  G_CALLBACK (handle_get_trust_anchor), self);
	g_signal_connect (self->skeleton, "handle-get-identity", G_CALLBACK (handle_get_identity),
	                  self);
	g_signal_connect_swapped (self->anchors, "changed", G_CALLBACK (refresh_properties), self);
	g_signal_connect_swapped (self->identities, "changed", G_CALLBACK (refresh_properties),
	                          self);
	g_signal_connect (self->identities, "pair-changed", G_CALLBACK (identity_pair_changed_cb),
	                  self);
	if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->skeleton), bus,
	                                       TETHER_MANAGER_PATH, error))
		return NULL;

	sync_connections (self);
	g_signal_connect (self->settings, "changed::connections", G_CALLBACK (settings_changed_cb),
	                  self);
	/* after sync_connections(), so that UsedBy says which anchors are in use */
	tether_anchor_store_watch_expiry (self->anchors, self->settings);
	return g_steal_pointer (&self);
}

static void
tether_manager_dispose (GObject *object)
{
	TetherManager *self = TETHER_MANAGER (object);

	if (self->settings != NULL)
		g_signal_handlers_disconnect_by_data (self->settings, self);
	if (self->anchors != NULL)
		g_signal_handlers_disconnect_by_data (self->anchors, self);
	if (self->identities != NULL)
		g_signal_handlers_disconnect_by_data (self->identities, self);
	if (self->connections != NULL) {
		GHashTableIter iter;
		gpointer value;
		g_hash_table_iter_init (&iter, self->connections);
		while (g_hash_table_iter_next (&iter, NULL, &value))
			tether_connection_shutdown (value);
		g_hash_table_remove_all (self->connections);
	}
	G_OBJECT_CLASS (tether_manager_parent_class)->dispose (object);
}

static void
tether_manager_finalize (GObject *object)
{
	TetherManager *self = TETHER_MANAGER (object);

	g_hash_table_unref (self->connections);
	g_hash_table_unref (self->clouds);
	g_ptr_array_unref (self->cloud_skeletons);
	g_clear_object (&self->anchors);
	g_clear_object (&self->identities);
	g_clear_object (&self->settings);
	g_clear_object (&self->backend);
	g_clear_object (&self->skeleton);
	g_clear_object (&self->bus);
	g_clear_object (&self->auth);
	g_free (self->state_dir);
	G_OBJECT_CLASS (tether_manager_parent_class)->finalize (object);
}

static void
tether_manager_class_init (TetherManagerClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->dispose = tether_manager_dispose;
	object_class->finalize = tether_manager_finalize;
}

static void
tether_manager_init (TetherManager *self)
{
	self->skeleton = tether_dbus_tether1_skeleton_new ();
	self->clouds = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
	self->connections = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
	self->cloud_skeletons = g_ptr_array_new_with_free_func (g_object_unref);
}
