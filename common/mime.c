/*
 * mime.c - reading MIME for display (see mime.h): the walk over the leaf
 * parts of a message, transfer decoding, charsets to UTF-8, HTML to
 * plain text and RFC 2047 encoded words.
 *
 * The walk splits a multipart body at delimiter lines "--BOUNDARY"
 * (mail_next_delimiter(), RFC 2046 5.1.1), stops at the close delimiter,
 * and
 * recurses into nested multiparts up to MIME_MAX_DEPTH, counting every
 * part against MIME_MAX_PARTS. A multipart without a usable boundary is
 * one text/plain part. Nothing here fails, allocates beyond its
 * output, or logs.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime.h"
#include "sasl.h"
#include "util.h"

/* --- parameters and the walk ---------------------------------------- */

/* The first word of a header value ("text/plain; ..."), lower-cased. */
static void
first_word(const char *value, struct buf *out)
{
	size_t n = strcspn(value, " \t;");

	buf_reset(out);
	for (size_t i = 0; i < n; i++)
		buf_append_char(out, (char)tolower((unsigned char)value[i]));
}

struct walk {
	mime_part_fn fn;
	void *arg;
	size_t parts;
	unsigned alternatives;       /* multipart/alternative seen */
};

static void walk_part(struct walk *w, const struct mail *m, unsigned depth,
    const char *deftype, unsigned alt);

/* The parts of a multipart body with boundary bnd. */
static void
walk_multipart(struct walk *w, const struct mail *m, const char *bnd,
    unsigned depth, const char *type, unsigned alt)
{
	struct buf delim = BUF_INIT;
	const char *base = m->body, *end = m->body + m->body_len, *p;
	bool digest = strcmp(type, "multipart/digest") == 0;

	if (strcmp(type, "multipart/alternative") == 0)
		alt = ++w->alternatives;
	buf_printf(&delim, "--%s", bnd);
	p = mail_next_delimiter(base, end, base, &delim);
	while (p != NULL && w->parts < MIME_MAX_PARTS) {
		const char *part = p + delim.len, *next, *stop;
		struct mail pm;

		if (end - part >= 2 && part[0] == '-' && part[1] == '-')
			break;
		if ((part = memchr(part, '\n', (size_t)(end - part))) == NULL)
			break;
		part++;
		next = mail_next_delimiter(part, end, base, &delim);
		stop = next != NULL ? next : end;
		/* The line break before a delimiter belongs to it. */
		if (stop > part && stop[-1] == '\n')
			stop--;
		if (stop > part && stop[-1] == '\r')
			stop--;
		mail_parse(part, (size_t)(stop - part), &pm);
		walk_part(w, &pm, depth + 1, digest ? "message/rfc822" :
		    "text/plain", alt);
		mail_free(&pm);
		p = next;
	}
	buf_free(&delim);
}

static void
walk_part(struct walk *w, const struct mail *m, unsigned depth,
    const char *deftype, unsigned alt)
{
	struct buf ct = BUF_INIT, type = BUF_INIT, bnd = BUF_INIT;
	struct buf cs = BUF_INIT, cte = BUF_INIT, cd = BUF_INIT;
	struct buf fn = BUF_INIT, raw = BUF_INIT;
	struct mime_part p;

	if (w->parts >= MIME_MAX_PARTS)
		return;
	if (mail_get(m, "Content-Type", &ct))
		first_word(ct.data, &type);
	if (strchr(buf_cstr(&type), '/') == NULL)
		buf_set(&type, deftype);
	if (strncmp(type.data, "multipart/", 10) == 0 &&
	    depth < MIME_MAX_DEPTH && mail_param(ct.data, "boundary", &bnd) &&
	    bnd.len > 0 && bnd.len <= 200) {
		walk_multipart(w, m, bnd.data, depth, type.data, alt);
		goto out;
	}
	if (strncmp(type.data, "multipart/", 10) == 0)
		buf_set(&type, "text/plain");
	w->parts++;
	(void)mail_param(buf_cstr(&ct), "charset", &cs);
	for (size_t i = 0; i < cs.len; i++)
		cs.data[i] = (char)tolower((unsigned char)cs.data[i]);
	if (mail_get(m, "Content-Transfer-Encoding", &raw))
		first_word(raw.data, &cte);
	(void)mail_get(m, "Content-Disposition", &cd);
	if (mail_param(buf_cstr(&cd), "filename", &raw) ||
	    mail_param(buf_cstr(&ct), "name", &raw))
		mime_header_decode(buf_cstr(&raw), &fn);
	p.type = type.data;
	p.charset = buf_cstr(&cs);
	p.cte = buf_cstr(&cte);
	p.filename = buf_cstr(&fn);
	p.attachment = strncasecmp(buf_cstr(&cd), "attachment", 10) == 0;
	p.body = m->body;
	p.len = m->body_len;
	p.alternative = alt;
	w->fn(&p, w->arg);
out:
	buf_free(&ct);
	buf_free(&type);
	buf_free(&bnd);
	buf_free(&cs);
	buf_free(&cte);
	buf_free(&cd);
	buf_free(&fn);
	buf_free(&raw);
}

