/*
 * post.c - mail to LIST@DOMAIN (and LIST-owner@): loop protection, the
 * post policy, moderation (held posts with approve/reject tokens), and
 * distribution with RFC 2369/2919 headers to every member.
 *
 * Distribution: local members (local domains) get ONE delivery, so one
 * stored copy hard-linked into every Maildir, with envelope sender
 * LIST-bounces@DOMAIN. Remote members go through the outbound queue:
 * with "verp yes" (default) one queue entry per member with envelope
 * sender LIST-bounces+user=host@DOMAIN so a bounce names its member;
 * with "verp no" one queue entry for all of them (bounces are then
 * matched through the DSN's Final-Recipient). Members with digest get
 * the post in the next digest, members with nomail nothing.
 *
 * Progress: a distribution that fails half-way (disk full, database
 * trouble) or is killed leaves its spool file for a retry. So that the
 * retry does not send twice, state_dir/lists/LIST/progress/JOB records
 * (durably) "local" once the local copy is delivered and "remote ADDR"
 * with the last remote member served (members come in address order),
 * at least every PROGRESS_EVERY deliveries and at a failure. At most
 * PROGRESS_EVERY remote members get a second copy after a crash.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "listd.h"
#include "log.h"
#include "scoreboard.h"
#include "util.h"

#define PROGRESS_EVERY 20

static const char *const list_fields[] = { "List-Id", "List-Post",
	"List-Help", "List-Subscribe", "List-Unsubscribe",
	"List-Unsubscribe-Post", "List-Owner", "List-Archive", "Precedence",
	"Return-Path", "Delivered-To", NULL };

/* Is any field name's value containing needle (case-insensitive)? */
static bool
field_contains(const struct mail *m, const char *name, const char *needle)
{
	struct buf v = BUF_INIT;
	bool found = false;

	for (size_t i = 0; i < m->nfields && !found; i++) {
		if (strcasecmp(m->fields[i].name, name) != 0)
			continue;
		mail_field_value(&m->fields[i], &v);   /* NUL-free */
		found = strcasestr(v.data, needle) != NULL;
	}
	buf_free(&v);
	return found;
}

/* The poster: From: address, else the envelope sender. */
static void
poster_of(const struct mail *m, const char *sender, struct buf *out)
{
	struct buf v = BUF_INIT;

	if (!mail_get(m, "From", &v) || !mail_address(buf_cstr(&v), out))
		buf_set(out, sender);
	buf_free(&v);
}

static void
notify_poster(struct listd *ld, const struct list_def *d, const char *to,
    const char *subject, const char *body)
{
	struct buf from = BUF_INIT, bounces = BUF_INIT;

	if (to == NULL || *to == '\0')
		return;
	list_addr(d, "-request", &from);
	list_addr(d, "-bounces", &bounces);
	(void)send_notice(ld, bounces.data, from.data, to, subject, NULL,
	    body);
	buf_free(&from);
	buf_free(&bounces);
}

void
post_held_expired(struct listd *ld, const struct list_def *d,
    const char *poster)
{
	struct buf body = BUF_INIT;

	buf_printf(&body, "Your message to %s was held for a moderator and "
	    "nobody approved it within %d days;\nit has been discarded.\n",
	    d->address, LISTD_HELD_TTL / 86400);
	notify_poster(ld, d, poster, "Held message expired", body.data);
	buf_free(&body);
}

