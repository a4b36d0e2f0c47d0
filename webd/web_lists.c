/*
 * web_lists.c - mailing lists in the web manager (see webd.h):
 *
 *   GET  /lists                          the lists the caller manages
 *   GET  /lists/LIST                     its settings (lists.dat)
 *   GET  /lists/LIST/members?q=&page=    members, paged
 *   POST /lists/LIST/members/add|remove  (address)
 *   GET  /lists/LIST/moderation          held posts with a preview
 *   POST /lists/LIST/moderation/approve|reject   (id)
 *   GET  /me                             my subscriptions
 *   POST /me/set                         (list, mode: mail|digest|nomail)
 *   GET|POST /unsubscribe?list=&member=&token=   RFC 8058 one-click
 *   and the same under /api/v1/lists[/LIST[/members|moderation[/VERB]]]
 *   in JSON.
 *
 * Who: administrators see every list; an owner or moderator only the
 * lists naming them (another list's pages answer 403, an unknown one
 * 404); an API token of scope list:LIST only that list. Members change
 * only their own subscription.
 *
 * Members are changed in the list's database (listdb.h) as dlist does.
 * Approve and reject are the list worker's own commands: the web manager
 * writes a command mail "approve ID" from the moderator to
 * LIST-request@ into the list spool (listspool_write_mem()), so the
 * post is distributed, and the moderator's rights checked, by the same
 * code as a moderator's mail. The one-click unsubscribe checks the
 * member's token (list_unsub_token(), as dlist oneclick) before removing.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "listdb.h"
#include "listspool.h"
#include "log.h"
#include "util.h"
#include "webd.h"

#define HELD_PREVIEW_MAX 4096
#define HELD_MAX 200

static const char *const sub_words[] = { "open", "confirm", "approve",
	"closed" };
static const char *const post_words[] = { "members", "anyone", "moderated",
	"announce" };
static const char *const reply_words[] = { "list", "sender", "none" };

/* The list named by the first path segment of rest, with the caller's
 * rights checked; NULL after answering 404 or 403. *tail: what follows
 * ("", "members", "members/add", ...). */
static const struct list_def *
list_for(struct web_req *r, const char *rest, const char **tail)
{
	const struct lists *all = lists_cache_get(&r->w->lists, NULL);
	size_t n = strcspn(rest, "/");
	char *name = xstrndup(rest, n);
	const struct list_def *d = lists_find(all, name);

	free(name);
	*tail = rest + n + (rest[n] == '/');
	if (d == NULL) {
		web_error(r, 404, "No such list.");
		return NULL;
	}
	if (!web_may_manage_list(r, d)) {
		web_log(r, "list", "refused", "reason=\"not an owner or "
		    "moderator of this list\"");
		web_error(r, 403, "You do not manage this list.");
		return NULL;
	}
	return d;
}

/* --- settings -------------------------------------------------------- */

static void
lists_index(struct web_req *r, const char *rest)
{
	const struct lists *all = lists_cache_get(&r->w->lists, NULL);
	unsigned shown = 0;

	(void)rest;
	if (r->api) {
		r->ctype = "application/json";
		buf_append_str(&r->out, "{\"ok\":true,\"lists\":[");
	} else {
		web_page_begin(r, "Lists");
		web_html(r, "<table><tr><th>List</th><th>Description</th>"
		    "<th></th></tr>");
	}
	for (size_t i = 0; i < all->count; i++) {
		const struct list_def *d = &all->items[i];

		if (!web_may_manage_list(r, d))
			continue;
		if (r->api) {
			if (shown > 0)
				buf_append_char(&r->out, ',');
			json_escape(&r->out, d->address);
		} else
			web_html(r, "<tr><td><a href=\"/lists/%s\">%s</a></td>"
			    "<td>%s</td><td><a href=\"/lists/%s/members\">"
			    "members</a> <a href=\"/lists/%s/moderation\">"
			    "moderation</a></td></tr>", d->address, d->address,
			    d->description, d->address, d->address);
		shown++;
	}
	if (r->api) {
		buf_append_str(&r->out, "]}\n");
		return;
	}
	web_html(r, "</table>");
	if (shown == 0)
		web_html(r, "<p>You manage no list. Your own subscriptions are "
		    "under <a href=\"/me\">My subscriptions</a>.</p>");
	web_page_end(r);
}

