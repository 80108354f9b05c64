/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "tether-error.h"
#include "tether-outbox.h"

static GPtrArray *
make_messages (guint n, gsize size)
{
	GPtrArray *messages = g_ptr_array_new_with_free_func (g_object_unref);

	for (guint i = 0; i < n; i++) {
		g_autofree gchar *data = g_strnfill (size, 'x');
		g_autoptr(GBytes) payload = g_bytes_new (data, size);
		g_ptr_array_add (messages, tether_message_new ("telemetry", payload, NULL));
	}
	return messages;
}

static void
test_outbox_order_and_ack (void)
{
	g_autoptr(TetherOutbox) outbox = tether_outbox_new (100, 1 << 20);
	g_autoptr(GPtrArray) messages = make_messages (3, 10);
	g_autoptr(GError) error = NULL;

	g_assert_true (tether_outbox_append (outbox, messages, &error));
	g_assert_no_error (error);
	g_assert_cmpuint (tether_outbox_get_length (outbox), ==, 3);
	g_assert_cmpuint (tether_outbox_get_bytes (outbox), ==, 30);

	/* ids in order, sent in order */
	for (guint64 id = 1; id <= 3; id++) {
		TetherMessage *message = tether_outbox_next_unsent (outbox);
		g_assert_nonnull (message);
		g_assert_cmpuint (tether_message_get_id (message), ==, id);
	}
	g_assert_null (tether_outbox_next_unsent (outbox));
	g_assert_cmpuint (tether_outbox_get_n_sent (outbox), ==, 3);

	/* an acknowledgement out of order removes just that one */
	g_assert_true (tether_outbox_remove (outbox, 2));
	g_assert_false (tether_outbox_remove (outbox, 2));
	g_assert_cmpuint (tether_outbox_get_length (outbox), ==, 2);
	g_assert_cmpuint (tether_outbox_get_n_sent (outbox), ==, 2);
	g_assert_cmpuint (tether_outbox_get_bytes (outbox), ==, 20);
}

static void
test_outbox_resend_after_loss (void)
{
	g_autoptr(TetherOutbox) outbox = tether_outbox_new (100, 1 << 20);
	g_autoptr(GPtrArray) messages = make_messages (4, 1);
	TetherMessage *message;

	g_assert_true (tether_outbox_append (outbox, messages, NULL));
	tether_outbox_next_unsent (outbox);
	tether_outbox_next_unsent (outbox);
	g_assert_true (tether_outbox_remove (outbox, 1));

	/* the connection drops: what was sent and not acknowledged goes again, first */
	tether_outbox_unsend_all (outbox);
	g_assert_cmpuint (tether_outbox_get_n_sent (outbox), ==, 0);
	message = tether_outbox_next_unsent (outbox);
	g_assert_cmpuint (tether_message_get_id (message), ==, 2);
	message = tether_outbox_next_unsent (outbox);
	g_assert_cmpuint (tether_message_get_id (message), ==, 3);

	/* acknowledging the next unsent one moves the cursor past it */
	g_assert_true (tether_outbox_remove (outbox, 4));
	g_assert_null (tether_outbox_next_unsent (outbox));
	g_assert_cmpuint (tether_outbox_get_length (outbox), ==, 2);
}

static void
test_outbox_limits_all_or_nothing (void)
{
	g_autoptr(TetherOutbox) outbox = tether_outbox_new (3, 100);
	g_autoptr(GPtrArray) two = make_messages (2, 10);
	g_autoptr(GPtrArray) two_more = make_messages (2, 10);
	g_autoptr(GPtrArray) big = make_messages (1, 90);
	g_autoptr(GError) error = NULL;

	g_assert_true (tether_outbox_append (outbox, two, &error));
	g_assert_false (tether_outbox_append (outbox, two_more, &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_QUEUE_FULL);
	g_assert_nonnull (strstr (error->message, "max-queued-messages"));
	g_assert_cmpuint (tether_outbox_get_length (outbox), ==, 2);
	g_clear_error (&error);

	g_assert_false (tether_outbox_append (outbox, big, &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_QUEUE_FULL);
	g_assert_nonnull (strstr (error->message, "max-queued-bytes"));
	g_assert_cmpuint (tether_outbox_get_bytes (outbox), ==, 20);

	/* the next id was not used up by the refusals */
	g_assert_cmpuint (tether_outbox_peek_next_id (outbox), ==, 3);
}

static void
test_outbox_purge (void)
{
	g_autoptr(TetherOutbox) outbox = tether_outbox_new (100, 1 << 20);
	g_autoptr(GPtrArray) messages = make_messages (3, 5);
	g_autoptr(GPtrArray) more = make_messages (1, 5);
	g_autoptr(GArray) ids = NULL;

	g_assert_true (tether_outbox_append (outbox, messages, NULL));
	tether_outbox_next_unsent (outbox);
	ids = tether_outbox_purge (outbox);
	g_assert_cmpuint (ids->len, ==, 3);
	g_assert_cmpuint (g_array_index (ids, guint64, 0), ==, 1);
	g_assert_cmpuint (g_array_index (ids, guint64, 2), ==, 3);
	g_assert_cmpuint (tether_outbox_get_length (outbox), ==, 0);
	g_assert_cmpuint (tether_outbox_get_bytes (outbox), ==, 0);
	g_assert_null (tether_outbox_next_unsent (outbox));

	/* ids are never reused */
	g_assert_true (tether_outbox_append (outbox, more, NULL));
	g_assert_cmpuint (tether_message_get_id (g_ptr_array_index (more, 0)), ==, 4);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/outbox/order-and-ack", test_outbox_order_and_ack);
	g_test_add_func ("/outbox/resend-after-loss", test_outbox_resend_after_loss);
	g_test_add_func ("/outbox/limits-all-or-nothing", test_outbox_limits_all_or_nothing);
	g_test_add_func ("/outbox/purge", test_outbox_purge);
	return g_test_run ();
}
