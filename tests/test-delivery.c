/*
 * The delivery promise, end to end: once Publish has answered, the message
 * reaches a real subscriber on mosquitto (mutual TLS) at least once, through
 * broker outages, a killed tetherd, a link that keeps breaking, damaged
 * outbox files and a full disk. Each test counts every sequence number at
 * the subscriber.
 *
 * The subscriber ("counter") is a Paho client of its own that reconnects
 * after the broker restarts. tetherd reaches the broker through a TCP proxy
 * (tcp-proxy.c) that the tests use to refuse connections while the counter
 * subscribes again, so nothing is delivered while nobody counts.
 */
/* unshare() and CLONE_NEWNS */
#define _GNU_SOURCE

#include "tether-test-env.h"

#include <MQTTClient.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "tcp-proxy.h"

#define DEVICE_CN       "tb-device"
#define CONNECTION      "tb"
#define ANCHOR          "server-ca"
#define TELEMETRY_TOPIC "v1/devices/me/telemetry"

/* the broker sends to the counter at once, however far behind it is */
#define COUNTING_CONFIG "max_inflight_messages 0\nmax_queued_messages 0"
/* how long a test waits for everything to arrive */
#define ARRIVAL_TIMEOUT_MS 60000

/* ---- the counting subscriber ---- */

typedef struct {
	MQTTClient client;
	char *client_id;
	TetherTestBroker *broker;
	const TetherTestPki *pki;
	GMutex lock;
	guint n_max;
	guint *counts; /* times each sequence number arrived */
	guint distinct;
	guint total;
	guint other;
	guint highest;      /* the highest sequence number arrived so far, plus one */
	guint out_of_order; /* first arrivals below one that arrived before */
} Counter;

static int
counter_arrived (void *context, char *topic, int topic_len, MQTTClient_message *message)
{
	Counter *counter = context;
	g_autofree char *text = g_strndup (message->payload, message->payloadlen);
	const char *seq_text = strstr (text, "\"seq\":");
	guint64 seq = G_MAXUINT64;

	if (seq_text != NULL)
		seq = g_ascii_strtoull (seq_text + 6, NULL, 10);
	g_mutex_lock (&counter->lock);
	if (seq < counter->n_max) {
		if (counter->counts[seq]++ == 0) {
			counter->distinct++;
			/* delivered in the order accepted: a repeat may come late, a first not */
			if (seq + 1 < counter->highest)
				counter->out_of_order++;
			counter->highest = MAX (counter->highest, (guint) seq + 1);
		}
		counter->total++;
	} else {
		counter->other++;
	}
	g_mutex_unlock (&counter->lock);
	MQTTClient_freeMessage (&message);
	MQTTClient_free (topic);
	return 1;
}

static void
counter_lost (void *context, char *cause)
{
}

/* connects (again) and subscribes; the broker may take a moment to listen */
static void
counter_connect (Counter *counter)
{
	gint64 deadline = g_get_monotonic_time () + TETHER_TEST_TIMEOUT_MS * 1000;
	int rc;

	for (;;) {
		MQTTClient_connectOptions options = MQTTClient_connectOptions_initializer;
		MQTTClient_SSLOptions ssl = MQTTClient_SSLOptions_initializer;

		ssl.trustStore = counter->pki->server_ca_cert;
		ssl.keyStore = counter->pki->observer_cert;
		ssl.privateKey = counter->pki->observer_key;
		ssl.enableServerCertAuth = 1;
		ssl.verify = 1;
		ssl.disableDefaultTrustStore = 1;
		options.ssl = &ssl;
		options.cleansession = 1;
		options.keepAliveInterval = 300;
		options.connectTimeout = 5;
		rc = MQTTClient_connect (counter->client, &options);
		if (rc == MQTTCLIENT_SUCCESS)
			break;
		if (g_get_monotonic_time () > deadline)
			g_error ("the counter cannot connect to the broker: %s (%d)",
			         MQTTClient_strerror (rc), rc);
		tether_test_iterate (100);
	}
	rc = MQTTClient_subscribe (counter->client, TELEMETRY_TOPIC, 1);
	if (rc != MQTTCLIENT_SUCCESS)
		g_error ("the counter cannot subscribe: %s (%d)", MQTTClient_strerror (rc), rc);
}

static Counter *
counter_new (TetherTestEnv *env, TetherTestBroker *broker, guint n_max)
{
	static guint serial = 0;
	Counter *counter = g_new0 (Counter, 1);
	g_autofree char *uri =
	        g_strdup_printf ("ssl://localhost:%u", tether_test_broker_get_port (broker));
	int rc;

	g_mutex_init (&counter->lock);
	counter->n_max = n_max;
	counter->counts = g_new0 (guint, n_max);
	counter->broker = broker;
	counter->pki = tether_test_env_get_pki (env);
	counter->client_id = g_strdup_printf ("counter-%d-%u", (int) getpid (), serial++);
	rc = MQTTClient_create (&counter->client, uri, counter->client_id,
	                        MQTTCLIENT_PERSISTENCE_NONE, NULL);
	g_assert_cmpint (rc, ==, MQTTCLIENT_SUCCESS);
	/* with callbacks, Paho's own thread reads and acknowledges */
	rc = MQTTClient_setCallbacks (counter->client, counter, counter_lost, counter_arrived,
	                              NULL);
	g_assert_cmpint (rc, ==, MQTTCLIENT_SUCCESS);
	counter_connect (counter);
	return counter;
}

static void
counter_free (Counter *counter)
{
	if (counter == NULL)
		return;
	if (MQTTClient_isConnected (counter->client))
		MQTTClient_disconnect (counter->client, 1000);
	MQTTClient_destroy (&counter->client);
	g_mutex_clear (&counter->lock);
	g_free (counter->counts);
	g_free (counter->client_id);
	g_free (counter);
}

static guint
counter_get (Counter *counter, guint seq)
{
	guint n;

	g_mutex_lock (&counter->lock);
	n = counter->counts[seq];
	g_mutex_unlock (&counter->lock);
	return n;
}

static guint
counter_get_distinct (Counter *counter)
{
	guint n;

	g_mutex_lock (&counter->lock);
	n = counter->distinct;
	g_mutex_unlock (&counter->lock);
	return n;
}

typedef struct {
	Counter *counter;
	const gboolean *wanted; /* NULL: all of 0 .. n_max - 1 */
	guint missing;
} CounterWait;

static gboolean
counter_has_all (gpointer user_data)
{
	CounterWait *wait = user_data;
	Counter *counter = wait->counter;

	wait->missing = 0;
	g_mutex_lock (&counter->lock);
	for (guint i = 0; i < counter->n_max; i++) {
		if ((wait->wanted == NULL || wait->wanted[i]) && counter->counts[i] == 0)
			wait->missing++;
	}
	g_mutex_unlock (&counter->lock);
	return wait->missing == 0;
}

/* waits until each wanted sequence number has arrived; fails naming the first missing */
static void
counter_assert_all (Counter *counter, const gboolean *wanted, TetherTestEnv *env)
{
	CounterWait wait = { counter, wanted, 0 };
	gint64 start = g_get_monotonic_time ();

	if (!tether_test_wait_until (counter_has_all, &wait, ARRIVAL_TIMEOUT_MS)) {
		for (guint i = 0; i < counter->n_max; i++) {
			if ((wanted == NULL || wanted[i]) && counter_get (counter, i) == 0) {
				g_printerr ("# tetherd log: %s\n",
				            tether_test_env_get_daemon_log (env));
				g_error ("%u acknowledged messages never arrived, the first is seq "
				         "%u",
				         wait.missing, i);
			}
		}
	}
	g_mutex_lock (&counter->lock);
	g_printerr ("# all arrived (%.1f s after the wait began): %u distinct, %u in all, "
	            "%u duplicates, %u out of order\n",
	            (g_get_monotonic_time () - start) / 1e6, counter->distinct, counter->total,
	            counter->total - counter->distinct, counter->out_of_order);
	g_assert_cmpuint (counter->out_of_order, ==, 0);
	g_mutex_unlock (&counter->lock);
}

/* ---- one test's world ---- */

typedef struct {
	TetherTestEnv *env;
	TetherTestBroker *broker;
	TetherTestProxy *proxy;
	Counter *counter;
	gsize log_start; /* where the log of the running tetherd starts, when known */
} Delivery;

