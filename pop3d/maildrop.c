/*
 * maildrop.c - a Maildir seen as a POP3 maildrop (RFC 1939).
 *
 * Lock: a whole-file write lock on MAILDIR/dmail-pop3.lock, taken with
 * fcntl(F_OFD_SETLK) (an open file description lock, not waiting), held
 * for the whole session. It is a POSIX byte-range lock, which NFSv4 (and
 * NFSv3 with lockd) carries to the server, so a second node sharing the
 * mail directory sees it too; flock(2) would be emulated by the Linux NFS
 * client at best and local only on a mount with local_lock=flock. Unlike a
 * classic F_SETLK lock it belongs to the open file, not to the process:
 * closing some other descriptor of the file does not drop it, and a second
 * open in the same process conflicts with it. The kernel drops it when the
 * process exits in any way (kill -9 included; on NFS the server drops it
 * when the client's lease expires if the whole node dies), so there are no
 * stale locks. Deliveries do not take
 * this lock: they write to tmp/ and rename into new/, and a session sees
 * only what was there when it logged in.
 *
 * Scan: every regular file of new/ and cur/ whose name does not start
 * with '.', sorted by base name (the part before ':'), which for Maildir
 * names starts with the delivery time. Sizes come from ",W=NNN" in the
 * base name when present (no file is read for STAT or LIST); otherwise
 * the wire size is computed from the file (bare LF counted as CRLF) and
 * kept in MAILDIR/dmail-pop3.sizes ("SIZE BASENAME" lines), so each such
 * file is read once in its life, not at every login. The cache is only
 * written under the maildrop lock and replaced by rename; a message file
 * never changes, so an entry never goes stale, and entries of files that
 * are gone are dropped at the next rewrite.
 *
 * UIDL: the value of a ",U=" field of the base name when there is one
 * (messages imported from an mbox keep the UIDL of the old server that
 * way, see util/mbox.h), else the base name; when that is 1 to 70
 * characters in 0x21..0x7E (RFC 1939 section 7) it is the UIDL, else its
 * SHA-256 hex digest. The base name does not change when a message moves
 * from new/ to cur/ (only the ":2,FLAGS" suffix is added), so the UIDL
 * is stable for the life of the message.
 *
 * UPDATE: deleted messages are unlinked, retrieved messages still in new/
 * move to cur/ with ":2,S" (those already in cur/, moved there by an IMAP
 * server, get S added to their flags), then both directories are
 * fsync'd; only then does QUIT answer +OK.
 *
 * LOGIN-DELAY: the lock file's mtime is the time of the last login.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "pop3d.h"
#include "sys.h"
#include "util.h"

#define MAILDROP_CHUNK IO_CHUNK

static const char *const maildir_subdirs[] = { "new", "cur" };

/* Length of the base name: up to the first ':' (info separator). */
static size_t
base_len(const char *name)
{
	const char *colon = strchr(name, ':');

	return colon != NULL ? (size_t)(colon - name) : strlen(name);
}

/* The value of a ",U=" field of the base name name[0..n), or NULL. */
static const char *
uidl_field(const char *name, size_t n)
{
	for (const char *p = name; (p = memchr(p, ',', (size_t)(name + n -
	    p))) != NULL; p++)
		if (p + 3 < name + n && p[1] == 'U' && p[2] == '=')
			return p + 3;
	return NULL;
}

