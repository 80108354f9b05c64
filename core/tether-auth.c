/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * Authorisation of the admin methods.
 *
 * GDBusInterfaceSkeleton's own hook, "g-authorize-method", is emitted in a
 * worker thread for every method call once a handler is connected, and the
 * calls then reach their handlers in whatever order the threads finish: a
 * client's pipelined Publish calls could be reordered. So the gate sits on
 * the generated handle- signals of the admin methods instead, in the main
 * thread: the first handler of such a signal claims the call, asks the bus
 * for the caller's uid and polkit for the action (both asynchronously), and
 * either returns NotAuthorized or marks the invocation and hands it to the
 * skeleton's generated dispatcher again, which emits the handle- signal a
 * second time; the mark lets it through to the daemon's handler. Methods
 * that are not gated have no handler of ours, and cost nothing.
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>
#include <unistd.h>

#include "tether-auth.h"
#include "tether-error.h"

/* set on an invocation that has passed the check */
#define TETHER_AUTH_MARK "tether-authorized"

/* polkit may be waiting for a person to type a password */
#define TETHER_AUTH_POLKIT_TIMEOUT_MS (5 * 60 * 1000)

/* CheckAuthorization's AllowUserInteraction flag */
#define POLKIT_ALLOW_USER_INTERACTION 1

struct _TetherAuth {
	GObject parent_instance;
	TetherAuthMode mode;
	guint32 own_uid;
};

G_DEFINE_FINAL_TYPE (TetherAuth, tether_auth, G_TYPE_OBJECT)

typedef struct {
	TetherAuth *auth;
	GDBusInterfaceSkeleton *skeleton;
	GDBusMethodInvocation *invocation;
	const gchar *action;
	guint32 uid;
} TetherAuthRequest;

static void
tether_auth_request_free (TetherAuthRequest *request)
{
	g_object_unref (request->auth);
	g_object_unref (request->skeleton);
	g_object_unref (request->invocation);
	g_free (request);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TetherAuthRequest, tether_auth_request_free)

const gchar *
tether_auth_get_action (const gchar *interface_name, const gchar *method_name)
{
	static const gchar *const open_methods[] = { "Publish", "PublishBatch", "Respond", NULL };

	/* reading is open, like the properties; publishing is the bus policy's */
	if (g_str_has_prefix (method_name, "Get") || g_strv_contains (open_methods, method_name))
		return NULL;
	if (g_strcmp0 (interface_name, "org.tether.TrustAnchor1") == 0 ||
	    strstr (method_name, "TrustAnchor") != NULL)
		return TETHER_AUTH_ACTION_ANCHORS;
	if (g_strcmp0 (interface_name, "org.tether.Identity1") == 0 ||
	    strstr (method_name, "Identity") != NULL)
		return TETHER_AUTH_ACTION_IDENTITIES;
	return TETHER_AUTH_ACTION_CONNECTIONS;
}

/*
 * The invocation holds two references here: the one GDBus gave the first
 * dispatch, which whoever answers the call consumes (the handle- signal's
 * contract), and the request's own, dropped with the request.
 */

static void
finish_denied (TetherAuthRequest *request, const gchar *why)
{
	GDBusMethodInvocation *invocation = request->invocation;

	g_info ("uid %u refused %s.%s: %s", request->uid,
	        g_dbus_method_invocation_get_interface_name (invocation),
	        g_dbus_method_invocation_get_method_name (invocation), why);
	g_dbus_method_invocation_return_error (
	        invocation, TETHER_ERROR, TETHER_ERROR_NOT_AUTHORIZED,
	        _("not authorized: %s needs the polkit action %s (%s); ask an administrator for "
	          "it, or run the command as root"),
	           g_dbus_method_invocation_get_method_name (invocation), request->action, why);
}

