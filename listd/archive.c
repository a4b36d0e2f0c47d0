/*
 * archive.c - the archive of a list and its digests.
 *
 * Archive: state_dir/lists/LIST/archive/ is a Maildir (tmp/new/cur)
 * holding every distributed post as sent, plus archive/index, one line
 * per post: "N<TAB>FILE<TAB>UNIXTIME<TAB>FROM<TAB>SUBJECT". Numbers
 * count from 1; "index LIST" shows the lines, "get LIST N" sends post N.
 *
 * Digest: posts for members with the digest option wait in
 * state_dir/lists/LIST/digest/ as files named "SECS.USEC-RANDOM"; when
 * their total size reaches digest_max_size or the oldest is
 * digest_interval old, one digest goes to every digest member and the
 * files are removed: RFC 1153 plain text, or with digest_format mime a
 * multipart/digest (RFC 2046) holding each post whole. digest/issue
 * holds the last issue number. digest_maybe_send() collects the posts
 * (digest_collect()), composes the digest (digest_compose()), sends it
 * and then numbers the issue and removes the posts (digest_done()).
 *
 * The caller holds the list lock (listd.c), so numbering is race-free.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "listd.h"
#include "log.h"
#include "maildir.h"
#include "sys.h"
#include "util.h"

#define INDEX_MAX (64u * 1024 * 1024)
#define DIGEST_FILE_MAX (64u * 1024 * 1024)

/* One-line header value: tabs and line breaks become blanks. */
static void
clean_value(const char *s, struct buf *out, size_t max)
{
	size_t n = 0;

	for (; *s != '\0' && n < max; s++, n++)
		buf_append_char(out, (*s == '\t' || *s == '\n' || *s == '\r') ?
		    ' ' : *s);
}

int
archive_store(struct listd *ld, const struct list_def *d, const char *msg,
    size_t len, unsigned *num)
{
	struct buf dir = BUF_INIT, base = BUF_INIT, tmp = BUF_INIT;
	struct buf dst = BUF_INIT, idx = BUF_INIT, line = BUF_INIT;
	struct buf v = BUF_INIT;
	struct mail m;
	unsigned n = 1;
	int fd = -1, r = -1;

	list_state_path(ld->conf, d, "archive", &dir);
	if (maildir_create(dir.data) < 0) {
		log_error("event=mkdir-failed list=%s path=%s error=\"%s\"",
		    d->address, dir.data, strerror(errno));
		goto out;
	}
	buf_printf(&idx, "%s/index", dir.data);
	if (read_file(idx.data, &line, INDEX_MAX) == 0) {
		for (size_t i = 0; i < line.len; i++)
			if (line.data[i] == '\n')
				n++;
	} else if (errno != ENOENT) {
		log_error("event=read-failed path=%s error=\"%s\"", idx.data,
		    strerror(errno));
		goto out;
	}
	maildir_unique_base(ld->conf->hostname, &base);
	buf_printf(&tmp, "%s/tmp/%s", dir.data, base.data);
	buf_printf(&dst, "%s/new/%s", dir.data, base.data);
	if (write_file_durable(tmp.data, msg, len, 0600) < 0 ||
	    durable_rename(tmp.data, dst.data, false) < 0) {
		log_error("event=archive-failed list=%s path=%s error=\"%s\"",
		    d->address, dst.data, strerror(errno));
		unlink(tmp.data);
		goto out;
	}
	mail_parse(msg, len, &m);
	buf_reset(&line);
	buf_printf(&line, "%u\t%s\t%lld\t", n, base.data,
	    (long long)time(NULL));
	mail_get(&m, "From", &v);
	clean_value(buf_cstr(&v), &line, 200);
	buf_append_char(&line, '\t');
	mail_get(&m, "Subject", &v);
	clean_value(buf_cstr(&v), &line, 300);
	buf_append_char(&line, '\n');
	mail_free(&m);
	fd = sys_open(idx.data, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600);
	if (fd < 0 || write_all(fd, line.data, line.len) < 0 ||
	    sys_fsync(fd) < 0) {
		log_error("event=write-failed list=%s path=%s error=\"%s\"",
		    d->address, idx.data, strerror(errno));
		goto out;
	}
	*num = n;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	buf_free(&dir);
	buf_free(&base);
	buf_free(&tmp);
	buf_free(&dst);
	buf_free(&idx);
	buf_free(&line);
	buf_free(&v);
	return r;
}

