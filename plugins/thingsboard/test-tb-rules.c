/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>

#include <glib.h>
#include <tether/tether.h>

#include "tb-rules.h"

static GBytes *
bytes_from_string (const gchar *text)
{
	return g_bytes_new (text, strlen (text));
}

/* a telemetry payload of exactly @size bytes: {"k":"xxx...x"} */
static GBytes *
payload_of_size (gsize size)
{
	GString *text = g_string_new ("{\"k\":\"");

	while (text->len < size - 2)
		g_string_append_c (text, 'x');
	g_string_append (text, "\"}");
	g_assert_cmpuint (text->len, ==, size);
	return g_string_free_to_bytes (text);
}

static void
test_topics (void)
{
	g_assert_cmpstr (tb_rules_topic_for_kind ("telemetry"), ==, "v1/devices/me/telemetry");
	g_assert_cmpstr (tb_rules_topic_for_kind ("attributes"), ==, "v1/devices/me/attributes");
	g_assert_null (tb_rules_topic_for_kind ("raw"));
	g_assert_null (tb_rules_topic_for_kind ("response"));
	g_assert_null (tb_rules_topic_for_kind (""));
	g_assert_null (tb_rules_topic_for_kind (NULL));
}

static void
test_payload_accepted (void)
{
	const struct {
		const gchar *kind;
		const gchar *payload;
	} cases[] = {
		{ "telemetry", "{}" },
		{ "telemetry", "{\"temperature\": 21.5, \"on\": true, \"name\": \"pump\"}" },
		{ "telemetry", "[{\"a\": 1}, {\"b\": {\"nested\": [1, 2]}}]" },
		{ "telemetry", "[]" },
		{ "telemetry", "{\"ts\": 1700000000000, \"values\": {\"temperature\": 21.5}}" },
		{ "telemetry", "{\"ts\": 0, \"values\": {}}" },
		{ "telemetry", "[{\"ts\": 1700000000000, \"values\": {\"a\": 1}},"
		               " {\"ts\": 1700000001000, \"values\": {\"a\": 2}}, {\"b\": 3}]" },
		{ "telemetry", "{\"values\": {\"a\": 1}}" },
		{ "telemetry", "  \n{\"a\": 1}\n" },
		{ "telemetry", "{\"name\": \"caf\xc3\xa9\"}" },
		{ "attributes", "{\"firmware\": \"1.2.3\"}" },
		/* the ts form is telemetry's: for attributes "ts" is a key like any other */
		{ "attributes", "{\"ts\": \"yesterday\"}" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GBytes) payload = bytes_from_string (cases[i].payload);
		g_autoptr(GError) error = NULL;

		g_test_message ("%s %s", cases[i].kind, cases[i].payload);
		g_assert_true (tb_rules_check_payload (cases[i].kind, payload, &error));
		g_assert_no_error (error);
	}
}

