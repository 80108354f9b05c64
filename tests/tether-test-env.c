/*
 * The integration test harness: see tether-test-env.h.
 */
#include "tether-test-env.h"

#include <MQTTClient.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pki/tether-test-pki.h"

#define TETHER_BUS_NAME     "org.tether.Tether1"
#define TETHER_MANAGER_PATH "/org/tether/Tether1"
#define DEFAULT_MOSQUITTO   "/usr/sbin/mosquitto"
#define STOP_TIMEOUT_MS     10000
#define CTL_TIMEOUT_MS      30000
#define LOG_TAIL_LINES      40

struct _TetherTestEnv {
	char *dir;
	gboolean owns_dir;
	char *pki_dir;
	GHashTable *certs; /* name -> TetherTestCert */
	TetherTestPki pki;
	gboolean have_pki;
	GPtrArray *brokers;
	guint n_spawned;

	GTestDBus *dbus;
	GDBusConnection *bus;
	GSubprocess *daemon;
	char *state_dir;
	char *config_path;
	char *daemon_log;
	TetherDBusTether1 *manager;
	GHashTable *connections; /* id -> TetherDBusConnection1 */
};

struct _TetherTestBroker {
	TetherTestEnv *env;
	char *name;
	char *conf_path;
	char *log_path;
	char *output_path;
	char *endpoint;
	char *server_ca;
	guint16 port;
	GSubprocess *process;
};

typedef struct {
	char *topic;
	GBytes *payload;
} ObservedMessage;

struct _TetherTestObserver {
	MQTTClient client;
	gboolean created;
	char *client_id;
	GQueue messages; /* ObservedMessage, oldest first */
};

struct _TetherTestProcess {
	GSubprocess *process;
	GDataInputStream *out;
	char *err_path;
};

/* ---- small helpers ---- */

/* fails the test at the caller's line, with a message that says what happened */
#define harness_fail(...) harness_fail_at (__FILE__, __LINE__, G_STRFUNC, __VA_ARGS__)

G_GNUC_PRINTF (4, 5)
G_GNUC_NORETURN static void
harness_fail_at (const char *file, int line, const char *func, const char *format, ...)
{
	va_list args;
	g_autofree char *message = NULL;

	va_start (args, format);
	message = g_strdup_vprintf (format, args);
	va_end (args);
	g_assertion_message (G_LOG_DOMAIN, file, line, func, message);
	/* g_assertion_message returns only with non-fatal assertions */
	abort ();
}

static const char *
require_env (const char *name)
{
	const char *value = g_getenv (name);

	if (value == NULL || *value == '\0')
		harness_fail ("%s is not set: run the tests through meson test", name);
	return value;
}

static void
print_tail (const char *title, const char *path)
{
	g_autofree char *contents = NULL;
	g_auto (GStrv) lines = NULL;
	guint n;

	if (path == NULL || !g_file_get_contents (path, &contents, NULL, NULL)) {
		g_printerr ("# %s: no log at %s\n", title, path ? path : "(none)");
		return;
	}
	lines = g_strsplit (contents, "\n", -1);
	n = g_strv_length (lines);
	g_printerr ("# ---- %s (%s), last lines ----\n", title, path);
	for (guint i = n > LOG_TAIL_LINES ? n - LOG_TAIL_LINES : 0; i < n; i++) {
		if (i + 1 == n && lines[i][0] == '\0')
			break;
		g_printerr ("# | %s\n", lines[i]);
	}
	g_printerr ("# ---- end of %s ----\n", title);
}

void
tether_test_remove_tree (const char *path)
{
	GStatBuf st;

	if (g_lstat (path, &st) != 0)
		return;
	if (S_ISDIR (st.st_mode)) {
		g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
		const char *name;

		while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
			g_autofree char *child = g_build_filename (path, name, NULL);
			tether_test_remove_tree (child);
		}
		g_rmdir (path);
	} else {
		g_unlink (path);
	}
}

static void
child_setup (gpointer user_data)
{
	/* the services die with the test process, even when it aborts */
	prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocessLauncher *
new_launcher (TetherTestEnv *env, GSubprocessFlags flags)
{
	GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);
	g_autofree char *config = g_build_filename (env->dir, "xdg", "config", NULL);
	g_autofree char *data = g_build_filename (env->dir, "xdg", "data", NULL);
	g_autofree char *cache = g_build_filename (env->dir, "xdg", "cache", NULL);
	g_autofree char *state = g_build_filename (env->dir, "xdg", "state", NULL);
	g_autofree char *runtime = g_build_filename (env->dir, "xdg", "runtime", NULL);

	/* the launcher copies the environment now: after the bus is up */
	g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", config, TRUE);
	g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", data, TRUE);
	g_subprocess_launcher_setenv (launcher, "XDG_CACHE_HOME", cache, TRUE);
	g_subprocess_launcher_setenv (launcher, "XDG_STATE_HOME", state, TRUE);
	g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", runtime, TRUE);
	g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
	g_subprocess_launcher_unsetenv (launcher, "LANGUAGE");
	g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
	return launcher;
}

static int
open_log (const char *path)
{
	int fd = g_open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0)
		harness_fail ("cannot open %s: %s", path, g_strerror (errno));
	return fd;
}

/* waits until @process has exited and been reaped; FALSE on timeout */
static gboolean
wait_exit (GSubprocess *process, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

	while (g_subprocess_get_identifier (process) != NULL) {
		if (g_get_monotonic_time () >= deadline)
			return FALSE;
		tether_test_iterate (10);
	}
	/* returns at once, and makes the exit status safe to read */
	g_subprocess_wait (process, NULL, NULL);
	return TRUE;
}

static char *
describe_exit (GSubprocess *process)
{
	if (g_subprocess_get_if_exited (process))
		return g_strdup_printf ("exit status %d", g_subprocess_get_exit_status (process));
	if (g_subprocess_get_if_signaled (process))
		return g_strdup_printf ("killed by signal %d (%s)",
		                        g_subprocess_get_term_sig (process),
		                        g_strsignal (g_subprocess_get_term_sig (process)));
	return g_strdup ("an unknown end");
}

static gboolean
on_tick (gpointer user_data)
{
	gboolean *done = user_data;

	*done = TRUE;
	return G_SOURCE_REMOVE;
}

void
tether_test_iterate (guint ms)
{
	gboolean done = FALSE;

	g_timeout_add (ms, on_tick, &done);
	while (!done)
		g_main_context_iteration (NULL, TRUE);
}

gboolean
tether_test_wait_until (TetherTestCondition condition, gpointer user_data, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

	while (!condition (user_data)) {
		if (g_get_monotonic_time () >= deadline)
			return FALSE;
		tether_test_iterate (20);
	}
	return TRUE;
}

/* ---- test cases, each in its own process ---- */

typedef struct {
	TetherTestFunc func;
} TestCase;

