/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * Integration tests for Azure IoT Central: the real tetherd on a private
 * session bus, driven by the real tetherctl; a DPS emulator (libsoup, HTTPS
 * with client certificates) in this process; a real mosquitto with mutual
 * TLS and IoT Hub's ACL standing in for the hub, whose answers (twin,
 * methods, cloud-to-device) come from the test's MQTT observer.
 */
#include "tether-test-env.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "dps-emulator.h"
#include "pki/tether-test-pki.h"

#define DEVICE_CN        "az-device-1"
#define CONNECTION       "az"
#define ANCHOR           "server-ca"
#define ID_SCOPE         "0ne00TEST01"
#define MODEL_ID         "dtmi:com:example:Thermostat;1"
#define EVENTS_FILTER    "devices/+/messages/events/#"
#define REPORTED_FILTER  "$iothub/twin/PATCH/properties/reported/#"
#define TWIN_GET_FILTER  "$iothub/twin/GET/#"
#define METHOD_RES       "$iothub/methods/res/#"
#define CONNECT_TIMEOUT  TETHER_TEST_TIMEOUT_MS
#define FAILURE_BOUND_MS (10000 * tether_test_slowdown ())
/* what the tests allow DPS in all, kept short so that the silent DPS case is quick */
/* DPS's time to answer and assign: longer under the sanitizers (TETHER_TEST_SLOWDOWN) */
#define PROVISIONING_TIMEOUT_S (3 * tether_test_slowdown ())

typedef struct {
	TetherTestEnv *env;
	TetherTestBroker *broker;
	TetherTestObserver *observer;
	DpsEmulator *dps;
} Az;

static void
az_clear (Az *az)
{
	g_clear_pointer (&az->observer, tether_test_observer_free);
	g_clear_pointer (&az->env, tether_test_env_free);
	g_clear_pointer (&az->dps, dps_emulator_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Az, az_clear)

static char *
hub_acl (void)
{
	g_autoptr(GError) error = NULL;
	char *acl = NULL;

	g_file_get_contents (AZURE_HUB_ACL, &acl, NULL, &error);
	g_assert_no_error (error);
	return acl;
}

/* the PKI, a broker as the hub, the observer on it, the DPS emulator, tetherd */
static void
az_start_with (Az *az, const char *broker_config)
{
	g_autofree char *acl = hub_acl ();
	TetherTestBrokerOptions options = { .acl = acl, .extra_config = broker_config };
	const TetherTestPki *pki;
	g_autoptr(GError) error = NULL;

	az->env = tether_test_env_new ();
	pki = tether_test_env_get_pki (az->env);
	az->broker = tether_test_env_start_broker (az->env, &options);
	az->observer = tether_test_env_observe (az->env, az->broker);
	az->dps = dps_emulator_new (pki->server_cert, pki->server_key, pki->device_ca_cert, &error);
	g_assert_no_error (error);
	g_printerr ("# DPS emulator listens on 127.0.0.1:%u\n", dps_emulator_get_port (az->dps));
	tether_test_env_start_daemon (az->env);
}

static void
az_start (Az *az)
{
	az_start_with (az, NULL);
}

static void
observe (Az *az, const char *filter)
{
	g_autoptr(GError) error = NULL;

	tether_test_observer_subscribe (az->observer, filter, &error);
	g_assert_no_error (error);
}

static void
hub_says (Az *az, const char *topic, const char *payload)
{
	g_autoptr(GBytes) bytes = g_bytes_new (payload, strlen (payload));
	g_autoptr(GError) error = NULL;

	tether_test_observer_publish (az->observer, topic, bytes, &error);
	g_assert_no_error (error);
}

/* a key on the device for @identity, its certificate for @cn from the device CA */
static void
az_identity (Az *az, const char *identity, const char *cn)
{
	g_autofree char *csr_name = g_strdup_printf ("%s.csr", identity);
	g_autofree char *cert_name = g_strdup_printf ("%s.pem", identity);
	g_autofree char *csr = tether_test_env_path (az->env, csr_name);
	g_autofree char *cert = tether_test_env_path (az->env, cert_name);

	tether_test_env_ctl_ok (az->env, "identity", "request", "--identity", identity,
	                        "--common-name", cn, "--out", csr, NULL);
	tether_test_env_sign_csr (az->env, csr, cert);
	tether_test_env_ctl_ok (az->env, "identity", "install", "--identity", identity, cert, NULL);
}

/* the device identity and the test server CA as an anchor */
static void
az_provision (Az *az)
{
	const TetherTestPki *pki = tether_test_env_get_pki (az->env);

	az_identity (az, "device", DEVICE_CN);
	tether_test_env_ctl_ok (az->env, "anchor", "add", ANCHOR, pki->server_ca_cert, NULL);
}

/* tetherctl connection add ID for the emulator and the broker, and @... more arguments */
static TetherTestCtlResult *
az_add_connection_result (Az *az, const char *id, const char *id_scope, const char *first_extra,
                          va_list extra)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);

	g_ptr_array_add (args, g_strdup ("connection"));
	g_ptr_array_add (args, g_strdup ("add"));
	g_ptr_array_add (args, g_strdup (id));
	g_ptr_array_add (args, g_strdup ("--cloud"));
	g_ptr_array_add (args, g_strdup ("azure-iot-central"));
	g_ptr_array_add (args, g_strdup ("--endpoint"));
	g_ptr_array_add (args, g_strdup (dps_emulator_get_endpoint (az->dps)));
	g_ptr_array_add (args, g_strdup ("--anchor"));
	g_ptr_array_add (args, g_strdup (ANCHOR));
	if (id_scope != NULL) {
		g_ptr_array_add (args, g_strdup ("--option"));
		g_ptr_array_add (args, g_strdup_printf ("id-scope=%s", id_scope));
	}
	g_ptr_array_add (args, g_strdup ("--option"));
	g_ptr_array_add (args,
	                 g_strdup_printf ("hub-port=%u", tether_test_broker_get_port (az->broker)));
	g_ptr_array_add (args, g_strdup ("--option"));
	g_ptr_array_add (args, g_strdup_printf ("provisioning-timeout=%u", PROVISIONING_TIMEOUT_S));
	for (const char *arg = first_extra; arg != NULL; arg = va_arg (extra, const char *))
		g_ptr_array_add (args, g_strdup (arg));
	g_ptr_array_add (args, NULL);
	return tether_test_env_ctlv (az->env, NULL, (const char *const *) args->pdata);
}

