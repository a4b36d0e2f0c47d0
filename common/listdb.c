/*
 * listdb.c - members of a mailing list in a transactional Berkeley DB
 * environment per list (see listdb.h).
 */
#include "config.h"

#include <ctype.h>
#include <db.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bdb.h"
#include "listdb.h"
#include "log.h"
#include "util.h"

#define LISTDB_FILE "members.db"
#define LISTDB_LOCK_TIMEOUT 2000000  /* microseconds */
#define LISTDB_CACHE (1u * 1024 * 1024)

struct listdb {
	char *home;
	DB_ENV *env;
	DB *db;
};

static const struct bdb_options listdb_bdb = {
	.name = "listdb",
	.cache_bytes = LISTDB_CACHE,
	.lock_timeout_us = LISTDB_LOCK_TIMEOUT,
	.log_max_bytes = 0,
};

static void
listdb_env_close(struct listdb *db)
{
	bdb_close(&db->env, &db->db);
}

static int
listdb_env_open(struct listdb *db, struct buf *err)
{
	return bdb_open(db->home, LISTDB_FILE, &listdb_bdb, &db->env, &db->db,
	    err);
}

struct listdb *
listdb_open(const struct dmail_conf *conf, const struct list_def *d,
    struct buf *err)
{
	struct listdb *db;
	struct buf home = BUF_INIT;

	if (list_prepare_dir(conf, d, err) < 0)
		return NULL;
	list_state_path(conf, d, NULL, &home);
	db = xcalloc(1, sizeof(*db));
	db->home = buf_steal(&home);
	if (listdb_env_open(db, err) < 0) {
		free(db->home);
		free(db);
		return NULL;
	}
	return db;
}

void
listdb_close(struct listdb *db)
{
	if (db == NULL)
		return;
	listdb_env_close(db);
	free(db->home);
	free(db);
}

void
list_member_init(struct list_member *m, const char *address)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->address, sizeof(m->address), "%s", address);
	str_lower(m->address);
	m->since = (int64_t)time(NULL);
}

void
list_member_encode(const struct list_member *m, struct buf *out)
{
	buf_reset(out);
	buf_printf(out, "v1 nomail=%d digest=%d bounce=%u since=%" PRId64
	    " lastbounce=%" PRId64, m->nomail ? 1 : 0, m->digest ? 1 : 0,
	    m->bounce, m->since, m->last_bounce);
}

int
list_member_decode(const char *s, size_t len, struct list_member *m)
{
	char *text = xstrndup(s, len), *save = NULL, *w;
	int r = -1;

	w = strtok_r(text, " ", &save);
	if (w == NULL || strcmp(w, "v1") != 0)
		goto out;
	while ((w = strtok_r(NULL, " ", &save)) != NULL) {
		char *eq = strchr(w, '=');
		long long v;
		char *end;

		if (eq == NULL)
			goto out;
		*eq++ = '\0';
		errno = 0;
		v = strtoll(eq, &end, 10);
		if (errno != 0 || *end != '\0' || end == eq || v < 0)
			goto out;
		if (strcmp(w, "nomail") == 0)
			m->nomail = v != 0;
		else if (strcmp(w, "digest") == 0)
			m->digest = v != 0;
		else if (strcmp(w, "bounce") == 0)
			m->bounce = v > 1000000 ? 1000000 : (unsigned)v;
		else if (strcmp(w, "since") == 0)
			m->since = v;
		else if (strcmp(w, "lastbounce") == 0)
			m->last_bounce = v;
		/* unknown fields: newer writer, ignore */
	}
	r = 0;
out:
	free(text);
	return r;
}

static bool
retryable(int r)
{
	return r == DB_LOCK_DEADLOCK || r == DB_LOCK_NOTGRANTED;
}

static int
key_of(const char *address, char *out, size_t outlen)
{
	size_t n = strlen(address);

	if (n == 0 || n >= outlen)
		return -1;
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)address[i]);
	return 0;
}

