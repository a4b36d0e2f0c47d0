/*
 * test_mime.c - unit tests for reading MIME for display (common/mime.c):
 * transfer encodings, charsets, HTML to text, RFC 2047 words,
 * parameters, and the walk over parts with its limits.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mime.h"

static void
test_decode(void **state)
{
	static const struct {
		const char *in, *cte, *out;
	} cases[] = {
		{ "Caf=E9 =\nsoft=\r\nbreak", "quoted-printable",
		  "Caf\xe9 softbreak" },
		{ "a=3Db =ZZ =", "Quoted-Printable", "a=b =ZZ =" },
		{ "SGVs\nbG8h\r\n", "base64", "Hello!" },
		{ "SGVsbG8=garbage", "BASE64", "Hello" },
		{ "S*G-V s", "base64", "Hel" },
		{ "as is =E9", "8bit", "as is =E9" },
		{ "as is", "", "as is" },
	};
	struct buf out = BUF_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mime_decode(cases[i].in, strlen(cases[i].in), cases[i].cte,
		    &out);
		assert_int_equal(out.len, strlen(cases[i].out));
		assert_memory_equal(out.data, cases[i].out, out.len);
	}
	buf_free(&out);
}

static void
test_charsets(void **state)
{
	static const struct {
		const char *in, *charset, *out;
	} cases[] = {
		{ "Caf\xe9\r\n", "iso-8859-1", "Caf\xc3\xa9\n" },
		{ "Caf\xe9", "ISO-8859-1", "Caf\xc3\xa9" },
		{ "Gr\xc3\xbc\xc3\x9f" "e", "utf-8", "Gr\xc3\xbc\xc3\x9f" "e" },
		{ "bad \xff byte", "utf-8", "bad \xef\xbf\xbd byte" },
		{ "overlong \xc0\xaf", "utf-8",
		  "overlong \xef\xbf\xbd\xef\xbf\xbd" },
		{ "surrogate \xed\xa0\x80", "utf-8",
		  "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "cut \xe2\x82", "", "cut \xef\xbf\xbd\xef\xbf\xbd" },
		{ "unknown \xe9", "koi8-r", "unknown \xef\xbf\xbd" },
	};
	struct buf out = BUF_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mime_to_utf8(cases[i].in, strlen(cases[i].in),
		    cases[i].charset, &out);
		assert_string_equal(out.data, cases[i].out);
	}
	mime_to_utf8("a\0b", 3, "utf-8", &out);
	assert_string_equal(out.data, "ab");
	/* The sequence lengths json_escape() (webd) relies on. */
	assert_int_equal(mime_utf8_len("a", 4), 1);
	assert_int_equal(mime_utf8_len("\xc3\xa9", 4), 2);
	assert_int_equal(mime_utf8_len("\xe2\x82\xac", 4), 3);
	assert_int_equal(mime_utf8_len("\xf0\x9f\x98\x80", 4), 4);
	assert_int_equal(mime_utf8_len("\xed\xa0\x80", 4), 0);
	assert_int_equal(mime_utf8_len("\xe0\x80\xaf", 4), 0);
	assert_int_equal(mime_utf8_len("\xf4\x90\x80\x80", 4), 0);
	assert_int_equal(mime_utf8_len("\xe2\x82", 4), 0);
	assert_int_equal(mime_utf8_len("\xe2\x82\xac", 2), 0);
	buf_free(&out);
}

static void
test_html_text(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "<p>Hello <b>HTML</b> &amp; friends</p><p>Two</p>",
		  "Hello HTML & friends\n\nTwo\n" },
		{ "<script>alert('x')</script>&lt;script&gt;",
		  "<script>" },
		{ "<STYLE>p{}</STYLE>a&#233;&#x20AC;&nbsp;&bogus;",
		  "a\xc3\xa9\xe2\x82\xac\xc2\xa0&bogus;" },
		{ "a\n\n   b<br><br><br><br>c", "a b\n\nc" },
		{ "<script>never closed", "" },
		{ "<a href=\"x\"", "" },
		{ "x &#0; y &#99999999;", "x \xef\xbf\xbd y \xef\xbf\xbd" },
	};
	struct buf out = BUF_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mime_html_text(cases[i].in, strlen(cases[i].in), &out);
		assert_string_equal(out.data, cases[i].out);
	}
	buf_free(&out);
}

static void
test_header_decode(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "=?utf-8?q?Gr=C3=BC=C3=9Fe?= mime", "Gr\xc3\xbc\xc3\x9f" "e mime" },
		{ "=?ISO-8859-1?Q?Caf=E9_au_lait?=", "Caf\xc3\xa9 au lait" },
		{ "=?utf-8?B?SGVs?= =?utf-8?B?bG8=?=", "Hello" },
		{ "[club] =?utf-8?b?w6k=?=", "[club] \xc3\xa9" },
		{ "=?utf-8?x?bad?= plain", "=?utf-8?x?bad?= plain" },
		{ "=?utf-8?q?no end", "=?utf-8?q?no end" },
		{ "raw \xff", "raw \xef\xbf\xbd" },
	};
	struct buf out = BUF_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mime_header_decode(cases[i].in, &out);
		assert_string_equal(out.data, cases[i].out);
	}
	buf_free(&out);
}

static void
test_param(void **state)
{
	struct buf out = BUF_INIT;

	(void)state;
	assert_true(mail_param("text/plain; charset=\"UTF-8\"; format=flowed",
	    "charset", &out));
	assert_string_equal(out.data, "UTF-8");
	assert_true(mail_param("attachment;filename = \"a \\\"b\\\".txt\"",
	    "filename", &out));
	assert_string_equal(out.data, "a \"b\".txt");
	assert_true(mail_param("x/y; name=plain.bin;", "name", &out));
	assert_string_equal(out.data, "plain.bin");
	assert_true(mail_param("x/y; name=\"\"", "name", &out));
	assert_string_equal(out.data, "");
	assert_true(mail_param("x/y; name=", "name", &out));
	assert_string_equal(out.data, "");
	assert_false(mail_param("x/y; filename=a", "name", &out));
	assert_false(mail_param("text/plain", "charset", &out));
	buf_free(&out);
}

