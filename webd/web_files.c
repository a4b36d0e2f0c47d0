/*
 * web_files.c - a list's shared files in the web manager (see webd.h):
 *
 *   GET  /lists/LIST/files              names, sizes, dates (members)
 *   GET  /lists/LIST/files/NAME         the file, as an attachment
 *                                       (application/octet-stream)
 *   POST /lists/LIST/files/upload       multipart/form-data: the field
 *                                       "file" (its file name is the
 *                                       stored name, or the field "name")
 *   POST /lists/LIST/files/delete       (name)
 *   and the same under /api/v1/lists/LIST/files... in JSON (a download
 *   is the file itself there too).
 *
 * The area, its name rules, limits and durable writes are
 * common/listfiles.h, as for dlist putfile/delfile and the files
 * commands by mail: a file stored here is the one those see. A name is
 * never a path: it is the given name with surrounding blanks removed,
 * refused (400, nothing written) unless list_file_name_ok(). Larger
 * than the list's file_max_size: 413 (larger than web_max_body: 413 by
 * webd.c before any of this runs).
 *
 * Who: the list and a download are web_files_member_routes[] (members,
 * owners, moderators, administrators; web_lists.c checks); upload and delete are
 * for those who manage the list (list_for(): others 403). Each change
 * is logged once (web_log: command=putfile|delfile list= file=).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listfiles.h"
#include "log.h"
#include "util.h"
#include "webd.h"

static void
files_show(struct web_req *r, const struct list_def *d, const char *rest)
{
	struct list_file *fs = NULL;
	struct buf err = BUF_INIT, t = BUF_INIT;
	bool owner = web_may_manage_list(r, d);
	size_t n = 0;

	(void)rest;
	if (list_files_all(r->w->conf, d, &fs, &n, &err) < 0) {
		log_error("event=list-failed list=%s reason=\"%s\"",
		    d->address, buf_cstr(&err));
		web_error(r, 500, "The list's files cannot be read.");
		goto out;
	}
	if (r->api) {
		r->ctype = "application/json";
		buf_append_str(&r->out, "{\"ok\":true,\"files\":[");
		for (size_t i = 0; i < n; i++) {
			buf_append_str(&r->out, i > 0 ? ",{\"name\":" :
			    "{\"name\":");
			json_escape(&r->out, fs[i].name);
			buf_printf(&r->out, ",\"size\":%llu,\"mtime\":%lld}",
			    (unsigned long long)fs[i].size,
			    (long long)fs[i].mtime);
		}
		buf_append_str(&r->out, "]}\n");
		goto out;
	}
	buf_printf(&t, "Files of %s", d->address);
	web_page_begin(r, t.data);
	web_html(r, "<p><a href=\"/lists/%s/archive\">Archive</a></p>"
	    "<table><tr><th>Name</th><th>Size (bytes)</th><th>Changed (UTC)"
	    "</th><th></th></tr>", d->address);
	for (size_t i = 0; i < n; i++) {
		char when[32];
		time_t tt = (time_t)fs[i].mtime;

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", gmtime(&tt));
		web_html(r, "<tr><td><a href=\"/lists/%s/files/%s\">%s</a>"
		    "</td><td>%llu</td><td>%s</td><td>", d->address,
		    fs[i].name, fs[i].name, (unsigned long long)fs[i].size,
		    when);
		if (owner) {
			web_html(r, "<form class=\"inline\" method=\"post\" "
			    "action=\"/lists/%s/files/delete\"><input type=\""
			    "hidden\" name=\"name\" value=\"%s\">", d->address,
			    fs[i].name);
			web_csrf_field(r);
			web_html(r, "<button>Delete</button></form>");
		}
		web_html(r, "</td></tr>");
	}
	web_html(r, "</table>");
	if (n == 0)
		web_html(r, "<p>No shared files.</p>");
	if (owner) {
		web_html(r, "<form class=\"box\" method=\"post\" action=\""
		    "/lists/%s/files/upload\" enctype=\"multipart/form-data\">"
		    "<p><label>File <input type=\"file\" name=\"file\">"
		    "</label> <button>Upload</button></p><p><small>At most "
		    "%llu bytes; a file of the same name is replaced. Names: "
		    "printable characters without blanks, /, \\, &quot; or "
		    "&quot;..&quot;.</small></p>", d->address,
		    (unsigned long long)d->file_max_size);
		web_csrf_field(r);
		web_html(r, "</form>");
	}
	web_page_end(r);
out:
	free(fs);
	buf_free(&err);
	buf_free(&t);
}

static void
files_get(struct web_req *r, const struct list_def *d, const char *name)
{
	struct buf err = BUF_INIT;
	int rc = list_file_get(r->w->conf, d, name, &r->out, &err);

	if (rc == 1) {
		r->ctype = "application/octet-stream";
		snprintf(r->disposition, sizeof(r->disposition),
		    "attachment; filename=\"%s\"", name);
	} else if (rc == 0 || rc == LIST_FILE_REFUSED)
		web_error(r, 404, "No such file.");
	else {
		log_error("event=read-failed list=%s file=%s reason=\"%s\"",
		    d->address, name, buf_cstr(&err));
		web_error(r, 500, "The file cannot be read.");
	}
	buf_free(&err);
}

/* The name to store an upload under: the field "name", else the file
 * name the browser gave, blanks around it removed. */
