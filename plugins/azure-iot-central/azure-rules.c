/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <tether/tether.h>

#include "azure-rules.h"
#include "tether-json.h"

/* the characters DPS takes in a registration id besides letters and digits */
#define DPS_EXTRA_CHARS ".-_:"

/* ---- names and options ---- */

gboolean
azure_rules_check_registration_id (const gchar *registration_id, GError **error)
{
	gsize length = registration_id != NULL ? strlen (registration_id) : 0;

	if (length == 0) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		                     _("azure-iot-central: the registration id is empty: give the "
		                       "identity certificate a common name"));
		return FALSE;
	}
	if (length > AZURE_MAX_REGISTRATION_ID) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("azure-iot-central: registration id '%s' has %u characters, more "
		               "than the %u a certificate's common name holds"),
		                registration_id, (guint) length, (guint) AZURE_MAX_REGISTRATION_ID);
		return FALSE;
	}

	for (gsize i = 0; i < length; i++) {
		gchar c = registration_id[i];
		if (g_ascii_isalnum (c) || c == '-')
			continue;
		if (strchr (DPS_EXTRA_CHARS, c) != NULL) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			             _("azure-iot-central: registration id '%s' holds '%c': DPS "
			               "takes it, but IoT Central device ids (the registration "
			               "id) take only letters, digits and '-'; issue the device "
			               "a certificate with such a common name"),
			                registration_id, c);
			return FALSE;
		}
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("azure-iot-central: registration id '%s' holds a character DPS "
		               "does not take (at position %u): use letters, digits and '-'; "
		               "issue the device a certificate with such a common name"),
		                registration_id, (guint) i + 1);
		return FALSE;
	}

	/* so DPS's last rule holds too: it ends in a letter, a digit or '-' */
	return TRUE;
}

gchar *
azure_rules_registration_id (const gchar *option, const gchar *common_name, GError **error)
{
	const gchar *registration_id = option;

	if (registration_id == NULL || registration_id[0] == '\0')
		registration_id = common_name;

	/* a mismatch first: it names both values, which says more than a rule */
	if (option != NULL && option[0] != '\0' && common_name != NULL &&
	    g_ascii_strcasecmp (option, common_name) != 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("azure-iot-central: the registration id '%s' differs from the "
		               "identity certificate's common name '%s'; DPS takes only a "
		               "registration id that is the certificate's common name: remove "
		               "the option registration-id, or issue a certificate for '%s'"),
		                option, common_name, option);
		return NULL;
	}
	if (!azure_rules_check_registration_id (registration_id, error))
		return NULL;
	return g_strdup (registration_id);
}

gboolean
azure_rules_check_id_scope (const gchar *id_scope, GError **error)
{
	if (id_scope == NULL || id_scope[0] == '\0') {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		                     _("azure-iot-central: the option id-scope is required: copy "
		                       "the ID scope from IoT Central (Permissions, Device "
		                       "connection groups) and set it with --option "
		                       "id-scope=SCOPE"));
		return FALSE;
	}
	for (const gchar *p = id_scope; *p != '\0'; p++) {
		if (!g_ascii_isalnum (*p)) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			             _("azure-iot-central: ID scope '%s' holds characters other "
			               "than letters and digits: copy it again from IoT Central "
			               "(it looks like 0ne0012ABCD)"),
			                id_scope);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean
azure_rules_check_model_id (const gchar *model_id, GError **error)
{
	/* DTDL v2: segments of letters, digits and '_' (a letter first, not '_' last), a version */
	static const gchar pattern[] = "^dtmi:[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?"
	                               "(?::[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?)*"
	                               ";[1-9][0-9]{0,8}$";

	if (model_id == NULL || strlen (model_id) > 2048 ||
	    !g_regex_match_simple (pattern, model_id, G_REGEX_DEFAULT, G_REGEX_MATCH_DEFAULT)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("azure-iot-central: model id '%s' is not a DTDL model id: copy "
		               "it from the device template in IoT Central (it looks like "
		               "dtmi:com:example:Thermostat;1)"),
		                model_id != NULL ? model_id : "");
		return FALSE;
	}
	return TRUE;
}

