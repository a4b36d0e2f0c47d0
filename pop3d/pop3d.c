/*
 * pop3d.c - dmail-pop3d, the DPOP worker program: main() and the glue to
 * the worker runtime (common/worker.h).
 *
 * init (once per process, still root when the master is): builds the TLS
 * context when tls_cert is set (a broken certificate stops the worker
 * rather than offering STLS it cannot complete) and makes sure
 * state_dir/db exists and belongs to run_as. The user database itself is
 * opened on the first login, after privileges are dropped, so its files
 * are never created by root. The failed-login counts live in the
 * per-client table the worker runtime maps (common/clienttab.h).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "pop3d.h"
#include "tls.h"
#include "util.h"

/* Create dir (mode 0700) if missing and, when root, give it to run_as. */
static void
make_owned_dir(const struct dmail_conf *conf, const char *dir)
{
	struct stat st;
	uid_t uid;
	gid_t gid;

	if (stat(dir, &st) == 0)
		return;
	if (mkdir_p(dir, 0700) < 0) {
		log_warn("event=mkdir-failed path=%s error=\"%s\"", dir,
		    strerror(errno));
		return;
	}
	if (geteuid() == 0 && conf->run_as != NULL &&
	    user_ids(conf->run_as, &uid, &gid) == 0 && chown(dir, uid, gid) < 0)
		log_warn("event=chown-failed path=%s error=\"%s\"", dir,
		    strerror(errno));
}

static void *
pop3d_init(const struct dmail_conf *conf)
{
	struct pop3_server *srv = xcalloc(1, sizeof(*srv));
	struct buf path = BUF_INIT, err = BUF_INIT;

	srv->hostname = xstrdup(conf->hostname);
	if (conf->tls_cert != NULL) {
		srv->tls = tls_server_ctx(conf->tls_cert, conf->tls_key, &err);
		if (srv->tls == NULL) {
			log_error("event=tls-setup-failed reason=\"%s\"",
			    buf_cstr(&err));
			buf_free(&err);
			free(srv->hostname);
			free(srv);
			return NULL;
		}
	}
	conf_state_path(conf, "db", &path);
	make_owned_dir(conf, path.data);
	buf_free(&path);
	buf_free(&err);
	return srv;
}

static void
pop3d_session(void *state, const struct dmail_conf *conf,
    struct worker_session *sess)
{
	struct pop3_server *srv = state;

	pop3_session(state, conf, sess);
	userdb_release(srv->db);
}

static void
pop3d_fini(void *state)
{
	struct pop3_server *srv = state;

	if (srv == NULL)
		return;
	userdb_close(srv->db);
	if (srv->tls != NULL)
		SSL_CTX_free(srv->tls);
	free(srv->hostname);
	free(srv);
}

/* A connection the runtime does not admit (worker.h); nothing on
 * implicit TLS (see smtpd_refuse). */
static void
pop3d_refuse(void *state, const struct dmail_conf *conf,
    struct worker_session *sess, const char *reason)
{
	(void)state;
	(void)conf;
	if (sess->role != ROLE_POP3S)
		stream_printf(sess->stream, "-ERR [SYS/TEMP] %s\r\n", reason);
}

static const struct worker_service pop3d_service = {
	.name = "dmail-pop3d",
	.pool = POOL_POP3,
	.default_role = ROLE_POP3,
	.init = pop3d_init,
	.session = pop3d_session,
	.run = NULL,
	.fini = pop3d_fini,
	.after_fork = NULL,
	.refuse = pop3d_refuse,
};

int
main(int argc, char **argv)
{
	return worker_main(argc, argv, &pop3d_service);
}
