/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "tether-common.h"
#include "tether-dbus.h"
#include "tether-error.h"
#include "tether-identity-store.h"
#include "tether-names.h"
#include "tether-x509.h"

/* larger than any real certificate chain */
#define TETHER_CHAIN_MAX_SIZE (256 * 1024)

struct _TetherIdentity {
	gchar *name;
	gchar *object_path;
	gchar *dir;
	gchar *key_path;
	gchar *chain_path;
	gchar *common_name;
	TetherDBusIdentity1 *skeleton;
};

struct _TetherIdentityStore {
	GObject parent_instance;
	gchar *dir;
	GDBusConnection *bus;
	GSettings *settings;
	GHashTable *identities; /* name -> TetherIdentity */
};

G_DEFINE_FINAL_TYPE (TetherIdentityStore, tether_identity_store, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST];

static const TetherOptionSpec request_options[] = {
	{ "common-name", "s" },  { "key-type", "s" },
	{ "organization", "s" }, { "organizational-unit", "s" },
	{ "country", "s" },      { "dns-names", "as" },
	{ "uris", "as" },
};

static void
tether_identity_free (TetherIdentity *identity)
{
	g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (identity->skeleton));
	g_object_unref (identity->skeleton);
	g_free (identity->name);
	g_free (identity->object_path);
	g_free (identity->dir);
	g_free (identity->key_path);
	g_free (identity->chain_path);
	g_free (identity->common_name);
	g_free (identity);
}

const gchar *
tether_identity_get_name (TetherIdentity *identity)
{
	return identity->name;
}

const gchar *
tether_identity_get_object_path (TetherIdentity *identity)
{
	return identity->object_path;
}

const gchar *
tether_identity_get_state (TetherIdentity *identity)
{
	return tether_dbus_identity1_get_state (identity->skeleton);
}

const gchar *
tether_identity_get_key_path (TetherIdentity *identity)
{
	return identity->key_path;
}

const gchar *
tether_identity_get_chain_path (TetherIdentity *identity)
{
	return identity->chain_path;
}

const gchar *
tether_identity_get_common_name (TetherIdentity *identity)
{
	return identity->common_name;
}

void
tether_identity_set_used_by (TetherIdentity *identity, const gchar *const *connections)
{
	tether_dbus_identity1_set_used_by (identity->skeleton, connections);
}

static gnutls_privkey_t
load_key (TetherIdentity *identity, GError **error)
{
	g_autofree gchar *contents = NULL;
	gsize len = 0;
	g_autoptr(GBytes) pem = NULL;
	gnutls_privkey_t key;

	if (!g_file_get_contents (identity->key_path, &contents, &len, error))
		return NULL;
	pem = g_bytes_new_take (g_steal_pointer (&contents), len);
	key = tether_key_load_pem (pem, error);
	if (key == NULL)
		g_prefix_error (error, _("identity '%s': "), identity->name);
	return key;
}

static GPtrArray *
load_chain (TetherIdentity *identity, GError **error)
{
	g_autofree gchar *contents = NULL;
	gsize len = 0;
	g_autoptr(GBytes) pem = NULL;

	if (!g_file_get_contents (identity->chain_path, &contents, &len, error))
		return NULL;
	pem = g_bytes_new_take (g_steal_pointer (&contents), len);
	return tether_x509_parse_pem (pem, error);
}

