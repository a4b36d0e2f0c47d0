/*
 * smtpd.h - dmail-smtpd, the SMTP server worker: module map, named
 * limits and the session structure shared by its files.
 *
 *   smtpd.c         main(), the worker_service: init (TLS context, user
 *                   database, delivery context) and fini
 *   smtp_session.c  one connection: the explicit state machine, the
 *                   command table and every command handler but AUTH's;
 *                   smtp_session_run(), smtp_reply()
 *   smtp_parse.c    command verbs, MAIL FROM / RCPT TO arguments and
 *                   ESMTP parameters (pure functions, unit tested)
 *   smtp_data.c     DATA content: line reading, dot-unstuffing, the
 *                   smuggling defence (bare LF / bare CR), size and line
 *                   limits
 *   smtp_auth.c     smtp_cmd_auth(): SASL PLAIN and LOGIN (RFC 4954),
 *                   strict base64
 *   smtp_checks.c   mail of authenticated users: sender/login match,
 *                   submission rate limits (logins, messages,
 *                   recipients), Date:/Message-ID: and the
 *                   DKIM signature before the commit
 *   smtp_verify.c   mail from the internet: DNS blocklists at connect,
 *                   SPF, DKIM and DMARC into Authentication-Results,
 *                   dmarc_enforce (p=reject refused, p=quarantine
 *                   held)
 *   smtp_hold.c     the hold queue: a message quarantined by a milter
 *                   or by the DMARC policy goes, as a maildrop file,
 *                   to state_dir/spool/quarantine/maildrop/ for
 *                   "tellsmtp quarantine" and "tellsmtp release"
 *   milter.c        the milter protocol (version 6), MTA side: stages,
 *                   verdicts, message modifications (API in milter.h)
 *   smtp_milter.c   the session's milter hooks smtp_milter_*(): which
 *                   milters, macros, each stage's verdict, the end of
 *                   DATA (modified message, discard, quarantine)
 *
 * Replies use struct smtp_reply and its setter smtp_reply_set()
 * (smtp_reply.h, through deliver.h) everywhere, so parsers and the delivery code hand back the
 * exact reply for the client.
 */
#ifndef DMAIL_SMTPD_H
#define DMAIL_SMTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "addr.h"
#include "buf.h"
#include "conf.h"
#include "deliver.h"
#include "stream.h"
#include "userdb.h"
#include "worker.h"

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with CRLF. */
#define SMTP_CMD_LINE_MAX 510
/* RFC 4954 4: an AUTH command or response line may be 12288 octets. */
#define SMTP_AUTH_LINE_MAX 12286
/* RFC 5321 4.5.3.1.6: a text line is at most 1000 octets with CRLF. */
#define SMTP_TEXT_LINE_MAX 998
/* RFC 3461 4.4 and 4.2: longest ENVID value and ORCPT value (the
 * parameter value as sent, "addr-type;xtext" for ORCPT). */
#define SMTP_ENVID_MAX 100
#define SMTP_ORCPT_MAX 500
/* RFC 3461 4: with DSN, MAIL FROM lines may be longer by ENVID and RET
 * and RCPT TO lines by NOTIFY and ORCPT (a little more is allowed for
 * the keywords themselves). */
#define SMTP_MAIL_LINE_MAX (SMTP_CMD_LINE_MAX + 120)
#define SMTP_RCPT_LINE_MAX (SMTP_CMD_LINE_MAX + 540)
/* Longest HELO/EHLO argument kept for the Received: header. */
#define SMTP_HELO_MAX 255

/* State shared by all sessions of one worker process (from init()). */
struct smtpd {
	SSL_CTX *tls;                /* NULL when tls_cert is not set */
	struct userdb *udb;          /* NULL when the database failed */
	struct deliver_ctx *dctx;
	struct aliases *aliases;     /* smtp_checks.c, opened at first use */
	struct smtp_verify *verify;  /* smtp_verify.c, opened at first use */
};

