/*
 * outgoing.h - what DMail does to mail its own users send, before the
 * message is made durable: the Date: and Message-ID: fields a message
 * lacks (as Postfix's cleanup adds them) and the DKIM signature of the
 * From: domain (dkim_sign keys, common/dkim.h).
 *
 * Used by dmail-smtpd for authenticated sessions (smtpd/smtp_checks.c)
 * and by the maildrop pickup (deliver_maildrop(), mail of local
 * programs through dmail-sendmail). The table of keys is loaded once per
 * worker process (outgoing_new(), at worker start); a key that cannot
 * be loaded fails it, so the worker refuses to run with the reason
 * (dmaild refuses such a configuration before that: conf.c loads every
 * key once when it reads dmail.conf).
 *
 * Key choice: the key of the From: address's domain, else of its parent
 * domains (a key for example.org signs mail from lists.example.org), the
 * closest one first; d= is the domain of that key.
 *
 * Nothing is fatal and nothing is logged here: errors are returned.
 */
#ifndef DMAIL_OUTGOING_H
#define DMAIL_OUTGOING_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "conf.h"

struct outgoing;

/* Load every dkim_sign key of conf (none: an empty table). NULL with
 * "DOMAIN: reason" in err when a key cannot be loaded. */
struct outgoing *outgoing_new(const struct dmail_conf *conf,
    struct buf *err);
void outgoing_free(struct outgoing *og);
/* Number of signing keys. */
size_t outgoing_keys(const struct outgoing *og);

/* The first address of the From: field of msg[0..len), lower-cased,
 * into addr; false when there is none. */
bool outgoing_from_address(const char *msg, size_t len, struct buf *addr);

/* What outgoing_prepare() did, for the log line. */
struct outgoing_result {
	bool added_date, added_message_id;
	char signed_domain[256];     /* d= of the signature, "" unsigned */
};

/*
 * The header fields to put on top of msg[0..len) (LF or CRLF lines) into
 * top (reset first), each ending in LF: with add_missing, a Date: and/or
 * Message-ID: when the message has none; then, above them, the
 * DKIM-Signature when a key matches the From: domain (the signature
 * covers the added fields). Returns 0, or -1 when signing failed (err
 * says why; top still holds the added Date:/Message-ID: and the message
 * may go out unsigned).
 */
int outgoing_prepare(const struct outgoing *og, const char *hostname,
    const char *msg, size_t len, bool add_missing, struct buf *top,
    struct outgoing_result *res, struct buf *err);

#endif
