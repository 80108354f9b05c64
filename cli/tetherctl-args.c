/* tetherctl: pure helpers for arguments and output
 *
 * Everything here works on values alone, so test-tetherctl-args checks it
 * without a bus or a daemon.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gunixinputstream.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "tetherctl-args.h"

G_DEFINE_QUARK (tetherctl - error - quark, tetherctl_error)

gboolean
tetherctl_parse_endpoint (const char *endpoint, guint16 default_port, char **out_host,
                          guint16 *out_port, GError **error)
{
	g_autofree char *host = NULL;
	const char *port_text = NULL;
	guint64 port = default_port;

	if (endpoint == NULL || *endpoint == '\0') {
		g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
		             _("The endpoint is empty: give HOST or HOST:PORT"));
		return FALSE;
	}
	if (strstr (endpoint, "://") != NULL) {
		g_set_error (
		        error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
		        _("Endpoint '%s': give HOST[:PORT] without a scheme such as mqtts://"),
		           endpoint);
		return FALSE;
	}

	/* [ADDRESS]:PORT for IPv6; a bare IPv6 address (two colons or more) has no port */
	if (endpoint[0] == '[') {
		const char *close = strchr (endpoint, ']');

		if (close == NULL) {
			g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
			             _("Endpoint '%s' has '[' without ']': write an IPv6 address "
			               "as [ADDRESS]:PORT"),
			                endpoint);
			return FALSE;
		}
		host = g_strndup (endpoint + 1, close - endpoint - 1);
		if (close[1] == ':') {
			port_text = close + 2;
		} else if (close[1] != '\0') {
			g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
			             _("Endpoint '%s': only ':PORT' may follow ']'"), endpoint);
			return FALSE;
		}
	} else {
		const char *colon = strchr (endpoint, ':');

		if (colon != NULL && strchr (colon + 1, ':') == NULL) {
			host = g_strndup (endpoint, colon - endpoint);
			port_text = colon + 1;
		} else {
			host = g_strdup (endpoint);
		}
	}

	if (*host == '\0') {
		g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
		             _("Endpoint '%s' names no host: give HOST or HOST:PORT"), endpoint);
		return FALSE;
	}
	for (const char *p = host; *p != '\0'; p++) {
		if (g_ascii_isspace (*p) || *p == '/' || *p == '[' || *p == ']' || *p == '@') {
			g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
			             _("Endpoint '%s': '%s' is not a host name or address"),
			                endpoint, host);
			return FALSE;
		}
	}
	if (port_text != NULL &&
	    !g_ascii_string_to_unsigned (port_text, 10, 1, G_MAXUINT16, &port, NULL)) {
		g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
		             _("Endpoint '%s': the port '%s' is not a number from 1 to 65535"),
		                endpoint, port_text);
		return FALSE;
	}

	if (out_host != NULL)
		*out_host = g_steal_pointer (&host);
	if (out_port != NULL)
		*out_port = (guint16) port;
	return TRUE;
}

gboolean
tetherctl_split_key_value (const char *argument, char **out_key, char **out_value, GError **error)
{
	const char *equals = strchr (argument, '=');

	if (equals == NULL || equals == argument) {
		g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
		             _("'%s' is not KEY=VALUE"), argument);
		return FALSE;
	}
	*out_key = g_strndup (argument, equals - argument);
	*out_value = g_strdup (equals + 1);
	return TRUE;
}

static GVariant *
parse_boolean (const char *text, GError **error)
{
	const char *yes[] = { "true", "yes", "1" };
	const char *no[] = { "false", "no", "0" };

	for (guint i = 0; i < G_N_ELEMENTS (yes); i++) {
		if (g_ascii_strcasecmp (text, yes[i]) == 0)
			return g_variant_new_boolean (TRUE);
		if (g_ascii_strcasecmp (text, no[i]) == 0)
			return g_variant_new_boolean (FALSE);
	}
	g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
	             _("'%s' is not a boolean: write true or false (or yes/no, 1/0)"), text);
	return NULL;
}

