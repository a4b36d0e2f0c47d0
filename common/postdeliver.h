/*
 * postdeliver.h - what follows a local delivery, once the message is
 * durable: the quota warning (quota.h, quota_warning_percent) and the
 * account's automatic reply (vacation.h).
 *
 * deliver.c records each mailbox a message was placed in
 * (postdeliver_add()) and, after the delivery is finished, calls
 * postdeliver_run(): both mails are new messages sent through
 * delivery_submit() (deliver.h) with the null envelope sender, so they
 * never bounce back. A failure is logged and never undoes or fails the
 * delivery it follows.
 *
 * Vacation (RFC 3834): the placed copy's header is read back and
 * vacation_refuse() and vacation_due() decide (no reply to null,
 * list, bulk or automatic mail; once per sender per period); the
 * account's addresses are the account and the address the message was
 * sent to (an alias or plus address). Nothing here is fatal.
 */
#ifndef DMAIL_POSTDELIVER_H
#define DMAIL_POSTDELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "quota.h"
#include "spool.h"

struct deliver_ctx;

struct postdeliver_item {
	char *mailbox, *account, *orcpt, *placed;
	struct quota quota;
	uint64_t used;            /* usage after the delivery, bytes */
};

struct postdeliver {
	char qid[SPOOL_ID_MAX];
	char *sender;             /* envelope sender, "" for <> */
	char *sid;                /* session id for logs, or "-" */
	struct postdeliver_item *items;
	size_t count;
};

void postdeliver_init(struct postdeliver *p, const char *qid,
    const char *sender, const char *sid);
/* Record a placed copy (strings copied; p may be NULL: nothing). */
void postdeliver_add(struct postdeliver *p, const char *mailbox,
    const char *account, const char *orcpt, const char *placed,
    const struct quota *q, uint64_t used);
/* Send what is due for each recorded copy, then free p's contents. */
void postdeliver_run(struct deliver_ctx *ctx, const struct dmail_conf *conf,
    struct postdeliver *p);

#endif
