/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <string.h>

#include <gio/gsettingsbackend.h>
#include <glib/gstdio.h>

#include "tether-connection-private.h"
#include "tether-error.h"
#include "tether-settings.h"

typedef struct {
	gchar *dir;
	gchar *file;
} Fixture;

static void
fixture_setup (Fixture *fixture, gconstpointer data)
{
	fixture->dir = g_dir_make_tmp ("tether-settings-XXXXXX", NULL);
	fixture->file = g_build_filename (fixture->dir, "etc", "tether.conf", NULL);
}

static void
fixture_teardown (Fixture *fixture, gconstpointer data)
{
	g_autofree gchar *etc = g_path_get_dirname (fixture->file);
	g_unlink (fixture->file);
	g_rmdir (etc);
	g_rmdir (fixture->dir);
	g_free (fixture->file);
	g_free (fixture->dir);
}

/* what is written survives a new backend on the same file: a daemon restart */
static void
test_settings_persist (Fixture *fixture, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSettingsBackend) backend = tether_settings_backend_new (fixture->file, &error);
	g_autoptr(GSettings) root = NULL;
	g_autoptr(GSettings) connection = NULL;
	g_autoptr(GSettingsBackend) backend2 = NULL;
	g_autoptr(GSettings) root2 = NULL;
	g_autoptr(GSettings) connection2 = NULL;
	g_autofree gchar *endpoint = NULL;
	g_auto(GStrv) ids = NULL;
	const gchar *list[] = { "tb", NULL };
	g_autofree gchar *contents = NULL;

	g_assert_no_error (error);
	root = tether_settings_new_root (backend, &error);
	g_assert_no_error (error);
	connection = tether_settings_new_connection (backend, "tb");
	g_settings_set_strv (root, "connections", list);
	g_settings_set_string (connection, "endpoint", "broker.example:8883");
	g_settings_set_string (connection, "cloud", "thingsboard");
	g_settings_sync ();

	/* the file is a key file a person can read */
	g_assert_true (g_file_get_contents (fixture->file, &contents, NULL, NULL));
	g_assert_nonnull (strstr (contents, "[connections/tb]"));
	g_assert_nonnull (strstr (contents, "endpoint='broker.example:8883'"));

	backend2 = tether_settings_backend_new (fixture->file, &error);
	root2 = tether_settings_new_root (backend2, &error);
	g_assert_no_error (error);
	connection2 = tether_settings_new_connection (backend2, "tb");
	ids = g_settings_get_strv (root2, "connections");
	g_assert_cmpstrv (ids, list);
	endpoint = g_settings_get_string (connection2, "endpoint");
	g_assert_cmpstr (endpoint, ==, "broker.example:8883");
}

static void
test_settings_defaults_and_reset (Fixture *fixture, gconstpointer data)
{
	g_autoptr(GSettingsBackend) backend = tether_settings_backend_new (fixture->file, NULL);
	g_autoptr(GSettings) root = tether_settings_new_root (backend, NULL);
	g_autoptr(GSettings) connection = tether_settings_new_connection (backend, "gone");
	g_auto(GStrv) identities = g_settings_get_strv (root, "identities");
	g_autofree gchar *identity = NULL;
	g_autofree gchar *endpoint = NULL;

	/* the default identity exists from the start */
	g_assert_true (g_strv_contains ((const gchar *const *) identities, "device"));
	identity = g_settings_get_string (connection, "identity");
	g_assert_cmpstr (identity, ==, "device");
	g_assert_true (g_settings_get_boolean (connection, "enabled"));

	g_settings_set_string (connection, "endpoint", "x:1");
	tether_settings_reset_all (connection);
	endpoint = g_settings_get_string (connection, "endpoint");
	g_assert_cmpstr (endpoint, ==, "");
}

static void
test_settings_ranges (Fixture *fixture, gconstpointer data)
{
	g_autoptr(GSettingsSchemaSource) source =
	                   g_settings_schema_source_ref (g_settings_schema_source_get_default ());
	g_autoptr(GSettingsSchema) schema = g_settings_schema_source_lookup (
	        source, TETHER_CONNECTION_SCHEMA_ID, TRUE);
	g_autoptr(GSettingsSchemaKey) keepalive = g_settings_schema_get_key (schema, "keepalive");
	g_autoptr(GVariant) too_small = g_variant_ref_sink (g_variant_new_uint32 (4));
	g_autoptr(GVariant) fine = g_variant_ref_sink (g_variant_new_uint32 (60));
	g_auto(GStrv) keys = g_settings_schema_list_keys (schema);

	g_assert_false (g_settings_schema_key_range_check (keepalive, too_small));
	g_assert_true (g_settings_schema_key_range_check (keepalive, fine));
}

