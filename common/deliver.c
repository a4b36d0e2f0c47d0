/*
 * deliver.c - recipient checks and the durable commit of one message to
 * local Maildirs and/or the outbound queue (API in deliver.h).
 *
 * One stored copy. The message is written once, while DATA arrives, into
 * a "store" file: tmp/ of the first local recipient's Maildir, or
 * spool/tmp/ when every recipient is remote. It starts with the headers
 * we add:
 *
 *     Return-Path: <sender>            (local copies only)
 *     Delivered-To: <account>          (only with exactly ONE local
 *                                       mailbox, see below)
 *     Received: from HELO ([IP]) by HOST with PROTO id QUEUEID
 *             (TLS) (authenticated as USER) for <rcpt>; DATE
 *
 * and is stored with LF line ends. At commit it is fsync'd once and then
 * hard-linked into the new/ directory of every local mailbox (a copy only
 * when the mailboxes are on another file system), each directory fsync'd
 * once; remote recipients get a queue file (spool.h format) holding the
 * same bytes from the Received: header on. Only then does commit return
 * success and the caller may say 250.
 *
 * Delivered-To is per recipient by nature, but one stored copy is shared
 * by hard links, so with several local mailboxes no Delivered-To is
 * written (and the Received: header has a "for" clause only when the
 * message had exactly one RCPT TO). Queue files never carry
 * Return-Path or Delivered-To: they start at our Received: header. This
 * saves one write and one fsync per extra recipient; the trade-off is the
 * usual one of single-instance stores.
 *
 * Recipient resolution: aliases.h (alias/forward/aliases db, then the
 * directory's aliases), then the user database for local domains (those
 * of local_domains and, with a directory backend, the directory's:
 * userdb_local_domain(); a directory that cannot answer gives 451). The role mailboxes postmaster@,
 * abuse@, mailer-daemon@ and root@ of a local domain that have neither
 * an alias nor an account go to admin_address when it is set.
 * postmaster@ every local domain always exists: without an alias, an
 * account or admin_address it is delivered to the Maildir
 * state_dir/mail/DOMAIN/postmaster (no quota), the one the account
 * postmaster@DOMAIN gets when the operator creates it (dmaild warns at
 * start while admin_address is unset). Targets that are unknown
 * or disabled accounts inside an alias expansion are skipped with a
 * warning; if nothing deliverable remains the recipient gets 550 5.1.1.
 *
 * Quota (quota.h) is checked at RCPT time with the SIZE= hint (452
 * 4.2.2 when the mailbox is full, 552 5.2.2 when the message is larger
 * than the whole quota) and again at the commit with the real size
 * (split_over_quota(): mailboxes over quota get a maildrop copy, or the
 * whole message is refused; deliver.h, delivery_commit()). After the
 * commit, postdeliver.h sends quota warnings and vacation replies.
 * Unknown local parts fall back to plus addressing
 * (recipient_delimiter) and the "@domain" catch-all (resolve_local()).
 *
 * Sections: recipient resolution (resolve() and its parts), one message
 * (headers, the store file), the commit (sync, placement into Maildirs,
 * list and queue copies, the success notice built and submitted after
 * the delivery is finished), mail DMail generates itself
 * (delivery_submit()), and the maildrop pickup (deliver_maildrop()).
 * Nothing here is fatal; misuse of the API is a panic.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aliases.h"
#include "deliver.h"
#include "dsn.h"
#include "listspool.h"
#include "log.h"
#include "maildir.h"
#include "postdeliver.h"
#include "quota.h"
#include "outgoing.h"
#include "scoreboard.h"
#include "spool.h"
#include "sys.h"
#include "util.h"

#define WRITE_CHUNK IO_CHUNK

/* Stale tmp files: older than 36 hours (Maildir convention), looked for
 * in the first mailbox of every 256th delivery of a process and in the
 * queue's tmp/ when a process starts. */
#define TMP_MAX_AGE (36 * 3600)
#define TMP_SWEEP_EVERY 256

struct deliver_ctx {
	unsigned long deliveries;
	const struct dmail_conf *conf;
	struct userdb *udb;
	struct aliases *aliases;
	struct lists_cache lists;       /* for listspool_check_rcpt() */
	struct outgoing *outgoing;      /* dkim_sign keys (outgoing.h) */
};

struct local_dest {
	char *mailbox;          /* Maildir directory */
	char *account;          /* address of the mailbox owner */
	char *orcpt;            /* as given in RCPT TO (or its ORCPT) */
	char *placed;           /* new/ path once linked */
	unsigned char notify;   /* RFC 3461 NOTIFY (DSN_NOTIFY_*) */
	struct quota quota;     /* the owner's (none for postmaster's) */
	uint64_t used;          /* usage before this message, at commit */
	enum quota_verdict verdict;   /* at commit */
};

struct delivery {
	struct deliver_ctx *ctx;
	char id[SPOOL_ID_MAX];
	char *sender;
	char *session_id, *client_ip, *helo, *protocol, *tls, *auth_user;
	bool smtputf8;       /* addresses may hold UTF-8 (RFC 6531) */
	time_t arrival;
	int64_t start_ms;

	struct local_dest *locals;
	size_t nlocal;
	struct local_dest *over;     /* over quota at commit (quota.h) */
	size_t nover;
	bool keep_over;              /* even when nothing else remains */
	struct buf kept;             /* their maildrop copy, once written */
	struct spool_envelope env;   /* remote recipients */
	size_t nrcpt;                /* RCPT TO addresses accepted */
	struct strlist lists;        /* list addresses (listspool.h) */
	bool to_lists;               /* store is the list spool file */
	char *first_rcpt;

	bool started;                /* store file open, headers written */
	bool to_spool;               /* store is the queue file itself */
	int fd;
	struct buf path;             /* store file */
	struct buf base;             /* Maildir unique base name */
	struct buf out;              /* pending writes */
	off_t received_offset;       /* start of Received: in the store */
	uint64_t disk_bytes, disk_lines;
	uint64_t size;               /* client's bytes, CRLF counted */
	unsigned hops;
	bool in_header;
	int error;                   /* errno of the first failure, or 0 */
};

static void
reply_for_errno(struct smtp_reply *r, int err)
{
	if (err == ENOSPC || err == EDQUOT)
		smtp_reply_set(r, 452, "4.3.1", "Insufficient system storage");
	else
		smtp_reply_set(r, 451, "4.3.0", "Local error in processing");
}

/* The first error of a delivery; its commit fails with it. */
static void
fail(struct delivery *d, int err)
{
	if (d->error == 0)
		d->error = err != 0 ? err : EIO;
}

struct deliver_ctx *
deliver_ctx_new(const struct dmail_conf *conf, struct userdb *udb,
    struct buf *err)
{
	struct deliver_ctx *ctx = xcalloc(1, sizeof(*ctx));

	ctx->conf = conf;
	ctx->udb = udb;
	if ((ctx->outgoing = outgoing_new(conf, err)) == NULL) {
		free(ctx);
		return NULL;
	}
	ctx->aliases = aliases_new(conf);
	aliases_set_userdb(ctx->aliases, udb);
	/* Create the queue directories now, as the worker's user, so the
	 * maildrop exists before anyone needs it. Failure is not fatal
	 * here: a queue write will try again and report. */
	{
		struct buf e = BUF_INIT;
		if (spool_dirs(conf, &e) < 0)
			log_warn("event=mkdir-failed reason=\"%s\"", e.data);
		buf_reset(&e);
		spool_path(conf, NULL, NULL, &e);
		(void)maildir_clean_tmp(e.data, TMP_MAX_AGE);  /* spool/tmp */
		buf_free(&e);
	}
	return ctx;
}

