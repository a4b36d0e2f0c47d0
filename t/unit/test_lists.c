/*
 * test_lists.c - unit tests for DList: the lists.dat parser (every error
 * path, from a table of texts and the exact messages an operator sees),
 * list address recognition and VERP, editing blocks and the lists.dat
 * editing path (listedit.h), the check of one key's value, member records,
 * owners and moderators, tokens (generation, format, expiry and
 * the posters of expired held posts), command-line parsing and token
 * scanning (with a reject's reason), and the message helpers of the list
 * worker; members: delivery modes, import lines and counts, cursor
 * pages (listdb.c).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "buf.h"
#include "listdb.h"
#include "listedit.h"
#include "listfiles.h"
#include "lists.h"
#include "util.h"
#include "../../listd/listd.h"
#include "unit_tmpdir.h"

static int
parse(const char *text, struct lists *l, struct buf *err)
{
	buf_reset(err);
	memset(l, 0, sizeof(*l));
	return lists_parse("lists.dat", text, strlen(text), l, err);
}

static void
test_parse_full_block(void **state)
{
	struct lists l;
	struct buf err = BUF_INIT;
	const struct list_def *d;

	(void)state;
	assert_int_equal(parse(
	    "# comment\n"
	    "\n"
	    "list Club@Example.Test\n"
	    "    owner alice@example.test, bob@example.test\n"
	    "    owner carol@example.test\n"
	    "    moderator mod@example.test\n"
	    "    description The club list\n"
	    "    subscribe approve\n"
	    "    post moderated\n"
	    "    reply_to sender\n"
	    "    subject_prefix [Club!]\n"
	    "    max_size 1M\n"
	    "    archive no\n"
	    "    digest yes\n"
	    "    digest_max_size 10k\n"
	    "    digest_interval 2h\n"
	    "    hidden yes\n"
	    "    verp no\n"
	    "    bounce_threshold 3\n"
	    "    digest_format mime\n"
	    "list other@example.test\n"
	    "\towner x@example.test\r\n", &l, &err), 0);
	assert_int_equal(l.count, 2);
	d = &l.items[0];
	assert_string_equal(d->address, "club@example.test");
	assert_string_equal(d->name, "club");
	assert_string_equal(d->domain, "example.test");
	assert_int_equal(d->owners.count, 3);
	assert_string_equal(d->owners.items[1], "bob@example.test");
	assert_int_equal(d->moderators.count, 1);
	assert_string_equal(d->description, "The club list");
	assert_int_equal(d->subscribe, LIST_SUB_APPROVE);
	assert_int_equal(d->post, LIST_POST_MODERATED);
	assert_int_equal(d->reply_to, LIST_REPLY_SENDER);
	assert_string_equal(d->subject_prefix, "[Club!]");
	assert_int_equal(d->max_size, 1024 * 1024);
	assert_false(d->archive);
	assert_true(d->digest);
	assert_int_equal(d->digest_max_size, 10 * 1024);
	assert_int_equal(d->digest_interval, 7200);
	assert_true(d->hidden);
	assert_false(d->verp);
	assert_int_equal(d->bounce_threshold, 3);
	assert_true(d->digest_mime);
	assert_int_equal(d->line, 3);
	/* defaults */
	d = &l.items[1];
	assert_string_equal(d->subject_prefix, "[other]");
	assert_int_equal(d->subscribe, LIST_SUB_CONFIRM);
	assert_int_equal(d->post, LIST_POST_MEMBERS);
	assert_int_equal(d->reply_to, LIST_REPLY_LIST);
	assert_true(d->archive);
	assert_true(d->verp);
	assert_false(d->hidden);
	assert_int_equal(d->max_size, 0);
	assert_false(d->digest_mime);
	assert_string_equal(d->description, "");
	lists_free(&l);
	buf_free(&err);
}

static void
test_parse_empty_and_prefix_none(void **state)
{
	struct lists l;
	struct buf err = BUF_INIT;

	(void)state;
	assert_int_equal(parse("", &l, &err), 0);
	assert_int_equal(l.count, 0);
	assert_int_equal(parse("list a@b.test\nowner o@b.test\n"
	    "subject_prefix none\n", &l, &err), 0);
	assert_string_equal(l.items[0].subject_prefix, "");
	lists_free(&l);
	buf_free(&err);
}

