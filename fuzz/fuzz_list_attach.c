/*
 * fuzz_list_attach.c - libFuzzer target: the MIME walk that takes the
 * file out of a "putfile" command mail (listd/files.c,
 * mail_attachment()), on a whole message from anyone on the Internet:
 * mail_parse(), then mail_attachment() with a small and a large limit.
 *
 * Checks: success returns at most the limit's bytes and no reason; a
 * refusal always says why; the small limit never yields more than the
 * large one, and when the large one succeeds with at most the small
 * limit's bytes, the small one yields the same bytes (the limit cuts, it
 * does not change the decoding).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "listd.h"

#define SMALL 64
#define LARGE (1024 * 1024)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mail m;
	struct buf big = BUF_INIT, small = BUF_INIT, why = BUF_INIT;
	int rb, rs;

	mail_parse((const char *)data, size, &m);
	rb = mail_attachment(&m, LARGE, &big, &why);
	if (rb == 0 ? big.len > LARGE : (rb != -1 || why.len == 0))
		abort();
	buf_reset(&why);
	rs = mail_attachment(&m, SMALL, &small, &why);
	if (rs == 0 ? small.len > SMALL : (rs != -1 || why.len == 0))
		abort();
	if (rs == 0 && rb != 0)
		abort();                /* a smaller limit cannot help */
	if (rb == 0 && big.len <= SMALL && (rs != 0 || small.len != big.len ||
	    (big.len > 0 && memcmp(small.data, big.data, big.len) != 0)))
		abort();
	mail_free(&m);
	buf_free(&big);
	buf_free(&small);
	buf_free(&why);
	return 0;
}
