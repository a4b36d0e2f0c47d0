/*
 * quota.h - mailbox quota: whether a message fits an account's Maildir
 * (at RCPT time with the SIZE= value, after DATA with the real size),
 * the SMTP reply that says why not, and the quota warning state.
 *
 * A quota is bytes (sum of the S= sizes of new/ and cur/) and/or a
 * message count, each 0 for unlimited (userdb.h). A message fits when
 * the mailbox is below both limits and usage + size stays within the
 * byte limit. It does not fit "for now" (QUOTA_FULL: 452 4.2.2, the
 * owner may make room) or "ever" (QUOTA_TOO_BIG: the message alone is
 * larger than the byte quota, 552 5.2.2).
 *
 * Warning state (quota_warning_percent in dmail.conf): the file
 * MAILDIR/dmail-quota-warned exists while the mailbox is at or above the
 * percentage. quota_warning_due() creates it on the crossing upwards
 * (then one warning is sent) and removes it when usage fell below again,
 * so each crossing warns once.
 *
 * Nothing here logs; a Maildir whose usage cannot be read counts as
 * fitting (the caller logs the errno it gets).
 */
#ifndef DMAIL_QUOTA_H
#define DMAIL_QUOTA_H

#include <stdint.h>

#include "buf.h"
#include "smtp_reply.h"

#define QUOTA_WARNED_FILE "dmail-quota-warned"

enum quota_verdict {
	QUOTA_OK,
	QUOTA_FULL,        /* 452 4.2.2: over quota now */
	QUOTA_TOO_BIG,     /* 552 5.2.2: larger than the whole quota */
	QUOTA_UNKNOWN,     /* usage unreadable (errno set): accepted */
};

struct quota {
	uint64_t bytes;            /* 0: unlimited */
	uint64_t messages;         /* 0: unlimited */
};

/* Does a message of size bytes fit mailbox? *used gets the usage in
 * bytes before it (0 when unknown or unlimited). */
enum quota_verdict quota_check(const char *mailbox, const struct quota *q,
    uint64_t size, uint64_t *used);
/* The refusal for v (QUOTA_FULL or QUOTA_TOO_BIG) naming address. */
void quota_reply(enum quota_verdict v, const char *address,
    struct smtp_reply *reply);
/* True when reply is one of quota_reply()'s refusals. */
int quota_is_refusal(const struct smtp_reply *reply);

/* 1 when a warning is due now (state file created), 0 when not (state
 * kept or cleared), -1 on I/O failure (errno). used is the usage after
 * the delivery; percent 0 means off. */
int quota_warning_due(const char *mailbox, uint64_t used,
    const struct quota *q, unsigned percent);
/* The warning message (LF line ends) from postmaster@domain of account
 * to account, into out. */
void quota_warning_compose(const char *hostname, const char *account,
    uint64_t used, const struct quota *q, struct buf *out);

#endif