static const struct {
	const char *text;
	const char *error;
} bad[] = {
	{ "owner a@b.test\n",
	  "lists.dat:1: 'owner' outside a list block (a block starts with "
	  "'list NAME@DOMAIN')\n" },
	{ "list nodomain\nowner a@b.test\n",
	  "lists.dat:1: list: 'nodomain' is not an address (name@domain)\n" },
	{ "list a@localhost\nowner a@b.test\n",
	  "lists.dat:1: list: 'a@localhost' is not an address "
	  "(name@domain)\n" },
	{ "list a b@c.test\nowner a@b.test\n",
	  "lists.dat:1: list: 'a b@c.test' is not an address "
	  "(name@domain)\n" },
	{ "list a+b@c.test\nowner a@b.test\n",
	  "lists.dat:1: list a+b@c.test: list name may only hold letters, "
	  "digits, '.', '_' and '-'\n" },
	{ "list -a@c.test\nowner a@b.test\n",
	  "lists.dat:1: list -a@c.test: list name must start with a letter "
	  "or digit\n" },
	{ "list dlist@c.test\nowner a@b.test\n",
	  "lists.dat:1: list dlist@c.test: 'dlist' is reserved for the "
	  "command address\n" },
	{ "list x-request@c.test\nowner a@b.test\n",
	  "lists.dat:1: list x-request@c.test: list name may not end in "
	  "-request, -owner or -bounces\n" },
	{ "list x-owner@c.test\nowner a@b.test\n",
	  "lists.dat:1: list x-owner@c.test: list name may not end in "
	  "-request, -owner or -bounces\n" },
	{ "list x-bounces@c.test\nowner a@b.test\n",
	  "lists.dat:1: list x-bounces@c.test: list name may not end in "
	  "-request, -owner or -bounces\n" },
	{ "list a@c.test\nowner a@b.test\nlist A@C.test\nowner a@b.test\n",
	  "lists.dat:3: list A@C.test defined twice (first on line 1)\n" },
	{ "list a@c.test\n",
	  "lists.dat:1: list a@c.test has no owner\n" },
	{ "list a@c.test\nowner a@b.test\nsubscribe sometimes\n",
	  "lists.dat:3: subscribe: 'sometimes' is not one of "
	  "open|confirm|approve|closed\n" },
	{ "list a@c.test\nowner a@b.test\npost all\n",
	  "lists.dat:3: post: 'all' is not one of "
	  "members|anyone|moderated|announce\n" },
	{ "list a@c.test\nowner a@b.test\nreply_to me\n",
	  "lists.dat:3: reply_to: 'me' is not one of list|sender|none\n" },
	{ "list a@c.test\nowner a@b.test\nmax_size huge\n",
	  "lists.dat:3: max_size: 'huge' is not a size\n" },
	{ "list a@c.test\nowner a@b.test\ndigest_max_size 1X\n",
	  "lists.dat:3: digest_max_size: '1X' is not a size\n" },
	{ "list a@c.test\nowner a@b.test\ndigest_interval soon\n",
	  "lists.dat:3: digest_interval: 'soon' is not a duration\n" },
	{ "list a@c.test\nowner a@b.test\ndigest_interval 0\n",
	  "lists.dat:3: digest_interval: '0' is not a duration\n" },
	{ "list a@c.test\nowner a@b.test\narchive maybe\n",
	  "lists.dat:3: archive: 'maybe' is not yes or no\n" },
	{ "list a@c.test\nowner a@b.test\ndigest 2\n",
	  "lists.dat:3: digest: '2' is not yes or no\n" },
	{ "list a@c.test\nowner a@b.test\nhidden perhaps\n",
	  "lists.dat:3: hidden: 'perhaps' is not yes or no\n" },
	{ "list a@c.test\nowner a@b.test\nverp x\n",
	  "lists.dat:3: verp: 'x' is not yes or no\n" },
	{ "list a@c.test\nowner a@b.test\nbounce_threshold 0\n",
	  "lists.dat:3: bounce_threshold: '0' is not a number from 1 to "
	  "1000000\n" },
	{ "list a@c.test\nowner a@b.test\nbounce_threshold -1\n",
	  "lists.dat:3: bounce_threshold: '-1' is not a number from 1 to "
	  "1000000\n" },
	{ "list a@c.test\nowner a@b.test\nbounce_threshold 5x\n",
	  "lists.dat:3: bounce_threshold: '5x' is not a number from 1 to "
	  "1000000\n" },
	{ "list a@c.test\nowner a@b.test\ndigest_format html\n",
	  "lists.dat:3: digest_format: 'html' is not one of rfc1153|mime\n" },
	{ "list a@c.test\nowner a@b.test\npost anyone\npost members\n",
	  "lists.dat:4: 'post' given twice for list a@c.test\n" },
	{ "list a@c.test\nowner a@b.test\ncolour blue\n",
	  "lists.dat:3: unknown key 'colour'\n" },
	{ "list a@c.test\nowner\n",
	  "lists.dat:2: 'owner' needs a value\n"
	  "lists.dat:1: list a@c.test has no owner\n" },
	{ "list a@c.test\nowner not-an-address\n",
	  "lists.dat:2: owner: 'not-an-address' is not an address "
	  "(user@domain)\n"
	  "lists.dat:1: list a@c.test has no owner\n" },
	{ "list a@c.test\nowner a@b.test\nmoderator bad\n",
	  "lists.dat:3: moderator: 'bad' is not an address (user@domain)\n" },
	/* Several errors are all reported; a bad block's keys are skipped. */
	{ "list bad\nowner a@b.test\npost x\nlist ok@c.test\nowner o@c.test\n"
	  "hidden x\n",
	  "lists.dat:1: list: 'bad' is not an address (name@domain)\n"
	  "lists.dat:6: hidden: 'x' is not yes or no\n" },
};

static void
test_parse_errors(void **state)
{
	struct lists l;
	struct buf err = BUF_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i].text, &l, &err) != -1 ||
		    strcmp(buf_cstr(&err), bad[i].error) != 0) {
			print_error("case %zu: %s\nwant: %sgot:  %s\n", i,
			    bad[i].text, bad[i].error, buf_cstr(&err));
			fail();
		}
		assert_int_equal(l.count, 0);
	}
	/* A NUL byte in a line. */
	buf_reset(&err);
	memset(&l, 0, sizeof(l));
	assert_int_equal(lists_parse("lists.dat", "list a@c.test\n\0x\n", 16,
	    &l, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "lists.dat:2: NUL byte"));
	buf_free(&err);
}

static void
test_failed_parse_keeps_output(void **state)
{
	struct lists l;
	struct buf err = BUF_INIT;

	(void)state;
	assert_int_equal(parse("list a@c.test\nowner o@c.test\n", &l, &err),
	    0);
	assert_int_equal(lists_parse("x", "list", 4, &l, &err), -1);
	assert_int_equal(l.count, 1);
	assert_string_equal(l.items[0].address, "a@c.test");
	lists_free(&l);
	buf_free(&err);
}

static void
test_match(void **state)
{
	struct lists l;
	struct buf err = BUF_INIT, b = BUF_INIT;
	const struct list_def *d;
	char member[LIST_ADDRESS_MAX + 1];

	(void)state;
	assert_int_equal(parse("list club@ex.test\nowner o@ex.test\n"
	    "list club-news@ex.test\nowner o@ex.test\n", &l, &err), 0);
	assert_int_equal(lists_match(&l, "club@ex.test", &d, member,
	    sizeof(member)), LIST_ADDR_POST);
	assert_string_equal(d->address, "club@ex.test");
	assert_int_equal(lists_match(&l, "CLUB@EX.TEST", &d, member,
	    sizeof(member)), LIST_ADDR_POST);
	assert_int_equal(lists_match(&l, "club-request@ex.test", &d, member,
	    sizeof(member)), LIST_ADDR_REQUEST);
	assert_int_equal(lists_match(&l, "club-owner@ex.test", &d, member,
	    sizeof(member)), LIST_ADDR_OWNER);
	assert_int_equal(lists_match(&l, "club-bounces@ex.test", &d, member,
	    sizeof(member)), LIST_ADDR_BOUNCES);
	assert_string_equal(member, "");
	assert_int_equal(lists_match(&l, "club-bounces+Bob=Remote.test@ex.test",
	    &d, member, sizeof(member)), LIST_ADDR_BOUNCES);
	assert_string_equal(member, "bob@remote.test");
	assert_string_equal(d->address, "club@ex.test");
	/* a local part with '=' keeps all but the last one */
	assert_int_equal(lists_match(&l, "club-bounces+a=b=c.test@ex.test",
	    &d, member, sizeof(member)), LIST_ADDR_BOUNCES);
	assert_string_equal(member, "a=b@c.test");
	/* malformed VERP parts are not ours */
	assert_int_equal(lists_match(&l, "club-bounces+nobody@ex.test", &d,
	    member, sizeof(member)), LIST_ADDR_NONE);
	assert_int_equal(lists_match(&l, "club-bounces+=x.test@ex.test", &d,
	    member, sizeof(member)), LIST_ADDR_NONE);
	/* club-news is its own list, not club's "-news" */
	assert_int_equal(lists_match(&l, "club-news@ex.test", &d, member,
	    sizeof(member)), LIST_ADDR_POST);
	assert_string_equal(d->address, "club-news@ex.test");
	assert_int_equal(lists_match(&l, "club-news-request@ex.test", &d,
	    member, sizeof(member)), LIST_ADDR_REQUEST);
	assert_string_equal(d->address, "club-news@ex.test");
	assert_int_equal(lists_match(&l, "dlist@ex.test", &d, member,
	    sizeof(member)), LIST_ADDR_DLIST);
	assert_null(d);
	assert_int_equal(lists_match(&l, "dlist@other.test", &d, member,
	    sizeof(member)), LIST_ADDR_NONE);
	assert_int_equal(lists_match(&l, "club@other.test", &d, member,
	    sizeof(member)), LIST_ADDR_NONE);
	assert_int_equal(lists_match(&l, "clubx@ex.test", &d, member,
	    sizeof(member)), LIST_ADDR_NONE);
	assert_int_equal(lists_match(&l, "clu@ex.test", &d, member,
	    sizeof(member)), LIST_ADDR_NONE);
	assert_int_equal(lists_match(&l, "noat", &d, member,
	    sizeof(member)), LIST_ADDR_NONE);

	d = lists_find(&l, "club");
	assert_non_null(d);
	list_verp_addr(d, "bob@remote.test", &b);
	assert_string_equal(b.data, "club-bounces+bob=remote.test@ex.test");
	list_id(d, &b);
	assert_string_equal(b.data, "club.ex.test");
	list_addr(d, "-request", &b);
	assert_string_equal(b.data, "club-request@ex.test");
	lists_free(&l);
	buf_free(&err);
	buf_free(&b);
}

