/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * bench-ceiling: the D-Bus ceiling. A trivial GDBus service with one
 * method of the same signature as Connection1.Publish that does nothing but
 * count and return the count, so a client driving it through the same
 * dbus-daemon measures what D-Bus alone allows.
 *
 *   bench-ceiling [--name NAME]   (session bus; prints "ready" once the name is owned)
 */

#include <gio/gio.h>
#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>

#define BENCH_CEILING_NAME "org.tether.BenchCeiling"
#define BENCH_CEILING_PATH "/org/tether/BenchCeiling"

static const gchar introspection_xml[] = "<node>"
                                         "  <interface name='org.tether.BenchCeiling1'>"
                                         "    <method name='Publish'>"
                                         "      <arg name='kind' type='s' direction='in'/>"
                                         "      <arg name='payload' type='ay' direction='in'/>"
                                         "      <arg name='options' type='a{sv}' direction='in'/>"
                                         "      <arg name='id' type='t' direction='out'/>"
                                         "    </method>"
                                         "  </interface>"
                                         "</node>";

static guint64 calls;

static void
handle_method_call (GDBusConnection *bus, const gchar *sender, const gchar *object_path,
                    const gchar *interface_name, const gchar *method_name, GVariant *parameters,
                    GDBusMethodInvocation *invocation, gpointer user_data)
{
	/* the only method the introspection data names */
	calls++;
	g_dbus_method_invocation_return_value (invocation, g_variant_new ("(t)", calls));
}

static const GDBusInterfaceVTable vtable = { handle_method_call, NULL, NULL, { NULL } };

static void
on_bus_acquired (GDBusConnection *bus, const gchar *name, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusNodeInfo) info = g_dbus_node_info_new_for_xml (introspection_xml, &error);

	g_assert_no_error (error);
	if (g_dbus_connection_register_object (bus, BENCH_CEILING_PATH, info->interfaces[0],
	                                       &vtable, NULL, NULL, &error) == 0) {
		g_printerr ("bench-ceiling: %s\n", error->message);
		g_main_loop_quit (user_data);
	}
}

static void
on_name_acquired (GDBusConnection *bus, const gchar *name, gpointer user_data)
{
	g_print ("ready\n");
	fflush (stdout);
}

static void
on_name_lost (GDBusConnection *bus, const gchar *name, gpointer user_data)
{
	g_printerr ("bench-ceiling: cannot own %s\n", name);
	g_main_loop_quit (user_data);
}

static gboolean
on_term (gpointer user_data)
{
	g_main_loop_quit (user_data);
	return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
	g_autofree gchar *name = NULL;
	/* clang-format off */
	const GOptionEntry entries[] = {
		{ "name", 0, 0, G_OPTION_ARG_STRING, &name, "the bus name to own", "NAME" },
		{ NULL }
	};
	/* clang-format on */
	g_autoptr(GOptionContext) context = g_option_context_new (NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
	guint owner_id;

	setlocale (LC_ALL, "C");
	g_option_context_add_main_entries (context, entries, NULL);
	if (!g_option_context_parse (context, &argc, &argv, &error)) {
		g_printerr ("bench-ceiling: %s\n", error->message);
		return 2;
	}
	g_unix_signal_add (SIGTERM, on_term, loop);
	g_unix_signal_add (SIGINT, on_term, loop);
	owner_id = g_bus_own_name (G_BUS_TYPE_SESSION, name != NULL ? name : BENCH_CEILING_NAME,
	                           G_BUS_NAME_OWNER_FLAGS_NONE, on_bus_acquired, on_name_acquired,
	                           on_name_lost, loop, NULL);
	g_main_loop_run (loop);
	g_bus_unown_name (owner_id);
	return 0;
}
