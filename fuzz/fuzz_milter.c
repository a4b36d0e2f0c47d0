/*
 * fuzz_milter.c - libFuzzer target: the MTA side of the milter protocol
 * (smtpd/milter.c) reading what a milter sends, which DMail does not
 * control: negotiation (SMFIC_OPTNEG reply), the verdict of every stage,
 * and the modifications at the end of the message.
 *
 * Input: the whole byte stream the milter sends, packets of a 4-byte
 * big-endian length and a command byte. A thread plays the milter on a
 * Unix socket: it accepts the connection milter_open() makes and answers
 * each command that wants an answer with the input's packets up to the
 * next verdict (modification packets come before it); once the input is
 * used up it closes its writing side and reads until DMail closes. The session then runs connect, helo, MAIL,
 * RCPT, DATA, a small message, end of message, writes the modified
 * message out and ends. A stream that stops early is a milter that went
 * away (EOF): milter_default_action applies, as in production.
 *
 * Checks: a verdict is one of the enum's values and a reject or
 * tempfail carries a 4xx/5xx reply; the modified message written out
 * has no line over what the milter could send and no NUL from a header
 * name; the number of added recipients stays under MILTER_MODS_MAX.
 * Set up once: spool/tmp in fuzz_tmpdir() for the body file, and a
 * configuration naming the socket there.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "fuzz.h"
#include "milter.h"

struct peer {
	int listen_fd;
	const uint8_t *data;
	size_t size;
};

static struct dmail_conf conf;
static int listen_fd = -1;

static void
setup(void)
{
	const char *dir = fuzz_tmpdir("milter");
	struct sockaddr_un sun;
	struct buf text = BUF_INIT, err = BUF_INIT, p = BUF_INIT;

	buf_printf(&p, "%s/spool", dir);
	if (mkdir(p.data, 0700) < 0)
		abort();
	buf_append_str(&p, "/tmp");
	if (mkdir(p.data, 0700) < 0)
		abort();
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/m.sock", dir);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sun,
	    sizeof(sun)) < 0 || listen(listen_fd, 4) < 0)
		abort();
	buf_printf(&text, "state_dir %s\nsmtpd_milters unix:%s\n"
	    "milter_default_action tempfail\nmilter_connect_timeout 5s\n"
	    "milter_command_timeout 5s\nmilter_content_timeout 5s\n"
	    "max_message_size 1000000\n", dir, sun.sun_path);
	if (conf_load_text("fuzz.conf", text.data, text.len, &conf, &err) < 0) {
		fprintf(stderr, "%s\n", buf_cstr(&err));
		abort();
	}
	buf_free(&text);
	buf_free(&err);
	buf_free(&p);
}

/* The next packet of the input ends a reply: a verdict or the
 * negotiation, not a modification or progress packet. */
static bool
ends_reply(char cmd)
{
	return cmd != 0 && strchr("him+-2ebqp", cmd) == NULL;
}

/* Send input packets up to and including the next one that ends a
 * reply; false when the input is used up. A short tail goes as it is. */
static bool
send_reply(int fd, struct peer *pe, size_t *off)
{
	while (*off < pe->size) {
		size_t left = pe->size - *off, n = left;
		uint32_t len;
		char cmd = 0;

		if (left >= 5) {
			memcpy(&len, pe->data + *off, 4);
			len = ntohl(len);
			if (len <= left - 4) {
				n = 4 + (size_t)len;
				cmd = len > 0 ? (char)pe->data[*off + 4] : 0;
			}
		}
		if (send(fd, pe->data + *off, n, MSG_NOSIGNAL) < 0)
			return false;
		*off += n;
		if (cmd == 0 || ends_reply(cmd))
			break;
	}
	return *off < pe->size;
}

/* The milter: answer each command DMail sends that wants an answer (not
 * macros, abort or quit) with the input's next reply; once the input is
 * used up, close the writing side and drain until DMail closes. */