static void
test_block_edit(void **state)
{
	struct buf text = BUF_INIT, err = BUF_INIT;
	struct strlist owners = { NULL, 0 };
	struct lists l;

	(void)state;
	strlist_add(&owners, "o@ex.test");
	buf_set(&text, "# my lists\nlist a@ex.test\n\towner o@ex.test\n");
	lists_block_format("b@ex.test", &owners, "Bee", &text);
	lists_block_format("c@ex.test", &owners, NULL, &text);
	assert_int_equal(parse(text.data, &l, &err), 0);
	assert_int_equal(l.count, 3);
	assert_string_equal(l.items[1].description, "Bee");
	lists_free(&l);
	assert_int_equal(lists_block_remove(&text, "B@ex.test"), 1);
	assert_int_equal(lists_block_remove(&text, "b@ex.test"), 0);
	assert_int_equal(parse(text.data, &l, &err), 0);
	assert_int_equal(l.count, 2);
	assert_string_equal(l.items[1].address, "c@ex.test");
	lists_free(&l);
	assert_int_equal(lists_block_remove(&text, "c@ex.test"), 1);
	assert_string_equal(text.data,
	    "# my lists\nlist a@ex.test\n\towner o@ex.test\n");
	/* a name that is a prefix of another list is not confused */
	buf_set(&text, "list ab@ex.test\nowner o@ex.test\n");
	assert_int_equal(lists_block_remove(&text, "a@ex.test"), 0);
	strlist_free(&owners);
	buf_free(&text);
	buf_free(&err);
}

static void
test_member_record(void **state)
{
	struct list_member m, back;
	struct buf b = BUF_INIT;

	(void)state;
	list_member_init(&m, "Bob@Example.Test");
	assert_string_equal(m.address, "bob@example.test");
	m.nomail = true;
	m.bounce = 7;
	m.last_bounce = 1234;
	list_member_encode(&m, &b);
	memset(&back, 0, sizeof(back));
	assert_int_equal(list_member_decode(b.data, b.len, &back), 0);
	assert_true(back.nomail);
	assert_false(back.digest);
	assert_int_equal(back.bounce, 7);
	assert_int_equal(back.since, m.since);
	assert_int_equal(back.last_bounce, 1234);
	/* unknown fields from a newer writer are ignored */
	assert_int_equal(list_member_decode("v1 digest=1 shiny=3", 19, &back),
	    0);
	assert_true(back.digest);
	assert_int_equal(list_member_decode("v2 digest=1", 11, &back), -1);
	assert_int_equal(list_member_decode("v1 digest", 9, &back), -1);
	assert_int_equal(list_member_decode("v1 bounce=x", 11, &back), -1);
	assert_int_equal(list_member_decode("v1 bounce=-1", 12, &back), -1);
	assert_true(list_valid_address("a@b.test"));
	assert_false(list_valid_address("a@b"));
	assert_false(list_valid_address("a@@b.test"));
	assert_false(list_valid_address("<a@b.test>"));
	assert_false(list_valid_address("a b@c.test"));
	assert_false(list_valid_address("@b.test"));
	buf_free(&b);
}

static void
test_tokens(void **state)
{
	char a[LISTD_TOKEN_LEN + 1], b[LISTD_TOKEN_LEN + 1];
	struct token t, back;
	struct buf text = BUF_INIT;

	(void)state;
	token_generate(a);
	token_generate(b);
	assert_int_equal(strlen(a), LISTD_TOKEN_LEN);
	assert_true(token_valid_id(a));
	assert_string_not_equal(a, b);
	assert_false(token_valid_id("ABCDEF0123456789abcdef01"));
	assert_false(token_valid_id("0123456789abcdef0123456"));
	assert_false(token_valid_id("0123456789abcdef012345678"));
	assert_false(token_valid_id("../../etc/passwd"));
	assert_false(token_valid_id(""));

	memset(&t, 0, sizeof(t));
	t.action = TOKEN_SUB_APPROVE;
	snprintf(t.address, sizeof(t.address), "bob@example.test");
	t.expires = 1000;
	token_format(&t, &text);
	assert_string_equal(text.data, "action sub-approve\naddress "
	    "bob@example.test\nexpires 1000\n");
	memset(&back, 0, sizeof(back));
	assert_int_equal(token_parse(text.data, text.len, &back), 0);
	assert_int_equal(back.action, TOKEN_SUB_APPROVE);
	assert_string_equal(back.address, "bob@example.test");
	assert_int_equal(back.expires, 1000);
	assert_false(token_expired(&back, 999));
	assert_true(token_expired(&back, 1000));
	assert_true(token_expired(&back, 5000));
	/* damaged files */
	assert_int_equal(token_parse("action post\naddress a@b.test\n", 29,
	    &back), -1);
	assert_int_equal(token_parse("action fly\naddress a@b.test\n"
	    "expires 1\n", 38, &back), -1);
	assert_int_equal(token_parse("action post\naddress a@b.test\n"
	    "expires soon\n", 42, &back), -1);
	assert_int_equal(token_parse("action post\naddress a@b.test\n"
	    "expires 1\nextra line\n", 50, &back), -1);
	assert_string_equal(token_action_name(TOKEN_POST), "post");
	buf_free(&text);
}

/* Owners and moderators, case-insensitively (lists.c). */
static void
test_roles(void **state)
{
	struct lists l;
	struct buf err = BUF_INIT;
	const struct list_def *d;

	(void)state;
	assert_int_equal(parse("list club@example.test\n"
	    "owner alice@example.test\nmoderator mod@example.test\n", &l,
	    &err), 0);
	d = &l.items[0];
	assert_true(list_is_owner(d, "alice@example.test"));
	assert_true(list_is_owner(d, "Alice@Example.TEST"));
	assert_false(list_is_owner(d, "mod@example.test"));
	assert_true(list_is_moderator(d, "mod@example.test"));
	assert_true(list_is_moderator(d, "ALICE@example.test"));
	assert_false(list_is_moderator(d, "bob@example.test"));
	lists_free(&l);
	buf_free(&err);
}

