/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>
#include <gnutls/pkcs12.h>
#include <gnutls/pkcs7.h>
#include <tether/tether-error.h>

#include "tether-common.h"
#include "tether-x509.h"

/* the largest PEM input we look at: a bundle of a few hundred certificates */
#define TETHER_X509_MAX_PEM_SIZE  (4 * 1024 * 1024)
#define TETHER_CSR_MAX_NAME_CHARS 64

/* a gnutls_datum_t the library allocated, wiped before it is freed (it may hold a key) */
static void
secret_datum_clear (gnutls_datum_t *datum)
{
	if (datum->data != NULL) {
		gnutls_memset (datum->data, 0, datum->size);
		gnutls_free (datum->data);
	}
	datum->data = NULL;
	datum->size = 0;
}

static void
datum_clear (gnutls_datum_t *datum)
{
	gnutls_free (datum->data);
	datum->data = NULL;
	datum->size = 0;
}

static void
crt_free (gpointer crt)
{
	gnutls_x509_crt_deinit (crt);
}

GPtrArray *
tether_x509_list_new (void)
{
	return g_ptr_array_new_with_free_func (crt_free);
}

/* PEM block walk ------------------------------------------------------------------------------ */

typedef struct {
	gchar *label;       /* "CERTIFICATE", "EC PRIVATE KEY", ... */
	const gchar *begin; /* the first '-' of the BEGIN line */
	gsize len;          /* up to the END line's last '-', or 0 when it has none */
} PemBlock;

static void
pem_block_clear (PemBlock *block)
{
	g_clear_pointer (&block->label, g_free);
}

static const gchar *
find_bytes (const gchar *haystack, gsize haystack_len, const gchar *needle)
{
	gsize needle_len = strlen (needle);
	const gchar *end = haystack + haystack_len;

	for (const gchar *p = haystack; needle_len <= (gsize) (end - p); p++) {
		p = memchr (p, needle[0], (end - p) - needle_len + 1);
		if (p == NULL)
			return NULL;
		if (memcmp (p, needle, needle_len) == 0)
			return p;
	}
	return NULL;
}

/*
 * Splits @data into its "-----BEGIN x-----" ... "-----END x-----" blocks. Text between
 * blocks (comments, "Bag Attributes") is ignored, as OpenSSL does.
 */
static GArray *
pem_split (const gchar *data, gsize size)
{
	GArray *blocks = g_array_new (FALSE, TRUE, sizeof (PemBlock));
	const gchar *p = data;
	const gchar *end = data + size;

	g_array_set_clear_func (blocks, (GDestroyNotify) pem_block_clear);
	for (;;) {
		PemBlock block = { NULL, NULL, 0 };
		const gchar *label;
		const gchar *label_end;
		const gchar *end_line;
		const gchar *next_begin;
		g_autofree gchar *end_marker = NULL;

		block.begin = find_bytes (p, end - p, "-----BEGIN ");
		if (block.begin == NULL)
			break;
		label = block.begin + strlen ("-----BEGIN ");
		label_end = find_bytes (label, end - label, "-----");
		if (label_end == NULL || memchr (label, '\n', label_end - label) != NULL) {
			/* a BEGIN line cut short: a block that cannot be read */
			block.label = g_strdup ("");
			g_array_append_val (blocks, block);
			break;
		}
		block.label = g_strndup (label, label_end - label);

		/* the END line must come before the next block begins */
		end_marker = g_strdup_printf ("-----END %s-----", block.label);
		next_begin = find_bytes (label_end, end - label_end, "-----BEGIN ");
		end_line = find_bytes (
		        label_end, (next_begin != NULL ? next_begin : end) - label_end, end_marker);
		if (end_line == NULL) {
			g_array_append_val (blocks, block);
			p = label_end;
			continue;
		}
		block.len = (end_line + strlen (end_marker)) - block.begin;
		g_array_append_val (blocks, block);
		p = block.begin + block.len;
	}
	return blocks;
}

static gboolean
pem_label_is_certificate (const gchar *label)
{
	return g_str_equal (label, "CERTIFICATE") || g_str_equal (label, "X509 CERTIFICATE");
}

static gboolean
pem_label_is_private_key (const gchar *label)
{
	return strstr (label, "PRIVATE KEY") != NULL;
}

/* a copy of a PEM block without carriage returns (a file saved on Windows) */
static gchar *
pem_block_to_lf (const PemBlock *block)
{
	GString *text = g_string_sized_new (block->len + 1);

	for (gsize i = 0; i < block->len; i++) {
		if (block->begin[i] != '\r')
			g_string_append_c (text, block->begin[i]);
	}
	g_string_append_c (text, '\n');
	return g_string_free (text, FALSE);
}

GBytes *
tether_pem_certificate_blocks (GBytes *data)
{
	g_autoptr (GArray) blocks = NULL;
	g_autoptr (GString) pem = g_string_new (NULL);
	gsize size = 0;
	const gchar *text;

	g_return_val_if_fail (data != NULL, NULL);

	text = g_bytes_get_data (data, &size);
	if (size == 0 || size > TETHER_X509_MAX_PEM_SIZE)
		return NULL;
	blocks = pem_split (text, size);
	for (guint i = 0; i < blocks->len; i++) {
		const PemBlock *block = &g_array_index (blocks, PemBlock, i);
		g_autofree gchar *copy = NULL;

		if (block->len == 0 || !pem_label_is_certificate (block->label))
			continue;
		copy = pem_block_to_lf (block);
		g_string_append (pem, copy);
	}
	if (pem->len == 0)
		return NULL;
	return g_string_free_to_bytes (g_steal_pointer (&pem));
}

GPtrArray *
tether_x509_parse_pem (GBytes *data, GError **error)
{
	g_autoptr (GPtrArray) certs = tether_x509_list_new ();
	g_autoptr (GArray) blocks = NULL;
	gsize size = 0;
	const gchar *text;
	guint n_certs = 0;

	g_return_val_if_fail (data != NULL, NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);

	text = g_bytes_get_data (data, &size);
	if (size > TETHER_X509_MAX_PEM_SIZE) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		             _("the certificate data is too large (%lu bytes, at most %d): give "
		                "only the certificates needed"),
		                (gulong) size, TETHER_X509_MAX_PEM_SIZE);
		return NULL;
	}
	blocks = pem_split (text, size);

	/* refuse a key before anything else, and never copy it */
	for (guint i = 0; i < blocks->len; i++) {
		const PemBlock *block = &g_array_index (blocks, PemBlock, i);

		if (pem_label_is_private_key (block->label)) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
			             _("the certificate data holds a private key (PEM block %u, "
			                "'%s'): give only the certificates; a private key is "
			                "imported into an identity on its own"),
			                i + 1, block->label);
			return NULL;
		}
	}

	/* also a key in a block we could not delimit */
	if (find_bytes (text, size, "PRIVATE KEY") != NULL) {
		g_set_error_literal (
		        error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		        _("the certificate data holds a private key: give only the "
				       "certificates; a private key is imported into an identity on "
				       "its own"));
		return NULL;
	}

	/* only certificates, so each can be named by its position */
	for (guint i = 0; i < blocks->len; i++) {
		const PemBlock *block = &g_array_index (blocks, PemBlock, i);

		if (*block->label == '\0') {
			g_set_error (
			        error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
			        _("PEM block %u is damaged: its BEGIN line is cut short; copy "
			           "the file again"),
			           i + 1);
			return NULL;
		}
		if (!pem_label_is_certificate (block->label)) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
			             _("PEM block %u is a '%s', not a certificate: give only "
			                "'CERTIFICATE' blocks"),
			                i + 1, block->label);
			return NULL;
		}
		n_certs++;
	}
	if (n_certs == 0) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		                     _("no PEM certificate found (a '-----BEGIN CERTIFICATE-----' "
		                        "block): give the certificates in PEM form; convert a DER "
		                        "file first, for example with 'certtool --inder "
		                        "--certificate-info'"));
		return NULL;
	}

	for (guint i = 0; i < blocks->len; i++) {
		const PemBlock *block = &g_array_index (blocks, PemBlock, i);
		g_autofree gchar *pem = NULL;
		gnutls_datum_t datum;
		gnutls_x509_crt_t crt = NULL;
		guint position = certs->len + 1;
		int rc;

		if (block->len == 0) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
			             _("certificate %u of %u is damaged: its PEM block has no "
			                "'-----END CERTIFICATE-----' line; copy the file again"),
			                position, n_certs);
			return NULL;
		}

		pem = pem_block_to_lf (block);
		datum.data = (unsigned char *) pem;
		datum.size = strlen (pem);
		rc = gnutls_x509_crt_init (&crt);
		if (rc == GNUTLS_E_SUCCESS)
			rc = gnutls_x509_crt_import (crt, &datum, GNUTLS_X509_FMT_PEM);
		if (rc != GNUTLS_E_SUCCESS) {
			g_clear_pointer (&crt, gnutls_x509_crt_deinit);
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
			             _("certificate %u of %u is damaged (%s): copy the file again "
			                "or export the certificate again as PEM"),
			                position, n_certs, gnutls_strerror (rc));
			return NULL;
		}
		g_ptr_array_add (certs, crt);
	}
	return g_steal_pointer (&certs);
}

gchar *
tether_x509_export_pem (GPtrArray *certs, GError **error)
{
	g_autoptr (GString) pem = g_string_new (NULL);

	g_return_val_if_fail (certs != NULL, NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);

	for (guint i = 0; i < certs->len; i++) {
		gnutls_datum_t out = { NULL, 0 };
		int rc = gnutls_x509_crt_export2 (g_ptr_array_index (certs, i), GNUTLS_X509_FMT_PEM,
		                                  &out);

		if (rc != GNUTLS_E_SUCCESS) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
			             _("certificate %u of %u could not be written as PEM (%s)"),
			                i + 1, certs->len, gnutls_strerror (rc));
			return NULL;
		}
		g_string_append_len (pem, (const gchar *) out.data, out.size);
		datum_clear (&out);
	}
	return g_string_free (g_steal_pointer (&pem), FALSE);
}

/* names and attributes ------------------------------------------------------------------------ */

static gchar *
datum_to_string (gnutls_datum_t *datum)
{
	gchar *s = g_strndup ((const gchar *) datum->data, datum->size);

	datum_clear (datum);
	return s;
}

gchar *
tether_x509_get_subject (gnutls_x509_crt_t crt)
{
	gnutls_datum_t dn = { NULL, 0 };

	g_return_val_if_fail (crt != NULL, NULL);

	if (gnutls_x509_crt_get_dn3 (crt, &dn, 0) != GNUTLS_E_SUCCESS)
		return g_strdup ("");
	return datum_to_string (&dn);
}

gchar *
tether_x509_get_issuer (gnutls_x509_crt_t crt)
{
	gnutls_datum_t dn = { NULL, 0 };

	g_return_val_if_fail (crt != NULL, NULL);

	if (gnutls_x509_crt_get_issuer_dn3 (crt, &dn, 0) != GNUTLS_E_SUCCESS)
		return g_strdup ("");
	return datum_to_string (&dn);
}

gchar *
tether_x509_get_common_name (gnutls_x509_crt_t crt)
{
	size_t size = 0;
	g_autofree gchar *cn = NULL;
	int rc;

	g_return_val_if_fail (crt != NULL, NULL);

	rc = gnutls_x509_crt_get_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, NULL, &size);
	if (rc != GNUTLS_E_SHORT_MEMORY_BUFFER)
		return NULL;
	cn = g_malloc0 (size + 1);
	rc = gnutls_x509_crt_get_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &size);
	if (rc != GNUTLS_E_SUCCESS)
		return NULL;
	return g_steal_pointer (&cn);
}

