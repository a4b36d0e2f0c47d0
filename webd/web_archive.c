/*
 * web_archive.c - a list's archive in the web manager (see webd.h):
 *
 *   GET /lists/LIST/archive?page=P      posts by number, newest first
 *   GET /lists/LIST/archive/date[?month=YYYY-MM]   months, or a month
 *   GET /lists/LIST/archive/thread      the last ARCH_THREAD_POSTS posts
 *                                       grouped by thread
 *   GET /lists/LIST/archive/N           post N, MIME decoded
 *   GET /lists/LIST/archive/N/A         its attachment A (1, 2, ... as
 *                                       listed), decoded, as a download
 *   and the same under /api/v1/lists/LIST/archive... in JSON.
 *
 * The archive is listd's (listd/archive.c): a Maildir with the index
 * state_dir/lists/LIST/archive/index, one line per post
 * "N<TAB>FILE<TAB>UNIXTIME<TAB>FROM<TAB>SUBJECT"; pages read the index
 * (at most ARCH_INDEX_MAX bytes), the thread view also the first
 * ARCH_HEAD_MAX bytes of each post it shows (Message-ID, In-Reply-To,
 * References; a reply without them joins the thread of an earlier post
 * of the same subject without "Re:" and the list's prefix).
 *
 * Who: the list's owners, moderators and administrators, and its
 * members (web_lists.c's member_tables[] checks). lists.dat has
 * no archive visibility option, so members may read, as with "index"
 * and "get" by mail. The message view shows From, To, Cc, Date and
 * Subject (RFC 2047 decoded), each text/plain part decoded to UTF-8,
 * each text/html part as plain text (common/mime.h: tags removed,
 * never rendered), and the other parts as a list of attachments
 * (name, type, size) that download as application/octet-stream with a
 * name reduced to letters, digits, '.', '-' and '_'. Everything shown goes through web_html() or
 * json_escape(). Nothing changes, nothing is logged but failures.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mail.h"
#include "mime.h"
#include "util.h"
#include "webd.h"

#define ARCH_INDEX_MAX (64u * 1024 * 1024)
#define ARCH_MSG_MAX (64u * 1024 * 1024)
#define ARCH_HEAD_MAX 16384
#define ARCH_THREAD_POSTS 300
#define ARCH_THREAD_DEPTH 8
#define ARCH_NAME_MAX 100          /* attachment name in a download */
#define ARCH_TEXT_PARTS 16

struct post {
	unsigned num;
	const char *file, *from, *subject;  /* into the index text */
	long long t;
};

struct archive {
	struct buf text;
	struct post *p;
	size_t n;
};

/* Split the index into posts; malformed lines are skipped. */
static void
archive_parse(struct archive *a)
{
	size_t cap = 0;
	char *s = a->text.data, *end = s + a->text.len;

	while (s != NULL && s < end) {
		char *nl = memchr(s, '\n', (size_t)(end - s)), *f[5];
		size_t k = 0;

		if (nl != NULL)
			*nl = '\0';
		for (char *q = s; k < 5 && q != NULL; k++) {
			f[k] = q;
			if ((q = strchr(q, '\t')) != NULL)
				*q++ = '\0';
		}
		if (k == 5 && strtoul(f[0], NULL, 10) > 0 &&
		    strchr(f[1], '/') == NULL && f[1][0] != '.') {
			if (a->n == cap) {
				cap = cap ? cap * 2 : 256;
				a->p = xrealloc(a->p, cap * sizeof(*a->p));
			}
			a->p[a->n].num = (unsigned)strtoul(f[0], NULL, 10);
			a->p[a->n].file = f[1];
			a->p[a->n].t = strtoll(f[2], NULL, 10);
			a->p[a->n].from = f[3];
			a->p[a->n].subject = f[4];
			a->n++;
		}
		s = nl != NULL ? nl + 1 : NULL;
	}
}

/* The archive index of d (empty when there is none); false after
 * answering 500. */
