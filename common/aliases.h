/*
 * aliases.h - recipient rewriting: "alias" and "forward" lines of
 * dmail.conf and the compiled aliases file (aliases_file + ".db", a
 * Berkeley DB hash built by dmail-newaliases; text format in aliases(5)).
 *
 * Lookup order for an address local@domain (keys compared lower-case):
 *     1. forward local@domain          (dmail.conf)
 *     2. alias   local@domain          (dmail.conf)
 *     3. alias   local                 (dmail.conf; only if domain is local)
 *     4. local@domain in the .db file
 *     5. local in the .db file         (only if domain is local)
 *     6. local@domain in the directory (userdb_backend ldap or pgsql,
 *        after aliases_set_userdb; only if domain is local)
 * "domain is local": in local_domains, or a domain of the directory
 * (userdb_local_domain()). The local files come first, as the first
 * tables of Postfix's virtual_alias_maps do: a node can override a
 * directory alias, and the directory is asked only about addresses the
 * files do not know. The first hit gives a comma separated list of targets. A target
 * without '@' means that local part in the domain of the address being
 * expanded. Targets are expanded again (recursively): an address that is
 * already being expanded further up the same chain is taken literally
 * (so "bob: bob, bob@elsewhere.test" keeps a copy in bob's own mailbox,
 * and a loop a -> b -> a ends at the account "a"), nesting deeper than
 * ALIAS_DEPTH_MAX or more than ALIAS_TARGETS_MAX final targets is an
 * error. Final targets are de-duplicated (case-insensitively).
 */
#ifndef DMAIL_ALIASES_H
#define DMAIL_ALIASES_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "conf.h"

#define ALIAS_DEPTH_MAX 16
#define ALIAS_TARGETS_MAX 1000
#define ALIAS_LINE_MAX 65536

struct aliases;
struct userdb;

struct alias_result {
	char **targets;          /* final addresses */
	size_t count;
	bool rewritten;          /* some alias or forward applied */
};

/* Never fails: the .db file (if configured) is opened on first use and
 * re-opened when dmail-newaliases replaced it. */
struct aliases *aliases_new(const struct dmail_conf *conf);
void aliases_free(struct aliases *a);
/* Also look in (and decide local domains with) the directory behind
 * udb (steps 6 above); udb must outlive a. NULL: the files only. */
void aliases_set_userdb(struct aliases *a, struct userdb *udb);

/* Expand address into out (out is reset first). Returns 0, -1 on a
 * temporary failure (the .db cannot be read: answer 4xx), -2 on a
 * permanent one (nesting too deep, too many targets). err says why. */
int aliases_expand(struct aliases *a, const char *address,
    struct alias_result *out, struct buf *err);
void alias_result_free(struct alias_result *r);

/* One lookup without recursion (steps 1-6 above). 1 found (value set),
 * 0 not found, -1 database or directory failure. */
int aliases_lookup(struct aliases *a, const char *address,
    struct buf *value, struct buf *err);

/* Parse the text format (see aliases(5)): calls fn(name, targets, line,
 * arg) for each entry, names lower-cased, targets normalised to
 * "a, b, c". Stops when fn returns non-zero. Returns 0, or -1 with
 * "NAME:LINE: message" lines appended to err. */
int aliases_parse_text(const char *name, const char *text, size_t len,
    int (*fn)(const char *alias, const char *targets, unsigned line,
    void *arg), void *arg, struct buf *err);

/* Compile source into dest (normally source + ".db"): Berkeley DB hash
 * written to a temporary file, fsync'd, renamed over dest, directory
 * fsync'd. *count gets the number of aliases. 0 or -1 (err filled). */
int aliases_compile(const char *source, const char *dest, size_t *count,
    struct buf *err);

#endif
