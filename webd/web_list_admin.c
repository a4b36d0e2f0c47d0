/*
 * web_list_admin.c - a list's settings, and creating and deleting lists,
 * in the web manager (see webd.h):
 *
 *   GET  /lists/LIST                 the settings form: every lists.dat
 *                                    key with its one line of lists.dat(5)
 *   POST /lists/LIST/settings        change the keys submitted (owners,
 *                                    administrators, list tokens)
 *   GET  /lists/LIST/delete          the confirmation form (admins)
 *   POST /lists/LIST/delete          delete it (admins; confirm=yes)
 *   POST /lists/create               a new list (admins): address,
 *                                    owner (blank or comma separated),
 *                                    description
 *   and the same under /api/v1: GET /api/v1/lists/LIST (JSON),
 *   POST /api/v1/lists/LIST/settings, POST /api/v1/lists (create),
 *   POST /api/v1/lists/LIST/delete; form or JSON bodies (web_json.c).
 *
 * Changes go through listedit.h, the code dlist uses: lists.dat is
 * edited under its lock, keeps its comments and order, and is replaced
 * atomically only when it parses; listd and every worker see it at once
 * (lists_cache_get()). A value is checked on its own first
 * (list_key_check(), the parser's own rules) so a bad one gets a clear
 * 400 and nothing changes; a key whose value is already the one asked
 * for is left alone (the form sends every key).
 *
 * Who: as Mailman, owners change every setting of their list, owners and
 * moderators included; moderators see the settings but may not change
 * them (403). Creating and deleting lists is for administrators.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listdb.h"
#include "listedit.h"
#include "log.h"
#include "util.h"
#include "webd.h"

/* May the caller change d (list_for() has checked it may see it)? */
static bool
may_change(const struct web_req *r, const struct list_def *d)
{
	return r->auth.admin || r->auth.token ||
	    list_is_owner(d, r->auth.user);
}

/* The HTTP status of a LISTS_EDIT_ code. */
static int
edit_status(int code)
{
	switch (code) {
	case 0:
		return 200;
	case LISTS_EDIT_INVALID:
		return 400;
	case LISTS_EDIT_NOLIST:
		return 404;
	case LISTS_EDIT_EXISTS:
		return 409;
	default:
		return 500;
	}
}

/* reason="WHY" on one line: line breaks as "; ", double quotes as
 * single ones. */
static void
add_reason(struct buf *detail, const struct buf *why)
{
	const char *s = buf_cstr(why);
	size_t n = why->len;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		n--;
	buf_append_str(detail, " reason=\"");
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\n')
			buf_append_str(detail, "; ");
		else
			buf_append_char(detail, s[i] == '"' ? '\'' :
			    (unsigned char)s[i] < ' ' ? ' ' : s[i]);
	buf_append_char(detail, '"');
}

/* --- the settings ---------------------------------------------------- */

static void
settings_json(struct web_req *r, const struct list_def *d)
{
	struct buf v = BUF_INIT;

	r->ctype = "application/json";
	buf_append_str(&r->out, "{\"ok\":true,\"address\":");
	json_escape(&r->out, d->address);
	for (size_t i = 0; i < list_key_count; i++) {
		const struct list_key *k = &list_keys[i];

		if (k->kind == LIST_KEY_HASH) {
			buf_printf(&r->out, ",\"%s_set\":%s", k->name,
			    *d->password != '\0' ? "true" : "false");
			continue;
		}
		list_key_value(d, k->name, &v);
		buf_printf(&r->out, ",\"%s\":", k->name);
		json_escape(&r->out, buf_cstr(&v));
	}
	buf_append_str(&r->out, "}\n");
	buf_free(&v);
}

