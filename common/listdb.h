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
 * Reading many members: listdb_each() walks the database with a cursor
 * from a start key (DB_SET_RANGE) and stops when told; listdb_page()
 * reads one page of a search with it, never more than the page and one
 * entry past it (so a page costs the same with 100 or 100,000 members,
 * except a search that matches few of them). listdb_all() reads
 * everything (distribution, digests, "who").
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

/* Call fn for each member in address order, starting at the first
 * address >= from (NULL or "": the first), until fn returns false. 0, or
 * -1 (logged). Damaged records are skipped (logged). */
int listdb_each(struct listdb *db, const char *from,
    bool (*fn)(void *arg, const struct list_member *m), void *arg);

/* One page of members: those after `after` (exclusive; NULL or "": from
 * the first) whose address contains q (case-insensitive; NULL or "":
 * all), the first skip of them left out, at most max into out. *more:
 * another match follows the page. Returns the number stored, or -1. */
struct listdb_page {
	const char *after, *q;
	size_t skip, max;
};
long listdb_page(struct listdb *db, const struct listdb_page *p,
    struct list_member *out, bool *more);

/* Every member of list d, as listdb_all(), with the database opened
 * and closed around it: 0, or -1 (logged). */
int listdb_members(const struct dmail_conf *conf, const struct list_def *d,
    struct list_member **out, size_t *n);

/* Delivery mode of a member as the mail command "set" names it:
 * "nomail", "digest" or "mail". */
const char *list_member_mode(const struct list_member *m);
/* Set the delivery mode by name, as "set LIST digest|nomail|mail" does
 * (mail also clears the bounce score; nomail keeps the digest choice
 * for later). 0, or -1 for an unknown name. */
int list_member_set_mode(struct list_member *m, const char *mode);

/* Import: one address per line ("Name <addr>" or a bare address;
 * blank lines and "#" comments ignored; a line over LIST_ADDRESS_MAX
 * bytes is invalid), as "dlist import" and the web manager's import. */
struct listdb_import {
	size_t added, already, invalid;
	/* called with each invalid line (NUL-terminated, trimmed); may be
	 * NULL */
	void (*bad)(void *arg, const char *line);
	void *arg;
};
/* Classify one line: 1 address (lower-cased into addr), 0 nothing (blank
 * or comment), -1 invalid. */
int list_import_line(const char *line, size_t len,
    char addr[LIST_ADDRESS_MAX + 1]);
/* Add the new addresses of text (len bytes) in one transaction; counts
 * in res (an address given twice counts once added, then already). 0, or
 * -1 with err filled (then nothing was added). */
int listdb_import(struct listdb *db, const char *text, size_t len,
    struct listdb_import *res, struct buf *err);

/* Text form of a record and back (exported for tests). */
void list_member_encode(const struct list_member *m, struct buf *out);
int list_member_decode(const char *s, size_t len, struct list_member *m);

#endif
