/*
 * scoreboard.h - the master's table of worker processes, in shared memory.
 *
 * The master creates the scoreboard (scoreboard_create) in a sealed memfd
 * and is the only writer of its header and slots. Every worker gets the
 * memfd as fd 6 (DMAIL_FD_SCOREBOARD) and maps those read-only
 * (scoreboard_attach; the peers and counters below read-write): the one
 * thing a worker reads from it is its pool's configuration generation
 * counter, which the master bumps on every successful reload of that
 * pool (one per pool: "tellpop reload" leaves the smtp workers alone). A
 * worker whose own generation differs from its pool's counter retires
 * after its current session.
 *
 * One slot per worker process holds its pid, pool, generation, state and
 * sessions served; the master fills slots from status pipe messages, so
 * the table is a faithful copy of what the workers reported.
 *
 * Peers: a second array, one struct scoreboard_peer per slot, starts on
 * its own page after the slots and is the one part a worker maps
 * read-write. A worker writes only its own entry: the client address of
 * the session it serves (scoreboard_peer_set) and clears it when the
 * session ends (scoreboard_peer_clear). Counting the entries of a pool
 * with a given address (scoreboard_peer_count) is the per-client
 * connection limit of worker.c; the master reads the entries to name the
 * addresses holding a full pool. The master clears a slot's entry when it
 * frees the slot, so a worker that dies mid-session never leaves a stale
 * count behind. A worker can only lie about its own client: the
 * master's fields stay read-only to it.
 *
 * Slots are handed out by the master from a free list kept in its own
 * memory (scoreboard_slot_alloc / scoreboard_slot_free): O(1), no scan.
 *
 * Counters: a third part, on its own pages after the peers and mapped
 * read-write by workers like them, holds the event counters of
 * "tellsmtp status --prometheus" (enum sb_counter) per pool and listener
 * role, and the queue manager's gauges. They are shared atomics, added
 * to with one relaxed atomic increment where the event happens and never
 * reset while the master runs: a worker's counts stay when it exits, is
 * killed, or is replaced by a reload, and no message to the master is
 * needed. (Per-slot counters folded by the master would avoid the shared
 * cache line, but an event costs a disk write or a network round trip;
 * one atomic add beside it is noise.) A worker binds its process once
 * (scoreboard_stats_bind, worker.c), names the role of each session
 * (scoreboard_stats_role), and then counts with scoreboard_count();
 * a process without a scoreboard (standalone -i, tools) counts nothing.
 * The master reads them with scoreboard_counter() and
 * scoreboard_queue_get().
 *
 * Errors: scoreboard_create() and scoreboard_attach() return NULL with
 * errno set; nothing else fails.
 */
#ifndef DMAIL_SCOREBOARD_H
#define DMAIL_SCOREBOARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "conf.h"

#define SCOREBOARD_MAGIC 0x444d5342u   /* "DMSB" */

struct scoreboard_slot {
	int32_t pid;            /* 0: slot free */
	uint32_t pool;          /* enum pool_id */
	uint32_t generation;    /* configuration the worker runs */
	uint32_t state;         /* enum worker_state */
	uint64_t sessions;      /* sessions served by this process */
	int64_t started_ms;     /* now_ms() at spawn */
	int64_t changed_ms;     /* now_ms() at last state change */
};

struct scoreboard_header {
	uint32_t magic;
	uint32_t nslots;
	uint32_t high;          /* slots >= high were never used: scans stop
	                         * here (master-written, atomic) */
	/* Per pool (enum pool_id), read with scoreboard_generation(): a
	 * reload of one pool leaves the others' workers alone. */
	uint32_t generation[POOL_COUNT];
};

/* A worker's client, in its slot's entry of the peer array. */
struct scoreboard_peer {
	uint32_t busy;          /* pool + 1 while a session runs, else 0;
	                         * written after addr, cleared first */
	uint32_t pad;
	uint8_t addr[16];       /* IPv6, or IPv4 as ::ffff:a.b.c.d */
};

/* Event counters (what each counts: dmaild(8), METRICS). */
enum sb_counter {
	SBC_ACCEPTED = 0,        /* SMTP: message answered 250 after DATA */
	SBC_REJECT_RELAY,        /* SMTP refusals by reason class ... */
	SBC_REJECT_UNKNOWN_USER,
	SBC_REJECT_POLICY,
	SBC_REJECT_SYNTAX,
	SBC_REJECT_SIZE,
	SBC_REJECT_TEMPFAIL,
	SBC_REJECT_RATE,         /* ... the last one: submission rates */
	SBC_DELIVERED_LOCAL,     /* recipients placed in a local Maildir */
	SBC_RELAYED,             /* queue: recipients a remote host took */
	SBC_DEFERRED,            /* queue: temporary failures of recipients */
	SBC_BOUNCED,             /* queue: recipients failed for good */
	SBC_LOGIN_OK,            /* SMTP AUTH, POP3 logins */
	SBC_LOGIN_FAILED,
	SBC_TLS,                 /* TLS handshakes completed (inbound) */
	SBC_LIST_DISTRIBUTED,    /* list posts sent to the members */
	SBC_LIST_HELD,           /* list posts held for a moderator */
	SBC_COUNT
};

