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
 * DSN parameters of the original transaction (RFC 3461) come from
 * optional queue file header lines (queue_dsnparams.c, format in
 * queued.h). Without a notify line a recipient gets failure and delay
 * notices, as RFC 3461 4.1 allows; with one, only what it asks for. RET
 * FULL returns the whole message (up to 10 MB), else only its header.
 * Success notices are not generated.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "deliver.h"
#include "dsn.h"
#include "log.h"
#include "queued.h"
#include "spool.h"

/* How much of the original is read for the DSN's third part. */
#define BOUNCE_READ_MAX (256 * 1024)
#define DSN_REMOTE_MAX 300
#define BOUNCE_FULL_MAX (10 * 1024 * 1024)

/* Does recipient i want this kind of notice? */
static bool
wants(const struct qdsn *p, size_t i, bool delayed)
{
	unsigned char f = p->notify[i];

	if (!(f & QDSN_GIVEN))
		return true;
	if (f & QDSN_NEVER)
		return false;
	return (f & (delayed ? QDSN_DELAY : QDSN_FAILURE)) != 0;
}

static int
read_original(const char *path, off_t off, struct buf *out, size_t max)
{
	char block[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -1;
	while (out->len < max &&
	    (got = pread(fd, block, sizeof(block), off)) > 0) {
		buf_append(out, block, (size_t)got);
		off += got;
	}
	close(fd);
	if (out->len > max)
		buf_truncate(out, max);
	return 0;
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
	if (read_original(path, env->message_offset, &head, 64 * 1024) == 0) {
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

/* Deliver text (LF lines) from <> to one recipient. */
static int
inject(struct qstate *qs, const char *to, const struct buf *msg,
    const char *orig_id)
{
	struct delivery_info info;
	struct smtp_reply reply;
	struct deliver_ctx *dctx = qstate_dctx(qs);
	struct delivery *d;
	const char *p, *end, *nl;

	if (dctx == NULL)
		return -1;

	memset(&info, 0, sizeof(info));
	info.session_id = orig_id;
	info.client_ip = "127.0.0.1";
	info.client_helo = qs->conf->hostname;
	info.protocol = "ESMTP";
	info.tls = "";
	switch (deliver_check_rcpt(dctx, to, msg->len, &reply)) {
	case RCPT_LOCAL:
	case RCPT_REMOTE:
		break;
	case RCPT_REJECT:
		log_warn("action=dsn qid=%s to=<%s> status=dropped "
		    "reply=\"%d %s %s\"",
		    orig_id, to, reply.code, reply.enhanced, reply.text);
		return 0;
	case RCPT_TEMPFAIL:
	default:
		log_warn("action=dsn qid=%s to=<%s> status=deferred "
		    "reply=\"%d %s %s\"",
		    orig_id, to, reply.code, reply.enhanced, reply.text);
		return -1;
	}
	d = delivery_begin(dctx, "", &info);
	if (d == NULL)
		return -1;
	delivery_add_rcpt(d, to);
	for (p = msg->data, end = msg->data + msg->len; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (delivery_write_line(d, p, (size_t)(nl - p)) < 0)
			break;
	}
	if (delivery_commit(d, &reply) < 0) {
		log_error("action=dsn qid=%s to=<%s> status=failed "
		    "reply=\"%d %s %s\"",
		    orig_id, to, reply.code, reply.enhanced, reply.text);
		return reply.code >= 500 ? 0 : -1;
	}
	log_info("action=dsn qid=%s to=<%s> status=sent dsn_qid=%s",
	    orig_id, to, reply.text);
	return 0;
}

int
qbounce_send(struct qstate *qs, const char *path,
    const struct spool_envelope *env, const struct qinfo *info,
    const size_t *idx, size_t n, bool delayed)
{
	const struct dmail_conf *c = qs->conf;
	struct dsn_rcpt *rc = xcalloc(n, sizeof(*rc));
	struct dsn_report r;
	struct qdsn dp;
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
	qdsn_read(path, env->rcpt_count, &dp);
	for (size_t k = 0; k < n; k++) {
		const struct spool_rcpt *sr = &env->rcpts[idx[k]];
		const struct qinfo_rcpt *qr = idx[k] < info->rcpt_count ?
		    &info->rcpts[idx[k]] : NULL;
		struct dsn_rcpt *d = &rc[nrc];

		if (!wants(&dp, idx[k], delayed)) {
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
	if (read_original(path, env->message_offset, &orig,
	    dp.ret == QDSN_RET_FULL ?
	    BOUNCE_FULL_MAX : BOUNCE_READ_MAX) < 0) {
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
	r.envid = dp.envid;
	r.ret_full = dp.ret == QDSN_RET_FULL;
	dsn_build(&r, &msg);
	rcode = inject(qs, to.data, &msg, env->id);
out:
	qdsn_free(&dp);
	free(remote);
	buf_free(&orig);
	buf_free(&msg);
	buf_free(&to);
	free(rc);
	return rcode;
}