gboolean
azure_rules_check_component (const gchar *component, GError **error)
{
	gsize length = component != NULL ? strlen (component) : 0;
	gboolean ok = length > 0 && length <= AZURE_MAX_COMPONENT &&
	              g_ascii_isalpha (component[0]) && component[length - 1] != '_';

	for (gsize i = 0; ok && i < length; i++)
		ok = g_ascii_isalnum (component[i]) || component[i] == '_';
	if (!ok) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("azure-iot-central: component '%s' is not a DTDL component name: "
		               "a letter, then letters, digits or '_' (not last), at most %u "
		               "characters, as the device template names it"),
		                component != NULL ? component : "", (guint) AZURE_MAX_COMPONENT);
		return FALSE;
	}
	return TRUE;
}

gboolean
azure_rules_check_properties (GVariant *properties, GError **error)
{
	GVariantIter iter;
	const gchar *name;
	const gchar *value;

	if (properties == NULL)
		return TRUE;
	/* loop, not next: a built dictionary's strings live only as long as its entries */
	g_variant_iter_init (&iter, properties);
	while (g_variant_iter_loop (&iter, "{&s&s}", &name, &value)) {
		if (name[0] == '\0') {
			g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
			                     _("azure-iot-central: an application property has an "
			                       "empty name: name it"));
			return FALSE;
		}
		if (name[0] == '$') {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
			             _("azure-iot-central: application property '%s' starts with "
			               "'$', which IoT Hub keeps for its system properties: "
			               "rename it"),
			                name);
			return FALSE;
		}
	}
	return TRUE;
}

/* ---- IoT Hub over MQTT ---- */

static gchar *
encode (const gchar *text)
{
	/* everything but letters, digits and "-._~" */
	return g_uri_escape_string (text, NULL, FALSE);
}

gchar *
azure_rules_hub_username (const gchar *hub, const gchar *device_id, const gchar *model_id)
{
	g_autofree gchar *encoded_model = NULL;

	if (model_id == NULL || model_id[0] == '\0')
		return g_strdup_printf ("%s/%s/?api-version=%s", hub, device_id,
		                        AZURE_HUB_API_VERSION);
	encoded_model = encode (model_id);
	return g_strdup_printf ("%s/%s/?api-version=%s&model-id=%s", hub, device_id,
	                        AZURE_HUB_API_VERSION, encoded_model);
}

gchar *
azure_rules_devicebound_filter (const gchar *device_id)
{
	return g_strdup_printf ("devices/%s/messages/devicebound/#", device_id);
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
	return g_strcmp0 (*(const gchar *const *) a, *(const gchar *const *) b);
}

gchar *
azure_rules_telemetry_topic (const gchar *device_id, guint64 message_id, const gchar *component,
                             GVariant *properties)
{
	g_autoptr(GString) topic = g_string_new (NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
	GVariantIter iter;
	gchar *name;
	gchar *value;

	/* the system properties that make IoT Central decode JSON, and drop duplicates */
	g_string_append_printf (topic,
	                        "devices/%s/messages/events/$.mid=%" G_GUINT64_FORMAT
	                        "&$.ct=application%%2Fjson&$.ce=utf-8",
	                        device_id, message_id);
	if (component != NULL && component[0] != '\0') {
		g_autofree gchar *encoded = encode (component);
		g_string_append_printf (topic, "&$.sub=%s", encoded);
	}

	/* the application's, in a stable order */
	if (properties == NULL)
		return g_string_free (g_steal_pointer (&topic), FALSE);
	g_variant_iter_init (&iter, properties);
	while (g_variant_iter_next (&iter, "{ss}", &name, &value)) {
		g_ptr_array_add (names, name);
		g_free (value);
	}
	g_ptr_array_sort (names, compare_strings);
	for (guint i = 0; i < names->len; i++) {
		g_autofree gchar *encoded_name = encode (g_ptr_array_index (names, i));
		g_autofree gchar *encoded_value = NULL;
		g_autofree gchar *owned_value = NULL;

		g_variant_lookup (properties, g_ptr_array_index (names, i), "s", &owned_value);
		encoded_value = encode (owned_value);
		g_string_append_printf (topic, "&%s=%s", encoded_name, encoded_value);
	}
	return g_string_free (g_steal_pointer (&topic), FALSE);
}

gchar *
azure_rules_reported_topic (guint64 message_id)
{
	return g_strdup_printf ("$iothub/twin/PATCH/properties/reported/?$rid=%" G_GUINT64_FORMAT,
	                        message_id);
}

gchar *
azure_rules_twin_get_topic (const gchar *request_id)
{
	return g_strdup_printf ("$iothub/twin/GET/?$rid=%s", request_id);
}

/* a request id as IoT Hub sends them, safe to put back into a topic */
static gboolean
is_request_id (const gchar *request_id)
{
	gsize length = request_id != NULL ? strlen (request_id) : 0;

	if (length == 0 || length > 128)
		return FALSE;
	for (gsize i = 0; i < length; i++) {
		gchar c = request_id[i];
		if (!g_ascii_isalnum (c) && c != '-' && c != '.' && c != '_' && c != '~')
			return FALSE;
	}
	return TRUE;
}

gchar *
azure_rules_method_response_topic (const gchar *request_id, gint status, GError **error)
{
	if (!is_request_id (request_id)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("azure-iot-central: '%s' is not a direct method request id: use "
		               "the request-id of the command as 'tetherctl monitor' shows it"),
		                request_id != NULL ? request_id : "");
		return NULL;
	}
	if (status < 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("azure-iot-central: status %d of the answer to request %s is "
		               "negative: use an HTTP-like status such as 200"),
		                status, request_id);
		return NULL;
	}
	return g_strdup_printf ("$iothub/methods/res/%d/?$rid=%s", status, request_id);
}

