/*
 * fuzz_taglist.c - libFuzzer target: the text parsers of mail
 * verification that read DNS records and header fields: the tag=value
 * list of RFC 6376 3.2 (common/taglist.c), DMARC records
 * (common/dmarc.c) and the dnsbl_zones sites (common/dnsbl.c).
 *
 * Input: any bytes, given whole to each parser. Checks: a parsed list
 * has 1 to TAGLIST_MAX tags with valid, distinct names and values
 * without ';' or NUL; a DMARC record has pct <= 100 and known policies;
 * parsed sites have zones and at most DNSBL_CODES_MAX codes.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "dnsbl.h"
#include "fuzz.h"
#include "taglist.h"

static void
check_list(const struct taglist *t)
{
	if (t->count == 0 || t->count > TAGLIST_MAX)
		abort();
	for (size_t i = 0; i < t->count; i++) {
		const char *n = t->tags[i].name;

		if (!isalpha((unsigned char)n[0]) || strchr(t->tags[i].value,
		    ';') != NULL)
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(t->tags[j].name, n) == 0)
				abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct taglist t;
	struct dmarc_record rec;
	struct dnsbl_site *sites;
	struct buf err = BUF_INIT;
	char *text;
	size_t n;

	if (taglist_parse((const char *)data, size, &t, &err) == 0) {
		check_list(&t);
		taglist_free(&t);
	}
	buf_reset(&err);
	if (dmarc_record_parse((const char *)data, size, &rec, &err) == 0 &&
	    (rec.pct > 100 || rec.p > DMARC_P_REJECT ||
	    rec.sp > DMARC_P_REJECT))
		abort();
	buf_reset(&err);
	text = fuzz_cstr(data, size);
	if (dnsbl_parse_sites(text, &sites, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++)
			if (sites[i].zone[0] == '\0' ||
			    sites[i].ncodes > DNSBL_CODES_MAX)
				abort();
		free(sites);
	}
	free(text);
	buf_free(&err);
	return 0;
}
