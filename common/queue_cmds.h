/*
 * queue_cmds.h - the outbound queue commands of tellsmtp (the listing
 * also of dmail-sendmail -bp and mailq, which call queue_command() with
 * "mailq"):
 *
 *     queue [FILTER], mailq
 *                        list the messages of the queue, then those of
 *                        the maildrop not yet picked up (marked
 *                        "(maildrop)"): queue id, size, age, sender, hold
 *                        state, attempts, and every recipient with its
 *                        state and last error; then the quarantine.
 *                        FILTER (queue only; then no quarantine):
 *                        --sender TEXT, --rcpt TEXT (substrings, any
 *                        case), --domain DOMAIN (of the sender or a
 *                        recipient), --min-age SECONDS, --status
 *                        active|deferred|held, --offset N, --limit N
 *     queue show QUEUEID everything about one message: envelope, size,
 *                        arrival, status, attempts, next retry, each
 *                        recipient's state and last error, and the
 *                        message's header (first QUEUE_HEADERS_MAX bytes)
 *     flush              retry every deferred message now
 *     delete QUEUEID     remove a message (no bounce)
 *     hold QUEUEID       stop delivery attempts until released
 *     release QUEUEID    end a hold and retry now
 *     release NAME       put a quarantined file (poison.h) back into its
 *                        spool: list, queue or maildrop
 *     quarantine         list the quarantined files of every spool with
 *                        the reason (also shown after "queue")
 *
 * flush, delete, hold and release are requests to the queue manager
 * through its control FIFO (state_dir/spool/control), so only one process
 * ever writes queue files; the command waits (a few seconds) until the
 * change is visible on disk. When no queue manager runs, delete, hold and
 * release change the files directly and flush says it cannot.
 *
 * queue_command() takes the command's own argv (argv[0] is the command
 * name) and returns an exit status: 0 done, 1 failed (message unknown,
 * queue manager needed but not running), 2 usage error. Output goes to
 * stdout, errors to stderr.
 *
 * The reading side is also offered to programs (the web manager):
 * queue_select() visits the messages matching a filter, in the listing's
 * order; queue_entry_load() reads one message by id (queue, then
 * maildrop); a message's status is "held" when on hold, "deferred"
 * after a failed attempt, "active" otherwise (waiting for its first
 * attempt, or being delivered).
 */
#ifndef DMAIL_QUEUE_CMDS_H
#define DMAIL_QUEUE_CMDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "queue_info.h"
#include "spool.h"

#define QUEUE_HEADERS_MAX (64 * 1024)

enum queue_state { QUEUE_ANY = 0, QUEUE_ACTIVE, QUEUE_DEFERRED, QUEUE_HELD };

struct queue_filter {
	const char *sender, *rcpt;     /* substrings, any case; NULL: any */
	const char *domain;            /* of the sender or a recipient */
	int64_t min_age;               /* seconds since arrival */
	enum queue_state state;        /* QUEUE_ANY: every one */
	size_t offset, limit;          /* of the matches; limit 0: all */
};

/* One message as the tools show it. */
struct queue_entry {
	char id[SPOOL_ID_MAX];
	bool maildrop;                 /* not yet picked up */
	uint64_t size;                 /* of the message, envelope excluded */
	enum queue_state state;
	struct spool_envelope env;
	struct qinfo qi;               /* attempts, next, hold, errors */
};

typedef void queue_visit_fn(const struct queue_entry *e, void *arg);

/* True when argv[0] is one of the commands above. */
bool queue_command_known(const char *name);
int queue_command(const struct dmail_conf *c, int argc, char **argv);
/* Call fn for the matches of f from f->offset, at most f->limit of them
 * (the entry is freed after the call). Returns how many match in all,
 * -1 when a spool directory cannot be read (said on stderr). */
long queue_select(const struct dmail_conf *c, const struct queue_filter *f,
    queue_visit_fn *fn, void *arg);
/* One message by id: 0, or -1 (no such message, or not a valid id). */
int queue_entry_load(const struct dmail_conf *c, const char *id,
    struct queue_entry *e);
void queue_entry_free(struct queue_entry *e);
/* The message's header section (the first QUEUE_HEADERS_MAX bytes at
 * most) into out: 0, or -1 when the file cannot be read. */
int queue_entry_headers(const struct dmail_conf *c,
    const struct queue_entry *e, struct buf *out);
bool queue_valid_id(const char *id);
/* "any", "active", "deferred", "held" and back. */
const char *queue_state_name(enum queue_state s);
bool queue_state_parse(const char *s, enum queue_state *out);
/* An age ("42s", "5m", "3h", "2d") and a local time ("-" for 0). */
void queue_age_text(int64_t secs, char *out, size_t len);
void queue_time_text(int64_t t, char *out, size_t len);
/* "pending", "delivered" or "bounced" for a spool state byte. */
const char *queue_rcpt_state(char state);
/* One line "quarantined list=N queue=N maildrop=N" on stdout. */
void queue_quarantine_summary(const struct dmail_conf *c);

#endif