static void
delivery_clear (Delivery *d)
{
	g_clear_pointer (&d->counter, counter_free);
	g_clear_pointer (&d->env, tether_test_env_free);
	g_clear_pointer (&d->proxy, tether_test_proxy_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Delivery, delivery_clear)

/* a broker, a proxy in front of it, tetherd; @extra_config for mosquitto or NULL */
static void
delivery_start (Delivery *d, const char *extra_config)
{
	g_autofree char *acl = tether_test_acl_thingsboard (DEVICE_CN);
	g_autofree char *config = g_strdup_printf ("%s\n%s", COUNTING_CONFIG,
	                                           extra_config != NULL ? extra_config : "");
	TetherTestBrokerOptions options = { .acl = acl, .extra_config = config };

	if (d->env == NULL)
		d->env = tether_test_env_new ();
	d->broker = tether_test_env_start_broker (d->env, &options);
	d->proxy = tether_test_proxy_new (tether_test_broker_get_port (d->broker));
	tether_test_env_start_daemon (d->env);
}

/* the device's identity and the server's CA */
static void
delivery_provision (Delivery *d)
{
	const TetherTestPki *pki = tether_test_env_get_pki (d->env);
	g_autofree char *csr = tether_test_env_path (d->env, "device.csr");
	g_autofree char *cert = tether_test_env_path (d->env, "device.pem");

	tether_test_env_ctl_ok (d->env, "identity", "request", "--common-name", DEVICE_CN, "--out",
	                        csr, NULL);
	tether_test_env_sign_csr (d->env, csr, cert);
	tether_test_env_ctl_ok (d->env, "identity", "install", cert, NULL);
	tether_test_env_ctl_ok (d->env, "anchor", "add", ANCHOR, pki->server_ca_cert, NULL);
}

static char *
proxy_endpoint (Delivery *d)
{
	return g_strdup_printf ("localhost:%u", tether_test_proxy_get_port (d->proxy));
}

/* the connection, through the proxy */
static void
delivery_add_connection (Delivery *d)
{
	g_autofree char *endpoint = proxy_endpoint (d);

	tether_test_env_ctl_ok (d->env, "connection", "add", CONNECTION, "--cloud", "thingsboard",
	                        "--endpoint", endpoint, "--anchor", ANCHOR, NULL);
}

static TetherDBusConnection1 *
connection_proxy (Delivery *d)
{
	return tether_test_env_get_connection (d->env, CONNECTION);
}

static guint64
get_uint64_property (Delivery *d, const char *name)
{
	g_autoptr(GError) error = NULL;
	GDBusProxy *proxy = G_DBUS_PROXY (connection_proxy (d));
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync (
	        g_dbus_proxy_get_connection (proxy), g_dbus_proxy_get_name (proxy),
	        g_dbus_proxy_get_object_path (proxy), "org.freedesktop.DBus.Properties", "Get",
	        g_variant_new ("(ss)", g_dbus_proxy_get_interface_name (proxy), name),
	        G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
	g_autoptr(GVariant) value = NULL;

	g_assert_no_error (error);
	g_variant_get (reply, "(v)", &value);
	return g_variant_get_uint64 (value);
}

static char *
get_string_property (Delivery *d, const char *name)
{
	g_autoptr(GError) error = NULL;
	GDBusProxy *proxy = G_DBUS_PROXY (connection_proxy (d));
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync (
	        g_dbus_proxy_get_connection (proxy), g_dbus_proxy_get_name (proxy),
	        g_dbus_proxy_get_object_path (proxy), "org.freedesktop.DBus.Properties", "Get",
	        g_variant_new ("(ss)", g_dbus_proxy_get_interface_name (proxy), name),
	        G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
	g_autoptr(GVariant) value = NULL;

	g_assert_no_error (error);
	g_variant_get (reply, "(v)", &value);
	return g_variant_dup_string (value, NULL);
}

static gsize
log_size (Delivery *d)
{
	GStatBuf st;

	if (g_stat (tether_test_env_get_daemon_log (d->env), &st) != 0)
		return 0;
	return (gsize) st.st_size;
}

/* stops tetherd, sets connection keys in the settings file, starts it again */
static void
set_connection_keys (Delivery *d, const char *const *keys_and_values)
{
	g_autoptr(GKeyFile) key_file = g_key_file_new ();
	g_autoptr(GError) error = NULL;
	g_autofree char *path = tether_test_env_path (d->env, "tether.conf");

	tether_test_env_stop_daemon (d->env);
	/* what the next tetherd logs starts here */
	d->log_start = log_size (d);
	g_key_file_load_from_file (key_file, path, G_KEY_FILE_KEEP_COMMENTS, &error);
	g_assert_no_error (error);
	for (guint i = 0; keys_and_values[i] != NULL; i += 2)
		g_key_file_set_value (key_file, "connections/" CONNECTION, keys_and_values[i],
		                      keys_and_values[i + 1]);
	g_key_file_save_to_file (key_file, path, &error);
	g_assert_no_error (error);
	tether_test_env_start_daemon (d->env);
}

static char *
outbox_dir (Delivery *d)
{
	return g_build_filename (tether_test_env_get_state_dir (d->env), "outbox", CONNECTION,
	                         NULL);
}

static guint
count_files (const char *dir, const char *suffix)
{
	g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
	const char *name;
	guint n = 0;

	while (handle != NULL && (name = g_dir_read_name (handle)) != NULL) {
		if (suffix == NULL || g_str_has_suffix (name, suffix))
			n++;
	}
	return n;
}

static const char *
remote_error (GError *error)
{
	static char *name = NULL;

	g_free (name);
	name = error != NULL ? g_dbus_error_get_remote_error (error) : NULL;
	return name != NULL ? name : "";
}

/* ---- publishing ---- */

static GVariant *
bytes_variant (const char *text)
{
	return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, text, strlen (text), 1);
}

static GVariant *
numbered_message (guint seq, gsize pad, GVariant *options)
{
	g_autoptr(GString) text = g_string_new (NULL);

	g_string_append_printf (text, "{\"seq\":%u", seq);
	if (pad > 0) {
		g_string_append (text, ",\"pad\":\"");
		for (gsize i = 0; i < pad; i++)
			g_string_append_c (text, 'x');
		g_string_append_c (text, '"');
	}
	g_string_append_c (text, '}');
	return g_variant_new (
	        "(s@ay@a{sv})", "telemetry",
	        g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, text->str, text->len, 1),
	        options != NULL ? options : g_variant_new ("a{sv}", NULL));
}

/* numbered messages in batches, several calls in flight: fast, like a busy application */
typedef struct {
	TetherDBusConnection1 *proxy;
	guint next;
	guint end;
	guint batch;
	guint max_in_flight;
	guint in_flight;
	gsize pad;
	gboolean *acked;       /* [end]: Publish answered with an id */
	GHashTable *seq_of_id; /* the id Publish answered -> its sequence number */
	guint n_acked;
	guint n_failed;
	char *last_error;
} Publisher;

typedef struct {
	Publisher *publisher;
	guint first;
	guint count;
} BatchCall;

static void publisher_fill (Publisher *publisher);

static void
batch_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autofree BatchCall *call = user_data;
	Publisher *publisher = call->publisher;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) ids = NULL;

	publisher->in_flight--;
	if (tether_dbus_connection1_call_publish_batch_finish (TETHER_DBUS_CONNECTION1 (source),
	                                                       &ids, result, &error)) {
		gsize n_ids = 0;
		const guint64 *id_values =
		        g_variant_get_fixed_array (ids, &n_ids, sizeof (guint64));

		g_assert_cmpuint (n_ids, ==, call->count);
		for (guint i = 0; i < call->count; i++) {
			publisher->acked[call->first + i] = TRUE;
			g_hash_table_insert (publisher->seq_of_id,
			                     g_memdup2 (&id_values[i], sizeof (guint64)),
			                     GUINT_TO_POINTER (call->first + i));
		}
		publisher->n_acked += call->count;
	} else {
		publisher->n_failed += call->count;
		g_free (publisher->last_error);
		publisher->last_error = g_strdup (error->message);
	}
	publisher_fill (publisher);
}

static void
publisher_fill (Publisher *publisher)
{
	while (publisher->in_flight < publisher->max_in_flight &&
	       publisher->next < publisher->end) {
		BatchCall *call = g_new0 (BatchCall, 1);
		GVariantBuilder builder;

		call->publisher = publisher;
		call->first = publisher->next;
		call->count = MIN (publisher->batch, publisher->end - publisher->next);
		g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(saya{sv})"));
		for (guint i = 0; i < call->count; i++)
			g_variant_builder_add_value (
			        &builder, numbered_message (call->first + i, publisher->pad, NULL));
		publisher->next += call->count;
		publisher->in_flight++;
		tether_dbus_connection1_call_publish_batch (
		        publisher->proxy, g_variant_builder_end (&builder), G_DBUS_CALL_FLAGS_NONE,
		        30000, NULL, batch_cb, call);
	}
}

