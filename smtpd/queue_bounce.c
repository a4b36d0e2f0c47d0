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
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "deliver.h"
#include "dsn.h"
#include "log.h"
#include "outbound.h"
#include "spool.h"

/* How much of the original is read for the DSN's third part. */
#define BOUNCE_READ_MAX (256 * 1024)

static int
read_original(const char *path, off_t off, struct buf *out)
{
	char block[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -1;
	while (out->len < BOUNCE_READ_MAX &&
	    (got = pread(fd, block, sizeof(block), off)) > 0) {
		buf_append(out, block, (size_t)got);
		off += got;
	}
	close(fd);
	if (out->len > BOUNCE_READ_MAX)
		buf_truncate(out, BOUNCE_READ_MAX);
	return 0;
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
		log_warn("queue_id=%s bounce to <%s> dropped: %d %s %s",
		    orig_id, to, reply.code, reply.enhanced, reply.text);
		return 0;
	case RCPT_TEMPFAIL:
	default:
		log_warn("queue_id=%s bounce to <%s> deferred: %d %s %s",
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
		log_error("queue_id=%s bounce to <%s> failed: %d %s %s",
		    orig_id, to, reply.code, reply.enhanced, reply.text);
		return reply.code >= 500 ? 0 : -1;
	}
	log_info("queue_id=%s dsn to=<%s> dsn_id=%s", orig_id, to,
	    reply.text);
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
	struct buf orig = BUF_INIT, msg = BUF_INIT, to = BUF_INIT;
	int rcode;

	if (env->sender[0] == '\0') {
		if (c->null_sender_bounces != NULL_BOUNCE_POSTMASTER ||
		    delayed) {
			log_info("queue_id=%s sender is <>: no %s sent", env->id,
			    delayed ? "delay warning" : "bounce");
			free(rc);
			return 0;
		}
		buf_printf(&to, "postmaster@%s", c->local_domains.count ?
		    c->local_domains.items[0] : c->hostname);
	} else {
		buf_set(&to, env->sender);
	}
	if (read_original(path, env->message_offset, &orig) < 0) {
		log_error("queue_id=%s cannot read %s for the DSN: %s",
		    env->id, path, strerror(errno));
		buf_free(&to);
		free(rc);
		return -1;
	}
	for (size_t k = 0; k < n; k++) {
		const struct spool_rcpt *sr = &env->rcpts[idx[k]];
		const struct qinfo_rcpt *qr = idx[k] < info->rcpt_count ?
		    &info->rcpts[idx[k]] : NULL;
		rc[k].address = sr->address;
		rc[k].orcpt = sr->orcpt != NULL &&
		    strcmp(sr->orcpt, sr->address) != 0 ? sr->orcpt : NULL;
		rc[k].action = delayed ? DSN_DELAYED : DSN_FAILED;
		rc[k].status = qr != NULL && qr->status[0] ? qr->status :
		    delayed ? "4.0.0" : "5.0.0";
		rc[k].remote_mta = qr != NULL ? qr->remote : NULL;
		rc[k].diagnostic = qr != NULL ? qr->text : NULL;
		rc[k].last_attempt = (int64_t)time(NULL);
	}
	memset(&r, 0, sizeof(r));
	r.reporting_mta = c->hostname;
	r.sender = env->sender[0] ? env->sender : "<>";
	r.queue_id = env->id;
	r.arrival = env->arrival;
	r.now = (int64_t)time(NULL);
	r.retry_until = env->arrival + c->queue_lifetime;
	r.rcpts = rc;
	r.rcpt_count = n;
	r.message = orig.data ? orig.data : "";
	r.message_len = orig.len;
	dsn_build(&r, &msg);
	rcode = inject(qs, to.data, &msg, env->id);
	buf_free(&orig);
	buf_free(&msg);
	buf_free(&to);
	free(rc);
	return rcode;
}
