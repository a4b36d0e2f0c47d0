/*
 * vacation.h - per-account automatic replies ("vacation", "out of
 * office"), RFC 3834 compliant.
 *
 * Settings live in the account's Maildir, MAILDIR/dmail-vacation, written
 * by dmail-user vacation (durably: write, fsync, rename, fsync the
 * directory); the file's presence means on. Its format is a few
 * "key: value" lines, an empty line, then the reply text:
 *
 *     subject: Away until Monday        (empty: "Auto: " + theirs)
 *     period: 604800                    (seconds between two replies
 *                                        to one sender; default 7 days)
 *
 *     I am away ...
 *
 * Who gets a reply (vacation_refuse(), RFC 3834 section 2 and the rules
 * of RFC 5230 section 4.5): never a null or MAILER-DAEMON, postmaster,
 * owner-*, *-request, *-bounces or noreply sender; never mail with
 * Auto-Submitted other than "no", Precedence bulk/list/junk, any List-*
 * field, X-Spam-Flag yes; and only mail that names one of the account's
 * addresses in To, Cc, Bcc or Resent-To/-Cc/-Bcc (so Bcc'd list copies
 * and spam to made-up names get nothing). Once per sender per period
 * (vacation_due(): MAILDIR/dmail-vacation.seen, "EPOCH ADDRESS" lines,
 * at most VACATION_SEEN_MAX senders, expired ones dropped when it is
 * rewritten).
 *
 * The reply (vacation_compose()): From the account, To the sender,
 * In-Reply-To and References of the original, Auto-Submitted:
 * auto-replied, text/plain UTF-8; it is sent with the null envelope
 * sender (RFC 3834 3.3), so it can never bounce back.
 *
 * Nothing here logs; functions return -1 with errno on I/O failure.
 */
#ifndef DMAIL_VACATION_H
#define DMAIL_VACATION_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "mail.h"

#define VACATION_FILE "dmail-vacation"
#define VACATION_SEEN_FILE "dmail-vacation.seen"
#define VACATION_PERIOD_DEFAULT (7 * 86400)
#define VACATION_SEEN_MAX 10000
#define VACATION_TEXT_MAX (64 * 1024)
#define VACATION_SUBJECT_MAX 200

struct vacation {
	char subject[VACATION_SUBJECT_MAX + 1];  /* "" for Auto: theirs */
	unsigned period;                        /* seconds */
	struct buf text;                        /* the reply's body */
};

/* 1 and *v filled when the account has a reply set, 0 when not, -1 when
 * the file cannot be read or is not valid. */
int vacation_load(const char *maildir, struct vacation *v);
/* Durably write or remove the settings. */
int vacation_save(const char *maildir, const struct vacation *v);
int vacation_remove(const char *maildir);
void vacation_free(struct vacation *v);

/* NULL when the message m, from env_sender to the account whose
 * addresses are own[0..nown), deserves a reply; else why not (for the
 * log). */
const char *vacation_refuse(const struct mail *m, const char *env_sender,
    const char *const *own, size_t nown);

/* 1 when sender has had no reply within period seconds of now (and
 * records now as its reply time), 0 when it has, -1 on failure. */
int vacation_due(const char *maildir, const char *sender, unsigned period,
    time_t now);

/* The reply message (LF line ends) into out. date and message_id are
 * the values of the reply's Date: and Message-ID: fields. */
void vacation_compose(const struct vacation *v, const struct mail *orig,
    const char *account, const char *sender, const char *date,
    const char *message_id, struct buf *out);

#endif