static void
az_add_connection (Az *az, const char *id, const char *id_scope, const char *first_extra, ...)
{
	va_list extra;
	g_autoptr(TetherTestCtlResult) result = NULL;

	va_start (extra, first_extra);
	result = az_add_connection_result (az, id, id_scope, first_extra, extra);
	va_end (extra);
	if (result->status != 0)
		g_error ("connection add %s failed (%d): %s", id, result->status, result->err);
}

static TetherTestCtlResult *
az_try_add_connection (Az *az, const char *id, const char *id_scope, const char *first_extra, ...)
{
	va_list extra;
	TetherTestCtlResult *result;

	va_start (extra, first_extra);
	result = az_add_connection_result (az, id, id_scope, first_extra, extra);
	va_end (extra);
	return result;
}

/* ---- what tetherd says on D-Bus ---- */

typedef struct {
	GPtrArray *states;   /* every State the connection went through */
	GPtrArray *received; /* GVariant (s kind, s topic, ay payload, a{sv} details) */
	GPtrArray *results;  /* GVariant (t id, s status, a{sv} details) */
} Watch;

static void
watch_clear (Watch *watch)
{
	g_clear_pointer (&watch->states, g_ptr_array_unref);
	g_clear_pointer (&watch->received, g_ptr_array_unref);
	g_clear_pointer (&watch->results, g_ptr_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Watch, watch_clear)

static void
on_properties_changed (GDBusProxy *proxy, GVariant *changed, const char *const *invalidated,
                       gpointer user_data)
{
	Watch *watch = user_data;
	const char *state = NULL;

	if (g_variant_lookup (changed, "State", "&s", &state))
		g_ptr_array_add (watch->states, g_strdup (state));
}

static void
on_received (TetherDBusConnection1 *proxy, const char *kind, const char *topic, GVariant *payload,
             GVariant *details, gpointer user_data)
{
	Watch *watch = user_data;

	g_ptr_array_add (watch->received, g_variant_ref_sink (g_variant_new (
	                                          "(ss@ay@a{sv})", kind, topic, payload, details)));
}

static void
on_message_result (TetherDBusConnection1 *proxy, guint64 id, const char *status, GVariant *details,
                   gpointer user_data)
{
	Watch *watch = user_data;

	g_ptr_array_add (watch->results,
	                 g_variant_ref_sink (g_variant_new ("(ts@a{sv})", id, status, details)));
}

static TetherDBusConnection1 *
az_watch (Az *az, const char *id, Watch *watch)
{
	TetherDBusConnection1 *connection = tether_test_env_get_connection (az->env, id);
	const char *now = tether_dbus_connection1_get_state (connection);

	watch->states = g_ptr_array_new_with_free_func (g_free);
	watch->received = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
	watch->results = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
	if (now != NULL)
		g_ptr_array_add (watch->states, g_strdup (now));
	g_signal_connect (connection, "g-properties-changed", G_CALLBACK (on_properties_changed),
	                  watch);
	g_signal_connect (connection, "received", G_CALLBACK (on_received), watch);
	g_signal_connect (connection, "message-result", G_CALLBACK (on_message_result), watch);
	return connection;
}

static gboolean
states_contain (Watch *watch, const char *state)
{
	for (guint i = 0; i < watch->states->len; i++) {
		if (g_str_equal (g_ptr_array_index (watch->states, i), state))
			return TRUE;
	}
	return FALSE;
}

typedef struct {
	GPtrArray *array;
	const char *kind; /* or status */
	guint64 id;       /* for results; 0: any */
	GVariant *found;
} Lookup;

static gboolean
find_received (gpointer user_data)
{
	Lookup *lookup = user_data;

	for (guint i = 0; i < lookup->array->len; i++) {
		GVariant *value = g_ptr_array_index (lookup->array, i);
		const char *kind = NULL;

		g_variant_get_child (value, 0, "&s", &kind);
		if (g_str_equal (kind, lookup->kind)) {
			lookup->found = g_variant_ref (value);
			g_ptr_array_remove_index (lookup->array, i);
			return TRUE;
		}
	}
	return FALSE;
}

/* the next Received of @kind: (kind, topic, payload, details) */
static GVariant *
wait_received (Watch *watch, const char *kind)
{
	Lookup lookup = { watch->received, kind, 0, NULL };

	if (!tether_test_wait_until (find_received, &lookup, TETHER_TEST_TIMEOUT_MS))
		g_error ("no Received of kind %s within %u ms", kind, TETHER_TEST_TIMEOUT_MS);
	return lookup.found;
}

static gboolean
find_result (gpointer user_data)
{
	Lookup *lookup = user_data;

	for (guint i = 0; i < lookup->array->len; i++) {
		GVariant *value = g_ptr_array_index (lookup->array, i);
		guint64 id = 0;
		const char *status = NULL;

		g_variant_get (value, "(t&s@a{sv})", &id, &status, NULL);
		if (id == lookup->id && g_str_equal (status, lookup->kind)) {
			lookup->found = g_variant_ref (value);
			return TRUE;
		}
	}
	return FALSE;
}

/* the details of MessageResult (@id, @status) */
static GVariant *
wait_result (Watch *watch, guint64 id, const char *status)
{
	Lookup lookup = { watch->results, status, id, NULL };
	g_autoptr(GVariant) found = NULL;

	if (!tether_test_wait_until (find_result, &lookup, TETHER_TEST_TIMEOUT_MS))
		g_error ("no MessageResult %" G_GUINT64_FORMAT " %s within %u ms", id, status,
		         TETHER_TEST_TIMEOUT_MS);
	found = lookup.found;
	return g_variant_get_child_value (found, 2);
}

static void
assert_payload (GBytes *got, const char *expected)
{
	gsize size = 0;
	const char *data;

	g_assert_nonnull (got);
	data = g_bytes_get_data (got, &size);
	g_assert_cmpmem (data, size, expected, strlen (expected));
}

static void
assert_variant_payload (GVariant *payload, const char *expected)
{
	gsize size = 0;
	const char *data = g_variant_get_fixed_array (payload, &size, 1);

	g_assert_cmpmem (data, size, expected, strlen (expected));
}

/* what arrives at the hub on @filter: its topic in @topic, its payload checked */
static char *
hub_receives (Az *az, const char *filter, const char *payload)
{
	g_autoptr(GBytes) got = NULL;
	char *topic = NULL;

	got = tether_test_observer_wait (az->observer, filter, TETHER_TEST_TIMEOUT_MS, &topic);
	if (got == NULL)
		g_error ("nothing arrived on %s; the broker's log is %s", filter,
		         tether_test_broker_get_log_path (az->broker));
	g_printerr ("# the hub received %s\n", topic);
	if (payload != NULL)
		assert_payload (got, payload);
	return topic;
}

static guint64
publish (Az *az, const char *first_arg, ...)
{
	va_list args;
	g_autoptr(GPtrArray) argv = g_ptr_array_new ();
	g_autoptr(TetherTestCtlResult) result = NULL;
	guint64 id = 0;

	g_ptr_array_add (argv, (gpointer) "publish");
	g_ptr_array_add (argv, (gpointer) "--connection");
	g_ptr_array_add (argv, (gpointer) CONNECTION);
	va_start (args, first_arg);
	for (const char *arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
		g_ptr_array_add (argv, (gpointer) arg);
	va_end (args);
	g_ptr_array_add (argv, NULL);
	result = tether_test_env_ctlv (az->env, NULL, (const char *const *) argv->pdata);
	if (result->status != 0)
		g_error ("tetherctl publish failed (%d): %s", result->status, result->err);
	g_assert_true (g_ascii_string_to_unsigned (g_strstrip (result->out), 10, 1, G_MAXUINT64,
	                                           &id, NULL));
	return id;
}

static gboolean
contains_nocase (const char *haystack, const char *needle)
{
	g_autofree char *h = g_utf8_strdown (haystack, -1);
	g_autofree char *n = g_utf8_strdown (needle, -1);

	return strstr (h, n) != NULL;
}

static void
assert_says (const char *text, const char *needle)
{
	if (!contains_nocase (text, needle))
		g_error ("'%s' does not say '%s'", text, needle);
}

/* a refusal by tetherd: exit status 1 and an error that names @needle */
static void
assert_refused (TetherTestCtlResult *result, const char *needle)
{
	g_assert_cmpint (result->status, ==, 1);
	assert_says (result->err, needle);
}

static const char *
last_error (Az *az, const char *id)
{
	const char *text = tether_dbus_connection1_get_last_error (
	        tether_test_env_get_connection (az->env, id));

	g_printerr ("# %s LastError: %s\n", id, text);
	return text;
}

/* a device provisioned through the emulator and connected to the hub */
static TetherDBusConnection1 *
az_connect (Az *az, Watch *watch)
{
	TetherDBusConnection1 *connection;

	az_provision (az);
	az_add_connection (az, CONNECTION, ID_SCOPE, "--option", "model-id=" MODEL_ID, NULL);
	connection = az_watch (az, CONNECTION, watch);
	tether_test_env_wait_state (az->env, CONNECTION, "connected", CONNECT_TIMEOUT);
	return connection;
}

/* ---- the flow ---- */

/* DPS, one "assigning" round, the hub; telemetry with a component and properties */
static void
test_flow_telemetry (void)
{
	g_auto(Az) az = { 0 };
	g_auto(Watch) watch = { 0 };
	TetherDBusConnection1 *connection;
	g_autofree char *topic = NULL;
	g_autofree char *expected = NULL;
	g_autofree char *plain_topic = NULL;
	g_autofree char *plain_expected = NULL;
	const char *payload = "{\"temperature\":21.5}";
	guint64 id;

	az_start (&az);
	observe (&az, EVENTS_FILTER);
	connection = az_connect (&az, &watch);

	/* provisioned through DPS, with the certificate and the model id */
	g_assert_true (states_contain (&watch, "provisioning"));
	g_assert_cmpuint (dps_emulator_get_registrations (az.dps), ==, 1);
	g_assert_cmpuint (dps_emulator_get_polls (az.dps), ==, 1);
	g_assert_cmpfloat (dps_emulator_get_last_poll_delay (az.dps), >=,
	                   DPS_EMULATOR_RETRY_AFTER_S - 0.1);
	g_assert_cmpstr (dps_emulator_get_last_client_cn (az.dps), ==, DEVICE_CN);
	g_assert_cmpstr (dps_emulator_get_last_body (az.dps), ==,
	                 "{\"registrationId\":\"" DEVICE_CN
	                 "\",\"payload\":{\"modelId\":\"" MODEL_ID "\"}}");
	g_assert_cmpstr (tether_dbus_connection1_get_client_id (connection), ==, DEVICE_CN);
	g_assert_cmpstr (tether_dbus_connection1_get_last_error (connection), ==, "");

	/* the exact topic and property bag arrive at the hub */
	id = publish (&az, "--kind", "telemetry", "--option", "component=thermostat1", "--property",
	              "zone=north", "--property", "note=a b&c", payload, NULL);
	topic = hub_receives (&az, EVENTS_FILTER, payload);
	expected = g_strdup_printf ("devices/" DEVICE_CN "/messages/events/$.mid=%" G_GUINT64_FORMAT
	                            "&$.ct=application%%2Fjson&$.ce=utf-8&$.sub=thermostat1"
	                            "&note=a%%20b%%26c&zone=north",
	                            id);
	g_assert_cmpstr (topic, ==, expected);
	g_variant_unref (wait_result (&watch, id, "delivered"));

	/* without options: the system properties alone */
	id = publish (&az, "--kind", "telemetry", "{\"humidity\":40}", NULL);
	plain_topic = hub_receives (&az, EVENTS_FILTER, "{\"humidity\":40}");
	plain_expected =
	        g_strdup_printf ("devices/" DEVICE_CN "/messages/events/$.mid=%" G_GUINT64_FORMAT
	                         "&$.ct=application%%2Fjson&$.ce=utf-8",
	                         id);
	g_assert_cmpstr (plain_topic, ==, plain_expected);
	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (connection), "Delivered",
	                                          g_variant_new_uint64 (2),
	                                          TETHER_TEST_TIMEOUT_MS));
}

