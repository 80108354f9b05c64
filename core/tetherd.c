/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tether-auth.h"
#include "tether-error.h"
#include "tether-manager.h"
#include "tether-settings.h"

#define TETHER_BUS_NAME "org.tether.Tether1"

typedef struct {
	GMainLoop *loop;
	TetherAuth *auth;
	TetherManager *manager;
	gchar *state_dir;
	gchar *config_file;
	gint exit_status;
} TetherDaemon;

static gboolean
on_signal (gpointer user_data)
{
	TetherDaemon *daemon = user_data;

	g_info ("stopping");
	g_main_loop_quit (daemon->loop);
	return G_SOURCE_REMOVE;
}

static void
on_bus_acquired (GDBusConnection *bus, const gchar *name, gpointer user_data)
{
	TetherDaemon *daemon = user_data;
	g_autoptr(GError) error = NULL;

	/* the objects are on the bus before the name is */
	daemon->manager = tether_manager_new (bus, daemon->auth, daemon->state_dir,
	                                      daemon->config_file, &error);
	if (daemon->manager == NULL) {
		g_printerr ("tetherd: %s\n", error->message);
		daemon->exit_status = EXIT_FAILURE;
		g_main_loop_quit (daemon->loop);
	}
}

static void
on_name_acquired (GDBusConnection *bus, const gchar *name, gpointer user_data)
{
	TetherDaemon *daemon = user_data;

	g_info ("tetherd %s ready as %s (state %s, settings %s)", PACKAGE_VERSION, name,
	        daemon->state_dir, daemon->config_file);
}

static void
on_name_lost (GDBusConnection *bus, const gchar *name, gpointer user_data)
{
	TetherDaemon *daemon = user_data;

	if (bus == NULL)
		g_printerr (_("tetherd: cannot connect to the bus\n"));
	else
		g_printerr (_("tetherd: cannot own %s: is another tetherd running?\n"), name);
	daemon->exit_status = EXIT_FAILURE;
	g_main_loop_quit (daemon->loop);
}

/*
 * Below the state directory, directories are 0700 and files 0600 (what
 * the umask gives them); anything that group or others could read, such as
 * a key copied in by hand, is restricted and reported. Links are not
 * followed.
 */
static void
restrict_tree (const gchar *dir)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDir) entries = g_dir_open (dir, 0, &error);
	const gchar *name;

	if (entries == NULL) {
		g_warning ("cannot check the modes in %s: %s", dir, error->message);
		return;
	}
	while ((name = g_dir_read_name (entries)) != NULL) {
		g_autofree gchar *path = g_build_filename (dir, name, NULL);
		GStatBuf st;
		guint mode;
		guint wanted;

		if (g_lstat (path, &st) != 0 || S_ISLNK (st.st_mode))
			continue;
		mode = st.st_mode & 07777;
		wanted = S_ISDIR (st.st_mode) ? 0700 : 0600;
		if ((mode & 077) != 0) {
			if (g_chmod (path, wanted) == 0)
				g_warning (
				        "%s was open to group or others (mode %04o); set to %04o",
				        path, mode, wanted);
			else
				g_warning ("%s is open to group or others (mode %04o) and cannot "
				           "be restricted: %s",
				           path, mode, g_strerror (errno));
		}
		if (S_ISDIR (st.st_mode))
			restrict_tree (path);
	}
}

/*
 * One daemon per state directory: two would write the same outbox. The lock
 * lasts as long as the process (its descriptor is never closed), so a
 * killed daemon leaves none behind.
 */
