/*
 * A TCP front that stands in for AWS IoT Core's port 443: it reads the TLS
 * ClientHello of each client, refuses (with the TLS alert
 * no_application_protocol) a client that does not offer the ALPN protocol
 * it is given, and forwards everyone else's raw bytes, the ClientHello
 * first, to the broker. It never ends the TLS session itself, so the broker
 * still sees the client's certificate.
 *
 * Usage: alpn-front LISTEN_PORT TARGET_PORT PROTOCOL
 * It prints "listening" on standard output once it accepts connections, and
 * one line a client on standard error: "forwarded (offered: a, b)" or
 * "refused (offered: none)".
 */
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>

/* a ClientHello, in as many records as it takes, is at most this long */
#define MAX_HELLO (64 * 1024)

#define TLS_RECORD_HANDSHAKE   22
#define TLS_HANDSHAKE_HELLO    1
#define TLS_EXTENSION_ALPN     16
#define TLS_ALERT_NO_PROTOCOL  120
#define TLS_RECORD_HEADER_SIZE 5

static const gchar *wanted_protocol;
static guint16 target_port;

typedef enum {
	HELLO_INCOMPLETE,
	HELLO_INVALID,
	HELLO_COMPLETE,
} HelloStatus;

/* a cursor over bytes that refuses to read past the end */
typedef struct {
	const guint8 *data;
	gsize size;
	gsize pos;
	gboolean overrun;
} Reader;

static guint
read_uint (Reader *r, guint bytes)
{
	guint value = 0;

	if (r->pos + bytes > r->size) {
		r->overrun = TRUE;
		r->pos = r->size;
		return 0;
	}
	for (guint i = 0; i < bytes; i++)
		value = (value << 8) | r->data[r->pos++];
	return value;
}

static Reader
read_sub (Reader *r, gsize length)
{
	Reader sub = { r->data + r->pos, length, 0, FALSE };

	if (r->pos + length > r->size) {
		r->overrun = TRUE;
		r->pos = r->size;
		sub.size = 0;
		sub.overrun = TRUE;
		return sub;
	}
	r->pos += length;
	return sub;
}

/*
 * The handshake messages of @buffer's records, joined: TLS may split a
 * ClientHello across records. Stops at the first record that is not a
 * handshake or is not all there.
 */
static GByteArray *
handshake_bytes (const guint8 *buffer, gsize size, gboolean *invalid)
{
	GByteArray *out = g_byte_array_new ();
	gsize pos = 0;

	*invalid = FALSE;
	while (pos + TLS_RECORD_HEADER_SIZE <= size) {
		guint type = buffer[pos];
		gsize length = ((gsize) buffer[pos + 3] << 8) | buffer[pos + 4];

		if (type != TLS_RECORD_HANDSHAKE) {
			*invalid = TRUE;
			break;
		}
		if (pos + TLS_RECORD_HEADER_SIZE + length > size)
			break;
		g_byte_array_append (out, buffer + pos + TLS_RECORD_HEADER_SIZE, (guint) length);
		pos += TLS_RECORD_HEADER_SIZE + length;
	}
	return out;
}

/* the protocols of the ALPN extension, NULL when there is none */
static GPtrArray *
alpn_protocols (Reader *extensions)
{
	while (extensions->pos < extensions->size && !extensions->overrun) {
		guint type = read_uint (extensions, 2);
		guint length = read_uint (extensions, 2);
		Reader body = read_sub (extensions, length);
		Reader list;
		GPtrArray *protocols;

		if (type != TLS_EXTENSION_ALPN)
			continue;
		list = read_sub (&body, read_uint (&body, 2));
		protocols = g_ptr_array_new_with_free_func (g_free);
		while (list.pos < list.size && !list.overrun) {
			guint plen = read_uint (&list, 1);
			Reader name = read_sub (&list, plen);

			if (!name.overrun)
				g_ptr_array_add (protocols,
				                 g_strndup ((const gchar *) name.data, name.size));
		}
		return protocols;
	}
	return NULL;
}