/* sets the D-Bus properties from the files */
static void
identity_refresh (TetherIdentity *identity)
{
	TetherDBusIdentity1 *skeleton = identity->skeleton;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) chain = NULL;
	gnutls_privkey_t key = NULL;
	g_autofree gchar *key_type = NULL;
	gnutls_x509_crt_t leaf;
	g_autofree gchar *subject = NULL;
	g_autofree gchar *issuer = NULL;
	g_autofree gchar *serial = NULL;
	g_autofree gchar *fingerprint = NULL;
	gint64 not_after;

	g_clear_pointer (&identity->common_name, g_free);
	if (!g_file_test (identity->key_path, G_FILE_TEST_EXISTS)) {
		tether_dbus_identity1_set_state (skeleton, "no-key");
		return;
	}
	key = load_key (identity, &error);
	if (key == NULL) {
		g_warning ("%s", error->message);
		tether_dbus_identity1_set_state (skeleton, "no-key");
		return;
	}
	key_type = tether_key_describe_type (key);
	gnutls_privkey_deinit (key);
	tether_dbus_identity1_set_key_type (skeleton, key_type);

	if (!g_file_test (identity->chain_path, G_FILE_TEST_EXISTS)) {
		tether_dbus_identity1_set_state (skeleton, "key-only");
		return;
	}
	chain = load_chain (identity, &error);
	if (chain == NULL) {
		g_warning ("identity %s: its certificate chain cannot be read: %s", identity->name,
		           error->message);
		tether_dbus_identity1_set_state (skeleton, "key-only");
		return;
	}
	leaf = g_ptr_array_index (chain, 0);
	subject = tether_x509_get_subject (leaf);
	issuer = tether_x509_get_issuer (leaf);
	serial = tether_x509_get_serial (leaf);
	fingerprint = tether_x509_get_fingerprint (leaf);
	identity->common_name = tether_x509_get_common_name (leaf);
	not_after = gnutls_x509_crt_get_expiration_time (leaf);
	tether_dbus_identity1_set_subject (skeleton, subject);
	tether_dbus_identity1_set_issuer (skeleton, issuer);
	tether_dbus_identity1_set_serial (skeleton, serial);
	tether_dbus_identity1_set_fingerprint (skeleton, fingerprint);
	tether_dbus_identity1_set_not_before (skeleton, gnutls_x509_crt_get_activation_time (leaf));
	tether_dbus_identity1_set_not_after (skeleton, not_after);
	tether_dbus_identity1_set_chain_length (skeleton, chain->len);
	tether_dbus_identity1_set_state (
	        skeleton, not_after < g_get_real_time () / G_USEC_PER_SEC ? "expired" : "ready");
}

static TetherIdentity *
identity_new (TetherIdentityStore *self, const gchar *name, GError **error)
{
	TetherIdentity *identity = g_new0 (TetherIdentity, 1);
	g_autofree gchar *escaped = g_dbus_escape_object_path (name);

	identity->name = g_strdup (name);
	identity->object_path = g_strdup_printf ("/org/tether/Tether1/identities/%s", escaped);
	identity->dir = g_build_filename (self->dir, name, NULL);
	identity->key_path = g_build_filename (identity->dir, "key.pem", NULL);
	identity->chain_path = g_build_filename (identity->dir, "chain.pem", NULL);
	identity->skeleton = tether_dbus_identity1_skeleton_new ();
	tether_dbus_identity1_set_name (identity->skeleton, name);
	identity_refresh (identity);
	if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (identity->skeleton),
	                                       self->bus, identity->object_path, error)) {
		tether_identity_free (identity);
		return NULL;
	}
	return identity;
}

TetherIdentity *
tether_identity_store_lookup (TetherIdentityStore *self, const gchar *name, gboolean create,
                              GError **error)
{
	TetherIdentity *identity = g_hash_table_lookup (self->identities, name);
	g_auto(GStrv) names = NULL;
	g_auto(GStrv) updated = NULL;
	g_autoptr(GStrvBuilder) builder = NULL;

	if (identity != NULL)
		return identity;
	if (!tether_name_check (name, _("identity"), error))
		return NULL;
	if (!create) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
		             _("there is no identity '%s': create it with 'tetherctl identity "
		                "request --identity %s'"),
		                name, name);
		return NULL;
	}
	identity = identity_new (self, name, error);
	if (identity == NULL)
		return NULL;
	g_hash_table_insert (self->identities, identity->name, identity);

	/* the settings hold the authoritative list */
	names = g_settings_get_strv (self->settings, "identities");
	if (!g_strv_contains ((const gchar *const *) names, name)) {
		builder = g_strv_builder_new ();
		g_strv_builder_addv (builder, (const gchar **) names);
		g_strv_builder_add (builder, name);
		updated = g_strv_builder_end (builder);
		g_settings_set_strv (self->settings, "identities", (const gchar *const *) updated);
	}
	g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
	return identity;
}

