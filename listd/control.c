/*
 * control.c - mail to LIST-request@DOMAIN and dlist@DOMAIN: commands in
 * the Subject and body, confirmations (double opt-in), approvals.
 *
 * Order of work for one message:
 *   1. automatic mail (Auto-Submitted, Precedence bulk/junk/list) and
 *      the null sender get no answer and are dropped;
 *   2. every "confirm TOKEN" anywhere in Subject or body (quoted or not,
 *      so a plain reply works) is carried out;
 *   3. the Subject, if it is a command, then each body line that is not
 *      quoted ('>'), up to "end", a signature ("-- ") or
 *      LISTD_MAX_BAD_LINES lines that are not commands, each of which
 *      is named in the reply (">>> LINE", "**** unknown command"); a
 *      body line repeating the Subject's command is not run twice, and
 *      newinfo/newintro/newconfig take the lines after theirs up to
 *      "EOF" (ctl_take_text());
 *   4. "approve TOKEN"/"reject TOKEN" in the Subject count only when the
 *      body held no approve/reject line (a reply to a moderator notice);
 *   5. one reply to the requester summarising each command.
 *
 * The requester is the From: address (else the envelope sender).
 * Subscribing and unsubscribing an address need a confirmation from that
 * address, except subscribing yourself to an "open" list, and except
 * for owners: "approve PASSWORD subscribe LIST ADDR" (the list password,
 * owner.c) acts at once, and an owner's plain "subscribe LIST ADDR"
 * waits for "approve TOKEN" from the owner's own mailbox. From: alone
 * never authenticates an owner. The owners' other commands are in
 * owner.c, the shared files in files.c.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "listd.h"
#include "log.h"
#include "util.h"

static const char *const sub_policy[] = { "open", "confirm", "approve",
	"closed" };
static const char *const post_policy[] = { "members", "anyone",
	"moderated", "announce" };

/* Store (m != NULL) or delete address. 0 or -1. */
static int
member_write(struct ctl *c, const struct list_def *d,
    const struct list_member *m, const char *del)
{
	struct buf err = BUF_INIT;
	struct listdb *db = listdb_open(c->ld->conf, d, &err);
	int r = -1;

	if (db != NULL) {
		r = m != NULL ? listdb_put(db, m, &err) :
		    (listdb_delete(db, del, &err) < 0 ? -1 : 0);
		listdb_close(db);
	}
	if (r < 0)
		log_error("event=list-failed list=%s reason=\"%s\"",
		    d->address, buf_cstr(&err));
	buf_free(&err);
	return r;
}

static void
welcome(struct ctl *c, const struct list_def *d, const char *addr)
{
	struct buf body = BUF_INIT, subj = BUF_INIT, intro = BUF_INIT;

	buf_printf(&body, "Welcome to %s%s%s.\n\nPost to the list: %s\n"
	    "Leave it: send \"unsubscribe\" to %s-request@%s\n"
	    "Help: send \"help\" to %s-request@%s\n", d->address,
	    *d->description ? " - " : "", d->description, d->address,
	    d->name, d->domain, d->name, d->domain);
	if (list_text_get(c->ld, d, "intro", &intro) == 1)
		buf_printf(&body, "\n%s", intro.data);
	buf_free(&intro);
	buf_printf(&subj, "Welcome to %s", d->address);
	notice_from_list(c, d, addr, subj.data, body.data, false);
	buf_free(&body);
	buf_free(&subj);
}

static void
add_member(struct ctl *c, const struct list_def *d, const char *addr)
{
	struct list_member m;

	list_member_init(&m, addr);
	if (member_write(c, d, &m, NULL) < 0) {
		say(c, "Temporary failure; please try again later.\n");
		return;
	}
	log_info("action=subscribe list=%s member=<%s> status=ok",
	    d->address, addr);
	say(c, "%s is now subscribed to %s.\n", addr, d->address);
	welcome(c, d, addr);
}

