/*
 * deliver.h - taking responsibility for a message: recipient checks at
 * RCPT time, then one durable commit for all recipients.
 *
 * Used by the SMTP worker, the list worker and the queue manager
 * (bounces, maildrop pickup). A deliver_ctx lives as long as the worker
 * process; a delivery as long as one message transaction.
 *
 * Recipients on local domains are resolved through aliases, forwards
 * (dmail.conf and the compiled aliases file) and the user database.
 * Everything else goes to the outbound queue under state_dir/spool/ (the
 * queue file format is documented in spool.h).
 *
 * delivery_commit() returns only when the message is durable for every
 * recipient: the single stored copy written and fsync'd, linked into each
 * local Maildir's new/ (and/or a queue file written), and the directories
 * fsync'd. Only then may the caller answer 250. On failure nothing is
 * left behind and the caller answers with the returned SMTP reply.
 *
 * Mail DMail writes itself (bounces and delay warnings, success notices,
 * list posts and notices, maildrop pickups) goes through
 * delivery_submit(), the one injection path: one form of Received:
 * header ("from localhost (local) by HOST (DMail) with local id ID"),
 * one recipient check, one commit.
 *
 * Nothing here is fatal; adding a recipient or DSN parameters after the
 * message started is our own bug (panic).
 */
#ifndef DMAIL_DELIVER_H
#define DMAIL_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "dsn.h"
#include "queue_info.h"
#include "smtp_reply.h"
#include "spool.h"
#include "userdb.h"

struct deliver_ctx;
struct delivery;

enum rcpt_check {
	RCPT_LOCAL,        /* a local account, alias or forward: accept */
	RCPT_REMOTE,       /* not a local domain: caller applies relay rules */
	RCPT_REJECT,       /* reply says why (5xx unknown user, 4xx quota) */
	RCPT_TEMPFAIL,     /* database trouble: reply is 4xx */
};

/* What the SMTP session knows about the message, for the Received:
 * header and the log line. Strings are copied. */
struct delivery_info {
	const char *session_id;
	const char *client_ip;
	const char *client_helo;     /* as given in HELO/EHLO, may be NULL */
	const char *protocol;        /* "SMTP", "ESMTP", "ESMTPS", "ESMTPSA",
	                                "ESMTPA" (RFC 3848) */
	const char *tls;             /* stream_tls_description(), "" if none */
	const char *auth_user;       /* NULL when not authenticated */
	bool smtputf8;
};

/* udb is borrowed, may be NULL (then only aliases/forwards resolve). */
struct deliver_ctx *deliver_ctx_new(const struct dmail_conf *conf,
    struct userdb *udb, struct buf *err);
void deliver_ctx_free(struct deliver_ctx *ctx);
/* The dkim_sign keys loaded by deliver_ctx_new() (NULL err: a key that
 * cannot be loaded fails deliver_ctx_new()). */
struct outgoing;
const struct outgoing *deliver_ctx_outgoing(const struct deliver_ctx *ctx);

/* Check one RCPT TO address (already parsed, without <>). For
 * RCPT_REJECT and RCPT_TEMPFAIL, reply is filled. size_hint is the SIZE=
 * value or 0, for quota checks. */
enum rcpt_check deliver_check_rcpt(struct deliver_ctx *ctx,
    const char *address, uint64_t size_hint, struct smtp_reply *reply);

/* Start a message. sender "" is the null reverse-path <>. */
struct delivery *delivery_begin(struct deliver_ctx *ctx, const char *sender,
    const struct delivery_info *info);
/* Queue id (for the 250 reply and logs), valid until the delivery ends. */
const char *delivery_id(const struct delivery *d);
/* Add an accepted recipient (checked by deliver_check_rcpt()). */
void delivery_add_rcpt(struct delivery *d, const char *address);
/*
 * DSN parameters (RFC 3461) of the transaction, written into the queue
 * file for recipients that go to the outbound queue (spool.h) and used
 * by the queue manager for bounces and when relaying. A local recipient
 * (Maildir) with NOTIFY=SUCCESS makes delivery_commit() send a
 * "delivered" DSN (RFC 3461 5.2.2) to a non-null sender once the message
 * is durable; failing to send it is only logged. List addresses keep no
 * DSN state, and no "relayed" notice is generated for NOTIFY=SUCCESS on a
 * queued recipient whose next hop does not offer DSN.
 */
/* RET (DSN_RET_*, dsn.h) and ENVID (xtext-decoded, printable US-ASCII;
 * NULL when not given) of MAIL FROM. Call before the first recipient. */
void delivery_set_dsn(struct delivery *d, int ret, const char *envid);
/* delivery_add_rcpt() with NOTIFY flags (DSN_NOTIFY_*, dsn.h; 0 when
 * not given) and ORCPT (the decoded rfc822 address; NULL when not given),
 * applied to every queued address the recipient expands to. */
void delivery_add_rcpt_dsn(struct delivery *d, const char *address,
    unsigned notify, const char *orcpt);
/* Append one line of message content without its line terminator and
 * after dot-unstuffing. Stored with LF endings. Returns 0, or -1 when a
 * write failed (the delivery is then doomed: commit returns 451/452). */
