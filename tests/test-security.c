/*
 * Security and system integration tests: polkit for the admin methods, the
 * shipped bus policy for publishers, tetherd as the unprivileged "tether"
 * user, the modes of its files, the plugin loader's refusals, the shipped
 * systemd units, and logs that never hold a payload, a key or a password.
 *
 * The polkit, bus policy and daemon-user tests run on a private system bus
 * (tether-test-sysbus.h) and switch users: they need root, as CI has.
 */
#include "tether-test-env.h"
#include "tether-test-sysbus.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <glib/gstdio.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEVICE_CN       "tb-device"
#define CONNECTION      "tb"
#define ANCHOR          "server-ca"
#define MANAGER_PATH    "/org/tether/Tether1"
#define CONNECTION_PATH "/org/tether/Tether1/connections/"
#define TELEMETRY_TOPIC "v1/devices/me/telemetry"
#define NOT_AUTHORIZED  "org.tether.Error.NotAuthorized"
#define ACCESS_DENIED   "org.freedesktop.DBus.Error.AccessDenied"

#define ACTION_ANCHORS     "org.tether.manage-trust-anchors"
#define ACTION_IDENTITIES  "org.tether.manage-identities"
#define ACTION_CONNECTIONS "org.tether.manage-connections"

/* ---- small helpers ---- */

static gboolean
skip_unless_root (void)
{
	g_autofree char *why = NULL;

	if (tether_test_sysbus_can_run (&why))
		return FALSE;
	g_test_skip (why);
	return TRUE;
}

static GVariant *
bytes_variant (const void *data, gsize size)
{
	return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, size, 1);
}

static GVariant *
file_variant (const char *path)
{
	g_autofree char *contents = NULL;
	gsize size = 0;
	g_autoptr(GError) error = NULL;

	g_file_get_contents (path, &contents, &size, &error);
	g_assert_no_error (error);
	return bytes_variant (contents, size);
}

static GVariant *
no_options (void)
{
	return g_variant_new ("a{sv}", NULL);
}

static char *
read_file (const char *path)
{
	g_autofree char *contents = NULL;
	g_autoptr(GError) error = NULL;

	g_file_get_contents (path, &contents, NULL, &error);
	g_assert_no_error (error);
	return g_steal_pointer (&contents);
}

static void
assert_remote_error (GError *error, const char *name)
{
	g_autofree char *remote = NULL;

	g_assert_nonnull (error);
	remote = g_dbus_error_get_remote_error (error);
	if (g_strcmp0 (remote, name) != 0)
		g_error ("expected %s, got %s: %s", name, remote, error->message);
}

static uid_t
user_uid (const char *user)
{
	struct passwd *pw = getpwnam (user);

	g_assert_nonnull (pw);
	return pw->pw_uid;
}

/* a directory owned by @user, mode 0700, as systemd's StateDirectory= makes it */
static char *
make_user_dir (const char *parent, const char *name, const char *user)
{
	struct passwd *pw = getpwnam (user);
	char *path = g_build_filename (parent, name, NULL);

	g_assert_nonnull (pw);
	g_assert_cmpint (g_mkdir_with_parents (path, 0700), ==, 0);
	g_assert_cmpint (chown (path, pw->pw_uid, pw->pw_gid), ==, 0);
	g_assert_cmpint (g_chmod (path, 0700), ==, 0);
	return path;
}

/* ---- the fixture: a private system bus, a broker, tetherd ---- */

typedef struct {
	TetherTestEnv *env;
	TetherTestSysbus *bus;
	TetherTestBroker *broker;
	TetherTestObserver *observer;
	char *state_dir;
	char *config_file;
} Sec;

static void
sec_clear (Sec *sec)
{
	g_clear_pointer (&sec->observer, tether_test_observer_free);
	g_clear_pointer (&sec->bus, tether_test_sysbus_free);
	g_clear_pointer (&sec->env, tether_test_env_free);
	g_clear_pointer (&sec->state_dir, g_free);
	g_clear_pointer (&sec->config_file, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Sec, sec_clear)

/* the users, the bus; tetherd as @user (NULL: root) with its files in the bus directory */
static void
sec_start (Sec *sec, TetherTestBusKind kind, const char *user, gboolean polkit)
{
	const char *owner = user != NULL ? user : "root";
	g_autofree char *config_dir = NULL;

	tether_test_sysbus_ensure_users ();
	sec->env = tether_test_env_new ();
	sec->bus = tether_test_sysbus_new (sec->env, kind);
	if (polkit)
		tether_test_sysbus_start_polkit (sec->bus);
	sec->state_dir = make_user_dir (tether_test_sysbus_get_dir (sec->bus), "state", owner);
	config_dir = make_user_dir (tether_test_sysbus_get_dir (sec->bus), "config", owner);
	sec->config_file = g_build_filename (config_dir, "tether.conf", NULL);
	tether_test_sysbus_start_daemon (sec->bus, user, sec->state_dir, sec->config_file);
}

static void
sec_start_broker (Sec *sec)
{
	g_autofree char *acl = tether_test_acl_thingsboard (DEVICE_CN);
	TetherTestBrokerOptions options = { .acl = acl };
	g_autoptr(GError) error = NULL;

	sec->broker = tether_test_env_start_broker (sec->env, &options);
	sec->observer = tether_test_env_observe (sec->env, sec->broker);
	tether_test_observer_subscribe (sec->observer, "#", &error);
	g_assert_no_error (error);
}

static TetherDBusConnection1 *
sec_get_connection (Sec *sec, const char *id)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_strconcat (CONNECTION_PATH, id, NULL);
	TetherDBusConnection1 *proxy = tether_dbus_connection1_proxy_new_sync (
	        tether_test_sysbus_get_connection (sec->bus), G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
	        "org.tether.Tether1", path, NULL, &error);

	g_assert_no_error (error);
	return proxy;
}

/* as root over D-Bus: the device's identity, the server CA, a connection to the broker */
static void
sec_provision (Sec *sec)
{
	TetherDBusTether1 *manager = tether_test_sysbus_get_manager (sec->bus);
	const TetherTestPki *pki = tether_test_env_get_pki (sec->env);
	g_autoptr(GError) error = NULL;
	g_autofree char *csr = NULL;
	g_autofree char *csr_path = tether_test_env_path (sec->env, "device.csr");
	g_autofree char *cert_path = tether_test_env_path (sec->env, "device.pem");
	g_autofree char *anchor_path = NULL;
	g_autofree char *connection_path = NULL;
	g_auto(GStrv) warnings = NULL;
	g_auto(GStrv) more_warnings = NULL;
	g_autoptr(TetherDBusConnection1) connection = NULL;
	GVariantBuilder options;
	const char *anchors[] = { ANCHOR, NULL };

	g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add (&options, "{sv}", "common-name", g_variant_new_string (DEVICE_CN));
	tether_dbus_tether1_call_create_identity_request_sync (
	        manager, "device", g_variant_builder_end (&options), G_DBUS_CALL_FLAGS_NONE, -1,
	        &csr, NULL, &error);
	g_assert_no_error (error);
	g_file_set_contents (csr_path, csr, -1, &error);
	g_assert_no_error (error);
	tether_test_env_sign_csr (sec->env, csr_path, cert_path);
	tether_dbus_tether1_call_install_identity_sync (manager, "device", file_variant (cert_path),
	                                                no_options (), G_DBUS_CALL_FLAGS_NONE, -1,
	                                                &warnings, NULL, &error);
	g_assert_no_error (error);
	tether_dbus_tether1_call_add_trust_anchor_sync (
	        manager, ANCHOR, file_variant (pki->server_ca_cert), no_options (),
	        G_DBUS_CALL_FLAGS_NONE, -1, &anchor_path, &more_warnings, NULL, &error);
	g_assert_no_error (error);

	g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add (
	        &options, "{sv}", "endpoint",
	        g_variant_new_string (tether_test_broker_get_endpoint (sec->broker)));
	g_variant_builder_add (&options, "{sv}", "trust-anchors", g_variant_new_strv (anchors, -1));
	tether_dbus_tether1_call_add_connection_sync (
	        manager, CONNECTION, "thingsboard", g_variant_builder_end (&options),
	        G_DBUS_CALL_FLAGS_NONE, -1, &connection_path, NULL, &error);
	g_assert_no_error (error);
	connection = sec_get_connection (sec, CONNECTION);
	if (!tether_test_wait_property (G_DBUS_PROXY (connection), "State",
	                                g_variant_new_string ("connected"), TETHER_TEST_TIMEOUT_MS))
		g_error ("connection %s did not connect: %s", CONNECTION,
		         tether_dbus_connection1_get_last_error (connection));
}

static void
assert_arrives (Sec *sec, const char *topic, const char *payload)
{
	g_autoptr(GBytes) got = NULL;
	g_autofree char *got_topic = NULL;
	gsize size = 0;
	const char *data;

	got = tether_test_observer_wait (sec->observer, topic, TETHER_TEST_TIMEOUT_MS, &got_topic);
	g_assert_nonnull (got);
	data = g_bytes_get_data (got, &size);
	g_assert_cmpmem (data, size, payload, strlen (payload));
}

/*
 * gdbus call as @user with the arguments of @args (a tuple): NULL when it
 * succeeded, else the D-Bus error name; @message gets the error's text.
 */
static char *
call_as (Sec *sec, const char *user, const char *path, const char *method, GVariant *args,
         char **message)
{
	/* the call takes @args: a floating value, or a reference of its own */
	g_autoptr(GVariant) sunk = g_variant_take_ref (args);
	g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);

	for (gsize i = 0; i < g_variant_n_children (sunk); i++) {
		g_autoptr(GVariant) child = g_variant_get_child_value (sunk, i);
		g_ptr_array_add (texts, g_variant_print (child, TRUE));
	}
	g_ptr_array_add (texts, NULL);
	return tether_test_sysbus_call (sec->bus, user, path, method,
	                                (const char *const *) texts->pdata, message);
}

