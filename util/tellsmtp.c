/*
 * tellsmtp.c - talk to a running dmaild over its control socket.
 * Installed as tellsmtp, tellpop and telllist (one program, three names:
 * the master serves every pool, so they do the same thing).
 *
 * usage: tellsmtp [-c FILE] reload|shutdown|status [--prometheus]
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
 *   1  the master is not running, cannot be reached, or answered -ERR
 *   2  usage error, or the configuration file cannot be read
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "queue_cmds.h"
#include "util.h"

#ifndef DMAIL_SYSCONFDIR
#define DMAIL_SYSCONFDIR "/etc"
#endif

#define TELL_TIMEOUT_MS 30000
#define TELL_REPLY_MAX (4 * 1024 * 1024)

static const char *progname = "tellsmtp";

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-c FILE] reload|shutdown|"
	    "status [--prometheus]\n"
	    "       %s [-c FILE] queue|quarantine|flush|delete ID|hold ID|"
	    "release ID|NAME\n",
	    progname, progname);
	exit(2);
}

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
		fprintf(stderr, "%s: %s: %s\n", progname, path,
		    strerror(errno));
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

int
main(int argc, char **argv)
{
	const char *path = DMAIL_SYSCONFDIR "/dmail.conf";
	struct dmail_conf conf;
	struct buf req = BUF_INIT, reply = BUF_INIT;
	struct sockaddr_un sun;
	const char *cmd, *body;
	bool prometheus = false;
	int64_t deadline;
	int ch, fd = -1, rc;

	if (argv[0] != NULL) {
		const char *slash = strrchr(argv[0], '/');
		progname = slash != NULL ? slash + 1 : argv[0];
	}
	version_option(argc, argv, progname);
	while ((ch = getopt(argc, argv, "+c:h")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc >= 1 && queue_command_known(argv[0])) {
		struct buf err = BUF_INIT;

		log_open(progname, LOG_TO_STDERR, LOG_LEVEL_WARN);
		if (conf_load_file(path, &conf, &err) < 0) {
			fputs(buf_cstr(&err), stderr);
			buf_free(&err);
			return 2;
		}
		rc = queue_command(&conf, argc, argv);
		conf_free(&conf);
		return rc;
	}
	if (argc < 1 || argc > 2)
		usage();
	cmd = argv[0];
	if (argc == 2) {
		if (strcmp(cmd, "status") != 0 ||
		    strcmp(argv[1], "--prometheus") != 0)
			usage();
		prometheus = true;
	}
	if (strcmp(cmd, "reload") != 0 && strcmp(cmd, "shutdown") != 0 &&
	    strcmp(cmd, "status") != 0)
		usage();

	log_open(progname, LOG_TO_STDERR, LOG_LEVEL_WARN);
	if (load_socket_path(path, &conf) < 0)
		return 2;
	if (strlen(conf.control_socket) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: %s: path too long\n", progname,
		    conf.control_socket);
		rc = 2;
		goto out;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, conf.control_socket, strlen(conf.control_socket));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "%s: dmaild is not running (%s: %s)\n",
		    progname, conf.control_socket, strerror(errno));
		rc = 1;
		goto out;
	}
	fd_set_nonblock(fd, true);
	deadline = now_ms() + TELL_TIMEOUT_MS;
	buf_printf(&req, "%s%s\n", cmd, prometheus ? " prometheus" : "");
	for (size_t off = 0; off < req.len;) {
		ssize_t n = send(fd, req.data + off, req.len - off,
		    MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR) &&
		    wait_fd(fd, POLLOUT, deadline))
			continue;
		fprintf(stderr, "%s: sending to dmaild: %s\n", progname,
		    n < 0 ? strerror(errno) : "connection closed");
		rc = 1;
		goto out;
	}
	for (;;) {
		char chunk[8192];
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);

		if (n > 0) {
			if (reply.len + (size_t)n > TELL_REPLY_MAX) {
				fprintf(stderr, "%s: answer too long\n",
				    progname);
				rc = 1;
				goto out;
			}
			buf_append(&reply, chunk, (size_t)n);
			continue;
		}
		if (n == 0)
			break;
		if ((errno == EAGAIN || errno == EINTR) &&
		    wait_fd(fd, POLLIN, deadline))
			continue;
		fprintf(stderr, "%s: reading from dmaild: %s\n", progname,
		    errno == EAGAIN ? "timed out" : strerror(errno));
		rc = 1;
		goto out;
	}

	body = strchr(buf_cstr(&reply), '\n');
	body = body != NULL ? body + 1 : "";
	if (strncmp(buf_cstr(&reply), "+OK", 3) == 0) {
		const char *first = reply.data + 3;

		first += strspn(first, " ");
		if (*body != '\0')
			fputs(body, stdout);
		else
			printf("%.*s\n", (int)strcspn(first, "\n"), first);
		/* Poison messages are files, not master state. */
		if (strcmp(cmd, "status") == 0 && !prometheus)
			queue_quarantine_summary(&conf);
		rc = 0;
		goto out;
	}
	if (reply.len == 0)
		fprintf(stderr, "%s: dmaild closed the connection without "
		    "answering\n", progname);
	else
		fprintf(stderr, "%s: %s", progname, buf_cstr(&reply));
	rc = 1;
out:
	if (fd >= 0)
		close(fd);
	conf_free(&conf);
	buf_free(&req);
	buf_free(&reply);
	return rc;
}