/* The input of one key: a select box for words and yes/no. */
static void
settings_input(struct web_req *r, const struct list_def *d,
    const struct list_key *k, bool edit)
{
	static const char *const yesno[] = { "yes", "no", NULL };
	const char *const *words = k->kind == LIST_KEY_BOOL ? yesno : k->words;
	struct buf v = BUF_INIT;

	list_key_value(d, k->name, &v);
	if (k->kind == LIST_KEY_HASH) {
		web_html(r, "%s", *d->password != '\0' ? "set" : "not set");
		if (edit)
			web_html(r, "<br><input type=\"password\" id=\"k-%s\" "
			    "name=\"%s\" "
			    "autocomplete=\"new-password\" placeholder=\"new "
			    "password (unchanged when empty)\">", k->name,
			    k->name);
	} else if (!edit) {
		web_html(r, "%s", buf_cstr(&v));
	} else if (words != NULL) {
		web_html(r, "<select id=\"k-%s\" name=\"%s\">", k->name,
		    k->name);
		for (size_t i = 0; words[i] != NULL; i++)
			web_html(r, "<option%s>%s</option>",
			    strcmp(words[i], buf_cstr(&v)) == 0 ?
			    " selected" : "", words[i]);
		web_html(r, "</select>");
	} else {
		web_html(r, "<input type=\"text\" id=\"k-%s\" name=\"%s\" "
		    "value=\"%s\">", k->name, k->name, buf_cstr(&v));
	}
	buf_free(&v);
}

void
web_list_settings(struct web_req *r, const struct list_def *d)
{
	bool edit = may_change(r, d);

	if (r->api) {
		settings_json(r, d);
		return;
	}
	web_page_begin(r, d->address);
	web_html(r, "<p><a href=\"/lists/%s/members\">Members</a> | "
	    "<a href=\"/lists/%s/moderation\">Moderation queue</a> | "
	    "<a href=\"/lists/%s/archive\">Archive</a> | "
	    "<a href=\"/lists/%s/files\">Files</a>",
	    d->address, d->address, d->address, d->address);
	if (r->auth.admin)
		web_html(r, " | <a href=\"/lists/%s/delete\">Delete this "
		    "list</a>", d->address);
	web_html(r, "</p>");
	if (web_arg(r, "saved") != NULL)
		web_html(r, "<p class=\"msg\">Settings saved.</p>");
	if (edit) {
		web_html(r, "<form method=\"post\" action=\"/lists/%s/"
		    "settings\">", d->address);
		web_csrf_field(r);
	} else
		web_html(r, "<p>Only the list's owners and the administrators "
		    "change its settings.</p>");
	web_html(r, "<table><tr><th>Setting</th><th>Value</th><th>Meaning"
	    "</th></tr>");
	for (size_t i = 0; i < list_key_count; i++) {
		web_html(r, "<tr><th><label for=\"k-%s\">%s</label></th><td>",
		    list_keys[i].name, list_keys[i].name);
		settings_input(r, d, &list_keys[i], edit);
		web_html(r, "</td><td>%s</td></tr>", list_keys[i].doc);
	}
	web_html(r, "</table>");
	if (edit)
		web_html(r, "<p><button type=\"submit\">Save settings</button>"
		    "</p></form>");
	web_html(r, "<p>The settings live in lists.dat (lists.dat(5)); the "
	    "list uses a change at once.</p>");
	web_page_end(r);
}

/* The keys to change: at most one per field. */
struct change {
	const char *keys[WEB_MAX_FIELDS];
	const char *values[WEB_MAX_FIELDS];     /* NULL: the key goes */
	char *owned[WEB_MAX_FIELDS];
	size_t n;
	struct buf names;                       /* "post,subject_prefix" */
};

static void
change_add(struct change *c, const char *key, const char *value)
{
	c->keys[c->n] = key;
	c->owned[c->n] = value != NULL ? xstrdup(value) : NULL;
	c->values[c->n] = c->owned[c->n];
	c->n++;
	buf_printf(&c->names, "%s%s", c->names.len > 0 ? "," : "", key);
}

static void
change_free(struct change *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->owned[i]);
	buf_free(&c->names);
}

/* One submitted field: 0 (added to c when it changes d), else the HTTP
 * status with the reason in why. */
static int
field_change(struct web_req *r, const struct list_def *d,
    const struct web_field *f, struct change *c, struct buf *why)
{
	const struct list_key *k = list_key_find(f->name);
	struct buf norm = BUF_INIT, cur = BUF_INIT;
	char hash[256];
	int status = 0;

	for (size_t i = 0; k != NULL && i < c->n; i++)
		if (strcmp(c->keys[i], k->name) == 0)
			k = NULL;
	if (k == NULL) {
		buf_printf(why, "unknown or repeated setting '%s'", f->name);
		return 400;
	}
	if (k->kind == LIST_KEY_HASH) {
		if (*f->value == '\0')
			return 0;         /* the form's empty password field */
		status = list_password_hash(r->w->conf, f->value, hash,
		    sizeof(hash), why);
		if (status == 0)
			change_add(c, k->name, hash);
		explicit_bzero(hash, sizeof(hash));
		return status == 0 ? 0 : status == -1 ? 400 : 500;
	}
	if (list_key_check(k->name, f->value, &norm, why) < 0) {
		status = 400;
	} else {
		list_key_value(d, k->name, &cur);
		if (strcmp(buf_cstr(&norm), buf_cstr(&cur)) != 0)
			change_add(c, k->name, norm.len > 0 ? norm.data : NULL);
	}
	buf_free(&norm);
	buf_free(&cur);
	return status;
}

