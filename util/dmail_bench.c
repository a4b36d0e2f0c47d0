/*
 * dmail_bench.c - dmail-bench, a load generator for SMTP and POP3 servers.
 *
 *   dmail-bench smtp -H HOST -p PORT -c SESSIONS -n MESSAGES -s SIZE
 *       -r RCPT[,RCPT...] [-f FROM] [-k RCPTS_PER_MESSAGE]
 *       [--wait-maildir DIR[,DIR...]] [--no-pipelining]
 *       [--per-connection N]
 *   dmail-bench pop3 -H HOST -p PORT -c CLIENTS -u USERFMT -w PASSWORD
 *       [--tls] [-l LOOPS] [-P WINDOW]
 *   dmail-bench idle -H HOST -p PORT -c SESSIONS [-t SECONDS] [--tls]
 *
 * One process, one thread, one epoll loop, non-blocking sockets and
 * (for --tls) non-blocking OpenSSL: the tool shares the machine with the
 * server it measures, so it must cost little CPU. It speaks to any server
 * by host and port, so DMail, Postfix and Dovecot can be measured with the
 * same load. What each mode reports:
 *
 *   smtp  SESSIONS connections each send messages one after another on
 *         the same connection (MAIL, RCPT..., DATA; pipelined when the
 *         server offers PIPELINING) until MESSAGES have been sent in all.
 *         Message i goes to K recipients taken round-robin from the -r
 *         list. --per-connection N ends each connection with QUIT after
 *         N messages and opens a new one in its place (N=1: one
 *         connection per message, like Postfix's smtp-source). Replies
 *         4xx (temporary failures: greeting, MAIL, RCPT, DATA, end of
 *         DATA) are counted and reported on their own. Reports messages/s until the last 250, the latency from
 *         the end of DATA (the final ".") to its 250 (p50/p99/max), and
 *         CPU: the tool's own and the whole machine's busy time from
 *         /proc/stat, so CPU per message of the server can be estimated.
 *         --wait-maildir also counts files in each DIR/new and waits until
 *         MESSAGES*K more are there, reporting throughput until then.
 *   pop3  CLIENTS connections, client i logging in as USERFMT with %d
 *         replaced by i (starting at --user-base, default 1), STAT, RETR of
 *         every message (up to WINDOW commands in flight), QUIT; LOOPS
 *         times. Reports messages/s, MB/s and login latency (connect to
 *         +OK after PASS, TLS handshake included) p50/p99.
 *   idle  Opens SESSIONS connections, waits for each greeting and holds
 *         them; once all are held, opens a fresh probe connection every
 *         second for SECONDS and reports its time to greeting.
 *
 * Exit status: 0 when every message/session succeeded, 1 when some failed,
 * 2 on usage errors.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "buf.h"
#include "smtp_client.h"
#include "tool.h"
#include "util.h"

#define READ_CHUNK 65536
#define LINE_MAX_OTHER 65536    /* POP3 and idle: longer lines are garbage */
#define CONNECT_BURST 256       /* connects in progress at once */

enum mode { MODE_SMTP, MODE_POP3, MODE_IDLE };

static struct {
	enum mode mode;
	const char *host, *port;
	unsigned conc;
	unsigned long messages;
	size_t size;
	char **rcpts;
	size_t nrcpt;
	unsigned rcpt_per_msg;
	const char *from;
	const char *helo;
	char **maildirs;
	size_t nmaildir;
	unsigned wait_timeout;
	bool no_pipelining;
	unsigned long per_conn;  /* smtp: messages per connection, 0 = all */
	const char *userfmt, *password;
	unsigned user_base;
	bool tls;
	unsigned window;
	unsigned loops;
	unsigned timeout;       /* seconds without progress on a connection */
	unsigned hold;          /* idle: seconds of probing */
	bool verbose;
} opt = {
	.conc = 10,
	.messages = 1000,
	.size = 4096,
	.rcpt_per_msg = 1,
	.from = "bench@dmail-bench.test",
	.helo = "dmail-bench.test",
	.wait_timeout = 600,
	.user_base = 1,
	.window = 1,
	.loops = 1,
	.timeout = 60,
	.hold = 10,
};

/* ---- time, statistics ------------------------------------------------- */

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct samples {
	uint32_t *v;            /* microseconds */
	size_t n, cap;
};

static void
samples_add(struct samples *s, int64_t us)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Percentile q (0..100) in milliseconds; sorts the samples. */
static double
samples_pct(struct samples *s, double q)
{
	size_t i;

	if (s->n == 0)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), cmp_u32);
	i = (size_t)(q / 100.0 * (double)(s->n - 1) + 0.5);
	return s->v[i] / 1000.0;
}

/* Busy CPU time of the whole machine (all but idle and iowait), seconds. */
static double
machine_busy_s(void)
{
	FILE *f = fopen("/proc/stat", "r");
	unsigned long long v[10] = { 0 };
	long hz = sysconf(_SC_CLK_TCK);
	double busy;

	if (f == NULL)
		return 0;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8) {
		fclose(f);
		return 0;
	}
	fclose(f);
	busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
	return busy / (double)(hz > 0 ? hz : 100);
}

static double
self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Where an SMTP 4xx reply came (the report counts each). */
enum tf_stage { TF_GREET, TF_MAIL, TF_RCPT, TF_DATA, TF_DOT };

/* ---- connections ----------------------------------------------------------- */

enum phase { PH_CONNECTING, PH_HANDSHAKE, PH_OPEN, PH_DEAD };

enum state {
	/* SMTP */
	S_GREET, S_EHLO, S_ENVELOPE, S_DOT, S_RSET, S_QUIT,
	/* POP3 */
	P_GREET, P_USER, P_PASS, P_STAT, P_RETR, P_QUIT,
	/* idle */
	I_GREET, I_HELD, I_PROBE,
};

