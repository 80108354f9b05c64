/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Azure IoT Central's rules for a device: the Device Provisioning Service
 * (DPS) over HTTPS, then IoT Hub over MQTT. Pure functions, without GObject
 * state or I/O, so they are tested without a daemon or a server.
 */

#define AZURE_CLOUD_NAME "azure-iot-central"

/* DPS: where a device registers, and the REST API version it speaks */
#define AZURE_DPS_DEFAULT_HOST     "global.azure-devices-provisioning.net"
#define AZURE_DPS_DEFAULT_PORT     443
#define AZURE_DPS_DEFAULT_ENDPOINT AZURE_DPS_DEFAULT_HOST ":443"
#define AZURE_DPS_API_VERSION      "2021-06-01"

/*
 * how long provisioning may take in all (the register request and every poll
 * of its operation), unless the cloud option "provisioning-timeout" says
 * otherwise; and the bounds of that option
 */
#define AZURE_DPS_DEFAULT_TIMEOUT_S 120
#define AZURE_DPS_MIN_TIMEOUT_S     1
#define AZURE_DPS_MAX_TIMEOUT_S     3600

/* the wait between polls when DPS sends no usable Retry-After, and the longest one taken */
#define AZURE_DPS_DEFAULT_RETRY_AFTER_S 3
#define AZURE_DPS_MAX_RETRY_AFTER_S     60

/* IoT Hub over MQTT */
#define AZURE_HUB_API_VERSION  "2021-04-12"
#define AZURE_HUB_DEFAULT_PORT 8883
/* the largest device-to-cloud message, payload and properties together */
#define AZURE_MAX_MESSAGE_SIZE (256 * 1024)
/* the longest MQTT keep-alive IoT Hub accepts, in seconds */
#define AZURE_MAX_KEEPALIVE_S 1177
/*
 * a registration id is the certificate's common name, and X.509 allows 64
 * characters there (DPS itself would take 128)
 */
#define AZURE_MAX_REGISTRATION_ID 64
/* the longest device id IoT Hub allows: topics are sized with it before DPS names the real one */
#define AZURE_MAX_DEVICE_ID 128
/* DTDL's limit on a component name */
#define AZURE_MAX_COMPONENT 64

#define AZURE_KIND_TELEMETRY          "telemetry"
#define AZURE_KIND_ATTRIBUTES         "attributes"
#define AZURE_KIND_MESSAGE            "message"
#define AZURE_KIND_DESIRED_PROPERTIES "desired-properties"
#define AZURE_KIND_COMMAND            "command"

#define AZURE_TOPIC_TWIN_RESPONSES "$iothub/twin/res/#"
#define AZURE_TOPIC_DESIRED        "$iothub/twin/PATCH/properties/desired/#"
#define AZURE_TOPIC_METHODS        "$iothub/methods/POST/#"

/* ---- names and options ---- */

/*
 * checks a registration id against DPS's rules and IoT Central's (whose
 * device ids are the registration ids): letters, digits and '-' only, at
 * most AZURE_MAX_REGISTRATION_ID characters, ending in a letter, a digit or
 * '-'
 */
gboolean azure_rules_check_registration_id (const gchar *registration_id, GError **error);

/*
 * the registration id a connection registers with: @option (NULL or "" for
 * none) or else @common_name, the identity certificate's; checked, and
 * refused when @option differs from @common_name (DPS group enrollments
 * take only a registration id that is the certificate's CN)
 */
gchar *azure_rules_registration_id (const gchar *option, const gchar *common_name, GError **error);

/* an ID scope, as DPS shows it ("0ne00000000"): letters and digits */
gboolean azure_rules_check_id_scope (const gchar *id_scope, GError **error);

/* a DTDL model id: "dtmi:<segment>[:<segment>]...;<version>" */
gboolean azure_rules_check_model_id (const gchar *model_id, GError **error);

/* a DTDL component name: a letter, then letters, digits or '_', not ending in '_' */
gboolean azure_rules_check_component (const gchar *component, GError **error);

/* application properties (a{ss}): names not empty and not starting with '$' */
gboolean azure_rules_check_properties (GVariant *properties, GError **error);

/* ---- IoT Hub over MQTT ---- */

/* "<hub>/<device id>/?api-version=...[&model-id=<encoded model id>]" */
gchar *azure_rules_hub_username (const gchar *hub, const gchar *device_id, const gchar *model_id);

/* "devices/<device id>/messages/devicebound/#" */
gchar *azure_rules_devicebound_filter (const gchar *device_id);

/*
 * the events topic of a telemetry message: "devices/<device id>/messages/events/"
 * and a property bag "$.mid=<id>&$.ct=application%2Fjson&$.ce=utf-8",
 * "&$.sub=<component>" with a component, then the application properties,
 * sorted by name, each name and value URL-encoded
 */
gchar *azure_rules_telemetry_topic (const gchar *device_id, guint64 message_id,
                                    const gchar *component, GVariant *properties);

/* "$iothub/twin/PATCH/properties/reported/?$rid=<message id>" */
gchar *azure_rules_reported_topic (guint64 message_id);

/* "$iothub/twin/GET/?$rid=<request id>" */
gchar *azure_rules_twin_get_topic (const gchar *request_id);

/*
 * the topic that answers the direct method request @request_id with @status:
 * "$iothub/methods/res/<status>/?$rid=<request id>"
 */
gchar *azure_rules_method_response_topic (const gchar *request_id, gint status, GError **error);

