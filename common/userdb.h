/*
 * userdb.h - the account database shared by DSMTP and DPOP (Berkeley DB,
 * transactional environment under state_dir/db/).
 *
 * Readers (SMTP and POP3 workers) and writers (dmail-user) work at the
 * same time; every read and write is a transaction, so no reader sees a
 * torn record, and opening the environment runs recovery so a writer
 * killed mid-transaction leaves the database consistent.
 *
 * Addresses are stored lower-case, "user@domain". Login names may omit
 * the domain; userdb_login_address() fills in the first local domain.
 *
 * Return values: lookups give 1 (found), 0 (no such account) or -1
 * (database failure: the caller answers with a temporary error).
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

/* Open (creating if needed) the database under conf->state_dir/db. */
struct userdb *userdb_open(const struct dmail_conf *conf,
    enum userdb_mode mode, struct buf *err);
void userdb_close(struct userdb *db);
/* Leave the shared environment until the next lookup. A reader handle
 * joins the environment only when it first needs it, and a worker calls
 * this at the end of each session, so idle workers (thousands of them on
 * a big server) hold no Berkeley DB resources: the environment's process
 * registry and lock tables stay as small as the number of busy ones. */
void userdb_release(struct userdb *db);

int userdb_lookup(struct userdb *db, const char *address,
    struct user_record *out);
/* Insert or replace. 0 or -1 (err filled). */
int userdb_put(struct userdb *db, const struct user_record *rec,
    struct buf *err);
/* 1 deleted, 0 not there, -1 failure. */
int userdb_delete(struct userdb *db, const char *address, struct buf *err);
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
/* Insert or replace n records in one transaction (all or none); for
 * imports. 0 or -1 (err filled). */
int userdb_put_many(struct userdb *db, const struct user_record *recs,
    size_t n, struct buf *err);
/* Record encoding (documented in userdb.c), exported for tests. */
void userdb_encode(const struct user_record *rec, struct buf *out);
int userdb_decode(const void *data, size_t size, struct user_record *rec);

#endif
