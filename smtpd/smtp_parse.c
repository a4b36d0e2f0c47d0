/*
 * smtp_parse.c - SMTP command verbs and arguments (RFC 5321 4.1.1-4.1.2,
 * ESMTP parameters of RFC 1870, 6152, 6531, 4954, and the DSN parameters
 * RET, ENVID, NOTIFY, ORCPT of RFC 3461 with their xtext encoding).
 *
 * Pure functions on one command line: no I/O, no configuration. Every
 * failure comes back as the exact reply for the client.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtpd.h"

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
	{ "HELO", SMTP_HELO },
	{ "EHLO", SMTP_EHLO },
	{ "MAIL", SMTP_MAIL },
	{ "RCPT", SMTP_RCPT },
	{ "DATA", SMTP_DATA },
	{ "RSET", SMTP_RSET },
	{ "NOOP", SMTP_NOOP },
	{ "QUIT", SMTP_QUIT },
	{ "VRFY", SMTP_VRFY },
	{ "EXPN", SMTP_EXPN },
	{ "HELP", SMTP_HELP },
	{ "STARTTLS", SMTP_STARTTLS },
	{ "AUTH", SMTP_AUTH },
	{ "BDAT", SMTP_BDAT },
};

/* The verb is the first word, case-insensitive; *arg points past it and
 * the blanks after it ("" when there is no argument). A verb glued to
 * other characters ("MAILX") is unknown. */
enum smtp_verb
smtp_parse_verb(const char *line, const char **arg)
{
	size_t n, i;

	for (n = 0; line[n] != '\0' && line[n] != ' '; n++)
		;
	*arg = line + n;
	while (**arg == ' ')
		(*arg)++;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strlen(verbs[i].name) == n &&
		    strncasecmp(line, verbs[i].name, n) == 0)
			return verbs[i].verb;
	return SMTP_UNKNOWN;
}

const char *
smtp_verb_name(enum smtp_verb v)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "UNKNOWN";
}

bool
smtp_valid_helo(const char *arg)
{
	size_t len = strlen(arg);

	if (len == 0 || len > SMTP_HELO_MAX)
		return false;
	if (arg[0] == '[')
		return len > 2 && arg[len - 1] == ']' &&
		    addr_valid_literal(arg + 1, len - 2);
	/* Accept a trailing dot (FQDN spelling) and UTF-8 labels. */
	if (arg[len - 1] == '.')
		len--;
	return addr_valid_domain(arg, len, true);
}

/* "FROM:" / "TO:" keyword, blanks allowed after the colon (many clients
 * send "MAIL FROM: <a>"; RFC 5321 does not allow it, every server
 * accepts it). Returns the start of the path or NULL. */
static const char *
path_start(const char *arg, const char *kw)
{
	size_t n = strlen(kw);

	if (strncasecmp(arg, kw, n) != 0)
		return NULL;
	arg += n;
	while (*arg == ' ')
		arg++;
	return arg;
}

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"),
 * esmtp-value = 1*(%d33-60 / %d62-126). Splits "KEY[=VALUE]" in place
 * at p (NUL-terminated word). */
static bool
param_split(char *p, char **key, char **value)
{
	char *eq = strchr(p, '=');
	char *q;

	*key = p;
	*value = NULL;
	if (eq != NULL) {
		*eq = '\0';
		*value = eq + 1;
		if (**value == '\0')
			return false;
		for (q = *value; *q != '\0'; q++)
			if ((unsigned char)*q < 33 || *q == '=' ||
			    (unsigned char)*q > 126)
				return false;
	}
	if (!isalnum((unsigned char)p[0]))
		return false;
	for (q = p; *q != '\0'; q++)
		if (!isalnum((unsigned char)*q) && *q != '-')
			return false;
	return true;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;       /* RFC 3461 4: upper-case hex digits only */
}

