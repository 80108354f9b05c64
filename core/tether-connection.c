/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "tether-connection-private.h"
#include "tether-dbus.h"
#include "tether-error.h"
#include "tether-mqtt-session.h"
#include "tether-names.h"
#include "tether-outbox.h"
#include "tether-settings.h"
#include "tether-tls-probe.h"

/* messages handed to Paho and not yet acknowledged, at most */
#define TETHER_SEND_WINDOW 256
/* seconds the TLS probe may take to classify a failure */
#define TETHER_PROBE_TIMEOUT 10
/* a message on which the broker drops the connection this many times goes to dead-letter/ */
#define TETHER_DEAD_LETTER_TRIES 3
/* a connection lost this soon after the oldest unacknowledged message went out blames it */
#define TETHER_POISON_WINDOW_S 10
/*
 * sessions this short, this many times in a row, hint at a second client with
 * the same id: each throws the other out as soon as it comes back, so a
 * session lasts about one reconnect wait; short means shorter than this plus
 * twice reconnect-min
 */
#define TETHER_SHORT_SESSION_S       3
#define TETHER_SHORT_SESSIONS_IN_ROW 3
/* how often the deadlines (expires-in) of queued messages are checked */
#define TETHER_EXPIRY_INTERVAL_S 1
/* how soon a send that the MQTT session could not take is tried again */
#define TETHER_SEND_RETRY_MS 100
/* the most different lines one spell of trouble logs (see first_in_spell()) */
#define TETHER_LOGGED_MAX 32
/* an outbox that held this many messages and drained gives the freed heap back, this much later */
#define TETHER_TRIM_AFTER_MESSAGES 1000
#define TETHER_TRIM_DELAY_S        1

struct _TetherConnection {
	GObject parent_instance;
	gchar *id;
	gchar *object_path;
	TetherCloud *cloud;
	GSettings *settings;
	GDBusConnection *bus;
	TetherAnchorStore *anchors;
	TetherIdentityStore *identities;
	gchar *state_dir;
	TetherDBusConnection1 *skeleton;

	/* from the settings */
	gchar *host;
	guint16 port;
	gboolean enabled;
	gchar *client_id; /* "" for the cloud's default; ClientId shows the one in use */

	/* what the plugin set while preparing */
	TetherMqttParams params;
	GPtrArray *subscriptions;

	TetherMqttSession *session;
	TetherOutbox *outbox;
	GCancellable *cancellable;
	guint reconnect_id;
	guint reload_id;
	guint backoff;
	guint64 delivered;
	guint64 dropped;
	gchar *paho_message;     /* while the probe runs */
	gchar *session_identity; /* NULL: the connection's */
	gboolean provisioning;

	/* the identity's pairs: which one the session uses, how a renewed one fared */
	guint64 session_serial;   /* the pair the session presents */
	gboolean session_pending; /* it is the pending pair, on trial */
	guint64 pending_failed;   /* the pending pair that failed here */
	gchar *pending_failure;   /* why */
	guint64 next_internal_tag;

	/* delivery */
	gchar *outbox_error; /* the outbox cannot be used: why */
	guint expiry_id;
	GNetworkMonitor *network_monitor;
	gboolean network_available;
	gint64 connected_at; /* monotonic, 0 while not connected */
	gboolean session_up; /* the MQTT session connected and not yet lost */
	guint short_sessions;
	guint64 suspect_id; /* the message the broker dropped the connection on */
	guint suspect_strikes;
	guint send_retry_id;
	GHashTable *logged;  /* what this spell of trouble logged: state changes, errors */
	guint64 queued_peak; /* the most queued since the heap was last given back */
	guint trim_id;
};

/* tags of the plugin's own messages, apart from the outbox's ids */
#define TETHER_INTERNAL_TAG (G_GUINT64_CONSTANT (1) << 63)

G_DEFINE_FINAL_TYPE (TetherConnection, tether_connection, G_TYPE_OBJECT)

static void tether_connection_connect_now (TetherConnection *self);
static void tether_connection_flush (TetherConnection *self);

/* the plugin-facing API */

const gchar *
tether_connection_get_id (TetherConnection *self)
{
	g_return_val_if_fail (TETHER_IS_CONNECTION (self), NULL);
	return self->id;
}

const gchar *
tether_connection_get_host (TetherConnection *self)
{
	g_return_val_if_fail (TETHER_IS_CONNECTION (self), NULL);
	return self->host;
}

guint16
tether_connection_get_port (TetherConnection *self)
{
	g_return_val_if_fail (TETHER_IS_CONNECTION (self), 0);
	return self->port;
}

const gchar *
tether_connection_get_client_id (TetherConnection *self)
{
	g_return_val_if_fail (TETHER_IS_CONNECTION (self), NULL);
	return self->client_id != NULL ? self->client_id : "";
}

guint
tether_connection_get_keepalive (TetherConnection *self)
{
	g_return_val_if_fail (TETHER_IS_CONNECTION (self), 0);
	return g_settings_get_uint (self->settings, "keepalive");
}

GVariant *
tether_connection_get_cloud_options (TetherConnection *self)
{
	g_return_val_if_fail (TETHER_IS_CONNECTION (self), NULL);
	return tether_dbus_connection1_get_cloud_options (self->skeleton);
}

gchar *
tether_connection_dup_identity_common_name (TetherConnection *self, GError **error)
{
	const gchar *name = tether_connection_get_identity_name (self);
	TetherIdentity *identity;
	const gchar *common_name;

	identity = tether_identity_store_lookup (self->identities, name, FALSE, error);
	if (identity == NULL)
		return NULL;
	common_name = tether_identity_get_common_name (identity);
	if (common_name == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
		             _("identity '%s' has no certificate with a common name: install one "
		                "with 'tetherctl identity install'"),
		                name);
		return NULL;
	}
	return g_strdup (common_name);
}

gchar *
tether_connection_dup_state_dir (TetherConnection *self, GError **error)
{
	g_autofree gchar *dir = g_build_filename (self->state_dir, "connections", self->id, NULL);

	if (g_mkdir_with_parents (dir, 0700) != 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot create %s: %s"), dir, g_strerror (errno));
		return NULL;
	}
	return g_steal_pointer (&dir);
}

void
tether_connection_set_mqtt_host (TetherConnection *self, const gchar *host, guint16 port)
{
	g_return_if_fail (TETHER_IS_CONNECTION (self));
	g_free (self->params.host);
	self->params.host = g_strdup (host);
	self->params.port = port;
}

void
tether_connection_set_mqtt_client_id (TetherConnection *self, const gchar *client_id)
{
	g_return_if_fail (TETHER_IS_CONNECTION (self));
	g_free (self->params.client_id);
	self->params.client_id = g_strdup (client_id);
}

void
tether_connection_set_mqtt_username (TetherConnection *self, const gchar *username)
{
	g_return_if_fail (TETHER_IS_CONNECTION (self));
	g_free (self->params.username);
	self->params.username = g_strdup (username);
}

void
tether_connection_set_mqtt_alpn (TetherConnection *self, const gchar *const *protocols)
{
	g_return_if_fail (TETHER_IS_CONNECTION (self));
	g_strfreev (self->params.alpn);
	self->params.alpn = g_strdupv ((gchar **) protocols);
}

void
tether_connection_set_mqtt_clean_session (TetherConnection *self, gboolean clean_session)
{
	g_return_if_fail (TETHER_IS_CONNECTION (self));
	self->params.clean_session = clean_session;
}

void
tether_connection_clear_subscriptions (TetherConnection *self)
{
	g_return_if_fail (TETHER_IS_CONNECTION (self));
	g_ptr_array_set_size (self->subscriptions, 0);
}

