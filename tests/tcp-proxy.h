/*
 * A TCP proxy on 127.0.0.1 for the delivery tests: it forwards each
 * connection to a target port, and on request cuts every connection,
 * refuses new ones (accepts and closes them at once), or holds them open
 * without an answer. It runs in its own thread with its own main context,
 * so it keeps forwarding while the test blocks.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
	TETHER_TEST_PROXY_FORWARD, /* the default */
	TETHER_TEST_PROXY_REFUSE,  /* accept, close at once */
	TETHER_TEST_PROXY_SILENT,  /* accept, never answer */
} TetherTestProxyMode;

typedef struct _TetherTestProxy TetherTestProxy;

/* listens on a free port of 127.0.0.1; @target_port may be 0 until set */
TetherTestProxy *tether_test_proxy_new (guint16 target_port);
void tether_test_proxy_free (TetherTestProxy *proxy);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TetherTestProxy, tether_test_proxy_free)

guint16 tether_test_proxy_get_port (TetherTestProxy *proxy);
void tether_test_proxy_set_target (TetherTestProxy *proxy, guint16 target_port);
void tether_test_proxy_set_mode (TetherTestProxy *proxy, TetherTestProxyMode mode);
/* closes every connection through the proxy; returns how many there were */
guint tether_test_proxy_cut (TetherTestProxy *proxy);
/* connections accepted so far */
guint tether_test_proxy_get_n_accepted (TetherTestProxy *proxy);

G_END_DECLS
