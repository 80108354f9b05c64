/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <gnutls/x509.h>
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

static void
test_declarations (void)
{
	g_autoptr(TetherCloud) cloud = load_cloud ();
	g_autoptr(GVariant) options = g_variant_ref_sink (tether_cloud_get_options (cloud));
	GPtrArray *anchors = tether_cloud_get_bundled_anchors (cloud);
	const gchar *type = NULL;
	const gchar *const roots[] = { "Amazon Root CA 1", "Amazon Root CA 3" };

	g_assert_cmpstr (tether_cloud_get_name (cloud), ==, "aws-iot");
	g_assert_cmpuint (tether_cloud_get_default_port (cloud), ==, 8883);
	g_assert_true (tether_cloud_has_kind (cloud, "telemetry"));
	g_assert_true (tether_cloud_has_kind (cloud, "event"));
	g_assert_true (tether_cloud_has_kind (cloud, "attributes"));
	g_assert_true (tether_cloud_has_kind (cloud, "raw"));
	g_assert_true (tether_cloud_has_publish_option (cloud, "topic"));
	g_assert_true (tether_cloud_has_publish_option (cloud, "shadow"));

	g_assert_true (g_variant_lookup (options, "subscriptions", "(&s&s)", &type, NULL));
	g_assert_cmpstr (type, ==, "as");
	g_assert_true (
	        g_variant_lookup (options, "provisioning-parameters", "(&s&s)", &type, NULL));
	g_assert_cmpstr (type, ==, "a{ss}");
	g_assert_true (g_variant_lookup (options, "clean-session", "(&s&s)", &type, NULL));
	g_assert_cmpstr (type, ==, "b");

	/* Amazon Root CA 1 (RSA) and 3 (ECC), both in the default set */
	g_assert_cmpuint (anchors->len, ==, 2);
	for (guint i = 0; i < anchors->len; i++) {
		TetherBundledAnchor *anchor = g_ptr_array_index (anchors, i);
		g_autofree gchar *pem = g_strndup (g_bytes_get_data (anchor->pem, NULL),
		                                   g_bytes_get_size (anchor->pem));
		g_autofree gchar *expected_slug =
		        g_strdup_printf ("amazon-root-ca-%u", i == 0 ? 1 : 3);

		gnutls_datum_t datum = { (unsigned char *) pem, (unsigned int) strlen (pem) };
		gnutls_x509_crt_t crt = NULL;
		gnutls_datum_t dn = { NULL, 0 };

		g_assert_cmpstr (anchor->slug, ==, expected_slug);
		g_assert_true (anchor->in_default_set);
		g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
		g_assert_cmpint (gnutls_x509_crt_import (crt, &datum, GNUTLS_X509_FMT_PEM), ==, 0);
		g_assert_cmpint (gnutls_x509_crt_get_dn3 (crt, &dn, 0), ==, 0);
		g_assert_nonnull (strstr ((const char *) dn.data, roots[i]));
		gnutls_free (dn.data);
		gnutls_x509_crt_deinit (crt);
	}
}

/* tether_cloud_check_options () borrows its dictionary: a full reference, freed after */
static gboolean
check_options (TetherCloud *cloud, const gchar *text, GError **error)
{
	g_autoptr(GVariant) options = g_variant_ref_sink (g_variant_new_parsed (text));

	return tether_cloud_check_options (cloud, options, error);
}