/* Session states; the command table says which commands each allows. */
enum smtp_state {
	SMTP_S_CONNECTED = 0,   /* greeted, waiting for HELO/EHLO */
	SMTP_S_HELO,            /* HELO/EHLO done, no transaction */
	SMTP_S_MAIL,            /* MAIL accepted, no recipient yet */
	SMTP_S_RCPT,            /* at least one recipient accepted */
	SMTP_S_QUIT,            /* closing */
	SMTP_S_COUNT
};

/* Command verbs (smtp_parse_verb()). */
enum smtp_verb {
	SMTP_HELO = 0,
	SMTP_EHLO,
	SMTP_MAIL,
	SMTP_RCPT,
	SMTP_DATA,
	SMTP_RSET,
	SMTP_NOOP,
	SMTP_QUIT,
	SMTP_VRFY,
	SMTP_EXPN,
	SMTP_HELP,
	SMTP_STARTTLS,
	SMTP_AUTH,
	SMTP_BDAT,
	SMTP_UNKNOWN,
	SMTP_VERB_COUNT
};

enum smtp_body { BODY_NONE = 0, BODY_7BIT, BODY_8BITMIME };

/* MAIL FROM arguments. */
struct mail_args {
	struct mailbox from;
	uint64_t size;          /* SIZE= value, 0 when absent */
	bool size_given;
	enum smtp_body body;
	bool smtputf8;
	int ret;                /* RET=: DSN_RET_*, NONE when absent */
	bool envid_given;
	char envid[SMTP_ENVID_MAX + 1];   /* ENVID=, xtext-decoded */
};

/* RCPT TO DSN parameters (RFC 3461). */
struct rcpt_args {
	unsigned notify;        /* DSN_NOTIFY_*, 0 when absent */
	bool orcpt_given;       /* ORCPT= seen (any address type) */
	char orcpt_type[SMTP_ORCPT_MAX + 1];  /* as given, e.g. "rfc822" */
	char orcpt[SMTP_ORCPT_MAX + 1];       /* xtext-decoded address */
};

/* One connection. */
struct smtp_session {
	struct smtpd *sd;
	const struct dmail_conf *conf;
	struct worker_session *ws;
	struct stream *s;
	enum smtp_state state;
	bool esmtp;                     /* EHLO (not HELO) was used */
	bool auth_required;             /* submission / smtps */
	char helo[SMTP_HELO_MAX + 1];
	char auth_user[USERDB_ADDRESS_MAX + 1];   /* "" = not authenticated */
	char auth_mech[16];             /* its SASL mechanism ("PLAIN") */
	unsigned errors;                /* error replies so far */
	unsigned auth_failures;
	unsigned auth_refused;          /* refused by the login penalty */
	struct buf line;                /* current input line */
	int64_t deadline;               /* end of the session (now_ms()) */

	/* The transaction in progress. */
	struct mail_args mail;
	struct delivery *dlv;
	unsigned rcpt_count;
	struct buf rcpts;               /* "<a>,<b>" for the log line */
	uint64_t messages;              /* accepted in this session */
	struct buf held;                /* DATA content held for
	                                 * smtp_checks_eom() */
	struct smtp_milter *milter;     /* NULL: no milters (smtp_milter.c) */
	/* The envelope for the hold queue (smtp_hold.c): the accepted
	 * RCPT TO addresses, and the sender when a milter changed it
	 * (NULL: mail.from). */
	struct strlist hold_rcpts;
	char *hold_sender;
};

/* smtp_parse.c */
enum smtp_verb smtp_parse_verb(const char *line, const char **arg);
const char *smtp_verb_name(enum smtp_verb v);
/* MAIL arguments after the verb ("FROM:<a> SIZE=10"). 0, or -1 with the
 * reply for the client. esmtp: parameters are allowed (EHLO used). */
int smtp_parse_mail(const char *arg, bool esmtp, struct mail_args *out,
    struct smtp_reply *r);
