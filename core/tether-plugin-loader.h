/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "tether-cloud.h"

G_BEGIN_DECLS

/*
 * The plugin directories: TETHER_PLUGIN_PATH (colon-separated) when it is
 * set, or else the installed plugin directory.
 */
GStrv tether_plugin_loader_get_dirs (void);

/*
 * Loads every module in @dirs and returns their clouds (TetherCloud), by
 * name; the first of two clouds with the same name wins. A module that is
 * unsafe (not owned by root or the daemon's user, writable by group or
 * others, or in such a directory), built for another plugin ABI, or broken
 * is skipped with a warning that says why; it never stops the daemon.
 */
GPtrArray *tether_plugin_loader_load (const gchar *const *dirs);

/* the checks on one file, exposed for tests */
gboolean tether_plugin_loader_check_file (const gchar *path, GError **error);

G_END_DECLS
