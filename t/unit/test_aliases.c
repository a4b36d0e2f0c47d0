/*
 * test_aliases.c - unit tests for common/aliases.c: lookup order of
 * forward/alias lines and the compiled aliases file, recursive expansion,
 * self-references and loops, depth limit, the text format and its
 * compilation with dmail-newaliases' code.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "aliases.h"
#include "buf.h"
#include "conf.h"
#include "util.h"
#include "unit_tmpdir.h"


static int
setup(void **state)
{
	(void)state;
	return unit_tmpdir_make("test_aliases");
}

static int
teardown(void **state)
{
	(void)state;
	return unit_tmpdir_remove();
}

static struct dmail_conf *
load(const char *extra)
{
	struct dmail_conf *c = calloc(1, sizeof(*c));
	struct buf text = BUF_INIT, err = BUF_INIT;

	buf_printf(&text, "state_dir %s\nlocal_domains example.test "
	    "other.test\nhostname mx.example.test\n%s", tmpdir, extra);
	if (conf_load_text("test.conf", text.data, text.len, c, &err) != 0)
		fail_msg("config: %s", err.data);
	buf_free(&text);
	buf_free(&err);
	return c;
}

/* Expand and join the targets with spaces, or "ERR-1"/"ERR-2". */
static char *
expand(struct aliases *a, const char *addr)
{
	struct alias_result r;
	struct buf err = BUF_INIT, out = BUF_INIT;
	int rc = aliases_expand(a, addr, &r, &err);

	if (rc < 0) {
		buf_printf(&out, "ERR%d", rc);
	} else {
		for (size_t i = 0; i < r.count; i++)
			buf_printf(&out, "%s%s", i ? " " : "", r.targets[i]);
		alias_result_free(&r);
	}
	buf_free(&err);
	return buf_steal(&out);
}

#define EXPECT(a, addr, want) do {                    \
		char *got_ = expand((a), (addr));     \
		assert_string_equal(got_, (want));   \
		free(got_);                          \
	} while (0)

static void
test_conf_aliases_and_forwards(void **state)
{
	struct dmail_conf *c;
	struct aliases *a;

	(void)state;
	c = load("alias info alice, bob\n"
	    "alias sales@other.test carol@example.test\n"
	    "alias team info, dave@remote.test\n"
	    "forward eve@example.test eve@remote.test\n"
	    "forward OLD@Foreign.test alice@example.test\n");
	a = aliases_new(c);
	/* Per-domain name: the target's bare local part takes the domain of
	 * the address being expanded. */
	EXPECT(a, "info@example.test", "alice@example.test bob@example.test");
	EXPECT(a, "info@other.test", "alice@other.test bob@other.test");
	EXPECT(a, "INFO@Example.TEST", "alice@Example.TEST bob@Example.TEST");
	EXPECT(a, "sales@other.test", "carol@example.test");
	EXPECT(a, "sales@example.test", "sales@example.test");
	/* Recursive. */
	EXPECT(a, "team@example.test",
	    "alice@example.test bob@example.test dave@remote.test");
	EXPECT(a, "eve@example.test", "eve@remote.test");
	EXPECT(a, "old@foreign.test", "alice@example.test");
	/* Bare names never apply to foreign domains. */
	EXPECT(a, "info@remote.test", "info@remote.test");
	EXPECT(a, "nobody@example.test", "nobody@example.test");
	aliases_free(a);
	conf_free(c);
	free(c);
}

static void
test_loops_self_reference_and_depth(void **state)
{
	struct dmail_conf *c;
	struct aliases *a;
	struct buf text = BUF_INIT;

	(void)state;
	/* a0 -> a1 -> ... -> a20: deeper than ALIAS_DEPTH_MAX. */
	for (int i = 0; i < 20; i++)
		buf_printf(&text, "alias a%d a%d\n", i, i + 1);
	buf_append_str(&text, "alias bob bob, bob@remote.test\n"
	    "alias x y\nalias y x\n"
	    "alias dup alice, ALICE, alice@example.test, <alice>\n");
	c = load(text.data);
	a = aliases_new(c);
	EXPECT(a, "bob@example.test", "bob@example.test bob@remote.test");
	/* Mutual loop ends at the account of the first name. */
	EXPECT(a, "x@example.test", "x@example.test");
	EXPECT(a, "a0@example.test", "ERR-2");
	EXPECT(a, "a10@example.test", "a20@example.test");
	EXPECT(a, "dup@example.test", "alice@example.test");
	aliases_free(a);
	conf_free(c);
	free(c);
	buf_free(&text);
}

struct collected {
	struct buf b;
};

static int
collect(const char *alias, const char *targets, unsigned line, void *arg)
{
	struct collected *c = arg;
	buf_printf(&c->b, "%u:%s=%s\n", line, alias, targets);
	return 0;
}