static void
run_case (gconstpointer data)
{
	const TestCase *test_case = data;
	g_autoptr (GError) error = NULL;
	g_autofree char *dir = NULL;
	gboolean keep = g_strcmp0 (g_getenv ("TETHER_TEST_KEEP"), "1") == 0;

	if (g_test_subprocess ()) {
		test_case->func ();
		return;
	}

	/* the parent owns the directory, so it outlives a test that aborts */
	dir = g_dir_make_tmp ("tether-test-XXXXXX", &error);
	g_assert_no_error (error);
	g_setenv ("TETHER_TEST_DIR", dir, TRUE);
	g_test_trap_subprocess (NULL, (guint64) TETHER_TEST_CASE_TIMEOUT_S * G_USEC_PER_SEC,
	                        G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_unsetenv ("TETHER_TEST_DIR");

	if (g_test_trap_has_passed ()) {
		tether_test_remove_tree (dir);
		return;
	}
	if (keep)
		g_printerr ("# kept the directory of %s: %s\n", g_test_get_path (), dir);
	else
		tether_test_remove_tree (dir);
	g_test_fail_printf ("%s failed in its own process; its messages are above%s",
	                    g_test_get_path (),
	                    keep ? "" : " (TETHER_TEST_KEEP=1 keeps its directory)");
}

void
tether_test_init (int *argc, char ***argv)
{
	g_test_init (argc, argv, NULL);
	/* tetherctl may exit before it reads its input */
	signal (SIGPIPE, SIG_IGN);
}

guint
tether_test_slowdown (void)
{
	const char *text = g_getenv ("TETHER_TEST_SLOWDOWN");
	guint64 factor = 1;

	if (text != NULL && *text != '\0' &&
	    !g_ascii_string_to_unsigned (text, 10, 1, 20, &factor, NULL))
		g_error ("TETHER_TEST_SLOWDOWN must be a number from 1 to 20, not '%s'", text);
	return (guint) factor;
}

void
tether_test_add (const char *path, TetherTestFunc func)
{
	/* GLib never frees its test suites: the cases stay reachable from here */
	static GPtrArray *test_cases = NULL;
	TestCase *test_case = g_new0 (TestCase, 1);

	if (test_cases == NULL)
		test_cases = g_ptr_array_new ();
	g_ptr_array_add (test_cases, test_case);
	test_case->func = func;
	g_test_add_data_func (path, test_case, run_case);
}

/* ---- the environment ---- */

TetherTestEnv *
tether_test_env_new (void)
{
	TetherTestEnv *env = g_new0 (TetherTestEnv, 1);
	const char *given = g_getenv ("TETHER_TEST_DIR");
	const char *const subdirs[] = { "pki",       "state",     "xdg/config", "xdg/data",
		                        "xdg/cache", "xdg/state", "xdg/runtime" };

	if (given != NULL && *given != '\0') {
		env->dir = g_strdup (given);
	} else {
		g_autoptr (GError) error = NULL;

		env->dir = g_dir_make_tmp ("tether-test-XXXXXX", &error);
		g_assert_no_error (error);
		env->owns_dir = TRUE;
	}
	for (guint i = 0; i < G_N_ELEMENTS (subdirs); i++) {
		g_autofree char *path = g_build_filename (env->dir, subdirs[i], NULL);

		if (g_mkdir_with_parents (path, 0700) != 0)
			harness_fail ("cannot make %s: %s", path, g_strerror (errno));
	}
	env->pki_dir = g_build_filename (env->dir, "pki", NULL);
	env->state_dir = g_build_filename (env->dir, "state", NULL);
	env->config_path = g_build_filename (env->dir, "tether.conf", NULL);
	env->daemon_log = g_build_filename (env->dir, "tetherd.log", NULL);
	env->certs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
	                                    (GDestroyNotify) tether_test_cert_unref);
	env->brokers = g_ptr_array_new ();
	env->connections = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
	g_printerr ("# test directory: %s\n", env->dir);
	return env;
}

static void broker_free (TetherTestBroker *broker);

void
tether_test_env_free (TetherTestEnv *env)
{
	if (env == NULL)
		return;

	if (env->daemon != NULL)
		tether_test_env_stop_daemon (env);
	for (guint i = 0; i < env->brokers->len; i++)
		broker_free (g_ptr_array_index (env->brokers, i));
	g_ptr_array_unref (env->brokers);

	g_hash_table_unref (env->connections);
	g_clear_object (&env->manager);
	if (env->bus != NULL) {
		g_dbus_connection_close_sync (env->bus, NULL, NULL);
		g_clear_object (&env->bus);
	}
	if (env->dbus != NULL) {
		g_test_dbus_down (env->dbus);
		g_clear_object (&env->dbus);
	}

	g_hash_table_unref (env->certs);
	g_free (env->pki.server_ca_cert);
	g_free (env->pki.server_ca_key);
	g_free (env->pki.server_cert);
	g_free (env->pki.server_key);
	g_free (env->pki.device_ca_cert);
	g_free (env->pki.device_ca_key);
	g_free (env->pki.observer_cert);
	g_free (env->pki.observer_key);

	if (env->owns_dir) {
		if (g_test_failed () && g_strcmp0 (g_getenv ("TETHER_TEST_KEEP"), "1") == 0)
			g_printerr ("# kept the test directory %s\n", env->dir);
		else
			tether_test_remove_tree (env->dir);
	}
	g_free (env->dir);
	g_free (env->pki_dir);
	g_free (env->state_dir);
	g_free (env->config_path);
	g_free (env->daemon_log);
	g_free (env);
}

const char *
tether_test_env_get_dir (TetherTestEnv *env)
{
	return env->dir;
}

char *
tether_test_env_path (TetherTestEnv *env, const char *name)
{
	return g_build_filename (env->dir, name, NULL);
}

char *
tether_test_env_write_file (TetherTestEnv *env, const char *name, const char *contents,
                            gssize length)
{
	g_autoptr (GError) error = NULL;
	char *path = tether_test_env_path (env, name);

	g_file_set_contents_full (path, contents, length, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
	                          &error);
	g_assert_no_error (error);
	return path;
}

/* ---- ports ---- */

guint16
tether_test_pick_port (void)
{
	/* ports handed out earlier in this process are not handed out again */
	static GHashTable *used = NULL;
	g_autoptr (GError) error = NULL;

	if (used == NULL)
		used = g_hash_table_new (NULL, NULL);

	for (guint attempt = 0; attempt < 50; attempt++) {
		g_autoptr (GSocket) socket = NULL;
		g_autoptr (GInetAddress) loopback = NULL;
		g_autoptr (GSocketAddress) address = NULL;
		g_autoptr (GSocketAddress) bound = NULL;
		guint16 port;

		socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
		                       G_SOCKET_PROTOCOL_TCP, &error);
		g_assert_no_error (error);
		loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
		address = g_inet_socket_address_new (loopback, 0);
		g_socket_bind (socket, address, FALSE, &error);
		g_assert_no_error (error);
		bound = g_socket_get_local_address (socket, &error);
		g_assert_no_error (error);
		port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
		g_socket_close (socket, NULL);
		if (!g_hash_table_contains (used, GUINT_TO_POINTER (port))) {
			g_hash_table_add (used, GUINT_TO_POINTER (port));
			return port;
		}
	}
	harness_fail ("no free port on 127.0.0.1");
}

