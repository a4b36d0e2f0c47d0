/*
 * fuzz_addr.c - libFuzzer target: RFC 5321 paths and domains
 * (common/addr.c): addr_parse_path() as MAIL FROM and RCPT TO use it,
 * addr_valid_domain() and addr_valid_literal() as HELO uses them.
 *
 * Input: one flags byte (ADDR_ALLOW_NULL, ADDR_ALLOW_POSTMASTER,
 * ADDR_UTF8 in its low bits), then the text. Checks: on ADDR_OK the
 * mailbox respects the RFC 5321 limits, domain points into addr, the
 * end pointer is inside the input right after a '>', and non-ASCII is
 * only accepted with ADDR_UTF8.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailbox mb;
	const char *end = NULL;
	unsigned flags;
	size_t len;
	char *s;

	if (size < 1)
		return 0;
	flags = data[0] & (ADDR_ALLOW_NULL | ADDR_ALLOW_POSTMASTER |
	    ADDR_UTF8);
	s = fuzz_cstr(data + 1, size - 1);
	len = strlen(s);
	if (addr_parse_path(s, flags, &mb, &end) == ADDR_OK) {
		size_t alen = strlen(mb.addr);

		if (alen > ADDR_PATH_MAX || mb.local_len > ADDR_LOCAL_MAX ||
		    mb.domain < mb.addr || mb.domain > mb.addr + alen ||
		    strlen(mb.domain) > ADDR_DOMAIN_MAX)
			abort();
		if (end == NULL || end <= s || end > s + len || end[-1] != '>')
			abort();
		if (mb.null && (!(flags & ADDR_ALLOW_NULL) || alen != 0))
			abort();
		if (mb.utf8 && !(flags & ADDR_UTF8))
			abort();
		for (size_t i = 0; i < alen; i++)
			if ((unsigned char)mb.addr[i] >= 0x80 &&
			    !(flags & ADDR_UTF8))
				abort();
	}
	(void)addr_status_str(addr_parse_path(s, flags, &mb, NULL));
	(void)addr_valid_domain(s, len, (flags & ADDR_UTF8) != 0);
	(void)addr_valid_literal(s, len);
	free(s);
	return 0;
}