static Publisher *
publisher_new (TetherDBusConnection1 *proxy, guint first, guint end, guint batch,
               guint max_in_flight)
{
	Publisher *publisher = g_new0 (Publisher, 1);

	publisher->proxy = proxy;
	publisher->next = first;
	publisher->end = end;
	publisher->batch = batch;
	publisher->max_in_flight = max_in_flight;
	publisher->acked = g_new0 (gboolean, end);
	publisher->seq_of_id = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
	return publisher;
}

static void
publisher_free (Publisher *publisher)
{
	/* calls still in flight hold it: wait for them */
	while (publisher->in_flight > 0)
		g_main_context_iteration (NULL, TRUE);
	g_free (publisher->acked);
	g_hash_table_unref (publisher->seq_of_id);
	g_free (publisher->last_error);
	g_free (publisher);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Publisher, publisher_free)

static gboolean
publisher_done (gpointer user_data)
{
	Publisher *publisher = user_data;

	return publisher->next == publisher->end && publisher->in_flight == 0;
}

static gboolean
publish_one (Delivery *d, guint seq, gsize pad, GVariant *options, guint64 *id, GError **error)
{
	GVariant *message = g_variant_ref_sink (numbered_message (seq, pad, options));
	g_autoptr(GVariant) sunk = message;
	g_autoptr(GVariant) kind = g_variant_get_child_value (message, 0);
	g_autoptr(GVariant) payload = g_variant_get_child_value (message, 1);
	g_autoptr(GVariant) opts = g_variant_get_child_value (message, 2);
	guint64 got = 0;
	gboolean ok;

	ok = tether_dbus_connection1_call_publish_sync (
	        connection_proxy (d), g_variant_get_string (kind, NULL), payload, opts,
	        G_DBUS_CALL_FLAGS_NONE, 10000, &got, NULL, error);
	if (id != NULL)
		*id = got;
	return ok;
}

/* ---- MessageResult ---- */

typedef struct {
	TetherDBusConnection1 *proxy;
	GHashTable *statuses; /* id -> status */
} Results;

static void
on_message_result (TetherDBusConnection1 *proxy, guint64 id, const char *status, GVariant *details,
                   gpointer user_data)
{
	Results *results = user_data;

	g_hash_table_insert (results->statuses, g_memdup2 (&id, sizeof (id)), g_strdup (status));
}

static void
results_init (Results *results, Delivery *d)
{
	results->proxy = connection_proxy (d);
	results->statuses = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
	g_signal_connect (results->proxy, "message-result", G_CALLBACK (on_message_result),
	                  results);
}

/* before the test returns: signals keep coming while tetherd stops */
static void
results_clear (Results *results)
{
	g_signal_handlers_disconnect_by_data (results->proxy, results);
	g_hash_table_unref (results->statuses);
}

typedef struct {
	Results *results;
	guint64 id;
	const char *status;
} ResultWait;

static gboolean
result_arrived (gpointer user_data)
{
	ResultWait *wait = user_data;
	const char *status = g_hash_table_lookup (wait->results->statuses, &wait->id);

	return g_strcmp0 (status, wait->status) == 0;
}

static void
assert_result (Results *results, guint64 id, const char *status, guint timeout_ms)
{
	ResultWait wait = { results, id, status };

	if (!tether_test_wait_until (result_arrived, &wait, timeout_ms))
		g_error ("no MessageResult '%s' for message %" G_GUINT64_FORMAT " within %u ms (it "
		         "is '%s')",
		         status, id, timeout_ms,
		         (char *) g_hash_table_lookup (results->statuses, &id));
}

/* ---- the loss tests ---- */

static gboolean
not_connected (gpointer user_data)
{
	Delivery *d = user_data;

	return g_strcmp0 (tether_dbus_connection1_get_state (connection_proxy (d)), "connected") !=
	       0;
}

typedef struct {
	Results *results;
	Publisher *publisher;
	Counter *counter;
	guint64 missing_id;
} DeliveredWait;

/* every message the broker acknowledged to tetherd has reached the counter */
static gboolean
counter_has_delivered (gpointer user_data)
{
	DeliveredWait *wait = user_data;
	GHashTableIter iter;
	gpointer key;
	gpointer value;

	g_hash_table_iter_init (&iter, wait->results->statuses);
	while (g_hash_table_iter_next (&iter, &key, &value)) {
		gpointer seq = NULL;

		if (g_strcmp0 (value, "delivered") != 0)
			continue;
		wait->missing_id = *(guint64 *) key;
		/* the answer to its Publish may still be on its way */
		if (!g_hash_table_lookup_extended (wait->publisher->seq_of_id, key, NULL, &seq) ||
		    counter_get (wait->counter, GPOINTER_TO_UINT (seq)) == 0)
			return FALSE;
	}
	return TRUE;
}

/*
 * The broker dies (SIGKILL) and comes back while the counter re-subscribes
 * before tetherd. A broker that dies loses what it acknowledged to tetherd
 * and had not yet passed on to the counter (it is in the broker's buffers,
 * or discarded with the reset of its sockets): no client can keep that. So
 * tetherd's link goes first, and the broker dies once the counter has every
 * message the broker acknowledged on it; what tetherd had sent and not seen
 * acknowledged is lost with the link and the broker, and tetherd must send
 * it again.
 */
static void
broker_outage (Delivery *d, Results *results, Publisher *publisher)
{
	DeliveredWait wait = { results, publisher, d->counter, 0 };

	tether_test_proxy_set_mode (d->proxy, TETHER_TEST_PROXY_REFUSE);
	tether_test_proxy_cut (d->proxy);

	/* tetherd saw the end of the link: no acknowledgement comes after its State changes */
	g_assert_true (tether_test_wait_until (not_connected, d, TETHER_TEST_TIMEOUT_MS));
	if (!tether_test_wait_until (counter_has_delivered, &wait, ARRIVAL_TIMEOUT_MS))
		g_error ("message %" G_GUINT64_FORMAT " was acknowledged by the broker and never "
		         "reached the counter",
		         wait.missing_id);

	tether_test_broker_kill (d->broker);
	tether_test_broker_start (d->broker);
	counter_connect (d->counter);
	tether_test_proxy_set_mode (d->proxy, TETHER_TEST_PROXY_FORWARD);
}

#define BROKER_RESTART_MESSAGES 10000

static void
test_broker_restarts (void)
{
	g_auto(Delivery) d = { 0 };
	g_autoptr(Publisher) publisher = NULL;
	const guint kill_at[] = { 2000, 4500, 7000 };
	guint kills = 0;
	gint64 start;
	Results results;

	delivery_start (&d, NULL);
	delivery_provision (&d);
	d.counter = counter_new (d.env, d.broker, BROKER_RESTART_MESSAGES);
	delivery_add_connection (&d);
	tether_test_env_wait_state (d.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	results_init (&results, &d);

	/*
	 * 10,000 in batches of 50, four calls in flight; the broker dies three
	 * times while tetherd streams to it: once so many have arrived
	 */
	start = g_get_monotonic_time ();
	publisher = publisher_new (connection_proxy (&d), 0, BROKER_RESTART_MESSAGES, 50, 4);
	publisher_fill (publisher);
	while (!publisher_done (publisher) || kills < G_N_ELEMENTS (kill_at)) {
		guint arrived = counter_get_distinct (d.counter);

		if (g_get_monotonic_time () - start > ARRIVAL_TIMEOUT_MS * 1000)
			g_error ("the broker died %u times in %u s; %u acknowledged, %u arrived",
			         kills, ARRIVAL_TIMEOUT_MS / 1000, publisher->n_acked, arrived);
		if (kills < G_N_ELEMENTS (kill_at) && arrived >= kill_at[kills]) {
			g_printerr ("# killing the broker at %u acknowledged, %u arrived\n",
			            publisher->n_acked, arrived);
			broker_outage (&d, &results, publisher);
			kills++;
		} else if (!publisher_done (publisher)) {
			g_main_context_iteration (NULL, TRUE);
		} else {
			/* all published, not all arrived: the next kill waits for arrivals */
			tether_test_iterate (20);
		}
	}
	g_printerr ("# published %u in %.1f s\n", publisher->n_acked,
	            (g_get_monotonic_time () - start) / 1e6);
	g_assert_cmpuint (publisher->n_failed, ==, 0);
	g_assert_cmpuint (publisher->n_acked, ==, BROKER_RESTART_MESSAGES);
	counter_assert_all (d.counter, NULL, d.env);
	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (connection_proxy (&d)), "Queued",
	                                          g_variant_new_uint64 (0),
	                                          TETHER_TEST_TIMEOUT_MS));
	/* each acknowledgement counted once, however often its message went */
	g_assert_cmpuint (get_uint64_property (&d, "Delivered"), ==, BROKER_RESTART_MESSAGES);
	g_assert_cmpuint (get_uint64_property (&d, "Dropped"), ==, 0);
	results_clear (&results);
}

