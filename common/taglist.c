/*
 * taglist.c - the tag=value list parser of RFC 6376 3.2 (see
 * taglist.h). A careful byte-level parser, kept whole.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "taglist.h"
#include "util.h"

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* VALCHAR of RFC 6376 3.2 */
static bool
is_valchar(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != ';';
}

static const char *
skip_wsp(const char *p, const char *end)
{
	while (p < end && is_wsp(*p))
		p++;
	return p;
}

/* One tag-spec at p (up to end or ';'); stores it, returns where it
 * stopped, or NULL with err. */
static const char *
parse_spec(const char *p, const char *end, struct taglist *out,
    struct buf *err)
{
	const char *name, *v, *ve;
	size_t n;

	p = skip_wsp(p, end);
	name = p;
	if (p < end && isalpha((unsigned char)*p))
		for (p++; p < end && (isalnum((unsigned char)*p) ||
		    *p == '_'); p++)
			;
	n = (size_t)(p - name);
	if (n == 0 || n > TAGLIST_NAME_MAX) {
		buf_printf(err, "bad tag name");
		return NULL;
	}
	p = skip_wsp(p, end);
	if (p >= end || *p != '=') {
		buf_printf(err, "tag %.*s without '='", (int)n, name);
		return NULL;
	}
	v = p = skip_wsp(p + 1, end);
	ve = v;
	while (p < end && *p != ';') {
		if (is_valchar((unsigned char)*p))
			ve = ++p;
		else if (is_wsp(*p))
			p++;
		else {
			buf_printf(err, "bad byte in tag %.*s", (int)n, name);
			return NULL;
		}
	}
	for (size_t i = 0; i < out->count; i++)
		if (strlen(out->tags[i].name) == n &&
		    memcmp(out->tags[i].name, name, n) == 0) {
			buf_printf(err, "tag %.*s given twice", (int)n, name);
			return NULL;
		}
	if (out->count >= TAGLIST_MAX) {
		buf_printf(err, "more than %d tags", TAGLIST_MAX);
		return NULL;
	}
	memcpy(out->tags[out->count].name, name, n);
	out->tags[out->count].name[n] = '\0';
	out->tags[out->count].value = xstrndup(v, (size_t)(ve - v));
	out->count++;
	return p;
}

int
taglist_parse(const char *text, size_t len, struct taglist *out,
    struct buf *err)
{
	const char *p = text, *end = text + len;

	memset(out, 0, sizeof(*out));
	if (memchr(text, '\0', len) != NULL) {
		buf_printf(err, "NUL in tag list");
		return -1;
	}
	while (p < end) {
		if ((p = parse_spec(p, end, out, err)) == NULL) {
			taglist_free(out);
			return -1;
		}
		if (p < end)
			p++;            /* ';' */
		/* a final ';' may be followed by blanks only */
		if (skip_wsp(p, end) == end)
			break;
	}
	if (out->count == 0) {
		buf_printf(err, "empty tag list");
		return -1;
	}
	return 0;
}

void
taglist_free(struct taglist *t)
{
	for (size_t i = 0; i < t->count; i++)
		free(t->tags[i].value);
	memset(t, 0, sizeof(*t));
}

const char *
taglist_get(const struct taglist *t, const char *name)
{
	for (size_t i = 0; i < t->count; i++)
		if (strcmp(t->tags[i].name, name) == 0)
			return t->tags[i].value;
	return NULL;
}

void
taglist_compact(const char *value, struct buf *out)
{
	buf_reset(out);
	for (const char *p = value; *p != '\0'; p++)
		if (!is_wsp(*p))
			buf_append_char(out, *p);
}
