/*
 * dns.c - MX, address and TXT look-ups on a private resolver state (see
 * dns.h).
 *
 * Answers are parsed here (header, questions skipped, answer records
 * walked with dn_expand() for names) rather than with libresolv's ns_*
 * helpers, so only libc is needed. Every length is checked against the
 * message end: a malformed answer is DNS_TEMPFAIL, never a crash.
 */
#include "config.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dns.h"
#include "log.h"
#include "util.h"

#define DNS_RESOLV_MAX (64 * 1024)

struct dns_resolver {
	struct __res_state res;
};

int
dns_parse_servers(const char *text, struct dns_servers *out, struct buf *err)
{
	char *copy = xstrdup(text), *line, *save = NULL;
	unsigned lineno = 0;

	memset(out, 0, sizeof(*out));
	out->timeout = -1;
	out->attempts = -1;
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *words[4], *w, *wsave = NULL;
		size_t n = 0;

		lineno++;
		for (w = strtok_r(line, " \t\r", &wsave); w != NULL && n < 4;
		    w = strtok_r(NULL, " \t\r", &wsave))
			words[n++] = w;
		if (n == 0 || words[0][0] == '#' || words[0][0] == ';')
			continue;
		if (strcmp(words[0], "nameserver") == 0 && n >= 2) {
			struct sockaddr_in sin;
			unsigned long port = 53;

			memset(&sin, 0, sizeof(sin));
			sin.sin_family = AF_INET;
			if (inet_pton(AF_INET, words[1], &sin.sin_addr) != 1) {
				buf_printf(err, "line %u: '%s' is not an IPv4 "
				    "address; ", lineno, words[1]);
				continue;
			}
			if (n >= 3) {
				char *end;
				port = strtoul(words[2], &end, 10);
				if (*end != '\0' || port == 0 || port > 65535) {
					buf_printf(err, "line %u: bad port '%s'; ",
					    lineno, words[2]);
					continue;
				}
			}
			sin.sin_port = htons((uint16_t)port);
			if (out->count < DNS_MAX_NS)
				memcpy(&out->ns[out->count++], &sin,
				    sizeof(sin));
		} else if (strcmp(words[0], "options") == 0) {
			for (size_t i = 1; i < n; i++) {
				if (strncmp(words[i], "timeout:", 8) == 0)
					out->timeout = atoi(words[i] + 8);
				else if (strncmp(words[i], "attempts:", 9) == 0)
					out->attempts = atoi(words[i] + 9);
			}
		}
	}
	free(copy);
	if (out->count == 0) {
		buf_printf(err, "no usable nameserver line");
		return -1;
	}
	return 0;
}

struct dns_resolver *
dns_open(const char *resolv_conf, struct buf *err)
{
	struct dns_resolver *r = xcalloc(1, sizeof(*r));
	struct dns_servers sv;
	struct buf text = BUF_INIT;

	if (res_ninit(&r->res) != 0) {
		buf_printf(err, "res_ninit failed");
		free(r);
		return NULL;
	}
	r->res.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
	if (resolv_conf == NULL)
		return r;
	if (read_file(resolv_conf, &text, DNS_RESOLV_MAX) < 0) {
		buf_printf(err, "%s: %s", resolv_conf, strerror(errno));
		goto fail;
	}
	if (dns_parse_servers(buf_cstr(&text), &sv, err) < 0) {
		buf_printf(err, " in %s", resolv_conf);
		goto fail;
	}
	buf_free(&text);
	for (size_t i = 0; i < sv.count; i++)
		memcpy(&r->res.nsaddr_list[i], &sv.ns[i],
		    sizeof(struct sockaddr_in));
	r->res.nscount = (int)sv.count;
	if (sv.timeout > 0)
		r->res.retrans = sv.timeout;
	if (sv.attempts > 0)
		r->res.retry = sv.attempts;
	return r;
fail:
	buf_free(&text);
	res_nclose(&r->res);
	free(r);
	return NULL;
}

void
dns_close(struct dns_resolver *r)
{
	if (r == NULL)
		return;
	res_nclose(&r->res);
	free(r);
}

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Walk the answer section, calling fn for each record of type want.
 * Returns the number of such records, or -1 if the message is malformed.
 */
