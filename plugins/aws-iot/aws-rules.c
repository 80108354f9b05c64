/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <tether/tether.h>

#include "aws-rules.h"
#include "tether-json.h"

/* a topic in an error message: whole when short, its start when long */
#define AWS_TOPIC_SHOWN 64

static gchar *
shown_topic (const gchar *topic, gsize length)
{
	if (length <= AWS_TOPIC_SHOWN)
		return g_strndup (topic, length);
	return g_strdup_printf ("%.*s...", AWS_TOPIC_SHOWN, topic);
}

static guint
count_char (const gchar *text, gsize length, gchar c)
{
	guint n = 0;

	for (gsize i = 0; i < length; i++)
		n += text[i] == c;
	return n;
}

gboolean
aws_rules_check_topic (const gchar *topic, gsize length, GError **error)
{
	g_autofree gchar *shown = NULL;
	guint slashes;

	if (topic == NULL || length == 0) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		                     _("aws-iot: the topic is empty: give a topic of at least one "
		                       "character"));
		return FALSE;
	}
	if (memchr (topic, '\0', length) != NULL) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		                     _("aws-iot: the topic holds a NUL character, which MQTT "
		                       "topics may not hold"));
		return FALSE;
	}
	if (!g_utf8_validate_len (topic, length, NULL)) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		                     _("aws-iot: the topic is not valid UTF-8"));
		return FALSE;
	}
	shown = shown_topic (topic, length);
	if (length > AWS_MAX_TOPIC_BYTES) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("aws-iot: the topic '%s' is %zu bytes long; AWS IoT Core takes "
		               "topics of at most %u bytes"),
		                shown, length, (guint) AWS_MAX_TOPIC_BYTES);
		return FALSE;
	}
	if (memchr (topic, '+', length) != NULL || memchr (topic, '#', length) != NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("aws-iot: the topic '%s' holds a wildcard (+ or #); a message "
		               "goes to one topic, named without wildcards"),
		                shown);
		return FALSE;
	}
	if (topic[0] == '$') {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("aws-iot: the topic '%s' starts with '$', which AWS reserves for "
		               "its own topics; send Device Shadow updates with the kind "
		               "'attributes'"),
		                shown);
		return FALSE;
	}
	slashes = count_char (topic, length, '/');
	if (slashes > AWS_MAX_TOPIC_SLASHES) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("aws-iot: the topic '%s' has %u levels; AWS IoT Core takes at most "
		               "%u (%u slashes)"),
		                shown, slashes + 1, (guint) AWS_MAX_TOPIC_SLASHES + 1,
		                (guint) AWS_MAX_TOPIC_SLASHES);
		return FALSE;
	}
	return TRUE;
}

gboolean
aws_rules_check_filter (const gchar *filter, GError **error)
{
	g_auto(GStrv) levels = NULL;
	gsize length = filter != NULL ? strlen (filter) : 0;
	guint n;

	if (length == 0) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		                     _("aws-iot: a subscription's topic filter is empty"));
		return FALSE;
	}
	if (length > AWS_MAX_TOPIC_BYTES) {
		g_autofree gchar *shown = shown_topic (filter, length);
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("aws-iot: the topic filter '%s' is %zu bytes long; AWS IoT Core "
		               "takes at most %u bytes"),
		                shown, length, (guint) AWS_MAX_TOPIC_BYTES);
		return FALSE;
	}
	levels = g_strsplit (filter, "/", -1);
	n = g_strv_length (levels);
	for (guint i = 0; i < n; i++) {
		gboolean has_plus = strchr (levels[i], '+') != NULL;
		gboolean has_hash = strchr (levels[i], '#') != NULL;

		if ((has_plus && !g_str_equal (levels[i], "+")) ||
		    (has_hash && !g_str_equal (levels[i], "#")) || (has_hash && i + 1 != n)) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
			             _("aws-iot: the topic filter '%s' uses a wildcard within a "
			               "level; + stands for one whole level, # for the rest and "
			               "only at the end"),
			                filter);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
levels_match (gchar **filter, gchar **topic)
{
	for (;; filter++, topic++) {
		if (*filter == NULL)
			return *topic == NULL;
		if (g_str_equal (*filter, "#"))
			return TRUE;
		if (*topic == NULL)
			return FALSE;
		if (!g_str_equal (*filter, "+") && !g_str_equal (*filter, *topic))
			return FALSE;
	}
}