void
maildrop_uidl(const char *name, char out[POP3_UIDL_MAX + 1])
{
	size_t n = base_len(name);
	bool ok;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	const char *u = uidl_field(name, n);

	/* A ",U=" field (dmail-user import-mbox): the UIDL the message had
	 * on the old server. */
	if (u != NULL) {
		n = strcspn(u, ",:");
		name = u;
	}
	ok = n >= 1 && n <= POP3_UIDL_MAX;
	for (size_t i = 0; ok && i < n; i++)
		if ((unsigned char)name[i] < 0x21 ||
		    (unsigned char)name[i] > 0x7e)
			ok = false;
	if (ok) {
		memcpy(out, name, n);
		out[n] = '\0';
		return;
	}
	EVP_Digest(name, n, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < mdlen && i < POP3_UIDL_MAX / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A ",X=NNN" field of the base name (X is 'S': file size, 'W': size
 * with CRLF line ends); true and *value if present. */
static bool
name_field(const char *name, char field, uint64_t *value)
{
	size_t n = base_len(name);
	const char *p = name;
	uint64_t v;

	while ((p = memchr(p, ',', name + n - p)) != NULL) {
		p++;
		if (p + 2 > name + n || p[0] != field || p[1] != '=')
			continue;
		const char *d = p + 2;
		v = 0;
		while (d < name + n && *d >= '0' && *d <= '9' &&
		    v < UINT64_MAX / 10 - 10)
			v = v * 10 + (*d++ - '0');
		if (d == p + 2 || (d < name + n && *d != ','))
			continue;
		*value = v;
		return true;
	}
	return false;
}

bool
maildrop_name_size(const char *name, uint64_t *size)
{
	return name_field(name, 'W', size);
}

uint64_t
maildrop_wire_size(const char *data, size_t len, bool *last_lf,
    bool *last_cr)
{
	uint64_t n = len;
	const char *p = data, *end = data + len, *lf;

	if (len == 0)
		return 0;
	while ((lf = memchr(p, '\n', end - p)) != NULL) {
		bool cr = lf > p ? lf[-1] == '\r' : *last_cr;
		if (!cr)
			n++;
		p = lf + 1;
	}
	*last_cr = data[len - 1] == '\r';
	*last_lf = data[len - 1] == '\n';
	return n;
}

/* Wire size of a whole file. -1 on error. */
static int
file_wire_size(int dirfd, const char *name, uint64_t *size)
{
	char *chunk;
	bool last_lf = true, last_cr = false;
	uint64_t total = 0, bytes = 0;
	ssize_t r;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	chunk = xmalloc(MAILDROP_CHUNK);
	while ((r = read(fd, chunk, MAILDROP_CHUNK)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(chunk);
			close(fd);
			return -1;
		}
		total += maildrop_wire_size(chunk, r, &last_lf, &last_cr);
		bytes += r;
	}
	free(chunk);
	close(fd);
	if (bytes > 0 && !last_lf)
		total += 2;
	*size = total;
	return 0;
}

static int
message_cmp(const void *a, const void *b)
{
	const struct message *x = a, *y = b;
	size_t nx = x->base_len, ny = y->base_len;
	int c = strncmp(x->name, y->name, nx < ny ? nx : ny);

	if (c != 0)
		return c;
	return nx < ny ? -1 : nx > ny;
}

/* The size cache: "SIZE BASENAME" lines, sorted after loading. */
struct size_entry {
	char *base;
	uint64_t size;
};

struct size_cache {
	struct buf text;
	struct size_entry *e;
	size_t n;
	bool dirty;              /* a size was computed or an entry unused */
	size_t used;
};

static int
size_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct size_entry *)a)->base,
	    ((const struct size_entry *)b)->base);
}

static void
size_cache_load(struct size_cache *sc, const char *path)
{
	size_t cap = 0;
	char *p, *nl;

	memset(sc, 0, sizeof(*sc));
	if (read_file(path, &sc->text, POP3_SIZE_CACHE_MAX) < 0)
		return;
	for (p = sc->text.data; p != NULL && *p != '\0'; p = nl) {
		char *sp, *end;
		unsigned long long v;

		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno != 0 || end == p || *end != ' ' || end[1] == '\0')
			continue;
		sp = end + 1;
		if (sc->n == cap) {
			cap = cap ? cap * 2 : 64;
			sc->e = xrealloc(sc->e, cap * sizeof(*sc->e));
		}
		sc->e[sc->n].base = sp;
		sc->e[sc->n++].size = v;
	}
	if (sc->n > 1)
		qsort(sc->e, sc->n, sizeof(*sc->e), size_entry_cmp);
}

