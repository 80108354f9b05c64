/* Unit tests for tetherctl's pure helpers: endpoints, values by type string, options,
 * payloads and files, the files --out writes, and the text the monitor prints.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <fcntl.h>
#include <locale.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "tetherctl-args.h"

static void
check_endpoint (const char *endpoint, const char *host, guint16 port)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *out_host = NULL;
	guint16 out_port = 0;

	g_test_message ("endpoint '%s'", endpoint);
	g_assert_true (tetherctl_parse_endpoint (endpoint, 8883, &out_host, &out_port, &error));
	g_assert_no_error (error);
	g_assert_cmpstr (out_host, ==, host);
	g_assert_cmpuint (out_port, ==, port);
}

static void
test_endpoint_valid (void)
{
	check_endpoint ("broker.example", "broker.example", 8883);
	check_endpoint ("broker.example:1883", "broker.example", 1883);
	check_endpoint ("192.0.2.1:65535", "192.0.2.1", 65535);
	check_endpoint ("h:1", "h", 1);
	check_endpoint ("[2001:db8::1]:8884", "2001:db8::1", 8884);
	check_endpoint ("[::1]", "::1", 8883);
	/* a bare IPv6 address has no port */
	check_endpoint ("2001:db8::1", "2001:db8::1", 8883);
	check_endpoint ("::1", "::1", 8883);
}

static void
test_endpoint_invalid (void)
{
	const char *invalid[] = {
		"",         ":1883",       "broker:",          "broker:0", "broker:65536",
		"broker:x", "broker:-1",   "broker:18 83",     "[::1",     "[::1]1883",
		"[::1]:",   "[]:1883",     "mqtts://broker:1", "a b:1",    "host/path",
		"[a]b]:1",  "user@host:1", "broker:+1883",
	};

	for (guint i = 0; i < G_N_ELEMENTS (invalid); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *host = NULL;
		guint16 port = 0;

		g_test_message ("endpoint '%s'", invalid[i]);
		g_assert_false (tetherctl_parse_endpoint (invalid[i], 8883, &host, &port, &error));
		g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE);
		g_assert_null (host);
	}
}

static void
test_split_key_value (void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *key = NULL;
	g_autofree char *value = NULL;
	char *k = NULL;
	char *v = NULL;

	g_assert_true (tetherctl_split_key_value ("a=b=c", &key, &value, &error));
	g_assert_no_error (error);
	g_assert_cmpstr (key, ==, "a");
	g_assert_cmpstr (value, ==, "b=c");
	g_clear_pointer (&key, g_free);
	g_clear_pointer (&value, g_free);

	g_assert_true (tetherctl_split_key_value ("empty=", &key, &value, &error));
	g_assert_cmpstr (key, ==, "empty");
	g_assert_cmpstr (value, ==, "");

	g_assert_false (tetherctl_split_key_value ("=x", &k, &v, &error));
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE);
	g_clear_error (&error);
	g_assert_false (tetherctl_split_key_value ("novalue", &k, &v, &error));
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE);
	g_assert_null (k);
	g_assert_null (v);
}

/* Converts @text by @type and compares the result, in the GVariant text format with types,
 * to @expected. */
static void
check_value (const char *type, const char *text, const char *expected)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) value = NULL;
	g_autoptr(GVariant) want = NULL;

	g_test_message ("'%s' as '%s'", text, type);
	value = tetherctl_variant_from_string (type, text, &error);
	g_assert_no_error (error);
	g_assert_nonnull (value);
	g_assert_false (g_variant_is_floating (value));
	g_assert_cmpstr (g_variant_get_type_string (value), ==, type);
	want = g_variant_parse (G_VARIANT_TYPE (type), expected, NULL, NULL, &error);
	g_assert_no_error (error);
	g_assert_true (g_variant_equal (value, want));
}

static void
check_value_error (const char *type, const char *text, int code)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) value = NULL;

	g_test_message ("'%s' as '%s' fails", text, type);
	value = tetherctl_variant_from_string (type, text, &error);
	g_assert_null (value);
	g_assert_error (error, TETHERCTL_ERROR, code);
	/* the message quotes the value */
	g_assert_nonnull (strstr (error->message, text));
}

