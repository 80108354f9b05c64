/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "tether-connection.h"
#include "tether-message.h"

G_BEGIN_DECLS

#define TETHER_TYPE_CLOUD (tether_cloud_get_type ())
G_DECLARE_DERIVABLE_TYPE (TetherCloud, tether_cloud, TETHER, CLOUD, GObject)

/**
 * TetherCloudClass:
 * @check_options: checks the meaning of a connection's cloud options, after
 *   the core has checked their names and types against the declared ones.
 * @check_session: checks a connection's client-id setting (empty: the
 *   cloud's default) and MQTT keep-alive against the cloud's rules when a
 *   connection is added or changed, so that a value the cloud would refuse
 *   is refused at once and never stored. A client id of %NULL or a
 *   keep-alive of 0 is one that is not being set.
 * @prepare_async: sets the MQTT session's parameters for a connection
 *   (host, port, client id, username, subscriptions), provisioning first
 *   where the cloud needs it. The default takes the host and port from the
 *   endpoint (the cloud's default port when it names none) and the client
 *   id from the settings, or the identity's common name.
 * @prepare_finish: finishes @prepare_async.
 * @check_message: called when a message is published, before it is queued:
 *   refuses, with %TETHER_ERROR_REFUSED naming the rule, what the cloud
 *   would refuse. Must not depend on what @prepare_async learns.
 * @map_message: called before a queued message is sent: sets its topic,
 *   the payload on the wire and the QoS. Runs after @prepare_async.
 * @handle_incoming: an MQTT message arrived on one of the subscriptions;
 *   the plugin reports it with tether_connection_emit_received() or
 *   tether_connection_emit_message_result().
 * @connected: the MQTT session is up.
 * @session_refused: the broker refused the session (not a TLS failure);
 *   returns %TRUE when the plugin wants to be prepared again (provisioning).
 * @reprovision: the operator asked to provision again (`Reprovision`): forget
 *   what provisioning cached; the core then prepares the connection again.
 * @tls_failure_hint: the TLS handshake failed and the core's probe said why
 *   (@report: the probe's a{sv}, with "reason" s and, where they apply,
 *   "top-issuer" s and "names" as); returns words the core adds to LastError
 *   (what this cloud's users should check), or %NULL.
 *
 * A cloud target. Plugins subclass it, declare what they accept in their
 * init function and override the virtual functions they need.
 */
struct _TetherCloudClass {
	GObjectClass parent_class;

	gboolean (*check_options) (TetherCloud *self, GVariant *options, GError **error);
	void (*prepare_async) (TetherCloud *self, TetherConnection *connection,
	                       GCancellable *cancellable, GAsyncReadyCallback callback,
	                       gpointer user_data);
	gboolean (*prepare_finish) (TetherCloud *self, GAsyncResult *result, GError **error);
	gboolean (*check_message) (TetherCloud *self, TetherConnection *connection,
	                           TetherMessage *message, GError **error);
	gboolean (*map_message) (TetherCloud *self, TetherConnection *connection,
	                         TetherMessage *message, GError **error);
	void (*handle_incoming) (TetherCloud *self, TetherConnection *connection,
	                         const gchar *topic, GBytes *payload);
	void (*connected) (TetherCloud *self, TetherConnection *connection);
	gboolean (*session_refused) (TetherCloud *self, TetherConnection *connection);
	gboolean (*reprovision) (TetherCloud *self, TetherConnection *connection, GError **error);
	gchar *(*tls_failure_hint) (TetherCloud *self, TetherConnection *connection,
	                            GVariant *report);
	gboolean (*check_session) (TetherCloud *self, const gchar *client_id, guint keepalive,
	                           GError **error);

	/*< private >*/
	gpointer padding[14];
};

/* what a plugin declares in its init function */
void tether_cloud_set_name (TetherCloud *self, const gchar *name);
void tether_cloud_set_description (TetherCloud *self, const gchar *description);
void tether_cloud_set_default_port (TetherCloud *self, guint16 port);
/* the endpoint of a connection that names none ("" when one is required) */
void tether_cloud_set_default_endpoint (TetherCloud *self, const gchar *endpoint);
void tether_cloud_add_kind (TetherCloud *self, const gchar *kind);
void tether_cloud_add_option (TetherCloud *self, const gchar *name, const gchar *type_string,
                              const gchar *description);
void tether_cloud_add_publish_option (TetherCloud *self, const gchar *name);
void tether_cloud_add_bundled_anchor (TetherCloud *self, const gchar *slug, GBytes *pem,
                                      gboolean in_default_set);

const gchar *tether_cloud_get_name (TetherCloud *self);
const gchar *tether_cloud_get_description (TetherCloud *self);
guint16 tether_cloud_get_default_port (TetherCloud *self);
const gchar *tether_cloud_get_default_endpoint (TetherCloud *self);
GPtrArray *tether_cloud_get_kinds (TetherCloud *self);
gboolean tether_cloud_has_kind (TetherCloud *self, const gchar *kind);
/* a{s(ss)}: name -> (type string, description) */
GVariant *tether_cloud_get_options (TetherCloud *self);
GPtrArray *tether_cloud_get_publish_options (TetherCloud *self);
gboolean tether_cloud_has_publish_option (TetherCloud *self, const gchar *name);
/* of TetherBundledAnchor */
GPtrArray *tether_cloud_get_bundled_anchors (TetherCloud *self);

typedef struct {
	gchar *slug;
	GBytes *pem;
	gboolean in_default_set;
} TetherBundledAnchor;

/* checks names and types against the declared options, then check_options */
gboolean tether_cloud_check_options (TetherCloud *self, GVariant *options, GError **error);
/* by check_session: a client-id setting ("" the default, NULL not set), a keep-alive (0 not set) */
gboolean tether_cloud_check_session (TetherCloud *self, const gchar *client_id, guint keepalive,
                                     GError **error);
void tether_cloud_prepare_async (TetherCloud *self, TetherConnection *connection,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean tether_cloud_prepare_finish (TetherCloud *self, GAsyncResult *result, GError **error);
/*
 * what the default prepare does, for plugins that override it: the MQTT host
 * and port from the endpoint (the default port when it names none), the
 * client id from the settings or else the identity's common name, no
 * username, a clean session and no subscriptions
 */
gboolean tether_cloud_prepare_defaults (TetherCloud *self, TetherConnection *connection,
                                        GError **error);
/* checks the kind and the publish options, then check_message */
gboolean tether_cloud_check_message (TetherCloud *self, TetherConnection *connection,
                                     TetherMessage *message, GError **error);
gboolean tether_cloud_map_message (TetherCloud *self, TetherConnection *connection,
                                   TetherMessage *message, GError **error);
void tether_cloud_handle_incoming (TetherCloud *self, TetherConnection *connection,
                                   const gchar *topic, GBytes *payload);
void tether_cloud_connected (TetherCloud *self, TetherConnection *connection);
gboolean tether_cloud_session_refused (TetherCloud *self, TetherConnection *connection);
gboolean tether_cloud_reprovision (TetherCloud *self, TetherConnection *connection, GError **error);
gchar *tether_cloud_tls_failure_hint (TetherCloud *self, TetherConnection *connection,
                                      GVariant *report);

G_END_DECLS
