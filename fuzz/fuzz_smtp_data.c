/*
 * fuzz_smtp_data.c - libFuzzer target: the DATA content of an SMTP
 * client (smtpd/smtp_data.c smtp_data_read()): line reading through the
 * stream code, dot-unstuffing, the end-of-data rule and the smuggling
 * defence (bare LF, bare CR), size and line-length limits.
 *
 * Input: one byte (bit 0: smtp_bare_lf normalize, else reject; bits 1-7:
 * size limit in units of 64 bytes, 0 for none), then the bytes after
 * the 354. Checks: no line handed on holds LF, or CR under the reject
 * policy, or is longer than SMTP_TEXT_LINE_MAX; lines stop once the
 * message was refused; the counted size is the lines' size.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "smtpd.h"
#include "stream.h"

struct seen {
	enum bare_lf_policy policy;
	uint64_t size;
	uint64_t lines;
};

static int
line_fn(void *arg, const char *line, size_t len)
{
	struct seen *s = arg;

	if (len > SMTP_TEXT_LINE_MAX || memchr(line, '\n', len) != NULL ||
	    (s->policy == BARE_LF_REJECT && memchr(line, '\r', len) != NULL))
		abort();
	s->size += len + 2;
	s->lines++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen seen = { BARE_LF_REJECT, 0, 0 };
	struct data_result res;
	struct buf line = BUF_INIT;
	struct stream *s;
	uint64_t max;
	char path[64];
	int fd, rc;

	if (size < 1)
		return 0;
	seen.policy = (data[0] & 1) ? BARE_LF_NORMALIZE : BARE_LF_REJECT;
	max = (data[0] >> 1) ? (uint64_t)(data[0] >> 1) * 64 : UINT64_MAX;
	fd = fuzz_memfd(data + 1, size - 1, path, sizeof(path));
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	s = stream_new(fd, fd);
	rc = smtp_data_read(s, &line, max, seen.policy, line_fn, &seen, &res);
	if (rc != STREAM_OK && rc != STREAM_EOF)
		abort();
	if (seen.lines > res.lines || seen.size > res.size)
		abort();
	if (!res.too_big && !res.long_line && !res.write_failed &&
	    !(seen.policy == BARE_LF_REJECT && (res.bare_lf || res.bare_cr)) &&
	    (seen.lines != res.lines || seen.size != res.size))
		abort();
	stream_free(s);
	close(fd);
	buf_free(&line);
	return 0;
}
