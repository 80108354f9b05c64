/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "tether-common.h"
#include "tether-error.h"
#include "tether-outbox.h"

typedef struct {
	gchar *dir;
	gchar *outbox_dir;
} Fixture;

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	fixture->dir = g_dir_make_tmp ("tether-test-outbox-XXXXXX", &error);
	g_assert_no_error (error);
	fixture->outbox_dir = g_build_filename (fixture->dir, "outbox", "c1", NULL);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
	tether_remove_tree (fixture->dir, NULL);
	g_free (fixture->dir);
	g_free (fixture->outbox_dir);
}

static void
wait_ms (guint ms)
{
	gint64 deadline = g_get_monotonic_time () + (gint64) ms * 1000;

	while (g_get_monotonic_time () < deadline) {
		if (!g_main_context_iteration (NULL, FALSE))
			g_usleep (1000);
	}
}

static TetherOutbox *
open_outbox (Fixture *fixture)
{
	g_autoptr(GError) error = NULL;
	TetherOutbox *outbox = tether_outbox_new (fixture->outbox_dir, "c1");

	g_assert_true (tether_outbox_load (outbox, &error));
	g_assert_no_error (error);
	return outbox;
}

/*
 * Drops the last reference and waits until the outbox is gone: a write still
 * running holds the outbox, and the directory is read again only after it
 */
static void
drop_outbox (TetherOutbox **outbox)
{
	TetherOutbox *last = g_steal_pointer (outbox);

	g_object_add_weak_pointer (G_OBJECT (last), (gpointer *) &last);
	g_object_unref (last);
	while (last != NULL)
		g_main_context_iteration (NULL, TRUE);
}

static GPtrArray *
make_messages (guint n, gsize size, const gchar *tag)
{
	GPtrArray *messages = g_ptr_array_new_with_free_func (g_object_unref);

	for (guint i = 0; i < n; i++) {
		g_autofree gchar *data = g_strdup_printf ("%s-%u-", tag, i);
		g_autoptr(GString) text = g_string_new (data);
		g_autoptr(GBytes) payload = NULL;

		while (text->len < size)
			g_string_append_c (text, 'x');
		g_string_truncate (text, MAX (size, strlen (data)));
		payload = g_bytes_new (text->str, text->len);
		g_ptr_array_add (messages, tether_message_new ("telemetry", payload, NULL));
	}
	return messages;
}

typedef struct {
	gboolean done;
	gboolean ok;
	GError *error;
} AppendResult;

static void
append_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	AppendResult *append = user_data;

	append->ok = tether_outbox_append_finish (TETHER_OUTBOX (source), result, &append->error);
	append->done = TRUE;
}

/* appends and waits until the messages are on disk */
static gboolean
append_sync (TetherOutbox *outbox, GPtrArray *messages, GError **error)
{
	AppendResult append = { 0 };

	tether_outbox_append_async (outbox, messages, append_cb, &append);
	while (!append.done)
		g_main_context_iteration (NULL, TRUE);
	if (append.error != NULL)
		g_propagate_error (error, append.error);
	return append.ok;
}

static guint
count_files (const gchar *dir, const gchar *suffix)
{
	g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
	const gchar *name;
	guint n = 0;

	while (handle != NULL && (name = g_dir_read_name (handle)) != NULL) {
		if (suffix == NULL || g_str_has_suffix (name, suffix))
			n++;
	}
	return n;
}

/* the worker writes with fsync: waits until @n files are there */
static void
wait_for_files (const gchar *dir, const gchar *suffix, guint n)
{
	gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

	while (count_files (dir, suffix) != n && g_get_monotonic_time () < deadline)
		wait_ms (20);
	g_assert_cmpuint (count_files (dir, suffix), ==, n);
}

static gchar *
payload_text (TetherMessage *message)
{
	gsize size = 0;
	const gchar *data = g_bytes_get_data (tether_message_get_payload (message), &size);

	return g_strndup (data, size);
}

