/*
 * dmarc.c - DMARC policy discovery and evaluation (see dmarc.h): at the
 * MX (smtpd/smtp_verify.c) and for the lists' From: rewriting
 * (listd/dmarc.c).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dmarc.h"
#include "taglist.h"
#include "util.h"

static const char *const result_names[] = { "none", "pass", "fail",
	"temperror", "permerror" };
static const char *const policy_names[] = { "none", "quarantine",
	"reject" };

const char *
dmarc_result_name(enum dmarc_result r)
{
	return (unsigned)r <= DMARC_PERMERROR ? result_names[r] : "permerror";
}

static int
policy_word(const char *v, enum dmarc_policy *out)
{
	for (int i = 0; i < 3; i++)
		if (strcasecmp(v, policy_names[i]) == 0) {
			*out = (enum dmarc_policy)i;
			return 0;
		}
	return -1;
}

/* adkim= / aspf=: "r" or "s". */
static int
align_word(const char *v, bool *strict)
{
	if (v == NULL)
		return 0;
	if (strcasecmp(v, "r") != 0 && strcasecmp(v, "s") != 0)
		return -1;
	*strict = strcasecmp(v, "s") == 0;
	return 0;
}

int
dmarc_record_parse(const char *text, size_t len, struct dmarc_record *out,
    struct buf *err)
{
	struct taglist t;
	const char *p, *sp, *pct;
	char *end;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->pct = 100;
	if (taglist_parse(text, len, &t, err) < 0)
		return -1;
	p = taglist_get(&t, "p");
	sp = taglist_get(&t, "sp");
	pct = taglist_get(&t, "pct");
	if (strcmp(t.tags[0].name, "v") != 0 ||
	    strcmp(t.tags[0].value, "DMARC1") != 0)
		buf_printf(err, "not v=DMARC1 first");
	else if (p == NULL || policy_word(p, &out->p) < 0)
		buf_printf(err, "no valid p=");
	else if (sp != NULL && policy_word(sp, &out->sp) < 0)
		buf_printf(err, "bad sp=");
	else if (align_word(taglist_get(&t, "adkim"), &out->adkim_strict) <
	    0 || align_word(taglist_get(&t, "aspf"), &out->aspf_strict) < 0)
		buf_printf(err, "bad adkim= or aspf=");
	else if (pct != NULL && (*pct < '0' || *pct > '9' || strlen(pct) > 3 ||
	    (out->pct = (unsigned)strtoul(pct, &end, 10)) > 100 ||
	    *end != '\0'))
		buf_printf(err, "bad pct=");
	else
		rc = 0;
	if (rc == 0 && sp == NULL)
		out->sp = out->p;
	taglist_free(&t);
	return rc;
}

/* The one DMARC record at _dmarc.domain: 1 found, 0 none, -1 DNS
 * trouble. */
static int
lookup(struct dns_resolver *r, const char *domain, struct dmarc_record *rec)
{
	struct buf name = BUF_INIT, err = BUF_INIT, *txt = NULL;
	size_t count = 0, found = 0;
	enum dns_status st;

	buf_printf(&name, "_dmarc.%s", domain);
	st = dns_txt(r, name.data, &txt, &count, &err);
	for (size_t i = 0; st == DNS_OK && i < count; i++) {
		struct dmarc_record one;

		buf_reset(&err);
		/* other TXT records at the name are not DMARC's */
		if (strncmp(buf_cstr(&txt[i]), "v=DMARC1", 8) == 0 &&
		    dmarc_record_parse(txt[i].data, txt[i].len, &one,
		    &err) == 0 && found++ == 0)
			*rec = one;
	}
	if (txt != NULL)
		dns_txt_free(txt, count);
	buf_free(&name);
	buf_free(&err);
	if (st == DNS_TEMPFAIL)
		return -1;
	return found == 1 ? 1 : 0;
}

/* Identifier alignment (RFC 7489 3.1). */
static bool
aligned(const struct psl *psl, const char *a, const char *b, bool strict)
{
	struct buf oa = BUF_INIT, ob = BUF_INIT;
	bool same;

	if (a == NULL || b == NULL)
		return false;
	if (strcasecmp(a, b) == 0)
		return true;
	if (strict)
		return false;
	psl_org_domain(psl, a, &oa);
	psl_org_domain(psl, b, &ob);
	same = strcasecmp(oa.data, ob.data) == 0;
	buf_free(&oa);
	buf_free(&ob);
	return same;
}

int
dmarc_discover(struct dns_resolver *r, const struct psl *psl,
    const char *domain, struct dmarc_record *rec, bool *at_org)
{
	struct buf org = BUF_INIT;
	int rc;

	*at_org = false;
	rc = lookup(r, domain, rec);
	if (rc == 0) {
		psl_org_domain(psl, domain, &org);
		if (strcasecmp(org.data, domain) != 0) {
			rc = lookup(r, org.data, rec);
			*at_org = true;
		}
	}
	buf_free(&org);
	return rc;
}

void
dmarc_check(struct dns_resolver *r, const struct psl *psl,
    const struct dmarc_input *in, struct dmarc_outcome *out)
{
	struct dmarc_record rec;
	bool at_org, pass;
	int rc;

	memset(out, 0, sizeof(*out));
	out->policy_name = "none";
	if (in->from_domain == NULL || *in->from_domain == '\0') {
		out->result = DMARC_PERMERROR;     /* no usable From */
		return;
	}
	rc = dmarc_discover(r, psl, in->from_domain, &rec, &at_org);
	if (rc <= 0) {
		out->result = rc < 0 ? DMARC_TEMPERROR : DMARC_NONE;
		return;
	}
	pass = in->spf_pass && aligned(psl, in->spf_domain, in->from_domain,
	    rec.aspf_strict);
	for (size_t i = 0; !pass && i < in->dkim_pass_count; i++)
		pass = aligned(psl, in->dkim_pass_domains[i], in->from_domain,
		    rec.adkim_strict);
	out->policy = at_org ? rec.sp : rec.p;
	out->policy_name = policy_names[out->policy];
	out->result = pass ? DMARC_PASS : DMARC_FAIL;
	/* pct= (6.6.4): the policy applies to that share of failures;
	 * the others get the next weaker one. */
	if (!pass && rec.pct < 100 && (unsigned)(random() % 100) >= rec.pct &&
	    out->policy > DMARC_P_NONE)
		out->policy--;
}
