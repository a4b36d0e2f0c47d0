/*
 * smtp_verify.c - what dmail-smtpd checks of mail from the internet:
 * DNS blocklists when a client connects, and SPF, DKIM and DMARC at the
 * end of a message, reported in one Authentication-Results field (RFC
 * 8601) put on top of it, with DMARC's p=reject enforced on request.
 *
 *   smtp_verify_connect()  dnsbl_zones / dnsbl_threshold (common/dnsbl.h):
 *                          a client whose score reaches the threshold
 *                          gets 554 5.7.1 instead of the greeting
 *   smtp_verify_wanted()   verify_inbound is on and the session is
 *                          neither authenticated nor trusted by the
 *                          relay rule (our own users' mail is signed,
 *                          not verified)
 *   smtp_verify_message()  the checks on the held message (SPF of the
 *                          client, HELO and MAIL FROM: common/spf.h;
 *                          DKIM signatures: common/dkim_verify.h; DMARC
 *                          with the public suffix list: common/dmarc.h);
 *                          the field into top; with dmarc_enforce, a
 *                          DMARC failure under p=reject is refused with
 *                          550 5.7.1, and one under p=quarantine is
 *                          handed back for the hold queue (smtp_hold.c,
 *                          where a milter's quarantine goes too); pct=
 *                          has been applied by dmarc_check()
 *   smtp_verify_free()     the worker's resolver, SPF server and list
 *
 * Authentication-Results fields already in the message that carry our
 * authserv-id (the hostname) are removed first (RFC 8601 5): nobody
 * outside may speak for this host. The resolver (resolv_conf), the SPF
 * server and the public suffix list are opened once per worker, at the
 * first use, after privileges are dropped; if they cannot be opened the
 * failure is logged once and messages go unchecked. Every look-up is
 * bounded by the resolver's timeouts and the limits of each check.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dkim_verify.h"
#include "dmarc.h"
#include "dnsbl.h"
#include "log.h"
#include "outgoing.h"
#include "psl.h"
#include "smtpd.h"
#include "spf.h"
#include "util.h"

struct smtp_verify {
	bool opened;
	struct dns_resolver *dns;     /* NULL: could not be opened */
	struct spf *spf;              /* NULL: built without libspf2 */
	struct psl *psl;              /* NULL: list unreadable */
	struct dnsbl_site *sites;
	size_t nsites;
};

/* The worker's state, opened at the first use; NULL when DNS cannot be
 * used (logged once). */
static struct smtp_verify *
verify_state(struct smtp_session *ss)
{
	const struct dmail_conf *c = ss->conf;
	struct smtp_verify *v = ss->sd->verify;
	struct buf err = BUF_INIT;
	const char *psl = c->public_suffix_list != NULL ?
	    c->public_suffix_list : PSL_DEFAULT_PATH;

	if (v == NULL)
		v = ss->sd->verify = xcalloc(1, sizeof(*v));
	if (v->opened)
		return v->dns != NULL ? v : NULL;
	v->opened = true;
	if ((v->dns = dns_open(c->resolv_conf, &err)) == NULL) {
		log_error("event=verify-setup-failed reason=\"%s\"",
		    buf_cstr(&err));
		buf_free(&err);
		return NULL;
	}
	v->spf = spf_new(v->dns);
	if (c->verify_inbound && (v->psl = psl_load(psl, &err)) == NULL)
		log_warn("event=verify-setup-failed path=%s reason=\"%s\"",
		    psl, buf_cstr(&err));
	buf_reset(&err);
	if (c->dnsbl_zones != NULL && dnsbl_parse_sites(c->dnsbl_zones,
	    &v->sites, &v->nsites, &err) < 0)
		log_error("event=verify-setup-failed reason=\"%s\"",
		    buf_cstr(&err));     /* conf.c checked it: not expected */
	buf_free(&err);
	return v;
}

void
smtp_verify_free(struct smtp_verify *v)
{
	if (v == NULL)
		return;
	spf_free(v->spf);
	psl_free(v->psl);
	dns_close(v->dns);
	free(v->sites);
	free(v);
}

