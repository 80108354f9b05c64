/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <MQTTAsync.h>
#include <glib/gi18n-lib.h>
#include <string.h>

#include "tether-error.h"
#include "tether-mqtt-session.h"

/* seconds a Paho client may take to connect, TLS handshake included */
#define TETHER_MQTT_CONNECT_TIMEOUT 10
/* how long a superseded client's context outlives it, for callbacks in flight */
#define TETHER_MQTT_CONTEXT_GRACE 30

/*
 * What Paho's callbacks get as their context: one per client (connection
 * attempt). It never touches the session from Paho's threads; it queues
 * events for the main context, where the session is looked up through the
 * weak reference and the generation is compared. The main context is woken
 * once for all the events that gather while it is busy, not once per
 * acknowledgement.
 */
typedef struct {
	gatomicrefcount refcount;
	GWeakRef session;
	GMainContext *main_context;
	guint generation;

	GMutex lock;
	GQueue events;  /* of Event, under lock */
	gboolean woken; /* a drain is on its way, under lock */
} ClientContext;

static void event_free (gpointer data);

static ClientContext *
client_context_ref (ClientContext *ctx)
{
	g_atomic_ref_count_inc (&ctx->refcount);
	return ctx;
}

static void
client_context_unref (ClientContext *ctx)
{
	if (!g_atomic_ref_count_dec (&ctx->refcount))
		return;
	g_weak_ref_clear (&ctx->session);
	g_main_context_unref (ctx->main_context);
	g_queue_clear_full (&ctx->events, event_free);
	g_mutex_clear (&ctx->lock);
	g_free (ctx);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClientContext, client_context_unref)

struct _TetherMqttSession {
	GObject parent_instance;
	MQTTAsync client;
	ClientContext *ctx;
	guint generation;
	gboolean connected;
	GHashTable *in_flight; /* SendContext* of the publishes not yet answered */
};

G_DEFINE_FINAL_TYPE (TetherMqttSession, tether_mqtt_session, G_TYPE_OBJECT)

enum {
	SIGNAL_CONNECTED,
	SIGNAL_CONNECT_FAILED,
	SIGNAL_CONNECTION_LOST,
	SIGNAL_DELIVERED,
	SIGNAL_SEND_FAILED,
	SIGNAL_MESSAGE,
	SIGNAL_LAST
};

static guint signals[SIGNAL_LAST];

typedef enum {
	EVENT_CONNECTED,
	EVENT_CONNECT_FAILED,
	EVENT_CONNECTION_LOST,
	EVENT_DELIVERED,
	EVENT_SEND_FAILED,
	EVENT_MESSAGE,
} EventKind;

/*
 * What one publish's callbacks get: the tag travels with it, so an answer
 * never depends on Paho's message ids, which Paho gives out again as soon
 * as it has answered. Freed with the event that carries the answer.
 */
typedef struct {
	ClientContext *ctx;
	guint64 tag;
} SendContext;

static void
send_context_free (SendContext *send)
{
	client_context_unref (send->ctx);
	g_free (send);
}

typedef struct {
	EventKind kind;
	gint code;
	SendContext *send; /* DELIVERED and SEND_FAILED */
	gchar *text;       /* message, cause, or topic */
	GBytes *payload;
} Event;

static void
event_free (gpointer data)
{
	Event *event = data;

	g_clear_pointer (&event->send, send_context_free);
	g_free (event->text);
	g_clear_pointer (&event->payload, g_bytes_unref);
	g_free (event);
}

void
tether_mqtt_params_clear (TetherMqttParams *params)
{
	g_clear_pointer (&params->host, g_free);
	g_clear_pointer (&params->client_id, g_free);
	g_clear_pointer (&params->username, g_free);
	g_clear_pointer (&params->trust_file, g_free);
	g_clear_pointer (&params->cert_file, g_free);
	g_clear_pointer (&params->key_file, g_free);
	g_clear_pointer (&params->alpn, g_strfreev);
}

/* emits the acknowledgements gathered in @tags at once, and empties it */
static void
emit_delivered (TetherMqttSession *self, GArray *tags)
{
	if (tags->len == 0)
		return;
	g_signal_emit (self, signals[SIGNAL_DELIVERED], 0, tags);
	g_array_set_size (tags, 0);
}

