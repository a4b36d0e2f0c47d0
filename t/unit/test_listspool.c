/*
 * test_listspool.c - unit tests for the list spool (common/listspool.c):
 * durable write and read back byte-exact, faults on every durability
 * step leave nothing behind (DMAIL_FAULT in a forked child, since the
 * fault table is set once per process), malformed spool files, and the
 * RCPT-time check following edits of lists.dat without a reload.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "conf.h"
#include "lists.h"
#include "listspool.h"
#include "sys.h"
#include "util.h"

static char base[256];

static int
setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/test_listspool.XXXXXX");
	return mkdtemp(base) != NULL ? 0 : -1;
}

static int
rm_tree(const char *path)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

static int
teardown(void **state)
{
	(void)state;
	return rm_tree(base) == 0 ? 0 : -1;
}

static void
load_conf(struct dmail_conf *c, const char *extra)
{
	struct buf text = BUF_INIT, err = BUF_INIT;

	buf_printf(&text, "hostname mx.example.test\nlocal_domains example.test"
	    "\nstate_dir %s/state\n%s", base, extra);
	memset(c, 0, sizeof(*c));
	if (conf_load_text("test.conf", text.data, text.len, c, &err) < 0) {
		print_error("%s", err.data);
		fail();
	}
	buf_free(&text);
	buf_free(&err);
}

/* Number of entries (not . and ..) in state/lists/spool/SUB. */
static int
count(const char *sub)
{
	char p[512];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(p, sizeof(p), "%s/state/lists/spool/%s", base, sub);
	if ((d = opendir(p)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
test_write_read(void **state)
{
	struct dmail_conf c;
	struct buf err = BUF_INIT, path = BUF_INIT;
	struct listspool_msg m;
	const char *rcpts[] = { "club@example.test", "club-request@example.test" };
	const char *msg = "Subject: hi\n\nline\n.dot\n\nno newline at end";
	char id[LISTSPOOL_ID_MAX], id2[LISTSPOOL_ID_MAX];

	(void)state;
	load_conf(&c, "");
	assert_int_equal(listspool_write_mem(&c, "alice@example.test", rcpts,
	    2, msg, strlen(msg), id, &err), 0);
	assert_int_equal(count("new"), 1);
	assert_int_equal(count("tmp"), 0);
	listspool_dir(&c, "new", &path);
	buf_printf(&path, "/%s", id);
	assert_int_equal(listspool_read(path.data, &m, 1 << 20, &err), 0);
	assert_string_equal(m.id, id);
	assert_string_equal(m.sender, "alice@example.test");
	assert_int_equal(m.rcpts.count, 2);
	assert_string_equal(m.rcpts.items[1], "club-request@example.test");
	assert_int_equal(m.message.len, strlen(msg));
	assert_memory_equal(m.message.data, msg, strlen(msg));
	assert_true(m.arrival > 0);
	listspool_msg_free(&m);

	/* null sender, and from a descriptor at an offset */
	{
		char tmpl[300];
		int fd;

		snprintf(tmpl, sizeof(tmpl), "%s/src", base);
		fd = open(tmpl, O_RDWR | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "JUNKbody\n", 9), 9);
		assert_int_equal(listspool_write_fd(&c, "", rcpts, 1, fd, 4, 5,
		    id2, &err), 0);
		close(fd);
	}
	assert_string_not_equal(id, id2);
	listspool_dir(&c, "new", &path);
	buf_printf(&path, "/%s", id2);
	assert_int_equal(listspool_read(path.data, &m, 1 << 20, &err), 0);
	assert_string_equal(m.sender, "");
	assert_string_equal(m.message.data, "body\n");
	listspool_msg_free(&m);

	/* the store-is-the-spool-file path used by deliver.c */
	{
		struct buf tp = BUF_INIT, hdr = BUF_INIT;
		int fd = listspool_create_tmp(&c, "bob@example.test", rcpts, 1,
		    &tp, &hdr);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, hdr.data, hdr.len),
		    (ssize_t)hdr.len);
		assert_int_equal(write(fd, "X: y\n\nz\n", 8), 8);
		close(fd);
		assert_int_equal(count("tmp"), 1);
		assert_int_equal(listspool_publish(&c, tp.data), 0);
		assert_int_equal(count("tmp"), 0);
		assert_int_equal(count("new"), 3);
		listspool_dir(&c, "new", &path);
		buf_append_str(&path, strrchr(tp.data, '/'));
		assert_int_equal(listspool_read(path.data, &m, 1 << 20, &err),
		    0);
		assert_string_equal(m.message.data, "X: y\n\nz\n");
		listspool_msg_free(&m);
		buf_free(&tp);
		buf_free(&hdr);
	}
	conf_free(&c);
	buf_free(&err);
	buf_free(&path);
}

