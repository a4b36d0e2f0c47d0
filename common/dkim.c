/*
 * dkim.c - DKIM signing: keys (load, generate, save, DNS record),
 * relaxed canonicalization and the DKIM-Signature field (see dkim.h).
 *
 * The message is parsed with common/mail.c (header fields byte-exact,
 * body as is). The data signed is, per RFC 6376 3.7: the canonicalized
 * fields named in h=, in that order, then the canonicalized
 * DKIM-Signature field itself with an empty b= and no final CRLF. RSA
 * signs that with SHA-256 (PKCS#1 v1.5); Ed25519 signs its SHA-256
 * digest (RFC 8463 3).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dkim.h"
#include "mail.h"
#include "sasl.h"
#include "util.h"

#define DKIM_RSA_MIN_BITS 1024
#define DKIM_RSA_MAX_BITS 8192
#define DKIM_FOLD 72            /* b= and bh= chunks per line */
#define DKIM_KEY_FILE_MAX (64 * 1024)

struct dkim_key {
	EVP_PKEY *pkey;
	bool ed25519;
};

static void
ssl_reason(struct buf *err, const char *what)
{
	unsigned long e = ERR_get_error();
	char s[256];

	ERR_error_string_n(e, s, sizeof(s));
	buf_printf(err, "%s: %s", what, e != 0 ? s : "failed");
	ERR_clear_error();
}

static struct dkim_key *
key_wrap(EVP_PKEY *pkey, struct buf *err)
{
	struct dkim_key *k;
	int id = EVP_PKEY_get_base_id(pkey);

	if (id == EVP_PKEY_RSA) {
		int bits = EVP_PKEY_get_bits(pkey);

		if (bits < DKIM_RSA_MIN_BITS || bits > DKIM_RSA_MAX_BITS) {
			buf_printf(err, "RSA key of %d bits (%d to %d)", bits,
			    DKIM_RSA_MIN_BITS, DKIM_RSA_MAX_BITS);
			EVP_PKEY_free(pkey);
			return NULL;
		}
	} else if (id != EVP_PKEY_ED25519) {
		buf_printf(err, "not an RSA or Ed25519 key");
		EVP_PKEY_free(pkey);
		return NULL;
	}
	k = xcalloc(1, sizeof(*k));
	k->pkey = pkey;
	k->ed25519 = id == EVP_PKEY_ED25519;
	return k;
}

struct dkim_key *
dkim_key_load(const char *path, struct buf *err)
{
	struct buf pem = BUF_INIT;
	EVP_PKEY *pkey;
	BIO *bio;

	if (read_file(path, &pem, DKIM_KEY_FILE_MAX) < 0) {
		buf_printf(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	bio = BIO_new_mem_buf(pem.data != NULL ? pem.data : "", (int)pem.len);
	pkey = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) :
	    NULL;
	BIO_free(bio);
	OPENSSL_cleanse(pem.data, pem.len);
	buf_free(&pem);
	if (pkey == NULL) {
		ssl_reason(err, path);
		return NULL;
	}
	return key_wrap(pkey, err);
}

struct dkim_key *
dkim_key_generate(const char *type, int bits, struct buf *err)
{
	EVP_PKEY *pkey = NULL;

	if (strcmp(type, "rsa") == 0) {
		if (bits < DKIM_RSA_MIN_BITS || bits > DKIM_RSA_MAX_BITS) {
			buf_printf(err, "RSA bits: %d to %d",
			    DKIM_RSA_MIN_BITS, DKIM_RSA_MAX_BITS);
			return NULL;
		}
		pkey = EVP_RSA_gen((unsigned)bits);
	} else if (strcmp(type, "ed25519") == 0) {
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	} else {
		buf_printf(err, "key type %s: rsa or ed25519", type);
		return NULL;
	}
	if (pkey == NULL) {
		ssl_reason(err, "key generation");
		return NULL;
	}
	return key_wrap(pkey, err);
}

int
dkim_key_save(const struct dkim_key *k, const char *path, struct buf *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int rc = -1;

	if (bio == NULL || !PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL,
	    0, NULL, NULL)) {
		ssl_reason(err, "PEM");
		BIO_free(bio);
		return -1;
	}
	len = BIO_get_mem_data(bio, &data);
	if (write_file_durable(path, data, (size_t)len, 0600) < 0)
		buf_printf(err, "%s: %s", path, strerror(errno));
	else
		rc = 0;
	BIO_free(bio);
	return rc;
}

