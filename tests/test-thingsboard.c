/*
 * Integration tests for ThingsBoard: the real tetherd on a private session
 * bus, driven by the real tetherctl, against a real mosquitto with mutual TLS
 * and ThingsBoard's ACL standing in for ThingsBoard.
 */
#include "tether-test-env.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#define DEVICE_CN        "tb-device"
#define CONNECTION       "tb"
#define ANCHOR           "server-ca"
#define TELEMETRY_TOPIC  "v1/devices/me/telemetry"
#define CONNECT_TIMEOUT  TETHER_TEST_TIMEOUT_MS
#define FAILURE_BOUND_MS 10000
/* tetherctl's limit on a payload (TETHERCTL_PAYLOAD_MAX in cli/tetherctl-args.h) */
#define TETHERCTL_PAYLOAD_MAX (16 * 1024 * 1024)

typedef struct {
	TetherTestEnv *env;
	TetherTestBroker *broker;
	TetherTestObserver *observer;
} Tb;

static void
tb_clear (Tb *tb)
{
	g_clear_pointer (&tb->observer, tether_test_observer_free);
	g_clear_pointer (&tb->env, tether_test_env_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Tb, tb_clear)

/* the PKI, a broker with ThingsBoard's ACL, the observer on it, tetherd */
static void
tb_start (Tb *tb)
{
	g_autofree char *acl = tether_test_acl_thingsboard (DEVICE_CN);
	TetherTestBrokerOptions options = { .acl = acl };

	tb->env = tether_test_env_new ();
	tb->broker = tether_test_env_start_broker (tb->env, &options);
	tb->observer = tether_test_env_observe (tb->env, tb->broker);
	tether_test_env_start_daemon (tb->env);
}

static void
observe (Tb *tb, const char *filter)
{
	g_autoptr (GError) error = NULL;

	tether_test_observer_subscribe (tb->observer, filter, &error);
	g_assert_no_error (error);
}

/* the device's key, its certificate from the device CA, the server CA as an anchor */
static void
tb_provision (Tb *tb)
{
	const TetherTestPki *pki = tether_test_env_get_pki (tb->env);
	g_autofree char *csr = tether_test_env_path (tb->env, "device.csr");
	g_autofree char *cert = tether_test_env_path (tb->env, "device.pem");
	g_autofree char *csr_pem = NULL;

	tether_test_env_ctl_ok (tb->env, "identity", "request", "--common-name", DEVICE_CN, "--out",
	                        csr, NULL);
	g_assert_true (g_file_get_contents (csr, &csr_pem, NULL, NULL));
	/* GnuTLS writes "NEW CERTIFICATE REQUEST", OpenSSL "CERTIFICATE REQUEST" */
	g_assert_nonnull (strstr (csr_pem, "CERTIFICATE REQUEST-----"));
	tether_test_env_sign_csr (tb->env, csr, cert);
	tether_test_env_ctl_ok (tb->env, "identity", "install", cert, NULL);
	tether_test_env_ctl_ok (tb->env, "anchor", "add", ANCHOR, pki->server_ca_cert, NULL);
}

static void
tb_add_connection (Tb *tb, const char *endpoint, const char *anchor)
{
	tether_test_env_ctl_ok (tb->env, "connection", "add", CONNECTION, "--cloud", "thingsboard",
	                        "--endpoint", endpoint, "--anchor", anchor, NULL);
}

/* a connected device: what most tests start from */
static void
tb_connect (Tb *tb)
{
	tb_start (tb);
	tb_provision (tb);
	tb_add_connection (tb, tether_test_broker_get_endpoint (tb->broker), ANCHOR);
	tether_test_env_wait_state (tb->env, CONNECTION, "connected", CONNECT_TIMEOUT);
}

static void
assert_payload (GBytes *got, const void *data, gsize size)
{
	gsize got_size = 0;
	const guint8 *got_data;

	g_assert_nonnull (got);
	got_data = g_bytes_get_data (got, &got_size);
	g_assert_cmpmem (got_data, got_size, data, size);
}

static void
assert_arrives (Tb *tb, const char *topic, const char *payload)
{
	g_autoptr (GBytes) got = NULL;
	g_autofree char *got_topic = NULL;

	got = tether_test_observer_wait (tb->observer, topic, TETHER_TEST_TIMEOUT_MS, &got_topic);
	if (got == NULL)
		g_printerr ("# nothing arrived on %s; the broker's log is %s\n", topic,
		            tether_test_broker_get_log_path (tb->broker));
	assert_payload (got, payload, strlen (payload));
	g_assert_cmpstr (got_topic, ==, topic);
}

static void
publish_ok (Tb *tb, const char *payload)
{
	tether_test_env_ctl_ok (tb->env, "publish", "--connection", CONNECTION, "--kind",
	                        "telemetry", payload, NULL);
}

static GVariant *
bytes_variant (const void *data, gsize size)
{
	return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, size, 1);
}

static GVariant *
no_options (void)
{
	return g_variant_new ("a{sv}", NULL);
}

static gboolean
contains_nocase (const char *haystack, const char *needle)
{
	g_autofree char *h = g_utf8_strdown (haystack, -1);
	g_autofree char *n = g_utf8_strdown (needle, -1);

	return strstr (h, n) != NULL;
}

