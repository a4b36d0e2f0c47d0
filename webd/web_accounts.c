/*
 * web_accounts.c - accounts in the web manager (administrators only; the
 * routes are in web_admin.c, the paths in webd.h's module map):
 *
 *   GET  /accounts?q=TEXT&page=N           page of accounts containing TEXT
 *   GET  /accounts/ADDR                    one account: state, quota, usage
 *                                          of its Maildir, the change forms
 *   POST /accounts/add|disable|enable|passwd|quota   (address, password,
 *                                          quota_bytes fields)
 *   GET  /api/v1/accounts?q=&offset=&limit=
 *   GET  /api/v1/accounts/ADDR             the same as JSON
 *   POST /api/v1/accounts                  add (address, password)
 *   POST /api/v1/accounts/ADDR/VERB        disable, enable, passwd, quota
 *
 * Reading walks the database in address order with userdb_foreach() and
 * stops as soon as the page is full (plus one record, to know whether a
 * next page exists): 500,000 accounts are never loaded at once. Changes
 * are dmail-user's: one read-modify-write under the writer lock
 * (userdb_open(USERDB_WRITE)), a new account gets the default Maildir
 * (maildir_create()).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "maildir.h"
#include "util.h"
#include "webd.h"

struct acct_row {
	char address[USERDB_ADDRESS_MAX + 1];
	bool enabled;
	uint64_t quota_bytes;
};

struct acct_page {
	const char *q;
	unsigned skip, limit;
	struct acct_row *rows;
	unsigned n;
	bool more;
};

static int
page_one(const struct user_record *rec, void *arg)
{
	struct acct_page *p = arg;

	if (p->q[0] != '\0' && strcasestr(rec->address, p->q) == NULL)
		return 0;
	if (p->skip > 0) {
		p->skip--;
		return 0;
	}
	if (p->n == p->limit) {
		p->more = true;
		return 1;        /* stop: the page is full */
	}
	snprintf(p->rows[p->n].address, sizeof(p->rows[p->n].address), "%s",
	    rec->address);
	p->rows[p->n].enabled = rec->enabled;
	p->rows[p->n].quota_bytes = rec->quota_bytes;
	p->n++;
	return 0;
}

/* 0, or -1 (database failure, logged). */
static int
accounts_read(struct web_req *r, struct acct_page *p)
{
	struct buf err = BUF_INIT;
	int rc;

	p->rows = xcalloc(p->limit + 1, sizeof(*p->rows));
	if (r->w->udb == NULL)
		r->w->udb = userdb_open(r->w->conf, USERDB_READ, &err);
	rc = r->w->udb != NULL ? userdb_foreach(r->w->udb, page_one, p) : -1;
	if (rc < 0)
		log_error("event=userdb-failed client=%s error=\"%s\"",
		    r->client, buf_cstr(&err));
	userdb_release(r->w->udb);
	buf_free(&err);
	return rc < 0 ? -1 : 0;
}

