/*
 * master_ev.c - the master's epoll set: the one place that knows how an
 * event source is registered (see enum ev_kind in master.h).
 *
 * master_ep_init() creates the set (fatal when the kernel refuses: the
 * master cannot run without it). master_ep_add() registers fd with the
 * struct ev that the event loop (master.c run()) dispatches on; it
 * returns epoll_ctl()'s result, and the caller decides whether a failure
 * is fatal. master_ep_del() removes fd; removing an fd that is not
 * registered is harmless.
 *
 * Every other master file registers its descriptors through here and
 * never calls back into master.c.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "log.h"
#include "master.h"

void
master_ep_init(struct master *m)
{
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (m->epfd < 0)
		log_fatal("epoll_create1: %s", strerror(errno));
}

int
master_ep_add(struct master *m, int fd, uint32_t events, struct ev *ev)
{
	struct epoll_event e;

	memset(&e, 0, sizeof(e));
	e.events = events;
	e.data.ptr = ev;
	return epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &e);
}

void
master_ep_del(struct master *m, int fd)
{
	epoll_ctl(m->epfd, EPOLL_CTL_DEL, fd, NULL);
}
