/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "tether-error.h"
#include "tether-names.h"

static void
test_names_valid (void)
{
	const gchar *valid[] = { "device", "a", "tb-prod", "Factory_CA.2026", "0x", NULL };
	g_autofree gchar *longest = g_strnfill (64, 'n');

	for (guint i = 0; valid[i] != NULL; i++) {
		g_autoptr(GError) error = NULL;
		g_assert_true (tether_name_check (valid[i], "connection", &error));
		g_assert_no_error (error);
	}
	g_assert_true (tether_name_check (longest, "connection", NULL));
}

static void
test_names_invalid (void)
{
	g_autofree gchar *too_long = g_strnfill (65, 'n');
	struct {
		const gchar *name;
		const gchar *says;
	} cases[] = {
		{ "", "empty" },
		{ "-x", "must start" },
		{ ".hidden", "must start" },
		{ "bad/name", "position 4" },
		{ "a b", "position 2" },
		{ "caf\xc3\xa9", "position 4" },
		{ "\xc3\xa9t\xc3\xa9", "ASCII letter" },
		{ too_long, "65 characters" },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_false (tether_name_check (cases[i].name, "trust anchor", &error));
		g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
		g_assert_nonnull (strstr (error->message, "trust anchor"));
		g_assert_nonnull (strstr (error->message, cases[i].says));
	}
}

static void
test_endpoint_parse (void)
{
	struct {
		const gchar *endpoint;
		const gchar *host;
		guint16 port;
	} cases[] = {
		{ "localhost", "localhost", 0 },
		{ "mqtt.thingsboard.cloud:8883", "mqtt.thingsboard.cloud", 8883 },
		{ "127.0.0.1:1", "127.0.0.1", 1 },
		{ "[::1]:8883", "::1", 8883 },
		{ "[fe80::1]", "fe80::1", 0 },
		{ "host:65535", "host", 65535 },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *host = NULL;
		guint16 port = 99;

		g_assert_true (tether_endpoint_parse (cases[i].endpoint, &host, &port, &error));
		g_assert_no_error (error);
		g_assert_cmpstr (host, ==, cases[i].host);
		g_assert_cmpuint (port, ==, cases[i].port);
	}
}

static void
test_endpoint_invalid (void)
{
	const gchar *cases[] = { "",    "host:0",  "host:65536", "host:", "host:x",    ":8883",
		                 "::1", "[::1",    "[::1]x",     "a b:1", "user@host", "host/path",
		                 "-x",  ".hidden", "a..b",       "host-", "a.-b.c" };

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_false (tether_endpoint_parse (cases[i], NULL, NULL, &error));
		g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
	}
}

/* a host name longer than DNS allows, whole or in one label */
static void
test_endpoint_too_long (void)
{
	g_autofree gchar *label = g_strnfill (64, 'a');
	g_autofree gchar *longest_label = g_strnfill (63, 'a');
	g_autofree gchar *name = g_strdup_printf ("%s.%s.%s.%s.x", longest_label, longest_label,
	                                          longest_label, longest_label);
	g_autoptr(GError) error = NULL;

	g_assert_false (tether_endpoint_parse (label, NULL, NULL, &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
	g_clear_error (&error);
	g_assert_cmpuint (strlen (name), >, 253);
	g_assert_false (tether_endpoint_parse (name, NULL, NULL, &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
	g_clear_error (&error);
	g_assert_true (tether_endpoint_parse (longest_label, NULL, NULL, &error));
	g_assert_no_error (error);
}

static void
test_options_check (void)
{
	const TetherOptionSpec specs[] = { { "replace", "b" }, { "names", "as" } };
	g_autoptr(GError) error = NULL;
	/* g_variant_parse () gives a full reference */
	g_autoptr(GVariant) good = g_variant_parse (NULL, "{'replace': <true>, 'names': <['a']>}",
	                                             NULL, NULL, NULL);
	g_autoptr(GVariant) unknown =
	                   g_variant_parse (NULL, "{'force': <true>}", NULL, NULL, NULL);
	g_autoptr(GVariant) wrong_type =
	                   g_variant_parse (NULL, "{'replace': <'yes'>}", NULL, NULL, NULL);

	g_assert_true (tether_options_check (good, specs, G_N_ELEMENTS (specs), "options", &error));
	g_assert_no_error (error);

	g_assert_false (
	        tether_options_check (unknown, specs, G_N_ELEMENTS (specs), "options", &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull (strstr (error->message, "'force'"));
	g_assert_nonnull (strstr (error->message, "replace, names"));
	g_clear_error (&error);

	g_assert_false (
	        tether_options_check (wrong_type, specs, G_N_ELEMENTS (specs), "options", &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull (strstr (error->message, "'b'"));
}

static void
test_error_dbus_names (void)
{
	g_autoptr(GError) error =
	                   g_error_new_literal (TETHER_ERROR, TETHER_ERROR_QUEUE_FULL, "full");
	g_autofree gchar *name = g_dbus_error_encode_gerror (error);

	g_assert_cmpstr (name, ==, "org.tether.Error.QueueFull");
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/names/valid", test_names_valid);
	g_test_add_func ("/names/invalid", test_names_invalid);
	g_test_add_func ("/names/endpoint", test_endpoint_parse);
	g_test_add_func ("/names/endpoint-invalid", test_endpoint_invalid);
	g_test_add_func ("/names/endpoint-too-long", test_endpoint_too_long);
	g_test_add_func ("/names/options-check", test_options_check);
	g_test_add_func ("/names/error-dbus-names", test_error_dbus_names);
	return g_test_run ();
}