/* parses @payload as one JSON document; NULL with @problem (translated) when it is not */
static JsonNode *
parse_json (GBytes *payload, gchar **problem)
{
	gsize size = 0;
	const gchar *data = payload != NULL ? g_bytes_get_data (payload, &size) : NULL;

	return tether_json_parse (data, size, problem);
}

/* what a JSON value is, for an error a person reads */
static const gchar *
describe_json (JsonNode *node)
{
	if (JSON_NODE_HOLDS_ARRAY (node))
		return _("an array");
	if (JSON_NODE_HOLDS_NULL (node))
		return _("null");
	if (json_node_get_value_type (node) == G_TYPE_STRING)
		return _("a string");
	if (json_node_get_value_type (node) == G_TYPE_BOOLEAN)
		return _("a boolean");
	return _("a number");
}

/*
 * TRUE when every number in @node is finite: json-glib reads 1e999 as infinity,
 * which IoT Central cannot decode and which a reported-properties document
 * would carry on as the text "inf", no longer JSON
 */
static gboolean
numbers_finite (JsonNode *node)
{
	if (JSON_NODE_HOLDS_OBJECT (node)) {
		JsonObjectIter iter;
		JsonNode *member;

		json_object_iter_init (&iter, json_node_get_object (node));
		while (json_object_iter_next (&iter, NULL, &member)) {
			if (!numbers_finite (member))
				return FALSE;
		}
		return TRUE;
	}
	if (JSON_NODE_HOLDS_ARRAY (node)) {
		JsonArray *array = json_node_get_array (node);

		for (guint i = 0; i < json_array_get_length (array); i++) {
			if (!numbers_finite (json_array_get_element (array, i)))
				return FALSE;
		}
		return TRUE;
	}
	if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_DOUBLE)
		return isfinite (json_node_get_double (node));
	return TRUE;
}

gboolean
azure_rules_check_payload (const gchar *kind, GBytes *payload, GError **error)
{
	g_autofree gchar *problem = NULL;
	g_autoptr(JsonNode) root = parse_json (payload, &problem);
	gsize size = 0;
	const gchar *data;
	gsize start = 0;

	if (root == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("azure-iot-central: the %s payload must be a JSON object, as IoT "
		               "Central decodes only JSON: %s"),
		                kind, problem);
		return FALSE;
	}
	if (!JSON_NODE_HOLDS_OBJECT (root)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("azure-iot-central: the %s payload must be a JSON object such as "
		               "{\"temperature\": 21.5}, not %s"),
		                kind, describe_json (root));
		return FALSE;
	}
	/* json-glib takes a comment before the value; IoT Central would not */
	data = g_bytes_get_data (payload, &size);
	while (start < size && g_ascii_isspace (data[start]))
		start++;
	if (data[start] != '{') {
		g_set_error (
		        error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		        _("azure-iot-central: the %s payload must begin with '{' (no comment or "
		               "other text before the object)"),
		           kind);
		return FALSE;
	}
	if (!numbers_finite (root)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("azure-iot-central: the %s payload holds a number too large for a "
		               "double (such as 1e999), which IoT Central cannot decode"),
		                kind);
		return FALSE;
	}
	return TRUE;
}

