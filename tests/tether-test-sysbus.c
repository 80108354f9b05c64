/*
 * A private system bus for the security tests: see tether-test-sysbus.h.
 */
#include "tether-test-sysbus.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define TETHER_BUS_NAME     "org.tether.Tether1"
#define TETHER_MANAGER_PATH "/org/tether/Tether1"
#define POLKIT_BUS_NAME     "org.freedesktop.PolicyKit1"
#define POLKIT_PATH         "/org/freedesktop/PolicyKit1/Authority"
#define STOP_TIMEOUT_MS     10000
#define RUN_TIMEOUT_MS      30000
#define MAX_GROUPS          64

struct _TetherTestSysbus {
	TetherTestEnv *env;
	TetherTestBusKind kind;
	char *dir;
	char *config_path;
	char *socket_path;
	char *address;
	char *bus_log;
	GSubprocess *bus_daemon;
	GDBusConnection *connection;
	GSubprocess *polkit;
	char *polkit_log;
	GSubprocess *daemon;
	char *daemon_log;
	TetherDBusTether1 *manager;
};

struct _TetherTestSysbusProcess {
	GSubprocess *process;
	GDataInputStream *out;
};

/* who a child runs as, worked out before the fork */
typedef struct {
	gboolean switch_user;
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_GROUPS];
	int n_groups;
} RunAs;

/* ---- small helpers ---- */

static void
child_setup (gpointer user_data)
{
	const RunAs *as = user_data;

	/* only async-signal-safe calls here: the parent has threads */
	if (as != NULL && as->switch_user) {
		if (setgroups ((size_t) as->n_groups, as->groups) != 0 || setgid (as->gid) != 0 ||
		    setuid (as->uid) != 0)
			_exit (126);
	}
	/* after the switch: changing the uid clears it */
	prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void
run_as_init (RunAs *as, const char *user)
{
	struct passwd *pw;

	memset (as, 0, sizeof (*as));
	if (user == NULL)
		return;
	pw = getpwnam (user);
	if (pw == NULL)
		g_error ("there is no user %s: tether_test_sysbus_ensure_users () makes it", user);
	as->switch_user = TRUE;
	as->uid = pw->pw_uid;
	as->gid = pw->pw_gid;
	as->n_groups = MAX_GROUPS;
	if (getgrouplist (user, pw->pw_gid, as->groups, &as->n_groups) < 0)
		g_error ("user %s is in more than %d groups", user, MAX_GROUPS);
}

static gboolean
on_tick (gpointer user_data)
{
	*(gboolean *) user_data = TRUE;
	return G_SOURCE_REMOVE;
}

static void
iterate (guint ms)
{
	gboolean done = FALSE;

	g_timeout_add (ms, on_tick, &done);
	while (!done)
		g_main_context_iteration (NULL, TRUE);
}

static gboolean
wait_exit (GSubprocess *process, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

	while (g_subprocess_get_identifier (process) != NULL) {
		if (g_get_monotonic_time () >= deadline)
			return FALSE;
		iterate (10);
	}
	g_subprocess_wait (process, NULL, NULL);
	return TRUE;
}

static void
end_process (GSubprocess **process)
{
	if (*process == NULL)
		return;
	if (g_subprocess_get_identifier (*process) != NULL) {
		g_subprocess_send_signal (*process, SIGTERM);
		if (!wait_exit (*process, STOP_TIMEOUT_MS)) {
			g_subprocess_force_exit (*process);
			wait_exit (*process, STOP_TIMEOUT_MS);
		}
	}
	g_clear_object (process);
}

static void
print_file (const char *title, const char *path)
{
	g_autofree char *contents = NULL;
	g_auto(GStrv) lines = NULL;
	guint n;

	if (path == NULL || !g_file_get_contents (path, &contents, NULL, NULL))
		return;
	lines = g_strsplit (contents, "\n", -1);
	n = g_strv_length (lines);
	g_printerr ("# ---- %s (%s), last lines ----\n", title, path);
	for (guint i = n > 40 ? n - 40 : 0; i < n; i++) {
		if (lines[i][0] != '\0')
			g_printerr ("# | %s\n", lines[i]);
	}
}

static int
open_log (const char *path)
{
	int fd = g_open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0)
		g_error ("cannot open %s: %s", path, g_strerror (errno));
	return fd;
}

