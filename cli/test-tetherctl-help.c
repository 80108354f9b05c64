/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * tetherctl's help, as a person reads it: every command and subcommand
 * answers --help without a daemon, names its arguments and says what each
 * flag does where it is used. The tetherctl binary is the first argument
 * after the GTest options.
 */

#include <string.h>
#include <sys/wait.h>

#include <glib.h>

static const gchar *tetherctl_path;

/* tetherctl ARGS... --help: its standard output; it must succeed and say nothing on stderr */
static gchar *
help_of (const gchar *first, ...)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new ();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	gint status = 0;
	va_list args;

	g_ptr_array_add (argv, (gpointer) tetherctl_path);
	va_start (args, first);
	for (const gchar *arg = first; arg != NULL; arg = va_arg (args, const gchar *))
		g_ptr_array_add (argv, (gpointer) arg);
	va_end (args);
	g_ptr_array_add (argv, "--help");
	g_ptr_array_add (argv, NULL);

	/* no bus: help must not need tetherd */
	g_setenv ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent", TRUE);
	g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent", TRUE);
	g_spawn_sync (NULL, (gchar **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
	              &status, &error);
	g_assert_no_error (error);
	g_test_message ("%s: %s", first != NULL ? first : "tetherctl", out);
	if (!g_spawn_check_wait_status (status, NULL))
		g_error ("tetherctl %s --help failed: %s", first, err);
	g_assert_cmpstr (err, ==, "");
	return g_steal_pointer (&out);
}

/* the help line of @flag in @help, from the flag to the end of its line */
static gchar *
flag_line (const gchar *help, const gchar *flag)
{
	g_autofree gchar *needle = g_strdup_printf ("  %s", flag);
	const gchar *start = strstr (help, needle);
	const gchar *end;

	if (start == NULL)
		g_error ("the help does not list %s:\n%s", flag, help);
	end = strchr (start, '\n');
	return g_strndup (start, end != NULL ? (gsize) (end - start) : strlen (start));
}

static void
assert_says (const gchar *text, const gchar *needle)
{
	if (strstr (text, needle) == NULL)
		g_error ("'%s' does not say '%s'", text, needle);
}

static void
assert_not_says (const gchar *text, const gchar *needle)
{
	if (strstr (text, needle) != NULL)
		g_error ("'%s' says '%s'", text, needle);
}

/* every command and subcommand has help, with a usage line naming its arguments */
static void
test_every_command (void)
{
	const gchar *const commands[][3] = {
		{ "status" },
		{ "clouds" },
		{ "clouds", "show" },
		{ "monitor" },
		{ "anchor" },
		{ "anchor", "add" },
		{ "anchor", "list" },
		{ "anchor", "show" },
		{ "anchor", "remove" },
		{ "anchor", "test" },
		{ "identity" },
		{ "identity", "request" },
		{ "identity", "install" },
		{ "identity", "import" },
		{ "identity", "list" },
		{ "identity", "show" },
		{ "identity", "remove" },
		{ "connection" },
		{ "connection", "add" },
		{ "connection", "modify" },
		{ "connection", "enable" },
		{ "connection", "disable" },
		{ "connection", "list" },
		{ "connection", "show" },
		{ "connection", "remove" },
		{ "connection", "purge" },
		{ "connection", "reprovision" },
		{ "publish" },
		{ "respond" },
	};
	g_autofree gchar *top = help_of (NULL, NULL);

	for (gsize i = 0; i < G_N_ELEMENTS (commands); i++) {
		g_autofree gchar *help = help_of (commands[i][0], commands[i][1], NULL);

		assert_says (help, "Usage:");
		assert_says (help, commands[i][1] != NULL ? commands[i][1] : commands[i][0]);
		if (commands[i][1] == NULL)
			assert_says (top, commands[i][0]);
	}
}

/* connection add and modify say what each flag does for that command */
static void
test_connection_flags (void)
{
	g_autofree gchar *add = help_of ("connection", "add", NULL);
	g_autofree gchar *modify = help_of ("connection", "modify", NULL);
	g_autofree gchar *add_disabled = flag_line (add, "--disabled");
	g_autofree gchar *modify_disabled = flag_line (modify, "--disabled");
	g_autofree gchar *add_identity = flag_line (add, "--identity");
	g_autofree gchar *modify_identity = flag_line (modify, "--identity");
	g_autofree gchar *modify_anchor = flag_line (modify, "--anchor");
	g_autofree gchar *modify_option = flag_line (modify, "--option");
	g_autofree gchar *add_anchor = flag_line (add, "--anchor");
	g_autofree gchar *keepalive = flag_line (add, "--keepalive");

	/* on modify, --disabled disables: it does not "keep" anything */
	assert_says (modify_disabled, "Disable the connection");
	assert_says (add_disabled, "disabled");
	/* a default applies when adding, not when changing */
	assert_says (add_identity, "default: device");
	assert_not_says (modify_identity, "default");
	assert_says (modify_anchor, "replace");
	assert_says (modify_option, "merged");
	assert_not_says (add_anchor, "on modify");
	assert_says (keepalive, "seconds");
	assert_says (keepalive, "5 to 3600");
	assert_not_says (modify, "--cloud");
}

/* a name where a command wants an option: a usage error (2) that shows the option */
static void
test_naming_option_hint (void)
{
	/* the command's words, then what the error must show */
	const gchar *const cases[][5] = {
		{ "identity", "show", "spare", NULL, "write --identity spare" },
		{ "monitor", "tb", NULL, NULL, "write --connection tb" },
		{ "publish", "tb", "{}", NULL, "write --connection tb" },
	};

	g_setenv ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent", TRUE);
	g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent", TRUE);
	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		const gchar *argv[] = { tetherctl_path, cases[i][0], cases[i][1],
			                cases[i][2],    cases[i][3], NULL };
		g_autoptr(GError) error = NULL;
		g_autofree gchar *err = NULL;
		gint status = 0;

		g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
		              NULL, &err, &status, &error);
		g_assert_no_error (error);
		g_assert_true (WIFEXITED (status));
		g_assert_cmpint (WEXITSTATUS (status), ==, 2);
		assert_says (err, cases[i][4]);
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	if (argc != 2) {
		g_printerr ("usage: %s [GTest options] TETHERCTL\n", argv[0]);
		return 2;
	}
	tetherctl_path = argv[1];

	g_test_add_func ("/tetherctl/help/every-command", test_every_command);
	g_test_add_func ("/tetherctl/help/connection-flags", test_connection_flags);
	g_test_add_func ("/tetherctl/help/naming-option-hint", test_naming_option_hint);
	return g_test_run ();
}
