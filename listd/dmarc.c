/*
 * dmarc.c - does the poster's domain publish a DMARC policy that makes a
 * list's re-sent copy fail (p=reject or p=quarantine, RFC 7489)?
 *
 * Used for list_dmarc_rewrite auto: a post whose From: domain answers
 * yes gets its From: rewritten to the list address (post.c). The TXT
 * record _dmarc.DOMAIN is asked first; when the name has none, the
 * organizational domain is approximated by the last two labels (no
 * public suffix list) and its sp= (else p=) is used.
 *
 * Queries go through the system's stub resolver on a private state; the
 * resolv_conf key (same file format as for the outbound queue, parsed by
 * dns_parse_servers()) replaces the name servers, so tests can use a
 * local server. A temporary DNS failure counts as "strict": rewriting a
 * From: that did not need it costs less than a post rejected by members'
 * providers.
 */
#include "config.h"

#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns.h"
#include "listd.h"
#include "log.h"
#include "util.h"

#define DMARC_ANSWER_MAX 4096

static struct __res_state *
resolver(struct listd *ld)
{
	struct __res_state *res;
	struct dns_servers sv;
	struct buf text = BUF_INIT, err = BUF_INIT;

	if (ld->dmarc_res != NULL)
		return ld->dmarc_res;
	res = xcalloc(1, sizeof(*res));
	if (res_ninit(res) != 0) {
		log_error("event=dmarc-failed reason=\"res_ninit failed\"");
		free(res);
		return NULL;
	}
	res->options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
	if (ld->conf->resolv_conf != NULL) {
		if (read_file(ld->conf->resolv_conf, &text, 65536) < 0 ||
		    dns_parse_servers(buf_cstr(&text), &sv, &err) < 0) {
			log_error("event=dmarc-failed path=%s reason=\"%s\"",
			    ld->conf->resolv_conf, buf_cstr(&err));
			res_nclose(res);
			free(res);
			buf_free(&text);
			buf_free(&err);
			return NULL;
		}
		for (size_t i = 0; i < sv.count; i++)
			memcpy(&res->nsaddr_list[i], &sv.ns[i],
			    sizeof(struct sockaddr_in));
		res->nscount = (int)sv.count;
		if (sv.timeout > 0)
			res->retrans = sv.timeout;
		if (sv.attempts > 0)
			res->retry = sv.attempts;
	}
	buf_free(&text);
	buf_free(&err);
	ld->dmarc_res = res;
	return res;
}

void
dmarc_close(struct listd *ld)
{
	if (ld->dmarc_res != NULL) {
		res_nclose(ld->dmarc_res);
		free(ld->dmarc_res);
		ld->dmarc_res = NULL;
	}
}

/* Value of tag in a DMARC record ("v=DMARC1; p=reject; sp=none"). */
static bool
dmarc_tag(const char *rec, const char *tag, char *out, size_t outlen)
{
	size_t tl = strlen(tag);
	const char *p = rec;

	while (*p != '\0') {
		size_t n;

		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		if (strncasecmp(p, tag, tl) == 0) {
			const char *v = p + tl;
			while (*v == ' ' || *v == '\t')
				v++;
			if (*v == '=') {
				v++;
				while (*v == ' ' || *v == '\t')
					v++;
				n = strcspn(v, "; \t");
				if (n >= outlen)
					n = outlen - 1;
				memcpy(out, v, n);
				out[n] = '\0';
				return true;
			}
		}
		p += strcspn(p, ";");
	}
	return false;
}

int
dmarc_policy_strict(const char *record, bool subdomain)
{
	char v[32];

	if (strncasecmp(record, "v=DMARC1", 8) != 0 ||
	    (record[8] != ';' && record[8] != ' ' && record[8] != '\0'))
		return -1;
	if (!(subdomain && dmarc_tag(record, "sp", v, sizeof(v))) &&
	    !dmarc_tag(record, "p", v, sizeof(v)))
		return 0;
	return strcasecmp(v, "reject") == 0 ||
	    strcasecmp(v, "quarantine") == 0;
}

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

int
dmarc_parse_answer(const unsigned char *answer, int n, bool subdomain)
{
	const unsigned char *p, *end;
	struct buf rec = BUF_INIT;
	char host[NS_MAXDNAME];
	unsigned qd, an;
	int r = 0;

	if (n < NS_HFIXEDSZ)
		return -1;
	end = answer + n;
	qd = get16(answer + 4);
	an = get16(answer + 6);
	p = answer + NS_HFIXEDSZ;
	for (unsigned i = 0; i < qd; i++) {
		int l = dn_expand(answer, end, p, host, sizeof(host));
		if (l < 0 || p + l + 4 > end) {
			r = -1;
			goto out;
		}
		p += l + 4;
	}
	for (unsigned i = 0; i < an; i++) {
		int l = dn_expand(answer, end, p, host, sizeof(host));
		unsigned type, rdlen;
		const unsigned char *rd, *rend;

		if (l < 0 || p + l + 10 > end) {
			r = -1;
			goto out;
		}
		p += l;
		type = get16(p);
		rdlen = get16(p + 8);
		rd = p + 10;
		if (rd + rdlen > end) {
			r = -1;
			goto out;
		}
		p = rd + rdlen;
		if (type != ns_t_txt)
			continue;
		/* A TXT record is one or more <length><text> strings. */
		buf_reset(&rec);
		rend = rd + rdlen;
		while (rd < rend && rd + 1 + *rd <= rend) {
			buf_append(&rec, rd + 1, *rd);
			rd += 1 + *rd;
		}
		if ((n = dmarc_policy_strict(buf_cstr(&rec), subdomain)) >= 0) {
			r = n;
			goto out;
		}
	}
	r = 0;
out:
	buf_free(&rec);
	return r;
}

/* 1 strict, 0 not (or no record), -1 temporary failure. */
static int
lookup(struct __res_state *res, const char *domain, bool subdomain)
{
	unsigned char answer[DMARC_ANSWER_MAX];
	struct buf name = BUF_INIT;
	int n, r;

	buf_printf(&name, "_dmarc.%s", domain);
	n = res_nquery(res, name.data, ns_c_in, ns_t_txt, answer,
	    sizeof(answer));
	if (n < 0)
		r = (res->res_h_errno == HOST_NOT_FOUND ||
		    res->res_h_errno == NO_DATA) ? 0 : -1;
	else
		r = dmarc_parse_answer(answer, n, subdomain);
	buf_free(&name);
	return r;
}

int
dmarc_strict(struct listd *ld, const char *domain)
{
	struct __res_state *res = resolver(ld);
	const char *org = NULL;
	int r, dots = 0;

	if (res == NULL)
		return -1;
	r = lookup(res, domain, false);
	if (r != 0)
		goto out;
	/* No record: the organizational domain (last two labels). */
	for (const char *p = domain + strlen(domain); p > domain; p--)
		if (p[-1] == '.' && ++dots == 2) {
			org = p;
			break;
		}
	if (org != NULL)
		r = lookup(res, org, true);
out:
	log_debug("event=dmarc-lookup domain=%s policy=%s", domain,
	    r > 0 ? "strict" : r == 0 ? "not-strict" : "lookup-failed");
	return r;
}
