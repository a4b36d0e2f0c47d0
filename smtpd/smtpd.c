/*
 * smtpd.c - dmail-smtpd: the SMTP server worker run by dmaild for the
 * smtp (25), submission (587) and smtps (465) listeners.
 *
 * init() builds what every session shares and that may need root to
 * open: the TLS context (tls_cert/tls_key, read again by every new
 * worker, so a reload picks up a renewed certificate), the user database
 * (read only) and the delivery context. A worker that cannot open them
 * refuses to start rather than reject mail it should accept.
 */
#include "config.h"

#include <stdlib.h>

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
			log_error("cannot load TLS certificate %s: %s",
			    conf->tls_cert, buf_cstr(&err));
			goto fail;
		}
	}
	sd->udb = userdb_open(conf, USERDB_READ, &err);
	if (sd->udb == NULL) {
		log_error("cannot open user database: %s", buf_cstr(&err));
		goto fail;
	}
	sd->dctx = deliver_ctx_new(conf, sd->udb, &err);
	if (sd->dctx == NULL) {
		log_error("cannot set up delivery: %s", buf_cstr(&err));
		goto fail;
	}
	buf_free(&err);
	return sd;
fail:
	if (sd->udb != NULL)
		userdb_close(sd->udb);
	if (sd->tls != NULL)
		SSL_CTX_free(sd->tls);
	free(sd);
	buf_free(&err);
	return NULL;
}

static void
smtpd_session(void *state, const struct dmail_conf *conf,
    struct worker_session *sess)
{
	smtp_session_run(state, conf, sess);
}

static void
smtpd_fini(void *state)
{
	struct smtpd *sd = state;

	if (sd == NULL)
		return;
	deliver_ctx_free(sd->dctx);
	userdb_close(sd->udb);
	if (sd->tls != NULL)
		SSL_CTX_free(sd->tls);
	free(sd);
}

static const struct worker_service smtpd_service = {
	.name = "dmail-smtpd",
	.pool = POOL_SMTP,
	.default_role = ROLE_SMTP,
	.init = smtpd_init,
	.session = smtpd_session,
	.run = NULL,
	.fini = smtpd_fini,
};

int
main(int argc, char **argv)
{
	return worker_main(argc, argv, &smtpd_service);
}
