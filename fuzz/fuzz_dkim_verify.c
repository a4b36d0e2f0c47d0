/*
 * fuzz_dkim_verify.c - libFuzzer target: DKIM verification of a
 * message from outside (common/dkim_verify.c) up to the key look-up:
 * the header parser, the DKIM-Signature tag list, c=/l=/x=, simple and
 * relaxed body canonicalization and the body hash. No resolver is given,
 * so a signature that gets as far as its key is a temperror.
 *
 * Input: the message (any bytes). Checks: at most DKIM_VERIFY_MAX
 * results, each a known result with NUL-terminated texts, and never a
 * pass (nothing can verify without a key).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dkim_verify.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_sig sigs[DKIM_VERIFY_MAX];
	size_t n = dkim_verify(NULL, (const char *)data, size, 1700000000,
	    sigs, DKIM_VERIFY_MAX);

	if (n > DKIM_VERIFY_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (sigs[i].result == DKIM_PASS ||
		    sigs[i].result > DKIM_PERMERROR ||
		    memchr(sigs[i].reason, '\0', sizeof(sigs[i].reason)) ==
		    NULL || memchr(sigs[i].domain, '\0',
		    sizeof(sigs[i].domain)) == NULL)
			abort();
	return 0;
}
