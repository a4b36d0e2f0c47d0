/*
 * tool.h - the start-up every operator tool in util/ shares (dlist,
 * dmail-dkim, dmail-bench, dmail-newaliases, dmail-sendmail, dmail-user,
 * tellsmtp):
 * its name in messages, logging to stderr, the fault-injection table
 * (sys.h), --version, the usage message and reading dmail.conf.
 *
 * A tool describes itself in a struct tool and calls tool_start() first
 * thing in main(). Then:
 *   tool_usage()      prints the synopsis lines and exits with
 *                     usage_status (never returns);
 *   tool_error()      prints "NAME: message" on stderr (tool_verror()
 *                     with a va_list);
 *   tool_conf_load()  reads the configuration, or prints its errors
 *                     ("NAME: " before the first line) and exits with
 *                     conf_status (never returns on failure).
 *   tool_conf_option()  parses the options "-c FILE" before the command
 *                     word of tools that take no others (getopt "+c:");
 *                     any other option is a usage error. Returns the
 *                     index in argv of the first operand.
 * Nothing here is fatal except the exits named above.
 */
#ifndef DMAIL_TOOL_H
#define DMAIL_TOOL_H

#include <stdarg.h>
#include <stdbool.h>

#include "conf.h"
#include "log.h"

#ifndef DMAIL_SYSCONFDIR
#define DMAIL_SYSCONFDIR "/etc/dmail"
#endif
/* The configuration file when none is named with -c (or -C). */
#define TOOL_CONF_PATH DMAIL_SYSCONFDIR "/dmail.conf"

struct tool {
	/* The name in messages and --version; with name_from_argv0, the
	 * name the tool was run by (tellsmtp, tellpop, telllist). */
	const char *name;
	bool name_from_argv0;
	/*
	 * Usage, NULL-terminated: a line starting with a blank is printed
	 * as it is; any other is a synopsis, printed after "usage: NAME "
	 * (the first) or after as many blanks and "NAME ".
	 */
	const char *const *usage;
	int usage_status;           /* exit status after tool_usage() */
	int conf_status;            /* exit status: configuration unreadable */
	enum log_level log_level;
	/* No DMAIL_FAULT: the tool's own writes are never made to fail
	 * (dmail-user, which tests run next to a faulty server). */
	bool no_faults;
};

void tool_start(struct tool *t, int argc, char **argv);
void tool_usage(const struct tool *t) __attribute__((noreturn));
void tool_error(const struct tool *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void tool_verror(const struct tool *t, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
int tool_conf_option(const struct tool *t, int argc, char **argv,
    const char **conf_path);
void tool_conf_load(const struct tool *t, const char *path,
    struct dmail_conf *conf);

#endif
