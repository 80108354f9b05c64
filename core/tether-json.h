/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * @node as compact JSON text. json-glib 1.6 (Debian 12) writes a double such as
 * 1e20 as "1e+20.0", which no JSON parser takes; this writes every number so
 * that it reads back as the same value, and strings escaped as RFC 8259 asks.
 */
GBytes *tether_json_to_bytes (JsonNode *node);

/*
 * Parses @data as exactly one JSON value: not empty, UTF-8, nothing after the
 * value. json-glib 1.6 alone takes "{} {}" and keeps the first. Returns NULL
 * with @problem (translated, for the caller's error) when it is not.
 */
JsonNode *tether_json_parse (const gchar *data, gsize size, gchar **problem);

G_END_DECLS