static int
hold_post(struct listd *ld, const struct list_def *d, const char *sender,
    const struct mail *m, const char *msg, size_t len, const char *why)
{
	struct token t;
	struct buf path = BUF_INIT, body = BUF_INIT, subj = BUF_INIT;
	struct buf from = BUF_INIT, req = BUF_INIT, bounces = BUF_INIT;
	struct buf hdr = BUF_INIT, poster = BUF_INIT;
	const struct strlist *mods = d->moderators.count > 0 ?
	    &d->moderators : &d->owners;
	int r = -1;

	poster_of(m, sender, &poster);
	held_path(ld, d, NULL, &path);
	if (mkdir_p(path.data, 0700) < 0) {
		log_error("event=create-failed list=%s path=%s", d->address,
		    path.data);
		goto out;
	}
	if (token_create(ld, d, TOKEN_POST, sender, LISTD_HELD_TTL, &t) < 0)
		goto out;
	held_path(ld, d, t.id, &path);
	if (write_file_durable(path.data, msg, len, 0600) < 0) {
		log_error("event=write-failed list=%s path=%s", d->address,
		    path.data);
		token_remove(ld, d, t.id);
		goto out;
	}
	scoreboard_count(SBC_LIST_HELD);
	log_info("action=post list=%s from=<%s> status=held token=%s "
	    "reason=\"%s\"", d->address, sender, t.id, why);

	list_addr(d, "-request", &req);
	list_addr(d, "-bounces", &bounces);
	mail_get(m, "Subject", &subj);
	buf_printf(&body,
	    "A message to %s was held for approval: %s.\n\n"
	    "    From: %s\n    Subject: %s\n    Size: %zu bytes\n\n"
	    "To let it through, reply to this message, or send a message to\n"
	    "%s with this line:\n\n"
	    "    approve %s\n\n"
	    "To reject it, send this line instead:\n\n"
	    "    reject %s\n\n"
	    "Without an answer it expires in %d days.\n",
	    d->address, why, poster.data, buf_cstr(&subj), len, req.data,
	    t.id, t.id, LISTD_HELD_TTL / 86400);
	buf_printf(&hdr, "Reply-To: %s\n", req.data);
	buf_printf(&from, "%s: held post from %s (approve %s)", d->name,
	    poster.data, t.id);
	for (size_t i = 0; i < mods->count; i++)
		(void)send_notice(ld, bounces.data, req.data, mods->items[i],
		    from.data, hdr.data, body.data);
	buf_reset(&body);
	buf_printf(&body, "Your message to %s with the subject\n\n    %s\n\n"
	    "is held until a moderator looks at it (%s).\n"
	    "You will hear if it is rejected.\n", d->address,
	    buf_cstr(&subj), why);
	buf_reset(&from);
	buf_printf(&from, "Your message to %s awaits approval", d->address);
	notify_poster(ld, d, poster.data, from.data, body.data);
	r = 0;
out:
	buf_free(&path);
	buf_free(&body);
	buf_free(&subj);
	buf_free(&from);
	buf_free(&req);
	buf_free(&bounces);
	buf_free(&hdr);
	buf_free(&poster);
	return r;
}

int
post_handle(struct listd *ld, const struct list_def *d, const char *sender,
    const char *msg, size_t len, const char *spool_id)
{
	struct mail m;
	struct buf id = BUF_INIT, poster = BUF_INIT, body = BUF_INIT;
	struct buf subj = BUF_INIT;
	struct list_member mem;
	struct listdb *db = NULL;
	struct buf err = BUF_INIT;
	bool ok = false, is_mod;
	int r = 0, member;

	mail_parse(msg, len, &m);
	list_id(d, &id);
	if (field_contains(&m, "List-Id", id.data) ||
	    field_contains(&m, "X-Loop", d->address)) {
		log_warn("action=post list=%s qid=%s from=<%s> status=dropped "
		    "reason=\"loop (our own List-Id or X-Loop)\"", d->address,
		    spool_id, sender);
		goto out;
	}
	if (mail_is_automatic(&m)) {
		log_info("action=post list=%s qid=%s from=<%s> status=dropped "
		    "reason=\"automatic message (Auto-Submitted/Precedence)\"",
		    d->address, spool_id, sender);
		goto out;
	}
	if (*sender == '\0') {
		log_info("action=post list=%s qid=%s from=<> status=dropped "
		    "reason=\"null sender (a bounce to the posting "
		    "address)\"", d->address, spool_id);
		goto out;
	}
	poster_of(&m, sender, &poster);
	if (d->max_size > 0 && len > d->max_size) {
		log_info("action=post list=%s qid=%s from=<%s> size=%zu "
		    "status=rejected reason=\"over max_size\"", d->address,
		    spool_id, sender, len);
		mail_get(&m, "Subject", &subj);
		buf_printf(&body, "Your message to %s with the subject\n\n"
		    "    %s\n\nwas not distributed: it has %zu bytes, the "
		    "list takes at most %llu.\n", d->address, buf_cstr(&subj),
		    len, (unsigned long long)d->max_size);
		notify_poster(ld, d, sender, "Message too large", body.data);
		goto out;
	}
	is_mod = list_is_moderator(d, poster.data) ||
	    list_is_moderator(d, sender);
	if ((db = listdb_open(ld->conf, d, &err)) == NULL) {
		log_error("event=list-failed list=%s reason=\"%s\"",
		    d->address, err.data);
		r = -1;
		goto out;
	}
	member = listdb_get(db, poster.data, &mem);
	if (member == 0 && strcasecmp(poster.data, sender) != 0)
		member = listdb_get(db, sender, &mem);
	listdb_close(db);
	if (member < 0) {
		r = -1;
		goto out;
	}
	switch (d->post) {
	case LIST_POST_ANYONE:
		ok = true;
		break;
	case LIST_POST_MEMBERS:
		ok = is_mod || member == 1;
		if (!ok)
			r = hold_post(ld, d, sender, &m, msg, len,
			    "the sender is not a member");
		break;
	case LIST_POST_MODERATED:
		ok = is_mod;
		if (!ok)
			r = hold_post(ld, d, sender, &m, msg, len,
			    "the list is moderated");
		break;
	case LIST_POST_ANNOUNCE:
		ok = is_mod;
		if (!ok) {
			log_info("action=post list=%s qid=%s from=<%s> "
			    "status=rejected reason=\"announce list, poster is "
			    "no owner or moderator\"", d->address, spool_id,
			    sender);
			mail_get(&m, "Subject", &subj);
			buf_printf(&body, "Your message to %s with the "
			    "subject\n\n    %s\n\nwas not distributed: only "
			    "the owners and moderators post to this list.\n",
			    d->address, buf_cstr(&subj));
			notify_poster(ld, d, poster.data,
			    "Message not distributed", body.data);
		}
		break;
	}
	if (ok) {
		log_info("action=post list=%s qid=%s from=<%s> status=accepted",
		    d->address, spool_id, sender);
		r = post_distribute(ld, d, sender, msg, len, spool_id);
	}
out:
	mail_free(&m);
	buf_free(&id);
	buf_free(&poster);
	buf_free(&body);
	buf_free(&subj);
	buf_free(&err);
	return r;
}