const struct outgoing *
deliver_ctx_outgoing(const struct deliver_ctx *ctx)
{
	return ctx->outgoing;
}

void
deliver_ctx_free(struct deliver_ctx *ctx)
{
	if (ctx == NULL)
		return;
	aliases_free(ctx->aliases);
	outgoing_free(ctx->outgoing);
	lists_cache_free(&ctx->lists);
	free(ctx);
}

/* --- recipient resolution ------------------------------------------ */

/* The quota check of the RCPT stage (hint: SIZE= or 0). While a
 * delivery records its destinations (d set) there is no check: the
 * commit checks again with the real size (split_over_quota()). */
static bool
has_quota_room(const struct user_record *u, uint64_t hint,
    struct smtp_reply *reply, const char *orig, const struct delivery *d)
{
	const struct quota q = { u->quota_bytes, u->quota_messages };
	enum quota_verdict v;
	uint64_t used;

	if (d != NULL)
		return true;
	v = quota_check(u->mailbox, &q, hint, &used);
	if (v == QUOTA_UNKNOWN)
		log_warn("event=quota-unknown path=%s error=\"%s\"",
		    u->mailbox, strerror(errno));
	if (v == QUOTA_OK || v == QUOTA_UNKNOWN)
		return true;
	quota_reply(v, orig, reply);
	return false;
}

/* Add a local destination to d unless its mailbox is already there. */
static void
add_local(struct delivery *d, const char *mailbox, const char *account,
    const char *orcpt, const struct user_record *u)
{
	struct local_dest *l;

	for (size_t i = 0; i < d->nlocal; i++)
		if (strcmp(d->locals[i].mailbox, mailbox) == 0)
			return;
	d->locals = xrealloc(d->locals, (d->nlocal + 1) * sizeof(*l));
	l = &d->locals[d->nlocal++];
	memset(l, 0, sizeof(*l));
	l->mailbox = xstrdup(mailbox);
	l->account = xstrdup(account);
	l->orcpt = xstrdup(orcpt);
	if (u != NULL) {
		l->quota.bytes = u->quota_bytes;
		l->quota.messages = u->quota_messages;
	}
}

static void
add_remote(struct delivery *d, const char *address, const char *orcpt)
{
	for (size_t i = 0; i < d->env.rcpt_count; i++)
		if (strcasecmp(d->env.rcpts[i].address, address) == 0)
			return;
	spool_envelope_add_rcpt(&d->env, address, orcpt);
}

/* RFC 2142 role mailboxes, and the names Unix mail sends to. */
static bool
is_role_mailbox(const char *lower)
{
	static const char *const roles[] = { "postmaster@", "abuse@",
		"mailer-daemon@", "root@" };

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strncmp(lower, roles[i], strlen(roles[i])) == 0)
			return true;
	return false;
}

/*
 * Deliver a role mailbox that has no alias and no account to
 * admin_address: an account of a local domain (quota applies), or a
 * remote address through the queue. An admin_address naming a local
 * account that does not exist is a configuration error; the message is
 * refused for now (451) rather than dropped.
 */
static enum rcpt_check
admin_target(struct deliver_ctx *ctx, const char *address, uint64_t hint,
    struct smtp_reply *reply, struct delivery *d, const char *orcpt)
{
	const struct dmail_conf *conf = ctx->conf;
	const char *admin = conf->admin_address;
	char lower[USERDB_ADDRESS_MAX + 1];
	struct user_record u;
	int found = 0;

	if (!conf_is_local_domain(conf, strrchr(admin, '@') + 1)) {
		if (d != NULL)
			add_remote(d, admin, orcpt);
		return RCPT_LOCAL;
	}
	if (strlen(admin) <= USERDB_ADDRESS_MAX && ctx->udb != NULL) {
		strcpy(lower, admin);
		str_lower(lower);
		found = userdb_lookup(ctx->udb, lower, &u);
	}
	if (found != 1 || !u.enabled) {
		log_error("event=lookup-failed to=<%s> user=%s "
		    "reason=\"admin_address is not an enabled account\"",
		    address, admin);
		smtp_reply_set(reply, 451, "4.3.0", "<%s>: temporary lookup "
		    "failure", address);
		return RCPT_TEMPFAIL;
	}
	if (!has_quota_room(&u, hint, reply, address, d))
		return RCPT_REJECT;
	if (d != NULL)
		add_local(d, u.mailbox, u.address, orcpt, &u);
	return RCPT_LOCAL;
}

/* The one answer to a lookup that failed for now (database, aliases,
 * list file): 451 4.3.0, the client tries again. */
static enum rcpt_check
tempfail(struct smtp_reply *reply, const char *address)
{
	smtp_reply_set(reply, 451, "4.3.0", "<%s>: temporary lookup failure",
	    address);
	return RCPT_TEMPFAIL;
}

/* The local part alone is only allowed for "Postmaster" (RFC 5321
 * 4.5.1), which means postmaster@ the first local domain. 0, or -1 with
 * reply (550 5.1.3). */
static int
full_address(const struct dmail_conf *conf, const char *address,
    struct buf *addr, struct smtp_reply *reply)
{
	if (strrchr(address, '@') != NULL) {
		buf_set(addr, address);
		return 0;
	}
	if (strcasecmp(address, "postmaster") != 0 ||
	    conf->local_domains.count == 0) {
		smtp_reply_set(reply, 550, "5.1.3", "<%s>: address needs a "
		    "domain", address);
		return -1;
	}
	buf_printf(addr, "postmaster@%s", conf->local_domains.items[0]);
	return 0;
}

/* A local target that is no user: a role mailbox nobody owns goes to
 * admin_address, postmaster@ to its default Maildir; anything else is
 * unknown (RCPT_LOCAL without *usable counted). lower is the target in
 * lower case, addr the address it came from. */
static enum rcpt_check
resolve_role(struct deliver_ctx *ctx, const char *address, const char *addr,
    const char *lower, uint64_t hint, struct smtp_reply *reply,
    struct delivery *d, size_t *usable)
{
	const struct dmail_conf *conf = ctx->conf;
	enum rcpt_check rc;

	if (is_role_mailbox(lower) && conf->admin_address != NULL &&
	    strcasecmp(conf->admin_address, lower) != 0) {
		rc = admin_target(ctx, address, hint, reply, d, addr);
		if (rc == RCPT_LOCAL)
			(*usable)++;
		return rc;
	}
	if (strncmp(lower, "postmaster@", 11) == 0) {
		struct buf mb = BUF_INIT;
		/* No admin_address: the Maildir that the account
		 * postmaster@DOMAIN gets once it is created. */
		userdb_default_mailbox(conf, lower, &mb);
		if (d != NULL)
			add_local(d, mb.data, lower, addr, NULL);
		buf_free(&mb);
		(*usable)++;
	}
	return RCPT_LOCAL;
}

/*
 * One target t of the expansion of addr (the address itself when no
 * alias applies; rewritten says an alias or forward made it). Adds to
 * *usable when t resolved to a destination. RCPT_LOCAL: go on with the
 * next target; anything else ends the recipient (reply filled).
 */
static enum rcpt_check
resolve_target(struct deliver_ctx *ctx, const char *address, const char *addr,
    const char *t, bool rewritten, uint64_t hint, struct smtp_reply *reply,
    struct delivery *d, size_t *usable)
{
	const struct dmail_conf *conf = ctx->conf;
	const char *tat = strrchr(t, '@');
	char lower[USERDB_ADDRESS_MAX + 1];
	struct user_record u;
	enum rcpt_check rc;
	size_t before = *usable;
	int found = 0, r;