/* what tetherd starts with: a key file or none; never a directory, a device or garbage */
static void
test_settings_check_file (Fixture *fixture, gconstpointer data)
{
	g_autofree gchar *etc = g_path_get_dirname (fixture->file);
	const gchar garbage[] = "garbage [[[ not ini\n";
	g_autoptr(GError) error = NULL;
	g_autoptr(GSettingsBackend) backend = NULL;
	g_autofree gchar *contents = NULL;

	/* none yet, then an empty one and a valid one */
	g_assert_true (tether_settings_check_file (fixture->file, &error));
	g_assert_no_error (error);
	g_assert_cmpint (g_mkdir (etc, 0700), ==, 0);
	g_assert_true (g_file_set_contents (fixture->file, "", 0, NULL));
	g_assert_true (tether_settings_check_file (fixture->file, &error));
	g_assert_true (
	        g_file_set_contents (fixture->file, "[tether]\nconnections=['a']\n", -1, NULL));
	g_assert_true (tether_settings_check_file (fixture->file, &error));
	g_assert_no_error (error);

	/* a directory */
	g_assert_false (tether_settings_check_file (etc, &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_FAILED);
	g_assert_nonnull (strstr (error->message, etc));
	g_assert_nonnull (strstr (error->message, "is a directory: --config must name a file"));
	g_clear_error (&error);

	/* a device */
	g_assert_false (tether_settings_check_file ("/dev/null", &error));
	g_assert_nonnull (strstr (error->message, "not a regular file"));
	g_clear_error (&error);

	/* not a key file: named with the parse error, refused, and left as it was */
	g_assert_true (g_file_set_contents (fixture->file, garbage, -1, NULL));
	g_assert_false (tether_settings_check_file (fixture->file, &error));
	g_assert_nonnull (strstr (error->message, fixture->file));
	g_assert_nonnull (strstr (error->message, "is not a key file"));
	g_assert_nonnull (strstr (error->message, "garbage [[[ not ini"));
	g_clear_error (&error);
	backend = tether_settings_backend_new (fixture->file, &error);
	g_assert_null (backend);
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_FAILED);
	g_assert_true (g_file_get_contents (fixture->file, &contents, NULL, NULL));
	g_assert_cmpstr (contents, ==, garbage);
}

/* a change that cannot be saved is refused before it is made, with the reason */
static void
test_settings_check_writable (Fixture *fixture, gconstpointer data)
{
	g_autofree gchar *etc = g_path_get_dirname (fixture->file);
	g_autoptr(GError) error = NULL;
	g_autoptr(GSettingsBackend) backend = tether_settings_backend_new (fixture->file, &error);
	g_autoptr(GSettings) root = NULL;
	g_autoptr(GSettingsBackend) memory = g_memory_settings_backend_new ();
	g_autoptr(GSettings) in_memory = NULL;
	g_autofree gchar *expected = NULL;

	g_assert_no_error (error);
	root = tether_settings_new_root (backend, &error);
	g_assert_no_error (error);
	g_assert_true (tether_settings_check_writable (fixture->file, &error));
	g_assert_true (tether_settings_check_can_save (root, &error));
	g_assert_no_error (error);

	/* the directory went away: the backend would only warn, and keep the change in memory */
	g_assert_cmpint (g_rmdir (etc), ==, 0);
	g_assert_false (tether_settings_check_can_save (root, &error));
	expected = g_strdup_printf ("cannot save the configuration to %s: %s", fixture->file,
	                            g_strerror (ENOENT));
	g_assert_cmpstr (error->message, ==, expected);
	g_clear_error (&error);

	/* a directory where the file should be */
	g_assert_cmpint (g_mkdir_with_parents (fixture->file, 0700), ==, 0);
	g_assert_false (tether_settings_check_can_save (root, &error));
	g_assert_nonnull (strstr (error->message, "is a directory"));
	g_clear_error (&error);
	g_assert_cmpint (g_rmdir (fixture->file), ==, 0);

	/* a backend without a file saves nothing, and refuses nothing */
	in_memory = tether_settings_new_root (memory, &error);
	g_assert_no_error (error);
	g_assert_true (tether_settings_check_can_save (in_memory, &error));
	g_assert_no_error (error);
}

typedef struct {
	guint keys;
	guint summaries;
	guint descriptions;
	guint bounded; /* a range or choices, where the type has any */
	gboolean in_key;
	gboolean needs_bound;
} SchemaCount;

static void
schema_start (GMarkupParseContext *context, const gchar *element, const gchar **names,
              const gchar **values, gpointer user_data, GError **error)
{
	SchemaCount *count = user_data;

	if (g_str_equal (element, "key")) {
		const gchar *type = NULL;
		for (guint i = 0; names[i] != NULL; i++) {
			if (g_str_equal (names[i], "type"))
				type = values[i];
		}
		count->keys++;
		count->in_key = TRUE;
		/* numbers need a range; strings, booleans and containers have none */
		count->needs_bound = type != NULL && strchr ("yqiuxt", type[0]) != NULL;
		if (!count->needs_bound)
			count->bounded++;
	} else if (count->in_key && g_str_equal (element, "summary")) {
		count->summaries++;
	} else if (count->in_key && g_str_equal (element, "description")) {
		count->descriptions++;
	} else if (count->in_key && count->needs_bound &&
	           (g_str_equal (element, "range") || g_str_equal (element, "choices"))) {
		count->bounded++;
	}
}

