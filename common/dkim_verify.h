/*
 * dkim_verify.h - DKIM verification (RFC 6376) at the MX: RSA-SHA256 and
 * Ed25519-SHA256 (RFC 8463), simple and relaxed canonicalization (the
 * relaxed forms are dkim.c's, the ones the signer uses).
 *
 * dkim_verify() checks the first DKIM_VERIFY_MAX DKIM-Signature fields
 * of a message, each with its key from DNS (dns_txt() of
 * SELECTOR._domainkey.DOMAIN). Results per RFC 8601 2.7.1:
 *   pass       the signature verifies
 *   fail       it does not (body hash, signature, expired x=)
 *   neutral    a signature we do not check (rsa-sha1, another v=)
 *   temperror  the key could not be fetched for now
 *   permerror  the field or the key is malformed: tag syntax, bad
 *              base64, no From in h=, i= outside d=, an l= beyond the body or absurd,
 *              no key, a revoked key, an RSA key under 1024 bits
 * The reason is in dkim_sig.reason. Nothing is logged or fatal.
 */
#ifndef DMAIL_DKIM_VERIFY_H
#define DMAIL_DKIM_VERIFY_H

#include <stddef.h>
#include <time.h>

#include "dns.h"

#define DKIM_VERIFY_MAX 5

enum dkim_result {
	DKIM_PASS = 0,
	DKIM_FAIL,
	DKIM_NEUTRAL,
	DKIM_TEMPERROR,
	DKIM_PERMERROR,
};

struct dkim_sig {
	enum dkim_result result;
	char domain[254];          /* d=, "" when unreadable */
	char selector[64];         /* s= */
	char b[9];                 /* the first 8 characters of b= */
	char reason[96];
};

/* Results of the signatures of msg[0..len) (LF or CRLF lines) into
 * out (at most max); the number of signatures checked. r NULL (tests,
 * fuzzing): a signature that gets as far as its key is a temperror. */
size_t dkim_verify(struct dns_resolver *r, const char *msg, size_t len,
    time_t now, struct dkim_sig *out, size_t max);
/* "pass", "fail", ... (RFC 8601). */
const char *dkim_result_name(enum dkim_result r);

#endif