static gboolean
port_accepts (guint16 port)
{
	g_autoptr (GSocket) socket = NULL;
	g_autoptr (GInetAddress) loopback = NULL;
	g_autoptr (GSocketAddress) address = NULL;
	gboolean ok;

	socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
	                       NULL);
	if (socket == NULL)
		return FALSE;
	loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
	address = g_inet_socket_address_new (loopback, port);
	ok = g_socket_connect (socket, address, NULL, NULL);
	g_socket_close (socket, NULL);
	return ok;
}

gboolean
tether_test_wait_for_port (guint16 port, guint timeout_ms, GSubprocess *owner)
{
	gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

	while (!port_accepts (port)) {
		if (owner != NULL && g_subprocess_get_identifier (owner) == NULL)
			return FALSE;
		if (g_get_monotonic_time () >= deadline)
			return FALSE;
		tether_test_iterate (20);
	}
	return TRUE;
}

/* ---- test PKI ---- */

static TetherTestCert *
lookup_cert (TetherTestEnv *env, const char *name)
{
	TetherTestCert *cert = g_hash_table_lookup (env->certs, name);

	if (cert == NULL)
		harness_fail ("the test PKI has no certificate named %s", name);
	return cert;
}

static void
store_cert (TetherTestEnv *env, const char *name, TetherTestCert *cert)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *pem = g_strdup_printf ("%s/%s.pem", env->pki_dir, name);
	g_autofree char *key = g_strdup_printf ("%s/%s.key", env->pki_dir, name);

	tether_test_cert_write (cert, pem, TRUE, key, &error);
	g_assert_no_error (error);
	g_hash_table_replace (env->certs, g_strdup (name), cert);
}

static void
make_cert (TetherTestEnv *env, const char *name, const char *issuer, const TetherTestCertSpec *spec)
{
	g_autoptr (GError) error = NULL;
	TetherTestCert *cert;

	cert = tether_test_cert_new (spec, issuer ? lookup_cert (env, issuer) : NULL, &error);
	g_assert_no_error (error);
	store_cert (env, name, cert);
}

void
tether_test_env_make_ca (TetherTestEnv *env, const char *name, const char *cn)
{
	TetherTestCertSpec spec = { .kind = TETHER_TEST_CERT_CA, .common_name = cn };

	make_cert (env, name, NULL, &spec);
}

void
tether_test_env_make_server_cert (TetherTestEnv *env, const char *name, const char *dns,
                                  const char *ip)
{
	const char *dns_names[] = { dns, NULL };
	const char *ips[] = { ip, NULL };
	TetherTestCertSpec spec = {
		.kind = TETHER_TEST_CERT_SERVER,
		.common_name = dns ? dns : ip,
		.dns_names = dns ? dns_names : NULL,
		.ip_addresses = ip ? ips : NULL,
	};

	tether_test_env_get_pki (env);
	make_cert (env, name, "server-ca", &spec);
}

void
tether_test_env_make_client_cert (TetherTestEnv *env, const char *name, const char *cn)
{
	TetherTestCertSpec spec = { .kind = TETHER_TEST_CERT_CLIENT, .common_name = cn };

	tether_test_env_get_pki (env);
	make_cert (env, name, "device-ca", &spec);
}

void
tether_test_env_sign_csr (TetherTestEnv *env, const char *csr_path, const char *cert_path)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *csr = NULL;
	g_autoptr (TetherTestCert) cert = NULL;

	tether_test_env_get_pki (env);
	g_file_get_contents (csr_path, &csr, NULL, &error);
	g_assert_no_error (error);
	cert = tether_test_cert_sign_csr (lookup_cert (env, "device-ca"), csr, 0, 0, &error);
	g_assert_no_error (error);
	tether_test_cert_write (cert, cert_path, TRUE, NULL, &error);
	g_assert_no_error (error);
}

char *
tether_test_env_make_csr (TetherTestEnv *env, const char *name, const char *cn)
{
	g_auto (gnutls_x509_privkey_t) key = NULL;
	g_auto (gnutls_x509_crq_t) crq = NULL;
	g_autoptr (GError) error = NULL;
	gnutls_datum_t pem = { NULL, 0 };
	g_autofree char *file = g_strdup_printf ("%s.csr", name);
	char *path = g_build_filename (env->pki_dir, file, NULL);
	int rc;

	/* a request for a new key that no identity holds */
	rc = gnutls_x509_privkey_init (&key);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_privkey_generate2 (
		        key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0,
		        NULL, 0);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_crq_init (&crq);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_crq_set_dn_by_oid (crq, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
		                                    strlen (cn));
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_crq_set_key (crq, key);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_crq_sign2 (crq, key, GNUTLS_DIG_SHA256, 0);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_crq_export2 (crq, GNUTLS_X509_FMT_PEM, &pem);
	if (rc != GNUTLS_E_SUCCESS)
		harness_fail ("making a CSR for %s: %s", cn, gnutls_strerror (rc));
	g_file_set_contents_full (path, (const char *) pem.data, pem.size,
	                          G_FILE_SET_CONTENTS_CONSISTENT, 0644, &error);
	gnutls_free (pem.data);
	g_assert_no_error (error);
	return path;
}

char *
tether_test_env_pki_file (TetherTestEnv *env, const char *file)
{
	return g_build_filename (env->pki_dir, file, NULL);
}

const TetherTestPki *
tether_test_env_get_pki (TetherTestEnv *env)
{
	TetherTestPki *pki = &env->pki;

	if (env->have_pki)
		return pki;
	env->have_pki = TRUE;

	tether_test_env_make_ca (env, "server-ca", TETHER_TEST_SERVER_CA_CN);
	tether_test_env_make_ca (env, "device-ca", TETHER_TEST_DEVICE_CA_CN);
	tether_test_env_make_server_cert (env, "server", "localhost", "127.0.0.1");
	tether_test_env_make_client_cert (env, "observer", TETHER_TEST_OBSERVER_CN);

	pki->server_ca_cert = g_build_filename (env->pki_dir, "server-ca.pem", NULL);
	pki->server_ca_key = g_build_filename (env->pki_dir, "server-ca.key", NULL);
	pki->server_cert = g_build_filename (env->pki_dir, "server.pem", NULL);
	pki->server_key = g_build_filename (env->pki_dir, "server.key", NULL);
	pki->device_ca_cert = g_build_filename (env->pki_dir, "device-ca.pem", NULL);
	pki->device_ca_key = g_build_filename (env->pki_dir, "device-ca.key", NULL);
	pki->observer_cert = g_build_filename (env->pki_dir, "observer.pem", NULL);
	pki->observer_key = g_build_filename (env->pki_dir, "observer.key", NULL);
	return pki;
}