struct conn {
	unsigned id;
	int fd;
	SSL *ssl;
	enum phase phase;
	enum state state;
	bool probe;
	struct buf in;
	size_t in_off;
	struct buf out;
	size_t out_off;
	uint32_t events;
	int64_t t_connect, t_active, t_data;
	/* SMTP */
	bool pipelining;
	unsigned long msg;
	unsigned step, nsteps, sent_steps;
	unsigned long msgs_begun;
	unsigned rcpt_ok;
	bool mail_ok;
	/* POP3 */
	unsigned long nmsgs, next_retr, retr_done;
	size_t scan;            /* from in_off: terminator not before here */
	unsigned loop;
};

static struct {
	int ep;
	struct addrinfo *ai;
	SSL_CTX *ssl_ctx;
	struct conn **conns;
	unsigned live;          /* connections not finished */
	unsigned connecting;
	unsigned next_start;    /* sessions started so far */
	unsigned long next_msg;
	unsigned long ok, failed;
	unsigned long tempfail[5]; /* smtp: 4xx replies per enum tf_stage */
	unsigned long connections;
	unsigned long sessions_failed;
	uint64_t bytes;
	struct samples lat;
	struct samples login;
	unsigned errors_shown;
	struct buf body;        /* SMTP message body, without headers */
	int64_t t_start, t_last, t_last_ok;
	unsigned held;
} g;

static void conn_close(struct conn *c, bool failed);
static void proto_start(struct conn *c);
static int proto_input(struct conn *c);

static void
say_error(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reports the first few errors; the rest only count. */
static void
say_error(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	if (g.errors_shown++ >= 10 && !opt.verbose) {
		if (g.errors_shown == 11)
			fprintf(stderr, "dmail-bench: more errors not shown\n");
		return;
	}
	fprintf(stderr, "dmail-bench: session %u: ", c ? c->id : 0);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
set_events(struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (c->events == ev)
		return;
	if (epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &e) < 0)
		say_error(c, "epoll_ctl: %s", strerror(errno));
	c->events = ev;
}

static void
conn_send(struct conn *c, const void *data, size_t len)
{
	buf_append(&c->out, data, len);
}

static void
conn_sendf(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
conn_sendf(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
}

/* Starts a connection for session slot id. */
static struct conn *
conn_open(unsigned id, bool probe)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	struct epoll_event e;
	int one = 1;

	c->id = id;
	c->probe = probe;
	c->t_connect = c->t_active = now_us();
	c->fd = socket(g.ai->ai_family, g.ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, g.ai->ai_protocol);
	if (c->fd < 0) {
		say_error(c, "socket: %s", strerror(errno));
		c->phase = PH_DEAD;
		return c;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->phase = PH_CONNECTING;
	if (connect(c->fd, g.ai->ai_addr, g.ai->ai_addrlen) < 0 &&
	    errno != EINPROGRESS) {
		say_error(c, "connect: %s", strerror(errno));
		close(c->fd);
		c->fd = -1;
		c->phase = PH_DEAD;
		return c;
	}
	c->events = EPOLLOUT;
	e.events = c->events;
	e.data.ptr = c;
	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &e) < 0) {
		fprintf(stderr, "dmail-bench: epoll_ctl: %s\n",
		    strerror(errno));
		exit(1);
	}
	g.connecting++;
	g.live++;
	return c;
}

static void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

