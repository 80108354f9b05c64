/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <tether/tether.h>

#include "aws-iot-resources.h"
#include "aws-rules.h"

/*
 * The AWS IoT Core cloud: telemetry, events and raw topics up, Device Shadow
 * reported state up with its accepted/rejected answers, shadow deltas and
 * subscribed topics down, over MQTT on the account's ATS endpoint (8883, or
 * 443 with ALPN). With a claim certificate and a provisioning template it
 * provisions the device first (fleet provisioning by claim). The rules
 * themselves live in aws-rules.c.
 */

#define TETHER_TYPE_AWS_IOT (tether_aws_iot_get_type ())
G_DECLARE_FINAL_TYPE (TetherAwsIot, tether_aws_iot, TETHER, AWS_IOT, TetherCloud)

struct _TetherAwsIot {
	TetherCloud parent_instance;
};

G_DEFINE_FINAL_TYPE (TetherAwsIot, tether_aws_iot, TETHER_TYPE_CLOUD)

#define KIND_DESIRED_PROPERTIES "desired-properties"
#define KIND_MESSAGE            "message"

#define DEFAULT_CLAIM_IDENTITY "claim"
/* seconds AWS may take to answer one provisioning request */
#define PROVISIONING_TIMEOUT 30
/* what provisioning by claim leaves in the connection's state directory */
#define RECORD_FILE    "aws-iot.ini"
#define RECORD_GROUP   "fleet-provisioning"
#define RECORD_VERSION 1

/* what the plugin keeps for one connection, on the connection object */
typedef struct {
	/* the session as prepared */
	gchar *thing_name;
	GStrv subscriptions;

	/* provisioning by claim, while the claim session is up */
	gboolean claiming;
	gchar *template_name;
	gchar *common_name;
	GVariant *parameters;
	AwsCertificate *certificate;
	guint timeout_id;
	guint reconnect_id;

	/* what the last attempt to provision ended with, for the next prepare */
	GError *failure;
} AwsState;

#define STATE_KEY "tether-aws-iot-state"

static void
provisioning_clear (AwsState *state)
{
	state->claiming = FALSE;
	g_clear_pointer (&state->template_name, g_free);
	g_clear_pointer (&state->common_name, g_free);
	g_clear_pointer (&state->parameters, g_variant_unref);
	g_clear_pointer (&state->certificate, aws_certificate_free);
	g_clear_handle_id (&state->timeout_id, g_source_remove);
}

static void
aws_state_free (AwsState *state)
{
	provisioning_clear (state);
	g_clear_handle_id (&state->reconnect_id, g_source_remove);
	g_free (state->thing_name);
	g_strfreev (state->subscriptions);
	g_clear_error (&state->failure);
	g_free (state);
}

static AwsState *
aws_state (TetherConnection *connection)
{
	AwsState *state = g_object_get_data (G_OBJECT (connection), STATE_KEY);

	if (state == NULL) {
		state = g_new0 (AwsState, 1);
		g_object_set_data_full (G_OBJECT (connection), STATE_KEY, state,
		                        (GDestroyNotify) aws_state_free);
	}
	return state;
}

static const gchar *
option_string (TetherConnection *connection, const gchar *name)
{
	const gchar *value = NULL;

	if (!g_variant_lookup (tether_connection_get_cloud_options (connection), name, "&s",
	                       &value) ||
	    value[0] == '\0')
		return NULL;
	return value;
}

/* ---- what provisioning by claim records ---- */

static gchar *
record_path (TetherConnection *connection, GError **error)
{
	g_autofree gchar *dir = tether_connection_dup_state_dir (connection, error);

	if (dir == NULL)
		return NULL;
	return g_build_filename (dir, RECORD_FILE, NULL);
}

/* the record, or NULL when there is none (a damaged one is reported and set aside) */
static GKeyFile *
record_load (TetherConnection *connection)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = record_path (connection, &error);
	g_autoptr(GKeyFile) record = g_key_file_new ();

	if (path == NULL) {
		g_warning ("connection %s: %s", tether_connection_get_id (connection),
		           error->message);
		return NULL;
	}
	if (!g_file_test (path, G_FILE_TEST_EXISTS))
		return NULL;
	if (!g_key_file_load_from_file (record, path, G_KEY_FILE_NONE, &error) ||
	    g_key_file_get_integer (record, RECORD_GROUP, "version", NULL) != RECORD_VERSION) {
		g_autofree gchar *aside = g_strconcat (path, ".damaged", NULL);

		g_warning ("connection %s: %s is damaged (%s); set aside as %s",
		           tether_connection_get_id (connection), path,
		           error != NULL ? error->message : "unknown version", aside);
		g_rename (path, aside);
		return NULL;
	}
	return g_steal_pointer (&record);
}

