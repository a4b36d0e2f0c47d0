/*
 * fuzz_conf.c - libFuzzer target: dmail.conf (common/conf.c
 * conf_load_text()), every key's value parser included (sizes,
 * durations, listen addresses, CIDR networks, aliases and forwards).
 *
 * Input: the file text. Checks: success leaves no error text; failure
 * gives errors that each start with "dmail.conf:".
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmail_conf c;
	struct buf err = BUF_INIT;

	if (conf_load_text("dmail.conf", (const char *)data, size, &c,
	    &err) == 0) {
		if (err.len != 0)
			abort();
		conf_free(&c);
	} else {
		const char *p = buf_cstr(&err);

		if (err.len == 0)
			abort();
		while (*p != '\0') {
			if (strncmp(p, "dmail.conf:", 11) != 0)
				abort();
			p += strcspn(p, "\n");
			p += *p == '\n';
		}
	}
	buf_free(&err);
	return 0;
}
