/* tetherctl identity request|install|list|show
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "tetherctl-commands.h"

#define DEFAULT_IDENTITY "device"

static int
compare_identities (gconstpointer a, gconstpointer b)
{
	return g_strcmp0 (tether_dbus_identity1_get_name (*(TetherDBusIdentity1 *const *) a),
	                  tether_dbus_identity1_get_name (*(TetherDBusIdentity1 *const *) b));
}

/* The identities' proxies, by name. */
GPtrArray *
tetherctl_list_identities (TetherctlContext *ctx, GError **error)
{
	TetherDBusTether1 *manager = tetherctl_manager (ctx, error);
	GPtrArray *identities;

	if (manager == NULL)
		return NULL;
	identities = tetherctl_object_proxies (ctx, TETHER_DBUS_TYPE_IDENTITY1_PROXY,
	                                       "org.tether.Identity1",
	                                       tether_dbus_tether1_get_identities (manager), error);
	if (identities != NULL)
		g_ptr_array_sort (identities, compare_identities);
	return identities;
}

void
tetherctl_identities_table (GPtrArray *identities)
{
	g_autoptr(TetherctlTable) table = NULL;

	table = tetherctl_table_new (
	        _("NAME"), _("STATE"), _("KEY TYPE"), _("NOT AFTER"), _("USED BY"), NULL);
	for (guint i = 0; i < identities->len; i++) {
		TetherDBusIdentity1 *identity = g_ptr_array_index (identities, i);
		g_autofree char *not_after =
		        tetherctl_time_text (tether_dbus_identity1_get_not_after (identity));
		g_autofree char *used_by =
		        tetherctl_join (tether_dbus_identity1_get_used_by (identity));

		tetherctl_table_add (table, tether_dbus_identity1_get_name (identity),
		                     tether_dbus_identity1_get_state (identity),
		                     tether_dbus_identity1_get_key_type (identity), not_after,
		                     used_by, NULL);
	}
	tetherctl_table_print (table);
}

void
tetherctl_identity_json (JsonBuilder *builder, TetherDBusIdentity1 *identity)
{
	json_builder_begin_object (builder);
	tetherctl_json_string (builder, "name", tether_dbus_identity1_get_name (identity));
	tetherctl_json_string (builder, "state", tether_dbus_identity1_get_state (identity));
	tetherctl_json_string (builder, "subject", tether_dbus_identity1_get_subject (identity));
	tetherctl_json_string (builder, "issuer", tether_dbus_identity1_get_issuer (identity));
	tetherctl_json_string (builder, "serial", tether_dbus_identity1_get_serial (identity));
	tetherctl_json_int (builder, "not-before", tether_dbus_identity1_get_not_before (identity));
	tetherctl_json_int (builder, "not-after", tether_dbus_identity1_get_not_after (identity));
	tetherctl_json_string (builder, "key-type", tether_dbus_identity1_get_key_type (identity));
	tetherctl_json_string (builder, "fingerprint",
	                       tether_dbus_identity1_get_fingerprint (identity));
	tetherctl_json_int (builder, "chain-length",
	                    tether_dbus_identity1_get_chain_length (identity));
	tetherctl_json_strv (builder, "used-by", tether_dbus_identity1_get_used_by (identity));
	tetherctl_json_string (builder, "path",
	                       g_dbus_proxy_get_object_path (G_DBUS_PROXY (identity)));
	json_builder_end_object (builder);
}

static void
identity_print (TetherDBusIdentity1 *identity)
{
	tetherctl_print_field ("name", tether_dbus_identity1_get_name (identity));
	tetherctl_print_field ("state", tether_dbus_identity1_get_state (identity));
	tetherctl_print_field ("subject", tether_dbus_identity1_get_subject (identity));
	tetherctl_print_field ("issuer", tether_dbus_identity1_get_issuer (identity));
	tetherctl_print_field ("serial", tether_dbus_identity1_get_serial (identity));
	tetherctl_print_field_time ("not-before", tether_dbus_identity1_get_not_before (identity));
	tetherctl_print_field_time ("not-after", tether_dbus_identity1_get_not_after (identity));
	tetherctl_print_field ("key-type", tether_dbus_identity1_get_key_type (identity));
	tetherctl_print_field ("fingerprint", tether_dbus_identity1_get_fingerprint (identity));
	tetherctl_print_field_uint64 ("chain-length",
	                              tether_dbus_identity1_get_chain_length (identity));
	tetherctl_print_field_strv ("used-by", tether_dbus_identity1_get_used_by (identity));
	tetherctl_print_field ("path", g_dbus_proxy_get_object_path (G_DBUS_PROXY (identity)));
}

