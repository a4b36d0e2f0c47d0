/*
 * test_dns.c - cmocka tests of common/dns.c without the network: the
 * resolv.conf parser, the MX answer parser on hand-built DNS messages
 * (compression, truncation, bad lengths), the TXT answer parser
 * (strings joined, records that do not fill their rdata refused), MX
 * ordering with tie shuffling, null MX detection, and address literals.
 * (Live look-ups against a test DNS server: t/outbound_mx.py, TXT:
 * t/list_dmarc.py.)
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dns.h"

static void
test_servers_parse(void **state)
{
	struct dns_servers sv;
	struct buf err = BUF_INIT;
	const struct sockaddr_in *sin;

	(void)state;
	assert_int_equal(dns_parse_servers(
	    "# test resolver\n"
	    "nameserver 127.0.0.1 5353\n"
	    "nameserver 192.0.2.53\n"
	    "search example.test\n"
	    "options timeout:1 attempts:2\n", &sv, &err), 0);
	assert_int_equal(sv.count, 2);
	sin = (const struct sockaddr_in *)&sv.ns[0];
	assert_int_equal(ntohs(sin->sin_port), 5353);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
	sin = (const struct sockaddr_in *)&sv.ns[1];
	assert_int_equal(ntohs(sin->sin_port), 53);
	assert_int_equal(sv.timeout, 1);
	assert_int_equal(sv.attempts, 2);
	assert_int_equal(err.len, 0);
	buf_free(&err);
}

static void
test_servers_errors(void **state)
{
	struct dns_servers sv;
	struct buf err = BUF_INIT;

	(void)state;
	/* Bad lines are reported and skipped; a good one still counts. */
	assert_int_equal(dns_parse_servers("nameserver not-an-ip\n"
	    "nameserver 127.0.0.1 99999\nnameserver 127.0.0.2 53\n", &sv,
	    &err), 0);
	assert_int_equal(sv.count, 1);
	assert_non_null(strstr(err.data, "not an IPv4 address"));
	assert_non_null(strstr(err.data, "bad port"));
	buf_reset(&err);
	/* IPv6 servers are not supported by the override. */
	assert_int_equal(dns_parse_servers("nameserver ::1\n", &sv, &err), -1);
	assert_non_null(strstr(err.data, "no usable nameserver"));
	buf_reset(&err);
	assert_int_equal(dns_parse_servers("", &sv, &err), -1);
	/* More than DNS_MAX_NS: the first ones are kept. */
	assert_int_equal(dns_parse_servers("nameserver 10.0.0.1\n"
	    "nameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n",
	    &sv, &err), 0);
	assert_int_equal(sv.count, DNS_MAX_NS);
	buf_free(&err);
}

/* A DNS answer builder for the tests. */
struct pkt {
	unsigned char b[1024];
	size_t len;
};

static void
put16(struct pkt *p, unsigned v)
{
	p->b[p->len++] = (unsigned char)(v >> 8);
	p->b[p->len++] = (unsigned char)v;
}

static void
put_name(struct pkt *p, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t n = dot ? (size_t)(dot - name) : strlen(name);
		p->b[p->len++] = (unsigned char)n;
		memcpy(p->b + p->len, name, n);
		p->len += n;
		name += n;
		if (*name == '.')
			name++;
	}
	p->b[p->len++] = 0;
}

/* Header with qd=1, an answers; question "example.test MX" at 12. */
static void
start(struct pkt *p, unsigned an)
{
	memset(p, 0, sizeof(*p));
	put16(p, 0x1234);
	put16(p, 0x8180);
	put16(p, 1);
	put16(p, an);
	put16(p, 0);
	put16(p, 0);
	put_name(p, "example.test");
	put16(p, 15);
	put16(p, 1);
}

/* MX record: owner is a pointer to the question name (offset 12). */
static void
add_mx(struct pkt *p, unsigned pref, const char *host, bool compress_host)
{
	size_t rdlen_at;

	put16(p, 0xc00c);
	put16(p, 15);
	put16(p, 1);
	put16(p, 0);
	put16(p, 300);
	rdlen_at = p->len;
	put16(p, 0);
	put16(p, pref);
	if (compress_host) {
		/* "mx2." + pointer to example.test */
		p->b[p->len++] = 3;
		memcpy(p->b + p->len, "mx2", 3);
		p->len += 3;
		put16(p, 0xc00c);
	} else {
		put_name(p, host);
	}
	p->b[rdlen_at] = (unsigned char)((p->len - rdlen_at - 2) >> 8);
	p->b[rdlen_at + 1] = (unsigned char)(p->len - rdlen_at - 2);
}

