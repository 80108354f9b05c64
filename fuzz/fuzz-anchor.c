/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * libFuzzer target for what AddTrustAnchor does with an operator's file: the upload parser
 * (PEM, DER, PKCS#7, wide text and key detection) and the anchor checks after it, then the
 * normalised PEM and each certificate's description, as the store exports them.
 */

#include <stdint.h>

#include "tether-x509.h"

/* a fixed clock, so that a run can be repeated */
#define FUZZ_NOW ((gint64) 1767225600) /* 2026-01-01 */

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
describe_all (GPtrArray *certs)
{
	for (guint i = 0; i < certs->len; i++) {
		g_autoptr(GVariant) described = g_variant_ref_sink (
		        tether_x509_describe (g_ptr_array_index (certs, i)));

		g_assert_nonnull (described);
	}
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	g_autoptr(GBytes) bytes = g_bytes_new_static (data, size);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) parsed = NULL;
	g_autoptr(GPtrArray) certs = NULL;
	g_autofree gchar *pem = NULL;
	g_auto(GStrv) warnings = NULL;

	parsed = tether_x509_parse_upload (bytes, &error);
	if (parsed == NULL) {
		g_assert_nonnull (error);
		return 0;
	}
	certs = tether_x509_prepare_anchor (parsed, FUZZ_NOW, TRUE, &warnings, &error);
	if (certs == NULL) {
		g_assert_nonnull (error);
		return 0;
	}
	g_assert_nonnull (warnings);
	g_assert_cmpuint (certs->len, >, 0);
	describe_all (certs);
	pem = tether_x509_export_pem (certs, &error);
	g_assert_no_error (error);
	return 0;
}
