/*
 * A D-Bus fuzz test: every method of every org.tether object the running
 * tetherd exports (found by introspection, so new methods are covered
 * without a change here) gets malformed arguments: wrong signatures, bad
 * names, oversized data, option dictionaries with unknown keys and wrong
 * types, then random values of the right types. Each malformed call must be
 * answered with an error, the daemon must keep running, and at the end it
 * must still deliver a message.
 *
 * TETHER_FUZZ_ITERATIONS sets the number of random calls per method (300).
 */
#include "tether-test-env.h"

#include <string.h>

#define DEVICE_CN       "tb-device"
#define CONNECTION      "tb"
#define ANCHOR          "server-ca"
#define BUS_NAME        "org.tether.Tether1"
#define TELEMETRY_TOPIC "v1/devices/me/telemetry"
#define CALL_TIMEOUT_MS 20000
#define BIG             (16 * 1024 * 1024)

/* the option keys the API documents, each tried with a wrong type where it is known */
static const char *const option_keys[] = {
	"replace",     "sni",        "alpn",          "identity",
	"common-name", "key-type",   "organization",  "organizational-unit",
	"country",     "dns-names",  "uris",          "password",
	"renew",       "endpoint",   "trust-anchors", "client-id",
	"enabled",     "keepalive",  "cloud-options", "discard-queued",
	"topic",       "expires-in", "component",     "properties",
	"shadow",      NULL,
};

typedef struct {
	TetherTestEnv *env;
	TetherTestBroker *broker;
	TetherTestObserver *observer;
	GDBusConnection *bus;
	GRand *rand;
	guint calls;
	guint errors;
	GHashTable *error_names; /* name -> count */
	GString *unexpected;
} Fuzz;

typedef struct {
	char *path;
	char *interface;
	GDBusMethodInfo *method;
} Target;

static void
target_free (gpointer data)
{
	Target *target = data;

	g_free (target->path);
	g_free (target->interface);
	g_dbus_method_info_unref (target->method);
	g_free (target);
}

/* ---- the objects and their methods, from introspection ---- */

static void
collect (Fuzz *fuzz, const char *path, GPtrArray *targets)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GDBusNodeInfo) node = NULL;
	const char *xml = NULL;

	reply = g_dbus_connection_call_sync (fuzz->bus, BUS_NAME, path,
	                                     "org.freedesktop.DBus.Introspectable", "Introspect",
	                                     NULL, G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_NONE,
	                                     CALL_TIMEOUT_MS, NULL, &error);
	g_assert_no_error (error);
	g_variant_get (reply, "(&s)", &xml);
	node = g_dbus_node_info_new_for_xml (xml, &error);
	g_assert_no_error (error);

	for (guint i = 0; node->interfaces != NULL && node->interfaces[i] != NULL; i++) {
		GDBusInterfaceInfo *info = node->interfaces[i];

		if (!g_str_has_prefix (info->name, "org.tether."))
			continue;
		for (guint j = 0; info->methods != NULL && info->methods[j] != NULL; j++) {
			Target *target = g_new0 (Target, 1);

			target->path = g_strdup (path);
			target->interface = g_strdup (info->name);
			target->method = g_dbus_method_info_ref (info->methods[j]);
			g_ptr_array_add (targets, target);
		}
	}
	for (guint i = 0; node->nodes != NULL && node->nodes[i] != NULL; i++) {
		g_autofree char *child =
		        g_str_equal (path, "/")
		                ? g_strconcat ("/", node->nodes[i]->path, NULL)
		                : g_strconcat (path, "/", node->nodes[i]->path, NULL);
		collect (fuzz, child, targets);
	}
}

/* ---- values ---- */

/*
 * A valid value for an argument not under test: the name of an object that
 * exists (or a new one, for the methods that make one), so the call gets as
 * far as the argument under test.
 */
