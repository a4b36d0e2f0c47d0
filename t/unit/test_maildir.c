/*
 * test_maildir.c - unit tests for common/maildir.c: unique Dovecot-style
 * names, S=/W= parsing, Maildir creation, placing a copy, usage.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "maildir.h"
#include "util.h"
#include "unit_tmpdir.h"


static int
setup(void **state)
{
	(void)state;
	return unit_tmpdir_make("test_maildir");
}

static int
teardown(void **state)
{
	(void)state;
	return unit_tmpdir_remove();
}

static void
test_unique_base_format_and_uniqueness(void **state)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	char host[64];
	long long secs;
	long usec, pid;
	unsigned long q;
	int n = 0;

	(void)state;
	maildir_unique_base("mx.example.test", &a);
	maildir_unique_base("mx.example.test", &b);
	assert_string_not_equal(a.data, b.data);
	assert_int_equal(sscanf(a.data, "%lld.M%ldP%ldQ%lu.%63s%n", &secs,
	    &usec, &pid, &q, host, &n), 5);
	assert_int_equal((size_t)n, a.len);
	assert_string_equal(host, "mx.example.test");
	assert_int_equal(pid, (long)getpid());
	assert_true(usec >= 0 && usec < 1000000);
	buf_free(&a);
	buf_free(&b);
}

static void
test_host_escaping(void **state)
{
	struct buf a = BUF_INIT;
	(void)state;
	maildir_unique_base("we/ird:host,x", &a);
	assert_non_null(strstr(a.data, ".we\\057ird\\072host\\054x"));
	assert_null(strchr(a.data, '/'));
	assert_null(strchr(a.data, ':'));
	assert_null(strchr(a.data, ','));
	buf_free(&a);
}

static void
test_name_sizes_round_trip(void **state)
{
	struct buf n = BUF_INIT;
	uint64_t s, w;

	(void)state;
	maildir_name("1700000000.M1P2Q3.host", 4096, 4180, &n);
	assert_string_equal(n.data, "1700000000.M1P2Q3.host,S=4096,W=4180");
	assert_int_equal(maildir_name_sizes(n.data, &s, &w), 0);
	assert_int_equal(s, 4096);
	assert_int_equal(w, 4180);
	/* With flags after the sizes (cur/ names). */
	assert_int_equal(maildir_name_sizes("1.M1P1Q1.h,S=10,W=12:2,S", &s,
	    &w), 0);
	assert_int_equal(s, 10);
	assert_int_equal(w, 12);
	/* Foreign names without sizes. */
	assert_int_equal(maildir_name_sizes("1234.5678.host", &s, &w), -1);
	assert_true(s == UINT64_MAX && w == UINT64_MAX);
	buf_free(&n);
}

static void
test_create_place_and_usage(void **state)
{
	char mb[512], src[600], path[700];
	struct stat st, st2;
	uint64_t bytes, msgs;

	(void)state;
	snprintf(mb, sizeof(mb), "%s/mail/example.test/alice", tmpdir);
	assert_int_equal(maildir_create(mb), 0);
	assert_int_equal(maildir_create(mb), 0);   /* existing is fine */
	snprintf(path, sizeof(path), "%s/cur", mb);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);

	snprintf(src, sizeof(src), "%s/tmp/x", mb);
	assert_int_equal(write_file_durable(src, "hello\n", 6, 0600), 0);
	assert_int_equal(maildir_place(src, mb, "1.M1P1Q1.h,S=6,W=7", false), 0);
	snprintf(path, sizeof(path), "%s/new/1.M1P1Q1.h,S=6,W=7", mb);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(stat(src, &st2), 0);
	assert_true(st.st_ino == st2.st_ino);   /* a hard link, not a copy */

	/* A Maildir that does not exist yet is created on the way. */
	snprintf(mb, sizeof(mb), "%s/mail/example.test/bob", tmpdir);
	assert_int_equal(maildir_place(src, mb, "2.M1P1Q1.h,S=6,W=7", false), 0);
	snprintf(path, sizeof(path), "%s/new/2.M1P1Q1.h,S=6,W=7", mb);
	assert_int_equal(stat(path, &st), 0);
	/* The same name twice is refused, never overwritten. */
	assert_int_equal(maildir_place(src, mb, "2.M1P1Q1.h,S=6,W=7", false),
	    -1);
	assert_int_equal(maildir_place(src, mb, "2.M1P1Q1.h,S=6,W=7", true),
	    -1);
	assert_int_equal(stat(src, &st2), 0);   /* nothing moved */
	/* move: the tmp name is gone, the new/ name is the same inode */
	assert_int_equal(maildir_place(src, mb, "4.M1P1Q1.h,S=6,W=7", true),
	    0);
	assert_int_equal(stat(src, &st), -1);
	snprintf(path, sizeof(path), "%s/new/4.M1P1Q1.h,S=6,W=7", mb);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_ino == st2.st_ino);

	snprintf(path, sizeof(path), "%s/cur/3.M1P1Q1.h,S=100,W=110:2,S", mb);
	assert_int_equal(write_file_durable(path, "x", 1, 0600), 0);
	assert_int_equal(maildir_usage(mb, &bytes, &msgs), 0);
	assert_int_equal(msgs, 3);     /* 2 and 4 in new/, 3 in cur/ */
	assert_int_equal(bytes, 112);
	/* No Maildir at all: empty. */
	snprintf(mb, sizeof(mb), "%s/mail/example.test/nobody", tmpdir);
	assert_int_equal(maildir_usage(mb, &bytes, &msgs), 0);
	assert_int_equal(msgs, 0);
}

static void
test_clean_tmp(void **state)
{
	char mb[512], old[600], fresh[600];
	struct timeval tv[2];

	(void)state;
	snprintf(mb, sizeof(mb), "%s/mb", tmpdir);
	assert_int_equal(maildir_create(mb), 0);
	snprintf(old, sizeof(old), "%s/tmp/old", mb);
	snprintf(fresh, sizeof(fresh), "%s/tmp/fresh", mb);
	assert_int_equal(write_file_durable(old, "x", 1, 0600), 0);
	assert_int_equal(write_file_durable(fresh, "x", 1, 0600), 0);
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= 40 * 3600;
	tv[1] = tv[0];
	assert_int_equal(utimes(old, tv), 0);
	assert_int_equal(maildir_clean_tmp(mb, 36 * 3600), 1);
	assert_int_equal(access(old, F_OK), -1);
	assert_int_equal(access(fresh, F_OK), 0);
	/* no Maildir: nothing to do */
	assert_int_equal(maildir_clean_tmp("/nonexistent/x", 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unique_base_format_and_uniqueness),
		cmocka_unit_test(test_host_escaping),
		cmocka_unit_test(test_name_sizes_round_trip),
		cmocka_unit_test_setup_teardown(test_create_place_and_usage,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_clean_tmp, setup,
		    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
