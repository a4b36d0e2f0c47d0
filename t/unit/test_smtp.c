/*
 * test_smtp.c - unit tests for the pure parts of dmail-smtpd: the command
 * verb parser, MAIL/RCPT arguments and ESMTP parameters (tables of input
 * and the exact reply), the DATA reader (dot-unstuffing, the smuggling
 * defence, size and line limits, fed through a socketpair whole and one
 * byte at a time), base64 and SASL PLAIN splitting.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "sasl.h"
#include "smtpd.h"
#include "util.h"

/* ---- verbs ---------------------------------------------------------- */

static const struct {
	const char *line;
	enum smtp_verb verb;
	const char *arg;
} verb_cases[] = {
	{ "EHLO client.example", SMTP_EHLO, "client.example" },
	{ "ehlo   client.example", SMTP_EHLO, "client.example" },
	{ "HELO x", SMTP_HELO, "x" },
	{ "MAIL FROM:<a@b.example>", SMTP_MAIL, "FROM:<a@b.example>" },
	{ "rcpt to:<a@b.example>", SMTP_RCPT, "to:<a@b.example>" },
	{ "DATA", SMTP_DATA, "" },
	{ "RSET", SMTP_RSET, "" },
	{ "NOOP anything", SMTP_NOOP, "anything" },
	{ "QUIT", SMTP_QUIT, "" },
	{ "VRFY bob", SMTP_VRFY, "bob" },
	{ "EXPN list", SMTP_EXPN, "list" },
	{ "HELP", SMTP_HELP, "" },
	{ "StartTLS", SMTP_STARTTLS, "" },
	{ "AUTH PLAIN AGJvYgBz", SMTP_AUTH, "PLAIN AGJvYgBz" },
	{ "BDAT 100 LAST", SMTP_BDAT, "100 LAST" },
	{ "MAILX FROM:<a@b>", SMTP_UNKNOWN, "FROM:<a@b>" },
	{ "", SMTP_UNKNOWN, "" },
	{ "GET / HTTP/1.0", SMTP_UNKNOWN, "/ HTTP/1.0" },
	{ " QUIT", SMTP_UNKNOWN, "QUIT" },
};

static void
test_verbs(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(verb_cases) / sizeof(verb_cases[0]); i++) {
		const char *arg;
		enum smtp_verb v = smtp_parse_verb(verb_cases[i].line, &arg);
		if (v != verb_cases[i].verb || strcmp(arg, verb_cases[i].arg))
			fail_msg("verb case %zu \"%s\": got %d \"%s\"", i,
			    verb_cases[i].line, v, arg);
	}
	assert_string_equal(smtp_verb_name(SMTP_STARTTLS), "STARTTLS");
}

/* ---- MAIL FROM ------------------------------------------------------- */

