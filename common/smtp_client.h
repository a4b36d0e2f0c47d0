/*
 * smtp_client.h - the SMTP client side (RFC 5321), the one in DMail: the
 * outbound delivery processes of dmail-queued and dmail-sendmail's
 * submission to the local server use it; dmail-bench uses its reply
 * parser.
 *
 * smtpc_open() connects to one address, reads the greeting, says EHLO
 * (HELO if EHLO is refused), starts TLS when the peer offers STARTTLS
 * (or fails when TLS is required and not offered), says EHLO again, and
 * authenticates with AUTH PLAIN when credentials are given (only over
 * TLS, or to a loopback address). The
 * connection can then carry several messages: smtpc_send() runs one
 * transaction (MAIL, RCPT..., DATA), pipelined when the peer offers
 * PIPELINING (RFC 2920), with SIZE= when it offers SIZE (RFC 1870) and
 * the size checked against its limit first, and with the DSN parameters
 * NOTIFY, ORCPT, RET and ENVID when it offers DSN (RFC 3461). The message is read from a
 * file descriptor holding it with LF line ends and sent with CRLF line
 * ends and dot-stuffing.
 *
 * Every wait has a timeout: RFC 5321 4.5.3.2 values (greeting 5 min,
 * MAIL 5, RCPT 5, DATA 2, each data block 3, final dot 10), each capped
 * by conf->timeout_cap_ms when that is not 0 (tests, impatient sites).
 *
 * Replies: code is the SMTP reply code, or 0 when no reply came
 * (connection refused or lost, timeout, TLS failure, a reply that broke
 * the protocol); text is the reply as one line ("550 5.1.1 <bob@x>: user
 * unknown"), or for code 0 a description of the failure; at says which
 * command the reply answered.
 *
 * The reply parser, smtpc_reply_line(), is the only reader of SMTP
 * replies in DMail (this client, dmail-sendmail through it, dmail-bench
 * line by line on its own buffers, fuzz/fuzz_smtp_reply.c). It follows
 * RFC 5321 4.2 and 4.2.1: every line is a code (first digit 2-5, second
 * 0-5, third 0-9), then "-" on all lines but the last, or SP or nothing
 * on the last, then text (HT and printable characters; octets above 127
 * are let through, as servers put UTF-8 in their text). Every line of a
 * multi-line reply carries the same code. A reply that breaks any of
 * these rules, a line longer than SMTPC_REPLY_LINE_MAX octets or a reply
 * of more than SMTPC_REPLY_LINES_MAX lines is a protocol error: no code
 * is guessed from it. The reply's text is the first line whole followed
 * by the text of the other lines, joined with spaces, cut to
 * SMTPC_TEXT_MAX - 1 octets; a HT becomes a space.
 *
 * Nothing here is fatal: every failure of the peer or the network is a
 * reply with code 0 (running out of memory aborts, as with xmalloc()
 * everywhere).
 */
#ifndef DMAIL_SMTP_CLIENT_H
#define DMAIL_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "dns.h"

#define SMTPC_TEXT_MAX 512
/* Reply limits. RFC 5321 4.5.3.1.5 allows 512 octets a line with CRLF;
 * peers send longer ones, so take four times that, CRLF excluded. */
#define SMTPC_REPLY_LINE_MAX 2048
#define SMTPC_REPLY_LINES_MAX 200

/* EHLO keywords the client knows (smtpc_ehlo_keyword()). */
#define SMTPC_EXT_PIPELINING 0x01
#define SMTPC_EXT_STARTTLS 0x02
#define SMTPC_EXT_SIZE 0x04
#define SMTPC_EXT_AUTH_PLAIN 0x08
#define SMTPC_EXT_8BITMIME 0x10
#define SMTPC_EXT_DSN 0x20

