/*
 * listspool.c - durable hand-off of list mail from DSMTP to dmail-listd
 * (format and layout in listspool.h).
 *
 * Every durability step goes through sys.h so tests can inject faults;
 * on any failure the partial file is removed and errno is kept.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "lists.h"
#include "listspool.h"
#include "log.h"
#include "spool.h"
#include "sys.h"
#include "util.h"

int
listspool_check_rcpt(struct lists_cache *cache, const struct dmail_conf *conf,
    const char *address)
{
	const struct lists *l;
	const struct list_def *d;
	const char *at = strrchr(address, '@');
	char member[LIST_ADDRESS_MAX + 1];
	bool ok;

	if (conf->lists_file == NULL || at == NULL ||
	    !conf_is_local_domain(conf, at + 1))
		return 0;
	/* The cache follows the configured lists_file (a reload may name
	 * another one). */
	if (cache->path == NULL || strcmp(cache->path, conf->lists_file) != 0) {
		struct buf fb = BUF_INIT;

		lists_cache_free(cache);
		lists_cache_init(cache, conf->lists_file);
		lists_fallback_path(conf, &fb);
		lists_cache_fallback(cache, fb.data);
		buf_free(&fb);
	}
	l = lists_cache_get(cache, &ok);
	if (lists_match(l, address, &d, member, sizeof(member)) !=
	    LIST_ADDR_NONE)
		return 1;
	if (!ok && !cache->had_good)
		return -1;
	return 0;
}

void
listspool_dir(const struct dmail_conf *conf, const char *sub,
    struct buf *out)
{
	buf_reset(out);
	buf_printf(out, "%s/lists/spool%s%s", conf->state_dir,
	    sub != NULL && *sub ? "/" : "", sub != NULL ? sub : "");
}

/* Header without line breaks in values. */
static void
put_value(struct buf *out, const char *key, const char *v)
{
	buf_printf(out, "%s ", key);
	for (; *v != '\0'; v++)
		if (*v != '\n' && *v != '\r')
			buf_append_char(out, *v);
	buf_append_char(out, '\n');
}

static void
format_header(const char *id, const char *sender, const char *const *rcpts,
    size_t n, struct buf *hdr)
{
	buf_reset(hdr);
	buf_printf(hdr, "%s\nid %s\narrival %lld\n", LISTSPOOL_VERSION_LINE,
	    id, (long long)time(NULL));
	put_value(hdr, "sender", sender != NULL ? sender : "");
	for (size_t i = 0; i < n; i++)
		put_value(hdr, "rcpt", rcpts[i]);
	buf_append_char(hdr, '\n');
}

/* Common part: header in hdr already; message from fd or memory. */
static int
write_spool(const struct dmail_conf *conf, const char *sender,
    const char *const *rcpts, size_t n, int src_fd, off_t src_offset,
    const char *data, uint64_t len, char *id_out, struct buf *err)
{
	struct buf hdr = BUF_INIT, tmp = BUF_INIT, dst = BUF_INIT;
	char id[LISTSPOOL_ID_MAX];
	char chunk[IO_CHUNK];
	int fd = -1, saved;
	uint64_t done = 0;

	spool_new_id(id);
	format_header(id, sender, rcpts, n, &hdr);

	listspool_dir(conf, "tmp", &tmp);
	if (mkdir_p(tmp.data, 0700) < 0) {
		saved = errno;
		buf_printf(err, "cannot create %s: %s", tmp.data,
		    strerror(errno));
		goto fail_nofile;
	}
	buf_printf(&tmp, "/%s", id);
	listspool_dir(conf, "new", &dst);
	if (mkdir_p(dst.data, 0700) < 0) {
		saved = errno;
		buf_printf(err, "cannot create %s: %s", dst.data,
		    strerror(errno));
		goto fail_nofile;
	}
	buf_printf(&dst, "/%s", id);
	fd = sys_open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		saved = errno;
		buf_printf(err, "cannot create %s: %s", tmp.data,
		    strerror(errno));
		goto fail_nofile;
	}
	if (sys_write(fd, hdr.data, hdr.len) != (ssize_t)hdr.len)
		goto fail_write;
	while (done < len) {
		size_t want = len - done > sizeof(chunk) ? sizeof(chunk) :
		    (size_t)(len - done);
		const char *p;
		ssize_t got;

		if (data != NULL) {
			p = data + done;
			got = (ssize_t)want;
		} else {
			got = pread(src_fd, chunk, want,
			    src_offset + (off_t)done);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				if (got == 0)
					errno = EIO;
				goto fail_write;
			}
			p = chunk;
		}
		for (ssize_t off = 0; off < got;) {
			ssize_t w = sys_write(fd, p + off, (size_t)(got - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				goto fail_write;
			off += w;
		}
		done += (uint64_t)got;
	}
	if (durable_publish(fd, tmp.data, dst.data, false) < 0) {
		/* Not acknowledged: nothing left, so nothing is done twice. */
		saved = errno;
		buf_printf(err, "cannot publish %s: %s", dst.data,
		    strerror(errno));
		goto fail_nofile;
	}
	if (id_out != NULL)
		snprintf(id_out, LISTSPOOL_ID_MAX, "%s", id);
	buf_free(&hdr);
	buf_free(&tmp);
	buf_free(&dst);
	return 0;

fail_write:
	saved = errno;
	buf_printf(err, "cannot write list spool file %s: %s", tmp.data,
	    strerror(saved));
	if (fd >= 0)
		close(fd);
	unlink(tmp.data);
fail_nofile:
	buf_free(&hdr);
	buf_free(&tmp);
	buf_free(&dst);
	errno = saved;
	return -1;
}

