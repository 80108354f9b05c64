/*
 * Integration tests for AWS IoT Core: the real tetherd on a private session
 * bus, driven by the real tetherctl, against a real mosquitto with mutual TLS
 * and an ACL shaped like an IoT policy standing in for AWS IoT Core. A TCP
 * front that reads the ClientHello stands in for port 443 with ALPN, and a
 * second MQTT client answers fleet provisioning requests.
 */
#include "tether-test-env.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include "pki/tether-test-pki.h"

#define THING            "aws-thing"
#define CONNECTION       "aws"
#define ANCHOR           "server-ca"
#define TELEMETRY_TOPIC  "dt/" THING "/telemetry"
#define SHADOW           "$aws/things/" THING "/shadow"
#define CLAIM_CN         "claim-fleet"
#define TEMPLATE         "fleet"
#define CONNECT_TIMEOUT  TETHER_TEST_TIMEOUT_MS
#define FAILURE_BOUND_MS 20000
/* how long to watch for a message that must not arrive */
#define SILENCE_MS 1000

typedef struct {
	TetherTestEnv *env;
	TetherTestBroker *broker;
	TetherTestObserver *observer;
	GPtrArray *helpers; /* of GSubprocess */
} Aws;

static void
aws_clear (Aws *aws)
{
	g_clear_pointer (&aws->observer, tether_test_observer_free);
	g_clear_pointer (&aws->env, tether_test_env_free);
	for (guint i = 0; aws->helpers != NULL && i < aws->helpers->len; i++) {
		GSubprocess *helper = g_ptr_array_index (aws->helpers, i);

		g_subprocess_force_exit (helper);
		g_subprocess_wait (helper, NULL, NULL);
	}
	g_clear_pointer (&aws->helpers, g_ptr_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Aws, aws_clear)

/* the PKI, a broker with the IoT-policy ACL, the observer on it, tetherd */
static void
aws_start (Aws *aws)
{
	g_autofree char *acl = NULL;
	g_autoptr (GError) error = NULL;
	TetherTestBrokerOptions options = { 0 };

	g_file_get_contents (AWS_POLICY_ACL, &acl, NULL, &error);
	g_assert_no_error (error);
	options.acl = acl;
	aws->helpers = g_ptr_array_new_with_free_func (g_object_unref);
	aws->env = tether_test_env_new ();
	aws->broker = tether_test_env_start_broker (aws->env, &options);
	aws->observer = tether_test_env_observe (aws->env, aws->broker);
	tether_test_env_start_daemon (aws->env);
}

static void
observe (Aws *aws, const char *filter)
{
	g_autoptr (GError) error = NULL;

	tether_test_observer_subscribe (aws->observer, filter, &error);
	g_assert_no_error (error);
}

static void
answer (Aws *aws, const char *topic, const char *payload)
{
	g_autoptr (GError) error = NULL;
	g_autoptr (GBytes) bytes = g_bytes_new (payload, strlen (payload));

	tether_test_observer_publish (aws->observer, topic, bytes, &error);
	g_assert_no_error (error);
}

/* the device's own key and certificate (CN = the thing name), and the server's CA */
static void
aws_own_identity (Aws *aws)
{
	const TetherTestPki *pki = tether_test_env_get_pki (aws->env);
	g_autofree char *csr = tether_test_env_path (aws->env, "device.csr");
	g_autofree char *cert = tether_test_env_path (aws->env, "device.pem");

	tether_test_env_ctl_ok (aws->env, "identity", "request", "--common-name", THING, "--out",
	                        csr, NULL);
	tether_test_env_sign_csr (aws->env, csr, cert);
	tether_test_env_ctl_ok (aws->env, "identity", "install", cert, NULL);
	tether_test_env_ctl_ok (aws->env, "anchor", "add", ANCHOR, pki->server_ca_cert, NULL);
}

/* connection add aws --cloud aws-iot --endpoint ENDPOINT --anchor server-ca [more] */
static void
aws_add_connection (Aws *aws, const char *endpoint, ...)
{
	g_autoptr (GPtrArray) args = g_ptr_array_new ();
	va_list extra;
	g_autoptr (TetherTestCtlResult) result = NULL;

	g_ptr_array_add (args, "connection");
	g_ptr_array_add (args, "add");
	g_ptr_array_add (args, CONNECTION);
	g_ptr_array_add (args, "--cloud");
	g_ptr_array_add (args, "aws-iot");
	g_ptr_array_add (args, "--endpoint");
	g_ptr_array_add (args, (gpointer) endpoint);
	va_start (extra, endpoint);
	for (const char *arg = va_arg (extra, const char *); arg != NULL;
	     arg = va_arg (extra, const char *))
		g_ptr_array_add (args, (gpointer) arg);
	va_end (extra);
	g_ptr_array_add (args, NULL);
	result = tether_test_env_ctlv (aws->env, NULL, (const char *const *) args->pdata);
	g_assert_cmpint (result->status, ==, 0);
}

/* a connected device with its own certificate: what most tests start from */
static void
aws_connect (Aws *aws, const char *first_extra, ...)
{
	g_autoptr (GPtrArray) args = g_ptr_array_new ();
	g_autoptr (TetherTestCtlResult) result = NULL;
	va_list extra;

	aws_start (aws);
	aws_own_identity (aws);
	g_ptr_array_add (args, "connection");
	g_ptr_array_add (args, "add");
	g_ptr_array_add (args, CONNECTION);
	g_ptr_array_add (args, "--cloud");
	g_ptr_array_add (args, "aws-iot");
	g_ptr_array_add (args, "--endpoint");
	g_ptr_array_add (args, (gpointer) tether_test_broker_get_endpoint (aws->broker));
	g_ptr_array_add (args, "--anchor");
	g_ptr_array_add (args, ANCHOR);
	va_start (extra, first_extra);
	for (const char *arg = first_extra; arg != NULL; arg = va_arg (extra, const char *))
		g_ptr_array_add (args, (gpointer) arg);
	va_end (extra);
	g_ptr_array_add (args, NULL);
	result = tether_test_env_ctlv (aws->env, NULL, (const char *const *) args->pdata);
	g_assert_cmpint (result->status, ==, 0);
	tether_test_env_wait_state (aws->env, CONNECTION, "connected", CONNECT_TIMEOUT);
}

static TetherDBusConnection1 *
connection_proxy (Aws *aws)
{
	return tether_test_env_get_connection (aws->env, CONNECTION);
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
assert_arrives (Aws *aws, const char *topic, const char *payload)
{
	g_autoptr (GBytes) got = NULL;
	g_autofree char *got_topic = NULL;

	got = tether_test_observer_wait (aws->observer, topic, TETHER_TEST_TIMEOUT_MS, &got_topic);
	if (got == NULL)
		g_printerr ("# nothing arrived on %s; the broker's log is %s\n", topic,
		            tether_test_broker_get_log_path (aws->broker));
	assert_payload (got, payload, strlen (payload));
	g_assert_cmpstr (got_topic, ==, topic);
}

/* delivery is at least once: a message delivered before a restart may come again first */
static void
assert_arrives_at_least_once (Aws *aws, const char *topic, const char *payload)
{
	gint64 deadline =
	        g_get_monotonic_time () + TETHER_TEST_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

	while (g_get_monotonic_time () < deadline) {
		g_autoptr (GBytes) got =
		                   tether_test_observer_wait (aws->observer, topic, 500, NULL);

		if (got != NULL && g_bytes_get_size (got) == strlen (payload) &&
		    memcmp (g_bytes_get_data (got, NULL), payload, strlen (payload)) == 0)
			return;
	}
	g_error ("%s did not arrive on %s", payload, topic);
}

static void
assert_nothing_arrives (Aws *aws, const char *filter)
{
	g_autofree char *topic = NULL;
	g_autoptr (GBytes) got =
	                   tether_test_observer_wait (aws->observer, filter, SILENCE_MS, &topic);

	if (got != NULL)
		g_error ("a message arrived on %s that should not have", topic);
}

static void
publish_kind_ok (Aws *aws, const char *kind, const char *payload)
{
	tether_test_env_ctl_ok (aws->env, "publish", "--connection", CONNECTION, "--kind", kind,
	                        payload, NULL);
}

static void
publish_topic_ok (Aws *aws, const char *topic, const char *payload)
{
	tether_test_env_ctl_ok (aws->env, "publish", "--connection", CONNECTION, "--topic", topic,
	                        payload, NULL);
}

static gboolean
contains_nocase (const char *haystack, const char *needle)
{
	g_autofree char *h = g_utf8_strdown (haystack, -1);
	g_autofree char *n = g_utf8_strdown (needle, -1);

	return strstr (h, n) != NULL;
}

/* a refusal by the daemon: exit status 1, a message on stderr that names @needle */
static void
assert_refused (TetherTestCtlResult *result, const char *needle)
{
	g_assert_cmpint (result->status, ==, 1);
	if (!contains_nocase (result->err, needle))
		g_error ("the error does not name '%s': %s", needle, result->err);
}

typedef struct {
	GDBusProxy *proxy;
	const char *name;
	const char *needle;
} StringWait;

static gboolean
property_contains (gpointer user_data)
{
	StringWait *wait = user_data;
	g_autoptr (GVariant) value = g_dbus_proxy_get_cached_property (wait->proxy, wait->name);

	return value != NULL && strstr (g_variant_get_string (value, NULL), wait->needle) != NULL;
}

/* waits until LastError says @needle; returns it */
static const char *
wait_last_error (Aws *aws, const char *needle, guint timeout_ms)
{
	TetherDBusConnection1 *connection = connection_proxy (aws);
	StringWait wait = { G_DBUS_PROXY (connection), "LastError", needle };
	const char *last_error;

	if (!tether_test_wait_until (property_contains, &wait, timeout_ms)) {
		g_printerr ("# tetherd's log is %s\n", tether_test_env_get_daemon_log (aws->env));
		g_error ("LastError did not come to say '%s' within %u ms; it says '%s'", needle,
		         timeout_ms, tether_dbus_connection1_get_last_error (connection));
	}
	last_error = tether_dbus_connection1_get_last_error (connection);
	g_printerr ("# LastError: %s\n", last_error);
	return last_error;
}

/* ---- helper processes: the ALPN front and the fleet responder ---- */

static void
helper_child_setup (gpointer user_data)
{
	prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *
spawn_helper (Aws *aws, const char *log_name, const char *const *argv)
{
	g_autoptr (GSubprocessLauncher) launcher = NULL;
	g_autoptr (GError) error = NULL;
	g_autofree char *log_path = tether_test_env_path (aws->env, log_name);
	GSubprocess *process;

	launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
	g_subprocess_launcher_set_stderr_file_path (launcher, log_path);
	g_subprocess_launcher_set_child_setup (launcher, helper_child_setup, NULL, NULL);
	process = g_subprocess_launcher_spawnv (launcher, argv, &error);
	g_assert_no_error (error);
	g_ptr_array_add (aws->helpers, process);
	return process;
}

static char *
read_log (Aws *aws, const char *log_name)
{
	g_autofree char *path = tether_test_env_path (aws->env, log_name);
	char *contents = NULL;

	if (!g_file_get_contents (path, &contents, NULL, NULL))
		return g_strdup ("");
	return contents;
}

/* the front on a free port, forwarding to the broker; returns its endpoint */
static char *
start_front (Aws *aws)
{
	guint16 port = tether_test_pick_port ();
	g_autofree char *listen = g_strdup_printf ("%u", port);
	g_autofree char *target = g_strdup_printf ("%u", tether_test_broker_get_port (aws->broker));
	const char *const argv[] = { ALPN_FRONT, listen, target, "x-amzn-mqtt-ca", NULL };
	GSubprocess *front = spawn_helper (aws, "alpn-front.log", argv);

	if (!tether_test_wait_for_port (port, TETHER_TEST_TIMEOUT_MS, front))
		g_error ("the ALPN front did not listen on port %u", port);
	return g_strdup_printf ("localhost:%u", port);
}

typedef struct {
	Aws *aws;
	const char *log_name;
	const char *needle;
	guint times;
} LogWait;

static gboolean
log_says (gpointer user_data)
{
	LogWait *wait = user_data;
	g_autofree char *log = read_log (wait->aws, wait->log_name);
	guint seen = 0;

	for (const char *p = strstr (log, wait->needle); p != NULL;
	     p = strstr (p + 1, wait->needle))
		seen++;
	return seen >= wait->times;
}

/* waits until a helper's log says @needle @times times */
static void
wait_log (Aws *aws, const char *log_name, const char *needle, guint times)
{
	LogWait wait = { aws, log_name, needle, times };

	if (!tether_test_wait_until (log_says, &wait, TETHER_TEST_TIMEOUT_MS)) {
		g_autofree char *log = read_log (aws, log_name);

		g_error ("%s did not say '%s' %u times: %s", log_name, needle, times, log);
	}
}

typedef struct {
	const char *path;
} FileWait;

static gboolean
file_exists (gpointer user_data)
{
	return g_file_test (((FileWait *) user_data)->path, G_FILE_TEST_EXISTS);
}

static void
start_responder (Aws *aws, gboolean reject_csr)
{
	const TetherTestPki *pki = tether_test_env_get_pki (aws->env);
	g_autofree char *port = g_strdup_printf ("%u", tether_test_broker_get_port (aws->broker));
	g_autofree char *ready = tether_test_env_path (aws->env, "fleet-responder.ready");
	const char *const argv[] = { FLEET_RESPONDER,
		                     "--port",
		                     port,
		                     "--server-ca",
		                     pki->server_ca_cert,
		                     "--cert",
		                     pki->observer_cert,
		                     "--key",
		                     pki->observer_key,
		                     "--ca-cert",
		                     pki->device_ca_cert,
		                     "--ca-key",
		                     pki->device_ca_key,
		                     "--template",
		                     TEMPLATE,
		                     "--ready",
		                     ready,
		                     reject_csr ? "--reject-csr" : NULL,
		                     NULL };
	FileWait wait = { ready };

	spawn_helper (aws, "fleet-responder.log", argv);
	if (!tether_test_wait_until (file_exists, &wait, TETHER_TEST_TIMEOUT_MS)) {
		g_autofree char *log = read_log (aws, "fleet-responder.log");

		g_error ("the fleet responder did not subscribe: %s", log);
	}
}

/* ---- signals ---- */

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
	g_clear_pointer (&received->kind, g_free);
	g_clear_pointer (&received->topic, g_free);
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

typedef struct {
	guint64 id;
	char *status;
	GVariant *details;
} Result;

typedef struct {
	GArray *results; /* of Result */
} Results;

static void
result_clear (gpointer data)
{
	Result *result = data;

	g_free (result->status);
	g_clear_pointer (&result->details, g_variant_unref);
}

static void
results_clear (Results *results)
{
	g_clear_pointer (&results->results, g_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Results, results_clear)

static void
on_message_result (TetherDBusConnection1 *proxy, guint64 id, const char *status, GVariant *details,
                   gpointer user_data)
{
	Results *results = user_data;
	Result result = { id, g_strdup (status), g_variant_ref (details) };

	g_array_append_val (results->results, result);
}

typedef struct {
	Results *results;
	guint64 id;
	const char *status;
	Result *found;
} ResultWait;

static gboolean
has_result (gpointer user_data)
{
	ResultWait *wait = user_data;

	for (guint i = 0; i < wait->results->results->len; i++) {
		Result *result = &g_array_index (wait->results->results, Result, i);

		if (result->id == wait->id && g_str_equal (result->status, wait->status)) {
			wait->found = result;
			return TRUE;
		}
	}
	return FALSE;
}

static Result *
wait_result (Results *results, guint64 id, const char *status)
{
	ResultWait wait = { results, id, status, NULL };

	if (!tether_test_wait_until (has_result, &wait, TETHER_TEST_TIMEOUT_MS))
		g_error ("no MessageResult '%s' for message %" G_GUINT64_FORMAT, status, id);
	return wait.found;
}

static GVariant *
bytes_variant (const char *text)
{
	return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, text, strlen (text), 1);
}

static guint64
publish_dbus (Aws *aws, const char *kind, const char *payload, GVariant *options)
{
	g_autoptr (GError) error = NULL;
	guint64 id = 0;

	tether_dbus_connection1_call_publish_sync (
	        connection_proxy (aws), kind, bytes_variant (payload),
	        options != NULL ? options : g_variant_new ("a{sv}", NULL), G_DBUS_CALL_FLAGS_NONE,
	        -1, &id, NULL, &error);
	g_assert_no_error (error);
	return id;
}

static JsonObject *
parse_object (GBytes *bytes)
{
	g_autoptr (JsonParser) parser = json_parser_new ();
	g_autoptr (GError) error = NULL;
	JsonNode *root;

	json_parser_load_from_data (parser, g_bytes_get_data (bytes, NULL),
	                            (gssize) g_bytes_get_size (bytes), &error);
	g_assert_no_error (error);
	root = json_parser_get_root (parser);
	g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
	return json_object_ref (json_node_get_object (root));
}

/* ---- the flow with the device's own certificate ---- */

/* telemetry, events and raw topics reach the thing's dt/ topics; client id = CN */
static void
test_flow_telemetry (void)
{
	g_auto (Aws) aws = { 0 };
	TetherDBusConnection1 *connection;

	aws_connect (&aws, NULL);
	observe (&aws, "dt/#");
	publish_kind_ok (&aws, "telemetry", "{\"temperature\":21.5}");
	assert_arrives (&aws, TELEMETRY_TOPIC, "{\"temperature\":21.5}");
	publish_kind_ok (&aws, "event", "door opened");
	assert_arrives (&aws, "dt/" THING "/event", "door opened");
	publish_topic_ok (&aws, "dt/" THING "/room/1", "{\"lux\":300}");
	assert_arrives (&aws, "dt/" THING "/room/1", "{\"lux\":300}");

	connection = connection_proxy (&aws);
	g_assert_cmpstr (tether_dbus_connection1_get_client_id (connection), ==, THING);
	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (connection), "Delivered",
	                                          g_variant_new_uint64 (3),
	                                          TETHER_TEST_TIMEOUT_MS));
	g_assert_cmpstr (tether_dbus_connection1_get_last_error (connection), ==, "");
}

/* the policy does not let the thing write other topics: nothing arrives */
static void
test_policy_denied_publish (void)
{
	g_auto (Aws) aws = { 0 };
	g_auto (Results) results = { g_array_new (FALSE, TRUE, sizeof (Result)) };
	TetherDBusConnection1 *connection;
	guint64 denied;

	g_array_set_clear_func (results.results, result_clear);
	aws_connect (&aws, NULL);
	observe (&aws, "#");
	connection = connection_proxy (&aws);
	g_signal_connect (connection, "message-result", G_CALLBACK (on_message_result), &results);

	/* mosquitto acknowledges it (so the outbox lets it go) and drops it */
	denied = publish_dbus (&aws, "raw", "{\"x\":1}",
	                       g_variant_new_parsed ("{'topic': <'other/thing/data'>}"));
	wait_result (&results, denied, "delivered");
	assert_nothing_arrives (&aws, "other/#");

	publish_kind_ok (&aws, "telemetry", "{\"after\":1}");
	assert_arrives (&aws, TELEMETRY_TOPIC, "{\"after\":1}");
}

/* ---- port 443 with ALPN, through the front ---- */

static void
test_alpn_front (void)
{
	g_auto (Aws) aws = { 0 };
	g_autofree char *front = NULL;
	g_autofree char *log = NULL;

	aws_start (&aws);
	aws_own_identity (&aws);
	front = start_front (&aws);
	observe (&aws, TELEMETRY_TOPIC);

	/* the front stands on another port than 443: the option asks for ALPN there */
	aws_add_connection (&aws, front, "--anchor", ANCHOR, "--option", "alpn=true", NULL);
	tether_test_env_wait_state (aws.env, CONNECTION, "connected", CONNECT_TIMEOUT);
	publish_kind_ok (&aws, "telemetry", "{\"via\":\"alpn\"}");
	assert_arrives (&aws, TELEMETRY_TOPIC, "{\"via\":\"alpn\"}");

	/* the front saw the protocol, and the broker the device's own certificate */
	log = read_log (&aws, "alpn-front.log");
	g_printerr ("# front: %s", log);
	g_assert_nonnull (strstr (log, "forwarded (offered: x-amzn-mqtt-ca)"));
	g_assert_null (strstr (log, "refused"));
}

static void
test_alpn_refused (void)
{
	g_auto (Aws) aws = { 0 };
	g_autofree char *front = NULL;
	g_autofree char *log = NULL;
	const char *last_error;

	aws_start (&aws);
	aws_own_identity (&aws);
	front = start_front (&aws);

	/* without ALPN the front ends the handshake, as AWS's port 443 would */
	aws_add_connection (&aws, front, "--anchor", ANCHOR, "--option", "alpn=false", NULL);
	tether_test_env_wait_state (aws.env, CONNECTION, "failed", FAILURE_BOUND_MS);
	last_error = wait_last_error (&aws, "no_application_protocol", FAILURE_BOUND_MS);
	g_assert_nonnull (strstr (last_error, "alpn=true"));
	log = read_log (&aws, "alpn-front.log");
	g_assert_nonnull (strstr (log, "refused (offered: none)"));
	g_assert_null (strstr (log, "forwarded"));
}

/* ---- fleet provisioning by claim ---- */

static void
import_claim (Aws *aws)
{
	const TetherTestPki *pki = tether_test_env_get_pki (aws->env);
	g_autofree char *cert = NULL;
	g_autofree char *key = NULL;

	tether_test_env_make_client_cert (aws->env, "claim", CLAIM_CN);
	cert = tether_test_env_pki_file (aws->env, "claim.pem");
	key = tether_test_env_pki_file (aws->env, "claim.key");
	tether_test_env_ctl_ok (aws->env, "identity", "import", "--identity", "claim", key, cert,
	                        NULL);
	tether_test_env_ctl_ok (aws->env, "anchor", "add", ANCHOR, pki->server_ca_cert, NULL);
}

static char *
identity_issuer (Aws *aws, const char *name, char **subject)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *path = NULL;
	g_autoptr (TetherDBusIdentity1) identity = NULL;

	tether_dbus_tether1_call_get_identity_sync (tether_test_env_get_manager (aws->env), name,
	                                            G_DBUS_CALL_FLAGS_NONE, -1, &path, NULL,
	                                            &error);
	g_assert_no_error (error);
	identity = tether_dbus_identity1_proxy_new_sync (tether_test_env_get_bus (aws->env),
	                                                 G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
	                                                 "org.tether.Tether1", path, NULL, &error);
	g_assert_no_error (error);
	g_assert_cmpstr (tether_dbus_identity1_get_state (identity), ==, "ready");
	*subject = g_strdup (tether_dbus_identity1_get_subject (identity));
	return g_strdup (tether_dbus_identity1_get_issuer (identity));
}

