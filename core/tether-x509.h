/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

G_BEGIN_DECLS

/*
 * Pure X.509 and key helpers on GnuTLS: no I/O, no daemon state, so each has
 * its own unit test. Certificate lists are GPtrArrays of gnutls_x509_crt_t
 * that own their elements (freed with gnutls_x509_crt_deinit).
 */

#include "tether-gnutls-auto.h"

/* a GPtrArray that frees its gnutls_x509_crt_t elements */
GPtrArray *tether_x509_list_new (void);

/*
 * Parses PEM text holding one or more certificates, in file order. Refuses,
 * with TETHER_ERROR_INVALID_CERTIFICATE and a message naming the certificate
 * by its position ("certificate 2 of 3"): no certificate at all, a damaged
 * block, a private key in the data (the key is never copied anywhere).
 */
GPtrArray *tether_x509_parse_pem (GBytes *data, GError **error);
/* the complete CERTIFICATE blocks of PEM @data (a key file may hold its chain), or NULL */
GBytes *tether_pem_certificate_blocks (GBytes *data);

/*
 * Parses an operator's upload of trust anchor certificates, in any common wrapping: PEM (one or
 * more blocks; LF, CRLF or mixed line endings; a UTF-8 byte-order mark; any text before,
 * between and after the blocks, such as the "Bag Attributes" and "subject=" lines of
 * 'openssl pkcs12'), PEM or DER PKCS#7 bundles (.p7b), or one DER certificate. Certificates in
 * file order. Refuses, with TETHER_ERROR_INVALID_CERTIFICATE (TETHER_ERROR_INVALID_ARGUMENT
 * for an empty or oversized file) and a message that names the certificate by its position:
 * UTF-16 or UTF-32 text, a private key or PKCS#12 bundle (never copied, never quoted), damaged
 * base64 or DER in any certificate, a block that is neither a certificate nor a PKCS#7 bundle.
 */
GPtrArray *tether_x509_parse_upload (GBytes *data, GError **error);

/*
 * Checks an upload's certificates (from tether_x509_parse_upload()) as a trust anchor at @now
 * and returns the list to store: duplicates dropped (by fingerprint), in chain order (leaf
 * first, each certificate followed by its issuer). @warnings (if not NULL) gets what is worth
 * a look but no reason to refuse, each naming the certificate by its upload position and
 * subject: a duplicate, an expired or not yet valid member, a self-signed certificate that is
 * not a CA, a reordered chain, an RSA key under 2048 bits, a chain whose top is not
 * self-signed (the trust rule). With @refuse_expired, a set in which every certificate has
 * expired is refused. A SHA-1 self-signature is no reason to refuse.
 */
GPtrArray *tether_x509_prepare_anchor (GPtrArray *certs, gint64 now, gboolean refuse_expired,
                                       GStrv *warnings, GError **error);

/* PEM text of the certificates, LF line endings */
gchar *tether_x509_export_pem (GPtrArray *certs, GError **error);

gchar *tether_x509_get_subject (gnutls_x509_crt_t crt);
gchar *tether_x509_get_issuer (gnutls_x509_crt_t crt);
/* the subject's first CN, NULL if it has none */
gchar *tether_x509_get_common_name (gnutls_x509_crt_t crt);
/* SHA-256 of the DER, upper-case hex pairs joined by ':' */
gchar *tether_x509_get_fingerprint (gnutls_x509_crt_t crt);
/* lower-case hex */
gchar *tether_x509_get_serial (gnutls_x509_crt_t crt);
gboolean tether_x509_is_ca (gnutls_x509_crt_t crt);
gboolean tether_x509_is_self_signed (gnutls_x509_crt_t crt);
/* the DNS and IP subject alternative names, or the CN when it has none */
GStrv tether_x509_get_host_names (gnutls_x509_crt_t crt);
/*
 * a{sv}: "subject" s, "issuer" s, "fingerprint-sha256" s, "not-before" x,
 * "not-after" x, "is-ca" b, "self-signed" b (floating)
 */
GVariant *tether_x509_describe (gnutls_x509_crt_t crt);

/* keys: PKCS#8 PEM, unencrypted */
typedef enum {
	TETHER_KEY_TYPE_EC_P256,
	TETHER_KEY_TYPE_EC_P384,
	TETHER_KEY_TYPE_RSA_2048,
	TETHER_KEY_TYPE_RSA_3072,
} TetherKeyType;

