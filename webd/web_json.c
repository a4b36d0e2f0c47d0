/*
 * web_json.c - JSON request bodies of the API (see webd.h): a flat
 * object read into the request's fields, so that a handler reads a JSON
 * body and a form body alike with web_arg().
 *
 *   {"subject_prefix": "[club]", "max_size": 2097152, "archive": false,
 *    "owner": ["a@example.test", "b@example.test"]}
 *
 * A string value is taken as it is (escapes decoded, \u0000 refused), a
 * number as its text, true and false as "true" and "false" (which
 * lists.dat reads as yes and no), an array of strings joined with ", ",
 * null as an absent field. Nested objects, other arrays and anything
 * after the object are errors. At most WEB_MAX_FIELDS fields, like a
 * form.
 *
 * Export: web_json_fields(r, &why): 0 when the body is not JSON
 * (Content-Type other than application/json: nothing done) or was read
 * into r->fields; -1 with the reason in why when it is JSON but not such
 * an object (some fields may have been read: answer 400).
 * web_json_parse(r, &why): the same for a body known to be JSON (the
 * part that reads outside input; fuzz/fuzz_web_form.c).
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "webd.h"

struct jp {
	const char *s, *end;
};

static void
skip_ws(struct jp *p)
{
	while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' ||
	    *p->s == '\n' || *p->s == '\r'))
		p->s++;
}

static int
hex4(const char *s, unsigned *out)
{
	*out = 0;
	for (int i = 0; i < 4; i++) {
		int c = (unsigned char)s[i];

		if (!isxdigit(c))
			return -1;
		*out = *out * 16 + (unsigned)(isdigit(c) ? c - '0' :
		    tolower(c) - 'a' + 10);
	}
	return 0;
}

static void
put_utf8(struct buf *out, unsigned cp)
{
	if (cp < 0x80) {
		buf_append_char(out, (char)cp);
	} else if (cp < 0x800) {
		buf_append_char(out, (char)(0xc0 | cp >> 6));
		buf_append_char(out, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		buf_append_char(out, (char)(0xe0 | cp >> 12));
		buf_append_char(out, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_append_char(out, (char)(0x80 | (cp & 0x3f)));
	} else {
		buf_append_char(out, (char)(0xf0 | cp >> 18));
		buf_append_char(out, (char)(0x80 | ((cp >> 12) & 0x3f)));
		buf_append_char(out, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_append_char(out, (char)(0x80 | (cp & 0x3f)));
	}
}

/* The \u escape at p->s (after the backslash and 'u'), with a surrogate
 * pair's second half. */
static int
unicode_escape(struct jp *p, struct buf *out)
{
	unsigned cp, lo;

	if (p->end - p->s < 4 || hex4(p->s, &cp) < 0)
		return -1;
	p->s += 4;
	if (cp >= 0xd800 && cp < 0xdc00) {
		if (p->end - p->s < 6 || p->s[0] != '\\' || p->s[1] != 'u' ||
		    hex4(p->s + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
			return -1;
		p->s += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	} else if (cp >= 0xdc00 && cp < 0xe000) {
		return -1;
	}
	if (cp == 0)
		return -1;        /* a NUL would cut the value short */
	put_utf8(out, cp);
	return 0;
}

/* A string at p->s (on its opening quote) into out. */
static int
json_string(struct jp *p, struct buf *out)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";

	if (p->s >= p->end || *p->s++ != '"')
		return -1;
	while (p->s < p->end && *p->s != '"') {
		const char *e;

		if ((unsigned char)*p->s < 0x20)
			return -1;
		if (*p->s != '\\') {
			buf_append_char(out, *p->s++);
			continue;
		}
		if (++p->s >= p->end)
			return -1;
		if (*p->s == 'u') {
			p->s++;
			if (unicode_escape(p, out) < 0)
				return -1;
		} else if ((e = strchr(from, *p->s)) != NULL && *e != '\0') {
			buf_append_char(out, to[e - from]);
			p->s++;
		} else
			return -1;
	}
	if (p->s >= p->end)
		return -1;
	p->s++;
	return 0;
}

/* A value into out; *absent for null. */
static int
json_value(struct jp *p, struct buf *out, bool *absent)
{
	static const char *const words[] = { "true", "false", "null" };

	*absent = false;
	if (p->s < p->end && *p->s == '"')
		return json_string(p, out);
	if (p->s < p->end && *p->s == '[') {
		p->s++;
		skip_ws(p);
		while (p->s < p->end && *p->s != ']') {
			if (out->len > 0)
				buf_append_str(out, ", ");
			if (json_string(p, out) < 0)
				return -1;
			skip_ws(p);
			if (p->s < p->end && *p->s == ',') {
				p->s++;
				skip_ws(p);
			} else if (p->s >= p->end || *p->s != ']')
				return -1;
		}
		return p->s++ < p->end ? 0 : -1;
	}
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t n = strlen(words[i]);

		if ((size_t)(p->end - p->s) >= n &&
		    strncmp(p->s, words[i], n) == 0) {
			p->s += n;
			*absent = i == 2;
			if (i < 2)
				buf_append_str(out, words[i]);
			return 0;
		}
	}
	while (p->s < p->end && *p->s != '\0' &&
	    (isdigit((unsigned char)*p->s) || strchr("+-.eE", *p->s) != NULL))
		buf_append_char(out, *p->s++);
	return out->len > 0 ? 0 : -1;
}

static int
json_member(struct jp *p, struct web_req *r)
{
	struct buf name = BUF_INIT, value = BUF_INIT;
	bool absent;
	int rc = -1;

	if (json_string(p, &name) == 0) {
		skip_ws(p);
		if (p->s < p->end && *p->s++ == ':') {
			skip_ws(p);
			rc = json_value(p, &value, &absent);
		}
	}
	if (rc == 0 && !absent && r->nfields < WEB_MAX_FIELDS) {
		r->fields[r->nfields].name = xstrdup(buf_cstr(&name));
		r->fields[r->nfields++].value = xstrdup(buf_cstr(&value));
	}
	buf_free(&name);
	buf_free(&value);
	return rc;
}

int
web_json_fields(struct web_req *r, const char **why)
{
	const char *ct = web_header(r, "Content-Type");

	if (ct == NULL || strncmp(ct, "application/json", 16) != 0)
		return 0;
	return web_json_parse(r, why);
}

int
web_json_parse(struct web_req *r, const char **why)
{
	struct jp p = { r->body.data, r->body.data + r->body.len };

	*why = "the body is not a flat JSON object of strings, numbers, "
	    "booleans and arrays of strings";
	skip_ws(&p);
	if (p.s >= p.end || *p.s++ != '{')
		return -1;
	skip_ws(&p);
	while (p.s < p.end && *p.s != '}') {
		if (json_member(&p, r) < 0)
			return -1;
		skip_ws(&p);
		if (p.s < p.end && *p.s == ',') {
			p.s++;
			skip_ws(&p);
		} else if (p.s >= p.end || *p.s != '}')
			return -1;
	}
	if (p.s >= p.end)
		return -1;
	p.s++;
	skip_ws(&p);
	return p.s == p.end ? 0 : -1;
}
