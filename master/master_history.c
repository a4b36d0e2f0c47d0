/*
 * master_history.c - the last hour of the server's figures, for the
 * administrator's dashboard (webd/web_admin.c) and "tellsmtp history".
 *
 * Every HISTORY_INTERVAL_S seconds (the environment variable
 * DMAIL_HISTORY_INTERVAL, 1..3600 seconds, changes it: for the tests,
 * read once at start) the master takes one sample of what it already
 * knows, without a directory scan and without blocking:
 *   - per pool: busy, idle and maximum workers (workers_max), and the
 *     sessions completed during the interval;
 *   - messages accepted by SMTP and recipients delivered (into a local
 *     Maildir, or relayed to a remote server) during the interval, from
 *     the scoreboard's event counters;
 *   - the queue's size and its deferred messages, as the queue manager
 *     last published them (scoreboard_queue_get(),
 *     scoreboard_queue_deferred());
 *   - the bytes free for unprivileged users on state_dir (statvfs).
 * The last HISTORY_SAMPLES samples form a ring, kept in memory and in
 * the small file state_dir/run/history, replaced after each sample by
 * write-to-temporary and rename. It is not fsync'd: these are
 * statistics, and a crash of the machine may lose the last minutes of
 * them, never the file's consistency. At start the file is read back,
 * so the charts survive a restart of the master (lines it cannot parse
 * are skipped).
 *
 * One line per sample, the same in the file and in the answer of the
 * control command "history" (master.h):
 *   sample time=T interval=S accepted=N delivered=N queue=N deferred=N
 *       disk_free=BYTES smtp_busy=N smtp_idle=N smtp_max=N
 *       smtp_sessions=N pop3_busy=N ...          (every pool, in order)
 * Every value is a decimal integer; the answer holds at most
 * HISTORY_SAMPLES lines, oldest first (about 24 KB).
 *
 * Offers master_history_init(), master_history_tick(),
 * master_history_timeout() and master_history_report() (master.h).
 * Nothing here is fatal: a file that cannot be written is logged once
 * per failure and the ring lives on in memory.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "util.h"

#define HISTORY_INTERVAL_S 60
#define HISTORY_FILE_MAX (256 * 1024)

struct history_pool {
	uint64_t busy, idle, max, sessions;
};

struct history_sample {
	uint64_t time, interval;
	uint64_t accepted, delivered, queue, deferred, disk_free;
	struct history_pool pool[POOL_COUNT];
};

static struct {
	struct history_sample ring[HISTORY_SAMPLES];
	size_t first, count;
	int64_t interval_ms;
	int64_t next_ms;             /* now_ms() of the next sample */
	/* Counter values at the last sample: the next one's base. */
	uint64_t accepted, delivered, sessions[POOL_COUNT];
} hist;

/* The fields of a sample line other than the pools', in order. */
static const struct {
	const char *name;
	size_t off;
} sample_fields[] = {
	{ "time", offsetof(struct history_sample, time) },
	{ "interval", offsetof(struct history_sample, interval) },
	{ "accepted", offsetof(struct history_sample, accepted) },
	{ "delivered", offsetof(struct history_sample, delivered) },
	{ "queue", offsetof(struct history_sample, queue) },
	{ "deferred", offsetof(struct history_sample, deferred) },
	{ "disk_free", offsetof(struct history_sample, disk_free) },
};

static const char *const pool_fields[] = { "busy", "idle", "max",
	"sessions" };

static uint64_t *
pool_field(struct history_sample *s, int pool, size_t k)
{
	struct history_pool *p = &s->pool[pool];
	uint64_t *v[] = { &p->busy, &p->idle, &p->max, &p->sessions };

	return v[k];
}

static void
history_path(const struct master *m, struct buf *out)
{
	buf_reset(out);
	buf_printf(out, "%s/run/history", m->conf->state_dir);
}