void
tether_connection_add_subscription (TetherConnection *self, const gchar *topic_filter)
{
	g_return_if_fail (TETHER_IS_CONNECTION (self));
	g_ptr_array_add (self->subscriptions, g_strdup (topic_filter));
}

void
tether_connection_emit_received (TetherConnection *self, const gchar *kind, const gchar *topic,
                                 GBytes *payload, GVariant *details)
{
	g_autoptr(GVariant) details_sunk = NULL;

	g_return_if_fail (TETHER_IS_CONNECTION (self));
	if (details == NULL)
		details = g_variant_new ("a{sv}", NULL);
	details_sunk = g_variant_ref_sink (details);
	g_debug ("connection %s: received %s on %s (%zu bytes)", self->id, kind, topic,
	         g_bytes_get_size (payload));
	tether_dbus_connection1_emit_received (
	        self->skeleton, kind, topic,
	        g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, payload, TRUE), details_sunk);
}

void
tether_connection_emit_message_result (TetherConnection *self, guint64 id, const gchar *status,
                                       GVariant *details)
{
	g_autoptr(GVariant) details_sunk = NULL;

	g_return_if_fail (TETHER_IS_CONNECTION (self));
	if (details == NULL)
		details = g_variant_new ("a{sv}", NULL);
	details_sunk = g_variant_ref_sink (details);

	/*
	 * One for each delivered message: straight to the bus the skeleton is on, as
	 * the generated emitter does, without the GObject signal emission before it,
	 * which costs a fifth as much again
	 */
	if (!g_dbus_interface_skeleton_has_connection (G_DBUS_INTERFACE_SKELETON (self->skeleton),
	                                               self->bus))
		return;
	g_dbus_connection_emit_signal (
	        self->bus, NULL, self->object_path, tether_dbus_connection1_interface_info ()->name,
	        "MessageResult", g_variant_new ("(ts@a{sv})", id, status, details_sunk), NULL);
}

static const gchar *
session_identity_name (TetherConnection *self)
{
	if (self->session_identity != NULL)
		return self->session_identity;
	return tether_connection_get_identity_name (self);
}

void
tether_connection_set_session_identity (TetherConnection *self, const gchar *identity)
{
	g_return_if_fail (TETHER_IS_CONNECTION (self));
	g_free (self->session_identity);
	self->session_identity = g_strdup (identity);
}

gboolean
tether_connection_get_identity_files (TetherConnection *self, const gchar *identity_name,
                                      gchar **chain_file, gchar **key_file, GError **error)
{
	TetherIdentity *identity;

	g_return_val_if_fail (TETHER_IS_CONNECTION (self), FALSE);
	if (identity_name == NULL)
		identity_name = session_identity_name (self);
	identity = tether_identity_store_lookup (self->identities, identity_name, FALSE, error);
	if (identity == NULL)
		return FALSE;
	if (!tether_identity_has_certificate (identity)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
		             _("identity '%s' has no certificate: create a request with "
		               "'tetherctl identity request', have the device CA sign it, and "
		               "install it with 'tetherctl identity install'"),
		                identity_name);
		return FALSE;
	}
	if (chain_file != NULL)
		*chain_file = g_strdup (tether_identity_get_chain_path (identity));
	if (key_file != NULL)
		*key_file = g_strdup (tether_identity_get_key_path (identity));
	return TRUE;
}

gchar *
tether_connection_create_identity_request (TetherConnection *self, const gchar *identity,
                                           GVariant *options, GError **error)
{
	g_return_val_if_fail (TETHER_IS_CONNECTION (self), NULL);
	return tether_identity_store_create_request (self->identities, identity, options, error);
}

gboolean
tether_connection_install_identity (TetherConnection *self, const gchar *identity, GBytes *chain,
                                    GError **error)
{
	g_auto(GStrv) warnings = NULL;

	g_return_val_if_fail (TETHER_IS_CONNECTION (self), FALSE);
	warnings = tether_identity_store_install (self->identities, identity, chain, error);
	if (warnings == NULL)
		return FALSE;
	for (guint i = 0; warnings[i] != NULL; i++)
		g_warning ("connection %s: identity %s: %s", self->id, identity, warnings[i]);
	return TRUE;
}

void
tether_connection_reconnect (TetherConnection *self)
{
	g_return_if_fail (TETHER_IS_CONNECTION (self));
	tether_connection_connect_now (self);
}

gboolean
tether_connection_publish_internal (TetherConnection *self, const gchar *topic, GBytes *payload,
                                    gint qos, GError **error)
{
	g_return_val_if_fail (TETHER_IS_CONNECTION (self), FALSE);
	return tether_mqtt_session_publish (self->session, topic, payload, qos,
	                                    TETHER_INTERNAL_TAG | self->next_internal_tag++, error);
}

/* the core's side */

const gchar *
tether_connection_get_object_path (TetherConnection *self)
{
	return self->object_path;
}

TetherCloud *
tether_connection_get_cloud (TetherConnection *self)
{
	return self->cloud;
}

GSettings *
tether_connection_get_settings (TetherConnection *self)
{
	return self->settings;
}

const gchar *
tether_connection_get_identity_name (TetherConnection *self)
{
	return tether_dbus_connection1_get_identity (self->skeleton);
}

gboolean
tether_connection_get_enabled (TetherConnection *self)
{
	return self->enabled;
}

guint64
tether_connection_get_queued (TetherConnection *self)
{
	return tether_outbox_get_length (self->outbox);
}

const gchar *
tether_connection_get_outbox_error (TetherConnection *self)
{
	return self->outbox_error;
}

GStrv
tether_connection_dup_anchor_names (TetherConnection *self)
{
	/* the settings, not the property: those change first, and UsedBy must follow them */
	g_auto(GStrv) names = g_settings_get_strv (self->settings, "trust-anchors");
	GPtrArray *bundled;
	g_autoptr(GStrvBuilder) builder = NULL;

	if (names[0] != NULL)
		return g_steal_pointer (&names);

	/* none named: the cloud's default set */
	builder = g_strv_builder_new ();
	bundled = tether_cloud_get_bundled_anchors (self->cloud);
	for (guint i = 0; i < bundled->len; i++) {
		TetherBundledAnchor *anchor = g_ptr_array_index (bundled, i);
		g_autofree gchar *name = NULL;
		if (!anchor->in_default_set)
			continue;
		name = g_strdup_printf ("%s.%s", tether_cloud_get_name (self->cloud), anchor->slug);
		g_strv_builder_add (builder, name);
	}
	return g_strv_builder_end (builder);
}

/*
 * Whether @line is new in this spell of trouble. A spell lasts until a
 * session has held for a while, the connection is disconnected, or it is
 * started anew: a retry that fails now one way and now another (a reset,
 * then an end of stream), or a session that the broker closes right after
 * it is made, logs each line once, not once per retry.
 */
static gboolean
first_in_spell (TetherConnection *self, const gchar *line)
{
	if (g_hash_table_contains (self->logged, line) ||
	    g_hash_table_size (self->logged) >= TETHER_LOGGED_MAX)
		return FALSE;
	g_hash_table_add (self->logged, g_strdup (line));
	return TRUE;
}

static void
end_spell (TetherConnection *self)
{
	g_hash_table_remove_all (self->logged);
}

