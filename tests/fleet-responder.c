/*
 * AWS IoT fleet provisioning, as the test broker's other client: answers
 * CreateCertificateFromCsr by signing the device's CSR with a test CA, and
 * RegisterThing for one template by naming the thing "thing-<SerialNumber>".
 *
 * Usage: fleet-responder --port PORT --server-ca FILE --cert FILE --key FILE
 *          --ca-cert FILE --ca-key FILE --template NAME --ready FILE
 *          [--reject-csr]
 *
 * It connects with --cert and --key, subscribes to the two request topics,
 * writes the --ready file, and answers until it is killed. A RegisterThing
 * request without the SerialNumber parameter, or with an ownership token it
 * did not issue, is rejected as AWS rejects it; --reject-csr rejects every
 * CSR. One line a request on standard error says what it did.
 */
#include <MQTTClient.h>
#include <unistd.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "pki/tether-test-pki.h"

#define CSR_TOPIC      "$aws/certificates/create-from-csr/json"
#define REGISTER_TOPIC "$aws/provisioning-templates/+/provision/json"

static gchar *opt_server_ca;
static gchar *opt_cert;
static gchar *opt_key;
static gchar *opt_ca_cert;
static gchar *opt_ca_key;
static gchar *opt_template;
static gchar *opt_ready;
static gint opt_port;
static gboolean opt_reject_csr;

static const GOptionEntry entries[] = {
	{ "port", 0, 0, G_OPTION_ARG_INT, &opt_port, "the broker's port", "PORT" },
	{ "server-ca", 0, 0, G_OPTION_ARG_FILENAME, &opt_server_ca, "the broker's CA", "FILE" },
	{ "cert", 0, 0, G_OPTION_ARG_FILENAME, &opt_cert, "this client's certificate", "FILE" },
	{ "key", 0, 0, G_OPTION_ARG_FILENAME, &opt_key, "this client's key", "FILE" },
	{ "ca-cert", 0, 0, G_OPTION_ARG_FILENAME, &opt_ca_cert, "the CA that signs", "FILE" },
	{ "ca-key", 0, 0, G_OPTION_ARG_FILENAME, &opt_ca_key, "its key", "FILE" },
	{ "template", 0, 0, G_OPTION_ARG_STRING, &opt_template, "the template", "NAME" },
	{ "ready", 0, 0, G_OPTION_ARG_FILENAME, &opt_ready, "written once subscribed", "FILE" },
	{ "reject-csr", 0, 0, G_OPTION_ARG_NONE, &opt_reject_csr, "reject every CSR", NULL },
	{ NULL },
};

typedef struct {
	MQTTClient client;
	TetherTestCert *ca;
	GHashTable *tokens; /* ownership tokens issued */
} Responder;

static void
publish_json (Responder *responder, const gchar *topic, JsonBuilder *builder)
{
	g_autoptr(JsonGenerator) generator = json_generator_new ();
	g_autoptr(JsonNode) root = json_builder_get_root (builder);
	g_autofree gchar *text = NULL;
	MQTTClient_message message = MQTTClient_message_initializer;
	MQTTClient_deliveryToken token = 0;
	gsize length = 0;
	int rc;

	json_generator_set_root (generator, root);
	text = json_generator_to_data (generator, &length);
	message.payload = text;
	message.payloadlen = (int) length;
	message.qos = 1;
	rc = MQTTClient_publishMessage (responder->client, topic, &message, &token);
	if (rc == MQTTCLIENT_SUCCESS)
		rc = MQTTClient_waitForCompletion (responder->client, token, 10000);
	if (rc != MQTTCLIENT_SUCCESS)
		g_printerr ("fleet-responder: publishing to %s failed: %s\n", topic,
		            MQTTClient_strerror (rc));
}

/* the error answer of the fleet provisioning API */
static void
reject (Responder *responder, const gchar *topic, const gchar *code, const gchar *message)
{
	g_autoptr(JsonBuilder) builder = json_builder_new ();
	g_autofree gchar *answer_topic = g_strdup_printf ("%s/rejected", topic);

	json_builder_begin_object (builder);
	json_builder_set_member_name (builder, "statusCode");
	json_builder_add_int_value (builder, 400);
	json_builder_set_member_name (builder, "errorCode");
	json_builder_add_string_value (builder, code);
	json_builder_set_member_name (builder, "errorMessage");
	json_builder_add_string_value (builder, message);
	json_builder_end_object (builder);
	publish_json (responder, answer_topic, builder);
	g_printerr ("fleet-responder: rejected on %s: %s: %s\n", topic, code, message);
}

