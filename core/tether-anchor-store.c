/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "tether-anchor-store.h"
#include "tether-common.h"
#include "tether-dbus.h"
#include "tether-error.h"
#include "tether-names.h"
#include "tether-x509.h"

/* larger than any real bundle of roots */
#define TETHER_ANCHOR_MAX_SIZE (1024 * 1024)
#define TETHER_ANCHOR_DAY      (24 * 60 * 60)

struct _TetherAnchor {
	gchar *name;
	gchar *object_path;
	gboolean bundled;
	GBytes *pem;
	gint64 not_after; /* the earliest of its certificates */
	gboolean warned;  /* Expiring emitted since the last daily check */
	TetherAnchorStore *store;
	TetherDBusTrustAnchor1 *skeleton;
};

struct _TetherAnchorStore {
	GObject parent_instance;
	gchar *dir;
	GDBusConnection *bus;
	GHashTable *anchors; /* name -> TetherAnchor */
	GSettings *settings; /* for anchor-expiry-days, once the expiry watch runs */
	guint daily_id;
};

G_DEFINE_FINAL_TYPE (TetherAnchorStore, tether_anchor_store, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST];

static void
tether_anchor_free (TetherAnchor *anchor)
{
	g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (anchor->skeleton));
	g_object_unref (anchor->skeleton);
	g_free (anchor->name);
	g_free (anchor->object_path);
	g_bytes_unref (anchor->pem);
	g_free (anchor);
}

const gchar *
tether_anchor_get_name (TetherAnchor *anchor)
{
	return anchor->name;
}

const gchar *
tether_anchor_get_object_path (TetherAnchor *anchor)
{
	return anchor->object_path;
}

gboolean
tether_anchor_is_bundled (TetherAnchor *anchor)
{
	return anchor->bundled;
}

GBytes *
tether_anchor_get_pem (TetherAnchor *anchor)
{
	return anchor->pem;
}

static gboolean anchor_check_expiry (TetherAnchor *anchor, gint64 now, guint days);

static guint
expiry_days (TetherAnchorStore *self)
{
	return self->settings != NULL ? g_settings_get_uint (self->settings, "anchor-expiry-days")
	                              : 0;
}

void
tether_anchor_set_used_by (TetherAnchor *anchor, const gchar *const *connections)
{
	tether_dbus_trust_anchor1_set_used_by (anchor->skeleton, connections);

	/* a connection started to use it: say so now if it expires soon, not at tomorrow's check */
	if (connections != NULL && connections[0] != NULL && !anchor->warned)
		anchor_check_expiry (anchor, g_get_real_time () / G_USEC_PER_SEC,
		                     expiry_days (anchor->store));
}

gint64
tether_anchor_get_not_after (TetherAnchor *anchor)
{
	return anchor->not_after;
}

static GVariant *
describe_all (GPtrArray *certs, gint64 *not_after)
{
	GVariantBuilder builder;

	*not_after = G_MAXINT64;
	g_variant_builder_init (&builder, G_VARIANT_TYPE ("aa{sv}"));
	for (guint i = 0; i < certs->len; i++) {
		gnutls_x509_crt_t crt = g_ptr_array_index (certs, i);
		g_variant_builder_add_value (&builder, tether_x509_describe (crt));
		*not_after = MIN (*not_after, (gint64) gnutls_x509_crt_get_expiration_time (crt));
	}
	if (certs->len == 0)
		*not_after = 0;
	return g_variant_builder_end (&builder);
}

static TetherAnchor *
anchor_new (TetherAnchorStore *self, const gchar *name, const gchar *origin, GPtrArray *certs,
            GBytes *pem, GError **error)
{
	TetherAnchor *anchor = g_new0 (TetherAnchor, 1);
	g_autofree gchar *escaped = g_dbus_escape_object_path (name);
	gint64 not_after = 0;
	GVariant *described = describe_all (certs, &not_after);

	anchor->name = g_strdup (name);
	anchor->object_path = g_strdup_printf ("/org/tether/Tether1/anchors/%s", escaped);
	anchor->bundled = g_str_has_prefix (origin, "bundled:");
	anchor->pem = g_bytes_ref (pem);
	anchor->not_after = not_after;
	anchor->store = self;
	anchor->skeleton = tether_dbus_trust_anchor1_skeleton_new ();
	tether_dbus_trust_anchor1_set_name (anchor->skeleton, name);
	tether_dbus_trust_anchor1_set_origin (anchor->skeleton, origin);
	tether_dbus_trust_anchor1_set_certificates (anchor->skeleton, described);
	tether_dbus_trust_anchor1_set_not_after (anchor->skeleton, not_after);
	if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (anchor->skeleton),
	                                       self->bus, anchor->object_path, error)) {
		g_object_unref (anchor->skeleton);
		g_free (anchor->name);
		g_free (anchor->object_path);
		g_bytes_unref (anchor->pem);
		g_free (anchor);
		return NULL;
	}
	return anchor;
}

