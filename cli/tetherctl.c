/* tetherctl: the command line on tetherd's D-Bus API
 *
 * This file holds the entry point and the dispatch to the commands; each area
 * (anchors, identities, connections, ...) lives in its own tetherctl-*.c.
 *
 * Exit status: 0 on success, 1 when tetherd (or a file, or the bus) fails, 2 when
 * the command line is wrong.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gio/gunixinputstream.h>
#include <glib/gi18n.h>

#include "tetherctl-commands.h"

typedef struct {
	const char *name;
	const char *summary; /* N_() */
	/* a group of commands (NULL-terminated), or NULL for a command alone */
	const TetherctlCommand *commands;
	/* the group's command when none is given, or NULL */
	const char *default_command;
	TetherctlRunFunc run;
} TetherctlGroup;

/* clang-format off */
static const TetherctlGroup groups[] = {
	{ "status", N_("Show tetherd's version, clouds, connections and identities"), NULL, NULL,
	  tetherctl_status },
	{ "clouds", N_("List the clouds, or show one cloud's options (clouds show NAME)"),
	  tetherctl_cloud_commands, "list", NULL },
	{ "monitor", N_("Print received messages and message results as they come"), NULL, NULL,
	  tetherctl_monitor },
	{ "anchor", N_("Add, list, show, remove and test trust anchors"), tetherctl_anchor_commands,
	  NULL, NULL },
	{ "identity", N_("Request, install, list and show device identities"),
	  tetherctl_identity_commands, NULL, NULL },
	{ "connection", N_("Add, change, list, show and remove connections to clouds"),
	  tetherctl_connection_commands, NULL, NULL },
	{ "publish", N_("Publish a message to one connection or to every enabled one"), NULL, NULL,
	  tetherctl_publish },
	{ "respond", N_("Answer a command that a cloud sent"), NULL, NULL, tetherctl_respond },
};
/* clang-format on */

static char *
describe_commands (const char *heading, const char *const *names, const char *const *summaries)
{
	g_autoptr(GString) text = g_string_new (heading);
	gsize width = 0;

	for (guint i = 0; names[i] != NULL; i++)
		width = MAX (width, strlen (names[i]));
	for (guint i = 0; names[i] != NULL; i++)
		g_string_append_printf (text, "\n  %-*s  %s", (int) width, names[i],
		                        _(summaries[i]));
	return g_string_free (g_steal_pointer (&text), FALSE);
}

static char *
describe_groups (void)
{
	const char *names[G_N_ELEMENTS (groups) + 1] = { NULL };
	const char *summaries[G_N_ELEMENTS (groups) + 1] = { NULL };
	g_autofree char *list = NULL;

	for (guint i = 0; i < G_N_ELEMENTS (groups); i++) {
		names[i] = groups[i].name;
		summaries[i] = groups[i].summary;
	}
	list = describe_commands (_("Commands:"), names, summaries);
	return g_strdup_printf ("%s\n\n%s", list,
	                        _("Run 'tetherctl COMMAND --help' for a command's options."));
}

static char *
describe_group (const TetherctlGroup *group)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new ();
	g_autoptr(GPtrArray) summaries = g_ptr_array_new ();
	g_autofree char *list = NULL;

	for (const TetherctlCommand *c = group->commands; c->name != NULL; c++) {
		g_ptr_array_add (names, (gpointer) c->name);
		g_ptr_array_add (summaries, (gpointer) c->summary);
	}
	g_ptr_array_add (names, NULL);
	g_ptr_array_add (summaries, NULL);
	list = describe_commands (_("Commands:"), (const char *const *) names->pdata,
	                             (const char *const *) summaries->pdata);
	return g_strdup_printf (_("%s\n\nRun 'tetherctl %s COMMAND --help' for a command's "
	                          "options."),
	                           list, group->name);
}

static char *
command_names (const TetherctlGroup *group)
{
	g_autoptr(GString) names = g_string_new (NULL);

	for (const TetherctlCommand *c = group->commands; c->name != NULL; c++)
		g_string_append_printf (names, "%s%s", names->len > 0 ? ", " : "", c->name);
	return g_string_free (g_steal_pointer (&names), FALSE);
}