/* more than can be published before the kill lands: the kill finds calls in flight */
#define KILL_MESSAGES 20000

static void
test_daemon_killed (void)
{
	g_auto(Delivery) d = { 0 };
	g_autoptr(Publisher) publisher = NULL;
	gboolean link_gone = FALSE;
	gboolean killed = FALSE;
	guint acked_at_kill;

	delivery_start (&d, NULL);
	delivery_provision (&d);
	d.counter = counter_new (d.env, d.broker, KILL_MESSAGES);
	delivery_add_connection (&d);
	tether_test_env_wait_state (d.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);

	/* a stream that flows, then backs up on disk, then tetherd is killed mid-call */
	publisher = publisher_new (connection_proxy (&d), 0, KILL_MESSAGES, 25, 4);
	publisher_fill (publisher);
	while (!killed) {
		if (publisher->n_acked >= 1000 && !link_gone) {
			g_printerr ("# the link goes at %u acknowledged\n", publisher->n_acked);
			tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_REFUSE);
			tether_test_proxy_cut (d.proxy);
			link_gone = TRUE;
		}
		if (publisher->n_acked >= 3000) {
			/* calls are in flight and more keep coming: some answers never come */
			g_printerr ("# killing tetherd with %u calls in flight\n",
			            publisher->in_flight);
			tether_test_env_kill_daemon (d.env);
			publisher->end = publisher->next;
			killed = TRUE;
		} else {
			g_main_context_iteration (NULL, TRUE);
		}
	}
	acked_at_kill = publisher->n_acked;
	while (publisher->in_flight > 0)
		g_main_context_iteration (NULL, TRUE);
	g_printerr ("# killed with %u acknowledged, %u refused by the kill (%s)\n", acked_at_kill,
	            publisher->n_failed, publisher->last_error);
	g_assert_cmpuint (publisher->n_failed, >, 0);

	/* every acknowledged message arrives after the restart */
	tether_test_env_start_daemon (d.env);
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_FORWARD);
	counter_assert_all (d.counter, publisher->acked, d.env);
}

#define FIRST_CONNECTION_MESSAGES 1000

static void
test_before_first_connection (void)
{
	g_auto(Delivery) d = { 0 };
	g_autoptr(Publisher) publisher = NULL;
	g_autofree char *state = NULL;

	/* the broker is down; nothing ever connected */
	delivery_start (&d, NULL);
	tether_test_broker_stop (d.broker);
	delivery_provision (&d);
	delivery_add_connection (&d);

	publisher = publisher_new (connection_proxy (&d), 0, FIRST_CONNECTION_MESSAGES, 100, 2);
	publisher_fill (publisher);
	g_assert_true (tether_test_wait_until (publisher_done, publisher, 30000));
	g_assert_cmpuint (publisher->n_acked, ==, FIRST_CONNECTION_MESSAGES);
	state = get_string_property (&d, "State");
	g_assert_cmpstr (state, !=, "connected");
	g_assert_cmpuint (get_uint64_property (&d, "Delivered"), ==, 0);
	g_assert_cmpuint (get_uint64_property (&d, "Queued"), ==, FIRST_CONNECTION_MESSAGES);

	/* the broker comes up: the counter first, then tetherd */
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_REFUSE);
	tether_test_broker_start (d.broker);
	d.counter = counter_new (d.env, d.broker, FIRST_CONNECTION_MESSAGES);
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_FORWARD);
	counter_assert_all (d.counter, NULL, d.env);
}

/* how long the flaky link test publishes; see the README for the suite's time */
#define FLAKY_SECONDS     30
#define FLAKY_RATE        10
#define FLAKY_CUT_EVERY_S 2

typedef struct {
	Delivery *d;
	guint next;
	guint end;
	guint in_flight;
	guint n_acked;
	guint n_failed;
	gboolean *acked;
	guint cuts;
} Flaky;

typedef struct {
	Flaky *flaky;
	guint seq;
} FlakyCall;

static void
flaky_published_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autofree FlakyCall *call = user_data;
	g_autoptr(GError) error = NULL;

	call->flaky->in_flight--;
	if (tether_dbus_connection1_call_publish_finish (TETHER_DBUS_CONNECTION1 (source), NULL,
	                                                 result, &error)) {
		call->flaky->acked[call->seq] = TRUE;
		call->flaky->n_acked++;
	} else {
		g_printerr ("# publish %u: %s\n", call->seq, error->message);
		call->flaky->n_failed++;
	}
}

static gboolean
flaky_publish_cb (gpointer user_data)
{
	Flaky *flaky = user_data;
	FlakyCall *call;
	GVariant *message;
	g_autoptr(GVariant) payload = NULL;

	/* all sent: idle until the test removes this source (removing itself would leave the
	 * test a stale id to remove) */
	if (flaky->next == flaky->end)
		return G_SOURCE_CONTINUE;
	call = g_new0 (FlakyCall, 1);
	call->flaky = flaky;
	call->seq = flaky->next++;
	message = g_variant_ref_sink (numbered_message (call->seq, 0, NULL));
	payload = g_variant_get_child_value (message, 1);
	flaky->in_flight++;
	tether_dbus_connection1_call_publish (connection_proxy (flaky->d), "telemetry", payload,
	                                      g_variant_new ("a{sv}", NULL), G_DBUS_CALL_FLAGS_NONE,
	                                      10000, NULL, flaky_published_cb, call);
	g_variant_unref (message);
	return G_SOURCE_CONTINUE;
}

static gboolean
flaky_cut_cb (gpointer user_data)
{
	Flaky *flaky = user_data;

	/* as flaky_publish_cb(): the test removes it */
	if (flaky->next == flaky->end)
		return G_SOURCE_CONTINUE;
	if (tether_test_proxy_cut (flaky->d->proxy) > 0)
		flaky->cuts++;
	return G_SOURCE_CONTINUE;
}

static gboolean
flaky_done (gpointer user_data)
{
	Flaky *flaky = user_data;

	return flaky->next == flaky->end && flaky->in_flight == 0;
}

static void
test_flaky_link (void)
{
	g_auto(Delivery) d = { 0 };
	Flaky flaky = { &d, 0, FLAKY_SECONDS * FLAKY_RATE };
	guint publish_id;
	guint cut_id;

	delivery_start (&d, NULL);
	delivery_provision (&d);
	d.counter = counter_new (d.env, d.broker, flaky.end);
	delivery_add_connection (&d);
	tether_test_env_wait_state (d.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);

	/* 10 a second for 30 seconds, and the link cut every 2 seconds */
	flaky.acked = g_new0 (gboolean, flaky.end);
	publish_id = g_timeout_add (1000 / FLAKY_RATE, flaky_publish_cb, &flaky);
	cut_id = g_timeout_add_seconds (FLAKY_CUT_EVERY_S, flaky_cut_cb, &flaky);
	g_assert_true (tether_test_wait_until (flaky_done, &flaky, (FLAKY_SECONDS + 20) * 1000));
	g_clear_handle_id (&publish_id, g_source_remove);
	g_clear_handle_id (&cut_id, g_source_remove);
	g_printerr ("# %u published, %u refused, the link cut %u times\n", flaky.n_acked,
	            flaky.n_failed, flaky.cuts);
	g_assert_cmpuint (flaky.n_failed, ==, 0);
	g_assert_cmpuint (flaky.cuts, >=, FLAKY_SECONDS / FLAKY_CUT_EVERY_S / 2);
	counter_assert_all (d.counter, flaky.acked, d.env);
	g_free (flaky.acked);
}

/* ---- damaged outbox files ---- */

static int
compare_strings (gconstpointer a, gconstpointer b)
{
	return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

static GPtrArray *
segment_files (const char *dir)
{
	g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
	GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);
	const char *name;

	while (handle != NULL && (name = g_dir_read_name (handle)) != NULL) {
		if (g_str_has_prefix (name, "segment-") && g_str_has_suffix (name, ".log"))
			g_ptr_array_add (paths, g_build_filename (dir, name, NULL));
	}
	g_ptr_array_sort (paths, compare_strings);
	return paths;
}