/* A state directory (dir: "/tmp/test_lists.XXXXXX", made here), a
 * configuration using it and lists.dat with club@example.test. */
static void
list_env(char *dir, struct dmail_conf *conf, struct lists *l)
{
	struct buf text = BUF_INIT, err = BUF_INIT;

	assert_non_null(mkdtemp(dir));
	buf_printf(&text, "hostname mx.example.test\nlocal_domains "
	    "example.test\nstate_dir %s\n", dir);
	memset(conf, 0, sizeof(*conf));
	assert_int_equal(conf_load_text("t.conf", text.data, text.len, conf,
	    &err), 0);
	assert_int_equal(parse("list club@example.test\n"
	    "owner alice@example.test\n", l, &err), 0);
	buf_free(&text);
	buf_free(&err);
}

/* token_expire_all() removes what expired and names the posters of
 * expired held posts (post.c tells them; token.c sends nothing). */
static void
test_token_expiry(void **state)
{
	char dir[] = "/tmp/test_lists.XXXXXX", cmd[64];
	struct dmail_conf conf;
	struct listd ld;
	struct lists l;
	struct strlist held = { NULL, 0 };
	struct token t;
	int64_t now;

	(void)state;
	list_env(dir, &conf, &l);
	memset(&ld, 0, sizeof(ld));
	ld.conf = &conf;
	assert_int_equal(token_create(&ld, &l.items[0], TOKEN_POST,
	    "poster@example.test", 0, &t), 0);
	assert_int_equal(token_create(&ld, &l.items[0], TOKEN_SUBSCRIBE,
	    "joiner@example.test", 0, &t), 0);
	assert_int_equal(token_create(&ld, &l.items[0], TOKEN_POST,
	    "fresh@example.test", 3600, &t), 0);
	now = (int64_t)time(NULL) + 5;
	assert_int_equal(token_expire_all(&ld, &l.items[0], now, &held), 2);
	assert_int_equal(held.count, 1);
	assert_string_equal(held.items[0], "poster@example.test");
	assert_int_equal(token_load(&ld, &l.items[0], t.id, now, &t), 1);
	assert_int_equal(token_expire_all(&ld, &l.items[0], now, NULL), 0);
	strlist_free(&held);
	lists_free(&l);
	conf_free(&conf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void
test_cmd_parse(void **state)
{
	static const struct {
		const char *line;
		enum cmd_kind kind;
		size_t nargs;
		const char *arg0, *arg1;
	} cases[] = {
		{ "", CMD_NONE, 0, NULL, NULL },
		{ "   \t ", CMD_NONE, 0, NULL, NULL },
		{ "help", CMD_HELP, 0, NULL, NULL },
		{ "  HELP  ", CMD_HELP, 0, NULL, NULL },
		{ "help me", CMD_UNKNOWN, 0, NULL, NULL },
		{ "lists", CMD_LISTS, 0, NULL, NULL },
		{ "info", CMD_INFO, 0, NULL, NULL },
		{ "info club", CMD_INFO, 1, "club", NULL },
		{ "subscribe", CMD_SUBSCRIBE, 0, NULL, NULL },
		{ "Subscribe club", CMD_SUBSCRIBE, 1, "club", NULL },
		{ "subscribe club bob@x.test", CMD_SUBSCRIBE, 2, "club",
		  "bob@x.test" },
		{ "subscribe a b c", CMD_UNKNOWN, 0, NULL, NULL },
		{ "join club", CMD_SUBSCRIBE, 1, "club", NULL },
		{ "unsubscribe club\tbob@x.test", CMD_UNSUBSCRIBE, 2, "club",
		  "bob@x.test" },
		{ "signoff", CMD_UNSUBSCRIBE, 0, NULL, NULL },
		{ "who club", CMD_WHO, 1, "club", NULL },
		{ "set", CMD_UNKNOWN, 0, NULL, NULL },
		{ "set digest", CMD_SET, 1, "digest", NULL },
		{ "set club nomail", CMD_SET, 2, "club", "nomail" },
		{ "index", CMD_INDEX, 0, NULL, NULL },
		{ "get 3", CMD_GET, 1, "3", NULL },
		{ "get club 3", CMD_GET, 2, "club", "3" },
		{ "get", CMD_UNKNOWN, 0, NULL, NULL },
		{ "end", CMD_END, 0, NULL, NULL },
		{ "confirm abc", CMD_CONFIRM, 1, "abc", NULL },
		{ "confirm", CMD_UNKNOWN, 0, NULL, NULL },
		{ "approve 0123", CMD_APPROVE, 1, "0123", NULL },
		{ "reject 0123", CMD_REJECT, 1, "0123", NULL },
		{ "Hello list, please add me", CMD_UNKNOWN, 0, NULL, NULL },
		{ "> subscribe", CMD_UNKNOWN, 0, NULL, NULL },
	};
	struct cmd c;
	char longline[2000];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cmd_parse_line(cases[i].line, strlen(cases[i].line), &c);
		if (c.kind != cases[i].kind || c.nargs != cases[i].nargs) {
			print_error("case '%s': kind %d nargs %zu\n",
			    cases[i].line, c.kind, c.nargs);
			fail();
		}
		if (cases[i].arg0 != NULL)
			assert_string_equal(c.args[0], cases[i].arg0);
		if (cases[i].arg1 != NULL)
			assert_string_equal(c.args[1], cases[i].arg1);
	}
	/* over-long lines and words are never commands */
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "help ", 5);
	cmd_parse_line(longline, sizeof(longline), &c);
	assert_int_equal(c.kind, CMD_UNKNOWN);
	memset(longline, 'a', 400);
	memcpy(longline, "info ", 5);
	cmd_parse_line(longline, 400, &c);
	assert_int_equal(c.kind, CMD_UNKNOWN);
	/* not NUL-terminated input: only len bytes count */
	cmd_parse_line("help lists", 4, &c);
	assert_int_equal(c.kind, CMD_HELP);
	assert_string_equal(cmd_name(CMD_SUBSCRIBE), "subscribe");
}

static void
test_cmd_tokens(void **state)
{
	struct strlist out = { NULL, 0 };
	const char *t1 = "0123456789abcdef01234567";
	const char *text =
	    "Subject: Re: confirm 0123456789abcdef01234567\n"
	    "> confirm 0123456789ABCDEF01234567\n"      /* duplicate */
	    "confirm: fedcba9876543210fedcba98\n"
	    "confirm 0123456789abcdef0123456\n"         /* too short */
	    "confirm 0123456789abcdef012345678\n"       /* too long */
	    "unconfirm 1111111111111111aaaaaaaa\n"      /* other word */
	    "confirmed 2222222222222222aaaaaaaa\n"
	    "CONFIRM 3333333333333333aaaaaaaa";         /* at the very end */

	(void)state;
	assert_int_equal(cmd_find_tokens(text, strlen(text), "confirm", &out),
	    3);
	assert_int_equal(out.count, 3);
	assert_string_equal(out.items[0], "confirm 0123456789abcdef01234567");
	assert_string_equal(out.items[1], "confirm fedcba9876543210fedcba98");
	assert_string_equal(out.items[2], "confirm 3333333333333333aaaaaaaa");
	strlist_free(&out);
	assert_int_equal(cmd_find_tokens(t1, strlen(t1), "confirm", &out), 0);
	assert_int_equal(cmd_find_tokens("approve x", 9, "approve", &out), 0);
	assert_string_equal(cmd_subject_text("Re: AW: Fwd: subscribe"),
	    "subscribe");
	assert_string_equal(cmd_subject_text("  help"), "help");
	assert_string_equal(cmd_subject_text("Reply"), "Reply");
}

