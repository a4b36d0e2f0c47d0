/*
 * addr.c - RFC 5321 Path / Mailbox parser (see addr.h).
 *
 * A single left-to-right pass over the input with no allocation; every
 * production of RFC 5321 4.1.2 (and the UTF-8 extensions of RFC 6531
 * 3.3) is one small function returning how many octets it matched.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "addr.h"

/* RFC 5322 atext, ASCII part. */
static bool
is_atext(unsigned char c)
{
	if (isalnum(c))
		return true;
	return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Length of one well-formed UTF-8 sequence of 2-4 octets at s, or 0
 * (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t
utf8_seq(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	size_t n, i;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (avail < n)
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (c == 0xe0 && s[1] < 0xa0)
		return 0;     /* overlong */
	if (c == 0xed && s[1] > 0x9f)
		return 0;     /* surrogate */
	if (c == 0xf0 && s[1] < 0x90)
		return 0;     /* overlong */
	if (c == 0xf4 && s[1] > 0x8f)
		return 0;     /* above U+10FFFF */
	return n;
}

/* Non-ASCII at s: length of the UTF-8 sequence if allowed, else 0 with
 * *needs_utf8 set when it was valid UTF-8 but SMTPUTF8 was not given. */
static size_t
utf8_char(const char *s, size_t avail, bool utf8, bool *needs_utf8)
{
	size_t n = utf8_seq((const unsigned char *)s, avail);

	if (n == 0)
		return 0;
	if (!utf8) {
		*needs_utf8 = true;
		return 0;
	}
	return n;
}

/* sub-domain = Let-dig [Ldh-str], or a U-label with SMTPUTF8. Returns
 * octets matched (0: none). */
static size_t
subdomain(const char *s, size_t len, bool utf8, bool *needs_utf8,
    bool *nonascii)
{
	size_t i = 0, n;
	bool last_hyphen = false;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (isalnum(c)) {
			last_hyphen = false;
			i++;
		} else if (c == '-' && i > 0) {
			last_hyphen = true;
			i++;
		} else if (c >= 0x80 &&
		    (n = utf8_char(s + i, len - i, utf8, needs_utf8)) > 0) {
			*nonascii = true;
			last_hyphen = false;
			i += n;
		} else {
			break;
		}
	}
	if (last_hyphen)
		return 0;
	return i;
}

/* Domain = sub-domain *("." sub-domain), matched at the start of s.
 * Returns octets matched, 0 if not a domain. */
static size_t
domain_len(const char *s, size_t len, bool utf8, bool *needs_utf8,
    bool *nonascii)
{
	size_t i = 0, n;

	for (;;) {
		n = subdomain(s + i, len - i, utf8, needs_utf8, nonascii);
		if (n == 0)
			return 0;
		i += n;
		if (i < len && s[i] == '.' && i + 1 < len) {
			i++;
			continue;
		}
		return i;
	}
}

bool
addr_valid_domain(const char *s, size_t len, bool utf8)
{
	bool needs = false, nonascii = false;

	if (len == 0 || len > ADDR_DOMAIN_MAX)
		return false;
	return domain_len(s, len, utf8, &needs, &nonascii) == len;
}

/* address-literal without the brackets: IPv4, "IPv6:...", or a general
 * literal "tag:dcontent". */
bool
addr_valid_literal(const char *s, size_t len)
{
	char tmp[ADDR_DOMAIN_MAX + 1];
	unsigned char bin[16];
	size_t i, colon;

	if (len == 0 || len > ADDR_DOMAIN_MAX)
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (strncasecmp(tmp, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, tmp + 5, bin) == 1;
	if (isdigit((unsigned char)tmp[0]) && strchr(tmp, ':') == NULL) {
		/* IPv4: four decimal octets, no leading junk. */
		return inet_pton(AF_INET, tmp, bin) == 1;
	}
	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	for (colon = 0; colon < len && tmp[colon] != ':'; colon++)
		if (!isalnum((unsigned char)tmp[colon]) && tmp[colon] != '-')
			return false;
	if (colon == 0 || colon == len || colon + 1 == len ||
	    tmp[colon - 1] == '-')
		return false;
	for (i = colon + 1; i < len; i++) {
		unsigned char c = (unsigned char)tmp[i];
		if (!(c >= 33 && c <= 90) && !(c >= 94 && c <= 126))
			return false;
	}
	return true;
}

/* Dot-string = Atom *("." Atom); returns octets matched or 0. */
static size_t
dot_string(const char *s, size_t len, bool utf8, bool *needs_utf8,
    bool *nonascii)
{
	size_t i = 0, n, atom;

	for (;;) {
		atom = 0;
		while (i < len) {
			unsigned char c = (unsigned char)s[i];
			if (is_atext(c)) {
				i++;
				atom++;
			} else if (c >= 0x80 && (n = utf8_char(s + i,
			    len - i, utf8, needs_utf8)) > 0) {
				*nonascii = true;
				i += n;
				atom++;
			} else {
				break;
			}
		}
		if (atom == 0)
			return 0;
		if (i < len && s[i] == '.') {
			i++;
			continue;
		}
		return i;
	}
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE; returns octets or 0. */
static size_t
quoted_string(const char *s, size_t len, bool utf8, bool *needs_utf8,
    bool *nonascii)
{
	size_t i = 1, n;

	if (len < 2 || s[0] != '"')
		return 0;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"')
			return i + 1;
		if (c == '\\') {
			unsigned char q;
			if (i + 1 >= len)
				return 0;
			q = (unsigned char)s[i + 1];
			if (q >= 32 && q <= 126) {
				i += 2;
				continue;
			}
			return 0;
		}
		if (c >= 32 && c <= 126) {
			i++;
		} else if (c >= 0x80 &&
		    (n = utf8_char(s + i, len - i, utf8, needs_utf8)) > 0) {
			*nonascii = true;
			i += n;
		} else {
			return 0;
		}
	}
	return 0;
}

/* At-domain list "@a,@b:" (A-d-l); returns octets including ':' or 0. */
static size_t
source_route(const char *s, size_t len, bool utf8, bool *needs_utf8)
{
	size_t i = 0, n;
	bool nonascii = false;

	for (;;) {
		if (i >= len || s[i] != '@')
			return 0;
		i++;
		n = domain_len(s + i, len - i, utf8, needs_utf8, &nonascii);
		if (n == 0)
			return 0;
		i += n;
		if (i < len && s[i] == ',') {
			i++;
			continue;
		}
		if (i < len && s[i] == ':')
			return i + 1;
		return 0;
	}
}

/*
 * A quoted local part whose content, without its quoted-pairs, is a
 * Dot-string names the same mailbox as that Dot-string (RFC 5321 4.1.2,
 * RFC 5322 3.4.1): "alice"@example.com is alice@example.com. Rewrite it
 * in place so that lookups and logs see one spelling; a local part that
 * needs its quotes ("john doe") stays as written.
 */
static void
unquote_local(struct mailbox *mb, bool utf8)
{
	char plain[ADDR_LOCAL_MAX + 1];
	bool needs = false, nonascii = false;
	size_t i, n = 0, dlen;

	for (i = 1; i + 1 < mb->local_len; i++) {
		if (mb->addr[i] == '\\')
			i++;
		plain[n++] = mb->addr[i];
	}
	if (n == 0 || dot_string(plain, n, utf8, &needs, &nonascii) != n ||
	    needs)
		return;
	dlen = strlen(mb->domain);
	memcpy(mb->addr, plain, n);
	mb->addr[n] = '@';
	memmove(mb->addr + n + 1, mb->domain, dlen + 1);
	mb->local_len = n;
	mb->domain = mb->addr + n + 1;
}

enum addr_status
addr_parse_path(const char *s, unsigned flags, struct mailbox *mb,
    const char **end)
{
	bool utf8 = (flags & ADDR_UTF8) != 0;
	bool needs = false, nonascii = false;
	const char *close, *p;
	size_t len, n, local, dlen;

	memset(mb, 0, sizeof(*mb));
	mb->domain = mb->addr;
	if (s[0] != '<')
		return ADDR_SYNTAX;
	/* The closing '>' is the first one outside a quoted string. */
	for (p = s + 1; *p != '\0' && *p != '>'; p++) {
		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
			if (*p == '\0')
				return ADDR_SYNTAX;
		}
	}
	if (*p != '>')
		return ADDR_SYNTAX;
	close = p;
	if ((size_t)(close - s) + 1 > ADDR_PATH_MAX)
		return ADDR_PATH_TOOLONG;
	p = s + 1;
	len = (size_t)(close - p);
	if (end != NULL)
		*end = close + 1;

	if (len == 0) {
		if (!(flags & ADDR_ALLOW_NULL))
			return ADDR_SYNTAX;
		mb->null = true;
		return ADDR_OK;
	}
	if (p[0] == '@') {
		n = source_route(p, len, utf8, &needs);
		if (n == 0)
			return needs ? ADDR_NEEDS_UTF8 : ADDR_SYNTAX;
		p += n;
		len -= n;
	}
	if ((flags & ADDR_ALLOW_POSTMASTER) && len == 10 &&
	    strncasecmp(p, "postmaster", 10) == 0) {
		memcpy(mb->addr, p, len);
		mb->addr[len] = '\0';
		mb->local_len = len;
		mb->domain = mb->addr + len;
		mb->postmaster = true;
		return ADDR_OK;
	}
	if (p[0] == '"')
		local = quoted_string(p, len, utf8, &needs, &nonascii);
	else
		local = dot_string(p, len, utf8, &needs, &nonascii);
	if (local == 0 || local >= len || p[local] != '@')
		return needs ? ADDR_NEEDS_UTF8 : ADDR_SYNTAX;
	dlen = len - local - 1;
	if (dlen == 0)
		return ADDR_SYNTAX;
	if (p[local + 1] == '[') {
		if (p[len - 1] != ']' ||
		    !addr_valid_literal(p + local + 2, dlen - 2))
			return ADDR_SYNTAX;
	} else if (domain_len(p + local + 1, dlen, utf8, &needs,
	    &nonascii) != dlen) {
		return needs ? ADDR_NEEDS_UTF8 : ADDR_SYNTAX;
	}
	if (needs)
		return ADDR_NEEDS_UTF8;
	if (local > ADDR_LOCAL_MAX)
		return ADDR_LOCAL_TOOLONG;
	if (dlen > ADDR_DOMAIN_MAX)
		return ADDR_DOMAIN_TOOLONG;
	memcpy(mb->addr, p, len);
	mb->addr[len] = '\0';
	mb->local_len = local;
	mb->domain = mb->addr + local + 1;
	mb->utf8 = nonascii;
	if (p[0] == '"')
		unquote_local(mb, utf8);
	return ADDR_OK;
}

const char *
addr_status_str(enum addr_status st)
{
	switch (st) {
	case ADDR_OK:
		return "ok";
	case ADDR_SYNTAX:
		return "address syntax error";
	case ADDR_LOCAL_TOOLONG:
		return "local part too long";
	case ADDR_DOMAIN_TOOLONG:
		return "domain too long";
	case ADDR_PATH_TOOLONG:
		return "path too long";
	case ADDR_NEEDS_UTF8:
		return "non-ASCII address requires SMTPUTF8";
	}
	return "?";
}
