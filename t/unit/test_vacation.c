/*
 * test_vacation.c - unit tests for common/vacation.c: who gets an
 * automatic reply (RFC 3834), once per sender per period, the reply's
 * fields, and the settings file.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "mail.h"
#include "util.h"
#include "vacation.h"
#include "unit_tmpdir.h"


static int
setup(void **state)
{
	(void)state;
	return unit_tmpdir_make("test_vacation");
}

static int
teardown(void **state)
{
	(void)state;
	return unit_tmpdir_remove();
}

static const char *const own[] = { "alice@example.test",
	"info@example.test" };

/* NULL when a reply is due for this header from this sender. */
static const char *
refuse(const char *header, const char *sender)
{
	static char why[128];
	struct mail m;
	const char *r;
	struct buf text = BUF_INIT;

	buf_printf(&text, "%s\nbody\n", header);
	mail_parse(text.data, text.len, &m);
	r = vacation_refuse(&m, sender, own, 2);
	snprintf(why, sizeof(why), "%s", r != NULL ? r : "");
	mail_free(&m);
	buf_free(&text);
	return r != NULL ? why : NULL;
}

static void
test_who_gets_a_reply(void **state)
{
	static const struct {
		const char *header, *sender;
		bool reply;
	} rows[] = {
		{ "To: alice@example.test\n", "bob@example.org", true },
		{ "To: Alice <ALICE@example.test>, c@x\n", "bob@x.org", true },
		{ "To: x@y\nCc: info@example.test\n", "bob@x.org", true },
		{ "To: x@y\nBcc: alice@example.test\n", "bob@x.org", true },
		/* not named: Bcc'd copies, made-up names, near misses */
		{ "To: someone@example.test\n", "bob@example.org", false },
		{ "To: malice@example.test\n", "bob@example.org", false },
		{ "To: alice@example.test.evil\n", "bob@example.org", false },
		/* never to programs or the null sender */
		{ "To: alice@example.test\n", "", false },
		{ "To: alice@example.test\n", "MAILER-DAEMON@x.org", false },
		{ "To: alice@example.test\n", "owner-club@x.org", false },
		{ "To: alice@example.test\n", "club-request@x.org", false },
		{ "To: alice@example.test\n", "club-bounces@x.org", false },
		{ "To: alice@example.test\n", "noreply@x.org", false },
		/* never to automatic, list or spam mail */
		{ "To: alice@example.test\nAuto-Submitted: auto-replied\n",
		    "bob@x.org", false },
		{ "To: alice@example.test\nAuto-Submitted: no\n",
		    "bob@x.org", true },
		{ "To: alice@example.test\nPrecedence: bulk\n",
		    "bob@x.org", false },
		{ "To: alice@example.test\nPrecedence: list\n",
		    "bob@x.org", false },
		{ "To: alice@example.test\nList-Id: <club.x.org>\n",
		    "bob@x.org", false },
		{ "To: alice@example.test\nList-Unsubscribe: <mailto:u@x>\n",
		    "bob@x.org", false },
		{ "To: alice@example.test\nX-Spam-Flag: YES\n",
		    "bob@x.org", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *why = refuse(rows[i].header, rows[i].sender);

		if ((why == NULL) != rows[i].reply)
			fail_msg("row %zu (%s from <%s>): %s", i,
			    rows[i].header, rows[i].sender,
			    why != NULL ? why : "reply");
	}
}

static void
test_once_per_sender_per_period(void **state)
{
	(void)state;
	assert_int_equal(vacation_due(tmpdir, "bob@x.org", 100, 1000), 1);
	assert_int_equal(vacation_due(tmpdir, "bob@x.org", 100, 1050), 0);
	assert_int_equal(vacation_due(tmpdir, "BOB@x.org", 100, 1099), 0);
	assert_int_equal(vacation_due(tmpdir, "carol@x.org", 100, 1099), 1);
	/* the period is over */
	assert_int_equal(vacation_due(tmpdir, "bob@x.org", 100, 1100), 1);
	assert_int_equal(vacation_due(tmpdir, "bob@x.org", 100, 1150), 0);
	/* carol's entry expired and was dropped on a rewrite */
	assert_int_equal(vacation_due(tmpdir, "carol@x.org", 100, 1250), 1);
}

static void
test_reply_fields(void **state)
{
	struct vacation v;
	struct mail m;
	struct buf out = BUF_INIT;
	const char *orig = "From: Bob <bob@x.org>\nTo: alice@example.test\n"
	    "Subject: lunch?\nMessage-ID: <m1@x.org>\n"
	    "References: <m0@x.org>\n\nhi\n";

	(void)state;
	memset(&v, 0, sizeof(v));
	v.period = 10;
	buf_append_str(&v.text, "Away until Monday.");
	mail_parse(orig, strlen(orig), &m);
	vacation_compose(&v, &m, "alice@example.test", "bob@x.org",
	    "Mon, 1 Jan 2024 00:00:00 +0000", "<r1@example.test>", &out);
	assert_non_null(strstr(out.data, "From: alice@example.test\n"));
	assert_non_null(strstr(out.data, "To: bob@x.org\n"));
	assert_non_null(strstr(out.data, "Subject: Auto: lunch?\n"));
	assert_non_null(strstr(out.data, "In-Reply-To: <m1@x.org>\n"));
	assert_non_null(strstr(out.data,
	    "References: <m0@x.org> <m1@x.org>\n"));
	assert_non_null(strstr(out.data, "Auto-Submitted: auto-replied\n"));
	assert_non_null(strstr(out.data, "\n\nAway until Monday.\n"));
	/* An own subject, not ASCII: RFC 2047 encoded; no header injection */
	snprintf(v.subject, sizeof(v.subject), "Abwesend \xc3\xa4");
	vacation_compose(&v, &m, "alice@example.test", "bob@x.org\nBcc: x",
	    "d", "<r2@example.test>", &out);
	assert_non_null(strstr(out.data, "Subject: =?UTF-8?B?"));
	assert_null(strstr(out.data, "\nBcc:"));
	mail_free(&m);
	buf_free(&out);
	vacation_free(&v);
}

static void
test_settings_round_trip(void **state)
{
	struct vacation v, w;
	char path[512];
	FILE *f;

	(void)state;
	assert_int_equal(vacation_load(tmpdir, &w), 0);     /* off */
	vacation_free(&w);
	memset(&v, 0, sizeof(v));
	snprintf(v.subject, sizeof(v.subject), "Away");
	v.period = 3600;
	buf_append_str(&v.text, "line one\n\nline three\n");
	assert_int_equal(vacation_save(tmpdir, &v), 0);
	assert_int_equal(vacation_load(tmpdir, &w), 1);
	assert_string_equal(w.subject, "Away");
	assert_int_equal(w.period, 3600);
	assert_int_equal(w.text.len, v.text.len);
	assert_memory_equal(w.text.data, v.text.data, v.text.len);
	vacation_free(&w);
	/* A damaged file is an error, never a reply with garbage */
	snprintf(path, sizeof(path), "%s/%s", tmpdir, VACATION_FILE);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("period: forever\n\ntext\n", f);
	fclose(f);
	assert_int_equal(vacation_load(tmpdir, &w), -1);
	vacation_free(&w);
	assert_int_equal(vacation_remove(tmpdir), 0);
	assert_int_equal(vacation_load(tmpdir, &w), 0);
	vacation_free(&w);
	vacation_free(&v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_who_gets_a_reply),
		cmocka_unit_test_setup_teardown(test_once_per_sender_per_period,
		    setup, teardown),
		cmocka_unit_test(test_reply_fields),
		cmocka_unit_test_setup_teardown(test_settings_round_trip,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
