/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * bench-client: the benchmark's D-Bus side, on the session bus.
 *
 *   bench-client call --dest NAME --path PATH --interface IFACE [--batch B]
 *                     --count N --size S --window W [--wait-delivered] [--timeout SEC]
 *     calls IFACE.Publish (s kind, ay payload, a{sv} options) once per message,
 *     or IFACE.PublishBatch with B messages a call, keeping W calls in
 *     flight; with --wait-delivered it also waits until the connection's
 *     Delivered property has grown by N. While it runs it samples the
 *     memory of the process that owns NAME (/proc/PID/smaps_rollup) and
 *     reads its CPU time (/proc/PID/stat). Prints one JSON object; times
 *     are on CLOCK_MONOTONIC, which every process shares.
 *   bench-client wait-connected --path PATH [--timeout SEC]
 *     waits until org.tether.Tether1 is on the bus and the connection at
 *     PATH is "connected"; prints the wall-clock time of that moment
 *     (connected_real_us) so a script can subtract the time it started tetherd.
 */

#include <gio/gio.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define TETHER_BUS_NAME         "org.tether.Tether1"
#define TETHER_CONNECTION_IFACE "org.tether.Connection1"
/* how often the daemon's memory is sampled during a run */
#define BENCH_SAMPLE_MS 100

static gchar *opt_dest;
static gchar *opt_path;
static gchar *opt_interface;
static gchar *opt_kind;
static gint64 opt_count = 1000;
static gint opt_size = 256;
static gint opt_window = 256;
static gint opt_batch = 0;
static gint opt_timeout = 300;
static gboolean opt_wait_delivered;

typedef struct {
	guint64 rss_kb;
	guint64 pss_kb;
	guint64 anon_kb;
} Memory;

typedef struct {
	GMainLoop *loop;
	GDBusConnection *bus;
	gchar *failure;

	/* what one call carries */
	GVariant *single;    /* (s ay a{sv}), or the full batch */
	GVariant *remainder; /* the last, shorter batch */
	guint64 per_call;
	guint64 n_calls;

	guint64 sent_calls;
	guint64 replied_calls;
	gint64 start_us;
	gint64 replied_us;
	GArray *latencies; /* gint64 µs per call */

	/* delivery, from the connection's Delivered property */
	guint64 delivered_base;
	guint64 delivered;
	gint64 delivered_us;
	guint signal_id;

	/* the daemon's process */
	guint32 pid;
	Memory peak;
	gdouble cpu_start_ms;
	gdouble cpu_end_ms;
	gdouble own_cpu_start_ms;
	guint64 properties_changed;
	guint64 queue_full; /* calls refused with QueueFull and sent again */

	gboolean connected;
} Client;

typedef struct {
	Client *client;
	guint slot;
	gint64 sent_us;
	GVariant *parameters;
} CallData;

/* how long a call refused with QueueFull waits before it goes again */
#define BENCH_QUEUE_FULL_WAIT_MS 10

static void
client_fail (Client *client, const gchar *message)
{
	if (client->failure == NULL)
		client->failure = g_strdup (message);
	g_main_loop_quit (client->loop);
}

static gboolean
read_memory (guint32 pid, Memory *memory)
{
	g_autofree gchar *path = g_strdup_printf ("/proc/%u/smaps_rollup", pid);
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents (path, &text, NULL, NULL))
		return FALSE;
	lines = g_strsplit (text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		guint64 *field = NULL;
		const gchar *value;

		if (g_str_has_prefix (lines[i], "Rss:"))
			field = &memory->rss_kb;
		else if (g_str_has_prefix (lines[i], "Pss:"))
			field = &memory->pss_kb;
		else if (g_str_has_prefix (lines[i], "Anonymous:"))
			field = &memory->anon_kb;
		if (field == NULL)
			continue;
		value = strchr (lines[i], ':') + 1;
		*field = g_ascii_strtoull (value, NULL, 10);
	}
	return TRUE;
}

