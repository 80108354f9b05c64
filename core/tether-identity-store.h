/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "tether-anchor-store.h"

G_BEGIN_DECLS

#define TETHER_TYPE_IDENTITY_STORE (tether_identity_store_get_type ())
G_DECLARE_FINAL_TYPE (TetherIdentityStore, tether_identity_store, TETHER, IDENTITY_STORE, GObject)

/*
 * The device identities: for each, a private key made on the device (or
 * imported) and the certificate chain a device CA issued for it, under
 * STATE/identities/NAME/ (directory 0700, files 0600):
 *
 *   active/key.pem, active/chain.pem    the pair in use
 *   pending/key.pem, pending/chain.pem  a renewal: the new key, then its
 *                                       certificate, on trial
 *   est/key.pem, est/chain.pem          an EST attempt's key and what the server
 *                                       issued for it, until it is checked
 *   renewal.ini                         the renewal record (format version 1)
 *
 * The pending pair replaces the active one by two renames (active -> old,
 * pending -> active); a daemon stopped between them finishes the swap when
 * it starts. Each identity is exported on the bus as org.tether.Identity1.
 * Keys never leave these files: nothing returns or logs them.
 */

typedef struct _TetherIdentity TetherIdentity;

/*
 * The enabled connections whose session uses the identity @name, for the
 * verdict on a pending pair (NULL-terminated, freed by the caller).
 */
typedef GStrv (*TetherIdentityUsersFunc) (const gchar *name, gpointer user_data);

TetherIdentityStore *tether_identity_store_new (const gchar *state_dir, GDBusConnection *bus,
                                                GSettings *settings, TetherAnchorStore *anchors);
void tether_identity_store_set_users_func (TetherIdentityStore *self, TetherIdentityUsersFunc func,
                                           gpointer user_data);

/* the identity, made (empty, in the "identities" list) if @create */
TetherIdentity *tether_identity_store_lookup (TetherIdentityStore *self, const gchar *name,
                                              gboolean create, GError **error);
/* of TetherIdentity, sorted by name */
GPtrArray *tether_identity_store_list (TetherIdentityStore *self);

/*
 * makes the key if there is none (with "renew": a new pending key), returns a
 * CSR (PEM) signed with it
 */
gchar *tether_identity_store_create_request (TetherIdentityStore *self, const gchar *name,
                                             GVariant *options, GError **error);
/* installs the chain the device CA issued for the identity's active or pending key */
GStrv tether_identity_store_install (TetherIdentityStore *self, const gchar *name, GBytes *chain,
                                     GError **error);
/*
 * imports a key (or a PKCS#12 bundle in @key with an empty @chain) as the
 * identity's active pair; @password may be NULL
 */
GStrv tether_identity_store_import (TetherIdentityStore *self, const gchar *name, GBytes *key,
                                    GBytes *chain, const gchar *password, GError **error);
/* removes the identity, its files and its settings; the caller checks it is unused */
gboolean tether_identity_store_remove (TetherIdentityStore *self, const gchar *name,
                                       GError **error);

/*
 * The verdict of one connection on the pending pair numbered @serial: @ok,
 * it connected with it (the pair becomes the active one); not @ok, the
 * broker refused it while the active pair still works (when every enabled
 * user has said so, the pending certificate is dropped).
 */
void tether_identity_store_pending_result (TetherIdentityStore *self, const gchar *name,
                                           guint64 serial, const gchar *connection_id, gboolean ok,
                                           const gchar *message);

/*
 * Seconds to wait after @failures failed renewals in a row: @min_s doubled for each failure
 * after the first, at most @max_s; with @jitter, a random part of the upper half, never
 * below @min_s.
 */
gint64 tether_identity_retry_delay (guint min_s, guint max_s, guint failures, gboolean jitter);
/* when the renewal of a certificate valid from @not_before to @not_after is due (@threshold %) */
gint64 tether_identity_renewal_due (guint threshold, gint64 not_before, gint64 not_after);

const gchar *tether_identity_get_name (TetherIdentity *identity);
const gchar *tether_identity_get_object_path (TetherIdentity *identity);
/* "no-key", "key-only", "ready", "renewing", "expired" */
const gchar *tether_identity_get_state (TetherIdentity *identity);
/* whether the active pair is complete: a key and its certificate */
gboolean tether_identity_has_certificate (TetherIdentity *identity);
const gchar *tether_identity_get_key_path (TetherIdentity *identity);
const gchar *tether_identity_get_chain_path (TetherIdentity *identity);
/* a number that changes whenever the active pair does */
guint64 tether_identity_get_serial (TetherIdentity *identity);
/*
 * The pending pair when a certificate for it is installed: its files and its
 * number (never 0); FALSE without one.
 */
gboolean tether_identity_get_pending_paths (TetherIdentity *identity, const gchar **chain_path,
                                            const gchar **key_path, guint64 *serial);
/* the leaf's subject CN, or NULL */
const gchar *tether_identity_get_common_name (TetherIdentity *identity);
void tether_identity_set_used_by (TetherIdentity *identity, const gchar *const *connections);

G_END_DECLS
