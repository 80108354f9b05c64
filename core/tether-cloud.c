/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "tether-cloud.h"
#include "tether-error.h"

typedef struct {
	gchar *name;
	gchar *type;
	gchar *description;
} TetherCloudOption;

typedef struct {
	gchar *name;
	gchar *description;
	guint16 default_port;
	gchar *default_endpoint;
	GPtrArray *kinds;
	GPtrArray *options;         /* of TetherCloudOption */
	GPtrArray *publish_options; /* of gchar* */
	GPtrArray *bundled_anchors; /* of TetherBundledAnchor */
} TetherCloudPrivate;

G_DEFINE_TYPE_WITH_PRIVATE (TetherCloud, tether_cloud, G_TYPE_OBJECT)

#define GET_PRIVATE(o) ((TetherCloudPrivate *) tether_cloud_get_instance_private (o))

/* the publish options the core knows, and their types (DESIGN.md) */
static const struct {
	const gchar *name;
	const gchar *type;
} publish_option_types[] = {
	{ "topic", "s" },          { "expires-in", "u" }, { "component", "s" },
	{ "properties", "a{ss}" }, { "shadow", "s" },
};

static void
tether_cloud_option_free (TetherCloudOption *option)
{
	g_free (option->name);
	g_free (option->type);
	g_free (option->description);
	g_free (option);
}

static void
tether_bundled_anchor_free (TetherBundledAnchor *anchor)
{
	g_free (anchor->slug);
	g_bytes_unref (anchor->pem);
	g_free (anchor);
}

void
tether_cloud_set_name (TetherCloud *self, const gchar *name)
{
	TetherCloudPrivate *priv = GET_PRIVATE (self);
	g_return_if_fail (TETHER_IS_CLOUD (self));
	g_free (priv->name);
	priv->name = g_strdup (name);
}

void
tether_cloud_set_description (TetherCloud *self, const gchar *description)
{
	TetherCloudPrivate *priv = GET_PRIVATE (self);
	g_return_if_fail (TETHER_IS_CLOUD (self));
	g_free (priv->description);
	priv->description = g_strdup (description);
}

void
tether_cloud_set_default_port (TetherCloud *self, guint16 port)
{
	TetherCloudPrivate *priv = GET_PRIVATE (self);
	g_return_if_fail (TETHER_IS_CLOUD (self));
	priv->default_port = port;
}

void
tether_cloud_add_kind (TetherCloud *self, const gchar *kind)
{
	TetherCloudPrivate *priv = GET_PRIVATE (self);
	g_return_if_fail (TETHER_IS_CLOUD (self));
	g_ptr_array_add (priv->kinds, g_strdup (kind));
}

void
tether_cloud_add_option (TetherCloud *self, const gchar *name, const gchar *type_string,
                         const gchar *description)
{
	TetherCloudPrivate *priv = GET_PRIVATE (self);
	TetherCloudOption *option;

	g_return_if_fail (TETHER_IS_CLOUD (self));
	g_return_if_fail (g_variant_type_string_is_valid (type_string));

	option = g_new0 (TetherCloudOption, 1);
	option->name = g_strdup (name);
	option->type = g_strdup (type_string);
	option->description = g_strdup (description);
	g_ptr_array_add (priv->options, option);
}

void
tether_cloud_add_publish_option (TetherCloud *self, const gchar *name)
{
	TetherCloudPrivate *priv = GET_PRIVATE (self);
	gboolean known = FALSE;

	g_return_if_fail (TETHER_IS_CLOUD (self));
	for (guint i = 0; i < G_N_ELEMENTS (publish_option_types); i++)
		known |= g_str_equal (publish_option_types[i].name, name);
	g_return_if_fail (known);
	g_ptr_array_add (priv->publish_options, g_strdup (name));
}

void
tether_cloud_add_bundled_anchor (TetherCloud *self, const gchar *slug, GBytes *pem,
                                 gboolean in_default_set)
{
	TetherCloudPrivate *priv = GET_PRIVATE (self);
	TetherBundledAnchor *anchor;

	g_return_if_fail (TETHER_IS_CLOUD (self));
	anchor = g_new0 (TetherBundledAnchor, 1);
	anchor->slug = g_strdup (slug);
	anchor->pem = g_bytes_ref (pem);
	anchor->in_default_set = in_default_set;
	g_ptr_array_add (priv->bundled_anchors, anchor);
}

void
tether_cloud_set_default_endpoint (TetherCloud *self, const gchar *endpoint)
{
	TetherCloudPrivate *priv = GET_PRIVATE (self);
	g_return_if_fail (TETHER_IS_CLOUD (self));
	g_free (priv->default_endpoint);
	priv->default_endpoint = g_strdup (endpoint);
}

