/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "tether-auth.h"

G_BEGIN_DECLS

#define TETHER_TYPE_MANAGER (tether_manager_get_type ())
G_DECLARE_FINAL_TYPE (TetherManager, tether_manager, TETHER, MANAGER, GObject)

/*
 * The daemon's core: loads the cloud plugins, the trust anchors, the
 * identities and the connections, and exports them all on @bus under
 * /org/tether/Tether1. @auth gates the admin methods of every object.
 */
TetherManager *tether_manager_new (GDBusConnection *bus, TetherAuth *auth, const gchar *state_dir,
                                   const gchar *config_file, GError **error);

G_END_DECLS
