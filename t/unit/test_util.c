/*
 * test_util.c - unit tests for the file, descriptor and string helpers
 * (common/util.c), including the durable write under injected faults
 * (common/sys.c, DMAIL_FAULT) in child processes, and the one home of
 * texts every program writes: RFC 5322 dates, Message-IDs, spool ids
 * (common/spool.c), child-exit texts, the FNV-1a hash.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "spool.h"
#include "sys.h"
#include "util.h"
#include "unit_tmpdir.h"


static int
setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/test_util.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	return unit_tmpdir_remove();
}

static void
path_in(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", tmpdir, name);
}

/* Entries of tmpdir (excluding . and ..), for "nothing left behind". */
static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
test_read_file(void **state)
{
	char p[PATH_MAX];
	struct buf b = BUF_INIT;
	(void)state;

	path_in(p, sizeof(p), "r.txt");
	assert_int_equal(write_file_durable(p, "hello\0world", 11, 0600), 0);
	assert_int_equal(read_file(p, &b, 100), 0);
	assert_int_equal(b.len, 11);
	assert_memory_equal(b.data, "hello\0world", 11);
	assert_int_equal(b.data[b.len], '\0');
	/* exactly max is fine, one byte less is EFBIG */
	assert_int_equal(read_file(p, &b, 11), 0);
	errno = 0;
	assert_int_equal(read_file(p, &b, 10), -1);
	assert_int_equal(errno, EFBIG);
	errno = 0;
	path_in(p, sizeof(p), "missing");
	assert_int_equal(read_file(p, &b, 100), -1);
	assert_int_equal(errno, ENOENT);
	/* an empty file */
	path_in(p, sizeof(p), "empty");
	assert_int_equal(write_file_durable(p, "", 0, 0600), 0);
	assert_int_equal(read_file(p, &b, 100), 0);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void
test_write_file_durable(void **state)
{
	char p[PATH_MAX];
	struct buf b = BUF_INIT;
	struct stat st;
	int before;
	(void)state;

	path_in(p, sizeof(p), "d.txt");
	before = count_entries(tmpdir);
	assert_int_equal(write_file_durable(p, "one", 3, 0640), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640 & ~(mode_t)umask(umask(0)));
	assert_int_equal(write_file_durable(p, "second", 6, 0640), 0);
	assert_int_equal(read_file(p, &b, 100), 0);
	assert_string_equal(buf_cstr(&b), "second");
	/* no temporary file left next to it */
	assert_int_equal(count_entries(tmpdir), before + 1);
	/* a directory that does not exist */
	path_in(p, sizeof(p), "nodir/x");
	assert_int_equal(write_file_durable(p, "x", 1, 0600), -1);
	assert_int_equal(errno, ENOENT);
	buf_free(&b);
}

/* In a child with DMAIL_FAULT set: a failing fsync or rename leaves the
 * old file intact and no temporary file behind, and reports the errno. */
static void
test_write_file_durable_faults(void **state)
{
	static const struct {
		const char *fault;
		int err;
	} cases[] = {
		{ "fsync:1:ENOSPC", ENOSPC },
		{ "write:1:EIO", EIO },
		{ "rename:1:EDQUOT", EDQUOT },
		{ "open:1:EACCES", EACCES },
		/* close(2) reporting a delayed write error: not renamed */
		{ "close:1:EIO", EIO },
	};
	char p[PATH_MAX];
	struct buf b = BUF_INIT;
	(void)state;

	path_in(p, sizeof(p), "f.txt");
	assert_int_equal(write_file_durable(p, "old", 3, 0600), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int before = count_entries(tmpdir), status;
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			setenv("DMAIL_FAULT", cases[i].fault, 1);
			sys_fault_init();
			errno = 0;
			if (write_file_durable(p, "new", 3, 0600) != -1)
				_exit(10);
			_exit(errno == cases[i].err ? 0 : 11);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		if (WEXITSTATUS(status) != 0)
			fail_msg("%s: child status %d", cases[i].fault,
			    WEXITSTATUS(status));
		assert_int_equal(read_file(p, &b, 100), 0);
		assert_string_equal(buf_cstr(&b), "old");
		assert_int_equal(count_entries(tmpdir), before);
	}
	buf_free(&b);
}

/* sys_close() with an injected EIO still closes the descriptor (a
 * caller must not close it twice) and reports the error. */
static void
test_sys_close_fault(void **state)
{
	int status;
	pid_t pid;
	(void)state;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fds[2];

		setenv("DMAIL_FAULT", "close:2:EIO", 1);
		sys_fault_init();
		if (pipe(fds) < 0)
			_exit(10);
		if (sys_close(fds[0]) != 0)        /* the 1st call works */
			_exit(11);
		errno = 0;
		if (sys_close(fds[1]) != -1 || errno != EIO)
			_exit(12);
		if (fcntl(fds[1], F_GETFD) != -1 || errno != EBADF)
			_exit(13);                 /* closed all the same */
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* durable_publish(), the one recipe: when only the directory fsync
 * (the second fsync) fails, a new name is taken back and a replaced
 * file keeps its new content; both report the errno. */
static void
test_durable_publish_dir_fsync_fails(void **state)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	struct buf b = BUF_INIT;
	(void)state;

	path_in(tmp, sizeof(tmp), "pub.tmp");
	path_in(dst, sizeof(dst), "pub");
	for (int replace = 0; replace <= 1; replace++) {
		int status;
		pid_t pid;

		unlink(dst);
		if (replace)
			assert_int_equal(write_file_durable(dst, "old", 3,
			    0600), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			int fd;

			setenv("DMAIL_FAULT", "fsync:2:EIO", 1);
			sys_fault_init();
			fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
			if (fd < 0 || write(fd, "new", 3) != 3)
				_exit(12);
			errno = 0;
			if (durable_publish(fd, tmp, dst, replace) != -1)
				_exit(10);
			_exit(errno == EIO ? 0 : 11);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_int_equal(access(tmp, F_OK), -1);
		if (replace) {
			assert_int_equal(read_file(dst, &b, 100), 0);
			assert_string_equal(buf_cstr(&b), "new");
		} else {
			assert_int_equal(access(dst, F_OK), -1);
		}
	}
	unlink(dst);
	buf_free(&b);
}

static void
test_mkdir_p(void **state)
{
	char p[PATH_MAX], f[PATH_MAX];
	struct stat st;
	(void)state;

	path_in(p, sizeof(p), "a/b//c/d");
	assert_int_equal(mkdir_p(p, 0750), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* existing directories are fine, also with a trailing slash */
	assert_int_equal(mkdir_p(p, 0750), 0);
	path_in(p, sizeof(p), "a/b/");
	assert_int_equal(mkdir_p(p, 0750), 0);
	/* a file in the way is an error, at the end or in the middle */
	path_in(f, sizeof(f), "a/file");
	assert_int_equal(write_file_durable(f, "x", 1, 0600), 0);
	errno = 0;
	assert_int_equal(mkdir_p(f, 0750), -1);
	assert_int_equal(errno, ENOTDIR);
	path_in(p, sizeof(p), "a/file/sub");
	assert_int_equal(mkdir_p(p, 0750), -1);
	/* too long */
	{
		char *lng = xmalloc(PATH_MAX + 10);
		memset(lng, 'x', PATH_MAX + 9);
		lng[0] = '/';
		lng[PATH_MAX + 9] = '\0';
		errno = 0;
		assert_int_equal(mkdir_p(lng, 0750), -1);
		assert_int_equal(errno, ENAMETOOLONG);
		free(lng);
	}
	/* fsync of a directory and of the directory of a file */
	assert_int_equal(fsync_dir(tmpdir), 0);
	assert_int_equal(fsync_dir_of(f), 0);
	path_in(p, sizeof(p), "nodir/x");
	assert_int_equal(fsync_dir_of(p), -1);
}

static void
test_fd_helpers(void **state)
{
	int fds[2], fl;
	char buf[100000];
	(void)state;

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(fd_set_cloexec(fds[0], true), 0);
	assert_true(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fd_set_cloexec(fds[0], false), 0);
	assert_false(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fd_set_nonblock(fds[0], true), 0);
	fl = fcntl(fds[0], F_GETFL);
	assert_true(fl & O_NONBLOCK);
	assert_int_equal(fd_set_nonblock(fds[0], false), 0);
	assert_false(fcntl(fds[0], F_GETFL) & O_NONBLOCK);
	assert_int_equal(fd_set_nonblock(-1, true), -1);

	/* write_all on a pipe with a reader: more than the pipe holds */
	{
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			size_t got = 0;
			ssize_t n;
			close(fds[1]);
			while ((n = read(fds[0], buf, sizeof(buf))) > 0)
				got += (size_t)n;
			_exit(got == 300000 ? 0 : 1);
		}
		close(fds[0]);
		memset(buf, 'w', sizeof(buf));
		for (int i = 0; i < 3; i++)
			assert_int_equal(write_all(fds[1], buf, sizeof(buf)), 0);
		close(fds[1]);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(write_all(-1, "x", 1), -1);
	assert_int_equal(errno, EBADF);
}

static void
test_strings_and_time(void **state)
{
	char s1[] = "  \t Hello World \r\n";
	char s2[] = " \r\n\t ";
	char s3[] = "MiXeD \xc3\x84";
	int64_t a, b;
	(void)state;

	assert_string_equal(str_trim(s1), "Hello World");
	assert_string_equal(str_trim(s2), "");
	assert_string_equal(str_lower(s3), "mixed \xc3\x84");
	assert_true(str_has_prefix_ci("MAIL FROM:<a>", "mail from:"));
	assert_false(str_has_prefix_ci("MAIL", "mail from:"));
	assert_true(str_has_prefix_ci("x", ""));
	a = now_ms();
	usleep(20000);
	b = now_ms();
	assert_true(b - a >= 19 && b - a < 5000);
}

/* One fixed time in three zones: UTC, an offset east (with a half hour)
 * and west, the day of month always in two digits, English names in
 * any locale. */
static void
test_rfc5322_date(void **state)
{
	static const struct {
		int64_t t;
		const char *tz;
		bool utc;
		const char *want;
	} cases[] = {
		{ 1795833712, "UTC0", false, "Sat, 28 Nov 2026 02:41:52 +0000" },
		{ 1795833712, "IST-5:30", false,
		  "Sat, 28 Nov 2026 08:11:52 +0530" },
		{ 1795833712, "EST5", false, "Fri, 27 Nov 2026 21:41:52 -0500" },
		{ 1795833712, "EST5", true, "Sat, 28 Nov 2026 02:41:52 +0000" },
		{ 1704067200, "UTC0", true, "Mon, 01 Jan 2024 00:00:00 +0000" },
		{ 0, "UTC0", true, "Thu, 01 Jan 1970 00:00:00 +0000" },
	};
	struct buf b = BUF_INIT;
	char *old = getenv("TZ") != NULL ? xstrdup(getenv("TZ")) : NULL;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setenv("TZ", cases[i].tz, 1);
		tzset();
		buf_set(&b, "Date: ");
		rfc5322_date(cases[i].t, cases[i].utc, &b);  /* appends */
		assert_string_equal(b.data + 6, cases[i].want);
		assert_true(strlen(cases[i].want) < RFC5322_DATE_MAX);
	}
	if (old != NULL)
		setenv("TZ", old, 1);
	else
		unsetenv("TZ");
	tzset();
	free(old);
	buf_free(&b);
}

/* "<DIGITS.HEX16@host>", appended; no two alike, in one process or in
 * two forked from the same state. */
static void
test_message_id(void **state)
{
	enum { N = 1000 };
	static char ids[N + 1][80];
	struct buf b = BUF_INIT;
	int fds[2], status;
	pid_t pid;
	(void)state;

	for (int i = 0; i < N; i++) {
		const char *s;
		size_t len;

		buf_set(&b, "x");
		message_id("mx.example.test", &b);
		s = b.data + 1;
		len = strlen(s);
		assert_true(len < sizeof(ids[0]));
		assert_int_equal(s[0], '<');
		assert_int_equal(strspn(s + 1, "0123456789"), 10);
		assert_int_equal(s[11], '.');
		assert_int_equal(strspn(s + 12, "0123456789abcdef"), 16);
		assert_string_equal(s + 28, "@mx.example.test>");
		memcpy(ids[i], s, len + 1);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(ids[j], ids[i]);
	}
	/* A child forked after all this makes a different one. */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		buf_reset(&b);
		message_id("mx.example.test", &b);
		_exit(write(fds[1], b.data, b.len + 1) == (ssize_t)b.len + 1 ?
		    0 : 1);
	}
	close(fds[1]);
	assert_true(read(fds[0], ids[N], sizeof(ids[N])) > 0);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	for (int j = 0; j < N; j++)
		assert_string_not_equal(ids[j], ids[N]);
	buf_free(&b);
}

/* 24 upper-case hex digits, distinct in a tight loop (many per
 * microsecond) and across processes. */
static void
test_spool_new_id(void **state)
{
	enum { N = 5000 };
	static char ids[N][SPOOL_ID_MAX];
	(void)state;

	for (int i = 0; i < N; i++) {
		spool_new_id(ids[i]);
		assert_int_equal(strlen(ids[i]), 24);
		assert_int_equal(strspn(ids[i], "0123456789ABCDEF"), 24);
	}
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			if (strcmp(ids[i], ids[j]) == 0)
				fail_msg("id %d and %d: %s", i, j, ids[i]);
}

/* A child's end, as the master and the queue manager log it. */
static void
test_child_exit_text(void **state)
{
	char out[CHILD_EXIT_TEXT_MAX];
	int status;
	pid_t pid;
	(void)state;

	/* Built statuses: every case, core included, whatever the limits. */
	assert_string_equal(child_exit_text(0, out, sizeof(out)),
	    "exited with status 0");
	assert_string_equal(child_exit_text(75 << 8, out, sizeof(out)),
	    "exited with status 75");
	assert_string_equal(child_exit_text(SIGKILL, out, sizeof(out)),
	    "killed by signal 9");
	assert_string_equal(child_exit_text(SIGSEGV | 0x80, out, sizeof(out)),
	    "killed by signal 11 (core dumped)");
	/* Real children. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(3);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_string_equal(child_exit_text(status, out, sizeof(out)),
	    "exited with status 3");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 0, 0 };

		setrlimit(RLIMIT_CORE, &rl);
		raise(SIGTERM);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_string_equal(child_exit_text(status, out, sizeof(out)),
	    "killed by signal 15");
	/* A short buffer is cut, never overrun. */
	assert_string_equal(child_exit_text(SIGKILL, out, 10), "killed by");
}

/* The hash names quarantine files on disk (poison.c), so its values are
 * fixed: these are the ones both former copies (poison.c, the queue
 * manager's table) computed, with DMail's offset basis. */
static void
test_fnv1a64(void **state)
{
	(void)state;
	assert_true(fnv1a64("") == 0x14650fb0739d0383ULL);
	assert_true(fnv1a64("a") == 0x44bd8ad473cd9906ULL);
	assert_true(fnv1a64("foobar") == 0x88fad7c0a8ff07f2ULL);
	assert_true(fnv1a64("0123456789ABCDEF01234567") ==
	    0x6166cccd00a021cfULL);
}

static void
test_user_ids(void **state)
{
	uid_t uid = 1;
	gid_t gid = 1;
	(void)state;

	assert_int_equal(user_ids("root", &uid, &gid), 0);
	assert_int_equal(uid, 0);
	assert_int_equal(gid, 0);
	assert_int_equal(user_ids("no-such-user-dmail-test", &uid, &gid), -1);
	/* not root, or no user: nothing to do */
	if (geteuid() != 0)
		assert_int_equal(drop_privileges("nobody"), 0);
	assert_int_equal(drop_privileges(NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_write_file_durable),
		cmocka_unit_test(test_write_file_durable_faults),
		cmocka_unit_test(test_durable_publish_dir_fsync_fails),
		cmocka_unit_test(test_mkdir_p),
		cmocka_unit_test(test_fd_helpers),
		cmocka_unit_test(test_strings_and_time),
		cmocka_unit_test(test_sys_close_fault),
		cmocka_unit_test(test_rfc5322_date),
		cmocka_unit_test(test_message_id),
		cmocka_unit_test(test_spool_new_id),
		cmocka_unit_test(test_child_exit_text),
		cmocka_unit_test(test_fnv1a64),
		cmocka_unit_test(test_user_ids),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