static int
walk_answers(const unsigned char *msg, int len, int want,
    int (*fn)(const unsigned char *msg, int len, const unsigned char *rdata,
    unsigned rdlen, void *arg), void *arg)
{
	const unsigned char *p = msg + HFIXEDSZ, *end = msg + len;
	char name[NS_MAXDNAME];
	unsigned qd, an;
	int found = 0, n;

	if (len < HFIXEDSZ)
		return -1;
	qd = get16(msg + 4);
	an = get16(msg + 6);
	while (qd-- > 0) {
		n = dn_expand(msg, end, p, name, sizeof(name));
		if (n < 0 || p + n + QFIXEDSZ > end)
			return -1;
		p += n + QFIXEDSZ;
	}
	while (an-- > 0) {
		unsigned type, rdlen;

		n = dn_expand(msg, end, p, name, sizeof(name));
		if (n < 0 || p + n + RRFIXEDSZ > end)
			return -1;
		p += n;
		type = get16(p);
		rdlen = get16(p + 8);
		p += RRFIXEDSZ;
		if (p + rdlen > end)
			return -1;
		if ((int)type == want) {
			if (fn(msg, len, p, rdlen, arg) < 0)
				return -1;
			found++;
		}
		p += rdlen;
	}
	return found;
}

struct mx_acc {
	struct dns_mx *list;
	size_t count;
};

static int
add_mx(const unsigned char *msg, int len, const unsigned char *rdata,
    unsigned rdlen, void *arg)
{
	struct mx_acc *acc = arg;
	struct dns_mx mx;
	int n;

	if (rdlen < 3)
		return -1;
	mx.pref = get16(rdata);
	n = dn_expand(msg, msg + len, rdata + 2, mx.host, sizeof(mx.host));
	if (n < 0 || (unsigned)n + 2 != rdlen)
		return -1;
	if (mx.host[0] == '\0')
		strcpy(mx.host, ".");
	acc->list = xrealloc(acc->list, (acc->count + 1) * sizeof(mx));
	acc->list[acc->count++] = mx;
	return 0;
}

int
dns_parse_mx(const unsigned char *msg, int len, struct dns_mx **out,
    size_t *count)
{
	struct mx_acc acc = { NULL, 0 };

	if (walk_answers(msg, len, ns_t_mx, add_mx, &acc) < 0) {
		free(acc.list);
		return -1;
	}
	*out = acc.list;
	*count = acc.count;
	return 0;
}

static int
mx_cmp(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;

	return x->pref < y->pref ? -1 : x->pref > y->pref;
}

void
dns_sort_mx(struct dns_mx *mx, size_t count, long (*rnd)(void))
{
	size_t i, j, k;

	if (rnd == NULL)
		rnd = random;
	if (count < 2)
		return;
	qsort(mx, count, sizeof(*mx), mx_cmp);
	/* Fisher-Yates inside each run of equal preference. */
	for (i = 0; i < count; i = j) {
		for (j = i + 1; j < count && mx[j].pref == mx[i].pref; j++)
			;
		for (k = j - 1; k > i; k--) {
			size_t pick = i + (size_t)rnd() % (k - i + 1);
			struct dns_mx t = mx[k];
			mx[k] = mx[pick];
			mx[pick] = t;
		}
	}
}

int
dns_is_null_mx(const struct dns_mx *mx, size_t count)
{
	return count == 1 && mx[0].pref == 0 && strcmp(mx[0].host, ".") == 0;
}

/* One query; fills ans/len or returns a status with a reason. */
static enum dns_status
query(struct dns_resolver *r, const char *name, int type,
    unsigned char *ans, int *len, struct buf *err)
{
	int n = res_nquery(&r->res, name, ns_c_in, type, ans, DNS_ANSWER_MAX);

	if (n >= 0) {
		/* Never more than the buffer, whatever the resolver says. */
		*len = n < DNS_ANSWER_MAX ? n : DNS_ANSWER_MAX;
		return DNS_OK;
	}
	switch (r->res.res_h_errno) {
	case HOST_NOT_FOUND:
		buf_printf(err, "%s: host not found (NXDOMAIN)", name);
		return DNS_NOTFOUND;
	case NO_DATA:
		buf_printf(err, "%s: no %s record", name,
		    type == ns_t_mx ? "MX" : type == ns_t_a ? "A" :
		    type == ns_t_txt ? "TXT" : "AAAA");
		return DNS_NODATA;
	case NO_RECOVERY:
		buf_printf(err, "%s: DNS server failure", name);
		return DNS_TEMPFAIL;
	default:
		buf_printf(err, "%s: DNS lookup timed out or failed", name);
		return DNS_TEMPFAIL;
	}
}

