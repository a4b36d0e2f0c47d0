/*
 * webd.h - dmail-webd, the web manager and its HTTPS API: module map and
 * shared types.
 *
 * dmail-webd runs in the master's "web" pool (web_listen, web_workers_min
 * and web_workers_max in dmail.conf). Each worker takes the pool's
 * listening sockets from the master (fds 7.., worker.h) and serves them
 * all with GNU libmicrohttpd in its own event loop (run() of worker.h):
 * one single-threaded process serves many connections. It notices a
 * reload or retirement (worker_should_exit()) within WEB_POLL_MS, stops
 * accepting (the next generation's workers accept from then on), lets
 * the requests in progress finish and exits: a reload drops nothing.
 * HTTPS with tls_cert/tls_key; plain HTTP only on loopback listeners
 * (conf.c refuses anything else). Workers run as run_as.
 *
 * Reads and changes go through the code the command-line tools use: the
 * master's control socket (control_client.h, as tellsmtp), the queue
 * commands (queue_cmds.h, as tellsmtp), the user database (userdb.h, as
 * dmail-user), list members (listdb.h, as dlist), and moderation through
 * the list worker's own "approve ID" / "reject ID" command mail.
 *
 * Files (one concern each; a file calls only files listed below it):
 *   webd.c        main(), the service (init: certificate, client table,
 *                 session directory; run: the libmicrohttpd daemons and
 *                 their event loop, quiesce on exit), the access handler:
 *                 body collection with web_max_body, authentication,
 *                 dispatch over the route table web_routes[].
 *   web_admin.c   the administrator's pages and API: dashboard (the
 *                 master's history drawn as inline SVG), remote control
 *                 (reload, shutdown), and the routes of the queue and
 *                 the accounts.
 *   web_queue.c   the queue (search, page, one message's detail, hold,
 *                 release, delete, flush) for web_admin.c's routes.
 *   web_accounts.c accounts (search, page, add, disable, enable,
 *                 password, quota) for web_admin.c's routes.
 *   web_members.c a list's members (search, cursor paging, add,
 *                 remove, delivery mode, bounce reset, import, CSV
 *                 export), members' self-service (digest, nomail), the
 *                 confirm links of subscribe/unsubscribe requests and
 *                 the RFC 8058 one-click unsubscribe (list_web_url).
 *   web_moderation.c a list's moderation queue (preview, approve,
 *                 reject with a reason); list tokens (web_token_read()).
 *   web_list_admin.c a list's settings (form and change of every
 *                 lists.dat key, through listedit.h as dlist), creating
 *                 and deleting lists (administrators).
 *   web_archive.c a list's archive: by number, month and thread, and a
 *                 post MIME decoded (common/mime.h), for members too.
 *   web_files.c   a list's shared files (common/listfiles.h): list and
 *                 download (members too), upload, replace, delete.
 *   web_lists.c   the lists a caller manages and the dispatch of
 *                 /lists/LIST/... (with the caller's rights checked) to
 *                 the files above.
 *   web_auth.c    login (user database password check under the shared
 *                 client table's throttle), sessions (files under
 *                 state_dir/run/web/, named by the SHA-256 of the random
 *                 id; idle and absolute expiry), CSRF tokens, bearer
 *                 tokens (webtoken.h), roles.
 *   web_json.c    JSON request bodies (a flat object) into the form
 *                 fields, for the API.
 *   web_http.c    request and response helpers: query and form fields,
 *                 multipart/form-data (web_form_file()), cookies, HTML
 *                 and JSON escaping, the page frame and stylesheet,
 *                 error pages and JSON errors.
 *
 * Every change is logged once: action=web command=NAME user=WHO
 * client=IP status=ok|refused|failed [list= member= qid= reason=].
 */
#ifndef DMAIL_WEBD_H
#define DMAIL_WEBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "clienttab.h"
#include "conf.h"
#include "lists.h"
#include "userdb.h"

#define WEB_MAX_LISTEN 16
#define WEB_POLL_MS 200            /* how soon a retirement is noticed */
#define WEB_DRAIN_MS 10000         /* requests in progress at exit */
#define WEB_CONN_TIMEOUT 30        /* seconds a connection may idle */
#define WEB_MAX_FIELDS 64          /* form fields per request */
#define WEB_SESSION_COOKIE "dmail_session"
#define WEB_LOGIN_COOKIE "dmail_login"
#define WEB_PAGE_SIZE 50

