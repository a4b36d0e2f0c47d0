/*
 * listd.h - dmail-listd, the list worker: module map.
 *
 * dmail-listd runs in the master's listener-less "list" pool (run() of
 * worker.h). It takes files from state_dir/lists/spool/new/ (written by
 * DSMTP, see listspool.h), and for each list recipient of a file:
 *
 * The files form a tree: each calls only files listed below it.
 *
 *   listd.c    the service: spool scan, claiming files (flock), periodic
 *              work (expiry, digests), quarantine of poison messages
 *              (poison.h); main(). (The per-list lock and the owner
 *              and moderator checks are common/lists.h's.)
 *   control.c  LIST-request@ and dlist@: control_handle(): commands,
 *              confirm/approve/reject
 *   owner.c    the owners' commands (list password): owner_command():
 *              which, intro, newinfo/newintro, config/newconfig,
 *              writelist, mkdigest, passwd; owner_auth()
 *   files.c    the shared files by mail: files_command(): files,
 *              getfile, putfile, delfile (listfiles.h); mail_attachment()
 *   ctl.c      the control message being worked through (struct ctl):
 *              the reply (say()), list arguments (list_arg()), member
 *              look-ups, notices, the text after a command
 *              (ctl_take_text())
 *   post.c     LIST@: post_handle(): loop checks, post policy,
 *              moderation; post_distribute(); post_held_expired():
 *              telling a poster that a held post expired
 *   bounce.c   LIST-bounces[+member]@: bounce_handle(): bounce scores,
 *              nomail
 *   archive.c  the archive (Maildir + numbered index) and digests:
 *              archive_store(), digest_add(), digest_maybe_send()
 *   dmarc.c    DMARC policy look-up for list_dmarc_rewrite auto:
 *              dmarc_strict() (common/dmarc.h's discovery, with the
 *              public suffix list)
 *   send.c     outgoing mail through the delivery API (deliver.h):
 *              send_mail(), one stored copy for local recipients, queue
 *              files for remote ones; send_notice(): notices and replies
 *   cmd.c      parsing command lines of control mail: cmd_parse_line()
 *   token.c    confirmation/approval tokens (random, expiring) on disk:
 *              token_create(), token_load(), token_expire_all()
 *
 * Messages in memory (header fields, body) are common/mail.h.
 *
 * Every module logs its own errors once, with list= and id= fields.
 * Functions returning int give 0 for done (including "dropped on
 * purpose") and -1 for a temporary failure: the spool file is kept and
 * tried again later.
 */
#ifndef DMAIL_LISTD_H
#define DMAIL_LISTD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "deliver.h"
#include "listdb.h"
#include "lists.h"
#include "mail.h"
#include "poison.h"
#include "userdb.h"

#define LISTD_TOKEN_LEN 24             /* hex characters */
#define LISTD_CONFIRM_TTL (3 * 24 * 3600)
#define LISTD_HELD_TTL (7 * 24 * 3600)
#define LISTD_MAX_COMMANDS 50
#define LISTD_MAX_BAD_LINES 10
#define LISTD_TEXT_MAX (64u * 1024)     /* newinfo/newintro/newconfig */
#define LISTD_CMD_LINE_MAX 1000

struct dns_resolver;
struct psl;

struct listd {
	const struct dmail_conf *conf;
	struct lists_cache lists;
	const struct lists *cur;        /* the lists for the current file */
	struct userdb *udb;
	struct deliver_ctx *dctx;
	int64_t last_maintenance;       /* Unix time */
	struct dns_resolver *dns;       /* dmarc.c's, opened on first use */
	struct psl *psl;                /* dmarc.c's public suffix list */
	bool psl_tried;
	struct poison_spool poison;     /* spool/new and spool/quarantine */
};


/* --- send.c ---------------------------------------------------------- */

/* Deliver msg (LF line ends) from envelope sender to n recipients with
 * one delivery (one stored copy, queue files for remote recipients).
 * Recipients the delivery code rejects are skipped and logged. 0, or -1
 * on a temporary failure. */
int send_mail(struct listd *ld, const char *sender,
    const char *const *rcpts, size_t n, const char *msg, size_t len);
/* A text notice: headers From/To/Subject/Date/Message-ID/Auto-Submitted
 * and a text/plain UTF-8 body. extra_headers (may be NULL) are complete
 * "Name: value\n" lines. */
int send_notice(struct listd *ld, const char *env_sender, const char *from,
    const char *to, const char *subject, const char *extra_headers,
    const char *body);

/* --- token.c --------------------------------------------------------- */

