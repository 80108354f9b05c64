/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * bench-mqtt: the benchmark's own MQTT clients on Paho's asynchronous API,
 * over mutual TLS, configured as tetherd configures its session.
 *
 *   bench-mqtt publish --uri URI --ca F --cert F --key F --topic T --count N --size S --window W
 *     the baseline: N QoS 1 messages of S bytes, at most W unacknowledged;
 *     prints one JSON object (start_us, acked_us on the monotonic clock, cpu_ms)
 *   bench-mqtt subscribe --uri URI --ca F --cert F --key F --topic T --count N --timeout SEC
 *     prints "ready" once subscribed, then one JSON object when N messages
 *     arrived (first_us, last_us) or the timeout passed (count says how many)
 *
 * Both report times from CLOCK_MONOTONIC, which every process on the
 * machine shares, so scripts/bench can compare them across processes.
 */

#include <MQTTAsync.h>
#include <gio/gio.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* seconds to connect and subscribe */
#define BENCH_CONNECT_TIMEOUT 20
/* seconds the publisher waits for one acknowledgement before it gives up */
#define BENCH_ACK_TIMEOUT 60

typedef struct {
	GMutex lock;
	GCond cond;
	gboolean connected;
	gboolean subscribed;
	gchar *failure;
	guint64 in_flight;
	guint64 acked;
	guint64 received;
	guint64 expected;
	gint64 first_us;
	gint64 last_us;
} Bench;

static gchar *opt_uri;
static gchar *opt_ca;
static gchar *opt_cert;
static gchar *opt_key;
static gchar *opt_topic;
static gchar *opt_client_id;
static gint64 opt_count = 1000;
static gint opt_size = 256;
static gint opt_window = 256;
static gint opt_timeout = 120;

static void
bench_fail (Bench *bench, const gchar *what, gint code, const gchar *message)
{
	g_mutex_lock (&bench->lock);
	if (bench->failure == NULL) {
		bench->failure = g_strdup_printf (
		        "%s: %s (Paho code %d)", what,
		        message != NULL ? message : MQTTAsync_strerror (code), code);
	}
	g_cond_broadcast (&bench->cond);
	g_mutex_unlock (&bench->lock);
}

static void
on_connected (void *context, MQTTAsync_successData *response)
{
	Bench *bench = context;

	g_mutex_lock (&bench->lock);
	bench->connected = TRUE;
	g_cond_broadcast (&bench->cond);
	g_mutex_unlock (&bench->lock);
}

static void
on_connect_failed (void *context, MQTTAsync_failureData *response)
{
	bench_fail (context, "cannot connect", response != NULL ? response->code : -1,
	            response != NULL ? response->message : NULL);
}

static void
on_connection_lost (void *context, char *cause)
{
	bench_fail (context, "connection lost", MQTTASYNC_DISCONNECTED, cause);
}

static void
on_subscribed (void *context, MQTTAsync_successData *response)
{
	Bench *bench = context;

	g_mutex_lock (&bench->lock);
	bench->subscribed = TRUE;
	g_cond_broadcast (&bench->cond);
	g_mutex_unlock (&bench->lock);
}

static void
on_subscribe_failed (void *context, MQTTAsync_failureData *response)
{
	bench_fail (context, "cannot subscribe", response != NULL ? response->code : -1,
	            response != NULL ? response->message : NULL);
}

static void
on_sent (void *context, MQTTAsync_successData *response)
{
	Bench *bench = context;

	g_mutex_lock (&bench->lock);
	bench->in_flight--;
	bench->acked++;
	g_cond_broadcast (&bench->cond);
	g_mutex_unlock (&bench->lock);
}

static void
on_send_failed (void *context, MQTTAsync_failureData *response)
{
	bench_fail (context, "a publish failed", response != NULL ? response->code : -1,
	            response != NULL ? response->message : NULL);
}

