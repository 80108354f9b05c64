/* tetherctl: what every command shares (the bus, proxies, option parsing, output)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <glib/gi18n.h>

#include "tetherctl-common.h"

void
tetherctl_context_clear (TetherctlContext *ctx)
{
	g_clear_pointer (&ctx->command, g_free);
	g_clear_object (&ctx->input);
	g_clear_object (&ctx->manager);
	g_clear_object (&ctx->bus);
}

/* --session and --json, accepted before the command and after it */
void
tetherctl_add_global_options (GOptionContext *octx, TetherctlContext *ctx)
{
	/* clang-format off */
	const GOptionEntry entries[] = {
		{ "session", 0, 0, G_OPTION_ARG_NONE, &ctx->session,
		  N_("Talk to tetherd on the session bus instead of the system bus"), NULL },
		{ "json", 0, 0, G_OPTION_ARG_NONE, &ctx->json,
		  N_("Print JSON for scripts instead of text for people"), NULL },
		{ NULL },
	};
	/* clang-format on */

	g_option_context_add_main_entries (octx, entries, GETTEXT_PACKAGE);
}

gboolean
tetherctl_usage_error (GError **error, const char *format, ...)
{
	va_list args;
	g_autofree char *message = NULL;

	va_start (args, format);
	message = g_strdup_vprintf (format, args);
	va_end (args);
	g_set_error_literal (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE, message);
	return FALSE;
}

/* the option a command names its object with, when it takes no positional name and the
 * option was not given */
static const char *
naming_option (const TetherctlUsage *usage)
{
	for (const GOptionEntry *e = usage->entries; e != NULL && e->long_name != NULL; e++) {
		if (e->arg == G_OPTION_ARG_STRING && *(char **) e->arg_data == NULL &&
		    (g_str_equal (e->long_name, "identity") ||
		     g_str_equal (e->long_name, "connection")))
			return e->long_name;
	}
	return NULL;
}

/* Parses a command's options; returns its positional arguments, checked in number. */
GStrv
tetherctl_parse_command (TetherctlContext *ctx, const TetherctlUsage *usage, char **args,
                         GError **error)
{
	g_autofree char *prgname = NULL;
	g_autoptr(GOptionContext) octx = NULL;
	g_auto(GStrv) argv = g_strdupv (args);
	const char *usage_parameters = "";
	guint count;

	/* _("") would be the catalogue's header */
	if (usage->parameters != NULL && *usage->parameters != '\0')
		usage_parameters = _(usage->parameters);
	/* --help: "Usage: tetherctl connection add [OPTION…] ID --cloud CLOUD" */
	prgname = g_strdup_printf ("tetherctl %s", ctx->command);
	g_set_prgname (prgname);
	octx = g_option_context_new (usage_parameters);
	g_option_context_set_translation_domain (octx, GETTEXT_PACKAGE);
	g_option_context_set_summary (octx, usage->summary);
	if (usage->description != NULL)
		g_option_context_set_description (octx, usage->description);
	if (usage->entries != NULL)
		g_option_context_add_main_entries (octx, usage->entries, GETTEXT_PACKAGE);
	tetherctl_add_global_options (octx, ctx);
	if (!g_option_context_parse_strv (octx, &argv, error))
		return NULL;

	/* GOption keeps the "--" that ends the options, as in "publish --kind k -- -5" */
	for (guint i = 1; argv[i] != NULL; i++) {
		if (g_str_equal (argv[i], "--")) {
			g_free (argv[i]);
			memmove (&argv[i], &argv[i + 1],
			         (g_strv_length (argv + i + 1) + 1) * sizeof (char *));
			break;
		}
	}

	count = g_strv_length (argv) - 1;
	if (count < usage->min_args) {
		tetherctl_usage_error (error, _("Missing arguments: tetherctl %s %s"),
		                                 ctx->command, usage_parameters);
		return NULL;
	}
	if (count > usage->max_args) {
		const char *extra = argv[usage->max_args + 1];
		const char *option = naming_option (usage);

		/* 'identity show spare' for 'identity show --identity spare', 'publish tb ...' for
		 * 'publish --connection tb ...': the name came first */
		if (option != NULL)
			tetherctl_usage_error (error,
			                       _("Unexpected argument '%s': to name the %s, write "
			                         "--%s %s"),
			                          extra, option, option, argv[1]);
		else
			tetherctl_usage_error (error, _("Unexpected argument '%s'"), extra);
		return NULL;
	}
	return g_strdupv (argv + 1);
}

