/*
 * Tests of the integration test harness itself: the test PKI, mosquitto with
 * mutual TLS and the ThingsBoard ACL, the observer, and the temporary
 * directory. They need no tetherd.
 */
#include "tether-test-env.h"

#include <glib/gstdio.h>
#include <string.h>

#define DEVICE_CN "harness-device"

static TetherTestBroker *
start_thingsboard_broker (TetherTestEnv *env)
{
	g_autofree char *acl = tether_test_acl_thingsboard (DEVICE_CN);
	TetherTestBrokerOptions options = { .acl = acl };

	return tether_test_env_start_broker (env, &options);
}

static TetherTestObserver *
connect_device (TetherTestEnv *env, TetherTestBroker *broker)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *cert = NULL;
	g_autofree char *key = NULL;
	TetherTestObserver *device;

	tether_test_env_make_client_cert (env, "device", DEVICE_CN);
	cert = g_build_filename (tether_test_env_get_dir (env), "pki", "device.pem", NULL);
	key = g_build_filename (tether_test_env_get_dir (env), "pki", "device.key", NULL);
	device = tether_test_observer_new (broker, cert, key, &error);
	g_assert_no_error (error);
	return device;
}

static void
assert_bytes_equal (GBytes *got, const void *data, gsize size)
{
	gsize got_size = 0;
	const guint8 *got_data = g_bytes_get_data (got, &got_size);

	g_assert_cmpmem (got_data, got_size, data, size);
}

/* the observer's own message comes back through mosquitto byte for byte */
static void
test_observer_round_trip (void)
{
	g_autoptr (TetherTestEnv) env = tether_test_env_new ();
	TetherTestBroker *broker = start_thingsboard_broker (env);
	g_autoptr (TetherTestObserver) observer = tether_test_env_observe (env, broker);
	g_autoptr (GError) error = NULL;
	const guint8 data[] = { '{', '"', 'a', '"', ':', '"', 0xc3, 0xa9, '"', '}', 0x00, 0x01 };
	g_autoptr (GBytes) payload = g_bytes_new_static (data, sizeof data);
	g_autoptr (GBytes) got = NULL;
	g_autofree char *topic = NULL;

	tether_test_observer_subscribe (observer, "harness/#", &error);
	g_assert_no_error (error);
	tether_test_observer_publish (observer, "harness/one", payload, &error);
	g_assert_no_error (error);

	got = tether_test_observer_wait (observer, "harness/+", TETHER_TEST_TIMEOUT_MS, &topic);
	g_assert_nonnull (got);
	g_assert_cmpstr (topic, ==, "harness/one");
	assert_bytes_equal (got, data, sizeof data);
}

/* the device may use ThingsBoard's topics and nothing else */
static void
test_thingsboard_acl (void)
{
	g_autoptr (TetherTestEnv) env = tether_test_env_new ();
	TetherTestBroker *broker = start_thingsboard_broker (env);
	g_autoptr (TetherTestObserver) observer = tether_test_env_observe (env, broker);
	g_autoptr (TetherTestObserver) device = connect_device (env, broker);
	g_autoptr (GError) error = NULL;
	g_autoptr (GBytes) telemetry = g_bytes_new_static ("{\"t\":1}", 7);
	g_autoptr (GBytes) request = g_bytes_new_static ("{\"method\":\"m\"}", 14);
	g_autoptr (GBytes) got = NULL;
	g_autofree char *topic = NULL;

	tether_test_observer_subscribe (observer, "#", &error);
	g_assert_no_error (error);

	/* allowed: telemetry arrives */
	tether_test_observer_publish (device, "v1/devices/me/telemetry", telemetry, &error);
	g_assert_no_error (error);
	got = tether_test_observer_wait (observer, "v1/devices/me/telemetry",
	                                 TETHER_TEST_TIMEOUT_MS, NULL);
	g_assert_nonnull (got);
	assert_bytes_equal (got, "{\"t\":1}", 7);
	g_clear_pointer (&got, g_bytes_unref);

	/* denied: mosquitto acknowledges the publish and drops it */
	tether_test_observer_publish (device, "v1/devices/other/telemetry", telemetry, &error);
	g_assert_no_error (error);
	got = tether_test_observer_wait (observer, "v1/devices/other/telemetry", 1000, NULL);
	g_assert_null (got);

	/* the device may subscribe to RPC requests and receives them */
	tether_test_observer_subscribe (device, "v1/devices/me/rpc/request/+", &error);
	g_assert_no_error (error);
	tether_test_observer_publish (observer, "v1/devices/me/rpc/request/7", request, &error);
	g_assert_no_error (error);
	got = tether_test_observer_wait (device, "v1/devices/me/rpc/request/+",
	                                 TETHER_TEST_TIMEOUT_MS, &topic);
	g_assert_nonnull (got);
	g_assert_cmpstr (topic, ==, "v1/devices/me/rpc/request/7");
	g_clear_pointer (&got, g_bytes_unref);

	/* mosquitto grants any subscription but delivers only what the device may read */
	tether_test_observer_subscribe (device, "#", &error);
	g_assert_no_error (error);
	tether_test_observer_publish (observer, "v1/devices/other/rpc/request/8", request, &error);
	g_assert_no_error (error);
	got = tether_test_observer_wait (device, "v1/devices/other/#", 1000, NULL);
	g_assert_null (got);
}

