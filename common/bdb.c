/*
 * bdb.c - opening a Berkeley DB B-tree alone (bdb_open_file) or in a
 * transactional environment (bdb_open); see bdb.h.
 */
#include "config.h"

#include "bdb.h"
#include "log.h"

/* Berkeley DB's own messages go to our log, not to stderr. */
static void
bdb_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	log_warn("event=bdb-message reason=\"%s: %s\"",
	    pfx != NULL ? pfx : "bdb", msg);
}

void
bdb_close(DB_ENV **env, DB **db)
{
	if (*db != NULL)
		(*db)->close(*db, 0);
	*db = NULL;
	if (*env != NULL)
		(*env)->close(*env, 0);
	*env = NULL;
}

int
bdb_open(const char *home, const char *file, const struct bdb_options *opt,
    DB_ENV **env, DB **db, struct buf *err)
{
	u_int32_t flags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
	    DB_INIT_LOG | DB_INIT_MPOOL | DB_REGISTER | DB_RECOVER;
	DB_ENV *e;
	int r;

	*env = NULL;
	*db = NULL;
	if ((r = db_env_create(&e, 0)) != 0) {
		buf_printf(err, "db_env_create: %s", db_strerror(r));
		return -1;
	}
	e->set_errpfx(e, opt->name);
	e->set_errcall(e, bdb_errcall);
	e->set_cachesize(e, 0, opt->cache_bytes, 1);
	if (opt->lock_timeout_us > 0)
		e->set_timeout(e, opt->lock_timeout_us, DB_SET_LOCK_TIMEOUT);
	e->set_lk_detect(e, DB_LOCK_DEFAULT);
	e->log_set_config(e, DB_LOG_AUTO_REMOVE, 1);
	if (opt->log_max_bytes > 0)
		e->set_lg_max(e, opt->log_max_bytes);
	if ((r = e->open(e, home, flags, 0600)) != 0) {
		buf_printf(err, "cannot open database environment %s: %s",
		    home, db_strerror(r));
		e->close(e, 0);
		return -1;
	}
	*env = e;
	if ((r = db_create(db, e, 0)) != 0) {
		buf_printf(err, "db_create: %s", db_strerror(r));
		*db = NULL;
		bdb_close(env, db);
		return -1;
	}
	r = (*db)->open(*db, NULL, file, NULL, DB_BTREE,
	    DB_CREATE | DB_AUTO_COMMIT, 0600);
	if (r != 0) {
		buf_printf(err, "cannot open %s/%s: %s", home, file,
		    db_strerror(r));
		bdb_close(env, db);
		return -1;
	}
	return 0;
}

int
bdb_open_file(const char *path, uint32_t flags, const struct bdb_options *opt,
    DB **db, struct buf *err)
{
	DB *d;
	int r;

	*db = NULL;
	if ((r = db_create(&d, NULL, 0)) != 0) {
		buf_printf(err, "db_create: %s", db_strerror(r));
		return r;
	}
	d->set_errpfx(d, opt->name);
	d->set_errcall(d, bdb_errcall);
	if (opt->cache_bytes > 0)
		d->set_cachesize(d, 0, opt->cache_bytes, 1);
	r = d->open(d, NULL, path, NULL, DB_BTREE, flags | DB_NOMMAP, 0600);
	if (r != 0) {
		buf_printf(err, "cannot open %s: %s", path, db_strerror(r));
		d->close(d, DB_NOSYNC);
		return r;
	}
	*db = d;
	return 0;
}
