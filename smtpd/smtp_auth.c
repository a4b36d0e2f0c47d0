/*
 * smtp_auth.c - the AUTH command (RFC 4954) with the PLAIN (RFC 4616)
 * and LOGIN mechanisms (base64 and the PLAIN message: common/sasl.h).
 *
 * Replies: 235 2.7.0 success; 535 5.7.8 bad credentials (also disabled
 * accounts, so nobody learns which accounts exist); 454 4.7.0 when the
 * user database fails; 538 5.7.11 when AUTH is tried without TLS off
 * loopback; 504 5.5.4 unknown mechanism; 501 5.7.0 when the client
 * cancels with "*"; 501 5.5.2 undecodable base64; 500 5.5.6 for an
 * over-long exchange line.
 *
 * Password guessing: every attempt, whatever the mechanism, goes through
 * the penalty shared with POP3 (common/clienttab.h) before its
 * credentials are looked at. While the client address or the account is
 * over its threshold the attempt is refused unchecked with 454 4.7.0,
 * RFC 4954's "temporary authentication failure" (the client is not to
 * ask for another password); after CLIENTTAB_REFUSED_CLOSE refusals in
 * one session the server answers 421 4.7.0 and closes.
 *
 * Logins of one account per minute (submission_rate_limit_connections,
 * smtp_checks_login()): a right password beyond the rate gets 454 4.7.0
 * too, RFC 4954's answer for a failure that is temporary and not the
 * client's credentials (421 would end a session that may still send
 * through another login later; the client is told to try again later).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "sasl.h"
#include "scoreboard.h"
#include "smtpd.h"

enum auth_step {
	AUTH_STEP_OK = 0,
	AUTH_STEP_REPLIED,     /* a reply was sent; the exchange is over */
	AUTH_STEP_CLOSED,      /* connection gone or timed out */
};

/* Sends a 334 challenge and reads the base64 response into out. */
static enum auth_step
auth_exchange(struct smtp_session *ss, const char *challenge,
    struct buf *out)
{
	enum line_ending ending;
	int rc;

	stream_printf(ss->s, "334 %s\r\n", challenge);
	rc = stream_read_line(ss->s, &ss->line, SMTP_AUTH_LINE_MAX, &ending);
	if (rc == STREAM_TOOLONG) {
		smtp_reply(ss, 500, "5.5.6",
		    "Authentication Exchange line is too long");
		return AUTH_STEP_REPLIED;
	}
	if (rc != STREAM_OK) {
		smtp_io_failed(ss, rc, "AUTH");
		return AUTH_STEP_CLOSED;
	}
	if (strcmp(buf_cstr(&ss->line), "*") == 0) {
		smtp_reply(ss, 501, "5.7.0", "Authentication cancelled");
		return AUTH_STEP_REPLIED;
	}
	if (base64_decode(buf_cstr(&ss->line), ss->line.len, out) != 0) {
		smtp_reply(ss, 501, "5.5.2", "Cannot decode response");
		return AUTH_STEP_REPLIED;
	}
	return AUTH_STEP_OK;
}

/* The shared penalty before credentials are checked: true to go on
 * with the attempt in *a (clienttab_auth_failure/success once checked);
 * false after refusing it unchecked.
 * account: the normalised login address, NULL when the name is not
 * valid. */
static bool
auth_begin(struct smtp_session *ss, const char *mech, const char *account,
    struct clienttab_attempt *a)
{
	enum clienttab_block b;
	unsigned retry;

	b = clienttab_login_begin(ss->ws->clients, ss->conf,
	    ss->ws->peer_len > 0 ? (const struct sockaddr *)&ss->ws->peer :
	    NULL, account, a, &retry);
	if (b == CLIENTTAB_OK)
		return true;
	scoreboard_count(SBC_LOGIN_FAILED);
	log_info("action=auth sid=%s mech=%s user=%s client=%s "
	    "status=refused reason=%s retry=%u", ss->ws->id, mech,
	    account != NULL ? account : "-", ss->ws->peer_ip,
	    b == CLIENTTAB_BLOCKED_IP ? "client-failures" :
	    "account-failures", retry);
	if (++ss->auth_refused >= CLIENTTAB_REFUSED_CLOSE) {
		smtp_reply(ss, 421, "4.7.0", "%s Too many refused "
		    "authentications, closing connection", ss->conf->hostname);
		ss->state = SMTP_S_QUIT;
		return false;
	}
	smtp_reply(ss, 454, "4.7.0", "Too many failed authentications %s, "
	    "try again later", b == CLIENTTAB_BLOCKED_IP ?
	    "from your address" : "for this account");
	return false;
}

/* The right password, but the account's login rate is spent
 * (smtp_checks.c): true after refusing with 454 4.7.0. */
static bool
login_rate(struct smtp_session *ss, const char *mech, const char *address)
{
	struct smtp_reply r;
	const char *why = smtp_checks_login(ss, address, &r);

	if (why == NULL)
		return false;
	log_info("action=auth sid=%s mech=%s user=%s client=%s "
	    "status=refused reason=%s", ss->ws->id, mech, address,
	    ss->ws->peer_ip, why);
	smtp_reply_r(ss, &r);
	return true;
}

/* Checks a login and password against the user database and replies.
 * bad: not NULL when the exchange already failed (the reason), so the
 * attempt only counts. */