static void
conn_close(struct conn *c, bool failed)
{
	if (c->phase == PH_DEAD)
		return;
	if (c->phase == PH_CONNECTING)
		g.connecting--;
	c->phase = PH_DEAD;
	if (c->ssl != NULL && !failed)
		SSL_shutdown(c->ssl);
	if (c->fd >= 0) {
		epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	if (failed && !c->probe)
		g.sessions_failed++;
	g.live--;
	g.t_last = now_us();
}

/* Writes pending output; 0, or -1 when the connection failed. */
static int
conn_flush(struct conn *c)
{
	while (c->out_off < c->out.len) {
		size_t len = c->out.len - c->out_off;
		const char *p = c->out.data + c->out_off;
		if (c->ssl != NULL) {
			/* SSL_get_error() reads the per-thread error queue,
			 * shared by all connections here: start clean. */
			ERR_clear_error();
			int n = SSL_write(c->ssl, p, len > INT32_MAX ?
			    INT32_MAX : (int)len);
			if (n > 0) {
				c->out_off += (size_t)n;
				continue;
			}
			int e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
				break;
			say_error(c, "TLS write failed");
			return -1;
		} else {
			ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
			if (n > 0) {
				c->out_off += (size_t)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			say_error(c, "write: %s", strerror(errno));
			return -1;
		}
	}
	if (c->out_off == c->out.len) {
		buf_reset(&c->out);
		c->out_off = 0;
		set_events(c, EPOLLIN);
	} else {
		set_events(c, EPOLLIN | EPOLLOUT);
	}
	return 0;
}

/* Reads what is available; 1 data read, 0 nothing yet, -1 EOF/error. */
static int
conn_fill(struct conn *c)
{
	int got = 0;

	for (;;) {
		buf_reserve(&c->in, READ_CHUNK);
		char *p = c->in.data + c->in.len;
		size_t room = c->in.cap - c->in.len - 1;
		if (c->ssl != NULL) {
			ERR_clear_error();
			int n = SSL_read(c->ssl, p, room > INT32_MAX ?
			    INT32_MAX : (int)room);
			if (n > 0) {
				c->in.len += (size_t)n;
				c->in.data[c->in.len] = '\0';
				got = 1;
				continue;
			}
			int e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return got;
			return got ? 1 : -1;
		} else {
			ssize_t n = read(c->fd, p, room);
			if (n > 0) {
				c->in.len += (size_t)n;
				c->in.data[c->in.len] = '\0';
				got = 1;
				if ((size_t)n < room)
					return 1;
				continue;
			}
			if (n == 0)
				return got ? 1 : -1;
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return got;
			return got ? 1 : -1;
		}
	}
}

static void
conn_handshake(struct conn *c)
{
	int n;

	ERR_clear_error();
	n = SSL_connect(c->ssl);

	if (n == 1) {
		c->phase = PH_OPEN;
		set_events(c, EPOLLIN);
		proto_start(c);
		return;
	}
	int e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_WANT_READ)
		set_events(c, EPOLLIN);
	else if (e == SSL_ERROR_WANT_WRITE)
		set_events(c, EPOLLOUT);
	else {
		unsigned long err = ERR_get_error();
		say_error(c, "TLS handshake failed: %s",
		    err ? ERR_error_string(err, NULL) : "connection closed");
		conn_close(c, true);
	}
}

static void
conn_event(struct conn *c, uint32_t ev)
{
	c->t_active = now_us();
	if (c->phase == PH_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err != 0) {
			say_error(c, "connect: %s", strerror(err));
			conn_close(c, true);
			return;
		}
		g.connecting--;
		if (opt.tls) {
			c->ssl = SSL_new(g.ssl_ctx);
			SSL_set_fd(c->ssl, c->fd);
			SSL_set_tlsext_host_name(c->ssl, opt.host);
			c->phase = PH_HANDSHAKE;
			conn_handshake(c);
		} else {
			c->phase = PH_OPEN;
			set_events(c, EPOLLIN);
			proto_start(c);
		}
		return;
	}
	if (c->phase == PH_HANDSHAKE) {
		conn_handshake(c);
		return;
	}
	if (c->phase != PH_OPEN)
		return;
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		int r = conn_fill(c);
		if (r > 0 && proto_input(c) < 0)
			return;
		if (r < 0 && c->phase == PH_OPEN) {
			/* Process what came before the end. */
			if (c->in.len > c->in_off && proto_input(c) < 0)
				return;
			if (c->phase == PH_OPEN) {
				bool done = (c->state == S_QUIT ||
				    c->state == P_QUIT);
				if (!done)
					say_error(c, "connection closed by "
					    "server");
				conn_close(c, !done);
			}
			return;
		}
	}
	if (c->phase == PH_OPEN && conn_flush(c) < 0)
		conn_close(c, true);
}

/* ---- reply parsing ----------------------------------------------------------- */

/* Next complete line at in_off: start and length without CRLF/LF. 1 found,
 * 0 need more input, -1 line longer than max. */
static int
next_line(struct conn *c, size_t max, const char **line, size_t *len)
{
	const char *p = c->in.data + c->in_off;
	size_t avail = c->in.len - c->in_off;
	const char *nl = memchr(p, '\n', avail);

	if (nl == NULL)
		return avail > max + 1 ? -1 : 0;
	*line = p;
	*len = (size_t)(nl - p);
	if (*len > 0 && p[*len - 1] == '\r')
		(*len)--;
	c->in_off += (size_t)(nl - p) + 1;
	return 1;
}

/* A complete SMTP reply (all its lines, read by the client's parser,
 * smtp_client.h): code and text in r, and whether a line is the EHLO
 * keyword PIPELINING. 1 found, 0 need more, -1 protocol error. */
static int
smtp_reply(struct conn *c, struct smtpc_reply *r, bool *pipelining)
{
	size_t save = c->in_off;
	uint64_t size;

	*pipelining = false;
	for (unsigned n = 0;; n++) {
		const char *l;
		size_t len;
		int more, got = next_line(c, SMTPC_REPLY_LINE_MAX, &l,
		    &len);

		if (got <= 0) {
			c->in_off = save;
			return got;
		}
		more = smtpc_reply_line(r, n, l, len);
		if (more < 0)
			return -1;
		if (n > 0 && len > 4 && smtpc_ehlo_keyword(l + 4, len - 4,
		    &size) == SMTPC_EXT_PIPELINING)
			*pipelining = true;
		if (more == 1)
			return 1;
	}
}

static void
in_compact(struct conn *c)
{
	if (c->in_off > 0) {
		buf_consume(&c->in, c->in_off);
		c->in_off = 0;
	}
}

/* ---- SMTP ------------------------------------------------------------------ */

static const char *
smtp_rcpt(unsigned long msg, unsigned k)
{
	return opt.rcpts[(msg * opt.rcpt_per_msg + k) % opt.nrcpt];
}

/* Headers of message msg; the same length for every message (as long
 * as all recipients have the same length). */
static void
smtp_headers(struct buf *b, unsigned long msg)
{
	buf_printf(b, "From: <%s>\r\nTo: <%s>\r\nSubject: dmail-bench "
	    "%010lu\r\nDate: ", opt.from, smtp_rcpt(msg, 0), msg);
	rfc5322_date(time(NULL), true, b);
	buf_append_str(b, "\r\nMessage-ID: ");
	message_id("dmail-bench.test", b);
	buf_append_str(b, "\r\n\r\n");
}