/* the twin: the whole twin after connecting, a reported property answered, a desired patch */
static void
test_flow_twin (void)
{
	g_auto(Az) az = { 0 };
	g_auto(Watch) watch = { 0 };
	g_autoptr(TetherTestProcess) monitor = NULL;
	g_autofree char *get_topic = NULL;
	g_autofree char *reported_topic = NULL;
	g_autofree char *expected = NULL;
	g_autofree char *answer = NULL;
	g_autofree char *get_answer = NULL;
	g_autoptr(GVariant) twin = NULL;
	g_autoptr(GVariant) twin_payload = NULL;
	g_autoptr(GVariant) twin_details = NULL;
	g_autoptr(GVariant) patch = NULL;
	g_autoptr(GVariant) patch_payload = NULL;
	g_autoptr(GVariant) patch_details = NULL;
	g_autoptr(GVariant) details = NULL;
	const char *rid;
	gint64 version = 0;
	gint32 status_code = 0;
	gboolean complete = FALSE;
	guint64 id;
	g_autofree char *line = NULL;

	az_start (&az);
	observe (&az, TWIN_GET_FILTER);
	observe (&az, REPORTED_FILTER);
	az_connect (&az, &watch);

	/* the device asks for its twin once connected; the hub answers with it */
	get_topic = hub_receives (&az, TWIN_GET_FILTER, "");
	g_assert_true (g_str_has_prefix (get_topic, "$iothub/twin/GET/?$rid="));
	rid = get_topic + strlen ("$iothub/twin/GET/?$rid=");
	get_answer = g_strdup_printf ("$iothub/twin/res/200/?$rid=%s", rid);
	hub_says (&az, get_answer,
	          "{\"desired\":{\"fanSpeed\":2,\"$version\":4},\"reported\":{\"$version\":1}}");
	twin = wait_received (&watch, "desired-properties");
	twin_payload = g_variant_get_child_value (twin, 2);
	twin_details = g_variant_get_child_value (twin, 3);
	assert_variant_payload (twin_payload, "{\"fanSpeed\":2,\"$version\":4}");
	g_assert_true (g_variant_lookup (twin_details, "version", "x", &version));
	g_assert_cmpint (version, ==, 4);
	g_assert_true (g_variant_lookup (twin_details, "complete", "b", &complete));
	g_assert_true (complete);

	/* a reported property through tetherctl, the hub's answer as MessageResult */
	monitor = tether_test_env_spawn_ctl (az.env, "--json", "monitor", "--connection",
	                                     CONNECTION, NULL);
	tether_test_iterate (300);
	id = publish (&az, "--kind", "attributes", "--option", "component=deviceInfo",
	              "{\"firmware\":\"1.0\"}", NULL);
	reported_topic = hub_receives (&az, REPORTED_FILTER,
	                               "{\"deviceInfo\":{\"__t\":\"c\",\"firmware\":\"1.0\"}}");
	expected = g_strdup_printf (
	        "$iothub/twin/PATCH/properties/reported/?$rid=%" G_GUINT64_FORMAT, id);
	g_assert_cmpstr (reported_topic, ==, expected);
	answer =
	        g_strdup_printf ("$iothub/twin/res/204/?$rid=%" G_GUINT64_FORMAT "&$version=5", id);
	hub_says (&az, answer, "");
	details = wait_result (&watch, id, "accepted");
	g_assert_true (g_variant_lookup (details, "status-code", "i", &status_code));
	g_assert_cmpint (status_code, ==, 204);
	g_assert_true (g_variant_lookup (details, "version", "x", &version));
	g_assert_cmpint (version, ==, 5);

	/* tetherctl monitor shows it too */
	for (guint i = 0; i < 10; i++) {
		g_clear_pointer (&line, g_free);
		line = tether_test_process_read_line (monitor, TETHER_TEST_TIMEOUT_MS);
		g_assert_nonnull (line);
		g_printerr ("# monitor: %s\n", line);
		if (strstr (line, "accepted") != NULL)
			break;
	}
	g_assert_nonnull (strstr (line, "accepted"));
	g_assert_nonnull (strstr (line, "204"));

	/* a rejected one carries the hub's status and message */
	id = publish (&az, "--kind", "attributes", "{\"bad\":true}", NULL);
	g_clear_pointer (&reported_topic, g_free);
	reported_topic = hub_receives (&az, REPORTED_FILTER, "{\"bad\":true}");
	g_clear_pointer (&answer, g_free);
	answer = g_strdup_printf ("$iothub/twin/res/400/?$rid=%" G_GUINT64_FORMAT, id);
	hub_says (&az, answer, "{\"message\":\"malformed patch\"}");
	g_clear_pointer (&details, g_variant_unref);
	details = wait_result (&watch, id, "rejected");
	g_assert_true (g_variant_lookup (details, "status-code", "i", &status_code));
	g_assert_cmpint (status_code, ==, 400);
	g_assert_true (g_variant_lookup (details, "message", "&s", &rid));
	g_assert_cmpstr (rid, ==, "malformed patch");

	/* a desired properties patch */
	hub_says (&az, "$iothub/twin/PATCH/properties/desired/?$version=7",
	          "{\"fanSpeed\":3,\"$version\":7}");
	patch = wait_received (&watch, "desired-properties");
	patch_payload = g_variant_get_child_value (patch, 2);
	patch_details = g_variant_get_child_value (patch, 3);
	assert_variant_payload (patch_payload, "{\"fanSpeed\":3,\"$version\":7}");
	g_assert_true (g_variant_lookup (patch_details, "version", "x", &version));
	g_assert_cmpint (version, ==, 7);
	g_assert_false (g_variant_lookup (patch_details, "complete", "b", &complete));
}

