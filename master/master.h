/*
 * master.h - dmaild, the master process: module map and shared types.
 *
 * The master binds every listener, runs one pool of worker processes per
 * protocol, watches them over status pipes, keeps the shared-memory
 * scoreboard, reloads its configuration without dropping a connection,
 * and answers operators on the control socket. It never reads a byte of
 * network input.
 *
 * Files (one concern each) and what they offer:
 *
 * The files form a tree: a file calls only files listed below it (the
 * event loop on top, the epoll set at the bottom), never one above.
 *
 *   master.c         main(): arguments, start-up checks, daemon mode and
 *                    pid file; the event loop (dispatch on enum ev_kind).
 *   master_control.c the control socket (owner-only) and the status socket
 *                    (Prometheus text for any reader); bounded,
 *                    non-blocking clients.
 *   master_conf.c    master_conf_load(): parse + master-level checks
 *                    (run_as when root); master_mconf_new() /
 *                    master_mconf_put(): a configuration in effect, with
 *                    the sealed memfd workers read it from, shared by the
 *                    pools that run it; master_state_dirs();
 *                    master_reload(): staging parse, swap only when
 *                    valid, a new generation for the pools reloaded;
 *                    master_pool_names();
 *                    master_reload_finish(): retire their old
 *                    generation, after the answer.
 *   master_shutdown.c master_begin_shutdown(): close the listeners,
 *                    retire the workers, start the grace period;
 *                    master_pools_stop() / master_pools_start(): the
 *                    same for some pools while the others serve on;
 *                    master_live_workers(); master_shutdown_tick(): kill
 *                    what is left after shutdown_grace.
 *   master_status.c  master_status_read(): drain a pool's status pipe into
 *                    the scoreboard and the pool counters.
 *   master_pool.c    master_pool_maintain(): pre-fork workers_min, grow on
 *                    demand up to workers_max, shrink idle extras after
 *                    worker_idle_timeout, do not spawn while the pool is
 *                    throttled, warn once a minute when a pool is full;
 *                    master_pool_demand(), master_pool_retire_all(),
 *                    master_pool_init(), master_pool_configure(),
 *                    master_pool_next_timer().
 *   master_spawn.c   master_spawn(): start one worker, by fork + exec
 *                    with the fd contract of worker.h, or (worker_spawn
 *                    template, smtp and pop3 pools) by a request to the
 *                    pool's template process; master_reap(): collect dead
 *                    children (templates, and workers re-parented to the
 *                    master, a child subreaper) and account for them;
 *                    master_kill_all(), master_kill_pool(),
 *                    master_worker_retire(), master_worker_adopt(),
 *                    master_template_*().
 *   master_account.c master_pool_account(): a pool's starting/idle/busy
 *                    counters; master_pool_worker_died(),
 *                    master_pool_early_death(), master_pool_session_done():
 *                    crash counting and the throttle of a pool whose
 *                    workers die before their first session or keep dying
 *                    in sessions (exponential backoff).
 *   master_listen.c  master_listen_sync(): bind new listeners, keep
 *                    unchanged ones (same socket for life), close removed
 *                    ones; master_listen_watch(): let the master itself
 *                    watch a pool's listeners when no worker is ready;
 *                    master_listen_close_all(), master_listen_count(),
 *                    master_listen_queued().
 *   master_report.c  master_report_table() and master_report_prometheus():
 *                    the "status" texts; master_report_top_clients(): the
 *                    addresses holding most sessions of a pool.
 *   master_history.c master_history_tick(): every minute a sample of the
 *                    pools, the accepted and delivered counts, the
 *                    queue's size and deferred messages and state_dir's
 *                    free space into a ring of HISTORY_SAMPLES, kept in
 *                    state_dir/run/history across restarts;
 *                    master_history_report(): the "history" answer;
 *                    master_history_init(), master_history_timeout().
 *   master_notify.c  the service manager's notify socket (systemd
 *                    Type=notify): READY, RELOADING, STOPPING, STATUS
 *                    with the pools' counts, watchdog pings.
 *   master_sig.c     master_sig_init(): SIGCHLD/SIGHUP/SIGTERM/SIGINT via a
 *                    self-pipe; master_sig_drain().
 *   master_ev.c      master_ep_init(), master_ep_add(), master_ep_del():
 *                    the epoll set every file registers its descriptors in.
 *
 * Control protocol (control_socket, a unix stream socket, mode 0600):
 *   The client connects and sends ONE request line, at most 512 bytes,
 *   ended by LF: a command word and optional arguments separated by
 *   blanks. The master answers and closes the connection. The first line
 *   of every answer is "+OK" or "-ERR" followed by a short text; more
 *   lines of detail may follow. POOLS below is one or more of smtp,
 *   pop3, list, queue, or "all"; left out it means all. Commands:
 *     reload [POOLS]     re-read the configuration and apply it to POOLS
 *                        only ("+OK reloaded generation N", or "-ERR
 *                        configuration invalid" and one error per line;
 *                        nothing changes); the others keep theirs
 *     shutdown [POOLS]   stop POOLS: close their listeners, retire their
 *                        workers (sessions finish, up to shutdown_grace);
 *                        "+OK stopping POOLS". When no pool is left
 *                        running (or for "all"), the master shuts down
 *                        ("+OK shutting down") and exits
 *     start POOLS        bring stopped POOLS back, listeners re-bound on
 *                        the same addresses ("+OK started POOLS")
 *     status             "+OK status", then the table per pool
 *     status prometheus  "+OK status", then Prometheus text format
 *     history            "+OK history N samples interval S", then the
 *                        last hour's samples, one "sample KEY=N ..." line
 *                        each, oldest first (master_history.c)
 *   Unknown commands get "-ERR unknown command", unknown pools "-ERR
 *   unknown pool NAME". A client has 5 seconds to send its line and read
 *   the answer; at most MASTER_MAX_CLIENTS are served at once. New
 *   commands are rows in control_commands[] in master_control.c.
 * Status socket (status_socket, mode 0666): whoever connects reads the
 *   Prometheus text (no request) until the master closes.
 */
