/*
 * fuzz_bounce.c - libFuzzer target: bounces to LIST-bounces@
 * (listd/bounce.c): dsn_recipients() finds the members named in the
 * Final-Recipient and Original-Recipient fields of a delivery status
 * notification (RFC 3464) that any remote MTA sends.
 *
 * Input: the bounce message. Checks: every member found is a valid
 * list address, lower case, and none is listed twice.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "listd.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strlist l = { NULL, 0 };

	dsn_recipients((const char *)data, size, &l);
	for (size_t i = 0; i < l.count; i++) {
		if (!list_valid_address(l.items[i]))
			abort();
		for (const char *p = l.items[i]; *p != '\0'; p++)
			if (isupper((unsigned char)*p))
				abort();
		for (size_t j = 0; j < i; j++)
			if (strcasecmp(l.items[i], l.items[j]) == 0)
				abort();
	}
	strlist_free(&l);
	return 0;
}
