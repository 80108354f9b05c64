/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <json-glib/json-glib.h>
#include <string.h>
#include <tether/tether.h>

#include "aws-rules.h"

static GBytes *
bytes_from_string (const gchar *text)
{
	return g_bytes_new (text, strlen (text));
}

static void
assert_refused (GError *error, const gchar *needle)
{
	g_assert_error (error, TETHER_ERROR, TETHER_ERROR_REFUSED);
	if (strstr (error->message, needle) == NULL)
		g_error ("the error does not say '%s': %s", needle, error->message);
}

static void
check_topic_refused (const gchar *topic, gsize length, const gchar *needle)
{
	g_autoptr(GError) error = NULL;

	g_assert_false (aws_rules_check_topic (topic, length, &error));
	assert_refused (error, needle);
}

static void
test_topics (void)
{
	g_autofree gchar *longest = NULL;
	g_autofree gchar *too_long = NULL;
	const gchar nul[] = "dt/a\0b";

	g_assert_true (aws_rules_check_topic ("dt/thing/telemetry", 18, NULL));
	g_assert_true (aws_rules_check_topic ("a/b/c/d/e/f/g/h", 15, NULL));
	g_assert_true (aws_rules_check_topic ("caf\xc3\xa9/x", 7, NULL));

	/* the limit, and one byte more */
	longest = g_strnfill (AWS_MAX_TOPIC_BYTES, 'a');
	g_assert_true (aws_rules_check_topic (longest, strlen (longest), NULL));
	too_long = g_strnfill (AWS_MAX_TOPIC_BYTES + 1, 'a');
	check_topic_refused (too_long, strlen (too_long), "256 bytes");

	check_topic_refused ("", 0, "empty");
	check_topic_refused (nul, sizeof nul - 1, "NUL");
	check_topic_refused ("a/\xff", 3, "UTF-8");
	check_topic_refused ("dt/+/telemetry", 14, "wildcard");
	check_topic_refused ("dt/#", 4, "wildcard");
	check_topic_refused ("$aws/things/x/shadow/update", 27, "'$'");
	check_topic_refused ("a/b/c/d/e/f/g/h/i", 17, "9 levels");
	check_topic_refused ("////////", 8, "at most 8");
}

static void
test_filters (void)
{
	g_autoptr(GError) error = NULL;

	g_assert_true (aws_rules_check_filter ("cmd/thing/#", NULL));
	g_assert_true (aws_rules_check_filter ("cmd/+/reboot", NULL));
	g_assert_true (aws_rules_check_filter ("#", NULL));
	g_assert_false (aws_rules_check_filter ("cmd/a+/b", &error));
	assert_refused (error, "wildcard");
	g_clear_error (&error);
	g_assert_false (aws_rules_check_filter ("cmd/#/b", &error));
	assert_refused (error, "wildcard");
	g_clear_error (&error);
	g_assert_false (aws_rules_check_filter ("", &error));
	assert_refused (error, "empty");

	g_assert_true (aws_rules_filter_matches ("cmd/+/reboot", "cmd/t1/reboot"));
	g_assert_false (aws_rules_filter_matches ("cmd/+/reboot", "cmd/t1/x/reboot"));
	g_assert_true (aws_rules_filter_matches ("cmd/#", "cmd/t1/x/reboot"));
	g_assert_true (aws_rules_filter_matches ("cmd/#", "cmd"));
	g_assert_false (aws_rules_filter_matches ("#", "$aws/things/t/shadow/update"));
	g_assert_true (aws_rules_filter_matches ("$aws/events/#", "$aws/events/presence"));
}

