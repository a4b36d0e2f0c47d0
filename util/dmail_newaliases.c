/*
 * dmail_newaliases.c - dmail-newaliases: compile the aliases text file
 * (aliases_file in dmail.conf, format in aliases(5)) into the Berkeley DB
 * hash FILE.db that the SMTP workers read.
 *
 *     dmail-newaliases [-C FILE] [-f ALIASES] [-n]
 *
 * The new database is written beside the old one, fsync'd and renamed
 * over it, so workers see either the old or the new table, never a
 * half-written one, and a source file with errors leaves the old
 * database in service. -n only checks the source.
 *
 * Exit status: 0 done, 64 usage, 65 errors in the source, 73 cannot
 * write the database, 78 configuration problem (sysexits.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "aliases.h"
#include "buf.h"
#include "conf.h"
#include "log.h"
#include "tool.h"
#include "util.h"

static const char *const usage_lines[] = { "[-C FILE] [-f ALIASES] [-n]",
	NULL };

static struct tool tool = {
	.name = "dmail-newaliases",
	.usage = usage_lines,
	.usage_status = EX_USAGE,
	.conf_status = EX_CONFIG,
	.log_level = LOG_LEVEL_WARN,
};

static int
count_only(const char *alias, const char *targets, unsigned line,
    void *arg)
{
	(void)alias;
	(void)targets;
	(void)line;
	(*(size_t *)arg)++;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *conf_path = TOOL_CONF_PATH;
	const char *source = NULL;
	struct dmail_conf conf;
	struct buf err = BUF_INIT, db = BUF_INIT, text = BUF_INIT;
	bool check_only = false, have_conf = false;
	size_t count = 0;
	int ch, status = 0;

	tool_start(&tool, argc, argv);
	while ((ch = getopt(argc, argv, "C:c:f:n")) != -1) {
		switch (ch) {
		case 'C':
		case 'c':
			conf_path = optarg;
			break;
		case 'f':
			source = optarg;
			break;
		case 'n':
			check_only = true;
			break;
		default:
			tool_usage(&tool);
		}
	}
	if (optind != argc)
		tool_usage(&tool);
	if (source == NULL) {
		tool_conf_load(&tool, conf_path, &conf);
		have_conf = true;
		if (conf.aliases_file == NULL) {
			fprintf(stderr, "dmail-newaliases: %s: no aliases_file "
			    "configured (nothing to do)\n", conf_path);
			status = EX_CONFIG;
			goto out;
		}
		source = conf.aliases_file;
	}
	if (read_file(source, &text, 256UL * 1024 * 1024) < 0) {
		fprintf(stderr, "dmail-newaliases: %s: %s\n", source,
		    strerror(errno));
		status = EX_NOINPUT;
		goto out;
	}
	if (aliases_parse_text(source, text.data, text.len, count_only,
	    &count, &err) < 0) {
		fprintf(stderr, "%s", err.data);
		fprintf(stderr, "dmail-newaliases: %s: errors, database not "
		    "changed\n", source);
		status = EX_DATAERR;
		goto out;
	}
	if (check_only) {
		printf("dmail-newaliases: %s: %zu aliases, syntax OK\n",
		    source, count);
		goto out;
	}
	buf_printf(&db, "%s.db", source);
	if (aliases_compile(source, db.data, &count, &err) < 0) {
		fprintf(stderr, "%s", err.data);
		fprintf(stderr, "dmail-newaliases: %s not changed\n", db.data);
		status = strstr(err.data, "defined twice") != NULL ?
		    EX_DATAERR : EX_CANTCREAT;
		goto out;
	}
	printf("dmail-newaliases: %s: %zu aliases\n", db.data, count);
out:
	if (have_conf)
		conf_free(&conf);
	buf_free(&db);
	buf_free(&err);
	buf_free(&text);
	return status;
}
