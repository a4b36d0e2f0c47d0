/*
 * test_poison.c - unit tests for the quarantine of poison messages
 * (common/poison.c): the start counter and its limit, a crash in a
 * child process with an armed item (the signal handler moves the file,
 * the reason is logged once by the next poison_report), a kill by
 * another process (nothing moved), listing and releasing.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "poison.h"
#include "util.h"
#include "unit_tmpdir.h"

/* In a sanitizer build, let the program's own SIGSEGV handler run, as
 * it does in a production build. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "allow_user_segv_handler=1";
}

static char spool[128], quar[128];

static int
setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/test_poison.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(spool, sizeof(spool), "%s/new", tmpdir);
	snprintf(quar, sizeof(quar), "%s/quarantine", tmpdir);
	return mkdir(spool, 0700);
}

static int
teardown(void **state)
{
	(void)state;
	return unit_tmpdir_remove();
}

static void
put(const char *dir, const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(write_file_durable(p, "message\n", 8, 0600), 0);
}

static bool
exists(const char *dir, const char *name)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0;
}

/* Starts that never finish: quarantined at the limit, not before. */
static void
test_attempts(void **state)
{
	struct poison_spool ps;
	struct buf err = BUF_INIT;
	struct poison_item *items;
	size_t n;

	(void)state;
	assert_int_equal(poison_open(&ps, "list", spool, quar, 3, &err), 0);
	put(spool, "A1");
	for (unsigned i = 1; i <= 3; i++) {
		assert_int_equal(poison_begin(&ps, "A1"), 0);
		assert_int_equal(poison_current(&ps), i);
		/* no poison_end: the worker "died" */
	}
	assert_int_equal(poison_begin(&ps, "A1"), 1);
	assert_false(exists(spool, "A1"));
	assert_true(exists(quar, "A1"));
	assert_int_equal(poison_list(quar, &items, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(items[0].name, "A1");
	assert_non_null(strstr(items[0].reason,
	    "spool=list file=A1 signal=none attempts=3"));
	poison_list_free(items, n);

	/* A start that finishes forgets the count. */
	put(spool, "B2");
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(poison_begin(&ps, "B2"), 0);
		assert_int_equal(poison_current(&ps), 1);
		poison_end(&ps);
	}
	assert_true(exists(spool, "B2"));

	/* Released: back in the spool, counted from 1 again. */
	assert_int_equal(poison_release(spool, quar, "A1", &err), 1);
	assert_true(exists(spool, "A1"));
	assert_false(exists(quar, "A1"));
	assert_int_equal(poison_release(spool, quar, "A1", &err), 0);
	assert_int_equal(poison_release(spool, quar, "../x", &err), -1);
	assert_int_equal(poison_begin(&ps, "A1"), 0);
	assert_int_equal(poison_current(&ps), 1);
	poison_end(&ps);
	assert_int_equal(poison_list(quar, &items, &n), 0);
	assert_int_equal(n, 0);
	poison_list_free(items, n);
	poison_close(&ps);
	buf_free(&err);
}

/* Crash (or be killed) in a child with item name armed; its status. */
static int
child(const char *name, int how)
{
	struct poison_spool ps;
	struct buf err = BUF_INIT;
	int status, fds[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		if (poison_open(&ps, "queue", spool, quar, 3, &err) < 0 ||
		    poison_begin(&ps, name) != 0)
			_exit(3);
		if (how == 0)
			raise(SIGSEGV);
		if (how == 1)
			abort();
		(void)!write(fds[1], "x", 1);    /* armed */
		pause();                /* killed by the parent */
		_exit(4);
	}
	close(fds[1]);
	if (how == 2 && read(fds[0], &c, 1) == 1)
		kill(pid, SIGSEGV);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	buf_free(&err);
	return status;
}

static void
test_signal_handler(void **state)
{
	struct poison_spool ps;
	struct buf err = BUF_INIT;
	struct poison_item *items;
	size_t n;
	int status;

	(void)state;
	put(spool, "C3");
	status = child("C3", 0);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	assert_false(exists(spool, "C3"));
	assert_true(exists(quar, "C3"));

	put(spool, "D4");
	status = child("D4", 1);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_true(exists(quar, "D4"));

	/* kill -SEGV from another process: not the item's fault. */
	put(spool, "E5");
	status = child("E5", 2);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	assert_true(exists(spool, "E5"));
	assert_false(exists(quar, "E5"));

	assert_int_equal(poison_list(quar, &items, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(items[0].name, "C3");
	assert_non_null(strstr(items[0].reason,
	    "spool=queue file=C3 signal=SIGSEGV attempts=1"));
	assert_non_null(strstr(items[1].reason, "signal=SIGABRT"));
	poison_list_free(items, n);
	/* Logged once: the pending reasons become logged ones. */
	assert_int_equal(poison_open(&ps, "queue", spool, quar, 3, &err), 0);
	poison_report(&ps);
	assert_int_equal(poison_list(quar, &items, &n), 0);
	assert_int_equal(n, 2);
	poison_list_free(items, n);
	poison_close(&ps);
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_attempts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_handler, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