int
listdb_get(struct listdb *db, const char *address, struct list_member *out)
{
	char key[LIST_ADDRESS_MAX + 1];
	DBT k, v;
	DB_TXN *txn;
	int r = 0;

	if (key_of(address, key, sizeof(key)) < 0)
		return 0;
	for (int attempt = 0; attempt < 3; attempt++) {
		memset(&k, 0, sizeof(k));
		memset(&v, 0, sizeof(v));
		k.data = key;
		k.size = (u_int32_t)strlen(key);
		v.flags = DB_DBT_MALLOC;
		if ((r = db->env->txn_begin(db->env, NULL, &txn,
		    DB_READ_COMMITTED)) != 0) {
			if (retryable(r))
				continue;
			break;
		}
		r = db->db->get(db->db, txn, &k, &v, 0);
		if (r != 0 && r != DB_NOTFOUND) {
			txn->abort(txn);
			if (retryable(r))
				continue;
			break;
		}
		txn->commit(txn, 0);
		if (r == DB_NOTFOUND)
			return 0;
		memset(out, 0, sizeof(*out));
		snprintf(out->address, sizeof(out->address), "%s", key);
		if (list_member_decode(v.data, v.size, out) < 0) {
			free(v.data);
			log_error("event=listdb-damaged path=%s key=%s",
			    db->home, key);
			return -1;
		}
		free(v.data);
		return 1;
	}
	log_error("event=listdb-failed path=%s key=%s error=\"%s\"",
	    db->home, key, db_strerror(r));
	return -1;
}

/* Write n records (put), or delete the one of del_key, in one
 * transaction with retries. Returns the Berkeley DB code. */
static int
listdb_write(struct listdb *db, const struct list_member *m, size_t n,
    const char *del_key)
{
	struct buf val = BUF_INIT;
	char key[LIST_ADDRESS_MAX + 1];
	DB_TXN *txn;
	DBT k, v;
	int r = 0;

	for (int attempt = 0; attempt < 3; attempt++) {
		if ((r = db->env->txn_begin(db->env, NULL, &txn, 0)) != 0) {
			if (retryable(r))
				continue;
			break;
		}
		if (del_key != NULL) {
			memset(&k, 0, sizeof(k));
			k.data = (void *)del_key;
			k.size = (u_int32_t)strlen(del_key);
			r = db->db->del(db->db, txn, &k, 0);
		}
		for (size_t i = 0; del_key == NULL && i < n; i++) {
			if (key_of(m[i].address, key, sizeof(key)) < 0) {
				r = EINVAL;
				break;
			}
			list_member_encode(&m[i], &val);
			memset(&k, 0, sizeof(k));
			memset(&v, 0, sizeof(v));
			k.data = key;
			k.size = (u_int32_t)strlen(key);
			v.data = val.data;
			v.size = (u_int32_t)val.len;
			if ((r = db->db->put(db->db, txn, &k, &v, 0)) != 0)
				break;
		}
		if (r != 0) {
			txn->abort(txn);
			if (retryable(r))
				continue;
			break;
		}
		r = txn->commit(txn, 0);
		if (r == 0 || !retryable(r))
			break;
	}
	buf_free(&val);
	if (r == 0 && db->env->txn_checkpoint(db->env, 256, 0, 0) != 0)
		log_warn("event=listdb-failed path=%s "
		    "reason=\"checkpoint failed\"", db->home);
	return r;
}

int
listdb_put(struct listdb *db, const struct list_member *m, struct buf *err)
{
	return listdb_put_many(db, m, 1, err);
}

int
listdb_put_many(struct listdb *db, const struct list_member *m, size_t n,
    struct buf *err)
{
	int r;

	for (size_t i = 0; i < n; i++)
		if (!list_valid_address(m[i].address)) {
			buf_printf(err, "invalid address '%s'", m[i].address);
			return -1;
		}
	if ((r = listdb_write(db, m, n, NULL)) != 0) {
		buf_printf(err, "cannot store members in %s: %s", db->home,
		    r == EINVAL ? "bad address" : db_strerror(r));
		return -1;
	}
	return 0;
}