static bool
archive_load(struct web_req *r, const struct list_def *d, struct archive *a)
{
	struct buf p = BUF_INIT;
	bool ok = true;

	memset(a, 0, sizeof(*a));
	list_state_path(r->w->conf, d, "archive/index", &p);
	if (read_file(p.data, &a->text, ARCH_INDEX_MAX) < 0) {
		buf_reset(&a->text);
		if (errno != ENOENT) {
			log_error("event=read-failed list=%s path=%s "
			    "error=\"%s\"", d->address, p.data,
			    strerror(errno));
			web_error(r, 500, "The archive cannot be read.");
			ok = false;
		}
	}
	archive_parse(a);
	buf_free(&p);
	return ok;
}

static void
archive_free(struct archive *a)
{
	buf_free(&a->text);
	free(a->p);
}

static const struct post *
post_find(const struct archive *a, unsigned num)
{
	if (num >= 1 && num <= a->n && a->p[num - 1].num == num)
		return &a->p[num - 1];
	for (size_t i = 0; i < a->n; i++)
		if (a->p[i].num == num)
			return &a->p[i];
	return NULL;
}

/* The post's file, at most max bytes (maybe fewer: ARCH_HEAD_MAX). */
static int
post_read(struct web_req *r, const struct list_def *d, const struct post *p,
    size_t max, struct buf *out)
{
	struct buf path = BUF_INIT;
	int fd, rc = -1;

	list_state_path(r->w->conf, d, "archive/new/", &path);
	buf_append_str(&path, p->file);
	buf_reset(out);
	if ((fd = open(path.data, O_RDONLY | O_CLOEXEC)) >= 0) {
		char chunk[8192];
		ssize_t n;

		while (out->len < max && (n = read(fd, chunk,
		    sizeof(chunk))) > 0)
			buf_append(out, chunk, (size_t)n);
		close(fd);
		rc = 0;
	} else
		log_error("event=read-failed list=%s path=%s error=\"%s\"",
		    d->address, path.data, strerror(errno));
	buf_free(&path);
	return rc;
}

static void
when_text(long long t, char *out, size_t len)
{
	time_t tt = (time_t)t;

	strftime(out, len, "%Y-%m-%d %H:%M", gmtime(&tt));
}

/* The archive's links, at the top of each page. */
static void
archive_nav(struct web_req *r, const struct list_def *d)
{
	web_html(r, "<p><a href=\"/lists/%s/archive\">By number</a> | "
	    "<a href=\"/lists/%s/archive/date\">By month</a> | "
	    "<a href=\"/lists/%s/archive/thread\">By thread</a> | "
	    "<a href=\"/lists/%s/files\">Files</a></p>", d->address,
	    d->address, d->address, d->address);
}

/* One post as a table row, or as a JSON object (first: no comma). */
static void
post_row(struct web_req *r, const struct list_def *d, const struct post *p,
    bool first, unsigned depth)
{
	struct buf from = BUF_INIT, subj = BUF_INIT;
	char when[32];

	mime_header_decode(p->from, &from);
	mime_header_decode(p->subject, &subj);
	when_text(p->t, when, sizeof(when));
	if (r->api) {
		buf_printf(&r->out, "%s{\"num\":%u,\"date\":%lld,\"from\":",
		    first ? "" : ",", p->num, p->t);
		json_escape(&r->out, from.data);
		buf_append_str(&r->out, ",\"subject\":");
		json_escape(&r->out, subj.data);
		buf_printf(&r->out, ",\"depth\":%u}", depth);
	} else
		web_html(r, "<tr><td>%u</td><td>%s</td><td>%s</td><td "
		    "style=\"padding-left:%uem\"><a href=\"/lists/%s/archive/"
		    "%u\">%s</a></td></tr>", p->num, when, from.data,
		    depth * 2 + 1, d->address, p->num, subj.len ? subj.data :
		    "(no subject)");
	buf_free(&from);
	buf_free(&subj);
}

static void
table_begin(struct web_req *r, const char *key)
{
	if (r->api)
		buf_printf(&r->out, ",\"%s\":[", key);
	else
		web_html(r, "<table><tr><th>#</th><th>Date (UTC)</th>"
		    "<th>From</th><th>Subject</th></tr>");
}

static void
table_end(struct web_req *r)
{
	if (r->api)
		buf_append_str(&r->out, "]");
	else
		web_html(r, "</table>");
}

