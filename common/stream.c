/*
 * stream.c - buffered bounded I/O with timeouts and optional TLS.
 *
 * Waiting: a plain (not TLS) socket used for both directions stays in
 * blocking mode and, while no deadline is set, input waits in recv() itself
 * with SO_RCVTIMEO as the timeout: one system call per command instead of
 * poll() then read(). Output on it uses MSG_DONTWAIT, and everything else
 * (pipes, separate read and write descriptors, TLS, a deadline) is
 * non-blocking with poll() for the waits.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "log.h"
#include "stream.h"
#include "util.h"

#define STREAM_RBUF_SIZE 16384
#define STREAM_WBUF_FLUSH 16384
/* Most bytes handed to one SSL_write() (its length is an int). */
#define STREAM_TLS_WRITE_MAX 65536

struct stream {
	int rfd, wfd;
	SSL *ssl;
	bool blocking_socket;   /* rfd == wfd, a socket, left blocking */
	int rcvtimeo_ms;        /* SO_RCVTIMEO now set on it; -2: not yet */
	int timeout_ms;
	int64_t deadline_ms;
	int line_limit_ms;      /* stream_set_line_limit(); 0: none */
	char rbuf[STREAM_RBUF_SIZE];
	size_t rstart, rend;
	struct buf wbuf;
	uint64_t bytes_in, bytes_out;
	bool eof;
	char tls_desc[96];
};

struct stream *
stream_new(int rfd, int wfd)
{
	struct stream *s = xcalloc(1, sizeof(*s));

	s->rfd = rfd;
	s->wfd = wfd;
	s->timeout_ms = -1;
	s->rcvtimeo_ms = -2;
	if (rfd == wfd && fd_is_socket(rfd)) {
		s->blocking_socket = true;
		fd_set_nonblock(rfd, false);
		return s;
	}
	fd_set_nonblock(rfd, true);
	if (wfd != rfd)
		fd_set_nonblock(wfd, true);
	return s;
}

void
stream_free(struct stream *s)
{
	if (s == NULL)
		return;
	if (s->ssl != NULL) {
		SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
	}
	buf_free(&s->wbuf);
	free(s);
}

void
stream_set_timeout(struct stream *s, int timeout_ms)
{
	s->timeout_ms = timeout_ms;
}

void
stream_set_deadline(struct stream *s, int64_t deadline_ms)
{
	s->deadline_ms = deadline_ms;
}

void
stream_set_line_limit(struct stream *s, int limit_ms)
{
	s->line_limit_ms = limit_ms > 0 ? limit_ms : 0;
}

/* Wait until fd is ready for events; STREAM_OK or a status. */
static int
stream_wait(struct stream *s, int fd, short events)
{
	int64_t start = now_ms();

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int timeout = s->timeout_ms;
		int64_t now = now_ms();
		int n;

		if (timeout >= 0) {
			timeout -= (int)(now - start);
			if (timeout < 0)
				return STREAM_TIMEOUT;
		}
		if (s->deadline_ms > 0) {
			int64_t left = s->deadline_ms - now;
			if (left <= 0)
				return STREAM_TIMEOUT;
			if (timeout < 0 || left < timeout)
				timeout = (int)left;
		}
		n = poll(&pfd, 1, timeout);
		if (n > 0)
			return STREAM_OK;
		if (n == 0)
			return STREAM_TIMEOUT;
		if (errno != EINTR)
			return STREAM_ERROR;
	}
}

/* Write raw bytes to the peer (through TLS if active). */
static int
stream_send(struct stream *s, const char *data, size_t len)
{
	while (len > 0) {
		if (s->ssl != NULL) {
			ERR_clear_error();  /* SSL_get_error() reads the queue */
			int n = SSL_write(s->ssl, data,
			    len > STREAM_TLS_WRITE_MAX ? STREAM_TLS_WRITE_MAX :
			    (int)len);
			if (n > 0) {
				data += n;
				len -= (size_t)n;
				continue;
			}
			int e = SSL_get_error(s->ssl, n);
			int rc;
			if (e == SSL_ERROR_WANT_WRITE)
				rc = stream_wait(s, s->wfd, POLLOUT);
			else if (e == SSL_ERROR_WANT_READ)
				rc = stream_wait(s, s->rfd, POLLIN);
			else
				return STREAM_ERROR;
			if (rc != STREAM_OK)
				return rc;
		} else {
			ssize_t n = s->blocking_socket ?
			    send(s->wfd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL) :
			    write(s->wfd, data, len);
			if (n > 0) {
				data += n;
				len -= (size_t)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				int rc = stream_wait(s, s->wfd, POLLOUT);
				if (rc != STREAM_OK)
					return rc;
				continue;
			}
			return STREAM_ERROR;
		}
	}
	return STREAM_OK;
}

