/*
 * fuzz_dmarc.c - libFuzzer target: DMARC records (common/dmarc.c), the
 * TXT text a sender's domain publishes at _dmarc.DOMAIN, as the MX and
 * the lists' From: rewriting read it: dmarc_record_parse().
 *
 * Input: the record text. Checks: a parsed record has known policies
 * and pct <= 100, and a text whose first tag is not v=DMARC1 (blanks
 * allowed around tags and '=', RFC 6376 3.2 tag-spec) is never a
 * record. (The DNS message around the record is fuzz_dns's business.)
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "fuzz.h"

/* The first tag is v=DMARC1, with the blanks a tag-spec allows. */
static int
starts_v_dmarc1(const char *s)
{
	s += strspn(s, " \t\r\n");
	if (*s++ != 'v')
		return 0;
	s += strspn(s, " \t\r\n");
	if (*s++ != '=')
		return 0;
	s += strspn(s, " \t\r\n");
	return strncmp(s, "DMARC1", 6) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmarc_record rec;
	struct buf err = BUF_INIT;
	char *text = fuzz_cstr(data, size);
	int rc = dmarc_record_parse(text, strlen(text), &rec, &err);

	if (rc == 0 && (rec.pct > 100 || rec.p > DMARC_P_REJECT ||
	    rec.sp > DMARC_P_REJECT || !starts_v_dmarc1(text)))
		abort();
	buf_free(&err);
	free(text);
	return 0;
}