static void
test_limits (void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *long_id = g_strnfill (AWS_MAX_CLIENT_ID_BYTES + 1, 'c');
	g_autofree gchar *longest_id = g_strnfill (AWS_MAX_CLIENT_ID_BYTES, 'c');

	g_assert_true (aws_rules_check_payload_size (AWS_MAX_PAYLOAD, NULL));
	g_assert_false (aws_rules_check_payload_size (AWS_MAX_PAYLOAD + 1, &error));
	assert_refused (error, "131072");
	g_clear_error (&error);

	g_assert_true (aws_rules_check_client_id ("thing-1", NULL));
	g_assert_true (aws_rules_check_client_id (longest_id, NULL));
	g_assert_false (aws_rules_check_client_id (long_id, &error));
	assert_refused (error, "128");
	g_clear_error (&error);
	g_assert_false (aws_rules_check_client_id ("$thing", &error));
	assert_refused (error, "'$'");
	g_clear_error (&error);
	g_assert_false (aws_rules_check_client_id ("", &error));
	assert_refused (error, "empty");
	g_clear_error (&error);

	g_assert_true (aws_rules_check_keepalive (30, NULL));
	g_assert_true (aws_rules_check_keepalive (1200, NULL));
	g_assert_false (aws_rules_check_keepalive (29, &error));
	assert_refused (error, "30 to 1200");
	g_clear_error (&error);
	g_assert_false (aws_rules_check_keepalive (1201, &error));
	assert_refused (error, "30 to 1200");
	g_clear_error (&error);

	g_assert_true (aws_rules_check_thing_name ("thing:1_a-b", "test", NULL));
	g_assert_false (aws_rules_check_thing_name ("thing/1", "test", &error));
	assert_refused (error, "thing-name");
	g_clear_error (&error);
	g_assert_false (aws_rules_check_thing_name ("a+", "test", NULL));
	g_assert_true (aws_rules_check_shadow_name ("config", NULL));
	g_assert_false (aws_rules_check_shadow_name ("con fig", NULL));
	g_assert_true (aws_rules_check_template_name ("fleet_template-1", NULL));
	g_assert_false (aws_rules_check_template_name ("fleet/template", NULL));
}

static void
test_alpn (void)
{
	g_assert_true (aws_rules_wants_alpn (443, FALSE, FALSE));
	g_assert_false (aws_rules_wants_alpn (8883, FALSE, FALSE));
	g_assert_true (aws_rules_wants_alpn (8883, TRUE, TRUE));
	g_assert_false (aws_rules_wants_alpn (443, TRUE, FALSE));
}

static void
test_topics_made (void)
{
	g_autofree gchar *telemetry = aws_rules_default_telemetry_topic ("t1");
	g_autofree gchar *event = aws_rules_default_event_topic ("t1");
	g_autofree gchar *classic = aws_rules_shadow_topic ("t1", NULL, "update");
	g_autofree gchar *named = aws_rules_shadow_topic ("t1", "config", "update/delta");
	g_autofree gchar *token = aws_rules_client_token (42);
	guint64 id = 0;

	g_assert_cmpstr (telemetry, ==, "dt/t1/telemetry");
	g_assert_cmpstr (event, ==, "dt/t1/event");
	g_assert_cmpstr (classic, ==, "$aws/things/t1/shadow/update");
	g_assert_cmpstr (named, ==, "$aws/things/t1/shadow/name/config/update/delta");
	g_assert_cmpstr (token, ==, "tether-42");
	g_assert_true (aws_rules_parse_client_token (token, &id));
	g_assert_cmpuint (id, ==, 42);
	g_assert_false (aws_rules_parse_client_token ("tether-", &id));
	g_assert_false (aws_rules_parse_client_token ("tether--1", &id));
	g_assert_false (aws_rules_parse_client_token ("other-42", &id));
	g_assert_false (aws_rules_parse_client_token (NULL, &id));
}

static void
test_shadow_update (void)
{
	g_autoptr(GBytes) reported = bytes_from_string ("{\"led\": \"on\", \"v\": 1.50}");
	g_autoptr(GBytes) array = bytes_from_string ("[1,2]");
	g_autoptr(GBytes) broken = bytes_from_string ("{\"led\":");
	g_autoptr(GBytes) update = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *expected = "{\"state\":{\"reported\":{\"led\": \"on\", \"v\": "
	                        "1.50}},\"clientToken\":\"tether-7\"}";
	g_autoptr(JsonParser) parser = json_parser_new ();

	/* the application's bytes are kept as they were, inside a valid document */
	update = aws_rules_shadow_update (reported, 7, &error);
	g_assert_no_error (error);
	g_assert_cmpmem (g_bytes_get_data (update, NULL), g_bytes_get_size (update), expected,
	                 strlen (expected));
	g_assert_true (json_parser_load_from_data (parser, expected, -1, NULL));

	g_assert_null (aws_rules_shadow_update (array, 7, &error));
	assert_refused (error, "JSON object");
	g_clear_error (&error);
	g_assert_null (aws_rules_shadow_update (broken, 7, &error));
	assert_refused (error, "JSON object");
}

