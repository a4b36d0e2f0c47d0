/*
 * smtp_client.c - outbound SMTP sessions: connect, EHLO, STARTTLS, AUTH
 * PLAIN, pipelined transactions, dot-stuffed data (see smtp_client.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "log.h"
#include "smtp_client.h"
#include "stream.h"
#include "util.h"

/* RFC 5321 4.5.3.2 timeouts, in seconds. */
#define T_GREETING 300
#define T_MAIL 300
#define T_RCPT 300
#define T_DATA 120
#define T_BLOCK 180
#define T_DOT 600
#define T_OTHER 300

struct smtpc {
	const struct smtpc_conf *conf;
	int fd;
	struct stream *st;
	unsigned ext;
	uint64_t size_limit;         /* 0: none advertised */
	char peer[DNS_NAME_MAX + 64];
	char name[DNS_NAME_MAX + 1];
	bool broken;
	unsigned messages;
	char why[SMTPC_TEXT_MAX];    /* the last protocol error, or "" */
};

static void
set_timeout(struct smtpc *c, int seconds)
{
	int ms = seconds * 1000;

	if (c->conf->timeout_cap_ms > 0 && ms > c->conf->timeout_cap_ms)
		ms = c->conf->timeout_cap_ms;
	stream_set_timeout(c->st, ms);
}

static void
net_error(struct smtpc *c, struct smtpc_reply *r, const char *what, int st)
{
	struct buf t = BUF_INIT;

	buf_printf(&t, "%s with %s: %s", what, c->peer,
	    st == STREAM_TIMEOUT ? "timed out" :
	    st == STREAM_EOF ? "connection closed by peer" :
	    c->why[0] != '\0' ? c->why : "connection error");
	r->code = 0;
	r->at = SMTPC_AT_SESSION;
	snprintf(r->text, sizeof(r->text), "%s", t.data);
	buf_free(&t);
	c->broken = true;
}

