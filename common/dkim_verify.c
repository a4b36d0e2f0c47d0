/*
 * dkim_verify.c - DKIM verification at the MX (see dkim_verify.h).
 *
 * One signature: parse its tag list (taglist.h), check the required tags
 * and the algorithm, fetch and parse the key record, compare the body
 * hash (canonicalized body, cut at l=), then verify b= over the h=
 * fields and the signature field itself with b= emptied (RFC 6376 3.7).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "addr.h"
#include "dkim.h"
#include "dkim_verify.h"
#include "mail.h"
#include "sasl.h"
#include "taglist.h"
#include "util.h"

#define DKIM_RSA_MIN_BITS 1024

static const char *const result_names[] = { "pass", "fail", "neutral",
	"temperror", "permerror" };

const char *
dkim_result_name(enum dkim_result r)
{
	return (unsigned)r <= DKIM_PERMERROR ? result_names[r] : "permerror";
}

/* A signature's parsed tags. */
struct sig {
	struct taglist t;
	const char *a, *b, *bh, *d, *s;
	struct buf h;              /* h= without blanks, lower case */
	bool ed25519, hsimple, bsimple, has_l;
	uint64_t l;
};

static enum dkim_result
set(struct dkim_sig *out, enum dkim_result r, const char *why)
{
	out->result = r;
	snprintf(out->reason, sizeof(out->reason), "%s", why);
	return r;
}

/* "simple" or "relaxed" into *simple; false for anything else. */
static bool
canon_word(const char *w, size_t n, bool *simple)
{
	if (n == 6 && strncmp(w, "simple", 6) == 0)
		*simple = true;
	else if (n == 7 && strncmp(w, "relaxed", 7) == 0)
		*simple = false;
	else
		return false;
	return true;
}

/* c= (default simple/simple), l= and x=. */
static enum dkim_result
parse_options(struct sig *sg, time_t now, struct dkim_sig *out)
{
	const char *c = taglist_get(&sg->t, "c"), *l = taglist_get(&sg->t, "l");
	const char *x = taglist_get(&sg->t, "x");
	char *end;

	sg->hsimple = sg->bsimple = true;
	if (c != NULL) {
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : strlen(c);

		if (!canon_word(c, n, &sg->hsimple) || (slash != NULL &&
		    !canon_word(slash + 1, strlen(slash + 1), &sg->bsimple)))
			return set(out, DKIM_PERMERROR, "bad c=");
	}
	if (l != NULL) {
		/* RFC 6376 3.5: at most 76 digits; more than 2^63 is absurd
		 * for any message. */
		errno = 0;
		if (*l < '0' || *l > '9' || strlen(l) > 18)
			return set(out, DKIM_PERMERROR, "bad l=");
		sg->l = strtoull(l, &end, 10);
		if (*end != '\0' || errno != 0)
			return set(out, DKIM_PERMERROR, "bad l=");
		sg->has_l = true;
	}
	if (x != NULL) {
		long long xv = strtoll(x, &end, 10);

		if (*end != '\0' || *x < '0' || *x > '9')
			return set(out, DKIM_PERMERROR, "bad x=");
		if (xv < (long long)now)
			return set(out, DKIM_FAIL, "signature expired");
	}
	return DKIM_PASS;
}

/* RFC 6376 3.5: the domain of i= is d= or a subdomain of it. */
static bool
identity_in_domain(const char *i, const char *d)
{
	const char *at = i != NULL ? strrchr(i, '@') : NULL;
	size_t il, dl = strlen(d);

	if (i == NULL)
		return true;
	if (at == NULL)
		return false;
	il = strlen(at + 1);
	return strcasecmp(at + 1, d) == 0 || (il > dl &&
	    strcasecmp(at + 1 + il - dl, d) == 0 && at[il - dl] == '.');
}

/* The tags of a DKIM-Signature field and what they require. */
static enum dkim_result
parse_sig(const struct mail_field *f, time_t now, struct sig *sg,
    struct dkim_sig *out)
{
	struct buf err = BUF_INIT, val = BUF_INIT;
	const char *v;
	int rc;

