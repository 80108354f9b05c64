/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define TETHER_TYPE_IDENTITY_STORE (tether_identity_store_get_type ())
G_DECLARE_FINAL_TYPE (TetherIdentityStore, tether_identity_store, TETHER, IDENTITY_STORE, GObject)

/*
 * The device identities: for each, a private key made on the device and the
 * certificate chain a device CA issued for it, under STATE/identities/NAME/
 * (key.pem, chain.pem; directory 0700, files 0600). Each is exported on the
 * bus as an org.tether.Identity1 object. Keys never leave this object's
 * files: nothing returns or logs them.
 */

typedef struct _TetherIdentity TetherIdentity;

TetherIdentityStore *tether_identity_store_new (const gchar *state_dir, GDBusConnection *bus,
                                                GSettings *settings);

/* the identity, made (empty, in the "identities" list) if @create */
TetherIdentity *tether_identity_store_lookup (TetherIdentityStore *self, const gchar *name,
                                              gboolean create, GError **error);
/* of TetherIdentity, sorted by name */
GPtrArray *tether_identity_store_list (TetherIdentityStore *self);

/* makes the key if there is none, returns a CSR (PEM) signed with it */
gchar *tether_identity_store_create_request (TetherIdentityStore *self, const gchar *name,
                                             GVariant *options, GError **error);
/* installs the chain the device CA issued for the identity's key */
GStrv tether_identity_store_install (TetherIdentityStore *self, const gchar *name, GBytes *chain,
                                     GError **error);

const gchar *tether_identity_get_name (TetherIdentity *identity);
const gchar *tether_identity_get_object_path (TetherIdentity *identity);
/* "no-key", "key-only", "ready", "expired" */
const gchar *tether_identity_get_state (TetherIdentity *identity);
const gchar *tether_identity_get_key_path (TetherIdentity *identity);
const gchar *tether_identity_get_chain_path (TetherIdentity *identity);
/* the leaf's subject CN, or NULL */
const gchar *tether_identity_get_common_name (TetherIdentity *identity);
void tether_identity_set_used_by (TetherIdentity *identity, const gchar *const *connections);

G_END_DECLS