/* claim, CSR signed by the responder, RegisterThing, then telemetry as the new thing */
static void
test_fleet_provisioning (void)
{
	g_auto (Aws) aws = { 0 };
	g_autofree char *issuer = NULL;
	g_autofree char *subject = NULL;
	g_autofree char *log = NULL;
	TetherDBusConnection1 *connection;

	aws_start (&aws);
	import_claim (&aws);
	start_responder (&aws, FALSE);
	observe (&aws, "dt/#");
	aws_add_connection (&aws, tether_test_broker_get_endpoint (aws.broker), "--anchor", ANCHOR,
	                    "--option", "provisioning-template=" TEMPLATE, "--option",
	                    "provisioning-parameters=SerialNumber=1234", NULL);

	/* queued while the device provisions; it goes out only as the new thing */
	publish_kind_ok (&aws, "telemetry", "{\"early\":true}");
	tether_test_env_wait_state (aws.env, CONNECTION, "connected", CONNECT_TIMEOUT);
	assert_arrives (&aws, "dt/thing-1234/telemetry", "{\"early\":true}");

	connection = connection_proxy (&aws);
	g_assert_cmpstr (tether_dbus_connection1_get_client_id (connection), ==, "thing-1234");
	g_assert_cmpstr (tether_dbus_connection1_get_last_error (connection), ==, "");
	issuer = identity_issuer (&aws, "device", &subject);
	g_printerr ("# device identity: %s, issued by %s\n", subject, issuer);
	g_assert_nonnull (strstr (issuer, TETHER_TEST_DEVICE_CA_CN));
	log = read_log (&aws, "fleet-responder.log");
	g_assert_nonnull (strstr (log, "registered thing-1234"));

	publish_kind_ok (&aws, "telemetry", "{\"t\":1}");
	assert_arrives (&aws, "dt/thing-1234/telemetry", "{\"t\":1}");
	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (connection), "Delivered",
	                                          g_variant_new_uint64 (2),
	                                          TETHER_TEST_TIMEOUT_MS));

	/* Reprovision: the claim once more, a new certificate for the same thing */
	tether_test_env_ctl_ok (aws.env, "connection", "reprovision", CONNECTION, NULL);
	wait_log (&aws, "fleet-responder.log", "registered thing-1234", 2);
	tether_test_env_wait_state (aws.env, CONNECTION, "connected", CONNECT_TIMEOUT);
	g_assert_cmpstr (tether_dbus_connection1_get_client_id (connection), ==, "thing-1234");

	/* the claim is not used again: without it, the device still connects after a restart */
	tether_test_env_ctl_ok (aws.env, "identity", "remove", "claim", NULL);
	tether_test_env_restart_daemon (aws.env);
	tether_test_env_wait_state (aws.env, CONNECTION, "connected", CONNECT_TIMEOUT);
	publish_kind_ok (&aws, "telemetry", "{\"t\":2}");
	assert_arrives_at_least_once (&aws, "dt/thing-1234/telemetry", "{\"t\":2}");
}