static char *
upload_name(const struct web_req *r, const char *given)
{
	const char *n = web_arg(r, "name");
	char *s = xstrdup(n != NULL && *n != '\0' ? n : given);

	str_trim(s);
	return s;
}

static int
files_put(struct web_req *r, const struct list_def *d, char **stored,
    struct buf *why)
{
	struct buf data = BUF_INIT, given = BUF_INIT, err = BUF_INIT;
	int status = 400, rc;

	if (!web_form_file(r, "file", &given, &data) ||
	    (given.len == 0 && data.len == 0)) {
		buf_set(why, "No file: send the form with a file chosen "
		    "(multipart/form-data, field \"file\").");
		goto out;
	}
	*stored = upload_name(r, buf_cstr(&given));
	if (!list_file_name_ok(*stored)) {
		buf_set(why, "Not a usable file name: 1 to 100 printable "
		    "characters without blanks, /, \\ or \", not starting "
		    "with a dot, without \"..\".");
		goto out;
	}
	if (d->file_max_size > 0 && data.len > d->file_max_size) {
		buf_printf(why, "The file is larger than the list's "
		    "file_max_size (%llu bytes).",
		    (unsigned long long)d->file_max_size);
		status = 413;
		goto out;
	}
	rc = list_file_put(r->w->conf, d, *stored, data.data != NULL ?
	    data.data : "", data.len, &err);
	status = rc == 0 ? 200 : rc == LIST_FILE_REFUSED ? 400 : 500;
	if (rc == LIST_FILE_REFUSED)
		buf_set(why, buf_cstr(&err));
	else if (rc < 0) {
		log_error("event=write-failed list=%s file=%s reason=\"%s\"",
		    d->address, *stored, buf_cstr(&err));
		buf_set(why, "The file cannot be stored now.");
	}
out:
	buf_free(&data);
	buf_free(&given);
	buf_free(&err);
	return status;
}

/* Log a change and answer it. */
static void
files_answer(struct web_req *r, const struct list_def *d,
    const char *command, const char *name, int status, struct buf *why)
{
	struct buf det = BUF_INIT, back = BUF_INIT;

	buf_printf(&det, "list=%s file=%s", d->address,
	    name != NULL && list_file_name_ok(name) ? name : "-");
	if (status != 200)
		buf_printf(&det, " reason=\"%s\"", buf_cstr(why));
	web_log(r, command, status == 200 ? "ok" : status >= 500 ? "failed" :
	    "refused", det.data);
	buf_printf(&back, "/lists/%s/files", d->address);
	web_answer_change(r, status, buf_cstr(why), back.data);
	buf_free(&det);
	buf_free(&back);
}

static void
files_upload(struct web_req *r, const struct list_def *d, const char *rest)
{
	struct buf why = BUF_INIT;
	char *name = NULL;
	int status = files_put(r, d, &name, &why);

	(void)rest;
	files_answer(r, d, "putfile", name, status, &why);
	free(name);
	buf_free(&why);
}

static void
files_delete(struct web_req *r, const struct list_def *d, const char *rest)
{
	struct buf why = BUF_INIT, err = BUF_INIT;
	const char *name = web_arg(r, "name");
	int rc, status;

	(void)rest;
	rc = list_file_delete(r->w->conf, d, name != NULL ? name : "", &err);
	status = rc == 1 ? 200 : rc == 0 ? 404 : rc == LIST_FILE_REFUSED ?
	    400 : 500;
	if (rc == 0)
		buf_set(&why, "No such file.");
	else if (rc != 1)
		buf_set(&why, rc < 0 ? "The file cannot be removed now." :
		    buf_cstr(&err));
	if (rc < 0)
		log_error("event=unlink-failed list=%s reason=\"%s\"",
		    d->address, buf_cstr(&err));
	files_answer(r, d, "delfile", name, status, &why);
	buf_free(&why);
	buf_free(&err);
}

const struct web_list_route web_files_member_routes[] = {
	{ "GET", "files", files_show },
	{ "GET", "files/", files_get },
};
const size_t web_files_member_route_count =
    sizeof(web_files_member_routes) / sizeof(web_files_member_routes[0]);

const struct web_list_route web_files_routes[] = {
	{ "POST", "files/upload", files_upload },
	{ "POST", "files/delete", files_delete },
};
const size_t web_files_route_count =
    sizeof(web_files_routes) / sizeof(web_files_routes[0]);
