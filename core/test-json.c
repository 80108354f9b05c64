/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "tether-json.h"

static gchar *
rewrite (const gchar *text)
{
	g_autoptr(JsonParser) parser = json_parser_new ();
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes = NULL;
	gsize size;
	const gchar *data;

	g_assert_true (json_parser_load_from_data (parser, text, -1, &error));
	g_assert_no_error (error);
	bytes = tether_json_to_bytes (json_parser_get_root (parser));
	data = g_bytes_get_data (bytes, &size);
	return g_strndup (data, size);
}

/* what is written reads back, as JSON, to the same document */
static void
test_json_round_trip (void)
{
	struct {
		const gchar *in;
		const gchar *out;
	} cases[] = {
		{ "{\"a\": 1, \"b\": [true, false, null], \"c\": {}}",
		  "{\"a\":1,\"b\":[true,false,null],\"c\":{}}" },
		/* json-glib 1.6 writes these as 1e+20.0 and 4e+303.0 */
		{ "[1e20, 4e303, 2.5, 2.0, -0.5, 1.5e-7]",
		  "[1e+20,4e+303,2.5,2.0,-0.5,1.4999999999999999e-07]" },
		/* a double too large for a double: JSON has no infinity */
		{ "[1e999]", "[null]" },
		{ "[9223372036854775807, -3]", "[9223372036854775807,-3]" },
		{ "[\"q\\\"b\\\\n\\n\\u0001\\u00e9\"]", "[\"q\\\"b\\\\n\\n\\u0001\u00e9\"]" },
		{ "{\"\\t\": \"\"}", "{\"\\t\":\"\"}" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree gchar *out = rewrite (cases[i].in);
		g_autofree gchar *again = NULL;

		g_test_message ("in: %s", cases[i].in);
		g_assert_cmpstr (out, ==, cases[i].out);
		/* and it is JSON: written again, nothing changes */
		again = rewrite (out);
		g_assert_cmpstr (again, ==, out);
	}
}

/* one value and nothing after it: json-glib 1.6 alone keeps the first of "{} {}" */
static void
test_json_parse (void)
{
	struct {
		const gchar *text;
		const gchar *says; /* NULL: parsed */
	} cases[] = {
		{ "{\"a\": 1}", NULL },
		{ " [1, 2]\n", NULL },
		{ "42", NULL },
		{ "", "empty" },
		{ "{\"a\":1}{\"b\":2}", "more than one JSON value" },
		{ "[1][2]", "more than one JSON value" },
		{ "{\"a\":1} x", "" },
		{ "{\"a\": ", "" },
		{ "\xff", "UTF-8" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree gchar *problem = NULL;
		g_autofree gchar *shown = g_strescape (cases[i].text, NULL);
		g_autoptr(JsonNode) node = NULL;

		/* escaped: a TAP line that is not UTF-8 confuses meson's reader */
		g_test_message ("text: %s", shown);
		node = tether_json_parse (cases[i].text, strlen (cases[i].text), &problem);
		if (cases[i].says == NULL) {
			g_assert_nonnull (node);
			g_assert_null (problem);
		} else {
			g_assert_null (node);
			g_assert_nonnull (problem);
			g_assert_nonnull (strstr (problem, cases[i].says));
		}
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/json/round-trip", test_json_round_trip);
	g_test_add_func ("/json/parse", test_json_parse);
	return g_test_run ();
}
