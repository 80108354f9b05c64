/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define TETHER_TYPE_ANCHOR_STORE (tether_anchor_store_get_type ())
G_DECLARE_FINAL_TYPE (TetherAnchorStore, tether_anchor_store, TETHER, ANCHOR_STORE, GObject)

/*
 * The trust anchors: those the operator added, kept under
 * STATE/anchors/NAME.pem, and those the cloud plugins bundle, read-only.
 * Each is exported on the bus as an org.tether.TrustAnchor1 object.
 */

typedef struct _TetherAnchor TetherAnchor;

/* loads the added anchors; a damaged file is reported and set aside */
TetherAnchorStore *tether_anchor_store_new (const gchar *state_dir, GDBusConnection *bus,
                                            GError **error);

/* the new anchor's warnings in @warnings (NULL-terminated, may be empty) */
TetherAnchor *tether_anchor_store_add (TetherAnchorStore *self, const gchar *name, GBytes *data,
                                       gboolean replace, GStrv *warnings, GError **error);
gboolean tether_anchor_store_add_bundled (TetherAnchorStore *self, const gchar *cloud,
                                          const gchar *slug, GBytes *pem, GError **error);
gboolean tether_anchor_store_remove (TetherAnchorStore *self, const gchar *name, GError **error);
TetherAnchor *tether_anchor_store_lookup (TetherAnchorStore *self, const gchar *name);
/*
 * Expiry: logs and emits Expiring on each anchor in use (UsedBy not empty) whose earliest
 * certificate expires within @days of @now (0 days: never); returns how many.
 */
guint tether_anchor_store_check_expiry (TetherAnchorStore *self, gint64 now, guint days);
/*
 * Runs that check now, once a day, when @settings' "anchor-expiry-days" changes, and for an
 * anchor when a connection starts to use it. Call once, after UsedBy has been set.
 */
void tether_anchor_store_watch_expiry (TetherAnchorStore *self, GSettings *settings);
/* of TetherAnchor, sorted by name */
GPtrArray *tether_anchor_store_list (TetherAnchorStore *self);

const gchar *tether_anchor_get_name (TetherAnchor *anchor);
const gchar *tether_anchor_get_object_path (TetherAnchor *anchor);
gboolean tether_anchor_is_bundled (TetherAnchor *anchor);
/* normalised PEM of its certificates */
GBytes *tether_anchor_get_pem (TetherAnchor *anchor);
/* the earliest expiry of its certificates */
gint64 tether_anchor_get_not_after (TetherAnchor *anchor);
void tether_anchor_set_used_by (TetherAnchor *anchor, const gchar *const *connections);

G_END_DECLS
