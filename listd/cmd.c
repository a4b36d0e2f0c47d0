/*
 * cmd.c - parsing the command lines of control mail (LIST-request@ and
 * dlist@): one command per line, words separated by blanks, command
 * names case-insensitive. Pure functions, unit-tested. The text is
 * bytes with a length (it may hold NUL bytes); a subject is a C string.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "listd.h"
#include "util.h"

/* pw: bits of the arguments that are passwords, counted in the full
 * form (LIST given); with the LIST left out they shift down by one. */
static const struct {
	const char *name;
	enum cmd_kind kind;
	size_t min_args, max_args;
	unsigned pw;
} commands[] = {
	{ "help", CMD_HELP, 0, 0, 0 },
	{ "lists", CMD_LISTS, 0, 0, 0 },
	{ "info", CMD_INFO, 0, 1, 0 },
	{ "subscribe", CMD_SUBSCRIBE, 0, 2, 0 },
	{ "join", CMD_SUBSCRIBE, 0, 2, 0 },
	{ "unsubscribe", CMD_UNSUBSCRIBE, 0, 2, 0 },
	{ "leave", CMD_UNSUBSCRIBE, 0, 2, 0 },
	{ "signoff", CMD_UNSUBSCRIBE, 0, 2, 0 },
	{ "who", CMD_WHO, 0, 1, 0 },
	{ "set", CMD_SET, 1, 2, 0 },
	{ "index", CMD_INDEX, 0, 1, 0 },
	{ "get", CMD_GET, 1, 2, 0 },
	{ "end", CMD_END, 0, 0, 0 },
	{ "confirm", CMD_CONFIRM, 1, 1, 0 },
	{ "approve", CMD_APPROVE, 1, 1, 0 },
	{ "reject", CMD_REJECT, 1, 1, 0 },
	{ "which", CMD_WHICH, 0, 1, 0 },
	{ "intro", CMD_INTRO, 0, 1, 0 },
	{ "newinfo", CMD_NEWINFO, 1, 2, 2 },
	{ "newintro", CMD_NEWINTRO, 1, 2, 2 },
	{ "config", CMD_CONFIG, 1, 2, 2 },
	{ "newconfig", CMD_NEWCONFIG, 1, 2, 2 },
	{ "writelist", CMD_WRITELIST, 1, 2, 2 },
	{ "mkdigest", CMD_MKDIGEST, 1, 2, 2 },
	{ "passwd", CMD_PASSWD, 2, 3, 6 },
	{ "files", CMD_FILES, 0, 1, 0 },
	{ "getfile", CMD_GETFILE, 1, 2, 0 },
	{ "putfile", CMD_PUTFILE, 2, 3, 2 },
	{ "delfile", CMD_DELFILE, 2, 3, 2 },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

const char *
cmd_name(enum cmd_kind k)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (commands[i].kind == k)
			return commands[i].name;
	return k == CMD_NONE ? "" : "unknown";
}

/* "reject ID REASON...": the rest of the line, blanks trimmed, control
 * characters dropped, at most CMD_REASON_MAX bytes. */
static void
reject_reason(const char *s, size_t n, struct cmd *out)
{
	size_t o = 0;

	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	for (size_t i = 0; i < n && o < CMD_REASON_MAX; i++)
		if ((unsigned char)s[i] >= 0x20 && s[i] != 0x7f)
			out->reason[o++] = s[i];
	out->reason[o] = '\0';
}

