/*
 * userdb.c - the account database (see userdb.h): one Berkeley DB 5.3
 * B-tree file, state_dir/db/users.db, read and written without a shared
 * environment, the way Postfix's postmap builds its tables.
 *
 * Readers (SMTP, POP3 and list workers; dmail-user list and show) open
 * users.db alone and read-only (bdb_open_file: private cache, no region
 * files, no locks, no log, no recovery, no mmap). A lookup never writes a
 * byte, so a full disk, a reader killed at any instant or a writer killed
 * at any instant cannot make another process's lookup fail. Before each
 * lookup the reader stat()s the path (25 us measured on a two-core
 * machine at load average 30; a lookup's pread and the password hash
 * cost far more) and, when the inode differs from the one it has open,
 * reopens: the next lookup after a change sees it. userdb_release() closes the file between sessions.
 * A missing users.db is an empty database (no account yet).
 *
 * Writers (dmail-user, the only program that changes accounts) first
 * take an exclusive flock on state_dir/db/users.lock, held until
 * userdb_close(), so writers take turns and a read-modify-write sees the
 * version it changes. A change (userdb_put, userdb_delete, or everything
 * between userdb_begin and userdb_commit, such as a whole import) is made
 * in a copy, users.db.tmp.PID, which is flushed, fsync'd and renamed over
 * users.db, then the directory is fsync'd. A full disk makes the change
 * fail with a clear error and leaves users.db untouched; a writer killed
 * at any instant leaves the old or the new complete file, and the next
 * writer removes its stale users.db.tmp.* files. One change therefore
 * costs a copy of the file (see README, Operating notes, for figures).
 *
 * Upgrade from the environment layout (users.db in a transactional
 * environment with __db.* region files and log.* files, DMail up to
 * this change): the first writer, or dmaild at start-up, finds those
 * files, opens the environment (recovering it if a process died in it),
 * checkpoints, copies every record into a new file, removes the
 * environment files and renames the new file into place; a kill at any
 * point leaves a layout the next writer converts or can read.
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
 *
 * Directory backends: with userdb_backend ldap or pgsql, userdb_open
 * makes a handle whose operations go to common/userdb_dir.c (one call
 * at the top of each function below); everything about the Berkeley DB
 * file then stays unused. Passwords and names work the same for all.
 * Only directories hold local domains and aliases
 * (userdb_domain_lookup, userdb_alias_lookup; Berkeley DB: none, those
 * stay in dmail.conf and the aliases file); userdb_local_domain answers
 * "is this domain ours" from local_domains first, then the directory.
 *
 * Nothing here is fatal: failures return -1 with the reason (err) or
 * logged once.
 */
#include "config.h"

#include <crypt.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <db.h>

#include "bdb.h"
#include "buf.h"
#include "log.h"
#include "sys.h"
#include "userdb.h"
#include "userdb_dir.h"
#include "util.h"

#define USERDB_FILE "users.db"
#define USERDB_LOCK "users.lock"
#define USERDB_TMP "users.db.tmp."   /* + writer pid */
#define USERDB_VERSION 1
#define USERDB_HDR 18
#define USERDB_COPY_CHUNK (1024 * 1024)

struct userdb {
	char *home;              /* state_dir/db */
	char *path;              /* state_dir/db/users.db */
	enum userdb_mode mode;
	DB *db;                  /* the version read, NULL: none open */
	dev_t dev;               /* identity of that version */
	ino_t ino;
	int lock_fd;             /* writer: users.lock, flock'ed; else -1 */
	DB *tx;                  /* writer: the new version being built */
	char *tx_path;
	struct userdb_dir *dir;  /* userdb_backend ldap/pgsql; else NULL */
};

/* Readers: a small private cache (the OS page cache does the rest). */
static const struct bdb_options userdb_read_opt = {
	.name = "userdb",
	.cache_bytes = 256 * 1024,
};

/* Writers: the whole file of a large installation fits. */
static const struct bdb_options userdb_write_opt = {
	.name = "userdb",
	.cache_bytes = 64u * 1024 * 1024,
};

