/*
 * dsn.c - RFC 3464 delivery status notifications, the RFC 3461 NOTIFY
 * vocabulary and the reader of an original message (see dsn.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dsn.h"
#include "util.h"

/* Bytes read from the original per pread(). */
#define DSN_READ_CHUNK 65536

static const struct {
	const char *word;
	unsigned bit;
} notify_words[] = {
	{ "NEVER", DSN_NOTIFY_NEVER },
	{ "SUCCESS", DSN_NOTIFY_SUCCESS },
	{ "FAILURE", DSN_NOTIFY_FAILURE },
	{ "DELAY", DSN_NOTIFY_DELAY },
};

int
dsn_notify_parse(const char *list, unsigned *flags)
{
	const char *p = list;
	unsigned f = DSN_NOTIFY_GIVEN;
	int rc = 0;

	for (;;) {
		size_t n = strcspn(p, ","), k;

		for (k = 0; k < sizeof(notify_words) / sizeof(notify_words[0]);
		    k++)
			if (strlen(notify_words[k].word) == n &&
			    strncasecmp(p, notify_words[k].word, n) == 0)
				break;
		if (k < sizeof(notify_words) / sizeof(notify_words[0]))
			f |= notify_words[k].bit;
		else
			rc = -1;        /* unknown or empty word */
		p += n;
		if (*p == '\0')
			break;
		p++;                    /* the comma */
	}
	/* RFC 3461 4.1: NEVER must not be combined with the others. */
	if ((f & DSN_NOTIFY_NEVER) && (f & DSN_NOTIFY_WORDS) != DSN_NOTIFY_NEVER)
		rc = -1;
	*flags = f;
	return rc;
}

const char *
dsn_notify_name(unsigned flags)
{
	/* Indexed by SUCCESS, FAILURE, DELAY as bits 0..2. */
	static const char *const names[] = { "", "SUCCESS", "FAILURE",
		"SUCCESS,FAILURE", "DELAY", "SUCCESS,DELAY", "FAILURE,DELAY",
		"SUCCESS,FAILURE,DELAY" };

	if (!(flags & DSN_NOTIFY_GIVEN))
		return "";
	if (flags & DSN_NOTIFY_NEVER)
		return "NEVER";
	return names[((flags & DSN_NOTIFY_SUCCESS) ? 1 : 0) |
	    ((flags & DSN_NOTIFY_FAILURE) ? 2 : 0) |
	    ((flags & DSN_NOTIFY_DELAY) ? 4 : 0)];
}

int
dsn_read_original(const char *path, off_t offset, bool ret_full,
    struct buf *out)
{
	size_t max = ret_full ? (size_t)DSN_FULL_MAX + 1 : DSN_HEADERS_MAX;
	size_t start = out->len;
	char chunk[DSN_READ_CHUNK];
	int fd = open(path, O_RDONLY | O_CLOEXEC), saved;
	ssize_t got;

	if (fd < 0)
		return -1;
	while (out->len - start < max) {
		size_t want = max - (out->len - start);

		got = pread(fd, chunk, want < sizeof(chunk) ? want :
		    sizeof(chunk), offset);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (got == 0)
			break;
		buf_append(out, chunk, (size_t)got);
		offset += got;
	}
	close(fd);
	return 0;
}

static const char *const action_names[] = { "failed", "delayed",
	"delivered" };

void
dsn_date(int64_t t, struct buf *out)
{
	rfc5322_date(t, true, out);
}

void
dsn_status(int code, const char *text, char *out)
{
	int cls = code / 100;
	const char *p = text;
	unsigned a, b, c;
	int n = 0;

	if (cls != 2 && cls != 4 && cls != 5)
		cls = 4;
	if (p != NULL) {
		/* Skip a leading "550 " or "550-" if the caller left it. */
		if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1])
		    && isdigit((unsigned char)p[2]) && (p[3] == ' ' ||
		    p[3] == '-'))
			p += 4;
		if (sscanf(p, "%1u.%3u.%3u%n", &a, &b, &c, &n) == 3 &&
		    (p[n] == '\0' || p[n] == ' ') && (int)a == cls) {
			snprintf(out, 16, "%u.%u.%u", a, b, c);
			return;
		}
	}
	snprintf(out, 16, "%d.0.0", cls);
}

/* Length of the header block of msg (up to and including the empty
 * line, or all of it). */
static size_t
header_len(const char *msg, size_t len)
{
	size_t i;

	if (len > 0 && msg[0] == '\n')
		return 1;
	for (i = 0; i + 1 < len; i++)
		if (msg[i] == '\n' && msg[i + 1] == '\n')
			return i + 2;
	return len;
}

/* Append text making sure it ends with exactly one LF. */
static void
append_block(struct buf *out, const char *p, size_t len)
{
	buf_append(out, p, len);
	if (len == 0 || p[len - 1] != '\n')
		buf_append_char(out, '\n');
}

/* Keep a value on one header line: CR and LF become spaces. */
static void
append_field(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++)
		buf_append_char(out, *s == '\r' || *s == '\n' ? ' ' : *s);
}

static bool
is_8bit(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] & 0x80)
			return true;
	return false;
}