void
cmd_parse_line(const char *line, size_t len, struct cmd *out)
{
	char words[CMD_MAX_ARGS + 3][CMD_ARG_MAX];
	size_t nw = 0, i = 0, w0 = 0;

	memset(out, 0, sizeof(*out));
	/* Words are C strings below: a line with a NUL is no command. */
	if (len > LISTD_CMD_LINE_MAX || memchr(line, '\0', len) != NULL) {
		out->kind = CMD_UNKNOWN;
		return;
	}
	while (i < len) {
		size_t start, n;

		while (i < len && isspace((unsigned char)line[i]))
			i++;
		if (i >= len)
			break;
		start = i;
		while (i < len && !isspace((unsigned char)line[i]))
			i++;
		n = i - start;
		if (nw == CMD_MAX_ARGS + 3 || n >= CMD_ARG_MAX) {
			out->kind = CMD_UNKNOWN;
			return;
		}
		memcpy(words[nw], line + start, n);
		words[nw][n] = '\0';
		nw++;
		if (nw == 2 && strcasecmp(words[0], "reject") == 0) {
			reject_reason(line + i, len - i, out);
			break;
		}
	}
	if (nw == 0) {
		out->kind = CMD_NONE;
		return;
	}
	out->kind = CMD_UNKNOWN;
	/* majordomo's "approve PASSWORD subscribe|unsubscribe ..." */
	if (nw >= 3 && strcasecmp(words[0], "approve") == 0) {
		out->approved = true;
		memcpy(out->password, words[1], strlen(words[1]) + 1);
		w0 = 2;
	}
	for (size_t c = 0; c < NCOMMANDS; c++) {
		if (strcasecmp(words[w0], commands[c].name) != 0)
			continue;
		out->known_word = true;
		if (nw - w0 - 1 < commands[c].min_args ||
		    nw - w0 - 1 > commands[c].max_args || (out->approved &&
		    commands[c].kind != CMD_SUBSCRIBE &&
		    commands[c].kind != CMD_UNSUBSCRIBE))
			return;
		out->kind = commands[c].kind;
		out->nargs = nw - w0 - 1;
		for (size_t a = 0; a < out->nargs; a++)
			memcpy(out->args[a], words[w0 + a + 1],
			    strlen(words[w0 + a + 1]) + 1);
		return;
	}
}

void
cmd_format(const struct cmd *cmd, struct buf *out)
{
	unsigned pw = 0;

	buf_reset(out);
	for (size_t c = 0; c < NCOMMANDS; c++)
		if (commands[c].kind == cmd->kind) {
			pw = commands[c].pw >>
			    (commands[c].max_args - cmd->nargs);
			break;
		}
	if (cmd->approved)
		buf_append_str(out, "approve ******** ");
	buf_append_str(out, cmd_name(cmd->kind));
	for (size_t a = 0; a < cmd->nargs; a++)
		buf_printf(out, " %s", (pw & (1u << a)) ? "********" :
		    cmd->args[a]);
}

bool
cmd_same(const struct cmd *a, const struct cmd *b)
{
	if (a->kind != b->kind || a->nargs != b->nargs ||
	    a->approved != b->approved)
		return false;
	for (size_t i = 0; i < a->nargs; i++)
		if (strcasecmp(a->args[i], b->args[i]) != 0)
			return false;
	return true;
}

unsigned
cmd_find_tokens(const char *text, size_t len, const char *word,
    struct strlist *out)
{
	size_t wl = strlen(word);
	unsigned found = 0;

	for (size_t i = 0; i + wl < len; i++) {
		size_t j;
		char tok[LISTD_TOKEN_LEN + 1];
		struct buf b = BUF_INIT;

		if (!mem_prefix_ci(text + i, len - i, word) ||
		    (i > 0 && isalnum((unsigned char)text[i - 1])))
			continue;
		j = i + wl;
		if (j >= len || (text[j] != ' ' && text[j] != '\t' &&
		    text[j] != ':'))
			continue;
		while (j < len && (text[j] == ' ' || text[j] == '\t' ||
		    text[j] == ':'))
			j++;
		if (len - j < LISTD_TOKEN_LEN)
			continue;
		memcpy(tok, text + j, LISTD_TOKEN_LEN);
		tok[LISTD_TOKEN_LEN] = '\0';
		for (size_t k = 0; k < LISTD_TOKEN_LEN; k++)
			tok[k] = (char)tolower((unsigned char)tok[k]);
		if (!token_valid_id(tok) || (j + LISTD_TOKEN_LEN < len &&
		    isalnum((unsigned char)text[j + LISTD_TOKEN_LEN])))
			continue;
		buf_printf(&b, "%s %s", word, tok);
		str_lower(b.data);
		if (!strlist_contains_ci(out, b.data)) {
			strlist_add(out, b.data);
			found++;
		}
		buf_free(&b);
		i = j + LISTD_TOKEN_LEN - 1;
	}
	return found;
}

const char *
cmd_subject_text(const char *s)
{
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (strncasecmp(s, "re:", 3) == 0 ||
		    strncasecmp(s, "aw:", 3) == 0 ||
		    strncasecmp(s, "sv:", 3) == 0)
			s += 3;
		else if (strncasecmp(s, "fwd:", 4) == 0)
			s += 4;
		else if (strncasecmp(s, "fw:", 3) == 0)
			s += 3;
		else
			return s;
	}
}