static void
test_mail_helpers(void **state)
{
	const char *msg =
	    "From: \"Alice A.\" <Alice@Example.Test>\n"
	    "Subject: a long\n\tfolded subject\n"
	    "X-Loop: other@list.test\n"
	    "Precedence: bulk\n"
	    "\n"
	    "Body line\n";
	struct mail m;
	struct buf v = BUF_INIT, out = BUF_INIT;

	(void)state;
	mail_parse(msg, strlen(msg), &m);
	assert_int_equal(m.nfields, 4);
	assert_true(mail_get(&m, "subject", &v));
	assert_string_equal(v.data, "a long\tfolded subject");
	assert_true(mail_get(&m, "From", &v));
	assert_true(mail_address(v.data, &out));
	assert_string_equal(out.data, "alice@example.test");
	mail_display_name(v.data, &out);
	assert_string_equal(out.data, "Alice A.");
	assert_true(mail_is_automatic(&m));
	mail_remove(&m, "Precedence");
	assert_false(mail_is_automatic(&m));
	mail_set(&m, "Subject", "[x] new");
	mail_add(&m, "List-Id", "<x.example.test>");
	mail_format(&m, &out);
	assert_string_equal(out.data,
	    "From: \"Alice A.\" <Alice@Example.Test>\n"
	    "Subject: [x] new\n"
	    "X-Loop: other@list.test\n"
	    "List-Id: <x.example.test>\n"
	    "\n"
	    "Body line\n");
	assert_true(mail_address("bob@x.test (Bob)", &out));
	assert_string_equal(out.data, "bob@x.test");
	assert_false(mail_address("undisclosed-recipients:;", &out));
	mail_free(&m);

	/* Auto-Submitted: no is a person */
	mail_parse("Auto-Submitted: no\n\nx\n", 22, &m);
	assert_false(mail_is_automatic(&m));
	mail_free(&m);
	mail_parse("Auto-Submitted: auto-replied\n\nx\n", 32, &m);
	assert_true(mail_is_automatic(&m));
	mail_free(&m);

	/* The text part of a multipart message. */
	msg = "Content-Type: multipart/alternative; boundary=\"XX\"\n\n"
	    "preamble\n--XX\nContent-Type: text/html\n\n<p>no</p>\n"
	    "--XX\nContent-Type: text/plain; charset=utf-8\n\nsubscribe\n"
	    "--XX--\n";
	mail_parse(msg, strlen(msg), &m);
	mail_text(&m, &out);
	assert_string_equal(out.data, "subscribe\n");
	mail_free(&m);
	/* no header at all: everything is body */
	mail_parse("just text\n", 10, &m);
	assert_int_equal(m.nfields, 0);
	assert_string_equal(m.body, "just text\n");
	mail_free(&m);
	buf_free(&v);
	buf_free(&out);
}

/* The RFC 5322 header parser: what is a field, where the header ends.
 * Input as bytes with a length (NUL inside); expected field names, the
 * value of the first field, and the body, byte for byte. */
static void
test_mail_parse_table(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		size_t nfields;
		const char *name0, *value0;
		const char *body;
		size_t body_len;
	} rows[] = {
#define R(s) s, sizeof(s) - 1
		/* a NUL in the name: not a field, the header ends */
		{ R("From\0: x\nSubject: y\n\nb\n"), 0, NULL, NULL,
		    R("From\0: x\nSubject: y\n\nb\n") },
		{ R("Subject: a\nFrom\0: x\n\nb\n"), 1, "Subject", "a",
		    R("From\0: x\n\nb\n") },
		/* control, space, 8-bit inside a name */
		{ R("Fr\001om: x\n\nb"), 0, NULL, NULL, R("Fr\001om: x\n\nb") },
		{ R("Sub ject: x\n\nb"), 0, NULL, NULL, R("Sub ject: x\n\nb") },
		{ R("X-\377: x\n\nb"), 0, NULL, NULL, R("X-\377: x\n\nb") },
		/* no name, no colon, colon only */
		{ R(": x\n\nb"), 0, NULL, NULL, R(": x\n\nb") },
		{ R("NoColon\n\nb"), 0, NULL, NULL, R("NoColon\n\nb") },
		{ R("NoColonAtEnd"), 0, NULL, NULL, R("NoColonAtEnd") },
		/* obsolete "Name WSP* :" is a field named Name */
		{ R("Subject \t: old\n\nb"), 1, "Subject", "old", R("b") },
		/* a NUL in a value is kept in raw, a blank in the value */
		{ R("Subject: a\0b\n\nb"), 1, "Subject", "a b", R("b") },
		/* a folded value; CRLF line ends; empty value */
		{ R("Subject: a\r\n b\r\n\r\nbody"), 1, "Subject", "a b",
		    R("body") },
		{ R("Subject:\n\n"), 1, "Subject", "", R("") },
		/* a last field without a line end */
		{ R("Subject: end"), 1, "Subject", "end", R("") },
		{ R(""), 0, NULL, NULL, R("") },
#undef R
	};
	struct buf v = BUF_INIT, out = BUF_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct mail m;

		mail_parse(rows[i].in, rows[i].len, &m);
		assert_int_equal(m.nfields, rows[i].nfields);
		for (size_t k = 0; k < m.nfields; k++) {
			/* every field has a name and a colon */
			assert_true(m.fields[k].name[0] != '\0');
			assert_true(m.fields[k].value_off > 0);
			assert_int_equal(m.fields[k].raw[
			    m.fields[k].value_off - 1], ':');
		}
		if (rows[i].name0 != NULL) {
			assert_string_equal(m.fields[0].name, rows[i].name0);
			assert_true(mail_get(&m, rows[i].name0, &v));
			assert_string_equal(v.data, rows[i].value0);
			assert_int_equal(v.len, strlen(rows[i].value0));
		}
		assert_int_equal(m.body_len, rows[i].body_len);
		assert_memory_equal(m.body, rows[i].body, rows[i].body_len);
		/* nothing a parse can hand out crashes a caller */
		assert_false(mail_get(&m, "From", &v) && v.data == NULL);
		mail_format(&m, &out);
		mail_free(&m);
	}
	buf_free(&v);
	buf_free(&out);
}