/* a daemon error: exit status 1 and a message on stderr that names @needle */
static void
assert_refused (TetherTestCtlResult *result, const char *needle)
{
	g_assert_cmpint (result->status, ==, 1);
	g_assert_cmpstr (result->err, !=, "");
	if (needle != NULL && !contains_nocase (result->err, needle))
		g_error ("the error does not name '%s': %s", needle, result->err);
}

/* ---- what "nothing changed" means: the daemon's lists, its files, its settings ---- */

static int
compare_names (gconstpointer a, gconstpointer b)
{
	return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

static void
hash_tree (GString *out, const char *path)
{
	g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
	g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
	const char *name;

	while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
		g_ptr_array_add (names, g_strdup (name));
	g_ptr_array_sort (names, compare_names);
	for (guint i = 0; i < names->len; i++) {
		const char *child_name = g_ptr_array_index (names, i);
		g_autofree char *child = g_build_filename (path, child_name, NULL);
		g_autofree char *contents = NULL;
		gsize size = 0;

		if (g_file_test (child, G_FILE_TEST_IS_DIR)) {
			g_string_append_printf (out, "%s/\n", child);
			hash_tree (out, child);
		} else if (g_file_get_contents (child, &contents, &size, NULL)) {
			g_autofree char *sum = g_compute_checksum_for_data (
			        G_CHECKSUM_SHA256, (const guchar *) contents, size);
			g_string_append_printf (out, "%s %s\n", child, sum);
		}
	}
}

static char *
snapshot (Tb *tb)
{
	TetherDBusTether1 *manager = tether_test_env_get_manager (tb->env);
	g_autofree char *config_path = tether_test_env_path (tb->env, "tether.conf");
	g_autofree char *config = NULL;
	const char *const *lists[3];
	GString *out = g_string_new (NULL);

	lists[0] = tether_dbus_tether1_get_connections (manager);
	lists[1] = tether_dbus_tether1_get_trust_anchors (manager);
	lists[2] = tether_dbus_tether1_get_identities (manager);
	for (guint i = 0; i < G_N_ELEMENTS (lists); i++) {
		for (guint j = 0; lists[i] != NULL && lists[i][j] != NULL; j++)
			g_string_append_printf (out, "object %s\n", lists[i][j]);
	}
	hash_tree (out, tether_test_env_get_state_dir (tb->env));
	if (g_file_get_contents (config_path, &config, NULL, NULL))
		g_string_append_printf (out, "settings:\n%s\n", config);
	return g_string_free (out, FALSE);
}

/* after refusals: nothing reached the broker or the queue, nothing changed since @before */
static void
assert_nothing_sent (Tb *tb, const char *before)
{
	TetherDBusConnection1 *connection = tether_test_env_get_connection (tb->env, CONNECTION);
	g_autoptr (GBytes) got = NULL;
	g_autofree char *after = NULL;

	got = tether_test_observer_wait (tb->observer, "v1/devices/me/#", 1000, NULL);
	g_assert_null (got);
	g_assert_cmpuint (tether_dbus_connection1_get_queued (connection), ==, 0);
	g_assert_cmpuint (tether_dbus_connection1_get_delivered (connection), ==, 0);
	after = snapshot (tb);
	g_assert_cmpstr (after, ==, before);
}

/* ---- the flow ---- */

/* CSR, signed by the device CA, installed; anchor; connection; telemetry arrives */
static void
test_flow_telemetry (void)
{
	g_auto (Tb) tb = { 0 };
	const char *payload = "{\"temperature\":21.5,\"humidity\":40}";
	TetherDBusConnection1 *connection;

	tb_connect (&tb);
	observe (&tb, TELEMETRY_TOPIC);
	publish_ok (&tb, payload);
	assert_arrives (&tb, TELEMETRY_TOPIC, payload);

	connection = tether_test_env_get_connection (tb.env, CONNECTION);
	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (connection), "Delivered",
	                                          g_variant_new_uint64 (1),
	                                          TETHER_TEST_TIMEOUT_MS));
	g_assert_cmpstr (tether_dbus_connection1_get_cloud (connection), ==, "thingsboard");
	g_assert_cmpstr (tether_dbus_connection1_get_last_error (connection), ==, "");
}

/* a payload from standard input, with no newline, arrives as it was */
static void
test_publish_exact_bytes_stdin (void)
{
	g_auto (Tb) tb = { 0 };
	const char payload[] = "{\"text\":\"gr\xc3\xbc\xc3\x9f\x65 \xe2\x9c\x93\",\"n\":[1,2,3]}";
	g_autoptr (GBytes) input = g_bytes_new_static (payload, strlen (payload));
	g_autoptr (TetherTestCtlResult) result = NULL;
	g_autoptr (GBytes) got = NULL;

	tb_connect (&tb);
	observe (&tb, TELEMETRY_TOPIC);
	result = tether_test_env_ctl (tb.env, input, "publish", "--connection", CONNECTION,
	                              "--kind", "telemetry", "-", NULL);
	g_assert_cmpint (result->status, ==, 0);

	got = tether_test_observer_wait (tb.observer, TELEMETRY_TOPIC, TETHER_TEST_TIMEOUT_MS,
	                                 NULL);
	assert_payload (got, payload, strlen (payload));
}