static gboolean
lock_state_dir (const gchar *dir, GError **error)
{
	g_autofree gchar *path = g_build_filename (dir, "lock", NULL);
	g_autofree gchar *holder = NULL;
	g_autofree gchar *pid = NULL;
	int fd = g_open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot open the lock file %s: %s"), path, g_strerror (errno));
		return FALSE;
	}
	if (flock (fd, LOCK_EX | LOCK_NB) != 0) {
		if (g_file_get_contents (path, &holder, NULL, NULL))
			g_strstrip (holder);
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_IN_USE,
		             _("the state directory %s is in use by another tetherd (process %s): "
		               "stop that one first, or give this one its own --state-dir"),
		                dir, holder != NULL && holder[0] != '\0' ? holder : "?");
		g_close (fd, NULL);
		return FALSE;
	}

	/* who holds it, for the message above */
	pid = g_strdup_printf ("%d\n", (int) getpid ());
	if (ftruncate (fd, 0) != 0 || pwrite (fd, pid, strlen (pid), 0) < 0)
		g_debug ("cannot write %s: %s", path, g_strerror (errno));
	return TRUE;
}

/*
 * A place given on the command line is taken as written: its parent directory must be there
 * already, so that a typo (/etc/tehter/tether.conf) is refused rather than made into a new,
 * empty configuration. tetherd makes only its default places' parents.
 */
static gboolean
check_given_parent (const gchar *option, const gchar *path, GError **error)
{
	g_autofree gchar *parent = g_path_get_dirname (path);

	if (g_file_test (parent, G_FILE_TEST_IS_DIR))
		return TRUE;
	g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
	             _("%s %s: the directory %s does not exist; check the path, or create the "
	               "directory first"),
	                option, path, parent);
	return FALSE;
}

/* the state directory is 0700: keys live below it */
static gboolean
prepare_state_dir (const gchar *dir, GError **error)
{
	GStatBuf st;

	if (g_mkdir_with_parents (dir, 0700) != 0 || g_stat (dir, &st) != 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot create the state directory %s: %s"), dir,
		                g_strerror (errno));
		return FALSE;
	}
	if ((st.st_mode & 077) != 0) {
		if (g_chmod (dir, 0700) != 0) {
			int saved_errno = errno;

			g_set_error (
			        error, TETHER_ERROR, TETHER_ERROR_FAILED,
			        _("cannot restrict the state directory %s (mode %04o) to 0700: "
			               "%s: give it to user %s, who runs tetherd"),
			           dir, (guint) (st.st_mode & 07777), g_strerror (saved_errno),
			           g_get_user_name ());
			return FALSE;
		}
		g_warning ("state directory %s had mode %04o; set to 0700", dir,
		           (guint) (st.st_mode & 07777));
	}
	if (st.st_uid != getuid ())
		g_warning ("state directory %s belongs to user %u, not to the daemon's user %u",
		           dir, (guint) st.st_uid, (guint) getuid ());
	restrict_tree (dir);
	return TRUE;
}

/*
 * GLib before 2.76 keeps the memory of freed GSlice blocks (every GObject,
 * GVariant, GBytes and list link) for reuse and never gives it back: one
 * burst of messages left tetherd tens of MiB larger for good. GLib reads
 * G_SLICE before main() runs, so tetherd starts itself again with it set,
 * unless it is set already (G_SLICE=always-malloc is what valgrind users
 * set too). Where /proc/self/exe cannot be run, tetherd goes on as it is.
 */
static void
use_malloc_for_slices (char **argv)
{
#if !GLIB_CHECK_VERSION(2, 76, 0)
	if (g_getenv ("G_SLICE") != NULL || glib_check_version (2, 76, 0) == NULL)
		return;
	g_setenv ("G_SLICE", "always-malloc", TRUE);
	execv ("/proc/self/exe", argv);
#endif
}