static void
smtp_build_body(void)
{
	static const char text[] = "The quick brown fox jumps over the lazy "
	    "dog, dmail-bench filler text 0123456789 ";
	/* Headers have a fixed length (numbers padded), body the rest. */
	struct buf hdr = BUF_INIT;
	size_t rem, pos = 0;

	smtp_headers(&hdr, 0);
	rem = opt.size > hdr.len ? opt.size - hdr.len : 0;
	buf_free(&hdr);
	if (rem == 1)
		rem = 0;
	buf_reset(&g.body);
	/* Lines of 80 characters and CRLF, the last one shorter. */
	while (rem > 0) {
		size_t n = rem > 84 ? 80 : rem - 2;
		for (size_t i = 0; i < n; i++)
			buf_append_char(&g.body, text[pos++ % (sizeof(text) - 1)]);
		buf_append_str(&g.body, "\r\n");
		rem -= n + 2;
	}
}


/* Sends the envelope commands that may go now: all of them with
 * PIPELINING, else the next one. */
static void
smtp_send_steps(struct conn *c)
{
	while (c->sent_steps < c->nsteps &&
	    (c->pipelining || c->sent_steps == c->step)) {
		unsigned s = c->sent_steps++;
		if (s == 0)
			conn_sendf(c, "MAIL FROM:<%s>\r\n", opt.from);
		else if (s < c->nsteps - 1)
			conn_sendf(c, "RCPT TO:<%s>\r\n", smtp_rcpt(c->msg,
			    s - 1));
		else
			conn_send(c, "DATA\r\n", 6);
	}
}

static void
smtp_next_message(struct conn *c)
{
	if (g.next_msg >= opt.messages ||
	    (opt.per_conn > 0 && c->msgs_begun >= opt.per_conn)) {
		conn_send(c, "QUIT\r\n", 6);
		c->state = S_QUIT;
		return;
	}
	c->msg = g.next_msg++;
	c->msgs_begun++;
	c->step = 0;
	c->sent_steps = 0;
	c->nsteps = opt.rcpt_per_msg + 2;
	c->rcpt_ok = 0;
	c->mail_ok = false;
	c->state = S_ENVELOPE;
	smtp_send_steps(c);
}

static void
smtp_send_message(struct conn *c)
{
	smtp_headers(&c->out, c->msg);
	buf_append(&c->out, g.body.data, g.body.len);
	conn_send(c, ".\r\n", 3);
	c->t_data = now_us();
	c->state = S_DOT;
}

/* Counts a 4xx reply by the command it answers. */
static void
smtp_count_tempfail(const struct conn *c)
{
	if (c->state == S_GREET || c->state == S_EHLO)
		g.tempfail[TF_GREET]++;
	else if (c->state == S_DOT)
		g.tempfail[TF_DOT]++;
	else if (c->state == S_ENVELOPE)
		g.tempfail[c->step == 0 ? TF_MAIL : c->step < c->nsteps - 1 ?
		    TF_RCPT : TF_DATA]++;
}

static int
smtp_input(struct conn *c)
{
	for (;;) {
		struct smtpc_reply reply;
		bool pipe;
		int r = smtp_reply(c, &reply, &pipe);
		int code = reply.code;
		const char *text = reply.text;

		if (r == 0)
			break;
		if (r < 0) {
			say_error(c, "malformed reply: %s", reply.text);
			conn_close(c, true);
			return -1;
		}
		if (code / 100 == 4)
			smtp_count_tempfail(c);
		switch (c->state) {
		case S_GREET:
			if (code != 220) {
				say_error(c, "greeting: %s", text);
				conn_close(c, true);
				return -1;
			}
			conn_sendf(c, "EHLO %s\r\n", opt.helo);
			c->state = S_EHLO;
			break;
		case S_EHLO:
			if (code != 250) {
				say_error(c, "EHLO: %s", text);
				conn_close(c, true);
				return -1;
			}
			/* smtp_reply() looked at every line of the reply. */
			c->pipelining = pipe && !opt.no_pipelining;
			smtp_next_message(c);
			break;
		case S_ENVELOPE: {
			unsigned s = c->step++;
			if (s == 0) {
				c->mail_ok = code / 100 == 2;
				if (!c->mail_ok)
					say_error(c, "MAIL: %s", text);
			} else if (s < c->nsteps - 1) {
				if (code / 100 == 2)
					c->rcpt_ok++;
				else
					say_error(c, "RCPT: %s", text);
			} else {
				/* reply to DATA */
				if (code == 354) {
					smtp_send_message(c);
					break;
				}
				say_error(c, "DATA: %s", text);
				g.failed++;
				conn_send(c, "RSET\r\n", 6);
				c->state = S_RSET;
				break;
			}
			if (!c->pipelining) {
				/* Without pipelining, stop early on failure. */
				if ((s == 0 && !c->mail_ok) ||
				    (s == c->nsteps - 2 && c->rcpt_ok == 0)) {
					g.failed++;
					conn_send(c, "RSET\r\n", 6);
					c->state = S_RSET;
					break;
				}
				smtp_send_steps(c);
			}
			break;
		}
		case S_DOT:
			if (code == 250) {
				int64_t t = now_us();
				samples_add(&g.lat, t - c->t_data);
				g.ok++;
				g.t_last_ok = t;
			} else {
				say_error(c, "end of DATA: %s", text);
				g.failed++;
			}
			smtp_next_message(c);
			break;
		case S_RSET:
			smtp_next_message(c);
			break;
		case S_QUIT:
			conn_close(c, false);
			return -1;
		default:
			break;
		}
	}
	in_compact(c);
	return 0;
}

/* ---- POP3 ------------------------------------------------------------------ */

static void
pop3_send_retrs(struct conn *c)
{
	while (c->next_retr <= c->nmsgs &&
	    c->next_retr - c->retr_done - 1 < opt.window)
		conn_sendf(c, "RETR %lu\r\n", c->next_retr++);
}

/* A complete multi-line response at in_off: 1 found (consumed, *ok set,
 * *octets the body size), 0 need more, -1 garbage. */
