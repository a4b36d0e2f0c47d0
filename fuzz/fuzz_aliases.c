/*
 * fuzz_aliases.c - libFuzzer target: the aliases file text format
 * (common/aliases.c aliases_parse_text(), what dmail-newaliases
 * compiles; aliases(5)).
 *
 * Input: the file text. Checks: each entry has a non-empty lower-case
 * name and non-empty targets, and a failed parse says why.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "aliases.h"
#include "buf.h"
#include "fuzz.h"

static int
entry(const char *alias, const char *targets, unsigned line, void *arg)
{
	(void)arg;
	if (alias[0] == '\0' || targets[0] == '\0' || line == 0)
		abort();
	for (const char *p = alias; *p != '\0'; p++)
		if (isupper((unsigned char)*p))
			abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf err = BUF_INIT;

	if (aliases_parse_text("aliases", (const char *)data, size, entry,
	    NULL, &err) != 0 && err.len == 0)
		abort();
	buf_free(&err);
	return 0;
}