static void
test_value_string_and_boolean (void)
{
	check_value ("s", "hello world", "'hello world'");
	check_value ("s", "", "''");
	check_value ("s", "a,b=c", "'a,b=c'");

	check_value ("b", "true", "true");
	check_value ("b", "TRUE", "true");
	check_value ("b", "yes", "true");
	check_value ("b", "1", "true");
	check_value ("b", "false", "false");
	check_value ("b", "No", "false");
	check_value ("b", "0", "false");
	check_value_error ("b", "maybe", TETHERCTL_ERROR_USAGE);
	check_value_error ("b", "", TETHERCTL_ERROR_USAGE);
	check_value_error ("b", "2", TETHERCTL_ERROR_USAGE);
}

static void
test_value_integers (void)
{
	check_value ("y", "0", "byte 0");
	check_value ("y", "255", "byte 255");
	check_value_error ("y", "256", TETHERCTL_ERROR_USAGE);
	check_value ("q", "65535", "65535");
	check_value_error ("q", "65536", TETHERCTL_ERROR_USAGE);
	check_value ("u", "0", "0");
	check_value ("u", "4294967295", "4294967295");
	check_value_error ("u", "4294967296", TETHERCTL_ERROR_USAGE);
	check_value_error ("u", "-1", TETHERCTL_ERROR_USAGE);
	check_value ("t", "18446744073709551615", "18446744073709551615");
	check_value_error ("t", "18446744073709551616", TETHERCTL_ERROR_USAGE);
	check_value ("n", "-32768", "-32768");
	check_value_error ("n", "-32769", TETHERCTL_ERROR_USAGE);
	check_value ("i", "-2147483648", "-2147483648");
	check_value ("i", "2147483647", "2147483647");
	check_value_error ("i", "2147483648", TETHERCTL_ERROR_USAGE);
	check_value ("x", "-9223372036854775808", "int64 -9223372036854775808");
	check_value_error ("x", "9223372036854775808", TETHERCTL_ERROR_USAGE);

	/* not numbers at all */
	check_value_error ("u", "", TETHERCTL_ERROR_USAGE);
	check_value_error ("u", "12a", TETHERCTL_ERROR_USAGE);
	check_value_error ("u", " 12", TETHERCTL_ERROR_USAGE);
	check_value_error ("i", "1.5", TETHERCTL_ERROR_USAGE);
	check_value_error ("x", "0x10", TETHERCTL_ERROR_USAGE);
}

static void
test_value_containers (void)
{
	check_value ("as", "a,b,c", "['a', 'b', 'c']");
	check_value ("as", " a , b ", "['a', 'b']");
	check_value ("as", "one", "['one']");
	check_value ("as", "", "@as []");
	check_value_error ("as", "a,,b", TETHERCTL_ERROR_USAGE);
	check_value_error ("as", "a,", TETHERCTL_ERROR_USAGE);

	check_value ("a{ss}", "k=v,x=y=z", "{'k': 'v', 'x': 'y=z'}");
	check_value ("a{ss}", " k = v ", "{'k ': ' v'}");
	check_value ("a{ss}", "k=", "{'k': ''}");
	check_value ("a{ss}", "", "@a{ss} {}");
	check_value_error ("a{ss}", "k", TETHERCTL_ERROR_USAGE);
	check_value_error ("a{ss}", "k=1,k=2", TETHERCTL_ERROR_USAGE);
	check_value_error ("a{ss}", "=v", TETHERCTL_ERROR_USAGE);
}

static void
test_value_parsed (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) value = NULL;

	/* anything else goes through the GVariant text format, with the type given */
	check_value ("d", "1.5", "1.5");
	check_value ("d", "2", "2.0");
	check_value ("(si)", "('a', 1)", "('a', 1)");
	check_value ("ai", "[1, 2]", "[1, 2]");
	check_value ("a{sv}", "{'a': <1>}", "{'a': <1>}");
	check_value_error ("d", "abc", TETHERCTL_ERROR_USAGE);
	check_value_error ("ai", "[1, 'x']", TETHERCTL_ERROR_USAGE);

	/* a type the daemon should never give */
	value = tetherctl_variant_from_string ("z", "1", &error);
	g_assert_null (value);
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED);
	g_clear_error (&error);
	value = tetherctl_variant_from_string ("a*", "1", &error);
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED);
	g_clear_error (&error);
	value = tetherctl_variant_from_string ("", "1", &error);
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED);
	g_clear_error (&error);

	/* text that is not UTF-8 */
	value = tetherctl_variant_from_string ("s", "\xff", &error);
	g_assert_null (value);
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE);
}

