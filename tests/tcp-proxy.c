/*
 * The delivery tests' TCP proxy: see tcp-proxy.h. Everything it owns is
 * touched in its own thread only; the functions called by the test run
 * their work there and wait for it.
 */
#include "tcp-proxy.h"

typedef struct {
	GSocketConnection *client;
	GSocketConnection *upstream; /* NULL while silent */
	GCancellable *cancellable;
} Link;

struct _TetherTestProxy {
	GThread *thread;
	GMainContext *context;
	GMainLoop *loop;
	GSocketService *service;
	guint16 port;

	/* in the proxy's thread */
	guint16 target_port;
	TetherTestProxyMode mode;
	GPtrArray *links; /* of Link */
	guint n_accepted;

	/* handing over a call from the test's thread */
	GMutex lock;
	GCond cond;
};

typedef struct {
	TetherTestProxy *proxy;
	void (*func) (TetherTestProxy *proxy, gpointer data);
	gpointer data;
	gboolean done;
} Call;

static void
link_close (GSocketConnection *connection)
{
	if (connection == NULL)
		return;
	/* at once, even with a read pending: the peer sees the end */
	g_socket_shutdown (g_socket_connection_get_socket (connection), TRUE, TRUE, NULL);
	g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
}

static void
link_free (Link *link)
{
	g_cancellable_cancel (link->cancellable);
	link_close (link->client);
	link_close (link->upstream);
	g_clear_object (&link->client);
	g_clear_object (&link->upstream);
	g_clear_object (&link->cancellable);
	g_free (link);
}

static gboolean
run_call (gpointer data)
{
	Call *call = data;

	call->func (call->proxy, call->data);
	g_mutex_lock (&call->proxy->lock);
	call->done = TRUE;
	g_cond_broadcast (&call->proxy->cond);
	g_mutex_unlock (&call->proxy->lock);
	return G_SOURCE_REMOVE;
}

/* runs @func in the proxy's thread and waits for it */
static void
proxy_call (TetherTestProxy *proxy, void (*func) (TetherTestProxy *, gpointer), gpointer data)
{
	Call call = { proxy, func, data, FALSE };

	g_main_context_invoke (proxy->context, run_call, &call);
	g_mutex_lock (&proxy->lock);
	while (!call.done)
		g_cond_wait (&proxy->cond, &proxy->lock);
	g_mutex_unlock (&proxy->lock);
}

static void
spliced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
	TetherTestProxy *proxy = user_data;
	Link *found = NULL;

	g_io_stream_splice_finish (result, NULL);
	for (guint i = 0; i < proxy->links->len; i++) {
		Link *link = g_ptr_array_index (proxy->links, i);
		if (G_OBJECT (link->client) == source) {
			found = link;
			break;
		}
	}
	if (found != NULL)
		g_ptr_array_remove (proxy->links, found);
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *connection, GObject *source_object,
             gpointer user_data)
{
	TetherTestProxy *proxy = user_data;
	g_autoptr(GSocketClient) client = NULL;
	g_autoptr(GError) error = NULL;
	Link *link;

	proxy->n_accepted++;
	if (proxy->mode == TETHER_TEST_PROXY_REFUSE || proxy->target_port == 0) {
		g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
		return TRUE;
	}
	link = g_new0 (Link, 1);
	link->client = g_object_ref (connection);
	link->cancellable = g_cancellable_new ();
	if (proxy->mode == TETHER_TEST_PROXY_SILENT) {
		g_ptr_array_add (proxy->links, link);
		return TRUE;
	}

	/* loopback: connecting blocks for no time worth mentioning */
	client = g_socket_client_new ();
	link->upstream = g_socket_client_connect_to_host (client, "127.0.0.1", proxy->target_port,
	                                                  NULL, &error);
	if (link->upstream == NULL) {
		link_free (link);
		return TRUE;
	}
	g_ptr_array_add (proxy->links, link);
	g_io_stream_splice_async (G_IO_STREAM (link->client), G_IO_STREAM (link->upstream),
	                          G_IO_STREAM_SPLICE_CLOSE_STREAM1 |
	                                  G_IO_STREAM_SPLICE_CLOSE_STREAM2,
	                          G_PRIORITY_DEFAULT, link->cancellable, spliced_cb, proxy);
	return TRUE;
}

