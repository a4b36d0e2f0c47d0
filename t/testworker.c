/*
 * testworker.c - a tiny line-protocol worker for testing the master and
 * the worker runtime (check_PROGRAMS only, never installed).
 *
 * Greeting: "+OK testworker pid=PID gen=GENERATION role=ROLE peer=IP"
 * Commands, one per line:
 *   ECHO text    "+OK text"
 *   SLEEP n      sleeps n seconds (0..60), then "+OK slept"
 *   CRASH        raises SIGSEGV (the master must replace the process)
 *   HOSTNAME     "+OK hostname" from the configuration (proves reload)
 *   PID          "+OK pid"
 *   QUIT         "+OK bye", end of session
 * Anything else: "-ERR unknown command".
 *
 * Environment for crash-loop tests: TESTWORKER_EXIT_AT_START=1 makes
 * init fail, so every worker dies before serving a session.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "stream.h"
#include "worker.h"

static int testworker_state;

static void *
testworker_init(const struct dmail_conf *conf)
{
	(void)conf;
	if (getenv("TESTWORKER_EXIT_AT_START") != NULL) {
		log_error("TESTWORKER_EXIT_AT_START set: failing init");
		return NULL;
	}
	return &testworker_state;
}

static void
testworker_session(void *state, const struct dmail_conf *conf,
    struct worker_session *sess)
{
	struct buf line = BUF_INIT;
	enum line_ending end;
	const char *gen = getenv("DMAIL_GENERATION");

	(void)state;
	stream_set_timeout(sess->stream, 120 * 1000);
	stream_printf(sess->stream, "+OK testworker pid=%ld gen=%s role=%s "
	    "peer=%s\r\n", (long)getpid(), gen != NULL ? gen : "0",
	    role_name(sess->role), sess->peer_ip);
	for (;;) {
		int rc = stream_read_line(sess->stream, &line, 1000, &end);
		const char *cmd;

		if (rc == STREAM_TOOLONG) {
			stream_puts(sess->stream, "-ERR line too long\r\n");
			continue;
		}
		if (rc != STREAM_OK)
			break;
		cmd = buf_cstr(&line);
		if (strncasecmp(cmd, "ECHO ", 5) == 0) {
			stream_printf(sess->stream, "+OK %s\r\n", cmd + 5);
		} else if (strncasecmp(cmd, "SLEEP ", 6) == 0) {
			int n = atoi(cmd + 6);
			if (n < 0 || n > 60) {
				stream_puts(sess->stream, "-ERR bad time\r\n");
				continue;
			}
			stream_flush(sess->stream);
			/* The whole time: a signal (SIGIO when the master
			 * retires us) cuts sleep() short. */
			for (unsigned left = (unsigned)n; left > 0;)
				left = sleep(left);
			stream_puts(sess->stream, "+OK slept\r\n");
		} else if (strcasecmp(cmd, "CRASH") == 0) {
			stream_flush(sess->stream);
			/* Die by the signal even under AddressSanitizer,
			 * which would otherwise catch it and exit 1. */
			signal(SIGSEGV, SIG_DFL);
			raise(SIGSEGV);
		} else if (strcasecmp(cmd, "HOSTNAME") == 0) {
			stream_printf(sess->stream, "+OK %s\r\n",
			    conf->hostname);
		} else if (strcasecmp(cmd, "PID") == 0) {
			stream_printf(sess->stream, "+OK %ld\r\n",
			    (long)getpid());
		} else if (strcasecmp(cmd, "QUIT") == 0) {
			stream_puts(sess->stream, "+OK bye\r\n");
			break;
		} else {
			stream_puts(sess->stream, "-ERR unknown command\r\n");
		}
	}
	stream_flush(sess->stream);
	log_info("sid=%s peer=%s session done", sess->id, sess->peer_ip);
	buf_free(&line);
}

static const struct worker_service testworker_service = {
	.name = "testworker",
	.pool = POOL_SMTP,
	.default_role = ROLE_SMTP,
	.init = testworker_init,
	.session = testworker_session,
	.run = NULL,
	.fini = NULL,
};

int
main(int argc, char **argv)
{
	return worker_main(argc, argv, &testworker_service);
}