static const struct {
	const char *arg;
	bool esmtp;
	int code;               /* 0: accepted */
	const char *enhanced;
	const char *from;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
} mail_cases[] = {
	{ "FROM:<a@b.example>", true, 0, NULL, "a@b.example", 0, BODY_NONE,
	    false },
	{ "from:<a@b.example>", false, 0, NULL, "a@b.example", 0, BODY_NONE,
	    false },
	{ "FROM: <a@b.example>", true, 0, NULL, "a@b.example", 0, BODY_NONE,
	    false },
	{ "FROM:<>", true, 0, NULL, "", 0, BODY_NONE, false },
	{ "FROM:<@r1.example,@r2.example:a@b.example>", true, 0, NULL,
	    "a@b.example", 0, BODY_NONE, false },
	{ "FROM:<a@b.example> SIZE=12345", true, 0, NULL, "a@b.example",
	    12345, BODY_NONE, false },
	{ "FROM:<a@b.example> size=0 body=8bitmime", true, 0, NULL,
	    "a@b.example", 0, BODY_8BITMIME, false },
	{ "FROM:<a@b.example> BODY=7BIT AUTH=<>", true, 0, NULL,
	    "a@b.example", 0, BODY_7BIT, false },
	{ "FROM:<j\xc3\xb6rg@b.example> SMTPUTF8", true, 0, NULL,
	    "j\xc3\xb6rg@b.example", 0, BODY_NONE, true },
	{ "FROM:<a@b.example> SIZE=99999999999999999999", true, 0, NULL,
	    "a@b.example", UINT64_MAX, BODY_NONE, false },
	/* errors */
	{ "FROM:<j\xc3\xb6rg@b.example>", true, 553, "5.6.7", NULL, 0, 0, 0 },
	{ "FROM:<a@b.example> SIZE=10", false, 555, "5.5.4", NULL, 0, 0, 0 },
	{ "FROM:<a@b.example> FOO=bar", true, 555, "5.5.4", NULL, 0, 0, 0 },
	{ "FROM:<a@b.example> RET=HDRS RET=FULL", true, 501, "5.5.4", NULL, 0,
	    0, 0 },
	{ "FROM:<a@b.example> SIZE=abc", true, 501, "5.5.4", NULL, 0, 0, 0 },
	{ "FROM:<a@b.example> SIZE=", true, 501, "5.5.4", NULL, 0, 0, 0 },
	{ "FROM:<a@b.example> SIZE=1 SIZE=2", true, 501, "5.5.4", NULL, 0, 0,
	    0 },
	{ "FROM:<a@b.example> BODY=BINARYMIME", true, 501, "5.5.4", NULL, 0,
	    0, 0 },
	{ "FROM:<a@b.example> SMTPUTF8=yes", true, 501, "5.5.4", NULL, 0, 0,
	    0 },
	{ "FROM:a@b.example", true, 501, "5.5.4", NULL, 0, 0, 0 },
	{ "TO:<a@b.example>", true, 501, "5.5.4", NULL, 0, 0, 0 },
	{ "", true, 501, "5.5.4", NULL, 0, 0, 0 },
	{ "FROM:<a@b.example>junk", true, 501, "5.5.4", NULL, 0, 0, 0 },
	{ "FROM:<a b@c.example>", true, 501, "5.1.7", NULL, 0, 0, 0 },
	{ "FROM:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "@b.example>", true, 501, "5.1.7", NULL, 0, 0, 0 },
};

static void
test_mail_args(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
		struct mail_args m;
		struct smtp_reply r;
		int rc;

		memset(&r, 0, sizeof(r));
		rc = smtp_parse_mail(mail_cases[i].arg, mail_cases[i].esmtp,
		    &m, &r);
		if (mail_cases[i].code == 0) {
			if (rc != 0)
				fail_msg("mail case %zu \"%s\": %d %s %s", i,
				    mail_cases[i].arg, r.code, r.enhanced,
				    r.text);
			assert_string_equal(m.from.addr, mail_cases[i].from);
			assert_true(m.size == mail_cases[i].size);
			assert_int_equal(m.body, mail_cases[i].body);
			assert_int_equal(m.smtputf8, mail_cases[i].smtputf8);
		} else {
			if (rc != -1 || r.code != mail_cases[i].code ||
			    strcmp(r.enhanced, mail_cases[i].enhanced) != 0)
				fail_msg("mail case %zu \"%s\": rc %d reply "
				    "%d %s, expected %d %s", i,
				    mail_cases[i].arg, rc, r.code, r.enhanced,
				    mail_cases[i].code,
				    mail_cases[i].enhanced);
		}
	}
}

/* ---- RCPT TO --------------------------------------------------------- */

static const struct {
	const char *arg;
	bool smtputf8;
	int code;
	const char *enhanced;
	const char *addr;
} rcpt_cases[] = {
	{ "TO:<bob@example.test>", false, 0, NULL, "bob@example.test" },
	{ "to: <bob@example.test>", false, 0, NULL, "bob@example.test" },
	{ "TO:<\"bob smith\"@example.test>", false, 0, NULL,
	    "\"bob smith\"@example.test" },
	{ "TO:<@hop.example:bob@example.test>", false, 0, NULL,
	    "bob@example.test" },
	{ "TO:<Postmaster>", false, 0, NULL, "Postmaster" },
	{ "TO:<bob@example.test> ", false, 0, NULL, "bob@example.test" },
	{ "TO:<b\xc3\xb6" "b@example.test>", true, 0, NULL,
	    "b\xc3\xb6" "b@example.test" },
	{ "TO:<b\xc3\xb6" "b@example.test>", false, 553, "5.6.7", NULL },
	{ "TO:<>", false, 501, "5.1.3", NULL },
	{ "TO:<bob>", false, 501, "5.1.3", NULL },
	{ "TO:bob@example.test", false, 501, "5.5.4", NULL },
	{ "FROM:<bob@example.test>", false, 501, "5.5.4", NULL },
	{ "TO:<bob@example.test> NOTIFY=NEVER", false, 0, NULL,
	    "bob@example.test" },
	{ "TO:<bob@example.test> FOO=1", false, 555, "5.5.4", NULL },
	{ "TO:<bob@example.test>x", false, 501, "5.5.4", NULL },
};