gboolean
aws_rules_filter_matches (const gchar *filter, const gchar *topic)
{
	g_auto(GStrv) filter_levels = g_strsplit (filter, "/", -1);
	g_auto(GStrv) topic_levels = g_strsplit (topic, "/", -1);

	/* a wildcard in the first level does not match a topic under $ */
	if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
		return FALSE;
	return levels_match (filter_levels, topic_levels);
}

gboolean
aws_rules_check_payload_size (gsize size, GError **error)
{
	if (size <= AWS_MAX_PAYLOAD)
		return TRUE;
	g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
	             _("aws-iot: the payload is %zu bytes; AWS IoT Core takes at most %u bytes "
	               "(128 KiB) in one message"),
	                size, (guint) AWS_MAX_PAYLOAD);
	return FALSE;
}

gboolean
aws_rules_check_client_id (const gchar *client_id, GError **error)
{
	gsize length = client_id != NULL ? strlen (client_id) : 0;

	if (length == 0) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		                     _("aws-iot: the client id is empty: set one with "
		                       "'tetherctl connection modify ID --client-id ID'"));
		return FALSE;
	}
	if (length > AWS_MAX_CLIENT_ID_BYTES) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("aws-iot: the client id is %zu bytes long; AWS IoT Core takes at "
		               "most %u: set a shorter one with --client-id"),
		                length, (guint) AWS_MAX_CLIENT_ID_BYTES);
		return FALSE;
	}
	if (client_id[0] == '$') {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("aws-iot: the client id '%s' starts with '$', which AWS IoT Core "
		               "refuses: set another with --client-id"),
		                client_id);
		return FALSE;
	}
	return TRUE;
}

gboolean
aws_rules_check_keepalive (guint keepalive, GError **error)
{
	if (keepalive >= AWS_MIN_KEEPALIVE && keepalive <= AWS_MAX_KEEPALIVE)
		return TRUE;
	g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
	             _("aws-iot: a keep-alive of %u s is outside AWS IoT Core's %u to %u s: give "
	               "one in range with --keepalive SECONDS"),
	                keepalive, (guint) AWS_MIN_KEEPALIVE, (guint) AWS_MAX_KEEPALIVE);
	return FALSE;
}

static gboolean
name_chars_ok (const gchar *name, const gchar *extra)
{
	for (const gchar *p = name; *p != '\0'; p++) {
		if (!g_ascii_isalnum (*p) && strchr (extra, *p) == NULL)
			return FALSE;
	}
	return TRUE;
}

gboolean
aws_rules_check_thing_name (const gchar *name, const gchar *what, GError **error)
{
	gsize length = name != NULL ? strlen (name) : 0;

	if (length == 0 || length > AWS_MAX_THING_NAME || !name_chars_ok (name, ":_-")) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("aws-iot: the thing name '%s' (%s) is not a thing name: AWS IoT "
		               "Core takes 1 to %u letters, digits, ':', '_' or '-'; set the "
		               "cloud option thing-name"),
		                name != NULL ? name : "", what, (guint) AWS_MAX_THING_NAME);
		return FALSE;
	}
	return TRUE;
}

gboolean
aws_rules_check_shadow_name (const gchar *name, GError **error)
{
	gsize length = name != NULL ? strlen (name) : 0;

	if (length == 0 || length > AWS_MAX_SHADOW_NAME || !name_chars_ok (name, ":_-")) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("aws-iot: the shadow name '%s' is not a shadow name: AWS IoT Core "
		               "takes 1 to %u letters, digits, ':', '_' or '-'"),
		                name != NULL ? name : "", (guint) AWS_MAX_SHADOW_NAME);
		return FALSE;
	}
	return TRUE;
}

gboolean
aws_rules_check_template_name (const gchar *name, GError **error)
{
	gsize length = name != NULL ? strlen (name) : 0;

	if (length == 0 || length > AWS_MAX_TEMPLATE_NAME || !name_chars_ok (name, "_-")) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("aws-iot: '%s' is not a provisioning template name: AWS IoT Core "
		               "takes 1 to %u letters, digits, '_' or '-'"),
		                name != NULL ? name : "", (guint) AWS_MAX_TEMPLATE_NAME);
		return FALSE;
	}
	return TRUE;
}

gboolean
aws_rules_check_identity_name (const gchar *name, GError **error)
{
	if (name != NULL && g_regex_match_simple ("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", name,
	                                          G_REGEX_DOLLAR_ENDONLY, 0))
		return TRUE;
	g_set_error (
	        error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
	        _("aws-iot: the cloud option claim-identity '%s' is not an identity name: "
	               "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or a digit"),
	           name != NULL ? name : "");
	return FALSE;
}