static void
assert_not_provisioned (Aws *aws)
{
	TetherDBusConnection1 *connection = connection_proxy (aws);
	g_autoptr (TetherTestCtlResult) show = NULL;

	g_assert_cmpstr (tether_dbus_connection1_get_state (connection), !=, "connected");
	g_assert_cmpuint (tether_dbus_connection1_get_delivered (connection), ==, 0);
	assert_nothing_arrives (aws, "dt/#");
	show = tether_test_env_ctl (aws->env, NULL, "identity", "show", NULL);
	g_assert_cmpint (show->status, ==, 0);
	g_assert_false (contains_nocase (show->out, "ready"));
}

static void
test_fleet_rejected_csr (void)
{
	g_auto (Aws) aws = { 0 };
	const char *last_error;

	aws_start (&aws);
	import_claim (&aws);
	start_responder (&aws, TRUE);
	observe (&aws, "dt/#");
	aws_add_connection (&aws, tether_test_broker_get_endpoint (aws.broker), "--anchor", ANCHOR,
	                    "--option", "provisioning-template=" TEMPLATE, "--option",
	                    "provisioning-parameters=SerialNumber=1234", NULL);
	publish_kind_ok (&aws, "telemetry", "{\"early\":true}");

	last_error =
	        wait_last_error (&aws, "CreateCertificateFromCsr was rejected", FAILURE_BOUND_MS);
	g_assert_nonnull (strstr (last_error, "InvalidCSR (400)"));
	g_assert_nonnull (strstr (last_error, "the claim certificate may not create certificates"));
	g_assert_nonnull (strstr (last_error, TEMPLATE));
	assert_not_provisioned (&aws);
}