/*
 * IoT Plug and Play: a component's properties sit under its name, marked
 * "__t": "c". The application's own text goes on inside the wrapper, so its
 * numbers arrive as written (json-glib 1.6 would write 1e20 back as 1e+20.0,
 * which is not JSON).
 */
GBytes *
azure_rules_reported_payload (GBytes *payload, const gchar *component, GError **error)
{
	g_autofree gchar *problem = NULL;
	g_autoptr(JsonNode) root = NULL;
	JsonObject *object;
	GString *wrapped;
	gsize size = 0;
	const gchar *data;
	gsize start = 0;

	if (!azure_rules_check_payload (AZURE_KIND_ATTRIBUTES, payload, error))
		return NULL;
	if (component == NULL || component[0] == '\0')
		return g_bytes_ref (payload);
	if (!azure_rules_check_component (component, error))
		return NULL;

	/* azure_rules_check_payload() made sure it starts with '{' */
	data = g_bytes_get_data (payload, &size);
	while (g_ascii_isspace (data[start]))
		start++;
	root = parse_json (payload, &problem);
	object = json_node_get_object (root);

	wrapped = g_string_sized_new (size + strlen (component) + 16);
	g_string_append_printf (wrapped, "{\"%s\":{\"__t\":\"c\"", component);
	if (json_object_get_size (object) > 0) {
		/* the members and the closing brace, as the application wrote them */
		g_string_append_c (wrapped, ',');
		g_string_append_len (wrapped, data + start + 1, (gssize) (size - start - 1));
	} else {
		g_string_append_c (wrapped, '}');
	}
	g_string_append_c (wrapped, '}');
	return g_string_free_to_bytes (wrapped);
}

gboolean
azure_rules_check_response (const gchar *request_id, gint status, GBytes *payload, GError **error)
{
	g_autofree gchar *topic = azure_rules_method_response_topic (request_id, status, error);
	g_autofree gchar *problem = NULL;
	g_autoptr(JsonNode) root = NULL;

	if (topic == NULL)
		return FALSE;
	if (payload == NULL || g_bytes_get_size (payload) == 0)
		return TRUE;
	root = parse_json (payload, &problem);
	if (root == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("azure-iot-central: the answer to direct method request %s must "
		               "be JSON or empty: %s"),
		                request_id, problem);
		return FALSE;
	}
	return azure_rules_check_size ("response", strlen (topic), g_bytes_get_size (payload),
	                               error);
}

gboolean
azure_rules_check_size (const gchar *kind, gsize topic_size, gsize payload_size, GError **error)
{
	if (topic_size + payload_size > AZURE_MAX_MESSAGE_SIZE) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("azure-iot-central: the %s message is %lu bytes with its "
		               "properties, more than the %u bytes IoT Hub takes: send less in "
		               "one message"),
		                kind, (gulong) (topic_size + payload_size),
		                (guint) AZURE_MAX_MESSAGE_SIZE);
		return FALSE;
	}
	return TRUE;
}

/* ---- incoming ---- */

void
azure_incoming_free (AzureIncoming *incoming)
{
	if (incoming == NULL)
		return;
	g_free (incoming->request_id);
	g_free (incoming->method);
	g_clear_pointer (&incoming->properties, g_hash_table_unref);
	g_free (incoming->why_ignored);
	g_free (incoming);
}

static AzureIncoming *
ignored (const gchar *why)
{
	AzureIncoming *incoming = g_new0 (AzureIncoming, 1);

	incoming->kind = AZURE_INCOMING_IGNORED;
	incoming->why_ignored = g_strdup (why);
	return incoming;
}

/* the parameters after "?" in the last level of a topic, or NULL */
static GHashTable *
topic_params (const gchar *level)
{
	if (level == NULL || level[0] != '?')
		return NULL;
	return g_uri_parse_params (level + 1, -1, "&", G_URI_PARAMS_NONE, NULL);
}

static gboolean
lookup_version (GHashTable *params, gint64 *version)
{
	const gchar *text = g_hash_table_lookup (params, "$version");

	return text != NULL &&
	       g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, version, NULL);
}