static void
test_payload_refused (void)
{
	const struct {
		const gchar *kind;
		const gchar *payload;
		const gchar *message;
	} cases[] = {
		{ "telemetry", "", "thingsboard: telemetry payload is empty: send a JSON object" },
		{ "attributes", "", "thingsboard: attributes payload is empty" },
		{ "telemetry", "   \n",
		  "thingsboard: telemetry must be a JSON object or an array of objects: "
		  "it holds no JSON value, only white space" },
		{ "telemetry", "x",
		  "thingsboard: telemetry must be a JSON object or an array of objects: "
		  "line 1, column 1: unexpected identifier `x', expected value" },
		{ "telemetry", "{\n\"a\": tru}", "line 2, column" },
		{ "telemetry", "{\"a\": 1,}", "line 1, column" },
		{ "telemetry", "42", "array of objects: it is an integer" },
		{ "telemetry", "\"hello\"", "array of objects: it is a string" },
		{ "telemetry", "null", "array of objects: it is null" },
		{ "telemetry", "true", "array of objects: it is a boolean" },
		/* ThingsBoard takes client attributes as one object, never an array */
		{ "attributes", "[{\"a\": 1}, {\"b\": 2}]",
		  "thingsboard: attributes must be one JSON object, such as "
		  "{\"firmware\": \"1.2.3\"}: it is an array" },
		{ "attributes", "[]", "attributes must be one JSON object" },
		{ "attributes", "42",
		  "attributes must be one JSON object, such as "
		  "{\"firmware\": \"1.2.3\"}: it is an integer" },
		{ "attributes", "x",
		  "attributes must be one JSON object, such as "
		  "{\"firmware\": \"1.2.3\"}: line 1, column 1" },
		{ "telemetry", "[{\"a\": 1}, 2]", "element 2 of 2 is an integer" },
		{ "telemetry", "[[{\"a\": 1}]]", "element 1 of 1 is an array" },
		{ "telemetry", "{} {}", "it holds more than one JSON value" },
		{ "telemetry", "[] {}", "it holds more than one JSON value" },
		{ "telemetry", "1 []", "it holds more than one JSON value" },
		{ "telemetry", "var data = {\"a\": 1}", "not JSON" },
		{ "telemetry", "var data = {\"a\": 1} {}", "not JSON" },
		{ "telemetry", "{},{}", "it holds more than one JSON value" },
		{ "telemetry", "{\"a\": 1} x", "it holds more than one JSON value, or text after" },
		{ "telemetry", "{\"a\": 1}\n\n[{\"b\": 2}]", "it holds more than one JSON value" },
		{ "telemetry", "{\"a\": ", "line 1, column" },
		{ "telemetry", "[{\"a\": 1} {\"b\": 2}]", "line 1, column" },
		{ "telemetry", "{'a': 1} /* json-glib takes these */ {}",
		  "more than one JSON value" },
		{ "telemetry", "{\"ts\": \"1700000000000\", \"values\": {}}",
		  "\"ts\" must be an integer, milliseconds since the epoch, not a string" },
		{ "telemetry", "{\"ts\": 1.7e12, \"values\": {}}",
		  "\"ts\" must be an integer, milliseconds since the epoch, not a number" },
		{ "telemetry", "{\"ts\": 1700000000000, \"temperature\": 21.5}",
		  "keeps its keys in a \"values\" object" },
		{ "telemetry", "{\"ts\": 1700000000000, \"values\": [1]}",
		  "\"values\" must be an object, not an array" },
		{ "telemetry", "{\"ts\": 1700000000000, \"values\": {}, \"extra\": 1}",
		  "\"extra\" is beside \"ts\" and \"values\"" },
		{ "telemetry", "[{\"a\": 1}, {\"ts\": null, \"values\": {}}]",
		  "element 2 of 2: \"ts\" must be an integer" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GBytes) payload = bytes_from_string (cases[i].payload);
		g_autoptr(GError) error = NULL;

		g_test_message ("%s %s", cases[i].kind, cases[i].payload);
		g_assert_false (tb_rules_check_payload (cases[i].kind, payload, &error));
		g_assert_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED);
		g_test_message ("-> %s", error->message);
		g_assert_nonnull (strstr (error->message, cases[i].message));
	}
}

