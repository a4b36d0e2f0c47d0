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

/* Reply lines: RFC 5321 says 512, be lenient with what peers send. */
#define REPLY_LINE_MAX 2048
#define REPLY_LINES_MAX 200

#define EXT_PIPELINING 0x01
#define EXT_STARTTLS 0x02
#define EXT_SIZE 0x04
#define EXT_AUTH_PLAIN 0x08
#define EXT_8BITMIME 0x10
#define EXT_DSN 0x20

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
	r->code = 0;
	snprintf(r->text, sizeof(r->text), "%s with %s: %s", what, c->peer,
	    st == STREAM_TIMEOUT ? "timed out" :
	    st == STREAM_EOF ? "connection closed by peer" :
	    "connection error");
	c->broken = true;
}

/*
 * Read one (possibly multi-line) reply. The text keeps the first line's
 * code and joins continuation lines' text with spaces. On EHLO, lines
 * are also handed to ehlo_line(). Returns the code (> 0) or a stream
 * status (< 0).
 */
static int
read_reply(struct smtpc *c, struct smtpc_reply *r,
    void (*ehlo_line)(struct smtpc *, const char *))
{
	struct buf line = BUF_INIT;
	enum line_ending end;
	int code = -1;
	unsigned n;
	size_t used = 0;

	r->code = 0;
	r->text[0] = '\0';
	for (n = 0; n < REPLY_LINES_MAX; n++) {
		int st = stream_read_line(c->st, &line, REPLY_LINE_MAX, &end);
		const char *p = buf_cstr(&line);
		int this;

		if (st == STREAM_TOOLONG)
			st = STREAM_OK;         /* keep the first part */
		if (st != STREAM_OK) {
			buf_free(&line);
			return st;
		}
		if (line.len < 3 || !isdigit((unsigned char)p[0]) ||
		    !isdigit((unsigned char)p[1]) ||
		    !isdigit((unsigned char)p[2]) ||
		    (line.len > 3 && p[3] != ' ' && p[3] != '-')) {
			buf_free(&line);
			return STREAM_ERROR;    /* not SMTP */
		}
		this = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		if (code < 0)
			code = this;
		if (ehlo_line != NULL && n > 0 && line.len > 4)
			ehlo_line(c, p + 4);
		/* Collect the text: "CODE text text2 ...". */
		if (used == 0) {
			used = (size_t)snprintf(r->text, sizeof(r->text),
			    "%.*s", (int)line.len, p);
		} else if (ehlo_line == NULL && line.len > 4 &&
		    used + 2 < sizeof(r->text)) {
			used += (size_t)snprintf(r->text + used,
			    sizeof(r->text) - used, " %s", p + 4);
		}
		if (used >= sizeof(r->text))
			used = sizeof(r->text) - 1;
		if (line.len == 3 || p[3] == ' ')
			break;
	}
	buf_free(&line);
	if (n == REPLY_LINES_MAX)
		return STREAM_ERROR;
	/* Printable text only: it ends up in logs and DSNs. */
	for (char *q = r->text; *q != '\0'; q++)
		if ((unsigned char)*q < 0x20 || (unsigned char)*q == 0x7f)
			*q = ' ';
	r->code = code;
	return code;
}

static void
ehlo_keyword(struct smtpc *c, const char *kw)
{
	if (strncasecmp(kw, "PIPELINING", 10) == 0 &&
	    (kw[10] == '\0' || kw[10] == ' '))
		c->ext |= EXT_PIPELINING;
	else if (strncasecmp(kw, "STARTTLS", 8) == 0 &&
	    (kw[8] == '\0' || kw[8] == ' '))
		c->ext |= EXT_STARTTLS;
	else if (strncasecmp(kw, "8BITMIME", 8) == 0)
		c->ext |= EXT_8BITMIME;
	else if (strncasecmp(kw, "DSN", 3) == 0 &&
	    (kw[3] == '\0' || kw[3] == ' '))
		c->ext |= EXT_DSN;
	else if (strncasecmp(kw, "SIZE", 4) == 0 &&
	    (kw[4] == '\0' || kw[4] == ' ')) {
		c->ext |= EXT_SIZE;
		if (kw[4] == ' ')
			c->size_limit = strtoull(kw + 5, NULL, 10);
	} else if (strncasecmp(kw, "AUTH", 4) == 0 &&
	    (kw[4] == ' ' || kw[4] == '=')) {
		const char *p = kw + 5;
		while (*p != '\0') {
			size_t n = strcspn(p, " ");
			if (n == 5 && strncasecmp(p, "PLAIN", 5) == 0)
				c->ext |= EXT_AUTH_PLAIN;
			p += n;
			p += strspn(p, " ");
		}
	}
}

