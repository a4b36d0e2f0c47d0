/*
 * test_smtp_dsn.c - unit tests for the RFC 3461 (DSN) parameters of
 * dmail-smtpd: xtext decoding, MAIL FROM RET/ENVID and RCPT TO
 * NOTIFY/ORCPT (tables of input and the exact reply or parsed values),
 * and the DSN lines of the queue file (spool.h) written and read back.
 */
#include "config.h"

#include <setjmp.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "smtpd.h"
#include "spool.h"
#include "util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- xtext ---------------------------------------------------------- */

static const struct {
	const char *in;
	size_t outlen;
	const char *out;        /* NULL: must be refused */
} xtext_cases[] = {
	{ "abc", 64, "abc" },
	{ "", 64, "" },
	{ "a+2Bb", 64, "a+b" },
	{ "+3D", 64, "=" },
	{ "+20x+7E", 64, " x~" },
	{ "QQ314159", 64, "QQ314159" },
	{ "a+2b", 64, NULL },           /* lower-case hex */
	{ "a+2", 64, NULL },            /* truncated */
	{ "a+", 64, NULL },
	{ "+G0", 64, NULL },
	{ "a=b", 64, NULL },            /* "=" must be encoded */
	{ "a b", 64, NULL },
	{ "+0A", 64, NULL },            /* LF: not printable */
	{ "+0D+0A", 64, NULL },
	{ "+09", 64, NULL },            /* TAB */
	{ "+00", 64, NULL },
	{ "+7F", 64, NULL },
	{ "+C3+A9", 64, NULL },         /* 8-bit */
	{ "\xc3\xa9", 64, NULL },
	{ "abcd", 5, "abcd" },          /* exactly fits with the NUL */
	{ "abcde", 5, NULL },           /* too long for out */
};

static void
test_xtext(void **state)
{
	char out[64];

	(void)state;
	for (size_t i = 0; i < N(xtext_cases); i++) {
		int rc = smtp_xtext_decode(xtext_cases[i].in, out,
		    xtext_cases[i].outlen);
		if (xtext_cases[i].out == NULL) {
			if (rc != -1)
				fail_msg("xtext case %zu \"%s\": accepted as "
				    "\"%s\"", i, xtext_cases[i].in, out);
		} else {
			if (rc != 0)
				fail_msg("xtext case %zu \"%s\": refused", i,
				    xtext_cases[i].in);
			assert_string_equal(out, xtext_cases[i].out);
		}
	}
}

/* ---- MAIL FROM RET / ENVID ----------------------------------------- */

static const struct {
	const char *arg;
	int code;               /* 0: accepted */
	int ret;
	const char *envid;      /* NULL: not given */
} mail_cases[] = {
	{ "FROM:<a@b.example>", 0, DSN_RET_NONE, NULL },
	{ "FROM:<a@b.example> RET=FULL", 0, DSN_RET_FULL, NULL },
	{ "FROM:<a@b.example> ret=hdrs", 0, DSN_RET_HDRS, NULL },
	{ "FROM:<a@b.example> ENVID=QQ314159", 0, DSN_RET_NONE,
	    "QQ314159" },
	{ "FROM:<a@b.example> RET=HDRS ENVID=a+2Bb+3Dc SIZE=10", 0,
	    DSN_RET_HDRS, "a+b=c" },
	{ "FROM:<> envid=x+20y", 0, DSN_RET_NONE, "x y" },
	/* 100 characters: the limit */
	{ "FROM:<a@b.example> ENVID="
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "456789012345678901234567890123456789", 0, DSN_RET_NONE,
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "456789012345678901234567890123456789" },
	/* errors */
	{ "FROM:<a@b.example> ENVID="
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "4567890123456789012345678901234567890", 501, 0, NULL },
	{ "FROM:<a@b.example> RET=BODY", 501, 0, NULL },
	{ "FROM:<a@b.example> RET", 501, 0, NULL },
	{ "FROM:<a@b.example> RET=", 501, 0, NULL },
	{ "FROM:<a@b.example> RET=FULL RET=FULL", 501, 0, NULL },
	{ "FROM:<a@b.example> RET=FULL ret=HDRS", 501, 0, NULL },
	{ "FROM:<a@b.example> ENVID", 501, 0, NULL },
	{ "FROM:<a@b.example> ENVID=", 501, 0, NULL },
	{ "FROM:<a@b.example> ENVID=a ENVID=a", 501, 0, NULL },
	{ "FROM:<a@b.example> ENVID=a+0Ab", 501, 0, NULL },
	{ "FROM:<a@b.example> ENVID=a+2b", 501, 0, NULL },
	{ "FROM:<a@b.example> ENVID=a+", 501, 0, NULL },
	{ "FROM:<a@b.example> NOTIFY=NEVER", 555, 0, NULL },
	{ "FROM:<a@b.example> ORCPT=rfc822;a@b.example", 555, 0, NULL },
};

