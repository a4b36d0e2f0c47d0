/*
 * throttle.c - per-client-IP failed-login counters shared by all POP3
 * worker processes, against password guessing.
 *
 * The table is a file, state_dir/run/auth-throttle, of THROTTLE_SLOTS
 * fixed-size slots (64 bytes: the IP as text, a failure count and the
 * time of the last failure). An IP hashes (FNV-1a) to a slot and is
 * looked for in THROTTLE_PROBE slots from there; a new IP takes an empty
 * or forgotten slot, or else the one with the oldest failure. Each access
 * reads or writes only those few slots, under flock() of the file, so
 * many workers can share it; a crash leaves at worst one stale counter.
 * Counters are forgotten THROTTLE_FORGET seconds after the last failure,
 * and reset by a successful login from that IP.
 *
 * Policy (throttle_delay): after `threshold` failures (auth_throttle_
 * failures) each further authentication attempt from that IP waits
 * 1, 2, 4, ... seconds, at most max_delay (auth_throttle_max_delay),
 * before it is even checked.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pop3d.h"

#define THROTTLE_SLOTS 4096
#define THROTTLE_PROBE 8
#define THROTTLE_FORGET 900

struct throttle_slot {
	char ip[48];
	uint32_t failures;
	uint32_t pad;
	int64_t last;
};

unsigned
throttle_delay(unsigned failures, unsigned threshold, unsigned max_delay)
{
	unsigned over, d;

	if (threshold == 0 || max_delay == 0 || failures < threshold)
		return 0;
	over = failures - threshold;
	d = over >= 16 ? 1u << 16 : 1u << over;
	return d < max_delay ? d : max_delay;
}

int
throttle_open(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)THROTTLE_SLOTS *
	    sizeof(struct throttle_slot)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static uint32_t
fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Read the probe window of ip into slots[]; returns the first index. */
static int
throttle_read(int fd, const char *ip, struct throttle_slot *slots,
    uint32_t *first)
{
	*first = fnv1a(ip) % THROTTLE_SLOTS;
	for (int i = 0; i < THROTTLE_PROBE; i++) {
		off_t off = (off_t)((*first + i) % THROTTLE_SLOTS) *
		    sizeof(*slots);
		if (pread(fd, &slots[i], sizeof(*slots), off) !=
		    (ssize_t)sizeof(*slots))
			return -1;
		slots[i].ip[sizeof(slots[i].ip) - 1] = '\0';
	}
	return 0;
}

unsigned
throttle_failures(int fd, const char *ip)
{
	struct throttle_slot slots[THROTTLE_PROBE];
	uint32_t first;
	unsigned n = 0;
	int64_t now = time(NULL);

	if (fd < 0 || flock(fd, LOCK_SH) < 0)
		return 0;
	if (throttle_read(fd, ip, slots, &first) == 0)
		for (int i = 0; i < THROTTLE_PROBE; i++)
			if (strcmp(slots[i].ip, ip) == 0) {
				if (now - slots[i].last < THROTTLE_FORGET)
					n = slots[i].failures;
				break;
			}
	flock(fd, LOCK_UN);
	return n;
}

void
throttle_record(int fd, const char *ip, bool success)
{
	struct throttle_slot slots[THROTTLE_PROBE];
	uint32_t first;
	int64_t now = time(NULL);
	int use = -1, oldest = 0;

	if (fd < 0 || flock(fd, LOCK_EX) < 0)
		return;
	if (throttle_read(fd, ip, slots, &first) < 0)
		goto out;
	for (int i = 0; i < THROTTLE_PROBE; i++) {
		if (strcmp(slots[i].ip, ip) == 0) {
			use = i;
			break;
		}
		if (slots[i].last < slots[oldest].last)
			oldest = i;
	}
	if (use < 0) {
		if (success)
			goto out;
		for (int i = 0; i < THROTTLE_PROBE && use < 0; i++)
			if (slots[i].ip[0] == '\0' ||
			    now - slots[i].last >= THROTTLE_FORGET)
				use = i;
		if (use < 0)
			use = oldest;
		memset(&slots[use], 0, sizeof(slots[use]));
		snprintf(slots[use].ip, sizeof(slots[use].ip), "%s", ip);
	}
	if (success)
		memset(&slots[use], 0, sizeof(slots[use]));
	else {
		if (now - slots[use].last >= THROTTLE_FORGET)
			slots[use].failures = 0;
		slots[use].failures++;
		slots[use].last = now;
	}
	if (pwrite(fd, &slots[use], sizeof(slots[use]),
	    (off_t)((first + use) % THROTTLE_SLOTS) * sizeof(slots[use])) !=
	    (ssize_t)sizeof(slots[use]))
		log_warn("throttle: cannot update table: %s", strerror(errno));
out:
	flock(fd, LOCK_UN);
}
