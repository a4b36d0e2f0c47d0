/*
 * buf.h - the one growable, length-counted byte buffer used everywhere.
 *
 * A struct buf owns its storage. It is always NUL-terminated (data[len] == 0)
 * so it can be handed to C string functions, but may also hold NUL bytes.
 * Allocation failure is fatal (log_fatal): a mail server that cannot get a
 * few kilobytes is better restarted by the master than limping on.
 *
 *   struct buf b = BUF_INIT;       empty, owns nothing yet
 *   buf_append(&b, p, n);          append n bytes
 *   buf_printf(&b, fmt, ...);      append formatted text
 *   buf_reset(&b);                 length 0, keeps the storage
 *   buf_free(&b);                  release storage, back to BUF_INIT
 *   char *s = buf_steal(&b);       hand the storage to the caller (free())
 */
#ifndef DMAIL_BUF_H
#define DMAIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
void buf_set(struct buf *b, const char *s);
void buf_truncate(struct buf *b, size_t len);
/* Remove the first n bytes, moving the rest down. */
void buf_consume(struct buf *b, size_t n);
/* Returns a C string that is always valid (never NULL), even for BUF_INIT. */
const char *buf_cstr(const struct buf *b);
/* Hands ownership of the storage to the caller; b is left empty. */
char *buf_steal(struct buf *b);

/* Checked allocation helpers: never return NULL (fatal on exhaustion). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Exactly n bytes of s (NULs included: not strndup(3)), plus a NUL. */
char *xstrndup(const char *s, size_t n);

#endif
