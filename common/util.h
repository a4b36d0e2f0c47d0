/*
 * util.h - small helpers on files, descriptors, time and strings.
 *
 * Everything that touches the disk for durability goes through sys.h so
 * tests can inject faults; these helpers do.
 */
#ifndef DMAIL_UTIL_H
#define DMAIL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* Read a whole file (at most max bytes) into out. -1 with errno set. */
int read_file(const char *path, struct buf *out, size_t max);
/* Durably replace path with data: write PATH.tmp.PID, fsync, rename,
 * fsync the directory. -1 with errno set; nothing left behind. */
int write_file_durable(const char *path, const void *data, size_t len,
    mode_t mode);
/* fsync the directory holding path (or the directory itself if is_dir). */
int fsync_dir_of(const char *path);
int fsync_dir(const char *dir);
/* mkdir -p with mode; existing directories are fine. */
int mkdir_p(const char *path, mode_t mode);

int fd_set_cloexec(int fd, bool on);
int fd_set_nonblock(int fd, bool on);
/* True if fd is a socket (of any family and type). */
bool fd_is_socket(int fd);
/* write(2) the whole buffer, retrying on EINTR and short writes. */
int write_all(int fd, const void *data, size_t len);

/* Milliseconds on the monotonic clock. */
int64_t now_ms(void);

/* ASCII lower-casing in place; returns s. */
char *str_lower(char *s);
/* Strip leading and trailing blanks (space, tab, CR, LF) in place. */
char *str_trim(char *s);
bool str_has_prefix_ci(const char *s, const char *prefix);

/* Drop root to user name (setgid, initgroups, setuid). No-op when not
 * root. Returns -1 and logs on failure. */
int drop_privileges(const char *user);
/* Look up uid/gid of user; -1 if unknown. */
int user_ids(const char *user, uid_t *uid, gid_t *gid);

/* Print "NAME (DMail) VERSION" on stdout (the version from configure). */
void version_print(const char *name);
/* When argv[1] is "--version": version_print(name) and exit 0. */
void version_option(int argc, char **argv, const char *name);

#endif