static bool
size_cache_get(struct size_cache *sc, const char *name, uint64_t *size)
{
	char base[NAME_MAX + 1];
	struct size_entry key, *hit;
	size_t n = base_len(name);

	if (n > NAME_MAX || sc->n == 0)
		return false;
	memcpy(base, name, n);
	base[n] = '\0';
	key.base = base;
	hit = bsearch(&key, sc->e, sc->n, sizeof(*sc->e), size_entry_cmp);
	if (hit == NULL)
		return false;
	*size = hit->size;
	sc->used++;
	return true;
}

/* Rewrite the cache with the sizes of the current files that have no
 * ",W=" in their name. Failure only costs a recomputation later. */
static void
size_cache_save(struct maildrop *md)
{
	struct buf out = BUF_INIT, path = BUF_INIT, tmp = BUF_INIT;
	uint64_t dummy;
	int fd;

	for (size_t i = 0; i < md->count; i++)
		if (!maildrop_name_size(md->msgs[i].name, &dummy))
			buf_printf(&out, "%llu %.*s\n",
			    (unsigned long long)md->msgs[i].size,
			    (int)base_len(md->msgs[i].name), md->msgs[i].name);
	buf_printf(&path, "%s/%s", md->path, POP3_SIZE_CACHE);
	buf_printf(&tmp, "%s.tmp", path.data);
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0 && write_all(fd, out.data, out.len) < 0) {
		int saved = errno;

		close(fd);
		fd = -1;
		errno = saved;
	}
	if (fd < 0 || sys_close(fd) < 0 || rename(tmp.data, path.data) < 0) {
		log_warn("event=write-failed path=%s error=\"%s\"", path.data,
		    strerror(errno));
		unlink(tmp.data);
	}
	buf_free(&out);
	buf_free(&path);
	buf_free(&tmp);
}

/* Add the messages of one subdirectory. */
static int
scan_dir(struct maildrop *md, enum maildir_sub sub, size_t *cap,
    struct size_cache *sc)
{
	struct buf path = BUF_INIT;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int dfd, rc = 0;

	buf_printf(&path, "%s/%s", md->path, maildir_subdirs[sub]);
	/* The directory stream gets its own descriptor: closedir() closes
	 * it, and md->dir_fd[sub] stays open for the session. */
	dfd = fcntl(md->dir_fd[sub], F_DUPFD_CLOEXEC, 0);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d == NULL) {
		log_error("event=read-failed path=%s error=\"%s\"", path.data,
		    strerror(errno));
		if (dfd >= 0)
			close(dfd);
		buf_free(&path);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct message *m;
		uint64_t size;

		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_REG) {
			if (de->d_type != DT_UNKNOWN && de->d_type != DT_LNK)
				continue;
			if (fstatat(dfd, de->d_name, &st, 0) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;
		}
		if (!maildrop_name_size(de->d_name, &size) &&
		    !size_cache_get(sc, de->d_name, &size)) {
			if (file_wire_size(dfd, de->d_name, &size) < 0) {
				if (errno == ENOENT)
					continue;   /* removed meanwhile */
				log_error("event=read-failed path=%s/%s "
				    "error=\"%s\"", path.data, de->d_name,
				    strerror(errno));
				rc = -1;
				break;
			}
			sc->dirty = true;
		}
		if (md->count == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			md->msgs = xrealloc(md->msgs, *cap * sizeof(*md->msgs));
		}
		m = &md->msgs[md->count++];
		memset(m, 0, sizeof(*m));
		m->dir = sub;
		m->name = xstrdup(de->d_name);
		m->base_len = base_len(m->name);
		m->size = size;
		maildrop_uidl(m->name, m->uidl);
		md->total += size;
	}
	if (rc == 0 && errno != 0) {
		log_error("event=read-failed path=%s error=\"%s\"", path.data,
		    strerror(errno));
		rc = -1;
	}
	closedir(d);
	buf_free(&path);
	return rc;
}

/* UIDLs must be unique in a maildrop. The same base name in new/ and
 * cur/ (left by some other program's crash between link and unlink) would
 * give two equal ones; the later gets a digest of "dir/name" instead. */
