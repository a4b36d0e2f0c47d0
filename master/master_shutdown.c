/*
 * master_shutdown.c - graceful shutdown of dmaild.
 *
 * master_begin_shutdown() (SIGTERM, SIGINT, the "shutdown" control
 * command) closes every listener, retires every worker and starts the
 * shutdown_grace period; calling it again does nothing.
 * master_live_workers() counts the processes the master still waits
 * for (workers and template processes): the event loop ends when it is
 * 0. master_shutdown_tick(), once per turn of the loop while stopping,
 * sends SIGKILL to what is left once the grace period is over.
 * Nothing here fails.
 */
#include "config.h"

#include <signal.h>

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

unsigned
master_live_workers(const struct master *m)
{
	unsigned n = 0;

	for (int i = 0; i < POOL_COUNT; i++)
		n += m->pools[i].total;
	return n + master_template_count(m);
}

void
master_shutdown_tick(struct master *m)
{
	if (m->killed || now_ms() < m->stop_deadline ||
	    master_live_workers(m) == 0)
		return;
	log_warn("event=grace-over workers=%u reason=\"shutdown grace "
	    "period over: killing workers\"", master_live_workers(m));
	master_kill_all(m, SIGKILL);
	m->killed = true;
}
