/*
 * fuzz_lists.c - libFuzzer target: lists.dat (common/lists.c), written by
 * the operator and by dlist from list owners' input: lists_parse(), then
 * the address matching every incoming recipient goes through
 * (lists_match(), with VERP bounce addresses) and the block editing of
 * dlist (lists_block_remove()).
 *
 * Input: the file text. Checks: a parse either succeeds with no error
 * text or fails with errors; every list found is found again by its own
 * address, and its -request, -owner and -bounces addresses match it;
 * removing the first list's block (dlist remove) leaves a file that
 * parses to exactly the other lists.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "lists.h"

static void
match(const struct lists *l, const struct list_def *d, const char *suffix,
    enum list_addr_kind want)
{
	const struct list_def *got = NULL;
	char member[LIST_ADDRESS_MAX + 1];
	struct buf a = BUF_INIT;

	list_addr(d, suffix, &a);
	if (lists_match(l, buf_cstr(&a), &got, member, sizeof(member)) !=
	    want || got == NULL)
		abort();
	buf_free(&a);
}

/* What dlist remove leaves: the other lists, and only them. */
static void
removed(const struct buf *text, const struct lists *before)
{
	struct lists l = { NULL, 0 };
	struct buf err = BUF_INIT;

	if (lists_parse("lists.dat", buf_cstr(text), text->len, &l,
	    &err) != 0 || l.count != before->count - 1 ||
	    lists_find(&l, before->items[0].address) != NULL)
		abort();
	for (size_t i = 1; i < before->count; i++)
		if (lists_find(&l, before->items[i].address) == NULL)
			abort();
	lists_free(&l);
	buf_free(&err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lists l = { NULL, 0 };
	struct buf err = BUF_INIT, text = BUF_INIT, v = BUF_INIT;
	const struct list_def *d;
	char member[LIST_ADDRESS_MAX + 1];

	if (lists_parse("lists.dat", (const char *)data, size, &l, &err) == 0) {
		if (err.len != 0)
			abort();
		for (size_t i = 0; i < l.count; i++) {
			d = &l.items[i];
			if (lists_find(&l, d->address) == NULL)
				abort();
			match(&l, d, "", LIST_ADDR_POST);
			match(&l, d, "-request", LIST_ADDR_REQUEST);
			match(&l, d, "-owner", LIST_ADDR_OWNER);
			match(&l, d, "-bounces", LIST_ADDR_BOUNCES);
			list_verp_addr(d, "bob@remote.test", &v);
			if (lists_match(&l, buf_cstr(&v), &d, member,
			    sizeof(member)) != LIST_ADDR_BOUNCES ||
			    strcmp(member, "bob@remote.test") != 0)
				abort();
			list_id(&l.items[i], &v);
		}
		/* The input as a recipient address, too. */
		if (size < 400) {
			char *s = fuzz_cstr(data, size);
			(void)lists_match(&l, s, &d, member, sizeof(member));
			(void)list_valid_address(s);
			free(s);
		}
		if (l.count > 0) {
			buf_append(&text, data, size);
			if (lists_block_remove(&text, l.items[0].address) != 1)
				abort();
			removed(&text, &l);
		}
		lists_free(&l);
	} else if (err.len == 0) {
		abort();
	}
	buf_free(&err);
	buf_free(&text);
	buf_free(&v);
	return 0;
}