static int
on_message (void *context, char *topic, int topic_len, MQTTAsync_message *message)
{
	Bench *bench = context;
	gint64 now = g_get_monotonic_time ();

	MQTTAsync_freeMessage (&message);
	MQTTAsync_free (topic);
	g_mutex_lock (&bench->lock);
	if (bench->received == 0)
		bench->first_us = now;
	bench->received++;
	bench->last_us = now;
	if (bench->received >= bench->expected)
		g_cond_broadcast (&bench->cond);
	g_mutex_unlock (&bench->lock);
	return 1;
}

/* waits, with the lock held, until @done says so, a failure, or @deadline */
static gboolean
wait_locked (Bench *bench, gboolean (*done) (Bench *), gint64 deadline)
{
	while (!done (bench) && bench->failure == NULL) {
		if (!g_cond_wait_until (&bench->cond, &bench->lock, deadline))
			return done (bench);
	}
	return bench->failure == NULL;
}

static gboolean
is_connected (Bench *bench)
{
	return bench->connected;
}

static gboolean
is_subscribed (Bench *bench)
{
	return bench->subscribed;
}

static gboolean
window_has_room (Bench *bench)
{
	return bench->in_flight < (guint64) opt_window;
}

static gboolean
all_acked (Bench *bench)
{
	return bench->acked >= bench->expected;
}

static gboolean
all_received (Bench *bench)
{
	return bench->received >= bench->expected;
}

static gboolean
connect_client (MQTTAsync *client, Bench *bench, GError **error)
{
	MQTTAsync_createOptions create_opts = MQTTAsync_createOptions_initializer;
	MQTTAsync_connectOptions conn_opts = MQTTAsync_connectOptions_initializer;
	MQTTAsync_SSLOptions ssl_opts = MQTTAsync_SSLOptions_initializer;
	MQTTAsync_init_options inits = MQTTAsync_init_options_initializer;
	gint rc;
	gboolean ok;

	inits.do_openssl_init = 1;
	MQTTAsync_global_init (&inits);

	create_opts.MQTTVersion = MQTTVERSION_3_1_1;
	/* a full window may wait in Paho's queue before its thread writes it */
	create_opts.maxBufferedMessages = opt_window;
	rc = MQTTAsync_createWithOptions (client, opt_uri, opt_client_id,
	                                  MQTTCLIENT_PERSISTENCE_NONE, NULL, &create_opts);
	if (rc != MQTTASYNC_SUCCESS) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot create the client: %s",
		             MQTTAsync_strerror (rc));
		return FALSE;
	}
	MQTTAsync_setCallbacks (*client, bench, on_connection_lost, on_message, NULL);

	/* what tetherd sets for its own session */
	ssl_opts.trustStore = opt_ca;
	ssl_opts.keyStore = opt_cert;
	ssl_opts.privateKey = opt_key;
	ssl_opts.privateKeyPassword = "";
	ssl_opts.enableServerCertAuth = 1;
	ssl_opts.verify = 1;
	ssl_opts.disableDefaultTrustStore = 1;
	ssl_opts.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
	conn_opts.keepAliveInterval = 60;
	conn_opts.cleansession = 1;
	conn_opts.ssl = &ssl_opts;
	conn_opts.connectTimeout = BENCH_CONNECT_TIMEOUT;
	conn_opts.maxInflight = opt_window;
	conn_opts.onSuccess = on_connected;
	conn_opts.onFailure = on_connect_failed;
	conn_opts.context = bench;
	rc = MQTTAsync_connect (*client, &conn_opts);
	if (rc != MQTTASYNC_SUCCESS) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot start connecting: %s",
		             MQTTAsync_strerror (rc));
		return FALSE;
	}

	g_mutex_lock (&bench->lock);
	ok = wait_locked (bench, is_connected,
	                  g_get_monotonic_time () + BENCH_CONNECT_TIMEOUT * G_USEC_PER_SEC);
	g_mutex_unlock (&bench->lock);
	if (!ok) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s",
		             bench->failure != NULL ? bench->failure : "timed out connecting");
		return FALSE;
	}
	return TRUE;
}