/* a direct method answered with tetherctl respond, and a cloud-to-device message */
static void
test_flow_command_and_message (void)
{
	g_auto(Az) az = { 0 };
	g_auto(Watch) watch = { 0 };
	g_autoptr(GVariant) command = NULL;
	g_autoptr(GVariant) command_details = NULL;
	g_autoptr(GVariant) command_payload = NULL;
	g_autoptr(GVariant) message = NULL;
	g_autoptr(GVariant) message_details = NULL;
	g_autoptr(GVariant) properties = NULL;
	g_autofree char *topic = NULL;
	const char *value = NULL;
	const char *message_topic = NULL;

	az_start (&az);
	observe (&az, METHOD_RES);
	az_connect (&az, &watch);

	hub_says (&az, "$iothub/methods/POST/reboot/?$rid=1f", "{\"delay\":5}");
	command = wait_received (&watch, "command");
	command_payload = g_variant_get_child_value (command, 2);
	command_details = g_variant_get_child_value (command, 3);
	assert_variant_payload (command_payload, "{\"delay\":5}");
	g_assert_true (g_variant_lookup (command_details, "request-id", "&s", &value));
	g_assert_cmpstr (value, ==, "1f");
	g_assert_true (g_variant_lookup (command_details, "method", "&s", &value));
	g_assert_cmpstr (value, ==, "reboot");

	tether_test_env_ctl_ok (az.env, "respond", "--connection", CONNECTION, "1f", "200",
	                        "{\"rebooting\":true}", NULL);
	topic = hub_receives (&az, METHOD_RES, "{\"rebooting\":true}");
	g_assert_cmpstr (topic, ==, "$iothub/methods/res/200/?$rid=1f");

	hub_says (&az,
	          "devices/" DEVICE_CN "/messages/devicebound/"
	          "%24.to=%2Fdevices%2F" DEVICE_CN "%2Fmessages%2FdeviceBound&color=dark%20blue",
	          "hello device");
	message = wait_received (&watch, "message");
	g_variant_get_child (message, 1, "&s", &message_topic);
	g_assert_true (
	        g_str_has_prefix (message_topic, "devices/" DEVICE_CN "/messages/devicebound/"));
	message_details = g_variant_get_child_value (message, 3);
	properties =
	        g_variant_lookup_value (message_details, "properties", G_VARIANT_TYPE ("a{ss}"));
	g_assert_nonnull (properties);
	g_assert_true (g_variant_lookup (properties, "color", "&s", &value));
	g_assert_cmpstr (value, ==, "dark blue");
	g_assert_true (g_variant_lookup (properties, "$.to", "&s", &value));
	g_assert_cmpstr (value, ==, "/devices/" DEVICE_CN "/messages/deviceBound");
}