/* bytes handed over D-Bus without a trailing NUL arrive byte for byte */
static void
test_publish_exact_bytes_dbus (void)
{
	g_auto (Tb) tb = { 0 };
	const char small[] = "{\"a\":\"\xc3\xa9\"}";
	g_autoptr (GString) large = g_string_new ("[");
	TetherDBusConnection1 *connection;
	g_autoptr (GVariant) ids = NULL;
	g_autoptr (GError) error = NULL;
	g_autoptr (GBytes) got = NULL;
	guint64 id = 0;
	const char *path = NULL;
	guint64 fanned_id = 0;

	tb_connect (&tb);
	observe (&tb, TELEMETRY_TOPIC);
	connection = tether_test_env_get_connection (tb.env, CONNECTION);

	/* a small one: a NUL added or the last byte cut would show */
	tether_dbus_connection1_call_publish_sync (
	        connection, "telemetry", bytes_variant (small, strlen (small)), no_options (),
	        G_DBUS_CALL_FLAGS_NONE, -1, &id, NULL, &error);
	g_assert_no_error (error);
	got = tether_test_observer_wait (tb.observer, TELEMETRY_TOPIC, TETHER_TEST_TIMEOUT_MS,
	                                 NULL);
	assert_payload (got, small, strlen (small));
	g_clear_pointer (&got, g_bytes_unref);

	/* a larger one, over several buffers on every path */
	for (guint i = 0; i < 600; i++)
		g_string_append_printf (large, "%s{\"i\":%u,\"v\":\"\xe2\x9c\x93\"}", i ? "," : "",
		                        i);
	g_string_append_c (large, ']');
	tether_dbus_connection1_call_publish_sync (
	        connection, "telemetry", bytes_variant (large->str, large->len), no_options (),
	        G_DBUS_CALL_FLAGS_NONE, -1, &id, NULL, &error);
	g_assert_no_error (error);
	got = tether_test_observer_wait (tb.observer, TELEMETRY_TOPIC, TETHER_TEST_TIMEOUT_MS,
	                                 NULL);
	assert_payload (got, large->str, large->len);
	g_clear_pointer (&got, g_bytes_unref);

	/* through the manager, which fans out to the one enabled connection */
	tether_dbus_tether1_call_publish_sync (tether_test_env_get_manager (tb.env), "telemetry",
	                                       bytes_variant (small, strlen (small)), no_options (),
	                                       G_DBUS_CALL_FLAGS_NONE, -1, &ids, NULL, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (g_variant_n_children (ids), ==, 1);
	g_variant_get_child (ids, 0, "(&ot)", &path, &fanned_id);
	g_assert_cmpstr (path, ==, g_dbus_proxy_get_object_path (G_DBUS_PROXY (connection)));
	got = tether_test_observer_wait (tb.observer, TELEMETRY_TOPIC, TETHER_TEST_TIMEOUT_MS,
	                                 NULL);
	assert_payload (got, small, strlen (small));
}

/* the connection outlives tetherd: after a restart it is listed and delivers */
static void
restart_and_publish (gboolean kill)
{
	g_auto (Tb) tb = { 0 };
	g_autoptr (TetherTestCtlResult) list = NULL;
	const char *payload = "{\"after\":\"restart\"}";

	tb_connect (&tb);
	observe (&tb, TELEMETRY_TOPIC);
	if (kill) {
		tether_test_env_kill_daemon (tb.env);
		tether_test_env_start_daemon (tb.env);
	} else {
		tether_test_env_restart_daemon (tb.env);
	}

	list = tether_test_env_ctl (tb.env, NULL, "connection", "list", NULL);
	g_assert_cmpint (list->status, ==, 0);
	g_assert_nonnull (strstr (list->out, CONNECTION));
	tether_test_env_wait_state (tb.env, CONNECTION, "connected", CONNECT_TIMEOUT);
	publish_ok (&tb, payload);
	assert_arrives (&tb, TELEMETRY_TOPIC, payload);
}

static void
test_daemon_restart (void)
{
	restart_and_publish (FALSE);
}

static void
test_daemon_kill_restart (void)
{
	restart_and_publish (TRUE);
}

/* ---- trust ---- */

/* an anchor that did not issue the server's chain: failed, naming both */
static void
test_trust_wrong_anchor (void)
{
	g_auto (Tb) tb = { 0 };
	g_autofree char *other = NULL;
	TetherDBusConnection1 *connection;
	const char *last_error;

	tb_start (&tb);
	tb_provision (&tb);
	tether_test_env_make_ca (tb.env, "other-ca", "Tether Test Other CA");
	other = tether_test_env_pki_file (tb.env, "other-ca.pem");
	tether_test_env_ctl_ok (tb.env, "anchor", "add", "other-ca", other, NULL);
	tb_add_connection (&tb, tether_test_broker_get_endpoint (tb.broker), "other-ca");

	tether_test_env_wait_state (tb.env, CONNECTION, "failed", FAILURE_BOUND_MS);
	connection = tether_test_env_get_connection (tb.env, CONNECTION);
	last_error = tether_dbus_connection1_get_last_error (connection);
	g_printerr ("# LastError: %s\n", last_error);
	g_assert_nonnull (strstr (last_error, "other-ca"));
	g_assert_nonnull (strstr (last_error, TETHER_TEST_SERVER_CA_CN));
}

/* a server certificate for another host: refused, naming the names it holds */
static void
test_trust_wrong_host (void)
{
	g_auto (Tb) tb = { 0 };
	g_autofree char *acl = tether_test_acl_thingsboard (DEVICE_CN);
	g_autofree char *cert = NULL;
	g_autofree char *key = NULL;
	TetherTestBrokerOptions options = { .name = "other-host", .acl = acl };
	TetherTestBroker *other;
	TetherDBusConnection1 *connection;
	const char *last_error;

	tb_start (&tb);
	tb_provision (&tb);
	tether_test_env_make_server_cert (tb.env, "other-host", "other.example", NULL);
	cert = tether_test_env_pki_file (tb.env, "other-host.pem");
	key = tether_test_env_pki_file (tb.env, "other-host.key");
	options.server_cert = cert;
	options.server_key = key;
	other = tether_test_env_start_broker (tb.env, &options);
	tb_add_connection (&tb, tether_test_broker_get_endpoint (other), ANCHOR);

	tether_test_env_wait_state (tb.env, CONNECTION, "failed", FAILURE_BOUND_MS);
	connection = tether_test_env_get_connection (tb.env, CONNECTION);
	last_error = tether_dbus_connection1_get_last_error (connection);
	g_printerr ("# LastError: %s\n", last_error);
	g_assert_nonnull (strstr (last_error, "other.example"));
}

/* ---- server RPC ---- */

typedef struct {
	guint count;
	char *kind;
	char *topic;
	GBytes *payload;
	GVariant *details;
} Received;

static void
received_clear (Received *received)
{
	g_free (received->kind);
	g_free (received->topic);
	g_clear_pointer (&received->payload, g_bytes_unref);
	g_clear_pointer (&received->details, g_variant_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Received, received_clear)

static void
on_received (TetherDBusConnection1 *proxy, const char *kind, const char *topic, GVariant *payload,
             GVariant *details, gpointer user_data)
{
	Received *received = user_data;
	gsize size = 0;
	const void *data = g_variant_get_fixed_array (payload, &size, 1);

	received_clear (received);
	received->count++;
	received->kind = g_strdup (kind);
	received->topic = g_strdup (topic);
	received->payload = g_bytes_new (data, size);
	received->details = g_variant_ref (details);
}

static gboolean
has_received (gpointer user_data)
{
	return ((Received *) user_data)->count > 0;
}

static char *
read_line_with (TetherTestProcess *monitor, const char *needle)
{
	for (guint i = 0; i < 20; i++) {
		g_autofree char *line =
		        tether_test_process_read_line (monitor, TETHER_TEST_TIMEOUT_MS);

		if (line == NULL)
			return NULL;
		g_printerr ("# monitor: %s\n", line);
		if (strstr (line, needle) != NULL)
			return g_steal_pointer (&line);
	}
	return NULL;
}

/* --json monitor: the next object for a Received signal */
static JsonObject *
read_json_received (TetherTestProcess *monitor)
{
	for (guint i = 0; i < 20; i++) {
		g_autofree char *line =
		        tether_test_process_read_line (monitor, TETHER_TEST_TIMEOUT_MS);
		g_autoptr (JsonParser) parser = json_parser_new ();
		g_autoptr (GError) error = NULL;
		JsonNode *root;

		if (line == NULL)
			return NULL;
		g_printerr ("# monitor --json: %s\n", line);
		json_parser_load_from_data (parser, line, -1, &error);
		g_assert_no_error (error);
		root = json_parser_get_root (parser);
		g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
		if (g_strcmp0 (json_object_get_string_member_with_default (
		                       json_node_get_object (root), "signal", ""),
		               "Received") == 0)
			return json_object_ref (json_node_get_object (root));
	}
	return NULL;
}

/* a request published at the broker arrives as Received; respond answers it */
static void
test_rpc_request_response (void)
{
	g_auto (Tb) tb = { 0 };
	g_auto (Received) received = { 0 };
	g_autoptr (TetherTestProcess) monitor = NULL;
	g_autoptr (TetherTestProcess) json_monitor = NULL;
	g_autoptr (JsonObject) object = NULL;
	g_autofree char *json_first = NULL;
	g_autoptr (GError) error = NULL;
	g_autofree char *first = NULL;
	g_autofree char *line = NULL;
	const char *request = "{\"method\":\"setLed\",\"params\":{\"on\":true}}";
	g_autoptr (GBytes) request_bytes = g_bytes_new_static (request, strlen (request));
	TetherDBusConnection1 *connection;
	const char *value = NULL;

	tb_connect (&tb);
	observe (&tb, "v1/devices/me/rpc/response/+");
	observe (&tb, TELEMETRY_TOPIC);
	connection = tether_test_env_get_connection (tb.env, CONNECTION);
	g_signal_connect (connection, "received", G_CALLBACK (on_received), &received);

	/* the monitor has subscribed once it reports the result of a publish */
	monitor = tether_test_env_spawn_ctl (tb.env, "monitor", "--connection", CONNECTION, NULL);
	json_monitor = tether_test_env_spawn_ctl (tb.env, "--json", "monitor", NULL);
	tether_test_iterate (200);
	publish_ok (&tb, "{\"sync\":1}");
	assert_arrives (&tb, TELEMETRY_TOPIC, "{\"sync\":1}");
	first = tether_test_process_read_line (monitor, TETHER_TEST_TIMEOUT_MS);
	g_assert_nonnull (first);
	g_printerr ("# monitor: %s\n", first);
	json_first = tether_test_process_read_line (json_monitor, TETHER_TEST_TIMEOUT_MS);
	g_assert_nonnull (json_first);

	tether_test_observer_publish (tb.observer, "v1/devices/me/rpc/request/42", request_bytes,
	                              &error);
	g_assert_no_error (error);

	/* on D-Bus */
	g_assert_true (tether_test_wait_until (has_received, &received, TETHER_TEST_TIMEOUT_MS));
	g_assert_cmpstr (received.kind, ==, "command");
	g_assert_cmpstr (received.topic, ==, "v1/devices/me/rpc/request/42");
	assert_payload (received.payload, request, strlen (request));
	g_assert_true (g_variant_lookup (received.details, "request-id", "&s", &value));
	g_assert_cmpstr (value, ==, "42");
	g_assert_true (g_variant_lookup (received.details, "method", "&s", &value));
	g_assert_cmpstr (value, ==, "setLed");

	/* in tetherctl monitor */
	line = read_line_with (monitor, "42");
	g_assert_nonnull (line);
	g_assert_true (contains_nocase (line, "command"));

	/* in tetherctl --json monitor, one object a line */
	object = read_json_received (json_monitor);
	g_assert_nonnull (object);
	g_assert_cmpstr (json_object_get_string_member (object, "connection"), ==, CONNECTION);
	g_assert_cmpstr (json_object_get_string_member (object, "kind"), ==, "command");
	g_assert_cmpstr (json_object_get_string_member (object, "topic"), ==,
	                 "v1/devices/me/rpc/request/42");
	g_assert_cmpstr (json_object_get_string_member (object, "payload"), ==, request);

	tether_test_env_ctl_ok (tb.env, "respond", "--connection", CONNECTION, "42", "200",
	                        "{\"ok\":true}", NULL);
	assert_arrives (&tb, "v1/devices/me/rpc/response/42", "{\"ok\":true}");
}

/* ---- settings ---- */

/* an edit of the settings file while tetherd runs moves the connection */
static void
test_settings_edit_reconnects (void)
{
	g_auto (Tb) tb = { 0 };
	g_autofree char *acl = tether_test_acl_thingsboard (DEVICE_CN);
	TetherTestBrokerOptions options = { .name = "second", .acl = acl };
	TetherTestBroker *second;
	g_autoptr (TetherTestObserver) second_observer = NULL;
	g_autoptr (GError) error = NULL;
	g_autofree char *config_path = NULL;
	g_autofree char *config = NULL;
	g_autofree char *edited = NULL;
	g_auto (GStrv) parts = NULL;
	TetherDBusConnection1 *connection;
	const char *payload = "{\"moved\":true}";

	tb_connect (&tb);
	second = tether_test_env_start_broker (tb.env, &options);
	second_observer = tether_test_env_observe (tb.env, second);
	tether_test_observer_subscribe (second_observer, TELEMETRY_TOPIC, &error);
	g_assert_no_error (error);

	config_path = tether_test_env_path (tb.env, "tether.conf");
	g_file_get_contents (config_path, &config, NULL, &error);
	g_assert_no_error (error);
	g_assert_nonnull (strstr (config, tether_test_broker_get_endpoint (tb.broker)));
	parts = g_strsplit (config, tether_test_broker_get_endpoint (tb.broker), -1);
	edited = g_strjoinv (tether_test_broker_get_endpoint (second), parts);
	g_file_set_contents (config_path, edited, -1, &error);
	g_assert_no_error (error);

	connection = tether_test_env_get_connection (tb.env, CONNECTION);
	g_assert_true (tether_test_wait_property (
	        G_DBUS_PROXY (connection), "Endpoint",
	        g_variant_new_string (tether_test_broker_get_endpoint (second)),
	        TETHER_TEST_TIMEOUT_MS));
	tether_test_env_wait_state (tb.env, CONNECTION, "connected", CONNECT_TIMEOUT);
	publish_ok (&tb, payload);
	{
		g_autoptr (GBytes) got = tether_test_observer_wait (
		        second_observer, TELEMETRY_TOPIC, TETHER_TEST_TIMEOUT_MS, NULL);

		assert_payload (got, payload, strlen (payload));
	}
}

/* ---- bad input: a clear error, a non-zero exit, nothing changed ---- */

static void
test_bad_malformed_pem (void)
{
	g_auto (Tb) tb = { 0 };
	g_autofree char *before = NULL;
	g_autofree char *after = NULL;
	g_autofree char *bad = NULL;
	g_autofree char *empty = NULL;
	g_autoptr (TetherTestCtlResult) result = NULL;

	tb_start (&tb);
	bad = tether_test_env_write_file (tb.env, "bad.pem",
	                                  "-----BEGIN CERTIFICATE-----\n"
	                                  "bm90IGEgY2VydGlmaWNhdGU=\n"
	                                  "-----END CERTIFICATE-----\n",
	                                  -1);
	empty = tether_test_env_write_file (tb.env, "empty.pem", "just text\n", -1);
	before = snapshot (&tb);

	result = tether_test_env_ctl (tb.env, NULL, "anchor", "add", "broken", bad, NULL);
	assert_refused (result, "certificate");
	g_clear_pointer (&result, tether_test_ctl_result_free);
	result = tether_test_env_ctl (tb.env, NULL, "anchor", "add", "broken", empty, NULL);
	assert_refused (result, "certificate");

	after = snapshot (&tb);
	g_assert_cmpstr (after, ==, before);
}

static void
test_bad_unknown_cloud (void)
{
	g_auto (Tb) tb = { 0 };
	g_autofree char *before = NULL;
	g_autofree char *after = NULL;
	g_autoptr (TetherTestCtlResult) result = NULL;

	tb_start (&tb);
	tb_provision (&tb);
	before = snapshot (&tb);

	result = tether_test_env_ctl (tb.env, NULL, "connection", "add", CONNECTION, "--cloud",
	                              "nosuchcloud", "--endpoint",
	                              tether_test_broker_get_endpoint (tb.broker), "--anchor",
	                              ANCHOR, NULL);
	assert_refused (result, "nosuchcloud");

	after = snapshot (&tb);
	g_assert_cmpstr (after, ==, before);
}

static void
test_bad_non_json_telemetry (void)
{
	g_auto (Tb) tb = { 0 };
	g_autofree char *before = NULL;
	g_autoptr (TetherTestCtlResult) result = NULL;
	const char *const payloads[] = { "not json", "{\"unclosed\":", "42", "\"a string\"" };

	tb_connect (&tb);
	observe (&tb, "v1/devices/me/#");
	before = snapshot (&tb);

	for (guint i = 0; i < G_N_ELEMENTS (payloads); i++) {
		result = tether_test_env_ctl (tb.env, NULL, "publish", "--connection", CONNECTION,
		                              "--kind", "telemetry", payloads[i], NULL);
		assert_refused (result, "JSON");
		g_clear_pointer (&result, tether_test_ctl_result_free);
	}

	/* client attributes are one object: ThingsBoard drops an array */
	result = tether_test_env_ctl (tb.env, NULL, "publish", "--connection", CONNECTION, "--kind",
	                              "attributes", "[{\"firmware\":\"1.2.3\"}]", NULL);
	assert_refused (result, "attributes must be one JSON object");
	g_clear_pointer (&result, tether_test_ctl_result_free);

	assert_nothing_sent (&tb, before);
}

/* a file of @size zero bytes that takes no room on disk: large input, made at once */
static char *
sparse_file (Tb *tb, const char *name, goffset size)
{
	char *path = tether_test_env_path (tb->env, name);
	int fd = g_open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	g_assert_cmpint (fd, >=, 0);
	g_assert_cmpint (ftruncate (fd, size), ==, 0);
	g_close (fd, NULL);
	return path;
}

/* a refusal by tetherctl itself, within FAILURE_BOUND_MS of its start */
static void
assert_refused_quickly (TetherTestCtlResult *result, gint64 started, const char *needle)
{
	gint64 took_ms = (g_get_monotonic_time () - started) / 1000;

	assert_refused (result, needle);
	if (took_ms > FAILURE_BOUND_MS * (gint64) tether_test_slowdown ())
		g_error ("the refusal took %" G_GINT64_FORMAT " ms", took_ms);
}

/* Input larger than anything tetherd takes is refused by tetherctl as soon as it reads past
 * its limit, with the limit named: a payload on standard input from a file, an anchor from
 * /dev/zero, which never ends. Input over the cloud's limit but under tetherctl's still
 * reaches tetherd, whose refusal is the precise one. Nothing is sent or stored. */
static void
test_bad_too_large (void)
{
	g_auto (Tb) tb = { 0 };
	g_autofree char *before = NULL;
	g_autofree char *huge = NULL;
	g_autofree char *large = NULL;
	g_autoptr (TetherTestCtlResult) result = NULL;
	gint64 started;

	tb_connect (&tb);
	observe (&tb, "v1/devices/me/#");
	huge = sparse_file (&tb, "huge.json", TETHERCTL_PAYLOAD_MAX + 1);
	large = sparse_file (&tb, "large.json", 2 * 1024 * 1024);
	before = snapshot (&tb);

	/* one byte over tetherctl's limit, to one connection and to all */
	started = g_get_monotonic_time ();
	result = tether_test_env_ctl_stdin_file (tb.env, huge, "publish", "--connection",
	                                         CONNECTION, "--kind", "telemetry", "-", NULL);
	assert_refused_quickly (result, started,
	                        "the payload is larger than 16 MiB, more than any cloud accepts");
	g_clear_pointer (&result, tether_test_ctl_result_free);
	started = g_get_monotonic_time ();
	result = tether_test_env_ctl_stdin_file (tb.env, huge, "publish", "--kind", "telemetry",
	                                         "-", NULL);
	assert_refused_quickly (result, started, "larger than 16 MiB");
	g_clear_pointer (&result, tether_test_ctl_result_free);

	/* over ThingsBoard's limit, under tetherctl's: tetherd says which limit */
	result = tether_test_env_ctl_stdin_file (tb.env, large, "publish", "--connection",
	                                         CONNECTION, "--kind", "telemetry", "-", NULL);
	assert_refused (result, "ThingsBoard's default message limit");
	g_clear_pointer (&result, tether_test_ctl_result_free);

	/* an anchor without an end, as a file and on standard input */
	started = g_get_monotonic_time ();
	result = tether_test_env_ctl (tb.env, NULL, "anchor", "add", "x", "/dev/zero", NULL);
	assert_refused_quickly (result, started, "'/dev/zero' is larger than 8 MiB");
	g_clear_pointer (&result, tether_test_ctl_result_free);
	started = g_get_monotonic_time ();
	result = tether_test_env_ctl_stdin_file (tb.env, "/dev/zero", "anchor", "add", "x", "-",
	                                         NULL);
	assert_refused_quickly (result, started, "standard input holds more than 8 MiB");
	g_clear_pointer (&result, tether_test_ctl_result_free);

	/* over the anchor limit, under tetherctl's: tetherd says which limit */
	result = tether_test_env_ctl (tb.env, NULL, "anchor", "add", "x", large, NULL);
	assert_refused (result, "a trust anchor is at most");
	g_clear_pointer (&result, tether_test_ctl_result_free);

	assert_nothing_sent (&tb, before);
}

static char *
identity_state (Tb *tb)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *path = NULL;
	g_autoptr (TetherDBusIdentity1) identity = NULL;

	tether_dbus_tether1_call_get_identity_sync (tether_test_env_get_manager (tb->env), "device",
	                                            G_DBUS_CALL_FLAGS_NONE, -1, &path, NULL,
	                                            &error);
	g_assert_no_error (error);
	identity = tether_dbus_identity1_proxy_new_sync (tether_test_env_get_bus (tb->env),
	                                                 G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
	                                                 "org.tether.Tether1", path, NULL, &error);
	g_assert_no_error (error);
	return g_strdup (tether_dbus_identity1_get_state (identity));
}

/* a certificate for another key is refused; the right one still installs */
static void
test_bad_foreign_certificate (void)
{
	g_auto (Tb) tb = { 0 };
	g_autofree char *before = NULL;
	g_autofree char *after = NULL;
	g_autofree char *csr = NULL;
	g_autofree char *own_csr = NULL;
	g_autofree char *foreign = NULL;
	g_autofree char *own = NULL;
	g_autofree char *state = NULL;
	g_autoptr (TetherTestCtlResult) result = NULL;

	tb_start (&tb);
	own_csr = tether_test_env_path (tb.env, "device.csr");
	tether_test_env_ctl_ok (tb.env, "identity", "request", "--common-name", DEVICE_CN, "--out",
	                        own_csr, NULL);
	csr = tether_test_env_make_csr (tb.env, "foreign", DEVICE_CN);
	foreign = tether_test_env_path (tb.env, "foreign.pem");
	tether_test_env_sign_csr (tb.env, csr, foreign);
	before = snapshot (&tb);

	result = tether_test_env_ctl (tb.env, NULL, "identity", "install", foreign, NULL);
	assert_refused (result, "key");

	after = snapshot (&tb);
	g_assert_cmpstr (after, ==, before);
	state = identity_state (&tb);
	g_assert_cmpstr (state, ==, "key-only");

	own = tether_test_env_path (tb.env, "device.pem");
	tether_test_env_sign_csr (tb.env, own_csr, own);
	tether_test_env_ctl_ok (tb.env, "identity", "install", own, NULL);
	g_clear_pointer (&state, g_free);
	state = identity_state (&tb);
	g_assert_cmpstr (state, ==, "ready");
}

/* names must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ */
static void
test_bad_names (void)
{
	g_auto (Tb) tb = { 0 };
	const TetherTestPki *pki;
	g_autofree char *before = NULL;
	g_autofree char *after = NULL;
	g_autofree char *too_long = g_strnfill (65, 'a');
	g_autofree char *longest = g_strnfill (64, 'b');
	const char *const bad[] = { "bad/name", "-x", too_long, ".hidden", "sp ace", "" };

	tb_start (&tb);
	tb_provision (&tb);
	pki = tether_test_env_get_pki (tb.env);
	before = snapshot (&tb);

	for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autoptr (TetherTestCtlResult) anchor = NULL;
		g_autoptr (TetherTestCtlResult) connection = NULL;
		g_autoptr (GError) error = NULL;
		g_autofree char *remote = NULL;
		g_autofree char *path = NULL;
		g_auto (GStrv) warnings = NULL;

		/* tetherctl: a usage error (2) or the daemon's (1), said on stderr */
		anchor = tether_test_env_ctl (tb.env, NULL, "anchor", "add", bad[i],
		                              pki->server_ca_cert, NULL);
		g_assert_true (anchor->status == 1 || anchor->status == 2);
		g_assert_cmpstr (anchor->err, !=, "");
		connection = tether_test_env_ctl (tb.env, NULL, "connection", "add", bad[i],
		                                  "--cloud", "thingsboard", "--endpoint",
		                                  tether_test_broker_get_endpoint (tb.broker),
		                                  "--anchor", ANCHOR, NULL);
		g_assert_true (connection->status == 1 || connection->status == 2);
		g_assert_cmpstr (connection->err, !=, "");

		/* the daemon itself: InvalidArgument */
		tether_dbus_tether1_call_add_trust_anchor_sync (
		        tether_test_env_get_manager (tb.env), bad[i], bytes_variant ("x", 1),
		        no_options (), G_DBUS_CALL_FLAGS_NONE, -1, &path, &warnings, NULL, &error);
		g_assert_nonnull (error);
		remote = g_dbus_error_get_remote_error (error);
		g_assert_cmpstr (remote, ==, "org.tether.Error.InvalidArgument");
	}

	after = snapshot (&tb);
	g_assert_cmpstr (after, ==, before);

	/* the longest name the rule allows is accepted */
	tether_test_env_ctl_ok (tb.env, "anchor", "add", longest, pki->server_ca_cert, NULL);
}

