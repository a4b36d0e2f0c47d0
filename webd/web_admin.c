/*
 * web_admin.c - the administrator's pages and API (see webd.h):
 *
 *   GET  /dashboard                 per pool busy, idle and maximum
 *                                   workers and sessions per minute,
 *                                   messages accepted and delivered per
 *                                   minute, queue size, deferred, disk
 *                                   free of state_dir: the current values
 *                                   and a chart of the last hour each
 *                                   (inline SVG drawn here), from the
 *                                   master's "history"; then the pools'
 *                                   table (tellsmtp status)
 *   GET  /control                   reload and shutdown buttons
 *   POST /control/reload|shutdown   through the master's control socket
 *   the queue pages                 web_queue.c
 *   GET  /accounts?q=TEXT&page=N    accounts containing TEXT, paged
 *   POST /accounts/add|disable|enable|passwd|quota
 *
 *   GET  /api/v1/status[?format=prometheus]   POST /api/v1/reload|shutdown
 *   GET  /api/v1/history     the master's samples as JSON
 *   GET  /api/v1/accounts?q=&offset=&limit=   GET /api/v1/accounts/ADDR
 *   POST /api/v1/accounts (address, password[, quota_bytes])
 *   POST /api/v1/accounts/ADDR/disable|enable|passwd|quota
 *
 * Control commands are the master's (control_client.h); accounts change
 * through userdb.h like dmail-user. Accounts are read with userdb_foreach(), stopping once a
 * page is full: a page never loads the whole database.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control_client.h"
#include "log.h"
#include "queue_cmds.h"
#include "util.h"
#include "webd.h"

/* --- the master and the queue -------------------------------------- */

/* One control command; 0 answered +OK, 1 -ERR, -1 unreachable. The
 * answer (or the reason) in out, without the +OK line when there is
 * more. */
static int
master_cmd(struct web_req *r, const char *line, struct buf *out)
{
	struct buf reply = BUF_INIT, err = BUF_INIT;
	int rc;

	buf_reset(out);
	if (control_request(r->w->conf->control_socket, line, &reply,
	    &err) < 0) {
		buf_append_str(out, buf_cstr(&err));
		rc = -1;
	} else {
		const char *body = strchr(reply.data, '\n');
		bool ok = control_reply_ok(&reply);

		buf_append_str(out, ok && body != NULL && body[1] != '\0' ?
		    body + 1 : buf_cstr(&reply));
		rc = ok ? 0 : 1;
	}
	buf_free(&reply);
	buf_free(&err);
	return rc;
}

/* --- pages ----------------------------------------------------------- */

/* --- the dashboard: the master's history (control command "history") */

#define HIST_KEYS 48
#define HIST_ROWS 256

struct history {
	unsigned interval;             /* seconds per sample */
	size_t nkeys, n;
	char keys[HIST_KEYS][32];
	uint64_t v[HIST_ROWS][HIST_KEYS];
};

/* The column of key, or -1. */
static int
hist_key(const struct history *h, const char *key, size_t len)
{
	for (size_t k = 0; k < h->nkeys; k++)
		if (strlen(h->keys[k]) == len && strncmp(h->keys[k], key,
		    len) == 0)
			return (int)k;
	return -1;
}

/* The column of key, added when new; -1 when full. */
static int
hist_column(struct history *h, const char *key, size_t len)
{
	int k = hist_key(h, key, len);

	if (k >= 0 || h->nkeys == HIST_KEYS || len >= sizeof(h->keys[0]))
		return k;
	memcpy(h->keys[h->nkeys], key, len);
	h->keys[h->nkeys][len] = '\0';
	return (int)h->nkeys++;
}