static GVariant *
cloud_table (void)
{
	return g_variant_ref_sink (g_variant_new_parsed (
	        "{'access-token': ('s', 'the token'), 'port': ('q', 'a port'), "
	        "'tags': ('as', 'tags')}"));
}

static void
test_options_convert (void)
{
	g_autoptr(GVariant) table = cloud_table ();
	g_autoptr(GVariant) current = g_variant_ref_sink (
	        g_variant_new_parsed ("{'access-token': <'old'>, 'other': <true>}"));
	g_autoptr(GVariantDict) dict = g_variant_dict_new (current);
	g_autoptr(GVariant) result = NULL;
	g_autoptr(GVariant) want = NULL;
	g_autoptr(GError) error = NULL;
	const char *arguments[] = { "access-token=new", "port=1883", "tags=a,b", NULL };

	/* merged into the present options: "other" stays */
	g_assert_true (tetherctl_options_convert (dict, arguments, table, "Cloud 'tb'", &error));
	g_assert_no_error (error);
	result = g_variant_ref_sink (g_variant_dict_end (dict));
	want = g_variant_ref_sink (g_variant_new_parsed (
	        "{'access-token': <'new'>, 'other': <true>, 'port': <uint16 1883>, "
	        "'tags': <['a', 'b']>}"));
	g_assert_cmpuint (g_variant_n_children (result), ==, 4);
	for (gsize i = 0; i < g_variant_n_children (want); i++) {
		const char *key;
		g_autoptr(GVariant) value = NULL;
		g_autoptr(GVariant) got = NULL;

		g_variant_get_child (want, i, "{&sv}", &key, &value);
		got = g_variant_lookup_value (result, key, NULL);
		g_assert_nonnull (got);
		g_assert_true (g_variant_equal (got, value));
	}
}

static void
test_options_errors (void)
{
	g_autoptr(GVariant) table = cloud_table ();
	g_autoptr(GVariant) empty = g_variant_ref_sink (g_variant_new_parsed ("@a{s(ss)} {}"));
	g_autoptr(GVariantDict) dict = g_variant_dict_new (NULL);
	g_autoptr(GError) error = NULL;
	const char *unknown[] = { "nope=1", NULL };
	const char *bad_value[] = { "port=99999", NULL };
	const char *no_equals[] = { "port", NULL };

	/* an unknown key lists the cloud's options, sorted */
	g_assert_false (tetherctl_options_convert (dict, unknown, table, "Cloud 'tb'", &error));
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE);
	g_assert_nonnull (strstr (error->message, "Cloud 'tb'"));
	g_assert_nonnull (strstr (error->message, "'nope'"));
	g_assert_nonnull (strstr (error->message, "access-token, port, tags"));
	g_clear_error (&error);

	g_assert_false (tetherctl_options_convert (dict, unknown, empty, "Cloud 'x'", &error));
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE);
	g_assert_nonnull (strstr (error->message, "no options"));
	g_clear_error (&error);

	/* a bad value names the option */
	g_assert_false (tetherctl_options_convert (dict, bad_value, table, "Cloud 'tb'", &error));
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE);
	g_assert_nonnull (strstr (error->message, "'port'"));
	g_assert_nonnull (strstr (error->message, "99999"));
	g_clear_error (&error);

	g_assert_false (tetherctl_options_convert (dict, no_equals, table, "Cloud 'tb'", &error));
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE);
}

static void
test_publish_options (void)
{
	g_autoptr(GVariant) table = tetherctl_publish_option_table ();
	g_autoptr(GVariantDict) dict = g_variant_dict_new (NULL);
	g_autoptr(GError) error = NULL;
	const char *arguments[] = { "topic=a/b", "expires-in=60", "component=pump", "shadow=config",
		                    NULL };
	const char *properties_option[] = { "properties=a=b", NULL };
	const char *type = NULL;
	guint32 expires_in = 0;

	g_assert_cmpuint (g_variant_n_children (table), ==, 4);
	g_assert_true (g_variant_lookup (table, "expires-in", "(&s&s)", &type, NULL));
	g_assert_cmpstr (type, ==, "u");

	g_assert_true (tetherctl_options_convert (dict, arguments, table, "publish", &error));
	g_assert_no_error (error);
	g_assert_true (g_variant_dict_lookup (dict, "expires-in", "u", &expires_in));
	g_assert_cmpuint (expires_in, ==, 60);
	g_assert_true (g_variant_dict_contains (dict, "shadow"));

	/* properties have their own flag */
	g_assert_false (
	        tetherctl_options_convert (dict, properties_option, table, "publish", &error));
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE);
}

