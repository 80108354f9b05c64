/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * Connection1.PublishBatch, against the real tetherd and mosquitto with
 * mutual TLS: a batch gets consecutive ids and arrives in their order, even
 * with other batches in flight; an accepted batch survives a SIGKILL of
 * tetherd; a batch with one bad message is refused whole, naming that
 * message's index, and nothing of it is queued or sent.
 */

#include "tether-test-env.h"

#include <string.h>

#define DEVICE_CN       "tb-device"
#define CONNECTION      "tb"
#define ANCHOR          "server-ca"
#define TELEMETRY_TOPIC "v1/devices/me/telemetry"

typedef struct {
	TetherTestEnv *env;
	TetherTestBroker *broker;
} Batch;

static void
batch_clear (Batch *b)
{
	g_clear_pointer (&b->env, tether_test_env_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Batch, batch_clear)

/* a broker, tetherd, the device's identity, the server's CA and the connection */
static void
batch_start (Batch *b, gboolean broker_up)
{
	g_autofree char *acl = tether_test_acl_thingsboard (DEVICE_CN);
	TetherTestBrokerOptions options = { .acl = acl };
	const TetherTestPki *pki;
	g_autofree char *csr = NULL;
	g_autofree char *cert = NULL;

	b->env = tether_test_env_new ();
	b->broker = tether_test_env_start_broker (b->env, &options);
	if (!broker_up)
		tether_test_broker_stop (b->broker);
	tether_test_env_start_daemon (b->env);

	pki = tether_test_env_get_pki (b->env);
	csr = tether_test_env_path (b->env, "device.csr");
	cert = tether_test_env_path (b->env, "device.pem");
	tether_test_env_ctl_ok (b->env, "identity", "request", "--common-name", DEVICE_CN, "--out",
	                        csr, NULL);
	tether_test_env_sign_csr (b->env, csr, cert);
	tether_test_env_ctl_ok (b->env, "identity", "install", cert, NULL);
	tether_test_env_ctl_ok (b->env, "anchor", "add", ANCHOR, pki->server_ca_cert, NULL);
	tether_test_env_ctl_ok (b->env, "connection", "add", CONNECTION, "--cloud", "thingsboard",
	                        "--endpoint", tether_test_broker_get_endpoint (b->broker),
	                        "--anchor", ANCHOR, NULL);
}

static TetherDBusConnection1 *
connection_proxy (Batch *b)
{
	return tether_test_env_get_connection (b->env, CONNECTION);
}

static guint64
get_queued (Batch *b)
{
	g_autoptr(GError) error = NULL;
	GDBusProxy *proxy = G_DBUS_PROXY (connection_proxy (b));
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync (
	        g_dbus_proxy_get_connection (proxy), g_dbus_proxy_get_name (proxy),
	        g_dbus_proxy_get_object_path (proxy), "org.freedesktop.DBus.Properties", "Get",
	        g_variant_new ("(ss)", g_dbus_proxy_get_interface_name (proxy), "Queued"),
	        G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
	g_autoptr(GVariant) value = NULL;

	g_assert_no_error (error);
	g_variant_get (reply, "(v)", &value);
	return g_variant_get_uint64 (value);
}

/* telemetry that carries its sequence number */
static GVariant *
numbered (guint seq)
{
	g_autofree char *text = g_strdup_printf ("{\"seq\":%u}", seq);

	return g_variant_new (
	        "(s@ay@a{sv})", "telemetry",
	        g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, text, strlen (text), 1),
	        g_variant_new ("a{sv}", NULL));
}

/* messages @first .. @first + @n - 1, and optionally one bad one in place of @bad_index */
static GVariant *
make_batch (guint first, guint n, guint bad_index, GVariant *bad)
{
	GVariantBuilder builder;

	g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(saya{sv})"));
	for (guint i = 0; i < n; i++)
		g_variant_builder_add_value (
		        &builder, i == bad_index && bad != NULL ? bad : numbered (first + i));
	return g_variant_builder_end (&builder);
}

static GArray *
publish_batch (Batch *b, GVariant *messages, GError **error)
{
	g_autoptr(GVariant) ids = NULL;
	GArray *result;
	gsize n = 0;
	const guint64 *data;

	if (!tether_dbus_connection1_call_publish_batch_sync (connection_proxy (b), messages,
	                                                      G_DBUS_CALL_FLAGS_NONE, 10000, &ids,
	                                                      NULL, error))
		return NULL;
	data = g_variant_get_fixed_array (ids, &n, sizeof (guint64));
	result = g_array_sized_new (FALSE, FALSE, sizeof (guint64), (guint) n);
	g_array_append_vals (result, data, (guint) n);
	return result;
}

/* every id one more than the one before */
static void
assert_consecutive (GArray *ids, guint n)
{
	g_assert_cmpuint (ids->len, ==, n);
	for (guint i = 1; i < ids->len; i++)
		g_assert_cmpuint (g_array_index (ids, guint64, i), ==,
		                  g_array_index (ids, guint64, i - 1) + 1);
}

/* the sequence number in the next telemetry the observer sees; G_MAXUINT when none comes */
static guint
next_seq (TetherTestObserver *observer, guint timeout_ms)
{
	g_autoptr(GBytes) payload =
	                   tether_test_observer_wait (observer, TELEMETRY_TOPIC, timeout_ms, NULL);
	g_autofree char *text = NULL;
	const char *seq;

	if (payload == NULL)
		return G_MAXUINT;
	text = g_strndup (g_bytes_get_data (payload, NULL), g_bytes_get_size (payload));
	seq = strstr (text, "\"seq\":");
	g_assert_nonnull (seq);
	return (guint) g_ascii_strtoull (seq + 6, NULL, 10);
}

/* the next @n telemetry messages are @first, @first + 1, ... in that order */
static void
assert_arrive_in_order (TetherTestObserver *observer, guint first, guint n)
{
	for (guint i = 0; i < n; i++)
		g_assert_cmpuint (next_seq (observer, TETHER_TEST_TIMEOUT_MS), ==, first + i);
}

/* ---- ordering ---- */

typedef struct {
	GArray *ids;
	GError *error;
} BatchCall;

static void
batch_call_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	BatchCall *call = user_data;
	g_autoptr(GVariant) ids = NULL;
	gsize n = 0;
	const guint64 *data;

	if (!tether_dbus_connection1_call_publish_batch_finish (TETHER_DBUS_CONNECTION1 (source),
	                                                        &ids, result, &call->error))
		return;
	data = g_variant_get_fixed_array (ids, &n, sizeof (guint64));
	call->ids = g_array_sized_new (FALSE, FALSE, sizeof (guint64), (guint) n);
	g_array_append_vals (call->ids, data, (guint) n);
}