#ifndef DMAIL_MASTER_H
#define DMAIL_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "conf.h"
#include "scoreboard.h"
#include "worker.h"

#define MASTER_MAX_CLIENTS 64
#define MASTER_CLIENT_TIMEOUT_MS 5000
#define MASTER_REQUEST_MAX 512
#define MASTER_SCOREBOARD_SLOTS 65536
#define MASTER_FULL_WARN_MS 60000
/* Workers a pool starts per turn of the event loop: a pool growing by
 * thousands (start-up, reload) does not stop the master from answering. */
#define MASTER_SPAWN_BATCH 64
/* Client addresses named by the full-pool warning and status. */
#define MASTER_TOP_CLIENTS 5
#define MASTER_THROTTLE_MIN_MS 1000
#define MASTER_THROTTLE_MAX_MS 60000
/* Early deaths in a row tolerated before the pool is throttled. */
#define MASTER_THROTTLE_AFTER 2
/* Deaths during sessions in a row (no session completed in between,
 * none more than MASTER_SESSION_DEATH_GAP_MS after the one before)
 * before the pool is throttled: a crash or a kill -9 now and then is
 * not a crash loop. */
#define MASTER_THROTTLE_SESSION_AFTER 5
#define MASTER_SESSION_DEATH_GAP_MS (2 * MASTER_THROTTLE_MAX_MS)

/* What an epoll registration stands for. */
enum ev_kind {
	EV_SIGNAL = 1,
	EV_STATUS,        /* obj: struct pool */
	EV_LISTEN,        /* obj: struct listener (master watching it) */
	EV_CONTROL,       /* accept on the control socket */
	EV_STATUS_SOCKET, /* accept on the status socket */
	EV_CLIENT,        /* obj: struct client */
	EV_TEMPLATE,      /* obj: struct tmpl (its request socket) */
};

struct ev {
	enum ev_kind kind;
	void *obj;
};

struct listener {
	struct ev ev;
	enum listen_role role;
	char *text;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd;
	bool watched;             /* in the master's epoll */
	bool mark;                /* scratch for master_listen_sync */
	struct listener *next;
};

/* A template process (worker_spawn template): workers of one pool and
 * generation are forked from it on request (see worker.h). */
struct tmpl {
	struct ev ev;
	enum pool_id pool;
	pid_t pid;                /* 0 once reaped */
	int fd;                   /* request socket; -1 after end-of-file */
	uint32_t generation;
	bool closing;             /* asked to leave (socket shut for writing) */
	unsigned pending;         /* requests without a worker pid yet */
	struct tmpl *next;
};