enum dns_status
dns_mx(struct dns_resolver *r, const char *domain, struct dns_mx **out,
    size_t *count, struct buf *err)
{
	unsigned char *ans = xmalloc(DNS_ANSWER_MAX);
	enum dns_status st;
	int len;

	*out = NULL;
	*count = 0;
	st = query(r, domain, ns_t_mx, ans, &len, err);
	if (st == DNS_OK) {
		if (dns_parse_mx(ans, len, out, count) < 0) {
			buf_printf(err, "%s: malformed MX answer", domain);
			st = DNS_TEMPFAIL;
		} else if (*count == 0) {
			buf_printf(err, "%s: no MX record", domain);
			st = DNS_NODATA;
		} else if (dns_is_null_mx(*out, *count)) {
			buf_printf(err, "%s: domain accepts no mail (null MX)",
			    domain);
			st = DNS_NULLMX;
		} else {
			dns_sort_mx(*out, *count, NULL);
		}
	}
	if (st != DNS_OK) {
		free(*out);
		*out = NULL;
		*count = 0;
	}
	free(ans);
	return st;
}

struct addr_acc {
	struct dns_addr *list;
	size_t count;
	int family;
	unsigned port;
};

static void
push_addr(struct addr_acc *acc, int family, const void *raw, unsigned port)
{
	struct dns_addr a;

	memset(&a, 0, sizeof(a));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		memcpy(&sin->sin_addr, raw, 4);
		a.len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		memcpy(&sin6->sin6_addr, raw, 16);
		a.len = sizeof(*sin6);
	}
	acc->list = xrealloc(acc->list, (acc->count + 1) * sizeof(a));
	acc->list[acc->count++] = a;
}

static int
add_addr(const unsigned char *msg, int len, const unsigned char *rdata,
    unsigned rdlen, void *arg)
{
	struct addr_acc *acc = arg;

	(void)msg;
	(void)len;
	if (rdlen != (acc->family == AF_INET ? 4u : 16u))
		return -1;
	push_addr(acc, acc->family, rdata, acc->port);
	return 0;
}

int
dns_parse_addrs(const unsigned char *msg, int len, int family, unsigned port,
    struct dns_addr **list, size_t *count)
{
	struct addr_acc acc = { *list, *count, family, port };
	int n = walk_answers(msg, len, family == AF_INET ? ns_t_a : ns_t_aaaa,
	    add_addr, &acc);

	*list = acc.list;
	*count = acc.count;
	return n < 0 ? -1 : 0;
}

enum dns_status
dns_addrs_family(struct dns_resolver *r, const char *host, int family,
    struct dns_addr **out, size_t *count, struct buf *err)
{
	unsigned char *ans = xmalloc(DNS_ANSWER_MAX);
	enum dns_status st;
	int len;

	*out = NULL;
	*count = 0;
	st = query(r, host, family == AF_INET ? ns_t_a : ns_t_aaaa, ans, &len,
	    err);
	if (st == DNS_OK && dns_parse_addrs(ans, len, family, 0, out,
	    count) < 0) {
		buf_printf(err, "%s: malformed answer", host);
		free(*out);
		*out = NULL;
		*count = 0;
		st = DNS_TEMPFAIL;
	} else if (st == DNS_OK && *count == 0) {
		buf_printf(err, "%s: no address record", host);
		st = DNS_NODATA;
	}
	free(ans);
	return st;
}

enum dns_status
dns_addrs(struct dns_resolver *r, const char *host, unsigned port,
    struct dns_addr **out, size_t *count, struct buf *err)
{
	struct addr_acc acc = { NULL, 0, AF_INET, port };
	unsigned char raw[16];
	unsigned char *ans;
	enum dns_status st4, st6;
	struct buf e4 = BUF_INIT, e6 = BUF_INIT;
	int len;