static void
test_incoming (void)
{
	const gchar *const subscriptions[] = { "cmd/t1/#", NULL };
	g_autoptr(GBytes) accepted = bytes_from_string (
	        "{\"state\":{\"reported\":{\"a\":1}},\"version\":5,\"clientToken\":\"tether-9\"}");
	g_autoptr(GBytes) rejected = bytes_from_string (
	        "{\"code\":400,\"message\":\"Missing required node: state\","
	        "\"clientToken\":\"tether-10\"}");
	g_autoptr(GBytes) foreign = bytes_from_string (
	        "{\"state\":{\"reported\":{\"a\":1}},\"version\":6,\"clientToken\":\"console\"}");
	g_autoptr(GBytes) delta = bytes_from_string (
	        "{\"version\":12,\"state\":{\"led\":\"off\"},\"timestamp\":1}");
	g_autoptr(GBytes) anything = bytes_from_string ("reboot now");
	g_autoptr(AwsIncoming) a = NULL;
	g_autoptr(AwsIncoming) r = NULL;
	g_autoptr(AwsIncoming) f = NULL;
	g_autoptr(AwsIncoming) d = NULL;
	g_autoptr(AwsIncoming) named = NULL;
	g_autoptr(AwsIncoming) m = NULL;
	g_autoptr(AwsIncoming) other = NULL;
	g_autoptr(AwsIncoming) other_thing = NULL;

	a = aws_rules_classify_incoming ("t1", subscriptions,
	                                 "$aws/things/t1/shadow/update/accepted", accepted);
	g_assert_cmpint (a->kind, ==, AWS_INCOMING_SHADOW_ACCEPTED);
	g_assert_cmpuint (a->id, ==, 9);
	g_assert_cmpint (a->status_code, ==, 200);
	g_assert_true (a->has_version);
	g_assert_cmpint (a->version, ==, 5);
	g_assert_null (a->shadow);

	r = aws_rules_classify_incoming ("t1", subscriptions,
	                                 "$aws/things/t1/shadow/update/rejected", rejected);
	g_assert_cmpint (r->kind, ==, AWS_INCOMING_SHADOW_REJECTED);
	g_assert_cmpuint (r->id, ==, 10);
	g_assert_cmpint (r->status_code, ==, 400);
	g_assert_cmpstr (r->message, ==, "Missing required node: state");

	f = aws_rules_classify_incoming ("t1", subscriptions,
	                                 "$aws/things/t1/shadow/update/accepted", foreign);
	g_assert_cmpint (f->kind, ==, AWS_INCOMING_IGNORED);

	d = aws_rules_classify_incoming ("t1", subscriptions, "$aws/things/t1/shadow/update/delta",
	                                 delta);
	g_assert_cmpint (d->kind, ==, AWS_INCOMING_SHADOW_DELTA);
	g_assert_true (d->has_version);
	g_assert_cmpint (d->version, ==, 12);

	named = aws_rules_classify_incoming (
	        "t1", subscriptions, "$aws/things/t1/shadow/name/config/update/delta", delta);
	g_assert_cmpint (named->kind, ==, AWS_INCOMING_SHADOW_DELTA);
	g_assert_cmpstr (named->shadow, ==, "config");

	m = aws_rules_classify_incoming ("t1", subscriptions, "cmd/t1/reboot", anything);
	g_assert_cmpint (m->kind, ==, AWS_INCOMING_MESSAGE);
	other = aws_rules_classify_incoming ("t1", subscriptions, "cmd/t2/reboot", anything);
	g_assert_cmpint (other->kind, ==, AWS_INCOMING_IGNORED);
	other_thing = aws_rules_classify_incoming ("t1", subscriptions,
	                                           "$aws/things/t2/shadow/update/delta", delta);
	g_assert_cmpint (other_thing->kind, ==, AWS_INCOMING_IGNORED);
}