static gboolean
record_save (TetherConnection *connection, GKeyFile *record, GError **error)
{
	g_autofree gchar *path = record_path (connection, error);
	g_autofree gchar *data = NULL;
	gsize length = 0;

	if (path == NULL)
		return FALSE;
	g_key_file_set_integer (record, RECORD_GROUP, "version", RECORD_VERSION);
	data = g_key_file_to_data (record, &length, NULL);
	return g_file_set_contents_full (path, data, (gssize) length,
	                                 G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

/* the thing name provisioning by claim gave, NULL when it has not run or must run again */
static gchar *
record_thing_name (GKeyFile *record)
{
	if (record == NULL || g_key_file_get_boolean (record, RECORD_GROUP, "reprovision", NULL))
		return NULL;
	return g_key_file_get_string (record, RECORD_GROUP, "thing-name", NULL);
}

/* ---- preparing a session ---- */

static gboolean
needs_claim (TetherConnection *connection, GKeyFile *record)
{
	g_autofree gchar *provisioned = record_thing_name (record);

	if (provisioned != NULL)
		return FALSE;
	if (record != NULL && g_key_file_get_boolean (record, RECORD_GROUP, "reprovision", NULL))
		return TRUE;

	/* a device whose own certificate was installed by hand keeps it */
	return !tether_connection_get_identity_files (
	        connection, tether_connection_get_identity_name (connection), NULL, NULL, NULL);
}

static gboolean
prepare_claim (TetherConnection *connection, AwsState *state, const gchar *template_name,
               GError **error)
{
	const gchar *claim = option_string (connection, "claim-identity");
	const gchar *client_id = tether_connection_get_client_id (connection);
	const gchar *common_name = option_string (connection, "thing-name");
	g_autofree gchar *random_name = NULL;
	g_auto(GStrv) topics = NULL;
	g_autoptr(GError) local_error = NULL;

	if (claim == NULL)
		claim = DEFAULT_CLAIM_IDENTITY;
	if (!tether_connection_get_identity_files (connection, claim, NULL, NULL, &local_error)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_NOT_FOUND,
		             _("aws-iot: fleet provisioning with template '%s' needs the claim "
		               "identity '%s': import the claim key and certificate with "
		               "'tetherctl identity import --identity %s KEY CERT' (%s)"),
		                template_name, claim, claim, local_error->message);
		return FALSE;
	}

	/* the device's name in its request, and its client id while it provisions */
	if (common_name == NULL && client_id != NULL && client_id[0] != '\0')
		common_name = client_id;
	if (common_name == NULL) {
		g_autofree gchar *uuid = g_uuid_string_random ();
		random_name = g_strconcat ("tether-", uuid, NULL);
		common_name = random_name;
	}
	if (!aws_rules_check_client_id (common_name, error))
		return FALSE;

	tether_connection_set_session_identity (connection, claim);
	tether_connection_set_mqtt_client_id (connection, common_name);
	tether_connection_set_mqtt_clean_session (connection, TRUE);
	topics = aws_rules_provisioning_subscriptions (template_name);
	for (guint i = 0; topics[i] != NULL; i++)
		tether_connection_add_subscription (connection, topics[i]);

	state->claiming = TRUE;
	state->template_name = g_strdup (template_name);
	state->common_name = g_strdup (common_name);
	state->parameters =
	        g_variant_lookup_value (tether_connection_get_cloud_options (connection),
	                                "provisioning-parameters", G_VARIANT_TYPE ("a{ss}"));
	g_clear_pointer (&state->thing_name, g_free);
	g_info ("connection %s: provisioning by claim with identity %s and template %s",
	        tether_connection_get_id (connection), claim, template_name);
	return TRUE;
}

static gboolean
prepare_own (TetherConnection *connection, AwsState *state, GKeyFile *record, GError **error)
{
	GVariant *options = tether_connection_get_cloud_options (connection);
	const gchar *client_id = tether_connection_get_client_id (connection);
	const gchar *thing_name = option_string (connection, "thing-name");
	g_autofree gchar *provisioned = record_thing_name (record);
	g_autofree gchar *common_name = NULL;
	g_auto(GStrv) subscriptions = NULL;
	gboolean clean_session = FALSE;
	const gchar *const operations[] = { "update/accepted", "update/rejected", "update/delta",
		                            "get/accepted", "get/rejected" };

	/* the client id: the setting, the thing provisioning named, or the certificate's CN */
	if (client_id == NULL || client_id[0] == '\0')
		client_id = provisioned;
	if (client_id == NULL) {
		common_name = tether_connection_dup_identity_common_name (connection, error);
		if (common_name == NULL)
			return FALSE;
		client_id = common_name;
	}
	if (!aws_rules_check_client_id (client_id, error))
		return FALSE;
	if (thing_name == NULL) {
		thing_name = client_id;
		if (!aws_rules_check_thing_name (thing_name, _("the client id"), error))
			return FALSE;
	}

	tether_connection_set_session_identity (connection, NULL);
	tether_connection_set_mqtt_client_id (connection, client_id);
	g_variant_lookup (options, "clean-session", "b", &clean_session);
	tether_connection_set_mqtt_clean_session (connection, clean_session);

	/* the classic shadow and every named one, then what the application asked for */
	for (guint i = 0; i < G_N_ELEMENTS (operations); i++) {
		g_autofree gchar *classic =
		        aws_rules_shadow_topic (thing_name, NULL, operations[i]);
		g_autofree gchar *named = aws_rules_shadow_topic (thing_name, "+", operations[i]);

		tether_connection_add_subscription (connection, classic);
		tether_connection_add_subscription (connection, named);
	}
	g_variant_lookup (options, "subscriptions", "^as", &subscriptions);
	for (guint i = 0; subscriptions != NULL && subscriptions[i] != NULL; i++)
		tether_connection_add_subscription (connection, subscriptions[i]);

	g_free (state->thing_name);
	state->thing_name = g_strdup (thing_name);
	g_strfreev (state->subscriptions);
	state->subscriptions = g_steal_pointer (&subscriptions);
	return TRUE;
}

static guint16
endpoint_port (TetherConnection *connection)
{
	guint16 port = tether_connection_get_port (connection);

	return port != 0 ? port : AWS_DEFAULT_PORT;
}

static gboolean
wants_alpn (TetherConnection *connection)
{
	gboolean option = FALSE;
	gboolean has_option = g_variant_lookup (tether_connection_get_cloud_options (connection),
	                                        "alpn", "b", &option);

	return aws_rules_wants_alpn (endpoint_port (connection), has_option, option);
}

static gboolean
prepare (TetherConnection *connection, AwsState *state, GError **error)
{
	const gchar *template_name = option_string (connection, "provisioning-template");
	const gchar *const alpn[] = { AWS_ALPN_PROTOCOL, NULL };
	g_autoptr(GKeyFile) record = NULL;

	if (!aws_rules_check_keepalive (tether_connection_get_keepalive (connection), error))
		return FALSE;
	tether_connection_set_mqtt_host (connection, tether_connection_get_host (connection),
	                                 endpoint_port (connection));
	tether_connection_set_mqtt_username (connection, NULL);
	tether_connection_set_mqtt_alpn (connection, wants_alpn (connection) ? alpn : NULL);
	tether_connection_clear_subscriptions (connection);

	record = record_load (connection);
	if (template_name != NULL && needs_claim (connection, record))
		return prepare_claim (connection, state, template_name, error);
	return prepare_own (connection, state, record, error);
}

static void
tether_aws_iot_prepare_async (TetherCloud *cloud, TetherConnection *connection,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (cloud, cancellable, callback, user_data);
	g_autoptr(GError) error = NULL;
	AwsState *state = aws_state (connection);

	g_task_set_source_tag (task, tether_aws_iot_prepare_async);
	provisioning_clear (state);
	g_clear_handle_id (&state->reconnect_id, g_source_remove);

	/* a provisioning attempt that failed on the last session: said once, then tried again */
	if (state->failure != NULL) {
		g_task_return_error (task, g_steal_pointer (&state->failure));
		return;
	}
	if (!prepare (connection, state, &error)) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	g_task_return_boolean (task, TRUE);
}

static gboolean
tether_aws_iot_prepare_finish (TetherCloud *cloud, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, cloud), FALSE);
	return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- fleet provisioning by claim, on the claim session ---- */