gboolean
aws_rules_wants_alpn (guint16 port, gboolean has_option, gboolean option)
{
	if (has_option)
		return option;
	return port == AWS_ALPN_PORT;
}

gchar *
aws_rules_default_telemetry_topic (const gchar *thing_name)
{
	return g_strdup_printf ("dt/%s/telemetry", thing_name);
}

gchar *
aws_rules_default_event_topic (const gchar *thing_name)
{
	return g_strdup_printf ("dt/%s/event", thing_name);
}

gchar *
aws_rules_shadow_topic (const gchar *thing_name, const gchar *shadow, const gchar *operation)
{
	if (shadow != NULL)
		return g_strdup_printf ("$aws/things/%s/shadow/name/%s/%s", thing_name, shadow,
		                        operation);
	return g_strdup_printf ("$aws/things/%s/shadow/%s", thing_name, operation);
}

gchar *
aws_rules_client_token (guint64 id)
{
	return g_strdup_printf (AWS_CLIENT_TOKEN_PREFIX "%" G_GUINT64_FORMAT, id);
}

gboolean
aws_rules_parse_client_token (const gchar *token, guint64 *id)
{
	const gchar *digits;

	if (token == NULL || !g_str_has_prefix (token, AWS_CLIENT_TOKEN_PREFIX))
		return FALSE;
	digits = token + strlen (AWS_CLIENT_TOKEN_PREFIX);
	if (*digits == '\0' || !g_ascii_isdigit (*digits))
		return FALSE;
	return g_ascii_string_to_unsigned (digits, 10, 0, G_MAXUINT64, id, NULL);
}

/* a JSON document, or NULL with @problem saying why not */
static JsonNode *
parse_json (GBytes *bytes, gchar **problem)
{
	gsize size = 0;
	const gchar *data = g_bytes_get_data (bytes, &size);

	return tether_json_parse (data, size, problem);
}

static JsonObject *
parse_object (GBytes *bytes, gchar **problem)
{
	g_autoptr(JsonNode) root = parse_json (bytes, problem);

	if (root == NULL)
		return NULL;
	if (!JSON_NODE_HOLDS_OBJECT (root)) {
		*problem = g_strdup (_("it is not a JSON object"));
		return NULL;
	}
	return json_object_ref (json_node_get_object (root));
}

GBytes *
aws_rules_shadow_update (GBytes *reported, guint64 id, GError **error)
{
	g_autofree gchar *problem = NULL;
	g_autoptr(JsonObject) object = parse_object (reported, &problem);
	g_autofree gchar *token = NULL;
	g_autofree gchar *tail = NULL;
	GByteArray *wire;
	gsize size = 0;
	const guint8 *data;

	if (object == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("aws-iot: an attributes payload is the shadow's reported state, a "
		               "JSON object; this payload is not one: %s"),
		                problem);
		return NULL;
	}

	/* the application's bytes as they are, checked above, inside the document */
	token = aws_rules_client_token (id);
	tail = g_strdup_printf ("},\"clientToken\":\"%s\"}", token);
	data = g_bytes_get_data (reported, &size);
	wire = g_byte_array_sized_new ((guint) size + 64);
	g_byte_array_append (wire, (const guint8 *) "{\"state\":{\"reported\":", 21);
	g_byte_array_append (wire, data, (guint) size);
	g_byte_array_append (wire, (const guint8 *) tail, (guint) strlen (tail));
	return g_byte_array_free_to_bytes (wire);
}

GBytes *
aws_rules_shadow_get (void)
{
	static const gchar get[] = "{\"clientToken\":\"" AWS_GET_CLIENT_TOKEN "\"}";

	return g_bytes_new_static (get, sizeof get - 1);
}

void
aws_incoming_free (AwsIncoming *incoming)
{
	if (incoming == NULL)
		return;
	g_free (incoming->message);
	g_free (incoming->shadow);
	g_free (incoming->why_ignored);
	g_clear_pointer (&incoming->payload, g_bytes_unref);
	g_free (incoming);
}

static AwsIncoming *
ignored (const gchar *why)
{
	AwsIncoming *incoming = g_new0 (AwsIncoming, 1);

	incoming->kind = AWS_INCOMING_IGNORED;
	incoming->why_ignored = g_strdup (why);
	return incoming;
}