/* The "sample KEY=N ..." lines of the answer into h. */
static void
hist_parse(struct history *h, const char *text)
{
	memset(h, 0, sizeof(*h));
	h->interval = 60;
	for (const char *s = text; *s != '\0' && h->n < HIST_ROWS;) {
		size_t n = strcspn(s, "\n");

		if (strncmp(s, "sample ", 7) == 0) {
			for (const char *p = s + 7; p < s + n;) {
				size_t len = strcspn(p, " \n");
				const char *eq = memchr(p, '=', len);
				int k = eq != NULL ? hist_column(h, p,
				    (size_t)(eq - p)) : -1;

				if (k >= 0)
					h->v[h->n][k] = strtoull(eq + 1, NULL,
					    10);
				p += len + (p[len] == ' ');
			}
			h->n++;
		}
		s += n + (s[n] == '\n');
	}
	if (h->n > 0) {
		int k = hist_key(h, "interval", 8);

		if (k >= 0 && h->v[h->n - 1][k] > 0)
			h->interval = (unsigned)h->v[h->n - 1][k];
	}
}

/* Sample i of key, per minute when rate (the sample counts events of
 * its interval). */
static uint64_t
hist_value(const struct history *h, int k, size_t i, bool rate)
{
	uint64_t v = k >= 0 ? h->v[i][k] : 0;

	return rate ? v * 60 / (h->interval > 0 ? h->interval : 60) : v;
}

static void
human_bytes(uint64_t b, char *out, size_t len)
{
	static const char *const units[] = { "B", "KB", "MB", "GB", "TB" };
	double v = (double)b;
	unsigned u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, len, "%.1f %s", v, units[u]);
}