/* A group: "anchor [OPTION…] COMMAND …"; its own --help lists the commands. */
static gboolean
run_group (TetherctlContext *ctx, const TetherctlGroup *group, char **args, GError **error)
{
	g_autofree char *prgname = g_strdup_printf ("tetherctl %s", group->name);
	g_autoptr(GOptionContext) octx = NULL;
	g_autofree char *description = describe_group (group);
	g_auto(GStrv) argv = g_strdupv (args);
	const char *name;

	g_set_prgname (prgname);
	octx = g_option_context_new (_("COMMAND [ARGUMENTS…]"));
	g_option_context_set_translation_domain (octx, GETTEXT_PACKAGE);
	g_option_context_set_strict_posix (octx, TRUE);
	g_option_context_set_summary (octx, group->summary);
	g_option_context_set_description (octx, description);
	tetherctl_add_global_options (octx, ctx);
	if (!g_option_context_parse_strv (octx, &argv, error))
		return FALSE;

	name = argv[1] != NULL ? argv[1] : group->default_command;
	if (name == NULL) {
		g_autofree char *names = command_names (group);

		return tetherctl_usage_error (error, _("'%s' needs a command: %s"), group->name,
		                                        names);
	}
	for (const TetherctlCommand *c = group->commands; c->name != NULL; c++) {
		if (g_strcmp0 (c->name, name) != 0)
			continue;
		g_free (ctx->command);
		ctx->command = g_strdup_printf ("%s %s", group->name, c->name);
		if (argv[1] == NULL)
			return c->run (ctx, argv, error);
		/* the command's name stands in for the program name */
		return c->run (ctx, argv + 1, error);
	}

	{
		g_autofree char *names = command_names (group);

		return tetherctl_usage_error (error,
		                              _("'%s' has no command '%s'; its commands are: %s"),
		                                 group->name, name, names);
	}
}

static int
report_error (TetherctlContext *ctx, GError *error)
{
	gboolean usage = g_error_matches (error, TETHERCTL_ERROR, TETHERCTL_ERROR_USAGE) ||
	                 error->domain == G_OPTION_ERROR;

	/* "GDBus.Error:org.tether.Error.NotFound: no connection ..." -> "no connection ..." */
	g_dbus_error_strip_remote_error (error);
	fprintf (stderr, "tetherctl: %s\n", error->message);
	if (!usage)
		return 1;
	if (ctx->command != NULL)
		fprintf (stderr, _("Run 'tetherctl %s --help' for usage.\n"), ctx->command);
	else
		fprintf (stderr, _("Run 'tetherctl --help' for usage.\n"));
	return 2;
}

int
main (int argc, char **argv)
{
	TetherctlContext ctx = { 0 };
	gboolean version = FALSE;
	const GOptionEntry entries[] = { { "version", 0, 0, G_OPTION_ARG_NONE, &version,
		                           N_("Print tetherctl's version"), NULL },
		                           { NULL } };
	g_autoptr(GOptionContext) octx = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *description = NULL;
	g_auto(GStrv) args = NULL;
	const TetherctlGroup *group = NULL;
	gboolean ok = FALSE;
	int status;

	setlocale (LC_ALL, "");
	bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
	bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
	textdomain (GETTEXT_PACKAGE);
	g_set_prgname ("tetherctl");

	/* the global options come before the command; the command parses the rest */
	octx = g_option_context_new (_("COMMAND [ARGUMENTS…]"));
	description = describe_groups ();
	g_option_context_set_translation_domain (octx, GETTEXT_PACKAGE);
	g_option_context_set_strict_posix (octx, TRUE);
	g_option_context_set_summary (octx,
	                              N_("Configure tetherd and use its connections to clouds."));
	g_option_context_set_description (octx, description);
	g_option_context_add_main_entries (octx, entries, GETTEXT_PACKAGE);
	tetherctl_add_global_options (octx, &ctx);

	args = g_new0 (char *, argc + 1);
	for (int i = 0; i < argc; i++)
		args[i] = g_strdup (argv[i]);
	if (!g_option_context_parse_strv (octx, &args, &error)) {
		status = report_error (&ctx, error);
		tetherctl_context_clear (&ctx);
		return status;
	}
	if (version) {
		tetherctl_print ("tetherctl %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (args[1] == NULL) {
		g_autofree char *help = g_option_context_get_help (octx, TRUE, NULL);

		fprintf (stderr, "%s", help);
		return 2;
	}

	for (guint i = 0; i < G_N_ELEMENTS (groups); i++) {
		if (g_strcmp0 (groups[i].name, args[1]) == 0)
			group = &groups[i];
	}
	ctx.input = g_unix_input_stream_new (STDIN_FILENO, FALSE);
	if (group == NULL) {
		tetherctl_usage_error (&error, _("Unknown command '%s'"), args[1]);
	} else if (group->commands != NULL) {
		ctx.command = g_strdup (group->name);
		ok = run_group (&ctx, group, args + 1, &error);
	} else {
		ctx.command = g_strdup (group->name);
		ok = group->run (&ctx, args + 1, &error);
	}

	status = ok ? 0 : report_error (&ctx, error);
	fflush (stdout);
	tetherctl_context_clear (&ctx);
	return status;
}
