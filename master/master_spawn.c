/*
 * master_spawn.c - birth and death of worker processes.
 *
 * master_spawn() forks and execs the pool's program with the descriptor
 * contract of worker.h (fd 3 configuration memfd, 4 status pipe, 5 the
 * worker's own channel, 6 scoreboard, 7.. the pool's listeners) and the
 * DMAIL_* environment. Nothing else crosses exec: every descriptor the
 * master opens is close-on-exec. Returns 0, or -1 after logging (fork
 * failure, scoreboard full); the pool retries on its next turn.
 *
 * With worker_spawn template (smtp and pop3 pools), master_spawn() asks
 * the pool's template process of the current generation (started on
 * demand by the same fork + exec, env DMAIL_TEMPLATE=1, fd 5 its end of
 * a SOCK_SEQPACKET request socket) to fork a worker: a request names the
 * scoreboard slot and generation and carries the worker's channel. The
 * worker is recorded at once, without a pid; the pid comes from the
 * template's reply or from the worker's first status message, whichever
 * is read first (master_worker_adopt()). Forked workers are re-parented
 * to the master (PR_SET_CHILD_SUBREAPER). A request the template could
 * not serve (fork failed, the template died or was closed with requests
 * still queued) counts as a worker that died at start-up, and a template
 * that dies without being asked counts as one too, so a broken program
 * is throttled like in exec mode. A template leaves when the master
 * shuts its request socket for writing (reload, shutdown, pool
 * disabled); the master closes its end only at end-of-file, after every
 * reply has been read.
 *
 * master_reap() collects every dead child (WNOHANG loop after SIGCHLD),
 * frees its slot and lets the pool account for the death. It first reads
 * the templates' replies, so every forked worker's pid is known before
 * its death can be collected.
 *
 * master_worker_retire() closes the master's end of a worker's channel:
 * the worker sees end-of-file and leaves, after its current session if
 * it has one.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "util.h"

extern char **environ;

#define SPAWN_MAX_FDS (DMAIL_FD_LISTEN + 64)

static const char *const own_env[] = { "DMAIL_CONF_PATH=", "DMAIL_LISTEN=",
	"DMAIL_SLOT=", "DMAIL_GENERATION=", "DMAIL_LOG_STDERR=",
	"DMAIL_LOG_SYSLOG=",
	"DMAIL_TEMPLATE=" };

static bool
is_own_env(const char *e)
{
	for (size_t i = 0; i < sizeof(own_env) / sizeof(own_env[0]); i++)
		if (strncmp(e, own_env[i], strlen(own_env[i])) == 0)
			return true;
	return false;
}

struct worker *
master_worker_by_pid(struct master *m, pid_t pid)
{
	struct worker *w = m->by_pid[(unsigned)pid % MASTER_PID_BUCKETS];

	while (w != NULL && w->pid != pid)
		w = w->hnext;
	return w;
}

static void
hash_remove(struct master *m, struct worker *w)
{
	struct worker **pp = &m->by_pid[(unsigned)w->pid % MASTER_PID_BUCKETS];

	while (*pp != NULL && *pp != w)
		pp = &(*pp)->hnext;
	if (*pp != NULL)
		*pp = w->hnext;
}

/* fork + exec the pool's program with the fd contract of worker.h; chan
 * goes to fd 5 (a worker's channel, or a template's request socket). */
