/*
 * queue_sched.c - the queue manager's in-memory queue and scheduler (see
 * queued.h for the process model).
 *
 * Every queued message is one struct qmsg, found by id in a hash table.
 * A message is in one of three states:
 *   WAIT    in the retry heap, keyed by its next attempt time;
 *   ACTIVE  split into jobs (one per destination of its pending
 *           recipients), queued on destinations or in delivery processes;
 *   HOLD    parked until "release".
 * Destinations keep FIFO lists of jobs; a destination is served while it
 * has fewer than smtp_dest_concurrency delivery processes and the total
 * is below delivery_workers_max. An idle process (connection still open)
 * gets new jobs of its destination first.
 *
 * Results are recorded as they arrive: a delivered or bounced recipient
 * is marked in the queue file (spool_mark: pwrite + fsync) before anything
 * else happens, a bounce's reason written to the side file before that.
 * When a message's last job ends the attempt is finished: bounces for new
 * failures, expiry after queue_lifetime, an optional delay warning,
 * removal when nothing is pending, else the next retry after an
 * exponential back-off between queue_retry_min and queue_retry_max.
 *
 * Poison messages (poison.h): loading a queue file and finishing an
 * attempt (bounces parse the message) run with the quarantine handler
 * armed; a message whose delivery processes were killed by a signal
 * poison_attempts times goes to spool/quarantine/queue/ when its
 * attempt ends, instead of being retried.
 *
 * Delivery processes talk in the lines of queue_wire.h. A line that is
 * malformed, or that does not fit what the process was given (a result
 * or end for a job it does not hold, a recipient not in the job or
 * answered twice, idle with jobs outstanding), is logged once and ends
 * that process (SIGTERM): nothing of the line is applied, and its
 * unfinished recipients are deferred like after a crash. A queue file
 * whose name the pipe cannot carry goes to spool/corrupt/ as an
 * unreadable one does.
 *
 * Fatal: nothing here (errors are per message and logged). Panic (our
 * own bug, log_assert): a counter out of step with what it counts (the
 * message table's count, the retry heap's order and positions, a
 * message's outstanding jobs, a destination's queued jobs and delivery
 * processes, the number of delivery processes and its limits), checked
 * where each changes and in full after every scan (qmgr_check()).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dsn.h"
#include "log.h"
#include "queued.h"
#include "queue_info.h"
#include "queue_wire.h"
#include "scoreboard.h"
#include "spool.h"
#include "sys.h"
#include "util.h"

enum qmsg_state { Q_WAIT = 0, Q_ACTIVE, Q_HOLD };

struct qmsg {
	char id[SPOOL_ID_MAX];
	struct spool_envelope env;
	struct qinfo info;
	enum qmsg_state state;
	unsigned outstanding;        /* jobs of this attempt not finished */
	bool want_delete;
	bool want_hold;
	bool tried;                  /* a result arrived in this attempt */
	unsigned crashes;            /* delivery processes it killed */
	int crash_sig;               /* the last one's signal */
	size_t heap_idx;
	struct qmsg *hnext;          /* hash chain */
};

struct qdest;

struct qjob {
	struct qmsg *m;
	unsigned entry;              /* number within its child */
	size_t *idx;                 /* recipient indices */
	size_t n;
	bool *answered;              /* per idx: result seen */
	bool *unmarked;              /* per idx: delivered, not on disk yet */
	struct qjob *next;
};

struct qchild {
	pid_t pid;
	int to, from;                /* pipes */
	struct qdest *dest;
	struct qjob *jobs;           /* handed over, not finished */
	unsigned next_entry;         /* entry numbers in this child */
	struct buf in;
	bool idle;
	bool broken;                 /* broke the protocol: being ended */
	int64_t idle_since;
	struct qchild *next;
};

struct qdest {
	char *key;
	struct qroute route;
	unsigned active;             /* delivery processes */
	struct qjob *head, *tail;
	size_t queued;
	struct qdest *hnext;
};

struct qmgr {
	struct qstate *qs;
	const struct dmail_conf *conf;
	struct qmsg **table;         /* hash buckets */
	size_t table_size, count;
	struct qmsg **heap;
	size_t heap_len, heap_cap;
	struct qdest **dests;        /* hash buckets */
	size_t dest_size;
	struct qchild *children;
	size_t nchildren;
	struct buf qdir, ddir;       /* spool/queue, spool/defer */
	unsigned rr;                 /* round-robin start */
	int64_t published;           /* now_ms() of qmgr_publish's last scan */
};

static void job_free(struct qjob *j);
static void qmgr_check(const struct qmgr *qm);

/* --- small helpers ------------------------------------------------------ */

static int64_t
now_unix(void)
{
	return (int64_t)time(NULL);
}

static void
msg_path(struct qmgr *qm, const struct qmsg *m, struct buf *out)
{
	buf_reset(out);
	buf_printf(out, "%s/%s", qm->qdir.data, m->id);
}

static void
info_path(struct qmgr *qm, const struct qmsg *m, struct buf *out)
{
	buf_reset(out);
	buf_printf(out, "%s/%s", qm->ddir.data, m->id);
}

static int
save_info(struct qmgr *qm, struct qmsg *m)
{
	struct buf p = BUF_INIT;
	int rc;

	info_path(qm, m, &p);
	rc = qinfo_write(p.data, &m->info);
	if (rc < 0)
		log_error("event=write-failed qid=%s path=%s error=\"%s\"",
		    m->id, p.data, strerror(errno));
	buf_free(&p);
	return rc;
}

/* --- hash table of messages ---------------------------------------------- */

static struct qmsg *
msg_find(struct qmgr *qm, const char *id)
{
	struct qmsg *m = qm->table[fnv1a64(id) & (qm->table_size - 1)];

	while (m != NULL && strcmp(m->id, id) != 0)
		m = m->hnext;
	return m;
}