static int
settings_change(struct web_req *r, const struct list_def *d,
    struct buf *why, bool *changed)
{
	struct change c = { .n = 0, .names = BUF_INIT };
	struct buf detail = BUF_INIT;
	const char *bad;
	int status = 200, code = 0;

	*changed = false;
	if (web_json_fields(r, &bad) < 0) {
		buf_set(why, bad);
		return 400;
	}
	for (size_t i = 0; i < r->nfields && status == 200; i++)
		if (strcmp(r->fields[i].name, "csrf") != 0 &&
		    (code = field_change(r, d, &r->fields[i], &c, why)) != 0)
			status = code;
	if (status != 200 || c.n == 0) {
		change_free(&c);
		return status;
	}
	code = lists_set_keys(r->w->conf->lists_file, d->address, c.keys,
	    c.values, c.n, why);
	status = edit_status(code);
	*changed = code == 0;
	buf_printf(&detail, "list=%s key=%s", d->address,
	    buf_cstr(&c.names));
	if (status != 200)
		add_reason(&detail, why);
	if (status == 500)
		log_error("event=write-failed list=%s path=%s error=\"%s\"",
		    d->address, r->w->conf->lists_file, buf_cstr(why));
	web_log(r, "list-settings", status == 200 ? "ok" : status == 500 ?
	    "failed" : "refused", detail.data);
	buf_free(&detail);
	change_free(&c);
	return status;
}

static void
settings_post(struct web_req *r, const struct list_def *d, const char *rest)
{
	struct buf why = BUF_INIT, back = BUF_INIT;
	bool changed;
	int status;

	(void)rest;
	if (!may_change(r, d)) {
		buf_printf(&back, "list=%s reason=\"not an owner\"",
		    d->address);
		web_log(r, "list-settings", "refused", back.data);
		web_error(r, 403, "Only the list's owners and the "
		    "administrators change its settings.");
		buf_free(&back);
		return;
	}
	status = settings_change(r, d, &why, &changed);
	buf_printf(&back, "/lists/%s?saved=1", d->address);
	if (status == 200 && r->api)
		web_json_output(r, changed ? "changed" : "no change");
	else
		web_answer_change(r, status, buf_cstr(&why), back.data);
	buf_free(&why);
	buf_free(&back);
}

/* --- create and delete (administrators) ------------------------------ */

void
web_list_create_form(struct web_req *r)
{
	if (!r->auth.admin)
		return;
	web_html(r, "<form class=\"box\" method=\"post\" action=\"/lists/"
	    "create\"><h2>Create a list</h2>");
	web_csrf_field(r);
	web_html(r, "<p><label>Address<br><input type=\"text\" "
	    "name=\"address\" placeholder=\"club@example.org\" required>"
	    "</label></p><p><label>Owners (blank or comma separated)<br>"
	    "<input type=\"text\" name=\"owner\" required></label></p>"
	    "<p><label>Description<br><input type=\"text\" "
	    "name=\"description\"></label></p><p><button type=\"submit\">"
	    "Create</button></p></form>");
}

/* The new list's state: its directory and members database, as dlist
 * create makes them. */
static int
create_state(struct web_req *r, const char *address, struct buf *why)
{
	const struct lists *all = lists_cache_get(&r->w->lists, NULL);
	const struct list_def *d = lists_find(all, address);
	struct listdb *db;

	if (d == NULL) {
		buf_printf(why, "list %s written but not read back", address);
		return -1;
	}
	if ((db = listdb_open(r->w->conf, d, why)) == NULL)
		return -1;
	listdb_close(db);
	return 0;
}

