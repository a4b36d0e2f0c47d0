/*
 * fuzz_smtp_cmd.c - libFuzzer target: SMTP command lines as a client
 * sends them (smtpd/smtp_parse.c): the verb, the HELO/EHLO argument,
 * MAIL FROM and RCPT TO with every ESMTP parameter (SIZE, BODY,
 * SMTPUTF8, RET, ENVID, NOTIFY, ORCPT).
 *
 * Input: one flags byte (bit 0: EHLO was used, bit 1: MAIL had
 * SMTPUTF8), then the command line without CRLF. Every argument parser
 * runs whatever the verb, so MAIL and RCPT parameters are reached
 * without the fuzzer having to spell the verb first. Checks: a refusal
 * carries a 4xx/5xx code; an accepted path and its decoded DSN
 * parameters respect their documented limits.
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "smtpd.h"

static void
check_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			abort();
}

static void
check_reply(const struct smtp_reply *r)
{
	if (r->code < 400 || r->code > 599)
		abort();
}

static void
check_mailbox(const struct mailbox *mb)
{
	if (strlen(mb->addr) > ADDR_PATH_MAX || mb->domain == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mail_args mail;
	struct rcpt_args dsn;
	struct mailbox mb;
	struct smtp_reply r;
	const char *arg;
	bool esmtp, utf8;
	char *line;

	if (size < 1)
		return 0;
	esmtp = (data[0] & 1) != 0;
	utf8 = (data[0] & 2) != 0;
	line = fuzz_cstr(data + 1, size - 1);

	(void)smtp_verb_name(smtp_parse_verb(line, &arg));
	(void)smtp_valid_helo(arg);

	memset(&mail, 0, sizeof(mail));
	memset(&r, 0, sizeof(r));
	if (smtp_parse_mail(arg, esmtp, &mail, &r) == 0) {
		check_mailbox(&mail.from);
		if (mail.envid_given)
			check_printable(mail.envid);
	} else {
		check_reply(&r);
	}

	memset(&dsn, 0, sizeof(dsn));
	memset(&r, 0, sizeof(r));
	if (smtp_parse_rcpt_dsn(arg, esmtp, utf8, &mb, &dsn, &r) == 0) {
		check_mailbox(&mb);
		if (dsn.orcpt_given)
			check_printable(dsn.orcpt);
	} else {
		check_reply(&r);
	}

	memset(&r, 0, sizeof(r));
	if (smtp_parse_rcpt(arg, esmtp, utf8, &mb, &r) == 0)
		check_mailbox(&mb);
	else
		check_reply(&r);
	free(line);
	return 0;
}
