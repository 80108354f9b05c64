/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "tether-common.h"
#include "tether-dbus.h"
#include "tether-error.h"
#include "tether-est.h"
#include "tether-identity-store.h"
#include "tether-names.h"
#include "tether-settings.h"
#include "tether-x509.h"

/* larger than any real certificate chain */
#define TETHER_CHAIN_MAX_SIZE (256 * 1024)
/* larger than any real key or PKCS#12 bundle */
#define TETHER_KEY_MAX_SIZE (256 * 1024)
/* seconds an EST request may take */
#define TETHER_EST_TIMEOUT 60
/* the longest single wait of the renewal timer; it looks again after that */
#define TETHER_RENEWAL_TIMER_MAX (24 * 60 * 60)
/* the version of renewal.ini */
#define TETHER_RECORD_VERSION 1
#define TETHER_RECORD_GROUP   "renewal"

#define KEY_FILE   "key.pem"
#define CHAIN_FILE "chain.pem"

struct _TetherIdentity {
	TetherIdentityStore *store; /* the store owns the identity */
	gchar *name;
	gchar *object_path;
	gchar *dir;
	gchar *active_dir;
	gchar *key_path;
	gchar *chain_path;
	gchar *pending_dir;
	gchar *pending_key_path;
	gchar *pending_chain_path;
	gchar *est_dir; /* an EST attempt's new key and certificate, until they are trusted */
	gchar *est_key_path;
	gchar *est_chain_path;
	gchar *record_path;
	gchar *common_name;
	guint64 serial;         /* of the active pair */
	guint64 pending_serial; /* of the pending pair with its certificate; 0: none */
	GHashTable *rejections; /* connection id -> why it refused the pending pair */
	GSettings *settings;    /* org.tether.identity */
	TetherDBusIdentity1 *skeleton;
	guint expiry_id;
	gint64 not_before; /* of the active certificate; 0 without one */
	gint64 not_after;

	/* automatic renewal over EST */
	guint renewal_id;              /* the next attempt's timer */
	gint64 next_attempt;           /* 0: none planned */
	gint64 retry_at;               /* after a failure, not before */
	GCancellable *est_cancellable; /* an EST request under way */

	/* the renewal record, kept in renewal.ini */
	gint64 last_attempt;
	gchar *last_result; /* "", "ok", "failed" */
	gchar *last_message;
	guint failures;
};

struct _TetherIdentityStore {
	GObject parent_instance;
	gchar *dir;
	GDBusConnection *bus;
	GSettings *settings;
	TetherAnchorStore *anchors;
	GHashTable *identities; /* name -> TetherIdentity */
	guint64 next_serial;
	TetherIdentityUsersFunc users_func;
	gpointer users_data;
};

G_DEFINE_FINAL_TYPE (TetherIdentityStore, tether_identity_store, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, SIGNAL_PAIR_CHANGED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST];

static const TetherOptionSpec request_options[] = {
	{ "common-name", "s" },  { "key-type", "s" },
	{ "organization", "s" }, { "organizational-unit", "s" },
	{ "country", "s" },      { "dns-names", "as" },
	{ "uris", "as" },        { "renew", "b" },
};

static void identity_refresh (TetherIdentity *identity);
static gint64 retry_delay (TetherIdentity *identity, guint failures, gboolean jitter);

static gint64
now_seconds (void)
{
	return g_get_real_time () / G_USEC_PER_SEC;
}

static gchar *
format_date (gint64 t)
{
	g_autoptr(GDateTime) date = g_date_time_new_from_unix_utc (t);

	if (date == NULL)
		return g_strdup_printf ("%" G_GINT64_FORMAT, t);
	return g_date_time_format (date, "%Y-%m-%d %H:%M:%S UTC");
}

/* files ------------------------------------------------------------------------------------- */