/* ---- the admin methods, with arguments that succeed when they are let through ---- */

typedef struct {
	const char *path;
	const char *method;
	const char *action;
	GVariant *args;
	/* when let through: NULL for success, else the error the daemon gives */
	const char *outcome;
} AdminCall;

static void
admin_call_free (gpointer data)
{
	AdminCall *call = data;

	g_variant_unref (call->args);
	g_free (call);
}

static void
add_call (GPtrArray *calls, const char *path, const char *method, const char *action,
          GVariant *args, const char *outcome)
{
	AdminCall *call = g_new0 (AdminCall, 1);

	call->path = path;
	call->method = method;
	call->action = action;
	call->args = g_variant_ref_sink (args);
	call->outcome = outcome;
	g_ptr_array_add (calls, call);
}

/*
 * Every admin method, in an order where each succeeds when allowed: an
 * anchor, an identity, a connection "secconn" (disabled, so it never dials
 * out) and the Connection1 methods on it, then the removals.
 */
static GPtrArray *
admin_calls (Sec *sec)
{
	const TetherTestPki *pki = tether_test_env_get_pki (sec->env);
	GPtrArray *calls = g_ptr_array_new_with_free_func (admin_call_free);
	const char *conn = CONNECTION_PATH "secconn";
	const char *sec_anchors[] = { "sec-ca", NULL };
	GVariantBuilder b;

	add_call (calls, MANAGER_PATH, "org.tether.Tether1.AddTrustAnchor", ACTION_ANCHORS,
	          g_variant_new ("(s@ay@a{sv})", "sec-ca", file_variant (pki->server_ca_cert),
	                         no_options ()),
	          NULL);
	add_call (calls, MANAGER_PATH, "org.tether.Tether1.TestTrustAnchor", ACTION_ANCHORS,
	          g_variant_new ("(ssq@a{sv})", "sec-ca", "127.0.0.1", (guint16) 1, no_options ()),
	          NULL);

	g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add (&b, "{sv}", "common-name", g_variant_new_string ("sec-device"));
	add_call (calls, MANAGER_PATH, "org.tether.Tether1.CreateIdentityRequest",
	          ACTION_IDENTITIES,
	          g_variant_new ("(s@a{sv})", "sec-id", g_variant_builder_end (&b)), NULL);
	add_call (
	        calls, MANAGER_PATH, "org.tether.Tether1.InstallIdentity", ACTION_IDENTITIES,
	        g_variant_new ("(s@ay@a{sv})", "sec-id", bytes_variant ("junk", 4), no_options ()),
	        "org.tether.Error.InvalidCertificate");
	add_call (calls, MANAGER_PATH, "org.tether.Tether1.ImportIdentity", ACTION_IDENTITIES,
	          g_variant_new ("(s@ay@ay@a{sv})", "sec-id2", bytes_variant ("junk", 4),
	                         bytes_variant ("", 0), no_options ()),
	          "org.tether.Error.InvalidKey");

	g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add (&b, "{sv}", "endpoint", g_variant_new_string ("127.0.0.1:1"));
	g_variant_builder_add (&b, "{sv}", "enabled", g_variant_new_boolean (FALSE));
	g_variant_builder_add (&b, "{sv}", "trust-anchors", g_variant_new_strv (sec_anchors, -1));
	add_call (
	        calls, MANAGER_PATH, "org.tether.Tether1.AddConnection", ACTION_CONNECTIONS,
	        g_variant_new ("(ss@a{sv})", "secconn", "thingsboard", g_variant_builder_end (&b)),
	        NULL);
	g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add (&b, "{sv}", "keepalive", g_variant_new_uint32 (30));
	add_call (calls, MANAGER_PATH, "org.tether.Tether1.UpdateConnection", ACTION_CONNECTIONS,
	          g_variant_new ("(s@a{sv})", "secconn", g_variant_builder_end (&b)), NULL);
	add_call (calls, conn, "org.tether.Connection1.Purge", ACTION_CONNECTIONS,
	          g_variant_new ("()"), NULL);
	/* allowed, it reaches ThingsBoard, which has no provisioning to take again */
	add_call (calls, conn, "org.tether.Connection1.Reprovision", ACTION_CONNECTIONS,
	          g_variant_new ("()"), "org.tether.Error.Refused");
	add_call (calls, conn, "org.tether.Connection1.Connect", ACTION_CONNECTIONS,
	          g_variant_new ("()"), NULL);
	add_call (calls, conn, "org.tether.Connection1.Disconnect", ACTION_CONNECTIONS,
	          g_variant_new ("()"), NULL);

	g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add (&b, "{sv}", "discard-queued", g_variant_new_boolean (TRUE));
	add_call (calls, MANAGER_PATH, "org.tether.Tether1.RemoveConnection", ACTION_CONNECTIONS,
	          g_variant_new ("(s@a{sv})", "secconn", g_variant_builder_end (&b)), NULL);
	add_call (calls, MANAGER_PATH, "org.tether.Tether1.RemoveIdentity", ACTION_IDENTITIES,
	          g_variant_new ("(s)", "sec-id"), NULL);
	add_call (calls, MANAGER_PATH, "org.tether.Tether1.RemoveTrustAnchor", ACTION_ANCHORS,
	          g_variant_new ("(s)", "sec-ca"), NULL);
	return calls;
}