/* "update/accepted" or "name/<shadow>/update/accepted" under the thing's shadow prefix */
static gboolean
split_shadow_topic (const gchar *thing_name, const gchar *topic, gchar **shadow,
                    const gchar **operation)
{
	g_autofree gchar *prefix = g_strdup_printf ("$aws/things/%s/shadow/", thing_name);
	const gchar *rest;
	const gchar *slash;

	if (!g_str_has_prefix (topic, prefix))
		return FALSE;
	rest = topic + strlen (prefix);
	*shadow = NULL;
	if (g_str_has_prefix (rest, "name/")) {
		rest += strlen ("name/");
		slash = strchr (rest, '/');
		if (slash == NULL || slash == rest)
			return FALSE;
		*shadow = g_strndup (rest, (gsize) (slash - rest));
		rest = slash + 1;
	}
	*operation = rest;
	return TRUE;
}

static void
lookup_version (JsonObject *object, AwsIncoming *incoming)
{
	JsonNode *node = object != NULL ? json_object_get_member (object, "version") : NULL;

	if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
	    json_node_get_value_type (node) == G_TYPE_INT64) {
		incoming->has_version = TRUE;
		incoming->version = json_node_get_int (node);
	}
}

/* the answer to our GET: what the shadow's desired state holds that reported does not */
static AwsIncoming *
classify_get (AwsIncoming *incoming_in, JsonObject *document)
{
	g_autoptr(AwsIncoming) incoming = incoming_in;
	g_autoptr(JsonBuilder) builder = json_builder_new ();
	g_autoptr(JsonNode) root = NULL;
	JsonObject *state = json_object_get_member (document, "state") != NULL
	                            ? json_object_get_object_member (document, "state")
	                            : NULL;
	JsonNode *delta = state != NULL ? json_object_get_member (state, "delta") : NULL;

	if (delta == NULL || !JSON_NODE_HOLDS_OBJECT (delta))
		return ignored ("the shadow's desired state matches its reported state");

	/* the shape of an update/delta message, so applications read both alike */
	json_builder_begin_object (builder);
	if (incoming->has_version) {
		json_builder_set_member_name (builder, "version");
		json_builder_add_int_value (builder, incoming->version);
	}
	json_builder_set_member_name (builder, "state");
	json_builder_add_value (builder, json_node_copy (delta));
	json_builder_end_object (builder);
	root = json_builder_get_root (builder);
	/* not json-glib's generator: it writes 1e20 as 1e+20.0, which is not JSON */
	incoming->payload = tether_json_to_bytes (root);
	incoming->kind = AWS_INCOMING_SHADOW_DELTA;
	return g_steal_pointer (&incoming);
}

static AwsIncoming *
classify_shadow (const gchar *operation, gchar *shadow, GBytes *payload)
{
	g_autofree gchar *problem = NULL;
	g_autoptr(JsonObject) object = parse_object (payload, &problem);
	g_autoptr(AwsIncoming) incoming = g_new0 (AwsIncoming, 1);
	const gchar *token;

	incoming->shadow = shadow;
	if (object == NULL) {
		g_autofree gchar *why =
		        g_strdup_printf ("a shadow answer that is not JSON: %s", problem);
		return ignored (why);
	}
	lookup_version (object, incoming);

	if (g_str_equal (operation, "update/delta")) {
		incoming->kind = AWS_INCOMING_SHADOW_DELTA;
		return g_steal_pointer (&incoming);
	}
	token = json_object_get_string_member_with_default (object, "clientToken", NULL);
	if (g_str_equal (operation, "get/accepted") && g_strcmp0 (token, AWS_GET_CLIENT_TOKEN) == 0)
		return classify_get (g_steal_pointer (&incoming), object);
	if (g_str_equal (operation, "get/rejected"))
		return ignored ("the shadow GET was rejected (a thing without a shadow yet)");

	/* an answer to an update of ours, by its clientToken; others' updates are not ours */
	if (!aws_rules_parse_client_token (token, &incoming->id))
		return ignored ("a shadow answer to an update that tether did not send");
	if (g_str_equal (operation, "update/accepted")) {
		incoming->kind = AWS_INCOMING_SHADOW_ACCEPTED;
		incoming->status_code = 200;
		incoming->message = g_strdup ("accepted");
		return g_steal_pointer (&incoming);
	}
	if (g_str_equal (operation, "update/rejected")) {
		incoming->kind = AWS_INCOMING_SHADOW_REJECTED;
		incoming->status_code =
		        (gint32) json_object_get_int_member_with_default (object, "code", 0);
		incoming->message = g_strdup (
		        json_object_get_string_member_with_default (object, "message", ""));
		return g_steal_pointer (&incoming);
	}
	return ignored ("a shadow topic that tether does not handle");
}