static JsonObject *
parse_request (const gchar *payload, gsize length)
{
	g_autoptr(JsonParser) parser = json_parser_new ();
	JsonNode *root;

	if (!json_parser_load_from_data (parser, payload, (gssize) length, NULL))
		return NULL;
	root = json_parser_get_root (parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
		return NULL;
	return json_object_ref (json_node_get_object (root));
}

static void
create_from_csr (Responder *responder, JsonObject *request)
{
	const gchar *csr = json_object_get_string_member_with_default (
	        request, "certificateSigningRequest", NULL);
	g_autoptr(TetherTestCert) cert = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonBuilder) builder = json_builder_new ();
	g_autofree gchar *pem = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *token = NULL;

	if (opt_reject_csr) {
		reject (responder, CSR_TOPIC, "InvalidCSR",
		        "the claim certificate may not create certificates");
		return;
	}
	if (csr == NULL) {
		reject (responder, CSR_TOPIC, "InvalidPayload",
		        "certificateSigningRequest missing");
		return;
	}
	cert = tether_test_cert_sign_csr (responder->ca, csr, 0, 0, &error);
	if (cert == NULL) {
		reject (responder, CSR_TOPIC, "InvalidCSR", error->message);
		return;
	}

	/* like AWS: the device's certificate alone, an id, and a token for RegisterThing */
	pem = tether_test_cert_get_pem (cert);
	id = g_compute_checksum_for_string (G_CHECKSUM_SHA256, pem, -1);
	token = g_strdup_printf ("token-%.16s", id);
	g_hash_table_add (responder->tokens, g_strdup (token));
	json_builder_begin_object (builder);
	json_builder_set_member_name (builder, "certificateId");
	json_builder_add_string_value (builder, id);
	json_builder_set_member_name (builder, "certificatePem");
	json_builder_add_string_value (builder, pem);
	json_builder_set_member_name (builder, "certificateOwnershipToken");
	json_builder_add_string_value (builder, token);
	json_builder_end_object (builder);
	publish_json (responder, CSR_TOPIC "/accepted", builder);
	g_printerr ("fleet-responder: issued certificate %.16s\n", id);
}

static void
register_thing (Responder *responder, const gchar *topic, JsonObject *request)
{
	g_auto(GStrv) levels = g_strsplit (topic, "/", -1);
	const gchar *token = json_object_get_string_member_with_default (
	        request, "certificateOwnershipToken", NULL);
	JsonObject *parameters = json_object_get_member (request, "parameters") != NULL
	                                 ? json_object_get_object_member (request, "parameters")
	                                 : NULL;
	const gchar *serial = parameters != NULL ? json_object_get_string_member_with_default (
	                                                   parameters, "SerialNumber", NULL)
	                                         : NULL;
	g_autoptr(JsonBuilder) builder = json_builder_new ();
	g_autofree gchar *thing_name = NULL;
	g_autofree gchar *answer_topic = g_strdup_printf ("%s/accepted", topic);

	if (g_strv_length (levels) != 5 || g_strcmp0 (levels[2], opt_template) != 0) {
		reject (responder, topic, "ResourceNotFound", "no such provisioning template");
		return;
	}
	if (token == NULL || !g_hash_table_contains (responder->tokens, token)) {
		reject (responder, topic, "InvalidCertificateOwnershipToken",
		        "the certificate ownership token is not valid");
		return;
	}
	if (serial == NULL) {
		reject (responder, topic, "InvalidParameters",
		        "the template needs the parameter SerialNumber");
		return;
	}
	thing_name = g_strdup_printf ("thing-%s", serial);
	json_builder_begin_object (builder);
	json_builder_set_member_name (builder, "deviceConfiguration");
	json_builder_begin_object (builder);
	json_builder_end_object (builder);
	json_builder_set_member_name (builder, "thingName");
	json_builder_add_string_value (builder, thing_name);
	json_builder_end_object (builder);
	publish_json (responder, answer_topic, builder);
	g_printerr ("fleet-responder: registered %s\n", thing_name);
}