static void
page_begin(struct web_req *r, const struct list_def *d, const char *what,
    size_t total)
{
	struct buf t = BUF_INIT;

	if (r->api) {
		r->ctype = "application/json";
		buf_printf(&r->out, "{\"ok\":true,\"total\":%zu", total);
	} else {
		buf_printf(&t, "Archive of %s", d->address);
		web_page_begin(r, t.data);
		archive_nav(r, d);
		web_html(r, "<p>%s: %zu post(s).%s</p>", what, total,
		    d->archive ? "" : " This list keeps no archive now "
		    "(archive no in lists.dat).");
	}
	buf_free(&t);
}

static void
page_end(struct web_req *r)
{
	if (r->api)
		buf_append_str(&r->out, "}\n");
	else
		web_page_end(r);
}

/* --- by number and by month ------------------------------------------ */

static void
archive_index(struct web_req *r, const struct list_def *d, const char *rest)
{
	struct archive a;
	unsigned page, pages;

	(void)rest;
	if (!archive_load(r, d, &a))
		goto out;
	pages = a.n == 0 ? 1 : (unsigned)((a.n + WEB_PAGE_SIZE - 1) /
	    WEB_PAGE_SIZE);
	page = web_uint_arg(r, "page", 1, pages);
	if (page == 0)
		page = 1;
	page_begin(r, d, "All posts, newest first", a.n);
	if (r->api)
		buf_printf(&r->out, ",\"page\":%u,\"pages\":%u", page, pages);
	table_begin(r, "posts");
	for (size_t k = (size_t)(page - 1) * WEB_PAGE_SIZE, shown = 0;
	    k < a.n && shown < WEB_PAGE_SIZE; k++, shown++)
		post_row(r, d, &a.p[a.n - 1 - k], shown == 0, 0);
	table_end(r);
	if (!r->api) {
		web_html(r, "<p>Page %u of %u", page, pages);
		if (page > 1)
			web_html(r, " | <a href=\"/lists/%s/archive?page=%u\">"
			    "Newer</a>", d->address, page - 1);
		if (page < pages)
			web_html(r, " | <a href=\"/lists/%s/archive?page=%u\">"
			    "Older</a>", d->address, page + 1);
		web_html(r, "</p>");
	}
	page_end(r);
out:
	archive_free(&a);
}

static void
month_of(long long t, char *out, size_t len)
{
	time_t tt = (time_t)t;

	strftime(out, len, "%Y-%m", gmtime(&tt));
}

static bool
in_month(const struct post *p, const char *month)
{
	char m[16];

	month_of(p->t, m, sizeof(m));
	return strcmp(m, month) == 0;
}

/* The months with posts (newest first), or the posts of one month. */
static void
archive_date(struct web_req *r, const struct list_def *d)
{
	const char *want = web_arg(r, "month");
	struct archive a;
	char m[16], last[16] = "";
	size_t count = 0, shown = 0;

	if (!archive_load(r, d, &a))
		goto out;
	if (want != NULL && *want != '\0') {
		for (size_t i = 0; i < a.n; i++)
			count += in_month(&a.p[i], want);
		page_begin(r, d, want, count);
		table_begin(r, "posts");
		for (size_t i = a.n; i-- > 0;)
			if (in_month(&a.p[i], want))
				post_row(r, d, &a.p[i], shown++ == 0, 0);
		table_end(r);
		page_end(r);
		goto out;
	}
	page_begin(r, d, "Months", a.n);
	if (r->api)
		buf_append_str(&r->out, ",\"months\":[");
	else
		web_html(r, "<table><tr><th>Month</th><th>Posts</th></tr>");
	for (size_t i = a.n; i-- > 0;) {
		month_of(a.p[i].t, m, sizeof(m));
		if (strcmp(m, last) != 0 && last[0] != '\0') {
			if (r->api)
				buf_printf(&r->out, "%s{\"month\":\"%s\","
				    "\"posts\":%zu}", shown++ ? "," : "", last,
				    count);
			else
				web_html(r, "<tr><td><a href=\"/lists/%s/"
				    "archive/date?month=%s\">%s</a></td><td>"
				    "%zu</td></tr>", d->address, last, last,
				    count);
			count = 0;
		}
		snprintf(last, sizeof(last), "%s", m);
		count++;
	}
	if (last[0] != '\0' && r->api)
		buf_printf(&r->out, "%s{\"month\":\"%s\",\"posts\":%zu}",
		    shown ? "," : "", last, count);
	else if (last[0] != '\0')
		web_html(r, "<tr><td><a href=\"/lists/%s/archive/date?month="
		    "%s\">%s</a></td><td>%zu</td></tr>", d->address, last,
		    last, count);
	table_end(r);
	page_end(r);
out:
	archive_free(&a);
}

