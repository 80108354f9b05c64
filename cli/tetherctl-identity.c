/* tetherctl identity request|install|import|list|show|remove
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "tetherctl-commands.h"

#define DEFAULT_IDENTITY "device"
/* a password longer than this is not one */
#define PASSWORD_MAX_SIZE 4096

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
	        _("NAME"), _("STATE"), _("KEY TYPE"), _("NOT AFTER"), _("RENEWAL DUE"),
	                                                                     _("RENEWAL"),
	                                                                        _("LAST RESULT"),
	                                                                           _("PENDING"),
	                                                                              _("USED BY"),
	                                                                                 NULL);
	for (guint i = 0; i < identities->len; i++) {
		TetherDBusIdentity1 *identity = g_ptr_array_index (identities, i);
		GVariant *renewal = tether_dbus_identity1_get_renewal (identity);
		gint64 due = 0;
		const char *method = NULL;
		const char *last_result = NULL;
		g_autofree char *not_after =
		        tetherctl_time_text (tether_dbus_identity1_get_not_after (identity));
		g_autofree char *due_text = NULL;
		g_autofree char *used_by =
		        tetherctl_join (tether_dbus_identity1_get_used_by (identity));

		if (renewal != NULL) {
			g_variant_lookup (renewal, "due", "x", &due);
			g_variant_lookup (renewal, "method", "&s", &method);
			g_variant_lookup (renewal, "last-result", "&s", &last_result);
		}
		due_text = tetherctl_time_text (due);
		tetherctl_table_add (
		        table, tether_dbus_identity1_get_name (identity),
		        tether_dbus_identity1_get_state (identity),
		        tether_dbus_identity1_get_key_type (identity), not_after, due_text, method,
		        last_result,
		        tetherctl_yes_no (tether_dbus_identity1_get_pending (identity)), used_by,
		        NULL);
	}
	tetherctl_table_print (table);
}

/* what the operator should do next, or NULL when nothing is needed */
static char *
identity_advice (TetherDBusIdentity1 *identity)
{
	const char *name = tether_dbus_identity1_get_name (identity);
	const char *state = tether_dbus_identity1_get_state (identity);
	GVariant *renewal = tether_dbus_identity1_get_renewal (identity);
	gboolean pending_key = FALSE;
	const char *method = "manual";
	const char *last_result = "";
	gint64 due = 0;
	gint64 now = g_get_real_time () / G_USEC_PER_SEC;
	gboolean est;
	gboolean works;

	if (renewal != NULL) {
		g_variant_lookup (renewal, "pending-key", "b", &pending_key);
		g_variant_lookup (renewal, "method", "&s", &method);
		g_variant_lookup (renewal, "due", "x", &due);
		g_variant_lookup (renewal, "last-result", "&s", &last_result);
	}
	est = g_strcmp0 (method, "est") == 0;
	works = g_strcmp0 (state, "ready") == 0 || g_strcmp0 (state, "renewing") == 0;

	if (tether_dbus_identity1_get_pending (identity))
		return g_strdup (
		        _("a renewed certificate is on trial: it becomes the active one "
		                   "when a connection succeeds with it; the current one stays in use "
		                   "until then"));

	if (pending_key)
		return g_strdup_printf (
		        _("a renewal key waits for its certificate: install it with "
		                          "'tetherctl identity install --identity %s FILE'"),
		           name);

	/* with EST, tetherd enrolls and renews by itself: say what stops it */
	if (est && g_strcmp0 (last_result, "failed") == 0 && works)
		return g_strdup (_("the last EST attempt failed: fix what last-message says (the "
		                   "EST settings are above); tetherd tries again by itself at "
		                   "next-attempt, and the current certificate stays in use "
		                   "meanwhile"));
	if (est && g_strcmp0 (last_result, "failed") == 0)
		return g_strdup (_("the last EST attempt failed: fix what last-message says (the "
		                   "EST settings are above); tetherd tries again by itself at "
		                   "next-attempt"));
	if (est && !works)
		return g_strdup (_("tetherd enrolls the identity over EST by itself; see the last "
		                   "result and the next attempt above"));

	if (g_strcmp0 (state, "no-key") == 0)
		return g_strdup_printf (
		        _("make a key and a request with 'tetherctl identity request "
		                          "--identity %s --common-name CN', or import a key with "
		                          "'tetherctl identity import --identity %s'"),
		           name, name);
	if (g_strcmp0 (state, "key-only") == 0)
		return g_strdup_printf (
		        _("have the device CA sign the request, then install the "
		                          "certificate with 'tetherctl identity install --identity "
		                          "%s FILE'"),
		           name);
	if (est && (g_strcmp0 (state, "expired") == 0 || now >= due))
		return g_strdup (_("the EST server renews the certificate; see the last result "
		                   "and the next attempt above"));
	if (g_strcmp0 (state, "expired") == 0)
		return g_strdup_printf (
		        _("the certificate has expired: make a renewal request with "
		                          "'tetherctl identity request --identity %s --renew', have "
		                          "it signed and install it"),
		           name);
	if (due != 0 && now >= due)
		return g_strdup_printf (
		        _("the renewal is due: make a request with 'tetherctl "
		                          "identity request --identity %s --renew', have it signed "
		                          "and install it"),
		           name);
	return NULL;
}