int
main (int argc, char **argv)
{
	g_autoptr(GOptionContext) context = g_option_context_new ("- fleet provisioning");
	g_autoptr(GError) error = NULL;
	MQTTClient_connectOptions options = MQTTClient_connectOptions_initializer;
	MQTTClient_SSLOptions ssl = MQTTClient_SSLOptions_initializer;
	char *const topics[] = { CSR_TOPIC, REGISTER_TOPIC };
	int qos[] = { 1, 1 };
	g_autofree gchar *uri = NULL;
	g_autofree gchar *client_id = NULL;
	Responder responder = { 0 };
	int rc;

	g_option_context_add_main_entries (context, entries, NULL);
	if (!g_option_context_parse (context, &argc, &argv, &error) || opt_port <= 0 ||
	    opt_server_ca == NULL || opt_cert == NULL || opt_key == NULL || opt_ca_cert == NULL ||
	    opt_ca_key == NULL || opt_template == NULL || opt_ready == NULL) {
		g_printerr ("fleet-responder: %s\n",
		            error != NULL ? error->message
		                          : "every option but --reject-csr is needed");
		return 2;
	}
	responder.ca = tether_test_cert_load (opt_ca_cert, opt_ca_key, &error);
	if (responder.ca == NULL) {
		g_printerr ("fleet-responder: %s\n", error->message);
		return 1;
	}
	responder.tokens = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

	uri = g_strdup_printf ("ssl://localhost:%d", opt_port);
	client_id = g_strdup_printf ("fleet-responder-%d", (int) getpid ());
	rc = MQTTClient_create (&responder.client, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE,
	                        NULL);
	if (rc != MQTTCLIENT_SUCCESS) {
		g_printerr ("fleet-responder: %s\n", MQTTClient_strerror (rc));
		return 1;
	}
	ssl.trustStore = opt_server_ca;
	ssl.keyStore = opt_cert;
	ssl.privateKey = opt_key;
	ssl.enableServerCertAuth = 1;
	ssl.verify = 1;
	ssl.disableDefaultTrustStore = 1;
	options.ssl = &ssl;
	options.cleansession = 1;
	options.keepAliveInterval = 300;
	options.connectTimeout = 10;
	rc = MQTTClient_connect (responder.client, &options);
	if (rc == MQTTCLIENT_SUCCESS)
		rc = MQTTClient_subscribeMany (responder.client, 2, topics, qos);
	if (rc != MQTTCLIENT_SUCCESS || qos[0] != 1 || qos[1] != 1) {
		g_printerr ("fleet-responder: cannot connect and subscribe to %s: %s (%d)\n", uri,
		            MQTTClient_strerror (rc), rc);
		return 1;
	}
	if (!g_file_set_contents (opt_ready, "ready\n", -1, &error)) {
		g_printerr ("fleet-responder: %s\n", error->message);
		return 1;
	}

	for (;;) {
		char *topic = NULL;
		int topic_length = 0;
		MQTTClient_message *message = NULL;
		g_autofree gchar *topic_copy = NULL;
		g_autoptr(JsonObject) request = NULL;

		rc = MQTTClient_receive (responder.client, &topic, &topic_length, &message, 1000);
		if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED) {
			g_printerr ("fleet-responder: lost the broker: %s\n",
			            MQTTClient_strerror (rc));
			return 1;
		}
		if (message == NULL)
			continue;
		topic_copy = topic_length > 0 ? g_strndup (topic, (gsize) topic_length)
		                              : g_strdup (topic);
		request = parse_request (message->payload, (gsize) message->payloadlen);
		MQTTClient_freeMessage (&message);
		MQTTClient_free (topic);
		if (request == NULL)
			reject (&responder, topic_copy, "InvalidPayload",
			        "the request is not JSON");
		else if (g_str_equal (topic_copy, CSR_TOPIC))
			create_from_csr (&responder, request);
		else
			register_thing (&responder, topic_copy, request);
	}
}