/* --- by thread ------------------------------------------------------- */

struct tpost {
	char *id, *reply, *refs, *key;
	size_t parent, root;          /* index in the window; SIZE_MAX none */
	unsigned depth;
	unsigned latest;              /* roots: newest post of the thread */
};

/* The subject without "Re:"-like prefixes and the list's prefix,
 * lower-cased: a fallback for replies without references. */
static char *
subject_key(const char *subject)
{
	struct buf b = BUF_INIT;
	const char *s = subject;
	bool more = true;

	while (more) {
		more = false;
		s += strspn(s, " \t");
		if (*s == '[' && strchr(s, ']') != NULL) {
			s = strchr(s, ']') + 1;
			more = true;
		} else if (strncasecmp(s, "re:", 3) == 0 ||
		    strncasecmp(s, "aw:", 3) == 0) {
			s += 3;
			more = true;
		} else if (strncasecmp(s, "fwd:", 4) == 0) {
			s += 4;
			more = true;
		}
	}
	buf_set(&b, s);
	return str_lower(buf_steal(&b));
}

/* The index in the window of the post with Message-ID id, or SIZE_MAX. */
static size_t
tpost_by_id(const struct tpost *t, size_t n, const char *id, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].id != NULL && strlen(t[i].id) == len &&
		    strncmp(t[i].id, id, len) == 0)
			return i;
	return SIZE_MAX;
}

/* The parent of post i among the posts before it: the last of its
 * References found, else In-Reply-To, else the first post of the same
 * subject key. */
static size_t
tpost_parent(const struct tpost *t, size_t i)
{
	size_t found = SIZE_MAX;

	for (const char *s = t[i].refs; s != NULL && *s != '\0';) {
		const char *lt = strchr(s, '<'), *gt;
		size_t k;

		if (lt == NULL || (gt = strchr(lt, '>')) == NULL)
			break;
		k = tpost_by_id(t, i, lt, (size_t)(gt - lt + 1));
		if (k != SIZE_MAX)
			found = k;
		s = gt + 1;
	}
	if (found == SIZE_MAX && t[i].reply != NULL)
		found = tpost_by_id(t, i, t[i].reply, strlen(t[i].reply));
	for (size_t k = 0; found == SIZE_MAX && k < i; k++)
		if (t[i].key[0] != '\0' && strcmp(t[k].key, t[i].key) == 0)
			found = t[k].root;
	return found;
}

/* The first <...> of a header value, or NULL. */
static char *
msgid_of(const struct mail *m, const char *name)
{
	struct buf v = BUF_INIT;
	char *out = NULL, *lt, *gt;

	if (mail_get(m, name, &v) && (lt = strchr(v.data, '<')) != NULL &&
	    (gt = strchr(lt, '>')) != NULL)
		out = xstrndup(lt, (size_t)(gt - lt + 1));
	buf_free(&v);
	return out;
}

