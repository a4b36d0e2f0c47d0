/*
 * scoreboard.c - shared-memory worker table (see scoreboard.h).
 *
 * Layout of the memfd: a struct scoreboard_header, then nslots struct
 * scoreboard_slot, then (from the next page boundary) nslots struct
 * scoreboard_peer, then (from the next page boundary again) one struct
 * scoreboard_stats. The master maps it all read-write and seals its size;
 * a worker maps the header and slots read-only, so a worker bug cannot
 * corrupt the master's view of the other workers, and only the peer and
 * counter pages read-write. The generation counter, the high-water mark,
 * a peer's busy word and every counter are read and written with atomic
 * builtins: they are what processes read concurrently.
 *
 * The counting side keeps one piece of per-process state, stats_me:
 * where this process's events go (bound once by the worker runtime,
 * inherited across fork), so a count is one line wherever it happens.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netinet/in.h>
#include <stdio.h>

#include "buf.h"
#include "scoreboard.h"

struct scoreboard {
	int fd;
	bool writable;
	size_t size;
	struct scoreboard_header *hdr;
	struct scoreboard_slot *slots;
	struct scoreboard_peer *peers;
	struct scoreboard_stats *stats;
	void *peer_map;          /* worker: its own read-write mapping */
	size_t peer_off, peer_size;
	/* master only: free list of slot numbers, a stack */
	uint32_t *free_stack;
	uint32_t free_count;
};

/* Offset of the peer array: the first page boundary after the slots. */
static size_t
peer_offset(uint32_t nslots)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t end = sizeof(struct scoreboard_header) +
	    (size_t)nslots * sizeof(struct scoreboard_slot);

	return (end + page - 1) / page * page;
}

/* Offset of the counters: the first page boundary after the peers. */
static size_t
stats_offset(uint32_t nslots)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t end = peer_offset(nslots) +
	    (size_t)nslots * sizeof(struct scoreboard_peer);

	return (end + page - 1) / page * page;
}

static size_t
scoreboard_size(uint32_t nslots)
{
	return stats_offset(nslots) + sizeof(struct scoreboard_stats);
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
	sb->peer_off = peer_offset(nslots);
	sb->peers = (struct scoreboard_peer *)((char *)map + sb->peer_off);
	sb->stats = (struct scoreboard_stats *)((char *)map +
	    stats_offset(nslots));
	sb->hdr->magic = SCOREBOARD_MAGIC;
	sb->hdr->nslots = nslots;
	for (int i = 0; i < POOL_COUNT; i++)
		__atomic_store_n(&sb->hdr->generation[i], 1, __ATOMIC_RELEASE);
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
	/* The peer pages only, read-write: a worker's own client entry. */
	sb->peer_off = peer_offset(hdr->nslots);
	sb->peer_size = (size_t)st.st_size - sb->peer_off;
	sb->peer_map = mmap(NULL, sb->peer_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, (off_t)sb->peer_off);
	if (sb->peer_map == MAP_FAILED) {
		int e = errno;
		munmap(map, (size_t)st.st_size);
		free(sb);
		errno = e;
		return NULL;
	}
	sb->peers = sb->peer_map;
	sb->stats = (struct scoreboard_stats *)((char *)sb->peer_map +
	    (stats_offset(hdr->nslots) - sb->peer_off));
	return sb;
}

void
scoreboard_free(struct scoreboard *sb)
{
	if (sb == NULL)
		return;
	munmap(sb->hdr, sb->size);
	if (sb->peer_map != NULL)
		munmap(sb->peer_map, sb->peer_size);
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
scoreboard_generation(const struct scoreboard *sb, uint32_t pool)
{
	if (pool >= POOL_COUNT)
		return 0;
	return __atomic_load_n(&sb->hdr->generation[pool], __ATOMIC_ACQUIRE);
}

void
scoreboard_set_generation(struct scoreboard *sb, uint32_t pool, uint32_t gen)
{
	if (pool < POOL_COUNT)
		__atomic_store_n(&sb->hdr->generation[pool], gen,
		    __ATOMIC_RELEASE);
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
	if (n + 1 > __atomic_load_n(&sb->hdr->high, __ATOMIC_RELAXED))
		__atomic_store_n(&sb->hdr->high, n + 1, __ATOMIC_RELEASE);
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
	/* A worker that died in a session leaves no count behind. */
	scoreboard_peer_clear(sb, slot);
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

bool
scoreboard_peer_key(const struct sockaddr_storage *ss, uint8_t key[16])
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &in->sin_addr, 4);
		return true;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		memcpy(key, &in6->sin6_addr, 16);
		return true;
	}
	return false;
}

void
scoreboard_peer_set(struct scoreboard *sb, int slot, uint32_t pool,
    const uint8_t key[16])
{
	struct scoreboard_peer *p;

	if (slot < 0 || (uint32_t)slot >= sb->hdr->nslots)
		return;
	p = &sb->peers[slot];
	memcpy(p->addr, key, 16);
	__atomic_store_n(&p->busy, pool + 1, __ATOMIC_SEQ_CST);
}