int
listdb_delete(struct listdb *db, const char *address, struct buf *err)
{
	char key[LIST_ADDRESS_MAX + 1];
	int r;

	if (key_of(address, key, sizeof(key)) < 0)
		return 0;
	r = listdb_write(db, NULL, 0, key);
	if (r == DB_NOTFOUND)
		return 0;
	if (r != 0) {
		buf_printf(err, "cannot delete %s from %s: %s", key, db->home,
		    db_strerror(r));
		return -1;
	}
	return 1;
}

int
listdb_each(struct listdb *db, const char *from,
    bool (*fn)(void *arg, const struct list_member *m), void *arg)
{
	char key[LIST_ADDRESS_MAX + 1];
	u_int32_t op = DB_NEXT;
	DBC *cur;
	DBT k, v;
	int r;

	if ((r = db->db->cursor(db->db, NULL, &cur, DB_READ_COMMITTED)) != 0) {
		log_error("event=listdb-failed path=%s error=\"cursor: %s\"",
		    db->home, db_strerror(r));
		return -1;
	}
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	if (from != NULL && *from != '\0' &&
	    key_of(from, key, sizeof(key)) == 0) {
		/* DB_SET_RANGE: the smallest key >= from; the DBT must hold
		 * the key on input and receives the one found. */
		k.data = key;
		k.size = (u_int32_t)strlen(key);
		op = DB_SET_RANGE;
	}
	while ((r = cur->get(cur, &k, &v, op)) == 0) {
		struct list_member m;

		op = DB_NEXT;
		memset(&m, 0, sizeof(m));
		if (k.size > LIST_ADDRESS_MAX ||
		    list_member_decode(v.data, v.size, &m) < 0) {
			log_error("event=listdb-damaged path=%s "
			    "reason=\"damaged record skipped\"", db->home);
			continue;
		}
		memcpy(m.address, k.data, k.size);
		m.address[k.size] = '\0';
		if (!fn(arg, &m))
			break;
	}
	cur->close(cur);
	if (r != 0 && r != DB_NOTFOUND) {
		log_error("event=listdb-failed path=%s error=\"listing: %s\"",
		    db->home, db_strerror(r));
		return -1;
	}
	return 0;
}

struct all_arg {
	struct list_member *arr;
	size_t count, cap;
};

static bool
all_add(void *arg, const struct list_member *m)
{
	struct all_arg *a = arg;

	if (a->count == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->arr = xrealloc(a->arr, a->cap * sizeof(*a->arr));
	}
	a->arr[a->count++] = *m;
	return true;
}

int
listdb_all(struct listdb *db, struct list_member **out, size_t *n)
{
	struct all_arg a = { NULL, 0, 0 };

	*out = NULL;
	*n = 0;
	if (listdb_each(db, NULL, all_add, &a) < 0) {
		free(a.arr);
		return -1;
	}
	*out = a.arr;
	*n = a.count;
	return 0;
}

struct page_arg {
	const struct listdb_page *p;
	struct list_member *out;
	size_t n, skipped;
	bool more;
};

static bool
page_add(void *arg, const struct list_member *m)
{
	struct page_arg *a = arg;
	const struct listdb_page *p = a->p;

	if (p->after != NULL && strcasecmp(m->address, p->after) == 0)
		return true;            /* the last one of the page before */
	if (p->q != NULL && *p->q != '\0' && strcasestr(m->address, p->q) ==
	    NULL)
		return true;
	if (a->skipped < p->skip) {
		a->skipped++;
		return true;
	}
	if (a->n == p->max) {
		a->more = true;         /* one past the page: stop */
		return false;
	}
	a->out[a->n++] = *m;
	return true;
}

long
listdb_page(struct listdb *db, const struct listdb_page *p,
    struct list_member *out, bool *more)
{
	struct page_arg a = { p, out, 0, 0, false };