struct smtpc_conf {
	const char *helo;            /* our host name for EHLO */
	SSL_CTX *tls;                /* NULL: never STARTTLS */
	bool tls_required;           /* no TLS: fail with 4.7.5 */
	const char *auth_user;       /* NULL: no AUTH */
	const char *auth_pass;
	int connect_timeout_ms;
	int timeout_cap_ms;          /* 0: RFC 5321 values unchanged */
	/* The peer is our own server (dmail-sendmail): a greeting with our
	 * own name is no mail loop. */
	bool peer_is_self;
	/* NULL, or called with every command sent (sent true; AUTH
	 * credentials masked) and every reply line received, without CRLF;
	 * the message data is not shown. */
	void (*trace)(bool sent, const char *line, size_t len);
};

/* Which command a reply answered. */
enum smtpc_at {
	SMTPC_AT_SESSION = 0,        /* connect, greeting, EHLO, TLS, AUTH */
	SMTPC_AT_MAIL,               /* MAIL (and the SIZE check before it) */
	SMTPC_AT_RCPT,
	SMTPC_AT_DATA,
	SMTPC_AT_DOT                 /* the end of the data */
};

struct smtpc_reply {
	int code;                    /* 0: no reply (network trouble) */
	enum smtpc_at at;
	char text[SMTPC_TEXT_MAX];
};

/* RFC 3461 parameters passed on when the peer offers DSN (else
 * ignored). Any pointer may be NULL. */
struct smtpc_dsn {
	const char *envid;           /* ENVID (plain text; xtext-encoded here) */
	const char *ret;             /* "FULL", "HDRS" or NULL */
	const char *const *notify;   /* per recipient "SUCCESS,DELAY"... */
	const char *const *orcpt;    /* per recipient original address */
};

struct smtpc;

/* NULL on failure with the reason in *err. peer_name is the host name
 * for logs, DSN Remote-MTA and TLS SNI. */
struct smtpc *smtpc_open(const struct smtpc_conf *conf,
    const struct dns_addr *addr, const char *peer_name,
    struct smtpc_reply *err);

/*
 * One transaction. rcpt_res[i] receives each recipient's final reply:
 * the RCPT reply when that failed, else the reply to the end of data.
 * Returns 0 when the transaction ended (whatever the replies) and the
 * connection can carry another one; -1 when the connection broke, in
 * which case every recipient without a definite answer has code 0 and
 * the connection must be closed.
 */
int smtpc_send(struct smtpc *c, const char *sender, const char *const *rcpts,
    size_t rcpt_count, int msg_fd, off_t msg_offset,
    const struct smtpc_dsn *dsn, struct smtpc_reply *rcpt_res);
/* True when the peer offered DSN (RFC 3461). */
bool smtpc_has_dsn(const struct smtpc *c);

/* QUIT (when polite is true and the connection is sane) and free. */
void smtpc_close(struct smtpc *c, bool polite);

/* "name[address]" for logs and DSNs. */
const char *smtpc_peer(const struct smtpc *c);
/* TLS description ("TLSv1.3 ...") or "". */
const char *smtpc_tls(const struct smtpc *c);
/* Messages sent over this connection so far. */
unsigned smtpc_messages(const struct smtpc *c);

/*
 * Parse line n (0 for the first) of a reply, without its CRLF or LF,
 * into r (r->code and r->text; r->at is left alone). Returns 1 when it
 * was the reply's last line, 0 when more lines follow, -1 on a protocol
 * error (see above), with r->code 0 and the reason in r->text.
 */
int smtpc_reply_line(struct smtpc_reply *r, unsigned n, const char *line,
    size_t len);

/* The SMTPC_EXT_* flag of one EHLO keyword line of len octets ("SIZE
 * 1000", the text after "250-"), or 0 for others; SIZE's limit is stored
 * in *size_limit (0 when none is given). */
unsigned smtpc_ehlo_keyword(const char *kw, size_t len, uint64_t *size_limit);

/* Test hook (fuzz/, t/unit/test_smtpc.c): read one reply from s as after a command, or after
 * EHLO when ehlo is true (keywords recorded in *ext and *size_limit).
 * Returns the reply code, or a stream status (< 0). */
struct stream;
int smtpc_read_reply_from(struct stream *s, bool ehlo, struct smtpc_reply *r,
    unsigned *ext, uint64_t *size_limit);

#endif
