/*
 * userdb_dir.c - the directory backends behind userdb.h (see
 * userdb_dir.h): picks the backend named by userdb_backend, keeps the
 * worker's cache of recent answers in front of it, and holds the small
 * helpers the backends share (bounded waits, number and flag fields).
 * Accounts, local domains and aliases share the cache; an entry holds
 * the kind of lookup with its key.
 *
 * Exports: userdb_dir_open, userdb_dir_close, userdb_dir_lookup,
 * userdb_dir_domain, userdb_dir_alias, userdb_dir_hold, userdb_dir_put_many, userdb_dir_delete, userdb_dir_foreach,
 * userdb_dir_begin, userdb_dir_commit, userdb_dir_abort, userdb_wait_fd,
 * userdb_parse_count, userdb_parse_enabled, userdb_query_off.
 *
 * Nothing here is fatal: failures return -1 (logged by the backend, or
 * err filled).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "userdb_dir.h"
#include "util.h"

/* What a cache entry answers. */
enum cache_kind { CACHE_ACCOUNT, CACHE_DOMAIN, CACHE_ALIAS };

struct cache_entry {
	enum cache_kind kind;
	char key[USERDB_ADDRESS_MAX + 1];
	int64_t expires;           /* now_ms() after which it is stale */
	bool found;
	bool held;                 /* kept only for userdb_dir_hold() */
	struct user_record rec;    /* CACHE_ACCOUNT, when found */
	char *targets;             /* CACHE_ALIAS, when found */
};

struct userdb_dir {
	const struct dmail_conf *conf;
	const struct userdb_backend *be;
	void *h;
	enum userdb_mode mode;
	bool hold;                 /* userdb_dir_hold() */
	struct cache_entry *cache[USERDB_CACHE_SLOTS]; /* NULL: empty slot */
};

/* The backend this build has for id, or NULL. */
static const struct userdb_backend *
backend_for(enum userdb_backend_id id)
{
	switch (id) {
#ifdef HAVE_LIBPQ
	case USERDB_PGSQL:
		return &userdb_pgsql_backend;
#endif
#ifdef HAVE_LIBLDAP
	case USERDB_LDAP:
		return &userdb_ldap_backend;
#endif
	default:
		return NULL;
	}
}

struct userdb_dir *
userdb_dir_open(const struct dmail_conf *conf, enum userdb_mode mode,
    struct buf *err)
{
	const struct userdb_backend *be = backend_for(conf->userdb_backend);
	struct userdb_dir *d;

	if (be == NULL) {
		buf_printf(err, "userdb_backend: this build has no such "
		    "backend (see configure's output)");
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->conf = conf;
	d->be = be;
	d->mode = mode;
	if ((d->h = be->open(conf, err)) == NULL) {
		free(d);
		return NULL;
	}
	return d;
}

static void
cache_clear(struct userdb_dir *d)
{
	for (size_t i = 0; i < USERDB_CACHE_SLOTS; i++) {
		if (d->cache[i] != NULL) {
			free(d->cache[i]->targets);
			explicit_bzero(d->cache[i], sizeof(*d->cache[i]));
		}
		free(d->cache[i]);
		d->cache[i] = NULL;
	}
}

void
userdb_dir_close(struct userdb_dir *d)
{
	if (d == NULL)
		return;
	cache_clear(d);
	d->be->close(d->h);
	free(d);
}

/* --- cache ---------------------------------------------------------- */

/* The slot of (kind, key). */
static struct cache_entry **
cache_slot(struct userdb_dir *d, enum cache_kind kind, const char *key)
{
	return &d->cache[(fnv1a64(key) + (uint64_t)kind) % USERDB_CACHE_SLOTS];
}

/* The fresh entry for (kind, key), or NULL. */
static const struct cache_entry *
cache_get(struct userdb_dir *d, enum cache_kind kind, const char *key)
{
	struct cache_entry *e = *cache_slot(d, kind, key);

	if (e == NULL || e->kind != kind || strcmp(e->key, key) != 0 ||
	    now_ms() >= e->expires || (e->held && !d->hold))
		return NULL;
	return e;
}

/* Keep the answer found (1 or 0) for (kind, key): rec for an account,
 * targets for an alias (either may be NULL otherwise). */
static void
cache_put(struct userdb_dir *d, enum cache_kind kind, const char *key,
    int found, const struct user_record *rec, const char *targets)
{
	unsigned ttl = found ? d->conf->userdb_cache_ttl :
	    d->conf->userdb_cache_negative_ttl;
	struct cache_entry **slot = cache_slot(d, kind, key);

	if ((ttl == 0 && !d->hold) || d->mode != USERDB_READ ||
	    strlen(key) >= sizeof((*slot)->key))
		return;
	if (*slot == NULL)
		*slot = xcalloc(1, sizeof(**slot));
	/* Held: served only until the hold ends (and at most a minute). */
	(*slot)->held = ttl == 0;
	if (ttl == 0)
		ttl = 60;
	free((*slot)->targets);
	(*slot)->targets = NULL;
	(*slot)->kind = kind;
	snprintf((*slot)->key, sizeof((*slot)->key), "%s", key);
	(*slot)->expires = now_ms() + (int64_t)ttl * 1000;
	(*slot)->found = found == 1;
	if (found == 1 && rec != NULL)
		(*slot)->rec = *rec;
	if (found == 1 && targets != NULL)
		(*slot)->targets = xstrdup(targets);
}

void
userdb_dir_hold(struct userdb_dir *d, bool on)
{
	if (d == NULL)
		return;
	if (!on)
		for (size_t i = 0; i < USERDB_CACHE_SLOTS; i++)
			if (d->cache[i] != NULL && d->cache[i]->held)
				d->cache[i]->expires = 0;
	d->hold = on;
}

/* --- operations ----------------------------------------------------- */

int
userdb_dir_lookup(struct userdb_dir *d, const char *key,
    struct user_record *out)
{
	const struct cache_entry *e = cache_get(d, CACHE_ACCOUNT, key);
	struct buf mb = BUF_INIT;
	int r;

