/*
 * web_members.c - list members in the web manager (see webd.h):
 *
 *   GET  /lists/LIST/members?q=&page=    members, paged (owners)
 *   POST /lists/LIST/members/add|remove  (address)
 *   GET  /me                             my subscriptions
 *   POST /me/set                         (list, mode: mail|digest|nomail)
 *   GET|POST /unsubscribe?list=&member=&token=   RFC 8058 one-click
 *   and the list pages under /api/v1/lists/LIST/members[/VERB] in JSON.
 *
 * Members are changed in the list's database (listdb.h) as dlist does.
 * Members change only their own subscription. The one-click unsubscribe
 * checks the member's token (list_unsub_token(), as dlist oneclick)
 * before removing.
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

static void
members_show(struct web_req *r, const struct list_def *d,
    const char *rest)
{
	struct list_member *m = NULL;
	size_t n = 0, shown = 0, match = 0;
	const char *q = web_arg(r, "q");
	unsigned page = web_uint_arg(r, "page", 0, 10000000);
	unsigned offset = r->api ? web_uint_arg(r, "offset", 0, 100000000) :
	    page * WEB_PAGE_SIZE;
	unsigned limit = r->api ? web_uint_arg(r, "limit", WEB_PAGE_SIZE,
	    1000) : WEB_PAGE_SIZE;

	(void)rest;
	if (q == NULL)
		q = "";
	if (listdb_members(r->w->conf, d, &m, &n) < 0) {
		web_error(r, 503, "The member database is unavailable.");
		return;
	}
	if (r->api) {
		r->ctype = "application/json";
		buf_append_str(&r->out, "{\"ok\":true,\"members\":[");
	} else {
		web_page_begin(r, "Members");
		web_html(r, "<p><a href=\"/lists/%s\">%s</a></p><form "
		    "method=\"get\"><input type=\"text\" name=\"q\" value=\"%s\" "
		    "placeholder=\"search\"> <button>Search</button></form>"
		    "<table><tr><th>Member</th><th>Delivery</th><th>Bounce "
		    "score</th><th></th></tr>", d->address, d->address, q);
	}
	for (size_t i = 0; i < n; i++) {
		const struct list_member *x = &m[i];
		const char *mode = x->nomail ? "nomail" : x->digest ? "digest" :
		    "mail";

		if (q[0] != '\0' && strcasestr(x->address, q) == NULL)
			continue;
		if (match++ < offset || shown >= limit)
			continue;
		if (r->api) {
			buf_append_str(&r->out, shown > 0 ? ",{\"address\":" :
			    "{\"address\":");
			json_escape(&r->out, x->address);
			buf_printf(&r->out, ",\"mode\":\"%s\",\"bounce\":%u}",
			    mode, x->bounce);
		} else {
			web_html(r, "<tr><td>%s</td><td>%s</td><td>%u</td><td>"
			    "<form class=\"inline\" method=\"post\" action=\""
			    "/lists/%s/members/remove\"><input type=\"hidden\" "
			    "name=\"address\" value=\"%s\">", x->address, mode,
			    x->bounce, d->address, x->address);
			web_csrf_field(r);
			web_html(r, "<button>Remove</button></form></td></tr>");
		}
		shown++;
	}
	if (r->api) {
		buf_printf(&r->out, "],\"total\":%zu}\n", match);
	} else {
		web_html(r, "</table><p>%zu member(s).", match);
		if (page > 0)
			web_html(r, " <a href=\"?q=%s&amp;page=%u\">Previous</a>",
			    q, page - 1);
		if ((size_t)(page + 1) * WEB_PAGE_SIZE < match)
			web_html(r, " <a href=\"?q=%s&amp;page=%u\">Next</a>", q,
			    page + 1);
		web_html(r, "</p><h2>Add a member</h2><form class=\"box\" "
		    "method=\"post\" action=\"/lists/%s/members/add\">",
		    d->address);
		web_csrf_field(r);
		web_html(r, "<input type=\"text\" name=\"address\" "
		    "placeholder=\"user@domain\"> <button>Add</button></form>");
		web_page_end(r);
	}
	free(m);
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

static void
members_post(struct web_req *r, const struct list_def *d, const char *verb)
{
	struct buf why = BUF_INIT, back = BUF_INIT;
	int status = member_change(r, d, strcmp(verb, "add") == 0,
	    web_arg(r, "address"), &why);

	buf_printf(&back, "/lists/%s/members", d->address);
	web_answer_change(r, status, buf_cstr(&why), back.data);
	buf_free(&why);
	buf_free(&back);
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
			web_html(r, "<tr><td>%s</td><td>%s</td><td><form class="
			    "\"inline\" method=\"post\" action=\"/me/set\">"
			    "<input type=\"hidden\" name=\"list\" value=\"%s\">"
			    "<select name=\"mode\"><option>mail</option>"
			    "<option>digest</option><option>nomail</option>"
			    "</select>", d->address, m.nomail ? "nomail" :
			    m.digest ? "digest" : "mail", d->address);
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
	struct buf err = BUF_INIT, det = BUF_INIT;
	struct listdb *db;
	struct list_member m;
	int status = 404;

	(void)rest;
	if (d == NULL || mode == NULL || (strcmp(mode, "mail") != 0 &&
	    strcmp(mode, "digest") != 0 && strcmp(mode, "nomail") != 0)) {
		web_error(r, 404, "No such list or mode.");
		return;
	}
	db = listdb_open(r->w->conf, d, &err);
	if (db != NULL && listdb_get(db, r->auth.user, &m) == 1) {
		m.nomail = strcmp(mode, "nomail") == 0;
		m.digest = strcmp(mode, "digest") == 0;
		status = listdb_put(db, &m, &err) == 0 ? 200 : 500;
	}
	listdb_close(db);
	buf_printf(&det, "list=%s member=<%s> reason=%s", d->address,
	    r->auth.user, mode);
	web_log(r, "member-set", status == 200 ? "ok" : "failed", det.data);
	if (status == 200)
		web_redirect(r, "/me");
	else
		web_error(r, status, "You are not a member of this list.");
	buf_free(&err);
	buf_free(&det);
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

const struct web_list_route web_member_list_routes[] = {
	{ "GET", "members", members_show },
	{ "POST", "members/add", members_add },
	{ "POST", "members/remove", members_remove },
};
const size_t web_member_list_route_count =
    sizeof(web_member_list_routes) / sizeof(web_member_list_routes[0]);

const struct web_route web_member_routes[] = {
	{ "GET", "/me", NEED_LOGIN, me_page },
	{ "POST", "/me/set", NEED_LOGIN, me_set },
	{ "GET", "/unsubscribe", NEED_NONE, unsubscribe },
	{ "POST", "/unsubscribe", NEED_NONE, unsubscribe },
};
const size_t web_member_route_count =
    sizeof(web_member_routes) / sizeof(web_member_routes[0]);