static int
pop3_multiline(struct conn *c, bool *ok, size_t *octets)
{
	const char *p = c->in.data + c->in_off;
	size_t avail = c->in.len - c->in_off;
	const char *nl = memchr(p, '\n', avail), *end;

	if (nl == NULL)
		return avail > LINE_MAX_OTHER ? -1 : 0;
	if (avail >= 4 && memcmp(p, "-ERR", 4) == 0) {
		*ok = false;
		*octets = 0;
		c->in_off += (size_t)(nl - p) + 1;
		return 1;
	}
	if (avail < 3 || memcmp(p, "+OK", 3) != 0)
		return -1;
	/* The terminating ".CRLF" follows the CRLF that ends the status line
	 * (empty body) or the last body line. */
	{
		const char *from = nl - 1;
		if (p + c->scan > from)
			from = p + c->scan;
		end = memmem(from, avail - (size_t)(from - p), "\r\n.\r\n", 5);
	}
	if (end == NULL) {
		/* Next time, search only the new bytes (and 4 before). */
		c->scan = avail >= 4 ? avail - 4 : 0;
		return 0;
	}
	c->scan = 0;
	*ok = true;
	*octets = end + 2 > nl + 1 ? (size_t)(end + 2 - (nl + 1)) : 0;
	c->in_off = (size_t)(end + 5 - c->in.data);
	return 1;
}

static void
pop3_login_user(struct conn *c)
{
	/* USERFMT has exactly one %d (checked in parse_args). */
	const char *pc = strstr(opt.userfmt, "%d");

	conn_sendf(c, "USER %.*s%u%s\r\n", (int)(pc - opt.userfmt),
	    opt.userfmt, c->id + opt.user_base, pc + 2);
	c->state = P_USER;
}

static int
pop3_input(struct conn *c)
{
	for (;;) {
		const char *l;
		size_t len;
		int r;

		if (c->state == P_RETR) {
			bool ok;
			size_t octets;
			r = pop3_multiline(c, &ok, &octets);
			if (r == 0)
				break;
			if (r < 0) {
				say_error(c, "malformed RETR response");
				conn_close(c, true);
				return -1;
			}
			c->retr_done++;
			if (ok) {
				g.ok++;
				g.bytes += octets;
			} else {
				g.failed++;
				say_error(c, "RETR failed");
			}
			if (c->retr_done == c->nmsgs) {
				conn_send(c, "QUIT\r\n", 6);
				c->state = P_QUIT;
			} else {
				pop3_send_retrs(c);
			}
			continue;
		}
		r = next_line(c, LINE_MAX_OTHER, &l, &len);
		if (r == 0)
			break;
		if (r < 0) {
			say_error(c, "line too long");
			conn_close(c, true);
			return -1;
		}
		bool ok = len >= 3 && memcmp(l, "+OK", 3) == 0;
		if (!ok) {
			say_error(c, "%s: %.*s",
			    c->state == P_GREET ? "greeting" :
			    c->state == P_USER ? "USER" :
			    c->state == P_PASS ? "PASS" :
			    c->state == P_STAT ? "STAT" : "QUIT",
			    (int)(len > 200 ? 200 : len), l);
			conn_close(c, true);
			return -1;
		}
		switch (c->state) {
		case P_GREET:
			pop3_login_user(c);
			break;
		case P_USER:
			conn_sendf(c, "PASS %s\r\n", opt.password);
			c->state = P_PASS;
			break;
		case P_PASS:
			samples_add(&g.login, now_us() - c->t_connect);
			conn_send(c, "STAT\r\n", 6);
			c->state = P_STAT;
			break;
		case P_STAT: {
			unsigned long n = 0;
			if (len > 4)
				n = strtoul(l + 4, NULL, 10);
			c->nmsgs = n;
			c->next_retr = 1;
			c->retr_done = 0;
			if (n == 0) {
				conn_send(c, "QUIT\r\n", 6);
				c->state = P_QUIT;
			} else {
				c->state = P_RETR;
				pop3_send_retrs(c);
			}
			break;
		}
		case P_QUIT:
			conn_close(c, false);
			return -1;
		default:
			break;
		}
	}
	in_compact(c);
	return 0;
}

/* ---- idle ------------------------------------------------------------------ */

static struct samples probe_lat;

static int
idle_input(struct conn *c)
{
	const char *l;
	size_t len;
	int r = next_line(c, LINE_MAX_OTHER, &l, &len);

	if (r == 0)
		return 0;
	if (r < 0 || len < 1 || (l[0] != '2' && l[0] != '+')) {
		say_error(c, "bad greeting");
		conn_close(c, true);
		return -1;
	}
	if (c->state == I_GREET) {
		c->state = I_HELD;
		g.held++;
	} else if (c->state == I_PROBE) {
		samples_add(&probe_lat, now_us() - c->t_connect);
		conn_close(c, false);
		return -1;
	}
	in_compact(c);
	return 0;
}

/* ---- dispatch ------------------------------------------------------- */

static void
proto_start(struct conn *c)
{
	switch (opt.mode) {
	case MODE_SMTP: c->state = S_GREET; break;
	case MODE_POP3: c->state = P_GREET; break;
	case MODE_IDLE: c->state = c->probe ? I_PROBE : I_GREET; break;
	}
}

static int
proto_input(struct conn *c)
{
	switch (opt.mode) {
	case MODE_SMTP: return smtp_input(c);
	case MODE_POP3: return pop3_input(c);
	case MODE_IDLE: return idle_input(c);
	}
	return 0;
}

/* ---- the loop -------------------------------------------------------- */

