/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gsettingsbackend.h>
#include <glib/gi18n-lib.h>

#include "tether-error.h"
#include "tether-settings.h"

GSettingsBackend *
tether_settings_backend_new (const gchar *path, GError **error)
{
	g_autofree gchar *dir = g_path_get_dirname (path);

	if (g_mkdir_with_parents (dir, 0755) != 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot create the configuration directory %s: %s"), dir,
		                g_strerror (errno));
		return NULL;
	}
	return g_keyfile_settings_backend_new (path, "/org/tether/", "tether");
}

static gboolean
check_schema (const gchar *id, GError **error)
{
	GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
	g_autoptr(GSettingsSchema) schema = NULL;

	if (source != NULL)
		schema = g_settings_schema_source_lookup (source, id, TRUE);
	if (schema == NULL) {
		g_set_error (
		        error, TETHER_ERROR, TETHER_ERROR_FAILED,
		        _("the GSettings schema %s is not installed: install tether, or point "
		           "GSETTINGS_SCHEMA_DIR at a build's data directory"),
		           id);
		return FALSE;
	}
	return TRUE;
}

GSettings *
tether_settings_new_root (GSettingsBackend *backend, GError **error)
{
	if (!check_schema (TETHER_SCHEMA_ID, error) ||
	    !check_schema (TETHER_CONNECTION_SCHEMA_ID, error) ||
	    !check_schema (TETHER_IDENTITY_SCHEMA_ID, error))
		return NULL;
	return g_settings_new_with_backend (TETHER_SCHEMA_ID, backend);
}

GSettings *
tether_settings_new_connection (GSettingsBackend *backend, const gchar *id)
{
	g_autofree gchar *path = g_strdup_printf ("/org/tether/connections/%s/", id);
	GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
	g_autoptr(GSettingsSchema) schema = g_settings_schema_source_lookup (
	        source, TETHER_CONNECTION_SCHEMA_ID, TRUE);

	return g_settings_new_full (schema, backend, path);
}

void
tether_settings_reset_all (GSettings *settings)
{
	g_autoptr(GSettingsSchema) schema = NULL;
	g_auto(GStrv) keys = NULL;

	g_object_get (settings, "settings-schema", &schema, NULL);
	keys = g_settings_schema_list_keys (schema);
	g_settings_delay (settings);
	for (guint i = 0; keys[i] != NULL; i++)
		g_settings_reset (settings, keys[i]);
	g_settings_apply (settings);
}