static void
set_state (TetherConnection *self, const gchar *state, const gchar *last_error)
{
	const gchar *old = tether_dbus_connection1_get_state (self->skeleton);
	gboolean state_changed = g_strcmp0 (old, state) != 0;
	gboolean error_changed =
	        last_error != NULL &&
	        g_strcmp0 (last_error, tether_dbus_connection1_get_last_error (self->skeleton)) !=
	                0;
	g_autofree gchar *change = NULL;

	if (g_strcmp0 (state, "disconnected") == 0)
		end_spell (self);

	/* logged once per change, not once per retry */
	if (error_changed && last_error[0] != '\0') {
		g_log_structured (G_LOG_DOMAIN,
		                  first_in_spell (self, last_error) ? G_LOG_LEVEL_WARNING
		                                                    : G_LOG_LEVEL_DEBUG,
		                  "TETHER_CONNECTION", self->id, "TETHER_CLOUD",
		                  tether_cloud_get_name (self->cloud), "MESSAGE",
		                  "connection %s: %s", self->id, last_error);
	}
	if (error_changed)
		tether_dbus_connection1_set_last_error (self->skeleton, last_error);
	if (!state_changed)
		return;
	change = g_strdup_printf ("%s -> %s", old, state);
	g_log_structured (
	        G_LOG_DOMAIN, first_in_spell (self, change) ? G_LOG_LEVEL_INFO : G_LOG_LEVEL_DEBUG,
	        "TETHER_CONNECTION", self->id, "TETHER_CLOUD", tether_cloud_get_name (self->cloud),
	        "MESSAGE", "connection %s: %s", self->id, change);
	tether_dbus_connection1_set_state (self->skeleton, state);
}

void
tether_connection_set_provisioning (TetherConnection *self, gboolean provisioning)
{
	g_return_if_fail (TETHER_IS_CONNECTION (self));
	self->provisioning = provisioning;
	if (provisioning)
		set_state (self, "provisioning", NULL);
}

static gboolean
trim_cb (gpointer user_data)
{
	TetherConnection *self = user_data;

	self->trim_id = 0;
	if (tether_outbox_get_length (self->outbox) != 0)
		return G_SOURCE_REMOVE;
	self->queued_peak = 0;
#ifdef __GLIBC__
	/* glibc keeps what a burst freed in its arenas; the daemon goes back to its idle size */
	malloc_trim (0);
#endif
	return G_SOURCE_REMOVE;
}

static void
update_counters (TetherConnection *self)
{
	guint64 queued = tether_outbox_get_length (self->outbox);

	self->queued_peak = MAX (self->queued_peak, queued);
	if (queued == 0 && self->queued_peak >= TETHER_TRIM_AFTER_MESSAGES && self->trim_id == 0)
		self->trim_id = g_timeout_add_seconds (TETHER_TRIM_DELAY_S, trim_cb, self);
	tether_dbus_connection1_set_queued (self->skeleton, queued);
	tether_dbus_connection1_set_delivered (self->skeleton, self->delivered);
	tether_dbus_connection1_set_dropped (self->skeleton, self->dropped);
}

static gboolean
reconnect_cb (gpointer user_data)
{
	TetherConnection *self = user_data;

	self->reconnect_id = 0;
	tether_connection_connect_now (self);
	return G_SOURCE_REMOVE;
}

guint
tether_connection_backoff_next (guint backoff, guint min_s, guint max_s)
{
	max_s = MAX (max_s, min_s);
	if (backoff == 0)
		return min_s;
	return (guint) MIN ((guint64) backoff * 2, (guint64) max_s);
}

guint
tether_connection_backoff_delay_ms (guint backoff, guint max_s, guint32 random)
{
	guint64 base = (guint64) backoff * 1000;
	guint64 top = MIN (base + base / 2, (guint64) MAX (max_s, backoff) * 1000);

	return (guint) (base + random % (top - base + 1));
}

/* exponential backoff with jitter, within the settings' bounds */
static void
schedule_reconnect (TetherConnection *self)
{
	guint min_s = g_settings_get_uint (self->settings, "reconnect-min");
	guint max_s = g_settings_get_uint (self->settings, "reconnect-max");
	guint delay_ms;

	if (!self->enabled)
		return;
	g_clear_handle_id (&self->reconnect_id, g_source_remove);
	self->backoff = tether_connection_backoff_next (self->backoff, min_s, max_s);
	delay_ms = tether_connection_backoff_delay_ms (self->backoff, max_s, g_random_int ());
	g_debug ("connection %s: next attempt in %u ms", self->id, delay_ms);
	self->reconnect_id = g_timeout_add (delay_ms, reconnect_cb, self);
}

static void
fail (TetherConnection *self, const gchar *message)
{
	/* a renewed pair that failed: the active one, right away */
	if (self->session_pending) {
		g_autofree gchar *text = g_strdup_printf (
		        _("the renewed certificate of identity '%s' did not work (%s); trying the "
		          "current one"),
		           session_identity_name (self), message);

		self->session_pending = FALSE;
		self->pending_failed = self->session_serial;
		g_free (self->pending_failure);
		self->pending_failure = g_strdup (message);
		set_state (self, "connecting", text);
		g_clear_handle_id (&self->reconnect_id, g_source_remove);
		self->reconnect_id = g_idle_add (reconnect_cb, self);
		return;
	}

	/* the active pair failed too: that says nothing against the renewed one */
	self->pending_failed = 0;
	set_state (self, "failed", message);
	schedule_reconnect (self);
}

static GBytes *
collect_anchor_pem (TetherConnection *self, gchar **names_out, GError **error)
{
	g_auto(GStrv) names = tether_connection_dup_anchor_names (self);
	g_autoptr(GByteArray) pem = g_byte_array_new ();

	if (names == NULL || names[0] == NULL) {
		g_set_error (
		        error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
		        _("no trust anchor: add the server's root CA with 'tetherctl anchor add' "
		           "and name it with 'tetherctl connection modify %s --anchor NAME'"),
		           self->id);
		return NULL;
	}
	for (guint i = 0; names[i] != NULL; i++) {
		TetherAnchor *anchor = tether_anchor_store_lookup (self->anchors, names[i]);
		GBytes *bytes;
		if (anchor == NULL) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
			             _("trust anchor '%s' does not exist: add it with "
			                "'tetherctl anchor add %s FILE'"),
			                names[i], names[i]);
			return NULL;
		}
		bytes = tether_anchor_get_pem (anchor);
		g_byte_array_append (pem, g_bytes_get_data (bytes, NULL),
		                     (guint) g_bytes_get_size (bytes));
	}
	*names_out = g_strjoinv (", ", names);
	return g_byte_array_free_to_bytes (g_steal_pointer (&pem));
}

static void
probe_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(TetherConnection) self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) report = tether_tls_probe_finish (result, &error);
	g_autofree gchar *paho_message = g_steal_pointer (&self->paho_message);
	const gchar *message = NULL;
	gboolean ok = FALSE;
	g_autofree gchar *text = NULL;

	if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	if (report != NULL) {
		g_variant_lookup (report, "ok", "b", &ok);
		g_variant_lookup (report, "message", "&s", &message);
	}
	if (report != NULL && !ok && message != NULL) {
		g_autofree gchar *hint = tether_cloud_tls_failure_hint (self->cloud, self, report);

		/* what this cloud's users should check, from the plugin */
		if (hint != NULL)
			text = g_strdup_printf ("%s; %s", message, hint);
		else
			text = g_strdup (message);
	} else if (ok) {
		/* TLS is fine: the broker said no to the MQTT session itself */
		if (tether_cloud_session_refused (self->cloud, self))
			g_info ("connection %s: the cloud will provision again", self->id);
		text = g_strdup_printf (_("the broker at %s:%u refused the MQTT session: %s"),
		                           self->params.host, self->params.port, paho_message);
	} else {
		text = g_strdup_printf (_("cannot connect to %s:%u: %s"), self->params.host,
		                           self->params.port, paho_message);
	}
	fail (self, text);
}