static void
test_outbox_order_and_ack (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	g_autoptr(GPtrArray) messages = make_messages (3, 10, "a");
	g_autoptr(GError) error = NULL;

	g_assert_true (append_sync (outbox, messages, &error));
	g_assert_no_error (error);
	g_assert_cmpuint (tether_outbox_get_length (outbox), ==, 3);
	g_assert_cmpuint (tether_outbox_get_bytes (outbox), ==, 30);
	g_assert_cmpuint (count_files (fixture->outbox_dir, ".log"), ==, 1);

	/* ids in order, sent in order */
	for (guint64 id = 1; id <= 3; id++) {
		TetherMessage *message = tether_outbox_next_unsent (outbox);
		g_assert_nonnull (message);
		g_assert_cmpuint (tether_message_get_id (message), ==, id);
	}
	g_assert_null (tether_outbox_next_unsent (outbox));
	g_assert_cmpuint (tether_outbox_get_n_sent (outbox), ==, 3);
	g_assert_cmpuint (tether_message_get_id (tether_outbox_peek_oldest_sent (outbox, NULL)), ==,
	                  1);

	/* an acknowledgement out of order removes just that one */
	g_assert_true (tether_outbox_remove (outbox, 2));
	g_assert_false (tether_outbox_remove (outbox, 2));
	g_assert_cmpuint (tether_outbox_get_length (outbox), ==, 2);
	g_assert_cmpuint (tether_outbox_get_n_sent (outbox), ==, 2);
	g_assert_cmpuint (tether_outbox_get_bytes (outbox), ==, 20);
}

static void
test_outbox_resend_after_loss (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	g_autoptr(GPtrArray) messages = make_messages (4, 1, "b");
	TetherMessage *message;

	g_assert_true (append_sync (outbox, messages, NULL));
	tether_outbox_next_unsent (outbox);
	tether_outbox_next_unsent (outbox);
	g_assert_true (tether_outbox_remove (outbox, 1));

	/* the connection drops: what was sent and not acknowledged goes again, first */
	tether_outbox_unsend_all (outbox);
	g_assert_cmpuint (tether_outbox_get_n_sent (outbox), ==, 0);
	g_assert_null (tether_outbox_peek_oldest_sent (outbox, NULL));
	message = tether_outbox_next_unsent (outbox);
	g_assert_cmpuint (tether_message_get_id (message), ==, 2);
	message = tether_outbox_next_unsent (outbox);
	g_assert_cmpuint (tether_message_get_id (message), ==, 3);
	g_assert_cmpuint (tether_message_get_id (tether_outbox_peek_oldest (outbox)), ==, 2);

	/* the session did not take 3 after all: it goes next again, and only the last one can */
	g_assert_false (tether_outbox_unsend (outbox, 2));
	g_assert_true (tether_outbox_unsend (outbox, 3));
	g_assert_cmpuint (tether_outbox_get_n_sent (outbox), ==, 1);
	message = tether_outbox_next_unsent (outbox);
	g_assert_cmpuint (tether_message_get_id (message), ==, 3);

	/* acknowledging the next unsent one moves the cursor past it */
	g_assert_true (tether_outbox_remove (outbox, 4));
	g_assert_null (tether_outbox_next_unsent (outbox));
	g_assert_cmpuint (tether_outbox_get_length (outbox), ==, 2);
}

