/*
 * mbox.c - mbox spool to Maildir conversion (dmail-user import-mbox).
 * The format rules, names and durability are described in mbox.h.
 *
 * The reader takes the file in chunks of at most MBOX_CHUNK bytes with
 * getc-level stdio; a "line" longer than that arrives in pieces and only
 * its first piece is looked at (separator, quoting, header fields). An
 * empty line is held back until the next line shows whether it ends the
 * message (a separator follows) or is part of it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maildir.h"
#include "mbox.h"
#include "sys.h"
#include "util.h"

#define MBOX_CHUNK 65536
#define MBOX_UIDL_MAX 70

struct msg {
	int fd;                 /* in tmp/, -1 when none is open */
	struct buf tmp_path;
	uint64_t size, wsize;
	bool in_header;
	bool skip;              /* UW IMAP folder data */
	bool seen, old;
	char uidl[MBOX_UIDL_MAX + 1];
	bool uidl_ok;
};

struct names {
	char **names;           /* sorted */
	size_t nnames, cap;
};

struct importer {
	const char *maildir;
	const char *hostname;
	struct mbox_result *r;
	struct buf *err;
	struct names before;    /* base names in new/ and cur/ at the start */
	struct names added;     /* X-UIDL names stored by this run */
	struct msg m;
	bool have_msg;
	bool held_blank;        /* an empty line not yet written */
	char blank[3];          /* it: "\n" or "\r\n" */
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Insert name[0..len) keeping names sorted. */
static void
names_add(struct names *im, const char *name, size_t len)
{
	char *n = xmalloc(len + 1);
	size_t lo = 0, hi = im->nnames;

	memcpy(n, name, len);
	n[len] = '\0';
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(im->names[mid], n) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (im->nnames == im->cap) {
		im->cap = im->cap ? im->cap * 2 : 64;
		im->names = xrealloc(im->names, im->cap * sizeof(char *));
	}
	memmove(im->names + lo + 1, im->names + lo,
	    (im->nnames - lo) * sizeof(char *));
	im->names[lo] = n;
	im->nnames++;
}

/* The UIDL part of the base name name[0..n): the value of its ",U="
 * field (to the next ',') or the whole base name; its length in *len. */
static const char *
uidl_of(const char *name, size_t n, size_t *len)
{
	for (const char *p = name; (p = memchr(p, ',', (size_t)(name + n -
	    p))) != NULL; p++) {
		if (p + 3 < name + n && p[1] == 'U' && p[2] == '=') {
			const char *e = memchr(p + 3, ',',
			    (size_t)(name + n - p - 3));

			*len = (size_t)((e != NULL ? e : name + n) - p - 3);
			return p + 3;
		}
	}
	*len = n;
	return name;
}

/* UIDLs of the messages in new/ and cur/, sorted. */
static int
names_load(struct importer *im)
{
	static const char *const sub[] = { "new", "cur" };
	struct buf p = BUF_INIT;

	for (size_t i = 0; i < 2; i++) {
		struct dirent *de;
		DIR *d;

		buf_reset(&p);
		buf_printf(&p, "%s/%s", im->maildir, sub[i]);
		if ((d = opendir(p.data)) == NULL) {
			buf_printf(im->err, "%s: %s", p.data, strerror(errno));
			buf_free(&p);
			return -1;
		}
		while ((de = readdir(d)) != NULL) {
			const char *c = strchr(de->d_name, ':');
			const char *u;
			size_t n = c != NULL ? (size_t)(c - de->d_name) :
			    strlen(de->d_name);

			if (de->d_name[0] == '.')
				continue;
			/* The UIDL as dmail-pop3d sees it: a ",U=" field,
			 * else the base name. */
			u = uidl_of(de->d_name, n, &n);
			names_add(&im->before, u, n);
		}
		closedir(d);
	}
	buf_free(&p);
	return 0;
}

static void
names_free(struct names *n)
{
	for (size_t i = 0; i < n->nnames; i++)
		free(n->names[i]);
	free(n->names);
}

static bool
names_have(const struct names *im, const char *name)
{
	if (im->nnames == 0)
		return false;
	return bsearch(&name, im->names, im->nnames, sizeof(char *),
	    cmp_str) != NULL;
}

/* An X-UIDL value usable as a Maildir base name, and so as the UIDL. */
static bool
uidl_usable(const char *u)
{
	size_t n = strlen(u);

	if (n < 1 || n > MBOX_UIDL_MAX || u[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)u[i];

		if (c < 0x21 || c > 0x7e || c == '/' || c == ':' || c == ',')
			return false;
	}
	return true;
}

static int
msg_begin(struct importer *im)
{
	struct msg *m = &im->m;
	struct buf base = BUF_INIT;

	memset(m, 0, sizeof(*m));
	m->in_header = true;
	maildir_unique_base(im->hostname, &base);
	buf_printf(&m->tmp_path, "%s/tmp/%s", im->maildir, buf_cstr(&base));
	buf_free(&base);
	m->fd = sys_open(m->tmp_path.data, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600);
	if (m->fd < 0) {
		buf_printf(im->err, "%s: %s", m->tmp_path.data,
		    strerror(errno));
		buf_free(&m->tmp_path);
		return -1;
	}
	im->have_msg = true;
	return 0;
}

static int
msg_write(struct importer *im, const char *data, size_t len)
{
	struct msg *m = &im->m;

	if (m->skip)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			m->wsize++;
	m->size += len;
	m->wsize += len;
	if (write_all(m->fd, data, len) < 0) {
		buf_printf(im->err, "%s: %s", m->tmp_path.data,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* A header line of the message being read (first chunk only). */
static void
msg_header(struct msg *m, const char *line)
{
	const char *v;

	if (str_has_prefix_ci(line, "X-UIDL:")) {
		char tmp[256];

		v = line + 7;
		m->uidl_ok = false;
		if (strlen(v) < sizeof(tmp)) {
			const char *u;

			memcpy(tmp, v, strlen(v) + 1);
			u = str_trim(tmp);
			if (uidl_usable(u)) {
				memcpy(m->uidl, u, strlen(u) + 1);
				m->uidl_ok = true;
			}
		}
	} else if (str_has_prefix_ci(line, "Status:")) {
		for (v = line + 7; *v != '\0' && *v != '\n'; v++) {
			if (*v == 'R')
				m->seen = true;
			else if (*v == 'O')
				m->old = true;
		}
	} else if (str_has_prefix_ci(line, "X-IMAP:") ||
	    str_has_prefix_ci(line, "X-IMAPbase:")) {
		m->skip = true;
	}
}

/* Close the message: fsync, rename into new/ or cur/. */
static int
msg_end(struct importer *im)
{
	struct msg *m = &im->m;
	struct buf to = BUF_INIT, base = BUF_INIT;
	int rc = -1;

	im->have_msg = false;
	if (sys_fsync(m->fd) < 0 || close(m->fd) < 0) {
		buf_printf(im->err, "%s: %s", m->tmp_path.data,
		    strerror(errno));
		m->fd = -1;
		goto out;
	}
	m->fd = -1;
	/* The same X-UIDL twice in one mbox: the second gets a new name. */
	if (m->uidl_ok && names_have(&im->added, m->uidl))
		m->uidl_ok = false;
	if (m->skip || (m->uidl_ok && names_have(&im->before, m->uidl))) {
		if (!m->skip)
			im->r->skipped++;
		unlink(m->tmp_path.data);
		rc = 0;
		goto out;
	}
	{
		struct buf u = BUF_INIT;

		/* A new name (its time keeps the mbox order), and the old
		 * UIDL in a ",U=" field that dmail-pop3d reports. */
		maildir_unique_base(im->hostname, &u);
		maildir_name(buf_cstr(&u), m->size, m->wsize, &base);
		if (m->uidl_ok)
			buf_printf(&base, ",U=%s", m->uidl);
		buf_free(&u);
	}
	if (m->seen || m->old)
		buf_printf(&to, "%s/cur/%s:2,%s", im->maildir, buf_cstr(&base),
		    m->seen ? "S" : "");
	else
		buf_printf(&to, "%s/new/%s", im->maildir, buf_cstr(&base));
	if (sys_rename(m->tmp_path.data, to.data) < 0) {
		buf_printf(im->err, "%s: %s", to.data, strerror(errno));
		unlink(m->tmp_path.data);
		goto out;
	}
	if (m->uidl_ok)
		names_add(&im->added, m->uidl, strlen(m->uidl));
	im->r->messages++;
	if (m->uidl_ok)
		im->r->uidl_kept++;
	if (m->seen)
		im->r->seen++;
	rc = 0;
out:
	buf_free(&to);
	buf_free(&base);
	buf_free(&m->tmp_path);
	return rc;
}

static void
msg_abandon(struct importer *im)
{
	if (!im->have_msg)
		return;
	if (im->m.fd >= 0)
		close(im->m.fd);
	unlink(im->m.tmp_path.data);
	buf_free(&im->m.tmp_path);
	im->have_msg = false;
}

/* ">From ", ">>From " ...: the line without its first '>'. */
static bool
is_quoted_from(const char *s)
{
	if (*s != '>')
		return false;
	while (*s == '>')
		s++;
	return strncmp(s, "From ", 5) == 0;
}

/* One line, or its first piece (start true) or a later piece. */
static int
take(struct importer *im, const char *piece, size_t len, bool start,
    bool *first_line)
{
	bool blank = start && ((len == 1 && piece[0] == '\n') ||
	    (len == 2 && piece[0] == '\r' && piece[1] == '\n'));
	bool sep = start && strncmp(piece, "From ", 5) == 0 &&
	    (*first_line || im->held_blank);

	*first_line = false;
	if (sep) {
		im->held_blank = false;
		if (im->have_msg && msg_end(im) < 0)
			return -1;
		return msg_begin(im);
	}
	if (!im->have_msg) {
		if (blank)
			return 0;      /* empty lines before the first From */
		buf_printf(im->err, "not an mbox file: no \"From \" line "
		    "at its start");
		return -1;
	}
	if (im->held_blank) {
		im->held_blank = false;
		if (msg_write(im, im->blank, strlen(im->blank)) < 0)
			return -1;
	}
	if (blank) {
		if (im->m.in_header)
			im->m.in_header = false;
		else {
			im->held_blank = true;
			memcpy(im->blank, piece, len + 1);
			return 0;
		}
	} else if (start && im->m.in_header)
		msg_header(&im->m, piece);
	if (start && is_quoted_from(piece)) {
		piece++;
		len--;
	}
	return msg_write(im, piece, len);
}

static int
read_all(struct importer *im, FILE *f)
{
	static char chunk[MBOX_CHUNK];
	bool start = true, first_line = true;

	while (fgets(chunk, sizeof(chunk), f) != NULL) {
		size_t len = strlen(chunk);

		if (take(im, chunk, len, start, &first_line) < 0)
			return -1;
		start = len > 0 && chunk[len - 1] == '\n';
	}
	if (ferror(f)) {
		buf_printf(im->err, "read: %s", strerror(errno));
		return -1;
	}
	/* A held empty line at the end is the mbox's final separator. */
	if (im->have_msg && msg_end(im) < 0)
		return -1;
	return 0;
}

int
mbox_import(int fd, const char *maildir, const char *hostname,
    struct mbox_result *r, struct buf *err)
{
	struct importer im;
	struct buf p = BUF_INIT;
	FILE *f;
	int rc = -1;

	memset(&im, 0, sizeof(im));
	memset(r, 0, sizeof(*r));
	im.maildir = maildir;
	im.hostname = hostname;
	im.r = r;
	im.err = err;
	im.m.fd = -1;
	if ((f = fdopen(fd, "r")) == NULL) {
		buf_printf(err, "fdopen: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (maildir_create(maildir) < 0) {
		buf_printf(err, "%s: %s", maildir, strerror(errno));
		goto out;
	}
	if (names_load(&im) < 0 || read_all(&im, f) < 0)
		goto out;
	for (const char *const *s = (const char *const[]){ "new", "cur",
	    NULL }; *s != NULL; s++) {
		buf_reset(&p);
		buf_printf(&p, "%s/%s", maildir, *s);
		if (fsync_dir(p.data) < 0) {
			buf_printf(err, "%s: %s", p.data, strerror(errno));
			goto out;
		}
	}
	rc = 0;
out:
	msg_abandon(&im);
	fclose(f);
	names_free(&im.before);
	names_free(&im.added);
	buf_free(&p);
	return rc;
}
