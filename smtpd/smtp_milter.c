/*
 * smtp_milter.c - the SMTP session's side of the milters (protocol in
 * milter.c): which milters a session gets (smtpd_milters for the smtp
 * role, submission_milters for submission and smtps), the macros, the
 * hook of each SMTP stage, and what the session does with the verdict
 * at the end of DATA.
 *
 * Each hook returns 0 to go on or -1 when it has replied (reject,
 * tempfail, 421 shutdown) and the caller must stop. Without milters every
 * hook returns 0 at once.
 *
 * With milters, DATA content goes to milter_content_line() first;
 * smtp_milter_eom() runs the milters and then hands the (modified)
 * message back to the session line by line (which holds it for
 * smtp_checks.c, so DMail's own DKIM signature and Authentication-Results
 * cover what the milters left, or writes it into the delivery),
 * rebuilding the delivery first when a milter changed the sender or the
 * recipients (an added recipient is checked like RCPT TO; one that would
 * be refused is logged and skipped). Nothing is durable before
 * delivery_commit(), so the 250 covers exactly what is stored.
 *
 * Discard: 250 and the message is dropped (logged). Quarantine: the
 * message, as the milters left it, goes to the hold queue (smtp_hold.c:
 * a maildrop file in state_dir/spool/quarantine/maildrop/, fsync'd) and
 * the client gets 250; "tellsmtp quarantine" lists it and "tellsmtp
 * release ID" hands it to the queue manager's maildrop pickup, which
 * delivers it to its recipients. A rebuilt delivery tells the hold
 * queue its new envelope (smtp_hold_restart(), smtp_hold_rcpt()), so a
 * message held later for another reason (DMARC) keeps the milters'
 * sender and recipients.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "log.h"
#include "milter.h"
#include "scoreboard.h"
#include "smtpd.h"
#include "spool.h"
#include "util.h"

/* One accepted recipient, kept to rebuild the delivery. */
struct mrcpt {
	char *addr, *orcpt;
	unsigned notify;
};

struct smtp_milter {
	struct milter_set *ms;
	bool in_txn;              /* MAIL sent, no end of message yet */
	bool discard;             /* a milter said discard before DATA end */
	struct mrcpt *rcpts;
	size_t nrcpt;
};

static void
forget_rcpts(struct smtp_milter *sm)
{
	for (size_t i = 0; i < sm->nrcpt; i++) {
		free(sm->rcpts[i].addr);
		free(sm->rcpts[i].orcpt);
	}
	free(sm->rcpts);
	sm->rcpts = NULL;
	sm->nrcpt = 0;
}

/* Reply for a refusal, log it once, count it. -1 (the caller stops);
 * 421 ends the session. */
static int
refused(struct smtp_session *ss, const char *stage, enum milter_result res,
    const struct smtp_reply *r)
{
	log_info("action=reject sid=%s stage=%s client=%s from=<%s> "
	    "reply=\"%d %s %s\" reason=\"milter\"", ss->ws->id, stage,
	    ss->ws->peer_ip, ss->mail.from.addr, r->code, r->enhanced,
	    r->text);
	smtp_reply_r(ss, r);
	scoreboard_count_reject(r->code, r->enhanced);
	if (res == MILTER_SHUTDOWN)
		ss->state = SMTP_S_QUIT;
	return -1;
}

/* The verdict of an envelope stage: 0 go on, -1 replied. */
static int
verdict(struct smtp_session *ss, const char *stage, enum milter_result res,
    const struct smtp_reply *r)
{
	if (res == MILTER_DISCARD) {
		ss->milter->discard = true;
		return 0;
	}
	return res == MILTER_CONTINUE ? 0 : refused(ss, stage, res, r);
}

static void
tls_macros(struct smtp_session *ss)
{
	SSL *ssl = stream_ssl(ss->s);
	char bits[16];

	milter_macro(ss->milter->ms, "{tls_version}",
	    ssl ? SSL_get_version(ssl) : NULL);
	milter_macro(ss->milter->ms, "{cipher}",
	    ssl ? SSL_get_cipher_name(ssl) : NULL);
	snprintf(bits, sizeof(bits), "%d", ssl ? SSL_get_cipher_bits(ssl,
	    NULL) : 0);
	milter_macro(ss->milter->ms, "{cipher_bits}", ssl ? bits : NULL);
}