static void
finish_allowed (TetherAuthRequest *request)
{
	GDBusMethodInvocation *invocation = request->invocation;
	GDBusConnection *connection = g_dbus_method_invocation_get_connection (invocation);
	GDBusInterfaceVTable *vtable;

	/* the object may have gone while polkit thought about it */
	if (!g_dbus_interface_skeleton_has_connection (request->skeleton, connection)) {
		g_dbus_method_invocation_return_error (
		        invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT,
		        _("%s was removed while the call was being authorized"),
		           g_dbus_method_invocation_get_object_path (invocation));
		return;
	}
	g_debug ("uid %u allowed %s.%s", request->uid,
	         g_dbus_method_invocation_get_interface_name (invocation),
	         g_dbus_method_invocation_get_method_name (invocation));

	/*
	 * the generated dispatcher takes over the reference that GDBus handed to
	 * it the first time, and expects the skeleton as its user data
	 */
	g_object_set_data (G_OBJECT (invocation), TETHER_AUTH_MARK, GINT_TO_POINTER (TRUE));
	vtable = g_dbus_interface_skeleton_get_vtable (request->skeleton);
	vtable->method_call (connection, g_dbus_method_invocation_get_sender (invocation),
	                     g_dbus_method_invocation_get_object_path (invocation),
	                     g_dbus_method_invocation_get_interface_name (invocation),
	                     g_dbus_method_invocation_get_method_name (invocation),
	                     g_dbus_method_invocation_get_parameters (invocation), invocation,
	                     request->skeleton);
}

static void
polkit_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(TetherAuthRequest) request = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;
	gboolean authorized = FALSE;
	gboolean challenge = FALSE;

	reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
	if (reply == NULL) {
		g_autofree gchar *why = NULL;
		g_dbus_error_strip_remote_error (error);
		why = g_strdup_printf (_("polkit did not answer: %s"), error->message);
		finish_denied (request, why);
		return;
	}
	g_variant_get (reply, "((bb@a{ss}))", &authorized, &challenge, NULL);
	if (authorized)
		finish_allowed (request);
	else if (challenge)
		finish_denied (request, _("polkit wants an authentication that no agent gave"));
	else
		finish_denied (request, _("polkit refused"));
}

static void
check_polkit (TetherAuthRequest *request)
{
	GDBusMethodInvocation *invocation = request->invocation;
	GVariantBuilder details;
	GVariantBuilder subject_details;

	g_variant_builder_init (&subject_details, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add (
	        &subject_details, "{sv}", "name",
	        g_variant_new_string (g_dbus_method_invocation_get_sender (invocation)));
	g_variant_builder_init (&details, G_VARIANT_TYPE ("a{ss}"));
	g_dbus_connection_call (g_dbus_method_invocation_get_connection (invocation),
	                        "org.freedesktop.PolicyKit1",
	                        "/org/freedesktop/PolicyKit1/Authority",
	                        "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization",
	                        g_variant_new ("((sa{sv})sa{ss}us)", "system-bus-name",
	                                       &subject_details, request->action, &details,
	                                       (guint32) POLKIT_ALLOW_USER_INTERACTION, ""),
	                        G_VARIANT_TYPE ("((bba{ss}))"), G_DBUS_CALL_FLAGS_NONE,
	                        TETHER_AUTH_POLKIT_TIMEOUT_MS, NULL, polkit_cb, request);
}

static void
caller_uid_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(TetherAuthRequest) request = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;

	reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
	if (reply == NULL) {
		g_autofree gchar *why = NULL;
		g_dbus_error_strip_remote_error (error);
		why = g_strdup_printf (_("the bus could not name the caller: %s"), error->message);
		request->uid = G_MAXUINT32;
		finish_denied (request, why);
		return;
	}
	g_variant_get (reply, "(u)", &request->uid);

	if (request->uid == 0) {
		finish_allowed (request);
		return;
	}
	if (request->auth->mode == TETHER_AUTH_MODE_SESSION) {
		if (request->uid == request->auth->own_uid)
			finish_allowed (request);
		else
			finish_denied (request, _("this tetherd runs on a session bus and serves "
			                          "only its own user"));
		return;
	}
	check_polkit (g_steal_pointer (&request));
}