static void
schema_end (GMarkupParseContext *context, const gchar *element, gpointer user_data, GError **error)
{
	SchemaCount *count = user_data;

	if (g_str_equal (element, "key"))
		count->in_key = FALSE;
}

/* every key has a summary, a description and, for numbers, a range */
static void
test_settings_documented (void)
{
	g_autofree gchar *path =
	        g_test_build_filename (G_TEST_DIST, "..", "data", "org.tether.gschema.xml", NULL);
	g_autofree gchar *contents = NULL;
	gsize len = 0;
	GMarkupParser parser = { schema_start, schema_end, NULL, NULL, NULL };
	SchemaCount count = { 0 };
	g_autoptr(GMarkupParseContext) context =
	                   g_markup_parse_context_new (&parser, 0, &count, NULL);
	g_autoptr(GError) error = NULL;

	g_assert_true (g_file_get_contents (path, &contents, &len, &error));
	g_assert_true (g_markup_parse_context_parse (context, contents, (gssize) len, &error));
	g_assert_no_error (error);
	g_assert_cmpuint (count.keys, >, 10);
	g_assert_cmpuint (count.summaries, ==, count.keys);
	g_assert_cmpuint (count.descriptions, ==, count.keys);
	g_assert_cmpuint (count.bounded, ==, count.keys);
}

/* reconnect-min and reconnect-max bound every wait, and the jitter stays within them */
static void
test_settings_reconnect_backoff (void)
{
	const guint32 randoms[] = { 0, 1, 499, 500, 501, 12345, G_MAXUINT32 / 2, G_MAXUINT32 };
	const guint expected[] = { 1, 2, 4, 8, 16, 32, 60, 60 };
	guint backoff = 0;

	/* the defaults: 1 s, doubling, up to 60 s */
	for (guint i = 0; i < G_N_ELEMENTS (expected); i++) {
		backoff = tether_connection_backoff_next (backoff, 1, 60);
		g_assert_cmpuint (backoff, ==, expected[i]);
		for (guint r = 0; r < G_N_ELEMENTS (randoms); r++) {
			guint delay = tether_connection_backoff_delay_ms (backoff, 60, randoms[r]);

			g_assert_cmpuint (delay, >=, backoff * 1000);
			g_assert_cmpuint (delay, <=, MIN (backoff * 1500, 60 * 1000));
		}
	}

	/* jitter: not one wait for all */
	g_assert_cmpuint (tether_connection_backoff_delay_ms (8, 60, 0), !=,
	                  tether_connection_backoff_delay_ms (8, 60, 3999));
	g_assert_cmpuint (tether_connection_backoff_delay_ms (8, 60, 4000), ==, 12000);
	g_assert_cmpuint (tether_connection_backoff_delay_ms (8, 60, 4001), ==, 8000);

	/* a maximum below the minimum: the minimum, every time */
	g_assert_cmpuint (tether_connection_backoff_next (0, 30, 10), ==, 30);
	g_assert_cmpuint (tether_connection_backoff_next (30, 30, 10), ==, 30);
	g_assert_cmpuint (tether_connection_backoff_delay_ms (30, 10, G_MAXUINT32), ==, 30000);

	/* the largest the schema allows does not overflow */
	g_assert_cmpuint (tether_connection_backoff_next (86400, 3600, 86400), ==, 86400);
	g_assert_cmpuint (tether_connection_backoff_delay_ms (86400, 86400, G_MAXUINT32), ==,
	                  86400000);
}

int
main (int argc, char **argv)
{
	g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
	g_test_init (&argc, &argv, NULL);
	g_test_add ("/settings/persist", Fixture, NULL, fixture_setup, test_settings_persist,
	            fixture_teardown);
	g_test_add ("/settings/defaults-and-reset", Fixture, NULL, fixture_setup,
	            test_settings_defaults_and_reset, fixture_teardown);
	g_test_add ("/settings/ranges", Fixture, NULL, fixture_setup, test_settings_ranges,
	            fixture_teardown);
	g_test_add ("/settings/check-file", Fixture, NULL, fixture_setup, test_settings_check_file,
	            fixture_teardown);
	g_test_add ("/settings/check-writable", Fixture, NULL, fixture_setup,
	            test_settings_check_writable, fixture_teardown);
	g_test_add_func ("/settings/documented", test_settings_documented);
	g_test_add_func ("/settings/reconnect-backoff", test_settings_reconnect_backoff);
	return g_test_run ();
}