static gboolean
ensure_dir (const gchar *dir, GError **error)
{
	if (g_mkdir_with_parents (dir, 0700) != 0) {
		int saved = errno;
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot create %s: %s"), dir, g_strerror (saved));
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

/* makes the renames in @dir durable */
static void
sync_dir (const gchar *dir)
{
	int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	fsync (fd);
	close (fd);
}

static gboolean
rename_or_fail (const gchar *from, const gchar *to, GError **error)
{
	if (g_rename (from, to) != 0) {
		int saved = errno;
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot rename %s to %s: %s"), from, to, g_strerror (saved));
		return FALSE;
	}
	return TRUE;
}

static GBytes *
read_file (const gchar *path, GError **error)
{
	g_autofree gchar *contents = NULL;
	gsize len = 0;

	if (!g_file_get_contents (path, &contents, &len, error))
		return NULL;
	return g_bytes_new_take (g_steal_pointer (&contents), len);
}

static gnutls_privkey_t
load_key_file (TetherIdentity *identity, const gchar *path, GError **error)
{
	g_autoptr(GBytes) pem = read_file (path, error);
	gnutls_privkey_t key;
	gsize size = 0;
	gpointer data;

	if (pem == NULL)
		return NULL;
	key = tether_key_load_pem (pem, error);
	if (key == NULL)
		g_prefix_error (error, _("identity '%s': "), identity->name);

	/* the copy in memory goes as soon as GnuTLS has the key */
	data = (gpointer) g_bytes_get_data (pem, &size);
	gnutls_memset (data, 0, size);
	return key;
}

static GPtrArray *
load_chain_file (const gchar *path, GError **error)
{
	g_autoptr(GBytes) pem = read_file (path, error);

	if (pem == NULL)
		return NULL;
	return tether_x509_parse_pem (pem, error);
}

/*
 * Puts the pair in @staging (a directory beside active/) in place of the
 * active one: active -> old, staging -> active. A daemon stopped in between
 * finishes the swap when it starts (recover_layout).
 */
static gboolean
swap_in (TetherIdentity *identity, const gchar *staging, GError **error)
{
	g_autofree gchar *old = g_build_filename (identity->dir, "old", NULL);

	tether_remove_tree (old, NULL);
	if (g_file_test (identity->active_dir, G_FILE_TEST_IS_DIR) &&
	    !rename_or_fail (identity->active_dir, old, error))
		return FALSE;
	if (!rename_or_fail (staging, identity->active_dir, error)) {
		g_rename (old, identity->active_dir);
		return FALSE;
	}
	sync_dir (identity->dir);
	tether_remove_tree (old, NULL);
	return TRUE;
}

/* finishes what a stopped daemon left half done, and moves the first layout's files */
static void
recover_layout (TetherIdentity *identity)
{
	g_autofree gchar *old = g_build_filename (identity->dir, "old", NULL);
	g_autofree gchar *incoming = g_build_filename (identity->dir, "incoming", NULL);
	g_autofree gchar *incoming_key = g_build_filename (incoming, KEY_FILE, NULL);
	g_autofree gchar *flat_key = g_build_filename (identity->dir, KEY_FILE, NULL);
	g_autofree gchar *flat_chain = g_build_filename (identity->dir, CHAIN_FILE, NULL);

	if (g_file_test (flat_key, G_FILE_TEST_EXISTS) &&
	    !g_file_test (identity->active_dir, G_FILE_TEST_EXISTS) &&
	    g_mkdir (identity->active_dir, 0700) == 0) {
		g_rename (flat_key, identity->key_path);
		g_rename (flat_chain, identity->chain_path);
		g_info ("identity %s: moved its key and chain to %s", identity->name,
		        identity->active_dir);
	}
	if (!g_file_test (identity->active_dir, G_FILE_TEST_EXISTS) &&
	    g_file_test (old, G_FILE_TEST_EXISTS)) {
		const gchar *from = old;

		if (g_file_test (incoming_key, G_FILE_TEST_EXISTS))
			from = incoming;
		else if (g_file_test (identity->pending_chain_path, G_FILE_TEST_EXISTS))
			from = identity->pending_dir;
		else if (g_file_test (identity->est_chain_path, G_FILE_TEST_EXISTS))
			from = identity->est_dir; /* a first enrollment */
		g_rename (from, identity->active_dir);
		g_warning ("identity %s: finished replacing its key and certificate, which a stop "
		           "had interrupted",
		           identity->name);
	}
	tether_remove_tree (old, NULL);
	tether_remove_tree (incoming, NULL);

	/* an EST attempt that a stop cut short starts again */
	tether_remove_tree (identity->est_dir, NULL);
}

/* the renewal record ---------------------------------------------------------------------- */

static void
record_load (TetherIdentity *identity)
{
	g_autoptr(GKeyFile) file = g_key_file_new ();
	g_autoptr(GError) error = NULL;
	gint version;

	if (!g_key_file_load_from_file (file, identity->record_path, G_KEY_FILE_NONE, &error)) {
		if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			g_warning ("identity %s: %s is damaged and is ignored: %s", identity->name,
			           identity->record_path, error->message);
		return;
	}
	version = g_key_file_get_integer (file, TETHER_RECORD_GROUP, "version", NULL);
	if (version != TETHER_RECORD_VERSION) {
		g_warning ("identity %s: %s has format version %d, not %d; it is ignored",
		           identity->name, identity->record_path, version, TETHER_RECORD_VERSION);
		return;
	}
	identity->last_attempt =
	        g_key_file_get_int64 (file, TETHER_RECORD_GROUP, "last-attempt", NULL);
	g_free (identity->last_result);
	identity->last_result =
	        g_key_file_get_string (file, TETHER_RECORD_GROUP, "last-result", NULL);
	g_free (identity->last_message);
	identity->last_message =
	        g_key_file_get_string (file, TETHER_RECORD_GROUP, "last-message", NULL);
	identity->failures =
	        (guint) g_key_file_get_integer (file, TETHER_RECORD_GROUP, "failures", NULL);
	if (identity->failures > 0)
		identity->retry_at =
		        identity->last_attempt + retry_delay (identity, identity->failures, FALSE);
	if (identity->last_result == NULL)
		identity->last_result = g_strdup ("");
	if (identity->last_message == NULL)
		identity->last_message = g_strdup ("");
}

static void
record_save (TetherIdentity *identity)
{
	g_autoptr(GKeyFile) file = g_key_file_new ();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *data = NULL;
	gsize len = 0;

	g_key_file_set_integer (file, TETHER_RECORD_GROUP, "version", TETHER_RECORD_VERSION);
	g_key_file_set_int64 (file, TETHER_RECORD_GROUP, "last-attempt", identity->last_attempt);
	g_key_file_set_string (file, TETHER_RECORD_GROUP, "last-result", identity->last_result);
	g_key_file_set_string (file, TETHER_RECORD_GROUP, "last-message", identity->last_message);
	g_key_file_set_integer (file, TETHER_RECORD_GROUP, "failures", (gint) identity->failures);
	data = g_key_file_to_data (file, &len, NULL);
	if (!ensure_dir (identity->dir, &error) ||
	    !g_file_set_contents_full (identity->record_path, data, (gssize) len,
	                               G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
		g_warning ("identity %s: the renewal record was not saved: %s", identity->name,
		           error->message);
}

gint64
tether_identity_retry_delay (guint min_s, guint max_s, guint failures, gboolean jitter)
{
	guint64 min = MAX (min_s, 1);
	guint64 max = MAX (max_s, min);
	guint64 delay = min;

	for (guint i = 1; i < failures && delay < max; i++)
		delay *= 2;
	delay = MIN (delay, max);

	/* spread a fleet's retries, but never below the shortest wait */
	if (jitter && delay > 1) {
		guint64 spread = (guint64) g_random_int_range (
		        0, (gint32) MIN (delay / 2, G_MAXINT32 - 1) + 1);

		delay = MAX (min, delay / 2 + spread);
	}
	return (gint64) delay;
}

static gint64
retry_delay (TetherIdentity *identity, guint failures, gboolean jitter)
{
	return tether_identity_retry_delay (
	        g_settings_get_uint (identity->settings, "renewal-retry-min"),
	        g_settings_get_uint (identity->settings, "renewal-retry-max"), failures, jitter);
}

/* records the end of a renewal and tells the bus */
static void
renewal_finished (TetherIdentity *identity, gboolean ok, const gchar *message)
{
	identity->last_attempt = now_seconds ();
	g_free (identity->last_result);
	identity->last_result = g_strdup (ok ? "ok" : "failed");
	g_free (identity->last_message);
	identity->last_message = g_strdup (message);
	identity->failures = ok ? 0 : identity->failures + 1;
	identity->retry_at =
	        ok ? 0 : identity->last_attempt + retry_delay (identity, identity->failures, TRUE);
	record_save (identity);
	if (ok)
		g_info ("identity %s: %s", identity->name, message);
	else
		g_warning ("identity %s: %s", identity->name, message);
	identity_refresh (identity);
	tether_dbus_identity1_emit_renewal_finished (identity->skeleton, ok, message);
}

/*
 * An EST attempt under way is dropped: what it would bring no longer belongs to the identity
 * (an imported pair replaced the one it renews). Said, not counted as a failure.
 */
static void
est_cancel (TetherIdentity *identity, const gchar *why)
{
	g_autofree gchar *message = NULL;

	if (identity->est_cancellable == NULL)
		return;
	g_cancellable_cancel (identity->est_cancellable);
	g_clear_object (&identity->est_cancellable);
	tether_remove_tree (identity->est_dir, NULL);
	message = g_strdup_printf (_("the EST request under way was cancelled: %s"), why);
	g_info ("identity %s: %s", identity->name, message);
	tether_dbus_identity1_emit_renewal_finished (identity->skeleton, FALSE, message);
	identity_refresh (identity);
}

static void
renewal_started (TetherIdentity *identity)
{
	identity->last_attempt = now_seconds ();
	record_save (identity);
	tether_dbus_identity1_emit_renewal_started (identity->skeleton);
}

/* the identity ---------------------------------------------------------------------------- */

static void
tether_identity_free (TetherIdentity *identity)
{
	g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (identity->skeleton));
	g_clear_handle_id (&identity->expiry_id, g_source_remove);
	g_clear_handle_id (&identity->renewal_id, g_source_remove);
	if (identity->est_cancellable != NULL)
		g_cancellable_cancel (identity->est_cancellable);
	g_clear_object (&identity->est_cancellable);
	g_signal_handlers_disconnect_by_data (identity->settings, identity);
	g_object_unref (identity->skeleton);
	g_object_unref (identity->settings);
	g_hash_table_unref (identity->rejections);
	g_free (identity->name);
	g_free (identity->object_path);
	g_free (identity->dir);
	g_free (identity->active_dir);
	g_free (identity->key_path);
	g_free (identity->chain_path);
	g_free (identity->pending_dir);
	g_free (identity->pending_key_path);
	g_free (identity->pending_chain_path);
	g_free (identity->est_dir);
	g_free (identity->est_key_path);
	g_free (identity->est_chain_path);
	g_free (identity->record_path);
	g_free (identity->common_name);
	g_free (identity->last_result);
	g_free (identity->last_message);
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

gboolean
tether_identity_has_certificate (TetherIdentity *identity)
{
	return g_file_test (identity->key_path, G_FILE_TEST_EXISTS) &&
	       g_file_test (identity->chain_path, G_FILE_TEST_EXISTS) &&
	       tether_dbus_identity1_get_chain_length (identity->skeleton) > 0;
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

guint64
tether_identity_get_serial (TetherIdentity *identity)
{
	return identity->serial;
}

gboolean
tether_identity_get_pending_paths (TetherIdentity *identity, const gchar **chain_path,
                                   const gchar **key_path, guint64 *serial)
{
	if (identity->pending_serial == 0)
		return FALSE;
	if (chain_path != NULL)
		*chain_path = identity->pending_chain_path;
	if (key_path != NULL)
		*key_path = identity->pending_key_path;
	if (serial != NULL)
		*serial = identity->pending_serial;
	return TRUE;
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

static guint
settings_threshold (GSettings *settings)
{
	return CLAMP (g_settings_get_uint (settings, "renewal-threshold"), 1, 99);
}

static guint
threshold_of (TetherIdentity *identity)
{
	return settings_threshold (identity->settings);
}

gint64
tether_identity_renewal_due (guint threshold, gint64 not_before, gint64 not_after)
{
	if (not_after <= not_before)
		return not_after;
	return not_before + (not_after - not_before) * (gint64) threshold / 100;
}

static gint64
due_time (TetherIdentity *identity, gint64 not_before, gint64 not_after)
{
	return tether_identity_renewal_due (threshold_of (identity), not_before, not_after);
}

static void
clear_certificate_properties (TetherDBusIdentity1 *skeleton)
{
	tether_dbus_identity1_set_subject (skeleton, "");
	tether_dbus_identity1_set_issuer (skeleton, "");
	tether_dbus_identity1_set_serial (skeleton, "");
	tether_dbus_identity1_set_fingerprint (skeleton, "");
	tether_dbus_identity1_set_not_before (skeleton, 0);
	tether_dbus_identity1_set_not_after (skeleton, 0);
	tether_dbus_identity1_set_chain_length (skeleton, 0);
	tether_dbus_identity1_set_certificates (
	        skeleton, g_variant_new_array (G_VARIANT_TYPE_VARDICT, NULL, 0));
}

/* the device certificate's DNS names and URIs (subject alternative names) */
static void
get_alt_names (gnutls_x509_crt_t crt, GStrv *dns_out, GStrv *uris_out)
{
	g_autoptr(GStrvBuilder) dns = g_strv_builder_new ();
	g_autoptr(GStrvBuilder) uris = g_strv_builder_new ();

	for (guint i = 0;; i++) {
		gchar name[512];
		size_t size = sizeof (name);
		int type = gnutls_x509_crt_get_subject_alt_name (crt, i, name, &size, NULL);

		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type == GNUTLS_SAN_DNSNAME)
			g_strv_builder_add (dns, name);
		else if (type == GNUTLS_SAN_URI)
			g_strv_builder_add (uris, name);
	}
	*dns_out = g_strv_builder_end (dns);
	*uris_out = g_strv_builder_end (uris);
}

/* the Certificates property: each certificate of @chain, the leaf with its names */
static GVariant *
describe_chain (GPtrArray *chain)
{
	GVariantBuilder builder;

	g_variant_builder_init (&builder, G_VARIANT_TYPE ("aa{sv}"));
	for (guint i = 0; i < chain->len; i++) {
		gnutls_x509_crt_t crt = g_ptr_array_index (chain, i);
		g_autoptr(GVariantDict) dict = g_variant_dict_new (tether_x509_describe (crt));
		g_auto(GStrv) dns = NULL;
		g_auto(GStrv) uris = NULL;

		if (i == 0) {
			get_alt_names (crt, &dns, &uris);
			g_variant_dict_insert (dict, "dns-names", "^as", dns);
			g_variant_dict_insert (dict, "uris", "^as", uris);
		}
		g_variant_builder_add_value (&builder, g_variant_dict_end (dict));
	}
	return g_variant_builder_end (&builder);
}

static gboolean
expiry_cb (gpointer user_data)
{
	TetherIdentity *identity = user_data;

	identity->expiry_id = 0;
	identity_refresh (identity);
	return G_SOURCE_REMOVE;
}

/* the Renewal property */
static GVariant *
describe_renewal (TetherIdentity *identity)
{
	gint64 not_before = identity->not_before;
	gint64 not_after = identity->not_after;
	g_autoptr(GVariantDict) dict = g_variant_dict_new (NULL);
	g_autofree gchar *url = g_settings_get_string (identity->settings, "est-url");
	g_autofree gchar *auth = g_settings_get_string (identity->settings, "est-auth");
	g_autofree gchar *key_type = g_settings_get_string (identity->settings, "key-type");
	gboolean pending_key = g_file_test (identity->pending_key_path, G_FILE_TEST_EXISTS);

	g_variant_dict_insert (dict, "method", "s", url[0] != '\0' ? "est" : "manual");
	g_variant_dict_insert (dict, "threshold", "u", threshold_of (identity));
	g_variant_dict_insert (dict, "due", "x",
	                       not_after > 0 ? due_time (identity, not_before, not_after) : 0);
	g_variant_dict_insert (dict, "in-progress", "b",
	                       identity->pending_serial != 0 || identity->est_cancellable != NULL);
	g_variant_dict_insert (dict, "pending-key", "b",
	                       pending_key && identity->pending_serial == 0);
	g_variant_dict_insert (dict, "last-attempt", "x", identity->last_attempt);
	g_variant_dict_insert (dict, "last-result", "s", identity->last_result);
	g_variant_dict_insert (dict, "last-message", "s", identity->last_message);
	g_variant_dict_insert (dict, "failures", "u", identity->failures);
	g_variant_dict_insert (dict, "next-attempt", "x", identity->next_attempt);
	g_variant_dict_insert (dict, "retry-min", "u",
	                       g_settings_get_uint (identity->settings, "renewal-retry-min"));
	g_variant_dict_insert (dict, "retry-max", "u",
	                       g_settings_get_uint (identity->settings, "renewal-retry-max"));
	g_variant_dict_insert (dict, "key-type", "s", key_type);
	if (url[0] != '\0') {
		g_auto(GStrv) anchors =
		                g_settings_get_strv (identity->settings, "est-trust-anchors");
		g_autofree gchar *bootstrap =
		        g_settings_get_string (identity->settings, "est-bootstrap-identity");
		g_autofree gchar *credentials =
		        g_settings_get_string (identity->settings, "est-credentials-file");
		g_autofree gchar *common_name =
		        g_settings_get_string (identity->settings, "est-common-name");

		g_variant_dict_insert (dict, "est-url", "s", url);
		g_variant_dict_insert (dict, "est-auth", "s", auth);
		g_variant_dict_insert (dict, "est-trust-anchors", "^as", anchors);
		g_variant_dict_insert (dict, "est-bootstrap-identity", "s", bootstrap);
		g_variant_dict_insert (dict, "est-credentials-file", "s", credentials);
		g_variant_dict_insert (dict, "est-common-name", "s", common_name);
	}
	if (identity->pending_serial != 0) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GPtrArray) pending =
		                   load_chain_file (identity->pending_chain_path, &error);
		GVariantBuilder refused;
		GHashTableIter iter;
		gpointer connection;
		gpointer why;

		if (pending != NULL) {
			gnutls_x509_crt_t leaf = g_ptr_array_index (pending, 0);
			g_autofree gchar *subject = tether_x509_get_subject (leaf);
			g_autofree gchar *issuer = tether_x509_get_issuer (leaf);
			g_autofree gchar *serial = tether_x509_get_serial (leaf);
			g_autofree gchar *fingerprint = tether_x509_get_fingerprint (leaf);

			g_variant_dict_insert (dict, "pending-subject", "s", subject);
			g_variant_dict_insert (dict, "pending-issuer", "s", issuer);
			g_variant_dict_insert (dict, "pending-serial", "s", serial);
			g_variant_dict_insert (dict, "pending-fingerprint", "s", fingerprint);
			g_variant_dict_insert (dict, "pending-not-after", "x",
			                       (gint64) gnutls_x509_crt_get_expiration_time (leaf));
		}
		g_variant_builder_init (&refused, G_VARIANT_TYPE ("a{ss}"));
		g_hash_table_iter_init (&iter, identity->rejections);
		while (g_hash_table_iter_next (&iter, &connection, &why))
			g_variant_builder_add (&refused, "{ss}", connection, why);
		g_variant_dict_insert_value (dict, "pending-refused-by",
		                             g_variant_builder_end (&refused));
	}
	return g_variant_dict_end (dict);
}

/* sets the D-Bus properties of the key and the certificate from the files */
static void
refresh_files (TetherIdentity *identity)
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
	gint64 not_before = 0;
	gint64 not_after = 0;
	gint64 now = now_seconds ();
	const gchar *state;

	g_clear_pointer (&identity->common_name, g_free);
	g_clear_handle_id (&identity->expiry_id, g_source_remove);
	identity->not_before = 0;
	identity->not_after = 0;
	tether_dbus_identity1_set_pending (skeleton, identity->pending_serial != 0);

	if (!g_file_test (identity->key_path, G_FILE_TEST_EXISTS)) {
		clear_certificate_properties (skeleton);
		tether_dbus_identity1_set_key_type (skeleton, "");
		tether_dbus_identity1_set_state (skeleton, "no-key");
		return;
	}
	key = load_key_file (identity, identity->key_path, &error);
	if (key == NULL) {
		g_warning ("%s", error->message);
		clear_certificate_properties (skeleton);
		tether_dbus_identity1_set_key_type (skeleton, "");
		tether_dbus_identity1_set_state (skeleton, "no-key");
		return;
	}
	key_type = tether_key_describe_type (key);
	gnutls_privkey_deinit (key);
	tether_dbus_identity1_set_key_type (skeleton, key_type);

	if (g_file_test (identity->chain_path, G_FILE_TEST_EXISTS)) {
		chain = load_chain_file (identity->chain_path, &error);
		if (chain == NULL)
			g_warning ("identity %s: its certificate chain cannot be read: %s",
			           identity->name, error->message);
	}
	if (chain == NULL) {
		clear_certificate_properties (skeleton);
		tether_dbus_identity1_set_state (skeleton, "key-only");
		return;
	}
	leaf = g_ptr_array_index (chain, 0);
	subject = tether_x509_get_subject (leaf);
	issuer = tether_x509_get_issuer (leaf);
	serial = tether_x509_get_serial (leaf);
	fingerprint = tether_x509_get_fingerprint (leaf);
	identity->common_name = tether_x509_get_common_name (leaf);
	not_before = gnutls_x509_crt_get_activation_time (leaf);
	not_after = gnutls_x509_crt_get_expiration_time (leaf);
	identity->not_before = not_before;
	identity->not_after = not_after;
	tether_dbus_identity1_set_subject (skeleton, subject);
	tether_dbus_identity1_set_issuer (skeleton, issuer);
	tether_dbus_identity1_set_serial (skeleton, serial);
	tether_dbus_identity1_set_fingerprint (skeleton, fingerprint);
	tether_dbus_identity1_set_not_before (skeleton, not_before);
	tether_dbus_identity1_set_not_after (skeleton, not_after);
	tether_dbus_identity1_set_chain_length (skeleton, chain->len);
	tether_dbus_identity1_set_certificates (skeleton, describe_chain (chain));

	if (not_after <= now)
		state = "expired";
	else if (identity->pending_serial != 0 || identity->est_cancellable != NULL)
		state = "renewing";
	else
		state = "ready";
	tether_dbus_identity1_set_state (skeleton, state);

	/* the state turns "expired" on time */
	if (not_after > now && not_after - now < G_MAXUINT / 2)
		identity->expiry_id =
		        g_timeout_add_seconds ((guint) (not_after - now) + 1, expiry_cb, identity);
}

static void renewal_schedule (TetherIdentity *identity);

/* sets the D-Bus properties from the files, and plans the next renewal */
static void
identity_refresh (TetherIdentity *identity)
{
	refresh_files (identity);
	renewal_schedule (identity);
	tether_dbus_identity1_set_renewal (identity->skeleton, describe_renewal (identity));
}

static void
identity_settings_changed_cb (GSettings *settings, const gchar *key, TetherIdentity *identity)
{
	/* new EST settings deserve a try at once */
	if (g_str_has_prefix (key, "est-"))
		identity->retry_at = 0;
	identity_refresh (identity);
}

static GSettings *
identity_settings_new (TetherIdentityStore *self, const gchar *name)
{
	g_autofree gchar *path = g_strdup_printf ("/org/tether/identities/%s/", name);
	GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
	g_autoptr(GSettingsSchema) schema = g_settings_schema_source_lookup (
	        source, TETHER_IDENTITY_SCHEMA_ID, TRUE);
	g_autoptr(GSettingsBackend) backend = NULL;

	g_object_get (self->settings, "backend", &backend, NULL);
	return g_settings_new_full (schema, backend, path);
}

static TetherIdentity *
identity_new (TetherIdentityStore *self, const gchar *name, GError **error)
{
	TetherIdentity *identity = g_new0 (TetherIdentity, 1);
	g_autofree gchar *escaped = g_dbus_escape_object_path (name);

	identity->store = self;
	identity->name = g_strdup (name);
	identity->object_path = g_strdup_printf ("/org/tether/Tether1/identities/%s", escaped);
	identity->dir = g_build_filename (self->dir, name, NULL);
	identity->active_dir = g_build_filename (identity->dir, "active", NULL);
	identity->key_path = g_build_filename (identity->active_dir, KEY_FILE, NULL);
	identity->chain_path = g_build_filename (identity->active_dir, CHAIN_FILE, NULL);
	identity->pending_dir = g_build_filename (identity->dir, "pending", NULL);
	identity->pending_key_path = g_build_filename (identity->pending_dir, KEY_FILE, NULL);
	identity->pending_chain_path = g_build_filename (identity->pending_dir, CHAIN_FILE, NULL);
	identity->est_dir = g_build_filename (identity->dir, "est", NULL);
	identity->est_key_path = g_build_filename (identity->est_dir, KEY_FILE, NULL);
	identity->est_chain_path = g_build_filename (identity->est_dir, CHAIN_FILE, NULL);
	identity->record_path = g_build_filename (identity->dir, "renewal.ini", NULL);
	identity->rejections = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
	identity->last_result = g_strdup ("");
	identity->last_message = g_strdup ("");
	identity->settings = identity_settings_new (self, name);
	identity->skeleton = tether_dbus_identity1_skeleton_new ();
	tether_dbus_identity1_set_name (identity->skeleton, name);

	recover_layout (identity);
	record_load (identity);
	identity->serial = ++self->next_serial;
	if (g_file_test (identity->pending_chain_path, G_FILE_TEST_EXISTS) &&
	    g_file_test (identity->pending_key_path, G_FILE_TEST_EXISTS))
		identity->pending_serial = ++self->next_serial;
	identity_refresh (identity);
	g_signal_connect (identity->settings, "changed", G_CALLBACK (identity_settings_changed_cb),
	                  identity);
	if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (identity->skeleton),
	                                       self->bus, identity->object_path, error)) {
		tether_identity_free (identity);
		return NULL;
	}
	return identity;
}