/* ---- the assignment, cached ---- */

/* a restarted daemon reuses the assignment; reprovision asks DPS again */
static void
test_cache_restart_and_reprovision (void)
{
	g_auto(Az) az = { 0 };
	g_auto(Watch) watch = { 0 };
	g_autofree char *topic = NULL;

	az_start (&az);
	observe (&az, EVENTS_FILTER);
	az_connect (&az, &watch);
	g_assert_cmpuint (dps_emulator_get_registrations (az.dps), ==, 1);

	tether_test_env_restart_daemon (az.env);
	tether_test_env_wait_state (az.env, CONNECTION, "connected", CONNECT_TIMEOUT);
	g_assert_cmpuint (dps_emulator_get_registrations (az.dps), ==, 1);
	publish (&az, "--kind", "telemetry", "{\"after\":\"restart\"}", NULL);
	topic = hub_receives (&az, EVENTS_FILTER, "{\"after\":\"restart\"}");
	g_assert_true (g_str_has_prefix (topic, "devices/" DEVICE_CN "/messages/events/"));

	/* the operator asks: DPS again */
	tether_test_env_ctl_ok (az.env, "connection", "reprovision", CONNECTION, NULL);
	tether_test_env_wait_state (az.env, CONNECTION, "connected", CONNECT_TIMEOUT);
	g_assert_cmpuint (dps_emulator_get_registrations (az.dps), ==, 2);
}

/* a hub that refuses the device (it moved): DPS is asked again and its new hub used */
static void
test_cache_hub_refuses (void)
{
	g_auto(Az) az = { 0 };
	g_auto(Watch) watch = { 0 };
	g_autofree char *acl = hub_acl ();
	g_autofree char *config = NULL;
	g_autofree char *passwords = NULL;
	g_autofree char *cert = NULL;
	g_autofree char *key = NULL;
	TetherTestBrokerOptions options = { .name = "old-hub", .acl = acl };
	const TetherTestPki *pki;
	TetherDBusConnection1 *connection;

	/*
	 * the old hub: the hub's port on another loopback address, where a
	 * broker that knows no device refuses the session after TLS
	 */
	az_start (&az);
	pki = tether_test_env_get_pki (az.env);
	tether_test_env_make_server_cert (az.env, "old-hub", NULL, "127.0.0.2");
	cert = tether_test_env_pki_file (az.env, "old-hub.pem");
	key = tether_test_env_pki_file (az.env, "old-hub.key");
	passwords = tether_test_env_write_file (az.env, "old-hub.passwords", "", 0);
	config = g_strdup_printf ("password_file %s\n"
	                          "listener %u 127.0.0.2\n"
	                          "cafile %s\n"
	                          "certfile %s\n"
	                          "keyfile %s\n"
	                          "require_certificate true\n",
	                          passwords, tether_test_broker_get_port (az.broker),
	                          pki->device_ca_cert, cert, key);
	options.extra_config = config;
	tether_test_env_start_broker (az.env, &options);

	dps_emulator_set_hub (az.dps, "127.0.0.2");
	az_provision (&az);
	az_add_connection (&az, CONNECTION, ID_SCOPE, NULL);
	connection = az_watch (&az, CONNECTION, &watch);
	tether_test_env_wait_state (az.env, CONNECTION, "failed", CONNECT_TIMEOUT);
	assert_says (last_error (&az, CONNECTION), "refused the MQTT session");
	g_assert_cmpuint (dps_emulator_get_registrations (az.dps), >=, 1);

	/* DPS now assigns the hub that takes the device */
	dps_emulator_set_hub (az.dps, "localhost");
	tether_test_env_wait_state (az.env, CONNECTION, "connected", CONNECT_TIMEOUT);
	g_assert_cmpuint (dps_emulator_get_registrations (az.dps), >=, 2);
	g_assert_cmpstr (tether_dbus_connection1_get_client_id (connection), ==, DEVICE_CN);
}

