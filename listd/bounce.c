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
 * bounces and are ignored.
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
	int r = 0;

	mail_parse(msg, len, &m);
	{
		struct buf v = BUF_INIT;
		bool vacation = mail_get(&m, "Auto-Submitted", &v) &&
		    strncasecmp(buf_cstr(&v), "auto-replied", 12) == 0;
		buf_free(&v);
		mail_free(&m);
		if (vacation) {
			log_info("action=bounce list=%s status=ignored "
			    "reason=\"auto-reply to the bounce address\"",
			    d->address);
			return 0;
		}
	}
	if (*member != '\0')
		strlist_add(&who, member);
	else
		dsn_recipients(msg, len, &who);
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
