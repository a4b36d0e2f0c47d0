/*
 * quota.c - mailbox quota decisions and the warning state (quota.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"
#include "quota.h"
#include "util.h"

enum quota_verdict
quota_check(const char *mailbox, const struct quota *q, uint64_t size,
    uint64_t *used)
{
	uint64_t bytes, msgs;

	*used = 0;
	if (q->bytes == 0 && q->messages == 0)
		return QUOTA_OK;
	if (q->bytes != 0 && size > q->bytes)
		return QUOTA_TOO_BIG;
	if (maildir_usage(mailbox, &bytes, &msgs) < 0)
		return QUOTA_UNKNOWN;
	*used = bytes;
	if ((q->bytes != 0 && (bytes >= q->bytes || bytes + size > q->bytes)) ||
	    (q->messages != 0 && msgs >= q->messages))
		return QUOTA_FULL;
	return QUOTA_OK;
}

void
quota_reply(enum quota_verdict v, const char *address,
    struct smtp_reply *reply)
{
	if (v == QUOTA_TOO_BIG)
		smtp_reply_set(reply, 552, "5.2.2", "<%s>: message larger "
		    "than the mailbox quota", address);
	else
		smtp_reply_set(reply, 452, "4.2.2", "<%s>: mailbox full",
		    address);
}

int
quota_is_refusal(const struct smtp_reply *reply)
{
	return (reply->code == 452 && strcmp(reply->enhanced, "4.2.2") == 0) ||
	    (reply->code == 552 && strcmp(reply->enhanced, "5.2.2") == 0);
}

int
quota_warning_due(const char *mailbox, uint64_t used, const struct quota *q,
    unsigned percent)
{
	struct buf path = BUF_INIT;
	bool above;
	int rc = 0, fd;

	if (percent == 0 || q->bytes == 0)
		return 0;
	/* used * 100 cannot overflow for any real mailbox: 2^57 bytes. */
	above = used >= UINT64_MAX / 100 || used * 100 >= q->bytes * percent;
	buf_printf(&path, "%s/%s", mailbox, QUOTA_WARNED_FILE);
	if (!above) {
		if (unlink(path.data) < 0 && errno != ENOENT)
			rc = -1;
	} else {
		fd = open(path.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
		if (fd >= 0) {
			close(fd);
			rc = 1;
		} else if (errno != EEXIST) {
			rc = -1;
		}
	}
	buf_free(&path);
	return rc;
}

void
quota_warning_compose(const char *hostname, const char *account,
    uint64_t used, const struct quota *q, struct buf *out)
{
	const char *at = strrchr(account, '@');
	struct buf v = BUF_INIT;
	unsigned pct = (unsigned)(q->bytes > 0 ? used * 100 / q->bytes : 0);

	rfc5322_date(time(NULL), false, &v);
	buf_printf(out, "Date: %s\n", v.data);
	buf_printf(out, "From: Mail Delivery System <postmaster@%s>\n",
	    at != NULL ? at + 1 : hostname);
	buf_printf(out, "To: <%s>\n", account);
	buf_printf(out, "Subject: Your mailbox is %u%% full\n", pct);
	buf_reset(&v);
	message_id(hostname, &v);
	buf_printf(out, "Message-ID: %s\n", v.data);
	buf_append_str(out, "MIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Auto-Submitted: auto-generated\n\n");
	buf_printf(out, "Your mailbox %s uses %" PRIu64 " of its %" PRIu64
	    " bytes (%u%%).\nWhen it is full, new mail is refused or held "
	    "back.\nPlease delete or download old messages.\n", account, used,
	    q->bytes, pct);
	buf_free(&v);
}