const gchar *
tether_cloud_get_default_endpoint (TetherCloud *self)
{
	g_return_val_if_fail (TETHER_IS_CLOUD (self), NULL);
	return GET_PRIVATE (self)->default_endpoint;
}

const gchar *
tether_cloud_get_name (TetherCloud *self)
{
	g_return_val_if_fail (TETHER_IS_CLOUD (self), NULL);
	return GET_PRIVATE (self)->name;
}

const gchar *
tether_cloud_get_description (TetherCloud *self)
{
	g_return_val_if_fail (TETHER_IS_CLOUD (self), NULL);
	return GET_PRIVATE (self)->description;
}

guint16
tether_cloud_get_default_port (TetherCloud *self)
{
	g_return_val_if_fail (TETHER_IS_CLOUD (self), 0);
	return GET_PRIVATE (self)->default_port;
}

GPtrArray *
tether_cloud_get_kinds (TetherCloud *self)
{
	g_return_val_if_fail (TETHER_IS_CLOUD (self), NULL);
	return GET_PRIVATE (self)->kinds;
}

static gboolean
str_array_contains (GPtrArray *array, const gchar *str)
{
	for (guint i = 0; i < array->len; i++) {
		if (g_strcmp0 (g_ptr_array_index (array, i), str) == 0)
			return TRUE;
	}
	return FALSE;
}

static gchar *
str_array_join (GPtrArray *array)
{
	g_autoptr(GString) str = g_string_new (NULL);
	for (guint i = 0; i < array->len; i++)
		g_string_append_printf (str, "%s%s", i ? ", " : "", (gchar *) array->pdata[i]);
	return g_string_free (g_steal_pointer (&str), FALSE);
}

gboolean
tether_cloud_has_kind (TetherCloud *self, const gchar *kind)
{
	g_return_val_if_fail (TETHER_IS_CLOUD (self), FALSE);
	return str_array_contains (GET_PRIVATE (self)->kinds, kind);
}

GVariant *
tether_cloud_get_options (TetherCloud *self)
{
	TetherCloudPrivate *priv = GET_PRIVATE (self);
	GVariantBuilder builder;

	g_return_val_if_fail (TETHER_IS_CLOUD (self), NULL);
	g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{s(ss)}"));
	for (guint i = 0; i < priv->options->len; i++) {
		TetherCloudOption *option = g_ptr_array_index (priv->options, i);
		g_variant_builder_add (&builder, "{s(ss)}", option->name, option->type,
		                       option->description != NULL ? option->description : "");
	}
	return g_variant_builder_end (&builder);
}

GPtrArray *
tether_cloud_get_publish_options (TetherCloud *self)
{
	g_return_val_if_fail (TETHER_IS_CLOUD (self), NULL);
	return GET_PRIVATE (self)->publish_options;
}

gboolean
tether_cloud_has_publish_option (TetherCloud *self, const gchar *name)
{
	g_return_val_if_fail (TETHER_IS_CLOUD (self), FALSE);
	return str_array_contains (GET_PRIVATE (self)->publish_options, name);
}

GPtrArray *
tether_cloud_get_bundled_anchors (TetherCloud *self)
{
	g_return_val_if_fail (TETHER_IS_CLOUD (self), NULL);
	return GET_PRIVATE (self)->bundled_anchors;
}

gboolean
tether_cloud_check_options (TetherCloud *self, GVariant *options, GError **error)
{
	TetherCloudPrivate *priv = GET_PRIVATE (self);
	TetherCloudClass *klass = TETHER_CLOUD_GET_CLASS (self);
	GVariantIter iter;
	const gchar *key;
	GVariant *value;

	g_return_val_if_fail (TETHER_IS_CLOUD (self), FALSE);

	/* names and types against what the plugin declared */
	g_variant_iter_init (&iter, options);
	while (g_variant_iter_loop (&iter, "{&sv}", &key, &value)) {
		TetherCloudOption *option = NULL;
		for (guint i = 0; i < priv->options->len; i++) {
			TetherCloudOption *tmp = g_ptr_array_index (priv->options, i);
			if (g_str_equal (tmp->name, key)) {
				option = tmp;
				break;
			}
		}
		if (option == NULL) {
			g_autoptr(GString) known = g_string_new (NULL);
			for (guint i = 0; i < priv->options->len; i++) {
				TetherCloudOption *tmp = g_ptr_array_index (priv->options, i);
				g_string_append_printf (known, "%s%s", i ? ", " : "", tmp->name);
			}
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			             _("cloud '%s' has no option '%s'; its options: %s"),
			                priv->name, key, known->len > 0 ? known->str : _("none"));
			g_variant_unref (value);
			return FALSE;
		}
		if (!g_variant_is_of_type (value, G_VARIANT_TYPE (option->type))) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			             _("cloud option '%s' must be of type '%s', not '%s'"), key,
			                option->type, g_variant_get_type_string (value));
			g_variant_unref (value);
			return FALSE;
		}
	}

	/* and their meaning, by the plugin */
	if (klass->check_options != NULL)
		return klass->check_options (self, options, error);
	return TRUE;
}