enum token_action {
	TOKEN_SUBSCRIBE = 0,     /* address confirms its subscription */
	TOKEN_UNSUBSCRIBE,       /* address confirms leaving */
	TOKEN_SUB_APPROVE,       /* owner approves a subscription */
	TOKEN_POST,              /* moderator approves a held post */
	TOKEN_UNSUB_APPROVE,     /* owner confirms removing a member */
};

struct token {
	char id[LISTD_TOKEN_LEN + 1];
	enum token_action action;
	char address[LIST_ADDRESS_MAX + 1];   /* member, or poster */
	int64_t expires;
};

/* Fresh random id (LISTD_TOKEN_LEN lower-case hex). */
void token_generate(char *out);
bool token_valid_id(const char *id);
void token_format(const struct token *t, struct buf *out);
int token_parse(const char *text, size_t len, struct token *t);
bool token_expired(const struct token *t, int64_t now);
const char *token_action_name(enum token_action a);
/* Create and store a token of list d (state_dir/lists/LIST/tokens/ID). */
int token_create(struct listd *ld, const struct list_def *d,
    enum token_action action, const char *address, int64_t ttl,
    struct token *out);
/* 1 found and valid, 0 unknown or expired (expired: removed), -1 error. */
int token_load(struct listd *ld, const struct list_def *d, const char *id,
    int64_t now, struct token *out);
void token_remove(struct listd *ld, const struct list_def *d,
    const char *id);
/* Remove expired tokens (and their held posts); returns how many. The
 * posters of expired held posts are added to held_posters (may be
 * NULL). */
unsigned token_expire_all(struct listd *ld, const struct list_def *d,
    int64_t now, struct strlist *held_posters);
/* state_dir/lists/LIST/held/ID */
void held_path(struct listd *ld, const struct list_def *d, const char *id,
    struct buf *out);

/* --- cmd.c ----------------------------------------------------------- */

enum cmd_kind {
	CMD_NONE = 0,       /* blank line */
	CMD_UNKNOWN,
	CMD_HELP, CMD_LISTS, CMD_INFO, CMD_SUBSCRIBE, CMD_UNSUBSCRIBE,
	CMD_WHO, CMD_SET, CMD_INDEX, CMD_GET, CMD_END,
	CMD_CONFIRM, CMD_APPROVE, CMD_REJECT,
	CMD_WHICH, CMD_INTRO, CMD_NEWINFO, CMD_NEWINTRO, CMD_CONFIG,
	CMD_NEWCONFIG, CMD_WRITELIST, CMD_MKDIGEST, CMD_PASSWD,
	CMD_FILES, CMD_GETFILE, CMD_PUTFILE, CMD_DELFILE,
};

#define CMD_MAX_ARGS 3
#define CMD_ARG_MAX 330
#define CMD_REASON_MAX 500

struct cmd {
	enum cmd_kind kind;
	size_t nargs;
	char args[CMD_MAX_ARGS][CMD_ARG_MAX];
	bool known_word;     /* UNKNOWN: a command name, wrong arguments */
	bool approved;       /* "approve PASSWORD subscribe ..." */
	char password[CMD_ARG_MAX];
	char reason[CMD_REASON_MAX + 1]; /* "reject ID REASON...", or "" */
};

/* Parse one line ("subscribe club bob@x.test"); leading "Re:" etc. and
 * quoting are not stripped here. Extra words are an error (UNKNOWN).
 * "approve PASSWORD COMMAND..." (majordomo's owner form, for subscribe
 * and unsubscribe) sets approved and password. "reject ID REASON..."
 * keeps the rest of the line as reason (told to the poster). */
void cmd_parse_line(const char *line, size_t len, struct cmd *out);
const char *cmd_name(enum cmd_kind k);
/* The command as text for the reply, passwords shown as "********". */
void cmd_format(const struct cmd *cmd, struct buf *out);
/* Same command and arguments (names and arguments ignoring case)? */
bool cmd_same(const struct cmd *a, const struct cmd *b);
/* Every "WORD TOKEN" (WORD = confirm/approve/reject) in text, in order,
 * without duplicates; tokens appended to out as "WORD TOKEN\n". */
unsigned cmd_find_tokens(const char *text, size_t len, const char *word,
    struct strlist *out);
/* Strip "Re:", "Fwd:", "AW:" prefixes and blanks from a subject. */
const char *cmd_subject_text(const char *subject);

/* --- ctl.c ---------------------------------------------------------- */

/* One control message being worked through (control.c), shared with
 * the command modules owner.c and files.c. */