/* The old environment layout, opened once to convert it. */
static const struct bdb_options userdb_env_opt = {
	.name = "userdb",
	.cache_bytes = 8u * 1024 * 1024,
	.lock_timeout_us = 2000000,
	.log_max_bytes = 1024 * 1024,
};

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

/* --- the current version (readers and writers) ----------------------- */

static void
userdb_close_version(struct userdb *db)
{
	if (db->db != NULL)
		db->db->close(db->db, DB_NOSYNC);
	db->db = NULL;
}

/* Open the file now at db->path; 0 (db->db NULL if there is none) or -1
 * (logged). */
static int
userdb_open_version(struct userdb *db)
{
	struct buf err = BUF_INIT;
	struct stat st;
	int r, fd;

	r = bdb_open_file(db->path, DB_RDONLY, &userdb_read_opt, &db->db,
	    &err);
	if (r == ENOENT) {
		buf_free(&err);
		return 0;
	}
	if (r != 0) {
		log_error("event=userdb-failed reason=\"%s\"", buf_cstr(&err));
		buf_free(&err);
		return -1;
	}
	buf_free(&err);
	if (db->db->fd(db->db, &fd) != 0 || fstat(fd, &st) < 0) {
		log_error("event=userdb-failed path=%s reason=\"cannot stat\"",
		    db->path);
		userdb_close_version(db);
		return -1;
	}
	db->dev = st.st_dev;
	db->ino = st.st_ino;
	return 0;
}

/* Make db->db the version now at db->path (reopen if a writer renamed a
 * new one over it). 0, or -1 (logged). */
static int
userdb_current(struct userdb *db)
{
	struct stat st;

	if (stat(db->path, &st) < 0) {
		if (errno != ENOENT) {
			log_error("event=userdb-failed path=%s error=\"%s\"",
			    db->path, strerror(errno));
			return -1;
		}
		userdb_close_version(db);
		return 0;
	}
	if (db->db != NULL && st.st_dev == db->dev && st.st_ino == db->ino)
		return 0;
	userdb_close_version(db);
	return userdb_open_version(db);
}

/* The B-tree lookups and listings read: the version being built inside
 * userdb_begin/commit, else the current one (NULL: no file yet). */
static DB *
userdb_reading(struct userdb *db)
{
	return db->tx != NULL ? db->tx : db->db;
}

/* --- writers ------------------------------------------------------------ */

/* True when name is a file of the old environment layout. */
static bool
userdb_env_file(const char *name)
{
	return strncmp(name, "__db.", 5) == 0 || strncmp(name, "log.", 4) == 0;
}

/* Remove the files of dir whose name matches (true from match). */
static void
userdb_unlink_matching(const char *dir, bool (*match)(const char *))
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (match(de->d_name) && unlinkat(dirfd(d), de->d_name, 0) < 0)
			log_warn("event=remove-failed path=%s/%s error=\"%s\"",
			    dir, de->d_name, strerror(errno));
	closedir(d);
}

static bool
userdb_tmp_file(const char *name)
{
	return strncmp(name, USERDB_TMP, strlen(USERDB_TMP)) == 0;
}

static bool
userdb_has_env(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	bool found = false;

	if (d == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL)
		found = userdb_env_file(de->d_name);
	closedir(d);
	return found;
}

/* Make the new version at db->tx_path (closed, complete) the current
 * one: fsync, rename over users.db, fsync the directory. 0 or -1 (err);
 * the temporary file is gone either way. */