static void
msg_insert(struct qmgr *qm, struct qmsg *m)
{
	size_t b;

	if (qm->count + 1 > qm->table_size) {
		size_t nsize = qm->table_size * 2;
		struct qmsg **nt = xcalloc(nsize, sizeof(*nt));
		for (size_t i = 0; i < qm->table_size; i++) {
			struct qmsg *x = qm->table[i], *nx;
			for (; x != NULL; x = nx) {
				nx = x->hnext;
				b = fnv1a64(x->id) & (nsize - 1);
				x->hnext = nt[b];
				nt[b] = x;
			}
		}
		free(qm->table);
		qm->table = nt;
		qm->table_size = nsize;
	}
	b = fnv1a64(m->id) & (qm->table_size - 1);
	m->hnext = qm->table[b];
	qm->table[b] = m;
	qm->count++;
}

static void
msg_remove(struct qmgr *qm, struct qmsg *m)
{
	struct qmsg **pp = &qm->table[fnv1a64(m->id) & (qm->table_size - 1)];

	for (; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == m) {
			*pp = m->hnext;
			qm->count--;
			break;
		}
	spool_envelope_free(&m->env);
	qinfo_free(&m->info);
	free(m);
}

/* --- retry heap ------------------------------------------------------------ */

static void
heap_swap(struct qmgr *qm, size_t a, size_t b)
{
	struct qmsg *t = qm->heap[a];

	qm->heap[a] = qm->heap[b];
	qm->heap[b] = t;
	qm->heap[a]->heap_idx = a;
	qm->heap[b]->heap_idx = b;
}

static void
heap_up(struct qmgr *qm, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (qm->heap[p]->info.next <= qm->heap[i]->info.next)
			break;
		heap_swap(qm, p, i);
		i = p;
	}
}

static void
heap_down(struct qmgr *qm, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, s = i;
		if (l < qm->heap_len &&
		    qm->heap[l]->info.next < qm->heap[s]->info.next)
			s = l;
		if (r < qm->heap_len &&
		    qm->heap[r]->info.next < qm->heap[s]->info.next)
			s = r;
		if (s == i)
			return;
		heap_swap(qm, i, s);
		i = s;
	}
}

static void
heap_push(struct qmgr *qm, struct qmsg *m)
{
	log_assert(m->heap_idx == (size_t)-1);
	if (qm->heap_len == qm->heap_cap) {
		qm->heap_cap = qm->heap_cap ? qm->heap_cap * 2 : 1024;
		qm->heap = xrealloc(qm->heap, qm->heap_cap * sizeof(*qm->heap));
	}
	m->heap_idx = qm->heap_len;
	qm->heap[qm->heap_len++] = m;
	heap_up(qm, m->heap_idx);
	m->state = Q_WAIT;
}

static void
heap_remove(struct qmgr *qm, struct qmsg *m)
{
	size_t i = m->heap_idx;
	bool in_heap = i < qm->heap_len && qm->heap[i] == m;

	/* Waiting messages are in the heap, and only they are. */
	log_assert(in_heap == (m->state == Q_WAIT));
	if (!in_heap)
		return;
	qm->heap_len--;
	if (i != qm->heap_len) {
		qm->heap[i] = qm->heap[qm->heap_len];
		qm->heap[i]->heap_idx = i;
		heap_down(qm, i);
		heap_up(qm, i);
	}
	m->heap_idx = (size_t)-1;
}

/* --- routes and destinations -------------------------------------------- */

void
qroute_for(const struct dmail_conf *conf, const char *domain,
    struct qroute *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < conf->transports.count; i++)
		if (strcasecmp(conf->transports.items[i].key, domain) == 0) {
			out->relay = xstrdup(conf->transports.items[i].value);
			break;
		}
	if (out->relay == NULL && conf->relayhost != NULL) {
		out->relay = xstrdup(conf->relayhost);
		out->auth = true;
	}
	if (out->relay == NULL)
		out->domain = xstrdup(domain);
	out->tls_required = strlist_contains_ci(&conf->tls_required, domain);
}

void
qroute_free(struct qroute *r)
{
	free(r->relay);
	free(r->domain);
	memset(r, 0, sizeof(*r));
}

static struct qdest *
dest_get(struct qmgr *qm, const char *domain)
{
	struct qroute r;
	struct buf key = BUF_INIT;
	struct qdest *d;
	size_t b;

	qroute_for(qm->conf, domain, &r);
	buf_printf(&key, "%s|%s|%d%d", r.relay ? "R" : "M",
	    r.relay ? r.relay : r.domain, r.tls_required, r.auth);
	b = fnv1a64(key.data) & (qm->dest_size - 1);
	for (d = qm->dests[b]; d != NULL; d = d->hnext)
		if (strcmp(d->key, key.data) == 0) {
			buf_free(&key);
			qroute_free(&r);
			return d;
		}
	d = xcalloc(1, sizeof(*d));
	d->key = buf_steal(&key);
	d->route = r;
	d->hnext = qm->dests[b];
	qm->dests[b] = d;
	return d;
}

static const char *
rcpt_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL ? at + 1 : "";
}

/* --- creating and scanning ---------------------------------------------- */

struct qmgr *
qmgr_new(struct qstate *qs)
{
	struct qmgr *qm = xcalloc(1, sizeof(*qm));

	qm->qs = qs;
	qm->conf = qs->conf;
	qm->table_size = 1024;
	qm->table = xcalloc(qm->table_size, sizeof(*qm->table));
	qm->dest_size = 256;
	qm->dests = xcalloc(qm->dest_size, sizeof(*qm->dests));
	spool_path(qm->conf, "queue", NULL, &qm->qdir);
	spool_path(qm->conf, "defer", NULL, &qm->ddir);
	return qm;
}