/* "ec-p256", "ec-p384", "rsa-2048", "rsa-3072"; FALSE for another name */
gboolean tether_key_type_from_string (const gchar *name, TetherKeyType *type);
/* a new private key as PKCS#8 PEM */
GBytes *tether_key_generate (TetherKeyType type, GError **error);
/*
 * a PKCS#8 (unencrypted) PEM private key, or a SEC1 "EC PRIVATE KEY" or PKCS#1
 * "RSA PRIVATE KEY"; TETHER_ERROR_INVALID_KEY on failure (an encrypted key is
 * refused with a message that says so)
 */
gnutls_privkey_t tether_key_load_pem (GBytes *pem, GError **error);
/* "ec-p256", ... for a loaded key */
gchar *tether_key_describe_type (gnutls_privkey_t key);
/* whether the certificate holds the public half of the key */
gboolean tether_key_matches_certificate (gnutls_privkey_t key, gnutls_x509_crt_t crt);

/*
 * Reads a private key as a device CA or a tool hands it over, PEM or DER: PKCS#8 (plain, or
 * encrypted and opened with @password), SEC1 "EC PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY", or an
 * OpenSSL-encrypted PEM key. Returns it as unencrypted PKCS#8 PEM, wiped when freed.
 * TETHER_ERROR_INVALID_KEY says why it was refused: not a key; encrypted and no password, an
 * empty one or a wrong one. Nothing ever prompts for a password. @was_encrypted (or NULL) tells
 * whether the key needed the password.
 */
GBytes *tether_key_import (GBytes *data, const gchar *password, gboolean *was_encrypted,
                           GError **error);
/* whether @data (PEM or DER) is a PKCS#12 bundle */
gboolean tether_pkcs12_detect (GBytes *data);
/*
 * Opens a PKCS#12 bundle with @password: its private key as unencrypted PKCS#8 PEM (wiped when
 * freed), and in @chain the certificate of that key followed by the issuers the bundle holds
 * (a self-signed root left out). The same refusals as tether_key_import().
 */
GBytes *tether_pkcs12_import (GBytes *data, const gchar *password, GPtrArray **chain,
                              GError **error);

/*
 * A PKCS#10 request signed with @key, PEM. @options a{sv}: "common-name" s
 * (required), "organization" s, "organizational-unit" s, "country" s (two
 * letters), "dns-names" as, "uris" as. Asks for digital signature and TLS
 * client authentication. TETHER_ERROR_INVALID_ARGUMENT names a bad option.
 * "key-type" s and "renew" b (CreateIdentityRequest's, for the caller) are
 * let through, so its options can be passed as they are; any other key is
 * refused.
 */
gchar *tether_csr_create (gnutls_privkey_t key, GVariant *options, GError **error);
/* the checks of tether_csr_create() on @options alone, before anything is made */
gboolean tether_csr_check_options (GVariant *options, GError **error);

/* the trust rule of DESIGN.md */
typedef enum {
	TETHER_TRUST_OK,
	TETHER_TRUST_UNKNOWN_ISSUER,
	TETHER_TRUST_HOST_MISMATCH,
	TETHER_TRUST_EXPIRED,
	TETHER_TRUST_NOT_YET_VALID,
	TETHER_TRUST_INVALID, /* a bad signature, a broken chain, ... */
} TetherTrustResult;

const gchar *tether_trust_result_to_string (TetherTrustResult result);

/*
 * Checks a server chain (leaf first, as the server sent it) against a set of
 * anchor certificates: the chain is trusted only when it reaches a
 * self-signed certificate in @anchors (the way OpenSSL in Paho decides). When
 * @hostname is not NULL the leaf must be valid for it. @now is seconds since
 * the epoch. On failure @message (if not NULL) says why in plain words,
 * naming @anchor_names (a comma-separated list for people), the server
 * chain's top issuer, the names the leaf holds, or the dates;
 * @top_issuer and @names are set for the caller's structured report.
 *
 * Anchors that are not self-signed cannot vouch, but may fill a gap in the
 * server's chain, as they do in OpenSSL. The top issuer is the issuer of the
 * last certificate on the path up from the leaf (its own subject when that
 * one is self-signed). @top_issuer and @names (if not NULL) are set whatever
 * the result; @message is NULL with TETHER_TRUST_OK. Checks in this order:
 * the chain, then the dates against @now (leaf first, the vouching anchor
 * last), then the host name; the first failure is reported.
 */
TetherTrustResult tether_trust_verify (GPtrArray *server_chain, GPtrArray *anchors,
                                       const gchar *hostname, gint64 now, const gchar *anchor_names,
                                       gchar **message, gchar **top_issuer, GStrv *names);

G_END_DECLS