static GVariant *
baseline (GDBusMethodInfo *method, guint position)
{
	const char *arg = method->in_args[position]->name;
	g_autoptr(GVariantType) type = g_variant_type_new (method->in_args[position]->signature);
	const char *t = g_variant_type_peek_string (type);

	gboolean makes = g_str_has_prefix (method->name, "Add") ||
	                 g_str_has_prefix (method->name, "Create") ||
	                 g_str_has_prefix (method->name, "Import");

	switch (t[0]) {
	case 's':
		/* a new name for the methods that make an object */
		if (makes && (g_str_equal (arg, "id") || g_str_equal (arg, "identity") ||
		              g_str_equal (arg, "name")))
			return g_variant_new_string ("fuzz");
		if (g_str_equal (arg, "kind"))
			return g_variant_new_string ("telemetry");
		if (g_str_equal (arg, "id"))
			return g_variant_new_string (CONNECTION);
		if (g_str_equal (arg, "identity"))
			return g_variant_new_string ("device");
		if (g_str_equal (arg, "cloud"))
			return g_variant_new_string ("thingsboard");
		if (g_str_equal (arg, "name"))
			return g_variant_new_string (
			        g_str_equal (method->name, "GetCloud") ? "thingsboard" : ANCHOR);
		if (g_str_equal (arg, "host"))
			return g_variant_new_string ("127.0.0.1");
		return g_variant_new_string ("fuzz");
	case 'q':
		return g_variant_new_uint16 (8883);
	case 'i':
		return g_variant_new_int32 (200);
	case 'u':
		return g_variant_new_uint32 (1);
	case 't':
		return g_variant_new_uint64 (1);
	case 'b':
		return g_variant_new_boolean (FALSE);
	default:
		break;
	}
	if (g_variant_type_equal (type, G_VARIANT_TYPE_BYTESTRING))
		return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "{}", 2, 1);
	if (g_variant_type_equal (type, G_VARIANT_TYPE_VARDICT))
		return g_variant_new ("a{sv}", NULL);
	if (g_variant_type_equal (type, G_VARIANT_TYPE ("a(saya{sv})")))
		return g_variant_new_parsed ("[('telemetry', b'{}', @a{sv} {})]");
	/* any other type: its zero value */
	return g_variant_new_array (g_variant_type_element (type), NULL, 0);
}

static GVariant *
bytes_of (gsize size, guint8 fill)
{
	/* g_malloc (0) is NULL, which memset () may not be given */
	guint8 *data = g_malloc (MAX (size, 1));

	memset (data, fill, size);
	return g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING, data, size, TRUE, g_free, data);
}

static GVariant *
dict_with (const char *key, GVariant *value)
{
	GVariantBuilder builder;

	g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add (&builder, "{sv}", key, value);
	return g_variant_builder_end (&builder);
}

/* the malformed values for one argument of @type, each with a label */
static void
bad_values (const GVariantType *type, GPtrArray *values, GPtrArray *labels)
{
	const char *t = g_variant_type_peek_string (type);

#define ADD(label, value)                                             \
	do {                                                          \
		g_ptr_array_add (values, g_variant_ref_sink (value)); \
		g_ptr_array_add (labels, g_strdup (label));           \
	} while (0)

	if (t[0] == 's') {
		g_autofree char *long_name = g_strnfill (65, 'a');
		g_autofree char *huge = g_strnfill (BIG / 16, 'a');

		ADD ("empty", g_variant_new_string (""));
		ADD ("65 characters", g_variant_new_string (long_name));
		ADD ("1 MiB", g_variant_new_string (huge));
		ADD ("path traversal", g_variant_new_string ("../../etc/passwd"));
		ADD ("slash", g_variant_new_string ("a/b"));
		ADD ("leading dash", g_variant_new_string ("-x"));
		ADD ("leading dot", g_variant_new_string (".hidden"));
		ADD ("space", g_variant_new_string ("sp ace"));
		ADD ("non-ASCII", g_variant_new_string ("d\xc3\xa9vice"));
		ADD ("control character", g_variant_new_string ("a\x01z"));
		ADD ("format string", g_variant_new_string ("%s%n%x%p"));
		ADD ("newline", g_variant_new_string ("a\nb"));
	} else if (t[0] == 'q') {
		ADD ("port 0", g_variant_new_uint16 (0));
	} else if (t[0] == 'i') {
		ADD ("G_MININT32", g_variant_new_int32 (G_MININT32));
		ADD ("G_MAXINT32", g_variant_new_int32 (G_MAXINT32));
	} else if (g_variant_type_equal (type, G_VARIANT_TYPE_BYTESTRING)) {
		ADD ("empty bytes", bytes_of (0, 0));
		ADD ("NUL bytes", bytes_of (64, 0));
		ADD ("16 MiB", bytes_of (BIG, 'A'));
		ADD ("binary", bytes_of (4096, 0xff));
	} else if (g_variant_type_equal (type, G_VARIANT_TYPE_VARDICT)) {
		GVariantBuilder many;

		ADD ("unknown key", dict_with ("no-such-option", g_variant_new_int32 (1)));
		ADD ("empty key", dict_with ("", g_variant_new_string ("")));
		g_variant_builder_init (&many, G_VARIANT_TYPE_VARDICT);
		for (guint i = 0; i < 10000; i++) {
			g_autofree char *key = g_strdup_printf ("key-%u", i);
			g_variant_builder_add (&many, "{sv}", key, g_variant_new_uint32 (i));
		}
		ADD ("10000 unknown keys", g_variant_builder_end (&many));
		for (guint i = 0; option_keys[i] != NULL; i++) {
			g_autofree char *label =
			        g_strdup_printf ("'%s' of a wrong type", option_keys[i]);
			ADD (label, dict_with (option_keys[i], g_variant_new ("(uu)", 1, 2)));
		}
		ADD ("nested variants",
		     dict_with ("topic",
		                g_variant_new_variant (g_variant_new_variant (
		                        g_variant_new_variant (g_variant_new_string ("x"))))));
	} else if (g_variant_type_equal (type, G_VARIANT_TYPE ("a(saya{sv})"))) {
		GVariantBuilder many;

		ADD ("empty batch", g_variant_new_parsed ("@a(saya{sv}) []"));
		ADD ("bad kind", g_variant_new_parsed ("[('', b'{}', @a{sv} {})]"));
		ADD ("unknown option",
		     g_variant_new_parsed ("[('telemetry', b'{}', {'no-such-option': <1>})]"));
		g_variant_builder_init (&many, G_VARIANT_TYPE ("a(saya{sv})"));
		for (guint i = 0; i < 100000; i++)
			g_variant_builder_add (
			        &many, "(s@ay@a{sv})", "no-such-kind",
			        g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "x", 1, 1),
			        g_variant_new ("a{sv}", NULL));
		ADD ("100000 messages of an unknown kind", g_variant_builder_end (&many));
	}
