/*
 * log.h - logging with fixed severities, to syslog (facility mail) or stderr.
 *
 * Severities, as in Postfix:
 *   log_debug   detail for developers, off unless the level is debug
 *   log_info    normal operation: one line per session, message, delivery
 *   log_warn    something is wrong but service continues unchanged
 *   log_error   a recoverable failure (one message, one session)
 *   log_fatal   the environment is broken (config, disk, memory): exit(1)
 *   log_panic   our own bug, an invariant broken: "panic: FILE:LINE: ..."
 *               then abort() for a core; log_assert(cond) panics when
 *               cond is false (always compiled in, unlike assert())
 *
 * Lines are free text; protocol programs use key=value fields with a
 * session id (sid=...) so logs can be grepped and fed to monitoring.
 * Log each error once, where it is handled, with its context.
 */
#ifndef DMAIL_LOG_H
#define DMAIL_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_FATAL,
	LOG_LEVEL_PANIC,         /* log_panic() only, never a threshold */
};

enum log_target {
	LOG_TO_STDERR = 0,
	LOG_TO_SYSLOG,
};

/* Set program name, where lines go and the lowest level written. May be
 * called again (after a reload, or when a daemon detaches). */
void log_open(const char *ident, enum log_target target, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "debug", "info", "warning", "error"; returns -1 if unknown. */
int log_level_parse(const char *s);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void log_panic_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
#define log_panic(...) log_panic_at(__FILE__, __LINE__, __VA_ARGS__)
#define log_assert(cond) ((cond) ? (void)0 : \
	log_panic("invariant broken: %s", #cond))

#endif