/* RFC 5321 4.2: %x32-35 %x30-35 %x30-39. */
static int
reply_code(const char *p, size_t len)
{
	if (len < 3 || p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '5' ||
	    p[2] < '0' || p[2] > '9')
		return -1;
	return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

static int
reply_error(struct smtpc_reply *r, unsigned n, const char *why)
{
	r->code = 0;
	snprintf(r->text, sizeof(r->text), "protocol error in reply line %u: "
	    "%s", n + 1, why);
	return -1;
}

/* Append text to r->text (used octets so far), HT as a space. */
static void
reply_text(struct smtpc_reply *r, const char *p, size_t len)
{
	size_t used = strlen(r->text);

	for (size_t i = 0; i < len && used + 1 < sizeof(r->text); i++)
		r->text[used++] = p[i] == '\t' ? ' ' : p[i];
	r->text[used] = '\0';
}

int
smtpc_reply_line(struct smtpc_reply *r, unsigned n, const char *p,
    size_t len)
{
	int code = reply_code(p, len);
	bool last;

	if (code < 0)
		return reply_error(r, n, "no reply code");
	if (len > SMTPC_REPLY_LINE_MAX)
		return reply_error(r, n, "line too long");
	if (len > 3 && p[3] != ' ' && p[3] != '-')
		return reply_error(r, n, "no SP or - after the code");
	for (size_t i = 4; i < len; i++)
		if (((unsigned char)p[i] < 0x20 && p[i] != '\t') ||
		    p[i] == 0x7f)
			return reply_error(r, n, "control character");
	if (n > 0 && code != r->code)
		return reply_error(r, n, "lines with different codes");
	last = len == 3 || p[3] == ' ';
	if (!last && n + 1 >= SMTPC_REPLY_LINES_MAX)
		return reply_error(r, n, "too many lines");
	if (n == 0) {
		r->code = code;
		r->text[0] = '\0';
		reply_text(r, p, len);
	} else if (len > 4) {
		reply_text(r, " ", 1);
		reply_text(r, p + 4, len - 4);
	}
	return last ? 1 : 0;
}

/*
 * Read one (possibly multi-line) reply with smtpc_reply_line(). On EHLO,
 * the lines after the first are also handed to ehlo_line(). Returns the
 * code (> 0) or a stream status (< 0; STREAM_ERROR for a protocol error,
 * whose reason is in r->text).
 */
static int
read_reply(struct smtpc *c, struct smtpc_reply *r,
    void (*ehlo_line)(struct smtpc *, const char *, size_t))
{
	struct buf line = BUF_INIT;
	enum line_ending end;
	int st = 0, more = 0;

	r->code = 0;
	r->text[0] = '\0';
	for (unsigned n = 0; more == 0; n++) {
		st = stream_read_line(c->st, &line, SMTPC_REPLY_LINE_MAX, &end);
		if (st == STREAM_TOOLONG)
			(void)reply_error(r, n, "line too long");
		if (st != STREAM_OK)
			break;
		if (c->conf != NULL && c->conf->trace != NULL)
			c->conf->trace(false, buf_cstr(&line), line.len);
		more = smtpc_reply_line(r, n, buf_cstr(&line), line.len);
		if (more >= 0 && ehlo_line != NULL && n > 0 && line.len > 4)
			ehlo_line(c, line.data + 4, line.len - 4);
	}
	buf_free(&line);
	if (st != STREAM_OK || more < 0) {
		if (r->text[0] != '\0')        /* a protocol error */
			snprintf(c->why, sizeof(c->why), "%s", r->text);
		r->code = 0;
		return st == STREAM_TOOLONG || st == STREAM_OK ? STREAM_ERROR :
		    st;
	}
	return r->code;
}

/* A keyword is word (any case) alone or followed by SP or '=' (AUTH=,
 * old servers). */
static bool
keyword_is(const char *kw, size_t len, const char *word, bool eq)
{
	size_t n = strlen(word);

	return len >= n && strncasecmp(kw, word, n) == 0 && (len == n ||
	    kw[n] == ' ' || (eq && kw[n] == '='));
}

unsigned
smtpc_ehlo_keyword(const char *kw, size_t len, uint64_t *size_limit)
{
	if (keyword_is(kw, len, "PIPELINING", false))
		return SMTPC_EXT_PIPELINING;
	if (keyword_is(kw, len, "STARTTLS", false))
		return SMTPC_EXT_STARTTLS;
	if (keyword_is(kw, len, "8BITMIME", false))
		return SMTPC_EXT_8BITMIME;
	if (keyword_is(kw, len, "DSN", false))
		return SMTPC_EXT_DSN;
	if (keyword_is(kw, len, "SIZE", false)) {
		char digits[24];
		size_t n = len > 5 ? len - 5 : 0;

		if (n >= sizeof(digits))
			n = sizeof(digits) - 1;
		memcpy(digits, kw + 5, n);
		digits[n] = '\0';
		*size_limit = n > 0 ? strtoull(digits, NULL, 10) : 0;
		return SMTPC_EXT_SIZE;
	}
	if (keyword_is(kw, len, "AUTH", true)) {
		for (size_t i = 5; i < len;) {
			size_t w = i;

			while (w < len && kw[w] != ' ')
				w++;
			if (w - i == 5 && strncasecmp(kw + i, "PLAIN", 5) == 0)
				return SMTPC_EXT_AUTH_PLAIN;
			i = w + 1;
		}
	}
	return 0;
}

static void
ehlo_keyword(struct smtpc *c, const char *kw, size_t len)
{
	c->ext |= smtpc_ehlo_keyword(kw, len, &c->size_limit);
}

/* Write one command line (CRLF added), traced when asked. */
static int put_vcmd(struct smtpc *c, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static int
put_vcmd(struct smtpc *c, const char *fmt, va_list ap)
{
	struct buf cmd = BUF_INIT;
	int st;

	buf_vprintf(&cmd, fmt, ap);
	if (c->conf->trace != NULL) {
		/* Never show the credentials. */
		size_t len = strncmp(cmd.data, "AUTH PLAIN ", 11) == 0 ? 10 :
		    cmd.len;
		c->conf->trace(true, cmd.data, len);
	}
	buf_append_str(&cmd, "\r\n");
	st = stream_write(c->st, cmd.data, cmd.len);
	buf_free(&cmd);
	return st;
}

static int
put_cmd(struct smtpc *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
put_cmd(struct smtpc *c, const char *fmt, ...)
{
	va_list ap;
	int st;

	va_start(ap, fmt);
	st = put_vcmd(c, fmt, ap);
	va_end(ap);
	return st;
}

/* Send a command and wait for its reply; code or stream status. */
static int
command(struct smtpc *c, struct smtpc_reply *r, int timeout,
    void (*ehlo_line)(struct smtpc *, const char *, size_t),
    const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int
command(struct smtpc *c, struct smtpc_reply *r, int timeout,
    void (*ehlo_line)(struct smtpc *, const char *, size_t),
    const char *fmt, ...)
{
	va_list ap;
	int st;

	set_timeout(c, timeout);
	va_start(ap, fmt);
	st = put_vcmd(c, fmt, ap);
	va_end(ap);
	if (st != STREAM_OK)
		return st;
	return read_reply(c, r, ehlo_line);
}

/* Non-blocking connect with a timeout; the fd or -1 with reason. */
static int
tcp_connect(const struct dns_addr *a, int timeout_ms, struct buf *why)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	struct pollfd pfd;
	int err = 0, n, one = 1;
	socklen_t elen = sizeof(err);

	if (fd < 0) {
		buf_printf(why, "socket: %s", strerror(errno));
		return -1;
	}
	/* Output leaves in one write per round trip (the stream flushes
	 * before it waits for a reply), so Nagle can only add delay. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		buf_printf(why, "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	do
		n = poll(&pfd, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		buf_printf(why, "connect: timed out");
		close(fd);
		return -1;
	}
	if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 ||
	    err != 0) {
		buf_printf(why, "connect: %s", strerror(err ? err : errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void
addr_text(const struct dns_addr *a, char *out, size_t len)
{
	if (a->ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->ss)->
		    sin6_addr, out, (socklen_t)len);
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->
		    sin_addr, out, (socklen_t)len);
}

/* Does the greeting "220 NAME ..." name us? */
static bool
greets_as(const char *text, const char *us)
{
	size_t n;

	if (strlen(text) < 4 || us == NULL)
		return false;
	text += 4;
	n = strcspn(text, " ");
	return n == strlen(us) && strncasecmp(text, us, n) == 0;
}

static bool
is_loopback(const struct dns_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)&a->ss)->sin_addr.
		    s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&a->ss)->
	    sin6_addr);
}

