/*
 * test_verify.c - unit tests for the parsers of mail verification and
 * of what submission adds: tag lists (common/taglist.c, RFC 6376 3.2),
 * DMARC records (common/dmarc.c), organizational domains
 * (common/psl.c), DNS blocklist sites and query names (common/dnsbl.c),
 * DKIM simple canonicalization (common/dkim.c), the checks of a
 * DKIM-Signature before its key (common/dkim_verify.c), Date:/Message-ID:
 * added by common/outgoing.c. Tables: input and expected result side by
 * side. SPF records are libspf2's parser, tested end to end in
 * t/mx_verify.py.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dkim.h"
#include "dkim_verify.h"
#include "dmarc.h"
#include "dnsbl.h"
#include "outgoing.h"
#include "psl.h"
#include "taglist.h"

static void
test_taglist(void **state)
{
	static const struct {
		const char *text;
		int rc;
		const char *tag, *value;      /* one tag to look at */
	} rows[] = {
		{ "v=1; a=rsa-sha256; d=example.net", 0, "d", "example.net" },
		{ " v = 1 ;\r\n\t b=abc\r\n def ;", 0, "b", "abc\r\n def" },
		{ "p=", 0, "p", "" },
		{ "k=rsa;", 0, "k", "rsa" },
		{ "a=1; a=2", -1, NULL, NULL },         /* twice */
		{ "a", -1, NULL, NULL },                /* no '=' */
		{ "=1", -1, NULL, NULL },               /* no name */
		{ "1a=x", -1, NULL, NULL },             /* name starts ALPHA */
		{ "a=x;;b=y", -1, NULL, NULL },         /* empty spec */
		{ "", -1, NULL, NULL },
		{ "a=\x01", -1, NULL, NULL },           /* not VALCHAR */
		{ "abcdefghijklmnopq=1", -1, NULL, NULL }, /* name too long */
		{ "D=x", 0, "D", "x" },                 /* names keep case */
	};
	struct taglist t;
	struct buf err = BUF_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int rc = taglist_parse(rows[i].text, strlen(rows[i].text), &t,
		    &err);

		assert_int_equal(rc, rows[i].rc);
		if (rc == 0 && rows[i].tag != NULL)
			assert_string_equal(taglist_get(&t, rows[i].tag),
			    rows[i].value);
		if (rc == 0)
			taglist_free(&t);
		buf_reset(&err);
	}
	/* a NUL inside is refused */
	assert_int_equal(taglist_parse("a=b\0c", 5, &t, &err), -1);
	taglist_compact(" ab\r\n\t c ", &err);
	assert_string_equal(err.data, "abc");
	buf_free(&err);
}

static void
test_dmarc_record(void **state)
{
	static const struct {
		const char *text;
		int rc;
		enum dmarc_policy p, sp;
		unsigned pct;
		bool adkim_strict;
	} rows[] = {
		{ "v=DMARC1; p=reject", 0, DMARC_P_REJECT, DMARC_P_REJECT,
		    100, false },
		{ "v=DMARC1;p=quarantine;sp=none;pct=20;adkim=s", 0,
		    DMARC_P_QUARANTINE, DMARC_P_NONE, 20, true },
		{ "v=DMARC1; p=none; rua=mailto:a@example.org", 0,
		    DMARC_P_NONE, DMARC_P_NONE, 100, false },
		/* sp= for subdomains (the lists' rewriting: listd/dmarc.c) */
		{ "v=DMARC1; p=none; sp=reject", 0, DMARC_P_NONE,
		    DMARC_P_REJECT, 100, false },
		{ "v=DMARC1; np=reject", -1, 0, 0, 0, false },  /* np is not p */
		{ "p=reject; v=DMARC1", -1, 0, 0, 0, false },   /* v first */
		{ "v=DMARC1", -1, 0, 0, 0, false },             /* no p= */
		{ "v=DMARC1; p=maybe", -1, 0, 0, 0, false },
		{ "v=DMARC1; p=reject; pct=101", -1, 0, 0, 0, false },
		{ "v=DMARC1; p=reject; pct=", -1, 0, 0, 0, false },
		{ "v=DMARC1; p=reject; aspf=x", -1, 0, 0, 0, false },
		{ "v=DMARC2; p=reject", -1, 0, 0, 0, false },
	};
	struct dmarc_record r;
	struct buf err = BUF_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int rc = dmarc_record_parse(rows[i].text,
		    strlen(rows[i].text), &r, &err);

		assert_int_equal(rc, rows[i].rc);
		if (rc == 0) {
			assert_int_equal(r.p, rows[i].p);
			assert_int_equal(r.sp, rows[i].sp);
			assert_int_equal(r.pct, rows[i].pct);
			assert_int_equal(r.adkim_strict, rows[i].adkim_strict);
		}
		buf_reset(&err);
	}
	buf_free(&err);
}