static gchar *
hex_join (const guint8 *bytes, gsize len, gboolean upper, const gchar *separator)
{
	GString *out = g_string_sized_new (len * 3);

	for (gsize i = 0; i < len; i++) {
		if (i > 0 && separator != NULL)
			g_string_append (out, separator);
		g_string_append_printf (out, upper ? "%02X" : "%02x", bytes[i]);
	}
	return g_string_free (out, FALSE);
}

gchar *
tether_x509_get_fingerprint (gnutls_x509_crt_t crt)
{
	guint8 digest[64];
	size_t size = sizeof (digest);

	g_return_val_if_fail (crt != NULL, NULL);

	if (gnutls_x509_crt_get_fingerprint (crt, GNUTLS_DIG_SHA256, digest, &size) !=
	    GNUTLS_E_SUCCESS)
		return g_strdup ("");
	return hex_join (digest, size, TRUE, ":");
}

gchar *
tether_x509_get_serial (gnutls_x509_crt_t crt)
{
	guint8 serial[64];
	size_t size = sizeof (serial);
	gsize skip = 0;

	g_return_val_if_fail (crt != NULL, NULL);

	if (gnutls_x509_crt_get_serial (crt, serial, &size) != GNUTLS_E_SUCCESS || size == 0)
		return g_strdup ("");

	/* the DER sign byte is not part of the number */
	while (skip + 1 < size && serial[skip] == 0)
		skip++;
	return hex_join (serial + skip, size - skip, FALSE, NULL);
}

gboolean
tether_x509_is_ca (gnutls_x509_crt_t crt)
{
	unsigned int critical = 0;
	unsigned int ca = 0;
	int path_len = -1;

	g_return_val_if_fail (crt != NULL, FALSE);

	if (gnutls_x509_crt_get_basic_constraints (crt, &critical, &ca, &path_len) < 0)
		return FALSE;
	return ca != 0;
}

/*
 * Reads one DER tag-length header at @der; returns the header's length and the content's
 * length in @content_len, or 0 when it is not a well-formed SEQUENCE within @size.
 */
static gsize
der_sequence_header (const guint8 *der, gsize size, gsize *content_len)
{
	gsize n_len_bytes;
	gsize len = 0;

	if (size < 2 || der[0] != 0x30)
		return 0;
	if ((der[1] & 0x80) == 0) {
		*content_len = der[1];
		return *content_len <= size - 2 ? 2 : 0;
	}
	n_len_bytes = der[1] & 0x7f;
	if (n_len_bytes == 0 || n_len_bytes > 4 || size < 2 + n_len_bytes)
		return 0;
	for (gsize i = 0; i < n_len_bytes; i++)
		len = (len << 8) | der[2 + i];
	if (len > size - 2 - n_len_bytes)
		return 0;
	*content_len = len;
	return 2 + n_len_bytes;
}

gboolean
tether_x509_is_self_signed (gnutls_x509_crt_t crt)
{
	gnutls_datum_t der = { NULL, 0 };
	gnutls_datum_t tbs;
	gnutls_datum_t signature;
	g_auto (gnutls_pubkey_t) pubkey = NULL;
	g_autofree guint8 *sig_bytes = NULL;
	size_t sig_size = 0;
	gsize outer_header;
	gsize outer_len = 0;
	gsize tbs_header;
	gsize tbs_len = 0;
	int sign_algo;
	int rc;

	g_return_val_if_fail (crt != NULL, FALSE);

	if (gnutls_x509_crt_check_issuer (crt, crt) == 0)
		return FALSE;

	/* the signed part: the first element of the outer SEQUENCE, header included */
	if (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_DER, &der) != GNUTLS_E_SUCCESS)
		return FALSE;
	outer_header = der_sequence_header (der.data, der.size, &outer_len);
	tbs_header = outer_header == 0
	                     ? 0
	                     : der_sequence_header (der.data + outer_header, outer_len, &tbs_len);
	if (tbs_header == 0) {
		datum_clear (&der);
		return FALSE;
	}
	tbs.data = der.data + outer_header;
	tbs.size = tbs_header + tbs_len;

	rc = gnutls_x509_crt_get_signature (crt, NULL, &sig_size);
	if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER) {
		sig_bytes = g_malloc (sig_size);
		rc = gnutls_x509_crt_get_signature (crt, (char *) sig_bytes, &sig_size);
	}
	sign_algo = gnutls_x509_crt_get_signature_algorithm (crt);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_pubkey_init (&pubkey);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_pubkey_import_x509 (pubkey, crt, 0);
	if (rc == GNUTLS_E_SUCCESS && sign_algo > 0) {
		/* whether the key signed it, not whether the algorithm is still acceptable */
		signature.data = sig_bytes;
		signature.size = sig_size;
		rc = gnutls_pubkey_verify_data2 (pubkey, sign_algo,
		                                 GNUTLS_VERIFY_ALLOW_SIGN_WITH_SHA1 |
		                                         GNUTLS_VERIFY_ALLOW_BROKEN,
		                                 &tbs, &signature);
	} else if (rc == GNUTLS_E_SUCCESS) {
		rc = GNUTLS_E_UNKNOWN_ALGORITHM;
	}
	datum_clear (&der);
	return rc >= 0;
}

static gchar *
san_ip_to_string (const guint8 *bytes, gsize len)
{
	g_autoptr (GInetAddress) address = NULL;

	if (len == 4)
		address = g_inet_address_new_from_bytes (bytes, G_SOCKET_FAMILY_IPV4);
	else if (len == 16)
		address = g_inet_address_new_from_bytes (bytes, G_SOCKET_FAMILY_IPV6);
	else
		return NULL;
	return g_inet_address_to_string (address);
}

GStrv
tether_x509_get_host_names (gnutls_x509_crt_t crt)
{
	g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
	gboolean has_san = FALSE;

	g_return_val_if_fail (crt != NULL, NULL);

	for (guint seq = 0;; seq++) {
		g_autofree guint8 *value = NULL;
		size_t size = 0;
		unsigned int critical = 0;
		int type;

		type = gnutls_x509_crt_get_subject_alt_name (crt, seq, NULL, &size, &critical);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		/* with no buffer GnuTLS either asks for one or sizes the value right away */
		if (type < 0 && type != GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue;
		value = g_malloc0 (size + 1);
		type = gnutls_x509_crt_get_subject_alt_name (crt, seq, value, &size, &critical);
		if (type == GNUTLS_SAN_DNSNAME) {
			has_san = TRUE;
			g_strv_builder_add (builder, (const gchar *) value);
		} else if (type == GNUTLS_SAN_IPADDRESS) {
			g_autofree gchar *ip = san_ip_to_string (value, size);

			has_san = TRUE;
			if (ip != NULL)
				g_strv_builder_add (builder, ip);
		}
	}

	if (!has_san) {
		g_autofree gchar *cn = tether_x509_get_common_name (crt);

		if (cn != NULL)
			g_strv_builder_add (builder, cn);
	}
	return g_strv_builder_end (builder);
}

GVariant *
tether_x509_describe (gnutls_x509_crt_t crt)
{
	GVariantDict dict;
	g_autofree gchar *subject = NULL;
	g_autofree gchar *issuer = NULL;
	g_autofree gchar *fingerprint = NULL;

	g_return_val_if_fail (crt != NULL, NULL);

	subject = tether_x509_get_subject (crt);
	issuer = tether_x509_get_issuer (crt);
	fingerprint = tether_x509_get_fingerprint (crt);

	g_variant_dict_init (&dict, NULL);
	g_variant_dict_insert (&dict, "subject", "s", subject);
	g_variant_dict_insert (&dict, "issuer", "s", issuer);
	g_variant_dict_insert (&dict, "fingerprint-sha256", "s", fingerprint);
	g_variant_dict_insert (&dict, "not-before", "x",
	                       (gint64) gnutls_x509_crt_get_activation_time (crt));
	g_variant_dict_insert (&dict, "not-after", "x",
	                       (gint64) gnutls_x509_crt_get_expiration_time (crt));
	g_variant_dict_insert (&dict, "is-ca", "b", tether_x509_is_ca (crt));
	g_variant_dict_insert (&dict, "self-signed", "b", tether_x509_is_self_signed (crt));
	return g_variant_dict_end (&dict);
}

/* keys ---------------------------------------------------------------------------------------- */

static const struct {
	const gchar *name;
	TetherKeyType type;
	gnutls_pk_algorithm_t algorithm;
	unsigned int bits;
} key_types[] = {
	{ "ec-p256", TETHER_KEY_TYPE_EC_P256, GNUTLS_PK_ECDSA,
	  GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1) },
	{ "ec-p384", TETHER_KEY_TYPE_EC_P384, GNUTLS_PK_ECDSA,
	  GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP384R1) },
	{ "rsa-2048", TETHER_KEY_TYPE_RSA_2048, GNUTLS_PK_RSA, 2048 },
	{ "rsa-3072", TETHER_KEY_TYPE_RSA_3072, GNUTLS_PK_RSA, 3072 },
};

gboolean
tether_key_type_from_string (const gchar *name, TetherKeyType *type)
{
	g_return_val_if_fail (type != NULL, FALSE);

	if (name == NULL)
		return FALSE;
	for (gsize i = 0; i < G_N_ELEMENTS (key_types); i++) {
		if (g_str_equal (name, key_types[i].name)) {
			*type = key_types[i].type;
			return TRUE;
		}
	}
	return FALSE;
}

/* the bytes of a key, wiped when the last reference to them goes */
typedef struct {
	gpointer data;
	gsize size;
} Secret;

static void
secret_free (gpointer user_data)
{
	Secret *secret = user_data;

	gnutls_memset (secret->data, 0, secret->size);
	g_free (secret->data);
	g_free (secret);
}

static GBytes *
secret_bytes_new (const gnutls_datum_t *datum)
{
	Secret *secret = g_new0 (Secret, 1);

	secret->data = g_memdup2 (datum->data, datum->size);
	secret->size = datum->size;
	return g_bytes_new_with_free_func (secret->data, secret->size, secret_free, secret);
}

GBytes *
tether_key_generate (TetherKeyType type, GError **error)
{
	g_auto (gnutls_privkey_t) key = NULL;
	gnutls_x509_privkey_t x509_key = NULL;
	gnutls_datum_t pem = { NULL, 0 };
	GBytes *result;
	gsize i;
	int rc;

	g_return_val_if_fail (error == NULL || *error == NULL, NULL);

	for (i = 0; i < G_N_ELEMENTS (key_types); i++) {
		if (key_types[i].type == type)
			break;
	}
	if (i == G_N_ELEMENTS (key_types)) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("key type %d is not known: use ec-p256, ec-p384, rsa-2048 or "
		                "rsa-3072"),
		                (int) type);
		return NULL;
	}

	rc = gnutls_privkey_init (&key);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_privkey_generate2 (key, key_types[i].algorithm, key_types[i].bits, 0,
		                               NULL, 0);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_privkey_export_x509 (key, &x509_key);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_privkey_export2_pkcs8 (x509_key, GNUTLS_X509_FMT_PEM, NULL,
		                                        GNUTLS_PKCS_PLAIN, &pem);
	g_clear_pointer (&x509_key, gnutls_x509_privkey_deinit);
	if (rc != GNUTLS_E_SUCCESS) {
		secret_datum_clear (&pem);
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("a %s key could not be generated (%s): check that the system's "
		                "random number generator works"),
		                key_types[i].name, gnutls_strerror (rc));
		return NULL;
	}

	result = secret_bytes_new (&pem);
	secret_datum_clear (&pem);
	return result;
}

