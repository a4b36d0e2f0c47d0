/*
 * test_smtpc.c - cmocka tests of the SMTP client (common/smtp_client.c)
 * against a scripted server thread on loopback: byte-exact data (LF to
 * CRLF, dot-stuffing, a last line without newline), pipelined commands,
 * SIZE refusal before sending, multi-line and malformed replies, AUTH
 * refused without TLS to a non-loopback peer is covered in t/, and the
 * side-file format (common/queue_info.c) round trip.
 *
 * The reply parser smtpc_reply_line() from a table (test_reply_table):
 * each row is what a server sends and what the one parser makes of it,
 * read line by line and through a stream as on a socket. The rows are
 * the cases where the three readers this parser replaced disagreed:
 * the client's (first line's code, over-long lines cut, 200 lines),
 * dmail-sendmail's (last line's code by atoi(), any first digit) and
 * dmail-bench's (last line's code, first digit 1-5, 64 KiB lines).
 * test_reply_limits checks the line length and line count limits,
 * test_ehlo_keywords the EHLO keyword table.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "dns.h"
#include "queue_info.h"
#include "smtp_client.h"
#include "stream.h"

/* The scripted server: replies sent in order, one per line received
 * (the greeting first, without waiting); "354" switches to data mode
 * until the final dot. Everything received is kept. */
struct script {
	int lfd;
	const char *const *replies;
	struct buf got;
};

static void *
server(void *arg)
{
	struct script *sc = arg;
	int fd = accept(sc->lfd, NULL, NULL);
	char c;
	size_t r = 0;
	bool data = false;
	struct buf line = BUF_INIT;

	if (fd < 0)
		return NULL;
	if (sc->replies[r] != NULL) {
		(void)!write(fd, sc->replies[r], strlen(sc->replies[r]));
		r++;
	}
	while (read(fd, &c, 1) == 1) {
		buf_append_char(&sc->got, c);
		buf_append_char(&line, c);
		if (c != '\n')
			continue;
		if (data) {
			if (strcmp(line.data, ".\r\n") == 0)
				data = false;
			else {
				buf_reset(&line);
				continue;
			}
		}
		buf_reset(&line);
		if (sc->replies[r] == NULL)
			break;
		if (strncmp(sc->replies[r], "354", 3) == 0)
			data = true;
		(void)!write(fd, sc->replies[r], strlen(sc->replies[r]));
		r++;
	}
	buf_free(&line);
	close(fd);
	return NULL;
}

static void
start(struct script *sc, const char *const *replies, struct dns_addr *a,
    pthread_t *th)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
	socklen_t len = sizeof(*sin);

	memset(sc, 0, sizeof(*sc));
	sc->replies = replies;
	memset(a, 0, sizeof(*a));
	sc->lfd = socket(AF_INET, SOCK_STREAM, 0);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(sc->lfd, (struct sockaddr *)sin, len), 0);
	assert_int_equal(listen(sc->lfd, 1), 0);
	assert_int_equal(getsockname(sc->lfd, (struct sockaddr *)sin, &len),
	    0);
	a->len = len;
	assert_int_equal(pthread_create(th, NULL, server, sc), 0);
}