/* One sparkline: an inline SVG of key's samples, min and max beside. */
static void
sparkline(struct web_req *r, const struct history *h, const char *key,
    const char *label, bool rate)
{
	int k = hist_key(h, key, strlen(key));
	uint64_t lo = UINT64_MAX, hi = 0;
	struct buf pts = BUF_INIT;

	for (size_t i = 0; i < h->n; i++) {
		uint64_t v = hist_value(h, k, i, rate);

		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	if (h->n == 0)
		lo = 0;
	/* One sample is drawn as a flat line across. */
	for (size_t i = 0; i < h->n + (h->n == 1); i++) {
		size_t j = i < h->n ? i : 0;
		double x = 240.0 * (double)i /
		    (double)(h->n > 1 ? h->n - 1 : 1);
		double y = hi > lo ? 36.0 - 32.0 * (double)(hist_value(h, k,
		    j, rate) - lo) / (double)(hi - lo) : 20.0;

		buf_printf(&pts, "%s%.1f,%.1f", i > 0 ? " " : "", x, y);
	}
	web_html(r, "<tr><td>%s</td><td><svg class=\"spark\" width=\"240\" "
	    "height=\"40\" viewBox=\"0 0 240 40\" role=\"img\" "
	    "aria-label=\"%s\"><rect width=\"240\" height=\"40\" "
	    "fill=\"#eef2f8\"/><polyline fill=\"none\" stroke=\"#2a6ebb\" "
	    "stroke-width=\"1.5\" points=\"%s\"/></svg></td><td>min %llu"
	    "</td><td>max %llu</td></tr>", label, label, buf_cstr(&pts),
	    (unsigned long long)lo, (unsigned long long)hi);
	buf_free(&pts);
}

/* key's value in the last sample (per minute when rate). */
static uint64_t
hist_last(const struct history *h, const char *key, bool rate)
{
	return hist_value(h, hist_key(h, key, strlen(key)), h->n - 1, rate);
}

/* The current figures: the last sample. */
static void
current_table(struct web_req *r, const struct history *h)
{
	static const char *const f[] = { "busy", "idle", "max", "sessions" };
	char free_text[32];
	uint64_t disk = hist_last(h, "disk_free", false);

	human_bytes(disk, free_text, sizeof(free_text));
	web_html(r, "<table><tr><th>Pool</th><th>Busy</th><th>Idle</th>"
	    "<th>Max</th><th>Sessions/min</th></tr>");
	for (int i = 0; i < POOL_COUNT; i++) {
		const char *pn = pool_name((enum pool_id)i);
		char key[32];
		unsigned long long v[4];

		for (size_t j = 0; j < 4; j++) {
			snprintf(key, sizeof(key), "%s_%s", pn, f[j]);
			v[j] = hist_last(h, key, j == 3);
		}
		if (v[2] > 0)
			web_html(r, "<tr><td>%s</td><td>%llu</td><td>%llu</td>"
			    "<td>%llu</td><td>%llu</td></tr>", pn, v[0], v[1],
			    v[2], v[3]);
	}
	web_html(r, "</table><table><tr><th>Accepted/min</th><td>%llu</td>"
	    "</tr><tr><th>Delivered/min</th><td>%llu</td></tr><tr><th>Queue"
	    "</th><td>%llu <a href=\"/queue\">view</a></td></tr><tr><th>"
	    "Deferred</th><td>%llu <a href=\"/queue?status=deferred\">view"
	    "</a></td></tr><tr><th>Disk free (state_dir)</th><td id=\""
	    "disk-free\">%s (%llu bytes)</td></tr></table>",
	    (unsigned long long)hist_last(h, "accepted", true),
	    (unsigned long long)hist_last(h, "delivered", true),
	    (unsigned long long)hist_last(h, "queue", false),
	    (unsigned long long)hist_last(h, "deferred", false), free_text,
	    (unsigned long long)disk);
}

static void
charts(struct web_req *r, const struct history *h)
{
	web_html(r, "<h2>Last hour</h2><table>");
	sparkline(r, h, "accepted", "Accepted per minute", true);
	sparkline(r, h, "delivered", "Delivered per minute", true);
	sparkline(r, h, "queue", "Queue size", false);
	sparkline(r, h, "deferred", "Deferred", false);
	sparkline(r, h, "disk_free", "Disk free (bytes)", false);
	for (int i = 0; i < POOL_COUNT; i++) {
		const char *pn = pool_name((enum pool_id)i);
		char key[32], label[64];
		int k;

		snprintf(key, sizeof(key), "%s_max", pn);
		k = hist_key(h, key, strlen(key));
		if (k < 0 || h->v[h->n - 1][k] == 0)
			continue;
		snprintf(key, sizeof(key), "%s_busy", pn);
		snprintf(label, sizeof(label), "%s busy workers", pn);
		sparkline(r, h, key, label, false);
		snprintf(key, sizeof(key), "%s_sessions", pn);
		snprintf(label, sizeof(label), "%s sessions per minute", pn);
		sparkline(r, h, key, label, true);
	}
	web_html(r, "</table>");
}

static void
dashboard(struct web_req *r, const char *rest)
{
	struct buf status = BUF_INIT, text = BUF_INIT;
	struct history *h = xcalloc(1, sizeof(*h));
	int rc;

	(void)rest;
	rc = master_cmd(r, "status", &status);
	if (master_cmd(r, "history", &text) == 0)
		hist_parse(h, buf_cstr(&text));
	web_page_begin(r, "Dashboard");
	if (h->n == 0)
		web_html(r, "<p class=\"msg\">No history yet: the master takes "
		    "a sample every %u seconds.</p>", h->interval);
	else {
		current_table(r, h);
		charts(r, h);
	}
	web_html(r, "<h2>Pools</h2>");
	if (rc < 0)
		web_html(r, "<p class=\"msg\">%s</p>", buf_cstr(&status));
	else
		web_html(r, "<pre>%s</pre>", buf_cstr(&status));
	web_page_end(r);
	free(h);
	buf_free(&status);
	buf_free(&text);
}

/* GET /api/v1/history: {"ok":true,"interval":S,"samples":[{...}]} */
static void
api_history(struct web_req *r, const char *rest)
{
	struct buf text = BUF_INIT;
	struct history *h;
	int rc = master_cmd(r, "history", &text);

	(void)rest;
	if (rc != 0) {
		web_error(r, 503, buf_cstr(&text));
		buf_free(&text);
		return;
	}
	h = xcalloc(1, sizeof(*h));
	hist_parse(h, buf_cstr(&text));
	r->ctype = "application/json";
	buf_printf(&r->out, "{\"ok\":true,\"interval\":%u,\"samples\":[",
	    h->interval);
	for (size_t i = 0; i < h->n; i++) {
		buf_append_str(&r->out, i > 0 ? ",{" : "{");
		for (size_t k = 0; k < h->nkeys; k++)
			buf_printf(&r->out, "%s\"%s\":%llu", k > 0 ? "," : "",
			    h->keys[k], (unsigned long long)h->v[i][k]);
		buf_append_str(&r->out, "}");
	}
	buf_append_str(&r->out, "]}\n");
	free(h);
	buf_free(&text);
}

static void
control_page(struct web_req *r, const char *rest)
{
	(void)rest;
	web_page_begin(r, "Remote control");
	web_html(r, "<div class=\"box\"><p>Reload re-reads dmail.conf; an "
	    "invalid file is refused and the running configuration stays. "
	    "Sessions in progress are not disturbed.</p>"
	    "<form method=\"post\" action=\"/control/reload\">");
	web_csrf_field(r);
	web_html(r, "<button>Reload</button></form></div><div class=\"box\">"
	    "<p>Shutdown stops every server after the sessions in progress "
	    "(shutdown_grace).</p><form method=\"post\" "
	    "action=\"/control/shutdown\">");
	web_csrf_field(r);
	web_html(r, "<button>Shut down</button></form></div>");
	web_page_end(r);
}

static void
control_do(struct web_req *r, const char *what)
{
	struct buf out = BUF_INIT;
	int rc = master_cmd(r, what, &out);

	web_log(r, what, rc == 0 ? "ok" : "failed", NULL);
	if (r->api) {
		if (rc == 0)
			web_json_output(r, out.data);
		else
			web_error(r, rc < 0 ? 503 : 409, out.data);
	} else {
		web_page_begin(r, rc == 0 ? "Done" : "Refused");
		web_html(r, "<pre>%s</pre><p><a href=\"/control\">Back</a></p>",
		    buf_cstr(&out));
		web_page_end(r);
	}
	buf_free(&out);
}

static void
control_reload(struct web_req *r, const char *rest)
{
	(void)rest;
	control_do(r, "reload");
}

static void
control_shutdown(struct web_req *r, const char *rest)
{
	(void)rest;
	control_do(r, "shutdown");
}

static void
api_status(struct web_req *r, const char *rest)
{
	struct buf out = BUF_INIT;
	const char *fmt = web_arg(r, "format");
	bool prom = fmt != NULL && strcmp(fmt, "prometheus") == 0;

	(void)rest;
	if (master_cmd(r, prom ? "status prometheus" : "status", &out) == 0)
		web_json_output(r, out.data);
	else
		web_error(r, 503, buf_cstr(&out));
	buf_free(&out);
}

const struct web_route web_admin_routes[] = {
	{ "GET", "/dashboard", NEED_ADMIN, dashboard },
	{ "GET", "/control", NEED_ADMIN, control_page },
	{ "POST", "/control/reload", NEED_ADMIN, control_reload },
	{ "POST", "/control/shutdown", NEED_ADMIN, control_shutdown },
	{ "GET", "/queue", NEED_ADMIN, web_queue_page },
	{ "GET", "/queue/", NEED_ADMIN, web_queue_detail },
	{ "POST", "/queue/", NEED_ADMIN, web_queue_action },
	{ "GET", "/accounts", NEED_ADMIN, web_accounts_page },
	{ "GET", "/accounts/", NEED_ADMIN, web_account_page },
	{ "POST", "/accounts/", NEED_ADMIN, web_accounts_post },
	{ "GET", "/api/v1/status", NEED_ADMIN, api_status },
	{ "POST", "/api/v1/reload", NEED_ADMIN, control_reload },
	{ "POST", "/api/v1/shutdown", NEED_ADMIN, control_shutdown },
	{ "GET", "/api/v1/history", NEED_ADMIN, api_history },
	{ "GET", "/api/v1/queue", NEED_ADMIN, web_api_queue },
	{ "GET", "/api/v1/queue/", NEED_ADMIN, web_queue_detail },
	{ "POST", "/api/v1/queue/", NEED_ADMIN, web_api_queue_action },
	{ "GET", "/api/v1/accounts", NEED_ADMIN, web_api_accounts },
	{ "GET", "/api/v1/accounts/", NEED_ADMIN, web_account_page },
	{ "POST", "/api/v1/accounts", NEED_ADMIN, web_api_accounts_add },
	{ "POST", "/api/v1/accounts/", NEED_ADMIN, web_api_account_action },
};
const size_t web_admin_route_count =
    sizeof(web_admin_routes) / sizeof(web_admin_routes[0]);
