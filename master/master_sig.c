/*
 * master_sig.c - race-free signal handling through a self-pipe.
 *
 * master_sig_init() installs handlers for SIGCHLD, SIGHUP, SIGTERM and
 * SIGINT that only write the signal number into a non-blocking pipe, and
 * ignores SIGPIPE. It returns the pipe's read end for the event loop, or
 * -1 on failure (errno set). master_sig_drain() reads everything pending
 * and returns a mask of MASTER_SIG_* bits: all real work happens in the
 * event loop, never in a handler.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "master.h"

static int sig_pipe[2] = { -1, -1 };

static void
sig_handler(int sig)
{
	int saved = errno;
	unsigned char c = (unsigned char)sig;

	/* A full pipe already holds a wake-up; losing this byte is fine. */
	(void)!write(sig_pipe[1], &c, 1);
	errno = saved;
}

int
master_sig_init(void)
{
	static const int sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT };
	struct sigaction sa;

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = sig_handler;
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return -1;
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return sig_pipe[0];
}

int
master_sig_drain(int fd)
{
	unsigned char buf[256];
	ssize_t n;
	int mask = 0;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			switch (buf[i]) {
			case SIGCHLD:
				mask |= MASTER_SIG_CHILD;
				break;
			case SIGHUP:
				mask |= MASTER_SIG_RELOAD;
				break;
			case SIGTERM:
			case SIGINT:
				mask |= MASTER_SIG_STOP;
				break;
			}
		}
	}
	return mask;
}