static int
message_fd(const char *text)
{
	int fd = memfd_create("msg", 0);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

static const struct smtpc_conf cconf = {
	.helo = "client.test",
	.connect_timeout_ms = 2000,
	.timeout_cap_ms = 2000,
};

static void
test_data_byte_exact(void **state)
{
	static const char *const replies[] = {
		"220 s.test ESMTP\r\n",
		"250-s.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n"
		"250 8BITMIME\r\n",
		"250 2.1.0 ok\r\n", "250 2.1.5 ok\r\n", "550 5.1.1 no\r\n",
		"354 go\r\n", "250 2.0.0 queued\r\n", "221 bye\r\n", NULL };
	const char *msg = "Subject: t\n\n.leading\n..two\nplain\n.\nlast";
	const char *rcpts[] = { "a@r.test", "b@r.test" };
	struct smtpc_reply res[2], err;
	struct script sc;
	struct dns_addr a;
	struct smtpc *c;
	pthread_t th;
	int fd;

	(void)state;
	start(&sc, replies, &a, &th);
	c = smtpc_open(&cconf, &a, "s.test", &err);
	assert_non_null(c);
	fd = message_fd(msg);
	assert_int_equal(smtpc_send(c, "s@x.test", rcpts, 2, fd, 0, NULL,
	    res), 0);
	assert_int_equal(res[0].code, 250);
	assert_string_equal(res[0].text, "250 2.0.0 queued");
	assert_int_equal(res[1].code, 550);
	assert_string_equal(res[1].text, "550 5.1.1 no");
	smtpc_close(c, true);
	pthread_join(th, NULL);
	/* Pipelined: MAIL, both RCPTs and DATA in one go; SIZE counts CRLF;
	 * dots doubled; the last line gets its CRLF. */
	assert_non_null(strstr(sc.got.data, "EHLO client.test\r\n"
	    "MAIL FROM:<s@x.test> SIZE=45\r\nRCPT TO:<a@r.test>\r\n"
	    "RCPT TO:<b@r.test>\r\nDATA\r\n"
	    "Subject: t\r\n\r\n..leading\r\n...two\r\nplain\r\n..\r\n"
	    "last\r\n.\r\nQUIT\r\n"));
	close(fd);
	close(sc.lfd);
	buf_free(&sc.got);
}

static void
test_size_refused_before_data(void **state)
{
	static const char *const replies[] = {
		"220 s.test\r\n", "250-s.test\r\n250 SIZE 10\r\n",
		"221 bye\r\n", NULL };
	const char *rcpts[] = { "a@r.test" };
	struct smtpc_reply res[1], err;
	struct script sc;
	struct dns_addr a;
	struct smtpc *c;
	pthread_t th;
	int fd;

	(void)state;
	start(&sc, replies, &a, &th);
	c = smtpc_open(&cconf, &a, "s.test", &err);
	assert_non_null(c);
	fd = message_fd("Subject: too big for ten bytes\n");
	assert_int_equal(smtpc_send(c, "s@x.test", rcpts, 1, fd, 0, NULL,
	    res), 0);
	assert_int_equal(res[0].code, 552);
	assert_non_null(strstr(res[0].text, "5.3.4"));
	smtpc_close(c, true);
	pthread_join(th, NULL);
	assert_null(strstr(sc.got.data, "MAIL FROM"));
	close(fd);
	close(sc.lfd);
	buf_free(&sc.got);
}

static void
test_bad_replies(void **state)
{
	static const char *const garbage[] = { "HTTP/1.1 400 Bad\r\n", NULL };
	static const char *const refuse[] = {
		"554-s.test no\r\n554 go away\r\n", NULL };
	static const char *const helo[] = {
		"220 s.test\r\n", "502 what\r\n", "250 s.test\r\n",
		"221 bye\r\n", NULL };
	struct smtpc_reply err;
	struct script sc;
	struct dns_addr a;
	struct smtpc *c;
	pthread_t th;

	(void)state;
	start(&sc, garbage, &a, &th);
	assert_null(smtpc_open(&cconf, &a, "s.test", &err));
	assert_int_equal(err.code, 0);
	pthread_join(th, NULL);
	close(sc.lfd);
	buf_free(&sc.got);

	/* A multi-line refusal keeps both lines' text. */
	start(&sc, refuse, &a, &th);
	assert_null(smtpc_open(&cconf, &a, "s.test", &err));
	assert_int_equal(err.code, 554);
	assert_string_equal(err.text, "554-s.test no go away");
	pthread_join(th, NULL);
	close(sc.lfd);
	buf_free(&sc.got);

	/* EHLO refused: HELO instead. */
	start(&sc, helo, &a, &th);
	c = smtpc_open(&cconf, &a, "s.test", &err);
	assert_non_null(c);
	smtpc_close(c, true);
	pthread_join(th, NULL);
	assert_non_null(strstr(sc.got.data, "EHLO client.test\r\n"
	    "HELO client.test\r\n"));
	close(sc.lfd);
	buf_free(&sc.got);
}

static void
test_qinfo_round_trip(void **state)
{
	char dir[] = "/tmp/test_qinfo.XXXXXX", path[64];
	struct qinfo q, r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ID", dir);
	/* Missing file: empty info, no error. */
	assert_int_equal(qinfo_read(path, &r, 3), 0);
	assert_int_equal(r.attempts, 0);
	qinfo_free(&r);
	qinfo_init(&q, 3);
	q.attempts = 4;
	q.next = 1795833712;
	q.hold = true;
	qinfo_set(&q, 0, 451, "4.3.0", "mx.r.test[192.0.2.1]",
	    "451 4.3.0 later\twith tab\nand newline");
	qinfo_set(&q, 2, 550, "5.1.1", NULL, "550 5.1.1 unknown");
	q.rcpts[2].notified = true;
	assert_int_equal(qinfo_write(path, &q), 0);
	/* Read with fewer recipients: out-of-range lines are ignored. */
	assert_int_equal(qinfo_read(path, &r, 3), 0);
	assert_int_equal(r.attempts, 4);
	assert_int_equal(r.next, 1795833712);
	assert_true(r.hold);
	assert_false(r.warned);
	assert_int_equal(r.rcpts[0].code, 451);
	assert_string_equal(r.rcpts[0].status, "4.3.0");
	assert_string_equal(r.rcpts[0].remote, "mx.r.test[192.0.2.1]");
	assert_string_equal(r.rcpts[0].text,
	    "451 4.3.0 later with tab and newline");
	assert_false(r.rcpts[0].notified);
	assert_string_equal(r.rcpts[1].status, "");
	assert_null(r.rcpts[2].remote);
	assert_true(r.rcpts[2].notified);
	qinfo_free(&r);
	assert_int_equal(qinfo_read(path, &r, 1), 0);
	assert_int_equal(r.rcpt_count, 1);
	qinfo_free(&r);
	qinfo_free(&q);
	unlink(path);
	rmdir(dir);
}

/* What a server sends, and the reply expected: code, or 0 for a
 * protocol error, and the text. Lines end in CRLF or LF. */
struct reply_row {
	const char *in;
	int code;
	const char *text;
};

static const struct reply_row reply_rows[] = {
	{ "250 ok\r\n", 250, "250 ok" },
	{ "250 ok\n", 250, "250 ok" },
	{ "221\r\n", 221, "221" },
	{ "250 \r\n", 250, "250 " },
	/* Multi-line: the text is joined (sendmail and bench kept only
	 * the last line). */
	{ "250-first\r\n250-\r\n250 last\r\n", 250, "250-first last" },
	/* Lines that disagree: the client took the first code, sendmail
	 * and bench the last; RFC 5321 4.2.1 wants one code. */
	{ "250-accepted\r\n550 5.1.1 no\r\n", 0, NULL },
	{ "451-wait\r\n250 ok\r\n", 0, NULL },
	{ "250-a\r\n250-b\r\n251 c\r\n", 0, NULL },
	/* The code: %x32-35 %x30-35 %x30-39 (sendmail took any digits
	 * by atoi(), the client any first digit, bench 1 to 5). */
	{ "199 wait\r\n", 0, NULL },
	{ "099 x\r\n", 0, NULL },
	{ "600 x\r\n", 0, NULL },
	{ "260 x\r\n", 0, NULL },
	{ "2a0 x\r\n", 0, NULL },
	{ "25\r\n", 0, NULL },
	{ "\r\n", 0, NULL },
	{ "HTTP/1.1 400 Bad\r\n", 0, NULL },
	/* After the code: SP, "-" or the end (sendmail took "250x" as a
	 * last line with code 250). */
	{ "250x\r\n", 0, NULL },
	{ "250-ok\r\n250x\r\n", 0, NULL },
	/* Text: HT and printable (the client turned controls into
	 * blanks); octets above 127 pass (UTF-8 from servers). */
	{ "250 a\tb\r\n", 250, "250 a b" },
	{ "250 a\001b\r\n", 0, NULL },
	{ "250 a\rb\r\n", 0, NULL },
	{ "250 caf\303\251\r\n", 250, "250 caf\303\251" },
	{ "554 5.7.1 go away\r\n", 554, "554 5.7.1 go away" },
	{ "354 go ahead\r\n", 354, "354 go ahead" },
};

/* Feed in line by line to smtpc_reply_line(): the code, or 0 after a
 * protocol error; -1 when the input ended before the reply did. */
static int
parse_lines(const char *in, size_t len, struct smtpc_reply *r)
{
	unsigned n = 0;

	for (size_t off = 0; off < len; n++) {
		const char *nl = memchr(in + off, '\n', len - off);
		size_t l;
		int rc;

		if (nl == NULL)
			return -1;
		l = (size_t)(nl - (in + off));
		if (l > 0 && in[off + l - 1] == '\r')
			l--;
		rc = smtpc_reply_line(r, n, in + off, l);
		off = (size_t)(nl - in) + 1;
		if (rc < 0) {
			assert_int_equal(r->code, 0);
			return 0;
		}
		if (rc == 1) {
			assert_int_equal(off, len);   /* one reply a row */
			return r->code;
		}
	}
	return -1;
}

/* The same through a stream, as the client reads from a socket. */
static int
parse_stream(const char *in, size_t len, struct smtpc_reply *r)
{
	int fd = memfd_create("reply", MFD_CLOEXEC);
	struct stream *s;
	unsigned ext;
	uint64_t limit;
	int code;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, in, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	s = stream_new(fd, fd);
	code = smtpc_read_reply_from(s, false, r, &ext, &limit);
	stream_free(s);
	close(fd);
	return code < 0 ? 0 : code;
}

static void
check_reply(const char *in, size_t len, int code, const char *text)
{
	struct smtpc_reply r;

	assert_int_equal(parse_lines(in, len, &r), code);
	if (text != NULL)
		assert_string_equal(r.text, text);
	assert_int_equal(parse_stream(in, len, &r), code);
	if (text != NULL)
		assert_string_equal(r.text, text);
}

static void
test_reply_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(reply_rows) / sizeof(reply_rows[0]);
	    i++) {
		const struct reply_row *row = &reply_rows[i];

		print_message("row %zu\n", i);
		check_reply(row->in, strlen(row->in), row->code, row->text);
	}
}

