/*
 * web_admin.c - the administrator's pages and API (see webd.h):
 *
 *   GET  /dashboard                 pools (tellsmtp status) and queue size
 *   GET  /control                   reload and shutdown buttons
 *   POST /control/reload|shutdown   through the master's control socket
 *   GET  /queue?page=N              the queue (tellsmtp queue), paged
 *   POST /queue/hold|release|delete|flush   (qid field)
 *   GET  /accounts?q=TEXT&page=N    accounts containing TEXT, paged
 *   POST /accounts/add|disable|enable|passwd|quota
 *
 *   GET  /api/v1/status[?format=prometheus]   POST /api/v1/reload|shutdown
 *   GET  /api/v1/queue       POST /api/v1/queue/flush|hold/ID|release/ID|
 *                            delete/ID
 *   GET  /api/v1/accounts?q=&offset=&limit=
 *   POST /api/v1/accounts (address, password[, quota_bytes])
 *   POST /api/v1/accounts/ADDR/disable|enable|passwd|quota
 *
 * The queue commands run common/queue_cmds.c (what tellsmtp runs) in a
 * child process whose output is the answer; control commands are the
 * master's (control_client.h); accounts change through userdb.h like
 * dmail-user. Accounts are read with userdb_foreach(), stopping once a
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

#define QUEUE_OUTPUT_MAX (8 * 1024 * 1024)

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

/* tellsmtp's queue command argv[0..argc) in a child; its stdout and
 * stderr into out. Returns its exit status (0 done). */