void
qmgr_free(struct qmgr *qm)
{
	for (size_t i = 0; i < qm->table_size; i++) {
		struct qmsg *m = qm->table[i], *n;
		for (; m != NULL; m = n) {
			n = m->hnext;
			spool_envelope_free(&m->env);
			qinfo_free(&m->info);
			free(m);
		}
	}
	for (size_t i = 0; i < qm->dest_size; i++) {
		struct qdest *d = qm->dests[i], *n;
		for (; d != NULL; d = n) {
			n = d->hnext;
			while (d->head != NULL) {
				struct qjob *j = d->head;
				d->head = j->next;
				job_free(j);
			}
			qroute_free(&d->route);
			free(d->key);
			free(d);
		}
	}
	free(qm->table);
	free(qm->dests);
	free(qm->heap);
	buf_free(&qm->qdir);
	buf_free(&qm->ddir);
	free(qm);
}

/* Park a queue file we cannot take in spool/corrupt/ for an operator
 * (and so it is not reported at every scan). */
static void
park_corrupt(struct qmgr *qm, const char *id, const char *path,
    const char *why)
{
	struct buf dst = BUF_INIT;

	spool_path(qm->conf, "corrupt", NULL, &dst);
	(void)mkdir(dst.data, 0700);
	buf_printf(&dst, "/%s", id);
	log_error("event=queue-file-bad qid=%s path=%s reason=\"%s\"", id,
	    dst.data, why);
	if (rename(path, dst.data) < 0)
		log_error("event=rename-failed qid=%s path=%s error=\"%s\"",
		    id, path, strerror(errno));
	buf_free(&dst);
}

static void
load_message(struct qmgr *qm, const char *id)
{
	struct qmsg *m = xcalloc(1, sizeof(*m));
	struct buf p = BUF_INIT, err = BUF_INIT;

	snprintf(m->id, sizeof(m->id), "%s", id);
	msg_path(qm, m, &p);
	if (!qwire_id_ok(id)) {
		park_corrupt(qm, id, p.data, "a name delivery processes "
		    "cannot be given");
		free(m);
		buf_free(&p);
		return;
	}
	/* A file that kills the manager here is quarantined by the signal
	 * handler (no start counter: a scan loads every file). */
	poison_arm(&qm->qs->poison[POISON_QUEUE], id);
#ifdef DMAIL_TEST_HOOKS
	if (read_file(p.data, &err, 1024 * 1024) == 0)
		test_crash_hook(err.data, err.len, 1, "load");
	buf_reset(&err);
#endif
	if (spool_read(p.data, &m->env, &err) < 0) {
		/* Not ours to judge. */
		park_corrupt(qm, id, p.data, buf_cstr(&err));
		free(m);
		goto out;
	}
	info_path(qm, m, &p);
	if (qinfo_read(p.data, &m->info, m->env.rcpt_count) < 0)
		log_warn("event=read-failed qid=%s path=%s error=\"%s\"", id,
		    p.data, strerror(errno));
	m->heap_idx = (size_t)-1;
	msg_insert(qm, m);
	if (m->info.hold)
		m->state = Q_HOLD;
	else
		heap_push(qm, m);
	log_debug("event=queue-load qid=%s nrcpt=%zu attempts=%u", id,
	    m->env.rcpt_count, m->info.attempts);
out:
	poison_end(&qm->qs->poison[POISON_QUEUE]);
	buf_free(&p);
	buf_free(&err);
}

void
qmgr_scan(struct qmgr *qm)
{
	DIR *dir = opendir(qm->qdir.data);
	struct dirent *de;

	if (dir == NULL) {
		log_error("event=read-failed path=%s error=\"%s\"",
		    qm->qdir.data, strerror(errno));
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= SPOOL_ID_MAX)
			continue;
		if (msg_find(qm, de->d_name) == NULL)
			load_message(qm, de->d_name);
	}
	closedir(dir);
	qmgr_check(qm);
}

/* --- finishing an attempt ------------------------------------------------ */

static unsigned
backoff(const struct dmail_conf *c, unsigned attempts)
{
	uint64_t d = c->queue_retry_min ? c->queue_retry_min : 1;

	for (unsigned i = 1; i < attempts && d < c->queue_retry_max; i++)
		d *= 2;
	if (d > c->queue_retry_max)
		d = c->queue_retry_max;
	return (unsigned)d;
}

static void
remove_message(struct qmgr *qm, struct qmsg *m, const char *why)
{
	struct buf p = BUF_INIT;

	msg_path(qm, m, &p);
	if (unlink(p.data) < 0 && errno != ENOENT)
		log_error("event=remove-failed qid=%s path=%s error=\"%s\"",
		    m->id, p.data, strerror(errno));
	info_path(qm, m, &p);
	(void)unlink(p.data);
	log_info("action=remove qid=%s reason=\"%s\"", m->id, why);
	buf_free(&p);
	heap_remove(qm, m);
	msg_remove(qm, m);
}

/* DSNs for failed recipients not yet notified, or a delay warning. */
static int
notify(struct qmgr *qm, struct qmsg *m, bool delayed)
{
	size_t *idx = xcalloc(m->env.rcpt_count + 1, sizeof(size_t));
	size_t n = 0;
	struct buf p = BUF_INIT;
	int rc = 0;

	for (size_t i = 0; i < m->env.rcpt_count; i++) {
		char st = m->env.rcpts[i].state;
		if (delayed ? st == SPOOL_PENDING :
		    st == SPOOL_BOUNCED && !m->info.rcpts[i].notified)
			idx[n++] = i;
	}
	if (n > 0) {
		msg_path(qm, m, &p);
		rc = qbounce_send(qm->qs, p.data, &m->env, &m->info, idx, n,
		    delayed);
		if (rc == 0 && !delayed) {
			for (size_t k = 0; k < n; k++)
				m->info.rcpts[idx[k]].notified = true;
			save_info(qm, m);
		}
	}
	buf_free(&p);
	free(idx);
	return rc;
}

/* Forget a message whose file went to quarantine (its defer/ side file
 * stays for a release). */
static void
forget_message(struct qmgr *qm, struct qmsg *m)
{
	heap_remove(qm, m);
	msg_remove(qm, m);
}

static void finish_attempt_armed(struct qmgr *qm, struct qmsg *m);

