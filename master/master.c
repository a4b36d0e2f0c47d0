/*
 * master.c - dmaild: arguments, start-up, daemon mode, the event loop
 * and shutdown. See master.h for the module map.
 *
 * usage: dmaild [-fFnV] [-c FILE]
 *   -c FILE  configuration (default DMAIL_SYSCONFDIR/dmail.conf)
 *   -f       stay in the foreground, log to stderr (workers too)
 *   -F       stay in the foreground, log as configured (systemd)
 *   -n       check the configuration, print every error or "FILE: ok"
 *   -V       print the version and exit
 *
 * Start-up errors (configuration, state directory, a listener that cannot
 * be bound, another master running) are printed and end dmaild with
 * status 1 before it detaches. Once running, the master only exits on
 * SIGTERM, SIGINT or the "shutdown" control command, with status 0.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "userdb.h"
#include "util.h"

#ifndef DMAIL_SYSCONFDIR
#define DMAIL_SYSCONFDIR "/etc"
#endif

static void
usage(void)
{
	fprintf(stderr, "usage: dmaild [-fFnV] [-c FILE]\n");
	exit(2);
}

/* The configuration path, made absolute: the daemon changes directory. */
static char *
absolute_path(const char *path)
{
	char cwd[PATH_MAX];
	struct buf b = BUF_INIT;

	if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return xstrdup(path);
	buf_printf(&b, "%s/%s", cwd, path);
	return buf_steal(&b);
}

/* Thousands of sessions need thousands of descriptors. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("event=fd-limit-failed error=\"%s\"",
		    strerror(errno));
}

/* Lock the pid file for our lifetime; -1 if another master holds it. */
static int
pidfile_lock(struct master *m)
{
	struct buf path = BUF_INIT;
	char text[32];

	conf_state_path(m->conf, "run/dmaild.pid", &path);
	m->pid_path = buf_steal(&path);
	m->pid_fd = open(m->pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (m->pid_fd < 0) {
		log_error("event=open-failed path=%s error=\"%s\"", m->pid_path,
		    strerror(errno));
		return -1;
	}
	if (flock(m->pid_fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = pread(m->pid_fd, text, sizeof(text) - 1, 0);
		text[n > 0 ? n : 0] = '\0';
		log_error("event=already-running pid=%ld path=%s",
		    strtol(text, NULL, 10), m->pid_path);
		return -1;
	}
	return 0;
}

static void
pidfile_write(struct master *m)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());

	if (ftruncate(m->pid_fd, 0) < 0 ||
	    pwrite(m->pid_fd, text, (size_t)n, 0) != n)
		log_warn("event=write-failed path=%s error=\"%s\"", m->pid_path,
		    strerror(errno));
}

