/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define TETHER_TYPE_MQTT_SESSION (tether_mqtt_session_get_type ())
G_DECLARE_FINAL_TYPE (TetherMqttSession, tether_mqtt_session, TETHER, MQTT_SESSION, GObject)

typedef struct {
	gchar *host;
	guint16 port;
	gchar *client_id;
	gchar *username;
	gchar *trust_file; /* the connection's anchors, PEM: the only trust store */
	gchar *cert_file;  /* the identity's chain, leaf first */
	gchar *key_file;   /* the identity's key, PEM, unencrypted */
	GStrv alpn;
	guint keepalive;
	gboolean clean_session;
	guint max_inflight;
} TetherMqttParams;

void tether_mqtt_params_clear (TetherMqttParams *params);

/* ALPN protocol names in TLS wire form (RFC 7301), NUL-terminated for Paho */
gchar *tether_mqtt_alpn_wire_format (const gchar *const *protocols, guint *len);

/*
 * One MQTT session over TLS on Paho's asynchronous client. Paho's callbacks
 * run on its own threads; everything they report is carried to the main
 * context the session was made in before any state is touched, and emitted
 * there as signals:
 *   "connected" ()
 *   "connect-failed" (gint paho_code, const gchar *message)
 *   "connection-lost" (const gchar *cause)
 *   "delivered" (GArray *tags of guint64): the broker acknowledged these QoS 1
 *     publishes; the acknowledgements that arrive together come in one emission
 *   "send-failed" (guint64 tag, const gchar *message)
 *   "message" (const gchar *topic, GBytes *payload)
 * Each connection attempt uses a fresh Paho client, so nothing a previous
 * attempt left behind is reported as news.
 */
TetherMqttSession *tether_mqtt_session_new (void);

/* starts a connection attempt with @params (copied); stops any other first */
gboolean tether_mqtt_session_start (TetherMqttSession *self, const TetherMqttParams *params,
                                    GError **error);
/* disconnects and forgets the client; emits nothing afterwards */
void tether_mqtt_session_stop (TetherMqttSession *self);
gboolean tether_mqtt_session_is_connected (TetherMqttSession *self);
gboolean tether_mqtt_session_subscribe (TetherMqttSession *self, GPtrArray *topic_filters,
                                        GError **error);
/* @tag is reported back in "delivered" or "send-failed" */
gboolean tether_mqtt_session_publish (TetherMqttSession *self, const gchar *topic, GBytes *payload,
                                      gint qos, guint64 tag, GError **error);
guint tether_mqtt_session_get_n_inflight (TetherMqttSession *self);

G_END_DECLS
