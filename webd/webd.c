/*
 * webd.c - dmail-webd: the web pool's worker (see webd.h for the design
 * and the module map).
 *
 * init() (still root): reads tls_cert and tls_key into memory, creates
 * the session directory state_dir/run/web (0700, run_as) and maps the
 * shared client table. run() starts one libmicrohttpd daemon per
 * listening socket inherited from the master (MHD_OPTION_LISTEN_SOCKET,
 * external epoll loop: the process is single-threaded) and turns the
 * loop until worker_should_exit(); then it stops accepting
 * (MHD_quiesce_daemon: the socket stays the master's), serves what is in
 * progress for at most WEB_DRAIN_MS and stops.
 *
 * The access handler collects the body (more than web_max_body: 413),
 * identifies the caller (web_auth.c), enforces the route's role and the
 * CSRF token of every POST made with a session, and calls the route.
 * Every answer carries no-store, nosniff, a strict Content Security
 * Policy (no scripts at all) and, on HTTPS, HSTS.
 *
 * Fatal: a certificate or key that cannot be read (init fails, the
 * worker exits 1 and the master throttles the pool), a daemon that does
 * not start.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "util.h"
#include "webd.h"
#include "worker.h"

static void
home(struct web_req *r, const char *rest)
{
	(void)rest;
	web_redirect(r, r->auth.user[0] == '\0' ? "/login" :
	    r->auth.admin ? "/dashboard" : "/lists");
}

static const struct web_route base_routes[] = {
	{ "GET", "/", NEED_NONE, home },
	{ "GET", "/login", NEED_NONE, web_login_page },
	{ "POST", "/login", NEED_NONE, web_login_post },
	{ "POST", "/logout", NEED_LOGIN, web_logout_post },
};

static bool
route_match(const struct web_route *rt, const char *method, const char *url,
    const char **rest)
{
	size_t n = strlen(rt->prefix);

	if (strcmp(rt->method, method) != 0)
		return false;
	if (rt->prefix[n - 1] == '/' && n > 1) {
		if (strncmp(url, rt->prefix, n) != 0 || url[n] == '\0')
			return false;
		*rest = url + n;
		return true;
	}
	*rest = "";
	return strcmp(url, rt->prefix) == 0;
}

static const struct web_route *
route_find(const char *method, const char *url, const char **rest)
{
	static const struct { const struct web_route *t; const size_t *n; }
	    tables[] = {
		{ web_admin_routes, &web_admin_route_count },
		{ web_list_routes, &web_list_route_count },
		{ web_member_routes, &web_member_route_count },
	};
	static const size_t nbase = sizeof(base_routes) / sizeof(base_routes[0]);

	for (size_t i = 0; i < nbase; i++)
		if (route_match(&base_routes[i], method, url, rest))
			return &base_routes[i];
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (size_t i = 0; i < *tables[t].n; i++)
			if (route_match(&tables[t].t[i], method, url, rest))
				return &tables[t].t[i];
	return NULL;
}

static void
dispatch(struct web_req *r)
{
	const char *rest = "";
	const struct web_route *rt = route_find(r->method, r->url, &rest);

	web_parse_form(r);
	web_auth_identify(r);
	if (rt == NULL) {
		web_error(r, 404, "No such page.");
		return;
	}
	if (rt->need != NEED_NONE && r->auth.user[0] == '\0') {
		if (r->api)
			web_error(r, 401, "a valid bearer token is needed");
		else
			web_redirect(r, "/login");
		return;
	}
	if (rt->need == NEED_ADMIN && !r->auth.admin) {
		web_log(r, r->url, "refused", "reason=\"not an administrator\"");
		web_error(r, 403, "This needs an administrator.");
		return;
	}
	if (rt->need != NEED_NONE && strcmp(r->method, "POST") == 0 &&
	    !web_csrf_ok(r)) {
		web_log(r, r->url, "refused", "reason=csrf");
		web_error(r, 403, "The form's security token is missing or "
		    "wrong; reload the page and try again.");
		return;
	}
	rt->fn(r, rest);
}

static void
add_headers(struct web_req *r, struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Content-Type", r->ctype);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
	MHD_add_response_header(resp, "Content-Security-Policy",
	    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' "
	    "data:; form-action 'self'; frame-ancestors 'none'");
	if (r->w->cert_pem != NULL)
		MHD_add_response_header(resp, "Strict-Transport-Security",
		    "max-age=31536000");
	if (r->location[0] != '\0')
		MHD_add_response_header(resp, "Location", r->location);
	if (r->disposition[0] != '\0')
		MHD_add_response_header(resp, "Content-Disposition",
		    r->disposition);
	for (const char *s = buf_cstr(&r->cookies); *s != '\0';) {
		size_t n = strcspn(s, "\n");
		char *v = xstrndup(s, n);

		MHD_add_response_header(resp, "Set-Cookie", v);
		free(v);
		s += n + (s[n] == '\n');
	}
}

static enum MHD_Result
respond(struct web_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(r->out.len,
	    r->out.data != NULL ? r->out.data : (void *)"",
	    MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	add_headers(r, resp);
	ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	log_debug("action=web command=request path=\"%s\" client=%s "
	    "status=%d ms=%lld", r->url, r->client, r->status,
	    (long long)(now_ms() - r->started_ms));
	return ret;
}

/* The client's address as text for logs. */
static void
peer_text(const struct sockaddr_storage *ss, char *out, size_t len)
{
	const void *a = ss->ss_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)ss)->sin_addr;

	if (inet_ntop(ss->ss_family, a, out, (socklen_t)len) == NULL)
		snprintf(out, len, "unknown");
}

