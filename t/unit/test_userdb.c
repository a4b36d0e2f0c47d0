/*
 * test_userdb.c - cmocka tests of common/userdb.c: record encoding,
 * put/lookup/delete/foreach, passwords (yescrypt, SHA-512, foreign
 * hashes), login names, concurrent reader and writer processes (no torn
 * reads), writers taking turns on the lock while readers go on, a writer
 * killed with SIGKILL while building a new version (readers see the old
 * one, the next writer removes the temporary file), change groups
 * (begin/commit/abort), and the conversion of the old environment
 * layout (a record committed only in the log survives).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <crypt.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <db.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "userdb.h"
#include "util.h"
#include "unit_tmpdir.h"

static struct dmail_conf conf;

static int
setup(void **state)
{
	struct buf text = BUF_INIT, err = BUF_INIT;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_userdb.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	buf_printf(&text, "hostname mx.example.test\n"
	    "local_domains example.test other.test\n"
	    "state_dir %s/state\n", tmpdir);
	if (conf_load_text("test.conf", text.data, text.len, &conf, &err) < 0)
		fail_msg("conf: %s", buf_cstr(&err));
	buf_free(&text);
	buf_free(&err);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	conf_free(&conf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return -1;
	return 0;
}

static void
make_rec(struct user_record *r, const char *addr, uint64_t q)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->address, sizeof(r->address), "%s", addr);
	snprintf(r->hash, sizeof(r->hash), "$6$salt$hash");
	snprintf(r->mailbox, sizeof(r->mailbox), "/var/mail/%s", addr);
	r->quota_bytes = q;
	r->quota_messages = q;
	r->enabled = true;
}

static void
test_encoding(void **state)
{
	struct user_record a, b;
	struct buf enc = BUF_INIT;

	(void)state;
	make_rec(&a, "x@example.test", 1234567890123ULL);
	snprintf(a.apop_secret, sizeof(a.apop_secret), "tanstaaf");
	a.enabled = false;
	userdb_encode(&a, &enc);
	assert_int_equal((unsigned char)enc.data[0], 1);
	memset(&b, 0, sizeof(b));
	assert_int_equal(userdb_decode(enc.data, enc.len, &b), 0);
	assert_string_equal(b.hash, a.hash);
	assert_string_equal(b.apop_secret, "tanstaaf");
	assert_string_equal(b.mailbox, a.mailbox);
	assert_true(b.quota_bytes == 1234567890123ULL);
	assert_false(b.enabled);
	/* Truncated, extended and unknown-version records are refused. */
	assert_int_equal(userdb_decode(enc.data, enc.len - 1, &b), -1);
	buf_append_char(&enc, 'x');
	assert_int_equal(userdb_decode(enc.data, enc.len, &b), -1);
	buf_truncate(&enc, enc.len - 1);
	enc.data[0] = 2;
	assert_int_equal(userdb_decode(enc.data, enc.len, &b), -1);
	assert_int_equal(userdb_decode(enc.data, 5, &b), -1);
	buf_free(&enc);
}

static void
test_put_lookup_delete(void **state)
{
	struct buf err = BUF_INIT;
	struct userdb *db;
	struct user_record r, out;
	int count = 0;

	(void)state;
	db = userdb_open(&conf, USERDB_WRITE, &err);
	assert_non_null(db);
	make_rec(&r, "Alice@Example.TEST", 10);
	assert_int_equal(userdb_put(db, &r, &err), 0);
	make_rec(&r, "bob@example.test", 20);
	assert_int_equal(userdb_put(db, &r, &err), 0);
	assert_int_equal(userdb_lookup(db, "ALICE@example.test", &out), 1);
	assert_string_equal(out.address, "alice@example.test");
	assert_true(out.quota_bytes == 10);
	assert_int_equal(userdb_lookup(db, "carol@example.test", &out), 0);
	assert_int_equal(userdb_lookup(db, "", &out), 0);
	/* Replace. */
	make_rec(&r, "bob@example.test", 30);
	assert_int_equal(userdb_put(db, &r, &err), 0);
	assert_int_equal(userdb_lookup(db, "bob@example.test", &out), 1);
	assert_true(out.quota_messages == 30);
	/* Invalid address refused. */
	make_rec(&r, "nodomain", 1);
	assert_int_equal(userdb_put(db, &r, &err), -1);
	assert_int_equal(userdb_delete(db, "bob@example.test", &err), 1);
	assert_int_equal(userdb_delete(db, "bob@example.test", &err), 0);
	assert_int_equal(userdb_lookup(db, "bob@example.test", &out), 0);
	userdb_close(db);
	/* Survives reopen, read-only handle refuses writes. */
	db = userdb_open(&conf, USERDB_READ, &err);
	assert_non_null(db);
	assert_int_equal(userdb_lookup(db, "alice@example.test", &out), 1);
	assert_int_equal(userdb_put(db, &r, &err), -1);
	userdb_close(db);
	(void)count;
	buf_free(&err);
}