static void
test_check_options (void)
{
	g_autoptr(TetherCloud) cloud = load_cloud ();
	g_autoptr(GError) error = NULL;

	g_assert_true (check_options (cloud,
	                              "{'thing-name': <'t1'>, 'subscriptions': <['cmd/t1/#']>, "
	                              "'provisioning-template': <'fleet'>, "
	                              "'provisioning-parameters': <{'SerialNumber': '1'}>}",
	                              NULL));
	g_assert_false (check_options (cloud, "{'telemetry-topic': <'dt/+/x'>}", &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull (strstr (error->message, "telemetry-topic"));
	g_clear_error (&error);
	g_assert_false (check_options (cloud, "{'subscriptions': <['cmd/a#']>}", &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
	g_clear_error (&error);
	g_assert_false (check_options (cloud, "{'thing-name': <'a/b'>}", &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
	g_clear_error (&error);
	g_assert_false (check_options (cloud, "{'provisioning-parameters': <{'a': 'b'}>}", &error));
	g_assert_nonnull (strstr (error->message, "provisioning-template"));
	g_clear_error (&error);
	g_assert_false (check_options (cloud, "{'claim-identity': <'../claim'>}", &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull (strstr (error->message, "'../claim'"));
	g_assert_true (check_options (cloud, "{'claim-identity': <'factory-claim'>}", NULL));
}

/* a client id and keep-alive AWS IoT Core refuses are refused when the connection is set up */
static void
test_check_session (void)
{
	g_autoptr(TetherCloud) cloud = load_cloud ();
	g_autofree gchar *longest = g_strnfill (128, 'c');
	g_autofree gchar *too_long = g_strnfill (129, 'c');
	const struct {
		const gchar *client_id;
		guint keepalive;
		const gchar *says; /* NULL: accepted */
	} cases[] = {
		{ "", 60, NULL },
		{ NULL, 0, NULL },
		{ "thing-1", 30, NULL },
		{ longest, 1200, NULL },
		{ NULL, 1200, NULL },
		{ "thing-1", 0, NULL },
		{ "", 29, "30 to 1200" },
		{ NULL, 1201, "30 to 1200" },
		{ too_long, 0, "129 bytes" },
		{ "$sys", 60, "'$sys'" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		gboolean ok = tether_cloud_check_session (cloud, cases[i].client_id,
		                                          cases[i].keepalive, &error);

		g_test_message ("client id %s, keep-alive %u", cases[i].client_id,
		                cases[i].keepalive);
		if (cases[i].says == NULL) {
			g_assert_no_error (error);
			g_assert_true (ok);
			continue;
		}
		g_assert_false (ok);
		g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
		if (strstr (error->message, cases[i].says) == NULL)
			g_error ("'%s' does not say '%s'", error->message, cases[i].says);
	}
}

static void
assert_check (TetherCloud *cloud, const gchar *kind, GBytes *payload, GVariant *options, gint code,
              const gchar *needle)
{
	g_autoptr(TetherMessage) message = tether_message_new (kind, payload, options);
	g_autoptr(GError) error = NULL;

	if (code < 0) {
		g_assert_true (tether_cloud_check_message (cloud, NULL, message, &error));
		g_assert_no_error (error);
		return;
	}
	g_assert_false (tether_cloud_check_message (cloud, NULL, message, &error));
	g_assert_error (error, TETHER_ERROR, code);
	if (strstr (error->message, needle) == NULL)
		g_error ("the error does not say '%s': %s", needle, error->message);
}

static void
test_check_message (void)
{
	g_autoptr(TetherCloud) cloud = load_cloud ();
	g_autoptr(GBytes) json = bytes_from_string ("{\"t\": 21.5}");
	g_autoptr(GBytes) text = bytes_from_string ("21.5");
	g_autoptr(GBytes) big = g_bytes_new_take (g_malloc0 (128 * 1024 + 1), 128 * 1024 + 1);

	assert_check (cloud, "telemetry", text, NULL, -1, NULL);
	assert_check (cloud, "event", json, NULL, -1, NULL);
	assert_check (cloud, "attributes", json, NULL, -1, NULL);
	assert_check (cloud, "attributes", json, g_variant_new_parsed ("{'shadow': <'cfg'>}"), -1,
	              NULL);
	assert_check (cloud, "raw", text, g_variant_new_parsed ("{'topic': <'a/b'>}"), -1, NULL);

	assert_check (cloud, "telemetry", big, NULL, TETHER_ERROR_REFUSED, "128 KiB");
	assert_check (cloud, "attributes", text, NULL, TETHER_ERROR_REFUSED, "JSON object");
	assert_check (cloud, "attributes", json, g_variant_new_parsed ("{'shadow': <'a/b'>}"),
	              TETHER_ERROR_REFUSED, "shadow name");
	assert_check (cloud, "raw", text, g_variant_new_parsed ("{'topic': <'a/#'>}"),
	              TETHER_ERROR_REFUSED, "wildcard");
	assert_check (cloud, "raw", text, g_variant_new_parsed ("{'topic': <''>}"),
	              TETHER_ERROR_REFUSED, "empty");
	assert_check (cloud, "telemetry", text, g_variant_new_parsed ("{'topic': <'a/b'>}"),
	              TETHER_ERROR_INVALID_ARGUMENT, "'raw'");
	assert_check (cloud, "telemetry", text, g_variant_new_parsed ("{'shadow': <'cfg'>}"),
	              TETHER_ERROR_INVALID_ARGUMENT, "'attributes'");
	assert_check (cloud, "command", text, NULL, TETHER_ERROR_INVALID_ARGUMENT, "command");
	assert_check (cloud, TETHER_KIND_RESPONSE, text,
	              g_variant_new_parsed ("{'request-id': <'1'>, 'status': <@i 200>}"),
	              TETHER_ERROR_INVALID_ARGUMENT, "no commands");
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

	g_test_add_func ("/aws-iot/module/declarations", test_declarations);
	g_test_add_func ("/aws-iot/module/check-options", test_check_options);
	g_test_add_func ("/aws-iot/module/check-session", test_check_session);
	g_test_add_func ("/aws-iot/module/check-message", test_check_message);
	return g_test_run ();
}