TetherDBusTether1 *
tetherctl_manager (TetherctlContext *ctx, GError **error)
{
	GBusType bus_type = ctx->session ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM;
	const char *bus_name = ctx->session ? _("session") : _("system");
	g_autoptr(GError) local_error = NULL;
	g_autoptr(TetherDBusTether1) manager = NULL;
	g_autofree char *owner = NULL;

	if (ctx->manager != NULL)
		return ctx->manager;

	if (ctx->bus == NULL) {
		ctx->bus = g_bus_get_sync (bus_type, NULL, &local_error);
		if (ctx->bus == NULL) {
			g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
			             _("Cannot connect to the %s bus to reach tetherd: %s"),
			                bus_name, local_error->message);
			return NULL;
		}
	}

	/* the proxy asks the bus to start tetherd when it is activatable */
	manager = tether_dbus_tether1_proxy_new_sync (
	        ctx->bus, G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS, TETHERCTL_BUS_NAME,
	        TETHERCTL_MANAGER_PATH, NULL, &local_error);
	if (manager == NULL) {
		g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
		             _("Cannot reach tetherd on the %s bus: %s"), bus_name,
		                local_error->message);
		return NULL;
	}
	owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (manager));
	if (owner == NULL) {
		if (ctx->session)
			g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
			             _("tetherd is not running on the session bus: start it with "
			               "'tetherd --session'"));
		else
			g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
			             _("tetherd is not running on the system bus: start it with "
			               "'systemctl start tetherd', or use --session for a tetherd "
			               "on the session bus"));
		return NULL;
	}

	ctx->manager = g_steal_pointer (&manager);
	return ctx->manager;
}

gpointer
tetherctl_object_proxy (TetherctlContext *ctx, GType proxy_type, const char *interface_name,
                        const char *path, GError **error)
{
	if (tetherctl_manager (ctx, error) == NULL)
		return NULL;
	return g_initable_new (proxy_type, NULL, error, "g-flags",
	                       G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS |
	                               G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
	                       "g-name", TETHERCTL_BUS_NAME, "g-connection", ctx->bus,
	                       "g-object-path", path, "g-interface-name", interface_name, NULL);
}

GPtrArray *
tetherctl_object_proxies (TetherctlContext *ctx, GType proxy_type, const char *interface_name,
                          const char *const *paths, GError **error)
{
	g_autoptr(GPtrArray) proxies = g_ptr_array_new_with_free_func (g_object_unref);

	for (guint i = 0; paths != NULL && paths[i] != NULL; i++) {
		gpointer proxy =
		        tetherctl_object_proxy (ctx, proxy_type, interface_name, paths[i], error);

		if (proxy == NULL)
			return NULL;
		g_ptr_array_add (proxies, proxy);
	}
	return g_steal_pointer (&proxies);
}

/* The manager's Get* methods share one signature: (name) -> object path. */
typedef gboolean (*GetPathFunc) (TetherDBusTether1 *proxy, const char *name,
                                 GDBusCallFlags call_flags, gint timeout_msec, char **out_path,
                                 GCancellable *cancellable, GError **error);

static gpointer
get_object (TetherctlContext *ctx, GetPathFunc get_path, GType proxy_type,
            const char *interface_name, const char *name, GError **error)
{
	TetherDBusTether1 *manager = tetherctl_manager (ctx, error);
	g_autofree char *path = NULL;

	if (manager == NULL)
		return NULL;
	if (!get_path (manager, name, TETHERCTL_CALL_FLAGS, TETHERCTL_TIMEOUT, &path, NULL, error))
		return NULL;
	return tetherctl_object_proxy (ctx, proxy_type, interface_name, path, error);
}

TetherDBusConnection1 *
tetherctl_get_connection (TetherctlContext *ctx, const char *id, GError **error)
{
	return get_object (ctx, tether_dbus_tether1_call_get_connection_sync,
	                   TETHER_DBUS_TYPE_CONNECTION1_PROXY, "org.tether.Connection1", id, error);
}