static void
human_part(const struct dsn_report *r, bool delayed, struct buf *out)
{
	buf_printf(out, "This is the mail system at host %s.\n\n",
	    r->reporting_mta);
	if (delayed) {
		buf_append_str(out, "Your message could not be delivered yet "
		    "to the recipients below.\nThe mail system will keep "
		    "trying");
		if (r->retry_until > 0) {
			buf_append_str(out, " until ");
			dsn_date(r->retry_until, out);
		}
		buf_append_str(out, ";\nyou do not need to send it again."
		    "\n\n");
	} else {
		buf_append_str(out, "I'm sorry to have to inform you that "
		    "your message could not\nbe delivered to one or more "
		    "recipients. It is attached below.\n\n");
	}
	for (size_t i = 0; i < r->rcpt_count; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];

		buf_append_str(out, "<");
		append_field(out, rc->address);
		buf_printf(out, ">: %s", action_names[rc->action]);
		if (rc->remote_mta != NULL) {
			buf_append_str(out, ", host ");
			append_field(out, rc->remote_mta);
			buf_append_str(out, " said");
		}
		if (rc->diagnostic != NULL) {
			buf_append_str(out, ": ");
			append_field(out, rc->diagnostic);
		}
		buf_append_str(out, "\n");
	}
}

void
dsn_build(const struct dsn_report *r, struct buf *out)
{
	bool delayed = r->rcpt_count > 0 &&
	    r->rcpts[0].action == DSN_DELAYED;
	struct buf boundary = BUF_INIT;
	size_t hlen = header_len(r->message, r->message_len);
	bool full = r->ret_full && r->message_len <= DSN_FULL_MAX;
	size_t ret_len = full ? r->message_len : hlen;

	if (!full && ret_len > DSN_HEADERS_MAX)
		ret_len = DSN_HEADERS_MAX;
	buf_printf(&boundary, "%s.%lld/%s", r->queue_id,
	    (long long)r->now, r->reporting_mta);

	/* Message header. */
	buf_append_str(out, "Date: ");
	dsn_date(r->now, out);
	buf_printf(out, "\nFrom: MAILER-DAEMON@%s (Mail Delivery System)\n",
	    r->reporting_mta);
	buf_append_str(out, "To: <");
	append_field(out, r->sender);
	buf_append_str(out, ">\n");
	buf_printf(out, "Subject: %s\n", delayed ?
	    "Delayed Mail (still being retried)" :
	    "Undelivered Mail Returned to Sender");
	buf_append_str(out, "Message-ID: ");
	message_id(r->reporting_mta, out);
	buf_append_char(out, '\n');
	buf_append_str(out, "Auto-Submitted: auto-replied\n");
	buf_append_str(out, "MIME-Version: 1.0\n");
	buf_printf(out, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\n\tboundary=\"%s\"\n",
	    buf_cstr(&boundary));
	buf_append_str(out, "\nThis is a MIME-encapsulated message.\n\n");

	/* 1: for people. */
	buf_printf(out, "--%s\n", buf_cstr(&boundary));
	buf_append_str(out, "Content-Description: Notification\n"
	    "Content-Type: text/plain; charset=us-ascii\n\n");
	human_part(r, delayed, out);
	buf_append_str(out, "\n");

	/* 2: for programs (RFC 3464 2.2, 2.3). */
	buf_printf(out, "--%s\n", buf_cstr(&boundary));
	buf_append_str(out, "Content-Description: Delivery report\n"
	    "Content-Type: message/delivery-status\n\n");
	buf_printf(out, "Reporting-MTA: dns; %s\n", r->reporting_mta);
	buf_printf(out, "X-DMail-Queue-ID: %s\n", r->queue_id);
	if (r->envid != NULL) {
		buf_append_str(out, "Original-Envelope-Id: ");
		append_field(out, r->envid);
		buf_append_str(out, "\n");
	}
	if (r->arrival > 0) {
		buf_append_str(out, "Arrival-Date: ");
		dsn_date(r->arrival, out);
		buf_append_str(out, "\n");
	}
	for (size_t i = 0; i < r->rcpt_count; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];

		buf_append_str(out, "\n");
		if (rc->orcpt != NULL && *rc->orcpt != '\0') {
			buf_append_str(out, "Original-Recipient: rfc822; ");
			append_field(out, rc->orcpt);
			buf_append_str(out, "\n");
		}
		buf_append_str(out, "Final-Recipient: rfc822; ");
		append_field(out, rc->address);
		buf_printf(out, "\nAction: %s\n", action_names[rc->action]);
		buf_printf(out, "Status: %s\n", rc->status);
		if (rc->remote_mta != NULL) {
			buf_append_str(out, "Remote-MTA: dns; ");
			append_field(out, rc->remote_mta);
			buf_append_str(out, "\n");
		}
		if (rc->diagnostic != NULL) {
			buf_append_str(out, "Diagnostic-Code: smtp; ");
			append_field(out, rc->diagnostic);
			buf_append_str(out, "\n");
		}
		if (rc->last_attempt > 0) {
			buf_append_str(out, "Last-Attempt-Date: ");
			dsn_date(rc->last_attempt, out);
			buf_append_str(out, "\n");
		}
		if (rc->action == DSN_DELAYED && r->retry_until > 0) {
			buf_append_str(out, "Will-Retry-Until: ");
			dsn_date(r->retry_until, out);
			buf_append_str(out, "\n");
		}
	}
	buf_append_str(out, "\n");

	/* 3: the original. */
	buf_printf(out, "--%s\n", buf_cstr(&boundary));
	if (full) {
		buf_append_str(out, "Content-Description: Undelivered "
		    "Message\nContent-Type: message/rfc822\n");
	} else {
		buf_append_str(out, "Content-Description: Undelivered "
		    "Message Headers\nContent-Type: text/rfc822-headers\n");
	}
	if (is_8bit(r->message, ret_len))
		buf_append_str(out, "Content-Transfer-Encoding: 8bit\n");
	buf_append_str(out, "\n");
	append_block(out, r->message, ret_len);
	buf_printf(out, "\n--%s--\n", buf_cstr(&boundary));
	buf_free(&boundary);
}