/* ---- mosquitto ---- */

char *
tether_test_acl_thingsboard (const char *device_user)
{
	/* ThingsBoard's device topics; the observer sees and writes everything */
	return g_strdup_printf ("user %s\n"
	                        "topic write v1/devices/me/telemetry\n"
	                        "topic readwrite v1/devices/me/attributes\n"
	                        "topic write v1/devices/me/rpc/response/+\n"
	                        "topic read v1/devices/me/rpc/request/+\n"
	                        "\n"
	                        "user " TETHER_TEST_OBSERVER_CN "\n"
	                        "topic readwrite #\n",
	                        device_user);
}

static void
broker_spawn (TetherTestBroker *broker)
{
	g_autoptr (GSubprocessLauncher) launcher = NULL;
	g_autoptr (GError) error = NULL;
	const char *mosquitto = g_getenv ("MOSQUITTO");

	if (mosquitto == NULL || *mosquitto == '\0')
		mosquitto = DEFAULT_MOSQUITTO;
	g_assert_null (broker->process);

	launcher = new_launcher (broker->env, G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_subprocess_launcher_take_stdout_fd (launcher, open_log (broker->output_path));
	broker->process = g_subprocess_launcher_spawn (launcher, &error, mosquitto, "-c",
	                                               broker->conf_path, NULL);
	g_assert_no_error (error);

	if (!tether_test_wait_for_port (broker->port, TETHER_TEST_TIMEOUT_MS, broker->process)) {
		print_tail ("mosquitto output", broker->output_path);
		print_tail ("mosquitto log", broker->log_path);
		harness_fail ("mosquitto %s did not listen on 127.0.0.1:%u", broker->name,
		              broker->port);
	}
	g_printerr ("# mosquitto %s listens on 127.0.0.1:%u\n", broker->name, broker->port);
}

TetherTestBroker *
tether_test_env_start_broker (TetherTestEnv *env, const TetherTestBrokerOptions *options)
{
	const TetherTestPki *pki = tether_test_env_get_pki (env);
	TetherTestBroker *broker = g_new0 (TetherTestBroker, 1);
	g_autoptr (GString) conf = g_string_new (NULL);
	g_autoptr (GString) cas = g_string_new (NULL);
	g_autofree char *device_ca = NULL;
	g_autofree char *acl_path = NULL;
	g_autofree char *cas_path = NULL;
	g_autofree char *name = NULL;
	g_autoptr (GError) error = NULL;

	g_assert_nonnull (options);
	g_assert_nonnull (options->acl);
	broker->env = env;
	broker->name = g_strdup (options->name ? options->name : "mosquitto");
	broker->port = tether_test_pick_port ();
	broker->endpoint = g_strdup_printf ("localhost:%u", broker->port);
	broker->server_ca = g_strdup (pki->server_ca_cert);

	/* client certificates from the device CA, and another CA if the test has one */
	g_file_get_contents (pki->device_ca_cert, &device_ca, NULL, &error);
	g_assert_no_error (error);
	g_string_append (cas, device_ca);
	if (options->extra_client_ca != NULL) {
		g_autofree char *extra = NULL;

		g_file_get_contents (options->extra_client_ca, &extra, NULL, &error);
		g_assert_no_error (error);
		g_string_append (cas, extra);
	}
	name = g_strdup_printf ("%s-client-cas.pem", broker->name);
	cas_path = tether_test_env_write_file (env, name, cas->str, cas->len);
	g_clear_pointer (&name, g_free);
	name = g_strdup_printf ("%s.acl", broker->name);
	acl_path = tether_test_env_write_file (env, name, options->acl, -1);
	g_clear_pointer (&name, g_free);
	name = g_strdup_printf ("%s.log", broker->name);
	broker->log_path = tether_test_env_path (env, name);
	g_clear_pointer (&name, g_free);
	name = g_strdup_printf ("%s.out", broker->name);
	broker->output_path = tether_test_env_path (env, name);
	g_clear_pointer (&name, g_free);

	/* started as root, mosquitto drops to its own user unless told to stay */
	if (geteuid () == 0)
		g_string_append (conf, "user root\n");
	g_string_append_printf (conf,
	                        "persistence false\n"
	                        "log_dest file %s\n"
	                        "log_type all\n"
	                        "connection_messages true\n"
	                        "allow_anonymous false\n"
	                        "acl_file %s\n"
	                        "listener %u 127.0.0.1\n"
	                        "cafile %s\n"
	                        "certfile %s\n"
	                        "keyfile %s\n"
	                        "require_certificate true\n"
	                        "use_identity_as_username true\n",
	                        broker->log_path, acl_path, broker->port, cas_path,
	                        options->server_cert ? options->server_cert : pki->server_cert,
	                        options->server_key ? options->server_key : pki->server_key);
	if (options->extra_config != NULL)
		g_string_append_printf (conf, "%s\n", options->extra_config);
	name = g_strdup_printf ("%s.conf", broker->name);
	broker->conf_path = tether_test_env_write_file (env, name, conf->str, conf->len);

	g_ptr_array_add (env->brokers, broker);
	broker_spawn (broker);
	return broker;
}

guint16
tether_test_broker_get_port (TetherTestBroker *broker)
{
	return broker->port;
}

const char *
tether_test_broker_get_endpoint (TetherTestBroker *broker)
{
	return broker->endpoint;
}

const char *
tether_test_broker_get_log_path (TetherTestBroker *broker)
{
	return broker->log_path;
}

void
tether_test_broker_start (TetherTestBroker *broker)
{
	broker_spawn (broker);
}

static void
broker_end (TetherTestBroker *broker, int signum)
{
	if (broker->process == NULL)
		return;
	g_subprocess_send_signal (broker->process, signum);
	if (!wait_exit (broker->process, STOP_TIMEOUT_MS)) {
		g_subprocess_force_exit (broker->process);
		wait_exit (broker->process, STOP_TIMEOUT_MS);
		harness_fail ("mosquitto %s did not stop on signal %d", broker->name, signum);
	}
	g_clear_object (&broker->process);
}

void
tether_test_broker_stop (TetherTestBroker *broker)
{
	broker_end (broker, SIGTERM);
}

void
tether_test_broker_kill (TetherTestBroker *broker)
{
	broker_end (broker, SIGKILL);
}

void
tether_test_broker_restart (TetherTestBroker *broker)
{
	tether_test_broker_stop (broker);
	tether_test_broker_start (broker);
}

static void
broker_free (TetherTestBroker *broker)
{
	broker_end (broker, SIGTERM);
	g_free (broker->name);
	g_free (broker->conf_path);
	g_free (broker->log_path);
	g_free (broker->output_path);
	g_free (broker->endpoint);
	g_free (broker->server_ca);
	g_free (broker);
}

/* ---- the MQTT observer ---- */

static void
observed_message_free (gpointer data)
{
	ObservedMessage *message = data;

	g_free (message->topic);
	g_bytes_unref (message->payload);
	g_free (message);
}

TetherTestObserver *
tether_test_observer_new (TetherTestBroker *broker, const char *cert, const char *key,
                          GError **error)
{
	static guint counter = 0;
	g_autoptr (TetherTestObserver) observer = g_new0 (TetherTestObserver, 1);
	MQTTClient_connectOptions options = MQTTClient_connectOptions_initializer;
	MQTTClient_SSLOptions ssl = MQTTClient_SSLOptions_initializer;
	g_autofree char *uri = g_strdup_printf ("ssl://localhost:%u", broker->port);
	int rc;

	g_queue_init (&observer->messages);
	observer->client_id = g_strdup_printf ("observer-%d-%u", (int) getpid (), counter++);
	rc = MQTTClient_create (&observer->client, uri, observer->client_id,
	                        MQTTCLIENT_PERSISTENCE_NONE, NULL);
	if (rc != MQTTCLIENT_SUCCESS) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "MQTTClient_create: %s",
		             MQTTClient_strerror (rc));
		return NULL;
	}
	observer->created = TRUE;

	ssl.trustStore = broker->server_ca;
	ssl.keyStore = cert;
	ssl.privateKey = key;
	ssl.enableServerCertAuth = 1;
	ssl.verify = 1;
	ssl.disableDefaultTrustStore = 1;
	options.ssl = &ssl;
	options.cleansession = 1;
	/* the observer may sit idle while a test restarts tetherd */
	options.keepAliveInterval = 300;
	options.connectTimeout = 10;
	rc = MQTTClient_connect (observer->client, &options);
	if (rc != MQTTCLIENT_SUCCESS) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
		             "the observer could not connect to %s: %s (%d)", uri,
		             MQTTClient_strerror (rc), rc);
		return NULL;
	}
	return g_steal_pointer (&observer);
}