static pid_t
spawn_exec(struct master *m, struct pool *p, int slot, int chan,
    bool template)
{
	const struct pool_conf *pc = &p->mc->conf.pool[p->id];
	int src[SPAWN_MAX_FDS], nfds = 0, base = 0;
	char **envp, *argv[2];
	struct buf listen = BUF_INIT, tmp = BUF_INIT;
	size_t nenv = 0, own, i;
	pid_t pid;

	src[nfds++] = p->mc->fd;
	src[nfds++] = p->status_wr;
	src[nfds++] = chan;
	src[nfds++] = scoreboard_fd(m->sb);
	for (struct listener *l = m->listeners; l != NULL; l = l->next) {
		if (role_pool(l->role) != p->id || nfds >= SPAWN_MAX_FDS)
			continue;
		src[nfds++] = l->fd;
		buf_printf(&listen, "%s%s", listen.len ? "," : "",
		    role_name(l->role));
	}
	for (int k = 0; k < nfds; k++)
		if (src[k] >= base)
			base = src[k] + 1;
	if (base < DMAIL_FD_CONFIG + nfds)
		base = DMAIL_FD_CONFIG + nfds;

	/* Environment: ours plus everything inherited but our own names. */
	for (i = 0; environ[i] != NULL; i++)
		;
	envp = xcalloc(i + 8, sizeof(char *));
	for (i = 0; environ[i] != NULL; i++)
		if (!is_own_env(environ[i]))
			envp[nenv++] = environ[i];
	own = nenv;
	buf_printf(&tmp, "DMAIL_CONF_PATH=%s", m->conf_path);
	envp[nenv++] = buf_steal(&tmp);
	buf_printf(&tmp, "DMAIL_LISTEN=%s", buf_cstr(&listen));
	envp[nenv++] = buf_steal(&tmp);
	buf_printf(&tmp, "DMAIL_SLOT=%d", slot);
	envp[nenv++] = buf_steal(&tmp);
	buf_printf(&tmp, "DMAIL_GENERATION=%u", p->mc->generation);
	envp[nenv++] = buf_steal(&tmp);
	if (m->foreground)
		envp[nenv++] = xstrdup("DMAIL_LOG_STDERR=1");
	else if (master_log_syslog(m))
		envp[nenv++] = xstrdup("DMAIL_LOG_SYSLOG=1");
	if (template)
		envp[nenv++] = xstrdup("DMAIL_TEMPLATE=1");
	envp[nenv] = NULL;
	argv[0] = pc->program;
	argv[1] = NULL;

	pid = fork();
	if (pid == 0) {
		/* Child: async-signal-safe calls only until execve. */
		static const int sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT,
			SIGPIPE };
		struct sigaction sa;
		sigset_t all;
		int moved[SPAWN_MAX_FDS];

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
			sigaction(sigs[k], &sa, NULL);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		/* Move everything above the target range first, so that no
		 * dup2 overwrites a source still needed. */
		for (int k = 0; k < nfds; k++)
			if ((moved[k] = fcntl(src[k], F_DUPFD_CLOEXEC, base)) < 0)
				_exit(126);
		for (int k = 0; k < nfds; k++)
			if (dup2(moved[k], DMAIL_FD_CONFIG + k) < 0)
				_exit(126);
		execve(argv[0], argv, envp);
		{
			static const char msg[] = "dmaild: cannot execute "
			    "worker program\n";
			(void)!write(2, msg, sizeof(msg) - 1);
		}
		_exit(127);
	}
	for (i = own; i < nenv; i++)
		free(envp[i]);
	free(envp);
	buf_free(&listen);
	if (pid < 0)
		log_warn("event=fork-failed pool=%s error=\"%s\"",
		    pool_name(p->id), strerror(errno));
	return pid;
}

static bool
use_template(const struct pool *p)
{
	return p->listening &&
	    p->mc->conf.worker_spawn == WORKER_SPAWN_TEMPLATE;
}

unsigned
master_template_count(const struct master *m)
{
	unsigned n = 0;

	for (const struct tmpl *t = m->templates; t != NULL; t = t->next)
		if (t->pid > 0)
			n++;
	return n;
}

/* Ask the pool's template to leave: it serves what is queued, then sees
 * end-of-file. Its replies are still read until it closes. */
void
master_template_close(struct master *m, struct pool *p)
{
	struct tmpl *t = p->tmpl;

	(void)m;
	if (t == NULL)
		return;
	p->tmpl = NULL;
	t->closing = true;
	if (t->fd >= 0)
		shutdown(t->fd, SHUT_WR);
	log_debug("event=template-close pool=%s pid=%ld generation=%u",
	    pool_name(p->id), (long)t->pid, t->generation);
}

static struct tmpl *
template_get(struct master *m, struct pool *p)
{
	struct tmpl *t = p->tmpl;
	int sv[2];
	pid_t pid;

	if (t != NULL && t->generation == p->mc->generation && t->fd >= 0 &&
	    t->pid > 0)
		return t;
	master_template_close(m, p);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_warn("event=socketpair-failed pool=%s error=\"%s\"",
		    pool_name(p->id), strerror(errno));
		return NULL;
	}
	pid = spawn_exec(m, p, 0, sv[1], true);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return NULL;
	}
	fd_set_nonblock(sv[0], true);
	t = xcalloc(1, sizeof(*t));
	t->ev.kind = EV_TEMPLATE;
	t->ev.obj = t;
	t->pool = p->id;
	t->pid = pid;
	t->fd = sv[0];
	t->generation = p->mc->generation;
	if (master_ep_add(m, t->fd, EPOLLIN, &t->ev) < 0)
		log_fatal("epoll: %s", strerror(errno));
	t->next = m->templates;
	m->templates = t;
	p->tmpl = t;
	log_debug("event=template-start pool=%s pid=%ld generation=%u",
	    pool_name(p->id), (long)pid, p->mc->generation);
	return t;
}