static int
ehlo(struct smtpc *c, struct smtpc_reply *r)
{
	int code;

	c->ext = 0;
	c->size_limit = 0;
	code = command(c, r, T_OTHER, ehlo_keyword, "EHLO %s", c->conf->helo);
	if (code >= 500 && code < 600)
		code = command(c, r, T_OTHER, NULL, "HELO %s", c->conf->helo);
	return code;
}

static int
auth_plain(struct smtpc *c, struct smtpc_reply *r)
{
	struct buf raw = BUF_INIT;
	unsigned char *b64;
	int code;

	buf_append_char(&raw, '\0');
	buf_append_str(&raw, c->conf->auth_user);
	buf_append_char(&raw, '\0');
	buf_append_str(&raw, c->conf->auth_pass);
	b64 = xmalloc(raw.len * 4 / 3 + 8);
	EVP_EncodeBlock(b64, (const unsigned char *)raw.data, (int)raw.len);
	code = command(c, r, T_OTHER, NULL, "AUTH PLAIN %s", (char *)b64);
	OPENSSL_cleanse(raw.data, raw.len);
	OPENSSL_cleanse(b64, strlen((char *)b64));
	free(b64);
	buf_free(&raw);
	return code;
}

/* Fill err for a failed set-up step; returns NULL after freeing c. */
static struct smtpc *
open_fail(struct smtpc *c, struct smtpc_reply *err, const struct smtpc_reply *r,
    int st, const char *step)
{
	if (st < 0)
		net_error(c, err, step, st);
	else {
		err->code = r->code;
		snprintf(err->text, sizeof(err->text), "%s", r->text);
	}
	smtpc_close(c, st > 0);
	return NULL;
}