/* Read the headers of posts [lo, a->n) and link them into threads. */
static struct tpost *
threads_build(struct web_req *r, const struct list_def *d,
    const struct archive *a, size_t lo)
{
	size_t n = a->n - lo;
	struct tpost *t = xcalloc(n > 0 ? n : 1, sizeof(*t));
	struct buf head = BUF_INIT, v = BUF_INIT;

	for (size_t i = 0; i < n; i++) {
		struct mail m;

		memset(&m, 0, sizeof(m));
		if (post_read(r, d, &a->p[lo + i], ARCH_HEAD_MAX, &head) == 0)
			mail_parse(head.data, head.len, &m);
		t[i].id = msgid_of(&m, "Message-ID");
		t[i].reply = msgid_of(&m, "In-Reply-To");
		t[i].refs = mail_get(&m, "References", &v) ? xstrdup(v.data) :
		    NULL;
		mime_header_decode(a->p[lo + i].subject, &v);
		t[i].key = subject_key(v.data);
		if (head.len > 0)
			mail_free(&m);
		t[i].parent = tpost_parent(t, i);
		t[i].root = t[i].parent == SIZE_MAX ? i : t[t[i].parent].root;
		t[i].depth = t[i].parent == SIZE_MAX ? 0 :
		    t[t[i].parent].depth + (t[t[i].parent].depth <
		    ARCH_THREAD_DEPTH);
		t[t[i].root].latest = (unsigned)i;
	}
	buf_free(&head);
	buf_free(&v);
	return t;
}

struct troot {
	size_t root;
	unsigned latest;
};

/* Threads with the newest post first. */
static int
latest_cmp(const void *x, const void *y)
{
	const struct troot *a = x, *b = y;

	return a->latest < b->latest ? 1 : a->latest > b->latest ? -1 : 0;
}

static void
archive_thread(struct web_req *r, const struct list_def *d)
{
	struct archive a;
	struct tpost *t;
	struct troot *roots;
	size_t lo, n, nroots = 0;

	if (!archive_load(r, d, &a))
		goto out;
	lo = a.n > ARCH_THREAD_POSTS ? a.n - ARCH_THREAD_POSTS : 0;
	n = a.n - lo;
	t = threads_build(r, d, &a, lo);
	roots = xcalloc(n > 0 ? n : 1, sizeof(*roots));
	for (size_t i = 0; i < n; i++)
		if (t[i].root == i) {
			roots[nroots].root = i;
			roots[nroots++].latest = t[i].latest;
		}
	qsort(roots, nroots, sizeof(*roots), latest_cmp);
	page_begin(r, d, "Threads of the last posts, latest activity first",
	    n);
	if (r->api)
		buf_append_str(&r->out, ",\"threads\":[");
	for (size_t k = 0; k < nroots; k++) {
		bool first = true;

		if (r->api)
			buf_append_str(&r->out, k > 0 ? ",[" : "[");
		else
			web_html(r, "<div class=\"box thread\"><table>");
		for (size_t i = roots[k].root; i < n; i++)
			if (t[i].root == roots[k].root) {
				post_row(r, d, &a.p[lo + i], first,
				    t[i].depth);
				first = false;
			}
		buf_append_str(&r->out, r->api ? "]" : "</table></div>");
	}
	if (r->api)
		buf_append_str(&r->out, "]");
	page_end(r);
	for (size_t i = 0; i < n; i++) {
		free(t[i].id);
		free(t[i].reply);
		free(t[i].refs);
		free(t[i].key);
	}
	free(t);
	free(roots);
out:
	archive_free(&a);
}

/* --- one post -------------------------------------------------------- */

struct view {
	struct web_req *r;
	const struct list_def *d;
	unsigned num;                         /* the post */
	unsigned want;                        /* fetch attachment N; 0 no */
	struct buf got;                       /* its bytes, decoded */
	char got_name[ARCH_NAME_MAX + 1];     /* its name, for the header */
	bool found;
	unsigned texts, atts;
	unsigned plain_alt[ARCH_TEXT_PARTS];  /* alternatives shown plain */
	struct buf body, atts_out;            /* rendered parts */
};

static bool
alt_has_plain(const struct view *v, unsigned alt)
{
	for (unsigned i = 0; alt != 0 && i < v->texts && i <
	    ARCH_TEXT_PARTS; i++)
		if (v->plain_alt[i] == alt)
			return true;
	return false;
}

/* Append a text part (UTF-8) to the view. */
static void
view_text(struct view *v, const char *type, const char *text)
{
	if (v->r->api) {
		buf_append_str(&v->body, v->texts > 0 ? ",{\"type\":" :
		    "{\"type\":");
		json_escape(&v->body, type);
		buf_append_str(&v->body, ",\"text\":");
		json_escape(&v->body, text);
		buf_append_char(&v->body, '}');
		return;
	}
	buf_append_str(&v->body, "<div class=\"part\"><p><small>");
	html_escape(&v->body, type);
	buf_append_str(&v->body, strcmp(type, "text/html") == 0 ?
	    " (shown as text)" : "");
	buf_append_str(&v->body, "</small></p><pre style=\"white-space:"
	    "pre-wrap\">");
	html_escape(&v->body, text);
	buf_append_str(&v->body, "</pre></div>");
}