static GVariant *
parse_integer (char type, const char *text, GError **error)
{
	gint64 min = 0;
	gint64 max = 0;
	guint64 umax = 0;
	gint64 value = 0;
	guint64 uvalue = 0;

	switch (type) {
	case 'y':
		umax = G_MAXUINT8;
		break;
	case 'q':
		umax = G_MAXUINT16;
		break;
	case 'u':
		umax = G_MAXUINT32;
		break;
	case 't':
		umax = G_MAXUINT64;
		break;
	case 'n':
		min = G_MININT16;
		max = G_MAXINT16;
		break;
	case 'i':
		min = G_MININT32;
		max = G_MAXINT32;
		break;
	case 'x':
		min = G_MININT64;
		max = G_MAXINT64;
		break;
	default:
		g_assert_not_reached ();
	}

	/* unsigned types */
	if (umax != 0) {
		if (!g_ascii_string_to_unsigned (text, 10, 0, umax, &uvalue, NULL)) {
			g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
			             _("'%s' is not a whole number from 0 to %llu"), text,
			                (unsigned long long) umax);
			return NULL;
		}
		switch (type) {
		case 'y':
			return g_variant_new_byte ((guint8) uvalue);
		case 'q':
			return g_variant_new_uint16 ((guint16) uvalue);
		case 'u':
			return g_variant_new_uint32 ((guint32) uvalue);
		default:
			return g_variant_new_uint64 (uvalue);
		}
	}

	/* signed types */
	if (!g_ascii_string_to_signed (text, 10, min, max, &value, NULL)) {
		g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
		             _("'%s' is not a whole number from %lld to %lld"), text,
		                (long long) min, (long long) max);
		return NULL;
	}
	switch (type) {
	case 'n':
		return g_variant_new_int16 ((gint16) value);
	case 'i':
		return g_variant_new_int32 ((gint32) value);
	default:
		return g_variant_new_int64 (value);
	}
}

static GVariant *
parse_string_list (const char *text, GError **error)
{
	g_autoptr(GVariantBuilder) builder = g_variant_builder_new (G_VARIANT_TYPE_STRING_ARRAY);
	g_auto(GStrv) items = NULL;

	/* an empty text is an empty list */
	if (*text == '\0')
		return g_variant_builder_end (builder);

	items = g_strsplit (text, ",", -1);
	for (guint i = 0; items[i] != NULL; i++) {
		g_strstrip (items[i]);
		if (*items[i] == '\0') {
			g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
			             _("'%s' has an empty item: separate the items with single "
			               "commas"),
			                text);
			return NULL;
		}
		g_variant_builder_add (builder, "s", items[i]);
	}
	return g_variant_builder_end (builder);
}

static GVariant *
parse_string_dict (const char *text, GError **error)
{
	g_autoptr(GVariantBuilder) builder = g_variant_builder_new (G_VARIANT_TYPE ("a{ss}"));
	g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
	g_auto(GStrv) items = NULL;

	if (*text == '\0')
		return g_variant_builder_end (builder);

	items = g_strsplit (text, ",", -1);
	for (guint i = 0; items[i] != NULL; i++) {
		g_autofree char *key = NULL;
		g_autofree char *value = NULL;

		g_strstrip (items[i]);
		if (!tetherctl_split_key_value (items[i], &key, &value, NULL)) {
			g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
			             _("'%s' is not a list of KEY=VALUE pairs: '%s' has no key "
			               "or no '='"),
			                text, items[i]);
			return NULL;
		}
		if (!g_hash_table_add (seen, g_strdup (key))) {
			g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
			             _("'%s' gives the key '%s' twice"), text, key);
			return NULL;
		}
		g_variant_builder_add (builder, "{ss}", key, value);
	}
	return g_variant_builder_end (builder);
}

static GVariant *
variant_from_string (const char *type_string, const char *text, GError **error)
{
	g_autoptr(GError) local_error = NULL;
	GVariant *value;

	if (strchr ("sbyqutnix", type_string[0]) != NULL && type_string[1] == '\0') {
		switch (type_string[0]) {
		case 's':
			return g_variant_new_string (text);
		case 'b':
			return parse_boolean (text, error);
		default:
			return parse_integer (type_string[0], text, error);
		}
	}
	if (g_strcmp0 (type_string, "as") == 0)
		return parse_string_list (text, error);
	if (g_strcmp0 (type_string, "a{ss}") == 0)
		return parse_string_dict (text, error);

	/* every other type in the GVariant text format */
	value = g_variant_parse (G_VARIANT_TYPE (type_string), text, NULL, NULL, &local_error);
	if (value == NULL) {
		g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
		             _("'%s' is not a value of GVariant type '%s': %s"), text, type_string,
		                local_error->message);
		return NULL;
	}
	return value;
}

