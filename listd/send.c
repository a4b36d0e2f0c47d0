/*
 * send.c - outgoing mail of the list worker through the delivery API
 * (deliver.h): posts to members, notices, command replies, digests.
 *
 * One call is one delivery_submit() (deliver.h), the injection path of
 * all mail DMail writes itself: one stored copy hard-linked into every
 * local Maildir, and one queue file holding every remote recipient. Only
 * after it committed has the list handed the message on.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "listd.h"
#include "log.h"
#include "util.h"

int
send_mail(struct listd *ld, const char *sender, const char *const *rcpts,
    size_t n, const char *msg, size_t len)
{
	struct submission s;
	struct smtp_reply reply;

	/* A recipient refused for good is skipped (logged by
	 * delivery_submit()); a local member over quota gets a maildrop
	 * copy, delivered when there is room or bounced to the sender
	 * (deliver.h); only lookup trouble retries the whole. */
	memset(&s, 0, sizeof(s));
	s.log_id = "listd";
	s.sender = sender;
	s.rcpts = rcpts;
	s.rcpt_count = n;
	s.message = msg;
	s.message_len = len;
	s.size_hint = len;
	return delivery_submit(ld->dctx, &s, &reply) == -1 ? -1 : 0;
}

int
send_notice(struct listd *ld, const char *env_sender, const char *from,
    const char *to, const char *subject, const char *extra_headers,
    const char *body)
{
	struct buf m = BUF_INIT, v = BUF_INIT;
	const char *rcpts[1] = { to };
	int r;

	rfc5322_date(time(NULL), false, &v);
	buf_printf(&m, "Date: %s\n", v.data);
	buf_printf(&m, "From: %s\nTo: %s\nSubject: %s\n", from, to, subject);
	buf_reset(&v);
	message_id(ld->conf->hostname, &v);
	buf_printf(&m, "Message-ID: %s\n", v.data);
	buf_append_str(&m, "MIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n"
	    "Auto-Submitted: auto-replied\n");
	if (extra_headers != NULL)
		buf_append_str(&m, extra_headers);
	buf_append_char(&m, '\n');
	buf_append_str(&m, body);
	if (m.len > 0 && m.data[m.len - 1] != '\n')
		buf_append_char(&m, '\n');
	r = send_mail(ld, env_sender, rcpts, 1, m.data, m.len);
	buf_free(&m);
	buf_free(&v);
	return r;
}