/* ---- DPS says no ---- */

static void
test_dps_failures (void)
{
	g_auto(Az) az = { 0 };
	const struct {
		const char *scope;
		DpsEmulatorMode mode;
		const char *says[2];
	} cases[] = {
		{ "0ne00FAILED", DPS_EMULATOR_FAILED, { "could not assign", "400209" } },
		{ "0ne00DISABLED", DPS_EMULATOR_DISABLED, { "disabled", "enable" } },
		{ "0ne00UNASSIGNED", DPS_EMULATOR_UNASSIGNED, { "unassigned", "allocation" } },
		{ "0ne00UNAUTH",
		  DPS_EMULATOR_UNAUTHORIZED,
		  { "certificate or its CA is not accepted by DPS", "401002" } },
		{ "0ne00NOTFOUND", DPS_EMULATOR_NOT_FOUND, { "id-scope", "HTTP 404" } },
	};

	az_start (&az);
	az_provision (&az);
	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *id = g_strdup_printf ("az%u", i);

		dps_emulator_set_mode (az.dps, cases[i].scope, cases[i].mode);
		az_add_connection (&az, id, cases[i].scope, NULL);
	}
	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *id = g_strdup_printf ("az%u", i);
		const char *text;

		tether_test_env_wait_state (az.env, id, "failed", FAILURE_BOUND_MS);
		text = last_error (&az, id);
		assert_says (text, "azure-iot-central");
		assert_says (text, cases[i].says[0]);
		assert_says (text, cases[i].says[1]);
	}
}

/* a device certificate from a CA that is not enrolled: DPS says 401002, in plain words */
static void
test_dps_foreign_device_ca (void)
{
	g_auto(Az) az = { 0 };
	g_autoptr(TetherTestCert) other_ca = NULL;
	g_autoptr(TetherTestCert) cert = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *ca_cert = NULL;
	g_autofree char *ca_key = NULL;
	g_autofree char *csr = NULL;
	g_autofree char *csr_pem = NULL;
	g_autofree char *cert_path = NULL;
	const char *text;

	az_start (&az);
	az_provision (&az);
	tether_test_env_make_ca (az.env, "other-ca", "Tether Test Other CA");
	ca_cert = tether_test_env_pki_file (az.env, "other-ca.pem");
	ca_key = tether_test_env_pki_file (az.env, "other-ca.key");
	csr = tether_test_env_path (az.env, "foreign.csr");
	cert_path = tether_test_env_path (az.env, "foreign.pem");
	tether_test_env_ctl_ok (az.env, "identity", "request", "--identity", "foreign",
	                        "--common-name", DEVICE_CN, "--out", csr, NULL);
	g_assert_true (g_file_get_contents (csr, &csr_pem, NULL, NULL));
	other_ca = tether_test_cert_load (ca_cert, ca_key, &error);
	g_assert_no_error (error);
	cert = tether_test_cert_sign_csr (other_ca, csr_pem, 0, 0, &error);
	g_assert_no_error (error);
	tether_test_cert_write (cert, cert_path, TRUE, NULL, &error);
	g_assert_no_error (error);
	tether_test_env_ctl_ok (az.env, "identity", "install", "--identity", "foreign", cert_path,
	                        NULL);

	az_add_connection (&az, CONNECTION, ID_SCOPE, "--identity", "foreign", NULL);
	tether_test_env_wait_state (az.env, CONNECTION, "failed", FAILURE_BOUND_MS);
	text = last_error (&az, CONNECTION);
	assert_says (text, "certificate or its CA is not accepted by DPS");
	assert_says (text, "401002");
	g_assert_cmpuint (dps_emulator_get_registrations (az.dps), >=, 1);
}

