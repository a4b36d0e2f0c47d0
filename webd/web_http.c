/*
 * web_http.c - request and response helpers of the web manager (see
 * webd.h): form and query fields, cookies, escaping, the page frame.
 *
 * Every value a page shows goes through html_escape() (web_html()
 * escapes each %s argument), every JSON string through json_escape(),
 * which turns invalid UTF-8 (mime_utf8_len(): overlong forms and
 * surrogates too) into U+FFFD.
 * Form bodies are application/x-www-form-urlencoded or
 * multipart/form-data (libmicrohttpd's post processor: its fields other
 * than files become form fields, web_form_file() takes a file), at most
 * WEB_MAX_FIELDS fields; more are ignored.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "log.h"
#include "mime.h"
#include "webd.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* %XX and '+' decoding in place; NUL bytes are dropped. */
static void
url_decode(char *s)
{
	char *o = s;

	for (; *s != '\0'; s++) {
		if (*s == '+') {
			*o++ = ' ';
		} else if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			char c = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			if (c != '\0')
				*o++ = c;
			s += 2;
		} else
			*o++ = *s;
	}
	*o = '\0';
}

/* --- multipart/form-data (libmicrohttpd's post processor) ------------ */

struct mp {
	struct web_req *r;
	const char *want;              /* the file field, NULL: the others */
	struct buf *name, *data;
	bool found;
};

static enum MHD_Result
mp_field(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *filename, const char *ctype, const char *enc,
    const char *data, uint64_t off, size_t size)
{
	struct mp *mp = cls;
	struct web_req *r = mp->r;

	(void)kind;
	(void)ctype;
	(void)enc;
	if (mp->want != NULL) {
		if (filename == NULL || strcmp(key, mp->want) != 0 ||
		    (mp->found && off == 0))
			return MHD_YES;
		if (!mp->found)
			buf_set(mp->name, filename);
		mp->found = true;
		buf_append(mp->data, data, size);
		return MHD_YES;
	}
	if (filename != NULL)
		return MHD_YES;
	if (off > 0 && r->nfields > 0 &&
	    strcmp(r->fields[r->nfields - 1].name, key) == 0) {
		struct web_field *f = &r->fields[r->nfields - 1];
		size_t n = strlen(f->value);

		f->value = xrealloc(f->value, n + size + 1);
		memcpy(f->value + n, data, size);
		f->value[n + size] = '\0';
	} else if (r->nfields < WEB_MAX_FIELDS) {
		r->fields[r->nfields].name = xstrdup(key);
		r->fields[r->nfields++].value = xstrndup(data, size);
	}
	return MHD_YES;
}

/* Run the body of r through a post processor calling mp_field(). */
static bool
mp_run(struct web_req *r, struct mp *mp)
{
	struct MHD_PostProcessor *pp = MHD_create_post_processor(r->conn,
	    4096, mp_field, mp);
	bool ok;

	if (pp == NULL)
		return false;
	ok = MHD_post_process(pp, r->body.data, r->body.len) == MHD_YES;
	return MHD_destroy_post_processor(pp) == MHD_YES && ok;
}

bool
web_form_file(struct web_req *r, const char *field, struct buf *name,
    struct buf *data)
{
	const char *ct = web_header(r, "Content-Type");
	struct mp mp = { r, field, name, data, false };

	buf_reset(name);
	buf_reset(data);
	if (r->body.len == 0 || ct == NULL ||
	    strncasecmp(ct, "multipart/form-data", 19) != 0)
		return false;
	return mp_run(r, &mp) && mp.found;
}

void
web_parse_form(struct web_req *r)
{
	const char *ct = web_header(r, "Content-Type");

	if (r->body.len > 0 && ct != NULL &&
	    strncasecmp(ct, "multipart/form-data", 19) == 0) {
		struct mp mp = { r, NULL, NULL, NULL, false };

		(void)mp_run(r, &mp);
		return;
	}
	if (r->body.len == 0 || ct == NULL ||
	    strncmp(ct, "application/x-www-form-urlencoded", 33) != 0)
		return;
	web_form_urlencoded(r);
}

