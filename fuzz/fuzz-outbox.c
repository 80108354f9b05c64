/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * libFuzzer target for what tetherd reads back from a connection's outbox when it starts: a
 * segment, its acknowledgements and outbox.state, cut from the input at each "\n--8<--\n".
 * The outbox loads them (damage goes to quarantine/), hands out what it kept, takes every
 * other acknowledgement, expires what is due, and closes; then it is loaded once more, as
 * after a restart. Damaged data must never crash it.
 */

#include <glib/gstdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tether-common.h"
#include "tether-outbox.h"

#define SEPARATOR "\n--8<--\n"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const gchar *const file_names[] = {
	"segment-00000000000000000001.log",
	"segment-00000000000000000001.ack",
	"outbox.state",
};

static GLogWriterOutput
quiet_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	if ((level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) != 0)
		return g_log_writer_default (level, fields, n_fields, user_data);
	return G_LOG_WRITER_HANDLED;
}

/* the part of the input up to the next separator, or its end */
static const uint8_t *
next_part (const uint8_t *data, size_t size, size_t *part_size)
{
	size_t separator = strlen (SEPARATOR);

	for (size_t i = 0; i + separator <= size; i++) {
		if (memcmp (data + i, SEPARATOR, separator) == 0) {
			*part_size = i;
			return data + i + separator;
		}
	}
	*part_size = size;
	return NULL;
}

/* drops the outbox and waits until a write it still runs is done */
static void
drop_outbox (TetherOutbox *outbox)
{
	g_object_add_weak_pointer (G_OBJECT (outbox), (gpointer *) &outbox);
	g_object_unref (outbox);
	while (outbox != NULL)
		g_main_context_iteration (NULL, TRUE);
}

static void
use_outbox (const gchar *dir)
{
	TetherOutbox *outbox = tether_outbox_new (dir, "fuzz");
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (guint64));
	TetherMessage *message;

	if (!tether_outbox_load (outbox, &error)) {
		g_assert_nonnull (error);
		g_assert_nonnull (tether_outbox_get_error (outbox));
		g_assert_cmpuint (tether_outbox_get_length (outbox), ==, 0);
		drop_outbox (outbox);
		return;
	}
	while ((message = tether_outbox_next_unsent (outbox)) != NULL) {
		guint64 id = tether_message_get_id (message);

		g_assert_cmpuint (id, >, 0);
		g_array_append_val (ids, id);
	}
	for (guint i = 0; i < ids->len; i += 2)
		g_assert_true (tether_outbox_remove (outbox, g_array_index (ids, guint64, i)));
	g_ptr_array_unref (tether_outbox_take_expired (outbox, G_MAXINT64));
	drop_outbox (outbox);
}

static gchar *base_dir = NULL;

/* the fuzzer's directory goes when it exits */
static void
remove_base_dir (void)
{
	tether_remove_tree (base_dir, NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	static gchar *dir = NULL;
	const uint8_t *part = data;
	size_t left = size;

	if (dir == NULL) {
		base_dir = g_dir_make_tmp ("tether-fuzz-outbox-XXXXXX", NULL);
		g_assert_nonnull (base_dir);
		atexit (remove_base_dir);
		dir = g_build_filename (base_dir, "outbox", NULL);
		/* the damage it reports is expected: only criticals are told */
		g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
		g_log_set_writer_func (quiet_writer, NULL, NULL);
	}
	tether_remove_tree (dir, NULL);
	g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);

	/* up to three files from the input; an empty part writes no file */
	for (guint i = 0; i < G_N_ELEMENTS (file_names) && part != NULL; i++) {
		size_t part_size = 0;
		const uint8_t *next = next_part (part, left, &part_size);

		if (part_size > 0) {
			g_autofree gchar *path = g_build_filename (dir, file_names[i], NULL);

			g_assert_true (g_file_set_contents (path, (const gchar *) part,
			                                    (gssize) part_size, NULL));
		}
		left = next != NULL ? left - (size_t) (next - part) : 0;
		part = next;
	}

	/* as at a start, then as at the next one */
	use_outbox (dir);
	use_outbox (dir);
	return 0;
}
