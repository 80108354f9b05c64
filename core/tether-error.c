/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>

#include "tether-error.h"

static const GDBusErrorEntry tether_error_entries[] = {
	{ TETHER_ERROR_INVALID_ARGUMENT, "org.tether.Error.InvalidArgument" },
	{ TETHER_ERROR_INVALID_CERTIFICATE, "org.tether.Error.InvalidCertificate" },
	{ TETHER_ERROR_INVALID_KEY, "org.tether.Error.InvalidKey" },
	{ TETHER_ERROR_NOT_FOUND, "org.tether.Error.NotFound" },
	{ TETHER_ERROR_EXISTS, "org.tether.Error.Exists" },
	{ TETHER_ERROR_IN_USE, "org.tether.Error.InUse" },
	{ TETHER_ERROR_REFUSED, "org.tether.Error.Refused" },
	{ TETHER_ERROR_QUEUE_FULL, "org.tether.Error.QueueFull" },
	{ TETHER_ERROR_NO_SPACE, "org.tether.Error.NoSpace" },
	{ TETHER_ERROR_NOT_AUTHORIZED, "org.tether.Error.NotAuthorized" },
	{ TETHER_ERROR_FAILED, "org.tether.Error.Failed" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (tether_error_entries) == TETHER_ERROR_LAST);

GQuark
tether_error_quark (void)
{
	static gsize quark = 0;

	g_dbus_error_register_error_domain ("tether-error-quark", &quark, tether_error_entries,
	                                    G_N_ELEMENTS (tether_error_entries));
	return (GQuark) quark;
}
