/*
 * maildir.h - Maildir primitives for durable local delivery: unique
 * Dovecot-compatible file names, creating the tmp/new/cur layout,
 * placing one stored copy into new/ (link, or copy across file systems),
 * and the mailbox usage needed for quota checks.
 *
 * Names (Dovecot's format, so Dovecot and other Maildir readers can take
 * over a DMail mail store unchanged):
 *
 *     SECS.M<usec>P<pid>Q<n>.HOST,S=<bytes on disk>,W=<bytes with CRLF>
 *
 * S= is the file size (LF line ends), W= the size a POP3 or IMAP client
 * sees (every LF counted as CRLF), so POP3 LIST needs no file reads.
 * HOST has '/' and ':' escaped as \057 and \072 and ',' as \054.
 *
 * Every function returns 0 or -1 with errno set; nothing is logged here
 * (the caller knows the message and logs once).
 */
#ifndef DMAIL_MAILDIR_H
#define DMAIL_MAILDIR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* Unique base name "SECS.M<usec>P<pid>Q<n>.HOST" (without the ,S= ,W=
 * suffix) into out (reset first). */
void maildir_unique_base(const char *hostname, struct buf *out);
/* Full name: base ",S=size,W=wsize". */
void maildir_name(const char *base, uint64_t size, uint64_t wsize,
    struct buf *out);
/* Parse ,S= and ,W= out of a file name; missing values are set to
 * UINT64_MAX. Returns 0 when S= was present. */
int maildir_name_sizes(const char *name, uint64_t *size, uint64_t *wsize);

/* Create DIR/{tmp,new,cur} (and DIR and its parents) with mode 0700.
 * Existing directories are fine. */
int maildir_create(const char *dir);

/* Put the stored copy at tmp_path (already fsync'd) into DIR/new/NAME:
 * link(2) (or rename(2) when move is true: the last placement of a copy
 * nobody reads again), creating the Maildir on ENOENT; across file
 * systems (EXDEV) copy into DIR/tmp/, fsync, rename into new/. The
 * directory new/ is NOT fsync'd here: the caller syncs each distinct
 * directory once, after all placements (see maildir.c). On failure
 * nothing new is left behind. */
int maildir_place(const char *tmp_path, const char *dir, const char *name,
    bool move);

/* Remove files in DIR/tmp older than max_age seconds (left by crashed
 * writers; Maildir readers ignore tmp/). Returns the number removed. */
int maildir_clean_tmp(const char *dir, unsigned max_age);

/* Bytes (sum of S=, else st_size) and message count in new/ and cur/,
 * for quota checks. */
int maildir_usage(const char *dir, uint64_t *bytes, uint64_t *messages);

#endif