static int
count_cb(const struct user_record *rec, void *arg)
{
	int *n = arg;

	assert_non_null(strchr(rec->address, '@'));
	(*n)++;
	return 0;
}

static void
test_foreach_many(void **state)
{
	struct buf err = BUF_INIT;
	struct user_record *recs = xcalloc(2500, sizeof(*recs));
	struct user_record out;
	struct userdb *db;
	int n = 0;

	(void)state;
	db = userdb_open(&conf, USERDB_WRITE, &err);
	assert_non_null(db);
	for (int i = 0; i < 2500; i++) {
		char a[64];

		snprintf(a, sizeof(a), "user%05d@many.test", i);
		make_rec(&recs[i], a, i);
	}
	assert_int_equal(userdb_put_many(db, recs, 2500, &err), 0);
	assert_int_equal(userdb_foreach(db, count_cb, &n), 0);
	assert_true(n >= 2500);
	assert_int_equal(userdb_lookup(db, "user01234@many.test", &out), 1);
	assert_true(out.quota_bytes == 1234);
	userdb_close(db);
	free(recs);
	buf_free(&err);
}

static void
test_passwords(void **state)
{
	struct user_record r;
	struct crypt_data cd;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(userdb_hash_password("yescrypt", "s3cret", r.hash,
	    sizeof(r.hash)), 0);
	assert_memory_equal(r.hash, "$y$", 3);
	assert_true(userdb_check_password(&r, "s3cret"));
	assert_false(userdb_check_password(&r, "s3cret "));
	assert_false(userdb_check_password(&r, ""));
	assert_int_equal(userdb_hash_password("sha512", "s3cret", r.hash,
	    sizeof(r.hash)), 0);
	assert_memory_equal(r.hash, "$6$", 3);
	assert_true(userdb_check_password(&r, "s3cret"));
	assert_false(userdb_check_password(&r, "S3cret"));
	assert_int_equal(userdb_hash_password("md4", "x", r.hash,
	    sizeof(r.hash)), -1);
	/* A foreign hash (MD5-crypt from an old /etc/shadow). */
	memset(&cd, 0, sizeof(cd));
	snprintf(r.hash, sizeof(r.hash), "%s",
	    crypt_r("legacy", "$1$abcdefgh$", &cd));
	assert_true(userdb_check_password(&r, "legacy"));
	assert_false(userdb_check_password(&r, "legacz"));
	/* Locked and empty hashes never match. */
	memmove(r.hash + 1, r.hash, strlen(r.hash) + 1);
	r.hash[0] = '!';
	assert_false(userdb_check_password(&r, "legacy"));
	r.hash[0] = '\0';
	assert_false(userdb_check_password(&r, ""));
	snprintf(r.hash, sizeof(r.hash), "garbage");
	assert_false(userdb_check_password(&r, "garbage"));
}

