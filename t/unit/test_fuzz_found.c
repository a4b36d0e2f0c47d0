/*
 * test_fuzz_found.c - regression tests for the bugs the libFuzzer targets
 * (fuzz/, README.md "Fuzzing") found in common/: one table row per
 * input, with the behaviour the fixed parser must show. The crash inputs
 * themselves are in the seed corpus of their target too.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "conf.h"
#include "lists.h"
#include "sasl.h"

/* fuzz/sasl: base64 whose pad leaves non-zero bits was accepted, so two
 * texts decoded to the same bytes (not canonical, RFC 4648 3.5). */
static const struct {
	const char *in;
	int rc;
	const char *out;
} b64[] = {
	{ "6/==", -1, NULL },          /* the input the fuzzer found */
	{ "YR==", -1, NULL },
	{ "YQ==", 0, "a" },
	{ "YWJ=", -1, NULL },
	{ "YWI=", 0, "ab" },
	{ "YWJj", 0, "abc" },
	{ "AP8=", 0, "\x00\xff" },
};

static void
test_base64_canonical(void **state)
{
	struct buf out = BUF_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(b64) / sizeof(b64[0]); i++) {
		int rc = base64_decode(b64[i].in, strlen(b64[i].in), &out);

		if (rc != b64[i].rc)
			fail_msg("%s: %d, want %d", b64[i].in, rc, b64[i].rc);
		if (rc == 0 && (out.len != (b64[i].in[3] != '=' ? 3 :
		    b64[i].in[2] != '=' ? 2 : 1) ||
		    memcmp(out.data, b64[i].out, out.len) != 0))
			fail_msg("%s: wrong bytes", b64[i].in);
	}
	buf_free(&out);
}

/* fuzz/lists: lists_parse() trims CR around a line, lists_block_remove()
 * did not, so it missed a "list" line starting with CR: as the block to
 * remove ("cannot find") and as the end of the block before it (both
 * removed). */
static const struct {
	const char *text;
	const char *remove;
	int rc;
	const char *left;
} blocks[] = {
	{ "list a@x.test\n owner o@x.test\n\rlist b@x.test\n owner o@x.test\n",
	    "a@x.test", 1, "\rlist b@x.test\n owner o@x.test\n" },
	{ "list a@x.test\n owner o@x.test\n\rlist b@x.test\n owner o@x.test\n",
	    "b@x.test", 1, "list a@x.test\n owner o@x.test\n" },
	{ "\r\r list \rc@z.test\r\n owner o@z.test\n", "c@z.test", 1, "" },
	{ "list a@x.test\n owner o@x.test\n\nlist b@x.test\n owner o@x.test\n",
	    "b@x.test", 1, "list a@x.test\n owner o@x.test\n" },
	{ "list a@x.test\n owner o@x.test\n", "b@x.test", 0,
	    "list a@x.test\n owner o@x.test\n" },
};

static void
test_lists_block_remove_blanks(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
		struct buf text = BUF_INIT, err = BUF_INIT;
		struct lists l = { NULL, 0 };
		int rc;

		buf_set(&text, blocks[i].text);
		if (lists_parse("t", text.data, text.len, &l, &err) != 0)
			fail_msg("row %zu: %s", i, buf_cstr(&err));
		rc = lists_block_remove(&text, blocks[i].remove);
		if (rc != blocks[i].rc ||
		    strcmp(buf_cstr(&text), blocks[i].left) != 0)
			fail_msg("row %zu: %d \"%s\"", i, rc, buf_cstr(&text));
		lists_free(&l);
		buf_free(&text);
		buf_free(&err);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_canonical),
		cmocka_unit_test(test_lists_block_remove_blanks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