gboolean
tether_cloud_check_session (TetherCloud *self, const gchar *client_id, guint keepalive,
                            GError **error)
{
	TetherCloudClass *klass;

	g_return_val_if_fail (TETHER_IS_CLOUD (self), FALSE);

	klass = TETHER_CLOUD_GET_CLASS (self);
	if (klass->check_session != NULL)
		return klass->check_session (self, client_id, keepalive, error);
	return TRUE;
}

gboolean
tether_cloud_prepare_defaults (TetherCloud *self, TetherConnection *connection, GError **error)
{
	TetherCloudPrivate *priv = GET_PRIVATE (self);
	const gchar *client_id = tether_connection_get_client_id (connection);
	guint16 port = tether_connection_get_port (connection);
	g_autofree gchar *common_name = NULL;

	if (port == 0)
		port = priv->default_port;
	if (port == 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("endpoint '%s' names no port and cloud '%s' has no default port"),
		                tether_connection_get_host (connection), priv->name);
		return FALSE;
	}
	tether_connection_set_mqtt_host (connection, tether_connection_get_host (connection), port);

	if (client_id == NULL || client_id[0] == '\0') {
		common_name = tether_connection_dup_identity_common_name (connection, error);
		if (common_name == NULL)
			return FALSE;
		client_id = common_name;
	}
	tether_connection_set_mqtt_client_id (connection, client_id);
	tether_connection_set_mqtt_username (connection, NULL);
	tether_connection_set_mqtt_alpn (connection, NULL);
	tether_connection_set_mqtt_clean_session (connection, TRUE);
	tether_connection_clear_subscriptions (connection);
	return TRUE;
}

static void
tether_cloud_real_prepare_async (TetherCloud *self, TetherConnection *connection,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
	g_autoptr(GError) error = NULL;

	if (!tether_cloud_prepare_defaults (self, connection, &error)) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	g_task_return_boolean (task, TRUE);
}

static gboolean
tether_cloud_real_prepare_finish (TetherCloud *self, GAsyncResult *result, GError **error)
{
	return g_task_propagate_boolean (G_TASK (result), error);
}

void
tether_cloud_prepare_async (TetherCloud *self, TetherConnection *connection,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
	g_return_if_fail (TETHER_IS_CLOUD (self));
	TETHER_CLOUD_GET_CLASS (self)->prepare_async (self, connection, cancellable, callback,
	                                              user_data);
}

gboolean
tether_cloud_prepare_finish (TetherCloud *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (TETHER_IS_CLOUD (self), FALSE);
	return TETHER_CLOUD_GET_CLASS (self)->prepare_finish (self, result, error);
}

gboolean
tether_cloud_check_message (TetherCloud *self, TetherConnection *connection, TetherMessage *message,
                            GError **error)
{
	TetherCloudPrivate *priv = GET_PRIVATE (self);
	TetherCloudClass *klass = TETHER_CLOUD_GET_CLASS (self);
	const gchar *kind = tether_message_get_kind (message);
	GVariantIter iter;
	const gchar *key;
	GVariant *value;

	g_return_val_if_fail (TETHER_IS_CLOUD (self), FALSE);

	/* the kind */
	if (g_strcmp0 (kind, TETHER_KIND_RAW) == 0) {
		if (!str_array_contains (priv->publish_options, "topic")) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
			             _("cloud '%s' does not take raw topics"), priv->name);
			return FALSE;
		}
		if (tether_message_lookup_string (message, "topic") == NULL) {
			g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			                     _("kind 'raw' needs the 'topic' option"));
			return FALSE;
		}
	} else if (g_strcmp0 (kind, TETHER_KIND_RESPONSE) != 0 &&
	           !str_array_contains (priv->kinds, kind)) {
		g_autofree gchar *kinds = str_array_join (priv->kinds);
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("cloud '%s' takes no messages of kind '%s'; its kinds: %s"),
		                priv->name, kind, kinds);
		return FALSE;
	}

	/* the options: known to the cloud, of the right type */
	g_variant_iter_init (&iter, tether_message_get_options (message));
	while (g_strcmp0 (kind, TETHER_KIND_RESPONSE) != 0 &&
	       g_variant_iter_loop (&iter, "{&sv}", &key, &value)) {
		const gchar *type = NULL;
		if (!str_array_contains (priv->publish_options, key)) {
			g_autofree gchar *known = str_array_join (priv->publish_options);
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			             _("cloud '%s' takes no publish option '%s'; it takes: %s"),
			                priv->name, key, known[0] != '\0' ? known : _("none"));
			g_variant_unref (value);
			return FALSE;
		}
		for (guint i = 0; i < G_N_ELEMENTS (publish_option_types); i++) {
			if (g_str_equal (publish_option_types[i].name, key))
				type = publish_option_types[i].type;
		}
		if (!g_variant_is_of_type (value, G_VARIANT_TYPE (type))) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			             _("publish option '%s' must be of type '%s', not '%s'"), key,
			                type, g_variant_get_type_string (value));
			g_variant_unref (value);
			return FALSE;
		}
	}

	if (klass->check_message != NULL)
		return klass->check_message (self, connection, message, error);
	return TRUE;
}