TetherDBusCloud1 *
tetherctl_get_cloud (TetherctlContext *ctx, const char *name, GError **error)
{
	return get_object (ctx, tether_dbus_tether1_call_get_cloud_sync,
	                   TETHER_DBUS_TYPE_CLOUD1_PROXY, "org.tether.Cloud1", name, error);
}

TetherDBusTrustAnchor1 *
tetherctl_get_anchor (TetherctlContext *ctx, const char *name, GError **error)
{
	return get_object (ctx, tether_dbus_tether1_call_get_trust_anchor_sync,
	                   TETHER_DBUS_TYPE_TRUST_ANCHOR1_PROXY, "org.tether.TrustAnchor1", name,
	                   error);
}

TetherDBusIdentity1 *
tetherctl_get_identity (TetherctlContext *ctx, const char *name, GError **error)
{
	return get_object (ctx, tether_dbus_tether1_call_get_identity_sync,
	                   TETHER_DBUS_TYPE_IDENTITY1_PROXY, "org.tether.Identity1", name, error);
}

/* The name an object gives in @property; when it cannot be read (the object is gone), the
 * last element of its path, unescaped. */
char *
tetherctl_object_name (TetherctlContext *ctx, const char *path, const char *interface_name,
                       const char *property)
{
	g_autoptr(GVariant) reply = NULL;
	g_autofree char *last = NULL;
	char *name;

	if (ctx->bus != NULL)
		reply = g_dbus_connection_call_sync (
		        ctx->bus, TETHERCTL_BUS_NAME, path, "org.freedesktop.DBus.Properties",
		        "Get", g_variant_new ("(ss)", interface_name, property),
		        G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, TETHERCTL_TIMEOUT,
		        NULL, NULL);
	if (reply != NULL) {
		g_autoptr(GVariant) value = NULL;

		g_variant_get (reply, "(v)", &value);
		if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
			return g_variant_dup_string (value, NULL);
	}

	last = g_path_get_basename (path);
	name = (char *) g_dbus_unescape_object_path (last);
	return name != NULL ? name : g_steal_pointer (&last);
}

/* An empty a{sv}, not floating. */
GVariant *
tetherctl_no_options (void)
{
	return g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));
}

/* stdout takes the bytes as they are: g_print would convert UTF-8 to the locale's charset */
void
tetherctl_print (const char *format, ...)
{
	va_list args;

	va_start (args, format);
	vfprintf (stdout, format, args);
	va_end (args);
}

void
tetherctl_print_warnings (const char *const *warnings)
{
	for (guint i = 0; warnings != NULL && warnings[i] != NULL; i++)
		fprintf (stderr, _("warning: %s\n"), warnings[i]);
}

void
tetherctl_print_field (const char *key, const char *value)
{
	tetherctl_print ("%s: %s\n", key, value != NULL && *value != '\0' ? value : "-");
}

void
tetherctl_print_field_strv (const char *key, const char *const *values)
{
	g_autofree char *text = tetherctl_join (values);

	tetherctl_print_field (key, text);
}

void
tetherctl_print_field_time (const char *key, gint64 unix_seconds)
{
	g_autofree char *text = tetherctl_time_text (unix_seconds);

	tetherctl_print_field (key, text);
}

void
tetherctl_print_field_bool (const char *key, gboolean value)
{
	tetherctl_print_field (key, tetherctl_yes_no (value));
}

void
tetherctl_print_field_uint64 (const char *key, guint64 value)
{
	g_autofree char *text = g_strdup_printf ("%" G_GUINT64_FORMAT, value);

	tetherctl_print_field (key, text);
}

void
tetherctl_print_field_dict (const char *key, GVariant *dict)
{
	g_autofree char *text = tetherctl_dict_text (dict);

	tetherctl_print_field (key, text);
}

const char *
tetherctl_yes_no (gboolean value)
{
	return value ? _("yes") : _("no");
}

/* "a, b, c", or NULL for none */
char *
tetherctl_join (const char *const *values)
{
	if (values == NULL || values[0] == NULL)
		return NULL;
	return g_strjoinv (", ", (char **) values);
}

/* ISO 8601 UTC, or NULL for 0 (none) */
char *
tetherctl_time_text (gint64 unix_seconds)
{
	return tetherctl_format_time (unix_seconds);
}