/* Read the index into text; 0 (maybe empty) or -1. */
static int
read_index(struct listd *ld, const struct list_def *d, struct buf *text)
{
	struct buf p = BUF_INIT;
	int r = 0;

	list_state_path(ld->conf, d, "archive/index", &p);
	if (read_file(p.data, text, INDEX_MAX) < 0) {
		buf_reset(text);
		if (errno != ENOENT) {
			log_error("event=read-failed path=%s error=\"%s\"",
			    p.data, strerror(errno));
			r = -1;
		}
	}
	buf_free(&p);
	return r;
}

int
archive_index(struct listd *ld, const struct list_def *d, struct buf *out)
{
	struct buf text = BUF_INIT, date = BUF_INIT;
	char *save = NULL;

	if (read_index(ld, d, &text) < 0)
		return -1;
	if (text.len == 0) {
		buf_append_str(out, "The archive is empty.\n");
		buf_free(&text);
		return 0;
	}
	for (char *l = strtok_r(text.data, "\n", &save); l != NULL;
	    l = strtok_r(NULL, "\n", &save)) {
		char *f[5], *s2 = NULL;
		int nf = 0;

		for (char *w = strtok_r(l, "\t", &s2); w != NULL && nf < 5;
		    w = strtok_r(NULL, "\t", &s2))
			f[nf++] = w;
		if (nf < 4)
			continue;
		buf_reset(&date);
		rfc5322_date(strtoll(f[2], NULL, 10), false, &date);
		buf_printf(out, "%5s  %s  %s  %s\n", f[0], date.data, f[3],
		    nf > 4 ? f[4] : "");
	}
	buf_free(&text);
	buf_free(&date);
	return 0;
}

int
archive_get(struct listd *ld, const struct list_def *d, unsigned num,
    struct buf *out)
{
	struct buf text = BUF_INIT, p = BUF_INIT;
	char *save = NULL;
	int r = 0;

	if (read_index(ld, d, &text) < 0)
		return -1;
	for (char *l = text.len ? strtok_r(text.data, "\n", &save) : NULL;
	    l != NULL; l = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(l, '\t'), *tab2;

		if (tab == NULL || strtoul(l, NULL, 10) != num)
			continue;
		tab2 = strchr(tab + 1, '\t');
		if (tab2 != NULL)
			*tab2 = '\0';
		if (strchr(tab + 1, '/') != NULL)
			break;
		list_state_path(ld->conf, d, "archive/new/", &p);
		buf_append_str(&p, tab + 1);
		if (read_file(p.data, out, DIGEST_FILE_MAX) == 0) {
			r = 1;
			break;
		}
		list_state_path(ld->conf, d, "archive/cur/", &p);
		buf_append_str(&p, tab + 1);
		r = read_file(p.data, out, DIGEST_FILE_MAX) == 0 ? 1 : -1;
		if (r < 0)
			log_error("event=archive-failed list=%s archive=%u "
			    "reason=\"archived post missing\"", d->address,
			    num);
		break;
	}
	buf_free(&text);
	buf_free(&p);
	return r;
}

int
digest_add(struct listd *ld, const struct list_def *d, const char *msg,
    size_t len)
{
	struct buf p = BUF_INIT;
	char tok[LISTD_TOKEN_LEN + 1];
	struct timeval tv;
	int r = 0;

	list_state_path(ld->conf, d, "digest", &p);
	if (mkdir_p(p.data, 0700) < 0) {
		log_error("event=create-failed path=%s error=\"%s\"", p.data,
		    strerror(errno));
		buf_free(&p);
		return -1;
	}
	/* Names sort in arrival order: seconds.microseconds, then a
	 * random part against collisions between workers. */
	token_generate(tok);
	gettimeofday(&tv, NULL);
	buf_printf(&p, "/%010lld.%06ld-%s", (long long)tv.tv_sec,
	    (long)tv.tv_usec, tok);
	if (write_file_durable(p.data, msg, len, 0600) < 0) {
		log_error("event=write-failed path=%s error=\"%s\"", p.data,
		    strerror(errno));
		r = -1;
	}
	buf_free(&p);
	return r;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* RFC 934 character stuffing: a line starting with '-' gets "- ". */
static void
append_stuffed(struct buf *out, const char *s, size_t len)
{
	const char *end = s + len;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);

		if (n > 0 && *s == '-')
			buf_append_str(out, "- ");
		buf_append(out, s, n);
		buf_append_char(out, '\n');
		s += n + (nl != NULL);
	}
}

