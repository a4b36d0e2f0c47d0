/*
 * test_userdb.c - cmocka tests of common/userdb.c: record encoding,
 * put/lookup/delete/foreach, passwords (yescrypt, SHA-512, foreign
 * hashes), login names, concurrent reader and writer processes (no torn
 * reads), and a writer killed with SIGKILL in the middle of a transaction
 * (recovery on the next open: the unfinished change is gone, committed
 * data intact, a reader that had the environment open carries on).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <crypt.h>
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

static char tmpdir[64];
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

/* A writer that holds a write lock for a moment while others read. */
static void
slow_writer(int fd)
{
	struct buf home = BUF_INIT, enc = BUF_INIT;
	struct user_record r;
	DB_ENV *env;
	DB *db;
	DB_TXN *txn;
	DBT k, v;

	conf_state_path(&conf, "db", &home);
	if (db_env_create(&env, 0) != 0 ||
	    env->open(env, home.data, DB_CREATE | DB_INIT_TXN |
	    DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_REGISTER |
	    DB_RECOVER, 0600) != 0 || db_create(&db, env, 0) != 0 ||
	    db->open(db, NULL, "users.db", NULL, DB_BTREE, DB_AUTO_COMMIT,
	    0600) != 0 || env->txn_begin(env, NULL, &txn, 0) != 0)
		_exit(2);
	make_rec(&r, "aaa@example.test", 1);
	userdb_encode(&r, &enc);
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = r.address;
	k.size = strlen(r.address);
	v.data = enc.data;
	v.size = enc.len;
	if (db->put(db, txn, &k, &v, 0) != 0 || write(fd, "w", 1) != 1)
		_exit(3);
	usleep(300000);
	if (txn->commit(txn, 0) != 0)
		_exit(4);
	db->close(db, 0);
	env->close(env, 0);
	_exit(0);
}

static void
test_busy_readers_wait(void **state)
{
	struct buf err = BUF_INIT;
	struct userdb *db;
	struct user_record r;
	int p[2], status, n = 0;
	char c;
	pid_t pid;

	(void)state;
	db = userdb_open(&conf, USERDB_WRITE, &err);
	assert_non_null(db);
	make_rec(&r, "bbb@example.test", 2);
	assert_int_equal(userdb_put(db, &r, &err), 0);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		slow_writer(p[1]);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	/* Lookup, listing and a write all wait for the lock, then work. */
	assert_int_equal(userdb_lookup(db, "aaa@example.test", &r), 1);
	assert_int_equal(userdb_foreach(db, count_cb, &n), 0);
	assert_true(n >= 2);
	make_rec(&r, "bbb@example.test", 3);
	assert_int_equal(userdb_put(db, &r, &err), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	userdb_close(db);
	buf_free(&err);
}

/* A writer that begins a transaction, writes, and waits to be killed. */
static void
dying_writer(int fd)
{
	struct buf home = BUF_INIT;
	DB_ENV *env;
	DB *db;
	DB_TXN *txn;
	DBT k, v;
	struct user_record r;
	struct buf enc = BUF_INIT;

	conf_state_path(&conf, "db", &home);
	if (db_env_create(&env, 0) != 0 ||
	    env->open(env, home.data, DB_CREATE | DB_INIT_TXN |
	    DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_REGISTER |
	    DB_RECOVER, 0600) != 0 || db_create(&db, env, 0) != 0 ||
	    db->open(db, NULL, "users.db", NULL, DB_BTREE, DB_AUTO_COMMIT,
	    0600) != 0 || env->txn_begin(env, NULL, &txn, 0) != 0)
		_exit(2);
	make_rec(&r, "ghost@example.test", 666);
	userdb_encode(&r, &enc);
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = r.address;
	k.size = strlen(r.address);
	v.data = enc.data;
	v.size = enc.len;
	if (db->put(db, txn, &k, &v, 0) != 0)
		_exit(3);
	/* Overwrite a committed record too, inside the same transaction. */
	make_rec(&r, "keep@example.test", 999);
	userdb_encode(&r, &enc);
	k.data = r.address;
	k.size = strlen(r.address);
	v.data = enc.data;
	v.size = enc.len;
	if (db->put(db, txn, &k, &v, 0) != 0)
		_exit(3);
	env->log_flush(env, NULL);
	if (write(fd, "k", 1) != 1)
		_exit(4);
	for (;;)
		pause();
}

static void
test_kill_writer(void **state)
{
	struct buf err = BUF_INIT;
	struct userdb *db, *early;
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

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		dying_writer(p[1]);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	/* A reader that joined while the writer was alive. */
	early = userdb_open(&conf, USERDB_READ, &err);
	assert_non_null(early);
	/* Another reader process (a second worker), also joined before. */
	int go[2];
	pid_t other;
	assert_int_equal(pipe(go), 0);
	other = fork();
	assert_true(other >= 0);
	if (other == 0) {
		struct userdb *o = userdb_open(&conf, USERDB_READ, &err);
		struct user_record rr;

		close(go[1]);
		if (o == NULL || read(go[0], &c, 1) != 1)
			_exit(2);
		if (userdb_lookup(o, "keep@example.test", &rr) != 1 ||
		    rr.quota_bytes != 7)
			_exit(3);
		if (userdb_lookup(o, "ghost@example.test", &rr) != 0)
			_exit(4);
		userdb_close(o);
		_exit(0);
	}
	close(go[0]);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));

	/* The early reader blocks at most on a lock timeout, then reopens,
	 * which recovers the environment, and sees the committed data. */
	assert_int_equal(userdb_lookup(early, "keep@example.test", &r), 1);
	assert_true(r.quota_bytes == 7);
	assert_int_equal(userdb_lookup(early, "ghost@example.test", &r), 0);
	/* The other reader finds the environment recovered under it
	 * (DB_RUNRECOVERY), reopens and carries on. */
	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);
	assert_int_equal(waitpid(other, &status, 0), other);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	userdb_close(early);

	/* A fresh open sees the same, and can write again. */
	db = userdb_open(&conf, USERDB_WRITE, &err);
	assert_non_null(db);
	assert_int_equal(userdb_lookup(db, "ghost@example.test", &r), 0);
	assert_int_equal(userdb_lookup(db, "keep@example.test", &r), 1);
	assert_true(r.quota_bytes == 7);
	make_rec(&r, "after@example.test", 8);
	assert_int_equal(userdb_put(db, &r, &err), 0);
	assert_int_equal(userdb_lookup(db, "after@example.test", &r), 1);
	userdb_close(db);
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
		cmocka_unit_test(test_busy_readers_wait),
		cmocka_unit_test(test_kill_writer),
	};

	log_open("test_userdb", LOG_TO_STDERR, LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