	mail_field_value(f, &val);
	rc = taglist_parse(val.data, val.len, &sg->t, &err);
	buf_free(&val);
	if (rc < 0) {
		set(out, DKIM_PERMERROR, buf_cstr(&err));
		buf_free(&err);
		return DKIM_PERMERROR;
	}
	buf_free(&err);
	v = taglist_get(&sg->t, "v");
	sg->a = taglist_get(&sg->t, "a");
	sg->b = taglist_get(&sg->t, "b");
	sg->bh = taglist_get(&sg->t, "bh");
	sg->d = taglist_get(&sg->t, "d");
	sg->s = taglist_get(&sg->t, "s");
	if (sg->d != NULL)
		snprintf(out->domain, sizeof(out->domain), "%s", sg->d);
	if (sg->s != NULL)
		snprintf(out->selector, sizeof(out->selector), "%s", sg->s);
	if (sg->b != NULL) {
		taglist_compact(sg->b, &val);
		snprintf(out->b, sizeof(out->b), "%s", buf_cstr(&val));
		buf_free(&val);
	}
	if (v == NULL || sg->a == NULL || sg->b == NULL || sg->bh == NULL ||
	    sg->d == NULL || sg->s == NULL || taglist_get(&sg->t, "h") == NULL)
		return set(out, DKIM_PERMERROR, "required tag missing");
	if (strcmp(v, "1") != 0)
		return set(out, DKIM_NEUTRAL, "unknown version");
	if (strcmp(sg->a, "ed25519-sha256") == 0)
		sg->ed25519 = true;
	else if (strcmp(sg->a, "rsa-sha256") != 0)
		return set(out, DKIM_NEUTRAL, "algorithm not supported");
	if (!addr_valid_domain(sg->d, strlen(sg->d), false) ||
	    !addr_valid_domain(sg->s, strlen(sg->s), false))
		return set(out, DKIM_PERMERROR, "bad d= or s=");
	if (!identity_in_domain(taglist_get(&sg->t, "i"), sg->d))
		return set(out, DKIM_PERMERROR, "i= not in d=");
	taglist_compact(taglist_get(&sg->t, "h"), &sg->h);
	if (sg->h.len == 0)
		return set(out, DKIM_PERMERROR, "empty h=");
	str_lower(sg->h.data);
	if (strcmp(sg->h.data, "from") != 0 &&
	    strncmp(sg->h.data, "from:", 5) != 0 &&
	    strstr(sg->h.data, ":from:") == NULL &&
	    (sg->h.len < 5 || strcmp(sg->h.data + sg->h.len - 5, ":from")))
		return set(out, DKIM_PERMERROR, "From not signed");
	return parse_options(sg, now, out);
}

/* The public key from one key record's text; PASS, or why not. */
static enum dkim_result
parse_key(const char *rec, size_t len, const struct sig *sg, EVP_PKEY **key,
    struct dkim_sig *out)
{
	struct taglist kt;
	struct buf err = BUF_INIT, p64 = BUF_INIT, raw = BUF_INIT;
	const char *v, *k, *p;
	const unsigned char *der;
	enum dkim_result r = DKIM_PASS;

