/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * An EST (RFC 7030) client on libsoup: /cacerts, then /simpleenroll or
 * /simplereenroll with a PKCS#10 request. The server is verified against the
 * trust anchors given, by the same rule as the MQTT connections (its chain
 * must reach a self-signed anchor; the host name must match), never against
 * the system's CAs. The client authenticates with a TLS client certificate,
 * HTTP basic credentials, or both.
 */

typedef struct {
	const gchar *url;          /* https://host[:port]/.well-known/est[/label] */
	const gchar *trust_file;   /* the anchors' certificates, PEM */
	const gchar *anchor_names; /* for messages: "a, b" */
	const gchar *cert_file;    /* the client's chain, PEM, or NULL */
	const gchar *key_file;     /* its key, or NULL */
	const gchar *username;     /* HTTP basic, or NULL */
	const gchar *password;     /* never logged */
	guint timeout;             /* seconds a request may take */
} TetherEstParams;

/* TETHER_ERROR_INVALID_ARGUMENT unless @url is an https URL an EST client can use */
gboolean tether_est_check_url (const gchar *url, GError **error);

/*
 * Asks the server for its CA certificates, then sends @csr_pem to
 * /simplereenroll (@reenroll) or /simpleenroll. The parameters are copied.
 */
void tether_est_enroll_async (const TetherEstParams *params, gboolean reenroll,
                              const gchar *csr_pem, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
/*
 * The certificates the server issued (the new one among them) and, in
 * @cacerts, those /cacerts returned; both GPtrArrays of gnutls_x509_crt_t.
 * TETHER_ERROR_REFUSED when the server said no (its status and text in the
 * message), TETHER_ERROR_FAILED when it could not be reached or verified.
 */
GPtrArray *tether_est_enroll_finish (GAsyncResult *result, GPtrArray **cacerts, GError **error);

G_END_DECLS