/* runs in the main context: every event queued so far, in order */
static gboolean
events_drain (gpointer data)
{
	ClientContext *ctx = data;
	g_autoptr(TetherMqttSession) self = g_weak_ref_get (&ctx->session);
	g_autoptr(GArray) tags = NULL;
	GQueue events = G_QUEUE_INIT;
	Event *event;

	g_mutex_lock (&ctx->lock);
	events = ctx->events;
	g_queue_init (&ctx->events);
	ctx->woken = FALSE;
	g_mutex_unlock (&ctx->lock);

	tags = g_array_sized_new (FALSE, FALSE, sizeof (guint64), events.length);
	while ((event = g_queue_pop_head (&events)) != NULL) {
		/* a client that was stopped since, perhaps by a handler here, has nothing to say */
		if (self == NULL || ctx->generation != self->generation) {
			event_free (event);
			continue;
		}

		/* acknowledgements in a row go together */
		if (event->kind == EVENT_DELIVERED) {
			if (g_hash_table_remove (self->in_flight, event->send))
				g_array_append_val (tags, event->send->tag);
			event_free (event);
			continue;
		}
		emit_delivered (self, tags);
		if (ctx->generation != self->generation) {
			event_free (event);
			continue;
		}

		switch (event->kind) {
		case EVENT_CONNECTED:
			self->connected = TRUE;
			g_signal_emit (self, signals[SIGNAL_CONNECTED], 0);
			break;
		case EVENT_CONNECT_FAILED:
			self->connected = FALSE;
			g_signal_emit (self, signals[SIGNAL_CONNECT_FAILED], 0, event->code,
			               event->text);
			break;
		case EVENT_CONNECTION_LOST:
			self->connected = FALSE;
			g_hash_table_remove_all (self->in_flight);
			g_signal_emit (self, signals[SIGNAL_CONNECTION_LOST], 0, event->text);
			break;
		case EVENT_SEND_FAILED:
			if (!g_hash_table_remove (self->in_flight, event->send))
				break;
			g_signal_emit (self, signals[SIGNAL_SEND_FAILED], 0, event->send->tag,
			               event->text);
			break;
		case EVENT_MESSAGE:
			g_signal_emit (self, signals[SIGNAL_MESSAGE], 0, event->text,
			               event->payload);
			break;
		case EVENT_DELIVERED:
		default:
			g_assert_not_reached ();
		}
		event_free (event);
	}
	if (self != NULL && ctx->generation == self->generation)
		emit_delivered (self, tags);
	return G_SOURCE_REMOVE;
}

/* runs on Paho's threads: copy, then hand over; one wake-up for what gathers meanwhile */
static void
event_post (ClientContext *ctx, Event *event)
{
	gboolean wake;

	g_mutex_lock (&ctx->lock);
	g_queue_push_tail (&ctx->events, event);
	wake = !ctx->woken;
	ctx->woken = TRUE;
	g_mutex_unlock (&ctx->lock);
	if (wake)
		g_main_context_invoke_full (ctx->main_context, G_PRIORITY_DEFAULT, events_drain,
		                            client_context_ref (ctx),
		                            (GDestroyNotify) client_context_unref);
}

static void
on_connect_success (void *context, MQTTAsync_successData *response)
{
	Event *event = g_new0 (Event, 1);
	event->kind = EVENT_CONNECTED;
	event_post (context, event);
}

static void
on_connect_failure (void *context, MQTTAsync_failureData *response)
{
	Event *event = g_new0 (Event, 1);
	event->kind = EVENT_CONNECT_FAILED;
	event->code = response != NULL ? response->code : MQTTASYNC_FAILURE;
	if (response != NULL && response->message != NULL)
		event->text = g_strdup (response->message);
	else
		event->text = g_strdup (MQTTAsync_strerror (event->code));
	event_post (context, event);
}

static void
on_connection_lost (void *context, char *cause)
{
	Event *event = g_new0 (Event, 1);
	event->kind = EVENT_CONNECTION_LOST;
	event->text = g_strdup (cause != NULL ? cause : "");
	event_post (context, event);
}

