/*
 * web_auth.c - who is asking (see webd.h): login, sessions, CSRF, bearer
 * tokens and roles of the web manager.
 *
 * Login checks the account's password in the user database exactly as
 * POP3 and SMTP AUTH do (userdb_check_password(), an unknown account
 * costs a hash too), under the same per-address and per-account penalty
 * (clienttab_login_begin(): refused unchecked while it lasts). The login
 * form carries a random value also set as a cookie (double submit), so
 * another site cannot log a browser in.
 *
 * A session is a file state_dir/run/web/HASH (mode 0600), HASH being the
 * SHA-256 of the random id in the cookie: "user ADDR", "csrf TOKEN",
 * "created UNIXTIME". Its mtime is the last use: older than
 * web_session_idle, or created longer than web_session_lifetime ago,
 * and the session is removed and the browser sent to the login page.
 * Every worker sees every session; each login removes the sessions left
 * idle too long. Roles: administrators are the
 * accounts in web_admins; list rights come from lists.dat (owners and
 * moderators); everyone else manages only their own subscriptions.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "util.h"
#include "webd.h"
#include "webtoken.h"

#define SESSION_ID_BYTES 32
#define SESSION_FILE_MAX 4096
#define SESSION_TOUCH_S 10

void
web_session_dir(const struct dmail_conf *conf, struct buf *out)
{
	conf_state_path(conf, "run/web", out);
}

static bool
is_hex(const char *s, size_t len)
{
	if (s == NULL || strlen(s) != len)
		return false;
	return strspn(s, "0123456789abcdef") == len;
}

/* Constant-time comparison of two strings of the same length. */
static bool
equal_ct(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static void
session_path(const struct web_req *r, const char *name, struct buf *out)
{
	web_session_dir(r->w->conf, out);
	buf_printf(out, "/%s", name);
}

/* The value of "key VALUE" in text, into out (size outlen). */
static bool
text_field(const char *text, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);

	for (const char *s = text; *s != '\0';) {
		size_t n = strcspn(s, "\n");

		if (n > klen && strncmp(s, key, klen) == 0 && s[klen] == ' ' &&
		    n - klen - 1 < outlen) {
			memcpy(out, s + klen + 1, n - klen - 1);
			out[n - klen - 1] = '\0';
			return true;
		}
		s += n + (s[n] == '\n');
	}
	return false;
}

static void
set_user(struct web_req *r, const char *user)
{
	snprintf(r->auth.user, sizeof(r->auth.user), "%s", user);
	r->auth.admin = strlist_contains_ci(&r->w->conf->web_admins, user);
}

static void
session_load(struct web_req *r)
{
	const char *id = web_cookie(r, WEB_SESSION_COOKIE);
	struct buf path = BUF_INIT, text = BUF_INIT;
	char name[65], user[USERDB_ADDRESS_MAX + 1], created[32];
	time_t now = time(NULL);
	struct stat st;

	if (!is_hex(id, 2 * SESSION_ID_BYTES))
		return;
	sha256_hex(id, name);
	session_path(r, name, &path);
	if (stat(path.data, &st) < 0 ||
	    read_file(path.data, &text, SESSION_FILE_MAX) < 0 ||
	    !text_field(buf_cstr(&text), "user", user, sizeof(user)) ||
	    !text_field(buf_cstr(&text), "csrf", r->auth.csrf,
	    sizeof(r->auth.csrf)) ||
	    !text_field(buf_cstr(&text), "created", created, sizeof(created)))
		goto out;
	if (st.st_mtime + (time_t)r->w->conf->web_session_idle < now ||
	    strtoll(created, NULL, 10) +
	    (long long)r->w->conf->web_session_lifetime < (long long)now) {
		unlink(path.data);
		r->auth.csrf[0] = '\0';
		goto out;
	}
	if (st.st_mtime + SESSION_TOUCH_S < now)
		(void)utimensat(AT_FDCWD, path.data, NULL, 0);
	snprintf(r->auth.session, sizeof(r->auth.session), "%s", name);
	set_user(r, user);
out:
	buf_free(&path);
	buf_free(&text);
}

