/*
 * dmarc.h - DMARC (RFC 7489): the policy record, its discovery (6.6.3:
 * _dmarc.FROM-DOMAIN, else _dmarc.ORG-DOMAIN, organizational domains
 * from psl.h: the one place DMail finds them) and, at the MX, the
 * evaluation of SPF and DKIM results with identifier alignment (3.1).
 * Users: smtpd/smtp_verify.c (dmarc_check()), listd/dmarc.c
 * (dmarc_discover(): does a poster's domain ask for reject or
 * quarantine).
 *
 * dmarc_record_parse() takes one TXT text: "v=DMARC1" first, p=
 * none|quarantine|reject (a record without a valid p= is no record,
 * 6.6.3), optional sp=, adkim=/aspf= r|s, pct=0-100; other tags are
 * ignored (rua, ruf, fo, rf, ri: no reports are sent). Several records
 * at one name mean none (6.6.3). Nothing is logged or fatal.
 */
#ifndef DMAIL_DMARC_H
#define DMAIL_DMARC_H

#include <stdbool.h>

#include "buf.h"
#include "dns.h"
#include "psl.h"

enum dmarc_policy { DMARC_P_NONE = 0, DMARC_P_QUARANTINE, DMARC_P_REJECT };

struct dmarc_record {
	enum dmarc_policy p;
	enum dmarc_policy sp;      /* p when not given */
	bool adkim_strict, aspf_strict;
	unsigned pct;              /* 100 when not given */
};

enum dmarc_result {
	DMARC_NONE = 0,            /* no policy published */
	DMARC_PASS,
	DMARC_FAIL,
	DMARC_TEMPERROR,
	DMARC_PERMERROR,
};

/* What SPF and DKIM found, for the evaluation. */
struct dmarc_input {
	const char *from_domain;   /* RFC5322.From domain, lower case */
	const char *spf_domain;    /* MAIL FROM (or HELO) domain, or NULL */
	bool spf_pass;
	const char *const *dkim_pass_domains;   /* d= of passing sigs */
	size_t dkim_pass_count;
};

struct dmarc_outcome {
	enum dmarc_result result;
	enum dmarc_policy policy;  /* to apply on fail (sp= for a
	                            * subdomain, pct= applied) */
	const char *policy_name;   /* "none", "quarantine", "reject" */
};

/* 0, or -1 when text is not a DMARC record (reason in err). */
int dmarc_record_parse(const char *text, size_t len,
    struct dmarc_record *out, struct buf *err);
/* Discovery alone: the one DMARC record of _dmarc.domain, else of
 * _dmarc.ORG (the organizational domain of domain, when it differs;
 * *at_org true, sp= is the policy that applies). 1 found (*rec), 0 no
 * record, -1 temporary DNS failure. psl may be NULL (implicit rule
 * only). */
int dmarc_discover(struct dns_resolver *r, const struct psl *psl,
    const char *domain, struct dmarc_record *rec, bool *at_org);
/* Discover and evaluate; psl may be NULL (implicit rule only). */
void dmarc_check(struct dns_resolver *r, const struct psl *psl,
    const struct dmarc_input *in, struct dmarc_outcome *out);
const char *dmarc_result_name(enum dmarc_result r);

#endif
