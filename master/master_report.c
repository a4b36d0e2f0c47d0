/*
 * master_report.c - the "status" texts: a table for people, Prometheus
 * text exposition format for monitoring (control socket "status
 * prometheus" and every reader of the status socket).
 *
 * Figures per pool: workers (live processes, retiring ones included),
 * busy, idle, sessions (completed, since the master started), crashes
 * (deaths by signal or non-zero exit), generation (the configuration
 * generation the pool runs: pools are reloaded one by one), throttled,
 * uptime (seconds since the pool was enabled), state (running, or
 * stopped by "shutdown POOL"). The header line's generation is the
 * newest one handed out.
 *
 * Event counters and queue gauges (Prometheus text only), from the
 * scoreboard's counter pages (scoreboard.h): one family per row of
 * counter_metrics[], a sample per pool the row names and, for a pool
 * with listeners, per listener role of that pool, zeros included, so
 * every series exists from the start. What each counts: dmaild(8),
 * METRICS.
 *
 * The node (node_name, dmail.conf(5): default the hostname) is in the
 * table's header line and a node="NAME" label on every sample, so that
 * the figures of several DMail nodes can be told apart once collected.
 *
 * master_report_top_clients(): the client addresses holding most sessions
 * of a pool, from the scoreboard's peer entries ("192.0.2.1=57
 * 198.51.100.7=3"), for the full-pool warning and both status texts.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "master.h"
#include "util.h"

static int64_t
pool_uptime(const struct master *m, const struct pool *p, int64_t now)
{
	(void)m;
	return p->enabled ? (now - p->enabled_since) / 1000 : 0;
}

static void
fmt_duration(struct buf *out, int64_t s)
{
	if (s >= 86400)
		buf_printf(out, "%lldd%02lldh", (long long)(s / 86400),
		    (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		buf_printf(out, "%lldh%02lldm", (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
	else if (s >= 60)
		buf_printf(out, "%lldm%02llds", (long long)(s / 60),
		    (long long)(s % 60));
	else
		buf_printf(out, "%llds", (long long)s);
}

struct top_client {
	uint8_t addr[16];
	unsigned sessions;
};

static int
cmp_addr(const void *a, const void *b)
{
	return memcmp(((const struct top_client *)a)->addr,
	    ((const struct top_client *)b)->addr, 16);
}

static int
cmp_sessions(const void *a, const void *b)
{
	const struct top_client *x = a, *y = b;

	if (x->sessions != y->sessions)
		return x->sessions > y->sessions ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);
}

/* The clients of p's sessions, most sessions first, at most max of them
 * in top[]; returns how many. O(n log n) in the pool's workers. */
static size_t
top_clients(struct master *m, const struct pool *p, struct top_client *top,
    size_t max)
{
	struct top_client *all;
	size_t n = 0, k = 0;

	if (p->total == 0)
		return 0;
	all = xcalloc(p->total, sizeof(*all));
	for (const struct worker *w = p->workers; w != NULL && n < p->total;
	    w = w->next) {
		const struct scoreboard_peer *peer =
		    scoreboard_peer(m->sb, w->slot);

		if (peer == NULL || peer->busy != (uint32_t)p->id + 1)
			continue;
		memcpy(all[n].addr, peer->addr, 16);
		all[n++].sessions = 1;
	}
	qsort(all, n, sizeof(*all), cmp_addr);
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && memcmp(all[k - 1].addr, all[i].addr, 16) == 0)
			all[k - 1].sessions++;
		else
			all[k++] = all[i];
	}
	qsort(all, k, sizeof(*all), cmp_sessions);
	if (k > max)
		k = max;
	memcpy(top, all, k * sizeof(*all));
	free(all);
	return k;
}

static void
addr_text(const uint8_t addr[16], char *out, size_t len)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff };

	if (memcmp(addr, mapped, 12) == 0)
		inet_ntop(AF_INET, addr + 12, out, (socklen_t)len);
	else
		inet_ntop(AF_INET6, addr, out, (socklen_t)len);
}

void
master_report_top_clients(struct master *m, const struct pool *p,
    struct buf *out)
{
	struct top_client top[MASTER_TOP_CLIENTS];
	size_t n = top_clients(m, p, top, MASTER_TOP_CLIENTS);
	char text[INET6_ADDRSTRLEN];

	for (size_t i = 0; i < n; i++) {
		addr_text(top[i].addr, text, sizeof(text));
		buf_printf(out, "%s%s=%u", i > 0 ? " " : "", text,
		    top[i].sessions);
	}
}