	if (taglist_parse(rec, len, &kt, &err) < 0) {
		buf_free(&err);
		return set(out, DKIM_PERMERROR, "bad key record");
	}
	v = taglist_get(&kt, "v");
	k = taglist_get(&kt, "k");
	p = taglist_get(&kt, "p");
	if ((v != NULL && (strcmp(v, "DKIM1") != 0 ||
	    strcmp(kt.tags[0].name, "v") != 0)) || p == NULL)
		r = set(out, DKIM_PERMERROR, "bad key record");
	else if ((k != NULL && strcmp(k, sg->ed25519 ? "ed25519" : "rsa")) ||
	    (k == NULL && sg->ed25519))
		r = set(out, DKIM_PERMERROR, "key type does not match a=");
	else if (*p == '\0')
		r = set(out, DKIM_PERMERROR, "key revoked");
	if (r != DKIM_PASS)
		goto out;
	taglist_compact(p, &p64);
	if (base64_decode(p64.data, p64.len, &raw) < 0) {
		r = set(out, DKIM_PERMERROR, "bad base64 in key");
		goto out;
	}
	der = (const unsigned char *)raw.data;
	if (sg->ed25519)
		*key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der,
		    raw.len);
	else if ((*key = d2i_PUBKEY(NULL, &der, (long)raw.len)) == NULL) {
		der = (const unsigned char *)raw.data;    /* RSAPublicKey */
		*key = d2i_PublicKey(EVP_PKEY_RSA, NULL, &der, (long)raw.len);
	}
	if (*key == NULL)
		r = set(out, DKIM_PERMERROR, "unusable key");
	else if (!sg->ed25519 && (EVP_PKEY_get_base_id(*key) != EVP_PKEY_RSA ||
	    EVP_PKEY_get_bits(*key) < DKIM_RSA_MIN_BITS))
		r = set(out, DKIM_PERMERROR, "RSA key too short");
out:
	if (r != DKIM_PASS && *key != NULL) {
		EVP_PKEY_free(*key);
		*key = NULL;
	}
	taglist_free(&kt);
	buf_free(&err);
	buf_free(&p64);
	buf_free(&raw);
	return r;
}

/* SELECTOR._domainkey.DOMAIN: the first record that parses as a key. */
static enum dkim_result
fetch_key(struct dns_resolver *r, const struct sig *sg, EVP_PKEY **key,
    struct dkim_sig *out)
{
	struct buf name = BUF_INIT, err = BUF_INIT, *txt = NULL;
	size_t count = 0;
	enum dns_status st;
	enum dkim_result res = DKIM_PERMERROR;

	*key = NULL;
	if (r == NULL)
		return set(out, DKIM_TEMPERROR, "no resolver");
	buf_printf(&name, "%s._domainkey.%s", sg->s, sg->d);
	st = dns_txt(r, name.data, &txt, &count, &err);
	if (st == DNS_TEMPFAIL)
		res = set(out, DKIM_TEMPERROR, "key lookup failed");
	else if (st != DNS_OK || count == 0)
		res = set(out, DKIM_PERMERROR, "no key");
	for (size_t i = 0; st == DNS_OK && i < count; i++)
		if ((res = parse_key(txt[i].data, txt[i].len, sg, key,
		    out)) == DKIM_PASS)
			break;
	if (txt != NULL)
		dns_txt_free(txt, count);
	buf_free(&name);
	buf_free(&err);
	return res;
}

/* bh= against the canonicalized body (cut at l=). */
static enum dkim_result
check_body(const struct mail *m, const struct sig *sg, struct dkim_sig *out)
{
	struct buf body = BUF_INIT, bh = BUF_INIT, want = BUF_INIT;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	enum dkim_result r = DKIM_PASS;

	if (sg->bsimple)
		dkim_canon_body_simple(m->body, m->body_len, &body);
	else
		dkim_canon_body(m->body, m->body_len, &body);
	if (sg->has_l && sg->l > body.len) {
		r = set(out, DKIM_PERMERROR, "l= beyond the body");
		goto out;
	}
	if (!EVP_Digest(body.data != NULL ? body.data : "", sg->has_l ?
	    (size_t)sg->l : body.len, digest, &dlen, EVP_sha256(), NULL)) {
		r = set(out, DKIM_TEMPERROR, "hash failed");
		goto out;
	}
	base64_encode(digest, dlen, &bh);
	taglist_compact(sg->bh, &want);
	if (strcmp(buf_cstr(&bh), buf_cstr(&want)) != 0)
		r = set(out, DKIM_FAIL, "body hash mismatch");
out:
	buf_free(&body);
	buf_free(&bh);
	buf_free(&want);
	return r;
}

/* The signature field with the value of its b= tag removed (RFC 6376
 * 3.7), canonicalized, without its final CRLF, appended to data. */
