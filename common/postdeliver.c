/*
 * postdeliver.c - quota warnings and vacation replies after a local
 * delivery (postdeliver.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver.h"
#include "dsn.h"
#include "log.h"
#include "mail.h"
#include "postdeliver.h"
#include "util.h"
#include "vacation.h"

void
postdeliver_init(struct postdeliver *p, const char *qid, const char *sender,
    const char *sid)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->qid, sizeof(p->qid), "%s", qid);
	p->sender = xstrdup(sender != NULL ? sender : "");
	p->sid = xstrdup(sid != NULL ? sid : "-");
}

void
postdeliver_add(struct postdeliver *p, const char *mailbox,
    const char *account, const char *orcpt, const char *placed,
    const struct quota *q, uint64_t used)
{
	struct postdeliver_item *it;

	if (p == NULL || placed == NULL)
		return;
	p->items = xrealloc(p->items, (p->count + 1) * sizeof(*it));
	it = &p->items[p->count++];
	it->mailbox = xstrdup(mailbox);
	it->account = xstrdup(account);
	it->orcpt = xstrdup(orcpt);
	it->placed = xstrdup(placed);
	it->quota = *q;
	it->used = used;
}

/* One message from <> to one address (never kept for later: a
 * courtesy); logged under what. */
static void
submit(struct deliver_ctx *ctx, const struct postdeliver *p, const char *to,
    const struct buf *msg, const char *what)
{
	struct smtp_reply reply;

	if (delivery_submit_notice(ctx, p->qid, to, msg, true, &reply) == 1)
		log_info("action=%s sid=%s qid=%s to=<%s> status=sent "
		    "dsn_qid=%s", what, p->sid, p->qid, to,
		    smtp_reply_queued_id(&reply));
}

static void
quota_warning(struct deliver_ctx *ctx, const struct dmail_conf *conf,
    const struct postdeliver *p, const struct postdeliver_item *it)
{
	struct buf msg = BUF_INIT;
	int r = quota_warning_due(it->mailbox, it->used, &it->quota,
	    conf->quota_warning_percent);

	if (r < 0)
		log_warn("event=quota-warning-failed path=%s error=\"%s\"",
		    it->mailbox, strerror(errno));
	if (r != 1)
		return;
	quota_warning_compose(conf->hostname, it->account, it->used,
	    &it->quota, &msg);
	submit(ctx, p, it->account, &msg, "quota-warning");
	buf_free(&msg);
}

/* The reply, when the account has one set and this message earns it. */
static void
vacation_reply(struct deliver_ctx *ctx, const struct dmail_conf *conf,
    const struct postdeliver *p, const struct postdeliver_item *it)
{
	const char *own[2] = { it->account, it->orcpt };
	struct vacation v;
	struct buf head = BUF_INIT, msg = BUF_INIT, date = BUF_INIT,
	    id = BUF_INIT;
	struct mail m;
	const char *why;
	int r = vacation_load(it->mailbox, &v);

	if (r <= 0) {
		if (r < 0)
			log_warn("action=vacation qid=%s user=%s status=failed "
			    "error=\"%s\"", p->qid, it->account,
			    strerror(errno));
		return;
	}
	if (dsn_read_original(it->placed, 0, false, &head) < 0) {
		log_warn("action=vacation qid=%s user=%s status=failed "
		    "path=%s error=\"%s\"", p->qid, it->account, it->placed,
		    strerror(errno));
		goto out;
	}
	mail_parse(head.data != NULL ? head.data : "", head.len, &m);
	why = vacation_refuse(&m, p->sender, own, 2);
	if (why == NULL && (r = vacation_due(it->mailbox, p->sender,
	    v.period, time(NULL))) != 1)
		why = r == 0 ? "replied within the period" :
		    "reply record unwritable";
	if (why != NULL) {
		log_info("action=vacation qid=%s user=%s from=<%s> "
		    "status=skipped reason=\"%s\"", p->qid, it->account,
		    p->sender, why);
	} else {
		rfc5322_date(time(NULL), false, &date);
		message_id(conf->hostname, &id);
		vacation_compose(&v, &m, it->account, p->sender, date.data,
		    id.data, &msg);
		submit(ctx, p, p->sender, &msg, "vacation");
	}
	mail_free(&m);
out:
	vacation_free(&v);
	buf_free(&head);
	buf_free(&msg);
	buf_free(&date);
	buf_free(&id);
}

void
postdeliver_run(struct deliver_ctx *ctx, const struct dmail_conf *conf,
    struct postdeliver *p)
{
	for (size_t i = 0; i < p->count; i++) {
		struct postdeliver_item *it = &p->items[i];

		quota_warning(ctx, conf, p, it);
		vacation_reply(ctx, conf, p, it);
		free(it->mailbox);
		free(it->account);
		free(it->orcpt);
		free(it->placed);
	}
	free(p->items);
	free(p->sender);
	free(p->sid);
	memset(p, 0, sizeof(*p));
}