static void
test_mail_dsn(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(mail_cases); i++) {
		struct mail_args m;
		struct smtp_reply r;
		int rc;

		memset(&r, 0, sizeof(r));
		rc = smtp_parse_mail(mail_cases[i].arg, true, &m, &r);
		if (mail_cases[i].code == 0) {
			if (rc != 0)
				fail_msg("mail case %zu \"%s\": %d %s %s", i,
				    mail_cases[i].arg, r.code, r.enhanced,
				    r.text);
			assert_int_equal(m.ret, mail_cases[i].ret);
			assert_int_equal(m.envid_given,
			    mail_cases[i].envid != NULL);
			if (mail_cases[i].envid != NULL)
				assert_string_equal(m.envid,
				    mail_cases[i].envid);
		} else if (rc != -1 || r.code != mail_cases[i].code ||
		    strcmp(r.enhanced, "5.5.4") != 0) {
			fail_msg("mail case %zu \"%s\": rc %d reply %d %s, "
			    "expected %d 5.5.4", i, mail_cases[i].arg, rc,
			    r.code, r.enhanced, mail_cases[i].code);
		}
	}
}

/* ---- RCPT TO NOTIFY / ORCPT ----------------------------------------- */

#define NS DSN_NOTIFY_SUCCESS
#define NF DSN_NOTIFY_FAILURE
#define ND DSN_NOTIFY_DELAY
#define NN DSN_NOTIFY_NEVER

static const struct {
	const char *arg;
	bool esmtp;
	int code;               /* 0: accepted */
	unsigned notify;
	const char *orcpt_type; /* NULL: no ORCPT */
	const char *orcpt;
} rcpt_cases[] = {
	{ "TO:<b@c.example>", true, 0, 0, NULL, NULL },
	{ "TO:<b@c.example> NOTIFY=NEVER", true, 0, NN, NULL, NULL },
	{ "TO:<b@c.example> notify=never", true, 0, NN, NULL, NULL },
	{ "TO:<b@c.example> NOTIFY=SUCCESS", true, 0, NS, NULL, NULL },
	{ "TO:<b@c.example> NOTIFY=FAILURE,DELAY", true, 0, NF | ND, NULL,
	    NULL },
	{ "TO:<b@c.example> NOTIFY=DELAY,SUCCESS,FAILURE", true, 0,
	    NS | NF | ND, NULL, NULL },
	{ "TO:<b@c.example> ORCPT=rfc822;b@c.example", true, 0, 0, "rfc822",
	    "b@c.example" },
	{ "TO:<b@c.example> ORCPT=RFC822;x+2By@c.example NOTIFY=FAILURE",
	    true, 0, NF, "RFC822", "x+y@c.example" },
	{ "TO:<b@c.example> ORCPT=rfc822;+22b+20c+22@c.example", true, 0, 0,
	    "rfc822", "\"b c\"@c.example" },
	{ "TO:<b@c.example> ORCPT=x-local;joe", true, 0, 0, "x-local",
	    "joe" },
	{ "TO:<b@c.example>  NOTIFY=FAILURE ", true, 0, NF, NULL, NULL },
	/* errors */
	{ "TO:<b@c.example> NOTIFY=NEVER,FAILURE", true, 501, 0, NULL, NULL },
	{ "TO:<b@c.example> NOTIFY=SUCCESS,NEVER", true, 501, 0, NULL, NULL },
	{ "TO:<b@c.example> NOTIFY=SOMETIMES", true, 501, 0, NULL, NULL },
	{ "TO:<b@c.example> NOTIFY=SUCCESS,", true, 501, 0, NULL, NULL },
	{ "TO:<b@c.example> NOTIFY=,SUCCESS", true, 501, 0, NULL, NULL },
	{ "TO:<b@c.example> NOTIFY=SUCCESS,,DELAY", true, 501, 0, NULL,
	    NULL },
	{ "TO:<b@c.example> NOTIFY=", true, 501, 0, NULL, NULL },
	{ "TO:<b@c.example> NOTIFY", true, 501, 0, NULL, NULL },
	{ "TO:<b@c.example> NOTIFY=NEVER NOTIFY=NEVER", true, 501, 0, NULL,
	    NULL },
	{ "TO:<b@c.example> ORCPT=b@c.example", true, 501, 0, NULL, NULL },
	{ "TO:<b@c.example> ORCPT=;b@c.example", true, 501, 0, NULL, NULL },
	{ "TO:<b@c.example> ORCPT=rfc822;", true, 501, 0, NULL, NULL },
	{ "TO:<b@c.example> ORCPT=rfc822;b+0A@c.example", true, 501, 0, NULL,
	    NULL },
	{ "TO:<b@c.example> ORCPT=rfc822;b+09@c.example", true, 501, 0, NULL,
	    NULL },
	{ "TO:<b@c.example> ORCPT=rfc822;b+2b@c.example", true, 501, 0, NULL,
	    NULL },
	{ "TO:<b@c.example> ORCPT=rf.c822;b@c.example", true, 501, 0, NULL,
	    NULL },
	{ "TO:<b@c.example> ORCPT=rfc822;a ORCPT=rfc822;a", true, 501, 0,
	    NULL, NULL },
	{ "TO:<b@c.example> RET=FULL", true, 555, 0, NULL, NULL },
	{ "TO:<b@c.example> ENVID=x", true, 555, 0, NULL, NULL },
	{ "TO:<b@c.example> NOTIFY=NEVER", false, 501, 0, NULL, NULL },
	{ "TO:<b@c.example>NOTIFY=NEVER", true, 501, 0, NULL, NULL },
};