void
master_report_table(struct master *m, struct buf *out)
{
	int64_t now = now_ms();

	buf_printf(out, "dmaild node %s pid %ld generation %u uptime ",
	    m->conf->node_name, (long)getpid(), m->generation);
	fmt_duration(out, (now - m->started_ms) / 1000);
	buf_printf(out, " config %s%s\n", m->conf_path,
	    m->stopping ? " (shutting down)" : "");
	buf_printf(out, "%-6s %7s %5s %5s %10s %7s %10s %9s %8s %s\n", "pool",
	    "workers", "busy", "idle", "sessions", "crashes", "generation",
	    "throttled", "uptime", "state");
	for (int i = 0; i < POOL_COUNT; i++) {
		const struct pool *p = &m->pools[i];
		struct buf up = BUF_INIT;

		if (!p->enabled && p->total == 0) {
			buf_printf(out, "%-6s disabled\n", pool_name(p->id));
			continue;
		}
		fmt_duration(&up, pool_uptime(m, p, now));
		buf_printf(out, "%-6s %7u %5u %5u %10llu %7llu %10u %9s %8s %s\n",
		    pool_name(p->id), p->total, p->busy, p->idle,
		    (unsigned long long)p->sessions,
		    (unsigned long long)p->crashes, p->mc->generation,
		    now < p->throttle_until ? "yes" : "no", buf_cstr(&up),
		    p->stopped ? "stopped" : "running");
		buf_free(&up);
	}
	for (int i = 0; i < POOL_COUNT; i++) {
		const struct pool *p = &m->pools[i];
		struct buf top = BUF_INIT;

		if (now < p->throttle_until && p->throttle_why != NULL)
			buf_printf(out, "throttled pool %s for %lld ms more: "
			    "workers in a row %s\n", pool_name(p->id),
			    (long long)(p->throttle_until - now),
			    p->throttle_why);
		if (!p->listening)
			continue;
		master_report_top_clients(m, p, &top);
		if (top.len > 0)
			buf_printf(out, "%s top clients: %s\n",
			    pool_name(p->id), buf_cstr(&top));
		buf_free(&top);
	}
}

struct metric {
	const char *name;
	const char *type;
	const char *help;
};

static const struct metric pool_metrics[] = {
	{ "dmail_pool_enabled", "gauge", "1 if the pool runs workers." },
	{ "dmail_pool_workers", "gauge", "Live worker processes, retiring "
	    "ones included." },
	{ "dmail_pool_busy_workers", "gauge", "Workers serving a session." },
	{ "dmail_pool_idle_workers", "gauge", "Workers waiting for a "
	    "connection." },
	{ "dmail_pool_sessions_total", "counter", "Sessions completed." },
	{ "dmail_pool_crashes_total", "counter", "Workers that died by a "
	    "signal or a non-zero exit." },
	{ "dmail_pool_throttled", "gauge", "1 while the pool is throttled "
	    "after start-up failures." },
	{ "dmail_pool_uptime_seconds", "gauge", "Seconds since the pool was "
	    "enabled." },
	{ "dmail_pool_generation", "gauge", "Configuration generation the "
	    "pool runs." },
	{ "dmail_pool_stopped", "gauge", "1 while the pool is stopped "
	    "(tellpop shutdown, ...)." },
};

#define P(pool) (1u << (pool))

/* Rows with the same name are one family (HELP and TYPE once): the
 * refusal reasons. */