int
stream_flush(struct stream *s)
{
	int rc;

	if (s->wbuf.len == 0)
		return STREAM_OK;
	rc = stream_send(s, s->wbuf.data, s->wbuf.len);
	if (rc == STREAM_OK)
		s->bytes_out += s->wbuf.len;
	buf_reset(&s->wbuf);
	return rc;
}

/* Make SO_RCVTIMEO the stream's timeout (0 = none), for waiting in recv()
 * on a blocking socket; set only when it changes. */
static int
stream_set_rcvtimeo(struct stream *s)
{
	int want = s->timeout_ms > 0 ? s->timeout_ms : 0;
	struct timeval tv = { .tv_sec = want / 1000,
	    .tv_usec = (want % 1000) * 1000 };

	if (s->rcvtimeo_ms == want)
		return STREAM_OK;
	if (setsockopt(s->rfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return STREAM_ERROR;
	s->rcvtimeo_ms = want;
	return STREAM_OK;
}

/* Read more raw input into rbuf. Flushes pending output first, since the
 * peer may be waiting for it before it sends anything. */
static int
stream_fill(struct stream *s)
{
	/* Having just sent a reply, the peer's next command is rarely here
	 * yet: wait for it first rather than spend a read() on EAGAIN. */
	bool expect_wait = s->wbuf.len > 0 && s->ssl == NULL;
	/* Wait in recv() itself (see the top of the file). */
	bool wait_in_recv = s->blocking_socket && s->deadline_ms <= 0;
	int rc;

	if (s->eof)
		return STREAM_EOF;
	if (s->rstart == s->rend)
		s->rstart = s->rend = 0;
	else if (s->rend == sizeof(s->rbuf)) {
		memmove(s->rbuf, s->rbuf + s->rstart, s->rend - s->rstart);
		s->rend -= s->rstart;
		s->rstart = 0;
	}
	rc = stream_flush(s);
	if (rc != STREAM_OK)
		return rc;
	if (wait_in_recv)
		rc = stream_set_rcvtimeo(s);
	else if (expect_wait)
		rc = stream_wait(s, s->rfd, POLLIN);
	if (rc != STREAM_OK)
		return rc;

	for (;;) {
		size_t room = sizeof(s->rbuf) - s->rend;
		if (s->ssl != NULL) {
			ERR_clear_error();  /* SSL_get_error() reads the queue */
			int n = SSL_read(s->ssl, s->rbuf + s->rend, (int)room);
			if (n > 0) {
				s->rend += (size_t)n;
				s->bytes_in += (size_t)n;
				return STREAM_OK;
			}
			int e = SSL_get_error(s->ssl, n);
			if (e == SSL_ERROR_ZERO_RETURN) {
				s->eof = true;
				return STREAM_EOF;
			}
			if (e == SSL_ERROR_WANT_READ)
				rc = stream_wait(s, s->rfd, POLLIN);
			else if (e == SSL_ERROR_WANT_WRITE)
				rc = stream_wait(s, s->wfd, POLLOUT);
			else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
				/* Peer closed without close_notify. */
				s->eof = true;
				return STREAM_EOF;
			} else
				return STREAM_ERROR;
			if (rc != STREAM_OK)
				return rc;
		} else {
			ssize_t n = s->blocking_socket ?
			    recv(s->rfd, s->rbuf + s->rend, room,
			    wait_in_recv ? 0 : MSG_DONTWAIT) :
			    read(s->rfd, s->rbuf + s->rend, room);
			if (n > 0) {
				s->rend += (size_t)n;
				s->bytes_in += (size_t)n;
				return STREAM_OK;
			}
			if (n == 0) {
				s->eof = true;
				return STREAM_EOF;
			}
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (wait_in_recv)
					return STREAM_TIMEOUT;
				rc = stream_wait(s, s->rfd, POLLIN);
				if (rc != STREAM_OK)
					return rc;
				continue;
			}
			if (errno == ECONNRESET)
				return STREAM_EOF;
			return STREAM_ERROR;
		}
	}
}

static int
read_line(struct stream *s, struct buf *line, size_t max,
    enum line_ending *ending)
{
	/* Room for max bytes of content plus the CR of a CRLF. */
	size_t limit = max + 1;
	bool overflow = false;
	bool last_cr = false;   /* last byte consumed was CR */
	bool limited = false;   /* line limit folded into the deadline */