static struct web_req *
req_new(struct web *w, struct MHD_Connection *c, const char *url,
    const char *method)
{
	struct web_req *r = xcalloc(1, sizeof(*r));
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	r->w = w;
	r->conn = c;
	r->url = url;
	r->method = method;
	r->api = strncmp(url, "/api/", 5) == 0;
	r->status = 200;
	r->ctype = "text/html; charset=utf-8";
	r->started_ms = now_ms();
	snprintf(r->client, sizeof(r->client), "local");
	if (ci != NULL && ci->client_addr != NULL) {
		const struct sockaddr *sa = ci->client_addr;

		r->peer_len = sa->sa_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		memcpy(&r->peer, sa, r->peer_len);
		peer_text(&r->peer, r->client, sizeof(r->client));
	}
	return r;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct web *w = cls;
	struct web_req *r = *con_cls;

	(void)version;
	if (r == NULL) {
		*con_cls = req_new(w, c, url, method);
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (r->body.len + *upload_size > w->conf->web_max_body)
			r->too_big = true;
		else
			buf_append(&r->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->too_big)
		web_error(r, 413, "The request is larger than web_max_body.");
	else
		dispatch(r);
	return respond(r);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct web_req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nfields; i++) {
		free(r->fields[i].name);
		free(r->fields[i].value);
	}
	buf_free(&r->body);
	buf_free(&r->out);
	buf_free(&r->cookies);
	free(r);
	*con_cls = NULL;
}

static void *
web_init(const struct dmail_conf *conf)
{
	struct web *w = xcalloc(1, sizeof(*w));
	struct buf b = BUF_INIT, err = BUF_INIT;
	uid_t uid;
	gid_t gid;

	w->conf = conf;
	if (conf->tls_cert != NULL) {
		if (read_file(conf->tls_cert, &b, 1024 * 1024) < 0)
			log_fatal("tls_cert %s: %s", conf->tls_cert,
			    strerror(errno));
		w->cert_pem = buf_steal(&b);
		if (read_file(conf->tls_key, &b, 1024 * 1024) < 0)
			log_fatal("tls_key %s: %s", conf->tls_key,
			    strerror(errno));
		w->key_pem = buf_steal(&b);
	}
	web_session_dir(conf, &b);
	if (mkdir_p(b.data, 0700) < 0)
		log_fatal("%s: %s", b.data, strerror(errno));
	if (geteuid() == 0 && conf->run_as != NULL &&
	    user_ids(conf->run_as, &uid, &gid) == 0 &&
	    chown(b.data, uid, gid) < 0)
		log_fatal("chown %s: %s", b.data, strerror(errno));
	buf_reset(&b);
	conf_state_path(conf, "run/" CLIENTTAB_FILE, &b);
	w->clients = clienttab_open(b.data, CLIENTTAB_SLOTS, conf->run_as,
	    &err);
	if (w->clients == NULL)
		log_warn("event=clienttab-failed reason=\"%s: logins are not "
		    "throttled\"", buf_cstr(&err));
	lists_cache_init(&w->lists, conf->lists_file);
	buf_free(&b);
	buf_free(&err);
	return w;
}

