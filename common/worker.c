/*
 * worker.c - the runtime of every worker program (see worker.h).
 *
 * worker_main() has two modes:
 *
 *   run by the master: the configuration comes from the memfd on fd 3,
 *     listeners on fds 7.., and the worker loops: wait (epoll, with
 *     EPOLLEXCLUSIVE on the shared listeners so one idle worker wakes per
 *     connection instead of all of them), accept, serve, report, until
 *     max_use, retirement (end-of-file on its channel) or a configuration
 *     generation of its pool newer than its own;
 *   standalone ("-c FILE -i [-r ROLE]"): one session on stdin/stdout.
 *
 * Every state change is reported to the master as one fixed-size struct
 * worker_status written to the pool's status pipe (atomic, < PIPE_BUF).
 *
 * Admission control (admit()) and the listener-closing SIGIO handler on
 * the channel (on_channel_signal()) are described in worker.h.
 *
 * Fatal errors (no configuration, init failure, cannot drop privileges)
 * are logged and end the process with status 1; the master counts a
 * worker that dies before its first session towards throttling the pool.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "scoreboard.h"
#include "stream.h"
#include "sys.h"
#include "util.h"
#include "worker.h"

#define WORKER_MAX_LISTEN 64
#define WORKER_CONF_MAX (16 * 1024 * 1024)

static struct {
	const struct worker_service *svc;
	bool managed;            /* run by the master */
	struct scoreboard *sb;
	uint32_t slot;
	uint32_t generation;
	uint64_t sessions;
	bool retire;             /* channel end-of-file seen */
	int channel;             /* -1 when none */
	unsigned session_seq;
	struct clienttab *clients;   /* shared per-client table, or NULL */
	size_t nlisten;          /* listening fds from DMAIL_FD_LISTEN on */
} w = { .channel = -1 };

/* Set by the SIGIO handler of the channel (and by check_channel()). */
static volatile sig_atomic_t channel_eof;
static volatile sig_atomic_t listeners_closed;

/* The master is gone or retired us: no new session will be accepted, so
 * give up every listening socket now. Async-signal-safe. */
static void
channel_closed(void)
{
	channel_eof = 1;
	if (listeners_closed)
		return;
	listeners_closed = 1;
	for (size_t i = 0; i < w.nlisten; i++)
		close(DMAIL_FD_LISTEN + (int)i);
}

/* SIGIO from the channel: data (ignored) or end-of-file. A busy worker
 * learns here, in the middle of a session, that its master died. */
static void
on_channel_signal(int sig)
{
	int saved = errno;
	char c;
	ssize_t n;

	(void)sig;
	do
		n = read(DMAIL_FD_CHANNEL, &c, 1);
	while (n > 0 || (n < 0 && errno == EINTR));
	if (n == 0)
		channel_closed();
	errno = saved;
}

static void
usage(const char *prog)
{
	fprintf(stderr, "usage: %s -c FILE -i [-r ROLE]\n"
	    "  (without -i this program is started by dmaild)\n", prog);
	exit(2);
}

/* Tell the master what we are doing. A dead master (EPIPE) means retire. */
static void
report(enum worker_state state)
{
	static int last = -1;
	struct worker_status st;

	if (!w.managed || last == (int)state)
		return;
	last = (int)state;
	memset(&st, 0, sizeof(st));
	st.pid = (int32_t)getpid();
	st.slot = w.slot;
	st.generation = w.generation;
	st.state = (uint32_t)state;
	st.sessions = w.sessions;
	if (write_all(DMAIL_FD_STATUS, &st, sizeof(st)) < 0) {
		if (errno == EPIPE)
			w.retire = true;
		else
			log_warn("event=status-pipe-failed error=\"%s\"",
			    strerror(errno));
	}
}