/* Rewrite the post for distribution into out. */
static void
rewrite(struct listd *ld, const struct list_def *d, const char *msg,
    size_t len, struct buf *out)
{
	struct mail m;
	struct buf v = BUF_INIT, id = BUF_INIT, req = BUF_INIT;
	struct buf own = BUF_INIT, name = BUF_INIT, from = BUF_INIT;

	mail_parse(msg, len, &m);
	for (int i = 0; list_fields[i] != NULL; i++)
		mail_remove(&m, list_fields[i]);
	list_id(d, &id);
	list_addr(d, "-request", &req);
	list_addr(d, "-owner", &own);

	if (*d->subject_prefix != '\0') {
		if (!mail_get(&m, "Subject", &v) || v.len == 0) {
			buf_reset(&name);
			buf_printf(&name, "%s (no subject)", d->subject_prefix);
			mail_set(&m, "Subject", name.data);
		} else if (strcasestr(v.data, d->subject_prefix) == NULL) {
			buf_reset(&name);
			buf_printf(&name, "%s %s", d->subject_prefix, v.data);
			mail_set(&m, "Subject", name.data);
		}
	}
	/* DMARC: the list cannot sign for the poster's domain, so when that
	 * domain asks receivers to reject or quarantine failing mail (auto,
	 * dmarc.c) or always, the From: becomes the list's own address. */
	if (ld->conf->list_dmarc_rewrite != DMARC_REWRITE_NEVER &&
	    mail_get(&m, "From", &from) && mail_address(from.data, &v) &&
	    (ld->conf->list_dmarc_rewrite == DMARC_REWRITE_ALWAYS ||
	    dmarc_strict(ld, strrchr(v.data, '@') + 1) != 0)) {
		mail_display_name(from.data, &name);
		if (name.len == 0)
			buf_set(&name, v.data);
		for (char *p = name.data; *p != '\0'; p++)
			if (*p == '"' || *p == '\\' || (unsigned char)*p < ' ')
				*p = '\'';
		buf_reset(&v);
		buf_printf(&v, "\"%s via %s\" <%s>", name.data, d->name,
		    d->address);
		mail_set(&m, "X-Original-From", from.data);
		mail_set(&m, "From", v.data);
		if (d->reply_to != LIST_REPLY_LIST) {
			struct buf rt = BUF_INIT;
			if (!mail_get(&m, "Reply-To", &rt))
				mail_set(&m, "Reply-To", from.data);
			buf_free(&rt);
		}
	}
	if (d->reply_to == LIST_REPLY_LIST)
		mail_set(&m, "Reply-To", d->address);

	buf_reset(&v);
	if (*d->description != '\0')
		buf_printf(&v, "%s <%s>", d->description, id.data);
	else
		buf_printf(&v, "<%s>", id.data);
	mail_add(&m, "List-Id", v.data);
	buf_reset(&v);
	buf_printf(&v, "<mailto:%s?subject=help>", req.data);
	mail_add(&m, "List-Help", v.data);
	buf_reset(&v);
	if (d->post == LIST_POST_ANNOUNCE)
		buf_append_str(&v, "NO");
	else
		buf_printf(&v, "<mailto:%s>", d->address);
	mail_add(&m, "List-Post", v.data);
	buf_reset(&v);
	buf_printf(&v, "<mailto:%s?subject=subscribe>", req.data);
	mail_add(&m, "List-Subscribe", v.data);
	buf_reset(&v);
	buf_printf(&v, "<mailto:%s?subject=unsubscribe>", req.data);
	if (ld->conf->list_web_url != NULL)
		buf_printf(&v, ", <%s%slist=%s>", ld->conf->list_web_url,
		    strchr(ld->conf->list_web_url, '?') ? "&" : "?",
		    d->address);
	/* A shared copy cannot name its reader: the web URL is a page to
	 * unsubscribe from, not a one-click URI; personal_copy() makes the
	 * one-click form (RFC 8058) for copies that go to one member. */
	mail_add(&m, "List-Unsubscribe", v.data);
	if (d->archive) {
		buf_reset(&v);
		buf_printf(&v, "<mailto:%s?subject=index>", req.data);
		mail_add(&m, "List-Archive", v.data);
	}
	buf_reset(&v);
	buf_printf(&v, "<mailto:%s>", own.data);
	mail_add(&m, "List-Owner", v.data);
	mail_add(&m, "Precedence", "list");
	mail_add(&m, "X-Loop", d->address);
	mail_format(&m, out);
	mail_free(&m);
	buf_free(&v);
	buf_free(&id);
	buf_free(&req);
	buf_free(&own);
	buf_free(&name);
	buf_free(&from);
}

