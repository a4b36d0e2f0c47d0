/*
 * listd.c - dmail-listd: the list worker service (worker.h, run() of a
 * listener-less pool) and its main().
 *
 * Loop: take files from state_dir/lists/spool/new/ in name (= arrival)
 * order, claim each with flock(LOCK_EX|LOCK_NB) so several list workers
 * share the spool, hand each list recipient to post.c, control.c or
 * bounce.c, and unlink the file when all are done. A temporary failure
 * leaves the file and sets its mtime LISTD_RETRY seconds ahead: files
 * with an mtime in the future are skipped until then. The directory is
 * watched with inotify, with a one-second poll as fallback, and
 * worker_should_exit() is checked between files.
 *
 * Every LISTD_MAINTENANCE seconds each list's expired tokens (and held
 * posts) are removed, the posters of expired held posts told (post.c),
 * and due digests are sent.
 *
 * Poison messages (poison.h): a spool file whose processing kills the
 * worker (a fatal signal at once, other deaths after poison_attempts
 * starts) goes to state_dir/lists/spool/quarantine/, logged once, and
 * the rest of the spool goes on.
 *
 * Standalone, "dmail-listd -c FILE -i" processes the spool once, does
 * the maintenance pass, and exits (tests, cron).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "listd.h"
#include "listspool.h"
#include "log.h"
#include "util.h"
#include "worker.h"

#define LISTD_RETRY 60
#define LISTD_MAINTENANCE 30
#define LISTD_MESSAGE_MAX (256u * 1024 * 1024)

static bool once;

/* Work on one list recipient of a spool file. */
static int
dispatch(struct listd *ld, const struct listspool_msg *msg, const char *rcpt)
{
	const struct list_def *d;
	char member[LIST_ADDRESS_MAX + 1];
	enum list_addr_kind kind;
	const char *data = msg->message.data != NULL ? msg->message.data : "";
	size_t len = msg->message.len;
	int r = 0, lk;

	kind = lists_match(ld->cur, rcpt, &d, member, sizeof(member));
	switch (kind) {
	case LIST_ADDR_NONE: {
		/* The list went away between 250 and now: tell the sender
		 * (a bounce, null sender) instead of losing it silently. */
		struct mail m;
		struct buf body = BUF_INIT, from = BUF_INIT;
		const char *at = strrchr(rcpt, '@');

		log_warn("action=return qid=%s to=<%s> from=<%s> reason=\"no "
		    "longer a list address (lists.dat changed)\"", msg->id,
		    rcpt, msg->sender);
		mail_parse(data, len, &m);
		if (*msg->sender != '\0' && !mail_is_automatic(&m) &&
		    at != NULL) {
			buf_printf(&from, "MAILER-DAEMON@%s", at + 1);
			buf_printf(&body, "Your message to %s could not be "
			    "delivered: the list no longer exists.\n", rcpt);
			r = send_notice(ld, "", from.data, msg->sender,
			    "Undelivered Mail: no such list", NULL, body.data);
		}
		mail_free(&m);
		buf_free(&body);
		buf_free(&from);
		return r;
	}
	case LIST_ADDR_DLIST: {
		const char *at = strrchr(rcpt, '@');
		return control_handle(ld, NULL, at + 1, msg->sender, data,
		    len);
	}
	case LIST_ADDR_REQUEST:
		lk = list_lock(ld->conf, d);
		r = control_handle(ld, d, d->domain, msg->sender, data, len);
		list_unlock(lk);
		return r;
	case LIST_ADDR_POST:
		lk = list_lock(ld->conf, d);
		r = post_handle(ld, d, msg->sender, data, len, msg->id);
		if (r == 0 && d->digest)
			(void)digest_maybe_send(ld, d, (int64_t)time(NULL),
			    false);
		list_unlock(lk);
		return r;
	case LIST_ADDR_OWNER:
		return owner_handle(ld, d, msg->sender, data, len);
	case LIST_ADDR_BOUNCES:
		lk = list_lock(ld->conf, d);
		r = bounce_handle(ld, d, member, data, len);
		list_unlock(lk);
		return r;
	}
	return 0;
}