static void
test_fleet_rejected_registration (void)
{
	g_auto (Aws) aws = { 0 };
	const char *last_error;

	aws_start (&aws);
	import_claim (&aws);
	start_responder (&aws, FALSE);
	observe (&aws, "dt/#");

	/* the template needs SerialNumber; this device gives another parameter */
	aws_add_connection (&aws, tether_test_broker_get_endpoint (aws.broker), "--anchor", ANCHOR,
	                    "--option", "provisioning-template=" TEMPLATE, "--option",
	                    "provisioning-parameters=Serial=1234", NULL);
	publish_kind_ok (&aws, "telemetry", "{\"early\":true}");

	last_error = wait_last_error (&aws, "RegisterThing was rejected", FAILURE_BOUND_MS);
	g_assert_nonnull (strstr (last_error, "InvalidParameters (400)"));
	g_assert_nonnull (strstr (last_error, "SerialNumber"));
	assert_not_provisioned (&aws);
}

/* without the claim identity, the error says how to import it */
static void
test_fleet_no_claim (void)
{
	g_auto (Aws) aws = { 0 };
	const TetherTestPki *pki;

	aws_start (&aws);
	pki = tether_test_env_get_pki (aws.env);
	tether_test_env_ctl_ok (aws.env, "anchor", "add", ANCHOR, pki->server_ca_cert, NULL);
	aws_add_connection (&aws, tether_test_broker_get_endpoint (aws.broker), "--anchor", ANCHOR,
	                    "--option", "provisioning-template=" TEMPLATE, NULL);
	wait_last_error (&aws, "identity import --identity claim", FAILURE_BOUND_MS);
}

