/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Unit tests for the identity store's pure parts: when a renewal is due, and how long it
 * waits after failures.
 */
#include "config.h"

#include <glib.h>

#include "tether-identity-store.h"

#define ROUNDS 2000

static void
test_renewal_due (void)
{
	/* the default threshold: 80% of the lifetime */
	g_assert_cmpint (tether_identity_renewal_due (80, 1000, 2000), ==, 1800);
	g_assert_cmpint (tether_identity_renewal_due (50, 0, 120), ==, 60);
	g_assert_cmpint (tether_identity_renewal_due (1, 0, 100), ==, 1);

	/* a certificate without a lifetime is due at its end */
	g_assert_cmpint (tether_identity_renewal_due (80, 500, 500), ==, 500);
	g_assert_cmpint (tether_identity_renewal_due (80, 600, 500), ==, 500);
}

static void
test_retry_delay_doubles (void)
{
	g_assert_cmpint (tether_identity_retry_delay (30, 3600, 0, FALSE), ==, 30);
	g_assert_cmpint (tether_identity_retry_delay (30, 3600, 1, FALSE), ==, 30);
	g_assert_cmpint (tether_identity_retry_delay (30, 3600, 2, FALSE), ==, 60);
	g_assert_cmpint (tether_identity_retry_delay (30, 3600, 3, FALSE), ==, 120);
	g_assert_cmpint (tether_identity_retry_delay (30, 3600, 7, FALSE), ==, 1920);
	g_assert_cmpint (tether_identity_retry_delay (30, 3600, 8, FALSE), ==, 3600);
	g_assert_cmpint (tether_identity_retry_delay (30, 3600, G_MAXUINT, FALSE), ==, 3600);

	/* bounds out of order, or zero, still give a wait */
	g_assert_cmpint (tether_identity_retry_delay (60, 10, 5, FALSE), ==, 60);
	g_assert_cmpint (tether_identity_retry_delay (0, 0, 5, FALSE), ==, 1);
}

/* jitter spreads a fleet's retries, never below the shortest wait nor above the longest */
static void
test_retry_delay_jitter (void)
{
	gboolean below_top = FALSE;

	for (guint i = 0; i < ROUNDS; i++) {
		gint64 first = tether_identity_retry_delay (30, 3600, 1, TRUE);
		gint64 third = tether_identity_retry_delay (30, 3600, 3, TRUE);
		gint64 last = tether_identity_retry_delay (30, 3600, 20, TRUE);

		g_assert_cmpint (first, ==, 30);
		g_assert_cmpint (third, >=, 60);
		g_assert_cmpint (third, <=, 120);
		g_assert_cmpint (last, >=, 1800);
		g_assert_cmpint (last, <=, 3600);
		below_top = below_top || last < 3600;
	}
	g_assert_true (below_top);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/identity-store/renewal-due", test_renewal_due);
	g_test_add_func ("/identity-store/retry-delay/doubles", test_retry_delay_doubles);
	g_test_add_func ("/identity-store/retry-delay/jitter", test_retry_delay_jitter);
	return g_test_run ();
}
