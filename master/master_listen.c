/*
 * master_listen.c - the listening sockets.
 *
 * Every listener is bound once by the master (before workers drop root)
 * and kept for the master's whole life; every worker of the pool inherits
 * that one socket. A reload keeps the sockets whose role and address did
 * not change, binds the new ones and closes the removed ones.
 *
 * master_listen_sync(m, conf, pools, err, false) binds what conf adds
 * for the pools of the mask (POOL_BITs; listeners of other pools are
 * left as they are) and keeps the new sockets aside in m->staged; on
 * failure it closes them, appends the reasons to err and returns -1.
 * master_listen_sync(m, conf, pools, err, true) then applies the change
 * (cannot fail). master_listen_close_pools() closes the listeners of
 * some pools ("shutdown pop3"); a later sync binds them again. A removed socket is shut down, not
 * only closed: workers still hold it, and shutdown() stops the kernel
 * from queueing new connections on it for them.
 *
 * master_listen_watch() adds or removes a pool's listeners to the
 * master's own epoll: the master watches them only while the pool has no
 * ready worker, to start workers when connections are waiting (Postfix's
 * master_avail). master_listen_queued() reads the accept queue length.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "util.h"

static bool
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0 &&
		    x->sin6_scope_id == y->sin6_scope_id;
	}
	return false;
}

static struct listener *
find(struct listener *list, const struct listen_addr *la)
{
	for (struct listener *l = list; l != NULL; l = l->next)
		if (l->role == la->role && same_addr(&l->ss, &la->ss))
			return l;
	return NULL;
}

static int
bind_one(const struct listen_addr *la, unsigned backlog, struct buf *err)
{
	int fd, on = 1;

	fd = socket(la->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (la->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (const struct sockaddr *)&la->ss, la->sslen) < 0 ||
	    listen(fd, (int)backlog) < 0)
		goto fail;
	return fd;
fail:
	buf_printf(err, "%s_listen %s: %s\n", role_name(la->role), la->text,
	    strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static void
listener_free(struct master *m, struct listener *l)
{
	if (l->watched)
		master_ep_del(m, l->fd);
	shutdown(l->fd, SHUT_RDWR);
	close(l->fd);
	free(l->text);
	free(l);
}

/* Does the sync of pools touch this role? */
static bool
in_pools(enum listen_role role, unsigned pools)
{
	return (pools & POOL_BIT(role_pool(role))) != 0;
}

int
master_listen_sync(struct master *m, const struct dmail_conf *conf,
    unsigned pools, struct buf *err, bool commit)
{
	struct listener **pp, *l;

	if (!commit) {
		int rc = 0;

		for (size_t i = 0; i < conf->listen_count; i++) {
			const struct listen_addr *la = &conf->listen[i];
			int fd;

			if (!in_pools(la->role, pools) ||
			    find(m->listeners, la) != NULL ||
			    find(m->staged, la) != NULL)
				continue;
			fd = bind_one(la, conf->listen_backlog, err);
			if (fd < 0) {
				rc = -1;
				continue;
			}
			l = xcalloc(1, sizeof(*l));
			l->ev.kind = EV_LISTEN;
			l->ev.obj = l;
			l->role = la->role;
			l->text = xstrdup(la->text);
			l->ss = la->ss;
			l->sslen = la->sslen;
			l->fd = fd;
			l->next = m->staged;
			m->staged = l;
		}
		if (rc < 0) {
			while ((l = m->staged) != NULL) {
				m->staged = l->next;
				listener_free(m, l);
			}
		}
		return rc;
	}

	/* Drop listeners the new configuration does not name. */
	for (pp = &m->listeners; (l = *pp) != NULL;) {
		bool keep = !in_pools(l->role, pools);

		if (keep) {
			pp = &l->next;
			continue;
		}
		for (size_t i = 0; i < conf->listen_count && !keep; i++)
			keep = l->role == conf->listen[i].role &&
			    same_addr(&l->ss, &conf->listen[i].ss);
		if (keep) {
			/* A new backlog takes effect on a second listen(). */
			listen(l->fd, (int)conf->listen_backlog);
			pp = &l->next;
			continue;
		}
		log_info("event=listener-closed role=%s listen=%s",
		    role_name(l->role), l->text);
		*pp = l->next;
		listener_free(m, l);
	}
	/* Append the new ones, in configuration order. */
	for (size_t i = 0; i < conf->listen_count; i++) {
		struct listener **sp;

		if (!in_pools(conf->listen[i].role, pools))
			continue;
		for (sp = &m->staged; (l = *sp) != NULL; sp = &l->next)
			if (l->role == conf->listen[i].role &&
			    same_addr(&l->ss, &conf->listen[i].ss))
				break;
		if (l == NULL)
			continue;
		*sp = l->next;
		l->next = NULL;
		for (pp = &m->listeners; *pp != NULL; pp = &(*pp)->next)
			;
		*pp = l;
		log_info("event=listener-open role=%s listen=%s",
		    role_name(l->role), l->text);
	}
	return 0;
}

void
master_listen_close_all(struct master *m)
{
	master_listen_close_pools(m, POOL_ALL);
}

void
master_listen_close_pools(struct master *m, unsigned pools)
{
	struct listener **pp, *l;

	for (pp = &m->listeners; (l = *pp) != NULL;) {
		if (!in_pools(l->role, pools)) {
			pp = &l->next;
			continue;
		}
		log_info("event=listener-closed role=%s listen=%s",
		    role_name(l->role), l->text);
		*pp = l->next;
		listener_free(m, l);
	}
}

void
master_listen_watch(struct master *m, enum pool_id pool, bool on)
{
	for (struct listener *l = m->listeners; l != NULL; l = l->next) {
		if (role_pool(l->role) != pool || l->watched == on)
			continue;
		if (on) {
			if (master_ep_add(m, l->fd, EPOLLIN, &l->ev) == 0)
				l->watched = true;
		} else {
			master_ep_del(m, l->fd);
			l->watched = false;
		}
	}
}

unsigned
master_listen_count(const struct master *m, enum pool_id pool)
{
	unsigned n = 0;

	for (const struct listener *l = m->listeners; l != NULL; l = l->next)
		if (role_pool(l->role) == pool)
			n++;
	return n;
}

unsigned
master_listen_queued(const struct master *m, enum pool_id pool)
{
	unsigned n = 0;

	for (const struct listener *l = m->listeners; l != NULL; l = l->next) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);

		if (role_pool(l->role) != pool)
			continue;
		/* On a listening socket, tcpi_unacked is the accept queue. */
		if (getsockopt(l->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
			n += ti.tcpi_unacked;
	}
	return n;
}
