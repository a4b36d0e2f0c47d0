/*
 * listfiles.h - the shared file area of a DList list:
 * state_dir/lists/LIST@DOMAIN/files/, one plain file per shared file.
 *
 * Owners fill it (putfile/delfile by mail, dlist putfile/delfile on the
 * command line); members fetch from it (files/getfile by mail). Both
 * the list worker and dlist use these functions, so the rules are the
 * same on either path:
 *
 *   - a name is 1 to LIST_FILE_NAME_MAX printable ASCII characters
 *     other than blanks, '/', '\\' and '"', does not start with '.'
 *     and holds no ".." (list_file_name_ok());
 *   - one file is at most the list's file_max_size bytes, all files of
 *     the list together at most files_max_size (lists.dat(5));
 *   - writes are durable (write_file_durable(): temporary file, fsync,
 *     rename, fsync of the directory), as is a delete (unlink, fsync of
 *     the directory).
 *
 * Functions return 0 (or 1 for "found") when done, LIST_FILE_REFUSED
 * with the reason in err when the request breaks a rule (nothing
 * changed), and -1 with err filled on a system error. Nothing logs:
 * the caller does, once.
 */
#ifndef DMAIL_LISTFILES_H
#define DMAIL_LISTFILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "lists.h"

#define LIST_FILE_NAME_MAX 100
#define LIST_FILES_MAX 1000          /* files per list */
#define LIST_FILE_REFUSED (-2)

struct list_file {
	char name[LIST_FILE_NAME_MAX + 1];
	uint64_t size;
	int64_t mtime;                   /* Unix time */
};

/* Is name usable as a shared file name (see above)? */
bool list_file_name_ok(const char *name);
/* One line of a listing, "NAME  SIZE  YYYY-MM-DD HH:MM UTC\n", appended
 * to out (the same for dlist files and the files command). */
void list_file_line(const struct list_file *f, struct buf *out);
/* state_dir/lists/LIST@DOMAIN/files into out. */
void list_files_dir(const struct dmail_conf *conf, const struct list_def *d,
    struct buf *out);
/* The files of d, sorted by name, into a new array *out of *n entries
 * (free() it). A missing area is empty. 0 or -1. */
int list_files_all(const struct dmail_conf *conf, const struct list_def *d,
    struct list_file **out, size_t *n, struct buf *err);
/* Store data (len bytes) as name, replacing a file of that name. 0,
 * LIST_FILE_REFUSED (bad name, too large, list full) or -1. */
int list_file_put(const struct dmail_conf *conf, const struct list_def *d,
    const char *name, const void *data, size_t len, struct buf *err);
/* Read name into out: 1, 0 no such file, LIST_FILE_REFUSED (bad name)
 * or -1. */
int list_file_get(const struct dmail_conf *conf, const struct list_def *d,
    const char *name, struct buf *out, struct buf *err);
/* Remove name: 1 removed, 0 no such file, LIST_FILE_REFUSED or -1. */
int list_file_delete(const struct dmail_conf *conf, const struct list_def *d,
    const char *name, struct buf *err);

#endif
