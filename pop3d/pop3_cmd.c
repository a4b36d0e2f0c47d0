/*
 * pop3_cmd.c - the POP3 command line parser (RFC 1939 section 3, RFC 2449).
 *
 * A command is a case-insensitive keyword of 3-4 letters, optionally
 * followed by one space and arguments. The parser only splits; which
 * verbs are valid in which state, and what the arguments mean, is the
 * state machine's business (pop3_session.c).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pop3d.h"

static const struct {
	const char *name;
	enum pop3_verb verb;
} verbs[] = {
	{ "USER", POP3_USER }, { "PASS", POP3_PASS }, { "APOP", POP3_APOP },
	{ "AUTH", POP3_AUTH }, { "STLS", POP3_STLS }, { "CAPA", POP3_CAPA },
	{ "QUIT", POP3_QUIT }, { "STAT", POP3_STAT }, { "LIST", POP3_LIST },
	{ "RETR", POP3_RETR }, { "DELE", POP3_DELE }, { "NOOP", POP3_NOOP },
	{ "RSET", POP3_RSET }, { "TOP", POP3_TOP }, { "UIDL", POP3_UIDL },
};

int
pop3_parse(char *line, struct pop3_cmd *cmd)
{
	char *sp;

	cmd->verb = POP3_UNKNOWN;
	cmd->name = "";
	cmd->arg = NULL;
	if (line[0] == '\0')
		return -1;
	for (char *p = line; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' && *p != '\t')
			return -1;
	sp = strchr(line, ' ');
	if (sp != NULL) {
		*sp = '\0';
		cmd->arg = sp + 1;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcasecmp(line, verbs[i].name) == 0) {
			cmd->verb = verbs[i].verb;
			cmd->name = verbs[i].name;
			break;
		}
	return 0;
}

long
pop3_number(const char *s)
{
	long v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (*s - '0');
		if (v >= 0x7fffffffL)
			return -1;
	}
	return v;
}

int
pop3_two_numbers(const char *s, long *a, long *b)
{
	char first[16];
	const char *sp;

	if (s == NULL || (sp = strchr(s, ' ')) == NULL ||
	    (size_t)(sp - s) >= sizeof(first))
		return -1;
	memcpy(first, s, sp - s);
	first[sp - s] = '\0';
	*a = pop3_number(first);
	*b = pop3_number(sp + 1);
	return *a < 0 || *b < 0 ? -1 : 0;
}
