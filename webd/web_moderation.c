/*
 * web_moderation.c - a list's moderation queue in the web manager (see
 * webd.h):
 *
 *   GET  /lists/LIST/moderation          held posts with a preview
 *   POST /lists/LIST/moderation/approve|reject   (id)
 *   and the same under /api/v1/lists/LIST/moderation[/VERB] in JSON.
 *
 * Approve and reject are the list worker's own commands: the web manager
 * writes a command mail "approve ID" from the moderator to
 * LIST-request@ into the list spool (listspool_write_mem()), so the
 * post is distributed, and the moderator's rights checked, by the same
 * code as a moderator's mail.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "listspool.h"
#include "log.h"
#include "util.h"
#include "webd.h"

#define HELD_PREVIEW_MAX 4096
#define HELD_MAX 200

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
moderation_show(struct web_req *r, const struct list_def *d,
    const char *rest)
{
	struct held *h = xcalloc(HELD_MAX, sizeof(*h));
	size_t n = held_list(r, d, h, HELD_MAX);
	struct buf pv = BUF_INIT;

	(void)rest;
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

static void
moderation_post(struct web_req *r, const struct list_def *d,
    const char *verb)
{
	struct buf why = BUF_INIT, back = BUF_INIT;
	int status = moderate(r, d, verb, web_arg(r, "id"), &why);

	buf_printf(&back, "/lists/%s/moderation?done=%s", d->address, verb);
	web_answer_change(r, status, buf_cstr(&why), back.data);
	buf_free(&why);
	buf_free(&back);
}

static void
moderation_approve(struct web_req *r, const struct list_def *d,
    const char *rest)
{
	(void)rest;
	moderation_post(r, d, "approve");
}

static void
moderation_reject(struct web_req *r, const struct list_def *d,
    const char *rest)
{
	(void)rest;
	moderation_post(r, d, "reject");
}

const struct web_list_route web_moderation_routes[] = {
	{ "GET", "moderation", moderation_show },
	{ "POST", "moderation/approve", moderation_approve },
	{ "POST", "moderation/reject", moderation_reject },
};
const size_t web_moderation_route_count =
    sizeof(web_moderation_routes) / sizeof(web_moderation_routes[0]);