void
web_accounts_page(struct web_req *r, const char *rest)
{
	const char *q = web_arg(r, "q");
	unsigned page = web_uint_arg(r, "page", 0, 10000000);
	struct acct_page p = { q != NULL ? q : "", page * WEB_PAGE_SIZE,
		WEB_PAGE_SIZE, NULL, 0, false };

	(void)rest;
	web_page_begin(r, "Accounts");
	web_html(r, "<form method=\"get\" action=\"/accounts\"><input "
	    "type=\"text\" name=\"q\" value=\"%s\" placeholder=\"search\"> "
	    "<button>Search</button></form>", p.q);
	if (accounts_read(r, &p) < 0) {
		web_html(r, "<p class=\"msg\">The account database is "
		    "unavailable.</p>");
	} else {
		web_html(r, "<table><tr><th>Account</th><th>State</th>"
		    "<th>Quota (bytes)</th><th></th></tr>");
		for (unsigned i = 0; i < p.n; i++) {
			const struct acct_row *a = &p.rows[i];

			web_html(r, "<tr><td><a href=\"/accounts/%s\">%s</a>"
			    "</td><td>%s</td><td>%llu</td>"
			    "<td><form class=\"inline\" method=\"post\" "
			    "action=\"/accounts/%s\"><input type=\"hidden\" "
			    "name=\"address\" value=\"%s\">", a->address,
			    a->address, a->enabled ? "enabled" : "disabled",
			    (unsigned long long)a->quota_bytes,
			    a->enabled ? "disable" : "enable", a->address);
			web_csrf_field(r);
			web_html(r, "<button>%s</button></form></td></tr>",
			    a->enabled ? "Disable" : "Enable");
		}
		web_html(r, "</table><p>");
		if (page > 0)
			web_html(r, "<a href=\"/accounts?q=%s&amp;page=%u\">"
			    "Previous</a> ", p.q, page - 1);
		if (p.more)
			web_html(r, "<a href=\"/accounts?q=%s&amp;page=%u\">"
			    "Next</a>", p.q, page + 1);
		web_html(r, "</p>");
	}
	web_html(r, "<h2>Add an account</h2><form class=\"box\" method=\"post\" "
	    "action=\"/accounts/add\">");
	web_csrf_field(r);
	web_html(r, "<input type=\"text\" name=\"address\" placeholder=\""
	    "user@domain\"> <input type=\"password\" name=\"password\" "
	    "placeholder=\"password\"> <button>Add</button></form>");
	web_page_end(r);
	free(p.rows);
}

void
web_api_accounts(struct web_req *r, const char *rest)
{
	const char *q = web_arg(r, "q");
	struct acct_page p = { q != NULL ? q : "",
		web_uint_arg(r, "offset", 0, 100000000),
		web_uint_arg(r, "limit", WEB_PAGE_SIZE, 1000), NULL, 0, false };

	(void)rest;
	if (accounts_read(r, &p) < 0) {
		web_error(r, 503, "account database unavailable");
		return;
	}
	r->ctype = "application/json";
	buf_append_str(&r->out, "{\"ok\":true,\"accounts\":[");
	for (unsigned i = 0; i < p.n; i++) {
		buf_append_str(&r->out, i > 0 ? ",{\"address\":" :
		    "{\"address\":");
		json_escape(&r->out, p.rows[i].address);
		buf_printf(&r->out, ",\"enabled\":%s,\"quota_bytes\":%llu}",
		    p.rows[i].enabled ? "true" : "false",
		    (unsigned long long)p.rows[i].quota_bytes);
	}
	buf_printf(&r->out, "],\"more\":%s}\n", p.more ? "true" : "false");
	free(p.rows);
}

/* Set the fields of rec that verb changes. NULL, or why not. */
static const char *
account_apply(struct web_req *r, const char *verb, struct user_record *rec)
{
	const char *pass = web_arg(r, "password");

	if (strcmp(verb, "enable") == 0 || strcmp(verb, "disable") == 0) {
		rec->enabled = strcmp(verb, "enable") == 0;
	} else if (strcmp(verb, "passwd") == 0 || strcmp(verb, "add") == 0) {
		if (pass == NULL || *pass == '\0')
			return "a password is needed";
		if (userdb_hash_password(r->w->conf->password_scheme, pass,
		    rec->hash, sizeof(rec->hash)) < 0)
			return "cannot hash the password";
	} else if (strcmp(verb, "quota") == 0) {
		const char *qb = web_arg(r, "quota_bytes");

		if (qb == NULL || parse_size(qb, &rec->quota_bytes) < 0)
			return "quota_bytes is not a size";
	} else
		return "no such action";
	return NULL;
}