AwsIncoming *
aws_rules_classify_incoming (const gchar *thing_name, const gchar *const *subscriptions,
                             const gchar *topic, GBytes *payload)
{
	gchar *shadow = NULL;
	const gchar *operation = NULL;
	AwsIncoming *incoming;

	if (thing_name != NULL && split_shadow_topic (thing_name, topic, &shadow, &operation))
		return classify_shadow (operation, shadow, payload);

	for (guint i = 0; subscriptions != NULL && subscriptions[i] != NULL; i++) {
		if (aws_rules_filter_matches (subscriptions[i], topic)) {
			incoming = g_new0 (AwsIncoming, 1);
			incoming->kind = AWS_INCOMING_MESSAGE;
			return incoming;
		}
	}
	return ignored ("a topic none of the subscriptions match");
}

/* ---- fleet provisioning by claim ---- */

gchar *
aws_rules_register_thing_topic (const gchar *template_name)
{
	return g_strdup_printf ("$aws/provisioning-templates/%s/provision/json", template_name);
}

GStrv
aws_rules_provisioning_subscriptions (const gchar *template_name)
{
	g_autofree gchar *register_topic = aws_rules_register_thing_topic (template_name);
	GStrv topics = g_new0 (gchar *, 5);

	topics[0] = g_strdup (AWS_TOPIC_CREATE_FROM_CSR_ACCEPTED);
	topics[1] = g_strdup (AWS_TOPIC_CREATE_FROM_CSR_REJECTED);
	topics[2] = g_strdup_printf ("%s/accepted", register_topic);
	topics[3] = g_strdup_printf ("%s/rejected", register_topic);
	return topics;
}

AwsProvisioningAnswer
aws_rules_classify_provisioning (const gchar *template_name, const gchar *topic)
{
	g_autofree gchar *register_topic = aws_rules_register_thing_topic (template_name);
	const gchar *rest;

	if (g_str_equal (topic, AWS_TOPIC_CREATE_FROM_CSR_ACCEPTED))
		return AWS_PROVISIONING_CSR_ACCEPTED;
	if (g_str_equal (topic, AWS_TOPIC_CREATE_FROM_CSR_REJECTED))
		return AWS_PROVISIONING_CSR_REJECTED;
	if (!g_str_has_prefix (topic, register_topic))
		return AWS_PROVISIONING_NONE;
	rest = topic + strlen (register_topic);
	if (g_str_equal (rest, "/accepted"))
		return AWS_PROVISIONING_REGISTER_ACCEPTED;
	if (g_str_equal (rest, "/rejected"))
		return AWS_PROVISIONING_REGISTER_REJECTED;
	return AWS_PROVISIONING_NONE;
}

static GBytes *
generate (JsonBuilder *builder)
{
	g_autoptr(JsonGenerator) generator = json_generator_new ();
	g_autoptr(JsonNode) root = json_builder_get_root (builder);
	gsize length = 0;
	gchar *text;

	json_generator_set_root (generator, root);
	text = json_generator_to_data (generator, &length);
	return g_bytes_new_take (text, length);
}

GBytes *
aws_rules_create_from_csr_request (const gchar *csr_pem)
{
	g_autoptr(JsonBuilder) builder = json_builder_new ();

	json_builder_begin_object (builder);
	json_builder_set_member_name (builder, "certificateSigningRequest");
	json_builder_add_string_value (builder, csr_pem);
	json_builder_end_object (builder);
	return generate (builder);
}

GBytes *
aws_rules_register_thing_request (const gchar *ownership_token, GVariant *parameters)
{
	g_autoptr(JsonBuilder) builder = json_builder_new ();
	GVariantIter iter;
	const gchar *key;
	const gchar *value;

	json_builder_begin_object (builder);
	json_builder_set_member_name (builder, "certificateOwnershipToken");
	json_builder_add_string_value (builder, ownership_token);
	json_builder_set_member_name (builder, "parameters");
	json_builder_begin_object (builder);
	if (parameters != NULL) {
		g_variant_iter_init (&iter, parameters);
		while (g_variant_iter_next (&iter, "{&s&s}", &key, &value)) {
			json_builder_set_member_name (builder, key);
			json_builder_add_string_value (builder, value);
		}
	}
	json_builder_end_object (builder);
	json_builder_end_object (builder);
	return generate (builder);
}