struct ctl {
	struct listd *ld;
	const struct list_def *deflist;   /* LIST-request's list, or NULL */
	const char *domain;
	char requester[LIST_ADDRESS_MAX + 1];
	struct buf reply;
	unsigned commands;
	bool saw_moderation;              /* approve/reject line in body */
	const struct mail *msg;           /* the whole message */
	const char *pos, *end;            /* body text after the command */
};

/* Append to the reply. */
void say(struct ctl *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The list a command names (first argument) or the default list; NULL
 * after saying why. *next: index of the next argument. */
const struct list_def *list_arg(struct ctl *c, const struct cmd *cmd,
    size_t *next);
/* Member record of a: 1 found, 0 not a member, -1 error (logged). */
int member_get(struct ctl *c, const struct list_def *d, const char *a,
    struct list_member *m);
/* May the requester read the list's members (who) or archive/files? */
bool may_read(struct ctl *c, const struct list_def *d, bool who);
/* A notice from LIST-request (envelope LIST-bounces). */
void notice_from_list(struct ctl *c, const struct list_def *d,
    const char *to, const char *subject, const char *body,
    bool reply_to_request);
/* The text after the command line up to a line "EOF" into out (LF line
 * ends). With an EOF line the text is consumed (not read as commands)
 * and true returned, or false when it exceeds max bytes; without one,
 * nothing is consumed and false returned. */
bool ctl_take_text(struct ctl *c, size_t max, struct buf *out);

/* --- owner.c -------------------------------------------------------- */

/* Is password the owner password of d? Says why not. */
bool owner_auth(struct ctl *c, const struct list_def *d,
    const char *password);
/* Run one of the owner commands (by cmd->kind). */
void owner_command(struct ctl *c, const struct cmd *cmd);
/* The list's text (INFO "info" or "intro") into out; 1 there, 0 none,
 * -1 error. */
int list_text_get(struct listd *ld, const struct list_def *d,
    const char *which, struct buf *out);

/* --- files.c -------------------------------------------------------- */

/* Run one of the shared-file commands (by cmd->kind). */
void files_command(struct ctl *c, const struct cmd *cmd);
/* The file attached to m (the first attachment, or the first part that
 * is not text/plain), decoded, at most max bytes. 0, or -1 with why
 * filled. */
int mail_attachment(const struct mail *m, size_t max, struct buf *out,
    struct buf *why);

/* --- control.c, post.c, bounce.c, archive.c -------------------------- */

int control_handle(struct listd *ld, const struct list_def *d,
    const char *domain, const char *sender, const char *msg, size_t len);
int post_handle(struct listd *ld, const struct list_def *d,
    const char *sender, const char *msg, size_t len, const char *spool_id);
/* Distribute an accepted post (also after approval). job names this
 * distribution (spool id, or held-post token) so that a retry after a
 * failure or crash skips the members already served (see post.c). */
int post_distribute(struct listd *ld, const struct list_def *d,
    const char *sender, const char *msg, size_t len, const char *job);
/* Tell poster that its held post expired unapproved. */
void post_held_expired(struct listd *ld, const struct list_def *d,
    const char *poster);
/* Remove progress files older than max_age seconds. */
void post_progress_expire(struct listd *ld, const struct list_def *d,
    int64_t now, int64_t max_age);
int owner_handle(struct listd *ld, const struct list_def *d,
    const char *sender, const char *msg, size_t len);
int bounce_handle(struct listd *ld, const struct list_def *d,
    const char *member, const char *msg, size_t len);
/* Members named in a DSN's Final-Recipient and Original-Recipient
 * fields (valid addresses, lower-cased, no duplicates) added to out. */
void dsn_recipients(const char *msg, size_t len, struct strlist *out);

/* Store a distributed post; its number in *num. */
int archive_store(struct listd *ld, const struct list_def *d,
    const char *msg, size_t len, unsigned *num);
/* The index as text ("N  date  from  subject" lines). */
int archive_index(struct listd *ld, const struct list_def *d,
    struct buf *out);
/* Message number num into out; 1 found, 0 no such, -1 error. */
int archive_get(struct listd *ld, const struct list_def *d, unsigned num,
    struct buf *out);
/* Queue a post for the digest members. */
int digest_add(struct listd *ld, const struct list_def *d, const char *msg,
    size_t len);
/* Send the digest if it is large or old enough (force: now). */
int digest_maybe_send(struct listd *ld, const struct list_def *d,
    int64_t now, bool force);

/* --- dmarc.c -------------------------------------------------------- */

/* Does domain (or its organizational domain, for sp=) publish
 * p=reject or p=quarantine? 1 yes, 0 no (or no record), -1 DNS
 * failure. */
int dmarc_strict(struct listd *ld, const char *domain);
void dmarc_close(struct listd *ld);

#endif