/* Send one request with fd attached; 0 or -1 (errno). */
static int
template_request(struct tmpl *t, int slot, uint32_t generation, int fd)
{
	struct worker_request req = { (uint32_t)slot, generation };
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = { &req, sizeof(req) };
	struct msghdr msg;
	struct cmsghdr *c;
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	memset(&cm, 0, sizeof(cm));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		n = sendmsg(t->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(req) ? 0 : -1;
}

static void
worker_add(struct master *m, struct pool *p, pid_t pid, int slot, int chan)
{
	struct worker *w = xcalloc(1, sizeof(*w));

	w->slot = slot;
	w->pool = p->id;
	w->generation = p->mc->generation;
	w->state = WORKER_STARTING;
	w->channel = chan;
	w->started_ms = now_ms();
	w->idle_since_ms = w->started_ms;
	w->next = p->workers;
	if (p->workers != NULL)
		p->workers->prev = w;
	p->workers = w;
	m->by_slot[slot] = w;
	p->total++;
	master_pool_account(p, w, +1);
	{
		struct scoreboard_slot *s = (struct scoreboard_slot *)
		    scoreboard_slot(m->sb, slot);
		s->started_ms = w->started_ms;
		s->changed_ms = w->started_ms;
	}
	if (pid > 0)
		master_worker_adopt(m, w, pid);
	else {
		w->tmpl = p->tmpl;
		w->tmpl->pending++;
	}
}

void
master_worker_adopt(struct master *m, struct worker *w, pid_t pid)
{
	if (w->tmpl != NULL) {
		w->tmpl->pending--;
		w->tmpl = NULL;
	}
	if (w->pid > 0)
		return;
	w->pid = pid;
	scoreboard_slot_set_pid(m->sb, w->slot, pid);
	w->hnext = m->by_pid[(unsigned)pid % MASTER_PID_BUCKETS];
	m->by_pid[(unsigned)pid % MASTER_PID_BUCKETS] = w;
	log_debug("event=worker-start pool=%s pid=%ld slot=%d generation=%u",
	    pool_name(w->pool), (long)pid, w->slot, w->generation);
}

int
master_spawn(struct master *m, struct pool *p)
{
	int slot, chan[2];
	pid_t pid = 0;
	struct tmpl *t = NULL;

	if (use_template(p) && (t = template_get(m, p)) == NULL)
		return -1;
	slot = scoreboard_slot_alloc(m->sb, -1, p->id, p->mc->generation);
	if (slot < 0) {
		log_warn("event=scoreboard-full pool=%s limit=%u reason=\"not "
		    "starting a worker\"", pool_name(p->id),
		    scoreboard_nslots(m->sb));
		return -1;
	}
	if (pipe2(chan, O_CLOEXEC) < 0) {
		log_warn("event=pipe-failed pool=%s error=\"%s\"",
		    pool_name(p->id), strerror(errno));
		scoreboard_slot_free(m->sb, slot);
		return -1;
	}
	if (t != NULL) {
		if (template_request(t, slot, p->mc->generation, chan[0]) < 0) {
			log_warn("event=template-request-failed pool=%s "
			    "pid=%ld error=\"%s\"",
			    pool_name(p->id), (long)t->pid, strerror(errno));
			close(chan[0]);
			close(chan[1]);
			scoreboard_slot_free(m->sb, slot);
			return -1;
		}
	} else {
		pid = spawn_exec(m, p, slot, chan[0], false);
	}
	close(chan[0]);
	if (pid < 0) {
		close(chan[1]);
		scoreboard_slot_free(m->sb, slot);
		return -1;
	}
	worker_add(m, p, pid, slot, chan[1]);
	return 0;
}

void
master_worker_retire(struct master *m, struct worker *w)
{
	struct pool *p = &m->pools[w->pool];

	if (w->channel < 0)
		return;
	master_pool_account(p, w, -1);
	close(w->channel);
	w->channel = -1;
}

/* Forget a worker: unlink it, free its slot, account for its death
 * (count: towards crashes and throttling). */
static void
worker_remove(struct master *m, struct worker *w, int status, bool count)
{
	struct pool *p = &m->pools[w->pool];

	if (w->pid > 0)
		hash_remove(m, w);
	if (w->tmpl != NULL) {
		w->tmpl->pending--;
		w->tmpl = NULL;
	}
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		p->workers = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	master_pool_account(p, w, -1);
	p->total--;
	m->by_slot[w->slot] = NULL;
	scoreboard_slot_free(m->sb, w->slot);
	if (count)
		master_pool_worker_died(m, p, w, status);
	if (w->channel >= 0)
		close(w->channel);
	free(w);
}

/* Free templates that are reaped and closed. Not while an epoll batch
 * is being handled (it may still name them): after it, from run(). */
void
master_template_sweep(struct master *m)
{
	struct tmpl **pp = &m->templates;

	while (*pp != NULL) {
		struct tmpl *t = *pp;

		if (t->pid > 0 || t->fd >= 0) {
			pp = &t->next;
			continue;
		}
		*pp = t->next;
		free(t);
	}
}

/* End-of-file on a template's socket: requests still without a reply
 * will never get one. They are not counted: a template that died
 * unasked counts once (template_died), one closed by a reload or a
 * shutdown is not a failure. */
static void
template_eof(struct master *m, struct tmpl *t)
{
	struct pool *p = &m->pools[t->pool];
	struct worker *w, *next;

	master_ep_del(m, t->fd);
	close(t->fd);
	t->fd = -1;
	if (p->tmpl == t)
		p->tmpl = NULL;
	for (w = p->workers; w != NULL && t->pending > 0; w = next) {
		next = w->next;
		if (w->tmpl == t)
			worker_remove(m, w, W_EXITCODE(1, 0), false);
	}
}

void
master_template_read(struct master *m, struct tmpl *t)
{
	struct worker_reply rep;
	ssize_t n;

	while (t->fd >= 0) {
		n = recv(t->fd, &rep, sizeof(rep), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			template_eof(m, t);
			return;
		}
		if ((size_t)n != sizeof(rep) ||
		    rep.slot >= scoreboard_nslots(m->sb))
			continue;
		struct worker *w = m->by_slot[rep.slot];
		if (w == NULL || w->tmpl != t || w->generation != rep.generation)
			continue;
		if (rep.pid > 0) {
			master_worker_adopt(m, w, rep.pid);
		} else {
			log_warn("event=template-fork-failed pool=%s pid=%ld "
			    "error=\"%s\"",
			    pool_name(t->pool), (long)t->pid,
			    strerror(-rep.pid));
			worker_remove(m, w, W_EXITCODE(1, 0), true);
		}
	}
}

static void
template_died(struct master *m, struct tmpl *t, int status)
{
	struct pool *p = &m->pools[t->pool];
	char how[64];

	t->pid = 0;
	if (t->fd >= 0)
		master_template_read(m, t);   /* replies, then end-of-file */
	if (!t->closing && !m->stopping) {
		child_exit_text(status, how, sizeof(how));
		p->crashes++;
		log_warn("event=template-exit pool=%s generation=%u "
		    "reason=\"%s\"", pool_name(t->pool), t->generation, how);
		master_pool_early_death(m, p, how);
	}
	if (p->tmpl == t)
		p->tmpl = NULL;
}

void
master_reap(struct master *m)
{
	int status;
	pid_t pid;

	/* Replies first: a forked worker's pid must be known before its
	 * death is collected. */
	for (struct tmpl *t = m->templates, *next; t != NULL; t = next) {
		next = t->next;
		master_template_read(m, t);
	}
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct worker *w = master_worker_by_pid(m, pid);
		struct tmpl *t;

		if (w != NULL) {
			worker_remove(m, w, status, true);
			continue;
		}
		for (t = m->templates; t != NULL && t->pid != pid; t = t->next)
			;
		if (t != NULL)
			template_died(m, t, status);
	}
}

void
master_kill_all(struct master *m, int sig)
{
	for (int i = 0; i < POOL_COUNT; i++)
		master_kill_pool(m, &m->pools[i], sig);
}

/* Every worker and template process of one pool. */
void
master_kill_pool(struct master *m, struct pool *p, int sig)
{
	for (struct worker *w = p->workers; w != NULL; w = w->next)
		if (w->pid > 0)
			kill(w->pid, sig);
	for (struct tmpl *t = m->templates; t != NULL; t = t->next)
		if (t->pool == p->id && t->pid > 0)
			kill(t->pid, sig);
}