/* The attempt is over: unless the message is poison (it killed
 * poison_attempts delivery processes), finish it with the handler armed
 * (bounces read and parse the message). */
static void
finish_attempt(struct qmgr *qm, struct qmsg *m)
{
	struct poison_spool *ps = &qm->qs->poison[POISON_QUEUE];

	if (m->crashes >= qm->conf->poison_attempts && ps->qdirfd >= 0) {
		char why[96];

		snprintf(why, sizeof(why), "signal=SIG%s attempts=%u "
		    "process=delivery", sigabbrev_np(m->crash_sig) != NULL ?
		    sigabbrev_np(m->crash_sig) : "?", m->crashes);
		if (poison_quarantine(ps, m->id, why) == 0) {
			forget_message(qm, m);
			return;
		}
	}
	if (poison_begin(ps, m->id) == 1) {
		forget_message(qm, m);
		return;
	}
#ifdef DMAIL_TEST_HOOKS
	{
		struct buf p = BUF_INIT, t = BUF_INIT;

		msg_path(qm, m, &p);
		if (read_file(p.data, &t, 1024 * 1024) == 0)
			test_crash_hook(t.data, t.len, poison_current(ps),
			    "bounce");
		buf_free(&p);
		buf_free(&t);
	}
#endif
	finish_attempt_armed(qm, m);
	poison_end(ps);
}

static void
finish_attempt_armed(struct qmgr *qm, struct qmsg *m)
{
	int64_t now = now_unix();
	size_t pending = 0;
	struct buf p = BUF_INIT;

	if (m->want_delete) {
		remove_message(qm, m, "deleted by operator");
		return;
	}
	for (size_t i = 0; i < m->env.rcpt_count; i++)
		pending += m->env.rcpts[i].state == SPOOL_PENDING;
	if (pending > 0 && now - m->env.arrival >= (int64_t)
	    qm->conf->queue_lifetime) {
		msg_path(qm, m, &p);
		for (size_t i = 0; i < m->env.rcpt_count; i++) {
			struct qinfo_rcpt *r = &m->info.rcpts[i];
			struct buf why = BUF_INIT;
			if (m->env.rcpts[i].state != SPOOL_PENDING)
				continue;
			buf_printf(&why, "delivery time expired after %u "
			    "seconds; last error: %s", qm->conf->queue_lifetime,
			    r->text ? r->text : "none");
			qinfo_set(&m->info, i, r->code, "4.4.7", r->remote,
			    why.data);
			buf_free(&why);
		}
		save_info(qm, m);
		for (size_t i = 0; i < m->env.rcpt_count; i++)
			if (m->env.rcpts[i].state == SPOOL_PENDING) {
				if (spool_mark(p.data, &m->env, i,
				    SPOOL_BOUNCED) < 0) {
					log_error("event=write-failed qid=%s "
					    "error=\"mark: %s\"", m->id,
					    strerror(errno));
					continue;
				}
				m->env.rcpts[i].state = SPOOL_BOUNCED;
				pending--;
				scoreboard_count(SBC_BOUNCED);
				log_info("action=expire qid=%s to=<%s> "
				    "status=expired",
				    m->id, m->env.rcpts[i].address);
			}
	}
	buf_free(&p);
	/* Bounces first; if one cannot be injected now, keep the message
	 * and try again at the next retry. */
	bool unsent = false;

	(void)notify(qm, m, false);
	for (size_t i = 0; i < m->env.rcpt_count; i++)
		if (m->env.rcpts[i].state == SPOOL_BOUNCED &&
		    !m->info.rcpts[i].notified)
			unsent = true;
	if (pending == 0 && !unsent) {
		remove_message(qm, m, "all recipients final");
		return;
	}
	if (m->tried || unsent)
		m->info.attempts++;
	m->tried = false;
	m->info.next = now + backoff(qm->conf, m->info.attempts ?
	    m->info.attempts : 1);
	if (pending > 0 && qm->conf->queue_warn_after > 0 && !m->info.warned &&
	    now - m->env.arrival >= (int64_t)qm->conf->queue_warn_after) {
		if (notify(qm, m, true) == 0)
			m->info.warned = true;
	}
	if (m->want_hold) {
		m->info.hold = true;
		m->want_hold = false;
	}
	save_info(qm, m);
	if (m->info.hold) {
		m->state = Q_HOLD;
		log_info("action=hold qid=%s", m->id);
	} else {
		heap_push(qm, m);
		log_info("action=defer qid=%s pending=%zu attempts=%u "
		    "retry_in=%llds", m->id, pending, m->info.attempts,
		    (long long)(m->info.next - now));
	}
}

/* --- making jobs ------------------------------------------------------------ */

static void
job_free(struct qjob *j)
{
	free(j->idx);
	free(j->answered);
	free(j->unmarked);
	free(j);
}

/* Split a due message into one job per destination (more for a
 * destination with over QWIRE_JOB_RCPTS_MAX recipients). */
static void
make_ready(struct qmgr *qm, struct qmsg *m)
{
	size_t n = m->env.rcpt_count;
	bool *taken = xcalloc(n ? n : 1, sizeof(bool));

	m->state = Q_ACTIVE;
	m->outstanding = 0;
	m->tried = false;
	for (size_t i = 0; i < n; i++) {
		struct qdest *d;
		struct qjob *j;

		if (taken[i] || m->env.rcpts[i].state != SPOOL_PENDING)
			continue;
		d = dest_get(qm, rcpt_domain(m->env.rcpts[i].address));
		j = xcalloc(1, sizeof(*j));
		j->m = m;
		j->idx = xcalloc(n, sizeof(size_t));
		j->answered = xcalloc(n, sizeof(bool));
		j->unmarked = xcalloc(n, sizeof(bool));
		for (size_t k = i; k < n && j->n < QWIRE_JOB_RCPTS_MAX; k++) {
			if (taken[k] || m->env.rcpts[k].state != SPOOL_PENDING)
				continue;
			if (k != i && dest_get(qm, rcpt_domain(
			    m->env.rcpts[k].address)) != d)
				continue;
			taken[k] = true;
			j->idx[j->n++] = k;
		}
		if (d->tail != NULL)
			d->tail->next = j;
		else
			d->head = j;
		d->tail = j;
		d->queued++;
		m->outstanding++;
	}
	free(taken);
	if (m->outstanding == 0)
		finish_attempt(qm, m);
}