	if (tat == NULL) {
		log_warn("event=alias-skipped to=<%s> user=%s "
		    "reason=\"target has no domain\"", address, t);
		return RCPT_LOCAL;
	}
	if ((r = userdb_local_domain(ctx->udb, conf, tat + 1)) < 0)
		return tempfail(reply, address);
	if (r == 0) {
		if (d != NULL)
			add_remote(d, t, addr);
		(*usable)++;
		return RCPT_LOCAL;
	}
	if (rewritten &&
	    (r = listspool_check_rcpt(&ctx->lists, conf, t)) != 0) {
		/* an alias pointing at a mailing list */
		if (r < 0)
			return tempfail(reply, address);
		if (d != NULL && !strlist_contains_ci(&d->lists, t))
			strlist_add(&d->lists, t);
		(*usable)++;
		return RCPT_LOCAL;
	}
	if (strlen(t) <= USERDB_ADDRESS_MAX) {
		strcpy(lower, t);
		str_lower(lower);
		if (ctx->udb != NULL &&
		    (found = userdb_lookup(ctx->udb, lower, &u)) < 0) {
			log_error("event=lookup-failed to=<%s> user=%s "
			    "reason=\"user database\"", address, lower);
			return tempfail(reply, address);
		}
		if (found == 1 && !u.enabled) {
			if (!rewritten) {
				smtp_reply_set(reply, 550, "5.2.1", "<%s>: "
				    "mailbox disabled", address);
				return RCPT_REJECT;
			}
			log_warn("event=alias-skipped to=<%s> user=%s "
			    "reason=\"target is disabled\"", address, lower);
			return RCPT_LOCAL;
		}
		if (found == 1) {
			if (!has_quota_room(&u, hint, reply, address, d))
				return RCPT_REJECT;
			if (d != NULL)
				add_local(d, u.mailbox, u.address, addr, &u);
			(*usable)++;
			return RCPT_LOCAL;
		}
		rc = resolve_role(ctx, address, addr, lower, hint, reply, d,
		    usable);
		if (rc != RCPT_LOCAL || *usable != before)
			return rc;
	}
	if (rewritten)
		log_warn("event=alias-skipped to=<%s> user=%s "
		    "reason=\"no such user\"", address, t);
	return RCPT_LOCAL;
}

/* addr through the aliases, then each target (resolve_target()). */
static enum rcpt_check
resolve_expansion(struct deliver_ctx *ctx, const char *address,
    const char *addr, uint64_t hint, struct smtp_reply *reply,
    struct delivery *d)
{
	struct alias_result res;
	struct buf err = BUF_INIT;
	enum rcpt_check rc = RCPT_LOCAL;
	size_t usable = 0;
	int r;

	r = aliases_expand(ctx->aliases, addr, &res, &err);
	if (r < 0) {
		log_error("event=%s to=<%s> reason=\"%s\"", r == -1 ?
		    "lookup-failed" : "alias-failed", address, err.data);
		buf_free(&err);
		if (r == -1)
			return tempfail(reply, address);
		smtp_reply_set(reply, 554, "5.4.6", "<%s>: alias loop or too "
		    "deep nesting", address);
		return RCPT_REJECT;
	}
	for (size_t i = 0; i < res.count && rc == RCPT_LOCAL; i++)
		rc = resolve_target(ctx, address, addr, res.targets[i],
		    res.rewritten, hint, reply, d, &usable);
	if (rc == RCPT_LOCAL && usable == 0) {
		smtp_reply_set(reply, 550, "5.1.1", "<%s>: user unknown",
		    address);
		rc = RCPT_REJECT;
	}
	alias_result_free(&res);
	buf_free(&err);
	return rc;
}

/* True when rc/reply say that addr is nobody's: no alias, no account,
 * no role mailbox (550 5.1.1). */
static bool
is_unknown(enum rcpt_check rc, const struct smtp_reply *reply)
{
	return rc == RCPT_REJECT && strcmp(reply->enhanced, "5.1.1") == 0;
}

/*
 * An address of a local domain: its own aliases and account first, then
 * (Postfix semantics) with recipient_delimiter the base address of
 * "base+ext@domain" (its aliases and account), then the catch-all alias
 * "@domain". Only a local part that is nobody's falls through.
 */
static enum rcpt_check
resolve_local(struct deliver_ctx *ctx, const char *address, const char *addr,
    uint64_t hint, struct smtp_reply *reply, struct delivery *d)
{
	const char *delim = ctx->conf->recipient_delimiter;
	const char *at = strrchr(addr, '@');
	struct buf other = BUF_INIT;
	enum rcpt_check rc;
	size_t base;

	rc = resolve_expansion(ctx, address, addr, hint, reply, d);
	if (!is_unknown(rc, reply))
		return rc;
	base = delim != NULL ? strcspn(addr, delim) : 0;
	if (delim != NULL && base > 0 && addr + base < at) {
		buf_append(&other, addr, base);
		buf_append_str(&other, at);
		rc = resolve_expansion(ctx, address, other.data, hint, reply,
		    d);
	}
	if (is_unknown(rc, reply)) {
		buf_set(&other, at);         /* "@domain" */
		rc = resolve_expansion(ctx, address, other.data, hint, reply,
		    d);
	}
	buf_free(&other);
	return rc;
}

/*
 * Resolve one RCPT TO address. With d == NULL only check; otherwise also
 * record the destinations in d. Fills reply for REJECT and TEMPFAIL.
 * Order: an explicit forward of a foreign address, a mailing list of a
 * local domain, then the alias expansion and its targets.
 */
static enum rcpt_check
resolve(struct deliver_ctx *ctx, const char *address, uint64_t hint,
    struct smtp_reply *reply, struct delivery *d)
{
	const struct dmail_conf *conf = ctx->conf;
	struct buf err = BUF_INIT, value = BUF_INIT, addr = BUF_INIT;
	enum rcpt_check rc;
	bool local;
	int r;

	if (full_address(conf, address, &addr, reply) < 0) {
		buf_free(&addr);
		return RCPT_REJECT;
	}
	if ((r = userdb_local_domain(ctx->udb, conf,
	    strrchr(addr.data, '@') + 1)) < 0) {
		buf_free(&addr);
		return tempfail(reply, address);
	}
	local = r == 1;
	if (!local &&
	    (r = aliases_lookup(ctx->aliases, addr.data, &value, &err)) <= 0) {
		/* Only an explicit forward/alias makes it ours. */
		if (r < 0) {
			log_error("event=lookup-failed to=<%s> reason=\"%s\"",
			    address, err.data);
			rc = tempfail(reply, address);
		} else {
			if (d != NULL)
				add_remote(d, addr.data, addr.data);
			rc = RCPT_REMOTE;
		}
	} else if (local && (r = listspool_check_rcpt(&ctx->lists, conf,
	    addr.data)) != 0) {
		/* Mailing-list addresses (lists.dat) need no account; the
		 * message goes to the list spool at commit (listspool.h). */
		rc = RCPT_LOCAL;
		if (r < 0)
			rc = tempfail(reply, address);
		else if (d != NULL)
			strlist_add(&d->lists, addr.data);
	} else {
		rc = resolve_local(ctx, address, addr.data, hint, reply, d);
	}
	buf_free(&err);
	buf_free(&value);
	buf_free(&addr);
	return rc;
}

enum rcpt_check
deliver_check_rcpt(struct deliver_ctx *ctx, const char *address,
    uint64_t size_hint, struct smtp_reply *reply)
{
	/* The answers stay for delivery_add_rcpt() of this recipient. */
	userdb_hold(ctx->udb, false);
	userdb_hold(ctx->udb, true);
	return resolve(ctx, address, size_hint, reply, NULL);
}