struct worker {
	pid_t pid;                /* 0 while its template forks it */
	struct tmpl *tmpl;        /* pending on this template, or NULL */
	int slot;
	enum pool_id pool;
	uint32_t generation;
	enum worker_state state;
	uint64_t sessions;
	bool ever_busy;           /* started a session at least once */
	int channel;              /* write end; -1 once retired */
	int64_t started_ms;
	int64_t idle_since_ms;
	struct worker *prev, *next;       /* pool list */
	struct worker *hnext;             /* pid hash chain */
};

/* A configuration in effect (master.c keeps the newest full one, each
 * pool the one it runs): the parsed file, the sealed memfd its workers
 * read, and its generation. Shared; freed with its last reference. */
struct mconf {
	struct dmail_conf conf;
	int fd;
	uint32_t generation;
	unsigned refs;
};

/* Pool bits for the functions that act on some pools. */
#define POOL_BIT(id) (1u << (id))
#define POOL_ALL ((1u << POOL_COUNT) - 1)

struct pool {
	enum pool_id id;
	struct mconf *mc;         /* its configuration and generation */
	bool stopped;             /* "shutdown POOL": no listeners, no
	                           * workers started until "start POOL" */
	int64_t stop_deadline;    /* stopped: kill what is left then */
	bool stop_killed;
	struct ev ev;             /* status pipe */
	int status_rd, status_wr;
	unsigned char carry[sizeof(struct worker_status)];
	size_t carry_len;         /* partial message (never in practice) */
	bool enabled;
	bool listening;           /* pool serves listeners */
	bool disabled_logged;
	struct worker *workers;
	/* Live, not retired workers by state; retired ones only in total. */
	unsigned starting, idle, busy;
	unsigned total;           /* every live process, retired included */
	uint64_t sessions;        /* completed sessions, all workers ever */
	uint64_t crashes;         /* deaths by signal or non-zero exit */
	unsigned early_deaths;    /* in a row, before a first session */
	unsigned session_deaths;  /* in a row, during a session */
	int64_t last_session_death;
	const char *throttle_why; /* static text, for the status */
	unsigned throttle_ms;     /* current backoff */
	int64_t throttle_until;   /* now_ms() when spawning may resume */
	int64_t last_full_warn;
	int64_t spawn_retry;      /* after a failed fork: not before */
	int64_t enabled_since;
	struct tmpl *tmpl;        /* current template, NULL when none */
	bool spawn_more;          /* a batch was cut short: go on at once */
};

struct client {
	struct ev ev;
	int fd;
	bool is_status;           /* status socket: reply only */
	bool replying;
	bool shutdown_after;      /* "shutdown": start it once answered */
	struct buf in;
	struct buf out;
	size_t out_off;
	int64_t deadline;
	struct client *prev, *next;
};

struct master {
	char *conf_path;          /* absolute */
	struct mconf *mc;         /* newest full configuration: the master's
	                           * own settings (log, sockets, grace) */
	struct dmail_conf *conf;  /* &mc->conf */
	uint32_t generation;      /* newest generation handed out */
	struct scoreboard *sb;
	struct worker **by_slot;
	struct worker **by_pid;   /* hash buckets */
	struct listener *listeners;
	struct listener *staged;  /* bound by master_listen_sync(), not yet
	                           * committed: a reload being checked */
	struct pool pools[POOL_COUNT];
	int epfd;
	bool foreground;          /* -f: no detaching, log to stderr */
	bool no_detach;           /* -F: no detaching, log as configured */
	bool stopping;
	int64_t stop_deadline;
	bool killed;              /* SIGKILL sent to leftovers */
	int64_t started_ms;
	int64_t started_wall;     /* time(NULL) at start */
	int control_fd, status_fd;
	struct ev control_ev, status_ev, signal_ev;
	struct client *clients;
	unsigned nclients;
	struct tmpl *templates;   /* every template not yet reaped + closed */
	int pid_fd;
	char *pid_path;
	unsigned reload_pending;  /* POOL_BITs swapped; old workers not yet
	                           * retired */
};

#define MASTER_PID_BUCKETS 8192

