/*
 * worker.h - the contract between the master (dmaild) and the worker
 * programs it runs, and the runtime every worker program runs in.
 *
 * A worker program's main() is one line:
 *
 *     int main(int argc, char **argv)
 *     { return worker_main(argc, argv, &smtpd_service); }
 *
 * worker_main() loads the configuration, calls service->init() (still
 * root if the master is, so keys and databases can be opened), drops
 * privileges to run_as, and then serves connections one at a time:
 * accept, service->session(), close, report, repeat, until max_use
 * sessions, or the master's channel reaches end-of-file (retire: finish
 * the current session, then exit 0), or the configuration generation in
 * the scoreboard moves past its own.
 *
 * How the master starts a worker (fork + exec of the pool's program):
 *   fd 3  DMAIL_FD_CONFIG      memfd holding the exact dmail.conf text the
 *                              master validated (never the file on disk,
 *                              which may have changed since)
 *   fd 4  DMAIL_FD_STATUS      write end of the pool's status pipe
 *   fd 5  DMAIL_FD_CHANNEL     read end of this worker's own channel;
 *                              end-of-file means "retire"
 *   fd 6  DMAIL_FD_SCOREBOARD  memfd of the scoreboard (see scoreboard.h)
 *   fd 7.. DMAIL_FD_LISTEN     listening sockets, non-blocking
 *   env DMAIL_LISTEN           roles of those sockets in order, comma
 *                              separated ("smtp,submission,smtps")
 *   env DMAIL_CONF_PATH        the configuration file's name (messages,
 *                              relative paths)
 *   env DMAIL_SLOT, DMAIL_GENERATION  scoreboard slot and generation
 *   env DMAIL_LOG_STDERR=1     log to stderr (master runs with -f)
 *   env DMAIL_LOG_SYSLOG=1     log to syslog (a detached master whose
 *                              configuration says "log stderr")
 * Nothing else is inherited: every other descriptor is close-on-exec.
 *
 * Template processes (worker_spawn template, the default, smtp and pop3
 * pools only): per pool and configuration generation the master starts
 * ONE process as above but with env DMAIL_TEMPLATE=1 and, on fd 5
 * (DMAIL_FD_REQUEST, where a worker has its channel), its end of a unix
 * SOCK_SEQPACKET socketpair. The template loads the configuration, runs
 * service->init(), drops privileges, trims its heap and then waits for
 * requests: one struct worker_request each, with the new worker's
 * channel (read end) attached as SCM_RIGHTS. For each it forks; that
 * child forks the worker, sends the master one struct worker_reply
 * (the worker's pid, or minus errno) and exits, so the worker is
 * re-parented to the master (a child subreaper). The worker moves the
 * received channel to fd 5 (which closes the request socket), flips
 * DMAIL_TEMPLATE=1 in its environment to DMAIL_TEMPLATE=0, calls
 * service->after_fork() and serves like an exec'd worker. The template
 * exits on end-of-file of the request socket (reload, shutdown).
 * Workers forked from one template share its address-space layout;
 * "worker_spawn exec" gives each worker its own randomisation.
 *
 * Standalone use (tests, inetd): "PROGRAM -c FILE -i [-r ROLE]" serves
 * one session on stdin/stdout with the given listener role (default: the
 * service's first role), and exits. Started as root, it drops to run_as
 * after init like a managed worker, and refuses to run without run_as.
 * The peer is taken from getpeername(0); on a pipe it is "local" and
 * counts as loopback.
 *
 * Per-client table: a worker of a listening pool (and a standalone one)
 * maps state_dir/run/clients (clienttab.h) before dropping privileges,
 * creating it if missing; a template's forked workers inherit the
 * mapping. Admission (below) counts each new connection
 * in it for client_connection_rate_limit; sessions reach the table as
 * worker_session.clients for the login penalty. Nothing of this is in
 * the fd contract.
 *
 * Admission (worker.c, admit(): the one place for every listening
 * pool): a managed worker records each session's client address in its
 * scoreboard slot (scoreboard.h, peers) for as long as the session runs.
 * A new connection from an address that already holds
 * client_connection_limit sessions of this pool, or that opened more
 * than client_connection_rate_limit connections in the last minute, and
 * is not in client_limit_exempt, is refused through service->refuse() before the
 * session starts; it costs the worker one reply.
 *
 * Master gone: the channel (fd 5) is signal-driven (O_ASYNC, SIGIO).
 * At its end-of-file, whether the master retired the worker or died,
 * the handler closes every listening socket at once (async-signal-safe
 * close()), so a worker finishing a session after its master died holds
 * no listener: a new dmaild can bind the same addresses immediately.
 * Template processes leave at end-of-file of their request socket,
 * which a dead master closes too.
 *
 * Status messages: STARTING is implied at spawn; a listening worker
 * reports IDLE whenever it waits in accept and BUSY for each session; a
 * worker of a pool without listeners reports BUSY once before run();
 * EXITING when it leaves on purpose. The master counts a worker that
 * dies without ever reporting BUSY as a start-up failure.
 */