static void
set_identity_list (TetherIdentityStore *self, const gchar *add, const gchar *remove)
{
	g_auto(GStrv) names = g_settings_get_strv (self->settings, "identities");
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
	g_auto(GStrv) updated = NULL;
	gboolean changed = FALSE;

	for (guint i = 0; names[i] != NULL; i++) {
		if (g_strcmp0 (names[i], remove) == 0)
			changed = TRUE;
		else
			g_strv_builder_add (builder, names[i]);
	}
	if (add != NULL && !g_strv_contains ((const gchar *const *) names, add)) {
		g_strv_builder_add (builder, add);
		changed = TRUE;
	}
	if (!changed)
		return;
	updated = g_strv_builder_end (builder);
	g_settings_set_strv (self->settings, "identities", (const gchar *const *) updated);
}

TetherIdentity *
tether_identity_store_lookup (TetherIdentityStore *self, const gchar *name, gboolean create,
                              GError **error)
{
	TetherIdentity *identity = g_hash_table_lookup (self->identities, name);

	if (identity != NULL)
		return identity;
	if (!tether_name_check (name, _("identity"), error))
		return NULL;
	if (!create) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
		             _("there is no identity '%s': create it with 'tetherctl identity "
		               "request --identity %s', or import a key with 'tetherctl identity "
		               "import --identity %s'"),
		                name, name, name);
		return NULL;
	}
	/* a new identity goes into the settings' list: nothing is made that cannot be saved */
	if (!tether_settings_check_can_save (self->settings, error))
		return NULL;
	identity = identity_new (self, name, error);
	if (identity == NULL)
		return NULL;
	g_hash_table_insert (self->identities, identity->name, identity);

	/* the settings hold the authoritative list */
	set_identity_list (self, name, NULL);
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