static void
connect_macros(struct smtp_session *ss, struct milter_set *ms)
{
	struct worker_session *ws = ss->ws;
	char text[128];

	milter_macro(ms, "j", ss->conf->hostname);
	milter_macro(ms, "{daemon_name}", role_name(ws->role));
	milter_macro(ms, "v", "DMail " PACKAGE_VERSION);
	snprintf(text, sizeof(text), "unknown [%s]", ws->peer_ip);
	milter_macro(ms, "_", text);
	milter_macro(ms, "{client_addr}", ws->peer_ip);
	snprintf(text, sizeof(text), "%u", ws->peer_port);
	milter_macro(ms, "{client_port}", text);
	milter_macro(ms, "{client_name}", "unknown");
}

int
smtp_milter_connect(struct smtp_session *ss)
{
	const struct strlist *specs = ss->auth_required ?
	    &ss->conf->submission_milters : &ss->conf->smtpd_milters;
	struct worker_session *ws = ss->ws;
	struct milter_set *ms;
	struct smtp_reply r;
	enum milter_result res;
	char family;

	if ((ms = milter_open(ss->conf, specs, ws->id)) == NULL)
		return 0;
	ss->milter = xcalloc(1, sizeof(*ss->milter));
	ss->milter->ms = ms;
	connect_macros(ss, ms);
	tls_macros(ss);
	family = ws->peer_len == 0 ? 'L' :
	    ws->peer.ss_family == AF_INET6 ? '6' :
	    ws->peer.ss_family == AF_INET ? '4' : 'U';
	res = milter_connect(ms, "unknown", family, ws->peer_port,
	    ws->peer_ip, &r);
	if (res == MILTER_SHUTDOWN)
		return refused(ss, "CONNECT", res, &r);
	/* A refusal of the session is the reply to every later command
	 * (milter.c keeps it); the greeting still goes out. */
	if (res == MILTER_REJECT || res == MILTER_TEMPFAIL)
		log_info("action=reject sid=%s stage=CONNECT client=%s "
		    "reply=\"%d %s %s\" reason=\"milter\"", ws->id,
		    ws->peer_ip, r.code, r.enhanced, r.text);
	return 0;
}

int
smtp_milter_helo(struct smtp_session *ss)
{
	struct smtp_reply r;

	if (ss->milter == NULL)
		return 0;
	tls_macros(ss);
	return verdict(ss, "HELO", milter_helo(ss->milter->ms, ss->helo, &r),
	    &r);
}

/* The MAIL or RCPT stage: "<path>" and the ESMTP parameters that follow
 * the path in the command's argument. */
static enum milter_result
args_stage(struct smtp_session *ss, bool mail, const char *path,
    const char *arg, struct smtp_reply *r)
{
	const char *args[16];
	struct buf first = BUF_INIT, words = BUF_INIT;
	size_t n = 1;
	char *p;
	enum milter_result res;

	buf_printf(&first, "<%s>", path);
	args[0] = first.data;
	buf_append_str(&words, arg);
	p = strchr(words.data, '>');
	for (p = p != NULL ? p + 1 : words.data + words.len; n < 16; ) {
		p += strspn(p, " ");
		if (*p == '\0')
			break;
		args[n++] = p;
		p += strcspn(p, " ");
		if (*p != '\0')
			*p++ = '\0';
	}
	res = mail ? milter_mail(ss->milter->ms, args, n, r) :
	    milter_rcpt(ss->milter->ms, args, n, r);
	buf_free(&first);
	buf_free(&words);
	return res;
}

int
smtp_milter_mail(struct smtp_session *ss, const char *arg)
{
	struct milter_set *ms;
	struct smtp_reply r;

	if (ss->milter == NULL)
		return 0;
	ms = ss->milter->ms;
	ss->milter->in_txn = true;
	ss->milter->discard = false;
	forget_rcpts(ss->milter);
	milter_macro(ms, "i", delivery_id(ss->dlv));
	milter_macro(ms, "{mail_addr}", ss->mail.from.addr);
	milter_macro(ms, "{auth_authen}", ss->auth_user[0] ? ss->auth_user :
	    NULL);
	milter_macro(ms, "{auth_type}", ss->auth_user[0] ? ss->auth_mech :
	    NULL);
	return verdict(ss, "MAIL", args_stage(ss, true, ss->mail.from.addr,
	    arg, &r), &r);
}

