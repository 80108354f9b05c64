/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A GNetworkMonitor for the delivery tests, loaded into tetherd through
 * GIO_EXTRA_MODULES and chosen with GIO_USE_NETWORK_MONITOR=tether-test.
 * The network is what the file named by TETHER_TEST_NETWORK_FILE says:
 * "up" or "down". Each change of the file emits network-changed, as a
 * change of the routes does with GLib's own monitors.
 */
#include <gio/gio.h>
#include <string.h>

#define ENV_FILE "TETHER_TEST_NETWORK_FILE"

typedef struct {
	GObject parent_instance;
	GFileMonitor *watch;
	GFile *file;
	gboolean available;
} TetherTestNetworkMonitor;

typedef struct {
	GObjectClass parent_class;
} TetherTestNetworkMonitorClass;

enum { PROP_0, PROP_NETWORK_AVAILABLE, PROP_NETWORK_METERED, PROP_CONNECTIVITY };

static void initable_iface_init (GInitableIface *iface);
static void network_monitor_iface_init (GNetworkMonitorInterface *iface);

GType tether_test_network_monitor_get_type (void);
G_DEFINE_DYNAMIC_TYPE_EXTENDED (TetherTestNetworkMonitor, tether_test_network_monitor,
                                G_TYPE_OBJECT, 0,
                                G_IMPLEMENT_INTERFACE_DYNAMIC (G_TYPE_INITABLE, initable_iface_init)
                                        G_IMPLEMENT_INTERFACE_DYNAMIC (G_TYPE_NETWORK_MONITOR,
                                                                       network_monitor_iface_init))

static gboolean
read_available (GFile *file)
{
	g_autofree gchar *contents = NULL;

	if (file == NULL || !g_file_load_contents (file, NULL, &contents, NULL, NULL, NULL))
		return TRUE;
	return !g_str_has_prefix (contents, "down");
}

static void
file_changed_cb (GFileMonitor *watch, GFile *file, GFile *other, GFileMonitorEvent event,
                 TetherTestNetworkMonitor *self)
{
	if (event != G_FILE_MONITOR_EVENT_CHANGES_DONE_HINT &&
	    event != G_FILE_MONITOR_EVENT_CREATED && event != G_FILE_MONITOR_EVENT_MOVED_IN &&
	    event != G_FILE_MONITOR_EVENT_RENAMED)
		return;
	self->available = read_available (self->file);
	g_object_notify (G_OBJECT (self), "network-available");
	g_signal_emit_by_name (self, "network-changed", self->available);
}

static gboolean
can_reach (GNetworkMonitor *monitor, GSocketConnectable *connectable, GCancellable *cancellable,
           GError **error)
{
	TetherTestNetworkMonitor *self = (TetherTestNetworkMonitor *) monitor;

	if (!self->available)
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE,
		                     "the test network is down");
	return self->available;
}

/* GNetworkMonitor requires GInitable; there is nothing that can fail */
static gboolean
initable_init (GInitable *initable, GCancellable *cancellable, GError **error)
{
	return TRUE;
}

static void
initable_iface_init (GInitableIface *iface)
{
	iface->init = initable_init;
}

static void
network_monitor_iface_init (GNetworkMonitorInterface *iface)
{
	iface->can_reach = can_reach;
}

static void
tether_test_network_monitor_get_property (GObject *object, guint prop_id, GValue *value,
                                          GParamSpec *pspec)
{
	TetherTestNetworkMonitor *self = (TetherTestNetworkMonitor *) object;

	switch (prop_id) {
	case PROP_NETWORK_AVAILABLE:
		g_value_set_boolean (value, self->available);
		break;
	case PROP_NETWORK_METERED:
		g_value_set_boolean (value, FALSE);
		break;
	case PROP_CONNECTIVITY:
		g_value_set_enum (value, self->available ? G_NETWORK_CONNECTIVITY_FULL
		                                         : G_NETWORK_CONNECTIVITY_LOCAL);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
	}
}

static void
tether_test_network_monitor_finalize (GObject *object)
{
	TetherTestNetworkMonitor *self = (TetherTestNetworkMonitor *) object;

	if (self->watch != NULL)
		g_signal_handlers_disconnect_by_data (self->watch, self);
	g_clear_object (&self->watch);
	g_clear_object (&self->file);
	G_OBJECT_CLASS (tether_test_network_monitor_parent_class)->finalize (object);
}

static void
tether_test_network_monitor_init (TetherTestNetworkMonitor *self)
{
	const gchar *path = g_getenv (ENV_FILE);

	if (path != NULL) {
		self->file = g_file_new_for_path (path);
		self->watch = g_file_monitor_file (self->file, G_FILE_MONITOR_NONE, NULL, NULL);
		if (self->watch != NULL)
			g_signal_connect (self->watch, "changed", G_CALLBACK (file_changed_cb),
			                  self);
	}
	self->available = read_available (self->file);
}

static void
tether_test_network_monitor_class_init (TetherTestNetworkMonitorClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->get_property = tether_test_network_monitor_get_property;
	object_class->finalize = tether_test_network_monitor_finalize;
	g_object_class_override_property (object_class, PROP_NETWORK_AVAILABLE,
	                                  "network-available");
	g_object_class_override_property (object_class, PROP_NETWORK_METERED, "network-metered");
	g_object_class_override_property (object_class, PROP_CONNECTIVITY, "connectivity");
}

static void
tether_test_network_monitor_class_finalize (TetherTestNetworkMonitorClass *klass)
{
}

G_MODULE_EXPORT void g_io_module_load (GIOModule *module);
G_MODULE_EXPORT void g_io_module_unload (GIOModule *module);
G_MODULE_EXPORT gchar **g_io_module_query (void);

G_MODULE_EXPORT void
g_io_module_load (GIOModule *module)
{
	tether_test_network_monitor_register_type (G_TYPE_MODULE (module));
	g_io_extension_point_implement (G_NETWORK_MONITOR_EXTENSION_POINT_NAME,
	                                tether_test_network_monitor_get_type (), "tether-test", 0);
}

G_MODULE_EXPORT void
g_io_module_unload (GIOModule *module)
{
}

G_MODULE_EXPORT gchar **
g_io_module_query (void)
{
	gchar *extension_points[] = { (gchar *) G_NETWORK_MONITOR_EXTENSION_POINT_NAME, NULL };

	return g_strdupv (extension_points);
}