/* Opens session slots while there is room for more connects. */
static void
start_sessions(void)
{
	while (g.next_start < opt.conc && g.connecting < CONNECT_BURST) {
		unsigned id = g.next_start++;
		g.conns[id] = conn_open(id, false);
		if (g.conns[id]->phase == PH_DEAD)
			g.sessions_failed++;
	}
}

/* Runs until no connection is live (or, for idle, until told to stop);
 * returns when done(). */
static void
run_loop(bool (*done)(void), void (*tick)(void))
{
	struct epoll_event ev[256];
	int64_t last_check = now_us();

	while (!done()) {
		int n = epoll_wait(g.ep, ev, 256, 100);
		if (n < 0 && errno != EINTR) {
			perror("dmail-bench: epoll_wait");
			exit(1);
		}
		for (int i = 0; i < n; i++)
			conn_event(ev[i].data.ptr, ev[i].events);
		start_sessions();
		if (tick != NULL)
			tick();
		int64_t t = now_us();
		if (t - last_check > 1000000) {
			last_check = t;
			for (unsigned i = 0; i < g.next_start; i++) {
				struct conn *c = g.conns[i];
				if (c == NULL || c->phase == PH_DEAD ||
				    (c->state == I_HELD))
					continue;
				if (t - c->t_active > (int64_t)opt.timeout *
				    1000000) {
					say_error(c, "no progress for %u s",
					    opt.timeout);
					conn_close(c, true);
				}
			}
		}
	}
}

static bool
all_done(void)
{
	return g.next_start >= opt.conc && g.live == 0;
}

/* ---- Maildir counting ------------------------------------------------- */

static long
count_new(void)
{
	long total = 0;

	for (size_t i = 0; i < opt.nmaildir; i++) {
		char path[4096];
		DIR *d;
		struct dirent *de;
		snprintf(path, sizeof(path), "%s/new", opt.maildirs[i]);
		d = opendir(path);
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				total++;
		closedir(d);
	}
	return total;
}

/* ---- modes ------------------------------------------------------------ */

static void
print_cpu(double busy0, double self0, unsigned long n, const char *what)
{
	double busy = machine_busy_s() - busy0, self = self_cpu_s() - self0;

	printf("cpu: machine busy %.2f s, dmail-bench %.2f s, rest (server "
	    "and others) %.2f s", busy, self, busy - self);
	if (n > 0)
		printf(" = %.3f ms per %s", (busy - self) * 1000.0 / (double)n,
		    what);
	printf("\n");
}

/* --per-connection: a slot whose connection ended with QUIT opens the
 * next one while messages remain. */
static void
smtp_tick(void)
{
	for (unsigned i = 0; i < g.next_start; i++) {
		struct conn *c = g.conns[i];

		if (c == NULL || c->phase != PH_DEAD || c->state != S_QUIT ||
		    g.next_msg >= opt.messages)
			continue;
		conn_free(c);
		g.conns[i] = conn_open(i, false);
		g.connections++;
		if (g.conns[i]->phase == PH_DEAD)
			g.sessions_failed++;
	}
}

static int
run_smtp(void)
{
	long base = 0;
	double busy0, self0, secs;

	smtp_build_body();
	if (opt.nmaildir > 0)
		base = count_new();
	busy0 = machine_busy_s();
	self0 = self_cpu_s();
	g.t_start = now_us();
	start_sessions();
	g.connections = g.next_start;
	run_loop(all_done, opt.per_conn > 0 ? smtp_tick : NULL);
	secs = (double)((g.ok > 0 ? g.t_last_ok : g.t_last) - g.t_start) / 1e6;
	printf("smtp: %lu messages of %zu bytes to %u recipient(s) each, %u "
	    "sessions: ok=%lu failed=%lu sessions_failed=%lu\n", opt.messages,
	    opt.size, opt.rcpt_per_msg, opt.conc, g.ok, g.failed,
	    g.sessions_failed);
	printf("smtp: %lu connections, temporary failures (4xx replies): "
	    "%lu (greeting/EHLO %lu, MAIL %lu, RCPT %lu, DATA %lu, end of "
	    "DATA %lu)\n", g.connections, g.tempfail[TF_GREET] +
	    g.tempfail[TF_MAIL] + g.tempfail[TF_RCPT] + g.tempfail[TF_DATA] +
	    g.tempfail[TF_DOT], g.tempfail[TF_GREET], g.tempfail[TF_MAIL],
	    g.tempfail[TF_RCPT], g.tempfail[TF_DATA], g.tempfail[TF_DOT]);
	printf("smtp: %.3f s until the last 250: %.1f messages/s\n", secs,
	    secs > 0 ? (double)g.ok / secs : 0.0);
	printf("latency end of DATA to 250: p50=%.2f ms p99=%.2f ms "
	    "max=%.2f ms\n", samples_pct(&g.lat, 50), samples_pct(&g.lat, 99),
	    samples_pct(&g.lat, 100));
	if (opt.nmaildir > 0) {
		long want = (long)(g.ok * opt.rcpt_per_msg);
		long have = count_new() - base;
		int64_t deadline = now_us() + (int64_t)opt.wait_timeout *
		    1000000;
		while (have < want && now_us() < deadline) {
			usleep(10000);
			have = count_new() - base;
		}
		secs = (double)(now_us() - g.t_start) / 1e6;
		printf("maildir: %ld of %ld files in new/ after %.3f s: %.1f "
		    "messages/s%s\n", have, want, secs, secs > 0 ?
		    (double)have / opt.rcpt_per_msg / secs : 0.0,
		    have < want ? " (TIMED OUT)" : "");
		if (have < want)
			g.failed++;
	}
	print_cpu(busy0, self0, g.ok, "message");
	return g.failed == 0 && g.sessions_failed == 0 &&
	    g.ok == opt.messages ? 0 : 1;
}

