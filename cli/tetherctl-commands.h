/* tetherctl: the commands, one file an area
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "tetherctl-common.h"

G_BEGIN_DECLS

/* tetherctl-status.c */
gboolean tetherctl_status (TetherctlContext *ctx, char **args, GError **error);
extern const TetherctlCommand tetherctl_cloud_commands[];

/* tetherctl-monitor.c */
gboolean tetherctl_monitor (TetherctlContext *ctx, char **args, GError **error);

/* tetherctl-anchor.c */
extern const TetherctlCommand tetherctl_anchor_commands[];
gboolean tetherctl_test_anchors (TetherctlContext *ctx, const char *const *anchors,
                                 const char *endpoint, guint16 default_port, GError **error);

/* tetherctl-identity.c */
extern const TetherctlCommand tetherctl_identity_commands[];
GPtrArray *tetherctl_list_identities (TetherctlContext *ctx, GError **error);
void tetherctl_identities_table (GPtrArray *identities);
void tetherctl_identity_json (JsonBuilder *builder, TetherDBusIdentity1 *identity);

/* tetherctl-connection.c */
extern const TetherctlCommand tetherctl_connection_commands[];
GPtrArray *tetherctl_list_connections (TetherctlContext *ctx, GError **error);
void tetherctl_connections_table (GPtrArray *connections);
void tetherctl_connection_json (JsonBuilder *builder, TetherDBusConnection1 *connection);

/* tetherctl-publish.c */
gboolean tetherctl_publish (TetherctlContext *ctx, char **args, GError **error);
gboolean tetherctl_respond (TetherctlContext *ctx, char **args, GError **error);

G_END_DECLS