static AzureIncoming *
classify_iothub (gchar **levels)
{
	guint n = g_strv_length (levels);
	g_autoptr(GHashTable) params = topic_params (levels[n - 1]);
	g_autoptr(AzureIncoming) incoming = g_new0 (AzureIncoming, 1);
	const gchar *rid;
	guint64 status = 0;

	if (params == NULL)
		return ignored ("an $iothub topic without parameters");
	rid = g_hash_table_lookup (params, "$rid");

	/* $iothub/twin/PATCH/properties/desired/?$version=N */
	if (n == 6 && g_str_equal (levels[1], "twin") && g_str_equal (levels[2], "PATCH") &&
	    g_str_equal (levels[3], "properties") && g_str_equal (levels[4], "desired")) {
		incoming->kind = AZURE_INCOMING_DESIRED;
		incoming->has_version = lookup_version (params, &incoming->version);
		return g_steal_pointer (&incoming);
	}

	/* $iothub/methods/POST/<method>/?$rid=<rid> */
	if (n == 5 && g_str_equal (levels[1], "methods") && g_str_equal (levels[2], "POST")) {
		if (!is_request_id (rid) || levels[3][0] == '\0')
			return ignored ("a direct method request without a usable $rid or method");
		incoming->kind = AZURE_INCOMING_COMMAND;
		incoming->method = g_strdup (levels[3]);
		incoming->request_id = g_strdup (rid);
		return g_steal_pointer (&incoming);
	}

	/* $iothub/twin/res/<status>/?$rid=<rid>[&$version=N] */
	if (n == 5 && g_str_equal (levels[1], "twin") && g_str_equal (levels[2], "res")) {
		if (rid == NULL ||
		    !g_ascii_string_to_unsigned (levels[3], 10, 100, 999, &status, NULL))
			return ignored ("a twin answer without a $rid or a status");
		incoming->kind = AZURE_INCOMING_TWIN_RESPONSE;
		incoming->status = (gint) status;
		incoming->request_id = g_strdup (rid);
		incoming->has_version = lookup_version (params, &incoming->version);
		return g_steal_pointer (&incoming);
	}
	return ignored ("an $iothub topic the device did not ask for");
}

/* a property bag as URI parameters: a name without a value gets an empty one */
static gchar *
property_bag_params (const gchar *bag)
{
	g_auto(GStrv) pairs = g_strsplit (bag, "&", -1);

	for (guint i = 0; pairs[i] != NULL; i++) {
		if (strchr (pairs[i], '=') == NULL) {
			gchar *with_value = g_strconcat (pairs[i], "=", NULL);
			g_free (pairs[i]);
			pairs[i] = with_value;
		}
	}
	return g_strjoinv ("&", pairs);
}

AzureIncoming *
azure_rules_classify_incoming (const gchar *device_id, const gchar *topic)
{
	g_auto(GStrv) levels = g_strsplit (topic, "/", -1);
	guint n = g_strv_length (levels);
	g_autoptr(AzureIncoming) incoming = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *bag = NULL;

	if (n >= 5 && g_str_equal (levels[0], "$iothub"))
		return classify_iothub (levels);

	/* devices/<device id>/messages/devicebound/<property bag> */
	if (n != 5 || !g_str_equal (levels[0], "devices") || !g_str_equal (levels[2], "messages") ||
	    !g_str_equal (levels[3], "devicebound"))
		return ignored ("a topic the device did not subscribe to");
	if (g_strcmp0 (levels[1], device_id) != 0)
		return ignored ("a cloud-to-device message for another device");

	incoming = g_new0 (AzureIncoming, 1);
	incoming->kind = AZURE_INCOMING_MESSAGE;
	if (levels[4][0] == '\0') {
		incoming->properties =
		        g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
		return g_steal_pointer (&incoming);
	}
	bag = property_bag_params (levels[4]);
	incoming->properties = g_uri_parse_params (bag, -1, "&", G_URI_PARAMS_NONE, &error_local);
	if (incoming->properties == NULL)
		return ignored ("a cloud-to-device message with a damaged property bag");
	return g_steal_pointer (&incoming);
}

GBytes *
azure_rules_twin_desired (GBytes *twin, gboolean *has_version, gint64 *version)
{
	g_autofree gchar *problem = NULL;
	g_autoptr(JsonNode) root = parse_json (twin, &problem);
	JsonObject *object;
	JsonNode *desired;
	JsonNode *version_node;

	*has_version = FALSE;
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
		return NULL;
	object = json_node_get_object (root);
	desired = json_object_get_member (object, "desired");
	if (desired == NULL || !JSON_NODE_HOLDS_OBJECT (desired))
		return NULL;
	version_node = json_object_get_member (json_node_get_object (desired), "$version");
	if (version_node != NULL && JSON_NODE_HOLDS_VALUE (version_node) &&
	    json_node_get_value_type (version_node) == G_TYPE_INT64) {
		*has_version = TRUE;
		*version = json_node_get_int (version_node);
	}
	return tether_json_to_bytes (desired);
}

