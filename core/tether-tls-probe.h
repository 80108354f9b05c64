/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * One TLS handshake with GnuTLS to a server, to say why a connection fails
 * (Paho reports every TLS failure the same way) or to test an anchor before
 * it is used. Runs in a worker thread; never blocks the main context.
 *
 * @anchors_pem: the anchors' certificates, PEM, concatenated.
 * @anchor_names: the anchors' names for messages, "tb-root, tb-old".
 * @sni: the server name to send; NULL sends @host when it is not an address.
 * @alpn: protocols to offer, or NULL.
 * @cert_file, @key_file: the client's chain and key, or NULL for none.
 *
 * The result is an a{sv}: "ok" b; "reason" s: "ok", "unknown-issuer",
 * "host-mismatch", "expired", "not-yet-valid", "invalid",
 * "client-certificate-refused", "connect-failed", "handshake-failed";
 * "message" s, plain words for LastError; "top-issuer" s and "names" as
 * where they apply. Where the server sent its chain: "certificates" aa{sv}
 * (tether_x509_describe() of each, as sent). After a handshake: "protocol" s
 * ("TLS1.3"), "alpn" s (when one was agreed); with "ok":
 * "client-certificate-sent" b.
 *
 * The host name checked is @sni when given, else @host. A server that asks
 * for a client certificate always gets the one given (as OpenSSL does), and a
 * TLS 1.3 server's refusal, which comes after the handshake, is waited for
 * one second. @timeout_seconds 0 means 10.
 *
 * A GError (not a result) when the probe cannot run: @anchors_pem does not
 * parse (TETHER_ERROR_INVALID_CERTIFICATE), the client's chain or key cannot
 * be used (TETHER_ERROR_INVALID_CERTIFICATE, TETHER_ERROR_INVALID_KEY), or
 * @cancellable was cancelled (G_IO_ERROR_CANCELLED).
 */
void tether_tls_probe_async (const gchar *host, guint16 port, const gchar *sni,
                             const gchar *const *alpn, GBytes *anchors_pem,
                             const gchar *anchor_names, const gchar *cert_file,
                             const gchar *key_file, guint timeout_seconds,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data);

/* the a{sv} above (a full reference), or NULL with @error set */
GVariant *tether_tls_probe_finish (GAsyncResult *result, GError **error);

G_END_DECLS
