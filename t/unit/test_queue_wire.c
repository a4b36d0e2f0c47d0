/*
 * test_queue_wire.c - cmocka tests of queued/queue_wire.c, the lines
 * between the queue manager and its delivery processes: round trips of
 * every message in both directions (free text made to fit), a table of
 * malformed lines each refused with its reason, the line splitter's
 * limit, and the panic (log_panic: "panic: FILE:LINE:", SIGABRT) when
 * the caller hands the formatter a field the parser would refuse.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "queue_wire.h"

/* The one line in b, without its newline. */
static size_t
one_line(const struct buf *b)
{
	size_t len;

	assert_int_equal(qwire_next_line(b, &len), 1);
	assert_int_equal(len + 1, b->len);
	return len;
}

static void
test_down_round_trip(void **state)
{
	static const size_t one[] = { 0 };
	static const size_t three[] = { 2, 17, 4294967295UL };
	struct buf b = BUF_INIT, again = BUF_INIT, err = BUF_INIT;
	struct qwire_down d;
	size_t many[QWIRE_JOB_RCPTS_MAX];

	(void)state;
	for (size_t k = 0; k < QWIRE_JOB_RCPTS_MAX; k++)
		many[k] = 1000000 + k;
	qwire_fmt_job(&b, 0, "0123456789ABCDEF0123456789ABCDE", one, 1);
	assert_string_equal(b.data, "J 0 0123456789ABCDEF0123456789ABCDE 0\n");
	assert_int_equal(qwire_parse_down(b.data, one_line(&b), &d, &err), 0);
	assert_int_equal(d.type, QWIRE_JOB);
	assert_int_equal(d.entry, 0);
	assert_string_equal(d.id, "0123456789ABCDEF0123456789ABCDE");
	assert_int_equal(d.n, 1);
	assert_int_equal(d.idx[0], 0);

	buf_reset(&b);
	qwire_fmt_job(&b, 4294967295U, "q-1", three, 3);
	assert_string_equal(b.data, "J 4294967295 q-1 2,17,4294967295\n");
	assert_int_equal(qwire_parse_down(b.data, one_line(&b), &d, &err), 0);
	assert_int_equal(d.entry, 4294967295U);
	assert_int_equal(d.n, 3);
	qwire_fmt_job(&again, d.entry, d.id, d.idx, d.n);
	assert_string_equal(again.data, b.data);

	buf_reset(&b);
	qwire_fmt_job(&b, 7, "ID", many, QWIRE_JOB_RCPTS_MAX);
	assert_true(b.len - 1 <= QWIRE_LINE_MAX);
	assert_int_equal(qwire_parse_down(b.data, one_line(&b), &d, &err), 0);
	assert_int_equal(d.n, QWIRE_JOB_RCPTS_MAX);
	assert_int_equal(d.idx[QWIRE_JOB_RCPTS_MAX - 1],
	    many[QWIRE_JOB_RCPTS_MAX - 1]);

	buf_reset(&b);
	qwire_fmt_go(&b);
	assert_string_equal(b.data, "G\n");
	assert_int_equal(qwire_parse_down(b.data, one_line(&b), &d, &err), 0);
	assert_int_equal(d.type, QWIRE_GO);
	buf_free(&b);
	buf_free(&again);
	buf_free(&err);
}