/*
 * connection settings no broker could take, or that are typos: refused by add and modify,
 * saying what is wrong, and nothing changes
 */
static void
test_bad_connection_settings (void)
{
	g_auto (Tb) tb = { 0 };
	g_autofree char *before = NULL;
	g_autofree char *after = NULL;
	g_autofree char *too_long = g_strnfill (65536, 'c');
	g_autofree char *longest = g_strnfill (65535, 'c');
	g_autoptr (TetherTestCtlResult) reprovision = NULL;
	g_autoptr (TetherTestCtlResult) no_anchor = NULL;
	const char *const cases[][3] = {
		{ "--client-id", too_long, "65535" },
		{ "--client-id", "two\nlines", "control character" },
		{ "--client-id", "bell\a", "control character" },
		{ "--keepalive", "abc", "number of seconds" },
		{ "--keepalive", "4", "5 to 3600" },
		{ "--anchor", ANCHOR, "named twice" },
	};

	tb_connect (&tb);
	before = snapshot (&tb);

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (TetherTestCtlResult) add = NULL;
		g_autoptr (TetherTestCtlResult) modify = NULL;

		add = tether_test_env_ctl (tb.env, NULL, "connection", "add", "second", "--cloud",
		                           "thingsboard", "--endpoint",
		                           tether_test_broker_get_endpoint (tb.broker), "--anchor",
		                           ANCHOR, cases[i][0], cases[i][1], NULL);
		modify = tether_test_env_ctl (tb.env, NULL, "connection", "modify", CONNECTION,
		                              "--anchor", ANCHOR, cases[i][0], cases[i][1], NULL);
		for (guint j = 0; j < 2; j++) {
			TetherTestCtlResult *result = j == 0 ? add : modify;

			/* a usage error (2) or the daemon's (1) */
			g_assert_true (result->status == 1 || result->status == 2);
			if (!contains_nocase (result->err, cases[i][2]))
				g_error ("%s %s: the error does not name '%s': %s", cases[i][0],
				         cases[i][1], cases[i][2], result->err);
		}
	}
	/* ThingsBoard bundles no anchor: a connection must name one */
	no_anchor = tether_test_env_ctl (tb.env, NULL, "connection", "add", "second", "--cloud",
	                                 "thingsboard", "--endpoint",
	                                 tether_test_broker_get_endpoint (tb.broker), NULL);
	assert_refused (no_anchor, "thingsboard bundles no trust anchor");

	/* ThingsBoard has no provisioning steps to take again */
	reprovision =
	        tether_test_env_ctl (tb.env, NULL, "connection", "reprovision", CONNECTION, NULL);
	assert_refused (reprovision, "no provisioning steps");

	after = snapshot (&tb);
	g_assert_cmpstr (after, ==, before);

	/* the longest client id MQTT allows is taken */
	tether_test_env_ctl_ok (tb.env, "connection", "add", "second", "--cloud", "thingsboard",
	                        "--endpoint", tether_test_broker_get_endpoint (tb.broker),
	                        "--anchor", ANCHOR, "--client-id", longest, "--disabled", NULL);
}