/* Non-blocking look at the channel: end-of-file means retire. */
static void
check_channel(void)
{
	char c;
	ssize_t n;

	if (channel_eof)
		w.retire = true;
	if (w.channel < 0 || w.retire)
		return;
	for (;;) {
		n = read(w.channel, &c, 1);
		if (n == 0) {
			sigset_t io, old;

			/* Not while the handler may be doing the same. */
			sigemptyset(&io);
			sigaddset(&io, SIGIO);
			sigprocmask(SIG_BLOCK, &io, &old);
			channel_closed();
			sigprocmask(SIG_SETMASK, &old, NULL);
			w.retire = true;
			return;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return;     /* EAGAIN: still open; data is ignored */
	}
}

bool
worker_should_exit(void)
{
	check_channel();
	if (w.retire)
		return true;
	if (w.sb != NULL && scoreboard_generation(w.sb,
	    (uint32_t)w.svc->pool) != w.generation)
		return true;
	return false;
}

static int
role_parse(const char *s, enum listen_role *out)
{
	for (int r = 0; r < ROLE_COUNT; r++)
		if (strcmp(role_name((enum listen_role)r), s) == 0) {
			*out = (enum listen_role)r;
			return 0;
		}
	return -1;
}

static bool
addr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		const uint8_t *a = in6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return a[12] == 127;
	}
	return false;
}

/* "192.0.2.1" and port from a socket address; false if not IP. */
static bool
addr_text(const struct sockaddr_storage *ss, char *out, size_t outlen,
    unsigned *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)outlen);
		*port = ntohs(in->sin_port);
		return true;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], out,
			    (socklen_t)outlen);
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, out,
			    (socklen_t)outlen);
		*port = ntohs(in6->sin6_port);
		return true;
	}
	return false;
}

/* Fill the session's addresses and id from fd. */
static void
session_setup(struct worker_session *sess, int fd, enum listen_role role)
{
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);
	struct timeval tv;

	memset(sess, 0, sizeof(*sess));
	sess->fd = fd;
	sess->role = role;
	sess->peer_len = sizeof(sess->peer);
	if (getpeername(fd, (struct sockaddr *)&sess->peer,
	    &sess->peer_len) < 0 ||
	    !addr_text(&sess->peer, sess->peer_ip, sizeof(sess->peer_ip),
	    &sess->peer_port)) {
		/* A pipe, or a unix socket: a local user. */
		sess->peer_len = 0;
		snprintf(sess->peer_ip, sizeof(sess->peer_ip), "local");
		sess->peer_loopback = true;
	} else {
		sess->peer_loopback = addr_is_loopback(&sess->peer);
	}
	if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
	    !addr_text(&local, sess->local_ip, sizeof(sess->local_ip),
	    &sess->local_port))
		snprintf(sess->local_ip, sizeof(sess->local_ip), "local");

	/* Unique enough for log correlation: time, pid, sequence. */
	gettimeofday(&tv, NULL);
	snprintf(sess->id, sizeof(sess->id), "%08lX%05lX%X",
	    (unsigned long)tv.tv_sec & 0xffffffffUL,
	    (unsigned long)tv.tv_usec & 0xfffffUL,
	    (unsigned)(((unsigned)getpid() << 8) | (w.session_seq++ & 0xff)));
}

/* The per-client table (clienttab.h), opened while still root so that a
 * new file goes to run_as. NULL (logged) when it cannot be opened: then
 * nothing is limited per client. */
static struct clienttab *
clients_open(const struct dmail_conf *conf)
{
	struct buf path = BUF_INIT, err = BUF_INIT;
	struct clienttab *t;

	conf_state_path(conf, "run", &path);
	(void)mkdir_p(path.data, 0755);
	buf_append_str(&path, "/" CLIENTTAB_FILE);
	t = clienttab_open(path.data, CLIENTTAB_SLOTS, conf->run_as, &err);
	if (t == NULL)
		log_warn("event=clienttab-failed reason=\"%s: logins and "
		    "connections are not limited per client\"",
		    buf_cstr(&err));
	buf_free(&path);
	buf_free(&err);
	return t;
}

/* Admission control, the one place where a new connection of any
 * listening pool may be refused before its session: NULL to serve it, or
 * the reason for the client. Records the client in our scoreboard slot
 * first (serve() clears it), so that sessions starting at once from one
 * address see each other; then the new-connection rate of the address
 * (clienttab.h) and its sessions in this pool (scoreboard.h). Clients in
 * client_limit_exempt skip both limits. */