struct smtpc *
smtpc_open(const struct smtpc_conf *conf, const struct dns_addr *addr,
    const char *peer_name, struct smtpc_reply *err)
{
	struct smtpc *c = xcalloc(1, sizeof(*c));
	struct smtpc_reply r;
	struct buf why = BUF_INIT;
	char ip[INET6_ADDRSTRLEN];
	int st;

	err->at = SMTPC_AT_SESSION;
	c->conf = conf;
	c->fd = -1;
	addr_text(addr, ip, sizeof(ip));
	snprintf(c->name, sizeof(c->name), "%s", peer_name);
	snprintf(c->peer, sizeof(c->peer), "%s[%s]", peer_name, ip);
	c->fd = tcp_connect(addr, conf->connect_timeout_ms, &why);
	if (c->fd < 0) {
		err->code = 0;
		snprintf(err->text, sizeof(err->text), "%s: %s", c->peer,
		    buf_cstr(&why));
		buf_free(&why);
		smtpc_close(c, false);
		return NULL;
	}
	c->st = stream_new(c->fd, c->fd);
	set_timeout(c, T_GREETING);
	st = read_reply(c, &r, NULL);
	if (st < 0)
		return open_fail(c, err, &r, st, "reading greeting");
	if (st != 220)
		return open_fail(c, err, &r, st, "greeting");
	if (!conf->peer_is_self && greets_as(r.text, conf->helo)) {
		/* An MX or route pointing back at us (RFC 5321 5.1). */
		err->code = 554;
		snprintf(err->text, sizeof(err->text), "554 5.4.6 mail for "
		    "this destination loops back to myself (%s)", c->peer);
		smtpc_close(c, true);
		return NULL;
	}
	st = ehlo(c, &r);
	if (st < 0)
		return open_fail(c, err, &r, st, "EHLO");
	if (st != 250)
		return open_fail(c, err, &r, st, "EHLO");
	if ((c->ext & SMTPC_EXT_STARTTLS) && conf->tls != NULL) {
		st = command(c, &r, T_OTHER, NULL, "STARTTLS");
		if (st == 220) {
			set_timeout(c, T_OTHER);
			if (stream_tls_connect(c->st, conf->tls, c->name) !=
			    STREAM_OK) {
				err->code = 0;
				snprintf(err->text, sizeof(err->text),
				    "TLS handshake with %s failed", c->peer);
				smtpc_close(c, false);
				return NULL;
			}
			st = ehlo(c, &r);
			if (st != 250)
				return open_fail(c, err, &r, st,
				    "EHLO after STARTTLS");
		} else if (st < 0) {
			return open_fail(c, err, &r, st, "STARTTLS");
		}
	}
	if (conf->tls_required && !stream_is_tls(c->st)) {
		err->code = 0;
		snprintf(err->text, sizeof(err->text), "4.7.5 TLS is required "
		    "for this destination, but %s did not offer or complete "
		    "STARTTLS", c->peer);
		smtpc_close(c, true);
		return NULL;
	}
	if (conf->auth_user != NULL) {
		/* Never send the password in clear over a network. */
		if (!stream_is_tls(c->st) && !is_loopback(addr)) {
			err->code = 0;
			snprintf(err->text, sizeof(err->text), "4.7.0 %s did "
			    "not offer STARTTLS: will not send relayhost "
			    "credentials in clear", c->peer);
			smtpc_close(c, true);
			return NULL;
		}
		if (!(c->ext & SMTPC_EXT_AUTH_PLAIN)) {
			err->code = 0;
			snprintf(err->text, sizeof(err->text), "4.7.0 %s does "
			    "not offer AUTH PLAIN%s", c->peer,
			    stream_is_tls(c->st) ? "" : " (without TLS)");
			smtpc_close(c, true);
			return NULL;
		}
		st = auth_plain(c, &r);
		if (st != 235)
			return open_fail(c, err, &r, st, "AUTH");
	}
	return c;
}