/* --- one message ---------------------------------------------------- */

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct delivery *
delivery_begin(struct deliver_ctx *ctx, const char *sender,
    const struct delivery_info *info)
{
	struct delivery *d = xcalloc(1, sizeof(*d));

	d->ctx = ctx;
	spool_new_id(d->id);
	d->sender = xstrdup(sender != NULL ? sender : "");
	if (info != NULL) {
		d->session_id = dup_or_null(info->session_id);
		d->client_ip = dup_or_null(info->client_ip);
		d->helo = dup_or_null(info->client_helo);
		d->protocol = dup_or_null(info->protocol);
		d->tls = dup_or_null(info->tls);
		d->auth_user = dup_or_null(info->auth_user);
		d->smtputf8 = info->smtputf8;
	}
	d->arrival = time(NULL);
	d->start_ms = now_ms();
	spool_envelope_init(&d->env);
	memcpy(d->env.id, d->id, sizeof(d->id));
	d->env.arrival = d->arrival;
	d->env.sender = xstrdup(d->sender);
	d->fd = -1;
	d->in_header = true;
	return d;
}

const char *
delivery_id(const struct delivery *d)
{
	return d->id;
}

void
delivery_add_rcpt(struct delivery *d, const char *address)
{
	struct smtp_reply reply;
	enum rcpt_check rc;

	if (d->started) {
		log_panic("delivery_add_rcpt after the message started");
	}
	rc = resolve(d->ctx, address, 0, &reply, d);
	userdb_hold(d->ctx->udb, false);
	if (rc == RCPT_TEMPFAIL) {
		/* Accepted at RCPT, unresolvable now (the answers of the
		 * check are held, so only a lookup the check did not make
		 * fails here): the whole message gets a 4xx at its end and
		 * the client keeps it; never someone else's mailbox. */
		log_warn("action=defer sid=%s qid=%s to=<%s> reply=\"%d %s\" "
		    "reason=\"lookup failed after RCPT: the message gets a "
		    "4xx\"", d->session_id ? d->session_id : "-", d->id,
		    address, reply.code, reply.text);
		fail(d, EAGAIN);
	} else if (rc == RCPT_REJECT) {
		/* Checked at RCPT time and changed since (user removed,
		 * disabled; quota waits for the commit): keep the message
		 * rather than lose it. */
		log_warn("action=redirect sid=%s qid=%s to=<%s> "
		    "reply=\"%d %s\" reason=\"delivering to the postmaster "
		    "instead\"",
		    d->session_id ? d->session_id : "-", d->id, address,
		    reply.code, reply.text);
		if (d->ctx->conf->local_domains.count > 0) {
			struct buf pm = BUF_INIT;
			buf_printf(&pm, "postmaster@%s",
			    d->ctx->conf->local_domains.items[0]);
			(void)resolve(d->ctx, pm.data, 0, &reply, d);
			buf_free(&pm);
		}
	}
	d->nrcpt++;
	if (d->first_rcpt == NULL)
		d->first_rcpt = xstrdup(address);
}

void
delivery_set_dsn(struct delivery *d, int ret, const char *envid)
{
	if (d->started)
		log_panic("delivery_set_dsn after the message started");
	d->env.ret = ret == DSN_RET_FULL || ret == DSN_RET_HDRS ? ret :
	    DSN_RET_NONE;
	free(d->env.envid);
	d->env.envid = envid != NULL ? xstrdup(envid) : NULL;
}

void
delivery_add_rcpt_dsn(struct delivery *d, const char *address,
    unsigned notify, const char *orcpt)
{
	size_t first = d->env.rcpt_count, lfirst = d->nlocal;

	delivery_add_rcpt(d, address);
	notify &= DSN_NOTIFY_WORDS;
	/* Local mailboxes: only SUCCESS matters (success_notices()). */
	for (size_t i = lfirst; i < d->nlocal; i++) {
		struct local_dest *l = &d->locals[i];

		if (notify != 0)
			l->notify = (unsigned char)(notify |
			    DSN_NOTIFY_GIVEN);
		if (orcpt != NULL && *orcpt != '\0') {
			free(l->orcpt);
			l->orcpt = xstrdup(orcpt);
		}
	}
	/* The queued addresses this one expanded to (an address already
	 * queued keeps the parameters it came with first). */
	for (size_t i = first; i < d->env.rcpt_count; i++) {
		struct spool_rcpt *r = &d->env.rcpts[i];

		if (notify != 0)
			r->notify = (unsigned char)(notify |
			    DSN_NOTIFY_GIVEN);
		if (orcpt != NULL && *orcpt != '\0') {
			free(r->orcpt);
			r->orcpt = xstrdup(orcpt);
		}
	}
}

/* Header field text from a client-controlled value: printable ASCII
 * without parentheses, at most max characters. With utf8 (an SMTPUTF8
 * transaction, whose addresses the SMTP server checked as UTF-8), bytes
 * of 0x80 and above are kept too: RFC 6532 allows them in header fields
 * of such messages. */
static void
append_text(struct buf *b, const char *s, size_t max, bool utf8)
{
	size_t n = 0;

	for (; *s && n < max; s++, n++) {
		unsigned char c = (unsigned char)*s;
		bool ok = (c >= 0x21 && c <= 0x7e && c != '(' && c != ')' &&
		    c != '\\') || (utf8 && c >= 0x80);
		buf_append_char(b, ok ? (char)c : '_');
	}
}

static void
append_safe(struct buf *b, const char *s, size_t max)
{
	append_text(b, s, max, false);
}

static void
format_headers(struct delivery *d, struct buf *h, size_t *received_at)
{
	const char *ip = d->client_ip != NULL ? d->client_ip : "127.0.0.1";
	time_t now = time(NULL);

	if (!d->to_spool) {
		buf_append_str(h, "Return-Path: <");
		append_text(h, d->sender, 320, d->smtputf8);
		buf_append_str(h, ">\n");
		if (d->nlocal == 1) {
			buf_append_str(h, "Delivered-To: ");
			append_text(h, d->locals[0].account, 320,
			    d->smtputf8);
			buf_append_char(h, '\n');
		}
	}
	*received_at = h->len;
	buf_append_str(h, "Received: from ");
	append_safe(h, d->helo != NULL && *d->helo ? d->helo : "unknown", 255);
	buf_append_str(h, " (");
	if (strcmp(ip, "local") == 0)
		buf_append_str(h, "local");
	else
		buf_printf(h, strchr(ip, ':') ? "[IPv6:%s]" : "[%s]", ip);
	buf_append_str(h, ")\n\tby ");
	append_safe(h, d->ctx->conf->hostname, 255);
	buf_printf(h, " (DMail) with %s id %s",
	    d->protocol != NULL ? d->protocol : "SMTP", d->id);
	if (d->tls != NULL && *d->tls) {
		buf_append_str(h, "\n\t(");
		for (const char *p = d->tls; *p; p++)
			buf_append_char(h, (*p == '(' || *p == ')' ||
			    (unsigned char)*p < 0x20) ? ' ' : *p);
		buf_append_char(h, ')');
	}
	if (d->auth_user != NULL) {
		buf_append_str(h, "\n\t(authenticated as ");
		append_safe(h, d->auth_user, 320);
		buf_append_char(h, ')');
	}
	if (d->nrcpt == 1 && d->first_rcpt != NULL) {
		buf_append_str(h, "\n\tfor <");
		append_text(h, d->first_rcpt, 320, d->smtputf8);
		buf_append_char(h, '>');
	}
	buf_append_str(h, ";\n\t");
	rfc5322_date(now, true, h);
	buf_append_char(h, '\n');
}