/* Per process. */
struct web {
	const struct dmail_conf *conf;
	char *cert_pem, *key_pem;      /* NULL: plain HTTP (loopback only) */
	struct clienttab *clients;     /* login throttle, shared by workers */
	struct userdb *udb;            /* read-only */
	struct lists_cache lists;      /* lists.dat, re-read on change */
};

struct web_field {
	char *name, *value;
};

/* Who is asking. */
struct web_auth {
	char user[USERDB_ADDRESS_MAX + 1]; /* "" when nobody logged in */
	bool admin;
	bool token;                    /* API bearer token */
	char scope_list[LIST_ADDRESS_MAX + 1]; /* token scoped to one list */
	char session[65];              /* session file name (hash) */
	char csrf[65];                 /* the session's CSRF token */
};

/* One request and its answer. */
struct web_req {
	struct web *w;
	struct MHD_Connection *conn;
	const char *method, *url;      /* url: path only */
	struct buf body;
	bool too_big;
	bool api;                      /* under /api/v1/ */
	char client[64];
	struct sockaddr_storage peer;
	socklen_t peer_len;
	struct web_field fields[WEB_MAX_FIELDS]; /* form body */
	size_t nfields;
	struct web_auth auth;
	/* answer */
	int status;
	const char *ctype;
	struct buf out;
	struct buf cookies;            /* Set-Cookie values, LF-separated */
	char location[512];            /* redirect target, "" none */
	char disposition[200];         /* Content-Disposition, "" none */
	int64_t started_ms;
};

enum web_need { NEED_NONE, NEED_LOGIN, NEED_ADMIN };

struct web_route {
	const char *method;            /* "GET", "POST" */
	const char *prefix;            /* path, or prefix when ending in / */
	enum web_need need;
	void (*fn)(struct web_req *r, const char *rest);
};

/* --- web_admin.c ----------------------------------------------------- */
extern const struct web_route web_admin_routes[];
extern const size_t web_admin_route_count;

/* --- web_queue.c ----------------------------------------------------- */
void web_queue_page(struct web_req *r, const char *rest);
void web_queue_detail(struct web_req *r, const char *rest);
void web_queue_action(struct web_req *r, const char *rest);
void web_api_queue(struct web_req *r, const char *rest);
void web_api_queue_action(struct web_req *r, const char *rest);

/* --- web_accounts.c -------------------------------------------------- */
void web_accounts_page(struct web_req *r, const char *rest);
void web_accounts_post(struct web_req *r, const char *rest);
/* GET /accounts/ADDR and /api/v1/accounts/ADDR: one account, its usage. */
void web_account_page(struct web_req *r, const char *rest);
void web_api_accounts(struct web_req *r, const char *rest);
void web_api_accounts_add(struct web_req *r, const char *rest);
void web_api_account_action(struct web_req *r, const char *rest);

/* A page or action under /lists/LIST/ (and /api/v1/lists/LIST/), run
 * after web_lists.c found the list and checked the caller's rights. */
struct web_list_route {
	const char *method;
	const char *tail;              /* exact, or prefix when ending in / */
	void (*fn)(struct web_req *r, const struct list_def *d,
	    const char *rest);
};

/* --- web_list_admin.c ------------------------------------------------ */
extern const struct web_list_route web_list_admin_routes[];
extern const size_t web_list_admin_route_count;
/* GET /lists/LIST: the settings (a form for those who may change them). */
void web_list_settings(struct web_req *r, const struct list_def *d);
/* POST /lists/create, /api/v1/lists (administrators). */
void web_list_create(struct web_req *r, const char *rest);
/* The "Create a list" form of /lists, for administrators. */
void web_list_create_form(struct web_req *r);

/* --- web_lists.c ----------------------------------------------------- */
extern const struct web_route web_list_routes[];
extern const size_t web_list_route_count;
/* The answer to a change: the error (page or JSON) when status is not
 * 200, else {"ok":true,"output":"done"} (API) or a redirect to back. */
void web_answer_change(struct web_req *r, int status, const char *why,
    const char *back);

/* --- web_members.c --------------------------------------------------- */
extern const struct web_route web_member_routes[];
extern const size_t web_member_route_count;
extern const struct web_list_route web_member_list_routes[];
extern const size_t web_member_list_route_count;