/* The posts waiting in a list's digest directory, oldest first. */
struct digest {
	struct buf dir;           /* state_dir/lists/LIST/digest */
	char **names;
	size_t count;
	uint64_t total;           /* bytes */
	unsigned issue;           /* the number of this issue */
};

static void
digest_free(struct digest *dg)
{
	for (size_t i = 0; i < dg->count; i++)
		free(dg->names[i]);
	free(dg->names);
	buf_free(&dg->dir);
}

/* Path of the i-th post into p. */
static void
digest_post_path(const struct digest *dg, size_t i, struct buf *p)
{
	buf_reset(p);
	buf_printf(p, "%s/%s", dg->dir.data, dg->names[i]);
}

/* Collect: the posts in the digest directory, sorted, and their size. */
static void
digest_collect(struct listd *ld, const struct list_def *d,
    struct digest *dg)
{
	struct buf p = BUF_INIT;
	struct dirent *de;
	DIR *dp;

	list_state_path(ld->conf, d, "digest", &dg->dir);
	if ((dp = opendir(dg->dir.data)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		struct stat st;

		if (de->d_name[0] < '0' || de->d_name[0] > '9' ||
		    strchr(de->d_name, '-') == NULL ||
		    strstr(de->d_name, ".tmp") != NULL)
			continue;
		buf_reset(&p);
		buf_printf(&p, "%s/%s", dg->dir.data, de->d_name);
		if (stat(p.data, &st) < 0)
			continue;
		dg->total += (uint64_t)st.st_size;
		dg->names = xrealloc(dg->names, (dg->count + 1) *
		    sizeof(*dg->names));
		dg->names[dg->count++] = xstrdup(de->d_name);
	}
	closedir(dp);
	if (dg->count > 1)
		qsort(dg->names, dg->count, sizeof(*dg->names), cmp_str);
	buf_free(&p);
}

/* The members who get digests (and mail), into *rcpts (pointing into
 * *members; free both). 0, or -1 (logged). */
static int
digest_recipients(struct listd *ld, const struct list_def *d,
    struct list_member **members, const char ***rcpts, size_t *nr)
{
	size_t nmembers = 0;