/* Process one spool file; 1 done, 0 skipped, -1 kept for a retry. */
static int
process_file(struct listd *ld, const char *dir, const char *name)
{
	struct buf path = BUF_INIT, err = BUF_INIT;
	struct listspool_msg msg;
	struct stat st;
	int fd, r = 1;

	buf_printf(&path, "%s/%s", dir, name);
	fd = open(path.data, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		buf_free(&path);
		return 0;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || fstat(fd, &st) < 0 ||
	    st.st_nlink == 0 || st.st_mtime > time(NULL) ||
	    poison_begin(&ld->poison, name) == 1) {
		close(fd);
		buf_free(&path);
		return 0;
	}
	if (listspool_read(path.data, &msg, LISTD_MESSAGE_MAX, &err) < 0) {
		/* Not ours or damaged: keep it out of the way for a look. */
		log_error("event=spool-file-bad path=spool/%s.bad "
		    "reason=\"%s\"", name, err.data);
		buf_reset(&err);
		buf_printf(&err, "%s/../%s.bad", dir, name);
		if (rename(path.data, err.data) < 0)
			unlink(path.data);
		goto out;
	}
#ifdef DMAIL_TEST_HOOKS
	test_crash_hook(msg.message.data, msg.message.len,
	    poison_current(&ld->poison), "list");
#endif
	ld->cur = lists_cache_get(&ld->lists, NULL);
	for (size_t i = 0; i < msg.rcpts.count; i++)
		if (dispatch(ld, &msg, msg.rcpts.items[i]) < 0)
			r = -1;
	if (r == 1) {
		if (unlink(path.data) < 0)
			log_error("event=remove-failed path=%s error=\"%s\"",
			    path.data, strerror(errno));
	} else {
		struct timespec ts[2];

		clock_gettime(CLOCK_REALTIME, &ts[0]);
		ts[0].tv_sec += LISTD_RETRY;
		ts[1] = ts[0];
		futimens(fd, ts);
		log_warn("action=defer qid=%s retry_in=%ds", msg.id,
		    LISTD_RETRY);
	}
	listspool_msg_free(&msg);
out:
	poison_end(&ld->poison);
	close(fd);
	buf_free(&path);
	buf_free(&err);
	return r;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One pass over the spool; number of files done. */
static unsigned
process_spool(struct listd *ld)
{
	struct buf dir = BUF_INIT;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	unsigned done = 0;
	DIR *dp;

	poison_report(&ld->poison);
	listspool_dir(ld->conf, "new", &dir);
	if ((dp = opendir(dir.data)) == NULL) {
		if (errno != ENOENT)
			log_error("event=read-failed path=%s error=\"%s\"",
			    dir.data, strerror(errno));
		buf_free(&dir);
		return 0;
	}
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dp);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		if (!once && worker_should_exit())
			break;
		if (process_file(ld, dir.data, names[i]) == 1)
			done++;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	buf_free(&dir);
	return done;
}

static void
maintenance(struct listd *ld)
{
	int64_t now = (int64_t)time(NULL);
	const struct lists *l = lists_cache_get(&ld->lists, NULL);

	ld->cur = l;
	for (size_t i = 0; i < l->count; i++) {
		const struct list_def *d = &l->items[i];
		struct buf p = BUF_INIT;
		struct strlist held = { NULL, 0 };
		struct stat st;
		unsigned n;

		list_state_path(ld->conf, d, NULL, &p);
		if (stat(p.data, &st) < 0) {     /* no state yet */
			buf_free(&p);
			continue;
		}
		buf_free(&p);
		post_progress_expire(ld, d, now, LISTD_HELD_TTL);
		if ((n = token_expire_all(ld, d, now, &held)) > 0)
			log_info("action=expire list=%s count=%u", d->address,
			    n);
		for (size_t k = 0; k < held.count; k++)
			post_held_expired(ld, d, held.items[k]);
		strlist_free(&held);
		if (d->digest) {
			int lk = list_lock(ld->conf, d);
			(void)digest_maybe_send(ld, d, now, false);
			list_unlock(lk);
		}
	}
	ld->last_maintenance = now;
}