/* Returns a value that is not floating, or NULL with @error set. */
GVariant *
tetherctl_variant_from_string (const char *type_string, const char *text, GError **error)
{
	GVariant *value;

	if (type_string == NULL || !g_variant_type_string_is_valid (type_string) ||
	    !g_variant_type_is_definite (G_VARIANT_TYPE (type_string))) {
		g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
		             _("'%s' is not a definite GVariant type string"),
		                type_string != NULL ? type_string : "");
		return NULL;
	}
	if (!g_utf8_validate (text, -1, NULL)) {
		g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
		             _("The value is not valid UTF-8"));
		return NULL;
	}

	value = variant_from_string (type_string, text, error);
	if (value == NULL)
		return NULL;
	/* g_variant_parse () gives a full reference, the constructors a floating one */
	return g_variant_take_ref (value);
}

/* The publish options of DESIGN.md, as a{s(ss)} like Cloud1.Options; "properties" has its
 * own flag, --property. */
GVariant *
tetherctl_publish_option_table (void)
{
	g_autoptr(GVariantBuilder) builder = g_variant_builder_new (G_VARIANT_TYPE ("a{s(ss)}"));

	g_variant_builder_add (builder, "{s(ss)}", "topic", "s",
	                       _("the raw MQTT topic, where the cloud allows one"));
	g_variant_builder_add (builder, "{s(ss)}", "expires-in", "u",
	                       _("seconds after which an undelivered message is dropped"));
	g_variant_builder_add (builder, "{s(ss)}", "component", "s",
	                       _("the component of the device the message is about"));
	g_variant_builder_add (builder, "{s(ss)}", "shadow", "s", _("the named shadow"));
	return g_variant_ref_sink (g_variant_builder_end (builder));
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
	return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

static char *
table_names (GVariant *table)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new ();
	GVariantIter iter;
	const char *name;

	g_variant_iter_init (&iter, table);
	while (g_variant_iter_next (&iter, "{&s@(ss)}", &name, NULL))
		g_ptr_array_add (names, (gpointer) name);
	g_ptr_array_sort (names, compare_strings);
	g_ptr_array_add (names, NULL);
	return g_strjoinv (", ", (char **) names->pdata);
}

/* Converts KEY=VALUE @arguments into @dict, each VALUE by the type @table (a{s(ss)}: name ->
 * (type, description)) gives for KEY. @owner names the table's owner in errors, such as
 * "cloud 'thingsboard'". A key given again replaces the value. */
gboolean
tetherctl_options_convert (GVariantDict *dict, const char *const *arguments, GVariant *table,
                           const char *owner, GError **error)
{
	for (guint i = 0; arguments != NULL && arguments[i] != NULL; i++) {
		g_autofree char *key = NULL;
		g_autofree char *text = NULL;
		g_autoptr(GVariant) value = NULL;
		g_autoptr(GError) local_error = NULL;
		const char *type = NULL;

		if (!tetherctl_split_key_value (arguments[i], &key, &text, error))
			return FALSE;

		if (table == NULL || !g_variant_lookup (table, key, "(&s&s)", &type, NULL)) {
			g_autofree char *names = table != NULL ? table_names (table) : NULL;

			if (names == NULL || *names == '\0')
				g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
				             _("%s has no options, so '%s' cannot be set"), owner,
				                key);
			else
				g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
				             _("%s has no option '%s'; its options are: %s"),
				                owner, key, names);
			return FALSE;
		}

		value = tetherctl_variant_from_string (type, text, &local_error);
		if (value == NULL) {
			g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
			                            _("Option '%s': "), key);
			return FALSE;
		}
		g_variant_dict_insert_value (dict, key, value);
	}
	return TRUE;
}