size_t
mime_walk(const struct mail *m, mime_part_fn fn, void *arg)
{
	struct walk w = { fn, arg, 0, 0 };

	walk_part(&w, m, 0, "text/plain", 0);
	return w.parts;
}

/* --- transfer encodings ---------------------------------------------- */

/* The value of hex digit c, or -1. */
static int
hexdigit(int c)
{
	static const char digits[] = "0123456789abcdef";
	const char *p = c != 0 ? strchr(digits, tolower(c)) : NULL;

	return p != NULL ? (int)(p - digits) : -1;
}

/* Base64 read leniently: what is not in the alphabet is skipped, '='
 * ends it, a last group left short is padded (or dropped when its
 * left-over bits are not zero); then decoded by sasl.h's strict
 * base64_decode(). */
static void
b64_lenient(const char *s, size_t n, struct buf *out)
{
	struct buf clean = BUF_INIT, dec = BUF_INIT;
	size_t whole;

	for (size_t i = 0; i < n && s[i] != '='; i++)
		if (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '/')
			buf_append_char(&clean, s[i]);
	whole = clean.len / 4 * 4;          /* groups without padding */
	if (clean.len % 4 == 1)
		buf_truncate(&clean, whole);
	if (clean.len % 4 != 0)
		buf_append_str(&clean, clean.len % 4 == 2 ? "==" : "=");
	if (base64_decode(buf_cstr(&clean), clean.len, &dec) < 0)
		(void)base64_decode(buf_cstr(&clean), whole, &dec);
	buf_append(out, dec.data, dec.len);
	buf_free(&clean);
	buf_free(&dec);
}

/* Quoted-printable (RFC 2045 6.7); q: the "Q" of RFC 2047 ('_' blank). */
static void
qp_decode(const char *s, size_t n, bool q, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=' && i + 2 < n && hexdigit(s[i + 1]) >= 0 &&
		    hexdigit(s[i + 2]) >= 0) {
			buf_append_char(out, (char)(hexdigit(s[i + 1]) * 16 +
			    hexdigit(s[i + 2])));
			i += 2;
		} else if (s[i] == '=' && i + 1 < n && (s[i + 1] == '\n' ||
		    (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n'))) {
			i += s[i + 1] == '\r' ? 2 : 1;   /* soft line break */
		} else if (q && s[i] == '_')
			buf_append_char(out, ' ');
		else
			buf_append_char(out, s[i]);
	}
}

void
mime_decode(const char *s, size_t n, const char *cte, struct buf *out)
{
	buf_reset(out);
	if (strcasecmp(cte, "base64") == 0)
		b64_lenient(s, n, out);
	else if (strcasecmp(cte, "quoted-printable") == 0)
		qp_decode(s, n, false, out);
	else
		buf_append(out, s, n);
}

/* --- charsets -------------------------------------------------------- */