/* Counter rows per pool: one per listener role, and ROLE_COUNT for work
 * that belongs to no listener (queue manager, list worker). */
#define SB_ROLE_NONE ROLE_COUNT
#define SB_ROLES (ROLE_COUNT + 1)

/* The counter part of the memfd. */
struct scoreboard_stats {
	uint64_t count[POOL_COUNT][SB_ROLES][SBC_COUNT];
	uint64_t queue_messages;        /* messages in the queue */
	int64_t queue_oldest;           /* arrival (Unix time) of the oldest */
	uint64_t queue_deferred;        /* of them waiting after a failure */
};

struct scoreboard;

/* Master: a new scoreboard with nslots slots, generation 1 for every
 * pool. */
struct scoreboard *scoreboard_create(uint32_t nslots);
/* Worker: map the master's scoreboard memfd read-only. */
struct scoreboard *scoreboard_attach(int fd);
void scoreboard_free(struct scoreboard *sb);

int scoreboard_fd(const struct scoreboard *sb);
uint32_t scoreboard_nslots(const struct scoreboard *sb);
/* The configuration generation pool's workers must run (0 when pool is
 * out of range). */
uint32_t scoreboard_generation(const struct scoreboard *sb, uint32_t pool);
/* Master only. */
void scoreboard_set_generation(struct scoreboard *sb, uint32_t pool,
    uint32_t gen);

/* Master only: take a free slot (cleared, pid set), or -1 when full. */
int scoreboard_slot_alloc(struct scoreboard *sb, pid_t pid, uint32_t pool,
    uint32_t generation);
/* Master only: the pid once fork() returned it. */
void scoreboard_slot_set_pid(struct scoreboard *sb, int slot, pid_t pid);
void scoreboard_slot_free(struct scoreboard *sb, int slot);
/* Master only: slots in use. */
uint32_t scoreboard_used(const struct scoreboard *sb);
/* Read access for everyone; NULL when slot is out of range. */
const struct scoreboard_slot *scoreboard_slot(const struct scoreboard *sb,
    int slot);
/* Master only: record a worker's reported state. False when the report
 * does not match the slot's pid (stale or forged message). */
bool scoreboard_update(struct scoreboard *sb, int slot, pid_t pid,
    uint32_t state, uint64_t sessions, int64_t when_ms);

/* The 16-byte key of an IP socket address (IPv4 as v4-mapped IPv6);
 * false for anything else (unix socket, pipe). */
bool scoreboard_peer_key(const struct sockaddr_storage *ss, uint8_t key[16]);
/* Worker: publish / withdraw the client of the session in its own slot. */
void scoreboard_peer_set(struct scoreboard *sb, int slot, uint32_t pool,
    const uint8_t key[16]);
void scoreboard_peer_clear(struct scoreboard *sb, int slot);
/* Sessions of pool whose client is key, the caller's own included. */
unsigned scoreboard_peer_count(const struct scoreboard *sb, uint32_t pool,
    const uint8_t key[16]);
/* The client of slot's session, or NULL when it serves none. */
const struct scoreboard_peer *scoreboard_peer(const struct scoreboard *sb,
    int slot);

/* Worker: count this process's events into pool's rows of sb (NULL:
 * count nothing). Inherited by processes forked after it. */
void scoreboard_stats_bind(struct scoreboard *sb, uint32_t pool);
/* Worker: the listener role of the session now served (enum
 * listen_role), or SB_ROLE_NONE. */
void scoreboard_stats_role(unsigned role);
/* One event of this process's pool and current role. */
void scoreboard_count(enum sb_counter c);
void scoreboard_count_n(enum sb_counter c, uint64_t n);
/* An SMTP refusal, classed by its reply: 4xx tempfail; x.1.1, x.1.2,
 * x.1.6, x.2.1 unknown_user; other x.1.x, x.5.x, x.6.x syntax; x.2.2,
 * x.2.3, x.3.4 size; anything else policy. Relay denials are counted
 * as SBC_REJECT_RELAY by the caller, which knows. */
enum sb_counter scoreboard_reject_class(int code, const char *enhanced);
void scoreboard_count_reject(int code, const char *enhanced);
/* Queue manager: the queue's size and its oldest message's arrival. */
void scoreboard_queue_publish(uint64_t messages, int64_t oldest);

/* Anyone: a counter's value (0 when out of range). */
uint64_t scoreboard_counter(const struct scoreboard *sb, uint32_t pool,
    unsigned role, enum sb_counter c);
/* The queue manager's last published figures. */
void scoreboard_queue_get(const struct scoreboard *sb, uint64_t *messages,
    int64_t *oldest);
/* Queue manager: messages waiting for a retry after a temporary failure
 * (not held); anyone: the last figure published. */
void scoreboard_queue_deferred_publish(uint64_t messages);
uint64_t scoreboard_queue_deferred(const struct scoreboard *sb);

#endif
