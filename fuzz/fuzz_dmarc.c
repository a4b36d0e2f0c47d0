/*
 * fuzz_dmarc.c - libFuzzer target: DMARC records (listd/dmarc.c), the
 * TXT text a sender's domain publishes at _dmarc.DOMAIN:
 * dmarc_policy_strict() for the domain itself and as an organizational
 * domain (sp= before p=).
 *
 * Input: the record text. Checks: the verdict is -1, 0 or 1, and a
 * record that is not "v=DMARC1..." is -1 in both modes. (The DNS message
 * around the record is fuzz_dns's business.)
 */
#include "config.h"

#include <stdlib.h>
#include <strings.h>

#include "fuzz.h"
#include "listd.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *rec = fuzz_cstr(data, size);
	int a = dmarc_policy_strict(rec, false);
	int b = dmarc_policy_strict(rec, true);

	if (a < -1 || a > 1 || b < -1 || b > 1 || (a < 0) != (b < 0))
		abort();
	if (strncasecmp(rec, "v=DMARC1", 8) != 0 && a != -1)
		abort();
	free(rec);
	return 0;
}