/* the manager's lists and the settings file: what an admin method changes */
static char *
snapshot (Sec *sec)
{
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *config = NULL;
	g_autofree char *text = NULL;

	reply = g_dbus_connection_call_sync (
	        tether_test_sysbus_get_connection (sec->bus), "org.tether.Tether1", MANAGER_PATH,
	        "org.freedesktop.DBus.Properties", "GetAll",
	        g_variant_new ("(s)", "org.tether.Tether1"), G_VARIANT_TYPE ("(a{sv})"),
	        G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
	g_assert_no_error (error);
	text = g_variant_print (reply, FALSE);
	g_file_get_contents (sec->config_file, &config, NULL, NULL);
	return g_strdup_printf ("%s\n%s", text, config != NULL ? config : "");
}

/* the admin methods when polkit allows @allowed (NULL-terminated) and nothing else */
static void
run_admin_calls (Sec *sec, const char *const *allowed)
{
	g_autoptr(GPtrArray) calls = admin_calls (sec);

	tether_test_sysbus_polkit_allow (sec->bus, allowed);
	for (guint i = 0; i < calls->len; i++) {
		AdminCall *call = g_ptr_array_index (calls, i);
		g_autofree char *message = NULL;
		g_autofree char *before = snapshot (sec);
		g_autofree char *after = NULL;
		g_autofree char *error = NULL;
		gboolean allow = g_strv_contains (allowed, call->action);

		error = call_as (sec, TETHER_TEST_USER_OUTSIDER, call->path, call->method,
		                 g_variant_ref (call->args), &message);
		if (!allow) {
			if (g_strcmp0 (error, NOT_AUTHORIZED) != 0)
				g_error ("%s: expected %s when polkit denies %s, got %s: %s",
				         call->method, NOT_AUTHORIZED, call->action, error,
				         message);
			/* the error names the action; nothing changed */
			g_assert_nonnull (strstr (message, call->action));
			after = snapshot (sec);
			g_assert_cmpstr (after, ==, before);
		} else if (g_strcmp0 (error, call->outcome) != 0) {
			g_error ("%s: polkit allows %s, expected %s, got %s: %s", call->method,
			         call->action, call->outcome ? call->outcome : "success", error,
			         message);
		}
	}
}

/* ---- polkit ---- */

/* as root, whom polkit is never asked about: "secconn", for Connection1's methods */
static void
add_root_connection (Sec *sec)
{
	GVariantBuilder b;
	g_autofree char *path = NULL;
	g_autofree char *anchor = NULL;
	g_auto(GStrv) warnings = NULL;
	g_autoptr(GError) error = NULL;
	const char *anchors[] = { "root-ca", NULL };

	/* ThingsBoard bundles no anchor: the connection names one of its own */
	tether_dbus_tether1_call_add_trust_anchor_sync (
	        tether_test_sysbus_get_manager (sec->bus), "root-ca",
	        file_variant (tether_test_env_get_pki (sec->env)->server_ca_cert), no_options (),
	        G_DBUS_CALL_FLAGS_NONE, -1, &anchor, &warnings, NULL, &error);
	g_assert_no_error (error);
	g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add (&b, "{sv}", "endpoint", g_variant_new_string ("127.0.0.1:1"));
	g_variant_builder_add (&b, "{sv}", "enabled", g_variant_new_boolean (FALSE));
	g_variant_builder_add (&b, "{sv}", "trust-anchors", g_variant_new_strv (anchors, -1));
	tether_dbus_tether1_call_add_connection_sync (
	        tether_test_sysbus_get_manager (sec->bus), "secconn", "thingsboard",
	        g_variant_builder_end (&b), G_DBUS_CALL_FLAGS_NONE, -1, &path, NULL, &error);
	g_assert_no_error (error);
}

/* polkit denies: every admin method is refused, and nothing changes */
static void
test_polkit_denied (void)
{
	g_auto(Sec) sec = { 0 };
	const char *const none[] = { NULL };
	g_autofree char *name = NULL;
	g_autofree char *message = NULL;
	g_autoptr(TetherDBusConnection1) connection = NULL;

	if (skip_unless_root ())
		return;
	sec_start (&sec, TETHER_TEST_BUS_SYSTEM, NULL, TRUE);
	add_root_connection (&sec);
	run_admin_calls (&sec, none);

	/* Connect was refused before the daemon acted on it */
	connection = sec_get_connection (&sec, "secconn");
	g_assert_false (tether_dbus_connection1_get_enabled (connection));

	/* reading stays open: a getter, the properties, introspection */
	name = call_as (&sec, TETHER_TEST_USER_OUTSIDER, MANAGER_PATH,
	                "org.tether.Tether1.GetCloud", g_variant_new ("(s)", "thingsboard"),
	                &message);
	g_assert_null (name);
	name = call_as (&sec, TETHER_TEST_USER_OUTSIDER, MANAGER_PATH,
	                "org.freedesktop.DBus.Properties.GetAll",
	                g_variant_new ("(s)", "org.tether.Tether1"), &message);
	g_assert_null (name);
	name = call_as (&sec, TETHER_TEST_USER_OUTSIDER, CONNECTION_PATH "secconn",
	                "org.freedesktop.DBus.Introspectable.Introspect", g_variant_new ("()"),
	                &message);
	g_assert_null (name);
}

/* polkit allows all three actions: every admin method reaches the daemon */
static void
test_polkit_allowed (void)
{
	g_auto(Sec) sec = { 0 };
	const char *const all[] = { ACTION_ANCHORS, ACTION_IDENTITIES, ACTION_CONNECTIONS, NULL };

	if (skip_unless_root ())
		return;
	sec_start (&sec, TETHER_TEST_BUS_SYSTEM, NULL, TRUE);
	run_admin_calls (&sec, all);
}

/* a zero value of @signature's type, in GVariant text for gdbus call */
static char *
zero_text (const char *signature)
{
	g_autoptr(GVariantType) type = g_variant_type_new (signature);
	g_autoptr(GVariant) value = NULL;

	switch (signature[0]) {
	case 's':
		value = g_variant_new_string ("x");
		break;
	case 'q':
		value = g_variant_new_uint16 (1);
		break;
	case 'i':
		value = g_variant_new_int32 (0);
		break;
	case 'u':
		value = g_variant_new_uint32 (0);
		break;
	case 't':
		value = g_variant_new_uint64 (0);
		break;
	case 'b':
		value = g_variant_new_boolean (FALSE);
		break;
	default:
		g_assert_true (g_variant_type_is_array (type));
		value = g_variant_new_array (g_variant_type_element (type), NULL, 0);
		break;
	}
	g_variant_ref_sink (value);
	return g_variant_print (value, TRUE);
}

/* every org.tether method of every object below @path that the bus lets the outsider call */
static void
check_gated (Sec *sec, const char *path, guint *n_gated)
{
	static const char *const open_methods[] = { "Publish", "PublishBatch", "Respond", NULL };
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GDBusNodeInfo) node = NULL;
	const char *xml = NULL;

	reply = g_dbus_connection_call_sync (
	        tether_test_sysbus_get_connection (sec->bus), "org.tether.Tether1", path,
	        "org.freedesktop.DBus.Introspectable", "Introspect", NULL, G_VARIANT_TYPE ("(s)"),
	        G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
	g_assert_no_error (error);
	g_variant_get (reply, "(&s)", &xml);
	node = g_dbus_node_info_new_for_xml (xml, &error);
	g_assert_no_error (error);

	for (guint i = 0; node->interfaces != NULL && node->interfaces[i] != NULL; i++) {
		GDBusInterfaceInfo *info = node->interfaces[i];

		if (!g_str_has_prefix (info->name, "org.tether."))
			continue;
		for (guint j = 0; info->methods != NULL && info->methods[j] != NULL; j++) {
			GDBusMethodInfo *method = info->methods[j];
			g_autofree char *full = g_strdup_printf ("%s.%s", info->name, method->name);
			g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
			g_autofree char *message = NULL;
			g_autofree char *name = NULL;

			/* reading is open; publishing is the bus policy's (test_bus_policy_publish) */
			if (g_str_has_prefix (method->name, "Get") ||
			    g_strv_contains (open_methods, method->name))
				continue;
			for (guint k = 0; method->in_args != NULL && method->in_args[k] != NULL;
			     k++)
				g_ptr_array_add (args, zero_text (method->in_args[k]->signature));
			g_ptr_array_add (args, NULL);
			name = tether_test_sysbus_call (sec->bus, TETHER_TEST_USER_OUTSIDER, path,
			                                full, (const char *const *) args->pdata,
			                                &message);
			if (g_strcmp0 (name, NOT_AUTHORIZED) != 0)
				g_error ("%s on %s is not gated by polkit: %s %s", full, path,
				         name != NULL ? name : "accepted",
				         message != NULL ? message : "");
			(*n_gated)++;
		}
	}
	for (guint i = 0; node->nodes != NULL && node->nodes[i] != NULL; i++) {
		g_autofree char *child = g_strconcat (path, "/", node->nodes[i]->path, NULL);
		check_gated (sec, child, n_gated);
	}
}

/*
 * Whatever methods the objects have now or get later: with polkit denying
 * everything, the outsider gets NotAuthorized from each admin method of
 * every kind of object (manager, connection, cloud, anchor, identity).
 */
static void
test_polkit_every_method_gated (void)
{
	g_auto(Sec) sec = { 0 };
	g_autoptr(GError) error = NULL;
	g_autofree char *csr = NULL;
	g_autofree char *anchor = NULL;
	g_auto(GStrv) warnings = NULL;
	GVariantBuilder b;
	guint n_gated = 0;

	if (skip_unless_root ())
		return;
	sec_start (&sec, TETHER_TEST_BUS_SYSTEM, NULL, TRUE);
	add_root_connection (&sec);
	g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add (&b, "{sv}", "common-name", g_variant_new_string ("sec-device"));
	tether_dbus_tether1_call_create_identity_request_sync (
	        tether_test_sysbus_get_manager (sec.bus), "device", g_variant_builder_end (&b),
	        G_DBUS_CALL_FLAGS_NONE, -1, &csr, NULL, &error);
	g_assert_no_error (error);
	tether_dbus_tether1_call_add_trust_anchor_sync (
	        tether_test_sysbus_get_manager (sec.bus), "sec-ca",
	        file_variant (tether_test_env_get_pki (sec.env)->server_ca_cert), no_options (),
	        G_DBUS_CALL_FLAGS_NONE, -1, &anchor, &warnings, NULL, &error);
	g_assert_no_error (error);

	check_gated (&sec, MANAGER_PATH, &n_gated);
	g_printerr ("# %u admin methods refused\n", n_gated);
	g_assert_cmpuint (n_gated, >=, 14);
}

/* one action allowed: only that area's methods pass */
static void
test_polkit_per_action (void)
{
	g_auto(Sec) sec = { 0 };
	const char *const anchors[] = { ACTION_ANCHORS, NULL };
	const char *const identities[] = { ACTION_IDENTITIES, NULL };

	if (skip_unless_root ())
		return;
	sec_start (&sec, TETHER_TEST_BUS_SYSTEM, NULL, TRUE);
	add_root_connection (&sec);
	run_admin_calls (&sec, anchors);
	run_admin_calls (&sec, identities);
}

/* tetherctl, as the outsider, says why and what to do */
static void
test_polkit_tetherctl (void)
{
	g_auto(Sec) sec = { 0 };
	g_autoptr(TetherTestCtlResult) result = NULL;
	g_autofree char *copy = NULL;
	g_autofree char *pem = NULL;
	const char *argv[] = { NULL, "anchor", "add", "sec-ca", NULL, NULL };

	if (skip_unless_root ())
		return;
	sec_start (&sec, TETHER_TEST_BUS_SYSTEM, NULL, TRUE);

	/* the outsider must be able to read the file it uploads */
	copy = g_build_filename (tether_test_sysbus_get_dir (sec.bus), "ca.pem", NULL);
	pem = read_file (tether_test_env_get_pki (sec.env)->server_ca_cert);
	g_assert_true (g_file_set_contents (copy, pem, -1, NULL));
	g_assert_cmpint (g_chmod (copy, 0644), ==, 0);

	argv[0] = g_getenv ("TETHERCTL");
	argv[4] = copy;
	result = tether_test_sysbus_run (sec.bus, TETHER_TEST_USER_OUTSIDER, argv);
	g_assert_cmpint (result->status, ==, 1);
	g_assert_nonnull (strstr (result->err, "not authorized"));
	g_assert_nonnull (strstr (result->err, ACTION_ANCHORS));
}

/*
 * --session: the daemon's own user (here tethersec-pub, not root) is
 * allowed, another user is not, whatever polkit would say.
 */
static void
test_session_own_user_only (void)
{
	g_auto(Sec) sec = { 0 };
	const TetherTestPki *pki;
	g_autofree char *error = NULL;
	g_autofree char *message = NULL;

	if (skip_unless_root ())
		return;
	sec_start (&sec, TETHER_TEST_BUS_SESSION, TETHER_TEST_USER_PUBLISHER, FALSE);
	pki = tether_test_env_get_pki (sec.env);

	error = call_as (&sec, TETHER_TEST_USER_OUTSIDER, MANAGER_PATH,
	                 "org.tether.Tether1.AddTrustAnchor",
	                 g_variant_new ("(s@ay@a{sv})", "sec-ca",
	                                file_variant (pki->server_ca_cert), no_options ()),
	                 &message);
	g_assert_cmpstr (error, ==, NOT_AUTHORIZED);
	g_assert_nonnull (strstr (message, "session bus"));
	g_clear_pointer (&error, g_free);
	g_clear_pointer (&message, g_free);

	error = call_as (&sec, TETHER_TEST_USER_PUBLISHER, MANAGER_PATH,
	                 "org.tether.Tether1.AddTrustAnchor",
	                 g_variant_new ("(s@ay@a{sv})", "sec-ca",
	                                file_variant (pki->server_ca_cert), no_options ()),
	                 &message);
	g_assert_null (error);
}

/* ---- the bus policy ---- */

static char *
read_line_with (TetherTestSysbusProcess *monitor, const char *who, const char *needle,
                const char *forbidden)
{
	for (guint i = 0; i < 200; i++) {
		g_autofree char *line =
		        tether_test_sysbus_process_read_line (monitor, TETHER_TEST_TIMEOUT_MS);

		if (line == NULL)
			return NULL;
		g_printerr ("# monitor (%s): %s\n", who, line);
		if (forbidden != NULL && strstr (line, forbidden) != NULL)
			g_error ("%s heard %s: %s", who, forbidden, line);
		if (strstr (line, needle) != NULL)
			return g_steal_pointer (&line);
	}
	return NULL;
}

static TetherTestSysbusProcess *
start_monitor (Sec *sec, const char *user)
{
	const char *const argv[] = {
		"stdbuf", "-oL", "gdbus", "monitor", "--system", "--dest", "org.tether.Tether1",
		NULL
	};
	TetherTestSysbusProcess *monitor = tether_test_sysbus_spawn (sec->bus, user, argv);
	g_autofree char *ready = read_line_with (monitor, user, "is owned by", NULL);

	/* the match rule went to the bus before the name lookup that printed this */
	g_assert_nonnull (ready);
	return monitor;
}

/*
 * Outside tether-publish: no Publish, PublishBatch or Respond, no Received
 * or MessageResult. Inside: all of them. Properties stay readable for all.
 */
static void
test_bus_policy_publish (void)
{
	g_auto(Sec) sec = { 0 };
	g_autoptr(TetherTestSysbusProcess) outsider = NULL;
	g_autoptr(TetherTestSysbusProcess) publisher = NULL;
	g_autoptr(TetherDBusConnection1) connection = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *line = NULL;
	const char *conn = CONNECTION_PATH CONNECTION;
	const char *request = "{\"method\":\"ping\",\"params\":{}}";
	g_autoptr(GBytes) request_bytes = g_bytes_new_static (request, strlen (request));
	GVariantBuilder batch;
	struct {
		const char *path;
		const char *method;
		GVariant *args;
	} publishing[4];

	if (skip_unless_root ())
		return;
	sec_start (&sec, TETHER_TEST_BUS_SYSTEM, NULL, FALSE);
	sec_start_broker (&sec);
	sec_provision (&sec);

	g_variant_builder_init (&batch, G_VARIANT_TYPE ("a(saya{sv})"));
	g_variant_builder_add (&batch, "(s@ay@a{sv})", "telemetry", bytes_variant ("{\"b\":1}", 7),
	                       no_options ());
	publishing[0].path = MANAGER_PATH;
	publishing[0].method = "org.tether.Tether1.Publish";
	publishing[0].args = g_variant_new ("(s@ay@a{sv})", "telemetry",
	                                    bytes_variant ("{\"m\":1}", 7), no_options ());
	publishing[1].path = conn;
	publishing[1].method = "org.tether.Connection1.Publish";
	publishing[1].args = g_variant_new ("(s@ay@a{sv})", "telemetry",
	                                    bytes_variant ("{\"c\":1}", 7), no_options ());
	publishing[2].path = conn;
	publishing[2].method = "org.tether.Connection1.PublishBatch";
	publishing[2].args = g_variant_new ("(@a(saya{sv}))", g_variant_builder_end (&batch));
	publishing[3].path = conn;
	publishing[3].method = "org.tether.Connection1.Respond";
	publishing[3].args = g_variant_new ("(si@ay)", "7", 200, bytes_variant ("{}", 2));

	for (guint i = 0; i < G_N_ELEMENTS (publishing); i++)
		g_variant_ref_sink (publishing[i].args);
	outsider = start_monitor (&sec, TETHER_TEST_USER_OUTSIDER);
	publisher = start_monitor (&sec, TETHER_TEST_USER_PUBLISHER);

	/* the outsider: refused by the bus itself, before tetherd sees anything */
	for (guint i = 0; i < G_N_ELEMENTS (publishing); i++) {
		g_autofree char *message = NULL;
		g_autofree char *name = call_as (&sec, TETHER_TEST_USER_OUTSIDER,
		                                 publishing[i].path, publishing[i].method,
		                                 g_variant_ref (publishing[i].args), &message);
		g_assert_cmpstr (name, ==, ACCESS_DENIED);
	}

	/* the publisher: each call reaches tetherd */
	for (guint i = 0; i < G_N_ELEMENTS (publishing); i++) {
		g_autofree char *message = NULL;
		g_autofree char *name = call_as (&sec, TETHER_TEST_USER_PUBLISHER,
		                                 publishing[i].path, publishing[i].method,
		                                 g_variant_ref (publishing[i].args), &message);

		g_assert_null (name);
	}
	for (guint i = 0; i < G_N_ELEMENTS (publishing); i++)
		g_variant_unref (publishing[i].args);
	assert_arrives (&sec, TELEMETRY_TOPIC, "{\"m\":1}");
	assert_arrives (&sec, TELEMETRY_TOPIC, "{\"c\":1}");
	assert_arrives (&sec, TELEMETRY_TOPIC, "{\"b\":1}");
	assert_arrives (&sec, "v1/devices/me/rpc/response/7", "{}");

	/* the cloud sends a command: the publisher hears it, and the results before it */
	tether_test_observer_publish (sec.observer, "v1/devices/me/rpc/request/7", request_bytes,
	                              &error);
	g_assert_no_error (error);
	line = read_line_with (publisher, TETHER_TEST_USER_PUBLISHER, ".MessageResult", NULL);
	g_assert_nonnull (line);
	g_clear_pointer (&line, g_free);
	line = read_line_with (publisher, TETHER_TEST_USER_PUBLISHER, ".Received", NULL);
	g_assert_nonnull (line);
	g_assert_nonnull (strstr (line, "rpc/request/7"));
	g_clear_pointer (&line, g_free);

	/*
	 * then a property change: the outsider hears it, and would have heard the
	 * MessageResult and Received signals sent before it; it must not have
	 */
	connection = sec_get_connection (&sec, CONNECTION);
	tether_dbus_connection1_call_disconnect_sync (connection, G_DBUS_CALL_FLAGS_NONE, -1, NULL,
	                                              &error);
	g_assert_no_error (error);
	line = read_line_with (outsider, TETHER_TEST_USER_OUTSIDER, "'Enabled': <false>",
	                       "org.tether.Connection1.");
	g_assert_nonnull (line);
	g_assert_nonnull (strstr (line, "PropertiesChanged"));
}

/* ---- the daemon as the tether user ---- */

static void
assert_private_tree (const char *path, uid_t owner)
{
	GStatBuf st;

	g_assert_cmpint (g_lstat (path, &st), ==, 0);
	if (st.st_uid != owner)
		g_error ("%s belongs to uid %u, not %u", path, (guint) st.st_uid, (guint) owner);
	if (S_ISDIR (st.st_mode)) {
		g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
		const char *name;

		if ((st.st_mode & 07777) != 0700)
			g_error ("directory %s has mode %04o, not 0700", path,
			         (guint) (st.st_mode & 07777));
		while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
			g_autofree char *child = g_build_filename (path, name, NULL);
			assert_private_tree (child, owner);
		}
	} else if (S_ISREG (st.st_mode) && (st.st_mode & 07777) != 0600) {
		g_error ("file %s has mode %04o, not 0600", path, (guint) (st.st_mode & 07777));
	}
}