/* A reply of lines lines ("250-line", then "250 last"), or when len is
 * not 0 of one line of len octets ("250 xxx..."). */
static void
make_reply(struct buf *in, unsigned lines, size_t len)
{
	buf_reset(in);
	if (len > 0) {
		buf_append_str(in, "250 ");
		while (in->len < len)
			buf_append_char(in, 'x');
		buf_append_str(in, "\r\n");
		return;
	}
	for (unsigned n = 1; n < lines; n++)
		buf_append_str(in, "250-line\r\n");
	buf_append_str(in, "250 last\r\n");
}

/* Line length and line count: the client cut long lines and kept 200
 * lines, sendmail refused lines over 2048 octets and had no line limit,
 * bench allowed 64 KiB lines and no line limit. */
static void
test_reply_limits(void **state)
{
	struct buf in = BUF_INIT;
	struct smtpc_reply r;
	char expect[SMTPC_TEXT_MAX];

	(void)state;
	/* A line of SMTPC_REPLY_LINE_MAX octets: fine, text cut; one octet
	 * more: a protocol error. */
	make_reply(&in, 1, SMTPC_REPLY_LINE_MAX);
	memcpy(expect, in.data, sizeof(expect) - 1);
	expect[sizeof(expect) - 1] = '\0';
	check_reply(in.data, in.len, 250, expect);
	make_reply(&in, 1, SMTPC_REPLY_LINE_MAX + 1);
	check_reply(in.data, in.len, 0, NULL);
	/* SMTPC_REPLY_LINES_MAX lines: fine; one more: an error. */
	make_reply(&in, SMTPC_REPLY_LINES_MAX, 0);
	check_reply(in.data, in.len, 250, NULL);
	assert_int_equal(parse_lines(in.data, in.len, &r), 250);
	assert_int_equal(strlen(r.text), SMTPC_TEXT_MAX - 1);
	assert_memory_equal(r.text, "250-line line last", 13);
	make_reply(&in, SMTPC_REPLY_LINES_MAX + 1, 0);
	check_reply(in.data, in.len, 0, NULL);
	buf_free(&in);
}

