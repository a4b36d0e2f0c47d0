/*
 * bounce.c - mail to LIST-bounces[+member]@DOMAIN: delivery status
 * notifications about members.
 *
 * With VERP the address names the member (LIST-bounces+bob=x.test@...);
 * otherwise the members are taken from the DSN's Final-Recipient (and
 * Original-Recipient) fields (RFC 3464). Each bounce adds one to the
 * member's bounce score; when the score reaches the list's
 * bounce_threshold the member is set to nomail and the owners are told.
 * Auto-replies (vacation messages) to the bounce address are not
 * bounces and are ignored; a delivery status report (RFC 3464:
 * multipart/report; report-type=delivery-status) is judged by its
 * Action fields instead, whatever its Auto-Submitted says (DMail's own
 * DSNs, sent when a member's MX refuses a post during the SMTP
 * transaction, carry "Auto-Submitted: auto-replied"): it counts for the
 * recipients whose Action is "failed", and a report of delays only is
 * ignored.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "listd.h"
#include "log.h"
#include "util.h"

/* Members named in Final-Recipient / Original-Recipient fields. */
void
dsn_recipients(const char *msg, size_t len, struct strlist *out)
{
	static const char *const names[] = { "final-recipient:",
		"original-recipient:", NULL };
	const char *s = msg, *end = msg + len;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);

		for (int i = 0; names[i] != NULL; i++) {
			size_t kl = strlen(names[i]);
			const char *semi;
			char *a;

			if (n <= kl || !mem_prefix_ci(s, n, names[i]))
				continue;
			semi = memchr(s + kl, ';', n - kl);
			if (semi == NULL)
				continue;
			a = xstrndup(semi + 1, (size_t)(s + n - semi - 1));
			str_lower(str_trim(a));
			{
				char *t = str_trim(a);
				if (*t == '<')
					t++;
				t[strcspn(t, ">")] = '\0';
				if (list_valid_address(t) &&
				    !strlist_contains_ci(out, t))
					strlist_add(out, t);
			}
			free(a);
		}
		s += n + (nl != NULL);
	}
}

/* Is the Content-Type value ct multipart/report with report-type
 * delivery-status (parameter names and values ignoring case)? */
static bool
is_dsn_type(const char *ct)
{
	const char *p = ct;

	if (strncasecmp(ct, "multipart/report", 16) != 0)
		return false;
	while ((p = strchr(p, ';')) != NULL) {
		p++;
		p += strspn(p, " \t");
		if (strncasecmp(p, "report-type", 11) != 0)
			continue;
		p += 11;
		p += strspn(p, " \t");
		if (*p++ != '=')
			return false;
		p += strspn(p, " \t\"");
		return strncasecmp(p, "delivery-status", 15) == 0 &&
		    strchr(" \t;\"", p[15]) != NULL;
	}
	return false;
}

/* Is the line at s (l bytes) "Action: failed"? */
static bool
is_action_failed(const char *s, size_t l)
{
	size_t b = 7;

	if (!mem_prefix_ci(s, l, "action:"))
		return false;
	while (b < l && (s[b] == ' ' || s[b] == '\t'))
		b++;
	return mem_prefix_ci(s + b, l - b, "failed");
}

/* Per-recipient blocks of a delivery-status report (fields separated by
 * blank lines): the recipients of the blocks whose Action is "failed"
 * added to out. Returns how many blocks failed. */
static unsigned
dsn_failed(const char *msg, size_t len, struct strlist *out)
{
	const char *s = msg, *end = msg + len;
	struct strlist block = { NULL, 0 };
	bool failed = false;
	unsigned n = 0;

	for (;;) {
		const char *nl = s < end ? memchr(s, '\n', (size_t)(end - s)) :
		    NULL;
		size_t l = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);

		if (l > 0 && s[l - 1] == '\r')
			l--;
		if (l > 0 && is_action_failed(s, l))
			failed = true;
		else if (l > 0)
			dsn_recipients(s, l, &block);
		if (l == 0 || nl == NULL) {            /* end of a block */
			for (size_t i = 0; failed && i < block.count; i++)
				if (!strlist_contains_ci(out, block.items[i]))
					strlist_add(out, block.items[i]);
			n += failed ? 1 : 0;
			strlist_free(&block);
			failed = false;
		}
		if (nl == NULL)
			return n;
		s = nl + 1;
	}
}