/* Send a command and wait for its reply; code or stream status. */
static int
command(struct smtpc *c, struct smtpc_reply *r, int timeout,
    void (*ehlo_line)(struct smtpc *, const char *), const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int
command(struct smtpc *c, struct smtpc_reply *r, int timeout,
    void (*ehlo_line)(struct smtpc *, const char *), const char *fmt, ...)
{
	struct buf cmd = BUF_INIT;
	va_list ap;
	int st;

	va_start(ap, fmt);
	buf_vprintf(&cmd, fmt, ap);
	va_end(ap);
	buf_append_str(&cmd, "\r\n");
	set_timeout(c, timeout);
	st = stream_write(c->st, cmd.data, cmd.len);
	buf_free(&cmd);
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
	if (greets_as(r.text, conf->helo)) {
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
	if ((c->ext & EXT_STARTTLS) && conf->tls != NULL) {
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
		if (!(c->ext & EXT_AUTH_PLAIN)) {
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

static void
copy_reply(struct smtpc_reply *dst, const struct smtpc_reply *src)
{
	dst->code = src->code;
	memcpy(dst->text, src->text, sizeof(dst->text));
}

/* Mark every recipient still without an answer as a network failure. */
static int
broken(struct smtpc *c, struct smtpc_reply *res, size_t n, bool *done,
    const char *step, int st)
{
	struct smtpc_reply e;

	net_error(c, &e, step, st);
	for (size_t i = 0; i < n; i++)
		if (!done[i])
			copy_reply(&res[i], &e);
	free(done);
	return -1;
}

int
smtpc_send(struct smtpc *c, const char *sender, const char *const *rcpts,
    size_t n, int fd, off_t off, const struct smtpc_dsn *dsn,
    struct smtpc_reply *res)
{
	bool pipe = (c->ext & EXT_PIPELINING) != 0;
	bool *done = xcalloc(n ? n : 1, sizeof(bool));
	struct buf params = BUF_INIT;
	struct smtpc_reply mail, r;
	size_t i, accepted = 0;
	uint64_t size = 0;
	int st;

	if (c->broken)
		return broken(c, res, n, done, "reusing connection",
		    STREAM_ERROR);
	if ((c->ext & EXT_SIZE) && message_size(fd, off, &size) == 0) {
		if (c->size_limit > 0 && size > c->size_limit) {
			for (i = 0; i < n; i++) {
				res[i].code = 552;
				snprintf(res[i].text, sizeof(res[i].text),
				    "552 5.3.4 message size %llu exceeds the "
				    "limit %llu of %s", (unsigned long long)size,
				    (unsigned long long)c->size_limit, c->peer);
			}
			free(done);
			return 0;
		}
		buf_printf(&params, " SIZE=%llu", (unsigned long long)size);
	}
	if ((c->ext & EXT_8BITMIME) && message_8bit(fd, off))
		buf_append_str(&params, " BODY=8BITMIME");
	if (!(c->ext & EXT_DSN))
		dsn = NULL;
	if (dsn != NULL && dsn->ret != NULL)
		buf_printf(&params, " RET=%s", dsn->ret);
	if (dsn != NULL && dsn->envid != NULL) {
		buf_append_str(&params, " ENVID=");
		xtext(&params, dsn->envid);
	}

	/* MAIL, RCPT..., DATA: all written before reading when pipelining;
	 * the stream flushes by itself before it waits for a reply. */
	set_timeout(c, T_MAIL);
	st = stream_printf(c->st, "MAIL FROM:<%s>%s\r\n", sender,
	    buf_cstr(&params));
	buf_free(&params);
	if (st == STREAM_OK && !pipe)
		st = read_reply(c, &mail, NULL);
	if (st < 0)
		return broken(c, res, n, done, "MAIL FROM", st);
	if (!pipe && mail.code / 100 != 2) {
		for (i = 0; i < n; i++)
			copy_reply(&res[i], &mail);
		free(done);
		goto reset;
	}
	for (i = 0; i < n; i++) {
		struct buf rp = BUF_INIT;

		if (dsn != NULL && dsn->notify != NULL &&
		    dsn->notify[i] != NULL && *dsn->notify[i] != '\0')
			buf_printf(&rp, " NOTIFY=%s", dsn->notify[i]);
		if (dsn != NULL && dsn->orcpt != NULL &&
		    dsn->orcpt[i] != NULL && *dsn->orcpt[i] != '\0') {
			buf_append_str(&rp, " ORCPT=rfc822;");
			xtext(&rp, dsn->orcpt[i]);
		}
		set_timeout(c, T_RCPT);
		st = stream_printf(c->st, "RCPT TO:<%s>%s\r\n", rcpts[i],
		    buf_cstr(&rp));
		buf_free(&rp);
		if (st == STREAM_OK && !pipe) {
			st = read_reply(c, &res[i], NULL);
			if (st > 0) {
				done[i] = res[i].code / 100 != 2;
				accepted += res[i].code / 100 == 2;
			}
		}
		if (st < 0)
			return broken(c, res, n, done, "RCPT TO", st);
	}
	if (pipe) {
		st = stream_puts(c->st, "DATA\r\n");
		if (st == STREAM_OK)
			st = read_reply(c, &mail, NULL);
		if (st < 0)
			return broken(c, res, n, done, "MAIL FROM", st);
		for (i = 0; i < n; i++) {
			set_timeout(c, T_RCPT);
			st = read_reply(c, &res[i], NULL);
			if (st < 0)
				return broken(c, res, n, done, "RCPT TO", st);
			if (mail.code / 100 != 2)
				copy_reply(&res[i], &mail);
			done[i] = res[i].code / 100 != 2;
			accepted += res[i].code / 100 == 2;
		}
		set_timeout(c, T_DATA);
		st = read_reply(c, &r, NULL);
		if (st < 0)
			return broken(c, res, n, done, "DATA", st);
	} else {
		if (accepted == 0) {
			free(done);
			goto reset;
		}
		set_timeout(c, T_DATA);
		st = command(c, &r, T_DATA, NULL, "DATA");
		if (st < 0)
			return broken(c, res, n, done, "DATA", st);
	}
	if (r.code != 354) {
		if (r.code >= 400 || accepted > 0) {
			for (i = 0; i < n; i++)
				if (!done[i])
					copy_reply(&res[i], &r);
		}
		free(done);
		goto reset;
	}
	if (accepted == 0) {
		/* A peer that says 354 with no recipient: end it empty. */
		st = stream_puts(c->st, ".\r\n");
		if (st == STREAM_OK)
			st = read_reply(c, &r, NULL);
		free(done);
		if (st < 0) {
			c->broken = true;
			return -1;
		}
		goto reset;
	}
	st = send_data(c, fd, off);
	if (st == STREAM_OK)
		st = read_reply(c, &r, NULL);
	if (st < 0)
		return broken(c, res, n, done, "end of DATA", st);
	for (i = 0; i < n; i++)
		if (!done[i])
			copy_reply(&res[i], &r);
	free(done);
	c->messages++;
	return 0;
reset:
	/* The transaction failed: leave the peer in a clean state. */
	st = command(c, &r, T_OTHER, NULL, "RSET");
	if (st < 0 || r.code != 250)
		c->broken = true;
	return 0;
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
	return (c->ext & EXT_DSN) != 0;
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
