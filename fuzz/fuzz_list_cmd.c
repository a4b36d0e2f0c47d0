/*
 * fuzz_list_cmd.c - libFuzzer target: command mail to LIST-request@ and
 * dlist@ (listd/cmd.c): each line of the text through cmd_parse_line(),
 * confirmation/approval tokens found anywhere in the text
 * (cmd_find_tokens()), and the "Re:"/"Fwd:" stripping of a subject
 * (cmd_subject_text()).
 *
 * Input: the command text. Checks: a parsed command has at most
 * CMD_MAX_ARGS NUL-terminated arguments; tokens found are "WORD ID"
 * with a valid id.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "listd.h"

static void
tokens(const char *text, size_t len, const char *word)
{
	struct strlist l = { NULL, 0 };

	(void)cmd_find_tokens(text, len, word, &l);
	for (size_t i = 0; i < l.count; i++) {
		size_t wl = strlen(word);

		if (strncmp(l.items[i], word, wl) != 0 ||
		    l.items[i][wl] != ' ' ||
		    !token_valid_id(l.items[i] + wl + 1))
			abort();
	}
	strlist_free(&l);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *end = text + size, *s;
	char *subject;
	struct cmd c;

	for (s = text; s < end;) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);

		cmd_parse_line(s, n, &c);
		if (c.nargs > CMD_MAX_ARGS)
			abort();
		for (size_t i = 0; i < c.nargs; i++)
			if (memchr(c.args[i], '\0', CMD_ARG_MAX) == NULL)
				abort();
		(void)cmd_name(c.kind);
		s += n + (nl != NULL);
	}
	tokens(text, size, "confirm");
	tokens(text, size, "approve");
	tokens(text, size, "reject");
	subject = fuzz_cstr(data, size);
	s = cmd_subject_text(subject);
	if (s < subject || s > subject + strlen(subject))
		abort();
	free(subject);
	return 0;
}
