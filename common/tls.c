/*
 * tls.c - OpenSSL context set-up (see tls.h).
 */
#include "config.h"

#include <openssl/err.h>

#include "tls.h"

void
tls_errors(struct buf *err)
{
	unsigned long e;
	char msg[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, msg, sizeof(msg));
		buf_printf(err, "%s%s", err->len ? "; " : "", msg);
	}
}

static void
tls_common(SSL_CTX *ctx)
{
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

SSL_CTX *
tls_server_ctx(const char *cert_file, const char *key_file, struct buf *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		tls_errors(err);
		return NULL;
	}
	tls_common(ctx);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		buf_printf(err, "cannot load certificate %s: ", cert_file);
		tls_errors(err);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		buf_printf(err, "cannot load key %s: ", key_file);
		tls_errors(err);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		buf_printf(err, "key %s does not match certificate %s: ",
		    key_file, cert_file);
		tls_errors(err);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
tls_client_ctx(int verify, struct buf *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		tls_errors(err);
		return NULL;
	}
	tls_common(ctx);
	if (verify) {
		SSL_CTX_set_default_verify_paths(ctx);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return ctx;
}
