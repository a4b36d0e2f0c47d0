/*
 * queue_main.c - dmail-queued: main(), the worker service of the master's
 * queue pool, and the event loop (see queued.h for the module map).
 *
 * init (still root): TLS client context, relayhost credentials (the
 * relayhost_auth file must be owner-only: a group- or world-readable
 * file is refused and the queue manager does not start). The user
 * database and delivery context (for bounces) are opened in run, after
 * privileges are dropped, and only while needed (qstate_dctx()).
 *
 * run (as run_as): create spool/{queue,tmp,defer} and the FIFOs, open
 * the quarantine of poison messages (poison.h; spool/quarantine/queue
 * and spool/quarantine/maildrop) and log what it got since, take
 * in the maildrop, scan the queue, then loop: start due work, wait in poll() for a wake-up, an
 * operator command, a delivery process's results or the next timer. When
 * the master asks it to go (worker_should_exit()), it stops starting
 * work, lets delivery processes finish for up to shutdown_grace seconds,
 * then ends them (their recipients stay pending) and exits.
 *
 * Fatal (log_fatal, the master restarts it): the spool directories or
 * the queue lock cannot be made or taken, poll() fails. Panics are the
 * scheduler's (queue_sched.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "queued.h"
#include "spool.h"
#include "tls.h"
#include "userdb.h"
#include "util.h"
#include "worker.h"

#define AUTH_FILE_MAX 4096
#define MAX_POLL 4096
#define CONTROL_LINE_MAX 256

/* "user password" from the relayhost_auth file (first non-comment line). */
static int
read_auth(const char *path, struct qstate *qs)
{
	struct buf text = BUF_INIT;
	struct stat st;
	char *line, *save = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 || fstat(fd, &st) < 0) {
		log_error("event=config-error path=%s error=\"%s\"", path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (st.st_mode & 077) {
		log_error("event=config-error path=%s reason=\"relayhost_auth "
		    "readable by group or others (mode %04o); chmod 600 it\"",
		    path, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if (read_file(path, &text, AUTH_FILE_MAX) < 0) {
		log_error("event=config-error path=%s error=\"%s\"", path,
		    strerror(errno));
		return -1;
	}
	for (line = strtok_r(text.data, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *p = str_trim(line), *sp;
		if (*p == '\0' || *p == '#')
			continue;
		sp = p + strcspn(p, " \t");
		if (*sp == '\0')
			break;
		*sp++ = '\0';
		sp += strspn(sp, " \t");
		if (*sp == '\0')
			break;
		qs->auth_user = xstrdup(p);
		qs->auth_pass = xstrdup(sp);
		break;
	}
	explicit_bzero(text.data, text.len);
	buf_free(&text);
	if (qs->auth_user == NULL) {
		log_error("event=config-error path=%s reason=\"relayhost_auth: "
		    "expected a line 'USER PASSWORD'\"", path);
		return -1;
	}
	return 0;
}

struct deliver_ctx *
qstate_dctx(struct qstate *qs)
{
	struct buf err = BUF_INIT;

	if (qs->dctx != NULL)
		return qs->dctx;
	qs->udb = userdb_open(qs->conf, USERDB_READ, &err);
	if (qs->udb == NULL) {
		/* Without it a local sender would look unknown and its
		 * bounce be dropped: try again later instead. */
		log_warn("event=userdb-failed reason=\"%s (bounces and "
		    "maildrop wait)\"", buf_cstr(&err));
		buf_free(&err);
		return NULL;
	}
	qs->dctx = deliver_ctx_new(qs->conf, qs->udb, &err);
	if (qs->dctx == NULL) {
		log_error("event=delivery-setup-failed reason=\"%s\"",
		    buf_cstr(&err));
		userdb_close(qs->udb);
		qs->udb = NULL;
	}
	buf_free(&err);
	return qs->dctx;
}

void
qstate_release(struct qstate *qs)
{
	if (qs->dctx != NULL)
		deliver_ctx_free(qs->dctx);
	if (qs->udb != NULL)
		userdb_close(qs->udb);
	qs->dctx = NULL;
	qs->udb = NULL;
}

static void *
queued_init(const struct dmail_conf *conf)
{
	struct qstate *qs = xcalloc(1, sizeof(*qs));
	struct buf err = BUF_INIT;

	qs->conf = conf;
	qs->lock_fd = -1;
	for (int k = 0; k < POISON_SPOOLS; k++)
		qs->poison[k].dirfd = qs->poison[k].qdirfd = -1;
	qs->tls = tls_client_ctx(0, &err);
	if (qs->tls == NULL) {
		log_error("event=tls-setup-failed reason=\"%s\"",
		    buf_cstr(&err));
		goto fail;
	}
	if (conf->relayhost_auth != NULL &&
	    read_auth(conf->relayhost_auth, qs) < 0)
		goto fail;
	buf_free(&err);
	return qs;
fail:
	buf_free(&err);
	if (qs->tls != NULL)
		SSL_CTX_free(qs->tls);
	free(qs);
	return NULL;
}

static void
queued_fini(void *state)
{
	struct qstate *qs = state;

	qstate_release(qs);
	if (qs->tls != NULL)
		SSL_CTX_free(qs->tls);
	if (qs->auth_pass != NULL)
		explicit_bzero(qs->auth_pass, strlen(qs->auth_pass));
	free(qs->auth_user);
	free(qs->auth_pass);
	free(qs);
}

/* Create (if needed) and open a FIFO for reading without ever seeing
 * end-of-file (O_RDWR keeps a writer). */
static int
open_fifo(const struct dmail_conf *conf, const char *name, mode_t mode)
{
	struct buf p = BUF_INIT;
	struct stat st;
	int fd;

	spool_path(conf, name, NULL, &p);
	if (lstat(p.data, &st) == 0 && !S_ISFIFO(st.st_mode))
		(void)unlink(p.data);
	if (mkfifo(p.data, mode) < 0 && errno != EEXIST) {
		log_error("event=mkfifo-failed path=%s error=\"%s\"", p.data,
		    strerror(errno));
		buf_free(&p);
		return -1;
	}
	(void)chmod(p.data, mode);
	fd = open(p.data, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		log_error("event=open-failed path=%s error=\"%s\"", p.data,
		    strerror(errno));
	buf_free(&p);
	return fd;
}

/* Empty a wake-up FIFO; true if anything was there. */
static bool
drain(int fd, struct buf *keep)
{
	char block[4096];
	bool any = false;
	ssize_t n;

	while ((n = read(fd, block, sizeof(block))) > 0 ||
	    (n < 0 && errno == EINTR)) {
		if (n <= 0)
			continue;
		any = true;
		if (keep != NULL && keep->len < 65536)
			buf_append(keep, block, (size_t)n);
	}
	return any;
}

static void
control_input(struct qmgr *qm, struct buf *in)
{
	struct buf out = BUF_INIT;

	for (;;) {
		char *nl = memchr(in->data ? in->data : "", '\n', in->len);
		if (nl == NULL)
			break;
		*nl = '\0';
		if (nl - in->data < CONTROL_LINE_MAX) {
			buf_reset(&out);
			qmgr_command(qm, in->data, &out);
		}
		buf_consume(in, (size_t)(nl - in->data) + 1);
	}
	if (in->len > CONTROL_LINE_MAX)
		buf_reset(in);
	buf_free(&out);
}

/* The spool directories and the queue lock: false when asked to go
 * while waiting for the lock. */
static bool
take_queue(struct qstate *qs, const struct dmail_conf *conf)
{
	struct buf err = BUF_INIT, path = BUF_INIT;
	bool got = true;

	if (spool_dirs(conf, &err) < 0)
		log_fatal("%s", buf_cstr(&err));
	spool_path(conf, "defer", NULL, &path);
	if (mkdir_p(path.data, 0700) < 0)
		log_fatal("%s: %s", path.data, strerror(errno));
	/* One queue manager at a time: after a reload the new one waits
	 * here until the old one has finished its deliveries. */
	spool_path(conf, "qmgr.lock", NULL, &path);
	qs->lock_fd = open(path.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (qs->lock_fd < 0)
		log_fatal("%s: %s", path.data, strerror(errno));
	for (bool said = false; flock(qs->lock_fd, LOCK_EX | LOCK_NB) < 0;) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			log_fatal("flock %s: %s", path.data, strerror(errno));
		if (worker_should_exit()) {
			close(qs->lock_fd);
			qs->lock_fd = -1;
			got = false;
			break;
		}
		if (!said)
			log_info("event=qmgr-wait reason=\"waiting for the "
			    "previous queue manager to finish\"");
		said = true;
		usleep(100 * 1000);
	}
	buf_free(&err);
	buf_free(&path);
	return got;
}

/* Leaving: no new work; let running deliveries finish for up to
 * shutdown_grace, then end them. */
static void
stop_deliveries(struct qstate *qs, const struct dmail_conf *conf,
    struct pollfd *pfd)
{
	int64_t deadline = now_ms() + (int64_t)conf->shutdown_grace * 1000;
	bool killed = false;

	log_info("event=qmgr-stop count=%zu reason=\"delivery processes "
	    "running\"", qmgr_children(qs->qm));
	while (qmgr_children(qs->qm) > 0) {
		size_t n;
		qmgr_stop_children(qs->qm, false);
		if (!killed && now_ms() >= deadline) {
			qmgr_stop_children(qs->qm, true);
			killed = true;
		}
		n = qmgr_pollfds(qs->qm, pfd, MAX_POLL);
		if (poll(pfd, n, 200) < 0 && errno != EINTR)
			break;
		qmgr_child_input(qs->qm, pfd, n);
	}
}

static void
queued_run(void *state, const struct dmail_conf *conf)
{
	struct qstate *qs = state;
	struct pollfd *pfd;
	struct buf err = BUF_INIT, path = BUF_INIT, ctl = BUF_INIT;
	int wake, control;
	int64_t last_scan, last_wake_scan = 0, scan_gap = 20;
	bool pending_scan = false;

	if (!take_queue(qs, conf))
		return;
	pfd = xcalloc(MAX_POLL + 2, sizeof(*pfd));
	for (int k = POISON_QUEUE; k <= POISON_MAILDROP; k++) {
		struct buf q = BUF_INIT;

		poison_paths(conf, (enum poison_spool_id)k, &path, &q);
		buf_reset(&err);
		if (poison_open(&qs->poison[k], poison_spool_name(
		    (enum poison_spool_id)k), path.data, q.data,
		    conf->poison_attempts, &err) < 0)
			log_error("event=poison-failed reason=\"%s; poison "
			    "messages are not quarantined\"", buf_cstr(&err));
		poison_report(&qs->poison[k]);
		buf_free(&q);
	}
	wake = open_fifo(conf, "wakeup", 0622);
	control = open_fifo(conf, "control", 0600);
	qs->qm = qmgr_new(qs);
	last_scan = now_ms();
	qpickup_scan(qs);
	qmgr_scan(qs->qm);
	log_info("event=qmgr-start count=%zu ms=%lld", qmgr_count(qs->qm),
	    (long long)(now_ms() - last_scan));

	while (!worker_should_exit()) {
		int wait = qmgr_schedule(qs->qm, true);
		size_t n;
		int64_t now;

		if (wait < 0 || wait > 1000)
			wait = 1000;
		if (pending_scan && wait > scan_gap)
			wait = (int)scan_gap;
		pfd[0].fd = wake;
		pfd[0].events = POLLIN;
		pfd[1].fd = control;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		n = qmgr_pollfds(qs->qm, pfd + 2, MAX_POLL);
		if (poll(pfd, n + 2, wait) < 0 && errno != EINTR)
			log_fatal("poll: %s", strerror(errno));
		if (pfd[1].revents & POLLIN) {
			drain(control, &ctl);
			control_input(qs->qm, &ctl);
		}
		qmgr_child_input(qs->qm, pfd + 2, n);
		if ((pfd[0].revents & POLLIN) && drain(wake, NULL))
			pending_scan = true;
		now = now_ms();
		/* Coalesce wake-ups: one directory scan per 20 ms at most,
		 * and never more than a fifth of the time scanning (a big
		 * queue directory takes a while to read). */
		if (pending_scan && now - last_wake_scan >= scan_gap) {
			qpickup_scan(qs);
			qmgr_scan(qs->qm);
			last_wake_scan = now;
			scan_gap = 5 * (now_ms() - now);
			if (scan_gap < 20)
				scan_gap = 20;
			pending_scan = false;
		}
		if (now - last_scan >= QMGR_RESCAN_MS) {
			/* What a dying predecessor quarantined is logged at
			 * start; this catches anything else. */
			poison_report(&qs->poison[POISON_QUEUE]);
			poison_report(&qs->poison[POISON_MAILDROP]);
			qpickup_scan(qs);
			qmgr_scan(qs->qm);
			last_scan = now;
		}
		qmgr_publish(qs->qm);
		qstate_release(qs);
	}

	stop_deliveries(qs, conf, pfd);
	qmgr_free(qs->qm);
	qs->qm = NULL;
	for (int k = 0; k < POISON_SPOOLS; k++)
		poison_close(&qs->poison[k]);
	if (wake >= 0)
		close(wake);
	if (control >= 0)
		close(control);
	close(qs->lock_fd);
	qs->lock_fd = -1;
	free(pfd);
	buf_free(&err);
	buf_free(&path);
	buf_free(&ctl);
}

static const struct worker_service queued_service = {
	.name = "dmail-queued",
	.pool = POOL_QUEUE,
	.default_role = ROLE_SMTP,
	.init = queued_init,
	.session = NULL,
	.run = queued_run,
	.fini = queued_fini,
};

int
main(int argc, char **argv)
{
	return worker_main(argc, argv, &queued_service);
}
