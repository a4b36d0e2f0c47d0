/*
 * userdb.c - the account database (see userdb.h): Berkeley DB 5.3,
 * transactional environment in state_dir/db, one B-tree "users.db".
 *
 * Environment and recovery. Every process that opens the environment,
 * reader or writer, uses DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
 * DB_INIT_LOG | DB_INIT_MPOOL | DB_REGISTER | DB_RECOVER. With DB_REGISTER
 * Berkeley DB keeps a registry of the processes using the environment; at
 * open it checks whether one of them died without closing (kill -9 of
 * dmail-user in the middle of a transaction, a crashed worker) and only
 * then runs normal recovery, which rolls back the unfinished transaction.
 * When no recovery is needed DB_RECOVER is ignored, so many readers can
 * open at once. Recovery by one process panics the environment for the
 * others that still have it open: their next call returns DB_RUNRECOVERY
 * and this module closes and reopens the environment (once) and retries.
 * Transactions never wait for locks (DB_TXN_NOWAIT, see
 * userdb_should_retry): a busy lock is retried for a second, then the
 * handle is reopened, which recovers if the lock belonged to a dead
 * writer; after that the operation fails (-1, the caller answers with a
 * temporary error). Log files are removed automatically
 * (DB_LOG_AUTO_REMOVE) and writers checkpoint after each change.
 *
 * Keys: the lower-case address "user@domain", without a NUL.
 *
 * Record encoding, version 1 (all integers big-endian):
 *   offset 0   u8    version (1)
 *          1   u8    flags: bit 0 = enabled
 *          2   u64   quota_bytes (0 = unlimited)
 *         10   u64   quota_messages (0 = unlimited)
 *         18   u16 length + bytes   password hash (crypt(3) format)
 *              u16 length + bytes   APOP secret ("" = none)
 *              u16 length + bytes   mailbox path (absolute)
 * A record whose version is unknown, or whose lengths do not add up to
 * the record size, is refused (lookup returns -1 and logs it): a newer
 * encoding must get a new version number and a decoder here.
 *
 * Passwords: crypt_r() from libxcrypt, new hashes "$y$" (yescrypt) or
 * "$6$" (SHA-512-crypt) with crypt_gensalt_rn() and the library's own
 * entropy; any hash libcrypt can verify is accepted, compared in
 * constant time. A hash that is empty or starts with '!' or '*' never
 * matches (locked account, as in /etc/shadow).
 */
#include "config.h"

#include <crypt.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <db.h>

#include "bdb.h"
#include "buf.h"
#include "log.h"
#include "userdb.h"
#include "util.h"

#define USERDB_FILE "users.db"
#define USERDB_VERSION 1
#define USERDB_HDR 18
#define USERDB_BUSY_MS 1000
#define USERDB_CACHE (8u * 1024 * 1024)

struct userdb {
	char *home;
	enum userdb_mode mode;
	DB_ENV *env;
	DB *db;
};

static const struct bdb_options userdb_bdb = {
	.name = "userdb",
	.cache_bytes = USERDB_CACHE,
	.lock_timeout_us = 0,          /* transactions use DB_TXN_NOWAIT */
	.log_max_bytes = 1024 * 1024,
};

/* Open the environment and the B-tree in db->home. */
static int
userdb_env_open(struct userdb *db, struct buf *err)
{
	return bdb_open(db->home, USERDB_FILE, &userdb_bdb, &db->env, &db->db,
	    err);
}

static void
userdb_env_close(struct userdb *db)
{
	bdb_close(&db->env, &db->db);
}

/* After DB_RUNRECOVERY (another process recovered the environment), or a
 * lock timeout: reopen, which recovers if still needed. */
static int
userdb_reopen(struct userdb *db)
{
	struct buf err = BUF_INIT;
	int r;

	userdb_env_close(db);
	r = userdb_env_open(db, &err);
	if (r < 0)
		log_error("userdb: reopen failed: %s", buf_cstr(&err));
	else
		log_info("userdb: environment %s reopened", db->home);
	buf_free(&err);
	return r;
}

struct userdb *
userdb_open(const struct dmail_conf *conf, enum userdb_mode mode,
    struct buf *err)
{
	struct userdb *db;
	struct buf home = BUF_INIT;