/* A name that is safe in a Content-Disposition header: the bytes of
 * the (hostile) attachment name that are letters, digits, '.', '-' or
 * '_', the others '_'; "attachment-N" when nothing is left. */
static void
safe_name(const char *name, unsigned n, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = name; *p != '\0' && o + 1 < len; p++) {
		unsigned char c = (unsigned char)*p;

		out[o++] = (c < 128 && (isalnum(c) || c == '.' || c == '-' ||
		    c == '_')) ? (char)c : '_';
	}
	out[o] = '\0';
	if (strspn(out, "._") == o)
		snprintf(out, len, "attachment-%u", n);
}

static void
view_attachment(struct view *v, const struct mime_part *p,
    const struct buf *raw)
{
	const char *name = p->filename[0] != '\0' ? p->filename : "(no name)";
	unsigned n = ++v->atts;

	if (v->want == n) {
		buf_append(&v->got, raw->data, raw->len);
		safe_name(p->filename, n, v->got_name, sizeof(v->got_name));
		v->found = true;
	}
	if (v->r->api) {
		buf_append_str(&v->atts_out, n > 1 ? ",{\"name\":" :
		    "{\"name\":");
		json_escape(&v->atts_out, name);
		buf_append_str(&v->atts_out, ",\"type\":");
		json_escape(&v->atts_out, p->type);
		buf_printf(&v->atts_out, ",\"size\":%zu,\"url\":\"/lists/%s/"
		    "archive/%u/%u\"}", raw->len, v->d->address, v->num, n);
	} else {
		buf_printf(&v->atts_out, "<tr><td><a href=\"/lists/%s/archive/"
		    "%u/%u\">", v->d->address, v->num, n);
		html_escape(&v->atts_out, name);
		buf_append_str(&v->atts_out, "</a></td><td>");
		html_escape(&v->atts_out, p->type);
		buf_printf(&v->atts_out, "</td><td>%zu</td></tr>", raw->len);
	}
}

static void
view_part(const struct mime_part *p, void *arg)
{
	struct view *v = arg;
	struct buf raw = BUF_INIT, u = BUF_INIT, txt = BUF_INIT;
	bool plain = strcmp(p->type, "text/plain") == 0;
	bool html = strcmp(p->type, "text/html") == 0;

	mime_decode(p->body, p->len, p->cte, &raw);
	if (p->attachment || (!plain && !html) || v->texts >= ARCH_TEXT_PARTS)
		view_attachment(v, p, &raw);
	else if (html && alt_has_plain(v, p->alternative))
		;                       /* the plain text of it is shown */
	else {
		mime_to_utf8(buf_cstr(&raw), raw.len, p->charset, &u);
		if (html)
			mime_html_text(u.data, u.len, &txt);
		view_text(v, p->type, html ? txt.data : u.data);
		v->plain_alt[v->texts++] = plain ? p->alternative : 0;
	}
	buf_free(&raw);
	buf_free(&u);
	buf_free(&txt);
}

static void
header_row(struct web_req *r, const struct mail *m, const char *name,
    const char *key)
{
	struct buf v = BUF_INIT, dec = BUF_INIT;

	(void)mail_get(m, name, &v);
	mime_header_decode(buf_cstr(&v), &dec);
	if (r->api) {
		buf_printf(&r->out, ",\"%s\":", key);
		json_escape(&r->out, dec.data);
	} else if (v.len > 0)
		web_html(r, "<tr><th>%s</th><td>%s</td></tr>", name, dec.data);
	buf_free(&v);
	buf_free(&dec);
}

