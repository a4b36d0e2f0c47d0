/*
 * tellsmtp.c - talk to a running dmaild over its control socket.
 * Installed as tellsmtp, tellpop and telllist: one program, and its name
 * says which server reload, shutdown and start act on (tellsmtp: the
 * smtp and queue pools; tellpop: pop3; telllist: list); --all acts on
 * every pool (and "shutdown --all" stops the master). status is the same
 * under every name.
 *
 * usage: tellsmtp [-c FILE] reload|shutdown|start [--all]
 *        tellsmtp [-c FILE] status [--prometheus]
 *        tellsmtp [-c FILE] history
 *        tellsmtp [-c FILE] queue|quarantine|flush|delete ID|hold ID|
 *                           release ID|NAME
 *        tellsmtp -H https://HOST:PORT [-T TOKENFILE] reload|shutdown|
 *                           status [--prometheus]
 *
 * The queue commands are not master requests: they are carried out by
 * common/queue_cmds.c against the spool and the queue manager.
 *
 * -H sends reload, shutdown (of every pool) or status to a remote
 * DMail's web manager API (/api/v1/reload, shutdown, status; man
 * dmail-webd) with an admin token from TOKENFILE or $DMAIL_WEB_TOKEN,
 * verifying the server's certificate against the system's CAs or
 * $DMAIL_WEB_CA (util/web_client.c).
 *
 * Sends one request line (protocol in master/master.h and tellsmtp(8))
 * through common/control_client.c,
 * prints the master's answer without its "+OK"/"-ERR" first line (for
 * errors, that line goes to stderr too), and exits:
 *   0  the master answered +OK
 *   1  the master is not running, cannot be reached (no rights to the
 *      control socket: said so), or answered -ERR
 *   2  usage error, or the configuration file cannot be read
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "control_client.h"
#include "log.h"
#include "queue_cmds.h"
#include "tool.h"
#include "util.h"
#include "web_client.h"

static const char *const usage_lines[] = {
	"[-c FILE] reload|shutdown|start [--all]",
	"[-c FILE] status [--prometheus]",
	"[-c FILE] history",
	"[-c FILE] queue|quarantine|flush|delete ID|hold ID|release ID|NAME",
	"-H https://HOST:PORT [-T TOKENFILE] reload|shutdown|status "
	    "[--prometheus]",
	NULL };

static struct tool tool = {
	.name = "tellsmtp",
	.name_from_argv0 = true,
	.usage = usage_lines,
	.usage_status = 2,
	.conf_status = 2,
	.log_level = LOG_LEVEL_WARN,
	.no_faults = true,
};

/*
 * Only state_dir and control_socket matter here. A file the master would
 * refuse must not stop "tellsmtp reload" from reaching the master (which
 * then reports the errors), so parse just those two keys.
 */
