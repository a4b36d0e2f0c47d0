/*
 * owner.c - the majordomo commands beyond subscribing: which, intro, and
 * the owners' commands that take the list password:
 *
 *   which [ADDR]                 the lists of the domain ADDR is on
 *   intro LIST                   the introduction (else the info text)
 *   newinfo|newintro LIST PW     replace the info/intro text: the lines
 *                                after the command up to "EOF"
 *   config LIST PW               the list's lists.dat block
 *   newconfig LIST PW            replace the block (lines up to "EOF"):
 *                                a block without a password line keeps
 *                                the list's password; checked with
 *                                lists_block_check(), then
 *                                the whole file with lists_parse(), and
 *                                written with lists_file_write() under
 *                                the lock dlist takes; a bad block
 *                                changes nothing and the reply says why
 *   writelist LIST PW            members.txt, a plain-text copy of the
 *                                members, in the list's state directory
 *   mkdigest LIST PW             send the digest now
 *   passwd LIST OLD NEW          a new list password
 *
 * The list password is the "password" key of lists.dat, a crypt(3) hash
 * (set with dlist passwd), checked with userdb_check_password(). Texts
 * live in state_dir/lists/LIST/info and .../intro, written durably.
 * Exports owner_command(), owner_auth(), list_text_get() (listd.h).
 * Failures are said in the reply and logged once; nothing is fatal.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "listd.h"
#include "listedit.h"
#include "log.h"
#include "util.h"


bool
owner_auth(struct ctl *c, const struct list_def *d, const char *password)
{
	struct user_record *rec;
	bool ok;

	if (*d->password == '\0') {
		say(c, "%s has no list password; its operator sets one with "
		    "\"dlist passwd %s\".\n", d->address, d->address);
		return false;
	}
	rec = xcalloc(1, sizeof(*rec));
	snprintf(rec->hash, sizeof(rec->hash), "%s", d->password);
	ok = userdb_check_password(rec, password);
	free(rec);
	if (!ok) {
		log_warn("action=command list=%s requester=<%s> "
		    "status=refused reason=\"wrong list password\"",
		    d->address, c->requester);
		say(c, "Wrong password for %s.\n", d->address);
	}
	return ok;
}

int
list_text_get(struct listd *ld, const struct list_def *d, const char *which,
    struct buf *out)
{
	struct buf path = BUF_INIT;
	int r = 1;

	list_state_path(ld->conf, d, which, &path);
	if (read_file(path.data, out, LISTD_TEXT_MAX) < 0) {
		r = errno == ENOENT ? 0 : -1;
		if (r < 0)
			log_error("event=read-failed list=%s path=%s "
			    "error=\"%s\"", d->address, path.data,
			    strerror(errno));
	} else if (out->len == 0) {
		r = 0;
	}
	buf_free(&path);
	return r;
}

/* The list of an owner command and its password checked; *next is the
 * argument after the password. NULL after saying why. */
static const struct list_def *
owner_list(struct ctl *c, const struct cmd *cmd, size_t *next)
{
	const struct list_def *d = list_arg(c, cmd, next);

	if (d == NULL)
		return NULL;
	if (*next >= cmd->nargs) {
		say(c, "Give the list password: \"%s LIST PASSWORD\".\n",
		    cmd_name(cmd->kind));
		return NULL;
	}
	if (!owner_auth(c, d, cmd->args[*next]))
		return NULL;
	(*next)++;
	return d;
}

static void
cmd_which(struct ctl *c, const struct cmd *cmd)
{
	const struct lists *l = c->ld->cur;
	const char *addr = cmd->nargs > 0 ? cmd->args[0] : c->requester;
	bool self = strcasecmp(addr, c->requester) == 0;
	unsigned n = 0;

	if (!list_valid_address(addr)) {
		say(c, "'%s' is not an address.\n", addr);
		return;
	}
	for (size_t i = 0; i < l->count; i++) {
		const struct list_def *d = &l->items[i];
		struct list_member m;

		if (strcasecmp(d->domain, c->domain) != 0 ||
		    (!self && !may_read(c, d, true)))
			continue;
		if (member_get(c, d, addr, &m) == 1) {
			if (n++ == 0)
				say(c, "%s is on:\n", addr);
			say(c, "  %s\n", d->address);
		}
	}
	if (n == 0)
		say(c, "%s is on no list here%s.\n", addr, self ? "" :
		    " whose members you may see");

}

static void
cmd_intro(struct ctl *c, const struct cmd *cmd)
{
	const struct list_def *d;
	struct buf text = BUF_INIT;
	size_t next;
	int r;

	if ((d = list_arg(c, cmd, &next)) == NULL)
		return;
	if ((r = list_text_get(c->ld, d, "intro", &text)) == 0)
		r = list_text_get(c->ld, d, "info", &text);
	if (r < 0)
		say(c, "Temporary failure.\n");
	else if (r == 0)
		say(c, "%s has no introduction.\n", d->address);
	else
		say(c, "%s", text.data);
	buf_free(&text);
}

