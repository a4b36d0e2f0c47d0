/*
 * bdb.h - the two ways DMail opens a Berkeley DB B-tree.
 *
 * bdb_open_file() opens one B-tree file alone, with no shared
 * environment: Berkeley DB keeps a private cache in this process only,
 * so there are no region files, no locks, no log and no recovery. With
 * DB_RDONLY it never writes a byte (the file is read with pread, not
 * mapped: DB_NOMMAP), so a full disk or a sibling process killed at any
 * instant cannot affect it. This is how the account database is read by
 * every worker and written by dmail-user, which builds a new version of
 * the file and renames it over the old one (userdb.c).
 * Returns 0 with *db set, or the Berkeley DB / errno code (ENOENT when
 * the file does not exist) with *db NULL and the reason in err.
 *
 * bdb_open() opens one B-tree in a transactional environment in
 * directory `home`, creating both if needed, with DB_CREATE |
 * DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_REGISTER |
 * DB_RECOVER: Berkeley DB keeps a registry of the processes in the
 * environment and runs normal recovery at open only when one of them
 * died without closing, which rolls the unfinished transaction back. Log
 * files are removed automatically. Used by the list-member databases
 * (listdb.c), which list workers write at run time, and once by userdb.c
 * to convert an account database of the old environment layout.
 * Returns 0 with *env and *db set, or -1 with the reason in err and both
 * NULL. bdb_close() closes what is open and NULLs both; safe to repeat.
 *
 * Berkeley DB's own messages go to our log (warning level) with the
 * given name as prefix. Nothing here is fatal.
 */
#ifndef DMAIL_BDB_H
#define DMAIL_BDB_H

#include <stdint.h>

#include <db.h>

#include "buf.h"

struct bdb_options {
	const char *name;          /* for messages: "userdb", "listdb" */
	uint32_t cache_bytes;
	uint32_t lock_timeout_us;  /* 0: none (callers use DB_TXN_NOWAIT) */
	uint32_t log_max_bytes;    /* 0: Berkeley DB's default */
};

int bdb_open(const char *home, const char *file,
    const struct bdb_options *opt, DB_ENV **env, DB **db, struct buf *err);
void bdb_close(DB_ENV **env, DB **db);

/* flags: DB_RDONLY (reader) or DB_CREATE | DB_EXCL (a new file). */
int bdb_open_file(const char *path, uint32_t flags,
    const struct bdb_options *opt, DB **db, struct buf *err);

#endif
