/*
 * master_shutdown.c - graceful shutdown of dmaild, or of some pools.
 *
 * master_begin_shutdown() (SIGTERM, SIGINT, "shutdown all" on the
 * control socket, the last pool stopped) closes every listener, retires
 * every worker and starts the shutdown_grace period; calling it again
 * does nothing. master_live_workers() counts the processes the master
 * still waits for (workers and template processes): the event loop ends
 * when it is 0. master_shutdown_tick(), once per turn of the loop, sends
 * SIGKILL to what is left once a grace period is over: the master's, or
 * that of a stopped pool.
 *
 * master_pools_stop(m, pools) ("shutdown pop3") does the same for some
 * pools only: their listeners closed, their workers retired (sessions
 * finish, up to shutdown_grace), nothing started for them; the other
 * pools serve on. It returns false when no pool is left serving: the
 * caller then shuts the master down. master_pools_start(m, pools, err)
 * binds a stopped pool's listeners again (same addresses, from the
 * pool's configuration) and lets it start workers; -1 with the reason
 * in err when a listener cannot be bound (the pool stays stopped).
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "log.h"
#include "master.h"
#include "util.h"

void
master_begin_shutdown(struct master *m, const char *why)
{
	if (m->stopping)
		return;
	m->stopping = true;
	m->stop_deadline = now_ms() + (int64_t)m->conf->shutdown_grace * 1000;
	master_notify_stopping();
	log_info("event=shutdown reason=\"%s\" grace=%us", why,
	    m->conf->shutdown_grace);
	master_listen_close_all(m);
	master_pool_retire_all(m);
}

bool
master_pools_stop(struct master *m, unsigned pools)
{
	int64_t deadline = now_ms() + (int64_t)m->conf->shutdown_grace * 1000;
	unsigned stop = 0;

	for (int i = 0; i < POOL_COUNT; i++) {
		struct pool *p = &m->pools[i];

		if (!(pools & POOL_BIT(i)) || p->stopped)
			continue;
		p->stopped = true;
		p->stop_deadline = deadline;
		p->stop_killed = false;
		p->spawn_more = false;
		stop |= POOL_BIT(i);
		log_info("event=pool-stop pool=%s grace=%us", pool_name(p->id),
		    m->conf->shutdown_grace);
	}
	master_listen_close_pools(m, stop);
	master_pool_retire(m, stop);
	return master_pool_running(m);
}

int
master_pools_start(struct master *m, unsigned pools, struct buf *err)
{
	unsigned start = 0;

	for (int i = 0; i < POOL_COUNT; i++)
		if ((pools & POOL_BIT(i)) && m->pools[i].stopped)
			start |= POOL_BIT(i);
	/* Pools of one configuration bind together, all or none. */
	for (int i = 0; i < POOL_COUNT; i++) {
		struct mconf *mc = m->pools[i].mc;
		unsigned same = 0;

		if (!(start & POOL_BIT(i)))
			continue;
		for (int j = i; j < POOL_COUNT; j++)
			if ((start & POOL_BIT(j)) && m->pools[j].mc == mc)
				same |= POOL_BIT(j);
		if (master_listen_sync(m, &mc->conf, same, err, false) < 0) {
			log_error("event=pool-start-failed pool=%s "
			    "reason=\"%.*s\"", pool_name((enum pool_id)i),
			    (int)strcspn(buf_cstr(err), "\n"), buf_cstr(err));
			return -1;
		}
		master_listen_sync(m, &mc->conf, same, err, true);
		for (int j = i; j < POOL_COUNT; j++) {
			if (!(same & POOL_BIT(j)))
				continue;
			m->pools[j].stopped = false;
			/* Enabled again by master_pool_configure(): its
			 * uptime counts from this start. */
			m->pools[j].enabled = false;
			start &= ~POOL_BIT(j);
			log_info("event=pool-start pool=%s generation=%u",
			    pool_name((enum pool_id)j), mc->generation);
		}
		master_pool_configure(m, same);
	}
	return 0;
}

unsigned
master_live_workers(const struct master *m)
{
	unsigned n = 0;

	for (int i = 0; i < POOL_COUNT; i++)
		n += m->pools[i].total;
	return n + master_template_count(m);
}

/* A stopped pool whose grace period is over: kill what is left. */
static void
pool_stop_tick(struct master *m, struct pool *p, int64_t now)
{
	if (!p->stopped || p->stop_killed || now < p->stop_deadline)
		return;
	p->stop_killed = true;
	if (p->total == 0)
		return;
	log_warn("event=grace-over pool=%s workers=%u reason=\"shutdown grace "
	    "period over: killing workers\"", pool_name(p->id), p->total);
	master_kill_pool(m, p, SIGKILL);
}

void
master_shutdown_tick(struct master *m)
{
	int64_t now = now_ms();

	for (int i = 0; i < POOL_COUNT; i++)
		pool_stop_tick(m, &m->pools[i], now);
	if (!m->stopping || m->killed || now < m->stop_deadline ||
	    master_live_workers(m) == 0)
		return;
	log_warn("event=grace-over workers=%u reason=\"shutdown grace "
	    "period over: killing workers\"", master_live_workers(m));
	master_kill_all(m, SIGKILL);
	m->killed = true;
}