static void
test_shadow_get (void)
{
	g_autoptr(GBytes) get = aws_rules_shadow_get ();
	g_autoptr(GBytes) document = bytes_from_string (
	        "{\"state\":{\"desired\":{\"led\":\"on\"},\"reported\":{\"led\":\"off\"},"
	        "\"delta\":{\"led\":\"on\",\"limit\":1e20}},\"metadata\":{},\"version\":3,"
	        "\"clientToken\":\"tether-get\"}");
	g_autoptr(GBytes) in_step = bytes_from_string (
	        "{\"state\":{\"desired\":{\"led\":\"on\"},\"reported\":{\"led\":\"on\"}},"
	        "\"version\":4,\"clientToken\":\"tether-get\"}");
	g_autoptr(GBytes) foreign = bytes_from_string (
	        "{\"state\":{\"delta\":{\"led\":\"on\"}},\"version\":3,\"clientToken\":\"app\"}");
	g_autoptr(AwsIncoming) delta = NULL;
	g_autoptr(AwsIncoming) none = NULL;
	g_autoptr(AwsIncoming) other = NULL;
	/* JSON: json-glib 1.6's own writer gave 1e+20.0 */
	const gchar *expected = "{\"version\":3,\"state\":{\"led\":\"on\",\"limit\":1e+20}}";

	g_assert_cmpmem (g_bytes_get_data (get, NULL), g_bytes_get_size (get),
	                 "{\"clientToken\":\"tether-get\"}", 28);
	delta = aws_rules_classify_incoming ("t1", NULL, "$aws/things/t1/shadow/get/accepted",
	                                     document);
	g_assert_cmpint (delta->kind, ==, AWS_INCOMING_SHADOW_DELTA);
	g_assert_cmpint (delta->version, ==, 3);
	g_assert_nonnull (delta->payload);
	g_assert_cmpmem (g_bytes_get_data (delta->payload, NULL), g_bytes_get_size (delta->payload),
	                 expected, strlen (expected));
	none = aws_rules_classify_incoming ("t1", NULL, "$aws/things/t1/shadow/get/accepted",
	                                    in_step);
	g_assert_cmpint (none->kind, ==, AWS_INCOMING_IGNORED);
	other = aws_rules_classify_incoming ("t1", NULL, "$aws/things/t1/shadow/get/accepted",
	                                     foreign);
	g_assert_cmpint (other->kind, ==, AWS_INCOMING_IGNORED);
}

static void
test_provisioning (void)
{
	g_auto(GStrv) topics = aws_rules_provisioning_subscriptions ("fleet");
	g_autoptr(GBytes) request = aws_rules_create_from_csr_request ("-----BEGIN X-----\nab\n");
	g_autoptr(GBytes) registration = NULL;
	g_autoptr(GVariant) parameters = NULL;
	g_autoptr(GBytes) certificate_answer = bytes_from_string (
	        "{\"certificateId\":\"abc\",\"certificatePem\":\"PEM\","
	        "\"certificateOwnershipToken\":\"tok\"}");
	g_autoptr(GBytes) incomplete = bytes_from_string ("{\"certificateId\":\"abc\"}");
	g_autoptr(GBytes) registered = bytes_from_string (
	        "{\"deviceConfiguration\":{},\"thingName\":\"thing-7\"}");
	g_autoptr(GBytes) bad_thing = bytes_from_string ("{\"thingName\":\"thing/7\"}");
	g_autoptr(GBytes) rejection = bytes_from_string (
	        "{\"statusCode\":400,\"errorCode\":\"InvalidParameters\","
	        "\"errorMessage\":\"SerialNumber is missing\"}");
	g_autoptr(AwsCertificate) certificate = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *thing_name = NULL;
	g_autofree gchar *why = NULL;
	g_autoptr(JsonParser) parser = json_parser_new ();
	JsonObject *object;

	g_assert_cmpuint (g_strv_length (topics), ==, 4);
	g_assert_cmpstr (topics[0], ==, "$aws/certificates/create-from-csr/json/accepted");
	g_assert_cmpstr (topics[3], ==,
	                 "$aws/provisioning-templates/fleet/provision/json/rejected");
	g_assert_cmpint (aws_rules_classify_provisioning ("fleet", topics[0]), ==,
	                 AWS_PROVISIONING_CSR_ACCEPTED);
	g_assert_cmpint (aws_rules_classify_provisioning ("fleet", topics[1]), ==,
	                 AWS_PROVISIONING_CSR_REJECTED);
	g_assert_cmpint (aws_rules_classify_provisioning ("fleet", topics[2]), ==,
	                 AWS_PROVISIONING_REGISTER_ACCEPTED);
	g_assert_cmpint (aws_rules_classify_provisioning ("fleet", topics[3]), ==,
	                 AWS_PROVISIONING_REGISTER_REJECTED);
	g_assert_cmpint (
	        aws_rules_classify_provisioning (
	                "other", "$aws/provisioning-templates/fleet/provision/json/accepted"),
	        ==, AWS_PROVISIONING_NONE);

	/* the requests are JSON that carries the values as they were */
	g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (request, NULL),
	                                           (gssize) g_bytes_get_size (request), NULL));
	object = json_node_get_object (json_parser_get_root (parser));
	g_assert_cmpstr (json_object_get_string_member (object, "certificateSigningRequest"), ==,
	                 "-----BEGIN X-----\nab\n");
	parameters = g_variant_ref_sink (
	        g_variant_new_parsed ("{'SerialNumber': '1234', 'Model': 'x'}"));
	registration = aws_rules_register_thing_request ("tok", parameters);
	g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (registration, NULL),
	                                           (gssize) g_bytes_get_size (registration), NULL));
	object = json_node_get_object (json_parser_get_root (parser));
	g_assert_cmpstr (json_object_get_string_member (object, "certificateOwnershipToken"), ==,
	                 "tok");
	g_assert_cmpstr (
	        json_object_get_string_member (json_object_get_object_member (object, "parameters"),
	                                       "SerialNumber"),
	        ==, "1234");

	certificate = aws_rules_parse_certificate (certificate_answer, &error);
	g_assert_no_error (error);
	g_assert_cmpstr (certificate->certificate_id, ==, "abc");
	g_assert_cmpstr (certificate->certificate_pem, ==, "PEM");
	g_assert_cmpstr (certificate->ownership_token, ==, "tok");
	g_assert_null (aws_rules_parse_certificate (incomplete, &error));
	g_assert_nonnull (strstr (error->message, "certificatePem"));
	g_clear_error (&error);

	thing_name = aws_rules_parse_registration (registered, &error);
	g_assert_no_error (error);
	g_assert_cmpstr (thing_name, ==, "thing-7");
	g_assert_null (aws_rules_parse_registration (bad_thing, &error));
	g_assert_nonnull (error);

	why = aws_rules_describe_rejection (rejection);
	g_assert_cmpstr (why, ==, "InvalidParameters (400): SerialNumber is missing");
}