int
smtp_milter_rcpt(struct smtp_session *ss, const char *addr, const char *arg,
    bool local, unsigned notify, const char *orcpt)
{
	struct smtp_milter *sm = ss->milter;
	const char *at = strrchr(addr, '@');
	struct smtp_reply r;
	struct mrcpt *m;

	if (sm == NULL)
		return 0;
	milter_macro(sm->ms, "{rcpt_addr}", addr);
	milter_macro(sm->ms, "{rcpt_host}", at != NULL ? at + 1 : "");
	milter_macro(sm->ms, "{rcpt_mailer}", local ? "local" : "smtp");
	if (verdict(ss, "RCPT", args_stage(ss, false, addr, arg, &r), &r) < 0)
		return -1;
	sm->rcpts = xrealloc(sm->rcpts, (sm->nrcpt + 1) * sizeof(*sm->rcpts));
	m = &sm->rcpts[sm->nrcpt++];
	m->addr = xstrdup(addr);
	m->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
	m->notify = notify;
	return 0;
}

int
smtp_milter_data(struct smtp_session *ss)
{
	struct smtp_reply r;

	if (ss->milter == NULL)
		return 0;
	return verdict(ss, "DATA", milter_data(ss->milter->ms, &r), &r);
}

bool
smtp_milter_content(const struct smtp_session *ss)
{
	return ss->milter != NULL && ss->milter->in_txn;
}

int
smtp_milter_line(struct smtp_session *ss, const char *line, size_t len)
{
	return milter_content_line(ss->milter->ms, line, len);
}

void
smtp_milter_reset(struct smtp_session *ss)
{
	if (ss->milter == NULL)
		return;
	if (ss->milter->in_txn)
		milter_abort(ss->milter->ms);
	milter_message_end(ss->milter->ms);
	ss->milter->in_txn = false;
	ss->milter->discard = false;
	forget_rcpts(ss->milter);
}

void
smtp_milter_end(struct smtp_session *ss)
{
	if (ss->milter == NULL)
		return;
	smtp_milter_reset(ss);
	milter_close(ss->milter->ms);
	free(ss->milter);
	ss->milter = NULL;
}

/* --- the end of DATA ------------------------------------------------- */

static bool
in_list(const struct strlist *l, const char *addr)
{
	return strlist_contains_ci(l, addr);
}

/* A new delivery for the changed envelope. 0, or -1 (reply set). */
static int
rebuild_delivery(struct smtp_session *ss, const struct milter_mods *mods,
    struct smtp_reply *r)
{
	struct smtp_milter *sm = ss->milter;
	struct delivery_info info;
	struct smtp_reply rr;
	const char *sender = mods->sender != NULL ? mods->sender :
	    ss->mail.from.addr;
	size_t kept = 0;

	smtp_delivery_info(ss, &info);
	delivery_abort(ss->dlv);
	ss->dlv = delivery_begin(ss->sd->dctx, sender, &info);
	if (ss->dlv == NULL) {
		smtp_reply_set(r, 451, "4.3.0", "Local error, try again later");
		return -1;
	}
	smtp_hold_restart(ss, sender);
	for (size_t i = 0; i < sm->nrcpt; i++) {
		if (in_list(&mods->del_rcpts, sm->rcpts[i].addr))
			continue;
		delivery_add_rcpt_dsn(ss->dlv, sm->rcpts[i].addr,
		    sm->rcpts[i].notify, sm->rcpts[i].orcpt);
		smtp_hold_rcpt(ss, sm->rcpts[i].addr);
		kept++;
	}
	for (size_t i = 0; i < mods->add_rcpts.count; i++) {
		const char *a = mods->add_rcpts.items[i];
		enum rcpt_check c = deliver_check_rcpt(ss->sd->dctx, a, 0,
		    &rr);

		if (c == RCPT_LOCAL || c == RCPT_REMOTE) {
			delivery_add_rcpt(ss->dlv, a);
			smtp_hold_rcpt(ss, a);
			kept++;
		} else {
			log_warn("action=reject sid=%s stage=milter to=<%s> "
			    "reply=\"%d %s %s\" reason=\"added by a milter\"",
			    ss->ws->id, a, rr.code, rr.enhanced, rr.text);
		}
	}
	return kept > 0 ? 0 : 1;
}