void
tether_identity_store_set_users_func (TetherIdentityStore *self, TetherIdentityUsersFunc func,
                                      gpointer user_data)
{
	self->users_func = func;
	self->users_data = user_data;
}

static GStrv
identity_users (TetherIdentity *identity)
{
	TetherIdentityStore *self = identity->store;

	if (self->users_func == NULL)
		return g_new0 (gchar *, 1);
	return self->users_func (identity->name, self->users_data);
}

static void
emit_pair_changed (TetherIdentity *identity)
{
	TetherIdentityStore *self = identity->store;

	g_signal_emit (self, signals[SIGNAL_PAIR_CHANGED], 0, identity->name);
	g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

/* certificate checks ----------------------------------------------------------------------- */

/* clang-format off */
static const struct {
	const gchar *oid;
	const gchar *name;
} key_purposes[] = {
	{ GNUTLS_KP_TLS_WWW_SERVER, N_("TLS server authentication") },
	{ GNUTLS_KP_TLS_WWW_CLIENT, N_("TLS client authentication") },
	{ GNUTLS_KP_CODE_SIGNING, N_("code signing") },
	{ GNUTLS_KP_EMAIL_PROTECTION, N_("e-mail protection") },
	{ GNUTLS_KP_TIME_STAMPING, N_("time stamping") },
	{ GNUTLS_KP_OCSP_SIGNING, N_("OCSP signing") },
};
/* clang-format on */

/* whether the extended key usage (if any) allows TLS client authentication; else what it allows */
static gboolean
allows_client_auth (gnutls_x509_crt_t crt, gchar **purposes_out)
{
	g_autoptr(GStrvBuilder) purposes = g_strv_builder_new ();
	g_auto(GStrv) list = NULL;
	guint found = 0;

	for (guint i = 0;; i++) {
		gchar oid[128];
		size_t size = sizeof (oid);
		const gchar *name = NULL;
		int rc = gnutls_x509_crt_get_key_purpose_oid (crt, i, oid, &size, NULL);

		if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (rc < 0)
			continue;
		found++;
		if (g_str_equal (oid, GNUTLS_KP_TLS_WWW_CLIENT) || g_str_equal (oid, GNUTLS_KP_ANY))
			return TRUE;
		for (gsize j = 0; j < G_N_ELEMENTS (key_purposes); j++) {
			if (g_str_equal (oid, key_purposes[j].oid))
				name = _(key_purposes[j].name);
		}
		g_strv_builder_add (purposes, name != NULL ? name : oid);
	}
	if (found == 0)
		return TRUE;
	list = g_strv_builder_end (purposes);
	*purposes_out = g_strjoinv (", ", list);
	return FALSE;
}

/* whether a self-signed trust anchor issued @crt (so a leaf-only chain is complete) */
static gboolean
issued_by_known_root (TetherIdentityStore *self, gnutls_x509_crt_t crt)
{
	g_autoptr(GPtrArray) anchors = NULL;

	if (self->anchors == NULL)
		return FALSE;
	anchors = tether_anchor_store_list (self->anchors);
	for (guint i = 0; i < anchors->len; i++) {
		GBytes *pem = tether_anchor_get_pem (g_ptr_array_index (anchors, i));
		g_autoptr(GPtrArray) certs = tether_x509_parse_pem (pem, NULL);

		for (guint j = 0; certs != NULL && j < certs->len; j++) {
			gnutls_x509_crt_t ca = g_ptr_array_index (certs, j);
			unsigned int status = 0;

			if (tether_x509_is_self_signed (ca) &&
			    gnutls_x509_crt_check_issuer (crt, ca) &&
			    gnutls_x509_crt_verify (crt, &ca, 1, 0, &status) == GNUTLS_E_SUCCESS &&
			    status == 0)
				return TRUE;
		}
	}
	return FALSE;
}

static gchar *
describe_cert (gnutls_x509_crt_t crt)
{
	g_autofree gchar *cn = tether_x509_get_common_name (crt);

	if (cn != NULL)
		return g_steal_pointer (&cn);
	return tether_x509_get_subject (crt);
}

/*
 * The chain from the leaf at @leaf_index up, each certificate followed by its
 * issuer; what does not belong is left out. Warnings say what was changed.
 */
static GPtrArray *
order_chain (GPtrArray *certs, guint leaf_index, GStrvBuilder *warnings)
{
	GPtrArray *ordered = tether_x509_list_new ();
	g_autofree gboolean *used = g_new0 (gboolean, certs->len);
	gnutls_x509_crt_t current = g_ptr_array_index (certs, leaf_index);
	gboolean reordered = FALSE;

	used[leaf_index] = TRUE;
	g_ptr_array_add (ordered, current);
	while (!tether_x509_is_self_signed (current)) {
		gint next = -1;

		for (guint i = 0; i < certs->len && next < 0; i++) {
			if (!used[i] &&
			    gnutls_x509_crt_check_issuer (current, g_ptr_array_index (certs, i)))
				next = (gint) i;
		}
		if (next < 0)
			break;
		used[next] = TRUE;
		current = g_ptr_array_index (certs, next);
		if ((guint) next != ordered->len)
			reordered = TRUE;
		g_ptr_array_add (ordered, current);
	}
	if (leaf_index != 0 || reordered) {
		tether_strv_builder_take (
		        warnings, g_strdup_printf (_("the chain was not in order (the device "
		                                     "certificate was certificate %u of %u); it "
		                                     "now starts with the device certificate, "
		                                     "each certificate followed by its issuer"),
		                                      leaf_index + 1, certs->len));
	}
	for (guint i = 0; i < certs->len; i++) {
		g_autofree gchar *what = NULL;

		if (used[i])
			continue;
		what = describe_cert (g_ptr_array_index (certs, i));
		tether_strv_builder_take (
		        warnings,
		        g_strdup_printf (_("certificate %u of %u ('%s') is not an issuer "
		                                     "in the device certificate's chain; it was "
		                                     "left out"),
		                            i + 1, certs->len, what));
	}

	/* the list owns the certificates now; @certs gives them up */
	for (guint i = 0; i < certs->len; i++) {
		if (used[i])
			certs->pdata[i] = NULL;
	}
	return ordered;
}

/*
 * Checks the chain for a key whose certificate is at @leaf_index and puts it in
 * order; NULL when it is refused. @threshold: the identity's renewal threshold.
 */
static GPtrArray *
check_chain (TetherIdentityStore *self, guint threshold, GPtrArray *certs, guint leaf_index,
             GStrvBuilder *warnings, GError **error)
{
	g_autoptr(GPtrArray) chain = order_chain (certs, leaf_index, warnings);
	gnutls_x509_crt_t leaf = g_ptr_array_index (chain, 0);
	gint64 not_before = gnutls_x509_crt_get_activation_time (leaf);
	gint64 not_after = gnutls_x509_crt_get_expiration_time (leaf);
	gint64 now = now_seconds ();
	g_autofree gchar *leaf_name = describe_cert (leaf);
	g_autofree gchar *purposes = NULL;

	/* refused: what can never work */
	if (not_after <= now) {
		g_autofree gchar *date = format_date (not_after);
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		             _("the device certificate '%s' expired on %s: have the device CA "
		               "issue a new one"),
		                leaf_name, date);
		return NULL;
	}
	if (tether_x509_is_ca (leaf)) {
		g_set_error (
		        error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		        _("the device certificate '%s' is a CA certificate (basic constraints "
		               "CA:TRUE); a device needs an end-entity certificate: have the "
		               "device CA sign the request as a client certificate"),
		           leaf_name);
		return NULL;
	}
	if (!allows_client_auth (leaf, &purposes)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		             _("the device certificate '%s' may be used only for %s (extended key "
		               "usage), not for TLS client authentication: have the device CA "
		               "issue it with clientAuth"),
		                leaf_name, purposes);
		return NULL;
	}

	/* warned: what works but deserves a look */
	if (chain->len == 1 && !tether_x509_is_self_signed (leaf) &&
	    !issued_by_known_root (self, leaf)) {
		g_autofree gchar *issuer = tether_x509_get_issuer (leaf);
		tether_strv_builder_take (
		        warnings,
		        g_strdup_printf (_("the chain holds only the device certificate, "
		                                     "and its issuer '%s' is not a known root CA: "
		                                     "if it is an intermediate CA, install the "
		                                     "chain with it (clouds' group enrollments "
		                                     "need the intermediates)"),
		                            issuer));
	}
	for (guint i = 1; i < chain->len; i++) {
		gnutls_x509_crt_t ca = g_ptr_array_index (chain, i);
		gint64 ca_not_after = gnutls_x509_crt_get_expiration_time (ca);

		if (ca_not_after <= now) {
			g_autofree gchar *what = describe_cert (ca);
			g_autofree gchar *date = format_date (ca_not_after);
			tether_strv_builder_take (
			        warnings,
			        g_strdup_printf (_("certificate %u of %u ('%s') expired on %s: a "
			                           "server that checks the chain as the device "
			                           "sends it refuses it; install the chain with a "
			                           "current copy of that CA certificate"),
			                            i + 1, chain->len, what, date));
		}
	}
	if (not_before > now) {
		g_autofree gchar *date = format_date (not_before);
		tether_strv_builder_take (
		        warnings, g_strdup_printf (_("the device certificate is not valid before "
		                                     "%s: check the device's clock; servers "
		                                     "refuse it until then"),
		                                      date));
	}
	if (now >= tether_identity_renewal_due (threshold, not_before, not_after)) {
		g_autofree gchar *date = format_date (not_after);
		tether_strv_builder_take (
		        warnings,
		        g_strdup_printf (
		                _("the device certificate expires on %s, in %" G_GINT64_FORMAT
		                           " minutes: more than %u%% of its lifetime has passed, "
		                           "so its renewal is due already"),
		                   date, (not_after - now) / 60, threshold));
	}
	return g_steal_pointer (&chain);
}