	*nr = 0;
	if (listdb_members(ld->conf, d, members, &nmembers) < 0)
		return -1;
	*rcpts = xcalloc(nmembers + 1, sizeof(**rcpts));
	for (size_t i = 0; i < nmembers; i++)
		if ((*members)[i].digest && !(*members)[i].nomail)
			(*rcpts)[(*nr)++] = (*members)[i].address;
	return 0;
}

/* The RFC 1153 parts (each post's header summary and stuffed text) and
 * the topics (one subject a line). */
static void
digest_parts(const struct digest *dg, struct buf *topics, struct buf *parts)
{
	struct buf p = BUF_INIT, text = BUF_INIT, v = BUF_INIT;

	for (size_t i = 0; i < dg->count; i++) {
		struct mail m;

		digest_post_path(dg, i, &p);
		if (read_file(p.data, &text, DIGEST_FILE_MAX) < 0)
			continue;
		mail_parse(text.data, text.len, &m);
		if (i > 0)
			buf_append_str(parts, "------------------------------"
			    "\n\n");
		if (mail_get(&m, "Date", &v))
			buf_printf(parts, "Date: %s\n", v.data);
		if (mail_get(&m, "From", &v))
			buf_printf(parts, "From: %s\n", v.data);
		if (!mail_get(&m, "Subject", &v))
			buf_set(&v, "(no subject)");
		buf_printf(parts, "Subject: %s\n", buf_cstr(&v));
		buf_printf(topics, "    %s\n", buf_cstr(&v));
		if (mail_get(&m, "Message-ID", &v))
			buf_printf(parts, "Message-ID: %s\n", v.data);
		buf_append_char(parts, '\n');
		mail_text(&m, &text);
		append_stuffed(parts, text.data != NULL ? text.data : "",
		    text.len);
		buf_append_char(parts, '\n');
		mail_free(&m);
	}
	buf_free(&p);
	buf_free(&text);
	buf_free(&v);
}

/* The digest's header, up to and with the empty line; bnd is the MIME
 * boundary (digest_mime) or NULL. */
static void
digest_header(struct listd *ld, const struct list_def *d,
    const struct digest *dg, int64_t now, const char *bnd, struct buf *msg)
{
	struct buf v = BUF_INIT, req = BUF_INIT, id = BUF_INIT;

	list_addr(d, "-request", &req);
	list_id(d, &id);
	rfc5322_date(now, false, &v);
	buf_printf(msg, "Date: %s\nFrom: %s\nTo: %s\n", v.data, req.data,
	    d->address);
	buf_printf(msg, "Subject: %s Digest, Vol 1, Issue %u\n", d->name,
	    dg->issue);
	buf_reset(&v);
	message_id(ld->conf->hostname, &v);
	buf_printf(msg, "Message-ID: %s\n", v.data);
	if (bnd != NULL) {
		buf_printf(msg, "MIME-Version: 1.0\nContent-Type: "
		    "multipart/digest; boundary=\"dlist-%s\"\n", bnd);
	} else {
		buf_printf(msg, "MIME-Version: 1.0\nContent-Type: text/plain; "
		    "charset=utf-8\nContent-Transfer-Encoding: 8bit\n");
	}
	buf_printf(msg, "List-Id: <%s>\nList-Post: <mailto:%s>\n"
	    "List-Unsubscribe: <mailto:%s?subject=unsubscribe>\n"
	    "Precedence: list\nX-Loop: %s\n", id.data, d->address, req.data,
	    d->address);
	if (d->reply_to == LIST_REPLY_LIST)
		buf_printf(msg, "Reply-To: %s\n", d->address);
	buf_append_char(msg, '\n');
	buf_free(&v);
	buf_free(&req);
	buf_free(&id);
}

/* RFC 2046 5.1.5: a text part with the topics, then each post whole as
 * a message/rfc822 part (the default in a multipart/digest). */
static void
digest_body_mime(const struct list_def *d, const struct digest *dg,
    int64_t now, const char *bnd, const struct buf *topics, struct buf *msg)
{
	struct buf p = BUF_INIT, text = BUF_INIT, v = BUF_INIT;

	rfc5322_date(now, false, &v);
	buf_printf(msg, "This is a MIME digest.\n\n--dlist-%s\n"
	    "Content-Type: text/plain; charset=utf-8\n\n"
	    "%s Digest    %s    Volume 1 : Issue %u\n\n"
	    "Today's Topics:\n\n", bnd, d->name, v.data, dg->issue);
	buf_append(msg, topics->data, topics->len);
	for (size_t i = 0; i < dg->count; i++) {
		digest_post_path(dg, i, &p);
		if (read_file(p.data, &text, DIGEST_FILE_MAX) < 0)
			continue;
		buf_printf(msg, "\n--dlist-%s\n\n", bnd);
		buf_append(msg, text.data, text.len);
		if (text.len > 0 && text.data[text.len - 1] != '\n')
			buf_append_char(msg, '\n');
	}
	buf_printf(msg, "\n--dlist-%s--\n", bnd);
	buf_free(&p);
	buf_free(&text);
	buf_free(&v);
}

/* RFC 1153: topics, the parts, and the closing line of stars. */
static void
digest_body_text(const struct list_def *d, const struct digest *dg,
    int64_t now, const struct buf *topics, const struct buf *parts,
    struct buf *msg)
{
	struct buf v = BUF_INIT;

