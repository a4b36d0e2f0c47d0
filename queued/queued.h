/*
 * queued.h - dmail-queued, the queue manager: module map and the
 * structures its files share.
 *
 *   queue_main.c     main(), the worker_service (init: TLS client context,
 *                    relayhost credentials, user database, delivery
 *                    context; run: the event loop, reading the wakeup and
 *                    control FIFOs); qstate_dctx(), qstate_release()
 *   queue_sched.c    the in-memory queue: scan of spool/queue, retry heap,
 *                    destinations with per-destination concurrency,
 *                    recording results, finishing an attempt (bounce,
 *                    delay warning, removal, next retry); qmgr_command():
 *                    the control commands
 *   queue_deliver.c  a delivery process: route (transport, relayhost, MX),
 *                    one SMTP connection reused for its jobs, results back
 *                    to the queue manager
 *   queue_wire.c     the lines of the pipe below, formatted and parsed
 *                    (queue_wire.h: limits, what is refused)
 *   queue_bounce.c   DSNs submitted with the null sender (through
 *                    deliver.h's delivery_submit)
 *   queue_pickup.c   scans spool/maildrop/ (files dmail-sendmail left
 *                    there): deliver.h's deliver_maildrop delivers each,
 *                    then this bounces, removes or quarantines it
 *   (NOTIFY/RET/ENVID of a queued message: spool_read(), spool.h)
 *   (the SMTP client is common/smtp_client.c, smtp_client.h)
 *
 * Processes. dmail-queued is one process run by the master in the queue
 * pool. It forks delivery processes (at most delivery_workers_max, at
 * most smtp_dest_concurrency per destination). Each gets a pipe pair:
 *
 *   to child    "J ENTRY QUEUEID I,J,K\n" ... "G\n"   jobs, then go
 *   from child  "R ENTRY I CODE STATUS\tREMOTE\tTEXT\n"  one result
 *               "E ENTRY\n"                            job finished
 *               "I\n"                                  idle: more work?
 *
 * A malformed line ends the delivery process (queue_wire.h).
 *
 * End-of-file to the child means "no more work": it says QUIT and exits.
 * A child that dies leaves its unfinished recipients deferred (one
 * attempt lost, nothing else); a message whose delivery killed
 * poison_attempts delivery processes (by a signal) is quarantined.
 * Only the queue manager writes queue and side files, so there are no
 * write races between processes.
 *
 * FIFOs under state_dir/spool: "wakeup" (0622, any byte: rescan queue/)
 * and "control" (0600, one command per line, from the queue tools):
 * "flush", "delete ID", "hold ID", "release ID".
 */
#ifndef DMAIL_QUEUED_H
#define DMAIL_QUEUED_H

#include <stdbool.h>
#include <stddef.h>
#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "conf.h"
#include "deliver.h"
#include "poison.h"
#include "queue_info.h"
#include "spool.h"
#include "userdb.h"

/* How long an idle delivery process keeps its connection for more
 * messages to the same destination. */
#define QMGR_IDLE_MS 2000
/* Jobs (messages) handed to one delivery process at a time. */
#define QMGR_BATCH_MAX 50
/* Full rescan of spool/queue at least this often (ms). */
#define QMGR_RESCAN_MS 60000
/* Queue size and age in the status at most this old (ms). */
#define QMGR_PUBLISH_MS 1000

struct qmgr;

/* Process-wide state built in init. */
struct qstate {
	const struct dmail_conf *conf;
	SSL_CTX *tls;
	char *auth_user;             /* relayhost_auth, NULL when unset */
	char *auth_pass;
	struct userdb *udb;          /* open only while needed, see below */
	struct deliver_ctx *dctx;
	struct qmgr *qm;
	int lock_fd;                 /* flock on spool/qmgr.lock, or -1 */
	/* Poison messages (poison.h): queue files whose loading or
	 * bounce kills the queue manager, or that crash delivery processes
	 * poison_attempts times; maildrop files whose pickup kills it. */
	struct poison_spool poison[POISON_SPOOLS];
};

/*
 * The delivery context (and the user database behind it) for bounces and
 * the maildrop, opened on first use and closed again by
 * qstate_release() at the end of each loop turn: the queue manager
 * holds no Berkeley DB environment while it waits, so a kill -9 of it
 * never leaves a registered process behind for others to recover from,
 * and delivery processes never inherit an environment handle. NULL
 * (logged) when it cannot be opened.
 */
struct deliver_ctx *qstate_dctx(struct qstate *qs);
void qstate_release(struct qstate *qs);

/* Where a recipient's domain goes. */
struct qroute {
	char *relay;                 /* "HOST:PORT" or "[HOST]:PORT"; NULL: MX */
	char *domain;                /* for MX routes */
	bool tls_required;
	bool auth;                   /* use relayhost credentials */
};

/* --- queue_sched.c ------------------------------------------------------ */
struct qmgr *qmgr_new(struct qstate *qs);
void qmgr_free(struct qmgr *qm);
/* Read spool/queue for files not yet known. */
void qmgr_scan(struct qmgr *qm);
/* Start what is due; returns ms until the next timed event (-1 none). */
int qmgr_schedule(struct qmgr *qm, bool dispatch);
/* poll() set of the children: fills up to max, returns count. */
size_t qmgr_pollfds(struct qmgr *qm, struct pollfd *pfd, size_t max);
/* Handle input from children after poll(). */
void qmgr_child_input(struct qmgr *qm, struct pollfd *pfd, size_t n);
size_t qmgr_children(const struct qmgr *qm);
/* Messages in the queue. */
size_t qmgr_count(const struct qmgr *qm);
/* Put the queue's size, oldest arrival and deferred messages in the
 * scoreboard for the status and the master's history
 * (scoreboard_queue_publish), at most every QMGR_PUBLISH_MS: it
 * looks at every message. */
void qmgr_publish(struct qmgr *qm);
/* Close idle children (all when force), signal busy ones when kill. */
void qmgr_stop_children(struct qmgr *qm, bool kill_busy);
/* Control commands; reply text into out; 0 or -1. */
int qmgr_command(struct qmgr *qm, const char *line, struct buf *out);
/* Route of a recipient domain (lower case). */
void qroute_for(const struct dmail_conf *conf, const char *domain,
    struct qroute *out);
void qroute_free(struct qroute *r);

/* --- queue_deliver.c ---------------------------------------------------- */
/* Body of a delivery process; never returns. */
void qdeliver_main(struct qstate *qs, const struct qroute *route, int in_fd,
    int out_fd) __attribute__((noreturn));

/* --- queue_bounce.c ----------------------------------------------------- */
/*
 * Send one DSN for the recipients listed in idx (action failed or
 * delayed) of the queued message at path. 0 when committed (or dropped
 * on purpose: null sender with null_sender_bounces drop, or a sender we
 * cannot deliver to, logged); -1 to try again later.
 */
int qbounce_send(struct qstate *qs, const char *path,
    const struct spool_envelope *env, const struct qinfo *info,
    const size_t *idx, size_t n, bool delayed);

/* --- queue_pickup.c ----------------------------------------------------- */
/* Deliver every complete file in spool/maildrop/ (deliver_maildrop()):
 * bounce its refused recipients and remove it when done, keep it when
 * a recipient is refused for now (mailbox full), quarantine a file that
 * is not a maildrop file. */
void qpickup_scan(struct qstate *qs);

#endif
