/*
 * test_dsn.c - cmocka tests of common/dsn.c: RFC 3463 status from SMTP
 * replies (table-driven), and the RFC 3464 report: MIME structure, the
 * per-message and per-recipient fields, headers-only versus RET=FULL,
 * delay warnings, and header injection through hostile reply text; the
 * one NOTIFY parser and printer (table, unknown words) and the reader of
 * an original message with its limits.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "dsn.h"

static void
test_status_table(void **state)
{
	static const struct {
		int code;
		const char *text;
		const char *want;
	} t[] = {
		{ 550, "550 5.1.1 <bob@x>: user unknown", "5.1.1" },
		{ 550, "5.7.1 relay denied", "5.7.1" },
		{ 452, "452 4.2.2 mailbox full", "4.2.2" },
		{ 550, "550 4.2.2 class mismatch", "5.0.0" },
		{ 451, "451 try later", "4.0.0" },
		{ 554, "554-5.7.1 multi", "5.7.1" },
		{ 550, "550 5.1.10", "5.1.10" },
		{ 550, "550 5.1.1000 too long", "5.0.0" },
		{ 550, "550 5.1.1x", "5.0.0" },
		{ 0, "connection refused", "4.0.0" },
		{ 250, "250 2.0.0 ok", "2.0.0" },
		{ 421, NULL, "4.0.0" },
	};
	char out[16];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		dsn_status(t[i].code, t[i].text, out);
		assert_string_equal(out, t[i].want);
	}
}

static void
test_date(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	dsn_date(1795833712, &b);  /* 2026-11-28 02:41:52 UTC */
	assert_string_equal(b.data, "Sat, 28 Nov 2026 02:41:52 +0000");
	buf_free(&b);
}

static const char original[] =
	"Received: from client.test by mx.example.test\n"
	"From: Alice <alice@example.test>\n"
	"Subject: hello\n"
	"\n"
	"secret body line\n";