/* Remove addr (a member) and tell it when someone else asked. */
static void
remove_member(struct ctl *c, const struct list_def *d, const char *addr)
{
	struct buf body = BUF_INIT, subj = BUF_INIT;

	if (member_write(c, d, NULL, addr) < 0) {
		say(c, "Temporary failure; please try again later.\n");
		return;
	}
	log_info("action=unsubscribe list=%s member=<%s> status=ok",
	    d->address, addr);
	say(c, "%s has left %s.\n", addr, d->address);
	buf_printf(&subj, "You have left %s", d->address);
	buf_printf(&body, "%s no longer gets mail from %s.\n", addr,
	    d->address);
	if (strcasecmp(addr, c->requester) != 0)
		notice_from_list(c, d, addr, subj.data, body.data, false);
	buf_free(&body);
	buf_free(&subj);
}

/* An owner (From:) changes another address without a password: the
 * change waits for "approve TOKEN" from the owner's own mailbox, so a
 * forged From: alone changes nothing. */
static void
ask_owner_approval(struct ctl *c, const struct list_def *d, bool sub,
    const char *addr)
{
	struct token t;
	struct buf body = BUF_INIT, subj = BUF_INIT;

	if (token_create(c->ld, d, sub ? TOKEN_SUB_APPROVE :
	    TOKEN_UNSUB_APPROVE, addr, LISTD_CONFIRM_TTL, &t) < 0) {
		say(c, "Temporary failure; please try again later.\n");
		return;
	}
	buf_printf(&body, "You (an owner of %s) asked to %s %s.\n\nTo do "
	    "it, reply to this message, or send this line to "
	    "%s-request@%s:\n\n    approve %s\n\nIf you did not ask, "
	    "ignore this message.\n", d->address, sub ? "subscribe" :
	    "unsubscribe", addr, d->name, d->domain, t.id);
	buf_printf(&subj, "%s: %s %s (approve %s)", d->name, sub ?
	    "subscribe" : "unsubscribe", addr, t.id);
	notice_from_list(c, d, c->requester, subj.data, body.data, true);
	log_info("action=%s list=%s member=<%s> requester=<%s> token=%s "
	    "status=awaiting-owner", sub ? "subscribe" : "unsubscribe",
	    d->address, addr, c->requester, t.id);
	say(c, "An approval request was sent to you (%s); reply to it to %s "
	    "%s.\n", c->requester, sub ? "subscribe" : "unsubscribe", addr);
	buf_free(&body);
	buf_free(&subj);
}

/* With list_web_url (https://HOST/PATH/unsubscribe) the web manager's
 * confirm page beside it: https://HOST/PATH/confirm?list=LIST&token=ID
 * (list names need no URL encoding, lists.c), as a line of the
 * confirmation request. */
static void
confirm_link(struct ctl *c, const struct list_def *d, const char *id,
    struct buf *body)
{
	const char *url = c->ld->conf->list_web_url, *scheme, *q, *slash;
	size_t n;

	if (url == NULL || (scheme = strstr(url, "://")) == NULL)
		return;
	q = url + strcspn(url, "?#");
	slash = NULL;
	for (const char *p = scheme + 3; p < q; p++)
		if (*p == '/')
			slash = p;
	n = slash != NULL ? (size_t)(slash - url) : (size_t)(q - url);
	buf_printf(body, "Or open this link:\n\n    %.*s/confirm?list=%s&"
	    "token=%s\n\n", (int)n, url, d->address, id);
}

/* Ask addr to confirm (un)subscribing. */
static void
ask_confirmation(struct ctl *c, const struct list_def *d,
    enum token_action action, const char *addr)
{
	struct token t;
	struct buf body = BUF_INIT, subj = BUF_INIT;
	bool sub = action == TOKEN_SUBSCRIBE;

	if (token_create(c->ld, d, action, addr, LISTD_CONFIRM_TTL, &t) < 0) {
		say(c, "Temporary failure; please try again later.\n");
		return;
	}
	buf_printf(&body, "Someone (%s) asked to %s %s %s the list %s.\n\n"
	    "To confirm, reply to this message, or send a message to\n"
	    "%s-request@%s containing this line:\n\n    confirm %s\n\n",
	    c->requester, sub ? "subscribe" : "unsubscribe", addr,
	    sub ? "to" : "from", d->address, d->name, d->domain, t.id);
	confirm_link(c, d, t.id, &body);
	buf_printf(&body, "If you did not ask for this, ignore this message; "
	    "the request\nexpires in %d days.\n", LISTD_CONFIRM_TTL / 86400);
	buf_printf(&subj, "confirm %s", t.id);
	notice_from_list(c, d, addr, subj.data, body.data, true);
	log_info("action=%s list=%s member=<%s> status=confirm token=%s",
	    sub ? "subscribe" : "unsubscribe", d->address, addr, t.id);
	say(c, "A confirmation request was sent to %s.\n", addr);
	buf_free(&body);
	buf_free(&subj);
}