/* In a child with DMAIL_FAULT=spec: the write fails with want_errno and
 * leaves neither tmp/ nor new/ files. */
static void
fault_case(const char *spec, int want_errno)
{
	pid_t pid;
	int status;

	rm_tree(base);
	assert_int_equal(mkdir(base, 0700), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct dmail_conf c;
		struct buf err = BUF_INIT;
		const char *rcpts[] = { "club@example.test" };
		int r;

		setenv("DMAIL_FAULT", spec, 1);
		sys_fault_init();
		load_conf(&c, "");
		r = listspool_write_mem(&c, "a@example.test", rcpts, 1,
		    "x\n", 2, NULL, &err);
		if (r != -1 || errno != want_errno || err.len == 0)
			_exit(10);
		if (count("new") != 0 || count("tmp") != 0)
			_exit(11);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_error("fault %s: child status %d\n", spec, status);
		fail();
	}
}

static void
test_faults(void **state)
{
	(void)state;
	fault_case("open:1:EACCES", EACCES);
	fault_case("write:1:ENOSPC", ENOSPC);
	fault_case("write:2:EIO", EIO);
	fault_case("fsync:1:ENOSPC", ENOSPC);
	fault_case("rename:1:EROFS", EROFS);
}

static void
test_read_errors(void **state)
{
	static const char *const bad[] = {
		"dmail-queue 1\nsender a@b.test\nrcpt x@y.test\n\nmsg\n",
		"dmail-list 1\nsender a@b.test\nrcpt x@y.test\n",
		"dmail-list 1\nrcpt x@y.test\n\nmsg\n",
		"dmail-list 1\nsender a@b.test\n\nmsg\n",
		"",
	};
	struct buf err = BUF_INIT;
	struct listspool_msg m;
	char p[300];

	(void)state;
	snprintf(p, sizeof(p), "%s/bad", base);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(write_file_durable(p, bad[i], strlen(bad[i]),
		    0600), 0);
		buf_reset(&err);
		assert_int_equal(listspool_read(p, &m, 1 << 20, &err), -1);
		assert_true(err.len > 0);
	}
	/* unknown keys are ignored */
	assert_int_equal(write_file_durable(p, "dmail-list 1\nfuture 9\n"
	    "sender \nrcpt x@y.test\n\nm\n", 45, 0600), 0);
	assert_int_equal(listspool_read(p, &m, 1 << 20, &err), 0);
	assert_string_equal(m.sender, "");
	listspool_msg_free(&m);
	snprintf(p, sizeof(p), "%s/missing", base);
	assert_int_equal(listspool_read(p, &m, 1 << 20, &err), -1);
	buf_free(&err);
}

static void
write_lists(const char *path, const char *text)
{
	assert_int_equal(write_file_durable(path, text, strlen(text), 0644), 0);
}

/* The test's process-long cache, as a deliver_ctx holds one. */
static struct lists_cache rcpt_cache;

static int
check_rcpt(const struct dmail_conf *c, const char *address)
{
	return listspool_check_rcpt(&rcpt_cache, c, address);
}