static gboolean
reconnect_cb (gpointer user_data)
{
	TetherConnection *connection = user_data;
	AwsState *state = aws_state (connection);

	state->reconnect_id = 0;
	tether_connection_reconnect (connection);
	return G_SOURCE_REMOVE;
}

/* not from inside the session's own callback */
static void
reconnect_soon (TetherConnection *connection, AwsState *state)
{
	if (state->reconnect_id == 0)
		state->reconnect_id = g_idle_add (reconnect_cb, connection);
}

/* ends the claim session; the next prepare reports @error as the connection's LastError */
static void
provisioning_fail (TetherConnection *connection, AwsState *state, GError *error)
{
	provisioning_clear (state);
	g_clear_error (&state->failure);
	state->failure = error;
	reconnect_soon (connection, state);
}

static gboolean
provisioning_timeout_cb (gpointer user_data)
{
	TetherConnection *connection = user_data;
	AwsState *state = aws_state (connection);
	const gchar *step =
	        state->certificate == NULL ? "CreateCertificateFromCsr" : "RegisterThing";

	state->timeout_id = 0;
	provisioning_fail (connection, state,
	                   g_error_new (TETHER_ERROR, TETHER_ERROR_FAILED,
	                                _("aws-iot: fleet provisioning: no answer to %s within %u "
	                                  "seconds: check that the claim certificate's policy "
	                                  "allows the $aws/certificates and "
	                                  "$aws/provisioning-templates topics"),
	                                   step, (guint) PROVISIONING_TIMEOUT));
	return G_SOURCE_REMOVE;
}