/* runs a command as root, for the user set-up; TRUE when it exited 0 */
static gboolean
run_quiet (const char *const *argv, char **err_out)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *err = NULL;
	gint status = 0;

	if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, &err,
	                   &status, &error)) {
		if (err_out != NULL)
			*err_out = g_strdup (error->message);
		return FALSE;
	}
	if (err_out != NULL)
		*err_out = g_steal_pointer (&err);
	return g_spawn_check_wait_status (status, NULL);
}

/* useradd and friends lock /etc/passwd: another test may hold it for a moment */
static void
run_admin (const char *const *argv)
{
	g_autofree char *line = g_strjoinv (" ", (char **) argv);

	for (guint attempt = 0; attempt < 50; attempt++) {
		g_autofree char *err = NULL;

		if (run_quiet (argv, &err))
			return;
		if (attempt == 49)
			g_error ("%s failed: %s", line, err);
		g_usleep (100 * 1000);
	}
}

static const char *
require_env (const char *name)
{
	const char *value = g_getenv (name);

	if (value == NULL || *value == '\0')
		g_error ("%s is not set: run the tests through meson test", name);
	return value;
}

/* ---- users ---- */

gboolean
tether_test_sysbus_can_run (char **why_not)
{
	if (getuid () != 0) {
		*why_not = g_strdup ("these tests switch users and make them: run them as root "
		                     "(CI does)");
		return FALSE;
	}
	return TRUE;
}

static gboolean
user_in_group (const char *user, const char *group)
{
	RunAs as;
	struct group *gr = getgrnam (group);

	if (gr == NULL)
		return FALSE;
	run_as_init (&as, user);
	for (int i = 0; i < as.n_groups; i++) {
		if (as.groups[i] == gr->gr_gid)
			return TRUE;
	}
	return FALSE;
}

static void
ensure_user (const char *user, gboolean publisher)
{
	if (getpwnam (user) == NULL) {
		const char *const useradd[] = {
			"useradd",           "--system",     "--no-create-home",
			"--home-dir",        "/nonexistent", "--shell",
			"/usr/sbin/nologin", user,           NULL
		};
		run_admin (useradd);
	}
	if (publisher && !user_in_group (user, TETHER_TEST_PUBLISH_GROUP)) {
		const char *const add[] = { "usermod", "-a", "-G", TETHER_TEST_PUBLISH_GROUP,
			                    user,      NULL };
		run_admin (add);
	} else if (!publisher && user_in_group (user, TETHER_TEST_PUBLISH_GROUP)) {
		const char *const remove[] = { "gpasswd", "-d", user, TETHER_TEST_PUBLISH_GROUP,
			                       NULL };
		run_admin (remove);
	}
}

/*
 * Test runs on this machine may make the users at the same time: one at a
 * time looks and makes (the lock goes with the descriptor). Users are never
 * removed, so what one run made the next finds.
 */