/* One change of one account, as dmail-user makes it. HTTP status. */
static int
account_change(struct web_req *r, const char *verb, const char *address,
    struct buf *why)
{
	struct user_record *rec = xcalloc(1, sizeof(*rec));
	struct buf err = BUF_INIT, mbox = BUF_INIT;
	struct userdb *db;
	const char *bad;
	int found, status = 500;

	if (address == NULL || !userdb_valid_address(address)) {
		buf_set(why, "not an address (user@domain)");
		free(rec);
		return 400;
	}
	db = userdb_open(r->w->conf, USERDB_WRITE, &err);
	found = db != NULL ? userdb_lookup(db, address, rec) : -1;
	if (found < 0) {
		buf_printf(why, "account database: %s", buf_cstr(&err));
	} else if ((found == 1) != (strcmp(verb, "add") != 0)) {
		buf_set(why, found ? "the account exists" : "no such account");
		status = found ? 409 : 404;
	} else if ((bad = account_apply(r, verb, rec)) != NULL) {
		buf_set(why, bad);
		status = 400;
	} else {
		if (found == 0) {
			snprintf(rec->address, sizeof(rec->address), "%s",
			    address);
			str_lower(rec->address);
			userdb_default_mailbox(r->w->conf, rec->address, &mbox);
			snprintf(rec->mailbox, sizeof(rec->mailbox), "%s",
			    mbox.data);
			rec->enabled = true;
			if (maildir_create(rec->mailbox) < 0)
				log_warn("event=maildir-failed path=%s "
				    "error=\"%s\"", rec->mailbox,
				    strerror(errno));
		}
		if (userdb_put(db, rec, &err) < 0)
			buf_printf(why, "account database: %s", buf_cstr(&err));
		else
			status = 200;
	}
	userdb_close(db);
	{
		struct buf d = BUF_INIT;
		char cmd[32];

		snprintf(cmd, sizeof(cmd), "account-%s", verb);
		buf_printf(&d, "member=%s%s%s%s", address, status == 200 ? "" :
		    " reason=\"", status == 200 ? "" : buf_cstr(why),
		    status == 200 ? "" : "\"");
		web_log(r, cmd, status == 200 ? "ok" : "failed", d.data);
		buf_free(&d);
	}
	buf_free(&err);
	buf_free(&mbox);
	free(rec);
	return status;
}

/* A form of the account page: one action with at most one field. */
static void
account_form(struct web_req *r, const char *address, const char *verb,
    const char *field)
{
	web_html(r, "<form class=\"box\" method=\"post\" action=\"/accounts/"
	    "%s\"><input type=\"hidden\" name=\"address\" value=\"%s\">"
	    "<input type=\"hidden\" name=\"detail\" value=\"1\">", verb,
	    address);
	web_csrf_field(r);
	if (field != NULL)
		web_html(r, "<input type=\"%s\" name=\"%s\" placeholder="
		    "\"%s\"> ", strcmp(field, "password") == 0 ? "password" :
		    "text", field, strcmp(field, "password") == 0 ?
		    "new password" : "bytes, e.g. 500M (0: unlimited)");
	web_html(r, "<button>%s</button></form>", strcmp(verb, "passwd") ==
	    0 ? "Set password" : strcmp(verb, "quota") == 0 ? "Set quota" :
	    strcmp(verb, "enable") == 0 ? "Enable" : "Disable");
}

void
web_accounts_post(struct web_req *r, const char *rest)
{
	struct buf why = BUF_INIT;
	int status = account_change(r, rest, web_arg(r, "address"), &why);

	const char *address = web_arg(r, "address");

	if (status == 200 && web_arg(r, "detail") != NULL) {
		/* address was checked by account_change(): no open
		 * redirect. */
		buf_reset(&why);
		buf_printf(&why, "/accounts/%s", address);
		web_redirect(r, why.data);
	} else if (status == 200)
		web_redirect(r, "/accounts");
	else
		web_error(r, status, buf_cstr(&why));
	buf_free(&why);
}