static void
test_org_domain(void **state)
{
	static const char list[] = "// comment\ncom\nco.uk\n*.ck\n!www.ck\n"
	    "github.io\n";
	static const struct {
		const char *domain, *org;
	} rows[] = {
		{ "mail.example.com", "example.com" },
		{ "example.com", "example.com" },
		{ "com", "com" },
		{ "a.b.example.co.uk", "example.co.uk" },
		{ "foo.bar.ck", "foo.bar.ck" },       /* *.ck: bar.ck public */
		{ "www.ck", "www.ck" },               /* exception */
		{ "a.www.ck", "www.ck" },
		{ "me.github.io", "me.github.io" },   /* private section */
		{ "mail.example.test", "example.test" },   /* rule "*" */
	};
	struct psl *p = psl_parse(list, sizeof(list) - 1);
	struct buf out = BUF_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		psl_org_domain(p, rows[i].domain, &out);
		assert_string_equal(out.data, rows[i].org);
	}
	psl_org_domain(NULL, "a.b.example.org", &out);
	assert_string_equal(out.data, "example.org");
	psl_free(p);
	buf_free(&out);
}

static void
test_dnsbl_sites(void **state)
{
	struct dnsbl_site *s;
	struct buf err = BUF_INIT, name = BUF_INIT;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
	size_t n;

	(void)state;
	assert_int_equal(dnsbl_parse_sites("zen.example=127.0.0.2,127.0.0.3*3"
	    " Bl.Example", &s, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(s[0].zone, "zen.example");
	assert_int_equal(s[0].ncodes, 2);
	assert_int_equal(s[0].weight, 3);
	assert_string_equal(s[1].zone, "bl.example");
	assert_int_equal(s[1].weight, 1);
	free(s);
	assert_int_equal(dnsbl_parse_sites("x.example=300.1.1.1", &s, &n,
	    &err), -1);
	assert_int_equal(dnsbl_parse_sites("x.example*y", &s, &n, &err), -1);
	assert_int_equal(dnsbl_parse_sites("not_a_zone!", &s, &n, &err), -1);

	memset(&in4, 0, sizeof(in4));
	in4.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.99", &in4.sin_addr);
	dnsbl_query_name((struct sockaddr *)&in4, "bl.example", &name);
	assert_string_equal(name.data, "99.2.0.192.bl.example");
	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:1:2::ab", &in6.sin6_addr);
	dnsbl_query_name((struct sockaddr *)&in6, "bl.example", &name);
	assert_string_equal(name.data, "b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.example");
	buf_free(&err);
	buf_free(&name);
}

static void
test_simple_canon(void **state)
{
	static const struct {
		const char *body, *want;
	} rows[] = {
		{ "a\n\n\n", "a\r\n" },
		{ "", "\r\n" },
		{ "\n\n", "\r\n" },
		{ "a  b \r\nc", "a  b \r\nc\r\n" },
	};
	struct buf out = BUF_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		dkim_canon_body_simple(rows[i].body, strlen(rows[i].body),
		    &out);
		assert_string_equal(out.data, rows[i].want);
	}
	buf_free(&out);
}

/* Signatures of a "From: a@x.test" message with body "x": every check
 * before the key; no resolver, so reaching the key is a temperror. */
static void
test_dkim_signature_checks(void **state)
{
#define BH "bh=s14J+iztnrytnRYzb7lhFG/jS/vrxWJnnahfijFMnco=; b=AAAA"
	static const struct {
		const char *sig;
		enum dkim_result result;
		const char *reason;
	} rows[] = {
		{ "v=1; a=rsa-sha256; c=relaxed/relaxed; d=x.test; s=s; h=from; "
		    BH, DKIM_TEMPERROR, "no resolver" },
		{ "v=1; a=rsa-sha256; c=relaxed/relaxed; d=x.test; s=s; "
		    "h=to; " BH, DKIM_PERMERROR, "From not signed" },
		/* found by fuzz/dkim_verify: an empty h= */
		{ "v=1; a=rsa-sha256; c=relaxed/relaxed; d=x.test; s=s; "
		    "h=; " BH, DKIM_PERMERROR, "empty h=" },
		{ "v=1; a=rsa-sha256; c=relaxed; d=x.test; s=s; h=from; "
		    "bh=AAAA; b=AAAA", DKIM_FAIL, "body hash mismatch" },
		{ "v=1; a=rsa-sha256; c=relaxed/relaxed; d=x.test; s=s; h=from; "
		    "l=99999999999999999999; " BH, DKIM_PERMERROR, "bad l=" },
		{ "v=1; a=rsa-sha256; c=relaxed/relaxed; d=x.test; s=s; h=from; "
		    "l=4; " BH, DKIM_PERMERROR, "l= beyond the body" },
		{ "v=1; a=rsa-sha256; c=relaxed/relaxed; d=x.test; s=s; h=from; "
		    "x=100; " BH, DKIM_FAIL, "signature expired" },
		{ "v=1; a=rsa-sha256; c=relaxed/relaxed; d=x.test; s=s; h=from; "
		    "i=a@evil.test; " BH, DKIM_PERMERROR, "i= not in d=" },
		{ "v=1; a=rsa-sha256; c=relaxed/relaxed; d=x.test; s=s; h=from; "
		    "i=a@mail.x.test; " BH, DKIM_TEMPERROR, "no resolver" },
		{ "v=1; a=rsa-sha1; d=x.test; s=s; h=from; " BH,
		    DKIM_NEUTRAL, "algorithm not supported" },
		{ "v=1; a=rsa-sha256; c=odd/relaxed; d=x.test; s=s; h=from; "
		    BH, DKIM_PERMERROR, "bad c=" },
		{ "v=1; a=rsa-sha256; d=x.test; h=from; " BH, DKIM_PERMERROR,
		    "required tag missing" },
		{ "v=1; v=1; a=rsa-sha256", DKIM_PERMERROR, "tag v given twice" },
	};
	struct buf msg = BUF_INIT;
	struct dkim_sig out[DKIM_VERIFY_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		buf_reset(&msg);
		buf_printf(&msg, "DKIM-Signature: %s\nFrom: a@x.test\n\nx\n",
		    rows[i].sig);
		assert_int_equal(dkim_verify(NULL, msg.data, msg.len,
		    1700000000, out, DKIM_VERIFY_MAX), 1);
		assert_int_equal(out[0].result, rows[i].result);
		assert_string_equal(out[0].reason, rows[i].reason);
	}
	buf_free(&msg);
#undef BH
}

static void
test_outgoing_adds_missing_fields(void **state)
{
	static const char with[] = "From: a@x.test\nDate: Mon, 1 Jan 2024 "
	    "00:00:00 +0000\nMessage-ID: <1@x.test>\n\nbody\n";
	static const char without[] = "From: a@x.test\n\nbody\n";
	struct outgoing_result res;
	struct buf top = BUF_INIT, err = BUF_INIT;

	(void)state;
	assert_int_equal(outgoing_prepare(NULL, "mx.x.test", with,
	    sizeof(with) - 1, true, &top, &res, &err), 0);
	assert_int_equal(top.len, 0);
	assert_int_equal(outgoing_prepare(NULL, "mx.x.test", without,
	    sizeof(without) - 1, true, &top, &res, &err), 0);
	assert_true(res.added_date && res.added_message_id);
	assert_non_null(strstr(top.data, "Date: "));
	assert_non_null(strstr(top.data, "@mx.x.test>\n"));
	assert_string_equal(res.signed_domain, "");
	/* not asked to add: nothing */
	assert_int_equal(outgoing_prepare(NULL, "mx.x.test", without,
	    sizeof(without) - 1, false, &top, &res, &err), 0);
	assert_int_equal(top.len, 0);
	assert_true(outgoing_from_address("From: A <A@X.test>\n\nx", 21,
	    &top));
	assert_string_equal(top.data, "a@x.test");
	buf_free(&top);
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_taglist),
		cmocka_unit_test(test_dmarc_record),
		cmocka_unit_test(test_org_domain),
		cmocka_unit_test(test_dnsbl_sites),
		cmocka_unit_test(test_simple_canon),
		cmocka_unit_test(test_dkim_signature_checks),
		cmocka_unit_test(test_outgoing_adds_missing_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