static void
test_up_round_trip(void **state)
{
	struct buf b = BUF_INIT, err = BUF_INIT, big = BUF_INIT;
	struct qwire_up u;

	(void)state;
	qwire_fmt_result(&b, 3, 12, 250, "2.0.0", "mx.example[192.0.2.7]",
	    "250 2.0.0 Ok: queued as X");
	assert_string_equal(b.data, "R 3 12 250 2.0.0\tmx.example[192.0.2.7]"
	    "\t250 2.0.0 Ok: queued as X\n");
	assert_int_equal(qwire_parse_up(b.data, one_line(&b), &u, &err), 0);
	assert_int_equal(u.type, QWIRE_RESULT);
	assert_int_equal(u.entry, 3);
	assert_int_equal(u.rcpt, 12);
	assert_int_equal(u.code, 250);
	assert_string_equal(u.status, "2.0.0");
	assert_string_equal(u.remote, "mx.example[192.0.2.7]");
	assert_string_equal(u.text, "250 2.0.0 Ok: queued as X");

	/* No remote, no reply (connection trouble), hostile text. */
	buf_reset(&b);
	qwire_fmt_result(&b, 0, 0, 0, "4.4.1", NULL,
	    "a\tb\r\nc\x01\x7f" "d \xc3\xa9");
	assert_string_equal(b.data, "R 0 0 0 4.4.1\t\ta b  c  d \xc3\xa9\n");
	assert_int_equal(qwire_parse_up(b.data, one_line(&b), &u, &err), 0);
	assert_int_equal(u.code, 0);
	assert_string_equal(u.remote, "");
	assert_string_equal(u.text, "a b  c  d \xc3\xa9");

	/* Free text over its limit is cut, never refused. */
	for (size_t k = 0; k < QWIRE_TEXT_MAX + 100; k++)
		buf_append_char(&big, 'x');
	buf_reset(&b);
	qwire_fmt_result(&b, 1, 2, 999, "5.123.123", big.data, big.data);
	assert_true(b.len - 1 <= QWIRE_LINE_MAX);
	assert_int_equal(qwire_parse_up(b.data, one_line(&b), &u, &err), 0);
	assert_int_equal(strlen(u.remote), QWIRE_REMOTE_MAX);
	assert_int_equal(strlen(u.text), QWIRE_TEXT_MAX);
	assert_string_equal(u.status, "5.123.123");

	buf_reset(&b);
	qwire_fmt_end(&b, 42);
	assert_string_equal(b.data, "E 42\n");
	assert_int_equal(qwire_parse_up(b.data, one_line(&b), &u, &err), 0);
	assert_int_equal(u.type, QWIRE_END);
	assert_int_equal(u.entry, 42);

	buf_reset(&b);
	qwire_fmt_idle(&b);
	assert_string_equal(b.data, "I\n");
	assert_int_equal(qwire_parse_up(b.data, one_line(&b), &u, &err), 0);
	assert_int_equal(u.type, QWIRE_IDLE);
	buf_free(&b);
	buf_free(&big);
	buf_free(&err);
}

/* Lines with their length (some hold a NUL) and the reason expected. */
struct bad {
	const char *line;
	size_t len;
	const char *why;
};
#define BAD(s, why) { s, sizeof(s) - 1, why }

static const struct bad bad_down[] = {
	BAD("", "not J or G"),
	BAD("G ", "not J or G"),
	BAD("GG", "not J or G"),
	BAD("g", "not J or G"),
	BAD("R 1 2 250 2.0.0\t\tok", "not J or G"),
	BAD("J", "not J or G"),
	BAD("J1 ID 0", "not J or G"),
	BAD("J  1 ID 0", "job entry"),
	BAD("J -1 ID 0", "job entry"),
	BAD("J +1 ID 0", "job entry"),
	BAD("J 01 ID 0", "job entry"),
	BAD("J 4294967296 ID 0", "job entry"),
	BAD("J 1x ID 0", "job entry"),
	BAD("J 1", "job entry"),
	BAD("J 1 ", "queue id"),
	BAD("J 1  0", "queue id"),
	BAD("J 1 ID", "queue id"),
	BAD("J 1 0123456789ABCDEF0123456789ABCDEF 0", "queue id"),
	BAD("J 1 I\x01" "D 0", "queue id"),
	BAD("J 1 I\0D 0", "queue id"),
	BAD("J 1 ID ", "recipient list"),
	BAD("J 1 ID 0,", "recipient list"),
	BAD("J 1 ID ,0", "recipient list"),
	BAD("J 1 ID 0,,1", "recipient list"),
	BAD("J 1 ID 1,1", "recipient list"),
	BAD("J 1 ID 2,1", "recipient list"),
	BAD("J 1 ID 00", "recipient list"),
	BAD("J 1 ID 0 ", "recipient list"),
	BAD("J 1 ID 0 junk", "recipient list"),
	BAD("J 1 ID 0\r", "recipient list"),
	BAD("J 1 ID 0\0", "recipient list"),
	BAD("J 1 ID 4294967296", "recipient list"),
	BAD("J 1 ID 99999999999999999999999", "recipient list"),
};

