/*
 * vacation.c - automatic replies: settings, who gets one, once per sender
 * per period, and the reply itself (see vacation.h for the rules).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sasl.h"
#include "util.h"
#include "vacation.h"

#define SETTINGS_MAX (VACATION_TEXT_MAX + 4096)
#define SEEN_LINE_MAX 600

static void
path_of(const char *maildir, const char *name, struct buf *out)
{
	buf_reset(out);
	buf_printf(out, "%s/%s", maildir, name);
}

/* One "key: value" line of the settings; -1 when unknown or invalid. */
static int
setting(struct vacation *v, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	const char *val;
	size_t vlen;

	if (colon == NULL)
		return -1;
	val = colon + 1;
	while (val < line + len && (*val == ' ' || *val == '\t'))
		val++;
	vlen = (size_t)(line + len - val);
	if ((size_t)(colon - line) == 7 && strncasecmp(line, "subject", 7) == 0) {
		if (vlen > VACATION_SUBJECT_MAX)
			return -1;
		memcpy(v->subject, val, vlen);
		v->subject[vlen] = '\0';
		return 0;
	}
	if ((size_t)(colon - line) == 6 && strncasecmp(line, "period", 6) == 0) {
		char num[24];
		char *end;
		unsigned long p;

		if (vlen == 0 || vlen >= sizeof(num))
			return -1;
		memcpy(num, val, vlen);
		num[vlen] = '\0';
		errno = 0;
		p = strtoul(num, &end, 10);
		if (errno != 0 || *end != '\0' || p == 0 || p > 365UL * 86400)
			return -1;
		v->period = (unsigned)p;
		return 0;
	}
	return -1;
}

int
vacation_load(const char *maildir, struct vacation *v)
{
	struct buf path = BUF_INIT, text = BUF_INIT;
	const char *p, *end;
	int rc = -1;

	memset(v, 0, sizeof(*v));
	v->period = VACATION_PERIOD_DEFAULT;
	path_of(maildir, VACATION_FILE, &path);
	if (read_file(path.data, &text, SETTINGS_MAX) < 0) {
		rc = errno == ENOENT ? 0 : -1;
		goto out;
	}
	p = text.data != NULL ? text.data : "";
	end = p + text.len;
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL) {
			errno = EINVAL;     /* no empty line before the text */
			goto out;
		}
		if (nl == p)
			break;
		if (setting(v, p, (size_t)(nl - p)) < 0) {
			errno = EINVAL;
			goto out;
		}
		p = nl + 1;
	}
	p++;
	if ((size_t)(end - p) > VACATION_TEXT_MAX) {
		errno = EFBIG;
		goto out;
	}
	buf_append(&v->text, p, (size_t)(end - p));
	rc = 1;
out:
	buf_free(&path);
	buf_free(&text);
	return rc;
}

int
vacation_save(const char *maildir, const struct vacation *v)
{
	struct buf path = BUF_INIT, text = BUF_INIT;
	int rc;

	path_of(maildir, VACATION_FILE, &path);
	buf_printf(&text, "subject: %s\nperiod: %u\n\n", v->subject,
	    v->period);
	buf_append(&text, v->text.data != NULL ? v->text.data : "",
	    v->text.len);
	if (text.len > 0 && text.data[text.len - 1] != '\n')
		buf_append_str(&text, "\n");
	rc = write_file_durable(path.data, text.data, text.len, 0600);
	buf_free(&path);
	buf_free(&text);
	return rc;
}

int
vacation_remove(const char *maildir)
{
	struct buf path = BUF_INIT;
	int rc = 0;

	path_of(maildir, VACATION_FILE, &path);
	if (unlink(path.data) < 0 && errno != ENOENT)
		rc = -1;
	else if (fsync_dir(maildir) < 0)
		rc = -1;
	path_of(maildir, VACATION_SEEN_FILE, &path);
	(void)unlink(path.data);
	buf_free(&path);
	return rc;
}

