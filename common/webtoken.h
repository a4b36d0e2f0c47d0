/*
 * webtoken.h - the bearer tokens of the web manager's API (webd/,
 * man dmail-webd): created by "dmail-user token create", checked by
 * dmail-webd. Also the random and hash helpers the web manager's
 * sessions use.
 *
 * A token is "dmt_" and 48 lower-case hex digits from getrandom(2). It
 * is shown once at creation and stored only as its SHA-256, one line
 * per token in state_dir/db/web-tokens (mode 0600, owned by run_as):
 *
 *     SHA256HEX SCOPE CREATED-UNIX-TIME
 *
 * SCOPE is "admin" (everything) or "list:LIST@DOMAIN" (that list's
 * settings, members and moderation only). Lines that do not parse are
 * ignored. Writers replace the file durably (write_file_durable) under
 * an flock of web-tokens.lock.
 *
 * Returns: webtoken_create() 0 (token and its scope stored) or -1 with
 * err; webtoken_check() 1 (scope filled), 0 unknown token, -1 the file
 * cannot be read (err). Nothing is fatal except getrandom() failing.
 */
#ifndef DMAIL_WEBTOKEN_H
#define DMAIL_WEBTOKEN_H

#include <stddef.h>

#include "buf.h"
#include "conf.h"

#define WEBTOKEN_PREFIX "dmt_"
#define WEBTOKEN_RANDOM 24       /* bytes: 48 hex digits */
#define WEBTOKEN_FILE_MAX (1024 * 1024)

int webtoken_create(const struct dmail_conf *conf, const char *scope,
    struct buf *token, struct buf *err);
int webtoken_check(const struct dmail_conf *conf, const char *token,
    struct buf *scope, struct buf *err);

/* 2 * nbytes lower-case hex digits from getrandom(2) into out (room for
 * 2 * nbytes + 1). Fatal when the kernel gives no randomness. */
void random_hex(char *out, size_t nbytes);
/* SHA-256 of s as 64 hex digits and a NUL. */
void sha256_hex(const char *s, char out[65]);

#endif
