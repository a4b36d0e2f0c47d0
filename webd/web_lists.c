/*
 * web_lists.c - mailing lists in the web manager (see webd.h): the index
 * of the lists a caller manages and the dispatch of
 * everything under /lists/LIST/ to the files that serve it.
 *
 *   GET  /lists                          the lists the caller manages
 *                                        (and, for administrators, the
 *                                        form to create one)
 *   GET  /lists/LIST                     its settings (web_list_admin.c)
 *   and the same under /api/v1/lists[/LIST] in JSON.
 *
 * Pages under a list (/lists/LIST/TAIL, /api/v1/lists/LIST/TAIL) are
 * rows of the per-file tables web_member_list_routes[] (web_members.c),
 * web_moderation_routes[] (web_moderation.c), web_list_admin_routes[]
 * (web_list_admin.c: settings, delete), ...: list_for() finds the
 * list and checks the caller's rights once, before any of them runs.
 * The tables of list_tables[] marked members (the archive, reading the
 * shared files) are open to the list's members too (member_may(): the
 * caller's own login, not a token).
 *
 * Who: administrators see every list; an owner or moderator only the
 * lists naming them (another list's pages answer 403, an unknown one
 * 404); an API token of scope list:LIST only that list.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listdb.h"
#include "util.h"
#include "webd.h"

/* The pages under /lists/LIST/, one table per file; members: the list's
 * members may use them too (member_may()), not only its managers. */
static const struct {
	const struct web_list_route *t;
	const size_t *n;
	bool members;
} list_tables[] = {
	{ web_member_list_routes, &web_member_list_route_count, false },
	{ web_moderation_routes, &web_moderation_route_count, false },
	{ web_list_admin_routes, &web_list_admin_route_count, false },
	{ web_archive_routes, &web_archive_route_count, true },
	{ web_files_member_routes, &web_files_member_route_count, true },
	{ web_files_routes, &web_files_route_count, false },
};

/* The route of method and tail, the part after its prefix in *rest and
 * whether members may use it in *members; NULL: none. */
static const struct web_list_route *
list_route_find(const char *method, const char *tail, const char **rest,
    bool *members)
{
	for (size_t t = 0; t < sizeof(list_tables) / sizeof(list_tables[0]);
	    t++)
		for (size_t i = 0; i < *list_tables[t].n; i++) {
			const struct web_list_route *rt = &list_tables[t].t[i];
			size_t n = strlen(rt->tail);

			if (strcmp(rt->method, method) != 0)
				continue;
			*members = list_tables[t].members;
			if (n > 0 && rt->tail[n - 1] == '/') {
				if (strncmp(tail, rt->tail, n) == 0 &&
				    tail[n] != '\0') {
					*rest = tail + n;
					return rt;
				}
			} else if (strcmp(tail, rt->tail) == 0) {
				*rest = "";
				return rt;
			}
		}
	return NULL;
}

/* Is tail a members' page and the caller (logged in) a member of d? */
static bool
member_may(struct web_req *r, const struct list_def *d, const char *tail)
{
	const char *sub;
	bool open = false;
	const struct web_list_route *rt = list_route_find(r->method, tail,
	    &sub, &open);
	struct buf err = BUF_INIT;
	struct list_member m;
	struct listdb *db;
	int rc = 0;

	if (rt == NULL || !open || r->auth.token)
		return false;
	if ((db = listdb_open(r->w->conf, d, &err)) != NULL) {
		rc = listdb_get(db, r->auth.user, &m);
		listdb_close(db);
	}
	buf_free(&err);
	return rc == 1;
}

/* The list named by the first path segment of rest, with the caller's
 * rights checked (members too for the tables marked members); NULL after
 * answering 404 or 403. *tail: what follows ("", "members",
 * "members/add", ...). */
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
	if (!web_may_manage_list(r, d) && !member_may(r, d, *tail)) {
		web_log(r, "list", "refused", "reason=\"not an owner or "
		    "moderator of this list\"");
		web_error(r, 403, "You do not manage this list.");
		return NULL;
	}
	return d;
}

/* --- the index ------------------------------------------------------- */

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
			    "moderation</a> <a href=\"/lists/%s/archive\">"
			    "archive</a> <a href=\"/lists/%s/files\">files"
			    "</a></td></tr>", d->address, d->address,
			    d->description, d->address, d->address,
			    d->address, d->address);
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
	web_list_create_form(r);
	web_page_end(r);
}

/* --- dispatch of /lists/LIST/... and /api/v1/lists/LIST/... ----------- */

static void
list_any(struct web_req *r, const char *rest)
{
	const char *tail, *sub = "";
	const struct list_def *d = list_for(r, rest, &tail);
	const struct web_list_route *rt;
	bool members;

	if (d == NULL)
		return;
	if (*tail == '\0' && strcmp(r->method, "GET") == 0) {
		web_list_settings(r, d);
		return;
	}
	rt = list_route_find(r->method, tail, &sub, &members);
	if (rt == NULL)
		web_error(r, 404, strcmp(r->method, "GET") == 0 ?
		    "No such page." : "No such action.");
	else
		rt->fn(r, d, sub);
}

void
web_answer_change(struct web_req *r, int status, const char *why,
    const char *back)
{
	if (status != 200)
		web_error(r, status, why);
	else if (r->api)
		web_json_output(r, "done");
	else
		web_redirect(r, back);
}

const struct web_route web_list_routes[] = {
	{ "GET", "/lists", NEED_LOGIN, lists_index },
	{ "POST", "/lists/create", NEED_ADMIN, web_list_create },
	{ "POST", "/api/v1/lists", NEED_ADMIN, web_list_create },
	{ "GET", "/lists/", NEED_LOGIN, list_any },
	{ "POST", "/lists/", NEED_LOGIN, list_any },
	{ "GET", "/api/v1/lists", NEED_LOGIN, lists_index },
	{ "GET", "/api/v1/lists/", NEED_LOGIN, list_any },
	{ "POST", "/api/v1/lists/", NEED_LOGIN, list_any },
};
const size_t web_list_route_count =
    sizeof(web_list_routes) / sizeof(web_list_routes[0]);
