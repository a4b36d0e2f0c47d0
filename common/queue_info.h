/*
 * queue_info.h - the queue manager's side file for one queued message:
 * attempts, next retry time, hold flag, delay warning sent, and per
 * recipient the last result and whether a bounce was sent for it.
 *
 * The queue file (spool.h) holds what must never be lost: the message
 * and each recipient's final state byte. Everything else lives here, in
 * state_dir/spool/defer/ID, a small text file replaced atomically
 * (write_file_durable: written, fsync'd, renamed, directory fsync'd):
 *
 *     attempts 3
 *     next 1732412345
 *     hold 0
 *     warned 0
 *     r 0 N 451 4.3.0<TAB>mx.remote.test[192.0.2.7]<TAB>451 4.3.0 later
 *     r 2 Y 550 5.1.1<TAB>mx.remote.test[192.0.2.7]<TAB>550 5.1.1 unknown
 *
 * "r INDEX NOTIFIED CODE STATUS<TAB>REMOTE<TAB>TEXT": NOTIFIED is Y once
 * a DSN for that recipient was committed. REMOTE may be empty. Unknown
 * lines are ignored. A missing file means "never tried".
 *
 * Read by dmail-queued and by the queue tools (common/queue_cmds.c).
 */
#ifndef DMAIL_QUEUE_INFO_H
#define DMAIL_QUEUE_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct qinfo_rcpt {
	int code;                /* last reply code, 0 none/network */
	char status[16];         /* RFC 3463 "4.4.1", "" when never tried */
	char *remote;            /* "host[ip]" or NULL */
	char *text;              /* last reply or failure, NULL if none */
	bool notified;           /* a DSN covering it was committed */
};

struct qinfo {
	unsigned attempts;
	int64_t next;            /* Unix time of the next attempt, 0: now */
	bool hold;
	bool warned;
	struct qinfo_rcpt *rcpts;
	size_t rcpt_count;
};

/* Empty info for count recipients. */
void qinfo_init(struct qinfo *q, size_t count);
void qinfo_free(struct qinfo *q);
/* Read path into q (sized for count recipients). A missing file gives
 * empty info and 0; -1 only on I/O errors. */
int qinfo_read(const char *path, struct qinfo *q, size_t count);
/* Durable replace. -1 with errno. */
int qinfo_write(const char *path, const struct qinfo *q);
/* Set one recipient's last result. */
void qinfo_set(struct qinfo *q, size_t i, int code, const char *status,
    const char *remote, const char *text);

#endif
