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
 * Queries and the parsing of answers are common/dns.h's (dns_open(),
 * dns_txt()), with the same resolver set-up as the outbound queue: the
 * resolv_conf key replaces the name servers, so tests can use a local
 * server. A temporary DNS failure, or a malformed answer, counts as
 * "strict": rewriting a From: that did not need it costs less than a
 * post rejected by members' providers.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns.h"
#include "listd.h"
#include "log.h"
#include "util.h"

/* The resolver, opened on first use; NULL (logged) when resolv_conf
 * cannot be used. */
static struct dns_resolver *
resolver(struct listd *ld)
{
	struct buf err = BUF_INIT;

	if (ld->dns == NULL) {
		ld->dns = dns_open(ld->conf->resolv_conf, &err);
		if (ld->dns == NULL)
			log_error("event=dmarc-failed path=%s reason=\"%s\"",
			    ld->conf->resolv_conf != NULL ?
			    ld->conf->resolv_conf : "the system resolver",
			    buf_cstr(&err));
	}
	buf_free(&err);
	return ld->dns;
}

void
dmarc_close(struct listd *ld)
{
	dns_close(ld->dns);
	ld->dns = NULL;
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

/* The verdict of the TXT records of _dmarc.DOMAIN: the first DMARC
 * record decides; 0 when there is none. */
static int
records_strict(const struct buf *txt, size_t count, bool subdomain)
{
	for (size_t i = 0; i < count; i++) {
		int r = dmarc_policy_strict(buf_cstr(&txt[i]), subdomain);

		if (r >= 0)
			return r;
	}
	return 0;
}

int
dmarc_parse_answer(const unsigned char *answer, int n, bool subdomain)
{
	struct buf *txt;
	size_t count;
	int r;

	if (dns_parse_txt(answer, n, &txt, &count) < 0)
		return -1;
	r = records_strict(txt, count, subdomain);
	dns_txt_free(txt, count);
	return r;
}

/* 1 strict, 0 not (or no record), -1 temporary failure. */
static int
lookup(struct dns_resolver *dns, const char *domain, bool subdomain)
{
	struct buf name = BUF_INIT, err = BUF_INIT;
	struct buf *txt;
	size_t count;
	int r;

	buf_printf(&name, "_dmarc.%s", domain);
	switch (dns_txt(dns, name.data, &txt, &count, &err)) {
	case DNS_OK:
		r = records_strict(txt, count, subdomain);
		dns_txt_free(txt, count);
		break;
	case DNS_NOTFOUND:
	case DNS_NODATA:
		r = 0;
		break;
	default:
		log_debug("event=dmarc-failed reason=\"%s\"", buf_cstr(&err));
		r = -1;
		break;
	}
	buf_free(&name);
	buf_free(&err);
	return r;
}

int
dmarc_strict(struct listd *ld, const char *domain)
{
	struct dns_resolver *dns = resolver(ld);
	const char *org = NULL;
	int r, dots = 0;

	if (dns == NULL)
		return -1;
	r = lookup(dns, domain, false);
	if (r != 0)
		goto out;
	/* No record: the organizational domain (last two labels). */
	for (const char *p = domain + strlen(domain); p > domain; p--)
		if (p[-1] == '.' && ++dots == 2) {
			org = p;
			break;
		}
	if (org != NULL)
		r = lookup(dns, org, true);
out:
	log_debug("event=dmarc-lookup domain=%s policy=%s", domain,
	    r > 0 ? "strict" : r == 0 ? "not-strict" : "lookup-failed");
	return r;
}
