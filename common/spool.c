/*
 * spool.c - queue ids, queue file writing and reading (format and layout
 * documented in spool.h).
 *
 * Every step that makes a queue file durable goes through sys.h so tests
 * can inject ENOSPC/EIO, and through the one durable recipe
 * (durable_publish(), util.h); on any failure the partial file is
 * removed. Nothing here is fatal.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"
#include "sys.h"
#include "util.h"

#define SPOOL_HEADER_MAX (1024 * 1024)

static unsigned id_counter;

void
spool_new_id(char *out)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	snprintf(out, SPOOL_ID_MAX, "%09llX%05lX%06lX%04X",
	    (unsigned long long)tv.tv_sec & 0xfffffffffULL,
	    (unsigned long)tv.tv_usec, (unsigned long)getpid() & 0xffffff,
	    ++id_counter & 0xffff);
}

void
spool_envelope_init(struct spool_envelope *env)
{
	memset(env, 0, sizeof(*env));
	env->uid = -1;
}

void
spool_envelope_free(struct spool_envelope *env)
{
	for (size_t i = 0; i < env->rcpt_count; i++) {
		free(env->rcpts[i].address);
		free(env->rcpts[i].orcpt);
	}
	free(env->rcpts);
	free(env->sender);
	free(env->client);
	free(env->auth);
	free(env->envid);
	spool_envelope_init(env);
}

void
spool_envelope_add_rcpt(struct spool_envelope *env, const char *address,
    const char *orcpt)
{
	struct spool_rcpt *r;

	env->rcpts = xrealloc(env->rcpts,
	    (env->rcpt_count + 1) * sizeof(*env->rcpts));
	r = &env->rcpts[env->rcpt_count++];
	r->address = xstrdup(address);
	r->orcpt = xstrdup(orcpt != NULL ? orcpt : address);
	r->state = SPOOL_PENDING;
	r->notify = 0;
	r->state_offset = 0;
}

/* A notify line's list (dsn.h: unknown words ignored, none known: not
 * given). */
static unsigned char
notify_parse(const char *s)
{
	unsigned f;

	(void)dsn_notify_parse(s, &f);
	return (f & DSN_NOTIFY_WORDS) != 0 ? (unsigned char)f : 0;
}

/* Values must stay on one line. */
static void
append_clean(struct buf *out, const char *s)
{
	for (; *s; s++)
		buf_append_char(out, (*s == '\n' || *s == '\r' || *s == '\t') ?
		    ' ' : *s);
}

void
spool_envelope_format(const struct spool_envelope *env, struct buf *out)
{
	buf_reset(out);
	buf_printf(out, SPOOL_VERSION_LINE "\nid %s\narrival %" PRId64
	    "\nsender ", env->id, env->arrival);
	append_clean(out, env->sender != NULL ? env->sender : "");
	buf_append_char(out, '\n');
	if (env->client != NULL) {
		buf_append_str(out, "client ");
		append_clean(out, env->client);
		buf_append_char(out, '\n');
	}
	if (env->auth != NULL) {
		buf_append_str(out, "auth ");
		append_clean(out, env->auth);
		buf_append_char(out, '\n');
	}
	if (env->uid >= 0)
		buf_printf(out, "uid %ld\n", env->uid);
	for (size_t i = 0; i < env->rcpt_count; i++) {
		buf_printf(out, "rcpt %c\t", env->rcpts[i].state);
		append_clean(out, env->rcpts[i].address);
		buf_append_char(out, '\t');
		append_clean(out, env->rcpts[i].orcpt);
		buf_append_char(out, '\n');
	}
	if (env->envid != NULL) {
		buf_append_str(out, "envid ");
		append_clean(out, env->envid);
		buf_append_char(out, '\n');
	}
	if (env->ret == DSN_RET_FULL || env->ret == DSN_RET_HDRS)
		buf_printf(out, "ret %s\n",
		    env->ret == DSN_RET_FULL ? "FULL" : "HDRS");
	for (size_t i = 0; i < env->rcpt_count; i++) {
		if (!(env->rcpts[i].notify & DSN_NOTIFY_GIVEN))
			continue;
		buf_printf(out, "notify %zu %s\n", i,
		    dsn_notify_name(env->rcpts[i].notify));
	}
	buf_append_char(out, '\n');
}

