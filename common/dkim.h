/*
 * dkim.h - DKIM signing (RFC 6376) with RSA-SHA256 and Ed25519-SHA256
 * (RFC 8463), relaxed/relaxed canonicalization, OpenSSL for the crypto.
 *
 * A signer is a domain, a selector and a private key (PEM, PKCS#8 or
 * traditional RSA; RSA of at least 1024 bits, or Ed25519), from the
 * dkim_sign configuration key. dkim_sign() takes a whole message (header
 * and body, LF or CRLF line ends, any bytes) and returns the
 * DKIM-Signature field to put at the top of it, folded, ending in LF.
 * Signed fields: those of DKIM_SIGNED_FIELDS present in the message (the
 * bottom-most instance first, as RFC 6376 5.4.2 says), and From once
 * more than it occurs (over-signing: a From added later breaks the
 * signature).
 *
 * dkim_canon_header()/dkim_canon_body_*() are the relaxed algorithms
 * (RFC 6376 3.4.2 and 3.4.4) and dkim_signed_fields() the header data
 * of h=, exported for the tests and the verifier (dkim_verify.h).
 * dkim_dns_record() gives the TXT record text ("v=DKIM1; k=...; p=...")
 * of a key's public half.
 *
 * Errors are returned (-1, reason in err); nothing is logged, nothing is
 * fatal.
 */
#ifndef DMAIL_DKIM_H
#define DMAIL_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"

#define DKIM_SIGNED_FIELDS "from:reply-to:subject:date:to:cc:message-id:" \
	"in-reply-to:references:mime-version:content-type:" \
	"content-transfer-encoding:sender:list-id:list-unsubscribe:" \
	"list-post:resent-date:resent-from:resent-to:resent-cc"

struct dkim_key;

/* Load a PEM private key; NULL with the reason in err. */
struct dkim_key *dkim_key_load(const char *path, struct buf *err);
/* Generate a key: type "rsa" (bits, at least 1024) or "ed25519". */
struct dkim_key *dkim_key_generate(const char *type, int bits,
    struct buf *err);
/* Write the private key as PKCS#8 PEM (mode 0600, durably). */
int dkim_key_save(const struct dkim_key *k, const char *path,
    struct buf *err);
void dkim_key_free(struct dkim_key *k);
/* "v=DKIM1; k=rsa; p=BASE64" (or k=ed25519, RFC 8463) into out. */
int dkim_dns_record(const struct dkim_key *k, struct buf *out,
    struct buf *err);
/* "rsa-sha256" or "ed25519-sha256". */
const char *dkim_key_algorithm(const struct dkim_key *k);

/* The DKIM-Signature field for msg[0..len) into out (reset first). */
int dkim_sign(const struct dkim_key *k, const char *domain,
    const char *selector, time_t now, const char *msg, size_t len,
    struct buf *out, struct buf *err);

/* Relaxed canonicalization of one header field (name, colon, value,
 * folding; without the line end of its last line) into out, appended,
 * with CRLF. */
void dkim_canon_header(const char *field, size_t len, struct buf *out);
/* The relaxed canonicalized fields of m that h (names joined by ':',
 * no blanks) names, each name taking the bottom-most instance not yet
 * taken (RFC 6376 5.4.2), appended to data. */
struct mail;
void dkim_signed_fields(const struct mail *m, const char *h, bool simple,
    struct buf *data);
/* "simple" canonicalization (RFC 6376 3.4.1, 3.4.3): text as is with
 * CRLF line ends, appended; the body form (out reset) without empty
 * lines at its end. */
void dkim_canon_simple(const char *text, size_t len, struct buf *out);
void dkim_canon_body_simple(const char *body, size_t len, struct buf *out);
/* Relaxed body canonicalization of body[0..len) into out (reset). */
void dkim_canon_body(const char *body, size_t len, struct buf *out);

#endif