static void
uidl_dedupe(struct maildrop *md)
{
	for (size_t i = 1; i < md->count; i++) {
		struct message *m = &md->msgs[i];
		struct buf full = BUF_INIT;

		if (strcmp(m->uidl, md->msgs[i - 1].uidl) != 0)
			continue;
		/* A name with a space always takes the digest branch. */
		buf_printf(&full, "%s %s", maildir_subdirs[m->dir], m->name);
		maildrop_uidl(full.data, m->uidl);
		buf_free(&full);
	}
}

enum maildrop_status
maildrop_open(struct maildrop *md, const char *path)
{
	struct buf p = BUF_INIT;
	struct size_cache sc;
	size_t cap = 0;
	int fd;

	memset(&sc, 0, sizeof(sc));
	memset(md, 0, sizeof(*md));
	md->lock_fd = -1;
	md->dir_fd[MAILDIR_NEW] = md->dir_fd[MAILDIR_CUR] = -1;
	md->path = xstrdup(path);
	if (path[0] != '/') {
		log_error("event=mailbox-bad path=%s reason=\"mailbox path is "
		    "not absolute\"", path);
		maildrop_close(md);
		return MAILDROP_BROKEN;
	}
	for (const char *const *s = (const char *const[]){ "cur", "new",
	    "tmp", NULL }; *s != NULL; s++) {
		buf_reset(&p);
		buf_printf(&p, "%s/%s", path, *s);
		if (mkdir_p(p.data, 0700) < 0) {
			int e = errno;

			log_error("event=mkdir-failed path=%s error=\"%s\"",
			    p.data, strerror(e));
			if (e == ENOTDIR || e == ELOOP || e == ENAMETOOLONG ||
			    e == EEXIST) {
				buf_free(&p);
				maildrop_close(md);
				return MAILDROP_BROKEN;
			}
			goto fail;
		}
	}
	buf_reset(&p);
	buf_printf(&p, "%s/%s", path, POP3_LOCK_FILE);
	fd = open(p.data, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		/* First login ever: no previous login for LOGIN-DELAY. */
		struct timespec ts[2] = { { 0, 0 }, { 0, 0 } };
		futimens(fd, ts);
	} else if (errno == EEXIST)
		fd = open(p.data, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		log_error("event=open-failed path=%s error=\"%s\"", p.data,
		    strerror(errno));
		goto fail;
	}
	md->lock_fd = fd;
	if (fcntl(fd, F_OFD_SETLK, &(struct flock){ .l_type = F_WRLCK,
	    .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 }) < 0) {
		if (errno == EAGAIN || errno == EACCES) {
			buf_free(&p);
			maildrop_close(md);
			return MAILDROP_IN_USE;
		}
		log_error("event=lock-failed path=%s error=\"%s\"", p.data,
		    strerror(errno));
		goto fail;
	}
	for (int i = MAILDIR_NEW; i <= MAILDIR_CUR; i++) {
		buf_reset(&p);
		buf_printf(&p, "%s/%s", path, maildir_subdirs[i]);
		md->dir_fd[i] = open(p.data, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
		if (md->dir_fd[i] < 0) {
			log_error("event=open-failed path=%s error=\"%s\"",
			    p.data, strerror(errno));
			goto fail;
		}
	}
	buf_reset(&p);
	buf_printf(&p, "%s/%s", path, POP3_SIZE_CACHE);
	size_cache_load(&sc, p.data);
	for (int i = MAILDIR_NEW; i <= MAILDIR_CUR; i++)
		if (scan_dir(md, i, &cap, &sc) < 0)
			goto fail;
	if (md->count > 1)
		qsort(md->msgs, md->count, sizeof(*md->msgs), message_cmp);
	uidl_dedupe(md);
	if (sc.dirty || sc.used != sc.n)
		size_cache_save(md);
	free(sc.e);
	buf_free(&sc.text);
	buf_free(&p);
	return MAILDROP_OK;
fail:
	free(sc.e);
	buf_free(&sc.text);
	buf_free(&p);
	maildrop_close(md);
	return MAILDROP_ERROR;
}

void
maildrop_close(struct maildrop *md)
{
	for (size_t i = 0; i < md->count; i++)
		free(md->msgs[i].name);
	free(md->msgs);
	md->msgs = NULL;
	md->count = 0;
	md->total = 0;
	free(md->chunk);
	md->chunk = NULL;
	buf_free(&md->out);
	for (int i = MAILDIR_NEW; i <= MAILDIR_CUR; i++) {
		if (md->dir_fd[i] >= 0)
			close(md->dir_fd[i]);
		md->dir_fd[i] = -1;
	}
	if (md->lock_fd >= 0)
		close(md->lock_fd);     /* releases the OFD lock */
	md->lock_fd = -1;
	free(md->path);
	md->path = NULL;
}

long
maildrop_since_last_login(struct maildrop *md)
{
	struct stat st;

	if (fstat(md->lock_fd, &st) < 0)
		return 0x7fffffffL;
	return (long)(time(NULL) - st.st_mtime);
}

void
maildrop_mark_login(struct maildrop *md)
{
	if (futimens(md->lock_fd, NULL) < 0)
		log_warn("event=lock-failed path=%s error=\"touch: %s\"",
		    md->path, strerror(errno));
}

/* --- output ------------------------------------------------------------- */

void
msg_out_init(struct msg_out *o, long lines)
{
	memset(o, 0, sizeof(*o));
	o->line_start = true;
	o->lines_left = lines;
}

void
msg_out_chunk(struct msg_out *o, const char *data, size_t len,
    struct buf *out)
{
	size_t i = 0;
	char *w;

	buf_reserve(out, 2 * len + 8);
	w = out->data + out->len;
	/* Line by line with memchr: copy each span up to LF in one go. */
	while (i < len && !o->done) {
		const char *lf;
		size_t end, n;

		if (o->line_start) {
			o->line_start = false;
			o->header_empty_line = true;
			if (data[i] == '.')
				*w++ = '.';
		}
		lf = memchr(data + i, '\n', len - i);
		end = lf != NULL ? (size_t)(lf - data) : len;
		n = end - i;
		if (n > 0) {
			memcpy(w, data + i, n);
			w += n;
			/* "\r" alone may still end an empty line; anything
			 * else, or a second character, makes it non-empty. */
			if (o->header_empty_line &&
			    (o->prev_cr || n > 1 || data[i] != '\r'))
				o->header_empty_line = false;
			o->prev_cr = data[end - 1] == '\r';
			i = end;
		}
		if (lf == NULL)
			break;
		if (!o->prev_cr)
			*w++ = '\r';
		*w++ = '\n';
		i++;
		o->prev_cr = false;
		o->line_start = true;
		if (o->lines_left < 0)
			continue;
		if (!o->in_body) {
			if (o->header_empty_line) {
				o->in_body = true;
				if (o->lines_left == 0)
					o->done = true;
			}
		} else if (--o->lines_left == 0)
			o->done = true;
	}
	out->len = w - out->data;
	out->data[out->len] = '\0';
}

void
msg_out_finish(struct msg_out *o, struct buf *out)
{
	if (!o->done && !o->line_start)
		buf_append(out, "\r\n", 2);
	buf_append(out, ".\r\n", 3);
}

int
maildrop_send(struct maildrop *md, size_t i, long lines, struct stream *s)
{
	struct message *m = &md->msgs[i];
	struct buf *out = &md->out;
	struct msg_out o;
	uint64_t file_size = 0, done = 0;
	bool size_known = name_field(m->name, 'S', &file_size);
	char *chunk;
	ssize_t r;
	int fd, rc = 0;

	fd = openat(md->dir_fd[m->dir], m->name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ENOENT ? 1 : -1;
		if (rc < 0)
			log_error("event=open-failed path=%s/%s/%s "
			    "error=\"%s\"", md->path, maildir_subdirs[m->dir],
			    m->name, strerror(errno));
		return rc;
	}
	if (lines < 0)
		stream_printf(s, "+OK %llu octets\r\n",
		    (unsigned long long)m->size);
	else
		stream_puts(s, "+OK top of message follows\r\n");
	msg_out_init(&o, lines);
	/* Buffers live as long as the maildrop: no allocation per RETR. */
	if (md->chunk == NULL)
		md->chunk = xmalloc(MAILDROP_CHUNK);
	chunk = md->chunk;
	while (!o.done) {
		r = read(fd, chunk, MAILDROP_CHUNK);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_error("event=read-failed path=%s/%s/%s "
			    "error=\"%s\"", md->path, maildir_subdirs[m->dir],
			    m->name, strerror(errno));
			rc = -2;
			break;
		}
		buf_reset(out);
		msg_out_chunk(&o, chunk, r, out);
		if (stream_write(s, out->data, out->len) != STREAM_OK) {
			rc = -2;
			break;
		}
		/* A short read that reaches the size in the name is the end:
		 * saves the read() that would return 0 on every RETR. */
		done += (uint64_t)r;
		if (size_known && r < MAILDROP_CHUNK && done == file_size)
			break;
	}
	if (rc == 0) {
		buf_reset(out);
		msg_out_finish(&o, out);
		if (stream_write(s, out->data, out->len) != STREAM_OK)
			rc = -2;
	}
	close(fd);
	return rc;
}