void
spool_path(const struct dmail_conf *conf, const char *sub, const char *id,
    struct buf *out)
{
	buf_reset(out);
	buf_printf(out, "%s/spool", conf->state_dir);
	if (sub != NULL)
		buf_printf(out, "/%s", sub);
	if (id != NULL)
		buf_printf(out, "/%s", id);
}

int
spool_dirs(const struct dmail_conf *conf, struct buf *err)
{
	static const char *const subs[] = { "tmp", "queue" };
	struct buf p = BUF_INIT;
	int rc = 0;

	for (size_t i = 0; i < 2 && rc == 0; i++) {
		spool_path(conf, subs[i], NULL, &p);
		if (mkdir_p(p.data, 0700) < 0) {
			buf_printf(err, "cannot create %s: %s", p.data,
			    strerror(errno));
			rc = -1;
		}
	}
	if (rc == 0) {
		struct stat st;

		/* Ordinary users must reach spool/maildrop (dmail-sendmail's
		 * fallback): spool/ gets search permission for all, never
		 * read permission. */
		spool_path(conf, NULL, NULL, &p);
		if (stat(p.data, &st) == 0 && st.st_uid == geteuid() &&
		    (st.st_mode & 0011) != 0011)
			chmod(p.data, (st.st_mode & 07777) | 0011);
		spool_path(conf, "maildrop", NULL, &p);
		if (sys_mkdir(p.data, 01733) == 0)
			chmod(p.data, 01733);   /* umask took bits away */
	}
	buf_free(&p);
	return rc;
}

int
spool_create_tmp(const struct dmail_conf *conf, const char *id,
    struct buf *path)
{
	int fd;