#undef ADD
}

/* a random value of @type */
static GVariant *
random_value (Fuzz *fuzz, const GVariantType *type, guint depth)
{
	const char *t = g_variant_type_peek_string (type);

	switch (t[0]) {
	case 's': {
		guint length = g_rand_int_range (fuzz->rand, 0, depth > 0 ? 16 : 80);
		g_autofree char *text = g_malloc (length + 1);

		/* printable ASCII, and some of the characters names refuse */
		for (guint i = 0; i < length; i++)
			text[i] = (char) g_rand_int_range (fuzz->rand, 0x20, 0x7f);
		text[length] = '\0';
		return g_variant_new_string (text);
	}
	case 'q':
		return g_variant_new_uint16 ((guint16) g_rand_int (fuzz->rand));
	case 'i':
		return g_variant_new_int32 ((gint32) g_rand_int (fuzz->rand));
	case 'u':
		return g_variant_new_uint32 (g_rand_int (fuzz->rand));
	case 't':
		return g_variant_new_uint64 (((guint64) g_rand_int (fuzz->rand) << 32) |
		                             g_rand_int (fuzz->rand));
	case 'b':
		return g_variant_new_boolean (g_rand_boolean (fuzz->rand));
	case 'y':
		return g_variant_new_byte ((guchar) g_rand_int (fuzz->rand));
	case 'v': {
		static const char *const types[] = { "s", "u", "b", "as", "i", "ay" };
		const char *inner = types[g_rand_int_range (fuzz->rand, 0, G_N_ELEMENTS (types))];
		return g_variant_new_variant (
		        random_value (fuzz, G_VARIANT_TYPE (inner), depth + 1));
	}
	default:
		break;
	}
	if (g_variant_type_is_array (type)) {
		const GVariantType *element = g_variant_type_element (type);
		guint n = g_rand_int_range (
		        fuzz->rand, 0,
		        g_variant_type_equal (element, G_VARIANT_TYPE_BYTE) ? 512 : 4);
		GVariantBuilder builder;

		g_variant_builder_init (&builder, type);
		for (guint i = 0; i < n; i++)
			g_variant_builder_add_value (&builder,
			                             random_value (fuzz, element, depth + 1));
		return g_variant_builder_end (&builder);
	}
	if (g_variant_type_is_dict_entry (type) || g_variant_type_is_tuple (type)) {
		GVariantBuilder builder;

		g_variant_builder_init (&builder, type);
		for (const GVariantType *item = g_variant_type_first (type); item != NULL;
		     item = g_variant_type_next (item))
			g_variant_builder_add_value (&builder,
			                             random_value (fuzz, item, depth + 1));
		return g_variant_builder_end (&builder);
	}
	g_error ("no random value for type %s", t);
}

