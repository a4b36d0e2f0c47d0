/*
 * dsn.h - delivery status notifications (RFC 3464) as multipart/report
 * (RFC 6522) messages: the bounce and the delay warning DMail sends to
 * an envelope sender from MAILER-DAEMON with the null sender.
 *
 * dsn_build() writes a complete message (headers and body, LF line ends,
 * ready for delivery_write_line()) with three parts:
 *   1. text/plain for people: what happened to which recipient and why;
 *   2. message/delivery-status: Reporting-MTA, Original-Envelope-Id,
 *      Arrival-Date, then per recipient Original-Recipient,
 *      Final-Recipient, Action, Status, Remote-MTA, Diagnostic-Code,
 *      Last-Attempt-Date (and Will-Retry-Until for delays);
 *   3. the original message's header (text/rfc822-headers), or the whole
 *      message (message/rfc822) when the sender asked for RET=FULL.
 *
 * dsn_status() derives an RFC 3463 status from an SMTP reply: the
 * enhanced code the peer gave when its class matches the reply code,
 * else X.0.0 of the reply's class.
 *
 * The RFC 3461 vocabulary lives here too, once for every program: the
 * NOTIFY flags and RET values (DSN_NOTIFY_*, DSN_RET_*) that the SMTP
 * server parses, the queue file records (spool.h) and the queue
 * manager obeys, with the one parser and printer of a NOTIFY list.
 * dsn_read_original() reads the part of a stored message a report
 * returns, with the limits dsn_build() applies.
 *
 * Pure functions except dsn_read_original() (reads a file): no logging,
 * deterministic except for the Date/Message-ID (taken from r->now and
 * r->queue_id). Nothing here is fatal.
 */
#ifndef DMAIL_DSN_H
#define DMAIL_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "buf.h"

/* RFC 3461 NOTIFY of one recipient; 0 means no NOTIFY was given (then
 * failure and delay notices are sent, RFC 3461 4.1). */
#define DSN_NOTIFY_GIVEN 0x01
#define DSN_NOTIFY_NEVER 0x02
#define DSN_NOTIFY_SUCCESS 0x04
#define DSN_NOTIFY_FAILURE 0x08
#define DSN_NOTIFY_DELAY 0x10
#define DSN_NOTIFY_WORDS (DSN_NOTIFY_NEVER | DSN_NOTIFY_SUCCESS | \
	DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY)
/* RFC 3461 RET of the transaction. */
#define DSN_RET_NONE 0
#define DSN_RET_FULL 1
#define DSN_RET_HDRS 2

/* Longest header block a report returns (text/rfc822-headers), and
 * longest message returned whole with RET=FULL (a bigger one gets its
 * header only). */
#define DSN_HEADERS_MAX (256 * 1024)
#define DSN_FULL_MAX (10 * 1024 * 1024)

enum dsn_action {
	DSN_FAILED = 0,
	DSN_DELAYED,
	DSN_DELIVERED,
};

struct dsn_rcpt {
	const char *address;        /* Final-Recipient */
	const char *orcpt;          /* Original-Recipient, NULL if unknown */
	enum dsn_action action;
	const char *status;         /* "5.1.1" */
	const char *remote_mta;     /* host name or address, NULL if none */
	const char *diagnostic;     /* SMTP reply "550 5.1.1 ...", or NULL */
	int64_t last_attempt;       /* Unix time, 0 if none */
};

struct dsn_report {
	const char *reporting_mta;  /* our hostname */
	const char *sender;         /* envelope sender: the To: address */
	const char *envid;          /* ENVID of the original, NULL if none */
	const char *queue_id;       /* of the original message */
	int64_t arrival;            /* Unix time the original arrived */
	int64_t now;                /* Unix time for Date: */
	int64_t retry_until;        /* for DSN_DELAYED: Will-Retry-Until */
	const struct dsn_rcpt *rcpts;
	size_t rcpt_count;
	const char *message;        /* original message (LF line ends) */
	size_t message_len;
	bool ret_full;              /* RET=FULL: return the whole message */
};

/* Build the notification into out (appended). */
void dsn_build(const struct dsn_report *r, struct buf *out);

/* RFC 3463 status from a reply: out must hold 16 bytes. */
void dsn_status(int code, const char *text, char *out);

/*
 * A NOTIFY list ("NEVER", or a comma list of SUCCESS, FAILURE, DELAY;
 * case-insensitive) into *flags: DSN_NOTIFY_GIVEN plus the bit of every
 * word known. Returns 0 when the list is valid as RFC 3461 4.1 has it;
 * -1 when it holds an unknown or empty word, or NEVER with another word
 * (*flags still has the known words). The SMTP server refuses on -1;
 * the queue file reader keeps the known words (a newer writer's word is
 * ignored) and treats a list without any known word as not given.
 */
int dsn_notify_parse(const char *list, unsigned *flags);
/* "NEVER", "SUCCESS,FAILURE,DELAY", ...: the words of flags in that
 * order; "" when DSN_NOTIFY_GIVEN is not set. A static string. */
const char *dsn_notify_name(unsigned flags);

/*
 * The part of a stored message a report returns: the message starts at
 * offset in path; at most DSN_HEADERS_MAX bytes are read, or
 * DSN_FULL_MAX + 1 with ret_full (so that dsn_build() sees a message
 * too big to return whole). Appended to out. 0, or -1 with errno.
 */
int dsn_read_original(const char *path, off_t offset, bool ret_full,
    struct buf *out);

/* RFC 5322 date ("Tue, 24 Nov 2026 02:41:52 +0000") of t, appended. */
void dsn_date(int64_t t, struct buf *out);

#endif