#ifndef DMAIL_WORKER_H
#define DMAIL_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "clienttab.h"
#include "conf.h"
#include "stream.h"

#define DMAIL_FD_CONFIG 3
#define DMAIL_FD_STATUS 4
#define DMAIL_FD_CHANNEL 5
#define DMAIL_FD_SCOREBOARD 6
#define DMAIL_FD_LISTEN 7
#define DMAIL_FD_REQUEST 5      /* template processes only */

/* master -> template, on the request socket, with one SCM_RIGHTS fd */
struct worker_request {
	uint32_t slot;
	uint32_t generation;
};

/* template -> master: the forked worker of that slot */
struct worker_reply {
	uint32_t slot;
	uint32_t generation;
	int32_t pid;             /* > 0, or -errno when fork failed */
};

/* One message on the status pipe, worker -> master. Fixed size and
 * smaller than PIPE_BUF, so writes from many workers never interleave. */
enum worker_state {
	WORKER_STARTING = 0,  /* exec'd, not yet ready */
	WORKER_IDLE,          /* waiting in accept */
	WORKER_BUSY,          /* serving a session */
	WORKER_EXITING,       /* leaving on purpose (max_use, retire) */
};

struct worker_status {
	int32_t pid;
	uint32_t slot;
	uint32_t generation;
	uint32_t state;          /* enum worker_state */
	uint64_t sessions;       /* sessions served by this process so far */
};

/* One accepted connection, as handed to a service. */
struct worker_session {
	struct stream *stream;   /* plain; the service starts TLS itself */
	int fd;                  /* socket (or 0 in standalone mode) */
	enum listen_role role;
	struct sockaddr_storage peer;
	socklen_t peer_len;      /* 0 when unknown (standalone on a pipe) */
	char peer_ip[64];        /* "192.0.2.1", "2001:db8::1" or "local" */
	unsigned peer_port;
	char local_ip[64];
	unsigned local_port;
	bool peer_loopback;      /* 127.0.0.0/8, ::1, or standalone pipe */
	char id[24];             /* session id for log lines (sid=...) */
	struct clienttab *clients; /* the per-client table shared by all
	                          * workers (clienttab.h); NULL without one */
};

struct worker_service {
	const char *name;        /* program name for logs: "dmail-smtpd" */
	enum pool_id pool;
	enum listen_role default_role;   /* for standalone -i */
	/* Once per process, after the configuration is loaded and before
	 * privileges are dropped. Returns the service's state, or NULL after
	 * logging why (the worker then exits 1). */
	void *(*init)(const struct dmail_conf *conf);
	/* Serve one connection to its end. The runtime frees the stream and
	 * closes the socket afterwards. */
	void (*session)(void *state, const struct dmail_conf *conf,
	    struct worker_session *sess);
	/* For pools without listeners (queue manager, list processing):
	 * called instead of accepting; returns when worker_should_exit()
	 * becomes true or the work is done. NULL for listening services. */
	void (*run)(void *state, const struct dmail_conf *conf);
	/* Before exit (may be NULL). */
	void (*fini)(void *state);
	/* In a worker forked from a template process, before its first
	 * session (unprivileged): reopen per-process state that init()
	 * opened and that must not be shared with sibling workers, such as
	 * files locked with flock(). May be NULL. */
	void (*after_fork)(void *state, const struct dmail_conf *conf);
	/* A connection the runtime refuses before its session (admission
	 * control, see below): write the protocol's "try later" reply with
	 * reason (e.g. "too many connections from your address") to
	 * sess->stream, or nothing (implicit TLS). The runtime flushes it
	 * with a short timeout and closes. May be NULL: closed silently. */
	void (*refuse)(void *state, const struct dmail_conf *conf,
	    struct worker_session *sess, const char *reason);
};

int worker_main(int argc, char **argv, const struct worker_service *svc);

/* True when the master asked this worker to retire (channel EOF seen) or
 * a newer configuration generation exists. Long-running services (queue
 * manager, list processing) poll this between units of work. */
bool worker_should_exit(void);

#endif
