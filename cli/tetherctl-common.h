/* tetherctl: what every command shares (the bus, proxies, option parsing, output)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "tether-dbus.h"
#include "tetherctl-args.h"

G_BEGIN_DECLS

#define TETHERCTL_BUS_NAME     "org.tether.Tether1"
#define TETHERCTL_MANAGER_PATH "/org/tether/Tether1"

/* Admin methods may need polkit; let it ask when an agent is there. */
#define TETHERCTL_CALL_FLAGS G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION
/* The proxy's default (25 s), and the one for calls that wait on the network or make keys. */
#define TETHERCTL_TIMEOUT      -1
#define TETHERCTL_TIMEOUT_LONG 120000

typedef struct {
	gboolean session;
	gboolean json;
	/* the command being run, such as "connection add", for usage hints */
	char *command;
	GInputStream *input;
	GDBusConnection *bus;
	TetherDBusTether1 *manager;
} TetherctlContext;

void tetherctl_context_clear (TetherctlContext *ctx);

/* A command: args[0] is the program name, then the arguments after the command's name. */
typedef gboolean (*TetherctlRunFunc) (TetherctlContext *ctx, char **args, GError **error);

typedef struct {
	const char *name;
	const char *summary; /* N_() */
	TetherctlRunFunc run;
} TetherctlCommand;

typedef struct {
	const char *parameters;  /* positional arguments, as shown in --help */
	const char *summary;     /* N_() */
	const char *description; /* N_(), or NULL */
	const GOptionEntry *entries;
	guint min_args;
	guint max_args;
} TetherctlUsage;

void tetherctl_add_global_options (GOptionContext *octx, TetherctlContext *ctx);

GStrv tetherctl_parse_command (TetherctlContext *ctx, const TetherctlUsage *usage, char **args,
                               GError **error);

gboolean tetherctl_usage_error (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* D-Bus */
TetherDBusTether1 *tetherctl_manager (TetherctlContext *ctx, GError **error);

gpointer tetherctl_object_proxy (TetherctlContext *ctx, GType proxy_type,
                                 const char *interface_name, const char *path, GError **error);

GPtrArray *tetherctl_object_proxies (TetherctlContext *ctx, GType proxy_type,
                                     const char *interface_name, const char *const *paths,
                                     GError **error);

TetherDBusConnection1 *tetherctl_get_connection (TetherctlContext *ctx, const char *id,
                                                 GError **error);
TetherDBusCloud1 *tetherctl_get_cloud (TetherctlContext *ctx, const char *name, GError **error);
TetherDBusTrustAnchor1 *tetherctl_get_anchor (TetherctlContext *ctx, const char *name,
                                              GError **error);
TetherDBusIdentity1 *tetherctl_get_identity (TetherctlContext *ctx, const char *name,
                                             GError **error);

char *tetherctl_object_name (TetherctlContext *ctx, const char *path, const char *interface_name,
                             const char *property);

GVariant *tetherctl_no_options (void);

/* Output. For people: "key: value" lines and aligned tables, "-" for empty values. */
void tetherctl_print (const char *format, ...) G_GNUC_PRINTF (1, 2);
void tetherctl_print_warnings (const char *const *warnings);
void tetherctl_print_field (const char *key, const char *value);
void tetherctl_print_field_strv (const char *key, const char *const *values);
void tetherctl_print_field_time (const char *key, gint64 unix_seconds);
void tetherctl_print_field_bool (const char *key, gboolean value);
void tetherctl_print_field_uint64 (const char *key, guint64 value);
void tetherctl_print_field_dict (const char *key, GVariant *dict);
void tetherctl_print_dict_fields (GVariant *dict, const char *indent,
                                  const char *const *first_keys);
void tetherctl_print_certificates (GVariant *certificates);

const char *tetherctl_yes_no (gboolean value);
char *tetherctl_join (const char *const *values);
char *tetherctl_time_text (gint64 unix_seconds);
char *tetherctl_variant_text (GVariant *value);
char *tetherctl_dict_text (GVariant *dict);

typedef struct _TetherctlTable TetherctlTable;

TetherctlTable *tetherctl_table_new (const char *first_header, ...) G_GNUC_NULL_TERMINATED;
void tetherctl_table_add (TetherctlTable *table, const char *first_cell,
                          ...) G_GNUC_NULL_TERMINATED;
void tetherctl_table_print (TetherctlTable *table);
void tetherctl_table_free (TetherctlTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TetherctlTable, tetherctl_table_free)

/* Output for scripts: JSON, members named after the D-Bus properties in kebab-case. */
void tetherctl_print_json (JsonBuilder *builder);
void tetherctl_print_json_node (JsonNode *node);
void tetherctl_json_string (JsonBuilder *builder, const char *member, const char *value);
void tetherctl_json_strv (JsonBuilder *builder, const char *member, const char *const *values);
void tetherctl_json_int (JsonBuilder *builder, const char *member, gint64 value);
void tetherctl_json_bool (JsonBuilder *builder, const char *member, gboolean value);
void tetherctl_json_variant (JsonBuilder *builder, const char *member, GVariant *value);

G_END_DECLS