void
vacation_free(struct vacation *v)
{
	buf_free(&v->text);
}

/* ---- who gets a reply ------------------------------------------------ */

static bool
addr_byte(unsigned char c)
{
	return c != 0 && (isalnum(c) ||
	    strchr("!#$%&'*+-/=?^_`{|}~.@", c) != NULL);
}

/* Does the header value name address (whole, any case)? */
static bool
value_names(const char *value, const char *address)
{
	size_t n = strlen(address);

	if (n == 0)
		return false;
	for (const char *p = value; (p = strcasestr(p, address)) != NULL;
	    p++) {
		bool before = p > value && addr_byte((unsigned char)p[-1]);
		bool after = addr_byte((unsigned char)p[n]);

		if (!before && !after)
			return true;
	}
	return false;
}

static bool
names_own(const struct mail *m, const char *const *own, size_t nown)
{
	static const char *const fields[] = { "To", "Cc", "Bcc",
		"Resent-To", "Resent-Cc", "Resent-Bcc" };
	struct buf v = BUF_INIT;
	bool yes = false;

	for (size_t i = 0; i < m->nfields && !yes; i++) {
		bool addr_field = false;

		for (size_t k = 0; k < sizeof(fields) / sizeof(*fields); k++)
			if (strcasecmp(m->fields[i].name, fields[k]) == 0)
				addr_field = true;
		if (!addr_field)
			continue;
		mail_field_value(&m->fields[i], &v);
		for (size_t k = 0; k < nown && !yes; k++)
			yes = value_names(v.data, own[k]);
	}
	buf_free(&v);
	return yes;
}

/* Senders that are programs, not people (vacation(1)'s list and
 * RFC 3834 3.2). */
static bool
sender_is_program(const char *sender)
{
	static const char *const exact[] = { "mailer-daemon", "postmaster",
		"listserv", "majordomo", "noreply", "no-reply", "do-not-reply",
		"donotreply", "mailer" };
	static const char *const suffix[] = { "-request", "-bounces",
		"-owner", "-relay" };
	const char *at = strrchr(sender, '@');
	size_t n = at != NULL ? (size_t)(at - sender) : strlen(sender);

	for (size_t i = 0; i < sizeof(exact) / sizeof(*exact); i++)
		if (n == strlen(exact[i]) &&
		    strncasecmp(sender, exact[i], n) == 0)
			return true;
	if (n >= 6 && strncasecmp(sender, "owner-", 6) == 0)
		return true;
	for (size_t i = 0; i < sizeof(suffix) / sizeof(*suffix); i++) {
		size_t s = strlen(suffix[i]);

		if (n > s && strncasecmp(sender + n - s, suffix[i], s) == 0)
			return true;
	}
	/* VERP and bounce addresses: LIST-bounces+x=y@, bounce-123@ */
	return memchr(sender, '+', n) != NULL &&
	    strncasecmp(sender, "bounce", 6) == 0;
}

const char *
vacation_refuse(const struct mail *m, const char *env_sender,
    const char *const *own, size_t nown)
{
	struct buf v = BUF_INIT;
	const char *why = NULL;

	if (env_sender == NULL || env_sender[0] == '\0')
		return "null sender";
	if (sender_is_program(env_sender))
		return "sender is a program";
	if (mail_is_automatic(m))
		return "automatic message (Auto-Submitted or Precedence)";
	for (size_t i = 0; i < m->nfields; i++)
		if (strncasecmp(m->fields[i].name, "List-", 5) == 0)
			return "list message";
	if (mail_get(m, "X-Spam-Flag", &v) && strncasecmp(v.data, "yes", 3)
	    == 0)
		why = "marked as spam";
	buf_free(&v);
	if (why == NULL && !names_own(m, own, nown))
		why = "the account's address is not in To or Cc";
	return why;
}

/* ---- once per sender per period ------------------------------------- */

