/*
 * test_addr.c - unit tests for the RFC 5321 path parser (common/addr.c):
 * a table of paths with the expected status and mailbox, plus the length
 * limits and SMTPUTF8 rules.
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

#include "addr.h"

#define NUL ADDR_ALLOW_NULL
#define PM ADDR_ALLOW_POSTMASTER
#define U8 ADDR_UTF8

static const struct {
	const char *in;
	unsigned flags;
	enum addr_status st;
	const char *addr;       /* expected mailbox on ADDR_OK */
	const char *domain;
	const char *rest;       /* what follows the path */
} cases[] = {
	{ "<user@example.com>", 0, ADDR_OK, "user@example.com",
	    "example.com", "" },
	{ "<user@example.com> SIZE=10", 0, ADDR_OK, "user@example.com",
	    "example.com", " SIZE=10" },
	{ "<first.last+tag@sub.example.com>", 0, ADDR_OK,
	    "first.last+tag@sub.example.com", "sub.example.com", "" },
	{ "<!#$%&'*+-/=?^_`{|}~@x.y>", 0, ADDR_OK,
	    "!#$%&'*+-/=?^_`{|}~@x.y", "x.y", "" },
	/* null path */
	{ "<>", NUL, ADDR_OK, "", "", "" },
	{ "<>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	/* quoted local parts keep their spelling when they need it */
	{ "<\"john doe\"@example.com>", 0, ADDR_OK, "\"john doe\"@example.com",
	    "example.com", "" },
	{ "<\"a>b\"@example.com>", 0, ADDR_OK, "\"a>b\"@example.com",
	    "example.com", "" },
	{ "<\"a\\\"b\"@example.com>", 0, ADDR_OK, "\"a\\\"b\"@example.com",
	    "example.com", "" },
	{ "<\"\"@example.com>", 0, ADDR_OK, "\"\"@example.com",
	    "example.com", "" },
	{ "<\"a..b\"@example.com>", 0, ADDR_OK, "\"a..b\"@example.com",
	    "example.com", "" },
	{ "<\".alice\"@example.com>", 0, ADDR_OK, "\".alice\"@example.com",
	    "example.com", "" },
	/* ... and lose their quotes when they name a Dot-string mailbox */
	{ "<\"alice\"@example.com>", 0, ADDR_OK, "alice@example.com",
	    "example.com", "" },
	{ "<\"Alice.Smith\"@Example.COM>", 0, ADDR_OK,
	    "Alice.Smith@Example.COM", "Example.COM", "" },
	{ "<\"\\a\\l\"@example.com> x", 0, ADDR_OK, "al@example.com",
	    "example.com", " x" },
	{ "<@r.example:\"bob\"@example.com>", 0, ADDR_OK, "bob@example.com",
	    "example.com", "" },
	{ "<\"unterminated@example.com>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<\"tab\there\"@example.com>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	/* source routes are accepted and dropped */
	{ "<@a.example,@b.example:user@c.example>", 0, ADDR_OK,
	    "user@c.example", "c.example", "" },
	{ "<@a.example:user@c.example>", 0, ADDR_OK, "user@c.example",
	    "c.example", "" },
	{ "<@a.example,user@c.example>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<@:user@c.example>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	/* address literals */
	{ "<u@[192.0.2.1]>", 0, ADDR_OK, "u@[192.0.2.1]", "[192.0.2.1]", "" },
	{ "<u@[IPv6:2001:db8::1]>", 0, ADDR_OK, "u@[IPv6:2001:db8::1]",
	    "[IPv6:2001:db8::1]", "" },
	{ "<u@[192.0.2.256]>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<u@[IPv6:nonsense]>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<u@[x-tag:abc]>", 0, ADDR_OK, "u@[x-tag:abc]", "[x-tag:abc]", "" },
	/* postmaster without domain only when allowed */
	{ "<Postmaster>", PM, ADDR_OK, "Postmaster", "", "" },
	{ "<Postmaster>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<postmaster@example.com>", PM, ADDR_OK, "postmaster@example.com",
	    "example.com", "" },
	/* syntax errors */
	{ "user@example.com", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<user@example.com", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<user>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<user@>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<@example.com>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<.user@example.com>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<user.@example.com>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<us..er@example.com>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<user@example..com>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<user@-example.com>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<user@example-.com>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<user@example.com.>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<us er@example.com>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<user@exa mple.com>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<a@b@c>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<user@example.com\r>", 0, ADDR_SYNTAX, NULL, NULL, NULL },
	/* UTF-8 only with SMTPUTF8, and only well-formed */
	{ "<j\xc3\xb6rg@example.com>", 0, ADDR_NEEDS_UTF8, NULL, NULL, NULL },
	{ "<j\xc3\xb6rg@example.com>", U8, ADDR_OK, "j\xc3\xb6rg@example.com",
	    "example.com", "" },
	{ "<user@b\xc3\xbc" "cher.example>", U8, ADDR_OK,
	    "user@b\xc3\xbc" "cher.example", "b\xc3\xbc" "cher.example", "" },
	{ "<\"j\xc3\xb6rg\"@example.com>", U8, ADDR_OK,
	    "j\xc3\xb6rg@example.com", "example.com", "" },
	{ "<j\xc3@example.com>", U8, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<j\xc0\xafrg@example.com>", U8, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<j\xed\xa0\x80rg@example.com>", U8, ADDR_SYNTAX, NULL, NULL, NULL },
	{ "<j\xffrg@example.com>", U8, ADDR_SYNTAX, NULL, NULL, NULL },
};

static void
test_path_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mailbox mb;
		const char *end = NULL;
		enum addr_status st;

		st = addr_parse_path(cases[i].in, cases[i].flags, &mb, &end);
		if (st != cases[i].st)
			fail_msg("case %zu \"%s\": status %d, expected %d", i,
			    cases[i].in, st, cases[i].st);
		if (st != ADDR_OK)
			continue;
		if (strcmp(mb.addr, cases[i].addr) != 0)
			fail_msg("case %zu: addr \"%s\", expected \"%s\"", i,
			    mb.addr, cases[i].addr);
		if (strcmp(mb.domain, cases[i].domain) != 0)
			fail_msg("case %zu: domain \"%s\", expected \"%s\"", i,
			    mb.domain, cases[i].domain);
		if (strcmp(end, cases[i].rest) != 0)
			fail_msg("case %zu: rest \"%s\", expected \"%s\"", i,
			    end, cases[i].rest);
		assert_int_equal(mb.null, cases[i].addr[0] == '\0');
	}
}

/* "<" + local + "@" + domain + ">" with generated parts. */
static enum addr_status
parse_sizes(size_t local, size_t label_len, size_t labels)
{
	char path[2048], *p = path;
	struct mailbox mb;
	size_t i;

	*p++ = '<';
	memset(p, 'a', local);
	p += local;
	*p++ = '@';
	for (i = 0; i < labels; i++) {
		if (i > 0)
			*p++ = '.';
		memset(p, 'b', label_len);
		p += label_len;
	}
	*p++ = '>';
	*p = '\0';
	return addr_parse_path(path, 0, &mb, NULL);
}

static void
test_length_limits(void **state)
{
	(void)state;
	/* local part: 64 fine, 65 too long */
	assert_int_equal(parse_sizes(64, 10, 2), ADDR_OK);
	assert_int_equal(parse_sizes(65, 10, 2), ADDR_LOCAL_TOOLONG);
	/* path: "<" 64 "@" domain ">" <= 256 -> domain <= 189 */
	assert_int_equal(parse_sizes(64, 62, 3), ADDR_OK);      /* 188 */
	assert_int_equal(parse_sizes(64, 63, 3), ADDR_PATH_TOOLONG);
	/* the path limit binds before the domain limit: with a one-octet
	 * local part a 251-octet domain fits, 255 does not */
	assert_int_equal(parse_sizes(1, 62, 4), ADDR_OK);       /* 251 */
	assert_int_equal(parse_sizes(1, 63, 4), ADDR_PATH_TOOLONG);
}

static void
test_domain_and_literal_helpers(void **state)
{
	(void)state;
	assert_true(addr_valid_domain("mx.example.com", 14, false));
	assert_false(addr_valid_domain("mx..example", 11, false));
	assert_false(addr_valid_domain("", 0, false));
	assert_true(addr_valid_literal("127.0.0.1", 9));
	assert_true(addr_valid_literal("IPv6:::1", 8));
	assert_false(addr_valid_literal("1.2.3", 5));
	assert_false(addr_valid_literal("tag:", 4));
	assert_string_equal(addr_status_str(ADDR_PATH_TOOLONG),
	    "path too long");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_table),
		cmocka_unit_test(test_length_limits),
		cmocka_unit_test(test_domain_and_literal_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