static void
provisioning_wait (TetherConnection *connection, AwsState *state)
{
	g_clear_handle_id (&state->timeout_id, g_source_remove);
	state->timeout_id =
	        g_timeout_add_seconds (PROVISIONING_TIMEOUT, provisioning_timeout_cb, connection);
}

static gboolean
send_certificate_request (TetherConnection *connection, AwsState *state, GError **error)
{
	g_auto(GVariantDict) options = G_VARIANT_DICT_INIT (NULL);
	g_autoptr(GVariant) request_options = NULL;
	g_autofree gchar *csr = NULL;
	g_autoptr(GBytes) payload = NULL;

	/* the key is made on the device and stays there; AWS signs its request */
	g_variant_dict_insert (&options, "common-name", "s", state->common_name);
	request_options = g_variant_ref_sink (g_variant_dict_end (&options));
	csr = tether_connection_create_identity_request (
	        connection, tether_connection_get_identity_name (connection), request_options,
	        error);
	if (csr == NULL)
		return FALSE;
	payload = aws_rules_create_from_csr_request (csr);
	if (!tether_connection_publish_internal (connection, AWS_TOPIC_CREATE_FROM_CSR, payload, 1,
	                                         error))
		return FALSE;
	provisioning_wait (connection, state);
	return TRUE;
}

/* the classic shadow's desired state as it is now: what changed while the device was away */
static void
ask_shadow (TetherConnection *connection, AwsState *state)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *topic = aws_rules_shadow_topic (state->thing_name, NULL, "get");
	g_autoptr(GBytes) get = aws_rules_shadow_get ();

	if (!tether_connection_publish_internal (connection, topic, get, 1, &error))
		g_debug ("connection %s: no shadow GET: %s", tether_connection_get_id (connection),
		         error->message);
}

static void
tether_aws_iot_connected (TetherCloud *cloud, TetherConnection *connection)
{
	AwsState *state = aws_state (connection);
	g_autoptr(GError) error = NULL;

	if (!state->claiming) {
		ask_shadow (connection, state);
		return;
	}
	tether_connection_set_provisioning (connection, TRUE);
	if (!send_certificate_request (connection, state, &error)) {
		g_prefix_error (&error, _("aws-iot: fleet provisioning: "));
		provisioning_fail (connection, state, g_steal_pointer (&error));
	}
}

static void
certificate_accepted (TetherConnection *connection, AwsState *state, GBytes *payload)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *topic = NULL;
	g_autoptr(GBytes) request = NULL;

	if (state->certificate != NULL)
		return;
	state->certificate = aws_rules_parse_certificate (payload, &error);
	if (state->certificate == NULL) {
		provisioning_fail (connection, state, g_steal_pointer (&error));
		return;
	}
	g_info ("connection %s: AWS issued certificate %s; registering the thing",
	        tether_connection_get_id (connection), state->certificate->certificate_id);
	topic = aws_rules_register_thing_topic (state->template_name);
	request = aws_rules_register_thing_request (state->certificate->ownership_token,
	                                            state->parameters);
	if (!tether_connection_publish_internal (connection, topic, request, 1, &error)) {
		g_prefix_error (&error, _("aws-iot: fleet provisioning: "));
		provisioning_fail (connection, state, g_steal_pointer (&error));
		return;
	}
	provisioning_wait (connection, state);
}

