/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define TETHER_SCHEMA_ID            "org.tether"
#define TETHER_CONNECTION_SCHEMA_ID "org.tether.connection"
#define TETHER_IDENTITY_SCHEMA_ID   "org.tether.identity"

/*
 * GSettings on a key file: the daemon writes it, and an edit by hand applies
 * while the daemon runs (the backend watches the file). Fails when @path is
 * no file for settings (tether_settings_check_file).
 */
GSettingsBackend *tether_settings_backend_new (const gchar *path, GError **error);

/*
 * Whether @path can hold the settings: a key file, or nothing yet. A
 * directory, a device or a file that does not parse is refused: the backend
 * would read it as empty and replace it at the first change.
 */
gboolean tether_settings_check_file (const gchar *path, GError **error);
/*
 * Whether a change can be saved to @path. The key-file backend only warns
 * when a write fails, and keeps the change in memory until a restart loses
 * it; so every call that changes the settings asks this first. A write that
 * fails after the check passed (a full disk) is still only that warning:
 * GSettings reports no write error to its caller.
 */
gboolean tether_settings_check_writable (const gchar *path, GError **error);
/* the same for the file behind @settings; TRUE for a backend without a file */
gboolean tether_settings_check_can_save (GSettings *settings, GError **error);

/* the root settings; fails with a clear error when the schemas are missing */
GSettings *tether_settings_new_root (GSettingsBackend *backend, GError **error);
GSettings *tether_settings_new_connection (GSettingsBackend *backend, const gchar *id);
/* forgets every key of a relocatable schema instance */
void tether_settings_reset_all (GSettings *settings);

G_END_DECLS
