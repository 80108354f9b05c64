/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * AWS IoT Core's rules for a device on its MQTT API: pure functions, without
 * GObject state or I/O, so they are tested without a daemon or a broker.
 * Every check fails with TETHER_ERROR_REFUSED and names the rule.
 */

#define AWS_DEFAULT_PORT 8883
/* on this port AWS IoT Core speaks MQTT only to a client that offers AWS_ALPN_PROTOCOL */
#define AWS_ALPN_PORT     443
#define AWS_ALPN_PROTOCOL "x-amzn-mqtt-ca"

/* the largest payload of one message: 128 KiB */
#define AWS_MAX_PAYLOAD (128 * 1024)
/*
 * The longest publish topic in bytes. The figure needs confirming against
 * AWS's published quotas (CLOUDS.md marks it "check"); keep it here only.
 */
#define AWS_MAX_TOPIC_BYTES 256
/* at most 8 levels: 7 forward slashes */
#define AWS_MAX_TOPIC_SLASHES   7
#define AWS_MAX_CLIENT_ID_BYTES 128
#define AWS_MIN_KEEPALIVE       30
#define AWS_MAX_KEEPALIVE       1200
/* CreateThing: 1 to 128 characters of [a-zA-Z0-9:_-] */
#define AWS_MAX_THING_NAME 128
/* named shadows: 1 to 64 characters of [a-zA-Z0-9:_-] */
#define AWS_MAX_SHADOW_NAME 64
/* provisioning templates: 1 to 36 characters of [0-9A-Za-z_-] */
#define AWS_MAX_TEMPLATE_NAME 36

#define AWS_KIND_TELEMETRY  "telemetry"
#define AWS_KIND_EVENT      "event"
#define AWS_KIND_ATTRIBUTES "attributes"

/* the clientToken of a shadow update is this prefix and the message id */
#define AWS_CLIENT_TOKEN_PREFIX "tether-"
/* the clientToken of the shadow GET made on each connection */
#define AWS_GET_CLIENT_TOKEN "tether-get"

#define AWS_TOPIC_CREATE_FROM_CSR          "$aws/certificates/create-from-csr/json"
#define AWS_TOPIC_CREATE_FROM_CSR_ACCEPTED AWS_TOPIC_CREATE_FROM_CSR "/accepted"
#define AWS_TOPIC_CREATE_FROM_CSR_REJECTED AWS_TOPIC_CREATE_FROM_CSR "/rejected"

/* a publish topic an application names: not empty, no wildcard, no $, 8 levels, 256 bytes */
gboolean aws_rules_check_topic (const gchar *topic, gsize length, GError **error);
/* a topic filter to subscribe to: wildcards only as whole levels, # last */
gboolean aws_rules_check_filter (const gchar *filter, GError **error);
/* whether @topic matches the subscription @filter */
gboolean aws_rules_filter_matches (const gchar *filter, const gchar *topic);
gboolean aws_rules_check_payload_size (gsize size, GError **error);
gboolean aws_rules_check_client_id (const gchar *client_id, GError **error);
gboolean aws_rules_check_keepalive (guint keepalive, GError **error);
/* @what names where the name came from, for the error */
gboolean aws_rules_check_thing_name (const gchar *name, const gchar *what, GError **error);
gboolean aws_rules_check_shadow_name (const gchar *name, GError **error);
gboolean aws_rules_check_template_name (const gchar *name, GError **error);
/* a tether identity's name (claim-identity): ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ */
gboolean aws_rules_check_identity_name (const gchar *name, GError **error);

/* ALPN is offered when the "alpn" option says so, or else when the port is 443 */
gboolean aws_rules_wants_alpn (guint16 port, gboolean has_option, gboolean option);

gchar *aws_rules_default_telemetry_topic (const gchar *thing_name);
gchar *aws_rules_default_event_topic (const gchar *thing_name);
/* $aws/things/<thing>/shadow[/name/<shadow>]/<operation> */
gchar *aws_rules_shadow_topic (const gchar *thing_name, const gchar *shadow,
                               const gchar *operation);

gchar *aws_rules_client_token (guint64 id);
/* the message id in a clientToken this plugin made; FALSE for any other token */
gboolean aws_rules_parse_client_token (const gchar *token, guint64 *id);

