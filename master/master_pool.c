/*
 * master_pool.c - how many workers each pool runs.
 *
 * Policy, for a pool with listeners (smtp, pop3):
 *   - keep workers_min workers ready (starting or idle), never more than
 *     workers_max live workers of the current generation;
 *   - when no worker is ready the master watches the pool's listeners
 *     itself and starts a worker per waiting connection (up to the max);
 *   - idle workers beyond workers_min that stayed idle for
 *     worker_idle_timeout are retired;
 *   - at workers_max with every worker busy, connections wait in the
 *     kernel's backlog; that is logged at most once a minute, with the
 *     client addresses holding most sessions (client_connection_limit
 *     bounds what one address can hold).
 * A pool without listeners (list, queue) runs workers_min workers, if its
 * program exists; so does the web pool when it has listeners (each web
 * worker serves many connections with its own event loop, webd/). Workers retired by a reload do not count towards
 * workers_max: they are finishing old sessions while new workers serve.
 *
 * A stopped pool ("shutdown pop3", master_shutdown.c) starts nothing
 * until it is started again; master_pool_running() tells whether any
 * pool still serves. Each pool runs the configuration of its own
 * generation (p->mc), so a reload of one pool leaves the others alone.
 *
 * Crash isolation: a dead worker is replaced by the policy above; the
 * counting of deaths and the throttle that stops a crash loop are in
 * master_account.c, below this file and master_spawn.c.
 *
 * Fatal: no status pipe or epoll registration at start. Panic (our own
 * bug, log_assert): the pool counters (master_account.c) recounted from
 * the worker list once a second (pool_check()) are not what the list
 * holds.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "util.h"

/* The counters against the worker list (O(workers), once a second). */
static void
pool_check(const struct pool *p)
{
	unsigned n[WORKER_EXITING + 1] = { 0 }, total = 0;

	for (const struct worker *w = p->workers; w != NULL; w = w->next) {
		log_assert(w->pool == p->id && w->state <= WORKER_EXITING);
		total++;
		if (w->channel >= 0)
			n[w->state]++;
	}
	log_assert(total == p->total && n[WORKER_STARTING] == p->starting &&
	    n[WORKER_IDLE] == p->idle && n[WORKER_BUSY] == p->busy);
}

void
master_pool_init(struct master *m)
{
	for (int i = 0; i < POOL_COUNT; i++) {
		struct pool *p = &m->pools[i];
		int fds[2];

		memset(p, 0, sizeof(*p));
		p->id = (enum pool_id)i;
		p->mc = m->mc;
		m->mc->refs++;
		p->ev.kind = EV_STATUS;
		p->ev.obj = p;
		if (pipe2(fds, O_CLOEXEC) < 0)
			log_fatal("status pipe: %s", strerror(errno));
		p->status_rd = fds[0];
		p->status_wr = fds[1];
		fd_set_nonblock(p->status_rd, true);
		/* Room for bursts of reports from thousands of workers. */
		(void)fcntl(p->status_rd, F_SETPIPE_SZ, 1024 * 1024);
		if (master_ep_add(m, p->status_rd, EPOLLIN, &p->ev) < 0)
			log_fatal("epoll: %s", strerror(errno));
	}
}

void
master_pool_configure(struct master *m, unsigned pools)
{
	int64_t now = now_ms();

	for (int i = 0; i < POOL_COUNT; i++) {
		struct pool *p = &m->pools[i];
		const char *prog = p->mc->conf.pool[i].program;
		bool was = p->enabled;

		/* A stopped pool keeps its state until it is started. */
		if (!(pools & POOL_BIT(i)) || p->stopped)
			continue;
		p->listening = i == POOL_SMTP || i == POOL_POP3;
		if (p->listening) {
			p->enabled = master_listen_count(m, p->id) > 0;
		} else if (i == POOL_WEB && master_listen_count(m, p->id) == 0) {
			/* The web pool serves its listeners with its own
			 * loop (webd/): none configured, nothing to run. */
			p->enabled = false;
		} else {
			p->enabled = access(prog, X_OK) == 0;
			if (!p->enabled && !p->disabled_logged)
				log_info("event=pool-disabled pool=%s path=%s "
				    "reason=\"not an executable program\"",
				    pool_name(p->id), prog);
			p->disabled_logged = !p->enabled;
		}
		if (p->enabled && !was)
			p->enabled_since = now;
		/* A reload may have fixed what made workers die. */
		p->early_deaths = 0;
		p->session_deaths = 0;
		p->throttle_ms = 0;
		p->throttle_until = 0;
	}
}