/* user and system time of @pid in milliseconds, or -1 */
static gdouble
read_cpu_ms (guint32 pid)
{
	g_autofree gchar *path = g_strdup_printf ("/proc/%u/stat", pid);
	g_autofree gchar *text = NULL;
	g_auto(GStrv) fields = NULL;
	const gchar *after_name;
	glong ticks = sysconf (_SC_CLK_TCK);

	if (!g_file_get_contents (path, &text, NULL, NULL))
		return -1;
	/* the name in parentheses may hold spaces: count from its end */
	after_name = strrchr (text, ')');
	if (after_name == NULL)
		return -1;
	fields = g_strsplit (after_name + 2, " ", -1);
	if (g_strv_length (fields) < 13)
		return -1;
	/* fields 14 (utime) and 15 (stime) of proc(5), counted from state (3) */
	return (gdouble) (g_ascii_strtoull (fields[11], NULL, 10) +
	                  g_ascii_strtoull (fields[12], NULL, 10)) *
	       1000.0 / (gdouble) ticks;
}

static gdouble
own_cpu_ms (void)
{
	struct rusage usage;

	getrusage (RUSAGE_SELF, &usage);
	return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000.0 +
	       (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000.0;
}

static gboolean
sample_cb (gpointer user_data)
{
	Client *client = user_data;
	Memory now = { 0 };

	if (client->pid != 0 && read_memory (client->pid, &now)) {
		client->peak.rss_kb = MAX (client->peak.rss_kb, now.rss_kb);
		client->peak.pss_kb = MAX (client->peak.pss_kb, now.pss_kb);
		client->peak.anon_kb = MAX (client->peak.anon_kb, now.anon_kb);
	}
	return G_SOURCE_CONTINUE;
}

static gboolean
run_is_done (Client *client)
{
	if (client->replied_calls < client->n_calls)
		return FALSE;
	if (!opt_wait_delivered)
		return TRUE;
	return client->delivered >= client->delivered_base + (guint64) opt_count;
}

static void
check_done (Client *client)
{
	if (run_is_done (client))
		g_main_loop_quit (client->loop);
}

static void send_call (Client *client, guint slot);
static void call_again (CallData *data);

static gboolean
call_again_cb (gpointer user_data)
{
	call_again (user_data);
	return G_SOURCE_REMOVE;
}

static void
call_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autofree CallData *data = user_data;
	Client *client = data->client;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;
	gint64 now;
	gint64 latency;

	reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
	now = g_get_monotonic_time ();

	/* the outbox is full: the daemon pushes back, the call goes again a little later */
	if (reply == NULL && g_dbus_error_is_remote_error (error) &&
	    g_strcmp0 (g_dbus_error_get_remote_error (error), "org.tether.Error.QueueFull") == 0) {
		client->queue_full++;
		g_timeout_add (BENCH_QUEUE_FULL_WAIT_MS, call_again_cb, g_steal_pointer (&data));
		return;
	}
	g_variant_unref (data->parameters);
	if (reply == NULL) {
		g_autofree gchar *text = g_strdup_printf ("call %" G_GUINT64_FORMAT " failed: %s",
		                                          client->replied_calls, error->message);
		client_fail (client, text);
		return;
	}
	latency = now - data->sent_us;
	g_array_append_val (client->latencies, latency);
	client->replied_calls++;
	client->replied_us = now;
	if (client->sent_calls < client->n_calls)
		send_call (client, data->slot);
	check_done (client);
}

static void
send_call (Client *client, guint slot)
{
	CallData *data = g_new0 (CallData, 1);
	gboolean last = client->sent_calls + 1 == client->n_calls;

	data->parameters = g_variant_ref (last && client->remainder != NULL ? client->remainder
	                                                                    : client->single);
	data->client = client;
	data->slot = slot;
	data->sent_us = g_get_monotonic_time ();
	client->sent_calls++;
	call_again (data);
}

/* the latency of a call that had to go again counts from its first try */
static void
call_again (CallData *data)
{
	g_dbus_connection_call (data->client->bus, opt_dest, opt_path, opt_interface,
	                        opt_batch > 0 ? "PublishBatch" : "Publish", data->parameters, NULL,
	                        G_DBUS_CALL_FLAGS_NO_AUTO_START, opt_timeout * 1000, NULL, call_cb,
	                        data);
}

/* a JSON object of exactly @size bytes that ThingsBoard accepts */
static GVariant *
make_payload (gsize size)
{
	guint8 *payload = g_malloc (size);

	memset (payload, 'x', size);
	memcpy (payload, "{\"v\":\"", 6);
	memcpy (payload + size - 2, "\"}", 2);
	return g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING, payload, size, TRUE, g_free,
	                                payload);
}