void
tetherctl_identity_json (JsonBuilder *builder, TetherDBusIdentity1 *identity)
{
	g_autofree char *advice = identity_advice (identity);

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
	tetherctl_json_variant (builder, "certificates",
	                        tether_dbus_identity1_get_certificates (identity));
	tetherctl_json_bool (builder, "pending", tether_dbus_identity1_get_pending (identity));
	tetherctl_json_variant (builder, "renewal", tether_dbus_identity1_get_renewal (identity));
	tetherctl_json_string (builder, "advice", advice);
	tetherctl_json_strv (builder, "used-by", tether_dbus_identity1_get_used_by (identity));
	tetherctl_json_string (builder, "path",
	                       g_dbus_proxy_get_object_path (G_DBUS_PROXY (identity)));
	json_builder_end_object (builder);
}

/* "in 3 days", "2 hours ago", for a time relative to now */
static char *
relative_text (gint64 t)
{
	gint64 delta = t - g_get_real_time () / G_USEC_PER_SEC;
	gint64 magnitude = ABS (delta);
	g_autofree char *amount = NULL;

	if (magnitude < 5)
		return g_strdup (_("now"));
	if (magnitude >= 2 * 86400)
		amount = g_strdup_printf (_("%d days"), (int) (magnitude / 86400));
	else if (magnitude >= 2 * 3600)
		amount = g_strdup_printf (_("%d hours"), (int) (magnitude / 3600));
	else if (magnitude >= 120)
		amount = g_strdup_printf (_("%d minutes"), (int) (magnitude / 60));
	else
		amount = g_strdup_printf (_("%d seconds"), (int) magnitude);
	return delta >= 0 ? g_strdup_printf (_("in %s"), amount)
	                  : g_strdup_printf (_("%s ago"), amount);
}

/* a time and how far it is from now, or "-" */
static void
print_time_relative (const char *key, gint64 t)
{
	g_autofree char *when = tetherctl_time_text (t);
	g_autofree char *relative = NULL;
	g_autofree char *text = NULL;

	if (t == 0) {
		tetherctl_print_field (key, NULL);
		return;
	}
	relative = relative_text (t);
	text = g_strdup_printf ("%s (%s)", when, relative);
	tetherctl_print_field (key, text);
}

/* "DNS:a, URI:b" for the device certificate's subject alternative names, or NULL */
static char *
alt_names_text (GVariant *certificate)
{
	g_autoptr(GString) text = g_string_new (NULL);
	g_autofree const char **dns = NULL;
	g_autofree const char **uris = NULL;

	g_variant_lookup (certificate, "dns-names", "^a&s", &dns);
	g_variant_lookup (certificate, "uris", "^a&s", &uris);
	for (guint i = 0; dns != NULL && dns[i] != NULL; i++)
		g_string_append_printf (text, "%sDNS:%s", text->len > 0 ? ", " : "", dns[i]);
	for (guint i = 0; uris != NULL && uris[i] != NULL; i++)
		g_string_append_printf (text, "%sURI:%s", text->len > 0 ? ", " : "", uris[i]);
	if (text->len == 0)
		return NULL;
	return g_string_free (g_steal_pointer (&text), FALSE);
}

