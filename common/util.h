/*
 * util.h - small helpers on files, descriptors, time and strings, and the
 * one home of texts every program writes the same way: RFC 5322 dates,
 * Message-IDs, how a child process ended; and of the FNV-1a hash.
 *
 * Everything that touches the disk for durability goes through sys.h so
 * tests can inject faults; these helpers do. Nothing here is fatal:
 * errors are returned with errno set (drop_privileges() also logs).
 */
#ifndef DMAIL_UTIL_H
#define DMAIL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* Bytes a read/write loop over a message or a spool file moves at a
 * time: the size of the buffers that copy mail. */
#define IO_CHUNK 65536

/* Read a whole file (at most max bytes) into out. -1 with errno set. */
int read_file(const char *path, struct buf *out, size_t max);
/* Durably replace path with data: write PATH.tmp.PID, fsync, rename,
 * fsync the directory (durable_publish()). -1 with errno set; nothing
 * left behind. */
int write_file_durable(const char *path, const void *data, size_t len,
    mode_t mode);
/*
 * The one durable write recipe, for writers that fill the temporary file
 * themselves (streamed, in another directory, created O_EXCL):
 * durable_publish() fsyncs and closes fd (written at tmp; closed in
 * every case), then durable_rename(). durable_rename() renames tmp to
 * path and fsyncs path's directory; a directory the caller may not read
 * (a user writing into the maildrop, mode 1733) is made durable by
 * syncfs() of its file system instead. On failure tmp is removed. When
 * only the directory fsync failed, a new name (replace false: a queue,
 * spool or maildrop file, never acknowledged) is removed again, while a
 * replaced file (replace true: state files) keeps its new content, the
 * old one being gone already. -1 with errno set.
 */
int durable_publish(int fd, const char *tmp, const char *path, bool replace);
int durable_rename(const char *tmp, const char *path, bool replace);
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

/* RFC 5322 date-time of t (seconds since the epoch), the same in every
 * locale, the day always in two digits: "Thu, 03 Dec 2026 07:19:42 +0100"
 * in local time with its offset, or with "+0000" in UTC when utc.
 * Appended to out (at most RFC5322_DATE_MAX - 1 bytes). */
#define RFC5322_DATE_MAX 40
void rfc5322_date(int64_t t, bool utc, struct buf *out);
/* A new msg-id with its angle brackets, "<SECONDS.HEX16@host>": HEX16 is
 * 64 random bits (getrandom(2)), so ids of any process on any host do not
 * repeat; every id is the same length while SECONDS has ten digits.
 * Appended to out. */
void message_id(const char *host, struct buf *out);
/* How a child ended, from its wait(2) status, for log lines: "exited with
 * status N", "killed by signal N" or "killed by signal N (core dumped)".
 * Into out (size bytes, CHILD_EXIT_TEXT_MAX is enough); returns out. */
#define CHILD_EXIT_TEXT_MAX 64
const char *child_exit_text(int status, char *out, size_t size);
/* 64-bit FNV-1a hash of s: a short, stable name for a string (file names
 * derived from names, hash buckets), not a defence against collisions
 * chosen by an attacker. Async-signal-safe. Its offset basis is the one
 * DMail has always used, 1469598103934665603 (the published FNV basis
 * without its last digit): the quarantine's file names on disk
 * (poison.c) are made with it, so it never changes. */
uint64_t fnv1a64(const char *s);

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