static void
cmd_subscribe(struct ctl *c, const struct cmd *cmd, bool sub)
{
	const struct list_def *d;
	struct list_member m;
	const char *addr;
	size_t next;
	int r;

	if ((d = list_arg(c, cmd, &next)) == NULL)
		return;
	if (next + 1 < cmd->nargs) {
		say(c, "Too many arguments.\n");
		return;
	}
	addr = next < cmd->nargs ? cmd->args[next] : c->requester;
	if (*addr == '<') {
		say(c, "Give the address without <>.\n");
		return;
	}
	if (!list_valid_address(addr)) {
		say(c, "'%s' is not an address.\n", addr);
		return;
	}
	if ((r = member_get(c, d, addr, &m)) < 0) {
		say(c, "Temporary failure; please try again later.\n");
		return;
	}
	if (sub && r == 1) {
		say(c, "%s is already subscribed to %s.\n", addr, d->address);
		return;
	}
	if (!sub && r == 0) {
		say(c, "%s is not subscribed to %s.\n", addr, d->address);
		return;
	}
	if (cmd->approved) {           /* "approve PASSWORD subscribe" */
		if (!owner_auth(c, d, cmd->password))
			return;
		if (sub)
			add_member(c, d, addr);
		else
			remove_member(c, d, addr);
		return;
	}
	if (list_is_owner(d, c->requester) &&
	    strcasecmp(addr, c->requester) != 0) {
		ask_owner_approval(c, d, sub, addr);
		return;
	}
	if (sub && d->subscribe == LIST_SUB_CLOSED) {
		say(c, "%s is closed; ask its owner (%s-owner@%s).\n",
		    d->address, d->name, d->domain);
		return;
	}
	if (sub && d->subscribe == LIST_SUB_OPEN &&
	    strcasecmp(addr, c->requester) == 0) {
		add_member(c, d, addr);
		return;
	}
	ask_confirmation(c, d, sub ? TOKEN_SUBSCRIBE : TOKEN_UNSUBSCRIBE,
	    addr);
}

/* Find a token: sent to LIST-request, in that list only (whose lock the
 * caller holds, so no second lock is ever taken there); sent to dlist@,
 * in any list of the domain. */
static const struct list_def *
find_token(struct ctl *c, const char *id, struct token *t)
{
	const struct lists *l = c->ld->cur;
	int64_t now = (int64_t)time(NULL);

	if (c->deflist != NULL)
		return token_load(c->ld, c->deflist, id, now, t) == 1 ?
		    c->deflist : NULL;
	for (size_t i = 0; i < l->count; i++) {
		if (strcasecmp(l->items[i].domain, c->domain) != 0)
			continue;
		if (token_load(c->ld, &l->items[i], id, now, t) == 1)
			return &l->items[i];
	}
	return NULL;
}

static void
do_confirm(struct ctl *c, const char *id)
{
	const struct list_def *d;
	struct token t;
	struct buf body = BUF_INIT, subj = BUF_INIT;

	say(c, ">>> confirm %s\n", id);
	if ((d = find_token(c, id, &t)) == NULL) {
		say(c, "Unknown or expired confirmation.\n\n");
		return;
	}
	switch (t.action) {
	case TOKEN_SUBSCRIBE:
		if (d->subscribe == LIST_SUB_APPROVE) {
			struct token a;

			if (token_create(c->ld, d, TOKEN_SUB_APPROVE,
			    t.address, LISTD_HELD_TTL, &a) < 0) {
				say(c, "Temporary failure.\n\n");
				return;
			}
			token_remove(c->ld, d, t.id);
			buf_printf(&body, "%s asks to join %s.\n\nTo accept, "
			    "send this line to %s-request@%s (or reply):\n\n"
			    "    approve %s\n\nTo refuse:\n\n    reject %s\n",
			    t.address, d->address, d->name, d->domain, a.id,
			    a.id);
			buf_printf(&subj, "%s: subscription of %s (approve %s)",
			    d->name, t.address, a.id);
			for (size_t i = 0; i < d->owners.count; i++)
				notice_from_list(c, d, d->owners.items[i],
				    subj.data, body.data, true);
			say(c, "Confirmed. The owners of %s must approve the "
			    "subscription of %s.\n", d->address, t.address);
			break;
		}
		add_member(c, d, t.address);
		token_remove(c->ld, d, t.id);
		break;
	case TOKEN_UNSUBSCRIBE:
		remove_member(c, d, t.address);
		token_remove(c->ld, d, t.id);
		break;
	case TOKEN_SUB_APPROVE:
	case TOKEN_UNSUB_APPROVE:
	case TOKEN_POST:
		say(c, "This needs \"approve %s\" from an owner or "
		    "moderator.\n", id);
		break;
	}
	say(c, "\n");
	buf_free(&body);
	buf_free(&subj);
}