static void
fill(struct dsn_report *r, struct dsn_rcpt *rc, size_t n)
{
	memset(r, 0, sizeof(*r));
	r->reporting_mta = "mx.example.test";
	r->sender = "alice@example.test";
	r->queue_id = "ABC123";
	r->arrival = 1795833712;
	r->now = 1795833772;
	r->retry_until = 1795833712 + 5 * 86400;
	r->rcpts = rc;
	r->rcpt_count = n;
	r->message = original;
	r->message_len = strlen(original);
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void
test_bounce(void **state)
{
	struct dsn_rcpt rc[2] = {
		{ "bob@remote.test", "Bob@Remote.test", DSN_FAILED, "5.1.1",
		  "mx.remote.test[192.0.2.7]",
		  "550 5.1.1 <bob@remote.test>: no such user", 1795833770 },
		{ "carol@remote.test", NULL, DSN_FAILED, "5.4.4", NULL,
		  NULL, 0 },
	};
	struct dsn_report r;
	struct buf b = BUF_INIT;
	const char *s;

	(void)state;
	fill(&r, rc, 2);
	dsn_build(&r, &b);
	s = b.data;
	/* Message header. */
	assert_non_null(strstr(s, "From: MAILER-DAEMON@mx.example.test"));
	assert_non_null(strstr(s, "To: <alice@example.test>\n"));
	assert_non_null(strstr(s, "Subject: Undelivered Mail Returned to "
	    "Sender\n"));
	assert_non_null(strstr(s, "Auto-Submitted: auto-replied\n"));
	assert_non_null(strstr(s, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\n\tboundary=\""));
	/* Three parts and the closing boundary. */
	assert_int_equal(count(s, "\n--ABC123."), 4);
	assert_non_null(strstr(s, "--\n"));
	assert_non_null(strstr(s, "Content-Type: text/plain"));
	assert_non_null(strstr(s, "Content-Type: message/delivery-status\n"));
	assert_non_null(strstr(s, "Content-Type: text/rfc822-headers\n"));
	/* Per-message fields. */
	assert_non_null(strstr(s, "Reporting-MTA: dns; mx.example.test\n"));
	assert_non_null(strstr(s, "Arrival-Date: Sat, 28 Nov 2026 02:41:52 "
	    "+0000\n"));
	/* Per-recipient fields. */
	assert_non_null(strstr(s, "\nOriginal-Recipient: rfc822; "
	    "Bob@Remote.test\nFinal-Recipient: rfc822; bob@remote.test\n"
	    "Action: failed\nStatus: 5.1.1\n"
	    "Remote-MTA: dns; mx.remote.test[192.0.2.7]\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: no such "
	    "user\nLast-Attempt-Date: "));
	assert_non_null(strstr(s, "\nFinal-Recipient: rfc822; "
	    "carol@remote.test\nAction: failed\nStatus: 5.4.4\n\n"));
	/* Headers only: the body is not returned by default. */
	assert_non_null(strstr(s, "Subject: hello\n"));
	assert_null(strstr(s, "secret body line"));
	assert_null(strstr(s, "Will-Retry-Until"));
	buf_free(&b);
}

static void
test_ret_full_and_delay(void **state)
{
	struct dsn_rcpt rc = { "bob@remote.test", NULL, DSN_DELAYED, "4.4.1",
		NULL, "connect to mx.remote.test: timed out", 0 };
	struct dsn_report r;
	struct buf b = BUF_INIT;

	(void)state;
	fill(&r, &rc, 1);
	r.ret_full = true;
	r.envid = "env-42";
	dsn_build(&r, &b);
	assert_non_null(strstr(b.data, "Subject: Delayed Mail (still being "
	    "retried)\n"));
	assert_non_null(strstr(b.data, "Action: delayed\n"));
	assert_non_null(strstr(b.data, "Will-Retry-Until: Thu, 03 Dec 2026"));
	assert_non_null(strstr(b.data, "Original-Envelope-Id: env-42\n"));
	assert_non_null(strstr(b.data, "Content-Type: message/rfc822\n"));
	assert_non_null(strstr(b.data, "secret body line\n"));
	assert_non_null(strstr(b.data, "you do not need to send it again"));
	buf_free(&b);
}

static void
test_no_header_injection(void **state)
{
	struct dsn_rcpt rc = { "bob@remote.test", NULL, DSN_FAILED, "5.0.0",
		"evil\r\nX-Injected: 1", "550 bad\nX-Injected: 2", 0 };
	struct dsn_report r;
	struct buf b = BUF_INIT;

	(void)state;
	fill(&r, &rc, 1);
	r.sender = "alice@example.test\nBcc: victim@example.test";
	dsn_build(&r, &b);
	assert_null(strstr(b.data, "\nX-Injected"));
	assert_null(strstr(b.data, "\nBcc:"));
	buf_free(&b);
}

static void
test_8bit_headers_marked(void **state)
{
	static const char m8[] = "Subject: caf\xc3\xa9\n\nbody\n";
	struct dsn_rcpt rc = { "b@r.test", NULL, DSN_FAILED, "5.0.0", NULL,
		NULL, 0 };
	struct dsn_report r;
	struct buf b = BUF_INIT;

	(void)state;
	fill(&r, &rc, 1);
	r.message = m8;
	r.message_len = strlen(m8);
	dsn_build(&r, &b);
	assert_non_null(strstr(b.data, "Content-Transfer-Encoding: 8bit\n"));
	buf_free(&b);
}

/* Every NOTIFY list a client or a queue file can hold: strict result
 * (the SMTP server refuses -1) and the flags (the queue file reader keeps
 * the known words of a list with an unknown one). */
static void
test_notify_table(void **state)
{
	static const struct {
		const char *list;
		int rc;
		unsigned flags;
	} t[] = {
		{ "NEVER", 0, DSN_NOTIFY_NEVER },
		{ "never", 0, DSN_NOTIFY_NEVER },
		{ "SUCCESS", 0, DSN_NOTIFY_SUCCESS },
		{ "success,Failure,DELAY", 0, DSN_NOTIFY_SUCCESS |
		    DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY },
		{ "DELAY,FAILURE", 0, DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY },
		/* unknown word: refused, the known ones still reported */
		{ "FAILURE,BOGUS", -1, DSN_NOTIFY_FAILURE },
		{ "BOGUS", -1, 0 },
		{ "SUCCESSFUL", -1, 0 },
		{ "", -1, 0 },
		{ "FAILURE,", -1, DSN_NOTIFY_FAILURE },
		{ ",DELAY", -1, DSN_NOTIFY_DELAY },
		/* NEVER with another word (RFC 3461 4.1) */
		{ "NEVER,SUCCESS", -1, DSN_NOTIFY_NEVER | DSN_NOTIFY_SUCCESS },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		unsigned f = 0;
		int rc = dsn_notify_parse(t[i].list, &f);

		if (rc != t[i].rc || f != (DSN_NOTIFY_GIVEN | t[i].flags))
			fail_msg("'%s': rc %d flags %#x", t[i].list, rc, f);
	}
}

static void
test_notify_name(void **state)
{
	unsigned f;

	(void)state;
	assert_string_equal(dsn_notify_name(0), "");
	assert_string_equal(dsn_notify_name(DSN_NOTIFY_SUCCESS), "");
	assert_string_equal(dsn_notify_name(DSN_NOTIFY_GIVEN |
	    DSN_NOTIFY_NEVER), "NEVER");
	assert_string_equal(dsn_notify_name(DSN_NOTIFY_GIVEN |
	    DSN_NOTIFY_DELAY | DSN_NOTIFY_SUCCESS), "SUCCESS,DELAY");
	/* Round trip of every combination. */
	for (unsigned w = 0; w < 8; w++) {
		unsigned want = DSN_NOTIFY_GIVEN |
		    (w & 1 ? DSN_NOTIFY_SUCCESS : 0) |
		    (w & 2 ? DSN_NOTIFY_FAILURE : 0) |
		    (w & 4 ? DSN_NOTIFY_DELAY : 0);
		if (w == 0)
			continue;
		assert_int_equal(dsn_notify_parse(dsn_notify_name(want), &f),
		    0);
		assert_int_equal(f, want);
	}
}

/* One set of limits: headers only reads DSN_HEADERS_MAX; RET=FULL reads
 * one byte more than DSN_FULL_MAX, so that dsn_build() returns a message
 * too big whole with its header only, never cut off. */
static void
test_read_original_limits(void **state)
{
	char path[] = "/tmp/test_dsn.XXXXXX";
	struct buf big = BUF_INIT, got = BUF_INIT, out = BUF_INIT;
	struct dsn_rcpt rc = { "b@r.test", NULL, DSN_FAILED, "5.0.0", NULL,
		NULL, 0 };
	struct dsn_report r;
	int fd;

	(void)state;
	buf_append_str(&big, "envelope\n\nSubject: big\n\n");
	while (big.len < (size_t)DSN_FULL_MAX + 100)
		buf_append_str(&big, "0123456789abcdef0123456789abcdef\n");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, big.data, big.len), (ssize_t)big.len);
	close(fd);
	assert_int_equal(dsn_read_original(path, 10, false, &got), 0);
	assert_int_equal(got.len, DSN_HEADERS_MAX);
	assert_true(strncmp(got.data, "Subject: big\n", 13) == 0);
	buf_reset(&got);
	assert_int_equal(dsn_read_original(path, 10, true, &got), 0);
	assert_int_equal(got.len, (size_t)DSN_FULL_MAX + 1);
	/* Too big for RET=FULL: the report carries the header only. */
	fill(&r, &rc, 1);
	r.ret_full = true;
	r.message = got.data;
	r.message_len = got.len;
	dsn_build(&r, &out);
	assert_non_null(strstr(out.data, "text/rfc822-headers"));
	assert_null(strstr(out.data, "0123456789abcdef"));
	unlink(path);
	assert_int_equal(dsn_read_original(path, 0, false, &got), -1);
	buf_free(&big);
	buf_free(&got);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_table),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_bounce),
		cmocka_unit_test(test_ret_full_and_delay),
		cmocka_unit_test(test_no_header_injection),
		cmocka_unit_test(test_8bit_headers_marked),
		cmocka_unit_test(test_notify_table),
		cmocka_unit_test(test_notify_name),
		cmocka_unit_test(test_read_original_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