/*
 * An anchor's certificates, checked and normalised, and their PEM (LF, no byte-order mark), so
 * that the fingerprints match the clean file's. An upload is refused when every certificate
 * has expired; a file already stored or a bundled anchor is kept whatever its dates.
 */
static gboolean
parse_anchor (GBytes *data, gboolean upload, GPtrArray **certs_out, GBytes **pem_out,
              GStrv *warnings, GError **error)
{
	g_autoptr(GPtrArray) parsed = NULL;
	g_autoptr(GPtrArray) certs = NULL;
	gchar *pem;
	gint64 now = g_get_real_time () / G_USEC_PER_SEC;

	if (g_bytes_get_size (data) > TETHER_ANCHOR_MAX_SIZE) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("the file is %zu bytes; a trust anchor is at most %u: give only "
		               "the root CA's certificate, or one chain"),
		                g_bytes_get_size (data), (guint) TETHER_ANCHOR_MAX_SIZE);
		return FALSE;
	}
	parsed = tether_x509_parse_upload (data, error);
	if (parsed == NULL)
		return FALSE;
	certs = tether_x509_prepare_anchor (parsed, now, upload, warnings, error);
	if (certs == NULL)
		return FALSE;
	pem = tether_x509_export_pem (certs, error);
	if (pem == NULL)
		return FALSE;
	*pem_out = g_bytes_new_take (pem, strlen (pem));
	*certs_out = g_steal_pointer (&certs);
	return TRUE;
}

TetherAnchor *
tether_anchor_store_add (TetherAnchorStore *self, const gchar *name, GBytes *data, gboolean replace,
                         GStrv *warnings, GError **error)
{
	TetherAnchor *old;
	TetherAnchor *anchor;
	g_autoptr(GPtrArray) certs = NULL;
	g_autoptr(GBytes) pem = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *basename = NULL;
	g_auto(GStrv) notes = NULL;

	if (!tether_name_check (name, _("trust anchor"), error))
		return NULL;
	old = g_hash_table_lookup (self->anchors, name);
	if (old != NULL && old->bundled) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_EXISTS,
		             _("trust anchor '%s' is bundled with a cloud plugin and cannot be "
		                "replaced; choose another name"),
		                name);
		return NULL;
	}
	if (old != NULL && !replace) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_EXISTS,
		             _("trust anchor '%s' exists already: choose another name, or replace "
		               "it (the replace option, 'tetherctl anchor add --replace')"),
		                name);
		return NULL;
	}
	if (!parse_anchor (data, TRUE, &certs, &pem, &notes, error)) {
		g_prefix_error (error, _("trust anchor '%s': "), name);
		return NULL;
	}

	/* on disk first, atomically: a crash leaves the old one or the new one */
	basename = g_strdup_printf ("%s.pem", name);
	path = g_build_filename (self->dir, basename, NULL);
	if (!g_file_set_contents_full (
	            path, g_bytes_get_data (pem, NULL), (gssize) g_bytes_get_size (pem),
	            G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0600, error))
		return NULL;

	if (old != NULL)
		g_hash_table_remove (self->anchors, name);
	anchor = anchor_new (self, name, "added", certs, pem, error);
	if (anchor == NULL)
		return NULL;
	g_hash_table_insert (self->anchors, anchor->name, anchor);
	if (warnings != NULL)
		*warnings = g_steal_pointer (&notes);
	g_info ("trust anchor %s %s: %u certificates", name, old != NULL ? "replaced" : "added",
	        certs->len);
	g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
	return anchor;
}