/* Retire idle extras that have been idle too long. */
static void
pool_shrink(struct master *m, struct pool *p, int64_t now)
{
	unsigned min = p->mc->conf.pool[p->id].workers_min;
	int64_t limit = (int64_t)p->mc->conf.worker_idle_timeout * 1000;
	unsigned excess;

	if (p->idle <= min)
		return;
	excess = p->idle - min;
	for (struct worker *w = p->workers; w != NULL && excess > 0;
	    w = w->next) {
		if (w->channel < 0 || w->state != WORKER_IDLE ||
		    now - w->idle_since_ms < limit)
			continue;
		log_debug("event=worker-retire pool=%s pid=%ld",
		    pool_name(p->id), (long)w->pid);
		master_worker_retire(m, w);
		excess--;
	}
}

static void
pool_maintain(struct master *m, struct pool *p, int64_t now, bool tick)
{
	const struct pool_conf *pc = &p->mc->conf.pool[p->id];
	unsigned active, ready, want = 0;

	if (p->tmpl != NULL && (m->stopping || !p->enabled || p->stopped ||
	    p->tmpl->generation != p->mc->generation ||
	    p->mc->conf.worker_spawn != WORKER_SPAWN_TEMPLATE))
		master_template_close(m, p);
	if (m->stopping || !p->enabled || p->stopped ||
	    now < p->throttle_until) {
		master_listen_watch(m, p->id, false);
		p->spawn_more = false;
		return;
	}
	active = p->starting + p->idle + p->busy;
	ready = p->starting + p->idle;
	if (p->listening) {
		if (ready < pc->workers_min)
			want = pc->workers_min - ready;
	} else if (active < pc->workers_min) {
		want = pc->workers_min - active;
	}
	if (active + want > pc->workers_max)
		want = active < pc->workers_max ? pc->workers_max - active : 0;
	p->spawn_more = want > MASTER_SPAWN_BATCH;
	if (p->spawn_more)
		want = MASTER_SPAWN_BATCH;
	while (want-- > 0 && now >= p->spawn_retry) {
		if (master_spawn(m, p) < 0) {
			/* fork or pipe failed (limits?): retry in a second
			 * instead of on every turn of the event loop. */
			p->spawn_retry = now + 1000;
			break;
		}
	}
	if (!p->listening)
		return;

	active = p->starting + p->idle + p->busy;
	ready = p->starting + p->idle;
	master_listen_watch(m, p->id, ready == 0 && active < pc->workers_max &&
	    now >= p->spawn_retry);
	if (tick) {
		pool_shrink(m, p, now);
		if (ready == 0 && active >= pc->workers_max &&
		    now - p->last_full_warn >= MASTER_FULL_WARN_MS &&
		    master_listen_queued(m, p->id) > 0) {
			struct buf top = BUF_INIT;

			p->last_full_warn = now;
			master_report_top_clients(m, p, &top);
			log_warn("event=pool-full pool=%s workers=%u "
			    "reason=\"all workers busy (%s_workers_max); "
			    "connections wait in the listen backlog\" "
			    "top_clients=\"%s\"", pool_name(p->id), active,
			    pool_name(p->id), buf_cstr(&top));
			buf_free(&top);
		}
	}
}

void
master_pool_maintain(struct master *m)
{
	static int64_t last_tick;
	int64_t now = now_ms();
	bool tick = now - last_tick >= 1000;

	if (tick)
		last_tick = now;
	for (int i = 0; i < POOL_COUNT; i++) {
		if (tick)
			pool_check(&m->pools[i]);
		pool_maintain(m, &m->pools[i], now, tick);
	}
}

