/*
 * web_queue.c - the outbound queue in the web manager (see webd.h), for
 * administrators:
 *
 *   GET  /queue?sender=&rcpt=&domain=&min_age=&status=&page=N
 *                          the messages matching the search, paged
 *   GET  /queue/QID        one message: envelope, size, arrival,
 *                          attempts, next retry, each recipient's state
 *                          and last error, the header (64 KB at most),
 *                          hold / release / delete buttons
 *   POST /queue/hold|release|delete|flush   (qid field)
 *
 *   GET  /api/v1/queue?sender=&rcpt=&domain=&min_age=&status=&offset=
 *        &limit=           {"ok":true,"total":N,"messages":[...],
 *                          "output":"the tellsmtp queue listing"}
 *   GET  /api/v1/queue/QID one message as JSON
 *   POST /api/v1/queue/flush|hold/ID|release/ID|delete/ID
 *
 * Reading goes through common/queue_cmds.c (queue_select(),
 * queue_entry_load(): what "tellsmtp queue --sender ..." and "tellsmtp
 * queue show QID" print); the changes and the text listing run
 * queue_command() in a child process whose output is the answer. A
 * queue id from the URL is checked with queue_valid_id() and only ever
 * names a file through spool_path().
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "queue_cmds.h"
#include "util.h"
#include "webd.h"

#define QUEUE_OUTPUT_MAX (8 * 1024 * 1024)
#define QUEUE_API_LIMIT 1000

/* --- running tellsmtp's queue commands ------------------------------- */

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


/* --- the search ------------------------------------------------------ */

/* The search of the request into f; false (after the error answer) when
 * the status is not one of active, deferred, held. */
static bool
request_filter(struct web_req *r, struct queue_filter *f)
{
	const char *st = web_arg(r, "status");

	memset(f, 0, sizeof(*f));
	f->sender = web_arg(r, "sender");
	f->rcpt = web_arg(r, "rcpt");
	f->domain = web_arg(r, "domain");
	f->min_age = web_uint_arg(r, "min_age", 0, 100000000);
	if (st != NULL && *st != '\0' && !queue_state_parse(st, &f->state)) {
		web_error(r, 400, "status is active, deferred or held");
		return false;
	}
	return true;
}

/* The search as query arguments (for the paging links and the CLI). */
static void
filter_query(const struct queue_filter *f, struct buf *out)
{
	const char *names[] = { "sender", "rcpt", "domain" };
	const char *vals[] = { f->sender, f->rcpt, f->domain };

	for (size_t i = 0; i < 3; i++)
		if (vals[i] != NULL && *vals[i] != '\0') {
			buf_printf(out, "&%s=", names[i]);
			for (const char *s = vals[i]; *s; s++)
				buf_printf(out, isalnum((unsigned char)*s) ||
				    strchr("@.-_", *s) ? "%c" : "%%%02X",
				    (unsigned char)*s);
		}
	if (f->min_age > 0)
		buf_printf(out, "&min_age=%lld", (long long)f->min_age);
	if (f->state != QUEUE_ANY)
		buf_printf(out, "&status=%s", queue_state_name(f->state));
}

/* Hold or release, and delete: on a row and on the message's page. */
static void
detail_buttons(struct web_req *r, const struct queue_entry *e)
{
	const char *verb = e->qi.hold ? "release" : "hold";

	if (e->maildrop)
		return;         /* not the queue manager's yet */
	web_html(r, "<form class=\"inline\" method=\"post\" "
	    "action=\"/queue/%s\"><input type=\"hidden\" name=\"qid\" "
	    "value=\"%s\">", verb, e->id);
	web_csrf_field(r);
	web_html(r, "<button>%s</button></form> <form class=\"inline\" "
	    "method=\"post\" action=\"/queue/delete\"><input type=\"hidden\" "
	    "name=\"qid\" value=\"%s\">", e->qi.hold ? "Release" : "Hold",
	    e->id);
	web_csrf_field(r);
	web_html(r, "<button>Delete</button></form>");
}

static void
queue_row(const struct queue_entry *e, void *arg)
{
	struct web_req *r = arg;
	char age[32];

	queue_age_text((int64_t)time(NULL) - e->env.arrival, age, sizeof(age));
	web_html(r, "<tr><td><a href=\"/queue/%s\"><code>%s</code></a></td>"
	    "<td>&lt;%s&gt;</td><td>", e->id, e->id, e->env.sender);
	for (size_t i = 0; i < e->env.rcpt_count; i++)
		web_html(r, "%s%s", i > 0 ? ", " : "", e->env.rcpts[i].address);
	web_html(r, "</td><td>%llu</td><td>%s</td><td>%s</td><td>%u</td>"
	    "<td>", (unsigned long long)e->size, age,
	    queue_state_name(e->state), e->qi.attempts);
	detail_buttons(r, e);
	web_html(r, "</td></tr>");
}