void
web_list_create(struct web_req *r, const char *rest)
{
	struct strlist owners = { NULL, 0 };
	struct buf why = BUF_INIT, detail = BUF_INIT, back = BUF_INIT;
	const char *bad, *address, *owner, *desc;
	char *ow, *save = NULL;
	int status = 400;

	(void)rest;
	if (web_json_fields(r, &bad) < 0) {
		web_error(r, 400, bad);
		return;
	}
	address = web_arg(r, "address");
	owner = web_arg(r, "owner");
	desc = web_arg(r, "description");
	ow = xstrdup(owner != NULL ? owner : "");
	for (char *w = strtok_r(ow, " \t,", &save); w != NULL;
	    w = strtok_r(NULL, " \t,", &save))
		strlist_add(&owners, w);
	if (address == NULL || *address == '\0')
		buf_set(&why, "give the list's address");
	else
		status = edit_status(lists_create(r->w->conf, address, &owners,
		    desc, &why));
	if (status == 200 && create_state(r, address, &why) < 0)
		status = 500;
	buf_printf(&detail, "list=%s", address != NULL && *address != '\0' &&
	    list_valid_address(address) ? address : "-");
	if (status != 200)
		add_reason(&detail, &why);
	web_log(r, "list-create", status == 200 ? "ok" : status == 500 ?
	    "failed" : "refused", detail.data);
	buf_printf(&back, "/lists/%s", address != NULL ? address : "");
	if (status == 200 && r->api)
		web_json_output(r, "created");
	else
		web_answer_change(r, status, buf_cstr(&why), back.data);
	strlist_free(&owners);
	free(ow);
	buf_free(&why);
	buf_free(&detail);
	buf_free(&back);
}

static bool
admin_only(struct web_req *r, const struct list_def *d)
{
	struct buf detail = BUF_INIT;

	if (r->auth.admin)
		return true;
	buf_printf(&detail, "list=%s reason=\"not an administrator\"",
	    d->address);
	web_log(r, "list-delete", "refused", detail.data);
	web_error(r, 403, "Only administrators delete lists.");
	buf_free(&detail);
	return false;
}

static void
delete_page(struct web_req *r, const struct list_def *d, const char *rest)
{
	(void)rest;
	if (!admin_only(r, d))
		return;
	web_page_begin(r, "Delete a list");
	web_html(r, "<form class=\"box\" method=\"post\" action=\"/lists/%s/"
	    "delete\">", d->address);
	web_csrf_field(r);
	web_html(r, "<p>Deleting <b>%s</b> removes its block from lists.dat "
	    "and its state: members, held posts, archive, digests and "
	    "shared files. This cannot be undone.</p><p><label><input "
	    "type=\"checkbox\" name=\"confirm\" value=\"yes\"> yes, delete"
	    "</label></p><p><button type=\"submit\">Delete %s</button></p>"
	    "</form><p><a href=\"/lists/%s\">Back to the list</a></p>",
	    d->address, d->address, d->address);
	web_page_end(r);
}

static void
delete_post(struct web_req *r, const struct list_def *d, const char *rest)
{
	struct buf why = BUF_INIT, detail = BUF_INIT;
	const char *confirm, *bad;
	char *address = xstrdup(d->address);
	int status;

	(void)rest;
	if (!admin_only(r, d)) {
		free(address);
		return;
	}
	if (web_json_fields(r, &bad) < 0) {
		web_error(r, 400, bad);
		free(address);
		return;
	}
	confirm = web_arg(r, "confirm");
	if (!r->api && (confirm == NULL || strcmp(confirm, "yes") != 0)) {
		web_error(r, 400, "Tick \"yes, delete\" to delete the list.");
		free(address);
		return;
	}
	status = edit_status(lists_delete(r->w->conf->lists_file, address,
	    &why));
	/* d stays valid: the cache is not read again before this. */
	if (status == 200 && list_remove_state(r->w->conf, d, &why) < 0)
		status = 500;
	buf_printf(&detail, "list=%s", address);
	if (status != 200)
		add_reason(&detail, &why);
	web_log(r, "list-delete", status == 200 ? "ok" : status == 500 ?
	    "failed" : "refused", detail.data);
	if (status == 200 && r->api)
		web_json_output(r, "deleted");
	else
		web_answer_change(r, status, buf_cstr(&why), "/lists");
	free(address);
	buf_free(&why);
	buf_free(&detail);
}

const struct web_list_route web_list_admin_routes[] = {
	{ "POST", "settings", settings_post },
	{ "GET", "delete", delete_page },
	{ "POST", "delete", delete_post },
};
const size_t web_list_admin_route_count =
    sizeof(web_list_admin_routes) / sizeof(web_list_admin_routes[0]);