static const char *
admit(const struct dmail_conf *conf, const struct worker_session *sess)
{
	const struct sockaddr *sa = (const struct sockaddr *)&sess->peer;
	unsigned limit = conf->client_connection_limit, n, refused;
	uint8_t key[16];

	if (!w.managed || sess->peer_len == 0 ||
	    !scoreboard_peer_key(&sess->peer, key))
		return NULL;
	scoreboard_peer_set(w.sb, (int)w.slot, (uint32_t)w.svc->pool, key);
	if (clienttab_exempt(conf, sa))
		return NULL;
	if (w.clients != NULL && conf->client_connection_rate_limit > 0 &&
	    !clienttab_connection(w.clients, sa,
	    conf->client_connection_rate_limit, clienttab_now(), &refused)) {
		/* One line for the first refusal in a row, then at 2, 4,
		 * 8 ...: a flood cannot flood the log. */
		if ((refused & (refused - 1)) == 0)
			log_info("action=refuse sid=%s client=%s role=%s "
			    "reason=client_connection_rate_limit limit=%u "
			    "refused=%u", sess->id, sess->peer_ip,
			    role_name(sess->role),
			    conf->client_connection_rate_limit, refused);
		return "too many connections from your address, try later";
	}
	if (limit == 0)
		return NULL;
	n = scoreboard_peer_count(w.sb, (uint32_t)w.svc->pool, key);
	if (n > limit) {
		log_info("action=refuse sid=%s client=%s role=%s "
		    "reason=client_connection_limit sessions=%u limit=%u",
		    sess->id, sess->peer_ip, role_name(sess->role), n - 1,
		    limit);
		return "too many connections from your address, try later";
	}
	return NULL;
}

static void
serve(void *state, const struct dmail_conf *conf, int fd,
    enum listen_role role)
{
	struct worker_session sess;
	int wfd = fd == 0 ? 1 : fd;
	const char *refused;

	session_setup(&sess, fd, role);
	scoreboard_stats_role(role);
	sess.clients = w.clients;
	sess.stream = stream_new(fd, wfd);
	refused = admit(conf, &sess);
	if (refused == NULL) {
		w.svc->session(state, conf, &sess);
		w.sessions++;
	} else if (w.svc->refuse != NULL) {
		/* One reply, and the worker is free again: a client that
		 * does not read it must not hold us. */
		stream_set_timeout(sess.stream, 1000);
		stream_set_deadline(sess.stream, now_ms() + 1000);
		w.svc->refuse(state, conf, &sess, refused);
		stream_flush(sess.stream);
	}
	if (w.managed)
		scoreboard_peer_clear(w.sb, (int)w.slot);
	stream_free(sess.stream);
}

/* Configuration text from the master's memfd (fd 3). */
static int
load_config_fd(const char *name, struct dmail_conf *conf, struct buf *err)
{
	struct stat st;
	char *text;
	size_t off = 0;
	int rc;

	if (fstat(DMAIL_FD_CONFIG, &st) < 0) {
		buf_printf(err, "fd %d: %s\n", DMAIL_FD_CONFIG,
		    strerror(errno));
		return -1;
	}
	if (st.st_size < 0 || st.st_size > WORKER_CONF_MAX) {
		buf_printf(err, "fd %d: configuration too large\n",
		    DMAIL_FD_CONFIG);
		return -1;
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size) {
		ssize_t n = pread(DMAIL_FD_CONFIG, text + off,
		    (size_t)st.st_size - off, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			buf_printf(err, "fd %d: read: %s\n", DMAIL_FD_CONFIG,
			    n < 0 ? strerror(errno) : "short file");
			free(text);
			return -1;
		}
		off += (size_t)n;
	}
	text[off] = '\0';
	rc = conf_load_text(name, text, off, conf, err);
	free(text);
	close(DMAIL_FD_CONFIG);
	return rc;
}

static void
log_setup(const struct dmail_conf *conf, bool to_stderr)
{
	const char *e = getenv("DMAIL_LOG_STDERR");
	const char *sl = getenv("DMAIL_LOG_SYSLOG");

	if (to_stderr || (e != NULL && strcmp(e, "1") == 0))
		log_open(w.svc->name, LOG_TO_STDERR, conf->log_level);
	else if (sl != NULL && strcmp(sl, "1") == 0)
		log_open(w.svc->name, LOG_TO_SYSLOG, conf->log_level);
	else
		log_open(w.svc->name, conf->log_target, conf->log_level);
}

/* Drop root for good; refuse to serve as root. */
static void
become_unprivileged(const struct dmail_conf *conf)
{
	if (geteuid() != 0)
		return;
	if (conf->run_as == NULL)
		log_fatal("running as root needs run_as in %s", conf->path);
	if (drop_privileges(conf->run_as) < 0)
		exit(1);
}

