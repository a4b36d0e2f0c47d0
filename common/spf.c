/*
 * spf.c - SPF checks through libspf2 with DMail's resolver as its DNS
 * layer (see spf.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spf.h"
#include "util.h"

static const char *const result_names[] = {
	"none", "neutral", "pass", "fail", "softfail", "temperror",
	"permerror",
};

const char *
spf_result_name(enum spf_result r)
{
	return (unsigned)r < sizeof(result_names) / sizeof(result_names[0]) ?
	    result_names[r] : "permerror";
}

#ifndef HAVE_LIBSPF2

struct spf *
spf_new(struct dns_resolver *r)
{
	(void)r;
	return NULL;
}

void
spf_free(struct spf *s)
{
	(void)s;
}

enum spf_result
spf_check(struct spf *s, const char *client_ip, const char *helo,
    const char *sender, struct buf *comment)
{
	(void)s;
	(void)client_ip;
	(void)helo;
	(void)sender;
	buf_reset(comment);
	return SPF_NONE;
}

#else

#include <netdb.h>
#include <netinet/in.h>
#include <spf2/spf.h>
#include <spf2/spf_dns.h>

struct spf {
	struct dns_resolver *res;
	SPF_dns_server_t layer;
	SPF_server_t *server;
	unsigned queries;            /* asked in the current check */
	int64_t deadline;            /* now_ms() when the check ends */
};

/* The answer set for A, AAAA, MX or TXT from DMail's resolver; the
 * number of records in *n, the status as h_errno. */
static int
fill_rr(struct spf *s, SPF_dns_rr_t *rr, const char *domain, ns_type type)
{
	struct buf err = BUF_INIT, *txt = NULL;
	struct dns_addr *addrs = NULL;
	struct dns_mx *mx = NULL;
	size_t count = 0;
	enum dns_status st;
	int n = 0;

	if (type == ns_t_a || type == ns_t_aaaa)
		st = dns_addrs_family(s->res, domain, type == ns_t_a ?
		    AF_INET : AF_INET6, &addrs, &count, &err);
	else if (type == ns_t_mx)
		st = dns_mx(s->res, domain, &mx, &count, &err);
	else
		st = dns_txt(s->res, domain, &txt, &count, &err);
	for (size_t i = 0; st == DNS_OK && i < count; i++) {
		const void *src;
		size_t len;

		if (type == ns_t_a) {
			src = &((const struct sockaddr_in *)&addrs[i].ss)->sin_addr;
			len = sizeof(struct in_addr);
		} else if (type == ns_t_aaaa) {
			src = &((const struct sockaddr_in6 *)&addrs[i].ss)->sin6_addr;
			len = sizeof(struct in6_addr);
		} else if (type == ns_t_mx) {
			src = mx[i].host;
			len = strlen(mx[i].host) + 1;
		} else {
			/* a TXT with a NUL cannot be an SPF record */
			if (strlen(buf_cstr(&txt[i])) != txt[i].len)
				continue;
			src = buf_cstr(&txt[i]);
			len = txt[i].len + 1;
		}
		if (SPF_dns_rr_buf_realloc(rr, n, len) != SPF_E_SUCCESS)
			break;
		memcpy(rr->rr[n++], src, len);
	}
	free(addrs);
	free(mx);
	if (txt != NULL)
		dns_txt_free(txt, count);
	buf_free(&err);
	rr->num_rr = n;
	switch (st) {
	case DNS_OK:
		return n > 0 ? NETDB_SUCCESS : NO_DATA;
	case DNS_NOTFOUND:
		return HOST_NOT_FOUND;
	case DNS_NODATA:
	case DNS_NULLMX:
		return NO_DATA;
	default:
		return TRY_AGAIN;
	}
}

/* libspf2's lookup hook: one DNS question. */
static SPF_dns_rr_t *
layer_lookup(SPF_dns_server_t *layer, const char *domain, ns_type type,
    int should_cache)
{
	struct spf *s = layer->hook;
	SPF_dns_rr_t *rr;

	(void)should_cache;
	rr = SPF_dns_rr_new_init(layer, domain, type, 0, NETDB_SUCCESS);
	if (rr == NULL)
		return NULL;
	if (++s->queries > SPF_QUERIES_MAX || now_ms() > s->deadline)
		rr->herrno = TRY_AGAIN;
	else if (type == ns_t_a || type == ns_t_aaaa || type == ns_t_mx ||
	    type == ns_t_txt)
		rr->herrno = fill_rr(s, rr, domain, type);
	else
		rr->herrno = NO_DATA;    /* ptr, type SPF (99): never used */
	return rr;
}

struct spf *
spf_new(struct dns_resolver *r)
{
	struct spf *s = xcalloc(1, sizeof(*s));

	s->res = r;
	s->layer.destroy = NULL;     /* ours: not freed by libspf2 */
	s->layer.lookup = layer_lookup;
	s->layer.name = "dmail";
	s->layer.hook = s;
	s->server = SPF_server_new_dns(&s->layer, 0);
	if (s->server == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void
spf_free(struct spf *s)
{
	if (s == NULL)
		return;
	SPF_server_free(s->server);
	free(s);
}

static enum spf_result
map_result(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_PASS:
		return SPF_PASS;
	case SPF_RESULT_FAIL:
		return SPF_FAIL;
	case SPF_RESULT_SOFTFAIL:
		return SPF_SOFTFAIL;
	case SPF_RESULT_NEUTRAL:
		return SPF_NEUTRAL;
	case SPF_RESULT_NONE:
		return SPF_NONE;
	case SPF_RESULT_TEMPERROR:
		return SPF_TEMPERROR;
	default:
		return SPF_PERMERROR;
	}
}

enum spf_result
spf_check(struct spf *s, const char *client_ip, const char *helo,
    const char *sender, struct buf *comment)
{
	SPF_request_t *req;
	SPF_response_t *resp = NULL;
	struct buf from = BUF_INIT;
	enum spf_result res = SPF_PERMERROR;
	SPF_errcode_t e;

	buf_reset(comment);
	if (s == NULL)
		return SPF_NONE;
	s->queries = 0;
	s->deadline = now_ms() + SPF_TIME_MAX_MS;
	req = SPF_request_new(s->server);
	if (*sender != '\0')
		buf_append_str(&from, sender);
	else
		buf_printf(&from, "postmaster@%s", helo);
	e = strchr(client_ip, ':') != NULL ?
	    SPF_request_set_ipv6_str(req, client_ip) :
	    SPF_request_set_ipv4_str(req, client_ip);
	if (e == SPF_E_SUCCESS)
		e = SPF_request_set_helo_dom(req, helo);
	if (e == SPF_E_SUCCESS && SPF_request_set_env_from(req, from.data) != 0)
		e = SPF_E_INVALID_CHAR;
	if (e != SPF_E_SUCCESS) {
		/* nothing to check the domain of: RFC 7208 4.3 says none */
		buf_append_str(comment, SPF_strerror(e));
		res = SPF_NONE;
		goto out;
	}
	SPF_request_query_mailfrom(req, &resp);
	if (resp != NULL) {
		const char *c = SPF_response_get_header_comment(resp);

		res = map_result(SPF_response_result(resp));
		if (c != NULL)
			buf_append_str(comment, c);
		if (res == SPF_PERMERROR && SPF_response_errcode(resp) !=
		    SPF_E_SUCCESS)
			buf_printf(comment, "%s%s", comment->len ? ": " : "",
			    SPF_strerror(SPF_response_errcode(resp)));
		SPF_response_free(resp);
	}
out:
	SPF_request_free(req);
	buf_free(&from);
	return res;
}

#endif