/* Shared file names (listfiles.h): the table a reviewer reads. */
static void
test_file_names(void **state)
{
	static const struct { const char *name; bool ok; } rows[] = {
		{ "rules.txt", true }, { "a", true }, { "FAQ-1.2_x", true },
		{ "", false }, { ".hidden", false }, { "..", false },
		{ "a..b", false }, { "../etc", false }, { "a/b", false },
		{ "a\\b", false }, { "a b", false }, { "a\tb", false },
		{ "quo\"te", false }, { "caf\xc3\xa9", false },
		{ "ctl\x01", false }, { "del\x7f", false },
	};
	char longname[LIST_FILE_NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (list_file_name_ok(rows[i].name) != rows[i].ok)
			fail_msg("name '%s': expected %s", rows[i].name,
			    rows[i].ok ? "ok" : "refused");
	}
	memset(longname, 'x', sizeof(longname));
	longname[LIST_FILE_NAME_MAX] = '\0';
	assert_true(list_file_name_ok(longname));
	longname[LIST_FILE_NAME_MAX] = 'x';
	longname[LIST_FILE_NAME_MAX + 1] = '\0';
	assert_false(list_file_name_ok(longname));
}

/* A block sent by newconfig: valid, or refused with the reason. */
static void
test_block_check(void **state)
{
	static const struct { const char *block; const char *why; } rows[] = {
		{ "list club@example.test\n owner a@example.test\n", NULL },
		{ "# comment\nlist Club@Example.Test\n owner a@example.test\n"
		  " file_max_size 2M\n files_max_size 10M\n", NULL },
		{ "list club@example.test\n owner a@example.test\n colour x\n",
		  "unknown key 'colour'" },
		{ "list club@example.test\n subscribe open\n", "has no owner" },
		{ "list other@example.test\n owner a@example.test\n",
		  "not club@example.test" },
		{ "list club@example.test\n owner a@example.test\nlist "
		  "x@example.test\n owner a@example.test\n", "2 lists" },
		{ "", "0 lists" },
		{ "list club@example.test\n owner a@example.test\n password "
		  "plain\n", "not a crypt(3) hash" },
		{ "list club@example.test\n owner a@example.test\n "
		  "file_max_size lots\n", "'lots' is not a size" },
	};
	struct buf err = BUF_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int r;

		buf_reset(&err);
		r = lists_block_check("club@example.test", rows[i].block,
		    strlen(rows[i].block), &err);
		if (rows[i].why == NULL && r != 0)
			fail_msg("row %zu refused: %s", i, err.data);
		if (rows[i].why != NULL && (r == 0 ||
		    strstr(buf_cstr(&err), rows[i].why) == NULL))
			fail_msg("row %zu: want '%s', got '%s'", i,
			    rows[i].why, buf_cstr(&err));
	}
	buf_free(&err);
}

static void
test_block_set_replace(void **state)
{
	struct buf t = BUF_INIT;
	struct lists l;
	struct buf err = BUF_INIT;
	size_t start, stop;

	(void)state;
	buf_set(&t, "list a@example.test\n\towner o@example.test\n"
	    "\tpassword $6$old\n\nlist b@example.test\n\towner "
	    "o@example.test\n");
	assert_int_equal(lists_block_set_key(&t, "a@example.test", "password",
	    "$6$new"), 1);
	/* In place of the old line: the block's order stays. */
	assert_string_equal(t.data, "list a@example.test\n\towner "
	    "o@example.test\n\tpassword $6$new\n\nlist b@example.test\n"
	    "\towner o@example.test\n");
	assert_int_equal(lists_block_set_key(&t, "b@example.test", "password",
	    "$6$b"), 1);
	assert_non_null(strstr(t.data, "list b@example.test\n\tpassword "
	    "$6$b\n\towner o@example.test\n"));
	assert_int_equal(lists_block_set_key(&t, "c@example.test", "x", "y"),
	    0);
	assert_int_equal(lists_block_find(t.data, t.len, "b@example.test",
	    &start, &stop), 1);
	assert_int_equal(stop, t.len);
	assert_int_equal(lists_block_replace(&t, "a@example.test",
	    "list a@example.test\n\towner n@example.test", 41), 1);
	assert_int_equal(parse(t.data, &l, &err), 0);
	assert_int_equal(l.count, 2);
	assert_string_equal(l.items[0].owners.items[0], "n@example.test");
	assert_string_equal(l.items[0].password, "");
	assert_string_equal(l.items[1].password, "$6$b");
	assert_int_equal(l.items[1].file_max_size, 1024 * 1024);
	assert_int_equal(l.items[1].files_max_size, 20 * 1024 * 1024);
	lists_free(&l);
	buf_free(&t);
	buf_free(&err);
}

/* list_key_check(): the parser's rules on one value, its normal form,
 * and what would break a line. */
static void
test_key_check(void **state)
{
	static const struct {
		const char *key, *value, *norm, *why;
	} rows[] = {
		{ "subscribe", " Approve ", "approve", NULL },
		{ "subscribe", "sometimes", NULL, "'sometimes' is not one of "
		  "open|confirm|approve|closed" },
		{ "post", "announce", "announce", NULL },
		{ "reply_to", "nobody", NULL, "not one of list|sender|none" },
		{ "digest_format", "mime", "mime", NULL },
		{ "archive", "false", "no", NULL },
		{ "verp", "maybe", NULL, "verp: 'maybe' is not yes or no" },
		{ "max_size", "2048k", "2M", NULL },
		{ "max_size", "0", "0", NULL },
		{ "max_size", "1000", "1000", NULL },
		{ "max_size", "big", NULL, "max_size: 'big' is not a size" },
		{ "digest_interval", "7200", "2h", NULL },
		{ "digest_interval", "0", NULL, "not a duration" },
		{ "bounce_threshold", "7", "7", NULL },
		{ "bounce_threshold", "-1", NULL, "not a number from 1" },
		{ "owner", "A@Example.Test b@example.test,a@example.test",
		  "a@example.test, b@example.test", NULL },
		{ "owner", "", NULL, "'owner' needs a value" },
		{ "owner", " , ", NULL, "owner: at least one address" },
		{ "owner", "nobody", NULL, "'nobody' is not an address" },
		{ "moderator", "", "", NULL },
		{ "description", "Club #1 \"quoted\"", "Club #1 \"quoted\"",
		  NULL },
		{ "description", "", "", NULL },
		{ "description", "a\nlist x@example.test", NULL,
		  "description: line breaks" },
		{ "subject_prefix", "a\rb", NULL, "line breaks" },
		{ "subject_prefix", "", "none", NULL },
		{ "subject_prefix", "NONE", "none", NULL },
		{ "subject_prefix", "[x]", "[x]", NULL },
		{ "password", "plain", NULL, "not a crypt(3) hash" },
		{ "colour", "blue", NULL, "unknown key 'colour'" },
	};
	struct buf norm = BUF_INIT, err = BUF_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int r;

		buf_reset(&err);
		r = list_key_check(rows[i].key, rows[i].value, &norm, &err);
		if (rows[i].why == NULL && (r != 0 ||
		    strcmp(buf_cstr(&norm), rows[i].norm) != 0))
			fail_msg("row %zu: r=%d norm '%s' err '%s'", i, r,
			    buf_cstr(&norm), buf_cstr(&err));
		if (rows[i].why != NULL && (r == 0 ||
		    strstr(buf_cstr(&err), rows[i].why) == NULL ||
		    strchr(buf_cstr(&err), '\n') != NULL))
			fail_msg("row %zu: want '%s', got '%s'", i,
			    rows[i].why, buf_cstr(&err));
	}
	/* Every key has its doc line, and its value spelled as checked. */
	assert_int_equal(list_key_count, 19);
	for (size_t i = 0; i < list_key_count; i++)
		assert_true(strlen(list_keys[i].doc) > 10);
	buf_free(&norm);
	buf_free(&err);
}