/* ---- Device Shadow ---- */

/* the update as the shadow service gets it: the reported state and our clientToken */
static char *
take_update (Aws *aws, const char *topic, const char *reported)
{
	g_autoptr (GBytes) got = tether_test_observer_wait (aws->observer, topic,
	                                                    TETHER_TEST_TIMEOUT_MS, NULL);
	g_autoptr (JsonObject) update = NULL;
	g_autoptr (JsonObject) expected = NULL;
	g_autoptr (GBytes) reported_bytes = g_bytes_new (reported, strlen (reported));
	g_autoptr (JsonNode) expected_node = NULL;
	JsonObject *state;

	g_assert_nonnull (got);
	update = parse_object (got);
	state = json_object_get_object_member (update, "state");
	g_assert_nonnull (state);
	expected = parse_object (reported_bytes);
	expected_node = json_node_init_object (json_node_alloc (), expected);
	g_assert_true (json_node_equal (json_object_get_member (state, "reported"), expected_node));
	return g_strdup (json_object_get_string_member (update, "clientToken"));
}

static void
test_shadow_accepted_rejected (void)
{
	g_auto (Aws) aws = { 0 };
	g_auto (Results) results = { g_array_new (FALSE, TRUE, sizeof (Result)) };
	g_autofree char *token = NULL;
	g_autofree char *answer_text = NULL;
	Result *result;
	guint64 id;
	gint32 code = 0;
	gint64 version = 0;
	const char *message = NULL;
	const char *shadow = NULL;

	g_array_set_clear_func (results.results, result_clear);
	aws_connect (&aws, NULL);
	observe (&aws, SHADOW "/update");
	observe (&aws, SHADOW "/name/+/update");
	g_signal_connect (connection_proxy (&aws), "message-result", G_CALLBACK (on_message_result),
	                  &results);

	/* accepted */
	id = publish_dbus (&aws, "attributes", "{\"firmware\":\"1.2.3\"}", NULL);
	token = take_update (&aws, SHADOW "/update", "{\"firmware\":\"1.2.3\"}");
	answer_text = g_strdup_printf (
	        "{\"state\":{\"reported\":{\"firmware\":\"1.2.3\"}},\"metadata\":{},"
	        "\"version\":5,\"timestamp\":1700000000,\"clientToken\":\"%s\"}",
	        token);
	answer (&aws, SHADOW "/update/accepted", answer_text);
	result = wait_result (&results, id, "accepted");
	g_assert_true (g_variant_lookup (result->details, "status-code", "i", &code));
	g_assert_cmpint (code, ==, 200);
	g_assert_true (g_variant_lookup (result->details, "version", "x", &version));
	g_assert_cmpint (version, ==, 5);
	wait_result (&results, id, "delivered");

	/* an update someone else made is not taken for ours */
	answer (&aws, SHADOW "/update/accepted",
	        "{\"state\":{\"reported\":{\"x\":1}},\"version\":6,\"clientToken\":\"console\"}");

	/* rejected, on a named shadow */
	g_clear_pointer (&token, g_free);
	g_clear_pointer (&answer_text, g_free);
	id = publish_dbus (&aws, "attributes", "{\"mode\":\"eco\"}",
	                   g_variant_new_parsed ("{'shadow': <'config'>}"));
	token = take_update (&aws, SHADOW "/name/config/update", "{\"mode\":\"eco\"}");
	answer_text = g_strdup_printf ("{\"code\":409,\"message\":\"Version conflict\","
	                               "\"timestamp\":1700000001,\"clientToken\":\"%s\"}",
	                               token);
	answer (&aws, SHADOW "/name/config/update/rejected", answer_text);
	result = wait_result (&results, id, "rejected");
	g_assert_true (g_variant_lookup (result->details, "status-code", "i", &code));
	g_assert_cmpint (code, ==, 409);
	g_assert_true (g_variant_lookup (result->details, "message", "&s", &message));
	g_assert_cmpstr (message, ==, "Version conflict");
	g_assert_true (g_variant_lookup (result->details, "shadow", "&s", &shadow));
	g_assert_cmpstr (shadow, ==, "config");

	/* one result of each kind a message, and none for the console's update */
	for (guint i = 0; i < results.results->len; i++) {
		Result *r = &g_array_index (results.results, Result, i);

		g_printerr ("# MessageResult %" G_GUINT64_FORMAT " %s\n", r->id, r->status);
	}
	g_assert_cmpuint (results.results->len, ==, 4);
}