gnutls_privkey_t
tether_key_load_pem (GBytes *pem, GError **error)
{
	g_auto (gnutls_x509_privkey_t) x509_key = NULL;
	g_auto (gnutls_privkey_t) key = NULL;
	gnutls_datum_t datum;
	gsize size = 0;
	const gchar *text;
	int rc;

	g_return_val_if_fail (pem != NULL, NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);

	text = g_bytes_get_data (pem, &size);
	if (size == 0 || size > TETHER_X509_MAX_PEM_SIZE ||
	    find_bytes (text, size, "PRIVATE KEY-----") == NULL) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
		                     _("no PEM private key found (a '-----BEGIN PRIVATE "
		                        "KEY-----' block): give the key in PKCS#8 PEM form"));
		return NULL;
	}
	if (find_bytes (text, size, "-----BEGIN ENCRYPTED PRIVATE KEY-----") != NULL ||
	    find_bytes (text, size, "Proc-Type: 4,ENCRYPTED") != NULL) {
		g_set_error_literal (
		        error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
		        _("the private key is encrypted: import it with its password, "
		           "or decrypt it first"));
		return NULL;
	}

	datum.data = (unsigned char *) text;
	datum.size = size;
	rc = gnutls_x509_privkey_init (&x509_key);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_privkey_import2 (x509_key, &datum, GNUTLS_X509_FMT_PEM, NULL,
		                                  GNUTLS_PKCS_PLAIN);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_privkey_init (&key);
	if (rc == GNUTLS_E_SUCCESS) {
		rc = gnutls_privkey_import_x509 (key, x509_key, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
		if (rc == GNUTLS_E_SUCCESS)
			x509_key = NULL; /* owned by the key now */
	}
	if (rc != GNUTLS_E_SUCCESS) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
		             _("the private key could not be read (%s): give an unencrypted "
		                "PKCS#8 ('PRIVATE KEY'), SEC1 ('EC PRIVATE KEY') or PKCS#1 "
		                "('RSA PRIVATE KEY') PEM key"),
		                gnutls_strerror (rc));
		return NULL;
	}
	return g_steal_pointer (&key);
}

gchar *
tether_key_describe_type (gnutls_privkey_t key)
{
	unsigned int bits = 0;
	int algorithm;

	g_return_val_if_fail (key != NULL, NULL);

	algorithm = gnutls_privkey_get_pk_algorithm (key, &bits);
	switch (algorithm) {
	case GNUTLS_PK_RSA:
		return g_strdup_printf ("rsa-%u", bits);
	case GNUTLS_PK_RSA_PSS:
		return g_strdup_printf ("rsa-pss-%u", bits);
	case GNUTLS_PK_ECDSA:
		return g_strdup_printf ("ec-p%u", bits);
	case GNUTLS_PK_EDDSA_ED25519:
		return g_strdup ("ed25519");
	case GNUTLS_PK_EDDSA_ED448:
		return g_strdup ("ed448");
	default:
		if (algorithm < 0)
			return g_strdup ("unknown");
		return g_ascii_strdown (gnutls_pk_algorithm_get_name (algorithm), -1);
	}
}

static gboolean
pubkey_der (gnutls_pubkey_t pubkey, gnutls_datum_t *out)
{
	return gnutls_pubkey_export2 (pubkey, GNUTLS_X509_FMT_DER, out) == GNUTLS_E_SUCCESS;
}

gboolean
tether_key_matches_certificate (gnutls_privkey_t key, gnutls_x509_crt_t crt)
{
	g_auto (gnutls_pubkey_t) from_key = NULL;
	g_auto (gnutls_pubkey_t) from_crt = NULL;
	gnutls_datum_t a = { NULL, 0 };
	gnutls_datum_t b = { NULL, 0 };
	gboolean same;

	g_return_val_if_fail (key != NULL, FALSE);
	g_return_val_if_fail (crt != NULL, FALSE);

	if (gnutls_pubkey_init (&from_key) != GNUTLS_E_SUCCESS ||
	    gnutls_pubkey_init (&from_crt) != GNUTLS_E_SUCCESS)
		return FALSE;
	if (gnutls_pubkey_import_privkey (from_key, key, 0, 0) != GNUTLS_E_SUCCESS ||
	    gnutls_pubkey_import_x509 (from_crt, crt, 0) != GNUTLS_E_SUCCESS)
		return FALSE;
	if (!pubkey_der (from_key, &a) || !pubkey_der (from_crt, &b)) {
		datum_clear (&a);
		datum_clear (&b);
		return FALSE;
	}
	same = a.size == b.size && memcmp (a.data, b.data, a.size) == 0;
	datum_clear (&a);
	datum_clear (&b);
	return same;
}

/* PEM text, or else DER */
static gboolean
key_data_is_pem (const gchar *text, gsize size)
{
	return find_bytes (text, size, "-----BEGIN ") != NULL;
}

static gboolean
key_data_is_encrypted_pem (const gchar *text, gsize size)
{
	return find_bytes (text, size, "-----BEGIN ENCRYPTED PRIVATE KEY-----") != NULL ||
	       find_bytes (text, size, "Proc-Type: 4,ENCRYPTED") != NULL;
}

/* the refusal for a key or bundle that a password did not open */
static void
set_password_error (const gchar *what, const gchar *password, GError **error)
{
	if (password == NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
		             _("the %s is protected by a password and none was given: give its "
		               "password (tetherctl: --password-file FILE, or - for standard "
		               "input)"),
		                what);
	} else if (*password == '\0') {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
		             _("the %s is protected by a password and the password given is "
		               "empty: give its password"),
		                what);
	} else {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
		             _("the password given does not open the %s: check the password"),
		                what);
	}
}

/* the key as unencrypted PKCS#8 PEM, wiped when the last reference goes */
static GBytes *
export_plain_pkcs8 (gnutls_x509_privkey_t key, GError **error)
{
	gnutls_datum_t pem = { NULL, 0 };
	GBytes *result;
	int rc;

	rc = gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
	                                        &pem);
	if (rc != GNUTLS_E_SUCCESS) {
		secret_datum_clear (&pem);
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
		             _("the private key could not be converted to PKCS#8 (%s)"),
		                gnutls_strerror (rc));
		return NULL;
	}
	result = secret_bytes_new (&pem);
	secret_datum_clear (&pem);
	return result;
}

/* whether DER @datum is an X.509 certificate */
static gboolean
der_is_certificate (const gnutls_datum_t *datum)
{
	g_auto(gnutls_x509_crt_t) crt = NULL;

	return gnutls_x509_crt_init (&crt) == GNUTLS_E_SUCCESS &&
	       gnutls_x509_crt_import (crt, datum, GNUTLS_X509_FMT_DER) == GNUTLS_E_SUCCESS;
}

GBytes *
tether_key_import (GBytes *data, const gchar *password, gboolean *was_encrypted, GError **error)
{
	g_auto(gnutls_x509_privkey_t) key = NULL;
	gnutls_datum_t datum;
	gsize size = 0;
	const gchar *text;
	gboolean encrypted = FALSE;
	int rc;

	g_return_val_if_fail (data != NULL, NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);

	text = g_bytes_get_data (data, &size);
	if (size == 0 || size > TETHER_X509_MAX_PEM_SIZE) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
		             _("the private key is %lu bytes long: give a PEM or DER key, or a "
		               "PKCS#12 bundle"),
		                (gulong) size);
		return NULL;
	}
	datum.data = (unsigned char *) text;
	datum.size = (unsigned int) size;
	rc = gnutls_x509_privkey_init (&key);
	if (rc != GNUTLS_E_SUCCESS) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("the private key could not be read (%s)"), gnutls_strerror (rc));
		return NULL;
	}

	/* GnuTLS never asks for a password on a terminal: it takes the one given, or none */
	if (key_data_is_pem (text, size)) {
		if (find_bytes (text, size, "PRIVATE KEY-----") == NULL &&
		    find_bytes (text, size, "CERTIFICATE-----") != NULL) {
			g_set_error_literal (
			        error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
			        _("the key file holds certificates and no private key: give the "
			          "private key first and its certificate chain second"));
			return NULL;
		}
		if (find_bytes (text, size, "PRIVATE KEY-----") == NULL) {
			g_set_error_literal (
			        error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
			        _("no PEM private key found: give a 'PRIVATE KEY', 'ENCRYPTED "
			          "PRIVATE KEY', 'EC PRIVATE KEY' or 'RSA PRIVATE KEY' block, or a "
			          "PKCS#12 bundle"));
			return NULL;
		}
		encrypted = key_data_is_encrypted_pem (text, size);
		if (!encrypted)
			rc = gnutls_x509_privkey_import2 (key, &datum, GNUTLS_X509_FMT_PEM, NULL,
			                                  GNUTLS_PKCS_PLAIN);
		else if (password == NULL)
			rc = GNUTLS_E_DECRYPTION_FAILED;
		else
			rc = gnutls_x509_privkey_import2 (key, &datum, GNUTLS_X509_FMT_PEM,
			                                  password, 0);
	} else {
		/* DER: plain, or else encrypted PKCS#8 (which a wrong password tells apart) */
		rc = gnutls_x509_privkey_import2 (key, &datum, GNUTLS_X509_FMT_DER, NULL,
		                                  GNUTLS_PKCS_PLAIN);
		if (rc != GNUTLS_E_SUCCESS) {
			g_clear_pointer (&key, gnutls_x509_privkey_deinit);
			rc = gnutls_x509_privkey_init (&key);
			if (rc == GNUTLS_E_SUCCESS)
				rc = gnutls_x509_privkey_import_pkcs8 (
				        key, &datum, GNUTLS_X509_FMT_DER,
				        password != NULL ? password : "", 0);
			encrypted = rc == GNUTLS_E_SUCCESS || rc == GNUTLS_E_DECRYPTION_FAILED;
		}
	}
	if (was_encrypted != NULL)
		*was_encrypted = encrypted;
	if (encrypted && rc != GNUTLS_E_SUCCESS) {
		set_password_error (_("private key"), password, error);
		return NULL;
	}
	if (rc != GNUTLS_E_SUCCESS && !key_data_is_pem (text, size) && (guchar) text[0] != 0x30) {
		/* not an ASN.1 SEQUENCE: no DER key at all, whatever GnuTLS says */
		g_set_error_literal (
		        error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
		        _("the key file is neither PEM (no '-----BEGIN' line) nor DER: "
		                       "give a PKCS#8 (plain or encrypted), SEC1 ('EC PRIVATE KEY') "
		                       "or PKCS#1 ('RSA PRIVATE KEY') key, or a PKCS#12 bundle"));
		return NULL;
	}
	if (rc != GNUTLS_E_SUCCESS && !key_data_is_pem (text, size) &&
	    der_is_certificate (&datum)) {
		g_set_error_literal (
		        error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
		        _("the key file holds a certificate (DER) and no private key: "
		                       "give the private key first and its certificate chain "
		                       "second"));
		return NULL;
	}
	if (rc != GNUTLS_E_SUCCESS) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
		             _("the private key could not be read (%s): give a PKCS#8 (plain or "
		               "encrypted), SEC1 ('EC PRIVATE KEY') or PKCS#1 ('RSA PRIVATE KEY') "
		               "key in PEM or DER form, or a PKCS#12 bundle"),
		                gnutls_strerror (rc));
		return NULL;
	}
	return export_plain_pkcs8 (key, error);
}

