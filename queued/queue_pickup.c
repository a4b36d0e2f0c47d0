/*
 * queue_pickup.c - take messages that dmail-sendmail left in
 * state_dir/spool/maildrop/ (when the SMTP server could not take them)
 * and inject them through the normal delivery path (deliver.h), so local
 * recipients reach their Maildirs and remote ones get a queue file.
 *
 * The delivery itself is deliver_maildrop() (deliver.h), the one
 * pickup: maildrop files are written by any local user, so their content
 * is not trusted; every recipient is checked again (aliases, users,
 * quota) and nothing in the file can claim an authenticated client.
 * What this file decides, per outcome:
 *   - done: a recipient refused for good (5xx, also 552 5.3.4 for every
 *     recipient of a file bigger than max_message_size) gets a bounce to
 *     the sender, then the file is removed (a crash in between delivers
 *     it twice, never zero times);
 *   - refused for now (452 4.2.2 mailbox full, lookup trouble, a failed
 *     commit): nothing is delivered and the whole file stays for the
 *     next scan (every QMGR_RESCAN_MS, or sooner on a wakeup);
 *   - not a maildrop file (not a regular file, not in the queue file
 *     format): moved to spool/quarantine/maildrop/ (poison.h), never
 *     deleted, for the operator ("tellsmtp queue" lists it).
 * A file whose pickup kills the queue manager is quarantined too.
 * Nothing here is fatal.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "deliver.h"
#include "log.h"
#include "queued.h"
#include "queue_info.h"
#include "spool.h"
#include "util.h"

/* Bounce the recipients deliver_maildrop() refused for good. */
static void
bounce_refused(struct qstate *qs, const char *path,
    const struct spool_envelope *env, const struct qinfo *refused)
{
	size_t *idx = xcalloc(env->rcpt_count + 1, sizeof(*idx)), n = 0;

	for (size_t i = 0; i < env->rcpt_count; i++)
		if (env->rcpts[i].state == SPOOL_BOUNCED)
			idx[n++] = i;
	if (n > 0)
		(void)qbounce_send(qs, path, env, refused, idx, n, false);
	free(idx);
}

/* Deliver one maildrop file; true when it is gone (delivered and
 * removed, or quarantined). */
static bool
pickup_one(struct qstate *qs, const char *path, const char *name)
{
	struct deliver_ctx *dctx = qstate_dctx(qs);
	struct spool_envelope env;
	struct qinfo refused;
	struct buf err = BUF_INIT;
	bool gone = false;
	int rc;

	if (dctx == NULL)
		return false;
#ifdef DMAIL_TEST_HOOKS
	if (read_file(path, &err, 1024 * 1024) == 0)
		test_crash_hook(err.data, err.len,
		    poison_current(&qs->poison[POISON_MAILDROP]), "pickup");
	buf_reset(&err);
#endif
	rc = deliver_maildrop(dctx, path, &env, &refused, &err);
	if (rc == -1) {
		if (err.len > 0)
			log_warn("action=pickup maildrop=%s status=deferred "
			    "reason=\"%s\"", name, err.data);
	} else if (rc == -2) {
		log_warn("action=pickup maildrop=%s status=quarantined "
		    "reason=\"%s\"", name, buf_cstr(&err));
		gone = poison_quarantine(&qs->poison[POISON_MAILDROP], name,
		    "reason=not-a-maildrop-file") == 0;
	} else {
		bounce_refused(qs, path, &env, &refused);
		if (unlink(path) < 0 && errno != ENOENT)
			log_error("event=unlink-failed path=%s error=\"%s\"",
			    path, strerror(errno));
		else
			gone = true;
	}
	qinfo_free(&refused);
	spool_envelope_free(&env);
	buf_free(&err);
	return gone;
}

void
qpickup_scan(struct qstate *qs)
{
	struct buf dir = BUF_INIT, path = BUF_INIT;
	struct dirent *de;
	bool removed = false;
	DIR *dp;

	spool_path(qs->conf, "maildrop", NULL, &dir);
	dp = opendir(dir.data);
	if (dp == NULL) {
		buf_free(&dir);
		return;
	}
	while ((de = readdir(dp)) != NULL) {
		/* ".ID.tmp" files are still being written. */
		if (de->d_name[0] == '.')
			continue;
		buf_reset(&path);
		buf_printf(&path, "%s/%s", dir.data, de->d_name);
		if (poison_begin(&qs->poison[POISON_MAILDROP], de->d_name) == 1)
			continue;       /* killed its pickups: quarantined */
		if (pickup_one(qs, path.data, de->d_name))
			removed = true;
		poison_end(&qs->poison[POISON_MAILDROP]);
	}
	closedir(dp);
	if (removed)
		(void)fsync_dir(dir.data);
	buf_free(&dir);
	buf_free(&path);
}