static void
test_rcpt_args(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++) {
		struct mailbox mb;
		struct smtp_reply r;
		int rc;

		memset(&r, 0, sizeof(r));
		rc = smtp_parse_rcpt(rcpt_cases[i].arg, true,
		    rcpt_cases[i].smtputf8, &mb, &r);
		if (rcpt_cases[i].code == 0) {
			if (rc != 0)
				fail_msg("rcpt case %zu \"%s\": %d %s %s", i,
				    rcpt_cases[i].arg, r.code, r.enhanced,
				    r.text);
			assert_string_equal(mb.addr, rcpt_cases[i].addr);
		} else if (rc != -1 || r.code != rcpt_cases[i].code ||
		    strcmp(r.enhanced, rcpt_cases[i].enhanced) != 0) {
			fail_msg("rcpt case %zu \"%s\": rc %d reply %d %s", i,
			    rcpt_cases[i].arg, rc, r.code, r.enhanced);
		}
	}
}

/* ---- DATA ------------------------------------------------------------ */

enum { F_BARE_LF = 1, F_BARE_CR = 2, F_TOO_BIG = 4, F_LONG = 8 };

static const struct {
	const char *in;
	enum bare_lf_policy policy;
	uint64_t max;
	int rc;
	const char *lines;      /* each delivered line + "\n" */
	unsigned flags;
	const char *after;      /* next line left in the stream */
} data_cases[] = {
	/* dot-unstuffing */
	{ "a\r\n..b\r\n...\r\n..\r\n.\r\nNEXT\r\n", BARE_LF_REJECT, 1000,
	    STREAM_OK, "a\n.b\n..\n.\n", 0, "NEXT" },
	{ ".\r\nNEXT\r\n", BARE_LF_REJECT, 1000, STREAM_OK, "", 0, "NEXT" },
	{ "\r\n\r\n.\r\nNEXT\r\n", BARE_LF_REJECT, 1000, STREAM_OK, "\n\n",
	    0, "NEXT" },
	/* smuggling: none of these end the data */
	{ "a\r\n.\nMAIL FROM:<x@y>\r\n.\r\nNEXT\r\n", BARE_LF_REJECT, 1000,
	    STREAM_OK, "a\n", F_BARE_LF, "NEXT" },
	{ "a\r\n\n.\n\r\n.\r\nNEXT\r\n", BARE_LF_REJECT, 1000, STREAM_OK,
	    "a\n", F_BARE_LF, "NEXT" },
	{ "a\r.\rMAIL\r\n.\r\nNEXT\r\n", BARE_LF_REJECT, 1000, STREAM_OK, "",
	    F_BARE_CR, "NEXT" },
	{ "a\r\n.\r\r\n.\r\nNEXT\r\n", BARE_LF_REJECT, 1000, STREAM_OK, "a\n",
	    F_BARE_CR, "NEXT" },
	{ "a\n.\r\nb\r\n.\r\nNEXT\r\n", BARE_LF_REJECT, 1000, STREAM_OK,
	    "", F_BARE_LF, "NEXT" },
	{ "a\n.\r\nb\r\n.\r\nNEXT\r\n", BARE_LF_NORMALIZE, 1000, STREAM_OK,
	    "a\n.\nb\n", F_BARE_LF, "NEXT" },
	{ "a\r\n.\n\r\n.\r\nNEXT\r\n", BARE_LF_NORMALIZE, 1000, STREAM_OK,
	    "a\n.\n\n", F_BARE_LF, "NEXT" },
	{ "x\ny\n..z\r\n.\r\nNEXT\r\n", BARE_LF_NORMALIZE, 1000, STREAM_OK,
	    "x\ny\n.z\n", F_BARE_LF, "NEXT" },
	{ "a\r.\rb\r\n.\r\nNEXT\r\n", BARE_LF_NORMALIZE, 1000, STREAM_OK,
	    "a.b\n", F_BARE_CR, "NEXT" },
	/* size: 10 octets + CRLF = 12 */
	{ "0123456789\r\n.\r\nNEXT\r\n", BARE_LF_REJECT, 12, STREAM_OK,
	    "0123456789\n", 0, "NEXT" },
	{ "0123456789\r\n.\r\nNEXT\r\n", BARE_LF_REJECT, 11, STREAM_OK, "",
	    F_TOO_BIG, "NEXT" },
	{ "ab\r\n0123456789\r\nmore\r\n.\r\nNEXT\r\n", BARE_LF_REJECT, 13,
	    STREAM_OK, "ab\n", F_TOO_BIG, "NEXT" },
	/* end of stream inside the data */
	{ "abc\r\n", BARE_LF_REJECT, 1000, STREAM_EOF, "abc\n", 0, NULL },
	{ "abc\r\n.", BARE_LF_REJECT, 1000, STREAM_EOF, "abc\n", 0, NULL },
};