static int
lock_users (void)
{
	int fd = g_open ("/run/lock/tether-test-users.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		fd = g_open ("/tmp/tether-test-users.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		g_error ("cannot open a lock file for the test users: %s", g_strerror (errno));
	while (flock (fd, LOCK_EX) != 0) {
		if (errno != EINTR)
			g_error ("cannot lock the test users: %s", g_strerror (errno));
	}
	return fd;
}

void
tether_test_sysbus_ensure_users (void)
{
	const char *sysusers = require_env ("TETHER_SYSUSERS");
	int lock = lock_users ();

	/* the daemon's user and the publishers' group, as the package makes them */
	if (getpwnam (TETHER_TEST_DAEMON_USER) == NULL ||
	    getgrnam (TETHER_TEST_PUBLISH_GROUP) == NULL) {
		const char *const argv[] = { "systemd-sysusers", sysusers, NULL };
		run_admin (argv);
	}
	g_assert_nonnull (getpwnam (TETHER_TEST_DAEMON_USER));
	g_assert_nonnull (getgrnam (TETHER_TEST_PUBLISH_GROUP));

	ensure_user (TETHER_TEST_USER_OUTSIDER, FALSE);
	ensure_user (TETHER_TEST_USER_PUBLISHER, TRUE);
	g_close (lock, NULL);
}

/* ---- the bus ---- */

/*
 * The default policy of Debian's system.conf, a root-only name for the polkit
 * mock (which everyone may call, as polkit's own policy file allows), and
 * tether's policy file as the package installs it.
 */
static char *
system_bus_config (TetherTestSysbus *bus)
{
	return g_strdup_printf (
	        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration "
	        "1.0//EN\"\n"
	        " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
	        "<busconfig>\n"
	        "  <type>system</type>\n"
	        "  <listen>unix:path=%s</listen>\n"
	        "  <auth>EXTERNAL</auth>\n"
	        "  <policy context=\"default\">\n"
	        "    <allow user=\"*\"/>\n"
	        "    <deny own=\"*\"/>\n"
	        "    <deny send_type=\"method_call\"/>\n"
	        "    <allow send_type=\"signal\"/>\n"
	        "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
	        "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
	        "    <allow receive_type=\"method_call\"/>\n"
	        "    <allow receive_type=\"method_return\"/>\n"
	        "    <allow receive_type=\"error\"/>\n"
	        "    <allow receive_type=\"signal\"/>\n"
	        "    <allow send_destination=\"org.freedesktop.DBus\"\n"
	        "           send_interface=\"org.freedesktop.DBus\"/>\n"
	        "    <allow send_destination=\"org.freedesktop.DBus\"\n"
	        "           send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
	        "    <allow send_destination=\"org.freedesktop.DBus\"\n"
	        "           send_interface=\"org.freedesktop.DBus.Properties\"/>\n"
	        "    <deny send_destination=\"org.freedesktop.DBus\"\n"
	        "          send_interface=\"org.freedesktop.DBus\"\n"
	        "          send_member=\"UpdateActivationEnvironment\"/>\n"
	        "    <allow send_destination=\"" POLKIT_BUS_NAME "\"/>\n"
	        "  </policy>\n"
	        "  <policy user=\"root\">\n"
	        "    <allow own=\"" POLKIT_BUS_NAME "\"/>\n"
	        "    <allow send_destination=\"org.freedesktop.DBus\"\n"
	        "           send_interface=\"org.freedesktop.DBus.Monitoring\"/>\n"
	        "  </policy>\n"
	        "  <include>%s</include>\n"
	        "</busconfig>\n",
	        bus->socket_path, require_env ("TETHER_BUS_POLICY"));
}

/* like a session bus, but every user may connect */
static char *
session_bus_config (TetherTestSysbus *bus)
{
	return g_strdup_printf (
	        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration "
	        "1.0//EN\"\n"
	        " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
	        "<busconfig>\n"
	        "  <type>session</type>\n"
	        "  <listen>unix:path=%s</listen>\n"
	        "  <auth>EXTERNAL</auth>\n"
	        "  <policy context=\"default\">\n"
	        "    <allow user=\"*\"/>\n"
	        "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
	        "    <allow eavesdrop=\"true\"/>\n"
	        "    <allow own=\"*\"/>\n"
	        "  </policy>\n"
	        "</busconfig>\n",
	        bus->socket_path);
}

TetherTestSysbus *
tether_test_sysbus_new (TetherTestEnv *env, TetherTestBusKind kind)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autofree char *config = NULL;
	g_autofree char *config_arg = NULL;
	TetherTestSysbus *bus = g_new0 (TetherTestSysbus, 1);
	gint64 deadline;

	bus->env = env;
	bus->kind = kind;

	/* other users reach the socket and their files through here */
	bus->dir = g_dir_make_tmp ("tether-sysbus-XXXXXX", &error);
	g_assert_no_error (error);
	g_assert_cmpint (g_chmod (bus->dir, 0755), ==, 0);
	bus->socket_path = g_build_filename (bus->dir, "bus_socket", NULL);
	bus->config_path = g_build_filename (bus->dir, "bus.conf", NULL);
	bus->bus_log = g_build_filename (bus->dir, "dbus-daemon.log", NULL);
	bus->polkit_log = g_build_filename (bus->dir, "polkit-mock.log", NULL);
	bus->daemon_log = g_build_filename (bus->dir, "tetherd.log", NULL);
	bus->address = g_strdup_printf ("unix:path=%s", bus->socket_path);
	g_printerr ("# private %s bus in %s\n",
	            kind == TETHER_TEST_BUS_SYSTEM ? "system" : "session", bus->dir);

	config =
	        kind == TETHER_TEST_BUS_SYSTEM ? system_bus_config (bus) : session_bus_config (bus);
	g_file_set_contents (bus->config_path, config, -1, &error);
	g_assert_no_error (error);

	launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_subprocess_launcher_take_stdout_fd (launcher, open_log (bus->bus_log));
	g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
	config_arg = g_strdup_printf ("--config-file=%s", bus->config_path);
	bus->bus_daemon = g_subprocess_launcher_spawn (launcher, &error, "dbus-daemon", "--nofork",
	                                               config_arg, NULL);
	g_assert_no_error (error);

	/* the socket file appears at bind (), before the bus listens: retry until it answers */
	deadline = g_get_monotonic_time () + TETHER_TEST_TIMEOUT_MS * 1000;
	while (bus->connection == NULL) {
		g_clear_error (&error);
		if (g_file_test (bus->socket_path, G_FILE_TEST_EXISTS)) {
			/* everyone may connect; the bus policy decides the rest */
			g_assert_cmpint (g_chmod (bus->socket_path, 0666), ==, 0);
			bus->connection = g_dbus_connection_new_for_address_sync (
			        bus->address,
			        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
			                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
			        NULL, NULL, &error);
			if (bus->connection != NULL)
				break;
		}
		if (g_get_monotonic_time () >= deadline ||
		    g_subprocess_get_identifier (bus->bus_daemon) == NULL) {
			print_file ("dbus-daemon log", bus->bus_log);
			g_error ("dbus-daemon did not answer on %s: %s", bus->socket_path,
			         error != NULL ? error->message : "no socket");
		}
		iterate (10);
	}
	return bus;
}