static void
session_connect_failed_cb (TetherMqttSession *session, gint code, const gchar *message,
                           TetherConnection *self)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *names = NULL;
	g_autoptr(GBytes) pem = collect_anchor_pem (self, &names, &error);
	const gchar *sni = NULL;

	g_debug ("connection %s: connect failed: %s (%d)", self->id, message, code);
	if (pem == NULL) {
		fail (self, error->message);
		return;
	}

	/* Paho says the same for every TLS failure: ask GnuTLS why */
	g_free (self->paho_message);
	self->paho_message = g_strdup (message);
	if (!g_hostname_is_ip_address (self->params.host))
		sni = self->params.host;
	tether_tls_probe_async (self->params.host, self->params.port, sni,
	                        (const gchar *const *) self->params.alpn, pem, names,
	                        self->params.cert_file, self->params.key_file, TETHER_PROBE_TIMEOUT,
	                        self->cancellable, probe_cb, g_object_ref (self));
}

static void
session_connected_cb (TetherMqttSession *session, TetherConnection *self)
{
	g_autoptr(GError) error = NULL;

	self->session_up = TRUE;
	tether_dbus_connection1_set_client_id (self->skeleton, self->params.client_id);

	/* the verdict on a renewed pair: it works, or only the active one does */
	if (self->session_pending)
		tether_identity_store_pending_result (self->identities,
		                                      session_identity_name (self),
		                                      self->session_serial, self->id, TRUE, NULL);
	else if (self->pending_failed != 0)
		tether_identity_store_pending_result (
		        self->identities, session_identity_name (self), self->pending_failed,
		        self->id, FALSE, self->pending_failure);
	self->session_pending = FALSE;

	if (!tether_mqtt_session_subscribe (self->session, self->subscriptions, &error))
		g_warning ("connection %s: %s", self->id, error->message);
	tether_cloud_connected (self->cloud, self);

	/*
	 * a plugin that provisions on this session (with a claim certificate)
	 * holds the outbox until it reconnects with the connection's own identity
	 */
	if (self->provisioning)
		return;
	self->backoff = 0;
	self->connected_at = g_get_monotonic_time ();
	set_state (self, "connected", "");
	tether_connection_flush (self);
}

/*
 * The broker dropped the connection while the oldest unacknowledged message
 * was fresh: the broker takes messages in order, so that one is the suspect.
 * After TETHER_DEAD_LETTER_TRIES drops in a row on the same message it goes
 * to dead-letter/, so it no longer blocks the queue. Returns whether a
 * message was blamed.
 */
static gboolean
blame_message (TetherConnection *self)
{
	gint64 sent_at = 0;
	TetherMessage *message = tether_outbox_peek_oldest_sent (self->outbox, &sent_at);
	g_autoptr(GVariantDict) details = NULL;
	g_autofree gchar *why = NULL;
	guint64 id;

	if (message == NULL ||
	    g_get_monotonic_time () - sent_at > TETHER_POISON_WINDOW_S * G_USEC_PER_SEC)
		return FALSE;
	id = tether_message_get_id (message);
	if (id != self->suspect_id) {
		self->suspect_id = id;
		self->suspect_strikes = 0;
	}
	self->suspect_strikes++;
	g_debug ("connection %s: lost while message %" G_GUINT64_FORMAT " was in flight (%u)",
	         self->id, id, self->suspect_strikes);
	if (self->suspect_strikes < TETHER_DEAD_LETTER_TRIES)
		return TRUE;

	why = g_strdup_printf (_("the broker closed the connection each of the %u times this "
	                         "message was sent; it was moved to %s/dead-letter"),
	                          self->suspect_strikes, tether_outbox_get_dir (self->outbox));
	g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "TETHER_CONNECTION", self->id,
	                  "TETHER_CLOUD", tether_cloud_get_name (self->cloud), "MESSAGE",
	                  "connection %s: message %" G_GUINT64_FORMAT ": %s", self->id, id, why);
	tether_outbox_dead_letter (self->outbox, id);
	self->suspect_id = 0;
	self->suspect_strikes = 0;
	self->dropped++;
	update_counters (self);
	details = g_variant_dict_new (NULL);
	g_variant_dict_insert (details, "message", "s", why);
	tether_connection_emit_message_result (self, id, "dead-letter",
	                                       g_variant_dict_end (details));
	return TRUE;
}

static void
session_connection_lost_cb (TetherMqttSession *session, const gchar *cause, TetherConnection *self)
{
	g_autofree gchar *text = NULL;
	gint64 lived = g_get_monotonic_time () - self->connected_at;
	gint64 short_session =
	        ((gint64) TETHER_SHORT_SESSION_S +
	         2 * (gint64) g_settings_get_uint (self->settings, "reconnect-min")) *
	        G_USEC_PER_SEC;
	gboolean blamed;

	/* one loss a session: a second report of it would count a short session that was not */
	if (!self->session_up) {
		g_debug ("connection %s: the session was lost already", self->id);
		return;
	}
	self->session_up = FALSE;
	blamed = blame_message (self);

	/* dropped right after connecting, again and again, with nothing to blame */
	if (!blamed && self->connected_at != 0 && lived < short_session)
		self->short_sessions++;
	else
		self->short_sessions = 0;

	/* a session that held: this loss is news */
	if (self->connected_at != 0 && lived >= short_session) {
		g_debug ("connection %s: the session held for %" G_GINT64_FORMAT " ms", self->id,
		         lived / 1000);
		end_spell (self);
	}
	self->connected_at = 0;

	tether_outbox_unsend_all (self->outbox);
	if (self->short_sessions >= TETHER_SHORT_SESSIONS_IN_ROW) {
		/* the same text each time: logged once, not once per drop */
		text = g_strdup_printf (
		        _("the broker at %s:%u closes the connection right after it is made, "
		          "again and again: another client may be using the client id '%s' "
		          "(give each its own with client-id), or the broker refuses what the "
		          "device does once connected"),
		           self->params.host, self->params.port, self->params.client_id);
	} else {
		text = g_strdup_printf (_("the connection to %s:%u was lost%s%s"),
		                           self->params.host, self->params.port,
		                           cause != NULL && cause[0] != '\0' ? ": " : "",
		                           cause != NULL ? cause : "");
	}
	set_state (self, "connecting", text);
	schedule_reconnect (self);
}

/* the caller updates the counters once for all it acknowledges */
static void
acknowledge (TetherConnection *self, guint64 id)
{
	if (!tether_outbox_remove (self->outbox, id))
		return;
	if (id == self->suspect_id) {
		self->suspect_id = 0;
		self->suspect_strikes = 0;
	}
	self->delivered++;
	tether_connection_emit_message_result (self, id, "delivered", NULL);
}

static void
session_delivered_cb (TetherMqttSession *session, GArray *ids, TetherConnection *self)
{
	for (guint i = 0; i < ids->len; i++)
		acknowledge (self, g_array_index (ids, guint64, i));
	update_counters (self);
	tether_connection_flush (self);
}

static void
session_send_failed_cb (TetherMqttSession *session, guint64 id, const gchar *message,
                        TetherConnection *self)
{
	/* it stays queued and goes again after the reconnect */
	g_debug ("connection %s: message %" G_GUINT64_FORMAT " not sent: %s", self->id, id,
	         message);
}

static void
session_message_cb (TetherMqttSession *session, const gchar *topic, GBytes *payload,
                    TetherConnection *self)
{
	tether_cloud_handle_incoming (self->cloud, self, topic, payload);
}

static void
drop_message (TetherConnection *self, TetherMessage *message, const gchar *status, const gchar *why)
{
	guint64 id = tether_message_get_id (message);
	g_autoptr(GVariantDict) details = g_variant_dict_new (NULL);

	if (why != NULL)
		g_variant_dict_insert (details, "message", "s", why);
	if (g_strcmp0 (status, "dead-letter") == 0)
		tether_outbox_dead_letter (self->outbox, id);
	else
		tether_outbox_remove (self->outbox, id);
	self->dropped++;
	update_counters (self);
	tether_connection_emit_message_result (self, id, status, g_variant_dict_end (details));
}