static void
thing_registered (TetherConnection *connection, AwsState *state, GBytes *payload)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *thing_name = NULL;
	g_autoptr(GBytes) chain = NULL;
	g_autoptr(GKeyFile) record = g_key_file_new ();
	const gchar *identity = tether_connection_get_identity_name (connection);
	const gchar *wanted = option_string (connection, "thing-name");

	if (state->certificate == NULL)
		return;
	thing_name = aws_rules_parse_registration (payload, &error);
	if (thing_name == NULL) {
		provisioning_fail (connection, state, g_steal_pointer (&error));
		return;
	}

	/* the certificate AWS issued becomes the device's own; the claim is not used again */
	chain = g_bytes_new (state->certificate->certificate_pem,
	                     strlen (state->certificate->certificate_pem));
	g_key_file_set_string (record, RECORD_GROUP, "thing-name", thing_name);
	g_key_file_set_string (record, RECORD_GROUP, "certificate-id",
	                       state->certificate->certificate_id);
	g_key_file_set_string (record, RECORD_GROUP, "template", state->template_name);
	if (!tether_connection_install_identity (connection, identity, chain, &error) ||
	    !record_save (connection, record, &error)) {
		g_prefix_error (&error, _("aws-iot: fleet provisioning: the certificate for thing "
		                          "'%s' cannot be kept: "),
		                           thing_name);
		provisioning_fail (connection, state, g_steal_pointer (&error));
		return;
	}
	if (wanted != NULL && g_strcmp0 (wanted, thing_name) != 0)
		g_warning ("connection %s: AWS registered the thing as %s, but the option "
		           "thing-name says %s; the shadow topics use %s",
		           tether_connection_get_id (connection), thing_name, wanted, wanted);
	g_info ("connection %s: provisioned as thing %s with certificate %s; reconnecting with "
	        "identity %s",
	        tether_connection_get_id (connection), thing_name,
	        state->certificate->certificate_id, identity);
	provisioning_clear (state);
	tether_connection_set_session_identity (connection, NULL);
	reconnect_soon (connection, state);
}

static void
provisioning_rejected (TetherConnection *connection, AwsState *state, const gchar *step,
                       GBytes *payload)
{
	g_autofree gchar *why = aws_rules_describe_rejection (payload);
	const gchar *check = g_str_equal (step, "CreateCertificateFromCsr")
	        ? _("check the claim certificate's policy")
	        : _("check the provisioning template and the cloud option "
	                                 "provisioning-parameters");

	provisioning_fail (connection, state,
	                   g_error_new (TETHER_ERROR, TETHER_ERROR_REFUSED,
	                                _("aws-iot: fleet provisioning with template '%s': %s "
	                                  "was rejected: %s; %s"),
	                                   state->template_name, step, why, check));
}

static void
handle_provisioning (TetherConnection *connection, AwsState *state, const gchar *topic,
                     GBytes *payload)
{
	switch (aws_rules_classify_provisioning (state->template_name, topic)) {
	case AWS_PROVISIONING_CSR_ACCEPTED:
		certificate_accepted (connection, state, payload);
		break;
	case AWS_PROVISIONING_CSR_REJECTED:
		provisioning_rejected (connection, state, "CreateCertificateFromCsr", payload);
		break;
	case AWS_PROVISIONING_REGISTER_ACCEPTED:
		thing_registered (connection, state, payload);
		break;
	case AWS_PROVISIONING_REGISTER_REJECTED:
		provisioning_rejected (connection, state, "RegisterThing", payload);
		break;
	case AWS_PROVISIONING_NONE:
	default:
		g_debug ("connection %s: ignored a message on %s while provisioning",
		         tether_connection_get_id (connection), topic);
		break;
	}
}

/* ---- messages ---- */

static gboolean
check_options_meaning (GVariant *options, GError **error)
{
	const gchar *value = NULL;
	g_autofree const gchar **subscriptions = NULL;
	g_autoptr(GVariant) parameters = NULL;
	const gchar *const topic_options[] = { "telemetry-topic", "event-topic" };

	if (g_variant_lookup (options, "thing-name", "&s", &value) &&
	    !aws_rules_check_thing_name (value, _("the cloud option thing-name"), error))
		return FALSE;
	for (guint i = 0; i < G_N_ELEMENTS (topic_options); i++) {
		if (g_variant_lookup (options, topic_options[i], "&s", &value) &&
		    !aws_rules_check_topic (value, strlen (value), error)) {
			g_prefix_error (error, _("cloud option '%s': "), topic_options[i]);
			return FALSE;
		}
	}
	if (g_variant_lookup (options, "subscriptions", "^a&s", &subscriptions)) {
		for (guint i = 0; subscriptions[i] != NULL; i++) {
			if (!aws_rules_check_filter (subscriptions[i], error)) {
				g_prefix_error (error, _("cloud option 'subscriptions': "));
				return FALSE;
			}
		}
	}
	if (g_variant_lookup (options, "claim-identity", "&s", &value) &&
	    !aws_rules_check_identity_name (value, error))
		return FALSE;
	if (g_variant_lookup (options, "provisioning-template", "&s", &value) && value[0] != '\0' &&
	    !aws_rules_check_template_name (value, error))
		return FALSE;
	parameters = g_variant_lookup_value (options, "provisioning-parameters",
	                                     G_VARIANT_TYPE ("a{ss}"));
	if (parameters != NULL && g_variant_n_children (parameters) > 0 &&
	    !g_variant_lookup (options, "provisioning-template", "&s", &value)) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		                     _("aws-iot: the cloud option provisioning-parameters needs "
		                       "provisioning-template too"));
		return FALSE;
	}
	return TRUE;
}