/* --property KEY=VALUE... as a{ss}; not floating. */
GVariant *
tetherctl_properties_from_arguments (const char *const *arguments, GError **error)
{
	g_autoptr(GVariantBuilder) builder = g_variant_builder_new (G_VARIANT_TYPE ("a{ss}"));
	g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

	for (guint i = 0; arguments != NULL && arguments[i] != NULL; i++) {
		g_autofree char *key = NULL;
		g_autofree char *value = NULL;

		if (!tetherctl_split_key_value (arguments[i], &key, &value, error))
			return NULL;
		if (!g_utf8_validate (arguments[i], -1, NULL)) {
			g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
			             _("Property '%s' is not valid UTF-8"), key);
			return NULL;
		}
		if (!g_hash_table_add (seen, g_strdup (key))) {
			g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE,
			             _("Property '%s' is given twice"), key);
			return NULL;
		}
		g_variant_builder_add (builder, "{ss}", key, value);
	}
	return g_variant_ref_sink (g_variant_builder_end (builder));
}

/* All of @input, or NULL when it holds more than @limit bytes: it stops reading there, so a
 * stream without an end (/dev/zero) costs no more than the limit. */
static GBytes *
read_bounded (GInputStream *input, gsize limit, gboolean *out_too_large, GError **error)
{
	g_autoptr(GByteArray) data = g_byte_array_new ();
	guint8 buffer[64 * 1024];

	*out_too_large = FALSE;
	for (;;) {
		/* one byte past the limit tells a stream that is too large from one that fits */
		gsize wanted = MIN (sizeof buffer, limit + 1 - data->len);
		gssize got = g_input_stream_read (input, buffer, wanted, NULL, error);

		if (got < 0)
			return NULL;
		if (got == 0)
			break;
		g_byte_array_append (data, buffer, (guint) got);
		if (data->len > limit) {
			*out_too_large = TRUE;
			return NULL;
		}
	}
	return g_byte_array_free_to_bytes (g_steal_pointer (&data));
}

static GBytes *
read_standard_input (GInputStream *input, gsize limit, gboolean *out_too_large, GError **error)
{
	g_autoptr(GError) local_error = NULL;
	GBytes *bytes = read_bounded (input, limit, out_too_large, &local_error);

	if (local_error != NULL)
		g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
		             _("Cannot read standard input: %s"), local_error->message);
	return bytes;
}

/* PAYLOAD|-: the argument's bytes exactly (no NUL, no newline), or all of @input for "-", up
 * to TETHERCTL_PAYLOAD_MAX bytes. */
GBytes *
tetherctl_read_payload (const char *argument, GInputStream *input, GError **error)
{
	gboolean too_large = FALSE;
	GBytes *bytes;

	if (g_strcmp0 (argument, "-") != 0) {
		bytes = g_bytes_new (argument, strlen (argument));
		too_large = g_bytes_get_size (bytes) > TETHERCTL_PAYLOAD_MAX;
	} else {
		bytes = read_standard_input (input, TETHERCTL_PAYLOAD_MAX, &too_large, error);
	}
	if (too_large) {
		g_clear_pointer (&bytes, g_bytes_unref);
		g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
		             _("The payload is larger than %u MiB, more than any cloud accepts"),
		                (guint) (TETHERCTL_PAYLOAD_MAX / (1024 * 1024)));
	}
	return bytes;
}

static GBytes *
read_named_file (const char *path, gboolean *out_too_large, GError **error)
{
	g_autoptr(GInputStream) input = NULL;
	g_autoptr(GError) local_error = NULL;
	GBytes *bytes;
	struct stat st;
	int fd;

	*out_too_large = FALSE;
	fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0);
	if (fd < 0) {
		int saved = errno;

		g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
		             _("Cannot open '%s': %s"), path, g_strerror (saved));
		return NULL;
	}
	input = g_unix_input_stream_new (fd, TRUE);
	if (fstat (fd, &st) == 0 && S_ISDIR (st.st_mode)) {
		g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_ISDIR,
		             _("Cannot read '%s': it is a directory"), path);
		return NULL;
	}

	/* a device or a FIFO is read as far as the limit, as a regular file is */
	bytes = read_bounded (input, TETHERCTL_FILE_MAX, out_too_large, &local_error);
	if (local_error != NULL)
		g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
		             _("Cannot read '%s': %s"), path, local_error->message);
	return bytes;
}

