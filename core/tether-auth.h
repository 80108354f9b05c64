/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* the polkit actions, one per admin area */
#define TETHER_AUTH_ACTION_ANCHORS     "org.tether.manage-trust-anchors"
#define TETHER_AUTH_ACTION_IDENTITIES  "org.tether.manage-identities"
#define TETHER_AUTH_ACTION_CONNECTIONS "org.tether.manage-connections"

typedef enum {
	/* root is allowed; everyone else asks polkit */
	TETHER_AUTH_MODE_SYSTEM,
	/* root and the daemon's own user are allowed; nobody else */
	TETHER_AUTH_MODE_SESSION,
} TetherAuthMode;

#define TETHER_TYPE_AUTH (tether_auth_get_type ())
G_DECLARE_FINAL_TYPE (TetherAuth, tether_auth, TETHER, AUTH, GObject)

TetherAuth *tether_auth_new (TetherAuthMode mode);
TetherAuthMode tether_auth_get_mode (TetherAuth *self);

/*
 * The polkit action that a D-Bus method needs, or NULL when the bus policy
 * alone decides (getters, Publish, PublishBatch, Respond). A method this
 * table does not know is an admin method of its area: new methods are
 * gated until someone decides otherwise.
 */
const gchar *tether_auth_get_action (const gchar *interface_name, const gchar *method_name);

/*
 * Gates every admin method of @skeleton: the caller is checked (without
 * blocking the main loop) before the method's handle- signal reaches the
 * daemon's handlers, and refused with org.tether.Error.NotAuthorized.
 * Call it before connecting any handler to @skeleton's handle- signals.
 */
void tether_auth_attach (TetherAuth *self, GDBusInterfaceSkeleton *skeleton);

G_END_DECLS
