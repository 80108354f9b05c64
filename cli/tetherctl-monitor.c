/* tetherctl monitor: Received and MessageResult, one line each, as they come
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "tetherctl-commands.h"

typedef struct {
	TetherctlContext *ctx;
	GMainLoop *loop;
	/* object path -> connection id */
	GHashTable *ids;
	gboolean vanished;
} Monitor;

static const char *
connection_id (Monitor *monitor, const char *path)
{
	const char *id = g_hash_table_lookup (monitor->ids, path);

	if (id == NULL) {
		id = tetherctl_object_name (monitor->ctx, path, "org.tether.Connection1", "Id");
		g_hash_table_insert (monitor->ids, g_strdup (path), (gpointer) id);
	}
	return id;
}

static char *
now_text (void)
{
	return tetherctl_format_time (g_get_real_time () / G_USEC_PER_SEC);
}

static void
json_begin (JsonBuilder *builder, const char *signal_name, const char *id, const char *path)
{
	g_autofree char *time = now_text ();

	json_builder_begin_object (builder);
	tetherctl_json_string (builder, "time", time);
	tetherctl_json_string (builder, "signal", signal_name);
	tetherctl_json_string (builder, "connection", id);
	tetherctl_json_string (builder, "path", path);
}

/* people: TIME CONNECTION received KIND topic=TOPIC [DETAIL=VALUE...] payload=PAYLOAD */
static void
print_received (Monitor *monitor, const char *id, const char *path, GVariant *parameters)
{
	const char *kind;
	const char *topic;
	g_autoptr(GVariant) payload = NULL;
	g_autoptr(GVariant) details = NULL;
	gsize length = 0;
	const guint8 *data;

	g_variant_get (parameters, "(&s&s@ay@a{sv})", &kind, &topic, &payload, &details);
	data = g_variant_get_fixed_array (payload, &length, 1);

	if (monitor->ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();
		g_autofree char *base64 = g_base64_encode (data, length);

		json_begin (builder, "Received", id, path);
		tetherctl_json_string (builder, "kind", kind);
		tetherctl_json_string (builder, "topic", topic);
		/* "payload" as text when it is UTF-8 without NUL; "payload-base64" always */
		json_builder_set_member_name (builder, "payload");
		if (g_utf8_validate ((const char *) data, length, NULL) &&
		    memchr (data, '\0', length) == NULL) {
			g_autofree char *text = g_strndup ((const char *) data, length);

			json_builder_add_string_value (builder, text);
		} else {
			json_builder_add_null_value (builder);
		}
		tetherctl_json_string (builder, "payload-base64", base64);
		tetherctl_json_variant (builder, "details", details);
		json_builder_end_object (builder);
		tetherctl_print_json (builder);
	} else {
		g_autofree char *time = now_text ();
		g_autofree char *id_word = tetherctl_format_word (id, -1);
		g_autofree char *kind_word = tetherctl_format_word (kind, -1);
		g_autofree char *topic_word = tetherctl_format_word (topic, -1);
		g_autofree char *details_text = tetherctl_dict_text (details);
		g_autofree char *payload_word = tetherctl_format_word ((const char *) data, length);

		tetherctl_print ("%s %s received %s topic=%s%s%s payload=%s\n", time, id_word,
		                 kind_word, topic_word, details_text != NULL ? " " : "",
		                 details_text != NULL ? details_text : "", payload_word);
	}
}

/* people: TIME CONNECTION result ID STATUS [DETAIL=VALUE...] */
static void
print_result (Monitor *monitor, const char *id, const char *path, GVariant *parameters)
{
	guint64 message_id;
	const char *status;
	g_autoptr(GVariant) details = NULL;

	g_variant_get (parameters, "(t&s@a{sv})", &message_id, &status, &details);

	if (monitor->ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();

		json_begin (builder, "MessageResult", id, path);
		tetherctl_json_int (builder, "id", (gint64) message_id);
		tetherctl_json_string (builder, "status", status);
		tetherctl_json_variant (builder, "details", details);
		json_builder_end_object (builder);
		tetherctl_print_json (builder);
	} else {
		g_autofree char *time = now_text ();
		g_autofree char *id_word = tetherctl_format_word (id, -1);
		g_autofree char *status_word = tetherctl_format_word (status, -1);
		g_autofree char *details_text = tetherctl_dict_text (details);

		tetherctl_print ("%s %s result %" G_GUINT64_FORMAT " %s%s%s\n", time, id_word,
		                 message_id, status_word, details_text != NULL ? " " : "",
		                 details_text != NULL ? details_text : "");
	}
}