/* Size as the peer counts it: every LF becomes CRLF. */
static int
message_size(int fd, off_t off, uint64_t *out)
{
	char block[IO_CHUNK];
	uint64_t n = 0;
	ssize_t got;

	for (;;) {
		got = pread(fd, block, sizeof(block), off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -1;
		if (got == 0)
			break;
		n += (uint64_t)got;
		for (ssize_t i = 0; i < got; i++)
			if (block[i] == '\n')
				n++;
		off += got;
	}
	*out = n;
	return 0;
}

static bool
message_8bit(int fd, off_t off)
{
	char block[IO_CHUNK];
	ssize_t got;

	while ((got = pread(fd, block, sizeof(block), off)) > 0) {
		for (ssize_t i = 0; i < got; i++)
			if ((unsigned char)block[i] & 0x80)
				return true;
		off += got;
	}
	return false;
}

/* Stream the message: LF -> CRLF, dot-stuffing, final ".". */
static int
send_data(struct smtpc *c, int fd, off_t off)
{
	char block[IO_CHUNK];
	bool bol = true;
	ssize_t got;
	int st;

	set_timeout(c, T_BLOCK);
	for (;;) {
		size_t start = 0;

		got = pread(fd, block, sizeof(block), off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return STREAM_ERROR;
		if (got == 0)
			break;
		off += got;
		for (size_t i = 0; i < (size_t)got; i++) {
			if (bol && block[i] == '.') {
				st = stream_write(c->st, ".", 1);
				if (st != STREAM_OK)
					return st;
			}
			bol = false;
			if (block[i] == '\n') {
				if (i > start && (st = stream_write(c->st,
				    block + start, i - start)) != STREAM_OK)
					return st;
				if ((st = stream_write(c->st, "\r\n", 2)) !=
				    STREAM_OK)
					return st;
				start = i + 1;
				bol = true;
			}
		}
		if ((size_t)got > start && (st = stream_write(c->st,
		    block + start, (size_t)got - start)) != STREAM_OK)
			return st;
	}
	if (!bol && (st = stream_write(c->st, "\r\n", 2)) != STREAM_OK)
		return st;
	set_timeout(c, T_DOT);
	return stream_write(c->st, ".\r\n", 3);
}

/* RFC 3461 4: xtext, "+HH" for '+', '=', and anything not printable. */
static void
xtext(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 33 || ch > 126 || ch == '+' || ch == '=')
			buf_printf(out, "+%02X", ch);
		else
			buf_append_char(out, (char)ch);
	}
}

/* One transaction in progress (smtpc_send()). */
struct txn {
	struct smtpc *c;
	const char *sender;
	const char *const *rcpts;
	size_t n;
	int fd;
	off_t off;
	const struct smtpc_dsn *dsn;     /* NULL: none, or not offered */
	struct smtpc_reply *res;
	bool *done;                      /* res[i] is final */
	size_t accepted;                 /* RCPT answered 2xx */
};

/* Give r to every recipient still without a final answer. */
static void
answer_open(struct txn *t, const struct smtpc_reply *r)
{
	for (size_t i = 0; i < t->n; i++)
		if (!t->done[i])
			t->res[i] = *r;
}

/* The connection broke: every recipient still without a final answer
 * gets code 0. Returns -1. */
static int
broken(struct txn *t, enum smtpc_at at, const char *step, int st)
{
	struct smtpc_reply e;

	net_error(t->c, &e, step, st);
	e.at = at;
	answer_open(t, &e);
	return -1;
}

/* The MAIL FROM parameters. False (every res filled with 552) when the
 * message is over the peer's SIZE limit. */
static bool
mail_params(struct txn *t, struct buf *params)
{
	struct smtpc *c = t->c;
	uint64_t size = 0;

	if ((c->ext & SMTPC_EXT_SIZE) && message_size(t->fd, t->off, &size) ==
	    0) {
		if (c->size_limit > 0 && size > c->size_limit) {
			for (size_t i = 0; i < t->n; i++) {
				t->res[i].code = 552;
				t->res[i].at = SMTPC_AT_MAIL;
				snprintf(t->res[i].text, sizeof(t->res[i].text),
				    "552 5.3.4 message size %llu exceeds the "
				    "limit %llu of %s", (unsigned long long)size,
				    (unsigned long long)c->size_limit, c->peer);
			}
			return false;
		}
		buf_printf(params, " SIZE=%llu", (unsigned long long)size);
	}
	if ((c->ext & SMTPC_EXT_8BITMIME) && message_8bit(t->fd, t->off))
		buf_append_str(params, " BODY=8BITMIME");
	if (t->dsn != NULL && t->dsn->ret != NULL)
		buf_printf(params, " RET=%s", t->dsn->ret);
	if (t->dsn != NULL && t->dsn->envid != NULL) {
		buf_append_str(params, " ENVID=");
		xtext(params, t->dsn->envid);
	}
	return true;
}