static void
format_sample(struct history_sample *s, struct buf *out)
{
	buf_append_str(out, "sample");
	for (size_t k = 0; k < sizeof(sample_fields) / sizeof(sample_fields[0]);
	    k++)
		buf_printf(out, " %s=%" PRIu64, sample_fields[k].name,
		    *(uint64_t *)((char *)s + sample_fields[k].off));
	for (int i = 0; i < POOL_COUNT; i++)
		for (size_t k = 0; k < 4; k++)
			buf_printf(out, " %s_%s=%" PRIu64,
			    pool_name((enum pool_id)i), pool_fields[k],
			    *pool_field(s, i, k));
	buf_append_char(out, '\n');
}

/* The slot for one key of a sample line, or NULL when unknown. */
static uint64_t *
field_slot(struct history_sample *s, const char *key, size_t len)
{
	for (size_t k = 0; k < sizeof(sample_fields) / sizeof(sample_fields[0]);
	    k++)
		if (strlen(sample_fields[k].name) == len &&
		    strncmp(sample_fields[k].name, key, len) == 0)
			return (uint64_t *)((char *)s + sample_fields[k].off);
	for (int i = 0; i < POOL_COUNT; i++) {
		const char *pn = pool_name((enum pool_id)i);
		size_t pl = strlen(pn);

		if (len <= pl + 1 || strncmp(key, pn, pl) != 0 ||
		    key[pl] != '_')
			continue;
		for (size_t k = 0; k < 4; k++)
			if (strlen(pool_fields[k]) == len - pl - 1 &&
			    strncmp(pool_fields[k], key + pl + 1,
			    len - pl - 1) == 0)
				return pool_field(s, i, k);
	}
	return NULL;
}

/* One line of the file: 0 parsed (unknown keys ignored), -1 not a
 * sample line. */
static int
parse_sample(const char *line, struct history_sample *s)
{
	memset(s, 0, sizeof(*s));
	if (strncmp(line, "sample ", 7) != 0)
		return -1;
	for (const char *p = line + 7; *p != '\0';) {
		size_t len = strcspn(p, " ");
		const char *eq = memchr(p, '=', len);
		char *end;
		uint64_t *slot;
		unsigned long long v;

		if (eq == NULL || eq == p)
			return -1;
		errno = 0;
		v = strtoull(eq + 1, &end, 10);
		if (errno != 0 || end != p + len || end == eq + 1)
			return -1;
		if ((slot = field_slot(s, p, (size_t)(eq - p))) != NULL)
			*slot = v;
		p += len;
		p += strspn(p, " ");
	}
	return s->time > 0 ? 0 : -1;
}

static void
ring_push(const struct history_sample *s)
{
	if (hist.count < HISTORY_SAMPLES)
		hist.ring[(hist.first + hist.count++) % HISTORY_SAMPLES] = *s;
	else {
		hist.ring[hist.first] = *s;
		hist.first = (hist.first + 1) % HISTORY_SAMPLES;
	}
}

static void
history_load(const struct master *m)
{
	struct buf path = BUF_INIT, text = BUF_INIT;
	size_t bad = 0;

	history_path(m, &path);
	if (read_file(path.data, &text, HISTORY_FILE_MAX) < 0) {
		if (errno != ENOENT)
			log_warn("event=history-failed path=%s error=\"%s\"",
			    path.data, strerror(errno));
		buf_free(&path);
		return;
	}
	for (char *line = text.data; line != NULL && *line != '\0';) {
		char *nl = strchr(line, '\n');
		struct history_sample s;

		if (nl != NULL)
			*nl = '\0';
		if (parse_sample(line, &s) == 0)
			ring_push(&s);
		else
			bad++;
		line = nl != NULL ? nl + 1 : NULL;
	}
	if (bad > 0)
		log_warn("event=history-failed path=%s count=%zu "
		    "reason=\"lines skipped\"", path.data, bad);
	buf_free(&path);
	buf_free(&text);
}

