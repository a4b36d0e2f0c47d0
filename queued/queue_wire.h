/*
 * queue_wire.h - the pipe between dmail-queued's scheduler and its
 * delivery processes (queued.h, "Processes"): the only code that writes
 * or reads its lines.
 *
 * One message is one line, fields separated by one space (the last three
 * of R by one tab), numbers in plain decimal without leading zeros:
 *
 *   scheduler -> delivery process
 *     "J ENTRY QUEUEID I,J,K"   a job: recipients I<J<K of queue file
 *                               QUEUEID (1..QWIRE_JOB_RCPTS_MAX of them)
 *     "G"                       go: the batch of J lines is complete
 *   delivery process -> scheduler
 *     "R ENTRY I CODE STATUS\tREMOTE\tTEXT"  recipient I's result
 *     "E ENTRY"                 job ENTRY finished
 *     "I"                       idle: more work?
 *
 * Limits: ENTRY and I fit in 32 bits; QUEUEID is 1..SPOOL_ID_MAX-1
 * printable ASCII characters other than space (qwire_id_ok()); CODE is
 * 0 (no reply: connection trouble) to 999; STATUS is RFC 3463
 * "C.SSS.DDD" with C 2, 4 or 5; REMOTE ("host[ip]", empty for none) and
 * TEXT are printable (no control character, no tab), at most
 * QWIRE_REMOTE_MAX and QWIRE_TEXT_MAX bytes; a line is at most
 * QWIRE_LINE_MAX bytes before its newline.
 *
 * qwire_fmt_*() append one line, newline included. Free text (REMOTE,
 * TEXT) is made to fit: control characters and tabs become spaces, and
 * it is cut at its limit. The structural fields are the caller's: an id
 * that qwire_id_ok() refuses, a status of the wrong shape, a code above
 * 999, or recipients that are not 1..QWIRE_JOB_RCPTS_MAX increasing
 * numbers are our own bug (log_panic()).
 *
 * qwire_parse_down() and qwire_parse_up() read one line (without its
 * newline) of their direction whole: 0 and *out filled, or -1 with the
 * reason and a printable excerpt of the line in err (nothing of *out may
 * be used). Trailing bytes, a missing or extra field, a field over its
 * limit, a number with a sign, space or leading zero, a NUL: all -1. The
 * caller logs the refusal once and ends the exchange (queued.h).
 *
 * qwire_next_line() finds the next whole line in a read buffer.
 */
#ifndef DMAIL_QUEUE_WIRE_H
#define DMAIL_QUEUE_WIRE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "spool.h"

#define QWIRE_LINE_MAX 16384
#define QWIRE_JOB_RCPTS_MAX 1000
#define QWIRE_STATUS_MAX 9           /* "5.123.123" */
#define QWIRE_REMOTE_MAX 319         /* DNS name, "[", address, "]" */
#define QWIRE_TEXT_MAX 767

enum qwire_type {
	QWIRE_JOB = 'J',
	QWIRE_GO = 'G',
	QWIRE_RESULT = 'R',
	QWIRE_END = 'E',
	QWIRE_IDLE = 'I',
};

/* Scheduler -> delivery process. */
struct qwire_down {
	enum qwire_type type;        /* QWIRE_JOB or QWIRE_GO */
	unsigned entry;              /* JOB: number within this process */
	char id[SPOOL_ID_MAX];       /* JOB: queue id */
	size_t n;                    /* JOB: 1..QWIRE_JOB_RCPTS_MAX */
	size_t idx[QWIRE_JOB_RCPTS_MAX];  /* JOB: increasing */
};

/* Delivery process -> scheduler. */
struct qwire_up {
	enum qwire_type type;        /* QWIRE_RESULT, QWIRE_END, QWIRE_IDLE */
	unsigned entry;              /* RESULT, END */
	size_t rcpt;                 /* RESULT: recipient index */
	int code;                    /* RESULT: 0..999 */
	char status[QWIRE_STATUS_MAX + 1];
	char remote[QWIRE_REMOTE_MAX + 1];  /* "" when none */
	char text[QWIRE_TEXT_MAX + 1];
};

bool qwire_id_ok(const char *id);

void qwire_fmt_job(struct buf *out, unsigned entry, const char *id,
    const size_t *idx, size_t n);
void qwire_fmt_go(struct buf *out);
int qwire_parse_down(const char *line, size_t len, struct qwire_down *out,
    struct buf *err);

/* remote may be NULL (none). */
void qwire_fmt_result(struct buf *out, unsigned entry, size_t rcpt,
    int code, const char *status, const char *remote, const char *text);
void qwire_fmt_end(struct buf *out, unsigned entry);
void qwire_fmt_idle(struct buf *out);
int qwire_parse_up(const char *line, size_t len, struct qwire_up *out,
    struct buf *err);

/*
 * The first line in in: 1 with *len its length (in->data[*len] is its
 * newline; parse it, then buf_consume(in, *len + 1)); 0 when no whole
 * line has arrived yet; -1 when the line is longer than QWIRE_LINE_MAX
 * (malformed, whether its newline has arrived or not).
 */
int qwire_next_line(const struct buf *in, size_t *len);

#endif