static struct MHD_Daemon *
daemon_start(struct web *w, int fd)
{
	unsigned flags = MHD_USE_EPOLL;
	struct MHD_Daemon *d;

	if (w->cert_pem != NULL)
		flags |= MHD_USE_TLS;
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, w,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, w,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)WEB_CONN_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
	    w->cert_pem != NULL ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
	    w->cert_pem, MHD_OPTION_HTTPS_MEM_KEY, w->key_pem, MHD_OPTION_END);
	if (d == NULL)
		log_fatal("cannot start the HTTP server on fd %d", fd);
	return d;
}

/* One turn: wait on every daemon's epoll set, then let each work. */
static void
turn(struct MHD_Daemon **d, size_t n, int max_ms)
{
	struct pollfd pfd[WEB_MAX_LISTEN];
	int timeout = max_ms;

	for (size_t i = 0; i < n; i++) {
		const union MHD_DaemonInfo *di =
		    MHD_get_daemon_info(d[i], MHD_DAEMON_INFO_EPOLL_FD);
		MHD_UNSIGNED_LONG_LONG t;

		pfd[i].fd = di != NULL ? di->epoll_fd : -1;
		pfd[i].events = POLLIN;
		if (MHD_get_timeout(d[i], &t) == MHD_YES && (int)t < timeout)
			timeout = (int)t;
	}
	if (poll(pfd, n, timeout) < 0 && errno != EINTR)
		log_fatal("poll: %s", strerror(errno));
	for (size_t i = 0; i < n; i++)
		MHD_run(d[i]);
}

static unsigned
connections(struct MHD_Daemon **d, size_t n)
{
	unsigned total = 0;

	for (size_t i = 0; i < n; i++) {
		const union MHD_DaemonInfo *di = MHD_get_daemon_info(d[i],
		    MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		total += di != NULL ? di->num_connections : 0;
	}
	return total;
}

static void
web_run(void *state, const struct dmail_conf *conf)
{
	struct web *w = state;
	struct MHD_Daemon *d[WEB_MAX_LISTEN];
	const char *roles = getenv("DMAIL_LISTEN");
	size_t n = 0;
	int64_t deadline;

	(void)conf;
	for (const char *s = roles; s != NULL && *s != '\0' &&
	    n < WEB_MAX_LISTEN; n++) {
		d[n] = daemon_start(w, DMAIL_FD_LISTEN + (int)n);
		s += strcspn(s, ",");
		s += *s == ',';
	}
	if (n == 0)
		log_fatal("no listening sockets (DMAIL_LISTEN is empty)");
	log_debug("event=web-start listen=%zu pid=%ld", n, (long)getpid());
	while (!worker_should_exit())
		turn(d, n, WEB_POLL_MS);
	/* Retired (reload, shutdown, fewer workers): the next generation
	 * accepts from now on; finish what we have. */
	for (size_t i = 0; i < n; i++)
		(void)MHD_quiesce_daemon(d[i]);
	deadline = now_ms() + WEB_DRAIN_MS;
	while (connections(d, n) > 0 && now_ms() < deadline)
		turn(d, n, 50);
	for (size_t i = 0; i < n; i++)
		MHD_stop_daemon(d[i]);
}

static void
web_fini(void *state)
{
	struct web *w = state;

	userdb_close(w->udb);
	clienttab_close(w->clients);
	lists_cache_free(&w->lists);
	free(w->cert_pem);
	free(w->key_pem);
	free(w);
}

static const struct worker_service web_service = {
	.name = "dmail-webd",
	.pool = POOL_WEB,
	.default_role = ROLE_WEB,
	.init = web_init,
	.run = web_run,
	.fini = web_fini,
};

int
main(int argc, char **argv)
{
	return worker_main(argc, argv, &web_service);
}