static void
token_load(struct web_req *r)
{
	const char *h = web_header(r, "Authorization");
	struct buf scope = BUF_INIT, err = BUF_INIT;

	if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
		return;
	switch (webtoken_check(r->w->conf, h + 7, &scope, &err)) {
	case 1:
		r->auth.token = true;
		snprintf(r->auth.user, sizeof(r->auth.user), "token:%s",
		    scope.data);
		if (strcmp(scope.data, "admin") == 0)
			r->auth.admin = true;
		else if (strncmp(scope.data, "list:", 5) == 0)
			snprintf(r->auth.scope_list, sizeof(r->auth.scope_list),
			    "%s", scope.data + 5);
		break;
	case -1:
		log_error("event=web-token-failed error=\"%s\"",
		    buf_cstr(&err));
		break;
	default:
		break;
	}
	buf_free(&scope);
	buf_free(&err);
}

void
web_auth_identify(struct web_req *r)
{
	if (r->api)
		token_load(r);
	else
		session_load(r);
}

bool
web_csrf_ok(const struct web_req *r)
{
	const char *got = web_arg(r, "csrf");

	if (r->auth.token)
		return true;     /* no cookie: nothing a page could forge */
	return r->auth.csrf[0] != '\0' && got != NULL &&
	    equal_ct(got, r->auth.csrf);
}

bool
web_may_manage_list(const struct web_req *r, const struct list_def *d)
{
	if (r->auth.admin)
		return true;
	if (r->auth.token)
		return strcasecmp(r->auth.scope_list, d->address) == 0;
	return r->auth.user[0] != '\0' &&
	    (list_is_owner(d, r->auth.user) ||
	    list_is_moderator(d, r->auth.user));
}

/* --- login and logout ------------------------------------------------ */

static void
login_form(struct web_req *r, const char *message)
{
	char lcsrf[65];

	random_hex(lcsrf, 32);
	web_set_cookie(r, WEB_LOGIN_COOKIE, lcsrf, 3600);
	web_page_begin(r, "Log in");
	if (message != NULL)
		web_html(r, "<p class=\"msg\">%s</p>", message);
	web_html(r, "<form class=\"box\" method=\"post\" action=\"/login\">"
	    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
	    "<p><label>Account<br><input type=\"text\" name=\"user\" "
	    "autocomplete=\"username\" required></label></p>"
	    "<p><label>Password<br><input type=\"password\" name=\"password\" "
	    "autocomplete=\"current-password\" required></label></p>"
	    "<p><button type=\"submit\">Log in</button></p></form>", lcsrf);
	web_page_end(r);
}

void
web_login_page(struct web_req *r, const char *rest)
{
	(void)rest;
	if (r->auth.user[0] != '\0') {
		web_redirect(r, r->auth.admin ? "/dashboard" : "/lists");
		return;
	}
	login_form(r, NULL);
}

/* Remove the sessions nobody used for web_session_idle (abandoned
 * without logout): at each login, so the directory stays small. */
static void
session_sweep(struct web_req *r)
{
	struct buf dir = BUF_INIT, p = BUF_INIT;
	time_t now = time(NULL);
	struct dirent *de;
	struct stat st;
	DIR *d;

	web_session_dir(r->w->conf, &dir);
	d = opendir(dir.data);
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (!is_hex(de->d_name, 64))
			continue;
		buf_reset(&p);
		buf_printf(&p, "%s/%s", dir.data, de->d_name);
		if (stat(p.data, &st) == 0 &&
		    st.st_mtime + (time_t)r->w->conf->web_session_idle < now)
			unlink(p.data);
	}
	if (d != NULL)
		closedir(d);
	buf_free(&dir);
	buf_free(&p);
}

static void
session_create(struct web_req *r, const char *user)
{
	struct buf path = BUF_INIT, text = BUF_INIT;
	char id[2 * SESSION_ID_BYTES + 1], name[65];

	session_sweep(r);
	random_hex(id, SESSION_ID_BYTES);
	random_hex(r->auth.csrf, 32);
	sha256_hex(id, name);
	session_path(r, name, &path);
	buf_printf(&text, "user %s\ncsrf %s\ncreated %lld\n", user,
	    r->auth.csrf, (long long)time(NULL));
	if (write_file_durable(path.data, text.data, text.len, 0600) < 0) {
		log_error("event=web-session-failed path=%s error=\"%s\"",
		    path.data, strerror(errno));
		web_error(r, 503, "Sessions are unavailable; try again later.");
	} else {
		web_set_cookie(r, WEB_SESSION_COOKIE, id,
		    r->w->conf->web_session_lifetime);
		web_set_cookie(r, WEB_LOGIN_COOKIE, "", 0);
		set_user(r, user);
		web_redirect(r, r->auth.admin ? "/dashboard" : "/lists");
	}
	buf_free(&path);
	buf_free(&text);
}