/* systemd-tmpfiles --root looks users up in the root's own files */
static void
copy_to_root (const char *root, const char *file)
{
	g_autofree char *copy = g_build_filename (root, file, NULL);
	g_autofree char *dir = g_path_get_dirname (copy);
	g_autofree char *contents = read_file (file);

	g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
	g_assert_true (g_file_set_contents (copy, contents, -1, NULL));
}

/* the settings directory from the shipped tmpfiles.d line "d PATH MODE USER GROUP -" */
static char *
tmpfiles_config_dir (void)
{
	g_autofree char *text = read_file (g_getenv ("TETHER_TMPFILES"));
	g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) fields = g_strsplit_set (lines[i], " \t", -1);
		if (fields[0] != NULL && g_str_equal (fields[0], "d") && fields[1] != NULL)
			return g_strdup (fields[1]);
	}
	g_error ("no directory line in %s", g_getenv ("TETHER_TMPFILES"));
}

/*
 * tetherd as "tether" (from the shipped sysusers.d file), its settings
 * directory made by the shipped tmpfiles.d file, its state where
 * StateDirectory= puts it: it connects and publishes, and every file it
 * wrote is its own and private.
 */
static void
test_daemon_unprivileged (void)
{
	g_auto(Sec) sec = { 0 };
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) ids = NULL;
	g_autofree char *root = NULL;
	g_autofree char *config_dir = NULL;
	g_autofree char *rooted_config_dir = NULL;
	g_autofree char *root_arg = NULL;
	g_autofree char *var = NULL;
	g_autofree char *var_lib = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;
	uid_t tether_uid;
	guint32 owner_uid = 0;

	if (skip_unless_root ())
		return;
	tether_test_sysbus_ensure_users ();
	tether_uid = user_uid (TETHER_TEST_DAEMON_USER);
	sec.env = tether_test_env_new ();
	sec.bus = tether_test_sysbus_new (sec.env, TETHER_TEST_BUS_SYSTEM);

	/* the shipped tmpfiles.d file makes the settings directory under a scratch root */
	root = g_build_filename (tether_test_sysbus_get_dir (sec.bus), "root", NULL);
	root_arg = g_strdup_printf ("--root=%s", root);
	copy_to_root (root, "/etc/passwd");
	copy_to_root (root, "/etc/group");
	{
		const char *argv[] = { "systemd-tmpfiles", "--create", root_arg,
			               g_getenv ("TETHER_TMPFILES"), NULL };
		result = tether_test_sysbus_run (sec.bus, NULL, argv);
		g_assert_cmpint (result->status, ==, 0);
	}
	config_dir = tmpfiles_config_dir ();
	rooted_config_dir = g_build_filename (root, config_dir, NULL);
	assert_private_tree (rooted_config_dir, tether_uid);
	sec.config_file = g_build_filename (rooted_config_dir, "tether.conf", NULL);
	/* StateDirectory=tether, StateDirectoryMode=0700 */
	sec.state_dir = make_user_dir (root, "var/lib/tether", TETHER_TEST_DAEMON_USER);
	var = g_build_filename (root, "var", NULL);
	var_lib = g_build_filename (root, "var", "lib", NULL);
	g_assert_cmpint (g_chmod (root, 0755), ==, 0);
	g_assert_cmpint (g_chmod (var, 0755), ==, 0);
	g_assert_cmpint (g_chmod (var_lib, 0755), ==, 0);

	tether_test_sysbus_start_daemon (sec.bus, TETHER_TEST_DAEMON_USER, sec.state_dir,
	                                 sec.config_file);
	reply = g_dbus_connection_call_sync (
	        tether_test_sysbus_get_connection (sec.bus), "org.freedesktop.DBus",
	        "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetConnectionUnixUser",
	        g_variant_new ("(s)", "org.tether.Tether1"), G_VARIANT_TYPE ("(u)"),
	        G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
	g_assert_no_error (error);
	g_variant_get (reply, "(u)", &owner_uid);
	g_assert_cmpuint (owner_uid, ==, tether_uid);

	sec_start_broker (&sec);
	sec_provision (&sec);
	tether_dbus_tether1_call_publish_sync (tether_test_sysbus_get_manager (sec.bus),
	                                       "telemetry", bytes_variant ("{\"u\":1}", 7),
	                                       no_options (), G_DBUS_CALL_FLAGS_NONE, -1, &ids,
	                                       NULL, &error);
	g_assert_no_error (error);
	assert_arrives (&sec, TELEMETRY_TOPIC, "{\"u\":1}");

	tether_test_sysbus_stop_daemon (sec.bus);
	g_assert_true (g_file_test (sec.config_file, G_FILE_TEST_IS_REGULAR));
	assert_private_tree (rooted_config_dir, tether_uid);
	assert_private_tree (sec.state_dir, tether_uid);
}