/* Write RCPT TO for recipient i, with its DSN parameters. */
static int
put_rcpt(struct txn *t, size_t i)
{
	const struct smtpc_dsn *dsn = t->dsn;
	struct buf rp = BUF_INIT;
	int st;

	if (dsn != NULL && dsn->notify != NULL && dsn->notify[i] != NULL &&
	    *dsn->notify[i] != '\0')
		buf_printf(&rp, " NOTIFY=%s", dsn->notify[i]);
	if (dsn != NULL && dsn->orcpt != NULL && dsn->orcpt[i] != NULL &&
	    *dsn->orcpt[i] != '\0') {
		buf_append_str(&rp, " ORCPT=rfc822;");
		xtext(&rp, dsn->orcpt[i]);
	}
	set_timeout(t->c, T_RCPT);
	st = put_cmd(t->c, "RCPT TO:<%s>%s", t->rcpts[i], buf_cstr(&rp));
	buf_free(&rp);
	return st;
}

/* Note recipient i's RCPT reply (in res[i]). */
static void
rcpt_result(struct txn *t, size_t i)
{
	t->res[i].at = SMTPC_AT_RCPT;
	t->done[i] = t->res[i].code / 100 != 2;
	t->accepted += !t->done[i];
}

/*
 * RFC 2920: MAIL, every RCPT and DATA written at once (the stream
 * flushes by itself before it waits for a reply), then their replies
 * read in order. The reply to DATA goes to *r. Returns 0, or -1 when the
 * connection broke.
 */
static int
envelope_pipelined(struct txn *t, const char *params, struct smtpc_reply *r)
{
	struct smtpc *c = t->c;
	struct smtpc_reply mail;
	int st;

	set_timeout(c, T_MAIL);
	st = put_cmd(c, "MAIL FROM:<%s>%s", t->sender, params);
	for (size_t i = 0; i < t->n && st == STREAM_OK; i++)
		st = put_rcpt(t, i);
	if (st == STREAM_OK)
		st = put_cmd(c, "DATA");
	set_timeout(c, T_MAIL);
	if (st == STREAM_OK)
		st = read_reply(c, &mail, NULL);
	if (st < 0)
		return broken(t, SMTPC_AT_MAIL, "MAIL FROM", st);
	mail.at = SMTPC_AT_MAIL;
	for (size_t i = 0; i < t->n; i++) {
		set_timeout(c, T_RCPT);
		st = read_reply(c, &t->res[i], NULL);
		if (st < 0)
			return broken(t, SMTPC_AT_RCPT, "RCPT TO", st);
		if (mail.code / 100 == 2) {
			rcpt_result(t, i);
		} else {
			t->res[i] = mail;
			t->done[i] = true;
		}
	}
	set_timeout(c, T_DATA);
	st = read_reply(c, r, NULL);
	if (st < 0)
		return broken(t, SMTPC_AT_DATA, "DATA", st);
	r->at = SMTPC_AT_DATA;
	return 0;
}

/* MAIL, each RCPT and DATA waiting for each reply. The reply to DATA
 * goes to *r. Returns 0, 1 when the transaction ended before DATA, or
 * -1 when the connection broke. */
static int
envelope_lockstep(struct txn *t, const char *params, struct smtpc_reply *r)
{
	struct smtpc *c = t->c;
	struct smtpc_reply mail;
	int st;

	st = command(c, &mail, T_MAIL, NULL, "MAIL FROM:<%s>%s", t->sender,
	    params);
	if (st < 0)
		return broken(t, SMTPC_AT_MAIL, "MAIL FROM", st);
	if (mail.code / 100 != 2) {
		mail.at = SMTPC_AT_MAIL;
		answer_open(t, &mail);
		return 1;
	}
	for (size_t i = 0; i < t->n; i++) {
		st = put_rcpt(t, i);
		if (st == STREAM_OK)
			st = read_reply(c, &t->res[i], NULL);
		if (st < 0)
			return broken(t, SMTPC_AT_RCPT, "RCPT TO", st);
		rcpt_result(t, i);
	}
	if (t->accepted == 0)
		return 1;
	st = command(c, r, T_DATA, NULL, "DATA");
	if (st < 0)
		return broken(t, SMTPC_AT_DATA, "DATA", st);
	r->at = SMTPC_AT_DATA;
	return 0;
}