/* reads the ClientHello in @buffer; *protocols is what it offers, NULL for no ALPN */
static HelloStatus
parse_hello (const guint8 *buffer, gsize size, GPtrArray **protocols)
{
	gboolean invalid = FALSE;
	g_autoptr(GByteArray) handshake = handshake_bytes (buffer, size, &invalid);
	Reader r = { handshake->data, handshake->len, 0, FALSE };
	Reader hello;
	Reader extensions;
	guint length;

	*protocols = NULL;
	if (handshake->len < 4)
		return invalid ? HELLO_INVALID : HELLO_INCOMPLETE;
	if (read_uint (&r, 1) != TLS_HANDSHAKE_HELLO)
		return HELLO_INVALID;
	length = read_uint (&r, 3);
	if (r.pos + length > r.size)
		return invalid ? HELLO_INVALID : HELLO_INCOMPLETE;
	hello = read_sub (&r, length);

	/* version, random, session id, cipher suites, compression methods */
	read_uint (&hello, 2);
	read_sub (&hello, 32);
	read_sub (&hello, read_uint (&hello, 1));
	read_sub (&hello, read_uint (&hello, 2));
	read_sub (&hello, read_uint (&hello, 1));
	if (hello.overrun)
		return HELLO_INVALID;
	if (hello.pos == hello.size)
		return HELLO_COMPLETE; /* no extensions at all */
	extensions = read_sub (&hello, read_uint (&hello, 2));
	if (hello.overrun)
		return HELLO_INVALID;
	*protocols = alpn_protocols (&extensions);
	return HELLO_COMPLETE;
}

static gboolean
offers (GPtrArray *protocols, const gchar *protocol)
{
	for (guint i = 0; protocols != NULL && i < protocols->len; i++) {
		if (g_str_equal (g_ptr_array_index (protocols, i), protocol))
			return TRUE;
	}
	return FALSE;
}

static gchar *
describe (GPtrArray *protocols)
{
	if (protocols == NULL || protocols->len == 0)
		return g_strdup ("none");
	g_ptr_array_add (protocols, NULL);
	return g_strjoinv (", ", (gchar **) protocols->pdata);
}

typedef struct {
	GSocketConnection *client;
	GSocketConnection *upstream;
	GByteArray *buffer;
	guint8 chunk[4096];
} Client;

static void
client_free (Client *client)
{
	g_clear_object (&client->client);
	g_clear_object (&client->upstream);
	g_byte_array_unref (client->buffer);
	g_free (client);
}

static void
spliced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	Client *client = user_data;

	g_io_stream_splice_finish (result, NULL);
	client_free (client);
}

static void
hello_forwarded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	Client *client = user_data;
	g_autoptr(GError) error = NULL;

	if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error)) {
		g_printerr ("front: writing to the broker: %s\n", error->message);
		client_free (client);
		return;
	}

	/* from here on, raw bytes both ways until either side closes */
	g_io_stream_splice_async (G_IO_STREAM (client->client), G_IO_STREAM (client->upstream),
	                          G_IO_STREAM_SPLICE_CLOSE_STREAM1 |
	                                  G_IO_STREAM_SPLICE_CLOSE_STREAM2,
	                          G_PRIORITY_DEFAULT, NULL, spliced_cb, client);
}

static void
upstream_connected_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	Client *client = user_data;
	g_autoptr(GError) error = NULL;
	GOutputStream *out;

	client->upstream =
	        g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), result, &error);
	if (client->upstream == NULL) {
		g_printerr ("front: cannot reach the broker on port %u: %s\n", target_port,
		            error->message);
		client_free (client);
		return;
	}
	out = g_io_stream_get_output_stream (G_IO_STREAM (client->upstream));
	g_output_stream_write_all_async (out, client->buffer->data, client->buffer->len,
	                                 G_PRIORITY_DEFAULT, NULL, hello_forwarded_cb, client);
}

