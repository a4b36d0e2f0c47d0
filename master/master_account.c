/*
 * master_account.c - a pool's counters and its crash throttle.
 *
 * master_pool_account() moves a live, not retired worker in or out of
 * its pool's starting/idle/busy counters; every change of a worker's
 * state is an account(-1), the change, an account(+1). The death of a
 * worker (master_pool_worker_died(), from master_spawn.c) or of a
 * template process (master_pool_early_death()) and every completed
 * session (master_pool_session_done(), from master_status.c) feed the
 * throttle:
 *
 * A worker that dies before starting its first session, and was not
 * asked to leave, is an "early death" (for a pool without listeners: one
 * that lived less than a second); MASTER_THROTTLE_AFTER of them in a row
 * stop the pool from spawning for 1 s, then 2 s, 4 s ... up to 60 s.
 * Workers that keep dying during sessions (by a signal or a non-zero
 * exit) are a crash loop too, e.g. a list or queue worker (in its
 * session from its start) that meets the same bad spool file again:
 * MASTER_THROTTLE_SESSION_AFTER such deaths
 * in a row (no session completed in between, and none more than
 * MASTER_SESSION_DEATH_GAP_MS after the previous one) throttle the pool
 * the same way. One crashing session, or a kill -9 now and then, does
 * not: it costs only that session. (A client that can crash workers at
 * will can hold new sessions back for the back-off; the crash is the bug
 * to fix, the throttle keeps the machine usable meanwhile.) The throttle
 * is logged once per period, with its reason, and shown by "status".
 * master_pool.c reads throttle_until before it spawns.
 *
 * This file calls no other master file: the policy (master_pool.c) and
 * the mechanism (master_spawn.c) both report to it.
 *
 * Panic (our own bug, log_assert): a state count (starting, idle, busy)
 * taken below zero, or more of them than live workers (total).
 */
#include "config.h"

#include <stdio.h>
#include <sys/wait.h>

#include "log.h"
#include "master.h"
#include "util.h"

static void pool_session_death(struct pool *p, const char *how);

void
master_pool_account(struct pool *p, struct worker *w, int sign)
{
	unsigned *n;

	if (w->channel < 0)
		return;
	switch (w->state) {
	case WORKER_STARTING:
		n = &p->starting;
		break;
	case WORKER_IDLE:
		n = &p->idle;
		break;
	case WORKER_BUSY:
		n = &p->busy;
		break;
	default:
		return;
	}
	log_assert(sign > 0 || *n > 0);
	*n += (unsigned)sign;
	log_assert(p->starting + p->idle + p->busy <= p->total);
}

void
master_pool_worker_died(struct master *m, struct pool *p, struct worker *w,
    int status)
{
	bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	/* Not asked to leave, and gone before doing any work. A pool
	 * without listeners "works" from its start, so there a life shorter
	 * than a second counts too, however it ended: that is how a program
	 * that exits at once would otherwise be restarted in a tight loop. */
	bool early = w->channel >= 0 &&
	    ((!w->ever_busy && w->state != WORKER_EXITING) ||
	    (!p->listening && now_ms() - w->started_ms < 1000));
	char how[CHILD_EXIT_TEXT_MAX];

	if (m->stopping || p->stopped) {
		log_debug("event=worker-exit pool=%s pid=%ld",
		    pool_name(p->id), (long)w->pid);
		return;
	}
	child_exit_text(status, how, sizeof(how));
	if (!clean) {
		p->crashes++;
		log_warn("event=worker-crash pool=%s pid=%ld generation=%u "
		    "reason=\"%s%s\"", pool_name(p->id), (long)w->pid,
		    w->generation, how, w->state == WORKER_BUSY ?
		    " during a session (only that session is lost)" : "");
	} else {
		log_debug("event=worker-exit pool=%s pid=%ld sessions=%llu",
		    pool_name(p->id), (long)w->pid,
		    (unsigned long long)w->sessions);
	}
	/* A worker of a pool without listeners reports BUSY as it starts
	 * (which forgets earlier early deaths), so its crash counts as one
	 * during a session however short its life. */
	if (!clean && w->ever_busy)
		pool_session_death(p, how);
	else if (early)
		master_pool_early_death(m, p, how);
}

/* Stop spawning for the next back-off period (1 s, 2 s, ... 60 s) once
 * in_row deaths reach after. With once_per_period, deaths of workers
 * that were running before the pool was throttled (sessions in
 * progress) neither extend the period nor log again. */
static void
pool_throttle(struct pool *p, unsigned in_row, unsigned after,
    bool once_per_period, const char *why, const char *how)
{
	int64_t now = now_ms();

	if (in_row < after || (once_per_period && now < p->throttle_until))
		return;
	p->throttle_ms = p->throttle_ms == 0 ? MASTER_THROTTLE_MIN_MS :
	    p->throttle_ms * 2;
	if (p->throttle_ms > MASTER_THROTTLE_MAX_MS)
		p->throttle_ms = MASTER_THROTTLE_MAX_MS;
	p->throttle_until = now + p->throttle_ms;
	p->throttle_why = why;
	log_warn("event=throttle pool=%s ms=%u reason=\"%u workers in a "
	    "row %s (last one %s)\"", pool_name(p->id), p->throttle_ms,
	    in_row, why, how);
}

/* A worker (or a template process) died before serving anything: after
 * MASTER_THROTTLE_AFTER in a row, stop spawning for a while. */
void
master_pool_early_death(struct master *m, struct pool *p, const char *how)
{
	(void)m;
	p->early_deaths++;
	pool_throttle(p, p->early_deaths, MASTER_THROTTLE_AFTER, false,
	    "died before serving a session", how);
}

/* A worker died in a session (after its first one): a crash loop when
 * it keeps happening with no session completed in between. */
static void
pool_session_death(struct pool *p, const char *how)
{
	int64_t now = now_ms();

	if (now - p->last_session_death > MASTER_SESSION_DEATH_GAP_MS)
		p->session_deaths = 0;
	p->last_session_death = now;
	p->session_deaths++;
	pool_throttle(p, p->session_deaths, MASTER_THROTTLE_SESSION_AFTER,
	    true, "died during a session", how);
}

/* A session completed: the workers of p work. */
void
master_pool_session_done(struct pool *p)
{
	p->session_deaths = 0;
	if (p->early_deaths == 0)
		p->throttle_ms = 0;
}