int delivery_write_line(struct delivery *d, const char *line, size_t len);
/* delivery_write_line() for each line of msg[0..len) (LF or CRLF line
 * ends; a last line without one is a line too). A failed write dooms
 * the delivery as above. */
void delivery_write(struct delivery *d, const char *msg, size_t len);
/* Message size so far, counting CRLF line ends (what SIZE measures). */
uint64_t delivery_size(const struct delivery *d);
/* Number of Received: headers seen so far (hop count, RFC 5321 6.3). */
unsigned delivery_hops(const struct delivery *d);
/* Make it durable. 0 (reply is 250 with the queue id) or -1 (reply says
 * why: 4xx temporary, 5xx permanent). The delivery is freed either way.
 *
 * Quota after DATA: each local mailbox is checked again with the real
 * size (quota.h). When no mailbox is over, or none is left, the one
 * reply says it all: 250, or 452 4.2.2 (552 5.2.2 when the message is
 * larger than every one of those quotas) and nothing is delivered. When
 * only some are over, the others get the message and 250 is the reply;
 * those over get a copy in spool/maildrop/ (spool.h) addressed to their
 * accounts, which the queue manager's pickup delivers once there is
 * room, bounces at once with 552 5.2.2 (message larger than the quota),
 * or bounces after queue_lifetime (still full): the Postfix way with a
 * Dovecot LMTP that answers per recipient, as seen from the sender.
 * After a local delivery, postdeliver.h sends a due quota warning and
 * vacation reply (never failing the delivery). */
int delivery_commit(struct delivery *d, struct smtp_reply *reply);
/* Drop a message in progress (RSET, QUIT, lost connection, too big). */
void delivery_abort(struct delivery *d);

/*
 * Mail DMail generates itself, from a complete message in memory (LF or
 * CRLF line ends, our Received: header is added in front). Every
 * recipient is checked as at RCPT time (size_hint as SIZE= for the
 * quota; 0 when unknown). A recipient refused for good (5xx) is
 * skipped and logged; one refused for now (4xx: mailbox full, lookup
 * trouble) defers the whole message when defer_4xx is set. Without
 * defer_4xx (list posts, DSNs, notices), a mailbox over quota (452
 * 4.2.2, 552 5.2.2, also found only at the commit) gets a maildrop copy
 * that the queue manager delivers once there is room or bounces (see
 * delivery_commit()), and other 4xx refusals are skipped like a 5xx;
 * with final_try they are all skipped, nothing is kept. replies, when not NULL, gets each recipient's
 * outcome (250, or the refusal). log_id names what the message is about
 * in the log lines (the original's queue id, "listd", a maildrop file).
 */
struct submission {
	const char *log_id;
	const char *sender;          /* envelope sender, "" for <> */
	const char *const *rcpts;
	size_t rcpt_count;
	const char *message;
	size_t message_len;
	uint64_t size_hint;
	bool defer_4xx;
	struct smtp_reply *replies;  /* NULL, or rcpt_count entries */
	bool final_try;              /* 4xx refused like 5xx, none kept */
};
/* 1 committed (reply: 250 with the queue id); 0 nothing to send, every
 * recipient refused for good; -1 temporary failure, nothing delivered
 * (reply says why: try again later); -2 permanent failure of the commit
 * (reply 5xx). Each outcome other than 1 is logged here. */
int delivery_submit(struct deliver_ctx *ctx, const struct submission *s,
    struct smtp_reply *reply);
/* delivery_submit() of msg (LF lines) from <> to one address: the
 * shape of every notice (DSNs, quota warnings, vacation replies). */
int delivery_submit_notice(struct deliver_ctx *ctx, const char *log_id,
    const char *to, const struct buf *msg, bool final_try,
    struct smtp_reply *reply);

/*
 * Pick up one file of state_dir/spool/maildrop (written by dmail-sendmail
 * when the SMTP server was unreachable; format in spool.h) and deliver
 * it like a message from a local user, through delivery_submit(), with
 * the Date:, Message-ID: and DKIM-Signature fields of outgoing.h added
 * on top (before the commit, so the stored copy has them): every
 * pending recipient is checked again (aliases, users, quota), local ones
 * go to their Maildirs and the rest to the queue, all in one durable
 * commit. A recipient refused for now (452 4.2.2 mailbox full, lookup
 * trouble) keeps the whole file for a later try: nothing is delivered.
 * A file bigger than max_message_size (plus its envelope) is not
 * delivered: every recipient is refused with 552 5.3.4, for a bounce.
 *
 * env gets the file's envelope (the caller frees it, also on failure);
 * recipients refused for good are marked SPOOL_BOUNCED in env with
 * their reply in refused (sized here), for the caller's bounce. The
 * file is not removed here: the caller bounces, then removes it (a
 * crash in between means one duplicate, never a loss).
 * Returns 0 (done: bounce the refused, remove the file), -1 temporary
 * failure (keep the file, try later; err says why, or is empty when a
 * refused recipient was logged already), -2 not a usable
 * maildrop file (err says why: quarantine it). Called by the queue
 * manager, as the run_as user.
 */
int deliver_maildrop(struct deliver_ctx *ctx, const char *path,
    struct spool_envelope *env, struct qinfo *refused, struct buf *err);

#endif