/*
 * checks a payload of @kind: telemetry is JSON (IoT Central decodes only
 * JSON), attributes a JSON object (a reported properties patch)
 */
gboolean azure_rules_check_payload (const gchar *kind, GBytes *payload, GError **error);

/*
 * the reported properties patch on the wire: @payload itself, or with a
 * component, {"<component>": {"__t": "c", <the members of @payload>}} as IoT
 * Plug and Play expects
 */
GBytes *azure_rules_reported_payload (GBytes *payload, const gchar *component, GError **error);

/*
 * a direct method's answer: empty, or JSON; @status not negative
 */
gboolean azure_rules_check_response (const gchar *request_id, gint status, GBytes *payload,
                                     GError **error);

/* refuses a message larger than IoT Hub takes: @topic_size bytes of topic and properties */
gboolean azure_rules_check_size (const gchar *kind, gsize topic_size, gsize payload_size,
                                 GError **error);

typedef enum {
	AZURE_INCOMING_IGNORED,
	AZURE_INCOMING_MESSAGE,       /* cloud-to-device */
	AZURE_INCOMING_DESIRED,       /* a desired properties patch */
	AZURE_INCOMING_COMMAND,       /* a direct method request */
	AZURE_INCOMING_TWIN_RESPONSE, /* the hub's answer to a twin GET or PATCH */
} AzureIncomingKind;

typedef struct {
	AzureIncomingKind kind;
	gchar *request_id;      /* COMMAND, TWIN_RESPONSE */
	gchar *method;          /* COMMAND */
	gint status;            /* TWIN_RESPONSE */
	gboolean has_version;   /* DESIRED, TWIN_RESPONSE */
	gint64 version;         /* DESIRED, TWIN_RESPONSE */
	GHashTable *properties; /* MESSAGE: name -> value, decoded */
	gchar *why_ignored;     /* IGNORED: for a debug log, never holds payload */
} AzureIncoming;

/* what a message that arrived on @topic is, for the device @device_id; never NULL */
AzureIncoming *azure_rules_classify_incoming (const gchar *device_id, const gchar *topic);
void azure_incoming_free (AzureIncoming *incoming);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AzureIncoming, azure_incoming_free)

/*
 * the desired section of a full twin (the answer to a twin GET), and its
 * "$version"; NULL when @twin is not a twin document
 */
GBytes *azure_rules_twin_desired (GBytes *twin, gboolean *has_version, gint64 *version);

/* the "message" of a hub's error answer (JSON with "message"), or NULL */
gchar *azure_rules_error_message (GBytes *payload);

/* ---- DPS ---- */

/* "/<scope>/registrations/<registration id>/register" */
gchar *azure_rules_dps_register_path (const gchar *id_scope, const gchar *registration_id);
/* "/<scope>/registrations/<registration id>/operations/<operation id>" */
gchar *azure_rules_dps_operation_path (const gchar *id_scope, const gchar *registration_id,
                                       const gchar *operation_id);
/* "api-version=..." */
const gchar *azure_rules_dps_query (void);

/* {"registrationId": "...", "payload": {"modelId": "..."}} (no payload without a model id) */
GBytes *azure_rules_dps_register_body (const gchar *registration_id, const gchar *model_id);

/* what DPS answered, as far as the device cares */
typedef struct {
	gchar *status; /* "assigning", "assigned", "failed", "disabled", "unassigned" */
	gchar *operation_id;
	gchar *assigned_hub;
	gchar *device_id;
	gint64 error_code; /* 0 when none */
	gchar *error_message;
	gchar *tracking_id;
} AzureDpsReply;

/* a DPS answer's body; NULL with an error when it is not JSON or not an object */
AzureDpsReply *azure_dps_reply_parse (GBytes *body, GError **error);
void azure_dps_reply_free (AzureDpsReply *reply);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AzureDpsReply, azure_dps_reply_free)

/*
 * what an answer that is not an assignment means, in plain words, and what to
 * do about it: an HTTP error (@http_status 400 and up, with the error body
 * in @reply, which may be NULL) or a registration that ended "failed",
 * "disabled" or "unassigned"
 */
gchar *azure_rules_dps_describe_failure (guint http_status, const AzureDpsReply *reply);

/* the seconds a Retry-After header asks for (NULL: none), within the bounds above */
guint azure_rules_parse_retry_after (const gchar *value);

/* ---- the assignment, as cached in the connection's state directory ---- */

#define AZURE_ASSIGNMENT_FORMAT_VERSION 1

typedef struct {
	gchar *dps_endpoint; /* "host:port" the device registered with */
	gchar *id_scope;
	gchar *registration_id;
	gchar *hub; /* the IoT Hub's host name */
	gchar *device_id;
} AzureAssignment;

AzureAssignment *azure_assignment_new (const gchar *dps_endpoint, const gchar *id_scope,
                                       const gchar *registration_id, const gchar *hub,
                                       const gchar *device_id);
void azure_assignment_free (AzureAssignment *assignment);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AzureAssignment, azure_assignment_free)
gchar *azure_assignment_to_json (const AzureAssignment *assignment);
/* NULL with an error when @data is not a cached assignment of this format version */
AzureAssignment *azure_assignment_from_json (const gchar *data, gsize length, GError **error);
/* whether @assignment was made for this DPS endpoint, scope and registration id */
gboolean azure_assignment_matches (const AzureAssignment *assignment, const gchar *dps_endpoint,
                                   const gchar *id_scope, const gchar *registration_id);

G_END_DECLS