/* a JSON object of exactly @size bytes that ThingsBoard accepts */
static gchar *
make_payload (gsize size)
{
	gchar *payload = g_malloc (size);

	memset (payload, 'x', size);
	memcpy (payload, "{\"v\":\"", 6);
	memcpy (payload + size - 2, "\"}", 2);
	return payload;
}

static gdouble
cpu_ms_self (void)
{
	struct rusage usage;

	getrusage (RUSAGE_SELF, &usage);
	return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000.0 +
	       (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000.0;
}

static gboolean
run_publish (Bench *bench, GError **error)
{
	MQTTAsync client = NULL;
	MQTTAsync_disconnectOptions disc = MQTTAsync_disconnectOptions_initializer;
	g_autofree gchar *payload = make_payload ((gsize) opt_size);
	gint64 start_us;
	gint64 acked_us;
	gdouble cpu_start;
	gboolean ok = TRUE;

	if (!connect_client (&client, bench, error)) {
		MQTTAsync_destroy (&client);
		return FALSE;
	}

	bench->expected = (guint64) opt_count;
	cpu_start = cpu_ms_self ();
	start_us = g_get_monotonic_time ();
	for (gint64 i = 0; i < opt_count && ok; i++) {
		MQTTAsync_message message = MQTTAsync_message_initializer;
		MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
		gint rc;

		/* at most a window of messages unacknowledged */
		g_mutex_lock (&bench->lock);
		ok = wait_locked (bench, window_has_room,
		                  g_get_monotonic_time () + BENCH_ACK_TIMEOUT * G_USEC_PER_SEC);
		if (ok)
			bench->in_flight++;
		g_mutex_unlock (&bench->lock);
		if (!ok)
			break;

		message.payload = payload;
		message.payloadlen = opt_size;
		message.qos = 1;
		opts.onSuccess = on_sent;
		opts.onFailure = on_send_failed;
		opts.context = bench;
		rc = MQTTAsync_sendMessage (client, opt_topic, &message, &opts);
		if (rc != MQTTASYNC_SUCCESS)
			bench_fail (bench, "cannot send", rc, NULL);
	}

	g_mutex_lock (&bench->lock);
	ok = ok && wait_locked (bench, all_acked,
	                        g_get_monotonic_time () + BENCH_ACK_TIMEOUT * G_USEC_PER_SEC);
	g_mutex_unlock (&bench->lock);
	acked_us = g_get_monotonic_time ();
	if (!ok) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
		             "%s after %" G_GUINT64_FORMAT " of %" G_GINT64_FORMAT " acknowledged",
		             bench->failure != NULL ? bench->failure : "timed out", bench->acked,
		             opt_count);
	} else {
		g_print ("{\"start_us\": %" G_GINT64_FORMAT ", \"acked_us\": %" G_GINT64_FORMAT
		         ", \"count\": %" G_GINT64_FORMAT ", \"cpu_ms\": %.1f}\n",
		         start_us, acked_us, opt_count, cpu_ms_self () - cpu_start);
	}
	disc.timeout = 1000;
	MQTTAsync_disconnect (client, &disc);
	MQTTAsync_destroy (&client);
	return ok;
}

