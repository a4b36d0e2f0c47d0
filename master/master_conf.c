/*
 * master_conf.c - the master's view of dmail.conf: load and check,
 * hand it to workers, create the state directory, reload.
 *
 * master_conf_load() parses a file and adds the checks only the master
 * can make (run_as must name an unprivileged user when started as root;
 * the program of every pool that has listeners must be executable).
 * Returns 0, or -1 with every error in err, one per line.
 *
 * master_mconf_new() wraps a loaded configuration (taking it over) with a
 * sealed, close-on-exec memfd holding the validated text: workers read
 * exactly what the master checked, even if the file changes on disk
 * later. NULL with errno on failure (conf is then still the caller's).
 * master_mconf_put() drops one reference (the last frees it).
 *
 * master_state_dirs() creates state_dir and spool/, mail/, db/, run/
 * below it; as root, spool/ mail/ db/ go to run_as. -1 after logging.
 *
 * master_log_open() opens the master's log as configured once it runs
 * detached; "log stderr" there would write into /dev/null, so it logs to
 * syslog instead, with a warning (to stderr before detaching, then to
 * syslog), and master_log_syslog() tells spawning to make the workers do
 * the same.
 *
 * master_reload(m, pools, msg) parses into a staging struct; if anything
 * is wrong (syntax, checks, a listener that cannot be bound) it logs
 * every error, puts them in msg and keeps the running configuration.
 * Otherwise the pools of the mask (POOL_BITs) take the new configuration
 * under a new generation (from then on no old worker of theirs accepts a
 * connection: each checks its pool's generation in the scoreboard
 * first), and only their listeners are synced; the other pools keep
 * their configuration, generation and workers. The master's own
 * settings (log, sockets, shutdown_grace) change only when every pool
 * is reloaded (SIGHUP, "reload all"). It puts the answer in msg and
 * returns 0; the work that grows with the pools, retiring the old
 * workers and starting new ones, is left to master_reload_finish(),
 * which the event loop calls once the answer is on its way. A reload is answered in the same time with 10 or 10,000
 * workers. Returns 0 or -1.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "util.h"

/* A pool with listeners needs a program to run, or connections would
 * wait forever: say so now rather than after the first exec fails. */
static int
check_programs(const struct dmail_conf *c, const char *path, struct buf *err)
{
	bool used[POOL_COUNT] = { false };
	int rc = 0;

	for (size_t i = 0; i < c->listen_count; i++)
		used[role_pool(c->listen[i].role)] = true;
	for (int i = 0; i < POOL_COUNT; i++) {
		if (!used[i] || access(c->pool[i].program, X_OK) == 0)
			continue;
		buf_printf(err, "%s: %s_program %s: %s (needed by the %s "
		    "listeners)\n", path, pool_name((enum pool_id)i),
		    c->pool[i].program, strerror(errno),
		    pool_name((enum pool_id)i));
		rc = -1;
	}
	return rc;
}

int
master_conf_load(const char *path, struct dmail_conf *out, struct buf *err)
{
	struct dmail_conf c;

	if (conf_load_file(path, &c, err) < 0)
		return -1;
	if (check_programs(&c, path, err) < 0) {
		conf_free(&c);
		return -1;
	}
	if (geteuid() == 0) {
		struct passwd *pw = NULL;

		if (c.run_as != NULL)
			pw = getpwnam(c.run_as);
		if (c.run_as == NULL) {
			buf_printf(err, "%s: run_as must name an unprivileged "
			    "user when dmaild runs as root\n", path);
		} else if (pw == NULL) {
			buf_printf(err, "%s: run_as: unknown user '%s'\n",
			    path, c.run_as);
		} else if (pw->pw_uid == 0) {
			buf_printf(err, "%s: run_as: '%s' is root; workers "
			    "must not run as root\n", path, c.run_as);
		} else {
			*out = c;
			return 0;
		}
		conf_free(&c);
		return -1;
	}
	*out = c;
	return 0;
}

