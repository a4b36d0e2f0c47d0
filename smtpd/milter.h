/*
 * milter.h - the MTA side of the Sendmail 8 milter protocol, version 6
 * (the one Postfix speaks): connect to the milters of a session,
 * negotiate actions and protocol steps, send each SMTP stage with its
 * macros, read the verdicts, and at the end of the message collect and
 * apply the milters' modifications.
 *
 * A milter_set belongs to one SMTP session. Every stage function runs
 * the milters in configuration order and stops at the first one that
 * rejects. A milter that cannot be reached, times out, breaks the
 * protocol (a packet over MILTER_PACKET_MAX, a packet not consumed
 * exactly, an unknown reply, an action it did not negotiate, a packet
 * waiting when it should be silent (a second verdict), more than
 * MILTER_MODS_MAX
 * modifications) is closed
 * and logged once (event=milter-failed); from then on the session gets
 * milter_default_action for it: accept (the milter is skipped), tempfail
 * (451 4.7.1) or reject (550 5.7.1).
 *
 * Message content is collected while DATA arrives (milter_content_line:
 * header fields in memory, the body in an unlinked file under
 * state_dir/spool/tmp, bounded by max_message_size) and only sent to the
 * milters at the end of DATA by milter_eom(). Header modifications of a
 * milter are visible to the milters after it; the modified message is
 * written out with milter_write_message() before the delivery commits,
 * so the 250 covers exactly what is stored. Envelope changes (sender,
 * recipients) and quarantine are handed back in struct milter_mods.
 *
 * Nothing here is fatal; our own misuse is a panic.
 */
#ifndef DMAIL_MILTER_H
#define DMAIL_MILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "smtp_reply.h"

/* Longest packet (command byte and data) a milter may send us. */
#define MILTER_PACKET_MAX (1024 * 1024)
/* Body chunk size of SMFIC_BODY (libmilter's MILTER_CHUNK_SIZE). */
#define MILTER_CHUNK 65535
/* Most modification packets (header, recipient, body chunk) all the
 * milters of one message may send. */
#define MILTER_MODS_MAX 10000
/* Bytes of a quarantine reason kept (it goes into a log line). */
#define MILTER_REASON_MAX 200
/* Longest header field name a milter may add or change. */
#define MILTER_HEADER_NAME_MAX 128

/* Macro classes (SMFIM_*, the stages a milter may ask macros for). */
enum milter_stage {
	MILTER_CONNECT = 0,
	MILTER_HELO,
	MILTER_MAIL,
	MILTER_RCPT,
	MILTER_DATA,
	MILTER_EOM,
	MILTER_EOH,
	MILTER_STAGES
};

/* The verdict of a stage for the SMTP session. */
enum milter_result {
	MILTER_CONTINUE = 0,     /* go on (also: accepted by the milters) */
	MILTER_REJECT,           /* 5xx: reply filled */
	MILTER_TEMPFAIL,         /* 4xx: reply filled */
	MILTER_DISCARD,          /* accept, then drop the message */
	MILTER_SHUTDOWN,         /* 421: reply filled, end the session */
};

/* What the milters asked for at the end of the message. */
struct milter_mods {
	char *sender;                /* CHGFROM address, NULL: unchanged */
	struct strlist add_rcpts;    /* ADDRCPT, ADDRCPT_PAR (address) */
	struct strlist del_rcpts;    /* DELRCPT (address without <>) */
	bool quarantine;             /* SMFIR_QUARANTINE */
	char *quarantine_reason;
	unsigned header_changes;     /* header fields added/changed/deleted */
	bool body_replaced;
};

struct milter_set;

/* Open (connect and negotiate) every milter of specs for a session. A
 * milter that fails is logged and follows milter_default_action. NULL
 * when specs is empty. */
struct milter_set *milter_open(const struct dmail_conf *conf,
    const struct strlist *specs, const char *sid);
/* SMFIC_QUIT to every milter still open, close, free. NULL is fine. */
void milter_close(struct milter_set *ms);

/* Set (value NULL: remove) a macro, e.g. "{client_addr}" or "i". */
void milter_macro(struct milter_set *ms, const char *name, const char *value);

/* The SMTP stages. family: '4', '6', 'L' (local) or 'U' (unknown). */
enum milter_result milter_connect(struct milter_set *ms, const char *host,
    char family, unsigned port, const char *addr, struct smtp_reply *r);
enum milter_result milter_helo(struct milter_set *ms, const char *helo,
    struct smtp_reply *r);
/* args: "<addr>" then the ESMTP parameters, count n. */
enum milter_result milter_mail(struct milter_set *ms,
    const char *const *args, size_t n, struct smtp_reply *r);
enum milter_result milter_rcpt(struct milter_set *ms,
    const char *const *args, size_t n, struct smtp_reply *r);
enum milter_result milter_data(struct milter_set *ms, struct smtp_reply *r);
/* The transaction ended without milter_eom() (RSET, error, MAIL again). */
void milter_abort(struct milter_set *ms);

/* One content line (dot-unstuffed, without CRLF). 0, or -1 when the
 * body file cannot be written (logged; the message gets a 451). */
int milter_content_line(struct milter_set *ms, const char *line, size_t len);
/* Send the collected message to the milters (header fields, end of
 * header, body chunks, end of message) and collect modifications. */
enum milter_result milter_eom(struct milter_set *ms, struct smtp_reply *r);
/* Modifications collected by milter_eom() (valid until the next
 * transaction). */
const struct milter_mods *milter_mods(const struct milter_set *ms);
typedef int (*milter_line_fn)(void *arg, const char *line, size_t len);
/* Write the message as modified, line by line without line ends, to fn.
 * 0, or -1 (fn failed, or reading the body file failed: logged). */
int milter_write_message(struct milter_set *ms, milter_line_fn fn,
    void *arg);
/* Forget the message content and modifications (end of transaction). */
void milter_message_end(struct milter_set *ms);

#endif