static gboolean
send_retry_cb (gpointer user_data)
{
	TetherConnection *self = user_data;

	self->send_retry_id = 0;
	tether_connection_flush (self);
	return G_SOURCE_REMOVE;
}

/* hands queued messages to the session, up to the window */
static void
tether_connection_flush (TetherConnection *self)
{
	gint64 now = g_get_real_time ();

	TetherMessage *head = tether_outbox_peek_oldest (self->outbox);
	guint window = TETHER_SEND_WINDOW;

	/* nothing of the application's goes out on a provisioning session */
	if (self->provisioning)
		return;

	/*
	 * a message the broker dropped the connection on goes alone, so a
	 * drop while it is in flight is its doing and nothing else's
	 */
	if (self->suspect_id != 0 &&
	    (head == NULL || tether_message_get_id (head) != self->suspect_id)) {
		self->suspect_id = 0;
		self->suspect_strikes = 0;
	}
	if (self->suspect_id != 0)
		window = 1;

	while (tether_mqtt_session_is_connected (self->session) &&
	       tether_mqtt_session_get_n_inflight (self->session) < window) {
		g_autoptr(GError) error = NULL;
		TetherMessage *message = tether_outbox_next_unsent (self->outbox);

		if (message == NULL)
			break;
		g_object_ref (message);
		if (tether_message_get_expires (message) != 0 &&
		    tether_message_get_expires (message) <= now) {
			drop_message (self, message, "expired", NULL);
		} else if (!tether_cloud_map_message (self->cloud, self, message, &error)) {
			g_warning ("connection %s: message %" G_GUINT64_FORMAT " dropped: %s",
			           self->id, tether_message_get_id (message), error->message);
			drop_message (self, message, "dead-letter", error->message);
		} else if (!tether_mqtt_session_publish (self->session,
		                                         tether_message_get_topic (message),
		                                         tether_message_get_wire_payload (message),
		                                         tether_message_get_qos (message),
		                                         tether_message_get_id (message), &error)) {
			/* not sent after all: it goes first when the session takes more */
			g_debug ("connection %s: %s", self->id, error->message);
			tether_outbox_unsend (self->outbox, tether_message_get_id (message));
			if (self->send_retry_id == 0)
				self->send_retry_id =
				        g_timeout_add (TETHER_SEND_RETRY_MS, send_retry_cb, self);
			g_object_unref (message);
			break;
		} else if (tether_message_get_qos (message) == 0) {
			/* nothing will acknowledge it */
			acknowledge (self, tether_message_get_id (message));
			update_counters (self);
		}
		g_object_unref (message);
	}
}

gchar *
tether_connection_dup_trust_file (TetherConnection *self, GError **error)
{
	g_autofree gchar *dir = NULL;
	g_autofree gchar *names = NULL;
	g_autofree gchar *trust_file = NULL;
	g_autoptr(GBytes) pem = NULL;

	g_return_val_if_fail (TETHER_IS_CONNECTION (self), NULL);
	pem = collect_anchor_pem (self, &names, error);
	if (pem == NULL)
		return NULL;
	dir = tether_connection_dup_state_dir (self, error);
	if (dir == NULL)
		return NULL;
	trust_file = g_build_filename (dir, "trust.pem", NULL);
	if (!g_file_set_contents_full (trust_file, g_bytes_get_data (pem, NULL),
	                               (gssize) g_bytes_get_size (pem),
	                               G_FILE_SET_CONTENTS_CONSISTENT, 0600, error))
		return NULL;
	return g_steal_pointer (&trust_file);
}

/*
 * The session's pair: a renewed (pending) one on trial when there is one that
 * has not failed here, else the active one
 */
static gboolean
choose_identity_files (TetherConnection *self, gchar **chain_file, gchar **key_file,
                       guint64 *serial, gboolean *pending, GError **error)
{
	TetherIdentity *identity;
	const gchar *pending_chain = NULL;
	const gchar *pending_key = NULL;
	guint64 pending_serial = 0;

	identity = tether_identity_store_lookup (self->identities, session_identity_name (self),
	                                         FALSE, error);
	if (identity == NULL)
		return FALSE;
	if (tether_identity_get_pending_paths (identity, &pending_chain, &pending_key,
	                                       &pending_serial) &&
	    pending_serial != self->pending_failed) {
		g_info ("connection %s: trying the renewed certificate of identity %s", self->id,
		        tether_identity_get_name (identity));
		*chain_file = g_strdup (pending_chain);
		*key_file = g_strdup (pending_key);
		*serial = pending_serial;
		*pending = TRUE;
		return TRUE;
	}
	*serial = tether_identity_get_serial (identity);
	*pending = FALSE;
	return tether_connection_get_identity_files (self, NULL, chain_file, key_file, error);
}

static gboolean
build_session_params (TetherConnection *self, GError **error)
{
	g_autofree gchar *trust_file = NULL;
	g_autofree gchar *chain_file = NULL;
	g_autofree gchar *key_file = NULL;
	guint64 serial = 0;
	gboolean pending = FALSE;

	if (!choose_identity_files (self, &chain_file, &key_file, &serial, &pending, error))
		return FALSE;

	/* the anchors, as the only trust store Paho gets */
	trust_file = tether_connection_dup_trust_file (self, error);
	if (trust_file == NULL)
		return FALSE;

	g_free (self->params.trust_file);
	self->params.trust_file = g_steal_pointer (&trust_file);
	g_free (self->params.cert_file);
	self->params.cert_file = g_steal_pointer (&chain_file);
	g_free (self->params.key_file);
	self->params.key_file = g_steal_pointer (&key_file);
	self->params.keepalive = g_settings_get_uint (self->settings, "keepalive");
	self->params.max_inflight = TETHER_SEND_WINDOW;
	self->session_serial = serial;
	self->session_pending = pending;
	return TRUE;
}

static void
prepare_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	TetherConnection *self = user_data;
	g_autoptr(GError) error = NULL;

	if (!tether_cloud_prepare_finish (TETHER_CLOUD (source), result, &error)) {
		if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			return;
		self->provisioning = FALSE;
		fail (self, error->message);
		return;
	}
	if (self->provisioning) {
		self->provisioning = FALSE;
		set_state (self, "connecting", NULL);
	}
	if (!build_session_params (self, &error) ||
	    !tether_mqtt_session_start (self->session, &self->params, &error)) {
		fail (self, error->message);
		return;
	}
	g_debug ("connection %s: connecting to %s:%u as %s", self->id, self->params.host,
	         self->params.port, self->params.client_id);
}

static void
tether_connection_stop (TetherConnection *self)
{
	g_cancellable_cancel (self->cancellable);
	g_clear_object (&self->cancellable);
	self->cancellable = g_cancellable_new ();
	g_clear_handle_id (&self->reconnect_id, g_source_remove);
	tether_mqtt_session_stop (self->session);
	tether_outbox_unsend_all (self->outbox);
	self->connected_at = 0;
	self->session_up = FALSE;
}

static void
tether_connection_connect_now (TetherConnection *self)
{
	const gchar *state = tether_dbus_connection1_get_state (self->skeleton);

	tether_connection_stop (self);
	self->session_pending = FALSE;
	if (!self->enabled) {
		set_state (self, "disconnected", NULL);
		return;
	}
	if (self->outbox_error != NULL) {
		set_state (self, "failed", self->outbox_error);
		return;
	}

	/* a failing connection stays "failed" while it retries */
	if (g_strcmp0 (state, "failed") != 0)
		set_state (self, "connecting", NULL);
	tether_cloud_prepare_async (self->cloud, self, self->cancellable, prepare_cb, self);
}

void
tether_connection_start (TetherConnection *self)
{
	end_spell (self);
	self->backoff = 0;
	tether_connection_connect_now (self);
}