/* a delta arrives as desired-properties; a subscribed topic as message */
static void
test_shadow_delta_and_subscriptions (void)
{
	g_auto (Aws) aws = { 0 };
	g_auto (Received) received = { 0 };
	const char *delta = "{\"version\":7,\"timestamp\":1700000002,\"state\":{\"led\":\"on\"},"
	                    "\"metadata\":{\"led\":{\"timestamp\":1700000002}}}";
	const char *missed = "{\"version\":3,\"state\":{\"led\":\"on\"}}";
	g_autoptr (GBytes) got = NULL;
	gint64 version = 0;
	GVariant *properties;

	aws_start (&aws);
	aws_own_identity (&aws);
	observe (&aws, SHADOW "/get");
	aws_add_connection (&aws, tether_test_broker_get_endpoint (aws.broker), "--anchor", ANCHOR,
	                    "--option", "subscriptions=cmd/" THING "/#", NULL);
	tether_test_env_wait_state (aws.env, CONNECTION, "connected", CONNECT_TIMEOUT);
	g_signal_connect (connection_proxy (&aws), "received", G_CALLBACK (on_received), &received);

	/* on connecting, the device asks for its shadow: what changed while it was away */
	got = tether_test_observer_wait (aws.observer, SHADOW "/get", TETHER_TEST_TIMEOUT_MS, NULL);
	g_assert_nonnull (got);
	answer (&aws, SHADOW "/get/accepted",
	        "{\"state\":{\"desired\":{\"led\":\"on\"},\"reported\":{\"led\":\"off\"},"
	        "\"delta\":{\"led\":\"on\"}},\"metadata\":{},\"version\":3,"
	        "\"timestamp\":1700000001,\"clientToken\":\"tether-get\"}");
	g_assert_true (tether_test_wait_until (has_received, &received, TETHER_TEST_TIMEOUT_MS));
	g_assert_cmpstr (received.kind, ==, "desired-properties");
	g_assert_cmpstr (received.topic, ==, SHADOW "/get/accepted");
	assert_payload (received.payload, missed, strlen (missed));
	g_assert_true (g_variant_lookup (received.details, "version", "x", &version));
	g_assert_cmpint (version, ==, 3);

	/* a change while it is connected */
	received_clear (&received);
	received.count = 0;
	answer (&aws, SHADOW "/update/delta", delta);
	g_assert_true (tether_test_wait_until (has_received, &received, TETHER_TEST_TIMEOUT_MS));
	g_assert_cmpstr (received.kind, ==, "desired-properties");
	g_assert_cmpstr (received.topic, ==, SHADOW "/update/delta");
	assert_payload (received.payload, delta, strlen (delta));
	g_assert_true (g_variant_lookup (received.details, "version", "x", &version));
	g_assert_cmpint (version, ==, 7);

	received_clear (&received);
	received.count = 0;
	answer (&aws, "cmd/" THING "/reboot", "now");
	g_assert_true (tether_test_wait_until (has_received, &received, TETHER_TEST_TIMEOUT_MS));
	g_assert_cmpstr (received.kind, ==, "message");
	g_assert_cmpstr (received.topic, ==, "cmd/" THING "/reboot");
	assert_payload (received.payload, "now", 3);
	properties = g_variant_lookup_value (received.details, "properties", NULL);
	g_assert_nonnull (properties);
	g_assert_cmpstr (g_variant_get_type_string (properties), ==, "a{ss}");
	g_variant_unref (properties);
}

/* what a subscribed topic received, by topic */
typedef struct {
	Received *received;
	const char *topic;
} ReceivedOn;

static gboolean
has_received_on (gpointer user_data)
{
	ReceivedOn *on = user_data;

	return on->received->count > 0 && g_strcmp0 (on->received->topic, on->topic) == 0;
}

static void
set_enabled (Aws *aws, gboolean enabled)
{
	tether_test_env_ctl_ok (aws->env, "connection", enabled ? "enable" : "disable", CONNECTION,
	                        NULL);
	tether_test_env_wait_state (aws->env, CONNECTION, enabled ? "connected" : "disconnected",
	                            CONNECT_TIMEOUT);
}

/*
 * a persistent session by default: what the broker kept for the thing while
 * it was away arrives when it is back; with clean-session=true it is gone
 */
static void
test_session_persistent (void)
{
	g_auto (Aws) aws = { 0 };
	g_auto (Received) received = { 0 };
	ReceivedOn kept = { &received, "cmd/" THING "/while-away" };
	ReceivedOn lost = { &received, "cmd/" THING "/while-away-clean" };

	aws_start (&aws);
	aws_own_identity (&aws);
	aws_add_connection (&aws, tether_test_broker_get_endpoint (aws.broker), "--anchor", ANCHOR,
	                    "--option", "subscriptions=cmd/" THING "/#", NULL);
	tether_test_env_wait_state (aws.env, CONNECTION, "connected", CONNECT_TIMEOUT);
	g_signal_connect (connection_proxy (&aws), "received", G_CALLBACK (on_received), &received);

	set_enabled (&aws, FALSE);
	answer (&aws, kept.topic, "kept for you");
	set_enabled (&aws, TRUE);
	g_assert_true (tether_test_wait_until (has_received_on, &kept, TETHER_TEST_TIMEOUT_MS));
	g_assert_cmpstr (received.kind, ==, "message");
	assert_payload (received.payload, "kept for you", strlen ("kept for you"));

	/* a clean session each time: nothing is kept */
	tether_test_env_ctl_ok (aws.env, "connection", "modify", CONNECTION, "--option",
	                        "clean-session=true", NULL);
	tether_test_env_wait_state (aws.env, CONNECTION, "connected", CONNECT_TIMEOUT);
	set_enabled (&aws, FALSE);
	answer (&aws, lost.topic, "gone");
	set_enabled (&aws, TRUE);
	g_assert_false (tether_test_wait_until (has_received_on, &lost, SILENCE_MS));

	/* and the subscriptions are made again on the clean session */
	answer (&aws, "cmd/" THING "/after", "live");
	g_assert_true (tether_test_wait_until (has_received_on,
	                                       &(ReceivedOn){ &received, "cmd/" THING "/after" },
	                                       TETHER_TEST_TIMEOUT_MS));
}