static void
settings_row(struct web_req *r, const char *key, const char *value,
    const char *doc)
{
	if (r->api) {
		buf_append_char(&r->out, ',');
		json_escape(&r->out, key);
		buf_append_char(&r->out, ':');
		json_escape(&r->out, value);
		return;
	}
	web_html(r, "<tr><th>%s</th><td>%s</td><td>%s</td></tr>", key, value,
	    doc);
}

static void
strlist_text(const struct strlist *l, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < l->count; i++)
		buf_printf(out, "%s%s", i > 0 ? " " : "", l->items[i]);
}

static void
list_settings(struct web_req *r, const struct list_def *d)
{
	struct buf v = BUF_INIT;
	char num[32];

	if (r->api) {
		r->ctype = "application/json";
		buf_append_str(&r->out, "{\"ok\":true,\"address\":");
		json_escape(&r->out, d->address);
	} else {
		web_page_begin(r, d->address);
		web_html(r, "<p><a href=\"/lists/%s/members\">Members</a> | "
		    "<a href=\"/lists/%s/moderation\">Moderation queue</a></p>"
		    "<table><tr><th>Setting</th><th>Value</th><th>Meaning"
		    "</th></tr>", d->address, d->address);
	}
	settings_row(r, "description", d->description, "Shown in list "
	    "replies and the lists index.");
	strlist_text(&d->owners, &v);
	settings_row(r, "owner", v.data != NULL ? v.data : "", "Owners "
	    "approve subscriptions and moderate.");
	strlist_text(&d->moderators, &v);
	settings_row(r, "moderator", v.data != NULL ? v.data : "",
	    "Moderators approve or reject held posts.");
	settings_row(r, "subscribe", sub_words[d->subscribe], "open, "
	    "confirm (by mail), approve (by an owner) or closed.");
	settings_row(r, "post", post_words[d->post], "Who may post: "
	    "members, anyone, moderated (all held) or announce (owners).");
	settings_row(r, "reply_to", reply_words[d->reply_to], "Where "
	    "replies go: the list, the sender, or no Reply-To.");
	settings_row(r, "subject_prefix", d->subject_prefix, "Put before "
	    "every subject; empty for none.");
	snprintf(num, sizeof(num), "%llu", (unsigned long long)d->max_size);
	settings_row(r, "max_size", num, "Largest post in bytes (0: the "
	    "server's limit).");
	settings_row(r, "archive", d->archive ? "yes" : "no", "Keep an "
	    "archive of posts.");
	settings_row(r, "digest", d->digest ? "yes" : "no", "Members may "
	    "receive digests.");
	snprintf(num, sizeof(num), "%u", d->bounce_threshold);
	settings_row(r, "bounce_threshold", num, "Bounce score that "
	    "stops mail to a member (nomail).");
	if (r->api)
		buf_append_str(&r->out, "}\n");
	else {
		web_html(r, "</table><p>Settings are changed in lists.dat "
		    "(lists.dat(5)); the list picks the change up at once."
		    "</p>");
		web_page_end(r);
	}
	buf_free(&v);
}

/* --- members --------------------------------------------------------- */

