/*
 * ctl.c - the control message being worked through (struct ctl of
 * listd.h), shared by the command modules control.c, owner.c and
 * files.c: the reply (say()), the list a command names (list_arg()),
 * member look-ups (member_get(), may_read()), notices from the list
 * (notice_from_list()) and the text after a command line up to "EOF"
 * (ctl_take_text()). Errors are logged once here and said in the reply
 * by the caller; nothing is fatal.
 */
#include "config.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "listd.h"
#include "log.h"
#include "util.h"

void
say(struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&c->reply, fmt, ap);
	va_end(ap);
}

/* A list named by a command argument: full address, or a name in the
 * domain the command was sent to. */
static const struct list_def *
resolve_list(struct ctl *c, const char *w)
{
	const struct lists *l = c->ld->cur;

	if (strchr(w, '@') != NULL)
		return lists_find(l, w);
	for (size_t i = 0; i < l->count; i++)
		if (strcasecmp(l->items[i].name, w) == 0 &&
		    strcasecmp(l->items[i].domain, c->domain) == 0)
			return &l->items[i];
	return NULL;
}

/* Split args into list and rest: the first argument names a list when
 * it resolves to one; otherwise the default list is used. Returns the
 * list (NULL after saying why) and the index of the next argument. */
const struct list_def *
list_arg(struct ctl *c, const struct cmd *cmd, size_t *next)
{
	const struct list_def *d;

	*next = 0;
	if (cmd->nargs > 0 && (d = resolve_list(c, cmd->args[0])) != NULL) {
		*next = 1;
		return d;
	}
	if (c->deflist != NULL)
		return c->deflist;
	if (cmd->nargs > 0)
		say(c, "No list called %s here. Send \"lists\" for the "
		    "lists.\n", cmd->args[0]);
	else
		say(c, "Which list? Give its name, e.g. \"%s LIST\".\n",
		    cmd_name(cmd->kind));
	return NULL;
}

int
member_get(struct ctl *c, const struct list_def *d, const char *a,
    struct list_member *m)
{
	struct buf err = BUF_INIT;
	struct listdb *db = listdb_open(c->ld->conf, d, &err);
	int r;

	if (db == NULL) {
		log_error("event=list-failed list=%s reason=\"%s\"",
		    d->address, err.data);
		buf_free(&err);
		return -1;
	}
	r = listdb_get(db, a, m);
	listdb_close(db);
	buf_free(&err);
	return r;
}

void
notice_from_list(struct ctl *c, const struct list_def *d, const char *to,
    const char *subject, const char *body, bool reply_to_request)
{
	struct buf req = BUF_INIT, bounces = BUF_INIT, hdr = BUF_INIT;

	list_addr(d, "-request", &req);
	list_addr(d, "-bounces", &bounces);
	if (reply_to_request)
		buf_printf(&hdr, "Reply-To: %s\n", req.data);
	(void)send_notice(c->ld, bounces.data, req.data, to, subject,
	    hdr.len ? hdr.data : NULL, body);
	buf_free(&req);
	buf_free(&bounces);
	buf_free(&hdr);
}

/* Members and owners may see who/index/get; hidden lists: owners only
 * for who. */
bool
may_read(struct ctl *c, const struct list_def *d, bool who)
{
	struct list_member m;
	int r;

	if (list_is_moderator(d, c->requester))
		return true;
	if (who && d->hidden)
		return false;
	r = member_get(c, d, c->requester, &m);
	return r == 1;
}

bool
ctl_take_text(struct ctl *c, size_t max, struct buf *out)
{
	const char *s = c->pos;

	buf_reset(out);
	while (s < c->end) {
		const char *nl = memchr(s, '\n', (size_t)(c->end - s));
		size_t n = nl != NULL ? (size_t)(nl - s) : (size_t)(c->end - s);
		const char *line = s;

		s += n + (nl != NULL);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 3 && memcmp(line, "EOF", 3) == 0) {
			c->pos = s;          /* consumed even when too long */
			if (out->len <= max)
				return true;
			break;
		}
		if (out->len <= max) {
			buf_append(out, line, n);
			buf_append_char(out, '\n');
		}
	}
	buf_reset(out);
	return false;
}