TetherTestObserver *
tether_test_env_observe (TetherTestEnv *env, TetherTestBroker *broker)
{
	const TetherTestPki *pki = tether_test_env_get_pki (env);
	g_autoptr (GError) error = NULL;
	TetherTestObserver *observer;

	observer = tether_test_observer_new (broker, pki->observer_cert, pki->observer_key, &error);
	if (observer == NULL) {
		print_tail ("mosquitto log", broker->log_path);
		harness_fail ("%s", error->message);
	}
	return observer;
}

void
tether_test_observer_free (TetherTestObserver *observer)
{
	if (observer == NULL)
		return;
	if (observer->created) {
		if (MQTTClient_isConnected (observer->client))
			MQTTClient_disconnect (observer->client, 1000);
		MQTTClient_destroy (&observer->client);
	}
	g_queue_clear_full (&observer->messages, observed_message_free);
	g_free (observer->client_id);
	g_free (observer);
}

gboolean
tether_test_observer_subscribe (TetherTestObserver *observer, const char *filter, GError **error)
{
	/* synchronous: returns after the SUBACK */
	int rc = MQTTClient_subscribe (observer->client, filter, 1);

	if (rc != MQTTCLIENT_SUCCESS) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
		             "subscribing to %s failed: %s (%d)", filter,
		             rc == 0x80 ? "refused by the broker" : MQTTClient_strerror (rc), rc);
		return FALSE;
	}
	return TRUE;
}

static gboolean
split_equal (char **filter, guint f, char **topic, guint t)
{
	if (filter[f] == NULL)
		return topic[t] == NULL;
	if (g_str_equal (filter[f], "#"))
		return TRUE;
	if (topic[t] == NULL)
		return FALSE;
	if (!g_str_equal (filter[f], "+") && !g_str_equal (filter[f], topic[t]))
		return FALSE;
	return split_equal (filter, f + 1, topic, t + 1);
}

gboolean
tether_test_topic_matches (const char *filter, const char *topic)
{
	g_auto (GStrv) filter_levels = g_strsplit (filter, "/", -1);
	g_auto (GStrv) topic_levels = g_strsplit (topic, "/", -1);

	/* wildcards at the first level do not match topics that start with $ */
	if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
		return FALSE;
	return split_equal (filter_levels, 0, topic_levels, 0);
}

static GList *
find_message (TetherTestObserver *observer, const char *filter)
{
	for (GList *l = observer->messages.head; l != NULL; l = l->next) {
		ObservedMessage *message = l->data;

		if (filter == NULL || tether_test_topic_matches (filter, message->topic))
			return l;
	}
	return NULL;
}

GBytes *
tether_test_observer_wait (TetherTestObserver *observer, const char *filter, guint timeout_ms,
                           char **out_topic)
{
	gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

	for (;;) {
		GList *found = find_message (observer, filter);
		char *topic = NULL;
		int topic_len = 0;
		MQTTClient_message *message = NULL;
		int rc;

		if (found != NULL) {
			ObservedMessage *observed = found->data;
			GBytes *payload = g_bytes_ref (observed->payload);

			if (out_topic != NULL)
				*out_topic = g_strdup (observed->topic);
			g_queue_delete_link (&observer->messages, found);
			observed_message_free (observed);
			return payload;
		}
		if (g_get_monotonic_time () >= deadline)
			return NULL;

		/* short slices, so the main context (D-Bus signals) keeps running */
		rc = MQTTClient_receive (observer->client, &topic, &topic_len, &message, 50);
		if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED)
			harness_fail ("the observer lost its connection: %s (%d)",
			              MQTTClient_strerror (rc), rc);
		if (message != NULL) {
			ObservedMessage *observed = g_new0 (ObservedMessage, 1);

			observed->topic =
			        topic_len > 0 ? g_strndup (topic, topic_len) : g_strdup (topic);
			observed->payload = g_bytes_new (message->payload, message->payloadlen);
			g_queue_push_tail (&observer->messages, observed);
			MQTTClient_freeMessage (&message);
			MQTTClient_free (topic);
		}
		g_main_context_iteration (NULL, FALSE);
	}
}

gboolean
tether_test_observer_publish (TetherTestObserver *observer, const char *topic, GBytes *payload,
                              GError **error)
{
	MQTTClient_message message = MQTTClient_message_initializer;
	MQTTClient_deliveryToken token = 0;
	gsize size = 0;
	int rc;

	message.payload = (void *) g_bytes_get_data (payload, &size);
	message.payloadlen = (int) size;
	message.qos = 1;
	message.retained = 0;
	rc = MQTTClient_publishMessage (observer->client, topic, &message, &token);
	if (rc == MQTTCLIENT_SUCCESS)
		rc = MQTTClient_waitForCompletion (observer->client, token, 10000);
	if (rc != MQTTCLIENT_SUCCESS) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
		             "publishing to %s failed: %s (%d)", topic, MQTTClient_strerror (rc),
		             rc);
		return FALSE;
	}
	return TRUE;
}