	if (e != NULL) {
		if (e->found)
			*out = e->rec;
		return e->found ? 1 : 0;
	}
	memset(out, 0, sizeof(*out));
	if ((r = d->be->lookup(d->h, key, out)) < 0)
		return -1;
	if (r == 1) {
		if (out->address[0] == '\0')
			snprintf(out->address, sizeof(out->address), "%s",
			    key);
		str_lower(out->address);
		if (out->mailbox[0] == '\0') {
			userdb_default_mailbox(d->conf, out->address, &mb);
			snprintf(out->mailbox, sizeof(out->mailbox), "%s",
			    mb.data);
			buf_free(&mb);
		}
	}
	cache_put(d, CACHE_ACCOUNT, key, r, out, NULL);
	return r;
}

int
userdb_dir_domain(struct userdb_dir *d, const char *domain)
{
	const struct cache_entry *e = cache_get(d, CACHE_DOMAIN, domain);
	int r;

	if (e != NULL)
		return e->found ? 1 : 0;
	if ((r = d->be->domain(d->h, domain)) < 0)
		return -1;
	cache_put(d, CACHE_DOMAIN, domain, r, NULL, NULL);
	return r;
}

int
userdb_dir_alias(struct userdb_dir *d, const char *key, struct buf *out)
{
	const struct cache_entry *e = cache_get(d, CACHE_ALIAS, key);
	int r;

	buf_reset(out);
	if (e != NULL) {
		if (e->found)
			buf_set(out, e->targets);
		return e->found ? 1 : 0;
	}
	if ((r = d->be->alias(d->h, key, out)) < 0) {
		buf_reset(out);
		return -1;
	}
	if (r == 1 && out->len == 0)
		r = 0;          /* entries without a target: no alias */
	cache_put(d, CACHE_ALIAS, key, r, NULL, out->data);
	return r;
}

int
userdb_dir_put_many(struct userdb_dir *d, const struct user_record *recs,
    size_t n, struct buf *err)
{
	bool own = false;

	if (n > 1 && d->be->begin != NULL) {
		if (d->be->begin(d->h, err) < 0)
			return -1;
		own = true;
	}
	for (size_t i = 0; i < n; i++)
		if (d->be->put(d->h, &recs[i], err) < 0) {
			if (own)
				d->be->abort(d->h);
			return -1;
		}
	return own ? d->be->commit(d->h, err) : 0;
}

int
userdb_dir_delete(struct userdb_dir *d, const char *key, struct buf *err)
{
	return d->be->del(d->h, key, err);
}

int
userdb_dir_foreach(struct userdb_dir *d, userdb_each_fn *fn, void *arg)
{
	return d->be->foreach(d->h, fn, arg);
}

int
userdb_dir_begin(struct userdb_dir *d, struct buf *err)
{
	return d->be->begin != NULL ? d->be->begin(d->h, err) : 0;
}

int
userdb_dir_commit(struct userdb_dir *d, struct buf *err)
{
	return d->be->commit != NULL ? d->be->commit(d->h, err) : 0;
}

void
userdb_dir_abort(struct userdb_dir *d)
{
	if (d->be->abort != NULL)
		d->be->abort(d->h);
}

/* --- helpers for the backends --------------------------------------- */

int
userdb_wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t left;
	int r;

	for (;;) {
		if ((left = deadline - now_ms()) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

int
userdb_parse_count(const char *s, uint64_t *out)
{
	char *end;

	*out = 0;
	if (s == NULL || *s == '\0')
		return 0;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

bool
userdb_query_off(const char *q)
{
	return q == NULL || *q == '\0' || strcmp(q, "none") == 0;
}

bool
userdb_parse_enabled(const char *s)
{
	static const char *const off[] = { "f", "false", "0", "no",
		"disabled", "inactive", "deleted", "off" };

	if (s == NULL)
		return true;
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
		if (strcasecmp(s, off[i]) == 0)
			return false;
	return true;
}
