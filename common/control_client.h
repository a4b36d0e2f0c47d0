/*
 * control_client.h - one request to the master's control socket (the
 * protocol is in master/master.h): connect, send one line, read the whole
 * answer until the master closes. Used by tellsmtp and by the web manager
 * (webd/), so a reload from the browser and one from a shell are the same
 * request.
 *
 * control_request() returns 0 when the master answered (reply holds the
 * answer, "+OK ..." or "-ERR ..." and its detail lines), or when it could
 * not be reached or did not answer in time one of the negative codes
 * below, with a sentence in err ("dmaild is not running (PATH: No such
 * file or directory)"). The answer is at most CONTROL_REPLY_MAX bytes.
 * Nothing is fatal.
 */
#ifndef DMAIL_CONTROL_CLIENT_H
#define DMAIL_CONTROL_CLIENT_H

#include <stdbool.h>

#include "buf.h"

#define CONTROL_TIMEOUT_MS 30000
#define CONTROL_REPLY_MAX (4 * 1024 * 1024)

#define CONTROL_FAILED -1       /* not running, no answer, timeout */
#define CONTROL_NO_RIGHTS -2    /* connect(2): EACCES or EPERM */
#define CONTROL_BAD_PATH -3     /* path too long for a unix socket */

/* line without its LF. */
int control_request(const char *socket_path, const char *line,
    struct buf *reply, struct buf *err);
/* True when reply starts with "+OK". */
bool control_reply_ok(const struct buf *reply);

#endif
