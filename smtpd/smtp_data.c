/*
 * smtp_data.c - reading the message content of DATA (RFC 5321 4.1.1.4,
 * 4.5.2) with the SMTP smuggling defence.
 *
 * Only <CRLF>.<CRLF> ends the data: a line "." ended by CRLF whose
 * previous line also ended by CRLF (or that comes first). "\n.\n",
 * "\r.\r", "\r\n.\n", "\n.\r\n" and every other mixture are content
 * (or errors), never the end, so a message cannot smuggle a second
 * transaction past us or past a server we relay to.
 *
 * Bare line endings, by policy (smtp_bare_lf):
 *   reject     a line ended by LF alone, or a CR not followed by LF, makes
 *              the message unacceptable; reading continues to the real
 *              <CRLF>.<CRLF> and the caller answers 554 5.6.0.
 *   normalize  a bare LF ends a line like CRLF, but a "." line next to
 *              a bare LF is kept as a content line "." (it never ends
 *              the data); a bare CR is removed from the line.
 *
 * Dot-unstuffing (4.5.2): a leading "." of a CRLF line is removed.
 * Sizes count the unstuffed content with CRLF line ends, as SIZE does.
 */
#include "config.h"

#include <string.h>

#include "smtpd.h"

/* Removes every CR from line (normalize policy); returns the new length. */
static size_t
strip_cr(char *line, size_t len)
{
	char *w = memchr(line, '\r', len);
	size_t i, o;

	if (w == NULL)
		return len;
	o = (size_t)(w - line);
	for (i = o; i < len; i++)
		if (line[i] != '\r')
			line[o++] = line[i];
	line[o] = '\0';
	return o;
}

int
smtp_data_read(struct stream *s, struct buf *line, uint64_t max_size,
    enum bare_lf_policy policy, data_line_fn fn, void *arg,
    struct data_result *res)
{
	enum line_ending ending;
	bool stopped = false;
	bool prev_crlf = true;  /* the DATA command line ended the CRLF */
	int rc;

	memset(res, 0, sizeof(*res));
	buf_reserve(line, SMTP_TEXT_LINE_MAX + 2);   /* data never NULL */
	for (;;) {
		char *p;
		size_t len;

		bool after_crlf = prev_crlf;

		rc = stream_read_line(s, line, SMTP_TEXT_LINE_MAX, &ending);
		prev_crlf = ending == LINE_CRLF;
		if (rc == STREAM_TOOLONG) {
			res->long_line = true;
			stopped = true;
			continue;
		}
		if (rc != STREAM_OK)
			return rc;
		p = line->data;
		len = line->len;
		if (len == 1 && p[0] == '.') {
			if (ending == LINE_CRLF && after_crlf)
				return STREAM_OK;
			/* "." next to a bare LF: content, not the end */
			if (ending == LINE_LF)
				res->bare_lf = true;
			if (policy == BARE_LF_REJECT)
				stopped = true;
			goto emit;
		}
		if (ending == LINE_LF) {
			res->bare_lf = true;
			if (policy == BARE_LF_REJECT)
				stopped = true;
		}
		if (len > 0 && p[0] == '.') {
			p++;
			len--;
		}
		if (memchr(p, '\r', len) != NULL) {
			res->bare_cr = true;
			if (policy == BARE_LF_REJECT)
				stopped = true;
			else
				len = strip_cr(p, len);
		}
	emit:
		res->lines++;
		res->size += len + 2;
		if (res->size > max_size && !res->too_big) {
			res->too_big = true;
			stopped = true;
		}
		if (stopped)
			continue;
		if (fn(arg, p, len) != 0) {
			res->write_failed = true;
			stopped = true;
		}
	}
}
