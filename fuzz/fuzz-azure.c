/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * libFuzzer target for what the Azure IoT Central plugin reads from the
 * network and from its state directory: incoming MQTT topics (property bags,
 * twin and method topics), DPS answers and their descriptions, twin documents
 * and hub error answers, the cached assignment, and payloads checked before
 * they are queued. The first byte of an input picks the parser; the rest is
 * its input.
 */

#include <stdint.h>
#include <string.h>

#include "azure-rules.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fuzz_topic (const gchar *topic)
{
	g_autoptr(AzureIncoming) incoming = azure_rules_classify_incoming ("dev-1", topic);

	g_assert_nonnull (incoming);
	if (incoming->kind == AZURE_INCOMING_IGNORED)
		g_assert_nonnull (incoming->why_ignored);
	if (incoming->kind == AZURE_INCOMING_MESSAGE)
		g_assert_nonnull (incoming->properties);
	if (incoming->kind == AZURE_INCOMING_COMMAND) {
		g_autofree gchar *answer =
		        azure_rules_method_response_topic (incoming->request_id, 200, NULL);

		g_assert_nonnull (incoming->method);
		g_assert_nonnull (answer);
	}
}

static void
fuzz_dps_reply (GBytes *body, guint status)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AzureDpsReply) reply = azure_dps_reply_parse (body, &error);
	g_autofree gchar *text = azure_rules_dps_describe_failure (status, reply);

	g_assert_true ((reply == NULL) == (error != NULL));
	g_assert_nonnull (text);
}

static void
fuzz_twin (GBytes *payload)
{
	gboolean has_version = FALSE;
	gint64 version = 0;
	g_autoptr(GBytes) desired = azure_rules_twin_desired (payload, &has_version, &version);
	g_autofree gchar *message = azure_rules_error_message (payload);

	g_assert_true (desired != NULL || !has_version);
	g_assert_true (message == NULL || g_utf8_validate (message, -1, NULL));
}

static void
fuzz_assignment (const guint8 *data, gsize size)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AzureAssignment) assignment =
	                   azure_assignment_from_json ((const gchar *) data, size, &error);
	g_autofree gchar *json = NULL;
	g_autoptr(AzureAssignment) again = NULL;

	if (assignment == NULL) {
		g_assert_nonnull (error);
		return;
	}

	/* what was read is written back the same */
	json = azure_assignment_to_json (assignment);
	again = azure_assignment_from_json (json, strlen (json), NULL);
	g_assert_nonnull (again);
	g_assert_cmpstr (again->hub, ==, assignment->hub);
	g_assert_cmpstr (again->device_id, ==, assignment->device_id);
}

static void
fuzz_payload (GBytes *payload)
{
	g_autoptr(GError) error = NULL;
	gboolean ok = azure_rules_check_payload (AZURE_KIND_TELEMETRY, payload, &error);
	g_autoptr(GBytes) reported = azure_rules_reported_payload (payload, "thermostat1", NULL);

	g_assert_true (ok == (error == NULL));
	g_assert_true (ok == (reported != NULL));
	if (reported != NULL)
		g_assert_true (azure_rules_check_payload (AZURE_KIND_ATTRIBUTES, reported, NULL));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	g_autoptr(GBytes) rest = NULL;
	g_autofree gchar *text = NULL;

	if (size == 0)
		return 0;
	rest = g_bytes_new_static (data + 1, size - 1);
	text = g_strndup ((const gchar *) data + 1, size - 1);

	switch (data[0] % 6) {
	case 0:
		fuzz_topic (text);
		break;
	case 1:
		fuzz_dps_reply (rest, 200);
		break;
	case 2:
		fuzz_dps_reply (rest, 401);
		break;
	case 3:
		fuzz_twin (rest);
		break;
	case 4:
		fuzz_assignment (data + 1, size - 1);
		break;
	default:
		fuzz_payload (rest);
		break;
	}
	return 0;
}