gboolean
tether_anchor_store_add_bundled (TetherAnchorStore *self, const gchar *cloud, const gchar *slug,
                                 GBytes *data, GError **error)
{
	g_autofree gchar *name = g_strdup_printf ("%s.%s", cloud, slug);
	g_autofree gchar *origin = g_strdup_printf ("bundled:%s", cloud);
	g_autoptr(GPtrArray) certs = NULL;
	g_autoptr(GBytes) pem = NULL;
	TetherAnchor *anchor;

	if (!tether_name_check (name, _("trust anchor"), error))
		return FALSE;
	if (g_hash_table_contains (self->anchors, name)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_EXISTS,
		             _("trust anchor '%s' exists already"), name);
		return FALSE;
	}
	if (!parse_anchor (data, FALSE, &certs, &pem, NULL, error))
		return FALSE;
	anchor = anchor_new (self, name, origin, certs, pem, error);
	if (anchor == NULL)
		return FALSE;
	g_hash_table_insert (self->anchors, anchor->name, anchor);
	g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
	return TRUE;
}

gboolean
tether_anchor_store_remove (TetherAnchorStore *self, const gchar *name, GError **error)
{
	TetherAnchor *anchor = g_hash_table_lookup (self->anchors, name);
	g_autofree gchar *basename = NULL;
	g_autofree gchar *path = NULL;

	if (anchor == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
		             _("there is no trust anchor '%s'"), name);
		return FALSE;
	}
	if (anchor->bundled) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("trust anchor '%s' is bundled with a cloud plugin and cannot be "
		                "removed"),
		                name);
		return FALSE;
	}
	basename = g_strdup_printf ("%s.pem", name);
	path = g_build_filename (self->dir, basename, NULL);
	if (g_unlink (path) != 0 && errno != ENOENT) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot remove %s: %s"), path, g_strerror (errno));
		return FALSE;
	}
	g_hash_table_remove (self->anchors, name);
	g_info ("trust anchor %s removed", name);
	g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
	return TRUE;
}

TetherAnchor *
tether_anchor_store_lookup (TetherAnchorStore *self, const gchar *name)
{
	return g_hash_table_lookup (self->anchors, name);
}

static gint
anchor_compare (gconstpointer a, gconstpointer b)
{
	const TetherAnchor *aa = *(TetherAnchor *const *) a;
	const TetherAnchor *bb = *(TetherAnchor *const *) b;
	return g_strcmp0 (aa->name, bb->name);
}

GPtrArray *
tether_anchor_store_list (TetherAnchorStore *self)
{
	GPtrArray *list = tether_hash_table_get_values (self->anchors);
	g_ptr_array_sort (list, anchor_compare);
	return list;
}

/* a damaged file is kept for a person to look at, out of the way */
static void
set_aside (const gchar *path, const gchar *why)
{
	g_autofree gchar *aside = g_strdup_printf ("%s.damaged", path);

	g_warning ("trust anchor file %s is damaged (%s); moved to %s", path, why, aside);
	if (g_rename (path, aside) != 0)
		g_warning ("cannot move %s aside: %s", path, g_strerror (errno));
}

static void
load_dir (TetherAnchorStore *self)
{
	g_autoptr(GDir) dir = g_dir_open (self->dir, 0, NULL);
	const gchar *entry;

	while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL) {
		g_autofree gchar *path = NULL;
		g_autofree gchar *name = NULL;
		g_autofree gchar *contents = NULL;
		g_autoptr(GError) error = NULL;
		g_autoptr(GPtrArray) certs = NULL;
		g_autoptr(GBytes) data = NULL;
		g_autoptr(GBytes) pem = NULL;
		TetherAnchor *anchor;
		gsize len = 0;

		if (!g_str_has_suffix (entry, ".pem"))
			continue;
		path = g_build_filename (self->dir, entry, NULL);
		name = g_strndup (entry, strlen (entry) - strlen (".pem"));
		if (!tether_name_check (name, _("trust anchor"), &error)) {
			set_aside (path, error->message);
			continue;
		}
		if (!g_file_get_contents (path, &contents, &len, &error)) {
			g_warning ("cannot read %s: %s", path, error->message);
			continue;
		}
		data = g_bytes_new_take (g_steal_pointer (&contents), len);
		if (!parse_anchor (data, FALSE, &certs, &pem, NULL, &error)) {
			set_aside (path, error->message);
			continue;
		}
		anchor = anchor_new (self, name, "added", certs, pem, &error);
		if (anchor == NULL) {
			g_warning ("cannot export trust anchor %s: %s", name, error->message);
			continue;
		}
		g_hash_table_insert (self->anchors, anchor->name, anchor);
	}
}

/* expiry ------------------------------------------------------------------------------------ */

