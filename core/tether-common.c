/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "tether-common.h"

GPtrArray *
tether_hash_table_get_keys (GHashTable *table)
{
	GPtrArray *array = g_ptr_array_sized_new (g_hash_table_size (table));
	GHashTableIter iter;
	gpointer key;

	g_hash_table_iter_init (&iter, table);
	while (g_hash_table_iter_next (&iter, &key, NULL))
		g_ptr_array_add (array, key);
	return array;
}

GPtrArray *
tether_hash_table_get_values (GHashTable *table)
{
	GPtrArray *array = g_ptr_array_sized_new (g_hash_table_size (table));
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init (&iter, table);
	while (g_hash_table_iter_next (&iter, NULL, &value))
		g_ptr_array_add (array, value);
	return array;
}

void
tether_strv_builder_take (GStrvBuilder *builder, gchar *str)
{
	g_strv_builder_add (builder, str);
	g_free (str);
}