	conf_state_path(conf, "db", &home);
	if (mkdir_p(home.data, 0700) < 0) {
		buf_printf(err, "cannot create %s: %s", home.data,
		    strerror(errno));
		buf_free(&home);
		return NULL;
	}
	db = xcalloc(1, sizeof(*db));
	db->home = buf_steal(&home);
	db->mode = mode;
	/* Readers join the environment at their first lookup (see
	 * userdb_release()); writers want errors now. */
	if (mode == USERDB_WRITE && userdb_env_open(db, err) < 0) {
		free(db->home);
		free(db);
		return NULL;
	}
	return db;
}

/* Join the environment if this handle is not in it (lazy open or after
 * userdb_release()); 0 or -1 (logged). */
static int
userdb_ensure_open(struct userdb *db)
{
	struct buf err = BUF_INIT;
	int r;

	if (db->db != NULL)
		return 0;
	r = userdb_env_open(db, &err);
	if (r < 0)
		log_error("userdb: %s", buf_cstr(&err));
	buf_free(&err);
	return r;
}

void
userdb_release(struct userdb *db)
{
	if (db != NULL)
		userdb_env_close(db);
}

void
userdb_close(struct userdb *db)
{
	if (db == NULL)
		return;
	userdb_env_close(db);
	free(db->home);
	free(db);
}

/* --- record encoding ---------------------------------------------------- */

static void
put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = v & 0xff;
		v >>= 8;
	}
}

static uint64_t
get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void
put_str(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	unsigned char len[2] = { (n >> 8) & 0xff, n & 0xff };

	buf_append(b, len, 2);
	buf_append(b, s, n);
}

/* Copy a length-prefixed string at *pos into out (size outlen). */
static int
get_str(const unsigned char *p, size_t size, size_t *pos, char *out,
    size_t outlen)
{
	size_t n;

	if (*pos + 2 > size)
		return -1;
	n = ((size_t)p[*pos] << 8) | p[*pos + 1];
	*pos += 2;
	if (*pos + n > size || n >= outlen || memchr(p + *pos, 0, n) != NULL)
		return -1;
	memcpy(out, p + *pos, n);
	out[n] = '\0';
	*pos += n;
	return 0;
}

/* Encode rec as version 1 into out. */
void
userdb_encode(const struct user_record *rec, struct buf *out)
{
	unsigned char hdr[USERDB_HDR];

	hdr[0] = USERDB_VERSION;
	hdr[1] = rec->enabled ? 1 : 0;
	put_u64(hdr + 2, rec->quota_bytes);
	put_u64(hdr + 10, rec->quota_messages);
	buf_reset(out);
	buf_append(out, hdr, sizeof(hdr));
	put_str(out, rec->hash);
	put_str(out, rec->apop_secret);
	put_str(out, rec->mailbox);
}

/* 0, or -1 when the bytes are not a record this version understands. */
int
userdb_decode(const void *data, size_t size, struct user_record *rec)
{
	const unsigned char *p = data;
	size_t pos = USERDB_HDR;

	if (size < USERDB_HDR || p[0] != USERDB_VERSION)
		return -1;
	rec->enabled = (p[1] & 1) != 0;
	rec->quota_bytes = get_u64(p + 2);
	rec->quota_messages = get_u64(p + 10);
	if (get_str(p, size, &pos, rec->hash, sizeof(rec->hash)) < 0 ||
	    get_str(p, size, &pos, rec->apop_secret,
	    sizeof(rec->apop_secret)) < 0 ||
	    get_str(p, size, &pos, rec->mailbox, sizeof(rec->mailbox)) < 0 ||
	    pos != size)
		return -1;
	return 0;
}

/* --- operations --------------------------------------------------------- */

/* Lower-case copy of an address for use as a key; -1 if too long/empty. */
static int
userdb_key(const char *address, char *out, size_t outlen)
{
	size_t n = strlen(address);

	if (n == 0 || n >= outlen || n > USERDB_ADDRESS_MAX)
		return -1;
	for (size_t i = 0; i <= n; i++)
		out[i] = tolower((unsigned char)address[i]);
	return 0;
}

/*
 * Retry policy after a failed attempt with Berkeley DB code r. Every
 * transaction is DB_TXN_NOWAIT: Berkeley DB only checks lock timeouts when
 * its deadlock detector runs, so a waiter behind a lock of a writer that
 * was killed would sleep forever. Instead a busy lock fails at once and is
 * retried every millisecond for USERDB_BUSY_MS; if it stays busy, or the
 * environment needs recovery (DB_RUNRECOVERY), the handle is reopened
 * once, which recovers when the holder is dead (DB_REGISTER), and the
 * whole thing starts again. Returns true to retry.
 */