void
tether_test_sysbus_free (TetherTestSysbus *bus)
{
	if (bus == NULL)
		return;
	if (bus->daemon != NULL)
		tether_test_sysbus_stop_daemon (bus);
	g_clear_object (&bus->manager);
	end_process (&bus->polkit);
	if (bus->connection != NULL) {
		g_dbus_connection_close_sync (bus->connection, NULL, NULL);
		g_clear_object (&bus->connection);
	}
	end_process (&bus->bus_daemon);
	if (g_test_failed ()) {
		print_file ("tetherd log", bus->daemon_log);
		print_file ("polkit mock log", bus->polkit_log);
		print_file ("dbus-daemon log", bus->bus_log);
	}
	if (g_test_failed () && g_strcmp0 (g_getenv ("TETHER_TEST_KEEP"), "1") == 0)
		g_printerr ("# kept the bus directory %s\n", bus->dir);
	else
		tether_test_remove_tree (bus->dir);
	g_free (bus->dir);
	g_free (bus->config_path);
	g_free (bus->socket_path);
	g_free (bus->address);
	g_free (bus->bus_log);
	g_free (bus->polkit_log);
	g_free (bus->daemon_log);
	g_free (bus);
}

const char *
tether_test_sysbus_get_address (TetherTestSysbus *bus)
{
	return bus->address;
}

const char *
tether_test_sysbus_get_dir (TetherTestSysbus *bus)
{
	return bus->dir;
}

GDBusConnection *
tether_test_sysbus_get_connection (TetherTestSysbus *bus)
{
	return bus->connection;
}

