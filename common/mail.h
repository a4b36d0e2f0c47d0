/*
 * mail.h - a message in memory: header fields kept byte-exact (with
 * their folding) and the body as is, for the programs that read or
 * change mail DMail did not write (list posts and commands, vacation
 * replies, DKIM). What is a field, and why the text is bytes with a
 * length, is in mail.c. Nothing here fails or logs.
 */
#ifndef DMAIL_MAIL_H
#define DMAIL_MAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct mail_field {
	char *name;          /* as written: ftext only, never empty */
	char *raw;           /* whole field with folding, ending in '\n';
	                      * raw_len bytes (may hold NUL) + a '\0' */
	size_t raw_len;
	size_t value_off;    /* where the value starts: after the colon */
};

struct mail {
	struct mail_field *fields;
	size_t nfields;
	char *body;          /* after the empty line (may be "") */
	size_t body_len;
};

/* Split data (len bytes, any bytes) into header fields and body; see
 * mail.c for what is a field. Never fails. */
void mail_parse(const char *data, size_t len, struct mail *m);
void mail_free(struct mail *m);
/* Unfolded, trimmed value of a field into out, a C string (NUL bytes of
 * the value become blanks; out->data never NULL). */
void mail_field_value(const struct mail_field *f, struct buf *out);
/* Do the len bytes at s (any bytes) start with prefix, ignoring case? */
bool mem_prefix_ci(const char *s, size_t len, const char *prefix);
/* mail_field_value() of the first field name; false if absent. */
bool mail_get(const struct mail *m, const char *name, struct buf *out);
void mail_remove(struct mail *m, const char *name);
/* Append "Name: value\n" (at the end of the header, or first). */
void mail_add(struct mail *m, const char *name, const char *value);
void mail_add_first(struct mail *m, const char *name, const char *value);
void mail_set(struct mail *m, const char *name, const char *value);
void mail_format(const struct mail *m, struct buf *out);
/* First address (local@domain) in a header value like
 * "Alice <alice@x.test>" or "alice@x.test (Alice)"; lower-cased. */
bool mail_address(const char *value, struct buf *out);
/* The display name of a From: value ("" when none). */
void mail_display_name(const char *value, struct buf *out);
/* Auto-Submitted other than "no", or Precedence bulk/junk/list. */
bool mail_is_automatic(const struct mail *m);
/* The text of the first text/plain part (the body when not MIME). */
void mail_text(const struct mail *m, struct buf *out);
/* Parameter name (e.g. "charset") of a header value such as a
 * Content-Type (RFC 2045 5.1: after a ';', any case, quoted-string with
 * quoted-pairs or a token), unquoted, into out; false if absent. */
bool mail_param(const char *value, const char *name, struct buf *out);
/* The boundary parameter of a multipart Content-Type value into out;
 * false when absent or empty. */
bool mail_boundary(const char *ct, struct buf *out);
/* The next delimiter line of a multipart body at or after p (RFC 2046
 * 5.1.1): delim ("--BOUNDARY") at the start of a line (base: where the
 * body starts), followed by "--" or nothing, blanks and the line end or
 * the body's end, so "--b1" does not match "--b10". NULL: none. */
const char *mail_next_delimiter(const char *p, const char *end,
    const char *base, const struct buf *delim);

#endif