/* the chain, one line a certificate: subject, what it is, its issuer, its end */
static void
print_chain (GVariant *certificates)
{
	gsize n = certificates != NULL ? g_variant_n_children (certificates) : 0;

	if (n == 0) {
		tetherctl_print_field ("chain", NULL);
		return;
	}
	tetherctl_print ("chain:\n");
	for (gsize i = 0; i < n; i++) {
		g_autoptr(GVariant) certificate = g_variant_get_child_value (certificates, i);
		const char *subject = "";
		const char *issuer = "";
		gboolean is_ca = FALSE;
		gboolean self_signed = FALSE;
		gint64 not_after = 0;
		g_autofree char *until = NULL;
		const char *kind;

		g_variant_lookup (certificate, "subject", "&s", &subject);
		g_variant_lookup (certificate, "issuer", "&s", &issuer);
		g_variant_lookup (certificate, "is-ca", "b", &is_ca);
		g_variant_lookup (certificate, "self-signed", "b", &self_signed);
		g_variant_lookup (certificate, "not-after", "x", &not_after);
		until = tetherctl_time_text (not_after);
		if (i == 0)
			kind = _("device certificate");
		else if (self_signed)
			kind = _("root CA");
		else if (is_ca)
			kind = _("intermediate CA");
		else
			kind = _("not a CA");
		if (self_signed)
			tetherctl_print (_("  %" G_GSIZE_FORMAT ". %s (%s), valid until %s\n"),
			                    i + 1, subject, kind, until != NULL ? until : "-");
		else
			tetherctl_print (
			        _("  %" G_GSIZE_FORMAT ". %s (%s), issued by %s, valid until "
			                   "%s\n"),
			           i + 1, subject, kind, issuer, until != NULL ? until : "-");
	}
}

/* each connection that uses the identity, with its state and its last error */
static void
print_users (TetherctlContext *ctx, const char *const *used_by)
{
	if (used_by == NULL || used_by[0] == NULL) {
		tetherctl_print_field ("used-by", NULL);
		return;
	}
	tetherctl_print ("used-by:\n");
	for (guint i = 0; used_by[i] != NULL; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(TetherDBusConnection1) connection =
		                   tetherctl_get_connection (ctx, used_by[i], &error);
		const char *last_error;

		if (connection == NULL) {
			tetherctl_print ("  %s: %s\n", used_by[i], error->message);
			continue;
		}
		last_error = tether_dbus_connection1_get_last_error (connection);
		if (!tether_dbus_connection1_get_enabled (connection))
			tetherctl_print (_("  %s: disabled\n"), used_by[i]);
		else if (last_error != NULL && *last_error != '\0')
			tetherctl_print ("  %s: %s (%s)\n", used_by[i],
			                 tether_dbus_connection1_get_state (connection),
			                 last_error);
		else
			tetherctl_print ("  %s: %s\n", used_by[i],
			                 tether_dbus_connection1_get_state (connection));
	}
}