void
aws_certificate_free (AwsCertificate *certificate)
{
	if (certificate == NULL)
		return;
	g_free (certificate->certificate_id);
	g_free (certificate->certificate_pem);
	g_free (certificate->ownership_token);
	g_free (certificate);
}

static gboolean
require_string (JsonObject *object, const gchar *member, const gchar *answer, gchar **out,
                GError **error)
{
	const gchar *value = json_object_get_string_member_with_default (object, member, NULL);

	if (value == NULL || value[0] == '\0') {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("aws-iot: the %s answer has no \"%s\""), answer, member);
		return FALSE;
	}
	*out = g_strdup (value);
	return TRUE;
}

AwsCertificate *
aws_rules_parse_certificate (GBytes *payload, GError **error)
{
	g_autofree gchar *problem = NULL;
	g_autoptr(JsonObject) object = parse_object (payload, &problem);
	g_autoptr(AwsCertificate) certificate = g_new0 (AwsCertificate, 1);

	if (object == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("aws-iot: the CreateCertificateFromCsr answer is not usable: %s"),
		                problem);
		return NULL;
	}
	if (!require_string (object, "certificateId", "CreateCertificateFromCsr",
	                     &certificate->certificate_id, error) ||
	    !require_string (object, "certificatePem", "CreateCertificateFromCsr",
	                     &certificate->certificate_pem, error) ||
	    !require_string (object, "certificateOwnershipToken", "CreateCertificateFromCsr",
	                     &certificate->ownership_token, error))
		return NULL;
	return g_steal_pointer (&certificate);
}

gchar *
aws_rules_parse_registration (GBytes *payload, GError **error)
{
	g_autofree gchar *problem = NULL;
	g_autoptr(JsonObject) object = parse_object (payload, &problem);
	g_autofree gchar *thing_name = NULL;

	if (object == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("aws-iot: the RegisterThing answer is not usable: %s"), problem);
		return NULL;
	}
	if (!require_string (object, "thingName", "RegisterThing", &thing_name, error))
		return NULL;
	if (!aws_rules_check_thing_name (thing_name, _("from RegisterThing"), error))
		return NULL;
	return g_steal_pointer (&thing_name);
}

gchar *
aws_rules_describe_rejection (GBytes *payload)
{
	g_autofree gchar *problem = NULL;
	g_autoptr(JsonObject) object = parse_object (payload, &problem);
	const gchar *code;
	const gchar *message;
	gint64 status;

	if (object == NULL)
		return g_strdup_printf (_("an answer that is not JSON (%s)"), problem);
	code = json_object_get_string_member_with_default (object, "errorCode", "");
	message = json_object_get_string_member_with_default (object, "errorMessage", "");
	status = json_object_get_int_member_with_default (object, "statusCode", 0);
	return g_strdup_printf (
	        "%s (%" G_GINT64_FORMAT "): %s",
	        code[0] ? code : _("no code"), status, message[0] ? message : _("no message"));
}

gchar *
aws_rules_untrusted_hint (const gchar *host, const gchar *top_issuer)
{
	g_autofree gchar *issuer = g_ascii_strdown (top_issuer != NULL ? top_issuer : "", -1);
	g_autofree gchar *host_lower = g_ascii_strdown (host != NULL ? host : "", -1);
	gboolean verisign =
	        strstr (issuer, "verisign") != NULL || strstr (issuer, "symantec") != NULL;
	gboolean legacy_host = g_str_has_suffix (host_lower, ".amazonaws.com") &&
	                       strstr (host_lower, "-ats.") == NULL;

	if (verisign || legacy_host)
		return g_strdup (
		        _("this looks like a legacy AWS IoT endpoint, whose certificate chains "
		          "to a VeriSign root: use the account's ATS endpoint "
		          "('aws iot describe-endpoint --endpoint-type iot:Data-ATS', "
		          "<prefix>-ats.iot.<region>.amazonaws.com), which chains to Amazon Root "
		          "CA 1 or 3"));
	return NULL;
}

gchar *
aws_rules_alpn_hint (gboolean offered)
{
	if (offered)
		return g_strdup (_("the server does not take the ALPN protocol " AWS_ALPN_PROTOCOL
		                   ": check that the endpoint is the account's AWS IoT Core data "
		                   "endpoint"));
	return g_strdup (_("AWS IoT Core on port 443 takes MQTT only from a client that offers "
	                   "the ALPN protocol " AWS_ALPN_PROTOCOL ": set the cloud option "
	                   "alpn=true (it is on by default on port 443)"));
}