/* --- delivery processes ------------------------------------------------------ */

static void
close_all_but(struct qmgr *qm, struct qchild *keep)
{
	for (struct qchild *c = qm->children; c != NULL; c = c->next)
		if (c != keep) {
			close(c->to);
			close(c->from);
		}
}

static struct qchild *
spawn(struct qmgr *qm, struct qdest *d)
{
	int down[2], up[2];
	struct qchild *c;
	pid_t pid;

	/* No database environment handle may cross fork(). */
	qstate_release(qm->qs);
	if (pipe2(down, O_CLOEXEC) < 0)
		return NULL;
	if (pipe2(up, O_CLOEXEC) < 0) {
		close(down[0]);
		close(down[1]);
		return NULL;
	}
	pid = fork();
	if (pid < 0) {
		log_error("event=fork-failed error=\"%s\"", strerror(errno));
		close(down[0]);
		close(down[1]);
		close(up[0]);
		close(up[1]);
		return NULL;
	}
	if (pid == 0) {
		close(down[1]);
		close(up[0]);
		close_all_but(qm, NULL);
		/* The queue lock belongs to the manager alone: a delivery
		 * process outliving it must not keep its successor out. */
		if (qm->qs->lock_fd >= 0)
			close(qm->qs->lock_fd);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			_exit(0);
		qdeliver_main(qm->qs, &d->route, down[0], up[1]);
	}
	close(down[0]);
	close(up[1]);
	fd_set_nonblock(up[0], true);
	c = xcalloc(1, sizeof(*c));
	c->pid = pid;
	c->to = down[1];
	c->from = up[0];
	c->dest = d;
	c->idle = true;
	c->next = qm->children;
	qm->children = c;
	qm->nchildren++;
	d->active++;
	log_assert(qm->nchildren <= qm->conf->delivery_workers_max &&
	    d->active <= qm->conf->smtp_dest_concurrency);
	log_debug("event=delivery-start pid=%d dest=%s", (int)pid, d->key);
	return c;
}

/* Hand a batch of the destination's jobs to an idle child. */
static void
give_work(struct qmgr *qm, struct qchild *c)
{
	struct qdest *d = c->dest;
	struct buf out = BUF_INIT;
	size_t batch, conc = qm->conf->smtp_dest_concurrency;
	struct qjob **tail = &c->jobs;

	while (*tail != NULL)
		tail = &(*tail)->next;
	/* Spread the queue over the processes the destination may use. */
	batch = d->queued / (conc ? conc : 1);
	if (batch < 1)
		batch = 1;
	if (batch > QMGR_BATCH_MAX)
		batch = QMGR_BATCH_MAX;
	while (batch-- > 0 && d->head != NULL) {
		struct qjob *j = d->head;

		d->head = j->next;
		if (d->head == NULL)
			d->tail = NULL;
		log_assert(d->queued > 0);
		d->queued--;
		j->next = NULL;
		*tail = j;
		tail = &j->next;
		j->entry = c->next_entry++;
		qwire_fmt_job(&out, j->entry, j->m->id, j->idx, j->n);
	}
	qwire_fmt_go(&out);
	if (write_all(c->to, out.data, out.len) < 0)
		log_warn("event=delivery-pipe-failed pid=%d error=\"%s\"",
		    (int)c->pid, strerror(errno));
	c->idle = false;
	buf_free(&out);
}

static struct qjob *
find_job(struct qchild *c, unsigned entry)
{
	struct qjob *j;

	for (j = c->jobs; j != NULL && j->entry != entry; j = j->next)
		;
	return j;
}

/* The result of the job's k-th recipient (not answered yet). */
static void
record(struct qmgr *qm, struct qjob *j, size_t k, int code,
    const char *status, const char *remote, const char *text)
{
	struct qmsg *m = j->m;
	struct buf p = BUF_INIT;
	size_t i = j->idx[k];

	log_assert(k < j->n && !j->answered[k] && i < m->env.rcpt_count);
	j->answered[k] = true;
	m->tried = true;
	qinfo_set(&m->info, i, code, status, remote, text);
	msg_path(qm, m, &p);
	if (code / 100 == 2) {
		/* Written to the queue file when the job ends (one fsync for
		 * the whole transaction), see flush_marks(). */
		m->env.rcpts[i].state = SPOOL_DELIVERED;
		j->unmarked[k] = true;
		scoreboard_count(SBC_RELAYED);
		log_info("action=deliver qid=%s to=<%s> relay=%s dsn=%s "
		    "status=sent reply=\"%s\"",
		    m->id, m->env.rcpts[i].address, remote ? remote : "-",
		    status, text);
	} else if (code / 100 == 5) {
		/* The reason first, so the bounce can say it after a crash. */
		save_info(qm, m);
		if (spool_mark(p.data, &m->env, i, SPOOL_BOUNCED) < 0)
			log_error("event=write-failed qid=%s error=\"mark "
			    "bounced: %s\"", m->id, strerror(errno));
		else
			m->env.rcpts[i].state = SPOOL_BOUNCED;
		scoreboard_count(SBC_BOUNCED);
		log_info("action=deliver qid=%s to=<%s> relay=%s dsn=%s "
		    "status=bounced reply=\"%s\"",
		    m->id, m->env.rcpts[i].address, remote ? remote : "-",
		    status, text);
	} else {
		scoreboard_count(SBC_DEFERRED);
		log_info("action=deliver qid=%s to=<%s> relay=%s dsn=%s "
		    "status=deferred reply=\"%s\"",
		    m->id, m->env.rcpts[i].address, remote ? remote : "-",
		    status, text);
	}
	buf_free(&p);
}

