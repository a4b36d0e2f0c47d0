/*
 * psl.h - the public suffix list (Debian's publicsuffix package,
 * /usr/share/publicsuffix/public_suffix_list.dat) and the organizational
 * domain of RFC 7489 3.2 that DMARC aligns on.
 *
 * Rules as the list's own format says (publicsuffix.org/list): a rule
 * per line, "//" comments, "*." wildcards, "!" exceptions; both the
 * ICANN and the private sections are used; the implicit rule "*"
 * applies when none matches (so "example.test" is the organizational
 * domain of "mail.example.test"). Loaded once per process into a
 * sorted array, looked up by binary search. Nothing is logged or fatal.
 */
#ifndef DMAIL_PSL_H
#define DMAIL_PSL_H

#include <stddef.h>

#include "buf.h"

#define PSL_DEFAULT_PATH "/usr/share/publicsuffix/public_suffix_list.dat"

struct psl;

/* NULL with err filled when the file cannot be read. */
struct psl *psl_load(const char *path, struct buf *err);
/* From text in memory (tests, fuzzing). Never fails. */
struct psl *psl_parse(const char *text, size_t len);
void psl_free(struct psl *p);
/* The organizational domain of domain (lower case, no final dot) into
 * out: the public suffix plus one label; domain itself when it is a
 * public suffix. psl NULL: only the implicit rule "*". */
void psl_org_domain(const struct psl *p, const char *domain,
    struct buf *out);

#endif