static guint32
name_owner_pid (TetherTestSysbus *bus, const char *name)
{
	g_autoptr(GVariant) reply = NULL;
	guint32 pid = 0;

	reply = g_dbus_connection_call_sync (
	        bus->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
	        "org.freedesktop.DBus", "GetConnectionUnixProcessID", g_variant_new ("(s)", name),
	        G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
	if (reply != NULL)
		g_variant_get (reply, "(u)", &pid);
	return pid;
}

/* waits until @process owns @name on the bus */
static void
wait_owner (TetherTestSysbus *bus, GSubprocess *process, const char *name, const char *log)
{
	gint64 deadline = g_get_monotonic_time () + TETHER_TEST_TIMEOUT_MS * 1000;

	for (;;) {
		const char *id = g_subprocess_get_identifier (process);

		if (id == NULL) {
			print_file (name, log);
			g_error ("the owner of %s ended before it owned the name", name);
		}
		if (name_owner_pid (bus, name) == g_ascii_strtoull (id, NULL, 10))
			return;
		if (g_get_monotonic_time () >= deadline) {
			print_file (name, log);
			g_error ("%s had no owner within %u ms", name, TETHER_TEST_TIMEOUT_MS);
		}
		iterate (20);
	}
}

/* @as is read in the child when it is spawned: it must live until then */
static GSubprocessLauncher *
new_launcher (TetherTestSysbus *bus, GSubprocessFlags flags, RunAs *as)
{
	GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);

	g_subprocess_launcher_setenv (launcher,
	                              bus->kind == TETHER_TEST_BUS_SYSTEM
	                                      ? "DBUS_SYSTEM_BUS_ADDRESS"
	                                      : "DBUS_SESSION_BUS_ADDRESS",
	                              bus->address, TRUE);
	g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
	g_subprocess_launcher_unsetenv (launcher, "LANGUAGE");
	if (as != NULL && as->switch_user) {
		/* nothing of root's: a home it can read and no runtime directory */
		g_subprocess_launcher_setenv (launcher, "HOME", bus->dir, TRUE);
		g_subprocess_launcher_unsetenv (launcher, "XDG_RUNTIME_DIR");
		g_subprocess_launcher_set_cwd (launcher, "/");
	}
	g_subprocess_launcher_set_child_setup (launcher, child_setup, as, NULL);
	return launcher;
}

/* ---- polkit ---- */

void
tether_test_sysbus_start_polkit (TetherTestSysbus *bus)
{
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_null (bus->polkit);
	launcher = new_launcher (bus, G_SUBPROCESS_FLAGS_STDERR_MERGE, NULL);
	g_subprocess_launcher_setenv (launcher, "DBUS_SYSTEM_BUS_ADDRESS", bus->address, TRUE);
	g_subprocess_launcher_take_stdout_fd (launcher, open_log (bus->polkit_log));
	/* Debian's python3, which has python3-dbusmock, even when another comes first in PATH */
	bus->polkit = g_subprocess_launcher_spawn (
	        launcher, &error,
	        g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE) ? "/usr/bin/python3"
	                                                                    : "python3",
	        "-m", "dbusmock", "--system", "--template", "polkitd", NULL);
	g_assert_no_error (error);
	wait_owner (bus, bus->polkit, POLKIT_BUS_NAME, bus->polkit_log);
}

void
tether_test_sysbus_polkit_allow (TetherTestSysbus *bus, const char *const *actions)
{
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GError) error = NULL;
	const char *const none[] = { NULL };

	reply = g_dbus_connection_call_sync (
	        bus->connection, POLKIT_BUS_NAME, POLKIT_PATH, "org.freedesktop.DBus.Mock",
	        "SetAllowed", g_variant_new ("(^as)", actions != NULL ? actions : none), NULL,
	        G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
	g_assert_no_error (error);
}

/* ---- tetherd ---- */