/*
 * Make the job's deliveries durable before anything else can happen to
 * the message: one pwrite per recipient and one fsync. When this job
 * ends the message for good (nothing pending, no bounce owed, no other
 * job out) the queue file is about to be removed, and marking it first
 * would only cost an fsync.
 */
static void
flush_marks(struct qmgr *qm, struct qjob *j)
{
	struct qmsg *m = j->m;
	struct buf p = BUF_INIT;
	bool complete = m->outstanding == 1 && !m->want_hold;
	size_t n = 0;
	int fd;

	for (size_t k = 0; k < j->n; k++)
		n += j->unmarked[k];
	if (n == 0)
		return;
	for (size_t i = 0; i < m->env.rcpt_count && complete; i++)
		if (m->env.rcpts[i].state == SPOOL_PENDING ||
		    (m->env.rcpts[i].state == SPOOL_BOUNCED &&
		    !m->info.rcpts[i].notified))
			complete = false;
	if (complete)
		return;
	msg_path(qm, m, &p);
	fd = sys_open(p.data, O_WRONLY | O_CLOEXEC, 0);
	if (fd >= 0) {
		for (size_t k = 0; k < j->n; k++) {
			const char d = SPOOL_DELIVERED;
			off_t off = m->env.rcpts[j->idx[k]].state_offset;
			if (j->unmarked[k] && off > 0 &&
			    pwrite(fd, &d, 1, off) != 1)
				break;
		}
		if (sys_fsync(fd) == 0 && close(fd) == 0)
			fd = -2;
		else if (fd >= 0)
			close(fd);
	}
	if (fd != -2)
		log_error("event=write-failed qid=%s path=%s error=\"%s\" "
		    "reason=\"deliveries may be repeated after a restart\"",
		    m->id, p.data, strerror(errno));
	buf_free(&p);
}

/* A job is over: unanswered recipients are deferred with why. */
static void
job_done(struct qmgr *qm, struct qjob *j, const char *why)
{
	struct qmsg *m = j->m;

	log_assert(m->state == Q_ACTIVE && m->outstanding > 0);
	for (size_t k = 0; k < j->n; k++)
		if (!j->answered[k])
			record(qm, j, k, 0, "4.3.0", NULL, why);
	flush_marks(qm, j);
	job_free(j);
	if (--m->outstanding == 0)
		finish_attempt(qm, m);
}

static void
unlink_job(struct qchild *c, struct qjob *j)
{
	struct qjob **pp;

	for (pp = &c->jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			return;
		}
}

/* A delivery process broke the protocol: say why once, read nothing
 * more from it and end it (child_gone() defers what it left). */
static void
child_refuse(struct qchild *c, const char *why)
{
	log_error("event=wire-refused process=delivery pid=%d dest=%s "
	    "reason=\"%s; ending it\"", (int)c->pid, c->dest->key, why);
	c->broken = true;
	c->idle = false;
	buf_reset(&c->in);
	kill(c->pid, SIGTERM);
}

/* Whether a well-formed line fits what the process holds: 0 with the
 * job (and the recipient's place in it) it is about, or -1 and why. */
static int
child_check(struct qchild *c, const struct qwire_up *u, struct qjob **j,
    size_t *k, struct buf *why)
{
	if (u->type == QWIRE_IDLE) {
		if (!c->idle && c->jobs == NULL)
			return 0;
		buf_printf(why, "idle %s", c->idle ? "twice" :
		    "with jobs outstanding");
		return -1;
	}
	if ((*j = find_job(c, u->entry)) == NULL) {
		buf_printf(why, "%s for job %u it does not hold",
		    u->type == QWIRE_END ? "end" : "result", u->entry);
		return -1;
	}
	if (u->type == QWIRE_END)
		return 0;
	for (*k = 0; *k < (*j)->n && (*j)->idx[*k] != u->rcpt; (*k)++)
		;
	if (*k < (*j)->n && !(*j)->answered[*k])
		return 0;
	buf_printf(why, "result for recipient %zu of job %u: %s", u->rcpt,
	    u->entry, *k < (*j)->n ? "answered twice" : "not in the job");
	return -1;
}

/* One line from a delivery process, applied whole or refused whole. */
static void
child_line(struct qmgr *qm, struct qchild *c, const char *line, size_t len)
{
	struct qwire_up u;
	struct buf why = BUF_INIT;
	struct qjob *j = NULL;
	size_t k = 0;

	if (qwire_parse_up(line, len, &u, &why) < 0 ||
	    child_check(c, &u, &j, &k, &why) < 0) {
		child_refuse(c, buf_cstr(&why));
		buf_free(&why);
		return;
	}
	switch (u.type) {
	case QWIRE_IDLE:
		c->idle = true;
		c->idle_since = now_ms();
		break;
	case QWIRE_END:
		unlink_job(c, j);
		job_done(qm, j, "no result from the delivery process");
		break;
	default:
		record(qm, j, k, u.code, u.status, u.remote[0] != '\0' ?
		    u.remote : NULL, u.text);
		break;
	}
	buf_free(&why);
}

static void
child_gone(struct qmgr *qm, struct qchild *c)
{
	struct qchild **pp;
	char how[CHILD_EXIT_TEXT_MAX];
	int status = 0;

	close(c->to);
	close(c->from);
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	/* One that broke the protocol was ended by us, and said so. */
	if (!c->broken && (WIFSIGNALED(status) || (WIFEXITED(status) &&
	    WEXITSTATUS(status) != 0)))
		log_warn("event=delivery-crash pid=%d reason=\"ended "
		    "abnormally (%s)\"", (int)c->pid,
		    child_exit_text(status, how, sizeof(how)));
	/* Killed (not by us) while on a job: the job at the head of its
	 * list is the one it was working on. */
	if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM &&
	    c->jobs != NULL) {
		struct qmsg *m = c->jobs->m;

		m->crashes++;
		m->crash_sig = WTERMSIG(status);
		log_warn("event=delivery-crash qid=%s pid=%d signal=%d "
		    "attempts=%u limit=%u", m->id, (int)c->pid,
		    WTERMSIG(status), m->crashes, qm->conf->poison_attempts);
	}
	while (c->jobs != NULL) {
		struct qjob *j = c->jobs;
		c->jobs = j->next;
		job_done(qm, j, c->broken ? "delivery process broke the "
		    "protocol" : "delivery process ended before finishing "
		    "(crash or shutdown)");
	}
	for (pp = &qm->children; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	log_assert(c->dest->active > 0 && qm->nchildren > 0);
	c->dest->active--;
	qm->nchildren--;
	buf_free(&c->in);
	free(c);
}