struct seen {
	char log[2048];
	size_t n;
};

static void
collect(const struct mime_part *p, void *arg)
{
	struct seen *s = arg;
	size_t len = strlen(s->log);

	snprintf(s->log + len, sizeof(s->log) - len, "%s|%s|%s|%s|%d|%u|%.*s;",
	    p->type, p->charset, p->cte, p->filename, p->attachment,
	    p->alternative, (int)p->len, p->body);
	s->n++;
}

/* One delimiter finder for every multipart reader (mail_text(), the
 * putfile walk, the archive view): a line that starts with the
 * delimiter but goes on ("--b10" for boundary b1) or holds it after
 * other text is content, not a delimiter. */
static void
test_text_boundary(void **state)
{
	static const char msg[] =
	    "From: a@example.test\n"
	    "Content-Type: multipart/alternative; boundary=\"b1\"\n"
	    "\n"
	    "--b1\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "first line\n"
	    "--b10 is a line of the text\n"
	    "and x--b1 too\n"
	    "--b1 \n"
	    "Content-Type: text/html\n"
	    "\n"
	    "<p>html</p>\n"
	    "--b1--\n";
	struct mail m;
	struct buf out = BUF_INIT, bnd = BUF_INIT;

	(void)state;
	mail_parse(msg, sizeof(msg) - 1, &m);
	mail_text(&m, &out);
	assert_non_null(strstr(buf_cstr(&out), "--b10 is a line of the text"));
	assert_non_null(strstr(buf_cstr(&out), "and x--b1 too"));
	assert_null(strstr(buf_cstr(&out), "html"));
	assert_true(mail_boundary("multipart/mixed; boundary=\"a\\\"b\"",
	    &bnd));
	assert_string_equal(bnd.data, "a\"b");
	assert_false(mail_boundary("multipart/mixed; boundary=\"\"", &bnd));
	assert_false(mail_boundary("multipart/mixed; x-boundary=z", &bnd));
	mail_free(&m);
	buf_free(&out);
	buf_free(&bnd);
}

static void
test_walk(void **state)
{
	static const char msg[] =
	    "Content-Type: multipart/mixed; boundary=\"o\"\n\npre\n"
	    "--o\nContent-Type: multipart/alternative; boundary=i\n\n"
	    "--i\nContent-Type: text/plain; charset=UTF-8\n\nplain\n"
	    "--i\nContent-Type: text/html\n\n<p>html</p>\n--i--\n"
	    "--o\nContent-Type: image/png; name=\"=?utf-8?q?p=C3=A9.png?=\"\n"
	    "Content-Disposition: attachment\nContent-Transfer-Encoding: "
	    "Base64\n\nAAAA\n"
	    "--o\n\nno type\n"
	    "x--o not a delimiter\n"
	    "--o--\nepilogue\n--o\nContent-Type: text/plain\n\nafter\n";
	struct seen s;
	struct mail m;

	(void)state;
	memset(&s, 0, sizeof(s));
	mail_parse(msg, sizeof(msg) - 1, &m);
	assert_int_equal(mime_walk(&m, collect, &s), 4);
	assert_string_equal(s.log,
	    "text/plain|utf-8|||0|1|plain;"
	    "text/html||||0|1|<p>html</p>;"
	    "image/png||base64|p\xc3\xa9.png|1|0|AAAA;"
	    "text/plain||||0|0|no type\nx--o not a delimiter;");
	mail_free(&m);

	/* Not MIME: one text/plain part, the body. */
	memset(&s, 0, sizeof(s));
	mail_parse("Subject: x\n\nbody\n", 17, &m);
	assert_int_equal(mime_walk(&m, collect, &s), 1);
	assert_string_equal(s.log, "text/plain||||0|0|body\n;");
	mail_free(&m);
}

static void
test_walk_limits(void **state)
{
	struct buf b = BUF_INIT;
	struct seen s;
	struct mail m;

	(void)state;
	/* Nested deeper than MIME_MAX_DEPTH: the deepest is one text part. */
	for (int i = 0; i < MIME_MAX_DEPTH + 4; i++)
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=b%d\n\n"
		    "--b%d\n", i, i);
	buf_append_str(&b, "\nleaf\n");
	memset(&s, 0, sizeof(s));
	mail_parse(b.data, b.len, &m);
	assert_int_equal(mime_walk(&m, collect, &s), 1);
	mail_free(&m);
	/* More than MIME_MAX_PARTS parts: the walk stops there. */
	buf_set(&b, "Content-Type: multipart/mixed; boundary=z\n\n");
	for (int i = 0; i < MIME_MAX_PARTS * 2; i++)
		buf_append_str(&b, "--z\n\nx\n");
	mail_parse(b.data, b.len, &m);
	memset(&s, 0, sizeof(s));
	assert_int_equal(mime_walk(&m, collect, &s), MIME_MAX_PARTS);
	/* No boundary: one text part. */
	mail_free(&m);
	mail_parse("Content-Type: multipart/mixed\n\nx", 32, &m);
	memset(&s, 0, sizeof(s));
	assert_int_equal(mime_walk(&m, collect, &s), 1);
	mail_free(&m);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_charsets),
		cmocka_unit_test(test_html_text),
		cmocka_unit_test(test_header_decode),
		cmocka_unit_test(test_param),
		cmocka_unit_test(test_text_boundary),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_walk_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