/*
 * the shadow update for an "attributes" message: @reported must be a JSON
 * object; the result is {"state":{"reported":<it>},"clientToken":"tether-<id>"}
 */
GBytes *aws_rules_shadow_update (GBytes *reported, guint64 id, GError **error);

/* the shadow GET made on each connection: {"clientToken":"tether-get"} */
GBytes *aws_rules_shadow_get (void);

typedef enum {
	AWS_INCOMING_IGNORED,
	AWS_INCOMING_SHADOW_ACCEPTED, /* an update of ours was accepted */
	AWS_INCOMING_SHADOW_REJECTED, /* an update of ours was rejected */
	AWS_INCOMING_SHADOW_DELTA,    /* desired differs from reported (payload: see below) */
	AWS_INCOMING_MESSAGE,         /* on one of the "subscriptions" */
} AwsIncomingKind;

typedef struct {
	AwsIncomingKind kind;
	guint64 id;         /* ACCEPTED, REJECTED: the message the answer is for */
	gint32 status_code; /* ACCEPTED (200), REJECTED (AWS's "code") */
	gchar *message;     /* REJECTED: AWS's "message"; ACCEPTED: "accepted" */
	gboolean has_version;
	gint64 version;     /* the shadow's version, where AWS gives it */
	gchar *shadow;      /* the named shadow, NULL for the classic one */
	gchar *why_ignored; /* IGNORED: for a debug log, never holds payload */
	/*
	 * DELTA from the answer to our shadow GET: {"version":v,"state":<delta>},
	 * what an update/delta message holds; NULL when the message itself is it
	 */
	GBytes *payload;
} AwsIncoming;

/* what a message that arrived on @topic is; never NULL */
AwsIncoming *aws_rules_classify_incoming (const gchar *thing_name,
                                          const gchar *const *subscriptions, const gchar *topic,
                                          GBytes *payload);
void aws_incoming_free (AwsIncoming *incoming);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AwsIncoming, aws_incoming_free)

/* ---- fleet provisioning by claim ---- */

typedef enum {
	AWS_PROVISIONING_NONE,
	AWS_PROVISIONING_CSR_ACCEPTED,
	AWS_PROVISIONING_CSR_REJECTED,
	AWS_PROVISIONING_REGISTER_ACCEPTED,
	AWS_PROVISIONING_REGISTER_REJECTED,
} AwsProvisioningAnswer;

/* $aws/provisioning-templates/<template>/provision/json */
gchar *aws_rules_register_thing_topic (const gchar *template_name);
/* the topics whose answers a claim session subscribes to, NULL-terminated */
GStrv aws_rules_provisioning_subscriptions (const gchar *template_name);
AwsProvisioningAnswer aws_rules_classify_provisioning (const gchar *template_name,
                                                       const gchar *topic);

/* {"certificateSigningRequest": "<PEM>"} */
GBytes *aws_rules_create_from_csr_request (const gchar *csr_pem);
/* {"certificateOwnershipToken": ..., "parameters": {...}}; @parameters a{ss} or NULL */
GBytes *aws_rules_register_thing_request (const gchar *ownership_token, GVariant *parameters);

typedef struct {
	gchar *certificate_id;
	gchar *certificate_pem;
	gchar *ownership_token;
} AwsCertificate;

AwsCertificate *aws_rules_parse_certificate (GBytes *payload, GError **error);
void aws_certificate_free (AwsCertificate *certificate);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AwsCertificate, aws_certificate_free)

/* the "thingName" of a RegisterThing answer, checked as a thing name */
gchar *aws_rules_parse_registration (GBytes *payload, GError **error);

/* "errorCode (statusCode): errorMessage" from a rejected provisioning answer */
gchar *aws_rules_describe_rejection (GBytes *payload);

/*
 * words to add when the server's chain does not reach the anchors: the
 * legacy (non-ATS) endpoints chain to a VeriSign root. @top_issuer is where
 * the server's chain ends; NULL when there is nothing to add.
 */
gchar *aws_rules_untrusted_hint (const gchar *host, const gchar *top_issuer);

/*
 * words to add when the server ended the handshake because no protocol
 * offered with ALPN suits it (the alert no_application_protocol)
 */
gchar *aws_rules_alpn_hint (gboolean offered);

G_END_DECLS