/* --- web_moderation.c ------------------------------------------------ */
extern const struct web_list_route web_moderation_routes[];
extern const size_t web_moderation_route_count;
/* A confirmation or moderation token of a list (listd/token.c's file
 * state_dir/lists/LIST/tokens/ID). */
struct web_token {
	char action[16];               /* subscribe, unsubscribe, post, ... */
	char address[LIST_ADDRESS_MAX + 1];
	long long expires;             /* Unix time */
};
/* Is id a token id in form (lower-case hex, at most 64)? */
bool web_token_id_ok(const char *id);
/* Token id of list d: 1 read (expired ones too), 0 none or damaged. */
int web_token_read(const struct web *w, const struct list_def *d,
    const char *id, struct web_token *t);
/* Hand lines (commands, LF-terminated) from address from to the list
 * worker: a mail to LIST-request@ in the list spool, as if from sent
 * it. 0, or -1 with err filled. */
int web_list_command(struct web_req *r, const struct list_def *d,
    const char *from, const char *lines, struct buf *err);

/* --- web_json.c ------------------------------------------------------ */
/* An application/json body (a flat object) into r->fields: 0 (also when
 * the body is not JSON), -1 with the reason in *why. Call once. */
int web_json_fields(struct web_req *r, const char **why);
/* The same for a body known to be JSON, whatever its Content-Type. */
int web_json_parse(struct web_req *r, const char **why);

/* --- web_archive.c (members too) ------------------------------------ */
extern const struct web_list_route web_archive_routes[];
extern const size_t web_archive_route_count;

/* --- web_files.c ----------------------------------------------------- */
/* Reading (members too), and changing (those who manage the list). */
extern const struct web_list_route web_files_member_routes[];
extern const size_t web_files_member_route_count;
extern const struct web_list_route web_files_routes[];
extern const size_t web_files_route_count;

/* --- web_auth.c ------------------------------------------------------ */
/* Fill r->auth from the bearer token (API) or the session cookie. */
void web_auth_identify(struct web_req *r);
/* POST: the form's csrf field is the session's. */
bool web_csrf_ok(const struct web_req *r);
/* May r->auth act on list d (admin, owner or moderator, or a token of
 * that list)? */
bool web_may_manage_list(const struct web_req *r, const struct list_def *d);
void web_login_page(struct web_req *r, const char *rest);
void web_login_post(struct web_req *r, const char *rest);
void web_logout_post(struct web_req *r, const char *rest);
/* The session directory: state_dir/run/web. */
void web_session_dir(const struct dmail_conf *conf, struct buf *out);

/* --- web_http.c ------------------------------------------------------ */
void web_parse_form(struct web_req *r);
/* The body as application/x-www-form-urlencoded into r->fields (at most
 * WEB_MAX_FIELDS; %00 dropped), whatever its Content-Type. */
void web_form_urlencoded(struct web_req *r);
/* The file of multipart/form-data field `field`: the name the browser
 * gave into name, the bytes into data; false when there is none. */
bool web_form_file(struct web_req *r, const char *field, struct buf *name,
    struct buf *data);
/* A form field, or a query argument when the form has none; NULL. */
const char *web_arg(const struct web_req *r, const char *name);
const char *web_header(const struct web_req *r, const char *name);
const char *web_cookie(const struct web_req *r, const char *name);
void web_set_cookie(struct web_req *r, const char *name, const char *value,
    unsigned max_age);
void html_escape(struct buf *out, const char *s);
void json_escape(struct buf *out, const char *s);
/* printf into r->out with every %s argument HTML-escaped. */
void web_html(struct web_req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void web_page_begin(struct web_req *r, const char *title);
void web_page_end(struct web_req *r);
/* A hidden CSRF field for the current session. */
void web_csrf_field(struct web_req *r);
void web_redirect(struct web_req *r, const char *location);
/* An error answer: JSON {"ok":false,"error":...} for the API, a page
 * otherwise. */
void web_error(struct web_req *r, int status, const char *text);
/* {"ok":true,"output":TEXT} */
void web_json_output(struct web_req *r, const char *text);
/* Log one change: action=web command=... */
void web_log(const struct web_req *r, const char *command,
    const char *status, const char *detail);
/* Unsigned number argument with a default and a maximum. */
unsigned web_uint_arg(const struct web_req *r, const char *name,
    unsigned def, unsigned max);

#endif
