/*
 * smtp_checks.c - what dmail-smtpd does for mail of authenticated users
 * (submission, RFC 6409): abuse control and the fields and signature
 * added before the message is made durable.
 *
 *   smtp_checks_login()  at a successful AUTH: the login rate of the
 *                        account (submission_rate_limit_connections;
 *                        454 4.7.0, RFC 4954's temporary authentication
 *                        failure: the password was right, the client
 *                        is not to ask for another one, and the session
 *                        stays open, unauthenticated)
 *   smtp_checks_mail()   at MAIL: the sender must belong to the login
 *                        (submission_sender_check, 553 5.7.1), and the
 *                        message rate of the account and of the client
 *                        address (submission_rate_limit_messages,
 *                        submission_client_rate_limit_messages; 450
 *                        4.7.1 when over)
 *   smtp_checks_rcpt()   at RCPT: the recipient rates (..._recipients;
 *                        450 4.7.1)
 *   smtp_checks_hold()   at DATA: true when the content is to be held
 *                        in memory and given to smtp_checks_data_line()
 *                        instead of the delivery: in an authenticated
 *                        session, and for a client the relay rule
 *                        trusts (relay_networks: local programs such as
 *                        dmail-sendmail) when dkim_sign keys exist, and
 *                        for mail from the internet with
 *                        verify_inbound (smtp_verify.c)
 *   smtp_checks_eom()    after the final dot: the From: field must
 *                        belong to the login too; then Date: and
 *                        Message-ID: (authenticated sessions only) and
 *                        the DKIM-Signature (common/outgoing.h) go on
 *                        top and the message into the delivery; mail
 *                        from the internet gets smtp_verify_message()'s
 *                        Authentication-Results instead, or, when
 *                        DMARC says quarantine under dmarc_enforce, the
 *                        message goes to the hold queue (smtp_hold.c)
 *   smtp_checks_reset()  drops what was held and the recipients noted
 *                        for the hold queue (end of the transaction)
 *
 * Each returns NULL, or the reason for the log with the reply in r;
 * smtp_checks_login(), smtp_checks_mail() and smtp_checks_rcpt() count
 * their refusals in the scoreboard (rates as reason "rate"), the caller
 * counts the others. The rates count in the shared per-client table (common/clienttab.h), so
 * every worker sees the same numbers and a restart forgives nobody. A
 * held message is at most max_message_size (smtp_data_read() stops
 * handing lines over beyond it).
 *
 * A sender belongs to the login when it is the login address, an
 * address whose aliases (common/aliases.h) lead to the login, or, with
 * "domain", any address of the login's domain. The null sender <> is
 * always allowed (RFC 5321 4.5.5 notices from the user's own programs).
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "aliases.h"
#include "clienttab.h"
#include "log.h"
#include "outgoing.h"
#include "scoreboard.h"
#include "smtpd.h"
#include "util.h"

/* Does address belong to the authenticated account? */
static bool
sender_owned(struct smtp_session *ss, const char *address)
{
	const char *mine = ss->auth_user, *at = strrchr(address, '@');
	const char *my_at = strrchr(mine, '@');
	struct alias_result res;
	struct buf err = BUF_INIT;
	bool owned = false;

	if (*address == '\0' || strcasecmp(address, mine) == 0)
		return true;
	if (ss->conf->submission_sender_check == SENDER_CHECK_DOMAIN &&
	    at != NULL && my_at != NULL && strcasecmp(at, my_at) == 0)
		return true;
	if (ss->sd->aliases == NULL) {
		ss->sd->aliases = aliases_new(ss->conf);
		/* The directory's aliases too, as for delivery. */
		aliases_set_userdb(ss->sd->aliases, ss->sd->udb);
	}
	memset(&res, 0, sizeof(res));
	if (aliases_expand(ss->sd->aliases, address, &res, &err) == 0 &&
	    res.rewritten)
		for (size_t i = 0; i < res.count && !owned; i++)
			owned = strcasecmp(res.targets[i], mine) == 0;
	alias_result_free(&res);
	buf_free(&err);
	return owned;
}

/* One message or recipient of the account and of its client address;
 * NULL when both are under their rate. */
static const char *
rate_check(struct smtp_session *ss, enum clienttab_send_what what,
    struct smtp_reply *r)
{
	const struct dmail_conf *c = ss->conf;
	const struct sockaddr *peer = ss->ws->peer_len > 0 ?
	    (const struct sockaddr *)&ss->ws->peer : NULL;
	int64_t now = clienttab_now();
	const char *noun = what == CLIENTTAB_SEND_MESSAGE ? "messages" :
	    "recipients";

	if (!clienttab_send(ss->ws->clients, NULL, ss->auth_user, what,
	    c->submission_rate[what], now)) {
		smtp_reply_set(r, 450, "4.7.1", "Too many %s from %s, try "
		    "again later", noun, ss->auth_user);
		scoreboard_count(SBC_REJECT_RATE);
		return what == CLIENTTAB_SEND_MESSAGE ?
		    "account message rate" : "account recipient rate";
	}
	if (peer != NULL && !clienttab_exempt(c, peer) &&
	    !clienttab_send(ss->ws->clients, peer, NULL, what,
	    c->submission_client_rate[what], now)) {
		smtp_reply_set(r, 450, "4.7.1", "Too many %s from %s, try "
		    "again later", noun, ss->ws->peer_ip);
		scoreboard_count(SBC_REJECT_RATE);
		return what == CLIENTTAB_SEND_MESSAGE ?
		    "client message rate" : "client recipient rate";
	}
	return NULL;
}

