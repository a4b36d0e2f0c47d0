/*
 * dns.h - the DNS look-ups DMail needs: MX records (RFC 5321 5.1, null
 * MX RFC 7505) and the A/AAAA addresses of a host for outbound SMTP, TXT
 * records for DMARC, SPF and DKIM keys, A records for SPF and DNS
 * blocklists (dns_addrs_family()), through
 * the system's stub resolver (res_nquery) on a private resolver state.
 * Answers come from whatever server answers: the one parser in dns.c
 * checks every length against the message and refuses a malformed one.
 *
 * dns_open(path) reads the system resolver configuration, then, when
 * path is not NULL (config key resolv_conf), the named file in
 * resolv.conf format, whose lines replace the system name servers:
 *
 *     nameserver 127.0.0.1 5353     IPv4 address, optional port (an
 *                                   extension: glibc has none)
 *     options timeout:1 attempts:2  per-try timeout and tries
 *
 * glibc offers no way to point res_ninit() at another file, so the file
 * is parsed here and the state's nsaddr_list filled in (glibc honours an
 * application-set list). Only IPv4 name servers are supported there;
 * other lines are ignored.
 *
 * Results: DNS_OK, or
 *   DNS_NOTFOUND  the name does not exist (NXDOMAIN): permanent
 *   DNS_NODATA    the name exists but has no record of that type
 *                 (for MX and TXT also: an answer without such records)
 *   DNS_NULLMX    the only MX is "0 ." (RFC 7505): accepts no mail
 *   DNS_TEMPFAIL  timeout, SERVFAIL, malformed answer: try again later
 * with a reason in err for everything but DNS_OK.
 */
#ifndef DMAIL_DNS_H
#define DMAIL_DNS_H

#include <stddef.h>
#include <sys/socket.h>

#include "buf.h"

#define DNS_NAME_MAX 255
#define DNS_ANSWER_MAX 65536    /* a DNS message is at most 65535 bytes */
#define DNS_MAX_NS 3

enum dns_status {
	DNS_OK = 0,
	DNS_NOTFOUND,
	DNS_NODATA,
	DNS_NULLMX,
	DNS_TEMPFAIL,
};

struct dns_mx {
	unsigned pref;
	char host[DNS_NAME_MAX + 1];
};

struct dns_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Name servers and options parsed from a resolv.conf-format text. */
struct dns_servers {
	struct sockaddr_storage ns[DNS_MAX_NS];
	size_t count;
	int timeout;            /* seconds, -1 when not given */
	int attempts;           /* -1 when not given */
};

struct dns_resolver;

/* NULL with err filled when the file cannot be read or names no usable
 * server. */
struct dns_resolver *dns_open(const char *resolv_conf, struct buf *err);
void dns_close(struct dns_resolver *r);

/* MX records of domain, sorted: lowest preference first, equal
 * preferences in random order. *out is malloc'd (free()). */
enum dns_status dns_mx(struct dns_resolver *r, const char *domain,
    struct dns_mx **out, size_t *count, struct buf *err);
/* A and AAAA records of host (IPv4 first), each with the given port.
 * An IP address literal is returned as is without a query. */
enum dns_status dns_addrs(struct dns_resolver *r, const char *host,
    unsigned port, struct dns_addr **out, size_t *count, struct buf *err);

/* The A (family AF_INET) or AAAA (AF_INET6) records of host only, one
 * query, port 0 (SPF, DNS blocklists). *out is malloc'd (free()). */
enum dns_status dns_addrs_family(struct dns_resolver *r, const char *host,
    int family, struct dns_addr **out, size_t *count, struct buf *err);

/* TXT records of name, in answer order, each one's character-strings
 * joined into one text (RFC 7208 3.3, RFC 7489 6.6.3) in a struct buf:
 * len bytes, may hold NUL bytes, buf_cstr() ends it. At most the answer
 * (DNS_ANSWER_MAX bytes) in all. *out is malloc'd: dns_txt_free(). */
enum dns_status dns_txt(struct dns_resolver *r, const char *name,
    struct buf **out, size_t *count, struct buf *err);
void dns_txt_free(struct buf *txt, size_t count);

/* Exported for tests. */
int dns_parse_servers(const char *text, struct dns_servers *out,
    struct buf *err);
/* Parse the MX records of an answer; -1 when the message is malformed. */
int dns_parse_mx(const unsigned char *msg, int len, struct dns_mx **out,
    size_t *count);
/* Append the A (family AF_INET) or AAAA (AF_INET6) records of an answer
 * to *list, each with port; -1 when the message is malformed (records
 * parsed so far stay in *list). */
int dns_parse_addrs(const unsigned char *msg, int len, int family,
    unsigned port, struct dns_addr **list, size_t *count);
/* Parse the TXT records of an answer; -1 (nothing in *out) when the
 * message is malformed, including a TXT record that is empty or whose
 * strings do not fill its rdata exactly. */
int dns_parse_txt(const unsigned char *msg, int len, struct buf **out,
    size_t *count);
/* Sort by preference, shuffling ties with rnd() (random() if NULL). */
void dns_sort_mx(struct dns_mx *mx, size_t count, long (*rnd)(void));
/* True for the single "0 ." record of RFC 7505. */
int dns_is_null_mx(const struct dns_mx *mx, size_t count);

#endif