static gboolean
tether_aws_iot_check_options (TetherCloud *cloud, GVariant *options, GError **error)
{
	g_autoptr(GError) local_error = NULL;

	if (check_options_meaning (options, &local_error))
		return TRUE;
	/* a bad setting, not a refused message */
	local_error->code = TETHER_ERROR_INVALID_ARGUMENT;
	g_propagate_error (error, g_steal_pointer (&local_error));
	return FALSE;
}

/*
 * a client id that is set, and the keep-alive; the default client id (the
 * certificate's CN) is checked when the connection is prepared
 */
static gboolean
tether_aws_iot_check_session (TetherCloud *cloud, const gchar *client_id, guint keepalive,
                              GError **error)
{
	g_autoptr(GError) local_error = NULL;

	if ((client_id == NULL || client_id[0] == '\0' ||
	     aws_rules_check_client_id (client_id, &local_error)) &&
	    (keepalive == 0 || aws_rules_check_keepalive (keepalive, &local_error)))
		return TRUE;
	/* a bad setting, not a refused message */
	local_error->code = TETHER_ERROR_INVALID_ARGUMENT;
	g_propagate_error (error, g_steal_pointer (&local_error));
	return FALSE;
}

static gboolean
tether_aws_iot_check_message (TetherCloud *cloud, TetherConnection *connection,
                              TetherMessage *message, GError **error)
{
	const gchar *kind = tether_message_get_kind (message);
	GBytes *payload = tether_message_get_payload (message);
	const gchar *topic = tether_message_lookup_string (message, "topic");
	const gchar *shadow = tether_message_lookup_string (message, "shadow");
	g_autoptr(GBytes) update = NULL;

	if (g_strcmp0 (kind, TETHER_KIND_RESPONSE) == 0) {
		g_set_error_literal (
		        error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		        _("aws-iot: AWS IoT Core sends no commands to answer; publish "
		                       "the answer on a topic with the kind 'raw'"));
		return FALSE;
	}
	if (topic != NULL && g_strcmp0 (kind, TETHER_KIND_RAW) != 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("aws-iot: the option 'topic' goes with the kind 'raw', not '%s'"),
		                kind);
		return FALSE;
	}
	if (shadow != NULL && g_strcmp0 (kind, AWS_KIND_ATTRIBUTES) != 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("aws-iot: the option 'shadow' goes with the kind 'attributes', not "
		               "'%s'"),
		                kind);
		return FALSE;
	}

	if (topic != NULL && !aws_rules_check_topic (topic, strlen (topic), error))
		return FALSE;
	if (g_strcmp0 (kind, AWS_KIND_ATTRIBUTES) != 0)
		return aws_rules_check_payload_size (g_bytes_get_size (payload), error);

	/* a shadow update: the reported state, as AWS will get it */
	if (shadow != NULL && !aws_rules_check_shadow_name (shadow, error))
		return FALSE;
	update = aws_rules_shadow_update (payload, tether_message_get_id (message), error);
	if (update == NULL)
		return FALSE;
	return aws_rules_check_payload_size (g_bytes_get_size (update), error);
}

static gboolean
tether_aws_iot_map_message (TetherCloud *cloud, TetherConnection *connection,
                            TetherMessage *message, GError **error)
{
	AwsState *state = aws_state (connection);
	const gchar *kind = tether_message_get_kind (message);
	g_autofree gchar *topic = NULL;
	g_autoptr(GBytes) update = NULL;

	if (state->thing_name == NULL) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		                     _("aws-iot: the connection has no thing name yet"));
		return FALSE;
	}

	/* QoS 1, so that the broker's acknowledgement clears the outbox */
	tether_message_set_qos (message, 1);
	tether_message_set_wire_payload (message, tether_message_get_payload (message));
	if (g_strcmp0 (kind, TETHER_KIND_RAW) == 0) {
		topic = g_strdup (tether_message_lookup_string (message, "topic"));
	} else if (g_strcmp0 (kind, AWS_KIND_TELEMETRY) == 0) {
		topic = g_strdup (option_string (connection, "telemetry-topic"));
		if (topic == NULL)
			topic = aws_rules_default_telemetry_topic (state->thing_name);
	} else if (g_strcmp0 (kind, AWS_KIND_EVENT) == 0) {
		topic = g_strdup (option_string (connection, "event-topic"));
		if (topic == NULL)
			topic = aws_rules_default_event_topic (state->thing_name);
	} else if (g_strcmp0 (kind, AWS_KIND_ATTRIBUTES) == 0) {
		topic = aws_rules_shadow_topic (state->thing_name,
		                                tether_message_lookup_string (message, "shadow"),
		                                "update");
		update = aws_rules_shadow_update (tether_message_get_payload (message),
		                                  tether_message_get_id (message), error);
		if (update == NULL)
			return FALSE;
		tether_message_set_wire_payload (message, update);
	} else {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("aws-iot: unknown kind '%s': use telemetry, event, attributes or "
		               "raw"),
		                kind);
		return FALSE;
	}
	tether_message_set_topic (message, topic);
	return TRUE;
}