static int
run_standalone(const char *path, const char *rolename)
{
	/* static: reachable until exit, also on log_fatal() paths */
	static struct dmail_conf conf;
	struct buf err = BUF_INIT;
	enum listen_role role = w.svc->default_role;
	void *state;

	log_open(w.svc->name, LOG_TO_STDERR, LOG_LEVEL_INFO);
	if (rolename != NULL && role_parse(rolename, &role) < 0) {
		fprintf(stderr, "%s: unknown role '%s'\n", w.svc->name,
		    rolename);
		return 2;
	}
	if (conf_load_file(path, &conf, &err) < 0) {
		fprintf(stderr, "%s", buf_cstr(&err));
		buf_free(&err);
		return 1;
	}
	buf_free(&err);
	log_setup(&conf, true);
	state = w.svc->init(&conf);
	if (state == NULL) {
		conf_free(&conf);
		return 1;
	}
	if (w.svc->run == NULL)
		w.clients = clients_open(&conf);
	become_unprivileged(&conf);
	if (w.svc->run != NULL)
		w.svc->run(state, &conf);
	else
		serve(state, &conf, 0, role);
	clienttab_close(w.clients);
	if (w.svc->fini != NULL)
		w.svc->fini(state);
	conf_free(&conf);
	return 0;
}

static unsigned
env_uint(const char *name)
{
	const char *v = getenv(name);

	return v != NULL ? (unsigned)strtoul(v, NULL, 10) : 0;
}

/* Listening fds 7.. and their roles from DMAIL_LISTEN. */
static size_t
listeners(enum listen_role *roles, size_t max)
{
	const char *env = getenv("DMAIL_LISTEN");
	char *copy, *tok, *save = NULL;
	size_t n = 0;

	if (env == NULL || *env == '\0')
		return 0;
	copy = xstrdup(env);
	for (tok = strtok_r(copy, ",", &save); tok != NULL && n < max;
	    tok = strtok_r(NULL, ",", &save)) {
		if (role_parse(tok, &roles[n]) < 0)
			log_fatal("DMAIL_LISTEN: unknown role '%s'", tok);
		n++;
	}
	free(copy);
	return n;
}

/* Accept from one listener; -1 when another worker was faster, -2 when
 * the master shut the listener down (reload removed it, or shutdown). */
static int
try_accept(int lfd)
{
	int fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			/* Replies are buffered by the stream and leave in one
			 * write when the session waits for input; Nagle would
			 * only hold back pipelined answers. */
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
			return fd;
		}
		if (listeners_closed)
			return -1;      /* the channel handler closed it */
		switch (errno) {
		case EINTR:
			continue;
		case EAGAIN:
#if EAGAIN != EWOULDBLOCK
		case EWOULDBLOCK:
#endif
		case ECONNABORTED:
		case EPROTO:
			return -1;
		case EINVAL:
			return -2;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			log_warn("event=accept-failed error=\"%s\"",
			    strerror(errno));
			usleep(100 * 1000);
			return -1;
		default:
			log_error("event=accept-failed error=\"%s\"",
			    strerror(errno));
			return -1;
		}
	}
}

/* Receive one request with its channel fd; 0 at end-of-file (the master
 * closed the socket: leave), -1 on a malformed message (skipped). */
static int
template_recv(struct worker_request *req, int *fd)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = { req, sizeof(*req) };
	struct msghdr msg;
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	for (;;) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cm.buf;
		msg.msg_controllen = sizeof(cm.buf);
		n = recvmsg(DMAIL_FD_REQUEST, &msg, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (n <= 0) {
		if (n < 0)
			log_error("event=template-failed error=\"request "
			    "socket: %s\"", strerror(errno));
		return 0;
	}
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	if ((size_t)n != sizeof(*req) || *fd < 0) {
		log_error("event=template-failed bytes=%zd "
		    "reason=\"malformed request\"", n);
		if (*fd >= 0)
			close(*fd);
		return -1;
	}
	return 1;
}

static void
template_reply(const struct worker_request *req, int32_t pid)
{
	struct worker_reply rep = { req->slot, req->generation, pid };

	(void)send(DMAIL_FD_REQUEST, &rep, sizeof(rep), MSG_NOSIGNAL);
}

/* The template's life: fork a worker per request. Returns only in a
 * forked worker (with its channel on DMAIL_FD_CHANNEL); the template
 * itself exits here when the master closes the request socket. */