static gboolean
file_has_seq (const char *contents, gsize size, guint seq)
{
	g_autofree char *needle = g_strdup_printf ("{\"seq\":%u,", seq);
	gsize len = strlen (needle);

	for (gsize i = 0; i + len <= size; i++) {
		if (contents[i] == '{' && memcmp (contents + i, needle, len) == 0)
			return TRUE;
	}
	return FALSE;
}

#define DAMAGE_MESSAGES 60
#define DAMAGE_PAD      50000

static void
test_damaged_outbox (void)
{
	g_auto(Delivery) d = { 0 };
	g_autoptr(Publisher) publisher = NULL;
	g_autofree char *dir = NULL;
	g_autofree char *quarantine = NULL;
	g_autofree char *log = NULL;
	g_autofree char *junk = NULL;
	g_autofree char *fake = NULL;
	g_autoptr(GPtrArray) segments = NULL;
	gboolean expected[DAMAGE_MESSAGES] = { FALSE };
	guint last_in_third = 0;
	guint n_expected = 0;
	guint n_deleted = 0;

	/* offline: 60 messages of 50 kB fill three segments of 1 MiB */
	delivery_start (&d, NULL);
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_REFUSE);
	delivery_provision (&d);
	delivery_add_connection (&d);
	/* one call at a time: one write each, so the segments fill predictably */
	publisher = publisher_new (connection_proxy (&d), 0, DAMAGE_MESSAGES, 5, 1);
	publisher->pad = DAMAGE_PAD;
	publisher_fill (publisher);
	g_assert_true (tether_test_wait_until (publisher_done, publisher, 30000));
	g_assert_cmpuint (publisher->n_acked, ==, DAMAGE_MESSAGES);
	tether_test_env_stop_daemon (d.env);

	/* which message is in which segment */
	dir = outbox_dir (&d);
	segments = segment_files (dir);
	g_assert_cmpuint (segments->len, ==, 3);
	for (guint s = 0; s < segments->len; s++) {
		g_autofree char *contents = NULL;
		gsize size = 0;

		g_assert_true (g_file_get_contents (segments->pdata[s], &contents, &size, NULL));
		for (guint seq = 0; seq < DAMAGE_MESSAGES; seq++) {
			if (!file_has_seq (contents, size, seq))
				continue;
			if (s == 1)
				n_deleted++;
			else
				expected[seq] = TRUE;
			if (s == 2)
				last_in_third = MAX (last_in_third, seq);
		}
	}
	expected[last_in_third] = FALSE;
	for (guint seq = 0; seq < DAMAGE_MESSAGES; seq++)
		n_expected += expected[seq] ? 1 : 0;
	g_assert_cmpuint (n_deleted, >, 0);
	g_printerr ("# the second segment holds %u messages, the third ends with seq %u\n",
	            n_deleted, last_in_third);

	/* a deleted segment, a truncated record, two garbage files */
	g_assert_cmpint (g_unlink (segments->pdata[1]), ==, 0);
	{
		g_autofree char *contents = NULL;
		gsize size = 0;

		g_assert_true (g_file_get_contents (segments->pdata[2], &contents, &size, NULL));
		g_assert_true (g_file_set_contents (segments->pdata[2], contents, (gssize) size - 7,
		                                    NULL));
	}
	junk = g_build_filename (dir, "junk.bin", NULL);
	g_assert_true (g_file_set_contents (junk, "\x01\x02garbage", -1, NULL));
	fake = g_build_filename (dir, "segment-00000000000000999999.log", NULL);
	g_assert_true (g_file_set_contents (fake, "TETHERXXnot a segment at all", -1, NULL));

	/* tetherd starts, reports, sets aside, and delivers the rest */
	tether_test_env_start_daemon (d.env);
	d.counter = counter_new (d.env, d.broker, DAMAGE_MESSAGES);
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_FORWARD);
	counter_assert_all (d.counter, expected, d.env);
	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (connection_proxy (&d)), "Queued",
	                                          g_variant_new_uint64 (0),
	                                          TETHER_TEST_TIMEOUT_MS));
	g_assert_cmpuint (d.counter->distinct, ==, n_expected);

	quarantine = g_build_filename (dir, "quarantine", NULL);
	g_assert_cmpuint (count_files (quarantine, NULL), ==, 4);
	g_assert_true (
	        g_file_get_contents (tether_test_env_get_daemon_log (d.env), &log, NULL, NULL));
	g_assert_nonnull (strstr (log, "its segment is missing"));
	g_assert_nonnull (strstr (log, "a truncated record"));
	g_assert_nonnull (strstr (log, "junk.bin: not an outbox file"));
	g_assert_nonnull (strstr (log, "segment-00000000000000999999.log: not an outbox file"));
}

/* ---- a full disk ---- */

/* a tmpfs of 400 KiB as the state directory, in a mount namespace of this test's own */
static void
mount_small_state_dir (TetherTestEnv *env)
{
	const char *state = tether_test_env_get_state_dir (env);

	if (unshare (CLONE_NEWNS) != 0)
		g_error ("this test needs a mount namespace (run it as root): unshare: %s",
		         g_strerror (errno));
	if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		g_error ("cannot make the mounts private: %s", g_strerror (errno));
	if (mount ("tmpfs", state, "tmpfs", 0, "size=400k,mode=0700") != 0)
		g_error ("this test needs to mount a tmpfs on %s (run it as root): %s", state,
		         g_strerror (errno));
}

static guint64
free_bytes (const char *dir)
{
	struct statvfs st;

	g_assert_cmpint (statvfs (dir, &st), ==, 0);
	return (guint64) st.f_bavail * st.f_frsize;
}

#define DISK_PAD 2000

static void
test_full_disk (void)
{
	g_auto(Delivery) d = { 0 };
	g_autofree char *filler = NULL;
	g_autofree char *filler_data = NULL;
	gboolean acked[1000] = { FALSE };
	guint seq = 0;
	guint accepted = 0;
	g_autoptr(GError) error = NULL;
	guint64 room;

	d.env = tether_test_env_new ();
	mount_small_state_dir (d.env);
	delivery_start (&d, NULL);
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_REFUSE);
	delivery_provision (&d);
	delivery_add_connection (&d);
	d.counter = counter_new (d.env, d.broker, G_N_ELEMENTS (acked));

	/* leave about 100 KiB */
	room = free_bytes (tether_test_env_get_state_dir (d.env));
	g_assert_cmpuint (room, >, 150 * 1024);
	filler = g_build_filename (tether_test_env_get_state_dir (d.env), "filler", NULL);
	filler_data = g_malloc0 (room - 100 * 1024);
	g_assert_true (
	        g_file_set_contents (filler, filler_data, (gssize) (room - 100 * 1024), NULL));

	/* until the disk is full: NoSpace, and tetherd carries on */
	while (seq < 200) {
		if (!publish_one (&d, seq, DISK_PAD, NULL, NULL, &error))
			break;
		acked[seq++] = TRUE;
		accepted++;
	}
	g_assert_nonnull (error);
	g_printerr ("# %u accepted, then: %s\n", accepted, error->message);
	g_assert_cmpstr (remote_error (error), ==, "org.tether.Error.NoSpace");
	g_assert_nonnull (strstr (error->message, "no space left"));
	g_assert_cmpuint (accepted, >, 10);
	g_clear_error (&error);
	g_assert_false (publish_one (&d, seq, DISK_PAD, NULL, NULL, &error));
	g_assert_cmpstr (remote_error (error), ==, "org.tether.Error.NoSpace");
	g_clear_error (&error);
	g_assert_cmpuint (get_uint64_property (&d, "Queued"), ==, accepted);

	/* space comes back: publishing resumes */
	g_assert_cmpint (g_unlink (filler), ==, 0);
	for (guint i = 0; i < 20; i++) {
		seq++;
		if (!publish_one (&d, seq, DISK_PAD, NULL, NULL, &error))
			g_error ("publish %u after space came back: %s", seq, error->message);
		acked[seq] = TRUE;
	}

	/* and nothing accepted was lost */
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_FORWARD);
	counter_assert_all (d.counter, acked, d.env);
}

/* ---- limits, expiry, dead letters ---- */