/* a DPS that never answers, or never assigns: a clear error within the bound */
static void
test_dps_no_answer (void)
{
	g_auto(Az) az = { 0 };
	g_auto(Watch) watch = { 0 };
	g_autofree char *bound = NULL;
	const char *text;
	gint64 start;
	double took;

	az_start (&az);
	az_provision (&az);
	dps_emulator_set_mode (az.dps, "0ne00SILENT", DPS_EMULATOR_SILENT);
	dps_emulator_set_mode (az.dps, "0ne00SLOW", DPS_EMULATOR_ALWAYS_ASSIGNING);
	start = g_get_monotonic_time ();
	az_add_connection (&az, "silent", "0ne00SILENT", NULL);
	az_add_connection (&az, "slow", "0ne00SLOW", NULL);
	az_watch (&az, "silent", &watch);

	tether_test_env_wait_state (az.env, "silent", "failed", FAILURE_BOUND_MS);
	took = (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC;
	g_printerr ("# the silent DPS failed the connection after %.1f s\n", took);
	g_assert_cmpfloat (took, >=, PROVISIONING_TIMEOUT_S - 0.5);
	g_assert_true (states_contain (&watch, "provisioning"));
	bound = g_strdup_printf ("within %u s", PROVISIONING_TIMEOUT_S);
	text = last_error (&az, "silent");
	assert_says (text, "did not answer");
	assert_says (text, bound);
	assert_says (text, "provisioning-timeout");

	tether_test_env_wait_state (az.env, "slow", "failed", FAILURE_BOUND_MS);
	text = last_error (&az, "slow");
	assert_says (text, "did not assign");
	assert_says (text, "assigning");
	assert_says (text, bound);
}

/* ---- the registration id, checked before DPS ---- */

static void
test_registration_id (void)
{
	g_auto(Az) az = { 0 };
	g_autoptr(TetherTestCtlResult) bad_option = NULL;
	g_autoptr(TetherTestCtlResult) no_scope = NULL;
	g_autoptr(TetherTestCtlResult) bad_model = NULL;
	g_autoptr(TetherTestCtlResult) bad_keepalive = NULL;
	g_autoptr(TetherTestCtlResult) bad_client_id = NULL;
	g_autoptr(TetherTestCtlResult) bad_modify = NULL;
	g_autofree char *config_path = NULL;
	g_autofree char *config_before = NULL;
	g_autofree char *config_after = NULL;
	g_autoptr(TetherTestCtlResult) list = NULL;
	const char *text;

	az_start (&az);
	az_provision (&az);
	az_identity (&az, "underscore", "az_device");

	/* a common name that breaks IoT Central's rule */
	az_add_connection (&az, "bad-cn", ID_SCOPE, "--identity", "underscore", NULL);
	/* a registration id that is not the common name */
	az_add_connection (&az, "mismatch", ID_SCOPE, "--option", "registration-id=other-device",
	                   NULL);
	tether_test_env_wait_state (az.env, "bad-cn", "failed", FAILURE_BOUND_MS);
	tether_test_env_wait_state (az.env, "mismatch", "failed", FAILURE_BOUND_MS);
	text = last_error (&az, "bad-cn");
	assert_says (text, "'az_device'");
	assert_says (text, "IoT Central");
	text = last_error (&az, "mismatch");
	assert_says (text, "'other-device'");
	assert_says (text, "'" DEVICE_CN "'");
	g_assert_cmpuint (dps_emulator_get_registrations (az.dps), ==, 0);

	/* what the options say is checked when the connection is added, and nothing is written */
	config_path = tether_test_env_path (az.env, "tether.conf");
	g_assert_true (g_file_get_contents (config_path, &config_before, NULL, NULL));
	bad_option = az_try_add_connection (&az, "bad-option", ID_SCOPE, "--option",
	                                    "registration-id=dev ice", NULL);
	assert_refused (bad_option, "'dev ice'");
	no_scope = az_try_add_connection (&az, "no-scope", NULL, NULL);
	assert_refused (no_scope, "id-scope");
	bad_model = az_try_add_connection (&az, "bad-model", ID_SCOPE, "--option",
	                                   "model-id=Thermostat", NULL);
	assert_refused (bad_model, "'Thermostat'");
	/* so are a keep-alive IoT Hub refuses and a client id, which DPS assigns */
	bad_keepalive =
	        az_try_add_connection (&az, "bad-keepalive", ID_SCOPE, "--keepalive", "1178", NULL);
	assert_refused (bad_keepalive, "1177");
	bad_client_id = az_try_add_connection (&az, "bad-client-id", ID_SCOPE, "--client-id",
	                                       "my-device", NULL);
	assert_refused (bad_client_id, "'my-device'");
	bad_modify = tether_test_env_ctl (az.env, NULL, "connection", "modify", "mismatch",
	                                  "--keepalive", "3600", NULL);
	assert_refused (bad_modify, "1177");
	list = tether_test_env_ctl (az.env, NULL, "connection", "list", NULL);
	g_assert_cmpint (list->status, ==, 0);
	g_assert_null (strstr (list->out, "bad-option"));
	g_assert_null (strstr (list->out, "no-scope"));
	g_assert_null (strstr (list->out, "bad-model"));
	g_assert_null (strstr (list->out, "bad-keepalive"));
	g_assert_null (strstr (list->out, "bad-client-id"));
	g_assert_true (g_file_get_contents (config_path, &config_after, NULL, NULL));
	g_assert_cmpstr (config_after, ==, config_before);
	g_assert_cmpuint (dps_emulator_get_registrations (az.dps), ==, 0);
}

/* ---- bad messages: refused before they are queued ---- */

static void
test_bad_messages (void)
{
	g_auto(Az) az = { 0 };
	g_auto(Watch) watch = { 0 };
	TetherDBusConnection1 *connection;
	g_autoptr(GString) large = g_string_new ("{\"a\":\"");
	g_autoptr(GBytes) large_bytes = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;
	g_autoptr(GBytes) got = NULL;
	const struct {
		const char *args[8];
		const char *says;
	} cases[] = {
		{ { "--kind", "telemetry", "not json" }, "JSON" },
		{ { "--kind", "telemetry", "[1,2]" }, "JSON object" },
		{ { "--kind", "telemetry", "--option", "component=1st", "{}" }, "component '1st'" },
		{ { "--kind", "telemetry", "--property", "$.mid=x", "{}" }, "'$.mid'" },
		{ { "--kind", "attributes", "[1]" }, "JSON object" },
		{ { "--kind", "shadow", "{}" }, "shadow" },
		{ { "--topic", "devices/" DEVICE_CN "/messages/events/", "{}" }, "raw" },
	};

	az_start (&az);
	observe (&az, EVENTS_FILTER);
	connection = az_connect (&az, &watch);

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		const char *argv[12] = { "publish", "--connection", CONNECTION };
		guint n = 3;

		for (guint j = 0; cases[i].args[j] != NULL; j++)
			argv[n++] = cases[i].args[j];
		g_clear_pointer (&result, tether_test_ctl_result_free);
		result = tether_test_env_ctlv (az.env, NULL, argv);
		assert_refused (result, cases[i].says);
	}

	/* larger than 256 KiB, from standard input */
	for (guint i = 0; i < 256 * 1024; i++)
		g_string_append_c (large, 'x');
	g_string_append (large, "\"}");
	large_bytes = g_bytes_new (large->str, large->len);
	g_clear_pointer (&result, tether_test_ctl_result_free);
	result = tether_test_env_ctl (az.env, large_bytes, "publish", "--connection", CONNECTION,
	                              "--kind", "telemetry", "-", NULL);
	assert_refused (result, "262144");

	got = tether_test_observer_wait (az.observer, EVENTS_FILTER, 1000, NULL);
	g_assert_null (got);
	g_assert_cmpuint (tether_dbus_connection1_get_queued (connection), ==, 0);
	g_assert_cmpuint (tether_dbus_connection1_get_delivered (connection), ==, 0);
}