static const struct bad bad_up[] = {
	BAD("", "not R, E or I"),
	BAD("I ", "not R, E or I"),
	BAD("II", "not R, E or I"),
	BAD("G", "not R, E or I"),
	BAD("J 1 ID 0", "not R, E or I"),
	BAD("E", "end entry"),
	BAD("E ", "end entry"),
	BAD("E 1 ", "end entry"),
	BAD("E 1x", "end entry"),
	BAD("E 01", "end entry"),
	BAD("E 4294967296", "end entry"),
	BAD("E 1\0", "end entry"),
	BAD("R", "not R, E or I"),
	BAD("R ", "result entry"),
	BAD("R x 2 250 2.0.0\t\tok", "result entry"),
	BAD("R 1 250 2.0.0\t\tok", "reply code"),
	BAD("R 1  2 250 2.0.0\t\tok", "recipient"),
	BAD("R 1 -2 250 2.0.0\t\tok", "recipient"),
	BAD("R 1 2 1000 2.0.0\t\tok", "reply code"),
	BAD("R 1 2 -1 2.0.0\t\tok", "reply code"),
	BAD("R 1 2 025 2.0.0\t\tok", "reply code"),
	BAD("R 1 2 250 2.0.0", "status"),
	BAD("R 1 2 250 \t\tok", "status"),
	BAD("R 1 2 250 3.0.0\t\tok", "status"),
	BAD("R 1 2 250 2.0\t\tok", "status"),
	BAD("R 1 2 250 2..0\t\tok", "status"),
	BAD("R 1 2 250 2.0.0.0\t\tok", "status"),
	BAD("R 1 2 250 2.1000.0\t\tok", "status"),
	BAD("R 1 2 250 2.01.0\t\tok", "status"),
	BAD("R 1 2 250 2.0.x\t\tok", "status"),
	BAD("R 1 2 250 2.0.0 \t\tok", "status"),
	BAD("R 1 2 250 2.0.0\tok", "remote"),
	BAD("R 1 2 250 2.0.0\tmx\x01\tok", "remote"),
	BAD("R 1 2 250 2.0.0\tmx\0\tok", "remote"),
	BAD("R 1 2 250 2.0.0\t\tok\tmore", "text"),
	BAD("R 1 2 250 2.0.0\t\tok\r", "text"),
	BAD("R 1 2 250 2.0.0\t\tok\0junk", "text"),
};

static void
check_refused(const struct bad *t, size_t n, bool down)
{
	struct buf err = BUF_INIT, want = BUF_INIT;
	struct qwire_down d;
	struct qwire_up u;

	for (size_t i = 0; i < n; i++) {
		int rc = down ? qwire_parse_down(t[i].line, t[i].len, &d, &err) :
		    qwire_parse_up(t[i].line, t[i].len, &u, &err);

		if (rc != -1)
			fail_msg("accepted: row %zu \"%s\"", i, t[i].line);
		buf_reset(&want);
		buf_printf(&want, "malformed line (%s): \"", t[i].why);
		if (strncmp(buf_cstr(&err), want.data, want.len) != 0)
			fail_msg("row %zu \"%s\": got %s", i, t[i].line,
			    buf_cstr(&err));
	}
	buf_free(&err);
	buf_free(&want);
}

static void
test_malformed_down(void **state)
{
	(void)state;
	check_refused(bad_down, sizeof(bad_down) / sizeof(bad_down[0]), true);
}