	spool_path(conf, "tmp", id, path);
	fd = sys_open(path->data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (fd < 0 && errno == ENOENT) {
		struct buf err = BUF_INIT;
		if (spool_dirs(conf, &err) == 0)
			fd = sys_open(path->data,
			    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		else
			errno = ENOENT;
		buf_free(&err);
	}
	return fd;
}

int
spool_publish(const struct dmail_conf *conf, const char *tmp_path,
    const char *id)
{
	struct buf dst = BUF_INIT;
	int rc, saved;

	spool_path(conf, "queue", id, &dst);
	rc = durable_rename(tmp_path, dst.data, false);
	saved = errno;
	buf_free(&dst);
	if (rc == 0)
		spool_wakeup(conf);
	errno = saved;
	return rc;
}

static int
write_from_fd(const struct dmail_conf *conf, const char *sub,
    const struct spool_envelope *env, int src_fd, off_t src_offset)
{
	struct buf path = BUF_INIT, head = BUF_INIT, dst = BUF_INIT;
	char chunk[IO_CHUNK];
	off_t off = src_offset;
	int fd, saved, rc = -1;
	ssize_t n;

	fd = spool_create_tmp(conf, env->id, &path);
	if (fd < 0)
		goto out;
	spool_envelope_format(env, &head);
	if (write_all(fd, head.data, head.len) < 0)
		goto fail;
	while ((n = pread(src_fd, chunk, sizeof(chunk), off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write_all(fd, chunk, (size_t)n) < 0)
			goto fail;
		off += n;
	}
	spool_path(conf, sub, env->id, &dst);
	rc = durable_publish(fd, path.data, dst.data, false);
	if (rc == 0)
		spool_wakeup(conf);
	goto out;
fail:
	saved = errno;
	close(fd);
	unlink(path.data);
	errno = saved;
out:
	saved = errno;
	buf_free(&path);
	buf_free(&head);
	buf_free(&dst);
	errno = saved;
	return rc;
}

int
spool_write_from_fd(const struct dmail_conf *conf,
    const struct spool_envelope *env, int src_fd, off_t src_offset)
{
	return write_from_fd(conf, "queue", env, src_fd, src_offset);
}

int
spool_write_maildrop_from_fd(const struct dmail_conf *conf,
    const struct spool_envelope *env, int src_fd, off_t src_offset)
{
	return write_from_fd(conf, "maildrop", env, src_fd, src_offset);
}

static char *
dup_value(const char *v)
{
	return xstrdup(v);
}

int
spool_read(const char *path, struct spool_envelope *env, struct buf *err)
{
	FILE *fp = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0, total = 0;
	ssize_t n;
	bool ended = false, first = true;

	spool_envelope_init(env);
	if (fp == NULL) {
		buf_printf(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) > 0) {
		off_t line_off = (off_t)total;
		char *v;

		total += (size_t)n;
		if (total > SPOOL_HEADER_MAX) {
			buf_printf(err, "%s: header too long", path);
			goto fail;
		}
		if (line[n - 1] != '\n') {
			buf_printf(err, "%s: truncated header", path);
			goto fail;
		}
		line[--n] = '\0';
		if (first) {
			if (strcmp(line, SPOOL_VERSION_LINE) != 0) {
				buf_printf(err, "%s: not a DMail queue file",
				    path);
				goto fail;
			}
			first = false;
			continue;
		}
		if (n == 0) {
			ended = true;
			break;
		}
		v = strchr(line, ' ');
		if (v == NULL) {
			buf_printf(err, "%s: bad line '%s'", path, line);
			goto fail;
		}
		*v++ = '\0';
		if (strcmp(line, "id") == 0) {
			if (strlen(v) == 0 || strlen(v) >= SPOOL_ID_MAX ||
			    strchr(v, '/') != NULL) {
				buf_printf(err, "%s: bad id", path);
				goto fail;
			}
			strcpy(env->id, v);
		} else if (strcmp(line, "arrival") == 0) {
			env->arrival = strtoll(v, NULL, 10);
		} else if (strcmp(line, "sender") == 0) {
			free(env->sender);
			env->sender = dup_value(v);
		} else if (strcmp(line, "client") == 0) {
			free(env->client);
			env->client = dup_value(v);
		} else if (strcmp(line, "auth") == 0) {
			free(env->auth);
			env->auth = dup_value(v);
		} else if (strcmp(line, "uid") == 0) {
			env->uid = strtol(v, NULL, 10);
		} else if (strcmp(line, "rcpt") == 0) {
			char *addr, *orcpt;
			char state = v[0];

			if ((state != SPOOL_PENDING &&
			    state != SPOOL_DELIVERED &&
			    state != SPOOL_BOUNCED) || v[1] != '\t') {
				buf_printf(err, "%s: bad rcpt line", path);
				goto fail;
			}
			addr = v + 2;
			orcpt = strchr(addr, '\t');
			if (orcpt != NULL)
				*orcpt++ = '\0';
			spool_envelope_add_rcpt(env, addr, orcpt);
			env->rcpts[env->rcpt_count - 1].state = state;
			env->rcpts[env->rcpt_count - 1].state_offset =
			    line_off + 5;
		} else if (strcmp(line, "envid") == 0) {
			free(env->envid);
			env->envid = dup_value(v);
		} else if (strcmp(line, "ret") == 0) {
			env->ret = strcasecmp(v, "FULL") == 0 ?
			    DSN_RET_FULL : DSN_RET_HDRS;
		} else if (strcmp(line, "notify") == 0) {
			/* Written after all rcpt lines. */
			char *end;
			unsigned long i = strtoul(v, &end, 10);
			if (end != v && *end == ' ' && i < env->rcpt_count)
				env->rcpts[i].notify = notify_parse(end + 1);
		}
		/* other keys: ignored (newer writers) */
	}
	if (!ended) {
		buf_printf(err, "%s: %s", path, ferror(fp) ?
		    strerror(errno) : "truncated header");
		goto fail;
	}
	if (env->id[0] == '\0' || env->sender == NULL) {
		buf_printf(err, "%s: id or sender missing", path);
		goto fail;
	}
	env->message_offset = (off_t)total;
	free(line);
	fclose(fp);
	return 0;
fail:
	free(line);
	fclose(fp);
	spool_envelope_free(env);
	return -1;
}

int
spool_mark(const char *path, const struct spool_envelope *env, size_t i,
    char state)
{
	int fd, saved;

	if (i >= env->rcpt_count || env->rcpts[i].state_offset == 0) {
		errno = EINVAL;
		return -1;
	}
	fd = sys_open(path, O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (pwrite(fd, &state, 1, env->rcpts[i].state_offset) != 1 ||
	    sys_fsync(fd) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

void
spool_wakeup(const struct dmail_conf *conf)
{
	struct buf p = BUF_INIT;
	int fd;

	spool_path(conf, "wakeup", NULL, &p);
	fd = open(p.data, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
			(void)!write(fd, "w", 1);
		close(fd);
	}
	buf_free(&p);
}
