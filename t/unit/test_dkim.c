/*
 * test_dkim.c - unit tests for common/dkim.c: relaxed canonicalization
 * (the examples of RFC 6376 3.4.5 and the empty-body cases), the h= list
 * with From over-signed, keys of the wrong kind refused. Signatures are
 * verified by an independent verifier in t/dkim_sign.py.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "buf.h"
#include "dkim.h"

static void
canon_h(const char *field, const char *want)
{
	struct buf out = BUF_INIT;

	dkim_canon_header(field, strlen(field), &out);
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	buf_free(&out);
}

static void
canon_b(const char *body, const char *want)
{
	struct buf out = BUF_INIT;

	dkim_canon_body(body, strlen(body), &out);
	assert_int_equal(out.len, strlen(want));
	if (out.len > 0)
		assert_memory_equal(out.data, want, out.len);
	buf_free(&out);
}

static void
test_rfc6376_examples(void **state)
{
	(void)state;
	/* RFC 6376 3.4.5 */
	canon_h("A: X\r\n", "a:X\r\n");
	canon_h("B : Y\t\r\n\tZ  \r\n", "b:Y Z\r\n");
	canon_b(" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n");
	/* the same with LF line ends, as DMail stores mail */
	canon_h("B : Y\t\n\tZ  \n", "b:Y Z\r\n");
	canon_b(" C \nD \t E\n\n\n", " C\r\nD E\r\n");
	/* empty body, and only empty lines: nothing (RFC 6376 errata) */
	canon_b("", "");
	canon_b("\n\n\r\n", "");
	/* a last line without a line end gets one */
	canon_b("x", "x\r\n");
	/* blank lines inside are kept, trailing blanks inside a line not */
	canon_b("a\n\n \t\nb \n\n", "a\r\n\r\n\r\nb\r\n");
}

static void
test_sign_lists_fields_and_oversigns_from(void **state)
{
	struct buf err = BUF_INIT, out = BUF_INIT;
	struct dkim_key *k = dkim_key_generate("ed25519", 0, &err);
	const char *msg = "From: a@example.test\nTo: b@example.org\n"
	    "To: c@example.org\nX-Other: not signed\nSubject: s\n\nbody\n";

	(void)state;
	assert_non_null(k);
	assert_int_equal(dkim_sign(k, "example.test", "sel", 1700000000,
	    msg, strlen(msg), &out, &err), 0);
	assert_non_null(strstr(out.data, "a=ed25519-sha256;"));
	assert_non_null(strstr(out.data, "d=example.test; s=sel; "
	    "t=1700000000;"));
	assert_non_null(strstr(out.data, "h=from:from:subject:to:to;"));
	assert_null(strstr(out.data, "x-other"));
	assert_true(out.len > 0 && out.data[out.len - 1] == '\n');
	dkim_key_free(k);
	/* keys DKIM cannot use */
	assert_null(dkim_key_generate("rsa", 512, &err));
	assert_null(dkim_key_generate("dsa", 2048, &err));
	buf_free(&out);
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6376_examples),
		cmocka_unit_test(test_sign_lists_fields_and_oversigns_from),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
