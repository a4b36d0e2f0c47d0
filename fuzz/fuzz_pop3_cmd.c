/*
 * fuzz_pop3_cmd.c - libFuzzer target: POP3 command lines (pop3d/
 * pop3_cmd.c): the verb and argument split, message numbers (RETR,
 * DELE, LIST, UIDL) and the two numbers of TOP; and the Maildir file
 * name parsers of pop3d/maildrop.c (UIDL and ",W=" size), since file
 * names in a user's Maildir come from whoever delivered there.
 *
 * Input: the command line without CRLF. Checks: a parsed verb has a
 * name; numbers are in 0..2^31-1; a UIDL is 1-70 printable characters.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pop3d.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pop3_cmd cmd;
	char *line = fuzz_cstr(data, size);
	char *name = fuzz_cstr(data, size);
	char uidl[71];
	uint64_t wsize;
	long a, b, n;
	size_t ulen;

	if (pop3_parse(line, &cmd) == 0) {
		if (cmd.name == NULL)
			abort();
		if (cmd.arg != NULL) {
			n = pop3_number(cmd.arg);
			if (n < -1 || n > 0x7fffffffL)
				abort();
			if (pop3_two_numbers(cmd.arg, &a, &b) == 0 &&
			    (a < 0 || b < 0))
				abort();
		}
	}
	maildrop_uidl(name, uidl);
	ulen = strnlen(uidl, sizeof(uidl));
	if (ulen == 0 || ulen > 70)
		abort();
	for (size_t i = 0; i < ulen; i++)
		if ((unsigned char)uidl[i] < 0x21 || (unsigned char)uidl[i] > 0x7e)
			abort();
	(void)maildrop_name_size(name, &wsize);
	free(line);
	free(name);
	return 0;
}
