/*
 * web_members.c - list members in the web manager (see webd.h):
 *
 *   GET  /lists/LIST/members?q=&after=   members, a page at a time
 *                                        (owners and moderators)
 *   POST /lists/LIST/members/add|remove  (address)
 *   POST /lists/LIST/members/set         (address, mode: mail|digest|
 *                                        nomail)
 *   POST /lists/LIST/members/reset-bounce (address)
 *   POST /lists/LIST/members/import      (a file, or text: one address
 *                                        a line)
 *   GET  /lists/LIST/members.csv         address,mode,bounce,since
 *   GET  /me                             my subscriptions
 *   POST /me/set                         (list, mode: mail|digest|nomail)
 *   GET|POST /unsubscribe?list=&member=&token=   RFC 8058 one-click
 *   GET|POST /confirm?list=&token=       confirm link of a subscribe or
 *                                        unsubscribe request
 *   and the list pages under /api/v1/lists/LIST/members[/VERB] in JSON.
 *
 * Members are read and changed in the list's database (listdb.h) as
 * dlist does: a page is one cursor read (listdb_page(), continuing
 * after the last address shown), never the whole list; the delivery
 * mode is set by list_member_set_mode() as the mail command "set" does;
 * an import is listdb_import(), as "dlist import". Members change only
 * their own subscription. The one-click unsubscribe checks the member's
 * token (list_unsub_token(), as dlist oneclick) before removing; the
 * confirm link hands "confirm TOKEN" to the list worker through the
 * list spool, as a reply by mail would.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "listdb.h"
#include "log.h"
#include "util.h"
#include "webd.h"

/* --- members --------------------------------------------------------- */

#define IMPORT_SHOW_BAD 20         /* invalid lines named on the page */