static GVariant *
make_batch (GVariant *payload, GVariant *options, guint64 n)
{
	GVariantBuilder builder;

	g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(saya{sv})"));
	for (guint64 i = 0; i < n; i++)
		g_variant_builder_add (&builder, "(s@ay@a{sv})", opt_kind, payload, options);
	return g_variant_ref_sink (
	        g_variant_new ("(@a(saya{sv}))", g_variant_builder_end (&builder)));
}

static void
properties_changed_cb (GDBusConnection *bus, const gchar *sender, const gchar *path,
                       const gchar *interface, const gchar *signal, GVariant *parameters,
                       gpointer user_data)
{
	Client *client = user_data;
	g_autoptr(GVariant) changed = NULL;
	const gchar *state = NULL;

	g_variant_get (parameters, "(&s@a{sv}@as)", NULL, &changed, NULL);
	client->properties_changed++;
	if (g_variant_lookup (changed, "Delivered", "t", &client->delivered)) {
		if (client->delivered >= client->delivered_base + (guint64) opt_count &&
		    client->delivered_us == 0)
			client->delivered_us = g_get_monotonic_time ();
		check_done (client);
	}
	if (g_variant_lookup (changed, "State", "&s", &state) &&
	    g_strcmp0 (state, "connected") == 0 && !client->connected) {
		client->connected = TRUE;
		g_print ("{\"connected_real_us\": %" G_GINT64_FORMAT "}\n", g_get_real_time ());
		g_main_loop_quit (client->loop);
	}
}

static guint
subscribe_properties (Client *client, const gchar *sender)
{
	return g_dbus_connection_signal_subscribe (
	        client->bus, sender, "org.freedesktop.DBus.Properties", "PropertiesChanged",
	        opt_path, TETHER_CONNECTION_IFACE, G_DBUS_SIGNAL_FLAGS_NONE, properties_changed_cb,
	        client, NULL);
}

static GVariant *
get_property (Client *client, const gchar *name, GError **error)
{
	g_autoptr(GVariant) reply = NULL;
	GVariant *value = NULL;

	reply = g_dbus_connection_call_sync (
	        client->bus, opt_dest, opt_path, "org.freedesktop.DBus.Properties", "Get",
	        g_variant_new ("(ss)", TETHER_CONNECTION_IFACE, name), G_VARIANT_TYPE ("(v)"),
	        G_DBUS_CALL_FLAGS_NO_AUTO_START, 10000, NULL, error);
	if (reply == NULL)
		return NULL;
	g_variant_get (reply, "(v)", &value);
	return value;
}

static guint32
owner_pid (Client *client, GError **error)
{
	g_autoptr(GVariant) reply = NULL;
	guint32 pid = 0;

	reply = g_dbus_connection_call_sync (
	        client->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
	        "org.freedesktop.DBus", "GetConnectionUnixProcessID",
	        g_variant_new ("(s)", opt_dest), G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE,
	        10000, NULL, error);
	if (reply == NULL)
		return 0;
	g_variant_get (reply, "(u)", &pid);
	return pid;
}

static gboolean
timeout_cb (gpointer user_data)
{
	Client *client = user_data;
	g_autofree gchar *text = g_strdup_printf (
	        "timed out: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " calls answered, "
	        "%" G_GUINT64_FORMAT " of %" G_GINT64_FORMAT " delivered",
	        client->replied_calls, client->n_calls, client->delivered - client->delivered_base,
	        opt_count);

	client_fail (client, text);
	return G_SOURCE_REMOVE;
}