gboolean
tether_pkcs12_detect (GBytes *data)
{
	gnutls_pkcs12_t pkcs12 = NULL;
	gnutls_datum_t datum;
	gsize size = 0;
	gboolean found;

	datum.data = (unsigned char *) g_bytes_get_data (data, &size);
	datum.size = (unsigned int) size;
	if (size == 0 || gnutls_pkcs12_init (&pkcs12) != GNUTLS_E_SUCCESS)
		return FALSE;
	found = gnutls_pkcs12_import (pkcs12, &datum,
	                              key_data_is_pem ((const gchar *) datum.data, size)
	                                      ? GNUTLS_X509_FMT_PEM
	                                      : GNUTLS_X509_FMT_DER,
	                              0) == GNUTLS_E_SUCCESS;
	gnutls_pkcs12_deinit (pkcs12);
	return found;
}

GBytes *
tether_pkcs12_import (GBytes *data, const gchar *password, GPtrArray **chain, GError **error)
{
	gnutls_pkcs12_t pkcs12 = NULL;
	g_auto(gnutls_x509_privkey_t) key = NULL;
	gnutls_x509_crt_t *certs = NULL;
	unsigned int n_certs = 0;
	gnutls_datum_t datum;
	gsize size = 0;
	int rc;

	g_return_val_if_fail (data != NULL, NULL);
	g_return_val_if_fail (chain != NULL, NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);

	datum.data = (unsigned char *) g_bytes_get_data (data, &size);
	datum.size = (unsigned int) size;
	if (size > TETHER_X509_MAX_PEM_SIZE) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
		             _("the PKCS#12 bundle is too large (%lu bytes)"), (gulong) size);
		return NULL;
	}
	rc = gnutls_pkcs12_init (&pkcs12);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_pkcs12_import (pkcs12, &datum,
		                           key_data_is_pem ((const gchar *) datum.data, size)
		                                   ? GNUTLS_X509_FMT_PEM
		                                   : GNUTLS_X509_FMT_DER,
		                           0);
	if (rc != GNUTLS_E_SUCCESS) {
		g_clear_pointer (&pkcs12, gnutls_pkcs12_deinit);
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
		             _("the data is not a PKCS#12 bundle (%s): give a .p12/.pfx file, or "
		               "the key and its certificate chain as PEM"),
		                gnutls_strerror (rc));
		return NULL;
	}

	/* the MAC tells a wrong password apart from a damaged bundle */
	rc = gnutls_pkcs12_verify_mac (pkcs12, password);
	if (rc == GNUTLS_E_MAC_VERIFY_FAILED) {
		gnutls_pkcs12_deinit (pkcs12);
		set_password_error (_("PKCS#12 bundle"), password, error);
		return NULL;
	}
	rc = gnutls_pkcs12_simple_parse (pkcs12, password, &key, &certs, &n_certs, NULL, NULL, NULL,
	                                 0);
	gnutls_pkcs12_deinit (pkcs12);
	if (rc == GNUTLS_E_DECRYPTION_FAILED) {
		set_password_error (_("PKCS#12 bundle"), password, error);
		return NULL;
	}
	if (rc != GNUTLS_E_SUCCESS || key == NULL) {
		for (unsigned int i = 0; i < n_certs; i++)
			gnutls_x509_crt_deinit (certs[i]);
		gnutls_free (certs);
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_KEY,
		             _("the PKCS#12 bundle holds no usable private key (%s): export it "
		               "again with the key and its certificate"),
		                rc != GNUTLS_E_SUCCESS ? gnutls_strerror (rc) : _("no key"));
		return NULL;
	}
	*chain = tether_x509_list_new ();
	for (unsigned int i = 0; i < n_certs; i++)
		g_ptr_array_add (*chain, certs[i]);
	gnutls_free (certs);
	return export_plain_pkcs8 (key, error);
}

/* certificate requests ------------------------------------------------------------------------ */

/* the options a CSR takes; "key-type" and "renew" belong to the caller and are passed over */
static const struct {
	const gchar *name;
	const gchar *type;
} csr_options[] = {
	{ "common-name", "s" }, { "organization", "s" }, { "organizational-unit", "s" },
	{ "country", "s" },     { "dns-names", "as" },   { "uris", "as" },
	{ "key-type", "s" },    { "renew", "b" },
};

static gboolean
csr_check_option_types (GVariant *options, GError **error)
{
	GVariantIter iter;
	const gchar *key;
	GVariant *value;

	g_variant_iter_init (&iter, options);
	while (g_variant_iter_loop (&iter, "{&sv}", &key, &value)) {
		gsize i;

		for (i = 0; i < G_N_ELEMENTS (csr_options); i++) {
			if (g_str_equal (key, csr_options[i].name))
				break;
		}
		if (i == G_N_ELEMENTS (csr_options)) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			             _("option '%s' is not known for a certificate request: use "
			                "common-name, organization, organizational-unit, country, "
			                "dns-names, uris"),
			                key);
			g_variant_unref (value);
			return FALSE;
		}
		if (!g_variant_is_of_type (value, G_VARIANT_TYPE (csr_options[i].type))) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			             _("option '%s' has type '%s': give it as '%s'"), key,
			                g_variant_get_type_string (value), csr_options[i].type);
			g_variant_unref (value);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
csr_check_name (const gchar *option, const gchar *value, gboolean required, GError **error)
{
	if (value == NULL && !required)
		return TRUE;
	if (value == NULL || *value == '\0') {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("option '%s' is required and must not be empty: give the "
		                "device's name, for example its serial number"),
		                option);
		return FALSE;
	}
	if (g_utf8_strlen (value, -1) > TETHER_CSR_MAX_NAME_CHARS) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("option '%s' is %ld characters long: a certificate name holds "
		                "at most %d"),
		                option, g_utf8_strlen (value, -1), TETHER_CSR_MAX_NAME_CHARS);
		return FALSE;
	}
	for (const gchar *p = value; *p != '\0'; p = g_utf8_next_char (p)) {
		if (g_unichar_iscntrl (g_utf8_get_char (p))) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			             _("option '%s' holds a control character: use printable "
			                "characters only"),
			                option);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
csr_check_dns_name (const gchar *name, GError **error)
{
	gboolean ok = *name != '\0' && strlen (name) <= 253 && name[0] != '.' && name[0] != '-';

	for (const gchar *p = name; ok && *p != '\0'; p++) {
		ok = g_ascii_isalnum (*p) || *p == '-' || *p == '.' || *p == '_' ||
		     (*p == '*' && p == name && p[1] == '.');
	}
	if (!ok) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("option 'dns-names': '%s' is not a DNS name: use letters, digits, "
		                "'-' and '.' (an internationalised name in its 'xn--' form)"),
		                name);
	}
	return ok;
}

static void
csr_set_failure (int rc, const gchar *step, GError **error)
{
	g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
	             _("the certificate request could not be made: %s failed (%s)"), step,
	                gnutls_strerror (rc));
}

static gboolean
csr_set_dn (gnutls_x509_crq_t crq, const gchar *oid, const gchar *value, GError **error)
{
	int rc;

	if (value == NULL)
		return TRUE;
	rc = gnutls_x509_crq_set_dn_by_oid (crq, oid, 0, value, strlen (value));
	if (rc != GNUTLS_E_SUCCESS) {
		csr_set_failure (rc, oid, error);
		return FALSE;
	}
	return TRUE;
}

gboolean
tether_csr_check_options (GVariant *options, GError **error)
{
	g_autofree const gchar **dns_names = NULL;
	g_autofree const gchar **uris = NULL;
	const gchar *common_name = NULL;
	const gchar *organization = NULL;
	const gchar *unit = NULL;
	const gchar *country = NULL;

	g_return_val_if_fail (options != NULL, FALSE);
	g_return_val_if_fail (g_variant_is_of_type (options, G_VARIANT_TYPE_VARDICT), FALSE);
	g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

	if (!csr_check_option_types (options, error))
		return FALSE;
	g_variant_lookup (options, "common-name", "&s", &common_name);
	g_variant_lookup (options, "organization", "&s", &organization);
	g_variant_lookup (options, "organizational-unit", "&s", &unit);
	g_variant_lookup (options, "country", "&s", &country);
	g_variant_lookup (options, "dns-names", "^a&s", &dns_names);
	g_variant_lookup (options, "uris", "^a&s", &uris);
	if (!csr_check_name ("common-name", common_name, TRUE, error) ||
	    !csr_check_name ("organization", organization, FALSE, error) ||
	    !csr_check_name ("organizational-unit", unit, FALSE, error))
		return FALSE;
	if (country != NULL && (strlen (country) != 2 || !g_ascii_isalpha (country[0]) ||
	                        !g_ascii_isalpha (country[1]))) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("option 'country' is '%s': give a two-letter ISO 3166 code such as "
		               "'DE'"),
		                country);
		return FALSE;
	}
	for (gsize i = 0; dns_names != NULL && dns_names[i] != NULL; i++) {
		if (!csr_check_dns_name (dns_names[i], error))
			return FALSE;
	}
	for (gsize i = 0; uris != NULL && uris[i] != NULL; i++) {
		g_autoptr(GError) local_error = NULL;

		if (!g_uri_is_valid (uris[i], G_URI_FLAGS_NONE, &local_error)) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
			             _("option 'uris': '%s' is not a URI (%s): give an absolute "
			               "URI such as 'urn:example:device:1'"),
			                uris[i], local_error->message);
			return FALSE;
		}
	}
	return TRUE;
}

gchar *
tether_csr_create (gnutls_privkey_t key, GVariant *options, GError **error)
{
	g_auto (gnutls_x509_crq_t) crq = NULL;
	g_auto (gnutls_pubkey_t) pubkey = NULL;
	g_autofree gchar *country = NULL;
	g_autofree const gchar **dns_names = NULL;
	g_autofree const gchar **uris = NULL;
	const gchar *common_name = NULL;
	const gchar *organization = NULL;
	const gchar *unit = NULL;
	const gchar *country_in = NULL;
	gnutls_datum_t pem = { NULL, 0 };
	int rc;

	g_return_val_if_fail (key != NULL, NULL);
	g_return_val_if_fail (options != NULL, NULL);
	g_return_val_if_fail (g_variant_is_of_type (options, G_VARIANT_TYPE_VARDICT), NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);

	/* check every option before touching GnuTLS */
	if (!tether_csr_check_options (options, error))
		return NULL;
	g_variant_lookup (options, "common-name", "&s", &common_name);
	g_variant_lookup (options, "organization", "&s", &organization);
	g_variant_lookup (options, "organizational-unit", "&s", &unit);
	g_variant_lookup (options, "country", "&s", &country_in);
	g_variant_lookup (options, "dns-names", "^a&s", &dns_names);
	g_variant_lookup (options, "uris", "^a&s", &uris);
	if (country_in != NULL)
		country = g_ascii_strup (country_in, -1);

	/* the subject, from the widest to the narrowest part */
	rc = gnutls_x509_crq_init (&crq);
	if (rc != GNUTLS_E_SUCCESS) {
		csr_set_failure (rc, "init", error);
		return NULL;
	}
	if (!csr_set_dn (crq, GNUTLS_OID_X520_COUNTRY_NAME, country, error) ||
	    !csr_set_dn (crq, GNUTLS_OID_X520_ORGANIZATION_NAME, organization, error) ||
	    !csr_set_dn (crq, GNUTLS_OID_X520_ORGANIZATIONAL_UNIT_NAME, unit, error) ||
	    !csr_set_dn (crq, GNUTLS_OID_X520_COMMON_NAME, common_name, error))
		return NULL;

	/* what the certificate is for: signing in a TLS client handshake */
	rc = gnutls_x509_crq_set_version (crq, 1);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_crq_set_key_usage (crq, GNUTLS_KEY_DIGITAL_SIGNATURE);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_crq_set_key_purpose_oid (crq, GNUTLS_KP_TLS_WWW_CLIENT, 0);
	for (gsize i = 0; rc == GNUTLS_E_SUCCESS && dns_names != NULL && dns_names[i]; i++)
		rc = gnutls_x509_crq_set_subject_alt_name (crq, GNUTLS_SAN_DNSNAME, dns_names[i],
		                                           strlen (dns_names[i]),
		                                           GNUTLS_FSAN_APPEND);
	for (gsize i = 0; rc == GNUTLS_E_SUCCESS && uris != NULL && uris[i]; i++)
		rc = gnutls_x509_crq_set_subject_alt_name (crq, GNUTLS_SAN_URI, uris[i],
		                                           strlen (uris[i]), GNUTLS_FSAN_APPEND);
	if (rc != GNUTLS_E_SUCCESS) {
		csr_set_failure (rc, "extensions", error);
		return NULL;
	}

	/* the public key, and the proof that we hold the private one */
	rc = gnutls_pubkey_init (&pubkey);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_pubkey_import_privkey (pubkey, key, 0, 0);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_crq_set_pubkey (crq, pubkey);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_crq_privkey_sign (crq, key, GNUTLS_DIG_SHA256, 0);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_crq_export2 (crq, GNUTLS_X509_FMT_PEM, &pem);
	if (rc != GNUTLS_E_SUCCESS) {
		csr_set_failure (rc, "signing", error);
		return NULL;
	}
	return datum_to_string (&pem);
}

