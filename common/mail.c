/*
 * mail.c - a message in memory (list worker, vacation, DKIM): header
 * fields kept byte-exact (with their folding) so a distributed post
 * changes only the fields the list touches; body kept as is.
 *
 * The message is bytes with a length, never a C string: it may hold NUL
 * and 8-bit bytes anywhere. The header is parsed as RFC 5322 says: a
 * field name is one or more ftext bytes (printable US-ASCII 33..126
 * except ':'), so it ends at the first NUL, control, blank, 8-bit byte
 * or colon; the obsolete form "Name WSP* :" is accepted (RFC 5322 4.5.8,
 * the blanks are not part of the name). The first line that is not such
 * a field (nor a continuation of one) ends the header, and it and all
 * that follows are the body, byte for byte. So every field handed out
 * has a name and a colon; its value (mail_field_value(), mail_get()) is
 * unfolded and NUL-free, so callers may treat it as a string.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lists.h"
#include "mail.h"
#include "util.h"

/* RFC 5322 3.6.8: ftext is printable US-ASCII except ':'. */
static bool
ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/*
 * Length of the field name at s, and in *value_off where its body starts
 * (after the colon), or 0 when the line is not a header field: a name of
 * at least one ftext byte, optional blanks (the obsolete "Name :" of RFC
 * 5322 4.5.8, still sent by a few old programs; the blanks are not part
 * of the name), then ':'.
 */
static size_t
field_name_len(const char *s, size_t len, size_t *value_off)
{
	size_t n = 0, i;

	while (n < len && ftext((unsigned char)s[n]))
		n++;
	for (i = n; i < len && (s[i] == ' ' || s[i] == '\t'); i++)
		;
	if (n == 0 || i >= len || s[i] != ':')
		return 0;
	*value_off = i + 1;
	return n;
}

void
mail_parse(const char *data, size_t len, struct mail *m)
{
	const char *s = data, *end = data + len;

	memset(m, 0, sizeof(*m));
	while (s < end) {
		const char *nl, *fstart = s;
		struct mail_field *f;
		size_t n, name_len, value_off;

		if (*s == '\n') {            /* end of header */
			s++;
			break;
		}
		if (*s == '\r' && s + 1 < end && s[1] == '\n') {
			s += 2;
			break;
		}
		name_len = field_name_len(s, (size_t)(end - s), &value_off);
		if (name_len == 0) {
			/* Not a header field (no name, a byte RFC 5322 does
			 * not allow in a name, no colon): the header ends
			 * and the body starts with this line. */
			break;
		}
		/* One field: first line plus continuation lines. */
		do {
			nl = memchr(s, '\n', (size_t)(end - s));
			s = nl != NULL ? nl + 1 : end;
		} while (s < end && (*s == ' ' || *s == '\t'));
		n = (size_t)(s - fstart);
		m->fields = xrealloc(m->fields,
		    (m->nfields + 1) * sizeof(*m->fields));
		f = &m->fields[m->nfields++];
		f->name = xstrndup(fstart, name_len);
		f->value_off = value_off;
		f->raw_len = n + (fstart[n - 1] != '\n');
		f->raw = xmalloc(f->raw_len + 1);
		memcpy(f->raw, fstart, n);
		f->raw[f->raw_len - 1] = '\n';
		f->raw[f->raw_len] = '\0';
	}
	m->body_len = (size_t)(end - s);
	m->body = xstrndup(s, m->body_len);     /* memcpy: NULs kept */
}

void
mail_free(struct mail *m)
{
	for (size_t i = 0; i < m->nfields; i++) {
		free(m->fields[i].name);
		free(m->fields[i].raw);
	}
	free(m->fields);
	free(m->body);
	memset(m, 0, sizeof(*m));
}

void
mail_field_value(const struct mail_field *f, struct buf *out)
{
	const char *p = f->raw + f->value_off, *end = f->raw + f->raw_len;

	buf_reset(out);
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' ||
	    *p == '\n'))
		p++;
	for (; p < end; p++) {
		/* Unfolding (RFC 5322 2.2.3): drop the line breaks, keep
		 * the blanks that follow them. A NUL (allowed nowhere in a
		 * field body) becomes a blank, so the value is a C string
		 * with the length it says. */
		if (*p == '\r' || *p == '\n')
			continue;
		buf_append_char(out, *p == '\0' ? ' ' : *p);
	}
	buf_append(out, "", 0);          /* data is never NULL */
	{
		size_t l = out->len;

		while (l > 0 && (out->data[l - 1] == ' ' ||
		    out->data[l - 1] == '\t'))
			l--;
		buf_truncate(out, l);
	}
}

