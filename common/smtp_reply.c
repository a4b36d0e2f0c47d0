/*
 * smtp_reply.c - the setter of struct smtp_reply and the queue id of a
 * commit's reply (see smtp_reply.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "smtp_reply.h"

void
smtp_reply_set(struct smtp_reply *r, int code, const char *enhanced,
    const char *fmt, ...)
{
	va_list ap;

	if (r == NULL)
		return;
	r->code = code;
	snprintf(r->enhanced, sizeof(r->enhanced), "%s", enhanced);
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

const char *
smtp_reply_queued_id(const struct smtp_reply *r)
{
	static const char marker[] = "queued as ";
	const char *p;

	if (r->code != 250 || (p = strstr(r->text, marker)) == NULL ||
	    p[sizeof(marker) - 1] == '\0')
		return "-";
	return p + sizeof(marker) - 1;
}