static int
collect(void *arg, const char *line, size_t len)
{
	struct buf *b = arg;

	buf_append(b, line, len);
	buf_append_char(b, '\n');
	return 0;
}

struct feeder {
	int fd;
	const char *data;
	size_t len;
	bool trickle;
};

static void *
feed(void *arg)
{
	struct feeder *f = arg;
	size_t i;

	if (f->trickle) {
		for (i = 0; i < f->len; i++)
			if (write(f->fd, f->data + i, 1) != 1)
				break;
	} else {
		(void)write_all(f->fd, f->data, f->len);
	}
	shutdown(f->fd, SHUT_WR);
	return NULL;
}

/* Runs smtp_data_read() on input sent by a thread through a socketpair. */
static int
run_data(const char *in, size_t inlen, bool trickle,
    enum bare_lf_policy policy, uint64_t max, struct buf *out,
    struct data_result *res, struct buf *after)
{
	int sv[2], rc;
	pthread_t t;
	struct feeder f;
	struct stream *s;
	struct buf line = BUF_INIT;
	enum line_ending ending;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	f.fd = sv[1];
	f.data = in;
	f.len = inlen;
	f.trickle = trickle;
	assert_int_equal(pthread_create(&t, NULL, feed, &f), 0);
	s = stream_new(sv[0], sv[0]);
	stream_set_timeout(s, 5000);
	rc = smtp_data_read(s, &line, max, policy, collect, out, res);
	buf_reset(after);
	if (rc == STREAM_OK &&
	    stream_read_line(s, &line, 100, &ending) == STREAM_OK)
		buf_set(after, buf_cstr(&line));
	pthread_join(t, NULL);
	stream_free(s);
	close(sv[0]);
	close(sv[1]);
	buf_free(&line);
	return rc;
}

static void
test_data_table(void **state)
{
	size_t i;
	int trickle;

	(void)state;
	for (trickle = 0; trickle < 2; trickle++)
	for (i = 0; i < sizeof(data_cases) / sizeof(data_cases[0]); i++) {
		struct buf out = BUF_INIT, after = BUF_INIT;
		struct data_result res;
		unsigned flags;
		int rc;

		rc = run_data(data_cases[i].in, strlen(data_cases[i].in),
		    trickle, data_cases[i].policy, data_cases[i].max, &out,
		    &res, &after);
		flags = (res.bare_lf ? F_BARE_LF : 0) |
		    (res.bare_cr ? F_BARE_CR : 0) |
		    (res.too_big ? F_TOO_BIG : 0) |
		    (res.long_line ? F_LONG : 0);
		if (rc != data_cases[i].rc ||
		    strcmp(buf_cstr(&out), data_cases[i].lines) != 0 ||
		    flags != data_cases[i].flags ||
		    (data_cases[i].after != NULL &&
		    strcmp(buf_cstr(&after), data_cases[i].after) != 0))
			fail_msg("data case %zu (trickle %d): rc %d lines "
			    "\"%s\" flags %u after \"%s\"", i, trickle, rc,
			    buf_cstr(&out), flags, buf_cstr(&after));
		buf_free(&out);
		buf_free(&after);
	}
}

static void
test_data_line_limit(void **state)
{
	struct buf in = BUF_INIT, out = BUF_INIT, after = BUF_INIT;
	struct data_result res;
	char line[1200];

	(void)state;
	/* 998 octets + CRLF is the longest text line (RFC 5321 4.5.3.1.6) */
	memset(line, 'x', 998);
	buf_append(&in, line, 998);
	buf_append_str(&in, "\r\n.\r\nNEXT\r\n");
	assert_int_equal(run_data(in.data, in.len, false, BARE_LF_REJECT,
	    100000, &out, &res, &after), STREAM_OK);
	assert_false(res.long_line);
	assert_int_equal(out.len, 999);
	assert_int_equal(res.size, 1000);
	/* 999 octets + CRLF is one too many: the message is refused, the
	 * reader stays in step */
	buf_reset(&in);
	buf_reset(&out);
	buf_append(&in, line, 999);
	buf_append_str(&in, "\r\nok\r\n.\r\nNEXT\r\n");
	assert_int_equal(run_data(in.data, in.len, false, BARE_LF_REJECT,
	    100000, &out, &res, &after), STREAM_OK);
	assert_true(res.long_line);
	assert_string_equal(buf_cstr(&out), "");
	assert_string_equal(buf_cstr(&after), "NEXT");
	buf_free(&in);
	buf_free(&out);
	buf_free(&after);
}

