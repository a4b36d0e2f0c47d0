/*
 * test_util.c - unit tests for the file, descriptor and string helpers
 * (common/util.c), including the durable write under injected faults
 * (common/sys.c, DMAIL_FAULT) in child processes.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "sys.h"
#include "util.h"

static char tmpdir[64];

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
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
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
		cmocka_unit_test(test_mkdir_p),
		cmocka_unit_test(test_fd_helpers),
		cmocka_unit_test(test_strings_and_time),
		cmocka_unit_test(test_user_ids),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