/* the first handler of a gated handle- signal */
static void
gate_marshal (GClosure *closure, GValue *return_value, guint n_param_values,
              const GValue *param_values, gpointer invocation_hint, gpointer marshal_data)
{
	TetherAuth *self = closure->data;
	GDBusInterfaceSkeleton *skeleton = g_value_get_object (&param_values[0]);
	GDBusMethodInvocation *invocation = g_value_get_object (&param_values[1]);
	const gchar *sender = g_dbus_method_invocation_get_sender (invocation);
	TetherAuthRequest *request;

	/* checked already: on to the daemon's handler */
	if (g_object_get_data (G_OBJECT (invocation), TETHER_AUTH_MARK) != NULL) {
		g_value_set_boolean (return_value, FALSE);
		return;
	}

	/* the call is ours now: the daemon's handler runs only once it is allowed */
	g_value_set_boolean (return_value, TRUE);
	request = g_new0 (TetherAuthRequest, 1);
	request->auth = g_object_ref (self);
	request->skeleton = g_object_ref (skeleton);
	request->invocation = g_object_ref (invocation);
	request->action =
	        tether_auth_get_action (g_dbus_method_invocation_get_interface_name (invocation),
	                                g_dbus_method_invocation_get_method_name (invocation));
	request->uid = G_MAXUINT32;
	if (sender == NULL) {
		/* a peer-to-peer connection has no bus to ask */
		finish_denied (request, _("the caller has no bus name"));
		tether_auth_request_free (request);
		return;
	}
	g_dbus_connection_call (g_dbus_method_invocation_get_connection (invocation),
	                        "org.freedesktop.DBus", "/org/freedesktop/DBus",
	                        "org.freedesktop.DBus", "GetConnectionUnixUser",
	                        g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(u)"),
	                        G_DBUS_CALL_FLAGS_NONE, -1, NULL, caller_uid_cb, request);
}

/* the name gdbus-codegen gives a method's signal: AddTrustAnchor -> handle-add-trust-anchor */
static gchar *
handle_signal_name (const gchar *method_name)
{
	GString *name = g_string_new ("handle-");
	gboolean after_lower = FALSE;

	for (const gchar *c = method_name; *c != '\0'; c++) {
		if (g_ascii_isupper (*c)) {
			if (after_lower)
				g_string_append_c (name, '-');
			after_lower = FALSE;
		} else {
			after_lower = TRUE;
		}
		g_string_append_c (name, *c == '_' ? '-' : g_ascii_tolower (*c));
	}
	return g_string_free (name, FALSE);
}

static void
closure_release (gpointer data, GClosure *closure)
{
	g_object_unref (data);
}

void
tether_auth_attach (TetherAuth *self, GDBusInterfaceSkeleton *skeleton)
{
	GDBusInterfaceInfo *info;

	g_return_if_fail (TETHER_IS_AUTH (self));
	g_return_if_fail (G_IS_DBUS_INTERFACE_SKELETON (skeleton));

	info = g_dbus_interface_skeleton_get_info (skeleton);
	for (guint i = 0; info->methods != NULL && info->methods[i] != NULL; i++) {
		const gchar *method = info->methods[i]->name;
		g_autofree gchar *signal_name = NULL;
		GClosure *closure;
		guint signal_id;

		if (tether_auth_get_action (info->name, method) == NULL)
			continue;
		signal_name = handle_signal_name (method);
		signal_id = g_signal_lookup (signal_name, G_OBJECT_TYPE (skeleton));
		if (signal_id == 0) {
			g_critical ("%s.%s has no signal %s to gate", info->name, method,
			            signal_name);
			continue;
		}
		/* handlers run in the order they were connected: the gate must be first */
		if (g_signal_has_handler_pending (skeleton, signal_id, 0, TRUE))
			g_critical ("%s.%s: the gate was attached after a handler", info->name,
			            method);

		closure = g_closure_new_simple (sizeof (GClosure), g_object_ref (self));
		g_closure_add_finalize_notifier (closure, self, closure_release);
		g_closure_set_marshal (closure, gate_marshal);
		g_signal_connect_closure_by_id (skeleton, signal_id, 0, closure, FALSE);
	}
}

TetherAuth *
tether_auth_new (TetherAuthMode mode)
{
	TetherAuth *self = g_object_new (TETHER_TYPE_AUTH, NULL);

	self->mode = mode;
	self->own_uid = (guint32) getuid ();
	return self;
}

TetherAuthMode
tether_auth_get_mode (TetherAuth *self)
{
	g_return_val_if_fail (TETHER_IS_AUTH (self), TETHER_AUTH_MODE_SYSTEM);
	return self->mode;
}

static void
tether_auth_class_init (TetherAuthClass *klass)
{
}

static void
tether_auth_init (TetherAuth *self)
{
}