/* ---- calls ---- */

static void
daemon_alive (Fuzz *fuzz, const char *after)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync (
	        fuzz->bus, BUS_NAME, "/org/tether/Tether1", "org.freedesktop.DBus.Peer", "Ping",
	        NULL, NULL, G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, &error);

	if (reply == NULL)
		g_error ("tetherd stopped answering after %s: %s", after, error->message);
}

/*
 * Calls @target with @args; returns the D-Bus error name, or NULL when it
 * succeeded.
 */
static char *
call_full (Fuzz *fuzz, Target *target, GVariant *args, char **message)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;
	char *name;

	fuzz->calls++;
	reply = g_dbus_connection_call_sync (
	        fuzz->bus, BUS_NAME, target->path, target->interface, target->method->name, args,
	        NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, &error);
	if (reply != NULL)
		return NULL;
	fuzz->errors++;
	name = g_dbus_error_get_remote_error (error);
	if (name == NULL)
		name = g_strdup_printf ("(local: %s)", error->message);
	g_hash_table_insert (
	        fuzz->error_names, g_strdup (name),
	        GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (fuzz->error_names, name)) +
	                          1));
	if (message != NULL) {
		g_dbus_error_strip_remote_error (error);
		*message = g_strdup (error->message);
	}
	return name;
}

static char *
call (Fuzz *fuzz, Target *target, GVariant *args)
{
	return call_full (fuzz, target, args, NULL);
}

static GVariant *
args_with (GDBusMethodInfo *method, guint position, GVariant *value)
{
	GVariantBuilder builder;

	g_variant_builder_init (&builder, G_VARIANT_TYPE_TUPLE);
	for (guint i = 0; method->in_args != NULL && method->in_args[i] != NULL; i++)
		g_variant_builder_add_value (&builder, i == position ? g_variant_ref (value)
		                                                     : baseline (method, i));
	return g_variant_builder_end (&builder);
}

static guint
n_in_args (GDBusMethodInfo *method)
{
	guint n = 0;

	while (method->in_args != NULL && method->in_args[n] != NULL)
		n++;
	return n;
}

/* a malformed call that was not refused, or refused the wrong way */
static void
unexpected (Fuzz *fuzz, Target *target, const char *what, const char *got)
{
	g_string_append_printf (fuzz->unexpected, "%s %s.%s %s: %s\n", target->path,
	                        target->interface, target->method->name, what,
	                        got != NULL ? got : "accepted");
}

/* wrong signatures: GDBus refuses them before tetherd's code runs */
static void
fuzz_signatures (Fuzz *fuzz, Target *target)
{
	guint n = n_in_args (target->method);
	GVariantBuilder builder;
	g_autofree char *name = NULL;

	/* one argument too many */
	g_variant_builder_init (&builder, G_VARIANT_TYPE_TUPLE);
	for (guint i = 0; i < n; i++)
		g_variant_builder_add_value (&builder, baseline (target->method, i));
	g_variant_builder_add_value (&builder, g_variant_new_string ("extra"));
	name = call (fuzz, target, g_variant_builder_end (&builder));
	if (g_strcmp0 (name, "org.freedesktop.DBus.Error.InvalidArgs") != 0)
		unexpected (fuzz, target, "with an extra argument", name);
	g_clear_pointer (&name, g_free);

	if (n == 0)
		return;

	/* none at all */
	name = call (fuzz, target, NULL);
	if (g_strcmp0 (name, "org.freedesktop.DBus.Error.InvalidArgs") != 0)
		unexpected (fuzz, target, "with no arguments", name);
	g_clear_pointer (&name, g_free);

	/* each argument of another type */
	for (guint i = 0; i < n; i++) {
		gboolean is_string = target->method->in_args[i]->signature[0] == 's';
		g_autoptr(GVariant) wrong = g_variant_ref_sink (
		        is_string ? g_variant_new_uint32 (7) : g_variant_new_string ("wrong"));
		g_autofree char *what = g_strdup_printf ("with '%s' of a wrong type",
		                                         target->method->in_args[i]->name);

		name = call (fuzz, target, args_with (target->method, i, wrong));
		if (g_strcmp0 (name, "org.freedesktop.DBus.Error.InvalidArgs") != 0)
			unexpected (fuzz, target, what, name);
		g_clear_pointer (&name, g_free);
	}
}