static void
test_outbox_limits_refuse (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	g_autoptr(GPtrArray) two = make_messages (2, 10, "c");
	g_autoptr(GPtrArray) two_more = make_messages (2, 10, "d");
	g_autoptr(GPtrArray) big = make_messages (1, 90, "e");
	g_autoptr(GError) error = NULL;

	tether_outbox_set_limits (outbox, 3, 100, TETHER_OUTBOX_POLICY_REFUSE);
	g_assert_true (append_sync (outbox, two, &error));
	g_assert_false (append_sync (outbox, two_more, &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_QUEUE_FULL);
	g_assert_nonnull (strstr (error->message, "max-queued-messages"));
	g_assert_cmpuint (tether_outbox_get_length (outbox), ==, 2);
	g_clear_error (&error);

	g_assert_false (append_sync (outbox, big, &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_QUEUE_FULL);
	g_assert_nonnull (strstr (error->message, "max-queued-bytes"));
	g_assert_cmpuint (tether_outbox_get_bytes (outbox), ==, 20);

	/* the next id was not used up by the refusals */
	g_assert_cmpuint (tether_outbox_peek_next_id (outbox), ==, 3);
}

typedef struct {
	GArray *ids;
} Dropped;

static void
dropped_cb (TetherOutbox *outbox, guint64 id, const gchar *status, gpointer user_data)
{
	GArray *ids = user_data;

	g_assert_cmpstr (status, ==, "dropped");
	g_array_append_val (ids, id);
}

static void
test_outbox_limits_drop_oldest (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	g_autoptr(GPtrArray) three = make_messages (3, 10, "f");
	g_autoptr(GPtrArray) two = make_messages (2, 10, "g");
	g_autoptr(GPtrArray) four = make_messages (4, 10, "h");
	g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (guint64));
	g_autoptr(GError) error = NULL;
	g_autoptr(TetherOutbox) again = NULL;

	tether_outbox_set_limits (outbox, 3, 1000, TETHER_OUTBOX_POLICY_DROP_OLDEST);
	g_signal_connect (outbox, "dropped", G_CALLBACK (dropped_cb), ids);
	g_assert_true (append_sync (outbox, three, &error));
	g_assert_true (append_sync (outbox, two, &error));
	g_assert_no_error (error);
	g_assert_cmpuint (tether_outbox_get_length (outbox), ==, 3);
	g_assert_cmpuint (ids->len, ==, 2);
	g_assert_cmpuint (g_array_index (ids, guint64, 0), ==, 1);
	g_assert_cmpuint (g_array_index (ids, guint64, 1), ==, 2);
	g_assert_cmpuint (tether_message_get_id (tether_outbox_next_unsent (outbox)), ==, 3);

	/* more than the whole outbox holds, in one batch: refused even so */
	g_assert_false (append_sync (outbox, four, &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_QUEUE_FULL);

	/* the dropped ones stay dropped after a restart */
	wait_ms (300);
	drop_outbox (&outbox);
	again = open_outbox (fixture);
	g_assert_cmpuint (tether_outbox_get_length (again), ==, 3);
	g_assert_cmpuint (tether_message_get_id (tether_outbox_next_unsent (again)), ==, 3);
}

static void
test_outbox_replay (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	g_autoptr(GPtrArray) messages = make_messages (5, 20, "r");
	g_autoptr(TetherOutbox) again = NULL;
	g_autoptr(GVariant) options = g_variant_ref_sink (g_variant_new_parsed ("{'k': <'v'>}"));
	g_autoptr(GBytes) payload = g_bytes_new_static ("late", 4);
	g_autoptr(GPtrArray) late = g_ptr_array_new_with_free_func (g_object_unref);
	TetherMessage *message;

	g_ptr_array_add (late, tether_message_new ("attributes", payload, options));
	tether_message_set_expires (g_ptr_array_index (late, 0), G_GINT64_CONSTANT (42));
	g_assert_true (append_sync (outbox, messages, NULL));
	g_assert_true (append_sync (outbox, late, NULL));
	g_assert_true (tether_outbox_remove (outbox, 1));
	g_assert_true (tether_outbox_remove (outbox, 3));
	wait_ms (300);
	drop_outbox (&outbox);

	/* what was not acknowledged comes back, in order, as it was */
	again = open_outbox (fixture);
	g_assert_null (tether_outbox_get_damage (again));
	g_assert_cmpuint (tether_outbox_get_length (again), ==, 4);
	for (guint64 id = 2; id <= 5; id++) {
		g_autofree gchar *expected = NULL;
		g_autofree gchar *text = NULL;

		if (id == 3)
			continue;
		message = tether_outbox_next_unsent (again);
		expected = g_strdup_printf ("r-%u-", (guint) id - 1);
		text = payload_text (message);
		g_assert_cmpuint (tether_message_get_id (message), ==, id);
		g_assert_true (g_str_has_prefix (text, expected));
		g_assert_cmpuint (strlen (text), ==, 20);
	}
	message = tether_outbox_next_unsent (again);
	g_assert_cmpuint (tether_message_get_id (message), ==, 6);
	g_assert_cmpstr (tether_message_get_kind (message), ==, "attributes");
	g_assert_cmpstr (tether_message_lookup_string (message, "k"), ==, "v");
	g_assert_cmpint (tether_message_get_expires (message), ==, 42);
	g_assert_true (tether_outbox_has_deadlines (again));

	/* ids go on */
	g_assert_cmpuint (tether_outbox_peek_next_id (again), ==, 7);
}

/* acknowledgements gather for a moment; closing writes them at once */
static void
test_outbox_close_writes_acks (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	g_autoptr(TetherOutbox) again = NULL;
	g_autoptr(GPtrArray) messages = make_messages (3, 10, "c");

	g_assert_true (append_sync (outbox, messages, NULL));
	g_assert_true (tether_outbox_remove (outbox, 1));
	g_assert_true (tether_outbox_remove (outbox, 2));
	tether_outbox_close (outbox);
	drop_outbox (&outbox);

	again = open_outbox (fixture);
	g_assert_cmpuint (tether_outbox_get_length (again), ==, 1);
	g_assert_cmpuint (tether_message_get_id (tether_outbox_next_unsent (again)), ==, 3);
}

/* many callers at once: all answered, each once its records are on disk */
static void
test_outbox_group_commit (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	AppendResult results[50] = { { 0 } };
	g_autoptr(GPtrArray) batches =
	                   g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
	g_autoptr(TetherOutbox) again = NULL;
	gboolean all_done = FALSE;

	for (guint i = 0; i < G_N_ELEMENTS (results); i++) {
		GPtrArray *batch = make_messages (3, 8, "g");
		g_ptr_array_add (batches, batch);
		tether_outbox_append_async (outbox, batch, append_cb, &results[i]);
	}
	while (!all_done) {
		g_main_context_iteration (NULL, TRUE);
		all_done = TRUE;
		for (guint i = 0; i < G_N_ELEMENTS (results); i++)
			all_done = all_done && results[i].done;
	}
	for (guint i = 0; i < G_N_ELEMENTS (results); i++)
		g_assert_true (results[i].ok);
	g_assert_cmpuint (tether_outbox_get_length (outbox), ==, 150);
	drop_outbox (&outbox);
	again = open_outbox (fixture);
	g_assert_cmpuint (tether_outbox_get_length (again), ==, 150);
}

static void
test_outbox_purge (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	g_autoptr(GPtrArray) messages = make_messages (3, 5, "p");
	g_autoptr(GPtrArray) more = make_messages (1, 5, "q");
	g_autoptr(GArray) ids = NULL;
	g_autoptr(TetherOutbox) again = NULL;

	g_assert_true (append_sync (outbox, messages, NULL));
	tether_outbox_next_unsent (outbox);
	ids = tether_outbox_purge (outbox);
	g_assert_cmpuint (ids->len, ==, 3);
	g_assert_cmpuint (g_array_index (ids, guint64, 0), ==, 1);
	g_assert_cmpuint (g_array_index (ids, guint64, 2), ==, 3);
	g_assert_cmpuint (tether_outbox_get_length (outbox), ==, 0);
	g_assert_cmpuint (tether_outbox_get_bytes (outbox), ==, 0);
	g_assert_null (tether_outbox_next_unsent (outbox));

	/* the disk is emptied too */
	wait_ms (300);
	g_assert_cmpuint (count_files (fixture->outbox_dir, ".log"), ==, 0);
	g_assert_cmpuint (count_files (fixture->outbox_dir, ".ack"), ==, 0);

	/* ids are never reused, after a restart either */
	drop_outbox (&outbox);
	again = open_outbox (fixture);
	g_assert_cmpuint (tether_outbox_get_length (again), ==, 0);
	g_assert_true (append_sync (again, more, NULL));
	g_assert_cmpuint (tether_message_get_id (g_ptr_array_index (more, 0)), ==, 4);
}

static void
test_outbox_segments (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	g_autoptr(TetherOutbox) again = NULL;

	/* each append past 300 bytes starts a segment */
	tether_outbox_set_segment_size (outbox, 300);
	for (guint i = 0; i < 6; i++) {
		g_autoptr(GPtrArray) messages = make_messages (2, 100, "s");
		g_assert_true (append_sync (outbox, messages, NULL));
	}
	g_assert_cmpuint (count_files (fixture->outbox_dir, ".log"), >=, 3);
	g_assert_cmpuint (count_files (fixture->outbox_dir, ".log"), ==,
	                  count_files (fixture->outbox_dir, ".ack"));

	/* the first half done: the segments that held it go */
	for (guint64 id = 1; id <= 6; id++)
		g_assert_true (tether_outbox_remove (outbox, id));
	wait_ms (300);
	g_assert_cmpuint (count_files (fixture->outbox_dir, ".log"), <=, 3);
	drop_outbox (&outbox);

	again = open_outbox (fixture);
	g_assert_null (tether_outbox_get_damage (again));
	g_assert_cmpuint (tether_outbox_get_length (again), ==, 6);
	g_assert_cmpuint (tether_message_get_id (tether_outbox_next_unsent (again)), ==, 7);
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
	return g_strcmp0 (*(const gchar *const *) a, *(const gchar *const *) b);
}

static gchar *
nth_file (const gchar *dir, const gchar *suffix, guint n)
{
	g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
	const gchar *name;

	while (handle != NULL && (name = g_dir_read_name (handle)) != NULL) {
		if (g_str_has_suffix (name, suffix))
			g_ptr_array_add (names, g_strdup (name));
	}
	g_ptr_array_sort (names, compare_strings);
	if (names->len <= n)
		return NULL;
	return g_build_filename (dir, g_ptr_array_index (names, n), NULL);
}

static void
truncate_file (const gchar *path, gsize cut)
{
	g_autofree gchar *contents = NULL;
	gsize size = 0;

	g_assert_true (g_file_get_contents (path, &contents, &size, NULL));
	g_assert_cmpuint (size, >, cut);
	g_assert_true (g_file_set_contents (path, contents, (gssize) (size - cut), NULL));
}

/* a truncated record, a garbage file and a missing segment: the rest is kept */
static void
test_outbox_damage (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	g_autoptr(TetherOutbox) again = NULL;
	g_autofree gchar *second = NULL;
	g_autofree gchar *third = NULL;
	g_autofree gchar *garbage = g_build_filename (fixture->outbox_dir, "junk.bin", NULL);
	g_autofree gchar *fake =
	        g_build_filename (fixture->outbox_dir, "segment-00000000000000000999.log", NULL);
	g_autofree gchar *quarantine = g_build_filename (fixture->outbox_dir, "quarantine", NULL);
	const gchar *const *damage;
	TetherMessage *message;
	guint64 ids[64];
	guint n = 0;

	/* three segments of three messages: 1-3, 4-6, 7-9 */
	tether_outbox_set_segment_size (outbox, 200);
	for (guint i = 0; i < 3; i++) {
		g_autoptr(GPtrArray) messages = make_messages (3, 60, "d");
		g_assert_true (append_sync (outbox, messages, NULL));
	}
	g_assert_cmpuint (count_files (fixture->outbox_dir, ".log"), ==, 3);
	drop_outbox (&outbox);

	second = nth_file (fixture->outbox_dir, ".log", 1);
	third = nth_file (fixture->outbox_dir, ".log", 2);
	g_assert_cmpint (g_unlink (second), ==, 0);
	truncate_file (third, 5);
	g_assert_true (g_file_set_contents (garbage, "not an outbox", -1, NULL));
	g_assert_true (g_file_set_contents (fake, "TETHERXX garbage garbage", -1, NULL));

	again = open_outbox (fixture);
	damage = tether_outbox_get_damage (again);
	g_assert_nonnull (damage);
	g_assert_cmpuint (g_strv_length ((gchar **) damage), ==, 4);
	g_assert_cmpuint (count_files (quarantine, NULL), ==, 4);

	/* 1-3 and 7-8 remain; 9 was cut, 4-6 went with their file */
	while ((message = tether_outbox_next_unsent (again)) != NULL)
		ids[n++] = tether_message_get_id (message);
	g_assert_cmpuint (n, ==, 5);
	g_assert_cmpuint (ids[0], ==, 1);
	g_assert_cmpuint (ids[2], ==, 3);
	g_assert_cmpuint (ids[3], ==, 7);
	g_assert_cmpuint (ids[4], ==, 8);
	g_assert_cmpuint (tether_outbox_peek_next_id (again), >=, 10);

	/* what was set aside is not reported again */
	drop_outbox (&again);
	again = open_outbox (fixture);
	g_assert_null (tether_outbox_get_damage (again));
	g_assert_cmpuint (tether_outbox_get_length (again), ==, 5);
}

static void
test_outbox_corrupt_record (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	g_autoptr(TetherOutbox) again = NULL;
	g_autoptr(GPtrArray) messages = make_messages (4, 40, "k");
	g_autofree gchar *log = NULL;
	g_autofree gchar *contents = NULL;
	gsize size = 0;
	gsize record_size;

	g_assert_true (append_sync (outbox, messages, NULL));
	drop_outbox (&outbox);

	/* a flipped byte in the middle of the third of four records of one size */
	log = nth_file (fixture->outbox_dir, ".log", 0);
	g_assert_true (g_file_get_contents (log, &contents, &size, NULL));
	record_size = (size - 16) / 4;
	contents[16 + 2 * record_size + record_size / 2] ^= 0x55;
	g_assert_true (g_file_set_contents (log, contents, (gssize) size, NULL));

	again = open_outbox (fixture);
	g_assert_nonnull (tether_outbox_get_damage (again));
	g_assert_cmpuint (tether_outbox_get_length (again), ==, 2);
	g_assert_cmpuint (tether_message_get_id (tether_outbox_next_unsent (again)), ==, 1);
	g_assert_cmpuint (tether_message_get_id (tether_outbox_next_unsent (again)), ==, 2);
}

static void
test_outbox_newer_version (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	g_autoptr(TetherOutbox) again = NULL;
	g_autoptr(GPtrArray) messages = make_messages (2, 10, "v");
	g_autoptr(GPtrArray) more = make_messages (1, 10, "w");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *contents = NULL;
	gsize size = 0;

	g_assert_true (append_sync (outbox, messages, NULL));
	drop_outbox (&outbox);

	/* version 2 in the segment header */
	log = nth_file (fixture->outbox_dir, ".log", 0);
	g_assert_true (g_file_get_contents (log, &contents, &size, NULL));
	contents[8] = 2;
	g_assert_true (g_file_set_contents (log, contents, (gssize) size, NULL));

	again = tether_outbox_new (fixture->outbox_dir, "c1");
	g_assert_false (tether_outbox_load (again, &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_FAILED);
	g_assert_nonnull (strstr (error->message, "version 2"));
	g_assert_nonnull (strstr (error->message, "newer"));
	g_clear_error (&error);

	/* nothing is touched, nothing is taken */
	g_assert_false (append_sync (again, more, &error));
	g_assert_nonnull (strstr (error->message, "version 2"));
	g_assert_true (g_file_test (log, G_FILE_TEST_EXISTS));
	g_assert_cmpuint (count_files (fixture->outbox_dir, ".log"), ==, 1);
}

/* every file under @dir with its size and checksum, one line each, in name order */
static gchar *
snapshot_dir (const gchar *dir)
{
	g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
	g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GString) text = g_string_new (NULL);
	const gchar *name;

	while (handle != NULL && (name = g_dir_read_name (handle)) != NULL) {
		g_autofree gchar *path = g_build_filename (dir, name, NULL);
		g_autofree gchar *contents = NULL;
		g_autofree gchar *sum = NULL;
		gsize size = 0;

		if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
			g_autofree gchar *below = snapshot_dir (path);
			g_ptr_array_add (lines, g_strdup_printf ("%s/ {%s}", name, below));
			continue;
		}
		g_assert_true (g_file_get_contents (path, &contents, &size, NULL));
		sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents,
		                                   size);
		g_ptr_array_add (lines, g_strdup_printf ("%s %zu %s", name, size, sum));
	}
	g_ptr_array_sort (lines, compare_strings);
	for (guint i = 0; i < lines->len; i++)
		g_string_append_printf (text, "%s\n", (gchar *) g_ptr_array_index (lines, i));
	return g_string_free (g_steal_pointer (&text), FALSE);
}