static void
identity_print (TetherctlContext *ctx, TetherDBusIdentity1 *identity)
{
	GVariant *renewal = tether_dbus_identity1_get_renewal (identity);
	GVariant *certificates = tether_dbus_identity1_get_certificates (identity);
	g_autoptr(GVariant) leaf = NULL;
	g_autoptr(GVariant) refused_by = NULL;
	g_autofree char *advice = identity_advice (identity);
	g_autofree char *alt_names = NULL;
	const char *method = NULL;
	const char *last_result = NULL;
	const char *last_message = NULL;
	const char *pending_subject = NULL;
	const char *pending_issuer = NULL;
	const char *pending_serial = NULL;
	const char *pending_fingerprint = NULL;
	const char *key_type = NULL;
	const char *est_url = NULL;
	const char *est_auth = NULL;
	const char *est_bootstrap = NULL;
	const char *est_credentials = NULL;
	const char *est_common_name = NULL;
	g_autofree const char **est_anchors = NULL;
	guint32 threshold = 0;
	guint32 failures = 0;
	guint32 retry_min = 0;
	guint32 retry_max = 0;
	gint64 due = 0;
	gint64 last_attempt = 0;
	gint64 next_attempt = 0;
	gint64 pending_not_after = 0;
	gboolean pending_key = FALSE;
	gboolean in_progress = FALSE;
	g_autofree char *threshold_text = NULL;
	g_autofree char *failures_text = NULL;
	g_autofree char *retry_text = NULL;

	if (renewal != NULL) {
		g_variant_lookup (renewal, "method", "&s", &method);
		g_variant_lookup (renewal, "threshold", "u", &threshold);
		g_variant_lookup (renewal, "due", "x", &due);
		g_variant_lookup (renewal, "in-progress", "b", &in_progress);
		g_variant_lookup (renewal, "pending-key", "b", &pending_key);
		g_variant_lookup (renewal, "pending-subject", "&s", &pending_subject);
		g_variant_lookup (renewal, "pending-issuer", "&s", &pending_issuer);
		g_variant_lookup (renewal, "pending-serial", "&s", &pending_serial);
		g_variant_lookup (renewal, "pending-fingerprint", "&s", &pending_fingerprint);
		g_variant_lookup (renewal, "pending-not-after", "x", &pending_not_after);
		refused_by = g_variant_lookup_value (renewal, "pending-refused-by",
		                                     G_VARIANT_TYPE ("a{ss}"));
		g_variant_lookup (renewal, "last-attempt", "x", &last_attempt);
		g_variant_lookup (renewal, "last-result", "&s", &last_result);
		g_variant_lookup (renewal, "last-message", "&s", &last_message);
		g_variant_lookup (renewal, "failures", "u", &failures);
		g_variant_lookup (renewal, "next-attempt", "x", &next_attempt);
		g_variant_lookup (renewal, "retry-min", "u", &retry_min);
		g_variant_lookup (renewal, "retry-max", "u", &retry_max);
		g_variant_lookup (renewal, "key-type", "&s", &key_type);
		g_variant_lookup (renewal, "est-url", "&s", &est_url);
		g_variant_lookup (renewal, "est-auth", "&s", &est_auth);
		g_variant_lookup (renewal, "est-trust-anchors", "^a&s", &est_anchors);
		g_variant_lookup (renewal, "est-bootstrap-identity", "&s", &est_bootstrap);
		g_variant_lookup (renewal, "est-credentials-file", "&s", &est_credentials);
		g_variant_lookup (renewal, "est-common-name", "&s", &est_common_name);
	}
	if (certificates != NULL && g_variant_n_children (certificates) > 0) {
		leaf = g_variant_get_child_value (certificates, 0);
		alt_names = alt_names_text (leaf);
	}

	/* the key and the active certificate */
	tetherctl_print_field ("name", tether_dbus_identity1_get_name (identity));
	tetherctl_print_field ("state", tether_dbus_identity1_get_state (identity));
	tetherctl_print_field ("key-type", tether_dbus_identity1_get_key_type (identity));
	tetherctl_print_field ("subject", tether_dbus_identity1_get_subject (identity));
	if (alt_names != NULL)
		tetherctl_print_field ("subject-alt-names", alt_names);
	tetherctl_print_field ("issuer", tether_dbus_identity1_get_issuer (identity));
	tetherctl_print_field ("serial", tether_dbus_identity1_get_serial (identity));
	print_time_relative ("not-before", tether_dbus_identity1_get_not_before (identity));
	print_time_relative ("not-after", tether_dbus_identity1_get_not_after (identity));
	tetherctl_print_field ("fingerprint", tether_dbus_identity1_get_fingerprint (identity));
	tetherctl_print_field_uint64 ("chain-length",
	                              tether_dbus_identity1_get_chain_length (identity));
	print_chain (certificates);
	print_users (ctx, tether_dbus_identity1_get_used_by (identity));

	/* renewal, and with EST where it comes from */
	tetherctl_print_field ("renewal", method);
	if (threshold > 0)
		threshold_text = g_strdup_printf (_("%u%% of the lifetime"), threshold);
	tetherctl_print_field ("renewal-threshold", threshold_text);
	print_time_relative ("renewal-due", due);
	tetherctl_print_field_bool ("renewal-in-progress", in_progress);
	if (est_url != NULL) {
		tetherctl_print_field ("renewal-key-type", key_type);
		retry_text = g_strdup_printf (_("%u s after a failure, doubling up to %u s"),
		                                 retry_min, retry_max);
		tetherctl_print_field ("renewal-retry", retry_text);
		tetherctl_print_field ("est-url", est_url);
		tetherctl_print_field_strv ("est-trust-anchors", est_anchors);
		tetherctl_print_field ("est-auth", est_auth);
		if (g_strcmp0 (est_auth, "basic") == 0)
			tetherctl_print_field ("est-credentials-file", est_credentials);
		else
			tetherctl_print_field ("est-bootstrap-identity", est_bootstrap);
		tetherctl_print_field ("est-common-name", est_common_name);
	}

	/* a renewed pair: its key, then its certificate on trial */
	tetherctl_print_field_bool ("pending", tether_dbus_identity1_get_pending (identity));
	if (pending_subject != NULL) {
		tetherctl_print_field ("pending-subject", pending_subject);
		tetherctl_print_field ("pending-issuer", pending_issuer);
		tetherctl_print_field ("pending-serial", pending_serial);
		print_time_relative ("pending-not-after", pending_not_after);
		tetherctl_print_field ("pending-fingerprint", pending_fingerprint);
	}
	if (refused_by != NULL && g_variant_n_children (refused_by) > 0) {
		GVariantIter iter;
		const char *connection;
		const char *why;

		tetherctl_print ("pending-refused-by:\n");
		g_variant_iter_init (&iter, refused_by);
		while (g_variant_iter_next (&iter, "{&s&s}", &connection, &why))
			tetherctl_print ("  %s: %s\n", connection, why);
	}
	tetherctl_print_field_bool ("pending-key", pending_key);

	/* how the last renewal went, and when the next one comes */
	print_time_relative ("last-attempt", last_attempt);
	tetherctl_print_field ("last-result", last_result);
	tetherctl_print_field ("last-message", last_message);
	failures_text = g_strdup_printf ("%u", failures);
	tetherctl_print_field ("failures-in-a-row", failures_text);
	print_time_relative ("next-attempt", next_attempt);
	tetherctl_print_field ("advice", advice);
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

/* whether the request can be written to @path: checked before tetherd makes a key for it */
static gboolean
check_output_path (const char *path, GError **error)
{
	g_autoptr(GError) local_error = NULL;

	if (tetherctl_check_output (path, &local_error))
		return TRUE;
	g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
	             _("Cannot write the request to '%s': %s; nothing was changed"), path,
	                local_error->message);
	return FALSE;
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
	gboolean renew = FALSE;
	/* clang-format off */
	const GOptionEntry entries[] = {
		{ "identity", 0, 0, G_OPTION_ARG_STRING, &identity,
		  N_("The identity (default: device)"), N_("NAME") },
		{ "common-name", 0, 0, G_OPTION_ARG_STRING, &common_name,
		  N_("The subject's common name (required, except with --renew)"), N_("CN") },
		{ "renew", 0, 0, G_OPTION_ARG_NONE, &renew,
		  N_("Make a new key beside the active one, for a renewal; the active key and "
		     "certificate stay in use until the new certificate works"), NULL },
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
		  N_("Write the request to FILE instead of standard output ('-' is standard "
		     "output); a device or a FIFO is written into, a symbolic link is followed"),
		  N_("FILE") },
		{ NULL },
	};
	const TetherctlUsage usage = {
		.parameters = N_("--common-name CN"),
		.summary = N_("Make a certificate signing request (PKCS#10, PEM) for an identity, "
		              "for the device CA to sign. tetherd makes the identity's private "
		              "key first when it has none; the key never leaves the device. "
		              "Install the signed certificate with 'tetherctl identity install'. "
		              "With --renew, a new key is made for a renewal: the certificate "
		              "for it goes on trial when installed, and becomes the active one "
		              "once a connection succeeds with it."),
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
	if (common_name == NULL && !renew)
		return tetherctl_usage_error (error, _("Give the subject with --common-name CN"));
	name = identity != NULL ? identity : DEFAULT_IDENTITY;
	if (g_strcmp0 (out, "-") == 0)
		g_clear_pointer (&out, g_free);
	if (out != NULL && !check_output_path (out, error))
		return FALSE;
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
	if (renew)
		g_variant_dict_insert (options, "renew", "b", TRUE);
	options_value = g_variant_ref_sink (g_variant_dict_end (options));
	if (!tether_dbus_tether1_call_create_identity_request_sync (
	            manager, name, options_value, TETHERCTL_CALL_FLAGS, TETHERCTL_TIMEOUT_LONG,
	            &csr, NULL, error))
		return FALSE;

	if (out != NULL) {
		g_autoptr(GError) local_error = NULL;

		if (!tetherctl_write_file (out, csr, strlen (csr), &local_error)) {
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
		              "identity's key: a PEM file, a DER certificate or a PKCS#7 bundle "
		              "(or '-' for standard input) with the device certificate and its "
		              "intermediates, put in order if they are not. Warnings go to "
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

/* wipes and frees a buffer that held a secret */
static void
secret_free (char *secret)
{
	if (secret == NULL)
		return;
	memset (secret, 0, strlen (secret));
	g_free (secret);
}
typedef char TetherctlSecret;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TetherctlSecret, secret_free)

static void
bytes_wipe (GBytes *bytes)
{
	gsize size = 0;
	gpointer data = (gpointer) g_bytes_get_data (bytes, &size);

	if (data != NULL)
		memset (data, 0, size);
}

/* the password: the first line of FILE, or of standard input for "-" */
static char *
read_password (const char *path, GInputStream *input, GError **error)
{
	g_autoptr(GBytes) bytes = tetherctl_read_file (path, input, error);
	const char *data;
	gsize size = 0;
	gsize length = 0;
	char *password;

	if (bytes == NULL)
		return NULL;
	data = g_bytes_get_data (bytes, &size);
	if (size > PASSWORD_MAX_SIZE) {
		bytes_wipe (bytes);
		g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
		             _("The password file '%s' is %zu bytes long: give a file that holds "
		               "the password on its first line"),
		                path, size);
		return NULL;
	}
	while (length < size && data[length] != '\n' && data[length] != '\r' &&
	       data[length] != '\0')
		length++;
	/* an empty file's bytes may have no data at all */
	password = g_strndup (data != NULL ? data : "", length);
	bytes_wipe (bytes);
	if (!g_utf8_validate (password, -1, NULL)) {
		secret_free (password);
		g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
		             _("The password in '%s' is not UTF-8 text"), path);
		return NULL;
	}
	return password;
}

