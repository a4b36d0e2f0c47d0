/*
 * dnsbl.c - DNS blocklist sites and look-ups (see dnsbl.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "dnsbl.h"
#include "util.h"

/* "127.0.0.2,127.0.0.3" into s->codes; -1 when malformed. */
static int
parse_codes(char *list, struct dnsbl_site *s)
{
	for (char *tok = strtok(list, ","); tok != NULL;
	     tok = strtok(NULL, ",")) {
		struct in_addr a;

		if (s->ncodes >= DNSBL_CODES_MAX ||
		    inet_pton(AF_INET, tok, &a) != 1)
			return -1;
		s->codes[s->ncodes++] = a.s_addr;
	}
	return s->ncodes > 0 ? 0 : -1;
}

/* One word ZONE[=codes][*weight]. */
static int
parse_site(char *w, struct dnsbl_site *s, struct buf *err)
{
	char *star = strrchr(w, '*'), *eq, *end;

	memset(s, 0, sizeof(*s));
	s->weight = 1;
	if (star != NULL) {
		*star++ = '\0';
		s->weight = (unsigned)strtoul(star, &end, 10);
		if (*star < '0' || *star > '9' || *end != '\0' ||
		    strlen(star) > 4) {
			buf_printf(err, "'%s': bad weight", star);
			return -1;
		}
	}
	if ((eq = strchr(w, '=')) != NULL) {
		*eq++ = '\0';
		if (parse_codes(eq, s) < 0) {
			buf_printf(err, "'%s': bad reply addresses", eq);
			return -1;
		}
	}
	str_lower(w);
	if (!addr_valid_domain(w, strlen(w), false) ||
	    strlen(w) > DNS_NAME_MAX - 64) {
		buf_printf(err, "'%s' is not a zone", w);
		return -1;
	}
	memcpy(s->zone, w, strlen(w) + 1);
	return 0;
}

int
dnsbl_parse_sites(const char *text, struct dnsbl_site **out,
    size_t *count, struct buf *err)
{
	char *copy = xstrdup(text), *save = NULL;
	int rc = 0;

	*out = xcalloc(DNSBL_SITES_MAX, sizeof(**out));
	*count = 0;
	for (char *w = strtok_r(copy, " \t", &save); w != NULL && rc == 0;
	     w = strtok_r(NULL, " \t", &save)) {
		if (*count >= DNSBL_SITES_MAX) {
			buf_printf(err, "more than %d sites", DNSBL_SITES_MAX);
			rc = -1;
		} else if (parse_site(w, &(*out)[*count], err) == 0) {
			(*count)++;
		} else {
			rc = -1;
		}
	}
	free(copy);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*count = 0;
	}
	return rc;
}

int
dnsbl_query_name(const struct sockaddr *ip, const char *zone,
    struct buf *out)
{
	buf_reset(out);
	if (ip->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ip;
		const uint8_t *a = s6->sin6_addr.s6_addr;

		if (!IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			for (int i = 15; i >= 0; i--)
				buf_printf(out, "%x.%x.", a[i] & 0xf, a[i] >> 4);
			buf_append_str(out, zone);
			return 0;
		}
		buf_printf(out, "%u.%u.%u.%u.%s", a[15], a[14], a[13], a[12],
		    zone);
		return 0;
	}
	if (ip->sa_family == AF_INET) {
		const uint8_t *a = (const uint8_t *)
		    &((const struct sockaddr_in *)(const void *)ip)->sin_addr;

		buf_printf(out, "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0],
		    zone);
		return 0;
	}
	return -1;
}

/* Does an answer list ip in site (per its reply filter)? The first
 * matching answer into code. */
static bool
listed_by(const struct dnsbl_site *s, const struct dns_addr *a, size_t n,
    uint32_t *code)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t v = ((const struct sockaddr_in *)
		    (const void *)&a[i].ss)->sin_addr.s_addr;

		if (s->ncodes == 0) {
			*code = v;
			return true;
		}
		for (size_t j = 0; j < s->ncodes; j++)
			if (s->codes[j] == v) {
				*code = v;
				return true;
			}
	}
	return false;
}

unsigned
dnsbl_score(struct dns_resolver *r, const struct dnsbl_site *sites,
    size_t count, const struct sockaddr *ip, struct buf *listed)
{
	struct buf name = BUF_INIT, err = BUF_INIT;
	unsigned score = 0;

	buf_reset(listed);
	for (size_t i = 0; i < count; i++) {
		struct dns_addr *a = NULL;
		size_t n = 0;
		uint32_t code;
		char text[INET_ADDRSTRLEN];

		if (dnsbl_query_name(ip, sites[i].zone, &name) < 0)
			break;
		buf_reset(&err);
		if (dns_addrs_family(r, name.data, AF_INET, &a, &n, &err) ==
		    DNS_OK && listed_by(&sites[i], a, n, &code)) {
			score += sites[i].weight;
			inet_ntop(AF_INET, &code, text, sizeof(text));
			buf_printf(listed, "%s%s=%s", listed->len ? "," : "",
			    sites[i].zone, text);
		}
		free(a);
	}
	buf_free(&name);
	buf_free(&err);
	return score;
}
