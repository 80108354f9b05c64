/* tetherctl: pure helpers for arguments and output (no D-Bus, no globals)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define TETHERCTL_ERROR (tetherctl_error_quark ())

/* USAGE: the command line is wrong (exit status 2); FAILED: anything else (exit status 1). */
typedef enum {
	TETHERCTL_ERROR_USAGE,
	TETHERCTL_ERROR_FAILED,
} TetherctlError;

GQuark tetherctl_error_quark (void);

/* The MQTT over TLS port, used when an endpoint names none. */
#define TETHERCTL_DEFAULT_PORT 8883

gboolean tetherctl_parse_endpoint (const char *endpoint, guint16 default_port, char **out_host,
                                   guint16 *out_port, GError **error);

gboolean tetherctl_split_key_value (const char *argument, char **out_key, char **out_value,
                                    GError **error);

GVariant *tetherctl_variant_from_string (const char *type_string, const char *text, GError **error);

GVariant *tetherctl_publish_option_table (void);

gboolean tetherctl_options_convert (GVariantDict *dict, const char *const *arguments,
                                    GVariant *table, const char *owner, GError **error);

GVariant *tetherctl_properties_from_arguments (const char *const *arguments, GError **error);

/* The most tetherctl reads for one payload: far more than any cloud accepts (256 KiB at
 * most), so tetherd still refuses a large payload with the cloud's own limit, and less than
 * D-Bus carries in one message (32 MiB on the system bus). */
#define TETHERCTL_PAYLOAD_MAX (16 * 1024 * 1024)

/* The most tetherctl reads from one FILE (a trust anchor, a certificate chain, a key, a
 * password): tetherd takes at most 1 MiB for an anchor, 256 KiB for a chain or a key. */
#define TETHERCTL_FILE_MAX (8 * 1024 * 1024)

GBytes *tetherctl_read_payload (const char *argument, GInputStream *input, GError **error);

GBytes *tetherctl_read_file (const char *path, GInputStream *input, GError **error);

gboolean tetherctl_check_output (const char *path, GError **error);

gboolean tetherctl_write_file (const char *path, const char *data, gsize size, GError **error);

GVariant *tetherctl_bytes_to_variant (GBytes *bytes);

char *tetherctl_format_time (gint64 unix_seconds);

char *tetherctl_escape_bytes (const guint8 *data, gsize length);

char *tetherctl_format_word (const char *data, gssize length);

G_END_DECLS