/* Every octet 0x01-0xff (except CR and LF) survives unchanged. */
static void
test_data_8bit_exact(void **state)
{
	struct buf in = BUF_INIT, out = BUF_INIT, want = BUF_INIT,
	    after = BUF_INIT;
	struct data_result res;
	int c;

	(void)state;
	for (c = 1; c < 256; c++) {
		if (c == '\r' || c == '\n')
			continue;
		buf_append_char(&in, (char)c);
		buf_append_char(&want, (char)c);
		if (c % 50 == 0) {
			buf_append_str(&in, "\r\n");
			buf_append_char(&want, '\n');
		}
	}
	buf_append_str(&in, "\r\n.\r\n");
	buf_append_char(&want, '\n');
	assert_int_equal(run_data(in.data, in.len, true, BARE_LF_REJECT,
	    100000, &out, &res, &after), STREAM_OK);
	assert_int_equal(out.len, want.len);
	assert_memory_equal(out.data, want.data, want.len);
	buf_free(&in);
	buf_free(&out);
	buf_free(&want);
	buf_free(&after);
}

/* ---- base64 and SASL PLAIN ------------------------------------------- */

static void
test_base64(void **state)
{
	static const struct {
		const char *plain;
		const char *b64;
	} v[] = {   /* RFC 4648 10 */
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	static const char *const bad[] = { "Zg=", "Z===", "Zg==Zg==", "Zm9",
		"Zm9v!", "Zg=a", "====" };
	struct buf b = BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		buf_reset(&b);
		base64_encode(v[i].plain, strlen(v[i].plain), &b);
		assert_string_equal(buf_cstr(&b), v[i].b64);
		assert_int_equal(base64_decode(v[i].b64, strlen(v[i].b64),
		    &b), 0);
		assert_string_equal(buf_cstr(&b), v[i].plain);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (base64_decode(bad[i], strlen(bad[i]), &b) != -1)
			fail_msg("bad base64 \"%s\" accepted", bad[i]);
	buf_free(&b);
}

static void
test_sasl_plain(void **state)
{
	const char *z, *c, *p;

	(void)state;
	assert_int_equal(sasl_plain_split("\0bob\0pw", 7, &z, &c, &p), 0);
	assert_string_equal(z, "");
	assert_string_equal(c, "bob");
	assert_string_equal(p, "pw");
	assert_int_equal(sasl_plain_split("bob\0bob\0pw", 10, &z, &c,
	    &p), 0);
	assert_string_equal(z, "bob");
	assert_int_equal(sasl_plain_split("bob\0pw", 6, &z, &c, &p), -1);
	assert_int_equal(sasl_plain_split("\0\0pw", 4, &z, &c, &p), -1);
	assert_int_equal(sasl_plain_split("\0bob\0", 5, &z, &c, &p), -1);
	assert_int_equal(sasl_plain_split("\0bob\0p\0w", 8, &z, &c, &p),
	    -1);
}

static void
test_helo_syntax(void **state)
{
	(void)state;
	assert_true(smtp_valid_helo("mail.example.com"));
	assert_true(smtp_valid_helo("mail.example.com."));
	assert_true(smtp_valid_helo("[192.0.2.1]"));
	assert_true(smtp_valid_helo("[IPv6:::1]"));
	assert_false(smtp_valid_helo(""));
	assert_false(smtp_valid_helo("[300.1.1.1]"));
	assert_false(smtp_valid_helo("bad..name"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbs),
		cmocka_unit_test(test_mail_args),
		cmocka_unit_test(test_rcpt_args),
		cmocka_unit_test(test_data_table),
		cmocka_unit_test(test_data_line_limit),
		cmocka_unit_test(test_data_8bit_exact),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_sasl_plain),
		cmocka_unit_test(test_helo_syntax),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