static void
template_serve(void)
{
	for (;;) {
		struct worker_request req;
		int fd, rc, status;
		pid_t pid, gpid;

		rc = template_recv(&req, &fd);
		if (rc == 0)
			exit(0);
		if (rc < 0)
			continue;
		pid = fork();
		if (pid < 0) {
			log_warn("event=fork-failed error=\"%s\"",
			    strerror(errno));
			template_reply(&req, -errno);
			close(fd);
			continue;
		}
		if (pid > 0) {
			close(fd);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			continue;
		}
		/* The intermediate child: fork the worker, tell the master
		 * its pid, and leave so the master inherits it. */
		gpid = fork();
		if (gpid != 0) {
			template_reply(&req, gpid > 0 ? gpid : -errno);
			_exit(gpid > 0 ? 0 : 1);
		}
		/* The worker. Its channel replaces the request socket. */
		if (dup2(fd, DMAIL_FD_CHANNEL) < 0)
			_exit(1);
		close(fd);
		w.slot = req.slot;
		w.generation = req.generation;
		{
			/* In place, so /proc/PID/environ tells workers from
			 * the template (the harness counts them). */
			char *e = getenv("DMAIL_TEMPLATE");
			if (e != NULL && *e != '\0')
				*e = '0';
		}
		return;
	}
}

/* Make the channel signal-driven (see worker.h); a listening worker
 * only: the others have no listener to give up, and their work should
 * not see EINTR. */
static void
channel_watch(void)
{
	struct sigaction sa;

	for (size_t i = 0; i < w.nlisten; i++)
		(void)fcntl(DMAIL_FD_LISTEN + (int)i, F_SETFD, FD_CLOEXEC);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_channel_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGIO, &sa, NULL) < 0 ||
	    fcntl(w.channel, F_SETOWN, getpid()) < 0 ||
	    fcntl(w.channel, F_SETFL, fcntl(w.channel, F_GETFL) | O_ASYNC) < 0)
		log_warn("event=channel-failed fd=%d error=\"%s\"",
		    w.channel, strerror(errno));
	/* The master may have died before O_ASYNC was set. */
	check_channel();
}

/* The environment the master gave us: configuration, log, scoreboard and
 * (not in a template, which gets it per fork) the channel. */
static void
managed_setup(struct dmail_conf *conf, bool template)
{
	struct buf err = BUF_INIT;
	const char *path = getenv("DMAIL_CONF_PATH");

	w.managed = true;
	w.slot = env_uint("DMAIL_SLOT");
	w.generation = env_uint("DMAIL_GENERATION");
	log_open(w.svc->name, LOG_TO_STDERR, LOG_LEVEL_INFO);
	if (load_config_fd(path != NULL ? path : "dmail.conf", conf,
	    &err) < 0) {
		/* The master validated this text: something is badly off. */
		log_error("event=config-error reason=\"configuration from "
		    "master: %s\"", buf_cstr(&err));
		buf_free(&err);
		exit(1);
	}
	buf_free(&err);
	log_setup(conf, false);

	w.sb = scoreboard_attach(DMAIL_FD_SCOREBOARD);
	if (w.sb == NULL)
		log_fatal("scoreboard on fd %d: %s", DMAIL_FD_SCOREBOARD,
		    strerror(errno));
	scoreboard_stats_bind(w.sb, (uint32_t)w.svc->pool);
	if (!template) {
		w.channel = DMAIL_FD_CHANNEL;
		fd_set_nonblock(w.channel, true);
	}
}

/* One epoll set: the listeners (exclusive wake-ups), then the channel. */
static int
listen_epoll(size_t nlisten)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		log_fatal("epoll_create1: %s", strerror(errno));
	for (size_t i = 0; i <= nlisten; i++) {
		struct epoll_event ev;
		int fd = i < nlisten ? DMAIL_FD_LISTEN + (int)i : w.channel;

		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | (i < nlisten ? EPOLLEXCLUSIVE : 0);
		ev.data.u32 = (uint32_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			/* Retired while starting (a reload, a pool stopped):
			 * channel_closed() closed the listeners, and the
			 * accept loop ends at once. Not a crash. */
			if (errno == EBADF && listeners_closed)
				continue;
			log_fatal("epoll_ctl fd %d: %s", fd, strerror(errno));
		}
	}
	return ep;
}

/* Wait, accept, serve, one session per wake-up, until retired, a reload
 * or max_use sessions. */
