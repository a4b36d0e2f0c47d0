/*
 * test_smtpc.c - cmocka tests of the SMTP client (common/smtp_client.c)
 * against a scripted server thread on loopback: byte-exact data (LF to
 * CRLF, dot-stuffing, a last line without newline), pipelined commands,
 * SIZE refusal before sending, multi-line and malformed replies, AUTH
 * refused without TLS to a non-loopback peer is covered in t/, and the
 * side-file format (common/queue_info.c) round trip.
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_byte_exact),
		cmocka_unit_test(test_size_refused_before_data),
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_qinfo_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