void
web_form_urlencoded(struct web_req *r)
{
	char *text, *save = NULL, *tok;

	if (r->body.len == 0)
		return;
	text = xstrndup(r->body.data, r->body.len);
	for (tok = strtok_r(text, "&", &save); tok != NULL &&
	    r->nfields < WEB_MAX_FIELDS; tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');
		struct web_field *f = &r->fields[r->nfields++];

		if (eq != NULL)
			*eq = '\0';
		f->name = xstrdup(tok);
		f->value = xstrdup(eq != NULL ? eq + 1 : "");
		url_decode(f->name);
		url_decode(f->value);
	}
	free(text);
}

const char *
web_arg(const struct web_req *r, const char *name)
{
	for (size_t i = 0; i < r->nfields; i++)
		if (strcmp(r->fields[i].name, name) == 0)
			return r->fields[i].value;
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND,
	    name);
}

unsigned
web_uint_arg(const struct web_req *r, const char *name, unsigned def,
    unsigned max)
{
	const char *s = web_arg(r, name);
	char *end;
	unsigned long v;

	if (s == NULL || *s == '\0')
		return def;
	v = strtoul(s, &end, 10);
	if (*end != '\0')
		return def;
	return v > max ? max : (unsigned)v;
}

const char *
web_header(const struct web_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *
web_cookie(const struct web_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

void
web_set_cookie(struct web_req *r, const char *name, const char *value,
    unsigned max_age)
{
	bool https = r->w->cert_pem != NULL;

	buf_printf(&r->cookies, "%s=%s; Path=/; Max-Age=%u; HttpOnly; "
	    "SameSite=Strict%s\n", name, value, max_age,
	    https ? "; Secure" : "");
}

void
html_escape(struct buf *out, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&': buf_append_str(out, "&amp;"); break;
		case '<': buf_append_str(out, "&lt;"); break;
		case '>': buf_append_str(out, "&gt;"); break;
		case '"': buf_append_str(out, "&quot;"); break;
		case '\'': buf_append_str(out, "&#39;"); break;
		default: buf_append_char(out, *s); break;
		}
	}
}

void
json_escape(struct buf *out, const char *s)
{
	buf_append_char(out, '"');
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		size_t n = mime_utf8_len(s, 4);  /* NUL ends it */

		if (n == 0) {
			buf_append_str(out, "\\ufffd");  /* invalid UTF-8 */
		} else if (n > 1) {
			buf_append(out, s, n);
			s += n - 1;
		} else if (c == '"' || c == '\\')
			buf_printf(out, "\\%c", c);
		else if (c == '\n')
			buf_append_str(out, "\\n");
		else if (c < 0x20 || c == 0x7f)
			buf_printf(out, "\\u%04x", c);
		else
			buf_append_char(out, (char)c);
	}
	buf_append_char(out, '"');
}

/* A small printf: %s (escaped), %d, %u, %ld, %lu, %lld, %llu, %zu, %%. */
void
web_html(struct web_req *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (const char *p = fmt; *p != '\0'; p++) {
		if (*p != '%') {
			buf_append_char(&r->out, *p);
			continue;
		}
		p++;
		if (*p == 's')
			html_escape(&r->out, va_arg(ap, const char *));
		else if (*p == 'd')
			buf_printf(&r->out, "%d", va_arg(ap, int));
		else if (*p == 'u')
			buf_printf(&r->out, "%u", va_arg(ap, unsigned));
		else if (*p == 'z' && p[1] == 'u' && p++)
			buf_printf(&r->out, "%zu", va_arg(ap, size_t));
		else if (*p == 'l' && p[1] == 'l' && p[2] == 'u' && (p += 2))
			buf_printf(&r->out, "%llu", va_arg(ap, unsigned long long));
		else if (*p == 'l' && p[1] == 'l' && p[2] == 'd' && (p += 2))
			buf_printf(&r->out, "%lld", va_arg(ap, long long));
		else if (*p == 'l' && p[1] == 'u' && p++)
			buf_printf(&r->out, "%lu", va_arg(ap, unsigned long));
		else if (*p == 'l' && p[1] == 'd' && p++)
			buf_printf(&r->out, "%ld", va_arg(ap, long));
		else if (*p == '%')
			buf_append_char(&r->out, '%');
		else
			log_panic("web_html: format %%%c", *p);
	}
	va_end(ap);
}