/* FILE|-: the file's bytes, or all of @input for "-", up to TETHERCTL_FILE_MAX bytes. */
GBytes *
tetherctl_read_file (const char *path, GInputStream *input, GError **error)
{
	gboolean too_large = FALSE;
	GBytes *bytes;

	if (g_strcmp0 (path, "-") == 0)
		bytes = read_standard_input (input, TETHERCTL_FILE_MAX, &too_large, error);
	else
		bytes = read_named_file (path, &too_large, error);
	if (!too_large)
		return bytes;

	if (g_strcmp0 (path, "-") == 0)
		g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
		             _("Standard input holds more than %u MiB, more than any certificate, "
		               "key or trust anchor"),
		                (guint) (TETHERCTL_FILE_MAX / (1024 * 1024)));
	else
		g_set_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED,
		             _("'%s' is larger than %u MiB, more than any certificate, key or "
		               "trust anchor"),
		                path, (guint) (TETHERCTL_FILE_MAX / (1024 * 1024)));
	return NULL;
}

/* @path with its symbolic links followed as far as they lead: the name of the file itself,
 * which need not exist yet */
static char *
follow_links (const char *path, GError **error)
{
	g_autofree char *current = g_strdup (path);

	/* as many links as Linux follows in one path (MAXSYMLINKS) */
	for (guint i = 0; i <= 40; i++) {
		g_autofree char *target = NULL;
		g_autofree char *dir = NULL;
		struct stat st;

		if (g_lstat (current, &st) != 0 || !S_ISLNK (st.st_mode))
			return g_steal_pointer (&current);
		target = g_file_read_link (current, error);
		if (target == NULL)
			return NULL;
		/* a relative target is relative to the link's directory */
		dir = g_path_get_dirname (current);
		g_free (current);
		current = g_path_is_absolute (target) ? g_steal_pointer (&target)
		                                      : g_build_filename (dir, target, NULL);
	}
	g_set_error_literal (error, G_FILE_ERROR, G_FILE_ERROR_LOOP, g_strerror (ELOOP));
	return NULL;
}

/* The file tetherctl_write_file() writes for @path, and whether it writes into what is there
 * (a device, a FIFO) rather than replacing it. */
static char *
output_target (const char *path, gboolean *out_into, GError **error)
{
	g_autofree char *target = follow_links (path, error);
	struct stat st;

	*out_into = FALSE;
	if (target == NULL)
		return NULL;
	if (g_stat (target, &st) != 0)
		return g_steal_pointer (&target);
	if (S_ISDIR (st.st_mode)) {
		g_set_error_literal (error, G_FILE_ERROR, G_FILE_ERROR_ISDIR,
		                     _("it is a directory, not a file"));
		return NULL;
	}
	*out_into = !S_ISREG (st.st_mode);
	return g_steal_pointer (&target);
}

/* Whether tetherctl_write_file() can write @path: for a command to check before it changes
 * anything. The error says what stands in the way; the caller names @path. */
gboolean
tetherctl_check_output (const char *path, GError **error)
{
	g_autofree char *target = NULL;
	g_autofree char *dir = NULL;
	gboolean into = FALSE;
	int saved;

	target = output_target (path, &into, error);
	if (target == NULL)
		return FALSE;

	if (into) {
		if (g_access (target, W_OK) == 0)
			return TRUE;
		saved = errno;
		g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
		             _("it is not writable (%s)"), g_strerror (saved));
		return FALSE;
	}

	/* the file is replaced by a new one made beside it */
	dir = g_path_get_dirname (target);
	if (g_access (dir, W_OK) == 0)
		return TRUE;
	saved = errno;
	if (saved == ENOENT)
		g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
		             _("the directory '%s' does not exist"), dir);
	else
		g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
		             _("the directory '%s' is not writable (%s)"), dir,
		                g_strerror (saved));
	return FALSE;
}

static gboolean
write_all (int fd, const char *data, gsize size, GError **error)
{
	while (size > 0) {
		gssize written = write (fd, data, size);

		if (written < 0) {
			int saved = errno;

			if (saved == EINTR)
				continue;
			g_set_error_literal (error, G_FILE_ERROR, g_file_error_from_errno (saved),
			                     g_strerror (saved));
			return FALSE;
		}
		data += written;
		size -= (gsize) written;
	}
	return TRUE;
}