static void
test_limit_refuse (void)
{
	g_auto(Delivery) d = { 0 };
	const char *keys[] = { "max-queued-messages", "5", NULL };
	g_autoptr(GError) error = NULL;
	gboolean acked[10] = { FALSE };

	delivery_start (&d, NULL);
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_REFUSE);
	delivery_provision (&d);
	delivery_add_connection (&d);
	set_connection_keys (&d, keys);
	d.counter = counter_new (d.env, d.broker, G_N_ELEMENTS (acked));

	for (guint seq = 0; seq < 5; seq++) {
		g_assert_true (publish_one (&d, seq, 0, NULL, NULL, &error));
		acked[seq] = TRUE;
	}
	g_assert_false (publish_one (&d, 5, 0, NULL, NULL, &error));
	g_assert_cmpstr (remote_error (error), ==, "org.tether.Error.QueueFull");
	g_assert_nonnull (strstr (error->message, "max-queued-messages"));
	g_assert_cmpuint (get_uint64_property (&d, "Queued"), ==, 5);
	g_assert_cmpuint (get_uint64_property (&d, "Dropped"), ==, 0);
	g_clear_error (&error);

	/* refused means not queued; the queue drains and takes more */
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_FORWARD);
	counter_assert_all (d.counter, acked, d.env);
	g_assert_cmpuint (counter_get (d.counter, 5), ==, 0);
	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (connection_proxy (&d)), "Queued",
	                                          g_variant_new_uint64 (0),
	                                          TETHER_TEST_TIMEOUT_MS));
	g_assert_true (publish_one (&d, 6, 0, NULL, NULL, &error));
	acked[6] = TRUE;
	counter_assert_all (d.counter, acked, d.env);
}

static void
test_limit_drop_oldest (void)
{
	g_auto(Delivery) d = { 0 };
	const char *keys[] = { "max-queued-messages", "5", "queue-full-policy", "'drop-oldest'",
		               NULL };
	g_autoptr(GError) error = NULL;
	gboolean wanted[8] = { FALSE };
	guint64 ids[8];
	Results results;

	delivery_start (&d, NULL);
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_REFUSE);
	delivery_provision (&d);
	delivery_add_connection (&d);
	set_connection_keys (&d, keys);
	results_init (&results, &d);
	d.counter = counter_new (d.env, d.broker, G_N_ELEMENTS (wanted));

	/* 8 into room for 5: the 3 oldest go */
	for (guint seq = 0; seq < 8; seq++) {
		if (!publish_one (&d, seq, 0, NULL, &ids[seq], &error))
			g_error ("publish %u: %s", seq, error->message);
		wanted[seq] = seq >= 3;
	}
	for (guint seq = 0; seq < 3; seq++)
		assert_result (&results, ids[seq], "dropped", TETHER_TEST_TIMEOUT_MS);
	g_assert_cmpuint (get_uint64_property (&d, "Queued"), ==, 5);
	g_assert_cmpuint (get_uint64_property (&d, "Dropped"), ==, 3);

	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_FORWARD);
	counter_assert_all (d.counter, wanted, d.env);
	for (guint seq = 0; seq < 3; seq++)
		g_assert_cmpuint (counter_get (d.counter, seq), ==, 0);
	results_clear (&results);
}

static void
test_expires_in (void)
{
	g_auto(Delivery) d = { 0 };
	g_autoptr(GError) error = NULL;
	gboolean wanted[2] = { FALSE, TRUE };
	guint64 short_lived = 0;
	Results results;

	delivery_start (&d, NULL);
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_REFUSE);
	delivery_provision (&d);
	delivery_add_connection (&d);
	results_init (&results, &d);
	d.counter = counter_new (d.env, d.broker, G_N_ELEMENTS (wanted));

	/* offline: one message for a second only, one for ever */
	g_assert_true (publish_one (&d, 0, 0, g_variant_new_parsed ("{'expires-in': <@u 1>}"),
	                            &short_lived, &error));
	g_assert_no_error (error);
	g_assert_true (publish_one (&d, 1, 0, NULL, NULL, &error));

	/* it expires while the link is down, and is reported */
	assert_result (&results, short_lived, "expired", 5000);
	g_assert_cmpuint (get_uint64_property (&d, "Queued"), ==, 1);
	g_assert_cmpuint (get_uint64_property (&d, "Dropped"), ==, 1);

	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_FORWARD);
	counter_assert_all (d.counter, wanted, d.env);
	tether_test_iterate (500);
	g_assert_cmpuint (counter_get (d.counter, 0), ==, 0);
	results_clear (&results);
}

#define POISON_MESSAGES 21
#define POISON_SEQ      10

static void
test_poison_dead_letter (void)
{
	g_auto(Delivery) d = { 0 };
	g_autoptr(GError) error = NULL;
	g_autofree char *dead = NULL;
	gboolean wanted[POISON_MESSAGES];
	guint64 ids[POISON_MESSAGES];
	Results results;

	/* the broker closes the connection on any packet over 4 KiB */
	delivery_start (&d, "max_packet_size 4096");
	delivery_provision (&d);
	delivery_add_connection (&d);
	results_init (&results, &d);
	d.counter = counter_new (d.env, d.broker, POISON_MESSAGES);
	tether_test_env_wait_state (d.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);

	/* within ThingsBoard's limits, beyond this broker's */
	for (guint seq = 0; seq < POISON_MESSAGES; seq++) {
		if (!publish_one (&d, seq, seq == POISON_SEQ ? 8000 : 0, NULL, &ids[seq], &error))
			g_error ("publish %u: %s", seq, error->message);
		wanted[seq] = seq != POISON_SEQ;
	}
	assert_result (&results, ids[POISON_SEQ], "dead-letter", 30000);
	counter_assert_all (d.counter, wanted, d.env);
	g_assert_cmpuint (counter_get (d.counter, POISON_SEQ), ==, 0);
	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (connection_proxy (&d)), "Queued",
	                                          g_variant_new_uint64 (0),
	                                          TETHER_TEST_TIMEOUT_MS));
	g_assert_cmpuint (get_uint64_property (&d, "Dropped"), ==, 1);

	/* kept for the operator, in the outbox's dead-letter folder */
	dead = g_build_filename (tether_test_env_get_state_dir (d.env), "outbox", CONNECTION,
	                         "dead-letter", NULL);
	g_assert_cmpuint (count_files (dead, ".msg"), ==, 1);
	results_clear (&results);
}

static gboolean
proxy_has_accepted (gpointer user_data)
{
	return tether_test_proxy_get_n_accepted (user_data) > 0;
}

/* Publish is answered while the connection hangs in a TLS handshake nobody answers */
static void
test_publish_while_connecting (void)
{
	g_auto(Delivery) d = { 0 };
	g_autoptr(GError) error = NULL;
	g_autofree char *state = NULL;
	guint64 id = 0;

	delivery_start (&d, NULL);
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_SILENT);
	delivery_provision (&d);
	delivery_add_connection (&d);
	g_assert_true (
	        tether_test_wait_until (proxy_has_accepted, d.proxy, TETHER_TEST_TIMEOUT_MS));
	state = get_string_property (&d, "State");
	g_assert_cmpstr (state, ==, "connecting");

	g_assert_true (publish_one (&d, 0, 0, NULL, &id, &error));
	g_assert_no_error (error);
	g_assert_cmpuint (id, >, 0);

	/* answered before the connection got anywhere */
	g_clear_pointer (&state, g_free);
	state = get_string_property (&d, "State");
	g_assert_cmpstr (state, ==, "connecting");
	g_assert_cmpuint (get_uint64_property (&d, "Queued"), ==, 1);
	g_assert_cmpuint (tether_test_proxy_get_n_accepted (d.proxy), ==, 1);

	/* a message the cloud would never take is refused at once, and not queued */
	g_assert_false (tether_dbus_connection1_call_publish_sync (
	        connection_proxy (&d), "telemetry", bytes_variant ("not json"),
	        g_variant_new ("a{sv}", NULL), G_DBUS_CALL_FLAGS_NONE, 10000, NULL, NULL, &error));
	g_assert_cmpstr (remote_error (error), ==, "org.tether.Error.Refused");
	g_assert_cmpuint (get_uint64_property (&d, "Queued"), ==, 1);
}

/* ---- the rest of the promise ---- */