const char *
smtp_verify_connect(struct smtp_session *ss, struct smtp_reply *r)
{
	struct smtp_verify *v;
	struct buf listed = BUF_INIT;
	unsigned score;

	if (ss->conf->dnsbl_zones == NULL || ss->ws->peer_len == 0 ||
	    smtp_relay_allowed(ss) || (v = verify_state(ss)) == NULL)
		return NULL;
	score = dnsbl_score(v->dns, v->sites, v->nsites,
	    (const struct sockaddr *)&ss->ws->peer, &listed);
	if (score < ss->conf->dnsbl_threshold) {
		if (score > 0)
			log_info("action=dnsbl sid=%s client=%s listed=%s "
			    "score=%u threshold=%u status=passed", ss->ws->id,
			    ss->ws->peer_ip, listed.data, score,
			    ss->conf->dnsbl_threshold);
		buf_free(&listed);
		return NULL;
	}
	log_info("action=dnsbl sid=%s client=%s listed=%s score=%u "
	    "threshold=%u status=rejected", ss->ws->id, ss->ws->peer_ip,
	    listed.data, score, ss->conf->dnsbl_threshold);
	smtp_reply_set(r, 554, "5.7.1", "Service unavailable; client [%s] "
	    "blocked using %s", ss->ws->peer_ip, listed.data);
	buf_free(&listed);
	return "client on DNS blocklists";
}

bool
smtp_verify_wanted(const struct smtp_session *ss)
{
	return ss->conf->verify_inbound && ss->auth_user[0] == '\0' &&
	    !smtp_relay_allowed(ss);
}

/* Drop Authentication-Results fields with our authserv-id from the
 * header of the held message. */
static void
strip_own_results(struct smtp_session *ss)
{
	const char *host = ss->conf->hostname;
	size_t hl = strlen(host);
	struct buf out = BUF_INIT;
	const char *p = ss->held.data, *end = p + ss->held.len;
	bool in_header = true, dropping = false;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl + 1 - p) :
		    (size_t)(end - p);

		if (in_header && (n == 1 || (n == 2 && *p == '\r')))
			in_header = false;
		if (in_header && (*p == ' ' || *p == '\t')) {
			/* continuation: goes with its field */
		} else if (in_header) {
			const char *v = p + 23;

			dropping = n > 23 &&
			    strncasecmp(p, "Authentication-Results:", 23) == 0;
			while (dropping && v < p + n && (*v == ' ' ||
			    *v == '\t'))
				v++;
			dropping = dropping && (size_t)(p + n - v) > hl &&
			    strncasecmp(v, host, hl) == 0 &&
			    (v[hl] == ';' || v[hl] == ' ' || v[hl] == '\t');
		} else {
			dropping = false;
		}
		if (!dropping)
			buf_append(&out, p, n);
		p += n;
	}
	buf_free(&ss->held);
	ss->held = out;
}

/* "spf=RESULT smtp.mailfrom=ADDR" (or smtp.helo for <>); its domain
 * into *domain (points into the session), pass into *pass. */
static void
check_spf(struct smtp_session *ss, struct smtp_verify *v, struct buf *ar,
    struct buf *summary, const char **domain, bool *pass)
{
	const char *from = ss->mail.from.addr, *at = strrchr(from, '@');
	struct buf comment = BUF_INIT;
	enum spf_result res;

	*domain = *from != '\0' && at != NULL ? at + 1 : ss->helo;
	*pass = false;
	if (v->spf == NULL)
		return;          /* built without libspf2 */
	res = spf_check(v->spf, ss->ws->peer_ip, ss->helo, from, &comment);
	*pass = res == SPF_PASS;
	buf_printf(ar, ";\n\tspf=%s", spf_result_name(res));
	if (*from != '\0')
		buf_printf(ar, " smtp.mailfrom=%s", from);
	else
		buf_printf(ar, " smtp.helo=%s", ss->helo);
	buf_printf(summary, "spf=%s", spf_result_name(res));
	buf_free(&comment);
}

/* "dkim=RESULT (reason) header.d=D header.s=S header.b=B" per
 * signature, "dkim=none" without one; passing d= into pass[]. */
static size_t
check_dkim(struct smtp_session *ss, struct smtp_verify *v, struct buf *ar,
    struct buf *summary, struct dkim_sig *sigs, const char **pass)
{
	size_t n = dkim_verify(v->dns, ss->held.data != NULL ?
	    ss->held.data : "", ss->held.len, time(NULL), sigs,
	    DKIM_VERIFY_MAX), npass = 0;

