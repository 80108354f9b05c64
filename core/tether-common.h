/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* small helpers that GLib has only after 2.74 */

/* a container-only array of the table's keys / values */
GPtrArray *tether_hash_table_get_keys (GHashTable *table);
GPtrArray *tether_hash_table_get_values (GHashTable *table);
/* adds @str and frees it */
void tether_strv_builder_take (GStrvBuilder *builder, gchar *str);

/* removes a file, or a directory with all it holds, without following links; goes on past a
 * failure and reports the first; a path that is not there is not an error */
gboolean tether_remove_tree (const gchar *path, GError **error);

G_END_DECLS
