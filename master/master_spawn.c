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
 * master_reap() collects every dead child (WNOHANG loop after SIGCHLD),
 * frees its slot and lets the pool account for the death.
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
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "util.h"

extern char **environ;

#define SPAWN_MAX_FDS (DMAIL_FD_LISTEN + 64)

static const char *const own_env[] = { "DMAIL_CONF_PATH=", "DMAIL_LISTEN=",
	"DMAIL_SLOT=", "DMAIL_GENERATION=", "DMAIL_LOG_STDERR=" };

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

int
master_spawn(struct master *m, struct pool *p)
{
	const struct pool_conf *pc = &m->conf->pool[p->id];
	int src[SPAWN_MAX_FDS], nfds = 0, chan[2], slot, base = 0;
	char **envp, *argv[2];
	struct buf listen = BUF_INIT, tmp = BUF_INIT;
	size_t nenv = 0, i;
	struct worker *w;
	pid_t pid;

	slot = scoreboard_slot_alloc(m->sb, -1, p->id, m->generation);
	if (slot < 0) {
		log_warn("pool %s: scoreboard full (%u slots); not starting "
		    "a worker", pool_name(p->id), scoreboard_nslots(m->sb));
		return -1;
	}
	if (pipe2(chan, O_CLOEXEC) < 0) {
		log_warn("pool %s: pipe: %s", pool_name(p->id),
		    strerror(errno));
		scoreboard_slot_free(m->sb, slot);
		return -1;
	}

	src[nfds++] = m->conf_fd;
	src[nfds++] = p->status_wr;
	src[nfds++] = chan[0];
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
	buf_printf(&tmp, "DMAIL_CONF_PATH=%s", m->conf_path);
	envp[nenv++] = buf_steal(&tmp);
	buf_printf(&tmp, "DMAIL_LISTEN=%s", buf_cstr(&listen));
	envp[nenv++] = buf_steal(&tmp);
	buf_printf(&tmp, "DMAIL_SLOT=%d", slot);
	envp[nenv++] = buf_steal(&tmp);
	buf_printf(&tmp, "DMAIL_GENERATION=%u", m->generation);
	envp[nenv++] = buf_steal(&tmp);
	if (m->foreground)
		envp[nenv++] = xstrdup("DMAIL_LOG_STDERR=1");
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
	close(chan[0]);
	for (i = nenv - (m->foreground ? 5 : 4); i < nenv; i++)
		free(envp[i]);
	free(envp);
	buf_free(&listen);
	if (pid < 0) {
		log_warn("pool %s: fork: %s", pool_name(p->id),
		    strerror(errno));
		close(chan[1]);
		scoreboard_slot_free(m->sb, slot);
		return -1;
	}

	scoreboard_slot_set_pid(m->sb, slot, pid);
	w = xcalloc(1, sizeof(*w));
	w->pid = pid;
	w->slot = slot;
	w->pool = p->id;
	w->generation = m->generation;
	w->state = WORKER_STARTING;
	w->channel = chan[1];
	w->started_ms = now_ms();
	w->idle_since_ms = w->started_ms;
	w->next = p->workers;
	if (p->workers != NULL)
		p->workers->prev = w;
	p->workers = w;
	w->hnext = m->by_pid[(unsigned)pid % MASTER_PID_BUCKETS];
	m->by_pid[(unsigned)pid % MASTER_PID_BUCKETS] = w;
	m->by_slot[slot] = w;
	p->total++;
	master_pool_account(p, w, +1);
	{
		struct scoreboard_slot *s = (struct scoreboard_slot *)
		    scoreboard_slot(m->sb, slot);
		s->started_ms = w->started_ms;
		s->changed_ms = w->started_ms;
	}
	log_debug("pool %s: started pid %ld slot %d generation %u",
	    pool_name(p->id), (long)pid, slot, m->generation);
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

void
master_reap(struct master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct worker *w = master_worker_by_pid(m, pid);
		struct pool *p;

		if (w == NULL)
			continue;
		p = &m->pools[w->pool];
		hash_remove(m, w);
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
		if (w->channel >= 0)
			close(w->channel);
		master_pool_worker_died(m, p, w, status);
		free(w);
	}
}

void
master_kill_all(struct master *m, int sig)
{
	for (int i = 0; i < POOL_COUNT; i++)
		for (struct worker *w = m->pools[i].workers; w != NULL;
		    w = w->next)
			kill(w->pid, sig);
}