static void
insert_string (GVariantDict *dict, const char *key, const char *value)
{
	if (value != NULL)
		g_variant_dict_insert (dict, key, "s", value);
}

static void
insert_strv (GVariantDict *dict, const char *key, char **values)
{
	if (values != NULL)
		g_variant_dict_insert_value (dict, key,
		                             g_variant_new_strv ((const char *const *) values, -1));
}

static gboolean
identity_request (TetherctlContext *ctx, char **args, GError **error)
{
	g_autofree char *identity = NULL;
	g_autofree char *common_name = NULL;
	g_autofree char *key_type = NULL;
	g_autofree char *organization = NULL;
	g_autofree char *unit = NULL;
	g_autofree char *country = NULL;
	g_auto(GStrv) dns_names = NULL;
	g_auto(GStrv) uris = NULL;
	g_autofree char *out = NULL;
	/* clang-format off */
	const GOptionEntry entries[] = {
		{ "identity", 0, 0, G_OPTION_ARG_STRING, &identity,
		  N_("The identity (default: device)"), N_("NAME") },
		{ "common-name", 0, 0, G_OPTION_ARG_STRING, &common_name,
		  N_("The subject's common name (required)"), N_("CN") },
		{ "key-type", 0, 0, G_OPTION_ARG_STRING, &key_type,
		  N_("The key to make when the identity has none (default: ec-p256)"), N_("TYPE") },
		{ "organization", 0, 0, G_OPTION_ARG_STRING, &organization,
		  N_("The subject's organization"), N_("O") },
		{ "organizational-unit", 0, 0, G_OPTION_ARG_STRING, &unit,
		  N_("The subject's organizational unit"), N_("OU") },
		{ "country", 0, 0, G_OPTION_ARG_STRING, &country,
		  N_("The subject's two-letter country code"), N_("C") },
		{ "dns-name", 0, 0, G_OPTION_ARG_STRING_ARRAY, &dns_names,
		  N_("A DNS name for the subject alternative names; repeat for more"), N_("NAME") },
		{ "uri", 0, 0, G_OPTION_ARG_STRING_ARRAY, &uris,
		  N_("A URI for the subject alternative names; repeat for more"), N_("URI") },
		{ "out", 0, 0, G_OPTION_ARG_FILENAME, &out,
		  N_("Write the request to FILE instead of standard output"), N_("FILE") },
		{ NULL },
	};
	const TetherctlUsage usage = {
		.parameters = N_("--common-name CN"),
		.summary = N_("Make a certificate signing request (PKCS#10, PEM) for an identity, "
		              "for the device CA to sign. tetherd makes the identity's private "
		              "key first when it has none; the key never leaves the device. "
		              "Install the signed certificate with 'tetherctl identity install'."),
		.entries = entries,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(GVariantDict) options = g_variant_dict_new (NULL);
	g_autoptr(GVariant) options_value = NULL;
	g_autofree char *csr = NULL;
	TetherDBusTether1 *manager;
	const char *name;

	if (positional == NULL)
		return FALSE;
	if (common_name == NULL)
		return tetherctl_usage_error (error, _("Give the subject with --common-name CN"));
	name = identity != NULL ? identity : DEFAULT_IDENTITY;
	manager = tetherctl_manager (ctx, error);
	if (manager == NULL)
		return FALSE;

	insert_string (options, "common-name", common_name);
	insert_string (options, "key-type", key_type);
	insert_string (options, "organization", organization);
	insert_string (options, "organizational-unit", unit);
	insert_string (options, "country", country);
	insert_strv (options, "dns-names", dns_names);
	insert_strv (options, "uris", uris);
	options_value = g_variant_ref_sink (g_variant_dict_end (options));
	if (!tether_dbus_tether1_call_create_identity_request_sync (
	            manager, name, options_value, TETHERCTL_CALL_FLAGS, TETHERCTL_TIMEOUT_LONG,
	            &csr, NULL, error))
		return FALSE;

	if (out != NULL) {
		g_autoptr(GError) local_error = NULL;

		if (!g_file_set_contents (out, csr, -1, &local_error)) {
			g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
			             _("Cannot write the request to '%s': %s"), out,
			                local_error->message);
			return FALSE;
		}
	}

	if (ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();

		json_builder_begin_object (builder);
		tetherctl_json_string (builder, "identity", name);
		if (out != NULL)
			tetherctl_json_string (builder, "out", out);
		else
			tetherctl_json_string (builder, "csr", csr);
		json_builder_end_object (builder);
		tetherctl_print_json (builder);
	} else if (out == NULL) {
		tetherctl_print ("%s%s", csr, g_str_has_suffix (csr, "\n") ? "" : "\n");
	}
	return TRUE;
}