static void
count_out(struct delivery *d, const char *p, size_t n)
{
	d->disk_bytes += n;
	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p)));
	     p++)
		d->disk_lines++;
}

static int
flush_out(struct delivery *d)
{
	if (d->error != 0)
		return -1;
	if (d->out.len == 0)
		return 0;
	if (write_all(d->fd, d->out.data, d->out.len) < 0) {
		fail(d, errno);
		return -1;
	}
	buf_reset(&d->out);
	return 0;
}

/* Open the store file and write our headers into the buffer. */
static int
start_store(struct delivery *d)
{
	struct buf h = BUF_INIT, lhdr = BUF_INIT;
	size_t received_at;

	d->started = true;
	if (d->nlocal == 0 && d->env.rcpt_count == 0 && d->lists.count == 0) {
		log_error("event=no-recipients sid=%s qid=%s",
		    d->session_id ? d->session_id : "-", d->id);
		fail(d, EINVAL);
		return -1;
	}
	if (d->nlocal > 0) {
		const char *mb = d->locals[0].mailbox;

		/* Now and then sweep what crashed writers left in tmp/
		 * (older than any session can last), as Dovecot does. */
		if (++d->ctx->deliveries % TMP_SWEEP_EVERY == 1) {
			int n = maildir_clean_tmp(mb, TMP_MAX_AGE);
			if (n > 0)
				log_info("event=tmp-cleaned path=%s/tmp "
				    "count=%d", mb, n);
		}

		maildir_unique_base(d->ctx->conf->hostname, &d->base);
		buf_printf(&d->path, "%s/tmp/%s", mb, d->base.data);
		d->fd = sys_open(d->path.data, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0600);
		if (d->fd < 0 && errno == ENOENT) {
			if (maildir_create(mb) == 0)
				d->fd = sys_open(d->path.data, O_WRONLY |
				    O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			else
				log_error("event=mkdir-failed path=%s "
				    "error=\"%s\"", mb, strerror(errno));
		}
	} else if (d->lists.count > 0) {
		/* No Maildir: the store is the list spool file itself. */
		d->to_lists = true;
		d->fd = listspool_create_tmp(d->ctx->conf, d->sender,
		    (const char *const *)d->lists.items, d->lists.count,
		    &d->path, &lhdr);
	} else {
		d->to_spool = true;
		d->fd = spool_create_tmp(d->ctx->conf, d->id, &d->path);
	}
	if (d->fd < 0) {
		log_error("event=create-failed sid=%s qid=%s path=%s "
		    "error=\"%s\"", d->session_id ? d->session_id : "-", d->id,
		    d->path.data, strerror(errno));
		fail(d, errno);
		buf_free(&lhdr);
		return -1;
	}
	format_headers(d, &h, &received_at);
	if (d->to_lists) {
		buf_append(&d->out, lhdr.data, lhdr.len);
		received_at += lhdr.len;
		buf_free(&lhdr);
	}
	if (d->to_spool) {
		/* The queue file starts with its envelope. */
		struct buf env = BUF_INIT;
		spool_envelope_format(&d->env, &env);
		buf_append(&d->out, env.data, env.len);
		buf_free(&env);
	}
	d->received_offset = (off_t)received_at;
	buf_append(&d->out, h.data, h.len);
	count_out(d, h.data, h.len);
	buf_free(&h);
	return 0;
}

int
delivery_write_line(struct delivery *d, const char *line, size_t len)
{
	if (d->error != 0)
		return -1;
	d->size += len + 2;
	if (d->in_header) {
		if (len == 0)
			d->in_header = false;
		else if (len >= 9 && strncasecmp(line, "Received:", 9) == 0)
			d->hops++;
	}
	if (!d->started && start_store(d) < 0)
		return -1;
	buf_append(&d->out, line, len);
	buf_append_char(&d->out, '\n');
	count_out(d, line, len);
	d->disk_bytes++;
	d->disk_lines++;
	if (d->out.len >= WRITE_CHUNK)
		return flush_out(d);
	return 0;
}

uint64_t
delivery_size(const struct delivery *d)
{
	return d->size;
}

unsigned
delivery_hops(const struct delivery *d)
{
	return d->hops;
}

static void
free_locals(struct local_dest *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i].mailbox);
		free(l[i].account);
		free(l[i].orcpt);
		free(l[i].placed);
	}
	free(l);
}

static void
delivery_free(struct delivery *d)
{
	if (d->fd >= 0)
		close(d->fd);
	free_locals(d->locals, d->nlocal);
	free_locals(d->over, d->nover);
	buf_free(&d->kept);
	strlist_free(&d->lists);
	spool_envelope_free(&d->env);
	free(d->sender);
	free(d->session_id);
	free(d->client_ip);
	free(d->helo);
	free(d->protocol);
	free(d->tls);
	free(d->auth_user);
	free(d->first_rcpt);
	buf_free(&d->path);
	buf_free(&d->base);
	buf_free(&d->out);
	free(d);
}

void
delivery_abort(struct delivery *d)
{
	if (d == NULL)
		return;
	if (d->fd >= 0) {
		close(d->fd);
		d->fd = -1;
	}
	if (d->started && d->path.len > 0)
		unlink(d->path.data);
	delivery_free(d);
}

/* Remove everything this delivery made visible. */
static void
undo(struct delivery *d)
{
	if (d->kept.len > 0) {
		unlink(d->kept.data);
		buf_reset(&d->kept);
	}
	for (size_t i = 0; i < d->nlocal; i++) {
		if (d->locals[i].placed != NULL) {
			unlink(d->locals[i].placed);
			free(d->locals[i].placed);
			d->locals[i].placed = NULL;
		}
	}
}

static void
log_result(struct delivery *d, const char *status, const char *why)
{
	struct buf to = BUF_INIT;

	for (size_t i = 0; i < d->nlocal; i++)
		buf_printf(&to, "%s%s", i ? "," : "", d->locals[i].account);
	if (d->nlocal == 0)
		buf_append_char(&to, '-');
	if (d->env.rcpt_count > 0)
		buf_append_str(&to, " queued=");
	for (size_t i = 0; i < d->env.rcpt_count; i++)
		buf_printf(&to, "%s%s", i ? "," : "", d->env.rcpts[i].address);
	for (size_t i = 0; i < d->lists.count; i++)
		buf_printf(&to, "%s%s", i ? "," : " list=", d->lists.items[i]);
	log_info("action=deliver sid=%s qid=%s client=%s from=<%s> to=%s "
	    "size=%" PRIu64 " tls=%s status=%s%s%s delay=%lldms",
	    d->session_id ? d->session_id : "-", d->id,
	    d->client_ip ? d->client_ip : "-", d->sender, buf_cstr(&to),
	    d->size, d->tls && *d->tls ? "yes" : "no", status,
	    why ? " reason=" : "", why ? why : "",
	    (long long)(now_ms() - d->start_ms));
	buf_free(&to);
}

/*
 * RFC 3461 5.2.2: a local recipient that asked for NOTIFY=SUCCESS gets a
 * "delivered" DSN sent to the envelope sender (from <>, like a bounce),
 * once the message is durable in its Maildir. Built here into msg while
 * the delivery is still known; delivery_commit() submits it after the
 * delivery is finished. false when no notice is due (or the stored copy
 * cannot be read: logged; the message itself stays delivered).
 */
