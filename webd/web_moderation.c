/*
 * web_moderation.c - a list's moderation queue in the web manager (see
 * webd.h):
 *
 *   GET  /lists/LIST/moderation          held posts with a preview
 *   POST /lists/LIST/moderation/approve|reject   (id; reject: reason)
 *   and the same under /api/v1/lists/LIST/moderation[/VERB] in JSON.
 *
 * Approve and reject are the list worker's own commands: the web manager
 * writes a command mail "approve ID" from the moderator to
 * LIST-request@ into the list spool (listspool_write_mem()), so the
 * post is distributed, and the moderator's rights checked, by the same
 * code as a moderator's mail. A reject's optional reason (one line, at
 * most 500 bytes) goes in the command ("reject ID REASON").
 *
 * Exports web_token_read() (a list's token file, listd/token.c's
 * format) and web_list_command() (a command mail to LIST-request@) for
 * the confirm page of web_members.c.
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
#define REASON_MAX 500             /* bytes of a reject reason */

/* --- moderation ------------------------------------------------------ */

struct held {
	char id[65];               /* web_token_id_ok(): <= 64 */
	char poster[LIST_ADDRESS_MAX + 1];
	long long expires;
};

static int
held_cmp(const void *a, const void *b)
{
	const struct held *x = a, *y = b;

	return x->expires < y->expires ? -1 : x->expires > y->expires;
}

bool
web_token_id_ok(const char *id)
{
	return id != NULL && *id != '\0' && strlen(id) <= 64 &&
	    strlen(id) == strspn(id, "0123456789abcdef");
}

int
web_token_read(const struct web *w, const struct list_def *d,
    const char *id, struct web_token *t)
{
	struct buf p = BUF_INIT, text = BUF_INIT;
	const char *s;
	int r = 0;

	memset(t, 0, sizeof(*t));
	if (!web_token_id_ok(id))
		return 0;
	list_state_path(w->conf, d, "tokens", &p);
	buf_printf(&p, "/%s", id);
	if (read_file(p.data, &text, 4096) == 0 &&
	    sscanf(buf_cstr(&text), "action %15s\naddress %320s", t->action,
	    t->address) == 2 && (s = strstr(text.data, "\nexpires ")) != NULL) {
		t->expires = strtoll(s + 9, NULL, 10);
		r = 1;
	}
	buf_free(&p);
	buf_free(&text);
	return r;
}

/* The held posts of d: tokens of action "post" (listd/token.c). */
static size_t
held_list(struct web_req *r, const struct list_def *d, struct held *out,
    size_t max)
{
	struct buf dir = BUF_INIT;
	struct dirent *de;
	struct web_token t;
	size_t n = 0;
	DIR *dp;

	list_state_path(r->w->conf, d, "tokens", &dir);
	dp = opendir(dir.data);
	while (dp != NULL && n < max && (de = readdir(dp)) != NULL) {
		if (web_token_read(r->w, d, de->d_name, &t) != 1 ||
		    strcmp(t.action, "post") != 0)
			continue;
		memcpy(out[n].id, de->d_name, strlen(de->d_name) + 1);
		snprintf(out[n].poster, sizeof(out[n].poster), "%s", t.address);
		out[n].expires = t.expires;
		n++;
	}
	if (dp != NULL)
		closedir(dp);
	qsort(out, n, sizeof(*out), held_cmp);
	buf_free(&dir);
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
		web_html(r, "<input type=\"text\" name=\"reason\" maxlength="
		    "\"%u\" placeholder=\"reason (optional, told to the "
		    "poster)\"> <button name=\"reject\">Reject</button></form>"
		    "</div>", REASON_MAX);
	}
	web_page_end(r);
	buf_free(&pv);
	free(h);
}

int
web_list_command(struct web_req *r, const struct list_def *d,
    const char *from, const char *lines, struct buf *err)
{
	struct buf req = BUF_INIT, msg = BUF_INIT;
	const char *rcpt;
	int rc;

	list_addr(d, "-request", &req);
	rcpt = req.data;
	/* A person's command, not an automatic message (listd ignores
	 * Auto-Submitted mail); the Subject is no command, so that only
	 * the body's lines run. */
	buf_printf(&msg, "From: <%s>\nTo: <%s>\nSubject: web manager "
	    "command\nMIME-Version: 1.0\nContent-Type: text/plain; charset="
	    "utf-8\nContent-Transfer-Encoding: 8bit\nX-Dmail-Via: web\n\n%s",
	    from, rcpt, lines);
	rc = listspool_write_mem(r->w->conf, from, &rcpt, 1, msg.data, msg.len,
	    NULL, err);
	buf_free(&req);
	buf_free(&msg);
	return rc < 0 ? -1 : 0;
}

/* The reject reason as one line: CR, LF and other control characters
 * become blanks, at most REASON_MAX bytes (not splitting a UTF-8
 * character), blanks trimmed. */
static void
reason_clean(const char *in, struct buf *out)
{
	size_t n = 0;

	buf_reset(out);
	for (; in != NULL && in[n] != '\0' && n < REASON_MAX; n++)
		;
	while (n > 0 && in[n] != '\0' && ((unsigned char)in[n] & 0xc0) == 0x80)
		n--;                    /* cut before a continuation byte */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		buf_append_char(out, c < 0x20 || c == 0x7f ? ' ' : (char)c);
	}
	while (out->len > 0 && out->data[out->len - 1] == ' ')
		out->data[--out->len] = '\0';
	while (out->len > 0 && out->data[0] == ' ')
		buf_consume(out, 1);
}

/* approve or reject held post id: a command mail from the caller to
 * LIST-request@ in the list spool; a reject may carry a reason
 * ("reject ID REASON", which listd tells the poster). */
static int
moderate(struct web_req *r, const struct list_def *d, const char *verb,
    const char *id, const char *reason, struct buf *why)
{
	struct buf msg = BUF_INIT, err = BUF_INIT, det = BUF_INIT;
	struct buf rs = BUF_INIT;
	int status = 500;

	if (!web_token_id_ok(id)) {
		buf_set(why, "no valid id");
		return 400;
	}
	reason_clean(reason, &rs);
	if (r->auth.token || !list_is_moderator(d, r->auth.user)) {
		buf_set(why, "only the list's owners and moderators approve "
		    "or reject posts (from their own login)");
		status = 403;
		goto out;
	}
	buf_printf(&msg, "%s %s%s%s\n", verb, id, rs.len > 0 ? " " : "",
	    buf_cstr(&rs));
	if (web_list_command(r, d, r->auth.user, msg.data, &err) < 0)
		buf_printf(why, "list spool: %s", buf_cstr(&err));
	else
		status = 200;
out:
	buf_printf(&det, "list=%s token=%s", d->address, id);
	if (rs.len > 0) {
		for (size_t i = 0; i < rs.len; i++)
			if (rs.data[i] == '"' || rs.data[i] == '\\')
				rs.data[i] = '\'';
		buf_printf(&det, " reason=\"%s\"", rs.data);
	}
	web_log(r, verb, status == 200 ? "ok" : "refused", det.data);
	buf_free(&msg);
	buf_free(&err);
	buf_free(&det);
	buf_free(&rs);
	return status;
}

static void
moderation_post(struct web_req *r, const struct list_def *d,
    const char *verb)
{
	struct buf why = BUF_INIT, back = BUF_INIT;
	int status = moderate(r, d, verb, web_arg(r, "id"),
	    strcmp(verb, "reject") == 0 ? web_arg(r, "reason") : NULL, &why);

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