bool
mem_prefix_ci(const char *s, size_t len, const char *prefix)
{
	size_t i;

	for (i = 0; prefix[i] != '\0'; i++)
		if (i >= len || tolower((unsigned char)s[i]) !=
		    tolower((unsigned char)prefix[i]))
			return false;
	return true;
}

bool
mail_get(const struct mail *m, const char *name, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < m->nfields; i++) {
		if (strcasecmp(m->fields[i].name, name) == 0) {
			mail_field_value(&m->fields[i], out);
			return true;
		}
	}
	return false;
}

void
mail_remove(struct mail *m, const char *name)
{
	size_t j = 0;

	for (size_t i = 0; i < m->nfields; i++) {
		if (strcasecmp(m->fields[i].name, name) == 0) {
			free(m->fields[i].name);
			free(m->fields[i].raw);
			continue;
		}
		m->fields[j++] = m->fields[i];
	}
	m->nfields = j;
}

static struct mail_field
make_field(const char *name, const char *value)
{
	struct mail_field f;
	struct buf b = BUF_INIT;

	buf_printf(&b, "%s: ", name);
	for (const char *p = value; *p != '\0'; p++)
		if (*p != '\r' && *p != '\n')
			buf_append_char(&b, *p);
	buf_append_char(&b, '\n');
	f.name = xstrdup(name);
	f.value_off = strlen(name) + 1;
	f.raw_len = b.len;
	f.raw = buf_steal(&b);
	return f;
}

void
mail_add(struct mail *m, const char *name, const char *value)
{
	m->fields = xrealloc(m->fields, (m->nfields + 1) * sizeof(*m->fields));
	m->fields[m->nfields++] = make_field(name, value);
}

void
mail_add_first(struct mail *m, const char *name, const char *value)
{
	m->fields = xrealloc(m->fields, (m->nfields + 1) * sizeof(*m->fields));
	memmove(m->fields + 1, m->fields, m->nfields * sizeof(*m->fields));
	m->nfields++;
	m->fields[0] = make_field(name, value);
}

void
mail_set(struct mail *m, const char *name, const char *value)
{
	for (size_t i = 0; i < m->nfields; i++) {
		if (strcasecmp(m->fields[i].name, name) == 0) {
			struct mail_field f = make_field(name, value);

			free(m->fields[i].name);
			free(m->fields[i].raw);
			m->fields[i] = f;
			/* Drop later duplicates. */
			for (size_t j = i + 1; j < m->nfields;) {
				if (strcasecmp(m->fields[j].name, name) == 0) {
					free(m->fields[j].name);
					free(m->fields[j].raw);
					memmove(m->fields + j, m->fields + j + 1,
					    (m->nfields - j - 1) *
					    sizeof(*m->fields));
					m->nfields--;
				} else {
					j++;
				}
			}
			return;
		}
	}
	mail_add(m, name, value);
}

void
mail_format(const struct mail *m, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < m->nfields; i++)
		buf_append(out, m->fields[i].raw, m->fields[i].raw_len);
	buf_append_char(out, '\n');
	buf_append(out, m->body, m->body_len);
}

static bool
addr_char(unsigned char c)
{
	return c > ' ' && c < 0x7f && c != '<' && c != '>' && c != '(' &&
	    c != ')' && c != ',' && c != ';' && c != ':' && c != '"' &&
	    c != '[' && c != ']' && c != '\\';
}

bool
mail_address(const char *value, struct buf *out)
{
	const char *lt = strchr(value, '<'), *at;

	buf_reset(out);
	if (lt != NULL) {
		const char *gt = strchr(lt, '>');

		if (gt != NULL && gt > lt + 1) {
			buf_append(out, lt + 1, (size_t)(gt - lt - 1));
			str_lower(out->data);
			return list_valid_address(out->data);
		}
	}
	/* Bare address: the word around the first '@' outside comments. */
	at = strchr(value, '@');
	if (at == NULL)
		return false;
	{
		const char *a = at, *b = at + 1;

		while (a > value && addr_char((unsigned char)a[-1]))
			a--;
		while (*b != '\0' && addr_char((unsigned char)*b))
			b++;
		buf_append(out, a, (size_t)(b - a));
	}
	str_lower(out->data);
	return list_valid_address(out->data);
}