	rfc5322_date(now, false, &v);
	buf_printf(msg, "%s Digest    %s    Volume 1 : Issue %u\n\n"
	    "Today's Topics:\n\n", d->name, v.data, dg->issue);
	buf_append(msg, topics->data, topics->len);
	buf_append_str(msg, "\n-----------------------------------------"
	    "-----------------------------\n\n");
	buf_append(msg, parts->data, parts->len);
	buf_append_str(msg, "------------------------------\n\n");
	buf_printf(msg, "End of %s Digest V1 #%u\n", d->name, dg->issue);
	buf_reset(&v);
	for (size_t i = 0; i < 13 + strlen(d->name) +
	    (size_t)snprintf(NULL, 0, "%u", dg->issue); i++)
		buf_append_char(&v, '*');
	buf_printf(msg, "%s\n", v.data);
	buf_free(&v);
}

/* Compose: the whole digest message (MIME or RFC 1153) into msg. */
static void
digest_compose(struct listd *ld, const struct list_def *d,
    const struct digest *dg, int64_t now, struct buf *msg)
{
	struct buf topics = BUF_INIT, parts = BUF_INIT;
	char bnd[LISTD_TOKEN_LEN + 1];

	digest_parts(dg, &topics, &parts);
	if (d->digest_mime)
		token_generate(bnd);
	digest_header(ld, d, dg, now, d->digest_mime ? bnd : NULL, msg);
	if (d->digest_mime)
		digest_body_mime(d, dg, now, bnd, &topics, msg);
	else
		digest_body_text(d, dg, now, &topics, &parts, msg);
	buf_free(&topics);
	buf_free(&parts);
}

/* After sending: record the issue number, remove the posts sent. */
static void
digest_done(const struct digest *dg)
{
	struct buf p = BUF_INIT, v = BUF_INIT;

	buf_printf(&p, "%s/issue", dg->dir.data);
	buf_printf(&v, "%u\n", dg->issue);
	if (write_file_durable(p.data, v.data, v.len, 0600) < 0)
		log_error("event=write-failed path=%s error=\"%s\"", p.data,
		    strerror(errno));
	for (size_t i = 0; i < dg->count; i++) {
		digest_post_path(dg, i, &p);
		unlink(p.data);
	}
	fsync_dir(dg->dir.data);
	buf_free(&p);
	buf_free(&v);
}

int
digest_maybe_send(struct listd *ld, const struct list_def *d, int64_t now,
    bool force)
{
	struct digest dg = { BUF_INIT, NULL, 0, 0, 0 };
	struct buf p = BUF_INIT, v = BUF_INIT, msg = BUF_INIT;
	struct buf bounces = BUF_INIT;
	struct list_member *members = NULL;
	const char **rcpts = NULL;
	size_t nr = 0;
	int r = 0;

	digest_collect(ld, d, &dg);
	if (dg.count == 0)
		goto out;
	if (!force && dg.total < d->digest_max_size &&
	    now - strtoll(dg.names[0], NULL, 10) <
	    (int64_t)d->digest_interval)
		goto out;
	if (digest_recipients(ld, d, &members, &rcpts, &nr) < 0) {
		r = -1;
		goto out;
	}
	buf_printf(&p, "%s/issue", dg.dir.data);
	if (read_file(p.data, &v, 64) == 0)
		dg.issue = (unsigned)strtoul(buf_cstr(&v), NULL, 10);
	dg.issue++;
	digest_compose(ld, d, &dg, now, &msg);
	list_addr(d, "-bounces", &bounces);
	if (nr > 0 && send_mail(ld, bounces.data, rcpts, nr, msg.data,
	    msg.len) < 0) {
		r = -1;
		goto out;
	}
	digest_done(&dg);
	log_info("action=digest list=%s issue=%u posts=%zu members=%zu "
	    "size=%zu", d->address, dg.issue, dg.count, nr, msg.len);
out:
	digest_free(&dg);
	free(rcpts);
	free(members);
	buf_free(&p);
	buf_free(&v);
	buf_free(&msg);
	buf_free(&bounces);
	return r;
}
