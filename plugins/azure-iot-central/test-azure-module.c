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
	static GModule *module = NULL;
	const TetherPluginInfo *(*get_info) (void) = NULL;
	const TetherPluginInfo *info;
	GType type;

	if (module == NULL) {
		module = g_module_open (module_path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
		if (module == NULL)
			g_error ("%s: %s", module_path, g_module_error ());
		g_module_make_resident (module);
	}
	g_assert_true (g_module_symbol (module, TETHER_PLUGIN_ENTRY_POINT, (gpointer *) &get_info));
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

static const gchar *
option_type (GVariant *options, const gchar *name)
{
	const gchar *type = NULL;
	const gchar *description = NULL;

	if (!g_variant_lookup (options, name, "(&s&s)", &type, &description))
		return NULL;
	g_assert_cmpstr (description, !=, "");
	return type;
}

static void
test_declarations (void)
{
	g_autoptr(TetherCloud) cloud = load_cloud ();
	g_autoptr(GVariant) options = g_variant_ref_sink (tether_cloud_get_options (cloud));
	GPtrArray *kinds = tether_cloud_get_kinds (cloud);

	g_assert_cmpstr (tether_cloud_get_name (cloud), ==, "azure-iot-central");
	g_assert_cmpstr (tether_cloud_get_description (cloud), !=, "");
	g_assert_cmpstr (tether_cloud_get_default_endpoint (cloud), ==,
	                 "global.azure-devices-provisioning.net:443");
	g_assert_cmpuint (kinds->len, ==, 2);
	g_assert_true (tether_cloud_has_kind (cloud, "telemetry"));
	g_assert_true (tether_cloud_has_kind (cloud, "attributes"));

	g_assert_cmpstr (option_type (options, "id-scope"), ==, "s");
	g_assert_cmpstr (option_type (options, "model-id"), ==, "s");
	g_assert_cmpstr (option_type (options, "registration-id"), ==, "s");
	g_assert_cmpstr (option_type (options, "hub-port"), ==, "q");
	g_assert_cmpstr (option_type (options, "provisioning-timeout"), ==, "u");

	g_assert_true (tether_cloud_has_publish_option (cloud, "component"));
	g_assert_true (tether_cloud_has_publish_option (cloud, "properties"));
	g_assert_true (tether_cloud_has_publish_option (cloud, "expires-in"));
	g_assert_false (tether_cloud_has_publish_option (cloud, "topic"));
}

/* each bundled root: a self-signed CA with the subject its slug names */
static void
test_bundled_anchors (void)
{
	g_autoptr(TetherCloud) cloud = load_cloud ();
	GPtrArray *anchors = tether_cloud_get_bundled_anchors (cloud);
	const struct {
		const gchar *slug;
		const gchar *subject_cn;
		gboolean in_default_set;
	} expected[] = {
		{ "digicert-global-root-g2", "CN=DigiCert Global Root G2", TRUE },
		{ "microsoft-rsa-root-ca-2017", "CN=Microsoft RSA Root Certificate Authority 2017",
		  TRUE },
		{ "baltimore-cybertrust-root", "CN=Baltimore CyberTrust Root", FALSE },
	};

	g_assert_cmpuint (anchors->len, ==, G_N_ELEMENTS (expected));
	for (guint i = 0; i < anchors->len; i++) {
		TetherBundledAnchor *anchor = g_ptr_array_index (anchors, i);
		gnutls_x509_crt_t crt = NULL;
		gnutls_datum_t pem = { (guchar *) g_bytes_get_data (anchor->pem, NULL),
			               (guint) g_bytes_get_size (anchor->pem) };
		gnutls_datum_t dn = { NULL, 0 };
		unsigned int ca = 0;

		g_assert_cmpstr (anchor->slug, ==, expected[i].slug);
		g_assert_cmpint (anchor->in_default_set, ==, expected[i].in_default_set);
		g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
		g_assert_cmpint (gnutls_x509_crt_import (crt, &pem, GNUTLS_X509_FMT_PEM), ==, 0);
		g_assert_cmpint (gnutls_x509_crt_get_dn3 (crt, &dn, 0), ==, 0);
		g_test_message ("%s: %s", anchor->slug, dn.data);
		g_assert_nonnull (strstr ((const gchar *) dn.data, expected[i].subject_cn));
		g_assert_cmpint (gnutls_x509_crt_get_basic_constraints (crt, NULL, &ca, NULL), >=,
		                 0);
		g_assert_true (ca);
		g_assert_true (gnutls_x509_crt_check_issuer (crt, crt));
		gnutls_free (dn.data);
		gnutls_x509_crt_deinit (crt);
	}
}

static void
test_check_options (void)
{
	g_autoptr(TetherCloud) cloud = load_cloud ();
	struct {
		const gchar *options;
		const gchar *says; /* NULL: accepted */
	} cases[] = {
		{ "{'id-scope': <'0ne0012ABCD'>}", NULL },
		{ "{'id-scope': <'0ne0012ABCD'>, 'model-id': <'dtmi:com:example:Thermostat;1'>, "
		  "'registration-id': <'dev-1'>, 'hub-port': <@q 8883>, "
		  "'provisioning-timeout': <@u 30>}",
		  NULL },
		{ "@a{sv} {}", "id-scope is required" },
		{ "{'id-scope': <''>}", "id-scope is required" },
		{ "{'id-scope': <'0ne 1'>}", "'0ne 1'" },
		{ "{'id-scope': <'0ne1'>, 'model-id': <'Thermostat'>}", "'Thermostat'" },
		{ "{'id-scope': <'0ne1'>, 'registration-id': <'dev_1'>}", "'dev_1'" },
		{ "{'id-scope': <'0ne1'>, 'hub-port': <@q 0>}", "hub-port 0" },
		{ "{'id-scope': <'0ne1'>, 'provisioning-timeout': <@u 0>}",
		  "provisioning-timeout 0" },
		{ "{'id-scope': <'0ne1'>, 'hub-port': <8883>}", "type 'q'" },
		{ "{'id-scope': <'0ne1'>, 'endpoint': <'x'>}", "no option 'endpoint'" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GVariant) options =
		                   g_variant_ref_sink (g_variant_new_parsed (cases[i].options));
		g_autoptr(GError) error = NULL;
		gboolean ok = tether_cloud_check_options (cloud, options, &error);

		g_test_message ("%s", cases[i].options);
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

static TetherMessage *
message_new (const gchar *kind, const gchar *payload, const gchar *options)
{
	g_autoptr(GBytes) bytes = bytes_from_string (payload);
	TetherMessage *message =
	        tether_message_new (kind, bytes, options ? g_variant_new_parsed (options) : NULL);

	tether_message_set_id (message, 41);
	return message;
}

/* a keep-alive over IoT Hub's 1177 s and a client id (DPS assigns it) are refused at set-up */
static void
test_check_session (void)
{
	g_autoptr(TetherCloud) cloud = load_cloud ();
	const struct {
		const gchar *client_id;
		guint keepalive;
		const gchar *says; /* NULL: accepted */
	} cases[] = {
		{ "", 60, NULL },
		{ NULL, 1177, NULL },
		{ NULL, 0, NULL },
		{ "", 1178, "1177" },
		{ NULL, 3600, "keep-alive 3600" },
		{ "my-device", 0, "'my-device'" },
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
test_check_message (void)
{
	g_autoptr(TetherCloud) cloud = load_cloud ();
	g_autofree gchar *large = NULL;
	g_autofree gchar *fits = NULL;
	struct {
		const gchar *kind;
		const gchar *payload;
		const gchar *options;
		gint code; /* -1: accepted */
	} cases[] = {
		{ "telemetry", "{\"t\": 1}", NULL, -1 },
		{ "telemetry", "{\"t\": 1}",
		  "{'component': <'thermostat1'>, 'properties': <{'zone': 'a'}>, "
		  "'expires-in': <@u 60>}",
		  -1 },
		{ "attributes", "{\"fw\": \"1.0\"}", "{'component': <'device_info'>}", -1 },
		{ "response", "{\"ok\": true}", "{'request-id': <'1f'>, 'status': <@i 200>}", -1 },
		{ "response", "", "{'request-id': <'1f'>, 'status': <@i 404>}", -1 },
		{ "telemetry", "21.5", NULL, TETHER_ERROR_REFUSED },
		{ "telemetry", "{\"t\": 1}", "{'component': <'1st'>}", TETHER_ERROR_REFUSED },
		{ "telemetry", "{\"t\": 1}", "{'properties': <{'$.mid': 'x'}>}",
		  TETHER_ERROR_REFUSED },
		{ "attributes", "[1]", NULL, TETHER_ERROR_REFUSED },
		{ "attributes", "{\"a\": 1}", "{'properties': <{'a': 'b'}>}",
		  TETHER_ERROR_REFUSED },
		{ "raw", "{}", "{'topic': <'devices/x/messages/events/'>}", TETHER_ERROR_REFUSED },
		{ "shadow", "{}", NULL, TETHER_ERROR_INVALID_ARGUMENT },
		{ "telemetry", "{}", "{'shadow': <'x'>}", TETHER_ERROR_INVALID_ARGUMENT },
		{ "response", "done", "{'request-id': <'1f'>, 'status': <@i 200>}",
		  TETHER_ERROR_REFUSED },
		{ "response", "{}", "{'request-id': <'a/b'>, 'status': <@i 200>}",
		  TETHER_ERROR_INVALID_ARGUMENT },
		{ "response", "{}", "{'request-id': <'1f'>}", TETHER_ERROR_INVALID_ARGUMENT },
	};
	g_autoptr(TetherMessage) too_large = NULL;
	g_autoptr(TetherMessage) largest = NULL;
	g_autoptr(GError) error_large = NULL;
	gsize room;

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(TetherMessage) message =
		                   message_new (cases[i].kind, cases[i].payload, cases[i].options);
		g_autoptr(GError) error = NULL;
		gboolean ok = tether_cloud_check_message (cloud, NULL, message, &error);

		g_test_message ("%s %s %s", cases[i].kind, cases[i].payload,
		                cases[i].options ? cases[i].options : "");
		if (cases[i].code < 0) {
			g_assert_no_error (error);
			g_assert_true (ok);
		} else {
			g_assert_false (ok);
			g_assert_error (error, TETHER_ERROR, cases[i].code);
		}
	}

	/* 256 KiB with the topic, sized with the longest device id there can be */
	room = 256 * 1024 -
	       strlen ("devices//messages/events/$.mid=41&$.ct=application%2Fjson&$.ce=utf-8") -
	       128;
	fits = g_strdup_printf ("{\"a\":\"%*s\"}", (int) (room - 8), "");
	largest = message_new ("telemetry", fits, NULL);
	g_assert_cmpuint (strlen (fits), ==, room);
	g_assert_true (tether_cloud_check_message (cloud, NULL, largest, NULL));
	large = g_strdup_printf ("{\"a\":\"%*s\"}", (int) (room - 7), "");
	too_large = message_new ("telemetry", large, NULL);
	g_assert_false (tether_cloud_check_message (cloud, NULL, too_large, &error_large));
	g_assert_error (error_large, TETHER_ERROR, TETHER_ERROR_REFUSED);
	g_assert_nonnull (strstr (error_large->message, "262144"));
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

	g_test_add_func ("/azure/module/declarations", test_declarations);
	g_test_add_func ("/azure/module/bundled-anchors", test_bundled_anchors);
	g_test_add_func ("/azure/module/check-options", test_check_options);
	g_test_add_func ("/azure/module/check-session", test_check_session);
	g_test_add_func ("/azure/module/check-message", test_check_message);
	return g_test_run ();
}
