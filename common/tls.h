/*
 * tls.h - OpenSSL contexts for DMail servers and clients.
 *
 * Only TLS 1.2 and newer are offered. A server context is built from the
 * configured certificate chain and key; building it fails (NULL, reason in
 * err) if either cannot be read or they do not match, so a worker refuses
 * to start rather than offer STARTTLS it cannot complete.
 */
#ifndef DMAIL_TLS_H
#define DMAIL_TLS_H

#include <openssl/ssl.h>

#include "buf.h"

SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file,
    struct buf *err);
/* Client context for outbound SMTP: no certificate verification unless
 * verify is set (opportunistic TLS, RFC 7435). */
SSL_CTX *tls_client_ctx(int verify, struct buf *err);
/* Append the OpenSSL error queue to err and clear it. */
void tls_errors(struct buf *err);

#endif
