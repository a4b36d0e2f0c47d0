/*
 * smtpd.c - dmail-smtpd: the SMTP server worker run by dmaild for the
 * smtp (25), submission (587) and smtps (465) listeners.
 *
 * init() (still root) builds the TLS context from tls_cert/tls_key; every
 * new worker reads them again, so a reload picks up a renewed
 * certificate, and a broken one stops the worker rather than offering
 * STARTTLS it cannot complete.
 *
 * The user database (read only) and the delivery context are opened at
 * the first session, after privileges are dropped, so no database or
 * Maildir file is ever created by root. The database file is opened
 * read-only at the first lookup and closed when the session ends
 * (userdb_release), so idle workers hold nothing. If they cannot be opened the
 * client gets 421 4.3.0 (try again later), never a 5xx for a recipient
 * we could not check, and the next session tries again.
 */
#include "config.h"

#include <stdlib.h>

#include "aliases.h"
#include "log.h"
#include "smtpd.h"
#include "tls.h"

static void *
smtpd_init(const struct dmail_conf *conf)
{
	struct smtpd *sd = xcalloc(1, sizeof(*sd));
	struct buf err = BUF_INIT;

	if (conf->tls_cert != NULL) {
		sd->tls = tls_server_ctx(conf->tls_cert, conf->tls_key, &err);
		if (sd->tls == NULL) {
			log_error("event=tls-setup-failed path=%s "
			    "reason=\"%s\"", conf->tls_cert, buf_cstr(&err));
			goto fail;
		}
	}
	buf_free(&err);
	return sd;
fail:
	free(sd);
	buf_free(&err);
	return NULL;
}

/* Opens the user database and the delivery context if not done yet;
 * false (logged) when that fails. */
static bool
smtpd_open(struct smtpd *sd, const struct dmail_conf *conf)
{
	struct buf err = BUF_INIT;

	if (sd->udb == NULL &&
	    (sd->udb = userdb_open(conf, USERDB_READ, &err)) == NULL) {
		log_error("event=userdb-failed reason=\"%s\"", buf_cstr(&err));
		buf_free(&err);
		return false;
	}
	if (sd->dctx == NULL &&
	    (sd->dctx = deliver_ctx_new(conf, sd->udb, &err)) == NULL) {
		log_error("event=delivery-setup-failed reason=\"%s\"",
		    buf_cstr(&err));
		buf_free(&err);
		return false;
	}
	buf_free(&err);
	return true;
}

static void
smtpd_session(void *state, const struct dmail_conf *conf,
    struct worker_session *sess)
{
	if (!smtpd_open(state, conf)) {
		stream_printf(sess->stream, "421 4.3.0 %s Service temporarily "
		    "unavailable\r\n", conf->hostname);
		stream_flush(sess->stream);
		return;
	}
	smtp_session_run(state, conf, sess);
	userdb_release(((struct smtpd *)state)->udb);
}

static void
smtpd_fini(void *state)
{
	struct smtpd *sd = state;

	if (sd == NULL)
		return;
	if (sd->dctx != NULL)
		deliver_ctx_free(sd->dctx);
	aliases_free(sd->aliases);
	smtp_verify_free(sd->verify);
	if (sd->udb != NULL)
		userdb_close(sd->udb);
	if (sd->tls != NULL)
		SSL_CTX_free(sd->tls);
	free(sd);
}

/* A connection the runtime does not admit (worker.h): one reply, and
 * none on implicit TLS, where plain text would be garbage to the client
 * and a handshake would cost the worker what the refusal saves. */
static void
smtpd_refuse(void *state, const struct dmail_conf *conf,
    struct worker_session *sess, const char *reason)
{
	(void)state;
	if (sess->role != ROLE_SMTPS)
		stream_printf(sess->stream, "421 4.7.0 %s Error: %s\r\n",
		    conf->hostname, reason);
}

static const struct worker_service smtpd_service = {
	.name = "dmail-smtpd",
	.pool = POOL_SMTP,
	.default_role = ROLE_SMTP,
	.init = smtpd_init,
	.session = smtpd_session,
	.run = NULL,
	.fini = smtpd_fini,
	.refuse = smtpd_refuse,
};

int
main(int argc, char **argv)
{
	return worker_main(argc, argv, &smtpd_service);
}