static int
on_message_arrived (void *context, char *topic_name, int topic_len, MQTTAsync_message *message)
{
	Event *event = g_new0 (Event, 1);

	event->kind = EVENT_MESSAGE;
	if (topic_len > 0)
		event->text = g_strndup (topic_name, topic_len);
	else
		event->text = g_strdup (topic_name);
	event->payload = g_bytes_new (message->payload, message->payloadlen);
	MQTTAsync_freeMessage (&message);
	MQTTAsync_free (topic_name);
	event_post (context, event);
	return 1;
}

static void
on_send_success (void *context, MQTTAsync_successData *response)
{
	SendContext *send = context;
	Event *event = g_new0 (Event, 1);

	event->kind = EVENT_DELIVERED;
	event->send = send;
	event_post (send->ctx, event);
}

static void
on_send_failure (void *context, MQTTAsync_failureData *response)
{
	SendContext *send = context;
	Event *event = g_new0 (Event, 1);

	event->kind = EVENT_SEND_FAILED;
	event->send = send;
	event->text =
	        g_strdup (response != NULL && response->message != NULL
	                          ? response->message
	                          : MQTTAsync_strerror (response != NULL ? response->code
	                                                                 : MQTTASYNC_FAILURE));
	event_post (send->ctx, event);
}

static void
on_disconnected (void *context, MQTTAsync_successData *response)
{
}

static gboolean
client_context_release_later (gpointer data)
{
	client_context_unref (data);
	return G_SOURCE_REMOVE;
}

void
tether_mqtt_session_stop (TetherMqttSession *self)
{
	g_return_if_fail (TETHER_IS_MQTT_SESSION (self));

	self->generation++;
	self->connected = FALSE;
	g_hash_table_remove_all (self->in_flight);
	if (self->client != NULL) {
		MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;

		/* a polite DISCONNECT where there is a connection, then gone */
		opts.timeout = 0;
		opts.onSuccess = on_disconnected;
		opts.context = self->ctx;
		if (MQTTAsync_isConnected (self->client))
			MQTTAsync_disconnect (self->client, &opts);
		MQTTAsync_destroy (&self->client);
		self->client = NULL;
	}
	if (self->ctx != NULL) {
		/* a callback may still be on its way on Paho's threads */
		g_timeout_add_seconds (TETHER_MQTT_CONTEXT_GRACE, client_context_release_later,
		                       g_steal_pointer (&self->ctx));
	}
}

/*
 * Paho copies the list with strdup (), as if it were a string: the buffer
 * ends with a NUL byte that @len does not count, and an empty name (whose
 * length byte would be a NUL) is left out.
 */
gchar *
tether_mqtt_alpn_wire_format (const gchar *const *protocols, guint *len)
{
	GByteArray *wire = g_byte_array_new ();
	const guint8 nul = 0;

	for (guint i = 0; protocols != NULL && protocols[i] != NULL; i++) {
		guint8 plen = (guint8) MIN (strlen (protocols[i]), 255);

		if (plen == 0)
			continue;
		g_byte_array_append (wire, &plen, 1);
		g_byte_array_append (wire, (const guint8 *) protocols[i], plen);
	}
	*len = wire->len;
	g_byte_array_append (wire, &nul, 1);
	return (gchar *) g_byte_array_free (wire, FALSE);
}

static gboolean
paho_error (gint rc, const gchar *what, GError **error)
{
	if (rc == MQTTASYNC_SUCCESS)
		return TRUE;
	g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
	             _("%s: %s (Paho code %d)"), what, MQTTAsync_strerror (rc), rc);
	return FALSE;
}