static void
reason_line(struct buf *body, const char *reason)
{
	if (reason != NULL && *reason != '\0')
		buf_printf(body, "\nReason: %s\n", reason);
}

/* approve or reject token id; reason (may be "") is told to the poster
 * or subscriber of a rejection. */
static void
do_moderate(struct ctl *c, const char *id, bool approve, const char *reason)
{
	const struct list_def *d;
	struct token t;
	struct buf path = BUF_INIT, msg = BUF_INIT, body = BUF_INIT;
	int lk;

	if ((d = find_token(c, id, &t)) == NULL) {
		say(c, "Unknown or expired token.\n");
		return;
	}
	if (!list_is_moderator(d, c->requester)) {
		log_warn("action=moderate list=%s command=%s token=%s "
		    "requester=<%s> status=refused reason=\"not an owner or "
		    "moderator\"", d->address, approve ? "approve" : "reject",
		    id, c->requester);
		say(c, "Only owners and moderators of %s may do this.\n",
		    d->address);
		return;
	}
	if (t.action == TOKEN_SUB_APPROVE) {
		if (approve) {
			add_member(c, d, t.address);
		} else {
			say(c, "Subscription of %s to %s refused.\n",
			    t.address, d->address);
			buf_printf(&body, "Your subscription to %s was not "
			    "accepted by its owners.\n", d->address);
			reason_line(&body, reason);
			notice_from_list(c, d, t.address, "Subscription "
			    "refused", body.data, false);
		}
		token_remove(c->ld, d, id);
		goto out;
	}
	if (t.action == TOKEN_UNSUB_APPROVE) {
		if (approve)
			remove_member(c, d, t.address);
		else
			say(c, "%s stays on %s.\n", t.address, d->address);
		token_remove(c->ld, d, id);
		goto out;
	}
	if (t.action != TOKEN_POST) {
		say(c, "That is a confirmation; the address itself must "
		    "send \"confirm %s\".\n", id);
		goto out;
	}
	if (!approve) {
		log_info("action=moderate list=%s token=%s from=<%s> "
		    "requester=<%s> command=reject status=ok", d->address, id,
		    t.address, c->requester);
		token_remove(c->ld, d, id);
		say(c, "Post from %s rejected.\n", t.address);
		buf_printf(&body, "Your message to %s was rejected by a "
		    "moderator.\n", d->address);
		reason_line(&body, reason);
		notice_from_list(c, d, t.address, "Message rejected",
		    body.data, false);
		goto out;
	}
	held_path(c->ld, d, id, &path);
	if (read_file(path.data, &msg, 256u * 1024 * 1024) < 0) {
		log_error("event=read-failed list=%s path=%s error=\"%s\"",
		    d->address, path.data, strerror(errno));
		say(c, "The held post is gone.\n");
		token_remove(c->ld, d, id);
		goto out;
	}
	lk = d != c->deflist ? list_lock(c->ld->conf, d) : -1;
	if (post_distribute(c->ld, d, t.address, msg.data != NULL ?
	    msg.data : "", msg.len, id) < 0) {
		say(c, "Temporary failure; please try again later.\n");
	} else {
		log_info("action=moderate list=%s token=%s from=<%s> "
		    "requester=<%s> command=approve status=ok", d->address, id,
		    t.address, c->requester);
		token_remove(c->ld, d, id);
		say(c, "Post from %s approved and distributed.\n", t.address);
	}
	list_unlock(lk);
out:
	buf_free(&path);
	buf_free(&msg);
	buf_free(&body);
}