void
tether_test_sysbus_start_daemon (TetherTestSysbus *bus, const char *user, const char *state_dir,
                                 const char *config_file)
{
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) argv = g_ptr_array_new ();
	RunAs as;

	g_assert_null (bus->daemon);
	run_as_init (&as, user);
	launcher = new_launcher (bus, G_SUBPROCESS_FLAGS_STDERR_MERGE, &as);
	g_subprocess_launcher_setenv (launcher, "TETHER_PLUGIN_PATH",
	                              require_env ("TETHER_PLUGIN_PATH"), TRUE);
	g_subprocess_launcher_setenv (launcher, "GSETTINGS_SCHEMA_DIR",
	                              require_env ("GSETTINGS_SCHEMA_DIR"), TRUE);
	g_subprocess_launcher_take_stdout_fd (launcher, open_log (bus->daemon_log));

	g_ptr_array_add (argv, (gpointer) require_env ("TETHERD"));
	if (bus->kind == TETHER_TEST_BUS_SESSION)
		g_ptr_array_add (argv, "--session");
	g_ptr_array_add (argv, "--state-dir");
	g_ptr_array_add (argv, (gpointer) state_dir);
	g_ptr_array_add (argv, "--config");
	g_ptr_array_add (argv, (gpointer) config_file);
	g_ptr_array_add (argv, "--verbose");
	g_ptr_array_add (argv, NULL);
	bus->daemon =
	        g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
	g_assert_no_error (error);
	wait_owner (bus, bus->daemon, TETHER_BUS_NAME, bus->daemon_log);
	g_printerr ("# tetherd %s owns %s on the private bus (as %s)\n",
	            g_subprocess_get_identifier (bus->daemon), TETHER_BUS_NAME,
	            user != NULL ? user : "this user");
}

void
tether_test_sysbus_stop_daemon (TetherTestSysbus *bus)
{
	g_autoptr(GSubprocess) daemon = g_steal_pointer (&bus->daemon);

	g_assert_nonnull (daemon);
	g_clear_object (&bus->manager);
	g_subprocess_send_signal (daemon, SIGTERM);
	if (!wait_exit (daemon, STOP_TIMEOUT_MS)) {
		g_subprocess_force_exit (daemon);
		wait_exit (daemon, STOP_TIMEOUT_MS);
		print_file ("tetherd log", bus->daemon_log);
		g_error ("tetherd did not stop within %u ms of SIGTERM", STOP_TIMEOUT_MS);
	}
	if (!g_subprocess_get_if_exited (daemon) || g_subprocess_get_exit_status (daemon) != 0) {
		print_file ("tetherd log", bus->daemon_log);
		g_error ("tetherd did not exit cleanly on SIGTERM");
	}
}

gboolean
tether_test_sysbus_daemon_is_running (TetherTestSysbus *bus)
{
	return bus->daemon != NULL && g_subprocess_get_identifier (bus->daemon) != NULL &&
	       name_owner_pid (bus, TETHER_BUS_NAME) ==
	               g_ascii_strtoull (g_subprocess_get_identifier (bus->daemon), NULL, 10);
}

const char *
tether_test_sysbus_get_daemon_log (TetherTestSysbus *bus)
{
	return bus->daemon_log;
}

TetherDBusTether1 *
tether_test_sysbus_get_manager (TetherTestSysbus *bus)
{
	g_autoptr(GError) error = NULL;

	if (bus->manager != NULL)
		return bus->manager;
	bus->manager = tether_dbus_tether1_proxy_new_sync (
	        bus->connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, TETHER_BUS_NAME,
	        TETHER_MANAGER_PATH, NULL, &error);
	g_assert_no_error (error);
	return bus->manager;
}

/* ---- clients ---- */

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

static char *
bytes_to_string (GBytes *bytes)
{
	gsize size = 0;
	const char *data = bytes != NULL ? g_bytes_get_data (bytes, &size) : NULL;

	return g_strndup (data != NULL ? data : "", size);
}