/* A value for people: a string as it is, anything else in the GVariant text format. */
char *
tetherctl_variant_text (GVariant *value)
{
	g_autoptr(GVariant) inner = NULL;

	if (value == NULL)
		return NULL;
	if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARIANT)) {
		inner = g_variant_get_variant (value);
		value = inner;
	}
	if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
		return g_variant_dup_string (value, NULL);
	return g_variant_print (value, FALSE);
}

/* An a{sv} as "key=value key=value", each value one word (quoted when it holds a space);
 * NULL when empty. */
char *
tetherctl_dict_text (GVariant *dict)
{
	g_autoptr(GString) text = g_string_new (NULL);
	GVariantIter iter;
	const char *key;
	GVariant *value;

	if (dict == NULL || !g_variant_is_of_type (dict, G_VARIANT_TYPE_VARDICT))
		return NULL;

	g_variant_iter_init (&iter, dict);
	while (g_variant_iter_next (&iter, "{&sv}", &key, &value)) {
		g_autoptr(GVariant) owned = value;
		g_autofree char *plain = tetherctl_variant_text (owned);
		g_autofree char *word = tetherctl_format_word (plain, -1);

		g_string_append_printf (text, "%s%s=%s", text->len > 0 ? " " : "", key, word);
	}
	if (text->len == 0)
		return NULL;
	return g_string_free (g_steal_pointer (&text), FALSE);
}

static void
print_member (const char *indent, const char *key, GVariant *value)
{
	g_autofree char *field = g_strconcat (indent, key, NULL);
	g_autofree char *text = NULL;

	if (g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN)) {
		tetherctl_print_field_bool (field, g_variant_get_boolean (value));
	} else if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING_ARRAY)) {
		g_autofree const char **values = g_variant_get_strv (value, NULL);

		tetherctl_print_field_strv (field, values);
	} else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64) &&
	           (g_str_equal (key, "not-before") || g_str_equal (key, "not-after"))) {
		tetherctl_print_field_time (field, g_variant_get_int64 (value));
	} else {
		text = tetherctl_variant_text (value);
		tetherctl_print_field (field, text);
	}
}

/* Each member of an a{sv} as "key: value" after @indent, those named in @first_keys first
 * and in that order: booleans as yes/no, string lists joined, "not-before" and "not-after"
 * as times, anything else as tetherctl_variant_text. Lists of dictionaries (aa{sv}) are
 * left to the caller. */
void
tetherctl_print_dict_fields (GVariant *dict, const char *indent, const char *const *first_keys)
{
	GVariantIter iter;
	const char *key;
	GVariant *value;

	if (dict == NULL || !g_variant_is_of_type (dict, G_VARIANT_TYPE_VARDICT))
		return;

	for (guint i = 0; first_keys != NULL && first_keys[i] != NULL; i++) {
		g_autoptr(GVariant) first = g_variant_lookup_value (dict, first_keys[i], NULL);

		if (first != NULL)
			print_member (indent, first_keys[i], first);
	}

	g_variant_iter_init (&iter, dict);
	while (g_variant_iter_next (&iter, "{&sv}", &key, &value)) {
		g_autoptr(GVariant) owned = value;

		if (first_keys != NULL && g_strv_contains (first_keys, key))
			continue;
		if (g_variant_is_of_type (value, G_VARIANT_TYPE ("aa{sv}")))
			continue;
		print_member (indent, key, value);
	}
}

/* TrustAnchor1.Certificates, or the "certificates" of a test: "certificate N:" and its
 * fields, indented */
void
tetherctl_print_certificates (GVariant *certificates)
{
	const char *const order[] = { "subject",   "issuer", "fingerprint-sha256", "not-before",
		                      "not-after", "is-ca",  "self-signed",        NULL };

	if (certificates == NULL || !g_variant_is_of_type (certificates, G_VARIANT_TYPE ("aa{sv}")))
		return;
	for (gsize i = 0; i < g_variant_n_children (certificates); i++) {
		g_autoptr(GVariant) certificate = g_variant_get_child_value (certificates, i);

		tetherctl_print ("certificate %" G_GSIZE_FORMAT ":\n", i + 1);
		tetherctl_print_dict_fields (certificate, "  ", order);
	}
}

struct _TetherctlTable {
	guint columns;
	GPtrArray *rows; /* of GStrv; the first holds the headers */
};

