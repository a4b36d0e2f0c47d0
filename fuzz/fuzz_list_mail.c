/*
 * fuzz_list_mail.c - libFuzzer target: the RFC 5322 message parser of
 * the list worker (listd/mail.c), on a whole message as it arrives in
 * the list spool from anyone on the Internet: mail_parse(), then what
 * listd does with a post or a command: mail_get() of the fields it
 * reads, mail_address()/mail_display_name() of From, mail_is_automatic(),
 * mail_text() (MIME walk to the first text/plain part), header rewriting
 * (mail_set/mail_remove/mail_add_first) and mail_format().
 *
 * Input: the message (LF or CRLF line ends). Checks: every field name is
 * RFC 5322 ftext, its value starts right after its colon and its raw
 * text (raw_len bytes, NUL allowed) ends in LF (issue 9: a NUL in a name
 * crashed mail_get()), and the formatted message is exactly its fields,
 * an empty line and the body.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "listd.h"

static const char *const fields[] = {
	"From", "Sender", "Reply-To", "To", "Cc", "Subject", "Message-ID",
	"Date", "Content-Type", "Content-Transfer-Encoding", "List-Id",
	"List-Post", "X-Loop", "Auto-Submitted", "Precedence", "Received",
	"DKIM-Signature", "MIME-Version", NULL,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mail m;
	struct buf v = BUF_INIT, a = BUF_INIT, out = BUF_INIT;
	size_t total = 0;

	mail_parse((const char *)data, size, &m);
	for (size_t i = 0; i < m.nfields; i++) {
		const char *raw = m.fields[i].raw, *name = m.fields[i].name;
		size_t n = m.fields[i].raw_len, off = m.fields[i].value_off;

		/* Issue 9: a name is ftext (RFC 5322 3.6.8: printable
		 * US-ASCII but ':'), and no field comes without its colon
		 * (mail_get() relies on it); the raw text is bytes with a
		 * length (a value may hold NUL). */
		if (name[0] == '\0' || off == 0 || off > n ||
		    raw[off - 1] != ':' || raw[n] != '\0')
			abort();
		for (const char *p = name; *p != '\0'; p++)
			if ((unsigned char)*p < 33 || (unsigned char)*p > 126 ||
			    *p == ':')
				abort();
		if (n == 0 || raw[n - 1] != '\n')
			abort();
	}
	if (m.body == NULL || m.body_len > size)
		abort();
	for (size_t i = 0; fields[i] != NULL; i++) {
		if (mail_get(&m, fields[i], &v)) {
			(void)mail_address(buf_cstr(&v), &a);
			mail_display_name(buf_cstr(&v), &a);
		}
	}
	(void)mail_is_automatic(&m);
	mail_text(&m, &out);

	/* What a post goes through before distribution. */
	mail_remove(&m, "Return-Path");
	mail_set(&m, "Subject", "[club] fuzz");
	mail_add_first(&m, "List-Id", "<club.example.test>");
	mail_add(&m, "List-Post", "<mailto:club@example.test>");
	mail_format(&m, &out);
	/* The formatted message is exactly its fields, the empty line and
	 * the body. */
	total = 1 + m.body_len;
	for (size_t i = 0; i < m.nfields; i++)
		total += m.fields[i].raw_len;
	if (out.len != total)
		abort();
	mail_free(&m);
	buf_free(&v);
	buf_free(&a);
	buf_free(&out);
	return 0;
}