struct userdb_retry {
	int64_t start;
	bool reopened;
};

static bool
userdb_should_retry(struct userdb *db, struct userdb_retry *t, int r)
{
	bool busy = r == DB_LOCK_NOTGRANTED || r == DB_LOCK_DEADLOCK;

	if (t->start == 0)
		t->start = now_ms();
	if (busy && now_ms() - t->start < USERDB_BUSY_MS) {
		usleep(1000);
		return true;
	}
	if ((busy || r == DB_RUNRECOVERY) && !t->reopened) {
		t->reopened = true;
		t->start = now_ms();
		return userdb_reopen(db) == 0;
	}
	return false;
}

/* One lookup transaction: 0 (found, *v malloc'd), DB_NOTFOUND, or an
 * error code. */
static int
userdb_get_once(struct userdb *db, const char *key, DBT *v)
{
	DB_TXN *txn;
	DBT k;
	int r, c;

	if (db->db == NULL)
		return DB_RUNRECOVERY;
	memset(&k, 0, sizeof(k));
	memset(v, 0, sizeof(*v));
	k.data = (void *)key;
	k.size = strlen(key);
	v->flags = DB_DBT_MALLOC;
	r = db->env->txn_begin(db->env, NULL, &txn,
	    DB_READ_COMMITTED | DB_TXN_NOWAIT);
	if (r != 0)
		return r;
	r = db->db->get(db->db, txn, &k, v, 0);
	if (r != 0 && r != DB_NOTFOUND) {
		txn->abort(txn);
		return r;
	}
	if ((c = txn->commit(txn, 0)) != 0) {
		if (r == 0)
			free(v->data);
		return c;
	}
	return r;
}

int
userdb_lookup(struct userdb *db, const char *address, struct user_record *out)
{
	char key[USERDB_ADDRESS_MAX + 1];
	struct userdb_retry t = { 0, false };
	DBT v;
	int r;

	if (userdb_key(address, key, sizeof(key)) < 0)
		return 0;
	if (userdb_ensure_open(db) < 0)
		return -1;
	while ((r = userdb_get_once(db, key, &v)) != 0 && r != DB_NOTFOUND)
		if (!userdb_should_retry(db, &t, r)) {
			log_error("userdb: lookup of %s failed: %s", key,
			    db_strerror(r));
			return -1;
		}
	if (r == DB_NOTFOUND)
		return 0;
	memset(out, 0, sizeof(*out));
	snprintf(out->address, sizeof(out->address), "%s", key);
	if (userdb_decode(v.data, v.size, out) < 0) {
		free(v.data);
		log_error("userdb: record of %s is damaged or of an unknown "
		    "version", key);
		return -1;
	}
	free(v.data);
	return 1;
}

/* Checkpoint so that logs can be removed; errors only logged. */
static void
userdb_checkpoint(struct userdb *db)
{
	int r = db->env->txn_checkpoint(db->env, 256, 0, 0);

	if (r != 0)
		log_warn("userdb: checkpoint: %s", db_strerror(r));
}

/* One write transaction (put when rec != NULL, else delete) of the
 * encoded value val. Returns the Berkeley DB code. */
static int
userdb_write_once(struct userdb *db, const char *key, const struct buf *val,
    bool put)
{
	DB_TXN *txn;
	DBT k, v;
	int r;

	if (db->db == NULL)
		return DB_RUNRECOVERY;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)key;
	k.size = strlen(key);
	v.data = val->data;
	v.size = val->len;
	if ((r = db->env->txn_begin(db->env, NULL, &txn, DB_TXN_NOWAIT)) != 0)
		return r;
	r = put ? db->db->put(db->db, txn, &k, &v, 0) :
	    db->db->del(db->db, txn, &k, 0);
	if (r != 0) {
		txn->abort(txn);
		return r;
	}
	return txn->commit(txn, 0);
}

static int
userdb_write(struct userdb *db, const char *key, const struct user_record *rec)
{
	struct userdb_retry t = { 0, false };
	struct buf val = BUF_INIT;
	int r;

	if (rec != NULL)
		userdb_encode(rec, &val);
	while ((r = userdb_write_once(db, key, &val, rec != NULL)) != 0 &&
	    r != DB_NOTFOUND)
		if (!userdb_should_retry(db, &t, r))
			break;
	buf_free(&val);
	if (r == 0)
		userdb_checkpoint(db);
	return r;
}

