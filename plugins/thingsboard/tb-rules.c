/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>
#include <tether/tether.h>

#include "tb-rules.h"

/*
 * What a QoS 1 PUBLISH carries besides its payload, and ThingsBoard counts
 * against its limit: the topic's 2-byte length, the topic, the packet id.
 */
#define MQTT_TOPIC_LENGTH_SIZE 2
#define MQTT_PACKET_ID_SIZE    2

const gchar *
tb_rules_topic_for_kind (const gchar *kind)
{
	if (g_strcmp0 (kind, TB_KIND_TELEMETRY) == 0)
		return TB_TOPIC_TELEMETRY;
	if (g_strcmp0 (kind, TB_KIND_ATTRIBUTES) == 0)
		return TB_TOPIC_ATTRIBUTES;
	return NULL;
}

gsize
tb_rules_max_payload (const gchar *topic)
{
	gsize overhead = MQTT_TOPIC_LENGTH_SIZE + strlen (topic) + MQTT_PACKET_ID_SIZE;

	if (overhead >= TB_MAX_MESSAGE_SIZE)
		return 0;
	return TB_MAX_MESSAGE_SIZE - overhead;
}

/* where the parser was: how deep in containers, and where it failed */
typedef struct {
	guint depth;
	guint error_depth;
	guint error_line;
	guint error_column;
} ParseWatch;

static void
watch_container_start (JsonParser *parser, gpointer user_data)
{
	ParseWatch *watch = user_data;

	watch->depth++;
}

static void
watch_container_end (ParseWatch *watch)
{
	if (watch->depth > 0)
		watch->depth--;
}

static void
watch_object_end (JsonParser *parser, JsonObject *object, gpointer user_data)
{
	watch_container_end (user_data);
}

static void
watch_array_end (JsonParser *parser, JsonArray *array, gpointer user_data)
{
	watch_container_end (user_data);
}

static void
watch_error (JsonParser *parser, gpointer error, gpointer user_data)
{
	ParseWatch *watch = user_data;

	/* only valid while the parser runs, so taken here */
	watch->error_depth = watch->depth;
	watch->error_line = json_parser_get_current_line (parser);
	watch->error_column = json_parser_get_current_pos (parser);
}

static gboolean
load_watched (JsonParser *parser, const gchar *text, gsize length, ParseWatch *watch,
              GError **error)
{
	gboolean loaded;

	g_signal_connect (parser, "object-start", G_CALLBACK (watch_container_start), watch);
	g_signal_connect (parser, "array-start", G_CALLBACK (watch_container_start), watch);
	g_signal_connect (parser, "object-end", G_CALLBACK (watch_object_end), watch);
	g_signal_connect (parser, "array-end", G_CALLBACK (watch_array_end), watch);
	g_signal_connect (parser, "error", G_CALLBACK (watch_error), watch);
	loaded = json_parser_load_from_data (parser, text, (gssize) length, error);
	g_signal_handlers_disconnect_by_data (parser, watch);
	return loaded;
}

/* json-glib's own words on what is wrong with @text, which is not JSON */
static gchar *
describe_parse_error (const gchar *text, gsize length)
{
	g_autoptr(JsonParser) parser = json_parser_new ();
	g_autoptr(GError) error_local = NULL;
	ParseWatch watch = { 0 };
	const gchar *reason;

	if (load_watched (parser, text, length, &watch, &error_local)) {
		/* json-glib takes "var name = value;": JavaScript, not JSON */
		if (json_parser_has_assignment (parser, NULL))
			return g_strdup (
			        _("it is a JavaScript assignment (var name = ...), not JSON"));
		return g_strdup (_("it is not one JSON value"));
	}

	/* json-glib prefixes "<data>:line:column: Parse error: "; keep its reason */
	reason = strstr (error_local->message, "Parse error: ");
	reason = reason != NULL ? reason + strlen ("Parse error: ") : error_local->message;
	if (watch.error_line == 0)
		return g_strdup (reason);
	return g_strdup_printf (_("line %u, column %u: %s"), watch.error_line, watch.error_column,
	                           reason);
}

/* json-glib parses "var name = value" (and then reads on): catch it first */
static gboolean
is_assignment (const gchar *text)
{
	while (g_ascii_isspace (*text))
		text++;
	return g_str_has_prefix (text, "var") && !g_ascii_isalnum (text[3]) && text[3] != '_';
}

/*
 * Parses @data as one JSON value. Returns the value, or NULL with @problem
 * saying what is wrong. The problem may quote the payload: it is for the
 * error returned to the publisher, never for a log.
 */