static void
test_names(void **state)
{
	char out[USERDB_ADDRESS_MAX + 1];
	struct buf mb = BUF_INIT;

	(void)state;
	assert_int_equal(userdb_login_address(&conf, "alice", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "alice@example.test");
	assert_int_equal(userdb_login_address(&conf, "Bob@Other.Test", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "bob@other.test");
	assert_int_equal(userdb_login_address(&conf, "", out, sizeof(out)),
	    -1);
	assert_int_equal(userdb_login_address(&conf, "a@", out, sizeof(out)),
	    -1);
	assert_int_equal(userdb_login_address(&conf, "@b", out, sizeof(out)),
	    -1);
	assert_int_equal(userdb_login_address(&conf, "a b", out, sizeof(out)),
	    -1);
	assert_int_equal(userdb_login_address(&conf, "a@b@c", out,
	    sizeof(out)), -1);
	assert_true(userdb_valid_address("alice.smith+x@example.test"));
	assert_false(userdb_valid_address("../etc@example.test"));
	assert_false(userdb_valid_address("a/b@example.test"));
	assert_false(userdb_valid_address("a@../x"));
	assert_false(userdb_valid_address("a@ex/ample"));
	assert_false(userdb_valid_address("a..b@example.test"));
	assert_false(userdb_valid_address(".a@example.test"));
	assert_false(userdb_valid_address("noat"));
	userdb_default_mailbox(&conf, "Alice@Example.Test", &mb);
	assert_true(strstr(mb.data, "/state/mail/example.test/alice") != NULL);
	buf_free(&mb);
}

/* Writer process: replaces the record n times; each version has
 * quota_bytes == quota_messages == version, so a torn read would show
 * two different numbers. */
static void
writer(int n)
{
	struct buf err = BUF_INIT;
	struct userdb *db = userdb_open(&conf, USERDB_WRITE, &err);
	struct user_record r;

	if (db == NULL)
		_exit(2);
	for (int i = 1; i <= n; i++) {
		make_rec(&r, "shared@example.test", i);
		snprintf(r.mailbox, sizeof(r.mailbox), "/m/%0*d", 100 + i % 50,
		    i);
		if (userdb_put(db, &r, &err) < 0)
			_exit(3);
	}
	userdb_close(db);
	_exit(0);
}

static void
reader(int n)
{
	struct buf err = BUF_INIT;
	struct userdb *db = userdb_open(&conf, USERDB_READ, &err);
	struct user_record r;
	uint64_t last = 0;

	if (db == NULL)
		_exit(2);
	for (int i = 0; i < n; i++) {
		int rc = userdb_lookup(db, "shared@example.test", &r);

		if (rc < 0)
			_exit(3);
		if (rc == 0)
			continue;
		if (r.quota_bytes != r.quota_messages ||
		    r.quota_bytes < last ||
		    (uint64_t)atoll(strrchr(r.mailbox, '/') + 1) !=
		    r.quota_bytes)
			_exit(4);
		last = r.quota_bytes;
	}
	userdb_close(db);
	_exit(0);
}

static void
test_concurrent(void **state)
{
	pid_t pids[3];
	int status;

	(void)state;
	pids[0] = fork();
	if (pids[0] == 0)
		writer(300);
	for (int i = 1; i < 3; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			reader(3000);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
}

/* Files in state_dir/db whose name starts with prefix. */
static int
count_files(const char *prefix)
{
	struct buf home = BUF_INIT;
	struct dirent *de;
	DIR *d;
	int n = 0;

	conf_state_path(&conf, "db", &home);
	d = opendir(home.data);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	buf_free(&home);
	return n;
}

/* Writers take turns on the lock; readers never wait for it. */
static void
test_writers_take_turns(void **state)
{
	struct buf err = BUF_INIT;
	struct userdb *w, *rd;
	struct user_record r;
	int p[2], status;
	char c;
	pid_t pid;

	(void)state;
	/* Fork first: a child must not inherit the parent's lock. */
	assert_int_equal(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		struct userdb *o;

		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(2);
		/* Blocks until the parent closes its writer. */
		o = userdb_open(&conf, USERDB_WRITE, &err);
		if (o == NULL || userdb_lookup(o, "turn@example.test", &r) != 1
		    || r.quota_bytes != 2)
			_exit(3);
		make_rec(&r, "turn@example.test", 3);
		if (userdb_put(o, &r, &err) < 0)
			_exit(4);
		userdb_close(o);
		_exit(0);
	}
	close(p[0]);
	w = userdb_open(&conf, USERDB_WRITE, &err);
	assert_non_null(w);
	make_rec(&r, "turn@example.test", 1);
	assert_int_equal(userdb_put(w, &r, &err), 0);
	assert_int_equal(write(p[1], "s", 1), 1);
	close(p[1]);
	/* A reader is not held up by the writer lock. */
	rd = userdb_open(&conf, USERDB_READ, &err);
	assert_non_null(rd);
	assert_int_equal(userdb_lookup(rd, "turn@example.test", &r), 1);
	assert_true(r.quota_bytes == 1);
	make_rec(&r, "turn@example.test", 2);
	assert_int_equal(userdb_put(w, &r, &err), 0);
	/* The open reader sees the new version at its next lookup. */
	assert_int_equal(userdb_lookup(rd, "turn@example.test", &r), 1);
	assert_true(r.quota_bytes == 2);
	userdb_close(w);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(userdb_lookup(rd, "turn@example.test", &r), 1);
	assert_true(r.quota_bytes == 3);
	userdb_close(rd);
	buf_free(&err);
}

/* A writer killed while building a new version (its temporary file half
 * written): readers see the old version, the next writer removes the
 * temporary file and works. */
static void
test_kill_writer(void **state)
{
	struct buf err = BUF_INIT;
	struct userdb *db, *rd;
	struct user_record r;
	int p[2], status;
	char c;
	pid_t pid;

	(void)state;
	db = userdb_open(&conf, USERDB_WRITE, &err);
	assert_non_null(db);
	make_rec(&r, "keep@example.test", 7);
	assert_int_equal(userdb_put(db, &r, &err), 0);
	userdb_close(db);
	rd = userdb_open(&conf, USERDB_READ, &err);
	assert_non_null(rd);
	assert_int_equal(userdb_lookup(rd, "keep@example.test", &r), 1);

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct userdb *o = userdb_open(&conf, USERDB_WRITE, &err);

		close(p[0]);
		if (o == NULL || userdb_begin(o, &err) < 0)
			_exit(2);
		make_rec(&r, "ghost@example.test", 666);
		if (userdb_put(o, &r, &err) < 0)
			_exit(3);
		make_rec(&r, "keep@example.test", 999);
		if (userdb_put(o, &r, &err) < 0 || write(p[1], "k", 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	assert_int_equal(count_files("users.db.tmp."), 1);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));

	assert_int_equal(userdb_lookup(rd, "keep@example.test", &r), 1);
	assert_true(r.quota_bytes == 7);
	assert_int_equal(userdb_lookup(rd, "ghost@example.test", &r), 0);

	db = userdb_open(&conf, USERDB_WRITE, &err);
	assert_non_null(db);
	assert_int_equal(count_files("users.db.tmp."), 0);
	assert_int_equal(userdb_lookup(db, "ghost@example.test", &r), 0);
	make_rec(&r, "after@example.test", 8);
	assert_int_equal(userdb_put(db, &r, &err), 0);
	userdb_close(db);
	assert_int_equal(userdb_lookup(rd, "after@example.test", &r), 1);
	assert_int_equal(userdb_lookup(rd, "keep@example.test", &r), 1);
	assert_true(r.quota_bytes == 7);
	userdb_close(rd);
	buf_free(&err);
}

/* A change group: lookups on the writer see it at once, readers only
 * after the commit; an abort leaves nothing. */
static void
test_begin_commit(void **state)
{
	struct buf err = BUF_INIT;
	struct userdb *db, *rd;
	struct user_record r;

	(void)state;
	db = userdb_open(&conf, USERDB_WRITE, &err);
	rd = userdb_open(&conf, USERDB_READ, &err);
	assert_non_null(db);
	assert_non_null(rd);
	assert_int_equal(userdb_begin(db, &err), 0);
	make_rec(&r, "group1@example.test", 1);
	assert_int_equal(userdb_put(db, &r, &err), 0);
	make_rec(&r, "group2@example.test", 2);
	assert_int_equal(userdb_put(db, &r, &err), 0);
	assert_int_equal(userdb_delete(db, "after@example.test", &err), 1);
	assert_int_equal(userdb_lookup(db, "group1@example.test", &r), 1);
	assert_int_equal(userdb_lookup(rd, "group1@example.test", &r), 0);
	assert_int_equal(userdb_lookup(rd, "after@example.test", &r), 1);
	assert_int_equal(userdb_commit(db, &err), 0);
	assert_int_equal(userdb_lookup(rd, "group2@example.test", &r), 1);
	assert_int_equal(userdb_lookup(rd, "after@example.test", &r), 0);
	assert_int_equal(userdb_begin(db, &err), 0);
	assert_int_equal(userdb_delete(db, "group2@example.test", &err), 1);
	userdb_abort(db);
	assert_int_equal(userdb_lookup(db, "group2@example.test", &r), 1);
	assert_int_equal(count_files("users.db.tmp."), 0);
	userdb_close(db);
	userdb_close(rd);
	buf_free(&err);
}

/* The old layout: users.db in a transactional environment, a committed
 * record only in the log (the writer died before any checkpoint). The
 * first writer converts it: records kept, environment files gone. */
static void
test_upgrade(void **state)
{
	struct buf home = BUF_INIT, enc = BUF_INIT, err = BUF_INIT;
	struct user_record r;
	struct userdb *db;
	int status;
	pid_t pid;

	(void)state;
	conf_state_path(&conf, "db", &home);
	buf_printf(&enc, "rm -rf %s/*", home.data);
	assert_int_equal(system(enc.data), 0);
	pid = fork();
	if (pid == 0) {
		DB_ENV *env;
		DB *d;
		DB_TXN *txn;
		DBT k, v;

		if (db_env_create(&env, 0) != 0 ||
		    env->open(env, home.data, DB_CREATE | DB_INIT_TXN |
		    DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_REGISTER |
		    DB_RECOVER, 0600) != 0 || db_create(&d, env, 0) != 0 ||
		    d->open(d, NULL, "users.db", NULL, DB_BTREE,
		    DB_CREATE | DB_AUTO_COMMIT, 0600) != 0 ||
		    env->txn_begin(env, NULL, &txn, 0) != 0)
			_exit(2);
		make_rec(&r, "old@example.test", 42);
		userdb_encode(&r, &enc);
		memset(&k, 0, sizeof(k));
		memset(&v, 0, sizeof(v));
		k.data = r.address;
		k.size = strlen(r.address);
		v.data = enc.data;
		v.size = enc.len;
		if (d->put(d, txn, &k, &v, 0) != 0 || txn->commit(txn, 0) != 0)
			_exit(3);
		_exit(0);       /* no close, no checkpoint */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(count_files("__db.") > 0);
	assert_int_equal(userdb_upgrade(&conf, &err), 1);
	assert_int_equal(count_files("__db."), 0);
	assert_int_equal(count_files("log."), 0);
	assert_int_equal(userdb_upgrade(&conf, &err), 0);
	db = userdb_open(&conf, USERDB_READ, &err);
	assert_non_null(db);
	assert_int_equal(userdb_lookup(db, "old@example.test", &r), 1);
	assert_true(r.quota_bytes == 42);
	userdb_close(db);
	buf_free(&home);
	buf_free(&enc);
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoding),
		cmocka_unit_test(test_put_lookup_delete),
		cmocka_unit_test(test_foreach_many),
		cmocka_unit_test(test_passwords),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_writers_take_turns),
		cmocka_unit_test(test_kill_writer),
		cmocka_unit_test(test_begin_commit),
		cmocka_unit_test(test_upgrade),
	};

	log_open("test_userdb", LOG_TO_STDERR, LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