static GVariant *
shadow_details (AwsIncoming *incoming, gboolean with_status)
{
	g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

	if (with_status) {
		g_variant_dict_insert (&dict, "status-code", "i", incoming->status_code);
		g_variant_dict_insert (&dict, "message", "s",
		                       incoming->message != NULL ? incoming->message : "");
	}
	if (incoming->has_version)
		g_variant_dict_insert (&dict, "version", "x", incoming->version);
	if (incoming->shadow != NULL)
		g_variant_dict_insert (&dict, "shadow", "s", incoming->shadow);
	return g_variant_dict_end (&dict);
}

static void
tether_aws_iot_handle_incoming (TetherCloud *cloud, TetherConnection *connection,
                                const gchar *topic, GBytes *payload)
{
	AwsState *state = aws_state (connection);
	g_autoptr(AwsIncoming) incoming = NULL;
	g_auto(GVariantDict) details = G_VARIANT_DICT_INIT (NULL);

	if (state->claiming) {
		handle_provisioning (connection, state, topic, payload);
		return;
	}

	incoming = aws_rules_classify_incoming (
	        state->thing_name, (const gchar *const *) state->subscriptions, topic, payload);
	switch (incoming->kind) {
	case AWS_INCOMING_SHADOW_ACCEPTED:
		tether_connection_emit_message_result (connection, incoming->id, "accepted",
		                                       shadow_details (incoming, TRUE));
		break;
	case AWS_INCOMING_SHADOW_REJECTED:
		tether_connection_emit_message_result (connection, incoming->id, "rejected",
		                                       shadow_details (incoming, TRUE));
		break;
	case AWS_INCOMING_SHADOW_DELTA:
		tether_connection_emit_received (connection, KIND_DESIRED_PROPERTIES, topic,
		                                 incoming->payload != NULL ? incoming->payload
		                                                           : payload,
		                                 shadow_details (incoming, FALSE));
		break;
	case AWS_INCOMING_MESSAGE:
		/* MQTT 3.1.1 carries no properties */
		g_variant_dict_insert_value (
		        &details, "properties",
		        g_variant_new_array (G_VARIANT_TYPE ("{ss}"), NULL, 0));
		tether_connection_emit_received (connection, KIND_MESSAGE, topic, payload,
		                                 g_variant_dict_end (&details));
		break;
	case AWS_INCOMING_IGNORED:
	default:
		g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_DEBUG, "TETHER_CONNECTION",
		                  tether_connection_get_id (connection), "TETHER_CLOUD", "aws-iot",
		                  "MESSAGE", "ignored a message on %s: %s", topic,
		                  incoming->why_ignored);
		break;
	}
}

static gboolean
tether_aws_iot_reprovision (TetherCloud *cloud, TetherConnection *connection, GError **error)
{
	AwsState *state = aws_state (connection);
	g_autoptr(GKeyFile) record = record_load (connection);

	if (option_string (connection, "provisioning-template") == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("connection '%s' has no provisioning template to provision with: "
		               "set one with 'tetherctl connection modify %s --option "
		               "provisioning-template=NAME'"),
		                tether_connection_get_id (connection),
		                tether_connection_get_id (connection));
		return FALSE;
	}

	/* the next session claims again, even though the device has a certificate */
	if (record == NULL)
		record = g_key_file_new ();
	g_key_file_set_boolean (record, RECORD_GROUP, "reprovision", TRUE);
	if (!record_save (connection, record, error))
		return FALSE;
	g_clear_error (&state->failure);
	return TRUE;
}

static gchar *
tether_aws_iot_tls_failure_hint (TetherCloud *cloud, TetherConnection *connection, GVariant *report)
{
	const gchar *reason = NULL;
	const gchar *top_issuer = NULL;
	const gchar *message = NULL;

	g_variant_lookup (report, "reason", "&s", &reason);
	g_variant_lookup (report, "message", "&s", &message);
	if (g_strcmp0 (reason, "unknown-issuer") == 0) {
		g_variant_lookup (report, "top-issuer", "&s", &top_issuer);
		return aws_rules_untrusted_hint (tether_connection_get_host (connection),
		                                 top_issuer);
	}

	/* the probe names the alert; port 443 without ALPN ends with this one */
	if (g_strcmp0 (reason, "handshake-failed") == 0 && message != NULL &&
	    strstr (message, "no_application_protocol") != NULL)
		return aws_rules_alpn_hint (wants_alpn (connection));
	return NULL;
}