static JsonNode *
parse_document (const gchar *data, gsize size, gchar **problem)
{
	g_autoptr(JsonParser) parser = json_parser_new ();
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GString) wrapped = NULL;
	ParseWatch watch = { 0 };
	const gchar *end = NULL;
	const gchar *text;
	JsonArray *array;

	if (size == 0) {
		*problem = g_strdup (_("it is empty"));
		return NULL;
	}

	/* json-glib only says that the text is not UTF-8; say where */
	if (!g_utf8_validate_len (data, size, &end)) {
		if (*end == '\0')
			*problem = g_strdup_printf (_("byte %u is a NUL character"),
			                               (guint) (end - data) + 1);
		else
			*problem = g_strdup_printf (_("byte %u is not valid UTF-8"),
			                               (guint) (end - data) + 1);
		return NULL;
	}

	/*
	 * json-glib 1.6 reads on after a complete value when a container follows
	 * it ("{} {}") and leaks what it read there. So the text is parsed as the
	 * one element of an array, where a second value is an error.
	 */
	wrapped = g_string_sized_new (size + 3);
	g_string_append_c (wrapped, '[');
	g_string_append_len (wrapped, data, (gssize) size);
	g_string_append (wrapped, "\n]");
	text = wrapped->str + 1;

	/*
	 * most payloads are good: parsed once without the watch, whose signal
	 * handlers cost as much as the parse; a bad one is parsed again with it
	 */
	if (!json_parser_load_from_data (parser, wrapped->str, (gssize) wrapped->len, NULL)) {
		g_autoptr(JsonParser) watched = json_parser_new ();

		if (load_watched (watched, wrapped->str, wrapped->len, &watch, &error_local))
			g_set_error_literal (&error_local, JSON_PARSER_ERROR,
			                     JSON_PARSER_ERROR_UNKNOWN, "");
		if (g_error_matches (error_local, JSON_PARSER_ERROR,
		                     JSON_PARSER_ERROR_MISSING_COMMA) &&
		    watch.error_depth == 1)
			*problem =
			        g_strdup (_("it holds more than one JSON value, or text after its "
			                       "value"));
		else if (is_assignment (text))
			*problem = g_strdup (
			        _("it is a JavaScript assignment (var name = ...), not JSON"));
		else
			*problem = describe_parse_error (text, size);
		return NULL;
	}

	array = json_node_get_array (json_parser_get_root (parser));
	if (json_array_get_length (array) == 0) {
		*problem = g_strdup (_("it holds no JSON value, only white space"));
		return NULL;
	}
	if (json_array_get_length (array) > 1) {
		*problem =
		        g_strdup (_("it holds more than one JSON value, or text after its value"));
		return NULL;
	}
	return json_array_dup_element (array, 0);
}

static const gchar *
describe_node (JsonNode *node)
{
	GType type;

	if (JSON_NODE_HOLDS_OBJECT (node))
		return _("an object");
	if (JSON_NODE_HOLDS_ARRAY (node))
		return _("an array");
	if (JSON_NODE_HOLDS_NULL (node))
		return _("null");

	type = json_node_get_value_type (node);
	if (type == G_TYPE_INT64)
		return _("an integer");
	if (type == G_TYPE_DOUBLE)
		return _("a number with a fraction or an exponent");
	if (type == G_TYPE_BOOLEAN)
		return _("a boolean");
	if (type == G_TYPE_STRING)
		return _("a string");
	return _("a value");
}

/* a telemetry object with "ts" is {"ts": <integer ms>, "values": {...}} */
static gboolean
check_telemetry_object (JsonObject *object, gchar **problem)
{
	JsonNode *ts = json_object_get_member (object, "ts");
	JsonNode *values;
	g_autoptr(GList) members = NULL;

	if (ts == NULL)
		return TRUE;

	if (!JSON_NODE_HOLDS_VALUE (ts) || json_node_get_value_type (ts) != G_TYPE_INT64) {
		*problem = g_strdup_printf (
		        _("\"ts\" must be an integer, milliseconds since the epoch, not %s"),
		           describe_node (ts));
		return FALSE;
	}

	values = json_object_get_member (object, "values");
	if (values == NULL) {
		*problem = g_strdup (
		        _("an object with \"ts\" keeps its keys in a \"values\" object: "
		           "{\"ts\": 1700000000000, \"values\": {\"temperature\": 21.5}}"));
		return FALSE;
	}
	if (!JSON_NODE_HOLDS_OBJECT (values)) {
		*problem = g_strdup_printf (_("\"values\" must be an object, not %s"),
		                               describe_node (values));
		return FALSE;
	}

	/* ThingsBoard reads only "ts" and "values" and drops the rest without a word */
	members = json_object_get_members (object);
	for (GList *l = members; l != NULL; l = l->next) {
		const gchar *name = l->data;

		if (g_strcmp0 (name, "ts") != 0 && g_strcmp0 (name, "values") != 0) {
			*problem = g_strdup_printf (
			        _("\"%s\" is beside \"ts\" and \"values\", where "
			           "ThingsBoard ignores it: move it into \"values\""),
			           name);
			return FALSE;
		}
	}

	return TRUE;
}