size_t
qmgr_pollfds(struct qmgr *qm, struct pollfd *pfd, size_t max)
{
	size_t n = 0;

	for (struct qchild *c = qm->children; c != NULL && n < max;
	    c = c->next) {
		pfd[n].fd = c->from;
		pfd[n].events = POLLIN;
		pfd[n].revents = 0;
		n++;
	}
	return n;
}

/* The whole lines read from a delivery process so far. */
static void
child_lines(struct qmgr *qm, struct qchild *c)
{
	size_t len;
	int rc;

	while (!c->broken && (rc = qwire_next_line(&c->in, &len)) != 0) {
		if (rc < 0) {
			child_refuse(c, "malformed line (longer than "
			    "QWIRE_LINE_MAX)");
			break;
		}
		child_line(qm, c, c->in.data, len);
		if (!c->broken)
			buf_consume(&c->in, len + 1);
	}
}

void
qmgr_child_input(struct qmgr *qm, struct pollfd *pfd, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		struct qchild *c;
		char block[8192];
		ssize_t got;
		bool eof = false;

		if (pfd[k].revents == 0)
			continue;
		for (c = qm->children; c != NULL && c->from != pfd[k].fd;
		    c = c->next)
			;
		if (c == NULL)
			continue;
		for (;;) {
			got = read(c->from, block, sizeof(block));
			if (got > 0) {
				if (!c->broken)
					buf_append(&c->in, block, (size_t)got);
				continue;
			}
			if (got == 0 || (errno != EINTR && errno != EAGAIN))
				eof = true;
			if (got < 0 && errno == EINTR)
				continue;
			break;
		}
		child_lines(qm, c);
		if (eof)
			child_gone(qm, c);
	}
}

size_t
qmgr_count(const struct qmgr *qm)
{
	return qm->count;
}

void
qmgr_publish(struct qmgr *qm)
{
	int64_t now = now_ms(), oldest = 0;
	uint64_t deferred = 0;

	if (now - qm->published < QMGR_PUBLISH_MS)
		return;
	qm->published = now;
	for (size_t i = 0; i < qm->table_size; i++)
		for (const struct qmsg *m = qm->table[i]; m != NULL;
		    m = m->hnext) {
			if (oldest == 0 || m->env.arrival < oldest)
				oldest = m->env.arrival;
			deferred += m->state == Q_WAIT && m->info.attempts > 0;
		}
	scoreboard_queue_publish(qm->count, oldest);
	scoreboard_queue_deferred_publish(deferred);
}

size_t
qmgr_children(const struct qmgr *qm)
{
	return qm->nchildren;
}

void
qmgr_stop_children(struct qmgr *qm, bool kill_busy)
{
	for (struct qchild *c = qm->children; c != NULL; c = c->next) {
		if (c->idle) {
			/* End-of-file: QUIT and exit. */
			close(c->to);
			c->to = open("/dev/null", O_WRONLY | O_CLOEXEC);
			c->idle = false;
		} else if (kill_busy) {
			kill(c->pid, SIGTERM);
		}
	}
}

/* --- the scheduler ---------------------------------------------------------- */

/* Close one idle child (the longest idle) to free a process slot. */
static bool
reap_idle(struct qmgr *qm, int64_t older_than)
{
	struct qchild *best = NULL;

	for (struct qchild *c = qm->children; c != NULL; c = c->next)
		if (c->idle && c->dest->head == NULL && c->idle_since <=
		    older_than && (best == NULL || c->idle_since <
		    best->idle_since))
			best = c;
	if (best == NULL)
		return false;
	/* End-of-file tells it to QUIT; its own EOF removes it later. */
	close(best->to);
	best->to = open("/dev/null", O_WRONLY | O_CLOEXEC);
	best->idle = false;
	return true;
}

int
qmgr_schedule(struct qmgr *qm, bool dispatch)
{
	int64_t now = now_unix(), nowms = now_ms();
	int wait = -1;
	unsigned maxw = qm->conf->delivery_workers_max;
	unsigned conc = qm->conf->smtp_dest_concurrency;

	if (!dispatch)
		return 1000;
	while (qm->heap_len > 0 && qm->heap[0]->info.next <= now) {
		struct qmsg *m = qm->heap[0];
		heap_remove(qm, m);
		make_ready(qm, m);
	}
	/* Idle processes take work of their own destination first. */
	for (struct qchild *c = qm->children; c != NULL; c = c->next)
		if (c->idle && c->dest->head != NULL)
			give_work(qm, c);
	/* New processes for destinations with work, round robin. */
	for (bool progress = true; progress;) {
		progress = false;
		for (size_t b = 0; b < qm->dest_size; b++) {
			size_t bb = (b + qm->rr) % qm->dest_size;
			for (struct qdest **dp = &qm->dests[bb]; *dp != NULL;) {
				struct qdest *d = *dp;
				struct qchild *c;
				if (d->head == NULL && d->active == 0) {
					/* Unused now: forget it (a queue sees
					 * many domains over its life). */
					*dp = d->hnext;
					qroute_free(&d->route);
					free(d->key);
					free(d);
					continue;
				}
				dp = &d->hnext;
				if (d->head == NULL || d->active >= conc)
					continue;
				if (qm->nchildren >= maxw) {
					/* Full: close an idle process of
					 * another destination for it. */
					reap_idle(qm, nowms);
					continue;
				}
				c = spawn(qm, d);
				if (c == NULL)
					return 1000;
				give_work(qm, c);
				progress = true;
			}
		}
	}
	qm->rr++;
	/* Idle processes keep their connection a little while. */
	while (reap_idle(qm, nowms - QMGR_IDLE_MS))
		;
	for (struct qchild *c = qm->children; c != NULL; c = c->next)
		if (c->idle) {
			int left = (int)(c->idle_since + QMGR_IDLE_MS - nowms);
			if (left < 0)
				left = 0;
			if (wait < 0 || left < wait)
				wait = left + 10;
		}
	if (qm->heap_len > 0) {
		int64_t d = (qm->heap[0]->info.next - now) * 1000;
		if (d < 0)
			d = 0;
		if (wait < 0 || d < wait)
			wait = d > 60000 ? 60000 : (int)d;
	}
	return wait;
}