static void
test_text_format(void **state)
{
	const char *text =
	    "# comment\n"
	    "\n"
	    "Postmaster: root\n"
	    "root: alice,\n"
	    "   bob ,\n"
	    "# a comment inside a continuation\n"
	    "\tcarol@remote.test\n"
	    "list@other.test:  <x@y.test>  \r\n"
	    "last: z";
	struct collected col = { BUF_INIT };
	struct buf err = BUF_INIT;

	(void)state;
	assert_int_equal(aliases_parse_text("aliases", text, strlen(text),
	    collect, &col, &err), 0);
	assert_string_equal(col.b.data,
	    "3:postmaster=root\n"
	    "4:root=alice, bob, carol@remote.test\n"
	    "8:list@other.test=<x@y.test>\n"
	    "9:last=z\n");
	assert_int_equal(err.len, 0);
	buf_free(&col.b);

	/* Errors carry file and line; good entries are still reported. */
	text = "ok: a\nno colon here\n  continued\nempty:\n"
	    "blank: a b\n";
	assert_int_equal(aliases_parse_text("aliases", text, strlen(text),
	    collect, &col, &err), -1);
	assert_non_null(strstr(err.data, "aliases:2: missing ':'"));
	assert_non_null(strstr(err.data, "aliases:4: alias 'empty' has no "
	    "targets"));
	assert_non_null(strstr(err.data, "aliases:5:"));
	assert_string_equal(col.b.data, "1:ok=a\n");
	buf_free(&col.b);
	buf_free(&err);
	/* A continuation before any alias. */
	text = " a, b\n";
	assert_int_equal(aliases_parse_text("f", text, strlen(text), collect,
	    &col, &err), -1);
	assert_non_null(strstr(err.data, "f:1: continuation"));
	buf_free(&col.b);
	buf_free(&err);
}

static void
test_compiled_database(void **state)
{
	struct dmail_conf *c;
	struct aliases *a;
	struct buf src = BUF_INIT, db = BUF_INIT, conf = BUF_INIT,
	    err = BUF_INIT, v = BUF_INIT;
	const char *text = "staff: alice, bob\n"
	    "help@other.test: carol@example.test\n"
	    "info: conf-wins\n"
	    "chain: staff, frank@remote.test\n";
	struct stat st;
	size_t n;

	(void)state;
	buf_printf(&src, "%s/aliases", tmpdir);
	buf_printf(&db, "%s/aliases.db", tmpdir);
	assert_int_equal(write_file_durable(src.data, text, strlen(text),
	    0644), 0);
	buf_printf(&conf, "aliases_file %s\nalias info alice\n", src.data);
	c = load(conf.data);
	a = aliases_new(c);

	/* No .db yet: a temporary failure, never "unknown user". */
	EXPECT(a, "staff@example.test", "ERR-1");
	assert_int_equal(aliases_compile(src.data, db.data, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_int_equal(stat(db.data, &st), 0);

	EXPECT(a, "staff@example.test", "alice@example.test bob@example.test");
	EXPECT(a, "help@other.test", "carol@example.test");
	EXPECT(a, "help@example.test", "help@example.test");
	EXPECT(a, "info@example.test", "alice@example.test");
	EXPECT(a, "chain@other.test",
	    "alice@other.test bob@other.test frank@remote.test");
	assert_int_equal(aliases_lookup(a, "nothere@example.test", &v, &err),
	    0);

	/* Recompiling replaces the file; a running reader sees the new one. */
	text = "staff: zed\n";
	assert_int_equal(write_file_durable(src.data, text, strlen(text),
	    0644), 0);
	assert_int_equal(aliases_compile(src.data, db.data, &n, &err), 0);
	assert_int_equal(n, 1);
	EXPECT(a, "staff@example.test", "zed@example.test");

	/* A broken source leaves the old database in place. */
	text = "staff: new\nstaff: twice\n";
	assert_int_equal(write_file_durable(src.data, text, strlen(text),
	    0644), 0);
	buf_reset(&err);
	assert_int_equal(aliases_compile(src.data, db.data, &n, &err), -1);
	assert_non_null(strstr(err.data, ":2: alias 'staff' defined twice"));
	EXPECT(a, "staff@example.test", "zed@example.test");

	aliases_free(a);
	conf_free(c);
	free(c);
	buf_free(&src);
	buf_free(&db);
	buf_free(&conf);
	buf_free(&err);
	buf_free(&v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_conf_aliases_and_forwards,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_loops_self_reference_and_depth, setup, teardown),
		cmocka_unit_test(test_text_format),
		cmocka_unit_test_setup_teardown(test_compiled_database, setup,
		    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