static void
test_malformed_up(void **state)
{
	(void)state;
	check_refused(bad_up, sizeof(bad_up) / sizeof(bad_up[0]), false);
}

static void
test_too_many_rcpts(void **state)
{
	struct buf b = BUF_INIT, err = BUF_INIT;
	struct qwire_down d;

	(void)state;
	buf_append_str(&b, "J 1 ID 0");
	for (size_t k = 1; k <= QWIRE_JOB_RCPTS_MAX; k++)
		buf_printf(&b, ",%zu", k);
	assert_int_equal(qwire_parse_down(b.data, b.len, &d, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "(recipient list)"));
	/* The excerpt is cut and printable. */
	assert_non_null(strstr(buf_cstr(&err), "...\""));
	buf_free(&b);
	buf_free(&err);
}

static void
test_next_line(void **state)
{
	struct buf b = BUF_INIT;
	size_t len = 99;

	(void)state;
	assert_int_equal(qwire_next_line(&b, &len), 0);
	buf_append_str(&b, "E 1");
	assert_int_equal(qwire_next_line(&b, &len), 0);
	buf_append_str(&b, "\nI\nR");
	assert_int_equal(qwire_next_line(&b, &len), 1);
	assert_int_equal(len, 3);
	buf_consume(&b, len + 1);
	assert_int_equal(qwire_next_line(&b, &len), 1);
	assert_int_equal(len, 1);
	buf_consume(&b, len + 1);
	assert_int_equal(qwire_next_line(&b, &len), 0);
	/* A line at the limit passes; one byte more is refused, newline
	 * or not. */
	buf_reset(&b);
	for (size_t k = 0; k < QWIRE_LINE_MAX; k++)
		buf_append_char(&b, 'x');
	assert_int_equal(qwire_next_line(&b, &len), 0);
	buf_append_char(&b, '\n');
	assert_int_equal(qwire_next_line(&b, &len), 1);
	assert_int_equal(len, QWIRE_LINE_MAX);
	buf_truncate(&b, QWIRE_LINE_MAX);
	buf_append_str(&b, "x");
	assert_int_equal(qwire_next_line(&b, &len), -1);
	buf_append_str(&b, "\n");
	assert_int_equal(qwire_next_line(&b, &len), -1);
	buf_free(&b);
}

/* Run f in a child with stderr on a pipe: it must die of SIGABRT after
 * logging "panic: queue_wire.c:LINE: ...". */
static void
expect_panic(void (*f)(void))
{
	int fds[2], status;
	char text[4096];
	ssize_t n, got = 0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		signal(SIGABRT, SIG_DFL);
		log_open("test", LOG_TO_STDERR, LOG_LEVEL_FATAL);
		f();
		_exit(0);
	}
	close(fds[1]);
	while ((n = read(fds[0], text + got, sizeof(text) - 1 -
	    (size_t)got)) > 0)
		got += n;
	text[got] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	if (strstr(text, "panic: queue_wire.c:") == NULL)
		fail_msg("no panic line in: %s", text);
}

static void
bad_id(void)
{
	struct buf b = BUF_INIT;
	size_t one = 0;

	qwire_fmt_job(&b, 1, "has space", &one, 1);
}

static void
unordered(void)
{
	struct buf b = BUF_INIT;
	size_t two[] = { 5, 5 };

	qwire_fmt_job(&b, 1, "ID", two, 2);
}

static void
bad_status(void)
{
	struct buf b = BUF_INIT;

	qwire_fmt_result(&b, 1, 2, 250, "2.0", NULL, "ok");
}

static void
test_formatter_panics(void **state)
{
	(void)state;
	expect_panic(bad_id);
	expect_panic(unordered);
	expect_panic(bad_status);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_down_round_trip),
		cmocka_unit_test(test_up_round_trip),
		cmocka_unit_test(test_malformed_down),
		cmocka_unit_test(test_malformed_up),
		cmocka_unit_test(test_too_many_rcpts),
		cmocka_unit_test(test_next_line),
		cmocka_unit_test(test_formatter_panics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