/* ---- trust ---- */

/* the bundled roots are listed; by default a connection trusts them, and not the test DPS */
static void
test_trust_bundled_roots (void)
{
	g_auto(Az) az = { 0 };
	g_autoptr(TetherTestCtlResult) anchors = NULL;
	g_autoptr(TetherTestCtlResult) cloud = NULL;
	const char *text;

	az_start (&az);
	anchors = tether_test_env_ctl (az.env, NULL, "anchor", "list", NULL);
	g_assert_cmpint (anchors->status, ==, 0);
	assert_says (anchors->out, "azure-iot-central.digicert-global-root-g2");
	assert_says (anchors->out, "azure-iot-central.microsoft-rsa-root-ca-2017");
	assert_says (anchors->out, "azure-iot-central.baltimore-cybertrust-root");
	cloud = tether_test_env_ctl (az.env, NULL, "clouds", "show", "azure-iot-central", NULL);
	g_assert_cmpint (cloud->status, ==, 0);
	assert_says (cloud->out, "id-scope");
	assert_says (cloud->out, "hub-port");
	/* what a connection that names no endpoint or anchor uses: not the retired root */
	assert_says (cloud->out, "default-endpoint: global.azure-devices-provisioning.net:443\n");
	assert_says (cloud->out, "default-port: 443\n");
	assert_says (cloud->out, "default-anchors: azure-iot-central.digicert-global-root-g2, "
	                         "azure-iot-central.microsoft-rsa-root-ca-2017\n");

	/* no --anchor: the default set, which does not vouch for the test server */
	az_identity (&az, "device", DEVICE_CN);
	tether_test_env_ctl_ok (az.env, "connection", "add", CONNECTION, "--cloud",
	                        "azure-iot-central", "--endpoint",
	                        dps_emulator_get_endpoint (az.dps), "--option",
	                        "id-scope=" ID_SCOPE, NULL);
	tether_test_env_wait_state (az.env, CONNECTION, "failed", FAILURE_BOUND_MS);
	text = last_error (&az, CONNECTION);
	assert_says (text, "DPS at localhost:");
	assert_says (text, TETHER_TEST_SERVER_CA_CN);
	assert_says (text, "tetherctl anchor add");
	g_assert_cmpuint (dps_emulator_get_registrations (az.dps), ==, 0);
}

/* an intermediate alone vouches for nothing, for DPS as for the hub: the trust rule */
static void
test_trust_intermediate_anchor (void)
{
	g_auto(Az) az = { 0 };
	g_autoptr(TetherTestCert) root = NULL;
	g_autoptr(TetherTestCert) intermediate = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *root_cert = NULL;
	g_autofree char *root_key = NULL;
	g_autofree char *path = NULL;
	TetherTestCertSpec spec = { .kind = TETHER_TEST_CERT_CA,
		                    .common_name = "Tether Test Intermediate CA" };

	az_start (&az);
	az_identity (&az, "device", DEVICE_CN);
	root_cert = tether_test_env_pki_file (az.env, "server-ca.pem");
	root_key = tether_test_env_pki_file (az.env, "server-ca.key");
	root = tether_test_cert_load (root_cert, root_key, &error);
	g_assert_no_error (error);
	intermediate = tether_test_cert_new (&spec, root, &error);
	g_assert_no_error (error);
	path = tether_test_env_path (az.env, "intermediate.pem");
	tether_test_cert_write (intermediate, path, FALSE, NULL, &error);
	g_assert_no_error (error);
	tether_test_env_ctl_ok (az.env, "anchor", "add", "intermediate", path, NULL);

	tether_test_env_ctl_ok (az.env, "connection", "add", CONNECTION, "--cloud",
	                        "azure-iot-central", "--endpoint",
	                        dps_emulator_get_endpoint (az.dps), "--anchor", "intermediate",
	                        "--option", "id-scope=" ID_SCOPE, NULL);
	tether_test_env_wait_state (az.env, CONNECTION, "failed", FAILURE_BOUND_MS);
	assert_says (last_error (&az, CONNECTION), "no root certificate");
	g_assert_cmpuint (dps_emulator_get_registrations (az.dps), ==, 0);
}

int
main (int argc, char **argv)
{
	tether_test_init (&argc, &argv);

	tether_test_add ("/azure/flow/telemetry", test_flow_telemetry);
	tether_test_add ("/azure/flow/twin", test_flow_twin);
	tether_test_add ("/azure/flow/command-and-message", test_flow_command_and_message);
	tether_test_add ("/azure/cache/restart-and-reprovision",
	                 test_cache_restart_and_reprovision);
	tether_test_add ("/azure/cache/hub-refuses", test_cache_hub_refuses);
	tether_test_add ("/azure/dps/failures", test_dps_failures);
	tether_test_add ("/azure/dps/foreign-device-ca", test_dps_foreign_device_ca);
	tether_test_add ("/azure/dps/no-answer", test_dps_no_answer);
	tether_test_add ("/azure/bad-input/registration-id", test_registration_id);
	tether_test_add ("/azure/bad-input/messages", test_bad_messages);
	tether_test_add ("/azure/trust/bundled-roots", test_trust_bundled_roots);
	tether_test_add ("/azure/trust/intermediate-anchor", test_trust_intermediate_anchor);
	return g_test_run ();
}
