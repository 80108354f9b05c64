/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * A cloud for the trust anchor tests only, never installed: the core's default connection
 * rules, and bundled anchors made from the test PKI of each test case (which is made at test
 * time, so it cannot be compiled in). TETHER_TEST_BUNDLED_ANCHOR names a PEM file bundled as
 * "anchortest.test-root" in the default set; TETHER_TEST_BUNDLED_EXTRA one bundled as
 * "anchortest.legacy-root" outside it, as Azure's Baltimore root is.
 */

#include "config.h"

#include <tether/tether.h>

#define TETHER_TYPE_ANCHOR_TEST (tether_anchor_test_get_type ())
G_DECLARE_FINAL_TYPE (TetherAnchorTest, tether_anchor_test, TETHER, ANCHOR_TEST, TetherCloud)

struct _TetherAnchorTest {
	TetherCloud parent_instance;
};

G_DEFINE_FINAL_TYPE (TetherAnchorTest, tether_anchor_test, TETHER_TYPE_CLOUD)

static void
bundle_from_env (TetherCloud *cloud, const gchar *variable, const gchar *slug,
                 gboolean in_default_set)
{
	const gchar *path = g_getenv (variable);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *pem = NULL;
	g_autoptr(GBytes) bytes = NULL;
	gsize len = 0;

	if (path == NULL)
		return;
	if (!g_file_get_contents (path, &pem, &len, &error)) {
		g_warning ("anchortest: %s", error->message);
		return;
	}
	bytes = g_bytes_new_take (g_steal_pointer (&pem), len);
	tether_cloud_add_bundled_anchor (cloud, slug, bytes, in_default_set);
}

static void
tether_anchor_test_class_init (TetherAnchorTestClass *klass)
{
}

static void
tether_anchor_test_init (TetherAnchorTest *self)
{
	TetherCloud *cloud = TETHER_CLOUD (self);

	tether_cloud_set_name (cloud, "anchortest");
	tether_cloud_set_description (cloud,
	                              "trust anchor tests: anchors bundled from the test PKI");
	/* TETHER_TEST_DEFAULT_PORT and TETHER_TEST_DEFAULT_ENDPOINT: a cloud with defaults */
	tether_cloud_set_default_port (
	        cloud, (guint16) g_ascii_strtoull (g_getenv ("TETHER_TEST_DEFAULT_PORT") != NULL
	                                                   ? g_getenv ("TETHER_TEST_DEFAULT_PORT")
	                                                   : "8883",
	                                           NULL, 10));
	if (g_getenv ("TETHER_TEST_DEFAULT_ENDPOINT") != NULL)
		tether_cloud_set_default_endpoint (cloud,
		                                   g_getenv ("TETHER_TEST_DEFAULT_ENDPOINT"));
	tether_cloud_add_kind (cloud, "telemetry");
	bundle_from_env (cloud, "TETHER_TEST_BUNDLED_ANCHOR", "test-root", TRUE);
	bundle_from_env (cloud, "TETHER_TEST_BUNDLED_EXTRA", "legacy-root", FALSE);
}

TETHER_PLUGIN_DEFINE (tether_anchor_test_get_type)
