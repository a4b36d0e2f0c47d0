/*
 * spf.h - SPF verification (RFC 7208) of a client, its HELO name and its
 * MAIL FROM address, with Debian's libspf2 when configure found it.
 *
 * libspf2 evaluates the records (mechanisms, macros, the 10-lookup
 * limit of RFC 7208 4.6.4: more is a permerror, so are loops through
 * include/redirect); its DNS questions are answered by a DNS layer of
 * ours (SPF_dns_server_t) that asks DMail's resolver (common/dns.h, so
 * resolv_conf and its timeouts apply, and the tests' DNS server
 * answers). The layer also bounds one check to SPF_QUERIES_MAX
 * questions and SPF_TIME_MAX_MS, whatever libspf2 asks (then
 * temperror): with the system resolver's 5 s timeout and 2 tries a
 * hostile record could otherwise hold a session for minutes. The ptr mechanism
 * (RFC 7208 5.5: "SHOULD NOT be used") is answered "no data": it never
 * matches. libspf2 answers pass for loopback clients (127.0.0.0/8,
 * ::1) without asking anything ("localhost is always allowed").
 *
 * Built without libspf2, spf_new() returns NULL and callers report no
 * SPF result. Nothing is logged or fatal here.
 */
#ifndef DMAIL_SPF_H
#define DMAIL_SPF_H

#include "buf.h"
#include "dns.h"

/* DNS questions one check may ask at most. */
#define SPF_QUERIES_MAX 30
/* Time one check may take; a question asked later fails at once. */
#define SPF_TIME_MAX_MS 20000

enum spf_result {
	SPF_NONE = 0,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

struct spf;

/* r is borrowed. NULL when DMail was built without libspf2. */
struct spf *spf_new(struct dns_resolver *r);
void spf_free(struct spf *s);
/* Check client_ip (text, IPv4 or IPv6) sending as sender ("" for <>:
 * then postmaster@helo, RFC 7208 2.4) after HELO helo. comment gets
 * libspf2's explanation (reset first). */
enum spf_result spf_check(struct spf *s, const char *client_ip,
    const char *helo, const char *sender, struct buf *comment);
/* "pass", "fail", ... as in Authentication-Results (RFC 8601 2.7.2). */
const char *spf_result_name(enum spf_result r);

#endif