static gint
compare_gint64 (gconstpointer a, gconstpointer b)
{
	gint64 x = *(const gint64 *) a;
	gint64 y = *(const gint64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

static gint64
percentile (GArray *sorted, gdouble fraction)
{
	guint index;

	if (sorted->len == 0)
		return 0;
	index = (guint) (fraction * (sorted->len - 1) + 0.5);
	return g_array_index (sorted, gint64, MIN (index, sorted->len - 1));
}

static gboolean
run_call (Client *client, GError **error)
{
	g_autoptr(GVariant) payload = g_variant_ref_sink (make_payload ((gsize) opt_size));
	g_autoptr(GVariant) options = g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
	guint64 window;
	guint sample_id;
	guint timeout_id;

	if (opt_dest == NULL || opt_path == NULL || opt_interface == NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		             "--dest, --path and --interface are needed");
		return FALSE;
	}

	/* what the calls carry, made once: the bench measures the service, not itself */
	if (opt_batch > 0) {
		guint64 rest = (guint64) opt_count % (guint64) opt_batch;

		client->per_call = (guint64) opt_batch;
		client->n_calls = ((guint64) opt_count + client->per_call - 1) / client->per_call;
		client->single = make_batch (payload, options,
		                             MIN ((guint64) opt_batch, (guint64) opt_count));
		if (rest != 0 && client->n_calls > 1)
			client->remainder = make_batch (payload, options, rest);
	} else {
		client->per_call = 1;
		client->n_calls = (guint64) opt_count;
		client->single = g_variant_ref_sink (
		        g_variant_new ("(s@ay@a{sv})", opt_kind, payload, options));
	}
	client->latencies = g_array_sized_new (FALSE, FALSE, sizeof (gint64), client->n_calls);

	/* the daemon's process, and where Delivered starts */
	client->pid = owner_pid (client, error);
	if (client->pid == 0)
		return FALSE;
	if (opt_wait_delivered) {
		g_autoptr(GVariant) value = NULL;

		client->signal_id = subscribe_properties (client, opt_dest);
		value = get_property (client, "Delivered", error);
		if (value == NULL)
			return FALSE;
		client->delivered_base = g_variant_get_uint64 (value);
		client->delivered = client->delivered_base;
	}
	sample_cb (client);
	client->cpu_start_ms = read_cpu_ms (client->pid);
	client->own_cpu_start_ms = own_cpu_ms ();

	/* a window of calls in flight, each answer sends the next */
	sample_id = g_timeout_add (BENCH_SAMPLE_MS, sample_cb, client);
	timeout_id = g_timeout_add_seconds ((guint) opt_timeout, timeout_cb, client);
	window = MIN ((guint64) opt_window, client->n_calls);
	client->start_us = g_get_monotonic_time ();
	for (guint64 i = 0; i < window; i++)
		send_call (client, (guint) i);
	g_main_loop_run (client->loop);
	g_source_remove (sample_id);
	if (client->failure == NULL)
		g_source_remove (timeout_id);
	sample_cb (client);
	client->cpu_end_ms = read_cpu_ms (client->pid);
	if (client->signal_id != 0)
		g_dbus_connection_signal_unsubscribe (client->bus, client->signal_id);

	if (client->failure != NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", client->failure);
		return FALSE;
	}
	g_array_sort (client->latencies, compare_gint64);
	g_print ("{\"start_us\": %" G_GINT64_FORMAT ", \"replied_us\": %" G_GINT64_FORMAT
	         ", \"delivered_us\": %" G_GINT64_FORMAT ", \"count\": %" G_GINT64_FORMAT
	         ", \"calls\": %" G_GUINT64_FORMAT ", \"latency_median_us\": %" G_GINT64_FORMAT
	         ", \"latency_p99_us\": %" G_GINT64_FORMAT ", \"cpu_ms\": %.1f"
	         ", \"pid\": %u, \"rss_peak_kb\": %" G_GUINT64_FORMAT
	         ", \"pss_peak_kb\": %" G_GUINT64_FORMAT ", \"anon_peak_kb\": %" G_GUINT64_FORMAT
	         ", \"client_cpu_ms\": %.1f, \"properties_changed\": %" G_GUINT64_FORMAT
	         ", \"queue_full\": %" G_GUINT64_FORMAT "}\n",
	         client->start_us, client->replied_us, client->delivered_us, opt_count,
	         client->n_calls, percentile (client->latencies, 0.5),
	         percentile (client->latencies, 0.99), client->cpu_end_ms - client->cpu_start_ms,
	         client->pid, client->peak.rss_kb, client->peak.pss_kb, client->peak.anon_kb,
	         own_cpu_ms () - client->own_cpu_start_ms, client->properties_changed,
	         client->queue_full);
	return TRUE;
}

static void
state_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	Client *client = user_data;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) value = NULL;

	/* no such object yet: its PropertiesChanged will tell */
	reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, NULL);
	if (reply == NULL)
		return;
	g_variant_get (reply, "(v)", &value);
	if (g_strcmp0 (g_variant_get_string (value, NULL), "connected") == 0 &&
	    !client->connected) {
		client->connected = TRUE;
		g_print ("{\"connected_real_us\": %" G_GINT64_FORMAT "}\n", g_get_real_time ());
		g_main_loop_quit (client->loop);
	}
}