static void
progress_path(struct listd *ld, const struct list_def *d, const char *job,
    struct buf *out)
{
	list_state_path(ld->conf, d, "progress", out);
	if (job != NULL)
		buf_printf(out, "/%s", job);
}

static void
progress_load(const char *path, bool *local_done, struct buf *last)
{
	struct buf text = BUF_INIT;
	char *save = NULL;

	*local_done = false;
	buf_reset(last);
	if (read_file(path, &text, 4096) < 0 || text.len == 0) {
		buf_free(&text);
		return;
	}
	for (char *l = strtok_r(text.data, "\n", &save); l != NULL;
	    l = strtok_r(NULL, "\n", &save)) {
		if (strcmp(l, "local") == 0)
			*local_done = true;
		else if (strncmp(l, "remote ", 7) == 0)
			buf_set(last, l + 7);
	}
	buf_free(&text);
}

static int
progress_save(const char *path, bool local_done, const char *last)
{
	struct buf text = BUF_INIT;
	int r;

	if (local_done)
		buf_append_str(&text, "local\n");
	if (last != NULL && *last != '\0')
		buf_printf(&text, "remote %s\n", last);
	r = write_file_durable(path, buf_cstr(&text), text.len, 0600);
	if (r < 0)
		log_error("event=write-failed path=%s error=\"%s\"", path,
		    strerror(errno));
	buf_free(&text);
	return r;
}

void
post_progress_expire(struct listd *ld, const struct list_def *d,
    int64_t now, int64_t max_age)
{
	struct buf dir = BUF_INIT, p = BUF_INIT;
	struct dirent *de;
	DIR *dp;

	progress_path(ld, d, NULL, &dir);
	if ((dp = opendir(dir.data)) == NULL) {
		buf_free(&dir);
		return;
	}
	while ((de = readdir(dp)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		buf_reset(&p);
		buf_printf(&p, "%s/%s", dir.data, de->d_name);
		if (stat(p.data, &st) == 0 && now - st.st_mtime > max_age)
			unlink(p.data);
	}
	closedir(dp);
	buf_free(&dir);
	buf_free(&p);
}

/* Percent-encode s for a URL query value. */
static void
url_encode(const char *s, struct buf *out)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			buf_append_char(out, (char)c);
		else
			buf_printf(out, "%%%02X", c);
	}
}