static void
search_form(struct web_req *r, const struct queue_filter *f)
{
	web_html(r, "<form method=\"get\" action=\"/queue\" class=\"box\">"
	    "Sender <input name=\"sender\" value=\"%s\"> Recipient <input "
	    "name=\"rcpt\" value=\"%s\"> Domain <input name=\"domain\" "
	    "value=\"%s\"> Older than <input name=\"min_age\" size=\"6\" "
	    "value=\"%lld\"> s Status <select name=\"status\">",
	    f->sender != NULL ? f->sender : "", f->rcpt != NULL ? f->rcpt : "",
	    f->domain != NULL ? f->domain : "", (long long)f->min_age);
	for (unsigned i = 0; i < 4; i++)
		web_html(r, "<option%s>%s</option>", f->state == i ?
		    " selected" : "", queue_state_name((enum queue_state)i));
	web_html(r, "</select> <button>Search</button></form>");
}

void
web_queue_page(struct web_req *r, const char *rest)
{
	struct queue_filter f;
	struct buf q = BUF_INIT;
	unsigned page = web_uint_arg(r, "page", 0, 1000000);
	long total;

	(void)rest;
	if (!request_filter(r, &f))
		return;
	f.offset = (size_t)page * WEB_PAGE_SIZE;
	f.limit = WEB_PAGE_SIZE;
	filter_query(&f, &q);
	web_page_begin(r, "Queue");
	web_html(r, "<form method=\"post\" action=\"/queue/flush\">");
	web_csrf_field(r);
	web_html(r, "<button>Retry all now (flush)</button></form>");
	search_form(r, &f);
	web_html(r, "<table><tr><th>Queue id</th><th>Sender</th>"
	    "<th>Recipients</th><th>Size</th><th>Age</th><th>Status</th>"
	    "<th>Attempts</th><th></th></tr>");
	total = queue_select(r->w->conf, &f, queue_row, r);
	web_html(r, "</table><p>%ld message(s).", total < 0 ? 0 : total);
	if (page > 0)
		web_html(r, " <a href=\"/queue?page=%u%s\">Previous</a>",
		    page - 1, buf_cstr(&q));
	if (total > 0 && (size_t)(page + 1) * WEB_PAGE_SIZE < (size_t)total)
		web_html(r, " <a href=\"/queue?page=%u%s\">Next</a>", page + 1,
		    buf_cstr(&q));
	web_html(r, "</p>");
	web_page_end(r);
	buf_free(&q);
}

/* --- one message ----------------------------------------------------- */

static void
detail_page(struct web_req *r, const struct queue_entry *e,
    const struct buf *headers)
{
	char arrival[64], next[64];

	queue_time_text(e->env.arrival, arrival, sizeof(arrival));
	queue_time_text(e->qi.next, next, sizeof(next));
	web_page_begin(r, "Queued message");
	web_html(r, "<table><tr><th>Queue id</th><td><code>%s</code>%s</td>"
	    "</tr><tr><th>Sender</th><td>&lt;%s&gt;</td></tr><tr><th>Arrival"
	    "</th><td>%s</td></tr><tr><th>Size</th><td>%llu bytes</td></tr>"
	    "<tr><th>Status</th><td>%s</td></tr><tr><th>Attempts</th><td>%u"
	    "</td></tr><tr><th>Next retry</th><td>%s</td></tr>", e->id,
	    e->maildrop ? " (maildrop)" : "", e->env.sender, arrival,
	    (unsigned long long)e->size, queue_state_name(e->state),
	    e->qi.attempts, e->qi.next > 0 ? next : "now");
	if (e->env.client != NULL)
		web_html(r, "<tr><th>Client</th><td>%s</td></tr>",
		    e->env.client);
	web_html(r, "</table><p>");
	detail_buttons(r, e);
	web_html(r, "</p><h2>Recipients</h2><table><tr><th>Recipient</th>"
	    "<th>State</th><th>Last error</th></tr>");
	for (size_t i = 0; i < e->env.rcpt_count; i++) {
		const struct qinfo_rcpt *q = &e->qi.rcpts[i];

		web_html(r, "<tr><td>%s</td><td>%s</td><td>%s%s%s</td></tr>",
		    e->env.rcpts[i].address,
		    queue_rcpt_state(e->env.rcpts[i].state),
		    q->text != NULL ? q->text : "", q->remote != NULL ?
		    " from " : "", q->remote != NULL ? q->remote : "");
	}
	web_html(r, "</table><h2>Header</h2><pre>%s</pre><p><a href=\"/queue"
	    "\">Back to the queue</a></p>", buf_cstr(headers));
	web_page_end(r);
}

/* One message as a JSON object. */
static void
entry_json(const struct queue_entry *e, struct buf *out)
{
	buf_append_str(out, "{\"qid\":");
	json_escape(out, e->id);
	buf_append_str(out, ",\"sender\":");
	json_escape(out, e->env.sender);
	buf_printf(out, ",\"size\":%llu,\"arrival\":%lld,\"status\":\"%s\","
	    "\"maildrop\":%s,\"attempts\":%u,\"next_retry\":%lld,"
	    "\"recipients\":[", (unsigned long long)e->size,
	    (long long)e->env.arrival, queue_state_name(e->state),
	    e->maildrop ? "true" : "false", e->qi.attempts,
	    (long long)e->qi.next);
	for (size_t i = 0; i < e->env.rcpt_count; i++) {
		const struct qinfo_rcpt *q = &e->qi.rcpts[i];

		buf_append_str(out, i > 0 ? ",{\"address\":" : "{\"address\":");
		json_escape(out, e->env.rcpts[i].address);
		buf_printf(out, ",\"state\":\"%s\",\"last_error\":",
		    queue_rcpt_state(e->env.rcpts[i].state));
		if (q->text != NULL)
			json_escape(out, q->text);
		else
			buf_append_str(out, "null");
		buf_append_str(out, "}");
	}
	buf_append_str(out, "]}");
}