gchar *
azure_rules_error_message (GBytes *payload)
{
	g_autofree gchar *problem = NULL;
	g_autoptr(JsonNode) root = parse_json (payload, &problem);
	JsonObject *object;

	if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
		return NULL;
	object = json_node_get_object (root);
	if (!json_object_has_member (object, "message") ||
	    !JSON_NODE_HOLDS_VALUE (json_object_get_member (object, "message")) ||
	    json_node_get_value_type (json_object_get_member (object, "message")) != G_TYPE_STRING)
		return NULL;
	return g_strdup (json_object_get_string_member (object, "message"));
}

/* ---- DPS ---- */

gchar *
azure_rules_dps_register_path (const gchar *id_scope, const gchar *registration_id)
{
	g_autofree gchar *scope = encode (id_scope);
	g_autofree gchar *id = encode (registration_id);

	return g_strdup_printf ("/%s/registrations/%s/register", scope, id);
}

gchar *
azure_rules_dps_operation_path (const gchar *id_scope, const gchar *registration_id,
                                const gchar *operation_id)
{
	g_autofree gchar *scope = encode (id_scope);
	g_autofree gchar *id = encode (registration_id);
	g_autofree gchar *operation = encode (operation_id);

	return g_strdup_printf ("/%s/registrations/%s/operations/%s", scope, id, operation);
}

const gchar *
azure_rules_dps_query (void)
{
	return "api-version=" AZURE_DPS_API_VERSION;
}

GBytes *
azure_rules_dps_register_body (const gchar *registration_id, const gchar *model_id)
{
	g_autoptr(JsonBuilder) builder = json_builder_new ();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object (builder);
	json_builder_set_member_name (builder, "registrationId");
	json_builder_add_string_value (builder, registration_id);
	if (model_id != NULL && model_id[0] != '\0') {
		json_builder_set_member_name (builder, "payload");
		json_builder_begin_object (builder);
		json_builder_set_member_name (builder, "modelId");
		json_builder_add_string_value (builder, model_id);
		json_builder_end_object (builder);
	}
	json_builder_end_object (builder);
	root = json_builder_get_root (builder);
	return tether_json_to_bytes (root);
}

void
azure_dps_reply_free (AzureDpsReply *reply)
{
	if (reply == NULL)
		return;
	g_free (reply->status);
	g_free (reply->operation_id);
	g_free (reply->assigned_hub);
	g_free (reply->device_id);
	g_free (reply->error_message);
	g_free (reply->tracking_id);
	g_free (reply);
}

/* a member's value as a string: strings as they are, integers printed, else NULL */
static gchar *
dup_member (JsonObject *object, const gchar *name)
{
	JsonNode *node = object != NULL ? json_object_get_member (object, name) : NULL;

	if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
		return NULL;
	if (json_node_get_value_type (node) == G_TYPE_STRING)
		return g_strdup (json_node_get_string (node));
	if (json_node_get_value_type (node) == G_TYPE_INT64)
		return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
	return NULL;
}

static gint64
int_member (JsonObject *object, const gchar *name)
{
	g_autofree gchar *text = dup_member (object, name);
	gint64 value = 0;

	if (text == NULL ||
	    !g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, &value, NULL))
		return 0;
	return value;
}

AzureDpsReply *
azure_dps_reply_parse (GBytes *body, GError **error)
{
	g_autofree gchar *problem = NULL;
	g_autoptr(JsonNode) root = parse_json (body, &problem);
	g_autoptr(AzureDpsReply) reply = NULL;
	JsonObject *object;
	JsonObject *state = NULL;
	JsonNode *state_node;

	if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("DPS answered with something other than a JSON object: %s"),
		                root == NULL ? problem : json_node_type_name (root));
		return NULL;
	}
	object = json_node_get_object (root);
	state_node = json_object_get_member (object, "registrationState");
	if (state_node != NULL && JSON_NODE_HOLDS_OBJECT (state_node))
		state = json_node_get_object (state_node);

	reply = g_new0 (AzureDpsReply, 1);
	reply->status = dup_member (object, "status");
	reply->operation_id = dup_member (object, "operationId");
	reply->assigned_hub = dup_member (state, "assignedHub");
	reply->device_id = dup_member (state, "deviceId");
	reply->tracking_id = dup_member (object, "trackingId");

	/* an error body has them at the top, a failed registration in its state */
	reply->error_code = int_member (object, "errorCode");
	reply->error_message = dup_member (object, "message");
	if (reply->error_code == 0)
		reply->error_code = int_member (state, "errorCode");
	if (reply->error_message == NULL)
		reply->error_message = dup_member (state, "errorMessage");
	if (reply->status == NULL)
		reply->status = dup_member (state, "status");
	return g_steal_pointer (&reply);
}