/* ---- the state directory's modes ---- */

/* a state directory and a key left open to others are restricted at start, and reported */
static void
test_state_modes_fixed (void)
{
	g_autoptr(TetherTestEnv) env = tether_test_env_new ();
	const char *state = tether_test_env_get_state_dir (env);
	g_autofree char *identity_dir =
	        g_build_filename (state, "identities", "device", "active", NULL);
	g_autofree char *key = g_build_filename (identity_dir, "key.pem", NULL);
	g_autofree char *loose_key = NULL;
	g_autofree char *key_pem = NULL;
	g_autofree char *log = NULL;
	GStatBuf st;

	tether_test_env_make_client_cert (env, "loose", DEVICE_CN);
	loose_key = tether_test_env_pki_file (env, "loose.key");
	key_pem = read_file (loose_key);
	g_assert_cmpint (g_mkdir_with_parents (identity_dir, 0755), ==, 0);
	g_assert_true (g_file_set_contents (key, key_pem, -1, NULL));
	g_assert_cmpint (g_chmod (key, 0644), ==, 0);
	g_assert_cmpint (g_chmod (state, 0755), ==, 0);

	tether_test_env_start_daemon (env);
	g_assert_cmpint (g_stat (state, &st), ==, 0);
	g_assert_cmpint (st.st_mode & 07777, ==, 0700);
	g_assert_cmpint (g_stat (identity_dir, &st), ==, 0);
	g_assert_cmpint (st.st_mode & 07777, ==, 0700);
	g_assert_cmpint (g_stat (key, &st), ==, 0);
	g_assert_cmpint (st.st_mode & 07777, ==, 0600);

	log = read_file (tether_test_env_get_daemon_log (env));
	g_assert_nonnull (strstr (log, "key.pem was open to group or others (mode 0644)"));
	g_assert_nonnull (strstr (log, "had mode 0755; set to 0700"));
}

/* ---- start-up refusals: the settings file and the state directory ---- */

/* --config naming a directory: refused at start, where the changes made later were lost */
static void
test_config_directory (void)
{
	g_autoptr(TetherTestEnv) env = tether_test_env_new ();
	g_autofree char *dir = tether_test_env_path (env, "config-dir");
	g_autofree char *expected = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;
	g_autoptr(GDir) entries = NULL;

	g_assert_cmpint (g_mkdir (dir, 0700), ==, 0);
	result = tether_test_env_run_daemon (
	        env, "--state-dir", tether_test_env_get_state_dir (env), "--config", dir, NULL);
	g_assert_cmpint (result->status, ==, 1);
	expected = g_strdup_printf (
	        "tetherd: the configuration %s is a directory: --config must name a file\n", dir);
	g_assert_nonnull (strstr (result->err, expected));

	/* nothing was written into it */
	entries = g_dir_open (dir, 0, NULL);
	g_assert_nonnull (entries);
	g_assert_null (g_dir_read_name (entries));
}

/* a --config or --state-dir whose directory is not there (a typo): refused, nothing made */
static void
test_config_missing_directory (void)
{
	g_autoptr(TetherTestEnv) env = tether_test_env_new ();
	g_autofree char *typo = tether_test_env_path (env, "tehter");
	g_autofree char *config = g_build_filename (typo, "deep", "tether.conf", NULL);
	g_autofree char *state = g_build_filename (typo, "deep", "state", NULL);
	g_autofree char *good_config = tether_test_env_path (env, "tether.conf");
	const struct {
		const char *config;
		const char *state;
		const char *option;
		const char *path;
	} cases[] = {
		{ config, tether_test_env_get_state_dir (env), "--config", config },
		{ good_config, state, "--state-dir", state },
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(TetherTestCtlResult) result = NULL;
		g_autofree char *expected = NULL;

		result = tether_test_env_run_daemon (env, "--state-dir", cases[i].state, "--config",
		                                     cases[i].config, NULL);
		g_assert_cmpint (result->status, ==, 1);
		expected = g_strdup_printf ("tetherd: %s %s: the directory ", cases[i].option,
		                            cases[i].path);
		g_assert_nonnull (strstr (result->err, expected));
		g_assert_nonnull (strstr (result->err, "does not exist"));
		g_assert_false (g_file_test (typo, G_FILE_TEST_EXISTS));
	}
}

/* an argument tetherd does not take (a typo of an option's value) is refused, not ignored */
static void
test_unexpected_argument (void)
{
	g_autoptr(TetherTestEnv) env = tether_test_env_new ();
	g_autofree char *config = tether_test_env_path (env, "tether.conf");
	g_autoptr(TetherTestCtlResult) result = NULL;

	result =
	        tether_test_env_run_daemon (env, "--state-dir", tether_test_env_get_state_dir (env),
	                                    "--config", config, "extra", NULL);
	g_assert_cmpint (result->status, ==, 2);
	g_assert_nonnull (strstr (result->err, "tetherd: unexpected argument 'extra'"));
	g_assert_false (g_file_test (config, G_FILE_TEST_EXISTS));
}

/*
 * --config naming a file that is not a key file: refused at start with the
 * parse error, and the file keeps its bytes; spoiled while tetherd runs, the
 * next change is refused rather than written over it
 */
static void
test_config_not_key_file (void)
{
	g_autoptr(TetherTestEnv) env = tether_test_env_new ();
	const char garbage[] = "garbage [[[ not ini\n";
	g_autofree char *path = tether_test_env_write_file (env, "garbage.conf", garbage, -1);
	g_autofree char *running = tether_test_env_path (env, "tether.conf");
	g_autofree char *expected = NULL;
	g_autofree char *contents = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;
	g_autoptr(TetherTestCtlResult) added = NULL;

	result = tether_test_env_run_daemon (
	        env, "--state-dir", tether_test_env_get_state_dir (env), "--config", path, NULL);
	g_assert_cmpint (result->status, ==, 1);
	expected = g_strdup_printf ("tetherd: the configuration %s is not a key file (", path);
	g_assert_nonnull (strstr (result->err, expected));
	g_assert_nonnull (strstr (result->err, "garbage [[[ not ini"));
	g_assert_nonnull (strstr (result->err, "fix it, or move it away"));
	contents = read_file (path);
	g_assert_cmpstr (contents, ==, garbage);
	g_clear_pointer (&contents, g_free);
	g_clear_pointer (&expected, g_free);

	/* the harness's settings file is this one */
	tether_test_env_start_daemon (env);
	g_assert_true (g_file_set_contents (running, garbage, -1, NULL));
	added = tether_test_env_ctl (env, NULL, "connection", "add", "spoiled", "--cloud",
	                             "thingsboard", "--endpoint", "localhost:8883", NULL);
	g_assert_cmpint (added->status, ==, 1);
	expected = g_strdup_printf ("tetherctl: the configuration %s is not a key file (", running);
	g_assert_nonnull (strstr (added->err, expected));
	contents = read_file (running);
	g_assert_cmpstr (contents, ==, garbage);
}

/*
 * tetherd as "tether" with its settings in a directory only root may write:
 * it says so at start, and a change is refused with the reason before
 * anything is made (the key-file backend would only have warned, kept the
 * change in memory, and lost it at the next start)
 */