gboolean
tether_cloud_map_message (TetherCloud *self, TetherConnection *connection, TetherMessage *message,
                          GError **error)
{
	TetherCloudClass *klass = TETHER_CLOUD_GET_CLASS (self);

	g_return_val_if_fail (TETHER_IS_CLOUD (self), FALSE);

	if (klass->map_message != NULL)
		return klass->map_message (self, connection, message, error);

	/* a cloud without rules of its own sends raw topics as they are */
	if (g_strcmp0 (tether_message_get_kind (message), TETHER_KIND_RAW) == 0) {
		tether_message_set_topic (message, tether_message_lookup_string (message, "topic"));
		return TRUE;
	}
	g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
	             _("cloud '%s' cannot map messages of kind '%s'"), GET_PRIVATE (self)->name,
	                tether_message_get_kind (message));
	return FALSE;
}

void
tether_cloud_handle_incoming (TetherCloud *self, TetherConnection *connection, const gchar *topic,
                              GBytes *payload)
{
	TetherCloudClass *klass = TETHER_CLOUD_GET_CLASS (self);

	g_return_if_fail (TETHER_IS_CLOUD (self));
	if (klass->handle_incoming != NULL)
		klass->handle_incoming (self, connection, topic, payload);
}

void
tether_cloud_connected (TetherCloud *self, TetherConnection *connection)
{
	TetherCloudClass *klass = TETHER_CLOUD_GET_CLASS (self);

	g_return_if_fail (TETHER_IS_CLOUD (self));
	if (klass->connected != NULL)
		klass->connected (self, connection);
}

gboolean
tether_cloud_session_refused (TetherCloud *self, TetherConnection *connection)
{
	TetherCloudClass *klass = TETHER_CLOUD_GET_CLASS (self);

	g_return_val_if_fail (TETHER_IS_CLOUD (self), FALSE);
	if (klass->session_refused != NULL)
		return klass->session_refused (self, connection);
	return FALSE;
}

gboolean
tether_cloud_reprovision (TetherCloud *self, TetherConnection *connection, GError **error)
{
	TetherCloudClass *klass = TETHER_CLOUD_GET_CLASS (self);

	g_return_val_if_fail (TETHER_IS_CLOUD (self), FALSE);
	if (klass->reprovision != NULL)
		return klass->reprovision (self, connection, error);
	g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
	             _("connection '%s' has nothing to provision again: %s has no provisioning "
	               "steps"),
	                tether_connection_get_id (connection), tether_cloud_get_name (self));
	return FALSE;
}

gchar *
tether_cloud_tls_failure_hint (TetherCloud *self, TetherConnection *connection, GVariant *report)
{
	TetherCloudClass *klass = TETHER_CLOUD_GET_CLASS (self);

	g_return_val_if_fail (TETHER_IS_CLOUD (self), NULL);
	if (klass->tls_failure_hint != NULL)
		return klass->tls_failure_hint (self, connection, report);
	return NULL;
}

static void
tether_cloud_finalize (GObject *object)
{
	TetherCloudPrivate *priv = GET_PRIVATE (TETHER_CLOUD (object));

	g_free (priv->name);
	g_free (priv->description);
	g_free (priv->default_endpoint);
	g_ptr_array_unref (priv->kinds);
	g_ptr_array_unref (priv->options);
	g_ptr_array_unref (priv->publish_options);
	g_ptr_array_unref (priv->bundled_anchors);
	G_OBJECT_CLASS (tether_cloud_parent_class)->finalize (object);
}

static void
tether_cloud_class_init (TetherCloudClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = tether_cloud_finalize;
	klass->prepare_async = tether_cloud_real_prepare_async;
	klass->prepare_finish = tether_cloud_real_prepare_finish;
}

static void
tether_cloud_init (TetherCloud *self)
{
	TetherCloudPrivate *priv = GET_PRIVATE (self);

	priv->kinds = g_ptr_array_new_with_free_func (g_free);
	priv->options = g_ptr_array_new_with_free_func ((GDestroyNotify) tether_cloud_option_free);
	priv->publish_options = g_ptr_array_new_with_free_func (g_free);
	priv->bundled_anchors =
	        g_ptr_array_new_with_free_func ((GDestroyNotify) tether_bundled_anchor_free);
}