void
web_api_accounts_add(struct web_req *r, const char *rest)
{
	struct buf why = BUF_INIT;
	int status;

	(void)rest;
	status = account_change(r, "add", web_arg(r, "address"), &why);
	if (status == 200)
		web_json_output(r, "added");
	else
		web_error(r, status, buf_cstr(&why));
	buf_free(&why);
}

void
web_api_account_action(struct web_req *r, const char *rest)
{
	const char *slash = strrchr(rest, '/');
	struct buf why = BUF_INIT;
	char *address;
	int status;

	if (slash == NULL) {
		web_error(r, 404, "expected /api/v1/accounts/ADDRESS/ACTION");
		return;
	}
	address = xstrndup(rest, (size_t)(slash - rest));
	status = strcmp(slash + 1, "add") == 0 ? 404 :
	    account_change(r, slash + 1, address, &why);
	if (status == 200)
		web_json_output(r, "done");
	else
		web_error(r, status, why.len > 0 ? why.data : "no such action");
	free(address);
	buf_free(&why);
}

/* One account: its record and the usage of its Maildir (read here,
 * not on the list page: a scan of new/ and cur/ per account). */
void
web_account_page(struct web_req *r, const char *rest)
{
	struct user_record *rec = xcalloc(1, sizeof(*rec));
	struct buf err = BUF_INIT;
	uint64_t bytes = 0, msgs = 0;
	int found = -1, used;

	if (!userdb_valid_address(rest)) {
		web_error(r, 400, "not an address (user@domain)");
		free(rec);
		return;
	}
	if (r->w->udb == NULL)
		r->w->udb = userdb_open(r->w->conf, USERDB_READ, &err);
	if (r->w->udb != NULL)
		found = userdb_lookup(r->w->udb, rest, rec);
	userdb_release(r->w->udb);
	if (found != 1) {
		web_error(r, found < 0 ? 503 : 404, found < 0 ? "The account "
		    "database is unavailable." : "No such account.");
		buf_free(&err);
		free(rec);
		return;
	}
	used = maildir_usage(rec->mailbox, &bytes, &msgs);
	if (r->api) {
		r->ctype = "application/json";
		buf_append_str(&r->out, "{\"ok\":true,\"address\":");
		json_escape(&r->out, rec->address);
		buf_printf(&r->out, ",\"enabled\":%s,\"quota_bytes\":%llu,"
		    "\"quota_messages\":%llu", rec->enabled ? "true" : "false",
		    (unsigned long long)rec->quota_bytes,
		    (unsigned long long)rec->quota_messages);
		if (used == 0)
			buf_printf(&r->out, ",\"used_bytes\":%llu,"
			    "\"used_messages\":%llu", (unsigned long long)bytes,
			    (unsigned long long)msgs);
		buf_append_str(&r->out, "}\n");
	} else {
		web_page_begin(r, rec->address);
		web_html(r, "<p><a href=\"/accounts\">Accounts</a></p><table>"
		    "<tr><th>State</th><td>%s</td></tr>", rec->enabled ?
		    "enabled" : "disabled");
		web_html(r, "<tr><th>Quota</th><td>%llu bytes, %llu messages "
		    "(0: unlimited)</td></tr>",
		    (unsigned long long)rec->quota_bytes,
		    (unsigned long long)rec->quota_messages);
		if (used == 0)
			web_html(r, "<tr><th>Usage</th><td>%llu bytes in %llu "
			    "messages</td></tr>", (unsigned long long)bytes,
			    (unsigned long long)msgs);
		else
			web_html(r, "<tr><th>Usage</th><td>unknown (the "
			    "Maildir cannot be read)</td></tr>");
		web_html(r, "</table>");
		account_form(r, rec->address, rec->enabled ? "disable" :
		    "enable", NULL);
		account_form(r, rec->address, "passwd", "password");
		account_form(r, rec->address, "quota", "quota_bytes");
		web_page_end(r);
	}
	buf_free(&err);
	free(rec);
}
