/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "tether-message.h"

G_BEGIN_DECLS

#define TETHER_TYPE_OUTBOX (tether_outbox_get_type ())
G_DECLARE_FINAL_TYPE (TetherOutbox, tether_outbox, TETHER, OUTBOX, GObject)

/* the on-disk format this build writes, and the newest it reads */
#define TETHER_OUTBOX_FORMAT_VERSION 1

/* what an append does when the outbox is full */
typedef enum {
	TETHER_OUTBOX_POLICY_REFUSE,      /* QueueFull, naming the limit */
	TETHER_OUTBOX_POLICY_DROP_OLDEST, /* the oldest queued messages go, as "dropped" */
} TetherOutboxPolicy;

/*
 * A connection's queue of accepted messages, in order, kept durably in one
 * directory:
 *
 *   outbox.state                 format version and the next message id
 *   segment-<first id>.log       append-only records: length, CRC-32, a
 *                                serialised GVariant (id, expiry, kind,
 *                                options, payload)
 *   segment-<first id>.ack       the ids of its records that are done
 *                                (acknowledged, dropped, expired)
 *   quarantine/                  damaged data set aside, bounded
 *   dead-letter/                 messages the broker never took, bounded
 *
 * An append is durable before it completes: callers that arrive while a
 * write is in progress share the next one (group commit), and writes and
 * fdatasync() run on a worker thread, one at a time. A message is "sent"
 * once handed to the MQTT session and is done when the broker acknowledges
 * it; after a connection loss every sent message is sent again. Sent
 * messages always form the head of the queue. A segment goes when all its
 * records are done.
 *
 * Signals:
 *   "dropped" (guint64 id, const gchar *status): the outbox dropped a
 *   queued message on its own (drop-oldest at the limit)
 */

TetherOutbox *tether_outbox_new (const gchar *dir, const gchar *name);
/*
 * Reads what the directory holds (making it if needed) and queues it again
 * in order. Damaged data is logged, moved to quarantine/ and counted in
 * tether_outbox_get_damage(); the rest is kept. Fails only when the
 * directory cannot be used at all (a newer format, no access): then
 * nothing in it is read, changed or removed (but by tether_outbox_delete()),
 * and the outbox refuses every append with that error.
 */
gboolean tether_outbox_load (TetherOutbox *self, GError **error);
/* why the outbox cannot be used (what tether_outbox_load() failed with), or NULL */
const GError *tether_outbox_get_error (TetherOutbox *self);
/* what loading found damaged, one line each; NULL when nothing */
const gchar *const *tether_outbox_get_damage (TetherOutbox *self);
const gchar *tether_outbox_get_dir (TetherOutbox *self);

void tether_outbox_set_limits (TetherOutbox *self, guint64 max_messages, guint64 max_bytes,
                               TetherOutboxPolicy policy);
/* segments are started anew past this size (tests make it small) */
void tether_outbox_set_segment_size (TetherOutbox *self, gsize size);

/* whether @messages (TetherMessage) would be accepted, without appending them */
gboolean tether_outbox_check_room (TetherOutbox *self, GPtrArray *messages, GError **error);
/* the id the next appended message will get */
guint64 tether_outbox_peek_next_id (TetherOutbox *self);

/*
 * Gives @messages the next ids at once and writes them, whole or not at
 * all; completes once they are on disk, and only then are they queued.
 * Errors: TETHER_ERROR_QUEUE_FULL naming the limit, TETHER_ERROR_NO_SPACE,
 * TETHER_ERROR_FAILED.
 */
void tether_outbox_append_async (TetherOutbox *self, GPtrArray *messages,
                                 GAsyncReadyCallback callback, gpointer user_data);
gboolean tether_outbox_append_finish (TetherOutbox *self, GAsyncResult *result, GError **error);

/* the oldest message not yet sent, or NULL; it is marked sent */
TetherMessage *tether_outbox_next_unsent (TetherOutbox *self);
/* after a connection loss: send everything again */
void tether_outbox_unsend_all (TetherOutbox *self);
/* the last message handed out by next_unsent() was not sent after all: it goes next again */
gboolean tether_outbox_unsend (TetherOutbox *self, guint64 id);
/* the oldest queued message, sent or not, or NULL */
TetherMessage *tether_outbox_peek_oldest (TetherOutbox *self);
/* the oldest sent message (not yet done) and when it was sent (monotonic), or NULL */
TetherMessage *tether_outbox_peek_oldest_sent (TetherOutbox *self, gint64 *sent_at);
/* the broker acknowledged @id, or it was dropped: done; FALSE if the outbox no longer has it */
gboolean tether_outbox_remove (TetherOutbox *self, guint64 id);
/* moves @id to dead-letter/ (bounded, oldest first out) and removes it */
gboolean tether_outbox_dead_letter (TetherOutbox *self, guint64 id);
/* removes the unsent messages whose deadline has passed; returns them (TetherMessage) */
GPtrArray *tether_outbox_take_expired (TetherOutbox *self, gint64 now);
/* whether some queued message has a deadline */
gboolean tether_outbox_has_deadlines (TetherOutbox *self);
/* drops every queued message, on disk too; returns their ids (guint64 in a GArray) */
GArray *tether_outbox_purge (TetherOutbox *self);

/* waits for a write in progress and writes nothing more */
void tether_outbox_close (TetherOutbox *self);
/* closes, then removes the directory with everything in it */
gboolean tether_outbox_delete (TetherOutbox *self, GError **error);

guint64 tether_outbox_get_length (TetherOutbox *self);
guint64 tether_outbox_get_bytes (TetherOutbox *self);
guint tether_outbox_get_n_sent (TetherOutbox *self);

/* CRC-32 (IEEE 802.3), as the record frames use it */
guint32 tether_outbox_crc32 (const guint8 *data, gsize size);

G_END_DECLS