static void
cmd_info(struct ctl *c, const struct cmd *cmd)
{
	const struct list_def *d;
	struct buf text = BUF_INIT;
	size_t next;

	if ((d = list_arg(c, cmd, &next)) == NULL)
		return;
	say(c, "List:        %s\nDescription: %s\nSubscribe:   %s\n"
	    "Posting:     %s\nArchive:     %s\nDigest:      %s\n"
	    "Owner:       %s-owner@%s\n", d->address,
	    *d->description ? d->description : "-",
	    sub_policy[d->subscribe], post_policy[d->post],
	    d->archive ? "yes" : "no", d->digest ? "yes" : "no", d->name,
	    d->domain);
	if (list_text_get(c->ld, d, "info", &text) == 1)
		say(c, "\n%s", text.data);
	buf_free(&text);
}

static void
cmd_who(struct ctl *c, const struct cmd *cmd)
{
	const struct list_def *d;
	struct list_member *ms = NULL;
	struct listdb *db;
	struct buf err = BUF_INIT;
	size_t next, n = 0;

	if ((d = list_arg(c, cmd, &next)) == NULL)
		return;
	if (!may_read(c, d, true)) {
		say(c, "Only members may see who is on %s.\n", d->address);
		return;
	}
	if ((db = listdb_open(c->ld->conf, d, &err)) == NULL ||
	    listdb_all(db, &ms, &n) < 0) {
		say(c, "Temporary failure.\n");
	} else {
		say(c, "Members of %s (%zu):\n", d->address, n);
		for (size_t i = 0; i < n; i++)
			say(c, "  %s%s%s\n", ms[i].address,
			    ms[i].nomail ? " (nomail)" : "",
			    ms[i].digest ? " (digest)" : "");
	}
	listdb_close(db);
	free(ms);
	buf_free(&err);
}

static void
cmd_set(struct ctl *c, const struct cmd *cmd)
{
	const struct list_def *d;
	struct list_member m;
	const char *opt;
	size_t next;
	int r;

	if ((d = list_arg(c, cmd, &next)) == NULL)
		return;
	if (next + 1 != cmd->nargs) {
		say(c, "Usage: set LIST digest|nomail|mail\n");
		return;
	}
	opt = cmd->args[next];
	if ((r = member_get(c, d, c->requester, &m)) != 1) {
		say(c, r < 0 ? "Temporary failure.\n" :
		    "%s is not subscribed to %s.\n", c->requester, d->address);
		return;
	}
	if (strcasecmp(opt, "digest") == 0 && !d->digest) {
		say(c, "%s sends no digests.\n", d->address);
		return;
	}
	if (list_member_set_mode(&m, opt) < 0) {
		say(c, "Unknown option '%s': use digest, nomail or mail.\n",
		    opt);
		return;
	}
	if (member_write(c, d, &m, NULL) < 0) {
		say(c, "Temporary failure.\n");
		return;
	}
	say(c, "%s on %s: %s.\n", c->requester, d->address,
	    m.nomail ? "no mail" : m.digest ? "digest" : "every post");
}

static void
cmd_index(struct ctl *c, const struct cmd *cmd)
{
	const struct list_def *d;
	size_t next;

	if ((d = list_arg(c, cmd, &next)) == NULL)
		return;
	if (!d->archive) {
		say(c, "%s has no archive.\n", d->address);
		return;
	}
	if (!may_read(c, d, false)) {
		say(c, "Only members may read the archive of %s.\n",
		    d->address);
		return;
	}
	if (archive_index(c->ld, d, &c->reply) < 0)
		say(c, "Temporary failure.\n");
}