/* The name of m in cur/ with the S (seen) flag added to its ":2,"
 * flags, kept in ASCII order (Maildir's rule); false when m is not in
 * cur/, already seen, or has info of another version. */
static bool
seen_name(const struct message *m, struct buf *to)
{
	const char *info = m->name + m->base_len;
	const char *flags;
	bool added = false;

	if (m->dir != MAILDIR_CUR)
		return false;
	if (*info == '\0')
		flags = "";
	else if (strncmp(info, ":2,", 3) == 0)
		flags = info + 3;
	else
		return false;
	if (strchr(flags, 'S') != NULL)
		return false;
	buf_reset(to);
	buf_printf(to, "%.*s:2,", (int)m->base_len, m->name);
	for (const char *f = flags; *f != '\0'; f++) {
		if (!added && *f > 'S') {
			buf_append(to, "S", 1);
			added = true;
		}
		buf_append(to, f, 1);
	}
	if (!added)
		buf_append(to, "S", 1);
	return true;
}

int
maildrop_update(struct maildrop *md, unsigned *deleted)
{
	struct buf to = BUF_INIT;
	bool touched[2] = { false, false };
	int rc = 0;

	*deleted = 0;
	for (size_t i = 0; i < md->count; i++) {
		struct message *m = &md->msgs[i];
		int dfd = md->dir_fd[m->dir];

		if (m->deleted) {
			if (unlinkat(dfd, m->name, 0) < 0 && errno != ENOENT) {
				log_error("event=remove-failed path=%s/%s/%s "
				    "error=\"%s\"", md->path,
				    maildir_subdirs[m->dir], m->name,
				    strerror(errno));
				rc = -1;
				continue;
			}
			touched[m->dir] = true;
			(*deleted)++;
		} else if (m->retrieved && m->dir == MAILDIR_NEW) {
			buf_reset(&to);
			buf_printf(&to, "%.*s:2,S", (int)m->base_len,
			    m->name);
			if (renameat(dfd, m->name, md->dir_fd[MAILDIR_CUR],
			    to.data) < 0) {
				/* Harmless: it stays unread in new/. */
				log_warn("event=rename-failed path=%s/new/%s "
				    "error=\"to cur: %s\"", md->path, m->name,
				    strerror(errno));
				continue;
			}
			touched[MAILDIR_NEW] = touched[MAILDIR_CUR] = true;
		} else if (m->retrieved && seen_name(m, &to)) {
			/* Already in cur/ (an IMAP server moved it there):
			 * mark it seen, as a reader would. */
			if (renameat(dfd, m->name, dfd, to.data) < 0) {
				log_warn("event=rename-failed path=%s/cur/%s "
				    "error=\"mark seen: %s\"", md->path,
				    m->name, strerror(errno));
				continue;
			}
			touched[MAILDIR_CUR] = true;
		}
	}
	for (int i = MAILDIR_NEW; i <= MAILDIR_CUR; i++) {
		if (touched[i] && sys_fsync(md->dir_fd[i]) < 0) {
			log_error("event=fsync-failed path=%s/%s error=\"%s\"",
			    md->path, maildir_subdirs[i], strerror(errno));
			rc = -1;
		}
	}
	buf_free(&to);
	return rc;
}
