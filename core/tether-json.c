/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "tether-json.h"

#include <math.h>
#include <string.h>

static void
append_string (GString *out, const gchar *text)
{
	g_string_append_c (out, '"');
	for (const guchar *p = (const guchar *) text; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			g_string_append (out, "\\\"");
			break;
		case '\\':
			g_string_append (out, "\\\\");
			break;
		case '\n':
			g_string_append (out, "\\n");
			break;
		case '\r':
			g_string_append (out, "\\r");
			break;
		case '\t':
			g_string_append (out, "\\t");
			break;
		default:
			if (*p < 0x20)
				g_string_append_printf (out, "\\u%04x", *p);
			else
				g_string_append_c (out, (gchar) *p);
		}
	}
	g_string_append_c (out, '"');
}

static void
append_double (GString *out, gdouble value)
{
	gchar buffer[G_ASCII_DTOSTR_BUF_SIZE];

	/* JSON has no infinity or NaN; a parser only makes them from overflow */
	if (!isfinite (value)) {
		g_string_append (out, "null");
		return;
	}
	g_ascii_dtostr (buffer, sizeof buffer, value);
	g_string_append (out, buffer);
	/* still a double when read back: 2.0 rather than 2 (1e+20 is one already) */
	if (strpbrk (buffer, ".e") == NULL)
		g_string_append (out, ".0");
}

static void
append_node (GString *out, JsonNode *node)
{
	switch (json_node_get_node_type (node)) {
	case JSON_NODE_OBJECT: {
		JsonObjectIter iter;
		const gchar *name;
		JsonNode *member;
		gboolean first = TRUE;

		g_string_append_c (out, '{');
		/* in the order the members came */
		json_object_iter_init_ordered (&iter, json_node_get_object (node));
		while (json_object_iter_next_ordered (&iter, &name, &member)) {
			if (!first)
				g_string_append_c (out, ',');
			first = FALSE;
			append_string (out, name);
			g_string_append_c (out, ':');
			append_node (out, member);
		}
		g_string_append_c (out, '}');
		break;
	}
	case JSON_NODE_ARRAY: {
		JsonArray *array = json_node_get_array (node);

		g_string_append_c (out, '[');
		for (guint i = 0; i < json_array_get_length (array); i++) {
			if (i > 0)
				g_string_append_c (out, ',');
			append_node (out, json_array_get_element (array, i));
		}
		g_string_append_c (out, ']');
		break;
	}
	case JSON_NODE_VALUE:
		switch (json_node_get_value_type (node)) {
		case G_TYPE_INT64:
			g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
			break;
		case G_TYPE_DOUBLE:
			append_double (out, json_node_get_double (node));
			break;
		case G_TYPE_BOOLEAN:
			g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
			break;
		case G_TYPE_STRING:
			append_string (out, json_node_get_string (node));
			break;
		default:
			g_string_append (out, "null");
			break;
		}
		break;
	case JSON_NODE_NULL:
	default:
		g_string_append (out, "null");
		break;
	}
}

GBytes *
tether_json_to_bytes (JsonNode *node)
{
	GString *out = g_string_new (NULL);

	append_node (out, node);
	return g_string_free_to_bytes (out);
}

JsonNode *
tether_json_parse (const gchar *data, gsize size, gchar **problem)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable ();
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) wrapped = NULL;
	JsonNode *root;
	JsonArray *array;

	if (data == NULL || size == 0) {
		*problem = g_strdup (_("it is empty"));
		return NULL;
	}
	if (!g_utf8_validate_len (data, size, NULL)) {
		*problem = g_strdup (_("it is not valid UTF-8"));
		return NULL;
	}

	/* as the one element of an array, where a second value is an error */
	wrapped = g_string_sized_new (size + 3);
	g_string_append_c (wrapped, '[');
	g_string_append_len (wrapped, data, (gssize) size);
	g_string_append (wrapped, "\n]");
	if (!json_parser_load_from_data (parser, wrapped->str, (gssize) wrapped->len, NULL)) {
		/* the text alone: its own error, with the right line and column */
		g_autoptr(JsonParser) alone = json_parser_new_immutable ();

		if (json_parser_load_from_data (alone, data, (gssize) size, &error))
			*problem = g_strdup (_("it holds more than one JSON value"));
		else
			*problem = g_strdup (error->message);
		return NULL;
	}
	root = json_parser_get_root (parser);
	array = root != NULL && JSON_NODE_HOLDS_ARRAY (root) ? json_node_get_array (root) : NULL;
	if (array == NULL || json_array_get_length (array) != 1) {
		*problem = g_strdup (array != NULL && json_array_get_length (array) == 0
		                     ? _("it holds no JSON value")
		                     : _("it holds more than one JSON value"));
		return NULL;
	}
	return json_node_ref (json_array_get_element (array, 0));
}
