/*
 * util.c - file, descriptor, time and string helpers (see util.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sys.h"
#include "util.h"

int
read_file(const char *path, struct buf *out, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char chunk[IO_CHUNK];
	ssize_t n;

	if (fd < 0)
		return -1;
	buf_reset(out);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (out->len + (size_t)n > max) {
			errno = EFBIG;
			goto fail;
		}
		buf_append(out, chunk, (size_t)n);
	}
	close(fd);
	return 0;
fail: {
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}
}

/* Open path read-only (with extra flags), apply sync to the descriptor,
 * close it; errno is sync's. */
static int
sync_opened(const char *path, int flags, int (*sync)(int))
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
	int rc, saved;

	if (fd < 0)
		return -1;
	rc = sync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int
fsync_dir(const char *dir)
{
	return sync_opened(dir, O_DIRECTORY, sys_fsync);
}

int
fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len;

	if (slash == NULL)
		return fsync_dir(".");
	len = slash == path ? 1 : (size_t)(slash - path);
	if (len >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, len);
	dir[len] = '\0';
	return fsync_dir(dir);
}

/* fsync the directory of path; when it may not be read (EACCES),
 * syncfs() the file system through path itself (Linux: commits all
 * metadata, directories included). */
static int
sync_dir_of(const char *path)
{
	if (fsync_dir_of(path) == 0)
		return 0;
	if (errno != EACCES)
		return -1;
	return sync_opened(path, 0, syncfs);
}

int
durable_rename(const char *tmp, const char *path, bool replace)
{
	int saved;

	if (sys_rename(tmp, path) < 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	if (sync_dir_of(path) < 0) {
		/* Not durable: take a new name back, so that nothing the
		 * writer reports as failed is acted on. */
		saved = errno;
		if (!replace)
			unlink(path);
		errno = saved;
		return -1;
	}
	return 0;
}

int
durable_publish(int fd, const char *tmp, const char *path, bool replace)
{
	int saved;

	if (sys_fsync(fd) < 0) {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
		return -1;
	}
	if (sys_close(fd) < 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return durable_rename(tmp, path, replace);
}

int
write_file_durable(const char *path, const void *data, size_t len,
    mode_t mode)
{
	struct buf tmp = BUF_INIT;
	int fd, saved, rc = -1;

	buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	fd = sys_open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd >= 0 && write_all(fd, data, len) < 0) {
		saved = errno;
		close(fd);
		unlink(tmp.data);
		errno = saved;
		fd = -1;
	}
	if (fd >= 0)
		rc = durable_publish(fd, tmp.data, path, true);
	saved = errno;
	buf_free(&tmp);
	errno = saved;
	return rc;
}

int
mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (sys_mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (sys_mkdir(tmp, mode) < 0) {
		struct stat st;
		if (errno != EEXIST)
			return -1;
		/* Something exists: fine only if it is a directory. */
		if (stat(tmp, &st) < 0)
			return -1;
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return -1;
		}
	}
	return 0;
}

int
fd_set_cloexec(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0)
		return -1;
	flags = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
	return fcntl(fd, F_SETFD, flags);
}

int
fd_set_nonblock(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0)
		return -1;
	flags = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, flags);
}

bool
fd_is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = sys_write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *
str_lower(char *s)
{
	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

char *
str_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	return s;
}

bool
str_has_prefix_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

void
rfc5322_date(int64_t t, bool utc, struct buf *out)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
		"May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;
	long off = 0;

	/* By hand, not strftime(): %a and %b follow the locale. */
	if (utc)
		gmtime_r(&tt, &tm);
	else {
		localtime_r(&tt, &tm);
		off = tm.tm_gmtoff / 60;
	}
	buf_printf(out, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}

void
message_id(const char *host, struct buf *out)
{
	static unsigned counter;
	uint64_t r;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		/* No entropy (should not happen): still unique per host. */
		r = ((uint64_t)getpid() << 40) ^ ((uint64_t)now_ms() << 16) ^
		    ++counter;
	}
	buf_printf(out, "<%lld.%016llx@%s>", (long long)time(NULL),
	    (unsigned long long)r, host);
}

const char *
child_exit_text(int status, char *out, size_t size)
{
	if (WIFSIGNALED(status))
		snprintf(out, size, "killed by signal %d%s", WTERMSIG(status),
		    WCOREDUMP(status) ? " (core dumped)" : "");
	else if (WIFEXITED(status))
		snprintf(out, size, "exited with status %d",
		    WEXITSTATUS(status));
	else
		snprintf(out, size, "ended with wait status 0x%x", status);
	return out;
}

uint64_t
fnv1a64(const char *s)
{
	uint64_t h = 1469598103934665603ULL;      /* see util.h */

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;                /* FNV prime */
	}
	return h;
}

int
user_ids(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(user);

	if (pw == NULL)
		return -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int
drop_privileges(const char *user)
{
	struct passwd *pw;

	if (geteuid() != 0 || user == NULL)
		return 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		log_error("event=config-error user=%s reason=\"run_as: unknown "
		    "user\"", user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		log_error("event=config-error user=%s reason=\"run_as: "
		    "refusing to run workers as root\"", user);
		return -1;
	}
	if (setgid(pw->pw_gid) < 0 || initgroups(pw->pw_name, pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		log_error("event=setuid-failed user=%s error=\"%s\"", user,
		    strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		log_error("event=setuid-failed reason=\"dropped privileges can "
		    "be regained; refusing\"");
		return -1;
	}
	return 0;
}

void
version_print(const char *name)
{
	printf("%s (DMail) %s\n", name, PACKAGE_VERSION);
}

void
version_option(int argc, char **argv, const char *name)
{
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		version_print(name);
		exit(0);
	}
}
