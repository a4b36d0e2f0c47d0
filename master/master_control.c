/*
 * master_control.c - the control socket and the status socket.
 *
 * The protocol is described in master.h. Both sockets are unix stream
 * sockets; the control socket is owner-only (0600; 0660 for run_as's
 * group when the web pool is configured at start-up), the status socket
 * world-readable (0666) and serves only the Prometheus text.
 *
 * The master must never block on a client: sockets are non-blocking,
 * a request is at most MASTER_REQUEST_MAX bytes, every client has
 * MASTER_CLIENT_TIMEOUT_MS to send its line and read the answer, and at
 * most MASTER_MAX_CLIENTS are open at once (more are closed at accept).
 *
 * New commands (issue 5: "queue", "flush", ...) are rows in
 * control_commands[]: a name and a handler that appends the answer
 * ("+OK ..." or "-ERR ..." first line) to out. reload, shutdown and
 * start take pool names (parse_pools()) and act on those pools only
 * (master_reload(), master_pools_stop(), master_pools_start()).
 */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "util.h"

typedef void control_fn(struct master *m, struct client *c, const char *args,
    struct buf *out);

/* POOLS of a request: pool names or "all"; none means all. 0 after
 * putting "-ERR ..." in out. */
static unsigned
parse_pools(const char *args, struct buf *out)
{
	unsigned mask = 0;

	while (*args != '\0') {
		size_t len = strcspn(args, " \t");
		int i;

		for (i = 0; i < POOL_COUNT; i++)
			if (strlen(pool_name((enum pool_id)i)) == len &&
			    strncmp(pool_name((enum pool_id)i), args, len) == 0)
				break;
		if (i < POOL_COUNT)
			mask |= POOL_BIT(i);
		else if (len == 3 && strncmp(args, "all", 3) == 0)
			mask = POOL_ALL;
		else {
			buf_printf(out, "-ERR unknown pool %.*s (smtp, pop3, "
			    "list, queue or all)\n", (int)len, args);
			return 0;
		}
		args += len;
		args += strspn(args, " \t");
	}
	return mask != 0 ? mask : POOL_ALL;
}

static void
cmd_reload(struct master *m, struct client *c, const char *args,
    struct buf *out)
{
	unsigned pools;

	(void)c;
	if (m->stopping) {
		buf_append_str(out, "-ERR shutting down\n");
		return;
	}
	if ((pools = parse_pools(args, out)) == 0)
		return;
	log_info("event=reload-request reason=\"control socket\"");
	master_reload(m, pools, out);
}

static void
cmd_shutdown(struct master *m, struct client *c, const char *args,
    struct buf *out)
{
	struct buf names = BUF_INIT;
	unsigned pools = parse_pools(args, out);

	if (pools == 0)
		return;
	if (pools == POOL_ALL || m->stopping || !master_pools_stop(m, pools)) {
		buf_append_str(out, "+OK shutting down\n");
		c->shutdown_after = true;
		return;
	}
	master_pool_names(pools, " ", &names);
	buf_printf(out, "+OK stopping %s\n", buf_cstr(&names));
	buf_free(&names);
}

static void
cmd_start(struct master *m, struct client *c, const char *args,
    struct buf *out)
{
	struct buf names = BUF_INIT, err = BUF_INIT;
	unsigned pools;

	(void)c;
	if (m->stopping) {
		buf_append_str(out, "-ERR shutting down\n");
		return;
	}
	if (*args == '\0') {
		buf_append_str(out, "-ERR usage: start smtp|pop3|list|queue|"
		    "all ...\n");
		return;
	}
	if ((pools = parse_pools(args, out)) == 0)
		return;
	if (master_pools_start(m, pools, &err) < 0) {
		buf_printf(out, "-ERR cannot start\n%s", buf_cstr(&err));
	} else {
		master_pool_names(pools, " ", &names);
		buf_printf(out, "+OK started %s\n", buf_cstr(&names));
	}
	buf_free(&names);
	buf_free(&err);
}