static void
set_file_byte (const gchar *path, gsize offset, guint8 value)
{
	g_autofree gchar *contents = NULL;
	gsize size = 0;

	g_assert_true (g_file_get_contents (path, &contents, &size, NULL));
	g_assert_cmpuint (size, >, offset);
	contents[offset] = (gchar) value;
	g_assert_true (g_file_set_contents (path, contents, (gssize) size, NULL));
}

/* refused, and the directory is left exactly as it was, whatever is asked of the outbox */
static void
assert_refused_untouched (Fixture *fixture, const gchar *file, guint version)
{
	g_autoptr(TetherOutbox) outbox = tether_outbox_new (fixture->outbox_dir, "c1");
	g_autoptr(GPtrArray) more = make_messages (1, 10, "w");
	g_autoptr(GArray) purged = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *before = snapshot_dir (fixture->outbox_dir);
	g_autofree gchar *after = NULL;
	g_autofree gchar *version_text = g_strdup_printf ("version %u", version);

	g_assert_false (tether_outbox_load (outbox, &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_FAILED);
	g_assert_nonnull (strstr (error->message, file));
	g_assert_nonnull (strstr (error->message, version_text));
	g_assert_nonnull (strstr (error->message, "newer"));
	g_assert_true (tether_outbox_get_error (outbox) != NULL);
	g_clear_error (&error);

	/* nothing is queued, nothing is taken, nothing is written */
	g_assert_cmpuint (tether_outbox_get_length (outbox), ==, 0);
	g_assert_null (tether_outbox_next_unsent (outbox));
	g_assert_false (append_sync (outbox, more, &error));
	g_assert_nonnull (strstr (error->message, version_text));
	purged = tether_outbox_purge (outbox);
	g_assert_cmpuint (purged->len, ==, 0);
	wait_ms (300);
	drop_outbox (&outbox);
	after = snapshot_dir (fixture->outbox_dir);
	g_assert_cmpstr (after, ==, before);
}

/* a newer outbox.state, a newer .ack: refused before anything is set aside */
static void
test_outbox_newer_version_untouched (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	g_autoptr(GPtrArray) messages = make_messages (6, 60, "n");
	g_autofree gchar *state = g_build_filename (fixture->outbox_dir, "outbox.state", NULL);
	g_autofree gchar *state_contents = NULL;
	g_autofree gchar *newer_state = NULL;
	g_autofree gchar *stray = g_build_filename (fixture->outbox_dir, "index.v3", NULL);
	g_autofree gchar *first_log = NULL;
	g_autofree gchar *second_ack = NULL;

	/* two segments, the first acknowledged in part; a file this version does not know */
	tether_outbox_set_segment_size (outbox, 200);
	for (guint i = 0; i < 2; i++) {
		g_autoptr(GPtrArray) three = make_messages (3, 60, "s");
		g_assert_true (append_sync (outbox, three, NULL));
	}
	g_assert_cmpuint (count_files (fixture->outbox_dir, ".log"), ==, 2);
	tether_outbox_next_unsent (outbox);
	g_assert_true (tether_outbox_remove (outbox, 1));
	drop_outbox (&outbox);
	g_assert_true (g_file_set_contents (stray, "what a newer tether keeps", -1, NULL));

	/* a newer outbox.state: the stray file would otherwise go to quarantine/ */
	g_assert_true (g_file_get_contents (state, &state_contents, NULL, NULL));
	newer_state = g_strdup_printf ("[outbox]\nversion=3\nnext-id=7\nsomething-new=1\n");
	g_assert_true (g_file_set_contents (state, newer_state, -1, NULL));
	assert_refused_untouched (fixture, "outbox.state", 3);
	g_assert_true (g_file_set_contents (state, state_contents, -1, NULL));

	/* a newer .ack of the second segment, and a first segment whose end is damaged */
	second_ack = nth_file (fixture->outbox_dir, ".ack", 1);
	set_file_byte (second_ack, 8, 3);
	first_log = nth_file (fixture->outbox_dir, ".log", 0);
	truncate_file (first_log, 5);
	assert_refused_untouched (fixture, "segment-", 3);
	g_assert_true (g_file_test (stray, G_FILE_TEST_EXISTS));
}

/* quarantine/ keeps at most 32 files: the oldest (by the time in their names) go first */
static void
test_outbox_quarantine_bounded (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = NULL;
	g_autofree gchar *quarantine = g_build_filename (fixture->outbox_dir, "quarantine", NULL);
	g_autofree gchar *old = g_build_filename (quarantine, "1000000000000000-old.bin", NULL);
	const gchar *const *damage;

	/* one set aside long ago, and 40 garbage files now */
	g_assert_cmpint (g_mkdir_with_parents (quarantine, 0700), ==, 0);
	g_assert_true (g_file_set_contents (old, "old damage", -1, NULL));
	for (guint i = 0; i < 40; i++) {
		g_autofree gchar *name = g_strdup_printf ("junk-%02u", i);
		g_autofree gchar *path = g_build_filename (fixture->outbox_dir, name, NULL);
		g_assert_true (g_file_set_contents (path, "garbage", -1, NULL));
	}

	outbox = open_outbox (fixture);
	damage = tether_outbox_get_damage (outbox);
	g_assert_nonnull (damage);
	g_assert_cmpuint (g_strv_length ((gchar **) damage), ==, 40);
	g_assert_cmpuint (count_files (quarantine, NULL), ==, 32);
	g_assert_false (g_file_test (old, G_FILE_TEST_EXISTS));
	g_assert_cmpuint (count_files (fixture->outbox_dir, NULL), ==, 1);
}

static gboolean
contains_bytes (const gchar *data, gsize size, const gchar *needle)
{
	gsize len = strlen (needle);

	for (gsize i = 0; i + len <= size; i++) {
		if (memcmp (data + i, needle, len) == 0)
			return TRUE;
	}
	return FALSE;
}

static void
test_outbox_dead_letter (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	g_autoptr(TetherOutbox) again = NULL;
	g_autoptr(GPtrArray) messages = make_messages (110, 10, "x");
	g_autofree gchar *dead = g_build_filename (fixture->outbox_dir, "dead-letter", NULL);
	g_autofree gchar *first = NULL;
	g_autofree gchar *tenth = g_build_filename (dead, "00000000000000000010.msg", NULL);
	g_autofree gchar *contents = NULL;
	gsize size = 0;
	gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

	g_assert_true (append_sync (outbox, messages, NULL));
	g_assert_true (tether_outbox_dead_letter (outbox, 1));
	g_assert_false (tether_outbox_dead_letter (outbox, 1));
	g_assert_cmpuint (tether_outbox_get_length (outbox), ==, 109);
	wait_for_files (dead, ".msg", 1);

	/* it holds the message, in the segment format */
	first = nth_file (dead, ".msg", 0);
	g_assert_true (g_str_has_suffix (first, "00000000000000000001.msg"));
	g_assert_true (g_file_get_contents (first, &contents, &size, NULL));
	g_assert_cmpmem (contents, 8, "TETHERSG", 8);
	g_assert_true (contains_bytes (contents, size, "x-0-"));

	/* bounded: the oldest go first */
	for (guint64 id = 2; id <= 110; id++)
		g_assert_true (tether_outbox_dead_letter (outbox, id));
	wait_for_files (dead, ".msg", 100);
	while (g_file_test (tenth, G_FILE_TEST_EXISTS) && g_get_monotonic_time () < deadline)
		wait_ms (20);
	g_assert_cmpuint (count_files (dead, ".msg"), ==, 100);
	g_clear_pointer (&first, g_free);
	first = nth_file (dead, ".msg", 0);
	g_assert_true (g_str_has_suffix (first, "00000000000000000011.msg"));

	drop_outbox (&outbox);
	again = open_outbox (fixture);
	g_assert_cmpuint (tether_outbox_get_length (again), ==, 0);
}

static void
test_outbox_expiry (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	g_autoptr(GPtrArray) messages = make_messages (3, 10, "e");
	g_autoptr(GPtrArray) expired = NULL;

	tether_message_set_expires (g_ptr_array_index (messages, 1), 1000);
	g_assert_true (append_sync (outbox, messages, NULL));
	g_assert_true (tether_outbox_has_deadlines (outbox));
	expired = tether_outbox_take_expired (outbox, 999);
	g_assert_cmpuint (expired->len, ==, 0);
	g_ptr_array_unref (expired);
	expired = tether_outbox_take_expired (outbox, 1000);
	g_assert_cmpuint (expired->len, ==, 1);
	g_assert_cmpuint (tether_message_get_id (g_ptr_array_index (expired, 0)), ==, 2);
	g_assert_false (tether_outbox_has_deadlines (outbox));
	g_assert_cmpuint (tether_outbox_get_length (outbox), ==, 2);
}

static void
test_outbox_delete (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	g_autoptr(GPtrArray) messages = make_messages (3, 10, "z");
	g_autoptr(GError) error = NULL;

	g_assert_true (append_sync (outbox, messages, NULL));
	g_assert_true (tether_outbox_delete (outbox, &error));
	g_assert_no_error (error);
	g_assert_false (g_file_test (fixture->outbox_dir, G_FILE_TEST_EXISTS));
}

/* a link inside the outbox goes, what it points at stays */
static void
test_outbox_delete_keeps_link_target (Fixture *fixture, gconstpointer data)
{
	g_autoptr(TetherOutbox) outbox = open_outbox (fixture);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *outside = g_build_filename (fixture->dir, "outside", NULL);
	g_autofree gchar *kept = g_build_filename (outside, "kept", NULL);
	g_autofree gchar *link = g_build_filename (fixture->outbox_dir, "link", NULL);

	g_assert_cmpint (g_mkdir (outside, 0700), ==, 0);
	g_assert_true (g_file_set_contents (kept, "x", 1, NULL));
	g_assert_cmpint (symlink (outside, link), ==, 0);
	g_assert_true (tether_outbox_delete (outbox, &error));
	g_assert_no_error (error);
	g_assert_false (g_file_test (fixture->outbox_dir, G_FILE_TEST_EXISTS));
	g_assert_true (g_file_test (kept, G_FILE_TEST_IS_REGULAR));
}

static void
test_outbox_crc32 (void)
{
	/* the check value of CRC-32/ISO-HDLC */
	g_assert_cmphex (tether_outbox_crc32 ((const guint8 *) "123456789", 9), ==, 0xcbf43926);
	g_assert_cmphex (tether_outbox_crc32 (NULL, 0), ==, 0);
}

#define ADD(path, func) \
	g_test_add ("/outbox/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	/* damage is reported with warnings: they are expected here */
	g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_test_add_func ("/outbox/crc32", test_outbox_crc32);
	ADD ("order-and-ack", test_outbox_order_and_ack);
	ADD ("resend-after-loss", test_outbox_resend_after_loss);
	ADD ("limits-refuse", test_outbox_limits_refuse);
	ADD ("limits-drop-oldest", test_outbox_limits_drop_oldest);
	ADD ("replay", test_outbox_replay);
	ADD ("group-commit", test_outbox_group_commit);
	ADD ("close-writes-acks", test_outbox_close_writes_acks);
	ADD ("purge", test_outbox_purge);
	ADD ("segments", test_outbox_segments);
	ADD ("damage", test_outbox_damage);
	ADD ("corrupt-record", test_outbox_corrupt_record);
	ADD ("newer-version", test_outbox_newer_version);
	ADD ("newer-version-untouched", test_outbox_newer_version_untouched);
	ADD ("quarantine-bounded", test_outbox_quarantine_bounded);
	ADD ("dead-letter", test_outbox_dead_letter);
	ADD ("expiry", test_outbox_expiry);
	ADD ("delete", test_outbox_delete);
	ADD ("delete-keeps-link-target", test_outbox_delete_keeps_link_target);
	return g_test_run ();
}
