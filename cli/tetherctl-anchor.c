/* tetherctl anchor add|list|show|remove|test
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <glib/gi18n.h>

#include "tetherctl-commands.h"

/* HOST:PORT, with the host in brackets when it is an IPv6 address */
static char *
format_host_port (const char *host, guint16 port)
{
	if (strchr (host, ':') != NULL)
		return g_strdup_printf ("[%s]:%u", host, port);
	return g_strdup_printf ("%s:%u", host, port);
}

static gboolean
test_anchor (TetherctlContext *ctx, const char *name, const char *host, guint16 port,
             GVariant *options, GVariant **out_result, GError **error)
{
	TetherDBusTether1 *manager = tetherctl_manager (ctx, error);

	if (manager == NULL)
		return FALSE;
	return tether_dbus_tether1_call_test_trust_anchor_sync (
	        manager, name, host, port, options, TETHERCTL_CALL_FLAGS, TETHERCTL_TIMEOUT_LONG,
	        out_result, NULL, error);
}

/* For connection add|modify --test: TRUE when one of @anchors vouches for @endpoint (at
 * @default_port when it names none); otherwise each failure goes to standard error and @error
 * says nothing was changed. */
gboolean
tetherctl_test_anchors (TetherctlContext *ctx, const char *const *anchors, const char *endpoint,
                        guint16 default_port, GError **error)
{
	g_autofree char *host = NULL;
	g_autofree char *host_port = NULL;
	g_autoptr(GPtrArray) failures = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GVariant) options = tetherctl_no_options ();
	guint16 port = 0;

	if (!tetherctl_parse_endpoint (endpoint,
	                               default_port != 0 ? default_port : TETHERCTL_DEFAULT_PORT,
	                               &host, &port, error))
		return FALSE;
	if (tetherctl_manager (ctx, error) == NULL)
		return FALSE;
	host_port = format_host_port (host, port);

	for (guint i = 0; anchors != NULL && anchors[i] != NULL; i++) {
		g_autoptr(GVariant) result = NULL;
		g_autoptr(GError) local_error = NULL;
		gboolean ok = FALSE;
		const char *message = NULL;

		if (!test_anchor (ctx, anchors[i], host, port, options, &result, &local_error)) {
			g_dbus_error_strip_remote_error (local_error);
			g_ptr_array_add (failures,
			                 g_strdup_printf (_("Trust anchor '%s': %s"), anchors[i],
			                                     local_error->message));
			continue;
		}
		if (g_variant_lookup (result, "ok", "b", &ok) && ok)
			return TRUE;
		if (!g_variant_lookup (result, "message", "&s", &message))
			message = _("the test failed without a message");
		g_ptr_array_add (failures, g_strdup_printf (_("Trust anchor '%s': %s"), anchors[i],
		                                               message));
	}

	for (guint i = 0; i < failures->len; i++)
		fprintf (stderr, "tetherctl: %s\n", (const char *) g_ptr_array_index (failures, i));
	g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
	             _("No trust anchor vouches for %s, so nothing was changed: add the anchor "
	               "that issued the server's certificate, or fix the endpoint"),
	                host_port);
	return FALSE;
}

static int
compare_anchors (gconstpointer a, gconstpointer b)
{
	return g_strcmp0 (
	        tether_dbus_trust_anchor1_get_name (*(TetherDBusTrustAnchor1 *const *) a),
	        tether_dbus_trust_anchor1_get_name (*(TetherDBusTrustAnchor1 *const *) b));
}

static void
anchor_json (JsonBuilder *builder, TetherDBusTrustAnchor1 *anchor)
{
	json_builder_begin_object (builder);
	tetherctl_json_string (builder, "name", tether_dbus_trust_anchor1_get_name (anchor));
	tetherctl_json_string (builder, "origin", tether_dbus_trust_anchor1_get_origin (anchor));
	tetherctl_json_int (builder, "not-after", tether_dbus_trust_anchor1_get_not_after (anchor));
	tetherctl_json_strv (builder, "used-by", tether_dbus_trust_anchor1_get_used_by (anchor));
	tetherctl_json_variant (builder, "certificates",
	                        tether_dbus_trust_anchor1_get_certificates (anchor));
	tetherctl_json_string (builder, "path",
	                       g_dbus_proxy_get_object_path (G_DBUS_PROXY (anchor)));
	json_builder_end_object (builder);
}