static gint
identity_compare (gconstpointer a, gconstpointer b)
{
	const TetherIdentity *aa = *(TetherIdentity *const *) a;
	const TetherIdentity *bb = *(TetherIdentity *const *) b;
	return g_strcmp0 (aa->name, bb->name);
}

GPtrArray *
tether_identity_store_list (TetherIdentityStore *self)
{
	GPtrArray *list = tether_hash_table_get_values (self->identities);
	g_ptr_array_sort (list, identity_compare);
	return list;
}

static gboolean
ensure_dir (const gchar *dir, GError **error)
{
	if (g_mkdir_with_parents (dir, 0700) != 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot create %s: %s"), dir, g_strerror (errno));
		return FALSE;
	}
	return TRUE;
}

static gboolean
write_private (const gchar *path, GBytes *data, GError **error)
{
	return g_file_set_contents_full (
	        path, g_bytes_get_data (data, NULL), (gssize) g_bytes_get_size (data),
	        G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0600, error);
}

gchar *
tether_identity_store_create_request (TetherIdentityStore *self, const gchar *name,
                                      GVariant *options, GError **error)
{
	TetherIdentity *identity;
	const gchar *key_type_name = NULL;
	TetherKeyType key_type = TETHER_KEY_TYPE_EC_P256;
	gnutls_privkey_t key = NULL;
	gchar *csr;

	if (!tether_options_check (options, request_options, G_N_ELEMENTS (request_options),
	                           "options", error))
		return NULL;
	if (g_variant_lookup (options, "key-type", "&s", &key_type_name) &&
	    !tether_key_type_from_string (key_type_name, &key_type)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("key type '%s' is not known; use ec-p256, ec-p384, rsa-2048 or "
		                "rsa-3072"),
		                key_type_name);
		return NULL;
	}
	if (!g_variant_lookup (options, "common-name", "&s", NULL)) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		                     _("a certificate request needs a common name (common-name)"));
		return NULL;
	}

	identity = tether_identity_store_lookup (self, name, TRUE, error);
	if (identity == NULL)
		return NULL;

	/* the key is made once, on the device; the request is signed with it */
	if (!g_file_test (identity->key_path, G_FILE_TEST_EXISTS)) {
		g_autoptr(GBytes) pem = tether_key_generate (key_type, error);
		if (pem == NULL || !ensure_dir (identity->dir, error) ||
		    !write_private (identity->key_path, pem, error))
			return NULL;
		g_info ("identity %s: made a new %s key", name,
		        key_type_name != NULL ? key_type_name : "ec-p256");
	}
	key = load_key (identity, error);
	if (key == NULL)
		return NULL;
	if (key_type_name != NULL) {
		g_autofree gchar *existing = tether_key_describe_type (key);
		if (g_strcmp0 (existing, key_type_name) != 0) {
			g_set_error (
			        error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			        _("identity '%s' has a %s key already; a request uses that key"),
			           name, existing);
			gnutls_privkey_deinit (key);
			return NULL;
		}
	}
	csr = tether_csr_create (key, options, error);
	gnutls_privkey_deinit (key);
	identity_refresh (identity);
	return csr;
}