/* After the reply r to DATA: the message and the final dot. Returns 0
 * when it was sent, 1 when the transaction ended without it, -1 when the
 * connection broke. */
static int
data_and_dot(struct txn *t, struct smtpc_reply *r)
{
	struct smtpc *c = t->c;
	int st;

	if (r->code != 354) {
		if (r->code >= 400 || t->accepted > 0)
			answer_open(t, r);
		return 1;
	}
	if (t->accepted == 0) {
		/* A peer that says 354 with no recipient: end it empty. */
		st = put_cmd(c, ".");
		if (st == STREAM_OK)
			st = read_reply(c, r, NULL);
		return st < 0 ? broken(t, SMTPC_AT_DOT, "end of DATA", st) : 1;
	}
	st = send_data(c, t->fd, t->off);
	if (st == STREAM_OK)
		st = read_reply(c, r, NULL);
	if (st < 0)
		return broken(t, SMTPC_AT_DOT, "end of DATA", st);
	r->at = SMTPC_AT_DOT;
	answer_open(t, r);
	c->messages++;
	return 0;
}

/* The transaction failed: leave the peer in a clean state. */
static void
reset(struct smtpc *c)
{
	struct smtpc_reply r;
	int st = command(c, &r, T_OTHER, NULL, "RSET");

	if (st < 0 || r.code != 250)
		c->broken = true;
}

int
smtpc_send(struct smtpc *c, const char *sender, const char *const *rcpts,
    size_t n, int fd, off_t off, const struct smtpc_dsn *dsn,
    struct smtpc_reply *res)
{
	struct txn t = { c, sender, rcpts, n, fd, off,
		(c->ext & SMTPC_EXT_DSN) ? dsn : NULL, res,
		xcalloc(n ? n : 1, sizeof(bool)), 0 };
	struct buf params = BUF_INIT;
	struct smtpc_reply r;
	int rc = 0;

	if (c->broken)
		rc = broken(&t, SMTPC_AT_SESSION, "reusing connection",
		    STREAM_ERROR);
	else if (mail_params(&t, &params)) {
		rc = (c->ext & SMTPC_EXT_PIPELINING) ?
		    envelope_pipelined(&t, buf_cstr(&params), &r) :
		    envelope_lockstep(&t, buf_cstr(&params), &r);
		if (rc == 0)
			rc = data_and_dot(&t, &r);
		if (rc == 1) {
			reset(c);
			rc = 0;
		}
	}
	buf_free(&params);
	free(t.done);
	return rc;
}

void
smtpc_close(struct smtpc *c, bool polite)
{
	struct smtpc_reply r;

	if (c == NULL)
		return;
	if (polite && c->st != NULL && !c->broken)
		(void)command(c, &r, 10, NULL, "QUIT");
	stream_free(c->st);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

const char *
smtpc_peer(const struct smtpc *c)
{
	return c->peer;
}

const char *
smtpc_tls(const struct smtpc *c)
{
	return stream_tls_description(c->st);
}

bool
smtpc_has_dsn(const struct smtpc *c)
{
	return (c->ext & SMTPC_EXT_DSN) != 0;
}

unsigned
smtpc_messages(const struct smtpc *c)
{
	return c->messages;
}

int
smtpc_read_reply_from(struct stream *s, bool ehlo, struct smtpc_reply *r,
    unsigned *ext, uint64_t *size_limit)
{
	struct smtpc c;
	int st;

	memset(&c, 0, sizeof(c));
	c.st = s;
	c.fd = -1;
	st = read_reply(&c, r, ehlo ? ehlo_keyword : NULL);
	*ext = c.ext;
	*size_limit = c.size_limit;
	return st;
}