static void
pop3_tick(void)
{
	/* Start the next loop of a finished client. */
	for (unsigned i = 0; i < g.next_start; i++) {
		struct conn *c = g.conns[i];
		if (c != NULL && c->phase == PH_DEAD && c->state == P_QUIT &&
		    c->loop + 1 < opt.loops) {
			unsigned loop = c->loop + 1;
			conn_free(c);
			g.conns[i] = conn_open(i, false);
			g.conns[i]->loop = loop;
			if (g.conns[i]->phase == PH_DEAD)
				g.sessions_failed++;
		}
	}
}

static int
run_pop3(void)
{
	double busy0 = machine_busy_s(), self0 = self_cpu_s(), secs;

	g.t_start = now_us();
	start_sessions();
	run_loop(all_done, pop3_tick);
	secs = (double)(g.t_last - g.t_start) / 1e6;
	printf("pop3: %u clients x %u loop(s)%s: messages ok=%lu failed=%lu "
	    "sessions_failed=%lu\n", opt.conc, opt.loops, opt.tls ?
	    " over TLS" : "", g.ok, g.failed, g.sessions_failed);
	printf("pop3: %.3f s: %.1f messages/s, %.2f MB/s\n", secs,
	    secs > 0 ? (double)g.ok / secs : 0.0,
	    secs > 0 ? (double)g.bytes / 1e6 / secs : 0.0);
	printf("login latency (connect to +OK after PASS): p50=%.2f ms "
	    "p99=%.2f ms max=%.2f ms (%zu logins)\n", samples_pct(&g.login, 50),
	    samples_pct(&g.login, 99), samples_pct(&g.login, 100), g.login.n);
	print_cpu(busy0, self0, g.ok, "message");
	return g.failed == 0 && g.sessions_failed == 0 ? 0 : 1;
}

static int64_t idle_probe_next, idle_probe_end;
static unsigned idle_probes;
static struct conn *idle_probe;

static bool
idle_done(void)
{
	if (idle_probe_end != 0 && now_us() >= idle_probe_end &&
	    (idle_probe == NULL || idle_probe->phase == PH_DEAD))
		return true;
	return g.next_start >= opt.conc && g.live == 0;
}

static void
idle_tick(void)
{
	int64_t t = now_us();

	if (idle_probe_end == 0) {
		if (g.next_start < opt.conc || g.connecting > 0 ||
		    g.held + g.sessions_failed < opt.conc)
			return;
		printf("idle: %u sessions held (%lu failed) after %.2f s\n",
		    g.held, g.sessions_failed, (double)(t - g.t_start) / 1e6);
		fflush(stdout);
		idle_probe_end = t + (int64_t)opt.hold * 1000000;
		idle_probe_next = t;
	}
	/* A probe that is never greeted must not stall the run. */
	if (idle_probe != NULL && idle_probe->phase != PH_DEAD &&
	    t - idle_probe->t_connect > (int64_t)opt.timeout * 1000000) {
		say_error(idle_probe, "probe not greeted within %u s",
		    opt.timeout);
		conn_close(idle_probe, true);
	}
	if (t >= idle_probe_next && t < idle_probe_end &&
	    (idle_probe == NULL || idle_probe->phase == PH_DEAD)) {
		conn_free(idle_probe);
		idle_probe = conn_open(opt.conc + idle_probes, true);
		idle_probes++;
		idle_probe_next = t + 1000000;
	}
}

static int
run_idle(void)
{
	unsigned still = 0;

	g.t_start = now_us();
	start_sessions();
	run_loop(idle_done, idle_tick);
	for (unsigned i = 0; i < g.next_start; i++)
		if (g.conns[i] != NULL && g.conns[i]->phase == PH_OPEN)
			still++;
	printf("idle: %u of %u sessions still open at the end; %u probes, "
	    "%zu greeted: time to greeting p50=%.2f ms max=%.2f ms\n", still,
	    opt.conc, idle_probes, probe_lat.n, samples_pct(&probe_lat, 50),
	    samples_pct(&probe_lat, 100));
	return still == opt.conc && probe_lat.n == idle_probes &&
	    samples_pct(&probe_lat, 100) < 1000 ? 0 : 1;
}

/* ---- options ----------------------------------------------------------- */

static const char *const usage_lines[] = {
	"smtp -H HOST -p PORT -c SESSIONS -n MESSAGES -s SIZE",
	"           -r RCPT[,RCPT...] [-f FROM] [-k RCPTS_PER_MESSAGE]",
	"           [--wait-maildir DIR[,DIR...]] [--wait-timeout SEC] "
	    "[--no-pipelining]",
	"           [--per-connection N]",
	"pop3 -H HOST -p PORT -c CLIENTS -u USERFMT -w PASSWORD",
	"           [--tls] [--user-base N] [-l LOOPS] [-P WINDOW]",
	"idle -H HOST -p PORT -c SESSIONS [-t SECONDS] [--tls]",
	"  common: [-T TIMEOUT_SEC] [-v]",
	NULL };

static struct tool tool = {
	.name = "dmail-bench",
	.usage = usage_lines,
	.usage_status = 2,
	.log_level = LOG_LEVEL_WARN,
	.no_faults = true,
};

static void __attribute__((noreturn))
usage(void)
{
	tool_usage(&tool);
}

static char **
split_list(const char *s, size_t *n)
{
	char *copy = xstrdup(s), *save = NULL, **v = NULL;

	*n = 0;
	for (char *w = strtok_r(copy, ",", &save); w != NULL;
	     w = strtok_r(NULL, ",", &save)) {
		v = xrealloc(v, (*n + 1) * sizeof(*v));
		v[(*n)++] = w;
	}
	return v;
}