static void
date_text(int64_t t, bool iso, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(out, len, "%s", "");
	else
		strftime(out, len, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d", &tm);
}

static void
member_json(struct web_req *r, const struct list_member *x, bool first)
{
	buf_append_str(&r->out, first ? "{\"address\":" : ",{\"address\":");
	json_escape(&r->out, x->address);
	buf_printf(&r->out, ",\"mode\":\"%s\",\"bounce\":%u,\"since\":%lld}",
	    list_member_mode(x), x->bounce, (long long)x->since);
}

/* One row of the members table: delivery, bounce score, remove. */
static void
member_row(struct web_req *r, const struct list_def *d,
    const struct list_member *x)
{
	static const char *const modes[] = { "mail", "digest", "nomail" };
	const char *mode = list_member_mode(x);
	char since[32];

	date_text(x->since, false, since, sizeof(since));
	web_html(r, "<tr><td>%s</td><td><form class=\"inline\" method=\"post\" "
	    "action=\"/lists/%s/members/set\"><input type=\"hidden\" name=\""
	    "address\" value=\"%s\"><select name=\"mode\">", x->address,
	    d->address, x->address);
	for (size_t i = 0; i < 3; i++)
		web_html(r, "<option%s>%s</option>", strcmp(mode, modes[i]) == 0 ?
		    " selected" : "", modes[i]);
	web_html(r, "</select>");
	web_csrf_field(r);
	web_html(r, " <button>Set</button></form></td><td>%u", x->bounce);
	if (x->bounce > 0) {
		web_html(r, " <form class=\"inline\" method=\"post\" action=\""
		    "/lists/%s/members/reset-bounce\"><input type=\"hidden\" "
		    "name=\"address\" value=\"%s\">", d->address, x->address);
		web_csrf_field(r);
		web_html(r, "<button>Reset</button></form>");
	}
	web_html(r, "</td><td>%s</td><td><form class=\"inline\" method=\"post"
	    "\" action=\"/lists/%s/members/remove\"><input type=\"hidden\" "
	    "name=\"address\" value=\"%s\">", since, d->address, x->address);
	web_csrf_field(r);
	web_html(r, "<button>Remove</button></form></td></tr>");
}

/* The forms under the table: next page, add, import, export. */
static void
members_forms(struct web_req *r, const struct list_def *d, const char *q,
    const char *after, const char *last)
{
	web_html(r, "</table><p>");
	if (after[0] != '\0')
		web_html(r, "<a href=\"/lists/%s/members\">First page</a> ",
		    d->address);
	/* GET forms, so that the browser encodes q and the address. */
	if (last != NULL)
		web_html(r, "<form class=\"inline\" method=\"get\"><input type="
		    "\"hidden\" name=\"q\" value=\"%s\"><input type=\"hidden\" "
		    "name=\"after\" value=\"%s\"><button>Next page</button>"
		    "</form>", q, last);
	web_html(r, " <a href=\"/lists/%s/members.csv\">Export CSV</a></p>"
	    "<h2>Add a member</h2><form class=\"box\" method=\"post\" action=\""
	    "/lists/%s/members/add\">", d->address, d->address);
	web_csrf_field(r);
	web_html(r, "<input type=\"text\" name=\"address\" placeholder=\""
	    "user@domain\"> <button>Add</button></form><h2>Import</h2>"
	    "<form class=\"box\" method=\"post\" enctype=\"multipart/"
	    "form-data\" action=\"/lists/%s/members/import\">", d->address);
	web_csrf_field(r);
	web_html(r, "<p>One address per line (\"Name &lt;user@domain&gt;\" "
	    "accepted, # comments): a text file, or pasted below.</p>"
	    "<input type=\"file\" name=\"file\" accept=\"text/plain,.txt,"
	    ".csv\"><br><textarea name=\"text\" rows=\"6\" cols=\"60\">"
	    "</textarea><br><button>Import</button></form>");
}

/* GET members: one page read with a cursor (listdb_page()): after=ADDR
 * continues after that address; the API also takes offset= (matches
 * skipped, read and dropped) and limit=. No total: counting would read
 * every member. */
static void
members_show(struct web_req *r, const struct list_def *d,
    const char *rest)
{
	struct listdb_page p;
	struct list_member *m;
	struct buf err = BUF_INIT;
	struct listdb *db;
	const char *after = web_arg(r, "after");
	bool more = false;
	long n = -1;

	(void)rest;
	p.q = web_arg(r, "q") != NULL ? web_arg(r, "q") : "";
	p.after = after != NULL ? after : "";
	p.skip = r->api ? web_uint_arg(r, "offset", 0, 100000000) : 0;
	p.max = r->api ? web_uint_arg(r, "limit", WEB_PAGE_SIZE, 1000) :
	    WEB_PAGE_SIZE;
	m = xcalloc(p.max > 0 ? p.max : 1, sizeof(*m));
	if ((db = listdb_open(r->w->conf, d, &err)) != NULL)
		n = listdb_page(db, &p, m, &more);
	listdb_close(db);
	buf_free(&err);
	if (n < 0) {
		free(m);
		web_error(r, 503, "The member database is unavailable.");
		return;
	}
	if (r->api) {
		r->ctype = "application/json";
		buf_append_str(&r->out, "{\"ok\":true,\"members\":[");
		for (long i = 0; i < n; i++)
			member_json(r, &m[i], i == 0);
		buf_printf(&r->out, "],\"more\":%s,\"next\":", more ? "true" :
		    "false");
		if (more && n > 0)
			json_escape(&r->out, m[n - 1].address);
		else
			buf_append_str(&r->out, "null");
		buf_append_str(&r->out, "}\n");
		free(m);
		return;
	}
	web_page_begin(r, "Members");
	web_html(r, "<p><a href=\"/lists/%s\">%s</a></p><form method=\"get\">"
	    "<input type=\"text\" name=\"q\" value=\"%s\" placeholder=\""
	    "search\"> <button>Search</button></form><table><tr><th>Member"
	    "</th><th>Delivery</th><th>Bounce score</th><th>Since</th><th>"
	    "</th></tr>", d->address, d->address, p.q);
	for (long i = 0; i < n; i++)
		member_row(r, d, &m[i]);
	if (n == 0)
		web_html(r, "<tr><td colspan=\"5\">No %smembers.</td></tr>",
		    p.q[0] != '\0' || p.after[0] != '\0' ? "more matching " : "");
	members_forms(r, d, p.q, p.after, more && n > 0 ? m[n - 1].address :
	    NULL);
	web_page_end(r);
	free(m);
}

/* CSV cell: quoted, quotes doubled; a cell a spreadsheet would take
 * for a formula (= + - @, tab, CR) gets a leading '. */
static void
csv_cell(struct buf *out, const char *s, bool last)
{
	buf_append_char(out, '"');
	if (strchr("=+-@\t\r", s[0]) != NULL && s[0] != '\0')
		buf_append_char(out, '\'');
	for (; *s != '\0'; s++) {
		if (*s == '"')
			buf_append_char(out, '"');
		buf_append_char(out, *s);
	}
	buf_append_str(out, last ? "\"\r\n" : "\",");
}

static bool
csv_row(void *arg, const struct list_member *m)
{
	struct buf *out = arg;
	char num[16], since[32];

	snprintf(num, sizeof(num), "%u", m->bounce);
	date_text(m->since, true, since, sizeof(since));
	csv_cell(out, m->address, false);
	csv_cell(out, list_member_mode(m), false);
	csv_cell(out, num, false);
	csv_cell(out, since, true);
	return true;
}

/* GET members.csv: address,mode,bounce,since (RFC 4180, CRLF). */
static void
members_csv(struct web_req *r, const struct list_def *d, const char *rest)
{
	struct buf err = BUF_INIT;
	struct listdb *db = listdb_open(r->w->conf, d, &err);
	int rc = -1;

	(void)rest;
	buf_append_str(&r->out, "address,mode,bounce,since\r\n");
	if (db != NULL)
		rc = listdb_each(db, NULL, csv_row, &r->out);
	listdb_close(db);
	buf_free(&err);
	if (rc < 0) {
		web_error(r, 503, "The member database is unavailable.");
		return;
	}
	r->ctype = "text/csv; charset=utf-8";
	snprintf(r->disposition, sizeof(r->disposition), "attachment; "
	    "filename=\"%s-members.csv\"", d->name);
}

/* add or remove address on d, as dlist subscribe/unsubscribe. HTTP
 * status; why filled otherwise. */
static int
member_change(struct web_req *r, const struct list_def *d, bool add,
    const char *address, struct buf *why)
{
	struct buf err = BUF_INIT, detail = BUF_INIT;
	struct listdb *db;
	int status = 500, rc;

	if (address == NULL || !list_valid_address(address)) {
		buf_set(why, "not an address (user@domain)");
		return 400;
	}
	db = listdb_open(r->w->conf, d, &err);
	if (db == NULL) {
		buf_printf(why, "member database: %s", buf_cstr(&err));
	} else if (add) {
		struct list_member m;

		list_member_init(&m, address);
		m.since = (int64_t)time(NULL);
		rc = listdb_get(db, m.address, &m);
		if (rc == 1)
			status = 200;     /* already a member: nothing to do */
		else if (rc == 0 && listdb_put(db, &m, &err) == 0)
			status = 200;
		else
			buf_printf(why, "member database: %s", buf_cstr(&err));
	} else {
		rc = listdb_delete(db, address, &err);
		if (rc < 0)
			buf_printf(why, "member database: %s", buf_cstr(&err));
		else if (rc == 0) {
			buf_set(why, "not a member");
			status = 404;
		} else
			status = 200;
	}
	listdb_close(db);
	buf_printf(&detail, "list=%s member=<%s>", d->address, address);
	web_log(r, add ? "member-add" : "member-remove", status == 200 ? "ok" :
	    "failed", detail.data);
	buf_free(&detail);
	buf_free(&err);
	return status;
}

/* The answer to a change on the members page (frees why): back to it,
 * or the error. */
static void
members_answer(struct web_req *r, const struct list_def *d, int status,
    struct buf *why)
{
	struct buf back = BUF_INIT;

	buf_printf(&back, "/lists/%s/members", d->address);
	web_answer_change(r, status, buf_cstr(why), back.data);
	buf_free(why);
	buf_free(&back);
}

static void
members_post(struct web_req *r, const struct list_def *d, const char *verb)
{
	struct buf why = BUF_INIT;
	int status = member_change(r, d, strcmp(verb, "add") == 0,
	    web_arg(r, "address"), &why);

	members_answer(r, d, status, &why);
}

static void
members_add(struct web_req *r, const struct list_def *d, const char *rest)
{
	(void)rest;
	members_post(r, d, "add");
}

static void
members_remove(struct web_req *r, const struct list_def *d,
    const char *rest)
{
	(void)rest;
	members_post(r, d, "remove");
}

/* A change to one member's record: mode (a delivery mode name) or NULL
 * to reset the bounce score. HTTP status; why filled otherwise. Logged
 * as command. */
static int
member_update(struct web_req *r, const struct list_def *d,
    const char *address, const char *mode, const char *command,
    struct buf *why)
{
	struct buf err = BUF_INIT, det = BUF_INIT;
	struct listdb *db = NULL;
	struct list_member m;
	unsigned old = 0;
	int status = 404, rc = 0;

	if (address == NULL || !list_valid_address(address)) {
		buf_set(why, "not an address (user@domain)");
		return 400;
	}
	if (mode != NULL && strcasecmp(mode, "digest") == 0 && !d->digest) {
		buf_printf(why, "%s sends no digests", d->address);
		return 400;
	}
	if ((db = listdb_open(r->w->conf, d, &err)) == NULL ||
	    (rc = listdb_get(db, address, &m)) < 0) {
		buf_printf(why, "member database: %s", buf_cstr(&err));
		status = 503;
	} else if (rc == 0) {
		buf_set(why, "not a member of this list");
	} else {
		old = m.bounce;
		if (mode != NULL && list_member_set_mode(&m, mode) < 0) {
			buf_set(why, "mode is mail, digest or nomail");
			status = 400;
		} else {
			if (mode == NULL)
				m.bounce = 0;
			status = listdb_put(db, &m, &err) == 0 ? 200 : 503;
			if (status != 200)
				buf_printf(why, "member database: %s",
				    buf_cstr(&err));
		}
	}
	listdb_close(db);
	buf_printf(&det, "list=%s member=<%s> ", d->address, address);
	if (mode != NULL)
		buf_printf(&det, "reason=%s", status == 200 ?
		    list_member_mode(&m) : "unchanged");
	else
		buf_printf(&det, "score=%u", old);
	web_log(r, command, status == 200 ? "ok" : "failed", det.data);
	buf_free(&err);
	buf_free(&det);
	return status;
}

/* POST members/set (mode) and members/reset-bounce (mode NULL). */
static void
members_update_post(struct web_req *r, const struct list_def *d,
    const char *mode, const char *command)
{
	struct buf why = BUF_INIT;
	int status = member_update(r, d, web_arg(r, "address"), mode, command,
	    &why);

	members_answer(r, d, status, &why);
}

static void
members_set(struct web_req *r, const struct list_def *d, const char *rest)
{
	const char *mode = web_arg(r, "mode");

	(void)rest;
	if (mode == NULL)
		web_error(r, 400, "mode is mail, digest or nomail");
	else
		members_update_post(r, d, mode, "member-set");
}

static void
members_reset_bounce(struct web_req *r, const struct list_def *d,
    const char *rest)
{
	(void)rest;
	members_update_post(r, d, NULL, "member-reset-bounce");
}

struct import_bad {
	struct web_req *r;
	unsigned shown;
	struct buf lines;               /* the first IMPORT_SHOW_BAD */
};

static void
import_bad_line(void *arg, const char *line)
{
	struct import_bad *b = arg;

	if (b->shown++ >= IMPORT_SHOW_BAD)
		return;
	if (b->r->api) {
		buf_append_str(&b->lines, b->shown > 1 ? "," : "");
		json_escape(&b->lines, line);
	} else {
		buf_append_str(&b->lines, "<li>");
		html_escape(&b->lines, line);
		buf_append_str(&b->lines, "</li>");
	}
}

static void
import_answer(struct web_req *r, const struct list_def *d,
    const struct listdb_import *res, const struct import_bad *b)
{
	if (r->api) {
		r->ctype = "application/json";
		buf_printf(&r->out, "{\"ok\":true,\"added\":%zu,\"already\":%zu,"
		    "\"invalid\":%zu,\"invalid_lines\":[%s]}\n", res->added,
		    res->already, res->invalid, buf_cstr(&b->lines));
		return;
	}
	web_page_begin(r, "Import");
	web_html(r, "<p class=\"msg\" id=\"import-result\">%zu added, %zu "
	    "already members, %zu invalid line(s).</p>", res->added,
	    res->already, res->invalid);
	if (res->invalid > 0) {
		web_html(r, "<p>Invalid lines%s:</p><ul>", res->invalid >
		    IMPORT_SHOW_BAD ? " (the first ones)" : "");
		buf_append(&r->out, b->lines.data, b->lines.len);
		web_html(r, "</ul>");
	}
	web_html(r, "<p><a href=\"/lists/%s/members\">Back to the members</a>"
	    "</p>", d->address);
	web_page_end(r);
}

/* POST members/import: the form's text field, or (API) a text/plain
 * body; at most web_max_body bytes (webd.c), as "dlist import". */
static void
members_import(struct web_req *r, const struct list_def *d,
    const char *rest)
{
	const char *ct = web_header(r, "Content-Type");
	const char *text = web_arg(r, "text");
	struct listdb_import res = { 0, 0, 0, import_bad_line, NULL };
	struct import_bad b = { r, 0, BUF_INIT };
	struct buf err = BUF_INIT, det = BUF_INIT;
	struct buf fname = BUF_INIT, file = BUF_INIT;
	struct listdb *db;
	size_t len;
	int rc = -1;

	(void)rest;
	res.arg = &b;
	if (web_form_file(r, "file", &fname, &file) && file.len > 0) {
		text = file.data;     /* an uploaded file wins over the box */
		len = file.len;
	} else if (text == NULL && ct != NULL &&
	    strncmp(ct, "text/plain", 10) == 0) {
		text = buf_cstr(&r->body);
		len = r->body.len;
	} else
		len = text != NULL ? strlen(text) : 0;
	if (text == NULL || len == 0) {
		web_error(r, 400, "No text to import (a file, the field text, "
		    "or a text/plain body).");
		buf_free(&fname);
		buf_free(&file);
		return;
	}
	if ((db = listdb_open(r->w->conf, d, &err)) != NULL)
		rc = listdb_import(db, text, len, &res, &err);
	listdb_close(db);
	buf_printf(&det, "list=%s count=%zu reason=\"%zu already, %zu "
	    "invalid\"", d->address, res.added, res.already, res.invalid);
	web_log(r, "member-import", rc == 0 ? "ok" : "failed", det.data);
	if (rc < 0)
		web_error(r, 503, buf_cstr(&err));
	else
		import_answer(r, d, &res, &b);
	buf_free(&err);
	buf_free(&det);
	buf_free(&b.lines);
	buf_free(&fname);
	buf_free(&file);
}

/* --- members' own pages ---------------------------------------------- */

static void
me_page(struct web_req *r, const char *rest)
{
	const struct lists *all = lists_cache_get(&r->w->lists, NULL);
	unsigned shown = 0;

	(void)rest;
	web_page_begin(r, "My subscriptions");
	web_html(r, "<table><tr><th>List</th><th>Delivery</th><th>Change"
	    "</th></tr>");
	for (size_t i = 0; i < all->count; i++) {
		const struct list_def *d = &all->items[i];
		struct buf err = BUF_INIT;
		struct listdb *db = listdb_open(r->w->conf, d, &err);
		struct list_member m;

		if (db != NULL && listdb_get(db, r->auth.user, &m) == 1) {
			const char *mode = list_member_mode(&m);

			web_html(r, "<tr><td>%s <a href=\"/lists/%s/archive\">"
			    "archive</a> <a href=\"/lists/%s/files\">files</a>"
			    "</td><td>%s</td><td><form class=\"inline\" method="
			    "\"post\" action=\"/me/set\"><input type=\"hidden\" "
			    "name=\"list\" value=\"%s\"><select name=\"mode\">",
			    d->address, d->address, d->address, mode,
			    d->address);
			for (size_t k = 0; k < 3; k++) {
				static const char *const modes[] = { "mail",
				    "digest", "nomail" };

				web_html(r, "<option%s>%s</option>",
				    strcmp(modes[k], mode) == 0 ? " selected" :
				    "", modes[k]);
			}
			web_html(r, "</select>");
			web_csrf_field(r);
			web_html(r, " <button>Set</button></form></td></tr>");
			shown++;
		}
		listdb_close(db);
		buf_free(&err);
	}
	web_html(r, "</table>");
	if (shown == 0)
		web_html(r, "<p>You are subscribed to no list.</p>");
	web_page_end(r);
}

static void
me_set(struct web_req *r, const char *rest)
{
	const struct lists *all = lists_cache_get(&r->w->lists, NULL);
	const char *list = web_arg(r, "list"), *mode = web_arg(r, "mode");
	const struct list_def *d = list != NULL ? lists_find(all, list) : NULL;
	struct buf why = BUF_INIT;
	int status;

	(void)rest;
	if (d == NULL || mode == NULL) {
		web_error(r, 404, "No such list or mode.");
		return;
	}
	status = member_update(r, d, r->auth.user, mode, "member-set", &why);
	if (status == 200)
		web_redirect(r, "/me");
	else
		web_error(r, status, status == 404 ? "You are not a member of "
		    "this list." : buf_cstr(&why));
	buf_free(&why);
}

/* RFC 8058: POST with List-Unsubscribe=One-Click to the URL of the
 * member's List-Unsubscribe field; GET shows a button for the same. */
static void
unsubscribe(struct web_req *r, const char *rest)
{
	const struct lists *all = lists_cache_get(&r->w->lists, NULL);
	const char *list = web_arg(r, "list"), *member = web_arg(r, "member");
	const char *token = web_arg(r, "token");
	const struct list_def *d = list != NULL ? lists_find(all, list) : NULL;
	char want[LIST_UNSUB_TOKEN_LEN + 1];
	struct buf why = BUF_INIT;
	bool post = strcmp(r->method, "POST") == 0;

	(void)rest;
	if (d == NULL) {
		web_error(r, 404, "No such list.");
		return;
	}
	if (member == NULL || token == NULL ||
	    list_unsub_token(r->w->conf, d, member, want) < 0 ||
	    strlen(token) != LIST_UNSUB_TOKEN_LEN ||
	    CRYPTO_memcmp(want, token, LIST_UNSUB_TOKEN_LEN) != 0) {
		web_error(r, 403, "This unsubscribe link is not valid. Send "
		    "\"unsubscribe\" to the list's -request address instead.");
		return;
	}
	if (!post) {
		web_page_begin(r, "Unsubscribe");
		web_html(r, "<form class=\"box\" method=\"post\"><p>Remove %s "
		    "from %s?</p><input type=\"hidden\" name=\"list\" value=\"%s"
		    "\"><input type=\"hidden\" name=\"member\" value=\"%s\">"
		    "<input type=\"hidden\" name=\"token\" value=\"%s\"><button>"
		    "Unsubscribe</button></form>", member, d->address,
		    d->address, member, token);
		web_page_end(r);
		return;
	}
	if (member_change(r, d, false, member, &why) == 500) {
		web_error(r, 500, buf_cstr(&why));
	} else {
		web_page_begin(r, "Unsubscribed");
		web_html(r, "<p>%s no longer receives %s.</p>", member,
		    d->address);
		web_page_end(r);
	}
	buf_free(&why);
}

/* The confirm link of a subscribe/unsubscribe request (listd's
 * confirmation mail, with list_web_url): GET shows what would be
 * confirmed, POST writes "confirm TOKEN" from the token's address to
 * LIST-request@ into the list spool, so that the list worker confirms
 * with its own code (and answers by mail). The token is the proof: no
 * login. */
static void
confirm(struct web_req *r, const char *rest)
{
	const struct lists *all = lists_cache_get(&r->w->lists, NULL);
	const char *list = web_arg(r, "list"), *id = web_arg(r, "token");
	const struct list_def *d = list != NULL ? lists_find(all, list) : NULL;
	struct buf msg = BUF_INIT, err = BUF_INIT, det = BUF_INIT;
	struct web_token t;
	bool sub;

	(void)rest;
	if (d == NULL || web_token_read(r->w, d, id, &t) != 1 ||
	    t.expires <= (long long)time(NULL) ||
	    (strcmp(t.action, "subscribe") != 0 &&
	    strcmp(t.action, "unsubscribe") != 0)) {
		web_error(r, 404, "This confirmation link is unknown or has "
		    "expired. Send your request to the list again.");
		return;
	}
	sub = strcmp(t.action, "subscribe") == 0;
	if (strcmp(r->method, "POST") != 0) {
		web_page_begin(r, "Confirm");
		web_html(r, "<form class=\"box\" method=\"post\"><p>%s %s %s "
		    "%s?</p><input type=\"hidden\" name=\"list\" value=\"%s\">"
		    "<input type=\"hidden\" name=\"token\" value=\"%s\"><button>"
		    "Confirm</button></form>", sub ? "Subscribe" : "Unsubscribe",
		    t.address, sub ? "to" : "from", d->address, d->address, id);
		web_page_end(r);
		return;
	}
	buf_printf(&msg, "confirm %s\n", id);
	buf_printf(&det, "list=%s member=<%s> token=%s", d->address,
	    t.address, id);
	if (web_list_command(r, d, t.address, msg.data, &err) < 0) {
		web_log(r, "confirm", "failed", det.data);
		web_error(r, 503, "The list cannot take the confirmation now; "
		    "try again later.");
	} else {
		web_log(r, "confirm", "ok", det.data);
		web_page_begin(r, "Confirmed");
		web_html(r, "<p class=\"msg\" id=\"confirmed\">Thank you: the "
		    "request to %s %s %s is confirmed. A reply follows by mail."
		    "</p>", sub ? "subscribe" : "unsubscribe", t.address,
		    d->address);
		web_page_end(r);
	}
	buf_free(&msg);
	buf_free(&err);
	buf_free(&det);
}

const struct web_list_route web_member_list_routes[] = {
	{ "GET", "members", members_show },
	{ "POST", "members/add", members_add },
	{ "POST", "members/remove", members_remove },
	{ "POST", "members/set", members_set },
	{ "POST", "members/reset-bounce", members_reset_bounce },
	{ "POST", "members/import", members_import },
	{ "GET", "members.csv", members_csv },
};
const size_t web_member_list_route_count =
    sizeof(web_member_list_routes) / sizeof(web_member_list_routes[0]);

const struct web_route web_member_routes[] = {
	{ "GET", "/me", NEED_LOGIN, me_page },
	{ "POST", "/me/set", NEED_LOGIN, me_set },
	{ "GET", "/unsubscribe", NEED_NONE, unsubscribe },
	{ "POST", "/unsubscribe", NEED_NONE, unsubscribe },
	{ "GET", "/confirm", NEED_NONE, confirm },
	{ "POST", "/confirm", NEED_NONE, confirm },
};
const size_t web_member_route_count =
    sizeof(web_member_routes) / sizeof(web_member_routes[0]);
