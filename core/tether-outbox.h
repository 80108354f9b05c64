/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "tether-message.h"

G_BEGIN_DECLS

#define TETHER_TYPE_OUTBOX (tether_outbox_get_type ())
G_DECLARE_FINAL_TYPE (TetherOutbox, tether_outbox, TETHER, OUTBOX, GObject)

/*
 * A connection's queue of accepted messages, in order. A message is "sent"
 * once handed to the MQTT session and leaves the outbox when the broker
 * acknowledges it; after a connection loss every sent message is sent
 * again. Sent messages always form the head of the queue.
 *
 * This one keeps messages in memory; the durable outbox replaces it behind
 * the same functions.
 */

TetherOutbox *tether_outbox_new (guint64 max_messages, guint64 max_bytes);
void tether_outbox_set_limits (TetherOutbox *self, guint64 max_messages, guint64 max_bytes);

/*
 * Appends @messages (TetherMessage) whole, or nothing: gives each the next
 * id. TETHER_ERROR_QUEUE_FULL names the limit that would be passed.
 */
/* whether @messages would fit, without appending them */
gboolean tether_outbox_check_room (TetherOutbox *self, GPtrArray *messages, GError **error);
gboolean tether_outbox_append (TetherOutbox *self, GPtrArray *messages, GError **error);
/* the id the next appended message will get */
guint64 tether_outbox_peek_next_id (TetherOutbox *self);

/* the oldest message not yet sent, or NULL; it is marked sent */
TetherMessage *tether_outbox_next_unsent (TetherOutbox *self);
/* after a connection loss: send everything again */
void tether_outbox_unsend_all (TetherOutbox *self);
/* the broker acknowledged @id; FALSE if the outbox no longer has it */
gboolean tether_outbox_remove (TetherOutbox *self, guint64 id);
/* drops every queued message, returns their ids (guint64 in a GArray) */
GArray *tether_outbox_purge (TetherOutbox *self);

guint64 tether_outbox_get_length (TetherOutbox *self);
guint64 tether_outbox_get_bytes (TetherOutbox *self);
guint tether_outbox_get_n_sent (TetherOutbox *self);

G_END_DECLS