int
main (int argc, char **argv)
{
	gboolean session = FALSE;
	gboolean verbose = FALSE;
	gboolean version = FALSE;
	g_autofree gchar *state_dir = NULL;
	g_autofree gchar *config_file = NULL;
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	TetherDaemon daemon = { 0 };
	guint owner_id;
	/* clang-format off */
	const GOptionEntry entries[] = {
		{ "session", 0, 0, G_OPTION_ARG_NONE, &session,
		  N_("Use the session bus, and per-user state and settings"), NULL },
		{ "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir,
		  N_("Keep keys, anchors and queued messages in DIR"), N_("DIR") },
		{ "config", 0, 0, G_OPTION_ARG_FILENAME, &config_file,
		  N_("Read and write the settings in FILE"), N_("FILE") },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, N_("Log debug messages"), NULL },
		{ "version", 0, 0, G_OPTION_ARG_NONE, &version, N_("Print the version"), NULL },
		{ NULL }
	};
	/* clang-format on */

	use_malloc_for_slices (argv);

	/* keys, queued messages and settings are for the daemon's user alone */
	umask (077);
	setlocale (LC_ALL, "");
	bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
	bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
	textdomain (GETTEXT_PACKAGE);

	context = g_option_context_new (NULL);
	g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
	g_option_context_set_summary (
	        context, _("The tether daemon: connects this device to IoT clouds over "
	                    "mutually authenticated TLS, and serves the "
	                    "org.tether.Tether1 D-Bus API."));
	g_option_context_set_description (
	        context,
	        _("Without options it runs as the system service: system bus, state in "
	           "/var/lib/tether, settings in /etc/tether/tether.conf.\n"
	           "Plugins load from TETHER_PLUGIN_PATH (colon-separated) when it is set.\n"
	           "Manage it with tetherctl."));
	g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
	if (!g_option_context_parse (context, &argc, &argv, &error)) {
		g_printerr ("tetherd: %s\n", error->message);
		g_printerr (_("Run 'tetherd --help' to see the options.\n"));
		return 2;
	}
	if (argc > 1) {
		g_printerr (_("tetherd: unexpected argument '%s'\n"), argv[1]);
		g_printerr (_("Run 'tetherd --help' to see the options.\n"));
		return 2;
	}
	if (version) {
		g_print ("tetherd %s\n", PACKAGE_VERSION);
		return EXIT_SUCCESS;
	}
	if (verbose)
		g_log_set_debug_enabled (TRUE);

	if ((state_dir != NULL && !check_given_parent ("--state-dir", state_dir, &error)) ||
	    (config_file != NULL && !check_given_parent ("--config", config_file, &error))) {
		g_printerr ("tetherd: %s\n", error->message);
		return EXIT_FAILURE;
	}
	if (state_dir == NULL) {
		state_dir = session ? g_build_filename (g_get_user_state_dir (), "tether", NULL)
		                    : g_strdup (TETHER_LOCALSTATEDIR);
	}
	if (config_file == NULL) {
		config_file = session ? g_build_filename (g_get_user_config_dir (), "tether",
		                                          "tether.conf", NULL)
		                      : g_build_filename (TETHER_SYSCONFDIR, "tether.conf", NULL);
	}
	/* before anything is changed: a settings file tetherd would lose or destroy */
	if (!tether_settings_check_file (config_file, &error) ||
	    !prepare_state_dir (state_dir, &error) || !lock_state_dir (state_dir, &error)) {
		g_printerr ("tetherd: %s\n", error->message);
		return EXIT_FAILURE;
	}

	daemon.loop = g_main_loop_new (NULL, FALSE);
	daemon.auth =
	        tether_auth_new (session ? TETHER_AUTH_MODE_SESSION : TETHER_AUTH_MODE_SYSTEM);
	daemon.state_dir = state_dir;
	daemon.config_file = config_file;
	g_unix_signal_add (SIGTERM, on_signal, &daemon);
	g_unix_signal_add (SIGINT, on_signal, &daemon);
	owner_id = g_bus_own_name (session ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM,
	                           TETHER_BUS_NAME, G_BUS_NAME_OWNER_FLAGS_NONE, on_bus_acquired,
	                           on_name_acquired, on_name_lost, &daemon, NULL);
	g_main_loop_run (daemon.loop);

	g_bus_unown_name (owner_id);
	g_clear_object (&daemon.manager);
	g_clear_object (&daemon.auth);
	g_main_loop_unref (daemon.loop);
	return daemon.exit_status;
}