static void
members_show(struct web_req *r, const struct list_def *d)
{
	struct list_member *m = NULL;
	size_t n = 0, shown = 0, match = 0;
	const char *q = web_arg(r, "q");
	unsigned page = web_uint_arg(r, "page", 0, 10000000);
	unsigned offset = r->api ? web_uint_arg(r, "offset", 0, 100000000) :
	    page * WEB_PAGE_SIZE;
	unsigned limit = r->api ? web_uint_arg(r, "limit", WEB_PAGE_SIZE,
	    1000) : WEB_PAGE_SIZE;

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

/* --- moderation ------------------------------------------------------ */

struct held {
	char id[64];
	char poster[LIST_ADDRESS_MAX + 1];
	long long expires;
};

static int
held_cmp(const void *a, const void *b)
{
	const struct held *x = a, *y = b;

	return x->expires < y->expires ? -1 : x->expires > y->expires;
}

/* The held posts of d: tokens of action "post" (listd/token.c). */
static size_t
held_list(struct web_req *r, const struct list_def *d, struct held *out,
    size_t max)
{
	struct buf dir = BUF_INIT, p = BUF_INIT, text = BUF_INIT;
	struct dirent *de;
	size_t n = 0;
	DIR *dp;

	list_state_path(r->w->conf, d, "tokens", &dir);
	dp = opendir(dir.data);
	while (dp != NULL && n < max && (de = readdir(dp)) != NULL) {
		char act[16] = "", addr[LIST_ADDRESS_MAX + 1] = "";
		const char *s;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= 64)
			continue;
		buf_reset(&p);
		buf_printf(&p, "%s/%s", dir.data, de->d_name);
		if (read_file(p.data, &text, 4096) < 0 ||
		    sscanf(buf_cstr(&text), "action %15s\naddress %320s", act,
		    addr) != 2 || strcmp(act, "post") != 0)
			continue;
		snprintf(out[n].id, sizeof(out[n].id), "%s", de->d_name);
		snprintf(out[n].poster, sizeof(out[n].poster), "%s", addr);
		s = strstr(text.data, "\nexpires ");
		out[n].expires = s != NULL ? strtoll(s + 9, NULL, 10) : 0;
		n++;
	}
	if (dp != NULL)
		closedir(dp);
	qsort(out, n, sizeof(*out), held_cmp);
	buf_free(&dir);
	buf_free(&p);
	buf_free(&text);
	return n;
}

/* The first HELD_PREVIEW_MAX bytes of a held post. */
static void
held_preview(struct web_req *r, const struct list_def *d, const char *id,
    struct buf *out)
{
	struct buf p = BUF_INIT;
	char chunk[HELD_PREVIEW_MAX];
	ssize_t n = -1;
	int fd;

	list_state_path(r->w->conf, d, "held", &p);
	buf_printf(&p, "/%s", id);
	buf_reset(out);
	fd = open(p.data, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, chunk, sizeof(chunk));
		close(fd);
	}
	if (n > 0)
		buf_append(out, chunk, (size_t)n);
	buf_free(&p);
}

static void
moderation_show(struct web_req *r, const struct list_def *d)
{
	struct held *h = xcalloc(HELD_MAX, sizeof(*h));
	size_t n = held_list(r, d, h, HELD_MAX);
	struct buf pv = BUF_INIT;

	if (r->api) {
		r->ctype = "application/json";
		buf_append_str(&r->out, "{\"ok\":true,\"held\":[");
		for (size_t i = 0; i < n; i++) {
			buf_append_str(&r->out, i > 0 ? ",{\"id\":" : "{\"id\":");
			json_escape(&r->out, h[i].id);
			buf_append_str(&r->out, ",\"poster\":");
			json_escape(&r->out, h[i].poster);
			buf_printf(&r->out, ",\"expires\":%lld}", h[i].expires);
		}
		buf_append_str(&r->out, "]}\n");
		free(h);
		return;
	}
	web_page_begin(r, "Moderation queue");
	web_html(r, "<p><a href=\"/lists/%s\">%s</a>: %zu held post(s).</p>",
	    d->address, d->address, n);
	for (size_t i = 0; i < n; i++) {
		char when[64];
		time_t t = (time_t)h[i].expires;

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime(&t));
		held_preview(r, d, h[i].id, &pv);
		web_html(r, "<div class=\"box held\" id=\"held-%s\"><p>From "
		    "<b>%s</b>, expires %s</p><pre>%s</pre>", h[i].id,
		    h[i].poster, when, buf_cstr(&pv));
		web_html(r, "<form class=\"inline\" method=\"post\" action=\""
		    "/lists/%s/moderation/approve\"><input type=\"hidden\" "
		    "name=\"id\" value=\"%s\">", d->address, h[i].id);
		web_csrf_field(r);
		web_html(r, "<button name=\"approve\">Approve</button></form> "
		    "<form class=\"inline\" method=\"post\" action=\"/lists/%s/"
		    "moderation/reject\"><input type=\"hidden\" name=\"id\" "
		    "value=\"%s\">", d->address, h[i].id);
		web_csrf_field(r);
		web_html(r, "<button name=\"reject\">Reject</button></form>"
		    "</div>");
	}
	web_page_end(r);
	buf_free(&pv);
	free(h);
}

/* approve or reject held post id: a command mail from the caller to
 * LIST-request@ in the list spool. */
