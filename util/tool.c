/*
 * tool.c - the shared start-up of the operator tools (see tool.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "sys.h"
#include "tool.h"
#include "util.h"

void
tool_start(struct tool *t, int argc, char **argv)
{
	if (t->name_from_argv0 && argc > 0 && argv[0] != NULL) {
		const char *slash = strrchr(argv[0], '/');

		t->name = slash != NULL ? slash + 1 : argv[0];
	}
	log_open(t->name, LOG_TO_STDERR, t->log_level);
	if (!t->no_faults)
		sys_fault_init();
	version_option(argc, argv, t->name);
}

void
tool_usage(const struct tool *t)
{
	const char *lead = "usage:";

	for (const char *const *l = t->usage; *l != NULL; l++) {
		if (**l == ' ') {
			fprintf(stderr, "%s\n", *l);
			continue;
		}
		fprintf(stderr, "%*s %s %s\n", 6, lead, t->name, *l);
		lead = "";
	}
	exit(t->usage_status);
}

void
tool_verror(const struct tool *t, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", t->name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
tool_error(const struct tool *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tool_verror(t, fmt, ap);
	va_end(ap);
}

int
tool_conf_option(const struct tool *t, int argc, char **argv,
    const char **conf_path)
{
	int ch;

	while ((ch = getopt(argc, argv, "+c:")) != -1) {
		if (ch != 'c')
			tool_usage(t);
		*conf_path = optarg;
	}
	return optind;
}

void
tool_conf_load(const struct tool *t, const char *path,
    struct dmail_conf *conf)
{
	struct buf err = BUF_INIT;

	if (conf_load_file(path, conf, &err) == 0) {
		buf_free(&err);
		return;
	}
	fprintf(stderr, "%s: %s", t->name, buf_cstr(&err));
	if (err.len == 0 || err.data[err.len - 1] != '\n')
		fputc('\n', stderr);
	buf_free(&err);
	exit(t->conf_status);
}