/* the trust rule ------------------------------------------------------------------------------ */

const gchar *
tether_trust_result_to_string (TetherTrustResult result)
{
	switch (result) {
	case TETHER_TRUST_OK:
		return "ok";
	case TETHER_TRUST_UNKNOWN_ISSUER:
		return "unknown-issuer";
	case TETHER_TRUST_HOST_MISMATCH:
		return "host-mismatch";
	case TETHER_TRUST_EXPIRED:
		return "expired";
	case TETHER_TRUST_NOT_YET_VALID:
		return "not-yet-valid";
	case TETHER_TRUST_INVALID:
		return "invalid";
	default:
		return "invalid";
	}
}

static gnutls_x509_crt_t
crt_copy (gnutls_x509_crt_t crt)
{
	gnutls_datum_t der = { NULL, 0 };
	gnutls_x509_crt_t copy = NULL;
	int rc;

	rc = gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_DER, &der);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_crt_init (&copy);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_crt_import (copy, &der, GNUTLS_X509_FMT_DER);
	datum_clear (&der);
	if (rc != GNUTLS_E_SUCCESS)
		g_clear_pointer (&copy, gnutls_x509_crt_deinit);
	return copy;
}

static gboolean
crt_equal (gnutls_x509_crt_t a, gnutls_x509_crt_t b)
{
	return gnutls_x509_crt_equals (a, b) != 0;
}

static gboolean
list_contains (GPtrArray *list, gnutls_x509_crt_t crt)
{
	for (guint i = 0; list != NULL && i < list->len; i++) {
		if (crt_equal (g_ptr_array_index (list, i), crt))
			return TRUE;
	}
	return FALSE;
}

/*
 * What a path may be built from: the server's certificates, then the anchors that are not
 * self-signed. Those cannot vouch, but OpenSSL uses them to fill a gap in the server's chain,
 * so they count as intermediates here too. Borrowed pointers.
 */
static GPtrArray *
path_material (GPtrArray *server_chain, GPtrArray *anchors)
{
	GPtrArray *material = g_ptr_array_new ();

	for (guint i = 0; i < server_chain->len; i++)
		g_ptr_array_add (material, g_ptr_array_index (server_chain, i));
	for (guint i = 0; anchors != NULL && i < anchors->len; i++) {
		gnutls_x509_crt_t anchor = g_ptr_array_index (anchors, i);

		if (!tether_x509_is_self_signed (anchor) && !list_contains (material, anchor))
			g_ptr_array_add (material, anchor);
	}
	return material;
}

/*
 * The path from the leaf (the first of @material) up through @material, in any order,
 * stopping at a self-signed certificate or where nothing in @material issued the last one.
 * Borrowed pointers.
 */
static GPtrArray *
build_path (GPtrArray *material)
{
	GPtrArray *path = g_ptr_array_new ();
	gnutls_x509_crt_t current = g_ptr_array_index (material, 0);

	g_ptr_array_add (path, current);
	while (!tether_x509_is_self_signed (current)) {
		gnutls_x509_crt_t next = NULL;

		for (guint i = 0; i < material->len && next == NULL; i++) {
			gnutls_x509_crt_t candidate = g_ptr_array_index (material, i);

			if (!list_contains (path, candidate) &&
			    gnutls_x509_crt_check_issuer (current, candidate))
				next = candidate;
		}
		if (next == NULL)
			break;
		g_ptr_array_add (path, next);
		current = next;
	}
	return path;
}

/* the self-signed anchor that issued @top (or is @top), borrowed, or NULL */
static gnutls_x509_crt_t
find_vouching_anchor (GPtrArray *anchors, gnutls_x509_crt_t top)
{
	for (guint i = 0; anchors != NULL && i < anchors->len; i++) {
		gnutls_x509_crt_t anchor = g_ptr_array_index (anchors, i);

		if (!tether_x509_is_self_signed (anchor))
			continue;
		if (crt_equal (anchor, top) || gnutls_x509_crt_check_issuer (top, anchor))
			return anchor;
	}
	return NULL;
}

static gchar *
format_time (gint64 t)
{
	g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (t);

	if (dt == NULL)
		return g_strdup_printf ("%" G_GINT64_FORMAT, t);
	return g_date_time_format_iso8601 (dt);
}

static gchar *
quoted_list (const gchar *const *names)
{
	g_autoptr (GString) out = g_string_new (NULL);

	for (gsize i = 0; names != NULL && names[i] != NULL; i++) {
		if (i > 0)
			g_string_append (out, ", ");
		g_string_append_printf (out, "'%s'", names[i]);
	}
	return g_string_free (g_steal_pointer (&out), FALSE);
}

static const gchar *
anchor_names_or_default (const gchar *anchor_names)
{
	return anchor_names != NULL && *anchor_names != '\0' ? anchor_names : NULL;
}

/* a non-self-signed anchor that sits on the server's path, or issued its top, or NULL */
static gnutls_x509_crt_t
find_intermediate_anchor (GPtrArray *anchors, GPtrArray *path)
{
	gnutls_x509_crt_t top = g_ptr_array_index (path, path->len - 1);

	for (guint i = 0; anchors != NULL && i < anchors->len; i++) {
		gnutls_x509_crt_t anchor = g_ptr_array_index (anchors, i);

		if (tether_x509_is_self_signed (anchor))
			continue;
		if (gnutls_x509_crt_check_issuer (top, anchor) || list_contains (path, anchor))
			return anchor;
	}
	return NULL;
}

static gchar *
unknown_issuer_message (GPtrArray *anchors, GPtrArray *path, const gchar *top_issuer,
                        gboolean top_self_signed, const gchar *anchor_names)
{
	const gchar *names = anchor_names_or_default (anchor_names);
	gnutls_x509_crt_t intermediate = find_intermediate_anchor (anchors, path);
	g_autofree gchar *ends_at = NULL;
	g_autofree gchar *whom = NULL;

	if (top_self_signed)
		ends_at = g_strdup_printf (_("the server's certificate chain ends at '%s' "
		                              "(self-signed)"),
		                              top_issuer);
	else
		ends_at = g_strdup_printf (_("the server's certificate chain ends at '%s'"),
		                              top_issuer);

	if (anchors == NULL || anchors->len == 0)
		return g_strdup_printf (_("%s, and no trust anchor is given: add that root as a "
		                           "trust anchor"),
		                           ends_at);
	if (names != NULL)
		whom = g_strdup_printf (_("the trust anchors '%s'"), names);
	else
		whom = g_strdup (_("the trust anchors"));

	if (intermediate != NULL) {
		g_autofree gchar *subject = tether_x509_get_subject (intermediate);
		g_autofree gchar *issuer = tether_x509_get_issuer (intermediate);

		return g_strdup_printf (_("%s, which %s do not vouch for: they hold '%s', which "
		                           "is not a self-signed root, and only a self-signed root "
		                           "can vouch for a server; add its root '%s' as a trust "
		                           "anchor"),
		                           ends_at, whom, subject, issuer);
	}
	return g_strdup_printf (_("%s, which %s do not vouch for: add that root as a trust "
	                           "anchor, or check the endpoint"),
	                           ends_at, whom);
}

/* which certificate, in words, for the time messages */
static gchar *
describe_certificate (gnutls_x509_crt_t crt, GPtrArray *server_chain, gboolean is_anchor)
{
	g_autofree gchar *subject = tether_x509_get_subject (crt);

	if (is_anchor)
		return g_strdup_printf (_("the trust anchor certificate '%s'"), subject);
	if (crt_equal (crt, g_ptr_array_index (server_chain, 0)))
		return g_strdup_printf (_("the server's certificate '%s'"), subject);
	return g_strdup_printf (_("the certificate '%s' in the server's chain"), subject);
}

/* the validity of every certificate on the path and of the anchor above it, leaf first */
static TetherTrustResult
check_times (GPtrArray *path, GPtrArray *server_chain, GPtrArray *anchors,
             gnutls_x509_crt_t vouching_anchor, gint64 now, gchar **message)
{
	g_autoptr (GPtrArray) checked = g_ptr_array_copy (path, NULL, NULL);
	g_autofree gchar *now_text = format_time (now);

	if (vouching_anchor != NULL && !list_contains (checked, vouching_anchor))
		g_ptr_array_add (checked, vouching_anchor);

	for (guint i = 0; i < checked->len; i++) {
		gnutls_x509_crt_t crt = g_ptr_array_index (checked, i);
		gboolean is_anchor = list_contains (anchors, crt);
		gint64 not_before = gnutls_x509_crt_get_activation_time (crt);
		gint64 not_after = gnutls_x509_crt_get_expiration_time (crt);
		g_autofree gchar *which = NULL;
		g_autofree gchar *date = NULL;

		if (not_before != -1 && now < not_before) {
			which = describe_certificate (crt, server_chain, is_anchor);
			date = format_time (not_before);
			*message = g_strdup_printf (_("%s is not valid before %s: check the "
			                               "device's clock (it says %s)"),
			                               which, date, now_text);
			return TETHER_TRUST_NOT_YET_VALID;
		}
		if (not_after != -1 && now > not_after) {
			which = describe_certificate (crt, server_chain, is_anchor);
			date = format_time (not_after);
			if (is_anchor)
				*message =
				        g_strdup_printf (_("%s expired on %s: replace the trust "
				                            "anchor with the root's new "
				                            "certificate, or check the device's "
				                            "clock (it says %s)"),
				                            which, date, now_text);
			else
				*message = g_strdup_printf (_("%s expired on %s: the server's "
				                               "operator must renew it, or check "
				                               "the device's clock (it says %s)"),
				                               which, date, now_text);
			return TETHER_TRUST_EXPIRED;
		}
	}
	return TETHER_TRUST_OK;
}