	if (n == 0) {
		buf_append_str(ar, ";\n\tdkim=none");
		buf_printf(summary, "%sdkim=none", summary->len ? " " : "");
	}
	for (size_t i = 0; i < n; i++) {
		const char *name = dkim_result_name(sigs[i].result);

		buf_printf(ar, ";\n\tdkim=%s", name);
		if (sigs[i].reason[0] != '\0')
			buf_printf(ar, " (%s)", sigs[i].reason);
		if (sigs[i].domain[0] != '\0')
			buf_printf(ar, " header.d=%s", sigs[i].domain);
		if (sigs[i].selector[0] != '\0')
			buf_printf(ar, " header.s=%s", sigs[i].selector);
		if (sigs[i].b[0] != '\0')
			buf_printf(ar, " header.b=\"%s\"", sigs[i].b);
		buf_printf(summary, "%sdkim=%s", summary->len ? " " : "",
		    name);
		if (sigs[i].result == DKIM_PASS)
			pass[npass++] = sigs[i].domain;
	}
	return npass;
}

const char *
smtp_verify_message(struct smtp_session *ss, struct buf *top,
    struct smtp_reply *r, const char **hold)
{
	struct smtp_verify *v = verify_state(ss);
	struct dkim_sig sigs[DKIM_VERIFY_MAX];
	const char *pass[DKIM_VERIFY_MAX];
	struct buf ar = BUF_INIT, summary = BUF_INIT, from = BUF_INIT;
	struct dmarc_input in;
	struct dmarc_outcome out;
	const char *why = NULL, *at;

	*hold = NULL;
	if (v == NULL)
		return NULL;
	strip_own_results(ss);
	memset(&in, 0, sizeof(in));
	buf_printf(&ar, "Authentication-Results: %s", ss->conf->hostname);
	check_spf(ss, v, &ar, &summary, &in.spf_domain, &in.spf_pass);
	in.dkim_pass_domains = pass;
	in.dkim_pass_count = check_dkim(ss, v, &ar, &summary, sigs, pass);
	if (outgoing_from_address(buf_cstr(&ss->held), ss->held.len, &from) &&
	    (at = strrchr(from.data, '@')) != NULL)
		in.from_domain = at + 1;
	dmarc_check(v->dns, v->psl, &in, &out);
	if (out.result == DMARC_FAIL && out.policy == DMARC_P_REJECT &&
	    ss->conf->dmarc_enforce) {
		smtp_reply_set(r, 550, "5.7.1", "Rejected by the DMARC policy "
		    "of %s", in.from_domain);
		why = "DMARC policy reject";
	} else if (out.result == DMARC_FAIL &&
	    out.policy == DMARC_P_QUARANTINE && ss->conf->dmarc_enforce) {
		*hold = "DMARC policy quarantine";
	}
	/* p= the domain's published policy, dis= what was done here (the
	 * policy after pct= sampling and dmarc_enforce), as OpenDMARC
	 * writes them. */
	buf_printf(&ar, ";\n\tdmarc=%s", dmarc_result_name(out.result));
	if (out.result == DMARC_PASS || out.result == DMARC_FAIL)
		buf_printf(&ar, " (p=%s dis=%s)", out.policy_name,
		    why != NULL ? "reject" : *hold != NULL ? "quarantine" :
		    "none");
	if (in.from_domain != NULL)
		buf_printf(&ar, " header.from=%s", in.from_domain);
	buf_append_char(&ar, '\n');
	buf_printf(&summary, " dmarc=%s", dmarc_result_name(out.result));
	log_info("action=verify sid=%s qid=%s client=%s from=<%s> "
	    "domain=%s reason=\"%s\" policy=%s status=%s", ss->ws->id,
	    delivery_id(ss->dlv), ss->ws->peer_ip, ss->mail.from.addr,
	    in.from_domain != NULL ? in.from_domain : "-", summary.data,
	    out.policy_name, why != NULL ? "rejected" :
	    out.result == DMARC_FAIL && out.policy == DMARC_P_QUARANTINE ?
	    "quarantine" : "accepted");
	buf_reset(top);
	buf_append(top, ar.data, ar.len);
	buf_free(&ar);
	buf_free(&summary);
	buf_free(&from);
	return why;
}
