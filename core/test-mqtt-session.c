/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "tether-mqtt-session.h"

/*
 * Paho copies the ALPN list with strdup (): without a NUL byte after it,
 * it read past the buffer (AddressSanitizer found it in /aws/alpn/front).
 */
static void
test_alpn_wire_format (void)
{
	const gchar *const protocols[] = { "x-amzn-mqtt-ca", "mqtt", NULL };
	const gchar expected[] = "\016x-amzn-mqtt-ca\004mqtt";
	guint len = 0;
	g_autofree gchar *wire = tether_mqtt_alpn_wire_format (protocols, &len);

	g_assert_cmpmem (wire, len, expected, strlen (expected));
	g_assert_cmpint (wire[len], ==, '\0');
	g_assert_cmpuint (strlen (wire), ==, len);
}

/* an empty name would put a NUL length byte into the list and cut Paho's copy short */
static void
test_alpn_wire_format_empty (void)
{
	const gchar *const protocols[] = { "", "mqtt", NULL };
	const gchar *const none[] = { NULL };
	const gchar expected[] = "\004mqtt";
	guint len = 0;
	g_autofree gchar *wire = tether_mqtt_alpn_wire_format (protocols, &len);
	g_autofree gchar *empty = NULL;

	g_assert_cmpmem (wire, len, expected, strlen (expected));
	g_assert_cmpuint (strlen (wire), ==, len);
	empty = tether_mqtt_alpn_wire_format (none, &len);
	g_assert_cmpuint (len, ==, 0);
	g_assert_cmpint (empty[0], ==, '\0');
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/mqtt-session/alpn/wire-format", test_alpn_wire_format);
	g_test_add_func ("/mqtt-session/alpn/empty-name", test_alpn_wire_format_empty);
	return g_test_run ();
}
