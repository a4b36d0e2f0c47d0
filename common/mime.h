/*
 * mime.h - reading MIME (RFC 2045-2047, 2231 not supported) for display:
 * the leaf parts of a message, their transfer encodings undone, their
 * text turned into valid UTF-8, HTML turned into plain text, and the
 * encoded words of header values decoded. Used by the web manager's
 * archive view (webd/web_archive.c).
 *
 * Every byte is hostile: mime_walk() looks at most MIME_MAX_PARTS parts
 * nested at most MIME_MAX_DEPTH deep, a delimiter counts only at the
 * start of a line, and every output is valid UTF-8 (invalid bytes
 * become U+FFFD). Nothing fails or logs.
 */
#ifndef DMAIL_MIME_H
#define DMAIL_MIME_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "mail.h"

#define MIME_MAX_PARTS 100
#define MIME_MAX_DEPTH 8

/* One leaf part (strings are lower-cased where the RFC says case does
 * not matter; never NULL). */
struct mime_part {
	const char *type;          /* "text/plain" (the default), ... */
	const char *charset;       /* "" when none */
	const char *cte;           /* Content-Transfer-Encoding, "" none */
	const char *filename;      /* filename= or name=, decoded; "" none */
	bool attachment;           /* Content-Disposition: attachment */
	const char *body;          /* as in the message (still encoded) */
	size_t len;
	unsigned alternative;      /* the multipart/alternative holding it
	                            * (1, 2, ... in order), 0 none */
};

typedef void (*mime_part_fn)(const struct mime_part *p, void *arg);

/* Call fn for each leaf part of m, depth first, in order; a
 * message/rfc822 part is a leaf. Returns the number of parts seen. */
size_t mime_walk(const struct mail *m, mime_part_fn fn, void *arg);
/* Undo a Content-Transfer-Encoding (base64, quoted-printable; others
 * are copied): out replaced with the bytes (may hold NUL). Lenient:
 * what cannot be decoded is copied or skipped, never refused. */
void mime_decode(const char *s, size_t n, const char *cte, struct buf *out);
/* Text in charset (UTF-8, US-ASCII, ISO-8859-1 and windows-1252 known;
 * others read as UTF-8) into UTF-8 in out (replaced): CR before LF and
 * NUL bytes dropped, invalid sequences U+FFFD. */
void mime_to_utf8(const char *s, size_t n, const char *charset,
    struct buf *out);
/* The text of an HTML document into out (replaced): tags removed (and
 * the content of script and style), block ends as line breaks, the
 * character references decoded. Input and output UTF-8. */
void mime_html_text(const char *s, size_t n, struct buf *out);
/* A header value with its RFC 2047 encoded words decoded, as UTF-8,
 * into out (replaced). */
void mime_header_decode(const char *value, struct buf *out);
/* Length (1-4) of the valid UTF-8 sequence at s, n bytes at most
 * (n >= 4 is safe on a NUL-terminated string), 0 when invalid: bad
 * lead or continuation bytes, overlong forms, surrogates, beyond
 * U+10FFFF. */
size_t mime_utf8_len(const char *s, size_t n);

#endif