/* logs and emits Expiring when @anchor is in use and expires within @days of @now */
static gboolean
anchor_check_expiry (TetherAnchor *anchor, gint64 now, guint days)
{
	const gchar *const *used_by = tether_dbus_trust_anchor1_get_used_by (anchor->skeleton);
	g_autoptr(GDateTime) expiry = NULL;
	g_autofree gchar *date = NULL;
	g_autofree gchar *users = NULL;

	if (days == 0 || used_by == NULL || used_by[0] == NULL ||
	    anchor->not_after > now + (gint64) days * TETHER_ANCHOR_DAY)
		return FALSE;

	expiry = g_date_time_new_from_unix_utc (anchor->not_after);
	date = expiry != NULL ? g_date_time_format (expiry, "%Y-%m-%d")
	                      : g_strdup_printf ("%" G_GINT64_FORMAT, anchor->not_after);
	users = g_strjoinv (", ", (gchar **) used_by);
	if (anchor->not_after < now)
		g_warning ("trust anchor %s expired on %s and is still used by %s: add its "
		           "successor to them with 'tetherctl connection modify ID --anchor NAME'",
		           anchor->name, date, users);
	else
		g_warning ("trust anchor %s expires on %s, within %u days, and is used by %s: add "
		           "its successor beside it before then ('tetherctl connection modify ID "
		           "--anchor OLD --anchor NEW')",
		           anchor->name, date, days, users);
	tether_dbus_trust_anchor1_emit_expiring (anchor->skeleton, anchor->not_after);
	anchor->warned = TRUE;
	return TRUE;
}

guint
tether_anchor_store_check_expiry (TetherAnchorStore *self, gint64 now, guint days)
{
	g_autoptr(GPtrArray) anchors = tether_anchor_store_list (self);
	guint n = 0;

	for (guint i = 0; i < anchors->len; i++) {
		TetherAnchor *anchor = g_ptr_array_index (anchors, i);

		anchor->warned = FALSE;
		if (anchor_check_expiry (anchor, now, days))
			n++;
	}
	return n;
}

static void
check_expiry_now (TetherAnchorStore *self)
{
	tether_anchor_store_check_expiry (self, g_get_real_time () / G_USEC_PER_SEC,
	                                  expiry_days (self));
}

static gboolean
daily_cb (gpointer user_data)
{
	check_expiry_now (TETHER_ANCHOR_STORE (user_data));
	return G_SOURCE_CONTINUE;
}

void
tether_anchor_store_watch_expiry (TetherAnchorStore *self, GSettings *settings)
{
	g_return_if_fail (TETHER_IS_ANCHOR_STORE (self));
	g_return_if_fail (self->settings == NULL);

	self->settings = g_object_ref (settings);
	g_signal_connect_swapped (settings, "changed::anchor-expiry-days",
	                          G_CALLBACK (check_expiry_now), self);
	self->daily_id = g_timeout_add_seconds (TETHER_ANCHOR_DAY, daily_cb, self);
	check_expiry_now (self);
}

TetherAnchorStore *
tether_anchor_store_new (const gchar *state_dir, GDBusConnection *bus, GError **error)
{
	g_autoptr(TetherAnchorStore) self = g_object_new (TETHER_TYPE_ANCHOR_STORE, NULL);

	self->dir = g_build_filename (state_dir, "anchors", NULL);
	self->bus = g_object_ref (bus);
	if (g_mkdir_with_parents (self->dir, 0700) != 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot create %s: %s"), self->dir, g_strerror (errno));
		return NULL;
	}
	load_dir (self);
	return g_steal_pointer (&self);
}

static void
tether_anchor_store_finalize (GObject *object)
{
	TetherAnchorStore *self = TETHER_ANCHOR_STORE (object);

	g_clear_handle_id (&self->daily_id, g_source_remove);
	if (self->settings != NULL)
		g_signal_handlers_disconnect_by_data (self->settings, self);
	g_clear_object (&self->settings);
	g_hash_table_unref (self->anchors);
	g_free (self->dir);
	g_clear_object (&self->bus);
	G_OBJECT_CLASS (tether_anchor_store_parent_class)->finalize (object);
}

static void
tether_anchor_store_class_init (TetherAnchorStoreClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = tether_anchor_store_finalize;
	signals[SIGNAL_CHANGED] =
	        g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                      NULL, NULL, G_TYPE_NONE, 0);
}

static void
tether_anchor_store_init (TetherAnchorStore *self)
{
	self->anchors = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
	                                       (GDestroyNotify) tether_anchor_free);
}
