/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>
#include <glib/gi18n-lib.h>
#include <string.h>

#include "tether-error.h"
#include "tether-names.h"

#define TETHER_NAME_MAX 64
/* RFC 1035: a DNS name of at most 253 characters, labels of 1 to 63 */
#define TETHER_HOST_MAX  253
#define TETHER_LABEL_MAX 63

gboolean
tether_name_check (const gchar *name, const gchar *what, GError **error)
{
	gsize len = name != NULL ? strlen (name) : 0;

	if (len == 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("%s name is empty"), what);
		return FALSE;
	}
	if (len > TETHER_NAME_MAX) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("%s name is %zu characters long; at most %d are allowed"), what,
		                len, TETHER_NAME_MAX);
		return FALSE;
	}
	if (!g_ascii_isalnum (name[0])) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("%s name '%s' must start with an ASCII letter (A-Z, a-z) or a "
		               "digit"),
		                what, g_utf8_validate (name, -1, NULL) ? name : "?");
		return FALSE;
	}
	for (gsize i = 1; i < len; i++) {
		gchar c = name[i];
		if (g_ascii_isalnum (c) || c == '.' || c == '_' || c == '-')
			continue;
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("%s name '%s' has a character that is not allowed at position %zu; "
		                "use only ASCII letters (A-Z, a-z), digits, '.', '_' and '-'"),
		                what, g_utf8_validate (name, -1, NULL) ? name : "?", i + 1);
		return FALSE;
	}
	return TRUE;
}

/* the labels of a DNS name (or an IPv4 address): none empty, too long, or with a dash at an end */
static gboolean
check_host_labels (const gchar *host, GError **error)
{
	g_auto(GStrv) labels = NULL;

	if (strlen (host) > TETHER_HOST_MAX) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("the endpoint's host name is %zu characters long; a host name has "
		               "at most %d"),
		                strlen (host), TETHER_HOST_MAX);
		return FALSE;
	}
	labels = g_strsplit (host, ".", -1);
	for (guint i = 0; labels[i] != NULL; i++) {
		gsize len = strlen (labels[i]);

		if (len == 0 || len > TETHER_LABEL_MAX || labels[i][0] == '-' ||
		    labels[i][len - 1] == '-') {
			g_set_error (
			        error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			        _("the endpoint's host name '%s' is not valid: each part between "
			               "dots has 1 to %d letters, digits, '-' or '_', and no '-' at "
			               "either end"),
			           host, TETHER_LABEL_MAX);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean
tether_endpoint_parse (const gchar *endpoint, gchar **host, guint16 *port, GError **error)
{
	const gchar *host_start = endpoint;
	const gchar *host_end;
	const gchar *port_str = NULL;
	g_autofree gchar *host_tmp = NULL;
	guint64 port_num = 0;
	gboolean host_ok;

	if (endpoint == NULL || endpoint[0] == '\0') {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		                     _("the endpoint is empty: give a host name, host:port or "
		                        "[address]:port"));
		return FALSE;
	}

	if (endpoint[0] == '[') {
		host_start = endpoint + 1;
		host_end = strchr (host_start, ']');
		if (host_end == NULL || (host_end[1] != '\0' && host_end[1] != ':')) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			             _("endpoint '%s': an IPv6 address is written [address]:port"),
			                endpoint);
			return FALSE;
		}
		if (host_end[1] == ':')
			port_str = host_end + 2;
	} else {
		host_end = strchr (endpoint, ':');
		if (host_end != NULL) {
			if (strchr (host_end + 1, ':') != NULL) {
				g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
				             _("endpoint '%s': write an IPv6 address as "
				                "[address]:port"),
				                endpoint);
				return FALSE;
			}
			port_str = host_end + 1;
		} else {
			host_end = endpoint + strlen (endpoint);
		}
	}

	/* a DNS name (ASCII, as IDNA writes it), an IPv4 or a bracketed IPv6 address */
	host_tmp = g_strndup (host_start, host_end - host_start);
	host_ok = host_tmp[0] != '\0';
	for (const gchar *c = host_tmp; *c != '\0' && host_ok; c++) {
		host_ok = g_ascii_isalnum (*c) || *c == '-' || *c == '.' || *c == '_' ||
		          (*c == ':' && endpoint[0] == '[');
	}
	if (!host_ok) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("endpoint '%s' does not start with a valid host name or address"),
		                endpoint);
		return FALSE;
	}
	if (endpoint[0] != '[' && !check_host_labels (host_tmp, error))
		return FALSE;
	if (port_str != NULL) {
		if (!g_ascii_string_to_unsigned (port_str, 10, 1, G_MAXUINT16, &port_num, NULL)) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			             _("endpoint '%s': the port must be a number from 1 to 65535"),
			                endpoint);
			return FALSE;
		}
	}

	if (host != NULL)
		*host = g_steal_pointer (&host_tmp);
	if (port != NULL)
		*port = (guint16) port_num;
	return TRUE;
}

gboolean
tether_options_check (GVariant *options, const TetherOptionSpec *specs, gsize n_specs,
                      const gchar *argument, GError **error)
{
	GVariantIter iter;
	const gchar *key;
	GVariant *value;

	g_variant_iter_init (&iter, options);
	while (g_variant_iter_loop (&iter, "{&sv}", &key, &value)) {
		const TetherOptionSpec *spec = NULL;
		for (gsize i = 0; i < n_specs; i++) {
			if (g_strcmp0 (specs[i].key, key) == 0) {
				spec = &specs[i];
				break;
			}
		}
		if (spec == NULL) {
			g_autoptr(GString) known = g_string_new (NULL);
			for (gsize i = 0; i < n_specs; i++)
				g_string_append_printf (known, "%s%s", i ? ", " : "", specs[i].key);
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			             _("%s: unknown key '%s'; known keys: %s"), argument, key,
			                known->len > 0 ? known->str : _("none"));
			g_variant_unref (value);
			return FALSE;
		}
		if (!g_variant_is_of_type (value, G_VARIANT_TYPE (spec->type))) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			             _("%s: '%s' must be of type '%s', not '%s'"), argument, key,
			                spec->type, g_variant_get_type_string (value));
			g_variant_unref (value);
			return FALSE;
		}
	}
	return TRUE;
}