static void
test_one_daemon_per_state_dir (void)
{
	g_auto(Delivery) d = { 0 };
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) second = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *config = NULL;
	g_autofree char *err = NULL;

	delivery_start (&d, NULL);
	config = tether_test_env_path (d.env, "second.conf");
	launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE |
	                                      G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
	second = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("TETHERD"), "--session",
	                                      "--state-dir", tether_test_env_get_state_dir (d.env),
	                                      "--config", config, NULL);
	g_assert_no_error (error);
	g_subprocess_communicate_utf8 (second, NULL, NULL, NULL, &err, &error);
	g_assert_no_error (error);
	g_printerr ("# the second tetherd said: %s", err);
	g_assert_true (g_subprocess_get_if_exited (second));
	g_assert_cmpint (g_subprocess_get_exit_status (second), !=, 0);
	g_assert_nonnull (strstr (err, tether_test_env_get_state_dir (d.env)));
	g_assert_nonnull (strstr (err, "another tetherd"));
}

typedef struct {
	TetherTestProxy *proxy;
	guint n;
} AcceptWait;

static gboolean
proxy_accepted_n (gpointer user_data)
{
	AcceptWait *wait = user_data;

	return tether_test_proxy_get_n_accepted (wait->proxy) >= wait->n;
}

/* the lines of tetherd's log at @level ("INFO", "WARNING", NULL: any) holding @needle */
static guint
count_log_lines_at (Delivery *d, const char *level, const char *needle)
{
	g_autofree char *log = NULL;
	g_auto(GStrv) lines = NULL;
	gsize size = 0;
	guint n = 0;

	g_assert_true (
	        g_file_get_contents (tether_test_env_get_daemon_log (d->env), &log, &size, NULL));
	g_assert_cmpuint (size, >=, d->log_start);
	lines = g_strsplit (log + d->log_start, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_autofree char *tag = g_strdup_printf ("-%s", level != NULL ? level : "");

		if (strstr (lines[i], needle) != NULL &&
		    (level == NULL || strstr (lines[i], tag) != NULL))
			n++;
	}
	return n;
}

/* the lines of tetherd's log that hold @needle, since d->log_start */
static guint
count_log_lines (Delivery *d, const char *needle)
{
	return count_log_lines_at (d, NULL, needle);
}

typedef struct {
	Delivery *d;
	const char *id;
} ErrorWait;

static gboolean
names_client_id (gpointer user_data)
{
	ErrorWait *wait = user_data;
	TetherDBusConnection1 *proxy = tether_test_env_get_connection (wait->d->env, wait->id);
	const char *last_error = tether_dbus_connection1_get_last_error (proxy);

	return last_error != NULL && strstr (last_error, "client id 'twin'") != NULL;
}

/* two connections with one client id throw each other out: LastError says so */
static void
test_duplicate_client_id (void)
{
	g_auto(Delivery) d = { 0 };
	ErrorWait wait = { &d, "a" };
	AcceptWait accepted = { NULL, 0 };
	const char *ids[] = { "a", "b" };
	guint all_losses = 0;
	g_autofree char *endpoint = NULL;

	delivery_start (&d, NULL);
	delivery_provision (&d);
	endpoint = proxy_endpoint (&d);
	tether_test_env_ctl_ok (d.env, "connection", "add", "a", "--cloud", "thingsboard",
	                        "--endpoint", endpoint, "--anchor", ANCHOR, "--client-id", "twin",
	                        NULL);
	tether_test_env_ctl_ok (d.env, "connection", "add", "b", "--cloud", "thingsboard",
	                        "--endpoint", endpoint, "--anchor", ANCHOR, "--client-id", "twin",
	                        NULL);
	if (!tether_test_wait_until (names_client_id, &wait, 30000)) {
		wait.id = "b";
		if (!names_client_id (&wait))
			g_error ("no LastError names the duplicate client id: '%s', '%s'",
			         tether_dbus_connection1_get_last_error (
			                 tether_test_env_get_connection (d.env, "a")),
			         tether_dbus_connection1_get_last_error (
			                 tether_test_env_get_connection (d.env, "b")));
	}

	/*
	 * they go on throwing each other out: each change and each text is
	 * logged once a spell, and a spell ends only when a session held (a
	 * busy machine may let one hold now and then)
	 */
	accepted.proxy = d.proxy;
	accepted.n = tether_test_proxy_get_n_accepted (d.proxy) + 6;
	g_assert_true (tether_test_wait_until (proxy_accepted_n, &accepted, 30000));
	for (guint i = 0; i < G_N_ELEMENTS (ids); i++) {
		g_autofree char *lost =
		        g_strdup_printf ("connection %s: connected -> connecting", ids[i]);
		g_autofree char *back =
		        g_strdup_printf ("connection %s: connecting -> connected", ids[i]);
		g_autofree char *duplicate =
		        g_strdup_printf ("connection %s: the broker at localhost", ids[i]);
		g_autofree char *held =
		        g_strdup_printf ("connection %s: the session held for", ids[i]);
		guint spells = count_log_lines_at (&d, "DEBUG", held) + 1;
		guint losses = count_log_lines (&d, lost);

		g_printerr ("# connection %s: %u sessions lost, %u logged, %u spells\n", ids[i],
		            losses, count_log_lines_at (&d, "INFO", lost), spells);
		all_losses += losses;
		g_assert_cmpuint (count_log_lines_at (&d, "INFO", lost), <=, spells);
		g_assert_cmpuint (count_log_lines_at (&d, "INFO", back), <=, spells);
		g_assert_cmpuint (count_log_lines_at (&d, "WARNING", duplicate), <=, spells);
	}
	g_assert_cmpuint (all_losses, >=, 6);
}

/* ---- reconnecting ---- */

/* a broker that cannot be reached: tried again and again, logged once */
static void
test_state_logged_once (void)
{
	g_auto(Delivery) d = { 0 };
	const char *keys[] = { "reconnect-min", "1", "reconnect-max", "1", NULL };
	AcceptWait wait = { NULL, 0 };
	g_autofree char *last_error = NULL;
	guint failed;
	guint errors;

	delivery_start (&d, NULL);
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_REFUSE);
	delivery_provision (&d);
	delivery_add_connection (&d);
	set_connection_keys (&d, keys);

	/* each attempt is a connection and a TLS probe: at least five attempts */
	wait.proxy = d.proxy;
	wait.n = tether_test_proxy_get_n_accepted (d.proxy) + 10;
	g_assert_true (tether_test_wait_until (proxy_accepted_n, &wait, 30000));
	tether_test_env_wait_state (d.env, CONNECTION, "failed", TETHER_TEST_TIMEOUT_MS);
	last_error = get_string_property (&d, "LastError");
	g_assert_cmpstr (last_error, !=, "");

	/* one change of State, one LastError, however many attempts */
	failed = count_log_lines_at (&d, "INFO", "connection " CONNECTION ": connecting -> failed");
	errors = count_log_lines_at (&d, "WARNING", last_error);
	g_printerr ("# %u connections refused; '-> failed' logged %u times, LastError %u times\n",
	            tether_test_proxy_get_n_accepted (d.proxy), failed, errors);
	g_assert_cmpuint (failed, ==, 1);
	g_assert_cmpuint (errors, ==, 1);

	/* back, then lost again: each change once more */
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_FORWARD);
	tether_test_env_wait_state (d.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	g_assert_cmpuint (
	        count_log_lines_at (&d, "INFO", "connection " CONNECTION ": failed -> connected"),
	        ==, 1);
}

static void
write_network_file (const char *path, const char *contents)
{
	g_autoptr(GError) error = NULL;

	g_file_set_contents (path, contents, -1, &error);
	g_assert_no_error (error);
}

typedef struct {
	Delivery *d;
	const char *needle;
} LogWait;

static gboolean
log_has (gpointer user_data)
{
	LogWait *wait = user_data;

	return count_log_lines (wait->d, wait->needle) > 0;
}

/*
 * A connection that waits out a long backoff tries again at once when
 * GNetworkMonitor says the network is back. tetherd gets a network monitor
 * of the test's own (tests/gio-modules), driven by a file.
 */
