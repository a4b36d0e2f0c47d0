/*
 * stream.h - buffered, bounded, time-limited I/O on a descriptor pair,
 * optionally through TLS (OpenSSL). Used by every protocol worker.
 *
 * Input limits are part of the API: stream_read_line() never stores more
 * than `max` bytes of a line, whatever the peer sends.
 *
 * Output is buffered and sent when the buffer fills, on stream_flush(), or
 * automatically just before the stream blocks waiting for input. That is
 * exactly what pipelining (RFC 2920, RFC 2449) wants: replies to a batch of
 * commands leave in one packet when the batch is used up.
 *
 * Return values (enum stream_status): STREAM_OK (0), or a negative status.
 *   STREAM_EOF      the peer closed the connection (or TLS close_notify)
 *   STREAM_TIMEOUT  nothing arrived/left within the timeout or deadline
 *   STREAM_ERROR    I/O or TLS failure (errno/ERR queue describe it)
 *   STREAM_TOOLONG  the line was longer than max: the whole line up to and
 *                   including its LF was consumed, `line` holds its first
 *                   max bytes, and the stream is ready for the next line
 *
 * Descriptors are not owned: stream_free() releases the TLS session and
 * buffers, the caller closes the fds. Descriptors are switched to
 * non-blocking mode.
 */
#ifndef DMAIL_STREAM_H
#define DMAIL_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "buf.h"

enum stream_status {
	STREAM_OK = 0,
	STREAM_EOF = -1,
	STREAM_TIMEOUT = -2,
	STREAM_ERROR = -3,
	STREAM_TOOLONG = -4,
};

/* How a line read by stream_read_line() ended. */
enum line_ending {
	LINE_CRLF,      /* "\r\n" */
	LINE_LF,        /* bare "\n" */
	LINE_NONE,      /* end of stream without a newline (status EOF) */
};

struct stream;

struct stream *stream_new(int rfd, int wfd);
void stream_free(struct stream *s);

/* Time limit in milliseconds for each wait for input or output (-1: none). */
void stream_set_timeout(struct stream *s, int timeout_ms);
/* Absolute limit on the monotonic clock (now_ms()) for the whole session;
 * 0 for none. Whichever of timeout and deadline comes first applies. */
void stream_set_deadline(struct stream *s, int64_t deadline_ms);
/* Total time in milliseconds for one line of stream_read_line(), from
 * the moment it has a first byte of the line to its LF (0: none): a peer
 * that trickles a line byte by byte gets STREAM_TIMEOUT then, although
 * each byte beat the timeout. Waiting for a line's first byte is bound
 * by the timeout and deadline only. */
void stream_set_line_limit(struct stream *s, int limit_ms);

/* Reads one line terminated by LF into line (reset first), without the
 * terminator. A CR immediately before the LF is part of the terminator
 * (LINE_CRLF); any other CR stays in the data. At EOF with a partial line
 * pending, the partial line is returned with *ending LINE_NONE and status
 * STREAM_EOF. */
int stream_read_line(struct stream *s, struct buf *line, size_t max,
    enum line_ending *ending);
/* Reads up to len raw bytes; returns the count (> 0) or a status. */
long stream_read(struct stream *s, void *data, size_t len);
/* Bytes received and buffered but not yet consumed. */
size_t stream_buffered(const struct stream *s);
/* Throws away buffered input (RFC 3207: pipelined input after STARTTLS). */
void stream_discard_buffered(struct stream *s);

int stream_write(struct stream *s, const void *data, size_t len);
int stream_puts(struct stream *s, const char *str);
int stream_printf(struct stream *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int stream_flush(struct stream *s);
/* Total bytes read from / written to the peer (application data). */
uint64_t stream_bytes_in(const struct stream *s);
uint64_t stream_bytes_out(const struct stream *s);

/* Server side TLS handshake on the stream (STARTTLS/STLS, implicit TLS).
 * Buffered input must be empty or discarded first. */
int stream_tls_accept(struct stream *s, SSL_CTX *ctx);
/* Client side TLS handshake; sni may be NULL. */
int stream_tls_connect(struct stream *s, SSL_CTX *ctx, const char *sni);
bool stream_is_tls(const struct stream *s);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" or "" when not TLS. */
const char *stream_tls_description(const struct stream *s);
SSL *stream_ssl(const struct stream *s);

#endif
