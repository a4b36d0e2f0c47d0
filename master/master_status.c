/*
 * master_status.c - the status pipes, worker -> master.
 *
 * Each pool has one pipe; its workers write fixed-size struct
 * worker_status messages (atomic: smaller than PIPE_BUF). The master
 * reads them in batches, checks each against the worker it names (slot
 * and pid must match a live worker of this pool; anything else is
 * ignored as stale or bogus; a worker forked by a template and not yet
 * known by pid is matched by slot and generation, and its pid adopted), and updates the worker, the pool counters
 * and the scoreboard.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "util.h"

static void
status_apply(struct master *m, struct pool *p, const struct worker_status *st,
    int64_t now)
{
	struct worker *w;

	if (st->slot >= scoreboard_nslots(m->sb) ||
	    st->state > WORKER_EXITING)
		return;
	w = m->by_slot[st->slot];
	if (w == NULL || w->pool != p->id)
		return;
	/* A worker forked by a template may report before the template's
	 * reply with its pid is read: the slot names it. */
	if (w->pid == 0 && w->tmpl != NULL && st->pid > 0 &&
	    st->generation == w->generation)
		master_worker_adopt(m, w, st->pid);
	if (w->pid != st->pid)
		return;
	master_pool_account(p, w, -1);
	if (st->sessions > w->sessions) {
		p->sessions += st->sessions - w->sessions;
		w->sessions = st->sessions;
		master_pool_session_done(p);
	}
	if (st->state == WORKER_IDLE && w->state != WORKER_IDLE)
		w->idle_since_ms = now;
	if (st->state == WORKER_BUSY && !w->ever_busy) {
		/* The program works: forget earlier start-up failures. */
		w->ever_busy = true;
		p->early_deaths = 0;
		if (p->session_deaths == 0)
			p->throttle_ms = 0;
	}
	w->state = (enum worker_state)st->state;
	master_pool_account(p, w, +1);
	scoreboard_update(m->sb, w->slot, w->pid, st->state, w->sessions, now);
}

void
master_status_read(struct master *m, struct pool *p)
{
	union {
		struct worker_status msgs[256];
		unsigned char bytes[256 * sizeof(struct worker_status)];
	} u;
	const size_t size = sizeof(struct worker_status);
	int64_t now = now_ms();

	for (;;) {
		size_t have = p->carry_len, whole;
		ssize_t n;

		memcpy(u.bytes, p->carry, have);
		n = read(p->status_rd, u.bytes + have, sizeof(u) - have);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				log_error("event=status-pipe-failed pool=%s "
				    "error=\"%s\"",
				    pool_name(p->id), strerror(errno));
			return;
		}
		if (n == 0)
			return;
		/* Our workers write whole messages, so reads come in whole
		 * messages; keep a fragment anyway rather than lose sync. */
		have += (size_t)n;
		whole = have / size;
		for (size_t i = 0; i < whole; i++)
			status_apply(m, p, &u.msgs[i], now);
		p->carry_len = have - whole * size;
		memcpy(p->carry, u.bytes + whole * size, p->carry_len);
		if (have < sizeof(u))
			return;
	}
}
