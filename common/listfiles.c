/*
 * listfiles.c - the shared file area of a list (see listfiles.h).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "listfiles.h"
#include "util.h"

bool
list_file_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > LIST_FILE_NAME_MAX || name[0] == '.' ||
	    strstr(name, "..") != NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= ' ' || c >= 0x7f || c == '/' || c == '\\' || c == '"')
			return false;
	}
	return true;
}

void
list_file_line(const struct list_file *f, struct buf *out)
{
	char date[32];
	time_t t = (time_t)f->mtime;
	struct tm tm;

	strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime_r(&t, &tm));
	buf_printf(out, "%-40s %10llu  %s\n", f->name,
	    (unsigned long long)f->size, date);
}

void
list_files_dir(const struct dmail_conf *conf, const struct list_def *d,
    struct buf *out)
{
	list_state_path(conf, d, "files", out);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const struct list_file *)a)->name,
	    ((const struct list_file *)b)->name);
}

int
list_files_all(const struct dmail_conf *conf, const struct list_def *d,
    struct list_file **out, size_t *n, struct buf *err)
{
	struct buf dir = BUF_INIT;
	struct dirent *e;
	DIR *dp;

	*out = NULL;
	*n = 0;
	list_files_dir(conf, d, &dir);
	if ((dp = opendir(dir.data)) == NULL) {
		int r = errno == ENOENT ? 0 : -1;

		if (r < 0)
			buf_printf(err, "cannot read %s: %s", dir.data,
			    strerror(errno));
		buf_free(&dir);
		return r;
	}
	while ((e = readdir(dp)) != NULL && *n < LIST_FILES_MAX) {
		struct stat st;

		/* Temporary files of a write in progress start with '.'
		 * or hold ".tmp."; names we never store are skipped. */
		if (!list_file_name_ok(e->d_name) ||
		    strstr(e->d_name, ".tmp.") != NULL ||
		    fstatat(dirfd(dp), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		memcpy((*out)[*n].name, e->d_name, strlen(e->d_name) + 1);
		(*out)[*n].size = (uint64_t)st.st_size;
		(*out)[*n].mtime = (int64_t)st.st_mtime;
		(*n)++;
	}
	closedir(dp);
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), by_name);
	buf_free(&dir);
	return 0;
}

/* dir/name into out after checking name; false (err filled) if bad. */
static bool
file_path(const struct dmail_conf *conf, const struct list_def *d,
    const char *name, struct buf *out, struct buf *err)
{
	if (!list_file_name_ok(name) || strstr(name, ".tmp.") != NULL) {
		buf_printf(err, "'%.*s' is not a usable file name (1 to %d "
		    "printable characters, no blanks, '/', '\\\\', '\"' or "
		    "'..', not starting with '.')", LIST_FILE_NAME_MAX, name,
		    LIST_FILE_NAME_MAX);
		return false;
	}
	list_files_dir(conf, d, out);
	buf_printf(out, "/%s", name);
	return true;
}

int
list_file_put(const struct dmail_conf *conf, const struct list_def *d,
    const char *name, const void *data, size_t len, struct buf *err)
{
	struct list_file *fs;
	struct buf path = BUF_INIT, dir = BUF_INIT;
	uint64_t total = len;
	size_t n;
	int r = -1;

	if (!file_path(conf, d, name, &path, err))
		return LIST_FILE_REFUSED;
	if ((uint64_t)len > d->file_max_size) {
		buf_printf(err, "%s is %zu bytes; the limit of %s is %llu",
		    name, len, d->address,
		    (unsigned long long)d->file_max_size);
		buf_free(&path);
		return LIST_FILE_REFUSED;
	}
	if (list_files_all(conf, d, &fs, &n, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (strcmp(fs[i].name, name) != 0)
			total += fs[i].size;
	free(fs);
	if (total > d->files_max_size || n >= LIST_FILES_MAX) {
		buf_printf(err, "the files of %s would take %llu bytes; the "
		    "limit is %llu (%d files at most)", d->address,
		    (unsigned long long)total,
		    (unsigned long long)d->files_max_size, LIST_FILES_MAX);
		r = LIST_FILE_REFUSED;
		goto out;
	}
	list_files_dir(conf, d, &dir);
	if (mkdir_p(dir.data, 0700) < 0 ||
	    write_file_durable(path.data, data, len, 0640) < 0) {
		buf_printf(err, "cannot write %s: %s", path.data,
		    strerror(errno));
		goto out;
	}
	r = 0;
out:
	buf_free(&path);
	buf_free(&dir);
	return r;
}

int
list_file_get(const struct dmail_conf *conf, const struct list_def *d,
    const char *name, struct buf *out, struct buf *err)
{
	struct buf path = BUF_INIT;
	struct stat st;
	int r = 1;

	if (!file_path(conf, d, name, &path, err))
		return LIST_FILE_REFUSED;
	if (lstat(path.data, &st) < 0) {
		r = errno == ENOENT ? 0 : -1;
		if (r < 0)
			buf_printf(err, "cannot read %s: %s", path.data,
			    strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		r = 0;
	} else if (read_file(path.data, out, (size_t)d->file_max_size +
	    (size_t)st.st_size) < 0) {
		buf_printf(err, "cannot read %s: %s", path.data,
		    strerror(errno));
		r = errno == ENOENT ? 0 : -1;
	}
	buf_free(&path);
	return r;
}

int
list_file_delete(const struct dmail_conf *conf, const struct list_def *d,
    const char *name, struct buf *err)
{
	struct buf path = BUF_INIT;
	int r = 1;

	if (!file_path(conf, d, name, &path, err))
		return LIST_FILE_REFUSED;
	if (unlink(path.data) < 0) {
		r = errno == ENOENT ? 0 : -1;
	} else if (fsync_dir_of(path.data) < 0) {
		r = -1;
	}
	if (r < 0)
		buf_printf(err, "cannot remove %s: %s", path.data,
		    strerror(errno));
	buf_free(&path);
	return r;
}