void
scoreboard_peer_clear(struct scoreboard *sb, int slot)
{
	if (slot < 0 || (uint32_t)slot >= sb->hdr->nslots)
		return;
	__atomic_store_n(&sb->peers[slot].busy, 0, __ATOMIC_SEQ_CST);
}

unsigned
scoreboard_peer_count(const struct scoreboard *sb, uint32_t pool,
    const uint8_t key[16])
{
	uint32_t high = __atomic_load_n(&sb->hdr->high, __ATOMIC_ACQUIRE);
	unsigned n = 0;

	if (high > sb->hdr->nslots)
		high = sb->hdr->nslots;
	/* Our own entry is published (seq_cst) before this scan, so of two
	 * sessions from one address starting at once each sees the other:
	 * the limit may refuse one too many, never admit one too many. */
	for (uint32_t i = 0; i < high; i++) {
		const struct scoreboard_peer *p = &sb->peers[i];

		if (__atomic_load_n(&p->busy, __ATOMIC_SEQ_CST) == pool + 1 &&
		    memcmp(p->addr, key, 16) == 0)
			n++;
	}
	return n;
}

const struct scoreboard_peer *
scoreboard_peer(const struct scoreboard *sb, int slot)
{
	if (slot < 0 || (uint32_t)slot >= sb->hdr->nslots ||
	    __atomic_load_n(&sb->peers[slot].busy, __ATOMIC_ACQUIRE) == 0)
		return NULL;
	return &sb->peers[slot];
}

/* --- counters ----------------------------------------------------------- */

static struct {
	uint64_t *row;                 /* count[pool][role], NULL: unbound */
	struct scoreboard_stats *stats;
	uint32_t pool;
} stats_me;

void
scoreboard_stats_bind(struct scoreboard *sb, uint32_t pool)
{
	if (sb == NULL || pool >= POOL_COUNT) {
		memset(&stats_me, 0, sizeof(stats_me));
		return;
	}
	stats_me.stats = sb->stats;
	stats_me.pool = pool;
	stats_me.row = sb->stats->count[pool][SB_ROLE_NONE];
}

void
scoreboard_stats_role(unsigned role)
{
	if (stats_me.stats == NULL)
		return;
	if (role >= SB_ROLES)
		role = SB_ROLE_NONE;
	stats_me.row = stats_me.stats->count[stats_me.pool][role];
}

void
scoreboard_count_n(enum sb_counter c, uint64_t n)
{
	if (stats_me.row != NULL && (unsigned)c < SBC_COUNT && n > 0)
		__atomic_fetch_add(&stats_me.row[c], n, __ATOMIC_RELAXED);
}

void
scoreboard_count(enum sb_counter c)
{
	scoreboard_count_n(c, 1);
}

enum sb_counter
scoreboard_reject_class(int code, const char *enhanced)
{
	unsigned cls = 0, subject = 0, detail = 0;

	if (code >= 400 && code < 500)
		return SBC_REJECT_TEMPFAIL;
	if (enhanced == NULL ||
	    sscanf(enhanced, "%u.%u.%u", &cls, &subject, &detail) != 3)
		return SBC_REJECT_POLICY;
	if (cls == 4)
		return SBC_REJECT_TEMPFAIL;
	if ((subject == 1 && (detail == 1 || detail == 2 || detail == 6)) ||
	    (subject == 2 && detail == 1))
		return SBC_REJECT_UNKNOWN_USER;
	if (subject == 1 || subject == 5 || subject == 6)
		return SBC_REJECT_SYNTAX;
	if ((subject == 2 && (detail == 2 || detail == 3)) ||
	    (subject == 3 && detail == 4))
		return SBC_REJECT_SIZE;
	return SBC_REJECT_POLICY;
}

void
scoreboard_count_reject(int code, const char *enhanced)
{
	scoreboard_count(scoreboard_reject_class(code, enhanced));
}

void
scoreboard_queue_publish(uint64_t messages, int64_t oldest)
{
	if (stats_me.stats == NULL)
		return;
	__atomic_store_n(&stats_me.stats->queue_oldest, oldest,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&stats_me.stats->queue_messages, messages,
	    __ATOMIC_RELAXED);
}

uint64_t
scoreboard_counter(const struct scoreboard *sb, uint32_t pool, unsigned role,
    enum sb_counter c)
{
	if (pool >= POOL_COUNT || role >= SB_ROLES || (unsigned)c >= SBC_COUNT)
		return 0;
	return __atomic_load_n(&sb->stats->count[pool][role][c],
	    __ATOMIC_RELAXED);
}

void
scoreboard_queue_get(const struct scoreboard *sb, uint64_t *messages,
    int64_t *oldest)
{
	*messages = __atomic_load_n(&sb->stats->queue_messages,
	    __ATOMIC_RELAXED);
	*oldest = __atomic_load_n(&sb->stats->queue_oldest, __ATOMIC_RELAXED);
}

void
scoreboard_queue_deferred_publish(uint64_t messages)
{
	if (stats_me.stats != NULL)
		__atomic_store_n(&stats_me.stats->queue_deferred, messages,
		    __ATOMIC_RELAXED);
}

uint64_t
scoreboard_queue_deferred(const struct scoreboard *sb)
{
	return __atomic_load_n(&sb->stats->queue_deferred, __ATOMIC_RELAXED);
}