static void
cmd_get(struct ctl *c, const struct cmd *cmd)
{
	const struct list_def *d;
	struct buf msg = BUF_INIT, out = BUF_INIT, v = BUF_INIT;
	struct buf req = BUF_INIT, bounces = BUF_INIT;
	const char *rcpt[1] = { c->requester };
	char *end;
	unsigned long num;
	size_t next;
	int r;

	if ((d = list_arg(c, cmd, &next)) == NULL)
		return;
	if (next + 1 != cmd->nargs) {
		say(c, "Usage: get LIST NUMBER\n");
		return;
	}
	errno = 0;
	num = strtoul(cmd->args[next], &end, 10);
	if (errno != 0 || *end != '\0' || num == 0 || num > 100000000 ||
	    !isdigit((unsigned char)cmd->args[next][0])) {
		say(c, "'%s' is not a message number.\n", cmd->args[next]);
		return;
	}
	if (!d->archive || !may_read(c, d, false)) {
		say(c, "Only members may read the archive of %s.\n",
		    d->address);
		return;
	}
	r = archive_get(c->ld, d, (unsigned)num, &msg);
	if (r <= 0) {
		say(c, r < 0 ? "Temporary failure.\n" :
		    "No message %lu in the archive of %s.\n", num, d->address);
		goto out;
	}
	list_addr(d, "-request", &req);
	list_addr(d, "-bounces", &bounces);
	buf_reset(&v);
	rfc5322_date(time(NULL), false, &v);
	buf_printf(&out, "Date: %s\nFrom: %s\nTo: %s\n", v.data, req.data,
	    c->requester);
	buf_printf(&out, "Subject: %s archive message %lu\n", d->name, num);
	buf_reset(&v);
	message_id(c->ld->conf->hostname, &v);
	buf_printf(&out, "Message-ID: %s\nMIME-Version: 1.0\n"
	    "Content-Type: message/rfc822\nAuto-Submitted: auto-replied\n\n",
	    v.data);
	buf_append(&out, msg.data, msg.len);
	if (send_mail(c->ld, bounces.data, rcpt, 1, out.data, out.len) < 0)
		say(c, "Temporary failure.\n");
	else
		say(c, "Message %lu of %s sent separately.\n", num,
		    d->address);
out:
	buf_free(&msg);
	buf_free(&out);
	buf_free(&v);
	buf_free(&req);
	buf_free(&bounces);
}

static void
cmd_lists(struct ctl *c)
{
	const struct lists *l = c->ld->cur;
	unsigned n = 0;

	for (size_t i = 0; i < l->count; i++) {
		const struct list_def *d = &l->items[i];

		if (d->hidden || strcasecmp(d->domain, c->domain) != 0)
			continue;
		say(c, "  %-30s %s\n", d->address, d->description);
		n++;
	}
	if (n == 0)
		say(c, "No public lists here.\n");
}

static void
cmd_help(struct ctl *c)
{
	say(c, "Commands (one per line, in the Subject or the body):\n"
	    "  help                        this text\n"
	    "  lists                       the lists here\n"
	    "  info LIST                   about a list\n"
	    "  subscribe LIST [ADDRESS]    join (confirmation needed)\n"
	    "  unsubscribe LIST [ADDRESS]  leave (confirmation needed)\n"
	    "  who LIST                    the members\n"
	    "  set LIST digest|nomail|mail how you get the list\n"
	    "  index LIST                  the archive\n"
	    "  get LIST N                  archived message N\n"
	    "  which [ADDRESS]             the lists you (or ADDRESS) are on\n"
	    "  intro LIST                  the introduction for members\n"
	    "  files LIST                  the list's shared files\n"
	    "  getfile LIST NAME           a shared file, as an attachment\n"
	    "  end                         stop reading here\n"
	    "Owners, with the list password:\n"
	    "  approve PASSWORD subscribe|unsubscribe LIST ADDRESS\n"
	    "  newinfo|newintro LIST PASSWORD   new text follows, up to EOF\n"
	    "  config LIST PASSWORD        the list's lists.dat block\n"
	    "  newconfig LIST PASSWORD     new block follows, up to EOF\n"
	    "  writelist LIST PASSWORD     write members.txt on the server\n"
	    "  mkdigest LIST PASSWORD      send the digest now\n"
	    "  passwd LIST OLD NEW         change the list password\n"
	    "  putfile LIST PASSWORD NAME  store the attached file as NAME\n"
	    "  delfile LIST PASSWORD NAME  remove a shared file\n"
	    "Sent to LIST-request@, the LIST argument may be left out.\n");
}

/* A line that is not a command: named in the reply. */
static void
unknown_line(struct ctl *c, const char *line, size_t n, const struct cmd *cmd)
{
	c->commands++;
	say(c, ">>> %.*s\n", (int)(n > 200 ? 200 : n), line);
	if (cmd->known_word)
		say(c, "**** wrong arguments; send \"help\" for the "
		    "commands\n\n");
	else
		say(c, "**** unknown command\n\n");
}