static void *
peer_run(void *arg)
{
	struct peer *pe = arg;
	size_t off = 0, have = 0;
	unsigned char hdr[5];
	uint32_t skip = 0;
	char sink[65536];
	bool open = pe->size > 0;
	int fd = accept4(pe->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (!open)
		(void)shutdown(fd, SHUT_WR);
	for (;;) {
		ssize_t n = recv(fd, sink, skip > 0 && skip < sizeof(sink) ?
		    skip : have < 5 ? 5 - have : sizeof(sink), 0);

		if (n <= 0)
			break;
		if (skip > 0) {
			skip -= (uint32_t)n;
			continue;
		}
		memcpy(hdr + have, sink, (size_t)n);
		if ((have += (size_t)n) < 5)
			continue;
		have = 0;
		memcpy(&skip, hdr, 4);
		skip = ntohl(skip);
		if (skip == 0)
			continue;
		skip--;                         /* the command byte came */
		if (open && strchr("DAQ", hdr[4]) == NULL &&
		    !send_reply(fd, pe, &off)) {
			(void)shutdown(fd, SHUT_WR);
			open = false;
		}
	}
	close(fd);
	return NULL;
}

static void
check_verdict(enum milter_result res, const struct smtp_reply *r)
{
	if (res > MILTER_SHUTDOWN)
		abort();
	if ((res == MILTER_REJECT || res == MILTER_TEMPFAIL ||
	    res == MILTER_SHUTDOWN) && (r->code < 400 || r->code > 599))
		abort();
}

static int
line_out(void *arg, const char *line, size_t len)
{
	size_t *total = arg;

	if (memchr(line, '\n', len) != NULL)
		abort();                /* a line end inside a line */
	*total += len + 2;
	return 0;
}

static const char *const message[] = {
	"From: Alice <alice@example.test>",
	"To: bob@example.test",
	"Subject: fuzz",
	"",
	"Hello Bob,",
	".dot line unstuffed",
	"bye",
	NULL,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct peer pe = { 0, data, size };
	const char *mail_args[] = { "<alice@example.test>", "SIZE=100" };
	const char *rcpt_args[] = { "<bob@example.test>" };
	struct smtp_reply r;
	struct milter_set *ms;
	enum milter_result res;
	pthread_t th;
	size_t total = 0;

	if (listen_fd < 0)
		setup();
	pe.listen_fd = listen_fd;
	if (pthread_create(&th, NULL, peer_run, &pe) != 0)
		abort();
	ms = milter_open(&conf, &conf.smtpd_milters, "FUZZ");
	milter_macro(ms, "j", "mx.example.test");
	milter_macro(ms, "{client_addr}", "192.0.2.1");
	memset(&r, 0, sizeof(r));
	res = milter_connect(ms, "client.example.test", '4', 40000,
	    "192.0.2.1", &r);
	check_verdict(res, &r);
	if (res == MILTER_CONTINUE) {
		res = milter_helo(ms, "client.example.test", &r);
		check_verdict(res, &r);
	}
	if (res == MILTER_CONTINUE) {
		res = milter_mail(ms, mail_args, 2, &r);
		check_verdict(res, &r);
	}
	if (res == MILTER_CONTINUE) {
		res = milter_rcpt(ms, rcpt_args, 1, &r);
		check_verdict(res, &r);
	}
	if (res == MILTER_CONTINUE) {
		res = milter_data(ms, &r);
		check_verdict(res, &r);
	}
	if (res == MILTER_CONTINUE) {
		for (size_t i = 0; message[i] != NULL; i++)
			if (milter_content_line(ms, message[i],
			    strlen(message[i])) < 0)
				abort();        /* /dev/shm is writable */
		res = milter_eom(ms, &r);
		check_verdict(res, &r);
		if (res == MILTER_CONTINUE || res == MILTER_DISCARD) {
			const struct milter_mods *mods = milter_mods(ms);

			if (mods->add_rcpts.count > MILTER_MODS_MAX ||
			    mods->del_rcpts.count > MILTER_MODS_MAX)
				abort();
			if (milter_write_message(ms, line_out, &total) < 0)
				abort();
			if (total > 2u * 1000000 + 4096 * MILTER_MODS_MAX)
				abort();
		}
		milter_message_end(ms);
	} else
		milter_abort(ms);
	if (getenv("FUZZ_DEBUG") != NULL)
		fprintf(stderr, "result=%d reply=%d bytes=%zu\n", (int)res,
		    r.code, total);
	milter_close(ms);
	pthread_join(th, NULL);
	return 0;
}
