/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * tether-pki-tool: a test certificate authority on the command line, for the test scripts and
 * the README's demo.
 *
 *   tether-pki-tool ca --cn NAME --out-cert FILE --out-key FILE [--ca FILE --ca-key FILE]
 *   tether-pki-tool server --ca FILE --ca-key FILE --dns NAME... --ip ADDR... --out-cert FILE
 *                          --out-key FILE
 *   tether-pki-tool client --ca FILE --ca-key FILE --cn NAME --out-cert FILE --out-key FILE
 *   tether-pki-tool sign-csr --ca FILE --ca-key FILE --csr FILE --out-cert FILE
 *
 * with [--days N | --expired | --not-yet-valid] [--key-type T] [--chain] where they apply.
 */

#include <locale.h>
#include <stdlib.h>

#include "tether-test-pki.h"

typedef struct {
	gchar *ca;
	gchar *ca_key;
	gchar *cn;
	gchar *organization;
	gchar **dns;
	gchar **ip;
	gchar *csr;
	gchar *out_cert;
	gchar *out_key;
	gchar *key_type;
	gint days;
	gboolean expired;
	gboolean not_yet_valid;
	gboolean chain;
} ToolOptions;

static void
tool_options_clear (ToolOptions *options)
{
	g_free (options->ca);
	g_free (options->ca_key);
	g_free (options->cn);
	g_free (options->organization);
	g_strfreev (options->dns);
	g_strfreev (options->ip);
	g_free (options->csr);
	g_free (options->out_cert);
	g_free (options->out_key);
	g_free (options->key_type);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ToolOptions, tool_options_clear)

static const gchar *const commands_help =
        "Commands:\n"
        "  ca        a CA certificate: self-signed, or an intermediate with --ca/--ca-key\n"
        "  server    a TLS server certificate (--dns, --ip) issued by --ca\n"
        "  client    a TLS client certificate (--cn) issued by --ca\n"
        "  sign-csr  a client certificate for the PEM request in --csr, issued by --ca\n"
        "\n"
        "Keys are written unencrypted (PKCS#8, mode 0600). For tests only.";

static gboolean
require (const gchar *value, const gchar *option, const gchar *command, GError **error)
{
	if (value != NULL && *value != '\0')
		return TRUE;
	g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "'%s' needs %s", command,
	             option);
	return FALSE;
}

static gboolean
validity (const ToolOptions *options, gint64 *not_before, gint64 *not_after, GError **error)
{
	gint64 now = g_get_real_time () / G_USEC_PER_SEC;

	if ((options->expired ? 1 : 0) + (options->not_yet_valid ? 1 : 0) +
	            (options->days > 0 ? 1 : 0) >
	    1) {
		g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
		                     "give only one of --days, --expired, --not-yet-valid");
		return FALSE;
	}
	if (options->days < 0) {
		g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		                     "--days must be positive");
		return FALSE;
	}
	if (options->expired) {
		*not_before = now - 30 * TETHER_TEST_DAY;
		*not_after = now - TETHER_TEST_DAY;
	} else if (options->not_yet_valid) {
		*not_before = now + 30 * TETHER_TEST_DAY;
		*not_after = now + 60 * TETHER_TEST_DAY;
	} else {
		*not_before = now - 3600;
		*not_after = now + (options->days > 0 ? options->days : 365) * TETHER_TEST_DAY;
	}
	return TRUE;
}

static TetherTestCert *
load_ca (const ToolOptions *options, const gchar *command, GError **error)
{
	if (!require (options->ca, "--ca", command, error) ||
	    !require (options->ca_key, "--ca-key", command, error))
		return NULL;
	return tether_test_cert_load (options->ca, options->ca_key, error);
}

static gboolean
run_issue (const gchar *command, const ToolOptions *options, GError **error)
{
	TetherTestCertSpec spec = { 0 };
	g_autoptr (TetherTestCert) ca = NULL;
	g_autoptr (TetherTestCert) cert = NULL;

	if (!require (options->out_cert, "--out-cert", command, error) ||
	    !require (options->out_key, "--out-key", command, error) ||
	    !validity (options, &spec.not_before, &spec.not_after, error))
		return FALSE;

	if (g_str_equal (command, "ca")) {
		spec.kind = TETHER_TEST_CERT_CA;
		if (!require (options->cn, "--cn", command, error))
			return FALSE;
		if ((options->ca != NULL || options->ca_key != NULL) &&
		    (ca = load_ca (options, command, error)) == NULL)
			return FALSE;
	} else if (g_str_equal (command, "server")) {
		spec.kind = TETHER_TEST_CERT_SERVER;
		if (options->dns == NULL && options->ip == NULL) {
			g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
			                     "'server' needs --dns or --ip");
			return FALSE;
		}
		if ((ca = load_ca (options, command, error)) == NULL)
			return FALSE;
	} else {
		spec.kind = TETHER_TEST_CERT_CLIENT;
		if (!require (options->cn, "--cn", command, error) ||
		    (ca = load_ca (options, command, error)) == NULL)
			return FALSE;
	}

	/* a server without --cn is named after its first name */
	spec.common_name = options->cn;
	if (spec.common_name == NULL)
		spec.common_name = options->dns != NULL ? options->dns[0] : options->ip[0];
	spec.organization = options->organization;
	spec.dns_names = (const gchar *const *) options->dns;
	spec.ip_addresses = (const gchar *const *) options->ip;
	spec.key_type = options->key_type;
	cert = tether_test_cert_new (&spec, ca, error);
	if (cert == NULL)
		return FALSE;
	return tether_test_cert_write (cert, options->out_cert, options->chain, options->out_key,
	                               error);
}