static void
test_config_read_only (void)
{
	g_auto(Sec) sec = { 0 };
	g_autofree char *config_dir = NULL;
	g_autofree char *reason = NULL;
	g_autofree char *log = NULL;
	g_autofree char *outbox = NULL;
	g_autofree char *spare = NULL;
	g_autoptr(TetherTestCtlResult) added = NULL;
	g_autoptr(TetherTestCtlResult) requested = NULL;
	const char *const *connections;
	const char *const add[] = {
		g_getenv ("TETHERCTL"), "connection",     "add", "x", "--cloud", "thingsboard",
		"--endpoint",           "localhost:8883", NULL
	};
	const char *const request[] = {
		g_getenv ("TETHERCTL"), "identity", "request", "--identity", "spare",
		"--common-name",        "spare",    NULL
	};

	if (skip_unless_root ())
		return;
	tether_test_sysbus_ensure_users ();
	sec.env = tether_test_env_new ();
	sec.bus = tether_test_sysbus_new (sec.env, TETHER_TEST_BUS_SYSTEM);
	sec.state_dir = make_user_dir (tether_test_sysbus_get_dir (sec.bus), "state",
	                               TETHER_TEST_DAEMON_USER);
	config_dir = make_user_dir (tether_test_sysbus_get_dir (sec.bus), "config", "root");
	g_assert_cmpint (g_chmod (config_dir, 0755), ==, 0);
	sec.config_file = g_build_filename (config_dir, "tether.conf", NULL);
	tether_test_sysbus_start_daemon (sec.bus, TETHER_TEST_DAEMON_USER, sec.state_dir,
	                                 sec.config_file);

	reason = g_strdup_printf ("cannot save the configuration to %s: Permission denied: give "
	                          "user %s write access to %s",
	                          sec.config_file, TETHER_TEST_DAEMON_USER, config_dir);
	log = read_file (tether_test_sysbus_get_daemon_log (sec.bus));
	g_assert_nonnull (strstr (log, "the configuration is read-only: "));
	g_assert_nonnull (strstr (log, reason));

	/* the operator's view: the reason, and nothing half-made */
	added = tether_test_sysbus_run (sec.bus, NULL, add);
	g_assert_cmpint (added->status, ==, 1);
	g_assert_nonnull (strstr (added->err, reason));
	outbox = g_build_filename (sec.state_dir, "outbox", "x", NULL);
	g_assert_false (g_file_test (outbox, G_FILE_TEST_EXISTS));
	connections =
	        tether_dbus_tether1_get_connections (tether_test_sysbus_get_manager (sec.bus));
	g_assert_cmpuint (g_strv_length ((char **) connections), ==, 0);

	/* a new identity goes into the settings too */
	requested = tether_test_sysbus_run (sec.bus, NULL, request);
	g_assert_cmpint (requested->status, ==, 1);
	g_assert_nonnull (strstr (requested->err, reason));
	spare = g_build_filename (sec.state_dir, "identities", "spare", NULL);
	g_assert_false (g_file_test (spare, G_FILE_TEST_EXISTS));

	g_assert_false (g_file_test (sec.config_file, G_FILE_TEST_EXISTS));
	tether_test_sysbus_stop_daemon (sec.bus);
}

/*
 * a state directory open to others, which the daemon's user cannot
 * restrict: refused, and not reported restricted first
 */
static void
test_state_foreign_owner (void)
{
	g_autoptr(TetherTestEnv) env = NULL;
	g_autoptr(TetherTestSysbus) bus = NULL;
	g_autofree char *state = NULL;
	g_autofree char *config_dir = NULL;
	g_autofree char *config = NULL;
	g_autofree char *expected = NULL;
	g_autoptr(TetherTestCtlResult) result = NULL;
	GStatBuf st;

	if (skip_unless_root ())
		return;
	tether_test_sysbus_ensure_users ();
	env = tether_test_env_new ();
	bus = tether_test_sysbus_new (env, TETHER_TEST_BUS_SYSTEM);
	state = make_user_dir (tether_test_sysbus_get_dir (bus), "state", "root");
	g_assert_cmpint (g_chmod (state, 0755), ==, 0);
	config_dir =
	        make_user_dir (tether_test_sysbus_get_dir (bus), "config", TETHER_TEST_DAEMON_USER);
	config = g_build_filename (config_dir, "tether.conf", NULL);

	{
		const char *const argv[] = { g_getenv ("TETHERD"), "--state-dir", state,
			                     "--config",           config,        NULL };
		result = tether_test_sysbus_run (bus, TETHER_TEST_DAEMON_USER, argv);
	}
	g_assert_cmpint (result->status, ==, 1);
	expected = g_strdup_printf ("tetherd: cannot restrict the state directory %s (mode 0755) "
	                            "to 0700: Operation not permitted: give it to user %s, who "
	                            "runs tetherd\n",
	                            state, TETHER_TEST_DAEMON_USER);
	g_assert_nonnull (strstr (result->err, expected));
	g_assert_null (strstr (result->err, "set to 0700"));
	g_assert_cmpint (g_stat (state, &st), ==, 0);
	g_assert_cmpint (st.st_mode & 07777, ==, 0755);
}

/* ---- the plugin loader ---- */

typedef enum {
	PLUGIN_SAFE,
	PLUGIN_GROUP_WRITABLE,
	PLUGIN_OTHERS_WRITABLE,
	PLUGIN_DIR_GROUP_WRITABLE,
	PLUGIN_FOREIGN_OWNER,
	PLUGIN_WRONG_ABI,
} PluginCase;

static char *
thingsboard_module (void)
{
	const char *path = g_getenv ("TETHER_PLUGIN_PATH");
	g_auto(GStrv) dirs = g_strsplit (path, ":", -1);

	for (guint i = 0; dirs[i] != NULL; i++) {
		char *file = g_build_filename (dirs[i], "cloud-thingsboard.so", NULL);
		if (g_file_test (file, G_FILE_TEST_IS_REGULAR))
			return file;
		g_free (file);
	}
	g_error ("no cloud-thingsboard.so in %s", path);
}

static void
copy_file (const char *from, const char *to, int mode)
{
	g_autofree char *contents = NULL;
	gsize size = 0;
	g_autoptr(GError) error = NULL;

	g_file_get_contents (from, &contents, &size, &error);
	g_assert_no_error (error);
	g_file_set_contents_full (to, contents, (gssize) size, G_FILE_SET_CONTENTS_NONE, mode,
	                          &error);
	g_assert_no_error (error);
	/* the umask does not decide the case under test */
	g_assert_cmpint (g_chmod (to, mode), ==, 0);
}

/* tetherd with one plugin directory holding one module: loaded or refused, and why */
static void
run_plugin_case (PluginCase plugin_case, const char *reason)
{
	g_autoptr(TetherTestEnv) env = tether_test_env_new ();
	g_autofree char *dir = tether_test_env_path (env, "plugins");
	g_autofree char *module = g_build_filename (dir, "cloud-test.so", NULL);
	g_autofree char *source = NULL;
	g_autofree char *log = NULL;
	g_autofree char *refusal = NULL;
	const char *const *clouds;

	g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
	g_assert_cmpint (g_chmod (dir, plugin_case == PLUGIN_DIR_GROUP_WRITABLE ? 0775 : 0755), ==,
	                 0);
	source = plugin_case == PLUGIN_WRONG_ABI ? g_strdup (g_getenv ("TETHER_WRONG_ABI_PLUGIN"))
	                                         : thingsboard_module ();
	copy_file (source, module,
	           plugin_case == PLUGIN_GROUP_WRITABLE    ? 0664
	           : plugin_case == PLUGIN_OTHERS_WRITABLE ? 0646
	                                                   : 0644);
	if (plugin_case == PLUGIN_FOREIGN_OWNER) {
		if (getuid () != 0) {
			g_test_skip ("only root can give a file to another user");
			return;
		}
		g_assert_cmpint (chown (module, 65534, 65534), ==, 0);
	}

	g_setenv ("TETHER_PLUGIN_PATH", dir, TRUE);
	tether_test_env_start_daemon (env);
	clouds = tether_dbus_tether1_get_clouds (tether_test_env_get_manager (env));
	log = read_file (tether_test_env_get_daemon_log (env));
	refusal = g_strdup_printf ("plugin %s refused", module);
	if (plugin_case == PLUGIN_SAFE) {
		g_assert_cmpuint (g_strv_length ((char **) clouds), ==, 1);
		g_assert_null (strstr (log, refusal));
		return;
	}
	g_assert_cmpuint (g_strv_length ((char **) clouds), ==, 0);
	g_assert_nonnull (strstr (log, refusal));
	if (strstr (log, reason) == NULL)
		g_error ("the daemon's log does not say '%s':\n%s", reason, log);
}

static void
test_plugin_safe (void)
{
	run_plugin_case (PLUGIN_SAFE, NULL);
}

static void
test_plugin_group_writable (void)
{
	run_plugin_case (PLUGIN_GROUP_WRITABLE, "is writable by group or others (mode 0664)");
}

static void
test_plugin_others_writable (void)
{
	run_plugin_case (PLUGIN_OTHERS_WRITABLE, "is writable by group or others (mode 0646)");
}

static void
test_plugin_dir_group_writable (void)
{
	run_plugin_case (PLUGIN_DIR_GROUP_WRITABLE, "plugins' is writable by group or others");
}

static void
test_plugin_foreign_owner (void)
{
	run_plugin_case (PLUGIN_FOREIGN_OWNER, "is owned by user 65534");
}

static void
test_plugin_wrong_abi (void)
{
	run_plugin_case (PLUGIN_WRONG_ABI, "rebuild the plugin");
}

/* ---- the shipped units ---- */

/* systemd-analyze verify accepts the unit, and its sandbox scores 3.0 or better */
static void
test_units_verify (void)
{
	g_autoptr(TetherTestEnv) env = tether_test_env_new ();
	g_autofree char *unit = read_file (g_getenv ("TETHER_UNIT"));
	g_autofree char *copy = tether_test_env_path (env, "tetherd.service");
	g_autoptr(GRegex) exec = g_regex_new ("^ExecStart=\\S+", G_REGEX_MULTILINE, 0, NULL);
	g_autofree char *exec_line = g_strdup_printf ("ExecStart=%s", g_getenv ("TETHERD"));
	g_autofree char *local = NULL;
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;
	g_autoptr(GError) error = NULL;
	gint status = 0;

	/* the installed path does not exist here: point ExecStart at the built daemon */
	local = g_regex_replace_literal (exec, unit, -1, 0, exec_line, 0, &error);
	g_assert_no_error (error);
	g_assert_true (g_file_set_contents (copy, local, -1, NULL));
	{
		const char *argv[] = { "systemd-analyze", "verify", "--man=no", copy, NULL };
		g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
		              &err, &status, &error);
		g_assert_no_error (error);
		g_printerr ("# systemd-analyze verify: %s%s\n", out, err);
		g_assert_true (g_spawn_check_wait_status (status, NULL));
		g_assert_cmpstr (err, ==, "");
	}
	g_clear_pointer (&out, g_free);
	g_clear_pointer (&err, g_free);
	{
		const char *argv[] = { "systemd-analyze",        "security",
			               "--offline=true",         "--threshold=30",
			               g_getenv ("TETHER_UNIT"), NULL };
		g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
		              &err, &status, &error);
		g_assert_no_error (error);
		g_printerr ("# %s\n", strstr (out, "Overall") ? strstr (out, "Overall") : out);
		g_assert_true (g_spawn_check_wait_status (status, NULL));
	}
}