static void
test_check_rcpt(void **state)
{
	struct dmail_conf c;
	struct buf extra = BUF_INIT;
	char lists[300];
	struct timespec ts = { 0, 2000000 };

	(void)state;
	snprintf(lists, sizeof(lists), "%s/lists.dat", base);
	buf_printf(&extra, "lists_file %s\n", lists);
	load_conf(&c, extra.data);
	/* no file yet: no lists, nothing is a list address */
	assert_int_equal(check_rcpt(&c, "club@example.test"), 0);
	write_lists(lists, "list club@example.test\nowner o@example.test\n");
	assert_int_equal(check_rcpt(&c, "club@example.test"), 1);
	assert_int_equal(check_rcpt(&c, "CLUB-Request@Example.Test"),
	    1);
	assert_int_equal(check_rcpt(&c,
	    "club-bounces+a=b.test@example.test"), 1);
	assert_int_equal(check_rcpt(&c, "dlist@example.test"), 1);
	assert_int_equal(check_rcpt(&c, "bob@example.test"), 0);
	/* a list on a domain that is not local is not ours */
	write_lists(lists, "list club@example.test\nowner o@example.test\n"
	    "list far@other.test\nowner o@example.test\n");
	nanosleep(&ts, NULL);
	assert_int_equal(check_rcpt(&c, "far@other.test"), 0);
	/* a new list is seen at once (mtime/size changed) */
	write_lists(lists, "list club@example.test\nowner o@example.test\n"
	    "list news@example.test\nowner o@example.test\n");
	assert_int_equal(check_rcpt(&c, "news@example.test"), 1);
	/* a broken edit keeps the last good lists */
	write_lists(lists, "list club@example.test\nowner o@example.test\n"
	    "post whenever\n");
	assert_int_equal(check_rcpt(&c, "news@example.test"), 1);
	assert_int_equal(check_rcpt(&c, "nobody@example.test"), 0);
	conf_free(&c);

	/* A process that never saw a good file (a worker started after a
	 * bad edit) serves the last good copy another process kept in
	 * state_dir/lists/lists.dat.good ... */
	buf_reset(&extra);
	snprintf(lists, sizeof(lists), "%s/other.dat", base);
	write_lists(lists, "owner x@y.test\n");
	buf_printf(&extra, "lists_file %s\n", lists);
	load_conf(&c, extra.data);
	assert_int_equal(check_rcpt(&c, "news@example.test"), 1);
	assert_int_equal(check_rcpt(&c, "bob@example.test"), 0);
	conf_free(&c);
	/* ... and without such a copy says "don't know" (-1): 4xx, never
	 * a 550 for what may be a list address. */
	buf_reset(&extra);
	snprintf(lists, sizeof(lists), "%s/third.dat", base);
	write_lists(lists, "owner x@y.test\n");
	buf_printf(&extra, "lists_file %s\nstate_dir %s/state2\n", lists,
	    base);
	{
		struct buf text = BUF_INIT, err = BUF_INIT;

		buf_printf(&text, "hostname mx.example.test\nlocal_domains "
		    "example.test\n%s", extra.data);
		memset(&c, 0, sizeof(c));
		assert_int_equal(conf_load_text("t.conf", text.data, text.len,
		    &c, &err), 0);
		buf_free(&text);
		buf_free(&err);
	}
	assert_int_equal(check_rcpt(&c, "club@example.test"), -1);
	assert_int_equal(check_rcpt(&c, "club@example.test"), -1);
	conf_free(&c);
	lists_cache_free(&rcpt_cache);
	buf_free(&extra);
}

/* Each deliver_ctx has its own cache: one that has seen a good lists.dat
 * keeps serving it after a bad edit, while a fresh one (a worker started
 * after the edit, with no good copy kept) answers "don't know". */
static void
test_check_rcpt_own_cache(void **state)
{
	struct lists_cache a, b;
	struct dmail_conf c;
	struct buf extra = BUF_INIT;
	char lists[300];

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	snprintf(lists, sizeof(lists), "%s/own.dat", base);
	buf_printf(&extra, "lists_file %s\n", lists);
	load_conf(&c, extra.data);
	write_lists(lists, "list club@example.test\nowner o@example.test\n");
	assert_int_equal(listspool_check_rcpt(&a, &c, "club@example.test"), 1);
	write_lists(lists, "list club@example.test\npost whenever\n");
	/* no fallback copy for b: remove the one a kept */
	{
		struct buf fb = BUF_INIT;

		lists_fallback_path(&c, &fb);
		unlink(fb.data);
		buf_free(&fb);
	}
	assert_int_equal(listspool_check_rcpt(&b, &c, "club@example.test"),
	    -1);
	assert_int_equal(listspool_check_rcpt(&a, &c, "club@example.test"), 1);
	lists_cache_free(&a);
	lists_cache_free(&b);
	conf_free(&c);
	buf_free(&extra);
}

static void
test_unsub_token(void **state)
{
	struct dmail_conf c;
	struct lists l;
	struct buf err = BUF_INIT;
	char a[LIST_UNSUB_TOKEN_LEN + 1], b[LIST_UNSUB_TOKEN_LEN + 1];
	char p[400];
	struct stat st;

	(void)state;
	load_conf(&c, "");
	memset(&l, 0, sizeof(l));
	assert_int_equal(lists_parse("x", "list club@example.test\n"
	    "owner o@example.test\n", 44, &l, &err), 0);
	assert_int_equal(list_prepare_dir(&c, &l.items[0], &err), 0);
	assert_int_equal(list_unsub_token(&c, &l.items[0], "Ann@Remote.Test",
	    a), 0);
	assert_int_equal(strlen(a), LIST_UNSUB_TOKEN_LEN);
	snprintf(p, sizeof(p), "%s/state/lists/club@example.test/secret", base);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* same member, same token (the secret is kept) */
	assert_int_equal(list_unsub_token(&c, &l.items[0], "ann@remote.test",
	    b), 0);
	assert_string_equal(a, b);
	assert_int_equal(list_unsub_token(&c, &l.items[0], "ben@remote.test",
	    b), 0);
	assert_string_not_equal(a, b);
	/* a new secret (another installation) gives other tokens */
	unlink(p);
	assert_int_equal(list_unsub_token(&c, &l.items[0], "ann@remote.test",
	    b), 0);
	assert_string_not_equal(a, b);
	lists_free(&l);
	conf_free(&c);
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_read, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_check_rcpt, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_check_rcpt_own_cache, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unsub_token, setup,
		    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