static int
queue_run(struct web_req *r, int argc, char **argv, struct buf *out)
{
	int fds[2], status = 0;
	pid_t pid;

	buf_reset(out);
	if (pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		int rc = queue_command(r->w->conf, argc, argv);

		fflush(stdout);
		fflush(stderr);
		_exit(rc);
	}
	close(fds[1]);
	for (;;) {
		char chunk[8192];
		ssize_t n = read(fds[0], chunk, sizeof(chunk));

		if (n > 0 && out->len < QUEUE_OUTPUT_MAX)
			buf_append(out, chunk, (size_t)n);
		else if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static bool
valid_qid(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return n > 0 && n < 64 && strspn(s, "0123456789ABCDEFabcdef.") == n;
}

/* A queue change: verb ("hold", ...) on qid (NULL for flush). */
static int
queue_change(struct web_req *r, const char *verb, const char *qid,
    struct buf *out)
{
	char *argv[3] = { (char *)verb, (char *)qid, NULL };
	struct buf detail = BUF_INIT;
	int rc;

	rc = queue_run(r, qid != NULL ? 2 : 1, argv, out);
	buf_printf(&detail, "qid=%s", qid != NULL ? qid : "-");
	if (rc != 0)
		buf_printf(&detail, " reason=\"%.*s\"",
		    (int)strcspn(buf_cstr(out), "\"\n"), buf_cstr(out));
	{
		char cmd[32];

		snprintf(cmd, sizeof(cmd), "queue-%s", verb);
		web_log(r, cmd, rc == 0 ? "ok" : "failed", detail.data);
	}
	buf_free(&detail);
	return rc;
}

/* --- pages ----------------------------------------------------------- */

static unsigned
queue_messages(const char *listing)
{
	const char *s = strstr(listing, "\n-- ");

	return s != NULL ? (unsigned)strtoul(s + 4, NULL, 10) : 0;
}

static void
dashboard(struct web_req *r, const char *rest)
{
	struct buf status = BUF_INIT, queue = BUF_INIT;
	char *argv[2] = { (char *)"queue", NULL };
	int rc;

	(void)rest;
	rc = master_cmd(r, "status", &status);
	(void)queue_run(r, 1, argv, &queue);
	web_page_begin(r, "Dashboard");
	web_html(r, "<div class=\"box\"><b>Queue:</b> %u message(s) "
	    "<a href=\"/queue\">view</a></div><h2>Pools</h2>",
	    queue_messages(queue.data != NULL ? queue.data : ""));
	if (rc < 0)
		web_html(r, "<p class=\"msg\">%s</p>", buf_cstr(&status));
	else
		web_html(r, "<pre>%s</pre>", buf_cstr(&status));
	web_page_end(r);
	buf_free(&status);
	buf_free(&queue);
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

/* One message's line of the listing: its id and the rest. */
static void
queue_row(struct web_req *r, const char *line, size_t n)
{
	char qid[64], *text = xstrndup(line, n);
	size_t idlen = strcspn(text, " ");
	bool held = strstr(text, "(on hold)") != NULL;

	snprintf(qid, sizeof(qid), "%.*s", (int)(idlen < 63 ? idlen : 63),
	    text);
	web_html(r, "<tr><td><code>%s</code></td><td>%s</td><td>", qid,
	    text + idlen);
	web_html(r, "<form class=\"inline\" method=\"post\" action=\"/queue/%s"
	    "\"><input type=\"hidden\" name=\"qid\" value=\"%s\">",
	    held ? "release" : "hold", qid);
	web_csrf_field(r);
	web_html(r, "<button>%s</button></form> <form class=\"inline\" "
	    "method=\"post\" action=\"/queue/delete\"><input type=\"hidden\" "
	    "name=\"qid\" value=\"%s\">", held ? "Release" : "Hold", qid);
	web_csrf_field(r);
	web_html(r, "<button>Delete</button></form></td></tr>");
	free(text);
}

static void
queue_page(struct web_req *r, const char *rest)
{
	struct buf out = BUF_INIT;
	char *argv[2] = { (char *)"queue", NULL };
	unsigned page = web_uint_arg(r, "page", 0, 1000000), k = 0;

	(void)rest;
	(void)queue_run(r, 1, argv, &out);
	web_page_begin(r, "Queue");
	web_html(r, "<form method=\"post\" action=\"/queue/flush\">");
	web_csrf_field(r);
	web_html(r, "<button>Retry all now (flush)</button></form>"
	    "<table><tr><th>Queue id</th><th>Size, age, sender</th>"
	    "<th></th></tr>");
	for (const char *s = buf_cstr(&out); *s != '\0';) {
		size_t n = strcspn(s, "\n");

		size_t idlen = strcspn(s, " \n");

		if (idlen >= 16 && idlen < 64 && strspn(s,
		    "0123456789ABCDEFabcdef.") == idlen &&
		    k++ / WEB_PAGE_SIZE == page)
			queue_row(r, s, n);
		s += n + (s[n] == '\n');
	}
	web_html(r, "</table><p>%u message(s).", k);
	if (page > 0)
		web_html(r, " <a href=\"/queue?page=%u\">Previous</a>", page - 1);
	if ((page + 1) * WEB_PAGE_SIZE < k)
		web_html(r, " <a href=\"/queue?page=%u\">Next</a>", page + 1);
	web_html(r, "</p><h2>Full listing</h2><pre>%s</pre>", buf_cstr(&out));
	web_page_end(r);
	buf_free(&out);
}

static void
queue_post(struct web_req *r, const char *verb)
{
	const char *qid = web_arg(r, "qid");
	struct buf out = BUF_INIT;
	int rc;

	if (strcmp(verb, "flush") != 0 && !valid_qid(qid)) {
		web_error(r, 400, "No valid queue id.");
		return;
	}
	rc = queue_change(r, verb, strcmp(verb, "flush") == 0 ? NULL : qid,
	    &out);
	if (r->api) {
		if (rc == 0)
			web_json_output(r, out.data != NULL ? out.data : "");
		else
			web_error(r, 409, buf_cstr(&out));
	} else if (rc == 0)
		web_redirect(r, "/queue");
	else
		web_error(r, 409, buf_cstr(&out));
	buf_free(&out);
}

static void
queue_action(struct web_req *r, const char *rest)
{
	static const char *const verbs[] = { "hold", "release", "delete",
		"flush" };

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(rest, verbs[i]) == 0) {
			queue_post(r, verbs[i]);
			return;
		}
	web_error(r, 404, "No such queue action.");
}

/* API: /api/v1/queue/flush or /api/v1/queue/VERB/ID */
static void
api_queue_action(struct web_req *r, const char *rest)
{
	const char *slash = strchr(rest, '/');
	char verb[16];
	size_t n = slash != NULL ? (size_t)(slash - rest) : strlen(rest);

	if (n >= sizeof(verb)) {
		web_error(r, 404, "no such queue action");
		return;
	}
	memcpy(verb, rest, n);
	verb[n] = '\0';
	if (slash != NULL && r->nfields < WEB_MAX_FIELDS) {
		r->fields[r->nfields].name = xstrdup("qid");
		r->fields[r->nfields].value = xstrdup(slash + 1);
		r->nfields++;
	}
	queue_action(r, verb);
}

static void
api_queue(struct web_req *r, const char *rest)
{
	struct buf out = BUF_INIT;
	char *argv[2] = { (char *)"queue", NULL };

	(void)rest;
	if (queue_run(r, 1, argv, &out) == 0)
		web_json_output(r, buf_cstr(&out));
	else
		web_error(r, 500, buf_cstr(&out));
	buf_free(&out);
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
	{ "GET", "/queue", NEED_ADMIN, queue_page },
	{ "POST", "/queue/", NEED_ADMIN, queue_action },
	{ "GET", "/accounts", NEED_ADMIN, web_accounts_page },
	{ "POST", "/accounts/", NEED_ADMIN, web_accounts_post },
	{ "GET", "/api/v1/status", NEED_ADMIN, api_status },
	{ "POST", "/api/v1/reload", NEED_ADMIN, control_reload },
	{ "POST", "/api/v1/shutdown", NEED_ADMIN, control_shutdown },
	{ "GET", "/api/v1/queue", NEED_ADMIN, api_queue },
	{ "POST", "/api/v1/queue/", NEED_ADMIN, api_queue_action },
	{ "GET", "/api/v1/accounts", NEED_ADMIN, web_api_accounts },
	{ "POST", "/api/v1/accounts", NEED_ADMIN, web_api_accounts_add },
	{ "POST", "/api/v1/accounts/", NEED_ADMIN, web_api_account_action },
};
const size_t web_admin_route_count =
    sizeof(web_admin_routes) / sizeof(web_admin_routes[0]);
