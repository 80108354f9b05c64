/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * ThingsBoard's rules for a device on its MQTT API: pure functions, without
 * GObject state or I/O, so they are tested without a daemon or a server.
 */

/*
 * The largest MQTT message ThingsBoard takes by default (the MQTT transport's
 * netty.max_payload_size, environment NETTY_MAX_PAYLOAD_SIZE). Its operator
 * can configure it on the server. The server counts everything after the MQTT
 * fixed header (topic, packet id and payload), so a payload gets this much
 * less its topic's overhead: see tb_rules_max_payload().
 */
#define TB_MAX_MESSAGE_SIZE 65536

#define TB_DEFAULT_PORT 8883

#define TB_KIND_TELEMETRY  "telemetry"
#define TB_KIND_ATTRIBUTES "attributes"

#define TB_TOPIC_TELEMETRY           "v1/devices/me/telemetry"
#define TB_TOPIC_ATTRIBUTES          "v1/devices/me/attributes"
#define TB_TOPIC_RPC_REQUEST_PREFIX  "v1/devices/me/rpc/request/"
#define TB_TOPIC_RPC_REQUESTS        TB_TOPIC_RPC_REQUEST_PREFIX "+"
#define TB_TOPIC_RPC_RESPONSE_PREFIX "v1/devices/me/rpc/response/"

/* the topic a kind is published on, NULL for a kind ThingsBoard does not take */
const gchar *tb_rules_topic_for_kind (const gchar *kind);

/* the largest payload a QoS 1 message on @topic may carry */
gsize tb_rules_max_payload (const gchar *topic);

/*
 * checks a telemetry or attributes payload: valid UTF-8 JSON, an object or an
 * array of objects; telemetry objects with "ts" carry an integer "ts" and a
 * "values" object
 */
gboolean tb_rules_check_payload (const gchar *kind, GBytes *payload, GError **error);

typedef enum {
	TB_INCOMING_IGNORED,
	TB_INCOMING_COMMAND,            /* a server-side RPC request */
	TB_INCOMING_DESIRED_PROPERTIES, /* a shared attribute update */
} TbIncomingKind;

typedef struct {
	TbIncomingKind kind;
	gchar *request_id;  /* TB_INCOMING_COMMAND */
	gchar *method;      /* TB_INCOMING_COMMAND */
	gchar *why_ignored; /* TB_INCOMING_IGNORED: for a debug log, never holds payload */
} TbIncoming;

/* what a message that arrived on @topic is; never NULL */
TbIncoming *tb_rules_classify_incoming (const gchar *topic, GBytes *payload);
void tb_incoming_free (TbIncoming *incoming);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TbIncoming, tb_incoming_free)

/* whether @request_id is a ThingsBoard RPC request id: a non-empty run of digits */
gboolean tb_rules_is_request_id (const gchar *request_id);

/* the topic that answers the RPC request @request_id */
gchar *tb_rules_response_topic (const gchar *request_id, GError **error);

/*
 * the payload on the wire that answers the RPC request @request_id with
 * @status: @payload itself when it is JSON, {"error":"status N"} when it is
 * empty and @status is 400 or more
 */
GBytes *tb_rules_response_payload (const gchar *request_id, gint status, GBytes *payload,
                                   GError **error);

G_END_DECLS