static void
accept_loop(void *state, struct dmail_conf *conf,
    const enum listen_role *roles, size_t nlisten)
{
	unsigned max_use = conf->pool[w.svc->pool].max_use;
	int ep = listen_epoll(nlisten);

	while (!worker_should_exit() && w.sessions < max_use) {
		struct epoll_event evs[WORKER_MAX_LISTEN + 1];
		int n;

		report(WORKER_IDLE);
		n = epoll_wait(ep, evs, WORKER_MAX_LISTEN + 1, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_fatal("epoll_wait: %s", strerror(errno));
		}
		/* Listeners first: we were woken for a connection, and going
		 * away without taking it would leave it waiting. But not
		 * after a reload (or retirement): a connection made once
		 * the reload was answered must get the new configuration;
		 * it waits in the backlog for a new worker, or the master
		 * watches the listener while none is ready. */
		for (int k = 0; k < n; k++) {
			uint32_t idx = evs[k].data.u32;
			int fd;

			if (idx >= nlisten)
				continue;
			if (worker_should_exit())
				break;
			fd = try_accept(DMAIL_FD_LISTEN + (int)idx);
			if (fd == -2)
				epoll_ctl(ep, EPOLL_CTL_DEL,
				    DMAIL_FD_LISTEN + (int)idx, NULL);
			if (fd < 0)
				continue;
			report(WORKER_BUSY);
			serve(state, conf, fd, roles[idx]);
			close(fd);
			/* The session's buffers are freed: return the pages
			 * before waiting, possibly long, for the next one. */
			malloc_trim(0);
			break;     /* one session per wake-up */
		}
	}
	close(ep);
}

static int
run_managed(void)
{
	/* static: reachable until exit, also on log_fatal() paths */
	static struct dmail_conf conf;
	enum listen_role roles[WORKER_MAX_LISTEN];
	size_t nlisten;
	void *state;
	const char *tenv = getenv("DMAIL_TEMPLATE");
	bool template = tenv != NULL && strcmp(tenv, "1") == 0;

	managed_setup(&conf, template);
	nlisten = listeners(roles, WORKER_MAX_LISTEN);
	if (nlisten > 0)
		w.clients = clients_open(&conf);

	state = w.svc->init(&conf);
	if (state == NULL) {
		conf_free(&conf);
		return 1;
	}
	become_unprivileged(&conf);
	/* init() (OpenSSL, the configuration) and getpwnam() leave freed
	 * heap behind; give it back so each idle worker costs less. */
	malloc_trim(0);
	if (template) {
		/* Returns in a forked worker. OpenSSL 3 notices the new pid
		 * and reseeds its random generators before their next use;
		 * nothing else of init() is per process except what
		 * after_fork() reopens. */
		template_serve();
		w.channel = DMAIL_FD_CHANNEL;
		fd_set_nonblock(w.channel, true);
		if (w.svc->after_fork != NULL)
			w.svc->after_fork(state, &conf);
	}

	w.nlisten = w.svc->run == NULL ? nlisten : 0;
	if (w.nlisten > 0)
		channel_watch();

	if (w.svc->run != NULL) {
		report(WORKER_BUSY);
		w.svc->run(state, &conf);
	} else {
		if (nlisten == 0)
			log_fatal("no listening sockets (DMAIL_LISTEN is "
			    "empty)");
		accept_loop(state, &conf, roles, nlisten);
	}
	report(WORKER_EXITING);
	if (w.svc->fini != NULL)
		w.svc->fini(state);
	clienttab_close(w.clients);
	conf_free(&conf);
	return 0;
}

int
worker_main(int argc, char **argv, const struct worker_service *svc)
{
	const char *path = NULL, *role = NULL;
	bool inetd = false;
	int ch;

	w.svc = svc;
	signal(SIGPIPE, SIG_IGN);
	sys_fault_init();
	version_option(argc, argv, svc->name);
	while ((ch = getopt(argc, argv, "c:ir:")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'i':
			inetd = true;
			break;
		case 'r':
			role = optarg;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc)
		usage(argv[0]);
	if (inetd) {
		if (path == NULL)
			usage(argv[0]);
		return run_standalone(path, role);
	}
	if (path != NULL || getenv("DMAIL_CONF_PATH") == NULL ||
	    fcntl(DMAIL_FD_CONFIG, F_GETFD) < 0)
		usage(argv[0]);
	return run_managed();
}