/* plain words for a chain that reaches an anchor but fails for another reason */
static gchar *
status_message (unsigned int status)
{
	gnutls_datum_t out = { NULL, 0 };
	g_autofree gchar *text = NULL;

	if ((status & GNUTLS_CERT_PURPOSE_MISMATCH) != 0)
		return g_strdup (_("the server's certificate is not meant for a TLS server (its "
		                    "extended key usage): the server's operator must use a server "
		                    "certificate"));
	if ((status & GNUTLS_CERT_SIGNATURE_FAILURE) != 0)
		return g_strdup (_("a signature in the server's certificate chain does not "
		                    "verify: the chain is damaged or forged; check the endpoint"));
	if ((status & GNUTLS_CERT_INSECURE_ALGORITHM) != 0)
		return g_strdup (_("the server's certificate chain is signed with an insecure "
		                    "algorithm: the server's operator must reissue it"));
	if ((status & GNUTLS_CERT_SIGNER_NOT_CA) != 0)
		return g_strdup (_("a certificate in the server's chain was issued by a "
		                    "certificate that is not a CA: check the endpoint"));

	if (gnutls_certificate_verification_status_print (status, GNUTLS_CRT_X509, &out, 0) ==
	    GNUTLS_E_SUCCESS)
		text = g_strstrip (datum_to_string (&out));
	return g_strdup_printf (_("the server's certificate chain does not verify (%s): check "
	                           "the endpoint"),
	                           text != NULL ? text : "");
}

static TetherTrustResult
verify_chain (GPtrArray *material, GPtrArray *anchors, GPtrArray *path, const gchar *top_issuer,
              gboolean top_self_signed, const gchar *anchor_names, gchar **message)
{
	g_auto (gnutls_x509_trust_list_t) list = NULL;
	g_autoptr (GPtrArray) roots = g_ptr_array_new ();
	gnutls_typed_vdata_st purpose = { GNUTLS_DT_KEY_PURPOSE_OID,
		                          (unsigned char *) GNUTLS_KP_TLS_WWW_SERVER, 0 };
	unsigned int status = 0;
	int rc;

	/* only self-signed anchors vouch, as with OpenSSL in Paho; the list owns copies */
	rc = gnutls_x509_trust_list_init (&list, 0);
	if (rc != GNUTLS_E_SUCCESS) {
		*message = g_strdup_printf (_("the trust check could not start (%s)"),
		                               gnutls_strerror (rc));
		return TETHER_TRUST_INVALID;
	}
	for (guint i = 0; anchors != NULL && i < anchors->len; i++) {
		gnutls_x509_crt_t anchor = g_ptr_array_index (anchors, i);
		gnutls_x509_crt_t copy;

		if (!tether_x509_is_self_signed (anchor))
			continue;
		copy = crt_copy (anchor);
		if (copy != NULL)
			g_ptr_array_add (roots, copy);
	}
	if (roots->len > 0) {
		rc = gnutls_x509_trust_list_add_cas (list, (gnutls_x509_crt_t *) roots->pdata,
		                                     roots->len, 0);
		if (rc < 0) {
			/* the list may own some of the copies now: leave them to it */
			*message = g_strdup_printf (_("the trust anchors could not be used (%s)"),
			                               gnutls_strerror (rc));
			return TETHER_TRUST_INVALID;
		}
	}

	/* times are checked against the caller's clock afterwards */
	rc = gnutls_x509_trust_list_verify_crt2 (
	        list, (gnutls_x509_crt_t *) material->pdata, material->len, &purpose, 1,
	        GNUTLS_VERIFY_DISABLE_TIME_CHECKS | GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS,
	        &status, NULL);
	if (rc < 0) {
		*message = g_strdup_printf (_("the server's certificate chain could not be "
		                               "checked (%s)"),
		                               gnutls_strerror (rc));
		return TETHER_TRUST_INVALID;
	}
	if (status == 0)
		return TETHER_TRUST_OK;
	if ((status & GNUTLS_CERT_SIGNER_NOT_FOUND) != 0) {
		*message = unknown_issuer_message (anchors, path, top_issuer, top_self_signed,
		                                   anchor_names);
		return TETHER_TRUST_UNKNOWN_ISSUER;
	}
	*message = status_message (status);
	return TETHER_TRUST_INVALID;
}

TetherTrustResult
tether_trust_verify (GPtrArray *server_chain, GPtrArray *anchors, const gchar *hostname, gint64 now,
                     const gchar *anchor_names, gchar **message, gchar **top_issuer, GStrv *names)
{
	g_autoptr (GPtrArray) material = NULL;
	g_autoptr (GPtrArray) path = NULL;
	g_autofree gchar *msg = NULL;
	g_autofree gchar *issuer = NULL;
	g_auto (GStrv) leaf_names = NULL;
	gnutls_x509_crt_t leaf;
	gnutls_x509_crt_t top;
	gboolean top_self_signed;
	TetherTrustResult result;

	if (server_chain == NULL || server_chain->len == 0) {
		if (message != NULL)
			*message = g_strdup (_("the server sent no certificate: check that the "
			                        "endpoint speaks TLS with certificates"));
		return TETHER_TRUST_INVALID;
	}

	/* what the server sent: its names, and the issuer at the top of its path */
	leaf = g_ptr_array_index (server_chain, 0);
	leaf_names = tether_x509_get_host_names (leaf);
	material = path_material (server_chain, anchors);
	path = build_path (material);
	top = g_ptr_array_index (path, path->len - 1);
	top_self_signed = tether_x509_is_self_signed (top);
	issuer = tether_x509_get_issuer (top);

	/* the chain, then the dates against the caller's clock, then the name */
	result =
	        verify_chain (material, anchors, path, issuer, top_self_signed, anchor_names, &msg);
	if (result == TETHER_TRUST_OK)
		result = check_times (path, server_chain, anchors,
		                      find_vouching_anchor (anchors, top), now, &msg);
	if (result == TETHER_TRUST_OK && hostname != NULL &&
	    gnutls_x509_crt_check_hostname2 (leaf, hostname, 0) == 0) {
		g_autofree gchar *held = quoted_list ((const gchar *const *) leaf_names);

		if (*held == '\0')
			msg = g_strdup_printf (_("the server's certificate holds no host name, "
			                          "so it is not for '%s': the server's operator "
			                          "must issue one with that name"),
			                          hostname);
		else
			msg = g_strdup_printf (_("the server's certificate is for %s, not '%s': "
			                          "use one of those names in the endpoint, or ask "
			                          "the server's operator for a certificate with "
			                          "that name"),
			                          held, hostname);
		result = TETHER_TRUST_HOST_MISMATCH;
	}

	if (message != NULL)
		*message = g_steal_pointer (&msg);
	if (top_issuer != NULL)
		*top_issuer = g_steal_pointer (&issuer);
	if (names != NULL)
		*names = g_steal_pointer (&leaf_names);
	return result;
}

/* trust anchor uploads ------------------------------------------------------------------------ */

/* more than any real set of roots, few enough to order quickly */
#define TETHER_X509_MAX_ANCHOR_CERTS 500

/* "2025-01-31", for people */
static gchar *
format_date (gint64 t)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (t);

	if (dt == NULL)
		return g_strdup_printf ("%" G_GINT64_FORMAT, t);
	return g_date_time_format (dt, "%Y-%m-%d");
}

/* a wide encoding's name when @data is UTF-16 or UTF-32 text, else NULL */
static const gchar *
wide_text_encoding (const gchar *data, gsize size)
{
	/* UTF-32LE's mark starts like UTF-16LE's: the longer first */
	static const struct {
		const gchar *mark;
		gsize len;
		const gchar *encoding;
	} marks[] = {
		{ "\xff\xfe\x00\x00", 4, "UTF-32LE" },
		{ "\x00\x00\xfe\xff", 4, "UTF-32BE" },
		{ "\xff\xfe", 2, "UTF-16LE" },
		{ "\xfe\xff", 2, "UTF-16BE" },
	};
	static const struct {
		const gchar *encoding;
		gsize unit;
	} encodings[] = {
		{ "UTF-32LE", 4 },
		{ "UTF-32BE", 4 },
		{ "UTF-16LE", 2 },
		{ "UTF-16BE", 2 },
	};

	for (gsize i = 0; i < G_N_ELEMENTS (marks); i++) {
		if (size >= marks[i].len && memcmp (data, marks[i].mark, marks[i].len) == 0)
			return marks[i].encoding;
	}

	/* no mark: PEM's dashes, read in a wide encoding */
	if (memchr (data, '\0', size) == NULL)
		return NULL;
	for (gsize i = 0; i < G_N_ELEMENTS (encodings); i++) {
		gsize len = size - size % encodings[i].unit;
		g_autofree gchar *text = NULL;

		if (len == 0)
			continue;
		text = g_convert (data, (gssize) len, "UTF-8", encodings[i].encoding, NULL, NULL,
		                  NULL);
		if (text != NULL && strstr (text, "-----BEGIN ") != NULL)
			return encodings[i].encoding;
	}
	return NULL;
}

static void
set_key_error (GError **error, const gchar *what)
{
	g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
	             _("the file holds a private key (%s), so nothing was stored: give only the "
	               "certificates; a private key belongs to an identity ('tetherctl identity "
	               "import')"),
	                what);
}

/* a key anywhere in PEM text is refused before anything else, and never copied */
static gboolean
pem_refuse_keys (const gchar *text, gsize size, GArray *blocks, GError **error)
{
	for (guint i = 0; i < blocks->len; i++) {
		const PemBlock *block = &g_array_index (blocks, PemBlock, i);

		if (pem_label_is_private_key (block->label)) {
			g_autofree gchar *what =
			        g_strdup_printf (_("PEM block %u, '%s'"), i + 1, block->label);

			set_key_error (error, what);
			return FALSE;
		}
	}
	/* also one in a block that could not be delimited */
	if (find_bytes (text, size, "PRIVATE KEY") != NULL) {
		set_key_error (error, _("a 'PRIVATE KEY' block"));
		return FALSE;
	}
	return TRUE;
}

static gboolean
pem_label_is_pkcs7 (const gchar *label)
{
	return g_str_equal (label, "PKCS7") || g_str_equal (label, "PKCS #7 SIGNED DATA") ||
	       g_str_equal (label, "CMS");
}

/*
 * The DER inside a PEM block. The base64 is checked here, character by character, because a
 * damaged character would otherwise turn into a certificate that merely fails to verify.
 */
static GBytes *
pem_block_decode (const PemBlock *block, gchar **why)
{
	gsize header = strlen ("-----BEGIN ") + strlen (block->label) + strlen ("-----");
	gsize trailer = strlen ("-----END ") + strlen (block->label) + strlen ("-----");
	g_autoptr(GString) base64 = g_string_new (NULL);
	guint line = 1;
	guint padding = 0;
	guchar *der;
	gsize der_len = 0;

	for (gsize i = header; i + trailer < block->len; i++) {
		gchar c = block->begin[i];

		if (c == '\n')
			line++;
		if (c == '\n' || c == '\r' || c == ' ' || c == '\t')
			continue;
		if (c == '=') {
			padding++;
		} else if (padding > 0 || !(g_ascii_isalnum (c) || c == '+' || c == '/')) {
			if (padding > 0)
				*why = g_strdup_printf (
				        _("text after the '=' padding on line %u of "
				                          "its block"),
				           line);
			else if (g_ascii_isprint (c))
				*why = g_strdup_printf (_("the character '%c' on line %u of its "
				                          "block is not base64"),
				                           c, line);
			else
				*why = g_strdup_printf (_("byte 0x%02x on line %u of its block is "
				                          "not base64"),
				                           (guchar) c, line);
			return NULL;
		}
		g_string_append_c (base64, c);
	}
	if (base64->len == padding) {
		*why = g_strdup (_("its block holds no data"));
		return NULL;
	}
	if (padding > 2 || base64->len % 4 != 0) {
		*why = g_strdup (_("its base64 text is cut short or has characters missing"));
		return NULL;
	}
	der = g_base64_decode (base64->str, &der_len);
	return g_bytes_new_take (der, der_len);
}