static int
load_socket_path(const char *path, struct dmail_conf *conf)
{
	struct buf text = BUF_INIT, mine = BUF_INIT, err = BUF_INIT;
	const char *s, *end;
	int rc;

	if (read_file(path, &text, 16 * 1024 * 1024) < 0) {
		tool_error(&tool, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (s = buf_cstr(&text); *s != '\0'; s = end) {
		const char *key = s + strspn(s, " \t");
		size_t klen = strcspn(key, " \t\r\n");

		end = s + strcspn(s, "\n");
		if (*end == '\n')
			end++;
		if ((klen == 9 && strncmp(key, "state_dir", 9) == 0) ||
		    (klen == 14 && strncmp(key, "control_socket", 14) == 0))
			buf_append(&mine, s, (size_t)(end - s));
		else
			buf_append_char(&mine, '\n');   /* keep line numbers */
	}
	rc = conf_load_text(path, mine.data != NULL ? mine.data : "",
	    mine.len, conf, &err);
	if (rc < 0)
		fputs(buf_cstr(&err), stderr);
	buf_free(&text);
	buf_free(&mine);
	buf_free(&err);
	return rc;
}

/* connect() was refused for lack of rights: say who may. */
static void
no_rights(const char *sock)
{
	struct stat st;
	struct passwd *pw;
	struct group *gr;

	if (stat(sock, &st) < 0) {
		tool_error(&tool, "permission denied on %s: run as root or "
		    "the user dmaild runs as", sock);
		return;
	}
	pw = getpwuid(st.st_uid);
	gr = getgrgid(st.st_gid);
	if ((st.st_mode & S_IWGRP) && gr != NULL)
		tool_error(&tool, "permission denied on %s: run as %s or a "
		    "member of %s", sock, pw != NULL ? pw->pw_name : "root",
		    gr->gr_name);
	else
		tool_error(&tool, "permission denied on %s: run as %s", sock,
		    pw != NULL ? pw->pw_name : "root");
}

/* Print the master's answer: 0 for +OK, 1 for anything else. */
static int
print_answer(const struct dmail_conf *conf, const char *cmd,
    bool prometheus, const struct buf *reply)
{
	const char *body = strchr(buf_cstr(reply), '\n');

	body = body != NULL ? body + 1 : "";
	if (strncmp(buf_cstr(reply), "+OK", 3) == 0) {
		const char *first = reply->data + 3;

		first += strspn(first, " ");
		if (*body != '\0')
			fputs(body, stdout);
		else
			printf("%.*s\n", (int)strcspn(first, "\n"), first);
		/* Poison messages are files, not master state. */
		if (strcmp(cmd, "status") == 0 && !prometheus)
			queue_quarantine_summary(conf);
		return 0;
	}
	if (reply->len == 0)
		tool_error(&tool, "dmaild closed the connection without "
		    "answering");
	else
		fprintf(stderr, "%s: %s", tool.name, buf_cstr(reply));
	return 1;
}

/*
 * The request line for cmd and its option (or NULL): "status [prometheus]",
 * "history",
 * or "reload|shutdown|start POOLS" with this program's pools (or "all").
 * -1 on a usage error.
 */
static int
tell_request(const char *cmd, const char *opt, struct buf *req,
    bool *prometheus)
{
	const char *pools = "smtp queue";

	if (strcmp(cmd, "status") == 0) {
		if (opt != NULL && strcmp(opt, "--prometheus") != 0)
			return -1;
		*prometheus = opt != NULL;
		buf_printf(req, "status%s\n", *prometheus ? " prometheus" : "");
		return 0;
	}
	if (strcmp(cmd, "history") == 0) {
		if (opt != NULL)
			return -1;
		buf_append_str(req, "history\n");
		return 0;
	}
	if (strcmp(cmd, "reload") != 0 && strcmp(cmd, "shutdown") != 0 &&
	    strcmp(cmd, "start") != 0)
		return -1;
	if (opt != NULL && strcmp(opt, "--all") != 0)
		return -1;
	if (opt != NULL)
		pools = "all";
	else if (strstr(tool.name, "pop") != NULL)
		pools = "pop3";
	else if (strstr(tool.name, "list") != NULL)
		pools = "list";
	buf_printf(req, "%s %s\n", cmd, pools);
	return 0;
}

/* reload, shutdown, start [--all], status [--prometheus]: a request to
 * the master. */
static int
master_request(const char *path, int argc, char **argv)
{
	struct dmail_conf conf;
	struct buf req = BUF_INIT, reply = BUF_INIT, err = BUF_INIT;
	const char *cmd = argv[0];
	bool prometheus = false;
	int r, rc = 1;

	if (argc < 1 || argc > 2 ||
	    tell_request(cmd, argc == 2 ? argv[1] : NULL, &req,
	    &prometheus) < 0)
		tool_usage(&tool);
	if (load_socket_path(path, &conf) < 0) {
		buf_free(&req);
		return 2;
	}
	buf_truncate(&req, req.len - 1);     /* control_request() adds LF */
	r = control_request(conf.control_socket, req.data, &reply, &err);
	if (r == CONTROL_NO_RIGHTS)
		no_rights(conf.control_socket);
	else if (r < 0)
		tool_error(&tool, "%s", buf_cstr(&err));
	else
		rc = print_answer(&conf, cmd, prometheus, &reply);
	if (r == CONTROL_BAD_PATH)
		rc = 2;
	conf_free(&conf);
	buf_free(&req);
	buf_free(&reply);
	buf_free(&err);
	return rc;
}

/* -H: reload, shutdown or status through a remote web manager's API,
 * with a token from -T FILE or DMAIL_WEB_TOKEN. */
static int
remote(const char *url, const char *token_file, int argc, char **argv)
{
	struct buf token = BUF_INIT, out = BUF_INIT, text = BUF_INIT;
	struct buf path = BUF_INIT;
	const char *env = getenv("DMAIL_WEB_TOKEN"), *cmd = argv[0];
	bool prometheus = argc == 2 && strcmp(argv[1], "--prometheus") == 0;
	int status = 0, rc = 1;

	if (argc < 1 || argc > 2 || (argc == 2 && (!prometheus ||
	    strcmp(cmd, "status") != 0)) || (strcmp(cmd, "status") != 0 &&
	    strcmp(cmd, "reload") != 0 && strcmp(cmd, "shutdown") != 0))
		tool_usage(&tool);
	if (token_file != NULL) {
		if (read_file(token_file, &token, 4096) < 0) {
			tool_error(&tool, "%s: %s", token_file, strerror(errno));
			return 2;
		}
	} else if (env != NULL) {
		buf_set(&token, env);
	} else {
		tool_error(&tool, "-H needs a token: -T FILE or "
		    "DMAIL_WEB_TOKEN");
		return 2;
	}
	buf_truncate(&token, strcspn(buf_cstr(&token), " \t\r\n"));
	buf_printf(&path, "/api/v1/%s%s", cmd, prometheus ?
	    "?format=prometheus" : "");
	if (web_client_call(url, token.data, strcmp(cmd, "status") == 0 ?
	    "GET" : "POST", path.data, &status, &out, &text) < 0) {
		tool_error(&tool, "%s: %s", url, buf_cstr(&text));
	} else if (status == 200) {
		json_string_field(out.data, "output", &text);
		fputs(buf_cstr(&text), stdout);
		rc = 0;
	} else {
		json_string_field(out.data, "error", &text);
		tool_error(&tool, "%s: HTTP %d: %s", url, status,
		    buf_cstr(&text));
	}
	buf_free(&token);
	buf_free(&out);
	buf_free(&text);
	buf_free(&path);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *path = TOOL_CONF_PATH, *url = NULL, *token_file = NULL;
	struct dmail_conf conf;
	int first, rc;

	tool_start(&tool, argc, argv);
	/* -H URL [-T FILE]: the remote form, before the usual -c. */
	while (argc > 2 && (strcmp(argv[1], "-H") == 0 ||
	    strcmp(argv[1], "-T") == 0)) {
		*(argv[1][1] == 'H' ? &url : &token_file) = argv[2];
		argv[2] = argv[0];
		argc -= 2;
		argv += 2;
	}
	if (url != NULL)
		return remote(url, token_file, argc - 1, argv + 1);
	first = tool_conf_option(&tool, argc, argv, &path);
	argc -= first;
	argv += first;
	if (argc >= 1 && queue_command_known(argv[0])) {
		tool_conf_load(&tool, path, &conf);
		rc = queue_command(&conf, argc, argv);
		conf_free(&conf);
		return rc;
	}
	return master_request(path, argc, argv);
}