/* newinfo/newintro: the text up to EOF replaces state_dir/.../WHICH. */
static void
cmd_newtext(struct ctl *c, const struct cmd *cmd, const char *which)
{
	const struct list_def *d;
	struct buf text = BUF_INIT, path = BUF_INIT, err = BUF_INIT;
	size_t next;
	/* The text is taken first so that it is never read as commands. */
	bool have = ctl_take_text(c, LISTD_TEXT_MAX, &text);

	if ((d = owner_list(c, cmd, &next)) == NULL)
		goto out;
	if (!have) {
		say(c, "No new text: put it on the lines after the command, "
		    "ending with a line EOF (at most %u bytes). Nothing "
		    "changed.\n", LISTD_TEXT_MAX);
		goto out;
	}
	list_state_path(c->ld->conf, d, which, &path);
	if (list_prepare_dir(c->ld->conf, d, &err) < 0 ||
	    write_file_durable(path.data, text.data ? text.data : "",
	    text.len, 0640) < 0) {
		log_error("event=write-failed list=%s path=%s error=\"%s\"",
		    d->address, path.data, err.len ? err.data :
		    strerror(errno));
		say(c, "Temporary failure; nothing changed.\n");
	} else {
		log_info("action=command list=%s requester=<%s> command=new%s "
		    "bytes=%zu status=ok", d->address, c->requester, which,
		    text.len);
		say(c, "The %s text of %s was replaced (%zu bytes).\n", which,
		    d->address, text.len);
	}
out:
	buf_free(&text);
	buf_free(&path);
	buf_free(&err);
}

static void
cmd_config(struct ctl *c, const struct cmd *cmd)
{
	const struct list_def *d;
	struct buf text = BUF_INIT;
	size_t next, start, stop;

	if ((d = owner_list(c, cmd, &next)) == NULL)
		return;
	if (read_file(c->ld->conf->lists_file, &text, LISTS_FILE_MAX) < 0 ||
	    !lists_block_find(text.data, text.len, d->address, &start,
	    &stop)) {
		log_error("event=read-failed list=%s path=%s error=\"%s\"",
		    d->address, c->ld->conf->lists_file, strerror(errno));
		say(c, "Temporary failure.\n");
	} else {
		say(c, "The lists.dat block of %s follows. To change it, send "
		    "it back edited on the lines after \"newconfig %s "
		    "PASSWORD\", ending with a line EOF.\n\n%.*s", d->address,
		    d->name, (int)(stop - start), text.data + start);
	}
	buf_free(&text);
}

/* Does a new block (valid: lists_block_check()) set a password? A block
 * without one keeps the list's password: the owner who sends back the
 * block of "config" without the line must not lock himself out (only
 * the operator removes a password, with dlist). */
static bool
block_has_password(const char *address, const struct buf *block)
{
	struct lists l = { NULL, 0 };
	struct buf err = BUF_INIT;
	const struct list_def *d;
	bool has = false;

	if (lists_parse("newconfig", block->data, block->len, &l, &err) == 0) {
		d = lists_find(&l, address);
		has = d != NULL && *d->password != '\0';
		lists_free(&l);
	}
	buf_free(&err);
	return has;
}

struct owner_edit {
	const struct list_def *d;
	const struct buf *block;       /* newconfig, or NULL */
	const char *key, *value;       /* passwd */
};

/* The change of one owner command to the text of lists.dat. */
static int
owner_edit(struct buf *text, void *arg, struct buf *err)
{
	const struct owner_edit *e = arg;
	const struct list_def *d = e->d;

	if ((e->block != NULL ? lists_block_replace(text, d->address,
	    e->block->data, e->block->len) : lists_block_set_key(text,
	    d->address, e->key, e->value)) != 1 ||
	    (e->block != NULL && *d->password != '\0' &&
	    !block_has_password(d->address, e->block) &&
	    lists_block_set_key(text, d->address, "password",
	    d->password) != 1)) {
		buf_printf(err, "no block of %s", d->address);
		return LISTS_EDIT_NOLIST;
	}
	return 0;
}

/* Edit lists.dat as dlist does (listedit.h): replace the block of d
 * (block != NULL), or set key to value. Says the outcome. */
static void
edit_lists(struct ctl *c, const struct list_def *d, const struct buf *block,
    const char *key, const char *value)
{
	const struct owner_edit e = { d, block, key, value };
	const char *command = block != NULL ? "newconfig" : "passwd";
	struct buf err = BUF_INIT;
	int r = lists_file_edit(c->ld->conf->lists_file, owner_edit,
	    (void *)&e, &err);

	if (r == 0) {
		log_info("action=command list=%s requester=<%s> command=%s "
		    "status=ok", d->address, c->requester, command);
		say(c, "Done: the %s of %s was replaced.\n", block ? "block" :
		    key, d->address);
	} else if (r == LISTS_EDIT_DENIED) {
		log_warn("action=command list=%s command=%s status=refused "
		    "error=\"%s\"", d->address, command, err.data);
		say(c, "The list server may not change lists.dat here; ask "
		    "the operator (dlist). Nothing changed.\n");
	} else if (r == LISTS_EDIT_INVALID) {
		say(c, "The result would not be valid; nothing changed:\n%s",
		    err.data);
	} else {
		log_error("event=write-failed list=%s command=%s error=\"%s\"",
		    d->address, command, str_trim(err.data));
		say(c, "Temporary failure; nothing changed.\n");
	}
	buf_free(&err);
}