gboolean
tether_mqtt_session_start (TetherMqttSession *self, const TetherMqttParams *params, GError **error)
{
	MQTTAsync_createOptions create_opts = MQTTAsync_createOptions_initializer;
	MQTTAsync_connectOptions conn_opts = MQTTAsync_connectOptions_initializer;
	MQTTAsync_SSLOptions ssl_opts = MQTTAsync_SSLOptions_initializer;
	g_autofree gchar *uri = NULL;
	g_autofree gchar *alpn = NULL;
	guint alpn_len = 0;
	gint rc;

	g_return_val_if_fail (TETHER_IS_MQTT_SESSION (self), FALSE);

	tether_mqtt_session_stop (self);

	/* a fresh client and context for this attempt */
	self->ctx = g_new0 (ClientContext, 1);
	g_atomic_ref_count_init (&self->ctx->refcount);
	g_mutex_init (&self->ctx->lock);
	g_queue_init (&self->ctx->events);
	g_weak_ref_init (&self->ctx->session, self);
	self->ctx->main_context = g_main_context_ref_thread_default ();
	self->ctx->generation = self->generation;

	if (strchr (params->host, ':') != NULL)
		uri = g_strdup_printf ("ssl://[%s]:%u", params->host, params->port);
	else
		uri = g_strdup_printf ("ssl://%s:%u", params->host, params->port);
	create_opts.MQTTVersion = MQTTVERSION_3_1_1;
	create_opts.sendWhileDisconnected = 0;
	/*
	 * A whole window may wait in Paho's queue before its thread writes it;
	 * the default of 100 refuses the rest with MQTTASYNC_MAX_BUFFERED_MESSAGES.
	 */
	create_opts.maxBufferedMessages = (int) MAX (params->max_inflight, 1);
	rc = MQTTAsync_createWithOptions (&self->client, uri, params->client_id,
	                                  MQTTCLIENT_PERSISTENCE_NONE, NULL, &create_opts);
	if (!paho_error (rc, _("cannot create the MQTT client"), error)) {
		self->client = NULL;
		return FALSE;
	}
	rc = MQTTAsync_setCallbacks (self->client, self->ctx, on_connection_lost,
	                             on_message_arrived, NULL);
	if (!paho_error (rc, _("cannot set the MQTT callbacks"), error))
		return FALSE;

	/* the connection's anchors only, the host name checked, never a prompt */
	ssl_opts.trustStore = params->trust_file;
	ssl_opts.keyStore = params->cert_file;
	ssl_opts.privateKey = params->key_file;
	ssl_opts.privateKeyPassword = "";
	ssl_opts.enableServerCertAuth = 1;
	ssl_opts.verify = 1;
	ssl_opts.disableDefaultTrustStore = 1;
	ssl_opts.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
	if (params->alpn != NULL && params->alpn[0] != NULL) {
		alpn = tether_mqtt_alpn_wire_format ((const gchar *const *) params->alpn,
		                                     &alpn_len);
		ssl_opts.protos = (const unsigned char *) alpn;
		ssl_opts.protos_len = alpn_len;
	}

	conn_opts.keepAliveInterval = (int) params->keepalive;
	conn_opts.cleansession = params->clean_session ? 1 : 0;
	conn_opts.username = params->username;
	conn_opts.ssl = &ssl_opts;
	conn_opts.connectTimeout = TETHER_MQTT_CONNECT_TIMEOUT;
	conn_opts.automaticReconnect = 0;
	conn_opts.maxInflight = (int) MAX (params->max_inflight, 1);
	conn_opts.onSuccess = on_connect_success;
	conn_opts.onFailure = on_connect_failure;
	conn_opts.context = self->ctx;
	rc = MQTTAsync_connect (self->client, &conn_opts);
	return paho_error (rc, _("cannot start connecting"), error);
}

gboolean
tether_mqtt_session_is_connected (TetherMqttSession *self)
{
	g_return_val_if_fail (TETHER_IS_MQTT_SESSION (self), FALSE);
	return self->connected;
}

gboolean
tether_mqtt_session_subscribe (TetherMqttSession *self, GPtrArray *topic_filters, GError **error)
{
	g_autofree gint *qos = NULL;
	MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;

	g_return_val_if_fail (TETHER_IS_MQTT_SESSION (self), FALSE);
	if (topic_filters->len == 0)
		return TRUE;
	if (!self->connected) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_FAILED, _("not connected"));
		return FALSE;
	}
	qos = g_new0 (gint, topic_filters->len);
	for (guint i = 0; i < topic_filters->len; i++)
		qos[i] = 1;
	opts.context = self->ctx;
	return paho_error (MQTTAsync_subscribeMany (self->client, (int) topic_filters->len,
	                                            (char *const *) topic_filters->pdata, qos,
	                                            &opts),
	                   _("cannot subscribe"), error);
}

