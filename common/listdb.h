/*
 * listdb.h - the members of one mailing list, in Berkeley DB.
 *
 * Each list has a transactional Berkeley DB environment in its state
 * directory (state_dir/lists/LIST@DOMAIN/) holding members.db: key the
 * member address in lower case, value a short text record of the
 * member's options ("v1 nomail=0 digest=0 bounce=0 since=T lastbounce=T").
 * dlist (writer) and the list workers (readers, and writers of options
 * and bounce scores) work at the same time; every write is a committed
 * transaction, opening runs recovery.
 *
 * Return values: lookups 1 found / 0 not a member / -1 database failure;
 * writes 0 / -1 with err filled; deletes 1 / 0 / -1.
 */
#ifndef DMAIL_LISTDB_H
#define DMAIL_LISTDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "lists.h"

struct list_member {
	char address[LIST_ADDRESS_MAX + 1];
	bool nomail;             /* receives nothing (set by member or bounces) */
	bool digest;             /* receives digests instead of each post */
	unsigned bounce;         /* bounce score */
	int64_t since;           /* subscribed at (Unix time) */
	int64_t last_bounce;     /* last bounce counted (Unix time), 0 none */
};

struct listdb;

/* Open (creating if needed) the members database of list d. */
struct listdb *listdb_open(const struct dmail_conf *conf,
    const struct list_def *d, struct buf *err);
void listdb_close(struct listdb *db);

/* A fresh record with defaults for address (lower-cased). */
void list_member_init(struct list_member *m, const char *address);

int listdb_get(struct listdb *db, const char *address,
    struct list_member *out);
int listdb_put(struct listdb *db, const struct list_member *m,
    struct buf *err);
/* Many members in one transaction (import): all or none. */
int listdb_put_many(struct listdb *db, const struct list_member *m,
    size_t n, struct buf *err);
int listdb_delete(struct listdb *db, const char *address, struct buf *err);
/* Every member in address order into a malloc'd array (free()). */
int listdb_all(struct listdb *db, struct list_member **out, size_t *n);

/* Every member of list d, as listdb_all(), with the database opened
 * and closed around it: 0, or -1 (logged). */
int listdb_members(const struct dmail_conf *conf, const struct list_def *d,
    struct list_member **out, size_t *n);

/* Text form of a record and back (exported for tests). */
void list_member_encode(const struct list_member *m, struct buf *out);
int list_member_decode(const char *s, size_t len, struct list_member *m);

#endif