static void
test_payload_null (void)
{
	g_autoptr(GError) error = NULL;

	g_assert_false (tb_rules_check_payload ("telemetry", NULL, &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED);
	g_assert_nonnull (strstr (error->message, "is empty"));
}

static void
test_payload_not_utf8 (void)
{
	const gchar latin1[] = "{\"name\": \"caf\xe9\"}";
	const gchar with_nul[] = "{\"a\": 1}\0{}";
	g_autoptr(GBytes) bad = g_bytes_new (latin1, sizeof latin1 - 1);
	g_autoptr(GBytes) nul = g_bytes_new (with_nul, sizeof with_nul - 1);
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) error_nul = NULL;

	g_assert_false (tb_rules_check_payload ("telemetry", bad, &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED);
	g_assert_cmpstr (error->message, ==,
	                 "thingsboard: telemetry must be a JSON object or an array of objects: "
	                 "byte 14 is not valid UTF-8");

	g_assert_false (tb_rules_check_payload ("attributes", nul, &error_nul));
	g_assert_error (error_nul, TETHER_ERROR, TETHER_ERROR_REFUSED);
	g_assert_nonnull (strstr (error_nul->message, "byte 9 is a NUL character"));
}

static void
test_payload_size (void)
{
	/* 65536 less the topic's length field, the topic and the packet id */
	gsize telemetry_max = 65536 - 2 - strlen ("v1/devices/me/telemetry") - 2;
	gsize attributes_max = 65536 - 2 - strlen ("v1/devices/me/attributes") - 2;
	g_autoptr(GBytes) largest = payload_of_size (telemetry_max);
	g_autoptr(GBytes) too_large = payload_of_size (telemetry_max + 1);
	g_autoptr(GBytes) attributes_too_large = payload_of_size (attributes_max + 1);
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) error_attributes = NULL;

	g_assert_cmpuint (tb_rules_max_payload ("v1/devices/me/telemetry"), ==, telemetry_max);
	g_assert_true (tb_rules_check_payload ("telemetry", largest, NULL));

	g_assert_false (tb_rules_check_payload ("telemetry", too_large, &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED);
	g_assert_cmpstr (error->message, ==,
	                 "thingsboard: telemetry payload is 65510 bytes, more than the 65509 that "
	                 "ThingsBoard's default message limit of 65536 bytes leaves for it: "
	                 "send fewer values in one message");

	g_assert_false (
	        tb_rules_check_payload ("attributes", attributes_too_large, &error_attributes));
	g_assert_error (error_attributes, TETHER_ERROR, TETHER_ERROR_REFUSED);
}

static void
test_payload_kind (void)
{
	g_autoptr(GBytes) payload = bytes_from_string ("{\"a\": 1}");
	g_autoptr(GError) error_raw = NULL;
	g_autoptr(GError) error_unknown = NULL;

	/* raw topics break a cloud rule; a kind nobody declared is a bad argument */
	g_assert_false (tb_rules_check_payload ("raw", payload, &error_raw));
	g_assert_error (error_raw, TETHER_ERROR, TETHER_ERROR_REFUSED);
	g_assert_nonnull (strstr (error_raw->message, "raw topics are not allowed"));

	g_assert_false (tb_rules_check_payload ("shadow", payload, &error_unknown));
	g_assert_error (error_unknown, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
	g_assert_cmpstr (error_unknown->message, ==,
	                 "thingsboard: unknown kind 'shadow': use telemetry or attributes");
}

static void
test_incoming_command (void)
{
	g_autoptr(GBytes) payload = bytes_from_string (
	        "{\"method\": \"setGpio\", \"params\": {\"pin\": 4}}");
	g_autoptr(TbIncoming) incoming =
	                   tb_rules_classify_incoming ("v1/devices/me/rpc/request/42", payload);

	g_assert_cmpint (incoming->kind, ==, TB_INCOMING_COMMAND);
	g_assert_cmpstr (incoming->request_id, ==, "42");
	g_assert_cmpstr (incoming->method, ==, "setGpio");
	g_assert_null (incoming->why_ignored);
}

static void
test_incoming_desired_properties (void)
{
	g_autoptr(GBytes) payload = bytes_from_string ("{\"targetTemperature\": 20}");
	g_autoptr(TbIncoming) incoming =
	                   tb_rules_classify_incoming ("v1/devices/me/attributes", payload);

	g_assert_cmpint (incoming->kind, ==, TB_INCOMING_DESIRED_PROPERTIES);
	g_assert_null (incoming->request_id);
	g_assert_null (incoming->method);
}

static void
test_incoming_ignored (void)
{
	const struct {
		const gchar *topic;
		const gchar *payload;
		const gchar *why;
	} cases[] = {
		{ "v1/devices/me/attributes/response/1", "{}", "not a topic" },
		{ "v1/devices/me/telemetry", "{}", "not a topic" },
		{ "v1/devices/me/rpc/response/1", "{}", "not a topic" },
		{ "elsewhere", "{}", "not a topic" },
		{ "v1/devices/me/rpc/request/", "{\"method\": \"m\"}",
		  "id is not a run of digits" },
		{ "v1/devices/me/rpc/request/abc", "{\"method\": \"m\"}", "id is not" },
		{ "v1/devices/me/rpc/request/1/2", "{\"method\": \"m\"}", "id is not" },
		{ "v1/devices/me/rpc/request/7", "", "body is not JSON" },
		{ "v1/devices/me/rpc/request/7", "method", "body is not JSON" },
		{ "v1/devices/me/rpc/request/7", "[]", "not a JSON object" },
		{ "v1/devices/me/rpc/request/7", "{\"params\": {}}",
		  "without a string \"method\"" },
		{ "v1/devices/me/rpc/request/7", "{\"method\": 3}", "without a string \"method\"" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GBytes) payload = bytes_from_string (cases[i].payload);
		g_autoptr(TbIncoming) incoming =
		                   tb_rules_classify_incoming (cases[i].topic, payload);

		g_test_message ("%s %s", cases[i].topic, cases[i].payload);
		g_assert_cmpint (incoming->kind, ==, TB_INCOMING_IGNORED);
		g_assert_nonnull (incoming->why_ignored);
		g_assert_nonnull (strstr (incoming->why_ignored, cases[i].why));
		g_assert_null (incoming->request_id);
		g_assert_null (incoming->method);
	}
}

static void
test_response_topic (void)
{
	const gchar *bad[] = { "", "abc", "4a", "-1", "1 ", "+", "#", "1/2" };
	g_autofree gchar *topic = tb_rules_response_topic ("42", NULL);
	g_autoptr(GError) error_null = NULL;

	g_assert_cmpstr (topic, ==, "v1/devices/me/rpc/response/42");

	for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *none = tb_rules_response_topic (bad[i], &error);

		g_assert_null (none);
		g_assert_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
		g_assert_nonnull (strstr (error->message, "is not a ThingsBoard RPC request id"));
	}

	g_assert_null (tb_rules_response_topic (NULL, &error_null));
	g_assert_error (error_null, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
}

static void
test_response_payload (void)
{
	g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
	g_autoptr(GBytes) json = bytes_from_string ("{\"ok\": true}");
	g_autoptr(GBytes) scalar = bytes_from_string ("\"done\"");
	g_autoptr(GBytes) not_json = bytes_from_string ("done");
	g_autoptr(GBytes) wire = NULL;
	g_autoptr(GBytes) wire_scalar = NULL;
	g_autoptr(GBytes) wire_404 = NULL;
	g_autoptr(GBytes) wire_400 = NULL;
	g_autoptr(GBytes) wire_500_json = NULL;
	g_autoptr(GError) error_empty = NULL;
	g_autoptr(GError) error_not_json = NULL;
	g_autoptr(GError) error_not_json_500 = NULL;
	g_autoptr(GError) error_id = NULL;

	/* JSON goes out as it is */
	wire = tb_rules_response_payload ("42", 200, json, NULL);
	g_assert_true (g_bytes_equal (wire, json));
	wire_scalar = tb_rules_response_payload ("42", 200, scalar, NULL);
	g_assert_true (g_bytes_equal (wire_scalar, scalar));
	wire_500_json = tb_rules_response_payload ("42", 500, json, NULL);
	g_assert_true (g_bytes_equal (wire_500_json, json));

	/* an empty failure becomes an error object */
	wire_404 = tb_rules_response_payload ("42", 404, empty, NULL);
	g_assert_cmpmem (g_bytes_get_data (wire_404, NULL), g_bytes_get_size (wire_404),
	                 "{\"error\":\"status 404\"}", strlen ("{\"error\":\"status 404\"}"));
	wire_400 = tb_rules_response_payload ("42", 400, NULL, NULL);
	g_assert_cmpmem (g_bytes_get_data (wire_400, NULL), g_bytes_get_size (wire_400),
	                 "{\"error\":\"status 400\"}", strlen ("{\"error\":\"status 400\"}"));

	/* an empty success is not JSON */
	g_assert_null (tb_rules_response_payload ("42", 399, empty, &error_empty));
	g_assert_error (error_empty, TETHER_ERROR, TETHER_ERROR_REFUSED);
	g_assert_nonnull (strstr (error_empty->message, "the response to request 42 is empty"));

	g_assert_null (tb_rules_response_payload ("42", 200, not_json, &error_not_json));
	g_assert_error (error_not_json, TETHER_ERROR, TETHER_ERROR_REFUSED);
	g_assert_nonnull (strstr (error_not_json->message,
	                          "the response to request 42 must be JSON: line 1"));
	g_assert_null (tb_rules_response_payload ("42", 500, not_json, &error_not_json_500));
	g_assert_error (error_not_json_500, TETHER_ERROR, TETHER_ERROR_REFUSED);

	g_assert_null (tb_rules_response_payload ("x", 200, json, &error_id));
	g_assert_error (error_id, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT);
}

static void
test_response_size (void)
{
	gsize max = 65536 - 2 - strlen ("v1/devices/me/rpc/response/12345") - 2;
	g_autoptr(GBytes) largest = payload_of_size (max);
	g_autoptr(GBytes) too_large = payload_of_size (max + 1);
	g_autoptr(GBytes) wire = NULL;
	g_autoptr(GError) error = NULL;

	wire = tb_rules_response_payload ("12345", 200, largest, NULL);
	g_assert_nonnull (wire);
	g_assert_null (tb_rules_response_payload ("12345", 200, too_large, &error));
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED);
	g_assert_nonnull (strstr (error->message, "send a shorter response"));
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);

	g_test_add_func ("/thingsboard/rules/topics", test_topics);
	g_test_add_func ("/thingsboard/rules/payload/accepted", test_payload_accepted);
	g_test_add_func ("/thingsboard/rules/payload/refused", test_payload_refused);
	g_test_add_func ("/thingsboard/rules/payload/null", test_payload_null);
	g_test_add_func ("/thingsboard/rules/payload/not-utf8", test_payload_not_utf8);
	g_test_add_func ("/thingsboard/rules/payload/size", test_payload_size);
	g_test_add_func ("/thingsboard/rules/payload/kind", test_payload_kind);
	g_test_add_func ("/thingsboard/rules/incoming/command", test_incoming_command);
	g_test_add_func ("/thingsboard/rules/incoming/desired-properties",
	                 test_incoming_desired_properties);
	g_test_add_func ("/thingsboard/rules/incoming/ignored", test_incoming_ignored);
	g_test_add_func ("/thingsboard/rules/response/topic", test_response_topic);
	g_test_add_func ("/thingsboard/rules/response/payload", test_response_payload);
	g_test_add_func ("/thingsboard/rules/response/size", test_response_size);

	return g_test_run ();
}