/* ---- the session bus and tetherd ---- */

GDBusConnection *
tether_test_env_get_bus (TetherTestEnv *env)
{
	g_autoptr (GError) error = NULL;

	if (env->bus != NULL)
		return env->bus;

	/* a real dbus-daemon; g_test_dbus_up exports DBUS_SESSION_BUS_ADDRESS */
	env->dbus = g_test_dbus_new (G_TEST_DBUS_NONE);
	g_test_dbus_up (env->dbus);

	/* a private connection: nothing holds the session bus singleton at teardown */
	env->bus = g_dbus_connection_new_for_address_sync (
	        g_test_dbus_get_bus_address (env->dbus),
	        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
	                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
	        NULL, NULL, &error);
	g_assert_no_error (error);
	return env->bus;
}

static guint32
bus_name_owner_pid (TetherTestEnv *env)
{
	g_autoptr (GVariant) reply = NULL;
	guint32 pid = 0;

	reply = g_dbus_connection_call_sync (
	        env->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
	        "GetConnectionUnixProcessID", g_variant_new ("(s)", TETHER_BUS_NAME),
	        G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
	if (reply != NULL)
		g_variant_get (reply, "(u)", &pid);
	return pid;
}

static gboolean
daemon_owns_name (gpointer user_data)
{
	TetherTestEnv *env = user_data;
	const char *identifier = g_subprocess_get_identifier (env->daemon);

	/* the owner must be the tetherd we started, not one that is going away */
	return identifier != NULL &&
	       bus_name_owner_pid (env) == g_ascii_strtoull (identifier, NULL, 10);
}

static gboolean
name_has_no_owner (gpointer user_data)
{
	return bus_name_owner_pid (user_data) == 0;
}

void
tether_test_env_start_daemon (TetherTestEnv *env)
{
	g_autoptr (GSubprocessLauncher) launcher = NULL;
	g_autoptr (GError) error = NULL;
	const char *tetherd = require_env ("TETHERD");

	require_env ("TETHER_PLUGIN_PATH");
	require_env ("GSETTINGS_SCHEMA_DIR");
	g_assert_null (env->daemon);
	tether_test_env_get_bus (env);

	launcher = new_launcher (env, G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_subprocess_launcher_take_stdout_fd (launcher, open_log (env->daemon_log));
	env->daemon = g_subprocess_launcher_spawn (launcher, &error, tetherd, "--session",
	                                           "--state-dir", env->state_dir, "--config",
	                                           env->config_path, "--verbose", NULL);
	g_assert_no_error (error);

	if (!tether_test_wait_until (daemon_owns_name, env, TETHER_TEST_TIMEOUT_MS)) {
		g_autofree char *how = NULL;

		if (g_subprocess_get_identifier (env->daemon) == NULL) {
			g_subprocess_wait (env->daemon, NULL, NULL);
			how = describe_exit (env->daemon);
		} else {
			how = g_strdup ("still running");
		}
		print_tail ("tetherd log", env->daemon_log);
		harness_fail ("tetherd did not own %s within %u ms (%s)", TETHER_BUS_NAME,
		              TETHER_TEST_TIMEOUT_MS, how);
	}
	g_printerr ("# tetherd %s owns %s\n", g_subprocess_get_identifier (env->daemon),
	            TETHER_BUS_NAME);
}

static void
daemon_end (TetherTestEnv *env, int signum)
{
	g_autoptr (GSubprocess) daemon = NULL;
	g_autofree char *how = NULL;

	g_assert_nonnull (env->daemon);
	daemon = g_steal_pointer (&env->daemon);
	g_subprocess_send_signal (daemon, signum);
	if (!wait_exit (daemon, STOP_TIMEOUT_MS)) {
		g_subprocess_force_exit (daemon);
		wait_exit (daemon, STOP_TIMEOUT_MS);
		print_tail ("tetherd log", env->daemon_log);
		harness_fail ("tetherd did not exit within %u ms of signal %d", STOP_TIMEOUT_MS,
		              signum);
	}
	how = describe_exit (daemon);
	if (signum == SIGTERM &&
	    !(g_subprocess_get_if_exited (daemon) && g_subprocess_get_exit_status (daemon) == 0)) {
		print_tail ("tetherd log", env->daemon_log);
		harness_fail ("tetherd did not exit cleanly on SIGTERM: %s", how);
	}
	g_printerr ("# tetherd ended: %s\n", how);

	/* the bus may take a moment to notice the closed socket */
	if (!tether_test_wait_until (name_has_no_owner, env, TETHER_TEST_TIMEOUT_MS))
		harness_fail ("%s still has an owner after tetherd ended", TETHER_BUS_NAME);
}

void
tether_test_env_stop_daemon (TetherTestEnv *env)
{
	daemon_end (env, SIGTERM);
}

void
tether_test_env_kill_daemon (TetherTestEnv *env)
{
	daemon_end (env, SIGKILL);
}

void
tether_test_env_restart_daemon (TetherTestEnv *env)
{
	tether_test_env_stop_daemon (env);
	tether_test_env_start_daemon (env);
}

const char *
tether_test_env_get_state_dir (TetherTestEnv *env)
{
	return env->state_dir;
}

const char *
tether_test_env_get_daemon_log (TetherTestEnv *env)
{
	return env->daemon_log;
}

TetherDBusTether1 *
tether_test_env_get_manager (TetherTestEnv *env)
{
	g_autoptr (GError) error = NULL;

	if (env->manager != NULL)
		return env->manager;
	env->manager = tether_dbus_tether1_proxy_new_sync (
	        tether_test_env_get_bus (env), G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
	        TETHER_BUS_NAME, TETHER_MANAGER_PATH, NULL, &error);
	g_assert_no_error (error);
	return env->manager;
}

TetherDBusConnection1 *
tether_test_env_get_connection (TetherTestEnv *env, const char *id)
{
	g_autoptr (GError) error = NULL;
	g_autofree char *path = NULL;
	TetherDBusConnection1 *proxy = g_hash_table_lookup (env->connections, id);

	if (proxy != NULL)
		return proxy;
	tether_dbus_tether1_call_get_connection_sync (tether_test_env_get_manager (env), id,
	                                              G_DBUS_CALL_FLAGS_NONE, -1, &path, NULL,
	                                              &error);
	if (error != NULL) {
		print_tail ("tetherd log", env->daemon_log);
		harness_fail ("GetConnection (%s): %s", id, error->message);
	}
	proxy = tether_dbus_connection1_proxy_new_sync (env->bus,
	                                                G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
	                                                TETHER_BUS_NAME, path, NULL, &error);
	g_assert_no_error (error);
	g_hash_table_insert (env->connections, g_strdup (id), proxy);
	return proxy;
}

typedef struct {
	GDBusProxy *proxy;
	const char *name;
	GVariant *value;
	gint64 next_poll;
	gboolean polled_only;
} PropertyWait;

static gboolean
property_has_value (gpointer user_data)
{
	PropertyWait *wait = user_data;
	g_autoptr (GVariant) cached = g_dbus_proxy_get_cached_property (wait->proxy, wait->name);
	g_autoptr (GVariant) reply = NULL;
	g_autoptr (GVariant) polled = NULL;

	if (cached != NULL && g_variant_equal (cached, wait->value))
		return TRUE;

	/* ask now and then too, in case a PropertiesChanged went missing */
	if (g_get_monotonic_time () < wait->next_poll)
		return FALSE;
	wait->next_poll = g_get_monotonic_time () + 500 * 1000;
	reply = g_dbus_connection_call_sync (
	        g_dbus_proxy_get_connection (wait->proxy), g_dbus_proxy_get_name (wait->proxy),
	        g_dbus_proxy_get_object_path (wait->proxy), "org.freedesktop.DBus.Properties",
	        "Get",
	        g_variant_new ("(ss)", g_dbus_proxy_get_interface_name (wait->proxy), wait->name),
	        G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, 5000, NULL, NULL);
	if (reply == NULL)
		return FALSE;
	g_variant_get (reply, "(v)", &polled);
	if (g_variant_equal (polled, wait->value)) {
		wait->polled_only = TRUE;
		return TRUE;
	}
	return FALSE;
}

gboolean
tether_test_wait_property (GDBusProxy *proxy, const char *name, GVariant *value, guint timeout_ms)
{
	g_autoptr (GVariant) sunk = g_variant_ref_sink (value);
	PropertyWait wait = { proxy, name, sunk, 0, FALSE };

	if (!tether_test_wait_until (property_has_value, &wait, timeout_ms))
		return FALSE;

	/*
	 * a Get can answer before the PropertiesChanged that carries this change
	 * and its neighbours (State with LastError) reaches the proxy's cache:
	 * give the signal time to land, so the test reads one consistent set
	 */
	if (wait.polled_only) {
		wait.next_poll = G_MAXINT64;
		if (tether_test_wait_until (property_has_value, &wait, 3000))
			return TRUE;
	}
	if (wait.polled_only) {
		g_autofree char *text = g_variant_print (sunk, FALSE);

		g_printerr ("# warning: %s became %s without a PropertiesChanged signal\n", name,
		            text);
	}
	return TRUE;
}

static char *
cached_string (GDBusProxy *proxy, const char *name)
{
	g_autoptr (GVariant) value = g_dbus_proxy_get_cached_property (proxy, name);

	if (value == NULL)
		return g_strdup ("(not set)");
	if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
		return g_variant_dup_string (value, NULL);
	return g_variant_print (value, FALSE);
}

void
tether_test_env_wait_state (TetherTestEnv *env, const char *id, const char *state, guint timeout_ms)
{
	GDBusProxy *proxy = G_DBUS_PROXY (tether_test_env_get_connection (env, id));
	g_autofree char *now = NULL;
	g_autofree char *last_error = NULL;

	if (tether_test_wait_property (proxy, "State", g_variant_new_string (state), timeout_ms))
		return;
	now = cached_string (proxy, "State");
	last_error = cached_string (proxy, "LastError");
	print_tail ("tetherd log", env->daemon_log);
	for (guint i = 0; i < env->brokers->len; i++) {
		TetherTestBroker *broker = g_ptr_array_index (env->brokers, i);

		print_tail ("mosquitto log", broker->log_path);
	}
	harness_fail ("connection %s did not reach State '%s' within %u ms: State '%s', "
	              "LastError '%s'",
	              id, state, timeout_ms, now, last_error);
}

/* ---- tetherctl ---- */

void
tether_test_ctl_result_free (TetherTestCtlResult *result)
{
	if (result == NULL)
		return;
	g_free (result->out);
	g_free (result->err);
	g_free (result);
}

typedef struct {
	gboolean done;
	GBytes *out;
	GBytes *err;
	GError *error;
} Communication;

static void
on_communicated (GObject *source, GAsyncResult *result, gpointer user_data)
{
	Communication *communication = user_data;

	g_subprocess_communicate_finish (G_SUBPROCESS (source), result, &communication->out,
	                                 &communication->err, &communication->error);
	communication->done = TRUE;
}

static gboolean
communication_done (gpointer user_data)
{
	return ((Communication *) user_data)->done;
}

static char *
bytes_to_string (GBytes *bytes)
{
	gsize size = 0;
	const char *data = bytes ? g_bytes_get_data (bytes, &size) : NULL;

	return g_strndup (data ? data : "", size);
}

static GPtrArray *
ctl_argv (const char *const *args)
{
	GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);

	g_ptr_array_add (argv, g_strdup (require_env ("TETHERCTL")));
	g_ptr_array_add (argv, g_strdup ("--session"));
	for (guint i = 0; args[i] != NULL; i++)
		g_ptr_array_add (argv, g_strdup (args[i]));
	g_ptr_array_add (argv, NULL);
	return argv;
}

/* runs @argv to its end on the test's bus, its standard input @input or, with @stdin_path,
 * that file; @what names it in the test's output */
static TetherTestCtlResult *
run_to_end (TetherTestEnv *env, GBytes *input, const char *stdin_path, const char *const *argv,
            const char *what)
{
	g_autoptr (GSubprocessLauncher) launcher = NULL;
	g_autoptr (GSubprocess) process = NULL;
	g_autoptr (GError) error = NULL;
	Communication communication = { 0 };
	TetherTestCtlResult *result = g_new0 (TetherTestCtlResult, 1);
	g_autoptr (GBytes) empty = NULL;

	tether_test_env_get_bus (env);
	launcher = new_launcher (env, (stdin_path == NULL ? G_SUBPROCESS_FLAGS_STDIN_PIPE : 0) |
	                                      G_SUBPROCESS_FLAGS_STDOUT_PIPE |
	                                      G_SUBPROCESS_FLAGS_STDERR_PIPE);
	if (stdin_path != NULL)
		g_subprocess_launcher_set_stdin_file_path (launcher, stdin_path);
	process = g_subprocess_launcher_spawnv (launcher, argv, &error);
	g_assert_no_error (error);
	/* with a stdin pipe, GLib wants bytes to write, even none */
	if (input == NULL && stdin_path == NULL)
		empty = g_bytes_new_static ("", 0);
	g_subprocess_communicate_async (process, input ? input : empty, NULL, on_communicated,
	                                &communication);
	if (!tether_test_wait_until (communication_done, &communication, CTL_TIMEOUT_MS)) {
		g_subprocess_force_exit (process);
		tether_test_wait_until (communication_done, &communication, STOP_TIMEOUT_MS);
		print_tail ("tetherd log", env->daemon_log);
		harness_fail ("%s did not finish within %u ms", what, CTL_TIMEOUT_MS);
	}
	if (communication.error != NULL)
		harness_fail ("%s: %s", what, communication.error->message);
	g_subprocess_wait (process, NULL, NULL);

	result->status =
	        g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process) : -1;
	result->out = bytes_to_string (communication.out);
	result->err = bytes_to_string (communication.err);
	g_clear_pointer (&communication.out, g_bytes_unref);
	g_clear_pointer (&communication.err, g_bytes_unref);

	g_printerr ("# $ %s -> %d\n", what, result->status);
	if (result->status != 0 && result->err[0] != '\0')
		g_printerr ("#   stderr: %s", result->err);
	return result;
}