/* mutual TLS: no client certificate, or one from an unknown CA, is refused */
static void
test_mutual_tls (void)
{
	g_autoptr (TetherTestEnv) env = tether_test_env_new ();
	TetherTestBroker *broker = start_thingsboard_broker (env);
	const TetherTestPki *pki = tether_test_env_get_pki (env);
	g_autoptr (GError) error = NULL;
	g_autoptr (TetherTestObserver) anonymous = NULL;
	g_autoptr (TetherTestObserver) stranger = NULL;

	anonymous = tether_test_observer_new (broker, NULL, NULL, &error);
	g_assert_null (anonymous);
	g_assert_nonnull (error);
	g_clear_error (&error);

	/* the server certificate's key is valid, but its CA does not issue clients */
	stranger = tether_test_observer_new (broker, pki->server_cert, pki->server_key, &error);
	g_assert_null (stranger);
	g_assert_nonnull (error);
}

/* the broker can be stopped, killed and started again on the same port */
static void
test_broker_restart (void)
{
	g_autoptr (TetherTestEnv) env = tether_test_env_new ();
	TetherTestBroker *broker = start_thingsboard_broker (env);
	guint16 port = tether_test_broker_get_port (broker);
	g_autoptr (GError) error = NULL;
	g_autoptr (GBytes) payload = g_bytes_new_static ("x", 1);
	g_autofree char *endpoint = NULL;

	tether_test_broker_restart (broker);
	g_assert_cmpuint (tether_test_broker_get_port (broker), ==, port);
	tether_test_broker_kill (broker);
	tether_test_broker_start (broker);

	{
		g_autoptr (TetherTestObserver) observer = tether_test_env_observe (env, broker);
		g_autoptr (GBytes) got = NULL;

		tether_test_observer_subscribe (observer, "harness/restart", &error);
		g_assert_no_error (error);
		tether_test_observer_publish (observer, "harness/restart", payload, &error);
		g_assert_no_error (error);
		got = tether_test_observer_wait (observer, "harness/restart",
		                                 TETHER_TEST_TIMEOUT_MS, NULL);
		g_assert_nonnull (got);
	}
	endpoint = g_strdup_printf ("localhost:%u", port);
	g_assert_cmpstr (tether_test_broker_get_endpoint (broker), ==, endpoint);
}

static void
test_topic_matches (void)
{
	g_assert_true (tether_test_topic_matches ("a/b", "a/b"));
	g_assert_true (tether_test_topic_matches ("a/+", "a/b"));
	g_assert_true (tether_test_topic_matches ("a/#", "a/b/c"));
	g_assert_true (tether_test_topic_matches ("a/#", "a"));
	g_assert_true (tether_test_topic_matches ("#", "a/b"));
	g_assert_true (tether_test_topic_matches ("+/+", "a/b"));
	g_assert_false (tether_test_topic_matches ("a/+", "a/b/c"));
	g_assert_false (tether_test_topic_matches ("a/b", "a/c"));
	g_assert_false (tether_test_topic_matches ("#", "$SYS/x"));
	g_assert_false (tether_test_topic_matches ("+/x", "$SYS/x"));
}

static void
test_ports (void)
{
	guint16 a = tether_test_pick_port ();
	guint16 b = tether_test_pick_port ();

	g_assert_cmpuint (a, !=, 0);
	g_assert_cmpuint (b, !=, 0);
	g_assert_cmpuint (a, !=, b);
}

/* a test case gets its own directory from the parent process */
static void
test_directory (void)
{
	g_autoptr (TetherTestEnv) env = tether_test_env_new ();
	const TetherTestPki *pki = tether_test_env_get_pki (env);
	GStatBuf st;

	g_assert_cmpstr (tether_test_env_get_dir (env), ==, g_getenv ("TETHER_TEST_DIR"));
	g_assert_true (g_file_test (pki->device_ca_cert, G_FILE_TEST_IS_REGULAR));
	g_assert_cmpint (g_stat (pki->observer_key, &st), ==, 0);
	g_assert_cmpint (st.st_mode & 0777, ==, 0600);
}

int
main (int argc, char **argv)
{
	tether_test_init (&argc, &argv);

	tether_test_add ("/harness/directory", test_directory);
	tether_test_add ("/harness/ports", test_ports);
	tether_test_add ("/harness/topic-matches", test_topic_matches);
	tether_test_add ("/harness/broker/observer-round-trip", test_observer_round_trip);
	tether_test_add ("/harness/broker/thingsboard-acl", test_thingsboard_acl);
	tether_test_add ("/harness/broker/mutual-tls", test_mutual_tls);
	tether_test_add ("/harness/broker/restart", test_broker_restart);
	return g_test_run ();
}