static gboolean
anchor_add (TetherctlContext *ctx, char **args, GError **error)
{
	gboolean replace = FALSE;
	/* clang-format off */
	const GOptionEntry entries[] = {
		{ "replace", 0, 0, G_OPTION_ARG_NONE, &replace,
		  N_("Replace an added anchor of that name"), NULL },
		{ NULL },
	};
	const TetherctlUsage usage = {
		.parameters = N_("NAME FILE"),
		.summary = N_("Add a trust anchor: a root CA certificate (or one chain) as PEM "
		              "(CRLF, a byte-order mark and text around the blocks are fine), "
		              "one DER certificate or a PKCS#7 bundle (.p7b), or '-' for standard "
		              "input. It is stored as clean PEM. Warnings about what was accepted "
		              "go to standard error; with --replace, connections that use the "
		              "anchor take the new one at their next connect."),
		.entries = entries,
		.min_args = 2,
		.max_args = 2,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(GBytes) data = NULL;
	g_autoptr(GVariant) data_value = NULL;
	g_autoptr(GVariantDict) options = g_variant_dict_new (NULL);
	g_autoptr(GVariant) options_value = NULL;
	g_autofree char *path = NULL;
	g_auto(GStrv) warnings = NULL;
	TetherDBusTether1 *manager;

	if (positional == NULL)
		return FALSE;
	data = tetherctl_read_file (positional[1], ctx->input, error);
	if (data == NULL)
		return FALSE;
	manager = tetherctl_manager (ctx, error);
	if (manager == NULL)
		return FALSE;

	data_value = tetherctl_bytes_to_variant (data);
	if (replace)
		g_variant_dict_insert (options, "replace", "b", TRUE);
	options_value = g_variant_ref_sink (g_variant_dict_end (options));
	if (!tether_dbus_tether1_call_add_trust_anchor_sync (
	            manager, positional[0], data_value, options_value, TETHERCTL_CALL_FLAGS,
	            TETHERCTL_TIMEOUT, &path, &warnings, NULL, error))
		return FALSE;

	tetherctl_print_warnings ((const char *const *) warnings);
	if (ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();

		json_builder_begin_object (builder);
		tetherctl_json_string (builder, "anchor", path);
		tetherctl_json_strv (builder, "warnings", (const char *const *) warnings);
		json_builder_end_object (builder);
		tetherctl_print_json (builder);
	}
	return TRUE;
}

static gboolean
anchor_list (TetherctlContext *ctx, char **args, GError **error)
{
	/* clang-format off */
	const TetherctlUsage usage = {
		.parameters = "",
		.summary = N_("List the trust anchors, added and bundled."),
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(GPtrArray) anchors = NULL;
	g_autoptr(TetherctlTable) table = NULL;
	TetherDBusTether1 *manager;

	if (positional == NULL)
		return FALSE;
	manager = tetherctl_manager (ctx, error);
	if (manager == NULL)
		return FALSE;
	anchors = tetherctl_object_proxies (ctx, TETHER_DBUS_TYPE_TRUST_ANCHOR1_PROXY,
	                                    "org.tether.TrustAnchor1",
	                                    tether_dbus_tether1_get_trust_anchors (manager), error);
	if (anchors == NULL)
		return FALSE;
	g_ptr_array_sort (anchors, compare_anchors);

	if (ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();

		json_builder_begin_array (builder);
		for (guint i = 0; i < anchors->len; i++)
			anchor_json (builder, g_ptr_array_index (anchors, i));
		json_builder_end_array (builder);
		tetherctl_print_json (builder);
		return TRUE;
	}

	table = tetherctl_table_new (_("NAME"), _("ORIGIN"), _("NOT AFTER"), _("USED BY"),
	                                                                           NULL);
	for (guint i = 0; i < anchors->len; i++) {
		TetherDBusTrustAnchor1 *anchor = g_ptr_array_index (anchors, i);
		g_autofree char *not_after =
		        tetherctl_time_text (tether_dbus_trust_anchor1_get_not_after (anchor));
		g_autofree char *used_by =
		        tetherctl_join (tether_dbus_trust_anchor1_get_used_by (anchor));

		tetherctl_table_add (table, tether_dbus_trust_anchor1_get_name (anchor),
		                     tether_dbus_trust_anchor1_get_origin (anchor), not_after,
		                     used_by, NULL);
	}
	tetherctl_table_print (table);
	return TRUE;
}

static gboolean
anchor_show (TetherctlContext *ctx, char **args, GError **error)
{
	/* clang-format off */
	const TetherctlUsage usage = {
		.parameters = N_("NAME"),
		.summary = N_("Show a trust anchor and each of its certificates."),
		.min_args = 1,
		.max_args = 1,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(TetherDBusTrustAnchor1) anchor = NULL;

	if (positional == NULL)
		return FALSE;
	anchor = tetherctl_get_anchor (ctx, positional[0], error);
	if (anchor == NULL)
		return FALSE;

	if (ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();

		anchor_json (builder, anchor);
		tetherctl_print_json (builder);
		return TRUE;
	}

	tetherctl_print_field ("name", tether_dbus_trust_anchor1_get_name (anchor));
	tetherctl_print_field ("origin", tether_dbus_trust_anchor1_get_origin (anchor));
	tetherctl_print_field_time ("not-after", tether_dbus_trust_anchor1_get_not_after (anchor));
	tetherctl_print_field_strv ("used-by", tether_dbus_trust_anchor1_get_used_by (anchor));
	tetherctl_print_field ("path", g_dbus_proxy_get_object_path (G_DBUS_PROXY (anchor)));

	tetherctl_print_certificates (tether_dbus_trust_anchor1_get_certificates (anchor));
	return TRUE;
}

static gboolean
anchor_remove (TetherctlContext *ctx, char **args, GError **error)
{
	/* clang-format off */
	const TetherctlUsage usage = {
		.parameters = N_("NAME"),
		.summary = N_("Remove an added trust anchor. tetherd refuses while a connection "
		              "names it; bundled anchors cannot be removed."),
		.min_args = 1,
		.max_args = 1,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	TetherDBusTether1 *manager;

	if (positional == NULL)
		return FALSE;
	manager = tetherctl_manager (ctx, error);
	if (manager == NULL)
		return FALSE;
	return tether_dbus_tether1_call_remove_trust_anchor_sync (
	        manager, positional[0], TETHERCTL_CALL_FLAGS, TETHERCTL_TIMEOUT, NULL, error);
}

static gboolean
anchor_test (TetherctlContext *ctx, char **args, GError **error)
{
	g_autofree char *sni = NULL;
	g_auto(GStrv) alpn = NULL;
	/* clang-format off */
	const GOptionEntry entries[] = {
		{ "sni", 0, 0, G_OPTION_ARG_STRING, &sni,
		  N_("The server name to send (default: HOST)"), N_("NAME") },
		{ "alpn", 0, 0, G_OPTION_ARG_STRING_ARRAY, &alpn,
		  N_("An ALPN protocol to offer; repeat for more"), N_("PROTOCOL") },
		{ NULL },
	};
	const TetherctlUsage usage = {
		.parameters = N_("NAME HOST[:PORT]"),
		.summary = N_("Make a TLS handshake with a server (port 8883 unless given) and "
		              "check its certificate against this trust anchor alone, under the "
		              "same rule as the MQTT session. Exits with 0 only when the anchor "
		              "vouches for the server."),
		.entries = entries,
		.min_args = 2,
		.max_args = 2,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(GVariantDict) options = g_variant_dict_new (NULL);
	g_autoptr(GVariant) options_value = NULL;
	g_autoptr(GVariant) result = NULL;
	g_autofree char *host = NULL;
	g_autofree char *host_port = NULL;
	const char *reason = NULL;
	guint16 port = 0;
	gboolean ok = FALSE;

	if (positional == NULL)
		return FALSE;
	if (!tetherctl_parse_endpoint (positional[1], TETHERCTL_DEFAULT_PORT, &host, &port, error))
		return FALSE;
	if (sni != NULL)
		g_variant_dict_insert (options, "sni", "s", sni);
	if (alpn != NULL)
		g_variant_dict_insert_value (options, "alpn",
		                             g_variant_new_strv ((const char *const *) alpn, -1));
	options_value = g_variant_ref_sink (g_variant_dict_end (options));
	if (!test_anchor (ctx, positional[0], host, port, options_value, &result, error))
		return FALSE;

	if (ctx->json) {
		g_autoptr(JsonNode) node = json_gvariant_serialize (result);

		tetherctl_print_json_node (node);
	} else {
		const char *const order[] = {
			"ok", "reason", "message", "top-issuer", "names", NULL
		};
		g_autoptr(GVariant) certificates = g_variant_lookup_value (
		        result, "certificates", G_VARIANT_TYPE ("aa{sv}"));

		tetherctl_print_dict_fields (result, "", order);
		tetherctl_print_certificates (certificates);
	}

	if (g_variant_lookup (result, "ok", "b", &ok) && ok)
		return TRUE;
	host_port = format_host_port (host, port);
	/* the message is in the result above: name the reason only */
	if (!g_variant_lookup (result, "reason", "&s", &reason))
		reason = "";
	g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
	             _("Trust anchor '%s' does not vouch for %s (%s)"), positional[0], host_port,
	                reason);
	return FALSE;
}

/* clang-format off */
const TetherctlCommand tetherctl_anchor_commands[] = {
	{ "add", N_("Add a trust anchor from a PEM, DER or PKCS#7 file"), anchor_add },
	{ "list", N_("List the trust anchors"), anchor_list },
	{ "show", N_("Show a trust anchor's certificates"), anchor_show },
	{ "remove", N_("Remove an added trust anchor"), anchor_remove },
	{ "test", N_("Check that a trust anchor vouches for a server"), anchor_test },
	{ NULL },
};
/* clang-format on */