int
main (int argc, char **argv)
{
	tether_test_init (&argc, &argv);

	tether_test_add ("/thingsboard/flow/telemetry", test_flow_telemetry);
	tether_test_add ("/thingsboard/publish/exact-bytes-stdin", test_publish_exact_bytes_stdin);
	tether_test_add ("/thingsboard/publish/exact-bytes-dbus", test_publish_exact_bytes_dbus);
	tether_test_add ("/thingsboard/daemon/restart", test_daemon_restart);
	tether_test_add ("/thingsboard/daemon/kill-restart", test_daemon_kill_restart);
	tether_test_add ("/thingsboard/trust/wrong-anchor", test_trust_wrong_anchor);
	tether_test_add ("/thingsboard/trust/wrong-host", test_trust_wrong_host);
	tether_test_add ("/thingsboard/rpc/request-response", test_rpc_request_response);
	tether_test_add ("/thingsboard/settings/edit-reconnects", test_settings_edit_reconnects);
	tether_test_add ("/thingsboard/bad-input/malformed-pem", test_bad_malformed_pem);
	tether_test_add ("/thingsboard/bad-input/unknown-cloud", test_bad_unknown_cloud);
	tether_test_add ("/thingsboard/bad-input/non-json-telemetry", test_bad_non_json_telemetry);
	tether_test_add ("/thingsboard/bad-input/foreign-certificate",
	                 test_bad_foreign_certificate);
	tether_test_add ("/thingsboard/bad-input/names", test_bad_names);
	tether_test_add ("/thingsboard/bad-input/connection-settings",
	                 test_bad_connection_settings);
	tether_test_add ("/thingsboard/bad-input/too-large", test_bad_too_large);
	return g_test_run ();
}