static gboolean
identity_install (TetherctlContext *ctx, char **args, GError **error)
{
	g_autofree char *identity = NULL;
	/* clang-format off */
	const GOptionEntry entries[] = {
		{ "identity", 0, 0, G_OPTION_ARG_STRING, &identity,
		  N_("The identity (default: device)"), N_("NAME") },
		{ NULL },
	};
	const TetherctlUsage usage = {
		.parameters = N_("FILE"),
		.summary = N_("Install the certificate chain the device CA issued for an "
		              "identity's key: a PEM file (or '-' for standard input) with the "
		              "device certificate first, then its intermediates. Warnings go to "
		              "standard error."),
		.entries = entries,
		.min_args = 1,
		.max_args = 1,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(GBytes) chain = NULL;
	g_autoptr(GVariant) chain_value = NULL;
	g_autoptr(GVariant) options = tetherctl_no_options ();
	g_auto(GStrv) warnings = NULL;
	TetherDBusTether1 *manager;
	const char *name;

	if (positional == NULL)
		return FALSE;
	name = identity != NULL ? identity : DEFAULT_IDENTITY;
	chain = tetherctl_read_file (positional[0], ctx->input, error);
	if (chain == NULL)
		return FALSE;
	manager = tetherctl_manager (ctx, error);
	if (manager == NULL)
		return FALSE;

	chain_value = tetherctl_bytes_to_variant (chain);
	if (!tether_dbus_tether1_call_install_identity_sync (
	            manager, name, chain_value, options, TETHERCTL_CALL_FLAGS, TETHERCTL_TIMEOUT,
	            &warnings, NULL, error))
		return FALSE;

	tetherctl_print_warnings ((const char *const *) warnings);
	if (ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();

		json_builder_begin_object (builder);
		tetherctl_json_string (builder, "identity", name);
		tetherctl_json_strv (builder, "warnings", (const char *const *) warnings);
		json_builder_end_object (builder);
		tetherctl_print_json (builder);
	}
	return TRUE;
}

static gboolean
identity_list (TetherctlContext *ctx, char **args, GError **error)
{
	/* clang-format off */
	const TetherctlUsage usage = {
		.parameters = "",
		.summary = N_("List the device identities."),
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(GPtrArray) identities = NULL;

	if (positional == NULL)
		return FALSE;
	identities = tetherctl_list_identities (ctx, error);
	if (identities == NULL)
		return FALSE;

	if (ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();

		json_builder_begin_array (builder);
		for (guint i = 0; i < identities->len; i++)
			tetherctl_identity_json (builder, g_ptr_array_index (identities, i));
		json_builder_end_array (builder);
		tetherctl_print_json (builder);
		return TRUE;
	}
	tetherctl_identities_table (identities);
	return TRUE;
}

static gboolean
identity_show (TetherctlContext *ctx, char **args, GError **error)
{
	g_autofree char *identity = NULL;
	/* clang-format off */
	const GOptionEntry entries[] = {
		{ "identity", 0, 0, G_OPTION_ARG_STRING, &identity,
		  N_("The identity (default: device)"), N_("NAME") },
		{ NULL },
	};
	const TetherctlUsage usage = {
		.parameters = "",
		.summary = N_("Show an identity: its state, its certificate and the connections "
		              "that use it."),
		.entries = entries,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(TetherDBusIdentity1) proxy = NULL;

	if (positional == NULL)
		return FALSE;
	proxy = tetherctl_get_identity (ctx, identity != NULL ? identity : DEFAULT_IDENTITY, error);
	if (proxy == NULL)
		return FALSE;

	if (ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();

		tetherctl_identity_json (builder, proxy);
		tetherctl_print_json (builder);
		return TRUE;
	}
	identity_print (proxy);
	return TRUE;
}

/* clang-format off */
const TetherctlCommand tetherctl_identity_commands[] = {
	{ "request", N_("Make a certificate signing request"), identity_request },
	{ "install", N_("Install a signed certificate chain"), identity_install },
	{ "list", N_("List the identities"), identity_list },
	{ "show", N_("Show an identity"), identity_show },
	{ NULL },
};
/* clang-format on */