static bool run(struct ctl *c, const struct cmd *cmd);

/* Step 3: the Subject when it is a command, then each body line that
 * is not quoted, up to "end" or a signature. A body line that repeats
 * the Subject's command (a client putting it in both) is not run again.
 * A command may consume the text after its line (c->pos). */
static void
read_commands(struct ctl *c, const struct buf *subject, const struct buf *text)
{
	struct cmd cmd, subj_cmd;
	bool stop = false, subj_ran = false;
	unsigned bad = 0;

	c->pos = text->data != NULL ? text->data : "";
	c->end = c->pos + text->len;
	if (subject->len > 0) {
		cmd_parse_line(subject->data, subject->len, &subj_cmd);
		if (subj_cmd.kind != CMD_NONE && subj_cmd.kind != CMD_UNKNOWN) {
			subj_ran = true;
			stop = !run(c, &subj_cmd);
		}
	}
	while (!stop && c->pos < c->end && c->commands < LISTD_MAX_COMMANDS) {
		const char *nl = memchr(c->pos, '\n', (size_t)(c->end - c->pos));
		size_t n = nl != NULL ? (size_t)(nl - c->pos) :
		    (size_t)(c->end - c->pos);
		const char *line = c->pos;

		c->pos += n + (nl != NULL);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n > 0 && line[0] == '>')
			continue;
		if ((n == 3 && memcmp(line, "-- ", 3) == 0) ||
		    (n == 2 && memcmp(line, "--", 2) == 0))
			break;
		cmd_parse_line(line, n, &cmd);
		if (cmd.kind == CMD_NONE)
			continue;
		if (subj_ran && cmd_same(&cmd, &subj_cmd)) {
			subj_ran = false;
			continue;
		}
		if (cmd.kind == CMD_UNKNOWN) {
			unknown_line(c, line, n, &cmd);
			if (++bad >= LISTD_MAX_BAD_LINES) {
				say(c, "(%u lines that are not commands; the "
				    "rest was ignored)\n\n", bad);
				break;
			}
			continue;
		}
		stop = !run(c, &cmd);
	}
}

/* Run one parsed command; false to stop reading. */
static bool
run(struct ctl *c, const struct cmd *cmd)
{
	struct buf echo = BUF_INIT;

	if (cmd->kind == CMD_END)
		return false;
	if (cmd->kind == CMD_CONFIRM)     /* done in the token pass */
		return true;
	c->commands++;
	cmd_format(cmd, &echo);
	say(c, ">>> %s\n", echo.data);
	buf_free(&echo);
	switch (cmd->kind) {
	case CMD_HELP:
		cmd_help(c);
		break;
	case CMD_LISTS:
		cmd_lists(c);
		break;
	case CMD_INFO:
		cmd_info(c, cmd);
		break;
	case CMD_SUBSCRIBE:
		cmd_subscribe(c, cmd, true);
		break;
	case CMD_UNSUBSCRIBE:
		cmd_subscribe(c, cmd, false);
		break;
	case CMD_WHO:
		cmd_who(c, cmd);
		break;
	case CMD_SET:
		cmd_set(c, cmd);
		break;
	case CMD_INDEX:
		cmd_index(c, cmd);
		break;
	case CMD_GET:
		cmd_get(c, cmd);
		break;
	case CMD_APPROVE:
	case CMD_REJECT: {
		char id[LISTD_TOKEN_LEN + 1];
		size_t il = strnlen(cmd->args[0], LISTD_TOKEN_LEN);

		memcpy(id, cmd->args[0], il);
		id[il] = '\0';
		if (strlen(cmd->args[0]) > LISTD_TOKEN_LEN)
			id[0] = '\0';      /* too long: not a token */
		str_lower(id);
		c->saw_moderation = true;
		do_moderate(c, id, cmd->kind == CMD_APPROVE, cmd->reason);
		break;
	}
	case CMD_WHICH:
	case CMD_INTRO:
	case CMD_NEWINFO:
	case CMD_NEWINTRO:
	case CMD_CONFIG:
	case CMD_NEWCONFIG:
	case CMD_WRITELIST:
	case CMD_MKDIGEST:
	case CMD_PASSWD:
		owner_command(c, cmd);
		break;
	case CMD_FILES:
	case CMD_GETFILE:
	case CMD_PUTFILE:
	case CMD_DELFILE:
		files_command(c, cmd);
		break;
	default:
		say(c, "Not understood. Send \"help\" for the commands.\n");
		break;
	}
	say(c, "\n");
	return true;
}