static void
test_rcpt_dsn(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(rcpt_cases); i++) {
		struct mailbox mb;
		struct rcpt_args a;
		struct smtp_reply r;
		int rc;

		memset(&r, 0, sizeof(r));
		rc = smtp_parse_rcpt_dsn(rcpt_cases[i].arg,
		    rcpt_cases[i].esmtp, false, &mb, &a, &r);
		if (rcpt_cases[i].code == 0) {
			if (rc != 0)
				fail_msg("rcpt case %zu \"%s\": %d %s %s", i,
				    rcpt_cases[i].arg, r.code, r.enhanced,
				    r.text);
			assert_string_equal(mb.addr, "b@c.example");
			assert_int_equal(a.notify, rcpt_cases[i].notify);
			assert_int_equal(a.orcpt_given,
			    rcpt_cases[i].orcpt != NULL);
			if (rcpt_cases[i].orcpt != NULL) {
				assert_string_equal(a.orcpt_type,
				    rcpt_cases[i].orcpt_type);
				assert_string_equal(a.orcpt,
				    rcpt_cases[i].orcpt);
			}
		} else if (rc != -1 || r.code != rcpt_cases[i].code ||
		    strcmp(r.enhanced, "5.5.4") != 0) {
			fail_msg("rcpt case %zu \"%s\": rc %d reply %d %s, "
			    "expected %d 5.5.4", i, rcpt_cases[i].arg, rc,
			    r.code, r.enhanced, rcpt_cases[i].code);
		}
	}
}

/* ORCPT: 500 characters is the limit (the value "rfc822;..."). */
static void
test_orcpt_length(void **state)
{
	char arg[700], val[520];
	struct mailbox mb;
	struct rcpt_args a;
	struct smtp_reply r;

	(void)state;
	memset(val, 'x', sizeof(val));
	memcpy(val, "rfc822;", 7);
	val[500] = '\0';
	snprintf(arg, sizeof(arg), "TO:<b@c.example> ORCPT=%s", val);
	assert_int_equal(smtp_parse_rcpt_dsn(arg, true, false, &mb, &a, &r),
	    0);
	assert_int_equal(strlen(a.orcpt), 493);
	val[500] = 'x';
	val[501] = '\0';
	snprintf(arg, sizeof(arg), "TO:<b@c.example> ORCPT=%s", val);
	assert_int_equal(smtp_parse_rcpt_dsn(arg, true, false, &mb, &a, &r),
	    -1);
	assert_int_equal(r.code, 501);
}