const char *
smtp_checks_login(struct smtp_session *ss, const char *account,
    struct smtp_reply *r)
{
	if (clienttab_send(ss->ws->clients, NULL, account,
	    CLIENTTAB_SEND_LOGIN, ss->conf->submission_rate[
	    CLIENTTAB_SEND_LOGIN], clienttab_now()))
		return NULL;
	smtp_reply_set(r, 454, "4.7.0", "Too many logins of %s, try again "
	    "later", account);
	scoreboard_count(SBC_REJECT_RATE);
	return "account-connection-rate";
}

const char *
smtp_checks_mail(struct smtp_session *ss, struct smtp_reply *r)
{
	if (ss->auth_user[0] == '\0')
		return NULL;
	if (ss->conf->submission_sender_check != SENDER_CHECK_OFF &&
	    !sender_owned(ss, ss->mail.from.addr)) {
		smtp_reply_set(r, 553, "5.7.1", "<%s>: Sender address not "
		    "owned by user %s", ss->mail.from.addr, ss->auth_user);
		scoreboard_count_reject(r->code, r->enhanced);
		return "sender not owned by login";
	}
	return rate_check(ss, CLIENTTAB_SEND_MESSAGE, r);
}

const char *
smtp_checks_rcpt(struct smtp_session *ss, struct smtp_reply *r)
{
	if (ss->auth_user[0] == '\0')
		return NULL;
	return rate_check(ss, CLIENTTAB_SEND_RCPT, r);
}

bool
smtp_checks_hold(struct smtp_session *ss)
{
	buf_reset(&ss->held);
	return ss->auth_user[0] != '\0' ||
	    (outgoing_keys(deliver_ctx_outgoing(ss->sd->dctx)) > 0 &&
	    smtp_relay_allowed(ss)) || smtp_verify_wanted(ss);
}

int
smtp_checks_data_line(void *arg, const char *line, size_t len)
{
	struct smtp_session *ss = arg;

	buf_append(&ss->held, line, len);
	buf_append_char(&ss->held, '\n');
	return 0;
}

/* The From: field must belong to the login (submission_sender_check). */
static const char *
check_from_field(struct smtp_session *ss, struct smtp_reply *r)
{
	struct buf from = BUF_INIT;
	const char *why = NULL;

	if (ss->conf->submission_sender_check == SENDER_CHECK_OFF)
		return NULL;
	if (!outgoing_from_address(ss->held.data, ss->held.len, &from)) {
		smtp_reply_set(r, 553, "5.7.1", "Message has no valid From: "
		    "address");
		why = "no From address";
	} else if (!sender_owned(ss, from.data)) {
		smtp_reply_set(r, 553, "5.7.1", "From: <%s> not owned by "
		    "user %s", from.data, ss->auth_user);
		why = "From not owned by login";
	}
	buf_free(&from);
	return why;
}

/* Date:, Message-ID: (auth only) and the DKIM signature into top. */
static void
prepare_own(struct smtp_session *ss, bool auth, struct buf *top)
{
	struct outgoing_result res;
	struct buf err = BUF_INIT;

	if (outgoing_prepare(deliver_ctx_outgoing(ss->sd->dctx),
	    ss->conf->hostname, buf_cstr(&ss->held), ss->held.len, auth, top,
	    &res, &err) < 0)
		log_error("event=dkim-sign-failed sid=%s qid=%s "
		    "reason=\"%s\"", ss->ws->id, delivery_id(ss->dlv),
		    buf_cstr(&err));
	else if (res.signed_domain[0] != '\0')
		log_info("action=dkim-signed sid=%s qid=%s domain=%s",
		    ss->ws->id, delivery_id(ss->dlv), res.signed_domain);
	buf_free(&err);
}

const char *
smtp_checks_eom(struct smtp_session *ss, struct smtp_reply *r)
{
	struct buf top = BUF_INIT;
	const char *why = NULL, *hold = NULL;
	bool auth = ss->auth_user[0] != '\0';

	if (auth && (why = check_from_field(ss, r)) != NULL)
		goto out;
	if (auth || smtp_relay_allowed(ss))
		prepare_own(ss, auth, &top);
	else if (smtp_verify_wanted(ss) &&
	    (why = smtp_verify_message(ss, &top, r, &hold)) != NULL)
		goto out;
	if (hold != NULL) {
		why = smtp_hold_message(ss, &top, "dmarc-quarantine", hold);
		goto out;
	}
	if (top.len > 0)
		delivery_write(ss->dlv, top.data, top.len);
	if (ss->held.len > 0)
		delivery_write(ss->dlv, ss->held.data, ss->held.len);
out:
	buf_free(&top);
	smtp_checks_reset(ss);
	return why;
}

void
smtp_checks_reset(struct smtp_session *ss)
{
	buf_free(&ss->held);
	smtp_hold_reset(ss);
}