static gpointer
proxy_thread (gpointer data)
{
	TetherTestProxy *proxy = data;

	g_main_context_push_thread_default (proxy->context);
	g_main_loop_run (proxy->loop);
	g_ptr_array_set_size (proxy->links, 0);
	g_socket_service_stop (proxy->service);
	g_socket_listener_close (G_SOCKET_LISTENER (proxy->service));
	/* what closing left behind */
	while (g_main_context_iteration (proxy->context, FALSE))
		;
	g_main_context_pop_thread_default (proxy->context);
	return NULL;
}

TetherTestProxy *
tether_test_proxy_new (guint16 target_port)
{
	TetherTestProxy *proxy = g_new0 (TetherTestProxy, 1);
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
	g_autoptr(GSocketAddress) bound = NULL;

	g_mutex_init (&proxy->lock);
	g_cond_init (&proxy->cond);
	proxy->target_port = target_port;
	proxy->links = g_ptr_array_new_with_free_func ((GDestroyNotify) link_free);
	proxy->context = g_main_context_new ();
	proxy->loop = g_main_loop_new (proxy->context, FALSE);

	/* the service's sources belong to the proxy's context */
	g_main_context_push_thread_default (proxy->context);
	proxy->service = g_socket_service_new ();
	g_socket_listener_add_address (G_SOCKET_LISTENER (proxy->service), address,
	                               G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL, &bound,
	                               &error);
	g_assert_no_error (error);
	proxy->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
	g_signal_connect (proxy->service, "incoming", G_CALLBACK (on_incoming), proxy);
	g_socket_service_start (proxy->service);
	g_main_context_pop_thread_default (proxy->context);

	proxy->thread = g_thread_new ("tcp-proxy", proxy_thread, proxy);
	return proxy;
}

void
tether_test_proxy_free (TetherTestProxy *proxy)
{
	if (proxy == NULL)
		return;
	g_main_loop_quit (proxy->loop);
	g_thread_join (proxy->thread);
	g_ptr_array_unref (proxy->links);
	g_object_unref (proxy->service);
	g_main_loop_unref (proxy->loop);
	g_main_context_unref (proxy->context);
	g_mutex_clear (&proxy->lock);
	g_cond_clear (&proxy->cond);
	g_free (proxy);
}

guint16
tether_test_proxy_get_port (TetherTestProxy *proxy)
{
	return proxy->port;
}

static void
do_set_target (TetherTestProxy *proxy, gpointer data)
{
	proxy->target_port = GPOINTER_TO_UINT (data);
}

void
tether_test_proxy_set_target (TetherTestProxy *proxy, guint16 target_port)
{
	proxy_call (proxy, do_set_target, GUINT_TO_POINTER (target_port));
}

static void
do_set_mode (TetherTestProxy *proxy, gpointer data)
{
	proxy->mode = GPOINTER_TO_INT (data);
}

void
tether_test_proxy_set_mode (TetherTestProxy *proxy, TetherTestProxyMode mode)
{
	proxy_call (proxy, do_set_mode, GINT_TO_POINTER (mode));
}

static void
do_cut (TetherTestProxy *proxy, gpointer data)
{
	*(guint *) data = proxy->links->len;
	g_ptr_array_set_size (proxy->links, 0);
}

guint
tether_test_proxy_cut (TetherTestProxy *proxy)
{
	guint n = 0;

	proxy_call (proxy, do_cut, &n);
	return n;
}

static void
do_get_n_accepted (TetherTestProxy *proxy, gpointer data)
{
	*(guint *) data = proxy->n_accepted;
}

guint
tether_test_proxy_get_n_accepted (TetherTestProxy *proxy)
{
	guint n = 0;

	proxy_call (proxy, do_get_n_accepted, &n);
	return n;
}
