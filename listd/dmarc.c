/*
 * dmarc.c - does the poster's domain publish a DMARC policy that makes a
 * list's re-sent copy fail (p=reject or p=quarantine, RFC 7489)?
 *
 * Used for list_dmarc_rewrite auto: a post whose From: domain answers
 * yes gets its From: rewritten to the list address (post.c). The record
 * is found as the MX finds it (common/dmarc.h, dmarc_discover()):
 * _dmarc.DOMAIN, else _dmarc.ORG where ORG is the organizational domain
 * from the public suffix list (public_suffix_list, common/psl.h), whose
 * sp= then applies. pct= does not matter here: any share of failures
 * rejected or quarantined is too many for a list.
 *
 *   dmarc_strict()  1 strict, 0 not (or no record), -1 lookup failed
 *   dmarc_close()   the resolver and the list, at the end
 *
 * The resolver (resolv_conf, as for the outbound queue, so tests can use
 * a local server) and the public suffix list are opened on first use; a
 * resolver that cannot be opened is logged each time it is tried, a list
 * that cannot be read once (only the implicit rule "*" then applies). A
 * temporary DNS failure counts as "strict": rewriting a From: that did
 * not need it costs less than a post rejected by members' providers.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "dns.h"
#include "listd.h"
#include "log.h"
#include "psl.h"
#include "util.h"

/* The resolver, opened on first use; NULL (logged) when resolv_conf
 * cannot be used. The public suffix list is loaded with it. */
static struct dns_resolver *
resolver(struct listd *ld)
{
	struct buf err = BUF_INIT;
	const char *path = ld->conf->public_suffix_list != NULL ?
	    ld->conf->public_suffix_list : PSL_DEFAULT_PATH;

	if (ld->dns == NULL) {
		ld->dns = dns_open(ld->conf->resolv_conf, &err);
		if (ld->dns == NULL)
			log_error("event=dmarc-failed path=%s reason=\"%s\"",
			    ld->conf->resolv_conf != NULL ?
			    ld->conf->resolv_conf : "the system resolver",
			    buf_cstr(&err));
	}
	if (ld->dns != NULL && !ld->psl_tried) {
		ld->psl_tried = true;
		buf_reset(&err);
		if ((ld->psl = psl_load(path, &err)) == NULL)
			log_warn("event=dmarc-failed path=%s reason=\"%s\"",
			    path, buf_cstr(&err));
	}
	buf_free(&err);
	return ld->dns;
}

void
dmarc_close(struct listd *ld)
{
	dns_close(ld->dns);
	ld->dns = NULL;
	psl_free(ld->psl);
	ld->psl = NULL;
	ld->psl_tried = false;
}

int
dmarc_strict(struct listd *ld, const char *domain)
{
	struct dns_resolver *dns = resolver(ld);
	struct dmarc_record rec;
	bool at_org;
	int r;

	if (dns == NULL)
		return -1;
	r = dmarc_discover(dns, ld->psl, domain, &rec, &at_org);
	if (r > 0)
		r = (at_org ? rec.sp : rec.p) >= DMARC_P_QUARANTINE;
	log_debug("event=dmarc-lookup domain=%s policy=%s", domain,
	    r > 0 ? "strict" : r == 0 ? "not-strict" : "lookup-failed");
	return r;
}