static bool
success_notice(struct delivery *d, struct buf *msg)
{
	struct dsn_rcpt *rc;
	struct dsn_report r;
	struct buf orig = BUF_INIT;
	const char *src = NULL;
	size_t count = 0;
	time_t now = time(NULL);

	if (d->sender[0] == '\0')
		return false;       /* never notify the null sender */
	rc = xcalloc(d->nlocal + 1, sizeof(*rc));
	for (size_t i = 0; i < d->nlocal; i++) {
		const struct local_dest *l = &d->locals[i];

		if (!(l->notify & DSN_NOTIFY_SUCCESS) || l->placed == NULL)
			continue;
		src = l->placed;
		rc[count].address = l->account;
		rc[count].orcpt = strcasecmp(l->orcpt, l->account) != 0 ?
		    l->orcpt : NULL;
		rc[count].action = DSN_DELIVERED;
		rc[count].status = "2.0.0";
		rc[count].last_attempt = (int64_t)now;
		count++;
	}
	if (count > 0 && dsn_read_original(src, 0, d->env.ret == DSN_RET_FULL,
	    &orig) < 0) {
		log_error("action=dsn sid=%s qid=%s status=failed path=%s "
		    "error=\"%s\"", d->session_id ? d->session_id : "-", d->id,
		    src, strerror(errno));
		count = 0;
	}
	if (count > 0) {
		memset(&r, 0, sizeof(r));
		r.reporting_mta = d->ctx->conf->hostname;
		r.sender = d->sender;
		r.envid = d->env.envid;
		r.queue_id = d->id;
		r.arrival = (int64_t)d->arrival;
		r.now = (int64_t)now;
		r.rcpts = rc;
		r.rcpt_count = count;
		r.message = orig.data != NULL ? orig.data : "";
		r.message_len = orig.len;
		r.ret_full = d->env.ret == DSN_RET_FULL;
		dsn_build(&r, msg);
	}
	free(rc);
	buf_free(&orig);
	return count > 0;
}

/* Flush, fsync and close the store file. */
static int
sync_store(struct delivery *d, const char **step)
{
	*step = "write";
	if (!d->started && start_store(d) < 0)
		return -1;
	if (flush_out(d) < 0)
		return -1;
	*step = "fsync";
	if (sys_fsync(d->fd) < 0) {
		fail(d, errno);
		return -1;
	}
	*step = "close";
	if (sys_close(d->fd) < 0) {
		d->fd = -1;
		fail(d, errno);
		return -1;
	}
	d->fd = -1;
	return 0;
}

/* A queue file for the remote recipients, with the stored copy's bytes
 * from our Received: header on. */
