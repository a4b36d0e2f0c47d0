/*
 * scoreboard.c - shared-memory worker table (see scoreboard.h).
 *
 * Layout of the memfd: a struct scoreboard_header, then nslots struct
 * scoreboard_slot. The master maps it read-write and seals its size; a
 * worker maps it read-only, so a worker bug cannot corrupt the master's
 * view of the other workers. The generation counter is read and written
 * with atomic builtins: it is the one field a worker reads concurrently.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "scoreboard.h"

struct scoreboard {
	int fd;
	bool writable;
	size_t size;
	struct scoreboard_header *hdr;
	struct scoreboard_slot *slots;
	/* master only: free list of slot numbers, a stack */
	uint32_t *free_stack;
	uint32_t free_count;
};

static size_t
scoreboard_size(uint32_t nslots)
{
	return sizeof(struct scoreboard_header) +
	    (size_t)nslots * sizeof(struct scoreboard_slot);
}

struct scoreboard *
scoreboard_create(uint32_t nslots)
{
	struct scoreboard *sb;
	size_t size = scoreboard_size(nslots);
	void *map;
	int fd;

	if (nslots == 0) {
		errno = EINVAL;
		return NULL;
	}
	fd = memfd_create("dmail-scoreboard", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return NULL;
	if (ftruncate(fd, (off_t)size) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	/* Workers must not be able to resize it under the master. */
	(void)fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	sb = xcalloc(1, sizeof(*sb));
	sb->fd = fd;
	sb->writable = true;
	sb->size = size;
	sb->hdr = map;
	sb->slots = (struct scoreboard_slot *)(sb->hdr + 1);
	sb->hdr->magic = SCOREBOARD_MAGIC;
	sb->hdr->nslots = nslots;
	__atomic_store_n(&sb->hdr->generation, 1, __ATOMIC_RELEASE);
	sb->free_stack = xcalloc(nslots, sizeof(uint32_t));
	/* Lowest slot numbers on top, so a small pool uses a few pages. */
	for (uint32_t i = 0; i < nslots; i++)
		sb->free_stack[i] = nslots - 1 - i;
	sb->free_count = nslots;
	return sb;
}

struct scoreboard *
scoreboard_attach(int fd)
{
	struct scoreboard *sb;
	struct stat st;
	struct scoreboard_header *hdr;
	void *map;

	if (fstat(fd, &st) < 0)
		return NULL;
	if ((size_t)st.st_size < sizeof(struct scoreboard_header)) {
		errno = EINVAL;
		return NULL;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return NULL;
	hdr = map;
	if (hdr->magic != SCOREBOARD_MAGIC ||
	    scoreboard_size(hdr->nslots) > (size_t)st.st_size) {
		munmap(map, (size_t)st.st_size);
		errno = EINVAL;
		return NULL;
	}
	sb = xcalloc(1, sizeof(*sb));
	sb->fd = fd;
	sb->size = (size_t)st.st_size;
	sb->hdr = hdr;
	sb->slots = (struct scoreboard_slot *)(hdr + 1);
	return sb;
}

void
scoreboard_free(struct scoreboard *sb)
{
	if (sb == NULL)
		return;
	munmap(sb->hdr, sb->size);
	if (sb->fd >= 0)
		close(sb->fd);
	free(sb->free_stack);
	free(sb);
}

int
scoreboard_fd(const struct scoreboard *sb)
{
	return sb->fd;
}

uint32_t
scoreboard_nslots(const struct scoreboard *sb)
{
	return sb->hdr->nslots;
}

uint32_t
scoreboard_generation(const struct scoreboard *sb)
{
	return __atomic_load_n(&sb->hdr->generation, __ATOMIC_ACQUIRE);
}

void
scoreboard_set_generation(struct scoreboard *sb, uint32_t gen)
{
	__atomic_store_n(&sb->hdr->generation, gen, __ATOMIC_RELEASE);
}

int
scoreboard_slot_alloc(struct scoreboard *sb, pid_t pid, uint32_t pool,
    uint32_t generation)
{
	struct scoreboard_slot *s;
	uint32_t n;

	if (!sb->writable || sb->free_count == 0)
		return -1;
	n = sb->free_stack[--sb->free_count];
	s = &sb->slots[n];
	memset(s, 0, sizeof(*s));
	s->pid = pid;
	s->pool = pool;
	s->generation = generation;
	return (int)n;
}

void
scoreboard_slot_set_pid(struct scoreboard *sb, int slot, pid_t pid)
{
	if (!sb->writable || slot < 0 || (uint32_t)slot >= sb->hdr->nslots)
		return;
	sb->slots[slot].pid = pid;
}

void
scoreboard_slot_free(struct scoreboard *sb, int slot)
{
	if (!sb->writable || slot < 0 || (uint32_t)slot >= sb->hdr->nslots ||
	    sb->slots[slot].pid == 0)
		return;
	memset(&sb->slots[slot], 0, sizeof(sb->slots[slot]));
	sb->free_stack[sb->free_count++] = (uint32_t)slot;
}

uint32_t
scoreboard_used(const struct scoreboard *sb)
{
	return sb->hdr->nslots - sb->free_count;
}

const struct scoreboard_slot *
scoreboard_slot(const struct scoreboard *sb, int slot)
{
	if (slot < 0 || (uint32_t)slot >= sb->hdr->nslots)
		return NULL;
	return &sb->slots[slot];
}

bool
scoreboard_update(struct scoreboard *sb, int slot, pid_t pid, uint32_t state,
    uint64_t sessions, int64_t when_ms)
{
	struct scoreboard_slot *s;

	if (!sb->writable || slot < 0 || (uint32_t)slot >= sb->hdr->nslots)
		return false;
	s = &sb->slots[slot];
	if (s->pid == 0 || s->pid != pid)
		return false;
	if (s->state != state)
		s->changed_ms = when_ms;
	s->state = state;
	s->sessions = sessions;
	return true;
}