static unsigned long
num_arg(const char *s, const char *what)
{
	char *end;
	unsigned long v, mult = 1;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end == 'k' || *end == 'K')
		mult = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		mult = 1024 * 1024, end++;
	if (errno != 0 || end == s || *end != '\0') {
		fprintf(stderr, "dmail-bench: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v * mult;
}

static void
parse_args(int argc, char **argv)
{
	enum { O_WAIT = 256, O_WAIT_TIMEOUT, O_NOPIPE, O_TLS, O_BASE,
		O_PERCONN };
	static const struct option longopts[] = {
		{ "wait-maildir", required_argument, NULL, O_WAIT },
		{ "wait-timeout", required_argument, NULL, O_WAIT_TIMEOUT },
		{ "no-pipelining", no_argument, NULL, O_NOPIPE },
		{ "tls", no_argument, NULL, O_TLS },
		{ "user-base", required_argument, NULL, O_BASE },
		{ "per-connection", required_argument, NULL, O_PERCONN },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "smtp") == 0)
		opt.mode = MODE_SMTP;
	else if (strcmp(argv[1], "pop3") == 0)
		opt.mode = MODE_POP3;
	else if (strcmp(argv[1], "idle") == 0)
		opt.mode = MODE_IDLE;
	else
		usage();
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "H:p:c:n:s:r:f:k:u:w:l:P:t:T:v",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': opt.host = optarg; break;
		case 'p': opt.port = optarg; break;
		case 'c': opt.conc = (unsigned)num_arg(optarg, "-c"); break;
		case 'n': opt.messages = num_arg(optarg, "-n"); break;
		case 's': opt.size = num_arg(optarg, "-s"); break;
		case 'r': opt.rcpts = split_list(optarg, &opt.nrcpt); break;
		case 'f': opt.from = optarg; break;
		case 'k': opt.rcpt_per_msg = (unsigned)num_arg(optarg, "-k");
			break;
		case 'u': opt.userfmt = optarg; break;
		case 'w': opt.password = optarg; break;
		case 'l': opt.loops = (unsigned)num_arg(optarg, "-l"); break;
		case 'P': opt.window = (unsigned)num_arg(optarg, "-P"); break;
		case 't': opt.hold = (unsigned)num_arg(optarg, "-t"); break;
		case 'T': opt.timeout = (unsigned)num_arg(optarg, "-T"); break;
		case 'v': opt.verbose = true; break;
		case O_WAIT: opt.maildirs = split_list(optarg, &opt.nmaildir);
			break;
		case O_WAIT_TIMEOUT:
			opt.wait_timeout = (unsigned)num_arg(optarg,
			    "--wait-timeout");
			break;
		case O_NOPIPE: opt.no_pipelining = true; break;
		case O_TLS: opt.tls = true; break;
		case O_BASE: opt.user_base = (unsigned)num_arg(optarg,
			    "--user-base");
			break;
		case O_PERCONN: opt.per_conn = num_arg(optarg,
			    "--per-connection");
			break;
		default: usage();
		}
	}
	if (optind != argc || opt.host == NULL || opt.port == NULL ||
	    opt.conc == 0 || opt.timeout == 0)
		usage();
	if (opt.mode == MODE_SMTP && (opt.nrcpt == 0 || opt.messages == 0 ||
	    opt.rcpt_per_msg == 0))
		usage();
	if (opt.mode == MODE_POP3 && (opt.userfmt == NULL ||
	    opt.password == NULL || opt.window == 0 || opt.loops == 0))
		usage();
	if (opt.mode == MODE_POP3) {
		/* USERFMT must hold exactly one %d (and no other %). */
		const char *pc = strchr(opt.userfmt, '%');
		if (pc == NULL || pc[1] != 'd' || strchr(pc + 2, '%') != NULL) {
			fprintf(stderr, "dmail-bench: -u needs one %%d, e.g. "
			    "user%%d@example.test\n");
			exit(2);
		}
	}
}

int
main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct rlimit rl;
	int rc;

	tool_start(&tool, argc, argv);
	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	/* Many sessions need many descriptors. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((rc = getaddrinfo(opt.host, opt.port, &hints, &g.ai)) != 0) {
		fprintf(stderr, "dmail-bench: %s:%s: %s\n", opt.host, opt.port,
		    gai_strerror(rc));
		return 2;
	}
	if (opt.tls) {
		g.ssl_ctx = SSL_CTX_new(TLS_client_method());
		if (g.ssl_ctx == NULL) {
			fprintf(stderr, "dmail-bench: cannot create TLS "
			    "context\n");
			return 1;
		}
		SSL_CTX_set_verify(g.ssl_ctx, SSL_VERIFY_NONE, NULL);
		/* The output buffer may grow (move) between write retries. */
		SSL_CTX_set_mode(g.ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
		    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
		SSL_CTX_set_options(g.ssl_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	}
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	if (g.ep < 0) {
		perror("dmail-bench: epoll_create1");
		return 1;
	}
	g.conns = xcalloc(opt.conc, sizeof(*g.conns));
	switch (opt.mode) {
	case MODE_SMTP: rc = run_smtp(); break;
	case MODE_POP3: rc = run_pop3(); break;
	default: rc = run_idle(); break;
	}
	fflush(stdout);
	for (unsigned i = 0; i < g.next_start; i++)
		conn_free(g.conns[i]);
	conn_free(idle_probe);
	free(g.conns);
	buf_free(&g.body);
	if (g.ssl_ctx != NULL)
		SSL_CTX_free(g.ssl_ctx);
	freeaddrinfo(g.ai);
	return rc;
}
