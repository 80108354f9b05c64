/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define TETHER_ERROR (tether_error_quark ())

/**
 * TetherError:
 *
 * The one error domain of tether. Each code is sent over D-Bus as
 * `org.tether.Error.<Name>`.
 */
typedef enum {
	TETHER_ERROR_INVALID_ARGUMENT,    /* InvalidArgument */
	TETHER_ERROR_INVALID_CERTIFICATE, /* InvalidCertificate */
	TETHER_ERROR_INVALID_KEY,         /* InvalidKey */
	TETHER_ERROR_NOT_FOUND,           /* NotFound */
	TETHER_ERROR_EXISTS,              /* Exists */
	TETHER_ERROR_IN_USE,              /* InUse */
	TETHER_ERROR_REFUSED,             /* Refused: a cloud rule */
	TETHER_ERROR_QUEUE_FULL,          /* QueueFull */
	TETHER_ERROR_NO_SPACE,            /* NoSpace */
	TETHER_ERROR_NOT_AUTHORIZED,      /* NotAuthorized */
	TETHER_ERROR_FAILED,              /* Failed */
	TETHER_ERROR_LAST
} TetherError;

GQuark tether_error_quark (void);

G_END_DECLS