/* The copy for one member with an RFC 8058 one-click List-Unsubscribe:
 * URL?list=LIST&member=ADDR&token=HMAC (see list_unsub_token() and
 * "dlist oneclick"), and List-Unsubscribe-Post. 0, or -1 (then the
 * shared copy is sent). */
static int
personal_copy(struct listd *ld, const struct list_def *d, const char *member,
    const struct buf *shared, struct buf *out)
{
	const char *s = shared->data, *hdr_end, *f, *eol;
	char tok[LIST_UNSUB_TOKEN_LEN + 1];
	struct buf req = BUF_INIT;
	const char *url = ld->conf->list_web_url;

	if (url == NULL || s == NULL ||
	    list_unsub_token(ld->conf, d, member, tok) < 0)
		return -1;
	/* The post may hold NUL bytes: search with lengths. */
	hdr_end = memmem(s, shared->len, "\n\n", 2);
	f = memmem(s, shared->len, "\nList-Unsubscribe: ", 19);
	if (hdr_end == NULL || f == NULL || f > hdr_end)
		return -1;
	f++;
	eol = memchr(f, '\n', shared->len - (size_t)(f - s));
	if (eol == NULL)
		return -1;
	list_addr(d, "-request", &req);
	buf_reset(out);
	buf_append(out, s, (size_t)(f - s));
	buf_printf(out, "List-Unsubscribe: <mailto:%s?subject=unsubscribe>, "
	    "<%s%slist=", req.data, url, strchr(url, '?') ? "&" : "?");
	url_encode(d->address, out);
	buf_append_str(out, "&member=");
	url_encode(member, out);
	buf_printf(out, "&token=%s>\nList-Unsubscribe-Post: "
	    "List-Unsubscribe=One-Click", tok);
	buf_append(out, eol, shared->len - (size_t)(eol - s));
	buf_free(&req);
	return 0;
}

/* Who gets a post: members by where their mail goes. */
struct fanout {
	struct list_member *members;
	const char **local, **remote;   /* point into members */
	size_t nl, nr, ndigest;
};

static void
fanout_free(struct fanout *f)
{
	free(f->local);
	free(f->remote);
	free(f->members);
}

/* Sort the members of d: local, remote, digest; nomail ones skipped.
 * 0, or -1 (logged). */
static int
fanout_load(struct listd *ld, const struct list_def *d, struct fanout *f)
{
	size_t n = 0;

	memset(f, 0, sizeof(*f));
	if (listdb_members(ld->conf, d, &f->members, &n) < 0)
		return -1;
	f->local = xcalloc(n + 1, sizeof(*f->local));
	f->remote = xcalloc(n + 1, sizeof(*f->remote));
	for (size_t i = 0; i < n; i++) {
		const char *at = strrchr(f->members[i].address, '@');

		if (f->members[i].nomail)
			continue;
		if (f->members[i].digest && d->digest) {
			f->ndigest++;
			continue;
		}
		if (at != NULL && conf_is_local_domain(ld->conf, at + 1))
			f->local[f->nl++] = f->members[i].address;
		else
			f->remote[f->nr++] = f->members[i].address;
	}
	return 0;
}

/* The progress file of job into ppath (empty without a job), and what
 * an earlier attempt recorded there. */
static void
progress_open(struct listd *ld, const struct list_def *d, const char *job,
    struct buf *ppath, bool *local_done, struct buf *last)
{
	struct buf pdir = BUF_INIT;

	progress_path(ld, d, job, ppath);
	if (job == NULL || *job == '\0') {
		buf_reset(ppath);
		return;
	}
	progress_load(ppath->data, local_done, last);
	if (*local_done || last->len > 0)
		log_info("action=distribute list=%s job=%s status=resuming "
		    "reason=\"local %s, remote after <%s>\"", d->address,
		    job, *local_done ? "done" : "to do", buf_cstr(last));
	progress_path(ld, d, NULL, &pdir);
	if (mkdir_p(pdir.data, 0700) < 0)
		log_error("event=mkdir-failed path=%s error=\"%s\"",
		    pdir.data, strerror(errno));
	buf_free(&pdir);
}