void
mail_display_name(const char *value, struct buf *out)
{
	const char *lt = strchr(value, '<');

	buf_reset(out);
	if (lt != NULL) {
		char *t = xstrndup(value, (size_t)(lt - value));
		char *n = str_trim(t);
		size_t l = strlen(n);

		if (l >= 2 && n[0] == '"' && n[l - 1] == '"') {
			n[l - 1] = '\0';
			n++;
		}
		buf_set(out, n);
		free(t);
		return;
	}
	{
		const char *op = strchr(value, '('), *cp;

		if (op != NULL && (cp = strchr(op, ')')) != NULL)
			buf_append(out, op + 1, (size_t)(cp - op - 1));
	}
}

bool
mail_is_automatic(const struct mail *m)
{
	struct buf v = BUF_INIT;
	bool yes = false;

	if (mail_get(m, "Auto-Submitted", &v) &&
	    strncasecmp(v.data != NULL ? v.data : "", "no", 2) != 0)
		yes = true;
	if (!yes && mail_get(m, "Precedence", &v) && v.data != NULL &&
	    (strncasecmp(v.data, "bulk", 4) == 0 ||
	    strncasecmp(v.data, "junk", 4) == 0 ||
	    strncasecmp(v.data, "list", 4) == 0))
		yes = true;
	buf_free(&v);
	return yes;
}

bool
mail_param(const char *value, const char *name, struct buf *out)
{
	size_t nlen = strlen(name);
	const char *p = strchr(value, ';');

	buf_reset(out);
	while (p != NULL) {
		p++;
		p += strspn(p, " \t");
		if (strncasecmp(p, name, nlen) == 0 &&
		    p[nlen + strspn(p + nlen, " \t")] == '=') {
			p += nlen;
			p += strspn(p, " \t") + 1;
			p += strspn(p, " \t");
			if (*p == '"') {
				for (p++; *p != '\0' && *p != '"'; p++) {
					if (*p == '\\' && p[1] != '\0')
						p++;
					buf_append_char(out, *p);
				}
			} else
				buf_append(out, p, strcspn(p, " \t;"));
			if (out->data == NULL)
				buf_set(out, "");        /* name="" */
			return true;
		}
		p = strchr(p, ';');
	}
	return false;
}

bool
mail_boundary(const char *ct, struct buf *out)
{
	return mail_param(ct, "boundary", out) && out->len > 0;
}

const char *
mail_next_delimiter(const char *p, const char *end, const char *base,
    const struct buf *delim)
{
	while (p < end && (p = memmem(p, (size_t)(end - p), delim->data,
	    delim->len)) != NULL) {
		const char *q = p + delim->len;

		if (end - q >= 2 && q[0] == '-' && q[1] == '-')
			q += 2;
		while (q < end && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if ((p == base || p[-1] == '\n') && (q == end || *q == '\n'))
			return p;
		p++;
	}
	return NULL;
}

void
mail_text(const struct mail *m, struct buf *out)
{
	struct buf ct = BUF_INIT, bnd = BUF_INIT, delim = BUF_INIT;
	const char *p, *end = m->body + m->body_len;

	buf_reset(out);
	if (!mail_get(m, "Content-Type", &ct) ||
	    strncasecmp(buf_cstr(&ct), "multipart/", 10) != 0 ||
	    !mail_boundary(ct.data, &bnd)) {
		buf_append(out, m->body, m->body_len);
		goto out;
	}
	buf_printf(&delim, "--%s", bnd.data);
	/* Walk the parts; take the first text/plain one (or one without
	 * a Content-Type, which is text/plain by default). */
	p = m->body;
	while ((p = mail_next_delimiter(p, end, m->body, &delim)) != NULL) {
		const char *part = p + delim.len, *next;
		struct mail pm;
		struct buf pct = BUF_INIT;

		if (part + 2 <= end && part[0] == '-' && part[1] == '-')
			break;
		part = memchr(part, '\n', (size_t)(end - part));
		if (part == NULL)
			break;
		part++;
		next = mail_next_delimiter(part, end, m->body, &delim);
		if (next == NULL)
			next = end;
		mail_parse(part, (size_t)(next - part), &pm);
		if (!mail_get(&pm, "Content-Type", &pct) ||
		    strncasecmp(buf_cstr(&pct), "text/plain", 10) == 0) {
			buf_append(out, pm.body, pm.body_len);
			buf_free(&pct);
			mail_free(&pm);
			goto out;
		}
		buf_free(&pct);
		mail_free(&pm);
		p = next;
	}
	buf_append(out, m->body, m->body_len);
out:
	buf_free(&ct);
	buf_free(&bnd);
	buf_free(&delim);
}
