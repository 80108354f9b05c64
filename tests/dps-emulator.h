/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * A small emulator of Azure's Device Provisioning Service for the
 * integration tests: a libsoup HTTPS server on 127.0.0.1 that speaks DPS's
 * REST API (the register PUT and the operation GET) and, as DPS does for a
 * group enrollment, registers only a device whose client certificate chains
 * to the given CA and names the registration id as its common name (else
 * HTTP 401, errorCode 401002). It runs on the test's main context,
 * which the harness iterates while it waits.
 *
 * What it answers depends on the ID scope in the request's path, so one
 * emulator serves several connections, each with its own behaviour.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
	DPS_EMULATOR_ASSIGN,           /* "assigning" with Retry-After, then assigned */
	DPS_EMULATOR_FAILED,           /* the operation ends "failed", with an error code */
	DPS_EMULATOR_DISABLED,         /* the operation ends "disabled" */
	DPS_EMULATOR_UNASSIGNED,       /* the operation ends "unassigned" */
	DPS_EMULATOR_UNAUTHORIZED,     /* HTTP 401, errorCode 401002 */
	DPS_EMULATOR_NOT_FOUND,        /* HTTP 404, errorCode 404001 */
	DPS_EMULATOR_ALWAYS_ASSIGNING, /* "assigning", again and again */
	DPS_EMULATOR_SILENT,           /* takes the request and never answers */
} DpsEmulatorMode;

/* the Retry-After the emulator sends with "assigning", in seconds */
#define DPS_EMULATOR_RETRY_AFTER_S 1

typedef struct _DpsEmulator DpsEmulator;

/*
 * @cert_file, @key_file: the server's certificate and key (PEM);
 * @client_ca_file: the CA a client's certificate must chain to
 */
DpsEmulator *dps_emulator_new (const char *cert_file, const char *key_file,
                               const char *client_ca_file, GError **error);
void dps_emulator_free (DpsEmulator *emulator);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DpsEmulator, dps_emulator_free)

guint16 dps_emulator_get_port (DpsEmulator *emulator);
/* "localhost:PORT", a connection's endpoint */
const char *dps_emulator_get_endpoint (DpsEmulator *emulator);

/* how requests for @id_scope are answered; DPS_EMULATOR_ASSIGN unless set */
void dps_emulator_set_mode (DpsEmulator *emulator, const char *id_scope, DpsEmulatorMode mode);
/* the hub it assigns ("localhost" unless set) */
void dps_emulator_set_hub (DpsEmulator *emulator, const char *hub);
/* the device id it assigns: NULL (the default) for the registration id */
void dps_emulator_set_device_id (DpsEmulator *emulator, const char *device_id);

/* register PUTs that reached the emulator */
guint dps_emulator_get_registrations (DpsEmulator *emulator);
/* operation GETs that reached the emulator */
guint dps_emulator_get_polls (DpsEmulator *emulator);
/* the common name of the client certificate of the last request, or NULL */
const char *dps_emulator_get_last_client_cn (DpsEmulator *emulator);
/* the body of the last register PUT, or NULL */
const char *dps_emulator_get_last_body (DpsEmulator *emulator);
/* seconds between the last "assigning" answer and the poll that followed it, or -1 */
double dps_emulator_get_last_poll_delay (DpsEmulator *emulator);

G_END_DECLS