/* A connection waits on a pool's listener and no worker is ready. */
void
master_pool_demand(struct master *m, enum pool_id id)
{
	struct pool *p = &m->pools[id];
	const struct pool_conf *pc = &p->mc->conf.pool[id];
	unsigned active = p->starting + p->idle + p->busy;
	unsigned want = master_listen_queued(m, id);

	if (m->stopping || !p->enabled || p->stopped ||
	    now_ms() < p->throttle_until ||
	    p->starting + p->idle > 0)
		return;
	if (want == 0)
		want = 1;
	if (active + want > pc->workers_max)
		want = active < pc->workers_max ? pc->workers_max - active : 0;
	if (want > MASTER_SPAWN_BATCH) {
		want = MASTER_SPAWN_BATCH;
		p->spawn_more = true;
	}
	while (want-- > 0 && now_ms() >= p->spawn_retry) {
		if (master_spawn(m, p) < 0) {
			p->spawn_retry = now_ms() + 1000;
			break;
		}
	}
	master_listen_watch(m, id, p->starting + p->idle == 0 &&
	    p->starting + p->idle + p->busy < pc->workers_max &&
	    now_ms() >= p->spawn_retry);
}

/* Closing a worker's channel wakes that worker; on a busy machine each
 * woken worker preempts the master, and retiring 5,000 idle workers kept
 * it from answering anyone for 15 s. So a short-lived child holds copies
 * of every channel while the master closes its own (not the last copy:
 * nobody wakes), and its exit drops the last copies, with the wake-ups,
 * in its own time. Returns the write end of the pipe the child waits on
 * (close it to let the child go), or -1: then the master wakes them. */
static int
hold_channels(void)
{
	int go[2];
	pid_t pid;

	if (pipe2(go, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		char c;

		close(go[1]);
		while (read(go[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);       /* reaped by master_reap() as a stranger */
	}
	close(go[0]);
	if (pid < 0) {
		close(go[1]);
		return -1;
	}
	return go[1];
}

void
master_pool_retire_all(struct master *m)
{
	master_pool_retire(m, POOL_ALL);
}

void
master_pool_retire(struct master *m, unsigned pools)
{
	int holder = hold_channels();

	for (int i = 0; i < POOL_COUNT; i++) {
		if (!(pools & POOL_BIT(i)))
			continue;
		for (struct worker *w = m->pools[i].workers; w != NULL;
		    w = w->next)
			master_worker_retire(m, w);
		/* A new generation gets a new template, on its first spawn. */
		master_template_close(m, &m->pools[i]);
	}
	if (holder >= 0)
		close(holder);
}

/* Is any pool serving (enabled and not stopped)? */
bool
master_pool_running(const struct master *m)
{
	for (int i = 0; i < POOL_COUNT; i++)
		if (m->pools[i].enabled && !m->pools[i].stopped)
			return true;
	return false;
}

int
master_pool_next_timer(struct master *m)
{
	int64_t now = now_ms();
	int timeout = 1000;

	for (int i = 0; i < POOL_COUNT; i++) {
		int64_t t = m->pools[i].throttle_until - now;
		int64_t r = m->pools[i].spawn_retry - now;
		if (t > 0 && t < timeout)
			timeout = (int)t;
		if (r > 0 && r < timeout)
			timeout = (int)r;
		if (m->pools[i].spawn_more && r <= 0)
			timeout = 0;
		if (m->pools[i].stopped && !m->pools[i].stop_killed &&
		    m->pools[i].total > 0) {
			int64_t k = m->pools[i].stop_deadline - now;
			if (k < timeout)
				timeout = k > 0 ? (int)k : 0;
		}
	}
	if (m->stopping && m->stop_deadline - now < timeout)
		timeout = m->stop_deadline > now ?
		    (int)(m->stop_deadline - now) : 0;
	return timeout;
}