gboolean
tether_mqtt_session_publish (TetherMqttSession *self, const gchar *topic, GBytes *payload, gint qos,
                             guint64 tag, GError **error)
{
	MQTTAsync_message message = MQTTAsync_message_initializer;
	MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
	SendContext *send;
	gsize len = 0;
	gint rc;

	g_return_val_if_fail (TETHER_IS_MQTT_SESSION (self), FALSE);
	if (!self->connected) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_FAILED, _("not connected"));
		return FALSE;
	}

	/* Paho copies the payload before this returns */
	message.payload = (void *) g_bytes_get_data (payload, &len);
	message.payloadlen = (int) len;
	message.qos = qos;
	message.retained = 0;
	send = g_new (SendContext, 1);
	send->ctx = client_context_ref (self->ctx);
	send->tag = tag;
	opts.onSuccess = on_send_success;
	opts.onFailure = on_send_failure;
	opts.context = send;
	g_hash_table_add (self->in_flight, send);
	rc = MQTTAsync_sendMessage (self->client, topic, &message, &opts);
	if (!paho_error (rc, _("cannot send"), error)) {
		/* refused at once: no callback comes */
		g_hash_table_remove (self->in_flight, send);
		send_context_free (send);
		return FALSE;
	}
	return TRUE;
}

guint
tether_mqtt_session_get_n_inflight (TetherMqttSession *self)
{
	g_return_val_if_fail (TETHER_IS_MQTT_SESSION (self), 0);
	return g_hash_table_size (self->in_flight);
}

static void
tether_mqtt_session_dispose (GObject *object)
{
	tether_mqtt_session_stop (TETHER_MQTT_SESSION (object));
	G_OBJECT_CLASS (tether_mqtt_session_parent_class)->dispose (object);
}

static void
tether_mqtt_session_finalize (GObject *object)
{
	TetherMqttSession *self = TETHER_MQTT_SESSION (object);

	g_hash_table_unref (self->in_flight);
	G_OBJECT_CLASS (tether_mqtt_session_parent_class)->finalize (object);
}

static void
tether_mqtt_session_class_init (TetherMqttSessionClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->dispose = tether_mqtt_session_dispose;
	object_class->finalize = tether_mqtt_session_finalize;

	signals[SIGNAL_CONNECTED] =
	        g_signal_new ("connected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                      NULL, NULL, G_TYPE_NONE, 0);
	signals[SIGNAL_CONNECT_FAILED] =
	        g_signal_new ("connect-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
	                      NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_STRING);
	signals[SIGNAL_CONNECTION_LOST] =
	        g_signal_new ("connection-lost", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
	                      NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
	signals[SIGNAL_DELIVERED] =
	        g_signal_new ("delivered", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                      NULL, g_cclosure_marshal_VOID__BOXED, G_TYPE_NONE, 1,
	                      G_TYPE_ARRAY | G_SIGNAL_TYPE_STATIC_SCOPE);
	signals[SIGNAL_SEND_FAILED] =
	        g_signal_new ("send-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                      NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT64, G_TYPE_STRING);
	signals[SIGNAL_MESSAGE] =
	        g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                      NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_BYTES);
}

static void
tether_mqtt_session_init (TetherMqttSession *self)
{
	self->in_flight = g_hash_table_new (g_direct_hash, g_direct_equal);
}

TetherMqttSession *
tether_mqtt_session_new (void)
{
	static gsize initialized = 0;

	if (g_once_init_enter (&initialized)) {
		MQTTAsync_init_options inits = MQTTAsync_init_options_initializer;
		inits.do_openssl_init = 1;
		MQTTAsync_global_init (&inits);
		g_once_init_leave (&initialized, 1);
	}
	return g_object_new (TETHER_TYPE_MQTT_SESSION, NULL);
}