/* the index of the certificate that holds @key's public half, or -1 */
static gint
find_leaf (GPtrArray *certs, gnutls_privkey_t key)
{
	for (guint i = 0; key != NULL && i < certs->len; i++) {
		if (tether_key_matches_certificate (key, g_ptr_array_index (certs, i)))
			return (gint) i;
	}
	return -1;
}

static GBytes *
export_chain (GPtrArray *chain, GError **error)
{
	gchar *pem = tether_x509_export_pem (chain, error);

	if (pem == NULL)
		return NULL;
	return g_bytes_new_take (pem, strlen (pem));
}

/* requests ---------------------------------------------------------------------------------- */

/* @options with "common-name" added when it has none */
static GVariant *
options_with_common_name (GVariant *options, const gchar *common_name)
{
	g_autoptr(GVariantDict) dict = g_variant_dict_new (options);

	if (!g_variant_dict_contains (dict, "common-name") && common_name != NULL)
		g_variant_dict_insert (dict, "common-name", "s", common_name);
	return g_variant_ref_sink (g_variant_dict_end (dict));
}

static gboolean
make_key (TetherIdentity *identity, TetherKeyType key_type, const gchar *dir, const gchar *path,
          GError **error)
{
	g_autoptr(GBytes) pem = tether_key_generate (key_type, error);

	return pem != NULL && ensure_dir (dir, error) && write_private (path, pem, error);
}

gchar *
tether_identity_store_create_request (TetherIdentityStore *self, const gchar *name,
                                      GVariant *options, GError **error)
{
	TetherIdentity *identity;
	const gchar *key_type_name = NULL;
	TetherKeyType key_type = TETHER_KEY_TYPE_EC_P256;
	gboolean renew = FALSE;
	g_auto(gnutls_privkey_t) key = NULL;
	g_autoptr(GVariant) csr_options = NULL;
	g_autofree gchar *existing = NULL;
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
	g_variant_lookup (options, "renew", "b", &renew);

	if (renew) {
		/* a new key beside the active one, which stays in use */
		identity = tether_identity_store_lookup (self, name, FALSE, error);
		if (identity == NULL)
			return NULL;
		if (!tether_identity_has_certificate (identity)) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
			             _("identity '%s' has no certificate to renew: make its first "
			               "request without --renew"),
			                name);
			return NULL;
		}
		csr_options = options_with_common_name (options, identity->common_name);
		if (!g_variant_lookup (csr_options, "common-name", "&s", NULL)) {
			g_set_error (
			        error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			        _("identity '%s': its certificate has no common name; give one "
			               "(common-name)"),
			           name);
			return NULL;
		}
		/* a bad option changes nothing: a renewal on trial stays */
		if (!tether_csr_check_options (csr_options, error))
			return NULL;
		if (key_type_name == NULL) {
			key = load_key_file (identity, identity->key_path, error);
			if (key == NULL)
				return NULL;
			existing = tether_key_describe_type (key);
			g_clear_pointer (&key, gnutls_privkey_deinit);
			if (!tether_key_type_from_string (existing, &key_type))
				key_type = TETHER_KEY_TYPE_EC_P256;
		}
		tether_remove_tree (identity->pending_dir, NULL);
		identity->pending_serial = 0;
		g_hash_table_remove_all (identity->rejections);
		if (!make_key (identity, key_type, identity->pending_dir,
		               identity->pending_key_path, error))
			return NULL;
		g_info ("identity %s: made a new key for its renewal", name);
		key = load_key_file (identity, identity->pending_key_path, error);
		if (key == NULL)
			return NULL;
		csr = tether_csr_create (key, csr_options, error);
		identity_refresh (identity);
		g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
		return csr;
	}

	if (!g_variant_lookup (options, "common-name", "&s", NULL)) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		                     _("a certificate request needs a common name (common-name)"));
		return NULL;
	}
	/* a bad option changes nothing: no identity, no key */
	if (!tether_csr_check_options (options, error))
		return NULL;
	identity = tether_identity_store_lookup (self, name, TRUE, error);
	if (identity == NULL)
		return NULL;

	/* the key is made once, on the device; the request is signed with it */
	if (!g_file_test (identity->key_path, G_FILE_TEST_EXISTS)) {
		if (!make_key (identity, key_type, identity->active_dir, identity->key_path, error))
			return NULL;
		g_info ("identity %s: made a new %s key", name,
		        key_type_name != NULL ? key_type_name : "ec-p256");
	}
	key = load_key_file (identity, identity->key_path, error);
	if (key == NULL)
		return NULL;
	if (key_type_name != NULL) {
		existing = tether_key_describe_type (key);
		if (g_strcmp0 (existing, key_type_name) != 0) {
			g_set_error (
			        error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			        _("identity '%s' has a %s key already; a request uses that key "
			               "(a new key comes with --renew)"),
			           name, existing);
			return NULL;
		}
	}
	csr = tether_csr_create (key, options, error);
	identity_refresh (identity);
	return csr;
}

/* promotion and rollback -------------------------------------------------------------------- */

static gboolean
promote_pending (TetherIdentity *identity, const gchar *why, GError **error)
{
	g_autofree gchar *message = NULL;
	g_autofree gchar *date = NULL;
	g_autofree gchar *serial = NULL;
	g_autoptr(GPtrArray) chain = NULL;

	chain = load_chain_file (identity->pending_chain_path, error);
	if (chain == NULL)
		return FALSE;
	serial = tether_x509_get_serial (g_ptr_array_index (chain, 0));
	date = format_date (gnutls_x509_crt_get_expiration_time (g_ptr_array_index (chain, 0)));
	if (!swap_in (identity, identity->pending_dir, error))
		return FALSE;
	identity->serial = identity->pending_serial;
	identity->pending_serial = 0;
	g_hash_table_remove_all (identity->rejections);
	message = g_strdup_printf (_("the renewed certificate (serial %s, valid until %s) is now "
	                             "the active one: %s"),
	                              serial, date, why);
	renewal_finished (identity, TRUE, message);
	emit_pair_changed (identity);
	return TRUE;
}