int
smtp_xtext_decode(const char *in, char *out, size_t outlen)
{
	size_t n = 0;
	int c, hi, lo;

	for (; *in != '\0'; in++) {
		c = (unsigned char)*in;
		if (c == '+') {
			if ((hi = hexval(in[1])) < 0 || (lo = hexval(in[2])) < 0)
				return -1;
			c = hi * 16 + lo;
			in += 2;
			/* Decoded text must be printable US-ASCII: it goes
			 * into queue file lines and DSN header fields. */
			if (c < 0x20 || c > 0x7e)
				return -1;
		} else if (c < 0x21 || c > 0x7e || c == '=') {
			return -1;
		}
		if (n + 1 >= outlen)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

/* NOTIFY="NEVER" / 1#("SUCCESS" / "FAILURE" / "DELAY") (dsn.h); 0 when
 * invalid. */
static unsigned
notify_parse(const char *v)
{
	unsigned f;

	return dsn_notify_parse(v, &f) == 0 ? f & DSN_NOTIFY_WORDS : 0;
}

/* ORCPT=addr-type;xtext (RFC 3461 4.2). 0 or -1. */
static int
orcpt_parse(const char *v, struct rcpt_args *dsn)
{
	const char *semi = strchr(v, ';');
	size_t tlen;

	if (strlen(v) > SMTP_ORCPT_MAX || semi == NULL || semi == v)
		return -1;
	tlen = (size_t)(semi - v);
	for (size_t i = 0; i < tlen; i++)
		if (!isalnum((unsigned char)v[i]) && v[i] != '-')
			return -1;
	memcpy(dsn->orcpt_type, v, tlen);
	dsn->orcpt_type[tlen] = '\0';
	if (semi[1] == '\0' ||
	    smtp_xtext_decode(semi + 1, dsn->orcpt, sizeof(dsn->orcpt)) < 0)
		return -1;
	dsn->orcpt_given = true;
	return 0;
}

/* Fills r for an address parse failure. */
static void
addr_reply(struct smtp_reply *r, enum addr_status st, bool sender)
{
	const char *enh = sender ? "5.1.7" : "5.1.3";

	switch (st) {
	case ADDR_NEEDS_UTF8:
		/* RFC 6531 3.5 */
		smtp_reply_set(r, 553, "5.6.7",
		    "Non-ASCII address requires SMTPUTF8");
		break;
	case ADDR_LOCAL_TOOLONG:
	case ADDR_DOMAIN_TOOLONG:
	case ADDR_PATH_TOOLONG:
		/* RFC 5321 4.5.3.1.10: "501 Path too long" */
		smtp_reply_set(r, 501, enh, "Path too long (%s)",
		    addr_status_str(st));
		break;
	default:
		smtp_reply_set(r, 501, enh, "Bad %s address syntax",
		    sender ? "sender" : "recipient");
		break;
	}
}

int
smtp_parse_mail(const char *arg, bool esmtp, struct mail_args *out,
    struct smtp_reply *r)
{
	const char *path, *end;
	char params[SMTP_RCPT_LINE_MAX + 2], *word, *save, *key, *value;
	enum addr_status st;

	memset(out, 0, sizeof(*out));
	if ((path = path_start(arg, "FROM:")) == NULL || *path != '<') {
		smtp_reply_set(r, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return -1;
	}
	/* Parse with UTF-8 allowed to find the end of the path; whether
	 * UTF-8 was permitted is decided once the parameters are known. */
	st = addr_parse_path(path, ADDR_ALLOW_NULL | ADDR_UTF8, &out->from,
	    &end);
	if (st != ADDR_OK) {
		addr_reply(r, st, true);
		return -1;
	}
	if (*end != '\0' && *end != ' ') {
		smtp_reply_set(r, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return -1;
	}
	if (strlen(end) >= sizeof(params)) {
		smtp_reply_set(r, 500, "5.5.2", "Line too long");
		return -1;
	}
	strcpy(params, end);
	for (word = strtok_r(params, " ", &save); word != NULL;
	    word = strtok_r(NULL, " ", &save)) {
		if (!esmtp) {
			smtp_reply_set(r, 555, "5.5.4",
			    "Parameters require EHLO");
			return -1;
		}
		if (!param_split(word, &key, &value)) {
			smtp_reply_set(r, 501, "5.5.4",
			    "Bad parameter syntax");
			return -1;
		}
		if (strcasecmp(key, "SIZE") == 0) {
			char *e;
			unsigned long long v;
			if (value == NULL || out->size_given ||
			    !isdigit((unsigned char)value[0]) ||
			    strlen(value) > 20) {
				smtp_reply_set(r, 501, "5.5.4",
				    "Bad SIZE parameter");
				return -1;
			}
			errno = 0;
			v = strtoull(value, &e, 10);
			if (*e != '\0') {
				smtp_reply_set(r, 501, "5.5.4",
				    "Bad SIZE parameter");
				return -1;
			}
			if (errno == ERANGE)
				v = UINT64_MAX;   /* certainly too big */
			out->size = v;
			out->size_given = true;
		} else if (strcasecmp(key, "BODY") == 0) {
			if (value == NULL || out->body != BODY_NONE) {
				smtp_reply_set(r, 501, "5.5.4",
				    "Bad BODY parameter");
				return -1;
			}
			if (strcasecmp(value, "7BIT") == 0)
				out->body = BODY_7BIT;
			else if (strcasecmp(value, "8BITMIME") == 0)
				out->body = BODY_8BITMIME;
			else {
				smtp_reply_set(r, 501, "5.5.4",
				    "Unsupported BODY type");
				return -1;
			}
		} else if (strcasecmp(key, "SMTPUTF8") == 0) {
			if (value != NULL || out->smtputf8) {
				smtp_reply_set(r, 501, "5.5.4",
				    "Bad SMTPUTF8 parameter");
				return -1;
			}
			out->smtputf8 = true;
		} else if (strcasecmp(key, "RET") == 0) {
			/* RFC 3461 4.3 */
			if (value == NULL || out->ret != DSN_RET_NONE) {
				smtp_reply_set(r, 501, "5.5.4",
				    "Bad RET parameter");
				return -1;
			}
			if (strcasecmp(value, "FULL") == 0)
				out->ret = DSN_RET_FULL;
			else if (strcasecmp(value, "HDRS") == 0)
				out->ret = DSN_RET_HDRS;
			else {
				smtp_reply_set(r, 501, "5.5.4",
				    "Bad RET parameter");
				return -1;
			}
		} else if (strcasecmp(key, "ENVID") == 0) {
			/* RFC 3461 4.4 */
			if (value == NULL || out->envid_given ||
			    strlen(value) > SMTP_ENVID_MAX ||
			    smtp_xtext_decode(value, out->envid,
			    sizeof(out->envid)) < 0) {
				smtp_reply_set(r, 501, "5.5.4",
				    "Bad ENVID parameter");
				return -1;
			}
			out->envid_given = true;
		} else if (strcasecmp(key, "AUTH") == 0) {
			/* RFC 4954 5: accepted; we do not relay the
			 * original submitter identity, so it is ignored. */
			if (value == NULL) {
				smtp_reply_set(r, 501, "5.5.4",
				    "Bad AUTH parameter");
				return -1;
			}
		} else {
			smtp_reply_set(r, 555, "5.5.4",
			    "Unsupported parameter %.64s", key);
			return -1;
		}
	}
	if (out->from.utf8 && !out->smtputf8) {
		addr_reply(r, ADDR_NEEDS_UTF8, true);
		return -1;
	}
	return 0;
}

int
smtp_parse_rcpt(const char *arg, bool esmtp, bool smtputf8,
    struct mailbox *out, struct smtp_reply *r)
{
	struct rcpt_args dsn;

	return smtp_parse_rcpt_dsn(arg, esmtp, smtputf8, out, &dsn, r);
}

int
smtp_parse_rcpt_dsn(const char *arg, bool esmtp, bool smtputf8,
    struct mailbox *out, struct rcpt_args *dsn, struct smtp_reply *r)
{
	const char *path, *end;
	char params[SMTP_RCPT_LINE_MAX + 2], *word, *save, *key, *value;
	enum addr_status st;
	unsigned flags = ADDR_ALLOW_POSTMASTER;

	memset(dsn, 0, sizeof(*dsn));
	if ((path = path_start(arg, "TO:")) == NULL || *path != '<') {
		smtp_reply_set(r, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return -1;
	}
	if (smtputf8)
		flags |= ADDR_UTF8;
	st = addr_parse_path(path, flags, out, &end);
	if (st != ADDR_OK) {
		addr_reply(r, st, false);
		return -1;
	}
	if (*end != '\0' && *end != ' ') {
		smtp_reply_set(r, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return -1;
	}
	while (*end == ' ')
		end++;
	if (*end != '\0' && !esmtp) {
		smtp_reply_set(r, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return -1;
	}
	if (strlen(end) >= sizeof(params)) {
		smtp_reply_set(r, 500, "5.5.2", "Line too long");
		return -1;
	}
	strcpy(params, end);
	for (word = strtok_r(params, " ", &save); word != NULL;
	    word = strtok_r(NULL, " ", &save)) {
		if (!param_split(word, &key, &value)) {
			smtp_reply_set(r, 501, "5.5.4",
			    "Bad parameter syntax");
			return -1;
		}
		if (strcasecmp(key, "NOTIFY") == 0) {
			/* RFC 3461 4.1 */
			if (value == NULL || dsn->notify != 0 ||
			    (dsn->notify = notify_parse(value)) == 0) {
				smtp_reply_set(r, 501, "5.5.4",
				    "Bad NOTIFY parameter");
				return -1;
			}
		} else if (strcasecmp(key, "ORCPT") == 0) {
			/* RFC 3461 4.2 */
			if (value == NULL || dsn->orcpt_given ||
			    orcpt_parse(value, dsn) < 0) {
				smtp_reply_set(r, 501, "5.5.4",
				    "Bad ORCPT parameter");
				return -1;
			}
		} else {
			smtp_reply_set(r, 555, "5.5.4",
			    "Unsupported parameter %.64s", key);
			return -1;
		}
	}
	return 0;
}