static void
refuse (Client *client)
{
	/* a fatal TLS alert, as a server that speaks no protocol the client offers */
	const guint8 alert[] = { 21, 3, 3, 0, 2, 2, TLS_ALERT_NO_PROTOCOL };
	GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (client->client));

	g_output_stream_write_all (out, alert, sizeof alert, NULL, NULL, NULL);
	g_io_stream_close (G_IO_STREAM (client->client), NULL, NULL);
	client_free (client);
}

static void read_more (Client *client);

static void
read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	Client *client = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) protocols = NULL;
	g_autoptr(GSocketClient) connector = NULL;
	g_autofree gchar *offered = NULL;
	gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
	HelloStatus status;
	gboolean wanted;

	if (n <= 0) {
		/* a port check, or a client that went away */
		client_free (client);
		return;
	}
	g_byte_array_append (client->buffer, client->chunk, (guint) n);
	status = parse_hello (client->buffer->data, client->buffer->len, &protocols);
	if (status == HELLO_INCOMPLETE && client->buffer->len < MAX_HELLO) {
		read_more (client);
		return;
	}
	if (status != HELLO_COMPLETE) {
		g_printerr ("front: refused (not a TLS ClientHello)\n");
		g_io_stream_close (G_IO_STREAM (client->client), NULL, NULL);
		client_free (client);
		return;
	}
	wanted = offers (protocols, wanted_protocol);
	offered = describe (protocols);
	if (!wanted) {
		g_printerr ("front: refused (offered: %s)\n", offered);
		refuse (client);
		return;
	}
	g_printerr ("front: forwarded (offered: %s)\n", offered);
	connector = g_socket_client_new ();
	g_socket_client_connect_to_host_async (connector, "127.0.0.1", target_port, NULL,
	                                       upstream_connected_cb, client);
}

static void
read_more (Client *client)
{
	GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (client->client));

	g_input_stream_read_async (in, client->chunk, sizeof client->chunk, G_PRIORITY_DEFAULT,
	                           NULL, read_cb, client);
}

static gboolean
incoming_cb (GSocketService *service, GSocketConnection *connection, GObject *source,
             gpointer user_data)
{
	Client *client = g_new0 (Client, 1);

	client->client = g_object_ref (connection);
	client->buffer = g_byte_array_new ();
	read_more (client);
	return TRUE;
}

int
main (int argc, char **argv)
{
	g_autoptr(GSocketService) service = NULL;
	g_autoptr(GInetAddress) loopback = NULL;
	g_autoptr(GSocketAddress) address = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	g_autoptr(GError) error = NULL;
	guint64 listen_port = 0;
	guint64 port = 0;

	if (argc != 4 ||
	    !g_ascii_string_to_unsigned (argv[1], 10, 1, G_MAXUINT16, &listen_port, NULL) ||
	    !g_ascii_string_to_unsigned (argv[2], 10, 1, G_MAXUINT16, &port, NULL)) {
		g_printerr ("usage: %s LISTEN_PORT TARGET_PORT PROTOCOL\n", argv[0]);
		return 2;
	}
	target_port = (guint16) port;
	wanted_protocol = argv[3];

	service = g_socket_service_new ();
	loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
	address = g_inet_socket_address_new (loopback, (guint16) listen_port);
	if (!g_socket_listener_add_address (G_SOCKET_LISTENER (service), address,
	                                    G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL, NULL,
	                                    &error)) {
		g_printerr ("front: cannot listen on 127.0.0.1:%u: %s\n", (guint) listen_port,
		            error->message);
		return 1;
	}
	g_signal_connect (service, "incoming", G_CALLBACK (incoming_cb), NULL);
	g_socket_service_start (service);
	g_print ("listening\n");
	fflush (stdout);

	loop = g_main_loop_new (NULL, FALSE);
	g_main_loop_run (loop);
	return 0;
}
