/*
 * queue_bounce.c - DSNs (bounces and delay warnings) for queued mail,
 * built with dsn.h and injected through the normal delivery path
 * (deliver.h) with the null sender, from MAILER-DAEMON.
 *
 * Never bounce a bounce: a message whose sender is the null path gets no
 * DSN; with "null_sender_bounces postmaster" the report goes to the
 * postmaster of the first local domain instead, else it is logged and
 * dropped. A sender we cannot deliver to (unknown local user) is logged
 * and dropped too: there is nobody else to tell.
 *
 * DSN parameters of the original transaction (RFC 3461) come from the
 * queue file (spool_read(): env->ret, env->envid, each recipient's
 * notify; format in spool.h). Without a notify line a recipient gets
 * failure and delay notices, as RFC 3461 4.1 allows; with one, only what
 * it asks for. RET FULL returns the whole message (up to DSN_FULL_MAX),
 * else only its header (dsn_read_original()). Success notices are not
 * generated here. The report is submitted with delivery_submit(), like
 * all mail DMail writes itself.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "deliver.h"
#include "dsn.h"
#include "log.h"
#include "queued.h"
#include "spool.h"

/* Longest Remote-MTA name kept for a report. */
#define DSN_REMOTE_MAX 300

/* Does a recipient with these NOTIFY flags want this kind of notice? */
static bool
wants(unsigned char f, bool delayed)
{
	if (!(f & DSN_NOTIFY_GIVEN))
		return true;
	if (f & DSN_NOTIFY_NEVER)
		return false;
	return (f & (delayed ? DSN_NOTIFY_DELAY : DSN_NOTIFY_FAILURE)) != 0;
}

/* Is the queued message one of our own DSNs (From: MAILER-DAEMON@us)? */
static bool
own_report(const struct dmail_conf *c, const char *path,
    const struct spool_envelope *env)
{
	struct buf head = BUF_INIT, want = BUF_INIT;
	bool yes = false;
	const char *p;

	buf_printf(&want, "\nFrom: MAILER-DAEMON@%s", c->hostname);
	if (dsn_read_original(path, env->message_offset, false, &head) == 0) {
		/* Only the header block counts. */
		const char *end = strstr(buf_cstr(&head), "\n\n");
		if (end != NULL)
			buf_truncate(&head, (size_t)(end - head.data) + 1);
		buf_append_str(&head, "");
		p = strcasestr(buf_cstr(&head), want.data);
		yes = p != NULL || strncasecmp(buf_cstr(&head), want.data + 1,
		    want.len - 1) == 0;
	}
	buf_free(&head);
	buf_free(&want);
	return yes;
}

/* Submit the report (LF lines) from <> to one recipient: 0 done (or
 * dropped: the recipient refused it for good, logged), -1 later. */
static int
inject(struct qstate *qs, const char *to, const struct buf *msg,
    const char *orig_id)
{
	struct deliver_ctx *dctx = qstate_dctx(qs);
	struct smtp_reply reply;
	int rc;

	if (dctx == NULL)
		return -1;
	rc = delivery_submit_notice(dctx, orig_id, to, msg, false, &reply);
	if (rc == 1)
		log_info("action=dsn qid=%s to=<%s> status=sent dsn_qid=%s",
		    orig_id, to, smtp_reply_queued_id(&reply));
	return rc == -1 ? -1 : 0;
}

int
qbounce_send(struct qstate *qs, const char *path,
    const struct spool_envelope *env, const struct qinfo *info,
    const size_t *idx, size_t n, bool delayed)
{
	const struct dmail_conf *c = qs->conf;
	struct dsn_rcpt *rc = xcalloc(n, sizeof(*rc));
	struct dsn_report r;
	struct buf orig = BUF_INIT, msg = BUF_INIT, to = BUF_INIT;
	size_t nrc = 0;
	char (*remote)[DSN_REMOTE_MAX] = xcalloc(n ? n : 1, DSN_REMOTE_MAX);
	int rcode;

	if (env->sender[0] == '\0') {
		if (c->null_sender_bounces != NULL_BOUNCE_POSTMASTER ||
		    delayed) {
			log_info("action=dsn qid=%s status=skipped "
			    "reason=\"sender is <>: no %s sent\"", env->id,
			    delayed ? "delay warning" : "bounce");
			free(rc);
			free(remote);
			return 0;
		}
		buf_printf(&to, "postmaster@%s", c->local_domains.count ?
		    c->local_domains.items[0] : c->hostname);
		if (own_report(c, path, env)) {
			/* Our own report to the postmaster failed: telling
			 * the postmaster again would loop. */
			log_warn("action=dsn qid=%s to=%s status=dropped "
			    "reason=\"a report from MAILER-DAEMON failed\"",
			    env->id, to.data);
			buf_free(&to);
			free(rc);
			free(remote);
			return 0;
		}
	} else {
		buf_set(&to, env->sender);
	}
	for (size_t k = 0; k < n; k++) {
		const struct spool_rcpt *sr = &env->rcpts[idx[k]];
		const struct qinfo_rcpt *qr = idx[k] < info->rcpt_count ?
		    &info->rcpts[idx[k]] : NULL;
		struct dsn_rcpt *d = &rc[nrc];

		if (!wants(sr->notify, delayed)) {
			log_info("action=dsn qid=%s to=<%s> status=skipped "
			    "reason=\"NOTIFY excludes a %s\"",
			    env->id, sr->address, delayed ? "delay warning" :
			    "bounce");
			continue;
		}
		d->address = sr->address;
		d->orcpt = sr->orcpt != NULL &&
		    strcmp(sr->orcpt, sr->address) != 0 ? sr->orcpt : NULL;
		d->action = delayed ? DSN_DELAYED : DSN_FAILED;
		d->status = qr != NULL && qr->status[0] ? qr->status :
		    delayed ? "4.0.0" : "5.0.0";
		/* Remote-MTA is a host name ("dns; mx.example.com"): drop
		 * the "[address]" our logs carry. */
		if (qr != NULL && qr->remote != NULL) {
			snprintf(remote[nrc], DSN_REMOTE_MAX, "%.*s",
			    (int)strcspn(qr->remote, "["), qr->remote);
			d->remote_mta = remote[nrc];
		}
		d->diagnostic = qr != NULL ? qr->text : NULL;
		d->last_attempt = (int64_t)time(NULL);
		nrc++;
	}
	if (nrc == 0) {
		rcode = 0;
		goto out;
	}
	if (dsn_read_original(path, env->message_offset,
	    env->ret == DSN_RET_FULL, &orig) < 0) {
		log_error("action=dsn qid=%s status=failed path=%s "
		    "error=\"%s\"", env->id, path, strerror(errno));
		rcode = -1;
		goto out;
	}
	memset(&r, 0, sizeof(r));
	r.reporting_mta = c->hostname;
	r.sender = to.data;
	r.queue_id = env->id;
	r.arrival = env->arrival;
	r.now = (int64_t)time(NULL);
	r.retry_until = env->arrival + c->queue_lifetime;
	r.rcpts = rc;
	r.rcpt_count = nrc;
	r.message = orig.data ? orig.data : "";
	r.message_len = orig.len;
	r.envid = env->envid;
	r.ret_full = env->ret == DSN_RET_FULL;
	dsn_build(&r, &msg);
	rcode = inject(qs, to.data, &msg, env->id);
out:
	free(remote);
	buf_free(&orig);
	buf_free(&msg);
	buf_free(&to);
	free(rc);
	return rcode;
}
