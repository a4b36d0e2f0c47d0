/*
 * send.c - outgoing mail of the list worker through the delivery API
 * (deliver.h): posts to members, notices, command replies, digests.
 *
 * One call is one delivery: one stored copy hard-linked into every local
 * Maildir, and one queue file holding every remote recipient. Only after
 * delivery_commit() succeeded has the list handed the message on.
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
	struct delivery_info info;
	struct delivery *dv;
	struct smtp_reply reply;
	const char *p = msg, *end = msg + len;
	size_t accepted = 0;

	memset(&info, 0, sizeof(info));
	info.session_id = "listd";
	info.client_ip = "127.0.0.1";
	info.client_helo = "localhost";
	info.protocol = "local";
	info.tls = "";
	dv = delivery_begin(ld->dctx, sender, &info);
	for (size_t i = 0; i < n; i++) {
		enum rcpt_check rc = deliver_check_rcpt(ld->dctx, rcpts[i], 0,
		    &reply);

		if (rc == RCPT_TEMPFAIL) {
			log_error("action=send to=<%s> status=deferred "
			    "reply=\"%d %s\"", rcpts[i], reply.code,
			    reply.text);
			delivery_abort(dv);
			return -1;
		}
		if (rc == RCPT_REJECT) {
			log_warn("action=send to=<%s> status=skipped "
			    "reply=\"%d %s\"", rcpts[i], reply.code,
			    reply.text);
			continue;
		}
		delivery_add_rcpt(dv, rcpts[i]);
		accepted++;
	}
	if (accepted == 0) {
		delivery_abort(dv);
		return 0;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (l > 0 && p[l - 1] == '\r')
			l--;
		if (delivery_write_line(dv, p, l) < 0)
			break;
		p = nl != NULL ? nl + 1 : end;
	}
	if (delivery_commit(dv, &reply) < 0) {
		log_error("action=send from=<%s> nrcpt=%zu status=failed "
		    "reply=\"%d %s\"", sender, accepted, reply.code,
		    reply.text);
		return reply.code >= 500 ? 0 : -1;
	}
	return 0;
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