/* One envelope (VERP sender, personal copy) per remote member from
 * remote[from] on, saving progress every PROGRESS_EVERY members. 0, or
 * -1 on a temporary failure (progress saved). */
static int
send_verp(struct listd *ld, const struct list_def *d,
    const struct fanout *f, size_t from, const struct buf *out,
    const struct buf *ppath, bool local_done)
{
	struct buf pc = BUF_INIT, verp = BUF_INIT;
	size_t since_save = 0;
	int r = 0;

	for (size_t i = from; i < f->nr; i++) {
		const struct buf *copy = out;

		list_verp_addr(d, f->remote[i], &verp);
		if (personal_copy(ld, d, f->remote[i], out, &pc) == 0)
			copy = &pc;
		if (send_mail(ld, verp.data, &f->remote[i], 1, copy->data,
		    copy->len) < 0) {
			if (ppath->len > 0 && i > 0)
				(void)progress_save(ppath->data, local_done,
				    f->remote[i - 1]);
			r = -1;
			break;
		}
		if (ppath->len > 0 && ++since_save >= PROGRESS_EVERY &&
		    i + 1 < f->nr) {
			(void)progress_save(ppath->data, local_done,
			    f->remote[i]);
			since_save = 0;
		}
	}
	buf_free(&pc);
	buf_free(&verp);
	return r;
}

int
post_distribute(struct listd *ld, const struct list_def *d,
    const char *sender, const char *msg, size_t len, const char *job)
{
	struct buf ppath = BUF_INIT, last = BUF_INIT;
	struct buf out = BUF_INIT, bounces = BUF_INIT;
	struct fanout f;
	bool local_done = false;
	size_t skipped = 0;
	int64_t t0 = now_ms();
	unsigned num = 0;
	int r = 0;

	if (fanout_load(ld, d, &f) < 0)
		return -1;
	rewrite(ld, d, msg, len, &out);
	list_addr(d, "-bounces", &bounces);
	progress_open(ld, d, job, &ppath, &local_done, &last);
	if (f.nl > 0 && !local_done) {
		if (send_mail(ld, bounces.data, f.local, f.nl, out.data,
		    out.len) < 0) {
			r = -1;
			goto out;
		}
		local_done = true;
		if (ppath.len > 0 && f.nr > 0)
			(void)progress_save(ppath.data, true, NULL);
	}
	/* Remote members already served by an earlier attempt. */
	while (last.len > 0 && skipped < f.nr &&
	    strcmp(f.remote[skipped], last.data) <= 0)
		skipped++;
	if (f.nr > skipped && !d->verp) {
		if (send_mail(ld, bounces.data, f.remote + skipped,
		    f.nr - skipped, out.data, out.len) < 0) {
			r = -1;
			goto out;
		}
	} else if (send_verp(ld, d, &f, skipped, &out, &ppath,
	    local_done) < 0) {
		r = -1;
		goto out;
	}
	if (d->archive && archive_store(ld, d, out.data, out.len, &num) < 0)
		log_error("event=archive-failed list=%s from=<%s>",
		    d->address, sender);
	if (f.ndigest > 0 && digest_add(ld, d, out.data, out.len) < 0)
		log_error("event=digest-failed list=%s from=<%s> reason=\"not "
		    "queued for the digest\"", d->address, sender);
	if (ppath.len > 0)
		unlink(ppath.data);
	scoreboard_count(SBC_LIST_DISTRIBUTED);
	log_info("action=distribute list=%s from=<%s> local=%zu remote=%zu "
	    "digest=%zu archive=%u size=%zu delay=%lldms", d->address, sender,
	    f.nl, f.nr - skipped, f.ndigest, num, out.len,
	    (long long)(now_ms() - t0));
out:
	fanout_free(&f);
	buf_free(&ppath);
	buf_free(&last);
	buf_free(&out);
	buf_free(&bounces);
	return r;
}

int
owner_handle(struct listd *ld, const struct list_def *d, const char *sender,
    const char *msg, size_t len)
{
	struct buf bounces = BUF_INIT;
	int r;

	list_addr(d, "-bounces", &bounces);
	log_info("action=forward list=%s from=<%s> reason=\"mail for the "
	    "owners\"", d->address, sender);
	r = send_mail(ld, bounces.data, (const char *const *)d->owners.items,
	    d->owners.count, msg, len);
	buf_free(&bounces);
	return r;
}