/* ---- queue file DSN lines -------------------------------------------- */

static void
test_spool_roundtrip(void **state)
{
	struct spool_envelope env, back;
	struct buf head = BUF_INIT, err = BUF_INIT;
	char path[] = "/tmp/test_smtp_dsn.XXXXXX";
	int fd;

	(void)state;
	spool_envelope_init(&env);
	strcpy(env.id, "ABC123");
	env.arrival = 1732412345;
	env.sender = xstrdup("alice@example.test");
	env.envid = xstrdup("QQ 3141\nx");   /* LF cannot break the line */
	env.ret = DSN_RET_HDRS;
	spool_envelope_add_rcpt(&env, "bob@remote.test", "bob@orig.test");
	spool_envelope_add_rcpt(&env, "carol@remote.test", NULL);
	spool_envelope_add_rcpt(&env, "dave@remote.test", NULL);
	env.rcpts[0].notify = DSN_NOTIFY_GIVEN | DSN_NOTIFY_NEVER;
	env.rcpts[2].notify = DSN_NOTIFY_GIVEN | DSN_NOTIFY_SUCCESS |
	    DSN_NOTIFY_DELAY;
	spool_envelope_format(&env, &head);
	assert_non_null(strstr(head.data, "\nenvid QQ 3141 x\n"));
	assert_non_null(strstr(head.data, "\nret HDRS\n"));
	assert_non_null(strstr(head.data, "\nnotify 0 NEVER\n"));
	assert_null(strstr(head.data, "\nnotify 1 "));
	assert_non_null(strstr(head.data, "\nnotify 2 SUCCESS,DELAY\n"));
	assert_non_null(strstr(head.data,
	    "\nrcpt P\tbob@remote.test\tbob@orig.test\n"));

	fd = mkstemp(path);
	assert_true(fd >= 0);
	buf_append_str(&head, "Subject: x\n\nbody\n");
	assert_int_equal(write_all(fd, head.data, head.len), 0);
	close(fd);
	assert_int_equal(spool_read(path, &back, &err), 0);
	unlink(path);
	assert_string_equal(back.envid, "QQ 3141 x");
	assert_int_equal(back.ret, DSN_RET_HDRS);
	assert_int_equal(back.rcpt_count, 3);
	assert_int_equal(back.rcpts[0].notify,
	    DSN_NOTIFY_GIVEN | DSN_NOTIFY_NEVER);
	assert_int_equal(back.rcpts[1].notify, 0);
	assert_int_equal(back.rcpts[2].notify, DSN_NOTIFY_GIVEN |
	    DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY);
	assert_string_equal(back.rcpts[0].orcpt, "bob@orig.test");

	/* The one reader of notify lines: an unknown word (a newer
	 * writer's) is ignored and the known ones kept; a list without a
	 * known word counts as not given (failure and delay notices). */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	buf_reset(&head);
	buf_append_str(&head, "dmail-queue 1\nid X1\narrival 1\nsender a@b\n"
	    "rcpt P\tx@r.test\tx@r.test\nrcpt P\ty@r.test\ty@r.test\n"
	    "notify 0 FAILURE,LATER\nnotify 1 SOMETIMES\n\nbody\n");
	assert_int_equal(write_all(fd, head.data, head.len), 0);
	close(fd);
	spool_envelope_free(&back);
	assert_int_equal(spool_read(path, &back, &err), 0);
	unlink(path);
	assert_int_equal(back.rcpts[0].notify,
	    DSN_NOTIFY_GIVEN | DSN_NOTIFY_FAILURE);
	assert_int_equal(back.rcpts[1].notify, 0);

	/* Without DSN parameters no DSN line is written. */
	free(env.envid);
	env.envid = NULL;
	env.ret = DSN_RET_NONE;
	env.rcpts[0].notify = env.rcpts[2].notify = 0;
	spool_envelope_format(&env, &head);
	assert_null(strstr(head.data, "envid"));
	assert_null(strstr(head.data, "\nret "));
	assert_null(strstr(head.data, "notify"));

	spool_envelope_free(&env);
	spool_envelope_free(&back);
	buf_free(&head);
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xtext),
		cmocka_unit_test(test_mail_dsn),
		cmocka_unit_test(test_rcpt_dsn),
		cmocka_unit_test(test_orcpt_length),
		cmocka_unit_test(test_spool_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