int
userdb_put(struct userdb *db, const struct user_record *rec, struct buf *err)
{
	char key[USERDB_ADDRESS_MAX + 1];
	int r;

	if (db->mode != USERDB_WRITE) {
		buf_printf(err, "database opened read-only");
		return -1;
	}
	if (userdb_key(rec->address, key, sizeof(key)) < 0 ||
	    strchr(key, '@') == NULL) {
		buf_printf(err, "invalid address '%s'", rec->address);
		return -1;
	}
	if ((r = userdb_write(db, key, rec)) != 0) {
		buf_printf(err, "cannot store %s: %s", key, db_strerror(r));
		return -1;
	}
	return 0;
}

int
userdb_delete(struct userdb *db, const char *address, struct buf *err)
{
	char key[USERDB_ADDRESS_MAX + 1];
	int r;

	if (db->mode != USERDB_WRITE) {
		buf_printf(err, "database opened read-only");
		return -1;
	}
	if (userdb_key(address, key, sizeof(key)) < 0)
		return 0;
	r = userdb_write(db, key, NULL);
	if (r == DB_NOTFOUND)
		return 0;
	if (r != 0) {
		buf_printf(err, "cannot delete %s: %s", key, db_strerror(r));
		return -1;
	}
	return 1;
}

int
userdb_foreach(struct userdb *db,
    int (*fn)(const struct user_record *rec, void *arg), void *arg)
{
	struct user_record *rec;
	DB_TXN *txn;
	DBC *cur;
	DBT k, v;
	int r, stop = 0;

	if (db->db == NULL && userdb_reopen(db) < 0)
		return -1;
	/* Read-committed: a long listing does not keep read locks that
	 * would block writers; each record read is still whole. */
	r = db->env->txn_begin(db->env, NULL, &txn,
	    DB_READ_COMMITTED | DB_TXN_NOWAIT);
	if (r == 0 && (r = db->db->cursor(db->db, txn, &cur, 0)) != 0)
		txn->abort(txn);
	if (r != 0) {
		log_error("userdb: cursor: %s", db_strerror(r));
		return -1;
	}
	rec = xmalloc(sizeof(*rec));
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	for (int busy = 0;;) {
		r = cur->get(cur, &k, &v, DB_NEXT);
		/* A writer holds the page: wait a little (bounded). */
		if (r == DB_LOCK_NOTGRANTED && ++busy < USERDB_BUSY_MS) {
			usleep(1000);
			continue;
		}
		if (r != 0)
			break;
		busy = 0;
		memset(rec, 0, sizeof(*rec));
		if (k.size > USERDB_ADDRESS_MAX ||
		    userdb_decode(v.data, v.size, rec) < 0) {
			log_error("userdb: damaged record skipped (%.*s)",
			    (int)(k.size > 64 ? 64 : k.size),
			    (const char *)k.data);
			continue;
		}
		memcpy(rec->address, k.data, k.size);
		rec->address[k.size] = '\0';
		if ((stop = fn(rec, arg)) != 0)
			break;
	}
	cur->close(cur);
	if (stop == 0 && r != DB_NOTFOUND)
		txn->abort(txn);
	else
		txn->commit(txn, 0);
	free(rec);
	if (stop == 0 && r != DB_NOTFOUND) {
		log_error("userdb: listing failed: %s", db_strerror(r));
		return -1;
	}
	return 0;
}

/* One transaction storing n records; Berkeley DB code, *bad set to the
 * index of an invalid address (then EINVAL). */
static int
userdb_put_many_once(struct userdb *db, const struct user_record *recs,
    size_t n, size_t *bad)
{
	char key[USERDB_ADDRESS_MAX + 1];
	struct buf val = BUF_INIT;
	DB_TXN *txn;
	DBT k, v;
	int r;

	if (db->db == NULL)
		return DB_RUNRECOVERY;
	if ((r = db->env->txn_begin(db->env, NULL, &txn, DB_TXN_NOWAIT)) != 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (userdb_key(recs[i].address, key, sizeof(key)) < 0 ||
		    strchr(key, '@') == NULL) {
			*bad = i;
			r = EINVAL;
			break;
		}
		userdb_encode(&recs[i], &val);
		memset(&k, 0, sizeof(k));
		memset(&v, 0, sizeof(v));
		k.data = key;
		k.size = strlen(key);
		v.data = val.data;
		v.size = val.len;
		if ((r = db->db->put(db->db, txn, &k, &v, 0)) != 0)
			break;
	}
	buf_free(&val);
	if (r != 0) {
		txn->abort(txn);
		return r;
	}
	return txn->commit(txn, 0);
}

