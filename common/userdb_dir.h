/*
 * userdb_dir.h - accounts in a directory server instead of the Berkeley
 * DB file (userdb_backend ldap or pgsql): the backend interface that
 * userdb.c calls when the configuration names one, and the worker's
 * lookup cache in front of it. Callers use userdb.h only; this header is
 * for userdb.c and the backends (userdb_pgsql.c, userdb_ldap.c).
 *
 * Connections: a backend handle connects at its first operation (a
 * worker that never looks up an account never connects, and a template
 * process that forks workers holds no connection to share), keeps that
 * one connection for the life of the worker, and drops it after any
 * error or timeout; the next operation connects again. Every network
 * wait is bounded by userdb_timeout; a backend that is down, slow or
 * answers with an error gives -1 ("try again later"), never 0 ("no such
 * account").
 *
 * Local domains and aliases (userdb_dir_domain, userdb_dir_alias): the
 * same backend answers "is this domain ours" (ldap_domain_filter,
 * pgsql_domain_query) and "where does mail for this address go"
 * (ldap_alias_filter + ldap_alias_attribute, pgsql_alias_query), so a
 * domain or alias added in the directory is used by every node without
 * a reload. A query set to "none" turns that lookup off (always 0).
 *
 * Cache (readers only; dmail-user never caches): up to USERDB_CACHE_SLOTS
 * recent answers per worker, direct-mapped by a hash of the kind of
 * lookup (account, domain, alias) and its key. A found account, domain
 * or alias is kept userdb_cache_ttl seconds, a missing one
 * userdb_cache_negative_ttl seconds; 0 turns that half off. Entries are
 * invalidated only by age (and by the worker's exit: a worker lives for
 * *_max_use sessions): a change in the directory, such as a new
 * password, a new account, domain or alias, is seen by every worker at
 * most one TTL later. A failed lookup (-1) is never cached.
 *
 * Return values follow userdb.h: 1 found, 0 no such account, -1 failure
 * (logged once, or err filled for the writers' calls).
 */
#ifndef DMAIL_USERDB_DIR_H
#define DMAIL_USERDB_DIR_H

#include <poll.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "userdb.h"

#define USERDB_CACHE_SLOTS 256

typedef int userdb_each_fn(const struct user_record *rec, void *arg);

/* One kind of directory. Keys are lower-case addresses (domain: a
 * lower-case domain). alias appends the targets of key to out as
 * "a, b, c" (aliases.h's format). begin, commit and abort may be NULL
 * (then every change stands alone). */
struct userdb_backend {
	const char *name;
	void *(*open)(const struct dmail_conf *conf, struct buf *err);
	void (*close)(void *h);
	int (*lookup)(void *h, const char *key, struct user_record *out);
	int (*put)(void *h, const struct user_record *rec, struct buf *err);
	int (*del)(void *h, const char *key, struct buf *err);
	int (*foreach)(void *h, userdb_each_fn *fn, void *arg);
	int (*domain)(void *h, const char *domain);
	int (*alias)(void *h, const char *key, struct buf *out);
	int (*begin)(void *h, struct buf *err);
	int (*commit)(void *h, struct buf *err);
	void (*abort)(void *h);
};

#ifdef HAVE_LIBPQ
extern const struct userdb_backend userdb_pgsql_backend;
#endif
#ifdef HAVE_LIBLDAP
extern const struct userdb_backend userdb_ldap_backend;
#endif

struct userdb_dir;

/* A handle on conf's backend (conf must outlive it); connects nothing.
 * NULL with err when this build lacks the backend. */
struct userdb_dir *userdb_dir_open(const struct dmail_conf *conf,
    enum userdb_mode mode, struct buf *err);
void userdb_dir_close(struct userdb_dir *d);
/* Hold answers (see userdb_hold() in userdb.h): on, answers are kept and
 * served even with a TTL of 0; off, the kept ones are dropped. */
void userdb_dir_hold(struct userdb_dir *d, bool on);
/* As userdb_lookup; fills an empty mailbox with the default Maildir. */
int userdb_dir_lookup(struct userdb_dir *d, const char *key,
    struct user_record *out);
/* Is domain (lower case) a local domain in the directory? 1, 0, -1. */
int userdb_dir_domain(struct userdb_dir *d, const char *domain);
/* The alias targets of key into out (reset first; "a, b, c"): 1 found,
 * 0 none, -1 failure. */
int userdb_dir_alias(struct userdb_dir *d, const char *key, struct buf *out);
int userdb_dir_put_many(struct userdb_dir *d, const struct user_record *recs,
    size_t n, struct buf *err);
int userdb_dir_delete(struct userdb_dir *d, const char *key,
    struct buf *err);
int userdb_dir_foreach(struct userdb_dir *d, userdb_each_fn *fn, void *arg);
int userdb_dir_begin(struct userdb_dir *d, struct buf *err);
int userdb_dir_commit(struct userdb_dir *d, struct buf *err);
void userdb_dir_abort(struct userdb_dir *d);

/* For the backends: wait until fd is ready for events (POLLIN/POLLOUT)
 * or the monotonic deadline (now_ms()) passes. 0 ready, -1 timed out or
 * failed (errno: ETIMEDOUT or poll's). */
int userdb_wait_fd(int fd, short events, int64_t deadline);
/* For the backends: parse an unsigned decimal count ("" and NULL are
 * 0); -1 if it is not one. */
int userdb_parse_count(const char *s, uint64_t *out);
/* For the backends: a true/false column or attribute ("" and NULL are
 * true: an account without the field is enabled). */
bool userdb_parse_enabled(const char *s);
/* For the backends: true when a domain or alias query is "none" (that
 * lookup is turned off). */
bool userdb_query_off(const char *q);

#endif