/* the pending pair becomes the active one at once when no connection could try it */
static void
promote_if_unused (TetherIdentity *identity)
{
	g_auto(GStrv) users = identity_users (identity);
	g_autoptr(GError) error = NULL;

	if (users[0] != NULL)
		return;
	if (!promote_pending (identity, _("no enabled connection uses the identity to try it"),
	                                   &error))
		renewal_finished (identity, FALSE, error->message);
}

void
tether_identity_store_pending_result (TetherIdentityStore *self, const gchar *name, guint64 serial,
                                      const gchar *connection_id, gboolean ok, const gchar *message)
{
	TetherIdentity *identity = g_hash_table_lookup (self->identities, name);
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) users = NULL;
	g_autofree gchar *why = NULL;
	gboolean all = TRUE;

	/* a verdict on a pair that is gone already */
	if (identity == NULL || serial == 0 || serial != identity->pending_serial)
		return;

	if (ok) {
		why = g_strdup_printf (_("connection '%s' succeeded with it"), connection_id);
		if (!promote_pending (identity, why, &error))
			renewal_finished (identity, FALSE, error->message);
		return;
	}

	g_hash_table_replace (identity->rejections, g_strdup (connection_id),
	                      g_strdup (message != NULL ? message : ""));
	users = identity_users (identity);
	for (guint i = 0; users[i] != NULL; i++) {
		if (!g_hash_table_contains (identity->rejections, users[i]))
			all = FALSE;
	}
	if (!all) {
		/* the others still try it; the refusal shows in the Renewal property */
		tether_dbus_identity1_set_renewal (identity->skeleton, describe_renewal (identity));
		return;
	}

	/* every user refused it and works with the active pair: that pair stays */
	g_unlink (identity->pending_chain_path);
	identity->pending_serial = 0;
	g_hash_table_remove_all (identity->rejections);
	why = g_strdup_printf (_("the renewed certificate was refused (connection '%s': %s); the "
	                         "current certificate stays in use"),
	                          connection_id, message != NULL ? message : _("no reason given"));
	renewal_finished (identity, FALSE, why);
	emit_pair_changed (identity);
}

/* automatic renewal over EST -------------------------------------------------------------- */

typedef struct {
	TetherIdentityStore *store;
	gchar *name;
	GCancellable *cancellable;
	gboolean first; /* a first enrollment: no active pair to keep */
} EstAttempt;

static void
est_attempt_free (EstAttempt *attempt)
{
	g_object_unref (attempt->store);
	g_free (attempt->name);
	g_object_unref (attempt->cancellable);
	g_free (attempt);
}

/* an attempt that failed: its key goes, the failure is recorded, the next one planned */
static void
est_failed (TetherIdentity *identity, const gchar *message)
{
	g_autofree gchar *text = NULL;

	/* a renewal has a working pair to fall back to; a first enrollment has none */
	if (tether_identity_has_certificate (identity) && identity->not_after > now_seconds ()) {
		g_autofree gchar *until = format_date (identity->not_after);
		text = g_strdup_printf (_("the EST renewal failed: %s; the current certificate "
		                          "stays in use (it expires on %s)"),
		                           message, until);
	} else {
		text = g_strdup_printf (_("the EST enrollment failed: %s; the identity has no "
		                          "valid certificate yet"),
		                           message);
	}

	/* its key goes; a renewal key made by hand stays in the pending slot */
	g_clear_object (&identity->est_cancellable);
	tether_remove_tree (identity->est_dir, NULL);
	renewal_finished (identity, FALSE, text);
}

/* the anchors named in est-trust-anchors, written where the TLS layer can read them */
static gchar *
est_trust_file (TetherIdentity *identity, gchar **names_out, GError **error)
{
	TetherIdentityStore *self = identity->store;
	g_auto(GStrv) names = g_settings_get_strv (identity->settings, "est-trust-anchors");
	g_autoptr(GByteArray) pem = g_byte_array_new ();
	g_autoptr(GBytes) bytes = NULL;
	g_autofree gchar *path = g_build_filename (identity->dir, "est-trust.pem", NULL);

	if (names[0] == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
		             _("no trust anchor verifies the EST server: add its root CA with "
		               "'tetherctl anchor add' and name it in the identity's "
		               "est-trust-anchors setting"));
		return NULL;
	}
	for (guint i = 0; names[i] != NULL; i++) {
		TetherAnchor *anchor =
		        self->anchors != NULL ? tether_anchor_store_lookup (self->anchors, names[i])
		                              : NULL;
		GBytes *anchor_pem;

		if (anchor == NULL) {
			g_set_error (
			        error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
			        _("trust anchor '%s' (est-trust-anchors) does not exist: add it "
			               "with 'tetherctl anchor add %s FILE'"),
			           names[i], names[i]);
			return NULL;
		}
		anchor_pem = tether_anchor_get_pem (anchor);
		g_byte_array_append (pem, g_bytes_get_data (anchor_pem, NULL),
		                     (guint) g_bytes_get_size (anchor_pem));
	}
	bytes = g_byte_array_free_to_bytes (g_steal_pointer (&pem));
	if (!ensure_dir (identity->dir, error) || !write_private (path, bytes, error))
		return NULL;
	*names_out = g_strjoinv (", ", names);
	return g_steal_pointer (&path);
}

/* USER:PASSWORD from the first line of the credentials file */
static gboolean
est_read_credentials (TetherIdentity *identity, gchar **username, gchar **password, GError **error)
{
	g_autofree gchar *path = g_settings_get_string (identity->settings, "est-credentials-file");
	g_autofree gchar *contents = NULL;
	gsize len = 0;
	gchar *end;
	gchar *colon;

	if (path[0] == '\0') {
		g_set_error (
		        error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
		        _("est-auth is 'basic' but est-credentials-file is empty: name a file "
		               "whose first line is USER:PASSWORD"));
		return FALSE;
	}
	if (!g_file_get_contents (path, &contents, &len, error)) {
		g_prefix_error (error, _("the EST credentials cannot be read: "));
		return FALSE;
	}
	end = contents + strcspn (contents, "\r\n");
	*end = '\0';
	colon = strchr (contents, ':');
	if (colon == NULL || colon == contents) {
		gnutls_memset (contents, 0, len);
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("the first line of %s is not USER:PASSWORD"), path);
		return FALSE;
	}
	*colon = '\0';
	*username = g_strdup (contents);
	*password = g_strdup (colon + 1);
	gnutls_memset (contents, 0, len);
	return TRUE;
}

/* a DN attribute of @crt, or NULL */
static gchar *
dn_attribute (gnutls_x509_crt_t crt, const gchar *oid)
{
	gchar value[256];
	size_t size = sizeof (value);

	if (gnutls_x509_crt_get_dn_by_oid (crt, oid, 0, 0, value, &size) != GNUTLS_E_SUCCESS)
		return NULL;
	return g_strndup (value, size);
}

/* the request's options: the current certificate's subject and names, or the settings' */
static GVariant *
est_request_options (TetherIdentity *identity, gboolean first, GError **error)
{
	g_autoptr(GVariantDict) dict = g_variant_dict_new (NULL);
	g_autoptr(GPtrArray) chain = NULL;
	g_autoptr(GStrvBuilder) dns = g_strv_builder_new ();
	g_autoptr(GStrvBuilder) uris = g_strv_builder_new ();
	g_auto(GStrv) dns_list = NULL;
	g_auto(GStrv) uri_list = NULL;
	const struct {
		const gchar *option;
		const gchar *oid;
	} attributes[] = {
		{ "common-name", GNUTLS_OID_X520_COMMON_NAME },
		{ "organization", GNUTLS_OID_X520_ORGANIZATION_NAME },
		{ "organizational-unit", GNUTLS_OID_X520_ORGANIZATIONAL_UNIT_NAME },
		{ "country", GNUTLS_OID_X520_COUNTRY_NAME },
	};
	gnutls_x509_crt_t leaf;

	if (first) {
		g_autofree gchar *cn =
		        g_settings_get_string (identity->settings, "est-common-name");
		g_variant_dict_insert (dict, "common-name", "s",
		                       cn[0] != '\0' ? cn : identity->name);
		return g_variant_ref_sink (g_variant_dict_end (dict));
	}

	/* a re-enrollment asks for the same subject and names (RFC 7030, 4.2.2) */
	chain = load_chain_file (identity->chain_path, error);
	if (chain == NULL)
		return NULL;
	leaf = g_ptr_array_index (chain, 0);
	for (gsize i = 0; i < G_N_ELEMENTS (attributes); i++) {
		g_autofree gchar *value = dn_attribute (leaf, attributes[i].oid);
		if (value != NULL)
			g_variant_dict_insert (dict, attributes[i].option, "s", value);
	}
	for (guint i = 0;; i++) {
		gchar name[512];
		size_t size = sizeof (name);
		int type = gnutls_x509_crt_get_subject_alt_name (leaf, i, name, &size, NULL);

		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type == GNUTLS_SAN_DNSNAME)
			g_strv_builder_add (dns, name);
		else if (type == GNUTLS_SAN_URI)
			g_strv_builder_add (uris, name);
	}
	dns_list = g_strv_builder_end (dns);
	uri_list = g_strv_builder_end (uris);
	if (dns_list[0] != NULL)
		g_variant_dict_insert (dict, "dns-names", "^as", dns_list);
	if (uri_list[0] != NULL)
		g_variant_dict_insert (dict, "uris", "^as", uri_list);
	if (!g_variant_dict_contains (dict, "common-name"))
		g_variant_dict_insert (dict, "common-name", "s", identity->name);
	return g_variant_ref_sink (g_variant_dict_end (dict));
}

