/*
 * smtp_reply.c - the setter of struct smtp_reply (see smtp_reply.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

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