/* writes into the device or FIFO at @path: opening it neither creates nor truncates */
static gboolean
write_into (const char *path, const char *data, gsize size, GError **error)
{
	int fd = g_open (path, O_WRONLY | O_CLOEXEC | O_NOCTTY, 0);

	if (fd < 0) {
		int saved = errno;

		g_set_error_literal (error, G_FILE_ERROR, g_file_error_from_errno (saved),
		                     g_strerror (saved));
		return FALSE;
	}
	if (!write_all (fd, data, size, error)) {
		g_close (fd, NULL);
		return FALSE;
	}
	return g_close (fd, error);
}

/* Writes @data to @path. A regular file, or a name not yet taken, is replaced whole: a new
 * file is written beside it and renamed over it, so no reader sees half of it. What else is
 * there (a device such as /dev/null, a FIFO) is written into, never replaced. A symbolic link
 * is followed to the file it names, which is then written as if named itself: the link stays
 * a link, and its target is still replaced whole. As for tetherctl_check_output(), the caller
 * names @path in the error. */
gboolean
tetherctl_write_file (const char *path, const char *data, gsize size, GError **error)
{
	g_autofree char *target = NULL;
	gboolean into = FALSE;

	target = output_target (path, &into, error);
	if (target == NULL)
		return FALSE;
	if (into)
		return write_into (target, data, size, error);
	return g_file_set_contents (target, data, (gssize) size, error);
}

/* An "ay" of exactly the bytes: never g_variant_new_bytestring, which appends a NUL. */
GVariant *
tetherctl_bytes_to_variant (GBytes *bytes)
{
	return g_variant_ref_sink (
	        g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, bytes, TRUE));
}

/* ISO 8601 in UTC, or NULL for 0 (none). */
char *
tetherctl_format_time (gint64 unix_seconds)
{
	g_autoptr(GDateTime) time = NULL;

	if (unix_seconds == 0)
		return NULL;
	time = g_date_time_new_from_unix_utc (unix_seconds);
	if (time == NULL)
		return g_strdup_printf ("%" G_GINT64_FORMAT, unix_seconds);
	return g_date_time_format_iso8601 (time);
}

/* Text for one line: valid UTF-8 is kept, control characters and bytes that are not UTF-8
 * become C escapes (\n, \t, \xNN), and a backslash becomes two. */
char *
tetherctl_escape_bytes (const guint8 *data, gsize length)
{
	GString *out = g_string_sized_new (length);
	gsize i = 0;

	while (i < length) {
		const char *p = (const char *) data + i;
		gunichar c = g_utf8_get_char_validated (p, length - i);

		if (c == (gunichar) -1 || c == (gunichar) -2 || c == 0) {
			g_string_append_printf (out, "\\x%02x", data[i]);
			i++;
			continue;
		}
		switch (c) {
		case '\\':
			g_string_append (out, "\\\\");
			break;
		case '\n':
			g_string_append (out, "\\n");
			break;
		case '\r':
			g_string_append (out, "\\r");
			break;
		case '\t':
			g_string_append (out, "\\t");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				g_string_append_printf (out, "\\x%02x", (guint) c);
			else
				g_string_append_len (out, p, g_utf8_next_char (p) - p);
		}
		i += g_utf8_next_char (p) - p;
	}
	return g_string_free (out, FALSE);
}

/* One word of a KEY=VALUE line: @data (@length bytes, or up to its NUL for -1) escaped as
 * tetherctl_escape_bytes does, and in double quotes, with a double quote escaped, when it is
 * empty or holds a space or a double quote. */
char *
tetherctl_format_word (const char *data, gssize length)
{
	gsize size = length < 0 ? strlen (data) : (gsize) length;
	g_autofree char *escaped = tetherctl_escape_bytes ((const guint8 *) data, size);
	GString *quoted;

	if (*escaped != '\0' && strpbrk (escaped, " \"") == NULL)
		return g_steal_pointer (&escaped);

	quoted = g_string_new ("\"");
	for (const char *p = escaped; *p != '\0'; p++) {
		if (*p == '"')
			g_string_append_c (quoted, '\\');
		g_string_append_c (quoted, *p);
	}
	g_string_append_c (quoted, '"');
	return g_string_free (quoted, FALSE);
}