static void
test_properties (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) value = NULL;
	g_autoptr(GVariant) want = NULL;
	const char *good[] = { "a=1", "b=x=y", "c=", NULL };
	const char *twice[] = { "a=1", "a=2", NULL };
	const char *no_key[] = { "=1", NULL };

	value = tetherctl_properties_from_arguments (good, &error);
	g_assert_no_error (error);
	want = g_variant_ref_sink (g_variant_new_parsed ("{'a': '1', 'b': 'x=y', 'c': ''}"));
	g_assert_true (g_variant_equal (value, want));
	g_clear_pointer (&value, g_variant_unref);

	value = tetherctl_properties_from_arguments (twice, &error);
	g_assert_null (value);
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE);
	g_clear_error (&error);
	value = tetherctl_properties_from_arguments (no_key, &error);
	g_assert_null (value);
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE);
}

static void
test_payload_argument (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInputStream) input = g_memory_input_stream_new ();
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GVariant) value = NULL;

	/* the argument's bytes exactly: no NUL, no newline */
	bytes = tetherctl_read_payload ("{\"t\":21}", input, &error);
	g_assert_no_error (error);
	g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), "{\"t\":21}", 8);
	value = tetherctl_bytes_to_variant (bytes);
	g_assert_cmpstr (g_variant_get_type_string (value), ==, "ay");
	g_assert_cmpuint (g_variant_n_children (value), ==, 8);
	g_assert_cmpuint (g_variant_get_size (value), ==, 8);
	g_clear_pointer (&bytes, g_bytes_unref);
	g_clear_pointer (&value, g_variant_unref);

	/* an empty payload is zero bytes */
	bytes = tetherctl_read_payload ("", input, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (g_bytes_get_size (bytes), ==, 0);
	value = tetherctl_bytes_to_variant (bytes);
	g_assert_cmpuint (g_variant_n_children (value), ==, 0);
}

static void
test_payload_stdin (void)
{
	const guint8 data[] = { 'a', 0, 'b', '\n', 0xff, 0 };
	g_autoptr(GError) error = NULL;
	g_autoptr(GInputStream) input =
	                   g_memory_input_stream_new_from_data (data, sizeof data, NULL);
	g_autoptr(GInputStream) empty = g_memory_input_stream_new ();
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GVariant) value = NULL;
	gsize length = 0;
	const guint8 *elements;

	/* "-": standard input to its end, binary-safe, NULs and all */
	bytes = tetherctl_read_payload ("-", input, &error);
	g_assert_no_error (error);
	g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), data,
	                 sizeof data);
	value = tetherctl_bytes_to_variant (bytes);
	elements = g_variant_get_fixed_array (value, &length, 1);
	g_assert_cmpmem (elements, length, data, sizeof data);
	g_clear_pointer (&bytes, g_bytes_unref);

	bytes = tetherctl_read_payload ("-", empty, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (g_bytes_get_size (bytes), ==, 0);
}

static void
test_read_file (void)
{
	const char data[] = "-----BEGIN\0binary\xff";
	g_autoptr(GError) error = NULL;
	g_autoptr(GInputStream) input =
	                   g_memory_input_stream_new_from_data ("from stdin", 10, NULL);
	g_autoptr(GBytes) bytes = NULL;
	g_autofree char *path = NULL;
	int fd;

	fd = g_file_open_tmp ("test-tetherctl-XXXXXX", &path, &error);
	g_assert_no_error (error);
	g_close (fd, NULL);
	g_assert_true (g_file_set_contents (path, data, sizeof data - 1, &error));

	bytes = tetherctl_read_file (path, input, &error);
	g_assert_no_error (error);
	g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), data,
	                 sizeof data - 1);
	g_clear_pointer (&bytes, g_bytes_unref);
	g_unlink (path);

	bytes = tetherctl_read_file ("-", input, &error);
	g_assert_no_error (error);
	g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), "from stdin",
	                 10);
	g_clear_pointer (&bytes, g_bytes_unref);

	/* the error names the file */
	bytes = tetherctl_read_file (path, input, &error);
	g_assert_null (bytes);
	g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	g_assert_nonnull (strstr (error->message, path));
}

