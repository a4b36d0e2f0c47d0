/*
 * fuzz_pop3_retr.c - libFuzzer target: RETR and TOP output of stored
 * messages (pop3d/maildrop.c msg_out_*), whose bytes came from anyone
 * who sent mail: CRLF conversion, dot-stuffing, the header/body split
 * and the TOP line count, done chunk by chunk as the file is read.
 *
 * Input: one byte of TOP line count (255: RETR, whole message), one
 * byte of chunk size (1..256), then the message. Checks: the output is
 * the same whatever the chunking, ends in CRLF.CRLF, has no bare LF, and
 * every line starting with '.' is stuffed.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "pop3d.h"

static void
render(const char *msg, size_t len, long lines, size_t chunk,
    struct buf *out)
{
	struct msg_out o;

	buf_reset(out);
	msg_out_init(&o, lines);
	for (size_t i = 0; i < len; i += chunk)
		msg_out_chunk(&o, msg + i, len - i < chunk ? len - i : chunk,
		    out);
	msg_out_finish(&o, out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf one = BUF_INIT, many = BUF_INIT;
	const char *msg = (const char *)data + 2;
	size_t len, chunk;
	long lines;

	if (size < 2)
		return 0;
	lines = data[0] == 255 ? -1 : data[0];
	chunk = (size_t)data[1] + 1;
	len = size - 2;
	render(msg, len, lines, len > 0 ? len : 1, &one);
	render(msg, len, lines, chunk, &many);
	if (one.len != many.len || memcmp(one.data, many.data, one.len) != 0)
		abort();
	if (one.len < 3 || memcmp(one.data + one.len - 3, ".\r\n", 3) != 0 ||
	    (one.len > 3 && memcmp(one.data + one.len - 5, "\r\n", 2) != 0))
		abort();
	for (size_t i = 0; i < one.len; i++) {
		if (one.data[i] == '\n' && (i == 0 || one.data[i - 1] != '\r'))
			abort();
		/* a line starting with '.' is stuffed: "..", or the end */
		if (one.data[i] == '.' && (i == 0 || one.data[i - 1] == '\n') &&
		    i + 3 != one.len && one.data[i + 1] != '.')
			abort();
	}
	buf_free(&one);
	buf_free(&many);
	return 0;
}