static gboolean
calls_answered (gpointer user_data)
{
	BatchCall *calls = user_data;

	for (guint i = 0; i < 4; i++) {
		if (calls[i].ids == NULL && calls[i].error == NULL)
			return FALSE;
	}
	return TRUE;
}

#define ORDER_BATCH 100

static void
test_order (void)
{
	g_auto(Batch) b = { 0 };
	g_autoptr(TetherTestObserver) observer = NULL;
	g_autoptr(GArray) first = NULL;
	g_autoptr(GArray) second = NULL;
	g_autoptr(GError) error = NULL;
	BatchCall calls[4] = { { 0 } };
	guint order[4] = { 0, 1, 2, 3 };

	batch_start (&b, TRUE);
	observer = tether_test_env_observe (b.env, b.broker);
	g_assert_true (tether_test_observer_subscribe (observer, TELEMETRY_TOPIC, &error));
	g_assert_no_error (error);
	tether_test_env_wait_state (b.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);

	/* one batch, then the next: consecutive ids that go on where the last ended */
	first = publish_batch (&b, make_batch (0, ORDER_BATCH, G_MAXUINT, NULL), &error);
	g_assert_no_error (error);
	assert_consecutive (first, ORDER_BATCH);
	second = publish_batch (&b, make_batch (ORDER_BATCH, ORDER_BATCH, G_MAXUINT, NULL), &error);
	g_assert_no_error (error);
	assert_consecutive (second, ORDER_BATCH);
	g_assert_cmpuint (g_array_index (second, guint64, 0), ==,
	                  g_array_index (first, guint64, ORDER_BATCH - 1) + 1);
	assert_arrive_in_order (observer, 0, 2 * ORDER_BATCH);

	/* four batches in flight at once: each keeps its ids together and arrives in their order */
	for (guint i = 0; i < 4; i++) {
		tether_dbus_connection1_call_publish_batch (
		        connection_proxy (&b),
		        make_batch ((2 + i) * ORDER_BATCH, ORDER_BATCH, G_MAXUINT, NULL),
		        G_DBUS_CALL_FLAGS_NONE, 10000, NULL, batch_call_cb, &calls[i]);
	}
	g_assert_true (tether_test_wait_until (calls_answered, calls, TETHER_TEST_TIMEOUT_MS));
	for (guint i = 0; i < 4; i++) {
		g_assert_no_error (calls[i].error);
		assert_consecutive (calls[i].ids, ORDER_BATCH);
	}

	/* the batches by their first id: the broker sees them in that order */
	for (guint i = 0; i < 4; i++) {
		for (guint j = i + 1; j < 4; j++) {
			if (g_array_index (calls[order[j]].ids, guint64, 0) <
			    g_array_index (calls[order[i]].ids, guint64, 0)) {
				guint swap = order[i];
				order[i] = order[j];
				order[j] = swap;
			}
		}
	}
	for (guint i = 0; i < 4; i++)
		assert_arrive_in_order (observer, (2 + order[i]) * ORDER_BATCH, ORDER_BATCH);
	for (guint i = 0; i < 4; i++)
		g_array_unref (calls[i].ids);
}

/* ---- durability ---- */

#define DURABLE_MESSAGES 300