/* a GInputStream of @size zero bytes */
static GInputStream *
zeroes_stream (gsize size)
{
	g_autoptr(GBytes) bytes = g_bytes_new_take (g_malloc0 (size), size);

	return g_memory_input_stream_new_from_bytes (bytes);
}

/* a file of @size zero bytes that takes no room on disk */
static char *
sparse_file (gsize size)
{
	g_autoptr(GError) error = NULL;
	char *path = NULL;
	int fd;

	fd = g_file_open_tmp ("test-tetherctl-XXXXXX", &path, &error);
	g_assert_no_error (error);
	g_assert_cmpint (ftruncate (fd, (off_t) size), ==, 0);
	g_close (fd, NULL);
	return path;
}

/* stdin and files are read as far as their limit and no further: /dev/zero never ends */
static void
test_read_limits (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInputStream) input = NULL;
	g_autoptr(GFileInputStream) endless = NULL;
	g_autoptr(GFile) zero = g_file_new_for_path ("/dev/zero");
	g_autoptr(GBytes) bytes = NULL;
	g_autofree char *at_limit = sparse_file (TETHERCTL_FILE_MAX);
	g_autofree char *over_limit = sparse_file (TETHERCTL_FILE_MAX + 1);

	/* a payload of the limit is read whole; one byte more is refused, naming the limit */
	input = zeroes_stream (TETHERCTL_PAYLOAD_MAX);
	bytes = tetherctl_read_payload ("-", input, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (g_bytes_get_size (bytes), ==, TETHERCTL_PAYLOAD_MAX);
	g_clear_pointer (&bytes, g_bytes_unref);
	g_clear_object (&input);
	input = zeroes_stream (TETHERCTL_PAYLOAD_MAX + 1);
	bytes = tetherctl_read_payload ("-", input, &error);
	g_assert_null (bytes);
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED);
	g_assert_cmpstr (error->message, ==,
	                 "The payload is larger than 16 MiB, more than any cloud accepts");
	g_clear_error (&error);

	/* a payload without an end */
	endless = g_file_read (zero, NULL, &error);
	g_assert_no_error (error);
	bytes = tetherctl_read_payload ("-", G_INPUT_STREAM (endless), &error);
	g_assert_null (bytes);
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED);
	g_clear_error (&error);

	/* files, and a file from stdin */
	bytes = tetherctl_read_file (at_limit, input, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (g_bytes_get_size (bytes), ==, TETHERCTL_FILE_MAX);
	g_clear_pointer (&bytes, g_bytes_unref);
	bytes = tetherctl_read_file (over_limit, input, &error);
	g_assert_null (bytes);
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED);
	g_assert_nonnull (strstr (error->message, over_limit));
	g_assert_nonnull (strstr (error->message, "larger than 8 MiB"));
	g_clear_error (&error);
	bytes = tetherctl_read_file ("/dev/zero", input, &error);
	g_assert_null (bytes);
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED);
	g_assert_nonnull (strstr (error->message, "'/dev/zero' is larger than 8 MiB"));
	g_clear_error (&error);
	bytes = tetherctl_read_file ("-", G_INPUT_STREAM (endless), &error);
	g_assert_null (bytes);
	g_assert_error (error, TETHERCTL_ERROR, TETHERCTL_ERROR_FAILED);
	g_assert_nonnull (strstr (error->message, "Standard input holds more than 8 MiB"));
	g_clear_error (&error);

	/* a directory is no file */
	bytes = tetherctl_read_file (g_get_tmp_dir (), input, &error);
	g_assert_null (bytes);
	g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_ISDIR);
	g_clear_error (&error);

	g_unlink (at_limit);
	g_unlink (over_limit);
}