const gchar *
tether_connection_get_session_identity_name (TetherConnection *self)
{
	return session_identity_name (self);
}

void
tether_connection_identity_changed (TetherConnection *self, const gchar *identity_name)
{
	TetherIdentity *identity;
	guint64 pending = 0;

	if (!self->enabled || g_strcmp0 (session_identity_name (self), identity_name) != 0)
		return;
	identity = tether_identity_store_lookup (self->identities, identity_name, FALSE, NULL);
	if (identity == NULL)
		return;
	tether_identity_get_pending_paths (identity, NULL, NULL, &pending);

	/* connected with the pair that is active now, and nothing new to try */
	if (tether_mqtt_session_is_connected (self->session) &&
	    self->session_serial == tether_identity_get_serial (identity) &&
	    (pending == 0 || pending == self->pending_failed))
		return;
	g_info ("connection %s: identity %s changed, reconnecting", self->id, identity_name);
	tether_connection_start (self);
}

/* reads the settings into the object and its D-Bus properties */
static gboolean
load_settings (TetherConnection *self, GError **error)
{
	g_autofree gchar *endpoint = g_settings_get_string (self->settings, "endpoint");
	g_autofree gchar *identity = g_settings_get_string (self->settings, "identity");
	g_autofree gchar *client_id = g_settings_get_string (self->settings, "client-id");
	g_auto(GStrv) anchors = g_settings_get_strv (self->settings, "trust-anchors");
	g_autoptr(GVariant) options = g_settings_get_value (self->settings, "cloud-options");
	g_autofree gchar *policy = NULL;
	g_autofree gchar *host = NULL;
	guint16 port = 0;

	if (!tether_endpoint_parse (endpoint[0] != '\0'
	                                    ? endpoint
	                                    : tether_cloud_get_default_endpoint (self->cloud),
	                            &host, &port, error))
		return FALSE;
	if (!tether_cloud_check_options (self->cloud, options, error))
		return FALSE;

	g_free (self->host);
	self->host = g_steal_pointer (&host);
	self->port = port;
	self->enabled = g_settings_get_boolean (self->settings, "enabled");
	policy = g_settings_get_string (self->settings, "queue-full-policy");
	tether_outbox_set_limits (
	        self->outbox, g_settings_get_uint (self->settings, "max-queued-messages"),
	        g_settings_get_uint64 (self->settings, "max-queued-bytes"),
	        g_strcmp0 (policy, "drop-oldest") == 0 ? TETHER_OUTBOX_POLICY_DROP_OLDEST
	                                               : TETHER_OUTBOX_POLICY_REFUSE);

	tether_dbus_connection1_set_endpoint (self->skeleton, endpoint);
	tether_dbus_connection1_set_identity (self->skeleton, identity);
	g_free (self->client_id);
	self->client_id = g_strdup (client_id);
	tether_dbus_connection1_set_client_id (self->skeleton, client_id);
	tether_dbus_connection1_set_trust_anchors (self->skeleton, (const gchar *const *) anchors);
	tether_dbus_connection1_set_cloud_options (self->skeleton, options);
	tether_dbus_connection1_set_enabled (self->skeleton, self->enabled);
	return TRUE;
}

static gboolean
reload_cb (gpointer user_data)
{
	TetherConnection *self = user_data;
	g_autoptr(GError) error = NULL;

	self->reload_id = 0;
	if (!load_settings (self, &error)) {
		tether_connection_stop (self);
		set_state (self, "failed", error->message);
		return G_SOURCE_REMOVE;
	}
	g_info ("connection %s: settings changed, reconnecting", self->id);
	tether_connection_start (self);
	return G_SOURCE_REMOVE;
}

static void
settings_changed_cb (GSettings *settings, const gchar *key, TetherConnection *self)
{
	/* several keys change at once: apply them together */
	if (self->reload_id == 0)
		self->reload_id = g_idle_add (reload_cb, self);
}

GPtrArray *
tether_connection_check_publish (TetherConnection *self, GVariant *messages, guint *index_out,
                                 GError **error)
{
	g_autoptr(GPtrArray) result = g_ptr_array_new_with_free_func (g_object_unref);
	guint64 next_id = tether_outbox_peek_next_id (self->outbox);
	GVariantIter iter;
	gchar *kind; /* not "&s": a built (unserialised) array's tuples own their strings */
	GVariant *payload_v;
	GVariant *options;
	guint index = 0;

	g_variant_iter_init (&iter, messages);
	while (g_variant_iter_next (&iter, "(s@ay@a{sv})", &kind, &payload_v, &options)) {
		g_autofree gchar *kind_owned = kind;
		g_autoptr(GVariant) payload_owned = payload_v;
		g_autoptr(GVariant) options_owned = options;
		g_autoptr(GBytes) payload = g_variant_get_data_as_bytes (payload_v);
		g_autoptr(TetherMessage) message = tether_message_new (kind, payload, options);
		guint32 expires_in = 0;

		/* the id it will get, for plugins that put it in the message */
		tether_message_set_id (message, next_id + index);
		if (!tether_cloud_check_message (self->cloud, self, message, error)) {
			if (index_out != NULL)
				*index_out = index;
			return NULL;
		}
		if (g_variant_lookup (options, "expires-in", "u", &expires_in) && expires_in > 0)
			tether_message_set_expires (
			        message, g_get_real_time () + (gint64) expires_in * G_USEC_PER_SEC);
		g_ptr_array_add (result, g_steal_pointer (&message));
		index++;
	}
	return g_steal_pointer (&result);
}

gboolean
tether_connection_check_room (TetherConnection *self, GPtrArray *messages, GError **error)
{
	if (!tether_outbox_check_room (self->outbox, messages, error)) {
		g_prefix_error (error, _("connection '%s': "), self->id);
		return FALSE;
	}
	return TRUE;
}

static gboolean
expiry_cb (gpointer user_data)
{
	TetherConnection *self = user_data;
	g_autoptr(GPtrArray) expired =
	                   tether_outbox_take_expired (self->outbox, g_get_real_time ());

	for (guint i = 0; i < expired->len; i++) {
		guint64 id = tether_message_get_id (g_ptr_array_index (expired, i));
		self->dropped++;
		tether_connection_emit_message_result (self, id, "expired", NULL);
	}
	if (expired->len > 0) {
		g_debug ("connection %s: %u messages expired", self->id, expired->len);
		update_counters (self);
	}
	if (tether_outbox_has_deadlines (self->outbox))
		return G_SOURCE_CONTINUE;
	self->expiry_id = 0;
	return G_SOURCE_REMOVE;
}

/* deadlines pass while the connection is down too */
static void
schedule_expiry (TetherConnection *self)
{
	if (self->expiry_id == 0 && tether_outbox_has_deadlines (self->outbox))
		self->expiry_id = g_timeout_add_seconds (TETHER_EXPIRY_INTERVAL_S, expiry_cb, self);
}

static void
queue_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	TetherConnection *self = g_task_get_source_object (task);
	GPtrArray *messages = g_task_get_task_data (task);
	g_autoptr(GError) error = NULL;

	if (!tether_outbox_append_finish (TETHER_OUTBOX (source), result, &error)) {
		g_prefix_error (&error, _("connection '%s': "), self->id);
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	update_counters (self);
	schedule_expiry (self);
	tether_connection_flush (self);
	g_task_return_pointer (task, g_ptr_array_ref (messages),
	                       (GDestroyNotify) g_ptr_array_unref);
}

void
tether_connection_queue_async (TetherConnection *self, GPtrArray *messages,
                               GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new (self, NULL, callback, user_data);

	g_task_set_source_tag (task, tether_connection_queue_async);
	g_task_set_task_data (task, g_ptr_array_ref (messages), (GDestroyNotify) g_ptr_array_unref);
	tether_outbox_append_async (self->outbox, messages, queue_cb, task);
}