int
listspool_write_fd(const struct dmail_conf *conf, const char *sender,
    const char *const *rcpts, size_t n, int src_fd, off_t src_offset,
    uint64_t len, char *id_out, struct buf *err)
{
	return write_spool(conf, sender, rcpts, n, src_fd, src_offset, NULL,
	    len, id_out, err);
}

int
listspool_write_mem(const struct dmail_conf *conf, const char *sender,
    const char *const *rcpts, size_t n, const char *data, size_t len,
    char *id_out, struct buf *err)
{
	return write_spool(conf, sender, rcpts, n, -1, 0,
	    data != NULL ? data : "", len, id_out, err);
}

int
listspool_create_tmp(const struct dmail_conf *conf, const char *sender,
    const char *const *rcpts, size_t n, struct buf *path, struct buf *header)
{
	char id[LISTSPOOL_ID_MAX];
	int fd;

	spool_new_id(id);
	format_header(id, sender, rcpts, n, header);
	listspool_dir(conf, "tmp", path);
	if (mkdir_p(path->data, 0700) < 0)
		return -1;
	buf_printf(path, "/%s", id);
	fd = sys_open(path->data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	return fd;
}

int
listspool_publish(const struct dmail_conf *conf, const char *tmp_path)
{
	struct buf dst = BUF_INIT;
	const char *slash = strrchr(tmp_path, '/');
	int saved;

	listspool_dir(conf, "new", &dst);
	if (slash == NULL || mkdir_p(dst.data, 0700) < 0)
		goto fail;
	buf_append_str(&dst, slash);
	if (durable_rename(tmp_path, dst.data, false) < 0) {
		saved = errno;
		buf_free(&dst);
		errno = saved;
		return -1;
	}
	buf_free(&dst);
	return 0;
fail:
	saved = errno;
	unlink(tmp_path);
	buf_free(&dst);
	errno = saved != 0 ? saved : EINVAL;
	return -1;
}

void
listspool_msg_free(struct listspool_msg *msg)
{
	free(msg->sender);
	strlist_free(&msg->rcpts);
	buf_free(&msg->message);
	memset(msg, 0, sizeof(*msg));
}

int
listspool_read(const char *path, struct listspool_msg *msg, size_t max,
    struct buf *err)
{
	struct buf text = BUF_INIT;
	const char *s, *end;
	bool first = true;

	memset(msg, 0, sizeof(*msg));
	if (read_file(path, &text, max + LISTSPOOL_HEADER_MAX) < 0) {
		buf_printf(err, "cannot read %s: %s", path, strerror(errno));
		buf_free(&text);
		return -1;
	}
	s = text.data != NULL ? text.data : "";
	end = s + text.len;
	for (;;) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n;

		if (nl == NULL) {
			buf_printf(err, "%s: truncated header", path);
			goto fail;
		}
		n = (size_t)(nl - s);
		if (first) {
			if (n != strlen(LISTSPOOL_VERSION_LINE) ||
			    memcmp(s, LISTSPOOL_VERSION_LINE, n) != 0) {
				buf_printf(err, "%s: not a list spool file",
				    path);
				goto fail;
			}
			first = false;
		} else if (n == 0) {
			s = nl + 1;
			break;
		} else if (n > 3 && memcmp(s, "id ", 3) == 0) {
			snprintf(msg->id, sizeof(msg->id), "%.*s",
			    (int)(n - 3), s + 3);
		} else if (n > 8 && memcmp(s, "arrival ", 8) == 0) {
			msg->arrival = strtoll(s + 8, NULL, 10);
		} else if (n >= 6 && memcmp(s, "sender", 6) == 0 &&
		    (n == 6 || s[6] == ' ')) {
			free(msg->sender);
			msg->sender = n > 7 ? xstrndup(s + 7, n - 7) :
			    xstrdup("");
		} else if (n > 5 && memcmp(s, "rcpt ", 5) == 0) {
			char *r = xstrndup(s + 5, n - 5);
			strlist_add(&msg->rcpts, r);
			free(r);
		}
		s = nl + 1;
	}
	if (msg->sender == NULL || msg->rcpts.count == 0) {
		buf_printf(err, "%s: header lacks sender or rcpt", path);
		goto fail;
	}
	buf_append(&msg->message, s, (size_t)(end - s));
	buf_free(&text);
	return 0;
fail:
	buf_free(&text);
	listspool_msg_free(msg);
	return -1;
}