void
dkim_key_free(struct dkim_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

const char *
dkim_key_algorithm(const struct dkim_key *k)
{
	return k->ed25519 ? "ed25519-sha256" : "rsa-sha256";
}

int
dkim_dns_record(const struct dkim_key *k, struct buf *out, struct buf *err)
{
	unsigned char raw[64], *der = NULL;
	size_t rawlen = sizeof(raw);
	int derlen;

	buf_reset(out);
	if (k->ed25519) {
		if (!EVP_PKEY_get_raw_public_key(k->pkey, raw, &rawlen)) {
			ssl_reason(err, "public key");
			return -1;
		}
		buf_append_str(out, "v=DKIM1; k=ed25519; p=");
		base64_encode(raw, rawlen, out);
		return 0;
	}
	derlen = i2d_PUBKEY(k->pkey, &der);
	if (derlen <= 0) {
		ssl_reason(err, "public key");
		return -1;
	}
	buf_append_str(out, "v=DKIM1; k=rsa; p=");
	base64_encode(der, (size_t)derlen, out);
	OPENSSL_free(der);
	return 0;
}

/* ---- canonicalization (relaxed) ------------------------------------- */

static bool
wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Append s[0..len) with CR and LF removed, WSP runs as one SP, WSP at
 * the start and end dropped. */
static void
append_relaxed_value(const char *s, size_t len, struct buf *out)
{
	bool pending_sp = false, started = false;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '\r' || c == '\n')
			continue;
		if (wsp(c)) {
			pending_sp = started;
			continue;
		}
		if (pending_sp)
			buf_append(out, " ", 1);
		pending_sp = false;
		started = true;
		buf_append(out, &c, 1);
	}
}

void
dkim_canon_header(const char *field, size_t len, struct buf *out)
{
	const char *colon = memchr(field, ':', len);
	size_t n;

	if (colon == NULL)
		return;
	n = (size_t)(colon - field);
	while (n > 0 && wsp(field[n - 1]))
		n--;
	for (size_t i = 0; i < n; i++) {
		char c = field[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		buf_append(out, &c, 1);
	}
	buf_append(out, ":", 1);
	append_relaxed_value(colon + 1, (size_t)(field + len - colon - 1),
	    out);
	buf_append_str(out, "\r\n");
}

void
dkim_canon_simple(const char *text, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
			buf_append(out, "\r", 1);
		buf_append(out, &text[i], 1);
	}
}

void
dkim_canon_body_simple(const char *body, size_t len, struct buf *out)
{
	buf_reset(out);
	dkim_canon_simple(body, len, out);
	if (out->len > 0 && out->data[out->len - 1] != '\n')
		buf_append_str(out, "\r\n");
	/* RFC 6376 3.4.3: no empty lines at the end; an empty body is one
	 * CRLF. */
	while (out->len >= 4 && memcmp(out->data + out->len - 4,
	    "\r\n\r\n", 4) == 0)
		out->len -= 2;
	if (out->len == 0)
		buf_append_str(out, "\r\n");
	out->data[out->len] = '\0';
}

/* One body line, relaxed: WSP runs as one SP, none at the end. */
static void
append_relaxed_line(const char *s, size_t len, struct buf *out)
{
	bool pending_sp = false;

	for (size_t i = 0; i < len; i++) {
		if (wsp(s[i])) {
			pending_sp = true;
			continue;
		}
		if (pending_sp)
			buf_append(out, " ", 1);
		pending_sp = false;
		buf_append(out, &s[i], 1);
	}
}

void
dkim_canon_body(const char *body, size_t len, struct buf *out)
{
	struct buf line = BUF_INIT;
	size_t empty = 0;       /* empty lines held back: maybe the end */
	const char *p = body, *end = body + len;

	buf_reset(out);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end;

		if (nl != NULL && le > p && le[-1] == '\r')
			le--;
		buf_reset(&line);
		append_relaxed_line(p, (size_t)(le - p), &line);
		if (line.len == 0)
			empty++;
		else {
			for (; empty > 0; empty--)
				buf_append_str(out, "\r\n");
			buf_append(out, line.data, line.len);
			buf_append_str(out, "\r\n");
		}
		p = nl != NULL ? nl + 1 : end;
	}
	buf_free(&line);
}

/* ---- signing ----------------------------------------------------------- */

/* Append value to out in chunks of DKIM_FOLD, each on its own folded
 * line. */
static void
append_folded(struct buf *out, const char *value, size_t len)
{
	for (size_t i = 0; i < len; i += DKIM_FOLD) {
		buf_append_str(out, "\n\t ");
		buf_append(out, value + i, len - i < DKIM_FOLD ? len - i :
		    DKIM_FOLD);
	}
}

/* h=: each name of DKIM_SIGNED_FIELDS as often as it occurs, From once
 * more. */