/* what an error code's class (the HTTP status it starts with) means, and what to do */
static const gchar *
describe_http_status (guint status)
{
	switch (status) {
	case 400:
		return _("DPS refused the request as malformed: check the registration id and "
		         "the model id");
	case 401:
		return _("the device certificate or its CA is not accepted by DPS: upload the "
		         "device CA to the enrollment group in IoT Central (Permissions, "
		         "Device connection groups), verify it, and present the whole chain");
	case 403:
		return _("DPS forbids this registration: check that the enrollment group is "
		         "enabled and the device is not blocked in IoT Central");
	case 404:
		return _("DPS knows no such ID scope or enrollment: check the option id-scope "
		         "against IoT Central (Permissions, Device connection groups)");
	case 409:
		return _("DPS reported a conflict with a registration already in progress: it "
		         "will be tried again");
	case 429:
		return _("DPS is throttling this device: it will be tried again later");
	default:
		if (status >= 500)
			return _("DPS failed on its side: it will be tried again later");
		return _("DPS refused the request");
	}
}

gchar *
azure_rules_dps_describe_failure (guint http_status, const AzureDpsReply *reply)
{
	g_autoptr(GString) text = g_string_new (NULL);
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
	g_autofree gchar *joined = NULL;
	const gchar *status = reply != NULL ? reply->status : NULL;
	guint code_class = 0;

	/* the error code's first three digits are the HTTP status it goes with */
	if (reply != NULL && reply->error_code >= 100000 && reply->error_code < 1000000)
		code_class = (guint) (reply->error_code / 1000);
	if (http_status >= 400) {
		g_string_append (text,
		                 describe_http_status (code_class != 0 ? code_class : http_status));
	} else if (g_strcmp0 (status, "failed") == 0) {
		g_string_append (text, _("DPS could not assign the device to a hub: "));
		if (code_class == 401 || code_class == 403 || code_class == 404)
			g_string_append (text, describe_http_status (code_class));
		else
			g_string_append (text, _("check the enrollment group's allocation and its "
			                         "linked hubs in IoT Central"));
	} else if (g_strcmp0 (status, "disabled") == 0) {
		g_string_append (text, _("DPS says the device's enrollment is disabled: unblock "
		                         "the device or enable its enrollment group in IoT "
		                         "Central"));
	} else if (g_strcmp0 (status, "unassigned") == 0) {
		g_string_append (text, _("DPS left the device unassigned: no IoT hub of the "
		                         "enrollment takes it; check the enrollment's allocation "
		                         "and linked hubs"));
	} else {
		g_string_append_printf (text, _("DPS answered an unexpected status '%s'"),
		                                 status != NULL ? status : _("(none)"));
	}

	/* DPS's own words, for a support request */
	if (http_status >= 400)
		g_ptr_array_add (parts, g_strdup_printf ("HTTP %u", http_status));
	if (reply != NULL && reply->error_code != 0)
		g_ptr_array_add (parts,
		                 g_strdup_printf (_("error %lld"), (long long) reply->error_code));
	if (reply != NULL && reply->error_message != NULL)
		g_ptr_array_add (parts, g_strdup_printf ("\"%s\"", reply->error_message));
	if (reply != NULL && reply->tracking_id != NULL)
		g_ptr_array_add (parts, g_strdup_printf (_("tracking id %s"), reply->tracking_id));
	if (parts->len > 0) {
		g_ptr_array_add (parts, NULL);
		joined = g_strjoinv (", ", (gchar **) parts->pdata);
		g_string_append_printf (text, " (%s)", joined);
	}
	return g_string_free (g_steal_pointer (&text), FALSE);
}

