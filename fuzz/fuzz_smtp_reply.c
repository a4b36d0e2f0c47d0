/*
 * fuzz_smtp_reply.c - libFuzzer target: what a remote SMTP server sends
 * to the outbound client (common/smtp_client.c): multi-line replies read
 * through the same stream code as on a socket, alternately as a command
 * reply and as an EHLO reply (keywords: PIPELINING, STARTTLS, SIZE n,
 * AUTH PLAIN, 8BITMIME, DSN), by smtpc_reply_line(), the one SMTP reply
 * parser of DMail (dmail-sendmail and dmail-bench use it too).
 *
 * Input: the server's bytes (any line ends). Checks: a reply's code is
 * an RFC 5321 4.2 code (2yz to 5yz, second digit 0 to 5) and its text is
 * NUL-terminated, free of control characters and starts with the code;
 * a protocol error leaves code 0.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "smtp_client.h"
#include "stream.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fuzz_memfd(data, size, path, sizeof(path));
	struct stream *s;
	struct smtpc_reply r;
	unsigned ext;
	uint64_t limit;
	char digits[8];
	int code;

	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	s = stream_new(fd, fd);
	for (unsigned n = 0; n < 1000; n++) {
		code = smtpc_read_reply_from(s, (n & 1) != 0, &r, &ext,
		    &limit);
		if (code < 0) {
			if (r.code != 0)
				abort();
			break;
		}
		snprintf(digits, sizeof(digits), "%03d", code);
		if (code < 200 || code > 559 || code % 100 > 59 ||
		    memchr(r.text, '\0', sizeof(r.text)) == NULL ||
		    strncmp(r.text, digits, 3) != 0)
			abort();
		for (const char *p = r.text; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				abort();
	}
	stream_free(s);
	close(fd);
	return 0;
}