static const char stylesheet[] =
    "body{font-family:system-ui,sans-serif;margin:0;color:#222;"
    "background:#f6f7f9}"
    "header{background:#1f3a5f;color:#fff;padding:.6em 1.2em;display:flex;"
    "gap:1.2em;align-items:center}"
    "header a{color:#dfe8f5;text-decoration:none}header b{margin-right:"
    "auto}main{max-width:64em;margin:1em auto;padding:0 1em}"
    "table{border-collapse:collapse;width:100%;background:#fff}"
    "td,th{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:"
    "left;vertical-align:top}th{background:#eef1f5}"
    "form.inline{display:inline}button{cursor:pointer}"
    "pre{background:#fff;border:1px solid #ddd;padding:.6em;overflow:auto}"
    ".msg{background:#fff3cd;border:1px solid #e0c36a;padding:.5em}"
    ".box{background:#fff;border:1px solid #ddd;padding:1em;margin:1em 0}"
    "input[type=text],input[type=password]{padding:.3em;min-width:16em}";

void
web_page_begin(struct web_req *r, const char *title)
{
	r->ctype = "text/html; charset=utf-8";
	web_html(r, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" "
	    "content=\"width=device-width\"><title>%s - DMail</title>"
	    "<style>", title);
	buf_append_str(&r->out, stylesheet);
	web_html(r, "</style></head><body><header><b>DMail</b>");
	if (r->auth.user[0] != '\0') {
		if (r->auth.admin)
			web_html(r, "<a href=\"/dashboard\">Dashboard</a>"
			    "<a href=\"/control\">Control</a>"
			    "<a href=\"/queue\">Queue</a>"
			    "<a href=\"/accounts\">Accounts</a>");
		web_html(r, "<a href=\"/lists\">Lists</a>"
		    "<a href=\"/me\">My subscriptions</a>"
		    "<span>%s</span><form class=\"inline\" method=\"post\" "
		    "action=\"/logout\">", r->auth.user);
		web_csrf_field(r);
		web_html(r, "<button>Log out</button></form>");
	}
	web_html(r, "</header><main><h1>%s</h1>\n", title);
}

void
web_page_end(struct web_req *r)
{
	web_html(r, "</main></body></html>\n");
}

void
web_csrf_field(struct web_req *r)
{
	web_html(r, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">",
	    r->auth.csrf);
}

void
web_redirect(struct web_req *r, const char *location)
{
	r->status = 303;
	snprintf(r->location, sizeof(r->location), "%s", location);
	buf_reset(&r->out);
}

void
web_error(struct web_req *r, int status, const char *text)
{
	buf_reset(&r->out);
	r->status = status;
	if (r->api) {
		r->ctype = "application/json";
		buf_append_str(&r->out, "{\"ok\":false,\"error\":");
		json_escape(&r->out, text);
		buf_append_str(&r->out, "}\n");
		return;
	}
	web_page_begin(r, status == 403 ? "Forbidden" : status == 404 ?
	    "Not found" : "Error");
	web_html(r, "<p class=\"msg\">%s</p><p><a href=\"/\">Back</a></p>",
	    text);
	web_page_end(r);
}

void
web_json_output(struct web_req *r, const char *text)
{
	r->ctype = "application/json";
	buf_append_str(&r->out, "{\"ok\":true,\"output\":");
	json_escape(&r->out, text);
	buf_append_str(&r->out, "}\n");
}

void
web_log(const struct web_req *r, const char *command, const char *status,
    const char *detail)
{
	log_info("action=web command=%s user=%s client=%s status=%s%s%s",
	    command, r->auth.user[0] != '\0' ? r->auth.user : "-", r->client,
	    status, detail != NULL ? " " : "", detail != NULL ? detail : "");
}