	*out = NULL;
	*count = 0;
	if (inet_pton(AF_INET, host, raw) == 1) {
		push_addr(&acc, AF_INET, raw, port);
		goto done;
	}
	if (inet_pton(AF_INET6, host, raw) == 1) {
		push_addr(&acc, AF_INET6, raw, port);
		goto done;
	}
	ans = xmalloc(DNS_ANSWER_MAX);
	st4 = query(r, host, ns_t_a, ans, &len, &e4);
	if (st4 == DNS_OK && dns_parse_addrs(ans, len, AF_INET, port,
	    &acc.list, &acc.count) < 0) {
		buf_printf(&e4, "%s: malformed A answer", host);
		st4 = DNS_TEMPFAIL;
	}
	st6 = DNS_NOTFOUND;
	if (st4 != DNS_NOTFOUND) {
		st6 = query(r, host, ns_t_aaaa, ans, &len, &e6);
		if (st6 == DNS_OK && dns_parse_addrs(ans, len, AF_INET6,
		    port, &acc.list, &acc.count) < 0) {
			buf_printf(&e6, "%s: malformed AAAA answer", host);
			st6 = DNS_TEMPFAIL;
		}
	}
	free(ans);
	if (acc.count == 0) {
		enum dns_status st;
		/* Temporary trouble on either query wins over "no data". */
		if (st4 == DNS_TEMPFAIL || st6 == DNS_TEMPFAIL) {
			st = DNS_TEMPFAIL;
			buf_append_str(err, buf_cstr(st4 == DNS_TEMPFAIL ?
			    &e4 : &e6));
		} else if (st4 == DNS_NOTFOUND) {
			st = DNS_NOTFOUND;
			buf_append_str(err, buf_cstr(&e4));
		} else {
			st = DNS_NODATA;
			buf_printf(err, "%s: no A or AAAA record", host);
		}
		buf_free(&e4);
		buf_free(&e6);
		return st;
	}
	buf_free(&e4);
	buf_free(&e6);
done:
	*out = acc.list;
	*count = acc.count;
	return DNS_OK;
}

struct txt_acc {
	struct buf *list;
	size_t count;
};

/* One TXT record: one or more <length><bytes> strings that fill rdata
 * exactly (RFC 1035 3.3.14), joined. */
static int
add_txt(const unsigned char *msg, int len, const unsigned char *rdata,
    unsigned rdlen, void *arg)
{
	struct txt_acc *acc = arg;
	const unsigned char *p = rdata, *end = rdata + rdlen;
	struct buf text = BUF_INIT;

	(void)msg;
	(void)len;
	if (rdlen == 0)
		return -1;
	while (p < end) {
		if ((size_t)(end - p) < 1u + *p) {
			buf_free(&text);
			return -1;
		}
		buf_append(&text, p + 1, *p);
		p += 1 + *p;
	}
	acc->list = xrealloc(acc->list, (acc->count + 1) * sizeof(text));
	acc->list[acc->count++] = text;
	return 0;
}

int
dns_parse_txt(const unsigned char *msg, int len, struct buf **out,
    size_t *count)
{
	struct txt_acc acc = { NULL, 0 };

	if (walk_answers(msg, len, ns_t_txt, add_txt, &acc) < 0) {
		dns_txt_free(acc.list, acc.count);
		return -1;
	}
	*out = acc.list;
	*count = acc.count;
	return 0;
}

void
dns_txt_free(struct buf *txt, size_t count)
{
	for (size_t i = 0; i < count; i++)
		buf_free(&txt[i]);
	free(txt);
}

enum dns_status
dns_txt(struct dns_resolver *r, const char *name, struct buf **out,
    size_t *count, struct buf *err)
{
	unsigned char *ans = xmalloc(DNS_ANSWER_MAX);
	enum dns_status st;
	int len;

	*out = NULL;
	*count = 0;
	st = query(r, name, ns_t_txt, ans, &len, err);
	if (st == DNS_OK) {
		if (dns_parse_txt(ans, len, out, count) < 0) {
			buf_printf(err, "%s: malformed TXT answer", name);
			st = DNS_TEMPFAIL;
		} else if (*count == 0) {
			buf_printf(err, "%s: no TXT record", name);
			st = DNS_NODATA;
		}
	}
	if (st != DNS_OK) {
		dns_txt_free(*out, *count);
		*out = NULL;
		*count = 0;
	}
	free(ans);
	return st;
}
