/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "tether-anchor-store.h"
#include "tether-auth.h"
#include "tether-cloud.h"
#include "tether-connection.h"
#include "tether-identity-store.h"

G_BEGIN_DECLS

/* the core's side of a connection; plugins see tether-connection.h only */

typedef struct {
	GDBusConnection *bus;
	TetherAuth *auth; /* gates the admin methods */
	TetherAnchorStore *anchors;
	TetherIdentityStore *identities;
	const gchar *state_dir;
} TetherConnectionContext;

TetherConnection *tether_connection_new (const gchar *id, TetherCloud *cloud, GSettings *settings,
                                         const TetherConnectionContext *context, GError **error);
const gchar *tether_connection_get_object_path (TetherConnection *self);
TetherCloud *tether_connection_get_cloud (TetherConnection *self);
GSettings *tether_connection_get_settings (TetherConnection *self);
/* the anchors it names, or the cloud's default set when it names none */
GStrv tether_connection_dup_anchor_names (TetherConnection *self);
gboolean tether_connection_get_enabled (TetherConnection *self);

/* starts connecting if enabled */
void tether_connection_start (TetherConnection *self);
/* disconnects and unexports, before removal */
void tether_connection_shutdown (TetherConnection *self);
/* after shutdown, when the connection is removed: its outbox goes from the disk */
gboolean tether_connection_discard_outbox (TetherConnection *self, GError **error);
/* the identity the MQTT session presents (a claim identity while provisioning) */
const gchar *tether_connection_get_session_identity_name (TetherConnection *self);
/* the identity's active or pending pair changed: reconnects when it must */
void tether_connection_identity_changed (TetherConnection *self, const gchar *identity);

/*
 * Publishing in two steps, so a fan-out to several connections is checked
 * everywhere before it is queued anywhere: new TetherMessage objects for
 * this connection from (kind, payload, options) tuples, checked against
 * the cloud's rules; then queued, all or nothing. @index_out names the
 * first refused message.
 */
GPtrArray *tether_connection_check_publish (TetherConnection *self, GVariant *messages,
                                            guint *index_out, GError **error);
gboolean tether_connection_check_room (TetherConnection *self, GPtrArray *messages, GError **error);
/* completes once the messages are on disk; returns them, with their ids */
void tether_connection_queue_async (TetherConnection *self, GPtrArray *messages,
                                    GAsyncReadyCallback callback, gpointer user_data);
GPtrArray *tether_connection_queue_finish (TetherConnection *self, GAsyncResult *result,
                                           GError **error);
guint64 tether_connection_get_queued (TetherConnection *self);
/* why the outbox cannot be used (a newer format, no access), or NULL */
const gchar *tether_connection_get_outbox_error (TetherConnection *self);

/*
 * Reconnecting: the backoff (seconds) after @backoff (0 before the first
 * attempt) is reconnect-min, then doubles up to reconnect-max; the wait for a
 * backoff is at least the backoff and at most half as long again (jitter, so
 * devices that lost the same broker come back apart), never past
 * reconnect-max. @random: any 32 random bits
 */
guint tether_connection_backoff_next (guint backoff, guint min_s, guint max_s);
guint tether_connection_backoff_delay_ms (guint backoff, guint max_s, guint32 random);

G_END_DECLS