static gnutls_x509_crt_t
crt_from_der (const guint8 *der, gsize len, int *rc_out)
{
	gnutls_datum_t datum = { (unsigned char *) der, (unsigned int) len };
	gnutls_x509_crt_t crt = NULL;
	int rc = gnutls_x509_crt_init (&crt);

	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_x509_crt_import (crt, &datum, GNUTLS_X509_FMT_DER);
	if (rc != GNUTLS_E_SUCCESS)
		g_clear_pointer (&crt, gnutls_x509_crt_deinit);
	*rc_out = rc;
	return crt;
}

static gboolean
list_add_checked (GPtrArray *certs, gnutls_x509_crt_t crt, GError **error)
{
	if (certs->len >= TETHER_X509_MAX_ANCHOR_CERTS) {
		gnutls_x509_crt_deinit (crt);
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		             _("the file holds more than %d certificates: a trust anchor is one "
		               "root or one chain; give only those"),
		                TETHER_X509_MAX_ANCHOR_CERTS);
		return FALSE;
	}
	g_ptr_array_add (certs, crt);
	return TRUE;
}

static GArray *chain_order (GPtrArray *certs, const gboolean *self_signed, GArray *tops);

/*
 * The certificates from @start on, put in chain order: a PKCS#7 bundle holds a set, whose DER
 * encoding sorts its members by their bytes, so the order they come in says nothing.
 */
static void
order_from (GPtrArray *certs, guint start)
{
	g_autoptr(GPtrArray) members = g_ptr_array_new ();
	g_autoptr(GArray) tops = g_array_new (FALSE, FALSE, sizeof (guint));
	g_autoptr(GArray) order = NULL;
	g_autofree gboolean *self_signed = NULL;

	for (guint i = start; i < certs->len; i++)
		g_ptr_array_add (members, g_ptr_array_index (certs, i));
	self_signed = g_new0 (gboolean, members->len);
	for (guint i = 0; i < members->len; i++)
		self_signed[i] = tether_x509_is_self_signed (g_ptr_array_index (members, i));
	order = chain_order (members, self_signed, tops);
	for (guint i = 0; i < order->len; i++)
		certs->pdata[start + i] =
		        g_ptr_array_index (members, g_array_index (order, guint, i));
}

/* the certificates of a PKCS#7 bundle, in chain order; @where names the bundle for people */
static gboolean
pkcs7_append (const guint8 *der, gsize len, const gchar *where, GPtrArray *certs, GError **error)
{
	gnutls_datum_t datum = { (unsigned char *) der, (unsigned int) len };
	gnutls_pkcs7_t pkcs7 = NULL;
	guint start = certs->len;
	int count;
	int rc;

	rc = gnutls_pkcs7_init (&pkcs7);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_pkcs7_import (pkcs7, &datum, GNUTLS_X509_FMT_DER);
	count = rc == GNUTLS_E_SUCCESS ? gnutls_pkcs7_get_crt_count (pkcs7) : rc;
	if (count <= 0) {
		g_clear_pointer (&pkcs7, gnutls_pkcs7_deinit);
		if (count == 0)
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
			             _("%s holds no certificate: export it again with the "
			               "certificates included"),
			                where);
		else
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
			             _("%s is damaged (%s): copy the file again or export it "
			               "again"),
			                where, gnutls_strerror (count));
		return FALSE;
	}

	for (int i = 0; i < count; i++) {
		gnutls_datum_t raw = { NULL, 0 };
		gnutls_x509_crt_t crt = NULL;

		rc = gnutls_pkcs7_get_crt_raw2 (pkcs7, (unsigned) i, &raw);
		if (rc == GNUTLS_E_SUCCESS)
			crt = crt_from_der (raw.data, raw.size, &rc);
		datum_clear (&raw);
		if (crt == NULL) {
			gnutls_pkcs7_deinit (pkcs7);
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
			             _("certificate %d of %d in %s is damaged (%s): copy the file "
			               "again or export it again"),
			                i + 1, count, where, gnutls_strerror (rc));
			return FALSE;
		}
		if (!list_add_checked (certs, crt, error)) {
			gnutls_pkcs7_deinit (pkcs7);
			return FALSE;
		}
	}
	gnutls_pkcs7_deinit (pkcs7);
	order_from (certs, start);
	return TRUE;
}

static GPtrArray *
parse_upload_pem (const gchar *text, gsize size, GError **error)
{
	g_autoptr(GPtrArray) certs = tether_x509_list_new ();
	g_autoptr(GArray) blocks = pem_split (text, size);
	guint n_cert_blocks = 0;
	guint cert_block = 0;

	if (!pem_refuse_keys (text, size, blocks, error))
		return NULL;

	/* only certificates and PKCS#7 bundles, so each can be named by its position */
	for (guint i = 0; i < blocks->len; i++) {
		const PemBlock *block = &g_array_index (blocks, PemBlock, i);

		if (*block->label == '\0') {
			g_set_error (
			        error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
			        _("PEM block %u is damaged: its BEGIN line is cut short; copy "
			               "the file again"),
			           i + 1);
			return NULL;
		}
		if (pem_label_is_certificate (block->label)) {
			n_cert_blocks++;
		} else if (!pem_label_is_pkcs7 (block->label)) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
			             _("PEM block %u is a '%s', not a certificate: give only "
			               "'CERTIFICATE' or 'PKCS7' blocks"),
			                i + 1, block->label);
			return NULL;
		}
	}

	for (guint i = 0; i < blocks->len; i++) {
		const PemBlock *block = &g_array_index (blocks, PemBlock, i);
		gboolean is_cert = pem_label_is_certificate (block->label);
		g_autofree gchar *why = NULL;
		g_autofree gchar *where = NULL;
		g_autoptr(GBytes) der = NULL;
		gnutls_x509_crt_t crt;
		gsize len = 0;
		const guint8 *bytes;
		int rc = GNUTLS_E_SUCCESS;

		if (is_cert) {
			cert_block++;
			where = g_strdup_printf (_("certificate %u of %u"), cert_block,
			                            n_cert_blocks);
		} else {
			where = g_strdup_printf (_("the PKCS#7 bundle in PEM block %u"), i + 1);
		}
		if (block->len == 0) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
			             _("%s is damaged: its PEM block has no '-----END %s-----' "
			               "line; copy the file again"),
			                where, block->label);
			return NULL;
		}
		der = pem_block_decode (block, &why);
		if (der == NULL) {
			g_set_error (
			        error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
			        _("%s is damaged: %s; copy the file again or export it again"),
			           where, why);
			return NULL;
		}
		bytes = g_bytes_get_data (der, &len);
		if (!is_cert) {
			if (!pkcs7_append (bytes, len, where, certs, error))
				return NULL;
			continue;
		}
		crt = crt_from_der (bytes, len, &rc);
		if (crt == NULL) {
			g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
			             _("%s is damaged (%s): copy the file again or export it "
			               "again"),
			                where, gnutls_strerror (rc));
			return NULL;
		}
		if (!list_add_checked (certs, crt, error))
			return NULL;
	}
	if (certs->len == 0) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		                     _("no certificate found: give a PEM file with '-----BEGIN "
		                       "CERTIFICATE-----' blocks, a DER certificate or a PKCS#7 "
		                       "bundle"));
		return NULL;
	}
	return g_steal_pointer (&certs);
}

/* what a binary file that is not a certificate holds: a key is refused as a key */
static const gchar *
der_private_key_kind (const guint8 *der, gsize len)
{
	gnutls_datum_t datum = { (unsigned char *) der, (unsigned int) len };
	gnutls_x509_privkey_t key = NULL;
	gnutls_pkcs12_t pkcs12 = NULL;
	const gchar *kind = NULL;
	unsigned int schema = 0;
	unsigned int cipher = 0;
	guint8 salt[64];
	unsigned int salt_size = sizeof (salt);
	unsigned int iterations = 0;
	char *oid = NULL;

	if (gnutls_pkcs8_info (&datum, GNUTLS_X509_FMT_DER, &schema, &cipher, salt, &salt_size,
	                       &iterations, &oid) >= 0) {
		gnutls_free (oid);
		return _("an encrypted PKCS#8 key");
	}
	gnutls_free (oid);
	if (gnutls_x509_privkey_init (&key) == GNUTLS_E_SUCCESS) {
		if (gnutls_x509_privkey_import (key, &datum, GNUTLS_X509_FMT_DER) ==
		            GNUTLS_E_SUCCESS ||
		    gnutls_x509_privkey_import_pkcs8 (key, &datum, GNUTLS_X509_FMT_DER, NULL,
		                                      GNUTLS_PKCS_PLAIN) == GNUTLS_E_SUCCESS)
			kind = _("a DER private key");
		gnutls_x509_privkey_deinit (key);
	}
	if (kind == NULL && gnutls_pkcs12_init (&pkcs12) == GNUTLS_E_SUCCESS) {
		if (gnutls_pkcs12_import (pkcs12, &datum, GNUTLS_X509_FMT_DER, 0) ==
		    GNUTLS_E_SUCCESS)
			kind = _("a PKCS#12 bundle");
		gnutls_pkcs12_deinit (pkcs12);
	}
	return kind;
}

static GPtrArray *
parse_upload_der (const guint8 *der, gsize len, GError **error)
{
	g_autoptr(GPtrArray) certs = tether_x509_list_new ();
	gnutls_x509_crt_t crt;
	const gchar *key_kind;
	int rc = GNUTLS_E_SUCCESS;

	/* one certificate */
	crt = crt_from_der (der, len, &rc);
	if (crt != NULL) {
		g_ptr_array_add (certs, crt);
		return g_steal_pointer (&certs);
	}

	/* a PKCS#7 bundle (.p7b), as Windows CAs export them */
	if (pkcs7_append (der, len, _("the PKCS#7 bundle"), certs, NULL))
		return g_steal_pointer (&certs);

	key_kind = der_private_key_kind (der, len);
	if (key_kind != NULL) {
		set_key_error (error, key_kind);
		return NULL;
	}
	g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
	             _("certificate 1 of 1 is damaged or not a certificate (%s): the file is "
	               "binary but neither a DER certificate nor a PKCS#7 bundle; export it "
	               "again as PEM, DER or PKCS#7"),
	                gnutls_strerror (rc));
	return NULL;
}

GPtrArray *
tether_x509_parse_upload (GBytes *data, GError **error)
{
	const gchar *text;
	const gchar *encoding;
	gsize size = 0;

	g_return_val_if_fail (data != NULL, NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);

	text = g_bytes_get_data (data, &size);
	if (size == 0) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		                     _("the file is empty: give the certificates as PEM, DER or "
		                       "PKCS#7"));
		return NULL;
	}
	if (size > TETHER_X509_MAX_PEM_SIZE) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		             _("the file is %lu bytes, more than %d: give only the certificates "
		               "needed"),
		                (gulong) size, TETHER_X509_MAX_PEM_SIZE);
		return NULL;
	}

	encoding = wide_text_encoding (text, size);
	if (encoding != NULL) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		             _("the file is %s text: re-save it as UTF-8 (or ASCII) and upload "
		               "it again"),
		                encoding);
		return NULL;
	}

	/* a UTF-8 byte-order mark, as some Windows editors write it */
	if (size >= 3 && memcmp (text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		size -= 3;
	}
	if (find_bytes (text, size, "-----BEGIN ") != NULL)
		return parse_upload_pem (text, size, error);
	if (size > 0 && (guchar) text[0] == 0x30)
		return parse_upload_der ((const guint8 *) text, size, error);
	if (find_bytes (text, size, "PRIVATE KEY") != NULL) {
		set_key_error (error, _("a 'PRIVATE KEY' block"));
		return NULL;
	}
	g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
	                     _("no certificate found: give a PEM file with '-----BEGIN "
	                       "CERTIFICATE-----' blocks, a DER certificate or a PKCS#7 "
	                       "bundle"));
	return NULL;
}