/* the names of objects: connections, anchors, identities */
static gboolean
is_name_argument (const char *arg)
{
	return g_str_equal (arg, "id") || g_str_equal (arg, "name") ||
	       g_str_equal (arg, "identity");
}

/* the labels of bad_values () that no name may be */
static gboolean
is_malformed_name (const char *label)
{
	static const char *const labels[] = {
		"empty",         "65 characters", "1 MiB", "path traversal", "slash",
		"leading dash",  "leading dot",   "space", "non-ASCII",      "control character",
		"format string", "newline",       NULL,
	};

	return g_strv_contains (labels, label);
}

/*
 * The input limits: a malformed name, and an option dictionary with an
 * unknown key or a value of the wrong type, are refused with InvalidArgument;
 * for a dictionary the message names the argument.
 */
static void
check_limit (Fuzz *fuzz, Target *target, guint position, const char *label, const char *what,
             const char *name, const char *message)
{
	GDBusArgInfo *arg = target->method->in_args[position];

	if (g_strcmp0 (arg->signature, "a{sv}") == 0) {
		/* "options: unknown key", or a plugin's "takes no publish option" */
		g_autofree char *singular = g_strndup (arg->name, strlen (arg->name) - 1);

		if (g_strcmp0 (name, "org.tether.Error.InvalidArgument") != 0 || message == NULL ||
		    strstr (message, singular) == NULL) {
			g_autofree char *got =
			        g_strdup_printf ("%s (%s), not InvalidArgument naming '%s'", name,
			                         message != NULL ? message : "", arg->name);
			unexpected (fuzz, target, what, got);
		}
	} else if (g_str_equal (arg->signature, "s") && is_name_argument (arg->name) &&
	           is_malformed_name (label) &&
	           g_strcmp0 (name, "org.tether.Error.InvalidArgument") != 0) {
		g_autofree char *got = g_strdup_printf ("%s, not InvalidArgument", name);
		unexpected (fuzz, target, what, got);
	}
}

/* bad values of the right type: tetherd itself refuses each */
static void
fuzz_values (Fuzz *fuzz, Target *target)
{
	guint n = n_in_args (target->method);

	for (guint i = 0; i < n; i++) {
		g_autoptr(GVariantType) type =
		                   g_variant_type_new (target->method->in_args[i]->signature);
		g_autoptr(GPtrArray) values = g_ptr_array_new_with_free_func (
		        (GDestroyNotify) g_variant_unref);
		g_autoptr(GPtrArray) labels = g_ptr_array_new_with_free_func (g_free);

		bad_values (type, values, labels);
		for (guint j = 0; j < values->len; j++) {
			g_autofree char *what =
			        g_strdup_printf ("with '%s' %s", target->method->in_args[i]->name,
			                         (char *) g_ptr_array_index (labels, j));
			gint64 start = g_get_monotonic_time ();
			g_autofree char *message = NULL;
			g_autofree char *name = call_full (
			        fuzz, target,
			        args_with (target->method, i, g_ptr_array_index (values, j)),
			        &message);
			gint64 took_ms = (g_get_monotonic_time () - start) / 1000;

			if (took_ms > 1000)
				g_printerr ("# slow: %s.%s %s: %" G_GINT64_FORMAT " ms\n",
				            target->interface, target->method->name, what, took_ms);
			/* an answer, and one of tetherd's own errors */
			if (name == NULL || !g_str_has_prefix (name, "org.tether.Error."))
				unexpected (fuzz, target, what, name);
			else
				check_limit (fuzz, target, i, g_ptr_array_index (labels, j), what,
				             name, message);
			daemon_alive (fuzz, what);
		}
	}
}

/* random values of the right types: any answer will do, as long as there is one */
static void
fuzz_random (Fuzz *fuzz, Target *target, guint iterations)
{
	g_autofree char *what = g_strdup_printf ("random arguments to %s.%s", target->interface,
	                                         target->method->name);

	if (n_in_args (target->method) == 0)
		return;
	for (guint k = 0; k < iterations; k++) {
		GVariantBuilder builder;
		g_autofree char *name = NULL;

		g_variant_builder_init (&builder, G_VARIANT_TYPE_TUPLE);
		for (guint i = 0; target->method->in_args[i] != NULL; i++) {
			g_autoptr(GVariantType) type = g_variant_type_new (
			        target->method->in_args[i]->signature);
			g_variant_builder_add_value (&builder, random_value (fuzz, type, 0));
		}
		name = call (fuzz, target, g_variant_builder_end (&builder));
	}
	daemon_alive (fuzz, what);
}