static GStrv
collect_cells (guint columns, const char *first, va_list args)
{
	GStrv cells = g_new0 (char *, columns + 1);
	const char *cell = first;

	for (guint i = 0; i < columns; i++) {
		cells[i] = g_strdup (cell != NULL && *cell != '\0' ? cell : "-");
		cell = va_arg (args, const char *);
	}
	return cells;
}

/* Headers, NULL-terminated. */
TetherctlTable *
tetherctl_table_new (const char *first_header, ...)
{
	TetherctlTable *table = g_new0 (TetherctlTable, 1);
	va_list args;

	va_start (args, first_header);
	for (const char *h = first_header; h != NULL; h = va_arg (args, const char *))
		table->columns++;
	va_end (args);

	table->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
	va_start (args, first_header);
	g_ptr_array_add (table->rows, collect_cells (table->columns, first_header, args));
	va_end (args);
	return table;
}

/* Exactly one cell a column, then NULL; a NULL or empty cell shows as "-" (the cells are
 * read by position, so a NULL cell does not end the row early). */
void
tetherctl_table_add (TetherctlTable *table, const char *first_cell, ...)
{
	va_list args;

	va_start (args, first_cell);
	g_ptr_array_add (table->rows, collect_cells (table->columns, first_cell, args));
	va_end (args);
}

void
tetherctl_table_print (TetherctlTable *table)
{
	g_autofree gsize *widths = g_new0 (gsize, table->columns);

	/* only the header: print nothing */
	if (table->rows->len < 2)
		return;

	for (guint r = 0; r < table->rows->len; r++) {
		char **cells = g_ptr_array_index (table->rows, r);

		for (guint c = 0; c < table->columns; c++)
			widths[c] = MAX (widths[c], (gsize) g_utf8_strlen (cells[c], -1));
	}
	for (guint r = 0; r < table->rows->len; r++) {
		char **cells = g_ptr_array_index (table->rows, r);
		g_autoptr(GString) line = g_string_new (NULL);

		for (guint c = 0; c < table->columns; c++) {
			g_string_append (line, cells[c]);
			if (c + 1 == table->columns)
				break;
			for (gsize pad = g_utf8_strlen (cells[c], -1); pad < widths[c] + 2; pad++)
				g_string_append_c (line, ' ');
		}
		tetherctl_print ("%s\n", line->str);
	}
}

void
tetherctl_table_free (TetherctlTable *table)
{
	g_ptr_array_unref (table->rows);
	g_free (table);
}

/* One line of JSON */
void
tetherctl_print_json_node (JsonNode *node)
{
	g_autoptr(JsonGenerator) generator = json_generator_new ();
	g_autofree char *text = NULL;

	json_generator_set_root (generator, node);
	text = json_generator_to_data (generator, NULL);
	tetherctl_print ("%s\n", text);
}

void
tetherctl_print_json (JsonBuilder *builder)
{
	g_autoptr(JsonNode) root = json_builder_get_root (builder);

	tetherctl_print_json_node (root);
}

void
tetherctl_json_string (JsonBuilder *builder, const char *member, const char *value)
{
	json_builder_set_member_name (builder, member);
	json_builder_add_string_value (builder, value != NULL ? value : "");
}

void
tetherctl_json_strv (JsonBuilder *builder, const char *member, const char *const *values)
{
	json_builder_set_member_name (builder, member);
	json_builder_begin_array (builder);
	for (guint i = 0; values != NULL && values[i] != NULL; i++)
		json_builder_add_string_value (builder, values[i]);
	json_builder_end_array (builder);
}

void
tetherctl_json_int (JsonBuilder *builder, const char *member, gint64 value)
{
	json_builder_set_member_name (builder, member);
	json_builder_add_int_value (builder, value);
}

void
tetherctl_json_bool (JsonBuilder *builder, const char *member, gboolean value)
{
	json_builder_set_member_name (builder, member);
	json_builder_add_boolean_value (builder, value);
}

/* Any GVariant, by json-glib's mapping (a{sv} becomes an object); null when NULL */
void
tetherctl_json_variant (JsonBuilder *builder, const char *member, GVariant *value)
{
	json_builder_set_member_name (builder, member);
	if (value == NULL)
		json_builder_add_null_value (builder);
	else
		json_builder_add_value (builder, json_gvariant_serialize (value));
}