static void
assert_file_holds (const char *path, const char *expected)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *contents = NULL;

	g_assert_true (g_file_get_contents (path, &contents, NULL, &error));
	g_assert_no_error (error);
	g_assert_cmpstr (contents, ==, expected);
}

static void
assert_file_type (const char *path, mode_t type)
{
	GStatBuf st;

	g_assert_cmpint (g_lstat (path, &st), ==, 0);
	g_assert_cmpuint (st.st_mode & S_IFMT, ==, type);
}

static char *
check_output_error (const char *path)
{
	g_autoptr(GError) error = NULL;

	g_assert_false (tetherctl_check_output (path, &error));
	g_assert_nonnull (error);
	return g_strdup (error->message);
}

/* what --out writes: a file replaced whole, a device or a FIFO written into and left as it
 * was, a link followed and left a link */
static void
test_write_file (void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp ("test-tetherctl-XXXXXX", &error);
	g_autofree char *file = g_build_filename (dir, "file", NULL);
	g_autofree char *link = g_build_filename (dir, "link", NULL);
	g_autofree char *dangling = g_build_filename (dir, "dangling", NULL);
	g_autofree char *made = g_build_filename (dir, "made", NULL);
	g_autofree char *fifo = g_build_filename (dir, "fifo", NULL);
	g_autofree char *fifo_link = g_build_filename (dir, "fifo-link", NULL);
	g_autofree char *loop = g_build_filename (dir, "loop", NULL);
	g_autofree char *missing_dir = g_build_filename (dir, "no-such-dir", "x", NULL);
	g_autofree char *message = NULL;
	char buffer[64] = { 0 };
	int reader;

	g_assert_no_error (error);

	/* a name not taken, then the file it became */
	g_assert_true (tetherctl_check_output (file, &error));
	g_assert_true (tetherctl_write_file (file, "one", 3, &error));
	g_assert_no_error (error);
	assert_file_holds (file, "one");
	g_assert_true (tetherctl_write_file (file, "two", 3, &error));
	g_assert_no_error (error);
	assert_file_holds (file, "two");
	assert_file_type (file, S_IFREG);

	/* a link to a file, by a relative name: the target is written, the link stays */
	g_assert_cmpint (symlink ("file", link), ==, 0);
	g_assert_true (tetherctl_check_output (link, &error));
	g_assert_true (tetherctl_write_file (link, "three", 5, &error));
	g_assert_no_error (error);
	assert_file_type (link, S_IFLNK);
	assert_file_holds (file, "three");

	/* a link to a name not taken: the file is made, the link stays */
	g_assert_cmpint (symlink (made, dangling), ==, 0);
	g_assert_true (tetherctl_check_output (dangling, &error));
	g_assert_true (tetherctl_write_file (dangling, "four", 4, &error));
	g_assert_no_error (error);
	assert_file_type (dangling, S_IFLNK);
	assert_file_holds (made, "four");

	/* a FIFO, directly and through a link: written into, still a FIFO */
	g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
	g_assert_cmpint (symlink ("fifo", fifo_link), ==, 0);
	reader = g_open (fifo, O_RDONLY | O_NONBLOCK, 0);
	g_assert_cmpint (reader, >=, 0);
	g_assert_true (tetherctl_check_output (fifo, &error));
	g_assert_true (tetherctl_write_file (fifo, "five", 4, &error));
	g_assert_no_error (error);
	g_assert_true (tetherctl_write_file (fifo_link, "six", 3, &error));
	g_assert_no_error (error);
	g_assert_cmpint (read (reader, buffer, sizeof buffer - 1), ==, 7);
	g_assert_cmpstr (buffer, ==, "fivesix");
	g_close (reader, NULL);
	assert_file_type (fifo, S_IFIFO);
	assert_file_type (fifo_link, S_IFLNK);

	/* a device: the bug was /dev/null replaced by a regular file */
	g_assert_true (tetherctl_check_output ("/dev/null", &error));
	g_assert_true (tetherctl_write_file ("/dev/null", "seven", 5, &error));
	g_assert_no_error (error);
	assert_file_type ("/dev/null", S_IFCHR);

	/* what cannot be written says why */
	message = check_output_error (missing_dir);
	g_assert_nonnull (strstr (message, "does not exist"));
	g_assert_nonnull (strstr (message, "no-such-dir"));
	g_clear_pointer (&message, g_free);
	message = check_output_error (dir);
	g_assert_cmpstr (message, ==, "it is a directory, not a file");
	g_clear_pointer (&message, g_free);
	g_assert_cmpint (symlink ("loop", loop), ==, 0);
	message = check_output_error (loop);
	g_assert_nonnull (message);
	g_clear_pointer (&message, g_free);
	g_assert_false (tetherctl_write_file (missing_dir, "x", 1, &error));
	g_assert_nonnull (error);
	g_clear_error (&error);

	{
		const char *const made_here[] = {
			file, link, dangling, made, fifo, fifo_link, loop
		};

		for (guint i = 0; i < G_N_ELEMENTS (made_here); i++)
			g_unlink (made_here[i]);
		g_rmdir (dir);
	}
}