static void
auth_verify(struct smtp_session *ss, const char *mech, const char *login,
    const char *password, const char *bad)
{
	char address[USERDB_ADDRESS_MAX + 1];
	struct user_record rec;
	struct clienttab_attempt att;
	const char *why = "bad password";
	bool named;
	int found;

	named = userdb_login_address(ss->conf, login, address,
	    sizeof(address)) == 0;
	if (!auth_begin(ss, mech, named ? address : NULL, &att))
		return;
	if (bad != NULL || !named) {
		why = bad != NULL ? bad : "bad login name";
		goto fail;
	}
	found = userdb_lookup(ss->sd->udb, address, &rec);
	if (found < 0) {
		log_error("action=auth sid=%s mech=%s user=%s status=tempfail "
		    "reason=\"user database failure\"", ss->ws->id, mech,
		    address);
		smtp_reply(ss, 454, "4.7.0", "Temporary authentication failure");
		return;
	}
	if (found == 0)
		why = "no such account";
	else if (!rec.enabled)
		why = "account disabled";
	else if (userdb_check_password(&rec, password)) {
		explicit_bzero(&rec, sizeof(rec));
		clienttab_auth_success(ss->ws->clients, &att);
		if (login_rate(ss, mech, address))
			return;
		scoreboard_count(SBC_LOGIN_OK);
		snprintf(ss->auth_user, sizeof(ss->auth_user), "%s", address);
		snprintf(ss->auth_mech, sizeof(ss->auth_mech), "%s", mech);
		log_info("action=auth sid=%s mech=%s user=%s client=%s "
		    "status=ok", ss->ws->id, mech, address, ss->ws->peer_ip);
		smtp_reply(ss, 235, "2.7.0", "Authentication successful");
		return;
	}
	explicit_bzero(&rec, sizeof(rec));
fail:
	clienttab_auth_failure(ss->ws->clients, &att);
	scoreboard_count(SBC_LOGIN_FAILED);
	ss->auth_failures++;
	log_info("action=auth sid=%s mech=%s user=\"%.64s\" client=%s "
	    "status=failed reason=\"%s\"", ss->ws->id, mech, login,
	    ss->ws->peer_ip, why);
	smtp_reply(ss, 535, "5.7.8", "Authentication credentials invalid");
}

void
smtp_cmd_auth(struct smtp_session *ss, const char *arg)
{
	struct buf resp = BUF_INIT, user = BUF_INIT;
	char mech[32];
	const char *initial, *authzid, *authcid, *passwd;
	size_t n;
	enum auth_step st;

	if (!stream_is_tls(ss->s) && !ss->ws->peer_loopback) {
		smtp_reply(ss, 538, "5.7.11", "Encryption required for "
		    "requested authentication mechanism");
		return;
	}
	if (ss->sd->udb == NULL) {
		smtp_reply(ss, 454, "4.7.0", "Temporary authentication failure");
		return;
	}
	n = strcspn(arg, " ");
	if (n == 0 || n >= sizeof(mech)) {
		smtp_reply(ss, 501, "5.5.4", "Syntax: AUTH mechanism");
		return;
	}
	memcpy(mech, arg, n);
	mech[n] = '\0';
	initial = arg + n;
	while (*initial == ' ')
		initial++;
	if (*initial == '\0')
		initial = NULL;

	if (strcasecmp(mech, "PLAIN") == 0) {
		if (initial == NULL) {
			if ((st = auth_exchange(ss, "", &resp)) != AUTH_STEP_OK)
				goto out;
		} else if (strcmp(initial, "=") == 0) {
			buf_reset(&resp);   /* empty initial response */
		} else if (strcmp(initial, "*") == 0) {
			smtp_reply(ss, 501, "5.7.0", "Authentication cancelled");
			goto out;
		} else if (base64_decode(initial, strlen(initial),
		    &resp) != 0) {
			smtp_reply(ss, 501, "5.5.2", "Cannot decode response");
			goto out;
		}
		if (sasl_plain_split(resp.data ? resp.data : "",
		    resp.len, &authzid, &authcid, &passwd) != 0) {
			smtp_reply(ss, 501, "5.5.2",
			    "Malformed PLAIN response");
			goto out;
		}
		/* No proxy authorisation: treat as invalid. */
		auth_verify(ss, "PLAIN", authcid, passwd,
		    *authzid != '\0' && strcmp(authzid, authcid) != 0 ?
		    "authorization identity not allowed" : NULL);
	} else if (strcasecmp(mech, "LOGIN") == 0) {
		if (initial != NULL) {
			if (strcmp(initial, "*") == 0) {
				smtp_reply(ss, 501, "5.7.0",
				    "Authentication cancelled");
				goto out;
			}
			if (base64_decode(initial, strlen(initial),
			    &user) != 0) {
				smtp_reply(ss, 501, "5.5.2",
				    "Cannot decode response");
				goto out;
			}
		} else {
			/* "Username:" */
			st = auth_exchange(ss, "VXNlcm5hbWU6", &user);
			if (st != AUTH_STEP_OK)
				goto out;
		}
		/* "Password:" */
		if ((st = auth_exchange(ss, "UGFzc3dvcmQ6", &resp)) !=
		    AUTH_STEP_OK)
			goto out;
		auth_verify(ss, "LOGIN", buf_cstr(&user), buf_cstr(&resp),
		    user.len == 0 || memchr(user.data, '\0', user.len) ||
		    resp.len == 0 || memchr(resp.data, '\0', resp.len) ?
		    "empty or NUL in name or password" : NULL);
	} else {
		smtp_reply(ss, 504, "5.5.4",
		    "Unrecognized authentication type");
	}
out:
	if (resp.data != NULL)
		explicit_bzero(resp.data, resp.cap);
	buf_free(&resp);
	buf_free(&user);
	if (ss->line.data != NULL)
		explicit_bzero(ss->line.data, ss->line.len);
}