static const struct counter_metric {
	const char *name;
	const char *help;
	enum sb_counter counter;
	unsigned pools;           /* P(pool) for each pool reported */
	const char *reason;       /* value of a reason label, or NULL */
} counter_metrics[] = {
	{ "dmail_smtp_messages_accepted_total", "Messages accepted "
	    "(250 after DATA).", SBC_ACCEPTED, P(POOL_SMTP), NULL },
	{ "dmail_smtp_rejected_total", "MAIL, RCPT and DATA commands "
	    "refused, by reason class.", SBC_REJECT_RELAY, P(POOL_SMTP),
	    "relay" },
	{ "dmail_smtp_rejected_total", NULL, SBC_REJECT_UNKNOWN_USER,
	    P(POOL_SMTP), "unknown_user" },
	{ "dmail_smtp_rejected_total", NULL, SBC_REJECT_POLICY, P(POOL_SMTP),
	    "policy" },
	{ "dmail_smtp_rejected_total", NULL, SBC_REJECT_SYNTAX, P(POOL_SMTP),
	    "syntax" },
	{ "dmail_smtp_rejected_total", NULL, SBC_REJECT_SIZE, P(POOL_SMTP),
	    "size" },
	{ "dmail_smtp_rejected_total", NULL, SBC_REJECT_TEMPFAIL,
	    P(POOL_SMTP), "tempfail" },
	{ "dmail_smtp_rejected_total", NULL, SBC_REJECT_RATE,
	    P(POOL_SMTP), "rate" },
	{ "dmail_delivered_local_total", "Recipients delivered into a local "
	    "Maildir.", SBC_DELIVERED_LOCAL,
	    P(POOL_SMTP) | P(POOL_LIST) | P(POOL_QUEUE), NULL },
	{ "dmail_queue_relayed_total", "Queued recipients accepted by a "
	    "remote server.", SBC_RELAYED, P(POOL_QUEUE), NULL },
	{ "dmail_queue_deferred_total", "Delivery attempts of queued "
	    "recipients that failed temporarily.", SBC_DEFERRED,
	    P(POOL_QUEUE), NULL },
	{ "dmail_queue_bounced_total", "Queued recipients that failed for "
	    "good (refused or expired).", SBC_BOUNCED, P(POOL_QUEUE), NULL },
	{ "dmail_logins_succeeded_total", "Successful SMTP AUTH and POP3 "
	    "logins.", SBC_LOGIN_OK, P(POOL_SMTP) | P(POOL_POP3), NULL },
	{ "dmail_logins_failed_total", "Failed SMTP AUTH and POP3 logins, "
	    "refused ones included.", SBC_LOGIN_FAILED,
	    P(POOL_SMTP) | P(POOL_POP3), NULL },
	{ "dmail_tls_sessions_total", "TLS handshakes completed by "
	    "clients (STARTTLS, STLS, implicit TLS).", SBC_TLS,
	    P(POOL_SMTP) | P(POOL_POP3), NULL },
	{ "dmail_list_posts_distributed_total", "List posts sent to the "
	    "members.", SBC_LIST_DISTRIBUTED, P(POOL_LIST), NULL },
	{ "dmail_list_posts_held_total", "List posts held for a moderator.",
	    SBC_LIST_HELD, P(POOL_LIST), NULL },
};

/* One sample: name{pool="P"[,role="R"][,reason="X"]} value. */
static void
counter_sample(struct master *m, struct buf *out,
    const struct counter_metric *cm, enum pool_id pool, unsigned role)
{
	buf_printf(out, "%s{pool=\"%s\"", cm->name, pool_name(pool));
	if (role != SB_ROLE_NONE)
		buf_printf(out, ",role=\"%s\"",
		    role_name((enum listen_role)role));
	if (cm->reason != NULL)
		buf_printf(out, ",reason=\"%s\"", cm->reason);
	buf_printf(out, "} %llu\n", (unsigned long long)scoreboard_counter(
	    m->sb, (uint32_t)pool, role, cm->counter));
}

static void
report_counters(struct master *m, struct buf *out)
{
	for (size_t k = 0; k < sizeof(counter_metrics) /
	    sizeof(counter_metrics[0]); k++) {
		const struct counter_metric *cm = &counter_metrics[k];

		if (cm->help != NULL)
			buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n",
			    cm->name, cm->help, cm->name);
		for (int pool = 0; pool < POOL_COUNT; pool++) {
			bool roles = false;

			if (!(cm->pools & P(pool)))
				continue;
			for (int r = 0; r < ROLE_COUNT; r++)
				if (role_pool((enum listen_role)r) ==
				    (enum pool_id)pool) {
					counter_sample(m, out, cm,
					    (enum pool_id)pool, (unsigned)r);
					roles = true;
				}
			if (!roles)
				counter_sample(m, out, cm, (enum pool_id)pool,
				    SB_ROLE_NONE);
		}
	}
}

/* The queue manager's gauges; the age from its oldest arrival. */
static void
report_queue(struct master *m, struct buf *out)
{
	uint64_t messages;
	int64_t oldest, age = 0;

	scoreboard_queue_get(m->sb, &messages, &oldest);
	if (messages > 0 && oldest > 0 && (int64_t)time(NULL) > oldest)
		age = (int64_t)time(NULL) - oldest;
	buf_printf(out, "# HELP dmail_queue_messages Messages in the "
	    "outbound queue.\n# TYPE dmail_queue_messages gauge\n"
	    "dmail_queue_messages{pool=\"queue\"} %llu\n",
	    (unsigned long long)messages);
	buf_printf(out, "# HELP dmail_queue_oldest_message_age_seconds Age "
	    "of the oldest message in the outbound queue.\n"
	    "# TYPE dmail_queue_oldest_message_age_seconds gauge\n"
	    "dmail_queue_oldest_message_age_seconds{pool=\"queue\"} %lld\n",
	    (long long)age);
}