/* The password check: 1 good, 0 bad (why in *reason), -1 database
 * unavailable. */
static int
check_password(struct web_req *r, const char *address, const char *pass,
    const char **reason)
{
	struct user_record *rec = xmalloc(sizeof(*rec));
	struct buf err = BUF_INIT;
	int found, ok = 0;

	if (r->w->udb == NULL)
		r->w->udb = userdb_open(r->w->conf, USERDB_READ, &err);
	found = r->w->udb != NULL ? userdb_lookup(r->w->udb, address, rec) : -1;
	if (found < 0) {
		log_error("event=userdb-failed client=%s error=\"%s\"",
		    r->client, buf_cstr(&err));
		ok = -1;
	} else if (found == 0) {
		char h[256];

		/* Spend the time a real check would take. */
		userdb_hash_password(r->w->conf->password_scheme, pass, h,
		    sizeof(h));
		*reason = "unknown";
	} else if (!userdb_check_password(rec, pass)) {
		*reason = "password";
	} else if (!rec->enabled) {
		*reason = "disabled";
	} else
		ok = 1;
	userdb_release(r->w->udb);
	buf_free(&err);
	free(rec);
	return ok;
}

void
web_login_post(struct web_req *r, const char *rest)
{
	const char *user = web_arg(r, "user"), *pass = web_arg(r, "password");
	const char *lc = web_cookie(r, WEB_LOGIN_COOKIE), *got = web_arg(r,
	    "csrf"), *reason = "bad-name";
	char address[USERDB_ADDRESS_MAX + 1];
	struct clienttab_attempt att;
	enum clienttab_block b;
	unsigned retry = 0;
	bool named;
	int ok;

	(void)rest;
	if (lc == NULL || got == NULL || !is_hex(lc, 64) || !equal_ct(lc, got)) {
		web_log(r, "login", "refused", "reason=csrf");
		web_error(r, 403, "The login form expired; reload the page "
		    "and try again.");
		return;
	}
	named = user != NULL && pass != NULL &&
	    userdb_login_address(r->w->conf, user, address,
	    sizeof(address)) == 0;
	b = clienttab_login_begin(r->w->clients, r->w->conf, r->peer_len > 0 ?
	    (const struct sockaddr *)&r->peer : NULL, named ? address : NULL,
	    &att, &retry);
	if (b != CLIENTTAB_OK) {
		log_info("action=web command=login user=%s client=%s "
		    "status=refused reason=%s retry=%u", named ? address : "-",
		    r->client, b == CLIENTTAB_BLOCKED_IP ? "client-failures" :
		    "account-failures", retry);
		r->status = 429;
		login_form(r, "Too many failed logins; try again later.");
		return;
	}
	ok = named ? check_password(r, address, pass, &reason) : 0;
	if (ok < 0) {
		r->status = 503;
		login_form(r, "The account database is unavailable; try "
		    "again later.");
		return;
	}
	if (ok == 0) {
		clienttab_auth_failure(r->w->clients, &att);
		log_info("action=web command=login user=%s client=%s "
		    "status=failed reason=%s", named ? address : "-",
		    r->client, reason);
		r->status = 403;
		login_form(r, "Wrong account or password.");
		return;
	}
	clienttab_auth_success(r->w->clients, &att);
	session_create(r, address);
	if (r->status == 303)
		web_log(r, "login", "ok", NULL);
}

void
web_logout_post(struct web_req *r, const char *rest)
{
	struct buf path = BUF_INIT;

	(void)rest;
	if (r->auth.session[0] != '\0') {
		session_path(r, r->auth.session, &path);
		unlink(path.data);
		web_log(r, "logout", "ok", NULL);
	}
	web_set_cookie(r, WEB_SESSION_COOKIE, "", 0);
	web_redirect(r, "/login");
	buf_free(&path);
}
