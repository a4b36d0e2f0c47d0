/*
 * mbox.h - conversion of an mbox spool (as /var/mail files written by
 * qpopper, UW popper, procmail or a local MDA) into a Maildir, for
 * dmail-user import-mbox.
 *
 * Messages are separated by "From " lines at the start of the file or
 * after an empty line; that empty line belongs to the separator. One
 * '>' is removed from lines of the form ">From ", ">>From " ... (mboxrd
 * and mboxo quoting). The "From " line itself is dropped. The UW IMAP
 * pseudo-message ("FOLDER INTERNAL DATA", X-IMAP header) is skipped.
 *
 * POP3 clients that leave mail on the server remember UIDLs: a message
 * with an X-UIDL header whose value is 1 to 70 characters in 0x21..0x7E
 * without '/', ':' or ',' keeps it in a ",U=" field of its new Maildir
 * name, which dmail-pop3d reports as its UIDL (pop3d/maildrop.c); the
 * name itself is a new unique one, so the messages keep the mbox's
 * order. A message whose X-UIDL is already the UIDL of a message of the
 * Maildir is skipped, so running the import again after an interruption
 * adds nothing twice; the same X-UIDL twice in one mbox: the second gets
 * no ",U=" (a new UIDL).
 * "Status:" with R (read) puts the message in cur/ as seen (":2,S"),
 * with O only in cur/ unseen; without Status it goes to new/.
 *
 * Each message is written to tmp/, fsync'd, closed and renamed into
 * new/ or cur/; both directories are fsync'd before mbox_import()
 * returns. The mbox is only read. Lines are read in bounded chunks, so
 * no line length or message size needs memory.
 *
 * mbox_import() returns 0, or -1 with the reason in err (the messages
 * already moved stay; a new run skips those with an X-UIDL). Nothing is
 * logged and nothing is fatal.
 */
#ifndef DMAIL_MBOX_H
#define DMAIL_MBOX_H

#include "buf.h"

struct mbox_result {
	unsigned messages;      /* stored in the Maildir */
	unsigned uidl_kept;     /* of these, stored under their X-UIDL */
	unsigned seen;          /* of these, marked seen (Status: R) */
	unsigned skipped;       /* X-UIDL already in the Maildir */
};

/* Reads the mbox from fd (opened by the caller, perhaps before dropping
 * privileges; closed here). */
int mbox_import(int fd, const char *maildir, const char *hostname,
    struct mbox_result *r, struct buf *err);

#endif