static void
append_self(const struct mail_field *f, bool simple, struct buf *data)
{
	const char *p = f->raw + f->value_off, *end = f->raw + f->raw_len;
	struct buf t = BUF_INIT;

	buf_append(&t, f->raw, (size_t)(p - f->raw));
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *stop = semi != NULL ? semi : end;
		const char *q = p, *eq;

		while (q < stop && (*q == ' ' || *q == '\t' || *q == '\r' ||
		    *q == '\n'))
			q++;
		eq = memchr(q, '=', (size_t)(stop - q));
		if (eq != NULL && *q == 'b' && (q + 1 == eq || q[1] == ' ' ||
		    q[1] == '\t' || q[1] == '\r' || q[1] == '\n')) {
			buf_append(&t, p, (size_t)(eq + 1 - p));
			/* keep the line end of the field's last line */
			if (semi == NULL)
				buf_append_char(&t, '\n');
		} else {
			buf_append(&t, p, (size_t)(stop - p));
		}
		if (semi != NULL)
			buf_append_char(&t, ';');
		p = semi != NULL ? semi + 1 : end;
	}
	if (simple)
		dkim_canon_simple(t.data, t.len, data);
	else
		dkim_canon_header(t.data, t.len - (t.len > 0 &&
		    t.data[t.len - 1] == '\n'), data);
	if (data->len >= 2)
		data->len -= 2;
	buf_free(&t);
}

/* b= over the header data. */
static enum dkim_result
check_signature(EVP_PKEY *key, const struct sig *sg, const struct buf *data,
    struct dkim_sig *out)
{
	struct buf b64 = BUF_INIT, sig = BUF_INIT;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	enum dkim_result r = DKIM_FAIL;
	int ok = 0;

	taglist_compact(sg->b, &b64);
	if (base64_decode(b64.data, b64.len, &sig) < 0 || sig.len == 0) {
		r = set(out, DKIM_PERMERROR, "bad base64 in b=");
		goto out;
	}
	if (ctx == NULL)
		goto out;
	if (sg->ed25519)
		ok = EVP_Digest(data->data, data->len, digest, &dlen,
		    EVP_sha256(), NULL) &&
		    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
		    EVP_DigestVerify(ctx, (const unsigned char *)sig.data,
		    sig.len, digest, dlen) == 1;
	else
		ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL,
		    key) == 1 && EVP_DigestVerify(ctx,
		    (const unsigned char *)sig.data, sig.len,
		    (const unsigned char *)data->data, data->len) == 1;
	if (ok)
		r = set(out, DKIM_PASS, "");
	else
		set(out, DKIM_FAIL, "signature does not verify");
out:
	EVP_MD_CTX_free(ctx);
	buf_free(&b64);
	buf_free(&sig);
	return r;
}

static void
verify_one(struct dns_resolver *r, const struct mail *m,
    const struct mail_field *f, time_t now, struct dkim_sig *out)
{
	struct sig sg;
	struct buf data = BUF_INIT;
	EVP_PKEY *key = NULL;

	memset(&sg, 0, sizeof(sg));
	memset(out, 0, sizeof(*out));
	if (parse_sig(f, now, &sg, out) != DKIM_PASS ||
	    check_body(m, &sg, out) != DKIM_PASS ||
	    fetch_key(r, &sg, &key, out) != DKIM_PASS)
		goto out;
	dkim_signed_fields(m, sg.h.data, sg.hsimple, &data);
	append_self(f, sg.hsimple, &data);
	check_signature(key, &sg, &data, out);
out:
	EVP_PKEY_free(key);
	taglist_free(&sg.t);
	buf_free(&sg.h);
	buf_free(&data);
}

size_t
dkim_verify(struct dns_resolver *r, const char *msg, size_t len,
    time_t now, struct dkim_sig *out, size_t max)
{
	struct mail m;
	size_t n = 0;

	mail_parse(msg, len, &m);
	for (size_t i = 0; i < m.nfields && n < max; i++)
		if (strcasecmp(m.fields[i].name, "DKIM-Signature") == 0)
			verify_one(r, &m, &m.fields[i], now, &out[n++]);
	mail_free(&m);
	return n;
}