/* the answer: the new certificate goes on trial (or, for a first enrollment, in use) */
static void
est_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	EstAttempt *attempt = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) issued = NULL;
	g_autoptr(GPtrArray) cacerts = NULL;
	g_autoptr(GPtrArray) candidates = NULL;
	g_autoptr(GPtrArray) chain = NULL;
	g_autoptr(GStrvBuilder) warnings = g_strv_builder_new ();
	g_auto(GStrv) warning_list = NULL;
	g_autoptr(GBytes) pem = NULL;
	g_auto(gnutls_privkey_t) key = NULL;
	TetherIdentityStore *self = attempt->store;
	TetherIdentity *identity;
	gint leaf_index;

	issued = tether_est_enroll_finish (result, &cacerts, &error);
	identity = g_hash_table_lookup (self->identities, attempt->name);
	if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || identity == NULL ||
	    identity->est_cancellable != attempt->cancellable) {
		est_attempt_free (attempt);
		return;
	}
	if (issued == NULL) {
		est_failed (identity, error->message);
		est_attempt_free (attempt);
		return;
	}

	/* the certificate for the new key, then its issuers from both answers */
	key = load_key_file (identity, identity->est_key_path, &error);
	candidates = tether_x509_list_new ();
	for (guint i = 0; i < issued->len; i++) {
		if (!tether_x509_is_self_signed (g_ptr_array_index (issued, i)))
			g_ptr_array_add (candidates, g_ptr_array_steal_index (issued, i--));
	}
	for (guint i = 0; cacerts != NULL && i < cacerts->len; i++) {
		if (!tether_x509_is_self_signed (g_ptr_array_index (cacerts, i)))
			g_ptr_array_add (candidates, g_ptr_array_steal_index (cacerts, i--));
	}
	leaf_index = key != NULL ? find_leaf (candidates, key) : -1;
	if (leaf_index < 0) {
		est_failed (identity, error != NULL ? error->message
		                                    : _("the server issued no certificate for the "
		                                        "key it was sent"));
		est_attempt_free (attempt);
		return;
	}
	chain = check_chain (self, threshold_of (identity), candidates, (guint) leaf_index,
	                     warnings, &error);
	if (chain != NULL)
		pem = export_chain (chain, &error);
	if (pem == NULL || !write_private (identity->est_chain_path, pem, &error)) {
		est_failed (identity, error->message);
		est_attempt_free (attempt);
		return;
	}
	warning_list = g_strv_builder_end (warnings);
	for (guint i = 0; warning_list[i] != NULL; i++)
		g_warning ("identity %s: the certificate EST issued: %s", identity->name,
		           warning_list[i]);
	g_clear_object (&identity->est_cancellable);

	if (attempt->first) {
		/* nothing to fall back to: in use at once */
		if (!swap_in (identity, identity->est_dir, &error)) {
			est_failed (identity, error->message);
			est_attempt_free (attempt);
			return;
		}
		identity->serial = ++self->next_serial;
		renewal_finished (identity, TRUE,
		                  _("enrolled over EST: the new certificate is in use"));
		emit_pair_changed (identity);
	} else {
		/* on trial: the connections try it, the active pair stays until one succeeds */
		tether_remove_tree (identity->pending_dir, NULL);
		if (!rename_or_fail (identity->est_dir, identity->pending_dir, &error)) {
			est_failed (identity, error->message);
			est_attempt_free (attempt);
			return;
		}
		sync_dir (identity->dir);
		identity->pending_serial = ++self->next_serial;
		g_hash_table_remove_all (identity->rejections);
		g_info ("identity %s: EST issued a renewed certificate; it goes on trial",
		        identity->name);
		identity_refresh (identity);
		emit_pair_changed (identity);
		promote_if_unused (identity);
	}
	est_attempt_free (attempt);
}

/* a renewal (or first enrollment) over EST, now */
static void
renewal_start (TetherIdentity *identity)
{
	TetherIdentityStore *self = identity->store;
	TetherEstParams params = { 0 };
	g_autoptr(GError) error = NULL;
	g_autofree gchar *url = g_settings_get_string (identity->settings, "est-url");
	g_autofree gchar *auth = g_settings_get_string (identity->settings, "est-auth");
	g_autofree gchar *key_type_name = g_settings_get_string (identity->settings, "key-type");
	g_autofree gchar *bootstrap_name = NULL;
	g_autofree gchar *trust_file = NULL;
	g_autofree gchar *anchor_names = NULL;
	g_autofree gchar *username = NULL;
	g_autofree gchar *password = NULL;
	g_autofree gchar *csr = NULL;
	g_autoptr(GVariant) options = NULL;
	g_auto(gnutls_privkey_t) key = NULL;
	TetherKeyType key_type = TETHER_KEY_TYPE_EC_P256;
	gboolean first = !tether_identity_has_certificate (identity) ||
	                 identity->not_after <= now_seconds ();
	EstAttempt *attempt;

	g_info ("identity %s: %s over EST at %s", identity->name, first ? "enrolling" : "renewing",
	        url);
	renewal_started (identity);
	if (!tether_est_check_url (url, &error)) {
		est_failed (identity, error->message);
		return;
	}
	trust_file = est_trust_file (identity, &anchor_names, &error);
	if (trust_file == NULL) {
		est_failed (identity, error->message);
		return;
	}

	/* who asks: the current certificate, else the bootstrap one or basic credentials */
	if (!first) {
		params.cert_file = identity->chain_path;
		params.key_file = identity->key_path;
	} else if (g_strcmp0 (auth, "basic") == 0) {
		if (!est_read_credentials (identity, &username, &password, &error)) {
			est_failed (identity, error->message);
			return;
		}
		params.username = username;
		params.password = password;
	} else {
		TetherIdentity *bootstrap;

		bootstrap_name =
		        g_settings_get_string (identity->settings, "est-bootstrap-identity");
		bootstrap = bootstrap_name[0] != '\0'
		                    ? g_hash_table_lookup (self->identities, bootstrap_name)
		                    : NULL;
		if (bootstrap == NULL || !tether_identity_has_certificate (bootstrap)) {
			g_set_error (&error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
			             _("a first enrollment needs a bootstrap identity with a "
			               "certificate (est-bootstrap-identity is '%s'), or est-auth "
			               "'basic' with est-credentials-file"),
			                bootstrap_name);
			est_failed (identity, error->message);
			return;
		}
		params.cert_file = bootstrap->chain_path;
		params.key_file = bootstrap->key_path;
	}

	/* a new key of its own, and the request signed with it */
	tether_key_type_from_string (key_type_name, &key_type);
	tether_remove_tree (identity->est_dir, NULL);
	options = est_request_options (identity, first, &error);
	if (options == NULL ||
	    !make_key (identity, key_type, identity->est_dir, identity->est_key_path, &error)) {
		est_failed (identity, error->message);
		return;
	}
	key = load_key_file (identity, identity->est_key_path, &error);
	if (key != NULL)
		csr = tether_csr_create (key, options, &error);
	if (csr == NULL) {
		est_failed (identity, error->message);
		return;
	}

	params.url = url;
	params.trust_file = trust_file;
	params.anchor_names = anchor_names;
	params.timeout = TETHER_EST_TIMEOUT;
	identity->est_cancellable = g_cancellable_new ();
	attempt = g_new0 (EstAttempt, 1);
	attempt->store = g_object_ref (self);
	attempt->name = g_strdup (identity->name);
	attempt->cancellable = g_object_ref (identity->est_cancellable);
	attempt->first = first;
	tether_est_enroll_async (&params, !first, csr, identity->est_cancellable, est_done_cb,
	                         attempt);
	if (password != NULL)
		gnutls_memset (password, 0, strlen (password));
	identity_refresh (identity);
}

static gboolean
renewal_timer_cb (gpointer user_data)
{
	TetherIdentity *identity = user_data;

	identity->renewal_id = 0;
	if (identity->next_attempt > now_seconds ()) {
		renewal_schedule (identity); /* a long wait, in steps */
		return G_SOURCE_REMOVE;
	}
	renewal_start (identity);
	return G_SOURCE_REMOVE;
}

/* when EST renews (or first enrolls) the identity next; nothing without an EST URL */
static void
renewal_schedule (TetherIdentity *identity)
{
	g_autofree gchar *url = g_settings_get_string (identity->settings, "est-url");
	gint64 now = now_seconds ();
	gint64 when;

	g_clear_handle_id (&identity->renewal_id, g_source_remove);
	identity->next_attempt = 0;
	if (url[0] == '\0' || identity->est_cancellable != NULL || identity->pending_serial != 0)
		return;

	/* at the threshold; a first enrollment at once; after a failure, not before the retry */
	if (identity->not_after > 0)
		when = due_time (identity, identity->not_before, identity->not_after);
	else
		when = now;
	when = MAX (MAX (when, identity->retry_at), now);
	identity->next_attempt = when;
	identity->renewal_id =
	        g_timeout_add_seconds ((guint) MIN (when - now, (gint64) TETHER_RENEWAL_TIMER_MAX),
	                               renewal_timer_cb, identity);
}

/* install and import ------------------------------------------------------------------------ */