/* Insert or replace n records in one transaction: all or none. */
int
userdb_put_many(struct userdb *db, const struct user_record *recs, size_t n,
    struct buf *err)
{
	struct userdb_retry t = { 0, false };
	size_t bad = 0;
	int r;

	if (db->mode != USERDB_WRITE) {
		buf_printf(err, "database opened read-only");
		return -1;
	}
	while ((r = userdb_put_many_once(db, recs, n, &bad)) != 0 &&
	    r != EINVAL)
		if (!userdb_should_retry(db, &t, r))
			break;
	if (r == EINVAL) {
		buf_printf(err, "invalid address '%s'", recs[bad].address);
		return -1;
	}
	if (r != 0) {
		buf_printf(err, "cannot store %zu records: %s", n,
		    db_strerror(r));
		return -1;
	}
	userdb_checkpoint(db);
	return 0;
}

/* --- passwords ---------------------------------------------------------- */

bool
userdb_check_password(const struct user_record *rec, const char *password)
{
	struct crypt_data *cd;
	const char *h;
	size_t n, m;
	unsigned char diff = 0;
	bool ok;

	if (rec->hash[0] == '\0' || rec->hash[0] == '!' || rec->hash[0] == '*')
		return false;
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_r(password, rec->hash, cd);
	if (h == NULL || h[0] == '*') {
		free(cd);
		return false;
	}
	n = strlen(h);
	m = strlen(rec->hash);
	/* Constant time in the length of the stored hash. */
	for (size_t i = 0; i < m; i++)
		diff |= (unsigned char)rec->hash[i] ^
		    (unsigned char)(i < n ? h[i] : 0);
	ok = diff == 0 && n == m;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

int
userdb_hash_password(const char *scheme, const char *password, char *out,
    size_t outlen)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *prefix, *h;
	int r = -1;

	if (scheme == NULL || strcmp(scheme, "yescrypt") == 0)
		prefix = "$y$";
	else if (strcmp(scheme, "sha512") == 0)
		prefix = "$6$";
	else
		return -1;
	if (crypt_gensalt_rn(prefix, 0, NULL, 0, setting, sizeof(setting)) ==
	    NULL)
		return -1;
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_r(password, setting, cd);
	if (h != NULL && h[0] != '*' && strlen(h) < outlen) {
		memcpy(out, h, strlen(h) + 1);
		r = 0;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return r;
}

/* --- names -------------------------------------------------------------- */

bool
userdb_valid_address(const char *address)
{
	const char *at = strrchr(address, '@');
	size_t n = strlen(address);

	if (at == NULL || at == address || at[1] == '\0' ||
	    n > USERDB_ADDRESS_MAX || address[0] == '.' || at[-1] == '.' ||
	    at[1] == '.' || at[1] == '-' || address[n - 1] == '.' ||
	    strstr(address, "..") != NULL)
		return false;
	for (const char *p = address; p < at; p++)
		if (!isalnum((unsigned char)*p) &&
		    strchr("!#$%&'*+-=?^_`{|}~.", *p) == NULL)
			return false;
	for (const char *p = at + 1; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
			return false;
	return true;
}

int
userdb_login_address(const struct dmail_conf *conf, const char *login,
    char *out, size_t outlen)
{
	const char *at;
	int n;

	if (login[0] == '\0')
		return -1;
	for (const char *p = login; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return -1;
	at = strchr(login, '@');
	if (at != NULL) {
		if (at == login || at[1] == '\0' || strchr(at + 1, '@') != NULL)
			return -1;
		n = snprintf(out, outlen, "%s", login);
	} else {
		if (conf->local_domains.count == 0)
			return -1;
		n = snprintf(out, outlen, "%s@%s", login,
		    conf->local_domains.items[0]);
	}
	if (n < 0 || (size_t)n >= outlen || n > USERDB_ADDRESS_MAX)
		return -1;
	str_lower(out);
	return 0;
}

void
userdb_default_mailbox(const struct dmail_conf *conf, const char *address,
    struct buf *out)
{
	char lower[USERDB_ADDRESS_MAX + 1];
	const char *at;

	snprintf(lower, sizeof(lower), "%s", address);
	str_lower(lower);
	at = strchr(lower, '@');
	buf_reset(out);
	if (at == NULL)
		buf_printf(out, "%s/mail/%s", conf->state_dir, lower);
	else
		buf_printf(out, "%s/mail/%s/%.*s", conf->state_dir, at + 1,
		    (int)(at - lower), lower);
}