TetherTestCtlResult *
tether_test_sysbus_run (TetherTestSysbus *bus, const char *user, const char *const *argv)
{
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) process = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *line = g_strjoinv (" ", (char **) argv);
	Communication communication = { 0 };
	TetherTestCtlResult *result = g_new0 (TetherTestCtlResult, 1);
	gint64 deadline = g_get_monotonic_time () + RUN_TIMEOUT_MS * 1000;
	RunAs as;

	run_as_init (&as, user);
	launcher = new_launcher (
	        bus, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &as);
	process = g_subprocess_launcher_spawnv (launcher, argv, &error);
	g_assert_no_error (error);
	g_subprocess_communicate_async (process, NULL, NULL, on_communicated, &communication);
	while (!communication.done) {
		if (g_get_monotonic_time () >= deadline) {
			g_subprocess_force_exit (process);
			g_error ("%s (as %s) did not finish within %u ms", line,
			         user != NULL ? user : "this user", RUN_TIMEOUT_MS);
		}
		g_main_context_iteration (NULL, TRUE);
	}
	g_assert_no_error (communication.error);
	g_subprocess_wait (process, NULL, NULL);

	result->status =
	        g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process) : -1;
	result->out = bytes_to_string (communication.out);
	result->err = bytes_to_string (communication.err);
	g_clear_pointer (&communication.out, g_bytes_unref);
	g_clear_pointer (&communication.err, g_bytes_unref);
	g_printerr ("# $ %s (as %s) -> %d\n", line, user != NULL ? user : "this user",
	            result->status);
	if (result->status != 0 && result->err[0] != '\0')
		g_printerr ("#   stderr: %s", result->err);
	return result;
}

TetherTestSysbusProcess *
tether_test_sysbus_spawn (TetherTestSysbus *bus, const char *user, const char *const *argv)
{
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GError) error = NULL;
	TetherTestSysbusProcess *process = g_new0 (TetherTestSysbusProcess, 1);
	RunAs as;

	run_as_init (&as, user);
	launcher = new_launcher (bus, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &as);
	process->process = g_subprocess_launcher_spawnv (launcher, argv, &error);
	g_assert_no_error (error);
	process->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (process->process));
	return process;
}

typedef struct {
	gboolean done;
	char *line;
} LineRead;

static void
on_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
	LineRead *read = user_data;

	read->line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source),
	                                                        result, NULL, NULL);
	read->done = TRUE;
}

char *
tether_test_sysbus_process_read_line (TetherTestSysbusProcess *process, guint timeout_ms)
{
	g_autoptr(GCancellable) cancellable = g_cancellable_new ();
	gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
	LineRead read = { 0 };

	g_data_input_stream_read_line_async (process->out, G_PRIORITY_DEFAULT, cancellable, on_line,
	                                     &read);
	while (!read.done) {
		if (g_get_monotonic_time () >= deadline)
			g_cancellable_cancel (cancellable);
		iterate (10);
	}
	return read.line;
}

void
tether_test_sysbus_process_free (TetherTestSysbusProcess *process)
{
	if (process == NULL)
		return;
	end_process (&process->process);
	g_clear_object (&process->out);
	g_free (process);
}

char *
tether_test_sysbus_call (TetherTestSysbus *bus, const char *user, const char *object_path,
                         const char *method, const char *const *args, char **message)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new ();
	g_autoptr(TetherTestCtlResult) result = NULL;
	const char *start;
	const char *end;

	g_ptr_array_add (argv, "gdbus");
	g_ptr_array_add (argv, "call");
	g_ptr_array_add (argv, bus->kind == TETHER_TEST_BUS_SYSTEM ? "--system" : "--session");
	g_ptr_array_add (argv, "--dest");
	g_ptr_array_add (argv, TETHER_BUS_NAME);
	g_ptr_array_add (argv, "--object-path");
	g_ptr_array_add (argv, (gpointer) object_path);
	g_ptr_array_add (argv, "--method");
	g_ptr_array_add (argv, (gpointer) method);
	for (guint i = 0; args != NULL && args[i] != NULL; i++)
		g_ptr_array_add (argv, (gpointer) args[i]);
	g_ptr_array_add (argv, NULL);
	result = tether_test_sysbus_run (bus, user, (const char *const *) argv->pdata);
	if (result->status == 0)
		return NULL;

	/* "Error: GDBus.Error:NAME: MESSAGE" */
	start = strstr (result->err, "GDBus.Error:");
	if (start == NULL) {
		if (message != NULL)
			*message = g_strdup (result->err);
		return g_strdup ("(no D-Bus error)");
	}
	start += strlen ("GDBus.Error:");
	end = strchr (start, ':');
	if (end == NULL)
		end = start + strcspn (start, "\n");
	if (message != NULL)
		*message = g_strstrip (g_strdup (*end == ':' ? end + 1 : end));
	return g_strndup (start, end - start);
}