static void *
listd_init(const struct dmail_conf *conf)
{
	struct listd *ld;
	struct buf err = BUF_INIT;

	/* Still root here: create the spool so run_as owns it. */
	if (lists_prepare_dirs(conf, &err) < 0) {
		log_error("event=lists-failed reason=\"%s\"", err.data);
		buf_free(&err);
		return NULL;
	}
	buf_free(&err);
	ld = xcalloc(1, sizeof(*ld));
	ld->conf = conf;
	ld->poison.dirfd = ld->poison.qdirfd = -1;
	lists_cache_init(&ld->lists, conf->lists_file);
	{
		struct buf fb = BUF_INIT;

		lists_fallback_path(conf, &fb);
		lists_cache_fallback(&ld->lists, fb.data);
		buf_free(&fb);
	}
	return ld;
}

static void
listd_run(void *state, const struct dmail_conf *conf)
{
	struct listd *ld = state;
	struct buf err = BUF_INIT, dir = BUF_INIT;
	int ino;

	ld->conf = conf;
	/* Opened here, after privileges were dropped, so the database
	 * files stay owned by run_as. */
	ld->udb = userdb_open(conf, USERDB_READ, &err);
	if (ld->udb == NULL) {
		log_error("event=userdb-failed reason=\"%s\"", err.data);
		buf_free(&err);
		return;
	}
	ld->dctx = deliver_ctx_new(conf, ld->udb, &err);
	if (ld->dctx == NULL) {
		log_error("event=delivery-setup-failed reason=\"%s\"",
		    buf_cstr(&err));
		buf_free(&err);
		return;
	}
	buf_free(&err);
	listspool_dir(conf, "new", &dir);
	{
		struct buf q = BUF_INIT;

		poison_paths(conf, POISON_LIST, &dir, &q);
		if (poison_open(&ld->poison, poison_spool_name(POISON_LIST),
		    dir.data, q.data, conf->poison_attempts, &err) < 0)
			log_error("event=poison-failed reason=\"%s; poison "
			    "messages are not quarantined\"", err.data);
		buf_free(&q);
		buf_free(&err);
	}
	ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ino >= 0 && inotify_add_watch(ino, dir.data,
	    IN_MOVED_TO | IN_CREATE | IN_ATTRIB) < 0) {
		log_warn("event=inotify-failed path=%s error=\"%s\" "
		    "reason=polling", dir.data, strerror(errno));
		close(ino);
		ino = -1;
	}
	log_info("event=ready path=%s", dir.data);
	for (;;) {
		struct pollfd pfd = { ino, POLLIN, 0 };
		char evbuf[4096];

		process_spool(ld);
		if (once || (int64_t)time(NULL) - ld->last_maintenance >=
		    LISTD_MAINTENANCE)
			maintenance(ld);
		if (once || worker_should_exit())
			break;
		if (ino >= 0) {
			if (poll(&pfd, 1, 1000) > 0)
				while (read(ino, evbuf, sizeof(evbuf)) > 0)
					;
		} else {
			sleep(1);
		}
	}
	if (ino >= 0)
		close(ino);
	buf_free(&dir);
}

static void
listd_fini(void *state)
{
	struct listd *ld = state;

	if (ld == NULL)
		return;
	if (ld->dctx != NULL)
		deliver_ctx_free(ld->dctx);
	poison_close(&ld->poison);
	dmarc_close(ld);
	userdb_close(ld->udb);
	lists_cache_free(&ld->lists);
	free(ld);
}

static const struct worker_service listd_service = {
	.name = "dmail-listd",
	.pool = POOL_LIST,
	.default_role = ROLE_SMTP,
	.init = listd_init,
	.session = NULL,
	.run = listd_run,
	.fini = listd_fini,
};

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-i") == 0)
			once = true;
	return worker_main(argc, argv, &listd_service);
}