static void
test_survives_kill (void)
{
	g_auto(Batch) b = { 0 };
	g_autoptr(TetherTestObserver) observer = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) ids = NULL;
	g_autoptr(GArray) more = NULL;

	/* the broker is down: accepted means on disk, not sent */
	batch_start (&b, FALSE);
	ids = publish_batch (&b, make_batch (0, DURABLE_MESSAGES, G_MAXUINT, NULL), &error);
	g_assert_no_error (error);
	assert_consecutive (ids, DURABLE_MESSAGES);
	g_assert_cmpuint (get_queued (&b), ==, DURABLE_MESSAGES);

	/* SIGKILL: no chance to write anything more */
	tether_test_env_kill_daemon (b.env);

	/* the broker and the observer first, then tetherd again */
	tether_test_broker_start (b.broker);
	observer = tether_test_env_observe (b.env, b.broker);
	g_assert_true (tether_test_observer_subscribe (observer, TELEMETRY_TOPIC, &error));
	g_assert_no_error (error);
	tether_test_env_start_daemon (b.env);

	/* the same messages, in the order accepted; the next batch's ids go on after them */
	assert_arrive_in_order (observer, 0, DURABLE_MESSAGES);
	more = publish_batch (&b, make_batch (DURABLE_MESSAGES, 10, G_MAXUINT, NULL), &error);
	g_assert_no_error (error);
	g_assert_cmpuint (g_array_index (more, guint64, 0), >,
	                  g_array_index (ids, guint64, DURABLE_MESSAGES - 1));
	assert_arrive_in_order (observer, DURABLE_MESSAGES, 10);
}

/* ---- refused whole ---- */

static GVariant *
message_with (const char *kind, const char *payload, GVariant *options)
{
	return g_variant_new (
	        "(s@ay@a{sv})", kind,
	        g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, payload, strlen (payload), 1),
	        options != NULL ? options : g_variant_new ("a{sv}", NULL));
}

/* refused with org.tether.Error.@code, naming message @index; nothing queued */
static void
assert_refused (Batch *b, GVariant *messages, const char *code, guint index)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) ids = NULL;
	g_autofree char *remote = NULL;
	g_autofree char *name = g_strdup_printf ("org.tether.Error.%s", code);
	g_autofree char *prefix = g_strdup_printf ("message %u: ", index);
	guint64 queued = get_queued (b);

	ids = publish_batch (b, messages, &error);
	g_assert_null (ids);
	g_assert_nonnull (error);
	remote = g_dbus_error_get_remote_error (error);
	g_assert_cmpstr (remote, ==, name);
	g_dbus_error_strip_remote_error (error);
	if (!g_str_has_prefix (error->message, prefix))
		g_error ("the refusal does not start with '%s': %s", prefix, error->message);
	g_assert_cmpuint (get_queued (b), ==, queued);
}

static void
test_refused_whole (void)
{
	g_auto(Batch) b = { 0 };
	g_autoptr(TetherTestObserver) observer = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) before = NULL;
	g_autoptr(GArray) after = NULL;
	GVariantDict options;

	batch_start (&b, TRUE);
	observer = tether_test_env_observe (b.env, b.broker);
	g_assert_true (tether_test_observer_subscribe (observer, TELEMETRY_TOPIC, &error));
	g_assert_no_error (error);
	tether_test_env_wait_state (b.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);

	before = publish_batch (&b, make_batch (0, 1, G_MAXUINT, NULL), &error);
	g_assert_no_error (error);
	assert_arrive_in_order (observer, 0, 1);

	/* a payload the cloud refuses, in the middle; then an option it does not know, last */
	assert_refused (&b, make_batch (100, 10, 6, message_with ("telemetry", "not json", NULL)),
	                "Refused", 6);
	g_variant_dict_init (&options, NULL);
	g_variant_dict_insert (&options, "no-such-option", "s", "x");
	assert_refused (&b,
	                make_batch (200, 10, 9,
	                            message_with ("telemetry", "{\"seq\":209}",
	                                          g_variant_dict_end (&options))),
	                "InvalidArgument", 9);
	/* a kind the cloud does not have, first */
	assert_refused (&b, make_batch (300, 10, 0, message_with ("no-such-kind", "{}", NULL)),
	                "InvalidArgument", 0);

	/* none of them went out, and they took no ids: the next id follows the first message */
	after = publish_batch (&b, make_batch (1, 1, G_MAXUINT, NULL), &error);
	g_assert_no_error (error);
	g_assert_cmpuint (g_array_index (after, guint64, 0), ==,
	                  g_array_index (before, guint64, 0) + 1);
	assert_arrive_in_order (observer, 1, 1);
	g_assert_cmpuint (next_seq (observer, 1000), ==, G_MAXUINT);
}

int
main (int argc, char **argv)
{
	tether_test_init (&argc, &argv);

	tether_test_add ("/publish-batch/order", test_order);
	tether_test_add ("/publish-batch/survives-kill", test_survives_kill);
	tether_test_add ("/publish-batch/refused-whole", test_refused_whole);
	return g_test_run ();
}