/* master_ev.c */
void master_ep_init(struct master *m);
int master_ep_add(struct master *m, int fd, uint32_t events, struct ev *ev);
void master_ep_del(struct master *m, int fd);

/* master_shutdown.c */
void master_begin_shutdown(struct master *m, const char *why);
bool master_pools_stop(struct master *m, unsigned pools);
int master_pools_start(struct master *m, unsigned pools, struct buf *err);
unsigned master_live_workers(const struct master *m);
void master_shutdown_tick(struct master *m);

/* master_conf.c */
int master_conf_load(const char *path, struct dmail_conf *out,
    struct buf *err);
struct mconf *master_mconf_new(struct dmail_conf *conf, uint32_t generation);
void master_mconf_put(struct mconf *mc);
bool master_log_syslog(const struct master *m);
void master_log_open(struct master *m);
int master_state_dirs(const struct dmail_conf *conf);
int master_reload(struct master *m, unsigned pools, struct buf *msg);
void master_reload_finish(struct master *m);
void master_pool_names(unsigned mask, const char *sep, struct buf *out);

/* master_listen.c */
int master_listen_sync(struct master *m, const struct dmail_conf *conf,
    unsigned pools, struct buf *err, bool commit);
void master_listen_close_all(struct master *m);
void master_listen_close_pools(struct master *m, unsigned pools);
void master_listen_watch(struct master *m, enum pool_id pool, bool on);
unsigned master_listen_count(const struct master *m, enum pool_id pool);
unsigned master_listen_queued(const struct master *m, enum pool_id pool);

/* master_spawn.c */
int master_spawn(struct master *m, struct pool *p);
void master_reap(struct master *m);
void master_kill_all(struct master *m, int sig);
void master_kill_pool(struct master *m, struct pool *p, int sig);
void master_worker_retire(struct master *m, struct worker *w);
struct worker *master_worker_by_pid(struct master *m, pid_t pid);
void master_template_read(struct master *m, struct tmpl *t);
void master_template_close(struct master *m, struct pool *p);
unsigned master_template_count(const struct master *m);
void master_template_sweep(struct master *m);
void master_worker_adopt(struct master *m, struct worker *w, pid_t pid);

/* master_pool.c */
void master_pool_init(struct master *m);
void master_pool_configure(struct master *m, unsigned pools);
void master_pool_maintain(struct master *m);
void master_pool_retire_all(struct master *m);
void master_pool_retire(struct master *m, unsigned pools);
bool master_pool_running(const struct master *m);
void master_pool_demand(struct master *m, enum pool_id id);
int master_pool_next_timer(struct master *m);

/* master_account.c */
void master_pool_account(struct pool *p, struct worker *w, int sign);
void master_pool_worker_died(struct master *m, struct pool *p,
    struct worker *w, int status);
void master_pool_early_death(struct master *m, struct pool *p,
    const char *how);
void master_pool_session_done(struct pool *p);

/* master_status.c */
void master_status_read(struct master *m, struct pool *p);

/* master_sig.c */
int master_sig_init(void);
/* Returns a bit mask: 1 child, 2 reload, 4 shutdown. */
int master_sig_drain(int fd);
#define MASTER_SIG_CHILD 1
#define MASTER_SIG_RELOAD 2
#define MASTER_SIG_STOP 4

/* master_control.c */
int master_control_open(struct master *m);
void master_control_close(struct master *m);
void master_control_accept(struct master *m, bool status_socket);
void master_client_event(struct master *m, struct client *c,
    uint32_t events);
void master_client_timeouts(struct master *m);

/* master_report.c */
void master_report_table(struct master *m, struct buf *out);
void master_report_prometheus(struct master *m, struct buf *out);
void master_report_top_clients(struct master *m, const struct pool *p,
    struct buf *out);

/* master_history.c */
#define HISTORY_SAMPLES 60
void master_history_init(struct master *m);
void master_history_tick(struct master *m);
int master_history_timeout(int timeout_ms);
void master_history_report(struct master *m, struct buf *out);

/* master_notify.c */
void master_notify_init(void);
void master_notify_tick(struct master *m);
int master_notify_timeout(int timeout_ms);
void master_notify_reloading(void);
void master_notify_reloaded(struct master *m);
void master_notify_stopping(void);

#endif
