/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Names of connections, trust anchors and identities:
 * ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$. @what says what is named ("connection",
 * "trust anchor", "identity") in the error.
 */
gboolean tether_name_check (const gchar *name, const gchar *what, GError **error);

/*
 * Splits "host", "host:port" or "[v6-address]:port". @port is 0 when the
 * endpoint names none.
 */
gboolean tether_endpoint_parse (const gchar *endpoint, gchar **host, guint16 *port, GError **error);

/* checks an a{sv} against a table of allowed keys and their types */
typedef struct {
	const gchar *key;
	const gchar *type;
} TetherOptionSpec;

gboolean tether_options_check (GVariant *options, const TetherOptionSpec *specs, gsize n_specs,
                               const gchar *argument, GError **error);

G_END_DECLS