/* ---- the test ---- */

static void
test_fuzz_every_method (void)
{
	Fuzz fuzz = { 0 };
	g_autofree char *acl = tether_test_acl_thingsboard (DEVICE_CN);
	TetherTestBrokerOptions options = { .acl = acl };
	g_autofree char *csr = NULL;
	g_autofree char *cert = NULL;
	g_autoptr(GPtrArray) targets = g_ptr_array_new_with_free_func (target_free);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) got = NULL;
	const char *env_iterations = g_getenv ("TETHER_FUZZ_ITERATIONS");
	guint iterations = env_iterations != NULL ? (guint) atoi (env_iterations) : 300;
	GHashTableIter iter;
	gpointer key;
	gpointer value;

	fuzz.env = tether_test_env_new ();
	fuzz.rand = g_rand_new_with_seed (20260301);
	fuzz.error_names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
	fuzz.unexpected = g_string_new (NULL);
	fuzz.broker = tether_test_env_start_broker (fuzz.env, &options);
	fuzz.observer = tether_test_env_observe (fuzz.env, fuzz.broker);
	tether_test_observer_subscribe (fuzz.observer, TELEMETRY_TOPIC, &error);
	g_assert_no_error (error);
	tether_test_env_start_daemon (fuzz.env);
	fuzz.bus = tether_test_env_get_bus (fuzz.env);

	/* every kind of object: an identity, an anchor, a connected connection, the cloud */
	csr = tether_test_env_path (fuzz.env, "device.csr");
	cert = tether_test_env_path (fuzz.env, "device.pem");
	tether_test_env_ctl_ok (fuzz.env, "identity", "request", "--common-name", DEVICE_CN,
	                        "--out", csr, NULL);
	tether_test_env_sign_csr (fuzz.env, csr, cert);
	tether_test_env_ctl_ok (fuzz.env, "identity", "install", cert, NULL);
	tether_test_env_ctl_ok (fuzz.env, "anchor", "add", ANCHOR,
	                        tether_test_env_get_pki (fuzz.env)->server_ca_cert, NULL);
	tether_test_env_ctl_ok (fuzz.env, "connection", "add", CONNECTION, "--cloud", "thingsboard",
	                        "--endpoint", tether_test_broker_get_endpoint (fuzz.broker),
	                        "--anchor", ANCHOR, NULL);
	tether_test_env_wait_state (fuzz.env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);

	collect (&fuzz, "/", targets);
	g_assert_cmpuint (targets->len, >, 10);
	for (guint i = 0; i < targets->len; i++) {
		Target *target = g_ptr_array_index (targets, i);

		gint64 start = g_get_monotonic_time ();

		fuzz_signatures (&fuzz, target);
		fuzz_values (&fuzz, target);
		daemon_alive (&fuzz, target->method->name);
		fuzz_random (&fuzz, target, iterations);
		g_printerr ("# fuzzed %s %s.%s in %.1f s\n", target->path, target->interface,
		            target->method->name, (g_get_monotonic_time () - start) / 1e6);
	}

	g_printerr ("# %u calls, %u answered with an error:\n", fuzz.calls, fuzz.errors);
	g_hash_table_iter_init (&iter, fuzz.error_names);
	while (g_hash_table_iter_next (&iter, &key, &value))
		g_printerr ("#   %6u %s\n", GPOINTER_TO_UINT (value), (char *) key);
	if (fuzz.unexpected->len > 0)
		g_error ("malformed calls that were not refused as they should be:\n%s",
		         fuzz.unexpected->str);

	/* still working: a message goes through */
	tether_test_env_ctl_ok (fuzz.env, "publish", "--connection", CONNECTION, "--kind",
	                        "telemetry", "{\"after\":\"fuzz\"}", NULL);
	got = tether_test_observer_wait (fuzz.observer, TELEMETRY_TOPIC, TETHER_TEST_TIMEOUT_MS,
	                                 NULL);
	g_assert_nonnull (got);

	g_string_free (fuzz.unexpected, TRUE);
	g_hash_table_unref (fuzz.error_names);
	g_rand_free (fuzz.rand);
	tether_test_observer_free (fuzz.observer);
	tether_test_env_free (fuzz.env);
}

int
main (int argc, char **argv)
{
	tether_test_init (&argc, &argv);
	tether_test_add ("/fuzz/dbus/every-method", test_fuzz_every_method);
	return g_test_run ();
}
