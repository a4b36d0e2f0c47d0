/*
 * outgoing.c - Date:, Message-ID: and the DKIM signature for mail DMail's
 * own users send (see outgoing.h).
 *
 * Only the header is parsed to find the From: domain and the fields
 * present; dkim_sign() then reads the whole message (body hash). The
 * message is copied once only when fields are added, so the signature
 * covers them exactly as they will be stored.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dkim.h"
#include "mail.h"
#include "outgoing.h"
#include "util.h"

struct signer {
	char *domain;             /* lower case */
	char *selector;
	struct dkim_key *key;
};

struct outgoing {
	struct signer *signers;
	size_t count;
};

struct outgoing *
outgoing_new(const struct dmail_conf *conf, struct buf *err)
{
	struct outgoing *og = xcalloc(1, sizeof(*og));
	const struct pairlist *pl = &conf->dkim_sign;

	og->signers = xcalloc(pl->count + 1, sizeof(*og->signers));
	for (size_t i = 0; i < pl->count; i++) {
		char sel[64], path[4096];
		struct signer *s = &og->signers[og->count];

		/* conf.c checked the form: "SELECTOR /PATH" */
		if (sscanf(pl->items[i].value, "%63s %4095s", sel, path) != 2) {
			buf_printf(err, "%s: bad dkim_sign value",
			    pl->items[i].key);
			goto fail;
		}
		if ((s->key = dkim_key_load(path, err)) == NULL) {
			buf_printf(err, " (dkim_sign %s %s %s)",
			    pl->items[i].key, sel, path);
			goto fail;
		}
		s->domain = xstrdup(pl->items[i].key);
		s->selector = xstrdup(sel);
		og->count++;
	}
	return og;
fail:
	outgoing_free(og);
	return NULL;
}

void
outgoing_free(struct outgoing *og)
{
	if (og == NULL)
		return;
	for (size_t i = 0; i < og->count; i++) {
		free(og->signers[i].domain);
		free(og->signers[i].selector);
		dkim_key_free(og->signers[i].key);
	}
	free(og->signers);
	free(og);
}

size_t
outgoing_keys(const struct outgoing *og)
{
	return og != NULL ? og->count : 0;
}

/* The signer of domain or of its closest parent; NULL when none. */
static const struct signer *
find_signer(const struct outgoing *og, const char *domain)
{
	for (const char *d = domain; d != NULL && *d != '\0';) {
		for (size_t i = 0; i < og->count; i++)
			if (strcasecmp(og->signers[i].domain, d) == 0)
				return &og->signers[i];
		d = strchr(d, '.');
		if (d != NULL)
			d++;
	}
	return NULL;
}

/* Length of the header of msg: up to and including the empty line, or
 * all of msg when it has none. */
static size_t
header_len(const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			return len;
		if (nl == p || (nl == p + 1 && *p == '\r'))
			return (size_t)(nl + 1 - msg);
		p = nl + 1;
	}
	return len;
}

/* Date: and Message-ID: for a header that lacks them, into top. */
static void
add_missing_fields(const struct mail *h, const char *hostname,
    struct buf *top, struct outgoing_result *res)
{
	struct buf v = BUF_INIT;

	if (!mail_get(h, "Date", &v)) {
		buf_append_str(top, "Date: ");
		rfc5322_date((int64_t)time(NULL), false, top);
		buf_append_char(top, '\n');
		res->added_date = true;
	}
	if (!mail_get(h, "Message-ID", &v)) {
		buf_append_str(top, "Message-ID: ");
		message_id(hostname, top);
		buf_append_char(top, '\n');
		res->added_message_id = true;
	}
	buf_free(&v);
}

bool
outgoing_from_address(const char *msg, size_t len, struct buf *addr)
{
	struct mail h;
	struct buf from = BUF_INIT;
	bool ok;

	mail_parse(msg, header_len(msg, len), &h);
	ok = mail_get(&h, "From", &from) && mail_address(from.data, addr);
	mail_free(&h);
	buf_free(&from);
	return ok;
}

int
outgoing_prepare(const struct outgoing *og, const char *hostname,
    const char *msg, size_t len, bool add_missing, struct buf *top,
    struct outgoing_result *res, struct buf *err)
{
	struct mail h;
	struct buf addr = BUF_INIT, whole = BUF_INIT, sig = BUF_INIT;
	const struct signer *s = NULL;
	const char *at;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	buf_reset(top);
	mail_parse(msg, header_len(msg, len), &h);
	if (add_missing)
		add_missing_fields(&h, hostname, top, res);
	if (og != NULL && og->count > 0 &&
	    outgoing_from_address(msg, len, &addr) &&
	    (at = strrchr(addr.data, '@')) != NULL)
		s = find_signer(og, at + 1);
	if (s != NULL) {
		const char *m = msg;
		size_t mlen = len;

		if (top->len > 0) {
			buf_append(&whole, top->data, top->len);
			buf_append(&whole, msg, len);
			m = whole.data;
			mlen = whole.len;
		}
		if (dkim_sign(s->key, s->domain, s->selector, time(NULL), m,
		    mlen, &sig, err) == 0) {
			if (top->len > 0)
				buf_append(&sig, top->data, top->len);
			buf_reset(top);
			buf_append(top, sig.data, sig.len);
			snprintf(res->signed_domain,
			    sizeof(res->signed_domain), "%s", s->domain);
		} else {
			rc = -1;
		}
	}
	mail_free(&h);
	buf_free(&addr);
	buf_free(&whole);
	buf_free(&sig);
	return rc;
}