static int
moderate(struct web_req *r, const struct list_def *d, const char *verb,
    const char *id, struct buf *why)
{
	struct buf req = BUF_INIT, msg = BUF_INIT, err = BUF_INIT, det = BUF_INIT;
	const char *rcpt;
	int status = 500;

	if (id == NULL || strlen(id) != strspn(id, "0123456789abcdef") ||
	    *id == '\0' || strlen(id) > 64) {
		buf_set(why, "no valid id");
		return 400;
	}
	if (r->auth.token || !list_is_moderator(d, r->auth.user)) {
		buf_set(why, "only the list's owners and moderators approve "
		    "or reject posts (from their own login)");
		status = 403;
		goto out;
	}
	list_addr(d, "-request", &req);
	rcpt = req.data;
	/* A command of the moderator, not an automatic message: listd
	 * ignores Auto-Submitted mail. */
	buf_printf(&msg, "From: <%s>\nTo: <%s>\nSubject: %s %s\n"
	    "X-Dmail-Via: web\n\n%s %s\n", r->auth.user, rcpt, verb, id, verb,
	    id);
	if (listspool_write_mem(r->w->conf, r->auth.user, &rcpt, 1, msg.data,
	    msg.len, NULL, &err) < 0)
		buf_printf(why, "list spool: %s", buf_cstr(&err));
	else
		status = 200;
out:
	buf_printf(&det, "list=%s token=%s", d->address, id);
	web_log(r, verb, status == 200 ? "ok" : "refused", det.data);
	buf_free(&req);
	buf_free(&msg);
	buf_free(&err);
	buf_free(&det);
	return status;
}

/* --- dispatch of /lists/... and /api/v1/lists/... -------------------- */

static void
list_get(struct web_req *r, const char *rest)
{
	const char *tail;
	const struct list_def *d = list_for(r, rest, &tail);

	if (d == NULL)
		return;
	if (*tail == '\0')
		list_settings(r, d);
	else if (strcmp(tail, "members") == 0)
		members_show(r, d);
	else if (strcmp(tail, "moderation") == 0)
		moderation_show(r, d);
	else
		web_error(r, 404, "No such page.");
}

static void
list_post(struct web_req *r, const char *rest)
{
	const char *tail;
	const struct list_def *d = list_for(r, rest, &tail);
	struct buf why = BUF_INIT, back = BUF_INIT;
	int status;

	if (d == NULL)
		return;
	if (strcmp(tail, "members/add") == 0 ||
	    strcmp(tail, "members/remove") == 0) {
		status = member_change(r, d, strcmp(tail, "members/add") == 0,
		    web_arg(r, "address"), &why);
		buf_printf(&back, "/lists/%s/members", d->address);
	} else if (strcmp(tail, "moderation/approve") == 0 ||
	    strcmp(tail, "moderation/reject") == 0) {
		status = moderate(r, d, tail + 11, web_arg(r, "id"), &why);
		buf_printf(&back, "/lists/%s/moderation?done=%s", d->address,
		    tail + 11);
	} else {
		status = 404;
		buf_set(&why, "No such action.");
	}
	if (status != 200)
		web_error(r, status, buf_cstr(&why));
	else if (r->api)
		web_json_output(r, "done");
	else
		web_redirect(r, back.data);
	buf_free(&why);
	buf_free(&back);
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

const struct web_route web_list_routes[] = {
	{ "GET", "/lists", NEED_LOGIN, lists_index },
	{ "GET", "/lists/", NEED_LOGIN, list_get },
	{ "POST", "/lists/", NEED_LOGIN, list_post },
	{ "GET", "/me", NEED_LOGIN, me_page },
	{ "POST", "/me/set", NEED_LOGIN, me_set },
	{ "GET", "/unsubscribe", NEED_NONE, unsubscribe },
	{ "POST", "/unsubscribe", NEED_NONE, unsubscribe },
	{ "GET", "/api/v1/lists", NEED_LOGIN, lists_index },
	{ "GET", "/api/v1/lists/", NEED_LOGIN, list_get },
	{ "POST", "/api/v1/lists/", NEED_LOGIN, list_post },
};
const size_t web_list_route_count =
    sizeof(web_list_routes) / sizeof(web_list_routes[0]);