static void
on_signal (GDBusConnection *bus, const char *sender, const char *path, const char *interface_name,
           const char *signal_name, GVariant *parameters, gpointer user_data)
{
	Monitor *monitor = user_data;

	if (g_str_equal (signal_name, "Received") &&
	    g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(ssaya{sv})")))
		print_received (monitor, connection_id (monitor, path), path, parameters);
	else if (g_str_equal (signal_name, "MessageResult") &&
	         g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(tsa{sv})")))
		print_result (monitor, connection_id (monitor, path), path, parameters);
	else
		return;

	/* a reader on a pipe sees each line at once */
	fflush (stdout);
}

static void
on_name_appeared (GDBusConnection *bus, const char *name, const char *owner, gpointer user_data)
{
	Monitor *monitor = user_data;

	if (!monitor->vanished)
		return;
	monitor->vanished = FALSE;
	fprintf (stderr, _("tetherctl: tetherd is back on the bus\n"));
}

static void
on_name_vanished (GDBusConnection *bus, const char *name, gpointer user_data)
{
	Monitor *monitor = user_data;

	monitor->vanished = TRUE;
	fprintf (stderr, _("tetherctl: tetherd left the bus; waiting for it to come back\n"));
}

static gboolean
on_quit (gpointer user_data)
{
	Monitor *monitor = user_data;

	g_main_loop_quit (monitor->loop);
	return G_SOURCE_CONTINUE;
}

gboolean
tetherctl_monitor (TetherctlContext *ctx, char **args, GError **error)
{
	g_autofree char *connection = NULL;
	/* clang-format off */
	const GOptionEntry entries[] = {
		{ "connection", 0, 0, G_OPTION_ARG_STRING, &connection,
		  N_("Only this connection's messages"), N_("ID") },
		{ NULL },
	};
	const TetherctlUsage usage = {
		.parameters = "",
		.summary = N_("Print each received message and each message result as it comes, "
		              "one line each, until interrupted (Ctrl+C or SIGTERM). With "
		              "--json, one JSON object a line. Once it listens, a line on "
		              "standard error says so."),
		.entries = entries,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
	g_autoptr(GHashTable) ids =
	                   g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
	g_autoptr(GVariant) reply = NULL;
	g_autofree char *path = NULL;
	Monitor monitor = { .ctx = ctx, .loop = loop, .ids = ids };
	guint subscription;
	guint watch;
	guint sigint;
	guint sigterm;

	if (positional == NULL)
		return FALSE;
	if (tetherctl_manager (ctx, error) == NULL)
		return FALSE;
	if (connection != NULL) {
		g_autoptr(TetherDBusConnection1) proxy =
		                   tetherctl_get_connection (ctx, connection, error);

		if (proxy == NULL)
			return FALSE;
		path = g_strdup (g_dbus_proxy_get_object_path (G_DBUS_PROXY (proxy)));
		g_hash_table_insert (ids, g_strdup (path), g_strdup (connection));
	}

	subscription = g_dbus_connection_signal_subscribe (
	        ctx->bus, TETHERCTL_BUS_NAME, "org.tether.Connection1", NULL, path, NULL,
	        G_DBUS_SIGNAL_FLAGS_NONE, on_signal, &monitor, NULL);
	watch = g_bus_watch_name_on_connection (ctx->bus, TETHERCTL_BUS_NAME,
	                                        G_BUS_NAME_WATCHER_FLAGS_NONE, on_name_appeared,
	                                        on_name_vanished, &monitor, NULL);
	sigint = g_unix_signal_add (SIGINT, on_quit, &monitor);
	sigterm = g_unix_signal_add (SIGTERM, on_quit, &monitor);

	/* a round trip to the bus: the match rule is in place once it answers */
	reply = g_dbus_connection_call_sync (ctx->bus, "org.freedesktop.DBus",
	                                     "/org/freedesktop/DBus", "org.freedesktop.DBus",
	                                     "GetId", NULL, G_VARIANT_TYPE ("(s)"),
	                                     G_DBUS_CALL_FLAGS_NONE, TETHERCTL_TIMEOUT, NULL, NULL);
	fprintf (stderr, _("tetherctl: monitoring %s; stop with Ctrl+C\n"),
	                    connection != NULL ? connection : _("every connection"));

	g_main_loop_run (loop);

	g_source_remove (sigterm);
	g_source_remove (sigint);
	g_bus_unwatch_name (watch);
	g_dbus_connection_signal_unsubscribe (ctx->bus, subscription);
	return TRUE;
}
