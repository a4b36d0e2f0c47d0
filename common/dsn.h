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
 * Pure functions: no I/O, no logging, deterministic except for the
 * Date/Message-ID (taken from r->now and r->queue_id).
 */
#ifndef DMAIL_DSN_H
#define DMAIL_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

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

/* RFC 5322 date ("Tue, 24 Nov 2026 02:41:52 +0000") of t, appended. */
void dsn_date(int64_t t, struct buf *out);

#endif
