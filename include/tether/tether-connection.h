/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define TETHER_TYPE_CONNECTION (tether_connection_get_type ())
G_DECLARE_FINAL_TYPE (TetherConnection, tether_connection, TETHER, CONNECTION, GObject)

/*
 * What a cloud plugin sees of a connection: its settings, and the
 * parameters of the MQTT session that the plugin sets while preparing it.
 */

const gchar *tether_connection_get_id (TetherConnection *self);
/* the host of the "endpoint" setting */
const gchar *tether_connection_get_host (TetherConnection *self);
/* the port of the "endpoint" setting, 0 if it names none */
guint16 tether_connection_get_port (TetherConnection *self);
/* the "identity" setting: the name of the connection's own identity */
const gchar *tether_connection_get_identity_name (TetherConnection *self);
/* the "client-id" setting, "" for the cloud's default */
const gchar *tether_connection_get_client_id (TetherConnection *self);
guint tether_connection_get_keepalive (TetherConnection *self);
/* a{sv}, already checked against the cloud's options */
GVariant *tether_connection_get_cloud_options (TetherConnection *self);
/* the identity certificate's subject common name, NULL with an error if none */
gchar *tether_connection_dup_identity_common_name (TetherConnection *self, GError **error);
/* a directory the plugin may keep state in (created on demand) */
gchar *tether_connection_dup_state_dir (TetherConnection *self, GError **error);

/* the MQTT session, set by the plugin's prepare */
void tether_connection_set_mqtt_host (TetherConnection *self, const gchar *host, guint16 port);
void tether_connection_set_mqtt_client_id (TetherConnection *self, const gchar *client_id);
void tether_connection_set_mqtt_username (TetherConnection *self, const gchar *username);
void tether_connection_set_mqtt_alpn (TetherConnection *self, const gchar *const *protocols);
void tether_connection_set_mqtt_clean_session (TetherConnection *self, gboolean clean_session);
void tether_connection_clear_subscriptions (TetherConnection *self);
void tether_connection_add_subscription (TetherConnection *self, const gchar *topic_filter);

/*
 * the identity whose key and chain the MQTT session presents: NULL for the
 * connection's own, or another (a claim identity while provisioning)
 */
void tether_connection_set_session_identity (TetherConnection *self, const gchar *identity);
/* an identity's chain and key files, for the plugin's own TLS clients (NULL: the session's) */
gboolean tether_connection_get_identity_files (TetherConnection *self, const gchar *identity,
                                               gchar **chain_file, gchar **key_file,
                                               GError **error);
/* the connection's trust anchors as one PEM file, written for the plugin's TLS clients */
gchar *tether_connection_dup_trust_file (TetherConnection *self, GError **error);
/* makes the identity's key if it has none and returns a CSR (PEM); see CreateIdentityRequest */
gchar *tether_connection_create_identity_request (TetherConnection *self, const gchar *identity,
                                                  GVariant *options, GError **error);
/* installs a chain for the identity's key; see InstallIdentity */
gboolean tether_connection_install_identity (TetherConnection *self, const gchar *identity,
                                             GBytes *chain, GError **error);

/* State is "provisioning" while TRUE */
void tether_connection_set_provisioning (TetherConnection *self, gboolean provisioning);
/* drops the session and prepares it again at once (after provisioning) */
void tether_connection_reconnect (TetherConnection *self);
/*
 * sends a message of the plugin's own (a twin GET, a provisioning request)
 * on the live session, outside the outbox; fails when not connected
 */
gboolean tether_connection_publish_internal (TetherConnection *self, const gchar *topic,
                                             GBytes *payload, gint qos, GError **error);

/* what the plugin reports from incoming messages */
void tether_connection_emit_received (TetherConnection *self, const gchar *kind, const gchar *topic,
                                      GBytes *payload, GVariant *details);
void tether_connection_emit_message_result (TetherConnection *self, guint64 id, const gchar *status,
                                            GVariant *details);

G_END_DECLS
