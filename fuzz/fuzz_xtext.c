/*
 * fuzz_xtext.c - libFuzzer target: xtext (RFC 3461 4), the encoding of
 * the DSN parameters ENVID and ORCPT a client sends (smtp_xtext_decode()
 * in smtpd/smtp_parse.c).
 *
 * Input: one byte giving the output size (0..255, as the ENVID and
 * ORCPT buffers are bounded), then the xtext. Checks: a decoded value
 * fits, is NUL-terminated and printable US-ASCII, and is never longer
 * than its encoding; the same input with a larger buffer decodes to the
 * same text.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "smtpd.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, *out, *big;
	size_t outlen, n;

	if (size < 1)
		return 0;
	outlen = data[0];
	in = fuzz_cstr(data + 1, size - 1);
	/* Exact-size heap buffers, so ASan sees any write past the end. */
	out = malloc(outlen > 0 ? outlen : 1);
	big = malloc(strlen(in) + 1);
	if (out == NULL || big == NULL)
		abort();
	if (outlen > 0 && smtp_xtext_decode(in, out, outlen) == 0) {
		n = strlen(out);
		if (n >= outlen || n > strlen(in))
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)out[i] < 0x20 ||
			    (unsigned char)out[i] > 0x7e)
				abort();
		if (smtp_xtext_decode(in, big, strlen(in) + 1) != 0 ||
		    strcmp(out, big) != 0)
			abort();
	}
	free(out);
	free(big);
	free(in);
	return 0;
}
