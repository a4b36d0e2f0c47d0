/*
 * fuzz_psl.c - libFuzzer target: the public suffix list parser and the
 * organizational domain (common/psl.c).
 *
 * Input: a list text, a NUL, then a domain name. Checks: the
 * organizational domain is a suffix of the domain (a whole number of
 * labels), never empty when the domain is not.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "psl.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t listlen = nul != NULL ? (size_t)(nul - data) : size;
	struct psl *p = psl_parse((const char *)data, listlen);
	char *domain = fuzz_cstr(nul != NULL ? nul + 1 : data + size,
	    nul != NULL ? size - listlen - 1 : 0);
	struct buf out = BUF_INIT;
	size_t dl = strlen(domain), ol;

	psl_org_domain(p, domain, &out);
	ol = out.len;
	if (ol > dl || strcmp(domain + dl - ol, buf_cstr(&out)) != 0 ||
	    (ol < dl && domain[dl - ol - 1] != '.') || (dl > 0 && ol == 0 &&
	    domain[dl - 1] != '.'))
		abort();
	psl_free(p);
	free(domain);
	buf_free(&out);
	return 0;
}