static void
daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		log_fatal("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	setsid();
	if (chdir("/") < 0)
		log_fatal("chdir /: %s", strerror(errno));
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

static int
check_only(const char *path)
{
	struct dmail_conf conf;
	struct buf err = BUF_INIT;

	if (master_conf_load(path, &conf, &err) < 0) {
		fputs(buf_cstr(&err), stderr);
		buf_free(&err);
		return 1;
	}
	printf("%s: ok\n", path);
	conf_free(&conf);
	return 0;
}

static void
run(struct master *m)
{
	struct epoll_event evs[128];
	struct buf msg = BUF_INIT;

	while (!m->stopping || master_live_workers(m) > 0) {
		int n = epoll_wait(m->epfd, evs, 128,
		    master_history_timeout(master_notify_timeout(
		    master_pool_next_timer(m))));
		int sigs = 0;

		if (n < 0) {
			if (errno != EINTR)
				log_fatal("epoll_wait: %s", strerror(errno));
			n = 0;
		}
		/* Clients last: a "reload" may free a listener that has an
		 * event further down this batch. */
		for (int pass = 0; pass < 2; pass++) {
			for (int i = 0; i < n; i++) {
				struct ev *ev = evs[i].data.ptr;

				if ((ev->kind == EV_CLIENT) != (pass == 1))
					continue;
				switch (ev->kind) {
				case EV_SIGNAL:
					sigs |= master_sig_drain(
					    (int)(intptr_t)ev->obj);
					break;
				case EV_STATUS:
					master_status_read(m, ev->obj);
					break;
				case EV_LISTEN: {
					struct listener *l = ev->obj;
					master_pool_demand(m,
					    role_pool(l->role));
					break;
				}
				case EV_CONTROL:
					master_control_accept(m, false);
					break;
				case EV_STATUS_SOCKET:
					master_control_accept(m, true);
					break;
				case EV_CLIENT:
					master_client_event(m, ev->obj,
					    evs[i].events);
					break;
				case EV_TEMPLATE:
					master_template_read(m, ev->obj);
					break;
				}
			}
		}
		if (sigs & MASTER_SIG_CHILD) {
			/* Reports written before a worker exited are in the
			 * pipe: read them first so no session goes uncounted. */
			for (int i = 0; i < POOL_COUNT; i++)
				master_status_read(m, &m->pools[i]);
			master_reap(m);
		}
		master_template_sweep(m);
		if (sigs & MASTER_SIG_STOP)
			master_begin_shutdown(m, "signal");
		if ((sigs & MASTER_SIG_RELOAD) && !m->stopping) {
			log_info("event=reload-request reason=SIGHUP");
			buf_reset(&msg);
			master_reload(m, POOL_ALL, &msg);
		}
		/* A "reload" of this turn is answered: now the work. */
		master_reload_finish(m);
		master_client_timeouts(m);
		master_shutdown_tick(m);
		if (!m->stopping)
			master_pool_maintain(m);
		master_notify_tick(m);
		master_history_tick(m);
	}
	buf_free(&msg);
}

int
main(int argc, char **argv)
{
	static struct master master;
	struct master *m = &master;
	struct dmail_conf conf;
	const char *path = DMAIL_SYSCONFDIR "/dmail.conf";
	bool check = false;
	struct buf err = BUF_INIT;
	int ch, sigfd;

	master_notify_init();
	version_option(argc, argv, "dmaild");
	while ((ch = getopt(argc, argv, "c:fFnVh")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			m->foreground = true;
			break;
		case 'F':
			m->no_detach = true;
			break;
		case 'n':
			check = true;
			break;
		case 'V':
			version_print("dmaild");
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_open("dmaild", LOG_TO_STDERR, LOG_LEVEL_INFO);
	if (check)
		return check_only(path);

	m->conf_path = absolute_path(path);
	m->control_fd = m->status_fd = m->pid_fd = -1;
	if (master_conf_load(m->conf_path, &conf, &err) < 0) {
		fputs(buf_cstr(&err), stderr);
		buf_free(&err);
		return 1;
	}
	buf_free(&err);
	m->mc = master_mconf_new(&conf, 1);
	if (m->mc == NULL)
		log_fatal("configuration memfd: %s", strerror(errno));
	m->conf = &m->mc->conf;
	log_set_level(m->conf->log_level);
	if (m->conf->admin_address == NULL && m->conf->local_domains.count > 0)
		log_warn("event=config-warning reason=\"admin_address is not "
		    "set: mail to postmaster@ a local domain without an alias "
		    "or account is kept in %s/mail/DOMAIN/postmaster until the "
		    "account postmaster@DOMAIN is created\"",
		    m->conf->state_dir);
	m->started_ms = now_ms();
	m->started_wall = time(NULL);
	m->generation = 1;
	raise_nofile();
	if (master_state_dirs(m->conf) < 0 || pidfile_lock(m) < 0)
		return 1;
	/* Account database of the old environment layout: see userdb.c. */
	userdb_upgrade_at_start(m->conf);
	master_ep_init(m);
	if ((sigfd = master_sig_init()) < 0)
		log_fatal("signals: %s", strerror(errno));
	m->signal_ev.kind = EV_SIGNAL;
	m->signal_ev.obj = (void *)(intptr_t)sigfd;
	if (master_ep_add(m, sigfd, EPOLLIN, &m->signal_ev) < 0)
		log_fatal("epoll: %s", strerror(errno));
	if (master_listen_sync(m, m->conf, POOL_ALL, &err, false) < 0) {
		fputs(buf_cstr(&err), stderr);
		buf_free(&err);
		return 1;
	}
	master_listen_sync(m, m->conf, POOL_ALL, &err, true);
	buf_free(&err);
	m->sb = scoreboard_create(MASTER_SCOREBOARD_SLOTS);
	if (m->sb == NULL)
		log_fatal("scoreboard: %s", strerror(errno));
	m->by_slot = xcalloc(MASTER_SCOREBOARD_SLOTS, sizeof(*m->by_slot));
	m->by_pid = xcalloc(MASTER_PID_BUCKETS, sizeof(*m->by_pid));
	if (master_control_open(m) < 0)
		return 1;

	if (master_log_syslog(m))
		fprintf(stderr, "dmaild: log stderr without -f: logging to "
		    "syslog (facility mail) once detached\n");
	if (!m->foreground) {
		if (!m->no_detach)
			daemonize();
		master_log_open(m);
	}
	pidfile_write(m);
	/* Workers forked by template processes are grandchildren: become
	 * their parent when their own parent exits, to reap them. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_fatal("prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
	master_pool_init(m);
	master_pool_configure(m, POOL_ALL);
	master_history_init(m);
	log_info("event=start pid=%ld path=%s generation=%u",
	    (long)getpid(), m->conf_path, m->generation);
	master_pool_maintain(m);

	run(m);

	master_control_close(m);
	for (struct client *c = m->clients; c != NULL; c = c->next)
		close(c->fd);
	unlink(m->pid_path);
	log_info("event=stop pid=%ld", (long)getpid());
	return 0;
}
