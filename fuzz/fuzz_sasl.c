/*
 * fuzz_sasl.c - libFuzzer target: SASL as SMTP AUTH and POP3 AUTH get it
 * (common/sasl.c): strict base64 decoding, and the PLAIN message split
 * into authzid, authcid and password.
 *
 * Input: the base64 text of an AUTH line. Checks: what decodes
 * re-encodes to exactly the same text (canonical base64 only); raw
 * input bytes are also split as a PLAIN message, whose three parts must
 * lie inside the message.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "sasl.h"

static void
split(const char *msg, size_t len)
{
	const char *authz, *authc, *pass;

	if (sasl_plain_split(msg, len, &authz, &authc, &pass) == 0) {
		if (authz < msg || authc <= authz || pass <= authc ||
		    pass > msg + len || *authc == '\0' || *pass == '\0')
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf dec = BUF_INIT, enc = BUF_INIT, raw = BUF_INIT;

	if (base64_decode((const char *)data, size, &dec) == 0) {
		base64_encode(dec.data, dec.len, &enc);
		if (enc.len != size ||
		    (size > 0 && memcmp(enc.data, data, size) != 0))
			abort();
		split(buf_cstr(&dec), dec.len);
	}
	/* The decoded form, as sasl_plain_split() expects it: a buf. */
	buf_append(&raw, data, size);
	split(buf_cstr(&raw), raw.len);
	buf_free(&dec);
	buf_free(&enc);
	buf_free(&raw);
	return 0;
}
