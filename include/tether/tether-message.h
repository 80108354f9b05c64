/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define TETHER_TYPE_MESSAGE (tether_message_get_type ())
G_DECLARE_FINAL_TYPE (TetherMessage, tether_message, TETHER, MESSAGE, GObject)

/**
 * TETHER_KIND_RAW:
 *
 * The kind of a message that names its own topic with the "topic" option.
 */
#define TETHER_KIND_RAW "raw"

/**
 * TETHER_KIND_RESPONSE:
 *
 * The kind the core gives to an answer to a command (`Respond`). Its options
 * hold "request-id" (s) and "status" (i). Applications cannot publish it.
 */
#define TETHER_KIND_RESPONSE "response"

TetherMessage *tether_message_new (const gchar *kind, GBytes *payload, GVariant *options);

guint64 tether_message_get_id (TetherMessage *self);
void tether_message_set_id (TetherMessage *self, guint64 id);
const gchar *tether_message_get_kind (TetherMessage *self);
GBytes *tether_message_get_payload (TetherMessage *self);
GVariant *tether_message_get_options (TetherMessage *self);
GVariant *tether_message_lookup_option (TetherMessage *self, const gchar *name,
                                        const GVariantType *type);
const gchar *tether_message_lookup_string (TetherMessage *self, const gchar *name);

/* what goes on the wire, set by the cloud's map_message */
const gchar *tether_message_get_topic (TetherMessage *self);
void tether_message_set_topic (TetherMessage *self, const gchar *topic);
GBytes *tether_message_get_wire_payload (TetherMessage *self);
void tether_message_set_wire_payload (TetherMessage *self, GBytes *payload);
gint tether_message_get_qos (TetherMessage *self);
void tether_message_set_qos (TetherMessage *self, gint qos);

/* wall-clock deadline, microseconds since the epoch (g_get_real_time), 0 for none */
gint64 tether_message_get_expires (TetherMessage *self);
void tether_message_set_expires (TetherMessage *self, gint64 expires);

G_END_DECLS