int
vacation_due(const char *maildir, const char *sender, unsigned period,
    time_t now)
{
	struct buf path = BUF_INIT, old = BUF_INIT, next = BUF_INIT;
	const char *p, *end;
	size_t kept = 0;
	int due = 1;

	path_of(maildir, VACATION_SEEN_FILE, &path);
	if (read_file(path.data, &old, (size_t)VACATION_SEEN_MAX *
	    SEEN_LINE_MAX) < 0 && errno != ENOENT) {
		/* Unreadable or absurd: start again rather than never
		 * replying. */
		buf_reset(&old);
	}
	p = old.data != NULL ? old.data : "";
	end = p + old.len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char line[SEEN_LINE_MAX], addr[SEEN_LINE_MAX];
		long long when;
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			if (sscanf(line, "%lld %599s", &when, addr) == 2 &&
			    when <= (long long)now &&
			    now - (time_t)when < (time_t)period) {
				if (strcasecmp(addr, sender) == 0)
					due = 0;
				else if (kept < VACATION_SEEN_MAX - 1) {
					buf_append(&next, line, n);
					buf_append_str(&next, "\n");
					kept++;
				}
			}
		}
		p = nl != NULL ? nl + 1 : end;
	}
	if (due) {
		buf_printf(&next, "%lld %s\n", (long long)now, sender);
		if (write_file_durable(path.data, next.data, next.len,
		    0600) < 0)
			due = -1;
	}
	buf_free(&path);
	buf_free(&old);
	buf_free(&next);
	return due;
}

/* ---- the reply -------------------------------------------------------- */

/* A header value on one line: CR, LF and other controls become blanks. */
static void
append_clean(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++)
		buf_append(out, (unsigned char)*s < 0x20 ? " " : s, 1);
}

/* Subject text, RFC 2047 B-encoded (UTF-8) when it is not ASCII. */
static void
append_subject(struct buf *out, const char *s)
{
	bool ascii = true;

	for (const char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			ascii = false;
	if (ascii) {
		append_clean(out, s);
		return;
	}
	buf_append_str(out, "=?UTF-8?B?");
	base64_encode(s, strlen(s), out);
	buf_append_str(out, "?=");
}

void
vacation_compose(const struct vacation *v, const struct mail *orig,
    const char *account, const char *sender, const char *date,
    const char *message_id, struct buf *out)
{
	struct buf theirs = BUF_INIT, refs = BUF_INIT, id = BUF_INIT;
	bool have_id = mail_get(orig, "Message-ID", &id) && id.len > 0;

	buf_reset(out);
	buf_append_str(out, "From: ");
	append_clean(out, account);
	buf_append_str(out, "\nTo: ");
	append_clean(out, sender);
	buf_append_str(out, "\nSubject: ");
	if (v->subject[0] != '\0')
		append_subject(out, v->subject);
	else {
		buf_append_str(out, "Auto: ");
		if (mail_get(orig, "Subject", &theirs))
			append_clean(out, theirs.data);
	}
	buf_printf(out, "\nDate: %s\nMessage-ID: %s\n", date, message_id);
	if (have_id) {
		buf_append_str(out, "In-Reply-To: ");
		append_clean(out, id.data);
		buf_append_str(out, "\nReferences: ");
		if (mail_get(orig, "References", &refs) && refs.len > 0) {
			append_clean(out, refs.data);
			buf_append_str(out, " ");
		}
		append_clean(out, id.data);
		buf_append_str(out, "\n");
	}
	buf_append_str(out, "Auto-Submitted: auto-replied\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=UTF-8\n"
	    "Content-Transfer-Encoding: 8bit\n\n");
	buf_append(out, v->text.data != NULL ? v->text.data : "",
	    v->text.len);
	if (out->len > 0 && out->data[out->len - 1] != '\n')
		buf_append_str(out, "\n");
	buf_free(&theirs);
	buf_free(&refs);
	buf_free(&id);
}