static void
cmd_newconfig(struct ctl *c, const struct cmd *cmd)
{
	const struct list_def *d;
	struct buf block = BUF_INIT, err = BUF_INIT;
	size_t next;
	bool have = ctl_take_text(c, LISTD_TEXT_MAX, &block);

	if ((d = owner_list(c, cmd, &next)) == NULL)
		;
	else if (!have)
		say(c, "No new block: put it on the lines after the command, "
		    "ending with a line EOF. Nothing changed.\n");
	else if (lists_block_check(d->address, block.data, block.len,
	    &err) < 0)
		say(c, "The new block is not valid; nothing changed:\n%s",
		    err.data);
	else
		edit_lists(c, d, &block, NULL, NULL);
	buf_free(&block);
	buf_free(&err);
}

static void
cmd_passwd(struct ctl *c, const struct cmd *cmd)
{
	const struct list_def *d;
	struct buf err = BUF_INIT;
	char hash[256];
	size_t next;
	int rc;

	if ((d = owner_list(c, cmd, &next)) == NULL)
		return;
	if (next + 1 != cmd->nargs) {
		say(c, "Usage: passwd LIST OLD NEW\n");
		return;
	}
	rc = list_password_hash(c->ld->conf, cmd->args[next], hash,
	    sizeof(hash), &err);
	if (rc == -1) {
		say(c, "Refused: %s; nothing changed.\n", buf_cstr(&err));
	} else if (rc < 0) {
		log_error("event=list-failed list=%s reason=\"%s\"",
		    d->address, buf_cstr(&err));
		say(c, "Temporary failure; nothing changed.\n");
	} else
		edit_lists(c, d, NULL, "password", hash);
	buf_free(&err);
}

static void
cmd_writelist(struct ctl *c, const struct cmd *cmd)
{
	const struct list_def *d;
	struct list_member *ms = NULL;
	struct listdb *db;
	struct buf err = BUF_INIT, text = BUF_INIT, path = BUF_INIT;
	size_t next, n = 0;

	if ((d = owner_list(c, cmd, &next)) == NULL)
		return;
	list_state_path(c->ld->conf, d, "members.txt", &path);
	if ((db = listdb_open(c->ld->conf, d, &err)) == NULL ||
	    listdb_all(db, &ms, &n) < 0) {
		say(c, "Temporary failure.\n");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		buf_printf(&text, "%s%s%s\n", ms[i].address,
		    ms[i].nomail ? " nomail" : "",
		    ms[i].digest ? " digest" : "");
	if (write_file_durable(path.data, text.data ? text.data : "",
	    text.len, 0640) < 0) {
		log_error("event=write-failed list=%s path=%s error=\"%s\"",
		    d->address, path.data, strerror(errno));
		say(c, "Temporary failure.\n");
		goto out;
	}
	say(c, "%zu member(s) of %s written to members.txt on the server.\n",
	    n, d->address);
out:
	listdb_close(db);
	free(ms);
	buf_free(&err);
	buf_free(&text);
	buf_free(&path);
}

static void
cmd_mkdigest(struct ctl *c, const struct cmd *cmd)
{
	const struct list_def *d;
	size_t next;
	int lk;

	if ((d = owner_list(c, cmd, &next)) == NULL)
		return;
	if (!d->digest) {
		say(c, "%s sends no digests.\n", d->address);
		return;
	}
	/* LIST-request's own list is locked by the caller already. */
	lk = d != c->deflist ? list_lock(c->ld->conf, d) : -1;
	if (digest_maybe_send(c->ld, d, (int64_t)time(NULL), true) < 0)
		say(c, "Temporary failure.\n");
	else
		say(c, "The digest of %s was sent to its digest members (when "
		    "posts were waiting).\n", d->address);
	list_unlock(lk);
}

void
owner_command(struct ctl *c, const struct cmd *cmd)
{
	switch (cmd->kind) {
	case CMD_WHICH:
		cmd_which(c, cmd);
		break;
	case CMD_INTRO:
		cmd_intro(c, cmd);
		break;
	case CMD_NEWINFO:
		cmd_newtext(c, cmd, "info");
		break;
	case CMD_NEWINTRO:
		cmd_newtext(c, cmd, "intro");
		break;
	case CMD_CONFIG:
		cmd_config(c, cmd);
		break;
	case CMD_NEWCONFIG:
		cmd_newconfig(c, cmd);
		break;
	case CMD_WRITELIST:
		cmd_writelist(c, cmd);
		break;
	case CMD_MKDIGEST:
		cmd_mkdigest(c, cmd);
		break;
	case CMD_PASSWD:
		cmd_passwd(c, cmd);
		break;
	default:
		break;
	}
}