/* RCPT arguments ("TO:<a>"). smtputf8: MAIL had SMTPUTF8. */
int smtp_parse_rcpt(const char *arg, bool esmtp, bool smtputf8,
    struct mailbox *out, struct smtp_reply *r);
/* The same with the DSN parameters NOTIFY and ORCPT into dsn. */
int smtp_parse_rcpt_dsn(const char *arg, bool esmtp, bool smtputf8,
    struct mailbox *out, struct rcpt_args *dsn, struct smtp_reply *r);
/* RFC 3461 4: decode xtext into out (size outlen, NUL-terminated).
 * Only "+" with two upper-case hex digits and "!".."~" other than "+"
 * and "=" are valid, and the decoded text must be printable US-ASCII
 * (0x20-0x7e). 0, or -1 when invalid or too long. */
int smtp_xtext_decode(const char *in, char *out, size_t outlen);
/* HELO/EHLO argument: a domain or an address literal. */
bool smtp_valid_helo(const char *arg);

/* smtp_data.c */
struct data_result {
	uint64_t size;          /* unstuffed octets with CRLF line ends */
	uint64_t lines;
	bool too_big;           /* size went over the limit */
	bool bare_lf;           /* a line ended in LF without CR */
	bool bare_cr;           /* a CR not followed by LF */
	bool long_line;         /* a text line over SMTP_TEXT_LINE_MAX */
	bool write_failed;      /* the line callback failed */
};
/* Called for each content line, dot-unstuffed, without its ending;
 * returns 0 or -1 (then it is not called again). */
typedef int (*data_line_fn)(void *arg, const char *line, size_t len);
/* Read DATA content after the 354 up to and including <CRLF>.<CRLF>.
 * Only a line "." ended by CRLF ends the data. Lines stop going to fn
 * once something makes the message unacceptable (too big; bare LF or CR
 * under the reject policy; over-long line) but reading continues to the
 * real end, so the client stays in step. Returns STREAM_OK at the end of
 * data, or STREAM_EOF / STREAM_TIMEOUT / STREAM_ERROR. */
int smtp_data_read(struct stream *s, struct buf *line, uint64_t max_size,
    enum bare_lf_policy policy, data_line_fn fn, void *arg,
    struct data_result *res);

/* smtp_auth.c */
/* The AUTH command (arg after "AUTH "); replies itself. */
void smtp_cmd_auth(struct smtp_session *ss, const char *arg);

/* smtp_checks.c */
/* At a successful AUTH of account, before the 235: NULL, or the reason
 * with the reply in r (454 4.7.0: the account's login rate). */
const char *smtp_checks_login(struct smtp_session *ss, const char *account,
    struct smtp_reply *r);
/* Each returns NULL, or the reason (for the log) with the reply in r. */
const char *smtp_checks_mail(struct smtp_session *ss, struct smtp_reply *r);
const char *smtp_checks_rcpt(struct smtp_session *ss, struct smtp_reply *r);
/* True when DATA content goes to smtp_checks_data_line() (arg: ss). */
bool smtp_checks_hold(struct smtp_session *ss);
int smtp_checks_data_line(void *arg, const char *line, size_t len);
/* The held message into ss->dlv, with what submission adds on top.
 * smtp_held: the message went to the hold queue and the client was
 * answered (smtp_hold_message()); the transaction just ends. */
const char *smtp_checks_eom(struct smtp_session *ss, struct smtp_reply *r);
void smtp_checks_reset(struct smtp_session *ss);

/* smtp_verify.c */
/* NULL, or the reason with the reply in r. */
const char *smtp_verify_connect(struct smtp_session *ss, struct smtp_reply *r);
bool smtp_verify_wanted(const struct smtp_session *ss);
/* The Authentication-Results field for the held message into top.
 * *hold: DMARC says quarantine and dmarc_enforce is on (the caller
 * hands the message to smtp_hold_message() with the reason). */
const char *smtp_verify_message(struct smtp_session *ss, struct buf *top,
    struct smtp_reply *r, const char **hold);