static int
count_bounce(struct listd *ld, const struct list_def *d, struct listdb *db,
    const char *member)
{
	struct list_member m;
	struct buf err = BUF_INIT, body = BUF_INIT, subj = BUF_INIT;
	struct buf bounces = BUF_INIT, own = BUF_INIT;
	int r = listdb_get(db, member, &m);

	if (r <= 0) {
		if (r == 0)
			log_info("action=bounce list=%s member=<%s> "
			    "status=ignored reason=\"not a member\"",
			    d->address, member);
		return r;
	}
	m.bounce++;
	m.last_bounce = (int64_t)time(NULL);
	if (m.bounce >= d->bounce_threshold && !m.nomail) {
		m.nomail = true;
		log_info("action=bounce list=%s member=<%s> score=%u "
		    "threshold=%u status=nomail", d->address, member, m.bounce,
		    d->bounce_threshold);
		list_addr(d, "-bounces", &bounces);
		list_addr(d, "-owner", &own);
		buf_printf(&subj, "%s: %s disabled after bounces", d->name,
		    member);
		buf_printf(&body, "Mail to %s from the list %s bounced %u "
		    "times,\nso it no longer gets list mail (option nomail).\n"
		    "\nTo enable it again:\n\n    dlist set %s %s mail\n\n"
		    "or the member sends \"set %s mail\" to %s-request@%s.\n",
		    member, d->address, m.bounce, d->address, member, d->name,
		    d->name, d->domain);
		for (size_t i = 0; i < d->owners.count; i++)
			(void)send_notice(ld, bounces.data, own.data,
			    d->owners.items[i], subj.data, NULL, body.data);
	} else {
		log_info("action=bounce list=%s member=<%s> score=%u",
		    d->address, member, m.bounce);
	}
	r = listdb_put(db, &m, &err);
	if (r < 0)
		log_error("event=list-failed list=%s reason=\"%s\"",
		    d->address, err.data);
	buf_free(&err);
	buf_free(&body);
	buf_free(&subj);
	buf_free(&bounces);
	buf_free(&own);
	return r;
}

int
bounce_handle(struct listd *ld, const struct list_def *d, const char *member,
    const char *msg, size_t len)
{
	struct strlist who = { NULL, 0 };
	struct listdb *db;
	struct buf err = BUF_INIT;
	struct mail m;
	struct buf v = BUF_INIT;
	bool report, vacation;
	unsigned failed = 0;
	int r = 0;

	mail_parse(msg, len, &m);
	report = mail_get(&m, "Content-Type", &v) && is_dsn_type(v.data);
	vacation = !report && mail_get(&m, "Auto-Submitted", &v) &&
	    strncasecmp(buf_cstr(&v), "auto-replied", 12) == 0;
	if (report)
		failed = dsn_failed(m.body, m.body_len, &who);
	buf_free(&v);
	mail_free(&m);
	if (vacation) {
		log_info("action=bounce list=%s status=ignored "
		    "reason=\"auto-reply to the bounce address\"",
		    d->address);
		return 0;
	}
	if (report && failed == 0) {
		log_info("action=bounce list=%s status=ignored reason=\"delivery "
		    "report without a failed recipient\"", d->address);
		strlist_free(&who);
		return 0;
	}
	if (*member != '\0') {
		strlist_free(&who);         /* VERP names the member */
		strlist_add(&who, member);
	} else if (!report) {
		dsn_recipients(msg, len, &who);
	}
	if (who.count == 0) {
		log_info("action=bounce list=%s status=ignored "
		    "reason=\"no recognisable member\"", d->address);
		return 0;
	}
	if ((db = listdb_open(ld->conf, d, &err)) == NULL) {
		log_error("event=list-failed list=%s reason=\"%s\"",
		    d->address, err.data);
		buf_free(&err);
		strlist_free(&who);
		return -1;
	}
	for (size_t i = 0; i < who.count && r == 0; i++)
		if (count_bounce(ld, d, db, who.items[i]) < 0)
			r = -1;
	listdb_close(db);
	strlist_free(&who);
	buf_free(&err);
	return r;
}