/* ---- every rule: refused at once, never queued; the next valid message goes ---- */

static void
assert_rule_refused (Aws *aws, GBytes *input, const char *const *args, const char *needle,
                     guint serial)
{
	TetherDBusConnection1 *connection = connection_proxy (aws);
	g_autoptr (TetherTestCtlResult) result = tether_test_env_ctlv (aws->env, input, args);
	g_autofree char *valid = g_strdup_printf ("{\"after-refusal\":%u}", serial);

	assert_refused (result, needle);
	g_assert_cmpuint (tether_dbus_connection1_get_queued (connection), ==, 0);
	publish_kind_ok (aws, "telemetry", valid);
	assert_arrives (aws, TELEMETRY_TOPIC, valid);
}

static void
test_rules_refused (void)
{
	g_auto (Aws) aws = { 0 };
	g_autofree char *big = g_malloc (128 * 1024 + 1);
	g_autofree char *fill = NULL;
	g_autofree char *long_topic = NULL;
	g_autofree char *longest_topic = NULL;
	g_autoptr (GBytes) too_big = NULL;
	g_autoptr (GBytes) biggest = NULL;
	g_autoptr (GBytes) got = NULL;
	g_autoptr (TetherTestCtlResult) result = NULL;
	const char *prefix = "dt/" THING "/";
	guint serial = 0;

	aws_connect (&aws, NULL);
	observe (&aws, "#");
	observe (&aws, "$aws/#");

	/* a payload of 128 KiB + 1 byte */
	memset (big, 'x', 128 * 1024 + 1);
	too_big = g_bytes_new (big, 128 * 1024 + 1);
	{
		const char *const args[] = { "publish", "--connection", CONNECTION,
			                     "--kind",  "telemetry",    "-",
			                     NULL };
		assert_rule_refused (&aws, too_big, args, "128 KiB", serial++);
	}

	/* wildcards, 9 levels, 257 bytes, empty, a reserved $ topic */
	fill = g_strnfill (257 - strlen (prefix), 'a');
	long_topic = g_strconcat (prefix, fill, NULL);
	g_assert_cmpuint (strlen (long_topic), ==, 257);
	{
		const char *const topics[][2] = {
			{ "dt/" THING "/+/x", "wildcard" },
			{ "dt/" THING "/#", "wildcard" },
			{ "dt/" THING "/3/4/5/6/7/8/9", "9 levels" },
			{ long_topic, "256 bytes" },
			{ "", "empty" },
			{ SHADOW "/update", "'$'" },
		};

		for (guint i = 0; i < G_N_ELEMENTS (topics); i++) {
			const char *const args[] = { "publish", "--connection", CONNECTION,
				                     "--topic", topics[i][0],   "{}",
				                     NULL };
			assert_rule_refused (&aws, NULL, args, topics[i][1], serial++);
		}
	}

	/* none of them reached the broker */
	got = tether_test_observer_wait (aws.observer, "dt/" THING "/+/x", SILENCE_MS, NULL);
	g_assert_null (got);

	/* the limits themselves are allowed: 8 levels, 256 bytes, 128 KiB */
	publish_topic_ok (&aws, "dt/" THING "/3/4/5/6/7/8", "{\"levels\":8}");
	assert_arrives (&aws, "dt/" THING "/3/4/5/6/7/8", "{\"levels\":8}");
	longest_topic = g_strndup (long_topic, 256);
	publish_topic_ok (&aws, longest_topic, "{\"bytes\":256}");
	assert_arrives (&aws, longest_topic, "{\"bytes\":256}");
	biggest = g_bytes_new (big, 128 * 1024);
	{
		const char *const args[] = { "publish", "--connection", CONNECTION,
			                     "--kind",  "telemetry",    "-",
			                     NULL };
		result = tether_test_env_ctlv (aws.env, biggest, args);
	}
	g_assert_cmpint (result->status, ==, 0);
	g_clear_pointer (&got, g_bytes_unref);
	got = tether_test_observer_wait (aws.observer, TELEMETRY_TOPIC, TETHER_TEST_TIMEOUT_MS,
	                                 NULL);
	assert_payload (got, big, 128 * 1024);

	/* only the valid ones were ever queued: one after each refusal, and the three limits */
	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (connection_proxy (&aws)),
	                                          "Delivered", g_variant_new_uint64 (serial + 3),
	                                          TETHER_TEST_TIMEOUT_MS));
	tether_test_iterate (SILENCE_MS);
	g_assert_cmpuint (tether_dbus_connection1_get_delivered (connection_proxy (&aws)), ==,
	                  serial + 3);
	g_assert_cmpuint (tether_dbus_connection1_get_dropped (connection_proxy (&aws)), ==, 0);
}

/*
 * client id and keep-alive rules: a value AWS IoT Core refuses is refused by
 * connection add and modify, with the rule, and nothing changes
 */
static void
test_rules_session (void)
{
	g_auto (Aws) aws = { 0 };
	g_autofree char *long_id = g_strnfill (129, 'c');
	g_autofree char *config_path = NULL;
	g_autofree char *before = NULL;
	g_autofree char *after = NULL;
	const char *const cases[][3] = {
		{ "--client-id", long_id, "client id is 129 bytes long" },
		{ "--client-id", "$sys", "starts with '$'" },
		{ "--keepalive", "20", "30 to 1200" },
		{ "--keepalive", "1201", "30 to 1200" },
	};
	TetherDBusConnection1 *connection;

	aws_connect (&aws, NULL);
	observe (&aws, TELEMETRY_TOPIC);
	connection = connection_proxy (&aws);
	config_path = tether_test_env_path (aws.env, "tether.conf");
	g_assert_true (g_file_get_contents (config_path, &before, NULL, NULL));

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr (TetherTestCtlResult) modify = NULL;
		g_autoptr (TetherTestCtlResult) add = NULL;

		modify = tether_test_env_ctl (aws.env, NULL, "connection", "modify", CONNECTION,
		                              cases[i][0], cases[i][1], NULL);
		assert_refused (modify, cases[i][2]);
		add = tether_test_env_ctl (aws.env, NULL, "connection", "add", "second", "--cloud",
		                           "aws-iot", "--endpoint",
		                           tether_test_broker_get_endpoint (aws.broker),
		                           cases[i][0], cases[i][1], NULL);
		assert_refused (add, cases[i][2]);
	}

	/* nothing was written, and the connection stayed up */
	g_assert_true (g_file_get_contents (config_path, &after, NULL, NULL));
	g_assert_cmpstr (after, ==, before);
	g_assert_cmpstr (tether_dbus_connection1_get_client_id (connection), ==, THING);
	g_assert_cmpstr (tether_dbus_connection1_get_state (connection), ==, "connected");
	publish_kind_ok (&aws, "telemetry", "{\"after\":\"refusals\"}");
	assert_arrives (&aws, TELEMETRY_TOPIC, "{\"after\":\"refusals\"}");

	/* the limits themselves are taken: connected again with them */
	tether_test_env_ctl_ok (aws.env, "connection", "modify", CONNECTION, "--keepalive", "1200",
	                        "--client-id", long_id + 1, NULL);
	tether_test_env_wait_state (aws.env, CONNECTION, "connected", CONNECT_TIMEOUT);
	tether_test_env_ctl_ok (aws.env, "connection", "modify", CONNECTION, "--keepalive", "30",
	                        "--client-id", THING, NULL);
	tether_test_env_wait_state (aws.env, CONNECTION, "connected", CONNECT_TIMEOUT);
}

