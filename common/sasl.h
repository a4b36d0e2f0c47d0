/*
 * sasl.h - the pieces of SASL that DMail's servers share: strict base64
 * (RFC 4648 section 4, with padding, no line breaks, no blanks) and the
 * PLAIN mechanism's message (RFC 4616). Used by SMTP AUTH (RFC 4954) and
 * POP3 AUTH (RFC 5034).
 *
 * base64_decode() replaces out with the decoded bytes (out stays
 * NUL-terminated, the data may hold NULs) and returns 0, or -1 when in is
 * not canonical base64. base64_encode() appends to out.
 *
 * sasl_plain_split() splits "[authzid] NUL authcid NUL passwd" in place:
 * the three pointers point into data, which must be NUL-terminated after
 * len bytes (a struct buf is). Returns -1 for a malformed message: other
 * than exactly two NULs, or an empty authcid or password.
 */
#ifndef DMAIL_SASL_H
#define DMAIL_SASL_H

#include <stddef.h>

#include "buf.h"

int base64_decode(const char *in, size_t len, struct buf *out);
void base64_encode(const void *in, size_t len, struct buf *out);
int sasl_plain_split(const char *data, size_t len, const char **authzid,
    const char **authcid, const char **passwd);

#endif
