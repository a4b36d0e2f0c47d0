/*
 * spool.h - the outbound queue on disk: queue ids, the queue file format,
 * writing a queue file durably, reading it back, marking recipients.
 *
 * Layout (all under state_dir/spool/, created on first use and by
 * deliver_ctx_new(); spool/ itself gets mode o+x so that local users can
 * reach the maildrop, but never o+r):
 *
 *     tmp/        files being written; never read by anyone else.
 *                 Leftovers after a crash are garbage (never acknowledged).
 *     queue/ID    accepted messages waiting for outbound delivery. A file
 *                 appears here only by rename(2) after it was fsync'd, and
 *                 queue/ is fsync'd before the SMTP client gets its 250.
 *     maildrop/   mode 1733 (world-writable, sticky): dmail-sendmail drops
 *                 messages here when the SMTP server cannot take them.
 *                 Files are written as maildrop/.ID.tmp, fsync'd and renamed
 *                 to maildrop/ID (then maildrop/ fsync'd). Their content
 *                 is UNTRUSTED (any local user can write one): the queue
 *                 manager must resolve every recipient again (they can be
 *                 local: aliases, users) and may not trust "client"/"auth".
 *                 The "uid" line names the submitting user (file owner
 *                 wins over it).
 *     wakeup      optional FIFO created by the queue manager; after a
 *                 file is published, spool_wakeup() writes one byte to it
 *                 without blocking (no reader or full pipe: ignored; the
 *                 queue manager also scans periodically).
 *
 * Queue file format (text header, blank line, message):
 *
 *     dmail-queue 1
 *     id 19274FA3B0C1D2000A1B01
 *     arrival 1732412345
 *     sender alice@example.test           (empty value for <>)
 *     client 192.0.2.1 helo=mx.example.org proto=ESMTPS
 *     auth alice@example.test             (only when authenticated)
 *     uid 1000                            (maildrop files only)
 *     rcpt P<TAB>bob@remote.test<TAB>bob@local.test
 *     rcpt P<TAB>carol@remote.test<TAB>carol@remote.test
 *     envid QQ314159                      (RFC 3461, optional)
 *     ret HDRS                            (RFC 3461, optional)
 *     notify 1 FAILURE,DELAY              (RFC 3461, optional)
 *     <empty line>
 *     the message, LF line ends, starting with our Received: header
 *
 * Keys are lower-case words followed by one space; unknown keys must be
 * ignored by readers (forward compatibility). Each "rcpt" line is
 * "rcpt " + one state byte + TAB + address + TAB + original recipient
 * (the address given in RCPT TO before alias/forward expansion, or the
 * rfc822 address of its ORCPT parameter, for DSN Original-Recipient).
 * Addresses never contain TAB, CR or LF.
 *
 * The DSN lines (RFC 3461, given by the SMTP client with MAIL FROM and
 * RCPT TO; read back by spool_read() into env->envid, env->ret and each
 * recipient's notify, the only parser of them) are written only when
 * the client gave the parameter: "envid" is the xtext-decoded ENVID
 * (printable US-ASCII only), "ret" is FULL or HDRS, and "notify I LIST"
 * gives the NOTIFY of recipient I (counting "rcpt" lines from 0) as NEVER
 * or a comma-separated subset of SUCCESS, FAILURE, DELAY (dsn.h). A word
 * a reader does not know is ignored, the known ones of the list kept; a
 * list without any known word counts as not given. Without a notify line
 * a recipient gets failure and delay notices (RFC 3461 4.1 default).
 *
 * Recipient state byte: 'P' pending, 'D' delivered, 'B' failed for good
 * (bounce due or sent). The queue manager records a result by rewriting
 * that one byte in place (spool_mark(): pwrite + fsync) before it acts on
 * the next attempt, so a recipient that succeeded is never sent again
 * (at most the one in flight during a crash is sent twice). The file is
 * removed when no 'P' is left. Retry times and last errors are the queue
 * manager's business (they may be kept in a side file).
 */
#ifndef DMAIL_SPOOL_H
#define DMAIL_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "conf.h"
#include "dsn.h"

#define SPOOL_ID_MAX 32
#define SPOOL_VERSION_LINE "dmail-queue 1"

#define SPOOL_PENDING 'P'
#define SPOOL_DELIVERED 'D'
#define SPOOL_BOUNCED 'B'

struct spool_rcpt {
	char *address;
	char *orcpt;
	char state;
	unsigned char notify;   /* DSN_NOTIFY_* (dsn.h), 0: not given */
	off_t state_offset;     /* file offset of the state byte */
};

struct spool_envelope {
	char id[SPOOL_ID_MAX];
	int64_t arrival;         /* Unix time */
	char *sender;            /* "" for <> */
	char *client;            /* "IP helo=... proto=..." or NULL */
	char *auth;              /* NULL when not authenticated */
	long uid;                /* -1 when absent */
	char *envid;             /* RFC 3461 ENVID, decoded; NULL if none */
	int ret;                 /* DSN_RET_* (dsn.h) */
	struct spool_rcpt *rcpts;
	size_t rcpt_count;
	off_t message_offset;    /* where the message starts in the file */
};

/* A new queue id, unique across processes and time: 24 upper-case hex
 * digits of seconds, microseconds, pid and a per-process counter. The id
 * of every spool file (queue, maildrop, list spool); also the
 * Maildir-side log id. out must hold SPOOL_ID_MAX bytes. */
void spool_new_id(char *out);

void spool_envelope_init(struct spool_envelope *env);
void spool_envelope_free(struct spool_envelope *env);
void spool_envelope_add_rcpt(struct spool_envelope *env,
    const char *address, const char *orcpt);
/* The header part (including the empty line that ends it). */
void spool_envelope_format(const struct spool_envelope *env,
    struct buf *out);

/* state_dir/spool/SUB into out; creates spool/{tmp,queue} (0700) and
 * spool/maildrop (1733) if missing (silently ignores failures to create
 * maildrop: dmail-sendmail tries again). */
int spool_dirs(const struct dmail_conf *conf, struct buf *err);
void spool_path(const struct dmail_conf *conf, const char *sub,
    const char *id, struct buf *out);

/* Create spool/tmp/ID for writing (O_EXCL, 0600). -1 with errno. */
int spool_create_tmp(const struct dmail_conf *conf, const char *id,
    struct buf *path);
/* The tmp file is written and fsync'd: rename it to queue/ID, fsync
 * queue/, wake the queue manager. On failure the tmp file is removed. */
int spool_publish(const struct dmail_conf *conf, const char *tmp_path,
    const char *id);

/* Whole write: header of env, then len bytes of src_fd starting at
 * src_offset (pread), fsync, publish. -1 with errno; nothing left. */
int spool_write_from_fd(const struct dmail_conf *conf,
    const struct spool_envelope *env, int src_fd, off_t src_offset);
/* The same into maildrop/ID: a copy for the queue manager's pickup to
 * deliver again later (a local mailbox over quota, deliver.h). */
int spool_write_maildrop_from_fd(const struct dmail_conf *conf,
    const struct spool_envelope *env, int src_fd, off_t src_offset);

/* Parse the header of a queue (or maildrop) file. 0, or -1 with err
 * filled (not a queue file, truncated, bad line). */
int spool_read(const char *path, struct spool_envelope *env,
    struct buf *err);
/* Rewrite the state byte of recipient i in place and fsync. */
int spool_mark(const char *path, const struct spool_envelope *env,
    size_t i, char state);

/* Poke the queue manager (see "wakeup" above). Never fails. */
void spool_wakeup(const struct dmail_conf *conf);

#endif