/* ---- trust ---- */

/* a server whose chain ends at a VeriSign root: the error names it and the ATS endpoint */
static void
test_trust_legacy_endpoint (void)
{
	g_auto (Aws) aws = { 0 };
	g_autofree char *acl = NULL;
	g_autofree char *cert_path = NULL;
	g_autofree char *key_path = NULL;
	g_autoptr (TetherTestCert) root = NULL;
	g_autoptr (TetherTestCert) server = NULL;
	g_autoptr (GError) error = NULL;
	g_autoptr (TetherTestCtlResult) anchors = NULL;
	const char *verisign = "VeriSign Class 3 Public Primary Certification Authority - G5";
	const char *const dns[] = { "localhost", NULL };
	TetherTestCertSpec root_spec = { .kind = TETHER_TEST_CERT_CA, .common_name = verisign };
	TetherTestCertSpec server_spec = {
		.kind = TETHER_TEST_CERT_SERVER,
		.common_name = "localhost",
		.dns_names = dns,
	};
	TetherTestBrokerOptions options = { .name = "legacy" };
	TetherTestBroker *legacy;
	const char *last_error;

	aws_start (&aws);
	aws_own_identity (&aws);
	root = tether_test_cert_new (&root_spec, NULL, &error);
	g_assert_no_error (error);
	server = tether_test_cert_new (&server_spec, root, &error);
	g_assert_no_error (error);
	cert_path = tether_test_env_pki_file (aws.env, "legacy.pem");
	key_path = tether_test_env_pki_file (aws.env, "legacy.key");
	tether_test_cert_write (server, cert_path, TRUE, key_path, &error);
	g_assert_no_error (error);
	g_file_get_contents (AWS_POLICY_ACL, &acl, NULL, &error);
	g_assert_no_error (error);
	options.acl = acl;
	options.server_cert = cert_path;
	options.server_key = key_path;
	legacy = tether_test_env_start_broker (aws.env, &options);

	/* the bundled Amazon roots, named by no --anchor */
	anchors = tether_test_env_ctl (aws.env, NULL, "anchor", "list", NULL);
	g_assert_cmpint (anchors->status, ==, 0);
	g_assert_nonnull (strstr (anchors->out, "aws-iot.amazon-root-ca-1"));
	g_assert_nonnull (strstr (anchors->out, "aws-iot.amazon-root-ca-3"));
	aws_add_connection (&aws, tether_test_broker_get_endpoint (legacy), NULL);

	tether_test_env_wait_state (aws.env, CONNECTION, "failed", FAILURE_BOUND_MS);
	last_error = wait_last_error (&aws, "VeriSign", FAILURE_BOUND_MS);
	g_assert_nonnull (strstr (last_error, "aws-iot.amazon-root-ca-1"));
	g_assert_nonnull (strstr (last_error, "legacy AWS IoT endpoint"));
	g_assert_nonnull (strstr (last_error, "iot:Data-ATS"));
}

/* tetherctl shows the cloud's options with their types */
static void
test_clouds_show (void)
{
	g_auto (Aws) aws = { 0 };
	g_autoptr (TetherTestCtlResult) result = NULL;
	const char *const options[] = { "thing-name",
		                        "telemetry-topic",
		                        "event-topic",
		                        "subscriptions",
		                        "clean-session",
		                        "alpn",
		                        "provisioning-template",
		                        "provisioning-parameters",
		                        "claim-identity" };

	aws_start (&aws);
	result = tether_test_env_ctl (aws.env, NULL, "clouds", "show", "aws-iot", NULL);
	g_assert_cmpint (result->status, ==, 0);
	g_printerr ("# %s", result->out);
	for (guint i = 0; i < G_N_ELEMENTS (options); i++)
		g_assert_nonnull (strstr (result->out, options[i]));
	g_assert_nonnull (strstr (result->out, "a{ss}"));
	g_assert_nonnull (strstr (result->out, "aws-iot.amazon-root-ca-1"));
	g_assert_nonnull (strstr (result->out, "kinds: telemetry, event, attributes, raw\n"));
}

int
main (int argc, char **argv)
{
	tether_test_init (&argc, &argv);

	tether_test_add ("/aws/flow/telemetry", test_flow_telemetry);
	tether_test_add ("/aws/policy/denied-publish", test_policy_denied_publish);
	tether_test_add ("/aws/alpn/front", test_alpn_front);
	tether_test_add ("/aws/alpn/refused", test_alpn_refused);
	tether_test_add ("/aws/fleet/provisioning", test_fleet_provisioning);
	tether_test_add ("/aws/fleet/rejected-csr", test_fleet_rejected_csr);
	tether_test_add ("/aws/fleet/rejected-registration", test_fleet_rejected_registration);
	tether_test_add ("/aws/fleet/no-claim", test_fleet_no_claim);
	tether_test_add ("/aws/shadow/accepted-rejected", test_shadow_accepted_rejected);
	tether_test_add ("/aws/shadow/delta-and-subscriptions",
	                 test_shadow_delta_and_subscriptions);
	tether_test_add ("/aws/session/persistent", test_session_persistent);
	tether_test_add ("/aws/rules/refused", test_rules_refused);
	tether_test_add ("/aws/rules/session", test_rules_session);
	tether_test_add ("/aws/trust/legacy-endpoint", test_trust_legacy_endpoint);
	tether_test_add ("/aws/clouds/show", test_clouds_show);
	return g_test_run ();
}