TetherTestCtlResult *
tether_test_env_ctlv (TetherTestEnv *env, GBytes *input, const char *const *args)
{
	g_autoptr (GPtrArray) argv = ctl_argv (args);
	g_autofree char *line = g_strjoinv (" ", (char **) args);
	g_autofree char *what = g_strdup_printf ("tetherctl %s", line);

	return run_to_end (env, input, NULL, (const char *const *) argv->pdata, what);
}

static GPtrArray *
collect_args (const char *first_arg, va_list args)
{
	GPtrArray *array = g_ptr_array_new ();

	for (const char *arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
		g_ptr_array_add (array, (gpointer) arg);
	g_ptr_array_add (array, NULL);
	return array;
}

TetherTestCtlResult *
tether_test_env_ctl (TetherTestEnv *env, GBytes *input, const char *first_arg, ...)
{
	va_list args;
	g_autoptr (GPtrArray) array = NULL;

	va_start (args, first_arg);
	array = collect_args (first_arg, args);
	va_end (args);
	return tether_test_env_ctlv (env, input, (const char *const *) array->pdata);
}

TetherTestCtlResult *
tether_test_env_ctl_stdin_file (TetherTestEnv *env, const char *stdin_path, const char *first_arg,
                                ...)
{
	va_list args;
	g_autoptr (GPtrArray) array = NULL;
	g_autoptr (GPtrArray) argv = NULL;
	g_autofree char *line = NULL;
	g_autofree char *what = NULL;

	va_start (args, first_arg);
	array = collect_args (first_arg, args);
	va_end (args);
	argv = ctl_argv ((const char *const *) array->pdata);
	line = g_strjoinv (" ", (char **) array->pdata);
	what = g_strdup_printf ("tetherctl %s < %s", line, stdin_path);
	return run_to_end (env, NULL, stdin_path, (const char *const *) argv->pdata, what);
}

void
tether_test_env_ctl_ok (TetherTestEnv *env, const char *first_arg, ...)
{
	va_list args;
	g_autoptr (GPtrArray) array = NULL;
	g_autoptr (TetherTestCtlResult) result = NULL;

	va_start (args, first_arg);
	array = collect_args (first_arg, args);
	va_end (args);
	result = tether_test_env_ctlv (env, NULL, (const char *const *) array->pdata);
	if (result->status != 0) {
		g_autofree char *line = g_strjoinv (" ", (char **) array->pdata);

		print_tail ("tetherd log", env->daemon_log);
		harness_fail ("tetherctl %s exited with %d: %s", line, result->status, result->err);
	}
}

TetherTestCtlResult *
tether_test_env_run_daemon (TetherTestEnv *env, const char *first_arg, ...)
{
	va_list args;
	g_autoptr (GPtrArray) array = NULL;
	g_autoptr (GPtrArray) argv = g_ptr_array_new ();
	g_autofree char *line = NULL;
	g_autofree char *what = NULL;

	va_start (args, first_arg);
	array = collect_args (first_arg, args);
	va_end (args);
	g_ptr_array_add (argv, (gpointer) require_env ("TETHERD"));
	g_ptr_array_add (argv, "--session");
	for (guint i = 0; array->pdata[i] != NULL; i++)
		g_ptr_array_add (argv, array->pdata[i]);
	g_ptr_array_add (argv, NULL);
	line = g_strjoinv (" ", (char **) array->pdata);
	what = g_strdup_printf ("tetherd --session %s", line);
	return run_to_end (env, NULL, NULL, (const char *const *) argv->pdata, what);
}

TetherTestProcess *
tether_test_env_spawn_ctl (TetherTestEnv *env, const char *first_arg, ...)
{
	va_list args;
	g_autoptr (GPtrArray) array = NULL;
	g_autoptr (GPtrArray) argv = NULL;
	g_autoptr (GSubprocessLauncher) launcher = NULL;
	g_autoptr (GError) error = NULL;
	g_autofree char *name = NULL;
	TetherTestProcess *process = g_new0 (TetherTestProcess, 1);

	va_start (args, first_arg);
	array = collect_args (first_arg, args);
	va_end (args);
	argv = ctl_argv ((const char *const *) array->pdata);

	tether_test_env_get_bus (env);
	name = g_strdup_printf ("tetherctl-%u.err", env->n_spawned++);
	process->err_path = tether_test_env_path (env, name);
	launcher = new_launcher (env, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	g_subprocess_launcher_take_stderr_fd (launcher, open_log (process->err_path));
	process->process =
	        g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
	g_assert_no_error (error);
	process->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (process->process));
	return process;
}

typedef struct {
	gboolean done;
	char *line;
	GError *error;
} LineRead;

static void
on_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
	LineRead *read = user_data;

	read->line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source),
	                                                        result, NULL, &read->error);
	read->done = TRUE;
}