static gboolean
identity_import (TetherctlContext *ctx, char **args, GError **error)
{
	g_autofree char *identity = NULL;
	g_autofree char *password_file = NULL;
	/* clang-format off */
	const GOptionEntry entries[] = {
		{ "identity", 0, 0, G_OPTION_ARG_STRING, &identity,
		  N_("The identity (default: device); made when it does not exist"), N_("NAME") },
		{ "password-file", 0, 0, G_OPTION_ARG_FILENAME, &password_file,
		  N_("Read the password of an encrypted key or a PKCS#12 bundle from the first "
		     "line of FILE, or of standard input for '-'"), N_("FILE") },
		{ NULL },
	};
	const TetherctlUsage usage = {
		.parameters = N_("KEY_OR_P12 [CHAIN]"),
		.summary = N_("Import a private key made elsewhere, with its certificate chain, as "
		              "an identity's active key and certificate. KEY_OR_P12 is a PEM or "
		              "DER key (PKCS#8, plain or encrypted; SEC1 'EC PRIVATE KEY'; PKCS#1 "
		              "'RSA PRIVATE KEY') or a PKCS#12 bundle that holds the key and its "
		              "certificates; CHAIN is the chain for a key file, PEM, DER or PKCS#7 (without it, "
		              "the certificates that follow the key in a PEM key file). The key is "
		              "stored decrypted, readable by tetherd alone; the password is never "
		              "stored, and never taken from the command line. Warnings go to "
		              "standard error."),
		.entries = entries,
		.min_args = 1,
		.max_args = 2,
	};
	/* clang-format on */
	g_auto(GStrv) positional = tetherctl_parse_command (ctx, &usage, args, error);
	g_autoptr(TetherctlSecret) password = NULL;
	g_autoptr(GBytes) key = NULL;
	g_autoptr(GBytes) chain = NULL;
	g_autoptr(GVariant) key_value = NULL;
	g_autoptr(GVariant) chain_value = NULL;
	g_autoptr(GVariantDict) options = g_variant_dict_new (NULL);
	g_autoptr(GVariant) options_value = NULL;
	g_auto(GStrv) warnings = NULL;
	TetherDBusTether1 *manager;
	const char *name;
	guint stdin_users = 0;
	gboolean ok;

	if (positional == NULL)
		return FALSE;
	name = identity != NULL ? identity : DEFAULT_IDENTITY;
	for (guint i = 0; positional[i] != NULL; i++)
		stdin_users += g_strcmp0 (positional[i], "-") == 0;
	stdin_users += g_strcmp0 (password_file, "-") == 0;
	if (stdin_users > 1)
		return tetherctl_usage_error (error, _("Only one of the key, the chain and the "
		                                       "password can come from standard input"));

	if (password_file != NULL) {
		password = read_password (password_file, ctx->input, error);
		if (password == NULL)
			return FALSE;
	}
	key = tetherctl_read_file (positional[0], ctx->input, error);
	if (key == NULL)
		return FALSE;
	if (positional[1] != NULL) {
		chain = tetherctl_read_file (positional[1], ctx->input, error);
		if (chain == NULL)
			return FALSE;
	} else {
		chain = g_bytes_new (NULL, 0);
	}
	manager = tetherctl_manager (ctx, error);
	if (manager == NULL)
		return FALSE;

	if (password != NULL)
		g_variant_dict_insert (options, "password", "s", password);
	options_value = g_variant_ref_sink (g_variant_dict_end (options));
	key_value = tetherctl_bytes_to_variant (key);
	chain_value = tetherctl_bytes_to_variant (chain);
	ok = tether_dbus_tether1_call_import_identity_sync (
	        manager, name, key_value, chain_value, options_value, TETHERCTL_CALL_FLAGS,
	        TETHERCTL_TIMEOUT, &warnings, NULL, error);
	g_clear_pointer (&options_value, g_variant_unref);
	g_clear_pointer (&key_value, g_variant_unref);
	bytes_wipe (key);
	if (!ok)
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
identity_remove (TetherctlContext *ctx, char **args, GError **error)
{
	/* clang-format off */
	const TetherctlUsage usage = {
		.parameters = N_("NAME"),
		.summary = N_("Remove an identity: its keys, its certificates and its settings. "
		              "Refused while a connection uses it."),
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
	if (!tether_dbus_tether1_call_remove_identity_sync (
	            manager, positional[0], TETHERCTL_CALL_FLAGS, TETHERCTL_TIMEOUT, NULL, error))
		return FALSE;
	if (ctx->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new ();

		json_builder_begin_object (builder);
		tetherctl_json_string (builder, "removed", positional[0]);
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
		.summary = N_("Show an identity: its state, its key and certificate, when its "
		              "renewal is due and how the last one went, a renewed certificate on "
		              "trial, the connections that use it, and what to do next."),
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
	identity_print (ctx, proxy);
	return TRUE;
}

/* clang-format off */
const TetherctlCommand tetherctl_identity_commands[] = {
	{ "request", N_("Make a certificate signing request"), identity_request },
	{ "install", N_("Install a signed certificate chain"), identity_install },
	{ "import", N_("Import a key and its certificate chain, or a PKCS#12 bundle"),
	  identity_import },
	{ "remove", N_("Remove an identity"), identity_remove },
	{ "list", N_("List the identities"), identity_list },
	{ "show", N_("Show an identity"), identity_show },
	{ NULL },
};
/* clang-format on */
