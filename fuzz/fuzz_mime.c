/*
 * fuzz_mime.c - libFuzzer target: MIME read for display
 * (common/mime.c), as the web manager's archive view reads a post from
 * anyone on the Internet: mail_parse(), mime_walk() over the parts, each
 * part decoded (mime_decode()), turned into UTF-8 (mime_to_utf8()) and,
 * for HTML, into text (mime_html_text()); every header value through
 * mime_header_decode().
 *
 * Checks: the walk sees at most MIME_MAX_PARTS parts; every text
 * produced is valid UTF-8 without NUL (mime_utf8_len() accepts it
 * whole).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "mime.h"

/* abort() unless out is valid UTF-8 without NUL. */
static void
check_utf8(const struct buf *out)
{
	const char *s = buf_cstr(out);

	if (strlen(s) != out->len)
		abort();
	for (size_t i = 0, n; i < out->len; i += n)
		if ((n = mime_utf8_len(s + i, out->len - i)) == 0)
			abort();
}

static void
part(const struct mime_part *p, void *arg)
{
	struct buf raw = BUF_INIT, u = BUF_INIT, txt = BUF_INIT;

	(void)arg;
	mime_decode(p->body, p->len, p->cte, &raw);
	mime_to_utf8(buf_cstr(&raw), raw.len, p->charset, &u);
	check_utf8(&u);
	mime_html_text(buf_cstr(&u), u.len, &txt);
	check_utf8(&txt);
	buf_free(&raw);
	buf_free(&u);
	buf_free(&txt);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mail m;
	struct buf v = BUF_INIT, out = BUF_INIT;

	mail_parse((const char *)data, size, &m);
	for (size_t i = 0; i < m.nfields; i++) {
		mail_field_value(&m.fields[i], &v);
		mime_header_decode(v.data, &out);
		check_utf8(&out);
	}
	if (mime_walk(&m, part, NULL) > MIME_MAX_PARTS)
		abort();
	mail_free(&m);
	buf_free(&v);
	buf_free(&out);
	return 0;
}