void smtp_verify_free(struct smtp_verify *v);

/* smtp_hold.c */
struct spool_envelope;
/* What smtp_checks_eom() returns for a message held and answered. */
extern const char smtp_held[];
/* Lines without their ends, as data_line_fn. */
typedef int (*smtp_hold_line_fn)(void *arg, const char *line, size_t len);
/* Hands the message, line by line, to fn(arg); 0, or -1 when fn or the
 * source failed. */
typedef int (*smtp_hold_source)(void *src, smtp_hold_line_fn fn,
    void *arg);
/* env without recipients (spool_envelope_free() it). */
void smtp_hold_envelope(struct smtp_session *ss, const char *id,
    const char *sender, struct spool_envelope *env);
/* env and the message from source(src) into the hold queue, durable,
 * with reason (one word) in its note. 0, or -1 (logged). */
int smtp_hold_write(struct smtp_session *ss,
    const struct spool_envelope *env, smtp_hold_source source, void *src,
    const char *reason);
/* An accepted recipient of the transaction. */
void smtp_hold_rcpt(struct smtp_session *ss, const char *addr);
/* A milter rebuilt the delivery: its sender, recipients to follow. */
void smtp_hold_restart(struct smtp_session *ss, const char *sender);
/* The transaction ends: forget its envelope. */
void smtp_hold_reset(struct smtp_session *ss);
/* top and ss->held into the hold queue for reason (one word, the note)
 * and why (the log); replies 250 (451 when it cannot be written) and
 * returns smtp_held. */
const char *smtp_hold_message(struct smtp_session *ss,
    const struct buf *top, const char *reason, const char *why);

/* smtp_session.c */
void smtp_reply(struct smtp_session *ss, int code, const char *enhanced,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void smtp_reply_r(struct smtp_session *ss, const struct smtp_reply *r);
/* Input failed (rc from stream_read_line()) while waiting in `where`:
 * logs it, answers 421 4.4.2 on a timeout, and ends the session. */
void smtp_io_failed(struct smtp_session *ss, int rc, const char *where);
/* The relay rule: authenticated, in relay_networks, or a local pipe. */
bool smtp_relay_allowed(const struct smtp_session *ss);
void smtp_session_run(struct smtpd *sd, const struct dmail_conf *conf,
    struct worker_session *ws);
/* What the session knows for delivery_begin() (strings borrowed). */
void smtp_delivery_info(struct smtp_session *ss, struct delivery_info *info);

/* smtp_milter.c */
/* Each hook returns 0 to go on, or -1 when it replied (reject,
 * tempfail, 421) and the command ends. No milters: 0. */
int smtp_milter_connect(struct smtp_session *ss);
int smtp_milter_helo(struct smtp_session *ss);
/* After delivery_begin(); arg is the MAIL argument (for its ESMTP
 * parameters). */
int smtp_milter_mail(struct smtp_session *ss, const char *arg);
/* A recipient that passed our checks (local: a local one). */
int smtp_milter_rcpt(struct smtp_session *ss, const char *addr,
    const char *arg, bool local, unsigned notify, const char *orcpt);
int smtp_milter_data(struct smtp_session *ss);
/* True when DATA content goes to the milters (smtp_milter_line()). */
bool smtp_milter_content(const struct smtp_session *ss);
int smtp_milter_line(struct smtp_session *ss, const char *line, size_t len);
/* At the end of DATA, after the content checks: 0 (the message, as the
 * milters left it, went line by line to store(arg): go on to the
 * commit), or -1 (replied: rejected, discarded or quarantined; end the
 * transaction). */
int smtp_milter_eom(struct smtp_session *ss, data_line_fn store, void *arg);
/* The transaction ends (RSET, MAIL, error, end of DATA). */
void smtp_milter_reset(struct smtp_session *ss);
/* The session ends: QUIT to the milters. */
void smtp_milter_end(struct smtp_session *ss);

#endif