/* --- operator commands ------------------------------------------------------ */

int
qmgr_command(struct qmgr *qm, const char *line, struct buf *out)
{
	char verb[16], id[SPOOL_ID_MAX];
	struct qmsg *m;
	int n = sscanf(line, "%15s %31s", verb, id);

	if (n >= 1 && strcmp(verb, "flush") == 0) {
		size_t k = 0;
		for (size_t i = 0; i < qm->heap_len; i++) {
			qm->heap[i]->info.next = 0;
			k++;
		}
		log_info("action=flush count=%zu", k);
		buf_printf(out, "flushed %zu\n", k);
		return 0;
	}
	if (n < 2) {
		buf_printf(out, "bad command\n");
		return -1;
	}
	m = msg_find(qm, id);
	if (m == NULL) {
		qmgr_scan(qm);
		m = msg_find(qm, id);
	}
	if (m == NULL) {
		buf_printf(out, "%s: no such message\n", id);
		return -1;
	}
	if (strcmp(verb, "delete") == 0) {
		if (m->state == Q_ACTIVE)
			m->want_delete = true;
		else
			remove_message(qm, m, "deleted by operator");
		buf_printf(out, "%s: deleted\n", id);
		return 0;
	}
	if (strcmp(verb, "hold") == 0) {
		if (m->state == Q_ACTIVE) {
			m->want_hold = true;
		} else if (m->state == Q_WAIT) {
			heap_remove(qm, m);
			m->info.hold = true;
			m->state = Q_HOLD;
			save_info(qm, m);
		}
		log_info("action=hold qid=%s reason=operator", id);
		buf_printf(out, "%s: on hold\n", id);
		return 0;
	}
	if (strcmp(verb, "release") == 0) {
		m->want_hold = false;
		if (m->state == Q_HOLD) {
			m->info.hold = false;
			m->info.next = 0;
			save_info(qm, m);
			heap_push(qm, m);
		}
		log_info("action=release qid=%s reason=operator", id);
		buf_printf(out, "%s: released\n", id);
		return 0;
	}
	buf_printf(out, "bad command\n");
	return -1;
}

/* --- invariants ------------------------------------------------------------ */

/* The message table and the retry heap: every message once in its
 * bucket, count right; the heap ordered, positions right, holding
 * exactly the waiting messages. Returns the sum of the active messages'
 * outstanding jobs. */
static size_t
check_messages(const struct qmgr *qm)
{
	size_t count = 0, waiting = 0, outstanding = 0;

	for (size_t b = 0; b < qm->table_size; b++)
		for (const struct qmsg *m = qm->table[b]; m != NULL;
		    m = m->hnext) {
			log_assert((fnv1a64(m->id) & (qm->table_size - 1)) ==
			    b);
			count++;
			waiting += m->state == Q_WAIT;
			log_assert(m->state != Q_ACTIVE || m->outstanding > 0);
			if (m->state == Q_ACTIVE)
				outstanding += m->outstanding;
		}
	log_assert(count == qm->count);
	log_assert(qm->heap_len == waiting && qm->heap_len <= qm->heap_cap);
	for (size_t i = 0; i < qm->heap_len; i++) {
		const struct qmsg *m = qm->heap[i];

		log_assert(m->heap_idx == i && m->state == Q_WAIT);
		log_assert(i == 0 ||
		    qm->heap[(i - 1) / 2]->info.next <= m->info.next);
	}
	return outstanding;
}

/* Jobs of a list (queued on a destination or held by a process): all of
 * active messages; returns how many. */
static size_t
check_jobs(const struct qjob *j, const struct qjob **last)
{
	size_t n = 0;

	for (*last = NULL; j != NULL; *last = j, j = j->next) {
		log_assert(j->m->state == Q_ACTIVE && j->n > 0 &&
		    j->n <= QWIRE_JOB_RCPTS_MAX);
		n++;
	}
	return n;
}

/* Everything the counters count, counted again; a difference is our
 * bug (log_panic). O(messages + destinations + processes): run after
 * each scan, which is that order of work already. */
static void
qmgr_check(const struct qmgr *qm)
{
	size_t outstanding = check_messages(qm), jobs = 0, active = 0;
	size_t children = 0;
	const struct qjob *last;

	for (size_t b = 0; b < qm->dest_size; b++)
		for (const struct qdest *d = qm->dests[b]; d != NULL;
		    d = d->hnext) {
			size_t n = check_jobs(d->head, &last);

			log_assert(n == d->queued && last == d->tail);
			log_assert(d->active <=
			    qm->conf->smtp_dest_concurrency);
			jobs += n;
			active += d->active;
		}
	for (const struct qchild *c = qm->children; c != NULL; c = c->next) {
		log_assert(c->dest->active > 0);
		log_assert(!c->idle || c->jobs == NULL);
		jobs += check_jobs(c->jobs, &last);
		children++;
	}
	log_assert(children == qm->nchildren && active == qm->nchildren &&
	    qm->nchildren <= qm->conf->delivery_workers_max);
	log_assert(jobs == outstanding);
}