static unsigned long long
pool_value(const struct master *m, const struct pool *p, size_t k,
    int64_t now)
{
	switch (k) {
	case 0: return p->enabled;
	case 1: return p->total;
	case 2: return p->busy;
	case 3: return p->idle;
	case 4: return p->sessions;
	case 5: return p->crashes;
	case 6: return now < p->throttle_until;
	case 7: return (unsigned long long)pool_uptime(m, p, now);
	case 8: return p->mc->generation;
	default: return p->stopped;
	}
}

/* Each sample line of text, appended to out with node="NAME" as its
 * first label; comments as they are. The value is escaped as the
 * exposition format wants, though node_name's check leaves nothing to. */
static void
add_node_label(const struct master *m, const struct buf *text,
    struct buf *out)
{
	struct buf label = BUF_INIT;
	const char *s = buf_cstr(text), *end = s + text->len;

	buf_append_str(&label, "node=\"");
	for (const char *c = m->conf->node_name; *c; c++)
		buf_printf(&label, "%s%c", *c == '"' || *c == '\\' ? "\\" : "",
		    *c);
	buf_append_str(&label, "\"");
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = nl != NULL ? (size_t)(nl - s) + 1 : (size_t)(end - s);
		size_t name = strcspn(s, "{ \n");

		if (*s == '#' || name >= len || s[name] == '\n')
			buf_append(out, s, len);
		else if (s[name] == '{') {
			buf_append(out, s, name + 1);
			buf_printf(out, "%s,", buf_cstr(&label));
			buf_append(out, s + name + 1, len - name - 1);
		} else {
			buf_append(out, s, name);
			buf_printf(out, "{%s}", buf_cstr(&label));
			buf_append(out, s + name, len - name);
		}
		s += len;
	}
	buf_free(&label);
}

void
master_report_prometheus(struct master *m, struct buf *result)
{
	int64_t now = now_ms();
	struct buf body = BUF_INIT, *out = &body;

	buf_printf(out, "# HELP dmail_generation Configuration generation "
	    "in effect.\n# TYPE dmail_generation gauge\n"
	    "dmail_generation %u\n", m->generation);
	buf_printf(out, "# HELP dmail_uptime_seconds Seconds since dmaild "
	    "started.\n# TYPE dmail_uptime_seconds gauge\n"
	    "dmail_uptime_seconds %lld\n",
	    (long long)((now - m->started_ms) / 1000));
	buf_printf(out, "# HELP dmail_start_time_seconds Unix time dmaild "
	    "started.\n# TYPE dmail_start_time_seconds gauge\n"
	    "dmail_start_time_seconds %lld\n", (long long)m->started_wall);
	for (size_t k = 0; k < sizeof(pool_metrics) / sizeof(pool_metrics[0]);
	    k++) {
		buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n",
		    pool_metrics[k].name, pool_metrics[k].help,
		    pool_metrics[k].name, pool_metrics[k].type);
		for (int i = 0; i < POOL_COUNT; i++)
			buf_printf(out, "%s{pool=\"%s\"} %llu\n",
			    pool_metrics[k].name, pool_name((enum pool_id)i),
			    pool_value(m, &m->pools[i], k, now));
	}
	buf_printf(out, "# HELP dmail_pool_top_client_sessions Sessions held "
	    "by the client addresses with most sessions in the pool.\n"
	    "# TYPE dmail_pool_top_client_sessions gauge\n");
	for (int i = 0; i < POOL_COUNT; i++) {
		struct top_client top[MASTER_TOP_CLIENTS];
		size_t n;
		char text[INET6_ADDRSTRLEN];

		if (!m->pools[i].listening)
			continue;
		n = top_clients(m, &m->pools[i], top, MASTER_TOP_CLIENTS);
		for (size_t j = 0; j < n; j++) {
			addr_text(top[j].addr, text, sizeof(text));
			buf_printf(out, "dmail_pool_top_client_sessions{pool=\"%s\","
			    "client=\"%s\"} %u\n", pool_name((enum pool_id)i),
			    text, top[j].sessions);
		}
	}
	report_counters(m, out);
	report_queue(m, out);
	add_node_label(m, &body, result);
	buf_free(&body);
}