GStrv
tether_identity_store_install (TetherIdentityStore *self, const gchar *name, GBytes *data,
                               GError **error)
{
	TetherIdentity *identity;
	gnutls_privkey_t key;
	g_autoptr(GPtrArray) chain = NULL;
	g_autoptr(GStrvBuilder) warnings = g_strv_builder_new ();
	g_autofree gchar *pem = NULL;
	g_autoptr(GBytes) pem_bytes = NULL;
	gnutls_x509_crt_t leaf;
	gint64 now = g_get_real_time () / G_USEC_PER_SEC;
	gint leaf_index = -1;

	identity = tether_identity_store_lookup (self, name, FALSE, error);
	if (identity == NULL)
		return NULL;
	if (!g_file_test (identity->key_path, G_FILE_TEST_EXISTS)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
		             _("identity '%s' has no key: create a request first with "
		                "'tetherctl identity request'"),
		                name);
		return NULL;
	}
	if (g_bytes_get_size (data) > TETHER_CHAIN_MAX_SIZE) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("the chain is %zu bytes; at most %u are allowed"),
		                g_bytes_get_size (data), (guint) TETHER_CHAIN_MAX_SIZE);
		return NULL;
	}
	chain = tether_x509_parse_pem (data, error);
	if (chain == NULL)
		return NULL;

	/* the leaf is the certificate of this identity's key */
	key = load_key (identity, error);
	if (key == NULL)
		return NULL;
	for (guint i = 0; i < chain->len && leaf_index < 0; i++) {
		if (tether_key_matches_certificate (key, g_ptr_array_index (chain, i)))
			leaf_index = (gint) i;
	}
	gnutls_privkey_deinit (key);
	if (leaf_index < 0) {
		g_autofree gchar *subject = tether_x509_get_subject (g_ptr_array_index (chain, 0));
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		             _("the certificate '%s' is not for the key of identity '%s': its "
		                "public key differs; have the device CA sign a request made with "
		                "'tetherctl identity request'"),
		                subject, name);
		return NULL;
	}
	if (leaf_index > 0) {
		gpointer moved = g_ptr_array_steal_index (chain, (guint) leaf_index);
		g_ptr_array_insert (chain, 0, moved);
		tether_strv_builder_take (
		        warnings, g_strdup_printf (_("the device certificate was certificate %d "
		                                      "of %u; it now comes first"),
		                                      leaf_index + 1, chain->len));
	}
	leaf = g_ptr_array_index (chain, 0);
	if (gnutls_x509_crt_get_expiration_time (leaf) < now) {
		g_autoptr(GDateTime) expired = g_date_time_new_from_unix_utc (
		        gnutls_x509_crt_get_expiration_time (leaf));
		g_autofree gchar *date = g_date_time_format_iso8601 (expired);
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		             _("the device certificate expired on %s"), date);
		return NULL;
	}
	if (tether_x509_is_ca (leaf)) {
		g_set_error_literal (
		        error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		        _("the device certificate is a CA certificate; a device needs "
		           "an end-entity certificate"));
		return NULL;
	}

	pem = tether_x509_export_pem (chain, error);
	if (pem == NULL)
		return NULL;
	pem_bytes = g_bytes_new (pem, strlen (pem));
	if (!ensure_dir (identity->dir, error) ||
	    !write_private (identity->chain_path, pem_bytes, error))
		return NULL;
	identity_refresh (identity);
	g_info ("identity %s: installed a chain of %u certificates", name, chain->len);
	g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
	return g_strv_builder_end (warnings);
}

TetherIdentityStore *
tether_identity_store_new (const gchar *state_dir, GDBusConnection *bus, GSettings *settings)
{
	TetherIdentityStore *self = g_object_new (TETHER_TYPE_IDENTITY_STORE, NULL);
	g_auto(GStrv) names = g_settings_get_strv (settings, "identities");

	self->dir = g_build_filename (state_dir, "identities", NULL);
	self->bus = g_object_ref (bus);
	self->settings = g_object_ref (settings);
	for (guint i = 0; names[i] != NULL; i++) {
		g_autoptr(GError) error = NULL;
		TetherIdentity *identity;

		if (!tether_name_check (names[i], _("identity"), &error)) {
			g_warning ("settings: %s", error->message);
			continue;
		}
		identity = identity_new (self, names[i], &error);
		if (identity == NULL) {
			g_warning ("identity %s: %s", names[i], error->message);
			continue;
		}
		g_hash_table_insert (self->identities, identity->name, identity);
	}
	return self;
}

static void
tether_identity_store_finalize (GObject *object)
{
	TetherIdentityStore *self = TETHER_IDENTITY_STORE (object);

	g_hash_table_unref (self->identities);
	g_free (self->dir);
	g_clear_object (&self->bus);
	g_clear_object (&self->settings);
	G_OBJECT_CLASS (tether_identity_store_parent_class)->finalize (object);
}

static void
tether_identity_store_class_init (TetherIdentityStoreClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = tether_identity_store_finalize;
	signals[SIGNAL_CHANGED] =
	        g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                      NULL, NULL, G_TYPE_NONE, 0);
}

static void
tether_identity_store_init (TetherIdentityStore *self)
{
	self->identities = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
	                                          (GDestroyNotify) tether_identity_free);
}