static void
cmd_status(struct master *m, struct client *c, const char *args,
    struct buf *out)
{
	(void)c;
	if (*args == '\0') {
		buf_append_str(out, "+OK status\n");
		master_report_table(m, out);
	} else if (strcmp(args, "prometheus") == 0) {
		buf_append_str(out, "+OK status\n");
		master_report_prometheus(m, out);
	} else {
		buf_append_str(out, "-ERR usage: status [prometheus]\n");
	}
}

static void
cmd_history(struct master *m, struct client *c, const char *args,
    struct buf *out)
{
	(void)c;
	if (*args != '\0')
		buf_append_str(out, "-ERR usage: history\n");
	else
		master_history_report(m, out);
}

static const struct {
	const char *name;
	control_fn *fn;
} control_commands[] = {
	{ "reload", cmd_reload },
	{ "shutdown", cmd_shutdown },
	{ "start", cmd_start },
	{ "status", cmd_status },
	{ "history", cmd_history },
};

static int
open_unix(const char *path, mode_t mode)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_error("event=control-failed socket=%s "
		    "reason=\"socket path too long\"", path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	/* A socket left by a previous run (the pid file lock says no
	 * master is running); anything else there is not ours. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("event=control-failed socket=%s "
			    "reason=\"exists and is not a socket\"", path);
			return -1;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("event=control-failed error=\"%s\"",
		    strerror(errno));
		return -1;
	}
	old = umask(0777 & ~mode);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		umask(old);
		log_error("event=control-failed socket=%s error=\"%s\"", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(path, mode) < 0 || listen(fd, 64) < 0) {
		log_error("event=control-failed socket=%s error=\"%s\"", path,
		    strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

/* The web pool (webd/, run_as) relays reload, shutdown and status from
 * its administrators: with web listeners at start-up, the control
 * socket is 0660 for run_as's group. */
static void
control_share_with_web(const struct dmail_conf *c)
{
	struct passwd *pw;
	bool web = false;

	for (size_t i = 0; i < c->listen_count; i++)
		web = web || c->listen[i].role == ROLE_WEB;
	if (!web || c->run_as == NULL || (pw = getpwnam(c->run_as)) == NULL)
		return;
	if (chown(c->control_socket, (uid_t)-1, pw->pw_gid) < 0 ||
	    chmod(c->control_socket, 0660) < 0)
		log_warn("event=control-failed socket=%s error=\"%s\"",
		    c->control_socket, strerror(errno));
}

int
master_control_open(struct master *m)
{
	/* The control socket last: once it exists, both serve (what
	 * scripts and the tests wait for). */
	m->status_fd = open_unix(m->conf->status_socket, 0666);
	if (m->status_fd < 0)
		return -1;
	m->control_fd = open_unix(m->conf->control_socket, 0600);
	if (m->control_fd < 0)
		return -1;
	control_share_with_web(m->conf);
	m->control_ev.kind = EV_CONTROL;
	m->status_ev.kind = EV_STATUS_SOCKET;
	if (master_ep_add(m, m->control_fd, EPOLLIN, &m->control_ev) < 0 ||
	    master_ep_add(m, m->status_fd, EPOLLIN, &m->status_ev) < 0) {
		log_error("event=control-failed error=\"epoll: %s\"",
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void
client_close(struct master *m, struct client *c)
{
	bool stop = c->shutdown_after;

	master_ep_del(m, c->fd);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		m->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	m->nclients--;
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
	if (stop)
		master_begin_shutdown(m, "shutdown requested on the control "
		    "socket");
}

void
master_control_close(struct master *m)
{
	if (m->control_fd >= 0) {
		master_ep_del(m, m->control_fd);
		close(m->control_fd);
		unlink(m->conf->control_socket);
		m->control_fd = -1;
	}
	if (m->status_fd >= 0) {
		master_ep_del(m, m->status_fd);
		close(m->status_fd);
		unlink(m->conf->status_socket);
		m->status_fd = -1;
	}
}

/* Send what we can; close when all is sent. */
static void
client_write(struct master *m, struct client *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off,
		    c->out.len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			break;
		}
		c->out_off += (size_t)n;
	}
	if (c->out.len > 0 && c->out_off == c->out.len)
		log_debug("event=control-answer bytes=%zu", c->out.len);
	client_close(m, c);
}

static void
client_reply(struct master *m, struct client *c)
{
	struct epoll_event ev;

	c->replying = true;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLOUT;
	ev.data.ptr = &c->ev;
	epoll_ctl(m->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	client_write(m, c);
}

static void
client_request(struct master *m, struct client *c, char *line)
{
	char *args;
	size_t i;

	line = str_trim(line);
	args = line + strcspn(line, " \t");
	if (*args != '\0')
		*args++ = '\0';
	args = str_trim(args);
	for (i = 0; i < sizeof(control_commands) /
	    sizeof(control_commands[0]); i++) {
		if (strcmp(control_commands[i].name, line) == 0) {
			control_commands[i].fn(m, c, args, &c->out);
			break;
		}
	}
	if (i == sizeof(control_commands) / sizeof(control_commands[0]))
		buf_append_str(&c->out, "-ERR unknown command\n");
	client_reply(m, c);
}

void
master_control_accept(struct master *m, bool status_socket)
{
	int lfd = status_socket ? m->status_fd : m->control_fd;

	for (;;) {
		struct client *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("event=control-accept-failed "
				    "error=\"%s\"", strerror(errno));
			return;
		}
		if (m->nclients >= MASTER_MAX_CLIENTS) {
			log_warn("event=control-full reason=\"too many control "
			    "clients; closing one\"");
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->ev.kind = EV_CLIENT;
		c->ev.obj = c;
		c->fd = fd;
		c->is_status = status_socket;
		c->deadline = now_ms() + MASTER_CLIENT_TIMEOUT_MS;
		c->next = m->clients;
		if (m->clients != NULL)
			m->clients->prev = c;
		m->clients = c;
		m->nclients++;
		if (master_ep_add(m, fd, EPOLLIN, &c->ev) < 0) {
			client_close(m, c);
			continue;
		}
		if (status_socket) {
			master_report_prometheus(m, &c->out);
			client_reply(m, c);
		}
	}
}

void
master_client_event(struct master *m, struct client *c, uint32_t events)
{
	char buf[MASTER_REQUEST_MAX + 1];
	char *nl;
	ssize_t n;

	if (c->replying) {
		if (events & (EPOLLERR | EPOLLHUP))
			client_close(m, c);
		else
			client_write(m, c);
		return;
	}
	n = recv(c->fd, buf, sizeof(buf) - 1, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* End of input: a request without LF still counts. */
		if (n == 0 && c->in.len > 0) {
			char *line = xstrdup(buf_cstr(&c->in));
			client_request(m, c, line);
			free(line);
		} else {
			client_close(m, c);
		}
		return;
	}
	buf_append(&c->in, buf, (size_t)n);
	if (memchr(c->in.data, '\0', c->in.len) != NULL) {
		buf_append_str(&c->out, "-ERR bad request\n");
		client_reply(m, c);
		return;
	}
	nl = strchr(c->in.data, '\n');
	if (nl != NULL) {
		char *line;

		*nl = '\0';
		line = xstrdup(c->in.data);
		client_request(m, c, line);
		free(line);
	} else if (c->in.len > MASTER_REQUEST_MAX) {
		buf_append_str(&c->out, "-ERR request too long\n");
		client_reply(m, c);
	}
}

void
master_client_timeouts(struct master *m)
{
	int64_t now = now_ms();
	struct client *c, *next;

	for (c = m->clients; c != NULL; c = next) {
		next = c->next;
		if (now >= c->deadline)
			client_close(m, c);
	}
}
