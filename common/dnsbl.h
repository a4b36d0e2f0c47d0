/*
 * dnsbl.h - DNS blocklists (RFC 5782) asked when a client connects.
 *
 * dnsbl_zones is a list of sites in Postfix's postscreen_dnsbl_sites
 * form:
 *
 *     ZONE[=ADDR,ADDR...][*WEIGHT]
 *
 * ZONE a domain; the optional addresses are the answers (127.0.0.x)
 * that count as a listing (default: any A record); WEIGHT (default 1)
 * is what a listing adds to the client's score. A client whose score
 * reaches dnsbl_threshold is refused. IPv4 clients are looked up as
 * d.c.b.a.ZONE, IPv6 clients as their 32 nibbles reversed (RFC 5782
 * 2.4). Queries go through DMail's resolver (dns.h), one A query per
 * site, each bounded by its timeouts; a site that does not answer
 * counts as not listing. Nothing is logged or fatal here.
 */
#ifndef DMAIL_DNSBL_H
#define DMAIL_DNSBL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "dns.h"

#define DNSBL_SITES_MAX 32
#define DNSBL_CODES_MAX 16

struct dnsbl_site {
	char zone[DNS_NAME_MAX + 1];
	uint32_t codes[DNSBL_CODES_MAX];    /* network order; none: any */
	size_t ncodes;
	unsigned weight;
};

/* Parse the dnsbl_zones words; *out malloc'd (free()). 0, or -1 with
 * the reason in err. */
int dnsbl_parse_sites(const char *text, struct dnsbl_site **out,
    size_t *count, struct buf *err);
/* The score of ip over the sites; the listing sites ("zone=127.0.0.2")
 * comma-separated into listed (reset first). */
unsigned dnsbl_score(struct dns_resolver *r, const struct dnsbl_site *sites,
    size_t count, const struct sockaddr *ip, struct buf *listed);
/* The query name of ip in zone into out (reset first); -1 when ip is
 * neither IPv4 nor IPv6. */
int dnsbl_query_name(const struct sockaddr *ip, const char *zone,
    struct buf *out);

#endif