static int
userdb_install(struct userdb *db, struct buf *err)
{
	int fd = sys_open(db->tx_path, O_RDONLY | O_CLOEXEC, 0);

	if (fd < 0) {
		buf_printf(err, "cannot write %s: %s", db->tx_path,
		    strerror(errno));
		unlink(db->tx_path);
		return -1;
	}
	/* Once renamed, readers see it even when the directory fsync
	 * failed: only its durability across a power loss is in doubt. */
	if (durable_publish(fd, db->tx_path, db->path, true) < 0) {
		buf_printf(err, "cannot install %s as %s: %s", db->tx_path,
		    db->path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Copy the file at from into a new file at to (no fsync yet). */
static int
userdb_copy(const char *from, const char *to, struct buf *err)
{
	char *chunk;
	ssize_t n = 0;
	int in, out;

	if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0) {
		buf_printf(err, "cannot open %s: %s", from, strerror(errno));
		return -1;
	}
	out = sys_open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		buf_printf(err, "cannot create %s: %s", to, strerror(errno));
		close(in);
		return -1;
	}
	chunk = xmalloc(USERDB_COPY_CHUNK);
	while ((n = read(in, chunk, USERDB_COPY_CHUNK)) > 0)
		if (write_all(out, chunk, (size_t)n) < 0) {
			n = -1;
			break;
		}
	if (n < 0)
		buf_printf(err, "cannot copy %s to %s: %s", from, to,
		    strerror(errno));
	free(chunk);
	close(in);
	if (close(out) < 0 && n == 0) {
		buf_printf(err, "cannot write %s: %s", to, strerror(errno));
		n = -1;
	}
	if (n < 0)
		unlink(to);
	return n < 0 ? -1 : 0;
}

/* Convert the environment layout (see the top of this file). Called with
 * the writer lock held. 0 or -1 (err). */
static int
userdb_convert(struct userdb *db, struct buf *err)
{
	DB_ENV *env;
	DB *old, *new;
	DBC *cur;
	DBT k, v;
	unsigned long n = 0;
	int r;

	if (bdb_open(db->home, USERDB_FILE, &userdb_env_opt, &env, &old,
	    err) < 0)
		return -1;
	if ((r = env->txn_checkpoint(env, 0, 0, DB_FORCE)) != 0) {
		buf_printf(err, "checkpoint of %s: %s", db->home,
		    db_strerror(r));
		bdb_close(&env, &old);
		return -1;
	}
	unlink(db->tx_path);
	r = bdb_open_file(db->tx_path, DB_CREATE | DB_EXCL, &userdb_write_opt,
	    &new, err);
	if (r != 0) {
		bdb_close(&env, &old);
		return -1;
	}
	if ((r = old->cursor(old, NULL, &cur, 0)) == 0) {
		memset(&k, 0, sizeof(k));
		memset(&v, 0, sizeof(v));
		while ((r = cur->get(cur, &k, &v, DB_NEXT)) == 0 &&
		    (r = new->put(new, NULL, &k, &v, 0)) == 0)
			n++;
		cur->close(cur);
	}
	if (r == DB_NOTFOUND)
		r = 0;
	if (r != 0)
		buf_printf(err, "copying %s: %s", db->path, db_strerror(r));
	if (new->close(new, 0) != 0 && r == 0) {
		buf_printf(err, "cannot write %s", db->tx_path);
		r = -1;
	}
	bdb_close(&env, &old);
	if (r != 0) {
		unlink(db->tx_path);
		return -1;
	}
	/* The environment goes first: after the checkpoint users.db is
	 * complete without it, and its logs must never be replayed onto
	 * the new file. */
	userdb_unlink_matching(db->home, userdb_env_file);
	if (userdb_install(db, err) < 0)
		return -1;
	log_info("event=userdb-converted path=%s count=%lu reason=\"from "
	    "the Berkeley DB environment layout\"", db->path, n);
	return 0;
}

/* Writer set-up: the lock, then conversion and stale temporary files. */
static int
userdb_writer_open(struct userdb *db, struct buf *err)
{
	struct buf p = BUF_INIT;

	buf_printf(&p, "%s/%s", db->home, USERDB_LOCK);
	db->lock_fd = sys_open(p.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (db->lock_fd < 0) {
		buf_printf(err, "cannot open %s: %s", p.data, strerror(errno));
		buf_free(&p);
		return -1;
	}
	while (flock(db->lock_fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			buf_printf(err, "cannot lock %s: %s", p.data,
			    strerror(errno));
			buf_free(&p);
			return -1;
		}
	buf_free(&p);
	userdb_unlink_matching(db->home, userdb_tmp_file);
	if (userdb_has_env(db->home) && userdb_convert(db, err) < 0)
		return -1;
	return 0;
}

struct userdb *
userdb_open(const struct dmail_conf *conf, enum userdb_mode mode,
    struct buf *err)
{
	struct userdb *db;
	struct buf home = BUF_INIT, p = BUF_INIT;

	if (conf->userdb_backend != USERDB_BDB) {
		struct userdb_dir *dir = userdb_dir_open(conf, mode, err);
		if (dir == NULL)
			return NULL;
		db = xcalloc(1, sizeof(*db));
		db->lock_fd = -1;
		db->mode = mode;
		db->dir = dir;
		return db;
	}
	conf_state_path(conf, "db", &home);
	if (mode == USERDB_WRITE && mkdir_p(home.data, 0700) < 0) {
		buf_printf(err, "cannot create %s: %s", home.data,
		    strerror(errno));
		buf_free(&home);
		return NULL;
	}
	db = xcalloc(1, sizeof(*db));
	db->lock_fd = -1;
	db->mode = mode;
	buf_printf(&p, "%s/%s", home.data, USERDB_FILE);
	db->path = buf_steal(&p);
	buf_printf(&p, "%s/%s%ld", home.data, USERDB_TMP, (long)getpid());
	db->tx_path = buf_steal(&p);
	db->home = buf_steal(&home);
	/* Readers open the file at their first lookup; writers lock now. */
	if (mode == USERDB_WRITE && userdb_writer_open(db, err) < 0) {
		userdb_close(db);
		return NULL;
	}
	return db;
}

int
userdb_upgrade(const struct dmail_conf *conf, struct buf *err)
{
	struct buf home = BUF_INIT;
	struct userdb *db;
	bool old;

	conf_state_path(conf, "db", &home);
	old = userdb_has_env(home.data);
	buf_free(&home);
	if (!old)
		return 0;
	if ((db = userdb_open(conf, USERDB_WRITE, err)) == NULL)
		return -1;
	userdb_close(db);
	return 1;
}

int
userdb_upgrade_at_start(const struct dmail_conf *conf)
{
	struct buf home = BUF_INIT, err = BUF_INIT;
	int status = 0;
	bool old;
	pid_t pid;

	conf_state_path(conf, "db", &home);
	old = userdb_has_env(home.data);
	buf_free(&home);
	if (!old)
		return 0;
	/* In a child that becomes run_as: the new files must belong to the
	 * workers' user, and root's process must not hold Berkeley DB. */
	if ((pid = fork()) < 0) {
		log_error("event=userdb-failed reason=\"cannot convert the old "
		    "layout\" error=\"fork: %s\"", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		if (geteuid() == 0 && conf->run_as != NULL &&
		    drop_privileges(conf->run_as) < 0)
			_exit(1);
		if (userdb_upgrade(conf, &err) < 0) {
			log_error("event=userdb-failed reason=\"cannot convert "
			    "the old layout: %s\"", buf_cstr(&err));
			_exit(1);
		}
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 1 : -1;
}

void
userdb_hold(struct userdb *db, bool on)
{
	if (db != NULL)
		userdb_dir_hold(db->dir, on);
}

void
userdb_release(struct userdb *db)
{
	if (db != NULL) {
		userdb_close_version(db);
		userdb_dir_hold(db->dir, false);
	}
}

void
userdb_close(struct userdb *db)
{
	if (db == NULL)
		return;
	userdb_abort(db);
	userdb_dir_close(db->dir);
	userdb_close_version(db);
	if (db->lock_fd >= 0)
		close(db->lock_fd);
	free(db->home);
	free(db->path);
	free(db->tx_path);
	free(db);
}

int
userdb_begin(struct userdb *db, struct buf *err)
{
	int r;

	if (db->mode != USERDB_WRITE) {
		buf_printf(err, "database opened read-only");
		return -1;
	}
	if (db->dir != NULL)
		return userdb_dir_begin(db->dir, err);
	if (db->tx != NULL)
		return 0;
	if (userdb_current(db) < 0) {
		buf_printf(err, "cannot read %s", db->path);
		return -1;
	}
	unlink(db->tx_path);
	if (db->db != NULL && userdb_copy(db->path, db->tx_path, err) < 0)
		return -1;
	r = bdb_open_file(db->tx_path, db->db != NULL ? 0 :
	    DB_CREATE | DB_EXCL, &userdb_write_opt, &db->tx, err);
	if (r != 0) {
		unlink(db->tx_path);
		return -1;
	}
	return 0;
}

void
userdb_abort(struct userdb *db)
{
	if (db->dir != NULL)
		userdb_dir_abort(db->dir);
	if (db->tx == NULL)
		return;
	db->tx->close(db->tx, DB_NOSYNC);
	db->tx = NULL;
	unlink(db->tx_path);
}

int
userdb_commit(struct userdb *db, struct buf *err)
{
	int r;

	if (db->dir != NULL)
		return userdb_dir_commit(db->dir, err);
	if (db->tx == NULL)
		return 0;
	/* Closing writes every page of the private cache to the file. */
	r = db->tx->close(db->tx, 0);
	db->tx = NULL;
	if (r != 0) {
		buf_printf(err, "cannot write %s: %s", db->tx_path,
		    db_strerror(r));
		unlink(db->tx_path);
		return -1;
	}
	if (userdb_install(db, err) < 0)
		return -1;
	userdb_close_version(db);
	return userdb_current(db) < 0 ? -1 : 0;
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

/* One get from the version read: 0 (found, v->data malloc'd),
 * DB_NOTFOUND, or an error code. */
static int
userdb_get(struct userdb *db, const char *key, DBT *v)
{
	DB *d;
	DBT k;

	if (db->tx == NULL && userdb_current(db) < 0)
		return EIO;
	if ((d = userdb_reading(db)) == NULL)
		return DB_NOTFOUND;
	memset(&k, 0, sizeof(k));
	memset(v, 0, sizeof(*v));
	k.data = (void *)key;
	k.size = strlen(key);
	v->flags = DB_DBT_MALLOC;
	return d->get(d, NULL, &k, v, 0);
}

int
userdb_lookup(struct userdb *db, const char *address, struct user_record *out)
{
	char key[USERDB_ADDRESS_MAX + 1];
	DBT v;
	int r;

	if (userdb_key(address, key, sizeof(key)) < 0)
		return 0;
	if (db->dir != NULL)
		return userdb_dir_lookup(db->dir, key, out);
	r = userdb_get(db, key, &v);
	if (r != 0 && r != DB_NOTFOUND && db->tx == NULL) {
		/* A damaged read: start again from the file once. */
		userdb_close_version(db);
		r = userdb_get(db, key, &v);
	}
	if (r == DB_NOTFOUND)
		return 0;
	if (r != 0) {
		log_error("event=userdb-failed key=%s error=\"%s\"", key,
		    db_strerror(r));
		return -1;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->address, sizeof(out->address), "%s", key);
	if (userdb_decode(v.data, v.size, out) < 0) {
		free(v.data);
		log_error("event=userdb-damaged key=%s reason=\"damaged or of "
		    "an unknown version\"", key);
		return -1;
	}
	free(v.data);
	return 1;
}

int
userdb_domain_lookup(struct userdb *db, const char *domain)
{
	char key[USERDB_ADDRESS_MAX + 1];

	if (db == NULL || db->dir == NULL ||
	    userdb_key(domain, key, sizeof(key)) < 0)
		return 0;
	return userdb_dir_domain(db->dir, key);
}

int
userdb_alias_lookup(struct userdb *db, const char *address, struct buf *out)
{
	char key[USERDB_ADDRESS_MAX + 1];

	buf_reset(out);
	if (db == NULL || db->dir == NULL ||
	    userdb_key(address, key, sizeof(key)) < 0)
		return 0;
	return userdb_dir_alias(db->dir, key, out);
}

int
userdb_local_domain(struct userdb *db, const struct dmail_conf *conf,
    const char *domain)
{
	if (conf_is_local_domain(conf, domain))
		return 1;
	return userdb_domain_lookup(db, domain);
}

/* Put (val != NULL) or delete key in the version being built; the
 * Berkeley DB code. */
static int
userdb_change(struct userdb *db, const char *key, const struct buf *val)
{
	DBT k, v;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)key;
	k.size = strlen(key);
	if (val == NULL)
		return db->tx->del(db->tx, NULL, &k, 0);
	v.data = val->data;
	v.size = val->len;
	return db->tx->put(db->tx, NULL, &k, &v, 0);
}

/* Key of rec for a write, or -1 (err) if it is no address. */
static int
userdb_write_key(struct userdb *db, const struct user_record *rec, char *key,
    size_t keylen, struct buf *err)
{
	if (db->mode != USERDB_WRITE) {
		buf_printf(err, "database opened read-only");
		return -1;
	}
	if (userdb_key(rec->address, key, keylen) < 0 ||
	    strchr(key, '@') == NULL) {
		buf_printf(err, "invalid address '%s'", rec->address);
		return -1;
	}
	return 0;
}

int
userdb_put_many(struct userdb *db, const struct user_record *recs, size_t n,
    struct buf *err)
{
	char key[USERDB_ADDRESS_MAX + 1];
	struct buf val = BUF_INIT;
	bool own = db->tx == NULL;
	int r = 0;

	for (size_t i = 0; i < n; i++)
		if (userdb_write_key(db, &recs[i], key, sizeof(key), err) < 0)
			return -1;
	if (db->dir != NULL)
		return userdb_dir_put_many(db->dir, recs, n, err);
	if (userdb_begin(db, err) < 0)
		return -1;
	for (size_t i = 0; i < n && r == 0; i++) {
		userdb_key(recs[i].address, key, sizeof(key));
		userdb_encode(&recs[i], &val);
		if ((r = userdb_change(db, key, &val)) != 0)
			buf_printf(err, "cannot store %s: %s", key,
			    db_strerror(r));
	}
	buf_free(&val);
	if (r != 0) {
		if (own)
			userdb_abort(db);
		return -1;
	}
	return own ? userdb_commit(db, err) : 0;
}

int
userdb_put(struct userdb *db, const struct user_record *rec, struct buf *err)
{
	return userdb_put_many(db, rec, 1, err);
}

int
userdb_delete(struct userdb *db, const char *address, struct buf *err)
{
	char key[USERDB_ADDRESS_MAX + 1];
	bool own = db->tx == NULL;
	int r;

	if (db->mode != USERDB_WRITE) {
		buf_printf(err, "database opened read-only");
		return -1;
	}
	if (userdb_key(address, key, sizeof(key)) < 0)
		return 0;
	if (db->dir != NULL)
		return userdb_dir_delete(db->dir, key, err);
	if (userdb_begin(db, err) < 0)
		return -1;
	r = userdb_change(db, key, NULL);
	if (r != 0) {
		if (own)
			userdb_abort(db);
		if (r == DB_NOTFOUND)
			return 0;
		buf_printf(err, "cannot delete %s: %s", key, db_strerror(r));
		return -1;
	}
	if (own && userdb_commit(db, err) < 0)
		return -1;
	return 1;
}

int
userdb_foreach(struct userdb *db,
    int (*fn)(const struct user_record *rec, void *arg), void *arg)
{
	struct user_record *rec;
	DBC *cur;
	DBT k, v;
	DB *d;
	int r, stop = 0;

	if (db->dir != NULL)
		return userdb_dir_foreach(db->dir, fn, arg);
	if (db->tx == NULL && userdb_current(db) < 0)
		return -1;
	if ((d = userdb_reading(db)) == NULL)
		return 0;
	if ((r = d->cursor(d, NULL, &cur, 0)) != 0) {
		log_error("event=userdb-failed error=\"cursor: %s\"",
		    db_strerror(r));
		return -1;
	}
	rec = xmalloc(sizeof(*rec));
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	while ((r = cur->get(cur, &k, &v, DB_NEXT)) == 0) {
		memset(rec, 0, sizeof(*rec));
		if (k.size > USERDB_ADDRESS_MAX ||
		    userdb_decode(v.data, v.size, rec) < 0) {
			log_error("event=userdb-damaged key=\"%.*s\" "
			    "reason=\"damaged record skipped\"",
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
	free(rec);
	if (stop == 0 && r != DB_NOTFOUND) {
		log_error("event=userdb-failed error=\"listing: %s\"",
		    db_strerror(r));
		return -1;
	}
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