static gboolean
check_object (const gchar *kind, JsonObject *object, gchar **problem)
{
	if (g_strcmp0 (kind, TB_KIND_TELEMETRY) == 0)
		return check_telemetry_object (object, problem);
	return TRUE;
}

static gboolean
check_root (const gchar *kind, JsonNode *root, gchar **problem)
{
	JsonArray *array;
	guint length;

	if (JSON_NODE_HOLDS_OBJECT (root))
		return check_object (kind, json_node_get_object (root), problem);
	/* ThingsBoard parses client attributes as one object only, and drops anything else */
	if (!JSON_NODE_HOLDS_ARRAY (root) || g_strcmp0 (kind, TB_KIND_ATTRIBUTES) == 0) {
		*problem = g_strdup_printf (_("it is %s"), describe_node (root));
		return FALSE;
	}

	array = json_node_get_array (root);
	length = json_array_get_length (array);
	for (guint i = 0; i < length; i++) {
		JsonNode *element = json_array_get_element (array, i);
		g_autofree gchar *element_problem = NULL;

		if (!JSON_NODE_HOLDS_OBJECT (element)) {
			*problem = g_strdup_printf (_("element %u of %u is %s"), i + 1, length,
			                               describe_node (element));
			return FALSE;
		}
		if (!check_object (kind, json_node_get_object (element), &element_problem)) {
			*problem = g_strdup_printf (_("element %u of %u: %s"), i + 1, length,
			                               element_problem);
			return FALSE;
		}
	}

	return TRUE;
}

gboolean
tb_rules_check_payload (const gchar *kind, GBytes *payload, GError **error)
{
	const gchar *topic;
	const gchar *data = NULL;
	gsize size = 0;
	gsize max_size;
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *problem = NULL;

	g_return_val_if_fail (kind != NULL, FALSE);

	topic = tb_rules_topic_for_kind (kind);
	if (topic == NULL && g_strcmp0 (kind, TETHER_KIND_RAW) == 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("thingsboard: raw topics are not allowed: a ThingsBoard device "
		                "publishes only on its own v1/devices/me topics; use the kind "
		                "telemetry or attributes"));
		return FALSE;
	}
	if (topic == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("thingsboard: unknown kind '%s': use telemetry or attributes"),
		                kind);
		return FALSE;
	}

	if (payload != NULL)
		data = g_bytes_get_data (payload, &size);
	if (size == 0) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("thingsboard: %s payload is empty: send a JSON object such as "
		                "{\"temperature\": 21.5}"),
		                kind);
		return FALSE;
	}

	max_size = tb_rules_max_payload (topic);
	if (size > max_size) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("thingsboard: %s payload is %u bytes, more than the %u that "
		                "ThingsBoard's default message limit of %u bytes leaves for it: "
		                "send fewer values in one message"),
		                kind, (guint) size, (guint) max_size, (guint) TB_MAX_MESSAGE_SIZE);
		return FALSE;
	}

	root = parse_document (data, size, &problem);
	if (root != NULL && check_root (kind, root, &problem))
		return TRUE;
	if (g_strcmp0 (kind, TB_KIND_ATTRIBUTES) == 0)
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("thingsboard: attributes must be one JSON object, such as "
		               "{\"firmware\": \"1.2.3\"}: %s"),
		                problem);
	else
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("thingsboard: %s must be a JSON object or an array of objects: %s"),
		                kind, problem);
	return FALSE;
}

void
tb_incoming_free (TbIncoming *incoming)
{
	if (incoming == NULL)
		return;
	g_free (incoming->request_id);
	g_free (incoming->method);
	g_free (incoming->why_ignored);
	g_free (incoming);
}

/* the "method" of an RPC request body, NULL with @why_ignored if it has none */
static gchar *
rpc_request_method (GBytes *payload, gchar **why_ignored)
{
	const gchar *data = NULL;
	gsize size = 0;
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *problem = NULL;
	JsonNode *method;

	if (payload != NULL)
		data = g_bytes_get_data (payload, &size);

	/* the problem may quote the payload, which is never logged */
	root = parse_document (data, size, &problem);
	if (root == NULL) {
		*why_ignored = g_strdup ("an RPC request whose body is not JSON");
		return NULL;
	}

	if (!JSON_NODE_HOLDS_OBJECT (root)) {
		*why_ignored = g_strdup ("an RPC request whose body is not a JSON object");
		return NULL;
	}

	method = json_object_get_member (json_node_get_object (root), "method");
	if (method == NULL || !JSON_NODE_HOLDS_VALUE (method) ||
	    json_node_get_value_type (method) != G_TYPE_STRING) {
		*why_ignored = g_strdup ("an RPC request without a string \"method\"");
		return NULL;
	}

	return g_strdup (json_node_get_string (method));
}