/* the sysusers.d and tmpfiles.d files parse, and the D-Bus files are what the unit names */
static void
test_units_files (void)
{
	g_autofree char *activation = read_file (g_getenv ("TETHER_DBUS_SERVICE"));
	g_autofree char *unit = read_file (g_getenv ("TETHER_UNIT"));
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;
	g_autoptr(GError) error = NULL;
	gint status = 0;

	g_assert_nonnull (strstr (activation, "Name=org.tether.Tether1\n"));
	g_assert_nonnull (strstr (activation, "SystemdService=tetherd.service\n"));
	g_assert_nonnull (strstr (activation, "User=tether\n"));
	g_assert_nonnull (strstr (unit, "BusName=org.tether.Tether1\n"));
	g_assert_nonnull (strstr (unit, "User=tether\n"));
	g_assert_nonnull (strstr (unit, "After=network-online.target time-sync.target\n"));
	{
		const char *argv[] = { "systemd-sysusers", "--dry-run", "--root=/nonexistent",
			               g_getenv ("TETHER_SYSUSERS"), NULL };
		g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
		              &err, &status, &error);
		g_assert_no_error (error);
		g_printerr ("# systemd-sysusers --dry-run: %s%s\n", out, err);
		g_assert_true (g_spawn_check_wait_status (status, NULL));
	}
}

/* ---- logs ---- */

static char *
marker (const char *what)
{
	return g_strdup_printf ("canary-%s-%08x%08x", what, g_random_int (), g_random_int ());
}

/* the key as PKCS#8 encrypted with @password */
static char *
encrypt_key (const char *key_pem, const char *password)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_datum_t in = { (unsigned char *) key_pem, (unsigned int) strlen (key_pem) };
	gnutls_datum_t out = { NULL, 0 };
	char *result;

	g_assert_cmpint (gnutls_x509_privkey_init (&key), ==, 0);
	g_assert_cmpint (gnutls_x509_privkey_import (key, &in, GNUTLS_X509_FMT_PEM), ==, 0);
	g_assert_cmpint (gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_PEM, password,
	                                                    GNUTLS_PKCS_PBES2_AES_256, &out),
	                 ==, 0);
	result = g_strndup ((const char *) out.data, out.size);
	gnutls_free (out.data);
	gnutls_x509_privkey_deinit (key);
	return result;
}

/* the base64 lines of a PEM key: none may show up in a log */
static void
add_key_lines (GPtrArray *secrets, const char *pem)
{
	g_auto(GStrv) lines = g_strsplit (pem, "\n", -1);

	for (guint i = 0; lines[i] != NULL; i++) {
		g_strstrip (lines[i]);
		if (strlen (lines[i]) >= 16 && !g_str_has_prefix (lines[i], "-----"))
			g_ptr_array_add (secrets, g_strdup (lines[i]));
	}
}

typedef struct {
	guint count;
} ReceivedCount;

static void
on_received (TetherDBusConnection1 *proxy, const char *kind, const char *topic, GVariant *payload,
             GVariant *details, gpointer user_data)
{
	((ReceivedCount *) user_data)->count++;
}

static gboolean
has_received (gpointer user_data)
{
	return ((ReceivedCount *) user_data)->count > 0;
}

/* every line tetherd wrote, at debug level, holds none of @secrets */
static void
assert_log_clean (TetherTestEnv *env, GPtrArray *secrets)
{
	g_autofree char *log = read_file (tether_test_env_get_daemon_log (env));

	g_assert_nonnull (strstr (log, "tether-DEBUG"));
	for (guint i = 0; i < secrets->len; i++) {
		const char *secret = g_ptr_array_index (secrets, i);
		const char *found = strstr (log, secret);

		if (found != NULL) {
			const char *line = found;
			while (line > log && line[-1] != '\n')
				line--;
			g_error ("tetherd logged a secret (%s): %.*s", secret,
			         (int) strcspn (line, "\n"), line);
		}
	}
}

/*
 * Payloads in every direction, a generated key, an imported encrypted key
 * and its password (right and wrong), each with a unique marker: tetherd,
 * at its most verbose, logs none of them.
 */
static void
test_logs_canary (void)
{
	g_autoptr(TetherTestEnv) env = tether_test_env_new ();
	g_autofree char *acl = tether_test_acl_thingsboard (DEVICE_CN);
	TetherTestBrokerOptions options = { .acl = acl };
	TetherTestBroker *broker;
	g_autoptr(TetherTestObserver) observer = NULL;
	g_autoptr(GPtrArray) secrets = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GError) error = NULL;
	g_autofree char *published = marker ("publish");
	g_autofree char *manager_published = marker ("manager-publish");
	g_autofree char *batch_published = marker ("batch");
	g_autofree char *refused = marker ("refused");
	g_autofree char *command = marker ("command");
	g_autofree char *answer = marker ("answer");
	g_autofree char *password = marker ("password");
	g_autofree char *wrong_password = marker ("wrong-password");
	g_autofree char *payload = NULL;
	g_autofree char *csr = NULL;
	g_autofree char *csr_path = tether_test_env_path (env, "device.csr");
	g_autofree char *cert_path = tether_test_env_path (env, "device.pem");
	g_autofree char *generated_key_path = NULL;
	g_autofree char *generated_key = NULL;
	g_autofree char *imported_key_path = NULL;
	g_autofree char *imported_chain_path = NULL;
	g_autofree char *imported_key = NULL;
	g_autofree char *encrypted_key = NULL;
	g_autofree char *imported_chain = NULL;
	g_autofree char *request = NULL;
	g_autoptr(GBytes) request_bytes = NULL;
	g_autoptr(GBytes) response = NULL;
	g_autoptr(GVariant) ids = NULL;
	g_autoptr(GVariant) batch_ids = NULL;
	g_auto(GStrv) warnings = NULL;
	TetherDBusTether1 *manager;
	TetherDBusConnection1 *connection;
	ReceivedCount received = { 0 };
	GVariantBuilder builder;
	guint64 id = 0;

	broker = tether_test_env_start_broker (env, &options);
	observer = tether_test_env_observe (env, broker);
	tether_test_observer_subscribe (observer, "#", &error);
	g_assert_no_error (error);
	tether_test_env_start_daemon (env);
	manager = tether_test_env_get_manager (env);

	/* a key made on the device */
	tether_test_env_ctl_ok (env, "identity", "request", "--common-name", DEVICE_CN, "--out",
	                        csr_path, NULL);
	generated_key_path = g_build_filename (tether_test_env_get_state_dir (env), "identities",
	                                       "device", "active", "key.pem", NULL);
	generated_key = read_file (generated_key_path);
	add_key_lines (secrets, generated_key);
	tether_test_env_sign_csr (env, csr_path, cert_path);
	tether_test_env_ctl_ok (env, "identity", "install", cert_path, NULL);
	tether_test_env_ctl_ok (env, "anchor", "add", ANCHOR,
	                        tether_test_env_get_pki (env)->server_ca_cert, NULL);
	tether_test_env_ctl_ok (env, "connection", "add", CONNECTION, "--cloud", "thingsboard",
	                        "--endpoint", tether_test_broker_get_endpoint (broker), "--anchor",
	                        ANCHOR, NULL);
	tether_test_env_wait_state (env, CONNECTION, "connected", TETHER_TEST_TIMEOUT_MS);
	connection = tether_test_env_get_connection (env, CONNECTION);

	/* a key made elsewhere, encrypted, imported with its password; then a wrong password */
	tether_test_env_make_client_cert (env, "imported", "imported-device");
	imported_key_path = tether_test_env_pki_file (env, "imported.key");
	imported_chain_path = tether_test_env_pki_file (env, "imported.pem");
	imported_key = read_file (imported_key_path);
	imported_chain = read_file (imported_chain_path);
	add_key_lines (secrets, imported_key);
	encrypted_key = encrypt_key (imported_key, password);
	add_key_lines (secrets, encrypted_key);
	g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add (&builder, "{sv}", "password", g_variant_new_string (password));
	tether_dbus_tether1_call_import_identity_sync (
	        manager, "imported", bytes_variant (encrypted_key, strlen (encrypted_key)),
	        bytes_variant (imported_chain, strlen (imported_chain)),
	        g_variant_builder_end (&builder), G_DBUS_CALL_FLAGS_NONE, -1, &warnings, NULL,
	        &error);
	g_assert_no_error (error);
	g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add (&builder, "{sv}", "password", g_variant_new_string (wrong_password));
	g_clear_pointer (&warnings, g_strfreev);
	tether_dbus_tether1_call_import_identity_sync (
	        manager, "imported2", bytes_variant (encrypted_key, strlen (encrypted_key)),
	        bytes_variant (imported_chain, strlen (imported_chain)),
	        g_variant_builder_end (&builder), G_DBUS_CALL_FLAGS_NONE, -1, &warnings, NULL,
	        &error);
	assert_remote_error (error, "org.tether.Error.InvalidKey");
	g_clear_error (&error);

	/* payloads: tetherctl, the manager, a batch, one the cloud's rules refuse */
	payload = g_strdup_printf ("{\"v\":\"%s\"}", published);
	tether_test_env_ctl_ok (env, "publish", "--connection", CONNECTION, "--kind", "telemetry",
	                        payload, NULL);
	g_free (payload);
	payload = g_strdup_printf ("{\"v\":\"%s\"}", manager_published);
	tether_dbus_tether1_call_publish_sync (
	        manager, "telemetry", bytes_variant (payload, strlen (payload)), no_options (),
	        G_DBUS_CALL_FLAGS_NONE, -1, &ids, NULL, &error);
	g_assert_no_error (error);
	g_free (payload);
	payload = g_strdup_printf ("{\"v\":\"%s\"}", batch_published);
	g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(saya{sv})"));
	g_variant_builder_add (&builder, "(s@ay@a{sv})", "telemetry",
	                       bytes_variant (payload, strlen (payload)), no_options ());
	tether_dbus_connection1_call_publish_batch_sync (
	        connection, g_variant_builder_end (&builder), G_DBUS_CALL_FLAGS_NONE, -1,
	        &batch_ids, NULL, &error);
	g_assert_no_error (error);
	g_free (payload);
	payload = g_strdup_printf ("not json %s", refused);
	tether_dbus_connection1_call_publish_sync (
	        connection, "telemetry", bytes_variant (payload, strlen (payload)), no_options (),
	        G_DBUS_CALL_FLAGS_NONE, -1, &id, NULL, &error);
	g_assert_nonnull (error);
	g_clear_error (&error);
	g_clear_pointer (&payload, g_free);
	for (guint i = 0; i < 3; i++) {
		g_autoptr(GBytes) got = tether_test_observer_wait (observer, TELEMETRY_TOPIC,
		                                                    TETHER_TEST_TIMEOUT_MS, NULL);
		g_assert_nonnull (got);
	}

	/* a command from the cloud, and the answer */
	g_signal_connect (connection, "received", G_CALLBACK (on_received), &received);
	request = g_strdup_printf ("{\"method\":\"m\",\"params\":{\"v\":\"%s\"}}", command);
	request_bytes = g_bytes_new (request, strlen (request));
	tether_test_observer_publish (observer, "v1/devices/me/rpc/request/9", request_bytes,
	                              &error);
	g_assert_no_error (error);
	g_assert_true (tether_test_wait_until (has_received, &received, TETHER_TEST_TIMEOUT_MS));
	payload = g_strdup_printf ("{\"v\":\"%s\"}", answer);
	tether_dbus_connection1_call_respond_sync (connection, "9", 200,
	                                           bytes_variant (payload, strlen (payload)),
	                                           G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
	g_assert_no_error (error);
	response = tether_test_observer_wait (observer, "v1/devices/me/rpc/response/9",
	                                      TETHER_TEST_TIMEOUT_MS, NULL);
	g_assert_nonnull (response);

	tether_test_env_stop_daemon (env);
	g_ptr_array_add (secrets, g_strdup (published));
	g_ptr_array_add (secrets, g_strdup (manager_published));
	g_ptr_array_add (secrets, g_strdup (batch_published));
	g_ptr_array_add (secrets, g_strdup (refused));
	g_ptr_array_add (secrets, g_strdup (command));
	g_ptr_array_add (secrets, g_strdup (answer));
	g_ptr_array_add (secrets, g_strdup (password));
	g_ptr_array_add (secrets, g_strdup (wrong_password));

	/* every line tetherd wrote, at debug level */
	assert_log_clean (env, secrets);
}

