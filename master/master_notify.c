/*
 * master_notify.c - tell the service manager (systemd, Type=notify) how
 * the master is doing: the sd_notify(3) protocol.
 *
 * Offers:
 *   master_notify_init()       once, first thing in main(): takes
 *                              NOTIFY_SOCKET and WATCHDOG_USEC out of the
 *                              environment (workers must not inherit them:
 *                              only the master speaks for the service);
 *   master_notify_tick(m)      every pass of the event loop: READY=1 once
 *                              the listeners are bound and every pool's
 *                              first workers have reported in (or started
 *                              and died: the master is as ready as it
 *                              will be), WATCHDOG=1 every half of
 *                              WatchdogSec, STATUS= with the pools'
 *                              busy/idle counts when they changed (at
 *                              most once a second);
 *   master_notify_timeout(t)   the event loop's epoll timeout, shortened
 *                              so the watchdog and status are on time;
 *   master_notify_reloading(), master_notify_reloaded()
 *                              RELOADING=1 and READY=1 around a reload
 *                              (master_reload(), whatever asked for it);
 *   master_notify_stopping()   STOPPING=1 when shutdown begins.
 * Without NOTIFY_SOCKET (started by hand, by the init script) every call
 * does nothing. Built without libsystemd (configure says so), every call
 * does nothing either. A failed send is logged once and never fatal: the
 * service manager going away must not take the mail server with it.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"
#include "master.h"
#include "util.h"

/* STATUS= no more often than this, when the counts change. */
#define NOTIFY_STATUS_MIN_MS 1000

static struct {
	char *socket;             /* NOTIFY_SOCKET, NULL when not notifying */
	int64_t watchdog_ms;      /* ping interval, 0 when no watchdog */
	int64_t next_ping;
	bool ready;
	bool send_failed;         /* logged once */
	char status[256];         /* last STATUS= sent */
	int64_t status_sent;
} notify;

#ifdef HAVE_LIBSYSTEMD
/* sd_notify() reads NOTIFY_SOCKET from the environment; it is there only
 * for the length of the call, then removed again (unset_environment). */
static void
notify_send(const char *msg)
{
	int rc;

	if (notify.socket == NULL)
		return;
	if (setenv("NOTIFY_SOCKET", notify.socket, 1) < 0)
		return;
	rc = sd_notify(1, msg);
	if (rc <= 0 && !notify.send_failed) {
		notify.send_failed = true;
		log_warn("event=sd-notify-failed socket=%s error=\"%s\"",
		    notify.socket, rc < 0 ? strerror(-rc) : "socket not set");
	}
}

void
master_notify_init(void)
{
	const char *s = getenv("NOTIFY_SOCKET");
	uint64_t usec = 0;

	if (s != NULL && *s != '\0') {
		notify.socket = xstrdup(s);
		/* Pings at half the interval, as sd_watchdog_enabled(3)
		 * advises; it also checks WATCHDOG_PID is ours. */
		if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
			notify.watchdog_ms = (int64_t)(usec / 2000);
			if (notify.watchdog_ms < 1)
				notify.watchdog_ms = 1;
		}
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}
#else
static void
notify_send(const char *msg)
{
	(void)msg;
}

void
master_notify_init(void)
{
	/* Workers must not see them either way. */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}
#endif

/* "smtp 1 busy 4 idle, pop3 0 busy 2 idle" for systemctl status. */
static void
status_text(const struct master *m, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (int i = 0; i < POOL_COUNT; i++) {
		const struct pool *p = &m->pools[i];
		int n;

		if (!p->enabled && p->total == 0)
			continue;
		n = snprintf(out + len, size - len, "%s%s %u busy %u idle",
		    len > 0 ? ", " : "", pool_name(p->id), p->busy, p->idle);
		if (n < 0 || (size_t)n >= size - len)
			break;
		len += (size_t)n;
	}
	if (len == 0)
		snprintf(out, size, "no pool running");
}

/* The first workers of every pool have reported in (or died). */
static bool
pools_up(const struct master *m)
{
	for (int i = 0; i < POOL_COUNT; i++)
		if (m->pools[i].starting > 0)
			return false;
	return true;
}

static void
send_status(const struct master *m, const char *prefix, int64_t now)
{
	char text[sizeof(notify.status)];
	char msg[sizeof(text) + 64];

	status_text(m, text, sizeof(text));
	memcpy(notify.status, text, sizeof(text));
	notify.status_sent = now;
	snprintf(msg, sizeof(msg), "%sSTATUS=%s", prefix, text);
	notify_send(msg);
}

void
master_notify_tick(struct master *m)
{
	char text[sizeof(notify.status)];
	int64_t now;

	if (notify.socket == NULL || m->stopping)
		return;
	now = now_ms();
	if (!notify.ready) {
		if (!pools_up(m))
			return;
		notify.ready = true;
		notify.next_ping = now + notify.watchdog_ms;
		log_info("event=ready socket=%s reason=\"listeners bound, "
		    "pools up\"", notify.socket);
		send_status(m, "READY=1\n", now);
		return;
	}
	if (notify.watchdog_ms > 0 && now >= notify.next_ping) {
		notify.next_ping = now + notify.watchdog_ms;
		notify_send("WATCHDOG=1");
	}
	if (now - notify.status_sent >= NOTIFY_STATUS_MIN_MS) {
		status_text(m, text, sizeof(text));
		if (strcmp(text, notify.status) != 0)
			send_status(m, "", now);
	}
}

int
master_notify_timeout(int timeout_ms)
{
	int64_t wait;

	if (notify.socket == NULL || !notify.ready)
		return timeout_ms;
	/* The status may have changed and not been sent yet. */
	wait = NOTIFY_STATUS_MIN_MS;
	if (notify.watchdog_ms > 0) {
		int64_t ping = notify.next_ping - now_ms();
		if (ping < wait)
			wait = ping < 0 ? 0 : ping;
	}
	if (timeout_ms < 0 || wait < timeout_ms)
		return (int)wait;
	return timeout_ms;
}

void
master_notify_reloading(void)
{
	char msg[64];
	struct timespec ts;

	if (notify.socket == NULL || !notify.ready)
		return;
	/* MONOTONIC_USEC: what Type=notify-reload (systemd 253) wants. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL);
	notify_send(msg);
}

void
master_notify_reloaded(struct master *m)
{
	if (notify.socket == NULL || !notify.ready)
		return;
	send_status(m, "READY=1\n", now_ms());
}

void
master_notify_stopping(void)
{
	if (notify.socket == NULL)
		return;
	notify_send("STOPPING=1\nSTATUS=shutting down");
}