/* lists_block_set_key(): NULL removes every line of the key; a new key
 * follows the "list" line; indentation kept. */
static void
test_block_set_remove(void **state)
{
	struct buf t = BUF_INIT;

	(void)state;
	buf_set(&t, "# top\nlist a@example.test\n  owner o@example.test\n"
	    "  # about moderators\n  moderator m@example.test\n"
	    "  moderator n@example.test\n  post members\n");
	assert_int_equal(lists_block_set_key(&t, "a@example.test",
	    "moderator", NULL), 1);
	assert_string_equal(t.data, "# top\nlist a@example.test\n  owner "
	    "o@example.test\n  # about moderators\n  post members\n");
	assert_int_equal(lists_block_set_key(&t, "a@example.test", "post",
	    "anyone"), 1);
	assert_int_equal(lists_block_set_key(&t, "a@example.test",
	    "subject_prefix", "[a]"), 1);
	assert_string_equal(t.data, "# top\nlist a@example.test\n"
	    "\tsubject_prefix [a]\n  owner o@example.test\n  # about "
	    "moderators\n  post anyone\n");
	buf_free(&t);
}

static int
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* The editing path of dlist and the web manager (listedit.h): comments
 * and order kept, nothing written when the result does not parse, the
 * codes of each refusal. */
static void
test_file_edit(void **state)
{
	struct dmail_conf conf;
	struct strlist owners = { NULL, 0 }, domains = { NULL, 0 };
	struct buf path = BUF_INIT, err = BUF_INIT, text = BUF_INIT;
	const char *keys[] = { "subject_prefix", "post" };
	const char *vals[] = { "[b]", "bogus" };
	static const char start[] = "# operator\nlist a@example.test\n"
	    "\towner o@example.test\n\nlist b@example.test\n\t# b's\n"
	    "\towner o@example.test\n";

	(void)state;
	assert_int_equal(unit_tmpdir_make("test_listedit"), 0);
	memset(&conf, 0, sizeof(conf));
	buf_printf(&path, "%s/lists.dat", tmpdir);
	conf.lists_file = path.data;
	conf.path = (char *)"dmail.conf";
	strlist_add(&domains, "example.test");
	conf.local_domains = domains;
	assert_int_equal(write_text(path.data, start), 0);
	assert_int_equal(lists_set_keys(path.data, "b@example.test", keys,
	    vals, 1, &err), 0);
	assert_int_equal(read_file(path.data, &text, 1 << 20), 0);
	assert_string_equal(text.data, "# operator\nlist a@example.test\n"
	    "\towner o@example.test\n\nlist b@example.test\n"
	    "\tsubject_prefix [b]\n\t# b's\n\towner o@example.test\n");
	/* A bad value anywhere: nothing written. */
	assert_int_equal(lists_set_keys(path.data, "b@example.test", keys,
	    vals, 2, &err), LISTS_EDIT_INVALID);
	assert_non_null(strstr(err.data, "nothing written"));
	assert_int_equal(read_file(path.data, &text, 1 << 20), 0);
	assert_null(strstr(text.data, "bogus"));
	assert_int_equal(lists_set_keys(path.data, "c@example.test", keys,
	    vals, 1, &err), LISTS_EDIT_NOLIST);
	strlist_add(&owners, "o@example.test");
	assert_int_equal(lists_create(&conf, "a@example.test", &owners,
	    NULL, &err), LISTS_EDIT_EXISTS);
	assert_int_equal(lists_create(&conf, "c@elsewhere.test", &owners,
	    NULL, &err), LISTS_EDIT_INVALID);
	assert_int_equal(lists_create(&conf, "c@example.test", &owners,
	    "two\nlines", &err), LISTS_EDIT_INVALID);
	assert_int_equal(lists_create(&conf, "C@example.test", &owners,
	    "The C list", &err), 0);
	assert_int_equal(lists_delete(path.data, "a@example.test", &err), 0);
	assert_int_equal(lists_delete(path.data, "a@example.test", &err),
	    LISTS_EDIT_NOLIST);
	assert_int_equal(read_file(path.data, &text, 1 << 20), 0);
	assert_string_equal(text.data, "# operator\nlist b@example.test\n"
	    "\tsubject_prefix [b]\n\t# b's\n\towner o@example.test\n"
	    "\nlist c@example.test\n\towner o@example.test\n\tdescription "
	    "The C list\n\tsubscribe confirm\n\tpost members\n");
	strlist_free(&owners);
	strlist_free(&domains);
	buf_free(&path);
	buf_free(&err);
	buf_free(&text);
	assert_int_equal(unit_tmpdir_remove(), 0);
}

/* majordomo's owner forms: approve-prefix, passwords masked in echoes,
 * Subject/body duplicates. */
static void
test_cmd_owner_forms(void **state)
{
	struct cmd a, b;
	struct buf out = BUF_INIT;
	static const char *const lines[] = {
		"approve pw subscribe club bob@x.test", "passwd club old new",
		"passwd old new", "putfile club pw f.txt", "newinfo club pw",
		"newinfo pw", "which", "which bob@x.test", "files club",
		"getfile club f.txt", "mkdigest club pw",
	};
	static const char *const echoes[] = {
		"approve ******** subscribe club bob@x.test",
		"passwd club ******** ********", "passwd ******** ********",
		"putfile club ******** f.txt", "newinfo club ********",
		"newinfo ********", "which", "which bob@x.test", "files club",
		"getfile club f.txt", "mkdigest club ********",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		cmd_parse_line(lines[i], strlen(lines[i]), &a);
		assert_int_not_equal(a.kind, CMD_UNKNOWN);
		cmd_format(&a, &out);
		assert_string_equal(out.data, echoes[i]);
	}
	cmd_parse_line("approve pw subscribe club bob@x.test", 36, &a);
	assert_true(a.approved);
	assert_string_equal(a.password, "pw");
	assert_int_equal(a.kind, CMD_SUBSCRIBE);
	assert_int_equal(a.nargs, 2);
	/* the prefix only for (un)subscribe; "approve TOKEN" unchanged */
	cmd_parse_line("approve pw who club", 19, &a);
	assert_int_equal(a.kind, CMD_UNKNOWN);
	assert_true(a.known_word);
	cmd_parse_line("approve 0123456789abcdef01234567", 32, &a);
	assert_int_equal(a.kind, CMD_APPROVE);
	assert_false(a.approved);
	cmd_parse_line("frobnicate club", 15, &a);
	assert_int_equal(a.kind, CMD_UNKNOWN);
	assert_false(a.known_word);
	cmd_parse_line("passwd club", 11, &a);
	assert_int_equal(a.kind, CMD_UNKNOWN);
	assert_true(a.known_word);
	cmd_parse_line("WHO Club", 8, &a);
	cmd_parse_line("who club", 8, &b);
	assert_true(cmd_same(&a, &b));
	cmd_parse_line("who other", 9, &b);
	assert_false(cmd_same(&a, &b));
	buf_free(&out);
}