static void
test_untrusted_hint (void)
{
	g_autofree gchar *verisign = aws_rules_untrusted_hint (
	        "a1b2-ats.iot.eu-west-1.amazonaws.com",
	        "VeriSign Class 3 Public Primary Certification Authority - G5");
	g_autofree gchar *legacy =
	        aws_rules_untrusted_hint ("a1b2.iot.eu-west-1.amazonaws.com", "Some Root");
	g_autofree gchar *neither =
	        aws_rules_untrusted_hint ("a1b2-ats.iot.eu-west-1.amazonaws.com", "Some Root");

	g_assert_nonnull (verisign);
	g_assert_nonnull (strstr (verisign, "legacy"));
	g_assert_nonnull (strstr (verisign, "iot:Data-ATS"));
	g_assert_nonnull (legacy);
	g_assert_null (neither);
}

static void
test_alpn_hint (void)
{
	g_autofree gchar *not_offered = aws_rules_alpn_hint (FALSE);
	g_autofree gchar *offered = aws_rules_alpn_hint (TRUE);

	g_assert_nonnull (strstr (not_offered, "alpn=true"));
	g_assert_nonnull (strstr (not_offered, AWS_ALPN_PROTOCOL));
	g_assert_null (strstr (offered, "alpn=true"));
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);

	g_test_add_func ("/aws-iot/rules/topics", test_topics);
	g_test_add_func ("/aws-iot/rules/filters", test_filters);
	g_test_add_func ("/aws-iot/rules/limits", test_limits);
	g_test_add_func ("/aws-iot/rules/alpn", test_alpn);
	g_test_add_func ("/aws-iot/rules/topics-made", test_topics_made);
	g_test_add_func ("/aws-iot/rules/shadow-update", test_shadow_update);
	g_test_add_func ("/aws-iot/rules/incoming", test_incoming);
	g_test_add_func ("/aws-iot/rules/shadow-get", test_shadow_get);
	g_test_add_func ("/aws-iot/rules/provisioning", test_provisioning);
	g_test_add_func ("/aws-iot/rules/untrusted-hint", test_untrusted_hint);
	g_test_add_func ("/aws-iot/rules/alpn-hint", test_alpn_hint);
	return g_test_run ();
}
