/*
 * smtp_reply.h - the reply DMail gives an SMTP client: code, enhanced
 * status (RFC 3463) and text, and its one setter.
 *
 * Filled by the SMTP server's parsers and handlers (smtpd/) and by the
 * delivery code (deliver.h: recipient checks, commits), so that every
 * layer hands back the exact reply for the client. Nothing here is
 * fatal; the text is truncated to fit.
 */
#ifndef DMAIL_SMTP_REPLY_H
#define DMAIL_SMTP_REPLY_H

/* e.g. 550, "5.1.1", "<bob@example.test>: user unknown". */
struct smtp_reply {
	int code;
	char enhanced[16];
	char text[256];
};

/* Fill r (nothing when r is NULL): code, enhanced status, printf text. */
void smtp_reply_set(struct smtp_reply *r, int code, const char *enhanced,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The queue id of a commit's "Ok: queued as ID" reply, "-" for any other
 * (for qid= and dsn_qid= log fields). */
const char *smtp_reply_queued_id(const struct smtp_reply *r);

#endif