static gboolean
run_sign_csr (const ToolOptions *options, GError **error)
{
	g_autoptr (TetherTestCert) ca = NULL;
	g_autoptr (TetherTestCert) cert = NULL;
	g_autofree gchar *csr_pem = NULL;
	gint64 not_before = 0;
	gint64 not_after = 0;

	if (!require (options->csr, "--csr", "sign-csr", error) ||
	    !require (options->out_cert, "--out-cert", "sign-csr", error) ||
	    !validity (options, &not_before, &not_after, error))
		return FALSE;
	ca = load_ca (options, "sign-csr", error);
	if (ca == NULL || !g_file_get_contents (options->csr, &csr_pem, NULL, error))
		return FALSE;
	cert = tether_test_cert_sign_csr (ca, csr_pem, not_before, not_after, error);
	if (cert == NULL)
		return FALSE;
	return tether_test_cert_write (cert, options->out_cert, options->chain, NULL, error);
}

int
main (int argc, char **argv)
{
	g_auto (ToolOptions) options = { 0 };
	g_autoptr (GOptionContext) context = NULL;
	g_autoptr (GError) error = NULL;
	const gchar *command;
	gboolean ok;
	const GOptionEntry entries[] = {
		{ "ca", 0, 0, G_OPTION_ARG_FILENAME, &options.ca, "the issuing CA's certificate",
		  "FILE" },
		{ "ca-key", 0, 0, G_OPTION_ARG_FILENAME, &options.ca_key, "the issuing CA's key",
		  "FILE" },
		{ "cn", 0, 0, G_OPTION_ARG_STRING, &options.cn, "the subject's common name",
		  "NAME" },
		{ "org", 0, 0, G_OPTION_ARG_STRING, &options.organization,
		  "the subject's organization", "NAME" },
		{ "dns", 0, 0, G_OPTION_ARG_STRING_ARRAY, &options.dns, "a DNS name (repeatable)",
		  "NAME" },
		{ "ip", 0, 0, G_OPTION_ARG_STRING_ARRAY, &options.ip, "an IP address (repeatable)",
		  "ADDRESS" },
		{ "csr", 0, 0, G_OPTION_ARG_FILENAME, &options.csr, "a PEM certificate request",
		  "FILE" },
		{ "out-cert", 0, 0, G_OPTION_ARG_FILENAME, &options.out_cert,
		  "where to write the certificate", "FILE" },
		{ "out-key", 0, 0, G_OPTION_ARG_FILENAME, &options.out_key,
		  "where to write the private key", "FILE" },
		{ "key-type", 0, 0, G_OPTION_ARG_STRING, &options.key_type,
		  "ec-p256 (default), ec-p384, rsa-2048, rsa-3072", "TYPE" },
		{ "days", 0, 0, G_OPTION_ARG_INT, &options.days, "valid for N days (default 365)",
		  "N" },
		{ "expired", 0, 0, G_OPTION_ARG_NONE, &options.expired,
		  "expired yesterday (valid from 30 days ago)", NULL },
		{ "not-yet-valid", 0, 0, G_OPTION_ARG_NONE, &options.not_yet_valid,
		  "valid from 30 days from now", NULL },
		{ "chain", 0, 0, G_OPTION_ARG_NONE, &options.chain,
		  "write the certificate followed by its intermediates", NULL },
		{ NULL }
	};

	setlocale (LC_ALL, "");
	context = g_option_context_new ("COMMAND - a test certificate authority");
	g_option_context_add_main_entries (context, entries, NULL);
	g_option_context_set_description (context, commands_help);
	if (!g_option_context_parse (context, &argc, &argv, &error)) {
		g_printerr ("tether-pki-tool: %s\n", error->message);
		return EXIT_FAILURE;
	}
	if (argc != 2) {
		g_autofree gchar *help = g_option_context_get_help (context, TRUE, NULL);

		g_printerr ("%s", help);
		return EXIT_FAILURE;
	}

	command = argv[1];
	if (g_str_equal (command, "ca") || g_str_equal (command, "server") ||
	    g_str_equal (command, "client")) {
		ok = run_issue (command, &options, &error);
	} else if (g_str_equal (command, "sign-csr")) {
		ok = run_sign_csr (&options, &error);
	} else {
		g_printerr ("tether-pki-tool: '%s' is not a command: use ca, server, client or "
		            "sign-csr\n",
		            command);
		return EXIT_FAILURE;
	}
	if (!ok) {
		g_printerr ("tether-pki-tool: %s\n", error->message);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
