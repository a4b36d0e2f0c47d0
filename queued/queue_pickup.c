/*
 * queue_pickup.c - take messages that dmail-sendmail left in
 * state_dir/spool/maildrop/ (when the SMTP server could not take them)
 * and inject them through the normal delivery path (deliver.h), so local
 * recipients reach their Maildirs and remote ones get a queue file.
 *
 * Maildrop files are written by any local user: their content is not
 * trusted. Every recipient is checked again with deliver_check_rcpt()
 * (aliases, users); nothing in the file can claim an authenticated
 * client. A recipient refused for good gets a bounce to the sender; a
 * temporary failure leaves the whole file for the next scan. The file is
 * removed only after delivery_commit() succeeded (a crash in between
 * delivers it twice, never zero times). A file whose pickup kills the
 * queue manager goes to spool/quarantine/maildrop/ (poison.h).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "deliver.h"
#include "log.h"
#include "queued.h"
#include "queue_info.h"
#include "spool.h"
#include "util.h"

/* Largest maildrop file taken (the SMTP limit plus headroom). */
static uint64_t
max_size(const struct dmail_conf *c)
{
	return c->max_message_size + 1024 * 1024;
}

/* Copy the message part of fd, line by line, into the delivery. */
static int
copy_lines(struct delivery *d, int fd, off_t off)
{
	struct buf line = BUF_INIT;
	char block[65536];
	ssize_t got;
	int rc = 0;

	while ((got = pread(fd, block, sizeof(block), off)) > 0) {
		const char *p = block, *end = block + got, *nl;
		off += got;
		while (p < end) {
			nl = memchr(p, '\n', (size_t)(end - p));
			if (nl == NULL) {
				buf_append(&line, p, (size_t)(end - p));
				break;
			}
			buf_append(&line, p, (size_t)(nl - p));
			if (delivery_write_line(d, line.data ? line.data : "",
			    line.len) < 0)
				rc = -1;
			buf_reset(&line);
			p = nl + 1;
		}
	}
	if (got < 0)
		rc = -1;
	if (line.len > 0 && delivery_write_line(d, line.data, line.len) < 0)
		rc = -1;
	buf_free(&line);
	return rc;
}

/* 0: done (file may go), -1: try again later. */
static int
pickup_one(struct qstate *qs, const char *path, const char *name)
{
	struct spool_envelope env;
	struct buf err = BUF_INIT;
	struct delivery_info info;
	struct smtp_reply reply;
	struct delivery *d = NULL;
	struct qinfo qi;
	struct stat st;
	size_t *rej = NULL, nrej = 0, nok = 0;
	struct deliver_ctx *dctx = qstate_dctx(qs);
	int fd, rc = -1;

	if (dctx == NULL)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		log_warn("action=pickup maildrop=%s status=ignored "
		    "reason=\"not a regular file\"", name);
		return 0;
	}
	if ((uint64_t)st.st_size > max_size(qs->conf)) {
		log_warn("action=pickup maildrop=%s size=%lld status=removed "
		    "reason=\"too large\"", name, (long long)st.st_size);
		close(fd);
		return 0;
	}
	if (spool_read(path, &env, &err) < 0) {
		log_warn("action=pickup maildrop=%s status=removed "
		    "reason=\"%s\"", name, buf_cstr(&err));
		buf_free(&err);
		close(fd);
		return 0;
	}
#ifdef DMAIL_TEST_HOOKS
	if (read_file(path, &err, 1024 * 1024) == 0)
		test_crash_hook(err.data, err.len,
		    poison_current(&qs->poison[POISON_MAILDROP]), "pickup");
	buf_reset(&err);
#endif
	qinfo_init(&qi, env.rcpt_count);
	rej = xcalloc(env.rcpt_count + 1, sizeof(*rej));
	memset(&info, 0, sizeof(info));
	info.session_id = name;
	info.client_ip = "127.0.0.1";
	info.client_helo = "localhost";
	info.protocol = "ESMTP";
	info.tls = "";
	d = delivery_begin(dctx, env.sender, &info);
	if (d == NULL)
		goto out;
	for (size_t i = 0; i < env.rcpt_count; i++) {
		const char *a = env.rcpts[i].address;
		switch (deliver_check_rcpt(dctx, a, (uint64_t)st.st_size,
		    &reply)) {
		case RCPT_LOCAL:
		case RCPT_REMOTE:
			delivery_add_rcpt(d, a);
			nok++;
			break;
		case RCPT_REJECT: {
			struct buf t = BUF_INIT;
			buf_printf(&t, "%d %s %s", reply.code, reply.enhanced,
			    reply.text);
			qinfo_set(&qi, i, reply.code, reply.enhanced, NULL,
			    t.data);
			buf_free(&t);
			rej[nrej++] = i;
			env.rcpts[i].state = SPOOL_BOUNCED;
			break;
		}
		default:
			log_warn("action=pickup maildrop=%s to=<%s> "
			    "status=deferred reply=\"%d %s %s\"", name, a,
			    reply.code, reply.enhanced, reply.text);
			delivery_abort(d);
			d = NULL;
			goto out;
		}
	}
	if (nok > 0) {
		if (copy_lines(d, fd, env.message_offset) < 0 ||
		    delivery_commit(d, &reply) < 0) {
			d = NULL;
			log_error("action=pickup maildrop=%s status=failed "
			    "reply=\"%d %s %s\"", name, reply.code,
			    reply.enhanced, reply.text);
			goto out;
		}
		d = NULL;
		log_info("action=pickup maildrop=%s uid=%ld from=<%s> "
		    "nrcpt=%zu reply=\"%s\"", name, (long)st.st_uid,
		    env.sender, nok, reply.text);
	} else {
		delivery_abort(d);
		d = NULL;
	}
	if (nrej > 0)
		(void)qbounce_send(qs, path, &env, &qi, rej, nrej, false);
	rc = 0;
out:
	if (d != NULL)
		delivery_abort(d);
	close(fd);
	free(rej);
	qinfo_free(&qi);
	spool_envelope_free(&env);
	buf_free(&err);
	return rc;
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
		if (pickup_one(qs, path.data, de->d_name) == 0) {
			if (unlink(path.data) < 0)
				log_error("event=remove-failed path=%s "
				    "error=\"%s\"", path.data, strerror(errno));
			else
				removed = true;
		}
		poison_end(&qs->poison[POISON_MAILDROP]);
	}
	closedir(dp);
	if (removed)
		(void)fsync_dir(dir.data);
	buf_free(&dir);
	buf_free(&path);
}