	buf_reset(line);
	*ending = LINE_NONE;
	for (;;) {
		char *start = s->rbuf + s->rstart;
		size_t avail = s->rend - s->rstart;
		char *nl = memchr(start, '\n', avail);
		size_t take = nl ? (size_t)(nl - start) : avail;
		int rc;

		if (take > 0)
			last_cr = start[take - 1] == '\r';
		if (!overflow) {
			size_t room = limit - line->len;
			if (take > room) {
				buf_append(line, start, room);
				overflow = true;
			} else {
				buf_append(line, start, take);
			}
		}
		if (nl != NULL) {
			s->rstart += take + 1;
			*ending = last_cr ? LINE_CRLF : LINE_LF;
			if (last_cr && !overflow)
				buf_truncate(line, line->len - 1);
			if (overflow || line->len > max) {
				buf_truncate(line, max);
				return STREAM_TOOLONG;
			}
			return STREAM_OK;
		}
		s->rstart += take;
		if (s->line_limit_ms > 0 && !limited && line->len > 0) {
			/* A line has begun: it must end in time, however
			 * slowly its bytes trickle in. */
			int64_t d = now_ms() + s->line_limit_ms;

			limited = true;
			if (s->deadline_ms <= 0 || d < s->deadline_ms)
				s->deadline_ms = d;
		}
		rc = stream_fill(s);
		if (rc != STREAM_OK) {
			if (rc == STREAM_EOF && line->len == 0)
				return STREAM_EOF;
			if (line->len > max)
				buf_truncate(line, max);
			return rc;
		}
	}
}

int
stream_read_line(struct stream *s, struct buf *line, size_t max,
    enum line_ending *ending)
{
	int64_t deadline = s->deadline_ms;
	int rc = read_line(s, line, max, ending);

	s->deadline_ms = deadline;   /* the line limit's share ends here */
	return rc;
}

long
stream_read(struct stream *s, void *data, size_t len)
{
	size_t avail;

	if (s->rstart == s->rend) {
		int rc = stream_fill(s);
		if (rc != STREAM_OK)
			return rc;
	}
	avail = s->rend - s->rstart;
	if (len > avail)
		len = avail;
	memcpy(data, s->rbuf + s->rstart, len);
	s->rstart += len;
	return (long)len;
}

size_t
stream_buffered(const struct stream *s)
{
	return s->rend - s->rstart;
}

void
stream_discard_buffered(struct stream *s)
{
	s->rstart = s->rend = 0;
}

int
stream_write(struct stream *s, const void *data, size_t len)
{
	buf_append(&s->wbuf, data, len);
	if (s->wbuf.len >= STREAM_WBUF_FLUSH)
		return stream_flush(s);
	return STREAM_OK;
}

int
stream_puts(struct stream *s, const char *str)
{
	return stream_write(s, str, strlen(str));
}

int
stream_printf(struct stream *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&s->wbuf, fmt, ap);
	va_end(ap);
	if (s->wbuf.len >= STREAM_WBUF_FLUSH)
		return stream_flush(s);
	return STREAM_OK;
}

uint64_t
stream_bytes_in(const struct stream *s)
{
	return s->bytes_in;
}

uint64_t
stream_bytes_out(const struct stream *s)
{
	return s->bytes_out;
}

static int
stream_tls_handshake(struct stream *s, SSL_CTX *ctx, bool server,
    const char *sni)
{
	SSL *ssl;

	if (s->ssl != NULL)
		return STREAM_ERROR;
	if (stream_flush(s) != STREAM_OK)
		return STREAM_ERROR;
	/* OpenSSL reads the descriptor itself: the poll() design from now. */
	if (s->blocking_socket) {
		if (fd_set_nonblock(s->rfd, true) < 0)
			return STREAM_ERROR;
		s->blocking_socket = false;
	}
	ssl = SSL_new(ctx);
	if (ssl == NULL)
		return STREAM_ERROR;
	if (!SSL_set_rfd(ssl, s->rfd) || !SSL_set_wfd(ssl, s->wfd)) {
		SSL_free(ssl);
		return STREAM_ERROR;
	}
	if (!server && sni != NULL)
		SSL_set_tlsext_host_name(ssl, sni);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/* OpenSSL 3 reports a peer that closes the connection without
	 * close_notify as an error; for us it is the end of the stream (line
	 * protocols have their own terminators). */
	SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	for (;;) {
		int n = server ? SSL_accept(ssl) : SSL_connect(ssl);
		int rc;
		if (n == 1)
			break;
		int e = SSL_get_error(ssl, n);
		if (e == SSL_ERROR_WANT_READ)
			rc = stream_wait(s, s->rfd, POLLIN);
		else if (e == SSL_ERROR_WANT_WRITE)
			rc = stream_wait(s, s->wfd, POLLOUT);
		else
			rc = STREAM_ERROR;
		if (rc != STREAM_OK) {
			SSL_free(ssl);
			return rc;
		}
	}
	s->ssl = ssl;
	snprintf(s->tls_desc, sizeof(s->tls_desc), "%s %s",
	    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	return STREAM_OK;
}

int
stream_tls_accept(struct stream *s, SSL_CTX *ctx)
{
	return stream_tls_handshake(s, ctx, true, NULL);
}

int
stream_tls_connect(struct stream *s, SSL_CTX *ctx, const char *sni)
{
	return stream_tls_handshake(s, ctx, false, sni);
}

bool
stream_is_tls(const struct stream *s)
{
	return s->ssl != NULL;
}

const char *
stream_tls_description(const struct stream *s)
{
	return s->ssl != NULL ? s->tls_desc : "";
}

SSL *
stream_ssl(const struct stream *s)
{
	return s->ssl;
}
