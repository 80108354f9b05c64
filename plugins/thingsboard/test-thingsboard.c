/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>

#include <tether/tether.h>

/*
 * The built module, opened the way the daemon's loader opens it, and driven
 * through the core's TetherCloud entry points. The module's path is the
 * first argument after the GTest options.
 */

static const gchar *module_path;

static TetherCloud *
load_cloud (void)
{
	GModule *module = g_module_open (module_path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
	const TetherPluginInfo *(*get_info) (void) = NULL;
	const TetherPluginInfo *info;
	GType type;

	if (module == NULL)
		g_error ("%s: %s", module_path, g_module_error ());
	g_assert_true (g_module_symbol (module, TETHER_PLUGIN_ENTRY_POINT, (gpointer *) &get_info));
	g_assert_nonnull (get_info);
	g_module_make_resident (module);

	info = get_info ();
	g_assert_cmpuint (info->abi_version, ==, TETHER_PLUGIN_ABI_VERSION);
	type = info->get_type ();
	g_assert_true (g_type_is_a (type, TETHER_TYPE_CLOUD));
	return g_object_new (type, NULL);
}

static GBytes *
bytes_from_string (const gchar *text)
{
	return g_bytes_new (text, strlen (text));
}

static gboolean
str_array_equal (GPtrArray *array, const gchar *const *expected)
{
	if (array->len != g_strv_length ((gchar **) expected))
		return FALSE;
	for (guint i = 0; i < array->len; i++) {
		if (g_strcmp0 (g_ptr_array_index (array, i), expected[i]) != 0)
			return FALSE;
	}
	return TRUE;
}

static void
test_declarations (void)
{
	g_autoptr(TetherCloud) cloud = load_cloud ();
	const gchar *kinds[] = { "telemetry", "attributes", NULL };
	const gchar *publish_options[] = { "expires-in", NULL };
	g_autoptr(GVariant) options = g_variant_ref_sink (tether_cloud_get_options (cloud));

	g_assert_cmpstr (tether_cloud_get_name (cloud), ==, "thingsboard");
	g_assert_nonnull (tether_cloud_get_description (cloud));
	g_assert_cmpstr (tether_cloud_get_description (cloud), !=, "");
	g_assert_cmpuint (tether_cloud_get_default_port (cloud), ==, 8883);
	g_assert_true (str_array_equal (tether_cloud_get_kinds (cloud), kinds));
	g_assert_true (str_array_equal (tether_cloud_get_publish_options (cloud), publish_options));
	g_assert_false (tether_cloud_has_publish_option (cloud, "topic"));
	g_assert_cmpuint (g_variant_n_children (options), ==, 0);
	g_assert_cmpuint (tether_cloud_get_bundled_anchors (cloud)->len, ==, 0);
}

static void
test_check_message (void)
{
	g_autoptr(TetherCloud) cloud = load_cloud ();
	g_autoptr(GBytes) telemetry = bytes_from_string ("{\"temperature\": 21.5}");
	g_autoptr(GBytes) not_json = bytes_from_string ("temperature=21.5");
	g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
	g_autoptr(TetherMessage) good = tether_message_new ("telemetry", telemetry, NULL);
	g_autoptr(TetherMessage) expiring = tether_message_new (
	        "attributes", telemetry, g_variant_new_parsed ("{'expires-in': <@u 60>}"));
	g_autoptr(TetherMessage) bad = tether_message_new ("telemetry", not_json, NULL);
	g_autoptr(TetherMessage) raw = tether_message_new (
	        TETHER_KIND_RAW, telemetry, g_variant_new_parsed ("{'topic': <'a/b'>}"));
	g_autoptr(TetherMessage) response = tether_message_new (
	        TETHER_KIND_RESPONSE, empty,
	        g_variant_new_parsed ("{'request-id': <'7'>, 'status': <@i 500>}"));
	g_autoptr(TetherMessage) response_no_status = tether_message_new (
	        TETHER_KIND_RESPONSE, telemetry, g_variant_new_parsed ("{'request-id': <'7'>}"));
	g_autoptr(TetherMessage) response_bad_id = tether_message_new (
	        TETHER_KIND_RESPONSE, telemetry,
	        g_variant_new_parsed ("{'request-id': <'seven'>, 'status': <@i 200>}"));
	g_autoptr(GError) error_bad = NULL;
	g_autoptr(GError) error_raw = NULL;
	g_autoptr(GError) error_no_status = NULL;
	g_autoptr(GError) error_bad_id = NULL;

	g_assert_true (tether_cloud_check_message (cloud, NULL, good, NULL));
	g_assert_true (tether_cloud_check_message (cloud, NULL, expiring, NULL));
	g_assert_true (tether_cloud_check_message (cloud, NULL, response, NULL));

	g_assert_false (tether_cloud_check_message (cloud, NULL, bad, &error_bad));
	g_assert_error (error_bad, TETHER_ERROR, TETHER_ERROR_REFUSED);
	g_assert_true (g_str_has_prefix (error_bad->message, "thingsboard: telemetry must be"));

	g_assert_false (tether_cloud_check_message (cloud, NULL, raw, &error_raw));
	g_assert_error (error_raw, TETHER_ERROR, TETHER_ERROR_REFUSED);

	g_assert_false (
	        tether_cloud_check_message (cloud, NULL, response_no_status, &error_no_status));
	g_assert_error (error_no_status, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);

	g_assert_false (tether_cloud_check_message (cloud, NULL, response_bad_id, &error_bad_id));
	g_assert_error (error_bad_id, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
}

static void
test_map_message (void)
{
	g_autoptr(TetherCloud) cloud = load_cloud ();
	g_autoptr(GBytes) attributes = bytes_from_string ("{\"firmware\": \"1.2.3\"}");
	g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
	g_autoptr(GBytes) error_object = bytes_from_string ("{\"error\":\"status 500\"}");
	g_autoptr(TetherMessage) message = tether_message_new ("attributes", attributes, NULL);
	g_autoptr(TetherMessage) response = tether_message_new (
	        TETHER_KIND_RESPONSE, empty,
	        g_variant_new_parsed ("{'request-id': <'7'>, 'status': <@i 500>}"));

	g_assert_true (tether_cloud_map_message (cloud, NULL, message, NULL));
	g_assert_cmpstr (tether_message_get_topic (message), ==, "v1/devices/me/attributes");
	g_assert_cmpint (tether_message_get_qos (message), ==, 1);
	g_assert_true (g_bytes_equal (tether_message_get_wire_payload (message), attributes));

	g_assert_true (tether_cloud_map_message (cloud, NULL, response, NULL));
	g_assert_cmpstr (tether_message_get_topic (response), ==, "v1/devices/me/rpc/response/7");
	g_assert_cmpint (tether_message_get_qos (response), ==, 1);
	g_assert_true (g_bytes_equal (tether_message_get_wire_payload (response), error_object));
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	if (argc != 2) {
		g_printerr ("usage: %s [GTest options] MODULE\n", argv[0]);
		return 2;
	}
	module_path = argv[1];

	g_test_add_func ("/thingsboard/module/declarations", test_declarations);
	g_test_add_func ("/thingsboard/module/check-message", test_check_message);
	g_test_add_func ("/thingsboard/module/map-message", test_map_message);

	return g_test_run ();
}
