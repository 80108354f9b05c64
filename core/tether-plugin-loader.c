/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <gmodule.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tether-error.h"
#include "tether-plugin-loader.h"
#include "tether-plugin.h"

GStrv
tether_plugin_loader_get_dirs (void)
{
	const gchar *path = g_getenv ("TETHER_PLUGIN_PATH");

	if (path != NULL && path[0] != '\0')
		return g_strsplit (path, G_SEARCHPATH_SEPARATOR_S, -1);
	return g_strsplit (TETHER_PLUGINDIR, G_SEARCHPATH_SEPARATOR_S, -1);
}

static gboolean
check_owner_and_mode (const gchar *path, gboolean is_dir, GError **error)
{
	GStatBuf st;

	if (g_lstat (path, &st) != 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot read '%s': %s"), path, g_strerror (errno));
		return FALSE;
	}
	if (!is_dir && !S_ISREG (st.st_mode)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_NOT_AUTHORIZED,
		             _("'%s' is not a regular file"), path);
		return FALSE;
	}
	if (st.st_uid != 0 && st.st_uid != getuid ()) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_NOT_AUTHORIZED,
		             _("'%s' is owned by user %u, not by root or the daemon's user"), path,
		                (guint) st.st_uid);
		return FALSE;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_NOT_AUTHORIZED,
		             _("'%s' is writable by group or others (mode %04o); "
		                "make it writable by its owner only"),
		                path, (guint) (st.st_mode & 07777));
		return FALSE;
	}
	return TRUE;
}

gboolean
tether_plugin_loader_check_file (const gchar *path, GError **error)
{
	g_autofree gchar *dir = g_path_get_dirname (path);

	if (!check_owner_and_mode (dir, TRUE, error))
		return FALSE;
	return check_owner_and_mode (path, FALSE, error);
}

static TetherCloud *
load_module (const gchar *path, GError **error)
{
	GModule *module;
	const TetherPluginInfo *(*get_info) (void) = NULL;
	const TetherPluginInfo *info;
	GType type;
	g_autoptr(TetherCloud) cloud = NULL;

	if (!tether_plugin_loader_check_file (path, error))
		return NULL;

	module = g_module_open (path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
	if (module == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot load: %s"), g_module_error ());
		return NULL;
	}
	if (!g_module_symbol (module, TETHER_PLUGIN_ENTRY_POINT, (gpointer *) &get_info) ||
	    get_info == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("not a tether plugin: it has no %s"), TETHER_PLUGIN_ENTRY_POINT);
		g_module_close (module);
		return NULL;
	}
	info = get_info ();
	if (info == NULL || info->abi_version != TETHER_PLUGIN_ABI_VERSION) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("built for plugin ABI %u, but this daemon has ABI %u: "
		                "rebuild the plugin"),
		                info != NULL ? info->abi_version : 0,
		                (guint) TETHER_PLUGIN_ABI_VERSION);
		g_module_close (module);
		return NULL;
	}

	/* types cannot be unregistered: the module stays */
	g_module_make_resident (module);
	type = info->get_type ();
	if (!g_type_is_a (type, TETHER_TYPE_CLOUD)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("its type %s is not a TetherCloud"), g_type_name (type));
		return NULL;
	}
	cloud = g_object_new (type, NULL);
	if (tether_cloud_get_name (cloud) == NULL) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		                     _("its cloud has no name"));
		return NULL;
	}
	return g_steal_pointer (&cloud);
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
	return g_strcmp0 (*(const gchar **) a, *(const gchar **) b);
}

GPtrArray *
tether_plugin_loader_load (const gchar *const *dirs)
{
	GPtrArray *clouds = g_ptr_array_new_with_free_func (g_object_unref);
	g_autoptr(GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);

	for (guint i = 0; dirs[i] != NULL; i++) {
		g_autoptr(GDir) dir = NULL;
		g_autoptr(GError) error = NULL;
		g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
		const gchar *entry;

		if (dirs[i][0] == '\0')
			continue;
		dir = g_dir_open (dirs[i], 0, &error);
		if (dir == NULL) {
			g_debug ("no plugins in %s: %s", dirs[i], error->message);
			continue;
		}
		while ((entry = g_dir_read_name (dir)) != NULL) {
			if (g_str_has_suffix (entry, "." G_MODULE_SUFFIX))
				g_ptr_array_add (files, g_build_filename (dirs[i], entry, NULL));
		}

		/* a stable order, whatever the file system's */
		g_ptr_array_sort (files, compare_strings);
		for (guint j = 0; j < files->len; j++) {
			const gchar *path = g_ptr_array_index (files, j);
			g_autoptr(GError) error_local = NULL;
			g_autoptr(TetherCloud) cloud = load_module (path, &error_local);
			const gchar *name;

			if (cloud == NULL) {
				g_warning ("plugin %s refused: %s", path, error_local->message);
				continue;
			}
			name = tether_cloud_get_name (cloud);
			if (g_hash_table_contains (names, name)) {
				g_warning ("plugin %s ignored: cloud '%s' is already loaded", path,
				           name);
				continue;
			}
			g_debug ("loaded cloud '%s' from %s", name, path);
			g_hash_table_add (names, (gpointer) name);
			g_ptr_array_add (clouds, g_steal_pointer (&cloud));
		}
	}
	return clouds;
}
