/*
 * userdb.h - the account database shared by DSMTP and DPOP: one Berkeley
 * DB B-tree file, state_dir/db/users.db, with no shared environment
 * (details and the upgrade from the old environment layout: userdb.c).
 *
 * Readers (SMTP, POP3 and list workers) open the file read-only and never
 * write a byte, so a full disk or a process killed at any instant cannot
 * make a lookup fail. Writers (dmail-user) take turns on a lock file and
 * replace the whole file atomically (copy, change, fsync, rename): every
 * lookup sees the old or the new version, never a torn one; a reader
 * picks up a new version at its next lookup.
 *
 * Addresses are stored lower-case, "user@domain". Login names may omit
 * the domain; userdb_login_address() fills in the first local domain.
 *
 * With userdb_backend ldap or pgsql the same functions read (and, for
 * pgsql, write) a directory server instead (common/userdb_dir.h: one
 * connection per process, bounded waits, a small TTL cache in workers);
 * userdb_upgrade and the file layout above concern only bdb. A
 * directory can also hold local domains and aliases (read-only for
 * DMail; userdb_dir.h): an operator adds them with the directory's own
 * tools and every node uses them at the next lookup, without a reload.
 *
 * Return values: lookups give 1 (found), 0 (no such account) or -1
 * (database failure, a directory server down or slow: the caller answers
 * with a temporary error).
 */
#ifndef DMAIL_USERDB_H
#define DMAIL_USERDB_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"

#define USERDB_ADDRESS_MAX 320

struct user_record {
	char address[USERDB_ADDRESS_MAX + 1];
	char hash[256];          /* crypt(3) hash; "" = no password login */
	char apop_secret[128];   /* "" when the account has none */
	char mailbox[PATH_MAX];  /* absolute path of the Maildir */
	uint64_t quota_bytes;    /* 0 = unlimited */
	uint64_t quota_messages; /* 0 = unlimited */
	bool enabled;
};

struct userdb;

enum userdb_mode { USERDB_READ, USERDB_WRITE };

/* A handle on the database under conf->state_dir/db. USERDB_READ opens
 * nothing yet (the file is opened at the first lookup; a missing file is
 * an empty database). USERDB_WRITE creates the directory, waits for the
 * exclusive writer lock (held until userdb_close), converts the old
 * environment layout if it finds one and removes stale temporary files;
 * NULL with err filled when that fails. */
struct userdb *userdb_open(const struct dmail_conf *conf,
    enum userdb_mode mode, struct buf *err);
/* Closes; a change begun and not committed is dropped. */
void userdb_close(struct userdb *db);
/* Close the file until the next lookup: a worker calls this at the end
 * of each session, so idle workers (thousands of them on a big server)
 * hold no Berkeley DB handle or cache. */
void userdb_release(struct userdb *db);
/* Directory backends: while on, every answer (account, domain, alias)
 * is kept and served again even with userdb_cache_ttl 0; off drops what
 * was kept. The SMTP server holds from the RCPT check to the recording
 * of the recipient, so one RCPT is resolved with one set of lookups and
 * both steps see the same answer. Nothing for Berkeley DB (local). */
void userdb_hold(struct userdb *db, bool on);
/* Convert the old environment layout in conf->state_dir/db (see
 * userdb.c), as dmaild does at start-up: 1 converted, 0 nothing to do,
 * -1 failure (err). Run it as the user that owns the files. */
int userdb_upgrade(const struct dmail_conf *conf, struct buf *err);
/* dmaild at start-up (root): userdb_upgrade() in a child process that
 * drops to run_as, only when the old layout is there. 1 converted,
 * 0 nothing to do, -1 failed (logged; lookups still read users.db). */
int userdb_upgrade_at_start(const struct dmail_conf *conf);

int userdb_lookup(struct userdb *db, const char *address,
    struct user_record *out);
/* Is domain a local domain of the directory? 1, 0 (also with bdb or
 * db NULL: those have no domains of their own), -1 (directory failure,
 * logged). */
int userdb_domain_lookup(struct userdb *db, const char *domain);
/* The directory's alias or forward targets of address into out (reset
 * first), "a, b, c" as aliases.h reads them: 1 found, 0 none (always
 * with bdb or db NULL), -1 failure (logged). */
int userdb_alias_lookup(struct userdb *db, const char *address,
    struct buf *out);
/* local_domains of conf, then the directory of db (may be NULL): 1 the
 * domain is local, 0 not, -1 the directory cannot tell now (answer with
 * a temporary error). */
int userdb_local_domain(struct userdb *db, const struct dmail_conf *conf,
    const char *domain);

/* Insert or replace: a new version of the file, or part of the one being
 * built after userdb_begin(). 0 or -1 (err filled; nothing changed). */
int userdb_put(struct userdb *db, const struct user_record *rec,
    struct buf *err);
/* 1 deleted, 0 not there, -1 failure (as userdb_put). */
int userdb_delete(struct userdb *db, const char *address, struct buf *err);
/* Group changes into one new version (an import of many accounts):
 * after userdb_begin(), puts and deletes go into the version being built
 * and lookups on this handle see them; userdb_commit() makes them all
 * current at once (0, or -1 with err and nothing changed);
 * userdb_abort() drops them. Writers only; 0 or -1 (err). */
int userdb_begin(struct userdb *db, struct buf *err);
int userdb_commit(struct userdb *db, struct buf *err);
void userdb_abort(struct userdb *db);
/* Calls fn for every record in address order; stops if fn returns != 0. */
int userdb_foreach(struct userdb *db,
    int (*fn)(const struct user_record *rec, void *arg), void *arg);

/* True when password matches rec->hash (crypt_r, constant-time compare). */
bool userdb_check_password(const struct user_record *rec,
    const char *password);
/* New crypt(3) hash of password with the configured scheme
 * ("yescrypt" or "sha512"); 0 or -1. */
int userdb_hash_password(const char *scheme, const char *password,
    char *out, size_t outlen);
/* Login name -> account address (lower-cased; bare local part gets the
 * first local domain). 0, or -1 if it cannot be an address. */
int userdb_login_address(const struct dmail_conf *conf, const char *login,
    char *out, size_t outlen);
/* Default Maildir of an address: state_dir/mail/DOMAIN/USER. */
void userdb_default_mailbox(const struct dmail_conf *conf,
    const char *address, struct buf *out);

/* Additions by the DPOP helper (the functions above are unchanged). */

/* True when address is "local@domain" made only of characters that are
 * safe in a path (no '/', no leading '.', no ".."), so the default
 * Maildir cannot escape state_dir/mail. */
bool userdb_valid_address(const char *address);
/* Insert or replace n records in one new version (all or none). 0 or -1
 * (err filled). */
int userdb_put_many(struct userdb *db, const struct user_record *recs,
    size_t n, struct buf *err);
/* Record encoding (documented in userdb.c), exported for tests. */
void userdb_encode(const struct user_record *rec, struct buf *out);
int userdb_decode(const void *data, size_t size, struct user_record *rec);

#endif
