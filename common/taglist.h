/*
 * taglist.h - tag=value lists (RFC 6376 3.2): DKIM-Signature fields,
 * DKIM key records, DMARC records (RFC 7489 6.4 uses the same form).
 *
 *   tag-list  = tag-spec *( ";" tag-spec ) [ ";" ]
 *   tag-spec  = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
 *   tag-name  = ALPHA *( ALPHA / DIGIT / "_" )
 *   tag-value = [ tval *( 1*( WSP / FWS ) tval ) ]
 *   tval      = 1*( %x21-3A / %x3C-7E )
 *
 * taglist_parse() checks that grammar exactly: a tag without "=", an
 * empty name, a byte outside it, a tag given twice (RFC 6376 3.2: "MUST
 * be interpreted as a syntax error"), more than TAGLIST_MAX tags or a
 * name over TAGLIST_NAME_MAX are refused. Values keep their inner
 * whitespace (taglist_compact() drops it, for base64 and h=). Nothing
 * is logged or fatal.
 */
#ifndef DMAIL_TAGLIST_H
#define DMAIL_TAGLIST_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define TAGLIST_MAX 32
#define TAGLIST_NAME_MAX 15

struct tag {
	char name[TAGLIST_NAME_MAX + 1];
	char *value;              /* trimmed, NUL-terminated */
};

struct taglist {
	struct tag tags[TAGLIST_MAX];
	size_t count;
};

/* 0, or -1 with the reason in err (what was parsed is freed). */
int taglist_parse(const char *text, size_t len, struct taglist *out,
    struct buf *err);
void taglist_free(struct taglist *t);
/* The value of name (case-sensitive, as RFC 6376 says), or NULL. */
const char *taglist_get(const struct taglist *t, const char *name);
/* value without any whitespace into out (reset first). */
void taglist_compact(const char *value, struct buf *out);

#endif
