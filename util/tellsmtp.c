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
 *        tellsmtp [-c FILE] queue|quarantine|flush|delete ID|hold ID|
 *                           release ID|NAME
 *
 * The queue commands are not master requests: they are carried out by
 * util/queue_cmds.c against the spool and the queue manager.
 *
 * Sends one request line (protocol in master/master.h and tellsmtp(8)),
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
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "queue_cmds.h"
#include "tool.h"
#include "util.h"

#define TELL_TIMEOUT_MS 30000
#define TELL_REPLY_MAX (4 * 1024 * 1024)

static const char *const usage_lines[] = {
	"[-c FILE] reload|shutdown|start [--all]",
	"[-c FILE] status [--prometheus]",
	"[-c FILE] queue|quarantine|flush|delete ID|hold ID|release ID|NAME",
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

/* Wait until fd is ready for events; false on timeout or error. */
static bool
wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0)
			return false;
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR)
			return false;
	}
}

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

/* Connect to the master's control socket: the fd, or (said why) -2 for
 * a path too long, -1 when the master cannot be reached. */
static int
connect_master(const struct dmail_conf *conf)
{
	struct sockaddr_un sun;
	int fd;

	if (strlen(conf->control_socket) >= sizeof(sun.sun_path)) {
		tool_error(&tool, "%s: path too long", conf->control_socket);
		return -2;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, conf->control_socket,
	    strlen(conf->control_socket));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (errno == EACCES || errno == EPERM)
			no_rights(conf->control_socket);
		else
			tool_error(&tool, "dmaild is not running (%s: %s)",
			    conf->control_socket, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fd_set_nonblock(fd, true);
	return fd;
}

/* Send the request and read the whole answer (until the master closes
 * the connection). 0, or -1 (said why). */
static int
exchange(int fd, const struct buf *req, struct buf *reply)
{
	int64_t deadline = now_ms() + TELL_TIMEOUT_MS;

	for (size_t off = 0; off < req->len;) {
		ssize_t n = send(fd, req->data + off, req->len - off,
		    MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR) &&
		    wait_fd(fd, POLLOUT, deadline))
			continue;
		tool_error(&tool, "sending to dmaild: %s",
		    n < 0 ? strerror(errno) : "connection closed");
		return -1;
	}
	for (;;) {
		char chunk[8192];
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);

		if (n > 0) {
			if (reply->len + (size_t)n > TELL_REPLY_MAX) {
				tool_error(&tool, "answer too long");
				return -1;
			}
			buf_append(reply, chunk, (size_t)n);
			continue;
		}
		if (n == 0)
			return 0;
		if ((errno == EAGAIN || errno == EINTR) &&
		    wait_fd(fd, POLLIN, deadline))
			continue;
		tool_error(&tool, "reading from dmaild: %s",
		    errno == EAGAIN ? "timed out" : strerror(errno));
		return -1;
	}
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
	struct buf req = BUF_INIT, reply = BUF_INIT;
	const char *cmd = argv[0];
	bool prometheus = false;
	int fd, rc = 1;

	if (argc < 1 || argc > 2 ||
	    tell_request(cmd, argc == 2 ? argv[1] : NULL, &req,
	    &prometheus) < 0)
		tool_usage(&tool);
	if (load_socket_path(path, &conf) < 0)
		return 2;
	fd = connect_master(&conf);
	if (fd < 0) {
		rc = fd == -2 ? 2 : 1;
		goto out;
	}
	if (exchange(fd, &req, &reply) == 0)
		rc = print_answer(&conf, cmd, prometheus, &reply);
	close(fd);
out:
	conf_free(&conf);
	buf_free(&req);
	buf_free(&reply);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *path = TOOL_CONF_PATH;
	struct dmail_conf conf;
	int first, rc;

	tool_start(&tool, argc, argv);
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
