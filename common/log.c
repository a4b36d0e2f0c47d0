/*
 * log.c - severity logging to syslog or stderr (see log.h).
 *
 * The logger's settings are per process and set once at start (and on
 * reload); they are the only process-wide state in common/.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static struct {
	char ident[64];
	enum log_target target;
	enum log_level level;
	bool syslog_open;
} logger = { "dmail", LOG_TO_STDERR, LOG_LEVEL_INFO, false };

void
log_open(const char *ident, enum log_target target, enum log_level level)
{
	snprintf(logger.ident, sizeof(logger.ident), "%s", ident);
	logger.level = level;
	logger.target = target;
	if (logger.syslog_open) {
		closelog();
		logger.syslog_open = false;
	}
	if (target == LOG_TO_SYSLOG) {
		openlog(logger.ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
		logger.syslog_open = true;
	}
}

void
log_set_level(enum log_level level)
{
	logger.level = level;
}

enum log_level
log_get_level(void)
{
	return logger.level;
}

int
log_level_parse(const char *s)
{
	if (strcmp(s, "debug") == 0)
		return LOG_LEVEL_DEBUG;
	if (strcmp(s, "info") == 0)
		return LOG_LEVEL_INFO;
	if (strcmp(s, "warning") == 0 || strcmp(s, "warn") == 0)
		return LOG_LEVEL_WARN;
	if (strcmp(s, "error") == 0)
		return LOG_LEVEL_ERROR;
	return -1;
}

static void log_write(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
log_write(enum log_level level, const char *fmt, va_list ap)
{
	static const char *const names[] = { "debug", "info", "warning",
		"error", "fatal", "panic" };
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR,
		LOG_CRIT, LOG_CRIT };
	char line[4096];
	int saved = errno;

	if (level < logger.level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (logger.target == LOG_TO_SYSLOG) {
		if (level == LOG_LEVEL_INFO)
			syslog(prio[level], "%s", line);
		else
			syslog(prio[level], "%s: %s", names[level], line);
	} else {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		/* One write(2) per line so lines from many processes sharing
		 * stderr do not interleave. */
		char out[4300];
		int n = snprintf(out, sizeof(out), "%s.%03ld %s[%ld]: %s%s%s\n",
		    stamp, ts.tv_nsec / 1000000, logger.ident, (long)getpid(),
		    level == LOG_LEVEL_INFO ? "" : names[level],
		    level == LOG_LEVEL_INFO ? "" : ": ", line);
		if (n > 0) {
			size_t len = (size_t)n < sizeof(out) ? (size_t)n
			                                     : sizeof(out) - 1;
			ssize_t w = write(STDERR_FILENO, out, len);
			(void)w;
		}
	}
	errno = saved;
}

#define LOG_FN(name, level)                  \
	void name(const char *fmt, ...)      \
	{                                    \
		va_list ap;                  \
		va_start(ap, fmt);           \
		log_write(level, fmt, ap);   \
		va_end(ap);                  \
	}

LOG_FN(log_debug, LOG_LEVEL_DEBUG)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_error, LOG_LEVEL_ERROR)

void
log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(LOG_LEVEL_FATAL, fmt, ap);
	va_end(ap);
	exit(1);
}

static void log_at(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
log_at(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(level, fmt, ap);
	va_end(ap);
}

/* "panic: queue_sched.c:123: ..." (the file's base name), then a core. */
void
log_panic_at(const char *file, int line, const char *fmt, ...)
{
	const char *base = strrchr(file, '/');
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_at(LOG_LEVEL_PANIC, "%s:%d: %s", base != NULL ? base + 1 : file,
	    line, msg);
	abort();
}