/* Post num, or (want > 0) its attachment number want, as a download. */
static void
archive_message(struct web_req *r, const struct list_def *d, unsigned num,
    unsigned want)
{
	struct archive a;
	const struct post *p;
	struct buf msg = BUF_INIT, t = BUF_INIT;
	struct view v = { .r = r, .d = d, .num = num, .want = want };
	struct mail m;
	static const char *const shown[][2] = { { "From", "from" },
		{ "To", "to" }, { "Cc", "cc" }, { "Date", "date" },
		{ "Subject", "subject" } };

	if (!archive_load(r, d, &a))
		goto out;
	if ((p = post_find(&a, num)) == NULL) {
		web_error(r, 404, "No such post in the archive.");
		goto out;
	}
	if (post_read(r, d, p, ARCH_MSG_MAX, &msg) < 0) {
		web_error(r, 500, "The post cannot be read.");
		goto out;
	}
	mail_parse(msg.data, msg.len, &m);
	(void)mime_walk(&m, view_part, &v);
	if (want > 0) {
		if (!v.found)
			web_error(r, 404, "No such attachment.");
		else {
			/* Hostile content: never shown inline (nosniff is
			 * set on every answer). */
			r->ctype = "application/octet-stream";
			snprintf(r->disposition, sizeof(r->disposition),
			    "attachment; filename=\"%s\"", v.got_name);
			buf_append(&r->out, v.got.data, v.got.len);
		}
		mail_free(&m);
		goto out;
	}
	if (r->api) {
		r->ctype = "application/json";
		buf_printf(&r->out, "{\"ok\":true,\"num\":%u", num);
	} else {
		buf_printf(&t, "%s: post %u", d->address, num);
		web_page_begin(r, t.data);
		archive_nav(r, d);
		web_html(r, "<table class=\"headers\">");
	}
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
		header_row(r, &m, shown[i][0], shown[i][1]);
	if (r->api) {
		buf_printf(&r->out, ",\"parts\":[%s],\"attachments\":[%s]}\n",
		    buf_cstr(&v.body), buf_cstr(&v.atts_out));
	} else {
		web_html(r, "</table>");
		buf_append(&r->out, v.body.data, v.body.len);
		if (v.atts > 0) {
			web_html(r, "<h2>Attachments</h2><table><tr><th>Name"
			    "</th><th>Type</th><th>Size (bytes)</th></tr>");
			buf_append(&r->out, v.atts_out.data, v.atts_out.len);
			web_html(r, "</table>");
		}
		web_html(r, "<p>");
		if (num > 1)
			web_html(r, "<a href=\"/lists/%s/archive/%u\">Previous"
			    "</a> ", d->address, num - 1);
		if (num < a.n)
			web_html(r, "<a href=\"/lists/%s/archive/%u\">Next"
			    "</a>", d->address, num + 1);
		web_html(r, "</p>");
		web_page_end(r);
	}
	mail_free(&m);
out:
	archive_free(&a);
	buf_free(&msg);
	buf_free(&t);
	buf_free(&v.body);
	buf_free(&v.atts_out);
	buf_free(&v.got);
}

/* A number 1 .. 4e9 of decimal digits only at s; its end in *end. */
static unsigned
number_at(const char *s, const char **end)
{
	char *e;
	unsigned long n;

	if (*s < '0' || *s > '9')
		return 0;
	n = strtoul(s, &e, 10);
	*end = e;
	return n > 0 && n < 4000000000UL ? (unsigned)n : 0;
}

/* archive/date, archive/thread, archive/N or archive/N/ATTACHMENT. */
static void
archive_sub(struct web_req *r, const struct list_def *d, const char *rest)
{
	const char *end = rest, *end2 = rest;
	unsigned num, att = 0;

	if (strcmp(rest, "date") == 0)
		archive_date(r, d);
	else if (strcmp(rest, "thread") == 0)
		archive_thread(r, d);
	else if ((num = number_at(rest, &end)) > 0 && (*end == '\0' ||
	    (*end == '/' && (att = number_at(end + 1, &end2)) > 0 &&
	    *end2 == '\0')))
		archive_message(r, d, num, att);
	else
		web_error(r, 404, "No such page.");
}

const struct web_list_route web_archive_routes[] = {
	{ "GET", "archive", archive_index },
	{ "GET", "archive/", archive_sub },
};
const size_t web_archive_route_count =
    sizeof(web_archive_routes) / sizeof(web_archive_routes[0]);