static void
name_appeared_cb (GDBusConnection *bus, const gchar *name, const gchar *owner, gpointer user_data)
{
	Client *client = user_data;

	/* changes first, then the present state, so nothing falls between */
	if (client->signal_id == 0)
		client->signal_id = subscribe_properties (client, owner);
	g_dbus_connection_call (bus, owner, opt_path, "org.freedesktop.DBus.Properties", "Get",
	                        g_variant_new ("(ss)", TETHER_CONNECTION_IFACE, "State"),
	                        G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, 10000,
	                        NULL, state_cb, client);
}

static gboolean
run_wait_connected (Client *client, GError **error)
{
	guint watch_id;
	guint timeout_id;

	if (opt_path == NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "--path is needed");
		return FALSE;
	}
	watch_id = g_bus_watch_name_on_connection (client->bus, TETHER_BUS_NAME,
	                                           G_BUS_NAME_WATCHER_FLAGS_NONE, name_appeared_cb,
	                                           NULL, client, NULL);
	timeout_id = g_timeout_add_seconds ((guint) opt_timeout, timeout_cb, client);
	g_main_loop_run (client->loop);
	g_bus_unwatch_name (watch_id);
	if (client->failure == NULL)
		g_source_remove (timeout_id);
	if (!client->connected) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
		             "the connection at %s did not connect", opt_path);
		return FALSE;
	}
	return TRUE;
}

int
main (int argc, char **argv)
{
	/* clang-format off */
	const GOptionEntry entries[] = {
		{ "dest", 0, 0, G_OPTION_ARG_STRING, &opt_dest, "the service's bus name", "NAME" },
		{ "path", 0, 0, G_OPTION_ARG_STRING, &opt_path, "the object path", "PATH" },
		{ "interface", 0, 0, G_OPTION_ARG_STRING, &opt_interface, "the interface", "IFACE" },
		{ "kind", 0, 0, G_OPTION_ARG_STRING, &opt_kind, "the message kind", "KIND" },
		{ "count", 0, 0, G_OPTION_ARG_INT64, &opt_count, "messages", "N" },
		{ "size", 0, 0, G_OPTION_ARG_INT, &opt_size, "payload bytes", "S" },
		{ "window", 0, 0, G_OPTION_ARG_INT, &opt_window, "calls in flight", "W" },
		{ "batch", 0, 0, G_OPTION_ARG_INT, &opt_batch, "PublishBatch with B messages", "B" },
		{ "wait-delivered", 0, 0, G_OPTION_ARG_NONE, &opt_wait_delivered,
		  "wait until Delivered grew by N", NULL },
		{ "timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout, "seconds to wait", "SEC" },
		{ NULL }
	};
	/* clang-format on */
	g_autoptr(GOptionContext) context = g_option_context_new ("call|wait-connected");
	g_autoptr(GError) error = NULL;
	g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
	Client client = { 0 };
	gboolean ok;

	setlocale (LC_ALL, "C");
	g_option_context_add_main_entries (context, entries, NULL);
	if (!g_option_context_parse (context, &argc, &argv, &error) || argc != 2) {
		g_printerr ("bench-client: %s\n", error != NULL ? error->message : "name a mode");
		return 2;
	}
	if (opt_count < 1 || opt_size < 8 || opt_window < 1 || opt_batch < 0 || opt_timeout < 1) {
		g_printerr ("bench-client: --count and --window at least 1, --size at least 8\n");
		return 2;
	}
	if (opt_kind == NULL)
		opt_kind = g_strdup ("telemetry");

	client.loop = loop;
	client.bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
	if (client.bus == NULL) {
		g_printerr ("bench-client: %s\n", error->message);
		return 1;
	}
	if (g_str_equal (argv[1], "call")) {
		ok = run_call (&client, &error);
	} else if (g_str_equal (argv[1], "wait-connected")) {
		ok = run_wait_connected (&client, &error);
	} else {
		g_printerr ("bench-client: unknown mode %s\n", argv[1]);
		return 2;
	}
	g_clear_pointer (&client.single, g_variant_unref);
	g_clear_pointer (&client.remainder, g_variant_unref);
	g_clear_pointer (&client.latencies, g_array_unref);
	g_clear_object (&client.bus);
	if (!ok) {
		g_printerr ("bench-client %s: %s\n", argv[1], error->message);
		return 1;
	}
	return 0;
}
