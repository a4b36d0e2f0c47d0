/*
 * sys.h - the system calls that make mail durable, behind a table so that
 * tests can make the Nth call fail (SQLite's test_syscall idea).
 *
 * Code that writes mail or queue files calls sys_write(), sys_fsync(), ...
 * instead of the libc functions. Normally they are the libc functions.
 * When the environment variable DMAIL_FAULT is set at start (read once by
 * sys_fault_init(), which worker_main and the tools call), for example
 *
 *     DMAIL_FAULT=fsync:1:ENOSPC          every 1st.. call from now fails
 *     DMAIL_FAULT=write:3:EIO             the 3rd write fails, and later ones
 *     DMAIL_FAULT=rename:1:ENOSPC,link:1:ENOSPC
 *
 * the named call fails with that errno from its Nth use on, in every
 * process that inherits the variable. Names: open, write, fsync, close,
 * rename, link, mkdir. Errno names: ENOSPC, EIO, EDQUOT, EROFS, EACCES.
 *
 * A failing sys_close() still closes the descriptor (as close(2) does on
 * Linux even when it reports EIO), so callers must not close it again.
 * An unknown name or errno in DMAIL_FAULT is logged and ignored.
 */
#ifndef DMAIL_SYS_H
#define DMAIL_SYS_H

#include <sys/types.h>

void sys_fault_init(void);

int sys_open(const char *path, int flags, mode_t mode);
ssize_t sys_write(int fd, const void *buf, size_t len);
int sys_fsync(int fd);
/* close(2) whose result matters: a file written and about to be renamed
 * or acknowledged. Delayed write errors (NFS, quota) show up here. */
int sys_close(int fd);
int sys_rename(const char *from, const char *to);
int sys_link(const char *from, const char *to);
int sys_mkdir(const char *path, mode_t mode);

#endif