static gboolean
run_subscribe (Bench *bench, GError **error)
{
	MQTTAsync client = NULL;
	MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
	gdouble cpu_start;
	gboolean ok;
	gint rc;

	bench->expected = (guint64) opt_count;
	if (!connect_client (&client, bench, error)) {
		MQTTAsync_destroy (&client);
		return FALSE;
	}
	opts.onSuccess = on_subscribed;
	opts.onFailure = on_subscribe_failed;
	opts.context = bench;
	rc = MQTTAsync_subscribe (client, opt_topic, 1, &opts);
	if (rc != MQTTASYNC_SUCCESS)
		bench_fail (bench, "cannot subscribe", rc, NULL);
	g_mutex_lock (&bench->lock);
	ok = wait_locked (bench, is_subscribed,
	                  g_get_monotonic_time () + BENCH_CONNECT_TIMEOUT * G_USEC_PER_SEC);
	g_mutex_unlock (&bench->lock);
	if (!ok) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s",
		             bench->failure != NULL ? bench->failure : "timed out subscribing");
		MQTTAsync_destroy (&client);
		return FALSE;
	}
	g_print ("ready\n");
	fflush (stdout);
	cpu_start = cpu_ms_self ();

	g_mutex_lock (&bench->lock);
	ok = wait_locked (bench, all_received,
	                  g_get_monotonic_time () + (gint64) opt_timeout * G_USEC_PER_SEC);
	g_print ("{\"first_us\": %" G_GINT64_FORMAT ", \"last_us\": %" G_GINT64_FORMAT
	         ", \"count\": %" G_GUINT64_FORMAT ", \"cpu_ms\": %.1f}\n",
	         bench->first_us, bench->last_us, bench->received, cpu_ms_self () - cpu_start);
	fflush (stdout);
	if (!ok) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
		             "%" G_GUINT64_FORMAT " of %" G_GINT64_FORMAT " messages arrived%s%s",
		             bench->received, opt_count, bench->failure != NULL ? ": " : "",
		             bench->failure != NULL ? bench->failure : "");
	}
	g_mutex_unlock (&bench->lock);
	MQTTAsync_destroy (&client);
	return ok;
}

int
main (int argc, char **argv)
{
	/* clang-format off */
	const GOptionEntry entries[] = {
		{ "uri", 0, 0, G_OPTION_ARG_STRING, &opt_uri, "ssl://HOST:PORT", "URI" },
		{ "ca", 0, 0, G_OPTION_ARG_FILENAME, &opt_ca, "the server's CA", "FILE" },
		{ "cert", 0, 0, G_OPTION_ARG_FILENAME, &opt_cert, "the client's chain", "FILE" },
		{ "key", 0, 0, G_OPTION_ARG_FILENAME, &opt_key, "the client's key", "FILE" },
		{ "topic", 0, 0, G_OPTION_ARG_STRING, &opt_topic, "the topic", "TOPIC" },
		{ "client-id", 0, 0, G_OPTION_ARG_STRING, &opt_client_id, "the client id", "ID" },
		{ "count", 0, 0, G_OPTION_ARG_INT64, &opt_count, "messages", "N" },
		{ "size", 0, 0, G_OPTION_ARG_INT, &opt_size, "payload bytes", "S" },
		{ "window", 0, 0, G_OPTION_ARG_INT, &opt_window, "unacknowledged at most", "W" },
		{ "timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout, "seconds to wait", "SEC" },
		{ NULL }
	};
	/* clang-format on */
	g_autoptr(GOptionContext) context = g_option_context_new ("publish|subscribe");
	g_autoptr(GError) error = NULL;
	Bench bench = { 0 };
	gboolean ok;

	setlocale (LC_ALL, "C");
	g_option_context_add_main_entries (context, entries, NULL);
	if (!g_option_context_parse (context, &argc, &argv, &error) || argc != 2) {
		g_printerr ("bench-mqtt: %s\n", error != NULL ? error->message : "name a mode");
		return 2;
	}
	if (opt_uri == NULL || opt_ca == NULL || opt_cert == NULL || opt_key == NULL ||
	    opt_topic == NULL || opt_count < 1 || opt_size < 8 || opt_window < 1) {
		g_printerr ("bench-mqtt: --uri, --ca, --cert, --key and --topic are needed; "
		            "--count at least 1, --size at least 8, --window at least 1\n");
		return 2;
	}
	if (opt_client_id == NULL)
		opt_client_id = g_strdup_printf ("bench-%s-%d", argv[1], (int) getpid ());

	g_mutex_init (&bench.lock);
	g_cond_init (&bench.cond);
	if (g_str_equal (argv[1], "publish")) {
		ok = run_publish (&bench, &error);
	} else if (g_str_equal (argv[1], "subscribe")) {
		ok = run_subscribe (&bench, &error);
	} else {
		g_printerr ("bench-mqtt: unknown mode %s\n", argv[1]);
		return 2;
	}
	if (!ok) {
		g_printerr ("bench-mqtt %s: %s\n", argv[1], error->message);
		return 1;
	}
	return 0;
}
