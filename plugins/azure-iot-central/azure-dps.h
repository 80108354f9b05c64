/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "azure-rules.h"

G_BEGIN_DECLS

/*
 * Registration with the Device Provisioning Service over HTTPS (libsoup):
 * the register PUT with the device's certificate chain on the TLS session,
 * then polls of its operation as the server's Retry-After asks, until DPS
 * assigns a hub, says no, or the time is up.
 */

typedef struct {
	const gchar *host; /* DPS's host and port */
	guint16 port;
	const gchar *id_scope;
	const gchar *registration_id;
	const gchar *model_id;   /* or NULL */
	const gchar *chain_file; /* the identity's chain, leaf first (PEM) */
	const gchar *key_file;   /* its private key (PEM) */
	const gchar *trust_file; /* the anchors that vouch for DPS (PEM) */
	guint timeout_s;         /* for everything, polls included */
} AzureDpsRequest;

void azure_dps_register_async (const AzureDpsRequest *request, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data);
/* the assignment, or NULL with a TETHER_ERROR (G_IO_ERROR_CANCELLED when cancelled) */
AzureAssignment *azure_dps_register_finish (GAsyncResult *result, GError **error);

G_END_DECLS