/* The envelope as the milters' modifications leave it. */
static void
quarantine_envelope(struct smtp_session *ss, const char *id,
    struct spool_envelope *env)
{
	const struct milter_mods *mods = milter_mods(ss->milter->ms);

	smtp_hold_envelope(ss, id, mods->sender != NULL ? mods->sender :
	    ss->mail.from.addr, env);
	for (size_t i = 0; i < ss->milter->nrcpt; i++)
		if (!in_list(&mods->del_rcpts, ss->milter->rcpts[i].addr))
			spool_envelope_add_rcpt(env, ss->milter->rcpts[i].addr,
			    ss->milter->rcpts[i].addr);
	for (size_t i = 0; i < mods->add_rcpts.count; i++)
		spool_envelope_add_rcpt(env, mods->add_rcpts.items[i],
		    mods->add_rcpts.items[i]);
}

static int
message_lines(void *ms, smtp_hold_line_fn fn, void *arg)
{
	return milter_write_message(ms, fn, arg);
}

/* The message as the milters left it into the hold queue (smtp_hold.c).
 * 0, or -1 (logged). */
static int
quarantine(struct smtp_session *ss, const char *id)
{
	struct spool_envelope env;
	int rc;

	quarantine_envelope(ss, id, &env);
	rc = smtp_hold_write(ss, &env, message_lines, ss->milter->ms,
	    "milter-quarantine");
	spool_envelope_free(&env);
	return rc;
}

/* Discard or quarantine: 250 without a delivery (replied here). */
static int
kept_aside(struct smtp_session *ss, bool quar)
{
	struct smtp_reply rr, *r = &rr;
	const struct milter_mods *mods = milter_mods(ss->milter->ms);
	char id[SPOOL_ID_MAX];

	snprintf(id, sizeof(id), "%s", delivery_id(ss->dlv));
	if (quar && quarantine(ss, id) < 0) {
		smtp_reply(ss, 451, "4.3.0", "Local error, try again later");
		return -1;
	}
	log_info("action=%s sid=%s qid=%s client=%s from=<%s> to=%s "
	    "reason=\"%s\"", quar ? "quarantine" : "discard", ss->ws->id, id,
	    ss->ws->peer_ip, ss->mail.from.addr, buf_cstr(&ss->rcpts),
	    quar && mods->quarantine_reason ? mods->quarantine_reason :
	    "milter");
	smtp_reply_set(r, 250, "2.0.0", "Ok: queued as %s", id);
	smtp_reply_r(ss, r);
	ss->messages++;
	return -1;
}

int
smtp_milter_eom(struct smtp_session *ss, data_line_fn store, void *arg)
{
	struct smtp_milter *sm = ss->milter;
	const struct milter_mods *mods;
	enum milter_result res;
	struct smtp_reply r;
	int rc;

	if (sm == NULL || !sm->in_txn)
		return 0;
	sm->in_txn = false;
	res = milter_eom(sm->ms, &r);
	mods = milter_mods(sm->ms);
	if (res == MILTER_REJECT || res == MILTER_TEMPFAIL ||
	    res == MILTER_SHUTDOWN)
		return refused(ss, "DATA", res, &r);
	if (res == MILTER_DISCARD || sm->discard || mods->quarantine)
		return kept_aside(ss, mods->quarantine && !sm->discard &&
		    res != MILTER_DISCARD);
	if (mods->sender != NULL || mods->add_rcpts.count > 0 ||
	    mods->del_rcpts.count > 0) {
		rc = rebuild_delivery(ss, mods, &r);
		if (rc < 0) {
			smtp_reply_r(ss, &r);
			return -1;
		}
		if (rc > 0)      /* every recipient gone */
			return kept_aside(ss, false);
	}
	if (milter_write_message(sm->ms, store, arg) < 0)
		log_error("event=write-failed sid=%s qid=%s reason=\"milter "
		    "message\"", ss->ws->id, delivery_id(ss->dlv));
	if (mods->header_changes > 0 || mods->body_replaced ||
	    mods->sender != NULL)
		log_info("action=milter-changed sid=%s qid=%s count=%u "
		    "reason=\"%s%s\" from=<%s>", ss->ws->id,
		    delivery_id(ss->dlv), mods->header_changes,
		    mods->header_changes > 0 ? "headers " : "",
		    mods->body_replaced ? "body" : "",
		    mods->sender != NULL ? mods->sender : ss->mail.from.addr);
	milter_message_end(sm->ms);
	return 0;
}
