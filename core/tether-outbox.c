/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "tether-error.h"
#include "tether-outbox.h"

struct _TetherOutbox {
	GObject parent_instance;
	GQueue queue;       /* of TetherMessage, oldest first */
	GList *next_unsent; /* a link of queue, or NULL when all are sent */
	GHashTable *links;  /* id -> GList link */
	guint n_sent;
	guint64 bytes;
	guint64 next_id;
	guint64 max_messages;
	guint64 max_bytes;
};

G_DEFINE_FINAL_TYPE (TetherOutbox, tether_outbox, G_TYPE_OBJECT)

static gsize
message_size (TetherMessage *message)
{
	return g_bytes_get_size (tether_message_get_payload (message));
}

TetherOutbox *
tether_outbox_new (guint64 max_messages, guint64 max_bytes)
{
	TetherOutbox *self = g_object_new (TETHER_TYPE_OUTBOX, NULL);
	tether_outbox_set_limits (self, max_messages, max_bytes);
	return self;
}

void
tether_outbox_set_limits (TetherOutbox *self, guint64 max_messages, guint64 max_bytes)
{
	g_return_if_fail (TETHER_IS_OUTBOX (self));
	self->max_messages = max_messages;
	self->max_bytes = max_bytes;
}

guint64
tether_outbox_peek_next_id (TetherOutbox *self)
{
	g_return_val_if_fail (TETHER_IS_OUTBOX (self), 0);
	return self->next_id;
}

gboolean
tether_outbox_check_room (TetherOutbox *self, GPtrArray *messages, GError **error)
{
	guint64 bytes = 0;

	g_return_val_if_fail (TETHER_IS_OUTBOX (self), FALSE);
	for (guint i = 0; i < messages->len; i++)
		bytes += message_size (g_ptr_array_index (messages, i));
	if (self->queue.length + messages->len > self->max_messages) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_QUEUE_FULL,
		             _("the outbox holds %u messages and its limit is %" G_GUINT64_FORMAT
		                " (max-queued-messages)"),
		                self->queue.length, self->max_messages);
		return FALSE;
	}
	if (self->bytes + bytes > self->max_bytes) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_QUEUE_FULL,
		             _("the outbox holds %" G_GUINT64_FORMAT " bytes and its limit is "
		                "%" G_GUINT64_FORMAT " (max-queued-bytes)"),
		                self->bytes, self->max_bytes);
		return FALSE;
	}
	return TRUE;
}

gboolean
tether_outbox_append (TetherOutbox *self, GPtrArray *messages, GError **error)
{
	g_return_val_if_fail (TETHER_IS_OUTBOX (self), FALSE);

	/* all or nothing */
	if (!tether_outbox_check_room (self, messages, error))
		return FALSE;
	for (guint i = 0; i < messages->len; i++) {
		TetherMessage *message = g_ptr_array_index (messages, i);
		guint64 id = self->next_id++;

		tether_message_set_id (message, id);
		g_queue_push_tail (&self->queue, g_object_ref (message));
		g_hash_table_insert (self->links, g_memdup2 (&id, sizeof (id)), self->queue.tail);
		if (self->next_unsent == NULL)
			self->next_unsent = self->queue.tail;
		self->bytes += message_size (message);
	}
	return TRUE;
}

TetherMessage *
tether_outbox_next_unsent (TetherOutbox *self)
{
	TetherMessage *message;

	g_return_val_if_fail (TETHER_IS_OUTBOX (self), NULL);
	if (self->next_unsent == NULL)
		return NULL;
	message = self->next_unsent->data;
	self->next_unsent = self->next_unsent->next;
	self->n_sent++;
	return message;
}

void
tether_outbox_unsend_all (TetherOutbox *self)
{
	g_return_if_fail (TETHER_IS_OUTBOX (self));
	self->next_unsent = self->queue.head;
	self->n_sent = 0;
}

/* ids grow along the queue, and sent messages head it */
static gboolean
link_is_sent (TetherOutbox *self, GList *link)
{
	if (self->next_unsent == NULL)
		return TRUE;
	return tether_message_get_id (link->data) < tether_message_get_id (self->next_unsent->data);
}

gboolean
tether_outbox_remove (TetherOutbox *self, guint64 id)
{
	GList *link;
	TetherMessage *message;

	g_return_val_if_fail (TETHER_IS_OUTBOX (self), FALSE);
	link = g_hash_table_lookup (self->links, &id);
	if (link == NULL)
		return FALSE;

	/* acknowledgements come for sent messages, which head the queue */
	message = link->data;
	if (link == self->next_unsent)
		self->next_unsent = link->next;
	else if (link_is_sent (self, link))
		self->n_sent--;
	self->bytes -= message_size (message);
	g_hash_table_remove (self->links, &id);
	g_queue_delete_link (&self->queue, link);
	g_object_unref (message);
	return TRUE;
}

GArray *
tether_outbox_purge (TetherOutbox *self)
{
	GArray *ids = g_array_new (FALSE, FALSE, sizeof (guint64));
	TetherMessage *message;

	g_return_val_if_fail (TETHER_IS_OUTBOX (self), NULL);
	while ((message = g_queue_pop_head (&self->queue)) != NULL) {
		guint64 id = tether_message_get_id (message);
		g_array_append_val (ids, id);
		g_object_unref (message);
	}
	g_hash_table_remove_all (self->links);
	self->next_unsent = NULL;
	self->n_sent = 0;
	self->bytes = 0;
	return ids;
}

guint64
tether_outbox_get_length (TetherOutbox *self)
{
	g_return_val_if_fail (TETHER_IS_OUTBOX (self), 0);
	return self->queue.length;
}

guint64
tether_outbox_get_bytes (TetherOutbox *self)
{
	g_return_val_if_fail (TETHER_IS_OUTBOX (self), 0);
	return self->bytes;
}

guint
tether_outbox_get_n_sent (TetherOutbox *self)
{
	g_return_val_if_fail (TETHER_IS_OUTBOX (self), 0);
	return self->n_sent;
}

static void
tether_outbox_finalize (GObject *object)
{
	TetherOutbox *self = TETHER_OUTBOX (object);

	g_queue_clear_full (&self->queue, g_object_unref);
	g_hash_table_unref (self->links);
	G_OBJECT_CLASS (tether_outbox_parent_class)->finalize (object);
}

static void
tether_outbox_class_init (TetherOutboxClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = tether_outbox_finalize;
}

static void
tether_outbox_init (TetherOutbox *self)
{
	g_queue_init (&self->queue);
	self->links = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
	self->next_id = 1;
}