GStrv
tether_identity_store_install (TetherIdentityStore *self, const gchar *name, GBytes *data,
                               GError **error)
{
	TetherIdentity *identity;
	g_auto(gnutls_privkey_t) active_key = NULL;
	g_auto(gnutls_privkey_t) pending_key = NULL;
	g_autoptr(GPtrArray) certs = NULL;
	g_autoptr(GPtrArray) chain = NULL;
	g_autoptr(GStrvBuilder) warnings = g_strv_builder_new ();
	g_autoptr(GBytes) pem = NULL;
	gboolean to_pending = FALSE;
	gint leaf_index;

	identity = tether_identity_store_lookup (self, name, FALSE, error);
	if (identity == NULL)
		return NULL;
	if (!g_file_test (identity->key_path, G_FILE_TEST_EXISTS) &&
	    !g_file_test (identity->pending_key_path, G_FILE_TEST_EXISTS)) {
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
	certs = tether_x509_parse_upload (data, error);
	if (certs == NULL)
		return NULL;

	/* the leaf is the certificate of one of this identity's keys: a renewal's first */
	if (g_file_test (identity->pending_key_path, G_FILE_TEST_EXISTS)) {
		pending_key = load_key_file (identity, identity->pending_key_path, error);
		if (pending_key == NULL)
			return NULL;
	}
	if (g_file_test (identity->key_path, G_FILE_TEST_EXISTS)) {
		active_key = load_key_file (identity, identity->key_path, error);
		if (active_key == NULL)
			return NULL;
	}
	leaf_index = find_leaf (certs, pending_key);
	to_pending = leaf_index >= 0;
	if (leaf_index < 0)
		leaf_index = find_leaf (certs, active_key);
	if (leaf_index < 0) {
		g_autofree gchar *subject = describe_cert (g_ptr_array_index (certs, 0));
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		             _("the certificate '%s' is not for the key of identity '%s'%s: its "
		               "public key differs; have the device CA sign a request made with "
		               "'tetherctl identity request'"),
		                subject, name,
		                pending_key != NULL
		                ? _(" (neither the active nor the renewal key)")
		                : "");
		return NULL;
	}
	chain = check_chain (self, threshold_of (identity), certs, (guint) leaf_index, warnings,
	                     error);
	if (chain == NULL)
		return NULL;
	pem = export_chain (chain, error);
	if (pem == NULL)
		return NULL;

	if (to_pending) {
		/* on trial: the connections try it, the active pair stays until one succeeds */
		if (!write_private (identity->pending_chain_path, pem, error))
			return NULL;
		identity->pending_serial = ++self->next_serial;
		g_hash_table_remove_all (identity->rejections);
		g_info ("identity %s: a renewed chain of %u certificates waits in the pending slot",
		        name, chain->len);
		renewal_started (identity);
		identity_refresh (identity);
		emit_pair_changed (identity);
		promote_if_unused (identity);
	} else {
		if (!ensure_dir (identity->active_dir, error) ||
		    !write_private (identity->chain_path, pem, error))
			return NULL;
		identity->serial = ++self->next_serial;
		g_info ("identity %s: installed a chain of %u certificates", name, chain->len);
		identity_refresh (identity);
		emit_pair_changed (identity);
	}
	return g_strv_builder_end (warnings);
}

GStrv
tether_identity_store_import (TetherIdentityStore *self, const gchar *name, GBytes *key_data,
                              GBytes *chain_data, const gchar *password, GError **error)
{
	TetherIdentity *identity;
	g_autoptr(GStrvBuilder) warnings = g_strv_builder_new ();
	g_autoptr(GBytes) key_pem = NULL;
	g_autoptr(GPtrArray) certs = NULL;
	g_autoptr(GPtrArray) chain = NULL;
	g_autoptr(GBytes) chain_pem = NULL;
	g_auto(gnutls_privkey_t) key = NULL;
	g_autofree gchar *incoming = NULL;
	g_autofree gchar *incoming_key = NULL;
	g_autofree gchar *incoming_chain = NULL;
	gboolean encrypted = FALSE;

	if (!tether_name_check (name, _("identity"), error))
		return NULL;
	if (g_bytes_get_size (key_data) > TETHER_KEY_MAX_SIZE ||
	    g_bytes_get_size (chain_data) > TETHER_CHAIN_MAX_SIZE) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("the key or the chain is too large (at most %u bytes each)"),
		                (guint) TETHER_KEY_MAX_SIZE);
		return NULL;
	}

	/* the key, decrypted, and the certificates that come with it */
	if (tether_pkcs12_detect (key_data)) {
		if (g_bytes_get_size (chain_data) > 0) {
			g_set_error_literal (
			        error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			        _("a PKCS#12 bundle brings its own certificates: give "
			                       "an empty chain with it"));
			return NULL;
		}
		key_pem = tether_pkcs12_import (key_data, password, &certs, error);
		if (key_pem == NULL)
			return NULL;
	} else {
		key_pem = tether_key_import (key_data, password, &encrypted, error);
		if (key_pem == NULL)
			return NULL;
		if (!encrypted && password != NULL)
			g_strv_builder_add (warnings,
			                    _("the key is not encrypted; the password given "
			                                "was not needed"));
		if (g_bytes_get_size (chain_data) > 0) {
			certs = tether_x509_parse_upload (chain_data, error);
			if (certs == NULL)
				return NULL;
		} else {
			/* one PEM file with the key and its chain */
			g_autoptr(GBytes) certs_pem = tether_pem_certificate_blocks (key_data);

			if (certs_pem != NULL) {
				certs = tether_x509_parse_pem (certs_pem, error);
				if (certs == NULL)
					return NULL;
			}
		}
	}
	key = tether_key_load_pem (key_pem, error);
	if (key == NULL)
		return NULL;

	/* the same checks as an install, against the imported key */
	if (certs != NULL && certs->len > 0) {
		gint leaf_index = find_leaf (certs, key);
		/* the identity's settings may be there before the identity is */
		g_autoptr(GSettings) settings = identity_settings_new (self, name);

		if (leaf_index < 0) {
			g_autofree gchar *subject = describe_cert (g_ptr_array_index (certs, 0));
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
			             _("no certificate in the chain is for the imported key (the "
			               "first is '%s'): give the certificate issued for this key"),
			                subject);
			return NULL;
		}
		chain = check_chain (self, settings_threshold (settings), certs, (guint) leaf_index,
		                     warnings, error);
		if (chain == NULL)
			return NULL;
		chain_pem = export_chain (chain, error);
		if (chain_pem == NULL)
			return NULL;
	} else {
		g_strv_builder_add (warnings,
		                    _("no certificate came with the key: install one with "
		                                "'tetherctl identity install'"));
	}
	identity = tether_identity_store_lookup (self, name, TRUE, error);
	if (identity == NULL)
		return NULL;

	/* an EST request for the pair this one replaces must not bring its answer back */
	est_cancel (identity, _("a key and its certificate were imported"));

	/* written beside the active pair, then swapped in */
	incoming = g_build_filename (identity->dir, "incoming", NULL);
	incoming_key = g_build_filename (incoming, KEY_FILE, NULL);
	incoming_chain = g_build_filename (incoming, CHAIN_FILE, NULL);
	tether_remove_tree (incoming, NULL);
	if (!ensure_dir (incoming, error) ||
	    (chain_pem != NULL && !write_private (incoming_chain, chain_pem, error)) ||
	    !write_private (incoming_key, key_pem, error) || !swap_in (identity, incoming, error)) {
		tether_remove_tree (incoming, NULL);
		return NULL;
	}

	/* a renewal of the key that was there is no longer one */
	tether_remove_tree (identity->pending_dir, NULL);
	identity->pending_serial = 0;
	g_hash_table_remove_all (identity->rejections);
	identity->serial = ++self->next_serial;
	g_info ("identity %s: imported a key%s", name,
	        chain != NULL ? " and its certificate chain" : "");
	identity_refresh (identity);
	emit_pair_changed (identity);
	return g_strv_builder_end (warnings);
}

gboolean
tether_identity_store_remove (TetherIdentityStore *self, const gchar *name, GError **error)
{
	TetherIdentity *identity = tether_identity_store_lookup (self, name, FALSE, error);
	g_autofree gchar *dir = NULL;

	if (identity == NULL || !tether_settings_check_can_save (self->settings, error))
		return FALSE;
	dir = g_strdup (identity->dir);
	tether_settings_reset_all (identity->settings);
	g_hash_table_remove (self->identities, name);
	set_identity_list (self, NULL, name);
	tether_remove_tree (dir, NULL);
	g_info ("identity %s removed", name);
	g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
	return TRUE;
}

/* the store --------------------------------------------------------------------------------- */

TetherIdentityStore *
tether_identity_store_new (const gchar *state_dir, GDBusConnection *bus, GSettings *settings,
                           TetherAnchorStore *anchors)
{
	TetherIdentityStore *self = g_object_new (TETHER_TYPE_IDENTITY_STORE, NULL);
	g_auto(GStrv) names = g_settings_get_strv (settings, "identities");

	self->dir = g_build_filename (state_dir, "identities", NULL);
	self->bus = g_object_ref (bus);
	self->settings = g_object_ref (settings);
	self->anchors = anchors != NULL ? g_object_ref (anchors) : NULL;
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
	g_clear_object (&self->anchors);
	G_OBJECT_CLASS (tether_identity_store_parent_class)->finalize (object);
}

static void
tether_identity_store_class_init (TetherIdentityStoreClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = tether_identity_store_finalize;
	signals[SIGNAL_CHANGED] =
	        g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                      NULL, NULL, G_TYPE_NONE, 0);
	/* the active or the pending pair of the identity named in the argument changed */
	signals[SIGNAL_PAIR_CHANGED] =
	        g_signal_new ("pair-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                      NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
tether_identity_store_init (TetherIdentityStore *self)
{
	self->identities = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
	                                          (GDestroyNotify) tether_identity_free);
}
