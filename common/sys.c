/*
 * sys.c - fault-injectable wrappers for the durability system calls
 * (see sys.h). Nothing here is fatal.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sys.h"

enum sys_call { SC_OPEN, SC_WRITE, SC_FSYNC, SC_CLOSE, SC_RENAME, SC_LINK,
	SC_MKDIR, SC_COUNT };

static const char *const call_names[SC_COUNT] = { "open", "write", "fsync",
	"close", "rename", "link", "mkdir" };

/* Per call: fail from the Nth use on (0: never) with this errno. Test-only
 * state, set once at start from the environment. */
static struct {
	unsigned long fail_from;
	unsigned long calls;
	int err;
} faults[SC_COUNT];

static int
errno_by_name(const char *s)
{
	if (strcmp(s, "ENOSPC") == 0) return ENOSPC;
	if (strcmp(s, "EIO") == 0) return EIO;
	if (strcmp(s, "EDQUOT") == 0) return EDQUOT;
	if (strcmp(s, "EROFS") == 0) return EROFS;
	if (strcmp(s, "EACCES") == 0) return EACCES;
	return 0;
}

void
sys_fault_init(void)
{
	const char *spec = getenv("DMAIL_FAULT");
	char copy[256], *save = NULL;

	if (spec == NULL || *spec == '\0')
		return;
	strncpy(copy, spec, sizeof(copy) - 1);
	copy[sizeof(copy) - 1] = '\0';
	for (char *item = strtok_r(copy, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		char *name = item, *nth, *err;
		int i;

		nth = strchr(name, ':');
		if (nth == NULL)
			continue;
		*nth++ = '\0';
		err = strchr(nth, ':');
		if (err == NULL)
			continue;
		*err++ = '\0';
		for (i = 0; i < SC_COUNT; i++)
			if (strcmp(call_names[i], name) == 0)
				break;
		if (i == SC_COUNT || errno_by_name(err) == 0) {
			log_warn("event=fault-ignored reason=\"DMAIL_FAULT: "
			    "unknown call '%s'\"", name);
			continue;
		}
		faults[i].fail_from = strtoul(nth, NULL, 10);
		faults[i].err = errno_by_name(err);
		log_warn("event=fault-armed reason=\"DMAIL_FAULT: %s fails "
		    "from call %lu with %s\"", name, faults[i].fail_from, err);
	}
}

static int
should_fail(enum sys_call c)
{
	if (faults[c].fail_from == 0)
		return 0;
	if (++faults[c].calls >= faults[c].fail_from) {
		errno = faults[c].err;
		return 1;
	}
	return 0;
}

int
sys_open(const char *path, int flags, mode_t mode)
{
	if ((flags & O_CREAT) && should_fail(SC_OPEN))
		return -1;
	return open(path, flags, mode);
}

ssize_t
sys_write(int fd, const void *buf, size_t len)
{
	if (should_fail(SC_WRITE))
		return -1;
	return write(fd, buf, len);
}

int
sys_fsync(int fd)
{
	if (should_fail(SC_FSYNC))
		return -1;
	return fsync(fd);
}

int
sys_close(int fd)
{
	if (should_fail(SC_CLOSE)) {
		int err = errno;

		/* The descriptor is gone either way, as with a real EIO. */
		close(fd);
		errno = err;
		return -1;
	}
	return close(fd);
}

int
sys_rename(const char *from, const char *to)
{
	if (should_fail(SC_RENAME))
		return -1;
	return rename(from, to);
}

int
sys_link(const char *from, const char *to)
{
	if (should_fail(SC_LINK))
		return -1;
	return link(from, to);
}

int
sys_mkdir(const char *path, mode_t mode)
{
	if (should_fail(SC_MKDIR))
		return -1;
	return mkdir(path, mode);
}
