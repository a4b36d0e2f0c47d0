/*
 * queue_info.c - read and write the queue manager's side files (see
 * queue_info.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "queue_info.h"
#include "util.h"

#define QINFO_MAX (4 * 1024 * 1024)

void
qinfo_init(struct qinfo *q, size_t count)
{
	memset(q, 0, sizeof(*q));
	q->rcpt_count = count;
	q->rcpts = xcalloc(count ? count : 1, sizeof(*q->rcpts));
}

void
qinfo_free(struct qinfo *q)
{
	for (size_t i = 0; i < q->rcpt_count; i++) {
		free(q->rcpts[i].remote);
		free(q->rcpts[i].text);
	}
	free(q->rcpts);
	memset(q, 0, sizeof(*q));
}

static char *
dup_field(const char *s)
{
	if (s == NULL || *s == '\0')
		return NULL;
	char *d = xstrdup(s);
	for (char *p = d; *p; p++)
		if (*p == '\t' || *p == '\n' || *p == '\r')
			*p = ' ';
	return d;
}

void
qinfo_set(struct qinfo *q, size_t i, int code, const char *status,
    const char *remote, const char *text)
{
	struct qinfo_rcpt *r;

	if (i >= q->rcpt_count)
		return;
	r = &q->rcpts[i];
	r->code = code;
	snprintf(r->status, sizeof(r->status), "%s", status ? status : "");
	free(r->remote);
	free(r->text);
	r->remote = dup_field(remote);
	r->text = dup_field(text);
}

int
qinfo_read(const char *path, struct qinfo *q, size_t count)
{
	struct buf data = BUF_INIT;
	char *line, *save = NULL;

	qinfo_init(q, count);
	if (read_file(path, &data, QINFO_MAX) < 0) {
		buf_free(&data);
		return errno == ENOENT ? 0 : -1;
	}
	for (line = strtok_r(data.data, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "attempts ", 9) == 0)
			q->attempts = (unsigned)strtoul(line + 9, NULL, 10);
		else if (strncmp(line, "next ", 5) == 0)
			q->next = strtoll(line + 5, NULL, 10);
		else if (strncmp(line, "hold ", 5) == 0)
			q->hold = line[5] == '1';
		else if (strncmp(line, "warned ", 7) == 0)
			q->warned = line[7] == '1';
		else if (strncmp(line, "r ", 2) == 0) {
			char *p = line + 2, *end, *t1, *t2;
			unsigned long i = strtoul(p, &end, 10);
			char yn, status[16];
			int code, n = 0;

			if (end == p || i >= count || sscanf(end,
			    " %c %d %15s%n", &yn, &code, status, &n) != 3)
				continue;
			p = end + n;
			if (*p == '\t')
				p++;
			t1 = strchr(p, '\t');
			if (t1 == NULL)
				continue;
			*t1++ = '\0';
			t2 = t1;
			qinfo_set(q, i, code, strcmp(status, "-") ? status : "",
			    p, t2);
			q->rcpts[i].notified = yn == 'Y';
		}
	}
	buf_free(&data);
	return 0;
}

int
qinfo_write(const char *path, const struct qinfo *q)
{
	struct buf b = BUF_INIT;
	int rc;

	buf_printf(&b, "attempts %u\nnext %lld\nhold %d\nwarned %d\n",
	    q->attempts, (long long)q->next, q->hold ? 1 : 0,
	    q->warned ? 1 : 0);
	for (size_t i = 0; i < q->rcpt_count; i++) {
		const struct qinfo_rcpt *r = &q->rcpts[i];
		if (r->status[0] == '\0' && !r->notified && r->text == NULL)
			continue;
		buf_printf(&b, "r %zu %c %d %s\t%s\t%s\n", i,
		    r->notified ? 'Y' : 'N', r->code,
		    r->status[0] ? r->status : "-",
		    r->remote ? r->remote : "", r->text ? r->text : "");
	}
	rc = write_file_durable(path, b.data, b.len, 0600);
	buf_free(&b);
	return rc;
}