static void
test_ehlo_keywords(void **state)
{
	static const struct {
		const char *kw;
		unsigned ext;
		uint64_t size;
	} rows[] = {
		{ "PIPELINING", SMTPC_EXT_PIPELINING, 0 },
		{ "pipelining", SMTPC_EXT_PIPELINING, 0 },
		{ "PIPELININGX", 0, 0 },
		{ "STARTTLS", SMTPC_EXT_STARTTLS, 0 },
		{ "8BITMIME", SMTPC_EXT_8BITMIME, 0 },
		{ "DSN", SMTPC_EXT_DSN, 0 },
		{ "DSNX", 0, 0 },
		{ "SIZE 10240000", SMTPC_EXT_SIZE, 10240000 },
		{ "SIZE", SMTPC_EXT_SIZE, 0 },
		{ "AUTH LOGIN PLAIN", SMTPC_EXT_AUTH_PLAIN, 0 },
		{ "AUTH=PLAIN", SMTPC_EXT_AUTH_PLAIN, 0 },
		{ "AUTH LOGIN", 0, 0 },
		{ "AUTH PLAINX", 0, 0 },
		{ "ENHANCEDSTATUSCODES", 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint64_t size = 7;
		unsigned ext = smtpc_ehlo_keyword(rows[i].kw,
		    strlen(rows[i].kw), &size);

		print_message("row %zu\n", i);
		assert_int_equal(ext, rows[i].ext);
		if (ext == SMTPC_EXT_SIZE)
			assert_int_equal(size, rows[i].size);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_byte_exact),
		cmocka_unit_test(test_size_refused_before_data),
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_qinfo_round_trip),
		cmocka_unit_test(test_reply_table),
		cmocka_unit_test(test_reply_limits),
		cmocka_unit_test(test_ehlo_keywords),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
