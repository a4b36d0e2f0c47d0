/*
 * poison.h - poison messages: a spool file whose processing kills the
 * worker that processes it is moved aside to its spool's quarantine/
 * directory, so the next worker goes on with the rest of the spool
 * instead of dying on the same file again. One mechanism for every
 * spool: the list spool (dmail-listd), the outbound queue and the
 * maildrop (dmail-queued).
 *
 * How a worker uses it, per item (a file NAME in the spool directory):
 *
 *     poison_open(&ps, "list", ".../spool/new", ".../spool/quarantine",
 *         conf->poison_attempts, &err);          once, at start
 *     poison_report(&ps);                        at start and per scan
 *     if (poison_begin(&ps, name) == 1)          claimed the file first
 *             skip it: it was just quarantined
 *     ... process the file ...
 *     poison_end(&ps);                           done, kept or removed
 *
 * Two ways to quarantine:
 *  - a fatal signal the worker raises itself (SIGSEGV, SIGBUS, SIGABRT,
 *    SIGFPE, SIGILL) while an item is armed: a handler on its own stack,
 *    async-signal-safe (renameat, openat, write, fsync only), moves the
 *    file to quarantine/, writes a pending reason file, and re-raises
 *    the signal with the default action, so the worker still dies and
 *    the master counts the crash. The same signal sent by another
 *    process (kill -SEGV) quarantines nothing. The next worker's
 *    poison_report() logs the item once:
 *        poison quarantined spool=list file=NAME signal=SIGSEGV attempts=1
 *  - deaths no handler sees (SIGKILL by the OOM killer or an operator, a
 *    hang ended by the master, an exit from a sanitizer): every
 *    poison_begin() counts the start in a small marker file (no fsync:
 *    the page cache survives a process death) that poison_end()
 *    removes; an item with `attempts` starts that never finished is
 *    quarantined by the next poison_begin() (signal=none). A single
 *    kill -9 of a worker therefore never quarantines a good message.
 *
 * Quarantine never loses the file: it is renamed (same file system) into
 * quarantine/ and both directories are fsync'd (in the handler too); its
 * content and name are unchanged. Files in quarantine/:
 *     NAME        the spool file, as it was
 *     .r-HASH     its reason, one key=value line ("spool=... file=NAME
 *                 signal=... attempts=N time=UNIX"), logged already
 *     .c-HASH     the same, written by the signal handler, not yet logged
 *     .t-HASH     the start counter of an item being processed
 * (HASH: 16 hex digits of the name, so any spool name fits.)
 * An operator lists them with poison_list() ("tellsmtp queue") and puts
 * one back with poison_release() ("tellsmtp release NAME") or by moving
 * NAME back into the spool directory.
 *
 * Errors: poison_open() returns -1 with err filled (the worker then runs
 * without protection, logged once by the caller); poison_begin() that
 * cannot count still arms the handler; nothing here is fatal.
 */
#ifndef DMAIL_POISON_H
#define DMAIL_POISON_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "conf.h"

#define POISON_SPOOL_MAX 16

/* The spools, their directories and quarantine directories:
 *   list      state_dir/lists/spool/new   state_dir/lists/spool/quarantine
 *   queue     state_dir/spool/queue       state_dir/spool/quarantine/queue
 *   maildrop  state_dir/spool/maildrop    state_dir/spool/quarantine/maildrop
 * (the maildrop is writable by every local user: its quarantine is not
 * inside it.) */
enum poison_spool_id {
	POISON_LIST = 0,
	POISON_QUEUE,
	POISON_MAILDROP,
	POISON_SPOOLS
};

const char *poison_spool_name(enum poison_spool_id id);
void poison_paths(const struct dmail_conf *conf, enum poison_spool_id id,
    struct buf *dir, struct buf *qdir);

struct poison_spool {
	char spool[POISON_SPOOL_MAX];  /* "list", "queue", "maildrop" */
	int dirfd, qdirfd;             /* -1 when not open */
	char *dir, *qdir;
	unsigned attempts;             /* poison_attempts */
	unsigned current;              /* this start of the armed item */
};

/* Open the spool directory dir and its quarantine directory qdir
 * (created 0700 if missing), and install the signal handlers (and their
 * alternate stack). 0, or -1 with err. */
int poison_open(struct poison_spool *ps, const char *spool, const char *dir,
    const char *qdir, unsigned attempts, struct buf *err);
void poison_close(struct poison_spool *ps);

/* Before processing name (after claiming it, so that two workers never
 * count the same start): 1 when the item had `attempts` starts that
 * never finished and is quarantined now (skip it), 0 when it is armed
 * (go on). */
int poison_begin(struct poison_spool *ps, const char *name);
/* Arm the handler for name without counting the start (for work too
 * cheap and frequent to pay for the counter, such as loading a queue
 * file: only a fatal signal quarantines). */
void poison_arm(struct poison_spool *ps, const char *name);
/* The armed item is finished (processed, kept for a retry or removed):
 * disarm, forget its start counter. */
void poison_end(struct poison_spool *ps);
/* Start number of the armed item (1 on a first start), 0 when none. */
unsigned poison_current(const struct poison_spool *ps);

/* Quarantine name now, from ordinary code (a worker that saw another
 * process die on it): reason is "key=value" text for the log and the
 * reason file. 0, or -1 (logged). */
int poison_quarantine(struct poison_spool *ps, const char *name,
    const char *reason);

/* Write the reason file of name in qdir ("key=value ..." text; the time
 * is added), for an item put there directly (a milter's quarantine,
 * smtpd/smtp_milter.c). 0, or -1 (logged). */
int poison_note(const char *qdir, const char *name, const char *reason);

/* Log, once each, the items a signal handler quarantined. */
void poison_report(struct poison_spool *ps);

/* --- operator side ------------------------------------------------------ */

struct poison_item {
	char *name;
	char *reason;        /* the reason line ("" when none) */
};

/* The quarantined files of qdir, in name order. 0 (also when qdir does
 * not exist: none), or -1 with errno. */
int poison_list(const char *qdir, struct poison_item **items, size_t *n);
void poison_list_free(struct poison_item *items, size_t n);
/* Move name from qdir back into dir (its start counter and reason
 * removed, both directories fsync'd). 1 moved, 0 no such file, -1 error
 * with err. */
int poison_release(const char *dir, const char *qdir, const char *name,
    struct buf *err);

#ifdef DMAIL_TEST_HOOKS
/* Test builds only (t/crashhook.c, linked into t/crashhook/dmail-listd and
 * t/crashhook/dmail-queued; never into an installed program): a message with
 * the header field "X-DMail-Test-Crash: segv" crashes the caller with
 * SIGSEGV, "abort" with SIGABRT, "exit" exits 1 (a death no handler
 * sees), "sleep" sleeps 60 s on the first attempt (for kill -9); a
 * second word limits it to one place (where: "list", "load", "bounce",
 * "delivery", "pickup"). */
void test_crash_hook(const char *msg, size_t len, unsigned attempt,
    const char *where);
#endif

#endif
