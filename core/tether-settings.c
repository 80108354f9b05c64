/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gsettingsbackend.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tether-error.h"
#include "tether-settings.h"

gboolean
tether_settings_check_file (const gchar *path, GError **error)
{
	g_autoptr(GKeyFile) keyfile = g_key_file_new ();
	g_autoptr(GError) local_error = NULL;
	GStatBuf st;

	if (g_stat (path, &st) != 0) {
		int saved_errno = errno;

		/* none yet: the first change makes it */
		if (saved_errno == ENOENT)
			return TRUE;
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot read the configuration %s: %s"), path,
		                g_strerror (saved_errno));
		return FALSE;
	}
	if (S_ISDIR (st.st_mode)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("the configuration %s is a directory: --config must name a file"),
		                path);
		return FALSE;
	}
	/* the backend replaces it with a new file: never a device or a pipe */
	if (!S_ISREG (st.st_mode)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("the configuration %s is not a regular file: --config must name a "
		               "file"),
		                path);
		return FALSE;
	}
	if (g_access (path, R_OK) != 0) {
		int saved_errno = errno;

		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot read the configuration %s: %s"), path,
		                g_strerror (saved_errno));
		return FALSE;
	}

	/* the backend would read it as empty, and its next write would replace what it holds */
	if (!g_key_file_load_from_file (keyfile, path, G_KEY_FILE_NONE, &local_error)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("the configuration %s is not a key file (%s): fix it, or move it "
		               "away to start with an empty one"),
		                path, local_error->message);
		return FALSE;
	}
	return TRUE;
}

gboolean
tether_settings_check_writable (const gchar *path, GError **error)
{
	g_autofree gchar *dir = g_path_get_dirname (path);
	const gchar *denied = dir;
	int saved_errno = 0;

	if (!tether_settings_check_file (path, error))
		return FALSE;

	/* the backend writes a new file beside it and renames that over it */
	if (g_access (dir, W_OK | X_OK) != 0) {
		saved_errno = errno;
	} else if (g_access (path, W_OK) != 0 && errno != ENOENT) {
		saved_errno = errno;
		denied = path;
	}
	if (saved_errno == EACCES || saved_errno == EPERM) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot save the configuration to %s: %s: give user %s write "
		               "access to %s"),
		                path, g_strerror (saved_errno), g_get_user_name (), denied);
		return FALSE;
	}
	if (saved_errno != 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot save the configuration to %s: %s"), path,
		                g_strerror (saved_errno));
		return FALSE;
	}
	return TRUE;
}

gboolean
tether_settings_check_can_save (GSettings *settings, GError **error)
{
	g_autoptr(GSettingsBackend) backend = NULL;
	g_autofree gchar *path = NULL;

	/* only the key-file backend has a file */
	g_object_get (settings, "backend", &backend, NULL);
	if (backend == NULL ||
	    g_object_class_find_property (G_OBJECT_GET_CLASS (backend), "filename") == NULL)
		return TRUE;
	g_object_get (backend, "filename", &path, NULL);
	return path == NULL || tether_settings_check_writable (path, error);
}

GSettingsBackend *
tether_settings_backend_new (const gchar *path, GError **error)
{
	g_autofree gchar *dir = g_path_get_dirname (path);

	if (!tether_settings_check_file (path, error))
		return NULL;
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