GPtrArray *
tether_connection_queue_finish (TetherConnection *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, self), NULL);
	return g_task_propagate_pointer (G_TASK (result), error);
}

static GVariant *
single_message (const gchar *kind, GVariant *payload, GVariant *options)
{
	GVariantBuilder builder;

	g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(saya{sv})"));
	g_variant_builder_add (&builder, "(s@ay@a{sv})", kind, payload, options);
	return g_variant_builder_end (&builder);
}

static void
publish_queued_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) invocation = user_data;
	TetherConnection *self = TETHER_CONNECTION (source);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) messages = tether_connection_queue_finish (self, result, &error);

	if (messages == NULL) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return;
	}
	tether_dbus_connection1_complete_publish (
	        self->skeleton, invocation,
	        tether_message_get_id (g_ptr_array_index (messages, 0)));
}

static gboolean
handle_publish (TetherDBusConnection1 *skeleton, GDBusMethodInvocation *invocation,
                const gchar *kind, GVariant *payload, GVariant *options, TetherConnection *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) batch = g_variant_ref_sink (single_message (kind, payload, options));
	g_autoptr(GPtrArray) messages =
	                   tether_connection_check_publish (self, batch, NULL, &error);

	if (messages == NULL) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	/* answered once the message is on disk */
	tether_connection_queue_async (self, messages, publish_queued_cb,
	                               g_object_ref (invocation));
	return TRUE;
}

static void
publish_batch_queued_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) invocation = user_data;
	TetherConnection *self = TETHER_CONNECTION (source);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) messages = tether_connection_queue_finish (self, result, &error);
	g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (guint64));

	if (messages == NULL) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return;
	}
	for (guint i = 0; i < messages->len; i++) {
		guint64 id = tether_message_get_id (g_ptr_array_index (messages, i));
		g_array_append_val (ids, id);
	}
	tether_dbus_connection1_complete_publish_batch (
	        self->skeleton, invocation,
	        g_variant_new_fixed_array (G_VARIANT_TYPE_UINT64, ids->data, ids->len,
	                                   sizeof (guint64)));
}

static gboolean
handle_publish_batch (TetherDBusConnection1 *skeleton, GDBusMethodInvocation *invocation,
                      GVariant *batch, TetherConnection *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) messages = NULL;
	guint index = 0;

	if (g_variant_n_children (batch) == 0) {
		g_dbus_method_invocation_return_error_literal (
		        invocation, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		        _("messages: the batch is empty; give at least one message"));
		return TRUE;
	}
	messages = tether_connection_check_publish (self, batch, &index, &error);
	if (messages == NULL) {
		g_prefix_error (&error, _("message %u: "), index);
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	tether_connection_queue_async (self, messages, publish_batch_queued_cb,
	                               g_object_ref (invocation));
	return TRUE;
}

static void
respond_queued_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) invocation = user_data;
	TetherConnection *self = TETHER_CONNECTION (source);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) messages = tether_connection_queue_finish (self, result, &error);

	if (messages == NULL) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return;
	}
	tether_dbus_connection1_complete_respond (self->skeleton, invocation);
}

static gboolean
handle_respond (TetherDBusConnection1 *skeleton, GDBusMethodInvocation *invocation,
                const gchar *request_id, gint status, GVariant *payload, TetherConnection *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariantDict) options = g_variant_dict_new (NULL);
	g_autoptr(GVariant) batch = NULL;
	g_autoptr(GPtrArray) messages = NULL;

	g_variant_dict_insert (options, "request-id", "s", request_id);
	g_variant_dict_insert (options, "status", "i", status);
	batch = g_variant_ref_sink (
	        single_message (TETHER_KIND_RESPONSE, payload, g_variant_dict_end (options)));
	messages = tether_connection_check_publish (self, batch, NULL, &error);
	if (messages == NULL) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	tether_connection_queue_async (self, messages, respond_queued_cb,
	                               g_object_ref (invocation));
	return TRUE;
}

static gboolean
handle_connect (TetherDBusConnection1 *skeleton, GDBusMethodInvocation *invocation,
                TetherConnection *self)
{
	g_autoptr(GError) error = NULL;

	if (g_settings_get_boolean (self->settings, "enabled")) {
		tether_connection_start (self);
	} else if (tether_settings_check_can_save (self->settings, &error)) {
		g_settings_set_boolean (self->settings, "enabled", TRUE); /* reconnects */
	} else {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	tether_dbus_connection1_complete_connect (skeleton, invocation);
	return TRUE;
}

static gboolean
handle_disconnect (TetherDBusConnection1 *skeleton, GDBusMethodInvocation *invocation,
                   TetherConnection *self)
{
	g_autoptr(GError) error = NULL;

	if (!tether_settings_check_can_save (self->settings, &error)) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	g_settings_set_boolean (self->settings, "enabled", FALSE);
	tether_dbus_connection1_complete_disconnect (skeleton, invocation);
	return TRUE;
}

static gboolean
handle_purge (TetherDBusConnection1 *skeleton, GDBusMethodInvocation *invocation,
              TetherConnection *self)
{
	g_autoptr(GArray) ids = NULL;

	/* what the session holds comes back as unknown acknowledgements; the disk is emptied too */
	tether_mqtt_session_stop (self->session);
	ids = tether_outbox_purge (self->outbox);
	self->dropped += ids->len;
	update_counters (self);
	for (guint i = 0; i < ids->len; i++) {
		tether_connection_emit_message_result (self, g_array_index (ids, guint64, i),
		                                       "dropped", NULL);
	}
	g_info ("connection %s: purged %u messages", self->id, ids->len);
	tether_connection_start (self);
	tether_dbus_connection1_complete_purge (skeleton, invocation);
	return TRUE;
}

static gboolean
handle_reprovision (TetherDBusConnection1 *skeleton, GDBusMethodInvocation *invocation,
                    TetherConnection *self)
{
	g_autoptr(GError) error = NULL;

	if (!tether_cloud_reprovision (self->cloud, self, &error)) {
		g_dbus_method_invocation_return_gerror (invocation, error);
		return TRUE;
	}
	g_info ("connection %s: provisioning again, as asked", self->id);
	tether_connection_start (self);
	tether_dbus_connection1_complete_reprovision (skeleton, invocation);
	return TRUE;
}

static void
network_changed_cb (GNetworkMonitor *monitor, gboolean available, TetherConnection *self)
{
	/* logged once per change, not once per signal */
	if (available != self->network_available)
		g_info ("connection %s: the network is %s", self->id,
		        available ? "available" : "gone");
	self->network_available = available;

	/* only a connection waiting out its backoff is in a hurry */
	if (!available || !self->enabled || self->reconnect_id == 0)
		return;
	g_info ("connection %s: the network changed, reconnecting now", self->id);
	self->backoff = 0;
	tether_connection_connect_now (self);
}

static void
outbox_dropped_cb (TetherOutbox *outbox, guint64 id, const gchar *status, TetherConnection *self)
{
	g_autoptr(GVariantDict) details = g_variant_dict_new (NULL);

	g_variant_dict_insert (details, "message", "s",
	                       _("the outbox was full and its policy is drop-oldest"));
	self->dropped++;
	update_counters (self);
	tether_connection_emit_message_result (self, id, status, g_variant_dict_end (details));
}

/* the outbox under STATE/outbox/ID; damage is reported, a newer format keeps it closed */
static gboolean
open_outbox (TetherConnection *self, GError **error)
{
	g_autofree gchar *dir = g_build_filename (self->state_dir, "outbox", self->id, NULL);
	g_autoptr(GError) error_local = NULL;
	const gchar *const *damage;

	self->outbox = tether_outbox_new (dir, self->id);
	g_signal_connect (self->outbox, "dropped", G_CALLBACK (outbox_dropped_cb), self);
	if (!tether_outbox_load (self->outbox, &error_local)) {
		g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "TETHER_CONNECTION", self->id,
		                  "MESSAGE", "connection %s: %s", self->id, error_local->message);
		self->outbox_error = g_strdup (error_local->message);
		tether_dbus_connection1_set_state (self->skeleton, "failed");
		tether_dbus_connection1_set_last_error (self->skeleton, self->outbox_error);
		return TRUE;
	}
	damage = tether_outbox_get_damage (self->outbox);
	if (damage != NULL) {
		g_autofree gchar *text = g_strdup_printf (
		        _("damaged outbox data was set aside in %s/quarantine (%u finds, the "
		          "first: %s); the rest is delivered"),
		           dir, g_strv_length ((gchar **) damage), damage[0]);
		tether_dbus_connection1_set_last_error (self->skeleton, text);
	}
	return TRUE;
}