static void
put_utf8(struct buf *out, uint32_t cp)
{
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80)
		buf_append_char(out, (char)cp);
	else if (cp < 0x800) {
		buf_append_char(out, (char)(0xc0 | (cp >> 6)));
		buf_append_char(out, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		buf_append_char(out, (char)(0xe0 | (cp >> 12)));
		buf_append_char(out, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_append_char(out, (char)(0x80 | (cp & 0x3f)));
	} else {
		buf_append_char(out, (char)(0xf0 | (cp >> 18)));
		buf_append_char(out, (char)(0x80 | ((cp >> 12) & 0x3f)));
		buf_append_char(out, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_append_char(out, (char)(0x80 | (cp & 0x3f)));
	}
}

size_t
mime_utf8_len(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 :
	    (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;

	if (len == 0 || len > n || (len == 2 && s[0] < 0xc2) ||
	    (len == 3 && s[0] == 0xe0 && s[1] < 0xa0) ||
	    (len == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
	    (len == 4 && s[0] == 0xf0 && s[1] < 0x90) ||
	    (len == 4 && (s[0] > 0xf4 || (s[0] == 0xf4 && s[1] >= 0x90))))
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

void
mime_to_utf8(const char *s, size_t n, const char *charset, struct buf *out)
{
	bool latin1 = strcasecmp(charset, "iso-8859-1") == 0 ||
	    strcasecmp(charset, "latin1") == 0 ||
	    strcasecmp(charset, "iso_8859-1") == 0 ||
	    strcasecmp(charset, "windows-1252") == 0;
	const unsigned char *u = (const unsigned char *)s;

	buf_reset(out);
	for (size_t i = 0; i < n; i++) {
		size_t len;

		if (u[i] == '\0' || (u[i] == '\r' && i + 1 < n &&
		    u[i + 1] == '\n'))
			continue;
		if (latin1) {
			put_utf8(out, u[i]);
			continue;
		}
		len = mime_utf8_len(s + i, n - i);
		if (len == 0) {
			put_utf8(out, 0xfffd);
			continue;
		}
		buf_append(out, s + i, len);
		i += len - 1;
	}
	if (out->data == NULL)
		buf_set(out, "");
}

/* --- HTML ------------------------------------------------------------ */

static const struct {
	const char *name;
	uint32_t cp;
} entities[] = {
	{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' },
	{ "apos", '\'' }, { "nbsp", 0xa0 }, { "copy", 0xa9 },
	{ "reg", 0xae }, { "hellip", 0x2026 }, { "mdash", 0x2014 },
	{ "ndash", 0x2013 }, { "laquo", 0xab }, { "raquo", 0xbb },
	{ "euro", 0x20ac },
};

/* A character reference at s ("&...;"): its length, the code point in
 * *cp; 0 when it is none. */
static size_t
html_entity(const char *s, size_t n, uint32_t *cp)
{
	const char *semi = memchr(s, ';', n < 12 ? n : 12);
	size_t len;

	if (semi == NULL)
		return 0;
	len = (size_t)(semi - s) + 1;
	if (s[1] == '#') {
		char *end;
		unsigned long v = (s[2] == 'x' || s[2] == 'X') ?
		    strtoul(s + 3, &end, 16) : strtoul(s + 2, &end, 10);

		if (end != semi || end == s + 2)
			return 0;
		*cp = v > 0x10ffff ? 0xfffd : (uint32_t)v;
		return len;
	}
	for (size_t i = 0; i < sizeof(entities) / sizeof(entities[0]); i++)
		if (strlen(entities[i].name) == len - 2 &&
		    strncmp(s + 1, entities[i].name, len - 2) == 0) {
			*cp = entities[i].cp;
			return len;
		}
	return 0;
}

/* Is the tag at s ("<...") one whose end is a line break? */
static bool
block_tag(const char *s, size_t n)
{
	static const char *const tags[] = { "br", "p", "/p", "div", "/div",
		"tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "/h1", "/h2",
		"/h3", "/h4", "/h5", "/h6", "blockquote", "/blockquote", "hr",
		"table", "/table", "ul", "/ul", "ol", "/ol", "pre", "/pre" };

	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		size_t t = strlen(tags[i]);

		if (n > t + 1 && strncasecmp(s + 1, tags[i], t) == 0 &&
		    !isalnum((unsigned char)s[t + 1]))
			return true;
	}
	return false;
}

/* Where the element at s (script or style) ends: after "</NAME", or
 * NULL when s starts no such element. */
static const char *
skip_element(const char *s, const char *end)
{
	static const char *const names[] = { "script", "style" };

	for (size_t i = 0; i < 2; i++) {
		size_t t = strlen(names[i]);

		if ((size_t)(end - s) > t + 1 &&
		    strncasecmp(s + 1, names[i], t) == 0 &&
		    !isalnum((unsigned char)s[t + 1])) {
			for (const char *p = s + 1; p + t + 2 <= end; p++)
				if (p[0] == '<' && p[1] == '/' &&
				    strncasecmp(p + 2, names[i], t) == 0)
					return p + 2 + t;
			return end;
		}
	}
	return NULL;
}

void
mime_html_text(const char *s, size_t n, struct buf *out)
{
	const char *end = s + n;
	unsigned newlines = 2;            /* no blank lines at the start */
	bool space = true;

	buf_reset(out);
	while (s < end) {
		const char *gt, *skip;
		uint32_t cp;
		size_t len;

		if (*s == '<') {
			if ((skip = skip_element(s, end)) != NULL)
				s = skip;
			if (s < end && *s == '<' && block_tag(s,
			    (size_t)(end - s)) && newlines < 2) {
				buf_append_char(out, '\n');
				newlines++;
				space = true;
			}
			gt = memchr(s, '>', (size_t)(end - s));
			s = gt != NULL ? gt + 1 : end;
			continue;
		}
		if (isspace((unsigned char)*s)) {
			if (!space)
				buf_append_char(out, ' ');
			space = true;
			s++;
			continue;
		}
		newlines = 0;
		space = false;
		if (*s == '&' && (len = html_entity(s, (size_t)(end - s),
		    &cp)) > 0) {
			put_utf8(out, cp);
			s += len;
		} else
			buf_append_char(out, *s++);
	}
	if (out->data == NULL)
		buf_set(out, "");
}

/* --- RFC 2047 encoded words ------------------------------------------- */

/* An encoded word "=?CHARSET?B|Q?TEXT?=" at s: its length, the decoded
 * UTF-8 appended to out (NULL: only the length); 0 when s starts none. */
static size_t
encoded_word(const char *s, struct buf *out)
{
	const char *cs, *enc, *text, *stop;
	struct buf charset = BUF_INIT, raw = BUF_INIT, u = BUF_INIT;

	if (s[0] != '=' || s[1] != '?')
		return 0;
	cs = s + 2;
	if ((enc = strchr(cs, '?')) == NULL || enc - cs > 40 ||
	    (enc[1] != 'B' && enc[1] != 'b' && enc[1] != 'Q' &&
	    enc[1] != 'q') || enc[2] != '?')
		return 0;
	text = enc + 3;
	if ((stop = strstr(text, "?=")) == NULL || memchr(text, ' ',
	    (size_t)(stop - text)) != NULL)
		return 0;
	if (out == NULL)
		return (size_t)(stop + 2 - s);
	buf_append(&charset, cs, strcspn(cs, "?*"));  /* RFC 2231 language */
	if (enc[1] == 'B' || enc[1] == 'b')
		b64_lenient(text, (size_t)(stop - text), &raw);
	else
		qp_decode(text, (size_t)(stop - text), true, &raw);
	mime_to_utf8(buf_cstr(&raw), raw.len, charset.data, &u);
	buf_append(out, u.data, u.len);
	buf_free(&charset);
	buf_free(&raw);
	buf_free(&u);
	return (size_t)(stop + 2 - s);
}

void
mime_header_decode(const char *value, struct buf *out)
{
	struct buf tmp = BUF_INIT;
	const char *s = value;
	bool after_word = false;

	while (*s != '\0') {
		size_t ws = strspn(s, " \t"), len;

		/* Blanks between two encoded words are not shown. */
		if (after_word && ws > 0 && encoded_word(s + ws, NULL) > 0) {
			s += ws;
			continue;
		}
		if ((len = encoded_word(s, &tmp)) > 0) {
			s += len;
			after_word = true;
			continue;
		}
		after_word = false;
		buf_append_char(&tmp, *s++);
	}
	mime_to_utf8(buf_cstr(&tmp), tmp.len, "utf-8", out);
	buf_free(&tmp);
}