	*more = false;
	if (listdb_each(db, p->after, page_add, &a) < 0)
		return -1;
	*more = a.more;
	return (long)a.n;
}

const char *
list_member_mode(const struct list_member *m)
{
	return m->nomail ? "nomail" : m->digest ? "digest" : "mail";
}

int
list_member_set_mode(struct list_member *m, const char *mode)
{
	if (strcasecmp(mode, "digest") == 0) {
		m->digest = true;
		m->nomail = false;
	} else if (strcasecmp(mode, "nomail") == 0) {
		m->nomail = true;
	} else if (strcasecmp(mode, "mail") == 0) {
		m->nomail = false;
		m->digest = false;
		m->bounce = 0;
	} else
		return -1;
	return 0;
}

int
list_import_line(const char *line, size_t len,
    char addr[LIST_ADDRESS_MAX + 1])
{
	char buf[LIST_ADDRESS_MAX + 1], *t, *lt, *gt;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
	    line[len - 1] == '\t'))
		len--;
	if (len > LIST_ADDRESS_MAX || memchr(line, '\0', len) != NULL)
		return -1;
	memcpy(buf, line, len);
	buf[len] = '\0';
	t = str_trim(buf);
	if (*t == '\0' || *t == '#')
		return 0;
	/* "Name <addr>" or a bare address */
	if ((lt = strchr(t, '<')) != NULL && (gt = strchr(lt, '>')) != NULL) {
		*gt = '\0';
		t = lt + 1;
	}
	snprintf(addr, LIST_ADDRESS_MAX + 1, "%s", t);
	str_lower(addr);
	return list_valid_address(addr) ? 1 : -1;
}

static int
member_cmp(const void *a, const void *b)
{
	return strcmp(((const struct list_member *)a)->address,
	    ((const struct list_member *)b)->address);
}

/* Sort ms and drop addresses given twice; the new count. */
static size_t
members_unique(struct list_member *ms, size_t n)
{
	size_t o = 0;

	qsort(ms, n, sizeof(*ms), member_cmp);
	for (size_t i = 0; i < n; i++)
		if (o == 0 || strcmp(ms[o - 1].address, ms[i].address) != 0)
			ms[o++] = ms[i];
	return o;
}

int
listdb_import(struct listdb *db, const char *text, size_t len,
    struct listdb_import *res, struct buf *err)
{
	struct list_member *ms = NULL, old;
	char addr[LIST_ADDRESS_MAX + 1];
	size_t n = 0, cap = 0, uniq;
	const char *s = text, *end = text + len;
	int r = 0;

	res->added = res->already = res->invalid = 0;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t ll = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);
		int c = list_import_line(s, ll, addr);

		if (c < 0) {
			res->invalid++;
			if (res->bad != NULL) {
				char *bad = xstrndup(s, ll < 400 ? ll : 400);
				res->bad(res->arg, str_trim(bad));
				free(bad);
			}
		} else if (c > 0 && listdb_get(db, addr, &old) == 1) {
			res->already++;
		} else if (c > 0) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				ms = xrealloc(ms, cap * sizeof(*ms));
			}
			list_member_init(&ms[n++], addr);
		}
		s += ll + (nl != NULL);
	}
	uniq = n > 0 ? members_unique(ms, n) : 0;
	res->already += n - uniq;
	if (uniq > 0 && listdb_put_many(db, ms, uniq, err) < 0)
		r = -1;
	else
		res->added = uniq;
	free(ms);
	return r;
}

int
listdb_members(const struct dmail_conf *conf, const struct list_def *d,
    struct list_member **out, size_t *n)
{
	struct buf err = BUF_INIT;
	struct listdb *db;
	int r;

	*out = NULL;
	*n = 0;
	if ((db = listdb_open(conf, d, &err)) == NULL) {
		log_error("event=listdb-failed list=%s reason=\"%s\"", d->address,
		    err.data);
		buf_free(&err);
		return -1;
	}
	r = listdb_all(db, out, n);
	listdb_close(db);
	return r;
}
