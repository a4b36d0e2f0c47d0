/*
 * queue_dsnparams.c - the RFC 3461 parameters (NOTIFY, RET, ENVID) of a
 * queued message, from optional header lines of its queue file that
 * spool_read() skips as unknown (format in queued.h).
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "queued.h"

#define HEADER_LINE_MAX 4096

static unsigned char
parse_notify(const char *s)
{
	unsigned char f = QDSN_GIVEN;
	char *copy = xstrdup(s), *tok, *save = NULL;

	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (strcasecmp(tok, "NEVER") == 0)
			f |= QDSN_NEVER;
		else if (strcasecmp(tok, "SUCCESS") == 0)
			f |= QDSN_SUCCESS;
		else if (strcasecmp(tok, "FAILURE") == 0)
			f |= QDSN_FAILURE;
		else if (strcasecmp(tok, "DELAY") == 0)
			f |= QDSN_DELAY;
	}
	free(copy);
	return f;
}

void
qdsn_read(const char *path, size_t count, struct qdsn *out)
{
	char line[HEADER_LINE_MAX];
	FILE *fp = fopen(path, "re");
	bool skip = false;

	memset(out, 0, sizeof(*out));
	out->notify = xcalloc(count + 1, 1);
	if (fp == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *nl = strchr(line, '\n');
		/* An over-long line is not one of ours: skip all of it. */
		if (nl == NULL || skip) {
			skip = nl == NULL;
			continue;
		}
		*nl = '\0';
		if (line[0] == '\0')
			break;
		if (strncmp(line, "envid ", 6) == 0) {
			free(out->envid);
			out->envid = xstrdup(line + 6);
		} else if (strncmp(line, "ret ", 4) == 0) {
			out->ret = strcasecmp(line + 4, "FULL") == 0 ?
			    QDSN_RET_FULL : QDSN_RET_HDRS;
		} else if (strncmp(line, "notify ", 7) == 0) {
			char *end;
			unsigned long i = strtoul(line + 7, &end, 10);
			if (end != line + 7 && *end == ' ' && i < count)
				out->notify[i] = parse_notify(end + 1);
		}
	}
	fclose(fp);
}

void
qdsn_free(struct qdsn *d)
{
	free(d->envid);
	free(d->notify);
	memset(d, 0, sizeof(*d));
}

void
qdsn_notify_text(unsigned char f, char *out, size_t len)
{
	out[0] = '\0';
	if (!(f & QDSN_GIVEN))
		return;
	if (f & QDSN_NEVER) {
		snprintf(out, len, "NEVER");
		return;
	}
	snprintf(out, len, "%s%s%s%s%s", f & QDSN_SUCCESS ? "SUCCESS" : "",
	    (f & QDSN_SUCCESS) && (f & (QDSN_FAILURE | QDSN_DELAY)) ? "," : "",
	    f & QDSN_FAILURE ? "FAILURE" : "",
	    (f & QDSN_FAILURE) && (f & QDSN_DELAY) ? "," : "",
	    f & QDSN_DELAY ? "DELAY" : "");
}
