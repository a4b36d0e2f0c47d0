/*
 * smtp_hold.c - the hold queue of dmail-smtpd: a message set aside at
 * the end of DATA instead of being delivered, for the operator to look
 * at. Two things send a message there, both through smtp_hold_write():
 * a milter's SMFIR_QUARANTINE (smtp_milter.c) and a DMARC failure under
 * p=quarantine with dmarc_enforce (smtp_verify.c, through
 * smtp_checks_eom()).
 *
 * The held message is a maildrop file (spool.h format: the envelope,
 * then the message) written into state_dir/spool/quarantine/maildrop/
 * (poison.h) with its reason note, fsync'd before the client gets its
 * 250. "tellsmtp quarantine" lists it with the reason and "tellsmtp
 * release ID" hands it to the queue manager's maildrop pickup, which
 * resolves and delivers its recipients as for any maildrop file.
 *
 *   smtp_hold_envelope()  the envelope without recipients: id, arrival,
 *                         sender, client
 *   smtp_hold_write()     envelope and message (line by line from a
 *                         source callback) into the hold queue;
 *                         0, or -1 (logged once: event=write-failed)
 *   smtp_hold_rcpt()      note an accepted RCPT TO address: the
 *                         envelope of smtp_hold_message()
 *   smtp_hold_restart()   a milter rebuilt the delivery: its sender,
 *                         then its recipients through smtp_hold_rcpt()
 *   smtp_hold_reset()     forget the envelope (end of the transaction)
 *   smtp_hold_message()   the held message of smtp_checks.c (the top
 *                         fields and ss->held) into the hold queue;
 *                         replies 250 (451 when it cannot be written),
 *                         logs action=quarantine with the reason once,
 *                         and returns smtp_held
 *
 * Nothing here is fatal.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "poison.h"
#include "smtpd.h"
#include "spool.h"
#include "util.h"

const char smtp_held[] = "held";

void
smtp_hold_envelope(struct smtp_session *ss, const char *id,
    const char *sender, struct spool_envelope *env)
{
	struct buf client = BUF_INIT;

	spool_envelope_init(env);
	snprintf(env->id, sizeof(env->id), "%s", id);
	env->arrival = time(NULL);
	env->sender = xstrdup(sender);
	buf_printf(&client, "%s helo=%s proto=SMTP", ss->ws->peer_ip,
	    ss->helo[0] ? ss->helo : "unknown");
	env->client = buf_steal(&client);
}

/* The file being written: pending bytes, the first errno. */
struct hold_writer {
	int fd;
	struct buf out;
	int err;
};

static int
to_file(void *arg, const char *line, size_t len)
{
	struct hold_writer *w = arg;

	buf_append(&w->out, line, len);
	buf_append_char(&w->out, '\n');
	if (w->out.len >= IO_CHUNK) {
		if (write_all(w->fd, w->out.data, w->out.len) < 0) {
			w->err = errno;
			return -1;
		}
		buf_reset(&w->out);
	}
	return 0;
}

int
smtp_hold_write(struct smtp_session *ss, const struct spool_envelope *env,
    smtp_hold_source source, void *src, const char *reason)
{
	struct buf tmp = BUF_INIT, dir = BUF_INIT, qdir = BUF_INIT;
	struct hold_writer w = { -1, BUF_INIT, 0 };
	int rc = -1;

	poison_paths(ss->conf, POISON_MAILDROP, &dir, &qdir);
	buf_reset(&dir);
	if (mkdir_p(qdir.data, 0700) < 0 ||
	    (w.fd = spool_create_tmp(ss->conf, env->id, &tmp)) < 0) {
		w.err = errno;
		goto out;
	}
	spool_envelope_format(env, &w.out);
	if (source(src, to_file, &w) < 0 ||
	    write_all(w.fd, w.out.data, w.out.len) < 0) {
		if (w.err == 0)
			w.err = errno;
		close(w.fd);
		unlink(tmp.data);
		goto out;
	}
	buf_printf(&dir, "spool=maildrop file=%s reason=%s sid=%s", env->id,
	    reason, ss->ws->id);
	(void)poison_note(qdir.data, env->id, dir.data);
	buf_printf(&qdir, "/%s", env->id);
	if (durable_publish(w.fd, tmp.data, qdir.data, false) < 0)
		w.err = errno;
	else
		rc = 0;
out:
	if (rc < 0)
		log_error("event=write-failed sid=%s qid=%s path=%s "
		    "error=\"%s\"", ss->ws->id, env->id, qdir.data,
		    strerror(w.err));
	buf_free(&w.out);
	buf_free(&tmp);
	buf_free(&dir);
	buf_free(&qdir);
	return rc;
}

void
smtp_hold_rcpt(struct smtp_session *ss, const char *addr)
{
	strlist_add(&ss->hold_rcpts, addr);
}

void
smtp_hold_restart(struct smtp_session *ss, const char *sender)
{
	smtp_hold_reset(ss);
	ss->hold_sender = xstrdup(sender);
}

void
smtp_hold_reset(struct smtp_session *ss)
{
	strlist_free(&ss->hold_rcpts);
	free(ss->hold_sender);
	ss->hold_sender = NULL;
}

/* The lines of msg[0..len) (LF ends) to fn; 0 or -1 from fn. */
static int
buf_lines(const struct buf *msg, smtp_hold_line_fn fn, void *arg)
{
	const char *p = msg->data, *end = p + msg->len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (fn(arg, p, n) < 0)
			return -1;
		p += nl != NULL ? n + 1 : n;
	}
	return 0;
}

/* smtp_hold_message()'s source: the top fields, then the message. */
struct held_source {
	const struct buf *top, *held;
};

static int
held_lines(void *src, smtp_hold_line_fn fn, void *arg)
{
	const struct held_source *h = src;

	return buf_lines(h->top, fn, arg) < 0 ? -1 :
	    buf_lines(h->held, fn, arg);
}

const char *
smtp_hold_message(struct smtp_session *ss, const struct buf *top,
    const char *reason, const char *why)
{
	struct held_source h = { top, &ss->held };
	struct spool_envelope env;
	struct smtp_reply r;
	char id[SPOOL_ID_MAX];
	int rc;

	snprintf(id, sizeof(id), "%s", delivery_id(ss->dlv));
	smtp_hold_envelope(ss, id, ss->hold_sender != NULL ?
	    ss->hold_sender : ss->mail.from.addr, &env);
	for (size_t i = 0; i < ss->hold_rcpts.count; i++)
		spool_envelope_add_rcpt(&env, ss->hold_rcpts.items[i],
		    ss->hold_rcpts.items[i]);
	rc = smtp_hold_write(ss, &env, held_lines, &h, reason);
	spool_envelope_free(&env);
	if (rc < 0) {
		smtp_reply(ss, 451, "4.3.0", "Local error, try again later");
		return smtp_held;
	}
	log_info("action=quarantine sid=%s qid=%s client=%s from=<%s> to=%s "
	    "reason=\"%s\"", ss->ws->id, id, ss->ws->peer_ip,
	    ss->mail.from.addr, buf_cstr(&ss->rcpts), why);
	smtp_reply_set(&r, 250, "2.0.0", "Ok: queued as %s", id);
	smtp_reply_r(ss, &r);
	ss->messages++;
	return smtp_held;
}