/* "certificate 2 of 3 ('CN=x')" */
static gchar *
name_member (gnutls_x509_crt_t crt, guint position, guint count)
{
	g_autofree gchar *subject = tether_x509_get_subject (crt);

	return g_strdup_printf (_("certificate %u of %u ('%s')"), position, count, subject);
}

/*
 * Whether @issuer issued @crt, both from one upload: by name and key identifier, as OpenSSL
 * builds paths; a self-signed certificate issues only itself.
 */
static gboolean
upload_issued_by (GPtrArray *certs, const gboolean *self_signed, guint crt, guint issuer)
{
	if (crt == issuer || self_signed[crt])
		return FALSE;
	return gnutls_x509_crt_check_issuer (g_ptr_array_index (certs, crt),
	                                     g_ptr_array_index (certs, issuer)) != 0;
}

/*
 * Leaf first, each certificate followed by its issuer, the chains in the order their leaves
 * came. The last index of each chain goes to @tops. What is left (certificates that issue each
 * other in a circle) keeps its order.
 */
static GArray *
chain_order (GPtrArray *certs, const gboolean *self_signed, GArray *tops)
{
	GArray *order = g_array_new (FALSE, FALSE, sizeof (guint));
	g_autofree gboolean *placed = g_new0 (gboolean, certs->len);

	for (guint i = 0; i < certs->len; i++) {
		gboolean is_leaf = TRUE;
		guint current = i;

		for (guint j = 0; j < certs->len && is_leaf; j++) {
			if (!placed[j] && upload_issued_by (certs, self_signed, j, i))
				is_leaf = FALSE;
		}
		if (placed[i] || !is_leaf)
			continue;
		for (;;) {
			gboolean found = FALSE;

			placed[current] = TRUE;
			g_array_append_val (order, current);
			for (guint k = 0; k < certs->len && !found; k++) {
				if (!placed[k] &&
				    upload_issued_by (certs, self_signed, current, k)) {
					current = k;
					found = TRUE;
				}
			}
			if (!found)
				break;
		}
		g_array_append_val (tops, current);
	}
	for (guint i = 0; i < certs->len; i++) {
		if (!placed[i]) {
			g_array_append_val (order, i);
			g_array_append_val (tops, i);
		}
	}
	return order;
}

/* a self-signed certificate with the same name and key as @crt: its cross-signed twin vouches */
static gboolean
has_self_signed_twin (GPtrArray *certs, const gboolean *self_signed, guint crt)
{
	gnutls_x509_crt_t a = g_ptr_array_index (certs, crt);
	g_autofree gchar *subject = tether_x509_get_subject (a);
	guint8 id_a[64];
	size_t len_a = sizeof (id_a);

	if (gnutls_x509_crt_get_key_id (a, GNUTLS_KEYID_USE_SHA256, id_a, &len_a) !=
	    GNUTLS_E_SUCCESS)
		return FALSE;
	for (guint i = 0; i < certs->len; i++) {
		gnutls_x509_crt_t b = g_ptr_array_index (certs, i);
		g_autofree gchar *subject_b = NULL;
		guint8 id_b[64];
		size_t len_b = sizeof (id_b);

		if (i == crt || !self_signed[i])
			continue;
		subject_b = tether_x509_get_subject (b);
		if (g_strcmp0 (subject, subject_b) == 0 &&
		    gnutls_x509_crt_get_key_id (b, GNUTLS_KEYID_USE_SHA256, id_b, &len_b) ==
		            GNUTLS_E_SUCCESS &&
		    len_a == len_b && memcmp (id_a, id_b, len_a) == 0)
			return TRUE;
	}
	return FALSE;
}

/* the notes on one certificate: its dates, what it is, its key */
static void
note_member (GStrvBuilder *notes, gnutls_x509_crt_t crt, const gchar *which, gboolean self_signed,
             gint64 now)
{
	gint64 not_before = gnutls_x509_crt_get_activation_time (crt);
	gint64 not_after = gnutls_x509_crt_get_expiration_time (crt);
	g_autofree gchar *today = format_date (now);
	unsigned int bits = 0;

	if (not_after != -1 && not_after < now) {
		g_autofree gchar *date = format_date (not_after);

		tether_strv_builder_take (notes,
		                          g_strdup_printf (_("%s expired on %s: it vouches for "
		                                             "nothing until it is replaced (if "
		                                             "that date is wrong, check the "
		                                             "device's clock: it says %s)"),
		                                              which, date, today));
	} else if (not_before != -1 && not_before > now) {
		g_autofree gchar *date = format_date (not_before);

		tether_strv_builder_take (
		        notes, g_strdup_printf (_("%s is not valid before %s: check the "
		                                             "device's clock (it says %s)"),
		                                   which, date, today));
	}
	if (self_signed && !tether_x509_is_ca (crt))
		tether_strv_builder_take (
		        notes,
		        g_strdup_printf (_("%s is self-signed but not a CA: it vouches "
		                                  "only for the one server that presents this "
		                                  "very certificate (a pinned server certificate)"),
		                            which));
	if (gnutls_x509_crt_get_pk_algorithm (crt, &bits) == GNUTLS_PK_RSA && bits < 2048)
		tether_strv_builder_take (
		        notes, g_strdup_printf (_("%s has an RSA key of %u bits: keys under 2048 "
		                                  "bits are weak, and servers and TLS libraries "
		                                  "are dropping them"),
		                                   which, bits));
}

static void
set_all_expired_error (GError **error, GPtrArray *certs, const guint *positions, guint count,
                       gint64 now)
{
	guint latest = 0;
	g_autofree gchar *which = NULL;
	g_autofree gchar *date = NULL;
	g_autofree gchar *today = format_date (now);

	for (guint i = 1; i < certs->len; i++) {
		if (gnutls_x509_crt_get_expiration_time (g_ptr_array_index (certs, i)) >
		    gnutls_x509_crt_get_expiration_time (g_ptr_array_index (certs, latest)))
			latest = i;
	}
	which = name_member (g_ptr_array_index (certs, latest), positions[latest], count);
	date = format_date (
	        gnutls_x509_crt_get_expiration_time (g_ptr_array_index (certs, latest)));
	if (certs->len == 1)
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		             _("%s expired on %s: get the CA's current certificate, or check the "
		               "device's clock (it says %s)"),
		                which, date, today);
	else
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		             _("every certificate has expired, the last one, %s, on %s: get the "
		               "CA's current certificates, or check the device's clock (it says "
		               "%s)"),
		                which, date, today);
}

GPtrArray *
tether_x509_prepare_anchor (GPtrArray *certs, gint64 now, gboolean refuse_expired, GStrv *warnings,
                            GError **error)
{
	g_autoptr(GStrvBuilder) notes = g_strv_builder_new ();
	g_autoptr(GPtrArray) kept = g_ptr_array_new (); /* borrowed */
	g_autoptr(GArray) positions = g_array_new (FALSE, FALSE, sizeof (guint));
	g_autoptr(GArray) tops = g_array_new (FALSE, FALSE, sizeof (guint));
	g_autoptr(GArray) order = NULL;
	g_autoptr(GPtrArray) result = tether_x509_list_new ();
	g_autofree gboolean *self_signed = NULL;
	gboolean any_valid = FALSE;
	gboolean reordered = FALSE;

	g_return_val_if_fail (certs != NULL, NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);

	if (certs->len == 0) {
		g_set_error_literal (error, TETHER_ERROR, TETHER_ERROR_INVALID_CERTIFICATE,
		                     _("no certificate found: give the root CA's certificate"));
		return NULL;
	}

	/* a repeated certificate goes, by fingerprint */
	for (guint i = 0; i < certs->len; i++) {
		gnutls_x509_crt_t crt = g_ptr_array_index (certs, i);
		guint position = i + 1;
		gboolean repeated = FALSE;

		for (guint j = 0; j < kept->len && !repeated; j++) {
			g_autofree gchar *which = NULL;
			g_autofree gchar *fingerprint = NULL;

			if (!crt_equal (g_ptr_array_index (kept, j), crt))
				continue;
			repeated = TRUE;
			which = name_member (crt, position, certs->len);
			fingerprint = tether_x509_get_fingerprint (crt);
			tether_strv_builder_take (
			        notes,
			        g_strdup_printf (_("%s is the same as certificate %u (SHA-256 "
			                                  "%s): dropped"),
			                            which, g_array_index (positions, guint, j),
			                            fingerprint));
		}
		if (repeated)
			continue;
		g_ptr_array_add (kept, crt);
		g_array_append_val (positions, position);
	}

	/* each on its own */
	self_signed = g_new0 (gboolean, kept->len);
	for (guint i = 0; i < kept->len; i++) {
		gnutls_x509_crt_t crt = g_ptr_array_index (kept, i);
		g_autofree gchar *which =
		        name_member (crt, g_array_index (positions, guint, i), certs->len);

		self_signed[i] = tether_x509_is_self_signed (crt);
		note_member (notes, crt, which, self_signed[i], now);
		if (gnutls_x509_crt_get_expiration_time (crt) >= now)
			any_valid = TRUE;
	}
	if (!any_valid && refuse_expired) {
		set_all_expired_error (error, kept, (const guint *) positions->data, certs->len,
		                       now);
		return NULL;
	}

	/* as a chain: leaf first, each followed by its issuer */
	order = chain_order (kept, self_signed, tops);
	for (guint i = 0; i < order->len; i++) {
		if (g_array_index (order, guint, i) != i)
			reordered = TRUE;
	}
	if (reordered)
		tether_strv_builder_take (notes,
		                          g_strdup (_("the certificates were not in chain order; "
		                                      "they are stored reordered, each "
		                                      "certificate followed by its issuer")));

	/* under the trust rule only a self-signed root vouches */
	for (guint i = 0; i < tops->len; i++) {
		guint top = g_array_index (tops, guint, i);
		gnutls_x509_crt_t crt = g_ptr_array_index (kept, top);
		g_autofree gchar *which = NULL;
		g_autofree gchar *issuer = NULL;

		if (self_signed[top] || has_self_signed_twin (kept, self_signed, top))
			continue;
		which = name_member (crt, g_array_index (positions, guint, top), certs->len);
		issuer = tether_x509_get_issuer (crt);
		tether_strv_builder_take (
		        notes, g_strdup_printf (_("%s is the top of its chain but not self-signed "
		                                  "(its issuer is '%s'): only a self-signed root "
		                                  "vouches for a server, so this anchor works "
		                                  "only where its root '%s' is a trust anchor of "
		                                  "the same connection too"),
		                                   which, issuer, issuer));
	}

	for (guint i = 0; i < order->len; i++) {
		gnutls_x509_crt_t copy =
		        crt_copy (g_ptr_array_index (kept, g_array_index (order, guint, i)));

		if (copy == NULL) {
			g_set_error_literal (
			        error, TETHER_ERROR, TETHER_ERROR_FAILED,
			        _("a certificate could not be copied: out of memory?"));
			return NULL;
		}
		g_ptr_array_add (result, copy);
	}
	if (warnings != NULL)
		*warnings = g_strv_builder_end (notes);
	return g_steal_pointer (&result);
}
