/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <sys/stat.h>

#include "tether-common.h"
#include "tether-error.h"

GPtrArray *
tether_hash_table_get_keys (GHashTable *table)
{
	GPtrArray *array = g_ptr_array_sized_new (g_hash_table_size (table));
	GHashTableIter iter;
	gpointer key;

	g_hash_table_iter_init (&iter, table);
	while (g_hash_table_iter_next (&iter, &key, NULL))
		g_ptr_array_add (array, key);
	return array;
}

GPtrArray *
tether_hash_table_get_values (GHashTable *table)
{
	GPtrArray *array = g_ptr_array_sized_new (g_hash_table_size (table));
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init (&iter, table);
	while (g_hash_table_iter_next (&iter, NULL, &value))
		g_ptr_array_add (array, value);
	return array;
}

void
tether_strv_builder_take (GStrvBuilder *builder, gchar *str)
{
	g_strv_builder_add (builder, str);
	g_free (str);
}

gboolean
tether_remove_tree (const gchar *path, GError **error)
{
	GStatBuf st;
	gboolean ok = TRUE;
	int saved;

	if (g_lstat (path, &st) != 0)
		return TRUE;
	if (S_ISDIR (st.st_mode)) {
		g_autoptr(GDir) dir = g_dir_open (path, 0, error);
		const gchar *name;

		if (dir == NULL)
			return FALSE;
		while ((name = g_dir_read_name (dir)) != NULL) {
			g_autofree gchar *child = g_build_filename (path, name, NULL);

			/* the first error is the one reported; the rest still goes */
			if (!tether_remove_tree (child, ok ? error : NULL))
				ok = FALSE;
		}
		if (g_rmdir (path) == 0)
			return ok;
	} else if (g_unlink (path) == 0) {
		return TRUE;
	}
	saved = errno;
	if (ok)
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot remove %s: %s"), path, g_strerror (saved));
	return FALSE;
}