/* Step 2: every "confirm TOKEN" in the Subject or the body. */
static void
confirm_all(struct ctl *c, const struct buf *subject, const struct buf *text)
{
	struct buf all = BUF_INIT;
	struct strlist toks = { NULL, 0 };

	buf_printf(&all, "%s\n", buf_cstr(subject));
	buf_append(&all, text->data, text->len);
	cmd_find_tokens(all.data, all.len, "confirm", &toks);
	for (size_t i = 0; i < toks.count && i < LISTD_MAX_COMMANDS; i++) {
		do_confirm(c, toks.items[i] + 8);
		c->commands++;
	}
	strlist_free(&toks);
	buf_free(&all);
}

/* Step 4: approve/reject in the Subject of a reply. */
static void
moderate_subject(struct ctl *c, const struct buf *subject)
{
	static const char *const words[] = { "approve", "reject" };

	if (c->saw_moderation || subject->len == 0)
		return;
	for (int w = 0; w < 2; w++) {
		struct strlist st = { NULL, 0 };

		cmd_find_tokens(subject->data, subject->len, words[w], &st);
		for (size_t i = 0; i < st.count; i++) {
			c->commands++;
			say(c, ">>> %s\n", st.items[i]);
			do_moderate(c, st.items[i] + strlen(words[w]) + 1,
			    w == 0, "");
			say(c, "\n");
		}
		strlist_free(&st);
	}
}

/* Step 5: the reply to the requester. */
static void
send_reply(struct ctl *c, const struct buf *subject)
{
	const struct list_def *d = c->deflist;
	struct buf fromaddr = BUF_INIT, subj = BUF_INIT, env = BUF_INIT;

	if (c->commands == 0)
		say(c, "No commands found. Send \"help\" for the commands.\n");
	if (d != NULL) {
		list_addr(d, "-request", &fromaddr);
		list_addr(d, "-bounces", &env);
	} else {
		buf_printf(&fromaddr, "%s@%s", LIST_DLIST_LOCAL, c->domain);
		buf_set(&env, "");
	}
	buf_printf(&subj, "Re: %s", subject->len ? subject->data :
	    "your commands");
	(void)send_notice(c->ld, env.data != NULL ? env.data : "",
	    fromaddr.data, c->requester, subj.data, NULL,
	    buf_cstr(&c->reply));
	buf_free(&fromaddr);
	buf_free(&subj);
	buf_free(&env);
}

int
control_handle(struct listd *ld, const struct list_def *d,
    const char *domain, const char *sender, const char *msg, size_t len)
{
	struct ctl c;
	struct mail m;
	struct buf v = BUF_INIT, text = BUF_INIT, subject = BUF_INIT;
	struct buf from = BUF_INIT;

	memset(&c, 0, sizeof(c));
	c.ld = ld;
	c.deflist = d;
	c.domain = domain;
	mail_parse(msg, len, &m);
	if (*sender == '\0' || mail_is_automatic(&m)) {
		log_info("action=command list=%s@%s from=<%s> status=ignored "
		    "reason=\"automatic message or null sender\"",
		    d ? d->name : LIST_DLIST_LOCAL, domain, sender);
		mail_free(&m);
		return 0;
	}
	if (!mail_get(&m, "From", &v) || !mail_address(v.data, &from))
		buf_set(&from, sender);
	snprintf(c.requester, sizeof(c.requester), "%s", from.data);
	str_lower(c.requester);
	if (mail_get(&m, "Subject", &v))
		buf_set(&subject, cmd_subject_text(v.data));
	mail_text(&m, &text);

	confirm_all(&c, &subject, &text);
	c.msg = &m;
	read_commands(&c, &subject, &text);
	moderate_subject(&c, &subject);
	send_reply(&c, &subject);
	log_info("action=command list=%s@%s commands=%u requester=<%s>",
	    d ? d->name : LIST_DLIST_LOCAL, domain, c.commands, c.requester);
	mail_free(&m);
	buf_free(&v);
	buf_free(&text);
	buf_free(&subject);
	buf_free(&from);
	buf_free(&c.reply);
	return 0;
}