static int
copy_to_queue(struct delivery *d)
{
	int fd = open(d->path.data, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || spool_write_from_fd(d->ctx->conf, &d->env, fd,
	    d->received_offset) < 0) {
		fail(d, errno);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* A list spool file for the list addresses (listspool.h). */
static int
copy_to_lists(struct delivery *d)
{
	int fd = open(d->path.data, O_RDONLY | O_CLOEXEC);
	struct buf lerr = BUF_INIT;
	struct stat st;
	int rc = 0;

	if (fd < 0 || fstat(fd, &st) < 0 ||
	    listspool_write_fd(d->ctx->conf, d->sender,
	    (const char *const *)d->lists.items, d->lists.count, fd,
	    d->received_offset, (uint64_t)(st.st_size - d->received_offset),
	    NULL, &lerr) < 0) {
		fail(d, errno);
		log_error("event=list-copy-failed sid=%s qid=%s "
		    "reason=\"%s\"", d->session_id ? d->session_id : "-", d->id,
		    lerr.len ? lerr.data : strerror(errno));
		rc = -1;
	}
	if (fd >= 0)
		close(fd);
	buf_free(&lerr);
	return rc;
}

/* Link the stored copy into every local new/ (the last one may move
 * it), then fsync each new/ once. On failure the caller undoes. */
static int
place_locals(struct delivery *d, const char **step)
{
	struct buf name = BUF_INIT, dir = BUF_INIT;
	int rc = -1;

	maildir_name(d->base.data, d->disk_bytes, d->disk_bytes +
	    d->disk_lines, &name);
	*step = "link";
	for (size_t i = 0; i < d->nlocal; i++) {
		struct local_dest *l = &d->locals[i];
		struct buf p = BUF_INIT;
		/* The last placement may move the stored copy (rename is
		 * one directory operation, link + unlink two) unless it is
		 * still to be copied into a queue or list spool file. */
		bool move = i + 1 == d->nlocal && d->env.rcpt_count == 0 &&
		    d->lists.count == 0 && d->nover == 0;

		if (maildir_place(d->path.data, l->mailbox, name.data,
		    move) < 0) {
			fail(d, errno);
			log_error("event=deliver-failed sid=%s qid=%s path=%s "
			    "error=\"%s\"", d->session_id ? d->session_id : "-",
			    d->id, l->mailbox, strerror(errno));
			goto out;
		}
		buf_printf(&p, "%s/new/%s", l->mailbox, name.data);
		l->placed = buf_steal(&p);
	}
	*step = "fsync directory";
	for (size_t i = 0; i < d->nlocal; i++) {
		buf_reset(&dir);
		buf_printf(&dir, "%s/new", d->locals[i].mailbox);
		if (fsync_dir(dir.data) < 0) {
			fail(d, errno);
			goto out;
		}
	}
	rc = 0;
out:
	buf_free(&name);
	buf_free(&dir);
	return rc;
}

/*
 * After DATA: the real size against the quota of each local mailbox
 * (quota.h). A mailbox over it leaves d->locals for d->over: the others
 * get the message, those get a maildrop copy (keep_over_quota()) that
 * the queue manager's pickup delivers when there is room, or bounces
 * (552 5.2.2 at once, 452 4.2.2 after queue_lifetime). -1 when nothing
 * else remains and the delivery does not keep (an SMTP client): reply
 * is 552 5.2.2 when the message is too big for every one of them, else
 * 452 4.2.2, and the client keeps the message.
 */
static int
split_over_quota(struct delivery *d, struct smtp_reply *reply)
{
	size_t k = 0, too_big = 0;

	for (size_t i = 0; i < d->nlocal; i++) {
		struct local_dest *l = &d->locals[i];

		l->verdict = quota_check(l->mailbox, &l->quota, d->disk_bytes,
		    &l->used);
		if (l->verdict == QUOTA_UNKNOWN)
			log_warn("event=quota-unknown path=%s error=\"%s\"",
			    l->mailbox, strerror(errno));
		if (l->verdict != QUOTA_FULL && l->verdict != QUOTA_TOO_BIG) {
			d->locals[k++] = *l;
			continue;
		}
		too_big += l->verdict == QUOTA_TOO_BIG;
		d->over = xrealloc(d->over, (d->nover + 1) * sizeof(*l));
		d->over[d->nover++] = *l;
	}
	d->nlocal = k;
	if (d->nover == 0 || k > 0 || d->env.rcpt_count > 0 ||
	    d->lists.count > 0 || d->keep_over)
		return 0;
	quota_reply(too_big == d->nover ? QUOTA_TOO_BIG : QUOTA_FULL,
	    d->nover == 1 ? d->over[0].orcpt : "all recipients", reply);
	return -1;
}

/* The maildrop copy (spool.h) of the stored message for the mailboxes
 * in d->over, addressed to their accounts (not to the alias that led
 * there: expanding it again would deliver twice). */
static int
keep_over_quota(struct delivery *d)
{
	struct spool_envelope e;
	int fd = open(d->path.data, O_RDONLY | O_CLOEXEC), rc = -1;

	spool_envelope_init(&e);
	spool_new_id(e.id);
	e.arrival = d->arrival;
	e.sender = xstrdup(d->sender);
	e.ret = d->env.ret;
	e.envid = d->env.envid != NULL ? xstrdup(d->env.envid) : NULL;
	for (size_t i = 0; i < d->nover; i++) {
		spool_envelope_add_rcpt(&e, d->over[i].account,
		    d->over[i].orcpt);
		e.rcpts[i].notify = d->over[i].notify;
	}
	if (fd >= 0 && spool_write_maildrop_from_fd(d->ctx->conf, &e, fd,
	    d->received_offset) == 0) {
		spool_path(d->ctx->conf, "maildrop", e.id, &d->kept);
		rc = 0;
	} else {
		fail(d, errno);
	}
	for (size_t i = 0; i < d->nover && rc == 0; i++) {
		const struct local_dest *l = &d->over[i];

		log_info("action=defer sid=%s qid=%s to=<%s> "
		    "reply=\"%s\" maildrop=%s reason=\"over quota: kept for "
		    "a later try\"", d->session_id ? d->session_id : "-", d->id,
		    l->account, l->verdict == QUOTA_TOO_BIG ?
		    "552 5.2.2" : "452 4.2.2", e.id);
	}
	if (fd >= 0)
		close(fd);
	spool_envelope_free(&e);
	return rc;
}

/* Make the stored copy (synced) durable where it belongs: the queue
 * file itself, the list spool (plus a queue copy), or the Maildirs (plus
 * list, maildrop and queue copies). -1 with *step naming what failed;
 * undone. */
static int
commit_store(struct delivery *d, const char **step)
{
	if (d->to_spool) {
		*step = "queue";
		if (spool_publish(d->ctx->conf, d->path.data, d->id) < 0) {
			fail(d, errno);
			buf_reset(&d->path);   /* already removed */
			return -1;
		}
		return 0;
	}
	if (d->to_lists) {
		*step = "queue";
		if (d->env.rcpt_count > 0 && copy_to_queue(d) < 0)
			return -1;
		*step = "list spool";
		if (listspool_publish(d->ctx->conf, d->path.data) < 0) {
			fail(d, errno);
			buf_reset(&d->path);   /* already removed */
			return -1;
		}
		return 0;
	}
	if (place_locals(d, step) < 0)
		goto undo;
	*step = "list spool";
	if (d->lists.count > 0 && copy_to_lists(d) < 0)
		goto undo;
	*step = "maildrop";
	if (d->nover > 0 && keep_over_quota(d) < 0)
		goto undo;
	*step = "queue";
	if (d->env.rcpt_count > 0 && copy_to_queue(d) < 0)
		goto undo;
	if (d->nlocal == 0 || d->env.rcpt_count > 0 || d->lists.count > 0 ||
	    d->nover > 0)
		unlink(d->path.data);   /* otherwise it was moved */
	return 0;
undo:
	undo(d);
	return -1;
}

/* After a failed commit: remove the store, log, say why. */
static void
commit_failed(struct delivery *d, const char *step, struct smtp_reply *reply)
{
	int err = d->error;
	char why[128];

	if (d->fd >= 0) {
		close(d->fd);
		d->fd = -1;
	}
	if (d->path.len > 0)
		unlink(d->path.data);
	snprintf(why, sizeof(why), "%s:%s", step, strerror(err));
	for (char *p = why; *p; p++)
		if (*p == ' ')
			*p = '_';
	log_error("event=deliver-failed sid=%s qid=%s stage=\"%s\" "
	    "error=\"%s\" reason=\"partial files removed\"",
	    d->session_id ? d->session_id : "-", d->id, step, strerror(err));
	log_result(d, "deferred", why);
	/* Also with no destination at all (EINVAL, start_store()): the
	 * recipients were accepted, so losing them is our failure and
	 * temporary, never "No valid recipients" (5xx: the sender would
	 * bounce mail that a retry delivers). */
	reply_for_errno(reply, err);
}

/* The commit itself; a due success notice is built into notice (when
 * not NULL) before the delivery is freed. */
static int
commit_delivery(struct delivery *d, struct smtp_reply *reply,
    struct buf *notice, struct postdeliver *pd)
{
	const char *step = "write";

	if (sync_store(d, &step) < 0 || split_over_quota(d, reply) < 0) {
		if (d->error != 0) {
			commit_failed(d, step, reply);
		} else {
			unlink(d->path.data);
			log_result(d, "deferred", "over_quota");
		}
		delivery_free(d);
		return -1;
	}
	if (commit_store(d, &step) < 0) {
		commit_failed(d, step, reply);
		delivery_free(d);
		return -1;
	}
	log_result(d, "sent", NULL);
	scoreboard_count_n(SBC_DELIVERED_LOCAL, d->nlocal);
	for (size_t i = 0; i < d->nlocal; i++)
		postdeliver_add(pd, d->locals[i].mailbox, d->locals[i].account,
		    d->locals[i].orcpt, d->locals[i].placed, &d->locals[i].quota,
		    d->locals[i].used + d->disk_bytes);
	smtp_reply_set(reply, 250, "2.0.0", "Ok: queued as %s", d->id);
	if (notice != NULL && !d->to_spool && !d->to_lists &&
	    !success_notice(d, notice))
		buf_reset(notice);
	delivery_free(d);
	return 0;
}

int
delivery_commit(struct delivery *d, struct smtp_reply *reply)
{
	struct deliver_ctx *ctx = d->ctx;
	struct buf notice = BUF_INIT;
	struct postdeliver pd;
	char *sender = xstrdup(d->sender), id[SPOOL_ID_MAX];
	int rc;

	memcpy(id, d->id, sizeof(id));
	postdeliver_init(&pd, id, sender, d->session_id);
	rc = commit_delivery(d, reply, &notice, &pd);
	if (rc == 0 && notice.len > 0) {
		/* The delivery is finished: the notice is a new message. */
		struct smtp_reply nr;

		if (delivery_submit_notice(ctx, id, sender, &notice, false,
		    &nr) == 1)
			log_info("action=dsn qid=%s to=<%s> status=sent "
			    "dsn_qid=%s", id, sender,
			    smtp_reply_queued_id(&nr));
	}
	postdeliver_run(ctx, ctx->conf, &pd);
	buf_free(&notice);
	free(sender);
	return rc;
}

/* --- mail DMail generates itself ------------------------------------ */

void
delivery_write(struct delivery *d, const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (l > 0 && p[l - 1] == '\r')
			l--;
		if (delivery_write_line(d, p, l) < 0)
			break;         /* the commit reports it */
		p = nl != NULL ? nl + 1 : end;
	}
}

int
delivery_submit(struct deliver_ctx *ctx, const struct submission *s,
    struct smtp_reply *reply)
{
	const struct delivery_info info = { s->log_id, "local", "localhost",
		"local", "", NULL, false };
	const char *sid = s->log_id != NULL ? s->log_id : "-";
	struct delivery *d = delivery_begin(ctx, s->sender, &info);
	struct postdeliver pd;
	struct smtp_reply r;
	size_t taken = 0;
	int rc = 1;

	d->keep_over = !s->defer_4xx && !s->final_try;

	smtp_reply_set(reply, 554, "5.5.1", "No valid recipients");
	for (size_t i = 0; i < s->rcpt_count; i++) {
		const char *a = s->rcpts[i];
		enum rcpt_check chk = deliver_check_rcpt(ctx, a, s->size_hint,
		    &r);

		if (chk == RCPT_LOCAL || chk == RCPT_REMOTE ||
		    (d->keep_over && quota_is_refusal(&r))) {
			/* Over quota: the commit keeps a copy for later. */
			delivery_add_rcpt(d, a);
			taken++;
			smtp_reply_set(&r, 250, "2.1.5", "<%s>: ok", a);
		} else if (chk == RCPT_TEMPFAIL ||
		    (r.code < 500 && s->defer_4xx)) {
			log_warn("action=defer sid=%s to=<%s> "
			    "reply=\"%d %s %s\" reason=\"kept for a later try\"",
			    sid, a, r.code, r.enhanced, r.text);
			*reply = r;
			delivery_abort(d);
			return -1;
		} else {
			log_warn("action=reject sid=%s from=<%s> to=<%s> "
			    "reply=\"%d %s %s\"", sid, s->sender, a, r.code,
			    r.enhanced, r.text);
			*reply = r;
		}
		if (s->replies != NULL)
			s->replies[i] = r;
	}
	if (taken == 0) {
		delivery_abort(d);
		return 0;
	}
	delivery_write(d, s->message, s->message_len);
	postdeliver_init(&pd, delivery_id(d), s->sender, sid);
	if (commit_delivery(d, reply, NULL, &pd) < 0)
		rc = reply->code >= 500 ? -2 : -1;
	postdeliver_run(ctx, ctx->conf, &pd);
	return rc;
}

int
delivery_submit_notice(struct deliver_ctx *ctx, const char *log_id,
    const char *to, const struct buf *msg, bool final_try,
    struct smtp_reply *reply)
{
	const char *rcpts[1] = { to };
	struct submission s;

	memset(&s, 0, sizeof(s));
	s.log_id = log_id;
	s.sender = "";
	s.rcpts = rcpts;
	s.rcpt_count = 1;
	s.message = msg->data;
	s.message_len = msg->len;
	s.size_hint = msg->len;
	s.final_try = final_try;
	return delivery_submit(ctx, &s, reply);
}

/* --- maildrop pickup ------------------------------------------------- */

/* Refuse recipient i of a maildrop file for good (the caller bounces). */
static void
refuse(struct spool_envelope *env, struct qinfo *refused, size_t i,
    const struct smtp_reply *r)
{
	struct buf t = BUF_INIT;

	buf_printf(&t, "%d %s %s", r->code, r->enhanced, r->text);
	qinfo_set(refused, i, r->code, r->enhanced, NULL, t.data);
	env->rcpts[i].state = SPOOL_BOUNCED;
	buf_free(&t);
}

/* Mail of a local program: Date:, Message-ID: and the DKIM signature
 * of its From: domain (outgoing.h), on top of s's message, which then
 * points into out. Signing trouble is logged; the mail goes unsigned. */
static void
prepare_local(struct deliver_ctx *ctx, const char *id, struct submission *s,
    struct buf *out)
{
	struct outgoing_result res;
	struct buf err = BUF_INIT;

	if (outgoing_prepare(ctx->outgoing, ctx->conf->hostname, s->message,
	    s->message_len, true, out, &res, &err) < 0)
		log_error("event=dkim-sign-failed maildrop=%s reason=\"%s\"",
		    id, buf_cstr(&err));
	else if (res.signed_domain[0] != '\0')
		log_info("action=dkim-signed maildrop=%s domain=%s", id,
		    res.signed_domain);
	buf_free(&err);
	if (out->len == 0)
		return;
	buf_append(out, s->message, s->message_len);
	s->message = out->data;
	s->message_len = out->len;
}

/* Submit the pending recipients of a maildrop file whose message part is
 * in data; refused ones are marked. 0, or -1 for later (logged). */
static int
submit_maildrop(struct deliver_ctx *ctx, struct spool_envelope *env,
    const struct buf *data, uint64_t size, struct qinfo *refused)
{
	const char **rcpts = xcalloc(env->rcpt_count + 1, sizeof(*rcpts));
	size_t *idx = xcalloc(env->rcpt_count + 1, sizeof(*idx)), n = 0;
	struct smtp_reply *replies, reply;
	struct submission s;
	/* Past queue_lifetime a recipient refused for now (mailbox still
	 * full) is refused for good: bounced, as a queued message is. */
	bool expired = (int64_t)time(NULL) - env->arrival >
	    (int64_t)ctx->conf->queue_lifetime;
	struct buf prepared = BUF_INIT;
	int rc;

	for (size_t i = 0; i < env->rcpt_count; i++)
		if (env->rcpts[i].state == SPOOL_PENDING) {
			idx[n] = i;
			rcpts[n++] = env->rcpts[i].address;
		}
	replies = xcalloc(n + 1, sizeof(*replies));
	memset(&s, 0, sizeof(s));
	s.log_id = env->id;
	s.sender = env->sender;
	s.rcpts = rcpts;
	s.rcpt_count = n;
	s.message = data->data + env->message_offset;
	s.message_len = data->len - (size_t)env->message_offset;
	prepare_local(ctx, env->id, &s, &prepared);
	s.size_hint = size;
	s.defer_4xx = !expired;   /* a full mailbox keeps the file */
	s.final_try = expired;
	s.replies = replies;
	rc = delivery_submit(ctx, &s, &reply);   /* logs a deferral */
	for (size_t k = 0; k < n && rc != -1; k++) {
		if (rc == -2) {
			refuse(env, refused, idx[k], &reply);
		} else if (replies[k].code >= 500) {
			refuse(env, refused, idx[k], &replies[k]);
		} else if (replies[k].code >= 400) {
			replies[k].code += 100;     /* expired: 4.x.x to 5.x.x */
			replies[k].enhanced[0] = '5';
			refuse(env, refused, idx[k], &replies[k]);
		}
	}
	free(rcpts);
	free(idx);
	free(replies);
	buf_free(&prepared);
	return rc == -1 ? -1 : 0;
}

int
deliver_maildrop(struct deliver_ctx *ctx, const char *path,
    struct spool_envelope *env, struct qinfo *refused, struct buf *err)
{
	struct buf data = BUF_INIT;
	struct smtp_reply big;
	struct stat st;
	size_t nrefused = 0;
	int rc = 0;

	spool_envelope_init(env);
	qinfo_init(refused, 0);
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;     /* picked up by someone else */
		buf_printf(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		buf_printf(err, "%s: not a regular file", path);
		return -2;
	}
	if (spool_read(path, env, err) < 0)
		return -2;
	qinfo_free(refused);
	qinfo_init(refused, env->rcpt_count);
	if (read_file(path, &data, (size_t)env->message_offset +
	    ctx->conf->max_message_size) < 0) {
		if (errno != EFBIG) {
			buf_printf(err, "%s: %s", path, strerror(errno));
			buf_free(&data);
			return -1;
		}
		/* Bigger than the SMTP server takes: bounce, as Postfix's
		 * cleanup does (message_size_limit). */
		smtp_reply_set(&big, 552, "5.3.4", "Message file too big "
		    "(more than %" PRIu64 " bytes)",
		    ctx->conf->max_message_size);
		for (size_t i = 0; i < env->rcpt_count; i++)
			if (env->rcpts[i].state == SPOOL_PENDING)
				refuse(env, refused, i, &big);
	} else if (data.len < (size_t)env->message_offset) {
		buf_printf(err, "%s: changed while read", path);
		rc = -2;
	} else {
		rc = submit_maildrop(ctx, env, &data, (uint64_t)st.st_size,
		    refused);
	}
	buf_free(&data);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < env->rcpt_count; i++)
		if (env->rcpts[i].state == SPOOL_BOUNCED)
			nrefused++;
	log_info("action=pickup maildrop=%s uid=%ld from=<%s> accepted=%zu "
	    "rejected=%zu", env->id, (long)st.st_uid, env->sender,
	    env->rcpt_count - nrefused, nrefused);
	return 0;
}