static void
test_parse_mx(void **state)
{
	struct pkt p;
	struct dns_mx *mx;
	size_t n;

	(void)state;
	start(&p, 2);
	add_mx(&p, 20, "mx1.example.test", false);
	add_mx(&p, 10, NULL, true);
	assert_int_equal(dns_parse_mx(p.b, (int)p.len, &mx, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(mx[0].pref, 20);
	assert_string_equal(mx[0].host, "mx1.example.test");
	assert_int_equal(mx[1].pref, 10);
	assert_string_equal(mx[1].host, "mx2.example.test");
	dns_sort_mx(mx, n, NULL);
	assert_string_equal(mx[0].host, "mx2.example.test");
	assert_false(dns_is_null_mx(mx, n));
	free(mx);
}

static void
test_parse_mx_malformed(void **state)
{
	struct pkt p;
	struct dns_mx *mx = NULL;
	size_t n;

	(void)state;
	start(&p, 1);
	add_mx(&p, 10, "mx1.example.test", false);
	/* Every truncation fails cleanly (never reads past the end). */
	for (size_t cut = 0; cut < p.len; cut++) {
		mx = NULL;
		assert_int_equal(dns_parse_mx(p.b, (int)cut, &mx, &n), -1);
		assert_null(mx);
	}
	/* More answers announced than present. */
	start(&p, 3);
	add_mx(&p, 10, "mx1.example.test", false);
	assert_int_equal(dns_parse_mx(p.b, (int)p.len, &mx, &n), -1);
	/* rdlength that does not match the name inside. */
	start(&p, 1);
	add_mx(&p, 10, "mx1.example.test", false);
	p.b[p.len - 22] = 0;      /* rdlength: 10 instead of 20 */
	p.b[p.len - 21] = 10;
	assert_int_equal(dns_parse_mx(p.b, (int)p.len, &mx, &n), -1);
	/* A compression loop. */
	start(&p, 1);
	put16(&p, 0xc000 | (unsigned)p.len);
	assert_int_equal(dns_parse_mx(p.b, (int)p.len, &mx, &n), -1);
}

/* TXT record from raw rdata (rdlen bytes), owner a pointer to 12. */
static void
add_txt_raw(struct pkt *p, const void *rdata, size_t rdlen)
{
	put16(p, 0xc00c);
	put16(p, 16);
	put16(p, 1);
	put16(p, 0);
	put16(p, 300);
	put16(p, (unsigned)rdlen);
	memcpy(p->b + p->len, rdata, rdlen);
	p->len += rdlen;
}

/* TXT record of n character-strings. */
static void
add_txt(struct pkt *p, const char *const *strings, size_t n)
{
	unsigned char rd[512];
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(strings[i]);

		rd[len++] = (unsigned char)l;
		memcpy(rd + len, strings[i], l);
		len += l;
	}
	add_txt_raw(p, rd, len);
}

static void
test_parse_txt(void **state)
{
	static const char *const split[] = { "v=DMARC1; ", "p=reject",
		"; rua=mailto:d@example.test" };
	static const char *const one[] = { "hello" };
	static const char *const empty[] = { "" };
	struct pkt p;
	struct buf *txt;
	size_t n;

	(void)state;
	start(&p, 4);
	add_txt(&p, split, 3);
	add_mx(&p, 10, "mx1.example.test", false);    /* not TXT: skipped */
	add_txt(&p, one, 1);
	add_txt(&p, empty, 1);                        /* one empty string */
	assert_int_equal(dns_parse_txt(p.b, (int)p.len, &txt, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(buf_cstr(&txt[0]),
	    "v=DMARC1; p=reject; rua=mailto:d@example.test");
	assert_int_equal(txt[0].len, 45);
	assert_string_equal(buf_cstr(&txt[1]), "hello");
	assert_int_equal(txt[2].len, 0);
	assert_string_equal(buf_cstr(&txt[2]), "");
	dns_txt_free(txt, n);
	/* A NUL byte is data: the length says where the record ends. */
	start(&p, 1);
	add_txt_raw(&p, "\x03" "a\0b", 4);
	assert_int_equal(dns_parse_txt(p.b, (int)p.len, &txt, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(txt[0].len, 3);
	assert_memory_equal(txt[0].data, "a\0b", 3);
	dns_txt_free(txt, n);
	/* No TXT record in the answer: an empty list. */
	start(&p, 1);
	add_mx(&p, 10, "mx1.example.test", false);
	assert_int_equal(dns_parse_txt(p.b, (int)p.len, &txt, &n), 0);
	assert_int_equal(n, 0);
	dns_txt_free(txt, n);
}

static void
test_parse_txt_malformed(void **state)
{
	static const char *const two[] = { "v=DMARC1; ", "p=reject" };
	/* rdata whose strings do not fill it exactly */
	static const struct {
		const char *rdata;
		size_t len;
	} bad[] = {
		{ "", 0 },                        /* no string at all */
		{ "\x05" "abc", 4 },              /* string past the rdata */
		{ "\x03" "abc" "\x05" "xy", 7 },  /* second one too */
		{ "\x03" "abc" "\x01", 5 },       /* length byte, no data */
	};
	struct pkt p;
	struct buf *txt = NULL;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		start(&p, 1);
		add_txt_raw(&p, bad[i].rdata, bad[i].len);
		assert_int_equal(dns_parse_txt(p.b, (int)p.len, &txt, &n), -1);
	}
	/* Every truncation of a good answer fails cleanly. */
	start(&p, 2);
	add_txt(&p, two, 2);
	add_txt(&p, two, 1);
	for (size_t cut = 0; cut < p.len; cut++) {
		txt = NULL;
		assert_int_equal(dns_parse_txt(p.b, (int)cut, &txt, &n), -1);
		assert_null(txt);
	}
	/* More answers announced than present, after a good record. */
	start(&p, 2);
	add_txt(&p, two, 2);
	assert_int_equal(dns_parse_txt(p.b, (int)p.len, &txt, &n), -1);
}

static void
test_null_mx(void **state)
{
	struct pkt p;
	struct dns_mx *mx;
	size_t n;

	(void)state;
	start(&p, 1);
	add_mx(&p, 0, "", false);
	assert_int_equal(dns_parse_mx(p.b, (int)p.len, &mx, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(mx[0].host, ".");
	assert_true(dns_is_null_mx(mx, n));
	free(mx);
	/* "0 ." next to a real MX is not a null MX (RFC 7505 3). */
	start(&p, 2);
	add_mx(&p, 0, "", false);
	add_mx(&p, 10, "mx1.example.test", false);
	assert_int_equal(dns_parse_mx(p.b, (int)p.len, &mx, &n), 0);
	assert_false(dns_is_null_mx(mx, n));
	free(mx);
}

static long seq[64];
static size_t seq_pos;

static long
fake_rnd(void)
{
	return seq[seq_pos++ % 64];
}

static void
test_sort_ties_shuffled(void **state)
{
	struct dns_mx mx[4];
	bool seen_a_first = false, seen_b_first = false;

	(void)state;
	for (long r = 0; r < 8; r++) {
		memset(mx, 0, sizeof(mx));
		mx[0].pref = 30;
		strcpy(mx[0].host, "c");
		mx[1].pref = 10;
		strcpy(mx[1].host, "a");
		mx[2].pref = 10;
		strcpy(mx[2].host, "b");
		mx[3].pref = 5;
		strcpy(mx[3].host, "first");
		for (size_t i = 0; i < 64; i++)
			seq[i] = r + (long)i;
		seq_pos = 0;
		dns_sort_mx(mx, 4, fake_rnd);
		/* Preference order always holds. */
		assert_string_equal(mx[0].host, "first");
		assert_int_equal(mx[1].pref, 10);
		assert_int_equal(mx[2].pref, 10);
		assert_string_equal(mx[3].host, "c");
		if (strcmp(mx[1].host, "a") == 0)
			seen_a_first = true;
		else
			seen_b_first = true;
	}
	/* Equal preferences come out in both orders. */
	assert_true(seen_a_first);
	assert_true(seen_b_first);
}

static void
test_addr_literal(void **state)
{
	struct dns_resolver *r;
	struct buf err = BUF_INIT;
	struct dns_addr *a;
	size_t n;

	(void)state;
	r = dns_open(NULL, &err);
	assert_non_null(r);
	assert_int_equal(dns_addrs(r, "192.0.2.7", 2525, &a, &n, &err),
	    DNS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&a[0].ss)->sin_port),
	    2525);
	free(a);
	assert_int_equal(dns_addrs(r, "2001:db8::1", 25, &a, &n, &err),
	    DNS_OK);
	assert_int_equal(a[0].ss.ss_family, AF_INET6);
	free(a);
	dns_close(r);
	/* A resolv_conf that does not exist is an error, not a fallback. */
	assert_null(dns_open("/nonexistent/resolv.conf", &err));
	assert_non_null(strstr(err.data, "/nonexistent/resolv.conf"));
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_servers_parse),
		cmocka_unit_test(test_servers_errors),
		cmocka_unit_test(test_parse_mx),
		cmocka_unit_test(test_parse_mx_malformed),
		cmocka_unit_test(test_parse_txt),
		cmocka_unit_test(test_parse_txt_malformed),
		cmocka_unit_test(test_null_mx),
		cmocka_unit_test(test_sort_ties_shuffled),
		cmocka_unit_test(test_addr_literal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