TetherConnection *
tether_connection_new (const gchar *id, TetherCloud *cloud, GSettings *settings,
                       const TetherConnectionContext *context, GError **error)
{
	g_autoptr(TetherConnection) self = g_object_new (TETHER_TYPE_CONNECTION, NULL);
	g_autofree gchar *escaped = g_dbus_escape_object_path (id);
	g_autofree gchar *cloud_name = g_settings_get_string (settings, "cloud");

	self->id = g_strdup (id);
	self->object_path = g_strdup_printf ("/org/tether/Tether1/connections/%s", escaped);
	self->cloud = g_object_ref (cloud);
	self->settings = g_object_ref (settings);
	self->bus = g_object_ref (context->bus);
	self->anchors = g_object_ref (context->anchors);
	self->identities = g_object_ref (context->identities);
	self->state_dir = g_strdup (context->state_dir);

	tether_dbus_connection1_set_id (self->skeleton, id);
	tether_dbus_connection1_set_cloud (self->skeleton, cloud_name);
	tether_dbus_connection1_set_state (self->skeleton, "disconnected");
	tether_dbus_connection1_set_last_error (self->skeleton, "");
	if (!open_outbox (self, error) || !load_settings (self, error))
		return NULL;
	update_counters (self);
	schedule_expiry (self);

	g_signal_connect (self->settings, "changed", G_CALLBACK (settings_changed_cb), self);
	/* Connect, Disconnect, Purge, Reprovision: authorised before the handlers see them */
	tether_auth_attach (context->auth, G_DBUS_INTERFACE_SKELETON (self->skeleton));
	g_signal_connect (self->skeleton, "handle-publish", G_CALLBACK (handle_publish), self);
	g_signal_connect (self->skeleton, "handle-publish-batch", G_CALLBACK (handle_publish_batch),
	                  self);
	g_signal_connect (self->skeleton, "handle-respond", G_CALLBACK (handle_respond), self);
	g_signal_connect (self->skeleton, "handle-connect", G_CALLBACK (handle_connect), self);
	g_signal_connect (self->skeleton, "handle-disconnect", G_CALLBACK (handle_disconnect),
	                  self);
	g_signal_connect (self->skeleton, "handle-purge", G_CALLBACK (handle_purge), self);
	g_signal_connect (self->skeleton, "handle-reprovision", G_CALLBACK (handle_reprovision),
	                  self);

	if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->skeleton),
	                                       self->bus, self->object_path, error))
		return NULL;
	return g_steal_pointer (&self);
}

void
tether_connection_shutdown (TetherConnection *self)
{
	g_signal_handlers_disconnect_by_data (self->settings, self);
	g_clear_handle_id (&self->reload_id, g_source_remove);
	g_clear_handle_id (&self->expiry_id, g_source_remove);
	g_clear_handle_id (&self->send_retry_id, g_source_remove);
	g_clear_handle_id (&self->trim_id, g_source_remove);
	tether_connection_stop (self);
	/* a write in progress finishes: no record is cut in the middle */
	tether_outbox_close (self->outbox);
	g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->skeleton));
}

gboolean
tether_connection_discard_outbox (TetherConnection *self, GError **error)
{
	return tether_outbox_delete (self->outbox, error);
}

static void
tether_connection_dispose (GObject *object)
{
	TetherConnection *self = TETHER_CONNECTION (object);

	if (self->settings != NULL)
		g_signal_handlers_disconnect_by_data (self->settings, self);
	g_clear_handle_id (&self->reconnect_id, g_source_remove);
	g_clear_handle_id (&self->reload_id, g_source_remove);
	g_clear_handle_id (&self->expiry_id, g_source_remove);
	g_clear_handle_id (&self->send_retry_id, g_source_remove);
	g_clear_handle_id (&self->trim_id, g_source_remove);
	if (self->network_monitor != NULL)
		g_signal_handlers_disconnect_by_data (self->network_monitor, self);
	if (self->outbox != NULL)
		g_signal_handlers_disconnect_by_data (self->outbox, self);
	if (self->cancellable != NULL)
		g_cancellable_cancel (self->cancellable);
	if (self->session != NULL) {
		g_signal_handlers_disconnect_by_data (self->session, self);
		tether_mqtt_session_stop (self->session);
	}
	G_OBJECT_CLASS (tether_connection_parent_class)->dispose (object);
}

static void
tether_connection_finalize (GObject *object)
{
	TetherConnection *self = TETHER_CONNECTION (object);

	g_free (self->id);
	g_free (self->object_path);
	g_free (self->client_id);
	g_free (self->host);
	g_free (self->state_dir);
	g_free (self->paho_message);
	g_free (self->session_identity);
	g_free (self->pending_failure);
	g_clear_object (&self->cloud);
	g_clear_object (&self->settings);
	g_clear_object (&self->bus);
	g_clear_object (&self->anchors);
	g_clear_object (&self->identities);
	g_clear_object (&self->skeleton);
	g_clear_object (&self->session);
	g_clear_object (&self->outbox);
	g_clear_object (&self->network_monitor);
	g_free (self->outbox_error);
	g_clear_object (&self->cancellable);
	g_ptr_array_unref (self->subscriptions);
	g_hash_table_unref (self->logged);
	tether_mqtt_params_clear (&self->params);
	G_OBJECT_CLASS (tether_connection_parent_class)->finalize (object);
}

static void
tether_connection_class_init (TetherConnectionClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->dispose = tether_connection_dispose;
	object_class->finalize = tether_connection_finalize;
}

static void
tether_connection_init (TetherConnection *self)
{
	self->skeleton = tether_dbus_connection1_skeleton_new ();
	self->session = tether_mqtt_session_new ();
	self->cancellable = g_cancellable_new ();
	self->subscriptions = g_ptr_array_new_with_free_func (g_free);
	self->logged = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
	self->params.clean_session = TRUE;

	g_signal_connect (self->session, "connected", G_CALLBACK (session_connected_cb), self);
	g_signal_connect (self->session, "connect-failed", G_CALLBACK (session_connect_failed_cb),
	                  self);
	g_signal_connect (self->session, "connection-lost", G_CALLBACK (session_connection_lost_cb),
	                  self);
	g_signal_connect (self->session, "delivered", G_CALLBACK (session_delivered_cb), self);
	g_signal_connect (self->session, "send-failed", G_CALLBACK (session_send_failed_cb), self);
	g_signal_connect (self->session, "message", G_CALLBACK (session_message_cb), self);

	/* back from an outage: no need to wait out the backoff */
	self->network_monitor = g_object_ref (g_network_monitor_get_default ());
	self->network_available = g_network_monitor_get_network_available (self->network_monitor);
	g_signal_connect (self->network_monitor, "network-changed", G_CALLBACK (network_changed_cb),
	                  self);
}