static int
conf_memfd(const struct dmail_conf *conf)
{
	int fd = memfd_create("dmail.conf", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	if (write_all(fd, conf->text, conf->text_len) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK |
	    F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

struct mconf *
master_mconf_new(struct dmail_conf *conf, uint32_t generation)
{
	struct mconf *mc;
	int fd = conf_memfd(conf);

	if (fd < 0)
		return NULL;
	mc = xcalloc(1, sizeof(*mc));
	mc->conf = *conf;
	mc->fd = fd;
	mc->generation = generation;
	mc->refs = 1;
	return mc;
}

void
master_mconf_put(struct mconf *mc)
{
	if (mc == NULL || --mc->refs > 0)
		return;
	close(mc->fd);
	conf_free(&mc->conf);
	free(mc);
}

int
master_state_dirs(const struct dmail_conf *conf)
{
	static const char *const subs[] = { "spool", "mail", "db", "run" };
	struct buf path = BUF_INIT;
	uid_t uid = 0;
	gid_t gid = 0;
	bool root = geteuid() == 0;
	int rc = 0;

	if (mkdir_p(conf->state_dir, 0755) < 0) {
		log_error("event=mkdir-failed path=%s error=\"%s\"",
		    conf->state_dir, strerror(errno));
		return -1;
	}
	if (root && user_ids(conf->run_as, &uid, &gid) < 0) {
		log_error("event=config-error user=%s reason=\"run_as: unknown "
		    "user\"", conf->run_as);
		return -1;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		bool own = strcmp(subs[i], "run") != 0;
		/* spool/ is traversable so that dmail-sendmail, run by any
		 * user, reaches the maildrop below it when the server is
		 * down; its other directories are private. */
		mode_t mode = !own ? 0755 : strcmp(subs[i], "spool") == 0 ?
		    0711 : 0750;

		conf_state_path(conf, subs[i], &path);
		if (mkdir_p(buf_cstr(&path), mode) < 0) {
			log_error("event=mkdir-failed path=%s error=\"%s\"",
			    buf_cstr(&path), strerror(errno));
			rc = -1;
			break;
		}
		if (root && own && chown(buf_cstr(&path), uid, gid) < 0) {
			log_error("event=chown-failed path=%s user=%s "
			    "error=\"%s\"", buf_cstr(&path), conf->run_as,
			    strerror(errno));
			rc = -1;
			break;
		}
	}
	buf_free(&path);
	return rc;
}

/* Log every line of err at error level. */
static void
log_errors(const struct buf *err)
{
	const char *s = buf_cstr(err);

	while (*s != '\0') {
		size_t len = strcspn(s, "\n");
		log_error("event=reload-error reason=\"%.*s\"", (int)len, s);
		s += len;
		if (*s == '\n')
			s++;
	}
}

bool
master_log_syslog(const struct master *m)
{
	return !m->foreground && !m->no_detach &&
	    m->conf->log_target == LOG_TO_STDERR;
}

void
master_log_open(struct master *m)
{
	if (m->foreground)
		return;
	if (master_log_syslog(m)) {
		log_open("dmaild", LOG_TO_SYSLOG, m->conf->log_level);
		log_warn("event=log-to-syslog reason=\"log stderr without -f: "
		    "a detached dmaild has no terminal, logging to syslog "
		    "(facility mail) instead; use -f or -F to log to stderr\"");
	} else
		log_open("dmaild", m->conf->log_target, m->conf->log_level);
}

/* The pools of mask by name, joined by sep ("smtp,queue"). */
void
master_pool_names(unsigned mask, const char *sep, struct buf *out)
{
	for (int i = 0; i < POOL_COUNT; i++)
		if (mask & POOL_BIT(i))
			buf_printf(out, "%s%s", out->len > 0 ? sep : "",
			    pool_name((enum pool_id)i));
}

/* Valid: hand mc to the pools of mask (and to the master itself when
 * all are reloaded). Cannot fail. */
static void
reload_commit(struct master *m, struct mconf *mc, unsigned pools,
    unsigned bind)
{
	struct buf err = BUF_INIT;

	master_listen_sync(m, &mc->conf, bind, &err, true);
	buf_free(&err);
	m->generation = mc->generation;
	for (int i = 0; i < POOL_COUNT; i++) {
		struct pool *p = &m->pools[i];

		if (!(pools & POOL_BIT(i)))
			continue;
		master_mconf_put(p->mc);
		p->mc = mc;
		mc->refs++;
		scoreboard_set_generation(m->sb, (uint32_t)i, mc->generation);
	}
	if (pools == POOL_ALL) {
		master_mconf_put(m->mc);
		m->mc = mc;
		mc->refs++;
		m->conf = &mc->conf;
		if (!m->foreground)
			master_log_open(m);
		else
			log_set_level(m->conf->log_level);
	}
	m->reload_pending |= pools;
}

int
master_reload(struct master *m, unsigned pools, struct buf *msg)
{
	struct dmail_conf next;
	struct mconf *mc = NULL;
	struct buf err = BUF_INIT, names = BUF_INIT;
	unsigned bind = pools;

	/* A stopped pool takes the new configuration but binds nothing
	 * until it is started. */
	for (int i = 0; i < POOL_COUNT; i++)
		if (m->pools[i].stopped)
			bind &= ~POOL_BIT(i);
	master_pool_names(pools, ",", &names);
	log_info("event=reload path=%s pool=%s", m->conf_path,
	    buf_cstr(&names));
	master_notify_reloading();
	if (master_conf_load(m->conf_path, &next, &err) < 0)
		goto invalid;
	if (master_state_dirs(&next) < 0) {
		conf_free(&next);
		goto invalid;
	}
	mc = master_mconf_new(&next, m->generation + 1);
	if (mc == NULL) {
		buf_printf(&err, "configuration memfd: %s\n", strerror(errno));
		conf_free(&next);
		goto invalid;
	}
	if (master_listen_sync(m, &mc->conf, bind, &err, false) < 0) {
		master_mconf_put(mc);
		goto invalid;
	}
	/* Valid: from here on nothing may fail. */
	reload_commit(m, mc, pools, bind);
	master_mconf_put(mc);
	log_info("event=reload-done generation=%u status=ok pool=%s",
	    m->generation, buf_cstr(&names));
	buf_printf(msg, "+OK reloaded generation %u (%s)\n", m->generation,
	    pools == POOL_ALL ? "all pools" : buf_cstr(&names));
	buf_free(&err);
	buf_free(&names);
	master_notify_reloaded(m);
	return 0;

invalid:
	if (err.len == 0)
		buf_printf(&err, "%s: cannot prepare state directories\n",
		    m->conf_path);
	log_errors(&err);
	log_error("event=reload-done generation=%u status=invalid "
	    "reason=\"configuration invalid; keeping generation %u\"",
	    m->generation, m->generation);
	buf_printf(msg, "-ERR configuration invalid; keeping generation %u\n"
	    "%s", m->generation, buf_cstr(&err));
	buf_free(&err);
	buf_free(&names);
	master_notify_reloaded(m);
	return -1;
}

void
master_reload_finish(struct master *m)
{
	unsigned pools = m->reload_pending;

	if (pools == 0)
		return;
	m->reload_pending = 0;
	/* Old workers: idle ones leave now, busy ones after their session.
	 * Their sockets stay open in them until then, so nothing is lost.
	 * One close() per worker; the pools then grow back in batches
	 * (master_pool_maintain). */
	master_pool_retire(m, pools);
	master_pool_configure(m, pools);
}