static void
signed_names(const struct mail *m, struct buf *h)
{
	const char *p = DKIM_SIGNED_FIELDS;

	buf_reset(h);
	while (*p != '\0') {
		const char *c = strchr(p, ':');
		size_t n = c != NULL ? (size_t)(c - p) : strlen(p);
		unsigned count = 0;

		for (size_t i = 0; i < m->nfields; i++)
			if (strlen(m->fields[i].name) == n &&
			    strncasecmp(m->fields[i].name, p, n) == 0)
				count++;
		if (n == 4 && strncmp(p, "from", 4) == 0)
			count++;
		for (unsigned i = 0; i < count; i++) {
			if (h->len > 0)
				buf_append(h, ":", 1);
			buf_append(h, p, n);
		}
		p += n;
		if (*p == ':')
			p++;
	}
}

/* h as the tag value: FWS after a colon keeps lines short (RFC 6376
 * 3.5 allows it around the colons). */
static void
append_names_folded(struct buf *out, const char *h)
{
	size_t line = 0;

	for (const char *p = h; *p != '\0'; p++) {
		buf_append(out, p, 1);
		if (*p == ':' && ++line >= 6) {
			buf_append_str(out, "\n\t ");
			line = 0;
		}
	}
}

void
dkim_signed_fields(const struct mail *m, const char *h, bool simple,
    struct buf *data)
{
	bool *used = xcalloc(m->nfields + 1, sizeof(bool));
	const char *p = h;

	while (*p != '\0') {
		const char *c = strchr(p, ':');
		size_t n = c != NULL ? (size_t)(c - p) : strlen(p);

		for (size_t i = m->nfields; i > 0; i--) {
			const struct mail_field *f = &m->fields[i - 1];

			if (used[i - 1] || strlen(f->name) != n ||
			    strncasecmp(f->name, p, n) != 0)
				continue;
			used[i - 1] = true;
			if (simple)
				dkim_canon_simple(f->raw, f->raw_len, data);
			else
				dkim_canon_header(f->raw, f->raw_len, data);
			break;
		}
		p += n;
		if (*p == ':')
			p++;
	}
	free(used);
}

static int
sign_bytes(const struct dkim_key *k, const struct buf *data,
    struct buf *sig, struct buf *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char digest[EVP_MAX_MD_SIZE], s[1024];
	unsigned dlen = 0;
	size_t slen = sizeof(s);
	int ok;

	if (ctx == NULL) {
		ssl_reason(err, "signing");
		return -1;
	}
	if (k->ed25519) {
		/* RFC 8463: Ed25519 over the SHA-256 digest. */
		ok = EVP_Digest(data->data, data->len, digest, &dlen,
		    EVP_sha256(), NULL) &&
		    EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) &&
		    EVP_DigestSign(ctx, s, &slen, digest, dlen);
	} else {
		ok = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL,
		    k->pkey) && EVP_DigestSign(ctx, NULL, &slen,
		    (const unsigned char *)data->data, data->len) &&
		    slen <= sizeof(s) && EVP_DigestSign(ctx, s, &slen,
		    (const unsigned char *)data->data, data->len);
	}
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		ssl_reason(err, "signing");
		return -1;
	}
	buf_reset(sig);
	base64_encode(s, slen, sig);
	return 0;
}

int
dkim_sign(const struct dkim_key *k, const char *domain,
    const char *selector, time_t now, const char *msg, size_t len,
    struct buf *out, struct buf *err)
{
	struct mail m;
	struct buf body = BUF_INIT, bh = BUF_INIT, h = BUF_INIT;
	struct buf data = BUF_INIT, sig = BUF_INIT;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	int rc = -1;

	mail_parse(msg, len, &m);
	dkim_canon_body(m.body, m.body_len, &body);
	if (!EVP_Digest(body.data != NULL ? body.data : "", body.len, digest,
	    &dlen, EVP_sha256(), NULL)) {
		ssl_reason(err, "body hash");
		goto out;
	}
	base64_encode(digest, dlen, &bh);
	signed_names(&m, &h);
	buf_reset(out);
	buf_printf(out, "DKIM-Signature: v=1; a=%s; c=relaxed/relaxed;\n"
	    "\td=%s; s=%s; t=%lld;\n\th=", dkim_key_algorithm(k), domain,
	    selector, (long long)now);
	append_names_folded(out, h.data);
	buf_printf(out, ";\n\tbh=%s;\n\tb=", bh.data);
	dkim_signed_fields(&m, h.data, false, &data);
	dkim_canon_header(out->data, out->len, &data);
	data.len -= 2;          /* RFC 6376 3.7: without the final CRLF */
	if (sign_bytes(k, &data, &sig, err) < 0)
		goto out;
	append_folded(out, sig.data, sig.len);
	buf_append_str(out, "\n");
	rc = 0;
out:
	mail_free(&m);
	buf_free(&body);
	buf_free(&bh);
	buf_free(&h);
	buf_free(&data);
	buf_free(&sig);
	return rc;
}