static void
test_network_back (void)
{
	g_auto(Delivery) d = { 0 };
	const char *keys[] = { "reconnect-min", "300", "reconnect-max", "300", NULL };
	g_autofree char *network = NULL;
	LogWait gone = { &d, "connection " CONNECTION ": the network is gone" };
	gboolean wanted[1] = { TRUE };
	g_autoptr(GError) error = NULL;
	gint64 start;

	d.env = tether_test_env_new ();
	network = tether_test_env_path (d.env, "network");
	write_network_file (network, "up");
	g_setenv ("GIO_EXTRA_MODULES", g_getenv ("TETHER_TEST_GIO_MODULES"), TRUE);
	g_setenv ("GIO_USE_NETWORK_MONITOR", "tether-test", TRUE);
	g_setenv ("TETHER_TEST_NETWORK_FILE", network, TRUE);

	/* the broker cannot be reached: the next attempt is 150 to 300 s away */
	delivery_start (&d, NULL);
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_REFUSE);
	delivery_provision (&d);
	delivery_add_connection (&d);
	set_connection_keys (&d, keys);
	tether_test_env_wait_state (d.env, CONNECTION, "failed", TETHER_TEST_TIMEOUT_MS);
	g_assert_true (publish_one (&d, 0, 0, NULL, NULL, &error));

	/* the network goes, the broker can be reached again, the network comes back */
	write_network_file (network, "down");
	g_assert_true (tether_test_wait_until (log_has, &gone, TETHER_TEST_TIMEOUT_MS));
	d.counter = counter_new (d.env, d.broker, G_N_ELEMENTS (wanted));
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_FORWARD);
	start = g_get_monotonic_time ();
	write_network_file (network, "up");
	tether_test_env_wait_state (d.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	g_printerr ("# connected %.1f s after the network came back\n",
	            (g_get_monotonic_time () - start) / 1e6);
	counter_assert_all (d.counter, wanted, d.env);
	g_assert_cmpuint (count_log_lines (&d, "the network changed, reconnecting now"), ==, 1);
}

/* ---- an outbox of a newer tether ---- */

static gboolean
names_version (gpointer user_data)
{
	Delivery *d = user_data;
	const char *last_error = tether_dbus_connection1_get_last_error (connection_proxy (d));

	return last_error != NULL && strstr (last_error, "version 9") != NULL;
}

/* the names and sizes of the files under @dir, one line each, in order */
static char *
list_tree (const char *dir)
{
	g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
	g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
	const char *name;

	while (handle != NULL && (name = g_dir_read_name (handle)) != NULL) {
		g_autofree char *path = g_build_filename (dir, name, NULL);
		GStatBuf st;

		g_assert_cmpint (g_stat (path, &st), ==, 0);
		g_ptr_array_add (lines, g_strdup_printf ("%s %ld", name, (long) st.st_size));
	}
	g_ptr_array_sort (lines, compare_strings);
	g_ptr_array_add (lines, NULL);
	return g_strjoinv ("\n", (char **) lines->pdata);
}

/* tetherd meets an outbox in a newer format: it says so, and neither uses nor removes it */
static void
test_newer_format (void)
{
	g_auto(Delivery) d = { 0 };
	g_autoptr(GKeyFile) state = g_key_file_new ();
	g_autoptr(GError) error = NULL;
	g_autoptr(TetherTestCtlResult) refused = NULL;
	g_autofree char *dir = NULL;
	g_autofree char *state_path = NULL;
	g_autofree char *before = NULL;
	g_autofree char *after = NULL;
	g_autofree char *state_text = NULL;

	delivery_start (&d, NULL);
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_REFUSE);
	delivery_provision (&d);
	delivery_add_connection (&d);
	for (guint seq = 0; seq < 3; seq++)
		g_assert_true (publish_one (&d, seq, 0, NULL, NULL, &error));
	tether_test_env_stop_daemon (d.env);

	/* what a later tether would write */
	dir = outbox_dir (&d);
	state_path = g_build_filename (dir, "outbox.state", NULL);
	g_assert_true (g_key_file_load_from_file (state, state_path, G_KEY_FILE_NONE, &error));
	g_key_file_set_integer (state, "outbox", "version", 9);
	g_assert_true (g_key_file_save_to_file (state, state_path, &error));
	before = list_tree (dir);

	tether_test_env_start_daemon (d.env);
	g_assert_true (tether_test_wait_until (names_version, &d, TETHER_TEST_TIMEOUT_MS));
	state_text = get_string_property (&d, "State");
	g_assert_cmpstr (state_text, ==, "failed");
	g_assert_false (publish_one (&d, 3, 0, NULL, NULL, &error));
	g_assert_nonnull (strstr (error->message, "version 9"));
	g_clear_error (&error);

	/* it may hold messages: removed only on purpose */
	refused = tether_test_env_ctl (d.env, NULL, "connection", "remove", CONNECTION, NULL);
	g_assert_cmpint (refused->status, !=, 0);
	g_assert_nonnull (strstr (refused->err, "--discard-queued"));
	tether_test_env_restart_daemon (d.env);
	g_assert_true (tether_test_wait_until (names_version, &d, TETHER_TEST_TIMEOUT_MS));
	after = list_tree (dir);
	g_assert_cmpstr (after, ==, before);
	g_assert_cmpuint (count_log_lines (&d, "newer than this tether reads"), >=, 2);

	tether_test_env_ctl_ok (d.env, "connection", "remove", CONNECTION, "--discard-queued",
	                        NULL);
	g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
}

static gboolean
has_no_segment (gpointer user_data)
{
	return count_files (user_data, ".log") == 0;
}

/* Purge empties the disk; RemoveConnection keeps a queue unless told; the CLI shows it */
static void
test_purge_and_remove (void)
{
	g_auto(Delivery) d = { 0 };
	g_autoptr(GError) error = NULL;
	g_autoptr(TetherTestCtlResult) shown = NULL;
	g_autoptr(TetherTestCtlResult) refused = NULL;
	g_autofree char *dir = NULL;

	delivery_start (&d, NULL);
	tether_test_proxy_set_mode (d.proxy, TETHER_TEST_PROXY_REFUSE);
	delivery_provision (&d);
	delivery_add_connection (&d);
	dir = outbox_dir (&d);
	for (guint seq = 0; seq < 10; seq++)
		g_assert_true (publish_one (&d, seq, 100, NULL, NULL, &error));
	g_assert_cmpuint (count_files (dir, ".log"), ==, 1);

	shown = tether_test_env_ctl (d.env, NULL, "connection", "show", CONNECTION, NULL);
	g_assert_cmpint (shown->status, ==, 0);
	g_assert_nonnull (strstr (shown->out, "\nqueued: 10\n"));
	g_assert_nonnull (strstr (shown->out, "\ndelivered: 0\n"));

	tether_test_env_ctl_ok (d.env, "connection", "purge", CONNECTION, NULL);
	g_assert_cmpuint (get_uint64_property (&d, "Queued"), ==, 0);
	g_assert_cmpuint (get_uint64_property (&d, "Dropped"), ==, 10);
	g_assert_true (tether_test_wait_until (has_no_segment, dir, TETHER_TEST_TIMEOUT_MS));

	/* queued again: removal refused, then discarded on purpose */
	g_assert_true (publish_one (&d, 10, 0, NULL, NULL, &error));
	refused = tether_test_env_ctl (d.env, NULL, "connection", "remove", CONNECTION, NULL);
	g_assert_cmpint (refused->status, !=, 0);
	g_assert_nonnull (strstr (refused->err, "queued"));
	g_assert_true (g_file_test (dir, G_FILE_TEST_IS_DIR));
	tether_test_env_ctl_ok (d.env, "connection", "remove", CONNECTION, "--discard-queued",
	                        NULL);
	g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
	tether_test_init (&argc, &argv);

	/* loss tests: every acknowledged number reaches the subscriber */
	tether_test_add ("/delivery/loss/broker-restarts", test_broker_restarts);
	tether_test_add ("/delivery/loss/daemon-killed", test_daemon_killed);
	tether_test_add ("/delivery/loss/before-first-connection", test_before_first_connection);
	tether_test_add ("/delivery/loss/flaky-link", test_flaky_link);
	tether_test_add ("/delivery/loss/damaged-outbox", test_damaged_outbox);
	tether_test_add ("/delivery/loss/full-disk", test_full_disk);

	tether_test_add ("/delivery/limit/refuse", test_limit_refuse);
	tether_test_add ("/delivery/limit/drop-oldest", test_limit_drop_oldest);
	tether_test_add ("/delivery/expires-in", test_expires_in);
	tether_test_add ("/delivery/dead-letter", test_poison_dead_letter);
	tether_test_add ("/delivery/publish-while-connecting", test_publish_while_connecting);
	tether_test_add ("/delivery/one-daemon-per-state-dir", test_one_daemon_per_state_dir);
	tether_test_add ("/delivery/duplicate-client-id", test_duplicate_client_id);
	tether_test_add ("/delivery/purge-and-remove", test_purge_and_remove);
	tether_test_add ("/delivery/state-logged-once", test_state_logged_once);
	tether_test_add ("/delivery/network-back", test_network_back);
	tether_test_add ("/delivery/newer-format", test_newer_format);
	return g_test_run ();
}