static gboolean
line_done (gpointer user_data)
{
	return ((LineRead *) user_data)->done;
}

char *
tether_test_process_read_line (TetherTestProcess *process, guint timeout_ms)
{
	g_autoptr (GCancellable) cancellable = g_cancellable_new ();
	LineRead read = { 0 };

	g_data_input_stream_read_line_async (process->out, G_PRIORITY_DEFAULT, cancellable, on_line,
	                                     &read);
	if (!tether_test_wait_until (line_done, &read, timeout_ms)) {
		g_cancellable_cancel (cancellable);
		/* the callback still comes, with G_IO_ERROR_CANCELLED */
		while (!read.done)
			g_main_context_iteration (NULL, TRUE);
	}
	if (read.error != NULL) {
		if (!g_error_matches (read.error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_printerr ("# reading a line from tetherctl: %s\n", read.error->message);
		g_clear_error (&read.error);
		g_clear_pointer (&read.line, g_free);
	}
	if (read.line == NULL)
		print_tail ("tetherctl stderr", process->err_path);
	return read.line;
}

void
tether_test_process_free (TetherTestProcess *process)
{
	if (process == NULL)
		return;
	if (g_subprocess_get_identifier (process->process) != NULL) {
		g_subprocess_send_signal (process->process, SIGTERM);
		if (!wait_exit (process->process, STOP_TIMEOUT_MS)) {
			g_subprocess_force_exit (process->process);
			wait_exit (process->process, STOP_TIMEOUT_MS);
		}
	}
	g_clear_object (&process->out);
	g_clear_object (&process->process);
	g_free (process->err_path);
	g_free (process);
}