static void
api_row(const struct queue_entry *e, void *arg)
{
	struct buf *out = arg;

	if (out->data[out->len - 1] != '[')
		buf_append_char(out, ',');
	entry_json(e, out);
}

void
web_queue_detail(struct web_req *r, const char *rest)
{
	struct queue_entry e;
	struct buf headers = BUF_INIT;

	if (!queue_valid_id(rest)) {
		web_error(r, 400, "Not a queue id.");
		return;
	}
	if (queue_entry_load(r->w->conf, rest, &e) < 0) {
		web_error(r, 404, "No such message in the queue.");
		return;
	}
	(void)queue_entry_headers(r->w->conf, &e, &headers);
	if (r->api) {
		r->ctype = "application/json";
		buf_append_str(&r->out, "{\"ok\":true,\"message\":");
		entry_json(&e, &r->out);
		buf_append_str(&r->out, ",\"headers\":");
		json_escape(&r->out, buf_cstr(&headers));
		buf_append_str(&r->out, "}\n");
	} else
		detail_page(r, &e, &headers);
	buf_free(&headers);
	queue_entry_free(&e);
}

/* --- changes --------------------------------------------------------- */

static void
queue_post(struct web_req *r, const char *verb)
{
	const char *qid = web_arg(r, "qid");
	struct buf out = BUF_INIT, back = BUF_INIT;
	int rc;

	if (strcmp(verb, "flush") != 0 && !queue_valid_id(qid)) {
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
	} else if (rc == 0) {
		/* Hold and release stay on the message's page. */
		buf_set(&back, "/queue");
		if (strcmp(verb, "hold") == 0 || strcmp(verb, "release") == 0)
			buf_printf(&back, "/%s", qid);
		web_redirect(r, back.data);
	} else
		web_error(r, 409, buf_cstr(&out));
	buf_free(&out);
	buf_free(&back);
}

void
web_queue_action(struct web_req *r, const char *rest)
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
void
web_api_queue_action(struct web_req *r, const char *rest)
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
	web_queue_action(r, verb);
}


/* The text listing of tellsmtp for the same search, then the matches. */
void
web_api_queue(struct web_req *r, const char *rest)
{
	struct queue_filter f;
	struct buf text = BUF_INIT, list = BUF_INIT, num[4];
	char *argv[16];
	int argc = 0;
	long total;

	(void)rest;
	if (!request_filter(r, &f))
		return;
	f.offset = web_uint_arg(r, "offset", 0, 100000000);
	f.limit = web_uint_arg(r, "limit", WEB_PAGE_SIZE, QUEUE_API_LIMIT);
	for (size_t i = 0; i < 4; i++)
		buf_init(&num[i]);
	argv[argc++] = (char *)"queue";
	{
		const char *opt[] = { "--sender", "--rcpt", "--domain" };
		const char *val[] = { f.sender, f.rcpt, f.domain };

		for (size_t i = 0; i < 3; i++)
			if (val[i] != NULL && *val[i] != '\0') {
				argv[argc++] = (char *)opt[i];
				argv[argc++] = (char *)val[i];
			}
	}
	buf_printf(&num[0], "%lld", (long long)f.min_age);
	buf_printf(&num[1], "%zu", f.offset);
	buf_printf(&num[2], "%zu", f.limit);
	buf_set(&num[3], queue_state_name(f.state));
	argv[argc++] = (char *)"--min-age";
	argv[argc++] = num[0].data;
	argv[argc++] = (char *)"--offset";
	argv[argc++] = num[1].data;
	argv[argc++] = (char *)"--limit";
	argv[argc++] = num[2].data;
	argv[argc++] = (char *)"--status";
	argv[argc++] = num[3].data;
	argv[argc] = NULL;
	if (queue_run(r, argc, argv, &text) != 0) {
		web_error(r, 500, buf_cstr(&text));
	} else {
		buf_append_str(&list, "[");
		total = queue_select(r->w->conf, &f, api_row, &list);
		r->ctype = "application/json";
		buf_printf(&r->out, "{\"ok\":true,\"total\":%ld,\"offset\":%zu,"
		    "\"limit\":%zu,\"messages\":%s],\"output\":",
		    total < 0 ? 0 : total, f.offset, f.limit, list.data);
		json_escape(&r->out, buf_cstr(&text));
		buf_append_str(&r->out, "}\n");
	}
	for (size_t i = 0; i < 4; i++)
		buf_free(&num[i]);
	buf_free(&text);
	buf_free(&list);
}
