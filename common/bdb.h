/*
 * bdb.h - opening one B-tree in a transactional Berkeley DB environment,
 * the way every DMail database does it (accounts: userdb.c, list members:
 * listdb.c).
 *
 * bdb_open() creates the environment directory's regions if needed and
 * opens it with DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG |
 * DB_INIT_MPOOL | DB_REGISTER | DB_RECOVER: Berkeley DB keeps a registry of
 * the processes in the environment and runs normal recovery at open only
 * when one of them died without closing (kill -9 mid-transaction), which
 * rolls the unfinished transaction back. Log files are removed
 * automatically; Berkeley DB's own messages go to our log with the given
 * prefix. Then the B-tree `file` is opened (created) in it.
 *
 * Returns 0 with *env and *db set, or -1 with the reason in err and both
 * NULL. bdb_close() closes what is open and NULLs both; safe to repeat.
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

#endif