static void
add_bundled_root (TetherCloud *cloud, const gchar *slug)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = g_strdup_printf ("/org/tether/aws-iot/%s.pem", slug);
	g_autoptr(GBytes) pem = g_resource_lookup_data (aws_iot_get_resource (), path,
	                                                 G_RESOURCE_LOOKUP_FLAGS_NONE, &error);

	if (pem == NULL) {
		g_critical ("aws-iot: the bundled root %s is missing: %s", slug, error->message);
		return;
	}
	tether_cloud_add_bundled_anchor (cloud, slug, pem, TRUE);
}

static void
tether_aws_iot_init (TetherAwsIot *self)
{
	TetherCloud *cloud = TETHER_CLOUD (self);

	tether_cloud_set_name (cloud, "aws-iot");
	tether_cloud_set_description (
	        cloud, _("AWS IoT Core over MQTT with an X.509 client certificate on the "
	                  "account's ATS endpoint: telemetry, events and Device Shadow reported "
	                  "state up, shadow deltas and subscribed topics down; fleet "
	                  "provisioning by claim"));
	tether_cloud_set_default_port (cloud, AWS_DEFAULT_PORT);
	tether_cloud_add_kind (cloud, AWS_KIND_TELEMETRY);
	tether_cloud_add_kind (cloud, AWS_KIND_EVENT);
	tether_cloud_add_kind (cloud, AWS_KIND_ATTRIBUTES);
	/* any other topic, named by the topic option: listed so that Kinds tells it */
	tether_cloud_add_kind (cloud, TETHER_KIND_RAW);
	tether_cloud_add_publish_option (cloud, "topic");
	tether_cloud_add_publish_option (cloud, "shadow");
	tether_cloud_add_publish_option (cloud, "expires-in");

	tether_cloud_add_option (cloud, "thing-name", "s",
	                         _("the thing's name in shadow topics (default: the client id)"));
	tether_cloud_add_option (cloud, "telemetry-topic", "s",
	                         _("the topic of kind telemetry (default: "
	                           "dt/<thing-name>/telemetry)"));
	tether_cloud_add_option (cloud, "event-topic", "s",
	                         _("the topic of kind event (default: dt/<thing-name>/event)"));
	tether_cloud_add_option (cloud, "subscriptions", "as",
	                         _("more topic filters to receive, as kind message"));
	tether_cloud_add_option (cloud, "clean-session", "b",
	                         _("start a clean MQTT session each time (default: false, a "
	                           "persistent session)"));
	tether_cloud_add_option (cloud, "alpn", "b",
	                         _("offer the ALPN protocol x-amzn-mqtt-ca (default: on port 443 "
	                           "only)"));
	tether_cloud_add_option (cloud, "provisioning-template", "s",
	                         _("the fleet provisioning template: provision by claim while the "
	                           "device has no certificate of its own"));
	tether_cloud_add_option (cloud, "provisioning-parameters", "a{ss}",
	                         _("the parameters of RegisterThing, such as SerialNumber"));
	tether_cloud_add_option (cloud, "claim-identity", "s",
	                         _("the identity holding the claim certificate (default: claim)"));

	add_bundled_root (cloud, "amazon-root-ca-1");
	add_bundled_root (cloud, "amazon-root-ca-3");
}

static void
tether_aws_iot_class_init (TetherAwsIotClass *klass)
{
	TetherCloudClass *cloud_class = TETHER_CLOUD_CLASS (klass);

	/* the bundled roots, under /org/tether/aws-iot; the module stays loaded */
	aws_iot_register_resource ();

	cloud_class->check_options = tether_aws_iot_check_options;
	cloud_class->check_session = tether_aws_iot_check_session;
	cloud_class->prepare_async = tether_aws_iot_prepare_async;
	cloud_class->prepare_finish = tether_aws_iot_prepare_finish;
	cloud_class->check_message = tether_aws_iot_check_message;
	cloud_class->map_message = tether_aws_iot_map_message;
	cloud_class->handle_incoming = tether_aws_iot_handle_incoming;
	cloud_class->connected = tether_aws_iot_connected;
	cloud_class->reprovision = tether_aws_iot_reprovision;
	cloud_class->tls_failure_hint = tether_aws_iot_tls_failure_hint;
}

TETHER_PLUGIN_DEFINE (tether_aws_iot_get_type)