static void
test_format_time (void)
{
	g_autofree char *text = NULL;

	g_assert_null (tetherctl_format_time (0));
	text = tetherctl_format_time (1700000000);
	g_assert_cmpstr (text, ==, "2023-11-14T22:13:20Z");
	g_clear_pointer (&text, g_free);
	text = tetherctl_format_time (-1);
	g_assert_cmpstr (text, ==, "1969-12-31T23:59:59Z");
}

static void
test_escape (void)
{
	const guint8 data[] = { 'h', 'i', '\n', '\t', '\r', 0, 0xff, '\\', 0xc3, 0xa9, 0x1b };
	g_autofree char *text = tetherctl_escape_bytes (data, sizeof data);
	g_autofree char *truncated = NULL;

	g_assert_cmpstr (text, ==, "hi\\n\\t\\r\\x00\\xff\\\\\xc3\xa9\\x1b");
	/* a UTF-8 sequence cut short is bytes */
	truncated = tetherctl_escape_bytes (data + 8, 1);
	g_assert_cmpstr (truncated, ==, "\\xc3");
}

static void
test_format_word (void)
{
	const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "plain", "plain" },
		{ "", "\"\"" },
		{ "set Value", "\"set Value\"" },
		{ "say \"hi\"", "\"say \\\"hi\\\"\"" },
		{ "{\"a\":1}", "\"{\\\"a\\\":1}\"" },
		{ "line\nnext", "line\\nnext" },
		{ "a=b", "a=b" },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *word = tetherctl_format_word (cases[i].in, -1);

		g_assert_cmpstr (word, ==, cases[i].out);
	}

	/* with a length, NULs are bytes like any other */
	{
		g_autofree char *word = tetherctl_format_word ("a\0b", 3);

		g_assert_cmpstr (word, ==, "a\\x00b");
	}
}

int
main (int argc, char **argv)
{
	setlocale (LC_ALL, "C.UTF-8");
	g_test_init (&argc, &argv, NULL);

	g_test_add_func ("/tetherctl/endpoint/valid", test_endpoint_valid);
	g_test_add_func ("/tetherctl/endpoint/invalid", test_endpoint_invalid);
	g_test_add_func ("/tetherctl/key-value/split", test_split_key_value);
	g_test_add_func ("/tetherctl/value/string-boolean", test_value_string_and_boolean);
	g_test_add_func ("/tetherctl/value/integers", test_value_integers);
	g_test_add_func ("/tetherctl/value/containers", test_value_containers);
	g_test_add_func ("/tetherctl/value/parsed", test_value_parsed);
	g_test_add_func ("/tetherctl/options/convert", test_options_convert);
	g_test_add_func ("/tetherctl/options/errors", test_options_errors);
	g_test_add_func ("/tetherctl/options/publish", test_publish_options);
	g_test_add_func ("/tetherctl/options/properties", test_properties);
	g_test_add_func ("/tetherctl/payload/argument", test_payload_argument);
	g_test_add_func ("/tetherctl/payload/stdin", test_payload_stdin);
	g_test_add_func ("/tetherctl/payload/file", test_read_file);
	g_test_add_func ("/tetherctl/payload/limits", test_read_limits);
	g_test_add_func ("/tetherctl/output/write", test_write_file);
	g_test_add_func ("/tetherctl/format/time", test_format_time);
	g_test_add_func ("/tetherctl/format/escape", test_escape);
	g_test_add_func ("/tetherctl/format/word", test_format_word);

	return g_test_run ();
}