/* "reject ID REASON...": the rest of the line is the reason (told to
 * the poster), trimmed, control characters dropped, at most
 * CMD_REASON_MAX bytes; other commands keep refusing extra words. */
static void
test_cmd_reject_reason(void **state)
{
	char longline[900];
	struct cmd c;

	(void)state;
	cmd_parse_line("reject 0123  off topic, see the FAQ  ", 37, &c);
	assert_int_equal(c.kind, CMD_REJECT);
	assert_int_equal(c.nargs, 1);
	assert_string_equal(c.args[0], "0123");
	assert_string_equal(c.reason, "off topic, see the FAQ");
	cmd_parse_line("reject 0123", 11, &c);
	assert_int_equal(c.kind, CMD_REJECT);
	assert_string_equal(c.reason, "");
	cmd_parse_line("REJECT 0123 a b c d e f g h", 27, &c);
	assert_int_equal(c.kind, CMD_REJECT);
	assert_string_equal(c.reason, "a b c d e f g h");
	cmd_parse_line("reject 0123 tab\there\x01", 21, &c);
	assert_string_equal(c.reason, "tabhere");
	cmd_parse_line("approve 0123 no reasons here", 28, &c);
	assert_int_equal(c.kind, CMD_UNKNOWN);
	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "reject 0123 ", 12);
	cmd_parse_line(longline, sizeof(longline), &c);
	assert_int_equal(c.kind, CMD_REJECT);
	assert_int_equal(strlen(c.reason), CMD_REASON_MAX);
}

/* The delivery modes of "set", shared by dlist, listd and the web
 * manager (listdb.c). */
static void
test_member_mode(void **state)
{
	struct list_member m;

	(void)state;
	list_member_init(&m, "a@example.test");
	assert_string_equal(list_member_mode(&m), "mail");
	assert_int_equal(list_member_set_mode(&m, "digest"), 0);
	assert_string_equal(list_member_mode(&m), "digest");
	m.bounce = 4;
	assert_int_equal(list_member_set_mode(&m, "NoMail"), 0);
	assert_true(m.nomail);
	assert_true(m.digest);             /* kept for later */
	assert_int_equal(m.bounce, 4);
	assert_string_equal(list_member_mode(&m), "nomail");
	assert_int_equal(list_member_set_mode(&m, "mail"), 0);
	assert_false(m.nomail);
	assert_false(m.digest);
	assert_int_equal(m.bounce, 0);     /* mail resets the score */
	assert_int_equal(list_member_set_mode(&m, "weekly"), -1);
}

static void
import_bad_count(void *arg, const char *line)
{
	(void)line;
	(*(unsigned *)arg)++;
}

/* Import lines and counts, and the cursor pages of listdb_page(): every
 * member exactly once across the pages, a search, offset. */
static void
test_listdb_import_and_pages(void **state)
{
	char dir[] = "/tmp/test_lists.XXXXXX", cmd[64];
	char addr[LIST_ADDRESS_MAX + 1], longl[400];
	struct dmail_conf conf;
	struct lists l;
	struct buf text = BUF_INIT, err = BUF_INIT;
	unsigned nbad = 0;
	struct listdb_import res = { 0, 0, 0, import_bad_count, &nbad };
	struct listdb_page p = { NULL, NULL, 0, 7 };
	struct list_member page[7];
	struct listdb *db;
	size_t seen = 0;
	bool more = true;
	long n;

	(void)state;
	assert_int_equal(list_import_line("  Bob <Bob@X.test> ", 19, addr), 1);
	assert_string_equal(addr, "bob@x.test");
	assert_int_equal(list_import_line("# c", 3, addr), 0);
	assert_int_equal(list_import_line(" \r", 2, addr), 0);
	assert_int_equal(list_import_line("not an address", 14, addr), -1);
	memset(longl, 'a', sizeof(longl));
	memcpy(longl + 300, "@x.test", 7);
	assert_int_equal(list_import_line(longl, 321, addr), -1);

	list_env(dir, &conf, &l);
	db = listdb_open(&conf, &l.items[0], &err);
	assert_non_null(db);
	buf_reset(&text);
	for (int i = 0; i < 50; i++)
		buf_printf(&text, "m%02d@example.test\n", i);
	buf_append_str(&text, "M01@example.test\n# comment\nbad line\n\n"
	    "x@y\n");
	assert_int_equal(listdb_import(db, text.data, text.len, &res, &err),
	    0);
	assert_int_equal(res.added, 50);
	assert_int_equal(res.already, 1);
	assert_int_equal(res.invalid, 2);
	assert_int_equal(nbad, 2);
	assert_int_equal(listdb_import(db, "m00@example.test\nnew@example."
	    "test", 33, &res, &err), 0);
	assert_int_equal(res.added, 1);
	assert_int_equal(res.already, 1);
	/* pages of 7 from the last address of the page before */
	while (more) {
		n = listdb_page(db, &p, page, &more);
		assert_true(n >= 0);
		for (long i = 0; i < n; i++) {
			snprintf(addr, sizeof(addr), "m%02zu@example.test",
			    seen);
			assert_string_equal(page[i].address, seen < 50 ? addr :
			    "new@example.test");
			seen++;
		}
		if (more)
			p.after = strcpy(longl, page[n - 1].address);
	}
	assert_int_equal(seen, 51);
	p.after = NULL;
	p.q = "M4";
	n = listdb_page(db, &p, page, &more);
	assert_int_equal(n, 7);
	assert_true(more);
	assert_string_equal(page[0].address, "m40@example.test");
	p.skip = 5;
	n = listdb_page(db, &p, page, &more);
	assert_int_equal(n, 5);
	assert_false(more);
	assert_string_equal(page[0].address, "m45@example.test");
	listdb_close(db);
	lists_free(&l);
	conf_free(&conf);
	buf_free(&text);
	buf_free(&err);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_full_block),
		cmocka_unit_test(test_parse_empty_and_prefix_none),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_failed_parse_keeps_output),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_block_edit),
		cmocka_unit_test(test_member_record),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_token_expiry),
		cmocka_unit_test(test_cmd_parse),
		cmocka_unit_test(test_cmd_tokens),
		cmocka_unit_test(test_mail_helpers),
		cmocka_unit_test(test_mail_parse_table),
		cmocka_unit_test(test_file_names),
		cmocka_unit_test(test_block_check),
		cmocka_unit_test(test_block_set_replace),
		cmocka_unit_test(test_key_check),
		cmocka_unit_test(test_block_set_remove),
		cmocka_unit_test(test_file_edit),
		cmocka_unit_test(test_cmd_owner_forms),
		cmocka_unit_test(test_cmd_reject_reason),
		cmocka_unit_test(test_member_mode),
		cmocka_unit_test(test_listdb_import_and_pages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