static void
est_child_setup (gpointer user_data)
{
	/* the EST server dies with the test process, even when that aborts */
	prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/*
 * The EST server on the test PKI's localhost certificate, signing with the
 * device CA, accepting the basic credentials @user_password.
 */
static GSubprocess *
start_est_server (TetherTestEnv *env, guint16 port, const char *user_password)
{
	const TetherTestPki *pki = tether_test_env_get_pki (env);
	g_autoptr(GSubprocessLauncher) launcher =
	                   g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	g_autoptr(GDataInputStream) lines = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *port_text = g_strdup_printf ("%u", port);
	g_autofree char *line = NULL;
	GSubprocess *server;

	g_subprocess_launcher_set_child_setup (launcher, est_child_setup, NULL, NULL);
	server = g_subprocess_launcher_spawn (
	        launcher, &error, g_getenv ("TETHER_EST_SERVER"), "--port", port_text, "--cert",
	        pki->server_cert, "--key", pki->server_key, "--ca-cert", pki->device_ca_cert,
	        "--ca-key", pki->device_ca_key, "--client-ca", pki->device_ca_cert, "--user",
	        user_password, NULL);
	g_assert_no_error (error);
	lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server));
	line = g_data_input_stream_read_line (lines, NULL, NULL, &error);
	g_assert_no_error (error);
	if (line == NULL || !g_str_has_prefix (line, "listening"))
		g_error ("the EST server did not start: %s", line != NULL ? line : "(no output)");
	return server;
}

static gboolean
log_says_unauthorized (gpointer user_data)
{
	g_autofree char *log = NULL;

	g_file_get_contents (tether_test_env_get_daemon_log (user_data), &log, NULL, NULL);
	return log != NULL && strstr (log, "401 Unauthorized") != NULL;
}

/*
 * An EST enrollment with basic credentials: first a wrong password, which
 * the server refuses, then the right one, each with a unique marker; the
 * enrolled key too. tetherd, at its most verbose, logs none of them.
 */
static void
test_logs_canary_est (void)
{
	g_autoptr(TetherTestEnv) env = tether_test_env_new ();
	g_autoptr(GPtrArray) secrets = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocess) server = NULL;
	g_autoptr(TetherDBusIdentity1) identity = NULL;
	g_autofree char *password = marker ("est-password");
	g_autofree char *wrong_password = marker ("est-wrong-password");
	g_autofree char *user_password = g_strdup_printf ("est-user:%s", password);
	g_autofree char *wrong_credentials = g_strdup_printf ("est-user:%s\n", wrong_password);
	g_autofree char *credentials = g_strdup_printf ("%s\n", user_password);
	g_autofree char *credentials_path = NULL;
	g_autofree char *config = NULL;
	g_autofree char *config_path = NULL;
	g_autofree char *key_path = NULL;
	g_autofree char *key = NULL;
	guint16 port = tether_test_pick_port ();

	server = start_est_server (env, port, user_password);
	credentials_path =
	        tether_test_env_write_file (env, "est-credentials", wrong_credentials, -1);
	g_assert_no_errno (g_chmod (credentials_path, 0600));
	config = g_strdup_printf ("[identities/device]\n"
	                          "est-url='https://localhost:%u/.well-known/est'\n"
	                          "est-trust-anchors=['" ANCHOR "']\n"
	                          "est-auth='basic'\n"
	                          "est-credentials-file='%s'\n"
	                          "est-common-name='" DEVICE_CN "'\n"
	                          "renewal-retry-min=1\n"
	                          "renewal-retry-max=2\n",
	                          port, credentials_path);
	config_path = tether_test_env_write_file (env, "tether.conf", config, -1);
	tether_test_env_start_daemon (env);
	tether_test_env_ctl_ok (env, "anchor", "add", ANCHOR,
	                        tether_test_env_get_pki (env)->server_ca_cert, NULL);
	identity = tether_dbus_identity1_proxy_new_sync (
	        tether_test_env_get_bus (env), G_DBUS_PROXY_FLAGS_NONE, "org.tether.Tether1",
	        "/org/tether/Tether1/identities/device", NULL, &error);
	g_assert_no_error (error);

	/* the wrong password is refused, and said so; then the right one enrolls */
	g_assert_true (tether_test_wait_until (log_says_unauthorized, env, TETHER_TEST_TIMEOUT_MS));
	g_assert_cmpstr (tether_dbus_identity1_get_state (identity), !=, "ready");
	g_free (tether_test_env_write_file (env, "est-credentials", credentials, -1));
	g_assert_true (tether_test_wait_property (G_DBUS_PROXY (identity), "State",
	                                          g_variant_new_string ("ready"),
	                                          2 * TETHER_TEST_TIMEOUT_MS));
	key_path = g_build_filename (tether_test_env_get_state_dir (env), "identities", "device",
	                             "active", "key.pem", NULL);
	key = read_file (key_path);
	add_key_lines (secrets, key);
	tether_test_env_stop_daemon (env);
	g_subprocess_force_exit (server);
	g_subprocess_wait (server, NULL, NULL);

	g_ptr_array_add (secrets, g_strdup (password));
	g_ptr_array_add (secrets, g_strdup (wrong_password));
	assert_log_clean (env, secrets);
}

int
main (int argc, char **argv)
{
	tether_test_init (&argc, &argv);

	tether_test_add ("/security/polkit/denied", test_polkit_denied);
	tether_test_add ("/security/polkit/allowed", test_polkit_allowed);
	tether_test_add ("/security/polkit/per-action", test_polkit_per_action);
	tether_test_add ("/security/polkit/every-method-gated", test_polkit_every_method_gated);
	tether_test_add ("/security/polkit/tetherctl", test_polkit_tetherctl);
	tether_test_add ("/security/session/own-user-only", test_session_own_user_only);
	tether_test_add ("/security/bus-policy/publish", test_bus_policy_publish);
	tether_test_add ("/security/daemon/unprivileged", test_daemon_unprivileged);
	tether_test_add ("/security/state/modes-fixed", test_state_modes_fixed);
	tether_test_add ("/security/state/foreign-owner", test_state_foreign_owner);
	tether_test_add ("/security/config/directory", test_config_directory);
	tether_test_add ("/security/config/missing-directory", test_config_missing_directory);
	tether_test_add ("/security/start/unexpected-argument", test_unexpected_argument);
	tether_test_add ("/security/config/not-a-key-file", test_config_not_key_file);
	tether_test_add ("/security/config/read-only", test_config_read_only);
	tether_test_add ("/security/plugins/safe", test_plugin_safe);
	tether_test_add ("/security/plugins/group-writable", test_plugin_group_writable);
	tether_test_add ("/security/plugins/others-writable", test_plugin_others_writable);
	tether_test_add ("/security/plugins/dir-group-writable", test_plugin_dir_group_writable);
	tether_test_add ("/security/plugins/foreign-owner", test_plugin_foreign_owner);
	tether_test_add ("/security/plugins/wrong-abi", test_plugin_wrong_abi);
	tether_test_add ("/security/units/verify", test_units_verify);
	tether_test_add ("/security/units/files", test_units_files);
	tether_test_add ("/security/logs/canary", test_logs_canary);
	tether_test_add ("/security/logs/canary-est", test_logs_canary_est);
	return g_test_run ();
}