guint
azure_rules_parse_retry_after (const gchar *value)
{
	g_autofree gchar *text = g_strstrip (g_strdup (value != NULL ? value : ""));
	guint64 seconds = 0;

	/* seconds only: DPS sends no dates */
	if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT32, &seconds, NULL) || seconds == 0)
		return AZURE_DPS_DEFAULT_RETRY_AFTER_S;
	return (guint) MIN (seconds, AZURE_DPS_MAX_RETRY_AFTER_S);
}

/* ---- the cached assignment ---- */

AzureAssignment *
azure_assignment_new (const gchar *dps_endpoint, const gchar *id_scope,
                      const gchar *registration_id, const gchar *hub, const gchar *device_id)
{
	AzureAssignment *assignment = g_new0 (AzureAssignment, 1);

	assignment->dps_endpoint = g_strdup (dps_endpoint);
	assignment->id_scope = g_strdup (id_scope);
	assignment->registration_id = g_strdup (registration_id);
	assignment->hub = g_strdup (hub);
	assignment->device_id = g_strdup (device_id);
	return assignment;
}

void
azure_assignment_free (AzureAssignment *assignment)
{
	if (assignment == NULL)
		return;
	g_free (assignment->dps_endpoint);
	g_free (assignment->id_scope);
	g_free (assignment->registration_id);
	g_free (assignment->hub);
	g_free (assignment->device_id);
	g_free (assignment);
}

gchar *
azure_assignment_to_json (const AzureAssignment *assignment)
{
	g_autoptr(JsonBuilder) builder = json_builder_new ();
	g_autoptr(JsonGenerator) generator = json_generator_new ();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object (builder);
	json_builder_set_member_name (builder, "version");
	json_builder_add_int_value (builder, AZURE_ASSIGNMENT_FORMAT_VERSION);
	json_builder_set_member_name (builder, "dps-endpoint");
	json_builder_add_string_value (builder, assignment->dps_endpoint);
	json_builder_set_member_name (builder, "id-scope");
	json_builder_add_string_value (builder, assignment->id_scope);
	json_builder_set_member_name (builder, "registration-id");
	json_builder_add_string_value (builder, assignment->registration_id);
	json_builder_set_member_name (builder, "hub");
	json_builder_add_string_value (builder, assignment->hub);
	json_builder_set_member_name (builder, "device-id");
	json_builder_add_string_value (builder, assignment->device_id);
	json_builder_end_object (builder);

	root = json_builder_get_root (builder);
	json_generator_set_root (generator, root);
	json_generator_set_pretty (generator, TRUE);
	return json_generator_to_data (generator, NULL);
}

AzureAssignment *
azure_assignment_from_json (const gchar *data, gsize length, GError **error)
{
	g_autoptr(GBytes) bytes = g_bytes_new (data, length);
	g_autofree gchar *problem = NULL;
	g_autoptr(JsonNode) root = parse_json (bytes, &problem);
	g_autoptr(AzureAssignment) assignment = NULL;
	JsonObject *object;

	if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("not a JSON object: %s"),
		                root == NULL ? problem : json_node_type_name (root));
		return NULL;
	}
	object = json_node_get_object (root);
	if (int_member (object, "version") != AZURE_ASSIGNMENT_FORMAT_VERSION) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("format version %lld is not %d"),
		                (long long) int_member (object, "version"),
		                AZURE_ASSIGNMENT_FORMAT_VERSION);
		return NULL;
	}
	assignment = g_new0 (AzureAssignment, 1);
	assignment->dps_endpoint = dup_member (object, "dps-endpoint");
	assignment->id_scope = dup_member (object, "id-scope");
	assignment->registration_id = dup_member (object, "registration-id");
	assignment->hub = dup_member (object, "hub");
	assignment->device_id = dup_member (object, "device-id");
	if (assignment->dps_endpoint == NULL || assignment->id_scope == NULL ||
	    assignment->registration_id == NULL || assignment->hub == NULL ||
	    assignment->hub[0] == '\0' || assignment->device_id == NULL ||
	    assignment->device_id[0] == '\0') {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		                     _("a member is missing or empty"));
		return NULL;
	}
	return g_steal_pointer (&assignment);
}

gboolean
azure_assignment_matches (const AzureAssignment *assignment, const gchar *dps_endpoint,
                          const gchar *id_scope, const gchar *registration_id)
{
	return g_ascii_strcasecmp (assignment->dps_endpoint, dps_endpoint) == 0 &&
	       g_strcmp0 (assignment->id_scope, id_scope) == 0 &&
	       g_ascii_strcasecmp (assignment->registration_id, registration_id) == 0;
}