TbIncoming *
tb_rules_classify_incoming (const gchar *topic, GBytes *payload)
{
	g_autoptr(TbIncoming) incoming = g_new0 (TbIncoming, 1);
	const gchar *request_id;

	incoming->kind = TB_INCOMING_IGNORED;

	/* shared attributes the server changed */
	if (g_strcmp0 (topic, TB_TOPIC_ATTRIBUTES) == 0) {
		incoming->kind = TB_INCOMING_DESIRED_PROPERTIES;
		return g_steal_pointer (&incoming);
	}

	if (topic == NULL || !g_str_has_prefix (topic, TB_TOPIC_RPC_REQUEST_PREFIX)) {
		incoming->why_ignored = g_strdup ("not a topic the thingsboard plugin handles");
		return g_steal_pointer (&incoming);
	}

	/* a server-side RPC request: v1/devices/me/rpc/request/<id> */
	request_id = topic + strlen (TB_TOPIC_RPC_REQUEST_PREFIX);
	if (!tb_rules_is_request_id (request_id)) {
		incoming->why_ignored = g_strdup ("an RPC request whose id is not a run of digits");
		return g_steal_pointer (&incoming);
	}
	incoming->method = rpc_request_method (payload, &incoming->why_ignored);
	if (incoming->method == NULL)
		return g_steal_pointer (&incoming);

	incoming->kind = TB_INCOMING_COMMAND;
	incoming->request_id = g_strdup (request_id);
	return g_steal_pointer (&incoming);
}

gboolean
tb_rules_is_request_id (const gchar *request_id)
{
	if (request_id == NULL || request_id[0] == '\0')
		return FALSE;
	for (const gchar *c = request_id; *c != '\0'; c++) {
		if (!g_ascii_isdigit (*c))
			return FALSE;
	}
	return TRUE;
}

gchar *
tb_rules_response_topic (const gchar *request_id, GError **error)
{
	if (!tb_rules_is_request_id (request_id)) {
		g_set_error (
		        error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		        _("thingsboard: '%s' is not a ThingsBoard RPC request id: use the "
		           "digits that end the request's topic, v1/devices/me/rpc/request/<id>"),
		           request_id != NULL ? request_id : "");
		return NULL;
	}
	return g_strconcat (TB_TOPIC_RPC_RESPONSE_PREFIX, request_id, NULL);
}

/* {"error":"status N"}: what answers a failed request that brought no payload */
static GBytes *
error_status_payload (gint status)
{
	g_autoptr(JsonBuilder) builder = json_builder_new ();
	g_autoptr(JsonGenerator) generator = json_generator_new ();
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *text = g_strdup_printf ("status %d", status);
	gchar *json;
	gsize length = 0;

	json_builder_begin_object (builder);
	json_builder_set_member_name (builder, "error");
	json_builder_add_string_value (builder, text);
	json_builder_end_object (builder);
	root = json_builder_get_root (builder);

	json_generator_set_root (generator, root);
	json = json_generator_to_data (generator, &length);
	return g_bytes_new_take (json, length);
}

GBytes *
tb_rules_response_payload (const gchar *request_id, gint status, GBytes *payload, GError **error)
{
	g_autofree gchar *topic = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *problem = NULL;
	const gchar *data = NULL;
	gsize size = 0;
	gsize max_size;

	topic = tb_rules_response_topic (request_id, error);
	if (topic == NULL)
		return NULL;

	if (payload != NULL)
		data = g_bytes_get_data (payload, &size);
	if (size == 0 && status >= 400)
		return error_status_payload (status);
	if (size == 0) {
		g_set_error (
		        error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		        _("thingsboard: the response to request %s is empty: send JSON such as "
		           "{} (an empty response goes only with an error status, 400 or more)"),
		           request_id);
		return NULL;
	}

	max_size = tb_rules_max_payload (topic);
	if (size > max_size) {
		g_set_error (
		        error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		        _("thingsboard: the response to request %s is %u bytes, more than the "
		           "%u that ThingsBoard's default message limit of %u bytes leaves "
		           "for it: send a shorter response"),
		           request_id, (guint) size, (guint) max_size, (guint) TB_MAX_MESSAGE_SIZE);
		return NULL;
	}

	root = parse_document (data, size, &problem);
	if (root == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED,
		             _("thingsboard: the response to request %s must be JSON: %s"),
		                request_id, problem);
		return NULL;
	}

	return g_bytes_ref (payload);
}