void
master_history_init(struct master *m)
{
	const char *env = getenv("DMAIL_HISTORY_INTERVAL");
	long secs = env != NULL ? strtol(env, NULL, 10) : 0;

	hist.interval_ms = (secs >= 1 && secs <= 3600 ? secs :
	    HISTORY_INTERVAL_S) * 1000;
	hist.next_ms = now_ms() + hist.interval_ms;
	history_load(m);
}

/* A counter summed over the roles of a pool. */
static uint64_t
counter_sum(const struct master *m, enum pool_id pool, enum sb_counter c)
{
	uint64_t n = 0;

	for (unsigned r = 0; r < SB_ROLES; r++)
		n += scoreboard_counter(m->sb, (uint32_t)pool, r, c);
	return n;
}

static void
take_sample(struct master *m, struct history_sample *s)
{
	uint64_t accepted = counter_sum(m, POOL_SMTP, SBC_ACCEPTED);
	uint64_t delivered = counter_sum(m, POOL_QUEUE, SBC_RELAYED);
	int64_t oldest;
	struct statvfs vfs;

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < POOL_COUNT; i++)
		delivered += counter_sum(m, (enum pool_id)i,
		    SBC_DELIVERED_LOCAL);
	s->time = (uint64_t)time(NULL);
	s->interval = (uint64_t)(hist.interval_ms / 1000);
	s->accepted = accepted - hist.accepted;
	s->delivered = delivered - hist.delivered;
	hist.accepted = accepted;
	hist.delivered = delivered;
	scoreboard_queue_get(m->sb, &s->queue, &oldest);
	s->deferred = scoreboard_queue_deferred(m->sb);
	if (statvfs(m->conf->state_dir, &vfs) == 0)
		s->disk_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	for (int i = 0; i < POOL_COUNT; i++) {
		const struct pool *p = &m->pools[i];

		s->pool[i].busy = p->busy;
		s->pool[i].idle = p->idle;
		s->pool[i].max = p->enabled ? p->mc->conf.pool[i].workers_max :
		    0;
		s->pool[i].sessions = p->sessions - hist.sessions[i];
		hist.sessions[i] = p->sessions;
	}
}

/* The ring into state_dir/run/history: temporary file and rename, no
 * fsync (statistics; see the top of the file). */
static void
history_save(const struct master *m)
{
	struct buf path = BUF_INIT, tmp = BUF_INIT, text = BUF_INIT;
	FILE *f;

	history_path(m, &path);
	buf_printf(&tmp, "%s.tmp", path.data);
	for (size_t i = 0; i < hist.count; i++)
		format_sample(&hist.ring[(hist.first + i) % HISTORY_SAMPLES],
		    &text);
	f = fopen(tmp.data, "we");
	if (f != NULL) {
		bool ok = fwrite(buf_cstr(&text), 1, text.len, f) == text.len;

		if (fclose(f) != 0 || !ok)
			f = NULL;
	}
	if (f == NULL || rename(tmp.data, path.data) < 0) {
		log_warn("event=history-failed path=%s error=\"%s\"", tmp.data,
		    strerror(errno));
		(void)unlink(tmp.data);
	}
	buf_free(&path);
	buf_free(&tmp);
	buf_free(&text);
}

void
master_history_tick(struct master *m)
{
	struct history_sample s;
	int64_t now = now_ms();

	if (now < hist.next_ms)
		return;
	hist.next_ms = now + hist.interval_ms;
	take_sample(m, &s);
	ring_push(&s);
	history_save(m);
}

int
master_history_timeout(int timeout_ms)
{
	int64_t left = hist.next_ms - now_ms();

	if (left < 0)
		left = 0;
	if (timeout_ms < 0 || left < timeout_ms)
		return (int)left;
	return timeout_ms;
}

void
master_history_report(struct master *m, struct buf *out)
{
	(void)m;
	buf_printf(out, "+OK history %zu samples interval %lld\n",
	    hist.count, (long long)(hist.interval_ms / 1000));
	for (size_t i = 0; i < hist.count; i++)
		format_sample(&hist.ring[(hist.first + i) % HISTORY_SAMPLES],
		    out);
}
